//! Instance administration of users.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;

use crate::dto::{CreateUserRequest, UserDto};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{Admin, ApiJson};
use crate::AppState;
use burrow_service::accounts::create_account;

/// List every user (admins only).
#[utoipa::path(get, path = "/api/v1/users", tag = "users",
    responses(
        (status = 200, description = "All users, oldest first", body = [UserDto]),
        (status = 403, description = "Not an admin", body = ErrorBody),
    ))]
pub async fn list_users(
    State(state): State<AppState>,
    _admin: Admin,
) -> Result<Json<Vec<UserDto>>, ApiError> {
    let users = state.store.list_users().await?;
    Ok(Json(users.into_iter().map(UserDto::from).collect()))
}

/// Create a user (admins only). Works whether or not registration is open.
#[utoipa::path(post, path = "/api/v1/users", tag = "users",
    request_body = CreateUserRequest,
    responses(
        (status = 201, description = "Created", body = UserDto),
        (status = 400, description = "Invalid email, name or password", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 409, description = "The email is taken", body = ErrorBody),
    ))]
pub async fn create_user(
    State(state): State<AppState>,
    Admin(admin): Admin,
    ApiJson(req): ApiJson<CreateUserRequest>,
) -> Result<(StatusCode, Json<UserDto>), ApiError> {
    let hashing = state.clone();
    let user = create_account(
        &state.store,
        &req.email,
        &req.name,
        &req.password,
        req.is_admin,
        |pw| async move {
            hashing
                .with_hashing(move || burrow_core::password::hash_password(&pw))
                .await
        },
    )
    .await?;
    tracing::info!(user.id = %user.id, admin.id = %admin.id, "Admin created user");
    Ok((StatusCode::CREATED, Json(user.into())))
}
