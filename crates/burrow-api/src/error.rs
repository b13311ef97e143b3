//! The one error type of the HTTP edge, and its `{"error":{"code","message"}}` response.
//!
//! Policy: handlers return `Result<_, ApiError>`. The client gets a stable
//! machine-readable `code`, a sentence saying what is wrong and how to fix it,
//! and the right status; never a stack trace or a database message. Internal
//! detail rides along in a response extension ([`ErrorDetail`]) that the
//! observe middleware logs, so building an error has no side effects.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use burrow_core::Invalid;
use burrow_store::StoreError;
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub field: Option<&'static str>,
    pub retry_after_secs: Option<u64>,
    /// Every problem, when there are several (an upload's findings).
    pub details: Box<[crate::dto::FindingDto]>,
    /// Logged, never sent.
    pub detail: Option<String>,
}

/// Internal detail of an error response, for the logs only.
#[derive(Debug, Clone)]
pub struct ErrorDetail(pub String);

/// The body of every error response.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorInfo,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorInfo {
    /// Stable and machine-readable, such as `project_not_found`.
    #[schema(example = "project_not_found")]
    pub code: String,
    /// What is wrong and, where possible, how to fix it.
    pub message: String,
    /// The request field at fault, when one is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Every problem, each with where it is, when there are several.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<crate::dto::FindingDto>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            field: None,
            retry_after_secs: None,
            details: Box::default(),
            detail: None,
        }
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, message)
    }

    pub fn forbidden(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, code, message)
    }

    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, message)
    }

    pub fn unauthenticated() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "sign in first: send `Authorization: Bearer <token>` or the session cookie from POST /api/v1/auth/login",
        )
    }

    pub fn too_many_requests(retry_after_secs: u64, message: impl Into<String>) -> Self {
        let mut e = Self::new(StatusCode::TOO_MANY_REQUESTS, "too_many_requests", message);
        e.retry_after_secs = Some(retry_after_secs);
        e
    }

    pub fn internal(detail: impl Into<String>) -> Self {
        let mut e = Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "something went wrong on the server; it has been logged",
        );
        e.detail = Some(detail.into());
        e
    }

    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ApiError {}

impl From<Invalid> for ApiError {
    fn from(e: Invalid) -> Self {
        let mut err = ApiError::bad_request("invalid_input", e.message);
        err.field = Some(e.field);
        err
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => ApiError::not_found("not_found", "not found"),
            StoreError::Conflict => ApiError::conflict("conflict", "this already exists"),
            StoreError::LastOwner => ApiError::conflict(
                "last_owner",
                "a project must keep at least one owner: make another member an owner first",
            ),
            StoreError::Unavailable(detail) => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "database_unavailable",
                "the database is unavailable; try again shortly",
            )
            .with_detail(detail),
            other => ApiError::internal(other.to_string()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorInfo {
                code: self.code.to_owned(),
                message: self.message,
                field: self.field.map(str::to_owned),
                details: self.details.into_vec(),
            },
        };
        let mut response = (self.status, axum::Json(body)).into_response();
        if let Some(secs) = self.retry_after_secs {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if let Some(detail) = self.detail {
            response.extensions_mut().insert(ErrorDetail(detail));
        }
        response
    }
}
