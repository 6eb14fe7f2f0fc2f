-- Stops and idle spells are the day's parked / idle segments: they can never contradict them.
INSERT INTO silver.stops (imei, started_at, ended_at, local_day, duration_s, lat, lng)
SELECT imei, started_at, ended_at, local_day, duration_s, start_lat, start_lng
FROM silver.segments WHERE local_day = %(day)s AND state = 'parked';

INSERT INTO silver.idle_spells (imei, started_at, ended_at, local_day, duration_s, lat, lng)
SELECT imei, started_at, ended_at, local_day, duration_s, start_lat, start_lng
FROM silver.segments WHERE local_day = %(day)s AND state = 'idle';
