"""Acceptance: the simulator pushes a day of traffic in both formats, with replays, to the receiver on a real
port; every table then equals the simulator's ground truth exactly (no row missing, none extra, no duplicate)."""

from __future__ import annotations

import json
import threading
from collections import Counter
from datetime import UTC, datetime, timedelta

import requests

from tests.fixtures.databases import scalar
from tracksolid_simulator import Fleet, SimulatorConfig

DAY = datetime(2025, 3, 12, tzinfo=UTC)  # a day with LOGIN/LOGOUT events and fault codes
FLEET = {"devices": 12, "accounts": 2, "seed": 7}


def send_all(hook, reqs: list[tuple[str, dict]], senders: int = 4) -> Counter:
    """POST every request (path "" = the Tracksolid Pro URL) from a few concurrent senders; returns statuses."""
    statuses: Counter = Counter()
    lock = threading.Lock()
    shares = [reqs[k::senders] for k in range(senders)]

    def run(share):
        session = requests.Session()
        for path, form in share:
            url = f"{hook.base_url}{path}" if path else hook.pro_url
            status = session.post(url, data=form, timeout=60).status_code
            with lock:
                statuses[status] += 1
        session.close()

    threads = [threading.Thread(target=run, args=(share,)) for share in shares]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=600)
    return statuses


def _canonical(value):
    return json.dumps(value, sort_keys=True) if isinstance(value, dict | list) else value


def table_matches_truth(conn, table: str, expected: list[dict]) -> tuple[Counter, Counter]:
    """(missing, extra) rows of ``tracksolid.<table>`` against ``expected``, on the columns the truth names."""
    columns = list(expected[0])
    with conn.cursor() as cur:
        cur.execute(f"SELECT {', '.join(columns)} FROM tracksolid.{table}")
        stored = Counter(tuple(_canonical(v) for v in row) for row in cur.fetchall())
    wanted = Counter(tuple(_canonical(row[c]) for c in columns) for row in expected)
    return wanted - stored, stored - wanted


def test_a_day_of_iothub_and_pro_pushes_with_replays_equals_the_ground_truth(webhook, live_conn):
    fleet = Fleet(SimulatorConfig(**FLEET))
    end = DAY + timedelta(days=1)
    iothub = fleet.push_requests(DAY, end, fmt="iothub", replay_ratio=0.1, token=webhook.token, seed=3)
    pro = fleet.push_requests(DAY, end, fmt="pro", replay_ratio=0.2, seed=4)
    assert len(iothub) > 100 and len(pro) > 5
    replays = len(iothub) + len(pro) - len({(p, json.dumps(f, sort_keys=True)) for p, f in iothub + pro})
    assert replays > 0

    statuses = send_all(webhook, iothub + pro)
    assert statuses == Counter({200: len(iothub) + len(pro)})

    truth = fleet.truth.push_rows(DAY, end)
    # Every alarm came by both formats: the IoT-Hub item has speed and geofence, the Pro one the device name;
    # whichever arrived first, the row ends up with both (a later push fills empty columns).
    names = {(a["imei"], a["alarm_type"], a["alarm_time"]): a["device_name"] for a in fleet.truth.alarms(DAY, end)}
    truth["alarms"] = [{**a, "device_name": names[(a["imei"], a["alarm_type"], a["alarm_time"])]}
                       for a in truth["alarms"]]
    assert all(truth[t] for t in ("position_history", "heartbeats", "alarms", "obd_readings", "device_events",
                                  "fault_codes", "device_attribute_reports"))
    for table, expected in truth.items():
        if not expected:  # e.g. no LOGIN/LOGOUT that day: then nothing may be stored either
            assert scalar(live_conn, f"SELECT count(*) FROM tracksolid.{table}") == 0
            continue
        missing, extra = table_matches_truth(live_conn, table, expected)
        assert not missing and not extra, (
            f"{table}: {sum(missing.values())} missing, {sum(extra.values())} extra; "
            f"e.g. missing {list(missing)[:2]} extra {list(extra)[:2]}")
        assert scalar(live_conn, f"SELECT count(*) FROM tracksolid.{table}") == len(expected)

    # Live position = the newest pushed fix of each device.
    newest: dict[str, dict] = {}
    for fix in truth["position_history"]:
        if fix["imei"] not in newest or fix["gps_time"] > newest[fix["imei"]]["gps_time"]:
            newest[fix["imei"]] = fix
    with live_conn.cursor() as cur:
        cur.execute("SELECT imei, gps_time, lat, lng, source FROM tracksolid.live_positions ORDER BY imei")
        assert cur.fetchall() == [(f["imei"], f["gps_time"], f["lat"], f["lng"], "push")
                                  for _, f in sorted(newest.items())]
        # Every pushed device exists (unregistered: the device list never ran) with its latest ICCID / VIN.
        cur.execute("SELECT imei, iccid, vin FROM tracksolid.devices WHERE NOT is_registered ORDER BY imei")
        devices = cur.fetchall()
    latest: dict[tuple[str, str], tuple] = {}
    for report in truth["device_attribute_reports"]:
        key = (report["imei"], report["attribute"])
        if key not in latest or report["reported_at"] > latest[key][0]:
            latest[key] = (report["reported_at"], report["value"])
    pushed_imeis = {row["imei"] for rows in truth.values() for row in rows}
    assert devices == [(imei, latest.get((imei, "iccid"), (None, None))[1], latest.get((imei, "vin"), (None, None))[1])
                       for imei in sorted(pushed_imeis)]

    # The inbox holds each distinct request once; replays were counted, not stored.
    assert scalar(live_conn, "SELECT count(*) FROM tracksolid.push_inbox") == len(iothub) + len(pro) - replays
    assert scalar(live_conn, "SELECT sum(replay_count) FROM tracksolid.push_inbox") == replays
    assert scalar(live_conn, "SELECT count(*) FROM tracksolid.push_inbox WHERE status <> 'processed'") == 0


def test_pro_alarms_alone_equal_the_ground_truth_with_device_names(webhook, live_conn):
    fleet = Fleet(SimulatorConfig(**FLEET))
    end = DAY + timedelta(days=1)
    pro = fleet.push_requests(DAY, end, fmt="pro", replay_ratio=0.3, seed=5)
    assert send_all(webhook, pro) == Counter({200: len(pro)})
    expected = [{k: a[k] for k in ("imei", "alarm_type", "alarm_time", "alarm_name", "device_name", "lat", "lng")}
                for a in fleet.truth.alarms(DAY, end)]
    missing, extra = table_matches_truth(live_conn, "alarms", expected)
    assert not missing and not extra
