//! Workspaces: a terminal through Burrow against the same shell on a local pseudo-terminal, in one run.
//!
//! - **Echo**: a keystroke sent until its echo comes back, p50 and p99, through Burrow's
//!   WebSocket (into the workspace's sandbox) and on a local PTY (bash on the host).
//! - **Open to prompt**: from "open" (`POST …/start` on a stopped workspace, then the
//!   terminal's WebSocket) until the shell's prompt shows, cold; and warm (the workspace
//!   runs: a new terminal until its prompt).
//! - **Save**: `PUT …/file` of a 2 KB file while the workspace runs (into the database,
//!   then into the sandbox), against the same save while it is stopped.
//! - **Throughput**: `cat` of a 50 MB file to the terminal, read as fast as it comes
//!   (acknowledged as a page does), against the same on the local PTY.
//!
//! Usage: `cargo run --release -p burrow-bench --bin workspace_terminal [KEYS]` as root
//! (`make bench` runs it). Goals: echo p99 within 2 ms of the local PTY, open to prompt
//! at most 1 s cold, throughput at least 0.8× the local PTY's.

#![allow(clippy::disallowed_methods)]

use std::io::{Read, Write};
use std::process::Command;
use std::time::{Duration, Instant};

use burrow_bench::data::{Killed, Served, Setup};
use burrow_bench::{ms, Stats};
use futures::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;

const FIFTY_MB: usize = 50_000_000;

/// Makes the 50 MB file the throughput runs `cat`: base64 lines, as a log would be.
const MAKE_BIG: &str = "head -c 37748736 /dev/urandom | base64 > /tmp/bench-big.txt";

/// A terminal over Burrow's WebSocket.
struct Remote {
    ws: tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>,
    tail: Vec<u8>,
    bytes: u64,
}

impl Remote {
    async fn open(served: &Served, path: &str, n: u8) -> Self {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let url = format!("{}{path}/terminals/{n}?cols=120&rows=40", served.base)
            .replace("http://", "ws://");
        let mut request = url.into_client_request().unwrap();
        request.headers_mut().insert(
            "authorization",
            format!("Bearer {}", served.token).parse().unwrap(),
        );
        let stream = tokio::net::TcpStream::connect(served.base.trim_start_matches("http://"))
            .await
            .unwrap();
        stream.set_nodelay(true).unwrap();
        let (ws, _) = tokio_tungstenite::client_async(request, stream)
            .await
            .unwrap();
        Self {
            ws,
            tail: Vec::new(),
            bytes: 0,
        }
    }

    async fn keys(&mut self, keys: &[u8]) {
        let mut frame = vec![0u8];
        frame.extend_from_slice(keys);
        self.ws.send(Message::Binary(frame.into())).await.unwrap();
    }

    /// Reads until the output holds `needle`, acknowledging as it goes.
    async fn until(&mut self, needle: &[u8]) {
        let mut looked = 0;
        loop {
            if let Some(at) = find(&self.tail[looked..], needle) {
                self.tail.drain(..looked + at + needle.len());
                return;
            }
            looked = self.tail.len().saturating_sub(needle.len() - 1);
            let message = self.ws.next().await.expect("the terminal is open").unwrap();
            let Message::Binary(bytes) = message else {
                continue;
            };
            assert!(bytes[0] == 1 || bytes[0] == 2, "the shell ended");
            let offset = u64::from_be_bytes(bytes[1..9].try_into().unwrap());
            let data = &bytes[9..];
            self.bytes += data.len() as u64;
            self.tail.extend_from_slice(data);
            let keep = trim(&mut self.tail);
            looked = looked.saturating_sub(keep);
            let mut ack = vec![2u8];
            ack.extend_from_slice(&(offset + data.len() as u64).to_be_bytes());
            self.ws.send(Message::Binary(ack.into())).await.unwrap();
        }
    }
}

/// bash on a pseudo-terminal of this host.
struct Local {
    master: std::fs::File,
    tail: Vec<u8>,
    _bash: Killed,
}

impl Local {
    fn open() -> Self {
        use rustix::pty::{grantpt, openpt, ptsname, unlockpt, OpenptFlags};
        let master = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY).unwrap();
        grantpt(&master).unwrap();
        unlockpt(&master).unwrap();
        let name = ptsname(&master, Vec::new()).unwrap();
        let slave = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(name.to_str().unwrap())
            .unwrap();
        let bash = Command::new("setsid")
            .args(["bash", "--norc", "--noprofile", "-i"])
            .env("PS1", "$ ")
            .env("TERM", "xterm-256color")
            .stdin(slave.try_clone().unwrap())
            .stdout(slave.try_clone().unwrap())
            .stderr(slave)
            .spawn()
            .unwrap();
        let mut local = Self {
            master: std::fs::File::from(master),
            tail: Vec::new(),
            _bash: Killed(bash),
        };
        local.until(b"$ ");
        local
    }

    fn keys(&mut self, keys: &[u8]) {
        self.master.write_all(keys).unwrap();
    }

    fn until(&mut self, needle: &[u8]) -> u64 {
        let mut buf = vec![0u8; 64 << 10];
        let mut bytes = 0;
        let mut looked = 0;
        loop {
            if let Some(at) = find(&self.tail[looked..], needle) {
                self.tail.drain(..looked + at + needle.len());
                return bytes;
            }
            looked = self.tail.len().saturating_sub(needle.len() - 1);
            let n = self.master.read(&mut buf).unwrap();
            assert!(n > 0, "bash ended");
            bytes += n as u64;
            self.tail.extend_from_slice(&buf[..n]);
            let keep = trim(&mut self.tail);
            looked = looked.saturating_sub(keep);
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    memchr::memmem::find(haystack, needle)
}

/// Keeps at most the last 64 KiB of `tail` once it passes 1 MiB (moving it on every
/// read would cost the reader more than the terminal does); returns how many bytes went.
fn trim(tail: &mut Vec<u8>) -> usize {
    if tail.len() <= 1 << 20 {
        return 0;
    }
    let gone = tail.len() - (64 << 10);
    tail.drain(..gone);
    gone
}

/// The keystrokes typed, each waited for: letters, the line cleared every 40.
fn keystroke(i: usize) -> u8 {
    b'a' + (i % 26) as u8
}

#[tokio::main]
async fn main() {
    let keys: usize = std::env::args()
        .nth(1)
        .map(|n| n.parse().expect("KEYS is a number"))
        .unwrap_or(500);
    let setup = Setup::base();
    let (served, path) = burrow_bench::data::serve_workspace(&setup).await;
    let file = |name: &str| format!("{path}/file?path={name}");

    // Open to prompt, cold: a stopped workspace with a file, opened.
    let content = "x = 1\n".repeat(350);
    for i in 0..20 {
        served
            .client
            .put(format!("{}{}", served.base, file(&format!("f{i}.py"))))
            .bearer_auth(&served.token)
            .body(content.clone())
            .send()
            .await
            .unwrap();
    }
    let mut cold = Vec::new();
    for round in 0..3 {
        if round > 0 {
            served
                .call(reqwest::Method::POST, &format!("{path}/stop"), None, 200)
                .await;
        }
        let t = Instant::now();
        served
            .call(reqwest::Method::POST, &format!("{path}/start"), None, 200)
            .await;
        let mut term = Remote::open(&served, &path, 1).await;
        term.until(b"$ ").await;
        cold.push(t.elapsed());
    }
    let mut warm = Vec::new();
    for n in 2..=6 {
        let t = Instant::now();
        let mut term = Remote::open(&served, &path, n).await;
        term.until(b"$ ").await;
        warm.push(t.elapsed());
    }

    // Echo.
    let mut remote = Remote::open(&served, &path, 1).await;
    let mut local = tokio::task::spawn_blocking(Local::open).await.unwrap();
    let mut through_burrow = Vec::with_capacity(keys);
    let mut on_local = Vec::with_capacity(keys);
    for i in 0..keys {
        let key = [keystroke(i)];
        let t = Instant::now();
        remote.keys(&key).await;
        remote.until(&key).await;
        through_burrow.push(t.elapsed());
        let t = Instant::now();
        local.keys(&key);
        local.until(&key);
        on_local.push(t.elapsed());
        if i % 40 == 39 {
            remote.keys(b"\x15").await;
            local.keys(b"\x15");
        }
    }
    remote.keys(b"\x15").await;
    local.keys(b"\x15");

    // Throughput: the same 50 MB to each terminal.
    remote
        .keys(format!("{MAKE_BIG}; echo @@'M'\r").as_bytes())
        .await;
    remote.until(b"@@M\r\n").await;
    let made = Command::new("sh").arg("-c").arg(MAKE_BIG).status().unwrap();
    assert!(made.success());
    let size = std::fs::metadata("/tmp/bench-big.txt").unwrap().len() as usize;
    assert!(size >= FIFTY_MB, "{size}");
    let mut remote_best = Duration::MAX;
    let mut local_best = Duration::MAX;
    for _ in 0..3 {
        let before = remote.bytes;
        let t = Instant::now();
        remote.keys(b"cat /tmp/bench-big.txt; echo @@'D'\r").await;
        remote.until(b"@@D\r\n").await;
        remote_best = remote_best.min(t.elapsed());
        assert!(remote.bytes - before >= size as u64);
        let t = Instant::now();
        local.keys(b"cat /tmp/bench-big.txt; echo @@'D'\r");
        let got = local.until(b"@@D\r\n");
        local_best = local_best.min(t.elapsed());
        assert!(got >= size as u64);
    }
    let _ = std::fs::remove_file("/tmp/bench-big.txt");

    // Save, running and stopped.
    let mut saves_running = Vec::new();
    let mut saves_stopped = Vec::new();
    for stopped in [false, true] {
        if stopped {
            served
                .call(reqwest::Method::POST, &format!("{path}/stop"), None, 200)
                .await;
        }
        for i in 0..60 {
            let body = format!("print({i})\n").repeat(200);
            let t = Instant::now();
            let resp = served
                .client
                .put(format!("{}{}", served.base, file("saved.py")))
                .bearer_auth(&served.token)
                .header("if-match", "*")
                .body(body)
                .send()
                .await
                .unwrap();
            assert!(resp.status().is_success());
            let took = t.elapsed();
            if stopped {
                saves_stopped.push(took);
            } else {
                saves_running.push(took);
            }
        }
    }

    let (b, l) = (Stats::of(&mut through_burrow), Stats::of(&mut on_local));
    println!("echo, {keys} keystrokes (goal: p99 within 2 ms of the local PTY):");
    println!(
        "  local PTY          p50 {}  p99 {}",
        ms(l.median),
        ms(l.p99)
    );
    println!(
        "  Burrow WebSocket   p50 {}  p99 {}  (p99 {} over the local PTY)",
        ms(b.median),
        ms(b.p99),
        ms(b.p99.saturating_sub(l.p99))
    );
    let (c, w) = (Stats::of(&mut cold), Stats::of(&mut warm));
    println!("open to a prompt (goal: cold at most 1 s):");
    println!(
        "  cold (start + terminal)  median {}  worst {}",
        ms(c.median),
        ms(*cold.iter().max().unwrap())
    );
    println!(
        "  warm (a new terminal)    median {}  worst {}",
        ms(w.median),
        ms(*warm.iter().max().unwrap())
    );
    let (r, s) = (Stats::of(&mut saves_running), Stats::of(&mut saves_stopped));
    println!("save of a 2 KB file:");
    println!(
        "  stopped (database only)        p50 {}  p99 {}",
        ms(s.median),
        ms(s.p99)
    );
    println!(
        "  running (database, then sandbox) p50 {}  p99 {}",
        ms(r.median),
        ms(r.p99)
    );
    let mb = size as f64 / 1e6;
    let (rt, lt) = (
        mb / remote_best.as_secs_f64(),
        mb / local_best.as_secs_f64(),
    );
    println!("throughput, cat of {mb:.0} MB, best of 3 (goal: at least 0.8× the local PTY):");
    println!("  local PTY         {lt:.0} MB/s");
    println!(
        "  Burrow WebSocket  {rt:.0} MB/s  ({:.2}× the local PTY)",
        rt / lt
    );
}
