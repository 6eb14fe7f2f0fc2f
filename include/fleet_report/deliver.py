"""Deliver a rendered report: store it under ``reports/{local_day}/`` and e-mail it when SMTP is configured.

Storage uses the warehouse's object store layer (``S3Hook`` on the ``fleet_s3`` connection; bucket
``FLEET_REPORT_BUCKET``, else the warehouse bucket). Mail goes through the SMTP provider's ``SmtpHook`` on
the connection ``FLEET_REPORT_SMTP_CONN_ID`` (default ``fleet_smtp``) to ``FLEET_REPORT_EMAIL_TO`` (comma
list) or, failing that, the connection's extra ``to``; the sender is ``FLEET_REPORT_EMAIL_FROM`` or the
connection's ``from_email``. No connection means no mail, said in the log.
"""

from __future__ import annotations

import logging
import os
import tempfile
from datetime import date
from pathlib import Path

from fleet_report.render import ReportFile, write_files

log = logging.getLogger(__name__)

REPORTS_PREFIX = "reports/"
DEFAULT_SMTP_CONN_ID = "fleet_smtp"


def report_key(day: date, name: str) -> str:
    """``reports/{local_day}/{name}``."""
    return f"{REPORTS_PREFIX}{day.isoformat()}/{name}"


def report_store():
    """The object store the reports go to (``fleet_s3``; ``FLEET_REPORT_BUCKET`` else the warehouse bucket)."""
    from fleet_dwh.objectstore import ObjectStore

    return ObjectStore.from_connection(bucket=os.environ.get("FLEET_REPORT_BUCKET") or None)


def store_report(files: list[ReportFile], day: date, store=None) -> list[str]:
    """Upload every file (replacing a previous run's of the same day: re-runs are idempotent)."""
    store = store or report_store()
    keys = []
    for f in files:
        key = report_key(day, f.name)
        store.hook.load_bytes(f.body, key=key, bucket_name=store.bucket, replace=True)
        keys.append(key)
    log.info("stored %d report files under s3://%s/%s%s/", len(keys), store.bucket, REPORTS_PREFIX, day)
    return keys


def load_stored_report(keys: list[str], store=None) -> list[ReportFile]:
    """The stored files back from the object store (the mail task runs apart from the render task)."""
    store = store or report_store()
    files = []
    for key in keys:
        body = store.hook.get_key(key, bucket_name=store.bucket).get()["Body"].read()
        files.append(ReportFile(key.rsplit("/", 1)[-1], "", body))
    return files


def _smtp_connection(conn_id: str):
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        return BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        return None


def recipients(conn) -> list[str]:
    raw = os.environ.get("FLEET_REPORT_EMAIL_TO") or (conn.extra_dejson or {}).get("to") or ""
    if isinstance(raw, list):
        return [r.strip() for r in raw if r and r.strip()]
    return [r.strip() for r in str(raw).split(",") if r.strip()]


def email_report(files: list[ReportFile], day: date, keys: list[str]) -> list[str]:
    """Send the HTML as the body with every file attached; returns the recipients (empty: nothing sent)."""
    conn_id = os.environ.get("FLEET_REPORT_SMTP_CONN_ID") or DEFAULT_SMTP_CONN_ID
    conn = _smtp_connection(conn_id)
    if conn is None:
        log.info("no SMTP connection %r: the report is stored, not mailed", conn_id)
        return []
    to = recipients(conn)
    if not to:
        log.warning("SMTP connection %r has no recipients: set FLEET_REPORT_EMAIL_TO or its extra 'to'", conn_id)
        return []
    from airflow.providers.smtp.hooks.smtp import SmtpHook

    html = next(f for f in files if f.name.endswith(".html")).body.decode("utf-8")
    stored = "".join(f"<li>{k}</li>" for k in keys)
    with tempfile.TemporaryDirectory(prefix="fleet-report-mail-") as tmp:
        paths = write_files(files, Path(tmp))
        with SmtpHook(smtp_conn_id=conn_id) as smtp:
            smtp.send_email_smtp(
                to=to, subject=f"Fleet daily report {day.isoformat()}",
                from_email=os.environ.get("FLEET_REPORT_EMAIL_FROM") or None,  # None: the connection's from_email
                html_content=f"<p>Stored in the object store:</p><ul>{stored}</ul>{html}",
                files=[str(p) for p in paths])
    log.info("mailed the %s report to %d recipient(s) through %r", day, len(to), conn_id)
    return to
