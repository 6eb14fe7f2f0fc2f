-- Default thresholds (ALGORITHMS.md, SPEC §7) and the Nairobi depot geofence.
INSERT INTO tracksolid.settings (key, value, description) VALUES
    ('moving_speed_kmh', 3, 'speed above which a fix with ACC on/unknown counts as moving'),
    ('offline_gap_s', 1800, 'gap between fixes that becomes an offline segment'),
    ('min_stop_s', 300, 'stationary spell that closes a trip / shortest stop kept'),
    ('min_idle_s', 300, 'shortest idle spell kept'),
    ('trip_gap_s', 300, 'gap between fixes that closes a trip'),
    ('overspeed_kmh', 80, 'fleet default speed limit'),
    ('max_jump_kmh', 250, 'fixes implying a faster jump are dropped'),
    ('idle_litres_per_hour', 0.8, 'fuel burnt per idle hour, for idle cost'),
    ('fuel_price_per_litre', 180, 'fuel price in local currency, for idle cost'),
    ('shift_hours', 9, 'working hours per day, for utilisation and idle % of shift'),
    ('service_interval_km', 5000, 'distance between workshop services'),
    ('silent_hours_warn', 8, 'silent device: first bucket'),
    ('silent_hours_alert', 12, 'silent device: second bucket'),
    ('silent_hours_critical', 24, 'silent device: third bucket'),
    ('silent_hours_lost', 36, 'silent device: fourth bucket')
ON CONFLICT (key) DO NOTHING;

INSERT INTO tracksolid.geofences (name, kind, city, geom) VALUES
    ('Nairobi depot (Kikuyu Road)', 'depot', 'Nairobi',
     ST_Multi(ST_Buffer(ST_SetSRID(ST_MakePoint(36.727, -1.237), 4326)::geography, 250)::geometry)),
    ('Nairobi city zone', 'city_zone', 'Nairobi',
     ST_Multi(ST_MakeEnvelope(36.65, -1.45, 37.10, -1.15, 4326))),
    ('Mombasa city zone', 'city_zone', 'Mombasa',
     ST_Multi(ST_MakeEnvelope(39.55, -4.15, 39.75, -3.95, 4326))),
    ('Kampala city zone', 'city_zone', 'Kampala',
     ST_Multi(ST_MakeEnvelope(32.45, 0.20, 32.70, 0.45, 4326)))
ON CONFLICT (name) DO NOTHING;
