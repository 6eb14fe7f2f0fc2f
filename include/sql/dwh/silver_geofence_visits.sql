-- Geofence visits of one local day: consecutive segments whose start point lies in the same geofence.
WITH sp AS (
    SELECT s.*, row_number() OVER (PARTITION BY s.imei ORDER BY s.started_at) AS ord
    FROM silver.segments s WHERE s.local_day = %(day)s),
inside AS (
    SELECT sp.imei, sp.ord, sp.started_at, sp.ended_at, g.id, g.name, g.kind
    FROM sp JOIN bronze.geofences g
      ON ST_Covers(g.geom, ST_SetSRID(ST_MakePoint(sp.start_lng, sp.start_lat), 4326))
    WHERE sp.state <> 'offline' AND sp.start_lat IS NOT NULL),
grouped AS (
    SELECT i.*, i.ord - row_number() OVER (PARTITION BY i.imei, i.id ORDER BY i.ord) AS visit
    FROM inside i)
INSERT INTO silver.geofence_visits (imei, geofence_id, entered_at, exited_at, local_day, geofence_name,
                                    geofence_kind, dwell_s, segment_count)
SELECT imei, id, min(started_at), max(ended_at), %(day)s, min(name), min(kind),
       extract(epoch FROM max(ended_at) - min(started_at)), count(*)
FROM grouped GROUP BY imei, id, visit;
