//! Transform jobs as use cases: scripts and their versions, jobs queued, listed, cancelled, and the queue's handler that runs one.
//!
//! Members read scripts and jobs; editors write scripts and run and cancel jobs. A job
//! is a row in `jobs` and a task of kind [`JOB_RUN`] on the durable queue, which bounds
//! how many run at once (`jobs.max_concurrent`) and holds each claim under a lease. Its
//! runner reads the source table in chunks, runs the script over them in one sandbox
//! (`burrow-jobs`), and writes the result as a new version of the destination: the
//! destination changes in one pointer swap after the whole run succeeded, or not at all.

use std::sync::Arc;
use std::time::Duration;

use arrow::array::RecordBatch;
use burrow_core::Role;
use burrow_data::postgres::transfer::{TableRef, TableWriter, WriteMode};
use burrow_data::types::check_table_name;
use burrow_jobs::{Counters, Failure};
use burrow_store::{Job, JobProgress, JobScript, NewJob, ScriptVersion, StoreError};
use futures::StreamExt;

use crate::access::{require, Membership};
use crate::data::table_not_found;
use crate::error::{Error, Kind};
use crate::Services;

mod run;

/// The queue's task kind for a job; the payload is the job's id.
pub const JOB_RUN: &str = "job.run";

/// How a job writes its destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// A new table; the job fails if one has the name.
    Create,
    /// The table's rows become the result (made if missing).
    Replace,
    /// The result is added after the table's rows (made if missing).
    Append,
}

impl Mode {
    pub fn parse(s: &str) -> Result<Self, Error> {
        match s {
            "create" => Ok(Mode::Create),
            "replace" => Ok(Mode::Replace),
            "append" => Ok(Mode::Append),
            other => Err(Error::new(
                Kind::Unprocessable,
                "invalid_mode",
                format!("{other:?} is not a mode: use create, replace or append"),
            )
            .with_field("mode")),
        }
    }
}

pub fn script_not_found() -> Error {
    Error::not_found(
        "script_not_found",
        "there is no such script in this project: check its name on the Jobs page",
    )
}

pub fn job_not_found() -> Error {
    Error::not_found("job_not_found", "there is no such job in this project")
}

/// The script's problems as one answer, each with its line.
fn check_script(services: &Services, source: &str) -> Result<(), Error> {
    let findings = burrow_bundle::script::check(source, &services.config.jobs.script_imports);
    if findings.is_empty() {
        return Ok(());
    }
    let message = findings
        .iter()
        .map(|f| match f.line {
            Some(line) => format!("line {line}: {}", f.message),
            None => f.message.clone(),
        })
        .collect::<Vec<_>>()
        .join("; ");
    let mut e = Error::new(Kind::Unprocessable, "invalid_script", message).with_field("source");
    e.details = findings.iter().map(crate::error::Finding::from).collect();
    Err(e)
}

fn check_script_name(name: &str) -> Result<(), Error> {
    if name == "try" {
        return Err(Error::new(
            Kind::Unprocessable,
            "invalid_script_name",
            "\"try\" is reserved (…/scripts/try runs a script): choose another name",
        )
        .with_field("name"));
    }
    check_table_name(name).map_err(|_| {
        Error::new(
            Kind::Unprocessable,
            "invalid_script_name",
            format!(
                "{name:?} is not a script name: use lowercase letters, digits and underscores, \
                 starting with a letter"
            ),
        )
        .with_field("name")
    })
}

pub async fn list_scripts(
    services: &Services,
    member: &Membership,
) -> Result<Vec<JobScript>, Error> {
    Ok(services.store.list_scripts(&member.project.id).await?)
}

/// A script with its versions, newest first.
pub async fn get_script(
    services: &Services,
    member: &Membership,
    name: &str,
) -> Result<(JobScript, Vec<ScriptVersion>), Error> {
    let script = services
        .store
        .get_script(&member.project.id, name)
        .await
        .map_err(|e| Error::or_not_found(e, script_not_found))?;
    let versions = services.store.list_script_versions(&script.id).await?;
    Ok((script, versions))
}

pub async fn create_script(
    services: &Services,
    member: &Membership,
    name: &str,
    source: &str,
) -> Result<JobScript, Error> {
    require(member, Role::Editor)?;
    check_script_name(name)?;
    check_script(services, source)?;
    let id = burrow_core::ids::new_id("scr");
    match services
        .store
        .create_script(&id, &member.project.id, name, source, &member.user.id)
        .await
    {
        Ok(()) => {}
        Err(StoreError::Conflict) => {
            return Err(Error::conflict(
                "script_exists",
                format!("this project already has a script named {name}: open it to save a new version, or choose another name"),
            )
            .with_field("name"))
        }
        Err(e) => return Err(e.into()),
    }
    Ok(services.store.get_script(&member.project.id, name).await?)
}

/// Saves `source` as the script's next version.
pub async fn update_script(
    services: &Services,
    member: &Membership,
    name: &str,
    source: &str,
) -> Result<JobScript, Error> {
    require(member, Role::Editor)?;
    check_script(services, source)?;
    services
        .store
        .add_script_version(&member.project.id, name, source, &member.user.id)
        .await
        .map_err(|e| Error::or_not_found(e, script_not_found))?;
    Ok(services.store.get_script(&member.project.id, name).await?)
}

/// What a person asks a job to do.
#[derive(Debug, Clone)]
pub struct JobInput {
    pub script: String,
    /// The script's newest version when `None`.
    pub version: Option<i64>,
    /// A project table, or `schema.table` on `source_database`.
    pub source: String,
    /// The data source (by name) the source table is on; a project table when `None`.
    pub source_database: Option<String>,
    /// A project table, or `schema.table` on `destination_database`.
    pub destination: String,
    /// A data source marked as a job destination; a project table when `None`.
    pub destination_database: Option<String>,
    pub mode: String,
}

/// A job's request, checked against its project.
pub(crate) struct Checked {
    pub script: JobScript,
    pub version: i64,
}

/// Checks what a job (or a schedule's every job) would run: its mode, script and
/// version, source, and destination.
pub(crate) async fn check_job(
    services: &Services,
    project: &str,
    input: &JobInput,
) -> Result<Checked, Error> {
    let mode = Mode::parse(&input.mode)?;
    let script = services
        .store
        .get_script(project, &input.script)
        .await
        .map_err(|e| Error::or_not_found(e, script_not_found).with_field("script"))?;
    let version = input.version.unwrap_or(script.latest_version);
    services
        .store
        .get_script_version(&script.id, version)
        .await
        .map_err(|e| {
            Error::or_not_found(e, || {
                Error::not_found(
                    "script_version_not_found",
                    "the script has no such version: its page lists them",
                )
            })
            .with_field("version")
        })?;
    match &input.source_database {
        None => {
            services
                .store
                .get_table(project, &input.source)
                .await
                .map_err(|e| Error::or_not_found(e, table_not_found).with_field("source"))?;
        }
        Some(name) => {
            let source = data_source(services, project, name, "source_database").await?;
            let table = source_table(&input.source, "source")?;
            let config = crate::sources::config_of_saved(services, &source)?;
            let columns = burrow_data::postgres::columns(
                &config,
                services.data.reach(),
                &table.schema,
                &table.name,
                crate::sources::timeout(services),
            )
            .await
            .map_err(|e| {
                Error::new(Kind::Unprocessable, "source_unavailable", e.to_string())
                    .with_field("source_database")
            })?;
            if columns.is_none() {
                return Err(Error::not_found(
                    "table_not_found",
                    format!(
                        "the data source {name} has no table {table}, or its user may not read \
                         it: the source's page lists the tables it can read"
                    ),
                )
                .with_field("source"));
            }
        }
    }
    if let Some(name) = &input.destination_database {
        let source = data_source(services, project, name, "destination_database").await?;
        if source.destination == 0 {
            return Err(Error::new(
                Kind::Unprocessable,
                "not_a_destination",
                format!(
                    "the data source {name} is not a job destination: an owner can mark it as \
                     one on its page (its user then needs rights to write)"
                ),
            )
            .with_field("destination_database"));
        }
        TableRef::parse_destination(&input.destination)
            .map_err(|e| crate::data::error(e, "invalid_table_name").with_field("destination"))?;
        // Whether a table of that name exists is the source's to say, when the job ends.
        return Ok(Checked { script, version });
    }
    check_table_name(&input.destination)
        .map_err(|e| crate::data::error(e, "invalid_table_name").with_field("destination"))?;
    if input.destination == input.source && input.source_database.is_none() && mode == Mode::Create
    {
        return Err(destination_exists(&input.destination));
    }
    if mode == Mode::Create {
        match services.store.get_table(project, &input.destination).await {
            Ok(_) => return Err(destination_exists(&input.destination)),
            Err(StoreError::NotFound) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(Checked { script, version })
}

/// A data source of the project, by name, for the request's `field`.
async fn data_source(
    services: &Services,
    project: &str,
    name: &str,
    field: &'static str,
) -> Result<burrow_store::DataSource, Error> {
    services
        .store
        .get_source(project, name)
        .await
        .map_err(|e| Error::or_not_found(e, crate::sources::source_not_found).with_field(field))
}

/// A data source's table as a request names it.
fn source_table(text: &str, field: &'static str) -> Result<TableRef, Error> {
    TableRef::parse(text).map_err(|e| crate::data::error(e, "invalid_table_name").with_field(field))
}

/// Checks a job and queues it.
pub async fn create_job(
    services: &Services,
    member: &Membership,
    input: JobInput,
) -> Result<Job, Error> {
    require(member, Role::Editor)?;
    let project = &member.project.id;
    let Checked { script, version } = check_job(services, project, &input).await?;
    let id = burrow_core::ids::new_id("job");
    services
        .store
        .create_job(&NewJob {
            id: &id,
            project_id: project,
            script_id: &script.id,
            script_version: version,
            source_table: &input.source,
            source_database: input.source_database.as_deref(),
            destination_table: &input.destination,
            destination_database: input.destination_database.as_deref(),
            mode: &input.mode,
            created_by: &member.user.id,
            schedule: None,
        })
        .await?;
    let attempts = attempts_for(services, input.destination_database.as_deref());
    let task = burrow_queue::enqueue(&services.store, JOB_RUN, &id, &id, attempts).await?;
    services.store.set_job_task(&id, &task.id).await?;
    // Read before the queue is woken: the answer is the job as queued, never half-run.
    let job = services.store.get_job(project, &id).await?;
    services.builds.waker().wake();
    Ok(job)
}

/// Runs a job gets when its process dies mid-run (`jobs.max_attempts`). A job that writes
/// to a data source gets one: its process may have died after the source committed the
/// result and before Burrow recorded it, and a second run would append the rows again.
pub(crate) fn attempts_for(services: &Services, destination_database: Option<&str>) -> i64 {
    match destination_database {
        Some(_) => 1,
        None => services.config.jobs.max_attempts.max(1),
    }
}

fn destination_exists(name: &str) -> Error {
    Error::conflict(
        "table_exists",
        format!(
            "this project already has a table named {name}, and mode create never overwrites \
             one: choose replace or append, or another name"
        ),
    )
    .with_field("destination")
}

/// A project's jobs, newest first: all, those in one status, or those that read or
/// wrote one table.
pub async fn list_jobs(
    services: &Services,
    member: &Membership,
    status: Option<&str>,
    table: Option<&str>,
) -> Result<Vec<Job>, Error> {
    if let Some(s) = status {
        if !["pending", "running", "succeeded", "failed", "cancelled"].contains(&s) {
            return Err(Error::bad_request(
                "invalid_status",
                format!("{s:?} is not a job status: use pending, running, succeeded, failed or cancelled"),
            ));
        }
    }
    Ok(services
        .store
        .list_jobs(&member.project.id, status, table, 200)
        .await?)
}

pub async fn get_job(services: &Services, member: &Membership, id: &str) -> Result<Job, Error> {
    services
        .store
        .get_job(&member.project.id, id)
        .await
        .map_err(|e| Error::or_not_found(e, job_not_found))
}

/// Cancels a pending or running job: a running one's sandbox is killed at its task's
/// next heartbeat, and its destination stays as it was.
pub async fn cancel_job(services: &Services, member: &Membership, id: &str) -> Result<Job, Error> {
    require(member, Role::Editor)?;
    let job = get_job(services, member, id).await?;
    if !matches!(job.status.as_str(), "pending" | "running") {
        return Err(Error::conflict(
            "job_finished",
            format!("the job has already {}: nothing to cancel", job.status),
        ));
    }
    let reason = format!("cancelled by {}", member.user.name);
    let cancelled = services
        .store
        .cancel_job(&member.project.id, id, &reason)
        .await?;
    if cancelled {
        if let Some(task) = &job.task_id {
            services
                .store
                .cancel_task(task, burrow_store::now_ms())
                .await?;
        }
    } else {
        return Err(Error::conflict(
            "job_finished",
            "the job ended meanwhile: nothing to cancel",
        ));
    }
    get_job(services, member, id).await
}

/// The rows "Try it" runs a script on.
pub const TRIAL_ROWS: usize = 100;

/// What a script did to a table's first rows: the rows before, and after or why not.
#[derive(Debug)]
pub struct Trial {
    pub before: Vec<RecordBatch>,
    pub after: Vec<RecordBatch>,
    pub output: String,
    pub failure: Option<Failure>,
}

/// Runs `source` (not yet saved, so its check runs first) on the first [`TRIAL_ROWS`]
/// rows of `table` in a sandbox of its own, as a job would, writing nothing.
pub async fn try_script(
    services: &Services,
    member: &Membership,
    source: &str,
    table: &str,
) -> Result<Trial, Error> {
    require(member, Role::Editor)?;
    check_script(services, source)?;
    // Each trial holds a sandbox: a few at once on the instance, more wait their turn.
    static TRIALS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(2);
    let Ok(_turn) = TRIALS.try_acquire() else {
        return Err(Error::too_many_requests(
            5,
            "two trials are running on this instance: try again in a few seconds",
        ));
    };
    let table = services
        .store
        .get_table(&member.project.id, table)
        .await
        .map_err(|e| Error::or_not_found(e, table_not_found).with_field("table"))?;
    let envs = services.builds.environments();
    let base = envs
        .base_key()
        .await
        .map_err(|e| Error::internal(e.to_string()))?;
    let env = envs.get(&base).ok_or_else(|| {
        Error::new(
            Kind::Unavailable,
            "environment_not_ready",
            "the base Python environment is still being built: try again in a minute",
        )
    })?;
    let mut rows = burrow_data::chunks::read(Arc::clone(&services.blobs), &table.blob, TRIAL_ROWS)
        .await
        .map_err(|e| crate::data::error(e, "table_unreadable"))?;
    let first = match rows.next().await {
        Some(batch) => batch.map_err(|e| crate::data::error(e, "table_unreadable"))?,
        None => {
            return Err(Error::internal(
                "a table gave no rows, not even an empty chunk",
            ))
        }
    };
    let first = first.slice(0, first.num_rows().min(TRIAL_ROWS));
    drop(rows);
    let limits = burrow_jobs::Limits {
        timeout: Duration::from_secs(services.config.jobs.timeout_secs.min(30)),
        max_log_bytes: 64 << 10,
        max_output_rows: 10 * TRIAL_ROWS as u64,
        max_output_bytes: 64 << 20,
        max_frame_bytes: 64 << 20,
        ..limits(&services.config)
    };
    let mut sink = Collect::default();
    let input = futures::stream::iter([Ok(first.clone())]);
    let (counters, outcome) = services
        .runners
        .run(&env, &limits, source, input, &mut sink)
        .await;
    Ok(Trial {
        before: vec![first],
        after: sink.0,
        output: counters.output,
        failure: outcome.err(),
    })
}

/// Keeps every result in memory: for "Try it", whose input is one small chunk.
#[derive(Default)]
struct Collect(Vec<RecordBatch>);

#[async_trait::async_trait]
impl burrow_jobs::Sink for Collect {
    fn result(&mut self, batch: RecordBatch) -> Result<(), Failure> {
        self.0.push(batch);
        Ok(())
    }

    async fn progress(&mut self, _counters: &Counters) -> Result<(), Failure> {
        Ok(())
    }
}

/// Runs [`JOB_RUN`] tasks: register it on the queue with `jobs.max_concurrent`.
#[derive(Debug, Clone)]
pub struct JobHandler(pub Services);

#[async_trait::async_trait]
impl burrow_queue::Handler for JobHandler {
    /// A job that fails is a task done: its reason is recorded on the job. Only failing
    /// to record it is an error.
    async fn run(&self, task: &burrow_store::Task) -> Result<(), String> {
        let services = &self.0;
        let store = &services.store;
        let job = store
            .get_job_by_id(&task.payload)
            .await
            .map_err(|e| format!("job {}: {e}", task.payload))?;
        // Right after a first start the base environment may still be building: the job
        // stays pending until it is there, or fails saying why the build failed.
        // A database that does not answer is the task's failure (it is retried), not the job's.
        let env = match creator_may_run(services, &job).await? {
            None => base_environment(services).await,
            Some(refused) => Err(refused.error),
        };
        if !store.start_job(&job.id).await.map_err(|e| e.to_string())? {
            return Ok(());
        }
        let (counters, outcome) = match env {
            Ok(env) => run::execute(services, &job, env).await,
            Err(why) => (Counters::default(), Err(failure(why))),
        };
        let progress = progress_of(&counters);
        let (status, error, traceback) = match &outcome {
            Ok(()) => ("succeeded", None, None),
            Err(f) => ("failed", Some(f.error.as_str()), f.traceback.as_deref()),
        };
        store
            .finish_job(&job.id, status, &progress, error, traceback)
            .await
            .map_err(|e| e.to_string())?;
        Ok(())
    }
}

/// A job reads and writes the project's data with its creator's right to: one who is no
/// longer an editor or owner of the project (a schedule's creator since removed, say)
/// runs nothing.
async fn creator_may_run(services: &Services, job: &Job) -> Result<Option<Failure>, String> {
    let gone = || {
        failure(
            "the job's creator is no longer an editor of this project, so it does not run: \
             an editor can run it again (a schedule's jobs: delete the schedule and make it \
             again)",
        )
    };
    let Some(creator) = job.created_by.as_deref() else {
        return Ok(Some(gone()));
    };
    match services.store.member(&job.project_id, creator).await {
        Ok(member) if member.role.allows(Role::Editor) => Ok(None),
        Ok(_) | Err(StoreError::NotFound) => Ok(Some(gone())),
        Err(e) => Err(format!("job {}: checking its creator: {e}", job.id)),
    }
}

fn progress_of(counters: &Counters) -> JobProgress {
    let count = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
    JobProgress {
        rows_read: count(counters.rows_read),
        rows_written: count(counters.rows_written),
        chunks: count(counters.chunks),
        output: counters.output.clone(),
        peak_memory_bytes: counters.peak_memory_bytes.map(count),
    }
}

fn limits(config: &burrow_config::Config) -> burrow_jobs::Limits {
    let jobs = &config.jobs;
    burrow_jobs::Limits {
        timeout: Duration::from_secs(jobs.timeout_secs),
        memory_bytes: jobs.memory_mb << 20,
        max_output_rows: jobs.max_output_rows,
        max_log_bytes: jobs.max_log_kb << 10,
        max_output_bytes: jobs.max_output_mb << 20,
        ..burrow_jobs::Limits::default()
    }
}

fn failure(e: impl std::fmt::Display) -> Failure {
    Failure::new(e.to_string())
}

/// The base environment: at once when it is built; else after a build of it (one already
/// running is waited for), or why that build failed.
async fn base_environment(services: &Services) -> Result<burrow_envs::EnvRef, String> {
    let envs = services.builds.environments();
    let ready = || async {
        let key = envs.base_key().await.ok()?;
        envs.get(&key)
    };
    if let Some(env) = ready().await {
        return Ok(env);
    }
    // Built on this host, where the job runs, not through the queue.
    let build = services
        .builds
        .submit_here("")
        .await
        .map_err(|e| format!("the base Python environment could not be built: {e}"))?;
    let done = services
        .builds
        .follow(&build.id, |_| {})
        .await
        .map_err(|e| format!("the base Python environment could not be built: {e}"))?;
    if let Some(error) = done.error {
        return Err(format!(
            "the base Python environment failed to build ({error}): fix the cause (the \
             server's log shows the build), then run the job again"
        ));
    }
    ready()
        .await
        .ok_or_else(|| "the base Python environment is missing after its build".into())
}
