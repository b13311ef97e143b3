//! `LocalRuntime`: sandboxes as OCI bundles run by runc (or crun, youki) on this machine.
//!
//! Layout under the state directory:
//! - `sandboxes/<id>/`: the bundle (`config.json`, `rootfs/`), `sandbox.json`,
//!   the shim's pid, init's pid, `exit.json` once it ended, and `logs/`;
//! - `slots/<n>`: which sandbox holds uid range `n`, created exclusively;
//! - `runtime/`: the OCI runtime's own state (`runc --root`).

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::io::AsyncReadExt;

use crate::logs::{self, Chunk, Cursor, LogPolicy};
use crate::oci::{self, Placement, ID_RANGE};
use crate::shim::{self, SandboxRecord};
use crate::spec::SandboxSpec;
use crate::{
    Connection, ExecOutput, ExecSpec, ExitStatus, GcReport, HostListener, PtySession, Result,
    Runtime, SandboxError, SandboxId, SandboxInfo, Status, OWNER_PID_LABEL,
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

/// First host uid of slot 0. Above the ranges distributions hand out in
/// /etc/subuid, so sandboxes never share ids with host users.
const ID_BASE: u32 = 1_000_000;
const SLOTS: u32 = 4096;
const EXEC_OUTPUT_CAP: u64 = 16 << 20;
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
}

#[derive(Debug)]
pub struct LocalRuntime {
    options: LocalOptions,
    /// Serialises slot allocation within this process; files make it safe across processes.
    slots: tokio::sync::Mutex<()>,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// A new sandbox id: `sb-` and 12 hex digits from the kernel's random source.
fn new_id() -> String {
    use std::fmt::Write;
    let mut bytes = [0u8; 6];
    let _ = rustix::rand::getrandom(&mut bytes, rustix::rand::GetRandomFlags::empty());
    let mut s = String::from("sb-");
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

impl LocalRuntime {
    /// Prepares the state directory. Fails with a clear message if the host cannot run sandboxes.
    pub fn new(options: LocalOptions) -> Result<Self> {
        for sub in ["sandboxes", "slots", "runtime"] {
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
        std::fs::set_permissions(
            state_dir.join("slots"),
            std::fs::Permissions::from_mode(0o700),
        )?;
        Ok(Self {
            options: LocalOptions {
                state_dir,
                ..options
            },
            slots: tokio::sync::Mutex::new(()),
        })
    }

    fn dir(&self, id: &str) -> PathBuf {
        self.options.state_dir.join("sandboxes").join(id)
    }

    fn record(&self, id: &str) -> Result<SandboxRecord> {
        if id.is_empty() || id.contains('/') || id.starts_with('.') {
            return Err(SandboxError::NotFound(id.to_owned()));
        }
        let bytes = std::fs::read(self.dir(id).join(shim::RECORD))
            .map_err(|_| SandboxError::NotFound(id.to_owned()))?;
        serde_json::from_slice(&bytes)
            .map_err(|e| SandboxError::Internal(format!("unreadable record of {id}: {e}")))
    }

    async fn allocate_slot(&self, id: &str) -> Result<u32> {
        let _guard = self.slots.lock().await;
        for slot in 0..SLOTS {
            let path = self.options.state_dir.join("slots").join(slot.to_string());
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
            {
                Ok(mut file) => {
                    std::io::Write::write_all(&mut file, id.as_bytes())?;
                    return Ok(slot);
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(SandboxError::Host(format!(
            "all {SLOTS} sandbox uid ranges are in use: run `burrow sandbox gc`"
        )))
    }

    fn free_slot(&self, slot: u32) {
        let _ = std::fs::remove_file(self.options.state_dir.join("slots").join(slot.to_string()));
    }

    /// Writes the bundle: an empty root owned by the sandbox's root user, with
    /// mount points, symlinks and a minimal `/etc` that Burrow writes itself.
    fn write_bundle(&self, dir: &Path, spec: &SandboxSpec, placement: &Placement) -> Result<()> {
        let rootfs = dir.join("rootfs");
        std::fs::create_dir_all(&rootfs)?;
        let config = oci::config(spec, placement)?;
        let config_json = serde_json::to_vec_pretty(&config)
            .map_err(|e| SandboxError::Internal(e.to_string()))?;
        std::fs::write(dir.join("config.json"), config_json)?;
        for m in config.mounts().as_deref().unwrap_or_default() {
            let dest = rootfs.join(m.destination().strip_prefix("/").unwrap_or(m.destination()));
            let is_file = m.source().as_deref().is_some_and(|s| s.is_file());
            if is_file {
                std::fs::create_dir_all(dest.parent().expect("a mount destination has a parent"))?;
                std::fs::write(&dest, b"")?;
            } else {
                std::fs::create_dir_all(&dest)?;
            }
        }
        // runc gives a tmpfs the mode of the directory it is mounted on.
        std::fs::set_permissions(rootfs.join("tmp"), std::fs::Permissions::from_mode(0o1777))?;
        for link in ["bin", "lib", "lib64", "sbin"] {
            let host = Path::new("/").join(link);
            if let Ok(target) = std::fs::read_link(&host) {
                std::os::unix::fs::symlink(target, rootfs.join(link))?;
            }
        }
        let etc = rootfs.join("etc");
        std::fs::create_dir_all(&etc)?;
        let uid = oci::SANDBOX_UID;
        std::fs::write(etc.join("passwd"), format!("root:x:0:0:root:/root:/usr/sbin/nologin\nsandbox:x:{uid}:{uid}:sandbox:{}:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n", crate::spec::HOME))?;
        std::fs::write(
            etc.join("group"),
            format!("root:x:0:\ntty:x:5:\nsandbox:x:{uid}:\nnogroup:x:65534:\n"),
        )?;
        std::fs::write(etc.join("hosts"), "127.0.0.1 localhost\n::1 localhost\n")?;
        std::fs::write(
            etc.join("nsswitch.conf"),
            "passwd: files\ngroup: files\nhosts: files dns\n",
        )?;
        std::fs::write(etc.join("resolv.conf"), "")?;
        chown_tree(&rootfs, placement.host_id_base)?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o711))?;
        Ok(())
    }

    /// The init process of a running sandbox, whose namespaces sockets are made in.
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

    /// Runs a subcommand of the configured OCI runtime on this runtime's state.
    async fn runtime(&self, args: Vec<String>) -> std::result::Result<(), String> {
        let bin = self.options.runtime_bin.clone();
        let root = self.options.state_dir.join("runtime");
        tokio::task::spawn_blocking(move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            shim::runtime_command(&bin, &root, &args)
        })
        .await
        .map_err(|e| e.to_string())?
    }

    async fn wait_exit(&self, id: &str, limit: Option<Duration>) -> Result<Option<ExitStatus>> {
        let started = Instant::now();
        loop {
            match self.read_status(id)? {
                Status::Exited(exit) => return Ok(Some(exit)),
                Status::Lost => {
                    return Err(SandboxError::Internal(format!(
                        "the supervisor of {id} is gone without recording an exit"
                    )));
                }
                Status::Running => {}
            }
            if limit.is_some_and(|l| started.elapsed() >= l) {
                return Ok(None);
            }
            // Short runs end within milliseconds; long ones need not be polled often.
            let poll = match started.elapsed().as_secs() {
                0 => Duration::from_millis(2),
                1..=9 => Duration::from_millis(10),
                _ => Duration::from_millis(50),
            };
            tokio::time::sleep(poll).await;
        }
    }

    fn exec_process_file(
        &self,
        record: &SandboxRecord,
        exec: &ExecSpec,
        terminal: Option<(u16, u16)>,
    ) -> Result<PathBuf> {
        if exec.command.is_empty() {
            return Err(SandboxError::InvalidSpec(
                "the exec command is empty".into(),
            ));
        }
        let mut env = record.spec.env.clone();
        env.extend(exec.env.iter().cloned());
        if terminal.is_some() && !env.iter().any(|(k, _)| k == "TERM") {
            env.push(("TERM".into(), "xterm-256color".into()));
        }
        let cwd = exec.cwd.clone().unwrap_or_else(|| record.spec.cwd.clone());
        let mut process = oci::process(
            &exec.command,
            &env,
            &cwd,
            terminal.is_some(),
            record.spec.limits.open_files,
        );
        // The runtime sizes the terminal before the process starts; a size set
        // afterwards (from our PTY) could be read as 0 by a quick process.
        if let Some((cols, rows)) = terminal {
            process["consoleSize"] = serde_json::json!({"width": cols, "height": rows});
        }
        let path = self.dir(&record.id).join(format!("exec-{}.json", new_id()));
        std::fs::write(
            &path,
            serde_json::to_vec(&process).expect("a process serialises"),
        )?;
        Ok(path)
    }

    fn runtime_exec_command(
        &self,
        record: &SandboxRecord,
        process_file: &Path,
    ) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new(&record.runtime_bin);
        cmd.arg("--root").arg(&record.runtime_root).arg("exec");
        cmd.arg("--process")
            .arg(process_file)
            .arg(&record.id)
            .stdin(Stdio::null())
            .kill_on_drop(true);
        cmd
    }
}

fn chown_tree(path: &Path, id: u32) -> std::io::Result<()> {
    std::os::unix::fs::lchown(path, Some(id), Some(id))?;
    if path.is_dir() && !path.is_symlink() {
        for entry in std::fs::read_dir(path)? {
            chown_tree(&entry?.path(), id)?;
        }
    }
    Ok(())
}

async fn read_capped<R: tokio::io::AsyncRead + Unpin>(reader: Option<R>) -> Vec<u8> {
    let Some(reader) = reader else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut limited = reader.take(EXEC_OUTPUT_CAP);
    let _ = limited.read_to_end(&mut out).await;
    // Keep draining so the process is never blocked on a full pipe.
    let _ = tokio::io::copy(&mut limited.into_inner(), &mut tokio::io::sink()).await;
    out
}

#[async_trait::async_trait]
impl Runtime for LocalRuntime {
    async fn create(&self, spec: SandboxSpec) -> Result<SandboxId> {
        spec.validate()?;
        let id = new_id();
        let slot = self.allocate_slot(&id).await?;
        let dir = self.dir(&id);
        let record = SandboxRecord {
            id: id.clone(),
            created_at_ms: now_ms(),
            host_id_base: ID_BASE + slot * ID_RANGE,
            slot,
            cgroups_path: format!("/burrow/{id}"),
            runtime_bin: self.options.runtime_bin.clone(),
            runtime_root: self.options.state_dir.join("runtime"),
            log_policy: self.options.log_policy,
            spec,
        };
        let placement = Placement {
            id: id.clone(),
            host_id_base: record.host_id_base,
            cgroups_path: record.cgroups_path.clone(),
            init: self.options.init.display().to_string(),
        };
        let prepared = std::fs::create_dir(&dir)
            .map_err(SandboxError::from)
            .and_then(|()| self.write_bundle(&dir, &record.spec, &placement))
            .and_then(|()| {
                shim::write_atomic(
                    &dir.join(shim::RECORD),
                    &serde_json::to_vec_pretty(&record).expect("a record serialises"),
                )
                .map_err(Into::into)
            });
        if let Err(e) = prepared {
            let _ = std::fs::remove_dir_all(&dir);
            self.free_slot(slot);
            return Err(e);
        }
        let launched = tokio::process::Command::new(&self.options.shim_exe)
            .args(["sandbox", "shim"])
            .arg(&dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .await?;
        if !launched.status.success() {
            let _ = std::fs::remove_dir_all(&dir);
            self.free_slot(slot);
            return Err(SandboxError::StartFailed(
                String::from_utf8_lossy(&launched.stderr).trim().to_owned(),
            ));
        }
        // Running once the shim recorded init's pid; failed if it recorded an exit first.
        let started = Instant::now();
        loop {
            if dir.join(shim::INIT_PID).exists() && dir.join(shim::SHIM_PID).exists() {
                tracing::debug!(sandbox.id = %id, elapsed_ms = started.elapsed().as_millis() as u64, "Started sandbox");
                return Ok(id);
            }
            if let Ok(Status::Exited(exit)) = self.read_status(&id) {
                if exit.reason == crate::ExitReason::Error {
                    let (chunks, _) = logs::read_after(&dir.join(shim::LOGS), Cursor::default())
                        .unwrap_or_default();
                    let output: Vec<u8> = chunks.into_iter().flat_map(|c| c.data).collect();
                    let _ = self.remove(&id).await;
                    return Err(SandboxError::StartFailed(format!(
                        "{}: {}",
                        exit.message.unwrap_or_default(),
                        String::from_utf8_lossy(&output).trim()
                    )));
                }
                return Ok(id);
            }
            if started.elapsed() > Duration::from_secs(60) {
                let _ = self.remove(&id).await;
                return Err(SandboxError::StartFailed(
                    "the sandbox did not start within 60 seconds".into(),
                ));
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    async fn status(&self, id: &str) -> Result<Status> {
        self.record(id)?;
        self.read_status(id)
    }

    async fn wait(&self, id: &str) -> Result<ExitStatus> {
        self.record(id)?;
        Ok(self
            .wait_exit(id, None)
            .await?
            .expect("waiting without a limit ends with an exit"))
    }

    async fn stop(&self, id: &str, grace: Duration) -> Result<ExitStatus> {
        self.record(id)?;
        if let Status::Exited(exit) = self.read_status(id)? {
            return Ok(exit);
        }
        let _ = self
            .runtime(vec!["kill".into(), id.into(), "TERM".into()])
            .await;
        if let Some(exit) = self.wait_exit(id, Some(grace)).await? {
            return Ok(exit);
        }
        self.kill(id).await
    }

    async fn kill(&self, id: &str) -> Result<ExitStatus> {
        self.record(id)?;
        if let Status::Exited(exit) = self.read_status(id)? {
            return Ok(exit);
        }
        let _ = self
            .runtime(vec!["kill".into(), id.into(), "KILL".into()])
            .await;
        self.wait_exit(id, Some(Duration::from_secs(30)))
            .await?
            .ok_or_else(|| {
                SandboxError::Internal(format!("{id} did not exit within 30 s of SIGKILL"))
            })
    }

    async fn exec(&self, id: &str, exec: ExecSpec) -> Result<ExecOutput> {
        let record = self.record(id)?;
        if self.read_status(id)? != Status::Running {
            return Err(SandboxError::NotRunning(id.to_owned()));
        }
        let file = self.exec_process_file(&record, &exec, None)?;
        let mut child = self
            .runtime_exec_command(&record, &file)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        let stdout = tokio::spawn(read_capped(child.stdout.take()));
        let stderr = tokio::spawn(read_capped(child.stderr.take()));
        let status = child.wait().await?;
        let _ = std::fs::remove_file(file);
        // A background process started by the command may hold the pipes open
        // after the command exits; take what arrived and stop waiting.
        let collect = |task: tokio::task::JoinHandle<Vec<u8>>| async move {
            let abort = task.abort_handle();
            match tokio::time::timeout(Duration::from_secs(2), task).await {
                Ok(Ok(bytes)) => bytes,
                _ => {
                    abort.abort();
                    b"[burrow: output cut off: a background process kept it open]\n".to_vec()
                }
            }
        };
        let (stdout, stderr) = tokio::join!(collect(stdout), collect(stderr));
        Ok(ExecOutput {
            code: status.code().unwrap_or(128 + 9),
            stdout,
            stderr,
        })
    }

    async fn exec_pty(&self, id: &str, exec: ExecSpec, cols: u16, rows: u16) -> Result<PtySession> {
        let record = self.record(id)?;
        if self.read_status(id)? != Status::Running {
            return Err(SandboxError::NotRunning(id.to_owned()));
        }
        let file = self.exec_process_file(&record, &exec, Some((cols, rows)))?;
        let (master, slave) = crate::pty::open_pair()?;
        crate::pty::set_size(&master, cols, rows)?;
        let mut cmd = tokio::process::Command::new(&record.runtime_bin);
        cmd.arg("--root")
            .arg(&record.runtime_root)
            .args(["exec", "--tty", "--process"])
            .arg(&file)
            .arg(&record.id)
            .stdin(slave.try_clone()?)
            .stdout(slave.try_clone()?)
            .stderr(slave)
            .kill_on_drop(true);
        let child = cmd.spawn()?;
        // runc has read the process file once it is running; keep the directory tidy.
        let cleanup = file.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(10)).await;
            let _ = std::fs::remove_file(cleanup);
        });
        crate::pty::local_session(master, child)
    }

    async fn connect(&self, id: &str, port: u16) -> Result<Connection> {
        let pid = self.running_pid(id)?;
        let stream = tokio::task::spawn_blocking(move || crate::netns::connect(pid, port))
            .await
            .map_err(|e| SandboxError::Internal(e.to_string()))??;
        Ok(Box::new(stream))
    }

    async fn listen(&self, id: &str, port: u16) -> Result<Box<dyn HostListener>> {
        let pid = self.running_pid(id)?;
        let listener = tokio::task::spawn_blocking(move || crate::netns::listen(pid, port))
            .await
            .map_err(|e| SandboxError::Internal(e.to_string()))??;
        Ok(Box::new(LocalListener(listener)))
    }

    async fn logs(&self, id: &str, cursor: Cursor) -> Result<(Vec<Chunk>, Cursor)> {
        self.record(id)?;
        Ok(logs::read_after(&self.dir(id).join(shim::LOGS), cursor)?)
    }

    async fn list(&self, labels: &BTreeMap<String, String>) -> Result<Vec<SandboxInfo>> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(self.options.state_dir.join("sandboxes"))? {
            let id = entry?.file_name().to_string_lossy().into_owned();
            let Ok(record) = self.record(&id) else {
                continue;
            };
            if labels
                .iter()
                .any(|(k, v)| record.spec.labels.get(k) != Some(v))
            {
                continue;
            }
            out.push(SandboxInfo {
                status: self.read_status(&id)?,
                id,
                labels: record.spec.labels,
                command: record.spec.command,
                created_at_ms: record.created_at_ms,
            });
        }
        out.sort_by_key(|s| s.created_at_ms);
        Ok(out)
    }

    async fn remove(&self, id: &str) -> Result<()> {
        let record = self.record(id)?;
        if self.read_status(id)? == Status::Running {
            self.kill(id).await?;
        }
        let _ = self
            .runtime(vec!["delete".into(), "--force".into(), id.into()])
            .await;
        std::fs::remove_dir_all(self.dir(id))?;
        self.free_slot(record.slot);
        Ok(())
    }

    async fn gc(&self) -> Result<GcReport> {
        let mut report = GcReport::default();
        for info in self.list(&BTreeMap::new()).await? {
            let owner_gone = info
                .labels
                .get(OWNER_PID_LABEL)
                .and_then(|p| p.parse::<i32>().ok())
                .and_then(rustix::process::Pid::from_raw)
                .is_some_and(|pid| rustix::process::test_kill_process(pid).is_err());
            let owned = info.labels.contains_key(OWNER_PID_LABEL) && !owner_gone;
            match info.status {
                // An owner still alive may want the exit status; it removes the sandbox itself.
                Status::Exited(_) if owned => {}
                Status::Exited(_) => {
                    self.remove(&info.id).await?;
                    report.removed.push(info.id);
                }
                Status::Lost => {
                    let record = self.record(&info.id)?;
                    let _ = self
                        .runtime(vec!["delete".into(), "--force".into(), info.id.clone()])
                        .await;
                    std::fs::remove_dir_all(self.dir(&info.id))?;
                    self.free_slot(record.slot);
                    report.reaped.push(info.id);
                }
                Status::Running if owner_gone => {
                    self.remove(&info.id).await?;
                    report.reaped.push(info.id);
                }
                Status::Running => {}
            }
        }
        // Containers in the runtime's state with no sandbox record.
        let root = self.options.state_dir.join("runtime");
        for entry in std::fs::read_dir(&root)? {
            let name = entry?.file_name().to_string_lossy().into_owned();
            if !self.dir(&name).exists() {
                let _ = self
                    .runtime(vec!["delete".into(), "--force".into(), name.clone()])
                    .await;
                report.orphans.push(name);
            }
        }
        // Slots whose sandbox is gone.
        for entry in std::fs::read_dir(self.options.state_dir.join("slots"))? {
            let path = entry?.path();
            let owner = std::fs::read_to_string(&path).unwrap_or_default();
            // A slot is taken just before its sandbox's directory is made: leave young ones.
            let young = std::fs::metadata(&path)
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_none_or(|age| age < Duration::from_millis(STARTING_GRACE_MS as u64));
            if !young && !self.dir(owner.trim()).exists() {
                let _ = std::fs::remove_file(path);
            }
        }
        Ok(report)
    }
}
