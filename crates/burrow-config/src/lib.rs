//! Burrow's configuration: defaults, then an optional TOML file, then `BURROW_*` environment variables.
//!
//! Environment variables use `__` for nesting: `BURROW_BLOBS__BUCKET` sets
//! `blobs.bucket`. Secrets are held in [`Secret`], which redacts itself in
//! `Debug`, so a logged `Config` never shows a password.

mod apps_url;
mod secret;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use burrow_egress::{Domain, Mode, Policy};
use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use ipnet::IpNet;
use serde::{Deserialize, Serialize};

pub use apps_url::{AppsUrl, APP_PLACEHOLDER};
pub use secret::Secret;

/// The commented example printed by `burrow default-config`. A test checks
/// that it parses to exactly [`Config::default`].
pub const EXAMPLE: &str = include_str!("example.toml");

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration file {path} does not exist: create it (see `burrow default-config`) or unset BURROW_CONFIG")]
    MissingFile { path: PathBuf },
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

/// The whole configuration of one Burrow instance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    /// Address of the platform: API and web UI.
    pub listen: SocketAddr,
    /// Address where viewers reach apps, each app on an origin of its own.
    pub apps_listen: SocketAddr,
    /// The platform's URL as browsers see it; derived from `listen` when unset.
    pub public_url: Option<url::Url>,
    /// The pattern of app origins as browsers see them, the app's id as the host's first
    /// label (`https://{app}.apps.example.com`); `http://{app}.apps.localhost:PORT`
    /// with `apps_listen`'s port when unset.
    pub apps_url: Option<AppsUrl>,
    /// Where all local state lives.
    pub data_dir: PathBuf,
    /// `sqlite:…` or `postgres://…`; SQLite under `data_dir` when unset.
    pub database_url: Option<Secret>,
    /// Whether anyone may register. When false, only admins create users.
    pub registration_open: bool,
    /// This replica's name among all that share the database, stable across its
    /// restarts (so a restarted replica keeps its sandboxes); the host name and
    /// `listen` when unset.
    pub replica: Option<String>,
    /// Where other replicas reach this one for the app sandboxes it runs, when they run
    /// on other hosts (an address of this host they can reach, such as
    /// `10.0.0.5:8090`); unset, replicas must share a host and its data folder.
    pub internal_listen: Option<SocketAddr>,
    pub blobs: BlobConfig,
    pub auth: AuthConfig,
    pub http: HttpConfig,
    pub log: LogConfig,
    pub sandbox: SandboxConfig,
    pub envs: EnvsConfig,
    pub apps: AppsConfig,
    pub egress: EgressConfig,
    pub data: DataConfig,
    pub jobs: JobsConfig,
    pub workspaces: WorkspacesConfig,
    pub queue: QueueConfig,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            apps_listen: SocketAddr::from(([127, 0, 0, 1], 8081)),
            public_url: None,
            apps_url: None,
            data_dir: PathBuf::from("./burrow-data"),
            database_url: None,
            registration_open: true,
            replica: None,
            internal_listen: None,
            blobs: BlobConfig::default(),
            auth: AuthConfig::default(),
            http: HttpConfig::default(),
            log: LogConfig::default(),
            sandbox: SandboxConfig::default(),
            envs: EnvsConfig::default(),
            apps: AppsConfig::default(),
            egress: EgressConfig::default(),
            data: DataConfig::default(),
            jobs: JobsConfig::default(),
            workspaces: WorkspacesConfig::default(),
            queue: QueueConfig::default(),
        }
    }
}

/// Where blobs (bundles, logs, artefacts) are stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum BlobConfig {
    /// A folder on local disk; `data_dir/blobs` when `path` is unset.
    Local {
        #[serde(default)]
        path: Option<PathBuf>,
    },
    /// An S3-compatible bucket (AWS S3, MinIO, Garage, R2, …).
    S3 {
        bucket: String,
        #[serde(default)]
        region: Option<String>,
        /// For S3-compatible services other than AWS, such as `http://127.0.0.1:9000`.
        #[serde(default)]
        endpoint: Option<String>,
        #[serde(default)]
        access_key_id: Option<Secret>,
        #[serde(default)]
        secret_access_key: Option<Secret>,
        /// Allow a plain-HTTP endpoint.
        #[serde(default)]
        allow_http: bool,
        /// How long one request to the bucket may take before it is abandoned.
        #[serde(default = "default_blob_timeout_secs")]
        timeout_secs: u64,
        /// How long failed requests are retried before the operation fails (a 503 to
        /// whoever uploaded): with `timeout_secs`, a bucket that is down holds a request
        /// for about the sum of the two at most.
        #[serde(default = "default_blob_retry_secs")]
        retry_secs: u64,
    },
    /// Process memory; lost on exit. For tests.
    Memory,
}

fn default_blob_timeout_secs() -> u64 {
    60
}

fn default_blob_retry_secs() -> u64 {
    15
}

impl Default for BlobConfig {
    fn default() -> Self {
        BlobConfig::Local { path: None }
    }
}

/// Sessions and login protection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AuthConfig {
    /// How long a session token lives after login.
    pub session_ttl_hours: u64,
    /// Failed logins allowed per account within the window before 429.
    pub max_failures_per_account: usize,
    /// Failed logins allowed per client address within the window before 429.
    pub max_failures_per_address: usize,
    /// The window for counting failed logins.
    pub failure_window_secs: u64,
    /// Password hashes computed at once; 0 means one per CPU core.
    pub max_concurrent_hashes: usize,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            session_ttl_hours: 24 * 14,
            max_failures_per_account: 5,
            max_failures_per_address: 20,
            failure_window_secs: 15 * 60,
            max_concurrent_hashes: 0,
        }
    }
}

/// Limits of the HTTP server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct HttpConfig {
    /// Largest JSON request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// Seconds to let in-flight requests finish on shutdown.
    pub shutdown_grace_secs: u64,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            max_body_bytes: 1024 * 1024,
            shutdown_grace_secs: 10,
        }
    }
}

/// Where sandboxes run: this host (runc), or pods of a Kubernetes cluster.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SandboxKind {
    #[default]
    Local,
    Kubernetes,
}

/// Sandboxes as pods (`sandbox.kind = "kubernetes"`). Burrow finds the cluster as its
/// clients do: the pod's service account in a cluster, else `KUBECONFIG`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct KubernetesConfig {
    /// The namespace sandbox pods run in.
    pub namespace: String,
    /// Names this installation in its pods' labels, so two in one namespace keep apart.
    pub install: String,
    /// The image sandboxes run: the system and Python environments are built against
    /// (the same as `data_dir`'s builds), with tini.
    pub image: String,
    /// The image of each pod's agent, which serves the host services: one with the
    /// `burrow` binary; Burrow's own image.
    pub agent_image: String,
    /// The ReadWriteMany claim mounted at `data_dir` in Burrow's pods; sandboxes see
    /// their environments, code and workspaces as folders of it.
    pub data_claim: String,
    /// A RuntimeClass for sandbox pods, such as gVisor's; empty for the cluster's default.
    pub runtime_class: String,
    /// The user sandboxes run as; not 0.
    pub uid: i64,
    /// Shared by every replica: a pod's agent takes connections only from those who
    /// know it (at least 16 characters; keep it in a Kubernetes Secret).
    pub agent_secret: Option<Secret>,
    /// How long a pod may take to start, its image pull included.
    pub start_timeout_secs: u64,
}

impl Default for KubernetesConfig {
    fn default() -> Self {
        Self {
            namespace: "burrow-sandboxes".into(),
            install: "burrow".into(),
            image: String::new(),
            agent_image: String::new(),
            data_claim: "burrow-data".into(),
            runtime_class: String::new(),
            uid: 1000,
            agent_secret: None,
            start_timeout_secs: 300,
        }
    }
}

/// The sandbox runtime.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SandboxConfig {
    /// `local` (runc on this host, the default) or `kubernetes`.
    pub kind: SandboxKind,
    /// The Kubernetes runtime's settings.
    pub kubernetes: KubernetesConfig,
    /// The OCI runtime binary: `runc` (default), `crun` or `youki`, by name or path.
    pub runtime: PathBuf,
    /// The init process run as PID 1 in every sandbox; it reaps zombies.
    pub init: PathBuf,
    /// Most bytes of output kept per sandbox.
    pub log_max_bytes: u64,
    /// Output accepted per second per sandbox; the rest is dropped and counted.
    pub log_rate_bytes_per_sec: u64,
    /// How long a replica's claim to serve an app or a workspace lasts without renewal
    /// (its upkeep renews it every 2 s): another replica takes over a dead or cut-off
    /// one's sandboxes this long after its last renewal. At least 6.
    pub lease_secs: u64,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        Self {
            kind: SandboxKind::Local,
            kubernetes: KubernetesConfig::default(),
            runtime: PathBuf::from("runc"),
            init: PathBuf::from("/usr/bin/tini"),
            log_max_bytes: 8 << 20,
            log_rate_bytes_per_sec: 256 << 10,
            lease_secs: 15,
        }
    }
}

/// Python environments, built with uv.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct EnvsConfig {
    /// The uv binary, by name or path. uv's own settings (`UV_INDEX_URL`, `uv.toml`) apply.
    pub uv: PathBuf,
    /// The Python interpreter environments are built on. Sandboxes see the host's `/usr`,
    /// so it must live there.
    pub python: PathBuf,
    /// Builds run at once; the rest wait in the queue.
    pub max_concurrent_builds: usize,
    /// A build still running after this many seconds fails.
    pub build_timeout_secs: u64,
    /// Environments unused for this many days are deleted, unless something still uses them.
    pub unused_days: u64,
    /// Where environments live; `{data_dir}/envs` when unset.
    pub dir: Option<PathBuf>,
    /// uv's download cache, shared by every build; `{envs.dir}/uv-cache` when unset.
    /// Keep it on the same file system as `data_dir`: environments hard-link into it.
    pub cache_dir: Option<PathBuf>,
}

impl Default for EnvsConfig {
    fn default() -> Self {
        Self {
            uv: PathBuf::from("uv"),
            python: PathBuf::from("/usr/bin/python3"),
            max_concurrent_builds: 2,
            build_timeout_secs: 1800,
            unused_days: 14,
            dir: None,
            cache_dir: None,
        }
    }
}

/// Running apps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AppsConfig {
    /// An app that has not answered its health check after this long failed to start.
    pub start_timeout_secs: u64,
    /// Streamlit's upload limit in MB; the viewer proxy's body limit matches it.
    pub max_upload_mb: u64,
    /// Versions older than this many days are deleted, except each app's active one.
    pub keep_versions_days: u64,
    /// An open WebSocket to an app is checked again this often: a viewer removed from
    /// the project, or whose view session ended, is cut off within this many seconds.
    pub recheck_secs: u64,
    /// The most sandboxes kept started ahead for apps of the base environment, each
    /// with Python up and Streamlit, pandas and numpy imported: an app's first view takes
    /// one and answers in a fraction of a second instead of about one. Each serves one
    /// app once and is then thrown away. The pool keeps one ready, and more while apps
    /// start often. Each costs one idle Python's memory (about 150 MB); 0 turns it off.
    pub warm_pool: u32,
}

impl Default for AppsConfig {
    fn default() -> Self {
        Self {
            start_timeout_secs: 60,
            max_upload_mb: 200,
            keep_versions_days: 30,
            recheck_secs: 15,
            warm_pool: 2,
        }
    }
}

/// Project tables and the queries over them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DataConfig {
    /// The largest CSV or Parquet file a table is made from.
    pub max_upload_mb: u64,
    /// Memory one query may use for its joins, sorts and aggregates.
    pub query_memory_mb: u64,
    /// How long one query may run.
    pub query_timeout_secs: u64,
    /// The most rows a result may have; more is an error, never a cut.
    pub max_result_rows: u64,
    /// The most a result may hold in memory.
    pub max_result_mb: u64,
    /// Queries that may run at once in one project.
    pub concurrent_queries: usize,
    /// Queries that may run at once on this instance, all projects together.
    pub concurrent_queries_total: usize,
    /// The key data source passwords are sealed with: 32 bytes as base64
    /// (`openssl rand -base64 32`), the same on every replica. When unset, Burrow makes
    /// one in `{data_dir}/keys/data-sources.key` (mode 0600) the first time it needs one.
    pub sources_key: Option<Secret>,
    /// Whether data sources may be on this host's loopback. Off by default: whatever
    /// listens there (Burrow's own database among it) trusts local connections.
    pub allow_loopback_sources: bool,
}

impl Default for DataConfig {
    fn default() -> Self {
        Self {
            max_upload_mb: 256,
            query_memory_mb: 512,
            query_timeout_secs: 30,
            max_result_rows: 1_000_000,
            max_result_mb: 512,
            concurrent_queries: 4,
            concurrent_queries_total: 8,
            sources_key: None,
            allow_loopback_sources: false,
        }
    }
}

/// The durable queue's timing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct QueueConfig {
    /// How long a claim on a task lasts without renewal: a task whose process died is
    /// taken back (a job ends failed) this long after its last renewal.
    pub lease_secs: u64,
    /// How often the queue looks for work when nothing wakes it.
    pub poll_ms: u64,
}

impl Default for QueueConfig {
    fn default() -> Self {
        Self {
            lease_secs: 30,
            poll_ms: 500,
        }
    }
}

/// Workspaces: how much each may hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct WorkspacesConfig {
    /// The largest file, in MiB.
    pub max_file_mb: u64,
    /// All of a workspace's files together, in MiB.
    pub max_total_mb: u64,
    /// Files in one workspace.
    pub max_files: u64,
    /// Workspaces one person may have in one project.
    pub max_per_person: u64,
    /// A running workspace stops after this long without its person's input (keys,
    /// saves, runs, file changes), in seconds.
    pub idle_timeout_secs: u64,
    /// A running workspace stops this long after it started, however busy, in seconds.
    pub max_lifetime_secs: u64,
    /// Memory of a workspace's sandbox, in MiB; its files' folder counts against it.
    pub memory_mb: u64,
    /// CPUs of a workspace's sandbox, in thousandths.
    pub cpu_millis: u64,
    /// How often files changed in a running workspace's sandbox are kept, in milliseconds.
    pub sync_ms: u64,
    /// The packages a person installs in a workspace, compressed, in MiB: kept when it
    /// stops and put back when it starts, up to this size.
    pub max_packages_mb: u64,
}

impl Default for WorkspacesConfig {
    fn default() -> Self {
        Self {
            max_file_mb: 10,
            max_total_mb: 100,
            max_files: 5000,
            max_per_person: 20,
            idle_timeout_secs: 1800,
            max_lifetime_secs: 7200,
            memory_mb: 512,
            cpu_millis: 1000,
            sync_ms: 2000,
            max_packages_mb: 256,
        }
    }
}

/// Transform jobs: how many run at once and what each may use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct JobsConfig {
    /// Jobs running at once in this process; more wait in the queue.
    pub max_concurrent: usize,
    /// Rows per chunk handed to `transform`.
    pub chunk_rows: usize,
    /// How long one job may run, from its start.
    pub timeout_secs: u64,
    /// Memory of a job's sandbox, its Python and the chunk it holds.
    pub memory_mb: u64,
    /// The most rows a job may write; more fails the job, never a cut.
    pub max_output_rows: u64,
    /// The most a job's results may hold in memory, as Arrow counts them.
    pub max_output_mb: u64,
    /// The most of a job's printed output kept in its log.
    pub max_log_kb: usize,
    /// The modules a job script may import.
    pub script_imports: Vec<String>,
    /// Runs a job gets when its process dies mid-run (a crash, a `kill -9`): 1 ends it
    /// failed; more runs it again from the start, after its claim's lease passes. A
    /// script that fails by itself is never run again.
    pub max_attempts: i64,
    /// How often this instance looks for schedules whose tick is due, in seconds.
    pub schedule_check_secs: u64,
    /// Keeps one job sandbox started ahead, its Python with pandas loaded, once a job or a
    /// trial has run: the next one starts at once instead of half a second later. Each
    /// sandbox serves one run. Costs one idle Python's memory (about 100 MB).
    pub keep_warm: bool,
}

impl Default for JobsConfig {
    fn default() -> Self {
        Self {
            max_concurrent: 4,
            chunk_rows: 50_000,
            timeout_secs: 60,
            memory_mb: 512,
            max_output_rows: 1_000_000,
            max_output_mb: 1024,
            max_log_kb: 1024,
            script_imports: ["pandas", "numpy", "datetime", "math"]
                .map(String::from)
                .to_vec(),
            max_attempts: 1,
            schedule_check_secs: 10,
            keep_warm: true,
        }
    }
}

/// What sandboxes may reach through the egress proxy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct EgressConfig {
    /// The policy a new app starts with: `none`, `allowlist` or `public`.
    pub default_policy: Mode,
    /// The domains of the default policy, when it is `allowlist`.
    pub default_domains: Vec<Domain>,
    /// The most an app may have; editors choose up to it.
    pub max_policy: Mode,
    /// When `max_policy` is `allowlist`: the domains allowlists may name (exact, or
    /// under a `*.` wildcard here).
    pub max_domains: Vec<Domain>,
    /// DNS servers the proxy asks (`["192.0.2.53:53"]`); `/etc/resolv.conf`'s when empty.
    pub name_servers: Vec<SocketAddr>,
    /// Ports HTTPS (`CONNECT`) may reach.
    pub connect_ports: Vec<u16>,
    /// Ports plain HTTP may reach.
    pub http_ports: Vec<u16>,
    /// Private ranges sandboxes may reach anyway, such as an internal API's
    /// (`["10.1.0.0/16"]`). Loopback, link-local and this host's addresses never open.
    pub allow_ranges: Vec<IpNet>,
    /// Connections one sandbox may have open at once.
    pub max_tunnels: usize,
    /// Requests one sandbox may make per second (a second's worth may come at once).
    pub requests_per_sec: u32,
    /// Bytes per second one sandbox may move, both ways together; 0 for no cap.
    pub bytes_per_sec: u64,
    /// A connection without traffic for this long is closed.
    pub idle_secs: u64,
    /// A connection open this long is closed, however busy.
    pub max_tunnel_secs: u64,
}

impl Default for EgressConfig {
    /// The proxy's own defaults, with the policies: `none` for new apps, `public` at most.
    fn default() -> Self {
        let proxy = burrow_egress::Options::default();
        Self {
            default_policy: Mode::None,
            default_domains: Vec::new(),
            max_policy: Mode::Public,
            max_domains: Vec::new(),
            name_servers: proxy.name_servers,
            connect_ports: proxy.connect_ports,
            http_ports: proxy.http_ports,
            allow_ranges: proxy.allow_ranges,
            max_tunnels: proxy.max_tunnels,
            requests_per_sec: proxy.requests_per_sec,
            bytes_per_sec: proxy.bytes_per_sec,
            idle_secs: proxy.idle.as_secs(),
            max_tunnel_secs: proxy.max_duration.as_secs(),
        }
    }
}

impl EgressConfig {
    /// The policy new apps start with.
    pub fn default_policy(&self) -> Policy {
        policy(self.default_policy, &self.default_domains)
    }

    /// The most an app may have.
    pub fn max_policy(&self) -> Policy {
        policy(self.max_policy, &self.max_domains)
    }

    /// The proxy's knobs.
    pub fn proxy_options(&self) -> burrow_egress::Options {
        burrow_egress::Options {
            name_servers: self.name_servers.clone(),
            connect_ports: self.connect_ports.clone(),
            http_ports: self.http_ports.clone(),
            allow_ranges: self.allow_ranges.clone(),
            max_tunnels: self.max_tunnels,
            requests_per_sec: self.requests_per_sec,
            bytes_per_sec: self.bytes_per_sec,
            idle: std::time::Duration::from_secs(self.idle_secs),
            max_duration: std::time::Duration::from_secs(self.max_tunnel_secs),
            ..burrow_egress::Options::default()
        }
    }

    fn validate(&self) -> Result<(), String> {
        for (name, mode, domains) in [
            ("default", self.default_policy, &self.default_domains),
            ("max", self.max_policy, &self.max_domains),
        ] {
            let names: Vec<String> = domains.iter().map(ToString::to_string).collect();
            Policy::new(mode, &names).map_err(|e| format!("egress.{name}_policy: {e}"))?;
        }
        self.default_policy()
            .check_within(&self.max_policy())
            .map_err(|e| format!("egress.default_policy: {e}"))?;
        const WEEK: u64 = 7 * 24 * 3600;
        if !(1..=100_000).contains(&self.max_tunnels)
            || !(1..=1_000_000).contains(&self.requests_per_sec)
        {
            return Err(
                "egress.max_tunnels must be between 1 and 100000, and egress.requests_per_sec between 1 and 1000000"
                    .into(),
            );
        }
        if !(1..=WEEK).contains(&self.idle_secs) || !(1..=WEEK).contains(&self.max_tunnel_secs) {
            return Err(
                "egress.idle_secs and egress.max_tunnel_secs must be between 1 and 604800 (a week)"
                    .into(),
            );
        }
        if self.connect_ports.contains(&0) || self.http_ports.contains(&0) {
            return Err("egress ports must be between 1 and 65535".into());
        }
        Ok(())
    }
}

fn policy(mode: Mode, domains: &[Domain]) -> Policy {
    Policy {
        mode,
        domains: if mode == Mode::Allowlist {
            domains.to_vec()
        } else {
            Vec::new()
        },
    }
}

/// Logging.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LogConfig {
    /// A `tracing` filter, such as `info` or `burrow_api=debug,info`. `RUST_LOG` wins when set.
    pub filter: String,
    /// `pretty` for people, `json` for log collectors.
    pub format: LogFormat,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            filter: "info".into(),
            format: LogFormat::Pretty,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Pretty,
    Json,
}

impl Config {
    /// Loads defaults, then `file` (if given), then `BURROW_*` variables from the process environment.
    ///
    /// Every path setting comes back absolute, resolved against the working
    /// directory, so nothing below this layer ever sees a relative path (the
    /// sandbox layer refuses relative mount sources, and a later change of
    /// directory cannot move the data).
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let cwd = std::env::current_dir().map_err(|e| {
            ConfigError::Invalid(format!(
                "cannot read the working directory to resolve relative paths against: {e}"
            ))
        })?;
        let file = file.map(|f| cwd.join(f));
        let mut config =
            Self::from_figment(Self::figment(file.as_deref(), Env::prefixed("BURROW_")))?;
        config.resolve_paths(&cwd);
        Ok(config)
    }

    /// Makes every path setting absolute against `cwd`, and lexically clean
    /// (`.` segments dropped). Program settings given by bare name (`runc`,
    /// `uv`) stay names, looked up on `PATH`; with a slash, they are paths.
    pub fn resolve_paths(&mut self, cwd: &Path) {
        let absolute = |p: &Path| -> PathBuf {
            let joined = if p.is_absolute() {
                p.to_path_buf()
            } else {
                cwd.join(p)
            };
            joined
                .components()
                .filter(|c| *c != std::path::Component::CurDir)
                .collect()
        };
        let program = |p: &Path| -> PathBuf {
            if p.components().count() > 1 {
                absolute(p)
            } else {
                p.to_path_buf()
            }
        };
        self.data_dir = absolute(&self.data_dir);
        if let BlobConfig::Local { path: Some(path) } = &mut self.blobs {
            *path = absolute(path);
        }
        for dir in [&mut self.envs.dir, &mut self.envs.cache_dir]
            .into_iter()
            .flatten()
        {
            *dir = absolute(dir);
        }
        self.envs.uv = program(&self.envs.uv);
        self.sandbox.runtime = program(&self.sandbox.runtime);
        self.sandbox.init = absolute(&self.sandbox.init);
        if let Some(url) = &self.database_url {
            if let Some(resolved) = absolute_sqlite_url(url.expose(), absolute) {
                self.database_url = Some(Secret::new(resolved));
            }
        }
    }

    fn figment(file: Option<&Path>, env: Env) -> Figment {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(path) = file {
            figment = figment.merge(Toml::file_exact(path));
        }
        // BURROW_CONFIG names the file itself and is not a setting.
        figment.merge(env.ignore(&["config"]).split("__"))
    }

    fn from_figment(figment: Figment) -> Result<Self, ConfigError> {
        if let Some(path) = figment.metadata().find_map(|m| match &m.source {
            Some(figment::Source::File(p)) if !p.exists() => Some(p.clone()),
            _ => None,
        }) {
            return Err(ConfigError::MissingFile { path });
        }
        let config: Config = figment
            .extract()
            .map_err(|e| ConfigError::Invalid(e.to_string()))?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        self.egress.validate().map_err(ConfigError::Invalid)?;
        if self.sandbox.kind == SandboxKind::Kubernetes {
            let k = &self.sandbox.kubernetes;
            let missing = |what: &str, env: &str| {
                Err(ConfigError::Invalid(format!(
                    "sandbox.kind is kubernetes but sandbox.kubernetes.{what} is not set: set it ({env})"
                )))
            };
            if k.image.trim().is_empty() {
                return missing("image", "BURROW_SANDBOX__KUBERNETES__IMAGE");
            }
            if k.agent_image.trim().is_empty() {
                return missing("agent_image", "BURROW_SANDBOX__KUBERNETES__AGENT_IMAGE");
            }
            if k.namespace.trim().is_empty() {
                return missing("namespace", "BURROW_SANDBOX__KUBERNETES__NAMESPACE");
            }
            if k.agent_secret
                .as_ref()
                .is_none_or(|s| s.expose().len() < 16)
            {
                return Err(ConfigError::Invalid(
                    "sandbox.kubernetes.agent_secret must be at least 16 characters, the same on every replica: set BURROW_SANDBOX__KUBERNETES__AGENT_SECRET from a Kubernetes Secret".into(),
                ));
            }
            if k.uid <= 0 {
                return Err(ConfigError::Invalid(format!(
                    "sandbox.kubernetes.uid is {}: sandboxes must not run as root; use 1000",
                    k.uid
                )));
            }
            if !self.data_dir.is_absolute() {
                return Err(ConfigError::Invalid(format!(
                    "data_dir is {}: with Kubernetes sandboxes it is where the claim {} is mounted, an absolute path such as /var/lib/burrow",
                    self.data_dir.display(),
                    k.data_claim
                )));
            }
        }
        if let Some(url) = &self.database_url {
            let scheme = url.expose().split(':').next().unwrap_or_default();
            if !matches!(scheme, "sqlite" | "postgres" | "postgresql") {
                return Err(ConfigError::Invalid(format!(
                    "database_url has scheme {scheme:?}: use sqlite:PATH or postgres://USER:PASSWORD@HOST/DB"
                )));
            }
        }
        if let BlobConfig::S3 { bucket, .. } = &self.blobs {
            if bucket.trim().is_empty() {
                return Err(ConfigError::Invalid(
                    "blobs.bucket is empty: name the S3 bucket (BURROW_BLOBS__BUCKET)".into(),
                ));
            }
        }
        if self.auth.session_ttl_hours == 0 {
            return Err(ConfigError::Invalid(
                "auth.session_ttl_hours is 0: sessions would expire at once; use at least 1".into(),
            ));
        }
        if self.envs.max_concurrent_builds == 0 {
            return Err(ConfigError::Invalid(
                "envs.max_concurrent_builds is 0: no build would ever run; use at least 1".into(),
            ));
        }
        if self.envs.unused_days == 0 || self.envs.build_timeout_secs == 0 {
            return Err(ConfigError::Invalid(
                "envs.unused_days and envs.build_timeout_secs must be at least 1".into(),
            ));
        }
        let climbs = self
            .envs
            .python
            .components()
            .any(|c| c == std::path::Component::ParentDir);
        if !self.envs.python.is_absolute() || !self.envs.python.starts_with("/usr") || climbs {
            return Err(ConfigError::Invalid(format!(
                "envs.python is {}: sandboxes only see the host's /usr, so use an interpreter under it, such as /usr/bin/python3",
                self.envs.python.display()
            )));
        }
        Ok(())
    }

    /// The database URL in force: the configured one, or SQLite under `data_dir`.
    pub fn database_url(&self) -> Secret {
        self.database_url.clone().unwrap_or_else(|| {
            Secret::new(format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join("burrow.db").display()
            ))
        })
    }

    /// This replica's name: `replica`, or the host name and `listen`.
    pub fn replica_name(&self) -> String {
        match &self.replica {
            Some(name) if !name.trim().is_empty() => name.trim().to_owned(),
            _ => {
                let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
                    .map(|h| h.trim().to_owned())
                    .unwrap_or_default();
                let host = if host.is_empty() {
                    "burrow".into()
                } else {
                    host
                };
                format!("{host}/{}", self.listen)
            }
        }
    }

    /// The platform's public URL: the configured one, or `http://{listen}`.
    pub fn public_url(&self) -> url::Url {
        self.public_url
            .clone()
            .unwrap_or_else(|| url_for(self.listen))
    }

    /// The pattern of app origins: the configured one, or `http://{app}.apps.localhost:PORT`.
    pub fn apps_url(&self) -> AppsUrl {
        self.apps_url
            .clone()
            .unwrap_or_else(|| AppsUrl::localhost(self.apps_listen))
    }

    /// Where the local sandbox runtime keeps bundles, logs and state.
    pub fn sandbox_dir(&self) -> PathBuf {
        self.data_dir.join("sandboxes")
    }

    /// The key file data source passwords are sealed with, when `data.sources_key` is unset.
    pub fn sources_key_file(&self) -> PathBuf {
        self.data_dir.join("keys").join("data-sources.key")
    }

    /// Where apps' versions are unpacked, `{data_dir}/apps/<app>/v<n>`.
    pub fn apps_dir(&self) -> PathBuf {
        self.data_dir.join("apps")
    }

    /// Where app sandboxes' `secrets.toml` files are written, `{data_dir}/secrets/<app>/r<n>`.
    pub fn secrets_dir(&self) -> PathBuf {
        self.data_dir.join("secrets")
    }

    /// The folders warm app sandboxes mount empty and are handed their app's code and
    /// secrets in, `{data_dir}/assigned/<id>`.
    pub fn assigned_dir(&self) -> PathBuf {
        self.data_dir.join("assigned")
    }

    /// Where workspaces keep their files, `{data_dir}/workspaces/<id>`.
    pub fn workspaces_dir(&self) -> PathBuf {
        self.data_dir.join("workspaces")
    }

    /// Where Python environments, their build logs and uv's cache live.
    pub fn envs_dir(&self) -> PathBuf {
        self.envs
            .dir
            .clone()
            .unwrap_or_else(|| self.data_dir.join("envs"))
    }

    /// The folder for local blobs, if blobs are local.
    pub fn local_blob_dir(&self) -> Option<PathBuf> {
        match &self.blobs {
            BlobConfig::Local { path } => {
                Some(path.clone().unwrap_or_else(|| self.data_dir.join("blobs")))
            }
            _ => None,
        }
    }
}

/// `sqlite:` URLs with a relative file path, made absolute; `None` for
/// anything else (PostgreSQL, in-memory SQLite, absolute paths).
fn absolute_sqlite_url(url: &str, absolute: impl Fn(&Path) -> PathBuf) -> Option<String> {
    let rest = url.strip_prefix("sqlite:")?;
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let (path, query) = match rest.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (rest, None),
    };
    if path.is_empty() || path.starts_with('/') || path.starts_with(":memory:") {
        return None;
    }
    let path = absolute(Path::new(path));
    Some(match query {
        Some(query) => format!("sqlite://{}?{query}", path.display()),
        None => format!("sqlite://{}", path.display()),
    })
}

fn url_for(addr: SocketAddr) -> url::Url {
    url::Url::parse(&format!("http://{addr}/")).expect("a socket address makes a valid URL")
}

#[cfg(test)]
// figment's Jail returns its large error type by design.
#[allow(clippy::result_large_err)]
mod tests {
    use super::*;

    #[test]
    fn the_example_file_is_the_defaults() {
        let parsed: Config = Figment::from(Toml::string(EXAMPLE)).extract().unwrap();
        assert_eq!(parsed, Config::default());
    }

    #[test]
    fn layers_apply_in_order_file_then_environment() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("burrow.toml", "listen = \"0.0.0.0:9000\"\nregistration_open = false\n[auth]\nsession_ttl_hours = 5\n")?;
            jail.set_env("BURROW_LISTEN", "127.0.0.1:9999");
            jail.set_env("BURROW_AUTH__MAX_FAILURES_PER_ACCOUNT", "7");
            jail.set_env("BURROW_CONFIG", "burrow.toml");
            jail.set_env("BURROW_BLOBS__KIND", "s3");
            jail.set_env("BURROW_BLOBS__BUCKET", "burrow");
            jail.set_env("BURROW_BLOBS__SECRET_ACCESS_KEY", "hunter2");
            let config = Config::load(Some(Path::new("burrow.toml"))).unwrap();
            assert_eq!(config.listen, "127.0.0.1:9999".parse().unwrap());
            assert!(!config.registration_open);
            assert_eq!(config.auth.session_ttl_hours, 5);
            assert_eq!(config.auth.max_failures_per_account, 7);
            assert!(matches!(&config.blobs, BlobConfig::S3 { bucket, .. } if bucket == "burrow"));
            assert!(
                !format!("{config:?}").contains("hunter2"),
                "secrets are redacted in Debug"
            );
            Ok(())
        });
    }

    #[test]
    fn relative_paths_resolve_against_the_working_directory() {
        figment::Jail::expect_with(|jail| {
            let cwd = std::env::current_dir().unwrap();
            jail.create_file("burrow.toml", "[envs]\ndir = \"./shared/envs\"\n")?;
            jail.set_env("BURROW_ENVS__CACHE_DIR", "cache");
            jail.set_env("BURROW_SANDBOX__RUNTIME", "bin/runc");
            jail.set_env("BURROW_DATABASE_URL", "sqlite:db/burrow.db?mode=rwc");
            let config = Config::load(Some(Path::new("burrow.toml"))).unwrap();
            assert_eq!(config.data_dir, cwd.join("burrow-data"));
            assert_eq!(config.envs_dir(), cwd.join("shared/envs"));
            assert_eq!(config.envs.cache_dir, Some(cwd.join("cache")));
            assert_eq!(config.local_blob_dir(), Some(cwd.join("burrow-data/blobs")));
            assert_eq!(config.sandbox_dir(), cwd.join("burrow-data/sandboxes"));
            assert_eq!(config.sandbox.runtime, cwd.join("bin/runc"));
            assert_eq!(
                config.envs.uv,
                PathBuf::from("uv"),
                "bare names stay names, for PATH"
            );
            assert_eq!(
                config.database_url().expose(),
                format!("sqlite://{}?mode=rwc", cwd.join("db/burrow.db").display())
            );
            jail.set_env("BURROW_DATABASE_URL", "sqlite::memory:");
            jail.set_env("BURROW_BLOBS__KIND", "local");
            jail.set_env("BURROW_BLOBS__PATH", "../blobs");
            let config = Config::load(None).unwrap();
            assert_eq!(config.database_url().expose(), "sqlite::memory:");
            assert_eq!(config.local_blob_dir(), Some(cwd.join("../blobs")));
            Ok(())
        });
    }

    #[test]
    fn defaults_put_everything_under_the_data_dir() {
        let config = Config::default();
        assert_eq!(
            config.database_url().expose(),
            "sqlite://./burrow-data/burrow.db?mode=rwc"
        );
        assert_eq!(
            config.local_blob_dir().unwrap(),
            PathBuf::from("./burrow-data/blobs")
        );
        assert_eq!(config.public_url().as_str(), "http://127.0.0.1:8080/");
        assert_eq!(
            config.apps_url().origin("abc").as_str(),
            "http://abc.apps.localhost:8081/"
        );
    }

    #[test]
    fn egress_settings_are_read_and_checked() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("BURROW_EGRESS__NAME_SERVERS", "[\"192.0.2.53:53\"]");
            jail.set_env("BURROW_EGRESS__ALLOW_RANGES", "[\"10.1.0.0/16\"]");
            jail.set_env("BURROW_EGRESS__MAX_POLICY", "allowlist");
            jail.set_env("BURROW_EGRESS__MAX_DOMAINS", "[\"*.Example.org\"]");
            let config = Config::load(None).unwrap();
            let options = config.egress.proxy_options();
            assert_eq!(options.name_servers, ["192.0.2.53:53".parse().unwrap()]);
            assert_eq!(options.allow_ranges, ["10.1.0.0/16".parse().unwrap()]);
            assert_eq!(
                config.egress.max_policy().to_string(),
                "allowlist (*.example.org)"
            );
            assert_eq!(config.egress.default_policy(), Policy::NONE);
            // A default beyond the maximum, an allowlist without domains, a bad entry.
            jail.set_env("BURROW_EGRESS__DEFAULT_POLICY", "public");
            let err = Config::load(None).unwrap_err().to_string();
            assert!(
                err.contains("egress.default_policy") && err.contains("at most the allowlist"),
                "{err}"
            );
            jail.set_env("BURROW_EGRESS__DEFAULT_POLICY", "none");
            jail.set_env("BURROW_EGRESS__MAX_DOMAINS", "[]");
            let err = Config::load(None).unwrap_err().to_string();
            assert!(
                err.contains("egress.max_policy") && err.contains("at least one domain"),
                "{err}"
            );
            jail.set_env("BURROW_EGRESS__MAX_DOMAINS", "[\"127.0.0.1\"]");
            let err = Config::load(None).unwrap_err().to_string();
            assert!(err.contains("is an address"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn bad_values_say_what_is_wrong() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("BURROW_DATABASE_URL", "mysql://x");
            let err = Config::load(None).unwrap_err().to_string();
            assert!(
                err.contains("mysql") && err.contains("postgres://"),
                "{err}"
            );
            jail.set_env("BURROW_DATABASE_URL", "sqlite::memory:");
            jail.set_env("BURROW_BLOBS__KIND", "s3");
            jail.set_env("BURROW_BLOBS__BUCKET", " ");
            let err = Config::load(None).unwrap_err().to_string();
            assert!(err.contains("BURROW_BLOBS__BUCKET"), "{err}");
            jail.set_env("BURROW_BLOBS__KIND", "local");
            jail.set_env("BURROW_ENVS__PYTHON", "/usr/../opt/python3");
            let err = Config::load(None).unwrap_err().to_string();
            assert!(err.contains("envs.python") && err.contains("/usr"), "{err}");
            jail.set_env("BURROW_ENVS__PYTHON", "/usr/bin/python3");
            jail.set_env("BURROW_ENVS__UNUSED_DAYS", "0");
            let err = Config::load(None).unwrap_err().to_string();
            assert!(err.contains("envs.unused_days"), "{err}");
            jail.set_env("BURROW_ENVS__UNUSED_DAYS", "14");
            jail.set_env("BURROW_LISTEN", "not an address");
            let err = Config::load(None).unwrap_err().to_string();
            assert!(
                err.contains("LISTEN") && err.contains("socket address"),
                "{err}"
            );
            Ok(())
        });
        let err = Config::load(Some(Path::new("/nonexistent/burrow.toml")))
            .unwrap_err()
            .to_string();
        assert!(err.contains("/nonexistent/burrow.toml"), "{err}");
    }
}
