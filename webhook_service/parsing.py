"""Validate push requests and turn their items into table rows — pure functions, no database.

A request malformed as a whole (body, JSON, envelope, too many items) raises ``PushValidationError`` (a 4xx,
nothing stored). In a well-formed request each item is decided on its own: an item with a problem is
*quarantined* (``PushBatch.quarantine``: its index, the rule it broke and every problem, each naming
``data_list[i].field``) and the good items become rows, so a platform retry is never stuck on one bad item.
An item whose event time is outside the plausibility window (:mod:`tracksolid_hook.plausibility`) is
quarantined too: it never reaches the data tables, so it never moves live state. Values go through
:mod:`webhook_service.reader`; a value that is present but cannot be converted is a problem for the fields
the vendor documents (TRACKSOLID_API.md §7) and ``None`` for the fields we can only guess (oil, temperature,
OBD, fault codes, trip reports: their field lists are not public). Each row keeps its item's raw JSON, so
unknown fields are never lost (a /pushgps fix keeps it without the fields whose values are in its columns, see
:data:`webhook_service.fast_items.GPS_COLUMN_FIELDS`; the whole request is in push_inbox).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import msgspec

from tracksolid_hook.parsers import POS_TYPES
from tracksolid_hook.plausibility import REASON as IMPLAUSIBLE_TIME
from tracksolid_hook.values import blank, to_text
from webhook_service.config import WebhookConfig
from webhook_service.fast_items import NotPlain, gps_row
from webhook_service.reader import (
    IMEI_PATTERN,
    INT16,
    NESTED_TOO_DEEP,
    NOT_AN_OBJECT,
    NUL_CHARACTER,
    Item,
    json_type,
    short,
)

#: The IoT-Hub push paths (TRACKSOLID_API.md §7), without the leading slash.
IOTHUB_PATHS = (
    "pushgps", "pushhb", "pushalarm", "pushevent", "pushobd",
    "pushfaultinfo", "pushtripreport", "pushoil", "pushtem", "pushlbs",
)
#: Tracksolid Pro ``msgType`` values parsed into tables; other types are stored raw and parked.
PRO_ALARM_MSG_TYPE = "jimi.push.device.alarm"

#: /pushalarm ``type`` values that carry a device attribute instead of an alarm.
ATTRIBUTE_TYPES = {"ICCID": "iccid", "VIN": "vin"}
#: The alarm type of an alarm-ended message; the code of the alarm that ended is in ``msg.removeAlarmType``.
ALARM_ENDED_TYPE = "removeAlarmType"
#: device_events.event_type of an alarm-ended message: this prefix + the ended alarm's type.
ALARM_ENDED_EVENT = "ALARM_ENDED:"
#: The column whose time the plausibility window checks, per destination.
EVENT_TIME_COLUMNS = {
    "position_history": "gps_time", "heartbeats": "hb_time", "alarms": "alarm_time",
    "device_events": "event_time", "obd_readings": "reading_time", "fault_codes": "fault_time",
    "push_trip_reports": "start_time", "fuel_readings": "reading_time", "temperature_readings": "reading_time",
    "lbs_readings": "reading_time", "device_attribute_reports": "reported_at",
}


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
    #: (by the row's ``item`` index), so the raw JSON is exactly what was sent and Python never re-encodes it
    #: (except when an item holds a NUL character, which jsonb cannot store: see :func:`_without_nul_items`).
    items_json: str | None = None
    #: Items not stored: ``{"item": index, "reason": rule, "detail": problems}`` (+ ``item_value`` when the
    #: item had to be re-encoded).
    quarantine: list[dict] = field(default_factory=list)

    def add(self, destination: str, row: dict) -> None:
        self.rows.setdefault(destination, []).append(row)

    def quarantine_item(self, index: int, reason: str, problems: list[str], item_value=None) -> None:
        entry = {"item": index, "reason": reason, "detail": "; ".join(problems)}
        if item_value is not None:
            entry["item_value"] = item_value
        self.quarantine.append(entry)

    @property
    def accepted_count(self) -> int:
        """Items that became rows (stored, or already stored under the same key)."""
        return self.item_count - len(self.quarantine)

    @property
    def imeis(self) -> list[str]:
        return sorted({row["imei"] for rows in self.rows.values() for row in rows})


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
    except RecursionError as exc:  # nesting deeper than the interpreter's recursion limit (~1000)
        raise PushValidationError(f"form field {name} is nested too deeply") from exc


def _nested_json(text: str) -> Any:
    """A JSON document inside a string field (alarm ``msg``, ``lbsJson``), decoded as strictly as the
    request: ValueError when it is not JSON, RecursionError when it is nested too deeply."""
    try:
        return _JSON_DECODER.decode(text)
    except msgspec.DecodeError as exc:
        raise ValueError(str(exc)) from exc


def _has_nul(value: Any) -> bool:
    """Whether a decoded JSON value holds a NUL character anywhere (keys included): jsonb cannot store it."""
    if value.__class__ is str:
        return "\x00" in value
    if isinstance(value, dict):
        return any("\x00" in key or _has_nul(v) for key, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


def _without_nul(value: Any) -> Any:
    """``value`` with every NUL character replaced by U+FFFD (for the quarantine copy)."""
    if value.__class__ is str:
        return value.replace("\x00", "\ufffd")
    if isinstance(value, dict):
        return {key.replace("\x00", "\ufffd"): _without_nul(v) for key, v in value.items()}
    if isinstance(value, list):
        return [_without_nul(v) for v in value]
    return value


def _km(value: Decimal | None, unit: str) -> Decimal | None:
    if value is None:
        return None
    return value / 1000 if unit == "m" else value


# --- IoT-Hub items, one function per path: (item, batch, config) -> rows added to batch ------------------

def pos_type_name(value: str | None) -> str | None:
    """One vocabulary with polling: the push's raw code ("1") as the API's text form ("GPS")."""
    return None if value is None else POS_TYPES.get(value, value.upper())


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
        "pos_type": pos_type_name(item.text("postType", "posType")),
        "gps_mode": item.integer("gpsMode", low=-INT16 - 1, high=INT16),  # smallint column
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
            msg = _nested_json(msg)
        except ValueError:
            item.fail("invalid_value", f"{item.where}.msg must be a JSON object, got {short(msg)}")
            msg = {}
    if blank(msg):
        msg = {}
    if not isinstance(msg, dict):
        item.fail("invalid_value", f"{item.where}.msg must be a JSON object, got {short(msg)}")
        msg = {}
    item.msg = msg
    imei = item.imei("imei", "deviceImei", "msg.deviceImei", "msg.imei")
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
    alarm_type = item.text("msg.alertType", "msg.alarmType", "alertType", "alarmType", required=True)
    if alarm_type == ALARM_ENDED_TYPE:
        # An alarm ended: kept as a device event naming the alarm that ended (not as an alarm of that type).
        ended = item.text("msg.removeAlarmType", "removeAlarmType", required=True)
        batch.add("device_events", {
            "imei": imei, "event_time": item.time(cfg.event_time_fields["pushalarm"]),
            "event_type": f"{ALARM_ENDED_EVENT}{ended}", "raw": item.data, "item": item.index,
        })
        return
    if item.text("msgClass", "msg.msgClass", strict=False) == "1":
        # JT/T 808 (msgClass 1): alertType 264 / 265 / ... carries its subtype in alarmType: keep both
        # ("264-1"), or two subtypes in the same second would collapse into one row and the subtype be lost.
        subtype = item.text("msg.alarmType", "alarmType", strict=False)
        if alarm_type is not None and subtype is not None and subtype != alarm_type:
            alarm_type = f"{alarm_type}-{subtype}"
    lat, lng = item.position(("msg.lat", "lat"), ("msg.lng", "lng"))
    batch.add("alarms", {
        "imei": imei,
        "alarm_type": alarm_type,
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
    # Part of the key: a report without a code is kept under "" rather than dropped.
    fault_code = (to_text(code) if not isinstance(code, dict) else json.dumps(code, sort_keys=True)) or ""
    if "\x00" in fault_code:
        item.fail(NUL_CHARACTER, f"{item.where}.faultCode must be text without NUL characters")
    batch.add("fault_codes", {
        "imei": item.imei("deviceImei", "imei"),
        "fault_time": item.time(cfg.event_time_fields["pushfaultinfo"]),
        "fault_code": fault_code,
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
            lbs = _nested_json(lbs)
        except ValueError:
            pass  # kept as the string it came as (NaN / Infinity are not JSON: the lbs column is jsonb)
    if lbs is not None and _has_nul(lbs):
        item.fail(NUL_CHARACTER, f"{item.where}.lbsJson must be text without NUL characters")
    batch.add("lbs_readings", {
        "imei": item.imei("deviceImei", "imei"),
        "reading_time": item.time(cfg.event_time_fields["pushlbs"]),
        "post_type": pos_type_name(item.text("postType", "posType")),
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
        raise PushValidationError(f"form field {field_name} must be {expected}, got {json_type(parsed)}")
    if len(parsed) > cfg.max_items:
        raise PushValidationError(
            f"form field {field_name} has {len(parsed)} items, more than the limit of {cfg.max_items}", status=413)
    return parsed


class _Pending:
    """The rows one item produces, added to the batch only when the item turns out good."""

    __slots__ = ("rows",)

    def __init__(self):
        self.rows: list[tuple[str, dict]] = []

    def add(self, destination: str, row: dict) -> None:
        self.rows.append((destination, row))


def _read_items(batch: PushBatch, items: list, items_text: str, prefix: str, parser, cfg: WebhookConfig,
                fast_reader=None) -> None:
    """Turn each item into its row(s) or quarantine it with its reason (see the module docstring)."""
    now = datetime.now(UTC)
    window = cfg.plausibility
    floor, latest = window.floor, window.latest(now)
    nul_items: set[int] = set()
    if "\\u0000" in items_text:  # rare: an escaped NUL somewhere (jsonb cannot store it)
        nul_items = {index for index, data in enumerate(items) if _has_nul(data)}
        if nul_items:
            batch.items_json = _without_nul_items(items, nul_items)
    for index, data in enumerate(items):
        where = f"{prefix}[{index}]"
        if index in nul_items:
            batch.quarantine_item(index, NUL_CHARACTER, [f"{where} holds a NUL character (\\u0000)"],
                                  item_value=_without_nul(data))
            continue
        if fast_reader is not None and data.__class__ is dict:
            try:
                destination, row = fast_reader(data, index, cfg)
            except (NotPlain, ArithmeticError, ValueError):
                pass  # read again below by the general reader, which names any problem
            else:
                moment = row[EVENT_TIME_COLUMNS[destination]]
                if floor <= moment <= latest:
                    batch.add(destination, row)
                    continue
                # implausible: the general path below words the reason
        if not isinstance(data, dict):
            batch.quarantine_item(index, NOT_AN_OBJECT, [f"{where} must be a JSON object, got {json_type(data)}"])
            continue
        item = Item(data, where, index)
        pending = _Pending()
        try:
            parser(item, pending, cfg)
        except RecursionError:
            item.fail(NESTED_TOO_DEEP, f"{where} is nested too deeply")
        if not item.errors:
            for destination, row in pending.rows:
                column = EVENT_TIME_COLUMNS[destination]
                problem = window.problem(row[column], now)
                if problem:
                    item.fail(IMPLAUSIBLE_TIME, f"{where}: event time {problem}")
        if item.errors:
            batch.quarantine_item(index, item.reasons[0], item.errors)
            continue
        for destination, row in pending.rows:
            batch.add(destination, row)


def _without_nul_items(items: list, nul_items: set[int]) -> str:
    """The items array for the database with the NUL-holding items replaced by null (re-encoded: only in this
    rare case does a row's raw JSON come from Python's encoding instead of the text as sent)."""
    return msgspec.json.encode([None if index in nul_items else data for index, data in enumerate(items)]).decode()


def parse_iothub(path: str, data_list_text: str | None, cfg: WebhookConfig) -> PushBatch:
    """Validate an IoT-Hub ``data_list`` (JSON array string) for ``path`` (e.g. ``pushgps``)."""
    items = _items(_parse_json_field("data_list", data_list_text), "data_list", cfg)
    batch = PushBatch(path=f"/{path}", push_format="iothub", msg_type=None, item_count=len(items),
                      items_json=data_list_text)
    _read_items(batch, items, data_list_text, "data_list", IOTHUB_ITEM_PARSERS[path], cfg,
                FAST_ITEM_READERS.get(path))
    return batch


def _pro_alarm(item: Item, batch, cfg: WebhookConfig) -> None:
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
        "raw": item.data, "item": item.index,
    })


def parse_pro(msg_type: str | None, data_text: str | None, cfg: WebhookConfig) -> PushBatch:
    """Validate a Tracksolid Pro push (``msgType`` + ``data`` JSON). Alarms are parsed into rows; any other
    ``msgType`` is accepted and kept raw in the inbox with status ``parked`` (nothing is lost)."""
    if blank(msg_type):
        raise PushValidationError("form field msgType is required")
    parsed = _parse_json_field("data", data_text)
    items = _items(parsed, "data", cfg, allow_object=True)
    # A single object is item 0 of a one-item array (valid JSON: the text parsed as an object).
    items_json = f"[{data_text}]" if isinstance(parsed, dict) else data_text
    batch = PushBatch(path="/pro", push_format="pro", msg_type=msg_type, item_count=len(items),
                      items_json=items_json)
    if msg_type != PRO_ALARM_MSG_TYPE:
        batch.status = "parked"
        return batch
    _read_items(batch, items, items_json, "data", _pro_alarm, cfg)
    return batch
