//! Review: workspace templates, submissions of workspaces, their diffs, threads of
//! comments on their lines, and verdicts.

use axum::extract::{FromRequest, State};
use axum::http::StatusCode;
use axum::Json;
use burrow_service::review::{self as use_case, diff, Base, NewThread, ThreadView, Verdict};
use burrow_store::{Submission, SubmissionFilter, Template};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::dto::timestamp;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{is_multipart, ApiJson, ApiPath, ApiQuery, ProjectAccess, Reviewer, Viewer};
use crate::routes::workspaces::{limited, read_zip_form};
use crate::AppState;

/// Named starting files for workspaces.
#[derive(Debug, Serialize, ToSchema)]
pub struct TemplateDto {
    pub id: String,
    pub name: String,
    pub description: String,
    pub files: i64,
    pub bytes: i64,
    /// Who made it.
    #[schema(required = true)]
    pub created_by: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

fn template_dto(t: Template) -> TemplateDto {
    TemplateDto {
        id: t.id,
        name: t.name,
        description: t.description,
        files: t.files,
        bytes: t.bytes,
        created_by: t.created_by,
        created_at: timestamp(t.created_at),
        updated_at: timestamp(t.updated_at),
    }
}

/// The project's templates, by name.
#[utoipa::path(get, path = "/api/v1/projects/{project}/templates", tag = "review",
    params(("project" = String, Path, description = "Project id")),
    responses(
        (status = 200, description = "The templates", body = [TemplateDto]),
        (status = 404, description = "No such project", body = ErrorBody),
    ))]
pub async fn list_templates(
    State(state): State<AppState>,
    access: ProjectAccess<Viewer>,
) -> Result<Json<Vec<TemplateDto>>, ApiError> {
    let all = use_case::list_templates(&state, &access.member).await?;
    Ok(Json(all.into_iter().map(template_dto).collect()))
}

/// A template made of one of your workspaces.
#[derive(Debug, Deserialize, ToSchema)]
pub struct NewTemplate {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// The workspace whose files, as they are now, it holds.
    pub workspace_id: String,
}

/// A template made of a `.zip`.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct TemplateForm {
    name: String,
    description: Option<String>,
    /// A `.zip` of its files.
    #[schema(format = Binary, value_type = String)]
    file: Vec<u8>,
}

/// Make a template (reviewers and owners): of a workspace's files as they are now
/// (JSON), or of a `.zip` (`multipart/form-data`: `name`, `description`, `file`).
#[utoipa::path(post, path = "/api/v1/projects/{project}/templates", tag = "review",
    params(("project" = String, Path, description = "Project id")),
    request_body(content(
        (NewTemplate = "application/json"),
        (TemplateForm = "multipart/form-data"),
    )),
    responses(
        (status = 201, description = "Made", body = TemplateDto),
        (status = 400, description = "An invalid name or form", body = ErrorBody),
        (status = 403, description = "Only reviewers and owners make templates", body = ErrorBody),
        (status = 404, description = "No such workspace", body = ErrorBody),
        (status = 409, description = "The project has a template of that name", body = ErrorBody),
        (status = 413, description = "The archive holds more than a workspace may", body = ErrorBody),
        (status = 422, description = "The archive was refused; `details` lists every problem", body = ErrorBody),
    ))]
pub async fn create_template(
    State(state): State<AppState>,
    access: ProjectAccess<Reviewer>,
    request: axum::extract::Request,
) -> Result<(StatusCode, Json<TemplateDto>), ApiError> {
    let (name, description, files) = if is_multipart(&request) {
        let (mut text, files) = read_zip_form(&state, request, &["name", "description"]).await?;
        (
            text.remove("name").unwrap_or_default(),
            text.remove("description").unwrap_or_default(),
            use_case::TemplateFiles::Files(files),
        )
    } else {
        let request = limited(request, 64 << 10);
        let ApiJson(t) = ApiJson::<NewTemplate>::from_request(request, &state).await?;
        (
            t.name,
            t.description,
            use_case::TemplateFiles::Workspace(t.workspace_id),
        )
    };
    let made =
        use_case::create_template(&state, &access.member, &name, &description, files).await?;
    Ok((StatusCode::CREATED, Json(template_dto(made))))
}

/// Delete a template (reviewers and owners); workspaces made from it keep their files.
#[utoipa::path(delete, path = "/api/v1/projects/{project}/templates/{template}", tag = "review",
    params(("project" = String, Path, description = "Project id"), ("template" = String, Path, description = "Template id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "Only reviewers and owners delete templates", body = ErrorBody),
        (status = 404, description = "No such template", body = ErrorBody),
    ))]
pub async fn delete_template(
    State(state): State<AppState>,
    access: ProjectAccess<Reviewer>,
    ApiPath(path): ApiPath<(String, String)>,
) -> Result<StatusCode, ApiError> {
    use_case::delete_template(&state, &access.member, &path.1).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// What a submission's diff is against.
#[derive(Debug, Serialize, ToSchema)]
pub struct BaseDto {
    /// `template`, `submission` or `empty`.
    pub kind: String,
    /// The submission's number, for `submission`.
    #[schema(required = true)]
    pub seq: Option<i64>,
}

fn base_dto(s: &Submission) -> BaseDto {
    match use_case::base_of(s) {
        Base::Empty => BaseDto {
            kind: "empty".into(),
            seq: None,
        },
        Base::Template => BaseDto {
            kind: "template".into(),
            seq: None,
        },
        Base::Submission(seq) => BaseDto {
            kind: "submission".into(),
            seq: Some(seq),
        },
    }
}

/// A workspace as submitted for review, with its last review.
#[derive(Debug, Serialize, ToSchema)]
pub struct SubmissionDto {
    pub id: String,
    pub project_id: String,
    pub workspace_id: String,
    /// The workspace's name.
    pub workspace: String,
    pub learner_id: String,
    /// The learner's name.
    #[schema(required = true)]
    pub learner: Option<String>,
    /// Its number in its workspace, from 1.
    pub seq: i64,
    pub message: String,
    /// `submitted`, `changes_requested`, `approved`, `superseded` or `withdrawn`.
    pub status: String,
    #[schema(required = true)]
    pub template_id: Option<String>,
    #[schema(required = true)]
    pub template: Option<String>,
    pub base: BaseDto,
    pub files: i64,
    pub bytes: i64,
    pub created_at: String,
    /// Who reviewed it last.
    #[schema(required = true)]
    pub reviewed_by: Option<String>,
    #[schema(required = true)]
    pub reviewed_at: Option<String>,
    /// The last review's summary.
    #[schema(required = true)]
    pub summary: Option<String>,
    /// Whether it may take a verdict: not superseded or withdrawn, and the newest of its
    /// workspace's that is not withdrawn.
    pub live: bool,
}

fn submission_dto(s: Submission) -> SubmissionDto {
    SubmissionDto {
        base: base_dto(&s),
        id: s.id,
        project_id: s.project_id,
        workspace_id: s.workspace_id,
        workspace: s.workspace,
        learner_id: s.learner_id,
        learner: s.learner,
        seq: s.seq,
        message: s.message,
        status: s.status,
        template_id: s.template_id,
        template: s.template,
        files: s.files,
        bytes: s.bytes,
        created_at: timestamp(s.created_at),
        reviewed_by: s.reviewed_by,
        reviewed_at: s.reviewed_at.map(timestamp),
        summary: s.summary,
        live: s.live != 0,
    }
}

/// A submission's message.
#[derive(Debug, Deserialize, ToSchema)]
pub struct NewSubmission {
    #[serde(default)]
    pub message: String,
}

/// Submit your workspace for review, as its files are now.
#[utoipa::path(post, path = "/api/v1/projects/{project}/workspaces/{workspace}/submissions", tag = "review",
    params(("project" = String, Path, description = "Project id"), ("workspace" = String, Path, description = "Workspace id")),
    request_body = NewSubmission,
    responses(
        (status = 201, description = "Submitted", body = SubmissionDto),
        (status = 400, description = "The workspace has no files", body = ErrorBody),
        (status = 404, description = "No such workspace, or not yours", body = ErrorBody),
        (status = 413, description = "The message is too long", body = ErrorBody),
    ))]
pub async fn submit(
    State(state): State<AppState>,
    access: ProjectAccess<Viewer>,
    ApiPath(path): ApiPath<(String, String)>,
    ApiJson(request): ApiJson<NewSubmission>,
) -> Result<(StatusCode, Json<SubmissionDto>), ApiError> {
    let made = use_case::submit(&state, &access.member, &path.1, &request.message).await?;
    Ok((StatusCode::CREATED, Json(submission_dto(made))))
}

/// A workspace's submissions, newest first.
#[utoipa::path(get, path = "/api/v1/projects/{project}/workspaces/{workspace}/submissions", tag = "review",
    params(("project" = String, Path, description = "Project id"), ("workspace" = String, Path, description = "Workspace id")),
    responses(
        (status = 200, description = "Its submissions", body = [SubmissionDto]),
        (status = 404, description = "No such workspace, or not yours to read", body = ErrorBody),
    ))]
pub async fn workspace_submissions(
    State(state): State<AppState>,
    access: ProjectAccess<Viewer>,
    ApiPath(path): ApiPath<(String, String)>,
) -> Result<Json<Vec<SubmissionDto>>, ApiError> {
    let all = use_case::workspace_submissions(&state, &access.member, &path.1).await?;
    Ok(Json(all.into_iter().map(submission_dto).collect()))
}

/// Which submissions to list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SubmissionQuery {
    /// Only those of this status.
    #[param(pattern = "^(submitted|changes_requested|approved|superseded|withdrawn)?$")]
    pub status: Option<String>,
    /// Only those of this learner (a user id).
    pub learner: Option<String>,
    /// Only those of workspaces made from this template.
    pub template: Option<String>,
}

/// Submissions, newest first: every one of the project's for reviewers and owners, your
/// own for anyone else.
#[utoipa::path(get, path = "/api/v1/projects/{project}/submissions", tag = "review",
    params(("project" = String, Path, description = "Project id"), SubmissionQuery),
    responses(
        (status = 200, description = "The submissions", body = [SubmissionDto]),
        (status = 400, description = "An unknown status", body = ErrorBody),
        (status = 404, description = "No such project, or not a member", body = ErrorBody),
    ))]
pub async fn list_submissions(
    State(state): State<AppState>,
    access: ProjectAccess<Viewer>,
    ApiQuery(query): ApiQuery<SubmissionQuery>,
) -> Result<Json<Vec<SubmissionDto>>, ApiError> {
    let filter = SubmissionFilter {
        status: query.status.as_deref().filter(|s| !s.is_empty()),
        learner: query.learner.as_deref().filter(|s| !s.is_empty()),
        template: query.template.as_deref().filter(|s| !s.is_empty()),
        workspace: None,
    };
    let all = use_case::list_submissions(&state, &access.member, filter).await?;
    Ok(Json(all.into_iter().map(submission_dto).collect()))
}

/// A submission: yours, or, for reviewers and owners, anyone's.
#[utoipa::path(get, path = "/api/v1/projects/{project}/submissions/{submission}", tag = "review",
    params(("project" = String, Path, description = "Project id"), ("submission" = String, Path, description = "Submission id")),
    responses(
        (status = 200, description = "The submission", body = SubmissionDto),
        (status = 404, description = "No such submission, or not yours to see", body = ErrorBody),
    ))]
pub async fn get_submission(
    State(state): State<AppState>,
    access: ProjectAccess<Viewer>,
    ApiPath(path): ApiPath<(String, String)>,
) -> Result<Json<SubmissionDto>, ApiError> {
    let found = use_case::submission(&state, &access.member, &path.1).await?;
    Ok(Json(submission_dto(found)))
}

/// Withdraw your submission while it waits for review.
#[utoipa::path(post, path = "/api/v1/projects/{project}/submissions/{submission}/withdraw", tag = "review",
    params(("project" = String, Path, description = "Project id"), ("submission" = String, Path, description = "Submission id")),
    responses(
        (status = 200, description = "Withdrawn", body = SubmissionDto),
        (status = 403, description = "Not your submission", body = ErrorBody),
        (status = 404, description = "No such submission, or not yours to see", body = ErrorBody),
        (status = 409, description = "It is no longer waiting for review", body = ErrorBody),
    ))]
pub async fn withdraw(
    State(state): State<AppState>,
    access: ProjectAccess<Viewer>,
    ApiPath(path): ApiPath<(String, String)>,
) -> Result<Json<SubmissionDto>, ApiError> {
    let done = use_case::withdraw(&state, &access.member, &path.1).await?;
    Ok(Json(submission_dto(done)))
}

/// A verdict.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum VerdictDto {
    Approved,
    ChangesRequested,
}

/// A review.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ReviewRequest {
    pub verdict: VerdictDto,
    #[serde(default)]
    pub summary: String,
}

/// Approve a submission or ask for changes (reviewers and owners, not on their own); its
/// learner is notified.
#[utoipa::path(post, path = "/api/v1/projects/{project}/submissions/{submission}/review", tag = "review",
    params(("project" = String, Path, description = "Project id"), ("submission" = String, Path, description = "Submission id")),
    request_body = ReviewRequest,
    responses(
        (status = 200, description = "Reviewed", body = SubmissionDto),
        (status = 403, description = "Not a reviewer, or your own submission", body = ErrorBody),
        (status = 404, description = "No such submission, or not yours to see", body = ErrorBody),
        (status = 409, description = "Superseded, withdrawn, or not the newest", body = ErrorBody),
    ))]
pub async fn review(
    State(state): State<AppState>,
    access: ProjectAccess<Reviewer>,
    ApiPath(path): ApiPath<(String, String)>,
    ApiJson(request): ApiJson<ReviewRequest>,
) -> Result<Json<SubmissionDto>, ApiError> {
    let verdict = match request.verdict {
        VerdictDto::Approved => Verdict::Approved,
        VerdictDto::ChangesRequested => Verdict::ChangesRequested,
    };
    let done = use_case::review(&state, &access.member, &path.1, verdict, &request.summary).await?;
    Ok(Json(submission_dto(done)))
}

/// A line of a file's diff.
#[derive(Debug, Serialize, ToSchema)]
pub struct DiffLineDto {
    /// `context`, `added` or `removed`.
    pub kind: String,
    /// Its number in the base, from 1.
    #[schema(required = true)]
    pub old: Option<usize>,
    /// Its number in the submission, from 1.
    #[schema(required = true)]
    pub new: Option<usize>,
    pub text: String,
}

/// One file's diff.
#[derive(Debug, Serialize, ToSchema)]
pub struct FileDiffDto {
    /// Its path in the submission; a removed file's path in the base.
    pub path: String,
    /// Its path in the base, for renamed and removed files.
    #[schema(required = true)]
    pub old_path: Option<String>,
    /// `added`, `removed`, `modified`, `renamed` or `unchanged`.
    pub status: String,
    /// Binary or too large to show: sizes only.
    pub binary: bool,
    #[schema(required = true)]
    pub old_size: Option<i64>,
    #[schema(required = true)]
    pub new_size: Option<i64>,
    pub additions: usize,
    pub deletions: usize,
    /// The whole file with its changes marked; none when binary.
    #[schema(required = true)]
    pub lines: Option<Vec<DiffLineDto>>,
}

/// A submission's diff against its base.
#[derive(Debug, Serialize, ToSchema)]
pub struct DiffDto {
    pub base: BaseDto,
    pub files: Vec<FileDiffDto>,
}

/// The submission's diff, per file, against the previous submission of its workspace or,
/// for the first, the template it started from.
#[utoipa::path(get, path = "/api/v1/projects/{project}/submissions/{submission}/diff", tag = "review",
    params(("project" = String, Path, description = "Project id"), ("submission" = String, Path, description = "Submission id")),
    responses(
        (status = 200, description = "The diff", body = DiffDto),
        (status = 404, description = "No such submission, or not yours to see", body = ErrorBody),
    ))]
pub async fn submission_diff(
    State(state): State<AppState>,
    access: ProjectAccess<Viewer>,
    ApiPath(path): ApiPath<(String, String)>,
) -> Result<Json<DiffDto>, ApiError> {
    let (submission, files) = use_case::diff(&state, &access.member, &path.1).await?;
    let files = files
        .into_iter()
        .map(|f: diff::FileDiff| FileDiffDto {
            path: f.path,
            old_path: f.old_path,
            status: f.status.as_str().to_owned(),
            binary: f.binary,
            old_size: f.old_size,
            new_size: f.new_size,
            additions: f.additions,
            deletions: f.deletions,
            lines: f.lines.map(|lines| {
                lines
                    .into_iter()
                    .map(|l| DiffLineDto {
                        kind: l.kind.to_owned(),
                        old: l.old,
                        new: l.new,
                        text: l.text,
                    })
                    .collect()
            }),
        })
        .collect();
    Ok(Json(DiffDto {
        base: base_dto(&submission),
        files,
    }))
}

/// A comment of a thread.
#[derive(Debug, Serialize, ToSchema)]
pub struct CommentDto {
    pub id: String,
    #[schema(required = true)]
    pub author_id: Option<String>,
    /// Its author's name.
    #[schema(required = true)]
    pub author: Option<String>,
    pub body: String,
    pub created_at: String,
}

/// A thread of comments on lines of a submission.
#[derive(Debug, Serialize, ToSchema)]
pub struct ThreadDto {
    pub id: String,
    /// The submission it was made on, and its number.
    pub submission_id: String,
    pub seq: i64,
    pub path: String,
    /// `old` (the base) or `new` (the submission).
    pub side: String,
    /// Its lines on the submission it is shown on, from 1.
    pub line_start: i64,
    pub line_end: i64,
    /// Made on an earlier submission, its lines unchanged in this one.
    pub carried: bool,
    pub resolved: bool,
    /// Oldest first: the first opened the thread.
    pub comments: Vec<CommentDto>,
}

fn thread_dto(v: ThreadView) -> ThreadDto {
    ThreadDto {
        id: v.thread.id,
        submission_id: v.thread.submission_id,
        seq: v.thread.seq,
        path: v.thread.path,
        side: v.thread.side,
        line_start: v.line_start,
        line_end: v.line_end,
        carried: v.carried,
        resolved: v.thread.resolved != 0,
        comments: v
            .comments
            .into_iter()
            .map(|c| CommentDto {
                id: c.id,
                author_id: c.author_id,
                author: c.author,
                body: c.body,
                created_at: timestamp(c.created_at),
            })
            .collect(),
    }
}

/// The threads shown on a submission: its own, and its workspace's earlier ones whose
/// lines are unchanged in it (`carried`, at their lines in it).
#[utoipa::path(get, path = "/api/v1/projects/{project}/submissions/{submission}/comments", tag = "review",
    params(("project" = String, Path, description = "Project id"), ("submission" = String, Path, description = "Submission id")),
    responses(
        (status = 200, description = "The threads", body = [ThreadDto]),
        (status = 404, description = "No such submission, or not yours to see", body = ErrorBody),
    ))]
pub async fn list_threads(
    State(state): State<AppState>,
    access: ProjectAccess<Viewer>,
    ApiPath(path): ApiPath<(String, String)>,
) -> Result<Json<Vec<ThreadDto>>, ApiError> {
    let (_, views) = use_case::threads(&state, &access.member, &path.1).await?;
    Ok(Json(views.into_iter().map(thread_dto).collect()))
}

/// A new thread: where, and its first comment.
#[derive(Debug, Deserialize, ToSchema)]
pub struct NewThreadRequest {
    pub path: String,
    /// `old` (the base) or `new` (the submission).
    pub side: String,
    pub line_start: i64,
    pub line_end: i64,
    pub body: String,
}

/// Comment on lines of a submission: its reviewers and its learner.
#[utoipa::path(post, path = "/api/v1/projects/{project}/submissions/{submission}/comments", tag = "review",
    params(("project" = String, Path, description = "Project id"), ("submission" = String, Path, description = "Submission id")),
    request_body = NewThreadRequest,
    responses(
        (status = 201, description = "The new thread", body = ThreadDto),
        (status = 400, description = "An empty comment", body = ErrorBody),
        (status = 404, description = "No such submission, or not yours to see", body = ErrorBody),
        (status = 413, description = "The comment is too long", body = ErrorBody),
        (status = 422, description = "No such lines on that side", body = ErrorBody),
    ))]
pub async fn create_thread(
    State(state): State<AppState>,
    access: ProjectAccess<Viewer>,
    ApiPath(path): ApiPath<(String, String)>,
    ApiJson(request): ApiJson<NewThreadRequest>,
) -> Result<(StatusCode, Json<ThreadDto>), ApiError> {
    let view = use_case::comment(
        &state,
        &access.member,
        &path.1,
        NewThread {
            path: request.path,
            side: request.side,
            line_start: request.line_start,
            line_end: request.line_end,
            body: request.body,
        },
    )
    .await?;
    Ok((StatusCode::CREATED, Json(thread_dto(view))))
}

/// A reply.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ReplyRequest {
    pub body: String,
}

/// Reply to a thread.
#[utoipa::path(post, path = "/api/v1/projects/{project}/comments/{thread}/replies", tag = "review",
    params(("project" = String, Path, description = "Project id"), ("thread" = String, Path, description = "Thread id")),
    request_body = ReplyRequest,
    responses(
        (status = 201, description = "The thread with the reply", body = ThreadDto),
        (status = 400, description = "An empty reply", body = ErrorBody),
        (status = 404, description = "No such thread, or not yours to see", body = ErrorBody),
    ))]
pub async fn reply(
    State(state): State<AppState>,
    access: ProjectAccess<Viewer>,
    ApiPath(path): ApiPath<(String, String)>,
    ApiJson(request): ApiJson<ReplyRequest>,
) -> Result<(StatusCode, Json<ThreadDto>), ApiError> {
    let view = use_case::reply(&state, &access.member, &path.1, &request.body).await?;
    Ok((StatusCode::CREATED, Json(thread_dto(view))))
}

/// Whether a thread is resolved.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ResolveRequest {
    pub resolved: bool,
}

/// Mark a thread resolved, or not.
#[utoipa::path(post, path = "/api/v1/projects/{project}/comments/{thread}/resolve", tag = "review",
    params(("project" = String, Path, description = "Project id"), ("thread" = String, Path, description = "Thread id")),
    request_body = ResolveRequest,
    responses(
        (status = 200, description = "The thread", body = ThreadDto),
        (status = 404, description = "No such thread, or not yours to see", body = ErrorBody),
    ))]
pub async fn resolve(
    State(state): State<AppState>,
    access: ProjectAccess<Viewer>,
    ApiPath(path): ApiPath<(String, String)>,
    ApiJson(request): ApiJson<ResolveRequest>,
) -> Result<Json<ThreadDto>, ApiError> {
    let view = use_case::resolve(&state, &access.member, &path.1, request.resolved).await?;
    Ok(Json(thread_dto(view)))
}

/// A thread with where its first line is in the workspace's file now.
#[derive(Debug, Serialize, ToSchema)]
pub struct PlacedThreadDto {
    #[serde(flatten)]
    pub thread: ThreadDto,
    /// None when its lines changed since, or the file is gone.
    #[schema(required = true)]
    pub current_line: Option<i64>,
}

/// A workspace's review, as its IDE shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct WorkspaceReviewDto {
    /// Its newest submission not withdrawn.
    #[schema(required = true)]
    pub submission: Option<SubmissionDto>,
    pub threads: Vec<PlacedThreadDto>,
}

/// The newest submission of a workspace and its threads, each placed in the workspace's
/// files as they are now.
#[utoipa::path(get, path = "/api/v1/projects/{project}/workspaces/{workspace}/review", tag = "review",
    params(("project" = String, Path, description = "Project id"), ("workspace" = String, Path, description = "Workspace id")),
    responses(
        (status = 200, description = "Its review", body = WorkspaceReviewDto),
        (status = 404, description = "No such workspace, or not yours to read", body = ErrorBody),
    ))]
pub async fn workspace_review(
    State(state): State<AppState>,
    access: ProjectAccess<Viewer>,
    ApiPath(path): ApiPath<(String, String)>,
) -> Result<Json<WorkspaceReviewDto>, ApiError> {
    let found = use_case::workspace_review(&state, &access.member, &path.1).await?;
    Ok(Json(match found {
        None => WorkspaceReviewDto {
            submission: None,
            threads: Vec::new(),
        },
        Some((submission, threads)) => WorkspaceReviewDto {
            submission: Some(submission_dto(submission)),
            threads: threads
                .into_iter()
                .map(|(view, line)| PlacedThreadDto {
                    thread: thread_dto(view),
                    current_line: line,
                })
                .collect(),
        },
    }))
}
