"""Per-item decisions (issue 12): in a well-formed request every bad item is quarantined with its reason and every
good item is stored; the reply is 200 with the counts. Real HTTP against the app, real PostgreSQL; every case
compares the database with the items the test sent."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from tests.fixtures.databases import scalar
from tests.fixtures.webhook import api_time, gps_items, imei_for
from tests.test_webhook_bad_input import all_row_counts

START = datetime(2025, 1, 1, tzinfo=UTC)
GOOD_GPS = gps_items(3, start=START, imeis=[imei_for(1)])
ALARM = "jimi.push.device.alarm"


def rows(conn, query: str, params=None) -> list[tuple]:
    with conn.cursor() as cur:
        cur.execute(query, params)
        return cur.fetchall()


def gps(**changes) -> dict:
    """A good /pushgps item (an hour after GOOD_GPS, its own key) with ``changes`` (None removes a field)."""
    item = dict(gps_items(1, start=START + timedelta(hours=1), imeis=[imei_for(2)], seed=5)[0])
    for key, value in changes.items():
        if value is None:
            item.pop(key, None)
        else:
            item[key] = value
    return item


def alarm(**fields) -> dict:
    return {"type": "ALARM", "imei": imei_for(3), "gateTime": "2025-01-01 00:00:09",
            "msg": {"alertType": "41", "alarmTime": "2025-01-01 00:00:07", "lat": -1.25, "lng": 36.75}, **fields}


GOOD_ALARM = alarm(msg={"alertType": "6", "alarmTime": "2025-01-01 00:05:00"})
GOOD_EVENT = {"deviceImei": imei_for(4), "type": "LOGIN", "gateTime": "2025-01-01 00:01:00"}
FUTURE = api_time(datetime.now(UTC) + timedelta(days=3))

# (name, path, bad item, reason, text the quarantine detail must contain)
ITEM_CASES = [
    ("item not an object", "/pushgps", "x", "not_an_object", "data_list[3] must be a JSON object, got a string"),
    ("missing IMEI", "/pushgps", gps(deviceImei=None), "missing_field", "data_list[3].deviceImei or imei is required"),
    ("IMEI of the wrong type", "/pushgps", gps(deviceImei={"id": 1}), "invalid_value",
     "data_list[3].deviceImei must be an IMEI"),
    ("lat not a number", "/pushgps", gps(lat="north"), "invalid_value", "data_list[3].lat must be a number"),
    ("lat out of range", "/pushgps", gps(lat=91), "invalid_value", "data_list[3].lat must be between -90 and 90"),
    ("speed is a boolean", "/pushgps", gps(gpsSpeed=True), "invalid_value", "data_list[3].gpsSpeed must be a number"),
    ("bad time", "/pushgps", gps(gpsTime="yesterday"), "invalid_value", "data_list[3].gpsTime must be a time"),
    ("missing time", "/pushgps", gps(gpsTime=None), "missing_field", "data_list[3].gpsTime is required"),
    ("acc not a flag", "/pushgps", gps(acc="maybe"), "invalid_value", "data_list[3].acc must be a flag"),
    # Column types: gps_mode is a smallint, numeric has limits, text cannot hold NUL.
    ("gpsMode beyond smallint", "/pushgps", gps(gpsMode="40000"), "invalid_value",
     "data_list[3].gpsMode must be between -32768 and 32767"),
    ("altitude beyond numeric", "/pushgps", gps(altitude="1e400000"), "invalid_value",
     "data_list[3].altitude must be a number"),
    ("NUL in a text value", "/pushgps", gps(postType="1\x00"), "nul_character", "data_list[3]"),
    ("NUL in an unknown field", "/pushgps", gps(note="a\x00b"), "nul_character", "holds a NUL character"),
    # ASCII number grammar: other scripts' digits are not numbers or times.
    ("Arabic-Indic digits as a latitude", "/pushgps", gps(lat="١٢"), "invalid_value", "data_list[3].lat must be"),
    ("Arabic-Indic digits as a time", "/pushgps", gps(gpsTime="٢٠٢٥-01-01 00:00:00"), "invalid_value",
     "data_list[3].gpsTime must be a time"),
    ("Arabic-Indic digits as an epoch", "/pushgps", gps(gpsTime="١٧٣٥٦٨٩٦٠٠"), "invalid_value",
     "data_list[3].gpsTime must be a time"),
    # (0, 0) is what a device sends without a GPS lock.
    ("fix at 0,0", "/pushgps", gps(lat=0, lng=0), "no_position", "data_list[3].lat/lng is 0,0"),
    ("fix at 0,0 as text", "/pushgps", gps(lat="0.000000", lng="0"), "no_position", "0,0"),
    # Plausibility window.
    ("fix dated 2100", "/pushgps", gps(gpsTime="2100-01-01 00:00:00"), "implausible_time", "in the future"),
    ("fix dated 9999", "/pushgps", gps(gpsTime="9999-12-31 23:59:59"), "implausible_time", "in the future"),
    ("fix three days ahead", "/pushgps", gps(gpsTime=FUTURE), "implausible_time", "in the future"),
    ("fix dated 0001", "/pushgps", gps(gpsTime="0001-01-01 00:00:00"), "implausible_time", "before the floor"),
    ("fix at epoch 0", "/pushgps", gps(gpsTime=0), "implausible_time", "before the floor"),
    ("heartbeat dated 2100", "/pushhb", {"deviceImei": imei_for(5), "gateTime": "2100-01-01 00:00:00"},
     "implausible_time", "in the future"),
    ("alarm dated 9999", "/pushalarm", alarm(msg={"alertType": "1", "alarmTime": "9999-01-01 00:00:00"}),
     "implausible_time", "in the future"),
    # Nested JSON strings.
    ("alarm msg nested too deeply", "/pushalarm", alarm(msg="[" * 5000 + "]" * 5000), "nested_too_deep",
     "data_list[3] is nested too deeply"),
    ("lbsJson nested too deeply", "/pushlbs", {"deviceImei": imei_for(6), "gateTime": "2025-01-01 00:00:00",
                                               "lbsJson": "[" * 5000 + "]" * 5000}, "nested_too_deep",
     "nested too deeply"),
    ("alarm without a type", "/pushalarm", alarm(msg={"alarmTime": "2025-01-01 00:00:00"}), "missing_field",
     "alertType"),
    ("alarm msg not an object", "/pushalarm", alarm(msg="{oops"), "invalid_value",
     "data_list[3].msg must be a JSON object"),
    ("alarm ended without the ended type", "/pushalarm",
     alarm(msg={"alertType": "removeAlarmType", "alarmTime": "2025-01-01 00:00:00"}), "missing_field",
     "removeAlarmType"),
    ("event without a type", "/pushevent", {"deviceImei": imei_for(4), "gateTime": "2025-01-01 00:00:00"},
     "missing_field", "data_list[3].type"),
]
GOOD_FOR = {"/pushgps": GOOD_GPS, "/pushhb": [{"deviceImei": imei_for(5), "gateTime": f"2025-01-01 00:0{n}:00"}
                                               for n in range(3)],
            "/pushalarm": [GOOD_ALARM, alarm(), alarm(imei=imei_for(7))], "/pushevent": [GOOD_EVENT] * 3,
            "/pushlbs": [{"deviceImei": imei_for(6), "gateTime": f"2025-01-01 00:0{n}:00"} for n in range(3)]}
TABLE_FOR = {"/pushgps": "position_history", "/pushhb": "heartbeats", "/pushalarm": "alarms",
             "/pushevent": "device_events", "/pushlbs": "lbs_readings"}


@pytest.mark.parametrize("name,path,bad,reason,detail", ITEM_CASES, ids=[c[0] for c in ITEM_CASES])
def test_a_bad_item_is_quarantined_with_its_reason_and_the_good_items_are_stored(
        webhook, live_conn, name, path, bad, reason, detail):
    good = GOOD_FOR[path]
    items = [*good, bad]
    before = all_row_counts(live_conn)
    response = webhook.push(path, items)
    assert response.status_code == 200, response.text
    assert response.json() == {"code": 0, "msg": "success", "items": 4, "accepted": 3, "quarantined": 1}
    stored_keys = len({json.dumps(i, sort_keys=True) for i in good})  # GOOD_EVENT thrice is one row
    table = TABLE_FOR[path]
    assert scalar(live_conn, f"SELECT count(*) FROM tracksolid.{table}") == before[f"tracksolid.{table}"] + stored_keys
    quarantined = rows(live_conn, "SELECT q.path, q.item_index, q.reason, q.detail, q.item, q.inbox_id = i.id "
                                  "FROM tracksolid.push_quarantine q, tracksolid.push_inbox i")
    assert len(quarantined) == 1
    q_path, index, q_reason, q_detail, q_item, same_request = quarantined[0]
    assert (q_path, index, q_reason, same_request) == (path, 3, reason, True)
    assert detail in q_detail and "None" not in q_detail
    if reason != "nul_character":
        assert q_item == bad  # the item exactly as sent
    else:  # jsonb cannot hold NUL: the quarantine copy has U+FFFD instead; the inbox has the request as sent
        assert q_item == json.loads(json.dumps(bad).replace("\\u0000", "\ufffd"))
    inbox = scalar(live_conn, "SELECT payload->'form'->'data_list'->>0 FROM tracksolid.push_inbox")
    assert json.loads(inbox) == items
    # Live state never moved to the bad item.
    assert not rows(live_conn, "SELECT 1 FROM tracksolid.live_positions WHERE gps_time > now() + interval '1 hour' "
                               "OR gps_time < '2010-01-01' OR (lat = 0 AND lng = 0)")
    # The Pipeline health views count it.
    assert rows(live_conn, "SELECT path, reason, items FROM tracksolid.v_push_quarantine_daily") == [(path, reason, 1)]
    implausible = rows(live_conn, "SELECT source, items FROM tracksolid.v_implausible_times_daily")
    assert implausible == ([("push", 1)] if reason == "implausible_time" else [])


def test_every_problem_of_an_item_is_listed_and_each_bad_item_quarantined(webhook, live_conn):
    items = [*GOOD_GPS, gps(lat="x", direction="left"), gps(gpsTime="never", deviceImei=imei_for(8))]
    response = webhook.push("/pushgps", items)
    assert response.json() == {"code": 0, "msg": "success", "items": 5, "accepted": 3, "quarantined": 2}
    assert rows(live_conn, "SELECT item_index, reason, detail FROM tracksolid.push_quarantine ORDER BY 1") == [
        (3, "invalid_value", "data_list[3].lat must be a number (ASCII digits), got 'x'; "
                             "data_list[3].direction must be a number (ASCII digits), got 'left'"),
        (4, "invalid_value", "data_list[4].gpsTime must be a time (yyyy-MM-dd HH:mm:ss UTC, ISO-8601 or epoch), "
                             "got 'never'"),
    ]
    assert scalar(live_conn, "SELECT count(*) FROM tracksolid.position_history") == 3
    # A replay of the same request stores nothing twice (quarantine included).
    assert webhook.push("/pushgps", items).status_code == 200
    assert scalar(live_conn, "SELECT count(*) FROM tracksolid.push_quarantine") == 2


def test_a_request_of_only_bad_items_is_acknowledged_and_every_item_quarantined(webhook, live_conn):
    response = webhook.push("/pushgps", [gps(lat=0, lng=0), "x", gps(gpsTime="2100-01-01 00:00:00")])
    assert response.json() == {"code": 0, "msg": "success", "items": 3, "accepted": 0, "quarantined": 3}
    assert rows(live_conn, "SELECT reason FROM tracksolid.push_quarantine ORDER BY item_index") == [
        ("no_position",), ("not_an_object",), ("implausible_time",)]
    assert scalar(live_conn, "SELECT count(*) FROM tracksolid.position_history") == 0
    assert scalar(live_conn, "SELECT count(*) FROM tracksolid.live_positions") == 0


def test_a_future_dated_fix_never_freezes_the_live_position(webhook, live_conn):
    imei = imei_for(2)
    now = datetime.now(UTC).replace(microsecond=0)
    assert webhook.push("/pushgps", [gps(gpsTime="2100-06-01 00:00:00")]).status_code == 200
    current = gps(gpsTime=api_time(now - timedelta(minutes=1)), lat=-1.1)
    assert webhook.push("/pushgps", [current]).status_code == 200
    assert rows(live_conn, "SELECT gps_time, lat FROM tracksolid.live_positions WHERE imei = %s", (imei,)) == [
        (now - timedelta(minutes=1), -1.1)]
    # Within the tolerance (now + 10 minutes by default) is a clock a little ahead: stored.
    ahead = gps(gpsTime=api_time(now + timedelta(minutes=5)), lat=-1.2)
    assert webhook.push("/pushgps", [ahead]).json()["accepted"] == 1
    assert scalar(live_conn, "SELECT lat FROM tracksolid.live_positions WHERE imei = %s", (imei,)) == -1.2


def test_the_plausibility_window_is_configurable(webhook_factory, live_db, live_conn):
    hook = webhook_factory(live_db, time_max_future_s=0.0, time_floor=datetime(2025, 6, 1, tzinfo=UTC))
    response = hook.push("/pushgps", [gps(gpsTime="2025-05-31 23:59:59"),
                                      gps(gpsTime="2025-06-01 00:00:00"),
                                      gps(gpsTime=api_time(datetime.now(UTC) + timedelta(minutes=2)))])
    assert response.json()["quarantined"] == 2
    assert rows(live_conn, "SELECT item_index FROM tracksolid.push_quarantine ORDER BY 1") == [(0,), (2,)]


def test_a_heartbeat_dated_in_the_future_never_moves_hb_time(webhook, live_conn):
    assert webhook.push("/pushgps", [gps()]).status_code == 200
    hb = {"deviceImei": imei_for(2), "gateTime": "2099-01-01 00:00:00"}
    assert webhook.push("/pushhb", [hb]).json()["quarantined"] == 1
    assert scalar(live_conn, "SELECT hb_time FROM tracksolid.live_positions") is None
    assert scalar(live_conn, "SELECT count(*) FROM tracksolid.heartbeats") == 0


def test_an_alarm_without_a_gps_lock_has_no_coordinates(webhook, live_conn):
    pro = {"imei": imei_for(3), "alarmType": "1", "alarmTime": "2025-01-01 00:00:00", "lat": "0", "lng": "0"}
    iothub = alarm(msg={"alertType": "2", "alarmTime": "2025-01-01 00:00:00", "lat": 0, "lng": 0.0})
    assert webhook.post(webhook.pro_url, {"msgType": ALARM, "data": json.dumps(pro)}).json()["accepted"] == 1
    assert webhook.push("/pushalarm", [iothub]).json()["accepted"] == 1
    assert rows(live_conn, "SELECT alarm_type, lat, lng, geom FROM tracksolid.alarms ORDER BY 1") == [
        ("1", None, None, None), ("2", None, None, None)]


def test_jtt808_alarm_subtypes_in_the_same_second_stay_two_rows(webhook, live_conn):
    same_second = "2025-01-01 00:00:07"
    items = [{"type": "ALARM", "imei": imei_for(3), "msgClass": 1,
              "msg": {"alertType": "264", "alarmType": subtype, "alarmTime": same_second}} for subtype in ("1", "2")]
    items.append({"type": "ALARM", "imei": imei_for(3), "msgClass": "1",
                  "msg": {"alertType": "265", "alarmTime": same_second}})  # no subtype: the type alone
    items.append({"type": "ALARM", "imei": imei_for(3), "msgClass": 0,  # JIMI protocol: alarmType is no subtype
                  "msg": {"alertType": "41", "alarmType": "7", "alarmTime": same_second}})
    assert webhook.push("/pushalarm", items).json()["accepted"] == 4
    assert rows(live_conn, "SELECT alarm_type FROM tracksolid.alarms ORDER BY 1") == [
        ("264-1",), ("264-2",), ("265",), ("41",)]


def test_an_alarm_ended_message_records_which_alarm_ended(webhook, live_conn):
    ended = {"type": "ALARM", "imei": imei_for(3), "msgClass": 1,
             "msg": {"alertType": "removeAlarmType", "removeAlarmType": "264", "alarmTime": "2025-01-01 00:10:00"}}
    assert webhook.push("/pushalarm", [ended]).json()["accepted"] == 1
    assert scalar(live_conn, "SELECT count(*) FROM tracksolid.alarms") == 0
    assert rows(live_conn, "SELECT imei, event_time, event_type, raw FROM tracksolid.device_events") == [
        (imei_for(3), datetime(2025, 1, 1, 0, 10, tzinfo=UTC), "ALARM_ENDED:264", ended)]


def test_the_imei_may_be_only_inside_msg(webhook, live_conn):
    item = {"type": "ALARM", "msg": {"deviceImei": imei_for(9), "alertType": "1", "alarmTime": "2025-01-01 00:00:00"}}
    assert webhook.push("/pushalarm", [item]).json()["accepted"] == 1
    assert rows(live_conn, "SELECT imei, alarm_type FROM tracksolid.alarms") == [(imei_for(9), "1")]


def test_pos_type_uses_the_polling_vocabulary(webhook, live_conn):
    items = [gps(postType="1"), gps(postType="2", gpsTime="2025-01-01 02:00:00"),
             gps(postType="wifi", gpsTime="2025-01-01 03:00:00")]
    assert webhook.push("/pushgps", items).json()["accepted"] == 3
    assert [r[0] for r in rows(live_conn, "SELECT pos_type FROM tracksolid.position_history ORDER BY gps_time")] == [
        "GPS", "LBS", "WIFI"]


def test_duplicates_inside_one_request_the_first_item_wins(webhook, live_conn):
    first, second = gps(lat=-1.0), gps(lat=-2.0)  # same device, same gpsTime: same key
    response = webhook.push("/pushgps", [first, second])
    assert response.json() == {"code": 0, "msg": "success", "items": 2, "accepted": 2, "quarantined": 0}
    assert rows(live_conn, "SELECT lat FROM tracksolid.position_history") == [(-1.0,)]
    assert scalar(live_conn, "SELECT lat FROM tracksolid.live_positions") == -1.0
    # A member name twice inside one item: the last one wins, as in PostgreSQL's jsonb (columns and raw agree).
    text = json.dumps([gps(gpsTime="2025-01-01 04:00:00")])[:-2] + ', "lat": -3.5}]'
    assert webhook.push("/pushgps", text).json()["accepted"] == 1
    assert rows(live_conn, "SELECT lat, raw FROM tracksolid.position_history WHERE gps_time = '2025-01-01 04:00Z'") \
        == [(-3.5, {"gateTime": json.loads(text)[0]["gateTime"]})]


def test_an_empty_data_list_is_acknowledged_and_kept_in_the_inbox(webhook, live_conn):
    before = all_row_counts(live_conn)
    response = webhook.push("/pushgps", [])
    assert response.json() == {"code": 0, "msg": "success", "items": 0, "accepted": 0, "quarantined": 0}
    after = all_row_counts(live_conn)
    assert {t: n - before[t] for t, n in after.items() if n != before[t]} == {"tracksolid.push_inbox": 1}
    assert rows(live_conn, "SELECT path, item_count FROM tracksolid.push_inbox") == [("/pushgps", 0)]
    empty_pro = webhook.post(webhook.pro_url, {"msgType": ALARM, "data": "[]"})
    assert empty_pro.json()["items"] == 0


def test_a_value_the_database_refuses_is_a_400_in_our_words(webhook, live_conn, monkeypatch):
    """Validation should leave nothing for the database to refuse; should it happen anyway, the reply names no
    database detail (it goes to the log). Provoked by skipping validation of one column."""
    from webhook_service import reader

    monkeypatch.setattr(reader, "numeric_fits", lambda number: True)
    before = all_row_counts(live_conn)
    response = webhook.push("/pushgps", [gps(altitude="1e400000")])
    assert response.status_code == 400
    assert response.json() == {"code": 400, "msg": "a value of the request was rejected by the database"}
    assert all_row_counts(live_conn) == before
