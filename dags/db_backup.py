"""Nightly pg_dump of both databases to the object store, retention, and a restore check (SPEC §9)."""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import CronTriggerTimetable, Param, dag, task

from fleet_alerting import dag_alerting, task_alerting

DATABASES = ["tracksolid_db", "tracksolid_dwh"]

DOC = """
### Database backups (SPEC §9)

Nightly at 01:30 EAT, for each of `tracksolid_db` and `tracksolid_dwh`:

1. **dump** — `pg_dump -Fc` inside an exported snapshot, streamed (no temporary file) into an S3 multipart
   upload at `backups/{db}/{YYYY-MM-DD}.dump` in bucket `fleet-db` (param `bucket`, else env
   `FLEET_BACKUP_BUCKET`); the row count of every table in the same snapshot goes to
   `backups/{db}/{YYYY-MM-DD}.json`, written last (a dump without it is incomplete and ignored).
   The date is the run's logical date in EAT.
2. **restore_check** — restores the newest complete dump into a scratch database with a unique name
   (`restore_check_<db>_<random>`, dropped afterwards) and compares the row count of every table with the
   manifest. A failure fails the task, whose failure callback (`fleet_alerting`) sends the alert.
3. **retention** — only after a passed check: keeps the newest `keep_daily` backups (default 14, env
   `FLEET_BACKUP_KEEP_DAILY`) plus the newest backup of each of the `keep_weekly` (8, env
   `FLEET_BACKUP_KEEP_WEEKLY`) older ISO weeks; deletes the rest (dump and manifest).

Connections: `<db>_admin` when it exists (a role that reads every table and may create databases), else
`<db>`; `fleet_s3` for the store. pg_dump / pg_restore come from `FLEET_PG_BIN_DIR` or PATH and must be at
least the server's version (docker/airflow.Dockerfile installs the PostgreSQL 16 client).
Restore a backup by hand: docs/OPERATIONS.md.
"""


def _int_env(name: str, default: int) -> int:
    import os

    return int(os.environ.get(name) or default)


@dag(
    dag_id="db_backup",
    schedule=CronTriggerTimetable("30 1 * * *", timezone="Africa/Nairobi"),
    start_date=pendulum.datetime(2026, 1, 1, tz="Africa/Nairobi"),
    catchup=False,
    max_active_runs=1,
    doc_md=DOC,
    **dag_alerting("db_backup"),
    tags=["tracksolid", "ops", "backup"],
    default_args={"owner": "data-engineering", "retries": 1, "retry_delay": timedelta(minutes=10),
                  **task_alerting(timedelta(hours=2))},
    params={
        "databases": Param(DATABASES, type="array", items={"type": "string", "enum": DATABASES},
                           description="Databases to back up"),
        "bucket": Param(None, type=["null", "string"], description="Bucket (default: FLEET_BACKUP_BUCKET, fleet-db)"),
        "keep_daily": Param(_int_env("FLEET_BACKUP_KEEP_DAILY", 14), type="integer", minimum=1),
        "keep_weekly": Param(_int_env("FLEET_BACKUP_KEEP_WEEKLY", 8), type="integer", minimum=0),
    },
)
def db_backup():
    def _store(params: dict):
        import os

        from fleet_dwh.objectstore import ObjectStore
        from fleet_ops.backup import DEFAULT_BUCKET

        return ObjectStore.from_connection(
            bucket=params.get("bucket") or os.environ.get("FLEET_BACKUP_BUCKET") or DEFAULT_BUCKET)

    @task
    def databases(params: dict | None = None) -> list[str]:
        return list((params or {}).get("databases") or DATABASES)

    @task(map_index_template="{{ database }}")
    def dump(database: str, params: dict | None = None, logical_date=None) -> str:
        """pg_dump one database into the store; returns the database for the next step."""
        from fleet_ops.backup import dump_database
        from fleet_ops.pg import admin_conn_id, target_from_connection

        day = (pendulum.instance(logical_date) if logical_date else pendulum.now("UTC")).in_tz("Africa/Nairobi")
        target = target_from_connection(admin_conn_id(database))
        dump_database(target, _store(params or {}), day.date(), name=database)
        return database

    @task(multiple_outputs=False, map_index_template="{{ database }}")
    def restore_check(database: str, params: dict | None = None) -> dict:
        """Restore the newest backup into a scratch database and compare row counts. A failure raises
        RestoreCheckFailed; the task's failure callback (fleet_alerting) sends the alert with its message."""
        from fleet_ops.backup import restore_check as check
        from fleet_ops.pg import admin_conn_id, target_from_connection

        result = check(target_from_connection(admin_conn_id(database)), _store(params or {}), database)
        return {"database": result.database, "day": result.day, "tables": result.compared}

    @task(multiple_outputs=False, map_index_template="{{ checked['database'] }}")
    def retention(checked: dict, params: dict | None = None) -> dict:
        """Delete backups the retention does not keep (after a passed restore check only)."""
        from fleet_ops import retention as keep

        params = params or {}
        return keep.apply(_store(params), checked["database"], int(params.get("keep_daily") or 14),
                          int(params.get("keep_weekly") if params.get("keep_weekly") is not None else 8))

    retention.expand(checked=restore_check.expand(database=dump.expand(database=databases())))


db_backup()
