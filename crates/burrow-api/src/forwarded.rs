//! Requests about a sandbox that another replica runs, sent on to that replica: a
//! workspace's files and terminals, and an app's output, live only where the sandbox is.
//!
//! [`to_holder`] looks at the path. When it names such a resource of a workspace or an
//! app whose lease another live replica holds, and the caller is signed in as a member
//! of the project the workspace or app belongs to, the request goes, unchanged (its
//! credentials are checked again there), over a forwarded connection to that replica's
//! own API ([`burrow_apps::forward`]), WebSocket upgrades included, marked with
//! [`FORWARDED`] so that it is never sent on twice. Anyone else, and every request when
//! that replica cannot be reached, is answered here, as if it ran nowhere else: nothing
//! tells a stranger where a sandbox runs.

use axum::extract::{FromRequestParts, Request, State};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use burrow_apps::forward::{self, Target};

use crate::error::{ApiError, Kind};
use crate::AppState;

/// Marks a request another replica sent on; it is answered where it arrives.
pub const FORWARDED: &str = "x-burrow-forwarded-by";

/// The sandbox a path is about, when it is a resource that lives with the sandbox.
#[derive(Debug, PartialEq, Eq)]
enum About<'a> {
    Workspace(&'a str),
    App(&'a str),
}

/// The project and the sandbox a path is about; see [`About`].
fn about(path: &str) -> Option<(&str, About<'_>)> {
    let rest = path.strip_prefix("/api/v1/projects/")?;
    let mut parts = rest.split('/');
    let (project, kind, id, what) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let more = parts.next();
    let about = match (kind, what, more) {
        ("workspaces", "file" | "files" | "move", None) | ("workspaces", "terminals", _) => {
            About::Workspace(id)
        }
        ("apps", "logs", None) => About::App(id),
        _ => return None,
    };
    Some((project, about))
}

/// Whether the request's caller is signed in as a member of `project`, and the
/// sandbox's workspace or app belongs to it.
async fn member_of(
    state: &AppState,
    request: Request,
    project: &str,
    about: &About<'_>,
) -> (Request, bool) {
    let (mut parts, body) = request.into_parts();
    let session = crate::extract::Session::from_request_parts(&mut parts, state).await;
    let request = Request::from_parts(parts, body);
    let Ok(session) = session else {
        return (request, false);
    };
    let member = burrow_service::access::project_access(
        state,
        session.user,
        project,
        burrow_core::Role::Viewer,
    )
    .await;
    if member.is_err() {
        return (request, false);
    }
    let belongs = match about {
        About::Workspace(id) => state
            .store
            .find_workspace(id)
            .await
            .is_ok_and(|w| w.project_id == project),
        About::App(id) => state
            .store
            .find_app(id)
            .await
            .is_ok_and(|a| a.project_id.as_str() == project),
    };
    (request, belongs)
}

/// Sends a request about a sandbox another replica runs on to it; see the module
/// documentation.
pub async fn to_holder(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if request.headers().contains_key(FORWARDED) {
        return next.run(request).await;
    }
    let path = request.uri().path().to_owned();
    let Some((project, about)) = about(&path) else {
        return next.run(request).await;
    };
    let here = match about {
        About::Workspace(id) => state.workspaces.running(id).is_some(),
        About::App(id) => state.supervisor.running(id).is_some(),
    };
    if here {
        return next.run(request).await;
    }
    let (request, member) = member_of(&state, request, project, &about).await;
    if !member {
        return next.run(request).await;
    }
    let holder = match about {
        About::Workspace(id) => state.workspaces.held_by_other(id).await.ok().flatten(),
        About::App(id) => state.supervisor.held_by_other(id).await.ok().flatten(),
    };
    let Some(holder) = holder else {
        return next.run(request).await;
    };
    let upstream = match forward::dial(&state.store, &holder, Target::Api).await {
        Ok(upstream) => upstream,
        Err(e) => {
            tracing::warn!(replica = %holder, error = %e, "Could not reach the replica running this sandbox; answering here");
            return next.run(request).await;
        }
    };
    let (mut parts, body) = request.into_parts();
    let by = HeaderValue::from_str(&state.config.replica_name())
        .unwrap_or_else(|_| HeaderValue::from_static("replica"));
    parts.headers.insert(FORWARDED, by);
    match burrow_gateway::upstream::relay(upstream, Request::from_parts(parts, body)).await {
        Ok(response) => response,
        Err(e) => ApiError::new(
            Kind::Unreachable,
            "replica_unreachable",
            format!("Burrow replica {holder} runs this sandbox and did not answer: try again in a moment"),
        )
        .with_detail(e)
        .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::About;

    /// What `path` is about, in project `p1`.
    fn about(path: &str) -> Option<About<'_>> {
        super::about(path).map(|(project, about)| {
            assert_eq!(project, "p1");
            about
        })
    }

    #[test]
    fn only_what_lives_with_a_sandbox_is_sent_on() {
        let p = "/api/v1/projects/p1";
        assert_eq!(
            about(&format!("{p}/workspaces/w1/file")),
            Some(About::Workspace("w1"))
        );
        assert_eq!(
            about(&format!("{p}/workspaces/w1/files")),
            Some(About::Workspace("w1"))
        );
        assert_eq!(
            about(&format!("{p}/workspaces/w1/move")),
            Some(About::Workspace("w1"))
        );
        assert_eq!(
            about(&format!("{p}/workspaces/w1/terminals")),
            Some(About::Workspace("w1"))
        );
        assert_eq!(
            about(&format!("{p}/workspaces/w1/terminals/2")),
            Some(About::Workspace("w1"))
        );
        assert_eq!(about(&format!("{p}/apps/a1/logs")), Some(About::App("a1")));
        // Lifecycle and records work from any replica.
        for other in [
            "/workspaces/w1",
            "/workspaces/w1/start",
            "/workspaces/w1/stop",
            "/workspaces/w1/download",
            "/apps/a1",
            "/apps/a1/start",
            "/apps/a1/logs/x",
            "/apps/a1/versions",
        ] {
            assert_eq!(about(&format!("{p}{other}")), None, "{other}");
        }
        assert_eq!(about("/api/v1/apps/a1/logs"), None);
        assert_eq!(about("/api/v1/projects/p1/workspaces/w1"), None);
    }
}
