"""Live analytics views against planted scenarios (docs/ANALYTICS.md).

Each test plants devices, fixes, trips, idle spells and alarms in a fresh live database, timed relative to the
database's now(), and compares what the views say — read as grafana_ro, which proves the grants — with what
was planted: a vehicle parked all day (never moved today), one idling now, one driving now, devices silent for
9 / 13 / 25 / 37 h, one that never reported, and an inactive one.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.analytics_support import (
    add_device,
    add_fixes,
    db_now,
    drive,
    haversine_km,
    local_day,
    local_midnight,
    rows_as,
    still,
)

PARKED, IDLE, MOVING = "860000000000001", "860000000000002", "860000000000003"
SILENT = {"860000000000009": 9, "860000000000013": 13, "860000000000025": 25, "860000000000037": 37}
NEVER, INACTIVE = "860000000000099", "860000000000098"
TRIP_KM, TRIP_S, IDLE_EVENT_S = 12.5, 1200, 600
ALARMS = [("41", "Sudden acceleration"), ("41", "Sudden acceleration"), ("48", "Sudden braking"),
          ("1", "SOS"), ("zzz", "Vendor specific")]


def _moving(fix) -> bool:  # ALGORITHMS.md point state with the default moving_speed_kmh (3)
    return fix[4] is not False and fix[3] > 3


def plant(conn) -> dict:
    """Plant every scenario; return what the views must show."""
    t0 = db_now(conn)
    ms = local_midnight(t0)
    m = timedelta(minutes=1)
    add_device(conn, PARKED, "Van Parked", plate="KDA 001A", driver="Mary Wanjiru")
    add_device(conn, IDLE, None, plate="KDA 002B", driver="Peter Kamau")
    add_device(conn, MOVING, "Van Moving", plate="KDA 003C", driver="Mary Wanjiru", city="Mombasa")
    for imei in [*SILENT, NEVER]:
        add_device(conn, imei, f"Silent {imei[-2:]}", city="Kampala")
    add_device(conn, INACTIVE, "Retired", active=False)

    parked = add_fixes(conn, PARKED, drive(t0 - timedelta(hours=26), t0 - timedelta(hours=25), 30, -1.237, 36.727,
                                           dlat=0.0004, dlng=0.0)
                       + still(t0 - timedelta(hours=25) + m, t0 - m, 900, -1.2, 36.727, speed=0, acc=False))
    idle = add_fixes(conn, IDLE, drive(t0 - 40 * m, t0 - 19 * m, 30, -1.30, 36.80, dlat=0.0005, dlng=0.0)
                     + still(t0 - 19 * m, t0 - timedelta(seconds=10), 60, -1.28, 36.80, speed=1.0, acc=True))
    moving = add_fixes(conn, MOVING, drive(t0 - 10 * m, t0, 30, -4.05, 39.60, dlat=0.0, dlng=0.002))
    for imei, hours in SILENT.items():
        add_fixes(conn, imei, [(t0 - timedelta(hours=hours), 0.3, 32.5, 0, False)])
    add_fixes(conn, INACTIVE, [(t0 - timedelta(hours=50), 0.3, 32.5, 0, False)])

    with conn.cursor() as cur:
        cur.execute("INSERT INTO tracksolid.trips (imei, start_time, end_time, distance_km, run_time_s)"
                    " VALUES (%s, %s, %s, 10, 3600)", (PARKED, t0 - timedelta(hours=26), t0 - timedelta(hours=25)))
        trip_today = t0 - 35 * m >= ms
        if trip_today:
            cur.execute("INSERT INTO tracksolid.trips (imei, start_time, end_time, distance_km, run_time_s)"
                        " VALUES (%s, %s, %s, %s, %s)", (MOVING, t0 - 35 * m, t0 - 15 * m, TRIP_KM, TRIP_S))
        idle_event_today = t0 - 2 * timedelta(hours=1) >= ms
        if idle_event_today:
            start = t0 - timedelta(hours=2)
            cur.execute("INSERT INTO tracksolid.parking_events (imei, start_time, acc_type, end_time, duration_s)"
                        " VALUES (%s, %s, 'on', %s, %s)",
                        (IDLE, start, start + timedelta(seconds=IDLE_EVENT_S), IDLE_EVENT_S))
        elapsed = t0 - ms
        for k, (atype, name) in enumerate(ALARMS):
            cur.execute("INSERT INTO tracksolid.alarms (imei, alarm_type, alarm_time, alarm_name, source)"
                        " VALUES (%s, %s, %s, %s, 'poll')", (MOVING, atype, ms + elapsed * (k + 1) / 7, name))

    # Expected today's tail of MOVING: pairs of its fixes inside today (the trip, if any, ended before them).
    today = [f for f in moving if f[0] >= ms]
    tail_km = sum(haversine_km(a[1], a[2], b[1], b[2]) for a, b in zip(today, today[1:], strict=False))
    tail_s = sum((b[0] - a[0]).total_seconds() for a, b in zip(today, today[1:], strict=False))
    idle_since = min(f[0] for f in idle if f[3] <= 3)
    return {
        "t0": t0, "ms": ms, "day": local_day(t0), "parked": parked, "idle": idle, "idle_since": idle_since,
        "moved_today": {imei for imei, fixes in ((PARKED, parked), (IDLE, idle), (MOVING, moving))
                        if any(f[0] >= ms and _moving(f) for f in fixes)} | ({MOVING} if trip_today else set()),
        "moving_km": (TRIP_KM if trip_today else 0) + tail_km,
        "moving_driving_s": (TRIP_S if trip_today else 0) + tail_s,
        "moving_trips": 1 if trip_today else 0,
        "idle_event_s": IDLE_EVENT_S if idle_event_today else 0,
    }


@pytest.fixture
def planted(live_conn) -> dict:
    return plant(live_conn)


def test_vehicle_state_now_idle_and_state_since(live_conn, planted):
    state = {r["imei"]: r for r in rows_as(live_conn, "SELECT * FROM tracksolid.v_vehicle_state_now")}
    assert INACTIVE not in state
    assert {i: r["state"] for i, r in state.items()} == {
        PARKED: "parked", IDLE: "idle", MOVING: "moving", NEVER: "offline", **{i: "offline" for i in SILENT}}
    assert state[IDLE]["state_since"] == planted["idle_since"]
    assert state[MOVING]["vehicle"] == "Van Moving" and state[IDLE]["vehicle"] == "KDA 002B"  # name, else plate
    assert state[NEVER]["vehicle"] == "Silent 99" and state[NEVER]["gps_time"] is None
    # PARKED has been parked for 25 h: state_since stops at the lookback (12 h before its latest fix).
    latest = planted["parked"][-1][0]
    assert state[PARKED]["state_since"] == min(f[0] for f in planted["parked"] if f[0] > latest - timedelta(hours=12))
    assert state[MOVING]["latitude"] == pytest.approx(-4.05) and state[MOVING]["city"] == "Mombasa"
    assert state[PARKED]["age_s"] == pytest.approx((planted["t0"] - latest).total_seconds(), abs=60)

    idle = rows_as(live_conn, "SELECT * FROM tracksolid.v_currently_idle")
    assert [r["imei"] for r in idle] == [IDLE]
    expected_s = (db_now(live_conn) - planted["idle_since"]).total_seconds()
    assert idle[0]["idle_s"] == pytest.approx(expected_s, abs=5)
    assert float(idle[0]["idle_cost_so_far"]) == pytest.approx(expected_s / 3600 * 0.8 * 180, rel=0.01)
    assert idle[0]["excessive"] is True  # 19 min >= excessive_idle_s (900 s)
    live_conn.cursor().execute("UPDATE tracksolid.settings SET value = 3600 WHERE key = 'excessive_idle_s'")
    assert rows_as(live_conn, "SELECT excessive FROM tracksolid.v_currently_idle")[0]["excessive"] is False


def test_silent_device_buckets_come_from_settings(live_conn, planted):
    rows = {r["imei"]: r for r in rows_as(live_conn, "SELECT * FROM tracksolid.v_silent_devices")}
    assert {i: r["bucket"] for i, r in rows.items()} == {
        "860000000000009": "8h", "860000000000013": "12h", "860000000000025": "24h", "860000000000037": "36h",
        NEVER: "36h"}
    assert rows[NEVER]["never_reported"] is True and rows[NEVER]["silent_hours"] is None
    assert float(rows["860000000000025"]["silent_hours"]) == pytest.approx(25, abs=0.1)
    assert rows["860000000000037"]["bucket_rank"] == 4 and rows["860000000000009"]["bucket_rank"] == 1

    live_conn.cursor().execute("UPDATE tracksolid.settings SET value = 10 WHERE key = 'silent_hours_warn'")
    rows = {r["imei"]: r["bucket"] for r in rows_as(live_conn, "SELECT * FROM tracksolid.v_silent_devices")}
    assert "860000000000009" not in rows and rows["860000000000013"] == "12h"


def test_today_rollups_match_what_was_planted(live_conn, planted):
    day = planted["day"]
    today = {r["imei"]: r for r in rows_as(live_conn, "SELECT * FROM tracksolid.v_fleet_today")}
    assert set(today) == {PARKED, IDLE, MOVING, NEVER, *SILENT}
    assert all(r["day"] == day for r in today.values())
    mv = today[MOVING]
    assert mv["km"] == pytest.approx(planted["moving_km"], rel=0.005)
    assert mv["driving_s"] == pytest.approx(planted["moving_driving_s"], abs=1)
    assert mv["trips"] == planted["moving_trips"]
    assert mv["alarms"] == len(ALARMS) and mv["aggression_events"] == 3  # 41, 41, 48
    assert float(mv["utilisation_pct"]) == pytest.approx(100 * planted["moving_driving_s"] / (9 * 3600), abs=0.01)
    ongoing = (db_now(live_conn) - max(planted["idle_since"], planted["ms"])).total_seconds()
    assert today[IDLE]["idle_s"] == pytest.approx(planted["idle_event_s"] + ongoing, abs=5)
    assert today[PARKED]["km"] == 0 and today[PARKED]["trips"] == 0  # yesterday's trip is not today's
    assert {i for i, r in today.items() if r["moved_today"]} == planted["moved_today"]

    not_moved = {r["imei"]: r for r in rows_as(live_conn, "SELECT * FROM tracksolid.v_vehicles_not_moved_today")}
    assert set(not_moved) == set(today) - planted["moved_today"]
    assert not_moved[PARKED]["last_trip_end_at"] == planted["t0"] - timedelta(hours=25)

    km = rows_as(live_conn, "SELECT * FROM tracksolid.v_fleet_km_daily WHERE day = %s AND imei = %s", (day, MOVING))
    assert km[0]["km"] == pytest.approx(mv["km"]) and km[0]["vehicle"] == "Van Moving"
    yesterday = rows_as(live_conn, "SELECT * FROM tracksolid.v_fleet_km_daily WHERE imei = %s AND day < %s",
                        (PARKED, day))
    assert [(r["day"], r["km"], r["trips"]) for r in yesterday] == [
        (local_day(planted["t0"] - timedelta(hours=26)), 10, 1)]

    alarms = rows_as(live_conn, "SELECT alarm_type, alarm_class, alarms FROM tracksolid.v_alarms_daily"
                                " WHERE day = %s ORDER BY alarm_type", (day,))
    assert [(r["alarm_type"], r["alarm_class"], r["alarms"]) for r in alarms] == [
        ("1", "sos", 1), ("41", "harsh_acceleration", 2), ("48", "harsh_braking", 1), ("zzz", "other", 1)]

    util = {r["imei"]: r for r in rows_as(live_conn, "SELECT * FROM tracksolid.v_utilisation_daily WHERE day = %s",
                                          (day,))}
    assert util[MOVING]["utilisation_pct"] == pytest.approx(mv["utilisation_pct"])
    assert util[IDLE]["idle_cost"] == pytest.approx(util[IDLE]["idle_s"] / 3600 * 0.8 * 180)

    drivers = {r["driver_name"]: r for r in rows_as(
        live_conn, "SELECT * FROM tracksolid.v_driver_aggregates_daily WHERE day = %s", (day,))}
    mary = drivers["Mary Wanjiru"]  # drives MOVING today (PARKED, also hers, did nothing today)
    assert mary["km"] == pytest.approx(planted["moving_km"], rel=0.005) and mary["aggression_events"] == 3
    assert mary["aggression_index"] == pytest.approx(300 / mary["km"])
    assert mary["alarms_per_100km"] == pytest.approx(100 * len(ALARMS) / mary["km"])


def test_sla_inflight_and_active_dispatch_map(live_conn):
    t0 = db_now(live_conn)
    add_device(live_conn, MOVING, "Van Moving", city="Mombasa")
    add_fixes(live_conn, MOVING, [(t0 - timedelta(seconds=20), -4.05, 39.60, 30, True)])
    tickets = {"T-OK": (30, 120), "T-RISK": (100, 120), "T-LATE": (180, 120)}  # (opened min ago, SLA min)
    with live_conn.cursor() as cur:
        for ref, (ago, sla) in tickets.items():
            cur.execute("INSERT INTO ops.tickets (ticket_ref, customer, city, lat, lng, opened_at, sla_minutes)"
                        " VALUES (%s, 'ACME', 'Nairobi', -4.06, 39.61, %s, %s)",
                        (ref, t0 - timedelta(minutes=ago), sla))
        cur.execute("INSERT INTO ops.tickets (ticket_ref, opened_at, sla_minutes, closed_at) VALUES"
                    " ('T-DONE', %s, 60, %s)", (t0 - timedelta(hours=5), t0 - timedelta(hours=4)))
        cur.execute("INSERT INTO tracksolid.dispatch_log (ticket_ref, imei, dispatched_at) VALUES ('T-RISK', %s, %s)",
                    (MOVING, t0 - timedelta(minutes=90)))
        cur.execute("INSERT INTO tracksolid.dispatch_log (ticket_ref, imei, dispatched_at, completed_at)"
                    " VALUES ('T-DONE', %s, %s, %s)", (MOVING, t0 - timedelta(hours=5), t0 - timedelta(hours=4)))
    sla = {r["ticket_ref"]: r for r in rows_as(live_conn, "SELECT * FROM tracksolid.v_sla_inflight")}
    assert {r: s["sla_status"] for r, s in sla.items()} == {"T-OK": "ok", "T-RISK": "at_risk", "T-LATE": "breached"}
    assert float(sla["T-OK"]["remaining_min"]) == pytest.approx(90, abs=0.5)
    assert sla["T-RISK"]["vehicle"] == "Van Moving" and sla["T-RISK"]["city"] == "Mombasa"
    assert sla["T-LATE"]["imei"] is None and sla["T-LATE"]["city"] == "Nairobi"

    dispatch = rows_as(live_conn, "SELECT * FROM tracksolid.v_active_dispatch_map")
    assert [(d["ticket_ref"], d["state"]) for d in dispatch] == [("T-RISK", "moving")]
    assert dispatch[0]["distance_to_site_km"] == pytest.approx(haversine_km(-4.05, 39.60, -4.06, 39.61), rel=0.01)
    assert dispatch[0]["due_at"] == t0 - timedelta(minutes=100) + timedelta(minutes=120)


def test_state_since_restarts_after_an_offline_gap(live_conn):
    """Parked, silent for 3 h (more than offline_gap_s), parked again: parked since the device came back."""
    t0 = db_now(live_conn)
    add_device(live_conn, PARKED, "Van Parked")
    back = t0 - timedelta(hours=1)
    add_fixes(live_conn, PARKED, still(t0 - timedelta(hours=5), t0 - timedelta(hours=4), 900, -1.2, 36.7, speed=0,
                                       acc=False)
              + still(back, t0, 900, -1.2, 36.7, speed=0, acc=False))
    row = rows_as(live_conn, "SELECT state, state_since FROM tracksolid.v_vehicle_state_now")[0]
    assert (row["state"], row["state_since"]) == ("parked", back)
    live_conn.cursor().execute("UPDATE tracksolid.settings SET value = 4 * 3600 WHERE key = 'offline_gap_s'")
    row = rows_as(live_conn, "SELECT state, state_since FROM tracksolid.v_vehicle_state_now")[0]
    assert (row["state"], row["state_since"]) == ("parked", t0 - timedelta(hours=5))  # the gap no longer counts
