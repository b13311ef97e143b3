//! Who may do what: the one authorization path under both HTTP edges. Sessions on the
//! platform, project roles, and viewing apps (one-time tickets redeemed on an app's own
//! origin for a view session valid for that app alone).
//!
//! A project the caller is not a member of is reported exactly like one that does not
//! exist, and so is an app of such a project: ids cannot be probed.

use burrow_core::{AppId, ProjectId, Role, SessionToken};
use burrow_store::{Project, StoreError, User};
use url::Url;

use crate::error::Error;
use crate::Services;

/// How long a view ticket lasts.
pub const TICKET_SECS: i64 = 60;
/// How long a view session lasts.
pub const VIEW_SESSION_SECS: i64 = 12 * 3600;

/// A signed-in caller: the user and the hash of the token they presented.
#[derive(Debug, Clone)]
pub struct Session {
    pub user: User,
    pub token_hash: String,
}

/// A member of a project, with their role in it.
#[derive(Debug, Clone)]
pub struct Membership {
    pub user: User,
    pub project: Project,
    pub role: Role,
}

/// The user a session token belongs to; `unauthenticated` if none.
pub async fn authenticate(services: &Services, token: &SessionToken) -> Result<Session, Error> {
    let token_hash = token.hash();
    match services.store.session_user(&token_hash).await {
        Ok(user) => Ok(Session { user, token_hash }),
        Err(StoreError::NotFound) => Err(Error::unauthenticated()),
        Err(e) => Err(e.into()),
    }
}

/// Only instance admins pass.
pub fn require_admin(user: &User) -> Result<(), Error> {
    if user.is_admin {
        Ok(())
    } else {
        Err(Error::forbidden(
            "admin_only",
            "only instance admins may do this",
        ))
    }
}

pub fn project_not_found() -> Error {
    Error::not_found(
        "project_not_found",
        "project not found: check the id, or ask one of its owners to add you",
    )
}

/// `user` in the project, with at least role `least`: 404 for a non-member, 403 for a
/// member without the role (they may already see the project).
pub async fn project_access(
    services: &Services,
    user: User,
    project_id: &str,
    least: Role,
) -> Result<Membership, Error> {
    // An id of the wrong shape names no project: answered like one, without a query.
    let project_id = ProjectId::parse(project_id).ok_or_else(project_not_found)?;
    let membership = match services
        .store
        .project_membership(&project_id, &user.id)
        .await
    {
        Ok(m) => m,
        Err(StoreError::NotFound) => return Err(project_not_found()),
        Err(e) => return Err(e.into()),
    };
    let member = Membership {
        user,
        project: membership.project,
        role: membership.role,
    };
    require(&member, least)?;
    Ok(member)
}

/// 403 unless the member has at least role `least` in their project. Every use case
/// that changes a project's contents checks it, whatever edge called it.
pub fn require(member: &Membership, least: Role) -> Result<(), Error> {
    if member.role.allows(least) {
        return Ok(());
    }
    Err(Error::forbidden(
        "forbidden",
        format!(
            "this needs the {least} role in the project, and you are {}: ask an owner",
            member.role
        ),
    ))
}

/// The same 404 for a missing app and one the viewer may not see.
pub fn app_not_viewable() -> Error {
    Error::not_found(
        "app_not_found",
        "there is no such app, or you are not a member of its project",
    )
}

/// Whether `next` is a path on the same origin: absolute, with no authority, no
/// backslash and no control characters, so a redirect to it stays on the app's origin.
pub fn is_local_path(next: &str) -> bool {
    next.starts_with('/')
        && !next.starts_with("//")
        && !next.contains('\\')
        && !next.chars().any(char::is_control)
}

/// A ticket for a member to view an app of their project (any role may).
pub async fn view_ticket(
    services: &Services,
    member: &Membership,
    app_id: &str,
) -> Result<Url, Error> {
    let app = crate::apps::app_in_project(services, member, app_id).await?;
    issue_view_ticket(services, &member.user.id, &app.id, None).await
}

/// Stores a one-time ticket for `user_id` to view `app_id`, and returns the URL on the
/// app's origin that redeems it, going on to `next` (a local path) there.
/// Its callers have checked the user may view the app.
async fn issue_view_ticket(
    services: &Services,
    user_id: &str,
    app_id: &str,
    next: Option<&str>,
) -> Result<Url, Error> {
    let ticket = SessionToken::generate();
    services
        .store
        .insert_view_ticket(
            &ticket.hash(),
            user_id,
            app_id,
            burrow_store::now_ms() + TICKET_SECS * 1000,
        )
        .await?;
    let mut url = services.config.apps_url().origin(app_id);
    url.set_path("/_burrow/ticket");
    url.query_pairs_mut()
        .append_pair("ticket", ticket.expose())
        .append_pair("next", next.filter(|n| is_local_path(n)).unwrap_or("/"));
    Ok(url)
}

/// A ticket for any app of a project the user is a member of; the same 404 otherwise.
pub async fn open_app(
    services: &Services,
    user_id: &str,
    app_id: &str,
    next: Option<&str>,
) -> Result<Url, Error> {
    let app_id = AppId::parse(app_id).ok_or_else(app_not_viewable)?;
    if !services.store.can_view_app(user_id, &app_id).await? {
        return Err(app_not_viewable());
    }
    issue_view_ticket(services, user_id, &app_id, next).await
}

/// Redeems a one-time ticket on `app_id`'s origin for a new view session of that app,
/// returning its token. `None` for an unknown, used or expired ticket, or one minted for
/// another app (which is used up all the same).
pub async fn redeem_view_ticket(
    services: &Services,
    app_id: &str,
    ticket: &str,
) -> Result<Option<SessionToken>, Error> {
    let hash = SessionToken::from_client(ticket).hash();
    let (user, app) = match services.store.redeem_view_ticket(&hash).await {
        Ok(found) => found,
        Err(StoreError::NotFound) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    if app != app_id {
        return Ok(None);
    }
    let token = SessionToken::generate();
    services
        .store
        .insert_view_session(
            &token.hash(),
            &user,
            &app,
            burrow_store::now_ms() + VIEW_SESSION_SECS * 1000,
        )
        .await?;
    Ok(Some(token))
}

/// What a view session may do with an app.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ViewAccess {
    /// A live session for this app, whose user is a member of its project.
    Granted,
    /// A live session for this app, whose user is no longer a member.
    Refused,
    /// No live session for this app.
    Unknown,
}

/// Checks a view session (by its hash) against an app, in one query.
pub async fn view_access(
    services: &Services,
    session_hash: &str,
    app_id: &str,
) -> Result<ViewAccess, Error> {
    Ok(
        match services.store.view_access(session_hash, app_id).await? {
            Some(true) => ViewAccess::Granted,
            Some(false) => ViewAccess::Refused,
            None => ViewAccess::Unknown,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(role: Role) -> Membership {
        Membership {
            user: User {
                id: "u_aaaaaaaaaaaaaaaa".into(),
                email: "ada@example.com".into(),
                name: "Ada".into(),
                password_hash: String::new(),
                is_admin: false,
                created_at: 0,
            },
            project: Project {
                id: ProjectId::new(),
                name: "Sales".into(),
                created_by: None,
                created_at: 0,
                updated_at: 0,
            },
            role,
        }
    }

    #[test]
    fn a_use_case_refuses_a_role_below_its_own() {
        assert!(require(&member(Role::Owner), Role::Editor).is_ok());
        assert!(require(&member(Role::Editor), Role::Editor).is_ok());
        let refused = require(&member(Role::Viewer), Role::Editor).unwrap_err();
        assert_eq!(refused.kind, crate::Kind::Forbidden);
        assert!(refused.message.contains("editor"), "{}", refused.message);
        assert!(require(&member(Role::Editor), Role::Owner).is_err());
    }

    #[test]
    fn next_stays_on_the_origin() {
        for good in ["/", "/Other_page", "/?a=b"] {
            assert!(is_local_path(good), "{good}");
        }
        for bad in [
            "",
            "//evil.com",
            "/\\evil.com",
            "http://evil.com/",
            "evil",
            "/a\nb",
        ] {
            assert!(!is_local_path(bad), "{bad}");
        }
    }
}
