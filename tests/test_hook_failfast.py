# ruff: noqa: F811  (the sim_env fixture is imported, then requested by name)
"""Issue 12, API client: errors no retry can fix fail at once naming the setting; transport errors name the
URL and the reason; payload variants (result as an object, a bare row, an unreadable shape; devices that
never had a fix); sub-account discovery; the URI connection form with an http:// endpoint.
Real HTTP against the simulator, real PostgreSQL."""

from __future__ import annotations

import json
import socket
from urllib.parse import quote

import pytest

from fleet_ingest import endpoints
from tests.fixtures.databases import scalar
from tests.test_hook_simulator import FAST_RETRY, audit_rows, methods, sim_env  # noqa: F401 (fixture)
from tracksolid_hook import TracksolidApiError, TracksolidConfigError, TracksolidHook
from tracksolid_hook.errors import TracksolidResponseError, TracksolidRetryExhausted, is_retriable
from tracksolid_simulator import FaultSpec


def _set_conn(monkeypatch, **changes):
    conn = json.loads(__import__("os").environ["AIRFLOW_CONN_TRACKSOLID_API"])
    extra = changes.pop("extra", {})
    conn.update(changes)
    conn["extra"].update(extra)
    monkeypatch.setenv("AIRFLOW_CONN_TRACKSOLID_API", json.dumps(conn))


# --- item 8: fail fast, naming the setting ------------------------------------------------------------

def test_wrong_app_secret_fails_at_once_naming_the_extra(sim_env, monkeypatch, live_conn):
    server = sim_env(**FAST_RETRY)
    _set_conn(monkeypatch, extra={"app_secret": "0" * 32})
    with pytest.raises(TracksolidApiError) as info:
        TracksolidHook().list_devices(server.cfg.account_names()[0])
    err = info.value
    assert err.code == 1001 and not err.retriable and not is_retriable(err)
    assert "'app_secret'" in str(err) and "tracksolid_api" in str(err)
    assert methods(server) == ["jimi.oauth.token.get"]  # one attempt, no retry
    assert [(r[0], r[3]) for r in audit_rows(live_conn)] == [("jimi.oauth.token.get", "1001")]


def test_wrong_password_fails_at_once_naming_login_and_password(sim_env, monkeypatch):
    server = sim_env(**FAST_RETRY)
    _set_conn(monkeypatch, password="not-the-password-" + "x" * 16)
    with pytest.raises(TracksolidApiError) as info:
        TracksolidHook().list_devices(server.cfg.account_names()[0])
    assert info.value.code == 1002 and not info.value.retriable
    assert "login and password" in str(info.value)
    assert methods(server) == ["jimi.oauth.token.get"]


def test_imei_cap_names_batch_size(sim_env):
    server = sim_env({"imei_cap": 3}, method_imei_caps={"jimi.device.location.get": 10}, batch_size=10)
    with pytest.raises(TracksolidApiError) as info:
        TracksolidHook().location_get([d["imei"] for d in server.truth.devices()][:6])
    assert info.value.code == 220 and not info.value.retriable and "'batch_size'" in str(info.value)


def test_retriable_codes_stay_retriable(sim_env):
    server = sim_env(max_attempts=2, **FAST_RETRY)
    hook = TracksolidHook()
    hook.list_devices(hook.targets[0])
    server.set_faults("jimi.user.device.list", FaultSpec(sequence=["1006"] * 5))
    with pytest.raises(TracksolidRetryExhausted) as info:
        hook.list_devices(hook.targets[0])
    assert is_retriable(info.value)


# --- item 9: which URL, and why ------------------------------------------------------------------------

def test_connection_refused_names_the_url_and_the_reason(sim_env, monkeypatch):
    sim_env(max_attempts=2, **FAST_RETRY)
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/route/rest"
    _set_conn(monkeypatch, host=url)
    with pytest.raises(TracksolidRetryExhausted) as info:
        TracksolidHook().list_devices("any")
    assert url in str(info.value) and "connection refused" in str(info.value)
    assert "check the host of connection 'tracksolid_api'" in str(info.value)


def test_a_host_that_does_not_resolve_fails_at_once_naming_the_host(sim_env, monkeypatch, live_conn):
    sim_env(**FAST_RETRY)
    _set_conn(monkeypatch, host="http://tracksolid-endpoint.invalid/route/rest")
    with pytest.raises(TracksolidConfigError) as info:
        TracksolidHook().list_devices("any")
    text = str(info.value)
    assert "tracksolid-endpoint.invalid" in text and "does not resolve" in text and "host of connection" in text
    assert scalar(live_conn, "SELECT count(*) FROM tracksolid.ingestion_log") == 1


def test_a_missing_connection_names_it(monkeypatch):
    monkeypatch.delenv("AIRFLOW_CONN_TRACKSOLID_API", raising=False)
    with pytest.raises(TracksolidConfigError, match="AIRFLOW_CONN_TRACKSOLID_API"):
        TracksolidHook().settings  # noqa: B018


# --- payload variants -------------------------------------------------------------------------------

@pytest.mark.parametrize("shape", ["result_object", "result_single"])
def test_result_as_an_object_is_unwrapped_and_audited_with_its_rows(sim_env, live_conn, shape):
    server = sim_env()
    hook = TracksolidHook()
    target = hook.targets[0]
    expected = hook.list_devices(target)
    imei = expected[0]["imei"]
    server.set_faults("jimi.user.device.list", FaultSpec(sequence=["result_object"]))
    server.set_faults("jimi.device.location.get", FaultSpec(sequence=[shape]))
    assert [r["imei"] for r in hook.list_devices(target)] == [r["imei"] for r in expected]
    assert [r["imei"] for r in hook.location_get([imei])] == [imei]
    audit = {r[0]: r for r in audit_rows(live_conn)}
    rows = [r for r in audit_rows(live_conn) if r[0] == "jimi.user.device.list"]
    assert [r[4] for r in rows] == [len(expected), len(expected)]
    assert audit["jimi.device.location.get"][4] == 1


def test_an_unreadable_result_is_an_audited_batch_error_not_a_silent_zero(sim_env, live_conn):
    server = sim_env()
    hook = TracksolidHook()
    target = hook.targets[0]
    hook.list_devices(target)
    server.set_faults("jimi.user.device.list", FaultSpec(sequence=["result_scalar"]))
    with pytest.raises(TracksolidResponseError, match="unexpected payload shape in 'result'") as info:
        hook.list_devices(target)
    assert info.value.method == "jimi.user.device.list" and info.value.target == target
    last = audit_rows(live_conn)[-1]
    assert last[0] == "jimi.user.device.list" and last[3] == "0" and last[4] is None
    assert "unexpected payload shape" in last[5]


def test_devices_without_a_fix_keep_heartbeat_and_online_state(sim_env, live_conn):
    server = sim_env()
    hook = TracksolidHook()
    target = hook.targets[0]
    imeis = [d["imei"] for d in server.truth.devices() if d["account"] == target]
    server.set_faults("jimi.user.device.location.list", FaultSpec(sequence=["never_fixed"]))
    result = endpoints.poll_target_positions(hook, live_conn, target, imeis)
    hook.close()
    log = [e for e in server.request_log if e["method"] == "jimi.user.device.location.list"]
    listed = log[0]["rows"]
    assert listed
    with live_conn.cursor() as cur:
        cur.execute("SELECT imei, source, online IS NOT NULL FROM tracksolid.heartbeats ORDER BY imei")
        heartbeats = cur.fetchall()
    truth = {i: server.truth.latest_fix(i, server.now()) for i in imeis}
    with_fix = sorted(i for i, f in truth.items() if f is not None)
    assert [h[0] for h in heartbeats] == with_fix and len(with_fix) == listed
    assert all(h[1] == "poll" and h[2] for h in heartbeats)
    assert scalar(live_conn, "SELECT count(*) FROM tracksolid.live_positions") == 0
    assert scalar(live_conn, "SELECT count(*) FROM tracksolid.position_history") == 0
    assert result["missing"] == [i for i in imeis if i not in with_fix]


# --- item 11: sub-account discovery --------------------------------------------------------------------

def test_without_targets_the_login_and_its_sub_accounts_are_discovered(sim_env, monkeypatch):
    server = sim_env({"accounts": 3})
    conn = json.loads(__import__("os").environ["AIRFLOW_CONN_TRACKSOLID_API"])
    conn["extra"].pop("targets")
    monkeypatch.setenv("AIRFLOW_CONN_TRACKSOLID_API", json.dumps(conn))
    hook = TracksolidHook()
    assert hook.targets == [server.cfg.account_names()[0]]  # configured: the login alone
    assert hook.account_targets() == server.cfg.account_names()
    assert methods(server).count("jimi.user.child.list") == 3  # head, then each child (no grandchildren)


def test_failed_discovery_says_to_set_targets(sim_env, monkeypatch):
    server = sim_env()
    conn = json.loads(__import__("os").environ["AIRFLOW_CONN_TRACKSOLID_API"])
    conn["extra"].pop("targets")
    monkeypatch.setenv("AIRFLOW_CONN_TRACKSOLID_API", json.dumps(conn))
    server.set_faults("jimi.user.child.list", FaultSpec(sequence=["result_scalar"]))
    with pytest.raises(TracksolidConfigError, match="Set the extra 'targets'") as info:
        TracksolidHook().account_targets()
    assert not is_retriable(info.value)


def test_configured_targets_are_not_rediscovered(sim_env):
    server = sim_env()
    hook = TracksolidHook()
    assert hook.account_targets() == server.cfg.account_names()
    assert "jimi.user.child.list" not in methods(server)


# --- item 12: the URI form can say http:// ------------------------------------------------------------

@pytest.mark.parametrize("form", ["scheme_in_host", "scheme_extra"])
def test_uri_connection_with_an_http_endpoint(sim_env, monkeypatch, form):
    server = sim_env()
    conn = json.loads(__import__("os").environ["AIRFLOW_CONN_TRACKSOLID_API"])
    host, port = server.url.split("://", 1)[1].split("/", 1)[0].split(":")
    query = f"app_key={conn['extra']['app_key']}&app_secret={conn['extra']['app_secret']}&rate_limit_dir=" \
            f"{quote(conn['extra']['rate_limit_dir'], safe='')}"
    auth = f"{quote(conn['login'], safe='')}:{quote(conn['password'], safe='')}"
    if form == "scheme_in_host":
        uri = f"tracksolid://http://{auth}@{host}:{port}/route%2Frest?{query}"
    else:
        uri = f"tracksolid://{auth}@{host}:{port}/route%2Frest?{query}&scheme=http"
    monkeypatch.setenv("AIRFLOW_CONN_TRACKSOLID_API", uri)
    hook = TracksolidHook()
    assert hook.settings.url == f"http://{host}:{port}/route/rest"
    assert hook.list_devices(conn["login"])
