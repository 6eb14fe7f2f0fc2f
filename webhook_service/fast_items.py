"""Fast readers for the busiest push path (``/pushgps``): plainly well-formed items only.

The general reader (:class:`webhook_service.parsing.Item`) collects an error message per bad field, which
costs a few method calls per field (~35 µs per fix, the largest Python cost of a ``/pushgps`` request after
form decoding). The function here builds the same row with inline conversions and gives up — raises
:class:`NotPlain` — on anything it does not handle exactly like the general reader: a missing required
field, a value of an unexpected type, text that does not convert, a value out of range, a time that is not
ISO-like. The caller then reads that item with the general reader, which either produces the row or names
the problem. So the result never depends on which reader ran; ``tests/test_webhook_fast_paths.py`` checks
this on thousands of perturbed items.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from tracksolid_hook.parsers import POS_TYPES
from tracksolid_hook.values import BLANK_TEXT, FALSE_TEXT, TRUE_TEXT
from webhook_service.config import WebhookConfig
from webhook_service.reader import INT16, INT32

#: /pushgps fields whose values go into position_history columns, under the names the vendor documents
#: (TRACKSOLID_API.md §7; the first configured event time field is added). A fix's ``raw`` keeps the item
#: without them: their values are in the columns, and the whole request, as sent, is in push_inbox. Nothing
#: else is dropped: a documented name always wins over an alternative one (``speed``, ``imei``, ...), so an
#: alternative name's value stays in ``raw``; a dropped documented field is either in a column or blank.
GPS_COLUMN_FIELDS = ("deviceImei", "lat", "lng", "gpsSpeed", "direction", "acc", "satelliteNum", "postType",
                     "gpsMode", "distance", "altitude")
#: Other names the general reader also accepts for those columns (older firmware / API naming).
GPS_ALTERNATIVE_FIELDS = frozenset(("imei", "speed", "accStatus", "gpsNum", "posType"))


def gps_column_fields(time_names: tuple[str, ...]) -> list[str]:
    """The fields a fix's raw JSON is stored without, for the configured /pushgps event time fields."""
    return [*GPS_COLUMN_FIELDS, *time_names[:1]]


class NotPlain(ValueError):
    """The item needs the general reader (which names any problem)."""


def _decimal(value, low=None, high=None) -> Decimal | None:
    """A number sent as text (the usual form) or as a JSON number; None when absent or blank."""
    kind = value.__class__
    if kind is str:
        text = value.strip()
        if text in BLANK_TEXT:
            return None
        # Plain ASCII decimals of modest length only: other scripts' digits, exponents and huge numbers
        # (which may not fit the numeric column) are left to the general reader.
        if len(text) > 40 or not text.isascii() or "e" in text or "E" in text:
            raise NotPlain
        number = Decimal(text)  # InvalidOperation (ArithmeticError): the caller falls back
    elif value is None:
        return None
    elif kind is int or kind is float:
        number = Decimal(str(value))
    else:
        raise NotPlain
    if not number.is_finite() or (low is not None and number < low) or (high is not None and number > high):
        raise NotPlain
    return number


def _integer(value, low=-INT32, high=INT32) -> int | None:
    number = _decimal(value, low, high)
    return None if number is None else int(number)


def _flag(value) -> bool | None:
    kind = value.__class__
    if kind is bool:
        return value
    if value is None:
        return None
    if kind is not str and kind is not int and kind is not float:
        raise NotPlain
    text = str(value).strip().lower()
    if text in TRUE_TEXT:
        return True
    if text in FALSE_TEXT:
        return False
    if text in BLANK_TEXT:
        return None
    raise NotPlain


def _text(value) -> str | None:
    kind = value.__class__
    if kind is str:
        text = value.strip()
        if "\x00" in text:
            raise NotPlain
        return None if text in BLANK_TEXT else text
    if value is None:
        return None
    if kind is int or kind is float:
        return str(value).strip()
    raise NotPlain


def _time(value) -> datetime:
    """A required time given as ISO-like text (``yyyy-MM-dd HH:mm:ss``, offset or not); epoch numbers,
    ``Z`` suffixes and loose forms are left to the general reader."""
    if value.__class__ is not str:
        raise NotPlain
    text = value.strip()
    if text.isdigit() or text.endswith("Z"):
        raise NotPlain
    parsed = datetime.fromisoformat(text)  # ValueError (also for blank text): the caller falls back
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _imei(value, pattern) -> str:
    if value.__class__ is not str:
        raise NotPlain
    text = value.strip()
    if not pattern.match(text):
        raise NotPlain
    return text


def gps_row(data: dict, index: int, cfg: WebhookConfig, imei_pattern) -> dict:
    """The position_history row of a /pushgps item, exactly as ``parsing._gps`` builds it, or NotPlain.

    Only items that use the documented field names are taken (an alternative name such as ``speed`` is left
    to the general reader), so each field is read under one name."""
    if not GPS_ALTERNATIVE_FIELDS.isdisjoint(data):
        raise NotPlain
    get = data.get
    gps_time = None
    for name in cfg.event_time_fields["pushgps"]:  # the first present, non-blank one (as Item._find)
        if name.startswith("msg."):
            raise NotPlain
        gps_time = get(name)
        if gps_time is not None and not (gps_time.__class__ is str and gps_time.strip() in BLANK_TEXT):
            break
    lat = _decimal(get("lat"), -90, 90)
    lng = _decimal(get("lng"), -180, 180)
    if lat is None or lng is None or (not lat and not lng):  # (0, 0): no GPS position
        raise NotPlain
    distance_m = _decimal(get("distance"), 0)
    pos_type = _text(get("postType"))
    return {
        "imei": _imei(get("deviceImei"), imei_pattern),
        "gps_time": _time(gps_time),
        "lat": float(lat), "lng": float(lng),
        "speed_kmh": _decimal(get("gpsSpeed"), 0),
        "direction": _integer(get("direction")),
        "acc_status": _flag(get("acc")),
        "satellite": _integer(get("satelliteNum")),
        "pos_type": None if pos_type is None else POS_TYPES.get(pos_type, pos_type.upper()),
        "gps_mode": _integer(get("gpsMode"), -INT16 - 1, INT16),  # smallint column
        "odometer_km": None if distance_m is None else distance_m / 1000,  # push distance: odometer in metres
        "altitude": _decimal(get("altitude")),
        "raw": data, "item": index,
    }
