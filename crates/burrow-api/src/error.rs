//! The one error type of the HTTP edge: the use cases' [`burrow_service::Error`], whose
//! response is `{"error":{"code","message"}}` with the status its kind stands for.
//!
//! Policy: handlers return `Result<_, ApiError>`. The client gets a stable
//! machine-readable `code`, a sentence saying what is wrong and how to fix it,
//! and the right status; never a stack trace or a database message. Internal
//! detail rides along in a response extension ([`ErrorDetail`]) that the
//! observe middleware logs, so building an error has no side effects.

pub use burrow_service::http::{ErrorBody, ErrorDetail, ErrorInfo};
pub use burrow_service::Error as ApiError;
pub use burrow_service::Kind;
