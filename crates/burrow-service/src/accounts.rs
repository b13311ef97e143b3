//! Creating accounts: validation, hashing and storing, shared by registration, admins and the CLI.

use burrow_core::{DisplayName, Email, NewPassword};
use burrow_store::{NewUser, Store, StoreError, User};

use crate::error::Error;

/// Validates and creates an account. `hash` runs the (slow) password hash;
/// the API passes its capped blocking pool, the CLI a plain call.
pub async fn create_account<F, Fut>(
    store: &Store,
    email: &str,
    name: &str,
    password: &str,
    admin: bool,
    hash: F,
) -> Result<User, Error>
where
    F: FnOnce(String) -> Fut,
    Fut: std::future::Future<Output = Result<String, Error>>,
{
    let email = Email::parse(email)?;
    let name = DisplayName::parse(name)?;
    let password = NewPassword::parse(password, &email)?;
    // Checked before hashing so a taken email costs no hash; the unique index
    // still decides when two registrations race.
    match store.user_by_email(email.as_str()).await {
        Ok(_) => return Err(email_taken(&email)),
        Err(StoreError::NotFound) => {}
        Err(e) => return Err(e.into()),
    }
    let password_hash = hash(password.expose().to_owned()).await?;
    store
        .create_user(NewUser {
            email: email.as_str().to_owned(),
            name: name.as_str().to_owned(),
            password_hash,
            admin,
        })
        .await
        .map_err(|e| match e {
            StoreError::Conflict => email_taken(&email),
            other => other.into(),
        })
}

fn email_taken(email: &Email) -> Error {
    let mut e = Error::conflict(
        "email_taken",
        format!("an account with email {email} already exists: log in instead"),
    );
    e.field = Some("email");
    e
}
