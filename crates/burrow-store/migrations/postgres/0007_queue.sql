-- One durable work queue for everything that runs in the background: typed tasks
-- claimed under a lease that their worker renews, retried up to a limit, and
-- cancellable; and periodic tasks that run once per tick, however many processes run.

CREATE TABLE queue_tasks (
    id           TEXT PRIMARY KEY,
    kind         TEXT NOT NULL,      -- which handler runs it, such as `env.build`
    dedupe_key   TEXT NOT NULL,      -- at most one queued or running task per kind and key
    payload      TEXT NOT NULL,      -- the handler's input, as JSON
    status       TEXT NOT NULL CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
    attempts     BIGINT NOT NULL DEFAULT 0,
    max_attempts BIGINT NOT NULL CHECK (max_attempts >= 1),
    run_after    BIGINT NOT NULL,    -- not claimed before this (a retry's backoff)
    claimed_by   TEXT,               -- the claim's token: only its holder renews or finishes it
    lease_until  BIGINT,             -- a running task whose lease passed is taken over
    cancel       BIGINT NOT NULL DEFAULT 0 CHECK (cancel IN (0, 1)),
    error        TEXT,
    created_at   BIGINT NOT NULL,
    started_at   BIGINT,
    finished_at  BIGINT
);

CREATE INDEX queue_tasks_ready ON queue_tasks (status, run_after);
CREATE UNIQUE INDEX queue_tasks_active ON queue_tasks (kind, dedupe_key)
    WHERE status IN ('queued', 'running');

CREATE TABLE queue_periodic (
    name     TEXT PRIMARY KEY,
    next_run BIGINT NOT NULL         -- the next tick; whoever moves it on runs that tick
);
