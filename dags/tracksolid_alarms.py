"""
### Tracksolid alarms (`jimi.device.alarm.list`) → `tracksolid.alarms`

Every 5 minutes: `alarm.list` per ≤ 50-IMEI batch, paged (page_size ≤ 100), windows over a month split
and a window hitting the 1000-row cap halved (by the hook); the name comes from `alarmTypeName`. Alarms
already stored (e.g. from push) are kept: key `(imei, alarm_type, alarm_time)`.

Shape: **resolve_run_window** + **plan_batches** (each account target's active IMEIs from
`tracksolid.devices`, in batches of ≤ 50) → **fetch_alarms**, one mapped instance per *target × batch* in the
`tracksolid_api` pool → **record_counts**, which logs the counts and emits the
`tracksolid_db.tracksolid.alarms` asset.
Schedule `*/5 * * * *` (UTC) with a real data interval: each run covers
`[data_interval_start - 0 min, data_interval_end)`, so re-runs and `airflow backfill create --dag-id
tracksolid_alarms --from-date … --to-date …` are exact and idempotent. Manual runs: params `start`/`end`
(ISO-8601), `targets`, `imeis`; a run with neither a data interval nor start/end fails with a clear message.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import CronDataIntervalTimetable, dag

from fleet_ingest.assets import table_asset
from fleet_ingest.tasks import (
    API_POOL,
    default_args,
    fetch_and_load,
    plan_batches,
    record_counts,
    resolve_run_window,
    window_params,
)

TABLE = "alarms"
#: Minutes fetched before the data interval (see the doc above for why).
OVERLAP_MINUTES = 0


@dag(
    dag_id="tracksolid_alarms",
    schedule=CronDataIntervalTimetable("*/5 * * * *", timezone="UTC"),
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args=default_args(),
    params=window_params(),
    tags=["tracksolid", "ingest", "api", TABLE],
    doc_md=__doc__,
)
def tracksolid_alarms():
    window = resolve_run_window(overlap_minutes=OVERLAP_MINUTES)
    batches = plan_batches()
    loaded = fetch_and_load.override(task_id="fetch_alarms", pool=API_POOL).partial(
        endpoint="alarms", window=window).expand(batch=batches)
    record_counts.override(outlets=[table_asset(TABLE)])(loaded, window=window, table=TABLE)


tracksolid_alarms()
