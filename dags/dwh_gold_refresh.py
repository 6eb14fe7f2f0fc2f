"""Warehouse silver + gold: rebuild segments, trips, stops, idle, geofence visits and the daily facts."""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import Param, dag, task

from fleet_alerting import dag_alerting, task_alerting
from fleet_dwh.assets import GOLD_DAILY_METRICS, SILVER_INPUTS

DOC = """
### Warehouse silver + gold refresh (SPEC §3, ALGORITHMS.md)

Runs on data, not on the clock: scheduled on the bronze Assets of the tables silver is built from
(`fleet_dwh.assets.SILVER_INPUTS`: `bronze_devices`, `bronze_position_history`, `bronze_alarms`) — a run starts
once **all** of them were loaded since the previous refresh, i.e. after each complete bronze run (05:00–23:00
EAT). Each run refreshes the **previous local day** (Africa/Nairobi) plus every day whose bronze fixes or
alarms arrived after its last build (late data, keyed on `_loaded_at`). When it refreshed days it emits the
gold Asset `tracksolid_dwh.gold.fact_daily_fleet_metrics` (`fleet_dwh.assets.GOLD_DAILY_METRICS`, extra
`{"days": [...]}`), which the daily report schedules on. Deadline: done within 45 min of being queued (the
05:00 bronze run → gold by ≈ 06:00 EAT; `FLEET_DEADLINES` changes it).

* **plan_days** — the target day (the local date the run was due, minus one; or params `day` / `first_day`..`last_day`)
  plus stale days (`include_stale`, looking back `stale_max_age_days`).
* **refresh_day** (mapped over the days) — one transaction per day: silver from the day's bronze fixes
  (`fleet_dwh.segments`: cleaning with rejected fixes kept in `silver.rejected_fixes`, segments summing to
  86 400 s per device, trips, stops, idle spells, geofence visits, overspeed episodes; `silver.fixes` is the
  view of the cleaned fixes) then `gold.refresh_daily_metrics(day)` (`gold.fact_daily_fleet_metrics`,
  `gold.fact_driver_daily_behaviour`).
  Idempotent: rerunning a day replaces it.
* **summarise** — logs fleet totals per refreshed day.

Backfill: trigger a run with `first_day`/`last_day` (an Asset-scheduled DAG has no dates to backfill).
Connection: `tracksolid_dwh`.
"""


@dag(
    dag_id="dwh_gold_refresh",
    **dag_alerting("dwh_gold_refresh"),
    schedule=SILVER_INPUTS,
    start_date=pendulum.datetime(2026, 1, 1, tz="Africa/Nairobi"),
    catchup=False,
    max_active_runs=1,
    doc_md=DOC,
    tags=["tracksolid", "warehouse", "silver", "gold"],
    default_args={"owner": "data-engineering", "retries": 2, "retry_delay": timedelta(minutes=5),
                  **task_alerting(timedelta(minutes=30))},
    params={
        "day": Param(None, type=["null", "string"], format="date", description="Refresh this local day only"),
        "first_day": Param(None, type=["null", "string"], format="date", description="Range start (with last_day)"),
        "last_day": Param(None, type=["null", "string"], format="date", description="Range end (inclusive)"),
        "include_stale": Param(True, type="boolean", description="Also rebuild days that received late data"),
        "stale_max_age_days": Param(30, type="integer", minimum=0, description="Oldest stale day rebuilt"),
    },
)
def dwh_gold_refresh():
    @task
    def plan_days(params: dict | None = None, logical_date=None, dag_run=None) -> list[str]:
        """Target days of this run plus the days that received late data since their last build."""
        from fleet_dwh import silver_gold
        from fleet_dwh.connections import connect

        params = params or {}
        if params.get("day"):
            targets = [silver_gold.parse_day(params["day"])]
        elif params.get("first_day") or params.get("last_day"):
            if not (params.get("first_day") and params.get("last_day")):
                raise ValueError("give both first_day and last_day (or neither)")
            targets = silver_gold.day_range(silver_gold.parse_day(params["first_day"]),
                                            silver_gold.parse_day(params["last_day"]))
        else:
            # Asset-triggered and manual runs have no logical date: the day before the run was due.
            moment = logical_date or getattr(dag_run, "run_after", None) or pendulum.now("UTC")
            targets = [silver_gold.local_day_of(moment) - timedelta(days=1)]
        dwh = connect("tracksolid_dwh")
        try:
            days = silver_gold.plan_days(dwh, targets, bool(params.get("include_stale", True)),
                                         int(params.get("stale_max_age_days") or 30))
        finally:
            dwh.close()
        print(f"targets {[d.isoformat() for d in targets]} -> refreshing {days}")
        return days

    @task(multiple_outputs=False, map_index_template="{{ day }}")
    def refresh_day(day: str) -> dict:
        """Rebuild silver and refresh gold for one local day in one transaction."""
        from fleet_dwh import silver_gold
        from fleet_dwh.connections import connect

        dwh = connect("tracksolid_dwh")
        try:
            return silver_gold.refresh_day(dwh, day)
        finally:
            dwh.close()

    @task(outlets=[GOLD_DAILY_METRICS])
    def summarise(results: list[dict], outlet_events=None) -> list[dict]:
        """Log the gold fleet totals of the refreshed days; the gold Asset event lists them."""
        from fleet_dwh import silver_gold
        from fleet_dwh.connections import connect
        from fleet_ingest.mapped import all_results

        days = sorted(silver_gold.parse_day(r["day"]) for r in all_results(results))
        if outlet_events is not None:
            outlet_events[GOLD_DAILY_METRICS].extra = {"days": [d.isoformat() for d in days]}
        if not days:
            return []
        dwh = connect("tracksolid_dwh")
        try:
            summary = silver_gold.gold_summary(dwh, days[0], days[-1])
        finally:
            dwh.close()
        for row in summary:
            print(" | ".join(f"{k}={v}" for k, v in row.items()))
        return [{k: str(v) for k, v in row.items()} for row in summary]

    summarise(refresh_day.expand(day=plan_days()))


dwh_gold_refresh()
