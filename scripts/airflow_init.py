"""Airflow metadata set-up shared by docker-compose's ``airflow-init`` and ``scripts/airflow_stack.py``.

Run after ``airflow db migrate`` (idempotent; safe to re-run)::

    python scripts/airflow_init.py

1. **Pool** ``tracksolid_api`` with ``TRACKSOLID_API_POOL_SLOTS`` slots (default 4): every mapped API task of
   the endpoint DAGs runs in it, and a scheduler never runs a task whose pool does not exist.
2. **Connections from the environment** stored in the metadata database, so the UI lists them (passwords and
   secret extras masked):

   * every ``AIRFLOW_CONN_<ID>`` value (JSON or URI form) becomes connection ``<id>`` (lower case);
   * ``FLEET_SMTP_CONN_URI`` (optional, e.g. ``smtp://user:pass@mail.example.com:587?from_email=airflow%40example.com``)
     becomes the e-mail notifier connection (id ``FLEET_NOTIFY_SMTP_CONN_ID``, default ``fleet_smtp``), with the
     recipients of ``FLEET_NOTIFY_EMAIL_TO`` (comma list) in its extra ``to``;
   * ``FLEET_CHAT_WEBHOOK_URL`` (optional; Slack, Mattermost, Rocket.Chat … incoming-webhook URL) becomes the
     chat notifier connection (id ``FLEET_NOTIFY_CHAT_CONN_ID``, default ``fleet_chat``, type ``slackwebhook``).

   A notifier variable left empty leaves that connection as it is (it may have been made in the UI).
   Values are never printed: the log names the connection ids only.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from urllib.parse import parse_qsl, unquote, urlsplit

POOL_NAME = "tracksolid_api"
POOL_DEFAULT_SLOTS = 4
POOL_DESCRIPTION = "Concurrent Tracksolid API calls (the platform refuses bursts: code 1006); see README"
CONN_PREFIX = "AIRFLOW_CONN_"


class InitError(ValueError):
    pass


def pool_slots(env: Mapping[str, str]) -> int:
    raw = (env.get("TRACKSOLID_API_POOL_SLOTS") or "").strip()
    if not raw:
        return POOL_DEFAULT_SLOTS
    try:
        slots = int(raw)
    except ValueError:
        raise InitError(f"TRACKSOLID_API_POOL_SLOTS must be a whole number, got {raw!r}") from None
    if slots < 1:
        raise InitError(f"TRACKSOLID_API_POOL_SLOTS must be at least 1, got {slots}")
    return slots


def _smtp_connection(uri: str, recipients: str) -> dict:
    """``smtp://user:pass@host:port?from_email=…&disable_tls=true`` → connection fields (typed extras)."""
    parts = urlsplit(uri)
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise InitError("FLEET_SMTP_CONN_URI must look like smtp://user:password@host:port?from_email=...")
    extra: dict = {}
    for key, value in parse_qsl(parts.query):
        extra[key] = {"true": True, "false": False}.get(value.lower(), value)
    if parts.scheme == "smtps":
        extra.setdefault("disable_ssl", False)
    to = [r.strip() for r in recipients.split(",") if r.strip()]
    if to:
        extra["to"] = ",".join(to)
    return {"conn_type": "smtp", "host": parts.hostname, "port": parts.port,
            "login": unquote(parts.username) if parts.username else None,
            "password": unquote(parts.password) if parts.password else None, "extra": extra}


def desired_connections(env: Mapping[str, str]) -> dict[str, dict]:
    """Connection id → fields (conn_type, host, port, login, password, schema, extra) from the environment."""
    from airflow.models.connection import Connection

    wanted: dict[str, dict] = {}
    for name in sorted(env):
        if not name.startswith(CONN_PREFIX) or not env[name].strip():
            continue
        conn_id = name[len(CONN_PREFIX):].lower()
        value = env[name].strip()
        try:
            conn = Connection.from_json(value, conn_id=conn_id) if value.startswith("{") else Connection(
                conn_id=conn_id, uri=value)
        except Exception as exc:
            raise InitError(f"{name} is neither connection JSON nor a connection URI: {type(exc).__name__}: "
                            f"{str(exc).splitlines()[0][:200] if str(exc) else ''}") from None
        wanted[conn_id] = {"conn_type": conn.conn_type, "host": conn.host, "port": conn.port, "login": conn.login,
                           "password": conn.password, "schema": conn.schema, "extra": conn.extra_dejson}
    smtp_uri = (env.get("FLEET_SMTP_CONN_URI") or "").strip()
    if smtp_uri:
        smtp_id = env.get("FLEET_NOTIFY_SMTP_CONN_ID") or "fleet_smtp"
        wanted[smtp_id] = _smtp_connection(smtp_uri, env.get("FLEET_NOTIFY_EMAIL_TO") or "")
    chat_url = (env.get("FLEET_CHAT_WEBHOOK_URL") or "").strip()
    if chat_url:
        if "://" not in chat_url:
            raise InitError("FLEET_CHAT_WEBHOOK_URL must be a full URL (https://...)")
        chat_id = env.get("FLEET_NOTIFY_CHAT_CONN_ID") or "fleet_chat"
        wanted[chat_id] = {"conn_type": "slackwebhook", "password": chat_url, "extra": {}}
    return wanted


def apply(env: Mapping[str, str]) -> dict:
    """Create/update the pool and the connections; returns what was done (ids and counts, no values)."""
    from airflow.models.connection import Connection
    from airflow.models.pool import Pool
    from airflow.utils.session import create_session

    slots = pool_slots(env)
    wanted = desired_connections(env)
    done = {"pool": {POOL_NAME: slots}, "created": [], "updated": [], "unchanged": []}
    with create_session() as session:
        Pool.create_or_update_pool(POOL_NAME, slots, POOL_DESCRIPTION, False, session=session)
        for conn_id, fields in wanted.items():
            existing = session.query(Connection).filter(Connection.conn_id == conn_id).one_or_none()
            extra = json.dumps(fields.get("extra") or {}) if fields.get("extra") else None
            values = {"conn_type": fields["conn_type"], "host": fields.get("host"), "port": fields.get("port"),
                      "login": fields.get("login"), "password": fields.get("password"),
                      "schema": fields.get("schema"), "extra": extra}
            if existing is None:
                session.add(Connection(conn_id=conn_id, description="from the environment (scripts/airflow_init.py)",
                                       **values))
                done["created"].append(conn_id)
                continue
            current = {"conn_type": existing.conn_type, "host": existing.host, "port": existing.port,
                       "login": existing.login, "password": existing.password, "schema": existing.schema,
                       "extra": existing.extra}
            if json.loads(current["extra"] or "{}") == json.loads(values["extra"] or "{}"):
                current["extra"] = values["extra"]
            if current == values:
                done["unchanged"].append(conn_id)
                continue
            for key, value in values.items():
                setattr(existing, key, value)
            done["updated"].append(conn_id)
    return done


def main() -> int:
    """CLI: report on stdout, errors on stderr (exit 2) — ids and counts only, never a value."""
    try:
        done = apply(os.environ)
    except InitError as exc:
        print(f"airflow-init: {exc}", file=sys.stderr)
        return 2
    print(f"airflow-init: pool {POOL_NAME}: {done['pool'][POOL_NAME]} slots")
    for state in ("created", "updated", "unchanged"):
        if done[state]:
            print(f"airflow-init: connections {state}: {', '.join(done[state])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
