//! One sandbox's connection to its proxy port: HTTP/1.1 requests, each a `CONNECT` tunnel or an absolute-form plain-HTTP request, decided and carried out.

use std::convert::Infallible;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::{Body, Frame, Incoming};
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::classify::classify;
use crate::policy::{refused_name, Mode, Policy};
use crate::resolve::{parse_host, Host};
use crate::tunnel::{pump, Bounds};
use crate::{Decision, Egress, PerSandbox, Verdict};

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type ProxyBody = UnsyncBoxBody<Bytes, BoxError>;

/// The largest request head a sandbox may send.
const MAX_HEAD: usize = 64 * 1024;

pub async fn serve<IO>(egress: Egress, sandbox: Arc<str>, policy: Arc<Policy>, io: IO)
where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
        let (egress, sandbox, policy) = (egress.clone(), Arc::clone(&sandbox), Arc::clone(&policy));
        async move {
            let response = if req.method() == Method::CONNECT {
                connect(egress, sandbox, policy, req).await
            } else {
                forward(egress, sandbox, policy, req).await
            };
            Ok::<_, Infallible>(response)
        }
    });
    let _ = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(30))
        .max_buf_size(MAX_HEAD)
        .serve_connection(TokioIo::new(io), service)
        .with_upgrades()
        .await;
}

/// A decision being made: what the request asked for, filled in as it goes.
struct Draft {
    egress: Egress,
    sandbox: Arc<str>,
    method: String,
    host: String,
    port: u16,
    address: Option<IpAddr>,
    started: Instant,
    at_ms: i64,
}

/// A refusal: the status the client gets and the reason people read.
struct Refusal {
    status: StatusCode,
    verdict: Verdict,
    reason: String,
}

impl Refusal {
    fn denied(reason: impl Into<String>) -> Self {
        Self {
            status: StatusCode::FORBIDDEN,
            verdict: Verdict::Denied,
            reason: reason.into(),
        }
    }
}

impl Draft {
    fn new(egress: &Egress, sandbox: &Arc<str>, method: &Method, host: &str, port: u16) -> Self {
        let at_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or_default();
        Self {
            egress: egress.clone(),
            sandbox: Arc::clone(sandbox),
            method: method.as_str().to_owned(),
            host: host.to_owned(),
            port,
            address: None,
            started: Instant::now(),
            at_ms,
        }
    }

    fn finish(self, verdict: Verdict, reason: String, bytes_out: u64, bytes_in: u64) {
        let decision = Decision {
            at_ms: self.at_ms,
            sandbox: self.sandbox.to_string(),
            method: self.method,
            host: self.host,
            port: self.port,
            address: self.address.map(|a| a.to_string()),
            verdict,
            reason,
            bytes_out,
            bytes_in,
            duration_ms: self.started.elapsed().as_millis() as u64,
        };
        self.egress.record(decision);
    }

    /// Records the refusal and answers it.
    fn refuse(self, refusal: Refusal) -> Response<ProxyBody> {
        let status = refusal.status;
        let text = match &self.address {
            Some(addr) if addr.to_string() != self.host => {
                format!("blocked: {} ({addr}), {}", self.host, refusal.reason)
            }
            _ => format!("blocked: {}, {}", self.host, refusal.reason),
        };
        self.finish(refusal.verdict, refusal.reason, 0, 0);
        answer(status, &text)
    }

    /// Decides whether the policy lets this request through, and to which address;
    /// looks the host up at most once.
    async fn check(&mut self, policy: &Policy) -> Result<IpAddr, Refusal> {
        if policy.mode == Mode::None {
            return Err(Refusal::denied(
                "the egress policy is none: an editor can open the network in the app's settings",
            ));
        }
        let options = &self.egress.inner.options;
        let ips = match parse_host(&self.host) {
            None => return Err(Refusal::denied("not a valid host name")),
            Some(Host::Ip(ip)) => {
                if policy.mode == Mode::Allowlist {
                    return Err(Refusal::denied(
                        "an address is never on an allowlist: use the domain name",
                    ));
                }
                vec![ip]
            }
            Some(Host::Name(name)) => {
                if let Some(why) = refused_name(&name) {
                    return Err(Refusal::denied(why));
                }
                if policy.mode == Mode::Allowlist && !policy.names(&name) {
                    return Err(Refusal::denied(format!("{name} is not on the allowlist")));
                }
                let found = self
                    .egress
                    .inner
                    .resolver
                    .lookup(&name)
                    .await
                    .map_err(|e| Refusal {
                        status: StatusCode::BAD_GATEWAY,
                        verdict: Verdict::Failed,
                        reason: e,
                    })?;
                if found.is_empty() {
                    return Err(Refusal {
                        status: StatusCode::BAD_GATEWAY,
                        verdict: Verdict::Failed,
                        reason: format!("{name} has no address"),
                    });
                }
                found
            }
        };
        let own = self.egress.inner.own.get().map_err(Refusal::denied)?;
        let mut chosen = None;
        for ip in ips {
            match classify(ip, &own, &options.allow_ranges) {
                Ok(ip) => {
                    chosen.get_or_insert(ip);
                }
                Err(denied) => {
                    self.address = Some(crate::classify::canonical(ip));
                    return Err(Refusal::denied(denied.reason));
                }
            }
        }
        let chosen = chosen.ok_or_else(|| Refusal::denied("no address"))?;
        self.address = Some(chosen);
        Ok(chosen)
    }

    /// A tunnel slot of the sandbox's, or a 429.
    fn permit(&self, limits: &PerSandbox) -> Result<tokio::sync::OwnedSemaphorePermit, Refusal> {
        Arc::clone(&limits.tunnels)
            .try_acquire_owned()
            .map_err(|_| Refusal {
                status: StatusCode::TOO_MANY_REQUESTS,
                verdict: Verdict::Limited,
                reason: format!(
                    "too many connections open at once (this sandbox may have {})",
                    self.egress.inner.options.max_tunnels
                ),
            })
    }

    /// Dials the checked address from Burrow's own network.
    async fn dial(&self, ip: IpAddr) -> Result<TcpStream, Refusal> {
        let addr = SocketAddr::new(ip, self.port);
        let failed = |reason: String| Refusal {
            status: StatusCode::BAD_GATEWAY,
            verdict: Verdict::Failed,
            reason,
        };
        let stream = tokio::time::timeout(
            self.egress.inner.options.connect_timeout,
            TcpStream::connect(addr),
        )
        .await
        .map_err(|_| failed(format!("connecting to {addr} timed out")))?
        .map_err(|e| failed(format!("could not connect to {addr}: {e}")))?;
        let _ = stream.set_nodelay(true);
        Ok(stream)
    }
}

/// A response of Burrow's own, with its reason as the status line's phrase too, which
/// clients such as Python's show ("Tunnel connection failed: 403 blocked: …").
fn answer(status: StatusCode, text: &str) -> Response<ProxyBody> {
    let mut response = Response::new(
        Full::new(Bytes::from(format!("burrow egress: {text}\n")))
            .map_err(|never| match never {})
            .boxed_unsync(),
    );
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    if let Ok(value) = HeaderValue::from_str(text) {
        headers.insert("x-burrow-egress", value);
    }
    let phrase: String = text
        .chars()
        .map(|c| {
            if c.is_ascii() && !c.is_ascii_control() {
                c
            } else {
                '?'
            }
        })
        .take(200)
        .collect();
    if let Ok(phrase) = hyper::ext::ReasonPhrase::try_from(phrase.into_bytes()) {
        response.extensions_mut().insert(phrase);
    }
    response
}

async fn connect(
    egress: Egress,
    sandbox: Arc<str>,
    policy: Arc<Policy>,
    req: Request<Incoming>,
) -> Response<ProxyBody> {
    let Some(authority) = req.uri().authority().cloned() else {
        return answer(StatusCode::BAD_REQUEST, "CONNECT needs host:port");
    };
    let Some(port) = authority.port_u16() else {
        return answer(StatusCode::BAD_REQUEST, "CONNECT needs host:port");
    };
    let mut draft = Draft::new(&egress, &sandbox, req.method(), authority.host(), port);
    if !egress.inner.options.connect_ports.contains(&port) {
        let open = ports(&egress.inner.options.connect_ports);
        return draft.refuse(Refusal::denied(format!(
            "port {port} is not open for HTTPS (open: {open})"
        )));
    }
    let ip = match draft.check(&policy).await {
        Ok(ip) => ip,
        Err(refusal) => return draft.refuse(refusal),
    };
    let limits = egress.sandbox(&sandbox);
    let permit = match draft.permit(&limits) {
        Ok(permit) => permit,
        Err(refusal) => return draft.refuse(refusal),
    };
    let upstream = match draft.dial(ip).await {
        Ok(stream) => stream,
        Err(refusal) => return draft.refuse(refusal),
    };
    tokio::spawn(async move {
        let _permit = permit;
        let client = match hyper::upgrade::on(req).await {
            Ok(upgraded) => TokioIo::new(upgraded),
            Err(e) => {
                draft.finish(Verdict::Failed, format!("the client left: {e}"), 0, 0);
                return;
            }
        };
        tunnel(draft, &policy, &limits, client, upstream).await;
    });
    let mut response = Response::new(
        http_body_util::Empty::new()
            .map_err(|never| match never {})
            .boxed_unsync(),
    );
    *response.status_mut() = StatusCode::OK;
    response
}

async fn tunnel(
    draft: Draft,
    policy: &Policy,
    limits: &PerSandbox,
    mut client: TokioIo<hyper::upgrade::Upgraded>,
    mut upstream: TcpStream,
) {
    use tokio::io::AsyncWriteExt;
    if policy.mode == Mode::Allowlist {
        // Domain fronting: the name checked must be the name TLS asks the server for.
        let hello = tokio::time::timeout(
            Duration::from_secs(10),
            crate::sni::read_client_hello(&mut client),
        )
        .await
        .unwrap_or_else(|_| Err("no TLS ClientHello arrived in 10 s".into()));
        let expected = draft.host.trim_end_matches('.').to_ascii_lowercase();
        match hello {
            Ok((bytes, Some(sni))) if sni.trim_end_matches('.') == expected => {
                if upstream.write_all(&bytes).await.is_err() {
                    draft.finish(Verdict::Failed, "the destination closed".into(), 0, 0);
                    return;
                }
            }
            Ok((_, sni)) => {
                let reason = match sni {
                    Some(sni) => format!("TLS asked for {sni}, not the CONNECT host"),
                    None => {
                        "TLS named no server (SNI), so the CONNECT host cannot be checked".into()
                    }
                };
                draft.finish(Verdict::Denied, reason, 0, 0);
                return;
            }
            Err(why) => {
                draft.finish(Verdict::Denied, why, 0, 0);
                return;
            }
        }
    }
    let options = &draft.egress.inner.options;
    let ended = pump(
        client,
        upstream,
        Bounds {
            idle: options.idle,
            max_duration: options.max_duration,
            bucket: limits.bucket.as_ref(),
        },
    )
    .await;
    draft.finish(
        Verdict::Allowed,
        ended.reason,
        ended.bytes_out,
        ended.bytes_in,
    );
}

fn ports(list: &[u16]) -> String {
    list.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Headers that belong to one hop and are never passed on.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "proxy-connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<String> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(',').map(|s| s.trim().to_ascii_lowercase()))
        .collect();
    for name in HOP_BY_HOP
        .iter()
        .copied()
        .chain(named.iter().map(String::as_str))
    {
        headers.remove(name);
    }
}

async fn forward(
    egress: Egress,
    sandbox: Arc<str>,
    policy: Arc<Policy>,
    req: Request<Incoming>,
) -> Response<ProxyBody> {
    let uri = req.uri().clone();
    let Some(authority) = uri.authority().cloned() else {
        return answer(
            StatusCode::BAD_REQUEST,
            "this is a proxy: send absolute-form requests (GET http://example.com/ HTTP/1.1) or CONNECT",
        );
    };
    if uri.scheme_str() != Some("http") {
        return answer(
            StatusCode::BAD_REQUEST,
            "only http:// goes through as a plain request: use CONNECT for https",
        );
    }
    let port = authority.port_u16().unwrap_or(80);
    let mut draft = Draft::new(&egress, &sandbox, req.method(), authority.host(), port);
    // Decide on the request target, and refuse a Host header that names another.
    if let Some(host) = req.headers().get(header::HOST) {
        let same = host
            .to_str()
            .ok()
            .and_then(|h| h.parse::<hyper::http::uri::Authority>().ok())
            .is_some_and(|h| {
                h.host().eq_ignore_ascii_case(authority.host())
                    && h.port_u16().unwrap_or(80) == port
            });
        if !same {
            return draft.refuse(Refusal {
                status: StatusCode::BAD_REQUEST,
                verdict: Verdict::Denied,
                reason: "the Host header names another host than the request target".into(),
            });
        }
    }
    if !egress.inner.options.http_ports.contains(&port) {
        let open = ports(&egress.inner.options.http_ports);
        return draft.refuse(Refusal::denied(format!(
            "port {port} is not open for plain HTTP (open: {open})"
        )));
    }
    let ip = match draft.check(&policy).await {
        Ok(ip) => ip,
        Err(refusal) => return draft.refuse(refusal),
    };
    let limits = egress.sandbox(&sandbox);
    let permit = match draft.permit(&limits) {
        Ok(permit) => permit,
        Err(refusal) => return draft.refuse(refusal),
    };
    let stream = match draft.dial(ip).await {
        Ok(stream) => stream,
        Err(refusal) => return draft.refuse(refusal),
    };
    let failed = |reason: String| Refusal {
        status: StatusCode::BAD_GATEWAY,
        verdict: Verdict::Failed,
        reason,
    };
    let (mut sender, connection) =
        match hyper::client::conn::http1::handshake(TokioIo::new(stream)).await {
            Ok(pair) => pair,
            Err(e) => return draft.refuse(failed(format!("the destination failed: {e}"))),
        };
    tokio::spawn(connection);
    let (mut parts, body) = req.into_parts();
    strip_hop_by_hop(&mut parts.headers);
    if let Ok(host) = HeaderValue::from_str(authority.as_str()) {
        parts.headers.insert(header::HOST, host);
    }
    parts.uri = match uri.path_and_query() {
        Some(pq) => pq
            .as_str()
            .parse()
            .unwrap_or_else(|_| "/".parse().expect("a path")),
        None => "/".parse().expect("a path"),
    };
    let options = &egress.inner.options;
    let sent = tokio::time::timeout(
        options.idle,
        sender.send_request(Request::from_parts(parts, body)),
    )
    .await;
    let response = match sent {
        Ok(Ok(response)) => response,
        Ok(Err(e)) => return draft.refuse(failed(format!("the destination failed: {e}"))),
        Err(_) => {
            return draft.refuse(failed(format!(
                "the destination sent no answer in {} s",
                options.idle.as_secs()
            )))
        }
    };
    let (mut parts, body) = response.into_parts();
    strip_hop_by_hop(&mut parts.headers);
    let deadline = Instant::now() + options.max_duration;
    let counted = Counted {
        inner: body,
        draft: Some(draft),
        bytes: 0,
        limits,
        wait: None,
        deadline: Box::pin(tokio::time::sleep_until(deadline)),
        _permit: permit,
    };
    Response::from_parts(parts, counted.boxed_unsync())
}

/// An answer's body on its way back to the sandbox: counted, held to the sandbox's byte
/// rate and the tunnel lifetime, and logged once it ends.
struct Counted {
    inner: Incoming,
    draft: Option<Draft>,
    bytes: u64,
    limits: Arc<PerSandbox>,
    wait: Option<Pin<Box<tokio::time::Sleep>>>,
    deadline: Pin<Box<tokio::time::Sleep>>,
    _permit: tokio::sync::OwnedSemaphorePermit,
}

impl Body for Counted {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        if this.deadline.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Some(Err(
                "the answer took longer than a tunnel may stay open".into(),
            )));
        }
        if let Some(wait) = &mut this.wait {
            if wait.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            this.wait = None;
        }
        let frame = std::task::ready!(Pin::new(&mut this.inner).poll_frame(cx));
        match &frame {
            Some(Ok(frame)) => {
                if let Some(data) = frame.data_ref() {
                    this.bytes += data.len() as u64;
                    if let Some(bucket) = &this.limits.bucket {
                        if let Some(wait) = bucket.reserve(data.len()) {
                            this.wait = Some(Box::pin(tokio::time::sleep(wait)));
                        }
                    }
                }
            }
            None | Some(Err(_)) => {
                if let Some(draft) = this.draft.take() {
                    let reason = if frame.is_none() {
                        "answered"
                    } else {
                        "the answer broke off"
                    };
                    draft.finish(Verdict::Allowed, reason.into(), 0, this.bytes);
                }
            }
        }
        Poll::Ready(frame.map(|f| f.map_err(Into::into)))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        if let Some(draft) = self.draft.take() {
            let bytes = self.bytes;
            draft.finish(
                Verdict::Allowed,
                "the client stopped reading".into(),
                0,
                bytes,
            );
        }
    }
}
