-- An app's secrets: each value sealed by the instance's key, bound to its app and name,
-- never stored in the clear. Every change bumps the app's `secrets_revision` in the same
-- transaction, so a running sandbox with an older revision is switched to a new one.
CREATE TABLE app_secrets (
    app_id TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    sealed TEXT NOT NULL,
    updated_by TEXT REFERENCES users(id) ON DELETE SET NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (app_id, name)
);
ALTER TABLE apps ADD COLUMN secrets_revision BIGINT NOT NULL DEFAULT 0;
