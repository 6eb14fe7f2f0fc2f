"""Conformance with the official document, part 2: the TracksolidHook against an independent server.

``DocApiServer`` is a deliberately tiny Tracksolid endpoint written from the document alone (standard
library ``http.server``, no code shared with our simulator or the hook). For every request it checks what
the document prescribes — HTTP POST, a form body, the seven common parameters, the UTC ``yyyy-MM-dd
HH:mm:ss`` timestamp within ±10 minutes, the MD5 signature (``doc_signature``, our own implementation of
the document's algorithm), the access token, and each method's required parameters and their formats —
and answers with the document's example payload **verbatim**. Anything it dislikes is recorded as a
problem and answered with a doc-shaped 1001, so the tests can assert "no problem at all".

The hook runs as in production: Airflow connections from the environment (``AIRFLOW_CONN_TRACKSOLID_API``
pointing here, ``AIRFLOW_CONN_TRACKSOLID_DB`` at this test's fresh database for the token cache and the
audit rows).
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import threading
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl

import pytest

from fleet_db.loaders import copy_upsert
from fleet_ingest import endpoints
from tests.fixtures.airflow import postgres_conn_json
from tests.fixtures.databases import scalar
from tests.test_doc_conformance import (
    DOC_ACCESS_TOKEN,
    DOC_ACCOUNT,
    EXPECTED_ROWS,
    TRACK_IMEI,
    assert_rows_equal,
    doc_signature,
    load_doc,
    load_errors,
    payload_items,
)
from tracksolid_hook import TracksolidApiError, TracksolidError, TracksolidHook, TracksolidRetryExhausted
from tracksolid_hook.parsers import ROW_KEYS

API_TIME = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")
IMEI_LIST = re.compile(r"^\d{15,16}(,\d{15,16})*$")
COMMON = ("method", "timestamp", "app_key", "sign", "sign_method", "v", "format")
DOC_REFRESH_TOKEN = "7da3330ec28e3996b6ef4a7e3390ba71"

#: Per method, from its "Private parameters" table: (required, optional). alarm.list needs imei OR imeis.
DOC_PARAMETERS: dict[str, tuple[set[str], set[str]]] = {
    "jimi.oauth.token.get": ({"user_id", "user_pwd_md5", "expires_in"}, set()),
    "jimi.oauth.token.refresh": ({"access_token", "refresh_token", "expires_in"}, set()),
    "jimi.user.device.list": ({"access_token", "target"}, set()),
    "jimi.track.device.detail": ({"access_token", "imei"}, set()),
    "jimi.user.device.location.list": ({"access_token", "target"}, {"map_type"}),
    "jimi.device.location.get": ({"access_token", "imeis"}, {"map_type"}),
    "jimi.device.track.list": ({"access_token", "imei", "begin_time", "end_time"}, {"map_type"}),
    "jimi.device.track.mileage": ({"access_token", "imeis", "begin_time", "end_time"}, {"start_row", "page_size"}),
    "jimi.open.platform.report.parking": (
        {"access_token", "account", "imeis", "start_time", "end_time", "start_row", "page_size", "acc_type"},
        set()),
    "jimi.device.alarm.list": ({"access_token", "page_no", "page_size"},
                               {"imei", "imeis", "alertTypeId", "begin_time", "end_time"}),
    "jimi.device.obd.list": (
        {"access_token", "account", "imeis", "start_time", "end_time", "page_no", "page_size"}, set()),
}
#: Longest window per method, in days (track.list "not more than 7 days", alarms "within 1 month", OBD 31).
DOC_MAX_DAYS = {"jimi.device.track.list": 7, "jimi.device.alarm.list": 31, "jimi.device.obd.list": 31}


@dataclass
class Call:
    http_method: str
    content_type: str
    form: dict[str, str]
    problems: list[str] = field(default_factory=list)
    reply_code: object = None

    @property
    def method(self) -> str | None:
        return self.form.get("method")


class DocApiServer:
    """The document's API on a free loopback port. ``script(method, *bodies)`` makes the next calls of
    ``method`` answer with ``bodies`` (after every check passed) instead of the example."""

    def __init__(self) -> None:
        self.app_key = secrets.token_hex(16).upper()
        self.app_secret = secrets.token_hex(16)
        self.account = DOC_ACCOUNT
        self.password = secrets.token_urlsafe(12)
        self.calls: list[Call] = []
        self._scripted: dict[str, list[dict]] = defaultdict(list)
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle ---------------------------------------------------------------------------------
    def start(self) -> DocApiServer:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's naming
                length = int(self.headers.get("Content-Length") or 0)
                self._reply(server.handle("POST", self.headers.get("Content-Type", ""), self.rfile.read(length)))

            def do_GET(self):  # noqa: N802
                self._reply(server.handle("GET", "", b""))

            def _reply(self, body: dict) -> None:
                data = json.dumps(body, ensure_ascii=False).encode("utf-8")
                self.send_response(200)  # the platform answers 200 even for API errors
                self.send_header("Content-Type", "application/json;charset=UTF-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):  # keep the test output quiet
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="doc-api-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._thread.join(timeout=10)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_port}/route/rest"

    def script(self, method: str, *bodies: dict) -> None:
        with self._lock:
            self._scripted[method].extend(bodies)

    # --- views for the tests ----------------------------------------------------------------------
    @property
    def problems(self) -> list[tuple[str | None, str]]:
        return [(c.method, p) for c in self.calls for p in c.problems]

    def methods(self) -> list[str | None]:
        return [c.method for c in self.calls]

    # --- the protocol ------------------------------------------------------------------------------
    def handle(self, http_method: str, content_type: str, body: bytes) -> dict:
        call = Call(http_method, content_type, {})
        with self._lock:
            self.calls.append(call)
        if http_method != "POST":
            call.problems.append(f"HTTP {http_method}: the document says POST")
            return self._error(call, 1007, "Illegal access, request method error!")
        if not content_type.lower().startswith("application/x-www-form-urlencoded"):
            call.problems.append(f"body is {content_type!r}, not a form")
            return self._error(call, 1008, "Illegal access, abnormal incoming!")
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True)
        call.form = dict(pairs)
        if len(call.form) != len(pairs):
            call.problems.append("a parameter is repeated")
        self._check_common(call)
        if not call.problems:
            self._check_method(call)
        if call.problems:
            return self._error(call, 1001, "Parameter error: " + "; ".join(call.problems))
        with self._lock:
            scripted = self._scripted[call.method].pop(0) if self._scripted[call.method] else None
        reply = scripted or load_doc(call.method)["example"]
        call.reply_code = reply.get("code")
        return reply

    def _error(self, call: Call, code: int, message: str) -> dict:
        call.reply_code = code
        return {"code": code, "message": message}

    def _check_common(self, call: Call) -> None:
        form = call.form
        missing = [name for name in COMMON if not form.get(name)]
        if missing:
            call.problems.append(f"common parameters missing: {missing}")
            return
        if form["app_key"] != self.app_key:
            call.problems.append("app_key is not ours")
        if (form["sign_method"], form["v"], form["format"]) != ("md5", "1.0", "json"):
            call.problems.append(f"sign_method/v/format = {form['sign_method']}/{form['v']}/{form['format']}")
        if not API_TIME.match(form["timestamp"]):
            call.problems.append(f"timestamp {form['timestamp']!r} is not yyyy-MM-dd HH:mm:ss")
        else:
            stamp = datetime.strptime(form["timestamp"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
            if abs((stamp - datetime.now(UTC)).total_seconds()) > 600:
                call.problems.append(f"timestamp {form['timestamp']} is not UTC now ±10 minutes")
        if not re.fullmatch(r"[0-9A-F]{32}", form["sign"]):
            call.problems.append("sign is not 32 upper-case hex characters")
        elif form["sign"] != doc_signature(form, self.app_secret):
            call.problems.append("signature does not verify")
        for name, value in form.items():
            if value in ("None", "True", "False", "null") or value.startswith(("[", "{", "(")):
                call.problems.append(f"{name}={value!r} is not a plain string value")

    def _check_method(self, call: Call) -> None:
        form, method = call.form, call.method
        if method not in DOC_PARAMETERS:
            call.problems.append(f"method {method!r} is not one the pipeline should call")
            return
        required, optional = DOC_PARAMETERS[method]
        given = set(form) - set(COMMON)
        if missing := required - given:
            call.problems.append(f"required parameters missing: {sorted(missing)}")
        if unknown := given - required - optional:
            call.problems.append(f"parameters the document does not define: {sorted(unknown)}")
        if "access_token" in required and form.get("access_token") != DOC_ACCESS_TOKEN:
            call.problems.append("access_token is not the one the token call returned")
        if method == "jimi.oauth.token.get":
            if form.get("user_id") != self.account:
                call.problems.append("user_id is not the account")
            if form.get("user_pwd_md5") != hashlib.md5(self.password.encode()).hexdigest():
                call.problems.append("user_pwd_md5 is not the lower-case md5 of the password")
        if method == "jimi.oauth.token.refresh" and form.get("refresh_token") != DOC_REFRESH_TOKEN:
            call.problems.append("refresh_token is not the one the token call returned")
        if "expires_in" in form and not (form["expires_in"].isdigit() and 60 <= int(form["expires_in"]) <= 7200):
            call.problems.append(f"expires_in={form['expires_in']!r} outside 60..7200")
        if method == "jimi.device.alarm.list" and not (form.get("imei") or form.get("imeis")):
            call.problems.append("alarm.list needs imei or imeis")
        for name in ("imeis",):
            if name in form:
                if not IMEI_LIST.match(form[name]):
                    call.problems.append(f"imeis={form[name]!r} is not comma-separated IMEIs")
                elif len(form[name].split(",")) > 100:
                    call.problems.append("more than 100 IMEIs")
        if "imei" in form and not re.fullmatch(r"\d{15,16}", form["imei"]):
            call.problems.append(f"imei={form['imei']!r} is not one IMEI")
        for name in ("start_row", "page_size", "page_no"):
            if name in form and not form[name].isdigit():
                call.problems.append(f"{name}={form[name]!r} is not a number")
        if method in ("jimi.device.alarm.list", "jimi.device.obd.list"):
            if not (form.get("page_size", "").isdigit() and 1 <= int(form["page_size"]) <= 100):
                call.problems.append("page_size outside 1..100")
            if not (form.get("page_no", "").isdigit() and int(form["page_no"]) >= 1):
                call.problems.append("page_no must be >= 1")
        if method == "jimi.open.platform.report.parking" and form.get("acc_type") not in ("on", "off"):
            call.problems.append(f"acc_type={form.get('acc_type')!r}: the document says on / off")
        self._check_window(call, "begin_time", "end_time")
        self._check_window(call, "start_time", "end_time")

    def _check_window(self, call: Call, begin_name: str, end_name: str) -> None:
        form = call.form
        if begin_name not in form:
            return
        times = {}
        for name in (begin_name, end_name):
            if not API_TIME.match(form.get(name, "")):
                call.problems.append(f"{name}={form.get(name)!r} is not yyyy-MM-dd HH:mm:ss")
                return
            times[name] = datetime.strptime(form[name], "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
        begin, end = times[begin_name], times[end_name]
        if not begin < end < datetime.now(UTC):
            call.problems.append(f"window {begin}..{end}: end_time must follow the start and be in the past")
        days = DOC_MAX_DAYS.get(call.method)
        if days and end - begin > timedelta(days=days):
            call.problems.append(f"window longer than {days} days")


@pytest.fixture
def doc_api(monkeypatch, live_db, tmp_path):
    """A started DocApiServer, with the Airflow connections of the hook pointing at it and at live_db."""
    server = DocApiServer().start()
    monkeypatch.setenv("AIRFLOW_CONN_TRACKSOLID_API", json.dumps({
        "conn_type": "tracksolid", "host": server.url, "login": server.account, "password": server.password,
        "extra": {"app_key": server.app_key, "app_secret": server.app_secret, "targets": [DOC_ACCOUNT],
                  "rate_limit_dir": str(tmp_path), "max_requests_per_s": 1000, "timeout_s": 5,
                  "max_attempts": 3, "backoff_base_s": 0.01, "backoff_cap_s": 0.05},
    }))
    monkeypatch.setenv("AIRFLOW_CONN_TRACKSOLID_DB", postgres_conn_json(live_db))
    yield server
    server.stop()


@pytest.fixture
def hook(doc_api):
    sleeps: list[float] = []
    api = TracksolidHook(sleep=sleeps.append)
    api.sleeps = sleeps
    yield api
    api.close()


def recent_window(hours: int = 1) -> tuple[datetime, datetime]:
    end = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    return end - timedelta(hours=hours), end


def fetch_every_method(hook: TracksolidHook) -> dict[str, list[dict]]:
    """Each typed method of the hook once, asked for the IMEIs / accounts of the document's examples."""
    begin, end = recent_window()
    return {
        "jimi.user.device.list": hook.list_devices(DOC_ACCOUNT),
        "jimi.track.device.detail": [hook.device_detail("868120145233604")],
        "jimi.user.device.location.list": hook.location_list(DOC_ACCOUNT),
        "jimi.device.location.get": hook.location_get(["868120145233604"]),
        "jimi.device.track.list": hook.track_list(TRACK_IMEI, begin, end),
        "jimi.device.track.mileage": hook.track_mileage(["3505831983422342"], begin, end),
        "jimi.open.platform.report.parking": hook.parking(DOC_ACCOUNT, ["869247060001739"], begin, end,
                                                          acc_type="on"),
        "jimi.device.alarm.list": hook.alarm_list(["343503422910345"], begin, end),
        "jimi.device.obd.list": hook.obd_list(DOC_ACCOUNT, ["158511020000028"], begin, end),
    }


def audit_rows(conn) -> list[tuple]:
    with conn.cursor() as cur:
        cur.execute("SELECT method, attempt, http_status, api_code, error, target FROM tracksolid.ingestion_log"
                    " ORDER BY id")
        return cur.fetchall()


# --- the happy path: every method, signed as the document says, parsed into the expected rows ----------

def test_hook_requests_pass_every_documented_check_and_doc_payloads_become_the_expected_rows(
        doc_api, hook, live_conn):
    got = fetch_every_method(hook)

    assert doc_api.problems == []
    assert all(c.http_method == "POST" and c.content_type.startswith("application/x-www-form-urlencoded")
               for c in doc_api.calls)
    # One token for the whole run (the document: "do NOT get access_token per request").
    assert doc_api.methods().count("jimi.oauth.token.get") == 1 and doc_api.methods()[0] == "jimi.oauth.token.get"
    assert "jimi.oauth.token.refresh" not in doc_api.methods()
    # Paged methods stop at the example's short page: one call each.
    assert len(doc_api.calls) == 1 + len(got)

    for method, rows in got.items():
        assert_rows_equal(rows, EXPECTED_ROWS[method])
        assert all(row["raw"] in payload_items(method) for row in rows), method

    # One audit row per call, code 0, and no secret anywhere in it.
    log = audit_rows(live_conn)
    assert [r[0] for r in log] == doc_api.methods()
    assert {r[3] for r in log} == {"0"} and {r[2] for r in log} == {200}
    text = json.dumps(log, default=str)
    for secret in (doc_api.password, doc_api.app_secret, DOC_ACCESS_TOKEN,
                   hashlib.md5(doc_api.password.encode()).hexdigest()):
        assert secret not in text
    # The token is cached in the database for every other worker.
    assert scalar(live_conn, "SELECT count(*) FROM tracksolid.api_token_cache") == 1


def test_rows_from_doc_payloads_load_into_the_live_tables_idempotently(doc_api, hook, live_conn):
    got = fetch_every_method(hook)
    tables = {
        "jimi.user.device.list": ("tracksolid.devices", endpoints.DEVICE_LIST_COLUMNS, "devices"),
        "jimi.user.device.location.list": ("tracksolid.live_positions", endpoints.LIVE_COLUMNS, "live_positions"),
        "jimi.device.track.list": ("tracksolid.position_history", endpoints.TRACK_COLUMNS, "position_history"),
        "jimi.device.track.mileage": ("tracksolid.trips", endpoints.TRIP_COLUMNS, "trips"),
        "jimi.open.platform.report.parking": ("tracksolid.parking_events", endpoints.PARKING_COLUMNS,
                                              "parking_events"),
        "jimi.device.alarm.list": ("tracksolid.alarms", endpoints.ALARM_COLUMNS, "alarms"),
        "jimi.device.obd.list": ("tracksolid.obd_readings", endpoints.OBD_COLUMNS, "obd_readings"),
    }
    for method, (table, columns, key) in tables.items():
        for _ in range(2):  # a re-run adds nothing
            copy_upsert(live_conn, table, columns, got[method], ROW_KEYS[key], "update")
        assert scalar(live_conn, f"SELECT count(*) FROM {table}") == len(EXPECTED_ROWS[method]), table
    assert scalar(live_conn, "SELECT distance_km FROM tracksolid.trips") == 25
    assert scalar(live_conn, "SELECT tracker_oil FROM tracksolid.live_positions") == 0
    assert scalar(live_conn, "SELECT string_agg(duration_s::text, ',' ORDER BY start_time)"
                             " FROM tracksolid.parking_events") == "10269,11535"
    assert scalar(live_conn, "SELECT alarm_name FROM tracksolid.alarms WHERE alarm_type = '1002'") == "ACC On"
    assert scalar(live_conn, "SELECT min(reading_time) FROM tracksolid.obd_readings") == \
        datetime(2024, 5, 9, 1, 27, 23, tzinfo=UTC)
    assert scalar(live_conn, "SELECT raw->>'trackerOil' FROM tracksolid.live_positions") == "0.00L"


# --- doc-shaped errors -------------------------------------------------------------------------------

@pytest.mark.parametrize("body_name", ["1004", "1004_string_code"])
def test_1004_token_exception_renews_the_token_once_and_retries_signed_with_it(doc_api, hook, live_conn,
                                                                                body_name):
    doc_api.script("jimi.user.device.list", load_errors()["bodies"][body_name])
    rows = hook.list_devices(DOC_ACCOUNT)
    assert_rows_equal(rows, EXPECTED_ROWS["jimi.user.device.list"])
    assert doc_api.problems == []
    assert doc_api.methods() == ["jimi.oauth.token.get", "jimi.user.device.list", "jimi.oauth.token.refresh",
                                 "jimi.user.device.list"]
    assert [r[3] for r in audit_rows(live_conn)] == ["0", "1004", "0", "0"]


def test_1004_twice_is_an_error_not_a_loop(doc_api, hook):
    token_error = load_errors()["bodies"]["1004"]
    doc_api.script("jimi.user.device.list", token_error, token_error)
    with pytest.raises(TracksolidApiError) as caught:
        hook.list_devices(DOC_ACCOUNT)
    assert caught.value.code == 1004 and caught.value.method == "jimi.user.device.list"
    assert doc_api.methods().count("jimi.user.device.list") == 2
    assert doc_api.methods().count("jimi.oauth.token.refresh") + doc_api.methods().count("jimi.oauth.token.get") == 2
    assert doc_api.problems == []


def test_1006_too_frequent_backs_off_and_retries_each_attempt_freshly_signed(doc_api, hook, live_conn):
    errors = load_errors()["bodies"]
    doc_api.script("jimi.device.alarm.list", errors["1006"], errors["1006_string_code"])
    begin, end = recent_window()
    rows = hook.alarm_list(["343503422910345"], begin, end)
    assert_rows_equal(rows, EXPECTED_ROWS["jimi.device.alarm.list"])
    assert doc_api.problems == []  # every attempt carried a valid signature and a current timestamp
    assert doc_api.methods().count("jimi.device.alarm.list") == 3
    assert len(hook.sleeps) == 2 and all(s > 0 for s in hook.sleeps)
    assert [r[3] for r in audit_rows(live_conn) if r[0] == "jimi.device.alarm.list"] == ["1006", "1006", "0"]
    assert [r[1] for r in audit_rows(live_conn) if r[0] == "jimi.device.alarm.list"] == [1, 2, 3]


def test_1006_that_never_ends_gives_up_after_the_retry_budget(doc_api, hook):
    body = load_errors()["bodies"]["1006"]
    doc_api.script("jimi.device.location.get", body, body, body, body)
    with pytest.raises(TracksolidRetryExhausted) as caught:
        hook.location_get(["868120145233604"])
    assert caught.value.attempts == 3  # max_attempts of the connection
    assert doc_api.methods().count("jimi.device.location.get") == 3


def test_1001_parameter_error_fails_at_once_without_leaking_secrets(doc_api, hook, live_conn):
    doc_api.script("jimi.track.device.detail", load_errors()["bodies"]["1001"])
    with pytest.raises(TracksolidApiError) as caught:
        hook.device_detail("868120145233604")
    assert caught.value.code == 1001
    assert doc_api.methods().count("jimi.track.device.detail") == 1
    text = str(caught.value) + json.dumps(audit_rows(live_conn), default=str)
    assert doc_api.app_secret not in text and doc_api.password not in text and DOC_ACCESS_TOKEN not in text


def test_the_mini_server_refuses_what_the_document_forbids(doc_api):
    # The checks above are only worth something if the server really refuses bad requests.
    import requests

    form = {"method": "jimi.user.device.list", "timestamp": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S"),
            "app_key": doc_api.app_key, "sign_method": "md5", "v": "1.0", "format": "json",
            "access_token": DOC_ACCESS_TOKEN, "target": DOC_ACCOUNT}
    good = {**form, "sign": doc_signature(form, doc_api.app_secret)}
    assert requests.post(doc_api.url, data=good, timeout=5).json() == load_doc("jimi.user.device.list")["example"]
    tampered = {**good, "target": "someone_else"}
    stale = {**form, "timestamp": (datetime.now(UTC) - timedelta(minutes=11)).strftime("%Y-%m-%d %H:%M:%S")}
    stale["sign"] = doc_signature(stale, doc_api.app_secret)
    lower = {**good, "sign": good["sign"].lower()}
    for bad in (tampered, stale, lower):
        assert requests.post(doc_api.url, data=bad, timeout=5).json()["code"] == 1001
    assert requests.post(doc_api.url, json=good, timeout=5).json()["code"] == 1008
    assert requests.get(doc_api.url, params=good, timeout=5).json()["code"] == 1007
    assert len(doc_api.problems) == 5


def test_the_documents_printed_error_example_keeps_the_platforms_message(doc_api, hook):
    # §1.1 prints the wrong-password answer as {"code": "xxx", "message": "Incorrect user name or password"}.
    # The hook fails cleanly (TracksolidResponseError "unreadable code 'xxx'") but loses the message, which
    # is the one thing that tells the operator what is wrong.
    doc_api.script("jimi.oauth.token.get", load_doc("jimi.oauth.token.get")["error_example"])
    with pytest.raises(TracksolidError) as caught:
        hook.list_devices(DOC_ACCOUNT)
    assert "Incorrect user name or password" in str(caught.value)
