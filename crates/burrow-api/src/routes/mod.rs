//! The API's handlers, one file per resource.

pub mod apps;
pub mod auth;
pub mod health;
pub mod jobs;
pub mod members;
pub mod notifications;
pub mod packages;
pub mod projects;
pub mod review;
pub mod secrets;
pub mod sources;
pub mod tables;
pub mod users;
pub mod workspaces;

/// A `.zip` sent as a download named after `stem` (ASCII letters, digits and `-` kept,
/// the rest `_`).
pub(crate) fn zip_download(
    stem: &str,
    bytes: impl Into<axum::body::Body>,
) -> axum::response::Response {
    use axum::http::{header, HeaderValue};
    use axum::response::IntoResponse;
    let filename: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let disposition = format!("attachment; filename=\"{filename}.zip\"");
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/zip"),
            ),
            (
                header::CONTENT_DISPOSITION,
                HeaderValue::from_str(&disposition)
                    .unwrap_or_else(|_| HeaderValue::from_static("attachment")),
            ),
        ],
        bytes.into(),
    )
        .into_response()
}
