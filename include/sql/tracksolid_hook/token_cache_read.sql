-- The cached token of one (app_key, account), shared by every worker.
SELECT access_token, refresh_token, issued_at, expires_at
FROM tracksolid.api_token_cache
WHERE app_key = %(app_key)s AND account = %(account)s;
