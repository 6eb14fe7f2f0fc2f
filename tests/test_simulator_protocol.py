"""The simulator speaks the Tracksolid protocol over real HTTP: signature, timestamp window, tokens, limits,
rate limits, faults and the document's quirks (TRACKSOLID_API.md §1–§6)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import pytest
import requests

from tracksolid_simulator import FaultSpec, sign_params
from tracksolid_simulator.client import SimpleClient
from tracksolid_simulator.protocol import md5_lower

FROZEN = datetime(2025, 6, 4, 12, 0, tzinfo=UTC)  # a Wednesday: yesterday was a working day
DAY_BEFORE = (FROZEN - timedelta(days=1)).replace(hour=0)


def fmt(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def client_for(server, login: bool = True, account_index: int = 0, **kwargs) -> SimpleClient:
    client = SimpleClient(server.url, server.cfg.app_key, server.cfg.app_secret, **kwargs)
    if login:
        account, password = server.cfg.account_credentials()[account_index]
        assert client.login(account, password)["code"] == 0
    return client


def head_imeis(server, account_index: int = 0) -> list[str]:
    return server.fleet.imeis_of(server.cfg.account_names()[account_index])


# ------------------------------------------------------------------------------------ signature ----
def test_signature_matches_documented_example():
    # The worked example of the official document (token.get, values as printed there).
    params = {"app_key": "8FB345B8693CCD00CE073CAB5F094009339A22A4105B6558", "expires_in": "7200",
              "format": "json", "method": "jimi.oauth.token.get", "sign_method": "md5",
              "timestamp": "2025-05-08 10:23:00", "user_id": "JMTEST123",
              "user_pwd_md5": "21218cca77804d2ba1922c33e0151105", "v": "1.0"}
    text = "c0aa0226fddc4365a3c67fef45427f8a" + "".join(k + params[k] for k in sorted(params)) \
        + "c0aa0226fddc4365a3c67fef45427f8a"
    import hashlib

    assert sign_params(params, "c0aa0226fddc4365a3c67fef45427f8a") == hashlib.md5(text.encode()).hexdigest().upper()
    # empty values are dropped, sign itself is ignored
    assert sign_params({**params, "map_type": "", "sign": "X"}, "s") == sign_params(params, "s")


def test_signed_call_accepted_and_bad_sign_refused(simulator):
    client = client_for(simulator)
    ok = client.call("jimi.user.device.list", target=simulator.cfg.account_names()[0])
    assert ok["code"] == 0 and len(ok["result"]) == len(head_imeis(simulator))
    form = client.signed("jimi.user.device.list", {"target": simulator.cfg.account_names()[0]})
    form["sign"] = form["sign"][:-1] + ("0" if form["sign"][-1] != "0" else "1")
    assert client.post(form).json()["code"] == 1001
    form = client.signed("jimi.user.device.list", {"target": simulator.cfg.account_names()[0]})
    form["target"] = simulator.cfg.account_names()[1]  # tampered after signing
    assert client.post(form).json()["code"] == 1001
    assert client.post({k: v for k, v in form.items() if k != "sign"}).json()["code"] == 1001


def test_bad_sign_and_stale_timestamp_codes_are_configurable(simulator_factory):
    server = simulator_factory(bad_sign_code=1004, stale_timestamp_code=1004)
    client = client_for(server, login=False)
    form = client.signed("jimi.oauth.token.get", {"user_id": "x", "user_pwd_md5": "y", "expires_in": 60})
    form["sign"] = "0" * 32
    assert client.post(form).json()["code"] == 1004
    stale = client.signed("jimi.oauth.token.get", {"user_id": "x", "user_pwd_md5": "y", "expires_in": 60},
                          timestamp=datetime.now(UTC) - timedelta(minutes=11))
    assert client.post(stale).json()["code"] == 1004


def test_timestamp_window_is_plus_minus_ten_minutes(simulator):
    client = client_for(simulator)
    target = {"target": simulator.cfg.account_names()[0]}
    for skew, expected in ((-9, 0), (9, 0), (-11, 1001), (11, 1001)):
        form = client.signed("jimi.user.device.list", target, timestamp=datetime.now(UTC) + timedelta(minutes=skew))
        assert client.post(form).json()["code"] == expected, skew
    form = client.signed("jimi.user.device.list", target)
    form["timestamp"] = datetime.now(UTC).isoformat()
    form["sign"] = sign_params(form, simulator.cfg.app_secret)
    assert client.post(form).json()["code"] == 1001


def test_version_09_skips_signature_and_wrong_transport_is_refused(simulator):
    client = client_for(simulator)
    form = client.signed("jimi.user.device.list", {"target": simulator.cfg.account_names()[0]})
    form.update(v="0.9", sign="whatever")
    assert client.post(form).json()["code"] == 0
    assert requests.get(simulator.url, params=form, timeout=10).json()["code"] == 1007
    assert requests.post(simulator.url, json=form, timeout=10).json()["code"] == 1008
    assert requests.post(simulator.url, data={}, timeout=10).json()["code"] == 1001


# --------------------------------------------------------------------------------------- tokens ----
def test_token_get_result_and_wrong_password(simulator):
    client = client_for(simulator, login=False)
    account, password = simulator.cfg.account_credentials()[0]
    body = client.login(account, password, expires_in=600)
    assert body["code"] == 0
    result = body["result"]
    assert set(result) == {"appKey", "account", "accessToken", "expiresIn", "refreshToken", "time"}
    assert result["account"] == account and result["expiresIn"] == 600 and result["appKey"] == simulator.cfg.app_key
    assert client.call("jimi.oauth.token.get", user_id=account, user_pwd_md5=md5_lower("wrong"),
                       expires_in=600)["code"] == 1002
    assert client.call("jimi.oauth.token.get", user_id=account, user_pwd_md5=md5_lower(password),
                       expires_in=30)["code"] == 1001
    assert client_for(simulator, login=False).call(
        "jimi.user.device.list", target=account)["code"] == 1004  # no token at all


def test_token_expiry_and_refresh(simulator_factory):
    server = simulator_factory(token_ttl_s=1)
    client = client_for(server)
    target = server.cfg.account_names()[0]
    assert client.call("jimi.user.device.list", target=target)["code"] == 0
    time.sleep(1.3)
    assert client.call("jimi.user.device.list", target=target)["code"] == 1004
    old_access = client.access_token
    assert client.refresh(expires_in=60)["code"] == 0  # an expired token may be refreshed (default)
    assert client.access_token != old_access
    assert client.call("jimi.user.device.list", target=target)["code"] == 0
    stale = SimpleClient(server.url, server.cfg.app_key, server.cfg.app_secret)
    stale.access_token = old_access
    assert stale.call("jimi.user.device.list", target=target)["code"] == 1004  # refreshed → old revoked


def test_refresh_of_expired_token_can_be_refused(simulator_factory):
    server = simulator_factory(token_ttl_s=1, refresh_expired_allowed=False)
    client = client_for(server)
    time.sleep(1.3)
    assert client.refresh(expires_in=60)["code"] == 1004
    account, password = server.cfg.account_credentials()[0]
    assert client.login(account, password)["code"] == 0  # fall back to token.get


def test_token_get_too_often_is_refused(simulator_factory):
    server = simulator_factory(token_get_limit=2, token_get_window_s=60)
    client = client_for(server, login=False)
    account, password = server.cfg.account_credentials()[0]
    codes = [client.login(account, password)["code"] for _ in range(3)]
    assert codes == [0, 0, 1006]
    other, other_password = server.cfg.account_credentials()[1]
    assert client.login(other, other_password)["code"] == 0  # the limit is per account


def test_one_token_serves_many_calls_and_several_processes(simulator):
    client = client_for(simulator)
    target = simulator.cfg.account_names()[0]
    for _ in range(20):
        assert client.call("jimi.user.device.list", target=target)["code"] == 0
    script = (
        "import sys, json\n"
        "from tracksolid_simulator.client import SimpleClient\n"
        "c = SimpleClient(sys.argv[1], sys.argv[2], sys.argv[3]); c.access_token = sys.argv[4]\n"
        "print(json.dumps([c.call('jimi.user.device.list', target=sys.argv[5])['code'] for _ in range(5)]))\n"
    )
    args = [sys.executable, "-c", script, simulator.url, simulator.cfg.app_key, simulator.cfg.app_secret,
            client.access_token, target]
    procs = [subprocess.Popen(args, stdout=subprocess.PIPE, text=True) for _ in range(3)]
    outputs = [json.loads(p.communicate(timeout=60)[0]) for p in procs]
    assert outputs == [[0] * 5] * 3
    token_gets = [e for e in simulator.request_log if e["method"] == "jimi.oauth.token.get"]
    assert len(token_gets) == 1


def test_head_token_sees_sub_accounts_but_sub_token_does_not_see_head(simulator):
    head, sub = simulator.cfg.account_names()
    head_client = client_for(simulator)
    children = head_client.call("jimi.user.child.list", target=head)
    assert [c["account"] for c in children["result"]] == [sub]
    assert head_client.call("jimi.user.device.list", target=sub)["code"] == 0
    sub_client = client_for(simulator, account_index=1)
    assert sub_client.call("jimi.user.device.list", target=sub)["code"] == 0
    assert sub_client.call("jimi.user.device.list", target=head)["code"] == 1002
    assert sub_client.call("jimi.track.device.detail", imei=head_imeis(simulator)[0])["code"] == 1002


# ------------------------------------------------------------------------------- method limits -----
def test_imei_cap_illegal_and_unknown_imeis(simulator_factory):
    server = simulator_factory(imei_cap=3, clock_start=FROZEN, clock_speed=0)
    client = client_for(server)
    imeis = [d.imei for d in server.fleet.devices]
    window = {"begin_time": fmt(DAY_BEFORE), "end_time": fmt(DAY_BEFORE + timedelta(hours=6))}
    assert client.call("jimi.device.track.mileage", imeis=",".join(imeis[:3]), **window)["code"] == 0
    assert client.call("jimi.device.track.mileage", imeis=",".join(imeis[:4]), **window)["code"] == 220
    assert client.call("jimi.device.location.get", imeis=",".join(imeis[:4]))["code"] == 220
    assert client.call("jimi.device.alarm.list", imeis=",".join(imeis[:4]), page_no=1, page_size=10,
                       **window)["code"] == 220
    assert client.call("jimi.device.track.mileage", imeis="12ab,34", **window)["code"] == 219
    assert client.call("jimi.device.track.mileage", imeis="869999999999999", **window)["code"] == 1002


def test_windows_are_enforced(simulator_factory):
    server = simulator_factory(clock_start=FROZEN, clock_speed=0)
    client = client_for(server)
    imei = server.fleet.devices[0].imei
    eight_days = {"begin_time": fmt(FROZEN - timedelta(days=8, hours=1)), "end_time": fmt(FROZEN - timedelta(hours=1))}
    assert client.call("jimi.device.track.list", imei=imei, **eight_days)["code"] == 1001
    future = {"begin_time": fmt(FROZEN - timedelta(hours=1)), "end_time": fmt(FROZEN + timedelta(minutes=5))}
    assert client.call("jimi.device.track.list", imei=imei, **future)["code"] == 1001
    backwards = {"begin_time": fmt(FROZEN - timedelta(hours=1)), "end_time": fmt(FROZEN - timedelta(hours=2))}
    assert client.call("jimi.device.track.list", imei=imei, **backwards)["code"] == 1001
    old = {"begin_time": fmt(FROZEN - timedelta(days=100)), "end_time": fmt(FROZEN - timedelta(days=99))}
    assert client.call("jimi.device.track.list", imei=imei, **old)["code"] == 1001
    two_imeis = ",".join(d.imei for d in server.fleet.devices[:2])
    ok = {"begin_time": fmt(FROZEN - timedelta(hours=2)), "end_time": fmt(FROZEN - timedelta(hours=1))}
    assert client.call("jimi.device.track.list", imei=two_imeis, **ok)["code"] == 1001
    month = {"begin_time": fmt(FROZEN - timedelta(days=40)), "end_time": fmt(FROZEN - timedelta(days=1))}
    assert client.call("jimi.device.alarm.list", imeis=imei, page_no=1, page_size=10, **month)["code"] == 1001
    assert client.call("jimi.device.alarm.list", imeis=imei, page_no=1, page_size=101, **ok)["code"] == 1001


def _all_pages_mileage(client, imeis, window, page_size, base):
    rows, start = [], base
    while True:
        body = client.call("jimi.device.track.mileage", imeis=imeis, start_row=start, page_size=page_size, **window)
        assert body["code"] == 0
        rows += body["result"]
        if len(body["result"]) < page_size:
            return rows
        start += page_size


@pytest.mark.parametrize("base", [0, 1])
def test_mileage_paging_reassembles_the_whole_answer(simulator_factory, base):
    server = simulator_factory(clock_start=FROZEN, clock_speed=0, start_row_base=base)
    client = client_for(server)
    imeis = ",".join(head_imeis(server))
    window = {"begin_time": fmt(DAY_BEFORE - timedelta(days=2)), "end_time": fmt(DAY_BEFORE + timedelta(days=1))}
    whole = client.call("jimi.device.track.mileage", imeis=imeis, **window)["result"]
    assert len(whole) > 7
    assert _all_pages_mileage(client, imeis, window, 7, base) == whole
    if base == 1:
        assert client.call("jimi.device.track.mileage", imeis=imeis, start_row=0, page_size=5, **window)["code"] == 1001


def test_parking_alarm_and_obd_paging(simulator_factory):
    server = simulator_factory(clock_start=FROZEN, clock_speed=0, devices=24, seed=3)
    client = client_for(server)
    account = server.cfg.account_names()[0]
    imeis = ",".join(head_imeis(server))
    window = {"start_time": fmt(DAY_BEFORE - timedelta(days=2)), "end_time": fmt(DAY_BEFORE + timedelta(days=1))}
    first = client.call("jimi.open.platform.report.parking", account=account, imeis=imeis, start_row=0,
                        page_size=5, acc_type="off", **window)
    total = int(first["data"]["dataTotalRows"])
    assert first["result"] is None and total > 5 and len(first["data"]["rows"]) == 5
    rows = []
    for start in range(0, total, 5):
        rows += client.call("jimi.open.platform.report.parking", account=account, imeis=imeis, start_row=start,
                            page_size=5, acc_type="off", **window)["data"]["rows"]
    assert len(rows) == total and len({(r["imei"], r["startTime"]) for r in rows}) == total

    alarm_window = {"begin_time": window["start_time"], "end_time": window["end_time"]}
    pages, page_no = [], 1
    while True:
        page = client.call("jimi.device.alarm.list", imeis=imeis, page_no=page_no, page_size=10,
                           **alarm_window)["result"]
        pages += page
        if len(page) < 10:
            break
        page_no += 1
    expected = server.truth.alarms(DAY_BEFORE - timedelta(days=2), DAY_BEFORE + timedelta(days=1), head_imeis(server))
    assert len(pages) == len(expected) > 10

    obd_imeis = [d.imei for d in server.fleet.devices if d.has_obd and d.account == account]
    body = client.call("jimi.device.obd.list", account=account, imeis=",".join(obd_imeis), page_no=1,
                       page_size=100, **window)
    data = body["data"]
    assert body["result"] is None and data["totalRecord"] == len(server.truth.obd(
        DAY_BEFORE - timedelta(days=2), DAY_BEFORE + timedelta(days=1), obd_imeis)) > 0
    assert data["totalPage"] == -(-data["totalRecord"] // 100)


def test_alarm_row_cap(simulator_factory):
    server = simulator_factory(clock_start=FROZEN, clock_speed=0, alarm_row_cap=15)
    client = client_for(server)
    imeis = ",".join(head_imeis(server))
    window = {"begin_time": fmt(DAY_BEFORE - timedelta(days=5)), "end_time": fmt(DAY_BEFORE + timedelta(days=1))}
    got = []
    for page_no in (1, 2, 3):
        got += client.call("jimi.device.alarm.list", imeis=imeis, page_no=page_no, page_size=10, **window)["result"]
    assert len(got) == 15


# ---------------------------------------------------------------------------------------- rates ----
def test_rate_limit_burst_is_measurable(simulator_factory):
    server = simulator_factory(max_requests_per_s=5, burst=5)
    client = client_for(server)  # token.get consumes one token of the bucket
    target = server.cfg.account_names()[0]
    started = time.monotonic()
    codes = [client.call("jimi.user.device.list", target=target)["code"] for _ in range(30)]
    elapsed = time.monotonic() - started
    assert set(codes) <= {0, 1006} and codes.count(1006) > 0
    # successes never exceed the bucket: burst + rate * elapsed (minus the login)
    assert codes.count(0) <= 5 + 5 * elapsed
    time.sleep(1.0)
    assert client.call("jimi.user.device.list", target=target)["code"] == 0  # refilled


def test_daily_quota(simulator_factory):
    server = simulator_factory(daily_quota=4)
    client = client_for(server)
    target = server.cfg.account_names()[0]
    codes = [client.call("jimi.user.device.list", target=target)["code"] for _ in range(5)]
    assert codes == [0, 0, 0, 1006, 1006]


# --------------------------------------------------------------------------------------- faults ----
def test_scripted_faults(simulator):
    client = client_for(simulator)
    target = simulator.cfg.account_names()[0]
    simulator.set_faults("jimi.user.device.list", FaultSpec(sequence=[-1, 1006, 500, 502, "truncate", "ok"]))
    assert client.call("jimi.user.device.list", target=target)["code"] == -1
    assert client.call("jimi.user.device.list", target=target)["code"] == 1006
    form = client.signed("jimi.user.device.list", {"target": target})
    assert client.post(form).status_code == 500
    assert client.post(client.signed("jimi.user.device.list", {"target": target})).status_code == 502
    truncated = client.post(client.signed("jimi.user.device.list", {"target": target}))
    assert truncated.status_code == 200
    with pytest.raises(ValueError):
        json.loads(truncated.text)
    assert client.call("jimi.user.device.list", target=target)["code"] == 0
    assert client.call("jimi.user.device.list", target=target)["code"] == 0  # sequence used up
    faults = [e["fault"] for e in simulator.request_log if e["method"] == "jimi.user.device.list"]
    assert faults == ["-1", "1006", "http500", "http502", "truncate", None, None]


def test_token_revoked_mid_run_and_recovery(simulator):
    client = client_for(simulator)
    target = simulator.cfg.account_names()[0]
    simulator.set_faults("*", FaultSpec(sequence=["ok", "1004"]))
    assert client.call("jimi.user.device.list", target=target)["code"] == 0
    assert client.call("jimi.user.device.list", target=target)["code"] == 1004
    assert client.call("jimi.user.device.list", target=target)["code"] == 1004  # really revoked
    account, password = simulator.cfg.account_credentials()[0]
    assert client.login(account, password)["code"] == 0
    assert client.call("jimi.user.device.list", target=target)["code"] == 0


def test_slow_response_past_client_timeout(simulator):
    client = client_for(simulator, timeout=0.3)
    simulator.set_faults("jimi.user.device.list", FaultSpec(sequence=["slow"], slow_s=1.5))
    with pytest.raises(requests.exceptions.Timeout):
        client.call("jimi.user.device.list", target=simulator.cfg.account_names()[0])
    assert client.call("jimi.user.device.list", target=simulator.cfg.account_names()[0])["code"] == 0


def test_fault_probability_and_http_control(simulator):
    client = client_for(simulator)
    target = simulator.cfg.account_names()[0]
    reply = requests.post(simulator.base_url + "/_sim/faults", timeout=10,
                          json={"method": "jimi.user.device.list", "probability": 1.0, "kinds": [-1]})
    assert reply.status_code == 200 and "jimi.user.device.list" in reply.json()
    assert {client.call("jimi.user.device.list", target=target)["code"] for _ in range(5)} == {-1}
    requests.post(simulator.base_url + "/_sim/faults", json={"clear": True}, timeout=10)
    assert client.call("jimi.user.device.list", target=target)["code"] == 0
    bad = requests.post(simulator.base_url + "/_sim/faults", json={"method": "x", "kinds": ["nope"],
                                                                  "probability": 0.5}, timeout=10)
    assert bad.status_code == 400
    simulator.set_faults("jimi.user.device.list", FaultSpec(probability=0.5, kinds=(-1,), seed=3))
    codes = [client.call("jimi.user.device.list", target=target)["code"] for _ in range(40)]
    assert 5 < codes.count(-1) < 35


def test_devices_silently_missing_from_location_list(simulator_factory):
    server = simulator_factory(location_missing_ratio=0.5, devices=40, accounts=1, seed=11)
    client = client_for(server)
    target = server.cfg.account_names()[0]
    body = client.call("jimi.user.device.location.list", target=target)
    listed = {r["imei"] for r in body["result"]}
    entry = [e for e in server.request_log if e["method"] == "jimi.user.device.location.list"][-1]
    missing = set(entry["missing_imeis"])
    assert missing and not (missing & listed)
    assert listed | missing <= set(server.fleet.imeis_of(target))
    got = client.call("jimi.device.location.get", imeis=",".join(sorted(missing)[:20]))
    assert got["code"] == 0 and {r["imei"] for r in got["result"]} <= missing and got["result"]


def test_empty_fault_returns_success_without_rows(simulator_factory):
    server = simulator_factory(clock_start=FROZEN, clock_speed=0)
    client = client_for(server)
    account = server.cfg.account_names()[0]
    server.set_faults("jimi.open.platform.report.parking", FaultSpec(probability=1.0, kinds=("empty",)))
    body = client.call("jimi.open.platform.report.parking", account=account, imeis=",".join(head_imeis(server)),
                       start_time=fmt(DAY_BEFORE), end_time=fmt(DAY_BEFORE + timedelta(days=1)), start_row=0,
                       page_size=50, acc_type="off")
    assert body["code"] == 0 and body["data"]["rows"] == [] and body["data"]["dataTotalRows"] == "0"


# --------------------------------------------------------------------------------------- quirks ----
def test_document_quirks(simulator_factory):
    server = simulator_factory(clock_start=FROZEN, clock_speed=0, accounts=3, devices=30)
    client = client_for(server)
    head = server.cfg.account_names()[0]
    assert len(server.cfg.account_names()) == 3
    listed = client.call("jimi.user.device.list", target=head)["result"]
    assert all(r["vehicleNumber"] is None and r["driverName"] is None and r["sim"] is None for r in listed)
    detail = client.call("jimi.track.device.detail", imei=listed[0]["imei"])["result"]
    truth = next(d for d in server.truth.devices() if d["imei"] == listed[0]["imei"])
    assert detail["sim"] == truth["sim"] and detail["vehicleName"] == truth["vehicle_name"]
    assert detail["VIN"] == truth["vin"] and isinstance(detail["currentMileage"], str)
    imeis = ",".join(server.fleet.imeis_of(head))
    window = {"begin_time": fmt(DAY_BEFORE), "end_time": fmt(DAY_BEFORE + timedelta(days=1))}
    mileage = client.call("jimi.device.track.mileage", imeis=imeis, **window)
    trip = mileage["result"][0]
    assert isinstance(trip["distance"], int) and trip["distance"] > 500  # metres, not km
    assert "runTimeSecond" in trip and isinstance(mileage["data"], list)
    assert {"imei", "totalMileage"} == set(mileage["data"][0])
    alarms = client.call("jimi.device.alarm.list", imeis=imeis, page_no=1, page_size=100, **window)["result"]
    assert alarms and "alarmTypeName" in alarms[0] and "alertTypeName" not in alarms[0]
    assert isinstance(alarms[0]["speed"], str) and isinstance(alarms[0]["lat"], float)
    parking = client.call("jimi.open.platform.report.parking", account=head, imeis=imeis, start_row=0,
                          page_size=100, acc_type="off", start_time=window["begin_time"],
                          end_time=window["end_time"])["data"]["rows"]
    assert parking and parking[0]["startTime"].endswith(".000Z") and isinstance(parking[0]["durSecond"], str)
    location = client.call("jimi.user.device.location.list", target=head)["result"][0]
    assert isinstance(location["speed"], str) and location["accStatus"] in ("0", "1")
    track = client.call("jimi.device.track.list", imei=listed[0]["imei"], **window)
    assert track["result"] and track["result"][0]["accStatus"] in ("ON", "OFF") and "mileage" in track["data"]


def test_elapsed_variant_of_run_time(simulator_factory):
    server = simulator_factory(clock_start=FROZEN, clock_speed=0, mileage_elapsed_key="elapsed")
    client = client_for(server)
    body = client.call("jimi.device.track.mileage", imeis=",".join(head_imeis(server)),
                       begin_time=fmt(DAY_BEFORE), end_time=fmt(DAY_BEFORE + timedelta(days=1)))
    assert body["result"] and all("elapsed" in r and "runTimeSecond" not in r for r in body["result"])


def test_request_log_never_holds_secrets(simulator):
    client = client_for(simulator)
    client.call("jimi.user.device.list", target=simulator.cfg.account_names()[0])
    dumped = json.dumps(requests.get(simulator.base_url + "/_sim/requests", timeout=10).json())
    _, password = simulator.cfg.account_credentials()[0]
    for secret in (simulator.cfg.app_secret, client.access_token, md5_lower(password), password):
        assert secret not in dumped
    assert "jimi.oauth.token.get" in dumped


def test_cli_serve_prints_credentials_and_serves(tmp_path):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "tracksolid_simulator", "serve", "--port", str(port),
                             "--devices", "5", "--accounts", "3", "--seed", "2"], stdout=subprocess.PIPE, text=True)
    try:
        info = json.loads(proc.stdout.readline())
        assert info["url"] == f"http://127.0.0.1:{port}/route/rest" and len(info["accounts"]) == 3
        client = SimpleClient(info["url"], info["app_key"], info["app_secret"])
        assert client.login(info["accounts"][0]["account"], info["accounts"][0]["password"])["code"] == 0
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    assert proc.returncode == 0


def test_tracksolid_conn_fixture_points_at_the_simulator(tracksolid_conn):
    import os

    conn = json.loads(os.environ["AIRFLOW_CONN_TRACKSOLID_API"])
    assert conn["conn_type"] == "tracksolid" and conn["host"] == tracksolid_conn.url
    extra = conn["extra"]
    assert extra["targets"] == tracksolid_conn.cfg.account_names() and extra["batch_size"] == 50
    client = SimpleClient(conn["host"], extra["app_key"], extra["app_secret"])
    assert client.login(conn["login"], conn["password"])["code"] == 0
    for target in extra["targets"]:  # the head account's token serves every target
        assert client.call("jimi.user.device.list", target=target)["code"] == 0
