-- The daily fleet report reads the silent-device buckets through silver.setting(); these are the warehouse
-- fallbacks when the live copy (bronze.settings) has not arrived yet. Same values as the live defaults.
INSERT INTO dwh_control.settings (key, value, description) VALUES
    ('silent_hours_warn', 8, 'silent device: first bucket'),
    ('silent_hours_alert', 12, 'silent device: second bucket'),
    ('silent_hours_critical', 24, 'silent device: third bucket'),
    ('silent_hours_lost', 36, 'silent device: fourth bucket')
ON CONFLICT (key) DO NOTHING;
