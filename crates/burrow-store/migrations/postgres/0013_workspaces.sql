-- Workspaces: a person's files in a project, the database being their truth. A small
-- text file's content is stored in its row; any other file's in the blob store, under
-- the key in `blob`, written before the row that names it.
CREATE TABLE workspaces (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    -- the person who made it: only they open and change it
    owner_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    -- the last version any of its files was given: versions never repeat in a
    -- workspace, so a file deleted and made again is never taken for the old one
    versions BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE UNIQUE INDEX workspaces_one_name ON workspaces (project_id, owner_id, name);

CREATE TABLE workspace_files (
    workspace_id TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    -- byte order, as on SQLite, whatever the database's locale
    path TEXT COLLATE "C" NOT NULL,
    -- the path lower-cased: two paths differing only in case would collide on most
    -- file systems people open them on
    folded TEXT COLLATE "C" NOT NULL,
    size BIGINT NOT NULL,
    sha256 TEXT NOT NULL,
    -- the workspace's version counter when made or last changed
    version BIGINT NOT NULL,
    content TEXT,
    blob TEXT,
    updated_by TEXT REFERENCES users(id) ON DELETE SET NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (workspace_id, path)
);

CREATE UNIQUE INDEX workspace_files_folded ON workspace_files (workspace_id, folded);
