"""`make demo`: the whole pipeline once, end to end, on this machine.

1. create `tracksolid_db` and `tracksolid_dwh` on the local server and apply every migration;
2. start the Tracksolid simulator (unless real credentials are configured) and a moto S3 server
   (unless `AIRFLOW_CONN_FLEET_S3` is set);
3. run every DAG once with `dag.test()` — migrations, the endpoint DAGs (with the simulator's cities applied by
   `drivers_import` after the device list) — then push the last hour from the
   simulator to the webhook service in both formats, then run the warehouse DAGs, then the fleet alerts, the
   API ↔ DB driver audit and the daily fleet report of the warehouse day;
4. print what landed: per-table counts, a short fleet summary and where the report was written.

Real Tracksolid credentials: set `AIRFLOW_CONN_TRACKSOLID_API` (JSON form, type `tracksolid`) and the demo uses
them instead of the simulator.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
AIRFLOW_HOME = REPO / ".airflow" / "demo"

# Airflow reads its settings at import time: set them first.
os.environ.setdefault("AIRFLOW_HOME", str(AIRFLOW_HOME))
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(REPO / "dags")
os.environ["AIRFLOW__CORE__PLUGINS_FOLDER"] = str(REPO / "plugins")
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ.setdefault("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", f"sqlite:///{AIRFLOW_HOME / 'airflow.db'}")
os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "WARNING")

from fleet_db.admin import ensure_database  # noqa: E402
from fleet_db.migrations import migrate_dsn  # noqa: E402
from fleet_db.settings import ADMIN_DSN, DATABASES, dsn_with_dbname, postgres_conn_json  # noqa: E402


def banner(text: str) -> None:
    print(f"\n=== {text}", flush=True)


def prepare_databases() -> None:
    banner("databases and migrations")
    for name in DATABASES:
        created = ensure_database(name)
        outcomes = migrate_dsn(dsn_with_dbname(ADMIN_DSN, name), name)
        print(f"{name}: {'created' if created else 'exists'}, {len(outcomes)} migration(s) applied")
        os.environ.setdefault(f"AIRFLOW_CONN_{name.upper()}", postgres_conn_json(dsn_with_dbname(ADMIN_DSN, name)))


def start_simulator():
    """The simulator, unless a real `tracksolid_api` connection is configured."""
    if os.environ.get("AIRFLOW_CONN_TRACKSOLID_API"):
        print("tracksolid_api: using the configured connection (no simulator)")
        return None
    from tracksolid_simulator import Fleet, SimulatorConfig, SimulatorServer
    from tracksolid_simulator.airflow_conn import connection_json

    config = SimulatorConfig(devices=int(os.environ.get("DEMO_DEVICES", "160")), accounts=3, seed=1)
    server = SimulatorServer(Fleet(config), config)
    server.start(port=0)
    os.environ["AIRFLOW_CONN_TRACKSOLID_API"] = connection_json(server, max_requests_per_s=50.0, timeout_s=30.0)
    print(f"simulator: {server.url} ({config.devices} devices, {config.accounts} accounts)")
    return server


def start_object_store():
    if os.environ.get("AIRFLOW_CONN_FLEET_S3"):
        print("fleet_s3: using the configured connection")
        return None
    from fleet_dwh.objectstore import start_local_moto

    bucket = os.environ.setdefault("FLEET_S3_BUCKET", "fleet-dwh")
    server = start_local_moto(bucket, key="demo")
    host, port = server.get_host_and_port()
    print(f"object store: moto server http://{host}:{port}, bucket {bucket}")
    return server


def migrate_airflow_metadata() -> None:
    AIRFLOW_HOME.mkdir(parents=True, exist_ok=True)
    airflow = Path(sys.executable).with_name("airflow")
    subprocess.run([str(airflow), "db", "migrate"], check=True, capture_output=True)


@dataclass(frozen=True)
class Step:
    dag_id: str
    label: str
    test_kwargs: dict


EAT = timezone(timedelta(hours=3))


def previous_eat_day(now: datetime):
    return (now.astimezone(EAT) - timedelta(days=1)).date()


def write_vehicle_register(simulator) -> Path | None:
    """The operator's vehicle register (imei, city) that `drivers_import` applies: the platform knows no cities
    (`devices.assigned_city` is ours). With the simulator, its fleet's cities; with a real account, none."""
    if simulator is None:
        return None
    import csv

    path = AIRFLOW_HOME / "vehicle_register.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["imei", "city"])
        writer.writerows([d["imei"], d["assigned_city"]] for d in simulator.fleet.truth.devices())
    return path


def ingestion_plan(now: datetime, vehicle_register: Path | None = None) -> list[Step]:
    """Migrations and the endpoint DAGs: the previous full EAT day for the windowed endpoints (so the
    warehouse has a whole day to build), the present for devices and live positions; the vehicle register
    (cities) applied right after the device list."""
    today = now.astimezone(EAT).replace(hour=0, minute=0, second=0, microsecond=0)
    day_start, day_end = (today - timedelta(days=1)).astimezone(UTC), today.astimezone(UTC)
    window = {"start": day_start.isoformat(), "end": day_end.isoformat()}
    label = f"{day_start:%Y-%m-%d %H:%M} → {day_end:%Y-%m-%d %H:%M} UTC"
    steps = [
        Step("db_migrations", "both databases", {"run_conf": {"dry_run": False}}),
        Step("tracksolid_devices", "device list + detail", {"run_conf": {}}),
    ]
    if vehicle_register is not None:
        steps.append(Step("drivers_import", f"cities from {vehicle_register.name}",
                          {"run_conf": {"path": str(vehicle_register), "dry_run": False}}))
    steps += [
        Step("tracksolid_live_positions", f"last 5 min to {now:%H:%M} UTC",
             {"run_conf": {"start": (now - timedelta(minutes=5)).isoformat(), "end": now.isoformat()}}),
    ]
    steps += [Step(f"tracksolid_{name}", label, {"run_conf": window})
              for name in ("track_list", "trips", "parking", "alarms", "obd")]
    return steps


def warehouse_plan(now: datetime) -> list[Step]:
    """Bronze (everything ingested so far), then silver + gold for the previous EAT day."""
    return [
        Step("dwh_bronze", "extract → S3 → bronze", {"run_conf": {}}),
        Step("dwh_gold_refresh", f"silver + gold for {previous_eat_day(now)} (EAT)",
             {"run_conf": {"day": previous_eat_day(now).isoformat()}}),
    ]


def operations_plan(now: datetime) -> list[Step]:
    """What the operators see: fleet alerts on what was ingested, the API ↔ DB audit, the day's report."""
    day = previous_eat_day(now)
    return [
        Step("fleet_alerts", "silent / not moved / idling / SLA breaches", {"run_conf": {}}),
        Step("driver_audit", "API ↔ DB devices, drivers, plates", {"run_conf": {}}),
        Step("fleet_daily_report", f"report for {day} (EAT) → reports/{day}/", {"run_conf": {"day": day.isoformat()}}),
    ]


def save_report_copy(day) -> Path:
    """The stored report files, copied out of the object store into .airflow/demo/report/<day>/ to open."""
    from fleet_report.deliver import REPORTS_PREFIX, load_stored_report, report_store
    from fleet_report.render import write_files

    store = report_store()
    keys = store.list(f"{REPORTS_PREFIX}{day.isoformat()}/")
    target = AIRFLOW_HOME / "report" / day.isoformat()
    write_files(load_stored_report(keys, store), target)
    return target


def run_dags(steps: list[Step]) -> None:
    """Each step's DAG once, in order; stops at the first run that does not succeed."""
    from airflow.models.dagbag import DagBag

    from fleet_alerting import dagtest

    dagtest.install()  # dag.test() runs without the Deadline Alerts (fleet_alerting.dagtest says why)
    bag = DagBag(dag_folder=str(REPO / "dags"))
    if bag.import_errors:
        raise SystemExit(f"DAG import errors: {bag.import_errors}")
    for step in steps:
        dag = bag.get_dag(step.dag_id)
        if dag is None:
            raise SystemExit(f"DAG {step.dag_id} not found in dags/")
        started = time.monotonic()
        run = dag.test(**step.test_kwargs)
        print(f"  {step.dag_id:28} {step.label:46} {run.state} in {time.monotonic() - started:5.1f}s", flush=True)
        if run.state != "success":
            raise SystemExit(f"DAG {step.dag_id} ended {run.state}")


def push_traffic(simulator, now: datetime) -> None:
    """The simulator pushes to the webhook service in both formats, with 5 % replays: the last hour in the
    IoT-Hub format; alarms of the last 24 h in the Tracksolid Pro format (it carries alarms only, and an hour —
    at night — can hold none, which would test nothing). A format that produces no request stops the demo."""
    if simulator is None:
        return
    import secrets
    import threading

    from werkzeug.serving import make_server

    from tracksolid_simulator.push import send_push
    from webhook_service import WebhookConfig, create_app

    config = WebhookConfig(database_dsn=dsn_with_dbname(ADMIN_DSN, "tracksolid_db"),
                           iothub_tokens=(secrets.token_urlsafe(24),), pro_path_secret=secrets.token_urlsafe(16),
                           log_level="WARNING")
    server = make_server("127.0.0.1", 0, create_app(config), threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_port}"
    windows = {"iothub": timedelta(hours=1), "pro": timedelta(hours=24)}
    try:
        for fmt, url in (("iothub", base), ("pro", f"{base}/pro/{config.pro_path_secret}")):
            started = time.monotonic()
            requests = simulator.fleet.push_requests(now - windows[fmt], now, fmt=fmt, replay_ratio=0.05,
                                                     token=config.iothub_tokens[0])
            if not requests:
                raise SystemExit(f"the simulator produced no {fmt} push request for the last {windows[fmt]}")
            statuses = [status for status, _ in send_push(url, requests)]
            ok = statuses.count(200)
            print(f"  push ({fmt:6}) {len(requests):5} requests, {ok} acknowledged, "
                  f"{len(statuses) - ok} refused in {time.monotonic() - started:5.1f}s", flush=True)
            if ok != len(statuses):
                raise SystemExit(f"the webhook service refused {len(statuses) - ok} {fmt} push requests")
    finally:
        server.shutdown()


def print_what_landed(gold_day) -> None:
    import psycopg2

    from fleet_ingest.summary import fleet_summary, format_summary, table_counts

    banner("what landed: live database")
    conn = psycopg2.connect(dsn_with_dbname(ADMIN_DSN, "tracksolid_db"))
    try:
        print(format_summary(table_counts(conn), fleet_summary(conn)))
    finally:
        conn.close()
    banner("what landed: warehouse")
    from fleet_dwh.silver_gold import gold_summary
    from fleet_dwh.tables import TABLES

    conn = psycopg2.connect(dsn_with_dbname(ADMIN_DSN, "tracksolid_dwh"))
    try:
        with conn.cursor() as cur:
            print("Bronze rows per table:")
            for table in TABLES:
                cur.execute(f"SELECT count(*) FROM {table.qualified}")
                print(f"  {table.qualified:32} {cur.fetchone()[0]:>10,}")
        print(f"\nGold fleet totals for {gold_day} (EAT):")
        for row in gold_summary(conn, gold_day, gold_day):
            print("  " + " | ".join(f"{k}={v}" for k, v in row.items()))
    finally:
        conn.close()


def main() -> None:
    prepare_databases()
    banner("services")
    simulator = start_simulator()
    s3 = start_object_store()
    try:
        banner("airflow metadata (SQLite) and DAG runs")
        migrate_airflow_metadata()
        now = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=5)
        run_dags(ingestion_plan(now, write_vehicle_register(simulator)))
        banner("push: simulator → webhook service")
        push_traffic(simulator, now)
        banner("warehouse")
        run_dags(warehouse_plan(now))
        banner("operations: fleet alerts, driver audit, daily report")
        run_dags(operations_plan(now))
        print_what_landed(previous_eat_day(now))
        print(f"\nDaily report: {save_report_copy(previous_eat_day(now)) / 'fleet_report.html'}")
    finally:
        if simulator is not None:
            simulator.stop()
        if s3 is not None:
            s3.stop()


if __name__ == "__main__":
    main()
