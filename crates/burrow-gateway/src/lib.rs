//! The gateway: the authenticated reverse proxy through which viewers reach what runs in
//! sandboxes, each destination (an app today, a workspace's preview later) on an origin
//! of its own.
//!
//! It knows nothing of Streamlit nor of what a destination is: a [`Destinations`]
//! implementation says which destination a `Host` names, who may see it (through the
//! one authorization path in `burrow_service::access`), and how to wake and reach it.
//! [`apps::Apps`] is the one for apps (`apps_url`, such as
//! `http://{app}.apps.localhost:8081`, all on one listener, `apps_listen`). So a
//! destination's JavaScript never shares an origin with the platform's session cookie,
//! nor with another destination. A viewer arrives with a one-time ticket minted by the
//! platform for one destination, which becomes a host-only view session cookie valid for
//! that one alone. Every request and every WebSocket upgrade is checked again; a viewer
//! who may not see it gets the same 404 as for a missing one. Requests are streamed to
//! the sandbox over kept-alive connections ([`upstream`]), and WebSockets are tunnelled
//! byte for byte, their access checked again while they stay open.

pub mod apps;
mod h1;
mod loading;
pub mod upstream;
mod viewer;
mod workers;
mod wsframes;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{Query, Request, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Json;
use axum::Router;
use burrow_sandbox::Connection;
use burrow_service::access::{is_local_path, ViewAccess, VIEW_SESSION_SECS};
use burrow_service::http::{cookies_named, RouteName};
use burrow_service::{Error, Kind};
use h1::Fields;
use serde::Deserialize;
use url::Url;

/// The view session cookie: host-only, on one destination's origin.
pub const VIEW_COOKIE: &str = "burrow_view";
/// A request's headers may total this many bytes; more is 431.
pub const MAX_HEADER_BYTES: usize = 32 * 1024;
/// View cookies looked at per request; more (planted by another origin) are ignored.
const MAX_VIEW_COOKIES: usize = 4;
/// Paths under this prefix on a destination's origin are Burrow's, never its own.
const RESERVED: &str = "/_burrow/";

/// Where the gateway's requests go. One implementation per kind of destination.
#[async_trait::async_trait]
pub trait Destinations: Send + Sync + 'static {
    /// A running destination, as the gateway reaches it.
    type Target: Send + Sync + 'static;

    /// The destination a request's `Host` names, if any.
    fn find(&self, host: &str) -> Option<String>;
    /// The destination's origin, exactly as browsers send it in `Origin`.
    fn origin(&self, id: &str) -> Url;
    /// The refusal for a host that names no destination, saying where they live.
    fn nowhere(&self) -> Error;
    /// The refusal for a viewer whose session the destination no longer grants: the
    /// same as for a missing destination, so ids cannot be probed.
    fn refused(&self) -> Error;
    /// Where a visitor without a view session goes: the platform's page that signs them
    /// in and comes back with a ticket, to `next` (a path on the destination's origin).
    fn sign_in(&self, id: &str, next: &str) -> Url;
    /// Redeems a one-time ticket on `id`'s origin for a new view session's token.
    async fn redeem(
        &self,
        id: &str,
        ticket: &str,
    ) -> Result<Option<burrow_core::SessionToken>, Error>;
    /// What a view session (by its token's hash) may do with `id`. Asked on every
    /// request, so its future is not boxed.
    fn access(
        &self,
        id: &str,
        session_hash: &str,
    ) -> impl std::future::Future<Output = Result<ViewAccess, Error>> + Send;
    /// The destination's state, which the loading page polls.
    async fn status(&self, id: &str) -> Result<serde_json::Value, Error>;
    /// The destination if it runs now. A viewer's request is what asks, so this counts
    /// as activity, as [`touch`](Self::touch) does.
    fn visit(&self, id: &str) -> Option<Self::Target>;
    /// Starts the destination if it may start (once, however many ask), and returns the
    /// name the loading page shows; an error if it cannot start.
    async fn wake(&self, id: &str) -> Result<String, Error>;
    /// A viewer connection reuses its kept-alive upstream connection only for the same
    /// key (the sandbox).
    fn upstream_key(target: &Self::Target) -> &str;
    /// A new connection to the running destination.
    async fn connect(&self, target: &Self::Target) -> Result<Connection, Error>;
    /// A viewer did something: the destination is in use.
    fn touch(&self, id: &str);
    /// The largest request body the destination accepts.
    fn max_body_bytes(&self) -> usize;
    /// How often an open WebSocket's access is checked again, at the latest.
    fn recheck_every(&self) -> std::time::Duration;
    /// What changes when a view may have been taken away, on any replica (an `access`
    /// event): open WebSockets check their access again at once; `None` if it cannot
    /// be followed.
    async fn access_changes(&self) -> Option<tokio::sync::watch::Receiver<u64>>;
}

/// The gateway's state: its destinations. Upstream connections belong to the viewer
/// connections that opened them ([`Affinity`]).
#[derive(Debug)]
pub struct Gateway<D: Destinations> {
    destinations: D,
}

impl<D: Destinations> Gateway<D> {
    pub fn new(destinations: D) -> Arc<Self> {
        Arc::new(Self { destinations })
    }
}

type State_<D> = State<Arc<Gateway<D>>>;

/// Burrow's own routes on the destinations' origins (under [`RESERVED`]), with the
/// request-observing layer. Everything else on those origins is the destination's.
fn reserved_routes<D: Destinations>(gateway: Arc<Gateway<D>>) -> Router {
    Router::new()
        .route("/_burrow/ticket", get(redeem_ticket::<D>))
        .route("/_burrow/status", get(status::<D>))
        .fallback(reserved_elsewhere::<D>)
        .layer(axum::middleware::from_fn(limit_headers))
        .layer(axum::middleware::from_fn(burrow_service::http::observe))
        .with_state(gateway)
}

/// Any other path under [`RESERVED`]: a host that names no destination says so first,
/// as for any request; counted as the destination's, as proxied requests are.
async fn reserved_elsewhere<D: Destinations>(
    State(gateway): State_<D>,
    headers: HeaderMap,
) -> Response {
    let mut response = match requested(&gateway, &headers) {
        Ok(_) => Error::not_found(
            "route_not_found",
            format!("{RESERVED} is Burrow's: apps cannot serve paths under it"),
        )
        .into_response(),
        Err(e) => e.into_response(),
    };
    response.extensions_mut().insert(RouteName("destination"));
    response
}

/// Serves the destinations' origins on `listener` until dropped: HTTP/1.1 with
/// WebSocket upgrades, each connection served by hand ([`viewer`]). Burrow's few routes
/// go through a router; every other request is checked and forwarded.
pub async fn serve<D: Destinations>(gateway: Arc<Gateway<D>>, listener: tokio::net::TcpListener) {
    let routes = reserved_routes(Arc::clone(&gateway));
    loop {
        let (stream, client) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of file descriptors and the like: wait rather than spin. A
                // connection reset before it was accepted is nothing.
                if !matches!(
                    e.kind(),
                    std::io::ErrorKind::ConnectionAborted | std::io::ErrorKind::ConnectionReset
                ) {
                    tracing::error!(error = %e, "The apps origin could not accept a connection");
                    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                }
                continue;
            }
        };
        burrow_service::http::no_delay(&stream);
        let (gateway, routes) = (Arc::clone(&gateway), routes.clone());
        workers::hand(
            stream,
            Box::new(move |stream| Box::pin(viewer::serve(gateway, routes, stream, client))),
        );
    }
}

/// The destination whose origin a request was sent to, from its `Host`.
fn requested<D: Destinations>(
    gateway: &Gateway<D>,
    headers: &impl Fields,
) -> Result<String, Error> {
    headers
        .first_text("host")
        .and_then(|host| gateway.destinations.find(host))
        .ok_or_else(|| gateway.destinations.nowhere())
}

/// 431 when the request's headers are larger than [`MAX_HEADER_BYTES`].
async fn limit_headers(request: Request, next: axum::middleware::Next) -> Response {
    let size = request
        .headers()
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len() + 4)
        .sum();
    match too_many_header_bytes(size) {
        Some(refusal) => refusal.into_response(),
        None => next.run(request).await,
    }
}

/// The refusal of `size` bytes of headers (each name and value, and 4 bytes more), if
/// they are more than [`MAX_HEADER_BYTES`].
fn too_many_header_bytes(size: usize) -> Option<Error> {
    (size > MAX_HEADER_BYTES).then(|| too_many_header_bytes_error(size))
}

/// The refusal of `size` bytes of headers.
fn too_many_header_bytes_error(size: usize) -> Error {
    Error::new(
        Kind::HeadersTooLarge,
        "headers_too_large",
        format!(
            "the request's headers total {size} bytes or more, more than {MAX_HEADER_BYTES}: clear this site's cookies"
        ),
    )
}

#[derive(Debug, Deserialize)]
struct TicketQuery {
    ticket: String,
    next: Option<String>,
}

/// Redeems a one-time ticket for a view session cookie on this destination's origin,
/// then goes on to it. A ticket for another destination is refused (and used up).
async fn redeem_ticket<D: Destinations>(
    State(gateway): State_<D>,
    Query(q): Query<TicketQuery>,
    headers: HeaderMap,
) -> Result<Response, Error> {
    let here = requested(&gateway, &headers)?;
    let Some(token) = gateway.destinations.redeem(&here, &q.ticket).await? else {
        return Err(Error::new(
            Kind::Unauthenticated,
            "invalid_ticket",
            "this link has expired or was already used: open it again from Burrow",
        ));
    };
    let next = q
        .next
        .filter(|n| is_local_path(n))
        .unwrap_or_else(|| "/".into());
    let secure = if gateway.destinations.origin(&here).scheme() == "https" {
        "; Secure"
    } else {
        ""
    };
    // No Domain attribute: the cookie goes back to this destination's host only.
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

/// Checks the viewer may see the destination: a view session for it that the
/// destination still grants, on every request, in one query per cookie presented.
/// Returns the session's hash. Unknown viewers are sent through the platform's sign-in;
/// refused ones get the same 404 as for a missing destination.
async fn authorize<D: Destinations>(
    gateway: &Gateway<D>,
    id: &str,
    headers: &impl Fields,
    uri: &Uri,
    sessions: &mut Sessions,
) -> Result<String, Response> {
    let mut refused = false;
    // A few values at most: each costs a query, and a browser sends this origin's own
    // cookie among the first.
    let cookies = cookies_named(headers.values("cookie"), VIEW_COOKIE);
    for token in cookies.take(MAX_VIEW_COOKIES) {
        let hash = sessions.hash(token);
        match gateway.destinations.access(id, &hash).await {
            Ok(ViewAccess::Granted) => return Ok(hash),
            Ok(ViewAccess::Refused) => refused = true,
            Ok(ViewAccess::Unknown) => {}
            Err(e) => return Err(e.into_response()),
        }
    }
    if refused {
        return Err(gateway.destinations.refused().into_response());
    }
    let next = uri.path_and_query().map_or("/", |p| p.as_str());
    Err(Redirect::to(gateway.destinations.sign_in(id, next).as_str()).into_response())
}

/// The view session token a connection sent last, with its hash: a kept-alive
/// connection sends the same one with every request, and it is hashed once.
#[derive(Debug, Default)]
pub(crate) struct Sessions(Option<(String, String)>);

impl Sessions {
    fn hash(&mut self, token: &str) -> String {
        match &self.0 {
            Some((known, hash)) if known == token => hash.clone(),
            _ => {
                let hash = burrow_core::SessionToken::from_client(token).hash();
                self.0 = Some((token.to_owned(), hash.clone()));
                hash
            }
        }
    }
}

/// The status the loading page polls.
async fn status<D: Destinations>(
    State(gateway): State_<D>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let id = match requested(&gateway, &headers) {
        Ok(id) => id,
        Err(e) => return e.into_response(),
    };
    if let Err(response) = authorize(&gateway, &id, &headers, &uri, &mut Sessions::default()).await
    {
        return response;
    }
    match gateway.destinations.status(&id).await {
        Ok(status) => Json(status).into_response(),
        Err(e) => e.into_response(),
    }
}

/// Whether a path has `.`/`..` segments, encoded dots or separators, or double
/// encoding: such paths are refused rather than normalised differently here and in
/// the app.
fn suspicious_path(path: &str) -> bool {
    let encoded = path.as_bytes().windows(3).any(|w| {
        w[0] == b'%'
            && matches!(
                [w[1], w[2].to_ascii_lowercase()],
                [b'2', b'f'] | [b'5', b'c'] | [b'2', b'e'] | [b'2', b'5']
            )
    });
    encoded || path.contains('\\') || path.split('/').any(|seg| seg == "." || seg == "..")
}

/// A request that another page of the same site (another app's origin) made from
/// script, a frame's subresource or a form: browsers say so in `Sec-Fetch-Site`.
/// Top-level GET navigations (a link from elsewhere) are allowed; everything else from
/// another app, form POSTs included, is refused, so no app can act on another with its
/// viewer's cookie.
fn from_another_origin(method: &Method, headers: &impl Fields) -> bool {
    let value = |name| headers.first_text(name);
    let navigation = value("sec-fetch-mode") == Some("navigate")
        && value("sec-fetch-dest") == Some("document")
        && matches!(*method, Method::GET | Method::HEAD);
    value("sec-fetch-site") == Some("same-site") && !navigation
}
/// A request the checks let through: to destination `id`, by the view session
/// `session` (its token's hash).
#[derive(Debug)]
pub(crate) struct Admitted {
    pub id: String,
    pub session: String,
}

/// What the checks every request on a destination's origin passes made of one.
#[derive(Debug)]
pub(crate) enum Admission {
    Admitted(Admitted),
    /// Answered without the destination: a sign-in redirect, or a refusal.
    Answered(Response),
}

/// Checks a request to a destination's origin: the destination its `Host` names, its
/// path, the viewer's session (hashed once per connection, `sessions`) and access, and
/// where it came from.
pub(crate) async fn admit<D: Destinations>(
    gateway: &Gateway<D>,
    method: &Method,
    uri: &Uri,
    headers: &h1::Head,
    sessions: &mut Sessions,
) -> Result<Admission, Error> {
    let id = requested(gateway, headers)?;
    if suspicious_path(uri.path()) {
        return Err(Error::bad_request(
            "invalid_path",
            "the path has . or .. segments or encoded separators",
        ));
    }
    let session = match authorize(gateway, &id, headers, uri, sessions).await {
        Ok(session) => session,
        Err(response) => return Ok(Admission::Answered(response)),
    };
    if from_another_origin(method, headers) {
        return Err(Error::forbidden(
            "cross_app_request",
            "this request came from another app's page: apps cannot use each other",
        ));
    }
    // Defence in depth: a destination's origin is its own, but a service worker would
    // outlive its versions and keep serving what a viewer once saw.
    if headers.first("service-worker").is_some() {
        return Err(Error::forbidden(
            "service_worker",
            "service workers are not allowed on app origins",
        ));
    }
    Ok(Admission::Admitted(Admitted { id, session }))
}

/// The destination is not running: wake it and show the loading page to a browser, or
/// 503 with Retry-After to anything else.
async fn waking<D: Destinations>(
    destinations: &D,
    id: &str,
    wants_page: bool,
) -> Result<Response, Error> {
    let name = destinations.wake(id).await?;
    if wants_page {
        return Ok((
            StatusCode::OK,
            [(header::CACHE_CONTROL, "no-store")],
            Html(loading::page(&name)),
        )
            .into_response());
    }
    let mut e = Error::new(
        Kind::Unavailable,
        "app_starting",
        "the app is starting: try again in a moment",
    );
    e.retry_after_secs = Some(2);
    Err(e)
}

fn is_websocket(headers: &h1::Head) -> bool {
    headers
        .first_text("upgrade")
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}

/// Whether the request's `Origin` is exactly the destination's origin.
fn same_origin(origin: &Url, headers: &h1::Head) -> bool {
    let expected = origin.origin().ascii_serialization();
    headers
        .first_text("origin")
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

/// The `X-Forwarded-*` values a destination is sent: the viewer's address, and the
/// destination origin's scheme and host. Made once per viewer connection and destination.
#[derive(Debug, Clone)]
pub(crate) struct Forwarded([(HeaderName, Option<HeaderValue>); 3]);

impl Forwarded {
    pub(crate) fn new(origin: &Url, client: SocketAddr) -> Self {
        let value = |v: &str| HeaderValue::from_str(v).ok();
        Self([
            (
                HeaderName::from_static("x-forwarded-for"),
                value(&client.ip().to_string()),
            ),
            (
                HeaderName::from_static("x-forwarded-proto"),
                value(origin.scheme()),
            ),
            (
                HeaderName::from_static("x-forwarded-host"),
                value(origin.host_str().unwrap_or_default()),
            ),
        ])
    }
}

/// Whether a request header (its name in any case) is never passed on: [`STRIPPED`],
/// ours to set, or one that claims to be Burrow's.
fn stripped(name: &[u8]) -> bool {
    let is = |s: &str| s.len() == name.len() && name.eq_ignore_ascii_case(s.as_bytes());
    // Most headers are none of these: told apart by length first, without a search.
    STRIPPED.iter().any(|s| is(s))
        || is("cookie")
        || is("expect")
        || is("content-length")
        || name
            .get(..9)
            .is_some_and(|prefix| prefix.eq_ignore_ascii_case(b"x-burrow-"))
}

/// Writes the request head a destination is sent, in one pass over the viewer's: without
/// hop-by-hop headers, claims of identity or path, or Burrow's cookies; with Burrow's
/// `X-Forwarded-*` values; and with the body's length as `framing` says it, in one value.
/// An upgrade (`upgrade`) keeps its `Upgrade`.
fn write_forwarded_request(
    out: &mut Vec<u8>,
    method: &Method,
    uri: &Uri,
    headers: &h1::Head,
    forwarded: &Forwarded,
    upgrade: bool,
    framing: h1::Framing,
) {
    h1::write_request_line(out, method, uri);
    for (name, value) in headers.iter() {
        if !stripped(name) {
            h1::write_field(out, name, value);
        }
    }
    // None of Burrow's cookies (the view session, or the platform's session should the
    // platform share a parent domain) reaches the destination; its own cookies do, in
    // one header. A value that is not text is dropped whole: it could hide one of
    // Burrow's.
    let mut cookies = headers
        .values("cookie")
        .filter_map(h1::text)
        .flat_map(|v| v.split(';'))
        .map(str::trim)
        .filter(|c| !c.is_empty() && !is_burrows(c.split('=').next().unwrap_or_default().trim()))
        .peekable();
    if cookies.peek().is_some() {
        out.extend_from_slice(b"cookie: ");
        for (i, cookie) in cookies.enumerate() {
            if i > 0 {
                out.extend_from_slice(b"; ");
            }
            out.extend_from_slice(cookie.as_bytes());
        }
        out.extend_from_slice(b"\r\n");
    }
    for (name, value) in &forwarded.0 {
        if let Some(value) = value {
            h1::write_field(out, name.as_str().as_bytes(), value.as_bytes());
        }
    }
    if upgrade {
        if let Some(value) = headers.first("upgrade") {
            h1::write_field(out, b"upgrade", value);
            h1::write_field(out, b"connection", b"upgrade");
        }
    }
    match framing {
        h1::Framing::Length(n) => {
            h1::write_length(out, n);
        }
        h1::Framing::Chunked => h1::write_field(out, b"transfer-encoding", b"chunked"),
        // A length the viewer gave as 0 stays said; an upgrade has none.
        h1::Framing::Empty if !upgrade && headers.first("content-length").is_some() => {
            h1::write_field(out, b"content-length", b"0");
        }
        h1::Framing::Empty | h1::Framing::UntilClose => {}
    }
    h1::end_head(out);
}

/// Whether a cookie name is Burrow's own (`burrow_…`, in any case).
fn is_burrows(name: &str) -> bool {
    name.get(..7)
        .is_some_and(|prefix| prefix.eq_ignore_ascii_case("burrow_"))
}

/// Whether a header of an app's answer reaches the viewer. An app may not set or clear
/// Burrow's cookies (its view session), nor allow service workers or wipe the origin's
/// data, where Burrow's state lives too; hop-by-hop headers are the gateway's own
/// (`Upgrade` and `Connection` pass in a 101 that `upgrade` accepts).
fn answer_field_kept(name: &[u8], value: &[u8], upgrade: bool) -> bool {
    let is = |s: &str| name.eq_ignore_ascii_case(s.as_bytes());
    if STRIPPED[..9].iter().any(|s| s.len() == name.len() && is(s)) {
        return upgrade && (is("upgrade") || is("connection"));
    }
    if is("service-worker-allowed") || is("clear-site-data") {
        return false;
    }
    // Read as bytes: a value that is not text (obs-text, which browsers store) is judged
    // by its name all the same.
    !(is("set-cookie")
        && value
            .split(|b| *b == b'=')
            .next()
            .unwrap_or_default()
            .trim_ascii()
            .get(..7)
            .is_some_and(|prefix| prefix.eq_ignore_ascii_case(b"burrow_")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apps_cannot_set_burrow_cookies_or_widen_workers() {
        let kept = |name: &str, value: &[u8]| answer_field_kept(name.as_bytes(), value, false);
        assert!(!kept("set-cookie", b"burrow_view=x; Path=/"));
        assert!(!kept("Set-Cookie", b"Burrow_Session=y"));
        assert!(kept("set-cookie", b"theirs=1"));
        assert!(!kept("set-cookie", b"burrow_view=fixed; Path=/; x=\xe9"));
        assert!(!kept("service-worker-allowed", b"/"));
        assert!(!kept("Clear-Site-Data", b"\"*\""));
        assert!(!kept("connection", b"keep-alive"));
        assert!(!kept("transfer-encoding", b"chunked"));
        assert!(kept("content-type", b"text/html"));
        // A 101 keeps what says what it switched to.
        assert!(answer_field_kept(b"Upgrade", b"websocket", true));
        assert!(answer_field_kept(b"connection", b"upgrade", true));
        assert!(!answer_field_kept(b"keep-alive", b"timeout=5", true));
    }

    #[test]
    fn burrows_cookies_and_claims_never_reach_the_destination() {
        let origin = Url::parse("http://abc.apps.localhost:8081/").unwrap();
        let client: SocketAddr = "10.1.2.3:5000".parse().unwrap();
        // The head written for the destination, read back.
        let clean = |pairs: &[(&str, &[u8])]| {
            let mut viewer = b"GET /x?y=1 HTTP/1.1\r\n".to_vec();
            for (name, value) in pairs {
                viewer.extend_from_slice(name.as_bytes());
                viewer.extend_from_slice(b": ");
                viewer.extend_from_slice(value);
                viewer.extend_from_slice(b"\r\n");
            }
            viewer.extend_from_slice(b"\r\n");
            let h1::Parsed::Complete(sent) = h1::request(&mut bytes::BytesMut::from(&viewer[..]))
            else {
                panic!("not a request: {}", String::from_utf8_lossy(&viewer));
            };
            let headers = sent.headers;
            let mut out = Vec::new();
            write_forwarded_request(
                &mut out,
                &Method::GET,
                &Uri::from_static("/x?y=1"),
                &headers,
                &Forwarded::new(&origin, client),
                false,
                h1::Framing::Empty,
            );
            match h1::request(&mut bytes::BytesMut::from(&out[..])) {
                h1::Parsed::Complete(request) => {
                    assert_eq!(request.uri, "/x?y=1");
                    request.headers.to_map().unwrap()
                }
                _ => panic!("not a request: {}", String::from_utf8_lossy(&out)),
            }
        };
        let cookies = |h: &HeaderMap| -> Vec<String> {
            h.get_all(header::COOKIE)
                .iter()
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                .collect()
        };

        let h = clean(&[
            ("cookie", b"burrow_view=secret; theirs=1"),
            ("cookie", b"BURROW_session=s2;other=2"),
            ("x-burrow-user", b"admin"),
            ("x-forwarded-for", b"1.1.1.1"),
            ("authorization", b"Bearer t"),
            ("connection", b"keep-alive"),
            ("accept", b"*/*"),
        ]);
        assert_eq!(cookies(&h), vec!["theirs=1; other=2"]);
        for gone in ["x-burrow-user", "authorization", "connection"] {
            assert!(!h.contains_key(gone), "{gone}");
        }
        // Names are read in any case, as a viewer may send them.
        let h = clean(&[
            ("Cookie", b"Burrow_View=secret; theirs=1"),
            ("X-Burrow-User", b"admin"),
            ("X-Forwarded-For", b"1.1.1.1"),
            ("AUTHORIZATION", b"Bearer t"),
            ("Content-Length", b"5"),
            ("Expect", b"100-continue"),
            ("Accept", b"*/*"),
        ]);
        assert_eq!(cookies(&h), vec!["theirs=1"]);
        for gone in ["x-burrow-user", "authorization", "expect"] {
            assert!(!h.contains_key(gone), "{gone}");
        }
        // The length is the framing's (here, none), not the viewer's.
        assert_eq!(h.get_all(header::CONTENT_LENGTH).iter().count(), 1);
        assert_eq!(h[header::CONTENT_LENGTH], "0");
        assert_eq!(h["x-forwarded-for"], "10.1.2.3");
        assert_eq!(h.get_all("x-forwarded-for").iter().count(), 1);
        assert_eq!(h["accept"], "*/*");
        assert_eq!(h["x-forwarded-for"], "10.1.2.3");
        assert_eq!(h["x-forwarded-host"], "abc.apps.localhost");
        assert_eq!(h["x-forwarded-proto"], "http");
        assert_eq!(h["accept"], "*/*");

        // A value that is not text is dropped whole, whatever it hides.
        let h = clean(&[("cookie", b"burrow_view=secret; x=\xff")]);
        assert!(cookies(&h).is_empty());
        // Only Burrow's: no cookie header is left at all.
        let h = clean(&[("cookie", b"burrow_view=secret")]);
        assert!(!h.contains_key(header::COOKIE));
        // Only the destination's own: passed on, in one header.
        let h = clean(&[("cookie", b"a=1;b=2")]);
        assert_eq!(cookies(&h), vec!["a=1; b=2"]);
        // The length is given once, as the framing says; an expectation is Burrow's.
        let h = clean(&[("content-length", b"0"), ("expect", b"100-continue")]);
        assert_eq!(h[header::CONTENT_LENGTH], "0");
        assert!(!h.contains_key(header::EXPECT));
    }

    #[test]
    fn suspicious_paths_are_caught() {
        for bad in [
            "/a/../b",
            "/%2e%2e/b",
            "/%2E./b",
            "/a/%2F",
            "/a/%2f",
            "/a%5Cb",
            "/a%5cb",
            "/%252e",
            "/a\\b",
            "/./b",
            "/a/..",
            "%2e",
        ] {
            assert!(suspicious_path(bad), "{bad}");
        }
        for fine in [
            "/static/js/index.js",
            "/a%20b/c",
            "/a/%3Fx",
            "/%",
            "/a%2",
            "/...",
            "/a.b/",
        ] {
            assert!(!suspicious_path(fine), "{fine}");
        }
    }

    #[test]
    fn burrows_cookies_are_known_in_any_case() {
        assert!(is_burrows("burrow_view"));
        assert!(is_burrows("BURROW_session"));
        assert!(!is_burrows("burrow"));
        assert!(!is_burrows("theirs"));
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
        assert!(from_another_origin(
            &get,
            &headers("same-site", "cors", "empty")
        ));
        assert!(from_another_origin(
            &get,
            &headers("same-site", "no-cors", "image")
        ));
        assert!(from_another_origin(
            &get,
            &headers("same-site", "navigate", "iframe")
        ));
        assert!(from_another_origin(
            &get,
            &headers("same-site", "websocket", "websocket")
        ));
        assert!(!from_another_origin(
            &get,
            &headers("same-site", "navigate", "document")
        ));
        assert!(!from_another_origin(
            &get,
            &headers("same-origin", "cors", "empty")
        ));
        assert!(!from_another_origin(
            &get,
            &headers("cross-site", "navigate", "document")
        ));
        assert!(!from_another_origin(&get, &HeaderMap::new()));
        assert!(
            from_another_origin(&Method::POST, &headers("same-site", "navigate", "document")),
            "a form POST from another app is refused"
        );
    }
}
