-- A late retry of an old load whose window a newer load already covered: loading it would put older row
-- versions back, so it is refused and marked failed.
UPDATE dwh_control.extract_runs
SET status = 'failed', finished_at = now(),
    error = 'superseded: the watermark moved since this extract (now ' || coalesce(%(current)s::text, 'NULL')
            || ', extract started at ' || coalesce(%(watermark_from)s::text, 'NULL') || '); not loaded'
WHERE id = %(id)s
