"""The same ground truth as push traffic, in both formats of TRACKSOLID_API.md §7.

* ``iothub`` (Jimi IoT-Hub): ``(path, {"token": T, "data_list": "<JSON array of <= batch_size items>"})`` for
  every path of ``IOTHUB_PATHS``. Each item's event lies in ``[start, end)``; nothing is sent while a device is
  silent. Numbers travel as strings (§3), coordinates as JSON numbers, times as ``yyyy-MM-dd HH:mm:ss`` UTC.

  ============== ====================================================================================
  path           item (truth accessor → receiver table)
  ============== ====================================================================================
  /pushgps       ``deviceImei, gpsTime, gateTime, lat, lng, gpsSpeed, direction, acc, satelliteNum,
                 postType, gpsMode, distance (odometer, metres), altitude`` — every fix with gps_time in the
                 window, sent in arrival order so re-uploaded points (``gpsMode`` 1) come late
                 (``fixes`` → position_history)
  /pushhb        ``deviceImei, gateTime, powerLevel, gsmSign, acc, oilEle, gpsPos`` (``heartbeats``)
  /pushalarm     alarms: ``type "ALARM", deviceImei, gateTime, msg{alertType, alarmName, alarmTime, lat, lng,
                 gpsSpeed, geoid}`` (``alarms``); device attributes, merged in time order:
                 ``type "ICCID", deviceImei, gateTime, msg{"iccid": "89…"}`` and
                 ``type "VIN", deviceImei, gateTime, msg{"vin": "…17 chars…"}``
                 (``attribute_reports`` → device_attribute_reports; reported_at = gateTime)
  /pushevent     ``deviceImei, type (LOGIN | LOGOUT), gateTime`` (``events`` → device_events)
  /pushobd       ``deviceImei, gateTime, dataReportTime, odometerReading, remainingFuelPercentage,
                 coolantTemperature, vehicleBatterVoltage, currentRPM, currentSpeed, vin`` (``obd``)
  /pushfaultinfo ``deviceImei, deviceName, gateTime, eventTime, faultCode, faultDetail`` — the fields of
                 jimi.device.obd.fault; gateTime = eventTime (``fault_codes``)
  /pushtripreport ``deviceImei, deviceName, gateTime (= endTime: sent when the trip ends), startTime,
                 endTime, startLat, startLng, endLat, endLng, distance (METRES, as track.mileage), avgSpeed,
                 maxSpeed, runTimeSecond, fuel (litres)`` (``trip_reports`` → push_trip_reports)
  /pushoil       ``deviceImei, gateTime, oilValue (litres in the tank), unit "L"`` (``fuel_readings``)
  /pushtem       ``deviceImei, gateTime, temperature (°C), humidity (%)`` (``temperature_readings``)
  /pushlbs       ``deviceImei, gateTime, postType "2", lbsJson`` — lbsJson is a JSON *string*
                 ``{"mcc": 639, "mnc": 2, "cells": [{"lac": 4101, "ci": 23011, "rssi": -61}, …]}``
                 (``lbs_readings``; the truth row's ``lbs`` is the parsed object)
  ============== ====================================================================================

  The vendor never published the field lists of oil / tem / faultinfo / tripreport / ICCID / VIN: these shapes
  are ours, chosen to be plausible and kept stable. ``Truth.push_rows`` gives, per receiver table, the rows a
  correct receiver stores from the same window.
* ``pro`` (Tracksolid Pro): ``("", {"msgType": "jimi.push.device.alarm", "data": "<JSON object>"})``, one
  alarm per request; the path is empty because the receiver's URL (with its secret segment) is the target.

Replays: each request is, with probability ``replay_ratio``, sent again identically (byte for byte) a little
later. Everything is deterministic for the same arguments (and fleet seed).
"""

from __future__ import annotations

import json
import random
from datetime import datetime

import requests

from tracksolid_simulator.protocol import format_time, num_str

#: Every IoT-Hub push path the simulator sends (the default of ``push_requests``).
IOTHUB_PATHS = ("/pushgps", "/pushhb", "/pushalarm", "/pushobd", "/pushevent", "/pushfaultinfo", "/pushtripreport",
                "/pushoil", "/pushtem", "/pushlbs")
#: The five paths of the first simulator version (pass ``paths=CORE_IOTHUB_PATHS`` for that traffic).
CORE_IOTHUB_PATHS = ("/pushgps", "/pushhb", "/pushalarm", "/pushobd", "/pushevent")


def _gps_item(f: dict) -> dict:
    return {
        "deviceImei": f["imei"], "gpsTime": format_time(f["gps_time"]), "gateTime": format_time(f["arrived_at"]),
        "lat": f["lat"], "lng": f["lng"], "gpsSpeed": num_str(f["speed_kmh"]), "direction": str(f["direction"]),
        "acc": "1" if f["acc_status"] else "0", "satelliteNum": str(f["satellite"]), "postType": "1",
        "gpsMode": str(f["gps_mode"]), "distance": str(int(f["odometer_km"] * 1000)),
        "altitude": num_str(f["altitude"]),
    }


def _alarm_item(a: dict) -> dict:
    return {
        "type": "ALARM", "deviceImei": a["imei"], "gateTime": format_time(a["alarm_time"]),
        "msg": {"alertType": a["alarm_type"], "alarmName": a["alarm_name"],
                "alarmTime": format_time(a["alarm_time"]), "lat": a["lat"], "lng": a["lng"],
                "gpsSpeed": num_str(a["speed_kmh"]), "geoid": a["geoid"]},
    }


def _attribute_item(r: dict) -> dict:
    return {"type": r["attribute"].upper(), "deviceImei": r["imei"], "gateTime": format_time(r["reported_at"]),
            "msg": {r["attribute"]: r["value"]}}


def _trip_report_item(r: dict, device_name: str) -> dict:
    return {
        "deviceImei": r["imei"], "deviceName": device_name, "gateTime": format_time(r["end_time"]),
        "startTime": format_time(r["start_time"]), "endTime": format_time(r["end_time"]),
        "startLat": r["start_lat"], "startLng": r["start_lng"], "endLat": r["end_lat"], "endLng": r["end_lng"],
        "distance": str(int(r["distance_km"] * 1000)), "avgSpeed": num_str(r["avg_speed_kmh"]),
        "maxSpeed": num_str(r["max_speed_kmh"]), "runTimeSecond": str(r["run_time_s"]), "fuel": num_str(r["fuel_l"]),
    }


def _fault_item(r: dict) -> dict:
    when = format_time(r["fault_time"])
    return {"deviceImei": r["imei"], "deviceName": r["device_name"], "gateTime": when, "eventTime": when,
            "faultCode": r["fault_code"], "faultDetail": r["fault_detail"]}


def _by_gate_time(items: list[dict]) -> list[dict]:
    """Time order as a hub sends (stable: equal times keep their order)."""
    return sorted(items, key=lambda item: item["gateTime"])


def _batches(path: str, items: list[dict], token: str | None, size: int) -> list[tuple[str, dict]]:
    out = []
    for i in range(0, len(items), size):
        form = {"data_list": json.dumps(items[i:i + size], ensure_ascii=False)}
        if token is not None:
            form["token"] = token
        out.append((path, form))
    return out


def push_requests(fleet, start: datetime, end: datetime, fmt: str = "iothub", replay_ratio: float = 0.0,
                  token: str | None = None, imeis=None, batch_size: int = 50, seed: int = 0,
                  paths: tuple[str, ...] = IOTHUB_PATHS, attribute_reports: bool = True) -> list[tuple[str, dict]]:
    """Push traffic for the window (see module doc); deterministic for the same arguments. ``paths`` picks
    the IoT-Hub paths (in the order of ``IOTHUB_PATHS``); ``attribute_reports=False`` leaves the ICCID / VIN
    items out of /pushalarm."""
    unknown = set(paths) - set(IOTHUB_PATHS)
    if unknown:
        raise ValueError(f"unknown push paths: {sorted(unknown)}")
    truth = fleet.truth
    if fmt == "pro":
        reqs = []
        for a in truth.alarms(start, end, imeis):
            data = {"imei": a["imei"], "deviceName": a["device_name"], "alarmType": a["alarm_type"],
                    "alarmName": a["alarm_name"], "lat": a["lat"], "lng": a["lng"],
                    "alarmTime": format_time(a["alarm_time"])}
            reqs.append(("", {"msgType": "jimi.push.device.alarm", "data": json.dumps(data, ensure_ascii=False)}))
    elif fmt == "iothub":
        reqs = []
        if "/pushgps" in paths:
            fixes = sorted(truth.fixes(start, end, imeis), key=lambda f: (f["arrived_at"], f["imei"], f["gps_time"]))
            reqs += _batches("/pushgps", [_gps_item(f) for f in fixes], token, batch_size)
        if "/pushhb" in paths:
            items = [{"deviceImei": h["imei"], "gateTime": format_time(h["hb_time"]),
                      "powerLevel": str(h["power_level"]), "gsmSign": str(h["gsm_signal"]),
                      "acc": "1" if h["acc_status"] else "0", "oilEle": None, "gpsPos": h["gps_pos"]}
                     for h in truth.heartbeats(start, end, imeis)]
            reqs += _batches("/pushhb", items, token, batch_size)
        if "/pushalarm" in paths:
            items = [_alarm_item(a) for a in truth.alarms(start, end, imeis)]
            if attribute_reports:
                items = _by_gate_time(items + [_attribute_item(r) for r in truth.attribute_reports(start, end, imeis)])
            reqs += _batches("/pushalarm", items, token, batch_size)
        if "/pushobd" in paths:
            items = [{"deviceImei": r["imei"], "gateTime": format_time(r["reading_time"]),
                      "dataReportTime": format_time(r["reading_time"]),
                      "odometerReading": num_str(r["odometer_km"]),
                      "remainingFuelPercentage": num_str(r["fuel_pct"]),
                      "coolantTemperature": num_str(r["coolant_temp_c"]),
                      "vehicleBatterVoltage": num_str(r["battery_v"]), "currentRPM": num_str(r["rpm"]),
                      "currentSpeed": num_str(r["speed_kmh"]), "vin": r["vin"]}
                     for r in truth.obd(start, end, imeis)]
            reqs += _batches("/pushobd", items, token, batch_size)
        if "/pushevent" in paths:
            items = [{"deviceImei": e["imei"], "type": e["event_type"], "gateTime": format_time(e["event_time"])}
                     for e in truth.events(start, end, imeis)]
            reqs += _batches("/pushevent", items, token, batch_size)
        if "/pushfaultinfo" in paths:
            items = _by_gate_time([_fault_item(r) for r in truth.fault_codes(start, end, imeis)])
            reqs += _batches("/pushfaultinfo", items, token, batch_size)
        if "/pushtripreport" in paths:
            items = _by_gate_time([_trip_report_item(r, fleet.by_imei[r["imei"]].device_name)
                                   for r in truth.trip_reports(start, end, imeis)])
            reqs += _batches("/pushtripreport", items, token, batch_size)
        if "/pushoil" in paths:
            items = _by_gate_time([{"deviceImei": r["imei"], "gateTime": format_time(r["reading_time"]),
                                    "oilValue": num_str(r["fuel_value"]), "unit": r["fuel_unit"]}
                                   for r in truth.fuel_readings(start, end, imeis)])
            reqs += _batches("/pushoil", items, token, batch_size)
        if "/pushtem" in paths:
            items = _by_gate_time([{"deviceImei": r["imei"], "gateTime": format_time(r["reading_time"]),
                                    "temperature": num_str(r["temperature_c"]),
                                    "humidity": num_str(r["humidity_pct"])}
                                   for r in truth.temperature_readings(start, end, imeis)])
            reqs += _batches("/pushtem", items, token, batch_size)
        if "/pushlbs" in paths:
            items = _by_gate_time([{"deviceImei": r["imei"], "gateTime": format_time(r["reading_time"]),
                                    "postType": r["post_type"],
                                    "lbsJson": json.dumps(r["lbs"], separators=(",", ":"))}
                                   for r in truth.lbs_readings(start, end, imeis)])
            reqs += _batches("/pushlbs", items, token, batch_size)
    else:
        raise ValueError("fmt must be 'iothub' or 'pro'")
    if replay_ratio <= 0:
        return reqs
    rng = random.Random(seed)
    out: list[tuple[str, dict]] = []
    pending: list[tuple[int, tuple[str, dict]]] = []
    for i, req in enumerate(reqs):
        out.append(req)
        if rng.random() < replay_ratio:
            pending.append((i + rng.randint(0, 3), (req[0], dict(req[1]))))
        due = [p for p in pending if p[0] <= i]
        for p in due:
            out.append(p[1])
            pending.remove(p)
    out.extend(p[1] for p in pending)
    return out


def send_push(url: str, reqs: list[tuple[str, dict]], timeout: float = 30.0) -> list[tuple[int, str]]:
    """POST each request as a form to ``url + path``; returns (HTTP status, body) per request."""
    results = []
    with requests.Session() as session:
        for path, form in reqs:
            response = session.post(url.rstrip("/") + path if path else url, data=form, timeout=timeout)
            results.append((response.status_code, response.text))
    return results
