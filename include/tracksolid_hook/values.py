"""Lenient conversions for Tracksolid payload values.

The API sends numbers as strings (sometimes empty), lat/lng as JSON numbers, times as UTC
``yyyy-MM-dd HH:mm:ss`` or ISO-8601 with ``Z`` (parking report), and ACC as "1"/"0", "ON"/"OFF" or ints.
Every parser and the push receiver go through these so the lessons live in one place.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation

API_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"

# The document's own examples carry unpadded fields ("2024-05-09 1:27:23"), which fromisoformat refuses.
_LOOSE_TIME = re.compile(
    r"^(\d{4})-(\d{1,2})-(\d{1,2})[ T](\d{1,2}):(\d{1,2})(?::(\d{1,2})(?:\.(\d{1,6})\d*)?)?$", re.ASCII
)
# A number followed by a unit, e.g. trackerOil "0.00L", "12.5V", "36°C".
_NUMBER_WITH_UNIT = re.compile(r"^\s*([-+]?\d+(?:\.\d+)?)\s*[^\d\s]*\s*$", re.ASCII)


#: Text that means "no value", and the flag spellings the API uses (shared with the push receiver's readers).
BLANK_TEXT = ("", "null", "NULL")
TRUE_TEXT = ("1", "on", "true", "yes")
FALSE_TEXT = ("0", "off", "false", "no")


def blank(value) -> bool:
    return value is None or (isinstance(value, str) and value.strip() in BLANK_TEXT)


def to_decimal(value) -> Decimal | None:
    """String or JSON number → Decimal; empty/None/garbage → None."""
    if blank(value) or isinstance(value, bool):
        return None
    if not str(value).isascii():  # Decimal() reads any script's digits ("١٢" is 12): numbers are ASCII only
        return None
    try:
        return Decimal(str(value).strip())
    except InvalidOperation:
        return None


def to_measure(value) -> Decimal | None:
    """Like :func:`to_decimal`, but also reads a number carrying a unit suffix ("0.00L" → 0.00)."""
    number = to_decimal(value)
    if number is not None or blank(value) or isinstance(value, bool):
        return number
    match = _NUMBER_WITH_UNIT.match(str(value))
    return Decimal(match.group(1)) if match else None


def to_float(value) -> float | None:
    d = to_decimal(value)
    return None if d is None else float(d)


def to_int(value) -> int | None:
    d = to_decimal(value)
    return None if d is None else int(d)


def to_text(value) -> str | None:
    if blank(value):
        return None
    return str(value).strip()


def to_bool(value) -> bool | None:
    """ACC / status flags: "1"/"0", 1/0, "ON"/"OFF", "true"/"false"."""
    if blank(value):
        return None
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in TRUE_TEXT:
        return True
    if text in FALSE_TEXT:
        return False
    return None


def parse_time(value) -> datetime | None:
    """API time → aware UTC datetime. Accepts ``yyyy-MM-dd HH:mm:ss`` (UTC), ISO-8601 with ``Z`` or offset,
    and epoch seconds / milliseconds."""
    if blank(value):
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = value / 1000 if value > 10**11 else value
        return datetime.fromtimestamp(seconds, tz=UTC)
    text = str(value).strip()
    if not text.isascii():  # int() and the loose pattern's \d read any script's digits: times are ASCII only
        raise ValueError(f"unrecognised time value: {value!r}")
    if text.isdigit():
        return parse_time(int(text))
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as exc:
        loose = _LOOSE_TIME.match(text)
        if not loose:
            raise ValueError(f"unrecognised time value: {value!r}") from exc
        year, month, day, hour, minute, second, fraction = loose.groups()
        try:
            parsed = datetime(
                int(year), int(month), int(day), int(hour), int(minute), int(second or 0),
                int((fraction or "0").ljust(6, "0")),
            )
        except ValueError as exc2:
            raise ValueError(f"unrecognised time value: {value!r}") from exc2
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def format_api_time(moment: datetime) -> str:
    """Aware datetime → the API's UTC ``yyyy-MM-dd HH:mm:ss`` (24-hour clock)."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime: pass an aware (UTC) datetime")
    return moment.astimezone(UTC).strftime(API_TIME_FORMAT)
