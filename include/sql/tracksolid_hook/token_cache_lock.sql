-- Serialise token renewal per (app_key, account) for the rest of the transaction, so N concurrent tasks
-- make one token request (the platform refuses tokens asked for too often). Two-key form: the first key
-- namespaces these locks away from any other advisory lock in the database.
SELECT pg_advisory_xact_lock(hashtext('tracksolid.api_token_cache'), hashtext(%(app_key)s || '|' || %(account)s));
