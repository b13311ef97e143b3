//! A pod's shared folders through its agent: Burrow's [`AgentFolder`] asks, and the agent
//! answers with the same [`Folder`] the local runtime opens, on its own mount of each
//! folder (a size-capped memory `emptyDir` that the sandbox's container mounts too). So
//! the folders' size is capped as a tmpfs is on one host, and the data claim holds
//! nothing of the sandbox's.
//!
//! The channel is a connection to the agent, proven as the host services' are, for the
//! port [`FILES`]. Then, one at a time, Burrow sends a request and the agent answers:
//! each a frame, JSON after its length (4 bytes, big-endian). A file's content goes as
//! chunks after a write's request and after a read's first answer: each a length
//! (4 bytes) and at most [`CHUNK`] bytes, ended by an empty chunk, then a last answer
//! saying whether all of it went.

use std::io::Read;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use burrow_sandbox::folder::{Folder, Scan, SharedFolder, Stamp};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

/// The port that names the files channel in the agent's handshake: no host service
/// can have it.
pub const FILES: u16 = 0;
/// The most bytes in one chunk of a file's content.
pub const CHUNK: usize = 64 << 10;
/// The largest request the agent reads.
const MAX_REQUEST: usize = 1 << 20;
/// The largest answer Burrow reads (a scan's list of files).
const MAX_ANSWER: usize = 64 << 20;
/// How long Burrow waits to reach the agent.
const DIAL_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
enum Request {
    Scan {
        folder: u32,
        max_entries: usize,
    },
    /// Answered by `Found` then the content and `Done`, or by `Missing` or `Failed`.
    Read {
        folder: u32,
        path: String,
        max: u64,
    },
    /// The content follows.
    Write {
        folder: u32,
        path: String,
    },
    Remove {
        folder: u32,
        path: String,
    },
    Rename {
        folder: u32,
        from: String,
        to: String,
    },
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Answer {
    Scanned(Scan),
    Found(Stamp),
    Missing,
    Written(Stamp),
    Done,
    Failed { kind: Kind, message: String },
}

/// The kinds of failure Burrow tells apart.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Kind {
    NotFound,
    InvalidInput,
    TooLarge,
    PermissionDenied,
    Other,
}

impl Answer {
    fn failed(e: &std::io::Error) -> Self {
        use std::io::ErrorKind as K;
        let kind = match e.kind() {
            K::NotFound => Kind::NotFound,
            K::InvalidInput => Kind::InvalidInput,
            K::FileTooLarge => Kind::TooLarge,
            K::PermissionDenied => Kind::PermissionDenied,
            _ => Kind::Other,
        };
        Self::Failed {
            kind,
            message: e.to_string(),
        }
    }

    /// What Burrow makes of an answer it did not expect: the agent's failure as the
    /// error it was, anything else as a broken channel.
    fn into_error(self) -> std::io::Error {
        use std::io::ErrorKind as K;
        match self {
            Self::Failed { kind, message } => {
                let kind = match kind {
                    Kind::NotFound => K::NotFound,
                    Kind::InvalidInput => K::InvalidInput,
                    Kind::TooLarge => K::FileTooLarge,
                    Kind::PermissionDenied => K::PermissionDenied,
                    Kind::Other => K::Other,
                };
                std::io::Error::new(kind, message)
            }
            other => std::io::Error::other(format!("the agent answered {other:?} out of turn")),
        }
    }
}

async fn send_frame<T: Serialize>(stream: &mut TcpStream, value: &T) -> std::io::Result<()> {
    let json = serde_json::to_vec(value).map_err(std::io::Error::other)?;
    let mut frame = Vec::with_capacity(json.len() + 4);
    frame.extend_from_slice(&(json.len() as u32).to_be_bytes());
    frame.extend_from_slice(&json);
    stream.write_all(&frame).await
}

async fn read_frame<T: for<'de> Deserialize<'de>>(
    stream: &mut TcpStream,
    max: usize,
) -> std::io::Result<T> {
    let len = stream.read_u32().await? as usize;
    if len > max {
        return Err(std::io::Error::other(format!(
            "a frame of {len} bytes, over the {max} accepted"
        )));
    }
    let mut json = vec![0u8; len];
    stream.read_exact(&mut json).await?;
    serde_json::from_slice(&json).map_err(std::io::Error::other)
}

async fn send_chunk(stream: &mut TcpStream, chunk: &[u8]) -> std::io::Result<()> {
    stream.write_u32(chunk.len() as u32).await?;
    stream.write_all(chunk).await
}

/// The next chunk of content; empty at its end.
async fn read_chunk(stream: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let len = stream.read_u32().await? as usize;
    if len > CHUNK {
        return Err(std::io::Error::other(format!(
            "a chunk of {len} bytes, over {CHUNK}"
        )));
    }
    let mut chunk = vec![0u8; len];
    stream.read_exact(&mut chunk).await?;
    Ok(chunk)
}

/// The agent's side: answers Burrow's requests on `stream` about the folders under
/// `root` (folder `n` is `root/m<n>`), until Burrow closes it.
pub async fn serve(mut stream: TcpStream, root: PathBuf) -> std::io::Result<()> {
    let root = Arc::new(root);
    loop {
        let request: Request = match read_frame(&mut stream, MAX_REQUEST).await {
            Ok(request) => request,
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(()),
            Err(e) => return Err(e),
        };
        let answer = match request {
            Request::Scan {
                folder,
                max_entries,
            } => blocking(&root, folder, move |f| f.scan(max_entries))
                .await
                .map_or_else(|e| Answer::failed(&e), Answer::Scanned),
            Request::Remove { folder, path } => blocking(&root, folder, move |f| f.remove(&path))
                .await
                .map_or_else(|e| Answer::failed(&e), |()| Answer::Done),
            Request::Rename { folder, from, to } => {
                blocking(&root, folder, move |f| f.rename(&from, &to))
                    .await
                    .map_or_else(|e| Answer::failed(&e), |()| Answer::Done)
            }
            Request::Write { folder, path } => {
                let (tx, rx) = mpsc::channel::<Vec<u8>>(4);
                let written = blocking(&root, folder, move |f| {
                    f.write_from(
                        &path,
                        &mut Chunks {
                            rx,
                            current: Vec::new(),
                            at: 0,
                        },
                    )
                });
                // The content is read to its end whatever becomes of it, so the next
                // request starts where it should.
                let reading = async {
                    loop {
                        let chunk = read_chunk(&mut stream).await?;
                        if chunk.is_empty() {
                            drop(tx);
                            return Ok::<_, std::io::Error>(());
                        }
                        let _ = tx.send(chunk).await;
                    }
                };
                let (written, read) = tokio::join!(written, reading);
                read?;
                written.map_or_else(|e| Answer::failed(&e), Answer::Written)
            }
            Request::Read { folder, path, max } => {
                let (tx, mut rx) = mpsc::channel::<std::io::Result<Vec<u8>>>(4);
                let opened = blocking(&root, folder, move |f| f.open_file(&path, max)).await;
                match opened {
                    Err(e) => Answer::failed(&e),
                    Ok(None) => Answer::Missing,
                    Ok(Some((stamp, file))) => {
                        send_frame(&mut stream, &Answer::Found(stamp)).await?;
                        tokio::task::spawn_blocking(move || send_file(file, max, &tx));
                        let mut failed = None;
                        while let Some(chunk) = rx.recv().await {
                            match chunk {
                                Ok(chunk) => send_chunk(&mut stream, &chunk).await?,
                                Err(e) => failed = Some(Answer::failed(&e)),
                            }
                        }
                        send_chunk(&mut stream, &[]).await?;
                        failed.unwrap_or(Answer::Done)
                    }
                }
            }
        };
        send_frame(&mut stream, &answer).await?;
    }
}

/// Reads `file` into chunks for `tx`, at most `max` bytes: a file grown past it since it
/// was opened ends with the error that says so.
fn send_file(file: std::fs::File, max: u64, tx: &mpsc::Sender<std::io::Result<Vec<u8>>>) {
    let mut file = file.take(max + 1);
    let mut sent = 0u64;
    loop {
        let mut chunk = vec![0u8; CHUNK];
        let n = match file.read(&mut chunk) {
            Ok(0) => return,
            Ok(n) => n,
            Err(e) => {
                let _ = tx.blocking_send(Err(e));
                return;
            }
        };
        sent += n as u64;
        if sent > max {
            let too_large = std::io::Error::new(
                std::io::ErrorKind::FileTooLarge,
                format!("over {max} bytes"),
            );
            let _ = tx.blocking_send(Err(too_large));
            return;
        }
        chunk.truncate(n);
        if tx.blocking_send(Ok(chunk)).is_err() {
            return;
        }
    }
}

/// Runs `call` on folder `folder` of `root`, on a blocking thread.
async fn blocking<T: Send + 'static>(
    root: &Arc<PathBuf>,
    folder: u32,
    call: impl FnOnce(&Folder) -> std::io::Result<T> + Send + 'static,
) -> std::io::Result<T> {
    let root = Arc::clone(root);
    tokio::task::spawn_blocking(move || call(&Folder::open_in(&root, &folder_name(folder))?))
        .await
        .map_err(std::io::Error::other)?
}

/// The name of shared folder `n` under the agent's root, and in the pod's volumes.
pub fn folder_name(n: u32) -> String {
    format!("m{n}")
}

/// A file's content as it arrives, read by the blocking writer.
struct Chunks {
    rx: mpsc::Receiver<Vec<u8>>,
    current: Vec<u8>,
    at: usize,
}

impl Read for Chunks {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.at == self.current.len() {
            match self.rx.blocking_recv() {
                Some(chunk) => (self.current, self.at) = (chunk, 0),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len() - self.at);
        buf[..n].copy_from_slice(&self.current[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

/// Burrow's side: one shared folder of a pod, reached through its agent over one
/// connection, dialled again after a failure.
#[derive(Debug)]
pub struct AgentFolder {
    agent: SocketAddr,
    token: String,
    folder: u32,
    connection: tokio::sync::Mutex<Option<TcpStream>>,
}

impl AgentFolder {
    /// Folder `folder` of the pod whose agent is at `agent` and expects `token`.
    pub fn new(agent: SocketAddr, token: String, folder: u32) -> Self {
        Self {
            agent,
            token,
            folder,
            connection: tokio::sync::Mutex::new(None),
        }
    }

    /// Sends `request` (and `content`, for a write) and reads the answer, over the
    /// kept connection or a new one. A connection that failed is not kept: it may be
    /// half-way through a frame.
    async fn ask(
        &self,
        request: Request,
        content: Option<&[u8]>,
        read_max: Option<u64>,
    ) -> std::io::Result<(Answer, Option<Vec<u8>>)> {
        let mut kept = self.connection.lock().await;
        let mut stream = match kept.take() {
            Some(stream) => stream,
            None => self.dial().await?,
        };
        send_frame(&mut stream, &request).await?;
        if let Some(content) = content {
            for chunk in content.chunks(CHUNK) {
                send_chunk(&mut stream, chunk).await?;
            }
            send_chunk(&mut stream, &[]).await?;
        }
        let mut answer: Answer = read_frame(&mut stream, MAX_ANSWER).await?;
        let mut read = None;
        if let (Answer::Found(stamp), Some(max)) = (&answer, read_max) {
            let mut body = Vec::new();
            loop {
                let chunk = read_chunk(&mut stream).await?;
                if chunk.is_empty() {
                    break;
                }
                if (body.len() + chunk.len()) as u64 > max {
                    return Err(std::io::Error::other(format!(
                        "the agent sent more than the {max} bytes asked for"
                    )));
                }
                body.extend_from_slice(&chunk);
            }
            let stamp = *stamp;
            answer = match read_frame(&mut stream, MAX_ANSWER).await? {
                Answer::Done => Answer::Found(stamp),
                other => other,
            };
            read = Some(body);
        }
        *kept = Some(stream);
        Ok((answer, read))
    }

    async fn dial(&self) -> std::io::Result<TcpStream> {
        let parked = tokio::time::timeout(
            DIAL_TIMEOUT,
            crate::agent::park_with(self.agent, &self.token, FILES),
        )
        .await
        .map_err(|_| {
            std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("the pod's agent at {} did not answer", self.agent),
            )
        })??;
        parked.ok_or_else(|| {
            std::io::Error::other(format!(
                "the pod's agent at {} does not serve its shared folders",
                self.agent
            ))
        })
    }
}

#[async_trait::async_trait]
impl SharedFolder for AgentFolder {
    async fn scan(&self, max_entries: usize) -> std::io::Result<Scan> {
        let request = Request::Scan {
            folder: self.folder,
            max_entries,
        };
        match self.ask(request, None, None).await? {
            (Answer::Scanned(scan), _) => Ok(scan),
            (other, _) => Err(other.into_error()),
        }
    }

    async fn read(&self, path: &str, max: u64) -> std::io::Result<Option<(Stamp, Vec<u8>)>> {
        let request = Request::Read {
            folder: self.folder,
            path: path.to_owned(),
            max,
        };
        match self.ask(request, None, Some(max)).await? {
            (Answer::Found(stamp), Some(content)) => Ok(Some((stamp, content))),
            (Answer::Missing, _) => Ok(None),
            (other, _) => Err(other.into_error()),
        }
    }

    async fn write(&self, path: &str, content: Arc<Vec<u8>>) -> std::io::Result<Stamp> {
        let request = Request::Write {
            folder: self.folder,
            path: path.to_owned(),
        };
        match self.ask(request, Some(&content), None).await? {
            (Answer::Written(stamp), _) => Ok(stamp),
            (other, _) => Err(other.into_error()),
        }
    }

    async fn remove(&self, path: &str) -> std::io::Result<()> {
        let request = Request::Remove {
            folder: self.folder,
            path: path.to_owned(),
        };
        match self.ask(request, None, None).await? {
            (Answer::Done, _) => Ok(()),
            (other, _) => Err(other.into_error()),
        }
    }

    async fn rename(&self, from: &str, to: &str) -> std::io::Result<()> {
        let request = Request::Rename {
            folder: self.folder,
            from: from.to_owned(),
            to: to.to_owned(),
        };
        match self.ask(request, None, None).await? {
            (Answer::Done, _) => Ok(()),
            (other, _) => Err(other.into_error()),
        }
    }
}
