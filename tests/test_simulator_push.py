"""Push traffic generated from the truth, in both formats, sent over real HTTP to a recording receiver."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta

import pytest
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from tracksolid_hook.values import parse_time
from tracksolid_simulator import Fleet, SimulatorConfig

START = datetime(2025, 5, 27, 3, 0, tzinfo=UTC)
END = START + timedelta(hours=6)


@pytest.fixture
def fleet():
    return Fleet(SimulatorConfig(devices=10, accounts=2, seed=7))


@pytest.fixture
def receiver():
    """A tiny real HTTP receiver recording (path, form) of every POST."""
    received: list[tuple[str, dict]] = []

    def app(environ, start_response):
        request = Request(environ)
        received.append((request.path, dict(request.form)))
        return Response(json.dumps({"code": 0, "msg": "success"}), mimetype="application/json")(environ, start_response)

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", received
    server.shutdown()
    server.server_close()


def test_iothub_push_carries_exactly_the_truth(fleet):
    reqs = fleet.push_requests(START, END, fmt="iothub", token="t0k")
    assert {path for path, _ in reqs} >= {"/pushgps", "/pushhb", "/pushalarm", "/pushobd"}
    by_path: dict[str, list] = {}
    for path, form in reqs:
        assert form["token"] == "t0k" and set(form) == {"token", "data_list"}
        items = json.loads(form["data_list"])
        assert 0 < len(items) <= 50
        by_path.setdefault(path, []).extend(items)
    gps = by_path["/pushgps"]
    truth = fleet.truth.fixes(START, END)
    assert sorted((g["deviceImei"], parse_time(g["gpsTime"])) for g in gps) == \
        sorted((f["imei"], f["gps_time"]) for f in truth)
    gates = [parse_time(g["gateTime"]) for g in gps]
    assert gates == sorted(gates)  # sent in arrival order: re-uploaded points come late
    assert any(g["gpsMode"] == "1" for g in gps)
    assert {"deviceImei", "gpsTime", "gateTime", "lat", "lng", "gpsSpeed", "direction", "acc", "satelliteNum",
            "postType", "gpsMode", "distance", "altitude"} <= set(gps[0])
    alarms = [a for a in by_path["/pushalarm"] if a["type"] == "ALARM"]  # ICCID / VIN reports ride along
    assert [(a["deviceImei"], a["msg"]["alertType"], parse_time(a["msg"]["alarmTime"])) for a in alarms] == \
        [(a["imei"], a["alarm_type"], a["alarm_time"]) for a in fleet.truth.alarms(START, END)]
    assert len(by_path["/pushobd"]) == len(fleet.truth.obd(START, END))
    assert len(by_path["/pushhb"]) == len(fleet.truth.heartbeats(START, END))


def test_pro_push_one_alarm_per_request(fleet):
    reqs = fleet.push_requests(START, END, fmt="pro")
    truth = fleet.truth.alarms(START, END)
    assert len(reqs) == len(truth) > 0
    for (path, form), alarm in zip(reqs, truth, strict=True):
        assert path == "" and form["msgType"] == "jimi.push.device.alarm"
        data = json.loads(form["data"])
        assert set(data) == {"imei", "deviceName", "alarmType", "alarmName", "lat", "lng", "alarmTime"}
        assert (data["imei"], data["alarmType"], parse_time(data["alarmTime"])) == \
            (alarm["imei"], alarm["alarm_type"], alarm["alarm_time"])


def test_replays_are_identical_repeats(fleet):
    plain = fleet.push_requests(START, END, fmt="iothub", token="x")
    replayed = fleet.push_requests(START, END, fmt="iothub", token="x", replay_ratio=0.3, seed=4)
    assert len(replayed) > len(plain)
    key = lambda r: (r[0], json.dumps(r[1], sort_keys=True))  # noqa: E731
    assert {key(r) for r in replayed} == {key(r) for r in plain}
    assert fleet.push_requests(START, END, fmt="iothub", token="x", replay_ratio=0.3, seed=4) == replayed
    with pytest.raises(ValueError):
        fleet.push_requests(START, END, fmt="xml")


def test_cli_push_sends_everything(receiver):
    url, received = receiver
    proc = subprocess.run(
        [sys.executable, "-m", "tracksolid_simulator", "push", "--url", url, "--start", START.isoformat(),
         "--end", (START + timedelta(hours=2)).isoformat(), "--format", "iothub", "--token", "abc",
         "--devices", "10", "--accounts", "2", "--seed", "7"],
        capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    expected = Fleet(SimulatorConfig(devices=10, accounts=2, seed=7)).push_requests(
        START, START + timedelta(hours=2), fmt="iothub", token="abc")
    assert json.loads(proc.stdout)["requests"] == len(expected) == len(received)
    assert [(p, f) for p, f in received] == expected
    proc = subprocess.run([sys.executable, "-m", "tracksolid_simulator", "push", "--url", url, "--start",
                           START.isoformat(), "--end", END.isoformat(), "--format", "iothub"],
                          capture_output=True, text=True, timeout=120, env={"PATH": "/usr/bin"})
    assert proc.returncode == 2 and "token" in proc.stderr
