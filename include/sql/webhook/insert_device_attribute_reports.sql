-- ICCID / VIN reports (/pushalarm with type ICCID or VIN), kept as history.
WITH src AS MATERIALIZED (SELECT %(items)s::jsonb AS items)  -- raw items as received, parsed once
INSERT INTO tracksolid.device_attribute_reports (imei, attribute, reported_at, value, raw)
SELECT r.imei, r.attribute, r.reported_at, r.value, src.items -> r.item
FROM src CROSS JOIN jsonb_to_recordset(%(rows)s::jsonb) AS r(
    imei text, attribute text, reported_at timestamptz, value text, item integer)
ORDER BY r.imei, r.attribute, r.reported_at, r.item  -- duplicates in one request: the first item wins
ON CONFLICT (imei, attribute, reported_at) DO NOTHING
