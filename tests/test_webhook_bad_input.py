"""Bad input: every case gets its 4xx with a JSON error saying what is wrong, and not one row is added
anywhere (all tables of the live database are counted before and after)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from tests.fixtures.webhook import gps_items, imei_for


def all_row_counts(conn) -> dict[str, int]:
    with conn.cursor() as cur:
        cur.execute("SELECT table_schema || '.' || table_name FROM information_schema.tables "
                    "WHERE table_schema IN ('tracksolid', 'ops') AND table_type = 'BASE TABLE' ORDER BY 1")
        counts = {}
        for (table,) in cur.fetchall():
            cur.execute(f"SELECT count(*) FROM {table}")
            counts[table] = cur.fetchone()[0]
        return counts


GOOD = gps_items(3, start=datetime(2025, 1, 1, tzinfo=UTC), imeis=[imei_for(1)])
ALARM = "jimi.push.device.alarm"


def with_item(index: int, **changes) -> str:
    """GOOD as a data_list string with item ``index`` changed (a value of None removes the field)."""
    items = [dict(i) for i in GOOD]
    for key, value in changes.items():
        if value is None:
            items[index].pop(key, None)
        else:
            items[index][key] = value
    return json.dumps(items)


def iothub(path: str, data_list, token: str | None = "valid"):
    """Request builder: an IoT-Hub form post; token "valid" is replaced by the receiver's token."""
    def build(hook):
        fields = {} if data_list is None else {"data_list": data_list if isinstance(data_list, str)
                                                else json.dumps(data_list)}
        if token is not None:
            fields["token"] = hook.token if token == "valid" else token
        return "POST", path, {"data": fields}
    return build


def pro(fields: dict, secret: str | None = None):
    """Request builder: a Tracksolid Pro form post to the receiver's secret path (or ``/pro/<secret>``)."""
    return lambda hook: ("POST", f"/pro/{secret}" if secret else hook.pro_url, {"data": fields})


def raw(method: str, path: str, **kwargs):
    return lambda hook: (method, path, kwargs)


def item(**fields) -> list[dict]:
    return [{"imei": imei_for(1), "gateTime": "2025-01-01 00:00:00", **fields}]


# (name, request builder, expected status, text the error must contain)
CASES = [
    ("missing token", iothub("/pushgps", GOOD, token=None), 401, "missing token"),
    ("wrong token", iothub("/pushgps", GOOD, token="not-the-token"), 401, "invalid token"),
    ("empty token", iothub("/pushgps", GOOD, token=""), 401, "missing token"),
    ("no data_list", iothub("/pushgps", None), 400, "data_list is required"),
    ("malformed JSON", iothub("/pushgps", '[{"deviceImei":'), 400, "data_list is not valid JSON"),
    ("data_list not a list", iothub("/pushgps", json.dumps(GOOD[0])), 400, "data_list must be a JSON array, got dict"),
    ("item not an object", iothub("/pushgps", [GOOD[0], "x"]), 400, "data_list[1] must be a JSON object"),
    ("missing IMEI", iothub("/pushgps", with_item(2, deviceImei=None)), 400,
     "data_list[2].deviceImei or imei is required"),
    ("IMEI of the wrong type", iothub("/pushgps", with_item(1, deviceImei={"id": 1})), 400,
     "data_list[1].deviceImei must be an IMEI"),
    ("lat not a number", iothub("/pushgps", with_item(0, lat="north")), 400,
     "data_list[0].lat must be a number, got 'north'"),
    ("lat out of range", iothub("/pushgps", with_item(0, lat=91)), 400, "data_list[0].lat must be between -90 and 90"),
    ("speed is a boolean", iothub("/pushgps", with_item(1, gpsSpeed=True)), 400,
     "data_list[1].gpsSpeed must be a number"),
    ("bad time", iothub("/pushgps", with_item(2, gpsTime="yesterday")), 400, "data_list[2].gpsTime must be a time"),
    ("missing time", iothub("/pushgps", with_item(0, gpsTime=None)), 400, "data_list[0].gpsTime is required"),
    ("acc not a flag", iothub("/pushgps", with_item(0, acc="maybe")), 400, "data_list[0].acc must be a flag"),
    ("alarm without a type", iothub("/pushalarm", item(msg={"alarmTime": "2025-01-01 00:00:00"})), 400, "alertType"),
    ("alarm msg not an object", iothub("/pushalarm", item(msg="{oops")), 400, "data_list[0].msg must be a JSON object"),
    ("event without a type", iothub("/pushevent", item()), 400, "data_list[0].type"),
    ("body over the size limit", iothub("/pushgps", GOOD * 2000), 413, "larger than the limit"),
    ("too many items", iothub("/pushgps", GOOD * 100), 413, "more than the limit of 200"),
    ("JSON body instead of a form", lambda h: ("POST", "/pushgps", {"json": {"token": h.token, "data_list": GOOD}}),
     415, "application/x-www-form-urlencoded"),
    ("unknown path", iothub("/pushnothing", []), 404, "unknown path /pushnothing"),
    ("wrong method", raw("GET", "/pushgps"), 405, "method GET not allowed"),
    ("wrong method on health", raw("POST", "/healthz"), 405, "method POST not allowed"),
    ("pro: wrong path secret", pro({"msgType": ALARM, "data": "{}"}, secret="guess"), 403, "unknown push path"),
    ("pro: missing msgType", pro({"data": "{}"}), 400, "msgType is required"),
    ("pro: malformed data", pro({"msgType": ALARM, "data": "{nope"}), 400, "data is not valid JSON"),
    ("pro: data a number", pro({"msgType": ALARM, "data": "5"}), 400, "must be a JSON array or object"),
    ("pro: alarm without imei", pro({"msgType": ALARM, "data": json.dumps(
        {"alarmType": "1", "alarmTime": "2025-01-01 00:00:00"})}), 400, "data[0].imei or deviceImei is required"),
]


@pytest.mark.parametrize("name,build,status,message", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_rejected_with_a_clear_error_and_stores_nothing(
        webhook_factory, live_db, live_conn, name, build, status, message):
    hook = webhook_factory(live_db, max_body_bytes=200_000, max_items=200)
    before = all_row_counts(live_conn)
    method, path, kwargs = build(hook)
    url = path if path.startswith("http") else f"{hook.base_url}{path}"
    response = hook.session.request(method, url, timeout=30, **kwargs)
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["code"] == status and message in json.dumps(body), body
    assert all_row_counts(live_conn) == before


def test_one_bad_item_rejects_the_whole_request_and_lists_every_problem(webhook, live_conn):
    items = json.loads(with_item(1, lat="x", direction="left"))
    items[2]["gpsTime"] = "never"
    before = all_row_counts(live_conn)
    response = webhook.push("/pushgps", items)
    assert response.status_code == 400
    assert response.json()["errors"] == [
        "data_list[1].lat must be a number, got 'x'",
        "data_list[1].direction must be a number, got 'left'",
        "data_list[2].gpsTime must be a time (yyyy-MM-dd HH:mm:ss UTC, ISO-8601 or epoch), got 'never'",
    ]
    assert all_row_counts(live_conn) == before
    # The corrected request goes through.
    assert webhook.push("/pushgps", GOOD).status_code == 200


def test_value_the_database_refuses_is_a_400_not_a_crash(webhook, live_conn):
    before = all_row_counts(live_conn)
    response = webhook.push("/pushgps", json.loads(with_item(0, altitude="1e400000")))
    assert response.status_code == 400, response.text
    assert all_row_counts(live_conn) == before
