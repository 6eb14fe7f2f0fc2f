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

    # Today's numbers follow consecutive live fixes of today (tracksolid.vehicle_day_live): MOVING's km and
    # driving time are its fixes' (the API trip only adds to the trip count today), IDLE's idle time its idle
    # fixes' intervals.
    today = [f for f in moving if f[0] >= ms]
    tail_km = sum(haversine_km(a[1], a[2], b[1], b[2]) for a, b in zip(today, today[1:], strict=False))
    tail_s = sum((b[0] - a[0]).total_seconds() for a, b in zip(today, today[1:], strict=False))
    idle_today = [f for f in idle if f[0] >= ms]
    idle_s = sum((b[0] - a[0]).total_seconds() for a, b in zip(idle_today, idle_today[1:], strict=False)
                 if a[3] <= 3)
    idle_since = min(f[0] for f in idle if f[3] <= 3)
    return {
        "t0": t0, "ms": ms, "day": local_day(t0), "parked": parked, "idle": idle, "idle_since": idle_since,
        "moved_today": {imei for imei, fixes in ((PARKED, parked), (IDLE, idle), (MOVING, moving))
                        if any(f[0] >= ms and _moving(f) for f in fixes)} | ({MOVING} if trip_today else set()),
        "moving_km": tail_km, "moving_driving_s": tail_s, "moving_trips": 1 if trip_today else 0,
        "idle_s": idle_s,
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
    # PARKED has been parked for 25 h, across midnight: the rollup carries the run over from yesterday.
    latest = planted["parked"][-1][0]
    assert state[PARKED]["state_since"] == min(f[0] for f in planted["parked"] if f[3] == 0)
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


def test_a_heartbeat_keeps_a_device_off_the_silent_list_as_in_the_fleet_alerts(live_conn, planted):
    """One rule for silence (0057): the newer of the last fix and the last heartbeat, as the fleet alerts'
    include/sql/ops/alert_silent.sql counts it — the NOC list and the alerts never disagree."""
    from fleet_db.settings import read_sql

    with live_conn.cursor() as cur:
        # the 25 h device sends a heartbeat 2 h ago: seen; the 37 h one a heartbeat 13 h ago: 12h bucket
        cur.execute("UPDATE tracksolid.live_positions SET hb_time = now() - interval '2 hours'"
                    " WHERE imei = '860000000000025'")
        cur.execute("UPDATE tracksolid.live_positions SET hb_time = now() - interval '13 hours'"
                    " WHERE imei = '860000000000037'")
        cur.execute(read_sql("ops", "alert_silent.sql"), {"as_of": db_now(live_conn)})
        alerts = {row[2]: row[3] for row in cur.fetchall()}
    rows = {r["imei"]: r for r in rows_as(live_conn, "SELECT * FROM tracksolid.v_silent_devices")}
    assert "860000000000025" not in rows and rows["860000000000037"]["bucket"] == "12h"
    assert float(rows["860000000000037"]["silent_hours"]) == pytest.approx(13, abs=0.1)
    # the alerts list the devices that have reported at least once; the view adds the never-reported one
    assert {i: r["bucket"] for i, r in rows.items() if not r["never_reported"]} == alerts


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
    assert today[IDLE]["idle_s"] == pytest.approx(planted["idle_s"])
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
    """Parked, silent for 3 h (more than offline_gap_s), parked again: parked since the device came back —
    both from the live rollup and from the position_history walk (a vehicle the rollup has not followed)."""
    t0 = db_now(live_conn)
    back = t0 - timedelta(hours=1)
    fixes = (still(t0 - timedelta(hours=5), t0 - timedelta(hours=4), 900, -1.2, 36.7, speed=0, acc=False)
             + still(back, t0, 900, -1.2, 36.7, speed=0, acc=False))
    add_device(live_conn, PARKED, "Van Parked")
    add_fixes(live_conn, PARKED, fixes)
    add_device(live_conn, IDLE, "Van Without Rollup")
    add_fixes(live_conn, IDLE, fixes, live=False)
    with live_conn.cursor() as cur:
        cur.execute("INSERT INTO tracksolid.live_positions (imei, gps_time, lat, lng, speed_kmh, acc_status)"
                    " VALUES (%s, %s, -1.2, 36.7, 0, false)", (IDLE, fixes[-1][0]))
        cur.execute("DELETE FROM tracksolid.vehicle_day_live WHERE imei = %s", (IDLE,))
    rows = {r["imei"]: r for r in rows_as(live_conn, "SELECT * FROM tracksolid.v_vehicle_state_now")}
    assert {i: (r["state"], r["state_since"]) for i, r in rows.items()} == {
        PARKED: ("parked", back), IDLE: ("parked", back)}
    live_conn.cursor().execute("UPDATE tracksolid.settings SET value = 4 * 3600 WHERE key = 'offline_gap_s'")
    rows = {r["imei"]: r for r in rows_as(live_conn, "SELECT * FROM tracksolid.v_vehicle_state_now")}
    assert rows[IDLE]["state_since"] == t0 - timedelta(hours=5)  # the walk applies the new setting at once


def test_today_by_city_is_the_sum_of_the_vehicles(live_conn, planted):
    cities = {r["city"]: r for r in rows_as(live_conn, "SELECT * FROM tracksolid.v_fleet_today_by_city")}
    assert set(cities) == {"Nairobi", "Mombasa", "Kampala"}  # the inactive Nairobi vehicle is not counted
    nairobi, mombasa, kampala = cities["Nairobi"], cities["Mombasa"], cities["Kampala"]
    assert (nairobi["vehicles"], nairobi["parked"], nairobi["idle"]) == (2, 1, 1)
    assert nairobi["moved_today"] == len(planted["moved_today"] & {PARKED, IDLE})
    assert (mombasa["vehicles"], mombasa["moving"], mombasa["alarms"]) == (1, 1, len(ALARMS))
    assert mombasa["km"] == pytest.approx(planted["moving_km"], rel=0.005)
    assert (kampala["vehicles"], kampala["offline"], kampala["not_moved_today"], kampala["km"]) == (5, 5, 5, 0)
    assert all(c["day"] == planted["day"] for c in cities.values())


def test_sla_compliance_counts_tickets_closed_within_their_minutes(live_conn):
    t0 = db_now(live_conn)
    add_device(live_conn, MOVING, "Van Moving", city="Mombasa")
    tickets = [  # (ref, opened h ago, closed h ago, SLA minutes, dispatched vehicle)
        ("T-1", 3, 2, 120, MOVING), ("T-2", 5, 1, 120, MOVING), ("T-3", 30, 29.5, 60, None), ("T-4", 2, None, 60, None)]
    with live_conn.cursor() as cur:
        for ref, opened, closed, sla, imei in tickets:
            cur.execute("INSERT INTO ops.tickets (ticket_ref, city, opened_at, sla_minutes, closed_at)"
                        " VALUES (%s, 'Nairobi', %s, %s, %s)",
                        (ref, t0 - timedelta(hours=opened), sla,
                         None if closed is None else t0 - timedelta(hours=closed)))
            if imei:
                cur.execute("INSERT INTO tracksolid.dispatch_log (ticket_ref, imei, dispatched_at, arrived_at)"
                            " VALUES (%s, %s, %s, %s)", (ref, imei, t0 - timedelta(hours=opened),
                                                         t0 - timedelta(hours=opened) + timedelta(minutes=20)))
    expected: dict[tuple, list] = {}
    for _ref, opened, closed, sla, imei in tickets:
        if closed is None:
            continue
        key = (local_day(t0 - timedelta(hours=closed)), "Mombasa" if imei else "Nairobi")
        expected.setdefault(key, []).append((opened - closed) * 60 <= sla)
    rows = rows_as(live_conn, "SELECT * FROM tracksolid.v_sla_compliance_daily")
    assert {(r["day"], r["city"]): (r["tickets_closed"], r["within_sla"]) for r in rows} == {
        k: (len(v), sum(v)) for k, v in expected.items()}
    for r in rows:
        assert float(r["compliance_pct"]) == pytest.approx(100 * r["within_sla"] / r["tickets_closed"], abs=0.01)
        if r["city"] == "Mombasa":
            assert float(r["avg_travel_min"]) == pytest.approx(20)


def test_rollup_failure_never_loses_the_fix(live_conn):
    """If the rollup cannot be written, the live fix is still stored (the trigger only warns)."""
    t0 = local_midnight(db_now(live_conn)) - timedelta(hours=12)  # yesterday noon: the pairs share one day
    add_device(live_conn, MOVING, "Van Moving")
    add_fixes(live_conn, MOVING, drive(t0 - timedelta(minutes=3), t0 - timedelta(minutes=1), 30, -1.3, 36.8,
                                       dlat=0.001, dlng=0))
    before = rows_as(live_conn, "SELECT km, fixes FROM tracksolid.vehicle_day_live", role=None)
    with live_conn.cursor() as cur:
        cur.execute("REVOKE INSERT, UPDATE ON tracksolid.vehicle_day_live FROM tracksolid_owner")
        try:
            cur.execute("SET ROLE tracksolid_owner")
            cur.execute("UPDATE tracksolid.live_positions SET gps_time = %s, lat = lat + 0.001 WHERE imei = %s",
                        (t0, MOVING))
            assert cur.rowcount == 1
        finally:
            cur.execute("RESET ROLE")
            cur.execute("GRANT INSERT, UPDATE ON tracksolid.vehicle_day_live TO tracksolid_owner")
    assert rows_as(live_conn, "SELECT gps_time FROM tracksolid.live_positions", role=None) == [{"gps_time": t0}]
    assert rows_as(live_conn, "SELECT km, fixes FROM tracksolid.vehicle_day_live", role=None) == before
    assert before[0]["fixes"] == 4 and before[0]["km"] == pytest.approx(3 * haversine_km(-1.3, 36.8, -1.299, 36.8))
