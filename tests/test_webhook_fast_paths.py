"""The receiver's fast paths give exactly what the general code gives.

- form decoding (webhook_service.forms) against werkzeug's parser, on random and real bodies;
- the /pushgps fast item reader (webhook_service.fast_items) against the general reader, on thousands of
  perturbed items (missing, blank, wrong-typed, out-of-range, oddly formatted values);
- the raw JSON kept per row is the item exactly as sent (taken from the request text by the database), also
  for digits a float cannot hold and for a Tracksolid Pro push whose data is a single object; a fix keeps it
  without the documented fields that are in its columns (values under other names stay).
"""

from __future__ import annotations

import json
import random
import urllib.parse
from datetime import UTC, datetime

import pytest
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from tests.fixtures.databases import scalar
from tests.fixtures.webhook import gps_items, imei_for
from webhook_service import WebhookConfig, parsing
from webhook_service.fast_items import NotPlain, gps_row
from webhook_service.forms import decode_urlencoded
from webhook_service.parsing import IMEI_PATTERN, Item, PushBatch, PushValidationError, parse_iothub

CONFIG = WebhookConfig(database_dsn="unused", iothub_tokens=("unused",))
START = datetime(2025, 3, 4, 5, 0, tzinfo=UTC)


def werkzeug_form(body: bytes) -> dict[str, list[str]]:
    environ = EnvironBuilder(method="POST", data=body, content_type="application/x-www-form-urlencoded").get_environ()
    return dict(Request(environ).form.lists())


# --- form decoding ---------------------------------------------------------------------------------------

def test_a_real_push_body_decodes_like_werkzeug():
    items = gps_items(50, start=START, imeis=[imei_for(n) for n in range(9)])
    items[3]["note"] = "naïve €uro + 100% \\ back\\slash & more=equal"  # non-ASCII, escapes, separators
    body = urllib.parse.urlencode({"token": "abc", "data_list": json.dumps(items, ensure_ascii=False)}).encode()
    fast = decode_urlencoded(body)
    assert fast is not None, "a well-formed body must take the fast path"
    assert fast == werkzeug_form(body)
    assert json.loads(fast["data_list"][0]) == items


PIECES = [b"a", b"b", b"=", b"&", b"%", b"+", b"\\", b"\\x41", b"%41", b"%e2%82%ac", b"%C3%A9", b"%ff", b"%c3",
          b"%2", b"%zz", b"\xc3\xa9", b"\xff", b"%5C", b"%25", b"%3D", b"%26", b"%2B", b"%00", b"%0a", b" "]


def test_random_bodies_decode_like_werkzeug_or_are_left_to_it():
    rng = random.Random(20251127)
    fast_taken = 0
    for _ in range(20_000):
        body = b"".join(rng.choice(PIECES) for _ in range(rng.randint(0, 14)))
        fast = decode_urlencoded(body)
        if fast is None:
            continue  # the app then parses with werkzeug itself
        fast_taken += 1
        assert fast == werkzeug_form(body), body
    assert fast_taken > 3_000  # the comparison really ran on many bodies


@pytest.mark.parametrize("body", [b"a=%zz", b"a=%4", b"a=%ff", b"a=\xc3\xa9", b"a=%c3"])
def test_unusual_bodies_are_left_to_werkzeug(body):
    assert decode_urlencoded(body) is None


# --- /pushgps fast item reader ---------------------------------------------------------------------------

ODD_VALUES = ["", " ", "null", "NULL", None, True, False, 0, 1, -1, 2**40, 1.5, -0.0, float("nan"), "nan", "inf",
              "1e400", "1_000", " 12 ", "12.50", "-3", "abc", {}, [], {"v": 1}, "2025-03-04 05:00:00",
              "2025-03-04T05:00:00+03:00", "2025-03-04T05:00:00Z", "2025-03-04 5:00:00", "1741064400",
              1741064400, 1741064400000, "2025-03-04", "ON", "off", "Yes", "maybe", "91", "-181", "180",
              "860000000000042", " 860000000000042 ", "86000000000004\n", 860000000000042, "12345", "abc-def",
              # column types and the ASCII number grammar: smallint gps_mode, other scripts' digits, NUL, (0, 0)
              "40000", "-32769", "32767", "١٢", "٢٠٢٥-03-04 05:00:00", "1" * 60, "1e5", "GP\u0000S", 0, "0.0"]
FIELDS = ["deviceImei", "imei", "gpsTime", "lat", "lng", "gpsSpeed", "speed", "direction", "acc", "accStatus",
          "satelliteNum", "gpsNum", "postType", "posType", "gpsMode", "distance", "altitude"]


def general_reader(data: dict, index: int, cfg: WebhookConfig) -> tuple[dict | None, list[str]]:
    item = Item(data, f"data_list[{index}]", index)
    batch = PushBatch(path="/pushgps", push_format="iothub", msg_type=None, item_count=1)
    parsing._gps(item, batch, cfg)
    return (None if item.errors else batch.rows["position_history"][0]), item.errors


def perturbed_items(count: int, seed: int, clean_share: float = 0.33):
    """Plausible items, each but ``clean_share`` of them with one to three fields changed or removed."""
    rng = random.Random(seed)
    base = gps_items(count, start=START, imeis=[imei_for(n) for n in range(5)], seed=seed)
    for n, item in enumerate(base):
        for _ in range(0 if rng.random() < clean_share else rng.choice([1, 1, 2, 3])):
            field = rng.choice(FIELDS)
            value = rng.choice(ODD_VALUES)
            if value is None and rng.random() < 0.5:
                item.pop(field, None)
            else:
                item[field] = value
        yield n, item


@pytest.mark.parametrize("cfg", [CONFIG, WebhookConfig(database_dsn="unused", iothub_tokens=("unused",),
                                                       event_time_fields={"pushgps": ("gpsTime", "gateTime")})],
                         ids=["default time field", "two time fields"])
def test_fast_gps_reader_builds_exactly_the_general_row_or_steps_aside(cfg):
    fast_rows = stepped_aside = 0
    for index, item in perturbed_items(6_000, seed=7):
        expected, errors = general_reader(item, index, cfg)
        try:
            row = gps_row(item, index, cfg, IMEI_PATTERN)
        except (NotPlain, ArithmeticError, ValueError):
            stepped_aside += 1
            continue
        fast_rows += 1
        assert not errors, (item, errors)
        assert row == expected, item
        assert list(row) == list(expected)  # same columns in the same order
    assert fast_rows > 2_000 and stepped_aside > 1_000  # both branches really exercised


def test_batches_parse_the_same_with_and_without_the_fast_reader(monkeypatch):
    items = [item for _, item in perturbed_items(3_000, seed=11, clean_share=0.97)]
    outcomes = []
    for readers in (parsing.FAST_ITEM_READERS, {}):
        monkeypatch.setattr(parsing, "FAST_ITEM_READERS", readers)
        results = []
        for start in range(0, len(items), 10):
            text = json.dumps(items[start:start + 10])  # NaN in some items: json.dumps writes the literal
            try:
                batch = parse_iothub("pushgps", text, CONFIG)
                results.append(("ok", batch.rows, batch.items_json, batch.quarantine))
            except PushValidationError as exc:
                results.append(("rejected", exc.errors, exc.status))
        outcomes.append(results)
    assert outcomes[0] == outcomes[1]
    assert {kind for kind, *_ in outcomes[0]} == {"ok", "rejected"}
    assert any(result[3] for result in outcomes[0] if result[0] == "ok")  # items quarantined, others stored


# --- raw JSON exactly as sent ----------------------------------------------------------------------------

def test_raw_keeps_the_item_as_sent_with_all_the_digits_it_had(webhook, live_conn):
    item = gps_items(1, start=START, imeis=[imei_for(5)])[0]
    text = json.dumps([item])[:-2] + ', "odometerPrecise": 123456789.123456789123456789}]'
    response = webhook.push("/pushgps", text)
    assert response.status_code == 200, response.text
    for table in ("position_history", "live_positions"):
        # A fix's raw JSON: the fields that are not in its columns, digits as sent.
        assert scalar(live_conn, f"SELECT raw::text FROM tracksolid.{table}") == \
            f'{{"gateTime": "{item["gateTime"]}", "odometerPrecise": 123456789.123456789123456789}}'
    inbox_items = scalar(live_conn, "SELECT payload->'form'->'data_list'->>0 FROM tracksolid.push_inbox")
    assert inbox_items == text  # the whole request, as sent


@pytest.mark.parametrize(("alternative", "column", "expected"), [
    ({"gpsSpeed": None, "speed": "55"}, "speed_kmh", 55), ({"gpsSpeed": "", "speed": "55"}, "speed_kmh", 55),
    ({"gpsSpeed": "12", "speed": "55"}, "speed_kmh", 12), ({"posType": "2"}, "pos_type", "GPS"),
    ({"accStatus": "0", "acc": None}, "acc_status", False), ({"gpsNum": "7"}, "satellite", 9)])
def test_alternative_field_names_stay_in_the_raw_json(webhook, live_conn, alternative, column, expected):
    """Only the documented names are left out of a fix's raw JSON: a value under another name is kept, whether
    it was read into the column (the documented one absent or blank) or not (the documented one won)."""
    item = {**gps_items(1, start=START, imeis=[imei_for(9)])[0], "satelliteNum": "9", **alternative}
    item = {key: value for key, value in item.items() if value is not None}
    response = webhook.push("/pushgps", [item])
    assert response.status_code == 200, response.text
    assert scalar(live_conn, f"SELECT {column} FROM tracksolid.position_history") == expected
    kept = {key: value for key, value in alternative.items() if key in ("speed", "posType", "accStatus", "gpsNum")}
    for table in ("position_history", "live_positions"):
        assert scalar(live_conn, f"SELECT raw FROM tracksolid.{table}") == {"gateTime": item["gateTime"], **kept}


def test_pro_alarm_given_as_one_object_keeps_it_as_raw(webhook, live_conn):
    alarm = {"imei": imei_for(6), "alarmType": "6", "alarmName": "Overspeed", "alarmTime": "2025-03-04 05:10:00",
             "extra": {"nested": [1, 2]}}
    response = webhook.post(webhook.pro_url, {"msgType": "jimi.push.device.alarm", "data": json.dumps(alarm)})
    assert response.status_code == 200, response.text
    assert scalar(live_conn, "SELECT raw FROM tracksolid.alarms") == alarm


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "1e400", '"\\ud800"'])
def test_json_the_database_cannot_store_is_a_400_with_nothing_stored(webhook, live_conn, literal):
    item = gps_items(1, start=START, imeis=[imei_for(7)])[0]
    text = json.dumps([item])[:-2] + f', "odd": {literal}}}]'
    response = webhook.push("/pushgps", text)
    assert response.status_code == 400, response.text
    assert scalar(live_conn, "SELECT count(*) FROM tracksolid.push_inbox") == 0
    assert scalar(live_conn, "SELECT count(*) FROM tracksolid.position_history") == 0


def test_a_body_only_werkzeug_can_parse_is_still_accepted(webhook, live_conn):
    """Raw (unescaped) UTF-8 in the body and a stray "%": the fast decoder steps aside, werkzeug parses."""
    item = {**gps_items(1, start=START, imeis=[imei_for(8)])[0], "note": "Ngong Rd – 100%"}
    body = (f"token={webhook.token}&data_list=" + json.dumps([item], ensure_ascii=False)).encode()
    assert decode_urlencoded(body) is None
    response = webhook.post("/pushgps", body, headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert response.status_code == 200, response.text
    assert scalar(live_conn, "SELECT raw FROM tracksolid.position_history") == \
        {"gateTime": item["gateTime"], "note": "Ngong Rd – 100%"}
