-- Fleet alert conditions: dispatch SLA breaches. A ticket breaches when it is still open, no dispatched
-- vehicle has arrived, and opened_at + sla_minutes has passed. The alert closes when a vehicle arrives or
-- the ticket closes. imei = the ticket's most recently dispatched vehicle (none before dispatch).
-- %(as_of)s: the evaluation time (timestamptz).
SELECT 'sla_breach' AS kind, t.ticket_ref AS subject, dl.imei, 'breached' AS level, 1 AS level_rank,
       jsonb_build_object('ticket_ref', t.ticket_ref, 'customer', t.customer, 'city', t.city,
                          'vehicle', coalesce(nullif(d.device_name, ''), nullif(d.license_plate_no, ''), dl.imei),
                          'opened_at', t.opened_at, 'sla_minutes', t.sla_minutes,
                          'due_at', t.opened_at + make_interval(mins => t.sla_minutes),
                          'dispatched_at', dl.dispatched_at) AS detail
FROM ops.tickets t
LEFT JOIN LATERAL (
    SELECT x.imei, x.dispatched_at FROM tracksolid.dispatch_log x
    WHERE x.ticket_ref = t.ticket_ref AND x.dispatched_at <= %(as_of)s::timestamptz
    ORDER BY x.dispatched_at DESC LIMIT 1) dl ON true
LEFT JOIN tracksolid.devices d ON d.imei = dl.imei
WHERE t.opened_at + make_interval(mins => t.sla_minutes) < %(as_of)s::timestamptz
  AND (t.closed_at IS NULL OR t.closed_at > %(as_of)s::timestamptz)
  AND t.status NOT IN ('closed', 'cancelled')
  AND NOT EXISTS (SELECT 1 FROM tracksolid.dispatch_log a
                  WHERE a.ticket_ref = t.ticket_ref AND a.arrived_at IS NOT NULL
                    AND a.arrived_at <= %(as_of)s::timestamptz)
ORDER BY t.ticket_ref;
