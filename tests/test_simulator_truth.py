"""Ground truth: determinism, physical plausibility, and API answers == truth for the same window."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import requests

from tracksolid_hook.values import parse_time, to_bool, to_decimal, to_float, to_int
from tracksolid_simulator import Fleet, SimulatorConfig
from tracksolid_simulator.client import SimpleClient
from tracksolid_simulator.fleet import DAY_S
from tracksolid_simulator.geo import haversine_m

FROZEN = datetime(2025, 6, 4, 12, 0, tzinfo=UTC)
WEEK_START = datetime(2025, 5, 26, 21, 0, tzinfo=UTC)  # local Tuesday 00:00 EAT


def fmt(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S")


@pytest.fixture
def frozen(simulator_factory):
    server = simulator_factory(clock_start=FROZEN, clock_speed=0, devices=18, accounts=3, seed=5)
    client = SimpleClient(server.url, server.cfg.app_key, server.cfg.app_secret)
    account, password = server.cfg.account_credentials()[0]
    assert client.login(account, password)["code"] == 0
    return server, client


# ---------------------------------------------------------------------------------- determinism ----
def test_fleet_is_deterministic_per_seed():
    a = Fleet(SimulatorConfig(devices=30, accounts=3, seed=9))
    b = Fleet(SimulatorConfig(devices=30, accounts=3, seed=9))
    c = Fleet(SimulatorConfig(devices=30, accounts=3, seed=10))
    start, end = WEEK_START, WEEK_START + timedelta(days=2)
    assert a.truth.devices() == b.truth.devices()
    assert a.truth.fixes(start, end) == b.truth.fixes(start, end)
    assert a.truth.trips(start, end) == b.truth.trips(start, end)
    assert a.truth.alarms(start, end) == b.truth.alarms(start, end)
    assert [d["imei"] for d in a.truth.devices()] != [d["imei"] for d in c.truth.devices()]
    # a window's answer does not depend on what was generated before (lazy per device-day)
    fresh = Fleet(SimulatorConfig(devices=30, accounts=3, seed=9))
    assert fresh.truth.fixes(end - timedelta(hours=5), end) == a.truth.fixes(end - timedelta(hours=5), end)


def test_device_catalogue():
    fleet = Fleet(SimulatorConfig(devices=160, accounts=3, seed=1))
    devices = fleet.truth.devices()
    imeis = [d["imei"] for d in devices]
    assert len(set(imeis)) == 160 and all(len(i) == 15 and i.isdigit() for i in imeis)

    def luhn_ok(number: str) -> bool:
        total = 0
        for i, ch in enumerate(reversed(number)):
            d = int(ch) * (2 if i % 2 else 1)
            total += d - 9 if d > 9 else d
        return total % 10 == 0

    assert all(luhn_ok(i) for i in imeis)
    assert {d["account"] for d in devices} == set(fleet.accounts) and len(fleet.accounts) == 3
    cities = {d["assigned_city"] for d in devices}
    assert cities == {"Nairobi", "Mombasa", "Kampala"}
    assert {d["mc_type"] for d in devices} == {"AT4", "JC400P", "X3", "GT06E"}
    assert any(d["driver_name"] is None for d in devices)  # some unassigned (audit material)
    assert all(d["expiration"].tzinfo is not None for d in devices)


# ---------------------------------------------------------------------------------- plausibility ----
def test_day_plans_cover_the_day_and_the_odometer_is_continuous():
    fleet = Fleet(SimulatorConfig(devices=20, accounts=2, seed=4))
    for dev in fleet.devices:
        day = (WEEK_START + timedelta(hours=3)).date()
        previous_end = None
        for n in range(7):
            plan = fleet.plan(dev.imei, day + timedelta(days=n))
            segs = plan.segments
            assert segs[0].start == plan.start and segs[-1].end == plan.end
            assert all(a.end == b.start for a, b in zip(segs, segs[1:], strict=False))
            assert sum(s.end - s.start for s in segs) == DAY_S
            assert segs[0].kind == "park" and segs[-1].kind == "park"  # night rest at the depot
            if previous_end is not None:
                assert abs(plan.odo_start_m - previous_end) < 5.0  # metres
            previous_end = plan.odo_end_m


def test_fixes_are_plausible_and_trips_match_their_fixes():
    fleet = Fleet(SimulatorConfig(devices=12, accounts=2, seed=7))
    start, end = WEEK_START, WEEK_START + timedelta(days=3)
    fixes = fleet.truth.fixes(start, end)
    by_imei = defaultdict(list)
    for f in fixes:
        by_imei[f["imei"]].append(f)
    for rows in by_imei.values():
        times = [r["gps_time"] for r in rows]
        assert times == sorted(times) and len(set(times)) == len(times)
        odo = [r["odometer_km"] for r in rows]
        assert odo == sorted(odo)  # monotonic odometer
        for r in rows:
            assert -5 < r["lat"] < 1 and 32 < r["lng"] < 40  # East Africa
            assert r["arrived_at"] >= r["gps_time"]
            assert (r["gps_mode"] == 1) == (r["arrived_at"] > r["gps_time"])
            if not r["acc_status"]:
                assert r["speed_kmh"] == 0
    trips = fleet.truth.trips(start, end)
    assert trips
    for trip in trips:
        pts = [f for f in by_imei[trip["imei"]] if trip["start_time"] <= f["gps_time"] <= trip["end_time"]]
        if len(pts) < 10:
            continue  # the trip crossed a silent period of the device (absent from the API anyway)
        gps_km = sum(haversine_m(a["lat"], a["lng"], b["lat"], b["lng"])
                     for a, b in zip(pts, pts[1:], strict=False)) / 1000
        assert 0.8 < gps_km / float(trip["distance_km"]) < 1.25
        assert (pts[0]["lat"], pts[0]["lng"]) == (trip["start_lat"], trip["start_lng"])
        moving = [p for p in pts[:-1] if p["speed_kmh"] > 3]
        assert len(moving) >= len(pts) // 2
    late = [f for f in fixes if f["gps_mode"] == 1]
    buffered = {d.imei for d in fleet.devices if d.buffered}
    buffered_fixes = [f for f in fixes if f["imei"] in buffered]
    assert late and 0.03 < len(late) / len(buffered_fixes) < 0.3


def test_fleet_has_silences_idling_night_rest_and_alarm_variety():
    fleet = Fleet(SimulatorConfig(devices=160, accounts=3, seed=1))
    start, end = WEEK_START, WEEK_START + timedelta(days=7)
    kinds = {a["alarm_type"] for a in fleet.truth.alarms(start, end)}
    assert {"41", "43", "48", "overSpeed", "in", "out"} <= kinds
    assert fleet.truth.idle_spells(start, end)
    events = fleet.truth.events(start, end)
    assert {"LOGOUT", "LOGIN"} <= {e["event_type"] for e in events}
    long_silence = []
    for dev in fleet.devices:
        for n in range(7):
            plan = fleet.plan(dev.imei, (start + timedelta(days=n, hours=3)).date())
            long_silence += [(dev.imei, b) for a, b in plan.silent if b - a >= 8 * 3600]
    assert long_silence  # some devices fall silent for ≥ 8 h
    imei, silent_until = long_silence[0]
    seen = fleet.truth.latest_fix(imei, datetime.fromtimestamp(silent_until - 1, UTC))
    assert seen is None or silent_until - seen["gps_time"].timestamp() >= 8 * 3600
    nightly = [s for s in fleet.truth.stops(start, end) if s["duration_s"] > 8 * 3600]
    assert nightly and all(s["place"].startswith("Depot") for s in nightly)  # night rest at the depot
    assert all((s["started_at"] + timedelta(hours=3)).date() < (s["ended_at"] + timedelta(hours=3)).date()
               for s in nightly)


def test_parking_spans_midnight_as_one_event():
    fleet = Fleet(SimulatorConfig(devices=6, accounts=1, seed=2))
    start, end = WEEK_START, WEEK_START + timedelta(days=2)
    for row in fleet.truth.parking(start, end, "off"):
        local_start = row["start_time"] + timedelta(hours=3)
        assert not (local_start.hour == 0 and local_start.minute == 0 and local_start.second == 0)
    overnight = [r for r in fleet.truth.parking(start, end, "off") if r["duration_s"] > 10 * 3600]
    assert overnight and all((r["start_time"] + timedelta(hours=3)).date() < (r["end_time"] + timedelta(hours=3)).date()
                             for r in overnight)


def test_latest_fix_hides_points_that_have_not_arrived_yet():
    fleet = Fleet(SimulatorConfig(devices=40, accounts=1, seed=3))
    start = WEEK_START
    for dev in fleet.devices:
        for n in range(7):
            plan = fleet.plan(dev.imei, (start + timedelta(days=n, hours=3)).date())
            for a, b, release in plan.buffers:
                if plan.silent:
                    continue
                during = datetime.fromtimestamp(b - 30, UTC)
                seen = fleet.truth.latest_fix(dev.imei, during)
                assert seen["gps_time"] < datetime.fromtimestamp(a, UTC)  # buffered points not visible yet
                after = fleet.truth.latest_fix(dev.imei, datetime.fromtimestamp(release, UTC))
                assert after["gps_time"] >= datetime.fromtimestamp(b - 30, UTC)
                return
    pytest.fail("no buffered stretch found")


# ----------------------------------------------------------------------------- API == truth --------
def _api_fix(row: dict) -> dict:
    return {"gps_time": parse_time(row["gpsTime"]), "lat": row["lat"], "lng": row["lng"],
            "speed_kmh": to_decimal(row["gpsSpeed"]), "direction": to_int(row["direction"]),
            "acc_status": to_bool(row["accStatus"]), "gps_mode": row["gpsMode"], "satellite": to_int(row["satellite"])}


def test_track_list_equals_truth_including_late_arrivals(frozen):
    server, client = frozen
    begin, end = FROZEN - timedelta(days=2), FROZEN - timedelta(hours=1)
    keys = ("gps_time", "lat", "lng", "speed_kmh", "direction", "acc_status", "gps_mode", "satellite")
    for dev in server.fleet.devices[:6]:
        # the API's end_time is inclusive: [begin, end) is asked as begin .. end - 1 s
        body = client.call("jimi.device.track.list", imei=dev.imei, begin_time=fmt(begin),
                           end_time=fmt(end - timedelta(seconds=1)))
        got = [_api_fix(r) for r in body["result"]]
        want = [{k: f[k] for k in keys} for f in server.truth.fixes(begin, end, [dev.imei], arrived_by=FROZEN)]
        assert got == want


def test_late_points_appear_once_they_arrive(simulator_factory):
    fleet = Fleet(SimulatorConfig(devices=40, accounts=1, seed=3))
    for dev in fleet.devices:
        for n in range(7):
            plan = fleet.plan(dev.imei, (WEEK_START + timedelta(days=n, hours=3)).date())
            if plan.buffers and not plan.silent:
                a, b, release = plan.buffers[0]
                break
        else:
            continue
        break
    now = datetime.fromtimestamp(b + 10, UTC)
    server = simulator_factory(devices=40, accounts=1, seed=3, clock_start=now, clock_speed=0)
    client = SimpleClient(server.url, server.cfg.app_key, server.cfg.app_secret)
    assert client.login(*server.cfg.account_credentials()[0])["code"] == 0
    window = {"begin_time": fmt(datetime.fromtimestamp(a - 300, UTC)), "end_time": fmt(now)}
    before = client.call("jimi.device.track.list", imei=dev.imei, **window)["result"]
    assert before and all(r["gpsMode"] == 0 for r in before)
    server.set_clock(datetime.fromtimestamp(release + 1, UTC), speed=0)
    after = client.call("jimi.device.track.list", imei=dev.imei, **window)["result"]
    late = [r for r in after if r["gpsMode"] == 1]
    assert late and len(after) == len(before) + len(late)


def test_mileage_parking_alarms_obd_location_equal_truth(frozen):
    server, client = frozen
    truth = server.truth
    begin, end = FROZEN - timedelta(days=3), FROZEN - timedelta(hours=2)
    last = fmt(end - timedelta(seconds=1))  # the API's end_time is inclusive
    window = {"begin_time": fmt(begin), "end_time": last}
    report_window = {"start_time": fmt(begin), "end_time": last}
    checked = defaultdict(int)
    for account in server.cfg.account_names():
        imeis = server.fleet.imeis_of(account)
        joined = ",".join(imeis)
        trips = client.call("jimi.device.track.mileage", imeis=joined, **window)["result"]
        got = sorted((r["imei"], parse_time(r["startTime"]), parse_time(r["endTime"]), r["startLat"], r["startLng"],
                      r["endLat"], r["endLng"], to_decimal(r["distance"]) / 1000, to_decimal(str(r["avgSpeed"])),
                      r["runTimeSecond"]) for r in trips)
        want = sorted((t["imei"], t["start_time"], t["end_time"], t["start_lat"], t["start_lng"], t["end_lat"],
                       t["end_lng"], t["distance_km"], t["avg_speed_kmh"], t["run_time_s"])
                      for t in truth.trips(begin, end, imeis, completed_by=FROZEN))
        assert got == want
        checked["trips"] += len(got)
        for acc in ("off", "on"):
            rows = client.call("jimi.open.platform.report.parking", account=account, imeis=joined, start_row=0,
                               page_size=1000, acc_type=acc, **report_window)["data"]["rows"]
            got = sorted((r["imei"], parse_time(r["startTime"]), parse_time(r["endTime"]), to_int(r["durSecond"]),
                          r["lat"], r["lng"]) for r in rows)
            want = sorted((p["imei"], p["start_time"], p["end_time"], p["duration_s"], p["lat"], p["lng"])
                          for p in truth.parking(begin, end, acc, imeis, completed_by=FROZEN))
            assert got == want
            checked[acc] += len(got)
        alarms = client.call("jimi.device.alarm.list", imeis=joined, page_no=1, page_size=100, **window)["result"]
        got = [(r["imei"], r["alertTypeId"], parse_time(r["alertTime"]), r["alarmTypeName"], r["lat"], r["lng"],
                to_decimal(r["speed"]), r["geoid"]) for r in alarms]
        want = [(a["imei"], a["alarm_type"], a["alarm_time"], a["alarm_name"], a["lat"], a["lng"], a["speed_kmh"],
                 a["geoid"]) for a in truth.alarms(begin, end, imeis)]
        assert len(want) <= 100 and got == want
        checked["alarms"] += len(got)
        obd_imeis = [i for i in imeis if server.fleet.device(i).has_obd]
        if obd_imeis:
            body = client.call("jimi.device.obd.list", account=account, imeis=",".join(obd_imeis), page_no=1,
                               page_size=100, **report_window)["data"]
            rows, page = body["result"], 1
            while len(rows) < body["totalRecord"]:
                page += 1
                rows += client.call("jimi.device.obd.list", account=account, imeis=",".join(obd_imeis),
                                    page_no=page, page_size=100, **report_window)["data"]["result"]
            got = [(r["imei"], parse_time(r["dataReportTime"]), to_decimal(r["odometerReading"]),
                    to_decimal(r["remainingFuelPercentage"]), to_decimal(r["currentRPM"])) for r in rows]
            want = [(o["imei"], o["reading_time"], o["odometer_km"], o["fuel_pct"], o["rpm"])
                    for o in truth.obd(begin, end, obd_imeis)]
            assert got == want
            checked["obd"] += len(got)
        located = client.call("jimi.user.device.location.list", target=account)["result"]
        for row in located:
            fix = truth.latest_fix(row["imei"], FROZEN)
            assert (parse_time(row["gpsTime"]), row["lat"], row["lng"], to_decimal(row["speed"])) == \
                (fix["gps_time"], fix["lat"], fix["lng"], fix["speed_kmh"])
            assert to_float(row["currentMileage"]) == float(fix["odometer_km"])
        checked["location"] += len(located)
    assert all(checked[k] > 0 for k in ("trips", "off", "on", "alarms", "obd", "location")), dict(checked)


def test_http_truth_endpoint_matches_python_truth(frozen):
    server, _ = frozen
    begin, end = FROZEN - timedelta(days=1), FROZEN - timedelta(hours=2)
    reply = requests.get(server.base_url + "/_sim/truth/trips", timeout=30,
                         params={"start": begin.isoformat(), "end": end.isoformat(), "completed_by": "now"})
    assert reply.status_code == 200
    rows = reply.json()
    want = server.truth.trips(begin, end, completed_by=FROZEN)
    assert [(r["imei"], parse_time(r["start_time"]), Decimal(r["distance_km"])) for r in rows] == \
        [(t["imei"], t["start_time"], t["distance_km"]) for t in want]
    imei = server.fleet.devices[0].imei
    fix = requests.get(server.base_url + "/_sim/truth/latest_fix", params={"imei": imei, "at": "now"},
                       timeout=30).json()
    assert parse_time(fix["gps_time"]) == server.truth.latest_fix(imei, FROZEN)["gps_time"]
    assert requests.get(server.base_url + "/_sim/truth/nope", params={"start": "x"}, timeout=30).status_code == 400
    assert requests.get(server.base_url + "/_sim/truth/fixes", timeout=30).status_code == 400


def test_trips_in_progress_are_not_reported(simulator_factory):
    fleet = Fleet(SimulatorConfig(devices=12, accounts=1, seed=7))
    trip = fleet.truth.trips(WEEK_START, WEEK_START + timedelta(days=1))[0]
    now = trip["start_time"] + (trip["end_time"] - trip["start_time"]) / 2
    server = simulator_factory(devices=12, accounts=1, seed=7, clock_start=now.replace(microsecond=0), clock_speed=0)
    client = SimpleClient(server.url, server.cfg.app_key, server.cfg.app_secret)
    assert client.login(*server.cfg.account_credentials()[0])["code"] == 0
    body = client.call("jimi.device.track.mileage", imeis=trip["imei"], begin_time=fmt(trip["start_time"]),
                       end_time=fmt(now - timedelta(seconds=1)))
    assert body["code"] == 0 and body["result"] == []
    server.set_clock(trip["end_time"] + timedelta(minutes=1), speed=0)
    body = client.call("jimi.device.track.mileage", imeis=trip["imei"], begin_time=fmt(trip["start_time"]),
                       end_time=fmt(trip["end_time"]))
    assert [parse_time(r["startTime"]) for r in body["result"]] == [trip["start_time"]]


def test_accelerated_clock(simulator_factory):
    server = simulator_factory(clock_start=FROZEN, clock_speed=600)
    first = server.now()
    import time

    time.sleep(0.2)
    assert (server.now() - first).total_seconds() >= 100
