//! Liveness and readiness probes.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;

use crate::dto::HealthDto;
use crate::AppState;

/// Liveness: the process is up and serving.
#[utoipa::path(get, path = "/healthz", tag = "health", security(()),
    responses((status = 200, description = "Alive", body = HealthDto)))]
pub async fn healthz() -> Json<HealthDto> {
    Json(HealthDto {
        status: "ok".into(),
    })
}

/// Readiness: the database answers. 503 while it does not.
#[utoipa::path(get, path = "/readyz", tag = "health", security(()),
    responses(
        (status = 200, description = "Ready", body = HealthDto),
        (status = 503, description = "The database is unreachable", body = HealthDto),
    ))]
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<HealthDto>) {
    match tokio::time::timeout(std::time::Duration::from_secs(3), state.store.ping()).await {
        Ok(Ok(())) => (
            StatusCode::OK,
            Json(HealthDto {
                status: "ok".into(),
            }),
        ),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "Not ready");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(HealthDto {
                    status: "database unavailable".into(),
                }),
            )
        }
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(HealthDto {
                status: "database did not answer within 3 seconds".into(),
            }),
        ),
    }
}
