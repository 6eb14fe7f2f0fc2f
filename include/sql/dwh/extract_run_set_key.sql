-- Record the object key before uploading, so a half-finished upload can still be found.
-- Keys are `dwh/exports/{table}/{YYYYMMDD_HHMM}.csv.gz`; when another run already used that key (two runs in
-- one minute) the row id is appended, so no object is ever overwritten.
UPDATE dwh_control.extract_runs r
SET object_key = CASE
        WHEN EXISTS (SELECT 1 FROM dwh_control.extract_runs o
                     WHERE o.object_key = %(object_key)s AND o.id <> r.id)
        THEN replace(%(object_key)s, '.csv.gz', '_' || r.id || '.csv.gz')
        ELSE %(object_key)s
    END
WHERE r.id = %(id)s
RETURNING object_key
