"""
### Tracksolid live positions (`jimi.user.device.location.list` + `jimi.device.location.get`)
→ `tracksolid.live_positions` and `tracksolid.position_history`

Every minute:

1. **poll_positions** — mapped per account target (pool `tracksolid_api`): `location.list`; each fix
   replaces the device's `live_positions` row only when its `gps_time` is newer, and is kept in
   `position_history` (source `poll`, never duplicated) — both in one transaction. Returns the target's
   active devices the list silently omitted;
2. **fetch_missing_positions** — mapped per *target × ≤ 50-IMEI batch* of those: `location.get`, loaded the
   same way (no instance at all when nothing was omitted);
3. **record_counts** — logs the counts and emits the `tracksolid_db.tracksolid.live_positions` asset.

Positions are a snapshot of "now": the data interval is checked and recorded, not used to filter.
`max_active_runs=1` keeps a slow minute from overlapping the next. Params `targets`, `imeis` narrow a
manual run.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import CronDataIntervalTimetable, dag

from fleet_alerting import dag_alerting
from fleet_ingest.assets import table_asset
from fleet_ingest.tasks import (
    API_POOL,
    default_args,
    fetch_and_load,
    plan_missing_batches,
    poll_positions,
    record_counts,
    resolve_run_window,
    resolve_targets,
    window_params,
)

TABLE = "live_positions"


@dag(
    dag_id="tracksolid_live_positions",
    **dag_alerting("tracksolid_live_positions"),
    schedule=CronDataIntervalTimetable("* * * * *", timezone="UTC"),
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    # A run every minute: a stuck call must not hold the next runs back for long.
    default_args=default_args(retries=1, execution_timeout=timedelta(minutes=4)),
    params=window_params(),
    tags=["tracksolid", "ingest", "api", TABLE, "position_history"],
    doc_md=__doc__,
)
def tracksolid_live_positions():
    window = resolve_run_window()
    targets = resolve_targets()
    window >> targets
    polled = poll_positions.override(pool=API_POOL, priority_weight=10).expand(target=targets)
    batches = plan_missing_batches(polled)
    fetched = fetch_and_load.override(task_id="fetch_missing_positions", pool=API_POOL, priority_weight=10).partial(
        endpoint="missing_positions").expand(batch=batches)
    record_counts.override(outlets=[table_asset(TABLE), table_asset("position_history")])(
        fetched, window=window, extra=polled, table=TABLE)


tracksolid_live_positions()
