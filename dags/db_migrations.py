"""Apply the numbered SQL migrations of both databases (manual trigger)."""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import Param, dag, task

from fleet_alerting import dag_alerting, task_alerting

DOC = """
### Database migrations

Applies the numbered, checksummed SQL files under `include/sql/migrations/<database>/` to
`tracksolid_db` and `tracksolid_dwh` (Airflow connections of the same names), each file in its own
transaction, recorded in `public.schema_migrations`.

* **dry_run** (default off): list the pending files, apply nothing.
* A file edited after it was applied stops the run with an error naming the file — add a new file instead.
* A PostgreSQL advisory lock makes concurrent runs (or a run beside `make demo`) safe.
* DDL needs the owning role: when a connection `<database>_admin` exists (e.g. `tracksolid_db_admin`) it is
  used, otherwise `<database>` itself — in production the latter is the least-privilege writer role.
"""


@dag(
    dag_id="db_migrations",
    **dag_alerting("db_migrations"),  # manual only: no deadline unless FLEET_DEADLINES names it
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    doc_md=DOC,
    tags=["tracksolid", "database", "migrations"],
    default_args={"owner": "data-engineering", "retries": 0, **task_alerting(timedelta(hours=1))},
    params={"dry_run": Param(False, type="boolean", description="List pending migrations, apply nothing")},
)
def db_migrations():
    @task(retries=0)
    def migrate_database(database: str, params: dict | None = None) -> list[str]:
        """Apply (or, in a dry run, list) the pending migrations of one database."""
        from airflow.providers.postgres.hooks.postgres import PostgresHook
        from airflow.sdk import BaseHook
        from airflow.sdk.exceptions import AirflowNotFoundException

        from fleet_db.migrations import migrate

        dry_run = bool((params or {}).get("dry_run"))
        conn_id = f"{database}_admin"
        try:
            BaseHook.get_connection(conn_id)
        except AirflowNotFoundException:
            conn_id = database
        print(f"{database}: migrating through connection {conn_id!r}")
        conn = PostgresHook(postgres_conn_id=conn_id).get_conn()
        try:
            outcomes = migrate(conn, database, dry_run=dry_run)
        finally:
            conn.close()
        lines = [f"{o.status} {o.migration.filename}" for o in outcomes]
        print(f"{database}: " + ("; ".join(lines) if lines else "up to date"))
        return lines

    # The live database first: the warehouse reads from it.
    migrate_database.override(task_id="migrate_tracksolid_db")("tracksolid_db") >> migrate_database.override(
        task_id="migrate_tracksolid_dwh"
    )("tracksolid_dwh")


db_migrations()
