"""Daily driver / vehicle audit: the Tracksolid device lists against tracksolid.devices."""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import CronTriggerTimetable, dag, task

from fleet_alerting import dag_alerting, task_alerting

DOC = """
### Driver audit (SPEC §9)

Daily at 07:00 EAT: `jimi.user.device.list` for every account target of `tracksolid_api` (through
`TracksolidHook`) against `tracksolid.devices`. Findings — `missing_in_db`, `missing_in_api`,
`missing_driver_name`, `missing_plate`, `never_reported` — are stored per run in
`ops.driver_audit_findings`; `ops.v_driver_audit_latest` (Pipeline health dashboard) shows the latest run.
Fix names and plates with the `drivers_import` DAG (or in the Tracksolid platform).
"""


@dag(
    dag_id="driver_audit",
    schedule=CronTriggerTimetable("0 7 * * *", timezone="Africa/Nairobi"),
    start_date=pendulum.datetime(2026, 1, 1, tz="Africa/Nairobi"),
    catchup=False,
    max_active_runs=1,
    doc_md=DOC,
    **dag_alerting("driver_audit"),
    tags=["tracksolid", "ops", "drivers"],
    default_args={"owner": "data-engineering", "retries": 2, "retry_delay": timedelta(minutes=5),
                  **task_alerting()},
)
def driver_audit():
    @task(multiple_outputs=False, pool="tracksolid_api")
    def audit(run_id: str | None = None) -> dict:
        """Compare the API's device lists with the database; store the findings."""
        from fleet_dwh.connections import connect
        from fleet_ops import audit as driver_audit_
        from tracksolid_hook import TracksolidHook

        hook = TracksolidHook()
        conn = connect("tracksolid_db")
        try:
            return driver_audit_.run(conn, hook, run_id)
        finally:
            conn.close()
            hook.close()

    audit()


driver_audit()
