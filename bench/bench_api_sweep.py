"""B3: a 10,000-device API sweep at the platform's rate, from 4 worker processes sharing one rate limit.

    .venv/bin/python -m bench.bench_api_sweep [--quick] [--devices N] [--accounts N] [--rate R] [--workers N]

The simulator holds ``--devices`` devices in ``--accounts`` accounts and refuses more than ``--rate``
requests/s per app key (code 1006, a token bucket of ``--burst``). The hook is configured with
``max_requests_per_s = R`` (the database limiter keeps every process together strictly under it). One sweep
is what the endpoint DAGs map over, run by ``--workers`` separate processes pulling mapped task instances from
one queue, as Celery workers would (each task opens its own hook and database connection, as
``fleet_ingest.tasks.fetch_and_load`` does):

- live positions: ``location.list`` per account target, then ``location.get`` per ≤ 50-IMEI batch of the
  devices the list omitted (the simulator drops 1 % of them, as production saw);
- alarms: ``alarm.list`` per target × ≤ 50-IMEI batch over the last hour;
- track list: ``track.list`` for every device over the last hour (one IMEI per call, 50 per task).

Baseline, from the same run: the minimum number of calls (location.list per target + Σ⌈omitted/50⌉
location.get + Σ max(1, ⌈alarms/100⌉) alarm.list pages per batch, from the simulator's ground truth + one
track.list per device) and the time they need at the limit, ``minimum_calls / R``. Reported: calls made,
the achieved rate as a share of R, 1006 answers (from the platform, and reaching a task), the most
requests the platform saw within any 1 s, peak RSS per worker and the limiter's own cost per reservation.
Results go to ``bench/results.json`` under ``api_sweep``.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import os
import resource
import statistics
import tempfile
import time
import uuid
from datetime import datetime, timedelta

from bench.results import record

BATCH = 50
ALARM_PAGE = 100
WINDOW = timedelta(hours=1)


def max_in_any_window(stamps: list[float], window: float = 1.0) -> int:
    """Most request arrivals within any closed window of ``window`` seconds."""
    stamps = sorted(stamps)
    best, j = 0, 0
    for i in range(len(stamps)):
        while stamps[i] - stamps[j] > window:
            j += 1
        best = max(best, i - j + 1)
    return best


# --- the worker processes ------------------------------------------------------------------------------

def _run_task(item: dict, limiter_stats: dict) -> dict:
    """One mapped task instance: its own hook and connection, the DAG's loader. Adds the hook's limiter
    counters (reservations, their round trips, time spent waiting for a slot) to ``limiter_stats``."""
    from fleet_ingest import endpoints
    from fleet_ingest.tasks import api_hook, db_connection
    from fleet_ingest.windows import Window

    hook, conn = api_hook(), db_connection()
    try:
        if item["kind"] == "poll":
            return endpoints.poll_target_positions(hook, conn, item["target"], item["expected"])
        loader, _table = endpoints.BATCH_LOADERS[item["kind"]]
        return loader(hook, conn, item["batch"], Window.from_xcom(item["window"]) if item.get("window") else None)
    finally:
        conn.close()
        limiter = hook.__dict__.get("_limiter")
        for key, value in getattr(limiter, "stats", {}).items():
            limiter_stats[key] = limiter_stats.get(key, 0) + value
        hook.close()


def _worker(tasks, results, start) -> None:
    """Pull task instances until the ``None`` sentinel; report counts, errors and this process's peak RSS."""
    from fleet_ingest.tasks import api_hook, db_connection
    from tracksolid_hook import TracksolidApiError, TracksolidRetryExhausted

    # A warm worker: modules imported, connection lookup and provider discovery done before the clock starts.
    hook = api_hook()
    assert hook.settings.max_requests_per_s > 0
    db_connection().close()
    start.wait(timeout=300)
    busy_began, cpu_began = time.perf_counter(), time.process_time()
    limiter_stats: dict = {}
    done = errors = rate_errors = 0
    missing: list[tuple[str, list[str]]] = []
    while (item := tasks.get()) is not None:
        try:
            out = _run_task(item, limiter_stats)
            done += 1
            if item["kind"] == "poll":
                missing.append((item["target"], out["missing"]))
        except (TracksolidApiError, TracksolidRetryExhausted) as exc:
            errors += 1
            rate_errors += int("1006" in str(exc))
        except Exception:  # counted, never silently lost
            errors += 1
    results.put({"pid": os.getpid(), "tasks": done, "errors": errors, "rate_errors": rate_errors,
                 "missing": missing, "busy_s": time.perf_counter() - busy_began,
                 "cpu_s": time.process_time() - cpu_began, "limiter": limiter_stats,
                 "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024})


def run_phase(items: list[dict], workers: int) -> tuple[float, list[dict]]:
    """Run ``items`` on ``workers`` fresh processes; returns (seconds from the common start, worker reports)."""
    ctx = multiprocessing.get_context("spawn")
    tasks, results, start = ctx.Queue(), ctx.Queue(), ctx.Barrier(workers + 1)
    for item in items:
        tasks.put(item)
    for _ in range(workers):
        tasks.put(None)
    procs = [ctx.Process(target=_worker, args=(tasks, results, start)) for _ in range(workers)]
    for p in procs:
        p.start()
    start.wait(timeout=300)
    began = time.perf_counter()
    reports = [results.get(timeout=3600) for _ in procs]
    elapsed = time.perf_counter() - began
    for p in procs:
        p.join(timeout=60)
    return elapsed, reports


# --- set-up and baseline ---------------------------------------------------------------------------------

def register_devices(dsn: str, fleet) -> None:
    """The devices table as the devices DAG leaves it (active, registered, with their account)."""
    import psycopg

    with psycopg.connect(dsn) as conn, conn.cursor() as cur:
        with cur.copy("COPY tracksolid.devices (imei, account, is_active, is_registered) FROM STDIN") as copy:
            for dev in fleet.devices:
                copy.write_row((dev.imei, dev.account, True, True))


def limiter_overhead_ms(dsn: str, reservations: int) -> dict:
    """What one reservation costs (its round trip), with no waiting: a tiny spacing on a bench bucket."""
    import psycopg2

    from tracksolid_hook.ratelimit import DatabaseRateLimiter

    limiter = DatabaseRateLimiter(lambda: psycopg2.connect(dsn), "bench-overhead", 1e-6)
    limiter.reserve()
    samples = []
    for _ in range(reservations):
        limiter.reserve()
        samples.append(limiter.last_overhead_s * 1000)
    limiter.close()
    samples.sort()
    return {"p50": round(statistics.median(samples), 3), "p99": round(samples[int(len(samples) * 0.99) - 1], 3)}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_api_sweep", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="400 devices in 4 accounts")
    parser.add_argument("--devices", type=int, help="devices (default 10,000; --quick 400)")
    parser.add_argument("--accounts", type=int, help="accounts (default 10; --quick 4)")
    parser.add_argument("--rate", type=float, default=50.0, help="the platform's limit R, requests/s (default 50)")
    parser.add_argument("--burst", type=int, default=5, help="the platform's token-bucket size (default 5)")
    parser.add_argument("--workers", type=int, default=4, help="worker processes (default 4)")
    parser.add_argument("--no-record", action="store_true", help="print only; leave bench/results.json alone")
    args = parser.parse_args(argv)
    devices = args.devices or (400 if args.quick else 10_000)
    accounts = args.accounts or (4 if args.quick else 10)

    from fleet_db.admin import drop_database, ensure_database
    from fleet_db.migrations import migrate_dsn
    from fleet_db.settings import ADMIN_DSN, LIVE_DB, dsn_with_dbname, postgres_conn_json
    from tracksolid_simulator import Fleet, SimulatorConfig, SimulatorServer
    from tracksolid_simulator.airflow_conn import connection_json

    database = f"bench_api_sweep_{uuid.uuid4().hex[:8]}"
    dsn = dsn_with_dbname(ADMIN_DSN, database)
    cfg = SimulatorConfig(devices=devices, accounts=accounts, seed=13, max_requests_per_s=args.rate,
                          burst=args.burst, location_missing_ratio=0.01, token_get_limit=100)
    fleet = Fleet(cfg, plan_cache_size=max(20_000, devices * 3))
    ensure_database(database)
    server = SimulatorServer(fleet, cfg)
    server.start(port=0)
    saved_env = dict(os.environ)
    try:
        migrate_dsn(dsn, LIVE_DB)
        register_devices(dsn, fleet)
        os.environ.update({
            "AIRFLOW_HOME": os.environ.get("AIRFLOW_HOME") or tempfile.mkdtemp(prefix="bench-airflow-"),
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
            "AIRFLOW_CONN_TRACKSOLID_DB": postgres_conn_json(dsn),
            "AIRFLOW_CONN_TRACKSOLID_API": connection_json(server, max_requests_per_s=args.rate, timeout_s=60.0),
        })
        # Plans of today's device-days built once (what a long-running platform has warm).
        for account in cfg.account_names():
            fleet.truth.latest_fix(fleet.imeis_of(account)[0], server.now())
        overhead = limiter_overhead_ms(dsn, 300 if args.quick else 1000)

        end = server.now().replace(microsecond=0) - timedelta(minutes=1)
        begin = end - WINDOW
        window = {"start": begin.isoformat(), "end": end.isoformat(), "fetch_start": begin.isoformat()}
        by_target = {a: fleet.imeis_of(a) for a in cfg.account_names()}
        batches = [{"target": t, "batch_no": n // BATCH + 1, "imeis": imeis[n:n + BATCH],
                    "label": f"{t} #{n // BATCH + 1}"} for t, imeis in by_target.items()
                   for n in range(0, len(imeis), BATCH)]
        items = [{"kind": "poll", "target": t, "expected": imeis} for t, imeis in by_target.items()]
        items += [{"kind": "alarms", "batch": b, "window": window} for b in batches]
        items += [{"kind": "track_list", "batch": b, "window": window} for b in batches]
        server.clear_request_log()
        load_before = os.getloadavg()[0]
        sweep_s, reports = run_phase(items, args.workers)
        omitted = {t: m for r in reports for t, m in r["missing"]}
        missing_batches = [{"target": t, "batch_no": n // BATCH + 1, "imeis": m[n:n + BATCH], "label": t}
                           for t, m in omitted.items() for n in range(0, len(m), BATCH)]
        missing_s, missing_reports = run_phase([{"kind": "missing_positions", "batch": b} for b in missing_batches],
                                               args.workers) if missing_batches else (0.0, [])
        load_after = os.getloadavg()[0]
        log = server.request_log

        # The baseline: the fewest calls that fetch the same data, and their time at the limit.
        begin_dt, end_dt = datetime.fromisoformat(window["fetch_start"]), datetime.fromisoformat(window["end"])
        alarm_pages = sum(max(1, math.ceil(len(fleet.truth.alarms(begin_dt, end_dt, b["imeis"])) / ALARM_PAGE))
                          for b in batches)
        minimum = {"jimi.user.device.location.list": len(by_target),
                   "jimi.device.location.get": sum(math.ceil(len(m) / BATCH) for m in omitted.values()),
                   "jimi.device.alarm.list": alarm_pages,
                   "jimi.device.track.list": devices}
        calls_by_method: dict[str, int] = {}
        for entry in log:
            calls_by_method[entry["method"]] = calls_by_method.get(entry["method"], 0) + 1
        token_calls = sum(v for k, v in calls_by_method.items() if k.startswith("jimi.oauth."))
        server_1006 = sum(1 for e in log if e["code"] == 1006)
        calls = len(log) - token_calls
        minimum_calls = sum(minimum.values())
        elapsed = sweep_s + missing_s
        stamps = [e["at"].timestamp() for e in log]
        all_reports = reports + missing_reports
        # Truth check: every device's track hour and every listed position arrived.
        import psycopg

        with psycopg.connect(dsn) as conn:
            positions = conn.execute("SELECT count(*) FROM tracksolid.live_positions").fetchone()[0]
            tracked = conn.execute("SELECT count(DISTINCT imei) FROM tracksolid.position_history "
                                   "WHERE source = 'track_list'").fetchone()[0]
    finally:
        server.stop()
        os.environ.clear()
        os.environ.update(saved_env)
        drop_database(database)

    results = {
        "quick": args.quick,
        "devices": devices,
        "accounts": accounts,
        "workers": args.workers,
        "batches": len(batches),
        "server_rate_limit_per_s": args.rate,
        "server_burst": args.burst,
        "client_max_requests_per_s": args.rate,
        "calls": calls,
        "minimum_calls": minimum_calls,
        "calls_by_method": {k: calls_by_method.get(k, 0) for k in minimum},
        "minimum_calls_by_method": minimum,
        "token_calls": token_calls,
        "seconds": round(elapsed, 1),
        "baseline_seconds": round(minimum_calls / args.rate, 1),
        "achieved_rate_per_s": round((calls + token_calls) / elapsed, 2),
        "achieved_rate_ratio": round((calls + token_calls) / elapsed / args.rate, 3),
        "max_requests_in_any_1s": max_in_any_window(stamps),
        "server_1006_responses": server_1006,
        "rate_limit_errors_reaching_tasks": sum(r["rate_errors"] for r in all_reports),
        "task_errors": sum(r["errors"] for r in all_reports),
        "tasks": sum(r["tasks"] for r in all_reports),
        "peak_rss_mb": round(max(r["peak_rss_mb"] for r in all_reports), 1),
        "peak_rss_mb_per_worker": sorted(round(r["peak_rss_mb"], 1) for r in reports),
        "limiter_reservation_ms": overhead,
        # Where the workers' time went: waiting for a send slot (limit-bound) vs everything else (latency-bound).
        "worker_time_s": {
            "total": round(sum(r["busy_s"] for r in all_reports), 1),
            "waiting_for_slot": round(sum(r["limiter"].get("waited_s", 0) for r in all_reports), 1),
            "reserving_slot": round(sum(r["limiter"].get("overhead_s", 0) for r in all_reports), 1),
            "cpu": round(sum(r["cpu_s"] for r in all_reports), 1),
        },
        "live_positions_rows": positions,
        "devices_with_track_rows": tracked,
        "load_average": round((load_before + load_after) / 2, 2),
        "goal": "calls == minimum_calls, achieved_rate_ratio >= 0.9, no 1006 reaching a task",
    }
    results["goal_met"] = (calls == minimum_calls and results["achieved_rate_ratio"] >= 0.9
                           and results["rate_limit_errors_reaching_tasks"] == 0)
    print(f"B3 sweep: {devices:,} devices / {accounts} accounts / {args.workers} workers at R = {args.rate:g}/s")
    print(f"  calls {calls:,} (minimum {minimum_calls:,}) + {token_calls} token; {results['seconds']} s "
          f"(baseline {results['baseline_seconds']} s at R); achieved {results['achieved_rate_per_s']}/s = "
          f"{results['achieved_rate_ratio']:.0%} of R; most in any 1 s: {results['max_requests_in_any_1s']}")
    print(f"  1006: {server_1006} from the platform, {results['rate_limit_errors_reaching_tasks']} reaching a task; "
          f"task errors {results['task_errors']}; peak RSS per worker {results['peak_rss_mb_per_worker']} MB; "
          f"limiter reservation p50/p99 {overhead['p50']}/{overhead['p99']} ms; load avg {results['load_average']}; "
          f"goal met: {results['goal_met']}")
    print(json.dumps(results["calls_by_method"]), json.dumps(results["worker_time_s"]))
    if not args.no_record:
        record("api_sweep", results)
    return results


if __name__ == "__main__":
    main()
