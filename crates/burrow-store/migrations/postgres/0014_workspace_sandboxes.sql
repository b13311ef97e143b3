-- A workspace's sandbox as people see it: where it is in its life (the apps' statuses),
-- the last error, when it started and when its person last gave it input, and the files
-- made in it that Burrow refused to keep, one per line with why.
ALTER TABLE workspaces ADD COLUMN status TEXT NOT NULL DEFAULT 'stopped';
ALTER TABLE workspaces ADD COLUMN last_error TEXT;
ALTER TABLE workspaces ADD COLUMN started_at BIGINT;
ALTER TABLE workspaces ADD COLUMN last_active_at BIGINT;
ALTER TABLE workspaces ADD COLUMN sync_problems TEXT NOT NULL DEFAULT '';
