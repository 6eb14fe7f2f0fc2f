"""
### Tracksolid track points (`jimi.device.track.list`) → `tracksolid.position_history`

Every 30 minutes over a 35-minute window (the documented 5-minute overlap): `track.list` once per IMEI
(the method takes one IMEI), looped inside each batch; windows over 7 days (backfills) are split by the
hook. Points land in `position_history` with source `track_list`; points already present (from poll,
push or an earlier run) are not duplicated (`ON CONFLICT (imei, gps_time) DO NOTHING`).
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

TABLE = "position_history"
SCHEDULE = "*/30 * * * *"
#: Minutes fetched before the data interval (see the doc above for why).
OVERLAP_MINUTES = 5


@dag(
    dag_id="tracksolid_track_list",
    **dag_alerting("tracksolid_track_list"),
    schedule=CronDataIntervalTimetable(SCHEDULE, timezone="UTC"),
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args=default_args(),
    params=window_params(),
    tags=["tracksolid", "ingest", "api", TABLE],
    doc_md=__doc__ + windowed_dag_doc(dag_id="tracksolid_track_list", fetch_task="fetch_track_list", table=TABLE,
                                      cron=SCHEDULE, overlap_minutes=OVERLAP_MINUTES),
)
def tracksolid_track_list():
    window = resolve_run_window(overlap_minutes=OVERLAP_MINUTES)
    batches = plan_batches()
    loaded = fetch_and_load.override(task_id="fetch_track_list", pool=API_POOL).partial(
        endpoint="track_list", window=window).expand(batch=batches)
    record_counts.override(outlets=[table_asset(TABLE)])(loaded, window=window, table=TABLE)


tracksolid_track_list()
