"""Warehouse analytics views (gold.v_*) against the simulator's truth and planted service history.

Two simulated working days of one week are loaded into bronze and refreshed through silver and gold (the
pipeline's own code); the views are read as grafana_ro and compared with the truth: km per vehicle-day (the
day's odometer run), alarms, hours adding up to the day, city and week roll-ups equal to the sums of their
vehicle-days, idle cost from the settings. Service due is checked on planted workshop history, with the
interval taken from the warehouse default, the live settings copy and a per-vehicle override in turn.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import UTC, date, datetime, timedelta

import pytest

from fleet_dwh import silver_gold
from tests.analytics_support import rows_as
from tests.fixtures.dwh import load_alarms_into_bronze, load_devices_into_bronze, load_fixes_into_bronze
from tracksolid_simulator import Fleet, SimulatorConfig

DAYS = [date(2026, 3, 2), date(2026, 3, 3)]                  # Monday and Tuesday of one week
FIRST_START = datetime(2026, 3, 1, 21, 0, tzinfo=UTC)        # 2026-03-02 00:00 EAT
END = FIRST_START + timedelta(days=len(DAYS))


@pytest.fixture(scope="module")
def fleet() -> Fleet:
    return Fleet(SimulatorConfig(devices=12, accounts=2, seed=5))


@pytest.fixture
def gold(dwh_conn, fleet):
    load_devices_into_bronze(dwh_conn, fleet.truth.devices())
    load_fixes_into_bronze(dwh_conn, fleet.truth.fixes(FIRST_START - timedelta(hours=6), END + timedelta(hours=6)))
    load_alarms_into_bronze(dwh_conn, fleet.truth.alarms(FIRST_START, END))
    for day in DAYS:
        silver_gold.refresh_day(dwh_conn, day)
    return dwh_conn


def test_vehicle_days_equal_the_truth(gold, fleet):
    rows = rows_as(gold, "SELECT * FROM gold.v_vehicle_day ORDER BY day, imei")
    assert len(rows) == len(DAYS) * 12
    alarms = Counter((r["imei"], r["alarm_time"]) for r in fleet.truth.alarms(FIRST_START, END))
    alarms_per_day = Counter()
    for (imei, t), n in alarms.items():
        alarms_per_day[(imei, (t + timedelta(hours=3)).date())] += n
    judged = 0
    for r in rows:
        plan = fleet.plan(r["imei"], r["day"])
        assert r["week"] == date(2026, 3, 2)
        assert float(r["driving_h"] + r["idle_h"] + r["parked_h"] + r["offline_h"]) == pytest.approx(24)
        assert r["alarms_total"] == alarms_per_day[(r["imei"], r["day"])]
        assert r["idle_cost"] == pytest.approx(float(r["idle_h"]) * 0.8 * 180)
        assert float(r["idle_pct_of_shift"]) == pytest.approx(100 * float(r["idle_h"]) / 9)
        if r["km"] > 0:
            assert r["alarms_per_100km"] == pytest.approx(r["alarms_total"] * 100 / r["km"])
        if not plan.silent:
            truth_km = (plan.odo_end_m - plan.odo_start_m) / 1000
            assert r["km"] == pytest.approx(truth_km, rel=0.02, abs=0.2), r["imei"]
            judged += 1
    assert judged >= len(rows) // 2
    assert sum(r["km"] for r in rows) > 100, "the simulated days must drive"


def _sum(rows, key):
    return sum(float(r[key]) for r in rows)


def test_city_and_week_rollups_are_the_sums_of_vehicle_days(gold, fleet):
    days = rows_as(gold, "SELECT * FROM gold.v_vehicle_day")
    city_of = {d["imei"]: d["assigned_city"] for d in fleet.truth.devices()}
    by_day_city, by_week_city, by_week_vehicle = defaultdict(list), defaultdict(list), defaultdict(list)
    for r in days:
        assert r["city"] == city_of[r["imei"]]
        by_day_city[(r["day"], r["city"])].append(r)
        by_week_city[(r["week"], r["city"])].append(r)
        by_week_vehicle[(r["week"], r["imei"])].append(r)

    fleet_days = rows_as(gold, "SELECT * FROM gold.v_fleet_day_city")
    assert {(f["day"], f["city"]) for f in fleet_days} == set(by_day_city)
    for f in fleet_days:
        group = by_day_city[(f["day"], f["city"])]
        assert f["vehicles"] == len(group)
        for key in ("km", "driving_h", "idle_h", "parked_h", "offline_h", "idle_cost"):
            assert float(f[key]) == pytest.approx(_sum(group, key)), key
        assert f["alarms_total"] == sum(r["alarms_total"] for r in group)
        assert f["utilisation_pct"] == pytest.approx(_sum(group, "utilisation_pct") / len(group))
        if f["km"] > 0:
            assert f["aggression_index"] == pytest.approx(
                sum(r["aggression_events"] for r in group) * 100 / _sum(group, "km"))

    weeks = rows_as(gold, "SELECT * FROM gold.v_fleet_week_city")
    assert {(w["week"], w["city"]) for w in weeks} == set(by_week_city)
    for w in weeks:
        group = by_week_city[(w["week"], w["city"])]
        assert (w["vehicle_days"], w["vehicles"]) == (len(group), len({r["imei"] for r in group}))
        assert float(w["km"]) == pytest.approx(_sum(group, "km"))
        assert w["alarms_per_100km"] == pytest.approx(sum(r["alarms_total"] for r in group) * 100 / _sum(group, "km"))

    vweeks = rows_as(gold, "SELECT * FROM gold.v_vehicle_week")
    assert len(vweeks) == len(by_week_vehicle)
    for v in vweeks:
        group = by_week_vehicle[(v["week"], v["imei"])]
        assert v["days"] == len(DAYS) and float(v["km"]) == pytest.approx(_sum(group, "km"))


def test_service_due_uses_odometers_gold_km_and_settings(gold, fleet):
    imeis = [d["imei"] for d in fleet.truth.devices()][:3]
    a, b, c = imeis
    with gold.cursor() as cur:
        cur.execute("UPDATE bronze.devices SET current_mileage_km = 20000 WHERE imei = %s", (a,))
        cur.execute("INSERT INTO bronze.ops_service_log (id, imei, service_date, odometer_km, _run_id, _loaded_at)"
                    " VALUES (1, %s, '2026-01-05', 14000, 't', now()), (2, %s, '2026-01-20', 16500, 't', now()),"
                    " (3, %s, '2026-03-02', NULL, 't', now())", (a, a, b))
    due = {r["imei"]: r for r in rows_as(gold, "SELECT * FROM gold.v_service_due")}
    assert len(due) == 12
    # a: latest service at 16 500 km, odometer 20 000 km -> 3 500 km of the default 5 000.
    assert (due[a]["km_since_service"], due[a]["km_source"], due[a]["service_due"]) == (3500, "odometer", False)
    assert due[a]["km_to_service"] == 1500 and due[a]["last_service_date"] == date(2026, 1, 20)
    # b: serviced on 2 March without an odometer reading -> gold km driven after that day (3 March).
    km_after = rows_as(gold, "SELECT km FROM gold.v_vehicle_day WHERE imei = %s AND day = %s", (b, DAYS[1]))
    assert float(due[b]["km_since_service"]) == pytest.approx(km_after[0]["km"]) and due[b]["km_source"] == "gold_km"
    # c: never serviced -> unknown, not "due".
    assert due[c]["last_service_date"] is None and due[c]["service_due"] is None

    with gold.cursor() as cur:  # the live settings copy beats the warehouse default ...
        cur.execute("INSERT INTO bronze.settings (key, value, _run_id, _loaded_at)"
                    " VALUES ('service_interval_km', 3000, 't', now())")
    due = {r["imei"]: r for r in rows_as(gold, "SELECT * FROM gold.v_service_due")}
    assert (due[a]["service_interval_km"], due[a]["service_due"]) == (3000, True)
    with gold.cursor() as cur:  # ... and a per-vehicle override beats both
        cur.execute("INSERT INTO dwh_control.vehicle_settings (imei, key, value)"
                    " VALUES (%s, 'service_interval_km', 8000)", (a,))
    due = {r["imei"]: r for r in rows_as(gold, "SELECT * FROM gold.v_service_due")}
    assert (due[a]["service_interval_km"], due[a]["service_due"], due[b]["service_interval_km"]) == (8000, False, 3000)
