-- location.list / location.get rows of a device that never had a fix carry hbTime and its online status but
-- no gpsTime: they are kept as heartbeats (live_positions needs a fix). `online` is that status (push
-- heartbeats leave it null); `source` tells polled heartbeats from pushed ones.
ALTER TABLE tracksolid.heartbeats
    ADD COLUMN online boolean,
    ADD COLUMN source text NOT NULL DEFAULT 'push' CHECK (source IN ('poll', 'push'));
COMMENT ON COLUMN tracksolid.heartbeats.online IS 'Online flag of a polled heartbeat (location status "1"); null for push';
COMMENT ON COLUMN tracksolid.heartbeats.source IS 'push (/pushhb) or poll (location.list / location.get row without a fix)';
