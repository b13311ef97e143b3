//! The one error of Burrow's use cases: a kind, a stable code and a sentence that says
//! what is wrong and how to fix it.
//!
//! Policy: use cases return `Result<_, Error>`. The kind says what sort of refusal it
//! is (the HTTP edges map it to a status, the CLI to a message); the code is stable and
//! machine-readable; internal detail rides along for the logs and is never shown.

use burrow_core::Invalid;
use burrow_store::StoreError;
use serde::{Deserialize, Serialize};

/// The code of a blob storage that did not answer ([`Error::blob`]).
pub const STORAGE_UNAVAILABLE: &str = "storage_unavailable";

/// What sort of refusal an [`Error`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The input is malformed or out of range.
    Invalid,
    /// No valid session.
    Unauthenticated,
    /// Known caller, not allowed.
    Forbidden,
    /// Missing, or not visible to the caller (the two are never told apart).
    NotFound,
    /// The method does not apply to the resource.
    MethodNotAllowed,
    /// Clashes with what exists or with the resource's state.
    Conflict,
    /// Larger than accepted.
    TooLarge,
    /// A request's headers are larger than accepted.
    HeadersTooLarge,
    /// A content type that is not accepted.
    UnsupportedMediaType,
    /// Well-formed, but refused for what it contains (an upload's findings).
    Unprocessable,
    /// Too many attempts: wait `retry_after_secs`.
    TooManyRequests,
    /// Something Burrow reaches (an app, a sandbox) did not answer.
    Unreachable,
    /// Busy or not ready: try again shortly.
    Unavailable,
    /// No space is left to keep what was sent: someone must free some first.
    InsufficientStorage,
    /// A fault of Burrow's; the detail is logged.
    Internal,
}

#[derive(Debug)]
pub struct Error {
    pub kind: Kind,
    pub code: &'static str,
    pub message: String,
    /// The request field at fault, when one is.
    pub field: Option<&'static str>,
    pub retry_after_secs: Option<u64>,
    /// Every problem, when there are several (an upload's findings).
    pub details: Box<[Finding]>,
    /// Logged, never shown.
    pub detail: Option<String>,
}

/// One problem found in an upload, or a warning about it, with where it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "http", derive(utoipa::ToSchema), schema(as = FindingDto))]
pub struct Finding {
    /// The file in the bundle, such as `app.py` or `requirements.txt`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// The line, counting from 1.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    pub message: String,
}

impl From<&burrow_bundle::Finding> for Finding {
    fn from(f: &burrow_bundle::Finding) -> Self {
        Self {
            file: f.file.clone(),
            line: f.line,
            message: f.message.clone(),
        }
    }
}

impl Error {
    pub fn new(kind: Kind, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            kind,
            code,
            message: message.into(),
            field: None,
            retry_after_secs: None,
            details: Box::default(),
            detail: None,
        }
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(Kind::Invalid, code, message)
    }

    pub fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(Kind::NotFound, code, message)
    }

    pub fn forbidden(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(Kind::Forbidden, code, message)
    }

    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(Kind::Conflict, code, message)
    }

    pub fn unauthenticated() -> Self {
        Self::new(
            Kind::Unauthenticated,
            "unauthenticated",
            "sign in first: send `Authorization: Bearer <token>` or the session cookie from POST /api/v1/auth/login",
        )
    }

    pub fn too_many_requests(retry_after_secs: u64, message: impl Into<String>) -> Self {
        let mut e = Self::new(Kind::TooManyRequests, "too_many_requests", message);
        e.retry_after_secs = Some(retry_after_secs);
        e
    }

    pub fn internal(detail: impl Into<String>) -> Self {
        let mut e = Self::new(
            Kind::Internal,
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

    pub fn with_field(mut self, field: &'static str) -> Self {
        self.field = Some(field);
        self
    }

    /// A blob store error while doing `what` (such as "storing the bundle"): a full disk
    /// is 507 and storage that does not answer 503, each saying so; nothing was kept.
    pub fn blob(what: &str, e: burrow_blobs::StoreError) -> Error {
        match burrow_blobs::failure(&e) {
            burrow_blobs::Failure::Full => Error::new(
                Kind::InsufficientStorage,
                "storage_full",
                format!(
                    "no space is left for {what}, and nothing was kept: free space in Burrow's data folder (or raise its blob storage quota) and try again"
                ),
            ),
            burrow_blobs::Failure::Unavailable => {
                let mut unavailable = Error::new(
                    Kind::Unavailable,
                    STORAGE_UNAVAILABLE,
                    format!(
                        "the blob storage did not answer while {what}, and nothing was kept: try again shortly"
                    ),
                );
                unavailable.retry_after_secs = Some(5);
                unavailable
            }
            burrow_blobs::Failure::NotFound | burrow_blobs::Failure::Other => {
                return Error::internal(format!("{what}: {e}"));
            }
        }
        .with_detail(format!("{what}: {e}"))
    }

    /// A store error, with `not_found` standing for a missing row.
    pub fn or_not_found(e: StoreError, not_found: fn() -> Error) -> Error {
        match e {
            StoreError::NotFound => not_found(),
            other => other.into(),
        }
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

impl From<Invalid> for Error {
    fn from(e: Invalid) -> Self {
        Error::bad_request("invalid_input", e.message).with_field(e.field)
    }
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => Error::not_found("not_found", "not found"),
            StoreError::Conflict => Error::conflict("conflict", "this already exists"),
            StoreError::Stale => Error::conflict(
                "changed_meanwhile",
                "what this change was made from changed meanwhile: try again",
            ),
            StoreError::LastOwner => Error::conflict(
                "last_owner",
                "a project must keep at least one owner: make another member an owner first",
            ),
            StoreError::Unavailable(detail) => Error::new(
                Kind::Unavailable,
                "database_unavailable",
                "the database is unavailable; try again shortly",
            )
            .with_detail(detail),
            StoreError::Full(detail) => Error::new(
                Kind::InsufficientStorage,
                "database_full",
                "the database's disk is full, and nothing of this change was kept: free space there and try again",
            )
            .with_detail(detail),
            other => Error::internal(other.to_string()),
        }
    }
}
