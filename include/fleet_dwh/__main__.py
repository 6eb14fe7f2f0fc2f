"""Command line for the warehouse steps (the demo, operators, a shell without a scheduler).

    python -m fleet_dwh bronze  [--tables devices trips ...] [--moto]
    python -m fleet_dwh refresh --first-day 2026-03-01 --last-day 2026-03-02   (or --stale)
    python -m fleet_dwh summary --first-day 2026-03-01 --last-day 2026-03-02
    python -m fleet_dwh demo    [--moto]      # bronze, refresh every loaded day (≤ 14), print the gold summary

Databases: ``--live-dsn`` / ``--dwh-dsn`` (default: the local admin DSN with dbname tracksolid_db /
tracksolid_dwh). Object store: the ``fleet_s3`` Airflow connection (``AIRFLOW_CONN_FLEET_S3``) and
``FLEET_S3_BUCKET``; ``--moto`` instead starts an in-process moto S3 server on loopback (dev/demo only).
"""

from __future__ import annotations

import argparse
import logging
import uuid
from datetime import date, timedelta

import psycopg2

from fleet_db.settings import ADMIN_DSN, DWH_DB, LIVE_DB, dsn_with_dbname

DEMO_DAYS_MAX = 14


def _print_table(rows: list[dict]) -> None:
    if not rows:
        print("(no gold rows)")
        return
    cols = list(rows[0])
    widths = {c: max(len(c), *(len(str(r[c])) for r in rows)) for c in cols}
    print("  ".join(c.rjust(widths[c]) for c in cols))
    for r in rows:
        print("  ".join(str(r[c]).rjust(widths[c]) for c in cols))


def _bronze(args) -> list[dict]:
    from fleet_dwh import bronze
    from fleet_dwh.objectstore import ObjectStore

    store = ObjectStore.from_connection(bucket=args.bucket)
    live, dwh = psycopg2.connect(args.live_dsn), psycopg2.connect(args.dwh_dsn)
    try:
        results = bronze.run_bronze(live, dwh, store, args.run_id or f"cli__{uuid.uuid4().hex[:12]}",
                                    args.tables, args.safety_lag_s)
    finally:
        live.close()
        dwh.close()
    for r in results:
        print(f"bronze {r['table']:24} {r['status']:15} rows={r.get('rows')}"
              + (f" error={r['error']}" if r.get("error") else ""))
    return results


def _loaded_days(dwh_conn) -> list[date]:
    with dwh_conn.cursor() as cur:
        cur.execute("SELECT DISTINCT (gps_time AT TIME ZONE 'Africa/Nairobi')::date FROM bronze.position_history"
                    " ORDER BY 1 DESC LIMIT %s", (DEMO_DAYS_MAX,))
        return sorted(r[0] for r in cur.fetchall())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fleet_dwh", description=__doc__.split("\n")[0])
    parser.add_argument("--live-dsn", default=dsn_with_dbname(ADMIN_DSN, LIVE_DB))
    parser.add_argument("--dwh-dsn", default=dsn_with_dbname(ADMIN_DSN, DWH_DB))
    parser.add_argument("--bucket", default=None, help="default: FLEET_S3_BUCKET or fleet-dwh")
    parser.add_argument("--moto", action="store_true", help="start an in-process moto S3 server (dev/demo)")
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("bronze", help="one bronze run: extract → object store → load")
    b.add_argument("--tables", nargs="*")
    b.add_argument("--run-id")
    b.add_argument("--safety-lag-s", type=float, default=0)
    r = sub.add_parser("refresh", help="rebuild silver + refresh gold for days")
    r.add_argument("--first-day")
    r.add_argument("--last-day")
    r.add_argument("--stale", action="store_true", help="also every day that received late data")
    s = sub.add_parser("summary", help="print gold fleet totals per day")
    s.add_argument("--first-day", required=True)
    s.add_argument("--last-day", required=True)
    d = sub.add_parser("demo", help="bronze, refresh every loaded day, print the gold summary")
    d.add_argument("--tables", nargs="*")
    d.add_argument("--run-id")
    d.add_argument("--safety-lag-s", type=float, default=0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    from fleet_dwh import silver_gold
    from fleet_dwh.objectstore import default_bucket, start_local_moto

    args.bucket = args.bucket or default_bucket()
    server = start_local_moto(args.bucket, key="demo") if args.moto else None
    try:
        if args.command == "bronze":
            return 1 if any(r["status"] == "failed" for r in _bronze(args)) else 0
        dwh = psycopg2.connect(args.dwh_dsn)
        dwh.autocommit = True  # each day is refreshed in its own transaction by refresh_day
        try:
            if args.command == "demo":
                failed = any(r["status"] == "failed" for r in _bronze(args))
                days = _loaded_days(dwh)
            elif args.command == "refresh":
                failed = False
                if args.first_day:
                    days = silver_gold.day_range(silver_gold.parse_day(args.first_day),
                                                 silver_gold.parse_day(args.last_day or args.first_day))
                else:
                    days = []
                if args.stale:
                    newest = days[-1] if days else date.today() - timedelta(days=1)
                    days = sorted(set(days) | set(silver_gold.stale_days(dwh, newest)))
            else:
                failed = False
                days = silver_gold.day_range(silver_gold.parse_day(args.first_day),
                                             silver_gold.parse_day(args.last_day))
            if args.command in ("demo", "refresh"):
                for day in days:
                    res = silver_gold.refresh_day(dwh, day)
                    print(f"refreshed {res['day']}: {res['silver']['devices']} devices, "
                          f"{res['silver']['segments']} segments, {res['silver']['trips']} trips, "
                          f"{res['gold_rows']} gold rows")
            if days:
                print("\nGold fleet summary (gold.fact_daily_fleet_metrics):")
                _print_table(silver_gold.gold_summary(dwh, days[0], days[-1]))
            return 1 if failed else 0
        finally:
            dwh.close()
    finally:
        if server is not None:
            server.stop()


if __name__ == "__main__":
    raise SystemExit(main())
