"""Conformance with the official document, part 3: does our simulator answer like the document's examples?

Each method is called on the simulator with a client built here from the document alone (our own
``doc_signature``, form body, string values), and its answer is compared with the transcribed example:

* **placement** — which of ``result`` / ``data`` carries the payload (non-null) and which is null/absent;
* **keys** — item keys the example has and the simulator lacks, and keys the simulator adds that are
  neither in the example nor in the method's field table;
* **JSON types** — string vs number vs bool vs object vs array, for every key both sides fill (a null
  on either side says nothing about the type);
* **time formats** — a value the example writes as ``yyyy-MM-dd HH:mm:ss`` (or ISO-8601 ``…Z``) must be
  written the same way.

The differences found are listed in ``KNOWN_DIFFERENCES`` with their reason, and the test asserts the
observed list is exactly that list: a new difference fails, and so does a fixed one (remove it from the
list). Most are places where the document contradicts itself (field table vs example); see the report.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

from tests.test_doc_conformance import API_METHODS, doc_signature, load_doc, load_push
from tracksolid_simulator.protocol import md5_lower
from tracksolid_simulator.push import push_requests

FROZEN = datetime(2025, 6, 4, 12, 0, tzinfo=UTC)
BEGIN, END = FROZEN - timedelta(days=3), FROZEN - timedelta(hours=2)
TIME_FORMATS = {
    "api": re.compile(r"^\d{4}-\d{2}-\d{2} \d{1,2}:\d{2}:\d{2}$"),
    "iso_z": re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$"),
}

#: (method, kind, where, detail) → why. kind: missing / extra / type / format / placement.
KNOWN_DIFFERENCES: dict[tuple[str, str, str, str], str] = {
    # track.list: the field table says string, the example prints numbers; the simulator follows the table.
    ("jimi.device.track.list", "type", "result[].direction", "doc number, sim string"):
        "table: direction string; example: 0",
    ("jimi.device.track.list", "type", "result[].gpsSpeed", "doc number, sim string"):
        "table: gpsSpeed string; example: 0.0",
    ("jimi.device.track.list", "type", "result[].posType", "doc number, sim string"):
        "table: posType string 1/2/3; example: 1",
    ("jimi.device.track.list", "type", "result[].satellite", "doc number, sim string"):
        "table: satellite string; example: 0",
    ("jimi.device.track.list", "type", "data.mileage", "doc number, sim string"):
        "table: mileage string; example: 0",
    # track.mileage: the field table says runTimeSecond, the example prints "elapsed"; the simulator sends
    # runTimeSecond by default (mileage_elapsed_key="elapsed" switches it).
    ("jimi.device.track.mileage", "missing", "result[]", "elapsed"): "table: runTimeSecond; example: elapsed",
    # location.get: mcType is in location.list's example but in neither location.get's table nor example.
    ("jimi.device.location.get", "extra", "result[]", "mcType"): "location.list's key, harmless",
    # location.list: the example carries ten keys its field table does not list; the simulator sends some.
    ("jimi.user.device.location.list", "missing", "result[]", "chargeStatus"): "example-only key",
    ("jimi.user.device.location.list", "missing", "result[]", "iccid"): "example-only key",
    ("jimi.user.device.location.list", "missing", "result[]", "mac"): "example-only key",
    ("jimi.user.device.location.list", "missing", "result[]", "shutdown"): "example-only key",
    ("jimi.user.device.location.list", "missing", "result[]", "state"): "example-only key",
    ("jimi.user.device.location.list", "missing", "result[]", "stateTime"): "example-only key",
    ("jimi.user.device.location.list", "missing", "result[]", "trackerOils"): "example-only key",
}


def kind_of(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def time_format(value: Any) -> str | None:
    if isinstance(value, str):
        for name, pattern in TIME_FORMATS.items():
            if pattern.match(value):
                return name
    return None


def compare_objects(method: str, where: str, doc_items: list[dict], sim_items: list[dict],
                    documented: set[str]) -> set[tuple[str, str, str, str]]:
    """Key, type and time-format differences between the example's objects and the simulator's."""
    found: set[tuple[str, str, str, str]] = set()
    assert sim_items, f"{method}: the simulator returned no {where} to compare"
    doc_keys = set().union(*(item.keys() for item in doc_items))
    for key in doc_keys:
        if any(key not in item for item in sim_items):
            found.add((method, "missing", where, key))
    for key in set().union(*(item.keys() for item in sim_items)) - doc_keys - documented:
        found.add((method, "extra", where, key))
    for key in doc_keys:
        doc_kinds = {kind_of(item.get(key)) for item in doc_items} - {"null"}
        sim_kinds = {kind_of(item.get(key)) for item in sim_items if key in item} - {"null"}
        if doc_kinds and sim_kinds and sim_kinds != doc_kinds:
            found.add((method, "type", f"{where}.{key}",
                       f"doc {'/'.join(sorted(doc_kinds))}, sim {'/'.join(sorted(sim_kinds))}"))
        doc_formats = {time_format(item.get(key)) for item in doc_items} - {None}
        if doc_formats:
            sim_formats = {time_format(item.get(key)) for item in sim_items if item.get(key) is not None}
            if sim_formats != doc_formats:
                found.add((method, "format", f"{where}.{key}",
                           f"doc {sorted(doc_formats)}, sim {sorted(map(str, sim_formats))}"))
    return found


def compare_envelope(method: str, doc: dict, sim: dict) -> set[tuple[str, str, str, str]]:
    """Placement of the payload, then the shapes of the objects at each documented place."""
    example = doc["example"]
    found: set[tuple[str, str, str, str]] = set()
    assert sim.get("code") == 0, (method, sim)
    for part in ("result", "data"):
        doc_kind, sim_kind = kind_of(example.get(part)), kind_of(sim.get(part))
        if doc_kind != sim_kind:
            found.add((method, "placement", part, f"doc {doc_kind}, sim {sim_kind}"))
    fields = set(doc.get("fields", []))
    data_fields = set(doc.get("data_fields", []))
    payload = doc["payload"]
    if payload == "result":
        doc_rows, sim_rows = example["result"], sim.get("result")
        if isinstance(doc_rows, dict):
            found |= compare_objects(method, "result", [doc_rows], [sim_rows] if sim_rows else [], fields)
        else:
            found |= compare_objects(method, "result[]", doc_rows, sim_rows or [], fields)
        doc_data, sim_data = example.get("data"), sim.get("data")
        if isinstance(doc_data, dict):
            found |= compare_objects(method, "data", [doc_data], [sim_data] if isinstance(sim_data, dict) else [],
                                     data_fields)
        elif isinstance(doc_data, list):
            found |= compare_objects(method, "data[]", doc_data, sim_data or [], data_fields)
    else:  # data.rows / data.result: the data object's own keys, then its rows
        _, rows_key = payload.split(".")
        doc_data, sim_data = example["data"], sim.get("data") or {}
        found |= compare_objects(method, "data", [{k: v for k, v in doc_data.items() if k != rows_key}],
                                 [{k: v for k, v in sim_data.items() if k != rows_key}],
                                 data_fields | {"startRow", "endRow", "totalPage"})
        found |= compare_objects(method, f"{payload}[]", doc_data[rows_key], sim_data.get(rows_key) or [], fields)
    return found


class DocClient:
    """A Tracksolid client from the document alone: form POST, string values, doc_signature."""

    def __init__(self, url: str, app_key: str, app_secret: str) -> None:
        self.url, self.app_key, self.app_secret = url, app_key, app_secret
        self.session = requests.Session()
        self.access_token: str | None = None

    def call(self, method: str, **params: Any) -> dict:
        form = {"method": method, "timestamp": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S"),
                "app_key": self.app_key, "sign_method": "md5", "v": "1.0", "format": "json",
                **({"access_token": self.access_token} if self.access_token else {}),
                **{k: str(v) for k, v in params.items()}}
        form["sign"] = doc_signature(form, self.app_secret)
        response = self.session.post(self.url, data=form, timeout=30)
        assert response.status_code == 200
        return response.json()


def fmt(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S")


@pytest.fixture
def simulated(simulator_factory):
    """A frozen simulator (the fleet of the simulator's own truth tests: every method has rows) and the
    answer of each method to the document-built client."""
    server = simulator_factory(clock_start=FROZEN, clock_speed=0, devices=18, accounts=3, seed=5)
    client = DocClient(server.url, server.cfg.app_key, server.cfg.app_secret)
    account, password = server.cfg.account_credentials()[0]
    answers: dict[str, dict] = {}
    answers["jimi.oauth.token.get"] = client.call("jimi.oauth.token.get", user_id=account,
                                                  user_pwd_md5=md5_lower(password), expires_in=7200)
    token = answers["jimi.oauth.token.get"]["result"]
    client.access_token = token["accessToken"]
    answers["jimi.oauth.token.refresh"] = client.call("jimi.oauth.token.refresh", refresh_token=token["refreshToken"],
                                                      expires_in=7200)
    client.access_token = answers["jimi.oauth.token.refresh"]["result"]["accessToken"]
    imeis = server.fleet.imeis_of(account)
    joined = ",".join(imeis)
    obd_imeis = ",".join(i for i in imeis if server.fleet.device(i).has_obd)
    window = {"begin_time": fmt(BEGIN), "end_time": fmt(END)}
    report = {"start_time": fmt(BEGIN), "end_time": fmt(END)}
    answers["jimi.user.device.list"] = client.call("jimi.user.device.list", target=account)
    answers["jimi.track.device.detail"] = client.call("jimi.track.device.detail", imei=imeis[0])
    answers["jimi.user.device.location.list"] = client.call("jimi.user.device.location.list", target=account)
    answers["jimi.device.location.get"] = client.call("jimi.device.location.get", imeis=joined)
    answers["jimi.device.track.list"] = client.call("jimi.device.track.list", imei=imeis[0],
                                                    begin_time=fmt(END - timedelta(days=1)), end_time=fmt(END))
    answers["jimi.device.track.mileage"] = client.call("jimi.device.track.mileage", imeis=joined, **window)
    answers["jimi.open.platform.report.parking"] = client.call(
        "jimi.open.platform.report.parking", account=account, imeis=joined, start_row=0, page_size=100,
        acc_type="on", **report)
    answers["jimi.device.alarm.list"] = client.call("jimi.device.alarm.list", imeis=joined, page_no=1,
                                                    page_size=100, **window)
    answers["jimi.device.obd.list"] = client.call("jimi.device.obd.list", account=account, imeis=obd_imeis,
                                                  page_no=1, page_size=100, **report)
    return server, answers


def test_simulator_answers_have_the_documents_shapes_apart_from_the_known_differences(simulated):
    _, answers = simulated
    found: set[tuple[str, str, str, str]] = set()
    for method in API_METHODS:
        found |= compare_envelope(method, load_doc(method), answers[method])
    new = sorted(found - set(KNOWN_DIFFERENCES))
    fixed = sorted(set(KNOWN_DIFFERENCES) - found)
    assert not new, "simulator differs from the document's examples:\n" + "\n".join(map(str, new))
    assert not fixed, "no longer different (remove from KNOWN_DIFFERENCES):\n" + "\n".join(map(str, fixed))


def test_the_comparison_catches_a_wrong_type_a_missing_key_and_a_wrong_time_format():
    # The comparison itself, on doctored copies of an example: it must not be a test that cannot fail.
    doc = load_doc("jimi.open.platform.report.parking")
    answer = json.loads(json.dumps(doc["example"]))
    assert compare_envelope("m", doc, answer) == set()
    row = answer["data"]["rows"][0]
    row["durSecond"] = int(row["durSecond"])
    row["startTime"] = "2022-12-10 01:05:33"
    del answer["data"]["rows"][1]["addr"]
    answer["result"] = []
    assert compare_envelope("m", doc, answer) == {
        ("m", "type", "data.rows[].durSecond", "doc string, sim number/string"),
        ("m", "format", "data.rows[].startTime", "doc ['iso_z'], sim ['api', 'iso_z']"),
        ("m", "missing", "data.rows[]", "addr"),
        ("m", "placement", "result", "doc null, sim array"),
    }


def test_simulator_pro_push_has_the_documents_push_shape(simulated):
    server, _ = simulated
    doc = load_push("jimi.push.device.alarm")
    pushes = push_requests(server.fleet, BEGIN, END, fmt="pro")
    assert pushes, "the frozen fleet has alarms in the window"
    forms = [form for _, form in pushes]
    assert all(set(form) == {"msgType", "data"} and form["msgType"] == doc["msgType"] for form in forms)
    items = [json.loads(form["data"]) for form in forms]
    found = compare_objects("push", "data", [doc["form"]["data"]], items, set(doc["fields"]))
    assert found == set()


def test_simulator_errors_have_the_documents_error_envelope(simulated):
    server, _ = simulated
    client = DocClient(server.url, server.cfg.app_key, server.cfg.app_secret)
    client.access_token = "not-a-token"
    body = client.call("jimi.user.device.list", target=server.cfg.account_names()[0])
    # The document's error examples: {code, message} or {code, message, result: null, data: null}.
    assert body["code"] == 1004 and isinstance(body["message"], str) and body["message"]
    assert set(body) in ({"code", "message"}, {"code", "message", "result", "data"})
    assert body.get("result") is None and body.get("data") is None
