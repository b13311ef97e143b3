//! Project members: list, add by email, change role, remove.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use burrow_core::Email;
use burrow_store::StoreError;

use crate::dto::{AddMemberRequest, MemberDto, UpdateMemberRequest};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiJson, ApiPath, Owner, ProjectAccess, Viewer};
use crate::AppState;

fn member_not_found() -> ApiError {
    ApiError::not_found(
        "member_not_found",
        "that user is not a member of this project",
    )
}

/// The project's members.
#[utoipa::path(get, path = "/api/v1/projects/{project}/members", tag = "members",
    params(("project" = String, Path, description = "Project id")),
    responses(
        (status = 200, description = "Members, in the order they joined", body = [MemberDto]),
        (status = 404, description = "No such project, or not a member", body = ErrorBody),
    ))]
pub async fn list_members(
    State(state): State<AppState>,
    access: ProjectAccess<Viewer>,
) -> Result<Json<Vec<MemberDto>>, ApiError> {
    let members = state.store.list_members(&access.project.id).await?;
    Ok(Json(members.into_iter().map(MemberDto::from).collect()))
}

/// Add an existing user to the project by email (owners only).
#[utoipa::path(post, path = "/api/v1/projects/{project}/members", tag = "members",
    params(("project" = String, Path, description = "Project id")),
    request_body = AddMemberRequest,
    responses(
        (status = 201, description = "Added", body = MemberDto),
        (status = 403, description = "Not an owner", body = ErrorBody),
        (status = 404, description = "No such project, or no user with that email", body = ErrorBody),
        (status = 409, description = "Already a member", body = ErrorBody),
    ))]
pub async fn add_member(
    State(state): State<AppState>,
    access: ProjectAccess<Owner>,
    ApiJson(req): ApiJson<AddMemberRequest>,
) -> Result<(StatusCode, Json<MemberDto>), ApiError> {
    let email = Email::parse(&req.email)?;
    let user = match state.store.user_by_email(email.as_str()).await {
        Ok(user) => user,
        Err(StoreError::NotFound) => {
            return Err(ApiError::not_found(
                "user_not_found",
                format!("no account has the email {email}: ask them to register first"),
            ))
        }
        Err(e) => return Err(e.into()),
    };
    let member = state
        .store
        .add_member(&access.project.id, &user.id, req.role.into())
        .await
        .map_err(|e| match e {
            StoreError::Conflict => ApiError::conflict(
                "already_member",
                format!("{email} is already a member: change their role instead"),
            ),
            other => other.into(),
        })?;
    tracing::info!(project.id = %access.project.id, member.id = %user.id, role = %member.role, "Added member");
    Ok((StatusCode::CREATED, Json(member.into())))
}

/// Change a member's role (owners only). The last owner cannot be demoted.
#[utoipa::path(patch, path = "/api/v1/projects/{project}/members/{user}", tag = "members",
    params(
        ("project" = String, Path, description = "Project id"),
        ("user" = String, Path, description = "The member's user id"),
    ),
    request_body = UpdateMemberRequest,
    responses(
        (status = 200, description = "Role changed", body = MemberDto),
        (status = 403, description = "Not an owner", body = ErrorBody),
        (status = 404, description = "No such project or member", body = ErrorBody),
        (status = 409, description = "This would leave the project without an owner", body = ErrorBody),
    ))]
pub async fn update_member(
    State(state): State<AppState>,
    access: ProjectAccess<Owner>,
    ApiPath(path): ApiPath<(String, String)>,
    ApiJson(req): ApiJson<UpdateMemberRequest>,
) -> Result<Json<MemberDto>, ApiError> {
    let (_, user_id) = path;
    let member = state
        .store
        .set_member_role(&access.project.id, &user_id, req.role.into())
        .await
        .map_err(|e| match e {
            StoreError::NotFound => member_not_found(),
            other => other.into(),
        })?;
    Ok(Json(member.into()))
}

/// Remove a member (owners only; anyone may remove themselves). The last owner cannot be removed.
#[utoipa::path(delete, path = "/api/v1/projects/{project}/members/{user}", tag = "members",
    params(
        ("project" = String, Path, description = "Project id"),
        ("user" = String, Path, description = "The member's user id"),
    ),
    responses(
        (status = 204, description = "Removed"),
        (status = 403, description = "Not an owner", body = ErrorBody),
        (status = 404, description = "No such project or member", body = ErrorBody),
        (status = 409, description = "This is the last owner", body = ErrorBody),
    ))]
pub async fn remove_member(
    State(state): State<AppState>,
    access: ProjectAccess<Viewer>,
    ApiPath(path): ApiPath<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let (_, user_id) = path;
    // Leaving a project needs no role; removing someone else needs ownership.
    if user_id != access.user.id && !access.role.allows(burrow_core::Role::Owner) {
        return Err(ApiError::forbidden(
            "forbidden",
            format!(
                "removing other members needs the owner role, and you are {}: ask an owner",
                access.role
            ),
        ));
    }
    state
        .store
        .remove_member(&access.project.id, &user_id)
        .await
        .map_err(|e| match e {
            StoreError::NotFound => member_not_found(),
            other => other.into(),
        })?;
    tracing::info!(project.id = %access.project.id, member.id = %user_id, "Removed member");
    Ok(StatusCode::NO_CONTENT)
}
