//! Reaching a sandbox that runs on another host: a connection to the replica that runs
//! it, on that replica's internal listener, which asks for its own token.
//!
//! The dialling replica reads the holder's address and token from the database and
//! sends one line, `BURROW-FORWARD/1 <token> app <app>` for Streamlit in an app's
//! sandbox, or `BURROW-FORWARD/1 <token> api` for the holder's own API (requests about
//! a sandbox it runs: a workspace's files and terminals, an app's output). The holder
//! checks the token and, for an app, that it runs the app's sandbox itself; it answers
//! `OK` and from then on copies bytes both ways, or `NO <why>` and closes. The form of
//! the release before, `BURROW-FORWARD/1 <token> <app>`, is still taken as `app`.
//! Sandboxes never reach the listener: their network has only their own loopback.

use std::net::SocketAddr;
use std::time::Duration;

use burrow_core::SessionToken;
use burrow_sandbox::Connection;
use burrow_store::Store;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

use crate::{Supervisor, APP_PORT};

const PREFACE: &str = "BURROW-FORWARD/1";
/// How long a dial, or a preface and its answer, may take.
const WAIT: Duration = Duration::from_secs(5);
/// The longest preface or answer line read.
const MAX_LINE: u64 = 512;

fn io(message: impl Into<String>) -> std::io::Error {
    std::io::Error::other(message.into())
}

/// Reads one line of at most [`MAX_LINE`] bytes, without its end.
async fn line<R: tokio::io::AsyncRead + Unpin>(
    reader: &mut BufReader<R>,
) -> std::io::Result<String> {
    let mut text = String::new();
    let mut limited = (&mut *reader).take(MAX_LINE);
    tokio::time::timeout(WAIT, limited.read_line(&mut text))
        .await
        .map_err(|_| io("no answer in time"))??;
    if !text.ends_with('\n') {
        return Err(io("the line was cut short or too long"));
    }
    Ok(text.trim_end().to_owned())
}

/// What a forwarded connection reaches on the replica it is made to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target<'a> {
    /// Streamlit in this app's sandbox, which that replica runs.
    App(&'a str),
    /// That replica's own API.
    Api,
}

impl Target<'_> {
    fn preface(&self, token: &str) -> String {
        match self {
            Target::App(app) => format!("{PREFACE} {token} app {app}\n"),
            Target::Api => format!("{PREFACE} {token} api\n"),
        }
    }
}

/// A connection to `target` on replica `holder`.
pub async fn dial(store: &Store, holder: &str, target: Target<'_>) -> std::io::Result<Connection> {
    let (address, token) = store.replica_address(holder).await.map_err(|e| {
        io(format!(
            "replica {holder} runs this sandbox on another host, and it takes no forwarded \
             connections ({e}): set `internal_listen` on every replica"
        ))
    })?;
    let stream = tokio::time::timeout(WAIT, TcpStream::connect(&address))
        .await
        .map_err(|_| io(format!("replica {holder} at {address} did not answer")))??;
    stream.set_nodelay(true)?;
    let mut stream = BufReader::new(stream);
    stream
        .get_mut()
        .write_all(target.preface(&token).as_bytes())
        .await?;
    let answer = line(&mut stream).await?;
    if answer != "OK" {
        return Err(io(format!("replica {holder} refused: {answer}")));
    }
    // Nothing follows the answer until bytes are sent through, so nothing is buffered.
    Ok(Box::new(stream.into_inner()))
}

/// Serves forwarded connections on `listener` for as long as it runs, to the apps this
/// replica runs and to its API at `api`, to those who present `token`.
pub async fn serve(
    listener: TcpListener,
    supervisor: Supervisor,
    token: SessionToken,
    api: SocketAddr,
) {
    let expected = token.hash();
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                tracing::warn!(error = %e, "The internal listener could not accept");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let (supervisor, expected) = (supervisor.clone(), expected.clone());
        tokio::spawn(async move {
            if let Err(e) = forward(stream, &supervisor, &expected, api).await {
                tracing::debug!(error = %e, "A forwarded connection ended");
            }
        });
    }
}

/// One forwarded connection: the preface checked, then Streamlit's port, or the API,
/// spliced in.
async fn forward(
    stream: TcpStream,
    supervisor: &Supervisor,
    expected: &str,
    api: SocketAddr,
) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    let mut stream = BufReader::new(stream);
    let preface = line(&mut stream).await?;
    let refuse = |why: &str| format!("NO {why}\n");
    let mut parts = preface.split(' ');
    let (Some(PREFACE), Some(token)) = (parts.next(), parts.next()) else {
        stream
            .get_mut()
            .write_all(refuse("not a forwarding preface").as_bytes())
            .await?;
        return Ok(());
    };
    let target = match (parts.next(), parts.next(), parts.next()) {
        (Some("app"), Some(app), None) => Target::App(app),
        (Some("api"), None, None) => Target::Api,
        // As replicas of the release before dial, during a rolling upgrade.
        (Some(app), None, None) => Target::App(app),
        _ => {
            stream
                .get_mut()
                .write_all(refuse("not a forwarding preface").as_bytes())
                .await?;
            return Ok(());
        }
    };
    // Hashes compared: their inputs are secret, so the time taken tells nothing.
    if SessionToken::from_client(token).hash() != expected {
        tracing::warn!(peer = ?stream.get_ref().peer_addr().ok(), "Refused a forwarded connection with a wrong token");
        stream
            .get_mut()
            .write_all(refuse("wrong token").as_bytes())
            .await?;
        return Ok(());
    }
    let mut upstream: Connection = match target {
        Target::Api => match TcpStream::connect(api).await {
            Ok(upstream) => {
                upstream.set_nodelay(true)?;
                Box::new(upstream)
            }
            Err(e) => {
                let why = refuse(&format!("its API did not answer: {e}"));
                stream.get_mut().write_all(why.as_bytes()).await?;
                return Ok(());
            }
        },
        Target::App(app) => match app_upstream(supervisor, app).await {
            Ok(upstream) => upstream,
            Err(why) => {
                stream.get_mut().write_all(refuse(&why).as_bytes()).await?;
                return Ok(());
            }
        },
    };
    stream.get_mut().write_all(b"OK\n").await?;
    // Whatever the dialler sent after its preface was read ahead: send it on first.
    let ahead = stream.buffer().to_vec();
    if !ahead.is_empty() {
        upstream.write_all(&ahead).await?;
    }
    let mut stream = stream.into_inner();
    tokio::io::copy_bidirectional(&mut stream, &mut upstream).await?;
    Ok(())
}

/// Streamlit in `app`'s sandbox, if this replica runs it; else why not.
async fn app_upstream(supervisor: &Supervisor, app: &str) -> Result<Connection, String> {
    let Some(running) = supervisor.running(app) else {
        return Err("this replica does not run it".into());
    };
    let upstream = supervisor
        .runtime()
        .connect(&running.sandbox, APP_PORT)
        .await
        .map_err(|e| format!("its sandbox did not answer: {e}"))?;
    supervisor.touch(app);
    Ok(upstream)
}
