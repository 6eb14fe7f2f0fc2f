"""Airflow's own upkeep: purge old metadata rows and old task log files (daily)."""

from __future__ import annotations

import os
from datetime import timedelta

import pendulum
from airflow.sdk import CronTriggerTimetable, Param, dag, task

from fleet_alerting import dag_alerting, task_alerting

DOC = """
### Airflow metadata and log upkeep

The endpoint DAGs create ≈ 2,000 DAG runs and > 10,000 task instances a day. Daily at 02:30 UTC:

1. **db_clean** — `airflow db clean --clean-before-timestamp <now - keep_days> --skip-archive` on the
   tables in `fleet_ops.airflow_upkeep.DEFAULT_TABLES` (runs, task instances and their history,
   reschedules, XComs, the `log` audit table, jobs, callbacks, deadlines, triggers, Celery results).
   Airflow keeps the newest run of every DAG.
2. **clean_logs** — deletes task log files older than `log_keep_days` under `[logging] base_log_folder`
   (the `airflow-logs` volume every service shares in docker-compose.yaml), then empty folders.

Params: `keep_days` (default env `FLEET_AIRFLOW_KEEP_DAYS`, else 30), `log_keep_days` (default env
`FLEET_AIRFLOW_LOG_KEEP_DAYS`, else 14), `dry_run` (report counts, delete nothing).
"""


@dag(
    dag_id="airflow_db_cleanup",
    schedule=CronTriggerTimetable("30 2 * * *", timezone="UTC"),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    doc_md=DOC,
    **dag_alerting("airflow_db_cleanup"),
    tags=["ops", "airflow", "maintenance"],
    default_args={"owner": "data-engineering", "retries": 1, "retry_delay": timedelta(minutes=15),
                  **task_alerting(timedelta(hours=1))},
    params={
        "keep_days": Param(int(os.environ.get("FLEET_AIRFLOW_KEEP_DAYS") or 30), type="integer", minimum=1,
                           description="Purge metadata rows older than this many days"),
        "log_keep_days": Param(int(os.environ.get("FLEET_AIRFLOW_LOG_KEEP_DAYS") or 14), type="integer",
                               minimum=1, description="Delete task log files older than this many days"),
        "dry_run": Param(False, type="boolean", description="Report what would be purged, delete nothing"),
    },
)
def airflow_db_cleanup():
    @task(multiple_outputs=False)
    def db_clean(params: dict | None = None) -> str:
        """Purge metadata rows older than keep_days with `airflow db clean`."""
        from fleet_ops.airflow_upkeep import db_clean as purge

        params = params or {}
        cutoff = pendulum.now("UTC") - timedelta(days=int(params.get("keep_days") or 30))
        purge(cutoff, dry_run=bool(params.get("dry_run")))
        return cutoff.isoformat()

    @task(multiple_outputs=False)
    def clean_logs(params: dict | None = None) -> dict:
        """Delete task log files older than log_keep_days."""
        from airflow.configuration import conf

        from fleet_ops.airflow_upkeep import clean_logs as purge_logs

        params = params or {}
        cutoff = pendulum.now("UTC") - timedelta(days=int(params.get("log_keep_days") or 14))
        return purge_logs(conf.get("logging", "base_log_folder"), cutoff, dry_run=bool(params.get("dry_run")))

    db_clean() >> clean_logs()


airflow_db_cleanup()
