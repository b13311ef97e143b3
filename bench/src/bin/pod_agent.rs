//! A Kubernetes sandbox's host services through its agent: what a connection the
//! sandbox makes costs when it crosses the agent (a parked connection Burrow dialled,
//! handed over with one byte) against the same connection made directly to Burrow, both
//! on loopback in this process. Measured: the time from the sandbox's `connect` to its
//! first answer (a request and a 1-byte reply, as a proxy's first exchange), and the
//! throughput of a 64 MiB transfer.
//!
//! Then a workspace's folder shared with Burrow, through the agent (its files channel)
//! against the same folder opened in this process (the local runtime's way): writing
//! 1,000 files of 2 KiB (a workspace's start), a scan, reading them all back (a sync
//! after a large change), and one 32 MiB file each way.
//!
//! Usage: `./target/release/pod_agent [CONNECTIONS]` (`make bench` runs it).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use burrow_bench::{free_port, ms, Stats};
use std::sync::Arc;

use burrow_kube::agent::{run, AgentListener};
use burrow_kube::files::AgentFolder;
use burrow_sandbox::{Folder, HostListener, LocalFolder, SharedFolder};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const TOKEN: &str = "0123456789abcdef0123456789abcdef";
const BULK: usize = 64 << 20;
const FILES: usize = 1000;
const BIG: usize = 32 << 20;

/// Seconds for each step on `folder`: write the files, scan, read them, write and read
/// the big one.
async fn folder_steps(folder: &dyn SharedFolder) -> [f64; 5] {
    let small = Arc::new(vec![b'x'; 2048]);
    let big = Arc::new(vec![7u8; BIG]);
    let mut took = [0f64; 5];
    let start = Instant::now();
    for i in 0..FILES {
        let path = format!("pkg{}/file{i}.py", i % 20);
        folder.write(&path, Arc::clone(&small)).await.unwrap();
    }
    took[0] = start.elapsed().as_secs_f64();
    let start = Instant::now();
    let scan = folder.scan(FILES * 2).await.unwrap();
    assert_eq!(scan.found.len(), FILES);
    took[1] = start.elapsed().as_secs_f64();
    let start = Instant::now();
    for i in 0..FILES {
        let path = format!("pkg{}/file{i}.py", i % 20);
        folder.read(&path, 1 << 20).await.unwrap().unwrap();
    }
    took[2] = start.elapsed().as_secs_f64();
    let start = Instant::now();
    folder.write("big.bin", big).await.unwrap();
    took[3] = start.elapsed().as_secs_f64();
    let start = Instant::now();
    let (_, content) = folder.read("big.bin", BIG as u64).await.unwrap().unwrap();
    assert_eq!(content.len(), BIG);
    took[4] = start.elapsed().as_secs_f64();
    took
}

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
    tokio::spawn(run(agent, vec![service], TOKEN.into(), None));
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

    // A shared folder: opened here, and through the agent.
    let here = tempfile::tempdir().unwrap();
    let local = LocalFolder::new(Folder::open_in(here.path(), ".").unwrap());
    let local_took = folder_steps(&local).await;
    let mounted = tempfile::tempdir().unwrap();
    std::fs::create_dir(mounted.path().join("m0")).unwrap();
    let files_port = free_port();
    let files_agent = SocketAddr::from(([127, 0, 0, 1], files_port));
    tokio::spawn(run(
        files_agent,
        vec![],
        TOKEN.into(),
        Some(mounted.path().to_owned()),
    ));
    tokio::time::sleep(Duration::from_millis(200)).await;
    let remote = AgentFolder::new(files_agent, TOKEN.into(), 0);
    let remote_took = folder_steps(&remote).await;
    println!();
    println!("a shared folder: opened by Burrow, and through the agent");
    println!("| step | opened here | through the agent | ratio |");
    println!("|---|---|---|---|");
    let steps = [
        format!("write {FILES} files of 2 KiB"),
        format!("scan {FILES} files"),
        format!("read {FILES} files"),
        format!("write {} MiB", BIG >> 20),
        format!("read {} MiB", BIG >> 20),
    ];
    for (i, step) in steps.iter().enumerate() {
        println!(
            "| {step} | {:.1} ms | {:.1} ms | {:.1}x |",
            local_took[i] * 1000.0,
            remote_took[i] * 1000.0,
            remote_took[i] / local_took[i]
        );
    }
}
