"""One API rate limit for every worker process (issue 13): the database limiter against the simulator.

Several processes call the hook at once, each with its own rate-limit directory (as if each ran on its own
machine: a per-machine limiter would give each of them the whole rate). The simulator enforces the same
limit server-side (1006 beyond it) and logs when each request arrived: that log is the ground truth.
"""

from __future__ import annotations

import multiprocessing
import os

import pytest

from bench.bench_api_sweep import max_in_any_window
from tests.fixtures.airflow import postgres_conn_json
from tests.fixtures.databases import scalar
from tracksolid_hook.ratelimit import DatabaseRateLimiter, pacing_interval
from tracksolid_simulator.airflow_conn import connection_json

RATE = 10.0
FAST_RETRY = {"backoff_base_s": 0.01, "backoff_cap_s": 0.05, "max_attempts": 20}


def _caller(calls: int, rate_dir: str, start, queue) -> None:
    """One worker process: its own hook, its own 'machine' (rate-limit directory). Every process imports
    and configures first, then all start calling together (``start`` barrier)."""
    os.environ["TRACKSOLID_RATE_LIMIT_DIR"] = rate_dir
    try:
        from tracksolid_hook import TracksolidHook

        hook = TracksolidHook()
        assert hook.targets
        start.wait(timeout=120)
        codes = []
        for _ in range(calls):
            codes.append(hook.call("jimi.user.device.list", {"target": hook.targets[0]},
                                   target=hook.targets[0])["code"])
        hook.close()
        queue.put(codes)
    except Exception as exc:  # reported to the test, which fails on it
        queue.put(repr(exc))


def run_callers(procs: int, calls: int, tmp_path) -> list:
    ctx = multiprocessing.get_context("fork")
    queue, start = ctx.Queue(), ctx.Barrier(procs)
    workers = [ctx.Process(target=_caller, args=(calls, str(tmp_path / f"machine{i}"), start, queue))
               for i in range(procs)]
    for w in workers:
        w.start()
    results = [queue.get(timeout=120) for _ in workers]
    for w in workers:
        w.join(timeout=30)
    return results


@pytest.fixture
def limited_api(monkeypatch, simulator_factory, live_db):
    """``make(**extras)``: a simulator refusing more than RATE requests/s (1006), the hook pointed at it
    with ``max_requests_per_s = RATE`` and the live database for tokens, audit and the limiter."""
    monkeypatch.setenv("AIRFLOW_CONN_TRACKSOLID_DB", postgres_conn_json(live_db))

    def make(**extras):
        server = simulator_factory(max_requests_per_s=RATE, burst=2)
        monkeypatch.setenv("AIRFLOW_CONN_TRACKSOLID_API",
                           connection_json(server, max_requests_per_s=RATE, **FAST_RETRY, **extras))
        return server

    return make


def test_processes_on_separate_machines_share_one_limit_and_one_token(limited_api, live_conn, tmp_path):
    server = limited_api()
    procs, calls = 4, 12
    results = run_callers(procs, calls, tmp_path)
    # Every call of every process succeeded: no 1006 (nor anything else) reached a caller ...
    assert results == [[0] * calls] * procs
    log = server.request_log
    # ... and the platform never had to refuse one: the limiter kept them all under its limit.
    assert [e for e in log if e["code"] != 0] == []
    # One token for all four processes (single-flight renewal under the database lock).
    assert [e["method"] for e in log].count("jimi.oauth.token.get") == 1
    stamps = [e["at"].timestamp() for e in log]
    assert len(stamps) == procs * calls + 1
    assert max_in_any_window(stamps) <= RATE
    # Not trivially slow either: the calls were paced, not serialised far below the rate.
    interval = pacing_interval(RATE, 1.0, 0.05)
    assert max(stamps) - min(stamps) >= (len(stamps) - 2) * interval * 0.9
    assert scalar(live_conn, "SELECT count(*) FROM tracksolid.api_rate_limit") == 1


def test_a_per_machine_limit_is_exceeded_by_the_same_processes(limited_api, tmp_path):
    """The control: the same load with the file limiter on four 'machines' sends about 4x the rate."""
    server = limited_api(rate_limiter="file")
    results = run_callers(4, 12, tmp_path)
    # a caller may even run out of retries in the 1006 storm it causes; it never fails any other way
    assert all(isinstance(r, list) or "1006" in str(r) for r in results), results
    log = server.request_log
    assert max_in_any_window([e["at"].timestamp() for e in log]) > RATE
    assert any(e["code"] == 1006 for e in log)


def _reserve(dsn: str, interval: float, count: int, queue) -> None:
    import psycopg2

    limiter = DatabaseRateLimiter(lambda: psycopg2.connect(dsn), "bucket-a", interval)
    queue.put([limiter.reserve()[0] for _ in range(count)])
    limiter.close()


def test_database_reservations_of_several_processes_are_exactly_spaced(live_db, live_conn):
    interval, procs, per_proc = 0.02, 4, 10
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    workers = [ctx.Process(target=_reserve, args=(live_db, interval, per_proc, queue)) for _ in range(procs)]
    for w in workers:
        w.start()
    slots = sorted(s for _ in workers for s in queue.get(timeout=60))
    for w in workers:
        w.join(timeout=30)
    assert len(slots) == procs * per_proc
    gaps = [b - a for a, b in zip(slots, slots[1:], strict=False)]
    assert min(gaps) >= interval - 1e-5  # never closer than the spacing, whoever reserved
    state = scalar(live_conn, "SELECT json_build_object('spacing', spacing_s, 'next', "
                                         "extract(epoch FROM next_free)) FROM tracksolid.api_rate_limit")
    assert state["spacing"] == interval and abs(state["next"] - (slots[-1] + interval)) < 1e-5


def test_pacing_interval_keeps_every_window_strictly_under_the_rate():
    assert pacing_interval(10, 1.0, 0.0) == pytest.approx(0.1)
    assert pacing_interval(10, 1.0, 0.05) == pytest.approx(0.105)
    assert pacing_interval(2.5, 1.0, 0.0) == pytest.approx(0.5)  # at most 2 starts in any second
    assert pacing_interval(0.5, 1.0, 0.05) == pytest.approx(2.05)  # one per 2 s, plus the guard
    for rate in (0.7, 1, 3.3, 4, 10, 49.9):
        spacing = pacing_interval(rate, 1.0, 0.05)
        # n + 1 starts spaced `spacing` apart never fit into 1 s + the guard
        n = max(1, int(rate))
        assert n * spacing >= 1.05 - 1e-9
        assert spacing >= 1 / rate
    with pytest.raises(ValueError):
        pacing_interval(0)


def test_limiter_settings_default_below_a_typical_limit_and_reject_unknown_limiters():
    from types import SimpleNamespace

    from tracksolid_hook.errors import TracksolidConfigError
    from tracksolid_hook.settings import settings_from_connection

    def conn(**extra):
        return SimpleNamespace(host="https://eu-open.tracksolidpro.com", port=None, login="acct", password="pw",
                               extra_dejson={"app_key": "k", "app_secret": "s", **extra})

    defaults = settings_from_connection(conn())
    assert defaults.max_requests_per_s < 5 and defaults.rate_limiter == "database"
    assert settings_from_connection(conn(rate_limiter="FILE", rate_limit_guard_s="0.1")).rate_limiter == "file"
    with pytest.raises(TracksolidConfigError, match="rate_limiter"):
        settings_from_connection(conn(rate_limiter="redis"))
    with pytest.raises(TracksolidConfigError, match="rate_limit_window_s"):
        settings_from_connection(conn(rate_limit_window_s=0))
