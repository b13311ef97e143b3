//! Burrow's pure domain layer: validated values, roles and credentials, with no I/O.
//!
//! Everything here is deterministic given its inputs (time is passed in), so it
//! is unit tested directly and reused by the store, the API and the CLI.

pub mod email;
pub mod ids;
pub mod name;
pub mod password;
pub mod role;
pub mod token;

pub use email::Email;
pub use ids::{AppId, ProjectId};
pub use name::{AppName, Description, DisplayName, ProjectName};
pub use password::NewPassword;
pub use role::Role;
pub use token::SessionToken;

/// A value from a user failed validation; the message says what is wrong and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Invalid {
    /// The input field that was wrong, such as `email`.
    pub field: &'static str,
    /// A sentence for the user.
    pub message: String,
}

impl Invalid {
    pub fn new(field: &'static str, message: impl Into<String>) -> Self {
        Self {
            field,
            message: message.into(),
        }
    }
}
