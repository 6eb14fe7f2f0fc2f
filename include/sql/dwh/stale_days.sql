-- Local days whose silver inputs (fixes, alarms) were loaded into bronze after the day's last build, or
-- that were never built. Keyed on arrival (_loaded_at), not on event time, so late fixes are caught.
-- A rebuild records built_at after taking the silver input lock (silver_begin_day.sql), so no load can
-- slip between.
WITH touched AS (
    SELECT (gps_time AT TIME ZONE 'Africa/Nairobi')::date AS local_day, max(_loaded_at) AS loaded_at
    FROM bronze.position_history
    WHERE _loaded_at > %(since)s
    GROUP BY 1
    UNION ALL
    SELECT (alarm_time AT TIME ZONE 'Africa/Nairobi')::date, max(_loaded_at)
    FROM bronze.alarms
    WHERE _loaded_at > %(since)s
    GROUP BY 1
)
SELECT t.local_day
FROM touched t
LEFT JOIN silver.day_builds b USING (local_day)
WHERE t.local_day BETWEEN %(oldest)s AND %(newest)s
GROUP BY t.local_day, b.built_at
HAVING b.built_at IS NULL OR max(t.loaded_at) > b.built_at
ORDER BY t.local_day
