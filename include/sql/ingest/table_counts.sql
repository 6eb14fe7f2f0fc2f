-- Row counts of the tables the endpoint DAGs fill (for the demo and the summary).
SELECT 'devices' AS table_name, count(*) AS row_count FROM tracksolid.devices
UNION ALL SELECT 'live_positions', count(*) FROM tracksolid.live_positions
UNION ALL SELECT 'position_history', count(*) FROM tracksolid.position_history
UNION ALL SELECT 'trips', count(*) FROM tracksolid.trips
UNION ALL SELECT 'parking_events', count(*) FROM tracksolid.parking_events
UNION ALL SELECT 'alarms', count(*) FROM tracksolid.alarms
UNION ALL SELECT 'obd_readings', count(*) FROM tracksolid.obd_readings
UNION ALL SELECT 'ingestion_log', count(*) FROM tracksolid.ingestion_log;
