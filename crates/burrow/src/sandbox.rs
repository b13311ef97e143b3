//! `burrow sandbox`: run, list, collect and diagnose sandboxes from the command line.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use burrow_config::Config;
use burrow_sandbox::spec::{format_size, parse_duration, parse_size};
use burrow_sandbox::{
    Cursor, ExecSpec, ExitReason, ExitStatus, LocalOptions, LocalRuntime, LogPolicy, Mount,
    Runtime, SandboxSpec, Status, Stream, Volume,
};
use clap::{Args, Subcommand};

#[derive(Debug, Subcommand)]
pub enum SandboxCommand {
    /// Run a command in a new sandbox, stream its output and exit with its exit code.
    Run(RunArgs),
    /// List sandboxes.
    Ps,
    /// Remove ended sandboxes, and reap running ones whose lease ended (their `sandbox run` died).
    Gc,
    /// Stop sandboxes for good and remove them: those named, or with --all every one
    /// under this data directory (app sandboxes included, which otherwise outlive
    /// `serve` by design).
    Stop {
        /// Every sandbox, running or ended, and containers left without a record.
        #[arg(long, conflicts_with = "ids")]
        all: bool,
        /// How long each sandbox's processes get to exit after SIGTERM (ms, s, m).
        #[arg(long, default_value = "5s", value_parser = parse_duration)]
        grace: Duration,
        /// Sandbox ids, as `burrow sandbox ps` lists them.
        ids: Vec<String>,
    },
    /// Run a further command in a running sandbox (an app's, say), print its output and
    /// exit with its exit code: what its own processes see, for looking into a sandbox.
    Exec {
        /// The sandbox's id, as `burrow sandbox ps` lists it.
        id: String,
        /// The command and its arguments.
        #[arg(last = true, required = true)]
        command: Vec<String>,
    },
    /// Check that this host can run sandboxes, and say how to fix what is missing.
    Doctor,
    /// The agent in a Kubernetes sandbox pod, which serves the host services on the pod's
    /// loopback over connections Burrow dials; the pod starts it, with its token in
    /// BURROW_AGENT_TOKEN.
    #[command(hide = true)]
    Agent {
        /// Where Burrow dials it.
        #[arg(long)]
        listen: std::net::SocketAddr,
        /// The host services' ports on the pod's loopback.
        #[arg(long, value_delimiter = ',')]
        ports: Vec<u16>,
        /// The folder where the agent mounts the pod's shared folders (`m<n>` for each),
        /// which it serves to Burrow.
        #[arg(long)]
        shared: Option<PathBuf>,
    },
    /// The per-sandbox supervisor; started by Burrow itself.
    #[command(hide = true)]
    Shim {
        #[arg(long)]
        detached: bool,
        dir: PathBuf,
    },
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Memory limit, including tmpfs contents (k, M, G).
    #[arg(long, default_value = "512M", value_parser = parse_size)]
    memory: u64,
    /// CPU limit in cores.
    #[arg(long, default_value_t = 1.0)]
    cpus: f64,
    /// Maximum processes and threads.
    #[arg(long, default_value_t = 128)]
    pids: u64,
    /// Wall-clock limit (ms, s, m, h).
    #[arg(long, value_parser = parse_duration)]
    timeout: Option<Duration>,
    /// Size of each writable scratch space: /tmp and the home directory.
    #[arg(long, default_value = "64M", value_parser = parse_size)]
    disk: u64,
    /// Maximum open files per process.
    #[arg(long, default_value_t = 1024)]
    open_files: u64,
    /// Bind a host directory: SRC:DST[:ro|rw] (read-only by default). A debugging aid of
    /// this host's runtime: specs elsewhere name their volumes and never carry host paths.
    #[arg(long = "mount", value_parser = parse_mount)]
    mounts: Vec<Mount>,
    /// Set an environment variable: K=V.
    #[arg(long = "env", value_parser = parse_pair)]
    env: Vec<(String, String)>,
    /// Label the sandbox: K=V.
    #[arg(long = "label", value_parser = parse_pair)]
    labels: Vec<(String, String)>,
    /// Working directory inside the sandbox.
    #[arg(long)]
    workdir: Option<String>,
    /// Attach the command to a pseudo-terminal.
    #[arg(long)]
    tty: bool,
    /// Let the sandbox out through Burrow's egress proxy, under a policy: `none`,
    /// `public`, or `allow:example.com,*.example.org`. Each refusal is printed on
    /// stderr. Without it the sandbox has loopback only.
    #[arg(long, value_name = "POLICY", value_parser = burrow_egress::Policy::parse_flag)]
    egress: Option<burrow_egress::Policy>,
    /// Serve Burrow's package index in the sandbox (`PIP_INDEX_URL`, `UV_INDEX_URL`): the
    /// upstream index Burrow's uv uses, filtered to the package allowlist and its caps.
    #[arg(long)]
    packages: bool,
    /// Give the sandbox project PROJECT's tables: the data bridge on 127.0.0.1:3150, and
    /// the base environment with Burrow's module (`import burrow; burrow.sql(…)`), its
    /// `python` first on `PATH`. The base must be built (`burrow runtime build`).
    #[arg(long, value_name = "PROJECT")]
    data: Option<String>,
    /// The command and its arguments.
    #[arg(last = true, required = true)]
    command: Vec<String>,
}

fn parse_pair(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .ok_or_else(|| format!("{s:?} is not K=V"))
}

fn parse_mount(s: &str) -> Result<Mount, String> {
    let parts: Vec<&str> = s.split(':').collect();
    let (src, dst, writable) = match parts.as_slice() {
        [src, dst] => (*src, *dst, false),
        [src, dst, "ro"] => (*src, *dst, false),
        [src, dst, "rw"] => (*src, *dst, true),
        _ => return Err(format!("{s:?} is not SRC:DST[:ro|rw]")),
    };
    let path = std::fs::canonicalize(src).map_err(|e| format!("mount source {src}: {e}"))?;
    Ok(Mount {
        volume: Volume::HostPath { path },
        destination: dst.to_owned(),
        writable,
    })
}

pub async fn runtime(config: &Config) -> anyhow::Result<std::sync::Arc<dyn Runtime>> {
    let volumes = std::sync::Arc::new(crate::volumes::DataDirVolumes::new(config));
    if config.sandbox.kind == burrow_config::SandboxKind::Kubernetes {
        let k = &config.sandbox.kubernetes;
        let options = burrow_kube::KubeOptions {
            namespace: k.namespace.clone(),
            pod: burrow_kube::PodOptions {
                install: k.install.clone(),
                image: k.image.clone(),
                agent_image: k.agent_image.clone(),
                data_claim: k.data_claim.clone(),
                data_mount: config.data_dir.clone(),
                volumes,
                runtime_class: Some(k.runtime_class.clone()).filter(|c| !c.is_empty()),
                uid: k.uid,
                agent_port: burrow_kube::pod::AGENT_PORT,
            },
            agent_secret: k
                .agent_secret
                .as_ref()
                .map(|s| s.expose().to_owned())
                .unwrap_or_default(),
            start_timeout: Duration::from_secs(k.start_timeout_secs.max(1)),
            poll: Duration::from_millis(500),
        };
        let runtime = burrow_kube::KubeRuntime::from_environment(options)
            .await
            .context("Failed to reach the Kubernetes API for sandbox pods")?;
        return Ok(std::sync::Arc::new(runtime));
    }
    Ok(std::sync::Arc::new(local_runtime(config, volumes)?))
}

/// The runtime of sandboxes on this host.
fn local_runtime(
    config: &Config,
    volumes: std::sync::Arc<crate::volumes::DataDirVolumes>,
) -> anyhow::Result<LocalRuntime> {
    let exe = std::env::current_exe()
        .context("Failed to find the burrow executable for the sandbox shim")?;
    let runtime = LocalRuntime::new(LocalOptions {
        state_dir: config.sandbox_dir(),
        runtime_bin: config.sandbox.runtime.clone(),
        shim_exe: exe,
        init: config.sandbox.init.clone(),
        log_policy: LogPolicy {
            max_bytes: config.sandbox.log_max_bytes,
            rate_bytes_per_sec: config.sandbox.log_rate_bytes_per_sec,
            ..LogPolicy::default()
        },
        volumes,
    })?;
    Ok(runtime)
}

pub async fn run(config: &Config, command: SandboxCommand) -> anyhow::Result<i32> {
    match command {
        SandboxCommand::Shim { .. } | SandboxCommand::Agent { .. } => {
            unreachable!("main runs the shim and the agent before anything else")
        }
        SandboxCommand::Doctor => Ok(doctor(config)),
        SandboxCommand::Ps => {
            let runtime = runtime(config).await?;
            println!("{:<16} {:<24} {:<26} COMMAND", "ID", "STATUS", "LABELS");
            for s in runtime.list(&BTreeMap::new()).await? {
                let status = match &s.status {
                    Status::Running => "running".to_owned(),
                    Status::Lost => "lost".to_owned(),
                    Status::Exited(e) => {
                        format!("exited ({:?}, {})", e.reason, e.shell_code()).to_lowercase()
                    }
                };
                let labels: Vec<String> =
                    s.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
                println!(
                    "{:<16} {:<24} {:<26} {}",
                    s.id,
                    status,
                    labels.join(","),
                    s.command.join(" ")
                );
            }
            Ok(0)
        }
        SandboxCommand::Gc => {
            let report = runtime(config).await?.gc().await?;
            println!(
                "Removed {} ended sandboxes, reaped {} unowned ones, deleted {} orphaned containers.",
                report.removed.len(),
                report.reaped.len(),
                report.orphans.len()
            );
            for failed in &report.failed {
                eprintln!("burrow: could not remove {failed}");
            }
            Ok(if report.failed.is_empty() { 0 } else { 1 })
        }
        SandboxCommand::Stop { all, grace, ids } => {
            if !all && ids.is_empty() {
                anyhow::bail!(
                    "name the sandboxes to stop (see `burrow sandbox ps`), or pass --all"
                );
            }
            let runtime = runtime(config).await?;
            let known: Vec<String> = runtime
                .list(&BTreeMap::new())
                .await?
                .into_iter()
                .map(|s| s.id)
                .collect();
            if let Some(unknown) = ids.iter().find(|id| !known.contains(id)) {
                anyhow::bail!("there is no sandbox {unknown}: `burrow sandbox ps` lists them");
            }
            let stopped = stop_sandboxes(&*runtime, grace, |s| all || ids.contains(&s.id)).await?;
            let orphans = if all {
                if config.sandbox.kind == burrow_config::SandboxKind::Local {
                    let volumes = std::sync::Arc::new(crate::volumes::DataDirVolumes::new(config));
                    local_runtime(config, volumes)?.remove_cut_short().await?;
                }
                runtime.gc().await?.orphans.len()
            } else {
                0
            };
            println!(
                "Stopped and removed {} sandboxes{}.",
                stopped,
                if orphans > 0 {
                    format!("; deleted {orphans} containers left without a record")
                } else {
                    String::new()
                }
            );
            Ok(0)
        }
        SandboxCommand::Run(args) => run_command(config, args).await,
        SandboxCommand::Exec { id, command } => {
            use std::io::Write;
            let runtime = runtime(config).await?;
            let out = runtime
                .exec(
                    &id,
                    ExecSpec {
                        command,
                        env: Vec::new(),
                        cwd: None,
                    },
                )
                .await
                .with_context(|| format!("Failed to run the command in sandbox {id}"))?;
            std::io::stdout().write_all(&out.stdout)?;
            std::io::stderr().write_all(&out.stderr)?;
            Ok(out.code)
        }
    }
}

/// Stops (SIGTERM, then SIGKILL after `grace`) and removes every sandbox `pick`
/// chooses, all at once; returns how many. Fails naming each one that could not be
/// removed, after trying them all.
pub async fn stop_sandboxes(
    runtime: &dyn Runtime,
    grace: Duration,
    pick: impl Fn(&burrow_sandbox::SandboxInfo) -> bool,
) -> anyhow::Result<usize> {
    let chosen: Vec<_> = runtime
        .list(&BTreeMap::new())
        .await?
        .into_iter()
        .filter(|s| pick(s))
        .collect();
    let results = futures::future::join_all(chosen.iter().map(|s| async move {
        if s.status == Status::Running {
            runtime.stop(&s.id, grace).await?;
        }
        runtime.remove(&s.id).await
    }))
    .await;
    let failed: Vec<String> = chosen
        .iter()
        .zip(results)
        .filter_map(|(s, r)| r.err().map(|e| format!("{}: {e}", s.id)))
        .collect();
    if !failed.is_empty() {
        anyhow::bail!("could not stop every sandbox: {}", failed.join("; "));
    }
    Ok(chosen.len())
}

fn doctor(config: &Config) -> i32 {
    let checks = burrow_sandbox::host::diagnose(&config.sandbox.runtime, &config.sandbox.init);
    let mut failed = 0;
    for c in &checks {
        if c.ok {
            println!("ok      {}: {}", c.name, c.detail);
        } else {
            failed += 1;
            println!("MISSING {}: {}\n        fix: {}", c.name, c.detail, c.fix);
        }
    }
    if failed == 0 {
        println!("This host can run sandboxes.");
        0
    } else {
        println!("{failed} problem(s): sandboxes will not work until they are fixed.");
        1
    }
}

/// The one line Burrow prints when it, not the program, ended the run.
pub fn verdict(exit: &ExitStatus, spec: &SandboxSpec) -> Option<String> {
    match exit.reason {
        ExitReason::Oom => Some(format!(
            "burrow: killed: out of memory (limit {})",
            format_size(spec.limits.memory_bytes)
        )),
        ExitReason::Timeout => {
            let t = spec.limits.timeout.unwrap_or_default();
            let shown = if t.subsec_millis() == 0 {
                format!("{}s", t.as_secs())
            } else {
                format!("{}ms", t.as_millis())
            };
            Some(format!("burrow: killed: timeout after {shown}"))
        }
        ExitReason::Error => Some(format!(
            "burrow: the sandbox failed: {}",
            exit.message.clone().unwrap_or_default()
        )),
        _ => None,
    }
}

async fn run_command(config: &Config, args: RunArgs) -> anyhow::Result<i32> {
    let runtime = runtime(config).await?;
    let mut spec = SandboxSpec::new(if args.tty {
        vec!["sleep".into(), "infinity".into()]
    } else {
        args.command.clone()
    });
    spec.limits.memory_bytes = args.memory;
    spec.limits.cpus = args.cpus;
    spec.limits.pids = args.pids;
    spec.limits.timeout = args.timeout;
    spec.limits.disk_bytes = args.disk;
    spec.limits.open_files = args.open_files;
    spec.mounts = args.mounts;
    spec.env.extend(args.env);
    if let Some(dir) = args.workdir {
        spec.cwd = dir;
    }
    spec.labels.insert("burrow.kind".into(), "cli".into());
    spec.labels.extend(args.labels);
    // Held until this process ends, however it ends: `gc` reaps the sandbox after that.
    let lease = runtime
        .lease()
        .await
        .context("Failed to take a lease for the sandbox")?;
    spec.labels
        .insert(burrow_sandbox::LEASE_LABEL.into(), lease.id().to_owned());
    let mut services = HostServices::default();
    if let Some(policy) = args.egress {
        spec.network = burrow_sandbox::Network::EgressProxy {
            port: burrow_egress::PROXY_PORT,
        };
        spec.host_services.push(burrow_egress::PROXY_PORT);
        services.egress = Some((
            burrow_egress::Egress::new(config.egress.proxy_options()),
            policy,
        ));
    }
    if args.packages {
        let store = crate::cli::open_store(config).await?;
        let allowlist = burrow_service::packages::load_allowlist(&store)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let upstream = burrow_index::upstream_from_env().map_err(anyhow::Error::msg)?;
        spec.env.extend(burrow_index::env());
        spec.host_services.push(burrow_index::INDEX_PORT);
        services.index = Some((
            burrow_index::PackageIndex::new(upstream).map_err(anyhow::Error::msg)?,
            std::sync::Arc::new(allowlist),
        ));
    }
    if let Some(project) = args.data {
        let store = crate::cli::open_store(config).await?;
        let envs = burrow_envs::Environments::from_config(config);
        let base = envs
            .base_key()
            .await
            .context("Failed to find the base environment")?;
        let env = envs.get(&base).with_context(|| {
            format!("The base environment {base} is not built: run `burrow runtime build` first")
        })?;
        spec.mounts.extend(env.mounts());
        spec.env.extend(env.vars());
        spec.env.push((
            "PATH".into(),
            format!(
                "{}/bin:/usr/local/bin:/usr/bin:/bin",
                burrow_envs::BASE_MOUNT
            ),
        ));
        spec.host_services.push(burrow_data::BRIDGE_PORT);
        let blobs = burrow_blobs::open(config).context("Failed to open the blob store")?;
        let engine = burrow_data::Engine::new(blobs, burrow_service::data::limits(config));
        let keyring = burrow_service::data::keyring(config);
        services.data = Some(burrow_apps::data::project_bridge(
            store, engine, keyring, project,
        ));
    }
    let created = runtime.create(spec.clone()).await?;
    let id = created.id;
    let _services = services.serve(&id, created.listeners);
    let outcome = if args.tty {
        run_on_terminal(&*runtime, &id, args.command).await
    } else {
        stream_until_exit(&*runtime, &id).await
    };
    let exit = match outcome {
        Ok(exit) => exit,
        Err(e) => {
            let _ = runtime.remove(&id).await;
            return Err(e);
        }
    };
    runtime.remove(&id).await?;
    if let Some(line) = verdict(&exit, &spec) {
        eprintln!("{line}");
    }
    Ok(exit.shell_code())
}

/// The host services `sandbox run` serves for its sandbox.
#[derive(Default)]
struct HostServices {
    egress: Option<(burrow_egress::Egress, burrow_egress::Policy)>,
    index: Option<(
        burrow_index::PackageIndex,
        std::sync::Arc<burrow_bundle::Allowlist>,
    )>,
    data: Option<burrow_data::Bridge>,
}

impl HostServices {
    /// Serves each listener with its service, printing each egress refusal on stderr,
    /// until the returned guard drops.
    fn serve(
        self,
        id: &str,
        listeners: Vec<(u16, Box<dyn burrow_sandbox::HostListener>)>,
    ) -> AbortOnDrop {
        let mut tasks = Vec::new();
        if let Some((egress, _)) = &self.egress {
            let mut decisions = egress.watch();
            tasks.push(tokio::spawn(async move {
                loop {
                    match decisions.recv().await {
                        Ok(d) if d.verdict != burrow_egress::Verdict::Allowed => {
                            eprintln!("burrow: egress {}", d.summary());
                        }
                        Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                        Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
                    }
                }
            }));
        }
        for (port, listener) in listeners {
            let id = id.to_owned();
            let egress = self
                .egress
                .clone()
                .filter(|_| port == burrow_egress::PROXY_PORT);
            let index = self
                .index
                .clone()
                .filter(|_| port == burrow_index::INDEX_PORT);
            let data = self
                .data
                .clone()
                .filter(|_| port == burrow_data::BRIDGE_PORT);
            tasks.push(tokio::spawn(async move {
                while let Ok(connection) = listener.accept().await {
                    let (id, egress, index, data) =
                        (id.clone(), egress.clone(), index.clone(), data.clone());
                    tokio::spawn(async move {
                        if let Some((egress, policy)) = egress {
                            egress
                                .serve(&id, std::sync::Arc::new(policy), connection)
                                .await;
                        } else if let Some((index, allowlist)) = index {
                            index.serve(allowlist, connection).await;
                        } else if let Some(bridge) = data {
                            bridge.serve(&id, connection).await;
                        }
                    });
                }
            }));
        }
        AbortOnDrop(tasks)
    }
}

/// Tasks that end when this drops.
struct AbortOnDrop(Vec<tokio::task::JoinHandle<()>>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        for task in &self.0 {
            task.abort();
        }
    }
}

fn print_chunks(chunks: Vec<burrow_sandbox::Chunk>) {
    let (mut out, mut err) = (std::io::stdout().lock(), std::io::stderr().lock());
    for c in chunks {
        let _ = match c.stream {
            Stream::Stdout => out.write_all(&c.data),
            Stream::Stderr => err.write_all(&c.data),
        };
    }
    let _ = out.flush();
    let _ = err.flush();
}

async fn stream_until_exit(runtime: &dyn Runtime, id: &str) -> anyhow::Result<ExitStatus> {
    let mut cursor = Cursor::default();
    let mut interrupt = std::pin::pin!(shutdown_signal());
    let mut poll = Duration::from_millis(1);
    loop {
        let (chunks, next) = runtime.logs(id, cursor).await?;
        cursor = next;
        // Poll fast while output flows or the run is young, slower when it idles.
        poll = if chunks.is_empty() {
            (poll * 2).min(Duration::from_millis(50))
        } else {
            Duration::from_millis(1)
        };
        print_chunks(chunks);
        if let Status::Exited(exit) = runtime.status(id).await? {
            let (chunks, _) = runtime.logs(id, cursor).await?;
            print_chunks(chunks);
            return Ok(exit);
        }
        tokio::select! {
            () = tokio::time::sleep(poll) => {}
            () = &mut interrupt => {
                runtime.stop(id, Duration::from_secs(5)).await?;
            }
        }
    }
}

async fn shutdown_signal() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => return std::future::pending().await,
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

/// Runs `command` on a pseudo-terminal in the sandbox, wired to this terminal.
async fn run_on_terminal(
    runtime: &dyn Runtime,
    id: &str,
    command: Vec<String>,
) -> anyhow::Result<ExitStatus> {
    use std::io::Read;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let stdin = std::io::stdin();
    let (cols, rows) = rustix::termios::tcgetwinsize(&stdin)
        .map(|w| (w.ws_col.max(1), w.ws_row.max(1)))
        .unwrap_or((80, 24));
    let pty = runtime
        .exec_pty(
            id,
            ExecSpec {
                command,
                env: Vec::new(),
                cwd: None,
            },
            cols,
            rows,
        )
        .await?;
    let saved = rustix::termios::tcgetattr(&stdin).ok();
    if let Some(attrs) = &saved {
        let mut raw = attrs.clone();
        raw.make_raw();
        let _ = rustix::termios::tcsetattr(&stdin, rustix::termios::OptionalActions::Now, &raw);
    }
    let (terminal, mut control) = pty.split();
    let (mut from_terminal, mut to_terminal) = tokio::io::split(terminal);
    // Standard input has no async reader that leaves the terminal as it is: a thread
    // reads it and hands each piece on.
    let (keys, mut typed) = tokio::sync::mpsc::channel::<Vec<u8>>(16);
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = std::io::stdin().read(&mut buf) {
            if n == 0 || keys.blocking_send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    let input = tokio::spawn(async move {
        while let Some(bytes) = typed.recv().await {
            if to_terminal.write_all(&bytes).await.is_err() {
                break;
            }
        }
    });
    let output = tokio::spawn(async move {
        let mut buf = [0u8; 4096];
        let mut out = tokio::io::stdout();
        while let Ok(n) = from_terminal.read(&mut buf).await {
            if n == 0 || out.write_all(&buf[..n]).await.is_err() || out.flush().await.is_err() {
                break;
            }
        }
    });
    let code = control.wait().await;
    // The terminal ends once runc has relayed the last of it.
    let _ = output.await;
    input.abort();
    if let Some(attrs) = &saved {
        let _ = rustix::termios::tcsetattr(&stdin, rustix::termios::OptionalActions::Now, attrs);
    }
    let code = code?;
    // The sandbox's own limits may have ended it (a timeout kills the whole sandbox).
    if let Status::Exited(exit) = runtime.status(id).await? {
        if exit.reason != ExitReason::Exited && exit.reason != ExitReason::Signal {
            return Ok(exit);
        }
    }
    Ok(ExitStatus {
        reason: ExitReason::Exited,
        code: Some(code),
        signal: None,
        message: None,
        peak_memory_bytes: None,
    })
}
