"""The endpoint DAGs, run with ``dag.test()`` against the simulator and the real local database.

Every assertion compares the database with the simulator's ground truth for the window the run covered.
The simulator's clock is frozen at ``SIM_NOW`` (data availability: trips/parking in progress, late fixes);
tokens and signatures run on real time.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import psycopg2
import pytest
from airflow.utils.state import DagRunState

from tests.fixtures.databases import scalar
from tests.fixtures.simulator import tracksolid_conn_json

SIM_NOW = datetime(2024, 5, 7, 12, 0, tzinfo=UTC)  # a Tuesday, midday UTC
W_END = datetime(2024, 5, 7, 7, 0, tzinfo=UTC)


@pytest.fixture
def env(airflow_db, airflow_db_conns, simulator_factory, monkeypatch, tmp_path):
    """A frozen-clock simulator behind the ``tracksolid_api`` connection, and a connection to the live DB."""
    monkeypatch.setenv("TRACKSOLID_RATE_LIMIT_DIR", str(tmp_path / "rate"))

    def start(**overrides):
        server = simulator_factory(clock_start=SIM_NOW, clock_speed=0, **overrides)
        monkeypatch.setenv("AIRFLOW_CONN_TRACKSOLID_API",
                           tracksolid_conn_json(server, max_requests_per_s=200.0, timeout_s=2.0))
        return server

    conn = psycopg2.connect(airflow_db_conns["tracksolid_db"])
    conn.autocommit = True
    yield start, conn
    conn.close()


def run(dagbag, dag_id: str, *, end: datetime | None = None, conf: dict | None = None, expect=DagRunState.SUCCESS):
    dag = dagbag.get_dag(dag_id)
    for task in dag.tasks:  # dag.test() honours retry delays: keep task retries, make them quick
        task.retry_delay = timedelta(seconds=1)
        task.max_retry_delay = timedelta(seconds=2)
    # dag.test(run_conf=...) leaves the values in the (module-cached) DAG's params: reset them every run.
    conf = {"start": None, "end": None, "targets": None, "imeis": None, **(conf or {})}
    if end is not None:
        dagrun = dag.test(logical_date=end, run_conf=conf)
    else:
        dagrun = dag.test(logical_date=None, run_conf=conf)
    assert dagrun.state == expect, f"{dag_id} ended {dagrun.state}"
    return dagrun


def rows(conn, query, params=None) -> set[tuple]:
    with conn.cursor() as cur:
        cur.execute(query, params)
        return set(cur.fetchall())


def norm(value):
    """Numbers compared as Decimal rounded to 6 places (double vs numeric vs the API's strings)."""
    if isinstance(value, float | Decimal) and not isinstance(value, bool):
        return Decimal(str(value)).quantize(Decimal("0.000001"))
    return value


#: Truth fields the simulator keeps as the API's strings but the table stores as numeric.
NUMERIC_STRINGS = {"fuel_100km"}


def truth_set(truth_rows, columns) -> set[tuple]:
    return {tuple(norm(Decimal(r[c]) if c in NUMERIC_STRINGS and r[c] is not None else r[c]) for c in columns)
            for r in truth_rows}


def db_set(conn, table, columns, where="true", params=None) -> set[tuple]:
    return {tuple(norm(v) for v in row) for row in rows(conn, f"SELECT {', '.join(columns)} FROM {table} WHERE {where}",
                                                        params)}


def assert_same(db: set[tuple], truth: set[tuple], fields: list[str], key_len: int = 2) -> None:
    """Set equality with a readable diff: rows missing / extra, and field differences by key."""
    if db == truth:
        return
    db_by_key = {r[:key_len]: r for r in db}
    truth_by_key = {r[:key_len]: r for r in truth}
    missing = sorted(set(truth_by_key) - set(db_by_key))
    extra = sorted(set(db_by_key) - set(truth_by_key))
    differing = [
        (k, {f: (a, b) for f, a, b in zip(fields, db_by_key[k], truth_by_key[k], strict=True) if a != b})
        for k in sorted(set(db_by_key) & set(truth_by_key)) if db_by_key[k] != truth_by_key[k]
    ]
    raise AssertionError(f"{len(missing)} missing {missing[:3]}; {len(extra)} extra {extra[:3]}; "
                         f"{len(differing)} differ (db, truth) {differing[:3]}")


def ingest_devices(dagbag, conn, server):
    run(dagbag, "tracksolid_devices", end=SIM_NOW.replace(hour=0, minute=0) - timedelta(hours=1))


DEVICE_FIELDS = ["imei", "account", "customer_name", "device_name", "mc_type", "sim", "iccid", "imsi",
                 "expiration", "activation_time", "import_time", "vehicle_name", "vehicle_number",
                 "vehicle_models", "vehicle_brand", "license_plate_no", "car_frame", "vin", "engine_number",
                 "driver_name", "driver_phone", "device_group_id", "device_group", "enabled_flag", "status",
                 "fuel_100km"]


# --------------------------------------------------------------------------------------------- devices
def test_devices_dag_upserts_every_field_marks_missing_inactive_and_keeps_assigned_city(dagbag, env):
    start, conn = env
    server = start()
    with conn.cursor() as cur:  # a device the API no longer returns, and a city we assigned ourselves
        cur.execute("INSERT INTO tracksolid.devices (imei, account) VALUES ('000000000000001', 'fleet_head')")
    ingest_devices(dagbag, conn, server)

    truth = server.truth.devices()
    assert_same(db_set(conn, "tracksolid.devices", DEVICE_FIELDS, "imei <> '000000000000001'"),
                truth_set(truth, DEVICE_FIELDS), DEVICE_FIELDS, key_len=1)
    assert scalar(conn, "SELECT is_active FROM tracksolid.devices WHERE imei = '000000000000001'") is False
    assert scalar(conn, "SELECT count(*) FROM tracksolid.devices WHERE is_active") == len(truth)
    # current_mileage_km comes from the detail call (the odometer at the simulator's now)
    imei = truth[0]["imei"]
    assert scalar(conn, "SELECT current_mileage_km FROM tracksolid.devices WHERE imei = %s", (imei,)) == \
        server.truth.odometer_km(imei, SIM_NOW)

    with conn.cursor() as cur:
        cur.execute("UPDATE tracksolid.devices SET assigned_city = 'Nairobi', vehicle_name = 'stale'")
    ingest_devices(dagbag, conn, server)
    assert scalar(conn, "SELECT count(*) FROM tracksolid.devices") == len(truth) + 1
    assert scalar(conn, "SELECT count(*) FROM tracksolid.devices WHERE assigned_city = 'Nairobi'") == len(truth) + 1
    assert_same(db_set(conn, "tracksolid.devices", DEVICE_FIELDS, "imei <> '000000000000001'"),
                truth_set(truth, DEVICE_FIELDS), DEVICE_FIELDS, key_len=1)


# --------------------------------------------------------------------------------------- batch endpoints
TRIP_FIELDS = ["imei", "start_time", "end_time", "start_lat", "start_lng", "end_lat", "end_lng", "distance_km",
               "run_time_s"]
ALARM_FIELDS = ["imei", "alarm_type", "alarm_time", "alarm_name", "lat", "lng"]
OBD_FIELDS = ["imei", "reading_time", "odometer_km", "fuel_pct", "rpm", "coolant_temp_c", "battery_v"]
PARKING_FIELDS = ["imei", "start_time", "acc_type", "end_time", "duration_s", "lat", "lng"]
FIX_FIELDS = ["imei", "gps_time", "lat", "lng", "speed_kmh", "direction", "acc_status", "gps_mode", "satellite"]

KEYS = {"tracksolid.trips": 2, "tracksolid.alarms": 3, "tracksolid.obd_readings": 2,
        "tracksolid.parking_events": 3, "tracksolid.position_history": 2}
KEYS = {t: range(n) for t, n in KEYS.items()}

#: dag id → (table, db fields, truth(server, fetch_start, end) -> rows, overlap, interval)
ENDPOINTS = {
    "tracksolid_trips": ("tracksolid.trips", TRIP_FIELDS,
                         lambda s, a, b: s.truth.trips(a, b, completed_by=SIM_NOW), timedelta(hours=3),
                         timedelta(minutes=15)),
    "tracksolid_alarms": ("tracksolid.alarms", ALARM_FIELDS, lambda s, a, b: s.truth.alarms(a, b),
                          timedelta(0), timedelta(minutes=5)),
    "tracksolid_obd": ("tracksolid.obd_readings", OBD_FIELDS, lambda s, a, b: s.truth.obd(a, b),
                       timedelta(0), timedelta(minutes=15)),
    "tracksolid_parking": ("tracksolid.parking_events", PARKING_FIELDS,
                           lambda s, a, b: s.truth.parking(a, b, "off", completed_by=SIM_NOW)
                           + s.truth.parking(a, b, "on", completed_by=SIM_NOW), timedelta(days=3),
                           timedelta(minutes=15)),
    "tracksolid_track_list": ("tracksolid.position_history", FIX_FIELDS,
                              lambda s, a, b: s.truth.fixes(a, b, arrived_by=SIM_NOW), timedelta(minutes=5),
                              timedelta(minutes=30)),
}


@pytest.mark.parametrize("dag_id", list(ENDPOINTS))
def test_window_equals_ground_truth_and_rerun_adds_nothing(dagbag, env, dag_id):
    table, fields, truth_of, overlap, interval = ENDPOINTS[dag_id]
    start, conn = env
    server = start()
    ingest_devices(dagbag, conn, server)
    end = W_END
    run(dagbag, dag_id, end=end)
    expected = truth_set(truth_of(server, end - interval - overlap, end), fields)
    assert expected, "the window should hold data (pick another window)"
    assert_same(db_set(conn, table, fields), expected, fields, key_len=len(KEYS[table]))

    before = scalar(conn, f"SELECT count(*) FROM {table}")
    run(dagbag, dag_id, end=end)
    assert scalar(conn, f"SELECT count(*) FROM {table}") == before


@pytest.mark.parametrize("dag_id", ["tracksolid_trips", "tracksolid_alarms"])
def test_backfill_of_three_windows_equals_one_run_over_their_union(dagbag, env, dag_id):
    table, fields, truth_of, overlap, interval = ENDPOINTS[dag_id]
    start, conn = env
    server = start()
    ingest_devices(dagbag, conn, server)
    for k in range(3):
        run(dagbag, dag_id, end=W_END + k * interval)
    backfilled = db_set(conn, table, fields)
    with conn.cursor() as cur:
        cur.execute(f"TRUNCATE {table}")
    union_start, union_end = W_END - interval, W_END + 2 * interval
    run(dagbag, dag_id, conf={"start": union_start.isoformat(), "end": union_end.isoformat()})
    assert db_set(conn, table, fields) == backfilled
    assert backfilled == truth_set(truth_of(server, union_start - overlap, union_end), fields)


def test_manual_run_without_window_fails_clearly(dagbag, env, caplog):
    start, conn = env
    start()
    run(dagbag, "tracksolid_alarms", expect=DagRunState.FAILED)
    assert "no data window" in caplog.text


# ------------------------------------------------------------------------------------------ live positions
def test_live_positions_match_the_latest_fixes_including_devices_the_list_omitted(dagbag, env):
    start, conn = env
    server = start(location_missing_ratio=0.4)
    ingest_devices(dagbag, conn, server)
    server.clear_request_log()
    run(dagbag, "tracksolid_live_positions", end=SIM_NOW)

    expected = {}
    for device in server.truth.devices():
        fix = server.truth.latest_fix(device["imei"], SIM_NOW)
        if fix is not None:
            expected[device["imei"]] = (fix["gps_time"], norm(fix["lat"]), norm(fix["lng"]))
    assert expected
    stored = {r[0]: (r[1], norm(r[2]), norm(r[3])) for r in rows(
        conn, "SELECT imei, gps_time, lat, lng FROM tracksolid.live_positions")}
    assert stored == expected
    log = server.request_log
    gets = [e for e in log if e["method"] == "jimi.device.location.get"]
    assert gets, "location.list omitted devices, so location.get must have been called"
    assert all(0 < e["imei_count"] <= 50 for e in gets)
    # every live fix is in position_history as a poll fix, and a re-run changes nothing
    assert scalar(conn, "SELECT count(*) FROM tracksolid.position_history WHERE source = 'poll'") == len(expected)
    before = rows(conn, "SELECT imei, gps_time, ingested_at FROM tracksolid.live_positions")
    run(dagbag, "tracksolid_live_positions", end=SIM_NOW)
    assert rows(conn, "SELECT imei, gps_time, ingested_at FROM tracksolid.live_positions") == before
    assert scalar(conn, "SELECT count(*) FROM tracksolid.position_history") == len(expected)


def test_live_position_is_replaced_only_by_a_newer_fix(dagbag, env):
    start, conn = env
    server = start()
    ingest_devices(dagbag, conn, server)
    imei = server.truth.devices()[0]["imei"]
    future = SIM_NOW + timedelta(days=1)
    with conn.cursor() as cur:
        cur.execute("INSERT INTO tracksolid.live_positions (imei, gps_time, lat, lng, source) "
                    "VALUES (%s, %s, 1, 1, 'push')", (imei, future))
    run(dagbag, "tracksolid_live_positions", end=SIM_NOW)
    assert scalar(conn, "SELECT gps_time FROM tracksolid.live_positions WHERE imei = %s", (imei,)) == future


# ------------------------------------------------------------------------------------------- mapping scale
def test_two_targets_120_devices_map_one_instance_per_target_batch(dagbag, env):
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    start, conn = env
    server = start(devices=120, accounts=2)
    ingest_devices(dagbag, conn, server)
    per_target = {}
    for device in server.truth.devices():
        per_target[device["account"]] = per_target.get(device["account"], 0) + 1
    expected_batches = sum(-(-n // 50) for n in per_target.values())
    assert len(per_target) == 2 and expected_batches >= 3

    server.clear_request_log()
    dagrun = run(dagbag, "tracksolid_trips", end=W_END)
    with create_session() as session:
        instances = session.query(TaskInstance).filter(
            TaskInstance.dag_id == "tracksolid_trips", TaskInstance.run_id == dagrun.run_id,
            TaskInstance.task_id == "fetch_trips").all()
        labels = sorted(ti.rendered_map_index or "" for ti in instances)
    assert len(instances) == expected_batches
    assert all(label.split(" #")[0] in per_target for label in labels), labels
    calls = [e for e in server.request_log if e["method"] == "jimi.device.track.mileage"]
    assert calls and max(e["imei_count"] for e in calls) <= 50
    assert max(e["imei_count"] for e in server.request_log) <= 50
    # every IMEI was asked for exactly once in the window's first page
    assert sum(e["imei_count"] for e in calls if e["params"].get("start_row") in ("0", 0)) == 120
    assert_same(db_set(conn, "tracksolid.trips", TRIP_FIELDS),
                truth_set(server.truth.trips(W_END - timedelta(minutes=15, hours=3), W_END, completed_by=SIM_NOW),
                          TRIP_FIELDS), TRIP_FIELDS)
    # The audit rows of the mapped calls name the DAG, run, task and map index they came from.
    with conn.cursor() as cur:
        cur.execute("SELECT dag_id, run_id, task_id, map_index, imei_count FROM tracksolid.ingestion_log"
                    " WHERE method = 'jimi.device.track.mileage'")
        audit = cur.fetchall()
    assert len(audit) == len(calls)
    assert {(d, r, t) for d, r, t, _, _ in audit} == {("tracksolid_trips", dagrun.run_id, "fetch_trips")}
    assert sorted({m for _, _, _, m, _ in audit}) == list(range(expected_batches))
    assert max(n for *_, n in audit) <= 50


# ------------------------------------------------------------------------------------------------ faults
@pytest.mark.parametrize("dag_id", ["tracksolid_trips", "tracksolid_alarms", "tracksolid_parking"])
def test_ground_truth_survives_rate_limit_storms_revoked_tokens_5xx_and_timeouts(dagbag, env, dag_id):
    from tracksolid_simulator import FaultSpec

    table, fields, truth_of, overlap, interval = ENDPOINTS[dag_id]
    start, conn = env
    server = start()
    ingest_devices(dagbag, conn, server)
    server.clear_request_log()
    server.set_faults("*", FaultSpec(probability=0.3, kinds=("1006", "1006", "-1", "http500", "http502", "slow"),
                                     slow_s=2.5, seed=11))
    method = {"tracksolid_trips": "jimi.device.track.mileage", "tracksolid_alarms": "jimi.device.alarm.list",
              "tracksolid_parking": "jimi.open.platform.report.parking"}[dag_id]
    server.set_faults(method, FaultSpec(sequence=["1006", "1006", "1006", "1004", "http500", "slow", "1004"],
                                        slow_s=2.5))
    run(dagbag, dag_id, end=W_END)
    faults = [e for e in server.request_log if e.get("fault") not in (None, "ok")]
    assert len(faults) >= 7, "the faults were not injected"
    assert_same(db_set(conn, table, fields), truth_set(truth_of(server, W_END - interval - overlap, W_END), fields),
                fields, key_len=len(KEYS[table]))
