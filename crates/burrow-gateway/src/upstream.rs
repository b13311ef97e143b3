//! Reaching a running destination from a viewer's connection: its own kept-alive
//! connection to the sandbox, each request written there and its answer relayed back
//! as it arrives, and WebSockets tunnelled byte for byte. What the sandbox answers is
//! untrusted: read strictly ([`crate::h1`]), bounded, and written back out afresh.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use burrow_sandbox::Connection;
use burrow_service::{Error, Kind};
use bytes::{Buf, BytesMut};
use http_body_util::BodyExt;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

use burrow_service::access::ViewAccess;

use crate::h1::{self, Framing, Parsed};
use crate::viewer::{close_after, Answered, Next, Viewer, READ_SIZE};
use crate::{Admitted, Destinations, Gateway};

/// An answer's head from a sandbox may be this large.
const MAX_ANSWER_HEAD: usize = 64 * 1024;
/// Relayed body bytes are written to the viewer once this many have gathered.
const WRITE_SIZE: usize = 16 * 1024;

/// A connection to a sandbox, and what was read from it and not used yet. A viewer
/// connection keeps one idle ([`Viewer::idle`]) for its next request to the same
/// sandbox; it closes with the viewer's connection.
pub(crate) struct Upstream {
    /// The sandbox it reaches ([`Destinations::upstream_key`]).
    key: String,
    conn: Connection,
    buf: BytesMut,
}

/// A WebSocket the sandbox agreed to, waiting to be tunnelled once its 101 is recorded.
pub(crate) struct Tunnel {
    upstream: Upstream,
    id: String,
    session: String,
    /// Access changes, followed from before the upgrade was answered.
    changes: Option<tokio::sync::watch::Receiver<u64>>,
}

impl Upstream {
    fn new(key: String, conn: Connection) -> Self {
        Self {
            key,
            conn,
            buf: BytesMut::new(),
        }
    }

    /// Reads more into `buf`; false at the connection's end.
    async fn fill(&mut self) -> std::io::Result<bool> {
        if self.buf.capacity() - self.buf.len() < 4096 {
            self.buf.reserve(READ_SIZE);
        }
        Ok(self.conn.read_buf(&mut self.buf).await? > 0)
    }

    /// Whether an idle connection still looks open: it has neither closed nor sent
    /// anything unasked since its last answer.
    async fn alive(&mut self) -> bool {
        let mut byte = [0u8; 1];
        std::future::poll_fn(|cx| {
            let mut read = tokio::io::ReadBuf::new(&mut byte);
            std::task::Poll::Ready(
                std::pin::Pin::new(&mut self.conn)
                    .poll_read(cx, &mut read)
                    .is_pending(),
            )
        })
        .await
    }

    /// The next answer's head, skipping interim (1xx) ones; `None` when the connection
    /// ended before any of it. A 101 is an answer only to an upgrade.
    async fn head(&mut self, upgrade: bool) -> Result<Option<h1::Response>, Error> {
        let mut started = false;
        loop {
            if !self.buf.is_empty() {
                started = true;
                match h1::response(&mut self.buf) {
                    Parsed::Complete(head)
                        if head.status.is_informational()
                            && !(upgrade && head.status == StatusCode::SWITCHING_PROTOCOLS) =>
                    {
                        if head.status == StatusCode::SWITCHING_PROTOCOLS {
                            return Err(bad_gateway("the app switched protocols unasked".into()));
                        }
                        continue;
                    }
                    Parsed::Complete(head) => return Ok(Some(head)),
                    Parsed::Partial if self.buf.len() > MAX_ANSWER_HEAD => {
                        return Err(bad_gateway("the app's answer head is too large".into()));
                    }
                    Parsed::Partial => {}
                    Parsed::Invalid(reason) => return Err(bad_gateway(reason.into())),
                }
            }
            match self.fill().await {
                Ok(true) => {}
                Ok(false) if !started => return Ok(None),
                Ok(false) => {
                    return Err(bad_gateway(
                        "the app closed the connection mid-answer".into(),
                    ))
                }
                Err(e) if !started => {
                    tracing::debug!(error = %e, "An upstream connection failed before answering");
                    return Ok(None);
                }
                Err(e) => return Err(bad_gateway(e.to_string())),
            }
        }
    }
}

/// How long a write to the app may wait for it to take bytes before the request fails.
const STALL: std::time::Duration = std::time::Duration::from_secs(60);

/// Resolves when the viewer has closed its connection (or it failed), which is how the
/// wait for an app's answer ends when the viewer leaves first. A viewer that sends more
/// (its next request) is not gone: then it never resolves.
async fn gone(viewer: &tokio::net::TcpStream) {
    let mut byte = [0u8; 1];
    match viewer.peek(&mut byte).await {
        Ok(0) | Err(_) => {}
        Ok(_) => std::future::pending().await,
    }
}

/// The viewer left while its request waited on the app.
fn left() -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::ConnectionAborted,
        "the viewer closed its connection before the app answered",
    )
}

/// Writes all of `bytes` to the app, failing when it takes none for [`STALL`].
async fn send(up: &mut Upstream, bytes: &[u8]) -> std::io::Result<()> {
    tokio::time::timeout(STALL, up.conn.write_all(bytes))
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "the app stopped reading"))?
}

/// How sending a request's body ended, when it did not end well.
enum Unsent {
    /// The viewer's connection ended or failed.
    Viewer(std::io::Error),
    /// The sandbox stopped taking it: it may have answered early.
    Upstream,
    /// The body is not what its framing says, or larger than the destination takes.
    Refused(Error),
}

/// Sends `out` (the request's head) and its body after it, from what the viewer sent and
/// sends; `out` is left holding the head when there is no body.
async fn send_body(
    viewer: &mut Viewer,
    up: &mut Upstream,
    out: &mut Vec<u8>,
    framing: Framing,
    limit: u64,
) -> Result<(), Unsent> {
    let to_upstream = |e: std::io::Error| {
        tracing::debug!(error = %e, "An app stopped reading a request");
        Unsent::Upstream
    };
    match framing {
        Framing::Empty | Framing::UntilClose => {
            send(up, out).await.map_err(to_upstream)?;
        }
        Framing::Length(n) => {
            let mut left = n;
            let first = left.min(viewer.buf.len() as u64) as usize;
            out.extend_from_slice(&viewer.buf[..first]);
            viewer.buf.advance(first);
            left -= first as u64;
            send(up, out).await.map_err(to_upstream)?;
            while left > 0 {
                match viewer.fill().await {
                    Ok(true) => {}
                    Ok(false) => {
                        return Err(Unsent::Viewer(std::io::ErrorKind::UnexpectedEof.into()))
                    }
                    Err(e) => return Err(Unsent::Viewer(e)),
                }
                let take = left.min(viewer.buf.len() as u64) as usize;
                send(up, &viewer.buf[..take]).await.map_err(to_upstream)?;
                viewer.buf.advance(take);
                left -= take as u64;
            }
        }
        Framing::Chunked => {
            let mut chunked = h1::Chunked::new(true);
            loop {
                let done = chunked.step(&mut viewer.buf, out).map_err(|reason| {
                    Unsent::Refused(Error::bad_request("invalid_request", reason))
                })?;
                if chunked.decoded > limit {
                    return Err(Unsent::Refused(too_large()));
                }
                if !out.is_empty() && (done || out.len() >= WRITE_SIZE || viewer.buf.is_empty()) {
                    send(up, out).await.map_err(to_upstream)?;
                    out.clear();
                }
                if done {
                    break;
                }
                match viewer.fill().await {
                    Ok(true) => {}
                    Ok(false) => {
                        return Err(Unsent::Viewer(std::io::ErrorKind::UnexpectedEof.into()))
                    }
                    Err(e) => return Err(Unsent::Viewer(e)),
                }
            }
        }
    }
    Ok(())
}

/// Sends one request to the destination over the viewer connection's kept-alive
/// connection (or a new one) and relays the answer as it arrives.
pub(crate) async fn forward<D: Destinations>(
    viewer: &mut Viewer,
    gateway: &Arc<Gateway<D>>,
    id: &str,
    target: &D::Target,
    request: h1::Request,
    framing: Framing,
) -> std::io::Result<Answered> {
    let destinations = &gateway.destinations;
    let limit = destinations.max_body_bytes() as u64;
    if matches!(framing, Framing::Length(n) if n > limit) {
        return viewer.refuse(&request, too_large().into_response()).await;
    }
    let key = D::upstream_key(target);
    // Only a request read whole, that may be sent twice, is sent again when a kept-alive
    // connection the app had meanwhile closed takes it and answers nothing. Any other
    // goes to an idle connection only if it still looks open.
    let repeatable = framing == Framing::Empty
        && matches!(request.method, Method::GET | Method::HEAD | Method::OPTIONS);
    let mut idle = viewer.idle.take().filter(|up| up.key == key);
    if let Some(up) = idle.as_mut() {
        if !repeatable && !up.alive().await {
            idle = None;
        }
    }
    let mut fresh = idle.is_none();
    let mut up = match idle {
        Some(up) => up,
        None => match destinations.connect(target).await {
            Ok(conn) => Upstream::new(key.to_owned(), conn),
            Err(e) => return viewer.refuse(&request, e.into_response()).await,
        },
    };
    let mut next = close_after(&request);
    let h1::Request {
        method,
        uri,
        headers,
        http11,
    } = request;
    let expects = h1::has_token(&headers, "expect", "100-continue");
    let mut out = Vec::with_capacity(1024);
    let forwarded = viewer.forwarded(destinations, id);
    crate::write_forwarded_request(&mut out, &method, &uri, &headers, forwarded, false, framing);
    // Its values share the viewer's buffer, which can then take the body in place.
    drop(headers);
    if expects && http11 && framing != Framing::Empty && viewer.buf.is_empty() {
        viewer
            .stream
            .write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
            .await?;
    }
    // An answer that came before the whole body went is the connection's last.
    let mut early = false;
    match send_body(viewer, &mut up, &mut out, framing, limit).await {
        Ok(()) => {}
        Err(Unsent::Viewer(e)) => return Err(e),
        // The rest of the viewer's body is not read: the connection closes after the
        // answer the app gave early, if it gave one.
        Err(Unsent::Upstream) => {
            early = true;
            if framing != Framing::Empty {
                next = Next::Close;
            }
        }
        Err(Unsent::Refused(e)) => {
            let status = e.kind.status();
            viewer
                .reply(&method, e.into_response(), Next::Close)
                .await?;
            return Ok(Answered {
                status,
                detail: None,
                next: Next::Close,
            });
        }
    }
    // A repeatable request has no body: what was sent is its head, whole.
    let again = repeatable.then_some(out);
    let head = loop {
        // Biased: the answer is looked at first, and no random draw is made each time.
        let head = tokio::select! {
            biased;
            head = up.head(false) => head,
            () = gone(&viewer.stream) => return Err(left()),
        };
        match head {
            Ok(Some(head)) => break head,
            Ok(None) => match again.as_ref().filter(|_| !fresh) {
                Some(request) => {
                    fresh = true;
                    up = match destinations.connect(target).await {
                        Ok(conn) => Upstream::new(key.to_owned(), conn),
                        Err(e) => return give(viewer, &method, e, next).await,
                    };
                    early = false;
                    if let Err(e) = send(&mut up, request).await {
                        return give(viewer, &method, bad_gateway(e.to_string()), next).await;
                    }
                }
                None => {
                    let e = bad_gateway("the app closed the connection without answering".into());
                    return give(viewer, &method, e, next).await;
                }
            },
            Err(e) => return give(viewer, &method, e, next).await,
        }
    };
    let status = head.status;
    let next = relay_answer(viewer, &mut up, &method, http11, head, next).await?;
    if next.keep_upstream && !early {
        viewer.idle = Some(up);
    }
    Ok(Answered {
        status,
        detail: None,
        next: next.viewer,
    })
}

/// Answers with a failure made here, before any of the app's answer was written.
async fn give(
    viewer: &mut Viewer,
    method: &Method,
    e: Error,
    next: Next,
) -> std::io::Result<Answered> {
    let status = e.kind.status();
    let detail = e.detail.clone();
    let next = viewer.reply(method, e.into_response(), next).await?;
    Ok(Answered {
        status,
        detail,
        next,
    })
}

/// What follows a relayed answer, on both sides.
struct Relayed {
    viewer: Next,
    /// Whether the upstream connection can take another request.
    keep_upstream: bool,
}

/// Reads more of an answer for `viewer`, until it leaves.
async fn fill_for(up: &mut Upstream, viewer: &tokio::net::TcpStream) -> std::io::Result<bool> {
    tokio::select! {
        biased;
        more = up.fill() => more,
        () = gone(viewer) => Err(left()),
    }
}

/// Relays an answer whose head was read from `up`: its head cleaned, its body as it
/// arrives, re-framed for the viewer.
async fn relay_answer(
    viewer: &mut Viewer,
    up: &mut Upstream,
    method: &Method,
    http11: bool,
    head: h1::Response,
    mut next: Next,
) -> std::io::Result<Relayed> {
    let framing = match h1::response_framing(method, head.status, &head.headers) {
        Ok(framing) => framing,
        Err(reason) => {
            give(viewer, method, bad_gateway(reason.into()), Next::Close).await?;
            return Ok(Relayed {
                viewer: Next::Close,
                keep_upstream: false,
            });
        }
    };
    let keep_upstream = head.http11
        && framing != Framing::UntilClose
        && !h1::has_token(&head.headers, "connection", "close");
    let mut out = Vec::with_capacity(512 + up.buf.len().min(READ_SIZE));
    answer_head(&mut out, &head, false);
    match framing {
        Framing::Chunked if http11 => h1::write_field(&mut out, b"transfer-encoding", b"chunked"),
        Framing::Chunked | Framing::UntilClose => next = Next::Close,
        // One value, however the app spelled it (a HEAD's or a 304's describes what a
        // GET would get).
        Framing::Length(n) => h1::write_length(&mut out, n),
        Framing::Empty => {
            if let Ok(Some(n)) = h1::content_length(&head.headers) {
                h1::write_length(&mut out, n);
            }
        }
    }
    if next == Next::Close {
        h1::write_field(&mut out, b"connection", b"close");
    }
    h1::end_head(&mut out);
    let cut = || std::io::Error::other("the app's answer ended before its body did");
    match framing {
        Framing::Empty => viewer.stream.write_all(&out).await?,
        Framing::Length(n) => {
            let mut left = n;
            loop {
                let take = left.min(up.buf.len() as u64) as usize;
                out.extend_from_slice(&up.buf[..take]);
                up.buf.advance(take);
                left -= take as u64;
                // The head waits for the body's first bytes (as nginx's postpone_output
                // holds it back), so that an answer the app wrote in two parts, such as a
                // head and then a file sent with sendfile, leaves in one write: one packet
                // and one wake-up for the viewer instead of two.
                if take > 0 || left == 0 {
                    viewer.stream.write_all(&out).await?;
                    out.clear();
                }
                if left == 0 {
                    break;
                }
                if !fill_for(up, &viewer.stream).await? {
                    return Err(cut());
                }
            }
        }
        Framing::Chunked => {
            let mut chunked = h1::Chunked::new(http11);
            loop {
                let done = chunked
                    .step(&mut up.buf, &mut out)
                    .map_err(std::io::Error::other)?;
                if done || out.len() >= WRITE_SIZE || up.buf.is_empty() {
                    viewer.stream.write_all(&out).await?;
                    out.clear();
                }
                if done {
                    break;
                }
                if !fill_for(up, &viewer.stream).await? {
                    return Err(cut());
                }
            }
        }
        Framing::UntilClose => {
            out.extend_from_slice(&up.buf);
            up.buf.clear();
            viewer.stream.write_all(&out).await?;
            while fill_for(up, &viewer.stream).await? {
                viewer.stream.write_all(&up.buf).await?;
                up.buf.clear();
            }
        }
    }
    Ok(Relayed {
        viewer: next,
        // Bytes past the answer's end are not an answer to anything: not kept.
        keep_upstream: keep_upstream && up.buf.is_empty(),
    })
}

/// Writes the status line of an app's answer and the headers it may pass on
/// ([`crate::answer_field_kept`]); its length only in a 101 (`upgrade`), else the caller
/// writes the framing afresh, then ends the head.
fn answer_head(out: &mut Vec<u8>, head: &h1::Response, upgrade: bool) {
    h1::write_status_line(out, head.status);
    for (name, value) in head.headers.iter() {
        let framing = !upgrade && name.eq_ignore_ascii_case(b"content-length");
        if !framing && crate::answer_field_kept(name, value, upgrade) {
            h1::write_field(out, name, value);
        }
    }
}

/// Passes a WebSocket upgrade to the destination over a connection of its own. An
/// upgrade the app agrees to is answered and left in [`Viewer::tunnel`]; any other
/// answer is relayed as usual.
pub(crate) async fn upgrade<D: Destinations>(
    viewer: &mut Viewer,
    gateway: &Arc<Gateway<D>>,
    admitted: Admitted,
    target: &D::Target,
    request: h1::Request,
    wants_page: bool,
) -> std::io::Result<Answered> {
    let destinations = &gateway.destinations;
    // Followed before the viewer learns the socket is open, so no access change after
    // that is missed; one since the request was admitted is caught by the check the
    // tunnel makes at once (the receiver starts marked changed).
    let mut changes = destinations.access_changes().await;
    if let Some(changes) = changes.as_mut() {
        changes.mark_changed();
    }
    let conn = match destinations.connect(target).await {
        Ok(conn) => conn,
        Err(_) => {
            let response = crate::waking(destinations, &admitted.id, wants_page)
                .await
                .unwrap_or_else(IntoResponse::into_response);
            return viewer.refuse(&request, response).await;
        }
    };
    let mut up = Upstream::new(String::new(), conn);
    let next = close_after(&request);
    let h1::Request {
        method,
        uri,
        headers,
        http11,
    } = request;
    let mut out = Vec::with_capacity(1024);
    let forwarded = viewer.forwarded(destinations, &admitted.id);
    // An upgrade carries no body (checked before): no length however spelled.
    crate::write_forwarded_request(
        &mut out,
        &method,
        &uri,
        &headers,
        forwarded,
        true,
        Framing::Empty,
    );
    drop(headers);
    if let Err(e) = up.conn.write_all(&out).await {
        return give(viewer, &method, bad_gateway(e.to_string()), next).await;
    }
    let head = match up.head(true).await {
        Ok(Some(head)) => head,
        Ok(None) => {
            let e = bad_gateway("the app closed the connection without answering".into());
            return give(viewer, &method, e, next).await;
        }
        Err(e) => return give(viewer, &method, e, next).await,
    };
    let status = head.status;
    if status != StatusCode::SWITCHING_PROTOCOLS {
        let relayed = relay_answer(viewer, &mut up, &method, http11, head, next).await?;
        return Ok(Answered {
            status,
            detail: None,
            next: relayed.viewer,
        });
    }
    let mut out = Vec::with_capacity(512);
    answer_head(&mut out, &head, true);
    h1::end_head(&mut out);
    viewer.stream.write_all(&out).await?;
    viewer.tunnel = Some(Tunnel {
        upstream: up,
        id: admitted.id,
        session: admitted.session,
        changes,
    });
    Ok(Answered {
        status,
        detail: None,
        next: Next::Close,
    })
}

/// Tunnels an upgraded connection byte for byte until either side closes, or the viewer
/// loses access. Messages from the viewer (not pings) count as activity.
pub(crate) async fn tunnel<D: Destinations>(
    viewer: &mut Viewer,
    gateway: &Arc<Gateway<D>>,
    tunnel: Tunnel,
) {
    let Tunnel {
        upstream,
        id,
        session,
        mut changes,
    } = tunnel;
    let early_in = viewer.buf.split();
    let early_out = upstream.buf;
    let (mut client_read, mut client_write) = viewer.stream.split();
    let (mut upstream_read, mut upstream_write) = tokio::io::split(upstream.conn);
    let inbound = async {
        let mut frames = crate::wsframes::Scanner::default();
        // What arrived with the upgrade request first, then what follows it.
        if !early_in.is_empty() {
            if frames.feed(&early_in) {
                gateway.destinations.touch(&id);
            }
            if upstream_write.write_all(&early_in).await.is_err() {
                return;
            }
        }
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let n = match client_read.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            if frames.feed(&buf[..n]) {
                gateway.destinations.touch(&id);
            }
            if upstream_write.write_all(&buf[..n]).await.is_err() {
                break;
            }
        }
        let _ = upstream_write.shutdown().await;
    };
    let outbound = async {
        if client_write.write_all(&early_out).await.is_ok() {
            let _ = tokio::io::copy(&mut upstream_read, &mut client_write).await;
        }
        let _ = client_write.shutdown().await;
    };
    // The session and membership are checked again while the socket is open: a viewer
    // removed from the project (on any replica: an `access` event), or whose session
    // ended (the timer), is cut off.
    let revalidate = async {
        let every = gateway.destinations.recheck_every();
        loop {
            match changes.as_mut() {
                Some(changes) => {
                    let _ = tokio::time::timeout(every, changes.changed()).await;
                }
                None => tokio::time::sleep(every).await,
            }
            // A database that did not answer closes nothing: asked again next time.
            let allowed = gateway.destinations.access(&id, &session).await;
            if matches!(allowed, Ok(ref access) if *access != ViewAccess::Granted) {
                tracing::info!(destination = %id, "Closed a WebSocket whose viewer lost access");
                return;
            }
        }
    };
    tokio::select! {
        _ = async { tokio::join!(inbound, outbound) } => {}
        () = revalidate => {}
    }
}

fn too_large() -> Error {
    Error::new(
        Kind::TooLarge,
        "body_too_large",
        "the request body is larger than the app accepts",
    )
}

fn bad_gateway(detail: String) -> Error {
    Error::new(
        Kind::Unreachable,
        "app_unreachable",
        "the app did not answer: it may be restarting, so try again in a moment",
    )
    .with_detail(detail)
}

/// Sends `request` as it is over `upstream` (a connection to another replica's API, see
/// `burrow_api::forwarded`) and hands back the answer; an upgrade the other side agrees
/// to is then tunnelled both ways, on a task of its own.
pub async fn relay(
    upstream: burrow_sandbox::Connection,
    mut request: Request,
) -> Result<Response, String> {
    let client_upgrade = hyper::upgrade::on(&mut request);
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
