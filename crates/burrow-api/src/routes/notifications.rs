//! Notifications: what Burrow has to tell a user, such as an app that stopped after
//! crashing or a submission that was reviewed, each read or not.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use crate::dto::timestamp;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiPath, Session};
use crate::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub struct NotificationDto {
    pub id: String,
    /// `app_crashed`, `submission_made` or `submission_reviewed`.
    pub kind: String,
    /// The project it is about, if any.
    #[schema(required = true)]
    pub project_id: Option<String>,
    /// The app it is about, if any.
    #[schema(required = true)]
    pub app_id: Option<String>,
    /// Where in the dashboard it leads, such as `/projects/{p}/submissions/{s}`.
    #[schema(required = true)]
    pub link: Option<String>,
    pub message: String,
    pub created_at: String,
    /// Marked read.
    pub read: bool,
}

/// My notifications, newest first (the last 100).
#[utoipa::path(get, path = "/api/v1/notifications", tag = "notifications",
    responses(
        (status = 200, description = "My notifications", body = [NotificationDto]),
        (status = 401, description = "Not signed in", body = ErrorBody),
    ))]
pub async fn list_notifications(
    State(state): State<AppState>,
    session: Session,
) -> Result<Json<Vec<NotificationDto>>, ApiError> {
    let all = state.store.notifications(&session.user.id).await?;
    Ok(Json(
        all.into_iter()
            .map(|n| NotificationDto {
                id: n.id,
                kind: n.kind,
                project_id: n.project_id,
                app_id: n.app_id,
                link: n.link,
                message: n.message,
                created_at: timestamp(n.created_at),
                read: n.read_at.is_some(),
            })
            .collect(),
    ))
}

/// Mark one of my notifications read.
#[utoipa::path(post, path = "/api/v1/notifications/{notification}/read", tag = "notifications",
    params(("notification" = String, Path, description = "Notification id")),
    responses(
        (status = 204, description = "Marked read"),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 404, description = "No such notification of yours", body = ErrorBody),
    ))]
pub async fn mark_read(
    State(state): State<AppState>,
    session: Session,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    match state
        .store
        .mark_notification_read(&session.user.id, &id)
        .await
    {
        Ok(()) => Ok(StatusCode::NO_CONTENT),
        Err(burrow_store::StoreError::NotFound) => Err(ApiError::not_found(
            "notification_not_found",
            "you have no such notification",
        )),
        Err(e) => Err(e.into()),
    }
}

/// Mark all my notifications read.
#[utoipa::path(post, path = "/api/v1/notifications/read", tag = "notifications",
    responses(
        (status = 204, description = "Marked read"),
        (status = 401, description = "Not signed in", body = ErrorBody),
    ))]
pub async fn mark_all_read(
    State(state): State<AppState>,
    session: Session,
) -> Result<StatusCode, ApiError> {
    state
        .store
        .mark_notifications_read(&session.user.id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
