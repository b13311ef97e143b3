//! Warm app sandboxes: started ahead with Python up and Streamlit, pandas and numpy imported, each handed one app once on its first view, then thrown away with it.
//!
//! A warm sandbox is made like an app's (the base environment, the egress proxy and data
//! bridge ports, the same scratch space and variables), but runs `warm.py` (from its own
//! `assigned/<w>-warm`, at `/opt/burrow/warm`) and mounts two empty folders of its own,
//! `assigned/<w>-code` at `/app` and `assigned/<w>-secrets` at Streamlit's secrets
//! folder, all read-only. It is held under the pool's lease, so a
//! `kill -9` of `serve` leaves none behind (`gc` reaps them). Taking one for an app:
//! its code and secrets are linked into those folders, the sandbox is relabelled as the
//! app's and given the app's limits (its lease label goes, so it lives on as any app
//! sandbox does), and `warm.py` is sent Streamlit's arguments over the connection that
//! said it was ready. From then on it is the app's sandbox; stopping the app removes it,
//! and the next sweep removes its folders. A spec the pool cannot serve (an overlay
//! environment, other mounts) starts cold, as does every app while the pool is empty.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use burrow_envs::{EnvRef, Environments};
use burrow_sandbox::{
    Connection, Created, HostListener, Lease, Mount, Runtime, SandboxSpec, Status, Volume,
    LEASE_LABEL,
};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};

use crate::{bundle, secrets};

/// The label every warm sandbox keeps, assigned or not: the name of its folders.
pub const WARM_LABEL: &str = "burrow.warm";
/// Where `warm.py` listens for its assignment, on the sandbox's own loopback.
const CONTROL_PORT: u16 = 8499;
const WARM_PY: &str = include_str!("warm.py");
/// Where a warm sandbox finds `warm.py`.
const WARM_AT: &str = "/opt/burrow/warm";
/// Starts this long ago count towards how many sandboxes are kept ready.
const RATE_WINDOW: Duration = Duration::from_secs(60);
/// After a take, refilling waits this long, so a new warm sandbox's imports do not
/// take a core from the app that is starting.
const REFILL_AFTER_TAKE: Duration = Duration::from_millis(1500);
/// How long `warm.py` may take to import and listen.
const WARM_UP_TIMEOUT: Duration = Duration::from_secs(60);
/// Apps with less memory start cold: a warm sandbox already holds about 150 MB, which
/// a lower limit could not hold once the app's own imports come.
pub const MIN_MEMORY: u64 = 512 << 20;
/// How long `warm.py` may take to accept its assignment.
const ASSIGN_TIMEOUT: Duration = Duration::from_secs(5);

/// Makes the spec of an app sandbox on `env` running `command`, without its code and
/// secrets: what a warm sandbox and an app's cold start share.
pub type Template = fn(&EnvRef, Vec<String>) -> SandboxSpec;

/// One warm sandbox, ready.
struct Warm {
    id: String,
    folders: String,
    /// What it was made as: an app's spec must fit it.
    spec: SandboxSpec,
    /// Open since `warm.py` listened; the assignment goes over it.
    control: Connection,
    listeners: Vec<(u16, Box<dyn HostListener>)>,
}

/// The pool: its size bound, the sandboxes ready, and what it needs to make more.
pub struct Pool {
    runtime: Arc<dyn Runtime>,
    envs: Environments,
    template: Template,
    /// Host service ports every app sandbox has.
    ports: Vec<u16>,
    /// Where the warm sandboxes' folders are, `assigned/`.
    dir: PathBuf,
    apps_dir: PathBuf,
    secrets_dir: PathBuf,
    max: usize,
    ready: parking_lot::Mutex<Vec<Warm>>,
    takes: parking_lot::Mutex<VecDeque<Instant>>,
    /// Folders made for a sandbox that is not created yet: the sweep keeps them.
    making: parking_lot::Mutex<HashSet<String>>,
    lease: tokio::sync::OnceCell<Lease>,
    closed: AtomicBool,
    wake: tokio::sync::Notify,
    /// Held by a refill, so [`Pool::clear`] waits for a sandbox being made.
    busy: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("max", &self.max)
            .field("ready", &self.ready.lock().len())
            .finish_non_exhaustive()
    }
}

/// How a pool is set up.
#[derive(Debug, Clone)]
pub struct PoolOptions {
    /// The most warm sandboxes kept; 0 keeps none.
    pub max: usize,
    /// `assigned/`.
    pub dir: PathBuf,
    pub apps_dir: PathBuf,
    pub secrets_dir: PathBuf,
    pub ports: Vec<u16>,
}

impl Pool {
    pub fn new(
        runtime: Arc<dyn Runtime>,
        envs: Environments,
        template: Template,
        options: PoolOptions,
    ) -> Self {
        Self {
            runtime,
            envs,
            template,
            ports: options.ports,
            dir: options.dir,
            apps_dir: options.apps_dir,
            secrets_dir: options.secrets_dir,
            max: options.max,
            ready: parking_lot::Mutex::new(Vec::new()),
            takes: parking_lot::Mutex::new(VecDeque::new()),
            making: parking_lot::Mutex::new(HashSet::new()),
            lease: tokio::sync::OnceCell::new(),
            closed: AtomicBool::new(false),
            wake: tokio::sync::Notify::new(),
            busy: tokio::sync::Mutex::new(()),
        }
    }

    /// How many are ready now.
    pub fn ready(&self) -> usize {
        self.ready.lock().len()
    }

    /// How many to keep ready: one, and one more for each start in the last minute,
    /// up to the bound.
    fn target(&self) -> usize {
        let mut takes = self.takes.lock();
        while takes.front().is_some_and(|t| t.elapsed() > RATE_WINDOW) {
            takes.pop_front();
        }
        (1 + takes.len()).min(self.max)
    }

    /// A warm sandbox made into the sandbox `spec` asks for, labels and limits included,
    /// with its host services' listeners; `None` when none is ready or `spec` does not
    /// fit one, and the app starts cold.
    pub async fn take(&self, spec: &SandboxSpec) -> Option<Created> {
        if self.max == 0 || self.closed.load(Ordering::SeqCst) {
            return None;
        }
        // Only starts the pool could serve make it grow.
        let on_base = spec
            .labels
            .get(burrow_envs::SANDBOX_LABEL)
            .is_some_and(|key| key.starts_with("base-"));
        if on_base {
            self.takes.lock().push_back(Instant::now());
            self.wake.notify_one();
        }
        let warm = {
            let mut ready = self.ready.lock();
            let at = ready.iter().position(|w| fits(&w.spec, spec))?;
            ready.swap_remove(at)
        };
        metrics::gauge!("burrow_apps_warm_sandboxes").set(self.ready() as f64);
        let id = warm.id.clone();
        match self.assign(warm, spec).await {
            Ok(created) => {
                tracing::debug!(sandbox = %id, "Assigned a warm sandbox");
                Some(created)
            }
            Err(why) => {
                tracing::warn!(sandbox = %id, error = %why, "A warm sandbox could not take its app; starting cold");
                let _ = self.runtime.remove(&id).await;
                None
            }
        }
    }

    /// Links the app's code and secrets into the warm sandbox's folders, gives it the
    /// app's labels and limits, and hands `warm.py` Streamlit's arguments.
    async fn assign(&self, warm: Warm, spec: &SandboxSpec) -> Result<Created, String> {
        let Warm {
            id,
            folders,
            mut control,
            listeners,
            ..
        } = warm;
        let mut fill = Vec::new();
        for m in &spec.mounts {
            match &m.volume {
                Volume::Code { owner, version } => fill.push((
                    bundle::code_dir(&self.apps_dir, owner, *version),
                    self.dir.join(format!("{folders}-code")),
                )),
                Volume::Secrets { owner, revision } => fill.push((
                    secrets::folder(&self.secrets_dir, owner, *revision),
                    self.dir.join(format!("{folders}-secrets")),
                )),
                _ => {}
            }
        }
        tokio::task::spawn_blocking(move || {
            for (from, to) in fill {
                let from = from.ok_or("the app's id is not one")?;
                link_tree(&from, &to).map_err(|e| {
                    format!("linking {} into {}: {e}", from.display(), to.display())
                })?;
            }
            Ok::<_, String>(())
        })
        .await
        .map_err(|e| e.to_string())??;
        let mut labels = spec.labels.clone();
        labels.insert(WARM_LABEL.to_owned(), folders);
        self.runtime
            .update(&id, labels, &spec.limits)
            .await
            .map_err(|e| e.to_string())?;
        let mut line = serde_json::to_vec(&serde_json::json!({"argv": &spec.command[1..]}))
            .expect("strings serialise");
        line.push(b'\n');
        let answer = tokio::time::timeout(ASSIGN_TIMEOUT, async {
            control.write_all(&line).await?;
            let mut answer = String::new();
            tokio::io::BufReader::new((&mut control).take(4096))
                .read_line(&mut answer)
                .await?;
            Ok::<_, std::io::Error>(answer)
        })
        .await
        .map_err(|_| "it did not answer its assignment".to_owned())?
        .map_err(|e| format!("its assignment failed: {e}"))?;
        if answer.trim_end() != "ok" {
            return Err(format!("it refused its assignment: {}", answer.trim_end()));
        }
        Ok(Created { id, listeners })
    }

    /// Keeps the pool filled until [`clear`](Self::clear): drops warm sandboxes that
    /// ended, removes folders no sandbox has, and makes more, one at a time, up to the
    /// target. Does nothing when the pool's size is 0.
    pub async fn run(self: Arc<Self>) {
        if self.max == 0 {
            return;
        }
        loop {
            if self.closed.load(Ordering::SeqCst) {
                return;
            }
            self.refill().await;
            metrics::gauge!("burrow_apps_warm_sandboxes").set(self.ready() as f64);
            tokio::select! {
                () = self.wake.notified() => {}
                () = tokio::time::sleep(Duration::from_secs(2)) => {}
            }
        }
    }

    async fn refill(&self) {
        let _busy = self.busy.lock().await;
        let ids: Vec<String> = self.ready.lock().iter().map(|w| w.id.clone()).collect();
        for id in ids {
            if !matches!(self.runtime.status(&id).await, Ok(Status::Running)) {
                self.ready.lock().retain(|w| w.id != id);
                let _ = self.runtime.remove(&id).await;
            }
        }
        self.sweep().await;
        loop {
            let last = self.takes.lock().back().copied();
            if let Some(wait) = last.and_then(|t| REFILL_AFTER_TAKE.checked_sub(t.elapsed())) {
                tokio::time::sleep(wait).await;
            }
            if self.closed.load(Ordering::SeqCst) || self.ready() >= self.target() {
                return;
            }
            match self.make().await {
                Ok(Some(warm)) if self.closed.load(Ordering::SeqCst) => {
                    let _ = self.runtime.remove(&warm.id).await;
                    return;
                }
                Ok(Some(warm)) => {
                    self.ready.lock().push(warm);
                    metrics::gauge!("burrow_apps_warm_sandboxes").set(self.ready() as f64);
                }
                // No base environment yet: the next round looks again.
                Ok(None) => return,
                Err(why) => {
                    tracing::warn!(error = %why, "Could not start a warm app sandbox");
                    return;
                }
            }
        }
    }

    /// Starts one warm sandbox and waits until `warm.py` listens; `None` while the base
    /// environment is not built.
    async fn make(&self) -> Result<Option<Warm>, String> {
        let key = self.envs.base_key().await.map_err(|e| e.to_string())?;
        let Some(env) = self.envs.get(&key) else {
            return Ok(None);
        };
        let lease = self
            .lease
            .get_or_try_init(|| self.runtime.lease())
            .await
            .map_err(|e| e.to_string())?;
        let folders = format!("w{:016x}", rand::random::<u64>());
        self.making.lock().insert(folders.clone());
        let made = self.start(&env, lease, &folders).await;
        self.making.lock().remove(&folders);
        made.map(Some)
    }

    async fn start(&self, env: &EnvRef, lease: &Lease, folders: &str) -> Result<Warm, String> {
        let dir = self.dir.clone();
        let names = folders.to_owned();
        tokio::task::spawn_blocking(move || make_folders(&dir, &names))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| format!("making its folders under {}: {e}", self.dir.display()))?;
        let mut spec = (self.template)(
            env,
            vec![
                env.python(),
                format!("{WARM_AT}/warm.py"),
                CONTROL_PORT.to_string(),
            ],
        );
        for (part, destination) in [
            ("code", "/app"),
            ("secrets", secrets::MOUNT_AT),
            ("warm", WARM_AT),
        ] {
            spec.mounts.push(Mount {
                volume: Volume::Assigned {
                    id: format!("{folders}-{part}"),
                },
                destination: destination.into(),
                writable: false,
            });
        }
        spec.host_services = self.ports.clone();
        spec.labels
            .insert(WARM_LABEL.to_owned(), folders.to_owned());
        spec.labels
            .insert(LEASE_LABEL.to_owned(), lease.id().to_owned());
        let created = self
            .runtime
            .create(spec.clone())
            .await
            .map_err(|e| e.to_string())?;
        let id = created.id;
        let started = Instant::now();
        let control = loop {
            match self.runtime.status(&id).await {
                Ok(Status::Running) => {}
                other => {
                    let _ = self.runtime.remove(&id).await;
                    return Err(format!("it ended while it warmed up: {other:?}"));
                }
            }
            if let Ok(connection) = self.runtime.connect(&id, CONTROL_PORT).await {
                break connection;
            }
            if started.elapsed() > WARM_UP_TIMEOUT || self.closed.load(Ordering::SeqCst) {
                let _ = self.runtime.remove(&id).await;
                return Err(format!(
                    "it was not ready within {} s",
                    WARM_UP_TIMEOUT.as_secs()
                ));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        tracing::debug!(sandbox = %id, elapsed_ms = started.elapsed().as_millis() as u64, "A warm app sandbox is ready");
        Ok(Warm {
            id,
            folders: folders.to_owned(),
            spec,
            control,
            listeners: created.listeners,
        })
    }

    /// Removes the folders of warm sandboxes that are gone: assigned ones whose app
    /// stopped, and any a crash left behind.
    async fn sweep(&self) {
        let Ok(sandboxes) = self.runtime.list(&BTreeMap::new()).await else {
            return;
        };
        let mut keep: HashSet<String> = sandboxes
            .into_iter()
            .filter_map(|s| s.labels.get(WARM_LABEL).cloned())
            .collect();
        keep.extend(self.making.lock().iter().cloned());
        let dir = self.dir.clone();
        let _ = tokio::task::spawn_blocking(move || {
            for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                let owner = ["-code", "-secrets", "-warm"]
                    .iter()
                    .find_map(|part| name.strip_suffix(part))
                    .unwrap_or(&name);
                if !keep.contains(owner) {
                    let _ = std::fs::remove_dir_all(entry.path());
                }
            }
        })
        .await;
    }

    /// Removes the warm sandboxes not yet assigned, and makes no more: before the
    /// process ends. Waits for one being made, which then goes too.
    pub async fn clear(&self) {
        self.closed.store(true, Ordering::SeqCst);
        self.wake.notify_one();
        let _busy = self.busy.lock().await;
        let warm: Vec<Warm> = std::mem::take(&mut *self.ready.lock());
        for w in warm {
            let _ = self.runtime.remove(&w.id).await;
        }
        // Whatever still carries the pool's lease was never assigned.
        if let Some(lease) = self.lease.get() {
            let mine = BTreeMap::from([(LEASE_LABEL.to_owned(), lease.id().to_owned())]);
            for sandbox in self.runtime.list(&mine).await.unwrap_or_default() {
                let _ = self.runtime.remove(&sandbox.id).await;
            }
        }
        self.sweep().await;
    }
}

/// Whether an app's `spec` can be served by a warm sandbox made as `warm`: Streamlit as
/// a module of the same interpreter, at least [`MIN_MEMORY`], and the same of everything
/// an assignment cannot change, the mounts other than the app's code and secrets
/// included.
pub fn fits(warm: &SandboxSpec, spec: &SandboxSpec) -> bool {
    let assigned = |m: &Mount| {
        matches!(
            (&m.volume, m.destination.as_str()),
            (Volume::Code { .. }, "/app") | (Volume::Assigned { .. }, _)
        ) || matches!((&m.volume, m.destination.as_str()), (Volume::Secrets { .. }, d) if d == secrets::MOUNT_AT)
    };
    let others = |s: &SandboxSpec| {
        s.mounts
            .iter()
            .filter(|m| !assigned(m))
            .cloned()
            .collect::<Vec<_>>()
    };
    let ports = |s: &SandboxSpec| {
        let mut p = s.host_services.clone();
        p.sort_unstable();
        p
    };
    spec.command
        .get(..3)
        .is_some_and(|c| c[0] == warm.command[0] && c[1] == "-m" && c[2] == "streamlit")
        && spec.limits.memory_bytes >= MIN_MEMORY
        && spec.cwd == warm.cwd
        && spec.env == warm.env
        && spec.network == warm.network
        && ports(spec) == ports(warm)
        && others(spec) == others(warm)
        && spec.limits.open_files == warm.limits.open_files
        && spec.limits.disk_bytes == warm.limits.disk_bytes
        && spec.limits.timeout == warm.limits.timeout
        && spec.labels.get(burrow_envs::SANDBOX_LABEL)
            == warm.labels.get(burrow_envs::SANDBOX_LABEL)
}

/// `{dir}/{name}-code` and `{dir}/{name}-secrets`, empty, and `{dir}/{name}-warm` with
/// `warm.py`, readable by the sandbox's user through its mounts; `dir` itself is
/// Burrow's alone.
fn make_folders(dir: &Path, name: &str) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    for part in ["code", "secrets", "warm"] {
        std::fs::DirBuilder::new()
            .mode(0o755)
            .create(dir.join(format!("{name}-{part}")))?;
    }
    let script = dir.join(format!("{name}-warm/warm.py"));
    std::fs::write(&script, WARM_PY)?;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o444))
}

/// Hard-links every file of `from` into `to` (copies one that cannot be linked, across
/// file systems), making its folders; skips symbolic links, which no unpacked bundle has.
fn link_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        let target = to.join(entry.file_name());
        if kind.is_dir() {
            std::fs::DirBuilder::new().mode(0o755).create(&target)?;
            link_tree(&entry.path(), &target)?;
        } else if kind.is_file() && std::fs::hard_link(entry.path(), &target).is_err() {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn warm() -> SandboxSpec {
        let mut s = SandboxSpec::new(vec!["/env/bin/python".into(), "-c".into(), "…".into()]);
        s.cwd = "/app".into();
        s.mounts.push(Mount {
            volume: Volume::Environment {
                key: "base-1".into(),
            },
            destination: "/env".into(),
            writable: false,
        });
        s.mounts.push(Mount {
            volume: Volume::Assigned {
                id: "w1-code".into(),
            },
            destination: "/app".into(),
            writable: false,
        });
        s.host_services = vec![3128, 5433];
        s.labels
            .insert(burrow_envs::SANDBOX_LABEL.into(), "base-1".into());
        s
    }

    fn app() -> SandboxSpec {
        let mut s = warm();
        s.command = ["/env/bin/python", "-m", "streamlit", "run", "/app/app.py"]
            .map(String::from)
            .to_vec();
        s.mounts[1] = Mount {
            volume: Volume::Code {
                owner: "a1".into(),
                version: 3,
            },
            destination: "/app".into(),
            writable: false,
        };
        s.mounts.push(Mount {
            volume: Volume::Secrets {
                owner: "a1".into(),
                revision: 2,
            },
            destination: secrets::MOUNT_AT.into(),
            writable: false,
        });
        s.host_services = vec![5433, 3128];
        s.limits.memory_bytes = 2 << 30;
        s.labels.insert("burrow.app".into(), "a1".into());
        s
    }

    #[test]
    fn an_app_of_the_same_environment_fits_whatever_its_limits_and_secrets() {
        assert!(fits(&warm(), &app()));
    }

    #[test]
    fn what_an_assignment_cannot_change_does_not_fit() {
        let changes: [fn(&mut SandboxSpec); 8] = [
            |s| s.limits.memory_bytes = 256 << 20,
            |s| {
                s.mounts[0].volume = Volume::Environment {
                    key: "env-2".into(),
                }
            },
            |s| s.command[2] = "other".into(),
            |s| s.env.push(("EXTRA".into(), "1".into())),
            |s| s.host_services.pop().map(drop).unwrap_or(()),
            |s| s.limits.disk_bytes += 1,
            |s| s.mounts[1].destination = "/code".into(),
            |s| {
                s.labels
                    .insert(burrow_envs::SANDBOX_LABEL.into(), "env-2".into());
            },
        ];
        for (i, change) in changes.iter().enumerate() {
            let mut spec = app();
            change(&mut spec);
            assert!(!fits(&warm(), &spec), "change {i} should not fit");
        }
    }

    #[test]
    fn linking_a_tree_keeps_its_files_and_folders() {
        let from = tempfile::tempdir().unwrap();
        let to = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(from.path().join(".streamlit")).unwrap();
        std::fs::write(from.path().join("app.py"), "x = 1").unwrap();
        std::fs::write(from.path().join(".streamlit/config.toml"), "[theme]").unwrap();
        link_tree(from.path(), to.path()).unwrap();
        assert_eq!(
            std::fs::read_to_string(to.path().join("app.py")).unwrap(),
            "x = 1"
        );
        assert_eq!(
            std::fs::read_to_string(to.path().join(".streamlit/config.toml")).unwrap(),
            "[theme]"
        );
    }
}
