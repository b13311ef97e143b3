//! Runs Streamlit apps: one sandbox per app, started on demand, health-checked, stopped when idle, restarted when it crashes.
//!
//! The [`Supervisor`] owns the link between an app and its sandbox. Every start,
//! stop and switch of one app runs under that app's lock, so concurrent first
//! viewers trigger exactly one start. The database holds the status people see
//! (`stopped | starting | running | stopping | error`); the sandbox runtime holds
//! the truth about processes, and [`Supervisor::reconcile`] brings the two
//! together when `serve` starts. A background [`Supervisor::tick`] stops idle
//! apps, restarts crashed ones with backoff, and moves running apps to a newly
//! activated version, starting the new sandbox before stopping the old one.

mod bundle;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use burrow_blobs::ObjectStore;
use burrow_envs::Environments;
use burrow_sandbox::{Limits, Mount, Runtime, SandboxSpec, Status};
use burrow_store::{App, AppStatus, Store, StoreError};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Streamlit's port inside every app sandbox, on loopback.
pub const APP_PORT: u16 = 8501;
/// Sandbox labels that tie a sandbox to its app.
pub const APP_LABEL: &str = "burrow.app";
pub const VERSION_LABEL: &str = "burrow.version";
/// How many times a crashed app is restarted before it is left in `error`.
pub const MAX_RESTARTS: i64 = 3;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(
        "this app has no built version yet: wait for its build, or upload a version that builds"
    )]
    NotBuilt,
    #[error("the app failed to start: {0}")]
    StartFailed(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the sandbox runtime failed: {0}")]
    Sandbox(#[from] burrow_sandbox::SandboxError),
}

/// Knobs, from the configuration.
#[derive(Debug, Clone)]
pub struct Options {
    /// Where unpacked bundles live: `{data_dir}/apps`.
    pub dir: PathBuf,
    /// How long a start may take before it counts as failed.
    pub start_timeout: Duration,
    /// How often [`Supervisor::tick`] runs.
    pub tick: Duration,
    /// Streamlit's `server.maxUploadSize`, in MB; the proxy's body limit matches it.
    pub max_upload_mb: u64,
}

/// A running app's sandbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Running {
    pub sandbox: String,
    pub version: i64,
}

#[derive(Debug, Default)]
struct Slot {
    /// Held across a whole start, stop or switch.
    state: tokio::sync::Mutex<SlotState>,
    /// What `state.running` was last set to, readable without waiting for a start.
    current: parking_lot::RwLock<Option<Running>>,
    /// Milliseconds since the epoch of the last viewer activity.
    last_activity: AtomicI64,
    /// The last activity written to the store.
    persisted_activity: AtomicI64,
    /// Restarts are used up: only a deliberate start (or stop) clears this.
    gave_up: AtomicBool,
    /// The app was deleted: a start still waiting on this slot must not go ahead.
    deleted: AtomicBool,
}

#[derive(Debug, Default)]
struct SlotState {
    running: Option<Running>,
    /// Restarts since the last deliberate start.
    restarts: i64,
    /// A newly activated version that failed to start; not tried again until activated anew.
    failed_switch: Option<i64>,
    /// Since when the current sandbox has run; a long healthy run forgives old crashes.
    healthy_since: Option<Instant>,
}

/// A run this long without a crash resets the restart count.
const FORGIVE_AFTER: Duration = Duration::from_secs(300);

impl Slot {
    fn set_running(&self, state: &mut SlotState, running: Option<Running>) {
        state.running.clone_from(&running);
        *self.current.write() = running;
    }
}

/// Starts, watches and stops app sandboxes; cheap to clone.
#[derive(Clone)]
pub struct Supervisor {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    runtime: Arc<dyn Runtime>,
    envs: Environments,
    blobs: Arc<dyn ObjectStore>,
    options: Options,
    slots: parking_lot::RwLock<HashMap<String, Arc<Slot>>>,
}

impl std::fmt::Debug for Supervisor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Supervisor")
            .field("options", &self.inner.options)
            .finish_non_exhaustive()
    }
}

fn now_ms() -> i64 {
    burrow_store::now_ms()
}

impl Supervisor {
    pub fn new(
        store: Store,
        runtime: Arc<dyn Runtime>,
        envs: Environments,
        blobs: Arc<dyn ObjectStore>,
        options: Options,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                store,
                runtime,
                envs,
                blobs,
                options,
                slots: Default::default(),
            }),
        }
    }

    pub fn options(&self) -> &Options {
        &self.inner.options
    }

    pub fn runtime(&self) -> &Arc<dyn Runtime> {
        &self.inner.runtime
    }

    fn slot(&self, app_id: &str) -> Arc<Slot> {
        if let Some(slot) = self.inner.slots.read().get(app_id) {
            return Arc::clone(slot);
        }
        let mut slots = self.inner.slots.write();
        Arc::clone(slots.entry(app_id.to_owned()).or_default())
    }

    /// Notes viewer activity, which keeps the app from being stopped as idle.
    pub fn touch(&self, app_id: &str) {
        self.slot(app_id)
            .last_activity
            .store(now_ms(), Ordering::Relaxed);
    }

    /// The running sandbox of an app, if it has one now; never waits for a start.
    pub fn running(&self, app_id: &str) -> Option<Running> {
        self.slot(app_id).current.read().clone()
    }

    /// Starts the app unless it runs; returns its sandbox once Streamlit answers its
    /// health check. Concurrent callers wait for the one start.
    pub async fn ensure_running(&self, app_id: &str) -> Result<Running, AppError> {
        let slot = self.slot(app_id);
        let mut state = slot.state.lock().await;
        if slot.deleted.load(Ordering::Relaxed) {
            return Err(AppError::StartFailed("the app was deleted".into()));
        }
        if let Some(running) = &state.running {
            if matches!(
                self.inner.runtime.status(&running.sandbox).await,
                Ok(Status::Running)
            ) {
                let running = running.clone();
                self.inner
                    .store
                    .set_app_status(app_id, AppStatus::Running, None, None)
                    .await?;
                return Ok(running);
            }
            let gone = running.sandbox.clone();
            slot.set_running(&mut state, None);
            let _ = self.inner.runtime.remove(&gone).await;
        }
        if slot.gave_up.load(Ordering::Relaxed) {
            return Err(AppError::StartFailed(format!(
                "it failed {MAX_RESTARTS} restarts in a row; an editor must start it again"
            )));
        }
        slot.last_activity.store(now_ms(), Ordering::Relaxed);
        self.start_locked(&slot, &mut state, app_id).await
    }

    /// Starts the app's active version, retrying a failed start with backoff (1 s, 2 s,
    /// 4 s) until [`MAX_RESTARTS`] restarts are used up; then the app is left in
    /// `error`, with the last error and output, and its creator is notified.
    async fn start_locked(
        &self,
        slot: &Slot,
        state: &mut SlotState,
        app_id: &str,
    ) -> Result<Running, AppError> {
        let store = &self.inner.store;
        loop {
            let app = store.find_app(app_id).await?;
            let Some(version) = app.active_version else {
                store
                    .set_app_status(app_id, AppStatus::Stopped, None, None)
                    .await?;
                return Err(AppError::NotBuilt);
            };
            store
                .set_app_status(app_id, AppStatus::Starting, None, Some(state.restarts))
                .await?;
            let error = match self.start_sandbox(&app, version).await {
                Ok(running) => {
                    store
                        .set_app_status(app_id, AppStatus::Running, None, None)
                        .await?;
                    state.healthy_since = Some(Instant::now());
                    slot.set_running(state, Some(running.clone()));
                    return Ok(running);
                }
                Err(e) => e,
            };
            let message = error.to_string();
            if state.restarts >= MAX_RESTARTS {
                self.give_up(slot, app_id, &app.name, &message).await?;
                return Err(error);
            }
            state.restarts += 1;
            tracing::warn!(app.id = %app_id, restarts = state.restarts, error = %message, "App failed; restarting");
            store
                .set_app_status(
                    app_id,
                    AppStatus::Starting,
                    Some(&message),
                    Some(state.restarts),
                )
                .await?;
            tokio::time::sleep(Duration::from_secs(1 << (state.restarts - 1))).await;
        }
    }

    /// Leaves the app in `error` with `message`, and tells its creator.
    async fn give_up(
        &self,
        slot: &Slot,
        app_id: &str,
        name: &str,
        message: &str,
    ) -> Result<(), AppError> {
        tracing::warn!(app.id = %app_id, error = %message, "App failed too often; leaving it in error");
        slot.gave_up.store(true, Ordering::Relaxed);
        let store = &self.inner.store;
        store
            .set_app_status(app_id, AppStatus::Error, Some(message), Some(MAX_RESTARTS))
            .await?;
        store
            .notify_app_creator(
                app_id,
                &format!("{name} stopped after {MAX_RESTARTS} restarts: {message}"),
            )
            .await?;
        Ok(())
    }

    /// A deliberate start: clears the last error and the restart count first.
    pub async fn start(&self, app_id: &str) -> Result<Running, AppError> {
        self.inner.store.clear_app_error(app_id).await?;
        let slot = self.slot(app_id);
        slot.gave_up.store(false, Ordering::Relaxed);
        slot.state.lock().await.restarts = 0;
        self.ensure_running(app_id).await
    }

    /// Stops the app's sandbox, if any, and records it as stopped.
    pub async fn stop(&self, app_id: &str) -> Result<(), AppError> {
        let slot = self.slot(app_id);
        let mut state = slot.state.lock().await;
        state.restarts = 0;
        slot.gave_up.store(false, Ordering::Relaxed);
        if let Some(running) = state.running.clone() {
            slot.set_running(&mut state, None);
            self.inner
                .store
                .set_app_status(app_id, AppStatus::Stopping, None, None)
                .await?;
            self.stop_sandbox(&running.sandbox).await;
        }
        self.inner
            .store
            .set_app_status(app_id, AppStatus::Stopped, None, None)
            .await?;
        Ok(())
    }

    /// Stops, then starts again.
    pub async fn restart(&self, app_id: &str) -> Result<Running, AppError> {
        self.stop(app_id).await?;
        self.start(app_id).await
    }

    /// Stops the app's sandbox and forgets the app, which is being deleted.
    pub async fn forget(&self, app_id: &str) {
        let slot = self.slot(app_id);
        slot.deleted.store(true, Ordering::Relaxed);
        let mut state = slot.state.lock().await;
        if let Some(running) = state.running.clone() {
            slot.set_running(&mut state, None);
            self.stop_sandbox(&running.sandbox).await;
        }
        drop(state);
        self.inner.slots.write().remove(app_id);
        bundle::remove_all(&self.inner.options.dir, app_id);
    }

    /// Deletes versions older than `keep`, except the active ones, with their bundles
    /// and unpacked files; returns how many. A running version stays on disk until
    /// its sandbox stops, since its files are mounted.
    pub async fn prune_versions(&self, keep: Duration) -> Result<usize, AppError> {
        let cutoff = now_ms() - keep.as_millis() as i64;
        let pruned = self.inner.store.prune_versions(cutoff).await?;
        for (app_id, number, blob) in &pruned {
            let _ = self
                .inner
                .blobs
                .delete(&burrow_blobs::BlobPath::from(blob.as_str()))
                .await;
            if self.running(app_id).map(|r| r.version) != Some(*number) {
                bundle::remove_version(&self.inner.options.dir, app_id, *number);
            }
            tracing::info!(app.id = %app_id, version = number, "Pruned an old version");
        }
        Ok(pruned.len())
    }

    /// A connection to Streamlit in the app's running sandbox.
    pub async fn connect(&self, running: &Running) -> Result<tokio::net::TcpStream, AppError> {
        Ok(self
            .inner
            .runtime
            .connect(&running.sandbox, APP_PORT)
            .await?)
    }

    /// The last lines of a sandbox's output, for error reports.
    pub async fn log_tail(&self, sandbox: &str, lines: usize) -> String {
        let Ok((chunks, _)) = self
            .inner
            .runtime
            .logs(sandbox, burrow_sandbox::Cursor::default())
            .await
        else {
            return String::new();
        };
        let text: Vec<u8> = chunks.into_iter().flat_map(|c| c.data).collect();
        let text = String::from_utf8_lossy(&text);
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    async fn stop_sandbox(&self, sandbox: &str) {
        let _ = self
            .inner
            .runtime
            .stop(sandbox, Duration::from_secs(5))
            .await;
        let _ = self.inner.runtime.remove(sandbox).await;
    }

    /// Creates the sandbox for `version` and waits until Streamlit is healthy.
    async fn start_sandbox(&self, app: &App, version: i64) -> Result<Running, AppError> {
        let v = self.inner.store.get_version(&app.id, version).await?;
        let env_key = v.build.environment.clone().ok_or(AppError::NotBuilt)?;
        let env = self.inner.envs.get(&env_key).ok_or_else(|| {
            AppError::StartFailed(format!(
                "its environment {env_key} is no longer on this host: upload the version again to rebuild it"
            ))
        })?;
        let code = bundle::unpack(
            &self.inner.options.dir,
            &app.id,
            version,
            &v.bundle_blob,
            self.inner.blobs.as_ref(),
        )
        .await
        .map_err(AppError::StartFailed)?;
        let mut spec = SandboxSpec::new(vec![
            env.python(),
            "-m".into(),
            "streamlit".into(),
            "run".into(),
            "/app/app.py".into(),
            "--server.headless=true".into(),
            format!("--server.port={APP_PORT}"),
            "--server.address=127.0.0.1".into(),
            "--browser.gatherUsageStats=false".into(),
            // Viewers get the viewer's menu, without "Deploy" and the developer options.
            "--client.toolbarMode=viewer".into(),
            "--server.websocketPingInterval=25".into(),
            "--server.fileWatcherType=none".into(),
            "--server.runOnSave=false".into(),
            format!(
                "--server.maxUploadSize={}",
                self.inner.options.max_upload_mb
            ),
        ]);
        spec.cwd = "/app".into();
        spec.env.extend(env.vars());
        spec.mounts = env
            .binds()
            .into_iter()
            .map(|(source, destination)| Mount {
                source,
                destination: destination.to_owned(),
                writable: false,
            })
            .collect();
        spec.mounts.push(Mount {
            source: code,
            destination: "/app".into(),
            writable: false,
        });
        spec.limits = Limits {
            memory_bytes: app.memory_bytes as u64,
            cpus: app.cpu_millis as f64 / 1000.0,
            pids: 256,
            disk_bytes: 256 << 20,
            ..Limits::default()
        };
        spec.labels = BTreeMap::from([
            (APP_LABEL.to_owned(), app.id.clone()),
            (VERSION_LABEL.to_owned(), version.to_string()),
            (burrow_envs::SANDBOX_LABEL.to_owned(), env.key.clone()),
        ]);
        let sandbox = self.inner.runtime.create(spec).await?;
        let running = Running { sandbox, version };
        match self.wait_healthy(&running).await {
            Ok(()) => {
                tracing::info!(app.id = %app.id, version, sandbox = %running.sandbox, "App is running");
                Ok(running)
            }
            Err(why) => {
                let tail = self.log_tail(&running.sandbox, 20).await;
                self.stop_sandbox(&running.sandbox).await;
                Err(AppError::StartFailed(if tail.is_empty() {
                    why
                } else {
                    format!("{why}; its last output:\n{tail}")
                }))
            }
        }
    }

    /// Polls Streamlit's health endpoint through `connect()` until it answers 200.
    async fn wait_healthy(&self, running: &Running) -> Result<(), String> {
        let deadline = Instant::now() + self.inner.options.start_timeout;
        let request =
            "GET /_stcore/health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
        loop {
            match self.inner.runtime.status(&running.sandbox).await {
                Ok(Status::Running) => {}
                Ok(Status::Exited(exit)) => {
                    return Err(format!("Streamlit exited before it was ready ({exit})"))
                }
                Ok(Status::Lost) => return Err("its sandbox was lost".into()),
                Err(e) => return Err(e.to_string()),
            }
            if let Ok(mut stream) = self.inner.runtime.connect(&running.sandbox, APP_PORT).await {
                let mut answer = Vec::new();
                let asked = stream.write_all(request.as_bytes()).await.is_ok()
                    && tokio::time::timeout(
                        Duration::from_secs(2),
                        stream.read_to_end(&mut answer),
                    )
                    .await
                    .is_ok_and(|r| r.is_ok());
                if asked && answer.starts_with(b"HTTP/1.1 200") {
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "Streamlit did not answer its health check within {} s",
                    self.inner.options.start_timeout.as_secs()
                ));
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// After a restart of `serve`: re-adopts app sandboxes that still run and marks
    /// the rest stopped; removes sandboxes of apps that are gone. Leaves no orphans.
    pub async fn reconcile(&self) -> Result<(), AppError> {
        let sandboxes = self.inner.runtime.list(&BTreeMap::new()).await?;
        let mut adopted = HashMap::new();
        for sandbox in sandboxes {
            let Some(app_id) = sandbox.labels.get(APP_LABEL) else {
                continue;
            };
            let version = sandbox
                .labels
                .get(VERSION_LABEL)
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            let alive = sandbox.status == Status::Running;
            let known = match self.inner.store.find_app(app_id).await {
                Ok(_) => true,
                Err(StoreError::NotFound) => false,
                Err(e) => return Err(e.into()),
            };
            if alive && known && !adopted.contains_key(app_id) {
                adopted.insert(
                    app_id.clone(),
                    Running {
                        sandbox: sandbox.id.clone(),
                        version,
                    },
                );
            } else {
                let _ = self.inner.runtime.remove(&sandbox.id).await;
            }
        }
        for app in self.inner.store.apps_maybe_running().await? {
            if !adopted.contains_key(&app.id) {
                self.inner
                    .store
                    .set_app_status(&app.id, AppStatus::Stopped, None, None)
                    .await?;
            }
        }
        for (app_id, running) in adopted {
            tracing::info!(app.id = %app_id, sandbox = %running.sandbox, "Re-adopted a running app");
            let slot = self.slot(&app_id);
            slot.last_activity.store(now_ms(), Ordering::Relaxed);
            let mut state = slot.state.lock().await;
            state.healthy_since = Some(Instant::now());
            slot.set_running(&mut state, Some(running));
            self.inner
                .store
                .set_app_status(&app_id, AppStatus::Running, None, None)
                .await?;
        }
        Ok(())
    }

    /// One pass of upkeep over the running apps: stop the idle, restart the crashed
    /// (at most [`MAX_RESTARTS`] times, with backoff), and switch to a new active version.
    pub async fn tick(&self) {
        let apps: Vec<(String, Arc<Slot>)> = self
            .inner
            .slots
            .read()
            .iter()
            .map(|(k, v)| (k.clone(), Arc::clone(v)))
            .collect();
        // Apps are kept up concurrently: one app's slow restart holds up no other.
        let work = apps.iter().map(|(app_id, slot)| async move {
            if let Err(e) = self.upkeep(app_id, slot).await {
                tracing::warn!(app.id = %app_id, error = %e, "App upkeep failed");
            }
            let at = slot.last_activity.load(Ordering::Relaxed);
            if at > slot.persisted_activity.swap(at, Ordering::Relaxed) {
                let _ = self.inner.store.record_app_activity(app_id, at).await;
            }
        });
        futures::future::join_all(work).await;
    }

    async fn upkeep(&self, app_id: &str, slot: &Slot) -> Result<(), AppError> {
        let mut state = slot.state.lock().await;
        let Some(running) = state.running.clone() else {
            return Ok(());
        };
        let store = &self.inner.store;
        let app = match store.find_app(app_id).await {
            Ok(app) => app,
            Err(StoreError::NotFound) => {
                slot.set_running(&mut state, None);
                self.stop_sandbox(&running.sandbox).await;
                return Ok(());
            }
            Err(e) => return Err(e.into()),
        };
        let idle_ms = now_ms() - slot.last_activity.load(Ordering::Relaxed);
        if idle_ms >= app.idle_timeout_secs * 1000 {
            tracing::info!(app.id = %app_id, idle_secs = idle_ms / 1000, "Stopping an idle app");
            slot.set_running(&mut state, None);
            state.restarts = 0;
            store
                .set_app_status(app_id, AppStatus::Stopping, None, None)
                .await?;
            self.stop_sandbox(&running.sandbox).await;
            store
                .set_app_status(app_id, AppStatus::Stopped, None, None)
                .await?;
            return Ok(());
        }
        let status = self.inner.runtime.status(&running.sandbox).await;
        if !matches!(status, Ok(Status::Running)) {
            let why = match status {
                Ok(Status::Exited(exit)) => format!("it crashed ({exit})"),
                Ok(_) => "its sandbox was lost".to_owned(),
                Err(e) => e.to_string(),
            };
            let tail = self.log_tail(&running.sandbox, 20).await;
            let _ = self.inner.runtime.remove(&running.sandbox).await;
            slot.set_running(&mut state, None);
            let message = format!("{why}; its last output:\n{tail}");
            tracing::warn!(app.id = %app_id, error = %message, "App crashed");
            state.healthy_since = None;
            if state.restarts >= MAX_RESTARTS {
                return self.give_up(slot, app_id, &app.name, &message).await;
            }
            state.restarts += 1;
            store
                .set_app_status(
                    app_id,
                    AppStatus::Starting,
                    Some(&message),
                    Some(state.restarts),
                )
                .await?;
            tokio::time::sleep(Duration::from_secs(1 << (state.restarts - 1))).await;
            // A failed restart is recorded by start_locked.
            let _ = self.start_locked(slot, &mut state, app_id).await;
            return Ok(());
        }
        if state
            .healthy_since
            .is_some_and(|since| since.elapsed() > FORGIVE_AFTER)
        {
            state.restarts = 0;
        }
        if let Some(active) = app.active_version {
            if active != running.version && state.failed_switch != Some(active) {
                // Start the new version beside the old; switch once it is healthy.
                match self.start_sandbox(&app, active).await {
                    Ok(next) => {
                        state.failed_switch = None;
                        slot.set_running(&mut state, Some(next));
                        self.stop_sandbox(&running.sandbox).await;
                        tracing::info!(app.id = %app_id, from = running.version, to = active, "Switched version");
                    }
                    Err(e) => {
                        state.failed_switch = Some(active);
                        tracing::warn!(app.id = %app_id, version = active, error = %e, "The new version did not start; the old one keeps running");
                        store
                            .set_app_status(app_id, AppStatus::Running, Some(&e.to_string()), None)
                            .await?;
                    }
                }
            }
        }
        Ok(())
    }

    /// Runs [`tick`](Self::tick) forever, every `options.tick`.
    pub async fn run_upkeep(self) {
        let mut every = tokio::time::interval(self.inner.options.tick);
        loop {
            every.tick().await;
            self.tick().await;
        }
    }
}
