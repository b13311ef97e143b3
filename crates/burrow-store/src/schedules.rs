//! Schedules of transform jobs: a cron expression's ticks, each turned into exactly one
//! job, however many processes share the database.
//!
//! The store knows nothing of cron: its caller computes each schedule's next tick. A
//! tick is fired by moving `next_run` on from the value the caller read, in the same
//! transaction that records the tick's job and queues its task; of two processes firing
//! one tick, the second moves nothing and records nothing.

use crate::jobs::{insert_job, set_task, NewJob};
use crate::queue::{insert_task, NewTask};
use crate::{Result, Store};

/// A schedule as stored, with its script's name and its newest job.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct JobSchedule {
    pub id: String,
    pub project_id: String,
    pub script_id: String,
    pub script_name: String,
    /// The script's newest version: each tick runs that.
    pub script_version: i64,
    pub source_table: String,
    pub source_database: Option<String>,
    pub destination_table: String,
    pub destination_database: Option<String>,
    pub mode: String,
    pub cron: String,
    /// The next tick, in milliseconds since the epoch (UTC).
    pub next_run: i64,
    pub created_by: Option<String>,
    pub creator_name: Option<String>,
    pub created_at: i64,
    /// The job of its latest tick, if it has run.
    pub last_job_id: Option<String>,
}

/// A schedule to record.
#[derive(Debug, Clone)]
pub struct NewSchedule<'a> {
    pub id: &'a str,
    pub project_id: &'a str,
    pub script_id: &'a str,
    pub source_table: &'a str,
    pub source_database: Option<&'a str>,
    pub destination_table: &'a str,
    pub destination_database: Option<&'a str>,
    pub mode: &'a str,
    pub cron: &'a str,
    pub next_run: i64,
    pub created_by: &'a str,
}

const SCHEDULE: &str = "SELECT c.id, c.project_id, c.script_id, s.name AS script_name, \
     s.latest_version AS script_version, c.source_table, c.source_database, \
     c.destination_table, c.destination_database, c.mode, c.cron, \
     c.next_run, c.created_by, u.name AS creator_name, c.created_at, \
     (SELECT j.id FROM jobs j WHERE j.schedule_id = c.id \
      ORDER BY j.scheduled_for DESC LIMIT 1) AS last_job_id \
     FROM job_schedules c JOIN job_scripts s ON s.id = c.script_id \
     LEFT JOIN users u ON u.id = c.created_by";

impl Store {
    pub async fn create_schedule(&self, new: &NewSchedule<'_>) -> Result<()> {
        sqlx::query(
            "INSERT INTO job_schedules (id, project_id, script_id, source_table, \
             destination_table, mode, cron, next_run, created_by, created_at, source_database, \
             destination_database) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )
        .bind(new.id)
        .bind(new.project_id)
        .bind(new.script_id)
        .bind(new.source_table)
        .bind(new.destination_table)
        .bind(new.mode)
        .bind(new.cron)
        .bind(new.next_run)
        .bind(new.created_by)
        .bind(crate::now_ms())
        .bind(new.source_database)
        .bind(new.destination_database)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// A project's schedules, oldest first.
    pub async fn list_schedules(&self, project_id: &str) -> Result<Vec<JobSchedule>> {
        Ok(sqlx::query_as(&format!(
            "{SCHEDULE} WHERE c.project_id = $1 ORDER BY c.created_at, c.id"
        ))
        .bind(project_id)
        .fetch_all(self.pool())
        .await?)
    }

    pub async fn get_schedule(&self, project_id: &str, id: &str) -> Result<JobSchedule> {
        Ok(
            sqlx::query_as(&format!("{SCHEDULE} WHERE c.project_id = $1 AND c.id = $2"))
                .bind(project_id)
                .bind(id)
                .fetch_one(self.pool())
                .await?,
        )
    }

    /// Deletes a schedule; the jobs it made stay. `false` when there was none.
    pub async fn delete_schedule(&self, project_id: &str, id: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM job_schedules WHERE project_id = $1 AND id = $2")
            .bind(project_id)
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Schedules whose next tick is at or before `now`, the most overdue first.
    pub async fn due_schedules(&self, now: i64, limit: i64) -> Result<Vec<JobSchedule>> {
        Ok(sqlx::query_as(&format!(
            "{SCHEDULE} WHERE c.next_run <= $1 ORDER BY c.next_run, c.id LIMIT $2"
        ))
        .bind(now)
        .bind(limit)
        .fetch_all(self.pool())
        .await?)
    }

    /// Moves a schedule's next run from `tick` to `next_run` without firing it.
    pub async fn postpone_schedule(&self, id: &str, tick: i64, next_run: i64) -> Result<bool> {
        let moved =
            sqlx::query("UPDATE job_schedules SET next_run = $1 WHERE id = $2 AND next_run = $3")
                .bind(next_run)
                .bind(id)
                .bind(tick)
                .execute(self.pool())
                .await?;
        Ok(moved.rows_affected() == 1)
    }

    /// Fires the tick `tick` of a schedule: in one transaction, moves its next run from
    /// `tick` to `next_run`, records `job` and queues `task` for it. `false`, with nothing
    /// changed, when the tick was fired already (or the schedule is gone).
    pub async fn fire_schedule(
        &self,
        schedule_id: &str,
        tick: i64,
        next_run: i64,
        job: &NewJob<'_>,
        task: &NewTask<'_>,
        now: i64,
    ) -> Result<bool> {
        let mut tx = self.pool().begin().await?;
        let moved =
            sqlx::query("UPDATE job_schedules SET next_run = $1 WHERE id = $2 AND next_run = $3")
                .bind(next_run)
                .bind(schedule_id)
                .bind(tick)
                .execute(&mut *tx)
                .await?;
        if moved.rows_affected() != 1 {
            return Ok(false);
        }
        insert_job(&mut tx, job, now).await?;
        let Some(queued) = insert_task(&mut tx, task, now).await? else {
            return Err(crate::StoreError::Conflict);
        };
        set_task(&mut tx, job.id, &queued.id).await?;
        tx.commit().await?;
        Ok(true)
    }
}
