-- Items of a well-formed request that could not be stored, each with its reason (issue 12): the good items of
-- the same request are stored by the other statements of its transaction. %(rows)s: one object per item
-- (item index, reason, detail, and item_value only when the item had to be re-encoded: NUL characters, which
-- jsonb cannot hold, replaced); %(items)s: the items array as received (or re-encoded, see store.py).
-- The inbox row was inserted earlier in the same transaction (a replay rolls all of this back).
WITH src AS MATERIALIZED (SELECT %(items)s::jsonb AS items)
INSERT INTO tracksolid.push_quarantine (inbox_id, path, item_index, reason, detail, item)
SELECT (SELECT id FROM tracksolid.push_inbox WHERE payload_sha256 = %(payload_sha256)s),
       %(path)s, r.item, r.reason, r.detail, COALESCE(r.item_value, src.items -> r.item)
FROM src CROSS JOIN jsonb_to_recordset(%(rows)s::jsonb) AS r(item integer, reason text, detail text, item_value jsonb)
ORDER BY r.item
ON CONFLICT (inbox_id, item_index) DO NOTHING
