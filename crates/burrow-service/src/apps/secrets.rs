//! Apps' secrets as use cases: editors list their names, set and delete them; values go in and never come out.
//!
//! A change bumps the app's secrets revision, and the supervisor's next tick starts a
//! sandbox with the new `secrets.toml` beside the running one and switches once it is
//! ready, as for a new version.

use burrow_apps::secrets::{self as app_secrets, MAX_SECRETS};
use burrow_core::Role;
use burrow_store::PutSecret;

use super::app_in_project;
use crate::access::{require, Membership};
use crate::error::{Error, Kind};
use crate::Services;

/// One secret as editors see it: never its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretInfo {
    pub name: String,
    pub updated_at: i64,
    pub updated_by: Option<String>,
}

fn secret_not_found() -> Error {
    Error::not_found(
        "secret_not_found",
        "this app has no secret by that name: see GET …/secrets",
    )
}

fn invalid(field: &'static str, message: String) -> Error {
    Error::new(Kind::Invalid, "invalid_secret", message).with_field(field)
}

/// The app's secrets by name, without values; editors and owners only.
pub async fn list(
    services: &Services,
    member: &Membership,
    app_id: &str,
) -> Result<Vec<SecretInfo>, Error> {
    require(member, Role::Editor)?;
    let app = app_in_project(services, member, app_id).await?;
    let (_, secrets) = services
        .store
        .app_secrets(&app.id)
        .await
        .map_err(|e| Error::or_not_found(e, super::app_not_found))?;
    Ok(secrets
        .into_iter()
        .map(|s| SecretInfo {
            name: s.name,
            updated_at: s.updated_at,
            updated_by: s.updater_name,
        })
        .collect())
}

/// Sets a secret, sealed before the store sees it; `true` if the name is new.
pub async fn put(
    services: &Services,
    member: &Membership,
    app_id: &str,
    name: &str,
    value: &str,
) -> Result<bool, Error> {
    require(member, Role::Editor)?;
    let app = app_in_project(services, member, app_id).await?;
    if let Some(why) = app_secrets::name_problem(name) {
        return Err(invalid("name", why));
    }
    if let Some(why) = app_secrets::value_problem(value) {
        return Err(invalid("value", why));
    }
    let sealed = app_secrets::seal(&services.keyring, &app.id, name, value)
        .map_err(|e| Error::internal(format!("sealing a secret: {e}")))?;
    match services
        .store
        .put_app_secret(&app.id, name, &sealed, &member.user.id, MAX_SECRETS)
        .await
        .map_err(|e| Error::or_not_found(e, super::app_not_found))?
    {
        PutSecret::Created => Ok(true),
        PutSecret::Replaced => Ok(false),
        PutSecret::TooMany => Err(Error::conflict(
            "too_many_secrets",
            format!("an app has at most {MAX_SECRETS} secrets: delete one first"),
        )),
    }
}

/// Deletes a secret.
pub async fn delete(
    services: &Services,
    member: &Membership,
    app_id: &str,
    name: &str,
) -> Result<(), Error> {
    require(member, Role::Editor)?;
    let app = app_in_project(services, member, app_id).await?;
    services
        .store
        .delete_app_secret(&app.id, name)
        .await
        .map_err(|e| Error::or_not_found(e, secret_not_found))
}
