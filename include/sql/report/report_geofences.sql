-- Daily report: depots and city zones drawn on the track maps (outlines only; no tile server).
SELECT g.name, g.kind, g.city, ST_AsGeoJSON(g.geom) AS geojson
FROM bronze.geofences g
WHERE g.kind IN ('depot', 'city_zone')
ORDER BY g.kind, g.name
