"""The part of an endpoint DAG's ``doc_md`` that every windowed endpoint DAG shares (its shape and schedule)."""

from __future__ import annotations


def windowed_dag_doc(*, dag_id: str, fetch_task: str, table: str, cron: str, overlap_minutes: int) -> str:
    start = f"data_interval_start - {overlap_minutes} min" if overlap_minutes else "data_interval_start"
    return f"""
Shape: **resolve_run_window** + **plan_batches** (each account target's active IMEIs from
`tracksolid.devices`, in batches of ≤ 50) → **{fetch_task}**, one mapped instance per *target × batch* in the
`tracksolid_api` pool → **record_counts**, which logs the counts and emits the
`tracksolid_db.tracksolid.{table}` asset.
Schedule `{cron}` (UTC) with a real data interval: each run covers `[{start}, data_interval_end)`, so re-runs
and `airflow backfill create --dag-id {dag_id} --from-date … --to-date …` are exact and idempotent. Manual
runs: params `start`/`end` (ISO-8601), `targets`, `imeis`; a run with neither a data interval nor start/end
fails with a clear message.
"""
