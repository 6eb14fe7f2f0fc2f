"""
### Tracksolid OBD readings (`jimi.device.obd.list`) → `tracksolid.obd_readings`

Every 15 minutes: `obd.list` per account target and ≤ 50-IMEI batch, paged; odometer km, fuel, RPM,
coolant, battery voltage and the raw item; key `(imei, reading_time)` (a reading already stored from
`/pushobd` is kept).
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

TABLE = "obd_readings"
SCHEDULE = "*/15 * * * *"
#: Minutes fetched before the data interval (see the doc above for why).
OVERLAP_MINUTES = 0


@dag(
    dag_id="tracksolid_obd",
    **dag_alerting("tracksolid_obd"),
    schedule=CronDataIntervalTimetable(SCHEDULE, timezone="UTC"),
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args=default_args(),
    params=window_params(),
    tags=["tracksolid", "ingest", "api", TABLE],
    doc_md=__doc__ + windowed_dag_doc(dag_id="tracksolid_obd", fetch_task="fetch_obd", table=TABLE,
                                      cron=SCHEDULE, overlap_minutes=OVERLAP_MINUTES),
)
def tracksolid_obd():
    window = resolve_run_window(overlap_minutes=OVERLAP_MINUTES)
    batches = plan_batches()
    loaded = fetch_and_load.override(task_id="fetch_obd", pool=API_POOL).partial(
        endpoint="obd", window=window).expand(batch=batches)
    record_counts.override(outlets=[table_asset(TABLE)])(loaded, window=window, table=TABLE)


tracksolid_obd()
