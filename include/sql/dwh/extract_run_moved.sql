-- The object was moved out of dwh/exports/ after the load (or by a later run's sweep).
UPDATE dwh_control.extract_runs
SET processed_key = %(processed_key)s, moved_at = now()
WHERE id = %(id)s
