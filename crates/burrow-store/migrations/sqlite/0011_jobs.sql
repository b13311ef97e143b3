-- Transform jobs. A script's versions are immutable; a job runs one of them from a
-- project table to a project table, through the durable queue (`task_id`). A job's
-- own status is written by its runner; while it is pending or running, a task that
-- ended without it (its worker died) says how it ended.
CREATE TABLE job_scripts (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    latest_version BIGINT NOT NULL,
    created_by TEXT REFERENCES users(id) ON DELETE SET NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (project_id, name)
);

CREATE TABLE job_script_versions (
    script_id TEXT NOT NULL REFERENCES job_scripts(id) ON DELETE CASCADE,
    version BIGINT NOT NULL,
    source TEXT NOT NULL,
    created_by TEXT REFERENCES users(id) ON DELETE SET NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (script_id, version)
);

CREATE TABLE jobs (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    script_id TEXT NOT NULL REFERENCES job_scripts(id) ON DELETE CASCADE,
    script_version BIGINT NOT NULL,
    source_table TEXT NOT NULL,
    destination_table TEXT NOT NULL,
    -- create, replace or append
    mode TEXT NOT NULL,
    task_id TEXT,
    -- pending, running, succeeded, failed or cancelled
    status TEXT NOT NULL,
    rows_read BIGINT NOT NULL DEFAULT 0,
    rows_written BIGINT NOT NULL DEFAULT 0,
    chunks BIGINT NOT NULL DEFAULT 0,
    output TEXT NOT NULL DEFAULT '',
    error TEXT,
    traceback TEXT,
    created_by TEXT REFERENCES users(id) ON DELETE SET NULL,
    created_at BIGINT NOT NULL,
    started_at BIGINT,
    finished_at BIGINT
);

CREATE INDEX jobs_by_project ON jobs (project_id, created_at);
