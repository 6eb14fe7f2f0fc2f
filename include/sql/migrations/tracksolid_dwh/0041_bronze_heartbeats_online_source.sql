-- Mirror of live migration 0075: heartbeats carry `online` (polled heartbeats of devices without a fix) and
-- `source` (push | poll). Bronze keeps every source column; rows loaded before this have source 'push'.
ALTER TABLE bronze.heartbeats
    ADD COLUMN online boolean,
    ADD COLUMN source text DEFAULT 'push';
COMMENT ON COLUMN bronze.heartbeats.source IS 'push (/pushhb) or poll (location row without a fix), as in the live table';
