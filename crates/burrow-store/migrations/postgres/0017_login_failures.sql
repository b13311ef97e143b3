-- Failed logins (and attempts still being checked), per limited key: `account:{email}`
-- or `address:{ip}`. Kept in the database so every replica counts the same failures;
-- rows older than the window are deleted as keys are checked and by an hourly sweep.
CREATE TABLE login_failures (
    id TEXT PRIMARY KEY,
    key TEXT NOT NULL,
    at BIGINT NOT NULL
);
CREATE INDEX login_failures_key_at ON login_failures (key, at);
