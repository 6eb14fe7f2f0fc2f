"""Live analytics views against the simulator's ground truth.

The simulator's truth for a working Wednesday (and the Tuesday before it) is loaded with the ingestion write
path (fleet_db.loaders.copy_upsert) after shifting every time by whole days, so that the simulated "now" is the
database's now() and local midnights line up. Then:

* a whole past day (Tuesday): km, trips and driving time per vehicle equal the API trips of the truth; idle
  time equals its idling spells; alarm counts per type equal its alarms; driver aggression events equal the
  aggressive alarms of the driver's vehicles;
* today so far: km per vehicle = the trips reported so far + the distance the odometer truth ran since the last
  of them; moved today, the current state and silent devices follow the truth's latest fixes.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from fleet_db.loaders import copy_upsert
from tests.analytics_support import db_now, local_day, local_midnight, rows_as
from tracksolid_simulator import Fleet, SimulatorConfig
from tracksolid_simulator.fleet import utc_ts

AGGRESSIVE = {"41", "144", "48", "145", "42", "43", "76", "146", "6", "135", "overSpeed"}  # ALGORITHMS.md


@pytest.fixture(scope="module")
def fleet() -> Fleet:
    return Fleet(SimulatorConfig(devices=12, accounts=2, seed=7))


def _columns(conn, table: str) -> list[str]:
    schema, name = table.split(".")
    with conn.cursor() as cur:
        cur.execute("SELECT column_name FROM information_schema.columns WHERE table_schema = %s AND table_name = %s",
                    (schema, name))
        return [r[0] for r in cur.fetchall()]


def _load(conn, table: str, rows: list[dict], key: list[str], shift: timedelta, **extra) -> None:
    if not rows:
        return
    rows = [{k: (v + shift if isinstance(v, datetime) else v) for k, v in {**r, **extra}.items()} for r in rows]
    cols = [c for c in _columns(conn, table) if c in rows[0] and c != "geom"]
    copy_upsert(conn, table, cols, rows, key, "update")


def _shifted(t: datetime, shift: timedelta) -> datetime:
    return t + shift


class Sim:
    """The simulated day loaded into the live database, and the truth to compare with."""

    def __init__(self, conn, fleet: Fleet) -> None:
        self.t0 = db_now(conn)
        real_today = local_day(self.t0)
        k = 7 + (real_today.weekday() - 2) % 7          # whole days back to a Wednesday at least a week ago
        self.shift = timedelta(days=k)
        self.sim_now = self.t0 - self.shift
        self.today_start = local_midnight(self.sim_now)  # simulated local midnight (UTC)
        self.yesterday_start = self.today_start - timedelta(days=1)
        self.day, self.yesterday = real_today, real_today - timedelta(days=1)
        truth = fleet.truth
        self.devices = truth.devices(at=self.sim_now)
        self.fixes = truth.fixes(self.yesterday_start, self.sim_now, arrived_by=self.sim_now)
        self.trips = truth.trips(self.yesterday_start, self.sim_now, completed_by=self.sim_now)
        self.idle = truth.parking(self.yesterday_start, self.sim_now, "on", completed_by=self.sim_now)
        self.alarms = truth.alarms(self.yesterday_start, self.sim_now)
        _load(conn, "tracksolid.devices", self.devices, ["imei"], self.shift)
        _load(conn, "tracksolid.position_history", self.fixes, ["imei", "gps_time"], self.shift, source="push")
        latest: dict[str, dict] = {}
        for f in self.fixes:
            if f["imei"] not in latest or f["gps_time"] > latest[f["imei"]]["gps_time"]:
                latest[f["imei"]] = f
        self.latest = latest
        _load(conn, "tracksolid.live_positions", list(latest.values()), ["imei"], self.shift, source="push")
        _load(conn, "tracksolid.trips", self.trips, ["imei", "start_time"], self.shift)
        _load(conn, "tracksolid.parking_events", self.idle, ["imei", "start_time", "acc_type"], self.shift)
        _load(conn, "tracksolid.alarms", self.alarms, ["imei", "alarm_type", "alarm_time"], self.shift, source="poll")
        # v_driver_aggregates_daily: the assigned driver, else the vehicle's display name
        self.driver = {d["imei"]: d.get("driver_name") or d.get("device_name") or d.get("license_plate_no")
                       or d["imei"] for d in self.devices}


@pytest.fixture
def sim(live_conn, fleet) -> Sim:
    return Sim(live_conn, fleet)


def test_a_whole_past_day_equals_the_truth(live_conn, sim):
    a, b = sim.yesterday_start, sim.today_start
    trips = [t for t in sim.trips if a <= t["start_time"] < b]
    assert len(trips) >= 20, "the simulated Tuesday must have enough trips to judge"
    km = {r["imei"]: r for r in rows_as(live_conn, "SELECT * FROM tracksolid.v_fleet_km_daily WHERE day = %s",
                                        (sim.yesterday,))}
    exp_km, exp_s, exp_n = Counter(), Counter(), Counter()
    for t in trips:
        exp_km[t["imei"]] += t["distance_km"]
        exp_s[t["imei"]] += t["run_time_s"]
        exp_n[t["imei"]] += 1
    assert {i: r["trips"] for i, r in km.items() if r["trips"]} == dict(exp_n)
    for imei, total in exp_km.items():
        assert Decimal(str(km[imei]["km"])).quantize(Decimal("0.001")) == total, imei
        assert km[imei]["driving_s"] == exp_s[imei]

    util = {r["imei"]: r for r in rows_as(live_conn, "SELECT * FROM tracksolid.v_utilisation_daily WHERE day = %s",
                                          (sim.yesterday,))}
    exp_idle = Counter()
    for s in sim.idle:
        if a <= s["start_time"] < b:
            exp_idle[s["imei"]] += s["duration_s"]
    assert exp_idle, "the simulated Tuesday must have idling spells"
    assert {i: r["idle_s"] for i, r in util.items() if r["idle_s"]} == dict(exp_idle)
    for imei, r in util.items():
        assert r["utilisation_pct"] == pytest.approx(100 * exp_s[imei] / (9 * 3600))

    alarms = rows_as(live_conn, "SELECT imei, alarm_type, alarms FROM tracksolid.v_alarms_daily WHERE day = %s",
                     (sim.yesterday,))
    expected = Counter((x["imei"], x["alarm_type"]) for x in sim.alarms if a <= x["alarm_time"] < b)
    assert expected, "the simulated Tuesday must have alarms"
    assert {(r["imei"], r["alarm_type"]): r["alarms"] for r in alarms} == dict(expected)

    drivers = rows_as(live_conn, "SELECT * FROM tracksolid.v_driver_aggregates_daily WHERE day = %s",
                      (sim.yesterday,))
    exp_aggr = Counter()
    for x in sim.alarms:
        if a <= x["alarm_time"] < b and x["alarm_type"] in AGGRESSIVE:
            exp_aggr[sim.driver[x["imei"]]] += 1
    assert {r["driver_name"]: r["aggression_events"] for r in drivers if r["aggression_events"]} == dict(exp_aggr)


def _tail_from(sim: Sim, imei: str) -> datetime:
    ends = [t["end_time"] for t in sim.trips if t["imei"] == imei and t["start_time"] >= sim.yesterday_start]
    return max([sim.today_start, *ends])


def test_today_so_far_equals_the_truth(live_conn, sim, fleet):
    today = {r["imei"]: r for r in rows_as(live_conn, "SELECT * FROM tracksolid.v_fleet_today")}
    assert set(today) == {d["imei"] for d in sim.devices}
    truth = fleet.truth
    judged = 0
    for imei, row in today.items():
        reported = [t for t in sim.trips if t["imei"] == imei and t["start_time"] >= sim.today_start]
        assert row["trips"] == len(reported), imei
        tail_from = _tail_from(sim, imei)
        tail = [f for f in sim.fixes if f["imei"] == imei and f["gps_time"] >= tail_from]
        plan = fleet.plan(imei, local_day(sim.sim_now))
        complete = len(tail) == len(truth.fixes(tail_from, sim.sim_now, [imei]))  # nothing buffered or silent
        if not complete or plan.overlaps_silence(utc_ts(tail_from), utc_ts(sim.sim_now)):
            continue
        odo_km = float(truth.odometer_km(imei, tail[-1]["gps_time"]) - truth.odometer_km(imei, tail_from)) \
            if tail else 0.0
        expected = float(sum(t["distance_km"] for t in reported)) + odo_km
        assert row["km"] == pytest.approx(expected, rel=0.02, abs=0.2), imei
        judged += 1
    assert judged >= len(today) // 2, "most vehicles must be judged"

    moved = {i for i in today if any(f["imei"] == i and f["gps_time"] >= sim.today_start and f["acc_status"]
                                     and f["speed_kmh"] > 3 for f in sim.fixes)}
    moved |= {t["imei"] for t in sim.trips if t["start_time"] >= sim.today_start}
    assert {i for i, r in today.items() if r["moved_today"]} == moved
    not_moved = {r["imei"] for r in rows_as(live_conn, "SELECT imei FROM tracksolid.v_vehicles_not_moved_today")}
    assert not_moved == set(today) - moved


def test_state_now_and_silent_devices_follow_the_latest_fixes(live_conn, sim, fleet):
    state = {r["imei"]: r for r in rows_as(live_conn, "SELECT * FROM tracksolid.v_vehicle_state_now")}
    now = db_now(live_conn) - sim.shift
    for imei, row in state.items():
        fix = sim.latest.get(imei)
        if fix is None or (now - fix["gps_time"]).total_seconds() >= 1800:
            expected = "offline"
        else:
            seg = fleet.plan(imei, local_day(fix["gps_time"])).segment_at(utc_ts(fix["gps_time"]))
            expected = {"drive": "moving", "idle": "idle", "park": "parked"}[seg.kind]
            if seg.kind == "drive" and fix["speed_kmh"] <= 3:  # a traffic stop inside a drive
                expected = "idle"
        assert row["state"] == expected, (imei, fix)
        if fix is not None:
            assert _shifted(fix["gps_time"], sim.shift) == row["gps_time"]

    silent = {r["imei"]: r["bucket"] for r in rows_as(live_conn, "SELECT * FROM tracksolid.v_silent_devices")}
    expected = {}
    for imei in state:
        fix = sim.latest.get(imei)
        hours = None if fix is None else (now - fix["gps_time"]).total_seconds() / 3600
        buckets = [h for h in (8, 12, 24, 36) if hours is None or hours >= h]
        if buckets:
            expected[imei] = f"{buckets[-1]}h"
    assert silent == expected
    assert datetime.now(UTC) - sim.t0 < timedelta(minutes=10)  # the comparison used one "now"
