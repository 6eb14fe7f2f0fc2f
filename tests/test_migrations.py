"""The migration runner: order, idempotence, checksums, locking, dry run — and the schema it builds."""

from __future__ import annotations

import shutil
import threading
import uuid

import psycopg2
import pytest

from fleet_db.admin import drop_database, ensure_database
from fleet_db.migrations import ChecksumMismatch, MigrationError, discover, migrate, migrate_dsn, pending
from fleet_db.settings import ADMIN_DSN, DWH_DB, LIVE_DB, MIGRATIONS_DIR, dsn_with_dbname
from tests.fixtures.databases import scalar

# SPEC §3: every live table and its key (a decision, so it is spelled out here, not read from the files).
LIVE_KEYS = {
    "tracksolid.devices": ["imei"],
    "tracksolid.live_positions": ["imei"],
    "tracksolid.position_history": ["imei", "gps_time"],
    "tracksolid.trips": ["imei", "start_time"],
    "tracksolid.parking_events": ["imei", "start_time", "acc_type"],
    "tracksolid.alarms": ["imei", "alarm_type", "alarm_time"],
    "tracksolid.obd_readings": ["imei", "reading_time"],
    "tracksolid.device_events": ["imei", "event_time", "event_type"],
    "tracksolid.heartbeats": ["imei", "hb_time"],
    "tracksolid.fuel_readings": ["imei", "reading_time"],
    "tracksolid.temperature_readings": ["imei", "reading_time"],
    "tracksolid.push_inbox": ["id"],
    "tracksolid.api_token_cache": ["app_key", "account"],
    "tracksolid.ingestion_log": ["id"],
    "tracksolid.geofences": ["id"],
    "tracksolid.dispatch_log": ["id"],
    "ops.tickets": ["id"],
    "ops.service_log": ["id"],
    "ops.odometer_readings": ["id"],
    "public.schema_migrations": ["version"],
}


def primary_key(conn, table: str) -> list[str]:
    with conn.cursor() as cur:
        cur.execute(
            """
            SELECT a.attname
            FROM pg_index i
            JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord) ON true
            JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
            WHERE i.indrelid = %s::regclass AND i.indisprimary
            ORDER BY k.ord
            """,
            (table,),
        )
        return [r[0] for r in cur.fetchall()]


def test_migrating_twice_applies_nothing_the_second_time(empty_database):
    first = migrate_dsn(empty_database, LIVE_DB)
    files = discover(LIVE_DB)
    assert [o.migration.filename for o in first] == [m.filename for m in files]
    assert all(o.status == "applied" for o in first)
    assert migrate_dsn(empty_database, LIVE_DB) == []
    conn = psycopg2.connect(empty_database)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT version, checksum FROM public.schema_migrations ORDER BY version")
            assert cur.fetchall() == [(m.version, m.checksum) for m in files]
    finally:
        conn.close()


def test_every_spec_table_exists_with_its_key(live_conn):
    for table, key in LIVE_KEYS.items():
        assert primary_key(live_conn, table) == key, table


#: Point columns deliberately without a GiST index: live_positions (one row per device, rewritten on every fix)
#: dropped it in 0031 so that its updates are HOT — an index on geom, which changes with every fix, made every
#: update write index entries and bloat the table; a spatial query over one row per device scans it quickly.
POINT_COLUMNS_WITHOUT_GIST = {"tracksolid.live_positions.geom"}


def test_point_columns_have_gist_indexes(live_conn):
    with live_conn.cursor() as cur:
        cur.execute(
            """
            SELECT c.table_schema || '.' || c.table_name || '.' || c.column_name
            FROM information_schema.columns c
            WHERE c.udt_name = 'geometry' AND c.table_schema IN ('tracksolid', 'ops')
              AND NOT EXISTS (
                SELECT 1 FROM pg_indexes i
                WHERE i.schemaname = c.table_schema AND i.tablename = c.table_name
                  AND i.indexdef ILIKE '%USING gist (' || c.column_name || ')%')
            """
        )
        assert sorted(r[0] for r in cur.fetchall()) == sorted(POINT_COLUMNS_WITHOUT_GIST)
        cur.execute("SELECT count(*) FROM information_schema.columns WHERE udt_name = 'geometry' "
                    "AND table_schema IN ('tracksolid', 'ops')")
        assert cur.fetchone()[0] >= 8


def test_updated_at_trigger_moves_on_update(live_conn):
    with live_conn.cursor() as cur:
        cur.execute("INSERT INTO tracksolid.devices (imei, device_name) VALUES ('860000000000001', 'a')")
        cur.execute("UPDATE tracksolid.devices SET updated_at = now() - interval '1 day'")  # trigger resets it
        cur.execute("SELECT updated_at > now() - interval '1 minute' FROM tracksolid.devices")
        assert cur.fetchone()[0] is True


def test_warehouse_migrations_build_its_schemas(dwh_conn):
    for schema in ("bronze", "silver", "gold", "dwh_control"):
        assert scalar(dwh_conn, "SELECT count(*) FROM pg_namespace WHERE nspname = %s", (schema,)) == 1
    assert primary_key(dwh_conn, "dwh_control.extract_watermarks") == ["table_name"]
    assert scalar(dwh_conn, "SELECT count(*) FROM public.schema_migrations") == len(discover(DWH_DB))


@pytest.fixture
def migrations_copy(tmp_path):
    """A private copy of the migrations tree that a test may edit."""
    root = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, root)
    return root


def test_editing_an_applied_migration_is_refused_with_its_name(empty_database, migrations_copy):
    conn = psycopg2.connect(empty_database)
    try:
        migrate(conn, LIVE_DB, root=migrations_copy)
        edited = sorted((migrations_copy / LIVE_DB).glob("0002_*.sql"))[0]
        edited.write_text(edited.read_text() + "\n-- a harmless-looking edit\n")
        with pytest.raises(ChecksumMismatch, match=edited.name):
            migrate(conn, LIVE_DB, root=migrations_copy)
        with pytest.raises(ChecksumMismatch, match=edited.name):
            migrate(conn, LIVE_DB, root=migrations_copy, dry_run=True)
    finally:
        conn.close()


def test_dry_run_lists_pending_and_applies_nothing(empty_database, migrations_copy):
    conn = psycopg2.connect(empty_database)
    try:
        planned = migrate(conn, LIVE_DB, root=migrations_copy, dry_run=True)
        assert [o.migration.filename for o in planned] == [m.filename for m in discover(LIVE_DB)]
        assert {o.status for o in planned} == {"pending"}
        assert scalar(conn, "SELECT to_regclass('public.schema_migrations')") is None
        assert scalar(conn, "SELECT to_regclass('tracksolid.devices')") is None
        migrate(conn, LIVE_DB, root=migrations_copy)
        (migrations_copy / LIVE_DB / "0999_add_a_column.sql").write_text(
            "ALTER TABLE tracksolid.devices ADD COLUMN colour text;")
        assert [o.migration.filename for o in migrate(conn, LIVE_DB, root=migrations_copy, dry_run=True)] == [
            "0999_add_a_column.sql"]
        assert pending(conn, LIVE_DB, migrations_copy)[0].version == "0999"
    finally:
        conn.close()


def test_a_failing_migration_rolls_back_and_is_named(empty_database, migrations_copy):
    (migrations_copy / LIVE_DB / "0999_broken.sql").write_text(
        "CREATE TABLE tracksolid.half_done (id int);\nSELECT * FROM no_such_table;")
    conn = psycopg2.connect(empty_database)
    try:
        with pytest.raises(MigrationError, match="0999_broken.sql"):
            migrate(conn, LIVE_DB, root=migrations_copy)
        assert scalar(conn, "SELECT to_regclass('tracksolid.half_done')") is None
        assert scalar(conn, "SELECT count(*) FROM public.schema_migrations WHERE version = '0999'") == 0
        assert scalar(conn, "SELECT count(*) FROM public.schema_migrations") == len(discover(LIVE_DB))
    finally:
        conn.close()


def test_concurrent_runners_apply_each_file_exactly_once(empty_database):
    start = threading.Barrier(3)
    results, errors = [], []

    def run():
        try:
            start.wait()
            results.append(migrate_dsn(empty_database, LIVE_DB))
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    applied = [o.migration.filename for outcome in results for o in outcome]
    assert sorted(applied) == sorted(m.filename for m in discover(LIVE_DB))  # each once, across all runners
    conn = psycopg2.connect(empty_database)
    try:
        assert scalar(conn, "SELECT count(*) FROM public.schema_migrations") == len(discover(LIVE_DB))
    finally:
        conn.close()


def test_live_and_warehouse_can_migrate_side_by_side():
    """Roles are cluster-wide: two databases migrating at once must not trip over each other."""
    names = [f"test_pair_{uuid.uuid4().hex[:8]}" for _ in range(2)]
    errors = []

    def run(name, kind):
        try:
            migrate_dsn(dsn_with_dbname(ADMIN_DSN, name), kind)
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    try:
        for name in names:
            ensure_database(name)
        threads = [threading.Thread(target=run, args=(n, k)) for n, k in zip(names, (LIVE_DB, DWH_DB), strict=True)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
    finally:
        for name in names:
            drop_database(name)
