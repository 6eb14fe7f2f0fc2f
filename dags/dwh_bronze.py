"""Warehouse bronze: extract every live table to the object store, load it into tracksolid_dwh.bronze."""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import AssetAlias, CronTriggerTimetable, Param, dag, task

from fleet_alerting import dag_alerting, task_alerting
from fleet_dwh.assets import bronze_asset
from fleet_dwh.tables import TABLES

BRONZE_LOADED = AssetAlias("dwh_bronze_loaded")
#: One Asset per bronze table; each load emits only its own table's Asset (through the alias).
BRONZE_ASSETS = {t.name: bronze_asset(t.name) for t in TABLES}

DOC = """
### Warehouse bronze load (SPEC §6)

7 runs a day, 05:00–23:00 EAT (`0 5,8,11,14,17,20,23 * * *`, Africa/Nairobi), and manual runs.

1. **prepare_run** — closes extract rows abandoned by dead workers, moves objects earlier runs left in
   `dwh/exports/` (loaded → `dwh/processed/`, never loaded → `dwh/unloaded/`), and takes the run's
   **high-water mark** on `tracksolid_db`: `least(now(), oldest open transaction's xact_start) - safety_lag_s`
   (rows of in-flight transactions carry `ingested_at >= xact_start`, so they are picked up next run).
2. **extract_table** (mapped over the tables) — snapshot tables whole; incremental tables
   `watermark <= ingested_at < high-water mark` (arrival order: late rows are caught), streamed by `COPY` into
   a gzip file and uploaded with `S3Hook` to `dwh/exports/{table}/{YYYYMMDD_HHMM}.csv.gz`.
3. **load_table** (mapped) — one transaction: `COPY` → upsert on the live key (snapshots replaced whole) →
   advance the watermark → close the `extract_runs` row; then the object moves to `dwh/processed/`.
   Emits the table's Asset (`bronze_<table>`).

Every step is idempotent: a failure leaves the watermark where the last committed load put it and marks
the run row failed; rerun (or wait for the next run) and bronze converges without duplicates.
Health: `dwh_control.v_table_freshness`, `v_recent_failures`, `v_watermark_lag`.

Connections: `tracksolid_db`, `tracksolid_dwh` (postgres), `fleet_s3` (aws, `endpoint_url` in extras).
Bucket: param `bucket`, else env `FLEET_S3_BUCKET`, else `fleet-dwh`.
"""


@dag(
    dag_id="dwh_bronze",
    **dag_alerting("dwh_bronze"),
    schedule=CronTriggerTimetable("0 5,8,11,14,17,20,23 * * *", timezone="Africa/Nairobi"),
    start_date=pendulum.datetime(2026, 1, 1, tz="Africa/Nairobi"),
    catchup=False,
    max_active_runs=1,  # watermarks advance in order; one run at a time
    doc_md=DOC,
    tags=["tracksolid", "warehouse", "bronze"],
    default_args={"owner": "data-engineering", "retries": 2, "retry_delay": timedelta(minutes=2),
                  **task_alerting(timedelta(minutes=30))},
    params={
        "tables": Param([], type="array", items={"type": "string", "enum": [t.name for t in TABLES]},
                        description="Tables to load (empty: all)"),
        "safety_lag_s": Param(0, type="number", minimum=0,
                              description="Extra seconds the high-water mark stays behind now()"),
        "bucket": Param(None, type=["null", "string"], description="Object store bucket (default: FLEET_S3_BUCKET)"),
    },
)
def dwh_bronze():
    @task
    def prepare_run(params: dict | None = None, run_id: str | None = None) -> list[dict]:
        """Tidy what earlier runs left behind; take the run's high-water mark; one entry per table."""
        from fleet_dwh import bronze
        from fleet_dwh.connections import connect
        from fleet_dwh.objectstore import ObjectStore
        from fleet_dwh.tables import select_tables

        params = params or {}
        tables = [t.name for t in select_tables(params.get("tables"))]
        store = ObjectStore.from_connection(bucket=params.get("bucket"))
        live = connect("tracksolid_db")
        dwh = connect("tracksolid_dwh")
        try:
            tidy = bronze.prepare_run(dwh, store, run_id)
            hwm = bronze.take_high_water_mark(live, float(params.get("safety_lag_s") or 0))
        finally:
            live.close()
            dwh.close()
        print(f"high-water mark {hwm.isoformat()}; tables {tables}; tidy {tidy}")
        # One high-water mark for every table of the run: a consistent cut across the live database.
        return [{"table": name, "high_water_mark": hwm.isoformat()} for name in tables]

    @task(multiple_outputs=False, map_index_template="{{ table }}")
    def extract_table(table: str, high_water_mark: str, params: dict | None = None,
                      run_id: str | None = None) -> dict:
        """COPY one table to a gzip CSV and upload it; returns the manifest the load needs."""
        from datetime import datetime

        from fleet_dwh import bronze
        from fleet_dwh.connections import connect
        from fleet_dwh.objectstore import ObjectStore

        store = ObjectStore.from_connection(bucket=(params or {}).get("bucket"))
        live = connect("tracksolid_db")
        dwh = connect("tracksolid_dwh")
        try:
            manifest = bronze.extract_table(live, dwh, store, table, run_id,
                                            datetime.fromisoformat(high_water_mark))
        finally:
            live.close()
            dwh.close()
        return {**manifest, "bucket": store.bucket}

    @task(multiple_outputs=False, map_index_template="{{ manifest['table'] }}", outlets=[BRONZE_LOADED])
    def load_table(manifest: dict, outlet_events=None) -> dict:
        """Load one extract into bronze in one transaction, then move the object to dwh/processed/."""
        from fleet_dwh import bronze
        from fleet_dwh.connections import connect
        from fleet_dwh.objectstore import ObjectStore

        store = ObjectStore.from_connection(bucket=manifest["bucket"])
        dwh = connect("tracksolid_dwh")
        try:
            outcome = bronze.load_table(dwh, store, manifest)
        finally:
            dwh.close()
        if outcome["status"] == "superseded":
            raise RuntimeError(f"{manifest['table']}: extract superseded by a newer load; nothing loaded")
        if outlet_events is not None:
            outlet_events[BRONZE_LOADED].add(BRONZE_ASSETS[manifest["table"]],
                                             extra={"rows": outcome["rows"], "run_id": manifest["run_id"]})
        return {k: outcome.get(k) for k in ("table", "status", "rows", "object_key", "processed_key")}

    manifests = extract_table.expand_kwargs(prepare_run())
    load_table.expand(manifest=manifests)


dwh_bronze()
