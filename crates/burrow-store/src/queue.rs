//! The durable work queue's rows: tasks claimed under leases, retried, cancelled; periodic ticks.
//!
//! Every function takes `now` (milliseconds since the epoch) from its caller, so the
//! queue's notion of time is the caller's and tests can move it on at will.

use crate::{Backend, Result, Store, StoreError};

/// Where a task is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskStatus {
    Queued,
    Running,
    Succeeded,
    Failed,
    Cancelled,
}

impl TaskStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TaskStatus::Queued => "queued",
            TaskStatus::Running => "running",
            TaskStatus::Succeeded => "succeeded",
            TaskStatus::Failed => "failed",
            TaskStatus::Cancelled => "cancelled",
        }
    }

    fn parse(s: &str) -> Result<Self> {
        Ok(match s {
            "queued" => TaskStatus::Queued,
            "running" => TaskStatus::Running,
            "succeeded" => TaskStatus::Succeeded,
            "failed" => TaskStatus::Failed,
            "cancelled" => TaskStatus::Cancelled,
            other => {
                return Err(StoreError::Config(format!(
                    "unknown task status {other:?} in the database"
                )))
            }
        })
    }

    /// Nothing more will happen to it.
    pub fn is_finished(self) -> bool {
        matches!(
            self,
            TaskStatus::Succeeded | TaskStatus::Failed | TaskStatus::Cancelled
        )
    }
}

/// One task, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Task {
    pub id: String,
    pub kind: String,
    pub dedupe_key: String,
    pub payload: String,
    pub status: TaskStatus,
    pub attempts: i64,
    pub max_attempts: i64,
    pub run_after: i64,
    pub claimed_by: Option<String>,
    pub lease_until: Option<i64>,
    pub cancel: bool,
    pub error: Option<String>,
    pub created_at: i64,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
}

#[derive(sqlx::FromRow)]
struct TaskRow {
    id: String,
    kind: String,
    dedupe_key: String,
    payload: String,
    status: String,
    attempts: i64,
    max_attempts: i64,
    run_after: i64,
    claimed_by: Option<String>,
    lease_until: Option<i64>,
    cancel: i64,
    error: Option<String>,
    created_at: i64,
    started_at: Option<i64>,
    finished_at: Option<i64>,
}

impl TryFrom<TaskRow> for Task {
    type Error = StoreError;
    fn try_from(r: TaskRow) -> Result<Self> {
        Ok(Task {
            status: TaskStatus::parse(&r.status)?,
            id: r.id,
            kind: r.kind,
            dedupe_key: r.dedupe_key,
            payload: r.payload,
            attempts: r.attempts,
            max_attempts: r.max_attempts,
            run_after: r.run_after,
            claimed_by: r.claimed_by,
            lease_until: r.lease_until,
            cancel: r.cancel != 0,
            error: r.error,
            created_at: r.created_at,
            started_at: r.started_at,
            finished_at: r.finished_at,
        })
    }
}

const COLUMNS: &str = "id, kind, dedupe_key, payload, status, attempts, max_attempts, run_after, \
                       claimed_by, lease_until, cancel, error, created_at, started_at, finished_at";

/// A task to queue.
#[derive(Debug, Clone)]
pub struct NewTask<'a> {
    pub kind: &'a str,
    /// While a task of this kind and key is queued or running, queuing another returns it.
    pub dedupe_key: &'a str,
    pub payload: &'a str,
    pub max_attempts: i64,
    /// Not claimed before this.
    pub run_after: i64,
}

/// How a claimed task ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskOutcome {
    Succeeded,
    Failed(String),
    /// Failed, with attempts left: queued again, claimable from `at`.
    Retry {
        error: String,
        at: i64,
    },
    Cancelled,
}

/// What renewing a claim found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Renewal {
    /// Still ours, for longer.
    Held,
    /// Still ours, but someone asked for it to be cancelled.
    CancelRequested,
    /// No longer ours: it was taken over after its lease passed, or it finished.
    Lost,
}

impl Store {
    /// Queues a task, unless one of the same kind and key is queued or running; returns
    /// that task, and whether it is new.
    pub async fn enqueue_task(&self, new: NewTask<'_>, now: i64) -> Result<(Task, bool)> {
        // The task in the way may finish between the insert and the look-up; then the
        // key is free, and the insert is tried again.
        for _ in 0..3 {
            let mut conn = self.pool().acquire().await?;
            if let Some(task) = insert_task(&mut conn, &new, now).await? {
                return Ok((task, true));
            }
            let existing = sqlx::query_as::<_, TaskRow>(&format!(
                "SELECT {COLUMNS} FROM queue_tasks WHERE kind = $1 AND dedupe_key = $2 \
                 AND status IN ('queued', 'running')"
            ))
            .bind(new.kind)
            .bind(new.dedupe_key)
            .fetch_optional(self.pool())
            .await?;
            if let Some(row) = existing {
                return Ok((row.try_into()?, false));
            }
        }
        Err(StoreError::Unavailable(format!(
            "tasks of kind {} and key {} kept finishing while another was queued: try again",
            new.kind, new.dedupe_key
        )))
    }

    pub async fn get_task(&self, id: &str) -> Result<Task> {
        sqlx::query_as::<_, TaskRow>(&format!("SELECT {COLUMNS} FROM queue_tasks WHERE id = $1"))
            .bind(id)
            .fetch_one(self.pool())
            .await?
            .try_into()
    }

    /// Takes back running tasks whose lease has passed (their worker died or hung):
    /// cancelled if that was asked for, failed if their attempts are used up, queued
    /// again otherwise. Returns how many.
    pub async fn reap_tasks(&self, now: i64) -> Result<u64> {
        let mut reaped = 0;
        for sql in [
            "UPDATE queue_tasks SET status = 'cancelled', claimed_by = NULL, finished_at = $1 \
             WHERE status = 'running' AND lease_until < $1 AND cancel = 1",
            "UPDATE queue_tasks SET status = 'failed', claimed_by = NULL, finished_at = $1, \
             error = 'its worker stopped renewing its claim, and its attempts are used up' \
             WHERE status = 'running' AND lease_until < $1 AND attempts >= max_attempts",
            "UPDATE queue_tasks SET status = 'queued', claimed_by = NULL, lease_until = NULL, \
             error = 'its worker stopped renewing its claim' \
             WHERE status = 'running' AND lease_until < $1",
        ] {
            reaped += sqlx::query(sql)
                .bind(now)
                .execute(self.pool())
                .await?
                .rows_affected();
        }
        Ok(reaped)
    }

    /// Claims the oldest ready task of one of `kinds` for the claim `token`, until
    /// `lease_until`. On PostgreSQL concurrent claimers skip each other's rows (`FOR
    /// UPDATE SKIP LOCKED`); SQLite has one writer, so the statement is a claim of its own.
    pub async fn claim_task(
        &self,
        kinds: &[&str],
        token: &str,
        now: i64,
        lease_until: i64,
    ) -> Result<Option<Task>> {
        if kinds.is_empty() {
            return Ok(None);
        }
        let placeholders: Vec<String> = (0..kinds.len()).map(|i| format!("${}", i + 4)).collect();
        let lock = match self.backend() {
            Backend::Postgres => "FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        };
        let sql = format!(
            "UPDATE queue_tasks SET status = 'running', claimed_by = $1, lease_until = $3, \
             attempts = attempts + 1, started_at = $2 \
             WHERE id = (SELECT id FROM queue_tasks WHERE status = 'queued' AND run_after <= $2 \
             AND kind IN ({}) ORDER BY run_after, created_at, id LIMIT 1 {lock}) \
             AND status = 'queued' RETURNING {COLUMNS}",
            placeholders.join(", ")
        );
        let mut query = sqlx::query_as::<_, TaskRow>(&sql)
            .bind(token)
            .bind(now)
            .bind(lease_until);
        for kind in kinds {
            query = query.bind(*kind);
        }
        query
            .fetch_optional(self.pool())
            .await?
            .map(Task::try_from)
            .transpose()
    }

    /// Renews the claim `token` holds on a running task.
    pub async fn renew_task(&self, id: &str, token: &str, lease_until: i64) -> Result<Renewal> {
        let row: Option<(i64,)> = sqlx::query_as(
            "UPDATE queue_tasks SET lease_until = $3 \
             WHERE id = $1 AND claimed_by = $2 AND status = 'running' RETURNING cancel",
        )
        .bind(id)
        .bind(token)
        .bind(lease_until)
        .fetch_optional(self.pool())
        .await?;
        Ok(match row {
            Some((0,)) => Renewal::Held,
            Some(_) => Renewal::CancelRequested,
            None => Renewal::Lost,
        })
    }

    /// Records how a claimed task ended. Only the holder of the claim may: for anyone
    /// else (a worker whose lease passed and was taken over) it is false, and nothing
    /// changes.
    pub async fn finish_task(
        &self,
        id: &str,
        token: &str,
        outcome: &TaskOutcome,
        now: i64,
    ) -> Result<bool> {
        let (status, error, run_after, finished_at) = match outcome {
            TaskOutcome::Succeeded => (TaskStatus::Succeeded, None, None, Some(now)),
            TaskOutcome::Failed(why) => (TaskStatus::Failed, Some(why.as_str()), None, Some(now)),
            TaskOutcome::Retry { error, at } => {
                (TaskStatus::Queued, Some(error.as_str()), Some(*at), None)
            }
            TaskOutcome::Cancelled => (TaskStatus::Cancelled, None, None, Some(now)),
        };
        // A retry of a task someone asked to cancel meanwhile is cancelled instead.
        let done = sqlx::query(
            "UPDATE queue_tasks SET \
             status = CASE WHEN $3 = 'queued' AND cancel = 1 THEN 'cancelled' ELSE $3 END, \
             error = COALESCE($4, error), \
             run_after = COALESCE($5, run_after), \
             finished_at = CASE WHEN $3 = 'queued' AND cancel = 1 THEN $7 ELSE $6 END, \
             claimed_by = CASE WHEN $3 = 'queued' THEN NULL ELSE claimed_by END, \
             lease_until = NULL \
             WHERE id = $1 AND claimed_by = $2 AND status = 'running'",
        )
        .bind(id)
        .bind(token)
        .bind(status.as_str())
        .bind(error)
        .bind(run_after)
        .bind(finished_at)
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Cancels a task: a queued one at once; a running one is flagged, and its worker
    /// stops it at its next renewal (or the reaper does, if the worker is gone).
    /// Returns the status it is left in.
    pub async fn cancel_task(&self, id: &str, now: i64) -> Result<TaskStatus> {
        // One statement, so a task moving between queued and running meanwhile cannot
        // slip past both halves.
        sqlx::query(
            "UPDATE queue_tasks SET \
             cancel = CASE WHEN status = 'running' THEN 1 ELSE cancel END, \
             finished_at = CASE WHEN status = 'queued' THEN $2 ELSE finished_at END, \
             status = CASE WHEN status = 'queued' THEN 'cancelled' ELSE status END \
             WHERE id = $1",
        )
        .bind(id)
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(self.get_task(id).await?.status)
    }

    /// Claims the current tick of the periodic task `name`, which runs every `every_ms`:
    /// true for exactly one caller per tick, however many processes ask. The first
    /// tick is due at once.
    pub async fn claim_tick(&self, name: &str, now: i64, every_ms: i64) -> Result<bool> {
        sqlx::query(
            "INSERT INTO queue_periodic (name, next_run) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(now)
        .execute(self.pool())
        .await?;
        let moved = sqlx::query(
            "UPDATE queue_periodic SET next_run = $3 WHERE name = $1 AND next_run <= $2",
        )
        .bind(name)
        .bind(now)
        .bind(now + every_ms.max(1))
        .execute(self.pool())
        .await?;
        Ok(moved.rows_affected() == 1)
    }
}

/// Queues `new` on `conn` (in the caller's transaction, when it has one), unless a task of
/// the same kind and key is queued or running: then `None`.
pub(crate) async fn insert_task(
    conn: &mut sqlx::AnyConnection,
    new: &NewTask<'_>,
    now: i64,
) -> Result<Option<Task>> {
    let id = burrow_core::ids::new_id("task");
    sqlx::query_as::<_, TaskRow>(&format!(
        "INSERT INTO queue_tasks (id, kind, dedupe_key, payload, status, max_attempts, run_after, created_at) \
         VALUES ($1, $2, $3, $4, 'queued', $5, $6, $7) \
         ON CONFLICT (kind, dedupe_key) WHERE status IN ('queued', 'running') DO NOTHING \
         RETURNING {COLUMNS}"
    ))
    .bind(&id)
    .bind(new.kind)
    .bind(new.dedupe_key)
    .bind(new.payload)
    .bind(new.max_attempts.max(1))
    .bind(new.run_after)
    .bind(now)
    .fetch_optional(&mut *conn)
    .await?
    .map(Task::try_from)
    .transpose()
}
