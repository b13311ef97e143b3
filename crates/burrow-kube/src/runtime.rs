//! [`KubeRuntime`]: the [`Runtime`] trait over the Kubernetes API, one pod per sandbox.
//!
//! A pod's name is its sandbox's id and it carries this installation's label, so `list`
//! and `gc` see only Burrow's own pods and a create that is retried adopts the pod
//! (409) instead of making a second. A start that cannot succeed (an image that cannot
//! be pulled, a spec the kubelet refuses, nowhere to schedule) fails at once with
//! Kubernetes' own words, and the pod is deleted. Burrow reaches a pod at its address:
//! the app's port directly, the host services through the pod's agent
//! ([`crate::agent`]); commands and terminals go through the API's `exec`.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use burrow_sandbox::{
    Chunk, Connection, Created, Cursor, ExecOutput, ExecSpec, ExitReason, ExitStatus, GcReport,
    Lease, PtyControl, PtySession, Result, Runtime, SandboxError, SandboxInfo, SandboxSpec,
    SharedFolder, Status, Stream, LEASE_LABEL,
};
use k8s_openapi::api::coordination::v1::{Lease as KubeLease, LeaseSpec};
use k8s_openapi::api::core::v1::{ContainerStateTerminated, Event, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::api::{
    AttachParams, DeleteParams, ListParams, LogParams, Patch, PatchParams, PostParams,
};
use kube::{Api, Client};
use sha2::{Digest, Sha256};
use tokio::io::AsyncReadExt;

use crate::agent::AgentListener;
use crate::files::{self, AgentFolder};
use crate::pod::{self, PodOptions, AGENT, INSTALL_LABEL, MAIN, SANDBOX_LABEL};
use crate::restricted;

/// Waiting reasons after which a container will not start without a change by someone.
const HOPELESS: &[&str] = &[
    "ErrImagePull",
    "ImagePullBackOff",
    "InvalidImageName",
    "ErrImageNeverPull",
    "CreateContainerConfigError",
    "CreateContainerError",
    "RunContainerError",
];
/// Set on a pod Burrow stopped, to the signal it asked for (15, or 9 for `kill`).
pub const STOPPED_ANNOTATION: &str = "burrow.dev/stopped";
/// How long a lease of short-lived sandboxes lasts without renewal.
const LEASE_SECONDS: i32 = 30;
/// Output of a captured `exec`, per stream.
const EXEC_CAP: u64 = 16 << 20;

/// How the runtime reaches the cluster and what pods it makes.
#[derive(Debug, Clone)]
pub struct KubeOptions {
    /// The namespace sandboxes run in; Burrow's Role covers pods there.
    pub namespace: String,
    pub pod: PodOptions,
    /// Shared by every replica, so any of them can show a pod's agent its token.
    pub agent_secret: String,
    /// The longest a pod may take from creation to running, image pull included.
    pub start_timeout: Duration,
    /// How often a pod is looked at while Burrow waits on it.
    pub poll: Duration,
}

/// Shared folders by sandbox and path.
type Folders = HashMap<(String, String), Arc<AgentFolder>>;

/// Sandboxes as pods.
#[derive(Clone)]
pub struct KubeRuntime {
    pods: Api<Pod>,
    events: Api<Event>,
    leases: Api<KubeLease>,
    options: Arc<KubeOptions>,
    /// The shared folders reached so far, by sandbox and path, each with its kept
    /// connection to the pod's agent; forgotten when the pod is removed.
    folders: Arc<parking_lot::Mutex<Folders>>,
}

impl std::fmt::Debug for KubeRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubeRuntime")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl KubeRuntime {
    pub fn new(client: Client, options: KubeOptions) -> Self {
        let ns = &options.namespace;
        Self {
            pods: Api::namespaced(client.clone(), ns),
            events: Api::namespaced(client.clone(), ns),
            leases: Api::namespaced(client, ns),
            options: Arc::new(options),
            folders: Arc::default(),
        }
    }

    /// The runtime on the cluster Burrow runs in (its pod's service account), or the one
    /// `KUBECONFIG` names.
    pub async fn from_environment(options: KubeOptions) -> Result<Self, kube::Error> {
        let client = Client::try_default().await?;
        Ok(Self::new(client, options))
    }

    /// The token sandbox `id`'s agent expects: derived from the shared secret, so it is
    /// never stored and any replica can work it out.
    pub fn agent_token(&self, id: &str) -> String {
        let mut hash = Sha256::new();
        hash.update(self.options.agent_secret.as_bytes());
        hash.update(b"\0agent\0");
        hash.update(id.as_bytes());
        hex(&hash.finalize())
    }

    fn error(&self, id: &str, e: kube::Error) -> SandboxError {
        match e {
            kube::Error::Api(status) if status.code == 404 => SandboxError::NotFound(id.into()),
            kube::Error::Api(status) if status.code == 403 => SandboxError::Host(format!(
                "Burrow may not do this to pods in namespace {}: {}; give its service account \
                 the Role the manifests define",
                self.options.namespace, status.message
            )),
            other => SandboxError::Host(format!("the Kubernetes API: {other}")),
        }
    }

    async fn get(&self, id: &str) -> Result<Pod> {
        self.pods.get(id).await.map_err(|e| self.error(id, e))
    }

    async fn get_opt(&self, id: &str) -> Result<Option<Pod>> {
        self.pods.get_opt(id).await.map_err(|e| self.error(id, e))
    }

    /// Deletes the pod, if it is there. The grace is at least a second: with none, the
    /// API forgets the pod at once while its containers may still run.
    async fn delete(&self, id: &str, grace: Duration) -> Result<()> {
        let params = DeleteParams {
            grace_period_seconds: Some((grace.as_secs_f64().ceil() as u32).max(1)),
            ..Default::default()
        };
        match self.pods.delete(id, &params).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
            Err(e) => Err(self.error(id, e)),
        }
    }

    /// Waits until the pod's command runs, or fails with why it will not.
    async fn started(&self, id: &str) -> Result<Pod> {
        let deadline = tokio::time::Instant::now() + self.options.start_timeout;
        loop {
            let pod = self.get(id).await?;
            if let Some(why) = hopeless(&pod) {
                let why = match self.warning(id).await {
                    Some(event) if !why.contains(&event) => format!("{why} ({event})"),
                    _ => why,
                };
                return Err(SandboxError::StartFailed(why));
            }
            if pod_ip(&pod).is_some()
                && main_state(&pod).is_some_and(|s| s.running.is_some() || s.terminated.is_some())
            {
                return Ok(pod);
            }
            if tokio::time::Instant::now() >= deadline {
                let why = match (unschedulable(&pod), self.warning(id).await) {
                    (Some(condition), _) => condition,
                    (None, Some(event)) => event,
                    (None, None) => "no event says why".into(),
                };
                return Err(SandboxError::StartFailed(format!(
                    "pod {id} did not start within {:?}: {why}",
                    self.options.start_timeout
                )));
            }
            tokio::time::sleep(self.options.poll).await;
        }
    }

    /// The newest warning Kubernetes recorded about the pod.
    async fn warning(&self, id: &str) -> Option<String> {
        let params =
            ListParams::default().fields(&format!("involvedObject.name={id},type=Warning"));
        let events = self.events.list(&params).await.ok()?;
        events
            .items
            .into_iter()
            .max_by_key(|e| e.metadata.creation_timestamp.as_ref().map(|t| t.0))
            .and_then(|e| Some(format!("{}: {}", e.reason?, e.message?)))
    }

    /// Forgets the shared folders of sandbox `id`, whose pod goes.
    fn forget_folders(&self, id: &str) {
        self.folders.lock().retain(|(sandbox, _), _| sandbox != id);
    }

    async fn address(&self, id: &str, port: u16) -> Result<SocketAddr> {
        let pod = self.get(id).await?;
        if let Status::Exited(_) = status_of(&pod) {
            return Err(SandboxError::NotRunning(id.into()));
        }
        let ip = pod_ip(&pod).ok_or_else(|| SandboxError::NotRunning(id.into()))?;
        Ok(SocketAddr::new(ip, port))
    }

    /// The command wrapped so it runs with `exec`'s environment and folder.
    fn exec_command(exec: &ExecSpec) -> Vec<String> {
        let mut command = vec!["/usr/bin/env".to_owned()];
        if let Some(cwd) = &exec.cwd {
            command.extend(["-C".to_owned(), cwd.clone()]);
        }
        command.extend(exec.env.iter().map(|(k, v)| format!("{k}={v}")));
        command.push("--".into());
        command.extend(exec.command.iter().cloned());
        command
    }
}

/// Reads `stream` into `into`, keeping the first [`EXEC_CAP`] bytes and reading the
/// rest to nowhere, so the process never blocks on a full pipe.
async fn capped(stream: Option<impl tokio::io::AsyncRead + Unpin>, into: &mut Vec<u8>) {
    let Some(stream) = stream else { return };
    let mut stream = stream;
    let _ = (&mut stream).take(EXEC_CAP).read_to_end(into).await;
    let _ = tokio::io::copy(&mut stream, &mut tokio::io::sink()).await;
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn pod_ip(pod: &Pod) -> Option<IpAddr> {
    pod.status.as_ref()?.pod_ip.as_ref()?.parse().ok()
}

fn main_state(pod: &Pod) -> Option<k8s_openapi::api::core::v1::ContainerState> {
    pod.status
        .as_ref()?
        .container_statuses
        .as_ref()?
        .iter()
        .find(|c| c.name == MAIN)?
        .state
        .clone()
}

/// Why the pod will never run, if Kubernetes already says so.
fn hopeless(pod: &Pod) -> Option<String> {
    let status = pod.status.as_ref()?;
    let containers = status
        .container_statuses
        .iter()
        .flatten()
        .chain(status.init_container_statuses.iter().flatten());
    for c in containers {
        if let Some(waiting) = c.state.as_ref().and_then(|s| s.waiting.as_ref()) {
            let reason = waiting.reason.as_deref().unwrap_or_default();
            if HOPELESS.contains(&reason) {
                let image = if c.name == AGENT { "agent" } else { "sandbox" };
                return Some(format!(
                    "the {image} container cannot start: {reason}: {}",
                    waiting.message.as_deref().unwrap_or("no detail")
                ));
            }
        }
    }
    None
}

/// Why no node runs the pod yet. Not hopeless: on a cluster that adds nodes, this is
/// what makes it add one, so a start waits its timeout for it.
fn unschedulable(pod: &Pod) -> Option<String> {
    let condition = pod.status.as_ref()?.conditions.iter().flatten().find(|c| {
        c.type_ == "PodScheduled"
            && c.status == "False"
            && c.reason.as_deref() == Some("Unschedulable")
    })?;
    Some(format!(
        "no node can run the pod: {}",
        condition.message.as_deref().unwrap_or("no detail")
    ))
}

fn exit_of(t: &ContainerStateTerminated) -> ExitStatus {
    let (reason, code, signal) = match t.reason.as_deref() {
        Some("OOMKilled") => (ExitReason::Oom, None, None),
        _ if t.signal.is_some_and(|s| s > 0) => (ExitReason::Signal, None, t.signal),
        _ => (ExitReason::Exited, Some(t.exit_code), None),
    };
    ExitStatus {
        reason,
        code,
        signal,
        message: None,
        peak_memory_bytes: None,
    }
}

/// Where the sandbox a pod runs is in its life.
pub fn status_of(pod: &Pod) -> Status {
    let status = pod.status.clone().unwrap_or_default();
    // The kubelet ends a pod past its deadline, and the container's own state then
    // says only that it was signalled: the deadline is why. Burrow stops a pod the
    // same way, and marks it so.
    if status.phase.as_deref() == Some("Failed")
        && status.reason.as_deref() == Some("DeadlineExceeded")
    {
        return Status::Exited(match stopped_by_burrow(pod) {
            Some(signal) => signalled(signal),
            None => ExitStatus {
                reason: ExitReason::Timeout,
                code: None,
                signal: None,
                message: None,
                peak_memory_bytes: None,
            },
        });
    }
    if let Some(t) = main_state(pod).and_then(|s| s.terminated) {
        return Status::Exited(exit_of(&t));
    }
    match status.phase.as_deref() {
        Some("Failed") | Some("Succeeded") => Status::Exited(ExitStatus {
            reason: ExitReason::Error,
            code: None,
            signal: None,
            message: Some(status.message.unwrap_or_else(|| "the pod ended".into())),
            peak_memory_bytes: None,
        }),
        _ => Status::Running,
    }
}

/// The signal Burrow asked for when it stopped the pod ([`STOPPED_ANNOTATION`]).
fn stopped_by_burrow(pod: &Pod) -> Option<i32> {
    pod.metadata
        .annotations
        .as_ref()?
        .get(STOPPED_ANNOTATION)?
        .parse()
        .ok()
}

fn signalled(signal: i32) -> ExitStatus {
    ExitStatus {
        reason: ExitReason::Signal,
        code: None,
        signal: Some(signal),
        message: None,
        peak_memory_bytes: None,
    }
}

fn labels_of(pod: &Pod) -> BTreeMap<String, String> {
    pod.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(pod::LABELS_ANNOTATION))
        .and_then(|json| serde_json::from_str(json).ok())
        .unwrap_or_default()
}

fn info_of(pod: &Pod) -> SandboxInfo {
    SandboxInfo {
        id: pod.metadata.name.clone().unwrap_or_default(),
        labels: labels_of(pod),
        command: pod
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(pod::COMMAND_ANNOTATION))
            .and_then(|json| serde_json::from_str(json).ok())
            .unwrap_or_default(),
        created_at_ms: pod
            .metadata
            .creation_timestamp
            .as_ref()
            .map_or(0, |t| t.0.as_millisecond()),
        status: status_of(pod),
    }
}

fn new_id() -> String {
    use rand::Rng;
    let bytes: [u8; 6] = rand::thread_rng().gen();
    format!("sb-{}", hex(&bytes))
}

#[async_trait::async_trait]
impl Runtime for KubeRuntime {
    async fn create(&self, spec: SandboxSpec) -> Result<Created> {
        let id = new_id();
        let token = self.agent_token(&id);
        let pod = pod::pod_for(&id, &spec, &self.options.pod, &token)?;
        let wrong = restricted::violations(pod.spec.as_ref().expect("pod_for sets a spec"), true);
        if !wrong.is_empty() {
            return Err(SandboxError::Internal(format!(
                "the pod for {id} breaks the restricted profile: {}",
                wrong.join("; ")
            )));
        }
        self.create_pod(&id, &pod).await?;
        let pod = match self.started(&id).await {
            Ok(pod) => pod,
            Err(e) => {
                if let Err(gone) = self.delete(&id, Duration::ZERO).await {
                    tracing::warn!(sandbox = id, error = %gone, "A pod that did not start could not be deleted");
                }
                return Err(e);
            }
        };
        let ip = pod_ip(&pod).expect("a started pod has an address");
        let listeners = spec
            .host_services
            .iter()
            .map(|&port| {
                let agent = AgentListener::new(
                    SocketAddr::new(ip, self.options.pod.agent_port),
                    token.clone(),
                    port,
                );
                (
                    port,
                    Box::new(agent) as Box<dyn burrow_sandbox::HostListener>,
                )
            })
            .collect();
        Ok(Created { id, listeners })
    }

    async fn status(&self, id: &str) -> Result<Status> {
        Ok(status_of(&self.get(id).await?))
    }

    async fn wait(&self, id: &str) -> Result<ExitStatus> {
        let mut seen = false;
        let mut failures = 0;
        loop {
            match self.get_opt(id).await {
                Ok(Some(pod)) => {
                    seen = true;
                    failures = 0;
                    if let Status::Exited(exit) = status_of(&pod) {
                        return Ok(exit);
                    }
                }
                // Deleted while it ran (by someone else): its processes were killed.
                Ok(None) if seen => return Ok(signalled(9)),
                Ok(None) => return Err(SandboxError::NotFound(id.into())),
                // The API not answering for a moment does not end the sandbox.
                Err(e) => {
                    failures += 1;
                    if failures >= 10 {
                        return Err(e);
                    }
                    tracing::debug!(sandbox = id, error = %e, "Waiting on a pod: the API did not answer");
                }
            }
            tokio::time::sleep(self.options.poll.max(Duration::from_millis(100))).await;
        }
    }

    async fn stop(&self, id: &str, grace: Duration) -> Result<ExitStatus> {
        self.end(id, grace, 15).await
    }

    async fn kill(&self, id: &str) -> Result<ExitStatus> {
        self.end(id, Duration::ZERO, 9).await
    }

    async fn exec(&self, id: &str, exec: ExecSpec) -> Result<ExecOutput> {
        let params = AttachParams::default()
            .container(MAIN)
            .stdin(false)
            .stdout(true)
            .stderr(true);
        let mut process = self
            .pods
            .exec(id, Self::exec_command(&exec), &params)
            .await
            .map_err(|e| self.error(id, e))?;
        let status = process.take_status();
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let (stdout, stderr) = (process.stdout(), process.stderr());
        let reading = async {
            tokio::join!(capped(stdout, &mut out), capped(stderr, &mut err));
        };
        let code = match status {
            Some(status) => {
                let mut status = std::pin::pin!(status);
                let mut reading = std::pin::pin!(reading);
                tokio::select! {
                    ended = &mut status => {
                        // A process left in the background may hold the streams open:
                        // what they have sent within two seconds is kept.
                        let _ = tokio::time::timeout(Duration::from_secs(2), &mut reading).await;
                        exit_code(ended)
                    }
                    () = &mut reading => exit_code(status.await),
                }
            }
            None => {
                reading.await;
                -1
            }
        };
        Ok(ExecOutput {
            code,
            stdout: out,
            stderr: err,
        })
    }

    async fn exec_pty(&self, id: &str, exec: ExecSpec, cols: u16, rows: u16) -> Result<PtySession> {
        let params = AttachParams::interactive_tty().container(MAIN);
        let mut process = self
            .pods
            .exec(id, Self::exec_command(&exec), &params)
            .await
            .map_err(|e| self.error(id, e))?;
        let (Some(stdin), Some(stdout), Some(mut size)) =
            (process.stdin(), process.stdout(), process.terminal_size())
        else {
            return Err(SandboxError::Host(
                "the terminal's streams were not opened".into(),
            ));
        };
        let _ = size.try_send(kube::api::TerminalSize {
            width: cols,
            height: rows,
        });
        let status = process.take_status();
        let io: Connection = Box::new(tokio::io::join(stdout, stdin));
        Ok(PtySession::new(
            io,
            Box::new(KubePty {
                size: parking_lot::Mutex::new(size),
                status: tokio::sync::Mutex::new(status.map(|s| Box::pin(s) as StatusFuture)),
                _process: parking_lot::Mutex::new(process),
            }),
        ))
    }

    async fn connect(&self, id: &str, port: u16) -> Result<Connection> {
        let address = self.address(id, port).await?;
        let stream = tokio::net::TcpStream::connect(address).await?;
        stream.set_nodelay(true)?;
        Ok(Box::new(stream))
    }

    async fn listen(&self, id: &str, port: u16) -> Result<Box<dyn burrow_sandbox::HostListener>> {
        let agent = self.address(id, self.options.pod.agent_port).await?;
        Ok(Box::new(AgentListener::new(
            agent,
            self.agent_token(id),
            port,
        )))
    }

    async fn logs(&self, id: &str, cursor: Cursor) -> Result<(Vec<Chunk>, Cursor)> {
        let params = LogParams {
            container: Some(MAIN.into()),
            ..Default::default()
        };
        // Bytes, not text: a program's output need not be UTF-8.
        let mut stream = self
            .pods
            .log_stream(id, &params)
            .await
            .map_err(|e| self.error(id, e))?;
        let mut bytes = Vec::new();
        futures::AsyncReadExt::read_to_end(&mut stream, &mut bytes).await?;
        // The kubelet rotates logs: a shorter log than the cursor starts again.
        let from = match cursor.byte() {
            at if at as usize <= bytes.len() => at as usize,
            _ => 0,
        };
        let next = Cursor::at_byte(bytes.len() as u64);
        let rest = bytes[from..].to_vec();
        let chunks = if rest.is_empty() {
            Vec::new()
        } else {
            vec![Chunk {
                stream: Stream::Stdout,
                data: rest,
            }]
        };
        Ok((chunks, next))
    }

    async fn list(&self, labels: &BTreeMap<String, String>) -> Result<Vec<SandboxInfo>> {
        let mut selector = String::new();
        for (key, value) in labels {
            if pod::is_label_key(key) && pod::is_label_value(value) {
                selector.push_str(&format!(",{key}={value}"));
            }
        }
        Ok(self
            .pods_of_this_install(&selector)
            .await?
            .iter()
            .map(info_of)
            .filter(|info| labels.iter().all(|(k, v)| info.labels.get(k) == Some(v)))
            .collect())
    }

    async fn remove(&self, id: &str) -> Result<()> {
        self.forget_folders(id);
        self.delete(id, Duration::ZERO).await
    }

    /// The shared folder mounted at `dir` in the pod's sandbox container, through the
    /// pod's agent, which mounts it too (see [`pod::AGENT_SHARED`]). Found once from the
    /// pod's spec; later calls reuse it, and its connection.
    async fn shared_folder(&self, id: &str, dir: &str) -> Result<Arc<dyn SharedFolder>> {
        let key = (id.to_owned(), dir.to_owned());
        if let Some(folder) = self.folders.lock().get(&key) {
            return Ok(Arc::clone(folder) as Arc<dyn SharedFolder>);
        }
        let pod = self.get(id).await?;
        if let Status::Exited(_) = status_of(&pod) {
            return Err(SandboxError::NotRunning(id.into()));
        }
        let ip = pod_ip(&pod).ok_or_else(|| SandboxError::NotRunning(id.into()))?;
        let spec = pod.spec.as_ref();
        let mounted = |container: &str| {
            spec.into_iter()
                .flat_map(|s| {
                    s.containers
                        .iter()
                        .chain(s.init_containers.iter().flatten())
                })
                .filter(|c| c.name == container)
                .flat_map(|c| c.volume_mounts.iter().flatten())
                .map(|m| (m.name.clone(), m.mount_path.clone()))
                .collect::<Vec<_>>()
        };
        let folder = mounted(MAIN)
            .into_iter()
            .find(|(_, at)| at == dir)
            .and_then(|(name, _)| {
                let n: u32 = name.strip_prefix('m')?.parse().ok()?;
                let agent_path = format!("{}/{}", pod::AGENT_SHARED, files::folder_name(n));
                (files::folder_name(n) == name && mounted(pod::AGENT).contains(&(name, agent_path)))
                    .then_some(n)
            })
            .ok_or_else(|| {
                SandboxError::Host(format!(
                    "sandbox {id} has no folder shared with Burrow at {dir}"
                ))
            })?;
        let agent = SocketAddr::new(ip, self.options.pod.agent_port);
        let folder = Arc::new(AgentFolder::new(agent, self.agent_token(id), folder));
        self.folders.lock().insert(key, Arc::clone(&folder));
        Ok(folder)
    }

    async fn gc(&self) -> Result<GcReport> {
        let mut report = GcReport::default();
        for pod in self.pods_of_this_install("").await? {
            // A pod already being deleted is on its way out.
            if pod.metadata.deletion_timestamp.is_some() {
                continue;
            }
            let info = info_of(&pod);
            let reap = match (&info.status, info.labels.get(LEASE_LABEL)) {
                (Status::Exited(_), _) => Some(false),
                (_, Some(lease)) if !self.lease_alive(lease).await? => Some(true),
                _ => None,
            };
            let Some(reaped) = reap else { continue };
            self.forget_folders(&info.id);
            match self.delete(&info.id, Duration::ZERO).await {
                Ok(()) if reaped => report.reaped.push(info.id),
                Ok(()) => report.removed.push(info.id),
                Err(e) => report.failed.push(format!("{}: {e}", info.id)),
            }
        }
        // Leases whose holder died without deleting them.
        let selector = format!("{INSTALL_LABEL}={}", self.options.pod.install);
        let leases = self
            .leases
            .list(&ListParams::default().labels(&selector))
            .await
            .map_err(|e| self.error("", e))?;
        for lease in leases.items {
            let name = lease.metadata.name.clone().unwrap_or_default();
            if !lease_renewed(&lease) {
                if let Err(e) = self.leases.delete(&name, &DeleteParams::default()).await {
                    report.failed.push(format!("lease {name}: {e}"));
                }
            }
        }
        Ok(report)
    }

    async fn lease(&self) -> Result<Lease> {
        let name = format!("burrow-lease-{}", &new_id()[3..]);
        let lease = KubeLease {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                labels: Some(BTreeMap::from([
                    (pod::MANAGED_BY.0.to_owned(), pod::MANAGED_BY.1.to_owned()),
                    (INSTALL_LABEL.to_owned(), self.options.pod.install.clone()),
                ])),
                ..Default::default()
            },
            spec: Some(LeaseSpec {
                holder_identity: Some(name.clone()),
                lease_duration_seconds: Some(LEASE_SECONDS),
                renew_time: Some(MicroTime(k8s_openapi::jiff::Timestamp::now())),
                ..Default::default()
            }),
        };
        self.leases
            .create(&PostParams::default(), &lease)
            .await
            .map_err(|e| self.error(&name, e))?;
        let (leases, renewed) = (self.leases.clone(), name.clone());
        let renewer = tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(LEASE_SECONDS as u64 / 3)).await;
                let patch = serde_json::json!({"spec": {"renewTime": MicroTime(k8s_openapi::jiff::Timestamp::now())}});
                if let Err(e) = leases
                    .patch(&renewed, &PatchParams::default(), &Patch::Merge(&patch))
                    .await
                {
                    tracing::warn!(lease = renewed, error = %e, "A sandbox lease could not be renewed");
                }
            }
        });
        Ok(Lease::new(
            name.clone(),
            Box::new(HeldLease {
                name,
                leases: self.leases.clone(),
                renewer,
            }),
        ))
    }
}

impl KubeRuntime {
    /// Asks for the pod; one already there is taken only if this installation made it
    /// for this sandbox (a retried request whose first try was made).
    async fn create_pod(&self, id: &str, pod: &Pod) -> Result<()> {
        match self.pods.create(&PostParams::default(), pod).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(status)) if status.code == 409 => {
                let existing = self.get(id).await?;
                let labels = existing.metadata.labels.unwrap_or_default();
                if labels.get(SANDBOX_LABEL).map(String::as_str) != Some(id)
                    || labels.get(INSTALL_LABEL) != Some(&self.options.pod.install)
                {
                    return Err(SandboxError::Host(format!(
                        "a pod named {id} that Burrow did not make is in namespace {}",
                        self.options.namespace
                    )));
                }
                Ok(())
            }
            Err(e) => Err(self.error(id, e)),
        }
    }

    /// Ends the pod's processes and keeps the pod, so its status and log stay readable
    /// until `remove`: its deadline is brought to now, which makes the kubelet stop its
    /// containers (SIGTERM, then SIGKILL after the pod's grace), marked with `signal`.
    /// A pod that has not ended `grace` plus half a minute later is deleted.
    async fn end(&self, id: &str, grace: Duration, signal: i32) -> Result<ExitStatus> {
        let Some(pod) = self.get_opt(id).await? else {
            return Err(SandboxError::NotFound(id.into()));
        };
        if let Status::Exited(exit) = status_of(&pod) {
            return Ok(exit);
        }
        let patch = serde_json::json!({
            "metadata": {"annotations": {STOPPED_ANNOTATION: signal.to_string()}},
            "spec": {"activeDeadlineSeconds": 1},
        });
        self.pods
            .patch(id, &PatchParams::default(), &Patch::Strategic(&patch))
            .await
            .map_err(|e| self.error(id, e))?;
        let deadline = tokio::time::Instant::now() + grace + Duration::from_secs(30);
        while tokio::time::Instant::now() < deadline {
            match self.get_opt(id).await? {
                Some(pod) => {
                    if let Status::Exited(exit) = status_of(&pod) {
                        return Ok(exit);
                    }
                }
                None => return Ok(signalled(signal)),
            }
            tokio::time::sleep(self.options.poll).await;
        }
        tracing::warn!(sandbox = id, "A pod did not end when told to: deleting it");
        self.delete(id, grace).await?;
        Ok(signalled(9))
    }

    /// This installation's pods, narrowed by `more` (`,key=value…`) when given.
    async fn pods_of_this_install(&self, more: &str) -> Result<Vec<Pod>> {
        let selector = format!("{INSTALL_LABEL}={}{more}", self.options.pod.install);
        let pods = self
            .pods
            .list(&ListParams::default().labels(&selector))
            .await
            .map_err(|e| self.error("", e))?;
        Ok(pods.items)
    }

    /// Whether the lease named `name` is still renewed by its holder.
    async fn lease_alive(&self, name: &str) -> Result<bool> {
        let Some(lease) = self
            .leases
            .get_opt(name)
            .await
            .map_err(|e| self.error(name, e))?
        else {
            return Ok(false);
        };
        let spec = lease.spec.unwrap_or_default();
        let (Some(renewed), Some(seconds)) = (spec.renew_time, spec.lease_duration_seconds) else {
            return Ok(false);
        };
        let age = k8s_openapi::jiff::Timestamp::now().duration_since(renewed.0);
        Ok(age.as_secs() < i64::from(seconds))
    }
}

/// Whether a lease's holder renewed it within its duration.
fn lease_renewed(lease: &KubeLease) -> bool {
    let spec = lease.spec.clone().unwrap_or_default();
    let (Some(renewed), Some(seconds)) = (spec.renew_time, spec.lease_duration_seconds) else {
        return false;
    };
    let age = k8s_openapi::jiff::Timestamp::now().duration_since(renewed.0);
    age.as_secs() < i64::from(seconds)
}

/// A lease while its holder lives: renewed, and deleted when dropped.
struct HeldLease {
    name: String,
    leases: Api<KubeLease>,
    renewer: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for HeldLease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HeldLease")
            .field("name", &self.name)
            .finish()
    }
}

impl Drop for HeldLease {
    fn drop(&mut self) {
        self.renewer.abort();
        let (leases, name) = (self.leases.clone(), self.name.clone());
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            handle.spawn(async move {
                let _ = leases.delete(&name, &DeleteParams::default()).await;
            });
        }
    }
}

type StatusFuture = std::pin::Pin<
    Box<
        dyn std::future::Future<
                Output = Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::Status>,
            > + Send,
    >,
>;

/// A terminal over the API's `exec`: resized through its size channel, ended when the
/// API says how the process exited.
struct KubePty {
    size: parking_lot::Mutex<futures::channel::mpsc::Sender<kube::api::TerminalSize>>,
    status: tokio::sync::Mutex<Option<StatusFuture>>,
    _process: parking_lot::Mutex<kube::api::AttachedProcess>,
}

impl std::fmt::Debug for KubePty {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KubePty")
    }
}

#[async_trait::async_trait]
impl PtyControl for KubePty {
    fn resize(&self, cols: u16, rows: u16) -> Result<()> {
        let mut size = self.size.lock();
        size.try_send(kube::api::TerminalSize {
            width: cols,
            height: rows,
        })
        .map_err(|e| SandboxError::Host(format!("the terminal could not be resized: {e}")))
    }

    async fn wait(&mut self) -> Result<i32> {
        let status = self.status.lock().await.take();
        Ok(match status {
            Some(status) => exit_code(status.await),
            None => -1,
        })
    }
}

/// The exit code in the status `exec` ends with: `Success`, or a failure whose cause
/// `ExitCode` carries the code.
fn exit_code(status: Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::Status>) -> i32 {
    let Some(status) = status else { return -1 };
    if status.status.as_deref() == Some("Success") {
        return 0;
    }
    status
        .details
        .and_then(|d| d.causes)
        .into_iter()
        .flatten()
        .find(|c| c.reason.as_deref() == Some("ExitCode"))
        .and_then(|c| c.message?.parse().ok())
        .unwrap_or(-1)
}
