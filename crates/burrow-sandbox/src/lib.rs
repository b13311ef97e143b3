//! Burrow's sandbox runtime: untrusted processes in OCI containers, behind the [`Runtime`] trait.
//!
//! This crate knows nothing of HTTP, the database or apps. It takes a
//! [`SandboxSpec`] and `create` returns its id (with any host services' listeners,
//! [`Created`]); everything else (status, wait,
//! exec, connect, logs) goes through the id. The local implementation,
//! [`LocalRuntime`], writes an OCI bundle and runs it with runc (or crun or
//! youki) under a small per-sandbox supervisor process, the shim, which owns
//! the output, the timeout and the exit status, so sandboxes outlive a
//! restart of the control plane and are re-adopted from disk.
//!
//! This is the security wall: the Python-level checks elsewhere are guardrails.

// Starting processes is this crate's job; elsewhere it is forbidden by clippy.toml.
#![allow(clippy::disallowed_methods)]

pub mod cgroup;
pub mod folder;
pub mod host;
pub mod logs;
mod netns;
pub mod oci;
mod pty;
mod runc;
pub mod seccomp;
pub mod shim;
pub mod spec;

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use folder::{Folder, LocalFolder, SharedFolder};
pub use logs::{Chunk, Cursor, LogPolicy, Stream};
pub use pty::{PtyControl, PtySession};
pub use runc::{HostPathsOnly, LocalOptions, LocalRuntime, VolumeResolver, LEGACY_OWNER_PID_LABEL};
pub use spec::{Limits, Mount, Network, SandboxSpec, Volume};

/// A sandbox's id, such as `sb-7kq2m9x4c8hd`.
pub type SandboxId = String;

#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("invalid sandbox: {0}")]
    InvalidSpec(String),
    #[error("no sandbox {0}")]
    NotFound(String),
    #[error("sandbox {0} is not running")]
    NotRunning(String),
    #[error("the sandbox failed to start: {0}")]
    StartFailed(String),
    #[error("{0}")]
    Host(String),
    #[error("sandbox runtime error: {0}")]
    Internal(String),
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
}

pub type Result<T, E = SandboxError> = std::result::Result<T, E>;

/// Why a sandbox's main process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ExitReason {
    /// It exited by itself, with `code`.
    Exited,
    /// The kernel killed it for exceeding the memory limit.
    Oom,
    /// It ran past the wall-clock limit and was killed.
    Timeout,
    /// It was ended by a signal (including `stop` and `kill`).
    Signal,
    /// It never started; `message` says why.
    Error,
}

/// How a sandbox ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExitStatus {
    pub reason: ExitReason,
    /// The exit code, when it exited by itself.
    pub code: Option<i32>,
    /// The signal that ended it, when one did.
    pub signal: Option<i32>,
    /// Detail for `Error`.
    pub message: Option<String>,
    /// The most memory the sandbox's cgroup used, when the runtime could read it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peak_memory_bytes: Option<u64>,
}

impl std::fmt::Display for ExitStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.reason {
            ExitReason::Exited => write!(f, "exit code {}", self.code.unwrap_or(-1)),
            ExitReason::Oom => f.write_str("killed: out of memory"),
            ExitReason::Timeout => f.write_str("killed: timeout"),
            ExitReason::Signal => write!(f, "ended by signal {}", self.signal.unwrap_or(0)),
            ExitReason::Error => write!(
                f,
                "did not start: {}",
                self.message.as_deref().unwrap_or("unknown error")
            ),
        }
    }
}

impl ExitStatus {
    /// The conventional shell exit code: the code itself, 128+signal, 137 for
    /// out of memory, 124 for a timeout, 125 when it never started.
    pub fn shell_code(&self) -> i32 {
        match self.reason {
            ExitReason::Exited => self.code.unwrap_or(0),
            ExitReason::Oom => 137,
            ExitReason::Timeout => 124,
            ExitReason::Signal => 128 + self.signal.unwrap_or(9),
            ExitReason::Error => 125,
        }
    }
}

/// Where a sandbox is in its life.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "lowercase")]
pub enum Status {
    Running,
    Exited(ExitStatus),
    /// Its supervisor is gone without recording an exit, for example after the
    /// host rebooted; `gc` reaps it.
    Lost,
}

/// A sandbox as `list` reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SandboxInfo {
    pub id: SandboxId,
    pub labels: BTreeMap<String, String>,
    pub command: Vec<String>,
    pub created_at_ms: i64,
    pub status: Status,
}

/// A further process to run in a running sandbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecSpec {
    pub command: Vec<String>,
    /// Added to the sandbox's own environment.
    pub env: Vec<(String, String)>,
    pub cwd: Option<String>,
}

/// The result of a captured `exec`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecOutput {
    pub code: i32,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

/// What `gc` removed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct GcReport {
    /// Sandboxes that had ended, removed with their files.
    pub removed: Vec<SandboxId>,
    /// Running sandboxes whose lease ended, or that lost their supervisor, killed and
    /// removed; and directories whose record could not be read.
    pub reaped: Vec<SandboxId>,
    /// Runtime containers with no sandbox record, deleted.
    pub orphans: Vec<String>,
    /// Sandboxes that should have gone but could not be removed, each with why; the
    /// others were collected all the same.
    pub failed: Vec<String>,
}

/// A byte stream to or from a port of a sandbox's loopback: a TCP connection made inside
/// its network namespace with the local runtime, whatever reaches a pod with another.
pub trait SandboxStream:
    tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static
{
}

impl<T> SandboxStream for T where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static
{
}

/// A connection to or from a sandbox.
pub type Connection = Box<dyn SandboxStream>;

/// The listening end of a host service: `127.0.0.1:port` inside one sandbox's network,
/// so the listener a connection arrives on says which sandbox made it.
#[async_trait::async_trait]
pub trait HostListener: Send + Sync + std::fmt::Debug {
    /// The next connection the sandbox makes to the service.
    async fn accept(&self) -> std::io::Result<Connection>;
}

/// A sandbox `create` started.
#[derive(Debug)]
pub struct Created {
    pub id: SandboxId,
    /// The host services' listeners, one per port of the spec's `host_services`, in order.
    pub listeners: Vec<(u16, Box<dyn HostListener>)>,
}

/// Runs sandboxes: `LocalRuntime` on this host with runc, and the Kubernetes runtime
/// (`burrow-kube`) as pods.
#[async_trait::async_trait]
pub trait Runtime: Send + Sync + std::fmt::Debug {
    /// Creates and starts a sandbox; returns once its main process runs, with a listener
    /// for each of the spec's `host_services`, opened before the process started.
    async fn create(&self, spec: SandboxSpec) -> Result<Created>;
    async fn status(&self, id: &str) -> Result<Status>;
    /// Waits for the main process to end.
    async fn wait(&self, id: &str) -> Result<ExitStatus>;
    /// SIGTERM, then SIGKILL after `grace`; returns how it ended.
    async fn stop(&self, id: &str, grace: Duration) -> Result<ExitStatus>;
    /// SIGKILL at once.
    async fn kill(&self, id: &str) -> Result<ExitStatus>;
    /// Runs a further process and captures its output (each stream capped at 16 MiB).
    async fn exec(&self, id: &str, exec: ExecSpec) -> Result<ExecOutput>;
    /// Runs a further process on a new pseudo-terminal.
    async fn exec_pty(&self, id: &str, exec: ExecSpec, cols: u16, rows: u16) -> Result<PtySession>;
    /// A connection to `127.0.0.1:port` inside the sandbox's network.
    async fn connect(&self, id: &str, port: u16) -> Result<Connection>;
    /// Opens a host service's listener on `127.0.0.1:port` inside the sandbox's network;
    /// Burrow serves what connects. For a new sandbox, declare the port in the spec's
    /// `host_services` instead, so it listens before the process starts; this opens it
    /// again after re-adopting a sandbox.
    async fn listen(&self, id: &str, port: u16) -> Result<Box<dyn HostListener>>;
    /// The folder at `dir` in the running sandbox, the mount of a [`Volume::Shared`], to
    /// read and write from outside it. The local runtime opens it through
    /// `/proc/<init>/root`; one whose sandboxes run on other machines reaches it through
    /// the sandbox's agent. What is in it is the sandbox's: untrusted, and bounded.
    async fn shared_folder(&self, id: &str, dir: &str) -> Result<std::sync::Arc<dyn SharedFolder>> {
        Err(SandboxError::Host(format!(
            "the folder {dir} of sandbox {id} cannot be reached from this host"
        )))
    }
    /// Output after `cursor`; start from `Cursor::default()` for the kept tail.
    async fn logs(&self, id: &str, cursor: Cursor) -> Result<(Vec<Chunk>, Cursor)>;
    /// Sandboxes whose labels include all of `labels`.
    async fn list(&self, labels: &BTreeMap<String, String>) -> Result<Vec<SandboxInfo>>;
    /// Kills the sandbox if it runs, and removes it and its files.
    async fn remove(&self, id: &str) -> Result<()>;
    /// Removes ended sandboxes and reaps ones nobody owns.
    async fn gc(&self) -> Result<GcReport>;
    /// Takes a new lease, for sandboxes that should not outlive their holder.
    async fn lease(&self) -> Result<Lease>;
    /// Gives a running sandbox `labels` in place of its own, and the memory, CPU and
    /// process limits of `limits`: for a sandbox started ahead of the work it is then
    /// handed. Its other limits stay as they were.
    async fn update(
        &self,
        id: &str,
        _labels: BTreeMap<String, String>,
        _limits: &Limits,
    ) -> Result<()> {
        Err(SandboxError::Host(format!(
            "this runtime cannot change the labels and limits of sandbox {id}"
        )))
    }
}

/// The label naming the lease a sandbox belongs to; `gc` reaps it once the lease ends.
pub const LEASE_LABEL: &str = "burrow.lease";

/// A claim on sandboxes by a holder that may die without cleaning up, such as `burrow
/// sandbox run`. A sandbox labelled [`LEASE_LABEL`]`=`[`Lease::id`] is reaped by `gc` once
/// the lease ends: when it is dropped, or when its holder dies. Sandboxes without the label
/// (those `burrow serve` supervises, which outlive it) are never reaped for it.
#[derive(Debug)]
pub struct Lease {
    id: String,
    _held: Box<dyn std::fmt::Debug + Send + Sync>,
}

impl Lease {
    /// For runtimes: a lease named `id`, kept alive for as long as `held` lives.
    pub fn new(id: String, held: Box<dyn std::fmt::Debug + Send + Sync>) -> Self {
        Self { id, _held: held }
    }

    /// What to put in a sandbox's [`LEASE_LABEL`].
    pub fn id(&self) -> &str {
        &self.id
    }
}
