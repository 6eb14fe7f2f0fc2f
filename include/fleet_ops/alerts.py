"""Fleet alerts (SPEC §9): silent devices, vehicles not moved by a local hour, long idling, SLA breaches.

Each kind's *conditions* come from one SQL file under ``include/sql/ops/alert_<kind>.sql`` (thresholds from
``tracksolid.settings``), evaluated at a time ``as_of``. :func:`reconcile` turns conditions into episodes in
``ops.fleet_alerts`` in one transaction:

* a condition without an open episode **opens** one;
* a condition whose level ranks above the episode's **escalates** it (silent: 8 h → 12 h → 24 h → 36 h);
  the same or a lower rank only refreshes ``detail`` — an episode's level never goes down;
* an open episode whose condition is gone **closes**.

Only these three transitions are notified (one message per run that has any, see
:func:`format_notification`), so an alert is announced once, again on each escalation, and once when it
clears. Kinds not evaluated in a run are left alone.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from fleet_db.loaders import transaction
from fleet_db.settings import read_sql

log = logging.getLogger(__name__)

KINDS = ("silent", "not_moved", "idling", "sla_breach")
#: The advisory lock that serialises two alert runs (a manual run beside the scheduled one).
LOCK_KEY = 0x666C_6131  # "fla1"
TITLES = {"silent": "silent device", "not_moved": "not moved today", "idling": "idling",
          "sla_breach": "SLA breach"}


@dataclass(frozen=True)
class Condition:
    kind: str
    subject: str
    imei: str | None
    level: str
    level_rank: int
    detail: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Transition:
    action: str  # opened | escalated | closed
    alert_id: int
    kind: str
    subject: str
    imei: str | None
    level: str
    previous_level: str | None
    detail: dict

    @property
    def severity(self) -> str:
        if self.action == "closed":
            return "info"
        if self.kind == "silent" and self.detail.get("rank", 0) >= 3:
            return "critical"
        return "warning"


def check_kinds(kinds: Iterable[str] | None) -> tuple[str, ...]:
    chosen = tuple(kinds or KINDS)
    unknown = sorted(set(chosen) - set(KINDS))
    if unknown:
        raise ValueError(f"unknown alert kinds {unknown}; expected some of {list(KINDS)}")
    return chosen


def evaluate(conn, as_of: datetime, kinds: Iterable[str] | None = None) -> list[Condition]:
    """The conditions that hold at ``as_of`` for each kind (read-only)."""
    out: list[Condition] = []
    with conn.cursor() as cur:
        for kind in check_kinds(kinds):
            cur.execute(read_sql("ops", f"alert_{kind}.sql"), {"as_of": as_of})
            for kind_, subject, imei, level, rank, detail in cur.fetchall():
                out.append(Condition(kind_, subject, imei, level, int(rank), _json(detail)))
    return out


def _json(value) -> dict:
    return value if isinstance(value, dict) else json.loads(value or "{}")


def reconcile(conn, conditions: Sequence[Condition], as_of: datetime,
              kinds: Iterable[str] | None = None) -> list[Transition]:
    """Open / escalate / close episodes of ``kinds`` so they match ``conditions``; one transaction."""
    kinds = check_kinds(kinds)
    transitions: list[Transition] = []
    current = {(c.kind, c.subject): c for c in conditions if c.kind in kinds}
    with transaction(conn) as cur:
        cur.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_KEY,))
        cur.execute("SELECT alert_id, kind, subject, imei, level, level_rank FROM ops.fleet_alerts"
                    " WHERE closed_at IS NULL AND kind = ANY(%s) FOR UPDATE", (list(kinds),))
        open_ = {(k, s): (aid, imei, level, rank) for aid, k, s, imei, level, rank in cur.fetchall()}
        for key, c in current.items():
            detail = {**c.detail, "rank": c.level_rank}
            if key not in open_:
                cur.execute(
                    "INSERT INTO ops.fleet_alerts (kind, subject, imei, level, level_rank, opened_at,"
                    " last_evaluated_at, detail) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) RETURNING alert_id",
                    (c.kind, c.subject, c.imei, c.level, c.level_rank, as_of, as_of, json.dumps(detail)))
                transitions.append(Transition("opened", cur.fetchone()[0], c.kind, c.subject, c.imei,
                                              c.level, None, detail))
                continue
            alert_id, imei, level, rank = open_[key]
            if c.level_rank > rank:
                cur.execute(
                    "UPDATE ops.fleet_alerts SET level = %s, level_rank = %s, escalated_at = %s,"
                    " last_evaluated_at = %s, imei = coalesce(%s, imei), detail = %s WHERE alert_id = %s",
                    (c.level, c.level_rank, as_of, as_of, c.imei, json.dumps(detail), alert_id))
                transitions.append(Transition("escalated", alert_id, c.kind, c.subject, c.imei or imei,
                                              c.level, level, detail))
            else:
                cur.execute(
                    "UPDATE ops.fleet_alerts SET last_evaluated_at = %s, imei = coalesce(%s, imei),"
                    " detail = detail || %s WHERE alert_id = %s",
                    (as_of, c.imei, json.dumps(c.detail), alert_id))
        for key, (alert_id, imei, level, _rank) in open_.items():
            if key not in current:
                cur.execute("UPDATE ops.fleet_alerts SET closed_at = %s, last_evaluated_at = %s"
                            " WHERE alert_id = %s RETURNING detail", (as_of, as_of, alert_id))
                detail = _json(cur.fetchone()[0])
                transitions.append(Transition("closed", alert_id, key[0], key[1], imei, level, level, detail))
    return transitions


def _line(t: Transition) -> str:
    vehicle = t.detail.get("vehicle") or t.imei or t.subject
    city = f" ({t.detail['city']})" if t.detail.get("city") else ""
    what = TITLES[t.kind]
    if t.kind == "sla_breach":
        what = f"SLA breach on ticket {t.subject} (due {t.detail.get('due_at')})"
    if t.action == "opened":
        return f"OPEN      {what} [{t.level}]: {vehicle}{city}"
    if t.action == "escalated":
        return f"ESCALATED {what} [{t.previous_level} -> {t.level}]: {vehicle}{city}"
    return f"CLEARED   {what} [{t.level}]: {vehicle}{city}"


def format_notification(transitions: Sequence[Transition]) -> tuple[str, str, str]:
    """(subject, body, severity) of the one message that announces a run's transitions."""
    counts = {a: sum(1 for t in transitions if t.action == a) for a in ("opened", "escalated", "closed")}
    parts = [f"{n} {a}" for a, n in counts.items() if n]
    severities = {t.severity for t in transitions}
    severity = next(s for s in ("critical", "warning", "info") if s in severities | {"info"})
    subject = "Fleet alerts: " + ", ".join(parts)
    order = {"escalated": 0, "opened": 1, "closed": 2}
    body = "\n".join(_line(t) for t in sorted(transitions, key=lambda t: (order[t.action], t.kind, t.subject)))
    return subject, body + "\n\nOpen alerts: ops.v_open_fleet_alerts (NOC dashboard).", severity


def mark_notified(conn, transitions: Sequence[Transition], at: datetime) -> None:
    with transaction(conn) as cur:
        cur.execute("UPDATE ops.fleet_alerts SET last_notified_level = level, last_notified_at = %s"
                    " WHERE alert_id = ANY(%s)", (at, [t.alert_id for t in transitions]))


def run(conn, as_of: datetime, notify: Callable[..., list[str]], kinds: Iterable[str] | None = None) -> dict:
    """Evaluate, reconcile, notify the transitions (once). Returns a summary for the task log / XCom."""
    kinds = check_kinds(kinds)
    conditions = evaluate(conn, as_of, kinds)
    transitions = reconcile(conn, conditions, as_of, kinds)
    channels: list[str] = []
    if transitions:
        subject, body, severity = format_notification(transitions)
        channels = notify(subject, body, severity=severity)
        mark_notified(conn, transitions, as_of)
        log.info("%s -> sent via %s", subject, channels or "no channel")
    summary = {"as_of": as_of.isoformat(), "conditions": len(conditions), "channels": channels}
    for action in ("opened", "escalated", "closed"):
        summary[action] = sorted(f"{t.kind}:{t.subject}:{t.level}" for t in transitions if t.action == action)
    log.info("fleet alerts: %s", summary)
    return summary
