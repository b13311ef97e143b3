-- What one replica tells the others: rows read in `seq` order from the last one a
-- subscriber saw. SQLite has one writer, so rows commit in `seq` order; AUTOINCREMENT
-- never hands out a number twice. Rows older than an hour are swept.
CREATE TABLE events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    topic TEXT NOT NULL,
    subject TEXT NOT NULL,
    at BIGINT NOT NULL
);
CREATE INDEX events_at ON events (at);

-- A live log's pieces while it is written: each a blob holding `length` bytes from
-- `start`, so any replica can read it by byte offset. `log` names it, such as
-- `build:<id>`; the pieces go when the whole log is stored.
CREATE TABLE log_segments (
    log TEXT NOT NULL,
    start BIGINT NOT NULL,
    length BIGINT NOT NULL,
    blob TEXT NOT NULL,
    PRIMARY KEY (log, start)
);
