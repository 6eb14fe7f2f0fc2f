-- Record the build of one local day; built_at was taken after the silver input lock (see stale_days.sql).
INSERT INTO silver.day_builds (local_day, built_at, devices, fixes_kept, segments, trips, duration_ms)
VALUES (%(day)s, %(built_at)s, %(devices)s, %(fixes_kept)s, %(segments)s, %(trips)s,
        (extract(epoch FROM clock_timestamp() - %(built_at)s::timestamptz) * 1000)::integer)
ON CONFLICT (local_day) DO UPDATE
    SET built_at = EXCLUDED.built_at, devices = EXCLUDED.devices, fixes_kept = EXCLUDED.fixes_kept,
        segments = EXCLUDED.segments, trips = EXCLUDED.trips, duration_ms = EXCLUDED.duration_ms;
