"""The schema on a real TimescaleDB server (the lane of ``make test-timescale``, scripts/timescale_lane.sh).

Skipped on plain PostgreSQL (the normal lane), unless ``FLEET_REQUIRE_TIMESCALE=1`` — the lane sets it so that
a server without TimescaleDB fails these tests instead of skipping them.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

import psycopg2
import pytest

from fleet_db.migrations import discover, migrate_dsn
from fleet_db.settings import ADMIN_DSN, DATABASES, LIVE_DB
from tests.fixtures.databases import scalar

pytestmark = pytest.mark.timescale

#: Hypertables of migration 0003 and their time column and chunk interval.
HYPERTABLES = {
    "position_history": ("gps_time", timedelta(days=1)),
    "heartbeats": ("hb_time", timedelta(days=7)),
    "fuel_readings": ("reading_time", timedelta(days=7)),
    "temperature_readings": ("reading_time", timedelta(days=7)),
}

UPSERT_FIX = """
INSERT INTO tracksolid.position_history (imei, gps_time, lat, lng, geom, speed_kmh, source)
VALUES (%(imei)s, %(gps_time)s, %(lat)s, %(lng)s,
        ST_SetSRID(ST_MakePoint(%(lng)s, %(lat)s), 4326), %(speed)s, %(source)s)
ON CONFLICT (imei, gps_time) DO UPDATE
SET speed_kmh = EXCLUDED.speed_kmh, source = EXCLUDED.source, ingested_at = now()
"""


def _timescale_missing_reason() -> str | None:
    """Why the server behind ADMIN_DSN cannot run hypertables, or None when it can."""
    try:
        conn = psycopg2.connect(ADMIN_DSN, connect_timeout=5)
    except psycopg2.OperationalError as exc:
        return f"cannot connect to {ADMIN_DSN!r}: {exc}"
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'")
            if cur.fetchone() is None:
                return "the timescaledb extension is not installed on this server"
            cur.execute("SELECT current_setting('shared_preload_libraries')")
            if "timescaledb" not in cur.fetchone()[0]:
                return "timescaledb is not in shared_preload_libraries on this server"
    finally:
        conn.close()
    return None


@pytest.fixture(scope="module", autouse=True)
def timescale_server() -> None:
    reason = _timescale_missing_reason()
    if reason is None:
        return
    if os.environ.get("FLEET_REQUIRE_TIMESCALE") == "1":
        pytest.fail(f"FLEET_REQUIRE_TIMESCALE=1 but {reason} (server: {ADMIN_DSN})")
    pytest.skip(f"not a TimescaleDB server: {reason}")


def _fixes(imei: str, start: datetime, count: int, step: timedelta) -> list[dict]:
    """``count`` fixes ``step`` apart along a short line near the Nairobi depot."""
    return [
        {
            "imei": imei,
            "gps_time": start + i * step,
            "lat": -1.237 + i * 1e-4,
            "lng": 36.727 + i * 1e-4,
            "speed": float(i % 60),
            "source": "poll",
        }
        for i in range(count)
    ]


@pytest.mark.parametrize("database", DATABASES)
def test_every_migration_applies_on_a_fresh_database(empty_database, database):
    files = discover(database)
    assert files, f"no migrations found for {database}"

    outcomes = migrate_dsn(empty_database, database)

    assert [o.migration.filename for o in outcomes] == [m.filename for m in files]
    assert {o.status for o in outcomes} == {"applied"}
    conn = psycopg2.connect(empty_database)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT version, checksum FROM public.schema_migrations ORDER BY version")
            assert cur.fetchall() == [(m.version, m.checksum) for m in files]
        if database == LIVE_DB:
            assert scalar(conn, "SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'") is not None
            assert scalar(conn, "SELECT extversion FROM pg_extension WHERE extname = 'postgis'") is not None
    finally:
        conn.close()
    # A second run finds nothing to do.
    assert migrate_dsn(empty_database, database) == []


def test_time_series_tables_are_hypertables(live_conn):
    with live_conn.cursor() as cur:
        cur.execute(
            "SELECT hypertable_name FROM timescaledb_information.hypertables WHERE hypertable_schema = 'tracksolid'"
        )
        assert {row[0] for row in cur.fetchall()} == set(HYPERTABLES)
        cur.execute(
            """
            SELECT hypertable_name, column_name, time_interval
            FROM timescaledb_information.dimensions
            WHERE hypertable_schema = 'tracksolid' AND dimension_type = 'Time'
            """
        )
        dims = {name: (column, interval) for name, column, interval in cur.fetchall()}
    assert dims == HYPERTABLES


def test_upsert_into_position_history_creates_chunks_and_never_duplicates(live_conn):
    start = datetime(2025, 3, 1, 22, 0, tzinfo=UTC)
    fixes = _fixes("860000000000001", start, 12, timedelta(minutes=30))  # 22:00 day 1 .. 03:30 day 2
    with live_conn.cursor() as cur:
        cur.executemany(UPSERT_FIX, fixes)
        # Replay of the same fixes with a new speed and source: updates, no new row.
        cur.executemany(UPSERT_FIX, [{**f, "speed": f["speed"] + 100, "source": "push"} for f in fixes])

    assert scalar(live_conn, "SELECT count(*) FROM tracksolid.position_history") == len(fixes)
    with live_conn.cursor() as cur:
        cur.execute("SELECT gps_time, speed_kmh, source FROM tracksolid.position_history ORDER BY gps_time")
        rows = cur.fetchall()
    assert [(r[0], float(r[1]), r[2]) for r in rows] == [(f["gps_time"], f["speed"] + 100, "push") for f in fixes]
    # 1-day chunks: the fixes span two UTC days, so two chunks exist.
    days = {f["gps_time"].date() for f in fixes}
    assert scalar(live_conn, "SELECT count(*) FROM show_chunks('tracksolid.position_history')") == len(days)
    # PostGIS works on the hypertable: every fix is within 200 m of the depot.
    near = scalar(
        live_conn,
        """SELECT count(*) FROM tracksolid.position_history
           WHERE ST_DWithin(geom::geography, ST_SetSRID(ST_MakePoint(36.727, -1.237), 4326)::geography, 200)""",
    )
    assert near == len(fixes)


def test_ingestion_role_writes_new_chunks(live_db):
    """tracksolid_owner (no DDL rights) inserts into a day with no chunk yet: TimescaleDB creates it."""
    conn = psycopg2.connect(live_db)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute("SET ROLE tracksolid_owner")
            fixes = _fixes("860000000000002", datetime(2025, 4, 2, 8, 0, tzinfo=UTC), 3, timedelta(hours=30))
            cur.executemany(UPSERT_FIX, fixes)
            cur.executemany(UPSERT_FIX, fixes)
            cur.execute("SET ROLE grafana_ro")
            cur.execute("SELECT count(*) FROM tracksolid.position_history")
            assert cur.fetchone()[0] == len(fixes)
            cur.execute("RESET ROLE")
        assert scalar(conn, "SELECT count(*) FROM show_chunks('tracksolid.position_history')") == 3
    finally:
        conn.close()


def test_time_bucket_on_position_history(live_conn):
    start = datetime(2025, 3, 3, 5, 50, tzinfo=UTC)
    fixes = _fixes("860000000000003", start, 25, timedelta(minutes=7))  # 05:50 .. 08:38
    fixes += _fixes("860000000000004", start + timedelta(minutes=3), 10, timedelta(minutes=11))
    with live_conn.cursor() as cur:
        cur.executemany(UPSERT_FIX, fixes)
        cur.execute(
            """
            SELECT time_bucket('1 hour', gps_time) AS hour, imei, count(*), max(speed_kmh)
            FROM tracksolid.position_history
            GROUP BY 1, 2 ORDER BY 1, 2
            """
        )
        got = [(hour, imei, n, float(top)) for hour, imei, n, top in cur.fetchall()]

    expected: dict[tuple[datetime, str], list[float]] = {}
    for f in fixes:
        hour = f["gps_time"].replace(minute=0, second=0, microsecond=0)
        expected.setdefault((hour, f["imei"]), []).append(f["speed"])
    assert got == [(hour, imei, len(v), max(v)) for (hour, imei), v in sorted(expected.items())]


def test_compression_follows_the_licence(live_conn):
    """Apache edition (the lane): no compression, no policies. Timescale licence: what 0003 configures."""
    licence = scalar(live_conn, "SELECT current_setting('timescaledb.license', true)")
    with live_conn.cursor() as cur:
        cur.execute(
            "SELECT hypertable_name, compression_enabled FROM timescaledb_information.hypertables "
            "WHERE hypertable_schema = 'tracksolid'"
        )
        compressed = {name for name, enabled in cur.fetchall() if enabled}
        cur.execute(
            "SELECT proc_name, hypertable_name FROM timescaledb_information.jobs "
            "WHERE hypertable_schema = 'tracksolid' ORDER BY 1"
        )
        policies = cur.fetchall()
    if licence == "timescale":
        assert compressed == {"position_history"}
        assert policies == [("policy_compression", "position_history"), ("policy_retention", "heartbeats")]
    else:
        assert licence == "apache", f"unexpected timescaledb.license {licence!r}"
        assert compressed == set()
        assert policies == []
