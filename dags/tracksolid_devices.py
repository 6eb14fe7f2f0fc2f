"""
### Tracksolid devices (`jimi.user.device.list` + `jimi.track.device.detail`) → `tracksolid.devices`

Daily at 02:00 EAT (23:00 UTC), and first in the demo: every other endpoint DAG reads its IMEIs from
`tracksolid.devices`.

1. **resolve_targets** — the account targets of the `tracksolid_api` connection (or the `targets` param);
2. **register_devices** — mapped per target: `device.list`; new IMEIs are inserted at once (so they exist
   before any other DAG needs them), listed devices are active, devices the target no longer returns are
   marked inactive (never deleted);
3. **fetch_device_details** — mapped per *target × ≤ 50-IMEI batch* (pool `tracksolid_api`): `device.detail`
   for each IMEI, merged with its list row (the list returns vehicle/driver/SIM as null), and **every**
   field upserted; `assigned_city` is ours and never overwritten;
4. **record_counts** — logs the counts and emits the `tracksolid_db.tracksolid.devices` asset.

The device list is a snapshot: the data interval is checked (a run needs one, or `start`/`end` params) and
recorded, not used to filter. Param `imeis` limits the detail calls to a subset.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import CronDataIntervalTimetable, dag

from fleet_alerting import dag_alerting
from fleet_ingest.assets import table_asset
from fleet_ingest.tasks import (
    API_POOL,
    default_args,
    fetch_and_load,
    plan_detail_batches,
    record_counts,
    register_devices,
    resolve_run_window,
    resolve_targets,
    window_params,
)

TABLE = "devices"


@dag(
    dag_id="tracksolid_devices",
    **dag_alerting("tracksolid_devices"),
    schedule=CronDataIntervalTimetable("0 23 * * *", timezone="UTC"),
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args=default_args(),
    params=window_params(),
    tags=["tracksolid", "ingest", "api", TABLE],
    doc_md=__doc__,
)
def tracksolid_devices():
    window = resolve_run_window()
    targets = resolve_targets()
    window >> targets
    registered = register_devices.override(pool=API_POOL).expand(target=targets)
    batches = plan_detail_batches(registered)
    details = fetch_and_load.override(task_id="fetch_device_details", pool=API_POOL).partial(
        endpoint="device_details").expand(batch=batches)
    record_counts.override(outlets=[table_asset(TABLE)])(details, window=window, extra=registered, table=TABLE)


tracksolid_devices()
