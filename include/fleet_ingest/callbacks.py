"""The one failure callback of every endpoint DAG (set through ``default_args``).

It logs which DAG, run, task and — for mapped tasks — which account target / IMEI batch failed, with the
exception, in one greppable line. Notifiers (SMTP, chat webhook) plug in here later: everything a notifier
needs is gathered in :func:`failure_details` first.
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger("fleet_ingest.failures")


def failure_details(context: dict[str, Any]) -> dict[str, Any]:
    """What failed, from an Airflow callback context (works for task and DAG callbacks)."""
    ti = context.get("ti") or context.get("task_instance")
    dag_run = context.get("dag_run")
    exception = context.get("exception")
    map_index = getattr(ti, "map_index", None)
    rendered = getattr(ti, "rendered_map_index", None)
    return {
        "dag_id": getattr(ti, "dag_id", None) or getattr(context.get("dag"), "dag_id", None),
        "run_id": getattr(ti, "run_id", None) or getattr(dag_run, "run_id", None),
        "task_id": getattr(ti, "task_id", None),
        "map_index": map_index if isinstance(map_index, int) and map_index >= 0 else None,
        # e.g. "acct-a #2 (50 IMEIs 86..01..86..50)": the target and batch of a mapped instance
        "batch": rendered if isinstance(rendered, str) and rendered else None,
        "try_number": getattr(ti, "try_number", None),
        "error": f"{type(exception).__name__}: {exception}" if exception is not None else context.get("reason"),
    }


def on_task_failure(context: dict[str, Any]) -> dict[str, Any]:
    """``on_failure_callback`` of every endpoint DAG: log the failing target/batch (never raises)."""
    try:
        details = failure_details(context)
    except Exception:  # a callback must never mask the task's own failure
        log.exception("could not describe the failure")
        return {}
    log.error(
        "INGEST FAILURE dag=%s run=%s task=%s map_index=%s batch=%s try=%s error=%s",
        details["dag_id"], details["run_id"], details["task_id"], details["map_index"], details["batch"],
        details["try_number"], details["error"],
    )
    return details
