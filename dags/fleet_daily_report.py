"""
### Daily fleet report (SPEC §9) → `reports/{local_day}/` in the object store, and by mail

Runs when the warehouse's gold facts are refreshed (the `tracksolid_dwh.gold.fact_daily_fleet_metrics`
Asset emitted by `dwh_gold_refresh`), not on a clock: the report never reads a half-built day.

1. **resolve_day** — the `day` param of a manual run; else the newest day the triggering gold events name;
   else yesterday in Africa/Nairobi.
2. **build_report** — reads the day from `tracksolid_dwh` (gold facts per vehicle, silver tracks, bronze
   alarms, silent devices at the day's end), renders one page per city and a fleet summary — track maps drawn
   without a tile server, km / idle / utilisation per vehicle, not-moved list, top alarms, silent devices — as
   `fleet_report.html` (self-contained), one PNG per page and `fleet_report.pdf`, and stores them under
   `reports/{day}/` (replacing a previous run's files of that day).
3. **email_report** — sends the HTML with the files attached through the SMTP connection
   `FLEET_REPORT_SMTP_CONN_ID` (default `fleet_smtp`) to `FLEET_REPORT_EMAIL_TO` or the connection's extra
   `to`; skipped, with a log line, when no such connection exists.

Connections: `tracksolid_dwh`, `fleet_s3` (bucket `FLEET_REPORT_BUCKET`, else the warehouse bucket), optional
`fleet_smtp`. Re-render a day: trigger with `{"day": "2026-03-02"}`.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import Param, dag, task

from fleet_alerting import dag_alerting, task_alerting
from fleet_dwh.assets import GOLD_DAILY_METRICS


@dag(
    dag_id="fleet_daily_report",
    schedule=[GOLD_DAILY_METRICS],
    start_date=pendulum.datetime(2026, 1, 1, tz="Africa/Nairobi"),
    catchup=False,
    max_active_runs=1,
    default_args={"owner": "fleet-ops", "retries": 2, "retry_delay": timedelta(minutes=5), **task_alerting()},
    params={"day": Param(None, type=["null", "string"], format="date",
                         description="Local day (Africa/Nairobi) to report on; empty: the refreshed day")},
    tags=["tracksolid", "warehouse", "report", "gold"],
    doc_md=__doc__,
    **dag_alerting("fleet_daily_report"),
)
def fleet_daily_report():
    @task
    def resolve_day(params: dict | None = None, triggering_asset_events=None) -> str:
        """The local day this run reports on."""
        from fleet_report.data import report_day

        extras = [dict(event.extra or {}) for events in (triggering_asset_events or {}).values()
                  for event in events]
        return report_day((params or {}).get("day"), extras).isoformat()

    @task(multiple_outputs=False, execution_timeout=timedelta(minutes=20))
    def build_report(day: str) -> dict:
        """Render the day's report and store every file under ``reports/{day}/``."""
        from datetime import date

        from fleet_dwh.connections import connect
        from fleet_report.data import load_report_data
        from fleet_report.deliver import store_report
        from fleet_report.render import render_report

        local_day = date.fromisoformat(day)
        dwh = connect("tracksolid_dwh")
        try:
            data = load_report_data(dwh, local_day)
        finally:
            dwh.close()
        files = render_report(data)
        keys = store_report(files, local_day)
        return {"day": day, "keys": keys, "vehicles": len(data.vehicles), "cities": data.cities,
                "not_moved": len(data.not_moved), "silent": len(data.silent)}

    @task(execution_timeout=timedelta(minutes=5))
    def email_report(built: dict) -> list[str]:
        """Mail the stored report when an SMTP connection is configured."""
        from datetime import date

        from fleet_report.deliver import email_report as send
        from fleet_report.deliver import load_stored_report

        return send(load_stored_report(built["keys"]), date.fromisoformat(built["day"]), built["keys"])

    email_report(build_report(resolve_day()))


fleet_daily_report()
