"""Faults end to end: a simulated day through every endpoint DAG, compared with the ground truth.

The simulator's clock is frozen the day after; every data method answers with injected faults — 1006 storms,
1004 (token revoked mid-run), -1, HTTP 500/502, truncated bodies, responses slower than the client timeout —
and location.list silently omits devices. ``dag.test()`` runs of the devices, track list, trips, parking,
alarms, OBD and live-positions DAGs over that day must leave tables equal to the truth.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg2
import pytest

from tests.fixtures.simulator import tracksolid_conn_json
from tests.reliability.endpoint_runs import (
    compare,
    db_set,
    duplicate_keys,
    fault_counts,
    norm,
    rows,
    run_dag,
    task_tries,
    token_calls,
    truth_set,
)
from tests.test_endpoint_dags import (
    ALARM_FIELDS,
    DEVICE_FIELDS,
    FIX_FIELDS,
    OBD_FIELDS,
    PARKING_FIELDS,
    TRIP_FIELDS,
)

DAY = datetime(2024, 5, 6, tzinfo=UTC)  # a Monday
DAY_END = DAY + timedelta(days=1)
SIM_NOW = DAY_END + timedelta(hours=12)
FLEET = {"devices": 8, "accounts": 2, "seed": 7}
COMMAND = "pytest tests/reliability/test_faults_full_day.py"

#: Every fault kind the issue names, each scripted at least once per method family, plus random ones.
RANDOM_KINDS = ("1006", "1006", "-1", "http500", "http502", "truncate", "1004", "slow")
SCRIPTS = {
    "jimi.oauth.token.get": (["http500", "truncate"], 0.0),
    "jimi.user.device.list": (["truncate", "http502"], 0.15),
    "jimi.track.device.detail": (["-1", "1004", "http500"], 0.15),
    "jimi.user.device.location.list": (["http500"], 0.15),
    "jimi.device.location.get": (["truncate", "1004"], 0.15),
    "jimi.device.track.list": (["1006"] * 5 + ["slow"], 0.15),
    "jimi.device.track.mileage": (["1004", "http500", "slow", "truncate"], 0.15),
    "jimi.open.platform.report.parking": (["1006", "1006", "1006", "-1", "1004"], 0.15),
    "jimi.device.alarm.list": (["http502", "1004", "truncate"], 0.15),
    "jimi.device.obd.list": (["1006", "1006", "1006", "1006", "http500", "1004"], 0.15),
}
MISSING_RATIO = 0.4
#: dag id → (table, fields, key length, truth rows for the day run); overlaps as in each DAG file.
WINDOWED = {
    "tracksolid_track_list": ("tracksolid.position_history", FIX_FIELDS, 2,
                              lambda t: t.fixes(DAY - timedelta(minutes=5), DAY_END, arrived_by=SIM_NOW)),
    "tracksolid_trips": ("tracksolid.trips", TRIP_FIELDS, 2,
                         lambda t: t.trips(DAY - timedelta(hours=3), DAY_END, completed_by=SIM_NOW)),
    "tracksolid_parking": ("tracksolid.parking_events", PARKING_FIELDS, 3,
                           lambda t: t.parking(DAY - timedelta(days=3), DAY_END, "off", completed_by=SIM_NOW)
                           + t.parking(DAY - timedelta(days=3), DAY_END, "on", completed_by=SIM_NOW)),
    "tracksolid_alarms": ("tracksolid.alarms", ALARM_FIELDS, 3, lambda t: t.alarms(DAY, DAY_END)),
    "tracksolid_obd": ("tracksolid.obd_readings", OBD_FIELDS, 2, lambda t: t.obd(DAY, DAY_END)),
}
PRIMARY_KEYS = {"tracksolid.devices": ("imei",), "tracksolid.live_positions": ("imei",),
                "tracksolid.position_history": ("imei", "gps_time"), "tracksolid.trips": ("imei", "start_time"),
                "tracksolid.parking_events": ("imei", "start_time", "acc_type"),
                "tracksolid.alarms": ("imei", "alarm_type", "alarm_time"),
                "tracksolid.obd_readings": ("imei", "reading_time")}


@pytest.fixture
def faulty(airflow_db, airflow_db_conns, simulator_factory, monkeypatch, tmp_path):
    """A frozen-clock simulator injecting the faults above, behind ``tracksolid_api``; a live-DB connection."""
    from tracksolid_simulator import FaultSpec

    monkeypatch.setenv("TRACKSOLID_RATE_LIMIT_DIR", str(tmp_path / "rate"))
    server = simulator_factory(clock_start=SIM_NOW, clock_speed=0, **FLEET)
    # The hook's timeout is shorter than a "slow" answer; backoff kept small so storms cost seconds.
    monkeypatch.setenv("AIRFLOW_CONN_TRACKSOLID_API", tracksolid_conn_json(
        server, max_requests_per_s=200.0, timeout_s=3.0, backoff_base_s=0.2, backoff_cap_s=2.0))
    for n, (method, (sequence, probability)) in enumerate(SCRIPTS.items()):
        server.set_faults(method, FaultSpec(
            sequence=sequence, probability=probability, kinds=RANDOM_KINDS, slow_s=4.0, seed=100 + n,
            missing_ratio=MISSING_RATIO if method == "jimi.user.device.location.list" else 0.0))
    conn = psycopg2.connect(airflow_db_conns["tracksolid_db"])
    conn.autocommit = True
    yield server, conn
    conn.close()


def test_a_faulty_day_through_every_endpoint_dag_equals_the_truth(dagbag, faulty, record_figure):
    server, conn = faulty
    truth = server.truth
    for dag_id in WINDOWED:  # generate the day's truth up front (the server would do it on first request)
        WINDOWED[dag_id][3](truth)
    day = {"start": DAY.isoformat(), "end": DAY_END.isoformat()}

    runs = {"tracksolid_devices": run_dag(dagbag, "tracksolid_devices", conf=day)}
    for dag_id in WINDOWED:  # track list before live positions: a poll fix never shadows a track point
        runs[dag_id] = run_dag(dagbag, dag_id, conf=day)
    runs["tracksolid_live_positions"] = run_dag(dagbag, "tracksolid_live_positions", conf=day)

    results = {"tracksolid.devices": compare(db_set(conn, "tracksolid.devices", DEVICE_FIELDS),
                                             truth_set(truth.devices(), DEVICE_FIELDS), 1)}
    for table, fields, key_len, truth_of in WINDOWED.values():
        where, params = "true", None
        if table == "tracksolid.position_history":  # the live-positions run adds the latest fixes (next day)
            where, params = "gps_time >= %s AND gps_time < %s", (DAY - timedelta(minutes=5), DAY_END)
        results[table] = compare(db_set(conn, table, fields, where, params), truth_set(truth_of(truth), fields),
                                 key_len)
    expected_live = set()
    for device in truth.devices():
        fix = truth.latest_fix(device["imei"], SIM_NOW)
        if fix is not None:
            expected_live.add((device["imei"], fix["gps_time"], norm(fix["lat"]), norm(fix["lng"])))
    stored_live = {(i, t, norm(a), norm(b)) for i, t, a, b in rows(
        conn, "SELECT imei, gps_time, lat, lng FROM tracksolid.live_positions")}
    results["tracksolid.live_positions"] = compare(stored_live, expected_live, 1)

    log = server.request_log
    faults = fault_counts(log)
    omitted = sum(e["imei_count"] for e in log if e["method"] == "jimi.device.location.get" and e["code"] == 0)
    audit = rows(conn, "SELECT count(*) FILTER (WHERE attempt > 1), count(*) FILTER (WHERE error IS NOT NULL),"
                       " count(*) FROM tracksolid.ingestion_log").pop()
    airflow_retries = {dag_id: task_tries(dag_id, dagrun.run_id)["extra_tries"] for dag_id, dagrun in runs.items()}
    duplicates = {t: duplicate_keys(conn, t, k) for t, k in PRIMARY_KEYS.items()}

    for kind in sorted(faults):
        record_figure(f"faults injected: {kind}", faults[kind], unit="responses", command=COMMAND)
    record_figure("devices omitted by location.list (fetched by location.get)", omitted, unit="devices",
                  command=COMMAND)
    record_figure("API calls (all attempts)", len(log), unit="requests", command=COMMAND)
    record_figure("hook retries (ingestion_log rows with attempt > 1)", audit[0], unit="attempts", command=COMMAND)
    record_figure("failed attempts logged in ingestion_log", audit[1], unit="attempts", command=COMMAND)
    record_figure("Airflow task retries", sum(airflow_retries.values()), unit="tries", command=COMMAND)
    record_figure("token calls (token.get + token.refresh)", token_calls(log), unit="requests", command=COMMAND)
    for table, r in results.items():
        record_figure(f"{table}: rows compared with the truth", r["truth_rows"], unit="rows", command=COMMAND)
    mismatches = sum(r["missing"] + r["extra"] + r["differing"] for r in results.values())
    record_figure("mismatches (missing + extra + differing rows, all tables)", mismatches, unit="rows",
                  command=COMMAND)
    record_figure("duplicate keys (all tables)", sum(duplicates.values()), unit="keys", command=COMMAND)

    # Every kind the issue names was really injected, and the tables still equal the truth.
    assert set(faults) >= {"1006", "1004", "-1", "http500", "http502", "truncate", "slow"}, faults
    assert omitted > 0, "location.list omitted no device: the missing-device path was not exercised"
    assert all(r["truth_rows"] > 0 for r in results.values()), results
    assert mismatches == 0, results
    assert not any(duplicates.values()), duplicates
    assert len(log) == audit[2], "every attempt has its ingestion_log row"
