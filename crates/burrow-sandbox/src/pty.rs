//! Pseudo-terminals for `exec`.
//!
//! runc only hands a PTY master over `--console-socket` when it detaches, and a
//! detached exec's exit code is lost. So Burrow gives `runc exec --tty` a PTY of
//! its own as stdio: runc, in the foreground, relays between that PTY and the
//! sandbox's, follows its size on SIGWINCH, and exits with the process's code.

use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;

use crate::{Result, SandboxError};

/// A process running on a pseudo-terminal inside a sandbox.
#[derive(Debug)]
pub struct PtyProcess {
    /// The terminal's master side: write keystrokes, read the screen.
    pub master: std::fs::File,
    pub(crate) child: tokio::process::Child,
}

impl PtyProcess {
    /// Tells the terminal (and the program on it) its new size.
    pub fn resize(&self, cols: u16, rows: u16) -> Result<()> {
        set_size(&self.master, cols, rows)?;
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

    /// Waits for the process to exit; returns its exit code.
    pub async fn wait(&mut self) -> Result<i32> {
        let status = self.child.wait().await?;
        Ok(status.code().unwrap_or(128 + 9))
    }
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
