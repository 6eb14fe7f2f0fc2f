"""Benchmark: load fixes into ``tracksolid.position_history`` idempotently.

Compares, in one run on one scratch database:

- **loader**   — ``fleet_db.loaders.copy_upsert`` (COPY → temp table → INSERT … ON CONFLICT DO NOTHING), into the
  real table with every index in place, 10 % of the rows already present (conflicts), streamed in
  transactions of ``--batch-rows`` rows;
- **insert_rows** — ``PostgresHook.insert_rows(..., replace=True)``, what an Airflow user would write (on a
  sample: it is slow), same table, same 10 % conflicts;
- **raw COPY** — the ceiling: plain COPY of the same rows into an UNLOGGED copy of the table without indexes.

Prints rows/s and the ratios and records them with ``bench.results.record("position_loader", …)``.
Peak memory: the process's peak RSS before/after the loader phase (rows are generated and streamed lazily).

    .venv/bin/python -m bench.bench_position_loader            # 1,000,000 fixes, 50,000-row insert_rows sample
    .venv/bin/python -m bench.bench_position_loader --quick    # 100,000 / 5,000
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import resource
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import psycopg

from bench.results import record
from fleet_db.admin import drop_database, ensure_database
from fleet_db.loaders import copy_upsert, to_json
from fleet_db.migrations import migrate_dsn
from fleet_db.settings import ADMIN_DSN, LIVE_DB, dsn_with_dbname

COLUMNS = ["imei", "gps_time", "lat", "lng", "speed_kmh", "direction", "acc_status", "pos_type", "satellite",
           "gps_mode", "source", "raw"]
KEYS = ["imei", "gps_time"]
T0 = datetime(2024, 1, 1, tzinfo=UTC)
DEVICES = 160
CONFLICT_EVERY = 10  # every 10th row is already stored: 10 % conflicts


def fix(i: int) -> tuple:
    """The i-th synthetic fix: 160 devices, one fix per device every 10 s, a realistic raw payload."""
    imei = str(860000000000000 + i % DEVICES)
    gps_time = T0 + timedelta(seconds=10 * (i // DEVICES))
    lat = -1.3 + (i % 997) * 1e-4
    lng = 36.7 + (i % 991) * 1e-4
    speed = (i * 7) % 90
    raw = {"imei": imei, "gpsTime": gps_time.strftime("%Y-%m-%d %H:%M:%S"), "lat": lat, "lng": lng,
           "gpsSpeed": str(speed), "direction": str(i % 360), "posType": "1", "satellite": "9",
           "ignition": "ON", "gpsMode": "0"}
    return (imei, gps_time, lat, lng, speed, i % 360, True, "GPS", 9, 0, "track_list", raw)


def fixes(n: int, every: int = 1) -> Iterator[tuple]:
    return (fix(i) for i in range(0, n, every))


def batched(rows: Iterator[tuple], size: int) -> Iterator[Iterator[tuple]]:
    """Lazily cut a row stream into consecutive batches (each batch is itself a lazy iterator)."""
    rows = iter(rows)
    while True:
        head = next(rows, None)
        if head is None:
            return
        yield itertools.chain([head], itertools.islice(rows, size - 1))


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def reset(conn) -> None:
    with conn.cursor() as cur:
        cur.execute("TRUNCATE tracksolid.position_history")
        cur.execute("CHECKPOINT")
    conn.commit()


def preload_conflicts(conn, n: int) -> None:
    copy_upsert(conn, "tracksolid.position_history", COLUMNS, fixes(n, CONFLICT_EVERY), KEYS)
    with conn.cursor() as cur:
        cur.execute("VACUUM ANALYZE tracksolid.position_history") if conn.autocommit else None
    conn.commit()


def bench_loader(conn, n: int, batch_rows: int) -> dict:
    reset(conn)
    preload_conflicts(conn, n)
    rss_before = peak_rss_mb()
    inserted = 0
    started = time.perf_counter()
    for batch in batched(fixes(n), batch_rows):
        inserted += copy_upsert(conn, "tracksolid.position_history", COLUMNS, batch, KEYS).inserted
    seconds = time.perf_counter() - started
    expected = n - len(range(0, n, CONFLICT_EVERY))
    if inserted != expected:
        raise SystemExit(f"loader inserted {inserted} rows, expected {expected}")
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM tracksolid.position_history")
        if cur.fetchone()[0] != n:
            raise SystemExit("loader left the wrong number of rows")
    # Idempotent: a second pass over the first batch adds nothing.
    again = copy_upsert(conn, "tracksolid.position_history", COLUMNS, fixes(min(n, batch_rows)), KEYS)
    if again.inserted:
        raise SystemExit("loader is not idempotent")
    return {"rows": n, "seconds": round(seconds, 3), "rows_per_s": round(n / seconds),
            "peak_rss_mb_before": round(rss_before, 1), "peak_rss_mb_after": round(peak_rss_mb(), 1)}


def bench_insert_rows(conn, conn_id: str, sample: int) -> dict:
    """PostgresHook.insert_rows with replace=True (upsert), geometry as EWKT text, the defaults otherwise."""
    from airflow.providers.postgres.hooks.postgres import PostgresHook

    reset(conn)
    preload_conflicts(conn, sample)
    hook = PostgresHook(postgres_conn_id=conn_id)
    fields = [*COLUMNS, "geom"]
    rows = ((*r[:-1], json.dumps(r[-1]), f"SRID=4326;POINT({r[3]} {r[2]})") for r in fixes(sample))
    started = time.perf_counter()
    hook.insert_rows("tracksolid.position_history", rows, target_fields=fields, replace=True,
                     replace_index=KEYS, commit_every=1000)
    seconds = time.perf_counter() - started
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM tracksolid.position_history")
        if cur.fetchone()[0] != sample:
            raise SystemExit("insert_rows left the wrong number of rows")
    return {"rows": sample, "seconds": round(seconds, 3), "rows_per_s": round(sample / seconds)}


def bench_raw_copy(conn, n: int) -> dict:
    """The ceiling: COPY of the same rows, encoded the same way (psycopg 3 ``write_row``, JSON as text), into an
    UNLOGGED, index-free copy of the table — no staging table, no conflict check, no geometry, no WAL."""
    with conn.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS public.position_history_raw")
        cur.execute("CREATE UNLOGGED TABLE public.position_history_raw "
                    "(LIKE tracksolid.position_history INCLUDING DEFAULTS)")
        conn.commit()
        started = time.perf_counter()
        with cur.copy(f"COPY public.position_history_raw ({', '.join(COLUMNS)}) FROM STDIN") as copy:
            for row in fixes(n):
                copy.write_row((*row[:-1], to_json(row[-1])))
        conn.commit()
        seconds = time.perf_counter() - started
        cur.execute("DROP TABLE public.position_history_raw")
    conn.commit()
    return {"rows": n, "seconds": round(seconds, 3), "rows_per_s": round(n / seconds)}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="100,000 fixes and a 5,000-row sample")
    parser.add_argument("--rows", type=int, help="fixes to load (default 1,000,000; --quick 100,000)")
    parser.add_argument("--sample", type=int, help="rows for the insert_rows baseline (default 50,000)")
    parser.add_argument("--batch-rows", type=int, default=100_000, help="rows per loader transaction")
    args = parser.parse_args(argv)
    n = args.rows or (100_000 if args.quick else 1_000_000)
    sample = args.sample or (5_000 if args.quick else 50_000)

    db_name = f"bench_position_loader_{os.getpid()}"
    dsn = dsn_with_dbname(ADMIN_DSN, db_name)
    ensure_database(db_name)
    try:
        migrate_dsn(dsn, LIVE_DB)
        # PostgresHook reads its connection from the environment; Airflow's home is a throw-away folder.
        from psycopg2.extensions import parse_dsn

        params = parse_dsn(dsn)
        os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="bench-airflow-"))
        os.environ["AIRFLOW_CONN_BENCH_POSITIONS_DB"] = json.dumps({
            "conn_type": "postgres", "host": params.get("host", "127.0.0.1"), "port": int(params.get("port", 5432)),
            "login": params.get("user", "postgres"), "password": params.get("password"), "schema": db_name})
        with psycopg.connect(dsn) as conn:
            loader = bench_loader(conn, n, args.batch_rows)
            print(f"loader       {loader['rows']:>9,} rows  {loader['rows_per_s']:>9,} rows/s")
            ceiling = bench_raw_copy(conn, n)
            print(f"raw COPY     {ceiling['rows']:>9,} rows  {ceiling['rows_per_s']:>9,} rows/s  (ceiling)")
            baseline = bench_insert_rows(conn, "bench_positions_db", sample)
            print(f"insert_rows  {baseline['rows']:>9,} rows  {baseline['rows_per_s']:>9,} rows/s  (baseline)")
    finally:
        drop_database(db_name)

    results = {
        "rows": n,
        "conflicting_rows_pct": 100 // CONFLICT_EVERY,
        "batch_rows": args.batch_rows,
        "loader_rows_per_s": loader["rows_per_s"],
        "insert_rows_rows_per_s": baseline["rows_per_s"],
        "insert_rows_sample_rows": sample,
        "raw_copy_rows_per_s": ceiling["rows_per_s"],
        "speedup_vs_insert_rows": round(loader["rows_per_s"] / baseline["rows_per_s"], 1),
        "fraction_of_raw_copy": round(loader["rows_per_s"] / ceiling["rows_per_s"], 3),
        "peak_rss_mb": loader["peak_rss_mb_after"],
        "rss_growth_during_load_mb": round(loader["peak_rss_mb_after"] - loader["peak_rss_mb_before"], 1),
        "goal": "speedup_vs_insert_rows >= 20 and fraction_of_raw_copy >= 0.40",
    }
    results["goal_met"] = results["speedup_vs_insert_rows"] >= 20 and results["fraction_of_raw_copy"] >= 0.40
    print(f"loader = {results['speedup_vs_insert_rows']}x insert_rows, "
          f"{results['fraction_of_raw_copy']:.0%} of raw COPY; peak RSS {results['peak_rss_mb']} MB "
          f"(+{results['rss_growth_during_load_mb']} MB while loading); goal met: {results['goal_met']}")
    record("position_loader", {**results, "quick": args.quick})
    return results


if __name__ == "__main__":
    main()
