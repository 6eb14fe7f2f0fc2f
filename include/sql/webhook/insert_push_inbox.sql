-- Store one push request raw. A replay (same payload hash) conflicts: is_new = false tells the receiver to
-- roll back (nothing of the replay is stored) and acknowledge it.
INSERT INTO tracksolid.push_inbox
    (path, push_format, msg_type, payload_sha256, payload, item_count, status, processed_at)
VALUES
    (%(path)s, %(push_format)s, %(msg_type)s, %(payload_sha256)s, %(payload)s::jsonb, %(item_count)s, %(status)s, now())
ON CONFLICT (payload_sha256) DO UPDATE SET last_replayed_at = now()
RETURNING id, (xmax = 0) AS is_new
