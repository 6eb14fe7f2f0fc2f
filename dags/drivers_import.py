"""Driver / vehicle CSV import (manual trigger; dry run by default)."""

from __future__ import annotations

import pendulum
from airflow.sdk import Param, dag, task

from fleet_alerting import dag_alerting, task_alerting

DOC = """
### Driver / vehicle import (SPEC §9)

Trigger with a CSV **from a path** on the workers (`path`) **or an object key** (`key`, in `bucket`, default
`FLEET_S3_BUCKET`). Columns (header required): `imei` and any of `plate`, `vehicle_name`, `vehicle_model`,
`driver_name`, `driver_phone`, `city`; an empty cell leaves the field unchanged.

* `dry_run` (**default true**): the log lists, per line, each device that would be inserted or which fields
  would change (old → new); nothing is written.
* `dry_run: false`: the valid rows are upserted into `tracksolid.devices` in one transaction.
* Bad rows (IMEI not 15 digits / bad check digit, malformed plate or phone, unknown city, duplicate IMEI,
  wrong field count) are listed with their line number and reason and never written.

Note: fields the Tracksolid device list also carries (plate, vehicle, driver) are overwritten by the next
`tracksolid_devices` sync when the platform has a value; keep the platform in step (docs/OPERATIONS.md).
Rules: `include/fleet_ops/drivers.py`.
"""


@dag(
    dag_id="drivers_import",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    doc_md=DOC,
    **dag_alerting("drivers_import"),  # manual only: no deadline
    tags=["tracksolid", "ops", "drivers"],
    default_args={"owner": "data-engineering", "retries": 0, **task_alerting()},
    params={
        "path": Param(None, type=["null", "string"], description="CSV file path on the worker"),
        "key": Param(None, type=["null", "string"], description="CSV object key in the bucket"),
        "bucket": Param(None, type=["null", "string"], description="Bucket for 'key' (default FLEET_S3_BUCKET)"),
        "dry_run": Param(True, type="boolean", description="Report what would change, write nothing"),
    },
)
def drivers_import():
    @task(multiple_outputs=False)
    def import_csv(params: dict | None = None) -> dict:
        """Validate the CSV, report bad rows by line, and (unless dry_run) upsert the valid rows."""
        from fleet_dwh.connections import connect
        from fleet_dwh.objectstore import ObjectStore
        from fleet_ops import drivers

        params = params or {}
        store = ObjectStore.from_connection(bucket=params.get("bucket")) if params.get("key") else None
        text = drivers.read_source(params.get("path"), params.get("key"), store)
        conn = connect("tracksolid_db")
        try:
            return drivers.run(conn, text, dry_run=params.get("dry_run", True) is not False)
        finally:
            conn.close()

    import_csv()


drivers_import()
