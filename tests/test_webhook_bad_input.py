"""Bad input malformed as a whole: every case gets its 4xx with a JSON error saying what is wrong, and not one
row is added anywhere (all tables of the live database are counted before and after). Bad ITEMS in a
well-formed request are quarantined instead: tests/test_webhook_quarantine.py."""

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


DEEP = "[" * 5000 + "]" * 5000  # deeper than any JSON reader recurses (RecursionError before issue 12)

# A request malformed AS A WHOLE (auth, body, JSON, envelope): 4xx, nothing stored.
# (name, request builder, expected status, text the error must contain)
CASES = [
    ("missing token", iothub("/pushgps", GOOD, token=None), 401, "missing token"),
    ("wrong token", iothub("/pushgps", GOOD, token="not-the-token"), 401, "invalid token"),
    ("empty token", iothub("/pushgps", GOOD, token=""), 401, "missing token"),
    ("no data_list", iothub("/pushgps", None), 400, "data_list is required"),
    ("malformed JSON", iothub("/pushgps", '[{"deviceImei":'), 400, "data_list is not valid JSON"),
    ("data_list not a list", iothub("/pushgps", json.dumps(GOOD[0])), 400,
     "data_list must be a JSON array, got an object"),
    ("data_list nested too deeply", iothub("/pushgps", DEEP), 400, "data_list is nested too deeply"),
    ("data_list items nested too deeply", iothub("/pushalarm", "[" + json.dumps(item())[1:-1] + ", " + DEEP + "]"),
     400, "data_list is nested too deeply"),
    ("NUL character in a form field", lambda h: ("POST", "/pushgps", {"data": {
        "token": h.token, "data_list": json.dumps(GOOD), "note": "a\x00b"}}), 400, "holds a NUL character"),
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
    ("pro: data nested too deeply", pro({"msgType": ALARM, "data": DEEP}), 400, "data is nested too deeply"),
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
