//! One viewer connection on the destinations' origins, served by hand: its requests are
//! read one at a time ([`crate::h1`]), each checked as every request is, then answered
//! here (Burrow's routes, refusals, the loading page) or forwarded over the
//! connection's own kept-alive upstream connection ([`crate::upstream`]), in order.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use burrow_service::http::ErrorDetail;
use burrow_service::{Error, Kind};
use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use url::Url;

use crate::h1::{self, Fields, Framing, Parsed};
use crate::upstream::{self, Upstream};
use crate::{Admission, Destinations, Forwarded, Gateway, Sessions, MAX_HEADER_BYTES, RESERVED};

/// How long a viewer may take to send a request's head, idle time between requests
/// included; then the connection closes (hyper's default, which served this before).
const HEAD_TIMEOUT: Duration = Duration::from_secs(30);
/// The head timer is moved on this often at most: a viewer waits between
/// `HEAD_TIMEOUT` less this and `HEAD_TIMEOUT`.
const HEAD_TIMER_STEP: Duration = Duration::from_secs(1);
/// A request to Burrow's own routes, or one answered without forwarding, may carry this
/// much body; they take none.
const SMALL_BODY: u64 = 64 * 1024;
/// How long, and how much, a closing connection still reads and drops ([`Viewer::linger`]).
const LINGER: Duration = Duration::from_secs(2);
const LINGER_BYTES: usize = 1 << 20;
/// Reads from either side take up to this much at a time.
pub(crate) const READ_SIZE: usize = 64 * 1024;

/// A viewer's connection and what it holds between requests.
pub(crate) struct Viewer {
    pub(crate) stream: TcpStream,
    /// Bytes read from the viewer and not used yet: the next request's, when pipelined.
    pub(crate) buf: BytesMut,
    pub(crate) client: SocketAddr,
    /// The kept-alive connection to the sandbox the last request went to.
    pub(crate) idle: Option<Upstream>,
    /// The last destination's origin and the `X-Forwarded-*` values it is sent, made
    /// once per connection and destination.
    origin: Option<(String, Url, Forwarded)>,
    /// A WebSocket the app agreed to, tunnelled once its answer is recorded.
    pub(crate) tunnel: Option<upstream::Tunnel>,
    sessions: Sessions,
}

/// What follows an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Next {
    KeepAlive,
    Close,
}

/// An answer given, for the record.
pub(crate) struct Answered {
    pub status: StatusCode,
    pub detail: Option<String>,
    pub next: Next,
}

/// Serves one viewer connection until it closes, idles past [`HEAD_TIMEOUT`], or fails.
pub(crate) async fn serve<D: Destinations>(
    gateway: Arc<Gateway<D>>,
    routes: Router,
    stream: TcpStream,
    client: SocketAddr,
) {
    let mut series = burrow_service::http::Series::default();
    let mut viewer = Viewer {
        stream,
        buf: BytesMut::with_capacity(8 * 1024),
        client,
        idle: None,
        origin: None,
        tunnel: None,
        sessions: Sessions::default(),
    };
    // One timer for the connection, moved on at most once a [`HEAD_TIMER_STEP`] rather
    // than set anew for every request.
    let mut armed = Instant::now();
    let idle = tokio::time::sleep_until((armed + HEAD_TIMEOUT).into());
    tokio::pin!(idle);
    loop {
        let now = Instant::now();
        if now.duration_since(armed) >= HEAD_TIMER_STEP {
            armed = now;
            idle.as_mut().reset((armed + HEAD_TIMEOUT).into());
        }
        // Biased: a request that came is served first, and no random draw is made each
        // time.
        let head = tokio::select! {
            biased;
            head = viewer.read_head() => head,
            () = &mut idle => break,
        };
        let request = match head {
            Ok(None) => break,
            Ok(Some(request)) => request,
            Err(refusal) => {
                if viewer
                    .reply(&Method::GET, refusal.into_response(), Next::Close)
                    .await
                    .is_ok()
                {
                    viewer.linger().await;
                }
                break;
            }
        };
        let next = if request.uri.path().starts_with(RESERVED) {
            viewer.reserved(&routes, request).await
        } else {
            let started = Instant::now();
            let (method, uri) = (request.method.clone(), request.uri.clone());
            match viewer.proxy(&gateway, request).await {
                Ok(answered) => {
                    let detail = answered.detail.as_deref();
                    series.record(
                        &method,
                        "destination",
                        answered.status,
                        started,
                        detail,
                        uri.path(),
                    );
                    Ok(answered.next)
                }
                Err(e) => Err(e),
            }
        };
        if let Some(tunnel) = viewer.tunnel.take() {
            upstream::tunnel(&mut viewer, &gateway, tunnel).await;
            break;
        }
        match next {
            Ok(Next::KeepAlive) => {}
            Ok(Next::Close) => {
                viewer.linger().await;
                break;
            }
            Err(e) => {
                tracing::debug!(error = %e, "A viewer's connection ended with an error");
                break;
            }
        }
    }
}

impl Viewer {
    /// Closes after a last answer: the writing side first, then what the viewer still
    /// sends is read and dropped for a moment, as nginx's lingering close does. Closing
    /// with unread bytes would reset the connection, and the viewer could lose the
    /// answer (a 400 or 431 sent before the whole request was read).
    async fn linger(&mut self) {
        if self.stream.shutdown().await.is_err() {
            return;
        }
        let drain = async {
            let mut drained = 0;
            let mut sink = vec![0u8; 16 * 1024];
            while drained < LINGER_BYTES {
                match self.stream.read(&mut sink).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => drained += n,
                }
            }
        };
        let _ = tokio::time::timeout(LINGER, drain).await;
    }

    /// Reads more from the viewer into `buf`; false at its end.
    pub(crate) async fn fill(&mut self) -> std::io::Result<bool> {
        if self.buf.capacity() - self.buf.len() < 4096 {
            self.buf.reserve(READ_SIZE);
        }
        Ok(self.stream.read_buf(&mut self.buf).await? > 0)
    }

    /// The next request's head; `None` when the viewer closed (or broke) the connection
    /// between requests; an error to answer with when what came is not a request.
    async fn read_head(&mut self) -> Result<Option<h1::Request>, Error> {
        loop {
            if !self.buf.is_empty() {
                match h1::request(&mut self.buf) {
                    Parsed::Complete(request) => {
                        if let Some(refusal) = crate::too_many_header_bytes(request.headers.size())
                        {
                            return Err(refusal);
                        }
                        return Ok(Some(request));
                    }
                    Parsed::Partial if self.buf.len() > MAX_HEADER_BYTES + 8 * 1024 => {
                        return Err(crate::too_many_header_bytes_error(self.buf.len()));
                    }
                    Parsed::Partial => {}
                    Parsed::Invalid(reason) => {
                        return Err(Error::bad_request("invalid_request", reason));
                    }
                }
            }
            match self.fill().await {
                Ok(true) => {}
                Ok(false) | Err(_) => return Ok(None),
            }
        }
    }

    /// The destination's origin, parsed once for the connection's destination.
    pub(crate) fn origin<D: Destinations>(&mut self, destinations: &D, id: &str) -> &Url {
        &self.destination(destinations, id).1
    }

    /// The `X-Forwarded-*` values for the destination `id`.
    pub(crate) fn forwarded<D: Destinations>(&mut self, destinations: &D, id: &str) -> &Forwarded {
        &self.destination(destinations, id).2
    }

    fn destination<D: Destinations>(
        &mut self,
        destinations: &D,
        id: &str,
    ) -> &(String, Url, Forwarded) {
        if self.origin.as_ref().is_none_or(|(known, ..)| known != id) {
            let origin = destinations.origin(id);
            let forwarded = Forwarded::new(&origin, self.client);
            self.origin = Some((id.to_owned(), origin, forwarded));
        }
        self.origin.as_ref().expect("just set")
    }

    /// A request to Burrow's own routes, read whole and passed to the router.
    async fn reserved(&mut self, routes: &Router, request: h1::Request) -> std::io::Result<Next> {
        let length = match h1::request_framing(&request.headers) {
            Ok(Framing::Empty) => 0,
            Ok(Framing::Length(n)) if n <= SMALL_BODY => n as usize,
            Ok(_) => {
                let e = Error::new(
                    Kind::TooLarge,
                    "body_too_large",
                    "Burrow's routes on an app's origin take no request body",
                );
                return self
                    .reply(&request.method, e.into_response(), Next::Close)
                    .await;
            }
            Err(reason) => {
                let e = Error::bad_request("invalid_request", reason);
                return self
                    .reply(&request.method, e.into_response(), Next::Close)
                    .await;
            }
        };
        while self.buf.len() < length {
            if !self.fill().await? {
                return Ok(Next::Close);
            }
        }
        let body = self.buf.split_to(length).freeze();
        let next = close_after(&request);
        self.route(routes, request, body, next).await
    }

    async fn route(
        &mut self,
        routes: &Router,
        request: h1::Request,
        body: bytes::Bytes,
        next: Next,
    ) -> std::io::Result<Next> {
        let method = request.method.clone();
        let Some(headers) = request.headers.to_map() else {
            let e = Error::bad_request("invalid_request", "a header is not valid");
            return self.reply(&method, e.into_response(), Next::Close).await;
        };
        let mut http = axum::http::Request::new(Body::from(body));
        *http.method_mut() = request.method;
        *http.uri_mut() = request.uri;
        *http.headers_mut() = headers;
        http.extensions_mut().insert(ConnectInfo(self.client));
        let response = match tower::ServiceExt::oneshot(routes.clone(), http).await {
            Ok(response) => response,
            Err(never) => match never {},
        };
        self.reply(&method, response, next).await
    }

    /// Checks one request and forwards it, or answers it here.
    async fn proxy<D: Destinations>(
        &mut self,
        gateway: &Arc<Gateway<D>>,
        request: h1::Request,
    ) -> std::io::Result<Answered> {
        let framing = match h1::request_framing(&request.headers) {
            Ok(framing) => framing,
            Err(reason) => {
                let e = Error::bad_request("invalid_request", reason);
                return self.refuse(&request, e.into_response()).await;
            }
        };
        let admitted = match crate::admit(
            gateway,
            &request.method,
            &request.uri,
            &request.headers,
            &mut self.sessions,
        )
        .await
        {
            Ok(Admission::Admitted(admitted)) => admitted,
            Ok(Admission::Answered(response)) => return self.refuse(&request, response).await,
            Err(e) => return self.refuse(&request, e.into_response()).await,
        };
        let destinations = &gateway.destinations;
        let upgrade = crate::is_websocket(&request.headers);
        if upgrade {
            let origin = self.origin(destinations, &admitted.id);
            if !crate::same_origin(origin, &request.headers) {
                let e = Error::forbidden(
                    "foreign_origin",
                    "WebSocket connections are accepted only from the app's own origin",
                );
                return self.refuse(&request, e.into_response()).await;
            }
        }
        let wants_page = request.method == Method::GET
            && request
                .headers
                .first_text("accept")
                .is_some_and(|a| a.contains("text/html"));
        let Some(target) = destinations.visit(&admitted.id) else {
            let response = crate::waking(destinations, &admitted.id, wants_page)
                .await
                .unwrap_or_else(IntoResponse::into_response);
            return self.refuse(&request, response).await;
        };
        if upgrade {
            if framing != Framing::Empty {
                let e =
                    Error::bad_request("invalid_request", "a WebSocket upgrade carries no body");
                return self.refuse(&request, e.into_response()).await;
            }
            return upstream::upgrade(self, gateway, admitted, &target, request, wants_page).await;
        }
        upstream::forward(self, gateway, &admitted.id, &target, request, framing).await
    }

    /// Answers a request that is not forwarded. Its body, if any, is not read: the
    /// connection closes after the answer.
    pub(crate) async fn refuse(
        &mut self,
        request: &h1::Request,
        response: Response,
    ) -> std::io::Result<Answered> {
        let mut next = close_after(request);
        if !matches!(h1::request_framing(&request.headers), Ok(Framing::Empty)) {
            next = Next::Close;
        }
        let status = response.status();
        let detail = response
            .extensions()
            .get::<ErrorDetail>()
            .map(|d| d.0.clone());
        let next = self.reply(&request.method, response, next).await?;
        Ok(Answered {
            status,
            detail,
            next,
        })
    }

    /// Writes an answer made here (small: an error, a redirect, the loading page).
    pub(crate) async fn reply(
        &mut self,
        method: &Method,
        response: Response,
        next: Next,
    ) -> std::io::Result<Next> {
        let (mut parts, body) = response.into_parts();
        let body = axum::body::to_bytes(body, 4 << 20)
            .await
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        parts.headers.remove(header::TRANSFER_ENCODING);
        parts
            .headers
            .insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
        if next == Next::Close {
            parts
                .headers
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        let mut out = Vec::with_capacity(256 + body.len());
        h1::write_response(&mut out, parts.status, &parts.headers);
        if *method != Method::HEAD {
            out.extend_from_slice(&body);
        }
        self.stream.write_all(&out).await?;
        Ok(next)
    }
}

/// Whether the viewer asked to close after this request: HTTP/1.0, or `Connection:
/// close`.
pub(crate) fn close_after(request: &h1::Request) -> Next {
    if !request.http11 || h1::has_token(&request.headers, "connection", "close") {
        Next::Close
    } else {
        Next::KeepAlive
    }
}
