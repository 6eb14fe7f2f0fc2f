-- A heartbeat moves the live position's hb_time forward (silent-device checks read it); never backwards.
UPDATE tracksolid.live_positions AS lp
SET hb_time = hb.hb_time
FROM (
    SELECT r.imei, max(r.hb_time) AS hb_time
    FROM jsonb_to_recordset(%(rows)s::jsonb) AS r(imei text, hb_time timestamptz)
    GROUP BY r.imei
) AS hb
WHERE lp.imei = hb.imei
  AND (lp.hb_time IS NULL OR lp.hb_time < hb.hb_time)
