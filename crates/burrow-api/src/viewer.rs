//! The apps origin: the authenticated reverse proxy through which viewers reach apps.
//!
//! It listens on its own address (`apps_listen`, browsers see `apps_url`), so app
//! JavaScript never shares an origin with the platform's session cookie. A viewer
//! arrives with a one-time ticket minted by the platform, which becomes a view
//! session cookie valid only here. Every request and every WebSocket upgrade is
//! checked against project membership; a non-member gets the same 404 as for a
//! missing app. Requests are streamed to the app's sandbox through
//! `Runtime::connect`, and WebSockets are tunnelled byte for byte.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{ConnectInfo, Path, Query, Request, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{any, get};
use axum::{Json, Router};
use burrow_core::SessionToken;
use http_body_util::BodyExt;
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::error::ApiError;
use crate::state::AppState;

/// The view session cookie, scoped to the apps origin.
pub const VIEW_COOKIE: &str = "burrow_view";
/// A request's headers may total this many bytes; more is 431.
pub const MAX_HEADER_BYTES: usize = 32 * 1024;
/// How long a view ticket lasts.
pub const TICKET_SECS: i64 = 60;
/// How long a view session lasts.
pub const VIEW_SESSION_SECS: i64 = 12 * 3600;
/// How often an open WebSocket's access is checked again.
const REVALIDATE: std::time::Duration = std::time::Duration::from_secs(15);

/// The router of the apps origin.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/_burrow/ticket", get(redeem_ticket))
        .route("/_burrow/status/{app}", get(status))
        .route("/apps/{app}", any(add_slash))
        .route("/apps/{app}/", any(proxy_root))
        .route("/apps/{app}/{*rest}", any(proxy_path))
        .fallback(|| async {
            ApiError::not_found(
                "route_not_found",
                "nothing is served here: apps live under /apps/{id}/",
            )
        })
        .layer(axum::middleware::from_fn(limit_headers))
        .with_state(state)
}

/// 431 when the request's headers are larger than [`MAX_HEADER_BYTES`].
///
/// Request smuggling needs no check here: hyper reads a request with both
/// `Content-Length` and `Transfer-Encoding` as chunked, drops the length, and
/// closes the connection after answering, so nothing can ride along behind it.
async fn limit_headers(request: Request, next: axum::middleware::Next) -> Response {
    let size: usize = request
        .headers()
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len() + 4)
        .sum();
    if size > MAX_HEADER_BYTES {
        return ApiError::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "headers_too_large",
            format!(
                "the request's headers total {size} bytes, more than {MAX_HEADER_BYTES}: clear this site's cookies"
            ),
        )
        .into_response();
    }
    next.run(request).await
}

#[derive(Debug, Deserialize)]
struct TicketQuery {
    ticket: String,
    next: Option<String>,
}

/// Redeems a one-time ticket for a view session cookie, then goes on to the app.
async fn redeem_ticket(
    State(state): State<AppState>,
    Query(q): Query<TicketQuery>,
) -> Result<Response, ApiError> {
    let hash = SessionToken::from_client(&q.ticket).hash();
    let (user, app) = state.store.redeem_view_ticket(&hash).await.map_err(|_| {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_ticket",
            "this link has expired or was already used: open the app again from Burrow",
        )
    })?;
    let token = SessionToken::generate();
    state
        .store
        .insert_view_session(
            &token.hash(),
            &user,
            burrow_store::now_ms() + VIEW_SESSION_SECS * 1000,
        )
        .await?;
    // Only a path on this origin, under the app the ticket is for.
    let home = format!("/apps/{app}/");
    let next = q
        .next
        .filter(|n| n.starts_with(&home) && !n.contains("//") && !n.contains('\\'))
        .unwrap_or(home);
    let secure = if state.config.apps_url().scheme() == "https" {
        "; Secure"
    } else {
        ""
    };
    let cookie = format!(
        "{VIEW_COOKIE}={}; HttpOnly; SameSite=Lax; Path=/; Max-Age={VIEW_SESSION_SECS}{secure}",
        token.expose()
    );
    let mut response = Redirect::to(&next).into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_str(&cookie).expect("a token is a valid header"),
    );
    Ok(response)
}

fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

fn app_not_found() -> ApiError {
    ApiError::not_found(
        "app_not_found",
        "there is no such app, or you are not a member of its project",
    )
}

/// Checks the viewer may see the app: a member of its project, on every request, in one
/// query. Unknown viewers are sent through the platform's login; non-members get the
/// same 404 as for a missing app.
async fn authorize(
    state: &AppState,
    app_id: &str,
    headers: &HeaderMap,
    uri: &Uri,
) -> Result<(), Response> {
    let access = match cookie_value(headers, VIEW_COOKIE) {
        Some(token) => state
            .store
            .view_access(&SessionToken::from_client(&token).hash(), app_id)
            .await
            .map_err(|e| ApiError::from(e).into_response())?,
        None => None,
    };
    match access {
        Some(true) => Ok(()),
        Some(false) => Err(app_not_found().into_response()),
        None => {
            let mut open = state.config.public_url();
            open.set_path(&format!("/api/v1/apps/{app_id}/open"));
            open.query_pairs_mut()
                .append_pair("next", uri.path_and_query().map_or("/", |p| p.as_str()));
            Err(Redirect::to(open.as_str()).into_response())
        }
    }
}

async fn add_slash(Path(app): Path<String>) -> Redirect {
    Redirect::permanent(&format!("/apps/{app}/"))
}

/// The status the loading page polls.
async fn status(
    State(state): State<AppState>,
    Path(app_id): Path<String>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    if let Err(response) = authorize(&state, &app_id, &headers, &uri).await {
        return response;
    }
    match state.store.find_app(&app_id).await {
        Ok(app) => Json(serde_json::json!({
            "status": app.status,
            "last_error": app.last_error,
            "restart_count": app.restart_count,
        }))
        .into_response(),
        Err(e) => ApiError::from(e).into_response(),
    }
}

async fn proxy_root(
    state: State<AppState>,
    Path(app): Path<String>,
    connect: ConnectInfo<SocketAddr>,
    request: Request,
) -> Response {
    proxy(state, app, connect, request).await
}

async fn proxy_path(
    state: State<AppState>,
    Path((app, _rest)): Path<(String, String)>,
    connect: ConnectInfo<SocketAddr>,
    request: Request,
) -> Response {
    proxy(state, app, connect, request).await
}

/// Whether a path has `.`/`..` segments, encoded dots or separators, or double
/// encoding: such paths are refused rather than normalised differently here and in
/// the app. (Routing is by the first segment after `/apps/`, so no path reaches
/// another app's sandbox either way.)
fn suspicious_path(path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    lower.contains("%2f")
        || lower.contains("%5c")
        || lower.contains("%2e")
        || lower.contains("%25")
        || path.contains('\\')
        || path.split('/').any(|seg| seg == "." || seg == "..")
}

async fn proxy(
    State(state): State<AppState>,
    app_id: String,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    request: Request,
) -> Response {
    if suspicious_path(request.uri().path()) {
        return ApiError::bad_request(
            "invalid_path",
            "the path has . or .. segments or encoded separators",
        )
        .into_response();
    }
    if let Err(response) = authorize(&state, &app_id, request.headers(), request.uri()).await {
        return response;
    }
    // A service worker would control the whole apps origin, every app on it included.
    if request.headers().contains_key("service-worker") {
        return ApiError::forbidden(
            "service_worker",
            "service workers are not allowed on the apps origin",
        )
        .into_response();
    }
    let upgrade = is_websocket(request.headers());
    if upgrade && !same_origin(&state, request.headers()) {
        return ApiError::forbidden(
            "foreign_origin",
            "WebSocket connections are accepted only from the apps origin",
        )
        .into_response();
    }
    let wants_page = request.method() == Method::GET
        && request
            .headers()
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|a| a.contains("text/html"));
    let supervisor = &state.supervisor;
    let running = match supervisor.running(&app_id) {
        Some(running) => running,
        None => return waking(&state, &app_id, wants_page).await,
    };
    supervisor.touch(&app_id);
    let result = if upgrade {
        match supervisor.connect(&running).await {
            Ok(upstream) => tunnel(&state, &app_id, upstream, request, client).await,
            Err(_) => return waking(&state, &app_id, wants_page).await,
        }
    } else {
        forward(&state, &running, request, client).await
    };
    result.unwrap_or_else(|e| e.into_response())
}

/// The app is not running: start it (once, however many viewers ask) and show the
/// loading page to a browser, or 503 with Retry-After to anything else.
async fn waking(state: &AppState, app_id: &str, wants_page: bool) -> Response {
    let app = match state.store.find_app(app_id).await {
        Ok(app) => app,
        Err(e) => return ApiError::from(e).into_response(),
    };
    if app.active_version.is_none() {
        return ApiError::conflict(
            "not_built",
            "this app has no built version yet: wait for its build, or upload a version that builds",
        )
        .into_response();
    }
    // An app left in `error` after its restarts stays there until an editor starts it;
    // viewers see the error on the loading page.
    if app.status != "error" {
        let supervisor = state.supervisor.clone();
        let id = app_id.to_owned();
        tokio::spawn(async move {
            if let Err(e) = supervisor.ensure_running(&id).await {
                tracing::warn!(app.id = %id, error = %e, "App did not start");
            }
        });
    }
    if wants_page {
        let page = crate::loading::page(app_id, &app.name);
        return (
            StatusCode::OK,
            [(header::CACHE_CONTROL, "no-store")],
            Html(page),
        )
            .into_response();
    }
    let mut e = ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "app_starting",
        "the app is starting: try again in a moment",
    );
    e.retry_after_secs = Some(2);
    e.into_response()
}

fn is_websocket(headers: &HeaderMap) -> bool {
    headers
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}

fn same_origin(state: &AppState, headers: &HeaderMap) -> bool {
    let apps = state.config.apps_url();
    let expected = apps.origin().ascii_serialization();
    headers
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|origin| origin == expected)
}

/// Hop-by-hop headers, and headers that could claim an identity or a path through
/// proxies: never passed on. Ours are set afresh.
const STRIPPED: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "forwarded",
    "x-forwarded-for",
    "x-forwarded-host",
    "x-forwarded-proto",
    "x-forwarded-port",
    "x-forwarded-prefix",
    "x-real-ip",
    "x-remote-user",
    "x-user",
    "x-email",
    "x-auth-request-user",
    "x-auth-request-email",
    "authorization",
];

fn clean_request_headers(
    state: &AppState,
    headers: &mut HeaderMap,
    client: SocketAddr,
    keep_upgrade: bool,
) {
    let upgrade = headers.get(header::UPGRADE).cloned();
    for name in STRIPPED {
        headers.remove(*name);
    }
    let ours: Vec<HeaderName> = headers
        .keys()
        .filter(|name| name.as_str().starts_with("x-burrow-"))
        .cloned()
        .collect();
    for name in ours {
        headers.remove(name);
    }
    // Neither our view session nor the platform's session (browsers send cookies to
    // every port of a host) reaches app code; the app's own cookies do.
    let cookies: Vec<String> = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .map(str::trim)
        .filter(|c| {
            let name = c.split('=').next().unwrap_or_default().trim();
            !c.is_empty() && name != VIEW_COOKIE && name != crate::extract::SESSION_COOKIE
        })
        .map(str::to_owned)
        .collect();
    headers.remove(header::COOKIE);
    if !cookies.is_empty() {
        if let Ok(v) = HeaderValue::from_str(&cookies.join("; ")) {
            headers.insert(header::COOKIE, v);
        }
    }
    let apps = state.config.apps_url();
    let forwarded = [
        ("x-forwarded-for", client.ip().to_string()),
        ("x-forwarded-proto", apps.scheme().to_owned()),
        (
            "x-forwarded-host",
            apps.host_str().unwrap_or_default().to_owned(),
        ),
    ];
    for (name, value) in forwarded {
        if let Ok(v) = HeaderValue::from_str(&value) {
            headers.insert(HeaderName::from_static(name), v);
        }
    }
    if keep_upgrade {
        if let Some(upgrade) = upgrade {
            headers.insert(header::UPGRADE, upgrade);
            headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        }
    }
}

/// An app's response may not set or clear Burrow's cookies, widen a service worker's
/// scope, or wipe the origin's data: all apps share the apps origin.
fn clean_response_headers(headers: &mut HeaderMap, keep_upgrade: bool) {
    for name in &STRIPPED[..9] {
        if keep_upgrade && (*name == "upgrade" || *name == "connection") {
            continue;
        }
        headers.remove(*name);
    }
    headers.remove("service-worker-allowed");
    headers.remove("clear-site-data");
    let cookies: Vec<HeaderValue> = headers
        .get_all(header::SET_COOKIE)
        .iter()
        .filter(|v| {
            let name = v
                .to_str()
                .ok()
                .and_then(|c| c.split('=').next())
                .map(|n| n.trim().to_ascii_lowercase())
                .unwrap_or_default();
            !name.starts_with("burrow_")
        })
        .cloned()
        .collect();
    headers.remove(header::SET_COOKIE);
    for cookie in cookies {
        headers.append(header::SET_COOKIE, cookie);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apps_cannot_set_burrow_cookies_or_widen_workers() {
        let mut headers = HeaderMap::new();
        headers.append(
            header::SET_COOKIE,
            HeaderValue::from_static("burrow_view=x; Path=/"),
        );
        headers.append(
            header::SET_COOKIE,
            HeaderValue::from_static("Burrow_Session=y"),
        );
        headers.append(header::SET_COOKIE, HeaderValue::from_static("theirs=1"));
        headers.insert("service-worker-allowed", HeaderValue::from_static("/"));
        headers.insert("clear-site-data", HeaderValue::from_static("\"*\""));
        headers.insert(header::CONNECTION, HeaderValue::from_static("keep-alive"));
        clean_response_headers(&mut headers, false);
        let cookies: Vec<_> = headers.get_all(header::SET_COOKIE).iter().collect();
        assert_eq!(cookies, vec!["theirs=1"]);
        assert!(!headers.contains_key("service-worker-allowed"));
        assert!(!headers.contains_key("clear-site-data"));
        assert!(!headers.contains_key(header::CONNECTION));
    }

    #[test]
    fn suspicious_paths_are_caught() {
        for bad in [
            "/apps/a/../b",
            "/apps/a/%2e%2e/b",
            "/apps/a/%2F",
            "/apps/a/%252e",
            "/apps/a\\b",
            "/apps/a/./b",
        ] {
            assert!(suspicious_path(bad), "{bad}");
        }
        assert!(!suspicious_path("/apps/a/static/js/index.js"));
    }
}

/// Kept-alive HTTP connections to app sandboxes, by sandbox: a request takes an idle
/// one or opens a new one, and a connection goes back once it can take another request.
#[derive(Debug, Default)]
pub struct Upstreams {
    idle: parking_lot::Mutex<std::collections::HashMap<String, Vec<Sender>>>,
}

type Sender = hyper::client::conn::http1::SendRequest<Body>;

/// Idle connections kept per sandbox.
const MAX_IDLE: usize = 64;

impl Upstreams {
    fn take(&self, sandbox: &str) -> Option<Sender> {
        let mut idle = self.idle.lock();
        let senders = idle.get_mut(sandbox)?;
        while let Some(sender) = senders.pop() {
            if sender.is_ready() {
                return Some(sender);
            }
        }
        None
    }

    fn put(&self, sandbox: String, sender: Sender) {
        let mut idle = self.idle.lock();
        idle.retain(|_, senders| {
            senders.retain(|s| !s.is_closed());
            !senders.is_empty()
        });
        let senders = idle.entry(sandbox).or_default();
        if senders.len() < MAX_IDLE {
            senders.push(sender);
        }
    }
}

async fn open_upstream(
    state: &AppState,
    running: &burrow_apps::Running,
) -> Result<Sender, ApiError> {
    let stream = state
        .supervisor
        .connect(running)
        .await
        .map_err(|e| bad_gateway(e.to_string()))?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| bad_gateway(e.to_string()))?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(sender)
}

/// Sends one HTTP request to the app over a kept-alive connection and streams the answer back.
async fn forward(
    state: &AppState,
    running: &burrow_apps::Running,
    request: Request,
    client: SocketAddr,
) -> Result<Response, ApiError> {
    let (mut parts, body) = request.into_parts();
    clean_request_headers(state, &mut parts.headers, client, false);
    let limit = state.supervisor.options().max_upload_mb as usize * 1024 * 1024 + (1 << 20);
    let body = Body::new(http_body_util::Limited::new(body, limit));
    let mut request = hyper::Request::from_parts(parts, body);
    // An idle connection the app has meanwhile closed hands the request back; then a
    // fresh connection takes it.
    let mut sender = match state.upstreams.take(&running.sandbox) {
        Some(sender) => sender,
        None => open_upstream(state, running).await?,
    };
    let response = loop {
        match sender.try_send_request(request).await {
            Ok(response) => break response,
            Err(mut e) => match e.take_message() {
                Some(back) => {
                    request = back;
                    sender = open_upstream(state, running).await?;
                }
                None => {
                    let error = e.into_error();
                    return Err(if caused_by_length_limit(&error) {
                        ApiError::new(
                            StatusCode::PAYLOAD_TOO_LARGE,
                            "body_too_large",
                            "the request body is larger than the app accepts",
                        )
                    } else {
                        bad_gateway(error.to_string())
                    });
                }
            },
        }
    };
    let upstreams = Arc::clone(&state.upstreams);
    let sandbox = running.sandbox.clone();
    tokio::spawn(async move {
        if sender.ready().await.is_ok() {
            upstreams.put(sandbox, sender);
        }
    });
    let (mut parts, body) = response.into_parts();
    clean_response_headers(&mut parts.headers, false);
    Ok(Response::from_parts(
        parts,
        Body::new(body.map_err(axum::Error::new)),
    ))
}

/// Whether an upstream error came from the request body passing its limit.
fn caused_by_length_limit(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(error);
    while let Some(e) = cause {
        if e.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        cause = e.source();
    }
    false
}

fn bad_gateway(detail: String) -> ApiError {
    ApiError::new(
        StatusCode::BAD_GATEWAY,
        "app_unreachable",
        "the app did not answer: it may be restarting, so try again in a moment",
    )
    .with_detail(detail)
}

/// Passes a WebSocket upgrade to the app and, once it agrees, tunnels bytes both ways.
/// Messages from the viewer (not pings) count as activity.
async fn tunnel(
    state: &AppState,
    app_id: &str,
    upstream: tokio::net::TcpStream,
    mut request: Request,
    client: SocketAddr,
) -> Result<Response, ApiError> {
    let session = cookie_value(request.headers(), VIEW_COOKIE)
        .map(|token| SessionToken::from_client(&token).hash())
        .unwrap_or_default();
    let client_upgrade = hyper::upgrade::on(&mut request);
    let (mut parts, _) = request.into_parts();
    clean_request_headers(state, &mut parts.headers, client, true);
    let request = hyper::Request::from_parts(parts, Body::empty());
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(upstream))
        .await
        .map_err(|e| bad_gateway(e.to_string()))?;
    tokio::spawn(async move {
        let _ = connection.with_upgrades().await;
    });
    let mut response = sender
        .send_request(request)
        .await
        .map_err(|e| bad_gateway(e.to_string()))?;
    if response.status() != StatusCode::SWITCHING_PROTOCOLS {
        let (mut parts, body) = response.into_parts();
        clean_response_headers(&mut parts.headers, false);
        return Ok(Response::from_parts(
            parts,
            Body::new(body.map_err(axum::Error::new)),
        ));
    }
    let upstream_upgrade = hyper::upgrade::on(&mut response);
    let supervisor = state.supervisor.clone();
    let store = state.store.clone();
    let app_id = app_id.to_owned();
    tokio::spawn(async move {
        let (Ok(client_io), Ok(upstream_io)) = (client_upgrade.await, upstream_upgrade.await)
        else {
            return;
        };
        let (mut client_read, mut client_write) = tokio::io::split(TokioIo::new(client_io));
        let (mut upstream_read, mut upstream_write) = tokio::io::split(TokioIo::new(upstream_io));
        let inbound = async {
            let mut frames = crate::wsframes::Scanner::default();
            let mut buf = vec![0u8; 16 * 1024];
            loop {
                let n = match client_read.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                if frames.feed(&buf[..n]) {
                    supervisor.touch(&app_id);
                }
                if upstream_write.write_all(&buf[..n]).await.is_err() {
                    break;
                }
            }
            let _ = upstream_write.shutdown().await;
        };
        let outbound = async {
            let _ = tokio::io::copy(&mut upstream_read, &mut client_write).await;
            let _ = client_write.shutdown().await;
        };
        // The session and membership are checked again while the socket is open: a
        // viewer removed from the project, or whose session ended, is cut off.
        let revalidate = async {
            loop {
                tokio::time::sleep(REVALIDATE).await;
                let allowed = store.view_access(&session, &app_id).await;
                if !matches!(allowed, Ok(Some(true))) {
                    tracing::info!(app.id = %app_id, "Closed a WebSocket whose viewer lost access");
                    return;
                }
            }
        };
        tokio::select! {
            _ = async { tokio::join!(inbound, outbound) } => {}
            () = revalidate => {}
        }
    });
    let (mut parts, _) = response.into_parts();
    clean_response_headers(&mut parts.headers, true);
    Ok(Response::from_parts(parts, Body::empty()))
}
