//! Job schedules as use cases: a job definition with a cron expression, and the check
//! that fires every tick that is due.
//!
//! Members read schedules; editors make and delete them. A schedule runs its script's
//! newest version at each tick of its cron expression, read in UTC. Every process runs
//! [`fire_due`] on its own; the store fires each tick in one transaction that moves
//! the schedule on, so a tick makes exactly one job however many processes look. A
//! tick missed while no process ran (a restart, an outage) runs once when one looks
//! again; the ones before it are skipped, as cron does.

use burrow_core::Role;
use burrow_store::{JobSchedule, NewJob, NewSchedule, NewTask};
use chrono::{DateTime, Utc};

use crate::access::{require, Membership};
use crate::error::{Error, Kind};
use crate::jobs::{attempts_for, check_job, JobInput, Mode, JOB_RUN};
use crate::Services;

/// The most due schedules one check fires; the rest wait for the next check.
const FIRE_BATCH: i64 = 100;

/// Parses a five-field cron expression (minute, hour, day of month, month, day of
/// week), or a nickname such as `@daily`.
pub fn parse_cron(expression: &str) -> Result<croner::Cron, Error> {
    let invalid = |why: String| {
        Error::new(
            Kind::Unprocessable,
            "invalid_cron",
            format!(
                "{expression:?} is not a cron expression ({why}): write five fields, minute \
                 hour day-of-month month day-of-week, such as \"0 6 * * *\" for 06:00 UTC \
                 every day, or a nickname such as @hourly"
            ),
        )
        .with_field("cron")
    };
    if expression.split_whitespace().count() > 5 {
        return Err(invalid("seconds and years are not supported".into()));
    }
    croner::parser::CronParser::builder()
        .seconds(croner::parser::Seconds::Disallowed)
        .year(croner::parser::Year::Disallowed)
        .build()
        .parse(expression.trim())
        .map_err(|e| invalid(e.to_string()))
}

/// The cron expression's first tick after `after_ms` (milliseconds since the epoch).
pub fn next_tick(cron: &croner::Cron, after_ms: i64) -> Result<i64, Error> {
    let after = DateTime::<Utc>::from_timestamp_millis(after_ms)
        .ok_or_else(|| Error::internal(format!("{after_ms} ms is not a time")))?;
    cron.find_next_occurrence(&after, false)
        .map(|next| next.timestamp_millis())
        .map_err(|e| {
            Error::new(
                Kind::Unprocessable,
                "invalid_cron",
                format!(
                    "{:?} never comes round ({e}): check its day and month",
                    cron.pattern.to_string()
                ),
            )
            .with_field("cron")
        })
}

/// What a person asks a schedule to do.
#[derive(Debug, Clone)]
pub struct ScheduleInput {
    pub script: String,
    pub source: String,
    pub source_database: Option<String>,
    pub destination: String,
    pub destination_database: Option<String>,
    pub mode: String,
    pub cron: String,
}

/// Checks a schedule as its every job would be checked, and records it; its first tick
/// is the expression's first after now.
pub async fn create_schedule(
    services: &Services,
    member: &Membership,
    input: ScheduleInput,
) -> Result<JobSchedule, Error> {
    require(member, Role::Editor)?;
    let project = &member.project.id;
    if Mode::parse(&input.mode)? == Mode::Create {
        return Err(Error::new(
            Kind::Unprocessable,
            "invalid_mode",
            "a schedule runs its job again and again, and mode create fails once the table \
             exists: use replace or append",
        )
        .with_field("mode"));
    }
    let cron = parse_cron(&input.cron)?;
    let next_run = next_tick(&cron, burrow_store::now_ms())?;
    let job = JobInput {
        script: input.script,
        version: None,
        source: input.source,
        source_database: input.source_database,
        destination: input.destination,
        destination_database: input.destination_database,
        mode: input.mode,
    };
    let checked = check_job(services, project, &job).await?;
    let id = burrow_core::ids::new_id("sch");
    services
        .store
        .create_schedule(&NewSchedule {
            id: &id,
            project_id: project,
            script_id: &checked.script.id,
            source_table: &job.source,
            source_database: job.source_database.as_deref(),
            destination_table: &job.destination,
            destination_database: job.destination_database.as_deref(),
            mode: &job.mode,
            cron: input.cron.trim(),
            next_run,
            created_by: &member.user.id,
        })
        .await?;
    Ok(services.store.get_schedule(project, &id).await?)
}

pub fn schedule_not_found() -> Error {
    Error::not_found(
        "schedule_not_found",
        "there is no such schedule in this project",
    )
}

pub async fn list_schedules(
    services: &Services,
    member: &Membership,
) -> Result<Vec<JobSchedule>, Error> {
    Ok(services.store.list_schedules(&member.project.id).await?)
}

/// Deletes a schedule; the jobs it made, a running one too, go on.
pub async fn delete_schedule(
    services: &Services,
    member: &Membership,
    id: &str,
) -> Result<(), Error> {
    require(member, Role::Editor)?;
    if services
        .store
        .delete_schedule(&member.project.id, id)
        .await?
    {
        Ok(())
    } else {
        Err(schedule_not_found())
    }
}

/// Fires every schedule whose tick is due at `now`: one job each, queued. Returns how
/// many jobs this call made; another process firing the same ticks makes the rest.
pub async fn fire_due(services: &Services, now: i64) -> Result<usize, Error> {
    let mut fired = 0;
    for schedule in services.store.due_schedules(now, FIRE_BATCH).await? {
        let next = match parse_cron(&schedule.cron).and_then(|cron| next_tick(&cron, now)) {
            Ok(next) => next,
            Err(e) => {
                // Put off for a day, so that it neither warns every check nor, being the
                // most overdue, keeps the schedules behind it from their turn.
                tracing::warn!(schedule = %schedule.id, error = %e.message, "A schedule's cron expression no longer parses; put off for a day");
                let _ = services
                    .store
                    .postpone_schedule(&schedule.id, schedule.next_run, now + 86_400_000)
                    .await;
                continue;
            }
        };
        let id = burrow_core::ids::new_id("job");
        let job = NewJob {
            id: &id,
            project_id: &schedule.project_id,
            script_id: &schedule.script_id,
            script_version: schedule.script_version,
            source_table: &schedule.source_table,
            source_database: schedule.source_database.as_deref(),
            destination_table: &schedule.destination_table,
            destination_database: schedule.destination_database.as_deref(),
            mode: &schedule.mode,
            created_by: schedule.created_by.as_deref().unwrap_or_default(),
            schedule: Some((&schedule.id, schedule.next_run)),
        };
        let task = NewTask {
            kind: JOB_RUN,
            dedupe_key: &id,
            payload: &id,
            max_attempts: attempts_for(services, schedule.destination_database.as_deref()),
            run_after: now,
        };
        match services
            .store
            .fire_schedule(&schedule.id, schedule.next_run, next, &job, &task, now)
            .await
        {
            Ok(true) => fired += 1,
            Ok(false) => {}
            Err(e) => {
                tracing::warn!(schedule = %schedule.id, error = %e, "Could not fire a schedule's tick")
            }
        }
    }
    if fired > 0 {
        services.builds.waker().wake();
    }
    Ok(fired)
}
