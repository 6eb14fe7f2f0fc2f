"""
### Tracksolid trips (`jimi.device.track.mileage`) → `tracksolid.trips`

Every 15 minutes: `track.mileage` per ≤ 50-IMEI batch, paged; `distance` metres ÷ 1000 = `distance_km`; upsert on
`(imei, start_time)`. The API reports a trip only once it has ended, under its start time: each run
therefore also re-reads the 3 hours before its interval, so a trip in progress at one run is picked up by a
later one (the upsert makes the overlap free of duplicates).
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

TABLE = "trips"
SCHEDULE = "*/15 * * * *"
#: Minutes fetched before the data interval (see the doc above for why).
OVERLAP_MINUTES = 180


@dag(
    dag_id="tracksolid_trips",
    **dag_alerting("tracksolid_trips"),
    schedule=CronDataIntervalTimetable(SCHEDULE, timezone="UTC"),
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args=default_args(),
    params=window_params(),
    tags=["tracksolid", "ingest", "api", TABLE],
    doc_md=__doc__ + windowed_dag_doc(dag_id="tracksolid_trips", fetch_task="fetch_trips", table=TABLE,
                                      cron=SCHEDULE, overlap_minutes=OVERLAP_MINUTES),
)
def tracksolid_trips():
    window = resolve_run_window(overlap_minutes=OVERLAP_MINUTES)
    batches = plan_batches()
    loaded = fetch_and_load.override(task_id="fetch_trips", pool=API_POOL).partial(
        endpoint="trips", window=window).expand(batch=batches)
    record_counts.override(outlets=[table_asset(TABLE)])(loaded, window=window, table=TABLE)


tracksolid_trips()
