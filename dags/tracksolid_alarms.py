"""
### Tracksolid alarms (`jimi.device.alarm.list`) → `tracksolid.alarms`

Every 5 minutes: `alarm.list` per ≤ 50-IMEI batch, paged (page_size ≤ 100), windows over a month split
and a window hitting the 1000-row cap halved (by the hook); the name comes from `alarmTypeName`. Alarms
already stored (e.g. from push) are kept: key `(imei, alarm_type, alarm_time)`.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import CronDataIntervalTimetable, dag

from fleet_alerting import dag_alerting
from fleet_ingest.assets import table_asset
from fleet_ingest.docs import windowed_dag_doc
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
SCHEDULE = "*/5 * * * *"
#: Minutes fetched before the data interval (see the doc above for why).
OVERLAP_MINUTES = 0


@dag(
    dag_id="tracksolid_alarms",
    **dag_alerting("tracksolid_alarms"),
    schedule=CronDataIntervalTimetable(SCHEDULE, timezone="UTC"),
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args=default_args(),
    params=window_params(),
    tags=["tracksolid", "ingest", "api", TABLE],
    doc_md=__doc__ + windowed_dag_doc(dag_id="tracksolid_alarms", fetch_task="fetch_alarms", table=TABLE,
                                      cron=SCHEDULE, overlap_minutes=OVERLAP_MINUTES),
)
def tracksolid_alarms():
    window = resolve_run_window(overlap_minutes=OVERLAP_MINUTES)
    batches = plan_batches()
    loaded = fetch_and_load.override(task_id="fetch_alarms", pool=API_POOL).partial(
        endpoint="alarms", window=window).expand(batch=batches)
    record_counts.override(outlets=[table_asset(TABLE)])(loaded, window=window, table=TABLE)


tracksolid_alarms()
