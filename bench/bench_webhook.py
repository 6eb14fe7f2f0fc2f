"""Benchmark: sustained ``/pushgps`` load against the push receiver under its production gunicorn config.

    .venv/bin/python -m bench.bench_webhook [--quick] [--workers N] [--threads N] [--clients N]

In one run, on a fresh throw-away database (dropped afterwards):

1. **ceiling** — a hello-world Flask endpoint (``hello_app`` below) under the same gunicorn config, sent the
   same request bytes, at the maximum rate the load generator can drive;
2. **max** — ``/pushgps`` with batches of 50 distinct fixes, every request committed, at the maximum rate;
3. **half** — ``/pushgps`` paced at half the rate measured in 2.

The load comes from separate processes (``--load-procs``, each with threads on keep-alive loopback
connections), with a fixed number of requests per phase. Reports items/s, requests/s, p50/p99 latency and
the ratio to hello-world; checks that the database holds every acknowledged item; writes the numbers to
``bench/results.json`` under ``webhook``.
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

#: The ceiling: what Flask + gunicorn do with the same request when the handler does nothing.
hello_app = Flask("hello")


@hello_app.post("/pushgps")
def hello():
    return jsonify({"code": 0, "msg": "success"})


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
    when ``rate`` is None, else paced at ``rate`` requests/s for this process. Sends back
    (first send time, last reply time, [(latency, status), ...])."""
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
            if rate:
                due = start_at + (k * threads + offset) / rate
                delay = due - time.time()
                if delay > 0:
                    time.sleep(delay)
            sent = time.perf_counter()
            try:
                status = _exchange(sock, request, buffer)
            except OSError:
                status = -1
                sock.close()
                sock = socket.create_connection(("127.0.0.1", port))
                buffer.clear()
            local.append((time.perf_counter() - sent, status))
        sock.close()
        with lock:
            results.extend(local)

    pause = start_at - time.time()
    if pause > 0:
        time.sleep(pause)
    began = time.time()  # later than start_at if building the requests overran the head start
    workers = [threading.Thread(target=run, args=(share, k)) for k, share in enumerate(shares)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    out.send((began, time.time(), results))
    out.close()


def drive(port: int, token: str, indices: list[int], procs: int, threads: int, rate: float | None) -> dict:
    """Run one phase from ``procs`` separate processes; returns its throughput and latency numbers."""
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
    results, spans = [], []
    for receiver in pipes:
        began, ended, share_results = receiver.recv()
        spans.append((began, ended))
        results.extend(share_results)
    for process in processes:
        process.join()
    # Measured from the first send to the last reply, whatever the request building cost.
    elapsed = max(end for _, end in spans) - min(begin for begin, _ in spans)
    latencies = sorted(latency for latency, _ in results)
    ok = sum(1 for _, status in results if status == 200)
    return {
        "requests": len(results), "ok": ok, "errors": len(results) - ok,
        "seconds": round(elapsed, 2),
        "requests_per_s": round(ok / elapsed, 1),
        "items_per_s": round(ok * BATCH / elapsed, 1),
        "p50_ms": round(statistics.median(latencies) * 1000, 2),
        "p99_ms": round(latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000, 2),
        "target_rate_per_s": None if rate is None else round(rate, 1),
    }


# --- servers ----------------------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Gunicorn:
    """gunicorn with webhook_service/gunicorn.conf.py serving ``app`` on a free loopback port."""

    def __init__(self, app: str, env: dict):
        self.port = free_port()
        self.log = open(os.devnull, "w")  # noqa: SIM115 — closed in stop()
        self.process = subprocess.Popen(
            [str(Path(sys.executable).parent / "gunicorn"), "-c", str(REPO / "webhook_service" / "gunicorn.conf.py"),
             app],
            cwd=REPO, env={**os.environ, **env, "WEBHOOK_BIND": f"127.0.0.1:{self.port}"},
            stdout=self.log, stderr=self.log)
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

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_webhook", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (a smoke run of about a minute)")
    parser.add_argument("--workers", type=int, help="WEBHOOK_WORKERS (default: the gunicorn config's)")
    parser.add_argument("--threads", type=int, help="WEBHOOK_THREADS (default: the gunicorn config's)")
    parser.add_argument("--load-procs", type=int, default=2, help="load generator processes")
    parser.add_argument("--clients", type=int, default=16, help="concurrent connections in all")
    args = parser.parse_args(argv)

    from fleet_db.admin import drop_database, ensure_database
    from fleet_db.migrations import migrate_dsn
    from fleet_db.settings import ADMIN_DSN, LIVE_DB, dsn_with_dbname

    max_requests = 300 if args.quick else 3000
    hello_requests = 2000 if args.quick else 10000  # hello-world is fast: more requests for a steady number
    half_seconds = 5 if args.quick else 20
    threads_per_proc = max(1, args.clients // args.load_procs)
    token = secrets.token_urlsafe(24)
    env = {"WEBHOOK_IOTHUB_TOKEN": token, "WEBHOOK_LOG_LEVEL": "WARNING"}
    if args.workers:
        env["WEBHOOK_WORKERS"] = str(args.workers)
    if args.threads:
        env["WEBHOOK_THREADS"] = str(args.threads)

    database = f"bench_webhook_{uuid.uuid4().hex[:8]}"
    ensure_database(database)
    dsn = dsn_with_dbname(ADMIN_DSN, database)
    try:
        migrate_dsn(dsn, LIVE_DB)
        env["WEBHOOK_DATABASE_URL"] = dsn

        server = Gunicorn("bench.bench_webhook:hello_app", env)
        try:
            drive(server.port, token, list(range(50)), 1, 2, None)  # warm-up
            ceiling = drive(server.port, token, list(range(hello_requests)), args.load_procs, threads_per_proc, None)
        finally:
            server.stop()
        print(f"hello-world ceiling: {ceiling}", flush=True)

        server = Gunicorn("webhook_service.wsgi:app", env)
        try:
            next_index = 0

            def take(count: int) -> list[int]:
                nonlocal next_index
                next_index += count
                return list(range(next_index - count, next_index))

            drive(server.port, token, take(50), 1, 2, None)  # warm-up: pools, prepared statements
            at_max = drive(server.port, token, take(max_requests), args.load_procs, threads_per_proc, None)
            print(f"/pushgps at max rate: {at_max}", flush=True)
            half_rate = at_max["requests_per_s"] / 2
            at_half = drive(server.port, token, take(int(half_rate * half_seconds)), args.load_procs,
                            threads_per_proc, half_rate)
            print(f"/pushgps at half rate: {at_half}", flush=True)
        finally:
            server.stop()

        import psycopg2

        conn = psycopg2.connect(dsn)
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM tracksolid.position_history")
            stored = cur.fetchone()[0]
        conn.close()
        acknowledged_items = (50 + at_max["ok"] + at_half["ok"]) * BATCH
    finally:
        drop_database(database)

    results = {
        "quick": args.quick,
        "gunicorn": {"workers": env.get("WEBHOOK_WORKERS", f"config default (cpu*2+1 = {os.cpu_count() * 2 + 1})"),
                     "threads": env.get("WEBHOOK_THREADS", "config default (4)"), "worker_class": "gthread"},
        "load": {"processes": args.load_procs, "connections": threads_per_proc * args.load_procs,
                 "batch_items": BATCH},
        "hello_world": ceiling,
        "pushgps_max": at_max,
        "pushgps_half": at_half,
        "items_per_s": at_max["items_per_s"],
        "requests_per_s": at_max["requests_per_s"],
        "ratio_to_hello_world": round(at_max["requests_per_s"] / ceiling["requests_per_s"], 3),
        "p99_ms_at_half_rate": at_half["p99_ms"],
        "acknowledged_items": acknowledged_items,
        "stored_items": stored,
        "every_acknowledged_item_stored": stored == acknowledged_items,
        "goals": {"items_per_s": 10_000, "p99_ms_at_half_rate": 100, "ratio_to_hello_world": 0.4},
    }
    from bench.results import record

    record("webhook", results)
    print(json.dumps({k: results[k] for k in ("items_per_s", "requests_per_s", "ratio_to_hello_world",
                                              "p99_ms_at_half_rate", "every_acknowledged_item_stored")}))
    return results


if __name__ == "__main__":
    main()
