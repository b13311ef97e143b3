//! A Kubernetes sandbox's host services through its agent: what a connection the
//! sandbox makes costs when it crosses the agent (a parked connection Burrow dialled,
//! handed over with one byte) against the same connection made directly to Burrow, both
//! on loopback in this process. Measured: the time from the sandbox's `connect` to its
//! first answer (a request and a 1-byte reply, as a proxy's first exchange), and the
//! throughput of a 64 MiB transfer.
//!
//! Usage: `./target/release/pod_agent [CONNECTIONS]` (`make bench` runs it).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use burrow_bench::{free_port, ms, Stats};
use burrow_kube::agent::{run, AgentListener};
use burrow_sandbox::HostListener;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const TOKEN: &str = "0123456789abcdef0123456789abcdef";
const BULK: usize = 64 << 20;

/// Burrow's side: answers each connection's first byte with one, then reads to the end.
async fn serve(mut connection: impl tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin) {
    let mut first = [0u8; 1];
    if connection.read_exact(&mut first).await.is_ok() {
        let _ = connection.write_all(&first).await;
        let _ = tokio::io::copy(&mut connection, &mut tokio::io::sink()).await;
    }
}

/// The sandbox's side: `n` connections, each timed from connect to the first answer,
/// then one bulk transfer; returns the times and the transfer's MiB/s.
async fn sandbox(port: u16, n: usize) -> (Stats, f64) {
    let mut times = Vec::with_capacity(n);
    for _ in 0..n {
        let start = Instant::now();
        let mut c = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        c.write_all(b"x").await.unwrap();
        let mut back = [0u8; 1];
        c.read_exact(&mut back).await.unwrap();
        times.push(start.elapsed());
    }
    let mut c = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    c.write_all(b"x").await.unwrap();
    let mut back = [0u8; 1];
    c.read_exact(&mut back).await.unwrap();
    let chunk = vec![7u8; 1 << 20];
    let start = Instant::now();
    for _ in 0..BULK / chunk.len() {
        c.write_all(&chunk).await.unwrap();
    }
    c.shutdown().await.unwrap();
    let _ = c.read(&mut back).await;
    let secs = start.elapsed().as_secs_f64();
    (Stats::of(&mut times), (BULK >> 20) as f64 / secs)
}

#[tokio::main]
async fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(2000);

    // Baseline: the sandbox connects to Burrow directly.
    let direct = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let direct_port = direct.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((c, _)) = direct.accept().await {
            tokio::spawn(serve(c));
        }
    });
    let (baseline, baseline_mib) = sandbox(direct_port, n).await;

    // Through the agent, as in a pod.
    let (agent_port, service) = (free_port(), free_port());
    let agent = SocketAddr::from(([127, 0, 0, 1], agent_port));
    tokio::spawn(run(agent, vec![service], TOKEN.into()));
    tokio::time::sleep(Duration::from_millis(200)).await;
    let listener = AgentListener::new(agent, TOKEN.into(), service);
    tokio::spawn(async move {
        while let Ok(c) = listener.accept().await {
            tokio::spawn(serve(c));
        }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (through, through_mib) = sandbox(service, n).await;

    println!(
        "pod_agent: {n} connections from the sandbox, each to its first answer; then {} MiB",
        BULK >> 20
    );
    println!("| path | p50 | p95 | p99 | p50 vs direct | MiB/s |");
    println!("|---|---|---|---|---|---|");
    println!(
        "| direct to Burrow (baseline) | {} | {} | {} | 1.0x | {baseline_mib:.0} |",
        ms(baseline.median),
        ms(baseline.p95),
        ms(baseline.p99)
    );
    println!(
        "| through the agent | {} | {} | {} | {:.1}x | {through_mib:.0} ({:.2}x) |",
        ms(through.median),
        ms(through.p95),
        ms(through.p99),
        through.median.as_secs_f64() / baseline.median.as_secs_f64(),
        through_mib / baseline_mib
    );
}
