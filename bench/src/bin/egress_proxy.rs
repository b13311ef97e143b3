//! The egress proxy: a 100 MB download from the test internet's host through the proxy
//! against the same download direct from this host's namespace, and the time `CONNECT`
//! adds to a new connection, all in the same run.
//!
//! Usage: `cargo run --release -p burrow-bench --bin egress_proxy [ROUNDS]` as root
//! (`make bench` does it). It builds the test internet the egress tests use (a network
//! namespace with an HTTP server on a TEST-NET address and a DNS server), and serves
//! [`burrow_egress::Egress`] on a loopback listener, as a sandbox's host service does,
//! under the `public` policy with that address opened the way an admin's
//! `allow_ranges` opens an internal one.
//!
//! 1. Throughput: `GET /bytes/100000000`, direct; through a `CONNECT` tunnel (how HTTPS
//!    goes out); and as an absolute-form plain-HTTP request. The per-sandbox byte cap is
//!    off here (`bytes_per_sec = 0`): this measures the proxy, not the cap. Best of
//!    ROUNDS (default 5). Goal: at least 0.9× direct. Twice: over the bare veth, where
//!    client, proxy and server share this machine's cores and every copy costs
//!    throughput; and with the test host behind a 1 Gbit/s link (a `tbf` qdisc), as
//!    behind a real uplink.
//! 2. Connection setup: 300 times, a new connection and `GET /hello`, direct, through
//!    `CONNECT` to the address, and through `CONNECT` to a name the proxy resolves.
//!    Goal: under 1 ms added per connection (median).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use burrow_bench::{ms, Stats};
use burrow_egress::{Egress, Options, Policy};
use burrow_testkit::internet::TestInternet;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const SIZE: u64 = 100_000_000;
const SETUPS: usize = 300;

/// Reads an HTTP/1.1 answer with a Content-Length to its end; returns the body's length.
async fn read_answer(stream: &mut TcpStream, buf: &mut [u8]) -> u64 {
    let mut head = Vec::new();
    let body_start = loop {
        let n = stream.read(buf).await.unwrap();
        assert!(n > 0, "the answer ended early");
        head.extend_from_slice(&buf[..n]);
        if let Some(at) = head.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
    };
    let text = String::from_utf8_lossy(&head[..body_start]).to_ascii_lowercase();
    assert!(text.starts_with("http/1.1 200"), "{text}");
    let length: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .map(|v| v.trim().parse().unwrap())
        .expect("a Content-Length");
    let mut got = (head.len() - body_start) as u64;
    while got < length {
        let n = stream.read(buf).await.unwrap();
        assert!(n > 0, "the body ended early");
        got += n as u64;
    }
    got
}

/// Opens a tunnel through the proxy at `proxy` to `target`.
async fn tunnel(proxy: SocketAddr, target: &str) -> TcpStream {
    let mut stream = TcpStream::connect(proxy).await.unwrap();
    stream.set_nodelay(true).unwrap();
    stream
        .write_all(format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        stream.read_exact(&mut byte).await.unwrap();
        head.push(byte[0]);
    }
    assert!(
        head.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&head)
    );
    stream
}

#[derive(Clone, Copy)]
enum Way {
    Direct,
    Tunnel,
    TunnelByName,
    Plain,
}

/// One connection and one `GET path`; returns the body's length.
async fn fetch(way: Way, host: SocketAddr, proxy: SocketAddr, path: &str, buf: &mut [u8]) -> u64 {
    let (mut stream, target) = match way {
        Way::Direct => {
            let s = TcpStream::connect(host).await.unwrap();
            s.set_nodelay(true).unwrap();
            (s, path.to_owned())
        }
        Way::Tunnel => (tunnel(proxy, &host.to_string()).await, path.to_owned()),
        Way::TunnelByName => (tunnel(proxy, "site.test:80").await, path.to_owned()),
        Way::Plain => {
            let s = TcpStream::connect(proxy).await.unwrap();
            s.set_nodelay(true).unwrap();
            (s, format!("http://{host}{path}"))
        }
    };
    stream
        .write_all(
            format!("GET {target} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        )
        .await
        .unwrap();
    read_answer(&mut stream, buf).await
}

/// The fastest of `rounds` downloads of `path`.
async fn best(
    rounds: usize,
    way: Way,
    host: SocketAddr,
    proxy: SocketAddr,
    path: &str,
    buf: &mut [u8],
) -> Duration {
    let mut best = Duration::MAX;
    for _ in 0..rounds {
        let start = Instant::now();
        let got = fetch(way, host, proxy, path, buf).await;
        best = best.min(start.elapsed());
        assert_eq!(got, SIZE);
    }
    best
}

#[tokio::main]
async fn main() {
    let rounds: usize = std::env::args()
        .nth(1)
        .map(|a| a.parse().expect("ROUNDS is a number"))
        .unwrap_or(5);
    let net = TestInternet::get();
    let host = SocketAddr::from((net.host, 80));
    let egress = Egress::new(Options {
        name_servers: vec![net.dns],
        // Tunnels to port 80 carry the same bytes a TLS tunnel would, without TLS's cost
        // on both sides of the comparison.
        connect_ports: vec![80],
        allow_ranges: vec![format!("{}/32", net.host).parse().unwrap()],
        max_tunnels: 1000,
        requests_per_sec: 100_000,
        bytes_per_sec: 0,
        ..Options::default()
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let proxy = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let _ = stream.set_nodelay(true);
            let egress = egress.clone();
            tokio::spawn(async move {
                egress
                    .serve("bench", std::sync::Arc::new(Policy::PUBLIC), stream)
                    .await
            });
        }
    });

    let mut buf = vec![0u8; 256 * 1024];
    println!("1. {SIZE} bytes from the test host, best of {rounds}:");
    let path = format!("/bytes/{SIZE}");
    let rate = |d: Duration| SIZE as f64 / d.as_secs_f64() / 1e6;
    // Over the bare veth, then with the test host behind a 1 Gbit/s uplink: the proxy
    // should keep up with a real link, whatever it costs in CPU on a link that has none.
    for (link, mbit) in [
        ("over the bare veth", None),
        ("behind a 1 Gbit/s link", Some(1000)),
    ] {
        net.shape_link(mbit);
        let direct = best(rounds, Way::Direct, host, proxy, &path, &mut buf).await;
        let tunnelled = best(rounds, Way::Tunnel, host, proxy, &path, &mut buf).await;
        let plain = best(rounds, Way::Plain, host, proxy, &path, &mut buf).await;
        println!("   {link}:");
        println!("   direct            {:>8.0} MB/s", rate(direct));
        println!(
            "   CONNECT tunnel    {:>8.0} MB/s  {:.2}x direct (goal at least 0.9x)",
            rate(tunnelled),
            direct.as_secs_f64() / tunnelled.as_secs_f64()
        );
        println!(
            "   plain HTTP        {:>8.0} MB/s  {:.2}x direct",
            rate(plain),
            direct.as_secs_f64() / plain.as_secs_f64()
        );
    }
    net.shape_link(None);

    println!("2. a new connection and GET /hello, {SETUPS} times (median, p95):");
    let mut medians = Vec::new();
    for (name, way) in [
        ("direct", Way::Direct),
        ("CONNECT to the address", Way::Tunnel),
        ("CONNECT to a name", Way::TunnelByName),
    ] {
        let mut samples = Vec::with_capacity(SETUPS);
        for _ in 0..SETUPS {
            let start = Instant::now();
            fetch(way, host, proxy, "/hello", &mut buf).await;
            samples.push(start.elapsed());
        }
        let stats = Stats::of(&mut samples);
        println!("   {name:<24} {} {}", ms(stats.median), ms(stats.p95));
        medians.push(stats.median);
    }
    let added = |d: Duration| (d.as_secs_f64() - medians[0].as_secs_f64()) * 1000.0;
    println!(
        "   added by CONNECT: {:.3} ms to an address, {:.3} ms with a lookup (goal under 1 ms)",
        added(medians[1]),
        added(medians[2])
    );
}
