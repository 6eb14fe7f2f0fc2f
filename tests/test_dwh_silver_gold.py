"""Silver segments / trips against the simulator's truth, and gold against a hand computation."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import psycopg2
import pytest

from fleet_dwh import silver_gold
from tests.fixtures.databases import scalar
from tests.fixtures.dwh import load_alarms_into_bronze, load_devices_into_bronze, load_fixes_into_bronze
from tracksolid_simulator import Fleet, SimulatorConfig

DAY = date(2026, 3, 2)
DAY_START = datetime(2026, 3, 1, 21, 0, tzinfo=UTC)  # 00:00 EAT
DAY_END = DAY_START + timedelta(days=1)


@pytest.fixture
def dwh(dwh_conn):
    """The shared autocommit connection to a fresh warehouse (tests/fixtures/databases.py), by a short name."""
    return dwh_conn


@pytest.fixture(scope="module")
def fleet() -> Fleet:
    return Fleet(SimulatorConfig(devices=25, accounts=2, seed=11))


def _load_simulated_day(dwh, fleet: Fleet) -> None:
    load_devices_into_bronze(dwh, fleet.truth.devices())
    load_fixes_into_bronze(dwh, fleet.truth.fixes(DAY_START - timedelta(hours=6), DAY_END + timedelta(hours=6)))
    load_alarms_into_bronze(dwh, fleet.truth.alarms(DAY_START, DAY_END))


def _rows(conn, query, params=None) -> list[dict]:
    with conn.cursor() as cur:
        cur.execute(query, params)
        names = [c.name for c in cur.description]
        return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


def test_segments_tile_every_device_day_and_trips_match_truth(dwh, fleet):
    _load_simulated_day(dwh, fleet)
    result = silver_gold.refresh_day(dwh, DAY)
    assert result["silver"]["devices"] == 25 and result["gold_rows"] == 25

    # Every device-day: contiguous, non-overlapping segments from 00:00 to 24:00 EAT = exactly 86 400 s.
    segs = _rows(dwh, "SELECT imei, started_at, ended_at, duration_s, state FROM silver.segments"
                      " WHERE local_day = %s ORDER BY imei, started_at", (DAY,))
    by_imei: dict[str, list[dict]] = {}
    for s in segs:
        by_imei.setdefault(s["imei"], []).append(s)
    assert len(by_imei) == 25
    for imei, day_segs in by_imei.items():
        assert sum(s["duration_s"] for s in day_segs) == 86400, imei
        assert day_segs[0]["started_at"] == DAY_START and day_segs[-1]["ended_at"] == DAY_END
        for a, b in zip(day_segs, day_segs[1:], strict=False):
            assert a["ended_at"] == b["started_at"] and a["state"] != b["state"], (imei, a, b)

    # Derived trips vs the simulator's true trips: start/end within 2 min, distance within 5 %.
    truth = fleet.truth.trips(DAY_START, DAY_END)
    derived = _rows(dwh, "SELECT imei, start_time, end_time, distance_km FROM silver.trips WHERE local_day = %s",
                    (DAY,))
    assert len(truth) >= 50, "the simulated day must have enough trips to judge"
    matched = 0
    for t in truth:
        for d in derived:
            if (d["imei"] == t["imei"]
                    and abs((d["start_time"] - t["start_time"]).total_seconds()) <= 120
                    and abs((d["end_time"] - t["end_time"]).total_seconds()) <= 120
                    and abs(d["distance_km"] - float(t["distance_km"])) <= 0.05 * float(t["distance_km"])):
                matched += 1
                break
    assert matched / len(truth) >= 0.95, f"{matched}/{len(truth)} true trips matched ({len(derived)} derived)"

    # Stops/idle spells come from the same segments: they can never contradict them.
    assert scalar(dwh, "SELECT count(*) FROM silver.stops WHERE local_day = %s", (DAY,)) == \
        sum(1 for s in segs if s["state"] == "parked")
    assert scalar(dwh, "SELECT count(*) FROM silver.geofence_visits WHERE local_day = %s", (DAY,)) >= 0

    # Gold agrees with silver and with the alarms of the day.
    gold = _rows(dwh, "SELECT * FROM gold.fact_daily_fleet_metrics WHERE local_day = %s", (DAY,))
    assert len(gold) == 25
    for g in gold:
        assert g["driving_s"] + g["idle_s"] + g["parked_s"] + g["offline_s"] == 86400
    assert sum(g["alarms_total"] for g in gold) == len(fleet.truth.alarms(DAY_START, DAY_END))
    assert sum(g["trips"] for g in gold) == len(derived)


def test_rebuild_is_idempotent_and_late_fixes_make_the_day_stale(dwh, fleet):
    _load_simulated_day(dwh, fleet)
    silver_gold.refresh_day(dwh, DAY)
    snapshot = "SELECT md5(string_agg(t::text, '|' ORDER BY t::text)) FROM {} t WHERE local_day = %s"
    tables = ["silver.segments", "silver.trips", "silver.fixes", "gold.fact_daily_fleet_metrics"]
    before = {t: scalar(dwh, snapshot.format(t), (DAY,)) for t in tables[:3]}
    gold_rows = scalar(dwh, "SELECT count(*) FROM gold.fact_daily_fleet_metrics WHERE local_day = %s", (DAY,))
    silver_gold.refresh_day(dwh, DAY)
    assert {t: scalar(dwh, snapshot.format(t), (DAY,)) for t in tables[:3]} == before
    assert scalar(dwh, "SELECT count(*) FROM gold.fact_daily_fleet_metrics WHERE local_day = %s", (DAY,)) == gold_rows
    # The neighbouring days hold context fixes but were never built: stale. The built day is not.
    assert silver_gold.stale_days(dwh, newest=DAY + timedelta(days=1)) == [DAY - timedelta(days=1),
                                                                             DAY + timedelta(days=1)]

    # A fix of that day arrives late (loaded now): the day is stale until rebuilt.
    imei = fleet.truth.devices()[0]["imei"]
    load_fixes_into_bronze(dwh, [{"imei": imei, "gps_time": DAY_START + timedelta(hours=12, seconds=7),
                                  "lat": -1.25, "lng": 36.8, "speed_kmh": Decimal(0), "acc_status": False,
                                  "gps_mode": 1}], run_id="late")
    assert DAY in silver_gold.stale_days(dwh, newest=DAY)
    assert silver_gold.plan_days(dwh, [DAY + timedelta(days=1)], include_stale=False) == ["2026-03-03"]
    assert DAY.isoformat() in silver_gold.plan_days(dwh, [DAY + timedelta(days=1)])
    silver_gold.refresh_day(dwh, DAY)
    assert DAY not in silver_gold.stale_days(dwh, newest=DAY)
    assert scalar(dwh, "SELECT count(*) FROM silver.fixes WHERE imei = %s AND gps_mode = 1 AND gps_time = %s",
                  (imei, DAY_START + timedelta(hours=12, seconds=7))) == 1


def test_silent_device_is_one_offline_segment(dwh):
    load_devices_into_bronze(dwh, [{"imei": "860000000000001", "device_name": "silent"}])
    silver_gold.refresh_day(dwh, DAY)
    segs = _rows(dwh, "SELECT state, duration_s FROM silver.segments WHERE local_day = %s", (DAY,))
    assert segs == [{"state": "offline", "duration_s": 86400}]
    gold = _rows(dwh, "SELECT km, offline_s, trips, utilisation_pct FROM gold.fact_daily_fleet_metrics")
    assert gold == [{"km": 0, "offline_s": 86400, "trips": 0, "utilisation_pct": 0}]


# ------------------------------------------------------------------------------------ hand-computed gold day
IMEI = "869999000000001"


def _hav_km(a, b) -> float:
    """Independent haversine (same Earth radius as silver: 6371.0088 km)."""
    (la1, lo1), (la2, lo2) = a, b
    p1, p2 = math.radians(la1), math.radians(la2)
    h = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lo2 - lo1) / 2) ** 2
    return 2 * 6371.0088 * math.asin(math.sqrt(h))


def _hand_day():
    """One van's day, in EAT: parked at the depot until 08:00 (fixes every 15 min), drives 08:00-08:20 east at
    36 km/h (fix every 30 s), idles 08:20-08:30 (fix every 60 s), parked until 12:00, silent 12:00-14:00
    (no fixes: offline), parked until 17:00, drives 17:00-17:10 back west at 72 km/h with 3 fixes over the
    80 km/h limit, parked to midnight. One jump fix (a GPS spike) and one (0,0) fix must be filtered."""
    t0 = DAY_START
    fixes, lat = [], -1.237

    def fix(t, lng, speed, acc, odo=None):
        fixes.append({"imei": IMEI, "gps_time": t, "lat": lat, "lng": lng, "speed_kmh": Decimal(speed),
                      "acc_status": acc, "gps_mode": 0, "odometer_km": odo})

    lng = 36.727
    for k in range(0, 8 * 4):  # 00:00 .. 07:45 parked
        fix(t0 + timedelta(minutes=15 * k), lng, 0, False)
    drive1 = []
    for k in range(41):  # 08:00 .. 08:20 every 30 s, +0.0027 deg lng per fix
        lng_k = 36.727 + 0.0027 * k
        drive1.append((lat, lng_k))
        fix(t0 + timedelta(hours=8, seconds=30 * k), lng_k, 36 if k < 40 else 0, True)
    lng = drive1[-1][1]
    for k in range(1, 10):  # 08:21 .. 08:29 idle
        fix(t0 + timedelta(hours=8, minutes=20 + k), lng, 1, True)
    for k in range(0, 14):  # 08:30 .. 11:45 parked (every 15 min)
        fix(t0 + timedelta(hours=8, minutes=30 + 15 * k), lng, 0, False)
    for k in range(0, 12):  # 14:00 .. 16:45 parked after the silence
        fix(t0 + timedelta(hours=14, minutes=15 * k), lng, 0, False)
    drive2 = []
    for k in range(21):  # 17:00 .. 17:10 every 30 s, back west
        lng_k = lng - 0.0054 * k
        drive2.append((lat, lng_k))
        speed = 90 if 5 <= k <= 7 else (72 if k < 20 else 0)
        fix(t0 + timedelta(hours=17, seconds=30 * k), lng_k, speed, True if k < 20 else False)
    lng = drive2[-1][1]
    for k in range(1, 29):  # 17:15 .. 00:00 the next day, parked (the last one is context for midnight)
        fix(t0 + timedelta(hours=17, minutes=15 * k), lng, 0, False)
    # Noise that must be dropped: a spike 50 km away between two drive fixes, and a (0,0) fix.
    fixes.append({"imei": IMEI, "gps_time": t0 + timedelta(hours=8, seconds=45), "lat": -1.7, "lng": 36.727,
                  "speed_kmh": Decimal(36), "acc_status": True, "gps_mode": 0, "odometer_km": None})
    fixes.append({"imei": IMEI, "gps_time": t0 + timedelta(hours=3, minutes=1), "lat": 0, "lng": 0,
                  "speed_kmh": Decimal(0), "acc_status": False, "gps_mode": 0, "odometer_km": None})
    alarms = [
        {"imei": IMEI, "alarm_type": "41", "alarm_time": t0 + timedelta(hours=8, minutes=5)},
        {"imei": IMEI, "alarm_type": "48", "alarm_time": t0 + timedelta(hours=8, minutes=6)},
        {"imei": IMEI, "alarm_type": "146", "alarm_time": t0 + timedelta(hours=17, minutes=2)},
        {"imei": IMEI, "alarm_type": "1", "alarm_time": t0 + timedelta(hours=9)},
        {"imei": IMEI, "alarm_type": "stayAlert", "alarm_time": t0 + timedelta(hours=10)},
        {"imei": IMEI, "alarm_type": "41", "alarm_time": t0 - timedelta(minutes=1)},  # the day before
    ]
    return fixes, alarms, drive1, drive2


def test_gold_equals_a_hand_computation(dwh):
    fixes, alarms, drive1, drive2 = _hand_day()
    load_devices_into_bronze(dwh, [{"imei": IMEI, "device_name": "Van 1", "driver_name": "Asha",
                                    "fuel_100km": Decimal(10), "assigned_city": "Nairobi"}])
    load_fixes_into_bronze(dwh, fixes)
    load_alarms_into_bronze(dwh, alarms)
    silver_gold.refresh_day(dwh, DAY)

    km1 = sum(_hav_km(a, b) for a, b in zip(drive1, drive1[1:], strict=False))
    km2 = sum(_hav_km(a, b) for a, b in zip(drive2, drive2[1:], strict=False))
    # Hand segmentation (interval rule: each fix holds its state until the next fix):
    #   moving  08:00:00-08:20:00 (1200 s; the 08:20 fix has speed 0 → idle from there)
    #   idle    08:20:00-08:30:00 (600 s)
    #   parked  00:00-08:00 and 08:30-11:45 → the 11:45 fix is followed by a 2 h15 gap → offline 11:45-14:00
    #   parked  14:00-17:00, moving 17:00:00-17:10:00 (600 s; the 17:10 fix has ACC off)
    #   parked  17:10-24:00
    driving = 1200 + 600
    idle = 600
    offline = 2 * 3600 + 15 * 60
    parked = 86400 - driving - idle - offline
    segs = _rows(dwh, "SELECT state, started_at, duration_s FROM silver.segments ORDER BY started_at")
    assert [(s["state"], s["duration_s"]) for s in segs] == [
        ("parked", 8 * 3600), ("moving", 1200), ("idle", 600), ("parked", 3 * 3600 + 15 * 60),
        ("offline", offline), ("parked", 3 * 3600), ("moving", 600), ("parked", 6 * 3600 + 50 * 60)]

    g = _rows(dwh, "SELECT * FROM gold.fact_daily_fleet_metrics WHERE local_day = %s", (DAY,))[0]
    assert (g["driving_s"], g["idle_s"], g["parked_s"], g["offline_s"]) == (driving, idle, parked, offline)
    assert g["distance_source"] == "gps" and g["gps_km"] == pytest.approx(km1 + km2, rel=1e-9)
    assert g["km"] == pytest.approx(km1 + km2, rel=1e-9)
    assert g["trips"] == 2
    assert g["first_movement_at"] == DAY_START + timedelta(hours=8)
    assert g["last_movement_at"] == DAY_START + timedelta(hours=17, minutes=10)
    assert (g["alarms_total"], g["alarms_harsh_acceleration"], g["alarms_harsh_braking"], g["alarms_sharp_turn"],
            g["alarms_sos"], g["alarms_other"]) == (5, 1, 1, 1, 1, 1)
    assert g["overspeed_position_events"] == 1  # 3 consecutive fixes at 90 > 80 km/h
    assert g["aggression_events"] == 4
    assert g["aggression_index"] == pytest.approx(4 * 100 / (km1 + km2))
    assert g["utilisation_pct"] == pytest.approx(100 * driving / (9 * 3600))
    idle_l = 600 / 3600 * 0.8
    assert g["idle_fuel_l"] == pytest.approx(idle_l)
    assert g["idle_cost"] == pytest.approx(idle_l * 180)
    assert g["fuel_estimate_l"] == pytest.approx((km1 + km2) * 10 / 100 + idle_l)

    trips = _rows(dwh, "SELECT start_time, end_time, distance_km FROM silver.trips ORDER BY start_time")
    assert [(t["start_time"], t["end_time"]) for t in trips] == [
        (DAY_START + timedelta(hours=8), DAY_START + timedelta(hours=8, minutes=20)),
        (DAY_START + timedelta(hours=17), DAY_START + timedelta(hours=17, minutes=10))]
    # A trip ends where its last moving interval ends (the first fix found stopped); the idle / parked tail
    # after it is not part of the trip. Its distance is the haversine sum of that stretch.
    assert trips[0]["distance_km"] == pytest.approx(km1) and trips[1]["distance_km"] == pytest.approx(km2)
    # The spike and (0,0) are dropped; the 00:00 fix of the next day belongs to that day.
    assert scalar(dwh, "SELECT count(*) FROM silver.fixes") == len(fixes) - 3
    visits = _rows(dwh, "SELECT geofence_name, entered_at FROM silver.geofence_visits ORDER BY entered_at")
    assert visits == []  # bronze.geofences is empty here: no polygons, no visits

    driver = _rows(dwh, "SELECT * FROM gold.fact_driver_daily_behaviour")
    assert len(driver) == 1 and driver[0]["driver_key"] == "Asha" and driver[0]["aggression_events"] == 4


def test_cli_demo_runs_bronze_then_gold_and_prints_the_summary(live_db, dwh_db, live_conn, fleet_s3, capsys):
    from fleet_dwh.__main__ import main
    from tests.fixtures.dwh import fill_live

    fill_live(live_conn)
    assert main(["--live-dsn", live_db, "--dwh-dsn", dwh_db, "demo"]) == 0
    out = capsys.readouterr().out
    assert "bronze position_history" in out and "Gold fleet summary" in out
    conn = psycopg2.connect(dwh_db)
    try:
        assert scalar(conn, "SELECT count(*) FROM gold.fact_daily_fleet_metrics WHERE local_day = %s", (DAY,)) == 3
        assert scalar(conn, "SELECT count(*) FROM bronze.position_history") == 60
    finally:
        conn.close()
    assert "2026-03-02" in out
