"""Driver / vehicle audit, API ↔ DB (SPEC §9): what the Tracksolid device lists say against tracksolid.devices.

Findings (``ops.driver_audit_findings``, latest run in ``ops.v_driver_audit_latest``):

* ``missing_in_db``       listed by the API, absent from tracksolid.devices
* ``missing_in_api``      active in tracksolid.devices, listed by none of the account targets
* ``missing_driver_name`` an active device in tracksolid.devices with no driver name
* ``missing_plate``       an active device in tracksolid.devices with no licence plate
* ``never_reported``      an active device in the DB without any live position
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable

from fleet_db.loaders import transaction
from fleet_db.settings import read_sql

log = logging.getLogger(__name__)

FINDINGS = ("missing_in_db", "missing_in_api", "missing_driver_name", "missing_plate", "never_reported")


def _blank(value) -> bool:
    return value is None or not str(value).strip()


def compare(api_devices: Iterable[dict], db_devices: Iterable[dict]) -> list[dict]:
    """Pure comparison; each DB device dict has imei, device_name, license_plate_no, driver_name, is_active,
    has_position; API dicts are device.list rows. Returns findings (finding, imei, detail)."""
    api = {d["imei"]: d for d in api_devices}
    db = {d["imei"]: d for d in db_devices}
    out = []

    def add(finding, imei, **detail):
        out.append({"finding": finding, "imei": imei, "detail": {k: v for k, v in detail.items() if v is not None}})

    for imei in sorted(set(api) - set(db)):
        add("missing_in_db", imei, account=api[imei].get("account"), device_name=api[imei].get("device_name"))
    active = {imei: row for imei, row in db.items() if row.get("is_active")}
    for imei in sorted(set(active) - set(api)):
        add("missing_in_api", imei, account=active[imei].get("account"), device_name=active[imei].get("device_name"))
    # Names and plates are judged on the DB rows (what dashboards show; the device sync fills them from
    # device.list + device.detail). A device only the API knows is reported as missing_in_db alone.
    for imei in sorted(active):
        row = active[imei]
        if _blank(row.get("driver_name")):
            add("missing_driver_name", imei, device_name=row.get("device_name"))
        if _blank(row.get("license_plate_no")):
            add("missing_plate", imei, device_name=row.get("device_name"))
    for imei in sorted(active):
        if not active[imei].get("has_position"):
            add("never_reported", imei, device_name=active[imei].get("device_name"),
                first_seen_at=str(active[imei].get("first_seen_at")))
    return out


def db_devices(cur) -> list[dict]:
    cur.execute(read_sql("ops", "audit_db_devices.sql"))
    cols = [c[0] for c in cur.description]
    return [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]


def api_devices(hook) -> list[dict]:
    """device.list of every account target of the ``tracksolid_api`` connection."""
    rows = []
    for target in hook.targets:
        rows.extend(hook.list_devices(target))
    return rows


def store(conn, findings: list[dict], api_count: int, db_count: int, dag_run_id: str | None = None) -> int:
    """One run row + its findings, in one transaction; returns the run id."""
    with transaction(conn) as cur:
        cur.execute("INSERT INTO ops.driver_audit_runs (dag_run_id, api_devices, db_devices, findings)"
                    " VALUES (%s, %s, %s, %s) RETURNING run_id, checked_at",
                    (dag_run_id, api_count, db_count, len(findings)))
        run_id, checked_at = cur.fetchone()
        for f in findings:
            cur.execute("INSERT INTO ops.driver_audit_findings (run_id, checked_at, finding, imei, detail)"
                        " VALUES (%s, %s, %s, %s, %s)", (run_id, checked_at, f["finding"], f["imei"],
                                                         json.dumps(f["detail"], default=str)))
    return run_id


def run(conn, hook, dag_run_id: str | None = None) -> dict:
    api = api_devices(hook)
    with transaction(conn) as cur:
        db = db_devices(cur)
    findings = compare(api, db)
    run_id = store(conn, findings, len(api), len(db), dag_run_id)
    summary = {f: sum(1 for x in findings if x["finding"] == f) for f in FINDINGS}
    log.info("driver audit run %s: %s API devices, %s DB devices, findings %s", run_id, len(api), len(db), summary)
    return {"run_id": run_id, "api_devices": len(api), "db_devices": len(db), **summary}
