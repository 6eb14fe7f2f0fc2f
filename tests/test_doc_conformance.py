"""Conformance with the official Tracksolid Pro document, independent of our simulator (part 1 of 4).

The document's own example payloads are transcribed in ``tests/data/tracksolid_doc/`` (one JSON file per
method / push message; see the README there for the transcription rules). This module holds:

* the shared helpers of the ``test_doc_conformance*`` modules: loading the examples, and our **own**
  implementation of the document's signature algorithm (written from the document's ``signTopRequest``
  Java listing, not from ``tracksolid_hook.signing`` or the simulator);
* the expected typed rows of every example — written by hand from the document's values and units, so a
  parser that drifts (metres read as km, an ISO ``Z`` time shifted, a string number lost) fails here;
* the tests that the hook's parsers turn every example item into exactly those rows.

The other parts: ``_hook`` (TracksolidHook against an independent mini-server replying with these
examples), ``_simulator`` (our simulator's answers compared with the examples' shapes) and ``_push``
(the push receiver fed the document's push examples).
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tracksolid_hook import parsers

DOC_DIR = Path(__file__).resolve().parent / "data" / "tracksolid_doc"

#: The API methods the pipeline uses, each with its transcribed example file.
API_METHODS = (
    "jimi.oauth.token.get",
    "jimi.oauth.token.refresh",
    "jimi.user.device.list",
    "jimi.track.device.detail",
    "jimi.user.device.location.list",
    "jimi.device.location.get",
    "jimi.device.track.list",
    "jimi.device.track.mileage",
    "jimi.open.platform.report.parking",
    "jimi.device.alarm.list",
    "jimi.device.obd.list",
)
PUSH_MESSAGES = ("jimi.push.device.alarm", "jimi.open.instruction.raw.receive")

#: The token every example carries (token.get and token.refresh print the same one).
DOC_ACCESS_TOKEN = "7da3330ec28e3996b6ef4a7e3390ba71"
DOC_ACCOUNT = "jimitest"


def load_doc(method: str) -> dict:
    """The transcription of one method's section: ``example`` (the response verbatim), ``fields`` (the
    field table's keys), ``payload`` (where the rows are: ``result``, ``data.rows``, ``data.result``)."""
    return json.loads((DOC_DIR / f"{method}.json").read_text(encoding="utf-8"))


def load_push(msg_type: str) -> dict:
    return json.loads((DOC_DIR / f"push.{msg_type}.json").read_text(encoding="utf-8"))


def load_errors() -> dict:
    return json.loads((DOC_DIR / "errors.json").read_text(encoding="utf-8"))


def payload_items(method: str, envelope: dict | None = None) -> list[dict]:
    """The row objects of ``envelope`` (default: the doc example) at the method's documented place."""
    doc = load_doc(method)
    node: Any = doc["example"] if envelope is None else envelope
    for part in doc["payload"].split("."):
        node = node.get(part) if isinstance(node, dict) else None
    if isinstance(node, dict):
        return [node]
    return list(node or [])


def doc_signature(params: dict[str, str], secret: str) -> str:
    """The document's ``signTopRequest`` (md5 branch), re-implemented from its Java listing:

    keys sorted as ``Arrays.sort`` sorts Java strings (UTF-16 code units), ``sign`` left out, pairs with an
    empty key or value skipped (``StringUtils.areNotEmpty``), ``secret + k1v1k2v2… + secret`` hashed with
    MD5 over UTF-8, ``byte2hex`` upper-case."""
    keys = sorted((k for k in params if k != "sign"), key=lambda k: k.encode("utf-16-be"))
    body = "".join(key + params[key] for key in keys if key and params[key])
    return hashlib.md5(f"{secret}{body}{secret}".encode()).hexdigest().upper()


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


# --- expected rows, by hand from the document's example values ----------------------------------------

_DEVICE_COMMON = {
    "imei": "868120145233604", "device_name": "868120145233604", "mc_type": "GT300L",
    "mc_type_use_scope": "personal", "sim": "415451", "expiration": utc(2037, 4, 1, 23, 59, 59),
    "activation_time": utc(2017, 4, 1, 11, 2, 20), "remark": "test", "vehicle_name": None,
    "vehicle_icon": "bus", "vehicle_models": None, "car_frame": "2235", "driver_name": "driver",
    "driver_phone": "13825036579", "enabled_flag": 1, "engine_number": "8565674",
    "device_group_id": "b54ab3c430864e31a64e54de44c79a1d", "device_group": "default group",
}

#: method → the rows its example must become (``raw`` is checked separately: it must be the item itself).
EXPECTED_ROWS: dict[str, list[dict]] = {
    "jimi.user.device.list": [{**_DEVICE_COMMON, "account": DOC_ACCOUNT, "vehicle_number": "粤 B3604"}],
    "jimi.track.device.detail": [{
        **_DEVICE_COMMON, "vehicle_number": "粤B3604",
        # The example has no "account"/"customerName" although the field table lists them.
        "account": None, "customer_name": None,
        "iccid": "xxxxxxx", "imsi": "xxxx", "import_time": utc(2017, 4, 1, 11, 2, 20),
        "license_plate_no": "8565674", "vin": "xxxxxxx",  # the example spells the key "VIN"
        "vehicle_brand": "xxxx", "fuel_100km": Decimal("9"), "status": "8565674",
        "current_mileage_km": Decimal("102.5"),  # "The current mileage of the device (km)"
    }],
    "jimi.user.device.location.list": [{
        "imei": "860121060369660", "gps_time": utc(2026, 3, 18, 10, 20, 37),
        "hb_time": utc(2026, 3, 26, 11, 25, 38), "lat": 22.576562, "lng": 113.943084,
        "speed_kmh": Decimal("0"), "direction": 0, "acc_status": True, "online": True, "pos_type": "GPS",
        "gps_num": 15, "gps_signal": 4,
        "elect_quantity": None,  # "" in the example
        "power_value": None, "battery_power_val": Decimal("0.06"),
        "current_mileage_km": Decimal("0.6481649691599485"), "temperature": None,
        "tracker_oil": Decimal("0.00"),  # "0.00L": a number with a unit
        "loc_desc": None, "source": "poll",
    }],
    "jimi.device.location.get": [{
        "imei": "868120145233604", "gps_time": utc(2017, 4, 26, 9, 17, 46),
        "hb_time": utc(2017, 4, 26, 9, 14, 50), "lat": 22.577282, "lng": 113.916604,
        "speed_kmh": Decimal("0"), "direction": None, "acc_status": False, "online": False, "pos_type": "GPS",
        "gps_num": 11, "gps_signal": None, "elect_quantity": Decimal("60"), "power_value": None,
        "battery_power_val": None, "current_mileage_km": Decimal("86.5"), "temperature": Decimal("86.5"),
        "tracker_oil": None, "loc_desc": None, "source": "poll",
    }],
    # track.list carries no IMEI: the row takes the one IMEI asked for (TRACK_IMEI).
    "jimi.device.track.list": [{
        "imei": "868120145233604", "gps_time": utc(2026, 3, 18, 9, 40, 46), "lat": 22.576607,
        "lng": 113.943084, "speed_kmh": Decimal("0.0"), "direction": 0, "acc_status": True,
        "pos_type": "GPS",  # posType 1 = GPS
        "satellite": 0, "gps_mode": 0, "odometer_km": None, "altitude": None, "source": "track_list",
    }],
    # The example repeats one segment twice: one trip row (same key) after de-duplication.
    "jimi.device.track.mileage": [{
        "imei": "3505831983422342", "start_time": utc(2017, 4, 26, 0, 0, 58),
        "end_time": utc(2017, 4, 26, 0, 3, 58), "start_lat": 22.577144898887813,
        "start_lng": 113.91674845964586, "end_lat": 22.677144898887813, "end_lng": 113.92674845964586,
        "distance_km": Decimal("25"),  # "distance double Distance(meter)": 25000 m
        "avg_speed_kmh": Decimal("90"),
        "run_time_s": 2130,  # the example's "elapsed" (the field table says runTimeSecond)
        "source": "poll",
    }],
    # Asked with acc_type "on" (idling), as the example rows say (acc "on"); times are ISO-8601 "Z" (UTC).
    "jimi.open.platform.report.parking": [
        {"imei": "869247060001739", "start_time": utc(2022, 12, 10, 1, 5, 33), "acc_type": "on",
         "end_time": utc(2022, 12, 10, 4, 17, 48), "duration_s": 11535, "stop_s": 11535, "lat": 22.576748,
         "lng": 113.943093, "address": "Shigu Road, 松坪村, Xili Sub-district, Nanshan distri...",
         "device_name": "JC450Pro-01739"},
        {"imei": "869247060001739", "start_time": utc(2022, 12, 9, 22, 13, 16), "acc_type": "on",
         "end_time": utc(2022, 12, 10, 1, 4, 25), "duration_s": 10269, "stop_s": 10269, "lat": 22.57649,
         "lng": 113.943002, "address": "Shigu Road, 松坪村, Xili Sub-district, Nanshan distri...",
         "device_name": "JC450Pro-01739"},
    ],
    "jimi.device.alarm.list": [{
        "imei": "343503422910345", "alarm_type": "1002", "alarm_time": utc(2019, 3, 14, 14, 2, 3),
        "alarm_name": "ACC On",  # the example's "alarmTypeName" (the field table says alertTypeName)
        "device_name": "ABC-34352", "positioning_time": utc(2019, 3, 14, 14, 2, 3),
        "lat": 22.577144898887813, "lng": 113.91674845964586, "speed_kmh": Decimal("10"),
        "geoid": "se8yg081p0qh5vnniqrakr1nr0tdh6a0", "source": "poll",
    }],
    "jimi.device.obd.list": [
        {"imei": "158511020000028", "reading_time": utc(2024, 5, 9, 10, 25, 0),
         "odometer_km": Decimal("2049.6"), "fuel_l": None, "fuel_pct": Decimal("58"),
         "rpm": Decimal("5016"), "coolant_temp_c": Decimal("77"), "battery_v": Decimal("118"),
         "speed_kmh": Decimal("88.5"), "vin": "LC0CG4CF1H0029191", "source": "poll"},
        {"imei": "158511020000028", "reading_time": utc(2024, 5, 9, 1, 27, 23),  # printed "1:27:23"
         "odometer_km": Decimal("2048.6"), "fuel_l": None, "fuel_pct": Decimal("56"),
         "rpm": Decimal("5016"), "coolant_temp_c": Decimal("78"), "battery_v": Decimal("118"),
         "speed_kmh": Decimal("95.5"), "vin": "LC0CG4CF1H0029191", "source": "poll"},
    ],
}
TRACK_IMEI = "868120145233604"


def parse_example(method: str, items: list[dict]) -> parsers.ParseResult:
    """The hook's parser of ``method`` over ``items`` (the arguments the hook itself passes)."""
    if method == "jimi.user.device.list":
        return parsers.parse_items(parsers.parse_device_list_item, items, account=DOC_ACCOUNT)
    if method == "jimi.track.device.detail":
        return parsers.parse_items(parsers.parse_device_detail, items)
    if method in ("jimi.user.device.location.list", "jimi.device.location.get"):
        return parsers.parse_items(parsers.parse_location, items)
    if method == "jimi.device.track.list":
        return parsers.parse_items(parsers.parse_track_point, items, imei=TRACK_IMEI)
    if method == "jimi.device.track.mileage":
        return parsers.parse_items(parsers.parse_trip, items)
    if method == "jimi.open.platform.report.parking":
        return parsers.parse_items(parsers.parse_parking, items, acc_type="on")
    if method == "jimi.device.alarm.list":
        return parsers.parse_items(parsers.parse_alarm, items)
    if method == "jimi.device.obd.list":
        return parsers.parse_items(parsers.parse_obd, items)
    raise KeyError(method)


def without_raw(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in row.items() if k != "raw"} for row in rows]


def assert_rows_equal(got: list[dict], want: list[dict]) -> None:
    """Equal values *and* equal Python types (Decimal("25") must not pass as 25.0, nor "1" as 1)."""
    assert without_raw(got) == want
    for got_row, want_row in zip(got, want, strict=True):
        for name, value in want_row.items():
            assert type(got_row[name]) is type(value), (name, got_row[name], value)
            if isinstance(value, datetime):
                assert got_row[name].utcoffset().total_seconds() == 0, name


# --- the transcriptions themselves -------------------------------------------------------------------

@pytest.mark.parametrize("method", API_METHODS)
def test_every_method_has_a_transcribed_example_with_rows_at_the_documented_place(method):
    doc = load_doc(method)
    assert doc["method"] == method
    assert doc["example"]["code"] == 0 and doc["example"]["message"] == "success"
    if method.startswith("jimi.oauth.token."):
        result = doc["example"]["result"]
        assert set(result) == set(doc["fields"]) and result["accessToken"] == DOC_ACCESS_TOKEN
        return
    items = payload_items(method)
    assert items, f"{method}: no rows at {doc['payload']}"
    # Every item key is in the field table, except the spellings the document itself disagrees on.
    table_disagreements = {"VIN", "elapsed", "alarmTypeName"}
    extra_fields_of_location_list = {"mcType", "trackerOils", "account", "customerName", "state", "stateTime",
                                     "iccid", "mac", "chargeStatus", "shutdown"}
    for item in items:
        unknown = set(item) - set(doc["fields"]) - table_disagreements
        if method == "jimi.user.device.location.list":
            unknown -= extra_fields_of_location_list
        assert not unknown, f"{method}: keys outside the field table {sorted(unknown)}"


def test_push_examples_are_form_fields_msgtype_and_data():
    for msg_type in PUSH_MESSAGES:
        doc = load_push(msg_type)
        assert set(doc["form"]) == {"msgType", "data"} and doc["form"]["msgType"] == msg_type
        assert set(doc["form"]["data"]) == set(doc["fields"])


def test_error_bodies_use_the_documented_codes_and_messages():
    errors = load_errors()
    for name, body in errors["bodies"].items():
        code = str(body["code"])
        assert name.split("_")[0] == code, name
        assert errors["codes"][code].startswith(body["message"]), name


# --- our own signature implementation against the document's worked examples -------------------------

def test_doc_signature_reproduces_the_documents_sort_example():
    # "foo=1, bar=2, foo_bar=3, foobar=4 → bar2foo1foo_bar3foobar4", wrapped with the secret, md5, upper.
    params = {"foo": "1", "bar": "2", "foo_bar": "3", "foobar": "4"}
    expected = hashlib.md5(b"Sbar2foo1foo_bar3foobar4S").hexdigest().upper()
    assert doc_signature(params, "S") == expected
    assert doc_signature({**params, "empty": "", "sign": "ignored"}, "S") == expected


def test_doc_signature_reproduces_the_documents_token_get_signature():
    # The "Postman demo" of §1.1: its parameters give the printed 4EE067D88EA65FF2AFD4890955E042CB. The PDF
    # breaks the timestamp across lines ("2025-05-" / "10:23:00"); 2025-05-19 is the date that gives the
    # printed signature.
    params = {
        "app_key": "8FB345B8693CCD00CE073CAB5F094009339A22A4105B6558", "expires_in": "7200", "format": "json",
        "method": "jimi.oauth.token.get", "sign_method": "md5", "timestamp": "2025-05-19 10:23:00",
        "user_id": "JMTEST123", "user_pwd_md5": "21218cca77804d2ba1922c33e0151105", "v": "1.0",
    }
    assert doc_signature(params, "c0aa0226fddc4365a3c67fef45427f8a") == "4EE067D88EA65FF2AFD4890955E042CB"


# --- the hook's parsers over every example -------------------------------------------------------------

@pytest.mark.parametrize("method", sorted(EXPECTED_ROWS))
def test_parsers_turn_every_doc_example_into_the_expected_rows(method):
    items = payload_items(method)
    result = parse_example(method, items)
    assert result.rejects == []
    rows = result.rows
    if method == "jimi.device.track.mileage":
        # Two identical segments in the example: two parsed rows, one key.
        keys = {tuple(r[k] for k in parsers.ROW_KEYS["trips"]) for r in rows}
        assert len(rows) == 2 and len(keys) == 1
        rows = rows[:1]
    assert_rows_equal(rows, EXPECTED_ROWS[method])
    # Nothing the API sent is lost: each row keeps its item, untouched.
    assert [row["raw"] for row in result.rows] == items


def test_detail_fills_what_device_list_leaves_null():
    listed = parse_example("jimi.user.device.list", payload_items("jimi.user.device.list")).rows[0]
    detail = parse_example("jimi.track.device.detail", payload_items("jimi.track.device.detail")).rows[0]
    merged = parsers.merge_device(listed, detail)
    assert merged["account"] == DOC_ACCOUNT  # the target asked, kept: the detail example has no account
    assert merged["vin"] == "xxxxxxx" and merged["current_mileage_km"] == Decimal("102.5")
    assert merged["vehicle_name"] is None  # null in both examples: stays null, not ""
    assert merged["raw"] == {"list": listed["raw"], "detail": detail["raw"]}


def test_parking_request_rows_are_never_filed_as_idling():
    # The document: acc_type "on: get the idling data; off: get the parking data"; a row's `acc` is only
    # "Acc status", and the example's rows (3-hour stops) say "on". The request decides the kind; the row's
    # acc stays in raw.
    items = payload_items("jimi.open.platform.report.parking")
    assert {item["acc"] for item in items} == {"on"}
    for kind in ("off", "on"):
        result = parsers.parse_items(parsers.parse_parking, items, acc_type=kind)
        assert len(result.rows) == len(items) and not result.rejects
        assert all(row["acc_type"] == kind and row["raw"]["acc"] == "on" for row in result.rows)
