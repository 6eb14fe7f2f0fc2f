"""One parser per API method: raw payload items → typed rows.

Rows are keyed by the exact column names of ``include/sql/migrations/tracksolid_db/0002_live_tables.sql``
(``geom``, ``ingested_at`` and ``updated_at`` are the database's business) and carry ``raw``: the item as
received, so nothing the API sent is lost. Times are aware UTC datetimes. The lessons of the API document
live here (TRACKSOLID_API.md §6):

* trip ``distance`` is METRES → ``distance_km`` = metres / 1000 (never multiplied);
* trip duration is ``runTimeSecond`` — one doc example calls it ``elapsed``: both are read;
* alarm names are ``alarmTypeName`` (the field table says ``alertTypeName``: read as a fallback);
* parking uses ``durSecond`` and ISO-8601 ``…Z`` times;
* numbers arrive as strings, sometimes empty or with a unit ("0.00L"); lat/lng as JSON numbers;
* device.list returns vehicle/driver/SIM fields as null even when set: :func:`merge_device` fills them
  from the detail call.

An item that cannot become a row (no IMEI, no key time, an unreadable key time) raises
:class:`RowRejected`; :func:`parse_items` collects those beside the good rows so the caller can report
them (with the raw item) instead of failing the whole batch or dropping them silently.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from tracksolid_hook.values import (
    blank,
    parse_time,
    to_bool,
    to_float,
    to_int,
    to_measure,
    to_text,
)

#: track.list sends posType as 1/2/3; location.list sends GPS/LBS/WIFI. Stored as the text form.
POS_TYPES = {"1": "GPS", "2": "LBS", "3": "WIFI", "5": "BEACON"}

#: Primary keys of the target tables, for de-duplicating pages.
ROW_KEYS: dict[str, tuple[str, ...]] = {
    "devices": ("imei",),
    "live_positions": ("imei",),
    "position_history": ("imei", "gps_time"),
    "trips": ("imei", "start_time"),
    "parking_events": ("imei", "start_time", "acc_type"),
    "alarms": ("imei", "alarm_type", "alarm_time"),
    "obd_readings": ("imei", "reading_time"),
}


class RowRejected(ValueError):
    """One payload item cannot become a row; the message says why."""


@dataclass
class ParseResult:
    rows: list[dict] = field(default_factory=list)
    rejects: list[tuple[Any, str]] = field(default_factory=list)


def parse_items(parser: Callable[..., dict], items: Iterable[Any] | None, **kwargs) -> ParseResult:
    """Run ``parser`` over ``items``; unusable items go to ``rejects`` as (item, reason)."""
    result = ParseResult()
    for item in items or []:
        if not isinstance(item, dict):
            result.rejects.append((item, "item is not a JSON object"))
            continue
        try:
            result.rows.append(parser(item, **kwargs))
        except RowRejected as exc:
            result.rejects.append((item, str(exc)))
    return result


def _imei(item: dict, *names: str) -> str:
    for name in names or ("imei",):
        text = to_text(item.get(name))
        if text:
            return text
    raise RowRejected("no IMEI")


def _key_time(item: dict, name: str) -> datetime:
    value = item.get(name)
    if blank(value):
        raise RowRejected(f"no {name}")
    try:
        return parse_time(value)
    except ValueError as exc:
        raise RowRejected(f"unreadable {name}: {value!r}") from exc


def _time(value: Any) -> datetime | None:
    """Optional time: unreadable → None (the raw item keeps the original text)."""
    try:
        return parse_time(value)
    except ValueError:
        return None


def _first(item: dict, *names: str) -> Any:
    for name in names:
        if not blank(item.get(name)):
            return item[name]
    return None


def _coordinates(item: dict, lat_name: str = "lat", lng_name: str = "lng") -> tuple[float | None, float | None]:
    """lat/lng as floats; (0, 0) — what the API sends for expired devices — and out-of-range → None."""
    lat, lng = to_float(item.get(lat_name)), to_float(item.get(lng_name))
    if lat is None or lng is None or (lat == 0 and lng == 0):
        return None, None
    if not (-90 <= lat <= 90 and -180 <= lng <= 180):
        return None, None
    return lat, lng


def _pos_type(value: Any) -> str | None:
    text = to_text(value)
    if text is None:
        return None
    return POS_TYPES.get(text, text.upper())


# --- devices -------------------------------------------------------------------------------------

def parse_device_list_item(item: dict, *, account: str | None = None) -> dict:
    """``jimi.user.device.list`` item → ``devices`` row (+ ``account`` = the target asked)."""
    return {
        "imei": _imei(item),
        "account": account,
        "device_name": to_text(item.get("deviceName")),
        "mc_type": to_text(item.get("mcType")),
        "mc_type_use_scope": to_text(item.get("mcTypeUseScope")),
        "sim": to_text(item.get("sim")),
        "expiration": _time(item.get("expiration")),
        "activation_time": _time(item.get("activationTime")),
        "remark": to_text(item.get("reMark")),
        "vehicle_name": to_text(item.get("vehicleName")),
        "vehicle_icon": to_text(item.get("vehicleIcon")),
        "vehicle_number": to_text(item.get("vehicleNumber")),
        "vehicle_models": to_text(item.get("vehicleModels")),
        "car_frame": to_text(item.get("carFrame")),
        "driver_name": to_text(item.get("driverName")),
        "driver_phone": to_text(item.get("driverPhone")),
        "enabled_flag": to_int(item.get("enabledFlag")),
        "engine_number": to_text(item.get("engineNumber")),
        "device_group_id": to_text(item.get("deviceGroupId")),
        "device_group": to_text(item.get("deviceGroup")),
        "raw": item,
    }


def parse_device_detail(item: dict) -> dict:
    """``jimi.track.device.detail`` result → ``devices`` row (every field the detail call carries)."""
    row = parse_device_list_item(item, account=to_text(item.get("account")))
    row.update({
        "customer_name": to_text(item.get("customerName")),
        "iccid": to_text(item.get("iccid")),
        "imsi": to_text(item.get("imsi")),
        "import_time": _time(item.get("importTime")),
        "license_plate_no": to_text(_first(item, "licensePlatNo", "licensePlateNo")),
        "vin": to_text(_first(item, "VIN", "vin")),
        "vehicle_brand": to_text(item.get("vehicleBrand")),
        "fuel_100km": to_measure(item.get("fuel_100km")),
        "status": to_text(item.get("status")),
        "current_mileage_km": to_measure(item.get("currentMileage")),
    })
    return row


def merge_device(list_row: dict, detail_row: dict | None) -> dict:
    """device.list row completed by the detail row: the detail fills every null of the list row
    (vehicle name/number, driver, SIM come back null from device.list) and adds the detail-only fields.
    ``raw`` keeps both payloads: ``{"list": …, "detail": …}``."""
    if not detail_row:
        return dict(list_row)
    merged = dict(list_row)
    for name, value in detail_row.items():
        if name == "raw":
            continue
        if merged.get(name) is None and value is not None:
            merged[name] = value
    merged["raw"] = {"list": list_row.get("raw"), "detail": detail_row.get("raw")}
    return merged


# --- positions -----------------------------------------------------------------------------------

def parse_location(item: dict) -> dict:
    """``jimi.user.device.location.list`` / ``jimi.device.location.get`` item → ``live_positions`` row.

    A device that never had a fix sends ``hbTime`` (and its online ``status``) without ``gpsTime``: the row
    keeps them with ``gps_time`` None and no coordinates (the loader stores its heartbeat and online
    state, never a position). Without either time the item is rejected."""
    imei = _imei(item)
    if blank(item.get("gpsTime")):
        hb_time = _key_time(item, "hbTime") if not blank(item.get("hbTime")) else None
        if hb_time is None:
            raise RowRejected("no gpsTime and no hbTime")
        gps_time, lat, lng = None, None, None
    else:
        gps_time = _key_time(item, "gpsTime")
        hb_time = _time(item.get("hbTime"))
        lat, lng = _coordinates(item)
    return {
        "imei": imei,
        "gps_time": gps_time,
        "hb_time": hb_time,
        "lat": lat,
        "lng": lng,
        "speed_kmh": to_measure(item.get("speed")),
        "direction": to_int(item.get("direction")),
        "acc_status": to_bool(item.get("accStatus")),
        "online": to_bool(item.get("status")),
        "pos_type": _pos_type(item.get("posType")),
        "gps_num": to_int(item.get("gpsNum")),
        "gps_signal": to_int(item.get("gpsSignal")),
        "elect_quantity": to_measure(item.get("electQuantity")),
        "power_value": to_measure(item.get("powerValue")),
        "battery_power_val": to_measure(item.get("batteryPowerVal")),
        "current_mileage_km": to_measure(item.get("currentMileage")),
        "temperature": to_measure(item.get("temperature")),
        "tracker_oil": to_measure(item.get("trackerOil")),
        "loc_desc": to_text(item.get("locDesc")),
        "source": "poll",
        "raw": item,
    }


def parse_track_point(item: dict, *, imei: str) -> dict:
    """``jimi.device.track.list`` point (one IMEI per call) → ``position_history`` row."""
    lat, lng = _coordinates(item)
    if lat is None:
        raise RowRejected("no usable lat/lng")
    return {
        "imei": to_text(item.get("imei")) or imei,
        "gps_time": _key_time(item, "gpsTime"),
        "lat": lat,
        "lng": lng,
        "speed_kmh": to_measure(item.get("gpsSpeed")),
        "direction": to_int(item.get("direction")),
        "acc_status": to_bool(_first(item, "ignition", "accStatus")),
        "pos_type": _pos_type(item.get("posType")),
        "satellite": to_int(item.get("satellite")),
        "gps_mode": to_int(item.get("gpsMode")),
        "odometer_km": None,
        "altitude": to_measure(item.get("altitude")),
        "source": "track_list",
        "raw": item,
    }


# --- reports -------------------------------------------------------------------------------------

def metres_to_km(value: Any) -> Decimal | None:
    metres = to_measure(value)
    return None if metres is None else metres / Decimal(1000)


def parse_trip(item: dict) -> dict:
    """``jimi.device.track.mileage`` segment → ``trips`` row; ``distance`` metres → km."""
    start_lat, start_lng = _coordinates(item, "startLat", "startLng")
    end_lat, end_lng = _coordinates(item, "endLat", "endLng")
    return {
        "imei": _imei(item),
        "start_time": _key_time(item, "startTime"),
        "end_time": _time(item.get("endTime")),
        "start_lat": start_lat,
        "start_lng": start_lng,
        "end_lat": end_lat,
        "end_lng": end_lng,
        "distance_km": metres_to_km(item.get("distance")),
        "avg_speed_kmh": to_measure(item.get("avgSpeed")),
        "run_time_s": to_int(_first(item, "runTimeSecond", "elapsed")),
        "source": "poll",
        "raw": item,
    }


def parse_parking(item: dict, *, acc_type: str) -> dict:
    """``jimi.open.platform.report.parking`` row → ``parking_events`` row.

    ``acc_type`` is the logical kind asked for ("off" parking / "on" idling), whatever value was sent, and it
    alone decides the kind: the document defines the request's ``acc_type`` as "on: idling data, off: parking
    data", while a row's ``acc`` is only "Acc status" — and the document's own example rows (3-hour stops,
    ``durSecond`` = ``stopSecond``) carry ``"acc": "on"``. Letting the row's ``acc`` relabel would file a
    parking request's rows as idling; it stays in ``raw``.
    """
    if acc_type not in ("off", "on"):
        raise ValueError(f"acc_type must be 'off' or 'on', got {acc_type!r}")
    lat, lng = _coordinates(item)
    return {
        "imei": _imei(item),
        "start_time": _key_time(item, "startTime"),
        "acc_type": acc_type,
        "end_time": _time(item.get("endTime")),
        "duration_s": to_int(item.get("durSecond")),
        "stop_s": to_int(item.get("stopSecond")),
        "lat": lat,
        "lng": lng,
        "address": to_text(item.get("addr")),
        "device_name": to_text(item.get("deviceName")),
        "raw": item,
    }


def parse_alarm(item: dict) -> dict:
    """``jimi.device.alarm.list`` item → ``alarms`` row (source "poll")."""
    alarm_type = to_text(item.get("alertTypeId"))
    if alarm_type is None:
        raise RowRejected("no alertTypeId")
    lat, lng = _coordinates(item)
    return {
        "imei": _imei(item),
        "alarm_type": alarm_type,
        "alarm_time": _key_time(item, "alertTime"),
        "alarm_name": to_text(_first(item, "alarmTypeName", "alertTypeName")),
        "device_name": to_text(item.get("deviceName")),
        "positioning_time": _time(item.get("positioningTime")),
        "lat": lat,
        "lng": lng,
        "speed_kmh": to_measure(item.get("speed")),
        "geoid": to_text(item.get("geoid")),
        "source": "poll",
        "raw": item,
    }


def parse_obd(item: dict) -> dict:
    """``jimi.device.obd.list`` item → ``obd_readings`` row (source "poll")."""
    return {
        "imei": _imei(item),
        "reading_time": _key_time(item, "dataReportTime"),
        "odometer_km": to_measure(item.get("odometerReading")),
        "fuel_l": to_measure(item.get("remainingFuel")),
        "fuel_pct": to_measure(item.get("remainingFuelPercentage")),
        "rpm": to_measure(item.get("currentRPM")),
        "coolant_temp_c": to_measure(item.get("coolantTemperature")),
        "battery_v": to_measure(item.get("vehicleBatterVoltage")),
        "speed_kmh": to_measure(item.get("currentSpeed")),
        "vin": to_text(item.get("vin")),
        "source": "poll",
        "raw": item,
    }


__all__ = [
    "ROW_KEYS",
    "ParseResult",
    "RowRejected",
    "merge_device",
    "metres_to_km",
    "parse_alarm",
    "parse_device_detail",
    "parse_device_list_item",
    "parse_items",
    "parse_location",
    "parse_obd",
    "parse_parking",
    "parse_track_point",
    "parse_trip",
]
