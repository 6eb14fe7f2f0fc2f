-- The run row that wrote an object (for the sweep of objects left in dwh/exports/).
SELECT id, status, loaded_at FROM dwh_control.extract_runs WHERE object_key = %(object_key)s
ORDER BY id DESC LIMIT 1
