//! Projects: create, list mine, get, rename, delete.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use burrow_core::{ProjectName, Role};

use crate::dto::{CreateProjectRequest, ProjectDto, UpdateProjectRequest};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiJson, Owner, ProjectAccess, Session, Viewer};
use crate::AppState;

/// The projects the caller is a member of, newest first.
#[utoipa::path(get, path = "/api/v1/projects", tag = "projects",
    responses(
        (status = 200, description = "My projects", body = [ProjectDto]),
        (status = 401, description = "Not signed in", body = ErrorBody),
    ))]
pub async fn list_projects(
    State(state): State<AppState>,
    session: Session,
) -> Result<Json<Vec<ProjectDto>>, ApiError> {
    let projects = state.store.projects_for_user(&session.user.id).await?;
    Ok(Json(projects.into_iter().map(ProjectDto::from).collect()))
}

/// Create a project; the caller becomes its owner.
#[utoipa::path(post, path = "/api/v1/projects", tag = "projects",
    request_body = CreateProjectRequest,
    responses(
        (status = 201, description = "Created", body = ProjectDto),
        (status = 400, description = "Invalid name", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
    ))]
pub async fn create_project(
    State(state): State<AppState>,
    session: Session,
    ApiJson(req): ApiJson<CreateProjectRequest>,
) -> Result<(StatusCode, Json<ProjectDto>), ApiError> {
    let name = ProjectName::parse(&req.name)?;
    let project = state
        .store
        .create_project(name.as_str(), &session.user.id)
        .await?;
    tracing::info!(project.id = %project.id, user.id = %session.user.id, "Created project");
    Ok((
        StatusCode::CREATED,
        Json(ProjectDto::new(project, Role::Owner)),
    ))
}

/// One project, with the caller's role in it.
#[utoipa::path(get, path = "/api/v1/projects/{project}", tag = "projects",
    params(("project" = String, Path, description = "Project id")),
    responses(
        (status = 200, description = "The project", body = ProjectDto),
        (status = 404, description = "No such project, or not a member", body = ErrorBody),
    ))]
pub async fn get_project(access: ProjectAccess<Viewer>) -> Json<ProjectDto> {
    Json(ProjectDto::new(access.member.project, access.member.role))
}

/// Rename a project (owners only).
#[utoipa::path(patch, path = "/api/v1/projects/{project}", tag = "projects",
    params(("project" = String, Path, description = "Project id")),
    request_body = UpdateProjectRequest,
    responses(
        (status = 200, description = "Renamed", body = ProjectDto),
        (status = 400, description = "Invalid name", body = ErrorBody),
        (status = 403, description = "Not an owner", body = ErrorBody),
        (status = 404, description = "No such project, or not a member", body = ErrorBody),
    ))]
pub async fn update_project(
    State(state): State<AppState>,
    access: ProjectAccess<Owner>,
    ApiJson(req): ApiJson<UpdateProjectRequest>,
) -> Result<Json<ProjectDto>, ApiError> {
    let name = ProjectName::parse(&req.name)?;
    let project = state
        .store
        .rename_project(&access.project.id, name.as_str())
        .await?;
    Ok(Json(ProjectDto::new(project, access.role)))
}

/// Delete a project and everything in it (owners only).
#[utoipa::path(delete, path = "/api/v1/projects/{project}", tag = "projects",
    params(("project" = String, Path, description = "Project id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "Not an owner", body = ErrorBody),
        (status = 404, description = "No such project, or not a member", body = ErrorBody),
    ))]
pub async fn delete_project(
    State(state): State<AppState>,
    access: ProjectAccess<Owner>,
) -> Result<StatusCode, ApiError> {
    burrow_service::apps::delete_project(&state, &access).await?;
    tracing::info!(project.id = %access.project.id, user.id = %access.user.id, "Deleted project");
    Ok(StatusCode::NO_CONTENT)
}
