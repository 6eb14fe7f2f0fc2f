"""Conformance with the official document, part 4: the push receiver and the document's push examples.

§7.1 of the document: the platform POSTs ``application/x-www-form-urlencoded`` with two form fields,
``msgType`` and ``data`` (the message as JSON text); for ``jimi.push.device.alarm`` the message carries
``imei, deviceName, alarmType, alarmName, lat, lng, alarmTime``. The receiver (``webhook_service``, real
Flask app on a real port, fresh database) is fed the examples exactly as printed, and what it stored is
compared with the example's values. The document has no IoT-Hub style push examples (that format is known
from integrations only), so there is nothing of it to transcribe here.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from tests.fixtures.databases import scalar
from tests.test_doc_conformance import load_push


def alarm_rows(conn) -> list[tuple]:
    with conn.cursor() as cur:
        cur.execute("SELECT imei, alarm_type, alarm_name, device_name, alarm_time, lat, lng, source, raw"
                    " FROM tracksolid.alarms")
        return cur.fetchall()


def doc_form(msg_type: str, **data_overrides) -> dict[str, str]:
    """The example's form fields as the platform sends them: ``data`` is JSON text."""
    form = load_push(msg_type)["form"]
    return {"msgType": form["msgType"], "data": json.dumps({**form["data"], **data_overrides}, ensure_ascii=False)}


def test_doc_pro_alarm_push_is_accepted_and_stored_with_alarm_type_and_alarm_name(webhook, live_conn):
    example = load_push("jimi.push.device.alarm")["form"]["data"]
    response = webhook.post(webhook.pro_url, doc_form("jimi.push.device.alarm"))
    assert response.status_code == 200, response.text
    assert response.json()["code"] == 0
    assert alarm_rows(live_conn) == [(
        "868120145233604", "2", "Power off alarm", "868120145233604",
        datetime(2017, 5, 8, 12, 0, tzinfo=UTC),  # "Alarm time" in the API's UTC convention
        40.65615416521587, 109.89894039833524, "push", example,
    )]
    assert scalar(live_conn, "SELECT count(*) FROM tracksolid.push_inbox WHERE msg_type = 'jimi.push.device.alarm'"
                             " AND push_format = 'pro'") == 1
    # The platform may send the same notification again: still one alarm.
    assert webhook.post(webhook.pro_url, doc_form("jimi.push.device.alarm")).status_code == 200
    assert scalar(live_conn, "SELECT count(*) FROM tracksolid.alarms") == 1


def test_doc_pro_alarm_push_with_string_coordinates_as_the_field_table_types_them(webhook, live_conn):
    # The field table types lat/lng as string; the example prints numbers. Both must give the same row.
    form = doc_form("jimi.push.device.alarm", lat="40.65615416521587", lng="109.89894039833524")
    assert webhook.post(webhook.pro_url, form).status_code == 200
    (row,) = alarm_rows(live_conn)
    assert row[1:7] == ("2", "Power off alarm", "868120145233604", datetime(2017, 5, 8, 12, 0, tzinfo=UTC),
                        40.65615416521587, 109.89894039833524)


def test_doc_raw_data_push_is_accepted_and_kept_raw(webhook, live_conn):
    response = webhook.post(webhook.pro_url, doc_form("jimi.open.instruction.raw.receive"))
    assert response.status_code == 200, response.text
    with live_conn.cursor() as cur:
        cur.execute("SELECT msg_type, payload::text FROM tracksolid.push_inbox")
        (msg_type, payload), = cur.fetchall()
    assert msg_type == "jimi.open.instruction.raw.receive"
    assert "0A0C0F01182E0101" in payload  # nothing lost, even for a message type we do not parse
    assert scalar(live_conn, "SELECT count(*) FROM tracksolid.alarms") == 0


@pytest.mark.parametrize("broken", [
    {"msgType": "jimi.push.device.alarm"},                                       # no data
    {"msgType": "jimi.push.device.alarm", "data": "{not json"},                  # data not JSON
])
def test_broken_pro_push_gets_a_clear_4xx_and_stores_nothing(webhook, live_conn, broken):
    response = webhook.post(webhook.pro_url, broken)
    assert 400 <= response.status_code < 500 and response.json()["msg"]
    assert scalar(live_conn, "SELECT count(*) FROM tracksolid.push_inbox") == 0


def test_a_pro_alarm_without_alarm_type_is_quarantined_not_refused(webhook, live_conn):
    """A well-formed message with an unreadable item: acknowledged (a retry could never succeed), the item
    quarantined with its reason, the request kept in the inbox (issue 12)."""
    form = {"msgType": "jimi.push.device.alarm", "data": json.dumps({"imei": "868120145233604"})}
    response = webhook.post(webhook.pro_url, form)
    assert response.json() == {"code": 0, "msg": "success", "items": 1, "accepted": 0, "quarantined": 1}
    assert scalar(live_conn, "SELECT count(*) FROM tracksolid.alarms") == 0
    assert scalar(live_conn, "SELECT reason FROM tracksolid.push_quarantine") == "missing_field"
    assert scalar(live_conn, "SELECT count(*) FROM tracksolid.push_inbox") == 1
    assert scalar(live_conn, "SELECT count(*) FROM tracksolid.alarms") == 0
