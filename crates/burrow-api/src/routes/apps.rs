//! Apps: deploy from an upload, pasted code or a template; list, inspect, change and delete; versions and their builds.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{FromRequest, Request, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, Sse};
use axum::response::Response;
use axum::Json;
use burrow_blobs::BlobPath;
use burrow_service::access::Membership;
pub use burrow_service::apps::upload_limit;
use burrow_service::apps::{self as use_case, app_in_project, Upload};
use futures::Stream;
use serde::Serialize;
use utoipa::ToSchema;

use crate::dto::{
    AppDetailDto, AppDto, CreateAppRequest, EgressDecisionDto, UpdateAppRequest, VersionDto,
};
use crate::error::{ApiError, ErrorBody, Kind};
use crate::extract::{
    is_multipart, read_form, ApiJson, ApiPath, ApiQuery, Editor, ProjectAccess, Viewer,
};
use crate::AppState;

/// A `multipart/form-data` upload: the bundle and, for a new app, its name and description.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct UploadForm {
    /// A `.py` (it becomes `app.py`) or a `.zip` with an `app.py`.
    #[schema(format = Binary, value_type = String)]
    file: Vec<u8>,
    name: Option<String>,
    description: Option<String>,
}

/// The wire form of an app, with the version its sandbox runs now.
fn dto(state: &AppState, app: burrow_store::App) -> AppDto {
    let running = state.supervisor.running(&app.id).map(|r| r.version);
    let chosen = burrow_apps::egress_policy(&app);
    let enforced = chosen.within(&state.config.egress.max_policy());
    let mut dto = AppDto::new(app, &state.config.apps_url());
    dto.running_version = running;
    if enforced != chosen {
        dto.network_enforced = Some((&enforced).into());
    }
    dto
}

/// Reads a multipart upload or a JSON body with pasted code or a template.
async fn read_upload(state: &AppState, request: Request) -> Result<Upload, ApiError> {
    if is_multipart(&request) {
        let mut form = read_form(state, request, &["name", "description"], || {
            ApiError::new(
                Kind::TooLarge,
                "upload_too_large",
                format!(
                    "the upload is larger than {} MB: make the bundle smaller",
                    upload_limit() >> 20
                ),
            )
        })
        .await?;
        let Some((filename, bytes)) = form.file else {
            return Err(ApiError::bad_request(
                "invalid_upload",
                "the form has no file field: attach the .py or .zip as `file`",
            ));
        };
        return Ok(Upload {
            filename: if filename.is_empty() {
                "app.py".into()
            } else {
                filename
            },
            bytes,
            name: form.text.remove("name"),
            description: form.text.remove("description"),
        });
    }
    let ApiJson(req) = ApiJson::<CreateAppRequest>::from_request(request, state).await?;
    let mut upload = match (req.code, req.template) {
        (Some(code), None) => Upload::code(code),
        (None, Some(template)) => Upload::template(&template)?,
        _ => {
            return Err(ApiError::bad_request(
                "invalid_upload",
                "send exactly one of `code` (the app's Python) or `template`, or upload a file as multipart/form-data",
            ))
        }
    };
    upload.name = req.name.or(upload.name);
    upload.description = req.description;
    Ok(upload)
}

/// Deploy a new app from an upload (`multipart/form-data`: `file`, `name`, `description`),
/// pasted code or a template (JSON). Its first version is built at once and becomes
/// active when the build succeeds.
#[utoipa::path(post, path = "/api/v1/projects/{project}/apps", tag = "apps",
    params(("project" = String, Path, description = "Project id")),
    request_body(content(
        (CreateAppRequest = "application/json"),
        (UploadForm = "multipart/form-data"),
    )),
    responses(
        (status = 201, description = "Created; the first build is queued", body = AppDetailDto),
        (status = 400, description = "Invalid name, settings or form", body = ErrorBody),
        (status = 403, description = "Viewers cannot deploy", body = ErrorBody),
        (status = 404, description = "No such project, or not a member", body = ErrorBody),
        (status = 409, description = "An app of that name exists in the project", body = ErrorBody),
        (status = 413, description = "The upload is too large", body = ErrorBody),
        (status = 422, description = "The bundle was refused; `details` lists every problem", body = ErrorBody),
    ))]
pub async fn create_app(
    State(state): State<AppState>,
    access: ProjectAccess<Editor>,
    request: Request,
) -> Result<(StatusCode, Json<AppDetailDto>), ApiError> {
    let upload = read_upload(&state, request).await?;
    let app = use_case::create_app(&state, &access, &upload).await?;
    let detail = detail(&state, &access, &app.id).await?;
    Ok((StatusCode::CREATED, Json(detail)))
}

/// The app with its versions. Versions are read first: a build's success and its
/// activation commit together, so a succeeded build is never shown beside a stale pointer.
async fn detail(
    state: &AppState,
    member: &Membership,
    app_id: &str,
) -> Result<AppDetailDto, ApiError> {
    let versions = state.store.list_versions(app_id).await?;
    let app = app_in_project(state, member, app_id).await?;
    let active = app.active_version;
    Ok(AppDetailDto {
        app: dto(state, app),
        versions: versions
            .into_iter()
            .map(|v| VersionDto::new(v, active))
            .collect(),
    })
}

/// The project's apps, most recently updated first: the data for their cards.
#[utoipa::path(get, path = "/api/v1/projects/{project}/apps", tag = "apps",
    params(("project" = String, Path, description = "Project id")),
    responses(
        (status = 200, description = "The apps", body = [AppDto]),
        (status = 404, description = "No such project, or not a member", body = ErrorBody),
    ))]
pub async fn list_apps(
    State(state): State<AppState>,
    access: ProjectAccess<Viewer>,
) -> Result<Json<Vec<AppDto>>, ApiError> {
    let apps = state.store.list_apps(&access.project.id).await?;
    Ok(Json(apps.into_iter().map(|a| dto(&state, a)).collect()))
}

/// One app, with its versions and their builds.
#[utoipa::path(get, path = "/api/v1/projects/{project}/apps/{app}", tag = "apps",
    params(("project" = String, Path, description = "Project id"), ("app" = String, Path, description = "App id")),
    responses(
        (status = 200, description = "The app", body = AppDetailDto),
        (status = 404, description = "No such app or project, or not a member", body = ErrorBody),
    ))]
pub async fn get_app(
    State(state): State<AppState>,
    access: ProjectAccess<Viewer>,
    ApiPath(path): ApiPath<(String, String)>,
) -> Result<Json<AppDetailDto>, ApiError> {
    Ok(Json(detail(&state, &access, &path.1).await?))
}

/// Change an app's name, description, CPU, memory, idle timeout or network policy.
#[utoipa::path(patch, path = "/api/v1/projects/{project}/apps/{app}", tag = "apps",
    params(("project" = String, Path, description = "Project id"), ("app" = String, Path, description = "App id")),
    request_body = UpdateAppRequest,
    responses(
        (status = 200, description = "Changed", body = AppDto),
        (status = 400, description = "A value is out of range, or a domain is invalid", body = ErrorBody),
        (status = 403, description = "Viewers cannot change apps, or the network policy reaches further than the instance allows", body = ErrorBody),
        (status = 404, description = "No such app or project, or not a member", body = ErrorBody),
        (status = 409, description = "Another app has that name", body = ErrorBody),
    ))]
pub async fn update_app(
    State(state): State<AppState>,
    access: ProjectAccess<Editor>,
    ApiPath(path): ApiPath<(String, String)>,
    ApiJson(req): ApiJson<UpdateAppRequest>,
) -> Result<Json<AppDto>, ApiError> {
    let settings = use_case::Settings {
        name: req.name,
        description: req.description,
        cpus: req.cpus,
        memory_mb: req.memory_mb,
        idle_timeout_secs: req.idle_timeout_secs,
        network: req.network.map(|n| use_case::Network {
            policy: n.policy,
            domains: n.domains,
        }),
    };
    let app = use_case::update_app(&state, &access, &path.1, &settings).await?;
    Ok(Json(dto(&state, app)))
}

/// The app's recent network requests through the egress proxy, newest first, with what
/// became of each: why a call failed ("cloud metadata endpoint", "not on the allowlist").
#[utoipa::path(get, path = "/api/v1/projects/{project}/apps/{app}/egress", tag = "apps",
    params(("project" = String, Path, description = "Project id"), ("app" = String, Path, description = "App id")),
    responses(
        (status = 200, description = "The recent decisions, at most 100", body = [EgressDecisionDto]),
        (status = 404, description = "No such app or project, or not a member", body = ErrorBody),
    ))]
pub async fn app_egress(
    State(state): State<AppState>,
    access: ProjectAccess<Viewer>,
    ApiPath(path): ApiPath<(String, String)>,
) -> Result<Json<Vec<EgressDecisionDto>>, ApiError> {
    let decisions = use_case::egress_decisions(&state, &access, &path.1).await?;
    Ok(Json(decisions.into_iter().map(Into::into).collect()))
}

/// Delete an app, its versions and their bundles.
#[utoipa::path(delete, path = "/api/v1/projects/{project}/apps/{app}", tag = "apps",
    params(("project" = String, Path, description = "Project id"), ("app" = String, Path, description = "App id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "Viewers cannot delete apps", body = ErrorBody),
        (status = 404, description = "No such app or project, or not a member", body = ErrorBody),
    ))]
pub async fn delete_app(
    State(state): State<AppState>,
    access: ProjectAccess<Editor>,
    ApiPath(path): ApiPath<(String, String)>,
) -> Result<StatusCode, ApiError> {
    use_case::delete_app(&state, &access, &path.1).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// An app's versions, newest first, with their builds.
#[utoipa::path(get, path = "/api/v1/projects/{project}/apps/{app}/versions", tag = "apps",
    params(("project" = String, Path, description = "Project id"), ("app" = String, Path, description = "App id")),
    responses(
        (status = 200, description = "The versions", body = [VersionDto]),
        (status = 404, description = "No such app or project, or not a member", body = ErrorBody),
    ))]
pub async fn list_versions(
    State(state): State<AppState>,
    access: ProjectAccess<Viewer>,
    ApiPath(path): ApiPath<(String, String)>,
) -> Result<Json<Vec<VersionDto>>, ApiError> {
    Ok(Json(detail(&state, &access, &path.1).await?.versions))
}

/// Upload a new version (multipart `file`, or JSON `code` or `template`). It is built at
/// once and becomes the active version when its build succeeds.
#[utoipa::path(post, path = "/api/v1/projects/{project}/apps/{app}/versions", tag = "apps",
    params(("project" = String, Path, description = "Project id"), ("app" = String, Path, description = "App id")),
    request_body(content(
        (CreateAppRequest = "application/json"),
        (UploadForm = "multipart/form-data"),
    )),
    responses(
        (status = 201, description = "Created; its build is queued", body = VersionDto),
        (status = 403, description = "Viewers cannot upload", body = ErrorBody),
        (status = 404, description = "No such app or project, or not a member", body = ErrorBody),
        (status = 413, description = "The upload is too large", body = ErrorBody),
        (status = 422, description = "The bundle was refused; `details` lists every problem", body = ErrorBody),
    ))]
pub async fn add_version(
    State(state): State<AppState>,
    access: ProjectAccess<Editor>,
    ApiPath(path): ApiPath<(String, String)>,
    request: Request,
) -> Result<(StatusCode, Json<VersionDto>), ApiError> {
    // The app first: a missing one is 404 before any upload is read.
    let app = app_in_project(&state, &access, &path.1).await?;
    let upload = read_upload(&state, request).await?;
    let version = use_case::add_version(&state, &access, &app, &upload).await?;
    Ok((
        StatusCode::CREATED,
        Json(VersionDto::new(version, app.active_version)),
    ))
}

/// Make a built version the active one: an instant rollback (or roll-forward).
#[utoipa::path(post, path = "/api/v1/projects/{project}/apps/{app}/versions/{number}/activate", tag = "apps",
    params(
        ("project" = String, Path, description = "Project id"),
        ("app" = String, Path, description = "App id"),
        ("number" = i64, Path, description = "Version number"),
    ),
    responses(
        (status = 200, description = "Activated", body = AppDto),
        (status = 403, description = "Viewers cannot activate", body = ErrorBody),
        (status = 404, description = "No such version, app or project, or not a member", body = ErrorBody),
        (status = 409, description = "The version's build has not succeeded", body = ErrorBody),
    ))]
pub async fn activate_version(
    State(state): State<AppState>,
    access: ProjectAccess<Editor>,
    ApiPath(path): ApiPath<(String, String, i64)>,
) -> Result<Json<AppDto>, ApiError> {
    let app = use_case::activate_version(&state, &access, &path.1, path.2).await?;
    Ok(Json(dto(&state, app)))
}

/// Download a version's canonical bundle as a zip.
#[utoipa::path(get, path = "/api/v1/projects/{project}/apps/{app}/versions/{number}/download", tag = "apps",
    params(
        ("project" = String, Path, description = "Project id"),
        ("app" = String, Path, description = "App id"),
        ("number" = i64, Path, description = "Version number"),
    ),
    responses(
        (status = 200, description = "The bundle", content_type = "application/zip", body = Vec<u8>),
        (status = 404, description = "No such version, app or project, or not a member", body = ErrorBody),
    ))]
pub async fn download_version(
    State(state): State<AppState>,
    access: ProjectAccess<Viewer>,
    ApiPath(path): ApiPath<(String, String, i64)>,
) -> Result<Response, ApiError> {
    let app_id = path.1;
    let number = path.2;
    let app = app_in_project(&state, &access, &app_id).await?;
    let version = state
        .store
        .get_version(&app.id, number)
        .await
        .map_err(|e| ApiError::or_not_found(e, use_case::version_not_found))?;
    let bytes = state
        .blobs
        .get(&BlobPath::from(version.bundle_blob.as_str()))
        .await
        .map_err(|e| ApiError::blob(&format!("reading bundle {}", version.bundle_blob), e))?
        .bytes()
        .await
        .map_err(|e| ApiError::blob(&format!("reading bundle {}", version.bundle_blob), e))?;
    Ok(super::zip_download(
        &format!("{}-v{number}", app.name),
        bytes,
    ))
}

/// One Server-Sent Event of a followed log: `log` with a piece of its text; then one
/// `end` with the outcome (such as `succeeded`, `stopped`, or `live` when not followed),
/// or `error` with why the log cannot be read.
#[derive(Debug, Serialize, ToSchema)]
pub struct LogEventDto {
    #[schema(pattern = "^(log|end|error)$")]
    pub event: String,
    /// The text, as it came (lines joined with `\n`).
    pub data: String,
}

/// A build's log: everything so far, then live until the build ends, as Server-Sent Events.
/// Each `log` event carries text; an `end` event carries the build's final status.
#[utoipa::path(get, path = "/api/v1/projects/{project}/apps/{app}/builds/{build}/log", tag = "apps",
    params(
        ("project" = String, Path, description = "Project id"),
        ("app" = String, Path, description = "App id"),
        ("build" = String, Path, description = "Build id, from the version"),
    ),
    responses(
        (status = 200, description = "The log, as text/event-stream", content_type = "text/event-stream", body = LogEventDto),
        (status = 404, description = "No such build for this app, or not a member", body = ErrorBody),
    ))]
pub async fn build_log(
    State(state): State<AppState>,
    access: ProjectAccess<Viewer>,
    ApiPath(path): ApiPath<(String, String, String)>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let app_id = path.1;
    let build_id = path.2;
    let app = app_in_project(&state, &access, &app_id).await?;
    let belongs = state
        .store
        .list_versions(&app.id)
        .await?
        .iter()
        .any(|v| v.build.id == build_id);
    if !belongs {
        return Err(ApiError::not_found(
            "build_not_found",
            "this app has no such build: the build id is on each version",
        ));
    }
    let source = BuildLog {
        builds: state.builds.clone(),
        store: state.store.clone(),
        events: tokio::sync::Mutex::new(state.store.subscribe().await?),
        build_id,
    };
    Ok(crate::follow::sse(source, Some(0), Some(LOG_WAIT)))
}

/// The longest a follow waits for a `log` event before reading again anyway.
const LOG_WAIT: Duration = Duration::from_secs(5);

/// A build's log: its segments while it runs (on any replica), its blob after.
struct BuildLog {
    builds: burrow_envs::Builds,
    store: burrow_store::Store,
    /// Subscribed before the first read, so no `log` event after it is missed.
    events: tokio::sync::Mutex<burrow_store::Subscription>,
    build_id: String,
}

impl crate::follow::LogSource for BuildLog {
    type Cursor = u64;
    async fn read(&self, offset: u64) -> crate::follow::Piece<u64> {
        use crate::follow::Piece;
        match self.builds.read_log(&self.build_id, offset).await {
            Ok(chunk) if !chunk.bytes.is_empty() => Piece::Data(chunk.bytes, chunk.next),
            Ok(chunk) if chunk.finished => Piece::End(
                self.store
                    .get_build(&self.build_id)
                    .await
                    .map(|b| b.status.as_str().to_owned())
                    .unwrap_or_else(|_| "unknown".into()),
            ),
            Ok(_) => Piece::Idle(offset),
            Err(e) => Piece::Failed(e.to_string()),
        }
    }

    async fn changed(&self, idle: Duration) {
        let mut events = self.events.lock().await;
        self.builds
            .log_changed(&mut events, &self.build_id, idle)
            .await;
    }
}

#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct WaitQuery {
    /// Answer only once the app runs (or failed to start), instead of at once.
    #[serde(default)]
    pub wait: bool,
}

async fn app_dto(
    state: &AppState,
    member: &Membership,
    app_id: &str,
) -> Result<Json<AppDto>, ApiError> {
    let app = app_in_project(state, member, app_id).await?;
    Ok(Json(dto(state, app)))
}

/// The app's runtime status: `stopped`, `starting`, `running`, `stopping` or `error`, with
/// the restart count and the last error.
#[utoipa::path(get, path = "/api/v1/projects/{project}/apps/{app}/status", tag = "apps",
    params(("project" = String, Path, description = "Project id"), ("app" = String, Path, description = "App id")),
    responses(
        (status = 200, description = "The app, with its status", body = AppDto),
        (status = 404, description = "No such app or project, or not a member", body = ErrorBody),
    ))]
pub async fn app_status(
    State(state): State<AppState>,
    access: ProjectAccess<Viewer>,
    ApiPath(path): ApiPath<(String, String)>,
) -> Result<Json<AppDto>, ApiError> {
    app_dto(&state, &access, &path.1).await
}

/// Start the app (it also starts on its first view). Clears an `error` left by crashes.
#[utoipa::path(post, path = "/api/v1/projects/{project}/apps/{app}/start", tag = "apps",
    params(("project" = String, Path, description = "Project id"), ("app" = String, Path, description = "App id"), WaitQuery),
    responses(
        (status = 200, description = "Running (with `wait`)", body = AppDto),
        (status = 202, description = "Starting", body = AppDto),
        (status = 403, description = "Viewers cannot start apps", body = ErrorBody),
        (status = 404, description = "No such app or project, or not a member", body = ErrorBody),
        (status = 409, description = "No version has been built yet", body = ErrorBody),
        (status = 503, description = "It failed to start (with `wait`); the message says why", body = ErrorBody),
    ))]
pub async fn start_app(
    State(state): State<AppState>,
    access: ProjectAccess<Editor>,
    ApiPath(path): ApiPath<(String, String)>,
    ApiQuery(q): ApiQuery<WaitQuery>,
) -> Result<(StatusCode, Json<AppDto>), ApiError> {
    run_lifecycle(&state, &access, &path.1, q.wait, false).await
}

/// Stop the app's sandbox.
#[utoipa::path(post, path = "/api/v1/projects/{project}/apps/{app}/stop", tag = "apps",
    params(("project" = String, Path, description = "Project id"), ("app" = String, Path, description = "App id")),
    responses(
        (status = 200, description = "Stopped", body = AppDto),
        (status = 403, description = "Viewers cannot stop apps", body = ErrorBody),
        (status = 404, description = "No such app or project, or not a member", body = ErrorBody),
    ))]
pub async fn stop_app(
    State(state): State<AppState>,
    access: ProjectAccess<Editor>,
    ApiPath(path): ApiPath<(String, String)>,
) -> Result<Json<AppDto>, ApiError> {
    use_case::stop(&state, &access, &path.1).await?;
    app_dto(&state, &access, &path.1).await
}

/// Stop the app, then start it again.
#[utoipa::path(post, path = "/api/v1/projects/{project}/apps/{app}/restart", tag = "apps",
    params(("project" = String, Path, description = "Project id"), ("app" = String, Path, description = "App id"), WaitQuery),
    responses(
        (status = 200, description = "Running again (with `wait`)", body = AppDto),
        (status = 202, description = "Restarting", body = AppDto),
        (status = 403, description = "Viewers cannot restart apps", body = ErrorBody),
        (status = 404, description = "No such app or project, or not a member", body = ErrorBody),
        (status = 409, description = "No version has been built yet", body = ErrorBody),
        (status = 503, description = "It failed to start (with `wait`)", body = ErrorBody),
    ))]
pub async fn restart_app(
    State(state): State<AppState>,
    access: ProjectAccess<Editor>,
    ApiPath(path): ApiPath<(String, String)>,
    ApiQuery(q): ApiQuery<WaitQuery>,
) -> Result<(StatusCode, Json<AppDto>), ApiError> {
    run_lifecycle(&state, &access, &path.1, q.wait, true).await
}

/// Starts or restarts the app, answering 200 once it runs with `wait`, else 202.
async fn run_lifecycle(
    state: &AppState,
    member: &Membership,
    app_id: &str,
    wait: bool,
    restart: bool,
) -> Result<(StatusCode, Json<AppDto>), ApiError> {
    use_case::launch(state, member, app_id, wait, restart).await?;
    let status = if wait {
        StatusCode::OK
    } else {
        StatusCode::ACCEPTED
    };
    Ok((status, app_dto(state, member, app_id).await?))
}

#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LogsQuery {
    /// `false`: answer with the output so far and end (with `end`/`live` while it runs)
    /// instead of following it.
    #[serde(default = "following")]
    #[param(default = true)]
    pub follow: bool,
}

fn following() -> bool {
    true
}

/// The app's output (stdout and stderr): what is kept, then live while it runs, as
/// Server-Sent Events (`log` events with text; `end` when the sandbox is gone, or at
/// once with `follow=false`).
#[utoipa::path(get, path = "/api/v1/projects/{project}/apps/{app}/logs", tag = "apps",
    params(("project" = String, Path, description = "Project id"), ("app" = String, Path, description = "App id"), LogsQuery),
    responses(
        (status = 200, description = "The output, as text/event-stream", content_type = "text/event-stream", body = LogEventDto),
        (status = 404, description = "No such app or project, or not a member", body = ErrorBody),
    ))]
pub async fn app_logs(
    State(state): State<AppState>,
    access: ProjectAccess<Viewer>,
    ApiPath(path): ApiPath<(String, String)>,
    ApiQuery(q): ApiQuery<LogsQuery>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let app = app_in_project(&state, &access, &path.1).await?;
    let sandbox = state.supervisor.reach(&app.id).map(|r| r.sandbox);
    let source = SandboxLog {
        runtime: state.supervisor.runtime().clone(),
        store: state.store.clone(),
        keyring: state.keyring.clone(),
        secrets_dir: state.config.secrets_dir(),
        app_id: app.id.to_string(),
    };
    let start = sandbox.map(|s| (s, burrow_sandbox::Cursor::default()));
    Ok(crate::follow::sse(
        source,
        start,
        q.follow.then_some(Duration::from_millis(300)),
    ))
}

/// A sandbox's output: what is kept, then live until the sandbox is gone, with the
/// app's secrets masked (viewers read this stream).
struct SandboxLog {
    runtime: std::sync::Arc<dyn burrow_sandbox::Runtime>,
    store: burrow_store::Store,
    keyring: burrow_data::Keyring,
    /// Where the mounted `secrets.toml` files are, whose values are masked too.
    secrets_dir: std::path::PathBuf,
    app_id: String,
}

impl crate::follow::LogSource for SandboxLog {
    type Cursor = (String, burrow_sandbox::Cursor);
    async fn read(&self, (sandbox, cursor): Self::Cursor) -> crate::follow::Piece<Self::Cursor> {
        use crate::follow::Piece;
        match self.runtime.logs(&sandbox, cursor).await {
            Ok((chunks, next)) if !chunks.is_empty() => {
                let text: Vec<u8> = chunks.into_iter().flat_map(|c| c.data).collect();
                let shown = burrow_apps::secrets::redact(
                    &self.store,
                    &self.keyring,
                    &self.secrets_dir,
                    &self.app_id,
                    text,
                )
                .await;
                Piece::Data(shown, (sandbox, next))
            }
            Ok(_)
                if matches!(
                    self.runtime.status(&sandbox).await,
                    Ok(burrow_sandbox::Status::Running)
                ) =>
            {
                Piece::Idle((sandbox, cursor))
            }
            _ => Piece::End("stopped".into()),
        }
    }
}

/// Where to send a browser to view the app: a short-lived, single-use URL on the apps origin.
#[derive(Debug, Serialize, ToSchema)]
pub struct ViewTicketDto {
    pub url: String,
}

/// Mint a view ticket: a URL on the app's own origin that works once, within a minute,
/// and signs the browser in there for viewing this app. Any member may.
#[utoipa::path(post, path = "/api/v1/projects/{project}/apps/{app}/view-ticket", tag = "apps",
    params(("project" = String, Path, description = "Project id"), ("app" = String, Path, description = "App id")),
    responses(
        (status = 200, description = "The URL to open", body = ViewTicketDto),
        (status = 404, description = "No such app or project, or not a member", body = ErrorBody),
    ))]
pub async fn view_ticket(
    State(state): State<AppState>,
    access: ProjectAccess<Viewer>,
    ApiPath(path): ApiPath<(String, String)>,
) -> Result<Json<ViewTicketDto>, ApiError> {
    let url = burrow_service::access::view_ticket(&state, &access, &path.1).await?;
    Ok(Json(ViewTicketDto {
        url: url.to_string(),
    }))
}

#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OpenQuery {
    /// The page of the app to land on, a path on its origin such as `/Other_page`.
    pub next: Option<String>,
}

/// Open an app in the browser: signed in, this redirects to a fresh view ticket on the
/// app's origin; signed out, to the sign-in page, which comes back here. An app's
/// origin sends unknown viewers here.
#[utoipa::path(get, path = "/api/v1/apps/{app}/open", tag = "apps", security(()),
    params(("app" = String, Path, description = "App id"), OpenQuery),
    responses(
        (status = 303, description = "To the app, or to sign in"),
        (status = 404, description = "No such app, or not a member of its project", body = ErrorBody),
    ))]
pub async fn open_app(
    State(state): State<AppState>,
    ApiPath(app_id): ApiPath<String>,
    ApiQuery(q): ApiQuery<OpenQuery>,
    request: Request,
) -> Result<axum::response::Redirect, ApiError> {
    use axum::extract::FromRequestParts;
    let (mut parts, _) = request.into_parts();
    let session = crate::extract::Session::from_request_parts(&mut parts, &state)
        .await
        .ok();
    let Some(session) = session else {
        let mut here = state.config.public_url();
        here.set_path(&format!("/api/v1/apps/{app_id}/open"));
        if let Some(next) = &q.next {
            here.query_pairs_mut().append_pair("next", next);
        }
        let mut login = state.config.public_url();
        login.set_path("/login");
        login.query_pairs_mut().append_pair("next", here.as_str());
        return Ok(axum::response::Redirect::to(login.as_str()));
    };
    let url =
        burrow_service::access::open_app(&state, &session.user.id, &app_id, q.next.as_deref())
            .await?;
    Ok(axum::response::Redirect::to(url.as_str()))
}
