"""Every IoT-Hub push path of the simulator: item shapes, truth ⇔ pushed items, physical consistency of the
push-only streams, determinism and replays, and an end-to-end run through the real push receiver."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from tracksolid_hook.values import parse_time, to_decimal
from tracksolid_simulator import Fleet, SimulatorConfig
from tracksolid_simulator.fleet import LBS_INTERVAL_S, local_date_of
from tracksolid_simulator.push import CORE_IOTHUB_PATHS, IOTHUB_PATHS, send_push
from tracksolid_simulator.truth import PUSH_TABLES

START = datetime(2025, 5, 27, 3, 0, tzinfo=UTC)
END = START + timedelta(days=3)
CFG = {"devices": 10, "accounts": 2, "seed": 7}

#: Exact item keys per path (the shapes documented in push.py).
SHAPES = {
    "/pushgps": {"deviceImei", "gpsTime", "gateTime", "lat", "lng", "gpsSpeed", "direction", "acc", "satelliteNum",
                 "postType", "gpsMode", "distance", "altitude"},
    "/pushhb": {"deviceImei", "gateTime", "powerLevel", "gsmSign", "acc", "oilEle", "gpsPos"},
    "/pushevent": {"deviceImei", "type", "gateTime"},
    "/pushobd": {"deviceImei", "gateTime", "dataReportTime", "odometerReading", "remainingFuelPercentage",
                 "coolantTemperature", "vehicleBatterVoltage", "currentRPM", "currentSpeed", "vin"},
    "/pushfaultinfo": {"deviceImei", "deviceName", "gateTime", "eventTime", "faultCode", "faultDetail"},
    "/pushtripreport": {"deviceImei", "deviceName", "gateTime", "startTime", "endTime", "startLat", "startLng",
                        "endLat", "endLng", "distance", "avgSpeed", "maxSpeed", "runTimeSecond", "fuel"},
    "/pushoil": {"deviceImei", "gateTime", "oilValue", "unit"},
    "/pushtem": {"deviceImei", "gateTime", "temperature", "humidity"},
    "/pushlbs": {"deviceImei", "gateTime", "postType", "lbsJson"},
}
ALARM_SHAPES = {
    "ALARM": ({"type", "deviceImei", "gateTime", "msg"},
              {"alertType", "alarmName", "alarmTime", "lat", "lng", "gpsSpeed", "geoid"}),
    "ICCID": ({"type", "deviceImei", "gateTime", "msg"}, {"iccid"}),
    "VIN": ({"type", "deviceImei", "gateTime", "msg"}, {"vin"}),
}
COORDINATES = {"lat", "lng", "startLat", "startLng", "endLat", "endLng"}


@pytest.fixture(scope="module")
def fleet():
    return Fleet(SimulatorConfig(**CFG))


@pytest.fixture(scope="module")
def items_by_path(fleet):
    by_path: dict[str, list[dict]] = defaultdict(list)
    for path, form in fleet.push_requests(START, END, fmt="iothub", token="t0k"):
        assert set(form) == {"token", "data_list"} and form["token"] == "t0k"
        items = json.loads(form["data_list"])
        assert 0 < len(items) <= 50
        by_path[path].extend(items)
    return by_path


def _t(text: str) -> datetime:
    return parse_time(text)


def test_every_path_is_sent_with_its_documented_shape(items_by_path):
    assert set(items_by_path) == set(IOTHUB_PATHS)
    for path, keys in SHAPES.items():
        for item in items_by_path[path]:
            assert set(item) == keys, path
            for key, value in item.items():
                if key in COORDINATES:
                    assert isinstance(value, float)
                elif key != "oilEle":  # the heartbeat's oil level is null: no sensor on the heartbeat
                    assert isinstance(value, str), (path, key)  # numbers travel as strings (§3)
            _t(item["gateTime"])
    kinds = set()
    for item in items_by_path["/pushalarm"]:
        keys, msg_keys = ALARM_SHAPES[item["type"]]
        assert set(item) == keys and set(item["msg"]) == msg_keys
        kinds.add(item["type"])
    assert kinds == {"ALARM", "ICCID", "VIN"}
    gates = [_t(item["gateTime"]) for item in items_by_path["/pushalarm"]]
    assert gates == sorted(gates)  # attribute reports merged into the alarms in time order
    for item in items_by_path["/pushlbs"]:
        lbs = json.loads(item["lbsJson"])
        assert item["postType"] == "2" and lbs["mcc"] in (639, 641) and len(lbs["cells"]) == 3
        assert all(set(cell) == {"lac", "ci", "rssi"} and cell["rssi"] < 0 for cell in lbs["cells"])
    for item in items_by_path["/pushtripreport"]:
        assert item["gateTime"] == item["endTime"] and int(item["distance"]) > 0  # metres, integer
    for item in items_by_path["/pushfaultinfo"]:
        assert item["gateTime"] == item["eventTime"] and item["faultCode"][0] in "PBCU"


def test_pushed_items_carry_exactly_the_truth(fleet, items_by_path):
    truth = fleet.truth
    trips = items_by_path["/pushtripreport"]
    assert sorted((i["deviceImei"], _t(i["startTime"]), _t(i["endTime"]), i["startLat"], i["startLng"], i["endLat"],
                   i["endLng"], Decimal(i["distance"]) / 1000, to_decimal(i["avgSpeed"]), to_decimal(i["maxSpeed"]),
                   int(i["runTimeSecond"]), to_decimal(i["fuel"])) for i in trips) == \
        sorted((r["imei"], r["start_time"], r["end_time"], r["start_lat"], r["start_lng"], r["end_lat"], r["end_lng"],
                r["distance_km"], r["avg_speed_kmh"], r["max_speed_kmh"], r["run_time_s"], r["fuel_l"])
               for r in truth.trip_reports(START, END))
    assert sorted((i["deviceImei"], _t(i["gateTime"]), to_decimal(i["oilValue"]), i["unit"])
                  for i in items_by_path["/pushoil"]) == \
        sorted((r["imei"], r["reading_time"], r["fuel_value"], r["fuel_unit"]) for r in truth.fuel_readings(START, END))
    assert sorted((i["deviceImei"], _t(i["gateTime"]), to_decimal(i["temperature"]), to_decimal(i["humidity"]))
                  for i in items_by_path["/pushtem"]) == \
        sorted((r["imei"], r["reading_time"], r["temperature_c"], r["humidity_pct"])
               for r in truth.temperature_readings(START, END))
    assert sorted((i["deviceImei"], _t(i["gateTime"]), i["postType"], i["lbsJson"])
                  for i in items_by_path["/pushlbs"]) == \
        sorted((r["imei"], r["reading_time"], r["post_type"], json.dumps(r["lbs"], separators=(",", ":")))
               for r in truth.lbs_readings(START, END))
    assert sorted((i["deviceImei"], _t(i["eventTime"]), i["faultCode"], i["faultDetail"], i["deviceName"])
                  for i in items_by_path["/pushfaultinfo"]) == \
        sorted((r["imei"], r["fault_time"], r["fault_code"], r["fault_detail"], r["device_name"])
               for r in truth.fault_codes(START, END))
    attributes = [i for i in items_by_path["/pushalarm"] if i["type"] != "ALARM"]
    assert [(i["deviceImei"], i["type"].lower(), _t(i["gateTime"]), i["msg"][i["type"].lower()]) for i in attributes] \
        == [(r["imei"], r["attribute"], r["reported_at"], r["value"]) for r in truth.attribute_reports(START, END)]
    assert sorted((i["deviceImei"], _t(i["gateTime"]), i["type"]) for i in items_by_path["/pushevent"]) == \
        sorted((r["imei"], r["event_time"], r["event_type"]) for r in truth.events(START, END))
    rows = truth.push_rows(START, END)
    assert set(rows) == {table for tables in PUSH_TABLES.values() for table in tables}
    assert len(rows["position_history"]) == len(items_by_path["/pushgps"])
    assert len(rows["heartbeats"]) == len(items_by_path["/pushhb"])
    assert len(rows["obd_readings"]) == len(items_by_path["/pushobd"])
    assert len(rows["alarms"]) + len(attributes) == len(items_by_path["/pushalarm"])


def test_trip_reports_match_the_trips_and_the_fixes(fleet):
    truth = fleet.truth
    reports = truth.trip_reports(START, END)
    assert len(reports) > 20
    # The API's trips (track.mileage, by start time) of a window covering every report's start are the
    # same trips with the same figures.
    mileage = {(t["imei"], t["start_time"]): t for t in truth.trips(START - timedelta(days=1), END)}
    fixes = truth.fixes(START - timedelta(days=1), END)
    speeds = defaultdict(list)
    for f in fixes:
        speeds[f["imei"]].append((f["gps_time"], f["speed_kmh"]))
    for r in reports:
        trip = mileage[(r["imei"], r["start_time"])]
        assert {k: r[k] for k in trip} == trip
        assert START <= r["end_time"] < END
        driven = [v for t, v in speeds[r["imei"]] if r["start_time"] <= t < r["end_time"]]
        assert r["max_speed_kmh"] == max(driven) >= r["avg_speed_kmh"] > 0
        rate = Decimal(fleet.by_imei[r["imei"]].info["fuel_100km"]) / 100
        assert abs(r["fuel_l"] - r["distance_km"] * rate) <= Decimal("0.005")


def test_sensor_streams_are_physically_plausible(fleet):
    truth = fleet.truth
    fuel = truth.fuel_readings(START, END)
    assert fuel and {r["imei"] for r in fuel} == {d.imei for d in fleet.devices if d.has_fuel_sensor}
    by_device = defaultdict(list)
    for r in fuel:
        by_device[r["imei"]].append(r)
    drained = Decimal(0)
    for imei, readings in by_device.items():
        dev = fleet.by_imei[imei]
        capacity, litres_per_km = dev.fuel_tank_l, Decimal(dev.info["fuel_100km"]) / 100
        for prev, cur in zip(readings, readings[1:], strict=False):
            assert 0.25 * capacity <= cur["fuel_value"] <= capacity + 1
            # Consumption follows the odometer (±0.3 L sensor noise, 0.05 L rounding per reading) …
            burnt = (fleet.truth.odometer_km(imei, cur["reading_time"])
                     - fleet.truth.odometer_km(imei, prev["reading_time"])) * litres_per_km
            change = cur["fuel_value"] - prev["fuel_value"]
            if change > 1:  # … except at a refill, which tops the tank up by 70 % of its capacity
                change -= Decimal(0.7 * capacity)
            assert abs(change + burnt) <= Decimal("0.75"), (imei, prev, cur)
            drained += burnt
    assert drained > 5
    temperature = truth.temperature_readings(START, END)
    assert {r["imei"] for r in temperature} == {d.imei for d in fleet.devices if d.has_temperature_sensor}
    assert all(Decimal(3) <= r["temperature_c"] <= Decimal(11) and 70 <= r["humidity_pct"] <= 85
               for r in temperature)
    assert any(r["temperature_c"] > 6 for r in temperature)  # doors opened at a customer site
    # LBS fixes come from weak-GPS spells inside drives, where the device also sends GPS fixes, ACC on.
    fixes = {(f["imei"], f["gps_time"]): f for f in truth.fixes(START, END)}
    lbs = truth.lbs_readings(START, END)
    assert len(lbs) > 20
    for r in lbs:
        assert fixes[(r["imei"], r["reading_time"])]["acc_status"] is True
        spells = truth.lbs_spells(r["imei"], local_date_of(int(r["reading_time"].timestamp())))
        assert any(a <= r["reading_time"].timestamp() < b for a, b in spells)
        country = fleet.by_imei[r["imei"]].info["iccid"][2:5]  # 254 Kenya, 256 Uganda
        assert r["lbs"]["mcc"] == {"254": 639, "256": 641}[country]
    assert all(b["reading_time"] - a["reading_time"] >= timedelta(seconds=LBS_INTERVAL_S)
               for a, b in zip(lbs, lbs[1:], strict=False) if a["imei"] == b["imei"])


def test_fault_codes_and_attribute_reports_follow_the_devices(fleet):
    truth = fleet.truth
    end = START + timedelta(days=10)
    faults = truth.fault_codes(START, end)
    assert faults
    obd_times = {(r["imei"], r["reading_time"]) for r in truth.obd(START, end)}
    for r in faults:
        assert fleet.by_imei[r["imei"]].has_obd
        assert (r["imei"], r["fault_time"]) in obd_times  # raised while the engine runs, at an OBD reading
    reports = truth.attribute_reports(START, end)
    devices = {d["imei"]: d for d in truth.devices()}
    assert all(r["value"] == devices[r["imei"]][r["attribute"]] for r in reports)
    vins = {r["imei"] for r in reports if r["attribute"] == "vin"}
    assert vins == {d.imei for d in fleet.devices if d.has_obd}
    iccid_times = {(r["imei"], r["reported_at"]) for r in reports if r["attribute"] == "iccid"}
    logins = [e for e in truth.events(START, end) if e["event_type"] == "LOGIN"]
    assert logins and all((e["imei"], e["event_time"]) in iccid_times for e in logins)


def test_windows_add_up_and_devices_are_independent(fleet):
    """Consecutive windows carry exactly the rows of their union, and one device's rows do not depend on the
    others (everything is seeded per device and day)."""
    middle = START + timedelta(hours=37, minutes=30)
    whole = fleet.truth.push_rows(START, END)
    first, second = fleet.truth.push_rows(START, middle), fleet.truth.push_rows(middle, END)
    for table, rows in whole.items():
        assert sorted(map(repr, first[table] + second[table])) == sorted(map(repr, rows)), table
    imei = next(d.imei for d in fleet.devices if d.has_obd)
    alone = Fleet(SimulatorConfig(**CFG)).truth.push_rows(START, END, imeis=[imei])
    for table, rows in whole.items():
        assert alone[table] == [r for r in rows if r["imei"] == imei], table


def _digest(reqs) -> str:
    return hashlib.sha256(json.dumps(reqs, sort_keys=True).encode()).hexdigest()


def test_push_traffic_is_deterministic_and_replays_are_identical(fleet):
    reqs = fleet.push_requests(START, END, token="x")
    assert Fleet(SimulatorConfig(**CFG)).push_requests(START, END, token="x") == reqs
    assert Fleet(SimulatorConfig(**{**CFG, "seed": 8})).push_requests(START, END, token="x") != reqs
    code = ("import hashlib, json, sys; from datetime import datetime; from tracksolid_simulator import Fleet, "
            "SimulatorConfig; a, b = (datetime.fromisoformat(x) for x in sys.argv[1:3]); "
            "r = Fleet(SimulatorConfig(devices=10, accounts=2, seed=7)).push_requests(a, b, token='x'); "
            "print(hashlib.sha256(json.dumps(r, sort_keys=True).encode()).hexdigest())")
    other_process = subprocess.run([sys.executable, "-c", code, START.isoformat(), END.isoformat()],
                                   capture_output=True, text=True, timeout=120, env={"PYTHONHASHSEED": "random"})
    assert other_process.returncode == 0, other_process.stderr
    assert other_process.stdout.strip() == _digest(reqs)
    replayed = fleet.push_requests(START, END, token="x", replay_ratio=0.2, seed=3)
    originals = {(p, json.dumps(f, sort_keys=True)) for p, f in reqs}
    seen = [(p, json.dumps(f, sort_keys=True)) for p, f in replayed]
    assert set(seen) == originals and len(seen) > len(reqs)
    assert {p for p, f in replayed if seen.count((p, json.dumps(f, sort_keys=True))) > 1} >= {"/pushgps"}
    # Per-path selection keeps exactly those paths' requests, in the same bytes.
    only = fleet.push_requests(START, END, token="x", paths=("/pushlbs", "/pushoil"))
    assert only == [r for r in reqs if r[0] in ("/pushlbs", "/pushoil")] and only
    core = fleet.push_requests(START, END, token="x", paths=CORE_IOTHUB_PATHS, attribute_reports=False)
    assert {p for p, _ in core} <= set(CORE_IOTHUB_PATHS)
    assert all(i["type"] == "ALARM" for p, f in core if p == "/pushalarm" for i in json.loads(f["data_list"]))
    with pytest.raises(ValueError, match="/pushnothing"):
        fleet.push_requests(START, END, paths=("/pushgps", "/pushnothing"))


#: Primary key of each receiver table (include/sql/migrations/tracksolid_db/0002, 0030).
PRIMARY_KEYS = {
    "position_history": ("imei", "gps_time"), "heartbeats": ("imei", "hb_time"),
    "alarms": ("imei", "alarm_type", "alarm_time"), "device_attribute_reports": ("imei", "attribute", "reported_at"),
    "device_events": ("imei", "event_time", "event_type"), "obd_readings": ("imei", "reading_time"),
    "fault_codes": ("imei", "fault_time", "fault_code"), "push_trip_reports": ("imei", "start_time"),
    "fuel_readings": ("imei", "reading_time"), "temperature_readings": ("imei", "reading_time"),
    "lbs_readings": ("imei", "reading_time"),
}


def test_end_to_end_through_the_real_receiver_matches_push_rows(fleet, webhook, live_conn):
    """Every path over three days, with replays, over real HTTP into the real receiver and database: each
    table holds exactly ``push_rows`` (compared by primary key, every truth column). The devices are those
    with a sensor or an OBD port, or that fall silent (LOGIN / LOGOUT), so that no table is left empty."""
    imeis = [d.imei for d in fleet.devices
             if d.has_fuel_sensor or d.has_temperature_sensor or d.has_obd or d.flaky or d.chronic_silent]
    reqs = fleet.push_requests(START, END, token=webhook.token, replay_ratio=0.1, seed=5, imeis=imeis)
    results = send_push(webhook.base_url, reqs)
    assert all(status == 200 for status, _ in results), [r for r in results if r[0] != 200][:3]
    expected = fleet.truth.push_rows(START, END, imeis=imeis)
    assert set(expected) == set(PRIMARY_KEYS) and all(expected.values())
    with live_conn.cursor() as cur:
        for table, rows in expected.items():
            if not rows:
                continue
            columns = sorted(rows[0])
            cur.execute(f"SELECT {', '.join(columns)} FROM tracksolid.{table}")  # noqa: S608 - fixed names
            stored = [dict(zip(columns, row, strict=True)) for row in cur.fetchall()]
            assert len(stored) == len(rows), table
            assert _by_key(table, stored) == _by_key(table, rows), table


def _by_key(table: str, rows: list[dict]) -> dict:
    return {tuple(row[k] for k in PRIMARY_KEYS[table]): row for row in rows}
