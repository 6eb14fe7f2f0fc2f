"""Bronze extract → S3 (moto server) → load: equality with the source, idempotence, late rows, kill points."""

from __future__ import annotations

from datetime import timedelta

import psycopg2
import pytest

from fleet_dwh import bronze
from fleet_dwh.objectstore import ObjectStore
from fleet_dwh.tables import DATA_TABLES, SPEC_TABLES, TABLES
from tests.fixtures.databases import scalar
from tests.fixtures.dwh import BASE_TIME, assert_bronze_equals_live, compare_bronze, fill_live


@pytest.fixture
def store(fleet_s3) -> ObjectStore:
    return ObjectStore.from_connection()


@pytest.fixture
def conns(live_db, dwh_db):
    live = psycopg2.connect(live_db)
    dwh = psycopg2.connect(dwh_db)
    yield live, dwh
    live.close()
    dwh.close()


def _run(conns, store, run_id, tables=None):
    live, dwh = conns
    results = bronze.run_bronze(live, dwh, store, run_id, tables)
    return {r["table"]: r for r in results}


def _bronze_counts(dwh_conn) -> dict[str, int]:
    return {t.name: scalar(dwh_conn, f"SELECT count(*) FROM {t.qualified}") for t in TABLES}


def test_registry_covers_the_16_spec_tables_and_the_push_tables():
    assert len(SPEC_TABLES) == 16
    assert {t.source for t in SPEC_TABLES} >= {"tracksolid.position_history", "ops.tickets", "tracksolid.devices"}
    push = {t.source: (t.mode, t.watermark_column, t.key) for t in DATA_TABLES if t.push_only}
    assert push == {
        "tracksolid.fault_codes": ("incremental", "ingested_at", ("imei", "fault_time", "fault_code")),
        "tracksolid.lbs_readings": ("incremental", "ingested_at", ("imei", "reading_time")),
        "tracksolid.push_trip_reports": ("incremental", "ingested_at", ("imei", "start_time")),
        "tracksolid.device_attribute_reports": ("incremental", "ingested_at", ("imei", "attribute", "reported_at")),
    }


_COLUMNS_SQL = ("SELECT column_name FROM information_schema.columns WHERE table_schema = %s AND table_name = %s"
                " ORDER BY ordinal_position")
_PRIMARY_KEY_SQL = ("SELECT array_agg(a.attname::text ORDER BY k.n) FROM pg_index i"
                    " CROSS JOIN unnest(i.indkey) WITH ORDINALITY k(attnum, n)"
                    " JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum"
                    " WHERE i.indrelid = %s::regclass AND i.indisprimary")


def test_every_bronze_table_has_its_source_columns_and_key(live_conn, dwh_conn):
    """The extract selects bronze's columns from live: a live column missing in bronze would be dropped."""
    for t in TABLES:
        schema, name = t.source.split(".")
        live_cols = [r[0] for r in _fetch(live_conn, _COLUMNS_SQL, (schema, name))]
        bronze_cols = [r[0] for r in _fetch(dwh_conn, _COLUMNS_SQL, ("bronze", t.name))]
        assert live_cols, t.source
        assert sorted(bronze_cols) == sorted([*live_cols, "_run_id", "_loaded_at"]), t.name
        assert scalar(live_conn, _PRIMARY_KEY_SQL, (t.source,)) == list(t.key), t.source
        assert scalar(dwh_conn, _PRIMARY_KEY_SQL, (t.qualified,)) == list(t.key), t.qualified


def _fetch(conn, query, params):
    with conn.cursor() as cur:
        cur.execute(query, params)
        return cur.fetchall()


def test_first_run_copies_every_table_and_second_run_adds_nothing(conns, store, fleet_s3, live_conn, dwh_conn):
    fill_live(live_conn)
    first = _run(conns, store, "run-1")
    assert {r["status"] for r in first.values()} == {"loaded"}, first
    report = assert_bronze_equals_live(live_conn, dwh_conn)
    assert report["position_history"]["live"] == 60 and report["ops_tickets"]["live"] == 3
    # Every object went exports → processed; the run rows are closed with counts and keys.
    assert fleet_s3.keys("dwh/exports/") == []
    processed = fleet_s3.keys("dwh/processed/")
    assert len(processed) == len(TABLES)
    assert all(k.endswith(".csv.gz") for k in processed)
    runs = scalar(dwh_conn, "SELECT json_agg(r) FROM dwh_control.extract_runs r")
    assert len(runs) == len(TABLES)
    for r in runs:
        assert r["status"] == "loaded" and r["rows_extracted"] == r["rows_loaded"], r
        assert r["object_key"].startswith(f"dwh/exports/{r['table_name']}/")
        assert r["processed_key"] == r["object_key"].replace("dwh/exports/", "dwh/processed/")
    # The bronze copy keeps values exactly (json with quotes and commas, geometry, numerics).
    assert scalar(live_conn, "SELECT string_agg(raw::text || geom::text || speed_kmh, '|' ORDER BY imei, gps_time)"
                             " FROM tracksolid.position_history") == \
        scalar(dwh_conn, "SELECT string_agg(raw::text || geom::text || speed_kmh, '|' ORDER BY imei, gps_time)"
                         " FROM bronze.position_history")
    assert scalar(live_conn, "SELECT string_agg(raw::text, '|' ORDER BY imei) FROM tracksolid.devices") == \
        scalar(dwh_conn, "SELECT string_agg(raw::text, '|' ORDER BY imei) FROM bronze.devices")
    # ... and the push receiver's tables too (keys, JSON items, numerics, empty-string codes).
    assert report["fault_codes"]["live"] == 6 and report["device_attribute_reports"]["live"] == 6
    for table, values in (("fault_codes", "imei, fault_time, fault_code, fault_detail, raw"),
                          ("lbs_readings", "imei, reading_time, post_type, lbs, raw"),
                          ("push_trip_reports", "imei, start_time, end_time, distance_km, max_speed_kmh, run_time_s"),
                          ("device_attribute_reports", "imei, attribute, reported_at, value")):
        rows_sql = f"SELECT string_agg(({values})::text, '|' ORDER BY ({values})::text) FROM {{}}.{table}"
        assert scalar(live_conn, rows_sql.format("tracksolid")) == scalar(dwh_conn, rows_sql.format("bronze")), table

    before = _bronze_counts(dwh_conn)
    second = _run(conns, store, "run-2")
    assert {r["status"] for r in second.values()} == {"loaded"}
    assert _bronze_counts(dwh_conn) == before
    incremental = [t.name for t in TABLES if t.mode == "incremental"]
    assert all(second[name]["rows"] == 0 for name in incremental), second
    # Nothing was overwritten in the store: two objects per table, both kept.
    assert len(fleet_s3.keys("dwh/processed/")) == 2 * len(TABLES)
    assert_bronze_equals_live(live_conn, dwh_conn)


def test_late_rows_are_caught_by_arrival_order(conns, store, live_conn, dwh_conn):
    imeis = fill_live(live_conn)
    _run(conns, store, "run-1")
    # A re-uploaded fix from two days ago arrives now, and an existing alarm is corrected.
    old = BASE_TIME - timedelta(days=2)
    live_conn.cursor().execute(
        "INSERT INTO tracksolid.position_history (imei, gps_time, lat, lng, gps_mode, source)"
        " VALUES (%s, %s, -1.3, 36.8, 1, 'push')", (imeis[0], old))
    live_conn.cursor().execute(
        "UPDATE tracksolid.alarms SET alarm_name = 'corrected', ingested_at = now() WHERE imei = %s", (imeis[1],))
    # A push fault code for an old event time, delivered only now.
    live_conn.cursor().execute("INSERT INTO tracksolid.fault_codes (imei, fault_time, fault_code, source)"
                               " VALUES (%s, %s, 'P0420', 'push')", (imeis[2], old))
    results = _run(conns, store, "run-2")
    assert results["position_history"]["rows"] == 1
    assert results["alarms"]["rows"] == 1
    assert results["fault_codes"]["rows"] == 1 and results["lbs_readings"]["rows"] == 0
    assert scalar(dwh_conn, "SELECT _run_id FROM bronze.fault_codes WHERE fault_code = 'P0420'") == "run-2"
    assert scalar(dwh_conn, "SELECT gps_mode FROM bronze.position_history WHERE gps_time = %s", (old,)) == 1
    assert scalar(dwh_conn, "SELECT alarm_name FROM bronze.alarms WHERE imei = %s", (imeis[1],)) == "corrected"
    assert_bronze_equals_live(live_conn, dwh_conn)


def test_open_transaction_holds_the_high_water_mark_back(conns, store, live_db, live_conn, dwh_conn):
    """A row written by a transaction that started before the run but commits after its extract is not lost."""
    imeis = fill_live(live_conn)
    slow = psycopg2.connect(live_db)  # an ingestion transaction still in flight
    with slow.cursor() as cur:
        cur.execute("INSERT INTO tracksolid.position_history (imei, gps_time, lat, lng, source)"
                    " VALUES (%s, %s, -1.3, 36.8, 'poll')", (imeis[0], BASE_TIME + timedelta(hours=5)))
    _run(conns, store, "run-1", ["position_history"])
    slow.commit()
    slow.close()
    assert compare_bronze(live_conn, dwh_conn, [t for t in TABLES if t.name == "position_history"])[
        "position_history"]["missing"], "the in-flight row cannot be in bronze yet"
    _run(conns, store, "run-2", ["position_history"])
    report = compare_bronze(live_conn, dwh_conn)["position_history"]
    assert not report["missing"] and not report["extra"]


def _watermarks(dwh_conn) -> dict:
    with dwh_conn.cursor() as cur:
        cur.execute("SELECT table_name, watermark_value FROM dwh_control.extract_watermarks")
        return dict(cur.fetchall())


def _runs(dwh_conn, run_id) -> dict[str, dict]:
    rows = scalar(dwh_conn, "SELECT json_agg(r) FROM dwh_control.extract_runs r WHERE run_id = %s", (run_id,))
    return {r["table_name"]: r for r in rows or []}


def test_kill_point_object_store_down_during_extract(conns, restartable_s3, live_conn, dwh_conn):
    fill_live(live_conn)
    store = ObjectStore.from_connection()
    _run(conns, store, "run-1", ["position_history", "devices"])
    marks = _watermarks(dwh_conn)
    live_conn.cursor().execute("UPDATE tracksolid.position_history SET speed_kmh = 99, ingested_at = now()"
                               " WHERE gps_time = %s", (BASE_TIME,))

    restartable_s3.server.stop()
    results = _run(conns, store, "run-2", ["position_history", "devices"])
    assert {r["status"] for r in results.values()} == {"failed"}
    runs = _runs(dwh_conn, "run-2")
    assert {r["status"] for r in runs.values()} == {"failed"}
    assert all(r["error"].startswith("extract failed") for r in runs.values())
    assert _watermarks(dwh_conn) == marks, "a failed extract never moves a watermark"

    restartable_s3.server.start()  # a fresh, empty store: the bucket must be created again
    restartable_s3.client.create_bucket(Bucket=restartable_s3.bucket)
    results = _run(conns, store, "run-3", ["position_history", "devices"])
    assert {r["status"] for r in results.values()} == {"loaded"}
    assert results["position_history"]["rows"] == 3  # exactly the updated rows, once
    assert scalar(dwh_conn, "SELECT count(*) FROM bronze.position_history WHERE speed_kmh = 99") == 3
    assert_report = compare_bronze(live_conn, dwh_conn, [t for t in TABLES if t.name in ("position_history",
                                                                                          "devices")])
    assert all(not r["missing"] and not r["extra"] and r["live"] == r["bronze"] for r in assert_report.values())


def test_kill_point_load_transaction_fails(conns, store, fleet_s3, live_conn, dwh_conn):
    fill_live(live_conn)
    # A constraint no loaded row satisfies: the load fails after COPY, inside its transaction.
    dwh_conn.cursor().execute("ALTER TABLE bronze.trips ADD CONSTRAINT kill_point CHECK (distance_km < 0)")
    results = _run(conns, store, "run-1")
    assert results["trips"]["status"] == "failed"
    run = _runs(dwh_conn, "run-1")["trips"]
    assert run["status"] == "failed" and "load failed (rolled back)" in run["error"] and run["rows_loaded"] is None
    assert _watermarks(dwh_conn)["trips"] is None
    assert scalar(dwh_conn, "SELECT count(*) FROM bronze.trips") == 0
    assert fleet_s3.keys("dwh/exports/trips/") == [run["object_key"]], "the unloaded object is kept"
    assert scalar(dwh_conn, "SELECT count(*) FROM dwh_control.v_recent_failures WHERE table_name = 'trips'") == 1

    dwh_conn.cursor().execute("ALTER TABLE bronze.trips DROP CONSTRAINT kill_point")
    results = _run(conns, store, "run-2")
    assert {r["status"] for r in results.values()} == {"loaded"}
    assert results["trips"]["rows"] == 3
    assert_bronze_equals_live(live_conn, dwh_conn)
    # The failed run's object was parked under dwh/unloaded/, not deleted and not left in exports.
    assert fleet_s3.keys("dwh/exports/") == []
    assert fleet_s3.keys("dwh/unloaded/trips/") == [run["object_key"].replace("dwh/exports/", "dwh/unloaded/")]


def test_kill_point_dies_after_load_before_move(conns, store, fleet_s3, live_conn, dwh_conn):
    fill_live(live_conn)
    live, dwh = conns
    hwm = bronze.take_high_water_mark(live)
    manifest = bronze.extract_table(live, dwh, store, "position_history", "run-1", hwm)
    assert bronze.load_object(dwh, store, manifest)["status"] == "loaded"
    # ... the worker dies here: the object is still under dwh/exports/. A retry of the task only moves it.
    again = bronze.load_table(dwh, store, manifest)
    assert again["status"] == "already_loaded"
    assert scalar(dwh_conn, "SELECT count(*) FROM bronze.position_history") == 60

    manifest2 = bronze.extract_table(live, dwh, store, "alarms", "run-1", hwm)
    bronze.load_object(dwh, store, manifest2)
    broken = ObjectStore(store.hook, "no-such-bucket")
    with pytest.raises(Exception):  # noqa: B017 - botocore's error class is what the store raises
        bronze.move_object(dwh, broken, manifest2)
    run = _runs(dwh_conn, "run-1")["alarms"]
    assert run["status"] == "failed" and run["loaded_at"] is not None and "moving" in run["error"]
    assert _watermarks(dwh_conn)["alarms"] is not None, "the committed load keeps its watermark"

    results = _run(conns, store, "run-2")
    assert {r["status"] for r in results.values()} == {"loaded"}
    assert results["position_history"]["rows"] == 0 and results["alarms"]["rows"] == 0
    assert_bronze_equals_live(live_conn, dwh_conn)
    assert fleet_s3.keys("dwh/exports/") == []
    assert manifest2["object_key"].replace("dwh/exports/", "dwh/processed/") in fleet_s3.keys("dwh/processed/")
    assert scalar(dwh_conn, "SELECT processed_key FROM dwh_control.extract_runs WHERE id = %s",
                  (manifest2["run_row_id"],)).startswith("dwh/processed/alarms/")


def test_late_retry_of_an_old_load_is_refused(conns, store, live_conn, dwh_conn):
    """An old extract loaded after a newer one would put older row versions back: it is marked superseded."""
    fill_live(live_conn)
    live, dwh = conns
    old = bronze.extract_table(live, dwh, store, "alarms", "run-1", bronze.take_high_water_mark(live))
    live_conn.cursor().execute("UPDATE tracksolid.alarms SET alarm_name = 'new', ingested_at = now()")
    _run(conns, store, "run-2", ["alarms"])
    assert bronze.load_table(dwh, store, old)["status"] == "superseded"
    assert scalar(dwh_conn, "SELECT count(*) FROM bronze.alarms WHERE alarm_name = 'new'") == 3
    assert _runs(dwh_conn, "run-1")["alarms"]["error"].startswith("superseded")


def test_health_views_are_readable_by_grafana_ro(conns, store, live_conn, dwh_db):
    fill_live(live_conn)
    _run(conns, store, "run-1")
    ro = psycopg2.connect(dwh_db, user="grafana_ro")
    try:
        with ro.cursor() as cur:
            cur.execute("SELECT table_name, last_run_status FROM dwh_control.v_table_freshness")
            fresh = dict(cur.fetchall())
            cur.execute("SELECT count(*) FROM dwh_control.v_recent_failures")
            failures = cur.fetchone()[0]
            cur.execute("SELECT max(lag_seconds) FROM dwh_control.v_watermark_lag")
            lag = cur.fetchone()[0]
            cur.execute("SELECT count(*) FROM bronze.position_history")
            rows = cur.fetchone()[0]
    finally:
        ro.close()
    assert set(fresh) == {t.name for t in TABLES} and set(fresh.values()) == {"loaded"}
    assert failures == 0 and lag is not None and lag < 600 and rows == 60


def test_high_water_mark_as_dwh_owner_sees_other_roles_transactions(live_db):
    """dwh_owner reads the oldest open transaction through the SECURITY DEFINER function (live 0040)."""
    other = psycopg2.connect(live_db)  # a postgres-role session with an open transaction
    with other.cursor() as cur:
        cur.execute("SELECT now()")
        opened = cur.fetchone()[0]
    extractor = psycopg2.connect(live_db, user="dwh_owner")
    try:
        assert bronze.take_high_water_mark(extractor) == opened
        # ... and still cannot read other sessions' query texts.
        assert scalar(extractor, "SELECT query FROM pg_stat_activity WHERE pid = %s",
                      (other.get_backend_pid(),)) == "<insufficient privilege>"
    finally:
        extractor.close()
        other.rollback()
        other.close()


def test_push_tables_load_as_the_extract_role(store, live_db, dwh_db, live_conn, dwh_conn):
    """dwh_owner can read the push receiver's live tables (default privileges of live 0005) and load them."""
    fill_live(live_conn)
    push_tables = [t for t in DATA_TABLES if t.push_only]
    live = psycopg2.connect(live_db, user="dwh_owner")
    dwh = psycopg2.connect(dwh_db, user="dwh_owner")
    try:
        results = bronze.run_bronze(live, dwh, store, "run-roles", [t.name for t in push_tables])
    finally:
        live.close()
        dwh.close()
    assert [(r["table"], r["status"]) for r in results] == [(t.name, "loaded") for t in push_tables]
    report = compare_bronze(live_conn, dwh_conn, push_tables)
    assert all(not r["missing"] and not r["extra"] and r["live"] == r["bronze"] > 0 for r in report.values()), report
