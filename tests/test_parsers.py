"""Parsers against payloads in the official document's exact shapes (examples copied from the doc,
read through the search tool: id 59228440098), plus the lessons of TRACKSOLID_API.md §6."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from tracksolid_hook import parsers
from tracksolid_hook.parsers import (
    merge_device,
    parse_alarm,
    parse_device_detail,
    parse_device_list_item,
    parse_items,
    parse_location,
    parse_obd,
    parse_parking,
    parse_track_point,
    parse_trip,
)


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


# §2.1 jimi.user.device.list — doc example
DEVICE_LIST_ITEM = {
    "imei": "868120145233604", "deviceName": "868120145233604", "mcType": "GT300L",
    "mcTypeUseScope": "personal", "sim": "415451", "expiration": "2037-04-01 23:59:59",
    "activationTime": "2017-04-01 11:02:20", "reMark": "test", "vehicleName": None, "vehicleIcon": "bus",
    "vehicleNumber": "粤 B3604", "vehicleModels": None, "carFrame": "2235", "driverName": "driver",
    "driverPhone": "13825036579", "enabledFlag": 1, "engineNumber": "8565674",
    "deviceGroupId": "b54ab3c430864e31a64e54de44c79a1d", "deviceGroup": "default group",
}
# §2.2 jimi.track.device.detail — doc example
DEVICE_DETAIL = {
    "imei": "868120145233604", "deviceName": "868120145233604", "mcType": "GT300L",
    "mcTypeUseScope": "personal", "sim": "415451", "expiration": "2037-04-01 23:59:59",
    "activationTime": "2017-04-01 11:02:20", "reMark": "test", "vehicleName": None, "vehicleIcon": "bus",
    "vehicleNumber": "粤B3604", "vehicleModels": None, "carFrame": "2235", "driverName": "driver",
    "driverPhone": "13825036579", "enabledFlag": 1, "engineNumber": "8565674", "iccid": "xxxxxxx",
    "imsi": "xxxx", "importTime": "2017-04-01 11:02:20", "licensePlatNo": "8565674", "VIN": "xxxxxxx",
    "vehicleBrand": "xxxx", "fuel_100km": "9", "status": "8565674", "currentMileage": "102.5",
    "deviceGroupId": "b54ab3c430864e31a64e54de44c79a1d", "deviceGroup": "default group",
}
# §3.1 jimi.user.device.location.list — doc example
LOCATION_ITEM = {
    "imei": "860121060369660", "deviceName": "VL802-69660", "mcType": "VL802", "icon": "other",
    "status": "1", "posType": "GPS", "lat": 22.576562, "lng": 113.943084, "hbTime": "2026-03-26 11:25:38",
    "accStatus": "1", "gpsSignal": "4", "powerValue": None, "batteryPowerVal": "0.06", "speed": "0",
    "gpsNum": "15", "gpsTime": "2026-03-18 10:20:37", "direction": "0", "activationFlag": "1",
    "expireFlag": "1", "electQuantity": "", "locDesc": None, "distance": "-1", "temperature": None,
    "trackerOil": "0.00L", "trackerOils": None, "currentMileage": "0.6481649691599485",
    "account": "FAETEST", "customerName": "FAETEST", "state": None, "stateTime": None,
    "iccid": "898608401024C0669758", "mac": "", "chargeStatus": None, "shutdown": None, "confidence": None,
}
# §3.4 jimi.device.track.mileage — doc example (note "elapsed", distance in metres)
TRIP_ITEM = {
    "imei": "3505831983422342", "startTime": "2017-04-26 00:00:58", "endTime": "2017-04-26 00:03:58",
    "startLat": 22.577144898887813, "startLng": 113.91674845964586, "endLat": 22.677144898887813,
    "endLng": 113.92674845964586, "elapsed": 2130, "distance": 25000, "avgSpeed": 90,
}
# §3.5 jimi.device.track.list — doc example
TRACK_POINT = {
    "lat": 22.576607, "lng": 113.943084, "gpsTime": "2026-03-18 09:40:46", "direction": 0, "gpsSpeed": 0.0,
    "posType": 1, "satellite": 0, "ignition": "ON", "accStatus": "ON", "gpsMode": 0, "confidence": None,
}
# §3.7 jimi.open.platform.report.parking — doc example (ISO-8601 Z times)
PARKING_ROW = {
    "imei": "869247060001739", "startTime": "2022-12-10T01:05:33.000Z", "endTime": "2022-12-10T04:17:48.000Z",
    "durSecond": "11535", "lng": 113.943093, "lat": 22.576748,
    "addr": "Shigu Road, 松坪村, Xili Sub-district, Nanshan distri...", "deviceName": "JC450Pro-01739",
    "mcType": "JC450Pro", "acc": "on", "stopSecond": "11535",
}
# §9.3 jimi.device.alarm.list — doc example (the name field is alarmTypeName)
ALARM_ITEM = {
    "deviceName": "ABC-34352", "imei": "343503422910345", "model": "GT06N", "account": "test1234",
    "alertTypeId": "1002", "alarmTypeName": "ACC On", "alertTime": "2019-03-14 14:02:03",
    "positioningTime": "2019-03-14 14:02:03", "lat": 22.577144898887813, "lng": 113.91674845964586,
    "speed": "10", "geoid": "se8yg081p0qh5vnniqrakr1nr0tdh6a0",
}
# §8.1 jimi.device.obd.list — the doc's second example row (unpadded hour "1:27:23")
OBD_ITEM = {
    "imei": "158511020000028", "dataReportTime": "2024-05-09 1:27:23", "odometerReading": "2048.6",
    "deviceAccumulatedMileage": "143.9", "remainingFuel": None, "remainingFuelPercentage": "56",
    "coolantTemperature": "78", "vehicleBatterVoltage": "118", "currentRPM": "5016", "currentSpeed": "95.5",
    "vin": "LC0CG4CF1H0029191",
}


def test_device_list_item():
    row = parse_device_list_item(DEVICE_LIST_ITEM, account="head-account")
    assert row["imei"] == "868120145233604"
    assert row["account"] == "head-account"
    assert row["expiration"] == utc(2037, 4, 1, 23, 59, 59)
    assert row["activation_time"] == utc(2017, 4, 1, 11, 2, 20)
    assert row["remark"] == "test"
    assert row["vehicle_name"] is None and row["vehicle_number"] == "粤 B3604"
    assert row["enabled_flag"] == 1
    assert row["device_group"] == "default group"
    assert row["raw"] is DEVICE_LIST_ITEM


def test_device_detail_fields():
    row = parse_device_detail(DEVICE_DETAIL)
    assert row["vin"] == "xxxxxxx"  # upper-case "VIN" key
    assert row["license_plate_no"] == "8565674"  # "licensePlatNo" (sic)
    assert row["current_mileage_km"] == Decimal("102.5")
    assert row["fuel_100km"] == Decimal("9")
    assert row["import_time"] == utc(2017, 4, 1, 11, 2, 20)
    assert row["iccid"] == "xxxxxxx" and row["imsi"] == "xxxx"


def test_detail_fills_the_nulls_of_device_list():
    # Production: device.list returns vehicle/driver/sim as null even when they are set.
    list_item = {**DEVICE_LIST_ITEM, "vehicleNumber": None, "driverName": None, "driverPhone": None,
                 "sim": None, "vehicleName": None, "deviceName": "from-list"}
    detail = {**DEVICE_DETAIL, "vehicleName": "Van 7", "deviceName": "from-detail"}
    merged = merge_device(parse_device_list_item(list_item, account="acc"), parse_device_detail(detail))
    assert merged["vehicle_number"] == "粤B3604"
    assert merged["driver_name"] == "driver" and merged["driver_phone"] == "13825036579"
    assert merged["sim"] == "415451"
    assert merged["vehicle_name"] == "Van 7"
    assert merged["device_name"] == "from-list"  # a value the list has is kept
    assert merged["account"] == "acc"
    assert merged["vin"] == "xxxxxxx"  # detail-only field added
    assert merged["raw"] == {"list": list_item, "detail": detail}
    assert merge_device(parse_device_list_item(list_item), None)["driver_name"] is None


def test_location_item():
    row = parse_location(LOCATION_ITEM)
    assert row["gps_time"] == utc(2026, 3, 18, 10, 20, 37)
    assert row["hb_time"] == utc(2026, 3, 26, 11, 25, 38)
    assert (row["lat"], row["lng"]) == (22.576562, 113.943084)
    assert row["acc_status"] is True and row["online"] is True
    assert row["speed_kmh"] == Decimal("0")
    assert row["elect_quantity"] is None  # empty string
    assert row["tracker_oil"] == Decimal("0.00")  # "0.00L": number with a unit
    assert row["battery_power_val"] == Decimal("0.06")
    assert row["current_mileage_km"] == Decimal("0.6481649691599485")
    assert row["gps_num"] == 15 and row["gps_signal"] == 4 and row["direction"] == 0
    assert row["pos_type"] == "GPS" and row["source"] == "poll"


def test_location_of_expired_device_has_no_coordinates():
    row = parse_location({**LOCATION_ITEM, "lat": 0, "lng": 0, "expireFlag": "0"})
    assert row["lat"] is None and row["lng"] is None


def test_location_direction_with_decimals():
    assert parse_location({**LOCATION_ITEM, "direction": "100.12"})["direction"] == 100


def test_trip_distance_is_metres_and_elapsed_is_read():
    row = parse_trip(TRIP_ITEM)
    assert row["distance_km"] == Decimal("25")  # 25000 m → 25 km, never multiplied
    assert row["run_time_s"] == 2130  # the doc example's "elapsed"
    assert row["start_time"] == utc(2017, 4, 26, 0, 0, 58) and row["end_time"] == utc(2017, 4, 26, 0, 3, 58)
    assert row["avg_speed_kmh"] == Decimal("90")
    assert row["start_lat"] == pytest.approx(22.577144898887813)


def test_trip_run_time_second_and_string_numbers():
    item = {**TRIP_ITEM, "runTimeSecond": "180", "distance": "1234.5", "avgSpeed": ""}
    del item["elapsed"]
    row = parse_trip(item)
    assert row["run_time_s"] == 180
    assert row["distance_km"] == Decimal("1.2345")
    assert row["avg_speed_kmh"] is None


def test_track_point():
    row = parse_track_point(TRACK_POINT, imei="868120145233604")
    assert row["imei"] == "868120145233604"
    assert row["gps_time"] == utc(2026, 3, 18, 9, 40, 46)
    assert row["acc_status"] is True  # "ON"
    assert row["pos_type"] == "GPS"  # 1 → GPS
    assert row["gps_mode"] == 0 and row["satellite"] == 0
    assert row["speed_kmh"] == Decimal("0.0")
    assert row["source"] == "track_list"
    off = parse_track_point({**TRACK_POINT, "ignition": "OFF", "accStatus": "OFF", "posType": "2",
                             "gpsMode": 1}, imei="1")
    assert off["acc_status"] is False and off["pos_type"] == "LBS" and off["gps_mode"] == 1


def test_parking_iso_z_times_and_dur_second():
    row = parse_parking(PARKING_ROW, acc_type="on")
    assert row["start_time"] == utc(2022, 12, 10, 1, 5, 33)
    assert row["end_time"] == utc(2022, 12, 10, 4, 17, 48)
    assert row["duration_s"] == 11535 and row["stop_s"] == 11535
    assert row["acc_type"] == "on"
    assert row["address"].startswith("Shigu Road")
    assert row["device_name"] == "JC450Pro-01739"
    with pytest.raises(ValueError):
        parse_parking(PARKING_ROW, acc_type="0")


def test_alarm_uses_alarm_type_name():
    row = parse_alarm(ALARM_ITEM)
    assert row["alarm_type"] == "1002"
    assert row["alarm_name"] == "ACC On"
    assert row["alarm_time"] == utc(2019, 3, 14, 14, 2, 3)
    assert row["positioning_time"] == utc(2019, 3, 14, 14, 2, 3)
    assert row["speed_kmh"] == Decimal("10")
    assert row["geoid"] == "se8yg081p0qh5vnniqrakr1nr0tdh6a0"
    assert row["source"] == "poll"


def test_alarm_name_fallback_to_the_field_table_spelling():
    item = {k: v for k, v in ALARM_ITEM.items() if k != "alarmTypeName"} | {"alertTypeName": "SOS"}
    assert parse_alarm(item)["alarm_name"] == "SOS"


def test_obd_row_with_unpadded_time():
    row = parse_obd(OBD_ITEM)
    assert row["reading_time"] == utc(2024, 5, 9, 1, 27, 23)
    assert row["odometer_km"] == Decimal("2048.6")
    assert row["fuel_l"] is None and row["fuel_pct"] == Decimal("56")
    assert row["rpm"] == Decimal("5016") and row["coolant_temp_c"] == Decimal("78")
    assert row["battery_v"] == Decimal("118") and row["speed_kmh"] == Decimal("95.5")
    assert row["vin"] == "LC0CG4CF1H0029191"


def test_rows_use_the_exact_table_columns():
    # Every key must be a column of 0002_live_tables.sql (read from the file, not hard-coded).
    import re

    from fleet_db.settings import read_sql

    ddl = read_sql("migrations", "tracksolid_db", "0002_live_tables.sql")

    def columns(table: str) -> set[str]:
        body = re.search(rf"CREATE TABLE tracksolid\.{table} \((.*?)\n\);", ddl, re.S).group(1)
        return {line.split()[0] for line in body.splitlines() if line.strip() and line.startswith("    ")
                and not line.strip().startswith(("PRIMARY", "UNIQUE", "--"))}

    cases = {
        "devices": merge_device(parse_device_list_item(DEVICE_LIST_ITEM), parse_device_detail(DEVICE_DETAIL)),
        "live_positions": parse_location(LOCATION_ITEM),
        "position_history": parse_track_point(TRACK_POINT, imei="1"),
        "trips": parse_trip(TRIP_ITEM),
        "parking_events": parse_parking(PARKING_ROW, acc_type="off"),
        "alarms": parse_alarm(ALARM_ITEM),
        "obd_readings": parse_obd(OBD_ITEM),
    }
    for table, row in cases.items():
        assert set(row) <= columns(table), (table, set(row) - columns(table))
        assert set(parsers.ROW_KEYS[table]) <= set(row)


def test_bad_items_are_rejected_with_a_reason_not_dropped_silently():
    items = [ALARM_ITEM, {**ALARM_ITEM, "alertTime": "yesterday"}, {**ALARM_ITEM, "imei": ""}, "junk",
             {**ALARM_ITEM, "alertTypeId": None}]
    result = parse_items(parse_alarm, items)
    assert len(result.rows) == 1
    reasons = [reason for _, reason in result.rejects]
    assert reasons == ["unreadable alertTime: 'yesterday'", "no IMEI", "item is not a JSON object",
                       "no alertTypeId"]
    assert result.rejects[0][0]["alertTime"] == "yesterday"  # the raw item travels with the reason


def test_location_of_a_device_that_never_had_a_fix_keeps_heartbeat_and_online_state():
    result = parse_items(parse_location, [{**LOCATION_ITEM, "gpsTime": "", "lat": 0, "lng": 0}])
    assert not result.rejects
    (row,) = result.rows
    assert row["gps_time"] is None and row["lat"] is None and row["lng"] is None
    assert row["hb_time"] == utc(2026, 3, 26, 11, 25, 38) and row["online"] is True


def test_location_without_any_time_is_rejected():
    result = parse_items(parse_location, [{**LOCATION_ITEM, "gpsTime": "", "hbTime": None}])
    assert result.rows == [] and result.rejects[0][1] == "no gpsTime and no hbTime"
