//! App origins: the authenticated reverse proxy through which viewers reach apps.
//!
//! Every app is served from an origin of its own (`apps_url`, such as
//! `http://{app}.apps.localhost:8081`), all on one listener (`apps_listen`): the app is
//! the first label of the `Host`. So app JavaScript never shares an origin with the
//! platform's session cookie, nor with another app. A viewer arrives with a one-time
//! ticket minted by the platform for one app, which becomes a host-only view session
//! cookie valid for that app alone. Every request and every WebSocket upgrade is
//! checked against project membership; a non-member gets the same 404 as for a missing
//! app. Requests are streamed to the app's sandbox through `Runtime::connect`, and
//! WebSockets are tunnelled byte for byte.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{ConnectInfo, Query, Request, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Json, Router};
use burrow_core::SessionToken;
use http_body_util::BodyExt;
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::error::ApiError;
use crate::state::AppState;

/// The view session cookie: host-only, on one app's origin.
pub const VIEW_COOKIE: &str = "burrow_view";
/// A request's headers may total this many bytes; more is 431.
pub const MAX_HEADER_BYTES: usize = 32 * 1024;
/// How long a view ticket lasts.
pub const TICKET_SECS: i64 = 60;
/// How long a view session lasts.
pub const VIEW_SESSION_SECS: i64 = 12 * 3600;
/// How often an open WebSocket's access is checked again.
const REVALIDATE: std::time::Duration = std::time::Duration::from_secs(15);
/// View cookies looked at per request; more (planted by another app) are ignored.
const MAX_VIEW_COOKIES: usize = 4;
/// Paths under this prefix on an app's origin are Burrow's, never the app's.
const RESERVED: &str = "/_burrow/";

/// The router of the app origins.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/_burrow/ticket", get(redeem_ticket))
        .route("/_burrow/status", get(status))
        .fallback(proxy)
        .layer(axum::middleware::from_fn(limit_headers))
        .with_state(state)
}

/// Whether `next` is a path on the same origin: absolute, with no authority, no
/// backslash and no control characters, so a redirect to it stays on the app's origin.
pub fn is_local_path(next: &str) -> bool {
    next.starts_with('/')
        && !next.starts_with("//")
        && !next.contains('\\')
        && !next.chars().any(char::is_control)
}

/// The app whose origin a request was sent to, from its `Host`.
fn requested_app(state: &AppState, headers: &HeaderMap) -> Option<String> {
    let host = headers.get(header::HOST)?.to_str().ok()?;
    state.config.apps_url().app_in_host(host).map(str::to_owned)
}

fn no_app_here(state: &AppState) -> Response {
    ApiError::not_found(
        "app_not_found",
        format!(
            "no app is served at this address: apps live at {}, opened from Burrow",
            state.config.apps_url()
        ),
    )
    .into_response()
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

/// Redeems a one-time ticket for a view session cookie on this app's origin, then
/// goes on to the app. A ticket for another app is refused (and used up).
async fn redeem_ticket(
    State(state): State<AppState>,
    Query(q): Query<TicketQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let Some(here) = requested_app(&state, &headers) else {
        return Ok(no_app_here(&state));
    };
    let hash = SessionToken::from_client(&q.ticket).hash();
    let invalid = || {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_ticket",
            "this link has expired or was already used: open the app again from Burrow",
        )
    };
    let (user, app) = state
        .store
        .redeem_view_ticket(&hash)
        .await
        .map_err(|_| invalid())?;
    if app != here {
        return Err(invalid());
    }
    let token = SessionToken::generate();
    state
        .store
        .insert_view_session(
            &token.hash(),
            &user,
            &app,
            burrow_store::now_ms() + VIEW_SESSION_SECS * 1000,
        )
        .await?;
    let next = q
        .next
        .filter(|n| is_local_path(n))
        .unwrap_or_else(|| "/".into());
    let secure = if state.config.apps_url().is_https() {
        "; Secure"
    } else {
        ""
    };
    // No Domain attribute: the cookie goes back to this app's host only.
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

fn app_not_found() -> ApiError {
    ApiError::not_found(
        "app_not_found",
        "there is no such app, or you are not a member of its project",
    )
}

/// Checks the viewer may see the app: a view session for this app whose user is a
/// member of its project, on every request, in one query per cookie presented. Returns
/// the session's hash. Unknown viewers are sent through the platform's sign-in;
/// non-members get the same 404 as for a missing app.
async fn authorize(
    state: &AppState,
    app_id: &str,
    headers: &HeaderMap,
    uri: &Uri,
) -> Result<String, Response> {
    let mut member_elsewhere = false;
    // A few values at most: each costs a query, and a browser sends this app's own
    // cookie among the first.
    for token in crate::extract::cookie_values(headers, VIEW_COOKIE).take(MAX_VIEW_COOKIES) {
        let hash = SessionToken::from_client(token).hash();
        match state
            .store
            .view_access(&hash, app_id)
            .await
            .map_err(|e| ApiError::from(e).into_response())?
        {
            Some(true) => return Ok(hash),
            Some(false) => member_elsewhere = true,
            None => {}
        }
    }
    if member_elsewhere {
        return Err(app_not_found().into_response());
    }
    let mut open = state.config.public_url();
    open.set_path(&format!("/api/v1/apps/{app_id}/open"));
    open.query_pairs_mut()
        .append_pair("next", uri.path_and_query().map_or("/", |p| p.as_str()));
    Err(Redirect::to(open.as_str()).into_response())
}

/// The status the loading page polls.
async fn status(State(state): State<AppState>, headers: HeaderMap, uri: Uri) -> Response {
    let Some(app_id) = requested_app(&state, &headers) else {
        return no_app_here(&state);
    };
    if let Err(response) = authorize(&state, &app_id, &headers, &uri).await {
        return response;
    }
    match state.store.find_app(&app_id).await {
        Ok(app) => Json(serde_json::json!({
            "status": app.status.as_str(),
            "last_error": app.last_error,
            "restart_count": app.restart_count,
        }))
        .into_response(),
        Err(e) => ApiError::from(e).into_response(),
    }
}

/// Whether a path has `.`/`..` segments, encoded dots or separators, or double
/// encoding: such paths are refused rather than normalised differently here and in
/// the app.
fn suspicious_path(path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    lower.contains("%2f")
        || lower.contains("%5c")
        || lower.contains("%2e")
        || lower.contains("%25")
        || path.contains('\\')
        || path.split('/').any(|seg| seg == "." || seg == "..")
}

/// A request that another page of the same site (another app's origin) made from
/// script, a frame's subresource or a form: browsers say so in `Sec-Fetch-Site`.
/// Top-level GET navigations (a link from elsewhere) are allowed; everything else from
/// another app, form POSTs included, is refused, so no app can act on another with its
/// viewer's cookie.
fn from_another_app(method: &Method, headers: &HeaderMap) -> bool {
    let value = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let navigation = value("sec-fetch-mode") == Some("navigate")
        && value("sec-fetch-dest") == Some("document")
        && matches!(*method, Method::GET | Method::HEAD);
    value("sec-fetch-site") == Some("same-site") && !navigation
}
async fn proxy(
    State(state): State<AppState>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    request: Request,
) -> Response {
    let Some(app_id) = requested_app(&state, request.headers()) else {
        return no_app_here(&state);
    };
    let path = request.uri().path();
    if path.starts_with(RESERVED) {
        return ApiError::not_found(
            "route_not_found",
            format!("{RESERVED} is Burrow's: apps cannot serve paths under it"),
        )
        .into_response();
    }
    if suspicious_path(path) {
        return ApiError::bad_request(
            "invalid_path",
            "the path has . or .. segments or encoded separators",
        )
        .into_response();
    }
    let session = match authorize(&state, &app_id, request.headers(), request.uri()).await {
        Ok(session) => session,
        Err(response) => return response,
    };
    if from_another_app(request.method(), request.headers()) {
        return ApiError::forbidden(
            "cross_app_request",
            "this request came from another app's page: apps cannot use each other",
        )
        .into_response();
    }
    // Defence in depth: an app's origin is its own, but a service worker would outlive
    // the app's versions and keep serving what a viewer once saw.
    if request.headers().contains_key("service-worker") {
        return ApiError::forbidden(
            "service_worker",
            "service workers are not allowed on app origins",
        )
        .into_response();
    }
    let upgrade = is_websocket(request.headers());
    if upgrade && !same_origin(&state, &app_id, request.headers()) {
        return ApiError::forbidden(
            "foreign_origin",
            "WebSocket connections are accepted only from the app's own origin",
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
            Ok(upstream) => tunnel(&state, &app_id, &session, upstream, request, client).await,
            Err(_) => return waking(&state, &app_id, wants_page).await,
        }
    } else {
        forward(&state, &app_id, &running, request, client).await
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
    if app.status != burrow_store::AppStatus::Error {
        let supervisor = state.supervisor.clone();
        let id = app_id.to_owned();
        tokio::spawn(async move {
            if let Err(e) = supervisor.ensure_running(&id).await {
                tracing::warn!(app.id = %id, error = %e, "App did not start");
            }
        });
    }
    if wants_page {
        let page = crate::loading::page(&app.name);
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

/// Whether the request's `Origin` is exactly this app's origin.
fn same_origin(state: &AppState, app_id: &str, headers: &HeaderMap) -> bool {
    let expected = state.config.apps_url().origin_string(app_id);
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
    app_id: &str,
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
    // Neither our view session nor the platform's session (should the platform share
    // a parent domain) reaches app code; the app's own cookies do.
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
    let origin = state.config.apps_url().origin(app_id);
    let forwarded = [
        ("x-forwarded-for", client.ip().to_string()),
        ("x-forwarded-proto", origin.scheme().to_owned()),
        (
            "x-forwarded-host",
            origin.host_str().unwrap_or_default().to_owned(),
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

/// An app's response may not set or clear Burrow's cookies (its view session), nor
/// allow service workers or wipe the origin's data, where Burrow's state lives too.
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
        for bad in ["/a/../b", "/%2e%2e/b", "/a/%2F", "/%252e", "/a\\b", "/./b"] {
            assert!(suspicious_path(bad), "{bad}");
        }
        assert!(!suspicious_path("/static/js/index.js"));
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

    #[test]
    fn only_navigations_come_in_from_other_apps() {
        let headers = |site: &str, mode: &str, dest: &str| {
            let mut h = HeaderMap::new();
            h.insert("sec-fetch-site", HeaderValue::from_str(site).unwrap());
            h.insert("sec-fetch-mode", HeaderValue::from_str(mode).unwrap());
            h.insert("sec-fetch-dest", HeaderValue::from_str(dest).unwrap());
            h
        };
        let get = Method::GET;
        assert!(from_another_app(
            &get,
            &headers("same-site", "cors", "empty")
        ));
        assert!(from_another_app(
            &get,
            &headers("same-site", "no-cors", "image")
        ));
        assert!(from_another_app(
            &get,
            &headers("same-site", "navigate", "iframe")
        ));
        assert!(from_another_app(
            &get,
            &headers("same-site", "websocket", "websocket")
        ));
        assert!(!from_another_app(
            &get,
            &headers("same-site", "navigate", "document")
        ));
        assert!(!from_another_app(
            &get,
            &headers("same-origin", "cors", "empty")
        ));
        assert!(!from_another_app(
            &get,
            &headers("cross-site", "navigate", "document")
        ));
        assert!(!from_another_app(&get, &HeaderMap::new()));
        assert!(
            from_another_app(&Method::POST, &headers("same-site", "navigate", "document")),
            "a form POST from another app is refused"
        );
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
    app_id: &str,
    running: &burrow_apps::Running,
    request: Request,
    client: SocketAddr,
) -> Result<Response, ApiError> {
    let (mut parts, body) = request.into_parts();
    clean_request_headers(state, app_id, &mut parts.headers, client, false);
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
    session: &str,
    upstream: burrow_sandbox::Connection,
    mut request: Request,
    client: SocketAddr,
) -> Result<Response, ApiError> {
    let session = session.to_owned();
    let client_upgrade = hyper::upgrade::on(&mut request);
    let (mut parts, _) = request.into_parts();
    clean_request_headers(state, app_id, &mut parts.headers, client, true);
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
