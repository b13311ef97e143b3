//! Host services in a pod: the agent that listens on the pod's loopback, and Burrow's end
//! of it, which dials the agent and is handed what the sandbox connects.
//!
//! On the local runtime Burrow listens inside the sandbox's network itself. A pod's
//! network is on another node, so a sidecar does it: Burrow dials the agent at the pod's
//! address and parks the connection; when the sandbox connects to `127.0.0.1:<port>`,
//! the agent sends one byte (`+`) down a parked connection and splices the two. Burrow
//! stays the one that dials, so a pod needs no route to Burrow and the network policy
//! lets nothing out of it; whichever replica holds the sandbox's lease dials, so a
//! replica that takes a sandbox over serves it.
//!
//! Each side proves it knows the sandbox's token without sending it, so neither a pod
//! that took over a dead pod's address nor anything else listening there is served as
//! the sandbox, and nothing that dials the agent is handed its connections:
//!
//! ```text
//! Burrow: BURROW-AGENT/2 <port> <nonce-b>
//! agent:  OK <nonce-a> <hmac(token, "agent", port, nonce-b, nonce-a)>
//! Burrow: <hmac(token, "burrow", port, nonce-b, nonce-a)>
//! ```

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use burrow_sandbox::{Connection, HostListener};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Mutex, Semaphore};
use tokio::task::JoinSet;

use crate::files::FILES;

const PREFACE: &str = "BURROW-AGENT/2";
/// Connections Burrow keeps parked per port: the sandbox's next connections find one
/// waiting, and a new one is dialled as each is used.
const PARKED: usize = 2;
/// The longest a sandbox's connection waits for a parked one before it is closed.
const WAIT_FOR_BURROW: Duration = Duration::from_secs(10);
/// The most connections of the sandbox's that wait for a parked one, per port; more
/// are closed at once.
const MAX_WAITING: usize = 256;
/// The most connections to the agent's own port that are being checked at once.
const MAX_HANDSHAKES: usize = 64;

fn nonce() -> String {
    use rand::Rng;
    let bytes: [u8; 16] = rand::thread_rng().gen();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The proof that `side` knows `token`, for this port and these two nonces.
fn proof(token: &str, side: &str, port: u16, burrow: &str, agent: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(token.as_bytes()).expect("any key length");
    mac.update(format!("{side}\0{port}\0{burrow}\0{agent}").as_bytes());
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Whether `given` is the proof expected, compared in constant time.
fn proven(token: &str, side: &str, port: u16, burrow: &str, agent: &str, given: &str) -> bool {
    let mut mac = Hmac::<Sha256>::new_from_slice(token.as_bytes()).expect("any key length");
    mac.update(format!("{side}\0{port}\0{burrow}\0{agent}").as_bytes());
    let Ok(bytes) = (0..given.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(given.get(i..i + 2).unwrap_or("zz"), 16))
        .collect::<Result<Vec<u8>, _>>()
    else {
        return false;
    };
    mac.verify_slice(&bytes).is_ok()
}

/// Runs the agent: listens for Burrow on `listen` and for the sandbox on
/// `127.0.0.1:<port>` for each of `ports`, until an error; serves the pod's shared
/// folders under `shared`, if it has any ([`crate::files`]).
pub async fn run(
    listen: SocketAddr,
    ports: Vec<u16>,
    token: String,
    shared: Option<PathBuf>,
) -> std::io::Result<()> {
    if token.len() < 16 {
        return Err(std::io::Error::other(
            "the agent's token is missing or short: Burrow sets BURROW_AGENT_TOKEN in the pod",
        ));
    }
    let burrow = TcpListener::bind(listen).await?;
    let mut parked: HashMap<u16, mpsc::Sender<TcpStream>> = HashMap::new();
    let mut tasks = JoinSet::new();
    for port in ports {
        if port == FILES {
            return Err(std::io::Error::other(format!(
                "port {FILES} names the shared folders, not a host service"
            )));
        }
        let local = TcpListener::bind(("127.0.0.1", port)).await?;
        let (tx, rx) = mpsc::channel::<TcpStream>(64);
        parked.insert(port, tx);
        tasks.spawn(serve_port(local, rx));
    }
    let parked = Arc::new(parked);
    let handshakes = Arc::new(Semaphore::new(MAX_HANDSHAKES));
    loop {
        tokio::select! {
            accepted = burrow.accept() => {
                // Out of descriptors, say: it passes; the agent goes on.
                let Ok((stream, _)) = accepted else {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                };
                // Small writes (the `+`, a request's first bytes) go at once: with
                // Nagle's algorithm each would wait for the last one's acknowledgement.
                let _ = stream.set_nodelay(true);
                let Ok(permit) = Arc::clone(&handshakes).try_acquire_owned() else {
                    continue;
                };
                let (parked, token, shared) = (Arc::clone(&parked), token.clone(), shared.clone());
                tokio::spawn(async move {
                    let files = park(stream, &parked, &token, shared.is_some()).await;
                    drop(permit);
                    if let (Ok(Some(stream)), Some(root)) = (files, shared) {
                        if let Err(e) = crate::files::serve(stream, root).await {
                            tracing::debug!(error = %e, "Burrow's files channel ended");
                        }
                    }
                });
            }
            Some(ended) = tasks.join_next() => {
                return ended.map_err(std::io::Error::other)?;
            }
        }
    }
}

/// Checks that the dialler knows the token, proving the agent does too, and parks the
/// connection for its port; returns it instead when it is for the shared folders.
async fn park(
    mut stream: TcpStream,
    parked: &HashMap<u16, mpsc::Sender<TcpStream>>,
    token: &str,
    files: bool,
) -> std::io::Result<Option<TcpStream>> {
    let within = Duration::from_secs(10);
    let line = tokio::time::timeout(within, read_line(&mut stream))
        .await
        .map_err(|_| std::io::Error::other("no preface"))??;
    let fields: Vec<&str> = line.split(' ').collect();
    let [PREFACE, port, burrow_nonce] = fields.as_slice() else {
        let answer = format!("NO expected `{PREFACE} <port> <nonce>`\n");
        return stream.write_all(answer.as_bytes()).await.map(|()| None);
    };
    let Some((port, tx)) = port.parse::<u16>().ok().and_then(|port| match port {
        FILES if files => Some((port, None)),
        _ => Some((port, Some(parked.get(&port)?))),
    }) else {
        let answer = format!("NO port {port} is not a host service of this pod\n");
        return stream.write_all(answer.as_bytes()).await.map(|()| None);
    };
    let agent_nonce = nonce();
    let mine = proof(token, "agent", port, burrow_nonce, &agent_nonce);
    stream
        .write_all(format!("OK {agent_nonce} {mine}\n").as_bytes())
        .await?;
    let theirs = tokio::time::timeout(within, read_line(&mut stream))
        .await
        .map_err(|_| std::io::Error::other("no proof"))??;
    if !proven(token, "burrow", port, burrow_nonce, &agent_nonce, &theirs) {
        return Err(std::io::Error::other("the dialler does not know the token"));
    }
    match tx {
        Some(tx) => {
            let _ = tx.send(stream).await;
            Ok(None)
        }
        None => {
            stream.write_all(b"+").await?;
            Ok(Some(stream))
        }
    }
}

/// Reads one line of at most 256 bytes, without reading past it.
async fn read_line(stream: &mut TcpStream) -> std::io::Result<String> {
    let mut line = Vec::new();
    loop {
        let byte = stream.read_u8().await?;
        if byte == b'\n' {
            break;
        }
        if line.len() == 256 {
            return Err(std::io::Error::other("the line is too long"));
        }
        line.push(byte);
    }
    String::from_utf8(line).map_err(std::io::Error::other)
}

/// Hands each connection the sandbox makes to a parked one, skipping parked ones whose
/// Burrow end has gone.
async fn serve_port(local: TcpListener, rx: mpsc::Receiver<TcpStream>) -> std::io::Result<()> {
    let rx = Arc::new(Mutex::new(rx));
    let waiting = Arc::new(Semaphore::new(MAX_WAITING));
    loop {
        let Ok((mut inner, _)) = local.accept().await else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        let _ = inner.set_nodelay(true);
        let Ok(permit) = Arc::clone(&waiting).try_acquire_owned() else {
            continue;
        };
        let rx = Arc::clone(&rx);
        tokio::spawn(async move {
            let deadline = tokio::time::Instant::now() + WAIT_FOR_BURROW;
            loop {
                let next =
                    tokio::time::timeout_at(deadline, async { rx.lock().await.recv().await });
                let Ok(Some(mut outer)) = next.await else {
                    return;
                };
                // Burrow sends nothing on a parked connection: anything readable is its
                // end closing (a restart, a rollout), so that one is passed over.
                let mut probe = [0u8; 1];
                match outer.try_read(&mut probe) {
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                    _ => continue,
                }
                if outer.write_all(b"+").await.is_ok() {
                    drop(permit);
                    let _ = tokio::io::copy_bidirectional_with_sizes(
                        &mut inner,
                        &mut outer,
                        64 << 10,
                        64 << 10,
                    )
                    .await;
                    return;
                }
            }
        });
    }
}

/// Burrow's end of one host service of a pod: what the sandbox connects to
/// `127.0.0.1:port`, arriving over connections dialled to the agent.
#[derive(Debug)]
pub struct AgentListener {
    ready: Mutex<mpsc::Receiver<std::io::Result<TcpStream>>>,
    _dialers: tokio::task::JoinHandle<()>,
}

impl Drop for AgentListener {
    fn drop(&mut self) {
        self._dialers.abort();
    }
}

impl AgentListener {
    /// Dials the agent at `agent` for `port`, keeping connections parked with it.
    pub fn new(agent: SocketAddr, token: String, port: u16) -> Self {
        let (tx, rx) = mpsc::channel(1);
        let dialers = tokio::spawn(async move {
            let mut set = JoinSet::new();
            for _ in 0..PARKED {
                set.spawn(dial(agent, token.clone(), port));
            }
            while let Some(done) = set.join_next().await {
                let result = done.unwrap_or_else(|e| Err(std::io::Error::other(e)));
                let refused =
                    matches!(&result, Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied);
                if tx.send(result).await.is_err() || refused {
                    return;
                }
                set.spawn(dial(agent, token.clone(), port));
            }
        });
        Self {
            ready: Mutex::new(rx),
            _dialers: dialers,
        }
    }
}

/// One parked connection, until the sandbox uses it. A pod that cannot be reached yet
/// (or is being replaced) is dialled again, with a pause growing to 5 s; only the
/// agent's refusal is an error.
async fn dial(agent: SocketAddr, token: String, port: u16) -> std::io::Result<TcpStream> {
    let mut pause = Duration::from_millis(50);
    loop {
        match park_with(agent, &token, port).await {
            Ok(Some(stream)) => return Ok(stream),
            Ok(None) => {}
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => return Err(e),
            Err(e) => tracing::debug!(%agent, port, error = %e, "The agent did not answer"),
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(5));
    }
}

/// Parks one connection and waits for its use; `None` when it ended unused.
pub(crate) async fn park_with(
    agent: SocketAddr,
    token: &str,
    port: u16,
) -> std::io::Result<Option<TcpStream>> {
    let mut stream = TcpStream::connect(agent).await?;
    stream.set_nodelay(true)?;
    let burrow_nonce = nonce();
    stream
        .write_all(format!("{PREFACE} {port} {burrow_nonce}\n").as_bytes())
        .await?;
    let answer = read_line(&mut stream).await?;
    let refused = |why: String| {
        std::io::Error::new(
            std::io::ErrorKind::PermissionDenied,
            format!("the agent at {agent} refused port {port}: {why}"),
        )
    };
    let fields: Vec<&str> = answer.split(' ').collect();
    let ["OK", agent_nonce, their_proof] = fields.as_slice() else {
        return Err(refused(
            answer
                .strip_prefix("NO ")
                .unwrap_or("it closed the connection")
                .to_owned(),
        ));
    };
    // Whatever answers at the pod's address must show it knows this sandbox's token: a
    // pod that took a gone one's address, or a program of the sandbox's own, cannot.
    if !proven(
        token,
        "agent",
        port,
        &burrow_nonce,
        agent_nonce,
        their_proof,
    ) {
        return Err(refused("it does not know this sandbox's token".into()));
    }
    let mine = proof(token, "burrow", port, &burrow_nonce, agent_nonce);
    stream.write_all(format!("{mine}\n").as_bytes()).await?;
    // The line was read byte by byte, so the `+` that follows is still unread.
    match stream.read_u8().await {
        Ok(b'+') => Ok(Some(stream)),
        _ => Ok(None),
    }
}

#[async_trait::async_trait]
impl HostListener for AgentListener {
    async fn accept(&self) -> std::io::Result<Connection> {
        match self.ready.lock().await.recv().await {
            Some(Ok(stream)) => Ok(Box::new(stream)),
            Some(Err(e)) => Err(e),
            None => Err(std::io::Error::other("the agent's dialler ended")),
        }
    }
}
