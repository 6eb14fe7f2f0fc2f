"""Where each method's rows sit in a successful envelope, read strictly.

The document puts rows in ``result`` (an array) for the older methods and in ``data.rows`` / ``data.result``
for the report-style ones, but real answers vary: ``result`` as an object wrapping the array
(``{"list": [...]}``, ``{"rows": [...]}``) or a single row object instead of a one-row array. Those are
unwrapped. Anything else — a number, a string, an object with no row list and no IMEI — raises
:class:`~tracksolid_hook.errors.TracksolidResponseError`, so an unexpected shape is a clear error (audited
in ``ingestion_log`` by the hook) and never a silent zero. ``null`` / a missing field is "no rows".
"""

from __future__ import annotations

from typing import Any

from tracksolid_hook.errors import TracksolidResponseError
from tracksolid_hook.values import to_int

#: Keys under which an object may wrap the row array.
WRAPPER_KEYS = ("list", "rows", "result", "records", "data")
#: A lone object carrying one of these is a single row (e.g. location.get for one IMEI).
ROW_MARKERS = ("imei", "deviceImei")


def _describe(value: Any) -> str:
    if isinstance(value, dict):
        return f"object with keys {sorted(value)[:8]}"
    return type(value).__name__


def unwrap_rows(value: Any, where: str) -> list:
    """``value`` (the payload field ``where``) → the list of row items it carries."""
    if value is None:
        return []
    if isinstance(value, list):
        return value
    if isinstance(value, dict):
        for key in WRAPPER_KEYS:
            inner = value.get(key)
            if isinstance(inner, list):
                return inner
        if any(marker in value for marker in ROW_MARKERS):
            return [value]
        if not value:
            return []
    raise TracksolidResponseError(f"unexpected payload shape in '{where}': {_describe(value)} "
                                  "(expected an array of rows)")


def result_rows(envelope: dict) -> list:
    """Rows of a ``result``-style method (device list, locations, track, mileage, alarms)."""
    return unwrap_rows(envelope.get("result"), "result")


def parking_page(envelope: dict) -> tuple[list, int | None]:
    """``data.rows`` (and ``data.dataTotalRows``) of report.parking; ``result`` when ``data`` is absent."""
    data = envelope.get("data")
    if data is None:
        return result_rows(envelope), None
    if not isinstance(data, dict):
        return unwrap_rows(data, "data"), None
    return unwrap_rows(data.get("rows"), "data.rows"), to_int(data.get("dataTotalRows"))


def obd_page(envelope: dict) -> tuple[list, int | None]:
    """``data.result`` (and ``data.totalRecord``) of obd.list; ``result`` when ``data`` is absent."""
    data = envelope.get("data")
    if data is None:
        return result_rows(envelope), None
    if not isinstance(data, dict):
        return unwrap_rows(data, "data"), None
    return unwrap_rows(data.get("result"), "data.result"), to_int(data.get("totalRecord"))


def paged(extract):
    """Adapt a plain row extractor to the (rows, total) shape the pagers expect."""
    def both(envelope: dict) -> tuple[list, int | None]:
        return extract(envelope), None
    return both
