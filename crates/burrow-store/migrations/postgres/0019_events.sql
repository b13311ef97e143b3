-- What one replica tells the others: rows read in `seq` order from the last one a
-- subscriber saw, so nothing is lost across a dropped connection. Publishers take one
-- advisory lock, so rows commit in `seq` order. A NOTIFY on `burrow_events` with the
-- commit is only a doorbell. Rows older than an hour are swept.
CREATE TABLE events (
    seq BIGSERIAL PRIMARY KEY,
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
