-- Device events (/pushevent: LOGIN / LOGOUT and the like).
INSERT INTO tracksolid.device_events (imei, event_time, event_type, source, raw)
SELECT r.imei, r.event_time, r.event_type, 'push', r.raw
FROM jsonb_to_recordset(%(rows)s::jsonb) AS r(imei text, event_time timestamptz, event_type text, raw jsonb)
ORDER BY r.imei, r.event_time, r.event_type
ON CONFLICT (imei, event_time, event_type) DO NOTHING
