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
/// The longest a request may take, beside a second per MiB it moves: a pod whose node
/// went away, or an agent that answers a byte at a time, fails the call.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

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

/// Sends `bytes` after their length: a frame's JSON, or a chunk of content.
async fn send_sized(stream: &mut TcpStream, bytes: &[u8]) -> std::io::Result<()> {
    let len = u32::try_from(bytes.len()).map_err(std::io::Error::other)?;
    stream.write_all(&len.to_be_bytes()).await?;
    stream.write_all(bytes).await
}

/// Reads what [`send_sized`] sent, refusing more than `max` bytes (`what` says what).
async fn read_sized(stream: &mut TcpStream, max: usize, what: &str) -> std::io::Result<Vec<u8>> {
    let len = stream.read_u32().await? as usize;
    if len > max {
        return Err(std::io::Error::other(format!(
            "{what} of {len} bytes, over the {max} accepted"
        )));
    }
    let mut bytes = vec![0u8; len];
    stream.read_exact(&mut bytes).await?;
    Ok(bytes)
}

async fn send_frame<T: Serialize>(stream: &mut TcpStream, value: &T) -> std::io::Result<()> {
    let json = serde_json::to_vec(value).map_err(std::io::Error::other)?;
    send_sized(stream, &json).await
}

async fn read_frame<T: for<'de> Deserialize<'de>>(
    stream: &mut TcpStream,
    max: usize,
) -> std::io::Result<T> {
    let json = read_sized(stream, max, "a frame").await?;
    serde_json::from_slice(&json).map_err(std::io::Error::other)
}

async fn send_chunk(stream: &mut TcpStream, chunk: &[u8]) -> std::io::Result<()> {
    send_sized(stream, chunk).await
}

/// The next chunk of content; empty at its end.
async fn read_chunk(stream: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    read_sized(stream, CHUNK, "a chunk").await
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
                    let mut chunks = Chunks {
                        rx,
                        current: Vec::new(),
                        at: 0,
                        ended: false,
                    };
                    f.write_from(&path, &mut chunks)
                });
                // The content is read to its end whatever becomes of it, so the next
                // request starts where it should. Only its empty last chunk ends the
                // file: content cut off on the way fails the write, and nothing of it
                // is kept.
                let stream = &mut stream;
                let reading = async move {
                    loop {
                        let chunk = read_chunk(stream).await?;
                        let end = chunk.is_empty();
                        let _ = tx.send(chunk).await;
                        if end {
                            return Ok::<_, std::io::Error>(());
                        }
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
            let _ = tx.blocking_send(Err(burrow_sandbox::folder::too_large(max)));
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

/// A file's content as it arrives, read by the blocking writer: it ends at an empty
/// chunk, and content whose sender went before that is an error.
struct Chunks {
    rx: mpsc::Receiver<Vec<u8>>,
    current: Vec<u8>,
    at: usize,
    ended: bool,
}

impl Read for Chunks {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.at == self.current.len() {
            if self.ended {
                return Ok(0);
            }
            match self.rx.blocking_recv() {
                Some(chunk) if chunk.is_empty() => self.ended = true,
                Some(chunk) => (self.current, self.at) = (chunk, 0),
                None => {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        "the content was cut off on its way",
                    ))
                }
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
    /// kept connection or a new one, within [`CALL_TIMEOUT`] and a second per MiB. A
    /// connection that failed or timed out is not kept: it may be half-way through a
    /// frame.
    async fn ask(
        &self,
        request: Request,
        content: Option<&[u8]>,
        read_max: Option<u64>,
    ) -> std::io::Result<(Answer, Option<Vec<u8>>)> {
        let moved = content.map_or(0, <[u8]>::len) as u64 + read_max.unwrap_or(0);
        let within = CALL_TIMEOUT + Duration::from_secs(moved >> 20);
        tokio::time::timeout(within, self.ask_now(request, content, read_max))
            .await
            .map_err(|_| {
                std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!(
                        "the pod's agent at {} did not answer within {} s",
                        self.agent,
                        within.as_secs()
                    ),
                )
            })?
    }

    async fn ask_now(
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
        if matches!(answer, Answer::Found(_)) && read_max.is_none() {
            // Content follows that nothing asked for: the channel is not to be trusted.
            return Err(answer.into_error());
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The agent's side on one end of a loopback connection, over `root`; the other end.
    async fn agent_on(root: PathBuf) -> (TcpStream, tokio::task::JoinHandle<std::io::Result<()>>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let served = tokio::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            serve(stream, root).await
        });
        (TcpStream::connect(addr).await.unwrap(), served)
    }

    #[tokio::test]
    async fn a_write_cut_off_on_its_way_keeps_nothing() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("m0")).unwrap();
        std::fs::write(root.path().join("m0/notes.py"), "the old content").unwrap();
        let (mut burrow, served) = agent_on(root.path().to_owned()).await;
        let request = Request::Write {
            folder: 0,
            path: "notes.py".into(),
        };
        send_frame(&mut burrow, &request).await.unwrap();
        send_chunk(&mut burrow, b"the first half of the new")
            .await
            .unwrap();
        // Burrow goes before the last chunk.
        drop(burrow);
        assert!(served.await.unwrap().is_err());
        assert_eq!(
            std::fs::read_to_string(root.path().join("m0/notes.py")).unwrap(),
            "the old content"
        );
        let names: Vec<_> = std::fs::read_dir(root.path().join("m0"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec!["notes.py"], "no temporary file is left");
    }

    #[tokio::test]
    async fn a_whole_write_then_a_read_over_one_connection() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("m0")).unwrap();
        let (mut burrow, _served) = agent_on(root.path().to_owned()).await;
        let content: Vec<u8> = (0..(CHUNK * 2 + 5)).map(|i| i as u8).collect();
        let request = Request::Write {
            folder: 0,
            path: "a/b.bin".into(),
        };
        send_frame(&mut burrow, &request).await.unwrap();
        for chunk in content.chunks(CHUNK) {
            send_chunk(&mut burrow, chunk).await.unwrap();
        }
        send_chunk(&mut burrow, &[]).await.unwrap();
        let answer: Answer = read_frame(&mut burrow, MAX_ANSWER).await.unwrap();
        assert!(matches!(answer, Answer::Written(_)), "{answer:?}");
        assert_eq!(
            std::fs::read(root.path().join("m0/a/b.bin")).unwrap(),
            content
        );
        // A read asked for less than the file holds fails after what fits, and says so.
        let request = Request::Read {
            folder: 0,
            path: "a/b.bin".into(),
            max: 10,
        };
        send_frame(&mut burrow, &request).await.unwrap();
        let answer: Answer = read_frame(&mut burrow, MAX_ANSWER).await.unwrap();
        match answer {
            Answer::Failed { kind, .. } => assert!(matches!(kind, Kind::TooLarge)),
            other => panic!("{other:?}"),
        }
    }
}
