"""Validate push requests and turn their items into table rows — pure functions, no database.

Every request is validated completely before anything is written: one bad item rejects the whole request
(``PushValidationError`` lists every problem, each naming the item index and the field). Values go through
:mod:`tracksolid_hook.values`; a value that is present but cannot be converted is an error for the fields
the vendor documents (TRACKSOLID_API.md §7) and ``None`` for the fields we can only guess (oil, temperature,
OBD, fault codes, trip reports: their field lists are not public). Each row keeps its item's raw JSON, so
unknown fields are never lost (a /pushgps fix keeps it without the fields whose values are in its columns, see
:data:`webhook_service.fast_items.GPS_COLUMN_FIELDS`; the whole request is in push_inbox).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

import msgspec

from tracksolid_hook.values import BLANK_TEXT, FALSE_TEXT, TRUE_TEXT, blank, parse_time, to_decimal, to_text
from webhook_service.config import WebhookConfig
from webhook_service.fast_items import INT32, NotPlain, gps_row

#: The IoT-Hub push paths (TRACKSOLID_API.md §7), without the leading slash.
IOTHUB_PATHS = (
    "pushgps", "pushhb", "pushalarm", "pushevent", "pushobd",
    "pushfaultinfo", "pushtripreport", "pushoil", "pushtem", "pushlbs",
)
#: Tracksolid Pro ``msgType`` values parsed into tables; other types are stored raw and parked.
PRO_ALARM_MSG_TYPE = "jimi.push.device.alarm"

IMEI_PATTERN = re.compile(r"^[0-9A-Za-z]{6,32}$")
#: /pushalarm ``type`` values that carry a device attribute instead of an alarm.
ATTRIBUTE_TYPES = {"ICCID": "iccid", "VIN": "vin"}


class PushValidationError(ValueError):
    """The request is malformed. ``errors`` holds one message per problem; HTTP ``status`` to answer."""

    def __init__(self, errors: list[str] | str, status: int = 400):
        self.errors = [errors] if isinstance(errors, str) else list(errors)
        self.status = status
        super().__init__("; ".join(self.errors))


@dataclass
class PushBatch:
    """What one request stores: its raw inbox row and its rows per destination (see ``store.STATEMENTS``)."""

    path: str
    push_format: str  # "iothub" | "pro"
    msg_type: str | None
    item_count: int
    status: str = "processed"  # "processed" | "parked" (kept raw only: a msgType we do not parse)
    rows: dict[str, list[dict]] = field(default_factory=dict)
    #: The items as the JSON array text that was received: the database takes each row's ``raw`` from it
    #: (by the row's ``item`` index), so the raw JSON is exactly what was sent and Python never re-encodes it.
    items_json: str | None = None

    def add(self, destination: str, row: dict) -> None:
        self.rows.setdefault(destination, []).append(row)

    @property
    def imeis(self) -> list[str]:
        return sorted({row["imei"] for rows in self.rows.values() for row in rows})


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


class Item:
    """One push item with error-collecting readers. ``where`` names it in messages, e.g. ``data_list[3]``."""

    def __init__(self, data: dict, where: str, errors: list[str], index: int = 0):
        self.data = data
        self.index = index
        self.where = where
        self.errors = errors
        self.msg: dict = {}

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
        self.errors.append(f"{self.where}.{' or '.join(names)} is required")

    def _wrong(self, name: str, value: Any, expected: str) -> None:
        self.errors.append(f"{self.where}.{name} must be {expected}, got {_short(value)}")

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
        return to_text(value)

    def number(self, *names: str, required: bool = False, strict: bool = True,
               low: float | None = None, high: float | None = None) -> Decimal | None:
        found = self._find(names)
        if found is None:
            if required:
                self._missing(names)
            return None
        name, value = found
        if value.__class__ is str or value.__class__ is int or value.__class__ is float:
            try:
                number = Decimal(value.strip() if value.__class__ is str else str(value))
            except ArithmeticError:  # decimal.InvalidOperation
                number = None
        else:
            number = None if isinstance(value, dict | list) else to_decimal(value)
        if number is None or not number.is_finite():
            if strict or required:
                self._wrong(name, value, "a number")
            return None
        if (low is not None and number < low) or (high is not None and number > high):
            if strict or required:
                self._wrong(name, value, f"between {low} and {high}")
            return None
        return number

    def integer(self, *names: str, required: bool = False, strict: bool = True) -> int | None:
        number = self.number(*names, required=required, strict=strict, low=-INT32, high=INT32)
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
        lat = self.number(*lat_names, required=required, low=-90, high=90)
        lng = self.number(*lng_names, required=required, low=-180, high=180)
        if (lat is None) != (lng is None) and not required:
            return None, None  # half a position is no position
        return (None if lat is None else float(lat)), (None if lng is None else float(lng))


#: Strict JSON (3x faster than json.loads): NaN / Infinity literals, numbers beyond a float and lone surrogate
#: escapes are errors here — the database could not store them in a jsonb column anyway.
_JSON_DECODER = msgspec.json.Decoder()


def _parse_json_field(name: str, text: str | None) -> Any:
    if text is None:
        raise PushValidationError(f"form field {name} is required")
    try:
        return _JSON_DECODER.decode(text)
    except msgspec.DecodeError as exc:
        raise PushValidationError(f"form field {name} is not valid JSON: {exc}") from exc


def _not_json(constant: str):
    raise ValueError(f"{constant} is not JSON")


def _finite_float(text: str) -> float:
    number = float(text)
    if number in (math.inf, -math.inf):
        raise ValueError(f"{text} does not fit a float")
    return number


def _km(value: Decimal | None, unit: str) -> Decimal | None:
    if value is None:
        return None
    return value / 1000 if unit == "m" else value


# --- IoT-Hub items, one function per path: (item, batch, config) -> rows added to batch ------------------

def _gps(item: Item, batch: PushBatch, cfg: WebhookConfig) -> None:
    imei = item.imei("deviceImei", "imei")
    gps_time = item.time(cfg.event_time_fields["pushgps"])
    lat, lng = item.position(required=True)
    distance_m = item.number("distance", low=0)
    row = {
        "imei": imei, "gps_time": gps_time, "lat": lat, "lng": lng,
        "speed_kmh": item.number("gpsSpeed", "speed", low=0),
        "direction": item.integer("direction"),
        "acc_status": item.flag("acc", "accStatus"),
        "satellite": item.integer("satelliteNum", "gpsNum"),
        "pos_type": item.text("postType", "posType"),
        "gps_mode": item.integer("gpsMode"),
        "odometer_km": _km(distance_m, "m"),  # push distance is the odometer in metres
        "altitude": item.number("altitude"),
        "raw": item.data, "item": item.index,
    }
    batch.add("position_history", row)


def _heartbeat(item: Item, batch: PushBatch, cfg: WebhookConfig) -> None:
    batch.add("heartbeats", {
        "imei": item.imei("deviceImei", "imei"),
        "hb_time": item.time(cfg.event_time_fields["pushhb"]),
        "power_level": item.integer("powerLevel"),
        "gsm_signal": item.integer("gsmSign", "gsmSignal"),
        "acc_status": item.flag("acc", "accStatus"),
        "oil_ele": item.number("oilEle"),
        "gps_pos": item.text("gpsPos"),
        "raw": item.data, "item": item.index,
    })


def _alarm(item: Item, batch: PushBatch, cfg: WebhookConfig) -> None:
    msg = item.data.get("msg")
    if isinstance(msg, str) and msg.strip():
        try:
            msg = json.loads(msg)
        except ValueError:
            item.errors.append(f"{item.where}.msg must be a JSON object, got {_short(msg)}")
            msg = {}
    if blank(msg):
        msg = {}
    if not isinstance(msg, dict):
        item.errors.append(f"{item.where}.msg must be a JSON object, got {_short(msg)}")
        msg = {}
    item.msg = msg
    imei = item.imei("imei", "deviceImei")
    kind = item.text("type")
    attribute = ATTRIBUTE_TYPES.get((kind or "").upper())
    if attribute:
        # ICCID / VIN update: keep the report, then the device row follows the latest one.
        keys = (f"msg.{attribute}", f"msg.{attribute.upper()}", "msg.value", attribute, attribute.upper(), "value")
        batch.add("device_attribute_reports", {
            "imei": imei, "attribute": attribute,
            "value": item.text(*keys, required=True),
            "reported_at": item.time(("gateTime", "msg.gateTime", "msg.time")),
            "raw": item.data, "item": item.index,
        })
        return
    lat, lng = item.position(("msg.lat", "lat"), ("msg.lng", "lng"))
    batch.add("alarms", {
        "imei": imei,
        "alarm_type": item.text("msg.alertType", "msg.alarmType", "alertType", "alarmType", required=True),
        "alarm_time": item.time(cfg.event_time_fields["pushalarm"]),
        "alarm_name": item.text("msg.alarmName", "msg.alertName", "msg.alarmTypeName", "alarmName", "alertName"),
        "device_name": item.text("msg.deviceName", "deviceName"),
        "positioning_time": item.time(("msg.gpsTime", "msg.positioningTime", "gpsTime"), required=False),
        "lat": lat, "lng": lng,
        "speed_kmh": item.number("msg.gpsSpeed", "msg.speed", "gpsSpeed", "speed", low=0),
        "geoid": item.text("msg.geoid", "msg.fenceId", "geoid", strict=False),
        "raw": item.data, "item": item.index,
    })


def _event(item: Item, batch: PushBatch, cfg: WebhookConfig) -> None:
    batch.add("device_events", {
        "imei": item.imei("deviceImei", "imei"),
        "event_time": item.time(cfg.event_time_fields["pushevent"]),
        "event_type": item.text("type", "eventType", required=True),
        "raw": item.data, "item": item.index,
    })


def _obd(item: Item, batch: PushBatch, cfg: WebhookConfig) -> None:
    lenient = {"strict": False}
    batch.add("obd_readings", {
        "imei": item.imei("deviceImei", "imei"),
        "reading_time": item.time(cfg.event_time_fields["pushobd"]),
        "odometer_km": item.number("odometerReading", "odometer", "totalMileage", **lenient),
        "fuel_l": item.number("remainingFuel", "fuel", **lenient),
        "fuel_pct": item.number("remainingFuelPercentage", "fuelPercentage", "fuelPct", **lenient),
        "rpm": item.number("currentRPM", "rpm", "engineSpeed", **lenient),
        "coolant_temp_c": item.number("coolantTemperature", "coolantTemp", **lenient),
        "battery_v": item.number("vehicleBatterVoltage", "vehicleBatteryVoltage", "batteryVoltage", **lenient),
        "speed_kmh": item.number("currentSpeed", "speed", "gpsSpeed", **lenient),
        "vin": item.text("vin", "VIN", **lenient),
        "raw": item.data, "item": item.index,
    })


def _fault(item: Item, batch: PushBatch, cfg: WebhookConfig) -> None:
    code = item.data.get("faultCode", item.data.get("faultCodes", item.data.get("code", item.data.get("dtc"))))
    if isinstance(code, list):
        code = ",".join(str(c) for c in code)
    batch.add("fault_codes", {
        "imei": item.imei("deviceImei", "imei"),
        "fault_time": item.time(cfg.event_time_fields["pushfaultinfo"]),
        # Part of the key: a report without a code is kept under "" rather than dropped.
        "fault_code": (to_text(code) if not isinstance(code, dict) else json.dumps(code, sort_keys=True)) or "",
        "fault_detail": item.text("faultDetail", "detail", "faultDesc", strict=False),
        "device_name": item.text("deviceName", strict=False),
        "raw": item.data, "item": item.index,
    })


def _trip(item: Item, batch: PushBatch, cfg: WebhookConfig) -> None:
    lenient = {"strict": False}
    start_lat, start_lng = item.position(("startLat",), ("startLng",))
    end_lat, end_lng = item.position(("endLat",), ("endLng",))
    batch.add("push_trip_reports", {
        "imei": item.imei("deviceImei", "imei"),
        "start_time": item.time(cfg.event_time_fields["pushtripreport"]),
        "end_time": item.time(("endTime", "stopTime"), required=False, strict=False),
        "start_lat": start_lat, "start_lng": start_lng, "end_lat": end_lat, "end_lng": end_lng,
        "distance_km": _km(item.number("distance", "mileage", "totalMileage", **lenient), cfg.trip_distance_unit),
        "avg_speed_kmh": item.number("avgSpeed", "averageSpeed", **lenient),
        "max_speed_kmh": item.number("maxSpeed", **lenient),
        "run_time_s": item.integer("runTimeSecond", "elapsed", "travelTime", **lenient),
        "fuel_l": item.number("fuel", "fuelConsumption", **lenient),
        "raw": item.data, "item": item.index,
    })


def _oil(item: Item, batch: PushBatch, cfg: WebhookConfig) -> None:
    batch.add("fuel_readings", {
        "imei": item.imei("deviceImei", "imei"),
        "reading_time": item.time(cfg.event_time_fields["pushoil"]),
        "fuel_value": item.number("oilValue", "oil", "fuelValue", "fuel", "oilEle", "value", strict=False),
        "fuel_unit": item.text("unit", "oilUnit", "fuelUnit", strict=False),
        "raw": item.data, "item": item.index,
    })


def _temperature(item: Item, batch: PushBatch, cfg: WebhookConfig) -> None:
    batch.add("temperature_readings", {
        "imei": item.imei("deviceImei", "imei"),
        "reading_time": item.time(cfg.event_time_fields["pushtem"]),
        "temperature_c": item.number("temperature", "tem", "temp", "temperatureValue", strict=False),
        "humidity_pct": item.number("humidity", "hum", "humidityValue", strict=False),
        "raw": item.data, "item": item.index,
    })


def _lbs(item: Item, batch: PushBatch, cfg: WebhookConfig) -> None:
    lbs = item.data.get("lbsJson")
    if isinstance(lbs, str):
        try:
            lbs = json.loads(lbs, parse_constant=_not_json, parse_float=_finite_float)
        except ValueError:
            pass  # kept as the string it came as (NaN / Infinity are not JSON: the lbs column is jsonb)
    batch.add("lbs_readings", {
        "imei": item.imei("deviceImei", "imei"),
        "reading_time": item.time(cfg.event_time_fields["pushlbs"]),
        "post_type": item.text("postType", "posType"),
        "lbs": lbs,
        "raw": item.data, "item": item.index,
    })


IOTHUB_ITEM_PARSERS = {
    "pushgps": _gps, "pushhb": _heartbeat, "pushalarm": _alarm, "pushevent": _event, "pushobd": _obd,
    "pushfaultinfo": _fault, "pushtripreport": _trip, "pushoil": _oil, "pushtem": _temperature, "pushlbs": _lbs,
}
assert set(IOTHUB_ITEM_PARSERS) == set(IOTHUB_PATHS)

#: Fast readers for plainly well-formed items of the busiest paths: (data, index, config) -> (destination,
#: row), exactly the row the general parser builds, or NotPlain (see webhook_service.fast_items).
FAST_ITEM_READERS = {
    "pushgps": lambda data, index, cfg: ("position_history", gps_row(data, index, cfg, IMEI_PATTERN)),
}


def _items(parsed: Any, field_name: str, cfg: WebhookConfig, allow_object: bool = False) -> list:
    if allow_object and isinstance(parsed, dict):
        parsed = [parsed]
    if not isinstance(parsed, list):
        expected = "a JSON array or object" if allow_object else "a JSON array"
        raise PushValidationError(f"form field {field_name} must be {expected}, got {type(parsed).__name__}")
    if len(parsed) > cfg.max_items:
        raise PushValidationError(
            f"form field {field_name} has {len(parsed)} items, more than the limit of {cfg.max_items}", status=413)
    return parsed


def parse_iothub(path: str, data_list_text: str | None, cfg: WebhookConfig) -> PushBatch:
    """Validate an IoT-Hub ``data_list`` (JSON array string) for ``path`` (e.g. ``pushgps``)."""
    parser = IOTHUB_ITEM_PARSERS[path]
    items = _items(_parse_json_field("data_list", data_list_text), "data_list", cfg)
    batch = PushBatch(path=f"/{path}", push_format="iothub", msg_type=None, item_count=len(items),
                      items_json=data_list_text)
    errors: list[str] = []
    fast_reader = FAST_ITEM_READERS.get(path)
    for index, data in enumerate(items):
        if fast_reader is not None and data.__class__ is dict:
            try:
                destination, row = fast_reader(data, index, cfg)
            except (NotPlain, ArithmeticError, ValueError):
                pass  # read again below by the general reader, which names any problem
            else:
                batch.add(destination, row)
                continue
        where = f"data_list[{index}]"
        if not isinstance(data, dict):
            errors.append(f"{where} must be a JSON object, got {type(data).__name__}")
            continue
        parser(Item(data, where, errors, index), batch, cfg)
    if errors:
        raise PushValidationError(errors)
    return batch


def parse_pro(msg_type: str | None, data_text: str | None, cfg: WebhookConfig) -> PushBatch:
    """Validate a Tracksolid Pro push (``msgType`` + ``data`` JSON). Alarms are parsed into rows; any other
    ``msgType`` is accepted and kept raw in the inbox with status ``parked`` (nothing is lost)."""
    if blank(msg_type):
        raise PushValidationError("form field msgType is required")
    parsed = _parse_json_field("data", data_text)
    items = _items(parsed, "data", cfg, allow_object=True)
    # A single object is item 0 of a one-item array (valid JSON: the text parsed as an object).
    batch = PushBatch(path="/pro", push_format="pro", msg_type=msg_type, item_count=len(items),
                      items_json=f"[{data_text}]" if isinstance(parsed, dict) else data_text)
    if msg_type != PRO_ALARM_MSG_TYPE:
        batch.status = "parked"
        return batch
    errors: list[str] = []
    for index, data in enumerate(items):
        where = f"data[{index}]"
        if not isinstance(data, dict):
            errors.append(f"{where} must be a JSON object, got {type(data).__name__}")
            continue
        item = Item(data, where, errors, index)
        lat, lng = item.position()
        # Push names: alarmType / alarmName (polling says alertTypeId / alarmTypeName).
        batch.add("alarms", {
            "imei": item.imei("imei", "deviceImei"),
            "alarm_type": item.text("alarmType", required=True),
            "alarm_time": item.time(("alarmTime",)),
            "alarm_name": item.text("alarmName"),
            "device_name": item.text("deviceName"),
            "positioning_time": item.time(("positioningTime", "gpsTime"), required=False),
            "lat": lat, "lng": lng,
            "speed_kmh": item.number("speed", "gpsSpeed", low=0),
            "geoid": item.text("geoid", strict=False),
            "raw": data, "item": index,
        })
    if errors:
        raise PushValidationError(errors)
    return batch
