"""Pipeline health: API ingestion (ingestion_log), the push receiver (push_inbox), per-endpoint health and push
inbox lag (views), and the warehouse control views (dwh_control.v_table_freshness, v_recent_failures,
v_watermark_lag) with silver/gold day builds (late-data rebuilds)."""

from __future__ import annotations

from fleet_grafana.panels import (
    DWH,
    UID_PIPELINE,
    barchart,
    dashboard,
    row,
    stat,
    table,
    timeseries,
    vehicle_override,
)

SQL = {
'API calls': """
SELECT count(*) AS "calls"
FROM tracksolid.ingestion_log
WHERE $__timeFilter(logged_at)""",
'API success rate': """
SELECT round(100.0 * count(*) FILTER (
           WHERE error IS NULL AND coalesce(http_status, 200) < 400 AND coalesce(api_code, '0') = '0')
       / nullif(count(*), 0), 1) AS "success"
FROM tracksolid.ingestion_log
WHERE $__timeFilter(logged_at)""",
'Push requests pending': """
SELECT count(*) AS "pending"
FROM tracksolid.push_inbox
WHERE processed_at IS NULL""",
'Since last push': """
SELECT extract(epoch FROM now() - max(received_at))::bigint AS "seconds"
FROM tracksolid.push_inbox""",
'API calls per method': """
SELECT $__timeGroupAlias(logged_at, '5m'), method AS metric, count(*) AS calls
FROM tracksolid.ingestion_log
WHERE $__timeFilter(logged_at)
GROUP BY 1, 2
ORDER BY 1""",
'Push requests per path': """
SELECT $__timeGroupAlias(received_at, '5m'), path AS metric, count(*) AS requests
FROM tracksolid.push_inbox
WHERE $__timeFilter(received_at)
GROUP BY 1, 2
ORDER BY 1""",
'Freshness and latency per endpoint': """
SELECT method,
       count(*) AS calls,
       count(*) FILTER (WHERE error IS NOT NULL) AS errors,
       max(logged_at) FILTER (WHERE error IS NULL) AS last_success,
       extract(epoch FROM now() - max(logged_at) FILTER (WHERE error IS NULL))::bigint AS seconds_since_success,
       round(avg(duration_ms)) AS avg_ms,
       percentile_cont(0.95) WITHIN GROUP (ORDER BY duration_ms) AS p95_ms
FROM tracksolid.ingestion_log
WHERE $__timeFilter(logged_at)
GROUP BY method
ORDER BY method""",
'Push inbox by status': """
SELECT path, push_format, status,
       count(*) AS requests,
       sum(item_count) AS items,
       round(avg(extract(epoch FROM processed_at - received_at)) * 1000) AS avg_lag_ms,
       max(received_at) AS last_received
FROM tracksolid.push_inbox
WHERE $__timeFilter(received_at)
GROUP BY path, push_format, status
ORDER BY path, status""",
'Recent API errors': """
SELECT logged_at AS "time", dag_id, task_id, map_index, method, target,
       attempt, http_status, api_code, error
FROM tracksolid.ingestion_log
WHERE error IS NOT NULL AND $__timeFilter(logged_at)
ORDER BY logged_at DESC
LIMIT 100""",
}

TABLE_FRESHNESS = """
SELECT table_name, watermark_column, watermark_value, last_loaded_at, last_rows_loaded, last_run_status,
       seconds_since_load
FROM dwh_control.v_table_freshness
ORDER BY seconds_since_load DESC NULLS FIRST, table_name"""

WATERMARK_LAG = """
SELECT table_name, lag_seconds
FROM dwh_control.v_watermark_lag
ORDER BY lag_seconds DESC NULLS LAST"""

RECENT_FAILURES = """
SELECT started_at AS "time", table_name, run_id, status, error, object_key
FROM dwh_control.v_recent_failures
ORDER BY started_at DESC"""

FAILURE_COUNT = """
SELECT count(*) AS failures FROM dwh_control.v_recent_failures"""

OLDEST_LOAD = """
SELECT max(seconds_since_load) AS seconds FROM dwh_control.v_table_freshness"""

DAY_BUILDS = """
SELECT local_day, built_at, devices, fixes_kept, segments, trips, duration_ms
FROM silver.day_builds
ORDER BY local_day DESC
LIMIT 30"""

ENDPOINT_HEALTH = """
SELECT endpoint, calls, failed_calls, round(success_rate_pct::numeric, 1) AS success_rate_pct, p50_ms, p95_ms,
       max_ms, rows, last_success_at, freshness_s, last_error
FROM tracksolid.v_endpoint_health
ORDER BY success_rate_pct, endpoint"""

WORST_ENDPOINT = """
SELECT min(success_rate_pct) AS pct FROM tracksolid.v_endpoint_health"""

SLOWEST_P95 = """
SELECT max(p95_ms) AS ms FROM tracksolid.v_endpoint_health"""

PUSH_LAG = """
SELECT path, requests, items, replays, parked, errors, last_received_at, seconds_since_last, p50_processing_ms,
       p95_processing_ms
FROM tracksolid.v_push_inbox_lag
ORDER BY path"""

FIX_LATENCY = """
SELECT source, fixes, late_fixes, round(p50_s::numeric, 1) AS p50_s, round(p95_s::numeric, 1) AS p95_s,
       last_ingested_at
FROM tracksolid.v_fix_arrival_latency
ORDER BY source"""

QUARANTINE = """
SELECT (day::timestamp AT TIME ZONE 'Africa/Nairobi') AS "time", path || ' ' || reason AS metric, items
FROM tracksolid.v_push_quarantine_daily
WHERE day BETWEEN tracksolid.local_day($__timeFrom()) AND tracksolid.local_day($__timeTo())
ORDER BY 1"""

IMPLAUSIBLE = """
SELECT (day::timestamp AT TIME ZONE 'Africa/Nairobi') AS "time", source AS metric, items
FROM tracksolid.v_implausible_times_daily
WHERE day BETWEEN tracksolid.local_day($__timeFrom()) AND tracksolid.local_day($__timeTo())
ORDER BY 1"""

DRIVER_AUDIT = """
SELECT checked_at, finding, vehicle, imei, detail::text AS detail
FROM ops.v_driver_audit_latest
ORDER BY finding, vehicle"""


def panels() -> list[dict]:
    stat_kw = {"w": 6, "h": 4, "y": 0}
    return [
        stat("API calls", SQL["API calls"], unit="none", steps=[(None, "red"), (1, "green")], x=0,
             description="Tracksolid API call attempts in the selected range (one ingestion_log row each).",
             **stat_kw),
        stat("API success rate", SQL["API success rate"], unit="percent", steps=[(None, "red"), (95, "orange"),
             (99, "green")], x=6, description="Share of API calls without an error, HTTP status below 400 and "
             "API code 0.", **stat_kw),
        stat("Push requests pending", SQL["Push requests pending"], unit="none",
             steps=[(None, "green"), (1, "orange"), (100, "red")], x=12,
             description="Push requests stored but not yet processed (should stay at 0).", **stat_kw),
        stat("Since last push", SQL["Since last push"], unit="s", steps=[(None, "green"), (300, "orange"),
             (1800, "red")], x=18, description="Time since the push receiver last stored a request: a silent "
             "push feed.", **stat_kw),
        timeseries("API calls per method", SQL["API calls per method"], unit="none", w=12, h=8, x=0, y=4,
                   description="API call attempts per 5 minutes, by API method."),
        timeseries("Push requests per path", SQL["Push requests per path"], unit="none", w=12, h=8, x=12, y=4,
                   description="Push requests per 5 minutes, by push path."),
        table("Freshness and latency per endpoint", SQL["Freshness and latency per endpoint"], w=24, h=8, x=0,
              y=12, description="Per API method: calls, errors, last success and latency in the range."),
        table("Push inbox by status", SQL["Push inbox by status"], w=12, h=8, x=0, y=20,
              description="Push requests by path, format and status, with the processing lag."),
        table("Recent API errors", SQL["Recent API errors"], w=12, h=8, x=12, y=20,
              description="The latest failed API calls."),
        row("Endpoints and push (health_window_h)", 28),
        stat("Worst endpoint success rate", WORST_ENDPOINT, unit="percent",
             steps=[(None, "red"), (95, "orange"), (99, "green")], w=6, h=4, x=0, y=29,
             description="Lowest per-method success rate in the health window (v_endpoint_health)."),
        stat("Slowest endpoint p95", SLOWEST_P95, unit="ms", steps=[(None, "green"), (2000, "orange"),
             (10000, "red")], w=6, h=4, x=6, y=29, description="Highest per-method p95 call latency."),
        table("Endpoint health", ENDPOINT_HEALTH, w=12, h=8, x=12, y=29,
              description="Per API method: success rate, p50/p95 latency and freshness (v_endpoint_health)."),
        table("Push inbox lag per path", PUSH_LAG, w=12, h=8, x=0, y=33,
              description="Per push path: requests, replays, time since the last one, processing time."),
        table("Fix arrival latency", FIX_LATENCY, w=12, h=8, x=12, y=37,
              description="GPS time to stored, per source (target: pushed fixes p95 within 5 s). Reads the "
                          "health window of position_history by ingested_at."),
        row("Warehouse", 45),
        stat("Bronze load failures (24 h)", FAILURE_COUNT, ds=DWH, unit="none",
             steps=[(None, "green"), (1, "red")], w=6, h=4, x=0, y=46,
             description="Extract/load runs that failed in the last 24 hours (v_recent_failures)."),
        stat("Oldest bronze load", OLDEST_LOAD, ds=DWH, unit="s",
             steps=[(None, "green"), (4 * 3600, "orange"), (12 * 3600, "red")], w=6, h=4, x=6, y=46,
             description="Longest time since a bronze table was last loaded (7 runs a day: < 4 h is on time)."),
        barchart("Watermark lag per table", WATERMARK_LAG, x_field="table_name", ds=DWH, unit="s",
                 w=12, h=8, x=12, y=46, description="How far each table's watermark trails now (v_watermark_lag)."),
        table("Bronze table freshness", TABLE_FRESHNESS, ds=DWH, w=12, h=8, x=0, y=50,
              description="Per bronze table: watermark, last load and the latest run's status."),
        table("Recent warehouse failures", RECENT_FAILURES, ds=DWH, w=12, h=8, x=12, y=54,
              description="Failed extract/load runs of the last 24 hours, with their error."),
        table("Silver and gold day builds", DAY_BUILDS, ds=DWH, w=12, h=8, x=0, y=58,
              description="When each local day was last (re)built; a day rebuilt after its first build "
                          "received late data."),
        row("Data quality", 66),
        timeseries("Push items quarantined", QUARANTINE, bars=True, stack=True, unit="none", w=12, h=8, x=0,
                   y=67, description="Push items that could not be stored, per local day, by path and reason "
                                     "(v_push_quarantine_daily)."),
        timeseries("Implausible event times", IMPLAUSIBLE, bars=True, stack=True, unit="none", w=12, h=8, x=12,
                   y=67, description="Rows kept but not moving live state: time outside the plausibility window "
                                     "(v_implausible_times_daily), push and API."),
        table("Driver audit (latest run)", DRIVER_AUDIT, w=24, h=8, x=0, y=75, overrides=[vehicle_override()],
              description="API and database disagree: devices on one side only, missing drivers or plates "
                          "(ops.v_driver_audit_latest)."),
    ]


def build() -> dict:
    return dashboard(UID_PIPELINE, "Pipeline health", description=__doc__.split("\n")[0].rstrip(","),
                     panels=panels(), variables=[], refresh="1m", tags=("pipeline",))
