-- A project's tables: each name points at its current version. Versions are immutable
-- Parquet objects in the blob store; replacing a table swaps the pointer in one
-- transaction and retires the old version, whose object goes once no query can still
-- be reading it. Versions keep no foreign key, so a deleted table's or project's
-- objects are still found and removed.
CREATE TABLE data_tables (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    current_version TEXT NOT NULL,
    created_by TEXT REFERENCES users(id) ON DELETE SET NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (project_id, name)
);

CREATE TABLE data_table_versions (
    id TEXT PRIMARY KEY,
    table_id TEXT NOT NULL,
    project_id TEXT NOT NULL,
    blob TEXT NOT NULL,
    columns_json TEXT NOT NULL,
    row_count BIGINT NOT NULL,
    size_bytes BIGINT NOT NULL,
    origin TEXT NOT NULL,
    created_by TEXT,
    created_at BIGINT NOT NULL,
    retired_at BIGINT
);
CREATE INDEX data_table_versions_retired ON data_table_versions (retired_at);
