"""A real scheduler (issue 11): api-server, scheduler, DAG processor and triggerer as production runs them
(LocalExecutor, PostgreSQL metadata database, the pool and connections made by ``scripts/airflow_init.py``
exactly as compose's ``airflow-init`` does), against the simulator, a moto S3 and the test databases.

One stack, one test (start-up is the expensive part):

* ``tracksolid_devices``, unpaused, runs its scheduled run with the mapped API tasks in the ``tracksolid_api``
  pool, and ``tracksolid.devices`` then equals the simulator's fleet;
* a manual ``dwh_bronze`` run of the silver inputs emits their Assets, which trigger ``dwh_gold_refresh`` (no
  clock involved), which emits the gold Asset;
* ``FLEET_DEADLINES`` gives ``tracksolid_devices`` a 1 s deadline: its run overruns it and exactly one
  deadline notification arrives (SMTP + chat), naming the deadline and how late;
* a ``db_migrations`` run whose admin connection names a missing database fails once: exactly one failure
  notification (the DAG-level callback adds none); the successful runs send nothing.

The notifier connections reach Airflow only through the init script (``FLEET_SMTP_CONN_URI``,
``FLEET_CHAT_WEBHOOK_URL``, ``FLEET_NOTIFY_EMAIL_TO``), as in production.
"""

from __future__ import annotations

import json
import time
from urllib.parse import quote

import psutil
import pytest

from fleet_db.settings import dsn_with_dbname, postgres_conn_json
from fleet_dwh.assets import GOLD_DAILY_METRICS, SILVER_INPUT_TABLES
from scripts.airflow_stack import AirflowStack
from tests.fixtures.notify import ChatReceiver, SmtpReceiver
from tests.fixtures.simulator import tracksolid_conn_json

EMAIL_TO = "fleet-ops@example.com"
RUN_TIMEOUT = 420


@pytest.fixture
def receivers():
    smtp, chat = SmtpReceiver().start(), ChatReceiver().start()
    yield smtp, chat
    smtp.stop()
    chat.stop()


def _wait(predicate, timeout: float, what: str, stack: AirflowStack):
    deadline = time.monotonic() + timeout
    while not predicate():
        stack.check_alive()
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(1)


def _drop_queued_scheduled_runs(stack: AirflowStack, dag_id: str, until_run: str, timeout: float = 120) -> None:
    """Delete the scheduled run unpausing queued (it waits behind ``until_run``: max_active_runs=1)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = stack.runs(dag_id)
        for run in runs:
            if run["run_type"] == "scheduled" and run["state"] == "queued":
                stack.delete_run(dag_id, run["dag_run_id"])
                return
        if any(r["dag_run_id"] == until_run and r["state"] in ("success", "failed") for r in runs) or any(
                r["run_type"] == "scheduled" for r in runs):
            return  # too late (it started): it only adds load
        time.sleep(1)


def test_production_scheduler_runs_pool_tasks_asset_chain_and_alerts_once(
        tmp_path, monkeypatch, live_db, dwh_db, live_conn, simulator, fleet_s3, receivers):
    smtp, chat = receivers
    for name in ("AIRFLOW_CONN_FLEET_SMTP", "AIRFLOW_CONN_FLEET_CHAT", "FLEET_NOTIFY_EMAIL_TO", "FLEET_DEADLINES"):
        monkeypatch.delenv(name, raising=False)
    missing_db = dsn_with_dbname(live_db, "no_such_database_for_alerting_test")
    env = {
        "AIRFLOW_CONN_TRACKSOLID_API": tracksolid_conn_json(simulator, max_requests_per_s=50.0, timeout_s=5.0),
        "AIRFLOW_CONN_TRACKSOLID_DB": postgres_conn_json(live_db),
        "AIRFLOW_CONN_TRACKSOLID_DWH": postgres_conn_json(dwh_db),
        # db_migrations prefers <database>_admin: a missing database makes its first task fail for good.
        "AIRFLOW_CONN_TRACKSOLID_DB_ADMIN": postgres_conn_json(missing_db),
        "TRACKSOLID_RATE_LIMIT_DIR": str(tmp_path / "rate"),
        "FLEET_DEADLINES": json.dumps({"tracksolid_devices": 1}),
    }
    init_env = {
        "TRACKSOLID_API_POOL_SLOTS": "3",
        "FLEET_SMTP_CONN_URI": f"smtp://127.0.0.1:{smtp.port}?from_email=airflow%40fleet.test"
                               "&disable_tls=true&disable_ssl=true&timeout=10",
        "FLEET_NOTIFY_EMAIL_TO": EMAIL_TO,
        "FLEET_CHAT_WEBHOOK_URL": chat.url,
    }
    stack = AirflowStack(tmp_path / "airflow", env=env, init_env=init_env, metadata_db="postgres")
    stack.start()
    try:
        descendants_seen = set()
        # --- the init script's pool and connections, as the UI shows them (secrets masked) ----------
        pools = {p["name"]: p["slots"] for p in stack.api("GET", "pools")["pools"]}
        assert pools["tracksolid_api"] == 3
        conns = {c["connection_id"]: c for c in stack.api("GET", "connections", params={"limit": 100})["connections"]}
        assert {"tracksolid_api", "tracksolid_db", "tracksolid_dwh", "fleet_s3", "fleet_smtp",
                "fleet_chat"} <= set(conns)
        assert conns["fleet_smtp"]["conn_type"] == "smtp" and conns["fleet_chat"]["conn_type"] == "slackwebhook"
        assert json.loads(conns["fleet_smtp"]["extra"])["to"] == EMAIL_TO
        api_conn = json.loads(env["AIRFLOW_CONN_TRACKSOLID_API"])
        for shown in conns.values():
            assert api_conn["password"] not in json.dumps(shown), "a secret is shown unmasked"
            assert api_conn["extra"]["app_secret"] not in json.dumps(shown), "app_secret is shown unmasked"

        stack.wait_for_dags(["tracksolid_devices", "dwh_bronze", "dwh_gold_refresh", "db_migrations"])
        # --- start everything at once: it all runs concurrently under the one scheduler ---------------
        stack.unpause("dwh_gold_refresh")
        stack.unpause("tracksolid_devices")  # daily CronDataInterval, catchup off: one scheduled run now
        # Unpausing a cron DAG queues its latest tick at once (a run of every table); the early run_after
        # puts our manual run of the silver inputs first, and the scheduled one is dropped while it waits.
        bronze_run = stack.trigger("dwh_bronze", conf={"tables": list(SILVER_INPUT_TABLES)},
                                   run_after="2026-01-02T00:00:00+00:00")
        stack.unpause("dwh_bronze")
        migrations_run = stack.trigger("db_migrations", conf={"dry_run": True})
        stack.unpause("db_migrations")
        for proc in stack.processes.values():
            descendants_seen |= {p.pid for p in psutil.Process(proc.pid).children(recursive=True)}

        _drop_queued_scheduled_runs(stack, "dwh_bronze", until_run=bronze_run)

        # --- the endpoint DAG: mapped API tasks in the pool, the table equals the simulator's fleet ---
        devices = stack.wait_for_run("tracksolid_devices", run_type="scheduled", timeout=RUN_TIMEOUT)
        assert devices["state"] == "success"
        tis = stack.task_instances("tracksolid_devices", devices["dag_run_id"])
        mapped = [ti for ti in tis if ti["task_id"] in ("register_devices", "fetch_device_details")]
        targets = simulator.cfg.account_names()
        assert len([ti for ti in mapped if ti["task_id"] == "register_devices"]) == len(targets)
        assert len([ti for ti in mapped if ti["task_id"] == "fetch_device_details"]) >= len(targets)
        assert {(ti["pool"], ti["state"]) for ti in mapped} == {("tracksolid_api", "success")}
        assert all(ti["map_index"] >= 0 for ti in mapped)
        truth = {(d["imei"], d["account"], d["device_name"]) for d in simulator.truth.devices()}
        with live_conn.cursor() as cur:
            cur.execute("SELECT imei, account, device_name FROM tracksolid.devices WHERE is_active")
            assert set(cur.fetchall()) == truth

        # --- bronze → gold on Assets, and gold's Asset for the report -----------------------------------
        bronze = stack.wait_for_run("dwh_bronze", bronze_run, timeout=RUN_TIMEOUT)
        assert bronze["state"] == "success"
        gold = stack.wait_for_run("dwh_gold_refresh", run_type="asset_triggered", timeout=RUN_TIMEOUT)
        assert gold["state"] == "success" and gold["triggered_by"] == "asset"
        (asset,) = stack.api("GET", "assets", params={"name_pattern": GOLD_DAILY_METRICS.name})["assets"]
        events = stack.api("GET", "assets/events", params={"asset_id": asset["id"]})["asset_events"]
        assert [e["source_run_id"] for e in events] == [gold["dag_run_id"]]
        assert events[0]["extra"]["days"], "the gold Asset event lists the refreshed days"

        migrations = stack.wait_for_run("db_migrations", migrations_run, timeout=RUN_TIMEOUT)
        assert migrations["state"] == "failed"

        # --- notifications: exactly one deadline miss and one failure, on both channels ---------------
        _wait(lambda: len(smtp.mails) >= 2 and len(chat.posts) >= 2, 120, "two notifications per channel", stack)
        time.sleep(10)  # anything sent twice (retry, DAG-level callback, second deadline check) arrives by now
        subjects = sorted(m["subject"] for m in smtp.mails)
        assert len(subjects) == 2 and len(chat.posts) == 2, (subjects, chat.posts)
        deadline_mail = next(m for m in smtp.mails if "DEADLINE MISSED" in m["subject"])
        failure_mail = next(m for m in smtp.mails if "FAILED" in m["subject"])
        assert deadline_mail["to"] == [EMAIL_TO] and failure_mail["from"] == "airflow@fleet.test"
        assert deadline_mail["subject"].startswith("[fleet WARNING] DEADLINE MISSED tracksolid_devices: ")
        assert "(tracksolid_devices finished within 1s of being queued)" in deadline_mail["subject"]
        assert "Late by:" in deadline_mail["text"] and devices["dag_run_id"] in deadline_mail["text"]

        run_id = migrations["dag_run_id"]
        assert failure_mail["subject"] == "[fleet CRITICAL] FAILED db_migrations.migrate_tracksolid_db (try 1)"
        posts = {("DEADLINE" in p["body"]["text"]): p["body"]["text"] for p in chat.posts}
        failure_text = posts[False]
        for expected in ("DAG:       db_migrations", f"Run:       {run_id}", "Task:      migrate_tracksolid_db",
                         "Try:       1", "Error:     OperationalError: ", "no_such_database_for_alerting_test",
                         f"Log:       {stack.base_url}/dags/db_migrations/runs/{quote(run_id)}"
                         "/tasks/migrate_tracksolid_db?try_number=1"):
            assert expected in failure_text, expected
        assert "DEADLINE MISSED tracksolid_devices" in posts[True]
    finally:
        port = stack.port
        stack.stop()
    # --- everything stopped: no component, worker or task process left, the API port free ---------------
    alive = [pid for pid in descendants_seen if psutil.pid_exists(pid)
             and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE]
    assert alive == []
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


def test_sigterm_stops_every_process_and_frees_the_port(tmp_path):
    """``python -m scripts.airflow_stack`` (what ``make up`` runs for Airflow): SIGTERM to it stops the
    components and everything below them (LocalExecutor workers included), and the API port is free again."""
    import os
    import signal
    import socket
    import subprocess
    import sys

    import requests

    from scripts.airflow_stack import REPO, free_port

    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "scripts.airflow_stack", "--home", str(tmp_path / "home"),
                             "--port", str(port), "--metadata-db", "sqlite"], cwd=REPO, env=os.environ.copy(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 300
        while True:
            assert proc.poll() is None, "the stack exited on its own"
            try:
                if requests.get(f"http://127.0.0.1:{port}/api/v2/monitor/health", timeout=5).ok:
                    break
            except requests.RequestException:
                pass
            assert time.monotonic() < deadline, "the API server never answered"
            time.sleep(1)
        time.sleep(5)  # let the scheduler start its executor workers
        family = psutil.Process(proc.pid).children(recursive=True)
        assert len(psutil.Process(proc.pid).children()) == 4  # api-server, scheduler, dag-processor, triggerer
        names = " ".join(" ".join(p.cmdline()) for p in family)
        assert "LocalExecutor" in names, "no executor workers below the scheduler"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=120) == 0
        _gone, alive = psutil.wait_procs(family, timeout=5)
        assert [p for p in alive if p.status() != psutil.STATUS_ZOMBIE] == []
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))
    finally:
        if proc.poll() is None:
            for child in psutil.Process(proc.pid).children(recursive=True):
                child.kill()
            proc.kill()
