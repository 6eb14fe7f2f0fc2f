"""Fleet alerts every 15 minutes: silent devices, not moved, idling, SLA breaches (SPEC §9)."""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import CronTriggerTimetable, Param, dag, task

from fleet_alerting import dag_alerting, task_alerting
from fleet_ops.alerts import KINDS

DOC = """
### Fleet alerts (SPEC §9)

Every 15 minutes, evaluates on `tracksolid_db` (thresholds from `tracksolid.settings`):

| kind | condition | levels |
|---|---|---|
| `silent` | newest fix or heartbeat older than | `silent_hours_{warn,alert,critical,lost}`: 8 → 12 → 24 → 36 h |
| `not_moved` | from `not_moved_local_hour` (EAT): reported today, no fix above `moving_speed_kmh`, no trip | one |
| `idling` | newest fix (≤ `alert_fresh_fix_s` old) has ACC on and no speed, for more than `idle_alert_minutes` | one |
| `sla_breach` | `ops.tickets` open past `opened_at + sla_minutes` with no arrival in `dispatch_log` | one |

Episodes live in `ops.fleet_alerts`: an alert **opens once**, is **re-notified only when its level rises**,
and **closes when the condition clears** (the NOC dashboard lists `ops.v_open_fleet_alerts`). Each run that
opens, escalates or closes anything sends **one** message listing them through `fleet_alerting.notify`
(SMTP + chat connections).

Params: `kinds` (subset to evaluate; others are left alone), `as_of` (evaluate at this time instead of now —
for replays and tests).
"""


@dag(
    dag_id="fleet_alerts",
    schedule=CronTriggerTimetable("*/15 * * * *", timezone="UTC"),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(minutes=14),
    doc_md=DOC,
    **dag_alerting("fleet_alerts"),
    tags=["tracksolid", "alerts", "ops"],
    default_args={"owner": "data-engineering", "retries": 1, "retry_delay": timedelta(minutes=1),
                  **task_alerting(timedelta(minutes=10))},
    params={
        "kinds": Param([], type="array", items={"type": "string", "enum": list(KINDS)},
                       description="Alert kinds to evaluate (empty: all)"),
        "as_of": Param(None, type=["null", "string"], format="date-time",
                       description="Evaluate at this time (ISO 8601) instead of now"),
    },
)
def fleet_alerts():
    @task(multiple_outputs=False)
    def evaluate_alerts(params: dict | None = None) -> dict:
        """Evaluate every kind, open / escalate / close episodes, notify the changes once."""
        from datetime import UTC, datetime

        from fleet_alerting.notify import send_notification
        from fleet_dwh.connections import connect
        from fleet_ops import alerts

        params = params or {}
        as_of = datetime.fromisoformat(params["as_of"]) if params.get("as_of") else datetime.now(UTC)
        if as_of.tzinfo is None:
            raise ValueError(f"as_of needs a time zone: {params['as_of']!r}")
        conn = connect("tracksolid_db")
        try:
            return alerts.run(conn, as_of, send_notification, params.get("kinds") or None)
        finally:
            conn.close()

    evaluate_alerts()


fleet_alerts()
