-- live_positions holds one row per device (hundreds to a few thousand rows) and is rewritten on every fix that
-- reaches the receiver or the poll: the busiest UPDATE target of the database. Two changes let those updates
-- be HOT (heap-only tuple: the new version goes on the same page, no index entry is written):
--
-- 1. No GiST index on geom. Any indexed column that changes makes an update non-HOT, and geom changes with
--    every fix, so each update wrote new entries into both indexes and left the old ones behind (the table
--    and its indexes grew with every update until a VACUUM). A spatial query over one row per device reads
--    the whole table quickly without it; spatial queries over history use position_history's GiST index.
-- 2. fillfactor 50: inserts leave half of each page free, so an update finds room on its own page.
--
-- Measured on the push benchmark's statement (50 fixes for 50 devices per request): 0.95 instead of
-- 1.35 ms of database CPU per request for the live_positions part, all updates HOT, and the table stays at its
-- size instead of growing about 7x over 75,000 updates (docs/BENCHMARKS.md, webhook).
DROP INDEX IF EXISTS tracksolid.live_positions_geom_gix;
ALTER TABLE tracksolid.live_positions SET (fillfactor = 50);
