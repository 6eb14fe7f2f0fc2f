"""
### Tracksolid track points (`jimi.device.track.list`) → `tracksolid.position_history`

Every 30 minutes over a 35-minute window (the documented 5-minute overlap): `track.list` once per IMEI
(the method takes one IMEI), looped inside each batch; windows over 7 days (backfills) are split by the
hook. Points land in `position_history` with source `track_list`; points already present (from poll,
push or an earlier run) are not duplicated (`ON CONFLICT (imei, gps_time) DO NOTHING`).

Shape: **resolve_run_window** + **plan_batches** (each account target's active IMEIs from
`tracksolid.devices`, in batches of ≤ 50) → **fetch_track_list**, one mapped instance per *target × batch* in the
`tracksolid_api` pool → **record_counts**, which logs the counts and emits the
`tracksolid_db.tracksolid.position_history` asset.
Schedule `*/30 * * * *` (UTC) with a real data interval: each run covers
`[data_interval_start - 5 min, data_interval_end)`, so re-runs and `airflow backfill create --dag-id
tracksolid_track_list --from-date … --to-date …` are exact and idempotent. Manual runs: params `start`/`end`
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

TABLE = "position_history"
#: Minutes fetched before the data interval (see the doc above for why).
OVERLAP_MINUTES = 5


@dag(
    dag_id="tracksolid_track_list",
    schedule=CronDataIntervalTimetable("*/30 * * * *", timezone="UTC"),
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args=default_args(),
    params=window_params(),
    tags=["tracksolid", "ingest", "api", TABLE],
    doc_md=__doc__,
)
def tracksolid_track_list():
    window = resolve_run_window(overlap_minutes=OVERLAP_MINUTES)
    batches = plan_batches()
    loaded = fetch_and_load.override(task_id="fetch_track_list", pool=API_POOL).partial(
        endpoint="track_list", window=window).expand(batch=batches)
    record_counts.override(outlets=[table_asset(TABLE)])(loaded, window=window, table=TABLE)


tracksolid_track_list()
