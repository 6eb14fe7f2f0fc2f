"""Benchmark: every dashboard panel's query against a one-day scan of ``position_history``, in the same run.

A generated fleet (bench/dashboard_data.py): ``--devices`` vehicles (default 10,000) in ``devices`` /
``live_positions`` with today's history, and ``--days`` (14) finished days of history for ``--history-devices``
(2,000) of them — ≈ 20 M fixes at one per 30 s while moving — plus the API tables, a day of pipeline logs, and
the warehouse (gold vehicle-days for 91 days, silver segments for the history days).

Each panel's SQL is interpolated as Grafana would (fleet_grafana.macros: city = All, vehicle = a vehicle with
history, day = yesterday, the dashboard's default time range) and run as ``grafana_ro`` in a read-only
transaction: one warm-up, then the median of ``--repeats`` (5; a panel slower than 4 scans is timed once, its
goal being missed by far, so a full-size run stays within the machine's time). Baseline, in the same run and
the same way: a scan of one day of ``position_history`` — today's, the only day every vehicle has (``count(*)``,
``avg(speed_kmh)`` over that day's fixes); the scan of a finished day of the history vehicles is recorded beside.
Goals: each NOC live panel ≤ 5 % of the scan and no sequential scan of position_history in its plan; each
Daily operations panel ≤ 25 %; Fleet trends reads only gold (and silver.day_builds, the build log).

    .venv/bin/python -m bench.bench_dashboards            # full size (a few minutes of data generation)
    .venv/bin/python -m bench.bench_dashboards --quick    # 1,000 vehicles, 200 with 3 days of history
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg2

from bench import dashboard_data
from bench.results import record
from fleet_db.admin import drop_database, ensure_database
from fleet_db.migrations import migrate_dsn
from fleet_db.settings import ADMIN_DSN, DWH_DB, LIVE_DB, dsn_with_dbname
from fleet_grafana.checks import all_panels
from fleet_grafana.macros import Variable, interpolate

DASHBOARDS = Path(__file__).resolve().parents[1] / "grafana" / "dashboards"
GOALS = {"NOC live": 0.05, "Daily operations": 0.25}
#: A panel slower than this many scans is timed once (after its warm-up) instead of ``repeats`` times.
GIVE_UP_RATIO = 4.0
SCAN_SQL = """
SELECT count(*), avg(speed_kmh) FROM tracksolid.position_history
WHERE gps_time >= %(start)s AND gps_time < %(end)s"""
RELATIVE = re.compile(r"now(?:-(\d+)([mhdw]))?")


def _relative(text: str, now: datetime) -> datetime:
    match = RELATIVE.fullmatch(text)
    if not match[1]:
        return now
    unit = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}[match[2]]
    return now - timedelta(**{unit: int(match[1])})


def _timed(conn, sql: str, params=None, repeats: int = 5, give_up_ms: float | None = None) -> tuple[float, int, int]:
    """Median milliseconds of ``repeats`` runs (after one warm-up) as grafana_ro, the row count and the number of
    timed runs. A query whose warm-up already takes ``give_up_ms`` is timed once more only (its goal is missed by
    far anyway), so a full-size run stays within the machine's time."""
    times, rows = [], 0
    with conn.cursor() as cur:
        for i in range(repeats + 1):
            cur.execute("BEGIN READ ONLY")
            cur.execute("SET LOCAL ROLE grafana_ro")
            t0 = time.perf_counter()
            cur.execute(sql, params)
            rows = len(cur.fetchall())
            elapsed = (time.perf_counter() - t0) * 1000
            cur.execute("ROLLBACK")
            if i:
                times.append(elapsed)
                if give_up_ms is not None and elapsed >= give_up_ms:
                    break
    return statistics.median(times), rows, len(times)


def _history_scans(conn, sql: str) -> list[str]:
    """Plan nodes that read position_history (EXPLAIN, as grafana_ro)."""
    with conn.cursor() as cur:
        cur.execute("BEGIN READ ONLY")
        cur.execute("SET LOCAL ROLE grafana_ro")
        cur.execute("EXPLAIN (FORMAT JSON) " + sql)
        plan = cur.fetchone()[0]
        cur.execute("ROLLBACK")
    found = []

    def walk(node):
        if node.get("Relation Name") == "position_history":
            found.append(node["Node Type"])
        for child in node.get("Plans", []):
            walk(child)

    walk(plan[0]["Plan"])
    return found


def _variables(board: dict, conns: dict, start, end, vehicle: str, day: str) -> dict[str, Variable]:
    chosen: dict[str, Variable] = {}
    for var in board["templating"]["list"]:
        database = LIVE_DB if var["datasource"]["uid"] == "tracksolid-live" else DWH_DB
        with conns[database].cursor() as cur:
            cur.execute(interpolate(var["query"], start, end, chosen))
            columns = [d.name for d in cur.description]
            idx = columns.index("__value") if "__value" in columns else 0
            options = [str(r[idx]) for r in cur.fetchall()]
        conns[database].rollback()
        if var["name"] == "city":
            chosen["city"] = Variable("city", tuple(options), multi=True, include_all=True, is_all=True)
        elif var["name"] == "vehicle":
            assert vehicle in options, "the benchmark vehicle must be selectable"
            chosen["vehicle"] = Variable("vehicle", (vehicle,))
        elif var["name"] == "day":
            chosen["day"] = Variable("day", (day,))
        else:
            chosen[var["name"]] = Variable(var["name"], (options[0],))
    return chosen


def measure(live_dsn: str, dwh_dsn: str, *, vehicle: str, day, repeats: int) -> dict:
    conns = {LIVE_DB: psycopg2.connect(live_dsn), DWH_DB: psycopg2.connect(dwh_dsn)}
    try:
        # The baseline: today's fixes of the whole fleet (every vehicle has today's history); a finished day of
        # the history vehicles is recorded beside it.
        scans = {}
        for name, first in (("today", dashboard_data.day_start(day + timedelta(days=1))),
                            ("history_day", dashboard_data.day_start(day))):
            scan_range = {"start": first, "end": first + timedelta(days=1)}
            scans[f"{name}_ms"], _, _ = _timed(conns[LIVE_DB], SCAN_SQL, scan_range, repeats)
            with conns[LIVE_DB].cursor() as cur:
                cur.execute(SCAN_SQL, scan_range)
                scans[f"{name}_rows"] = cur.fetchone()[0]
            conns[LIVE_DB].rollback()
        scan_ms, scan_rows = scans["today_ms"], scans["today_rows"]
        now = datetime.now(UTC)
        panels = []
        for path in sorted(DASHBOARDS.glob("*.json")):
            board = json.loads(path.read_text(encoding="utf-8"))
            start, end = _relative(board["time"]["from"], now), _relative(board["time"]["to"], now)
            variables = _variables(board, conns, start, end, vehicle, day.isoformat())
            for panel in all_panels(board["panels"]):
                for target in panel.get("targets", []):
                    database = LIVE_DB if target["datasource"]["uid"] == "tracksolid-live" else DWH_DB
                    sql = interpolate(target["rawSql"], start, end, variables)
                    median_ms, rows, runs = _timed(conns[database], sql, None, repeats, GIVE_UP_RATIO * scan_ms)
                    entry = {"dashboard": board["title"], "title": panel["title"], "ref": target["refId"],
                             "median_ms": round(median_ms, 2), "ratio_to_scan": round(median_ms / scan_ms, 4),
                             "rows": rows, "timed_runs": runs}
                    if database == LIVE_DB:
                        entry["history_plan_nodes"] = sorted(set(_history_scans(conns[database], sql)))
                    goal = GOALS.get(board["title"])
                    if goal is not None:
                        entry["goal_ratio"] = goal
                        entry["met"] = entry["ratio_to_scan"] <= goal and (
                            board["title"] != "NOC live" or "Seq Scan" not in entry.get("history_plan_nodes", []))
                    if board["title"] == "Fleet trends":
                        entry["gold_only"] = not re.search(r"\b(bronze|tracksolid)\.|silver\.(?!day_builds)", sql)
                        entry["met"] = entry["gold_only"]
                    panels.append(entry)
        return {"scan_ms": round(scan_ms, 2), "scan_rows": scan_rows, "scan_day": "today (whole fleet)",
                "history_day_scan_ms": round(scans["history_day_ms"], 2),
                "history_day_scan_rows": scans["history_day_rows"], "panels": panels}
    finally:
        for conn in conns.values():
            conn.close()


def bench_dashboards(devices: int, history_devices: int, days: int, repeats: int = 5, keep: bool = False) -> dict:
    tag = uuid.uuid4().hex[:6]
    names = {LIVE_DB: f"bench_dash_live_{tag}", DWH_DB: f"bench_dash_dwh_{tag}"}
    dsns = {}
    try:
        for kind, name in names.items():
            ensure_database(name)
            dsns[kind] = dsn_with_dbname(ADMIN_DSN, name)
            migrate_dsn(dsns[kind], kind)
        now = datetime.now(UTC).replace(microsecond=0)
        t0 = time.perf_counter()
        live = psycopg2.connect(dsns[LIVE_DB])
        live.autocommit = True
        try:
            filled = dashboard_data.fill_live(live, devices=devices, history_devices=history_devices, days=days,
                                              now=now)
        finally:
            live.close()
        dwh = psycopg2.connect(dsns[DWH_DB])
        dwh.autocommit = True
        try:
            dashboard_data.fill_dwh(dwh, devices=devices, history_devices=history_devices, days=days,
                                    today=filled["today"])
        finally:
            dwh.close()
        generate_s = time.perf_counter() - t0
        result = measure(dsns[LIVE_DB], dsns[DWH_DB], vehicle=str(dashboard_data.IMEI0), day=filled["yesterday"],
                         repeats=repeats)
        missed = [f"{p['dashboard']} / {p['title']}" for p in result["panels"] if p.get("met") is False]
        return {"devices": devices, "history_devices": history_devices, "history_days": days,
                "fixes": filled["fixes"], "generate_s": round(generate_s, 1), "repeats": repeats, **result,
                "goals_missed": missed}
    finally:
        if not keep:
            for name in names.values():
                drop_database(name)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_dashboards", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes")
    parser.add_argument("--devices", type=int, help="vehicles (default 10,000; quick 1,000)")
    parser.add_argument("--history-devices", type=int, help="vehicles with history (default 2,000; quick 200)")
    parser.add_argument("--days", type=int, help="finished days of history (default 14; quick 3)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--keep", action="store_true", help="keep the scratch databases (to explain plans)")
    args = parser.parse_args(argv)
    res = bench_dashboards(args.devices or (1_000 if args.quick else 10_000),
                           args.history_devices or (200 if args.quick else 2_000),
                           args.days or (3 if args.quick else 14), args.repeats, args.keep)
    res = record("dashboards", {**res, "quick": args.quick})
    for p in res["panels"]:
        print(f"{p['dashboard'][:18]:18} {p['title'][:40]:40} {p['median_ms']:9.2f} ms {p['ratio_to_scan']:7.3f}"
              f" {'' if p.get('met') is None else ('ok' if p['met'] else 'MISSED')}")
    print(f"scan of one day: {res['scan_ms']} ms over {res['scan_rows']} fixes; {res['fixes']} fixes in all; "
          f"missed: {res['goals_missed']}")


if __name__ == "__main__":
    main()
