"""Push receiver: every push path stores what was sent (compared with the generated items), replays and
overlaps never duplicate, unknown devices are kept. Real HTTP against the app on a loopback port."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from tests.fixtures.databases import scalar
from tests.fixtures.webhook import gps_items, imei_for

START = datetime(2025, 3, 4, 5, 0, tzinfo=UTC)


def rows(conn, query: str, params=None) -> list[tuple]:
    with conn.cursor() as cur:
        cur.execute(query, params)
        return cur.fetchall()


def t(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)


#: The /pushgps fields whose values are in position_history's columns: a fix's raw JSON keeps the rest.
GPS_FIELDS_IN_COLUMNS = {"deviceImei", "gpsTime", "lat", "lng", "gpsSpeed", "direction", "acc", "satelliteNum",
                         "postType", "gpsMode", "distance", "altitude"}


def fix_raw(item: dict) -> dict:
    return {key: value for key, value in item.items() if key not in GPS_FIELDS_IN_COLUMNS}


def expected_fix(item: dict) -> tuple:
    return (item["deviceImei"], t(item["gpsTime"]), item["lat"], item["lng"], Decimal(item["gpsSpeed"]),
            int(item["direction"]), item["acc"] == "1", {"1": "GPS", "2": "LBS"}[item["postType"]],
            int(item["satelliteNum"]),
            int(item["gpsMode"]), Decimal(item["distance"]) / 1000, Decimal(item["altitude"]), "push",
            fix_raw(item))


FIX_COLUMNS = ("imei, gps_time, lat, lng, speed_kmh, direction, acc_status, pos_type, satellite, gps_mode, "
               "odometer_km, altitude, source, raw")


def test_gps_push_stores_every_fix_and_the_newest_live_position(webhook, live_conn):
    imeis = [imei_for(n) for n in range(7)]
    items = gps_items(50, start=START, imeis=imeis)
    response = webhook.push("/pushgps", items)
    assert response.status_code == 200
    assert response.json() == {"code": 0, "msg": "success", "items": 50, "accepted": 50, "quarantined": 0}

    stored = rows(live_conn, f"SELECT {FIX_COLUMNS} FROM tracksolid.position_history ORDER BY imei, gps_time")
    assert stored == sorted(expected_fix(i) for i in items)
    # Geometry matches lat/lng.
    assert scalar(live_conn, "SELECT count(*) FROM tracksolid.position_history "
                             "WHERE ST_X(geom) <> lng OR ST_Y(geom) <> lat") == 0

    newest = {}
    for item in items:
        if item["deviceImei"] not in newest or item["gpsTime"] > newest[item["deviceImei"]]["gpsTime"]:
            newest[item["deviceImei"]] = item
    live = rows(live_conn, "SELECT imei, gps_time, lat, lng, current_mileage_km, source FROM tracksolid.live_positions "
                           "ORDER BY imei")
    assert live == [(i["deviceImei"], t(i["gpsTime"]), i["lat"], i["lng"], Decimal(i["distance"]) / 1000, "push")
                    for _, i in sorted(newest.items())]

    inbox = rows(live_conn, "SELECT path, push_format, item_count, status, replay_count, payload "
                            "FROM tracksolid.push_inbox")
    assert len(inbox) == 1
    path, push_format, item_count, status, replay_count, payload = inbox[0]
    assert (path, push_format, item_count, status, replay_count) == ("/pushgps", "iothub", 50, "processed", 0)
    # Raw request kept exactly (data_list as sent), and never the token.
    assert json.loads(payload["form"]["data_list"][0]) == items
    assert "token" not in payload["form"] and webhook.token not in json.dumps(payload)


def test_replay_is_acknowledged_without_duplicates(webhook, live_conn):
    items = gps_items(20, start=START, imeis=[imei_for(1), imei_for(2)])
    first = webhook.push("/pushgps", items)
    replay = webhook.push("/pushgps", items)
    assert first.status_code == replay.status_code == 200
    assert replay.json() == {"code": 0, "msg": "success", "items": 20, "accepted": 20, "quarantined": 0}
    assert scalar(live_conn, "SELECT count(*) FROM tracksolid.position_history") == 20
    assert rows(live_conn, "SELECT count(*), sum(replay_count) FROM tracksolid.push_inbox") == [(1, 1)]

    # A different request carrying overlapping items stores only the new ones.
    overlap = items[10:] + gps_items(30, start=datetime(2025, 3, 5, tzinfo=UTC), imeis=[imei_for(1)], seed=9)
    assert webhook.push("/pushgps", overlap).status_code == 200
    assert scalar(live_conn, "SELECT count(*) FROM tracksolid.position_history") == 50
    assert scalar(live_conn, "SELECT count(*) FROM tracksolid.push_inbox") == 2


def test_replay_with_a_rotated_token_is_still_a_replay(webhook_factory, live_db, live_conn):
    old, new = "old-" + "x" * 20, "new-" + "y" * 20
    hook = webhook_factory(live_db, iothub_tokens=(new, old))
    items = gps_items(5, start=START, imeis=[imei_for(3)])
    text = json.dumps(items)
    assert hook.post("/pushgps", {"token": old, "data_list": text}).status_code == 200
    assert hook.post("/pushgps", {"token": new, "data_list": text}).status_code == 200
    assert rows(live_conn, "SELECT count(*), sum(replay_count) FROM tracksolid.push_inbox") == [(1, 1)]
    assert scalar(live_conn, "SELECT count(*) FROM tracksolid.position_history") == 5


def test_live_position_never_moves_back_in_time(webhook, live_conn):
    imei = imei_for(4)
    newer, older = gps_items(2, start=START, imeis=[imei], step_s=60)[::-1]
    assert webhook.push("/pushgps", [newer]).status_code == 200
    older = {**older, "gpsMode": "1"}  # a re-uploaded, late fix
    assert webhook.push("/pushgps", [older]).status_code == 200
    assert rows(live_conn, "SELECT gps_time, lat FROM tracksolid.live_positions") == [
        (t(newer["gpsTime"]), newer["lat"])]
    assert rows(live_conn, "SELECT gps_time, gps_mode FROM tracksolid.position_history ORDER BY gps_time") == [
        (t(older["gpsTime"]), 1), (t(newer["gpsTime"]), 0)]


def test_unknown_imei_creates_an_unregistered_device_and_keeps_registered_ones(webhook, live_conn):
    live_conn.cursor().execute(
        "INSERT INTO tracksolid.devices (imei, device_name, is_registered) VALUES (%s, 'van 7', true)", (imei_for(7),))
    items = gps_items(4, start=START, imeis=[imei_for(7), imei_for(8)])
    assert webhook.push("/pushgps", items).status_code == 200
    assert rows(live_conn, "SELECT imei, device_name, is_registered, is_active FROM tracksolid.devices "
                           "ORDER BY imei") == [(imei_for(7), "van 7", True, True), (imei_for(8), None, False, True)]
    assert scalar(live_conn, "SELECT count(*) FROM tracksolid.position_history WHERE imei = %s",
                  (imei_for(8),)) == 2


IMEI = imei_for(42)
ONE_ITEM_PER_PATH = {
    "/pushhb": (
        {"deviceImei": IMEI, "gateTime": "2025-03-04 05:00:00", "powerLevel": "5", "gsmSign": "4", "acc": "1",
         "oilEle": "12.5", "gpsPos": "1"},
        "SELECT imei, hb_time, power_level, gsm_signal, acc_status, oil_ele, gps_pos FROM tracksolid.heartbeats",
        (IMEI, t("2025-03-04 05:00:00"), 5, 4, True, Decimal("12.5"), "1"),
    ),
    "/pushalarm": (
        {"type": "ALARM", "imei": IMEI, "gateTime": "2025-03-04 05:00:09",
         "msg": {"alertType": "41", "alarmName": "Sudden Acceleration Alert", "alarmTime": "2025-03-04 05:00:07",
                 "lat": -1.25, "lng": 36.75, "gpsSpeed": "47", "newField": "kept"}},
        "SELECT imei, alarm_type, alarm_time, alarm_name, lat, lng, speed_kmh, source, raw->'msg'->>'newField' "
        "FROM tracksolid.alarms",
        (IMEI, "41", t("2025-03-04 05:00:07"), "Sudden Acceleration Alert", -1.25, 36.75, Decimal("47"), "push",
         "kept"),
    ),
    "/pushevent": (
        {"deviceImei": IMEI, "type": "LOGIN", "gateTime": "2025-03-04 05:01:00"},
        "SELECT imei, event_time, event_type, source FROM tracksolid.device_events",
        (IMEI, t("2025-03-04 05:01:00"), "LOGIN", "push"),
    ),
    "/pushobd": (
        {"deviceImei": IMEI, "gateTime": "2025-03-04 05:02:00", "odometerReading": "12345.6", "currentRPM": "2100",
         "coolantTemperature": "88", "vehicleBatterVoltage": "13.9", "remainingFuelPercentage": "64",
         "vin": "JTEBU3FJ00K012345"},
        "SELECT imei, reading_time, odometer_km, rpm, coolant_temp_c, battery_v, fuel_pct, vin, source "
        "FROM tracksolid.obd_readings",
        (IMEI, t("2025-03-04 05:02:00"), Decimal("12345.6"), Decimal("2100"), Decimal("88"), Decimal("13.9"),
         Decimal("64"), "JTEBU3FJ00K012345", "push"),
    ),
    "/pushfaultinfo": (
        {"deviceImei": IMEI, "gateTime": "2025-03-04 05:03:00", "faultCode": "P2407",
         "faultDetail": "Fuel evaporative emission system leak detection pump"},
        "SELECT imei, fault_time, fault_code, fault_detail FROM tracksolid.fault_codes",
        (IMEI, t("2025-03-04 05:03:00"), "P2407", "Fuel evaporative emission system leak detection pump"),
    ),
    "/pushtripreport": (
        {"deviceImei": IMEI, "startTime": "2025-03-04 05:00:00", "endTime": "2025-03-04 05:30:00",
         "distance": "15230", "startLat": -1.2, "startLng": 36.7, "endLat": -1.3, "endLng": 36.8,
         "avgSpeed": "30", "maxSpeed": "71", "runTimeSecond": "1800"},
        "SELECT imei, start_time, end_time, distance_km, start_lat, end_lng, avg_speed_kmh, max_speed_kmh, run_time_s "
        "FROM tracksolid.push_trip_reports",
        (IMEI, t("2025-03-04 05:00:00"), t("2025-03-04 05:30:00"), Decimal("15.23"), -1.2, 36.8, Decimal("30"),
         Decimal("71"), 1800),
    ),
    "/pushoil": (
        {"deviceImei": IMEI, "gateTime": "2025-03-04 05:04:00", "oilValue": "41.5", "unit": "L"},
        "SELECT imei, reading_time, fuel_value, fuel_unit FROM tracksolid.fuel_readings",
        (IMEI, t("2025-03-04 05:04:00"), Decimal("41.5"), "L"),
    ),
    "/pushtem": (
        {"deviceImei": IMEI, "gateTime": "2025-03-04 05:05:00", "temperature": "-4.5", "humidity": "61"},
        "SELECT imei, reading_time, temperature_c, humidity_pct FROM tracksolid.temperature_readings",
        (IMEI, t("2025-03-04 05:05:00"), Decimal("-4.5"), Decimal("61")),
    ),
    "/pushlbs": (
        {"deviceImei": IMEI, "gateTime": "2025-03-04 05:06:00", "postType": "2",
         "lbsJson": json.dumps({"mcc": 639, "mnc": 2, "cells": [{"lac": 1, "ci": 2, "rssi": -70}]})},
        "SELECT imei, reading_time, post_type, lbs->>'mcc' FROM tracksolid.lbs_readings",
        (IMEI, t("2025-03-04 05:06:00"), "LBS", "639"),  # the push's code 2, in polling's vocabulary
    ),
}


@pytest.mark.parametrize("path", sorted(ONE_ITEM_PER_PATH))
def test_each_iothub_path_lands_in_its_table_with_the_raw_item(webhook, live_conn, path):
    item, query, expected = ONE_ITEM_PER_PATH[path]
    response = webhook.push(path, [item])
    assert response.status_code == 200, response.text
    assert rows(live_conn, query) == [expected]
    table = query.rsplit("FROM ", 1)[1].split()[0]
    assert scalar(live_conn, f"SELECT raw FROM {table}") == item  # every field kept, known or not
    inbox_items = scalar(live_conn, "SELECT payload->'form'->'data_list'->>0 FROM tracksolid.push_inbox")
    assert json.loads(inbox_items) == [item]  # and the whole item, as sent, in the inbox
    assert rows(live_conn, "SELECT path, item_count FROM tracksolid.push_inbox") == [(path, 1)]
    assert scalar(live_conn, "SELECT is_registered FROM tracksolid.devices WHERE imei = %s", (IMEI,)) is False
    # Replaying it changes nothing.
    assert webhook.push(path, [item]).status_code == 200
    assert rows(live_conn, query) == [expected]


def test_heartbeat_moves_live_hb_time_forward_only(webhook, live_conn):
    fix = gps_items(1, start=START, imeis=[IMEI])
    assert webhook.push("/pushgps", fix).status_code == 200
    hb = {"deviceImei": IMEI, "powerLevel": "6"}
    assert webhook.push("/pushhb", [{**hb, "gateTime": "2025-03-04 06:00:00"}]).status_code == 200
    assert webhook.push("/pushhb", [{**hb, "gateTime": "2025-03-04 05:30:00"}]).status_code == 200
    assert scalar(live_conn, "SELECT hb_time FROM tracksolid.live_positions") == t("2025-03-04 06:00:00")
    assert scalar(live_conn, "SELECT count(*) FROM tracksolid.heartbeats") == 2


def test_iccid_and_vin_reports_update_the_device_to_the_latest_value(webhook, live_conn):
    reports = [
        {"type": "ICCID", "deviceImei": IMEI, "gateTime": "2025-03-04 05:00:00", "msg": {"iccid": "8925401"}},
        {"type": "VIN", "deviceImei": IMEI, "gateTime": "2025-03-04 05:00:00", "msg": json.dumps({"vin": "VIN1"})},
    ]
    assert webhook.push("/pushalarm", reports).status_code == 200
    older = {"type": "ICCID", "deviceImei": IMEI, "gateTime": "2025-03-01 00:00:00", "msg": {"iccid": "OLD"}}
    assert webhook.push("/pushalarm", [older]).status_code == 200
    assert rows(live_conn, "SELECT iccid, vin, is_registered FROM tracksolid.devices") == [("8925401", "VIN1", False)]
    assert scalar(live_conn, "SELECT count(*) FROM tracksolid.device_attribute_reports") == 3
    assert scalar(live_conn, "SELECT count(*) FROM tracksolid.alarms") == 0


def test_tracksolid_pro_alarm_push_uses_push_field_names(webhook, live_conn):
    alarm = {"imei": IMEI, "deviceName": "VAN-042", "alarmType": "stayAlertOn", "alarmName": "Idling Alert",
             "lat": "-1.237", "lng": "36.727", "alarmTime": "2025-03-04 05:10:00"}
    response = webhook.post(webhook.pro_url, {"msgType": "jimi.push.device.alarm", "data": json.dumps(alarm)})
    assert response.status_code == 200
    assert response.json() == {"code": 0, "msg": "success", "items": 1, "accepted": 1, "quarantined": 0}
    assert rows(live_conn, "SELECT imei, alarm_type, alarm_name, device_name, alarm_time, lat, lng, source "
                           "FROM tracksolid.alarms") == [
        (IMEI, "stayAlertOn", "Idling Alert", "VAN-042", t("2025-03-04 05:10:00"), -1.237, 36.727, "push")]
    assert rows(live_conn, "SELECT path, push_format, msg_type, status FROM tracksolid.push_inbox") == [
        ("/pro", "pro", "jimi.push.device.alarm", "processed")]
    # The same alarm arriving again (replay) stays one row.
    webhook.post(webhook.pro_url, {"msgType": "jimi.push.device.alarm", "data": json.dumps(alarm)})
    assert scalar(live_conn, "SELECT count(*) FROM tracksolid.alarms") == 1


def test_an_alarm_pushed_in_both_formats_is_one_row_with_the_fields_of_both(webhook, live_conn):
    pro = {"imei": IMEI, "deviceName": "VAN-042", "alarmType": "6", "alarmName": "Overspeed",
           "alarmTime": "2025-03-04 05:10:00"}
    iothub = {"type": "ALARM", "deviceImei": IMEI, "gateTime": "2025-03-04 05:10:01",
              "msg": {"alertType": "6", "alarmTime": "2025-03-04 05:10:00", "alarmName": "Other name",
                      "lat": -1.2, "lng": 36.8, "gpsSpeed": "97"}}
    assert webhook.post(webhook.pro_url, {"msgType": "jimi.push.device.alarm",
                                          "data": json.dumps(pro)}).status_code == 200
    # Twice in one request too (one row per key per statement).
    assert webhook.push("/pushalarm", [iothub, iothub]).status_code == 200
    assert rows(live_conn, "SELECT alarm_name, device_name, lat, lng, speed_kmh FROM tracksolid.alarms") == [
        ("Overspeed", "VAN-042", -1.2, 36.8, Decimal("97"))]  # first value kept, empty ones filled


def test_tracksolid_pro_unknown_message_type_is_kept_raw_and_parked(webhook, live_conn):
    data = json.dumps({"imei": IMEI, "cmd": "RELAY,1#", "result": "ok"})
    response = webhook.post(webhook.pro_url, {"msgType": "jimi.open.instruction.raw.receive", "data": data})
    assert response.status_code == 200
    assert rows(live_conn, "SELECT msg_type, status, payload->'form'->'data'->>0 FROM tracksolid.push_inbox") == [
        ("jimi.open.instruction.raw.receive", "parked", data)]


def test_health_and_readiness(webhook, webhook_factory):
    assert webhook.session.get(f"{webhook.base_url}/healthz").json() == {"status": "ok"}
    assert webhook.session.get(f"{webhook.base_url}/readyz").status_code == 200
    from tests.fixtures.webhook import free_port

    nowhere = webhook_factory(f"host=127.0.0.1 port={free_port()} user=postgres dbname=nothing", pool_timeout_s=0.5)
    ready = nowhere.session.get(f"{nowhere.base_url}/readyz")
    assert ready.status_code == 503 and "database unavailable" in ready.json()["msg"]
    assert nowhere.session.get(f"{nowhere.base_url}/healthz").status_code == 200
