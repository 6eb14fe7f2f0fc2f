"""Pipeline-health views on planted rows, and the contract every analytics view keeps: a COMMENT, SELECT for
grafana_ro, every column documented in docs/ANALYTICS.md, and "now" views that reach position_history only
through per-device index ranges."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path

import pytest

from tests.analytics_support import add_device, add_fixes, db_now, drive, percentile_cont, rows_as, still

REPO = Path(__file__).resolve().parents[1]
DOC = (REPO / "docs" / "ANALYTICS.md").read_text(encoding="utf-8")
LIVE_VIEWS = ["v_vehicles", "v_vehicle_state_now", "v_currently_idle", "v_silent_devices", "v_today_tail",
              "v_vehicle_activity_daily", "v_fleet_km_daily", "v_utilisation_daily", "v_alarms_daily",
              "v_driver_aggregates_daily", "v_fleet_today", "v_vehicles_not_moved_today", "v_active_dispatch_map",
              "v_sla_inflight", "v_endpoint_health", "v_push_inbox_lag", "v_fix_arrival_latency"]
GOLD_VIEWS = ["v_vehicle_day", "v_vehicle_week", "v_fleet_day_city", "v_fleet_week_city", "v_driver_week",
              "v_service_due"]
# NOC panels (30 s refresh): never more than per-device index ranges of position_history.
NOC_QUERIES = [
    "SELECT state, count(*) FROM tracksolid.v_vehicle_state_now GROUP BY state",
    "SELECT * FROM tracksolid.v_vehicle_state_now",
    "SELECT * FROM tracksolid.v_currently_idle",
    "SELECT * FROM tracksolid.v_silent_devices",
    "SELECT * FROM tracksolid.v_fleet_today",
    "SELECT * FROM tracksolid.v_vehicles_not_moved_today",
    "SELECT * FROM tracksolid.v_active_dispatch_map",
]


def test_endpoint_health_success_rate_and_latency(live_conn):
    t0 = db_now(live_conn)
    calls = {  # method -> [(minutes ago, duration_ms, api_code, error)]
        "jimi.device.location.list": [(m, 100 + 37 * m, "0", None) for m in range(1, 9)]
                                     + [(10, 5000, "1006", "rate limited"), (12, 30000, None, "timeout")],
        "jimi.device.alarm.list": [(3, 250, "0", None), (4, 270, "0", None)],
    }
    with live_conn.cursor() as cur:
        for method, rows in calls.items():
            for ago, ms, code, err in rows:
                cur.execute("INSERT INTO tracksolid.ingestion_log (logged_at, method, api_code, duration_ms, row_count,"
                            " error) VALUES (%s, %s, %s, %s, 5, %s)",
                            (t0 - timedelta(minutes=ago), method, code, ms, err))
        # Outside health_window_h (24 h): not counted.
        cur.execute("INSERT INTO tracksolid.ingestion_log (logged_at, method, api_code, duration_ms) VALUES"
                    " (%s, 'jimi.device.alarm.list', '1001', 9)", (t0 - timedelta(hours=30),))
    health = {r["endpoint"]: r for r in rows_as(live_conn, "SELECT * FROM tracksolid.v_endpoint_health")}
    loc = health["jimi.device.location.list"]
    durations = [ms for _, ms, _, _ in calls["jimi.device.location.list"]]
    assert (loc["calls"], loc["ok_calls"], loc["failed_calls"]) == (10, 8, 2)
    assert float(loc["success_rate_pct"]) == 80.0
    assert loc["p50_ms"] == pytest.approx(percentile_cont(durations, 0.5))
    assert loc["p95_ms"] == pytest.approx(percentile_cont(durations, 0.95))
    assert loc["last_success_at"] == t0 - timedelta(minutes=1) and loc["last_error"] == "rate limited"
    assert loc["rows"] == 40 and loc["freshness_s"] == pytest.approx(60, abs=5)
    alarm = health["jimi.device.alarm.list"]
    assert (alarm["calls"], float(alarm["success_rate_pct"]), alarm["p50_ms"]) == (2, 100.0, 260)


def test_push_inbox_lag_and_fix_latency(live_conn):
    t0 = db_now(live_conn)
    inbox = [("/pushgps", 2, 50, 0, "processed"), ("/pushgps", 6, 10, 2, "processed"), ("/pushhb", 40, 3, 0, "parked")]
    with live_conn.cursor() as cur:
        for n, (path, ago_s, items, replays, status) in enumerate(inbox):
            received = t0 - timedelta(seconds=ago_s)
            cur.execute("INSERT INTO tracksolid.push_inbox (received_at, path, push_format, payload_sha256, payload,"
                        " item_count, status, processed_at, replay_count) VALUES (%s, %s, 'iothub', %s, '{}', %s, %s,"
                        " %s, %s)", (received, path, f"h{n}", items, status,
                                     received + timedelta(milliseconds=20 * (n + 1)), replays))
    lag = {r["path"]: r for r in rows_as(live_conn, "SELECT * FROM tracksolid.v_push_inbox_lag")}
    assert (lag["/pushgps"]["requests"], lag["/pushgps"]["items"], lag["/pushgps"]["replays"]) == (2, 60, 2)
    assert lag["/pushgps"]["seconds_since_last"] == pytest.approx(2, abs=2)
    assert lag["/pushgps"]["p50_processing_ms"] == pytest.approx(30)
    assert lag["/pushhb"]["parked"] == 1

    add_device(live_conn, "860000000000001", "Van")
    add_fixes(live_conn, "860000000000001",
              drive(t0 - timedelta(minutes=5), t0, 30, -1.3, 36.8, dlat=0.0005, dlng=0))  # stored now: ~0-300 s late
    lat = rows_as(live_conn, "SELECT * FROM tracksolid.v_fix_arrival_latency")
    ages = [(t0 - (t0 - timedelta(minutes=5) + timedelta(seconds=30 * i))).total_seconds() for i in range(10)]
    assert [(r["source"], r["fixes"], r["late_fixes"]) for r in lat] == [("push", 10, 0)]
    assert lat[0]["p50_s"] == pytest.approx(percentile_cont(ages, 0.5), abs=5)


def _columns(conn, schema: str, view: str) -> list[str]:
    rows = rows_as(conn, "SELECT column_name FROM information_schema.columns WHERE table_schema = %s"
                         " AND table_name = %s ORDER BY ordinal_position", (schema, view), role=None)
    return [r["column_name"] for r in rows]


def _doc_section(title: str) -> str:
    """Text of the docs/ANALYTICS.md section whose heading or bullet names ``title``."""
    head = re.search(rf"^(###[^\n]*\b{re.escape(title)}\b|- \*\*{re.escape(title)}\*\*)", DOC, re.MULTILINE)
    assert head, f"{title} has no section in docs/ANALYTICS.md"
    rest = DOC[head.end():]
    nxt = re.search(r"\n(##|- \*\*)", rest)
    return head.group(0) + rest[: nxt.start() if nxt else len(rest)]


@pytest.mark.parametrize("which", ["live", "dwh"])
def test_every_view_is_commented_granted_and_documented(which, request):
    conn = request.getfixturevalue("live_conn" if which == "live" else "dwh_conn")
    schema, views = ("tracksolid", LIVE_VIEWS) if which == "live" else ("gold", GOLD_VIEWS)
    for view in views:
        qualified = f"{schema}.{view}"
        info = rows_as(conn, "SELECT obj_description(%s::regclass, 'pg_class') AS comment,"
                             " has_table_privilege('grafana_ro', %s, 'SELECT') AS ro_select,"
                             " has_table_privilege('tracksolid_owner', %s, 'INSERT') AS owner_insert",
                       (qualified, qualified, qualified), role=None)[0]
        assert info["comment"], f"{qualified} has no COMMENT"
        assert info["ro_select"] and not info["owner_insert"], qualified
        rows_as(conn, f"SELECT * FROM {qualified} LIMIT 1")  # readable as grafana_ro
        section = _doc_section(view if which == "live" else f"gold.{view}")
        missing = [c for c in _columns(conn, schema, view) if not re.search(rf"\b{c}\b", section)]
        assert not missing, f"{qualified}: columns not in docs/ANALYTICS.md: {missing}"


def _plan_nodes(plan: dict):
    yield plan
    for child in plan.get("Plans", []):
        yield from _plan_nodes(child)


def test_noc_views_read_position_history_by_device_index_ranges(live_conn):
    """Whatever the planner would rather do on tiny tables, each position_history access these views contain
    is an index scan bounded by the device (imei) — never a scan of the whole day or table."""
    t0 = db_now(live_conn)
    for n in range(3):
        imei = f"86000000000000{n}"
        add_device(live_conn, imei, f"Van {n}")
        add_fixes(live_conn, imei, drive(t0 - timedelta(hours=2), t0 - timedelta(hours=1), 30, -1.3, 36.8,
                                         dlat=0.0004, dlng=0)
                  + still(t0 - timedelta(hours=1), t0, 60, -1.28, 36.8, speed=0, acc=True))
    live_conn.cursor().execute("ANALYZE")
    live_conn.autocommit = False  # pg_stat_xact_* counts this transaction's scans, function bodies included
    try:
        with live_conn.cursor() as cur:
            cur.execute("SET LOCAL enable_seqscan = off")
            for query in NOC_QUERIES:
                cur.execute(f"EXPLAIN (FORMAT JSON) {query}")
                plan = cur.fetchone()[0]
                plan = plan if isinstance(plan, list) else json.loads(plan)
                for node in _plan_nodes(plan[0]["Plan"]):
                    if node.get("Relation Name") != "position_history":
                        continue
                    assert node["Node Type"] in ("Index Scan", "Index Only Scan", "Bitmap Heap Scan"), (query, node)
                    cond = node.get("Index Cond") or ""
                    if node["Node Type"] == "Bitmap Heap Scan":
                        cond = " ".join(c.get("Index Cond", "") for c in _plan_nodes(node))
                    assert "imei" in cond and "gps_time" in cond, (query, cond)
                cur.execute(query)
                cur.fetchall()
                cur.execute("SELECT seq_scan, idx_scan FROM pg_stat_xact_user_tables"
                            " WHERE relid = 'tracksolid.position_history'::regclass")
                seq_scans, idx_scans = cur.fetchone()
                assert seq_scans == 0, query
            assert idx_scans > 0  # the state_since / first-move / tail lookups did run, through the index
    finally:
        live_conn.rollback()
        live_conn.autocommit = True
