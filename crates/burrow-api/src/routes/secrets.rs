//! Apps' secrets: list names, set and delete; values are write-only.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use burrow_service::apps::secrets as use_case;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiJson, ApiPath, Editor, ProjectAccess};
use crate::AppState;

/// A secret as editors see it: its name and when it was last set, never its value.
#[derive(Debug, Serialize, ToSchema)]
pub struct SecretDto {
    pub name: String,
    /// Milliseconds since the epoch.
    pub updated_at: i64,
    /// Who set it last; absent once that account is gone.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated_by: Option<String>,
}

impl From<use_case::SecretInfo> for SecretDto {
    fn from(s: use_case::SecretInfo) -> Self {
        Self {
            name: s.name,
            updated_at: s.updated_at,
            updated_by: s.updated_by,
        }
    }
}

/// A secret's new value.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutSecretRequest {
    /// Up to 32 KiB of text, without NUL.
    #[schema(min_length = 1, max_length = 32768, pattern = r"^[^\x00]+$")]
    pub value: String,
}

/// The app's secrets, by name, without their values. Editors and owners only.
#[utoipa::path(get, path = "/api/v1/projects/{project}/apps/{app}/secrets", tag = "apps",
    params(("project" = String, Path, description = "Project id"), ("app" = String, Path, description = "App id")),
    responses(
        (status = 200, description = "The secrets' names", body = [SecretDto]),
        (status = 403, description = "Viewers cannot see secrets", body = ErrorBody),
        (status = 404, description = "No such app or project, or not a member", body = ErrorBody),
    ))]
pub async fn list_secrets(
    State(state): State<AppState>,
    access: ProjectAccess<Editor>,
    ApiPath(path): ApiPath<(String, String)>,
) -> Result<Json<Vec<SecretDto>>, ApiError> {
    let secrets = use_case::list(&state, &access, &path.1).await?;
    Ok(Json(secrets.into_iter().map(Into::into).collect()))
}

/// Set a secret. The app reads it as `st.secrets["NAME"]` from `.streamlit/secrets.toml`;
/// a running app is switched to a sandbox with the new value within seconds, without a
/// gap. The value is sealed at rest and never returned.
#[utoipa::path(put, path = "/api/v1/projects/{project}/apps/{app}/secrets/{name}", tag = "apps",
    params(("project" = String, Path, description = "Project id"), ("app" = String, Path, description = "App id"),
        ("name" = String, Path, description = "Letters, digits and `_`, not a digit first, at most 64", pattern = r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")),
    request_body = PutSecretRequest,
    responses(
        (status = 201, description = "Created"),
        (status = 204, description = "Replaced"),
        (status = 400, description = "The name or the value is invalid", body = ErrorBody),
        (status = 403, description = "Viewers cannot set secrets", body = ErrorBody),
        (status = 404, description = "No such app or project, or not a member", body = ErrorBody),
        (status = 409, description = "The app has as many secrets as it may", body = ErrorBody),
        (status = 422, description = "The body is not a JSON object with only `value`", body = ErrorBody),
    ))]
pub async fn put_secret(
    State(state): State<AppState>,
    access: ProjectAccess<Editor>,
    ApiPath(path): ApiPath<(String, String, String)>,
    ApiJson(req): ApiJson<PutSecretRequest>,
) -> Result<StatusCode, ApiError> {
    let created = use_case::put(&state, &access, &path.1, &path.2, &req.value).await?;
    Ok(if created {
        StatusCode::CREATED
    } else {
        StatusCode::NO_CONTENT
    })
}

/// Delete a secret; a running app is switched to a sandbox without it.
#[utoipa::path(delete, path = "/api/v1/projects/{project}/apps/{app}/secrets/{name}", tag = "apps",
    params(("project" = String, Path, description = "Project id"), ("app" = String, Path, description = "App id"),
        ("name" = String, Path, description = "The secret's name", pattern = r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "Viewers cannot delete secrets", body = ErrorBody),
        (status = 404, description = "No such app, project or secret, or not a member", body = ErrorBody),
    ))]
pub async fn delete_secret(
    State(state): State<AppState>,
    access: ProjectAccess<Editor>,
    ApiPath(path): ApiPath<(String, String, String)>,
) -> Result<StatusCode, ApiError> {
    use_case::delete(&state, &access, &path.1, &path.2).await?;
    Ok(StatusCode::NO_CONTENT)
}
