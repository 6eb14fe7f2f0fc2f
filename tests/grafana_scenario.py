"""A database pair filled by the pipeline from the simulator, for the dashboard SQL tests.

What production does, at small size: the simulator (real clock, ``DEVICES`` vehicles in three cities) is
read by the endpoint DAGs (``dag.test()``) from the start of yesterday (EAT) to now, the simulator pushes
the last hour to the real webhook service in both formats (plus one fix dated 2100, which the receiver
quarantines), the operator assigns each vehicle its city
(what the driver/vehicle CSV import does) and the dispatchers open three tickets, the ``fleet_alerts`` DAG
evaluates the fleet and ``driver_audit`` compares the API with the database, then ``dwh_bronze``
(live → moto S3 → bronze) and
``dwh_gold_refresh`` for yesterday (silver + gold). Built once per test module; tests only read it.
"""

from __future__ import annotations

import json
import os
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone

import psycopg2
from werkzeug.serving import make_server

from fleet_db.settings import postgres_conn_json

EAT = timezone(timedelta(hours=3))
DEVICES = 12
#: Open tickets planted for the SLA row: (opened minutes ago, SLA minutes) — ok, at risk, breached.
TICKETS = ((10, 240), (100, 120), (300, 120))


@dataclass(frozen=True)
class Scenario:
    live_dsn: str
    dwh_dsn: str
    now: datetime          # the moment the ingestion ran up to
    yesterday: date        # the EAT day the warehouse built
    today: date
    imeis: tuple[str, ...]
    cities: dict[str, str]  # imei -> city

    def dsn(self, database: str) -> str:
        return {"tracksolid_db": self.live_dsn, "tracksolid_dwh": self.dwh_dsn}[database]


def _run(bag, dag_id: str, conf: dict) -> None:
    from datetime import timedelta as td

    dag = bag.get_dag(dag_id)
    assert dag is not None, dag_id
    for task in dag.tasks:
        task.retry_delay = td(seconds=1)
        task.max_retry_delay = td(seconds=2)
    run = dag.test(run_conf=conf)
    assert run.state == "success", f"{dag_id} ended {run.state}"


def _push(simulator, live_dsn: str, start: datetime, end: datetime) -> int:
    from tracksolid_simulator.push import send_push
    from webhook_service import WebhookConfig, create_app

    config = WebhookConfig(database_dsn=live_dsn, iothub_tokens=(secrets.token_urlsafe(24),),
                           pro_path_secret=secrets.token_urlsafe(16), log_level="WARNING")
    server = make_server("127.0.0.1", 0, create_app(config), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_port}"
    sent = 0
    try:
        for fmt, url in (("iothub", base), ("pro", f"{base}/pro/{config.pro_path_secret}")):
            requests_ = simulator.fleet.push_requests(start, end, fmt=fmt, replay_ratio=0.05,
                                                      token=config.iothub_tokens[0])
            statuses = [status for status, _ in send_push(url, requests_)]
            assert statuses.count(200) == len(statuses), f"push {fmt}: {statuses}"
            sent += len(statuses)
        # One fix dated 2100 among good ones: the receiver stores the rest and quarantines it (implausible time).
        path, form = next((p, f) for p, f in simulator.fleet.push_requests(start, end, token=config.iothub_tokens[0])
                          if p == "/pushgps")
        items = json.loads(form["data_list"])
        items[0] = {**items[0], "gpsTime": "2100-01-01 00:00:00"}
        status, body = send_push(base, [(path, {**form, "data_list": json.dumps(items)})])[0]
        assert status == 200, body
    finally:
        server.shutdown()
        thread.join(timeout=10)
    return sent


def build(live_dsn: str, dwh_dsn: str, s3_endpoint: str, work_dir: str, repo_root) -> Scenario:
    """Fill both databases through the pipeline (see module doc). Environment changes are undone on return."""
    import boto3
    from airflow.dag_processing.dagbag import DagBag

    from tracksolid_simulator import Fleet, SimulatorConfig, SimulatorServer
    from tracksolid_simulator.airflow_conn import connection_json

    cfg = SimulatorConfig(devices=DEVICES, accounts=2, seed=7)
    simulator = SimulatorServer(Fleet(cfg), cfg)
    simulator.start(port=0)
    bucket = f"fleet-dash-{secrets.token_hex(4)}"
    boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1", aws_access_key_id="testing",
                 aws_secret_access_key="testing").create_bucket(Bucket=bucket)
    env = {
        "AIRFLOW_CONN_TRACKSOLID_DB": postgres_conn_json(live_dsn),
        "AIRFLOW_CONN_TRACKSOLID_DWH": postgres_conn_json(dwh_dsn),
        "AIRFLOW_CONN_TRACKSOLID_API": connection_json(simulator, max_requests_per_s=200.0, timeout_s=5.0),
        "AIRFLOW_CONN_FLEET_S3": ('{"conn_type": "aws", "login": "testing", "password": "testing", "extra": '
                                  f'{{"endpoint_url": "{s3_endpoint}", "region_name": "us-east-1"}}}}'),
        "FLEET_S3_BUCKET": bucket,
        "TRACKSOLID_RATE_LIMIT_DIR": os.path.join(work_dir, "rate"),
    }
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        now = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)
        today = now.astimezone(EAT).date()
        yesterday = today - timedelta(days=1)
        day_start = datetime.combine(yesterday, datetime.min.time(), EAT).astimezone(UTC)
        bag = DagBag(dag_folder=str(repo_root / "dags"))
        assert not bag.import_errors, bag.import_errors
        started = time.monotonic()
        _run(bag, "tracksolid_devices", {})
        _run(bag, "tracksolid_live_positions",
             {"start": (now - timedelta(minutes=5)).isoformat(), "end": now.isoformat()})
        window = {"start": day_start.isoformat(), "end": now.isoformat()}
        for name in ("track_list", "trips", "parking", "alarms", "obd"):
            _run(bag, f"tracksolid_{name}", window)
        _push(simulator, live_dsn, now - timedelta(hours=1), now)
        cities = {d.imei: d.city for d in simulator.fleet.devices}
        conn = psycopg2.connect(live_dsn)
        conn.autocommit = True
        try:
            with conn.cursor() as cur:  # the operator's vehicle import assigns cities
                for imei, city in cities.items():
                    cur.execute("UPDATE tracksolid.devices SET assigned_city = %s WHERE imei = %s", (city, imei))
                # the dispatchers' open tickets (SLA row): on time, at risk, breached
                for n, (opened_min_ago, sla_min) in enumerate(TICKETS):
                    imei = sorted(cities)[n]
                    ref = f"T-DASH-{n}"
                    cur.execute(
                        "INSERT INTO ops.tickets (ticket_ref, customer, city, lat, lng, geom, opened_at, sla_minutes)"
                        " VALUES (%s, 'ACME', %s, -1.28, 36.82, ST_SetSRID(ST_MakePoint(36.82, -1.28), 4326), %s, %s)",
                        (ref, cities[imei], now - timedelta(minutes=opened_min_ago), sla_min))
                    cur.execute("INSERT INTO tracksolid.dispatch_log (ticket_ref, imei, dispatched_at)"
                                " VALUES (%s, %s, %s)", (ref, imei, now - timedelta(minutes=opened_min_ago - 5)))
                # and one closed this morning within its SLA (compliance)
                cur.execute("INSERT INTO ops.tickets (ticket_ref, customer, city, opened_at, sla_minutes, closed_at,"
                            " status) VALUES ('T-DASH-CLOSED', 'ACME', 'Nairobi', %s, 120, %s, 'closed')",
                            (now - timedelta(minutes=90), now - timedelta(minutes=30)))
        finally:
            conn.close()
        _run(bag, "fleet_alerts", {})
        _run(bag, "driver_audit", {})
        _run(bag, "dwh_bronze", {"tables": [], "safety_lag_s": 0})
        _run(bag, "dwh_gold_refresh", {"day": yesterday.isoformat()})
        print(f"dashboard scenario filled in {time.monotonic() - started:.0f}s")
        return Scenario(live_dsn, dwh_dsn, now, yesterday, today, tuple(sorted(cities)), cities)
    finally:
        simulator.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
