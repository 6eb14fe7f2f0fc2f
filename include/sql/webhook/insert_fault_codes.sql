-- OBD fault codes (/pushfaultinfo).
WITH src AS MATERIALIZED (SELECT %(items)s::jsonb AS items)  -- raw items as received, parsed once
INSERT INTO tracksolid.fault_codes (imei, fault_time, fault_code, fault_detail, device_name, source, raw)
SELECT r.imei, r.fault_time, r.fault_code, r.fault_detail, r.device_name, 'push', src.items -> r.item
FROM src CROSS JOIN jsonb_to_recordset(%(rows)s::jsonb) AS r(
    imei text, fault_time timestamptz, fault_code text, fault_detail text, device_name text, item integer)
ORDER BY r.imei, r.fault_time, r.fault_code, r.item  -- duplicates in one request: the first item wins
ON CONFLICT (imei, fault_time, fault_code) DO NOTHING
