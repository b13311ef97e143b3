-- Schedules of transform jobs, external PostgreSQL sources as a job's source or
-- destination, and each job's peak memory. A schedule runs its script's
-- newest version on a cron expression (UTC). `next_run` is its next tick: whoever
-- moves it on, in the transaction that records that tick's job and queues its task,
-- runs that tick, so each tick runs once however many processes share the database.
CREATE TABLE job_schedules (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    script_id TEXT NOT NULL REFERENCES job_scripts(id) ON DELETE CASCADE,
    source_table TEXT NOT NULL,
    -- the data source (by name) the table is on; NULL for a project table
    source_database TEXT,
    destination_table TEXT NOT NULL,
    destination_database TEXT,
    -- replace or append: a schedule runs again and again, so never create
    mode TEXT NOT NULL,
    cron TEXT NOT NULL,
    next_run BIGINT NOT NULL,
    created_by TEXT REFERENCES users(id) ON DELETE SET NULL,
    created_at BIGINT NOT NULL
);

CREATE INDEX job_schedules_due ON job_schedules (next_run);
CREATE INDEX job_schedules_by_project ON job_schedules (project_id, created_at);

-- The schedule a job ran for, and the tick; at most one job per tick.
ALTER TABLE jobs ADD COLUMN schedule_id TEXT;
ALTER TABLE jobs ADD COLUMN scheduled_for BIGINT;
CREATE UNIQUE INDEX jobs_one_per_tick ON jobs (schedule_id, scheduled_for);

-- A job's tables may be on a data source (by name, `schema.table`); NULL for project tables.
ALTER TABLE jobs ADD COLUMN source_database TEXT;
ALTER TABLE jobs ADD COLUMN destination_database TEXT;

-- The most memory the job's sandbox used, from its cgroup; NULL when unknown.
ALTER TABLE jobs ADD COLUMN peak_memory_bytes BIGINT;
