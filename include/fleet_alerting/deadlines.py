"""Deadline Alerts of the scheduled DAGs: how long a run may take after it was queued.

Each scheduled DAG has one Airflow Deadline Alert, ``DeadlineReference.DAGRUN_QUEUED_AT + interval``. The
scheduler checks it; when a run is still unfinished at its deadline, the async callback
``fleet_alerting_callbacks.deadline_missed`` (``plugins/``, run by the triggerer) sends one message naming
the deadline and how late the run is. A run that finishes in time deletes its deadline: nothing is sent.

Intervals: :data:`DEFAULT_DEADLINES`, overridden without code changes by the environment value
``FLEET_DEADLINES`` (read when the DAG files are parsed, never touching a database), a JSON object
``{"dag_id": interval}``. An interval is a number of seconds, or a string of ``<n>h``/``<n>m``/``<n>s`` parts
(``"90s"``, ``"25m"``, ``"1h30m"``); ``0`` or ``null`` removes the DAG's deadline; a DAG that is not listed
anywhere (e.g. a manual-only DAG) has none. An invalid value is logged and the default kept, so a typo never
stops the DAGs from loading. Example: ``FLEET_DEADLINES='{"dwh_bronze": "90m", "tracksolid_trips": 600}'``.
"""

from __future__ import annotations

import json
import logging
import os
import re
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

log = logging.getLogger("fleet_alerting.deadlines")

ENV_VAR = "FLEET_DEADLINES"
#: The async callback the triggerer imports (plugins/fleet_alerting_callbacks.py).
CALLBACK_PATH = "fleet_alerting_callbacks.deadline_missed"

#: Finished at most this long after the run was queued (SPEC §9; the scheduler's own cadence in brackets).
DEFAULT_DEADLINES: dict[str, timedelta] = {
    "tracksolid_live_positions": timedelta(minutes=5),   # every minute
    "tracksolid_alarms": timedelta(minutes=10),          # every 5 min
    "tracksolid_trips": timedelta(minutes=15),           # every 15 min
    "tracksolid_parking": timedelta(minutes=15),         # every 15 min
    "tracksolid_obd": timedelta(minutes=15),             # every 15 min
    "tracksolid_track_list": timedelta(minutes=25),      # every 30 min
    "tracksolid_devices": timedelta(hours=1),            # daily
    "dwh_bronze": timedelta(hours=1),                    # 7 runs a day, 05:00-23:00 EAT
    # Queued when the 05:00 EAT bronze run has loaded its tables (≈ 05:15): done by ≈ 06:00 EAT.
    "dwh_gold_refresh": timedelta(minutes=45),
    # Operations DAGs (include/fleet_ops).
    "fleet_alerts": timedelta(minutes=10),               # every 15 min
    "db_backup": timedelta(hours=2),                     # nightly 01:30 EAT
    "driver_audit": timedelta(minutes=30),               # daily 07:00 EAT
    "airflow_db_cleanup": timedelta(hours=1),            # daily 02:30 UTC
}

_PART = re.compile(r"(\d+(?:\.\d+)?)([hms])")


class DeadlineConfigError(ValueError):
    pass


def parse_interval(value: Any) -> timedelta | None:
    """Seconds (number) or ``"1h30m"``-style text → timedelta; ``0``/``None`` → None (no deadline)."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise DeadlineConfigError(f"not an interval: {value!r}")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip().lower().replace(" ", "")
        if re.fullmatch(r"\d+(\.\d+)?", text):
            seconds = float(text)
        elif re.fullmatch(r"(?:\d+(?:\.\d+)?[hms])+", text):
            unit = {"h": 3600, "m": 60, "s": 1}
            seconds = sum(float(n) * unit[u] for n, u in _PART.findall(text))
        else:
            raise DeadlineConfigError(f"not an interval: {value!r} (use seconds or e.g. '25m', '1h30m')")
    else:
        raise DeadlineConfigError(f"not an interval: {value!r}")
    if seconds < 0:
        raise DeadlineConfigError(f"negative interval: {value!r}")
    return timedelta(seconds=seconds) if seconds else None


def configured_overrides(raw: str | None = None) -> dict[str, timedelta | None]:
    """The ``FLEET_DEADLINES`` overrides; an invalid document or entry is logged and ignored."""
    raw = os.environ.get(ENV_VAR, "") if raw is None else raw
    if not raw.strip():
        return {}
    try:
        doc = json.loads(raw)
    except ValueError as exc:
        log.error("%s is not JSON (%s): using the default deadlines", ENV_VAR, exc)
        return {}
    if not isinstance(doc, dict):
        log.error("%s must be a JSON object {dag_id: interval}: using the default deadlines", ENV_VAR)
        return {}
    overrides: dict[str, timedelta | None] = {}
    for dag_id, value in doc.items():
        try:
            overrides[str(dag_id)] = parse_interval(value)
        except DeadlineConfigError as exc:
            log.error("%s[%r]: %s; keeping the default", ENV_VAR, dag_id, exc)
    return overrides


def deadline_interval(dag_id: str, default: timedelta | None = None) -> timedelta | None:
    """The DAG's interval: ``FLEET_DEADLINES``, else ``default``, else :data:`DEFAULT_DEADLINES`."""
    overrides = configured_overrides()
    if dag_id in overrides:
        return overrides[dag_id]
    if default is not None:
        return default
    return DEFAULT_DEADLINES.get(dag_id)


def format_interval(interval: timedelta) -> str:
    seconds = int(round(interval.total_seconds()))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{hours}h" if hours else "", f"{minutes}m" if minutes else "", f"{secs}s" if secs else ""]
    return "".join(parts) or "0s"


def deadline_name(dag_id: str, interval: timedelta) -> str:
    return f"{dag_id} finished within {format_interval(interval)} of being queued"


def build_deadline(dag_id: str, default: timedelta | None = None):
    """The DAG's ``DeadlineAlert`` (or None when it has no interval)."""
    from airflow.sdk import AsyncCallback, DeadlineAlert, DeadlineReference

    interval = deadline_interval(dag_id, default)
    if interval is None:
        return None
    name = deadline_name(dag_id, interval)
    return DeadlineAlert(
        reference=DeadlineReference.DAGRUN_QUEUED_AT,
        interval=interval,
        callback=AsyncCallback(CALLBACK_PATH, kwargs={"deadline_name": name,
                                                      "interval_s": interval.total_seconds()}),
        name=name,
    )


def _parse_time(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, str) and value:
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


def format_deadline_miss(context: dict[str, Any], deadline_name: str, interval_s: float,
                         now: datetime | None = None) -> tuple[str, str]:
    """Subject and body of a missed deadline, from the triggerer's callback context."""
    from fleet_alerting.failures import base_url

    now = now or datetime.now(UTC)
    dag_run = context.get("dag_run") or {}
    deadline = context.get("deadline") or {}
    dag_id = dag_run.get("dag_id")
    run_id = dag_run.get("dag_run_id") or dag_run.get("run_id")
    deadline_time = _parse_time(deadline.get("deadline_time"))
    queued_at = _parse_time(dag_run.get("queued_at"))
    late = format_interval(now - deadline_time) if deadline_time else "unknown"
    url = f"{base_url().rstrip('/')}/dags/{dag_id}/runs/{quote(str(run_id))}" if run_id else None
    subject = f"DEADLINE MISSED {dag_id}: {late} late ({deadline_name})"
    body = "\n".join([
        f"DAG:       {dag_id}",
        f"Run:       {run_id}",
        f"Deadline:  {deadline_name} (interval {format_interval(timedelta(seconds=interval_s))})",
        f"Queued at: {queued_at.isoformat() if queued_at else '-'}",
        f"Due at:    {deadline_time.isoformat() if deadline_time else '-'}",
        f"Late by:   {late} (run state {dag_run.get('state')} when the miss was detected)",
        f"Run page:  {url}",
    ])
    return subject, body


def notify_deadline_missed(context: dict[str, Any] | None, deadline_name: str = "deadline",
                           interval_s: float = 0.0) -> dict[str, Any]:
    """Send the missed-deadline message (sync; the plugin runs it off the triggerer's event loop)."""
    from fleet_alerting.notify import send_notification

    try:
        subject, body = format_deadline_miss(context or {}, deadline_name, interval_s)
    except Exception as exc:  # never lose the alert over formatting
        log.exception("could not format the deadline miss")
        subject, body = f"DEADLINE MISSED ({deadline_name})", f"{deadline_name}\n{exc}\n{context!r}"
    log.error("%s", subject)
    return {"subject": subject, "sent": send_notification(subject, body, severity="warning")}
