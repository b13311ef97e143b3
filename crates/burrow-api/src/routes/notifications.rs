//! Notifications: what Burrow has to tell a user, such as an app that stopped after crashing.

use axum::extract::State;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use crate::dto::timestamp;
use crate::error::{ApiError, ErrorBody};
use crate::extract::Session;
use crate::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub struct NotificationDto {
    pub id: String,
    /// The app it is about, if any.
    pub app_id: Option<String>,
    pub message: String,
    pub created_at: String,
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
                app_id: n.app_id,
                message: n.message,
                created_at: timestamp(n.created_at),
            })
            .collect(),
    ))
}
