-- A replay was acknowledged without re-processing: count it on the original inbox row.
UPDATE tracksolid.push_inbox
SET replay_count = replay_count + 1,
    last_replayed_at = now()
WHERE payload_sha256 = %(payload_sha256)s
