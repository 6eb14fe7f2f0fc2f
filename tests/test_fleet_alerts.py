"""Fleet alerts: episodes open / escalate / close exactly once; notifications counted at local receivers.

The silent scenario runs the real ``fleet_alerts`` DAG (``dag.test()``) on a simulator fleet: every device's
live row is what the simulator's location.list would say at each evaluation time, except one device that
goes silent through all four buckets and then reports again. Mail arrives at a local aiosmtpd server and a
chat POST at a local HTTP receiver (``notify_receivers``).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from fleet_ops import alerts
from tests.conftest import REPO_ROOT
from tests.fixtures.databases import scalar
from tracksolid_simulator import Fleet, SimulatorConfig

T0 = datetime(2026, 3, 2, 3, 0, tzinfo=UTC)  # 06:00 EAT
DEVICE_COLUMNS = ("imei", "account", "device_name", "mc_type", "license_plate_no", "driver_name",
                  "driver_phone", "assigned_city")


def _dag(dag_id: str):
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(REPO_ROOT / "dags" / f"{dag_id}.py"))
    assert bag.import_errors == {}
    return bag.dags[dag_id]


def _insert_devices(conn, devices) -> None:
    with conn.cursor() as cur:
        for d in devices:
            cur.execute(f"INSERT INTO tracksolid.devices ({', '.join(DEVICE_COLUMNS)}) VALUES"
                        f" ({', '.join(['%s'] * len(DEVICE_COLUMNS))})", [d.get(c) for c in DEVICE_COLUMNS])


def _set_live(conn, imei: str, gps_time: datetime, hb_time: datetime | None, lat=-1.28, lng=36.82,
              speed=0, acc=False) -> None:
    with conn.cursor() as cur:
        cur.execute(
            "INSERT INTO tracksolid.live_positions (imei, gps_time, hb_time, lat, lng, speed_kmh, acc_status)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (imei) DO UPDATE SET gps_time = excluded.gps_time,"
            " hb_time = excluded.hb_time, lat = excluded.lat, lng = excluded.lng,"
            " speed_kmh = excluded.speed_kmh, acc_status = excluded.acc_status",
            (imei, gps_time, hb_time, lat, lng, speed, acc))


def _expected_bucket(hours: float) -> str | None:
    """The oracle: the buckets of migration 0004 (8 / 12 / 24 / 36 h)."""
    reached = [b for b in (8, 12, 24, 36) if hours >= b]
    return f"{reached[-1]}h" if reached else None


def _episodes(conn, kind: str):
    with conn.cursor() as cur:
        cur.execute("SELECT subject, level, opened_at, escalated_at, closed_at, last_notified_level"
                    " FROM ops.fleet_alerts WHERE kind = %s ORDER BY alert_id", (kind,))
        return cur.fetchall()


def test_dag_conventions():
    dag = _dag("fleet_alerts")
    assert dag.timetable.expression == "*/15 * * * *" and dag.max_active_runs == 1
    assert dag.doc_md and dag.tags and dag.default_args["retries"] >= 1


def test_silent_device_escalates_through_every_bucket_then_closes(airflow_db, airflow_db_conns, live_conn,
                                                                   notify_receivers):
    fleet = Fleet(SimulatorConfig(devices=6, accounts=1, seed=5))
    devices = fleet.truth.devices()
    _insert_devices(live_conn, devices)
    victim = devices[2]["imei"]
    frozen = fleet.truth.latest_fix(victim, T0)
    dag = _dag("fleet_alerts")

    # Evaluation times (hours after T0): before the first bucket, into each bucket, a repeat within the
    # 12 h bucket (no new message), the 24 h and 36 h buckets; then the device reports again.
    steps = [1, 8.5, 12.5, 13, 24.5, 36.5, 37]
    expected_mails = 0
    for hours in steps:
        as_of = T0 + timedelta(hours=hours)
        for d in devices:
            fix = frozen if (d["imei"] == victim and hours < 37) else fleet.truth.latest_fix(d["imei"], as_of)
            _set_live(live_conn, d["imei"], fix["gps_time"], fix.get("hb_time") if d["imei"] != victim or
                      hours >= 37 else frozen["hb_time"], fix["lat"], fix["lng"])
        before = {s: lvl for s, lvl, *_ in _episodes(live_conn, "silent")}
        run = dag.test(run_conf={"kinds": ["silent"], "as_of": as_of.isoformat()})
        assert run.state == "success"
        # Oracle: the open episode of each device equals the bucket its truth says.
        with live_conn.cursor() as cur:
            cur.execute("SELECT imei, greatest(gps_time, hb_time) FROM tracksolid.live_positions")
            want = {imei: _expected_bucket((as_of - seen).total_seconds() / 3600) for imei, seen in cur.fetchall()}
        open_now = {s: lvl for s, lvl, _o, _e, closed, _n in _episodes(live_conn, "silent") if closed is None}
        assert open_now == {imei: b for imei, b in want.items() if b is not None}, hours
        changed = set(before.items()) != set(open_now.items())
        expected_mails += int(changed)
        notify_receivers.wait_for(mails=expected_mails, posts=expected_mails)
        assert len(notify_receivers.mails) == expected_mails, hours
        assert len(notify_receivers.posts) == expected_mails, hours

    episodes = [e for e in _episodes(live_conn, "silent") if e[0] == victim]
    assert len(episodes) == 1
    _subject, level, opened_at, escalated_at, closed_at, notified = episodes[0]
    assert (level, notified) == ("36h", "36h")
    assert opened_at == T0 + timedelta(hours=8.5)
    assert escalated_at == T0 + timedelta(hours=36.5)
    assert closed_at == T0 + timedelta(hours=37)
    # The victim's own messages: open, three escalations, cleared — each exactly once.
    name = devices[2]["device_name"]
    lines = [line for m in notify_receivers.mails for line in m["text"].splitlines() if name in line]
    assert [re.search(r"OPEN|ESCALATED|CLEARED", line)[0] for line in lines] == [
        "OPEN", "ESCALATED", "ESCALATED", "ESCALATED", "CLEARED"]
    chat_lines = [line for p in notify_receivers.posts for line in p["body"]["text"].splitlines() if name in line]
    assert len(chat_lines) == 5
    assert "[8h]" in chat_lines[0] and "[12h -> 24h]" in chat_lines[2] and "[36h]" in chat_lines[4]
    assert all(m["to"] == [notify_receivers.env["FLEET_NOTIFY_EMAIL_TO"]] for m in notify_receivers.mails)


def _fix(conn, imei, t, speed, acc, lat=-1.28, lng=36.82):
    with conn.cursor() as cur:
        cur.execute("INSERT INTO tracksolid.position_history (imei, gps_time, lat, lng, speed_kmh, acc_status,"
                    " source) VALUES (%s, %s, %s, %s, %s, %s, 'poll')", (imei, t, lat, lng, speed, acc))


def test_not_moved_idling_and_sla_open_and_close(live_conn):
    devs = [{"imei": f"8600000000000{i:02d}", "device_name": f"Van {i}", "assigned_city": "Nairobi"}
            for i in range(4)]
    _insert_devices(live_conn, devs)
    mover, parked, idler, _spare = (d["imei"] for d in devs)
    morning = datetime(2026, 3, 2, 4, 0, tzinfo=UTC)  # 07:00 EAT
    for imei in (mover, parked, idler):
        _set_live(live_conn, imei, morning, morning)
        _fix(live_conn, imei, morning, 0, False)
    _fix(live_conn, mover, morning + timedelta(minutes=5), 35, True)
    # The idler: moving, then engine on and standing still from 09:00 EAT.
    idle_from = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)
    _fix(live_conn, idler, idle_from - timedelta(minutes=2), 40, True)
    for m in range(0, 50, 5):
        _fix(live_conn, idler, idle_from + timedelta(minutes=m), 0, True)
    # A ticket due at 09:30 EAT; the vehicle is dispatched but only arrives at 10:15 EAT.
    with live_conn.cursor() as cur:
        cur.execute("INSERT INTO ops.tickets (ticket_ref, customer, city, opened_at, sla_minutes)"
                    " VALUES ('T-1', 'ACME', 'Nairobi', %s, 90)", (morning + timedelta(hours=1),))
        cur.execute("INSERT INTO tracksolid.dispatch_log (ticket_ref, imei, dispatched_at, arrived_at)"
                    " VALUES ('T-1', %s, %s, %s)", (mover, morning + timedelta(hours=1, minutes=10),
                                                     morning + timedelta(hours=3, minutes=15)))
    sent = []

    def notify(subject, body, *, severity="warning"):
        sent.append((subject, body, severity))
        return ["test"]

    def at(h, m=0):
        return alerts.run(live_conn, datetime(2026, 3, 2, h - 3, m, tzinfo=UTC), notify)  # h = EAT hour

    first = at(9, 20)  # 09:20 EAT: idler idle 20 min (< 30), SLA not yet due, before 10:00
    assert first["opened"] == [] and sent == []
    second = at(9, 40)  # idle 40 min; SLA due 09:30 passed
    assert second["opened"] == [f"idling:{idler}:over_30min", "sla_breach:T-1:breached"]
    third = at(10, 5)  # 10:05 EAT: the parked van has not moved today; the idler is still idling
    # (its last fix 09:45 is within alert_fresh_fix_s) but the episode is already open.
    assert third["opened"] == [f"not_moved:{parked}:not_moved"] and third["closed"] == []
    fourth = at(10, 20)  # the idler's newest fix is 35 min old: no longer judged idle; the vehicle arrived
    assert fourth["closed"] == [f"idling:{idler}:over_30min", "sla_breach:T-1:breached"]
    assert scalar(live_conn, "SELECT count(*) FROM ops.v_open_fleet_alerts") == 1
    assert scalar(live_conn, "SELECT vehicle FROM ops.v_open_fleet_alerts") == "Van 1"
    _fix(live_conn, parked, datetime(2026, 3, 2, 7, 30, tzinfo=UTC), 20, True)
    fifth = at(10, 35)
    assert fifth["closed"] == [f"not_moved:{parked}:not_moved"]
    assert len(sent) == 4  # one message per run that changed something
    assert scalar(live_conn, "SELECT count(*) FROM ops.fleet_alerts") == 3
    assert scalar(live_conn, "SELECT count(*) FROM ops.fleet_alerts WHERE closed_at IS NULL") == 0
    # Re-running the same time changes nothing and sends nothing.
    assert at(10, 35)["opened"] == [] and len(sent) == 4


def test_unknown_kind_is_refused(live_conn):
    with pytest.raises(ValueError, match="unknown alert kinds"):
        alerts.run(live_conn, T0, lambda *a, **k: [], ["silent", "bogus"])
