-- Every app has an origin of its own, and a view session is valid for exactly one
-- app: the one whose ticket it was redeemed from. Sessions from before last at most
-- 12 hours and are only a cookie on the shared apps origin, which no app uses any
-- more, so they are dropped rather than migrated; viewers are sent through the
-- platform once more and come back with a session for the app they open.

DROP TABLE view_sessions;

CREATE TABLE view_sessions (
    token_hash TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    app_id     TEXT NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    expires_at BIGINT NOT NULL
);

CREATE INDEX view_sessions_expiry ON view_sessions (expires_at);
