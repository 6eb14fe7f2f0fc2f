"""Limits of the push receiver (issue 12): a body over the size limit is 413 with or without Content-Length
(chunked), a stalled database is a 503 within the configured bound (a TCP proxy the test controls stops
forwarding, as a frozen server or a black-holed network would), and each gunicorn instance has its own
control socket."""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
from datetime import UTC, datetime
from pathlib import Path

import psycopg2
import requests

from tests.fixtures.databases import scalar
from tests.fixtures.webhook import free_port, gps_items, imei_for, wait_until
from tests.test_webhook_bad_input import all_row_counts

REPO = Path(__file__).resolve().parents[1]
START = datetime(2025, 2, 3, tzinfo=UTC)
LIMIT = 100_000


def form_body(size: int) -> bytes:
    """A valid push body of exactly ``size`` bytes: data_list first, then a padding field."""
    items = gps_items(10, start=START, imeis=[imei_for(1)])
    head = urllib.parse.urlencode({"data_list": json.dumps(items)}).encode() + b"&pad="
    assert len(head) < size
    return head + b"x" * (size - len(head))


def chunked(body: bytes, piece: int = 8192):
    for start in range(0, len(body), piece):
        yield body[start:start + piece]


def test_a_body_over_the_limit_is_413_with_or_without_content_length(webhook_factory, live_db, live_conn):
    hook = webhook_factory(live_db, max_body_bytes=LIMIT)
    url = f"{hook.base_url}/pushgps"
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    before = all_row_counts(live_conn)
    token = urllib.parse.urlencode({"token": hook.token}).encode() + b"&"
    for size, status in ((2 * LIMIT, 413), (LIMIT + 1, 413)):
        body = token + form_body(size - len(token))
        sized = hook.session.post(url, data=body, headers=headers)
        streamed = hook.session.post(url, data=chunked(body), headers=headers)
        assert (sized.status_code, streamed.status_code) == (status, status), streamed.text
        assert "larger than the limit" in streamed.json()["msg"]
        assert all_row_counts(live_conn) == before  # nothing stored, not even a truncated request
    # Exactly at the limit is accepted, both ways (the second is a replay of the first).
    body = token + form_body(LIMIT - len(token))
    assert hook.session.post(url, data=body, headers=headers, timeout=30).status_code == 200
    assert hook.session.post(url, data=chunked(body), headers=headers, timeout=30).status_code == 200
    assert scalar(live_conn, "SELECT count(*) FROM tracksolid.position_history") == 10
    assert scalar(live_conn, "SELECT replay_count FROM tracksolid.push_inbox") == 1


class FreezableProxy:
    """A TCP proxy to the shared PostgreSQL that the test can freeze: while frozen it reads nothing and sends
    nothing (the kernel still accepts the client's bytes, as with a SIGSTOPped server or a black hole)."""

    def __init__(self, target=("127.0.0.1", 5432)):
        self.target = target
        self.frozen = threading.Event()
        self.stopping = threading.Event()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.sockets: list[socket.socket] = []
        self.threads = [threading.Thread(target=self._accept, daemon=True)]
        self.threads[0].start()

    def _accept(self):
        self.listener.settimeout(0.1)
        while not self.stopping.is_set():
            try:
                client, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            self.sockets += [client, upstream]
            for src, dst in ((client, upstream), (upstream, client)):
                thread = threading.Thread(target=self._pump, args=(src, dst), daemon=True)
                self.threads.append(thread)
                thread.start()

    def _pump(self, src, dst):
        while not self.stopping.is_set():
            if self.frozen.is_set():
                time.sleep(0.02)
                continue
            try:
                ready, _, _ = select.select([src], [], [], 0.05)
                if not ready:
                    continue
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
            except OSError:
                break
        for sock in (src, dst):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self):
        self.stopping.set()
        self.listener.close()
        for thread in self.threads:
            thread.join(timeout=5)
        for sock in self.sockets:
            sock.close()


def test_a_stalled_database_gets_503_in_bounded_time_and_nothing_is_lost(webhook_factory, live_db, live_conn):
    proxy = FreezableProxy()
    try:
        dsn = psycopg2.extensions.parse_dsn(live_db)
        proxied = f"host=127.0.0.1 port={proxy.port} user={dsn['user']} dbname={dsn['dbname']}"
        hook = webhook_factory(proxied, request_timeout_s=1.5, pool_timeout_s=1.0, connect_timeout_s=1,
                               pool_min_size=2, pool_max_size=2)
        batches = [gps_items(5, start=START.replace(hour=h), imeis=[imei_for(h)], seed=h) for h in range(4)]
        assert hook.push("/pushgps", batches[0]).status_code == 200
        proxy.frozen.set()
        # The HTTP timeout (30 s) is the failure: before issue 12 these requests hung as long as the stall.
        stalled = [hook.push("/pushgps", batch) for batch in batches[1:3]]
        assert [r.status_code for r in stalled] == [503, 503]
        assert all(r.headers["Retry-After"] for r in stalled)
        assert "database" in stalled[0].json()["msg"] and "statement" not in stalled[0].text
        ready = hook.session.get(f"{hook.base_url}/readyz")
        assert ready.status_code == 503
        proxy.frozen.clear()

        def recovered():
            return hook.push("/pushgps", batches[3]).status_code == 200

        assert wait_until(recovered, timeout=60, interval=0.5)
        for batch in batches[1:3]:  # the sender retries what got 503
            assert hook.push("/pushgps", batch).status_code == 200
    finally:
        proxy.close()
    sent = {(i["deviceImei"], i["gpsTime"]) for batch in batches for i in batch}
    assert scalar(live_conn, "SELECT count(*) FROM tracksolid.position_history") == len(sent)
    assert scalar(live_conn, "SELECT count(*) FROM tracksolid.push_inbox") == len(batches)


def _gunicorn(env: dict, port: int, cli_bind: bool) -> subprocess.Popen:
    """gunicorn with the production config, bound by WEBHOOK_BIND or by ``--bind`` (as scripts/up.py does)."""
    bind = ["--bind", f"127.0.0.1:{port}"] if cli_bind else []
    env = {**{k: v for k, v in os.environ.items() if k != "WEBHOOK_BIND"}, **env}
    if not cli_bind:
        env["WEBHOOK_BIND"] = f"127.0.0.1:{port}"
    return subprocess.Popen(
        [str(Path(sys.executable).parent / "gunicorn"), "-c", str(REPO / "webhook_service" / "gunicorn.conf.py"),
         *bind, "webhook_service.wsgi:app"],
        cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def test_each_gunicorn_instance_has_its_own_control_socket(live_db, tmp_path):
    env = {"WEBHOOK_DATABASE_URL": live_db, "WEBHOOK_IOTHUB_TOKEN": "t" * 24, "WEBHOOK_WORKERS": "1",
           "WEBHOOK_THREADS": "1", "XDG_RUNTIME_DIR": str(tmp_path)}
    ports = [free_port(), free_port()]
    servers = []
    try:
        for port, cli_bind in zip(ports, (False, True), strict=True):
            servers.append(_gunicorn(env, port, cli_bind))
            assert wait_until(lambda port=port: _healthy(port), timeout=30), "gunicorn did not come up"
        assert wait_until(lambda: len(list(tmp_path.glob("*.ctl"))) == 2, timeout=10), list(tmp_path.iterdir())
        servers[0].send_signal(signal.SIGTERM)
        servers[0].communicate(timeout=30)
        remaining = list(tmp_path.glob("*.ctl"))
        assert len(remaining) == 1 and str(ports[1]) in remaining[0].name
        with socket.socket(socket.AF_UNIX) as sock:  # the second instance's socket still answers
            sock.connect(str(remaining[0]))
    finally:
        for server in servers:
            if server.poll() is None:
                server.send_signal(signal.SIGTERM)
                server.communicate(timeout=30)


def _healthy(port: int) -> bool:
    try:
        return requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200
    except requests.RequestException:
        return False
