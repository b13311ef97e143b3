//! Host services in a pod: the agent that listens on the pod's loopback, and Burrow's end
//! of it, which dials the agent and is handed what the sandbox connects.
//!
//! On the local runtime Burrow listens inside the sandbox's network itself. A pod's
//! network is on another node, so a sidecar does it: Burrow dials the agent at the pod's
//! address and parks the connection (`BURROW-AGENT/1 <token> <port>`, answered `OK`);
//! when the sandbox connects to `127.0.0.1:<port>`, the agent sends one byte (`+`) down a
//! parked connection and splices the two. Burrow stays the one that dials, so a pod needs
//! no route to Burrow and the network policy lets nothing out of it; whichever replica
//! holds the sandbox's lease dials, so a replica that takes a sandbox over serves it.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use burrow_sandbox::{Connection, HostListener};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Mutex};
use tokio::task::JoinSet;

const PREFACE: &str = "BURROW-AGENT/1";
/// Connections Burrow keeps parked per port: the sandbox's next connections find one
/// waiting, and a new one is dialled as each is used.
const PARKED: usize = 2;
/// The longest a sandbox's connection waits for a parked one before it is closed.
const WAIT_FOR_BURROW: Duration = Duration::from_secs(10);

/// Whether two tokens are equal, in time that does not depend on where they differ.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |d, (x, y)| d | (x ^ y)) == 0
}

/// Runs the agent: listens for Burrow on `listen` and for the sandbox on
/// `127.0.0.1:<port>` for each of `ports`, until an error.
pub async fn run(listen: SocketAddr, ports: Vec<u16>, token: String) -> std::io::Result<()> {
    if token.len() < 16 {
        return Err(std::io::Error::other(
            "the agent's token is missing or short: Burrow sets BURROW_AGENT_TOKEN in the pod",
        ));
    }
    let burrow = TcpListener::bind(listen).await?;
    let mut parked: HashMap<u16, mpsc::Sender<TcpStream>> = HashMap::new();
    let mut tasks = JoinSet::new();
    for port in ports {
        let local = TcpListener::bind(("127.0.0.1", port)).await?;
        let (tx, rx) = mpsc::channel::<TcpStream>(64);
        parked.insert(port, tx);
        tasks.spawn(serve_port(local, rx));
    }
    let parked = Arc::new(parked);
    loop {
        tokio::select! {
            accepted = burrow.accept() => {
                let (stream, _) = accepted?;
                let (parked, token) = (Arc::clone(&parked), token.clone());
                tokio::spawn(async move { let _ = park(stream, &parked, &token).await; });
            }
            Some(ended) = tasks.join_next() => {
                return ended.map_err(std::io::Error::other)?;
            }
        }
    }
}

/// Reads Burrow's preface and parks the connection for its port.
async fn park(
    mut stream: TcpStream,
    parked: &HashMap<u16, mpsc::Sender<TcpStream>>,
    token: &str,
) -> std::io::Result<()> {
    let line = tokio::time::timeout(Duration::from_secs(10), read_line(&mut stream))
        .await
        .map_err(|_| std::io::Error::other("no preface"))??;
    let fields: Vec<&str> = line.split(' ').collect();
    let answer = match fields.as_slice() {
        [PREFACE, given, port] if same(given, token) => match port.parse::<u16>() {
            Ok(port) => match parked.get(&port) {
                Some(tx) => {
                    stream.write_all(b"OK\n").await?;
                    let _ = tx.send(stream).await;
                    return Ok(());
                }
                None => format!("NO port {port} is not a host service of this pod\n"),
            },
            Err(_) => "NO the port is not a number\n".to_owned(),
        },
        [PREFACE, _, _] => "NO wrong token\n".to_owned(),
        _ => format!("NO expected `{PREFACE} <token> <port>`\n"),
    };
    stream.write_all(answer.as_bytes()).await
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

/// Hands each connection the sandbox makes to a parked one, skipping parked ones that
/// have gone.
async fn serve_port(local: TcpListener, rx: mpsc::Receiver<TcpStream>) -> std::io::Result<()> {
    let rx = Arc::new(Mutex::new(rx));
    loop {
        let (mut inner, _) = local.accept().await?;
        let rx = Arc::clone(&rx);
        tokio::spawn(async move {
            let deadline = tokio::time::Instant::now() + WAIT_FOR_BURROW;
            loop {
                let next =
                    tokio::time::timeout_at(deadline, async { rx.lock().await.recv().await });
                let Ok(Some(mut outer)) = next.await else {
                    return;
                };
                if outer.write_all(b"+").await.is_ok() {
                    let _ = tokio::io::copy_bidirectional(&mut inner, &mut outer).await;
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
async fn park_with(
    agent: SocketAddr,
    token: &str,
    port: u16,
) -> std::io::Result<Option<TcpStream>> {
    let mut stream = TcpStream::connect(agent).await?;
    stream.set_nodelay(true)?;
    stream
        .write_all(format!("{PREFACE} {token} {port}\n").as_bytes())
        .await?;
    let answer = read_line(&mut stream).await?;
    if answer != "OK" {
        return Err(std::io::Error::new(
            std::io::ErrorKind::PermissionDenied,
            format!(
                "the agent at {agent} refused port {port}: {}",
                answer
                    .strip_prefix("NO ")
                    .unwrap_or("it closed the connection")
            ),
        ));
    }
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
