//! A fake internet for egress tests: a network namespace with web servers, a DNS server for a test zone, and a canary on this host's own addresses.
//!
//! The "remote" side lives in a network namespace of its own,
//! `burrow-inet-<pid>`, joined to this host by a veth pair: the host end holds
//! [`TestInternet::gateway`] (an address of this host), the far end holds
//! [`TestInternet::host`] (the remote test host). Both come from a /30 of
//! TEST-NET-3 (203.0.113.0/24), picked from the pid so that two test processes
//! rarely share one, and never one holding an address a registry resolves to
//! (some networks answer for real hosts inside TEST-NET-3).
//!
//! On [`TestInternet::host`] the namespace serves plain HTTP on ports 80 and
//! 8080 and HTTPS on 443, with a self-signed certificate for `site.test`,
//! `*.site.test`, `other.test`, `rebind.test` and the host's address. A DNS
//! server on a loopback port of this host answers for the `.test` names a
//! proxy must accept or refuse (private, loopback, metadata, rebinding, NAT64
//! and mapped addresses). Listeners on `127.0.0.1` and on the gateway address,
//! ports 80 and 443, count every connection they take: a test asserts at the
//! end that a proxy never reached this host itself.
//!
//! Everything is a process-wide singleton, made on the first
//! [`TestInternet::get`] and served by a thread with its own runtime, so any
//! test on any runtime (or none) can use it. The namespace outlives the
//! process; the next setup removes those whose process is gone.

// The fixture builds its network with `ip`; tests run as root.
#![allow(clippy::disallowed_methods)]

use std::convert::Infallible;
use std::fmt;
use std::fs::File;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;
use std::pin::Pin;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use hickory_proto::op::{Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA};
use hickory_proto::rr::{RData, Record, RecordType};
use http_body::{Frame, SizeHint};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{CONTENT_LENGTH, CONTENT_TYPE, HOST, LOCATION};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio_rustls::TlsAcceptor;

/// Namespaces are named this prefix and the pid of the process that made them.
const NAMESPACE_PREFIX: &str = "burrow-inet-";

/// Where `/redirect` sends a client: the cloud metadata service.
const METADATA_URL: &str = "http://169.254.169.254/latest/meta-data/";

/// The names the certificate covers, besides the host's address.
const CERT_NAMES: [&str; 4] = ["site.test", "*.site.test", "other.test", "rebind.test"];

/// The fake internet; see the module documentation.
pub struct TestInternet {
    /// The remote test host, inside the namespace.
    pub host: Ipv4Addr,
    /// This host's end of the link: an address of this host.
    pub gateway: Ipv4Addr,
    /// The DNS server for the test zone (UDP and TCP), on loopback.
    pub dns: SocketAddr,
    /// The self-signed certificate the HTTPS server presents, as PEM.
    pub ca_pem: String,
    namespace: String,
    state: Arc<State>,
}

impl fmt::Debug for TestInternet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestInternet")
            .field("host", &self.host)
            .field("gateway", &self.gateway)
            .field("dns", &self.dns)
            .field("namespace", &self.namespace)
            .field("canary_hits", &self.canary_hits())
            .field("dns_queries", &self.dns_queries())
            .finish_non_exhaustive()
    }
}

impl TestInternet {
    /// The process's test internet, set up on the first call (which needs root).
    pub fn get() -> &'static TestInternet {
        static INTERNET: OnceLock<TestInternet> = OnceLock::new();
        INTERNET.get_or_init(TestInternet::start)
    }

    /// Connections taken on `127.0.0.1` and the gateway address, ports 80 and 443.
    pub fn canary_hits(&self) -> usize {
        self.state.canary_hits.load(Ordering::SeqCst)
    }

    /// DNS messages received, over UDP and TCP.
    pub fn dns_queries(&self) -> usize {
        self.state.dns_queries.load(Ordering::SeqCst)
    }

    /// Every name asked for, in order: lower-case, without the trailing dot.
    pub fn dns_names(&self) -> Vec<String> {
        self.state.dns_names.lock().clone()
    }

    /// A queries for `rebind.test`; odd-numbered ones were answered with the
    /// host, even-numbered ones with 127.0.0.1.
    pub fn rebind_queries(&self) -> usize {
        self.state.rebind_queries.load(Ordering::SeqCst)
    }

    /// Holds what the test host sends to at most `mbit` megabits per second, as a real
    /// uplink would (a token bucket on its end of the link); `None` lifts the limit.
    pub fn shape_link(&self, mbit: Option<u32>) {
        let (_, inside) = veth_names(std::process::id());
        let _ = try_ip(&format!(
            "netns exec {} tc qdisc del dev {inside} root",
            self.namespace
        ));
        if let Some(mbit) = mbit {
            ip(&format!(
                "netns exec {} tc qdisc add dev {inside} root tbf rate {mbit}mbit burst 256kb latency 20ms",
                self.namespace
            ));
        }
    }

    fn start() -> Self {
        // Loopback first: a taken port fails the setup before it changes the network.
        let [loopback_http, loopback_https] = [80, 443].map(|port| {
            listen(SocketAddr::from((Ipv4Addr::LOCALHOST, port))).unwrap_or_else(|e| {
                if e.kind() == io::ErrorKind::AddrInUse {
                    panic!(
                        "port {port} on 127.0.0.1 is taken: the egress tests need it free, \
                         to catch connections to this host on it"
                    )
                }
                panic!("the test internet's canary cannot listen on 127.0.0.1:{port}: {e}")
            })
        });
        let link = Link::create(std::process::id());
        let remote = link.listen_inside(&[80, 8080, 443]);
        let [gateway_http, gateway_https] = [80, 443].map(|port| {
            listen(SocketAddr::from((link.gateway, port))).unwrap_or_else(|e| {
                panic!(
                    "the test internet's canary cannot listen on {}:{port}: {e}",
                    link.gateway
                )
            })
        });
        let canary = [loopback_http, loopback_https, gateway_http, gateway_https];
        let (dns_udp, dns_tcp) = bind_dns();
        let dns = dns_tcp.local_addr().expect("the DNS listener's address");
        let (ca_pem, tls) = tls_config(link.host);

        let state = Arc::new(State {
            host: link.host,
            gateway: link.gateway,
            canary_hits: AtomicUsize::new(0),
            dns_queries: AtomicUsize::new(0),
            dns_names: parking_lot::Mutex::new(Vec::new()),
            rebind_queries: AtomicUsize::new(0),
        });
        let sockets = Sockets {
            remote,
            canary,
            dns_udp,
            dns_tcp,
        };

        // The servers run on a runtime of their own that lives as long as the
        // process, on a plain thread: callers may be on any runtime, or none.
        let (ready_tx, ready_rx) = mpsc::channel();
        let serving = state.clone();
        std::thread::Builder::new()
            .name("test-internet".into())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .thread_name("test-internet-worker")
                    .enable_all()
                    .build()
                    .expect("build the test internet's runtime");
                runtime.block_on(async move {
                    let started = serve(sockets, tls, serving);
                    let _ = ready_tx.send(started.map_err(|e| e.to_string()));
                    std::future::pending::<()>().await;
                });
            })
            .expect("start the test internet's thread");
        match ready_rx.recv() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => panic!("the test internet's servers did not start: {e}"),
            Err(_) => panic!("the test internet's thread died while starting"),
        }

        Self {
            host: link.host,
            gateway: link.gateway,
            dns,
            ca_pem,
            namespace: link.namespace,
            state,
        }
    }
}

/// What the servers count, and the addresses the zone answers with.
#[derive(Debug)]
struct State {
    host: Ipv4Addr,
    gateway: Ipv4Addr,
    canary_hits: AtomicUsize,
    dns_queries: AtomicUsize,
    dns_names: parking_lot::Mutex<Vec<String>>,
    rebind_queries: AtomicUsize,
}

/// The listening sockets, bound before the runtime that serves them exists.
struct Sockets {
    /// Inside the namespace, on the host: HTTP on 80 and 8080, HTTPS on 443.
    remote: [std::net::TcpListener; 3],
    canary: [std::net::TcpListener; 4],
    dns_udp: std::net::UdpSocket,
    dns_tcp: std::net::TcpListener,
}

/// Spawns every server on the current runtime.
fn serve(sockets: Sockets, tls: TlsAcceptor, state: Arc<State>) -> io::Result<()> {
    let [http, http_alt, https] = sockets.remote;
    tokio::spawn(serve_http(TcpListener::from_std(http)?, None));
    tokio::spawn(serve_http(TcpListener::from_std(http_alt)?, None));
    tokio::spawn(serve_http(TcpListener::from_std(https)?, Some(tls)));
    for canary in sockets.canary {
        tokio::spawn(serve_canary(TcpListener::from_std(canary)?, state.clone()));
    }
    tokio::spawn(serve_dns_udp(
        UdpSocket::from_std(sockets.dns_udp)?,
        state.clone(),
    ));
    tokio::spawn(serve_dns_tcp(
        TcpListener::from_std(sockets.dns_tcp)?,
        state,
    ));
    Ok(())
}

// ---------------------------------------------------------------------------
// The network
// ---------------------------------------------------------------------------

/// The namespace and the veth pair that joins it to this host.
struct Link {
    namespace: String,
    host: Ipv4Addr,
    gateway: Ipv4Addr,
}

impl Link {
    fn create(pid: u32) -> Self {
        remove_stale(pid);
        let namespace = format!("{NAMESPACE_PREFIX}{pid}");
        let (outside, inside) = veth_names(pid);
        let (gateway, host) = free_subnet(pid);

        ip(&format!("netns add {namespace}"));
        ip(&format!(
            "link add {outside} type veth peer name {inside} netns {namespace}"
        ));
        ip(&format!("addr add {gateway}/30 dev {outside}"));
        ip(&format!("link set {outside} up"));
        ip(&format!("-n {namespace} addr add {host}/30 dev {inside}"));
        ip(&format!("-n {namespace} link set lo up"));
        ip(&format!("-n {namespace} link set {inside} up"));
        // Replies reach clients whose address is not on the link, too.
        ip(&format!("-n {namespace} route add default via {gateway}"));

        Self {
            namespace,
            host,
            gateway,
        }
    }

    /// Listeners on the host's `ports`, made inside the namespace.
    ///
    /// A short-lived thread enters the namespace and binds them; a socket stays
    /// in the namespace it was created in, and the thread exits afterwards, so
    /// no other work ever runs inside it.
    fn listen_inside<const N: usize>(&self, ports: &[u16; N]) -> [std::net::TcpListener; N] {
        let path = format!("/var/run/netns/{}", self.namespace);
        let ns = File::open(&path).unwrap_or_else(|e| panic!("open {path}: {e}"));
        let (host, ports) = (self.host, *ports);
        std::thread::spawn(move || -> io::Result<[std::net::TcpListener; N]> {
            rustix::thread::move_into_link_name_space(
                std::os::fd::AsFd::as_fd(&ns),
                Some(rustix::thread::LinkNameSpaceType::Network),
            )?;
            let listeners = ports
                .iter()
                .map(|&port| listen(SocketAddr::from((host, port))))
                .collect::<io::Result<Vec<_>>>()?;
            Ok(listeners
                .try_into()
                .unwrap_or_else(|_| unreachable!("one listener a port")))
        })
        .join()
        .expect("the namespace helper thread panicked")
        .unwrap_or_else(|e| panic!("listen inside {}: {e}", self.namespace))
    }
}

/// The host and namespace ends of the veth pair of process `pid`.
fn veth_names(pid: u32) -> (String, String) {
    // Interface names are at most 15 bytes; a pid is at most 7 digits.
    (format!("bi{pid}h"), format!("bi{pid}n"))
}

/// Removes the namespaces, and host ends of veth pairs, of processes that are
/// gone, and any of this pid's from an earlier process that had it.
fn remove_stale(pid: u32) {
    let stale = |other: u32| other == pid || !Path::new(&format!("/proc/{other}")).exists();
    for line in ip("netns list").lines() {
        // Lines read `name` or `name (id: N)`.
        let Some(name) = line.split_whitespace().next() else {
            continue;
        };
        let owner = name
            .strip_prefix(NAMESPACE_PREFIX)
            .and_then(|digits| digits.parse::<u32>().ok());
        if owner.is_some_and(stale) {
            ip(&format!("netns delete {name}"));
        }
    }
    // Deleting a namespace destroys its veth pairs only once the kernel gets to
    // it, and a setup that died early may have left a host end behind.
    let links = std::fs::read_dir("/sys/class/net").expect("list /sys/class/net");
    for entry in links.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let owner = name
            .strip_prefix("bi")
            .and_then(|rest| rest.strip_suffix('h'))
            .and_then(|digits| digits.parse::<u32>().ok());
        if owner.is_some_and(stale) {
            delete_link(&name);
        }
    }
}

/// Deletes a link (and so its veth peer), unless it disappears by itself meanwhile.
fn delete_link(name: &str) {
    if let Err(failure) = try_ip(&format!("link delete {name}")) {
        if Path::new("/sys/class/net").join(name).exists() {
            panic!("{failure}");
        }
    }
}

/// Hosts that the build and the tests beside this one reach while it runs. A
/// network may well answer for them inside TEST-NET-3, and a /30 holding one of
/// their addresses would route it into the namespace.
const REAL_HOSTS: [&str; 6] = [
    "pypi.org",
    "files.pythonhosted.org",
    "index.crates.io",
    "static.crates.io",
    "registry.npmjs.org",
    "deb.debian.org",
];

/// The gateway and host addresses of a /30 of 203.0.113.0/24 no interface of
/// this host uses and no real host resolves to, starting from the one `pid` picks.
fn free_subnet(pid: u32) -> (Ipv4Addr, Ipv4Addr) {
    let real: Vec<Ipv4Addr> = REAL_HOSTS
        .iter()
        .filter_map(|name| std::net::ToSocketAddrs::to_socket_addrs(&(*name, 443)).ok())
        .flatten()
        .filter_map(|addr| match addr.ip() {
            IpAddr::V4(v4) => Some(v4),
            IpAddr::V6(_) => None,
        })
        .collect();
    pick_subnet(pid, &ip("-4 -o addr show"), &real)
}

/// The first /30 from `pid`'s on that holds none of `real` and whose addresses
/// `used` (`ip -4 -o addr show`) does not list.
fn pick_subnet(pid: u32, used: &str, real: &[Ipv4Addr]) -> (Ipv4Addr, Ipv4Addr) {
    (0..63)
        .map(|i| 4 * ((pid + i) % 63) as u8)
        .filter(|&base| {
            !real
                .iter()
                .any(|a| a.octets()[..3] == [203, 0, 113] && a.octets()[3] & !3 == base)
        })
        .map(|base| {
            (
                Ipv4Addr::new(203, 0, 113, base + 1),
                Ipv4Addr::new(203, 0, 113, base + 2),
            )
        })
        .find(|(gateway, host)| {
            !used.contains(&format!("inet {gateway}/")) && !used.contains(&format!("inet {host}/"))
        })
        .expect("every /30 of 203.0.113.0/24 is in use on this host")
}

/// Runs `ip` with the whitespace-separated `args`, returning its output, or
/// panicking with the command and its error if it fails.
fn ip(args: &str) -> String {
    try_ip(args).unwrap_or_else(|failure| panic!("{failure}"))
}

fn try_ip(args: &str) -> Result<String, String> {
    let command = format!("ip {args}");
    let output = Command::new("ip")
        .args(args.split_whitespace())
        .output()
        .map_err(|e| format!("`{command}` could not run: {e}"))?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(format!(
            "`{command}` failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

/// A nonblocking listener with SO_REUSEADDR, so a port a previous run left in
/// TIME_WAIT binds at once.
fn listen(addr: SocketAddr) -> io::Result<std::net::TcpListener> {
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::STREAM,
        Some(socket2::Protocol::TCP),
    )?;
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}

/// Accepts forever, riding out transient errors such as running out of descriptors.
async fn accept(listener: &TcpListener) -> TcpStream {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => return stream,
            Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    }
}

// ---------------------------------------------------------------------------
// The canary
// ---------------------------------------------------------------------------

/// Counts each connection, then closes it.
async fn serve_canary(listener: TcpListener, state: Arc<State>) {
    loop {
        let stream = accept(&listener).await;
        state.canary_hits.fetch_add(1, Ordering::SeqCst);
        drop(stream);
    }
}

// ---------------------------------------------------------------------------
// The web servers
// ---------------------------------------------------------------------------

type Body = BoxBody<Bytes, Infallible>;

/// The certificate's PEM, and a TLS acceptor that presents it.
fn tls_config(host: Ipv4Addr) -> (String, TlsAcceptor) {
    let mut names: Vec<String> = CERT_NAMES.iter().map(|name| name.to_string()).collect();
    names.push(host.to_string());
    let mut params = rcgen::CertificateParams::new(names).expect("the certificate's names");
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "Burrow test internet");
    let key = rcgen::KeyPair::generate().expect("generate the certificate's key");
    let cert = params.self_signed(&key).expect("sign the test certificate");

    let key = rustls::pki_types::PrivatePkcs8KeyDer::from(key.serialize_der());
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("ring supports the default TLS versions")
    .with_no_client_auth()
    .with_single_cert(vec![cert.der().clone()], key.into())
    .expect("the test certificate and key match");
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    (cert.pem(), TlsAcceptor::from(Arc::new(config)))
}

/// Serves HTTP/1.1 on every connection, over TLS if `tls` is set.
async fn serve_http(listener: TcpListener, tls: Option<TlsAcceptor>) {
    loop {
        let stream = accept(&listener).await;
        let tls = tls.clone();
        tokio::spawn(async move {
            match tls {
                None => serve_connection(stream).await,
                Some(tls) => {
                    if let Ok(stream) = tls.accept(stream).await {
                        serve_connection(stream).await;
                    }
                }
            }
        });
    }
}

async fn serve_connection<S>(stream: S)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    // A client that goes away mid-response is no concern of the server's.
    let _ = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(stream), hyper::service::service_fn(respond))
        .await;
}

async fn respond(request: Request<Incoming>) -> Result<Response<Body>, Infallible> {
    let path = request.uri().path();
    let response = match (request.method(), path) {
        (&Method::GET, "/hello") => {
            let host = request
                .headers()
                .get(HOST)
                .and_then(|host| host.to_str().ok())
                .or_else(|| {
                    request
                        .uri()
                        .authority()
                        .map(|authority| authority.as_str())
                })
                .unwrap_or_default();
            let body = format!("hello from the test internet via {host}");
            Response::builder()
                .header(CONTENT_TYPE, "text/plain")
                .body(full(body))
        }
        (&Method::GET, "/redirect") => Response::builder()
            .status(StatusCode::FOUND)
            .header(LOCATION, METADATA_URL)
            .body(full("")),
        (&Method::POST, "/echo") => match request.into_body().collect().await {
            Ok(body) => Response::builder()
                .header(CONTENT_TYPE, "application/octet-stream")
                .body(full(body.to_bytes())),
            Err(_) => Response::builder()
                .status(StatusCode::BAD_REQUEST)
                .body(full("")),
        },
        (&Method::GET, _) => match path.strip_prefix("/bytes/").map(str::parse::<u64>) {
            Some(Ok(len)) => Response::builder()
                .header(CONTENT_TYPE, "application/octet-stream")
                .header(CONTENT_LENGTH, len)
                .body(Filler { remaining: len }.boxed()),
            _ => not_found(),
        },
        _ => not_found(),
    };
    Ok(response.expect("a well-formed response"))
}

fn full(body: impl Into<Bytes>) -> Body {
    Full::new(body.into()).boxed()
}

fn not_found() -> Result<Response<Body>, hyper::http::Error> {
    Response::builder()
        .status(StatusCode::NOT_FOUND)
        .body(full("not found"))
}

/// What `/bytes/<n>` sends, a chunk at a time.
static CHUNK: [u8; 64 * 1024] = [b'x'; 64 * 1024];

/// A body of `remaining` bytes cut from [`CHUNK`]: any size, without allocating it.
struct Filler {
    remaining: u64,
}

impl http_body::Body for Filler {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if self.remaining == 0 {
            return Poll::Ready(None);
        }
        let len = self.remaining.min(CHUNK.len() as u64) as usize;
        self.remaining -= len as u64;
        Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(&CHUNK[..len])))))
    }

    fn is_end_stream(&self) -> bool {
        self.remaining == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}

// ---------------------------------------------------------------------------
// DNS
// ---------------------------------------------------------------------------

/// A TCP listener and a UDP socket on the same loopback port.
fn bind_dns() -> (std::net::UdpSocket, std::net::TcpListener) {
    let mut last_error = None;
    // The TCP port the kernel picks may be taken for UDP: try a few.
    for _ in 0..20 {
        let tcp = listen(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).expect("bind a DNS listener");
        let addr = tcp.local_addr().expect("the DNS listener's address");
        match std::net::UdpSocket::bind(addr) {
            Ok(udp) => {
                udp.set_nonblocking(true).expect("a nonblocking DNS socket");
                return (udp, tcp);
            }
            Err(e) => last_error = Some(e),
        }
    }
    panic!("no loopback port was free for DNS over both UDP and TCP: {last_error:?}")
}

async fn serve_dns_udp(socket: UdpSocket, state: Arc<State>) {
    let mut buf = vec![0; 4096];
    loop {
        let Ok((len, peer)) = socket.recv_from(&mut buf).await else {
            continue;
        };
        if let Some(reply) = answer(&buf[..len], &state) {
            let _ = socket.send_to(&reply, peer).await;
        }
    }
}

async fn serve_dns_tcp(listener: TcpListener, state: Arc<State>) {
    loop {
        let stream = accept(&listener).await;
        tokio::spawn(serve_dns_connection(stream, state.clone()));
    }
}

/// Answers length-prefixed messages until the client closes the connection.
async fn serve_dns_connection(mut stream: TcpStream, state: Arc<State>) -> io::Result<()> {
    loop {
        let mut len = [0; 2];
        stream.read_exact(&mut len).await?;
        let mut message = vec![0; u16::from_be_bytes(len).into()];
        stream.read_exact(&mut message).await?;
        if let Some(reply) = answer(&message, &state) {
            let len = u16::try_from(reply.len()).expect("replies are small");
            stream.write_all(&len.to_be_bytes()).await?;
            stream.write_all(&reply).await?;
        }
    }
}

/// The reply to a DNS message, if it deserves one.
fn answer(message: &[u8], state: &State) -> Option<Vec<u8>> {
    state.dns_queries.fetch_add(1, Ordering::SeqCst);
    let request = match Message::from_vec(message) {
        Ok(request) => request,
        Err(_) => {
            // Malformed: answer FORMERR if there is an id to answer to.
            let id = u16::from_be_bytes(message.get(..2)?.try_into().ok()?);
            return Message::error_msg(id, OpCode::Query, ResponseCode::FormErr)
                .to_vec()
                .ok();
        }
    };
    if request.message_type() != MessageType::Query {
        return None;
    }

    let mut reply = Message::new();
    reply
        .set_id(request.id())
        .set_message_type(MessageType::Response)
        .set_op_code(request.op_code())
        .set_authoritative(true)
        .set_recursion_desired(request.recursion_desired())
        .set_recursion_available(true);
    if request.op_code() != OpCode::Query {
        reply.set_response_code(ResponseCode::NotImp);
        return reply.to_vec().ok();
    }
    for query in request.queries() {
        reply.add_query(query.clone());
        let name = query.name().to_ascii();
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        let records = lookup(&name, query.query_type(), state);
        state.dns_names.lock().push(name);
        let Some((ttl, addrs)) = records else {
            reply.set_response_code(ResponseCode::NXDomain);
            continue;
        };
        for addr in addrs {
            let data = match addr {
                IpAddr::V4(v4) => RData::A(A(v4)),
                IpAddr::V6(v6) => RData::AAAA(AAAA(v6)),
            };
            // The answer carries the name as asked, case and all.
            reply.add_answer(Record::from_rdata(query.name().clone(), ttl, data));
        }
    }
    reply.to_vec().ok()
}

/// The test zone: the TTL and addresses of `name` for a query of `kind`, or
/// `None` if the name does not exist.
fn lookup(name: &str, kind: RecordType, state: &State) -> Option<(u32, Vec<IpAddr>)> {
    let host = IpAddr::V4(state.host);
    let loopback = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let (ttl, addrs) = match name {
        "site.test" | "other.test" | "big.test" => (60, vec![host]),
        _ if name.ends_with(".site.test") => (60, vec![host]),
        "loopback.test" => (0, vec![loopback]),
        "private.test" => (0, vec![Ipv4Addr::new(10, 0, 0, 1).into()]),
        "cgnat.test" => (0, vec![Ipv4Addr::new(100, 64, 0, 1).into()]),
        "metadata.test" => (0, vec![Ipv4Addr::new(169, 254, 169, 254).into()]),
        "gateway.test" => (0, vec![state.gateway.into()]),
        "mapped.test" => (0, vec![Ipv4Addr::LOCALHOST.to_ipv6_mapped().into()]),
        "mixed.test" => (0, vec![host, loopback]),
        // A rebinding attacker: the host on odd-numbered queries, loopback on even ones.
        "rebind.test" if kind == RecordType::A => {
            let n = state.rebind_queries.fetch_add(1, Ordering::SeqCst) + 1;
            (0, vec![if n % 2 == 1 { host } else { loopback }])
        }
        "rebind.test" => (0, vec![]),
        // NAT64's well-known prefix in front of 127.0.0.1.
        "v6only.test" => (
            0,
            vec![Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, 0, 0x7f00, 1).into()],
        ),
        _ => return None,
    };
    let wanted = |addr: &IpAddr| match kind {
        RecordType::A => addr.is_ipv4(),
        RecordType::AAAA => addr.is_ipv6(),
        RecordType::ANY => true,
        _ => false,
    };
    Some((ttl, addrs.into_iter().filter(wanted).collect()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_subnet_takes_a_registry_address() {
        // pid 3800 picks 203.0.113.80/30 first: a network answered for PyPI there.
        let registry = Ipv4Addr::new(203, 0, 113, 80);
        assert_eq!(pick_subnet(3800, "", &[]).0, Ipv4Addr::new(203, 0, 113, 81));
        let (gateway, host) = pick_subnet(3800, "", &[registry]);
        assert_eq!(
            (gateway, host),
            (
                Ipv4Addr::new(203, 0, 113, 85),
                Ipv4Addr::new(203, 0, 113, 86)
            )
        );
        let used = "5: bi1h    inet 203.0.113.85/30 scope global bi1h";
        assert_eq!(
            pick_subnet(3800, used, &[registry]).0,
            Ipv4Addr::new(203, 0, 113, 89)
        );
    }
}
