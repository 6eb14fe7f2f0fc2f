"""
### Tracksolid parking and idling (`jimi.open.platform.report.parking`) → `tracksolid.parking_events`

Every 15 minutes: `report.parking` per account target with that target's IMEIs (≤ 50 per call), for
`acc_type` off (parking) and on (idling), paged; `duration_s` from `durSecond`; upsert on
`(imei, start_time, acc_type)`. The report lists an event only once it has ended, under its start time,
and a parking spell can last a whole weekend: each run re-reads the 3 days before its interval.
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

TABLE = "parking_events"
SCHEDULE = "*/15 * * * *"
#: Minutes fetched before the data interval (see the doc above for why).
OVERLAP_MINUTES = 4320


@dag(
    dag_id="tracksolid_parking",
    **dag_alerting("tracksolid_parking"),
    schedule=CronDataIntervalTimetable(SCHEDULE, timezone="UTC"),
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args=default_args(),
    params=window_params(),
    tags=["tracksolid", "ingest", "api", TABLE],
    doc_md=__doc__ + windowed_dag_doc(dag_id="tracksolid_parking", fetch_task="fetch_parking", table=TABLE,
                                      cron=SCHEDULE, overlap_minutes=OVERLAP_MINUTES),
)
def tracksolid_parking():
    window = resolve_run_window(overlap_minutes=OVERLAP_MINUTES)
    batches = plan_batches()
    loaded = fetch_and_load.override(task_id="fetch_parking", pool=API_POOL).partial(
        endpoint="parking", window=window).expand(batch=batches)
    record_counts.override(outlets=[table_asset(TABLE)])(loaded, window=window, table=TABLE)


tracksolid_parking()
