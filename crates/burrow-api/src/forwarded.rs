//! Requests about a sandbox that another replica runs, sent on to that replica: a
//! workspace's files and terminals, and an app's output, live only where the sandbox is.
//!
//! [`to_holder`] looks at the path. When it names such a resource of a workspace or an
//! app whose lease another live replica holds, the request goes, unchanged (its
//! credentials are checked again there), over a forwarded connection to that replica's
//! own API ([`burrow_apps::forward`]), WebSocket upgrades included, marked with
//! [`FORWARDED`] so that it is never sent on twice. When that replica cannot be reached
//! the request is answered here, as if it ran nowhere else.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use burrow_apps::forward::{self, Target};
use http_body_util::BodyExt;
use hyper_util::rt::TokioIo;

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

fn about(path: &str) -> Option<About<'_>> {
    let rest = path.strip_prefix("/api/v1/projects/")?;
    let mut parts = rest.split('/');
    let (_project, kind, id, what) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let more = parts.next();
    match (kind, what, more) {
        ("workspaces", "file" | "files" | "move", None) | ("workspaces", "terminals", _) => {
            Some(About::Workspace(id))
        }
        ("apps", "logs", None) => Some(About::App(id)),
        _ => None,
    }
}

/// Sends a request about a sandbox another replica runs on to it; see the module
/// documentation.
pub async fn to_holder(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if request.headers().contains_key(FORWARDED) {
        return next.run(request).await;
    }
    let holder = match about(request.uri().path()) {
        None => None,
        Some(About::Workspace(id)) if state.workspaces.running(id).is_none() => {
            state.workspaces.held_by_other(id).await.ok().flatten()
        }
        Some(About::App(id)) if state.supervisor.running(id).is_none() => {
            state.supervisor.held_by_other(id).await.ok().flatten()
        }
        Some(_) => None,
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
    match send(&state, upstream, request).await {
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

/// Sends `request` over `upstream` and hands back the answer; an upgrade the other
/// replica agrees to is then tunnelled both ways.
async fn send(
    state: &AppState,
    upstream: burrow_sandbox::Connection,
    mut request: Request,
) -> Result<Response, String> {
    let client_upgrade = hyper::upgrade::on(&mut request);
    let (mut parts, body) = request.into_parts();
    let by = HeaderValue::from_str(&state.config.replica_name())
        .unwrap_or_else(|_| HeaderValue::from_static("replica"));
    parts.headers.insert(FORWARDED, by);
    let request = hyper::Request::from_parts(parts, body);
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(upstream))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(async move {
        let _ = connection.with_upgrades().await;
    });
    let mut response = sender
        .send_request(request)
        .await
        .map_err(|e| e.to_string())?;
    if response.status() == StatusCode::SWITCHING_PROTOCOLS {
        let upstream_upgrade = hyper::upgrade::on(&mut response);
        tokio::spawn(async move {
            let (Ok(client), Ok(upstream)) = (client_upgrade.await, upstream_upgrade.await) else {
                return;
            };
            let (mut client, mut upstream) = (TokioIo::new(client), TokioIo::new(upstream));
            let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
        });
    }
    let (parts, body) = response.into_parts();
    Ok(Response::from_parts(
        parts,
        Body::new(body.map_err(axum::Error::new)),
    ))
}

#[cfg(test)]
mod tests {
    use super::{about, About};

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
    }
}
