"""Freshness: how old is the position the NOC map shows, push-fed and poll-fed, with the pipeline as deployed.

    .venv/bin/python -m bench.bench_freshness [--quick] [--minutes M] [--devices N] [--accounts N]

Runs for ``--minutes`` (default 10; ``--quick``: 1) against the simulator moving its fleet in real time:

- **poll-fed** devices (every account but the head one): Airflow's scheduler runs the
  ``tracksolid_live_positions`` DAG on its own schedule (every minute), its tasks under the LocalExecutor
  (``airflow standalone``: scheduler, dag-processor, api-server, triggerer), against the simulator;
- **push-fed** devices (the head account, which the connection's ``targets`` leave out, so no poll
  touches them): a sender posts each fix to the push receiver (gunicorn, production config) at the moment
  the simulator says it reached the hub — every second, in 50-item ``/pushgps`` requests.

Every ``--sample-s`` seconds (default 2) the benchmark reads each vehicle's position from ``v_vehicle_state_now`` (the
NOC's view; ``live_positions`` when that view is not installed) and compares it with the simulator's ground
truth: a vehicle whose shown fix is the newest one that had reached the platform is **0 s** stale;
otherwise its staleness is the time since the first fix newer than the shown one arrived. (Plain
``now - gps_time`` would also count the device's own reporting interval — 30 s driving, 15 min parked —
which no pipeline can shorten; it is reported beside, as ``view_age``.) Per fix, ``fix_to_map`` is the
time from a fix's arrival to the first sample showing it (or a newer one). p50 / p95 / max per group go to
``bench/results.json`` under ``freshness``. Goals (SPEC §8): push p95 ≤ 5 s; poll p95 ≤ the poll
interval (60 s) + 30 s. Sampling starts once the first DAG run has loaded positions.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path

import requests

from bench.bench_webhook import Gunicorn, free_port

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
DAG_ID = "tracksolid_live_positions"
POLL_INTERVAL_S = 60
PUSH_TICK_S = 1.0
#: Re-uploaded (buffered) fixes released up to this long after their gps_time are pushed too.
PUSH_LOOKBACK = timedelta(minutes=15)
API_POOL = ("tracksolid_api", "4", "Concurrent Tracksolid API calls")


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))], 2)


# --- the deployed pieces ----------------------------------------------------------------------------------

class AirflowStandalone:
    """``airflow standalone`` in a throw-away AIRFLOW_HOME with its own PostgreSQL metadata database (as
    production; SQLite's single writer times the execution API out under load), on a free loopback port,
    in its own process group so that stopping it stops every child it started."""

    def __init__(self, env: dict) -> None:
        from fleet_db.admin import ensure_database
        from fleet_db.settings import ADMIN_DSN, dsn_with_dbname

        self.home = Path(tempfile.mkdtemp(prefix="bench-freshness-airflow-"))
        self.database = f"bench_freshness_airflow_{uuid.uuid4().hex[:8]}"
        ensure_database(self.database)
        self.dsn = dsn_with_dbname(ADMIN_DSN, self.database)
        from psycopg2.extensions import parse_dsn

        p = parse_dsn(self.dsn)
        self.port = port = free_port()
        self.env = {
            **env,
            "AIRFLOW_HOME": str(self.home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": (
                f"postgresql+psycopg2://{p.get('user', 'postgres')}@{p.get('host', '127.0.0.1')}:"
                f"{p.get('port', 5432)}/{self.database}"),
            "AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT": "60",
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(port),
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
            "PATH": f"{BIN}:{env.get('PATH', '')}",
            "PYTHONPATH": os.pathsep.join([str(REPO / "include"), str(REPO)]),
        }
        self.process: subprocess.Popen | None = None
        self.log = open(self.home / "standalone.log", "w")  # noqa: SIM115 — closed in stop()

    def airflow(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run([str(BIN / "airflow"), *args], env=self.env, cwd=REPO, capture_output=True,
                              text=True, check=check, timeout=300)

    def start(self) -> None:
        self.airflow("db", "migrate")
        self.airflow("pools", "set", *API_POOL)
        self.process = subprocess.Popen([str(BIN / "airflow"), "standalone"], env=self.env, cwd=REPO,
                                        stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)

    def unpause(self, dag_id: str, timeout_s: float = 600) -> None:
        """Unpause once the api-server answers (tasks report to it: a run scheduled before it listens fails)
        and the dag-processor has serialised the DAG."""
        deadline = time.time() + timeout_s
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"airflow standalone exited with {self.process.returncode}; see {self.log.name}")
            try:
                if requests.get(f"http://127.0.0.1:{self.port}/api/v2/monitor/health", timeout=10).ok:
                    break
            except requests.RequestException:
                pass
            time.sleep(2)
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"airflow standalone exited with {self.process.returncode}; see {self.log.name}")
            if self.airflow("dags", "unpause", dag_id, check=False).returncode == 0 and self.dag_known(dag_id):
                return
            time.sleep(5)
        raise RuntimeError(f"{dag_id} was not parsed within {timeout_s} s")

    def _query(self, sql: str, params: tuple) -> list[tuple]:
        import psycopg

        with psycopg.connect(self.dsn, autocommit=True) as conn:
            return conn.execute(sql, params).fetchall()

    def dag_known(self, dag_id: str) -> bool:
        rows = self._query("SELECT is_paused FROM dag WHERE dag_id = %s", (dag_id,))
        return bool(rows) and not rows[0][0]

    def runs(self, dag_id: str) -> list[dict]:
        """Every run: state and seconds from queued (or started) to end."""
        rows = self._query("SELECT state, coalesce(queued_at, start_date), end_date FROM dag_run "
                           "WHERE dag_id = %s ORDER BY id", (dag_id,))
        return [{"state": state, "seconds": (ended - queued).total_seconds() if queued and ended else None}
                for state, queued, ended in rows]

    def stop(self, keep_home: bool = False) -> None:
        """Stop every process of the group; remove the throw-away home (kept, with its logs, after a failure)."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=30)
        self.log.close()
        from fleet_db.admin import drop_database

        drop_database(self.database)
        if keep_home:
            print(f"Airflow logs kept in {self.home}", file=sys.stderr)
        else:
            shutil.rmtree(self.home, ignore_errors=True)


class PushSender(threading.Thread):
    """Posts each push-fed device's fixes to ``/pushgps`` once the simulator says they reached the hub."""

    def __init__(self, fleet, clock, imeis: list[str], url: str, token: str) -> None:
        super().__init__(name="push-sender", daemon=True)
        self.fleet, self.clock, self.imeis, self.url, self.token = fleet, clock, imeis, url, token
        self.stop_event = threading.Event()
        self.sent = self.failed = 0

    def _send(self, session: requests.Session, fixes: list[dict]) -> None:
        from tracksolid_simulator.push import _gps_item

        for i in range(0, len(fixes), 50):
            items = [_gps_item(f) for f in fixes[i:i + 50]]
            try:
                response = session.post(f"{self.url}/pushgps", timeout=30, data={
                    "token": self.token, "data_list": json.dumps(items)})
                ok = response.status_code == 200
            except requests.RequestException:
                ok = False
            self.sent += len(items) if ok else 0
            self.failed += 0 if ok else len(items)

    def run(self) -> None:
        session = requests.Session()
        last = self.clock()
        # What the hub pushed before the benchmark began: each device's latest fix (a parked device reports
        # only every 15 minutes, so without this most would stay off the map for the first minutes).
        primed = [self.fleet.truth.latest_fix(imei, last) for imei in self.imeis]
        self._send(session, [f for f in primed if f is not None])
        while not self.stop_event.wait(PUSH_TICK_S):
            now = self.clock()
            fixes = self.fleet.truth.fixes(last - PUSH_LOOKBACK, now + timedelta(seconds=1), self.imeis,
                                           arrived_by=now)
            self._send(session, sorted((f for f in fixes if last < f["arrived_at"] <= now),
                                       key=lambda f: f["arrived_at"]))
            last = now


# --- measuring -----------------------------------------------------------------------------------------------

def shown_positions(conn) -> tuple[str, dict[str, datetime]]:
    """imei → gps_time of the position the NOC shows (from the view when it exists)."""
    source = "tracksolid.v_vehicle_state_now"
    if conn.execute("SELECT to_regclass(%s)", (source,)).fetchone()[0] is None:
        source = "tracksolid.live_positions"
    rows = conn.execute(f"SELECT imei, gps_time FROM {source} WHERE gps_time IS NOT NULL").fetchall()  # noqa: S608
    conn.commit()
    return source, dict(rows)


def staleness(truth, imei: str, shown: datetime | None, at: datetime) -> tuple[float | None, float | None]:
    """(staleness s, view age s) of one device at ``at``; staleness None when the device has no fix yet."""
    newest = truth.latest_fix(imei, at)
    if newest is None:
        return None, None
    if shown is None:
        return None, None
    age = (at - shown).total_seconds()
    if shown >= newest["gps_time"]:
        return 0.0, age
    newer = truth.fixes(shown + timedelta(seconds=1), at + timedelta(seconds=1), [imei], arrived_by=at)
    first = min((f["arrived_at"] for f in newer if f["gps_time"] > shown), default=newest["arrived_at"])
    return max(0.0, (at - first).total_seconds()), age


def fix_latencies(truth, imeis: list[str], series: dict[str, list[tuple[datetime, datetime | None]]],
                  sample_s: float) -> list[float]:
    """Fix-to-map latency of every fix that arrived while sampling: the first sample showing it (or a newer
    fix) minus its arrival; an upper bound, ``sample_s`` coarse. Fixes arriving in the last ``2 × sample_s``
    are left out (their display may fall after the last sample)."""
    out = []
    for imei in imeis:
        points = series.get(imei) or []
        if len(points) < 2:
            continue
        first_at, last_at = points[0][0], points[-1][0]
        for fix in truth.fixes(first_at - PUSH_LOOKBACK, last_at, [imei], arrived_by=last_at):
            if not first_at < fix["arrived_at"] <= last_at - timedelta(seconds=2 * sample_s):
                continue
            shown_at = next((at for at, shown in points
                             if at >= fix["arrived_at"] and shown is not None and shown >= fix["gps_time"]), None)
            if shown_at is not None:
                out.append((shown_at - fix["arrived_at"]).total_seconds())
    return out


def wait_for_first_poll(dsn: str, poll_imeis: list[str], timeout_s: float) -> float:
    import psycopg

    started = time.time()
    with psycopg.connect(dsn, autocommit=True) as conn:
        while time.time() - started < timeout_s:
            n = conn.execute("SELECT count(*) FROM tracksolid.live_positions WHERE imei = ANY(%s)",
                             (poll_imeis,)).fetchone()[0]
            if n:
                return time.time() - started
            time.sleep(2)
    raise RuntimeError(f"no poll-fed position within {timeout_s} s (is the scheduler running the DAG?)")


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_freshness", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="sample for 1 minute (CI smoke size)")
    parser.add_argument("--minutes", type=float, help="sampling time (default 10; --quick 1)")
    parser.add_argument("--devices", type=int, default=160, help="devices (default 160, production size)")
    parser.add_argument("--accounts", type=int, default=3, help="accounts (default 3; the head one is push-fed)")
    parser.add_argument("--sample-s", type=float, default=2.0, help="seconds between samples (default 2)")
    parser.add_argument("--no-record", action="store_true", help="print only; leave bench/results.json alone")
    args = parser.parse_args(argv)
    minutes = args.minutes or (1.0 if args.quick else 10.0)
    if args.accounts < 2:
        parser.error("--accounts must be at least 2 (one push-fed, the others polled)")

    import psycopg

    from fleet_db.admin import drop_database, ensure_database
    from fleet_db.migrations import migrate_dsn
    from fleet_db.settings import ADMIN_DSN, LIVE_DB, dsn_with_dbname, postgres_conn_json
    from tracksolid_simulator import Fleet, SimulatorConfig, SimulatorServer
    from tracksolid_simulator.airflow_conn import connection_json

    cfg = SimulatorConfig(devices=args.devices, accounts=args.accounts, seed=21, token_get_limit=100)
    fleet = Fleet(cfg)
    head, *polled = cfg.account_names()
    push_imeis = fleet.imeis_of(head)
    poll_imeis = [i for a in polled for i in fleet.imeis_of(a)]
    database = f"bench_freshness_{uuid.uuid4().hex[:8]}"
    dsn = dsn_with_dbname(ADMIN_DSN, database)
    ensure_database(database)
    server = SimulatorServer(fleet, cfg)
    server.start(port=0)
    receiver = airflow = sender = None
    token = secrets.token_urlsafe(24)
    samples: dict[str, list[float]] = {"push": [], "poll": []}
    ages: dict[str, list[float]] = {"push": [], "poll": []}
    not_shown = {"push": 0, "poll": 0}
    series: dict[str, list] = {}
    completed = False
    try:
        migrate_dsn(dsn, LIVE_DB)
        with psycopg.connect(dsn) as conn, conn.cursor() as cur:
            with cur.copy("COPY tracksolid.devices (imei, account, device_name, is_active, is_registered) "
                          "FROM STDIN") as copy:
                for dev in fleet.devices:
                    copy.write_row((dev.imei, dev.account, dev.device_name, True, True))
        env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
        env.update({
            "AIRFLOW_CONN_TRACKSOLID_DB": postgres_conn_json(dsn),
            "AIRFLOW_CONN_TRACKSOLID_API": connection_json(server, max_requests_per_s=4.0, timeout_s=30.0,
                                                           targets=polled),
        })
        receiver = Gunicorn("webhook_service.wsgi:app", {"WEBHOOK_IOTHUB_TOKEN": token, "WEBHOOK_DATABASE_URL": dsn,
                                                         "WEBHOOK_LOG_LEVEL": "WARNING"})
        sender = PushSender(fleet, server.now, push_imeis, f"http://127.0.0.1:{receiver.port}", token)
        sender.start()
        airflow = AirflowStandalone(env)
        airflow.start()
        started = time.time()
        airflow.unpause(DAG_ID)
        warmup_s = wait_for_first_poll(dsn, poll_imeis, timeout_s=600) + (time.time() - started)
        print(f"first poll-fed positions after {warmup_s:.0f} s; sampling for {minutes:g} min", flush=True)
        load_before = os.getloadavg()[0]
        group = {imei: "push" for imei in push_imeis} | {imei: "poll" for imei in poll_imeis}
        source = ""
        end = time.time() + minutes * 60
        with psycopg.connect(dsn) as conn:
            while time.time() < end:
                tick = time.time()
                source, shown = shown_positions(conn)
                at = server.now()
                for imei, kind in group.items():
                    series.setdefault(imei, []).append((at, shown.get(imei)))
                    stale, age = staleness(fleet.truth, imei, shown.get(imei), at)
                    if stale is None:
                        not_shown[kind] += int(fleet.truth.latest_fix(imei, at) is not None)
                        continue
                    samples[kind].append(stale)
                    ages[kind].append(age)
                time.sleep(max(0.0, args.sample_s - (time.time() - tick)))
        load_after = os.getloadavg()[0]
        runs = airflow.runs(DAG_ID)
        completed = True
    finally:
        if sender is not None:
            sender.stop_event.set()
            sender.join(timeout=30)
        if airflow is not None:
            airflow.stop(keep_home=not completed)
        if receiver is not None:
            receiver.stop()
        server.stop()
        drop_database(database)

    durations = [r["seconds"] for r in runs if r["seconds"] is not None]
    latency = {"push": fix_latencies(fleet.truth, push_imeis, series, args.sample_s),
               "poll": fix_latencies(fleet.truth, poll_imeis, series, args.sample_s)}
    results = {
        "quick": args.quick,
        "minutes_sampled": minutes,
        "devices": {"push": len(push_imeis), "poll": len(poll_imeis)},
        "shown_from": source,
        "samples": {k: len(v) for k, v in samples.items()},
        "push_p50_s": percentile(samples["push"], 0.5),
        "push_p95_s": percentile(samples["push"], 0.95),
        "push_max_s": percentile(samples["push"], 1.0),
        "poll_p50_s": percentile(samples["poll"], 0.5),
        "poll_p95_s": percentile(samples["poll"], 0.95),
        "poll_max_s": percentile(samples["poll"], 1.0),
        "max_s": max(filter(None, [percentile(samples["push"], 1.0), percentile(samples["poll"], 1.0)]), default=None),
        "view_age_s": {k: {"p50": percentile(v, 0.5), "p95": percentile(v, 0.95)} for k, v in ages.items()},
        # Per fix instead of per vehicle-sample: from its arrival to the first sample showing it.
        "fix_to_map_s": {k: {"fixes": len(v), "p50": percentile(v, 0.5), "p95": percentile(v, 0.95),
                             "max": percentile(v, 1.0)} for k, v in latency.items()},
        "sample_s": args.sample_s,
        "device_samples_not_on_map": not_shown,
        "poll_interval_s": POLL_INTERVAL_S,
        "dag_runs": {"finished": len(durations), "states": sorted({r["state"] for r in runs}),
                     "seconds_p50": percentile(durations, 0.5), "seconds_max": percentile(durations, 1.0)},
        "push_items_sent": sender.sent if sender else 0,
        "push_items_failed": sender.failed if sender else 0,
        "warmup_s": round(warmup_s, 1),
        "load_average": round((load_before + load_after) / 2, 2),
        "goals": {"push_p95_s": 5, "poll_p95_s": POLL_INTERVAL_S + 30},
    }
    results["goals_met"] = {
        "push_p95_s": results["push_p95_s"] is not None and results["push_p95_s"] <= 5,
        "poll_p95_s": results["poll_p95_s"] is not None and results["poll_p95_s"] <= POLL_INTERVAL_S + 30,
    }
    print(f"freshness over {minutes:g} min ({source}): push-fed p50/p95/max {results['push_p50_s']}/"
          f"{results['push_p95_s']}/{results['push_max_s']} s (goal p95 <= 5); poll-fed p50/p95/max "
          f"{results['poll_p50_s']}/{results['poll_p95_s']}/{results['poll_max_s']} s (goal p95 <= "
          f"{POLL_INTERVAL_S + 30}); DAG runs {results['dag_runs']}; load avg {results['load_average']}")
    print(json.dumps({k: results[k] for k in ("samples", "fix_to_map_s", "view_age_s", "device_samples_not_on_map",
                                              "push_items_sent", "push_items_failed", "goals_met")}))
    if not args.no_record:
        from bench.results import record

        record("freshness", results)
    return results


if __name__ == "__main__":
    main()
