-- Viewing apps on the apps origin, and notifications.
--
-- A view ticket is minted on the platform for one user and one app; the apps
-- origin redeems it once, within a minute, for a view session: a cookie that is
-- valid only on the apps origin, never for the API. Both are stored as SHA-256.

CREATE TABLE view_tickets (
    token_hash TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    app_id     TEXT NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    expires_at BIGINT NOT NULL
);

CREATE TABLE view_sessions (
    token_hash TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    expires_at BIGINT NOT NULL
);

CREATE TABLE notifications (
    id         TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    app_id     TEXT REFERENCES apps (id) ON DELETE CASCADE,
    message    TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    read_at    BIGINT
);

CREATE INDEX notifications_user ON notifications (user_id, created_at);
