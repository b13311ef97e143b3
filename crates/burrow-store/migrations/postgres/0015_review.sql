-- The reviewer role, between editor and owner.
ALTER TABLE project_members DROP CONSTRAINT project_members_role_check;
ALTER TABLE project_members ADD CONSTRAINT project_members_role_check
    CHECK (role IN ('owner', 'reviewer', 'editor', 'viewer'));

-- Review: templates to start workspaces from, submissions of workspaces, threads of
-- comments on their lines, and notifications of every kind.
--
-- A snapshot is an immutable set of files: a template's, or a submission's. Its files
-- name their content by sha256 in `contents`, one row per distinct content in a
-- project (a small text inline, anything else a blob written before the row), so a
-- file unchanged from one snapshot to the next costs a row of `snapshot_files` only.
CREATE TABLE contents (
    project_id TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    sha256     TEXT NOT NULL,
    size       BIGINT NOT NULL,
    content    TEXT,
    blob       TEXT,
    PRIMARY KEY (project_id, sha256)
);

CREATE TABLE snapshots (
    id         TEXT PRIMARY KEY,
    project_id TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    files      BIGINT NOT NULL,
    bytes      BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE snapshot_files (
    snapshot_id TEXT NOT NULL REFERENCES snapshots (id) ON DELETE CASCADE,
    path        TEXT COLLATE "C" NOT NULL,
    project_id  TEXT NOT NULL,
    sha256      TEXT NOT NULL,
    size        BIGINT NOT NULL,
    PRIMARY KEY (snapshot_id, path),
    FOREIGN KEY (project_id, sha256) REFERENCES contents (project_id, sha256)
);

CREATE INDEX snapshot_files_content ON snapshot_files (project_id, sha256);

-- Starting files that owners and reviewers name; a workspace made from one keeps the
-- snapshot it started from, the base of its first submission's diff.
CREATE TABLE templates (
    id          TEXT PRIMARY KEY,
    project_id  TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    snapshot_id TEXT NOT NULL REFERENCES snapshots (id),
    created_by  TEXT REFERENCES users (id) ON DELETE SET NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);

CREATE UNIQUE INDEX templates_one_name ON templates (project_id, name);
CREATE INDEX templates_snapshot ON templates (snapshot_id);

ALTER TABLE workspaces ADD COLUMN template_id TEXT REFERENCES templates (id) ON DELETE SET NULL;
ALTER TABLE workspaces ADD COLUMN base_snapshot_id TEXT REFERENCES snapshots (id);
CREATE INDEX workspaces_base_snapshot ON workspaces (base_snapshot_id);

-- A workspace's submissions, numbered from 1. Immutable but for the status and the last
-- review; `base_snapshot_id` is what its diff is against: the previous submission's
-- snapshot, or the template's for the first.
CREATE TABLE submissions (
    id               TEXT PRIMARY KEY,
    project_id       TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    workspace_id     TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    learner_id       TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    seq              BIGINT NOT NULL,
    snapshot_id      TEXT NOT NULL REFERENCES snapshots (id),
    base_snapshot_id TEXT REFERENCES snapshots (id),
    base_seq         BIGINT,
    template_id      TEXT REFERENCES templates (id) ON DELETE SET NULL,
    message          TEXT NOT NULL,
    status           TEXT NOT NULL CHECK (status IN
                        ('submitted', 'changes_requested', 'approved', 'superseded', 'withdrawn')),
    created_at       BIGINT NOT NULL,
    reviewed_by      TEXT REFERENCES users (id) ON DELETE SET NULL,
    reviewed_at      BIGINT,
    summary          TEXT
);

CREATE UNIQUE INDEX submissions_seq ON submissions (workspace_id, seq);
CREATE INDEX submissions_project ON submissions (project_id, created_at);
CREATE INDEX submissions_snapshot ON submissions (snapshot_id);
CREATE INDEX submissions_base_snapshot ON submissions (base_snapshot_id);

-- A thread of comments anchored to a submission, a file, a side of its diff ('old' the
-- base, 'new' the submission) and a line range; the anchor never moves.
CREATE TABLE review_threads (
    id            TEXT PRIMARY KEY,
    submission_id TEXT NOT NULL REFERENCES submissions (id) ON DELETE CASCADE,
    path          TEXT COLLATE "C" NOT NULL,
    side          TEXT NOT NULL CHECK (side IN ('old', 'new')),
    line_start    BIGINT NOT NULL,
    line_end      BIGINT NOT NULL,
    resolved      BIGINT NOT NULL DEFAULT 0 CHECK (resolved IN (0, 1)),
    created_at    BIGINT NOT NULL
);

CREATE INDEX review_threads_submission ON review_threads (submission_id);

CREATE TABLE review_comments (
    id         TEXT PRIMARY KEY,
    thread_id  TEXT NOT NULL REFERENCES review_threads (id) ON DELETE CASCADE,
    author_id  TEXT REFERENCES users (id) ON DELETE SET NULL,
    body       TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE INDEX review_comments_thread ON review_comments (thread_id, created_at);

-- Notifications of every kind, each with the project it is about and where in the
-- dashboard it leads.
ALTER TABLE notifications ADD COLUMN kind TEXT NOT NULL DEFAULT 'app_crashed';
ALTER TABLE notifications ADD COLUMN project_id TEXT REFERENCES projects (id) ON DELETE CASCADE;
ALTER TABLE notifications ADD COLUMN link TEXT;
UPDATE notifications SET
    project_id = (SELECT a.project_id FROM apps a WHERE a.id = notifications.app_id),
    link = (SELECT '/projects/' || a.project_id || '/apps/' || a.id FROM apps a
            WHERE a.id = notifications.app_id)
    WHERE app_id IS NOT NULL;
