//! Transform jobs: scripts and their immutable versions, and the jobs that run them, with
//! a job's status read together with its queue task's, so a job whose worker died reads
//! as the task ended.

use crate::{now_ms, Result, Store, StoreError};

/// A script with its newest version's source.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct JobScript {
    pub id: String,
    pub project_id: String,
    pub name: String,
    pub latest_version: i64,
    pub source: String,
    pub created_by: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// One version of a script.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ScriptVersion {
    pub script_id: String,
    pub version: i64,
    pub source: String,
    pub created_by: Option<String>,
    pub creator_name: Option<String>,
    pub created_at: i64,
}

/// A job as stored, its status already reconciled with its queue task's.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Job {
    pub id: String,
    pub project_id: String,
    pub script_id: String,
    pub script_name: String,
    pub script_version: i64,
    pub source_table: String,
    /// The data source the source table is on (`schema.table`); `None` for a project table.
    pub source_database: Option<String>,
    pub destination_table: String,
    pub destination_database: Option<String>,
    pub mode: String,
    pub task_id: Option<String>,
    /// `pending`, `running`, `succeeded`, `failed` or `cancelled`.
    pub status: String,
    pub rows_read: i64,
    pub rows_written: i64,
    pub chunks: i64,
    pub output: String,
    pub error: Option<String>,
    pub traceback: Option<String>,
    pub created_by: Option<String>,
    pub creator_name: Option<String>,
    pub created_at: i64,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
    /// The schedule that made it, and the tick it ran for.
    pub schedule_id: Option<String>,
    pub scheduled_for: Option<i64>,
    /// The most memory its sandbox used, from the sandbox's cgroup.
    pub peak_memory_bytes: Option<i64>,
    #[sqlx(default)]
    task_status: Option<String>,
    #[sqlx(default)]
    task_error: Option<String>,
    #[sqlx(default)]
    task_finished_at: Option<i64>,
}

impl Job {
    /// A job still pending or running whose task ended without it (its worker died and
    /// its attempts are used up, or it was cancelled) reads as its task ended; a running
    /// one whose task is queued again (its worker died, and it has attempts left) reads
    /// as pending.
    fn reconciled(mut self) -> Self {
        let open = matches!(self.status.as_str(), "pending" | "running");
        match self.task_status.as_deref() {
            Some("queued") if self.status == "running" => self.status = "pending".into(),
            Some(ended @ ("failed" | "cancelled" | "succeeded")) if open => {
                self.status = if ended == "succeeded" {
                    "failed".into()
                } else {
                    ended.into()
                };
                self.error = Some(match (ended, self.task_error.take()) {
                    ("cancelled", _) => "cancelled".into(),
                    (_, Some(e)) => format!("the job's worker ended without finishing it: {e}"),
                    _ => "the job's worker ended without finishing it".into(),
                });
                self.finished_at = self.task_finished_at;
            }
            _ => {}
        }
        self
    }
}

/// A job to queue.
#[derive(Debug, Clone)]
pub struct NewJob<'a> {
    pub id: &'a str,
    pub project_id: &'a str,
    pub script_id: &'a str,
    pub script_version: i64,
    pub source_table: &'a str,
    pub source_database: Option<&'a str>,
    pub destination_table: &'a str,
    pub destination_database: Option<&'a str>,
    pub mode: &'a str,
    pub created_by: &'a str,
    /// The schedule and tick it runs for, when a schedule made it.
    pub schedule: Option<(&'a str, i64)>,
}

/// What a job's runner has counted so far.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobProgress {
    pub rows_read: i64,
    pub rows_written: i64,
    pub chunks: i64,
    pub output: String,
    pub peak_memory_bytes: Option<i64>,
}

/// What a job's destination must be when its result is swapped in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Destination<'a> {
    /// No table of that name (mode `create`).
    Absent,
    /// Still this version (mode `append`, which copied its rows).
    Version(&'a str),
    /// Whatever it is; made if missing (mode `replace`).
    Any,
}

/// How committing a job's result went; all but `Committed` changed nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobCommit {
    Committed,
    /// The job was cancelled (or ended) meanwhile.
    JobClosed,
    /// The destination is not what the job expected.
    TableChanged,
    /// Mode `create`, and a table of that name appeared meanwhile.
    NameTaken,
}

const SCRIPT: &str =
    "SELECT s.id, s.project_id, s.name, s.latest_version, v.source, s.created_by, \
     s.created_at, s.updated_at FROM job_scripts s JOIN job_script_versions v \
     ON v.script_id = s.id AND v.version = s.latest_version";

const JOB: &str =
    "SELECT j.id, j.project_id, j.script_id, s.name AS script_name, j.script_version, \
     j.source_table, j.source_database, j.destination_table, j.destination_database, \
     j.mode, j.task_id, j.status, j.rows_read, \
     j.rows_written, j.chunks, j.output, j.error, j.traceback, j.created_by, \
     u.name AS creator_name, j.created_at, j.started_at, j.finished_at, j.schedule_id, \
     j.scheduled_for, j.peak_memory_bytes, t.status AS task_status, t.error AS task_error, t.finished_at AS task_finished_at \
     FROM jobs j JOIN job_scripts s ON s.id = j.script_id \
     LEFT JOIN users u ON u.id = j.created_by LEFT JOIN queue_tasks t ON t.id = j.task_id";

const OPEN: &str = "status IN ('pending', 'running')";

/// A job's status as [`Job::reconciled`] reads it, in SQL, for filters.
const RECONCILED: &str = "CASE WHEN j.status IN ('pending', 'running') \
     AND t.status IN ('failed', 'cancelled', 'succeeded') \
     THEN (CASE WHEN t.status = 'cancelled' THEN 'cancelled' ELSE 'failed' END) \
     WHEN j.status = 'running' AND t.status = 'queued' THEN 'pending' \
     ELSE j.status END";

/// The name of a job's log in `log` events.
pub fn job_log_name(id: &str) -> String {
    format!("job:{id}")
}

impl Store {
    /// Makes a script whose first version is `source`; a taken name is a conflict.
    pub async fn create_script(
        &self,
        id: &str,
        project_id: &str,
        name: &str,
        source: &str,
        user_id: &str,
    ) -> Result<()> {
        let now = now_ms();
        let mut tx = self.pool().begin().await?;
        sqlx::query(
            "INSERT INTO job_scripts (id, project_id, name, latest_version, created_by, \
             created_at, updated_at) VALUES ($1, $2, $3, 1, $4, $5, $5)",
        )
        .bind(id)
        .bind(project_id)
        .bind(name)
        .bind(user_id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        insert_version(&mut tx, id, 1, source, user_id, now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Adds a version to a script and returns its number.
    pub async fn add_script_version(
        &self,
        project_id: &str,
        name: &str,
        source: &str,
        user_id: &str,
    ) -> Result<i64> {
        let now = now_ms();
        let mut tx = self.pool().begin().await?;
        let done = sqlx::query(
            "UPDATE job_scripts SET latest_version = latest_version + 1, updated_at = $1 \
             WHERE project_id = $2 AND name = $3",
        )
        .bind(now)
        .bind(project_id)
        .bind(name)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        let (id, version): (String, i64) = sqlx::query_as(
            "SELECT id, latest_version FROM job_scripts WHERE project_id = $1 AND name = $2",
        )
        .bind(project_id)
        .bind(name)
        .fetch_one(&mut *tx)
        .await?;
        insert_version(&mut tx, &id, version, source, user_id, now).await?;
        tx.commit().await?;
        Ok(version)
    }

    pub async fn list_scripts(&self, project_id: &str) -> Result<Vec<JobScript>> {
        Ok(
            sqlx::query_as(&format!("{SCRIPT} WHERE s.project_id = $1 ORDER BY s.name"))
                .bind(project_id)
                .fetch_all(self.pool())
                .await?,
        )
    }

    pub async fn get_script(&self, project_id: &str, name: &str) -> Result<JobScript> {
        Ok(
            sqlx::query_as(&format!("{SCRIPT} WHERE s.project_id = $1 AND s.name = $2"))
                .bind(project_id)
                .bind(name)
                .fetch_one(self.pool())
                .await?,
        )
    }

    /// A script's versions, newest first.
    pub async fn list_script_versions(&self, script_id: &str) -> Result<Vec<ScriptVersion>> {
        Ok(sqlx::query_as(
            "SELECT v.script_id, v.version, v.source, v.created_by, u.name AS creator_name, \
             v.created_at FROM job_script_versions v LEFT JOIN users u ON u.id = v.created_by \
             WHERE v.script_id = $1 ORDER BY v.version DESC",
        )
        .bind(script_id)
        .fetch_all(self.pool())
        .await?)
    }

    pub async fn get_script_version(&self, script_id: &str, version: i64) -> Result<ScriptVersion> {
        Ok(sqlx::query_as(
            "SELECT v.script_id, v.version, v.source, v.created_by, u.name AS creator_name, \
             v.created_at FROM job_script_versions v LEFT JOIN users u ON u.id = v.created_by \
             WHERE v.script_id = $1 AND v.version = $2",
        )
        .bind(script_id)
        .bind(version)
        .fetch_one(self.pool())
        .await?)
    }

    /// Records a pending job; its task is attached with [`Store::set_job_task`].
    pub async fn create_job(&self, job: &NewJob<'_>) -> Result<()> {
        let mut conn = self.pool().acquire().await?;
        insert_job(&mut conn, job, now_ms()).await
    }

    pub async fn set_job_task(&self, id: &str, task_id: &str) -> Result<()> {
        let mut conn = self.pool().acquire().await?;
        set_task(&mut conn, id, task_id).await
    }

    /// A project's jobs, newest first, at most `limit`, optionally only those in `status`
    /// (as reconciled with their tasks) or those that read or write `table`. Without their
    /// output, which only a job's own page shows.
    pub async fn list_jobs(
        &self,
        project_id: &str,
        status: Option<&str>,
        table: Option<&str>,
        limit: i64,
    ) -> Result<Vec<Job>> {
        let rows: Vec<Job> = sqlx::query_as(&format!(
            "{} WHERE j.project_id = $1 \
             AND ($2 = '' OR j.source_table = $2 OR j.destination_table = $2) \
             AND ($3 = '' OR {RECONCILED} = $3) \
             ORDER BY j.created_at DESC, j.id DESC LIMIT $4",
            JOB.replace("j.output,", "'' AS output,")
        ))
        .bind(project_id)
        .bind(table.unwrap_or(""))
        .bind(status.unwrap_or(""))
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        Ok(rows.into_iter().map(Job::reconciled).collect())
    }

    pub async fn get_job(&self, project_id: &str, id: &str) -> Result<Job> {
        let job: Job = sqlx::query_as(&format!("{JOB} WHERE j.project_id = $1 AND j.id = $2"))
            .bind(project_id)
            .bind(id)
            .fetch_one(self.pool())
            .await?;
        Ok(job.reconciled())
    }

    /// A job by id alone, for its runner.
    pub async fn get_job_by_id(&self, id: &str) -> Result<Job> {
        let job: Job = sqlx::query_as(&format!("{JOB} WHERE j.id = $1"))
            .bind(id)
            .fetch_one(self.pool())
            .await?;
        Ok(job.reconciled())
    }

    /// Marks a pending (or, after its worker died, running) job running, its counters and
    /// log starting anew; `false` when it already ended (cancelled meanwhile).
    pub async fn start_job(&self, id: &str) -> Result<bool> {
        let done = sqlx::query(&format!(
            "UPDATE jobs SET status = 'running', started_at = $1, rows_read = 0, \
             rows_written = 0, chunks = 0, output = '', peak_memory_bytes = NULL WHERE id = $2 AND {OPEN}"
        ))
        .bind(now_ms())
        .bind(id)
        .execute(self.pool())
        .await?;
        self.job_log_written(id, done.rows_affected()).await
    }

    /// Records what a running job has counted; `false` when it has ended meanwhile.
    pub async fn record_job_progress(&self, id: &str, progress: &JobProgress) -> Result<bool> {
        let done = sqlx::query(&format!(
            "UPDATE jobs SET rows_read = $1, rows_written = $2, chunks = $3, output = $4 \
             WHERE id = $5 AND {OPEN}"
        ))
        .bind(progress.rows_read)
        .bind(progress.rows_written)
        .bind(progress.chunks)
        .bind(&progress.output)
        .bind(id)
        .execute(self.pool())
        .await?;
        self.job_log_written(id, done.rows_affected()).await
    }

    /// Ends an open job with `status`; `false` when it had ended already (a cancel won).
    pub async fn finish_job(
        &self,
        id: &str,
        status: &str,
        progress: &JobProgress,
        error: Option<&str>,
        traceback: Option<&str>,
    ) -> Result<bool> {
        let done = sqlx::query(&format!(
            "UPDATE jobs SET status = $1, rows_read = $2, rows_written = $3, chunks = $4, \
             output = $5, error = $6, traceback = $7, finished_at = $8, peak_memory_bytes = $9 \
             WHERE id = $10 AND {OPEN}"
        ))
        .bind(status)
        .bind(progress.rows_read)
        .bind(progress.rows_written)
        .bind(progress.chunks)
        .bind(&progress.output)
        .bind(error)
        .bind(traceback)
        .bind(now_ms())
        .bind(progress.peak_memory_bytes)
        .bind(id)
        .execute(self.pool())
        .await?;
        self.job_log_written(id, done.rows_affected()).await
    }

    /// Cancels an open job, saying by whom; `false` when it had ended already.
    pub async fn cancel_job(&self, project_id: &str, id: &str, reason: &str) -> Result<bool> {
        let done = sqlx::query(&format!(
            "UPDATE jobs SET status = 'cancelled', error = $1, finished_at = $2 \
             WHERE project_id = $3 AND id = $4 AND {OPEN}"
        ))
        .bind(reason)
        .bind(now_ms())
        .bind(project_id)
        .bind(id)
        .execute(self.pool())
        .await?;
        self.job_log_written(id, done.rows_affected()).await
    }

    /// Swaps a job's result in as its destination's current version and marks the job
    /// succeeded, in one transaction: both happen, or (when the job was cancelled, or the
    /// destination is not as `expect` says) neither. `table_id` names a table made anew.
    #[allow(clippy::too_many_arguments)]
    pub async fn commit_job_version(
        &self,
        job_id: &str,
        progress: &JobProgress,
        project_id: &str,
        name: &str,
        table_id: &str,
        expect: Destination<'_>,
        version: &crate::NewTableVersion<'_>,
    ) -> Result<JobCommit> {
        let now = now_ms();
        let mut tx = self.pool().begin().await?;
        crate::members::lock_project(&mut tx, project_id).await?;
        let current: Option<(String, String)> = sqlx::query_as(
            "SELECT id, current_version FROM data_tables WHERE project_id = $1 AND name = $2",
        )
        .bind(project_id)
        .bind(name)
        .fetch_optional(&mut *tx)
        .await?;
        match (&current, expect) {
            (Some(_), Destination::Absent) => return Ok(JobCommit::NameTaken),
            (None, Destination::Version(_)) => return Ok(JobCommit::TableChanged),
            (Some((_, now_current)), Destination::Version(v)) if now_current != v => {
                return Ok(JobCommit::TableChanged)
            }
            (Some((id, old)), _) => {
                crate::tables::swap_version(&mut tx, project_id, id, old, version).await?
            }
            (None, _) => {
                crate::tables::insert_table(&mut tx, project_id, table_id, name, version).await?
            }
        }
        let done = sqlx::query(&format!(
            "UPDATE jobs SET status = 'succeeded', rows_read = $1, rows_written = $2, \
             chunks = $3, output = $4, finished_at = $5, peak_memory_bytes = $6 \
             WHERE id = $7 AND {OPEN}"
        ))
        .bind(progress.rows_read)
        .bind(progress.rows_written)
        .bind(progress.chunks)
        .bind(&progress.output)
        .bind(now)
        .bind(progress.peak_memory_bytes)
        .bind(job_id)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(JobCommit::JobClosed);
        }
        tx.commit().await?;
        self.job_log_written(job_id, 1).await?;
        Ok(JobCommit::Committed)
    }

    /// After a write of a job's status or output that changed `changed` rows: whether it
    /// did, announcing it to the log's followers on every replica when it did.
    async fn job_log_written(&self, id: &str, changed: u64) -> Result<bool> {
        if changed == 1 {
            self.announce(crate::LOG_EVENT, &job_log_name(id)).await;
        }
        Ok(changed == 1)
    }

    /// Whether a job is still open in the database (not ended by a cancel).
    pub async fn job_is_open(&self, id: &str) -> Result<bool> {
        let (status,): (String,) = sqlx::query_as("SELECT status FROM jobs WHERE id = $1")
            .bind(id)
            .fetch_one(self.pool())
            .await?;
        Ok(matches!(status.as_str(), "pending" | "running"))
    }
}

pub(crate) async fn insert_job(
    conn: &mut sqlx::AnyConnection,
    job: &NewJob<'_>,
    now: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO jobs (id, project_id, script_id, script_version, source_table, \
         destination_table, mode, status, created_by, created_at, schedule_id, scheduled_for, \
         source_database, destination_database) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending', $8, $9, $10, $11, $12, $13)",
    )
    .bind(job.id)
    .bind(job.project_id)
    .bind(job.script_id)
    .bind(job.script_version)
    .bind(job.source_table)
    .bind(job.destination_table)
    .bind(job.mode)
    // A schedule whose maker's account is gone makes jobs by no one.
    .bind(Some(job.created_by).filter(|by| !by.is_empty()))
    .bind(now)
    .bind(job.schedule.map(|(id, _)| id))
    .bind(job.schedule.map(|(_, tick)| tick))
    .bind(job.source_database)
    .bind(job.destination_database)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub(crate) async fn set_task(
    conn: &mut sqlx::AnyConnection,
    id: &str,
    task_id: &str,
) -> Result<()> {
    sqlx::query("UPDATE jobs SET task_id = $1 WHERE id = $2")
        .bind(task_id)
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

async fn insert_version(
    conn: &mut sqlx::AnyConnection,
    script_id: &str,
    version: i64,
    source: &str,
    user_id: &str,
    now: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO job_script_versions (script_id, version, source, created_by, created_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(script_id)
    .bind(version)
    .bind(source)
    .bind(user_id)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}
