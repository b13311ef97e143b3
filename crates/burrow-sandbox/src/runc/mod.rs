//! `LocalRuntime`: sandboxes as OCI bundles run by runc (or crun, youki) on this machine.
//!
//! Layout under the state directory:
//! - `sandboxes/<id>/`: the bundle (`config.json`, `rootfs/`), `sandbox.json`,
//!   the shim's pid, init's pid, `exit.json` once it ended, and `logs/`;
//! - `slots/<n>`: which sandbox holds uid range `n`, created exclusively;
//! - `leases/<id>`: one file per lease, locked by its holder (`lease.rs`);
//! - `runtime/`: the OCI runtime's own state (`runc --root`).
//!
//! One file per operation: `create.rs`, `exec.rs` (`exec`, `exec_pty`), `stop.rs`
//! (`wait`, `stop`, `kill`), `update.rs` and `gc.rs` (`list`, `remove`, `gc`). Every file system
//! call runs on tokio's blocking pool, through [`LocalRuntime::blocking`].

mod create;
mod exec;
mod gc;
mod lease;
mod stop;
mod update;
mod volumes;

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::logs::{self, Chunk, Cursor, LogPolicy};
use crate::shim::{self, SandboxRecord};
use crate::spec::SandboxSpec;
pub use gc::LEGACY_OWNER_PID_LABEL;
pub use volumes::{HostPathsOnly, VolumeResolver};

use crate::{
    Connection, Created, ExecOutput, ExecSpec, ExitStatus, Folder, GcReport, HostListener, Lease,
    LocalFolder, PtySession, Result, Runtime, SandboxError, SandboxInfo, SharedFolder, Status,
};

/// A host service's listener inside one sandbox's network namespace.
#[derive(Debug)]
struct LocalListener(tokio::net::TcpListener);

#[async_trait::async_trait]
impl HostListener for LocalListener {
    async fn accept(&self) -> std::io::Result<Connection> {
        let (stream, _) = self.0.accept().await?;
        stream.set_nodelay(true)?;
        Ok(Box::new(stream))
    }
}

/// How long a sandbox may take to get its shim running before `gc` calls it lost.
const STARTING_GRACE_MS: i64 = 60_000;

/// How the local runtime is set up.
#[derive(Debug, Clone)]
pub struct LocalOptions {
    pub state_dir: PathBuf,
    /// The OCI runtime binary: `runc`, `crun` or `youki`, by name or path.
    pub runtime_bin: PathBuf,
    /// The `burrow` executable, which runs the shim.
    pub shim_exe: PathBuf,
    /// The init process run as PID 1 inside each sandbox.
    pub init: PathBuf,
    pub log_policy: LogPolicy,
    /// Finds the host folders of named volumes (environments, code, workspaces).
    pub volumes: Arc<dyn VolumeResolver>,
}

/// Sandboxes on this machine. Cheap to clone: clones share one state.
#[derive(Debug, Clone)]
pub struct LocalRuntime {
    local: Arc<Local>,
}

/// What the runtime's operations share with the blocking tasks they hand file work to.
#[derive(Debug)]
struct Local {
    options: LocalOptions,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// A new id: `prefix` and 12 hex digits from the kernel's random source.
fn random_id(prefix: &str) -> String {
    use std::fmt::Write;
    let mut bytes = [0u8; 6];
    let _ = rustix::rand::getrandom(&mut bytes, rustix::rand::GetRandomFlags::empty());
    let mut s = String::from(prefix);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

impl LocalRuntime {
    /// Removes sandbox directories left without a readable record (a create cut short by
    /// a `kill -9`) whose shim is gone, however young: for `burrow sandbox stop --all`,
    /// which ends everything. `gc` leaves young ones, which a live process may be writing.
    pub async fn remove_cut_short(&self) -> Result<Vec<String>> {
        gc::remove_unreadable(self, std::time::Duration::ZERO).await
    }

    /// Prepares the state directory. Fails with a clear message if the host cannot run sandboxes.
    pub fn new(options: LocalOptions) -> Result<Self> {
        for sub in ["sandboxes", "slots", "runtime", "leases"] {
            std::fs::create_dir_all(options.state_dir.join(sub))?;
        }
        let state_dir = options.state_dir.canonicalize()?;
        // The sandbox's root user (an unprivileged host uid) must be able to
        // reach its bundle, so every directory on the way must be searchable.
        for dir in state_dir.ancestors() {
            let mode = std::fs::metadata(dir)?.permissions().mode();
            if mode & 0o001 == 0 {
                return Err(SandboxError::Host(format!(
                    "{} is not searchable by other users (mode {:o}), so sandboxes cannot reach their files: \
                     run `chmod o+x {}` or choose another data directory",
                    dir.display(),
                    mode & 0o777,
                    dir.display()
                )));
            }
        }
        for sub in ["sandboxes", "runtime"] {
            std::fs::set_permissions(state_dir.join(sub), std::fs::Permissions::from_mode(0o711))?;
        }
        for sub in ["slots", "leases"] {
            std::fs::set_permissions(state_dir.join(sub), std::fs::Permissions::from_mode(0o700))?;
        }
        Ok(Self {
            local: Arc::new(Local {
                options: LocalOptions {
                    state_dir,
                    ..options
                },
            }),
        })
    }

    /// Runs `work` on tokio's blocking pool, where file system calls belong.
    async fn blocking<T, F>(&self, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Local) -> Result<T> + Send + 'static,
    {
        let local = Arc::clone(&self.local);
        tokio::task::spawn_blocking(move || work(&local))
            .await
            .map_err(|e| SandboxError::Internal(format!("a file system task failed: {e}")))?
    }

    /// The record of sandbox `id`; `NotFound` if there is none.
    async fn record(&self, id: &str) -> Result<SandboxRecord> {
        let id = id.to_owned();
        self.blocking(move |local| local.record(&id)).await
    }

    /// The status of sandbox `id`; `NotFound` if there is none (without a lock or an exit,
    /// `read_status` reads the record).
    async fn read_status(&self, id: &str) -> Result<Status> {
        let id = id.to_owned();
        self.blocking(move |local| {
            local.check_id(&id)?;
            local.read_status(&id)
        })
        .await
    }

    /// The init process of a running sandbox, whose namespaces sockets are made in.
    async fn running_pid(&self, id: &str) -> Result<i32> {
        let id = id.to_owned();
        self.blocking(move |local| local.running_pid(&id)).await
    }

    /// Runs a subcommand of the configured OCI runtime on this runtime's state.
    async fn runtime(&self, args: Vec<String>) -> std::result::Result<(), String> {
        let bin = self.local.options.runtime_bin.clone();
        let root = self.local.options.state_dir.join("runtime");
        tokio::task::spawn_blocking(move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            shim::runtime_command(&bin, &root, &args)
        })
        .await
        .map_err(|e| e.to_string())?
    }
}

impl Local {
    fn dir(&self, id: &str) -> PathBuf {
        self.options.state_dir.join("sandboxes").join(id)
    }

    /// Refuses ids that could name anything but a folder under `sandboxes/`.
    fn check_id(&self, id: &str) -> Result<()> {
        if id.is_empty() || id.contains('/') || id.starts_with('.') {
            return Err(SandboxError::NotFound(id.to_owned()));
        }
        Ok(())
    }

    fn record(&self, id: &str) -> Result<SandboxRecord> {
        self.check_id(id)?;
        let bytes = std::fs::read(self.dir(id).join(shim::RECORD))
            .map_err(|_| SandboxError::NotFound(id.to_owned()))?;
        serde_json::from_slice(&bytes)
            .map_err(|e| SandboxError::Internal(format!("unreadable record of {id}: {e}")))
    }

    fn leases(&self) -> PathBuf {
        self.options.state_dir.join("leases")
    }

    fn free_slot(&self, slot: u32) {
        let _ = std::fs::remove_file(self.options.state_dir.join("slots").join(slot.to_string()));
    }

    fn running_pid(&self, id: &str) -> Result<i32> {
        self.record(id)?;
        if self.read_status(id)? != Status::Running {
            return Err(SandboxError::NotRunning(id.to_owned()));
        }
        self.init_pid(id)
    }

    fn init_pid(&self, id: &str) -> Result<i32> {
        std::fs::read_to_string(self.dir(id).join(shim::INIT_PID))
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .ok_or_else(|| SandboxError::NotRunning(id.to_owned()))
    }

    fn read_status(&self, id: &str) -> Result<Status> {
        let dir = self.dir(id);
        let exited = || -> Result<Option<ExitStatus>> {
            match std::fs::read(dir.join(shim::EXIT)) {
                Ok(bytes) => Ok(Some(
                    serde_json::from_slice(&bytes)
                        .map_err(|e| SandboxError::Internal(e.to_string()))?,
                )),
                Err(_) => Ok(None),
            }
        };
        if let Some(exit) = exited()? {
            return Ok(Status::Exited(exit));
        }
        match std::fs::File::open(dir.join(shim::SHIM_LOCK)) {
            // The shim holds the lock for its whole life.
            Ok(lock) => {
                match rustix::fs::flock(&lock, rustix::fs::FlockOperation::NonBlockingLockShared) {
                    Err(_) => Ok(Status::Running),
                    // Not held: the shim is gone. It may have written its exit just now.
                    Ok(()) => Ok(exited()?.map_or(Status::Lost, Status::Exited)),
                }
            }
            // No lock yet: the shim is still starting, unless that was long ago.
            Err(_) => {
                let record = self.record(id)?;
                let starting = now_ms() - record.created_at_ms < STARTING_GRACE_MS;
                Ok(if starting {
                    Status::Running
                } else {
                    Status::Lost
                })
            }
        }
    }
}

#[async_trait::async_trait]
impl Runtime for LocalRuntime {
    async fn create(&self, spec: SandboxSpec) -> Result<Created> {
        create::create(self, spec).await
    }

    async fn status(&self, id: &str) -> Result<Status> {
        self.read_status(id).await
    }

    async fn wait(&self, id: &str) -> Result<ExitStatus> {
        stop::wait(self, id).await
    }

    async fn stop(&self, id: &str, grace: Duration) -> Result<ExitStatus> {
        stop::stop(self, id, grace).await
    }

    async fn kill(&self, id: &str) -> Result<ExitStatus> {
        stop::kill(self, id).await
    }

    async fn exec(&self, id: &str, exec: ExecSpec) -> Result<ExecOutput> {
        exec::exec(self, id, exec).await
    }

    async fn shared_folder(&self, id: &str, dir: &str) -> Result<Arc<dyn SharedFolder>> {
        let pid = self.running_pid(id).await?;
        let (root, dir) = (PathBuf::from(format!("/proc/{pid}/root")), dir.to_owned());
        let folder = tokio::task::spawn_blocking(move || Folder::open_in(&root, &dir))
            .await
            .map_err(|e| SandboxError::Internal(e.to_string()))?
            .map_err(|e| {
                SandboxError::Host(format!(
                    "cannot open the folder shared with sandbox {id}: {e}"
                ))
            })?;
        Ok(Arc::new(LocalFolder::new(folder)))
    }

    async fn exec_pty(&self, id: &str, exec: ExecSpec, cols: u16, rows: u16) -> Result<PtySession> {
        exec::exec_pty(self, id, exec, cols, rows).await
    }

    async fn connect(&self, id: &str, port: u16) -> Result<Connection> {
        let pid = self.running_pid(id).await?;
        let stream = tokio::task::spawn_blocking(move || crate::netns::connect(pid, port))
            .await
            .map_err(|e| SandboxError::Internal(e.to_string()))??;
        Ok(Box::new(stream))
    }

    async fn listen(&self, id: &str, port: u16) -> Result<Box<dyn HostListener>> {
        let pid = self.running_pid(id).await?;
        let listener = tokio::task::spawn_blocking(move || crate::netns::listen(pid, port))
            .await
            .map_err(|e| SandboxError::Internal(e.to_string()))??;
        Ok(Box::new(LocalListener(listener)))
    }

    async fn logs(&self, id: &str, cursor: Cursor) -> Result<(Vec<Chunk>, Cursor)> {
        let id = id.to_owned();
        self.blocking(move |local| {
            local.record(&id)?;
            Ok(logs::read_after(&local.dir(&id).join(shim::LOGS), cursor)?)
        })
        .await
    }

    async fn list(&self, labels: &BTreeMap<String, String>) -> Result<Vec<SandboxInfo>> {
        gc::list(self, labels).await
    }

    async fn remove(&self, id: &str) -> Result<()> {
        gc::remove(self, id).await
    }

    async fn gc(&self) -> Result<GcReport> {
        gc::gc(self).await
    }

    async fn lease(&self) -> Result<Lease> {
        self.blocking(|local| lease::take(&local.leases())).await
    }

    async fn update(
        &self,
        id: &str,
        labels: BTreeMap<String, String>,
        limits: &crate::Limits,
    ) -> Result<()> {
        update::update(self, id, labels, limits).await
    }
}
