"""The same ground truth as push traffic, in both formats of TRACKSOLID_API.md §7.

* ``iothub`` (Jimi IoT-Hub): ``(path, {"token": T, "data_list": "<JSON array of <= batch_size items>"})`` for
  ``/pushgps`` (every fix with ``start <= gps_time < end``, sent in arrival order so re-uploaded points come
  late, ``gpsMode`` = 1), ``/pushhb``, ``/pushalarm``, ``/pushobd`` and ``/pushevent`` (LOGIN / LOGOUT).
* ``pro`` (Tracksolid Pro): ``("", {"msgType": "jimi.push.device.alarm", "data": "<JSON object>"})``, one
  alarm per request; the path is empty because the receiver's URL (with its secret segment) is the target.

Replays: each request is, with probability ``replay_ratio``, sent again identically a little later.
"""

from __future__ import annotations

import json
import random
from datetime import datetime

import requests

from tracksolid_simulator.protocol import format_time, num_str

IOTHUB_PATHS = ("/pushgps", "/pushhb", "/pushalarm", "/pushobd", "/pushevent")


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
                  paths: tuple[str, ...] = IOTHUB_PATHS) -> list[tuple[str, dict]]:
    """Push traffic for the window (see module doc); deterministic for the same arguments."""
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
            reqs += _batches("/pushalarm", [_alarm_item(a) for a in truth.alarms(start, end, imeis)], token,
                             batch_size)
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
