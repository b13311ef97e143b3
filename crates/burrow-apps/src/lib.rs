//! Runs Streamlit apps: the apps workload of the generic supervisor, one sandbox per app, started on demand.
//!
//! The life cycle (one start for many first viewers, restarts with backoff, idle stop,
//! graceful version switch, reconcile after a restart) is `burrow-sessions`'. This crate
//! supplies what is Streamlit's and the store's: what should run for an app (its active
//! version and idle timeout), the sandbox for a version (its environment and unpacked
//! code, read-only, and Streamlit's command line), the readiness probe (Streamlit's
//! health check through `connect()`), and the statuses people see
//! (`stopped | starting | running | stopping | error`), which it records in the store.
//! A start takes a warm sandbox from the pool (`pool.rs`) when one fits.

mod bundle;
pub mod data;
pub mod forward;
pub mod pool;
pub mod secrets;

pub use bundle::code_dir;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use burrow_blobs::ObjectStore;
use burrow_egress::{Egress, Mode, Policy, PolicySource, PROXY_PORT};
use burrow_envs::Environments;
use burrow_sandbox::Network;
use burrow_sandbox::{Limits, Mount, Runtime, SandboxSpec, Volume};
use burrow_sessions::{
    AbortOnDrop, Change, HostService, Note, Phase, Readiness, SessionError, Target, Want,
};
use burrow_store::{AppStatus, Fence, Store, StoreError};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub use burrow_sessions::Running;

/// Streamlit's port inside every app sandbox, on loopback.
pub const APP_PORT: u16 = 8501;
/// Sandbox labels that tie a sandbox to its app.
pub const APP_LABEL: &str = "burrow.app";
pub const VERSION_LABEL: &str = "burrow.version";

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

impl From<SessionError<AppError>> for AppError {
    fn from(e: SessionError<AppError>) -> Self {
        match e {
            SessionError::Unavailable(_) => AppError::NotBuilt,
            SessionError::Gone => AppError::StartFailed("the app was deleted".into()),
            SessionError::StartFailed(why) => AppError::StartFailed(why),
            e @ SessionError::GaveUp(_) => AppError::StartFailed(e.to_string()),
            SessionError::Workload(e) => e,
            SessionError::Sandbox(e) => AppError::Sandbox(e),
            e @ (SessionError::LeaseLost | SessionError::Leases(_)) => {
                AppError::StartFailed(e.to_string())
            }
        }
    }
}

/// Knobs, from the configuration.
#[derive(Debug, Clone)]
pub struct Options {
    /// Where unpacked bundles live: `{data_dir}/apps`.
    pub dir: PathBuf,
    /// Where sandboxes' `secrets.toml` files live: `{data_dir}/secrets`.
    pub secrets_dir: PathBuf,
    /// How long a start may take before it counts as failed.
    pub start_timeout: Duration,
    /// How often [`Supervisor::tick`] runs.
    pub tick: Duration,
    /// Streamlit's `server.maxUploadSize`, in MB; the proxy's body limit matches it.
    pub max_upload_mb: u64,
    /// The egress proxy every app sandbox reaches on `127.0.0.1:3128`.
    pub egress: Egress,
    /// The most any app may reach, whatever its own policy says (an admin may have
    /// lowered it since).
    pub egress_max: Policy,
    /// The query engine behind the data bridge every app sandbox reaches on
    /// `127.0.0.1:3150`.
    pub data: burrow_data::Engine,
    /// Opens the passwords of the data sources apps query.
    pub keyring: burrow_data::Keyring,
    /// Where warm sandboxes' folders are: `{data_dir}/assigned`.
    pub assigned_dir: PathBuf,
    /// The most warm sandboxes kept ready; 0 keeps none.
    pub warm_pool: usize,
    /// Which replica serves each app, shared by every replica.
    pub leases: Arc<dyn burrow_sessions::Leases>,
    /// How long a replica's lease on an app lasts unrenewed.
    pub lease: Duration,
    /// How long building an environment built on another host, here, may take.
    pub build_timeout: Duration,
    /// How many such builds run at once on this host (`envs.max_concurrent_builds`):
    /// a host taking many apps over builds their environments a few at a time.
    pub max_builds: usize,
}

/// An app's egress policy as stored; what cannot be read back is `none`.
pub fn egress_policy(app: &burrow_store::App) -> Policy {
    let domains: Vec<String> = app
        .egress_domains
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_owned)
        .collect();
    Mode::parse(&app.egress_mode)
        .and_then(|mode| Policy::new(mode, &domains))
        .unwrap_or(Policy::NONE)
}

/// The egress proxy as an app sandbox's host service: each request is decided under the
/// app's policy as it is then (read at most once a second), within the instance's maximum.
struct AppEgress {
    store: Store,
    egress: Egress,
    max: Policy,
    /// Each app's policy and when it was read.
    recent: parking_lot::Mutex<std::collections::HashMap<String, (Instant, Policy)>>,
}

/// How long a policy read from the store is used before it is read again.
const POLICY_FRESH: Duration = Duration::from_secs(1);

impl AppEgress {
    async fn policy(&self, app_id: &str) -> Policy {
        if let Some((at, policy)) = self.recent.lock().get(app_id) {
            if at.elapsed() < POLICY_FRESH {
                return policy.clone();
            }
        }
        let policy = match self.store.find_app(app_id).await {
            Ok(app) => egress_policy(&app).within(&self.max),
            // Fail closed: the proxy still answers, and refuses with a reason.
            Err(_) => Policy::NONE,
        };
        let mut recent = self.recent.lock();
        recent.retain(|_, (at, _)| at.elapsed() < POLICY_FRESH);
        recent.insert(app_id.to_owned(), (Instant::now(), policy.clone()));
        policy
    }
}

/// One app's policy, as its sandbox's proxy connections read it.
struct AppPolicy {
    service: Arc<AppEgress>,
    app_id: String,
}

impl PolicySource for AppPolicy {
    fn policy(&self) -> std::pin::Pin<Box<dyn std::future::Future<Output = Policy> + Send + '_>> {
        Box::pin(self.service.policy(&self.app_id))
    }
}

/// The proxy's service for app sandboxes, handed to the supervisor.
struct EgressService(Arc<AppEgress>);

#[async_trait::async_trait]
impl HostService for EgressService {
    async fn serve(&self, app_id: &str, connection: burrow_sessions::Connection) {
        let source = Arc::new(AppPolicy {
            service: Arc::clone(&self.0),
            app_id: app_id.to_owned(),
        });
        self.0.egress.serve(app_id, source, connection).await;
    }
}

/// What the generic supervisor needs to know of apps.
#[derive(Debug)]
pub struct Apps {
    store: Store,
    envs: Environments,
    blobs: Arc<dyn ObjectStore>,
    options: Options,
    egress: Arc<AppEgress>,
    data: Arc<data::DataService>,
    /// Apps whose secrets folders were written since upkeep last pruned them.
    secrets_written: parking_lot::Mutex<std::collections::HashSet<String>>,
    pool: Arc<pool::Pool>,
    /// Bounds [`Apps::build_here`]'s builds.
    builds_here: tokio::sync::Semaphore,
}

impl std::fmt::Debug for AppEgress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppEgress")
            .field("max", &self.max)
            .finish_non_exhaustive()
    }
}

#[async_trait::async_trait]
impl burrow_sessions::Workload for Apps {
    type Error = AppError;
    const KEY_LABEL: &'static str = APP_LABEL;
    const VERSION_LABEL: &'static str = VERSION_LABEL;

    /// The active version, stopped after the app's idle timeout; no maximum lifetime.
    async fn want(&self, app_id: &str) -> Result<Want, AppError> {
        let app = match self.store.find_app(app_id).await {
            Ok(app) => app,
            Err(StoreError::NotFound) => return Ok(Want::Gone),
            Err(e) => return Err(e.into()),
        };
        Ok(match app.active_version {
            Some(version) => Want::Run(Target {
                version,
                revision: app.secrets_revision,
                idle_timeout: Some(Duration::from_secs(app.idle_timeout_secs.max(0) as u64)),
                max_lifetime: None,
                active_at_ms: app.last_activity_at.unwrap_or(0),
            }),
            None => Want::Unavailable(AppError::NotBuilt.to_string()),
        })
    }

    /// Unpacks the version, mounts its environment and code read-only, and runs
    /// Streamlit on loopback with the app's limits.
    async fn spec(&self, app_id: &str, target: &Target) -> Result<SandboxSpec, AppError> {
        let version = target.version;
        let app = self.store.find_app(app_id).await?;
        let v = self.store.get_version(app_id, version).await?;
        let env_key = v.build.environment.clone().ok_or(AppError::NotBuilt)?;
        let env = match self.envs.get(&env_key) {
            Some(env) => env,
            None => {
                self.build_here(app_id, version, &v.build.requirements, &env_key)
                    .await?
            }
        };
        bundle::unpack(
            &self.options.dir,
            &app.id,
            version,
            &v.bundle_blob,
            self.blobs.as_ref(),
        )
        .await
        .map_err(AppError::StartFailed)?;
        let mut spec = app_sandbox(
            &env,
            vec![
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
                format!("--server.maxUploadSize={}", self.options.max_upload_mb),
            ],
        );
        spec.mounts.push(Mount {
            volume: Volume::Code {
                owner: app_id.to_owned(),
                version,
            },
            destination: "/app".into(),
            writable: false,
        });
        if let Some(mount) = self.secrets_mount(&app.id).await? {
            spec.mounts.push(mount);
        }
        spec.limits.memory_bytes = app.memory_bytes as u64;
        spec.limits.cpus = app.cpu_millis as f64 / 1000.0;
        Ok(spec)
    }

    /// The app's secrets masked; what cannot be masked is withheld.
    async fn redact(&self, app_id: &str, output: Vec<u8>) -> Vec<u8> {
        secrets::redact(
            &self.store,
            &self.options.keyring,
            &self.options.secrets_dir,
            app_id,
            output,
        )
        .await
    }

    fn host_services(&self, _app_id: &str) -> Vec<(u16, Arc<dyn HostService>)> {
        vec![
            (
                PROXY_PORT,
                Arc::new(EgressService(Arc::clone(&self.egress))) as Arc<dyn HostService>,
            ),
            (
                burrow_data::BRIDGE_PORT,
                Arc::clone(&self.data) as Arc<dyn HostService>,
            ),
        ]
    }

    /// Streamlit's health endpoint answers 200, through `connect()`.
    async fn ready(&self, runtime: &dyn Runtime, _app_id: &str, sandbox: &str) -> Readiness {
        const REQUEST: &str =
            "GET /_stcore/health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
        let Ok(mut stream) = runtime.connect(sandbox, APP_PORT).await else {
            return Readiness::NotYet;
        };
        let mut answer = Vec::new();
        let healthy = stream.write_all(REQUEST.as_bytes()).await.is_ok()
            && tokio::time::timeout(Duration::from_secs(2), stream.read_to_end(&mut answer))
                .await
                .is_ok_and(|r| r.is_ok())
            && answer.starts_with(b"HTTP/1.1 200");
        healthy.into()
    }

    async fn record(&self, app_id: &str, change: Change) -> Result<(), AppError> {
        let status = match change.phase {
            Phase::Stopped => AppStatus::Stopped,
            Phase::Starting => AppStatus::Starting,
            Phase::Running => AppStatus::Running,
            Phase::Stopping => AppStatus::Stopping,
            Phase::Error => AppStatus::Error,
        };
        let fence = change.fence.as_ref().map(|f| Fence {
            workload: APP_LABEL,
            holder: &f.holder,
            epoch: f.epoch,
        });
        let restarts = change.restarts.map(i64::from);
        let error = match &change.error {
            Note::Clear => {
                self.store.clear_app_error(app_id, fence).await?;
                None
            }
            Note::Set(error) => Some(error.as_str()),
            Note::Keep => None,
        };
        self.store
            .set_app_status(app_id, status, error, restarts, fence)
            .await?;
        Ok(())
    }

    fn fenced(error: &AppError) -> bool {
        matches!(error, AppError::Store(StoreError::Fenced))
    }

    /// Tells the app's creator.
    async fn gave_up(&self, app_id: &str, message: &str) -> Result<(), AppError> {
        let app = self.store.find_app(app_id).await?;
        self.store
            .notify_app_creator(
                app_id,
                &format!("{} stopped after its restarts ran out: {message}", app.name),
            )
            .await?;
        Ok(())
    }

    /// A warm sandbox from the pool when one fits, else a new one.
    async fn create(
        &self,
        runtime: &dyn Runtime,
        _app_id: &str,
        spec: SandboxSpec,
    ) -> burrow_sandbox::Result<burrow_sandbox::Created> {
        match self.pool.take(&spec).await {
            Some(created) => Ok(created),
            None => runtime.create(spec).await,
        }
    }

    async fn active_at(&self, app_id: &str, at_ms: i64) -> Result<(), AppError> {
        Ok(self.store.record_app_activity(app_id, at_ms).await?)
    }

    async fn maybe_running(&self) -> Result<Vec<String>, AppError> {
        Ok(self
            .store
            .apps_maybe_running()
            .await?
            .into_iter()
            .map(|a| a.id.into())
            .collect())
    }
}

/// An app sandbox on `env` running `command`, before its code, secrets and own limits:
/// the environment read-only, Streamlit's working folder, the default app limits, and
/// the egress proxy. A cold start and a warm sandbox are both made from it.
fn app_sandbox(env: &burrow_envs::EnvRef, command: Vec<String>) -> SandboxSpec {
    let mut spec = SandboxSpec::new(command);
    spec.cwd = "/app".into();
    spec.env.extend(env.vars());
    spec.mounts = env.mounts();
    spec.limits = Limits {
        memory_bytes: 1 << 30,
        cpus: 1.0,
        pids: 256,
        disk_bytes: 256 << 20,
        ..Limits::default()
    };
    spec.labels = BTreeMap::from([(burrow_envs::SANDBOX_LABEL.to_owned(), env.key.clone())]);
    // Always through the proxy, whatever the policy: a policy changed later holds
    // for the next connection without a restart, and under `none` a request is
    // refused with its reason rather than failing to resolve.
    spec.network = Network::EgressProxy { port: PROXY_PORT };
    spec
}

impl Apps {
    /// Builds on this host the environment a version's build made on another (or that
    /// was collected here since): from the same requirements, against the same index,
    /// so the same packages. The build's log is kept in the environments' `logs` folder.
    async fn build_here(
        &self,
        app_id: &str,
        version: i64,
        requirements: &str,
        env_key: &str,
    ) -> Result<burrow_envs::EnvRef, AppError> {
        let path = self
            .envs
            .root()
            .join("logs")
            .join(format!("{app_id}-v{version}-here.log"));
        let failed = |why: String| {
            AppError::StartFailed(format!(
                "its environment {env_key} is not on this host, and building it here failed: \
                 {why} (see {}; uploading the version again builds it anew)",
                path.display()
            ))
        };
        let mut log = burrow_envs::BuildLog::open(&path).map_err(|e| failed(e.to_string()))?;
        log.line(format!(
            "Environment {env_key} of version {version} is not on this host: building it here."
        ));
        let _turn = self
            .builds_here
            .acquire()
            .await
            .map_err(|e| failed(e.to_string()))?;
        // Another start may have built it while this one waited its turn.
        if let Some(env) = self.envs.get(env_key) {
            return Ok(env);
        }
        tracing::info!(app.id = %app_id, version, env = %env_key, "Building an app's environment on this host");
        let built = tokio::time::timeout(
            self.options.build_timeout,
            self.envs.build(requirements, &mut log),
        )
        .await
        .map_err(|_| {
            failed(format!(
                "it took longer than {} s",
                self.options.build_timeout.as_secs()
            ))
        })?
        .map_err(|e| failed(e.to_string()))?;
        log.line(format!("Built: environment {}.", built.key));
        if built.key != env_key {
            // The index answered otherwise than when the version was built.
            let why = format!(
                "the requirements resolved to other packages here ({}) than where the version was built ({env_key}): the package index changed since; upload the version again to build it anew everywhere",
                built.key
            );
            log.line(&why);
            tracing::warn!(app.id = %app_id, version, "{why}");
        }
        Ok(built)
    }

    /// The app's secrets folder at their latest revision, written if it is not there
    /// yet; `None` for an app whose secrets were never set.
    async fn secrets_mount(&self, app_id: &burrow_core::AppId) -> Result<Option<Mount>, AppError> {
        let (revision, open) =
            secrets::open_all(&self.store, &self.options.keyring, app_id.as_str())
                .await
                .map_err(AppError::StartFailed)?;
        if revision == 0 {
            return Ok(None);
        }
        let text = secrets::render(&open);
        let root = self.options.secrets_dir.clone();
        let id = app_id.clone();
        tokio::task::spawn_blocking(move || secrets::write(&root, &id, revision, &text))
            .await
            .map_err(|e| AppError::StartFailed(format!("writing its secrets failed: {e}")))?
            .map_err(|e| AppError::StartFailed(format!("writing its secrets failed: {e}")))?;
        self.secrets_written.lock().insert(app_id.to_string());
        Ok(Some(Mount {
            volume: Volume::Secrets {
                owner: app_id.to_string(),
                revision,
            },
            destination: secrets::MOUNT_AT.into(),
            writable: false,
        }))
    }
}

/// Starts, watches and stops app sandboxes; cheap to clone.
#[derive(Debug, Clone)]
pub struct Supervisor {
    sessions: burrow_sessions::Supervisor<Apps>,
}

impl Supervisor {
    pub fn new(
        store: Store,
        runtime: Arc<dyn Runtime>,
        envs: Environments,
        blobs: Arc<dyn ObjectStore>,
        options: Options,
    ) -> Self {
        let session_options = burrow_sessions::Options {
            start_timeout: options.start_timeout,
            tick: options.tick,
            lease: options.lease,
            ..burrow_sessions::Options::default()
        };
        let egress = Arc::new(AppEgress {
            store: store.clone(),
            egress: options.egress.clone(),
            max: options.egress_max.clone(),
            recent: parking_lot::Mutex::new(std::collections::HashMap::new()),
        });
        let data = Arc::new(data::DataService::new(
            store.clone(),
            options.data.clone(),
            options.keyring.clone(),
        ));
        let pool = Arc::new(pool::Pool::new(
            Arc::clone(&runtime),
            envs.clone(),
            app_sandbox,
            pool::PoolOptions {
                max: options.warm_pool,
                dir: options.assigned_dir.clone(),
                apps_dir: options.dir.clone(),
                secrets_dir: options.secrets_dir.clone(),
                ports: vec![PROXY_PORT, burrow_data::BRIDGE_PORT],
            },
        ));
        let leases = Arc::clone(&options.leases);
        let builds_here = tokio::sync::Semaphore::new(options.max_builds.max(1));
        let apps = Apps {
            store,
            envs,
            blobs,
            options,
            egress,
            data,
            secrets_written: parking_lot::Mutex::new(std::collections::HashSet::new()),
            pool,
            builds_here,
        };
        Self {
            sessions: burrow_sessions::Supervisor::new(apps, runtime, leases, session_options),
        }
    }

    fn apps(&self) -> &Apps {
        self.sessions.workload()
    }

    pub fn options(&self) -> &Options {
        &self.apps().options
    }

    pub fn runtime(&self) -> &Arc<dyn Runtime> {
        self.sessions.runtime()
    }

    /// Notes viewer activity, which keeps the app from being stopped as idle.
    pub fn touch(&self, app_id: &str) {
        self.sessions.touch(app_id);
    }

    /// The running sandbox of an app, if it has one now; never waits for a start.
    pub fn running(&self, app_id: &str) -> Option<Running> {
        self.sessions.running(app_id)
    }

    /// The replica that runs the app now, when it is another live one.
    pub async fn held_by_other(&self, app_id: &str) -> Result<Option<String>, AppError> {
        Ok(self.sessions.held_by_other(app_id).await?)
    }

    /// [`reach`](Self::reach), for a viewer's request: the app's sandbox, with the
    /// activity noted ([`touch`](Self::touch)) when there is one.
    pub fn visit(&self, app_id: &str) -> Option<Running> {
        self.sessions.visit(app_id)
    }

    /// The app's running sandbox, here or, as its lease last said, on another replica.
    pub fn reach(&self, app_id: &str) -> Option<Running> {
        self.sessions.reach(app_id)
    }

    /// Starts the app unless it runs; returns its sandbox once Streamlit answers its
    /// health check. Concurrent callers wait for the one start.
    pub async fn ensure_running(&self, app_id: &str) -> Result<Running, AppError> {
        Ok(self.sessions.ensure_running(app_id).await?)
    }

    /// A deliberate start (or restart) in a task of its own; returns once `starting` is
    /// recorded under the app's lock, with the task to await for the outcome.
    pub async fn launch(
        &self,
        app_id: &str,
        restart: bool,
    ) -> tokio::task::JoinHandle<burrow_sessions::SessionResult<Running, Apps>> {
        self.sessions.launch(app_id, restart).await
    }

    /// A deliberate start: clears the last error and the restart count first.
    pub async fn start(&self, app_id: &str) -> Result<Running, AppError> {
        Ok(self.sessions.start(app_id).await?)
    }

    /// Stops the app's sandbox, if any, and records it as stopped.
    pub async fn stop(&self, app_id: &str) -> Result<(), AppError> {
        Ok(self.sessions.stop(app_id).await?)
    }

    /// Stops, then starts again.
    pub async fn restart(&self, app_id: &str) -> Result<Running, AppError> {
        Ok(self.sessions.restart(app_id).await?)
    }

    /// Stops the app's sandbox and forgets the app, which is being deleted, with its
    /// unpacked files.
    pub async fn forget(&self, app_id: &str) {
        self.sessions.forget(app_id).await;
        if let Some(id) = burrow_core::AppId::parse(app_id) {
            let dir = self.apps().options.dir.clone();
            let secrets_dir = self.apps().options.secrets_dir.clone();
            let _ = tokio::task::spawn_blocking(move || {
                bundle::remove_all(&dir, &id);
                secrets::remove_except(&secrets_dir, &id, &[]);
            })
            .await;
        }
    }

    /// Deletes versions older than `keep`, except the active ones, with their bundles
    /// and unpacked files; returns how many. A running version stays on disk until
    /// its sandbox stops, since its files are mounted.
    pub async fn prune_versions(&self, keep: Duration) -> Result<usize, AppError> {
        let cutoff = burrow_store::now_ms() - keep.as_millis() as i64;
        let apps = self.apps();
        let pruned = apps.store.prune_versions(cutoff).await?;
        for (app_id, number, blob) in &pruned {
            let _ = apps
                .blobs
                .delete(&burrow_blobs::BlobPath::from(blob.as_str()))
                .await;
            let in_use = self
                .runs_on_this_host(app_id)
                .await
                .is_none_or(|running| running.iter().any(|(v, _)| v == number));
            if !in_use {
                bundle::remove_version(&apps.options.dir, app_id, *number);
            }
            tracing::info!(app.id = %app_id, version = number, "Pruned an old version");
        }
        Ok(pruned.len())
    }

    /// The (version, secrets revision) of every sandbox of the app running on this host,
    /// whichever replica runs it (replicas on one host share its folders); `None` when
    /// the runtime cannot say, so the caller keeps what it would remove.
    async fn runs_on_this_host(&self, app_id: &str) -> Option<Vec<(i64, i64)>> {
        let labels = BTreeMap::from([(APP_LABEL.to_owned(), app_id.to_owned())]);
        let found = self.runtime().list(&labels).await.ok()?;
        let label = |s: &burrow_sandbox::SandboxInfo, name: &str| {
            s.labels.get(name).and_then(|v| v.parse::<i64>().ok())
        };
        Some(
            found
                .iter()
                .filter(|s| s.status == burrow_sandbox::Status::Running)
                .map(|s| {
                    (
                        label(s, VERSION_LABEL).unwrap_or(-1),
                        label(s, burrow_sessions::REVISION_LABEL).unwrap_or(0),
                    )
                })
                .collect(),
        )
    }

    /// A connection to Streamlit in the app's running sandbox, wherever it runs: one
    /// that another replica runs is reached directly when it is on this host (as a pod
    /// is by its address), else through that replica ([`forward`]). One that does not
    /// answer is forgotten, so the next view asks its lease again.
    pub async fn connect(
        &self,
        app_id: &str,
        running: &Running,
    ) -> Result<burrow_sandbox::Connection, AppError> {
        let local = self.runtime().connect(&running.sandbox, APP_PORT).await;
        let Some(holder) = &running.holder else {
            return Ok(local?);
        };
        // Another replica's sandbox: on this host, reached directly; else through it.
        let reached = match local {
            Ok(connection) => Ok(connection),
            Err(_) => forward::dial(&self.apps().store, holder, forward::Target::App(app_id))
                .await
                .map_err(|e| AppError::StartFailed(e.to_string())),
        };
        if reached.is_err() {
            self.sessions.unreachable(app_id, &running.sandbox);
        }
        reached
    }

    /// After a restart of `serve`: re-adopts app sandboxes that still run and marks
    /// the rest stopped; removes sandboxes of apps that are gone. Leaves no orphans.
    pub async fn reconcile(&self) -> Result<(), AppError> {
        self.sessions.reconcile().await?;
        // Every app with a secrets folder is looked at once after a restart.
        let root = self.options().secrets_dir.clone();
        let apps = tokio::task::spawn_blocking(move || {
            std::fs::read_dir(root)
                .into_iter()
                .flatten()
                .flatten()
                .filter_map(|e| e.file_name().into_string().ok())
                .collect::<Vec<_>>()
        })
        .await
        .unwrap_or_default();
        self.apps().secrets_written.lock().extend(apps);
        self.prune_secrets().await;
        Ok(())
    }

    /// One pass of upkeep: stop the idle, restart the crashed, switch versions; then
    /// remove secrets folders no sandbox needs any more.
    pub async fn tick(&self) {
        self.sessions.tick().await;
        self.prune_secrets().await;
    }

    /// For each app whose secrets folders were written lately: removes every revision
    /// but the one its sandbox runs with and the latest, so a changed or deleted value
    /// stays on disk only while a sandbox still mounts it.
    async fn prune_secrets(&self) {
        let apps = self.apps();
        let written: Vec<String> = apps.secrets_written.lock().drain().collect();
        for app_id in written {
            let Some(id) = burrow_core::AppId::parse(&app_id) else {
                continue;
            };
            // The oldest revision a sandbox on this host runs with, whichever replica's.
            let Some(here) = self.runs_on_this_host(&app_id).await else {
                apps.secrets_written.lock().insert(app_id);
                continue;
            };
            let running = here.iter().map(|(_, revision)| *revision).min();
            let keep: Vec<i64> = match apps.store.find_app(&app_id).await {
                // A start in flight may be about to mount any revision: look again later.
                Ok(app) if running.is_none() && app.status == burrow_store::AppStatus::Starting => {
                    apps.secrets_written.lock().insert(app_id);
                    continue;
                }
                // Every revision from the running one to the latest: a sandbox labelled
                // with one may mount a newer one that landed while it was made.
                Ok(app) => {
                    (running.unwrap_or(app.secrets_revision)..=app.secrets_revision).collect()
                }
                Err(StoreError::NotFound) => Vec::new(),
                Err(_) => {
                    // Looked at again next time.
                    apps.secrets_written.lock().insert(app_id);
                    continue;
                }
            };
            if keep.len() > 1 {
                // The sandbox still runs with an older revision: look again later.
                apps.secrets_written.lock().insert(app_id.clone());
            }
            let root = apps.options.secrets_dir.clone();
            let _ = tokio::task::spawn_blocking(move || secrets::remove_except(&root, &id, &keep))
                .await;
        }
    }

    /// How many warm sandboxes are ready now.
    pub fn warm_ready(&self) -> usize {
        self.apps().pool.ready()
    }

    /// Removes the warm sandboxes not yet assigned and starts no more: before the
    /// process ends.
    pub async fn clear_pool(&self) {
        self.apps().pool.clear().await;
    }

    /// Runs [`tick`](Self::tick) forever, every `options.tick`, and keeps the warm
    /// pool filled.
    pub async fn run_upkeep(self) {
        let pool = tokio::spawn(Arc::clone(&self.apps().pool).run());
        let _pool = AbortOnDrop(pool);
        // Leases are renewed on a timer of their own, whatever upkeep is busy with.
        let _leases = AbortOnDrop(tokio::spawn(self.sessions.clone().run_leases()));
        let mut every = tokio::time::interval(self.options().tick);
        loop {
            every.tick().await;
            self.sessions.upkeep_pass().await;
            self.prune_secrets().await;
        }
    }
}
