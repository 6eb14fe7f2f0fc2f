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

from webhook_service.config import WebhookConfig

#: Same rules as webhook_service.parsing (imported from there would be circular).
BLANK_TEXT = ("", "null", "NULL")
INT32 = 2**31 - 1
TRUE_TEXT = ("1", "on", "true", "yes")
FALSE_TEXT = ("0", "off", "false", "no")


class NotPlain(ValueError):
    """The item needs the general reader (which names any problem)."""


def _value(data: dict, names: tuple[str, ...]):
    """The first present, non-blank value among ``names`` (as ``Item._find``, without ``msg.`` names)."""
    for name in names:
        value = data.get(name)
        if value is None or (value.__class__ is str and value.strip() in BLANK_TEXT):
            continue
        return value
    return None


def _checked(number: Decimal, low, high) -> Decimal:
    if not number.is_finite() or (low is not None and number < low) or (high is not None and number > high):
        raise NotPlain
    return number


def _number(data: dict, names: tuple[str, ...], low=None, high=None) -> Decimal | None:
    value = data.get(names[0])
    if value.__class__ is str:  # the usual case first: a number sent as text under the first name
        text = value.strip()
        if text not in BLANK_TEXT:
            return _checked(Decimal(text), low, high)  # InvalidOperation (ArithmeticError): caller falls back
        value = None
    if value is None:  # first name absent or blank: the next names, as Item._find
        value = _value(data, names[1:])
        if value is None:
            return None
    kind = value.__class__
    if kind is str:
        return _checked(Decimal(value.strip()), low, high)
    if kind is int or kind is float:
        return _checked(Decimal(str(value)), low, high)
    raise NotPlain


def _integer(data: dict, names: tuple[str, ...]) -> int | None:
    number = _number(data, names, -INT32, INT32)
    return None if number is None else int(number)


def _flag(data: dict, names: tuple[str, ...]) -> bool | None:
    value = _value(data, names)
    if value is None:
        return None
    kind = value.__class__
    if kind is bool:
        return value
    if kind is not str and kind is not int and kind is not float:
        raise NotPlain
    text = str(value).strip().lower()
    if text in TRUE_TEXT:
        return True
    if text in FALSE_TEXT:
        return False
    raise NotPlain


def _text(data: dict, names: tuple[str, ...]) -> str | None:
    value = _value(data, names)
    if value is None:
        return None
    kind = value.__class__
    if kind is str:
        return value.strip()
    if kind is int or kind is float:
        return str(value).strip()
    raise NotPlain


def _time(data: dict, names: tuple[str, ...]) -> datetime:
    """A required time given as ISO-like text (``yyyy-MM-dd HH:mm:ss``, offset or not); epoch numbers,
    ``Z`` suffixes and loose forms are left to the general reader."""
    value = _value(data, names)
    if value.__class__ is not str:
        raise NotPlain
    text = value.strip()
    if text.isdigit() or text.endswith("Z"):
        raise NotPlain
    parsed = datetime.fromisoformat(text)  # ValueError: caller falls back
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _imei(data: dict, names: tuple[str, ...], pattern) -> str:
    value = _value(data, names)
    if value.__class__ is not str:
        raise NotPlain
    text = value.strip()
    if not pattern.match(text):
        raise NotPlain
    return text


def gps_row(data: dict, index: int, cfg: WebhookConfig, imei_pattern) -> dict:
    """The position_history row of a /pushgps item, exactly as ``parsing._gps`` builds it, or NotPlain."""
    time_names = cfg.event_time_fields["pushgps"]
    if any(name.startswith("msg.") for name in time_names):
        raise NotPlain
    lat = _number(data, ("lat",), -90, 90)
    lng = _number(data, ("lng",), -180, 180)
    if lat is None or lng is None:
        raise NotPlain
    distance_m = _number(data, ("distance",), 0)
    return {
        "imei": _imei(data, ("deviceImei", "imei"), imei_pattern),
        "gps_time": _time(data, time_names),
        "lat": float(lat), "lng": float(lng),
        "speed_kmh": _number(data, ("gpsSpeed", "speed"), 0),
        "direction": _integer(data, ("direction",)),
        "acc_status": _flag(data, ("acc", "accStatus")),
        "satellite": _integer(data, ("satelliteNum", "gpsNum")),
        "pos_type": _text(data, ("postType", "posType")),
        "gps_mode": _integer(data, ("gpsMode",)),
        "odometer_km": None if distance_m is None else distance_m / 1000,  # push distance: odometer in metres
        "altitude": _number(data, ("altitude",)),
        "raw": data, "item": index,
    }
