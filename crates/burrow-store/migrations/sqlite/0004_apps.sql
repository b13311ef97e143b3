-- Streamlit apps and their versions. An app runs its active version; a version
-- becomes active when its environment build succeeds, or when activated by hand.

CREATE TABLE apps (
    id                TEXT PRIMARY KEY,   -- the short id in viewer URLs: random, URL-safe, unguessable
    project_id        TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    name              TEXT NOT NULL,
    description       TEXT NOT NULL,
    active_version    BIGINT,             -- NULL until a version's build succeeds
    cpu_millis        BIGINT NOT NULL,
    memory_bytes      BIGINT NOT NULL,
    idle_timeout_secs BIGINT NOT NULL,
    status            TEXT NOT NULL DEFAULT 'stopped'
                      CHECK (status IN ('stopped', 'starting', 'running', 'stopping', 'error')),
    restart_count     BIGINT NOT NULL DEFAULT 0,
    last_error        TEXT,
    started_at        BIGINT,
    last_activity_at  BIGINT,
    created_by        TEXT REFERENCES users (id) ON DELETE SET NULL,
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL,
    UNIQUE (project_id, name)
);

CREATE TABLE app_versions (
    app_id       TEXT NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    number       BIGINT NOT NULL,         -- 1, 2, … per app
    bundle_blob  TEXT NOT NULL,           -- the canonical zip
    sha256       TEXT NOT NULL,
    requirements TEXT NOT NULL,           -- normalised requirements.txt
    inferred     BIGINT NOT NULL CHECK (inferred IN (0, 1)),
    warnings     TEXT NOT NULL,           -- JSON array of findings
    build_id     TEXT NOT NULL REFERENCES builds (id),
    created_by   TEXT REFERENCES users (id) ON DELETE SET NULL,
    created_at   BIGINT NOT NULL,
    PRIMARY KEY (app_id, number)
);

CREATE INDEX app_versions_build ON app_versions (build_id);
