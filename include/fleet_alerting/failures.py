"""Failure notifications: the task-level and DAG-level ``on_failure_callback`` of every DAG.

* :func:`on_task_failure` runs when a task instance **finally** fails (Airflow calls ``on_failure_callback``
  only for the FAILED state; a try that will be retried calls ``on_retry_callback``, which we do not set).
  It names the DAG, run, task, the mapped instance's label (account target / IMEI batch / table / day), the
  try, the exception's first line and the link to the try's log, logs one greppable line and sends it
  through :func:`fleet_alerting.notify.send_notification`.
* :func:`on_dag_failure` runs when a DAG run fails. A run that failed because a task failed
  (reason ``task_failure``) was already notified by the task's callback, so it sends nothing; any other
  reason (``timed_out``, ``all_tasks_deadlocked``) is notified once. Together: one message per failure.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote

from fleet_alerting.notify import send_notification

log = logging.getLogger("fleet_alerting.failures")

#: The DAG-run failure reason Airflow gives when a task failed (already notified per task).
TASK_FAILURE_REASON = "task_failure"


def first_line(text: str) -> str:
    for line in str(text).splitlines():
        if line.strip():
            return line.strip()
    return ""


def describe_exception(exception: Any) -> str | None:
    """``Type: first line of the message`` (tracebacks and multi-line payloads stay in the log)."""
    if exception is None:
        return None
    if isinstance(exception, BaseException):
        message = first_line(str(exception))
        return f"{type(exception).__name__}: {message}" if message else type(exception).__name__
    return first_line(str(exception)) or None


def base_url() -> str:
    try:
        from airflow.configuration import conf

        return conf.get("api", "base_url", fallback="http://localhost:8080/")
    except Exception:  # outside a configured Airflow (unit tests of the formatting)
        return "http://localhost:8080/"


def log_url(dag_id: str | None, run_id: str | None, task_id: str | None, map_index: int | None,
            try_number: int | None) -> str | None:
    """The UI page of one task try (the same shape as the Task SDK's ``ti.log_url``)."""
    if not (dag_id and run_id and task_id):
        return None
    url = f"{base_url().rstrip('/')}/dags/{dag_id}/runs/{quote(run_id)}/tasks/{task_id}"
    if map_index is not None and map_index >= 0:
        url += f"/mapped/{map_index}"
    if try_number:
        url += f"?try_number={try_number}"
    return url


def failure_details(context: dict[str, Any]) -> dict[str, Any]:
    """What failed, from an Airflow callback context (works for task and DAG callbacks)."""
    ti = context.get("ti") or context.get("task_instance")
    dag_run = context.get("dag_run")
    map_index = getattr(ti, "map_index", None)
    map_index = map_index if isinstance(map_index, int) and map_index >= 0 else None
    rendered = getattr(ti, "rendered_map_index", None)
    details = {
        "dag_id": getattr(ti, "dag_id", None) or getattr(context.get("dag"), "dag_id", None)
        or getattr(dag_run, "dag_id", None),
        "run_id": getattr(ti, "run_id", None) or getattr(dag_run, "run_id", None),
        "task_id": getattr(ti, "task_id", None),
        "map_index": map_index,
        # e.g. "acct-a #2 (50 IMEIs 86..01..86..50)": the target and batch of a mapped instance
        "batch": rendered if isinstance(rendered, str) and rendered else None,
        "try_number": getattr(ti, "try_number", None),
        "error": describe_exception(context.get("exception")) or context.get("reason"),
    }
    url = None
    try:
        url = getattr(ti, "log_url", None)
    except Exception:  # a TI model without api config
        url = None
    details["log_url"] = url if isinstance(url, str) else log_url(
        details["dag_id"], details["run_id"], details["task_id"], map_index, details["try_number"])
    return details


def format_task_failure(details: dict[str, Any]) -> tuple[str, str]:
    """Subject and body of a task failure message."""
    where = f"{details['dag_id']}.{details['task_id']}"
    label = details["batch"] or (f"map index {details['map_index']}" if details["map_index"] is not None else None)
    if label:
        where += f" [{label}]"
    subject = f"FAILED {where} (try {details['try_number']})"
    lines = [
        f"DAG:       {details['dag_id']}",
        f"Run:       {details['run_id']}",
        f"Task:      {details['task_id']}",
        f"Mapped:    {label}" if label else "Mapped:    -",
        f"Try:       {details['try_number']}",
        f"Error:     {details['error']}",
        f"Log:       {details['log_url']}",
    ]
    return subject, "\n".join(lines)


def on_task_failure(context: dict[str, Any]) -> dict[str, Any]:
    """``on_failure_callback`` of every task (through ``default_args``): log and notify. Never raises."""
    try:
        details = failure_details(context)
    except Exception:  # a callback must never mask the task's own failure
        log.exception("could not describe the failure")
        return {}
    log.error(
        "TASK FAILURE dag=%s run=%s task=%s map_index=%s batch=%s try=%s error=%s log=%s",
        details["dag_id"], details["run_id"], details["task_id"], details["map_index"], details["batch"],
        details["try_number"], details["error"], details["log_url"],
    )
    subject, body = format_task_failure(details)
    details["sent"] = send_notification(subject, body, severity="critical")
    return details


def on_dag_failure(context: dict[str, Any]) -> dict[str, Any]:
    """DAG-level ``on_failure_callback``: notify a run that failed for a reason other than a task failure."""
    try:
        reason = context.get("reason")
        dag_run = context.get("dag_run")
        dag_id = getattr(dag_run, "dag_id", None) or getattr(context.get("dag"), "dag_id", None)
        run_id = getattr(dag_run, "run_id", None)
        if reason == TASK_FAILURE_REASON:
            log.info("DAG run %s %s failed on a task failure: already notified by the task", dag_id, run_id)
            return {"dag_id": dag_id, "run_id": run_id, "reason": reason, "sent": []}
        url = f"{base_url().rstrip('/')}/dags/{dag_id}/runs/{quote(str(run_id))}" if run_id else None
        subject = f"FAILED DAG run {dag_id} ({reason})"
        body = "\n".join([f"DAG:       {dag_id}", f"Run:       {run_id}", f"Reason:    {reason}",
                          f"Run page:  {url}"])
        log.error("DAG RUN FAILURE dag=%s run=%s reason=%s", dag_id, run_id, reason)
        return {"dag_id": dag_id, "run_id": run_id, "reason": reason,
                "sent": send_notification(subject, body, severity="critical")}
    except Exception:
        log.exception("DAG failure callback failed")
        return {}
