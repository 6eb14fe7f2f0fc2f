"""Benchmark: the warehouse — bronze through the object store, and silver + gold for one day.

**dwh_bronze** — an incremental load of N new ``position_history`` rows (after a first, untimed run of N/10),
end to end: COPY TO gzip → upload to a moto S3 server on loopback → COPY straight from the downloading object
into bronze (one transaction, watermark advanced in it) → move to processed. Baseline, in the same run: a raw
``COPY`` of the very same ``.csv.gz`` into an empty table without indexes. Both timed parts start right after a
``CHECKPOINT``. Goal: pipeline rate ≥ 50 % of the raw-COPY rate.

**dwh_silver_gold** — one local day × V vehicles at one fix / 10 s (V = 1,000 → 8.64 M fixes), put straight into
``bronze.position_history`` in arrival (time) order, as the bronze load leaves it; ``silver_gold.refresh_day``
(silver via ``fleet_dwh.segments``, then ``gold.refresh_daily_metrics``) in one transaction, against a plain
``SELECT count(*)`` scan of the same rows (warm cache) in the same run. Goal: ≤ 10× the scan. The phases of
the refresh (read / compute / write / gold) are recorded beside the total.

    .venv/bin/python -m bench.bench_dwh            # 1,000,000 bronze rows; 1,000 vehicles (≈ 10 min on 2 cores)
    .venv/bin/python -m bench.bench_dwh --quick    # 100,000 rows; 50 vehicles
    .venv/bin/python -m bench.bench_dwh --only silver_gold
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
import uuid
from datetime import date

# Airflow (imported by S3Hook) reads its settings at import: a throw-away home, no examples.
os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="bench-dwh-airflow-"))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("AIRFLOW__CORE__UNIT_TEST_MODE", "False")

import psycopg2  # noqa: E402

from bench.results import record  # noqa: E402
from fleet_db.admin import drop_database, ensure_database  # noqa: E402
from fleet_db.migrations import migrate_dsn  # noqa: E402
from fleet_db.settings import ADMIN_DSN, DWH_DB, LIVE_DB, dsn_with_dbname  # noqa: E402

DAY = date(2026, 3, 2)

# N synthetic fixes for 160 devices, one every 10 s each; arrival order = insertion order.
LIVE_FIXES_SQL = """
INSERT INTO tracksolid.position_history (imei, gps_time, lat, lng, geom, speed_kmh, direction, acc_status,
                                         pos_type, satellite, gps_mode, source, raw)
SELECT imei, t, lat, lng, ST_SetSRID(ST_MakePoint(lng, lat), 4326), speed, (i * 7) %% 360, true, 'GPS', 9, 0,
       'track_list', jsonb_build_object('imei', imei, 'gpsSpeed', speed::text, 'lat', lat, 'lng', lng)
FROM (SELECT i, (860000000000000 + i %% 160)::text AS imei,
             timestamptz '2026-01-01 00:00:00+00' + make_interval(secs => 10 * (i / 160)) AS t,
             -1.3 + (i %% 997) * 1e-4 AS lat, 36.7 + (i %% 991) * 1e-4 AS lng, ((i * 7) %% 90)::numeric AS speed
      FROM generate_series(%(first)s::bigint, %(last)s::bigint) i) g
"""

# One local day (EAT) of V vehicles, a fix every 10 s: parked at night, two driving shifts with idling.
BRONZE_DAY_SQL = """
INSERT INTO bronze.position_history (imei, gps_time, lat, lng, speed_kmh, acc_status, gps_mode, odometer_km,
                                     source, ingested_at, _run_id, _loaded_at)
SELECT imei, t, lat, lng, speed, acc, 0, NULL, 'push', now(), 'bench', now()
FROM (
    SELECT (870000000000000 + v)::text AS imei,
           timestamptz '2026-03-01 21:00:00+00' + make_interval(secs => 10 * k) AS t,
           -1.30 + 0.05 * sin((k + v * 37) / 900.0) AS lat,
           36.80 + 0.05 * cos((k + v * 37) / 900.0) AS lng,
           CASE WHEN h BETWEEN 7 AND 11 OR h BETWEEN 14 AND 17
                THEN CASE WHEN (k + v) %% 360 < 40 THEN 0 ELSE 20 + (k * 13 + v) %% 60 END
                ELSE 0 END::numeric AS speed,
           (h BETWEEN 7 AND 11 OR h BETWEEN 14 AND 17) AS acc
    FROM generate_series(0, 8639) k,
         generate_series(0, %(vehicles)s - 1) v,
         LATERAL (SELECT (k * 10) / 3600 AS h) hh
    ORDER BY k, v   -- arrival order: every vehicle's fix of each 10 s tick, tick after tick
) g
"""


def _scratch(kind: str) -> tuple[str, str]:
    name = f"bench_dwh_{kind}_{uuid.uuid4().hex[:6]}"
    drop_database(name)
    ensure_database(name)
    dsn = dsn_with_dbname(ADMIN_DSN, name)
    migrate_dsn(dsn, kind)
    return name, dsn


def bench_bronze(rows: int) -> dict:
    from fleet_dwh import bronze
    from fleet_dwh.objectstore import ObjectStore, start_local_moto

    bucket = "fleet-dwh-bench"
    server = start_local_moto(bucket, key="bench")
    live_name, live_dsn = _scratch(LIVE_DB)
    dwh_name, dwh_dsn = _scratch(DWH_DB)
    live, dwh = psycopg2.connect(live_dsn), psycopg2.connect(dwh_dsn)
    live.autocommit = dwh.autocommit = True
    try:
        store = ObjectStore.from_connection(bucket=bucket)
        first = rows // 10
        with live.cursor() as cur:
            cur.execute(LIVE_FIXES_SQL, {"first": 0, "last": first - 1})
        bronze.run_bronze(live, dwh, store, "bench-initial", ["position_history"])
        with live.cursor() as cur:
            cur.execute(LIVE_FIXES_SQL, {"first": first, "last": first + rows - 1})
            cur.execute("ANALYZE tracksolid.position_history")

        # Both timed parts start right after a checkpoint. Otherwise the checkpoint that the previous part's WAL
        # triggers runs during the next one and slows it by chance (the raw COPY measured 2.8 s to 7 s that way).
        with dwh.cursor() as cur:
            cur.execute("CHECKPOINT")
        t0 = time.perf_counter()
        hwm = bronze.take_high_water_mark(live)
        manifest = bronze.extract_table(live, dwh, store, "position_history", "bench-incremental", hwm)
        t1 = time.perf_counter()
        outcome = bronze.load_table(dwh, store, manifest)
        t2 = time.perf_counter()
        assert outcome["status"] == "loaded" and outcome["rows"] == rows, outcome

        # Baseline: the same object, raw COPY into an empty, index-free table.
        columns = bronze.bronze_columns(dwh, bronze.get_table("position_history"))
        with dwh.cursor() as cur, tempfile.TemporaryDirectory() as tmp:
            cur.execute(f"CREATE TABLE public.raw_copy AS SELECT {', '.join(columns)} "
                        "FROM bronze.position_history WITH NO DATA")
            path = store.download(outcome["processed_key"], tmp)
            import gzip

            cur.execute("CHECKPOINT")
            b0 = time.perf_counter()
            with gzip.open(path, "rb") as src:
                cur.copy_expert(f"COPY public.raw_copy ({', '.join(columns)}) FROM STDIN WITH (FORMAT csv, HEADER)",
                                src)
            b1 = time.perf_counter()
            size_mb = os.path.getsize(path) / 1e6
        pipeline_s, raw_s = t2 - t0, b1 - b0
        return {
            "rows": rows, "object_mb": round(size_mb, 1),
            "extract_s": round(t1 - t0, 2), "load_and_move_s": round(t2 - t1, 2),
            "pipeline_s": round(pipeline_s, 2), "pipeline_rows_per_s": round(rows / pipeline_s),
            "raw_copy_s": round(raw_s, 2), "raw_copy_rows_per_s": round(rows / raw_s),
            "ratio_of_raw_copy": round(raw_s / pipeline_s, 3), "goal_ratio": 0.5,
            "goal_met": raw_s / pipeline_s >= 0.5,
        }
    finally:
        live.close()
        dwh.close()
        drop_database(live_name)
        drop_database(dwh_name)
        server.stop()


class _Discard:
    def write(self, data) -> int:
        return len(data)


def _silver_read_floor(dwh) -> float:
    """Seconds to run silver's fix export for DAY and receive every byte (discarded)."""
    from fleet_db.settings import read_sql

    with dwh.cursor() as cur:
        cur.execute(read_sql("dwh", "silver_day_context.sql"), {"day": DAY})
        day_start, day_end, context, *_ = cur.fetchone()
        export = cur.mogrify(read_sql("dwh", "silver_fixes_export.sql"),
                             {"from": day_start - context, "to": day_end + context, "imei_hashes": None}).decode()
        t0 = time.perf_counter()
        cur.copy_expert(export, _Discard(), size=1 << 20)
        return time.perf_counter() - t0


def bench_silver_gold(vehicles: int) -> dict:
    from fleet_dwh import silver_gold

    dwh_name, dwh_dsn = _scratch(DWH_DB)
    dwh = psycopg2.connect(dwh_dsn)
    dwh.autocommit = True
    try:
        g0 = time.perf_counter()
        with dwh.cursor() as cur:
            cur.execute(BRONZE_DAY_SQL, {"vehicles": vehicles})
            fixes = cur.rowcount
            cur.execute("ANALYZE bronze.position_history")
        generate_s = time.perf_counter() - g0
        count_sql = ("SELECT count(*) FROM bronze.position_history WHERE gps_time >= %s::date::timestamp "
                     "AT TIME ZONE 'Africa/Nairobi' AND gps_time < (%s::date + 1)::timestamp AT TIME ZONE "
                     "'Africa/Nairobi'")
        with dwh.cursor() as cur:
            cur.execute("CHECKPOINT")  # the generator's WAL must not trigger a checkpoint inside the timed part
            cur.execute(count_sql, (DAY, DAY))  # warm the cache
            s0 = time.perf_counter()
            cur.execute(count_sql, (DAY, DAY))
            scanned = cur.fetchone()[0]
            scan_s = time.perf_counter() - s0
        r0 = time.perf_counter()
        result = silver_gold.refresh_day(dwh, DAY)
        refresh_s = time.perf_counter() - r0
        with dwh.cursor() as cur:
            cur.execute("SELECT count(*) FROM (SELECT imei FROM silver.segments WHERE local_day = %s GROUP BY imei"
                        " HAVING sum(duration_s) <> 86400) x", (DAY,))
            bad_days = cur.fetchone()[0]
        assert scanned == fixes and bad_days == 0 and result["gold_rows"] == vehicles
        read_floor_s = _silver_read_floor(dwh)
        return {
            "vehicles": vehicles, "fixes": fixes, "generate_s": round(generate_s, 1),
            "scan_s": round(scan_s, 3), "silver_gold_s": round(refresh_s, 2),
            "ratio_to_scan": round(refresh_s / scan_s, 1), "goal_ratio_max": 10,
            "goal_met": refresh_s / scan_s <= 10,
            "segments": result["silver"]["segments"], "trips": result["silver"]["trips"],
            "silver_phases_s": result["silver"]["timings"],
            # What reading the day's fixes out of PostgreSQL costs before any parsing or computing: the export
            # query silver runs, received and thrown away. Silver cannot be faster than this.
            "read_floor_s": round(read_floor_s, 2), "read_floor_ratio_to_scan": round(read_floor_s / scan_s, 1),
        }
    finally:
        dwh.close()
        drop_database(dwh_name)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_dwh", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes for CI")
    parser.add_argument("--rows", type=int, help="bronze rows (default 1,000,000; quick 100,000)")
    parser.add_argument("--vehicles", type=int, help="vehicles for silver/gold (default 1,000; quick 50)")
    parser.add_argument("--only", choices=["bronze", "silver_gold"])
    args = parser.parse_args(argv)
    rows = args.rows or (100_000 if args.quick else 1_000_000)
    vehicles = args.vehicles or (50 if args.quick else 1_000)
    if args.only in (None, "bronze"):
        res = record("dwh_bronze", {**bench_bronze(rows), "quick": args.quick})
        print("dwh_bronze:", json.dumps(res, indent=2))
    if args.only in (None, "silver_gold"):
        res = record("dwh_silver_gold", {**bench_silver_gold(vehicles), "quick": args.quick})
        print("dwh_silver_gold:", json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
