"""Silver as built by fleet_dwh.segments equals the original SQL implementation, row for row, on messy data.

The SQL version (migration 0006, recreated from that file as a session-local function) and the numpy version
were written separately; on the simulator's fleet plus a seeded fleet of deliberately messy devices (spikes,
(0,0), out-of-range coordinates, signal losses, unknown ACC, odometer resets, per-vehicle overrides) over three
local days, every silver table must come out identical.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from fleet_dwh import silver_gold
from tests.fixtures.dwh import load_alarms_into_bronze, load_devices_into_bronze, load_fixes_into_bronze
from tests.fixtures.messy_fixes import messy_fixes
from tracksolid_simulator import Fleet, SimulatorConfig

DAY = date(2026, 3, 2)
DAY_START = datetime(2026, 3, 1, 21, 0, tzinfo=UTC)
DAY_END = DAY_START + timedelta(days=1)
DAYS = [DAY - timedelta(days=1), DAY, DAY + timedelta(days=1)]
MIGRATION_0006 = (Path(__file__).parents[1] / "include" / "sql" / "migrations" / "tracksolid_dwh"
                  / "0006_silver_rebuild_day.sql")
MESSY_BASE = 861000000000000

# Float sums may differ in the last bits with summation order; everything else must be identical.
SNAPSHOTS = {
    "silver.segments": "imei, started_at, ended_at, state, duration_s, fix_count, round(distance_km::numeric, 9),"
                       " max_speed_kmh, start_lat, start_lng, end_lat, end_lng",
    "silver.trips": "imei, start_time, end_time, duration_s, round(distance_km::numeric, 9), max_speed_kmh,"
                    " round(avg_speed_kmh::numeric, 9), fix_count, start_lat, start_lng, end_lat, end_lng",
    "silver.stops": "imei, started_at, ended_at, duration_s, lat, lng",
    "silver.idle_spells": "imei, started_at, ended_at, duration_s, lat, lng",
    "silver.geofence_visits": "imei, geofence_id, entered_at, exited_at, dwell_s, segment_count",
    "silver.overspeed_events": "imei, started_at, ended_at, fix_count, max_speed_kmh, limit_kmh",
    "silver.device_days": "imei, fixes_raw, fixes_kept, odometer_start_km, odometer_end_km, odometer_monotonic",
}


def reference_function_sql() -> str:
    """``silver.rebuild_day`` exactly as released in migration 0006 (dropped by 0010), made session-local.

    The only changes: it is created in ``pg_temp``, and its cleaned fixes go to a temporary table instead of the
    former ``silver.fixes`` table (now a view). It still writes every other silver table itself.
    """
    src = MIGRATION_0006.read_text(encoding="utf-8")
    body = src[src.index("CREATE OR REPLACE FUNCTION silver.rebuild_day(p_day date)"):
               src.index("-- Window functions sort a day of fixes several times")]
    edits = {
        "CREATE OR REPLACE FUNCTION silver.rebuild_day(p_day date)":
            "CREATE FUNCTION pg_temp.reference_rebuild_day(p_day date)",
        "    DELETE FROM silver.fixes WHERE local_day = p_day;\n":
            "    DELETE FROM reference_fixes WHERE local_day = p_day;\n",
        "INSERT INTO silver.fixes (imei, gps_time, local_day, lat, lng, speed_kmh, acc_status, gps_mode, odometer_km,\n"
        "                              point_state)\n"
        "    SELECT imei, gps_time, p_day, lat, lng, speed, acc_status, gps_mode, odometer_km, point_state":
            "INSERT INTO reference_fixes (imei, gps_time, local_day, point_state)\n"
            "    SELECT imei, gps_time, p_day, point_state",
    }
    for old, new in edits.items():
        assert body.count(old) == 1, f"migration 0006 no longer reads as expected: {old[:60]!r}"
        body = body.replace(old, new)
    assert "silver.fixes" not in body
    return ("CREATE TEMP TABLE reference_fixes (imei text, gps_time timestamptz, local_day date, point_state text,"
            " PRIMARY KEY (local_day, imei, gps_time));\n" + body)


@pytest.fixture
def dwh(dwh_conn):
    """The shared autocommit connection to a fresh warehouse (tests/fixtures/databases.py), by a short name."""
    return dwh_conn


def _load(dwh) -> None:
    fleet = Fleet(SimulatorConfig(devices=40, accounts=2, seed=5))
    load_devices_into_bronze(dwh, fleet.truth.devices())
    load_fixes_into_bronze(dwh, fleet.truth.fixes(DAY_START - timedelta(days=1, hours=6), DAY_END + timedelta(days=1)))
    load_alarms_into_bronze(dwh, fleet.truth.alarms(DAY_START, DAY_END))
    load_fixes_into_bronze(dwh, messy_fixes(7, 30, DAY_START - timedelta(days=1, hours=5),
                                            DAY_END + timedelta(days=1, hours=5), imei_base=MESSY_BASE))
    # A third of the messy devices are registered, the rest only ever sent fixes; a square geofence.
    load_devices_into_bronze(dwh, [{"imei": str(MESSY_BASE + d)} for d in range(0, 30, 3)])
    with dwh.cursor() as cur:
        for d, key, value in [(1, "moving_speed_kmh", 5), (2, "min_stop_s", 120), (4, "overspeed_kmh", 60),
                              (5, "offline_gap_s", 600), (6, "trip_gap_s", 900), (7, "max_jump_kmh", 120),
                              (8, "min_idle_s", 60)]:
            cur.execute("INSERT INTO dwh_control.vehicle_settings (imei, key, value) VALUES (%s, %s, %s)",
                        (str(MESSY_BASE + d), key, value))
        cur.execute("INSERT INTO bronze.geofences (id, name, kind, geom, _run_id, _loaded_at) VALUES "
                    "(1, 'central', 'zone', ST_Multi(ST_MakeEnvelope(36.6, -1.5, 37.0, -1.1, 4326)), 'test', now())")


def _snapshot(cur, day: date, fixes_sql: str) -> dict[str, list[tuple]]:
    snap = {}
    for table, columns in SNAPSHOTS.items():
        cur.execute(f"SELECT {columns} FROM {table} WHERE local_day = %s ORDER BY 1, 2, 3", (day,))
        snap[table] = cur.fetchall()
    cur.execute(fixes_sql, (day,))
    snap["fixes"] = cur.fetchall()
    return snap


def test_numpy_silver_equals_the_sql_reference(dwh, monkeypatch):
    _load(dwh)
    reference = {}
    with dwh.cursor() as cur:
        cur.execute(reference_function_sql())
        dwh.autocommit = False
        for day in DAYS:  # built and read back in one transaction, then rolled back: it leaves nothing
            cur.execute("SELECT pg_temp.reference_rebuild_day(%s)", (day,))
            reference[day] = _snapshot(cur, day, "SELECT imei, gps_time, point_state FROM reference_fixes "
                                                 "WHERE local_day = %s ORDER BY 1, 2")
            dwh.rollback()
        dwh.autocommit = True

    for day in DAYS:
        silver_gold.refresh_day(dwh, day)
        with dwh.cursor() as cur:
            built = _snapshot(cur, day, "SELECT imei, gps_time, point_state FROM silver.fixes "
                                        "WHERE local_day = %s ORDER BY 1, 2")
        for table, rows in reference[day].items():
            assert len(rows) > 0 or table in ("silver.geofence_visits",), (day, table, "empty: the data is too tame")
            assert built[table] == rows, f"{day} {table}: {len(built[table])} rows vs {len(rows)} in the reference"

    # A large fleet is read in several passes of a few devices each: the same rows come out.
    monkeypatch.setenv("FLEET_SILVER_DEVICES_PER_PASS", "7")
    result = silver_gold.refresh_day(dwh, DAY)
    assert result["silver"]["devices"] > 7 * 5
    with dwh.cursor() as cur:
        in_passes = _snapshot(cur, DAY, "SELECT imei, gps_time, point_state FROM silver.fixes "
                                        "WHERE local_day = %s ORDER BY 1, 2")
    assert in_passes == reference[DAY]

    # The messy data really exercised the rules it is meant to (else this test would prove little).
    with dwh.cursor() as cur:
        cur.execute("SELECT reason, count(*) FROM silver.rejected_fixes GROUP BY 1")
        reasons = dict(cur.fetchall())
        cur.execute("SELECT count(DISTINCT state), count(*) FILTER (WHERE state = 'offline' AND started_at "
                    "> (local_day::timestamp AT TIME ZONE 'Africa/Nairobi')) FROM silver.segments")
        states, mid_day_offline = cur.fetchone()
        cur.execute("SELECT count(*) FROM silver.device_days WHERE odometer_monotonic IS FALSE")
        odometer_resets = cur.fetchone()[0]
        cur.execute("SELECT count(*) FROM silver.geofence_visits")
        visits = cur.fetchone()[0]
    assert reasons.get("spike", 0) > 10 and reasons.get("coordinates", 0) > 10, reasons
    assert states == 4 and mid_day_offline > 0 and odometer_resets > 0 and visits > 0


def test_a_pass_reads_only_its_devices_fixes(dwh):
    from fleet_dwh import silver_build

    _load(dwh)
    with dwh.cursor() as cur:
        devices = silver_build.read_devices(cur, DAY_START, DAY_END)
        chosen = [devices[0].imei_hash, devices[5].imei_hash]
        everything = silver_build.read_fixes(cur, DAY_START, DAY_END)
        some = silver_build.read_fixes(cur, DAY_START, DAY_END, chosen)
        cur.execute("SELECT count(*) FROM bronze.position_history WHERE imei IN (%s, %s) AND gps_time >= %s "
                    "AND gps_time < %s", (devices[0].imei, devices[5].imei, DAY_START, DAY_END))
        expected = cur.fetchone()[0]
    assert set(some["imei_hash"].tolist()) == set(chosen) and len(some["t"]) == expected > 0
    assert len(everything["t"]) > len(some["t"])
    # Sorted by (device, time), as the per-device slicing needs.
    order = np.lexsort((everything["t"], everything["imei_hash"]))
    assert (order == np.arange(len(order))).all()
