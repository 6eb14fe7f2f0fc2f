"""Push receiver under failure and load: database stopped mid-stream (a scratch PostgreSQL cluster), concurrent
overlapping requests, and the production gunicorn config (JSON logs without secrets)."""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg2
import requests

from tests.fixtures.databases import scalar
from tests.fixtures.webhook import free_port, gps_items, imei_for, wait_until

REPO = Path(__file__).resolve().parents[1]
START = datetime(2025, 5, 6, 4, 0, tzinfo=UTC)


def test_database_down_mid_stream_gets_503_and_every_acknowledged_push_is_stored(scratch_postgres, webhook_factory):
    hook = webhook_factory(scratch_postgres.dsn("tracksolid_db"), pool_timeout_s=1.0, connect_timeout_s=1)
    imeis = [imei_for(n) for n in range(12)]
    batches = [gps_items(10, start=START + timedelta(hours=i), imeis=imeis, seed=i) for i in range(80)]
    replies: list[tuple[int, float, float, int]] = []  # (batch, sent_at, replied_at, status)
    lock = threading.Lock()
    cursor = iter(range(len(batches)))
    down = {"stopped_at": None, "restart_at": None}

    def sender():
        session = requests.Session()
        for index in cursor:  # shared iterator: two senders interleave
            sent = time.monotonic()
            try:
                status = session.post(f"{hook.base_url}/pushgps", timeout=30, data={
                    "token": hook.token, "data_list": json.dumps(batches[index])}).status_code
            except requests.ConnectionError:
                status = -1
            with lock:
                replies.append((index, sent, time.monotonic(), status))
            time.sleep(0.02)

    senders = [threading.Thread(target=sender) for _ in range(2)]
    for thread in senders:
        thread.start()
    assert wait_until(lambda: len(replies) >= 15, timeout=30)
    scratch_postgres.stop("fast")
    down["stopped_at"] = time.monotonic()
    assert wait_until(lambda: sum(1 for r in replies if r[1] > down["stopped_at"]) >= 6, timeout=60)
    down["restart_at"] = time.monotonic()
    scratch_postgres.start()
    for thread in senders:
        thread.join(timeout=120)

    statuses = {status for _, _, _, status in replies}
    assert statuses <= {200, 503}, statuses  # never a crash, never a dropped connection
    assert 503 in statuses
    # No success while the database was down.
    assert not [r for r in replies if r[3] == 200 and down["stopped_at"] < r[1] and r[2] < down["restart_at"]]
    # After the restart the pool recovers by itself: requests succeed again.
    assert any(r[3] == 200 and r[1] > down["restart_at"] for r in replies)

    acknowledged = {index for index, _, _, status in replies if status == 200}
    conn = psycopg2.connect(scratch_postgres.dsn("tracksolid_db"))
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT imei, gps_time FROM tracksolid.position_history")
            stored = set(cur.fetchall())
        expected = {(item["deviceImei"], datetime.strptime(item["gpsTime"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC))
                    for index in acknowledged for item in batches[index]}
        assert expected <= stored, f"{len(expected - stored)} acknowledged fixes missing"

        # The sender retries what got 503: afterwards the database holds exactly every batch, once.
        for index in sorted({r[0] for r in replies} - acknowledged):
            assert hook.push("/pushgps", batches[index]).status_code == 200
        all_fixes = {(i["deviceImei"], i["gpsTime"]) for batch in batches for i in batch}
        assert scalar(conn, "SELECT count(*) FROM tracksolid.position_history") == len(all_fixes)
        assert scalar(conn, "SELECT count(*) FROM tracksolid.push_inbox") == len(batches)
    finally:
        conn.close()


def test_concurrent_overlapping_requests_never_duplicate_or_deadlock(webhook, live_conn):
    imeis = [imei_for(n) for n in range(25)]
    fixes = gps_items(300, start=START, imeis=imeis)
    # 12 requests of 50 fixes, each overlapping its neighbours, item order shuffled differently.
    requests_ = []
    for n in range(12):
        chunk = fixes[n * 20: n * 20 + 50]
        requests_.append(chunk[::-1] if n % 2 else chunk)
    statuses: list[int] = []

    def send(chunk):
        statuses.append(requests.post(f"{webhook.base_url}/pushgps", timeout=60, data={
            "token": webhook.token, "data_list": json.dumps(chunk)}).status_code)

    threads = [threading.Thread(target=send, args=(chunk,)) for chunk in requests_ * 2]  # each one also replayed
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert statuses == [200] * len(threads)
    sent = {(i["deviceImei"], i["gpsTime"]) for chunk in requests_ for i in chunk}
    assert scalar(live_conn, "SELECT count(*) FROM tracksolid.position_history") == len(sent)
    assert scalar(live_conn, "SELECT count(*) FROM tracksolid.push_inbox") == len(requests_)
    assert scalar(live_conn, "SELECT sum(replay_count) FROM tracksolid.push_inbox") == len(requests_)
    newest = max(i["gpsTime"] for chunk in requests_ for i in chunk if i["deviceImei"] == imeis[0])
    assert scalar(live_conn, "SELECT to_char(gps_time AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') "
                             "FROM tracksolid.live_positions WHERE imei = %s", (imeis[0],)) == newest


def _gunicorn(env: dict, port: int) -> subprocess.Popen:
    return subprocess.Popen(
        [str(Path(sys.executable).parent / "gunicorn"), "-c", str(REPO / "webhook_service" / "gunicorn.conf.py"),
         "webhook_service.wsgi:app"],
        cwd=REPO, env={**os.environ, **env, "WEBHOOK_BIND": f"127.0.0.1:{port}"},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_production_gunicorn_config_serves_pushes_and_logs_no_secret(live_db, live_conn):
    token, pro_secret, db_password = (secrets.token_urlsafe(18) for _ in range(3))
    port = free_port()
    # Trust auth ignores the password; it is there to prove it never reaches a log line.
    env = {"WEBHOOK_DATABASE_URL": f"{live_db} password={db_password}", "WEBHOOK_IOTHUB_TOKEN": token,
           "WEBHOOK_PRO_PATH_SECRET": pro_secret, "WEBHOOK_WORKERS": "2", "WEBHOOK_THREADS": "2"}
    server = _gunicorn(env, port)
    base = f"http://127.0.0.1:{port}"
    try:
        def healthy():
            try:
                return requests.get(f"{base}/healthz", timeout=5).status_code == 200
            except requests.RequestException:  # not listening yet, or slow to answer on a busy machine
                return False

        assert wait_until(healthy, timeout=30), "gunicorn did not come up"
        assert requests.get(f"{base}/readyz", timeout=10).status_code == 200
        items = gps_items(50, start=START, imeis=[imei_for(n) for n in range(5)])
        assert requests.post(f"{base}/pushgps", timeout=10,
                             data={"token": token, "data_list": json.dumps(items)}).json() == {
            "code": 0, "msg": "success", "items": 50, "accepted": 50, "quarantined": 0}
        assert requests.post(f"{base}/pushgps", timeout=10,
                             data={"token": "wrong", "data_list": json.dumps(items)}).status_code == 401
        alarm = {"imei": imei_for(1), "alarmType": "1", "alarmName": "SOS", "alarmTime": "2025-05-06 04:00:00"}
        assert requests.post(f"{base}/pro/{pro_secret}", timeout=10, data={
            "msgType": "jimi.push.device.alarm", "data": json.dumps(alarm)}).status_code == 200
    finally:
        server.send_signal(signal.SIGTERM)
        _, stderr = server.communicate(timeout=30)
    assert scalar(live_conn, "SELECT count(*) FROM tracksolid.position_history") == 50
    assert scalar(live_conn, "SELECT count(*) FROM tracksolid.alarms") == 1
    push_logs = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    assert {(e["path"], e["status"]) for e in push_logs if e.get("msg") == "push request"} == {
        ("/pushgps", 200), ("/pushgps", 401), ("/pro/<secret>", 200)}
    for secret in (token, pro_secret, db_password):
        assert secret not in stderr


def test_gunicorn_refuses_to_start_without_a_token(live_db):
    server = _gunicorn({"WEBHOOK_DATABASE_URL": live_db, "WEBHOOK_IOTHUB_TOKEN": "", "WEBHOOK_WORKERS": "1"},
                       free_port())
    try:
        _, stderr = server.communicate(timeout=60)
    finally:
        if server.poll() is None:
            server.kill()
    assert server.returncode != 0
    assert "WEBHOOK_IOTHUB_TOKEN is not set" in stderr
