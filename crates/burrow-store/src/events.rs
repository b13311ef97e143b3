//! Events across replicas: rows of `events` read in sequence from the last one seen, with
//! PostgreSQL's `LISTEN/NOTIFY` as the doorbell; and the segments of live logs.
//!
//! [`Store::publish`] writes a row (a topic and a subject, such as `log` and
//! `build:bld_…`) and rings. Each process runs one reader (started by the first
//! [`Store::subscribe`]) that reads the rows after the newest it has, keeps the latest
//! few thousand, and wakes its subscribers. On PostgreSQL it listens on `burrow_events`
//! with a connection of its own; when that connection drops, it listens again and then
//! reads from where it was, so a notification missed meanwhile loses nothing. It also
//! reads every [`Store::set_event_poll`] interval whatever rings, which is how SQLite
//! sees rows written by another process. A subscriber that falls behind the kept rows
//! reads the rest from the table. Publishers on PostgreSQL take one advisory lock, so
//! rows commit in `seq` order and a reader never skips one that commits late.

use std::collections::VecDeque;
use std::sync::{Arc, Weak};
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::{watch, Notify};

use crate::{now_ms, Backend, Result, Store, StoreError};

/// The channel notifications ring on.
const CHANNEL: &str = "burrow_events";
/// Rows kept in memory for subscribers; one that falls further behind reads the table.
const KEPT: usize = 4096;
/// Rows read at a time.
const BATCH: i64 = 500;
/// Topic of an event saying a view may have been taken away (see [`crate::viewing`]).
pub const ACCESS: &str = "access";
/// Topic of an event saying a log grew or ended; the subject names the log, such as
/// `build:<id>` or [`crate::job_log_name`].
pub const LOG_EVENT: &str = "log";

/// One event: what happened (`topic`) to what (`subject`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub seq: i64,
    pub topic: String,
    pub subject: String,
}

/// One piece of a live log: `length` bytes from `start`, in the blob `blob`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogSegment {
    pub start: i64,
    pub length: i64,
    pub blob: String,
}

/// This process's reader of `events`; see the module documentation.
pub(crate) struct Hub {
    /// PostgreSQL's URL, for the listening connection.
    listen_url: Option<String>,
    recent: Mutex<Recent>,
    /// The newest sequence read.
    head: watch::Sender<i64>,
    /// Rung by a publish in this process.
    rung: Notify,
    /// How many `access` events were read: what open sockets wait on.
    access: watch::Sender<u64>,
    started: tokio::sync::OnceCell<()>,
    poll: Mutex<Duration>,
}

/// The rows read lately: every row after `floor`, up to the head.
#[derive(Default)]
struct Recent {
    floor: i64,
    events: VecDeque<Arc<Event>>,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Not the URL: it holds the password.
        f.debug_struct("Hub")
            .field("head", &*self.head.borrow())
            .finish_non_exhaustive()
    }
}

impl Hub {
    pub(crate) fn new(listen_url: Option<String>) -> Self {
        Self {
            listen_url,
            recent: Mutex::default(),
            head: watch::channel(0).0,
            rung: Notify::new(),
            access: watch::channel(0).0,
            started: tokio::sync::OnceCell::new(),
            poll: Mutex::new(Duration::from_secs(5)),
        }
    }

    /// The kept rows after `last`, or `None` when rows after it are no longer kept.
    fn after(&self, last: i64) -> Option<Vec<Arc<Event>>> {
        let recent = self.recent.lock();
        if last < recent.floor {
            return None;
        }
        let from = recent.events.partition_point(|e| e.seq <= last);
        Some(recent.events.range(from..).cloned().collect())
    }

    fn keep(&self, read: Vec<Event>) {
        let head = *self.head.borrow();
        let Some(newest) = read.last().map(|e| e.seq).filter(|n| *n > head) else {
            return;
        };
        let mut recent = self.recent.lock();
        // Rows read again (after a read that failed midway) are kept once.
        recent
            .events
            .extend(read.into_iter().filter(|e| e.seq > head).map(Arc::new));
        while recent.events.len() > KEPT {
            if let Some(gone) = recent.events.pop_front() {
                recent.floor = gone.seq;
            }
        }
        drop(recent);
        self.head.send_replace(newest);
    }
}

/// Events after the moment of subscribing, in order; see [`Store::subscribe`].
pub struct Subscription {
    store: Store,
    last: i64,
    head: watch::Receiver<i64>,
    backlog: VecDeque<Arc<Event>>,
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription")
            .field("last", &self.last)
            .finish_non_exhaustive()
    }
}

impl Subscription {
    /// The next event, waiting for it; each comes once, in `seq` order.
    pub async fn next(&mut self) -> Result<Arc<Event>> {
        loop {
            if let Some(event) = self.backlog.pop_front() {
                self.last = event.seq;
                return Ok(event);
            }
            let head = *self.head.borrow_and_update();
            if head > self.last {
                match self.store.events.after(self.last) {
                    Some(kept) => self.backlog.extend(kept),
                    // Fallen behind what is kept: the table has every row.
                    None => self.backlog.extend(
                        self.store
                            .events_after(self.last, BATCH)
                            .await?
                            .into_iter()
                            .map(Arc::new),
                    ),
                }
                if self.backlog.is_empty() {
                    // Rows swept before they were read: go on from the head.
                    self.last = head;
                }
                continue;
            }
            if self.head.changed().await.is_err() {
                return Err(StoreError::Unavailable("the event reader stopped".into()));
            }
        }
    }

    /// Waits until an event of `topic` about `subject` comes, or `within` passes;
    /// whether one came. Other events are passed over.
    pub async fn wait_for(&mut self, topic: &str, subject: &str, within: Duration) -> bool {
        let found = async {
            loop {
                match self.next().await {
                    Ok(e) if e.topic == topic && e.subject == subject => return true,
                    Ok(_) => {}
                    Err(_) => return false,
                }
            }
        };
        tokio::time::timeout(within, found).await.unwrap_or(false)
    }

    /// The sequence of the last event handed out (or of the head when subscribing).
    pub fn seq(&self) -> i64 {
        self.last
    }
}

impl Store {
    /// Writes an event for every replica's subscribers and rings; returns its sequence.
    pub async fn publish(&self, topic: &str, subject: &str) -> Result<i64> {
        let mut tx = self.pool().begin().await?;
        if self.backend() == Backend::Postgres {
            // Publishers commit one at a time, in `seq` order (see the module documentation).
            sqlx::query("SELECT pg_advisory_xact_lock(7212)::TEXT")
                .execute(&mut *tx)
                .await?;
        }
        let (seq,): (i64,) = sqlx::query_as(
            "INSERT INTO events (topic, subject, at) VALUES ($1, $2, $3) RETURNING seq",
        )
        .bind(topic)
        .bind(subject)
        .bind(now_ms())
        .fetch_one(&mut *tx)
        .await?;
        if self.backend() == Backend::Postgres {
            sqlx::query("SELECT pg_notify($1, '')::TEXT")
                .bind(CHANNEL)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        self.events.rung.notify_one();
        Ok(seq)
    }

    /// [`Store::publish`], for a doorbell whose loss only delays: a failure is logged.
    pub async fn announce(&self, topic: &str, subject: &str) {
        if let Err(e) = self.publish(topic, subject).await {
            tracing::warn!(topic, subject, error = %e, "An event was not published");
        }
    }

    /// Events after `seq`, oldest first, at most `limit`.
    pub async fn events_after(&self, seq: i64, limit: i64) -> Result<Vec<Event>> {
        let rows: Vec<(i64, String, String)> = sqlx::query_as(
            "SELECT seq, topic, subject FROM events WHERE seq > $1 ORDER BY seq LIMIT $2",
        )
        .bind(seq)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .into_iter()
            .map(|(seq, topic, subject)| Event {
                seq,
                topic,
                subject,
            })
            .collect())
    }

    /// Deletes events written before `before_ms`; returns how many.
    pub async fn delete_events_before(&self, before_ms: i64) -> Result<u64> {
        let done = sqlx::query("DELETE FROM events WHERE at < $1")
            .bind(before_ms)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected())
    }

    /// How often this process reads `events` whatever rings (5 s by default); set it
    /// before the first [`Store::subscribe`].
    pub fn set_event_poll(&self, every: Duration) {
        *self.events.poll.lock() = every;
    }

    /// A count of the `access` events read, which changes once this process's view
    /// grants were forgotten for one: open sockets check their access again when it
    /// does. Starts the reader as [`Store::subscribe`] does.
    pub async fn access_changes(&self) -> Result<watch::Receiver<u64>> {
        self.start_events().await?;
        Ok(self.events.access.subscribe())
    }

    /// Events from now on, in order. The first call starts this process's reader, which
    /// also applies every replica's `access` events to this process's view grants.
    pub async fn subscribe(&self) -> Result<Subscription> {
        self.start_events().await?;
        let mut head = self.events.head.subscribe();
        let last = *head.borrow_and_update();
        Ok(Subscription {
            store: self.clone(),
            last,
            head,
            backlog: VecDeque::new(),
        })
    }

    async fn start_events(&self) -> Result<()> {
        self.events
            .started
            .get_or_try_init(|| async {
                let (head,): (Option<i64>,) = sqlx::query_as("SELECT MAX(seq) FROM events")
                    .fetch_one(self.pool())
                    .await?;
                let head = head.unwrap_or(0);
                self.events.recent.lock().floor = head;
                self.events.head.send_replace(head);
                let reader = Reader {
                    store: self.downgrade(),
                    listener: None,
                };
                tokio::spawn(reader.run(head));
                Ok::<_, StoreError>(())
            })
            .await?;
        Ok(())
    }

    /// Records a piece of build `build_id`'s live log, stored already as its blob, for
    /// `runner` while it holds the build's claim; pieces recorded at or after its start
    /// (by a runner the build was taken from) are dropped. Returns their blobs, for the
    /// caller to delete, or `None` when `runner` no longer holds the claim (nothing is
    /// recorded: its blob is the caller's to delete, and its shipping to end).
    pub async fn record_build_log_segment(
        &self,
        build_id: &str,
        runner: &str,
        segment: &LogSegment,
    ) -> Result<Option<Vec<String>>> {
        let log = format!("build:{build_id}");
        let mut tx = self.pool().begin().await?;
        let lock = match self.backend() {
            // Waits for a claim in flight, and holds the next one off until this commits.
            Backend::Postgres => " FOR UPDATE",
            Backend::Sqlite => "",
        };
        let held: Option<(i64,)> = sqlx::query_as(&format!(
            "SELECT 1 FROM builds WHERE id = $1 AND runner = $2 AND status = 'running'{lock}"
        ))
        .bind(build_id)
        .bind(runner)
        .fetch_optional(&mut *tx)
        .await?;
        if held.is_none() {
            return Ok(None);
        }
        let replaced: Vec<(String,)> = sqlx::query_as(
            "DELETE FROM log_segments WHERE log = $1 AND start >= $2 RETURNING blob",
        )
        .bind(&log)
        .bind(segment.start)
        .fetch_all(&mut *tx)
        .await?;
        sqlx::query("INSERT INTO log_segments (log, start, length, blob) VALUES ($1, $2, $3, $4)")
            .bind(&log)
            .bind(segment.start)
            .bind(segment.length)
            .bind(&segment.blob)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Some(replaced.into_iter().map(|(b,)| b).collect()))
    }

    /// Builds whose live log's segments are left over: ended with their whole log stored
    /// (a deletion that failed), or unfinished since before `created_before` (their
    /// runner died and nobody took them over). An ended build whose whole log could not
    /// be stored keeps its segments: they are its log.
    pub async fn builds_with_stale_log_segments(&self, created_before: i64) -> Result<Vec<String>> {
        let rows: Vec<(String,)> = sqlx::query_as(
            "SELECT DISTINCT b.id FROM builds b JOIN log_segments s ON s.log = 'build:' || b.id \
             WHERE (b.status IN ('succeeded', 'failed') AND b.log_blob IS NOT NULL) \
             OR (b.status IN ('queued', 'running') AND b.created_at < $1)",
        )
        .bind(created_before)
        .fetch_all(self.pool())
        .await?;
        Ok(rows.into_iter().map(|(b,)| b).collect())
    }

    /// A live log's pieces that hold bytes at or after `offset`, in order, at most `limit`.
    pub async fn log_segments_from(
        &self,
        log: &str,
        offset: i64,
        limit: i64,
    ) -> Result<Vec<LogSegment>> {
        let rows: Vec<(i64, i64, String)> = sqlx::query_as(
            "SELECT start, length, blob FROM log_segments WHERE log = $1 AND start + length > $2 \
             ORDER BY start LIMIT $3",
        )
        .bind(log)
        .bind(offset)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .into_iter()
            .map(|(start, length, blob)| LogSegment {
                start,
                length,
                blob,
            })
            .collect())
    }

    /// Forgets a live log's pieces; returns their blobs, for the caller to delete.
    pub async fn remove_log_segments(&self, log: &str) -> Result<Vec<String>> {
        let rows: Vec<(String,)> =
            sqlx::query_as("DELETE FROM log_segments WHERE log = $1 RETURNING blob")
                .bind(log)
                .fetch_all(self.pool())
                .await?;
        Ok(rows.into_iter().map(|(b,)| b).collect())
    }
}

/// The one task per process that reads `events`; it ends when the store is dropped or closed.
struct Reader {
    store: WeakStore,
    listener: Option<sqlx::postgres::PgListener>,
}

impl Reader {
    async fn run(mut self, mut head: i64) {
        loop {
            let Some(store) = self.store.upgrade() else {
                return;
            };
            if store.pool().is_closed() {
                return;
            }
            let hub = Arc::clone(&store.events);
            let poll = *hub.poll.lock();
            // Listen first, then read: a row committed in between is read now, and one
            // committed after rings.
            if self.listener.is_none() {
                if let Some(url) = &hub.listen_url {
                    self.listener = listen(url)
                        .await
                        .map_err(|e| tracing::warn!(error = %e, every_ms = poll.as_millis() as u64, "Cannot listen for events, so other replicas' are read on a timer: check that the database takes another connection (LISTEN needs a session, which a pooler in transaction mode does not give)"))
                        .ok();
                }
            }
            head = match read_from(&store, head).await {
                Ok(h) => h,
                Err(e) => {
                    tracing::warn!(error = %e, "Cannot read events");
                    head
                }
            };
            drop(store);
            let rang = async {
                match self.listener.as_mut() {
                    Some(l) => match l.try_recv().await {
                        // One read serves every ring that came meanwhile.
                        Ok(Some(_)) => while l.next_buffered().is_some() {},
                        // The connection dropped: listen again, then read.
                        Ok(None) | Err(_) => self.listener = None,
                    },
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                () = rang => {}
                () = hub.rung.notified() => {}
                () = tokio::time::sleep(poll) => {}
            }
            if self.listener.is_none() && hub.listen_url.is_some() {
                // Not at once: the database may be restarting.
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

async fn listen(url: &str) -> Result<sqlx::postgres::PgListener> {
    let mut listener = sqlx::postgres::PgListener::connect(url).await?;
    // Reconnecting is ours to do, listening and then reading what was missed.
    listener.ignore_pool_close_event(true);
    listener.eager_reconnect(false);
    listener.listen(CHANNEL).await?;
    Ok(listener)
}

/// Reads every row after `head` into the hub, applies `access` events to the grants,
/// and returns the new head.
async fn read_from(store: &Store, mut head: i64) -> Result<i64> {
    loop {
        let read = store.events_after(head, BATCH).await?;
        let Some(last) = read.last().map(|e| e.seq) else {
            return Ok(head);
        };
        let access = read.iter().any(|e| e.topic == ACCESS);
        if access {
            store.grants.revoke();
        }
        let full = read.len() as i64 == BATCH;
        store.events.keep(read);
        if access {
            store.events.access.send_modify(|n| *n += 1);
        }
        head = last;
        if !full {
            return Ok(head);
        }
    }
}

/// A store the reader does not keep alive.
pub(crate) struct WeakStore {
    pool: sqlx::AnyPool,
    backend: Backend,
    sqlite_file: Option<std::path::PathBuf>,
    grants: Weak<crate::viewing::Grants>,
    events: Weak<Hub>,
}

impl WeakStore {
    fn upgrade(&self) -> Option<Store> {
        Some(Store {
            pool: self.pool.clone(),
            backend: self.backend,
            sqlite_file: self.sqlite_file.clone(),
            grants: self.grants.upgrade()?,
            events: self.events.upgrade()?,
        })
    }
}

impl Store {
    fn downgrade(&self) -> WeakStore {
        WeakStore {
            pool: self.pool.clone(),
            backend: self.backend,
            sqlite_file: self.sqlite_file.clone(),
            grants: Arc::downgrade(&self.grants),
            events: Arc::downgrade(&self.events),
        }
    }
}
