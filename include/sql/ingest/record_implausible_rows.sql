-- API rows whose event time is outside the plausibility window (tracksolid_hook.plausibility): kept here
-- instead of in their table, so they never move live state; counted by tracksolid.v_implausible_times_daily.
-- A row re-reported by every poll is recorded once.
INSERT INTO tracksolid.implausible_api_rows (source, table_name, imei, event_time, raw)
SELECT r.source, r.table_name, r.imei, r.event_time, r.raw
FROM jsonb_to_recordset(%(rows)s::jsonb) AS r(source text, table_name text, imei text, event_time timestamptz, raw jsonb)
ON CONFLICT (table_name, imei, event_time) DO NOTHING
