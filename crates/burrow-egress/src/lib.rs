//! The egress proxy Burrow serves inside sandboxes: the only way out of a sandbox, deciding every connection on the address it dials.
//!
//! A sandbox has loopback only. A workload that may reach further gets a host service on
//! `127.0.0.1:3128` inside the sandbox, and `HTTP(S)_PROXY` pointing at it; whatever
//! connects there is handed to [`Egress::serve`] with the sandbox's [`Policy`]. It speaks
//! `CONNECT` (for HTTPS) and absolute-form plain HTTP, and for each request:
//! 1. refuses at once under `none`, on a port that is not open, or for a name that is
//!    never public (`metadata.google.internal`, `localhost`) or not on an allowlist, all
//!    before any lookup;
//! 2. reads IP literals the way browsers do (`127.1`, `0x7f.1` and `2130706433` are
//!    loopback), and looks names up once with a resolver it controls (never the C
//!    library, never `/etc/hosts`);
//! 3. classifies every answer ([`classify`]) and refuses if any is denied;
//! 4. dials the address it checked, from Burrow's own network namespace, so an answer
//!    that changes later (DNS rebinding) changes nothing;
//! 5. under an allowlist, requires the TLS ClientHello's SNI to be the `CONNECT` host.
//!
//! It never follows redirects and never forwards to a proxy the client names. Per
//! sandbox it caps open tunnels (429 past them), bytes per second, idle time and
//! tunnel lifetime. Every decision is one log line and is kept, the last
//! [`KEEP_DECISIONS`] per sandbox, for the people who run it ([`Egress::decisions`]).

pub mod classify;
pub mod policy;
mod proxy;
pub mod resolve;
mod sni;
mod tunnel;

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use ipnet::IpNet;
use serde::Serialize;

pub use policy::{Domain, Mode, Policy};

/// Where the proxy reads a sandbox's policy: at every request, so a policy changed while
/// a connection is open holds for that connection's next request.
pub trait PolicySource: Send + Sync + 'static {
    fn policy(&self) -> Pin<Box<dyn Future<Output = Policy> + Send + '_>>;
}

/// A fixed policy, as `burrow sandbox run --egress` has.
impl PolicySource for Policy {
    fn policy(&self) -> Pin<Box<dyn Future<Output = Policy> + Send + '_>> {
        Box::pin(std::future::ready(self.clone()))
    }
}

/// The port of the proxy inside sandboxes.
pub const PROXY_PORT: u16 = 3128;
/// Decisions kept per sandbox.
pub const KEEP_DECISIONS: usize = 100;
/// Sandboxes whose decisions are kept (each is forgotten when deleted); past this bound,
/// another sandbox's decisions make room.
const KEEP_SANDBOXES: usize = 10_000;

/// Knobs, from the configuration.
#[derive(Debug, Clone)]
pub struct Options {
    /// Name servers to ask; the system's (`/etc/resolv.conf`) when empty.
    pub name_servers: Vec<SocketAddr>,
    /// Ports `CONNECT` may reach.
    pub connect_ports: Vec<u16>,
    /// Ports plain HTTP may reach.
    pub http_ports: Vec<u16>,
    /// Ranges `public` and allowlists may reach although the table denies them (an
    /// internal service, say); loopback, link-local and this host never open.
    pub allow_ranges: Vec<IpNet>,
    /// Tunnels (and plain-HTTP exchanges) open at once per sandbox; as many connections
    /// to the proxy may be open.
    pub max_tunnels: usize,
    /// Requests per second per sandbox (a second's worth may come at once).
    pub requests_per_sec: u32,
    /// Bytes per second per sandbox, both ways together; 0 for no cap.
    pub bytes_per_sec: u64,
    /// A tunnel with no byte either way for this long is closed.
    pub idle: Duration,
    /// A tunnel open this long is closed, however busy.
    pub max_duration: Duration,
    /// How long one DNS query may take.
    pub dns_timeout: Duration,
    /// How long dialling may take.
    pub connect_timeout: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            name_servers: Vec::new(),
            connect_ports: vec![443],
            http_ports: vec![80],
            allow_ranges: Vec::new(),
            max_tunnels: 100,
            requests_per_sec: 100,
            bytes_per_sec: 50 << 20,
            idle: Duration::from_secs(120),
            max_duration: Duration::from_secs(3600),
            dns_timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(10),
        }
    }
}

/// What became of one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// The policy allowed it and the connection was made.
    Allowed,
    /// The policy refused it.
    Denied,
    /// A limit refused it.
    Limited,
    /// The policy allowed it, but the destination could not be reached.
    Failed,
}

/// One decision, as logged and kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decision {
    /// Milliseconds since the epoch.
    pub at_ms: i64,
    /// Whose sandbox asked: an app's id, a workspace's id, or a sandbox's.
    pub sandbox: String,
    /// `CONNECT`, or the plain-HTTP method.
    pub method: String,
    /// The host as the request named it.
    pub host: String,
    pub port: u16,
    /// The address that was checked (and dialled, when allowed).
    pub address: Option<String>,
    pub verdict: Verdict,
    /// Why, in words people read: "cloud metadata endpoint", "closed".
    pub reason: String,
    /// Bytes from the sandbox out, and back in.
    pub bytes_out: u64,
    pub bytes_in: u64,
    pub duration_ms: u64,
}

impl Decision {
    /// The decision in one line, as `burrow sandbox run` prints refusals.
    pub fn summary(&self) -> String {
        let target = match &self.address {
            Some(addr) if *addr != self.host => format!("{} ({addr}):{}", self.host, self.port),
            _ => format!("{}:{}", self.host, self.port),
        };
        let verdict = match self.verdict {
            Verdict::Allowed => "allowed",
            Verdict::Denied => "blocked",
            Verdict::Limited => "limited",
            Verdict::Failed => "failed",
        };
        format!("{verdict}: {} {target}, {}", self.method, self.reason)
    }
}

/// The proxy, shared by every sandbox's listener; cheap to clone.
#[derive(Debug, Clone)]
pub struct Egress {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    options: Options,
    resolver: resolve::Resolver,
    own: resolve::OwnAddresses,
    sandboxes: parking_lot::Mutex<HashMap<String, Arc<PerSandbox>>>,
    decisions: parking_lot::Mutex<Decisions>,
    watchers: tokio::sync::broadcast::Sender<Decision>,
}

/// One sandbox's share of the limits.
#[derive(Debug)]
struct PerSandbox {
    connections: Arc<tokio::sync::Semaphore>,
    tunnels: Arc<tokio::sync::Semaphore>,
    requests: tunnel::Bucket,
    bucket: Option<tunnel::Bucket>,
}

#[derive(Debug, Default)]
struct Decisions {
    by_sandbox: HashMap<String, VecDeque<Decision>>,
    /// When (ms) each sandbox's last refusal by a limit was logged: one line a second at
    /// most, so a flood of refused requests cannot flood the log.
    limited_logged: HashMap<String, i64>,
}

impl Egress {
    /// A proxy with `options`. Without a name server, every lookup fails (and denies).
    pub fn new(options: Options) -> Self {
        let resolver = resolve::Resolver::new(&options.name_servers, options.dns_timeout);
        let (watchers, _) = tokio::sync::broadcast::channel(256);
        Self {
            inner: Arc::new(Inner {
                options,
                resolver,
                own: resolve::OwnAddresses::new(),
                sandboxes: parking_lot::Mutex::new(HashMap::new()),
                decisions: parking_lot::Mutex::new(Decisions::default()),
                watchers,
            }),
        }
    }

    pub fn options(&self) -> &Options {
        &self.inner.options
    }

    /// Serves one connection the sandbox `sandbox` made to its proxy port, under
    /// `policy`, until the client closes it. What arrives is untrusted.
    pub async fn serve<IO>(&self, sandbox: &str, policy: Arc<dyn PolicySource>, io: IO)
    where
        IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        proxy::serve(self.clone(), Arc::from(sandbox), policy, io).await;
    }

    /// The recent decisions for `sandbox`, newest first.
    pub fn decisions(&self, sandbox: &str) -> Vec<Decision> {
        self.inner
            .decisions
            .lock()
            .by_sandbox
            .get(sandbox)
            .map(|d| d.iter().rev().cloned().collect())
            .unwrap_or_default()
    }

    /// Every decision from now on, as it is made.
    pub fn watch(&self) -> tokio::sync::broadcast::Receiver<Decision> {
        self.inner.watchers.subscribe()
    }

    /// Forgets a sandbox's decisions and limits, once it is deleted.
    pub fn forget(&self, sandbox: &str) {
        self.inner.sandboxes.lock().remove(sandbox);
        let mut decisions = self.inner.decisions.lock();
        decisions.by_sandbox.remove(sandbox);
        decisions.limited_logged.remove(sandbox);
    }

    fn sandbox(&self, sandbox: &str) -> Arc<PerSandbox> {
        let options = &self.inner.options;
        Arc::clone(
            self.inner
                .sandboxes
                .lock()
                .entry(sandbox.to_owned())
                .or_insert_with(|| {
                    Arc::new(PerSandbox {
                        connections: Arc::new(tokio::sync::Semaphore::new(options.max_tunnels)),
                        tunnels: Arc::new(tokio::sync::Semaphore::new(options.max_tunnels)),
                        requests: tunnel::Bucket::new(u64::from(options.requests_per_sec.max(1))),
                        bucket: (options.bytes_per_sec > 0)
                            .then(|| tunnel::Bucket::new(options.bytes_per_sec)),
                    })
                }),
        )
    }

    /// Logs a decision, keeps it and tells the watchers.
    fn record(&self, decision: Decision) {
        let mut decisions = self.inner.decisions.lock();
        let Decisions {
            by_sandbox,
            limited_logged,
        } = &mut *decisions;
        let quiet = decision.verdict == Verdict::Limited && {
            let last = limited_logged.entry(decision.sandbox.clone()).or_insert(0);
            let quiet = decision.at_ms - *last < 1000;
            if !quiet {
                *last = decision.at_ms;
            }
            quiet
        };
        if !quiet {
            tracing::info!(
                target: "burrow_egress",
                sandbox = %decision.sandbox,
                method = %decision.method,
                host = %decision.host,
                port = decision.port,
                address = decision.address.as_deref().unwrap_or(""),
                verdict = ?decision.verdict,
                reason = %decision.reason,
                bytes_out = decision.bytes_out,
                bytes_in = decision.bytes_in,
                duration_ms = decision.duration_ms,
                "egress decision"
            );
        }
        let _ = self.inner.watchers.send(decision.clone());
        if !by_sandbox.contains_key(&decision.sandbox) && by_sandbox.len() >= KEEP_SANDBOXES {
            // Sandboxes are forgotten when deleted; past the bound, any other one goes.
            if let Some(other) = by_sandbox.keys().next().cloned() {
                by_sandbox.remove(&other);
                limited_logged.remove(&other);
            }
        }
        let kept = by_sandbox.entry(decision.sandbox.clone()).or_default();
        if kept.len() == KEEP_DECISIONS {
            kept.pop_front();
        }
        kept.push_back(decision);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A policy an editor changes while a connection stays open.
    struct Changing(parking_lot::Mutex<Policy>);

    impl PolicySource for Changing {
        fn policy(&self) -> Pin<Box<dyn Future<Output = Policy> + Send + '_>> {
            Box::pin(std::future::ready(self.0.lock().clone()))
        }
    }

    async fn ask(sandbox: &mut tokio::io::DuplexStream, target: &str) -> String {
        sandbox
            .write_all(format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n").as_bytes())
            .await
            .unwrap();
        let mut answer = vec![0u8; 1024];
        let n = sandbox.read(&mut answer).await.unwrap();
        String::from_utf8_lossy(&answer[..n]).into_owned()
    }

    #[tokio::test]
    async fn a_changed_policy_holds_for_the_next_request_on_an_open_connection() {
        let egress = Egress::new(Options::default());
        let source = Arc::new(Changing(parking_lot::Mutex::new(Policy::PUBLIC)));
        let (mut sandbox, proxy_end) = tokio::io::duplex(4096);
        let serving = tokio::spawn({
            let (egress, source) = (egress.clone(), Arc::clone(&source));
            async move { egress.serve("app", source, proxy_end).await }
        });
        assert!(ask(&mut sandbox, "127.0.0.1:443")
            .await
            .contains("loopback range"));
        *source.0.lock() = Policy::NONE;
        assert!(ask(&mut sandbox, "127.0.0.1:443")
            .await
            .contains("the egress policy is none"));
        drop(sandbox);
        serving.await.unwrap();
        let reasons: Vec<String> = egress
            .decisions("app")
            .into_iter()
            .map(|d| d.reason)
            .collect();
        assert_eq!(reasons.len(), 2, "{reasons:?}");
        assert!(
            reasons[0].starts_with("the egress policy is none"),
            "newest first: {reasons:?}"
        );
    }

    #[tokio::test]
    async fn connections_past_the_cap_are_refused_and_hosts_are_logged_short() {
        let egress = Egress::new(Options {
            max_tunnels: 1,
            ..Options::default()
        });
        let (mut first, first_end) = tokio::io::duplex(4096);
        let held = tokio::spawn({
            let egress = egress.clone();
            async move {
                egress
                    .serve("app", Arc::new(Policy::PUBLIC), first_end)
                    .await
            }
        });
        // The first connection is being served: a request shows it.
        let long = format!("{}.example.com:443", vec!["a".repeat(60); 5].join("."));
        assert!(ask(&mut first, &long).await.contains(" 403 "));
        let (mut second, second_end) = tokio::io::duplex(4096);
        egress
            .serve("app", Arc::new(Policy::PUBLIC), second_end)
            .await;
        let mut answer = String::new();
        second.read_to_string(&mut answer).await.unwrap();
        assert!(answer.starts_with("HTTP/1.1 429"), "{answer}");
        drop(first);
        held.await.unwrap();
        let decisions = egress.decisions("app");
        assert_eq!(decisions[0].verdict, Verdict::Limited);
        assert_eq!(
            decisions[1].reason, "not a valid host name",
            "longer than DNS allows"
        );
        assert_eq!(decisions[1].host.len(), 255, "kept short in the log");
    }
}
