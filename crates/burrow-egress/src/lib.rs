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
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use ipnet::IpNet;
use serde::Serialize;

pub use policy::{Domain, Mode, Policy};

/// The port of the proxy inside sandboxes.
pub const PROXY_PORT: u16 = 3128;
/// Decisions kept per sandbox.
pub const KEEP_DECISIONS: usize = 100;
/// Sandboxes whose decisions are kept; the least recently active are forgotten first.
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
    /// Connections open at once per sandbox.
    pub max_tunnels: usize,
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
    tunnels: Arc<tokio::sync::Semaphore>,
    bucket: Option<tunnel::Bucket>,
}

#[derive(Debug, Default)]
struct Decisions {
    by_sandbox: HashMap<String, VecDeque<Decision>>,
    /// Sandboxes, least recently active first.
    order: VecDeque<String>,
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
    pub async fn serve<IO>(&self, sandbox: &str, policy: Policy, io: IO)
    where
        IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        proxy::serve(self.clone(), Arc::from(sandbox), Arc::new(policy), io).await;
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
        decisions.order.retain(|s| s != sandbox);
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
                        tunnels: Arc::new(tokio::sync::Semaphore::new(options.max_tunnels)),
                        bucket: (options.bytes_per_sec > 0)
                            .then(|| tunnel::Bucket::new(options.bytes_per_sec)),
                    })
                }),
        )
    }

    /// Logs a decision, keeps it and tells the watchers.
    fn record(&self, decision: Decision) {
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
        let _ = self.inner.watchers.send(decision.clone());
        let mut decisions = self.inner.decisions.lock();
        let Decisions { by_sandbox, order } = &mut *decisions;
        if let Some(at) = order.iter().position(|s| *s == decision.sandbox) {
            order.remove(at);
        }
        order.push_back(decision.sandbox.clone());
        if order.len() > KEEP_SANDBOXES {
            if let Some(oldest) = order.pop_front() {
                by_sandbox.remove(&oldest);
            }
        }
        let kept = by_sandbox.entry(decision.sandbox.clone()).or_default();
        if kept.len() == KEEP_DECISIONS {
            kept.pop_front();
        }
        kept.push_back(decision);
    }
}
