//! One sandbox's connection to its proxy port: HTTP/1.1 requests, each a `CONNECT` tunnel or an absolute-form plain-HTTP request, decided and carried out.

use std::convert::Infallible;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
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
use crate::{Decision, Egress, PerSandbox, PolicySource, Verdict};

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type ProxyBody = UnsyncBoxBody<Bytes, BoxError>;

/// The largest request head a sandbox may send.
const MAX_HEAD: usize = 64 * 1024;

pub async fn serve<IO>(egress: Egress, sandbox: Arc<str>, source: Arc<dyn PolicySource>, mut io: IO)
where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let limits = egress.sandbox(&sandbox);
    let Ok(_connection) = Arc::clone(&limits.connections).try_acquire_owned() else {
        let reason = format!(
            "too many connections to the proxy open at once (this sandbox may have {})",
            egress.inner.options.max_tunnels
        );
        Draft::new(&egress, &sandbox, "-", "-", 0).finish(Verdict::Limited, reason.clone(), 0, 0);
        let body = format!("burrow egress: {reason}\n");
        let answer = format!(
            "HTTP/1.1 429 Too Many Requests\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        use tokio::io::AsyncWriteExt;
        let _ = io.write_all(answer.as_bytes()).await;
        let _ = io.shutdown().await;
        return;
    };
    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
        let (egress, sandbox, source) = (egress.clone(), Arc::clone(&sandbox), Arc::clone(&source));
        async move {
            // Read at every request: a policy changed meanwhile holds at once.
            let policy = Arc::new(source.policy().await);
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
    /// The DNS name the host was read as, once checked.
    name: Option<String>,
    address: Option<IpAddr>,
    started: Instant,
    at_ms: i64,
}

/// The longest host kept in a decision: a valid name is at most 253 bytes.
const MAX_LOGGED_HOST: usize = 255;

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
    fn new(egress: &Egress, sandbox: &Arc<str>, method: &str, host: &str, port: u16) -> Self {
        let at_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or_default();
        Self {
            egress: egress.clone(),
            sandbox: Arc::clone(sandbox),
            method: method.chars().take(16).collect(),
            host: host.chars().take(MAX_LOGGED_HOST).collect(),
            port,
            name: None,
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
                self.name = Some(name.clone());
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

    /// One of the sandbox's requests per second, or a 429.
    fn rate(&self, limits: &PerSandbox) -> Result<(), Refusal> {
        if limits.requests.try_take(1) {
            return Ok(());
        }
        Err(Refusal {
            status: StatusCode::TOO_MANY_REQUESTS,
            verdict: Verdict::Limited,
            reason: format!(
                "too many requests (this sandbox may make {} a second)",
                self.egress.inner.options.requests_per_sec
            ),
        })
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

    /// Everything between a request and its upstream connection: the port must be one of
    /// `open` (for `what`), then a tunnel slot (first, so lookups count against the
    /// sandbox's share too), the policy and lookup, and the dial of the checked address.
    async fn open(
        &mut self,
        policy: &Policy,
        limits: &PerSandbox,
        open: &[u16],
        what: &str,
    ) -> Result<(tokio::sync::OwnedSemaphorePermit, TcpStream), Refusal> {
        if !open.contains(&self.port) {
            return Err(Refusal::denied(format!(
                "port {} is not open for {what} (open: {})",
                self.port,
                ports(open)
            )));
        }
        let permit = self.permit(limits)?;
        let ip = self.check(policy).await?;
        Ok((permit, self.dial(ip).await?))
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
    let mut draft = Draft::new(&egress, &sandbox, "CONNECT", authority.host(), port);
    let limits = egress.sandbox(&sandbox);
    if let Err(refusal) = draft.rate(&limits) {
        return draft.refuse(refusal);
    }
    let open = &egress.inner.options.connect_ports;
    let (permit, upstream) = match draft.open(&policy, &limits, open, "HTTPS").await {
        Ok(opened) => opened,
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
        // The name that was checked, as DNS reads it; an allowlist only passes names.
        let expected = draft.name.clone().unwrap_or_default();
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
    let mut draft = Draft::new(
        &egress,
        &sandbox,
        req.method().as_str(),
        authority.host(),
        port,
    );
    let limits = egress.sandbox(&sandbox);
    if let Err(refusal) = draft.rate(&limits) {
        return draft.refuse(refusal);
    }
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
    let open = &egress.inner.options.http_ports;
    let (permit, stream) = match draft.open(&policy, &limits, open, "plain HTTP").await {
        Ok(opened) => opened,
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
    let options = &egress.inner.options;
    // The exchange holds the sandbox's slot until the upstream connection ends, which it
    // does by the tunnel lifetime at the latest.
    let lifetime = options.max_duration;
    tokio::spawn(async move {
        let _permit = permit;
        let _ = tokio::time::timeout(lifetime, connection).await;
    });
    let (mut parts, body) = req.into_parts();
    strip_hop_by_hop(&mut parts.headers);
    // Host and port only: never userinfo the target may carry.
    let host = match authority.port() {
        Some(port) => format!("{}:{port}", authority.host()),
        None => authority.host().to_owned(),
    };
    if let Ok(host) = HeaderValue::from_str(&host) {
        parts.headers.insert(header::HOST, host);
    }
    parts.uri = match uri.path_and_query() {
        Some(pq) => pq
            .as_str()
            .parse()
            .unwrap_or_else(|_| "/".parse().expect("a path")),
        None => "/".parse().expect("a path"),
    };
    let activity = Arc::new(Activity::new());
    let deadline = Instant::now() + lifetime;
    let upload = Metered::new(body, &activity, Direction::Out, &limits, deadline, None);
    let mut sending = std::pin::pin!(sender.send_request(Request::from_parts(parts, upload)));
    // Idle means nothing moved either way: a long upload is not idle.
    let sent = loop {
        tokio::select! {
            sent = &mut sending => break Some(sent),
            () = tokio::time::sleep_until(activity.idle_deadline(options.idle)) => {
                if Instant::now() >= activity.idle_deadline(options.idle) {
                    break None;
                }
            }
        }
    };
    let response = match sent {
        Some(Ok(response)) => response,
        Some(Err(e)) => return draft.refuse(failed(format!("the destination failed: {e}"))),
        None => {
            return draft.refuse(failed(format!(
                "the destination sent no answer in {} s",
                options.idle.as_secs()
            )))
        }
    };
    let (mut parts, body) = response.into_parts();
    strip_hop_by_hop(&mut parts.headers);
    let download = Metered::new(
        body,
        &activity,
        Direction::In,
        &limits,
        deadline,
        Some(draft),
    );
    Response::from_parts(parts, download.boxed_unsync())
}

/// What moved through one plain-HTTP exchange, and when last.
struct Activity {
    start: Instant,
    last_ms: AtomicU64,
    out: AtomicU64,
    inn: AtomicU64,
}

impl Activity {
    fn new() -> Self {
        Self {
            start: Instant::now(),
            last_ms: AtomicU64::new(0),
            out: AtomicU64::new(0),
            inn: AtomicU64::new(0),
        }
    }

    fn touch(&self) {
        self.last_ms
            .store(self.start.elapsed().as_millis() as u64, Ordering::Relaxed);
    }

    fn idle_deadline(&self, idle: Duration) -> Instant {
        self.start + Duration::from_millis(self.last_ms.load(Ordering::Relaxed)) + idle
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Direction {
    /// From the sandbox to the destination.
    Out,
    /// Back to the sandbox.
    In,
}

/// A body passing through the proxy: counted, held to the sandbox's byte rate and the
/// tunnel lifetime; the answer's body logs the decision once it ends.
struct Metered {
    inner: Incoming,
    activity: Arc<Activity>,
    direction: Direction,
    limits: Arc<PerSandbox>,
    wait: Option<Pin<Box<tokio::time::Sleep>>>,
    deadline: Pin<Box<tokio::time::Sleep>>,
    /// The decision to log when the body ends; only the answer's carries it.
    draft: Option<Draft>,
}

impl Metered {
    fn new(
        inner: Incoming,
        activity: &Arc<Activity>,
        direction: Direction,
        limits: &Arc<PerSandbox>,
        deadline: Instant,
        draft: Option<Draft>,
    ) -> Self {
        Self {
            inner,
            activity: Arc::clone(activity),
            direction,
            limits: Arc::clone(limits),
            wait: None,
            deadline: Box::pin(tokio::time::sleep_until(deadline)),
            draft,
        }
    }

    fn finish(&mut self, reason: &str) {
        if let Some(draft) = self.draft.take() {
            let (out, inn) = (
                self.activity.out.load(Ordering::Relaxed),
                self.activity.inn.load(Ordering::Relaxed),
            );
            draft.finish(Verdict::Allowed, reason.to_owned(), out, inn);
        }
    }
}

impl Body for Metered {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        if this.deadline.as_mut().poll(cx).is_ready() {
            this.finish("closed: it took longer than a tunnel may stay open");
            return Poll::Ready(Some(Err(
                "the exchange took longer than a tunnel may stay open".into(),
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
                    let counter = match this.direction {
                        Direction::Out => &this.activity.out,
                        Direction::In => &this.activity.inn,
                    };
                    counter.fetch_add(data.len() as u64, Ordering::Relaxed);
                    this.activity.touch();
                    if let Some(bucket) = &this.limits.bucket {
                        if let Some(wait) = bucket.reserve(data.len()) {
                            this.wait = Some(Box::pin(tokio::time::sleep(wait)));
                        }
                    }
                }
            }
            None => this.finish("answered"),
            Some(Err(_)) => this.finish("the answer broke off"),
        }
        Poll::Ready(frame.map(|f| f.map_err(Into::into)))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }
}

impl Drop for Metered {
    fn drop(&mut self) {
        self.finish("the client stopped reading");
    }
}
