-- Which replica serves each key of a sandbox workload (`burrow.app`, `burrow.workspace`):
-- the holder until `expires_at` (ms), which its upkeep renews, and the sandbox it runs.
-- Every claim by another holder raises `epoch`; status writes carry the epoch they were
-- made under, so a holder that lost its lease (frozen, cut off) cannot write late.
-- A released lease keeps its row with no holder, so epochs never repeat for a key.
CREATE TABLE sandbox_leases (
    workload TEXT NOT NULL,
    key TEXT NOT NULL,
    holder TEXT NOT NULL,
    epoch BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    sandbox TEXT,
    PRIMARY KEY (workload, key)
);
CREATE INDEX sandbox_leases_holder ON sandbox_leases (holder);

-- Replicas other replicas forward viewers to, when a sandbox runs on another host: the
-- address of each one's internal listener, and the token it asks of whoever dials it.
CREATE TABLE replicas (
    name TEXT PRIMARY KEY,
    address TEXT NOT NULL,
    token TEXT NOT NULL,
    registered_at BIGINT NOT NULL
);
