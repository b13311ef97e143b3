//! Reaching an app's sandbox that runs on another host: a connection to the replica that
//! runs it, on that replica's internal listener, which asks for its own token.
//!
//! The dialling replica reads the holder's address and token from the database and
//! sends one line, `BURROW-FORWARD/1 <token> <app>`. The holder checks the token, that
//! it runs the app's sandbox itself, and connects to Streamlit's port in it; it answers
//! `OK` and from then on copies bytes both ways, or `NO <why>` and closes. Sandboxes
//! never reach the listener: their network has only their own loopback.

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

/// A connection to Streamlit in `app`'s sandbox, which replica `holder` runs.
pub async fn dial(store: &Store, holder: &str, app: &str) -> std::io::Result<Connection> {
    let (address, token) = store.replica_address(holder).await.map_err(|e| {
        io(format!(
            "replica {holder} runs the app on another host, and it takes no forwarded \
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
        .write_all(format!("{PREFACE} {token} {app}\n").as_bytes())
        .await?;
    let answer = line(&mut stream).await?;
    if answer != "OK" {
        return Err(io(format!("replica {holder} refused: {answer}")));
    }
    // Nothing follows the answer until bytes are sent through, so nothing is buffered.
    Ok(Box::new(stream.into_inner()))
}

/// Serves forwarded connections on `listener` for as long as it runs, to the apps this
/// replica runs, to those who present `token`.
pub async fn serve(listener: TcpListener, supervisor: Supervisor, token: SessionToken) {
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
            if let Err(e) = forward(stream, &supervisor, &expected).await {
                tracing::debug!(error = %e, "A forwarded connection ended");
            }
        });
    }
}

/// One forwarded connection: the preface checked, then Streamlit's port spliced in.
async fn forward(
    stream: TcpStream,
    supervisor: &Supervisor,
    expected: &str,
) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    let mut stream = BufReader::new(stream);
    let preface = line(&mut stream).await?;
    let refuse = |why: &str| format!("NO {why}\n");
    let mut parts = preface.split(' ');
    let (Some(PREFACE), Some(token), Some(app), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        stream
            .get_mut()
            .write_all(refuse("not a forwarding preface").as_bytes())
            .await?;
        return Ok(());
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
    let Some(running) = supervisor.running(app) else {
        stream
            .get_mut()
            .write_all(refuse("this replica does not run it").as_bytes())
            .await?;
        return Ok(());
    };
    let mut upstream = match supervisor
        .runtime()
        .connect(&running.sandbox, APP_PORT)
        .await
    {
        Ok(upstream) => upstream,
        Err(e) => {
            stream
                .get_mut()
                .write_all(refuse(&format!("its sandbox did not answer: {e}")).as_bytes())
                .await?;
            return Ok(());
        }
    };
    supervisor.touch(app);
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
