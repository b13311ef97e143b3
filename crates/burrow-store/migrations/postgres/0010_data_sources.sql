-- A project's external PostgreSQL sources. The password is sealed (AES-256-GCM under
-- the instance's data sources key, bound to the source's id) and never leaves Burrow.
CREATE TABLE data_sources (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    host TEXT NOT NULL,
    port BIGINT NOT NULL,
    database_name TEXT NOT NULL,
    username TEXT NOT NULL,
    password_sealed TEXT NOT NULL,
    tls_mode TEXT NOT NULL,
    -- 0 or 1: jobs may write here, so its user may change the database.
    destination BIGINT NOT NULL DEFAULT 0,
    created_by TEXT REFERENCES users(id) ON DELETE SET NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (project_id, name)
);
