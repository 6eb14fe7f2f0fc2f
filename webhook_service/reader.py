"""The general reader of one push item: typed field readers that record every problem with its rule.

Each problem is a message naming the item and the field (``data_list[3].gpsMode must be ...``) and a
*reason* code (the rule broken), which is what ``tracksolid.push_quarantine.reason`` and the Pipeline health
view group by. Values are checked against the column they go to (ranges of ``smallint`` / ``integer``, the
limits of ``numeric``, no NUL characters in text) and the number grammar is ASCII only: ``Decimal()`` and
``int()`` would read "١٢" as 12.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from decimal import Decimal
from typing import Any

from tracksolid_hook.values import BLANK_TEXT, FALSE_TEXT, TRUE_TEXT, parse_time, to_decimal, to_text

IMEI_PATTERN = re.compile(r"^[0-9A-Za-z]{6,32}$")
INT32 = 2**31 - 1  # integer columns are int4
INT16 = 2**15 - 1  # smallint columns (position_history.gps_mode)
#: PostgreSQL numeric: at most 131072 digits before the decimal point and 16383 after.
NUMERIC_MAX_ADJUSTED = 131_071
NUMERIC_MIN_EXPONENT = -16_383

# Reason codes (the rule an item broke).
INVALID_VALUE = "invalid_value"
MISSING_FIELD = "missing_field"
NOT_AN_OBJECT = "not_an_object"
NO_POSITION = "no_position"
NUL_CHARACTER = "nul_character"
NESTED_TOO_DEEP = "nested_too_deep"


def short(value: Any) -> str:
    """A value for an error message: its repr, at most 40 characters (safe for any nesting depth)."""
    try:
        # Strings as Python shows them ('north'); anything else as JSON (null, true, {"a": 1}), never "None".
        text = repr(value) if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    except (RecursionError, ValueError):  # nested deeper than the encoder goes
        text = f"{json_type(value)} nested too deeply"
    return text if len(text) <= 40 else text[:37] + "..."


def json_type(value: Any) -> str:
    """The JSON name of a decoded value's type, for messages (never Python's "NoneType")."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    return {str: "a string", list: "an array", dict: "an object"}.get(type(value), type(value).__name__)


def numeric_fits(number: Decimal) -> bool:
    """Whether a finite Decimal fits PostgreSQL's numeric (which rejects e.g. 1e400000)."""
    return number.adjusted() <= NUMERIC_MAX_ADJUSTED and number.as_tuple().exponent >= NUMERIC_MIN_EXPONENT


class Item:
    """One push item with problem-collecting readers. ``where`` names it in messages, e.g. ``data_list[3]``;
    ``errors`` (messages) and ``reasons`` (rule codes) are parallel lists."""

    def __init__(self, data: dict, where: str, index: int = 0):
        self.data = data
        self.index = index
        self.where = where
        self.errors: list[str] = []
        self.reasons: list[str] = []
        self.msg: dict = {}

    def fail(self, reason: str, message: str) -> None:
        self.reasons.append(reason)
        self.errors.append(message)

    def _find(self, names: tuple[str, ...]) -> tuple[str, Any] | None:
        data = self.data
        for name in names:
            value = self.msg.get(name[4:]) if name[:4] == "msg." else data.get(name)
            if value is None:
                continue
            # Inlined tracksolid_hook.values.blank (hot path: every field of every item).
            if value.__class__ is str and value.strip() in BLANK_TEXT:
                continue
            return name, value
        return None

    def _missing(self, names: tuple[str, ...]) -> None:
        self.fail(MISSING_FIELD, f"{self.where}.{' or '.join(names)} is required")

    def _wrong(self, name: str, value: Any, expected: str, reason: str = INVALID_VALUE) -> None:
        self.fail(reason, f"{self.where}.{name} must be {expected}, got {short(value)}")

    def text(self, *names: str, required: bool = False, strict: bool = True) -> str | None:
        found = self._find(names)
        if found is None:
            if required:
                self._missing(names)
            return None
        name, value = found
        if isinstance(value, dict | list | bool):
            if strict or required:
                self._wrong(name, value, "a string")
            return None
        text = to_text(value)
        if text is not None and "\x00" in text:  # text columns cannot hold NUL (strict or not)
            self._wrong(name, value, "text without NUL characters", NUL_CHARACTER)
            return None
        return text

    def number(self, *names: str, required: bool = False, strict: bool = True,
               low: float | None = None, high: float | None = None) -> Decimal | None:
        found = self._find(names)
        if found is None:
            if required:
                self._missing(names)
            return None
        name, value = found
        kind = value.__class__
        if kind is str or kind is int or kind is float:
            text = value.strip() if kind is str else str(value)
            try:
                number = Decimal(text) if text.isascii() else None
            except ArithmeticError:  # decimal.InvalidOperation
                number = None
        else:
            number = None if isinstance(value, dict | list) else to_decimal(value)
        if number is None or not number.is_finite() or not numeric_fits(number):
            if strict or required:
                self._wrong(name, value, "a number (ASCII digits)")
            return None
        if (low is not None and number < low) or (high is not None and number > high):
            if strict or required:
                bounds = (f"between {low} and {high}" if low is not None and high is not None
                          else f"at least {low}" if low is not None else f"at most {high}")
                self._wrong(name, value, bounds)
            return None
        return number

    def integer(self, *names: str, required: bool = False, strict: bool = True,
                low: int = -INT32, high: int = INT32) -> int | None:
        number = self.number(*names, required=required, strict=strict, low=low, high=high)
        return None if number is None else int(number)

    def flag(self, *names: str, strict: bool = True) -> bool | None:
        found = self._find(names)
        if found is None:
            return None
        name, value = found
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower() if isinstance(value, str | int | float) else None
        if text in TRUE_TEXT:
            return True
        if text in FALSE_TEXT:
            return False
        if strict:
            self._wrong(name, value, 'a flag ("1"/"0", "ON"/"OFF")')
        return None

    def time(self, names: tuple[str, ...], required: bool = True, strict: bool = True) -> datetime | None:
        found = self._find(names)
        if found is None:
            if required:
                self._missing(names)
            return None
        name, value = found
        try:
            if isinstance(value, dict | list):
                raise ValueError
            return parse_time(value)
        except (ValueError, OverflowError, OSError):
            if strict or required:
                self._wrong(name, value, "a time (yyyy-MM-dd HH:mm:ss UTC, ISO-8601 or epoch)")
            return None

    def imei(self, *names: str) -> str | None:
        found = self._find(names)
        if found is None:
            self._missing(names)
            return None
        name, value = found
        text = str(value).strip() if isinstance(value, str | int) and not isinstance(value, bool) else None
        if text is None or not IMEI_PATTERN.match(text):
            self._wrong(name, value, "an IMEI (6-32 letters or digits)")
            return None
        return text

    def position(self, lat_names=("lat",), lng_names=("lng",), required: bool = False):
        """(lat, lng) as floats. (0, 0) is what a device sends without a GPS lock: no position — an error when
        ``required`` (a fix), (None, None) otherwise (alarm, trip ends). Half a position is no position."""
        lat = self.number(*lat_names, required=required, low=-90, high=90)
        lng = self.number(*lng_names, required=required, low=-180, high=180)
        if lat is not None and lng is not None and lat == 0 and lng == 0:
            if required:
                self.fail(NO_POSITION, f"{self.where}.{lat_names[0]}/{lng_names[0]} is 0,0: no GPS position")
            return None, None
        if (lat is None) != (lng is None) and not required:
            return None, None
        return (None if lat is None else float(lat)), (None if lng is None else float(lng))
