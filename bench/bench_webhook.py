"""Benchmark: sustained ``/pushgps`` load against the push receiver under its production gunicorn config.

    .venv/bin/python -m bench.bench_webhook [--quick] [--repeat N] [--workers N] [--threads N] [--clients N]

On a fresh throw-away database (dropped afterwards), three servers run under the same gunicorn config
(``webhook_service/gunicorn.conf.py``) and receive the same request bytes (50 fixes per request):

- **hello-world** — a Flask endpoint that does nothing (``hello_app`` below): the ceiling of Flask + gunicorn;
- **commit-only** — a Flask endpoint that commits one durable row per request through a psycopg pool
  (``commit_app`` below): the ceiling of "every request is committed" on this machine, and the baseline of
  the goal (the receiver at ≥ 50 % of its request rate);
- **the receiver** — ``webhook_service.wsgi:app``: at the maximum rate, then paced at half of it.

Each repeat runs the four phases back to back, so the ratios compare numbers measured under the same load
from other processes on the machine; ``--repeat`` gives the spread. The load comes from separate processes
(``--load-procs``, threads on keep-alive loopback connections). Per phase: items/s, requests/s, p50/p99
latency, and CPU milliseconds per request of the server processes, of their PostgreSQL backends and of the
load generator, plus how busy the whole machine was (others' benchmarks included), the checkpoints and the
WAL (kB) of the whole cluster per request, what the receiver's backends were doing
(sampled wait events: CPU, commit flush, row locks, ...) and, when paced, how late requests left. Checks
that the database holds every acknowledged item; writes the numbers to ``bench/results.json`` under ``webhook``.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import secrets
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from flask import Flask, jsonify

REPO = Path(__file__).resolve().parents[1]
BATCH = 50
DEVICES = 500
SUCCESS = {"code": 0, "msg": "success"}
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
#: Checkpoints the cluster has run: pg_stat_checkpointer from PostgreSQL 17 on, pg_stat_bgwriter before.
CHECKPOINTS_SQL = {17: "SELECT num_timed + num_requested FROM pg_stat_checkpointer",
                   0: "SELECT checkpoints_timed + checkpoints_req FROM pg_stat_bgwriter"}

#: The first ceiling: what Flask + gunicorn do with the same request when the handler does nothing.
hello_app = Flask("hello")


@hello_app.post("/pushgps")
def hello():
    return jsonify(SUCCESS)


#: The second ceiling: one durable commit per request (synchronous_commit as configured on the server, on by
#: default), through a pool sized like the receiver's, nothing else.
commit_app = Flask("commit_only")
COMMIT_TABLE = "public.bench_commit_only"
_commit_pool = None
_commit_pool_lock = threading.Lock()


@commit_app.post("/pushgps")
def commit_only():
    global _commit_pool
    if _commit_pool is None:
        with _commit_pool_lock:
            if _commit_pool is None:
                from psycopg_pool import ConnectionPool

                size = int(os.environ.get("WEBHOOK_DB_POOL_MAX", "4"))  # all kept open, as the receiver's
                _commit_pool = ConnectionPool(os.environ["WEBHOOK_DATABASE_URL"], min_size=size, max_size=size,
                                              kwargs={"application_name": "bench_commit_only"})
    with _commit_pool.connection() as conn:  # commits on leaving the block
        conn.execute(f"INSERT INTO {COMMIT_TABLE} DEFAULT VALUES")  # noqa: S608 - a constant
    return jsonify(SUCCESS)


# --- load generation (runs in separate processes) --------------------------------------------------------

def build_request(index: int, token: str, port: int) -> bytes:
    """HTTP/1.1 request bytes for request ``index``: 50 fixes no other request carries."""
    base = datetime(2025, 1, 1, tzinfo=UTC)
    items = []
    for j in range(BATCH):
        n = index * BATCH + j
        when = base + timedelta(seconds=10 * (n // DEVICES))
        items.append({
            "deviceImei": f"86{n % DEVICES:013d}", "gpsTime": when.strftime("%Y-%m-%d %H:%M:%S"),
            "gateTime": (when + timedelta(seconds=2)).strftime("%Y-%m-%d %H:%M:%S"),
            "lat": round(-1.3 + (n % 997) / 5000, 6), "lng": round(36.7 + (n % 991) / 5000, 6),
            "gpsSpeed": str(n % 90), "direction": str(n % 360), "acc": str(n % 2), "satelliteNum": "9",
            "postType": "1", "gpsMode": "0", "distance": str(1_000_000 + n), "altitude": "1650",
        })
    body = urllib.parse.urlencode({"token": token, "data_list": json.dumps(items)}).encode()
    head = (f"POST /pushgps HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {len(body)}\r\n\r\n")
    return head.encode() + body


def _exchange(sock: socket.socket, request: bytes, buffer: bytearray) -> int:
    """Send one request on a keep-alive connection, read the whole response; returns the status code."""
    sock.sendall(request)
    while b"\r\n\r\n" not in buffer:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("server closed the connection")
        buffer += chunk
    head, _, rest = bytes(buffer).partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split()[1])
    length = next((int(line.split(b":", 1)[1]) for line in lines[1:] if line.lower().startswith(b"content-length:")),
                  0)
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("server closed the connection")
        rest += chunk
    buffer[:] = rest[length:]
    return status


def _load_process(port: int, token: str, indices: list[int], threads: int, rate: float | None,
                  start_at: float, out) -> None:
    """Send the requests ``indices`` over ``threads`` connections, from wall-clock ``start_at``; closed loop
    when ``rate`` is None, else paced at ``rate`` requests/s for this process. Sends back (first send time,
    last reply time, CPU seconds used while sending, [(latency, status, pacing lag), ...]); the pacing lag is
    how late a paced request left (the generator's own jitter, or the thread still waiting for its previous
    reply: that wait is not in the latency)."""
    requests_ = [build_request(i, token, port) for i in indices]
    shares = [requests_[k::threads] for k in range(threads)]
    results: list[tuple[float, int]] = []
    lock = threading.Lock()

    def run(share: list[bytes], offset: int):
        sock = socket.create_connection(("127.0.0.1", port))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        buffer = bytearray()
        local = []
        for k, request in enumerate(share):
            lag = 0.0
            if rate:
                due = start_at + (k * threads + offset) / rate
                delay = due - time.time()
                if delay > 0:
                    time.sleep(delay)
                lag = time.time() - due
            sent = time.perf_counter()
            try:
                status = _exchange(sock, request, buffer)
            except OSError:
                status = -1
                sock.close()
                sock = socket.create_connection(("127.0.0.1", port))
                buffer.clear()
            local.append((time.perf_counter() - sent, status, lag))
        sock.close()
        with lock:
            results.extend(local)

    pause = start_at - time.time()
    if pause > 0:
        time.sleep(pause)
    began, cpu_began = time.time(), time.process_time()  # later than start_at if building overran
    workers = [threading.Thread(target=run, args=(share, k)) for k, share in enumerate(shares)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    out.send((began, time.time(), time.process_time() - cpu_began, results))
    out.close()


# --- CPU accounting ---------------------------------------------------------------------------------------

def _process_cpu_s(pid: int) -> float:
    """utime + stime of one process, in seconds (0 when it has gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def _machine_busy_s() -> tuple[float, float]:
    """(busy CPU seconds, wall-clock CPU seconds available) of the whole machine since boot."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    total = sum(values[:8])
    return (total - idle) / CLOCK_TICKS, total / CLOCK_TICKS


class CpuMeter:
    """CPU used by a server's processes and by its database backends between ``start`` and ``stop``."""

    def __init__(self, server: Gunicorn, dsn: str, application_name: str):
        self.server, self.dsn, self.application_name = server, dsn, application_name

    def _database_state(self) -> tuple[list[int], dict]:
        """The server's backends for this app, and cluster-wide counters (any database, others' work
        included): checkpoints run so far — a forced checkpoint, e.g. by another process's DROP DATABASE,
        makes every page's next change log a full-page image, and its burst of writes delays commits — and
        the WAL position (bytes written; pg_stat_wal's counters reach the view up to 10 s late)."""
        import psycopg

        with psycopg.connect(self.dsn, autocommit=True) as conn:
            pids = [pid for (pid,) in conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND application_name = %s",
                (self.application_name,))]
            checkpoints = CHECKPOINTS_SQL[17 if conn.info.server_version >= 170000 else 0]
            counters = conn.execute(
                f"SELECT ({checkpoints}), pg_current_wal_insert_lsn() - '0/0'::pg_lsn").fetchone()
        return pids, dict(zip(("checkpoints", "wal_bytes"), map(int, counters), strict=True))

    def _snapshot(self) -> dict:
        server_pids = self.server.pids()
        backends, counters = self._database_state()
        return {"server": {pid: _process_cpu_s(pid) for pid in server_pids},
                "database": {pid: _process_cpu_s(pid) for pid in backends},
                "machine": _machine_busy_s(), **counters}

    def _sample_waits(self) -> None:
        """What the app's active backends are doing, every 20 ms: CPU (no wait event), the WAL flush of a
        commit (IO:WALSync), a row lock held by a concurrent request (Lock:transactionid / tuple), ..."""
        import psycopg

        with psycopg.connect(self.dsn, autocommit=True) as conn:
            while not self._stop_sampling.wait(0.02):
                for (event,) in conn.execute(
                        "SELECT coalesce(wait_event_type || ':' || wait_event, 'CPU') FROM pg_stat_activity "
                        "WHERE datname = current_database() AND application_name = %s AND state = 'active'",
                        (self.application_name,)):
                    self.waits[event] = self.waits.get(event, 0) + 1

    def start(self) -> None:
        self.waits: dict[str, int] = {}
        self._stop_sampling = threading.Event()
        self._sampler = threading.Thread(target=self._sample_waits, daemon=True)
        self.before = self._snapshot()
        self._sampler.start()

    def stop(self) -> dict:
        self._stop_sampling.set()
        self._sampler.join()
        after = self._snapshot()
        used = {}
        for part in ("server", "database"):
            # Processes that appeared meanwhile (a pool connection opened) count from zero.
            used[part] = sum(cpu - self.before[part].get(pid, 0.0) for pid, cpu in after[part].items())
        # How evenly the gunicorn workers shared the work: keep-alive connections stay with the worker that
        # accepted them, so one worker may serve most of them (its threads then queue on its GIL).
        workers = [cpu - self.before["server"].get(pid, 0.0) for pid, cpu in after["server"].items()
                   if pid != self.server.process.pid]
        used["busiest_worker_share"] = max(workers) / sum(workers) if workers and sum(workers) else 0.0
        busy = after["machine"][0] - self.before["machine"][0]
        available = after["machine"][1] - self.before["machine"][1]
        used["machine_busy_share"] = busy / available if available else 0.0
        used["machine_busy_s"] = busy
        for counter in ("checkpoints", "wal_bytes"):
            used[counter] = after[counter] - self.before[counter]
        samples = sum(self.waits.values()) or 1
        used["backend_states"] = {event: round(count / samples, 3)
                                  for event, count in sorted(self.waits.items(), key=lambda kv: -kv[1])[:5]}
        return used


def drive(port: int, token: str, indices: list[int], procs: int, threads: int, rate: float | None,
          meter: CpuMeter | None = None) -> dict:
    """Run one phase from ``procs`` separate processes; returns its throughput, latency and CPU numbers."""
    ctx = multiprocessing.get_context("spawn")
    # Building the requests takes a moment: start the clock only once every process has them.
    start_at = time.time() + 2 + len(indices) / 1500
    pipes, processes = [], []
    for p in range(procs):
        receiver, sender = ctx.Pipe(duplex=False)
        share = indices[p::procs]
        process = ctx.Process(target=_load_process, args=(port, token, share, threads,
                                                          None if rate is None else rate / procs, start_at, sender))
        process.start()
        pipes.append(receiver)
        processes.append(process)
    if meter:
        time.sleep(max(0.0, start_at - time.time() - 0.05))
        meter.start()
    results, spans, load_cpu = [], [], 0.0
    for receiver in pipes:
        began, ended, cpu, share_results = receiver.recv()
        spans.append((began, ended))
        load_cpu += cpu
        results.extend(share_results)
    cpu_used = meter.stop() if meter else None
    for process in processes:
        process.join()
    # Measured from the first send to the last reply, whatever the request building cost.
    elapsed = max(end for _, end in spans) - min(begin for begin, _ in spans)
    latencies = sorted(latency for latency, _, _ in results)
    lags = sorted(lag for _, _, lag in results)
    ok = sum(1 for _, status, _ in results if status == 200)
    phase = {
        "requests": len(results), "ok": ok, "errors": len(results) - ok,
        "seconds": round(elapsed, 2),
        "requests_per_s": round(ok / elapsed, 1),
        "items_per_s": round(ok * BATCH / elapsed, 1),
        "p50_ms": round(statistics.median(latencies) * 1000, 2),
        "p99_ms": round(latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000, 2),
        "target_rate_per_s": None if rate is None else round(rate, 1),
    }
    if rate is not None:
        phase["pacing_lag_p99_ms"] = round(lags[min(len(lags) - 1, int(len(lags) * 0.99))] * 1000, 2)
    if cpu_used is not None:
        requests = max(1, len(results))
        phase["cpu_ms_per_request"] = {
            "server": round(cpu_used["server"] * 1000 / requests, 3),
            "database": round(cpu_used["database"] * 1000 / requests, 3),
            "load_generator": round(load_cpu * 1000 / requests, 3),
        }
        ours = cpu_used["server"] + cpu_used["database"] + load_cpu
        phase["machine"] = {
            "busy_cores": round(cpu_used["machine_busy_s"] / elapsed, 2),
            "busy_share": round(cpu_used["machine_busy_share"], 3),
            # What the rest of the machine (other benchmarks, the checkpointer, ...) used meanwhile.
            "other_cores": round(max(0.0, cpu_used["machine_busy_s"] - ours) / elapsed, 2),
            "checkpoints": cpu_used["checkpoints"],  # of the whole PostgreSQL cluster, during the phase
            "busiest_worker_share": round(cpu_used["busiest_worker_share"], 2),  # of the server's worker CPU
        }
        # WAL of the whole cluster (others' included) per request of this phase, and what the app's
        # backends were doing (share of 20 ms samples of the active ones).
        phase["wal_kb_per_request"] = round(cpu_used["wal_bytes"] / 1024 / requests, 2)
        if cpu_used["backend_states"]:
            phase["backend_states"] = cpu_used["backend_states"]
    return phase


# --- servers ----------------------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Gunicorn:
    """gunicorn with webhook_service/gunicorn.conf.py serving ``app`` on a free loopback port. ``root``: the
    checkout to serve from (its code and its SQL), this one by default; ``config_root``: the checkout whose
    gunicorn config to use (``root`` by default)."""

    def __init__(self, app: str, env: dict, root: Path = REPO, config_root: Path | None = None):
        self.port = free_port()
        self.log = open(os.devnull, "w")  # noqa: SIM115 — closed in stop()
        env = {**os.environ, **env, "WEBHOOK_BIND": f"127.0.0.1:{self.port}"}
        if root != REPO:
            env["PYTHONPATH"] = os.pathsep.join([str(root / "include"), str(root)])
        self.process = subprocess.Popen(
            [str(Path(sys.executable).parent / "gunicorn"), "-c",
             str((config_root or root) / "webhook_service" / "gunicorn.conf.py"), app],
            cwd=root, env=env, stdout=self.log, stderr=self.log)
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                if self.process.poll() is not None:
                    raise RuntimeError(f"gunicorn exited with {self.process.returncode}") from None
                time.sleep(0.2)
        self.stop()
        raise RuntimeError("gunicorn did not start within 60 s")

    def pids(self) -> list[int]:
        """The master and its workers."""
        try:
            children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children").read_text().split()
        except OSError:
            children = []
        return [self.process.pid, *map(int, children)]

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()


def _median_spread(values: list[float]) -> dict:
    return {"median": round(statistics.median(values), 3), "min": round(min(values), 3),
            "max": round(max(values), 3)}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_webhook", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, one repeat (a smoke run of a minute)")
    parser.add_argument("--repeat", type=int, help="repeats of the four phases (default 3, --quick 1)")
    parser.add_argument("--workers", type=int, help="WEBHOOK_WORKERS (default: the gunicorn config's)")
    parser.add_argument("--threads", type=int, help="WEBHOOK_THREADS (default: the gunicorn config's)")
    parser.add_argument("--pool-max", type=int, help="WEBHOOK_DB_POOL_MAX (default: the receiver's)")
    parser.add_argument("--load-procs", type=int, default=2, help="load generator processes")
    parser.add_argument("--clients", type=int, default=16, help="concurrent connections in all")
    parser.add_argument("--receiver-root", type=Path, default=REPO,
                        help="serve the receiver from another checkout of this repository (A/B against an older "
                             "version: git archive <commit> | tar -x -C DIR); implies --no-record")
    parser.add_argument("--no-record", action="store_true", help="print only; leave bench/results.json alone")
    args = parser.parse_args(argv)

    from fleet_db.admin import drop_database, ensure_database
    from fleet_db.migrations import migrate_dsn
    from fleet_db.settings import ADMIN_DSN, LIVE_DB, dsn_with_dbname

    repeats = args.repeat or (1 if args.quick else 3)
    max_requests = 300 if args.quick else 2000
    ceiling_requests = {"hello": 2000 if args.quick else 8000, "commit": 600 if args.quick else 3000}
    half_seconds = 5 if args.quick else 15
    threads_per_proc = max(1, args.clients // args.load_procs)
    token = secrets.token_urlsafe(24)
    env = {"WEBHOOK_IOTHUB_TOKEN": token, "WEBHOOK_LOG_LEVEL": "WARNING"}
    for name, value in (("WEBHOOK_WORKERS", args.workers), ("WEBHOOK_THREADS", args.threads),
                        ("WEBHOOK_DB_POOL_MAX", args.pool_max)):
        if value:
            env[name] = str(value)
    load = (args.load_procs, threads_per_proc)

    database = f"bench_webhook_{uuid.uuid4().hex[:8]}"
    ensure_database(database)
    dsn = dsn_with_dbname(ADMIN_DSN, database)
    runs = []
    servers: list[Gunicorn] = []
    try:
        migrate_dsn(dsn, LIVE_DB)
        import psycopg

        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f"CREATE TABLE {COMMIT_TABLE} "
                         "(id bigserial PRIMARY KEY, at timestamptz NOT NULL DEFAULT now())")
        env["WEBHOOK_DATABASE_URL"] = dsn

        # The ceilings run under the receiver's gunicorn config (that of --receiver-root when given).
        hello_server = Gunicorn("bench.bench_webhook:hello_app", env, config_root=args.receiver_root.resolve())
        servers.append(hello_server)
        commit_server = Gunicorn("bench.bench_webhook:commit_app", env, config_root=args.receiver_root.resolve())
        servers.append(commit_server)
        receiver = Gunicorn("webhook_service.wsgi:app", env, args.receiver_root.resolve())
        servers.append(receiver)
        meters = {"hello": CpuMeter(hello_server, dsn, "-"),
                  "commit": CpuMeter(commit_server, dsn, "bench_commit_only"),
                  "receiver": CpuMeter(receiver, dsn, "webhook_service")}

        next_index = 0

        def take(count: int) -> list[int]:
            nonlocal next_index
            next_index += count
            return list(range(next_index - count, next_index))

        # Warm-up: worker imports, pools, prepared statements.
        drive(hello_server.port, token, list(range(50)), 1, 2, None)
        drive(commit_server.port, token, list(range(100)), 1, 4, None)
        acknowledged = drive(receiver.port, token, take(100), 1, 4, None)["ok"]

        for repeat in range(repeats):
            run = {"hello_world": drive(hello_server.port, token, list(range(ceiling_requests["hello"])), *load, None,
                                        meters["hello"])}
            run["commit_only"] = drive(commit_server.port, token, list(range(ceiling_requests["commit"])), *load,
                                       None, meters["commit"])
            run["pushgps_max"] = drive(receiver.port, token, take(max_requests), *load, None, meters["receiver"])
            half_rate = run["pushgps_max"]["requests_per_s"] / 2
            run["pushgps_half"] = drive(receiver.port, token, take(int(half_rate * half_seconds)), *load, half_rate,
                                        meters["receiver"])
            acknowledged += run["pushgps_max"]["ok"] + run["pushgps_half"]["ok"]
            run["ratio_to_hello_world"] = round(
                run["pushgps_max"]["requests_per_s"] / run["hello_world"]["requests_per_s"], 3)
            run["ratio_to_commit_only"] = round(
                run["pushgps_max"]["requests_per_s"] / run["commit_only"]["requests_per_s"], 3)
            run["commit_only_ratio_to_hello_world"] = round(
                run["commit_only"]["requests_per_s"] / run["hello_world"]["requests_per_s"], 3)
            runs.append(run)
            print(f"repeat {repeat + 1}/{repeats}: " + json.dumps(
                {name: {k: phase[k] for k in ("requests_per_s", "items_per_s", "p50_ms", "p99_ms",
                                               "pacing_lag_p99_ms", "cpu_ms_per_request", "machine",
                                               "wal_kb_per_request", "backend_states") if k in phase}
                 for name, phase in run.items() if isinstance(phase, dict)}
                | {k: v for k, v in run.items() if k.startswith(("ratio", "commit_only_ratio"))}), flush=True)

        for server in servers:
            server.stop()
        servers.clear()
        with psycopg.connect(dsn) as conn:
            stored = conn.execute("SELECT count(*) FROM tracksolid.position_history").fetchone()[0]
            # Share of live_positions updates that were HOT (no index entries written, no bloat).
            hot_share = conn.execute(
                "SELECT round(n_tup_hot_upd::numeric / nullif(n_tup_upd, 0), 3)::float FROM pg_stat_user_tables "
                "WHERE relid = 'tracksolid.live_positions'::regclass").fetchone()[0]
        acknowledged_items = acknowledged * BATCH
    finally:
        for server in servers:
            server.stop()
        drop_database(database)

    def over_runs(getter) -> dict:
        return _median_spread([getter(run) for run in runs])

    summary = {
        "items_per_s": over_runs(lambda r: r["pushgps_max"]["items_per_s"]),
        "requests_per_s": over_runs(lambda r: r["pushgps_max"]["requests_per_s"]),
        "p50_ms_at_max_rate": over_runs(lambda r: r["pushgps_max"]["p50_ms"]),
        "p99_ms_at_max_rate": over_runs(lambda r: r["pushgps_max"]["p99_ms"]),
        "p50_ms_at_half_rate": over_runs(lambda r: r["pushgps_half"]["p50_ms"]),
        "p99_ms_at_half_rate": over_runs(lambda r: r["pushgps_half"]["p99_ms"]),
        "hello_world_requests_per_s": over_runs(lambda r: r["hello_world"]["requests_per_s"]),
        "commit_only_requests_per_s": over_runs(lambda r: r["commit_only"]["requests_per_s"]),
        "ratio_to_hello_world": over_runs(lambda r: r["ratio_to_hello_world"]),
        "ratio_to_commit_only": over_runs(lambda r: r["ratio_to_commit_only"]),
        "commit_only_ratio_to_hello_world": over_runs(lambda r: r["commit_only_ratio_to_hello_world"]),
        "receiver_cpu_ms_per_request": {
            part: over_runs(lambda r, part=part: r["pushgps_max"]["cpu_ms_per_request"][part])
            for part in ("server", "database", "load_generator")},
        "other_cores_busy_during_max": over_runs(lambda r: r["pushgps_max"]["machine"]["other_cores"]),
        "other_cores_busy_during_half": over_runs(lambda r: r["pushgps_half"]["machine"]["other_cores"]),
        "checkpoints_during_half": over_runs(lambda r: r["pushgps_half"]["machine"]["checkpoints"]),
        "checkpoints_during_max": over_runs(lambda r: r["pushgps_max"]["machine"]["checkpoints"]),
        "pacing_lag_p99_ms_at_half_rate": over_runs(lambda r: r["pushgps_half"]["pacing_lag_p99_ms"]),
        "receiver_wal_kb_per_request": over_runs(lambda r: r["pushgps_max"]["wal_kb_per_request"]),
    }
    # The receiver against the commit-only endpoint (one durable commit per request, nothing else), with the
    # same 50-item requests. The former 40 %-of-hello-world goal is retired: the database work alone exceeds
    # that budget on 2 cores (docs/BENCHMARKS.md); ratio_to_hello_world is still reported.
    goals = {"items_per_s": 10_000, "p99_ms_at_half_rate": 100, "ratio_to_commit_only": 0.5}
    results = {
        "quick": args.quick,
        "repeats": repeats,
        "gunicorn": {"cpus": len(os.sched_getaffinity(0)), "workers": env.get("WEBHOOK_WORKERS", "config default"),
                     "threads": env.get("WEBHOOK_THREADS", "config default"),
                     "pool_max": env.get("WEBHOOK_DB_POOL_MAX", "receiver default"), "worker_class": "gthread"},
        "load": {"processes": args.load_procs, "connections": threads_per_proc * args.load_procs,
                 "batch_items": BATCH},
        "summary": summary,
        "runs": runs,
        # Medians over the repeats (the spread is in summary).
        "items_per_s": summary["items_per_s"]["median"],
        "requests_per_s": summary["requests_per_s"]["median"],
        "ratio_to_hello_world": summary["ratio_to_hello_world"]["median"],
        "ratio_to_commit_only": summary["ratio_to_commit_only"]["median"],
        "commit_only_requests_per_s": summary["commit_only_requests_per_s"]["median"],
        "p99_ms_at_half_rate": summary["p99_ms_at_half_rate"]["median"],
        "acknowledged_items": acknowledged_items,
        "stored_items": stored,
        "every_acknowledged_item_stored": stored == acknowledged_items,
        "live_positions_hot_update_share": hot_share,
        "goals": goals,
        "goals_met": {name: (summary[name]["median"] <= goal if name.startswith("p99") else
                             summary[name]["median"] >= goal) for name, goal in goals.items()},
    }
    if args.receiver_root.resolve() != REPO:
        results["receiver_root"] = str(args.receiver_root)
    if not args.no_record and args.receiver_root.resolve() == REPO:
        from bench.results import record

        record("webhook", results)
    print(json.dumps({k: results[k] for k in ("items_per_s", "requests_per_s", "ratio_to_commit_only",
                                              "commit_only_requests_per_s", "ratio_to_hello_world",
                                              "p99_ms_at_half_rate", "every_acknowledged_item_stored",
                                              "live_positions_hot_update_share", "goals_met")}))
    print(json.dumps(summary, indent=1))
    return results


if __name__ == "__main__":
    main()
