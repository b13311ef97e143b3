//! Pseudo-terminals for `exec`: a runtime-neutral [`PtySession`], and the local runtime's.
//!
//! A session is a byte stream (read the screen, write keystrokes) and a control (resize,
//! wait), so a terminal WebSocket can pump bytes without knowing which runtime runs the
//! process.
//!
//! Locally, runc only hands a PTY master over `--console-socket` when it detaches, and a
//! detached exec's exit code is lost. So Burrow runs `runc exec --tty` in the
//! foreground, which relays between the sandbox's PTY and its own stdio, follows its
//! size on SIGWINCH and exits with the process's code. Its stdin (and controlling
//! terminal) is a PTY of Burrow's, for keystrokes and the size; its stdout and stderr
//! are a pipe, so output crosses one terminal, not two (runc clears `onlcr` on the
//! sandbox's terminal for the terminal it copies into to do, so the process sets it
//! again first). Both are non-blocking and polled by tokio, so reading and writing them
//! ties up no thread.

use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::{Connection, Result, SandboxError};

/// What controls a process on a terminal: its size, and its end.
#[async_trait::async_trait]
pub trait PtyControl: Send + Sync + std::fmt::Debug {
    /// Tells the terminal (and the program on it) its new size.
    fn resize(&self, cols: u16, rows: u16) -> Result<()>;
    /// Waits for the process to exit; returns its exit code.
    async fn wait(&mut self) -> Result<i32>;
}

/// A process running on a pseudo-terminal inside a sandbox.
#[derive(Debug)]
pub struct PtySession {
    /// The terminal: read the screen, write keystrokes. The end of the stream is the
    /// end of the terminal.
    pub io: Connection,
    control: Box<dyn PtyControl>,
}

impl std::fmt::Debug for dyn crate::SandboxStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SandboxStream")
    }
}

impl PtySession {
    /// A session over a runtime's terminal stream and its control.
    pub fn new(io: Connection, control: Box<dyn PtyControl>) -> Self {
        Self { io, control }
    }

    pub fn resize(&self, cols: u16, rows: u16) -> Result<()> {
        self.control.resize(cols, rows)
    }

    pub async fn wait(&mut self) -> Result<i32> {
        self.control.wait().await
    }

    /// The stream and the control apart, for a reader, a writer and a waiter in
    /// different tasks.
    pub fn split(self) -> (Connection, Box<dyn PtyControl>) {
        (self.io, self.control)
    }
}

/// The master side of a local pseudo-terminal, non-blocking, polled by tokio.
#[derive(Debug, Clone)]
struct Master(Arc<AsyncFd<std::fs::File>>);

impl AsyncRead for Master {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        loop {
            let mut guard = ready!(self.0.poll_read_ready(cx))?;
            match guard.try_io(|fd| fd.get_ref().read(buf.initialize_unfilled())) {
                Ok(Ok(n)) => {
                    buf.advance(n);
                    return Poll::Ready(Ok(()));
                }
                // EIO: every slave side is closed, the program is gone; that is the end.
                Ok(Err(e)) if e.raw_os_error() == Some(rustix::io::Errno::IO.raw_os_error()) => {
                    return Poll::Ready(Ok(()))
                }
                Ok(Err(e)) => return Poll::Ready(Err(e)),
                Err(_would_block) => continue,
            }
        }
    }
}

impl AsyncWrite for Master {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        loop {
            let mut guard = ready!(self.0.poll_write_ready(cx))?;
            match guard.try_io(|fd| fd.get_ref().write(data)) {
                Ok(result) => return Poll::Ready(result),
                Err(_would_block) => continue,
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// The local runtime's control of a `runc exec --tty`.
#[derive(Debug)]
struct LocalControl {
    master: Master,
    child: tokio::process::Child,
}

#[async_trait::async_trait]
impl PtyControl for LocalControl {
    fn resize(&self, cols: u16, rows: u16) -> Result<()> {
        set_size(self.master.0.get_ref(), cols, rows)?;
        // runc copies the size of its own terminal into the sandbox's on SIGWINCH.
        if let Some(pid) = self
            .child
            .id()
            .and_then(|p| rustix::process::Pid::from_raw(p as i32))
        {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::WINCH);
        }
        Ok(())
    }

    async fn wait(&mut self) -> Result<i32> {
        let status = self.child.wait().await?;
        Ok(status.code().unwrap_or(128 + 9))
    }
}

/// What a local terminal reads and writes: the sandbox's output from the pipe runc
/// copies it into, keystrokes into our PTY, which runc reads.
#[derive(Debug)]
struct Relayed {
    output: tokio::net::unix::pipe::Receiver,
    input: Master,
}

impl AsyncRead for Relayed {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.output).poll_read(cx, buf)
    }
}

impl AsyncWrite for Relayed {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.input).poll_write(cx, data)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.input).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.input).poll_shutdown(cx)
    }
}

/// A session over a local PTY master (keystrokes in, the size), the pipe that `runc
/// exec` copies the sandbox's terminal into, and runc itself.
#[allow(unsafe_code)]
pub(crate) fn local_session(
    master: OwnedFd,
    output: std::io::PipeReader,
    child: tokio::process::Child,
) -> Result<PtySession> {
    rustix::io::ioctl_fionbio(&master, true).map_err(|e| {
        SandboxError::Internal(format!("cannot make the terminal non-blocking: {e}"))
    })?;
    // SAFETY: the File owns a valid descriptor, and nothing replaces or closes it while
    // the AsyncFd, which owns the File, is registered.
    let registered = unsafe { AsyncFd::register(std::fs::File::from(master)) }
        .map_err(|e| SandboxError::Internal(format!("cannot watch the terminal: {e}")))?;
    let master = Master(Arc::new(registered));
    let output = tokio::net::unix::pipe::Receiver::from_owned_fd(OwnedFd::from(output))
        .map_err(|e| SandboxError::Internal(format!("cannot watch the terminal's output: {e}")))?;
    Ok(PtySession::new(
        Box::new(Relayed {
            output,
            input: master.clone(),
        }),
        Box::new(LocalControl { master, child }),
    ))
}

pub(crate) fn set_size(master: &impl std::os::fd::AsFd, cols: u16, rows: u16) -> Result<()> {
    rustix::termios::tcsetwinsize(
        master,
        rustix::termios::Winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        },
    )
    .map_err(|e| SandboxError::Internal(format!("cannot resize the terminal: {e}")))
}

/// Opens a new pseudo-terminal pair: the master for us, the slave for the runtime's stdio.
pub(crate) fn open_pair() -> Result<(OwnedFd, std::fs::File)> {
    use rustix::pty::{grantpt, openpt, ptsname, unlockpt, OpenptFlags};
    let err = |e: rustix::io::Errno| {
        SandboxError::Internal(format!("cannot open a pseudo-terminal: {e}"))
    };
    let master =
        openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC).map_err(err)?;
    grantpt(&master).map_err(err)?;
    unlockpt(&master).map_err(err)?;
    let name = ptsname(&master, Vec::new()).map_err(err)?;
    // NOCTTY: Burrow must never acquire the terminal as its controlling tty,
    // or closing it would send Burrow SIGHUP.
    let slave = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(rustix::fs::OFlags::NOCTTY.bits() as i32)
        .open(std::ffi::OsStr::from_bytes(name.as_bytes()))?;
    Ok((master, slave))
}
