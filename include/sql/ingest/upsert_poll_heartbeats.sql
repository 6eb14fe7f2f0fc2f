-- Polled rows without a fix (hbTime, no gpsTime): one heartbeat each, source poll. A heartbeat already stored
-- for that (imei, hb_time) — e.g. pushed — is kept as it is.
-- %(rows)s: jsonb array of {imei, hb_time, acc_status, online, raw}.
INSERT INTO tracksolid.heartbeats (imei, hb_time, acc_status, online, source, raw)
SELECT r.imei, r.hb_time, r.acc_status, r.online, 'poll', r.raw
FROM jsonb_to_recordset(%(rows)s::jsonb) AS r(imei text, hb_time timestamptz, acc_status boolean, online boolean,
                                              raw jsonb)
ORDER BY r.imei, r.hb_time
ON CONFLICT (imei, hb_time) DO NOTHING
