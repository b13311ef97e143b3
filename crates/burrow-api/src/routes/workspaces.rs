//! Workspaces: a person's files in a project, listed, read, written with the version
//! they replace, moved, deleted and downloaded.

use axum::body::Body;
use axum::extract::{FromRequest, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use burrow_service::error::{Error, Kind};
use burrow_service::workspaces::{self as use_case, terminals, Written};
use burrow_store::FileExpect;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::error::{ApiError, ErrorBody, ErrorInfo};
use crate::extract::{
    is_multipart, read_form, ApiJson, ApiPath, ApiQuery, Editor, ProjectAccess, Session, Viewer,
};
use crate::AppState;

/// A workspace.
#[derive(Debug, Serialize, ToSchema)]
pub struct WorkspaceDto {
    pub id: String,
    pub name: String,
    /// Who made it, and alone opens and changes it.
    #[schema(required = true)]
    pub owner: Option<String>,
    pub files: i64,
    /// All its files' bytes.
    pub bytes: i64,
    pub created_at: String,
    /// The last change to it or to one of its files.
    pub updated_at: String,
    /// Its sandbox: `stopped`, `starting`, `running`, `stopping` or `error`.
    pub status: String,
    /// Why its sandbox last failed to start.
    #[schema(required = true)]
    pub error: Option<String>,
    /// When its sandbox started, while it runs.
    #[schema(required = true)]
    pub started_at: Option<String>,
    /// When its person last gave it input: keys, saves, runs, file changes.
    #[schema(required = true)]
    pub last_active_at: Option<String>,
    /// When it stops unless its person gives it input, while it runs.
    #[schema(required = true)]
    pub idle_stops_at: Option<String>,
    /// When it stops however busy (its maximum lifetime), while it runs.
    #[schema(required = true)]
    pub stops_at: Option<String>,
    /// Files made in its sandbox that were not kept, each with why.
    pub sync_problems: Vec<String>,
    /// The template it started from, while that exists, and its name.
    #[schema(required = true)]
    pub template_id: Option<String>,
    #[schema(required = true)]
    pub template: Option<String>,
}

fn workspace_dto(state: &AppState, w: burrow_store::Workspace) -> WorkspaceDto {
    let config = &state.config.workspaces;
    let running = w.status == burrow_store::AppStatus::Running;
    let started = w.started_at.filter(|_| running);
    let active = started.map(|s| w.last_active_at.unwrap_or(s).max(s));
    let ms = |secs: u64| i64::try_from(secs.saturating_mul(1000)).unwrap_or(i64::MAX);
    WorkspaceDto {
        status: w.status.as_str().to_owned(),
        error: w.last_error,
        started_at: started.map(crate::dto::timestamp),
        last_active_at: w.last_active_at.map(crate::dto::timestamp),
        idle_stops_at: active
            .map(|a| crate::dto::timestamp(a.saturating_add(ms(config.idle_timeout_secs)))),
        stops_at: started
            .map(|s| crate::dto::timestamp(s.saturating_add(ms(config.max_lifetime_secs)))),
        sync_problems: w
            .sync_problems
            .lines()
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect(),
        template_id: w.template_id,
        template: w.template,
        id: w.id,
        name: w.name,
        owner: w.owner_name,
        files: w.files,
        bytes: w.bytes,
        created_at: crate::dto::timestamp(w.created_at),
        updated_at: crate::dto::timestamp(w.updated_at),
    }
}

/// A workspace's name.
#[derive(Debug, Deserialize, ToSchema)]
pub struct WorkspaceName {
    /// 1 to 80 characters, without control characters.
    #[schema(
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$",
        max_length = 80
    )]
    pub name: String,
}

/// A new workspace: its name, and the template it starts from, if any.
#[derive(Debug, Deserialize, ToSchema)]
pub struct NewWorkspace {
    /// 1 to 80 characters, without control characters.
    #[schema(
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$",
        max_length = 80
    )]
    pub name: String,
    /// Start with this template's files.
    #[serde(default)]
    pub template_id: Option<String>,
}

/// A file as the tree lists it.
#[derive(Debug, Serialize, ToSchema)]
pub struct FileDto {
    pub path: String,
    pub size: i64,
    pub sha256: String,
    /// 1 when made, one more at each change: name it in `If-Match` to change the file.
    pub version: i64,
    #[schema(required = true)]
    pub updated_by: Option<String>,
    pub updated_at: String,
}

fn file_dto(f: burrow_store::FileEntry) -> FileDto {
    FileDto {
        path: f.path,
        size: f.size,
        sha256: f.sha256,
        version: f.version,
        updated_by: f.updated_by,
        updated_at: crate::dto::timestamp(f.updated_at),
    }
}

/// One page of the file tree, in path order.
#[derive(Debug, Serialize, ToSchema)]
pub struct FilePage {
    pub files: Vec<FileDto>,
    /// Pass as `after` for the next page; absent on the last.
    #[schema(required = true)]
    pub next: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// The last path of the previous page.
    #[serde(default)]
    #[param(required = false)]
    pub after: String,
    /// At most this many files, 500 by default; read as 1 to 1000 (a larger number as 1000).
    pub limit: Option<i64>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PathQuery {
    /// The file's path in the workspace, such as `src/app.py`; a folder's to delete it.
    pub path: String,
}

/// A file written.
#[derive(Debug, Serialize, ToSchema)]
pub struct WrittenDto {
    pub path: String,
    pub version: i64,
}

/// A file as it is now, sent with a refused write.
#[derive(Debug, Serialize, ToSchema)]
pub struct CurrentFile {
    pub version: i64,
    pub sha256: String,
    pub size: i64,
    /// Its content, when it is UTF-8 text.
    #[schema(required = true)]
    pub content: Option<String>,
    #[schema(required = true)]
    pub updated_by: Option<String>,
    pub updated_at: String,
}

/// A write refused because the file changed since the version it named.
#[derive(Debug, Serialize, ToSchema)]
pub struct FileConflictBody {
    pub error: ErrorInfo,
    /// The file as it is now; absent when it was deleted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current: Option<CurrentFile>,
}

/// A move of a file, or of a folder with everything in it.
#[derive(Debug, Deserialize, ToSchema)]
pub struct MoveRequest {
    pub from: String,
    pub to: String,
    /// The file's version, when moving one file: refused if it changed.
    #[serde(default)]
    pub version: Option<i64>,
}

/// How many files a move or delete changed.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChangedDto {
    pub files: i64,
}

/// `If-Match`: `"N"` (or `N`) for version N, `*` for whatever is there; absent when the
/// file must not exist yet (`absent`) or may be anything (`any`).
fn expectation(headers: &HeaderMap, absent: FileExpect) -> Result<FileExpect, Error> {
    let Some(value) = headers.get(header::IF_MATCH) else {
        return Ok(absent);
    };
    let value = value.to_str().unwrap_or_default().trim();
    if value == "*" {
        return Ok(FileExpect::Any);
    }
    value
        .trim_matches('"')
        .parse::<i64>()
        .map(FileExpect::Version)
        .map_err(|_| {
            Error::new(
                Kind::Invalid,
                "invalid_if_match",
                format!(
                    "If-Match {value:?} is not a file version: send the version the file was \
                     read at, such as \"3\", or * to overwrite whatever is there"
                ),
            )
        })
}

/// Your workspaces in the project, the last changed first.
#[utoipa::path(get, path = "/api/v1/projects/{project}/workspaces", tag = "workspaces",
    params(("project" = String, Path, description = "Project id")),
    responses(
        (status = 200, description = "Your workspaces", body = [WorkspaceDto]),
        (status = 404, description = "No such project, or not a member", body = ErrorBody),
    ))]
pub async fn list_workspaces(
    State(state): State<AppState>,
    access: ProjectAccess<Viewer>,
) -> Result<Json<Vec<WorkspaceDto>>, ApiError> {
    let list = use_case::list_workspaces(&state, &access.member).await?;
    Ok(Json(
        list.into_iter().map(|w| workspace_dto(&state, w)).collect(),
    ))
}

/// A workspace made from a `.zip` (`multipart/form-data`): its name, and the archive.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct WorkspaceForm {
    name: String,
    /// A `.zip` of the workspace's first files.
    #[schema(format = Binary, value_type = String)]
    file: Vec<u8>,
}

/// `request` with its body cut off after `max` bytes.
pub(crate) fn limited(request: axum::extract::Request, max: u64) -> axum::extract::Request {
    request.map(|body| {
        Body::new(http_body_util::Limited::new(
            body,
            usize::try_from(max).unwrap_or(usize::MAX),
        ))
    })
}

/// A form of text `fields` and a `.zip` in `file`, with the archive's files read as a
/// workspace's first files are (all of them checked, every problem in the error): no
/// file, no files. The body is cut off after what a workspace may hold.
pub(crate) async fn read_zip_form(
    state: &AppState,
    request: axum::extract::Request,
    fields: &[&str],
) -> Result<
    (
        std::collections::HashMap<String, String>,
        std::collections::BTreeMap<String, Vec<u8>>,
    ),
    ApiError,
> {
    let config = &state.config.workspaces;
    // What a workspace may hold and its archive's headers.
    let max = (config.max_total_mb << 20) + (config.max_files << 10) + (1 << 20);
    let request = limited(request, max);
    let form = read_form(state, request, fields, || {
        Error::new(
            Kind::TooLarge,
            "upload_too_large",
            format!(
                "the archive is larger than a workspace may hold ({} MiB, \
                 workspaces.max_total_mb)",
                config.max_total_mb
            ),
        )
    })
    .await?;
    let files = match form.file {
        Some((filename, bytes)) if filename.to_lowercase().ends_with(".zip") => {
            use_case::files_of_zip(config, bytes).await?
        }
        Some((filename, _)) => {
            return Err(ApiError::bad_request(
                "invalid_upload",
                format!("{filename:?} is not a .zip: the files come from a .zip archive"),
            ))
        }
        None => Default::default(),
    };
    Ok((form.text, files))
}

/// Make a workspace of your own: empty or holding a template's files (JSON), or holding
/// the files of a `.zip` (`multipart/form-data`: `name`, `file`), all of them or, on any
/// problem, nothing.
#[utoipa::path(post, path = "/api/v1/projects/{project}/workspaces", tag = "workspaces",
    params(("project" = String, Path, description = "Project id")),
    request_body(content(
        (NewWorkspace = "application/json"),
        (WorkspaceForm = "multipart/form-data"),
    )),
    responses(
        (status = 201, description = "Made", body = WorkspaceDto),
        (status = 400, description = "An invalid name or form", body = ErrorBody),
        (status = 403, description = "Viewers cannot make workspaces", body = ErrorBody),
        (status = 404, description = "No such template", body = ErrorBody),
        (status = 409, description = "You have a workspace of that name, or as many as you may", body = ErrorBody),
        (status = 413, description = "The archive holds more than a workspace may", body = ErrorBody),
        (status = 422, description = "The archive was refused; `details` lists every problem", body = ErrorBody),
    ))]
pub async fn create_workspace(
    State(state): State<AppState>,
    access: ProjectAccess<Editor>,
    request: axum::extract::Request,
) -> Result<(StatusCode, Json<WorkspaceDto>), ApiError> {
    let (name, start) = if is_multipart(&request) {
        let (mut text, files) = read_zip_form(&state, request, &["name"]).await?;
        let name = text.remove("name").unwrap_or_default();
        (name, use_case::Start::Files(files))
    } else {
        let request = limited(request, 64 << 10);
        let ApiJson(request) = ApiJson::<NewWorkspace>::from_request(request, &state).await?;
        let start = match request.template_id {
            Some(id) => use_case::Start::Template(id),
            None => use_case::Start::Empty,
        };
        (request.name, start)
    };
    let made = use_case::create_workspace(&state, &access.member, &name, start).await?;
    Ok((StatusCode::CREATED, Json(workspace_dto(&state, made))))
}

/// A workspace: yours, or, for a project owner, anyone's.
#[utoipa::path(get, path = "/api/v1/projects/{project}/workspaces/{workspace}", tag = "workspaces",
    params(("project" = String, Path, description = "Project id"), ("workspace" = String, Path, description = "Workspace id")),
    responses(
        (status = 200, description = "The workspace", body = WorkspaceDto),
        (status = 404, description = "No such workspace, or not yours", body = ErrorBody),
    ))]
pub async fn get_workspace(
    State(state): State<AppState>,
    access: ProjectAccess<Viewer>,
    ApiPath(path): ApiPath<(String, String)>,
) -> Result<Json<WorkspaceDto>, ApiError> {
    let found = use_case::workspace(&state, &access.member, &path.1, use_case::Use::Read).await?;
    Ok(Json(workspace_dto(&state, found)))
}

/// Rename your workspace.
#[utoipa::path(patch, path = "/api/v1/projects/{project}/workspaces/{workspace}", tag = "workspaces",
    params(("project" = String, Path, description = "Project id"), ("workspace" = String, Path, description = "Workspace id")),
    request_body = WorkspaceName,
    responses(
        (status = 200, description = "Renamed", body = WorkspaceDto),
        (status = 400, description = "An invalid name", body = ErrorBody),
        (status = 404, description = "No such workspace, or not yours", body = ErrorBody),
        (status = 409, description = "You have a workspace of that name", body = ErrorBody),
    ))]
pub async fn rename_workspace(
    State(state): State<AppState>,
    access: ProjectAccess<Viewer>,
    ApiPath(path): ApiPath<(String, String)>,
    ApiJson(request): ApiJson<WorkspaceName>,
) -> Result<Json<WorkspaceDto>, ApiError> {
    let renamed =
        use_case::rename_workspace(&state, &access.member, &path.1, &request.name).await?;
    Ok(Json(workspace_dto(&state, renamed)))
}

/// Delete your workspace and all its files.
#[utoipa::path(delete, path = "/api/v1/projects/{project}/workspaces/{workspace}", tag = "workspaces",
    params(("project" = String, Path, description = "Project id"), ("workspace" = String, Path, description = "Workspace id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such workspace, or not yours", body = ErrorBody),
    ))]
pub async fn delete_workspace(
    State(state): State<AppState>,
    access: ProjectAccess<Viewer>,
    ApiPath(path): ApiPath<(String, String)>,
) -> Result<StatusCode, ApiError> {
    use_case::delete_workspace(&state, &access.member, &path.1).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A page of the workspace's files, in path order.
#[utoipa::path(get, path = "/api/v1/projects/{project}/workspaces/{workspace}/files", tag = "workspaces",
    params(("project" = String, Path, description = "Project id"), ("workspace" = String, Path, description = "Workspace id"), PageQuery),
    responses(
        (status = 200, description = "The files", body = FilePage),
        (status = 404, description = "No such workspace, or not yours", body = ErrorBody),
    ))]
pub async fn list_files(
    State(state): State<AppState>,
    access: ProjectAccess<Viewer>,
    ApiPath(path): ApiPath<(String, String)>,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<Json<FilePage>, ApiError> {
    let limit = query.limit.unwrap_or(500).clamp(1, use_case::MAX_PAGE);
    let files = use_case::list_files(&state, &access.member, &path.1, &query.after, limit).await?;
    let next = (files.len() as i64 == limit)
        .then(|| files.last().map(|f| f.path.clone()))
        .flatten();
    Ok(Json(FilePage {
        files: files.into_iter().map(file_dto).collect(),
        next,
    }))
}

/// A file's content, with its version as the `ETag`.
#[utoipa::path(get, path = "/api/v1/projects/{project}/workspaces/{workspace}/file", tag = "workspaces",
    params(("project" = String, Path, description = "Project id"), ("workspace" = String, Path, description = "Workspace id"), PathQuery),
    responses(
        (status = 200, description = "The file's bytes", content_type = "application/octet-stream"),
        (status = 400, description = "An invalid path", body = ErrorBody),
        (status = 404, description = "No such workspace or file", body = ErrorBody),
    ))]
pub async fn read_file(
    State(state): State<AppState>,
    access: ProjectAccess<Viewer>,
    ApiPath(path): ApiPath<(String, String)>,
    ApiQuery(query): ApiQuery<PathQuery>,
) -> Result<Response, ApiError> {
    let (file, content) = use_case::read_file(&state, &access.member, &path.1, &query.path).await?;
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/octet-stream"),
            ),
            (
                header::ETAG,
                HeaderValue::from_str(&format!("\"{}\"", file.version))
                    .unwrap_or_else(|_| HeaderValue::from_static("\"0\"")),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
            // A person's file is data, never a page of this origin.
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
            (
                header::CONTENT_DISPOSITION,
                HeaderValue::from_static("attachment"),
            ),
        ],
        Body::from(content),
    )
        .into_response())
}

/// Write a file from the request's bytes. `If-Match: "N"` replaces version N, and is
/// refused with 409 and the file as it is now when it changed meanwhile; `If-Match: *`
/// replaces whatever is there; without it the file must not exist yet.
#[utoipa::path(put, path = "/api/v1/projects/{project}/workspaces/{workspace}/file", tag = "workspaces",
    params(("project" = String, Path, description = "Project id"), ("workspace" = String, Path, description = "Workspace id"), PathQuery),
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses(
        (status = 200, description = "Written", body = WrittenDto),
        (status = 400, description = "An invalid path or If-Match", body = ErrorBody),
        (status = 404, description = "No such workspace, or not yours", body = ErrorBody),
        (status = 409, description = "The file changed or exists (`file_changed`, with the file as it is now), or its path collides with another's (`path_collision`, `path_clash`)", body = FileConflictBody),
        (status = 413, description = "Larger than a file or the workspace may be, or one file too many", body = ErrorBody),
    ))]
pub async fn write_file(
    State(state): State<AppState>,
    access: ProjectAccess<Viewer>,
    ApiPath(path): ApiPath<(String, String)>,
    ApiQuery(query): ApiQuery<PathQuery>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let expect = expectation(&headers, FileExpect::Absent)?;
    let max = usize::try_from(state.config.workspaces.max_file_mb << 20).unwrap_or(usize::MAX);
    let content = axum::body::to_bytes(body, max.saturating_add(1))
        .await
        .map_err(|_| {
            Error::new(
                Kind::TooLarge,
                "file_too_large",
                format!(
                    "a workspace file may be at most {} MiB (workspaces.max_file_mb)",
                    max >> 20
                ),
            )
        })?;
    let written = use_case::write_file(
        &state,
        &access.member,
        &path.1,
        &query.path,
        content.to_vec(),
        expect,
    )
    .await?;
    Ok(match written {
        Written::Done(version) => Json(WrittenDto {
            path: query.path.clone(),
            version,
        })
        .into_response(),
        Written::Changed(current) => {
            let message = match (&current, expect) {
                (Some(_), FileExpect::Absent) => format!(
                    "{} exists: read it, then write with If-Match and its version, or * to \
                     overwrite it",
                    query.path
                ),
                (Some((file, _)), _) => format!(
                    "{} changed since you read it (it is at version {} now): reload it, or \
                     write again with If-Match \"{}\" to overwrite",
                    query.path, file.version, file.version
                ),
                (None, _) => format!(
                    "{} was deleted since you read it: write it without If-Match to make it \
                     again",
                    query.path
                ),
            };
            let body = FileConflictBody {
                error: ErrorInfo {
                    code: "file_changed".into(),
                    message,
                    field: None,
                    details: Vec::new(),
                },
                current: current.map(|(file, content)| CurrentFile {
                    version: file.version,
                    sha256: file.sha256,
                    size: file.size,
                    content: String::from_utf8(content).ok(),
                    updated_by: file.updated_by,
                    updated_at: crate::dto::timestamp(file.updated_at),
                }),
            };
            (StatusCode::CONFLICT, Json(body)).into_response()
        }
    })
}

/// Delete a file (with `If-Match: "N"`, only at version N), or a folder with everything in it.
#[utoipa::path(delete, path = "/api/v1/projects/{project}/workspaces/{workspace}/file", tag = "workspaces",
    params(("project" = String, Path, description = "Project id"), ("workspace" = String, Path, description = "Workspace id"), PathQuery),
    responses(
        (status = 200, description = "Deleted", body = ChangedDto),
        (status = 400, description = "An invalid path or If-Match", body = ErrorBody),
        (status = 404, description = "No such workspace, file or folder", body = ErrorBody),
        (status = 409, description = "The file changed since that version", body = ErrorBody),
    ))]
pub async fn delete_file(
    State(state): State<AppState>,
    access: ProjectAccess<Viewer>,
    ApiPath(path): ApiPath<(String, String)>,
    ApiQuery(query): ApiQuery<PathQuery>,
    headers: HeaderMap,
) -> Result<Json<ChangedDto>, ApiError> {
    let expect = expectation(&headers, FileExpect::Any)?;
    let files = use_case::delete_path(&state, &access.member, &path.1, &query.path, expect).await?;
    Ok(Json(ChangedDto { files }))
}

/// Move or rename a file, or a folder with everything in it.
#[utoipa::path(post, path = "/api/v1/projects/{project}/workspaces/{workspace}/move", tag = "workspaces",
    params(("project" = String, Path, description = "Project id"), ("workspace" = String, Path, description = "Workspace id")),
    request_body = MoveRequest,
    responses(
        (status = 200, description = "Moved", body = ChangedDto),
        (status = 400, description = "An invalid path, or a folder into itself", body = ErrorBody),
        (status = 404, description = "No such workspace, file or folder", body = ErrorBody),
        (status = 409, description = "Something is at the new path, a file would be a folder, or the file changed", body = ErrorBody),
    ))]
pub async fn move_file(
    State(state): State<AppState>,
    access: ProjectAccess<Viewer>,
    ApiPath(path): ApiPath<(String, String)>,
    ApiJson(request): ApiJson<MoveRequest>,
) -> Result<Json<ChangedDto>, ApiError> {
    let expect = request.version.map_or(FileExpect::Any, FileExpect::Version);
    let files = use_case::move_path(
        &state,
        &access.member,
        &path.1,
        &request.from,
        &request.to,
        expect,
    )
    .await?;
    Ok(Json(ChangedDto { files }))
}

/// The whole workspace as a `.zip`.
#[utoipa::path(get, path = "/api/v1/projects/{project}/workspaces/{workspace}/download", tag = "workspaces",
    params(("project" = String, Path, description = "Project id"), ("workspace" = String, Path, description = "Workspace id")),
    responses(
        (status = 200, description = "The files, zipped", content_type = "application/zip"),
        (status = 404, description = "No such workspace, or not yours", body = ErrorBody),
    ))]
pub async fn download_workspace(
    State(state): State<AppState>,
    access: ProjectAccess<Viewer>,
    ApiPath(path): ApiPath<(String, String)>,
) -> Result<Response, ApiError> {
    let (workspace, zipped) = use_case::download(&state, &access.member, &path.1).await?;
    Ok(super::zip_download(&workspace.name, zipped))
}

/// Start your workspace's sandbox, with its files in it; answers once it is ready.
#[utoipa::path(post, path = "/api/v1/projects/{project}/workspaces/{workspace}/start", tag = "workspaces",
    params(("project" = String, Path, description = "Project id"), ("workspace" = String, Path, description = "Workspace id")),
    responses(
        (status = 200, description = "Running", body = WorkspaceDto),
        (status = 404, description = "No such workspace, or not yours", body = ErrorBody),
        (status = 409, description = "It could not start, and why (such as the base environment not built yet)", body = ErrorBody),
    ))]
pub async fn start_workspace(
    State(state): State<AppState>,
    access: ProjectAccess<Viewer>,
    ApiPath(path): ApiPath<(String, String)>,
) -> Result<Json<WorkspaceDto>, ApiError> {
    let started = use_case::start(&state, &access.member, &path.1).await?;
    Ok(Json(workspace_dto(&state, started)))
}

/// Stop your workspace's sandbox; its files, and what changed in it last, are kept.
#[utoipa::path(post, path = "/api/v1/projects/{project}/workspaces/{workspace}/stop", tag = "workspaces",
    params(("project" = String, Path, description = "Project id"), ("workspace" = String, Path, description = "Workspace id")),
    responses(
        (status = 200, description = "Stopped", body = WorkspaceDto),
        (status = 404, description = "No such workspace, or not yours", body = ErrorBody),
    ))]
pub async fn stop_workspace(
    State(state): State<AppState>,
    access: ProjectAccess<Viewer>,
    ApiPath(path): ApiPath<(String, String)>,
) -> Result<Json<WorkspaceDto>, ApiError> {
    let stopped = use_case::stop(&state, &access.member, &path.1).await?;
    Ok(Json(workspace_dto(&state, stopped)))
}

/// A terminal of a running workspace.
#[derive(Debug, Serialize, ToSchema)]
pub struct TerminalDto {
    /// 1 to 8.
    pub id: u8,
    /// Whether its shell still runs.
    pub running: bool,
}

/// The terminals of your running workspace, so a reloaded page opens them again.
#[utoipa::path(get, path = "/api/v1/projects/{project}/workspaces/{workspace}/terminals", tag = "workspaces",
    params(("project" = String, Path, description = "Project id"), ("workspace" = String, Path, description = "Workspace id")),
    responses(
        (status = 200, description = "Its terminals", body = [TerminalDto]),
        (status = 404, description = "No such workspace, or not yours", body = ErrorBody),
    ))]
pub async fn list_terminals(
    State(state): State<AppState>,
    access: ProjectAccess<Viewer>,
    ApiPath(path): ApiPath<(String, String)>,
) -> Result<Json<Vec<TerminalDto>>, ApiError> {
    use_case::workspace(&state, &access.member, &path.1, use_case::Use::Change).await?;
    let listed = state.workspaces.workload().terminals.list(&path.1);
    Ok(Json(
        listed
            .into_iter()
            .map(|(id, running)| TerminalDto { id, running })
            .collect(),
    ))
}

fn terminal_number(n: u8) -> Result<u8, Error> {
    if (1..=terminals::MAX_TERMINALS).contains(&n) {
        Ok(n)
    } else {
        Err(Error::new(
            Kind::Invalid,
            "invalid_terminal",
            format!(
                "terminal {n} does not exist: a workspace has terminals 1 to {}",
                terminals::MAX_TERMINALS
            ),
        ))
    }
}

/// End a terminal's shell.
#[utoipa::path(delete, path = "/api/v1/projects/{project}/workspaces/{workspace}/terminals/{terminal}", tag = "workspaces",
    params(("project" = String, Path, description = "Project id"), ("workspace" = String, Path, description = "Workspace id"), ("terminal" = u8, Path, description = "1 to 8")),
    responses(
        (status = 204, description = "Ended"),
        (status = 404, description = "No such workspace or terminal, or not yours", body = ErrorBody),
    ))]
pub async fn close_terminal(
    State(state): State<AppState>,
    access: ProjectAccess<Viewer>,
    ApiPath(path): ApiPath<(String, String, u8)>,
) -> Result<StatusCode, ApiError> {
    use_case::workspace(&state, &access.member, &path.1, use_case::Use::Change).await?;
    let n = terminal_number(path.2)?;
    if state
        .workspaces
        .workload()
        .terminals
        .close(&path.1, n)
        .await
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(Error::new(
            Kind::NotFound,
            "terminal_not_found",
            format!("terminal {n} is not open in this workspace"),
        ))
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TerminalQuery {
    /// The offset after the last output byte the page has shown; output from there on
    /// is sent (replayed, then live). Absent: everything still kept.
    pub from: Option<u64>,
    /// The terminal's size, for a new shell.
    pub cols: Option<u16>,
    pub rows: Option<u16>,
}

/// Frames a terminal sends: output (live or replayed) with its offset, and the end.
const OUTPUT: u8 = 1;
const REPLAY: u8 = 2;
const EXIT: u8 = 3;
/// Messages a page sends: keystrokes, its size, and how far it has written.
const INPUT: u8 = 0;
const RESIZE: u8 = 1;
const ACK: u8 = 2;

/// A terminal of your running workspace, over a WebSocket from Burrow's own pages
/// (binary frames; see the README). Its shell starts with the first connection and
/// outlives each connection.
#[utoipa::path(get, path = "/api/v1/projects/{project}/workspaces/{workspace}/terminals/{terminal}", tag = "workspaces",
    params(("project" = String, Path, description = "Project id"), ("workspace" = String, Path, description = "Workspace id"), ("terminal" = u8, Path, description = "1 to 8"), TerminalQuery),
    responses(
        (status = 101, description = "The terminal's WebSocket"),
        (status = 403, description = "From another origin", body = ErrorBody),
        (status = 404, description = "No such workspace, or not yours", body = ErrorBody),
        (status = 409, description = "The workspace is not running", body = ErrorBody),
    ))]
pub async fn terminal(
    State(state): State<AppState>,
    session: Session,
    access: ProjectAccess<Viewer>,
    ApiPath(path): ApiPath<(String, String, u8)>,
    ApiQuery(query): ApiQuery<TerminalQuery>,
    upgrade: axum::extract::WebSocketUpgrade,
) -> Result<Response, ApiError> {
    let n = terminal_number(path.2)?;
    let id = path.1;
    let sandbox = use_case::running_sandbox(&state, &access.member, &id).await?;
    let runs = state.workspaces.workload();
    let size = (
        query.cols.unwrap_or(80).clamp(1, 1000),
        query.rows.unwrap_or(24).clamp(1, 1000),
    );
    let terminal = runs
        .terminals
        .open(
            state.workspaces.runtime().as_ref(),
            &id,
            &sandbox,
            n,
            runs.shell(),
            size,
        )
        .await
        .map_err(|e| Error::internal(format!("cannot start the terminal's shell: {e}")))?;
    state.workspaces.touch(&id);
    Ok(upgrade.max_message_size(1 << 20).on_upgrade(move |socket| {
        let holder = Holder {
            token_hash: session.token_hash,
            user_id: access.member.user.id.clone(),
            project_id: access.member.project.id.to_string(),
            workspace_id: id,
        };
        pump(socket, terminal, query.from, state, holder)
    }))
}

/// Who opened a terminal, checked again while it is open.
struct Holder {
    token_hash: String,
    user_id: String,
    project_id: String,
    workspace_id: String,
}

/// How often an open terminal checks that its holder may still use it.
const RECHECK: std::time::Duration = std::time::Duration::from_secs(10);

/// Waits for an `access` event (a member removed or their role lowered, a session
/// ended, on any replica); never, without events.
async fn access_taken(access: &mut Option<tokio::sync::watch::Receiver<u64>>) {
    if let Some(changes) = access {
        if changes.changed().await.is_ok() {
            return;
        }
    }
    std::future::pending().await
}

/// Sends the terminal's output as the page acknowledges it, and hands on its keys.
async fn pump(
    mut socket: axum::extract::ws::WebSocket,
    terminal: std::sync::Arc<terminals::Terminal>,
    seen: Option<u64>,
    state: AppState,
    holder: Holder,
) {
    use axum::extract::ws::{CloseFrame, Message};
    let id = holder.workspace_id.clone();
    let attached = terminal.attach(seen);
    // A logout, a removal from the project or a lower role ends the connection (the
    // shell stays, for its holder's next sign-in).
    let mut rechecks = tokio::time::interval(RECHECK);
    rechecks.tick().await;
    // And at once on an `access` event, from whichever replica took access away.
    let mut access = state.store.access_changes().await.ok();
    let mut changes = terminal.subscribe();
    let mut at = attached.from;
    // A page is pinged; one silent for a minute (asleep, gone half-open) is dropped, so it
    // holds up no shell.
    let mut pings = tokio::time::interval(std::time::Duration::from_secs(20));
    let mut heard = tokio::time::Instant::now();
    loop {
        changes.borrow_and_update();
        let chunk = terminal.read(attached.viewer, at, 64 << 10);
        if !chunk.bytes.is_empty() {
            let mut bytes = chunk.bytes;
            let replayed = chunk.offset < attached.live_from;
            if replayed {
                bytes.truncate((attached.live_from - chunk.offset) as usize);
            }
            let mut frame = Vec::with_capacity(9 + bytes.len());
            frame.push(if replayed { REPLAY } else { OUTPUT });
            frame.extend_from_slice(&chunk.offset.to_be_bytes());
            frame.extend_from_slice(&bytes);
            let sent = tokio::time::timeout(
                std::time::Duration::from_secs(60),
                socket.send(Message::Binary(frame.into())),
            )
            .await;
            if !matches!(sent, Ok(Ok(()))) {
                break;
            }
            at = chunk.offset + bytes.len() as u64;
            continue;
        }
        let (end, exit) = terminal.end();
        if let Some(code) = exit.filter(|_| at >= end) {
            let mut frame = vec![EXIT];
            frame.extend_from_slice(&code.to_be_bytes());
            let _ = socket.send(Message::Binary(frame.into())).await;
            break;
        }
        tokio::select! {
            _ = async {
                tokio::select! {
                    _ = rechecks.tick() => {}
                    () = access_taken(&mut access) => {}
                }
            } => {
                let allowed = use_case::still_allowed(
                    &state,
                    &holder.token_hash,
                    &holder.user_id,
                    (&holder.project_id, &holder.workspace_id),
                )
                .await;
                if matches!(allowed, Ok(false)) {
                    let _ = socket
                        .send(Message::Close(Some(CloseFrame {
                            code: 4401,
                            reason: "signed out, or no longer allowed to use this workspace".into(),
                        })))
                        .await;
                    break;
                }
            }
            _ = pings.tick() => {
                if heard.elapsed() > std::time::Duration::from_secs(60)
                    || socket.send(Message::Ping(Default::default())).await.is_err()
                {
                    break;
                }
            }
            message = socket.recv() => match message {
                Some(Ok(Message::Binary(bytes))) => {
                    heard = tokio::time::Instant::now();
                    match (bytes.first(), bytes.get(1..).unwrap_or_default()) {
                        (Some(&INPUT), keys) => {
                            state.workspaces.touch(&id);
                            if terminal.input(keys).await.is_err() {
                                break;
                            }
                        }
                        (Some(&RESIZE), size) if size.len() == 4 => {
                            let cols = u16::from_be_bytes([size[0], size[1]]);
                            let rows = u16::from_be_bytes([size[2], size[3]]);
                            terminal.resize(cols, rows).await;
                        }
                        (Some(&ACK), offset) if offset.len() == 8 => {
                            let offset = u64::from_be_bytes(offset.try_into().unwrap_or_default());
                            terminal.ack(attached.viewer, offset);
                        }
                        // Anything else is not this protocol: ignored.
                        _ => {}
                    }
                }
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
                Some(Ok(_)) => heard = tokio::time::Instant::now(),
            },
            changed = changes.changed() => if changed.is_err() { break },
        }
    }
    terminal.detach(attached.viewer);
}
