-- Pipeline health (SPEC §7): API endpoint success rate, call latency and freshness from ingestion_log, push
-- inbox lag, and how late fixes arrive. Window: the health_window_h setting; every view reads an index range.

-- A call succeeded when the API answered code 0 and the hook recorded no error (one row per attempt).
CREATE VIEW tracksolid.v_endpoint_health AS
SELECT l.method                                                     AS endpoint,
       count(*)::integer                                            AS calls,
       count(*) FILTER (WHERE ok.ok)::integer                       AS ok_calls,
       count(*) FILTER (WHERE NOT ok.ok)::integer                   AS failed_calls,
       round(100.0 * count(*) FILTER (WHERE ok.ok) / count(*), 2)   AS success_rate_pct,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY l.duration_ms)   AS p50_ms,
       percentile_cont(0.95) WITHIN GROUP (ORDER BY l.duration_ms)  AS p95_ms,
       max(l.duration_ms)                                           AS max_ms,
       sum(l.row_count) FILTER (WHERE ok.ok)                        AS rows,
       max(l.logged_at)                                             AS last_call_at,
       max(l.logged_at) FILTER (WHERE ok.ok)                        AS last_success_at,
       extract(epoch FROM now() - max(l.logged_at) FILTER (WHERE ok.ok))::bigint AS freshness_s,
       (array_agg(l.error ORDER BY l.logged_at DESC) FILTER (WHERE l.error IS NOT NULL))[1] AS last_error
FROM tracksolid.ingestion_log l
CROSS JOIN LATERAL (SELECT coalesce(l.api_code = '0', false) AND l.error IS NULL AS ok) ok
WHERE l.logged_at >= now() - make_interval(secs => (SELECT tracksolid.setting('health_window_h')) * 3600)
GROUP BY l.method;
COMMENT ON VIEW tracksolid.v_endpoint_health IS
    'Per API method over health_window_h: calls, success rate, p50/p95 latency, last success and its age';

CREATE VIEW tracksolid.v_push_inbox_lag AS
SELECT p.path,
       count(*)::integer                                                  AS requests,
       sum(p.item_count)::bigint                                          AS items,
       sum(p.replay_count)::bigint                                        AS replays,
       count(*) FILTER (WHERE p.status = 'parked')::integer               AS parked,
       count(*) FILTER (WHERE p.error IS NOT NULL)::integer               AS errors,
       max(p.received_at)                                                 AS last_received_at,
       extract(epoch FROM now() - max(p.received_at))::bigint             AS seconds_since_last,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM p.processed_at - p.received_at) * 1000)
                                                                          AS p50_processing_ms,
       percentile_cont(0.95) WITHIN GROUP (ORDER BY extract(epoch FROM p.processed_at - p.received_at) * 1000)
                                                                          AS p95_processing_ms
FROM tracksolid.push_inbox p
WHERE p.received_at >= now() - make_interval(secs => (SELECT tracksolid.setting('health_window_h')) * 3600)
GROUP BY p.path;
COMMENT ON VIEW tracksolid.v_push_inbox_lag IS
    'Per push path over health_window_h: requests, items, replays, time since the last request, processing time';

-- Device-to-database latency of fixes (ingested_at - gps_time), live fixes only (gps_mode 1 = re-uploaded).
CREATE VIEW tracksolid.v_fix_arrival_latency AS
SELECT h.source,
       count(*)::bigint                                                       AS fixes,
       count(*) FILTER (WHERE h.gps_mode = 1)::bigint                         AS late_fixes,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM h.ingested_at - h.gps_time))
           FILTER (WHERE h.gps_mode IS DISTINCT FROM 1)                       AS p50_s,
       percentile_cont(0.95) WITHIN GROUP (ORDER BY extract(epoch FROM h.ingested_at - h.gps_time))
           FILTER (WHERE h.gps_mode IS DISTINCT FROM 1)                       AS p95_s,
       max(h.ingested_at)                                                     AS last_ingested_at
FROM tracksolid.position_history h
WHERE h.ingested_at >= now() - make_interval(secs => (SELECT tracksolid.setting('health_window_h')) * 3600)
GROUP BY h.source;
COMMENT ON VIEW tracksolid.v_fix_arrival_latency IS
    'Per fix source over health_window_h: fixes, late (re-uploaded) fixes, p50/p95 seconds from GPS time to stored';

GRANT SELECT ON tracksolid.v_endpoint_health, tracksolid.v_push_inbox_lag, tracksolid.v_fix_arrival_latency
    TO grafana_ro;
REVOKE INSERT, UPDATE, DELETE ON tracksolid.v_endpoint_health, tracksolid.v_push_inbox_lag,
    tracksolid.v_fix_arrival_latency FROM tracksolid_owner;
