//! Environment builds: their requirement sets, states, outcomes and where their logs are.

use crate::{now_ms, Result, Store, StoreError};

/// Where a build is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BuildStatus {
    Queued,
    Running,
    Succeeded,
    Failed,
}

impl BuildStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            BuildStatus::Queued => "queued",
            BuildStatus::Running => "running",
            BuildStatus::Succeeded => "succeeded",
            BuildStatus::Failed => "failed",
        }
    }

    fn parse(s: &str) -> Result<Self> {
        Ok(match s {
            "queued" => BuildStatus::Queued,
            "running" => BuildStatus::Running,
            "succeeded" => BuildStatus::Succeeded,
            "failed" => BuildStatus::Failed,
            other => {
                return Err(StoreError::Config(format!(
                    "unknown build status {other:?} in the database"
                )))
            }
        })
    }

    /// Succeeded or failed: nothing more will happen to it.
    pub fn is_finished(self) -> bool {
        matches!(self, BuildStatus::Succeeded | BuildStatus::Failed)
    }
}

/// One build, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Build {
    pub id: String,
    pub requirements: String,
    pub status: BuildStatus,
    pub environment: Option<String>,
    pub error: Option<String>,
    pub log_blob: Option<String>,
    pub created_by: Option<String>,
    pub created_at: i64,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
}

#[derive(sqlx::FromRow)]
pub(crate) struct BuildRow {
    id: String,
    requirements: String,
    status: String,
    environment: Option<String>,
    error: Option<String>,
    log_blob: Option<String>,
    created_by: Option<String>,
    created_at: i64,
    started_at: Option<i64>,
    finished_at: Option<i64>,
}

impl TryFrom<BuildRow> for Build {
    type Error = StoreError;
    fn try_from(r: BuildRow) -> Result<Self> {
        Ok(Build {
            status: BuildStatus::parse(&r.status)?,
            id: r.id,
            requirements: r.requirements,
            environment: r.environment,
            error: r.error,
            log_blob: r.log_blob,
            created_by: r.created_by,
            created_at: r.created_at,
            started_at: r.started_at,
            finished_at: r.finished_at,
        })
    }
}

pub(crate) const COLUMNS: &str =
    "id, requirements, status, environment, error, log_blob, created_by, \
                       created_at, started_at, finished_at";

impl Store {
    /// Records a new build as queued.
    pub async fn insert_build(
        &self,
        id: &str,
        requirements: &str,
        created_by: Option<&str>,
    ) -> Result<Build> {
        let row = sqlx::query_as::<_, BuildRow>(&format!(
            "INSERT INTO builds (id, requirements, status, created_by, created_at) \
             VALUES ($1, $2, 'queued', $3, $4) RETURNING {COLUMNS}"
        ))
        .bind(id)
        .bind(requirements)
        .bind(created_by)
        .bind(now_ms())
        .fetch_one(self.pool())
        .await?;
        row.try_into()
    }

    pub async fn get_build(&self, id: &str) -> Result<Build> {
        sqlx::query_as::<_, BuildRow>(&format!("SELECT {COLUMNS} FROM builds WHERE id = $1"))
            .bind(id)
            .fetch_one(self.pool())
            .await?
            .try_into()
    }

    /// The builds of app versions that were queued or running, oldest first: after a
    /// restart, they start again. A build no version names is the host's own (a base
    /// built where it is needed) and is never started again on another.
    pub async fn unfinished_builds(&self) -> Result<Vec<Build>> {
        sqlx::query_as::<_, BuildRow>(&format!(
            "SELECT {COLUMNS} FROM builds WHERE status IN ('queued', 'running') \
             AND EXISTS (SELECT 1 FROM app_versions v WHERE v.build_id = builds.id) \
             ORDER BY created_at, id"
        ))
        .fetch_all(self.pool())
        .await?
        .into_iter()
        .map(Build::try_from)
        .collect()
    }

    /// Claims a build for `runner`: a queued one, or a running one last claimed before
    /// `stale_before` (its runner died; the queue's lease decides that, and passes
    /// `i64::MAX`). False if someone else holds it or it has finished.
    pub async fn claim_build(&self, id: &str, runner: &str, stale_before: i64) -> Result<bool> {
        let now = now_ms();
        let done = sqlx::query(
            "UPDATE builds SET status = 'running', runner = $2, started_at = $3, heartbeat_at = $3 \
             WHERE id = $1 AND (status = 'queued' OR (status = 'running' AND heartbeat_at < $4))",
        )
        .bind(id)
        .bind(runner)
        .bind(now)
        .bind(stale_before)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Records how a build ended: the environment it produced, or why it failed.
    /// Only the runner holding the claim may; for anyone else it is `NotFound`.
    pub async fn finish_build(
        &self,
        id: &str,
        runner: &str,
        outcome: std::result::Result<&str, &str>,
        log_blob: Option<&str>,
    ) -> Result<Build> {
        let (status, environment, error) = match outcome {
            Ok(env) => (BuildStatus::Succeeded, Some(env), None),
            Err(why) => (BuildStatus::Failed, None, Some(why)),
        };
        let mut tx = self.pool().begin().await?;
        let build: Build = sqlx::query_as::<_, BuildRow>(&format!(
            "UPDATE builds SET status = $2, environment = $3, error = $4, log_blob = $5, \
             finished_at = $6 WHERE id = $1 AND runner = $7 AND status = 'running' \
             RETURNING {COLUMNS}"
        ))
        .bind(id)
        .bind(status.as_str())
        .bind(environment)
        .bind(error)
        .bind(log_blob)
        .bind(now_ms())
        .bind(runner)
        .fetch_one(&mut *tx)
        .await?
        .try_into()?;
        if status == BuildStatus::Succeeded {
            crate::apps::activate_built_version(&mut tx, id).await?;
        }
        tx.commit().await?;
        Ok(build)
    }
}
