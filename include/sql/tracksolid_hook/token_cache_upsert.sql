-- Store a freshly obtained or refreshed token for (app_key, account).
INSERT INTO tracksolid.api_token_cache (app_key, account, access_token, refresh_token, issued_at, expires_at)
VALUES (%(app_key)s, %(account)s, %(access_token)s, %(refresh_token)s, %(issued_at)s, %(expires_at)s)
ON CONFLICT (app_key, account) DO UPDATE
SET access_token  = EXCLUDED.access_token,
    refresh_token = EXCLUDED.refresh_token,
    issued_at     = EXCLUDED.issued_at,
    expires_at    = EXCLUDED.expires_at;
