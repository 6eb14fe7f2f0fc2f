-- The plausibility window's settings (tracksolid_hook.plausibility.read_window); missing keys take defaults.
SELECT key, value FROM tracksolid.settings WHERE key IN (%(max_future_key)s, %(floor_year_key)s)
