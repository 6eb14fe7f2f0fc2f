"""The plausibility window (:mod:`tracksolid_hook.plausibility`) applied to API rows before they are loaded.

The same rule as the push receiver's: a row whose event time is before the floor or later than now + the
tolerance (both in ``tracksolid.settings``) is not loaded — a future-dated fix would freeze the vehicle's
live position, since ``live_positions`` only moves forward — but recorded in
``tracksolid.implausible_api_rows`` (once per table, IMEI and time), where Pipeline health counts it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from fleet_db.loaders import to_json, transaction
from fleet_db.settings import read_sql
from tracksolid_hook.plausibility import read_window

log = logging.getLogger(__name__)


def keep_plausible(conn, rows: Iterable[dict], *, table: str, column: str, source: str) -> list[dict]:
    """``rows`` whose ``column`` time is plausible; the others are recorded (their own short transaction)."""
    rows = list(rows)
    if not rows:
        return rows
    with transaction(conn) as cur:
        good, bad = read_window(cur).split(rows, column)
        if bad:
            cur.execute(read_sql("ingest", "record_implausible_rows.sql"), {"rows": to_json([
                {"source": source, "table_name": table, "imei": row["imei"], "event_time": row[column],
                 "raw": row.get("raw")} for row in bad])})
    if bad:
        log.warning("%s: %d row(s) with an implausible %s kept aside (tracksolid.implausible_api_rows)",
                    table, len(bad), column)
    return good
