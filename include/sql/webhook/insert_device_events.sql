-- Device events (/pushevent: LOGIN / LOGOUT and the like).
WITH src AS MATERIALIZED (SELECT %(items)s::jsonb AS items)  -- raw items as received, parsed once
INSERT INTO tracksolid.device_events (imei, event_time, event_type, source, raw)
SELECT r.imei, r.event_time, r.event_type, 'push', src.items -> r.item
FROM src CROSS JOIN jsonb_to_recordset(%(rows)s::jsonb) AS r(imei text, event_time timestamptz, event_type text, item integer)
ORDER BY r.imei, r.event_time, r.event_type, r.item  -- duplicates in one request: the first item wins
ON CONFLICT (imei, event_time, event_type) DO NOTHING
