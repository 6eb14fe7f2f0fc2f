"""TracksolidHook against the running simulator (real HTTP) and a fresh live database (real PostgreSQL).

Ground truth is what the simulator generated (``server.truth``); what the platform saw is
``server.request_log``; what the hook recorded is ``tracksolid.ingestion_log``.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import time
from datetime import UTC, datetime, timedelta

import pytest

from tests.fixtures.airflow import postgres_conn_json
from tests.fixtures.databases import scalar
from tests.fixtures.simulator import tracksolid_conn_json
from tracksolid_hook import TracksolidApiError, TracksolidHook, TracksolidRetryExhausted
from tracksolid_hook.parsers import merge_device
from tracksolid_hook.signing import password_md5
from tracksolid_simulator import FaultSpec

#: A fixed simulated "now": the windows below are in its past, so results are deterministic.
SIM_NOW = datetime(2024, 6, 5, 12, 0, tzinfo=UTC)
DAY_BEGIN, DAY_END = datetime(2024, 6, 4, tzinfo=UTC), datetime(2024, 6, 5, tzinfo=UTC)
FAST_RETRY = {"backoff_base_s": 0.01, "backoff_cap_s": 0.05}


@pytest.fixture
def sim_env(monkeypatch, simulator_factory, live_db, tmp_path):
    """``make(sim_overrides=..., **extras)`` → a started simulator with AIRFLOW_CONN_TRACKSOLID_API (plus
    the given extras) and AIRFLOW_CONN_TRACKSOLID_DB pointing at this test's live database."""
    monkeypatch.setenv("AIRFLOW_CONN_TRACKSOLID_DB", postgres_conn_json(live_db))

    def make(sim_overrides: dict | None = None, **extras):
        server = simulator_factory(**{"clock_start": SIM_NOW, **(sim_overrides or {})})
        conn = json.loads(tracksolid_conn_json(server, max_requests_per_s=200))
        conn["extra"].update({"rate_limit_dir": str(tmp_path / "rate"), **extras})
        monkeypatch.setenv("AIRFLOW_CONN_TRACKSOLID_API", json.dumps(conn))
        return server

    return make


def methods(server) -> list[str]:
    return [entry["method"] for entry in server.request_log]


def audit_rows(conn) -> list[tuple]:
    with conn.cursor() as cur:
        cur.execute("SELECT method, attempt, http_status, api_code, row_count, error "
                    "FROM tracksolid.ingestion_log ORDER BY id")
        return cur.fetchall()


def strip_raw(rows: list[dict], keys: list[str]) -> list[dict]:
    return sorted(({k: r[k] for k in keys} for r in rows), key=lambda r: tuple(str(r[k]) for k in keys))


# --- every method against the ground truth -----------------------------------------------------------

def test_devices_match_truth_and_detail_fills_list_nulls(sim_env):
    server = sim_env()
    hook = TracksolidHook()
    truth = {d["imei"]: d for d in server.truth.devices()}
    listed = [row for target in hook.targets for row in hook.list_devices(target)]
    assert sorted(r["imei"] for r in listed) == sorted(truth)
    for row in listed:
        assert row["account"] == truth[row["imei"]]["account"]
    sample = listed[0]
    merged = merge_device(sample, hook.device_detail(sample["imei"]))
    expected = truth[sample["imei"]]
    for column in ("vehicle_number", "driver_name", "driver_phone", "sim", "vin", "iccid", "device_name"):
        assert merged[column] == expected[column], column


def test_positions_and_track_match_truth(sim_env):
    server = sim_env()
    hook = TracksolidHook()
    imeis = [d["imei"] for d in server.truth.devices()]
    live = {row["imei"]: row for target in hook.targets for row in hook.location_list(target)}
    assert set(live) <= set(imeis) and live
    got = {row["imei"]: row for row in hook.location_get(imeis)}
    assert set(got) == set(live)
    imei = imeis[0]
    begin, end = DAY_BEGIN + timedelta(hours=5), DAY_BEGIN + timedelta(hours=9)
    track = hook.track_list(imei, begin, end)
    truth = server.truth.fixes(begin, end, imeis=[imei], arrived_by=server.now())
    assert [r["gps_time"] for r in track] == [f["gps_time"] for f in truth]
    assert all(r["source"] == "track_list" for r in track)


def test_track_list_splits_windows_over_seven_days(sim_env):
    server = sim_env()
    hook = TracksolidHook()
    imei = server.truth.devices()[0]["imei"]
    hook.track_list(imei, DAY_END - timedelta(days=9), DAY_END)
    calls = [e["params"] for e in server.request_log if e["method"] == "jimi.device.track.list"]
    # [begin, end) windows, each sent with the API's inclusive end_time = end - 1 s
    assert [(c["begin_time"], c["end_time"]) for c in calls] == [
        ("2024-05-27 00:00:00", "2024-06-02 23:59:59"), ("2024-06-03 00:00:00", "2024-06-04 23:59:59")]
    assert all(e["code"] == 0 for e in server.request_log if e["method"] == "jimi.device.track.list")


TRIP_KEYS = ["imei", "start_time", "end_time", "distance_km", "run_time_s"]


@pytest.mark.parametrize("base", [0, 1])
def test_trips_are_paged_and_in_km(sim_env, base):
    server = sim_env({"start_row_base": base}, page_size=3, start_row_base=base, batch_size=5)
    hook = TracksolidHook()
    imeis = [d["imei"] for d in server.truth.devices()]
    trips = hook.track_mileage(imeis, DAY_BEGIN, DAY_END)
    truth = server.truth.trips(DAY_BEGIN, DAY_END, imeis=imeis, completed_by=server.now())
    assert len(truth) > 3  # paging really happened
    assert strip_raw(trips, TRIP_KEYS) == strip_raw(truth, TRIP_KEYS)
    assert max(e["imei_count"] for e in server.request_log) <= 5


PARKING_KEYS = ["imei", "start_time", "acc_type", "end_time", "duration_s"]


@pytest.mark.parametrize("acc_type", ["off", "on"])
def test_parking_and_idling_match_truth(sim_env, acc_type):
    server = sim_env(page_size=4)
    hook = TracksolidHook()
    imeis = [d["imei"] for d in server.truth.devices()]
    rows = [r for target in hook.targets for r in hook.parking(
        target, [d["imei"] for d in server.truth.devices() if d["account"] == target], DAY_BEGIN, DAY_END,
        acc_type)]
    truth = server.truth.parking(DAY_BEGIN, DAY_END, acc_type, imeis=imeis, completed_by=server.now())
    assert truth
    assert strip_raw(rows, PARKING_KEYS) == strip_raw(truth, PARKING_KEYS)


ALARM_KEYS = ["imei", "alarm_type", "alarm_time", "alarm_name"]
OBD_KEYS = ["imei", "reading_time", "odometer_km", "fuel_pct", "rpm", "battery_v"]


def test_alarms_and_obd_match_truth(sim_env):
    server = sim_env(page_size=5)
    hook = TracksolidHook()
    imeis = [d["imei"] for d in server.truth.devices()]
    begin = DAY_END - timedelta(days=3)
    alarms = hook.alarm_list(imeis, begin, DAY_END)
    truth_alarms = server.truth.alarms(begin, DAY_END, imeis=imeis)
    assert len(truth_alarms) > 5
    assert strip_raw(alarms, ALARM_KEYS) == strip_raw(truth_alarms, ALARM_KEYS)
    obd = [r for target in hook.targets for r in hook.obd_list(
        target, [d["imei"] for d in server.truth.devices() if d["account"] == target], DAY_BEGIN, DAY_END)]
    truth_obd = server.truth.obd(DAY_BEGIN, DAY_END, imeis=imeis)
    assert strip_raw(obd, OBD_KEYS) == strip_raw(truth_obd, OBD_KEYS)


# --- tokens ------------------------------------------------------------------------------------------

def _worker_calls(count: int, queue) -> None:
    try:
        hook = TracksolidHook()
        for _ in range(count):
            hook.list_devices(hook.targets[0])
        queue.put("ok")
    except Exception as exc:  # reported to the parent
        queue.put(repr(exc))


def test_one_token_serves_many_calls_and_several_processes(sim_env, live_conn):
    server = sim_env()
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    workers = [ctx.Process(target=_worker_calls, args=(5, queue)) for _ in range(4)]
    for w in workers:
        w.start()
    results = [queue.get(timeout=60) for _ in workers]
    for w in workers:
        w.join(timeout=30)
    assert results == ["ok"] * 4
    assert methods(server).count("jimi.oauth.token.get") == 1
    assert methods(server).count("jimi.user.device.list") == 20
    assert scalar(live_conn, "SELECT count(*) FROM tracksolid.api_token_cache") == 1


def test_token_expiry_mid_run_is_renewed_without_a_failed_call(sim_env):
    server = sim_env({"token_ttl_s": 2}, token_ttl_s=60)
    hook = TracksolidHook()
    deadline = time.monotonic() + 5
    calls = 0
    while time.monotonic() < deadline:
        hook.list_devices(hook.targets[0])
        calls += 1
        time.sleep(0.1)
    log = server.request_log
    renewals = [e for e in log if e["method"] in ("jimi.oauth.token.get", "jimi.oauth.token.refresh")]
    assert len(renewals) >= 2  # the 2-second token was renewed during the run
    assert all(e["code"] == 0 for e in log if e["method"] == "jimi.user.device.list")
    assert sum(e["method"] == "jimi.user.device.list" for e in log) == calls


def test_expired_token_that_cannot_be_refreshed_falls_back_to_a_new_one(sim_env):
    server = sim_env({"token_ttl_s": 1, "refresh_expired_allowed": False}, token_ttl_s=60)
    hook = TracksolidHook()
    hook.list_devices(hook.targets[0])
    time.sleep(1.5)  # the token expired (no refresh possible any more)
    hook.list_devices(hook.targets[0])
    assert methods(server).count("jimi.oauth.token.get") == 2
    assert all(e["code"] == 0 for e in server.request_log if e["method"] == "jimi.user.device.list")


def test_1004_mid_run_renews_once_and_retries(sim_env, live_conn):
    server = sim_env()
    hook = TracksolidHook()
    hook.list_devices(hook.targets[0])
    server.set_faults("jimi.user.device.list", FaultSpec(sequence=["1004"]))
    rows = hook.list_devices(hook.targets[0])
    assert rows
    device_calls = [e["code"] for e in server.request_log if e["method"] == "jimi.user.device.list"]
    assert device_calls == [0, 1004, 0]
    audit = [r for r in audit_rows(live_conn) if r[0] == "jimi.user.device.list"]
    assert [(r[1], r[3]) for r in audit] == [(1, "0"), (1, "1004"), (2, "0")]


def test_persistent_1004_is_a_typed_error_after_one_renewal(sim_env):
    server = sim_env()
    hook = TracksolidHook()
    server.set_faults("jimi.user.device.list", FaultSpec(sequence=["1004", "1004"]))
    with pytest.raises(TracksolidApiError) as info:
        hook.list_devices(hook.targets[0])
    assert info.value.code == 1004 and info.value.method == "jimi.user.device.list"
    assert [e["code"] for e in server.request_log if e["method"] == "jimi.user.device.list"] == [1004, 1004]


# --- faults --------------------------------------------------------------------------------------------

def test_1006_storm_is_survived_within_the_retry_budget(sim_env, live_conn):
    server = sim_env(max_attempts=6, **FAST_RETRY)
    hook = TracksolidHook()
    imeis = [d["imei"] for d in server.truth.devices()]
    server.set_faults("jimi.device.alarm.list", FaultSpec(sequence=["1006", "1006", "1006", "-1"]))
    alarms = hook.alarm_list(imeis, DAY_BEGIN, DAY_END)
    assert strip_raw(alarms, ALARM_KEYS) == strip_raw(server.truth.alarms(DAY_BEGIN, DAY_END, imeis=imeis),
                                                     ALARM_KEYS)
    calls = [e for e in server.request_log if e["method"] == "jimi.device.alarm.list"]
    assert [e["code"] for e in calls[:5]] == [1006, 1006, 1006, -1, 0]
    audit = [r for r in audit_rows(live_conn) if r[0] == "jimi.device.alarm.list"]
    assert [r[1] for r in audit[:5]] == [1, 2, 3, 4, 5]


def test_every_retry_is_re_signed_with_a_fresh_timestamp(sim_env):
    # backoff 1..2 s: the retry's timestamp (1-second resolution) must differ from the first attempt's
    server = sim_env(backoff_base_s=2.0, backoff_cap_s=2.0)
    hook = TracksolidHook()
    hook.list_devices(hook.targets[0])
    server.set_faults("jimi.user.device.list", FaultSpec(sequence=["1006"]))
    hook.list_devices(hook.targets[0])
    first, retry = [e for e in server.request_log if e["method"] == "jimi.user.device.list"][1:]
    assert (first["code"], retry["code"]) == (1006, 0)  # the simulator verified both signatures
    assert first["params"]["timestamp"] < retry["params"]["timestamp"]


def test_a_storm_longer_than_the_budget_is_a_typed_error(sim_env, live_conn):
    server = sim_env(max_attempts=3, **FAST_RETRY)
    hook = TracksolidHook()
    server.set_faults("jimi.device.alarm.list", FaultSpec(sequence=["1006"] * 10))
    imeis = [d["imei"] for d in server.truth.devices()][:4]
    with pytest.raises(TracksolidRetryExhausted) as info:
        hook.alarm_list(imeis, DAY_BEGIN, DAY_END)
    err = info.value
    assert err.attempts == 3 and err.method == "jimi.device.alarm.list"
    assert imeis[0] in str(err.batch) and "code 1006" in err.last_error
    assert methods(server).count("jimi.device.alarm.list") == 3
    assert len([r for r in audit_rows(live_conn) if r[0] == "jimi.device.alarm.list"]) == 3


@pytest.mark.parametrize("fault", ["http500", "http502", "truncate", "slow"])
def test_transport_faults_are_retried(sim_env, live_conn, fault):
    server = sim_env(timeout_s=0.5, **FAST_RETRY)
    hook = TracksolidHook()
    hook.list_devices(hook.targets[0])  # token first, so the fault hits the data call
    server.set_faults("jimi.user.device.list", FaultSpec(sequence=[fault], slow_s=2))
    assert hook.list_devices(hook.targets[0])
    audit = [r for r in audit_rows(live_conn) if r[0] == "jimi.user.device.list"][1:]
    assert [r[1] for r in audit] == [1, 2]
    assert audit[0][5] and audit[1][3] == "0"
    if fault.startswith("http"):
        assert audit[0][2] == int(fault[4:])


def test_too_many_imeis_is_not_retried(sim_env):
    server = sim_env({"imei_cap": 3}, method_imei_caps={"jimi.device.location.get": 10}, batch_size=10)
    hook = TracksolidHook()
    with pytest.raises(TracksolidApiError) as info:
        hook.location_get([d["imei"] for d in server.truth.devices()][:6])
    assert info.value.code == 220
    assert methods(server).count("jimi.device.location.get") == 1


# --- rate limit, audit, secrets ----------------------------------------------------------------------

def _rate_worker(count: int, queue) -> None:
    try:
        hook = TracksolidHook()
        for _ in range(count):
            hook.call("jimi.user.device.list", {"target": hook.targets[0]}, target=hook.targets[0])
        queue.put("ok")
    except Exception as exc:
        queue.put(repr(exc))


def test_rate_limiter_keeps_under_the_rate_across_processes(sim_env, monkeypatch):
    rate = 8.0
    # The simulator enforces the same rate (1006 beyond it): a burst of 1 makes any excess visible.
    server = sim_env({"max_requests_per_s": rate, "burst": 2}, max_requests_per_s=rate)
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    workers = [ctx.Process(target=_rate_worker, args=(6, queue)) for _ in range(3)]
    for w in workers:
        w.start()
    results = [queue.get(timeout=60) for _ in workers]
    for w in workers:
        w.join(timeout=30)
    assert results == ["ok"] * 3
    log = server.request_log
    assert all(e["code"] != 1006 for e in log)
    stamps = sorted(e["at"].timestamp() for e in log)
    assert len(stamps) == 19  # 18 calls + one token.get
    for i, start in enumerate(stamps):  # any 1-second window
        assert sum(1 for s in stamps[i:] if s < start + 1.0) <= rate + 1
    assert stamps[-1] - stamps[0] >= (len(stamps) - 1) / rate * 0.9


def test_every_attempt_is_audited_and_no_secret_is_logged(sim_env, live_conn, caplog):
    server = sim_env(timeout_s=0.5, **FAST_RETRY)
    caplog.set_level(logging.DEBUG)
    hook = TracksolidHook()
    imeis = [d["imei"] for d in server.truth.devices()]
    hook.list_devices(hook.targets[0])  # the token first: a 1004 makes no sense for token.get itself
    server.set_faults("*", FaultSpec(sequence=["1006", "http502", "1004", "truncate", "-1"]))
    hook.list_devices(hook.targets[0])
    hook.alarm_list(imeis, DAY_BEGIN, DAY_END)
    hook.track_mileage(imeis, DAY_BEGIN, DAY_END)
    server.set_faults("*", FaultSpec(sequence=["1006"] * 10))
    with pytest.raises(TracksolidRetryExhausted):
        hook.parking(hook.targets[0], imeis[:3], DAY_BEGIN, DAY_END, "off")

    log = server.request_log
    assert scalar(live_conn, "SELECT count(*) FROM tracksolid.ingestion_log") == len(log)
    assert [(r[0], r[3]) for r in audit_rows(live_conn)] == [
        (e["method"], None if e["code"] is None else str(e["code"])) for e in log]

    with live_conn.cursor() as cur:
        cur.execute("SELECT access_token, refresh_token FROM tracksolid.api_token_cache")
        tokens = [t for row in cur.fetchall() for t in row if t]
        cur.execute("SELECT coalesce(string_agg(t::text, '|'), '') FROM tracksolid.ingestion_log t")
        audit_text = cur.fetchone()[0]
    cfg = server.cfg
    password = cfg.account_credentials()[0][1]
    secrets_ = [password, cfg.app_secret, password_md5(password), *tokens, hook._token.access_token]
    for secret in secrets_:
        assert secret not in caplog.text
        assert secret not in audit_text


def test_secrets_and_tokens_are_registered_with_the_task_log_masker(sim_env):
    from airflow.sdk._shared.secrets_masker.secrets_masker import redact

    server = sim_env()
    hook = TracksolidHook()
    hook.list_devices(hook.targets[0])
    password = server.cfg.account_credentials()[0][1]
    for secret in (password, server.cfg.app_secret, password_md5(password), hook._token.access_token):
        assert secret not in str(redact(f"value={secret}")), "not masked"
