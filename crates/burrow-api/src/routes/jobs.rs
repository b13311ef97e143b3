//! Transform jobs: scripts and their versions, jobs queued, listed, followed and cancelled.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::sse::{Event, Sse};
use axum::Json;
use burrow_service::jobs::{self as use_case, JobInput};
use burrow_service::schedules::{self, ScheduleInput};
use futures::Stream;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiJson, ApiPath, ApiQuery, Editor, ProjectAccess, Viewer};
use crate::routes::tables::{result_columns, result_rows, RowsDto};
use crate::AppState;

/// A script, with its newest version's source.
#[derive(Debug, Serialize, ToSchema)]
pub struct ScriptDto {
    pub id: String,
    pub name: String,
    /// The newest version's number; versions count from 1.
    pub version: i64,
    /// The newest version's source.
    pub source: String,
    pub created_at: String,
    pub updated_at: String,
}

fn script_dto(s: burrow_store::JobScript) -> ScriptDto {
    ScriptDto {
        id: s.id,
        name: s.name,
        version: s.latest_version,
        source: s.source,
        created_at: crate::dto::timestamp(s.created_at),
        updated_at: crate::dto::timestamp(s.updated_at),
    }
}

/// One saved version of a script.
#[derive(Debug, Serialize, ToSchema)]
pub struct ScriptVersionDto {
    pub version: i64,
    pub source: String,
    #[schema(required = true)]
    pub created_by: Option<String>,
    pub created_at: String,
}

/// A script and every version of it, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct ScriptDetailDto {
    #[serde(flatten)]
    pub script: ScriptDto,
    pub versions: Vec<ScriptVersionDto>,
}

/// A new script: its name and first version.
#[derive(Debug, Deserialize, ToSchema)]
pub struct NewScriptRequest {
    /// Lowercase letters, digits and underscores.
    pub name: String,
    /// Python defining `transform(df)`, which returns a DataFrame.
    pub source: String,
}

/// A script's next version.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ScriptSourceRequest {
    pub source: String,
}

/// A job: what it runs, where from and to, and how far it got.
#[derive(Debug, Serialize, ToSchema)]
pub struct JobDto {
    pub id: String,
    pub script: String,
    pub script_version: i64,
    /// The table read: a project table, or `schema.table` on `source_database`.
    pub source: String,
    /// The data source the source table is on; absent for a project table.
    #[schema(required = true)]
    pub source_database: Option<String>,
    /// The table written: a project table, or `schema.table` on `destination_database`.
    pub destination: String,
    /// The data source written to; absent for a project table.
    #[schema(required = true)]
    pub destination_database: Option<String>,
    /// `create`, `replace` or `append`.
    pub mode: String,
    /// `pending`, `running`, `succeeded`, `failed` or `cancelled`.
    pub status: String,
    pub rows_read: i64,
    pub rows_written: i64,
    pub chunks: i64,
    /// Why it failed or who cancelled it.
    #[schema(required = true)]
    pub error: Option<String>,
    /// The script's traceback, when it raised.
    #[schema(required = true)]
    pub traceback: Option<String>,
    #[schema(required = true)]
    pub created_by: Option<String>,
    pub created_at: String,
    #[schema(required = true)]
    pub started_at: Option<String>,
    #[schema(required = true)]
    pub finished_at: Option<String>,
    /// From start to end, or until now while it runs.
    #[schema(required = true)]
    pub duration_ms: Option<i64>,
    /// The most memory its sandbox used, from the sandbox's cgroup, once it ended.
    #[schema(required = true)]
    pub peak_memory_bytes: Option<i64>,
    /// The schedule that made it.
    #[schema(required = true)]
    pub schedule_id: Option<String>,
    /// The schedule's tick it ran for.
    #[schema(required = true)]
    pub scheduled_for: Option<String>,
}

fn job_dto(j: burrow_store::Job) -> JobDto {
    let duration_ms = j
        .started_at
        .map(|start| j.finished_at.unwrap_or_else(burrow_store::now_ms) - start);
    JobDto {
        id: j.id,
        script: j.script_name,
        script_version: j.script_version,
        source: j.source_table,
        source_database: j.source_database,
        destination: j.destination_table,
        destination_database: j.destination_database,
        mode: j.mode,
        status: j.status,
        rows_read: j.rows_read,
        rows_written: j.rows_written,
        chunks: j.chunks,
        error: j.error,
        traceback: j.traceback,
        created_by: j.creator_name,
        created_at: crate::dto::timestamp(j.created_at),
        started_at: j.started_at.map(crate::dto::timestamp),
        finished_at: j.finished_at.map(crate::dto::timestamp),
        duration_ms,
        peak_memory_bytes: j.peak_memory_bytes,
        schedule_id: j.schedule_id,
        scheduled_for: j.scheduled_for.map(crate::dto::timestamp),
    }
}

/// A job to run.
#[derive(Debug, Deserialize, ToSchema)]
pub struct NewJobRequest {
    /// The script's name.
    pub script: String,
    /// The script's version; the newest when absent.
    #[serde(default)]
    pub version: Option<i64>,
    /// The table to read: a project table, or `schema.table` (or a table of schema
    /// `public`) on `source_database`.
    pub source: String,
    /// A data source of the project to read from; a project table when absent.
    #[serde(default)]
    pub source_database: Option<String>,
    /// The table to write: a project table, or `schema.table` on `destination_database`.
    pub destination: String,
    /// A data source marked as a job destination; a project table when absent.
    #[serde(default)]
    pub destination_database: Option<String>,
    /// `create` (the default: fails if the table exists), `replace` or `append`.
    #[serde(default)]
    #[schema(pattern = "^(create|replace|append)$")]
    pub mode: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct JobsQuery {
    /// Only jobs in this status.
    #[serde(default)]
    #[param(pattern = "^(pending|running|succeeded|failed|cancelled)?$")]
    pub status: Option<String>,
    /// Only jobs that read or write this table.
    #[serde(default)]
    pub table: Option<String>,
}

/// The project's job scripts.
#[utoipa::path(get, path = "/api/v1/projects/{project}/scripts", tag = "jobs",
    params(("project" = String, Path, description = "Project id")),
    responses(
        (status = 200, description = "The scripts, by name", body = [ScriptDto]),
        (status = 404, description = "No such project, or not a member", body = ErrorBody),
    ))]
pub async fn list_scripts(
    State(state): State<AppState>,
    access: ProjectAccess<Viewer>,
) -> Result<Json<Vec<ScriptDto>>, ApiError> {
    let scripts = use_case::list_scripts(&state, &access).await?;
    Ok(Json(scripts.into_iter().map(script_dto).collect()))
}

/// Add a script. It must parse, define `transform(df)` at the top level and import only
/// what job scripts may (`jobs.script_imports`).
#[utoipa::path(post, path = "/api/v1/projects/{project}/scripts", tag = "jobs",
    params(("project" = String, Path, description = "Project id")),
    request_body = NewScriptRequest,
    responses(
        (status = 201, description = "Saved as version 1", body = ScriptDto),
        (status = 403, description = "Viewers cannot write scripts", body = ErrorBody),
        (status = 409, description = "A script of that name exists", body = ErrorBody),
        (status = 422, description = "The script's problems, each with its line", body = ErrorBody),
    ))]
pub async fn create_script(
    State(state): State<AppState>,
    access: ProjectAccess<Editor>,
    ApiJson(request): ApiJson<NewScriptRequest>,
) -> Result<(StatusCode, Json<ScriptDto>), ApiError> {
    let script =
        use_case::create_script(&state, &access, request.name.trim(), &request.source).await?;
    Ok((StatusCode::CREATED, Json(script_dto(script))))
}

/// A script with all its versions.
#[utoipa::path(get, path = "/api/v1/projects/{project}/scripts/{script}", tag = "jobs",
    params(("project" = String, Path, description = "Project id"), ("script" = String, Path, description = "Script name")),
    responses(
        (status = 200, description = "The script", body = ScriptDetailDto),
        (status = 404, description = "No such script or project, or not a member", body = ErrorBody),
    ))]
pub async fn get_script(
    State(state): State<AppState>,
    access: ProjectAccess<Viewer>,
    ApiPath(path): ApiPath<(String, String)>,
) -> Result<Json<ScriptDetailDto>, ApiError> {
    let (script, versions) = use_case::get_script(&state, &access, &path.1).await?;
    Ok(Json(ScriptDetailDto {
        script: script_dto(script),
        versions: versions
            .into_iter()
            .map(|v| ScriptVersionDto {
                version: v.version,
                source: v.source,
                created_by: v.creator_name,
                created_at: crate::dto::timestamp(v.created_at),
            })
            .collect(),
    }))
}

/// Save a script's next version; earlier versions stay, and jobs keep the one they ran.
#[utoipa::path(put, path = "/api/v1/projects/{project}/scripts/{script}", tag = "jobs",
    params(("project" = String, Path, description = "Project id"), ("script" = String, Path, description = "Script name")),
    request_body = ScriptSourceRequest,
    responses(
        (status = 200, description = "Saved as the next version", body = ScriptDto),
        (status = 403, description = "Viewers cannot write scripts", body = ErrorBody),
        (status = 404, description = "No such script", body = ErrorBody),
        (status = 422, description = "The script's problems, each with its line", body = ErrorBody),
    ))]
pub async fn update_script(
    State(state): State<AppState>,
    access: ProjectAccess<Editor>,
    ApiPath(path): ApiPath<(String, String)>,
    ApiJson(request): ApiJson<ScriptSourceRequest>,
) -> Result<Json<ScriptDto>, ApiError> {
    let script = use_case::update_script(&state, &access, &path.1, &request.source).await?;
    Ok(Json(script_dto(script)))
}

/// A script to try on a table's first rows.
#[derive(Debug, Deserialize, ToSchema)]
pub struct TryRequest {
    /// The script, saved or not.
    pub source: String,
    /// The project table whose first 100 rows it runs on.
    pub table: String,
}

/// What a script did to a table's first rows.
#[derive(Debug, Serialize, ToSchema)]
pub struct TryDto {
    pub before: RowsDto,
    /// The result; absent when the script failed.
    #[schema(required = true)]
    pub after: Option<RowsDto>,
    /// What the script printed.
    pub output: String,
    /// Why it failed.
    #[schema(required = true)]
    pub error: Option<String>,
    /// The script's traceback, when it raised.
    #[schema(required = true)]
    pub traceback: Option<String>,
}

fn rows_dto(batches: &[arrow::array::RecordBatch]) -> Option<RowsDto> {
    let first = batches.first()?;
    Some(RowsDto {
        columns: result_columns(&first.schema()),
        rows: result_rows(batches, use_case::TRIAL_ROWS),
    })
}

/// Try a script, saved or not, on the first 100 rows of a table, in a sandbox as a job
/// runs: the rows before and after, or the error and traceback. Nothing is written.
#[utoipa::path(post, path = "/api/v1/projects/{project}/scripts/try", tag = "jobs",
    params(("project" = String, Path, description = "Project id")),
    request_body = TryRequest,
    responses(
        (status = 200, description = "The rows before and after, or why it failed", body = TryDto),
        (status = 403, description = "Viewers cannot run scripts", body = ErrorBody),
        (status = 404, description = "No such table", body = ErrorBody),
        (status = 422, description = "The script's problems, each with its line", body = ErrorBody),
    ))]
pub async fn try_script(
    State(state): State<AppState>,
    access: ProjectAccess<Editor>,
    ApiJson(request): ApiJson<TryRequest>,
) -> Result<Json<TryDto>, ApiError> {
    let trial = use_case::try_script(&state, &access, &request.source, &request.table).await?;
    let before = rows_dto(&trial.before).unwrap_or(RowsDto {
        columns: Vec::new(),
        rows: Vec::new(),
    });
    let (error, traceback) = match trial.failure {
        Some(f) => (Some(f.error), f.traceback),
        None => (None, None),
    };
    Ok(Json(TryDto {
        before,
        after: if error.is_none() {
            rows_dto(&trial.after)
        } else {
            None
        },
        output: trial.output,
        error,
        traceback,
    }))
}

/// The project's jobs, newest first (at most 200).
#[utoipa::path(get, path = "/api/v1/projects/{project}/jobs", tag = "jobs",
    params(("project" = String, Path, description = "Project id"), JobsQuery),
    responses(
        (status = 200, description = "The jobs", body = [JobDto]),
        (status = 400, description = "An unknown status", body = ErrorBody),
        (status = 404, description = "No such project, or not a member", body = ErrorBody),
    ))]
pub async fn list_jobs(
    State(state): State<AppState>,
    access: ProjectAccess<Viewer>,
    ApiQuery(query): ApiQuery<JobsQuery>,
) -> Result<Json<Vec<JobDto>>, ApiError> {
    let jobs = use_case::list_jobs(
        &state,
        &access,
        query.status.as_deref().filter(|s| !s.is_empty()),
        query.table.as_deref().filter(|s| !s.is_empty()),
    )
    .await?;
    Ok(Json(jobs.into_iter().map(job_dto).collect()))
}

/// Queue a job: the script over the source table, into the destination table.
#[utoipa::path(post, path = "/api/v1/projects/{project}/jobs", tag = "jobs",
    params(("project" = String, Path, description = "Project id")),
    request_body = NewJobRequest,
    responses(
        (status = 201, description = "Queued", body = JobDto),
        (status = 400, description = "An invalid destination name", body = ErrorBody),
        (status = 403, description = "Viewers cannot run jobs", body = ErrorBody),
        (status = 404, description = "No such script, version or source table", body = ErrorBody),
        (status = 409, description = "Mode create, and the destination exists", body = ErrorBody),
        (status = 422, description = "An unknown mode", body = ErrorBody),
    ))]
pub async fn create_job(
    State(state): State<AppState>,
    access: ProjectAccess<Editor>,
    ApiJson(request): ApiJson<NewJobRequest>,
) -> Result<(StatusCode, Json<JobDto>), ApiError> {
    let job = use_case::create_job(
        &state,
        &access,
        JobInput {
            script: request.script,
            version: request.version,
            source: request.source,
            source_database: request.source_database.filter(|s| !s.is_empty()),
            destination: request.destination.trim().to_owned(),
            destination_database: request.destination_database.filter(|s| !s.is_empty()),
            mode: request.mode.unwrap_or_else(|| "create".into()),
        },
    )
    .await?;
    Ok((StatusCode::CREATED, Json(job_dto(job))))
}

/// A job.
#[utoipa::path(get, path = "/api/v1/projects/{project}/jobs/{job}", tag = "jobs",
    params(("project" = String, Path, description = "Project id"), ("job" = String, Path, description = "Job id")),
    responses(
        (status = 200, description = "The job", body = JobDto),
        (status = 404, description = "No such job or project, or not a member", body = ErrorBody),
    ))]
pub async fn get_job(
    State(state): State<AppState>,
    access: ProjectAccess<Viewer>,
    ApiPath(path): ApiPath<(String, String)>,
) -> Result<Json<JobDto>, ApiError> {
    Ok(Json(job_dto(
        use_case::get_job(&state, &access, &path.1).await?,
    )))
}

/// Cancel a pending or running job; its destination stays as it was.
#[utoipa::path(post, path = "/api/v1/projects/{project}/jobs/{job}/cancel", tag = "jobs",
    params(("project" = String, Path, description = "Project id"), ("job" = String, Path, description = "Job id")),
    responses(
        (status = 200, description = "Cancelled", body = JobDto),
        (status = 403, description = "Viewers cannot cancel jobs", body = ErrorBody),
        (status = 404, description = "No such job", body = ErrorBody),
        (status = 409, description = "The job has already ended", body = ErrorBody),
    ))]
pub async fn cancel_job(
    State(state): State<AppState>,
    access: ProjectAccess<Editor>,
    ApiPath(path): ApiPath<(String, String)>,
) -> Result<Json<JobDto>, ApiError> {
    Ok(Json(job_dto(
        use_case::cancel_job(&state, &access, &path.1).await?,
    )))
}

/// What the job's script printed, as Server-Sent Events: `log` events as it comes, then
/// `end` with the job's status.
#[utoipa::path(get, path = "/api/v1/projects/{project}/jobs/{job}/log", tag = "jobs",
    params(("project" = String, Path, description = "Project id"), ("job" = String, Path, description = "Job id")),
    responses(
        (status = 200, description = "The log as an event stream", content_type = "text/event-stream", body = crate::routes::apps::LogEventDto),
        (status = 404, description = "No such job", body = ErrorBody),
    ))]
pub async fn job_log(
    State(state): State<AppState>,
    access: ProjectAccess<Viewer>,
    ApiPath(path): ApiPath<(String, String)>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let job = use_case::get_job(&state, &access, &path.1).await?;
    let source = JobLog {
        store: state.store.clone(),
        events: tokio::sync::Mutex::new(state.store.subscribe().await?),
        project: job.project_id,
        job: job.id,
    };
    Ok(crate::follow::sse(
        source,
        Some(0),
        Some(Duration::from_secs(5)),
    ))
}

/// A job's log: its recorded output, which grows every second while it runs; each
/// write of it is announced with a `log` event, whichever replica runs the job.
struct JobLog {
    store: burrow_store::Store,
    /// Subscribed before the first read, so no `log` event after it is missed.
    events: tokio::sync::Mutex<burrow_store::Subscription>,
    project: String,
    job: String,
}

impl crate::follow::LogSource for JobLog {
    type Cursor = usize;
    async fn read(&self, offset: usize) -> crate::follow::Piece<usize> {
        use crate::follow::Piece;
        match self.store.get_job(&self.project, &self.job).await {
            Ok(job) if job.output.len() > offset => {
                let bytes = job.output.as_bytes()[offset..].to_vec();
                Piece::Data(bytes, job.output.len())
            }
            Ok(job) if !matches!(job.status.as_str(), "pending" | "running") => {
                Piece::End(job.status)
            }
            Ok(_) => Piece::Idle(offset),
            Err(e) => Piece::Failed(e.to_string()),
        }
    }

    async fn changed(&self, idle: Duration) {
        let subject = burrow_store::job_log_name(&self.job);
        let mut events = self.events.lock().await;
        events
            .wait_for(burrow_store::LOG_EVENT, &subject, idle)
            .await;
    }
}

/// A schedule: a job definition run at each tick of a cron expression.
#[derive(Debug, Serialize, ToSchema)]
pub struct ScheduleDto {
    pub id: String,
    /// The script; each tick runs its newest version.
    pub script: String,
    pub source: String,
    #[schema(required = true)]
    pub source_database: Option<String>,
    pub destination: String,
    #[schema(required = true)]
    pub destination_database: Option<String>,
    /// `replace` or `append`.
    #[schema(pattern = "^(replace|append)$")]
    pub mode: String,
    /// Five fields (minute hour day-of-month month day-of-week), read in UTC.
    pub cron: String,
    pub next_run: String,
    /// The job of its latest tick.
    #[schema(required = true)]
    pub last_job_id: Option<String>,
    #[schema(required = true)]
    pub created_by: Option<String>,
    pub created_at: String,
}

fn schedule_dto(s: burrow_store::JobSchedule) -> ScheduleDto {
    ScheduleDto {
        id: s.id,
        script: s.script_name,
        source: s.source_table,
        source_database: s.source_database,
        destination: s.destination_table,
        destination_database: s.destination_database,
        mode: s.mode,
        cron: s.cron,
        next_run: crate::dto::timestamp(s.next_run),
        last_job_id: s.last_job_id,
        created_by: s.creator_name,
        created_at: crate::dto::timestamp(s.created_at),
    }
}

/// A schedule to make.
#[derive(Debug, Deserialize, ToSchema)]
pub struct NewScheduleRequest {
    pub script: String,
    /// As a job's.
    pub source: String,
    #[serde(default)]
    pub source_database: Option<String>,
    pub destination: String,
    #[serde(default)]
    pub destination_database: Option<String>,
    /// `replace` or `append`.
    #[schema(pattern = "^(replace|append)$")]
    pub mode: String,
    /// Five fields (minute hour day-of-month month day-of-week) in UTC, or a nickname
    /// such as `@hourly`.
    pub cron: String,
}

/// The project's job schedules.
#[utoipa::path(get, path = "/api/v1/projects/{project}/schedules", tag = "jobs",
    params(("project" = String, Path, description = "Project id")),
    responses(
        (status = 200, description = "The schedules, oldest first", body = [ScheduleDto]),
        (status = 404, description = "No such project, or not a member", body = ErrorBody),
    ))]
pub async fn list_schedules(
    State(state): State<AppState>,
    access: ProjectAccess<Viewer>,
) -> Result<Json<Vec<ScheduleDto>>, ApiError> {
    let list = schedules::list_schedules(&state, &access).await?;
    Ok(Json(list.into_iter().map(schedule_dto).collect()))
}

/// Schedule a job: checked as a job is, then run at each tick of `cron` (UTC), exactly
/// once per tick however many Burrow processes run.
#[utoipa::path(post, path = "/api/v1/projects/{project}/schedules", tag = "jobs",
    params(("project" = String, Path, description = "Project id")),
    request_body = NewScheduleRequest,
    responses(
        (status = 201, description = "Scheduled", body = ScheduleDto),
        (status = 400, description = "An invalid destination name", body = ErrorBody),
        (status = 403, description = "Viewers cannot schedule jobs", body = ErrorBody),
        (status = 404, description = "No such script or source table", body = ErrorBody),
        (status = 422, description = "An invalid cron expression, or mode create", body = ErrorBody),
    ))]
pub async fn create_schedule(
    State(state): State<AppState>,
    access: ProjectAccess<Editor>,
    ApiJson(request): ApiJson<NewScheduleRequest>,
) -> Result<(StatusCode, Json<ScheduleDto>), ApiError> {
    let schedule = schedules::create_schedule(
        &state,
        &access,
        ScheduleInput {
            script: request.script,
            source: request.source,
            source_database: request.source_database.filter(|s| !s.is_empty()),
            destination: request.destination.trim().to_owned(),
            destination_database: request.destination_database.filter(|s| !s.is_empty()),
            mode: request.mode,
            cron: request.cron,
        },
    )
    .await?;
    Ok((StatusCode::CREATED, Json(schedule_dto(schedule))))
}

/// Delete a schedule; the jobs it made stay, and a running one goes on.
#[utoipa::path(delete, path = "/api/v1/projects/{project}/schedules/{schedule}", tag = "jobs",
    params(("project" = String, Path, description = "Project id"), ("schedule" = String, Path, description = "Schedule id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "Viewers cannot delete schedules", body = ErrorBody),
        (status = 404, description = "No such schedule", body = ErrorBody),
    ))]
pub async fn delete_schedule(
    State(state): State<AppState>,
    access: ProjectAccess<Editor>,
    ApiPath(path): ApiPath<(String, String)>,
) -> Result<StatusCode, ApiError> {
    schedules::delete_schedule(&state, &access, &path.1).await?;
    Ok(StatusCode::NO_CONTENT)
}
