-- Environment builds: a requirement set, installed with uv into a Python
-- environment, going queued -> running -> succeeded | failed.

CREATE TABLE builds (
    id           TEXT PRIMARY KEY,
    requirements TEXT NOT NULL,   -- normalised requirements.txt; empty: the base environment alone
    status       TEXT NOT NULL CHECK (status IN ('queued', 'running', 'succeeded', 'failed')),
    environment  TEXT,            -- the environment's key, once succeeded
    error        TEXT,            -- why it failed, naming the package
    log_blob     TEXT,            -- the full log, once finished
    runner       TEXT,            -- the process running it, which renews heartbeat_at
    heartbeat_at BIGINT,          -- a running build whose heartbeat is stale may be taken over
    created_by   TEXT REFERENCES users (id) ON DELETE SET NULL,
    created_at   BIGINT NOT NULL,
    started_at   BIGINT,
    finished_at  BIGINT
);

CREATE INDEX builds_unfinished ON builds (status) WHERE status IN ('queued', 'running');
