"""Unit tests of the hook's parts that need no Tracksolid server: settings, batching, rate limiter
(real processes), token cache and audit log (real PostgreSQL)."""

from __future__ import annotations

import multiprocessing
import secrets
import time
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import psycopg2
import pytest

from tests.fixtures.databases import scalar
from tracksolid_hook.audit import AuditLog
from tracksolid_hook.batching import chunk, dedupe, split_window, unique_imeis
from tracksolid_hook.errors import TracksolidConfigError
from tracksolid_hook.ratelimit import FileRateLimiter
from tracksolid_hook.settings import endpoint_url, settings_from_connection
from tracksolid_hook.tokens import Token, TokenCache


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def connection(**overrides):
    base = {"host": "eu-open.tracksolidpro.com", "port": None, "login": "acc",
            "password": secrets.token_hex(8), "extra_dejson": {"app_key": "K", "app_secret": "S"}}
    base.update(overrides)
    return SimpleNamespace(**base)


# --- settings ----------------------------------------------------------------------------------

def test_defaults():
    s = settings_from_connection(connection())
    assert s.url == "https://eu-open.tracksolidpro.com/route/rest"
    assert s.targets == ("acc",) and s.batch_size == 50
    assert s.retry_codes == (-1, 1005, 1006) and s.token_invalid_codes == (1004,)
    assert s.acc_type_values == {"off": "off", "on": "on"}
    assert s.imei_cap("jimi.device.alarm.list") == 50


def test_extras_are_typed_and_merged():
    s = settings_from_connection(connection(extra_dejson={
        "app_key": "K", "app_secret": "S", "targets": "a, b ,c", "batch_size": "120",
        "acc_type_values": '{"off": "0"}', "method_imei_caps": {"jimi.device.alarm.list": 30},
        "sign_error_codes": [1001], "max_requests_per_s": "2.5", "token_use_refresh": "false",
    }))
    assert s.targets == ("a", "b", "c")
    assert s.acc_type_values == {"off": "0", "on": "on"}
    assert s.imei_cap("jimi.device.alarm.list") == 30
    assert s.imei_cap("jimi.device.location.get") == 100  # batch 120 capped by the doc's 100
    assert s.sign_error_codes == (1001,) and s.max_requests_per_s == 2.5 and s.token_use_refresh is False


@pytest.mark.parametrize("bad, message", [
    ({"login": ""}, "login"),
    ({"password": None}, "password"),
    ({"extra_dejson": {"app_key": "K"}}, "app_secret"),
    ({"extra_dejson": {"app_key": "K", "app_secret": "S", "batch_size": "many"}}, "batch_size"),
    ({"extra_dejson": {"app_key": "K", "app_secret": "S", "token_ttl_s": 9000}}, "token_ttl_s"),
    ({"extra_dejson": {"app_key": "K", "app_secret": "S", "acc_type_values": {"idle": "1"}}}, "acc_type"),
    ({"host": ""}, "host"),
])
def test_bad_configuration_is_a_clear_error(bad, message):
    with pytest.raises(TracksolidConfigError, match=message):
        settings_from_connection(connection(**bad))


def test_endpoint_url_forms():
    assert endpoint_url("http://127.0.0.1:8080/route/rest") == "http://127.0.0.1:8080/route/rest"
    assert endpoint_url("http://127.0.0.1", 9000) == "http://127.0.0.1:9000/route/rest"
    assert endpoint_url("hk-open.tracksolidpro.com") == "https://hk-open.tracksolidpro.com/route/rest"


def test_secrets_are_not_in_repr():
    conn = connection()
    s = settings_from_connection(conn)
    assert conn.password not in repr(s) and "'S'" not in repr(s)


# --- batching ----------------------------------------------------------------------------------

def test_chunk():
    assert chunk(range(7), 3) == [[0, 1, 2], [3, 4, 5], [6]]
    assert chunk([], 50) == []
    assert [len(c) for c in chunk(range(156), 50)] == [50, 50, 50, 6]
    with pytest.raises(ValueError):
        chunk([1], 0)


def test_split_window_covers_exactly_without_gaps():
    begin, end = utc(2024, 1, 1), utc(2024, 1, 20, 5)
    windows = split_window(begin, end, timedelta(days=7))
    assert windows[0][0] == begin and windows[-1][1] == end
    assert all(a[1] == b[0] for a, b in zip(windows, windows[1:], strict=False))
    assert all(e - b <= timedelta(days=7) for b, e in windows)
    assert len(windows) == 3
    assert split_window(end, begin, timedelta(days=7)) == []
    assert split_window(begin, begin + timedelta(days=7), timedelta(days=7)) == [(begin, begin + timedelta(days=7))]
    with pytest.raises(ValueError):
        split_window(datetime(2024, 1, 1), datetime(2024, 1, 2), timedelta(days=1))


def test_unique_imeis_and_dedupe():
    assert unique_imeis(["1", " 2", "1", "", "3 "]) == ["1", "2", "3"]
    rows = [{"imei": "1", "t": 1, "v": "a"}, {"imei": "1", "t": 1, "v": "b"}, {"imei": "1", "t": 2, "v": "c"}]
    assert dedupe(rows, ("imei", "t")) == [{"imei": "1", "t": 1, "v": "b"}, {"imei": "1", "t": 2, "v": "c"}]


# --- rate limiter --------------------------------------------------------------------------------

def _hammer(path: str, rate: float, count: int, queue) -> None:
    limiter = FileRateLimiter(path, rate)
    queue.put([(limiter.acquire(), time.time()) for _ in range(count)])


def test_rate_limiter_paces_several_processes(tmp_path):
    rate, procs, per_proc = 20.0, 4, 6
    path = str(tmp_path / "bucket.rate")
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    workers = [ctx.Process(target=_hammer, args=(path, rate, per_proc, queue)) for _ in range(procs)]
    for w in workers:
        w.start()
    results = [pair for _ in workers for pair in queue.get(timeout=30)]
    for w in workers:
        w.join(timeout=30)
    assert len(results) == procs * per_proc
    slots = sorted(slot for slot, _ in results)
    # The reserved send slots of all processes are exactly 1/rate apart ...
    assert [round(b - a, 6) for a, b in zip(slots, slots[1:], strict=False)] == [1 / rate] * (len(slots) - 1)
    # ... and nobody sent before its slot.
    assert all(sent >= slot for slot, sent in results)


def test_rate_limiter_resets_a_stale_far_future_reservation(tmp_path):
    now = [1000.0]
    limiter = FileRateLimiter(str(tmp_path / "b.rate"), 1.0, clock=lambda: now[0], sleep=lambda s: None)
    assert limiter.reserve() == (1000.0, 0)
    assert limiter.reserve() == (1001.0, 1.0)
    now[0] = 1000.0 - 10_000  # the clock jumped back: the stored slot is hours ahead
    assert limiter.reserve() == (-9000.0, 0)


# --- token cache (real PostgreSQL) ----------------------------------------------------------------

def test_token_freshness_margin_is_bounded_by_lifetime():
    issued = utc(2024, 1, 1, 0, 0, 0)
    short = Token("a", None, issued, issued + timedelta(seconds=10))
    assert short.is_fresh(300, now=issued + timedelta(seconds=5))  # margin capped at 2 s
    assert not short.is_fresh(300, now=issued + timedelta(seconds=9))
    long = Token("b", None, issued, issued + timedelta(hours=2))
    assert not long.is_fresh(300, now=issued + timedelta(hours=2) - timedelta(seconds=200))
    assert "a" not in repr(short).replace("at", "")  # the token value is never printed


def _cache(dsn: str, account: str = "acc") -> TokenCache:
    return TokenCache(lambda: psycopg2.connect(dsn), app_key="K", account=account, margin_s=60,
                      lock_timeout_s=30)


def _new_token(value: str, seconds: int = 3600) -> Token:
    now = datetime.now(UTC)
    return Token(value, "r-" + value, now, now + timedelta(seconds=seconds))


def test_token_cache_obtains_once_then_serves_from_the_table(live_db, live_conn):
    cache = _cache(live_db)
    calls = []
    token = cache.get(lambda cached: calls.append(cached) or _new_token("t1"))
    again = _cache(live_db).get(lambda cached: calls.append(cached) or _new_token("t2"))
    assert token.access_token == again.access_token == "t1"
    assert calls == [None]
    assert scalar(live_conn, "SELECT access_token FROM tracksolid.api_token_cache WHERE account='acc'") == "t1"


def test_stale_token_is_replaced_and_passed_to_obtain(live_db):
    cache = _cache(live_db)
    cache.get(lambda cached: _new_token("t1"))
    seen = []
    renewed = cache.get(lambda cached: seen.append(cached.access_token) or _new_token("t2"), stale="t1")
    assert renewed.access_token == "t2" and seen == ["t1"]
    # a worker holding the older rejected token gets t2 without a new request
    other = _cache(live_db).get(lambda cached: pytest.fail("must not fetch"), stale="t1")
    assert other.access_token == "t2"


def test_expired_token_is_renewed(live_db, live_conn):
    cache = _cache(live_db)
    cache.get(lambda cached: _new_token("old", seconds=30))  # margin 60 s > remaining → stale at once? no:
    # margin is capped at lifetime/5 = 6 s, so "old" is fresh now; age it in the table instead
    with live_conn.cursor() as cur:
        cur.execute("UPDATE tracksolid.api_token_cache SET expires_at = now() - interval '1 s', "
                    "issued_at = now() - interval '1 h'")
    assert cache.get(lambda cached: _new_token("new")).access_token == "new"


def test_failed_obtain_leaves_the_cache_unchanged(live_db, live_conn):
    cache = _cache(live_db)
    with pytest.raises(RuntimeError):
        cache.get(lambda cached: (_ for _ in ()).throw(RuntimeError("platform down")))
    assert scalar(live_conn, "SELECT count(*) FROM tracksolid.api_token_cache") == 0
    assert cache.get(lambda cached: _new_token("t")).access_token == "t"  # the lock was released


def _concurrent_get(dsn: str, queue) -> None:
    def obtain(cached):
        time.sleep(0.3)  # a slow token endpoint: the others must wait for it, not call it too
        queue.put("fetched")
        return _new_token(secrets.token_hex(4))

    queue.put(_cache(dsn).get(obtain).access_token)


def test_concurrent_processes_make_one_token_request(live_db):
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    workers = [ctx.Process(target=_concurrent_get, args=(live_db, queue)) for _ in range(5)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=30)
    results = [queue.get(timeout=5) for _ in range(6)]
    assert results.count("fetched") == 1
    tokens = {r for r in results if r != "fetched"}
    assert len(tokens) == 1


# --- audit log -----------------------------------------------------------------------------------

def test_audit_rows_outside_a_task_have_null_airflow_context(live_db, live_conn):
    audit = AuditLog(lambda: psycopg2.connect(live_db))
    audit.write(method="jimi.device.alarm.list", target="acc", imei_count=3, attempt=2, http_status=200,
                api_code=1006, duration_ms=12, error="code 1006: too frequent")
    with live_conn.cursor() as cur:
        cur.execute("SELECT dag_id, run_id, task_id, map_index, method, target, imei_count, attempt, "
                    "http_status, api_code, duration_ms, error FROM tracksolid.ingestion_log")
        assert cur.fetchall() == [(None, None, None, None, "jimi.device.alarm.list", "acc", 3, 2, 200, "1006",
                                   12, "code 1006: too frequent")]


def test_audit_failure_does_not_raise(live_db):
    audit = AuditLog(lambda: psycopg2.connect(live_db + " connect_timeout=1 port=1"))
    audit.write(method="m")  # logged, not raised


def test_audit_rows_inside_a_task_carry_the_airflow_context(live_db, live_conn):
    from airflow.sdk.execution_time.context import set_current_context

    ti = SimpleNamespace(dag_id="tracksolid_alarms", run_id="scheduled__2024-06-01", task_id="fetch",
                         map_index=7)
    audit = AuditLog(lambda: psycopg2.connect(live_db))
    with set_current_context({"ti": ti}):
        audit.write(method="jimi.device.alarm.list", api_code=0, row_count=5)
    with live_conn.cursor() as cur:
        cur.execute("SELECT dag_id, run_id, task_id, map_index, row_count FROM tracksolid.ingestion_log")
        assert cur.fetchall() == [("tracksolid_alarms", "scheduled__2024-06-01", "fetch", 7, 5)]
