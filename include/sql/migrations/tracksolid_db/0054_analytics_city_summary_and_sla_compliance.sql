-- Two roll-ups the dashboards and the daily report need beside the per-vehicle views (docs/ANALYTICS.md):
-- today at a glance per city (SPEC §8 "today-at-a-glance"), and dispatch SLA compliance per day (SPEC §7 KPI).

CREATE VIEW tracksolid.v_fleet_today_by_city AS
SELECT f.day,
       coalesce(f.city, 'unassigned')                                AS city,
       count(*)::integer                                             AS vehicles,
       count(*) FILTER (WHERE f.state = 'moving')::integer           AS moving,
       count(*) FILTER (WHERE f.state = 'idle')::integer             AS idle,
       count(*) FILTER (WHERE f.state = 'parked')::integer           AS parked,
       count(*) FILTER (WHERE f.state = 'offline')::integer          AS offline,
       count(*) FILTER (WHERE f.moved_today)::integer                AS moved_today,
       count(*) FILTER (WHERE NOT f.moved_today)::integer            AS not_moved_today,
       sum(f.km)                                                     AS km,
       sum(f.trips)::integer                                         AS trips,
       sum(f.driving_s)                                              AS driving_s,
       sum(f.idle_s)                                                 AS idle_s,
       sum(f.alarms)::integer                                        AS alarms,
       sum(f.aggression_events)::integer                             AS aggression_events,
       avg(f.utilisation_pct)                                        AS utilisation_pct,
       sum(f.idle_cost)                                              AS idle_cost
FROM tracksolid.v_fleet_today f
GROUP BY f.day, coalesce(f.city, 'unassigned');
COMMENT ON VIEW tracksolid.v_fleet_today_by_city IS
    'Today per city: vehicles by state now, moved / not moved, km, trips, time, alarms, mean utilisation, idle cost';

-- A ticket meets its SLA when it is closed within sla_minutes of being opened; counted on its closing day.
CREATE VIEW tracksolid.v_sla_compliance_daily AS
SELECT tracksolid.local_day(tk.closed_at)                                        AS day,
       coalesce(v.city, tk.city, 'unassigned')                                   AS city,
       count(*)::integer                                                         AS tickets_closed,
       count(*) FILTER (WHERE tk.closed_at <= tk.opened_at + make_interval(mins => tk.sla_minutes))::integer
                                                                                 AS within_sla,
       round(100.0 * count(*) FILTER (
           WHERE tk.closed_at <= tk.opened_at + make_interval(mins => tk.sla_minutes)) / count(*), 2)
                                                                                 AS compliance_pct,
       avg(extract(epoch FROM tk.closed_at - tk.opened_at) / 60.0)               AS avg_resolution_min,
       avg(extract(epoch FROM dl.arrived_at - dl.dispatched_at) / 60.0)          AS avg_travel_min
FROM ops.tickets tk
LEFT JOIN LATERAL (
    SELECT d.imei, d.dispatched_at, d.arrived_at FROM tracksolid.dispatch_log d
    WHERE d.ticket_ref = tk.ticket_ref ORDER BY d.dispatched_at DESC, d.id DESC LIMIT 1) dl ON true
LEFT JOIN tracksolid.v_vehicles v ON v.imei = dl.imei
WHERE tk.closed_at IS NOT NULL
GROUP BY 1, 2;
COMMENT ON VIEW tracksolid.v_sla_compliance_daily IS
    'Per local closing day and city: tickets closed, closed within their SLA minutes, compliance %, mean times';

CREATE INDEX IF NOT EXISTS tickets_closed_local_day_idx ON ops.tickets (tracksolid.local_day(closed_at))
    WHERE closed_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS dispatch_log_ticket_idx ON tracksolid.dispatch_log (ticket_ref, dispatched_at);

GRANT SELECT ON tracksolid.v_fleet_today_by_city, tracksolid.v_sla_compliance_daily TO grafana_ro;
REVOKE INSERT, UPDATE, DELETE ON tracksolid.v_fleet_today_by_city, tracksolid.v_sla_compliance_daily
    FROM tracksolid_owner;
