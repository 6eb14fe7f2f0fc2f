-- Heartbeats (/pushhb).
WITH src AS MATERIALIZED (SELECT %(items)s::jsonb AS items)  -- raw items as received, parsed once
INSERT INTO tracksolid.heartbeats (imei, hb_time, power_level, gsm_signal, acc_status, oil_ele, gps_pos, raw)
SELECT r.imei, r.hb_time, r.power_level, r.gsm_signal, r.acc_status, r.oil_ele, r.gps_pos, src.items -> r.item
FROM src CROSS JOIN jsonb_to_recordset(%(rows)s::jsonb) AS r(
    imei text, hb_time timestamptz, power_level integer, gsm_signal integer, acc_status boolean,
    oil_ele numeric, gps_pos text, item integer)
ORDER BY r.imei, r.hb_time, r.item  -- duplicates in one request: the first item wins
ON CONFLICT (imei, hb_time) DO NOTHING
