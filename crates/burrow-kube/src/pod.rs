//! The pod a sandbox spec becomes: Kubernetes' "restricted" profile, size-capped scratch
//! space, the named volumes as folders of one claim, and the agent, which serves the host
//! services and the folders shared with Burrow (size-capped in memory too).
//!
//! Everything a sandbox asks for has a counterpart here, or the spec is refused with
//! why: a host path never reaches a pod, and the limits Kubernetes cannot set per pod
//! (processes, open files) are the nodes' to set, as the runbook says.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use burrow_sandbox::spec::HOME;
use burrow_sandbox::{SandboxError, SandboxSpec, Volume, VolumeResolver};
use k8s_openapi::api::core::v1::{
    Capabilities, Container, ContainerPort, EmptyDirVolumeSource, EnvVar,
    PersistentVolumeClaimVolumeSource, Pod, PodSecurityContext, PodSpec, ResourceRequirements,
    SeccompProfile, SecurityContext, Volume as PodVolume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

/// Marks every object Burrow makes.
pub const MANAGED_BY: (&str, &str) = ("app.kubernetes.io/managed-by", "burrow");
/// Names the Burrow installation a pod belongs to, so two installations in one namespace
/// never touch each other's pods.
pub const INSTALL_LABEL: &str = "burrow.dev/install";
/// Names the sandbox a pod runs; the pod's name is the same.
pub const SANDBOX_LABEL: &str = "burrow.dev/sandbox";
/// Marks pods that run sandboxes, which the network policies select.
pub const ROLE_LABEL: (&str, &str) = ("burrow.dev/role", "sandbox");
/// The sandbox's own labels, all of them, as JSON: Kubernetes' label syntax cannot hold
/// every value Burrow uses.
pub const LABELS_ANNOTATION: &str = "burrow.dev/labels";
/// The sandbox's command, as JSON, for `list`.
pub const COMMAND_ANNOTATION: &str = "burrow.dev/command";
/// The container running the sandbox's command.
pub const MAIN: &str = "sandbox";
/// The sidecar that serves the host services on the pod's loopback.
pub const AGENT: &str = "agent";
/// Where the agent takes Burrow's connections, on the pod's address, by default.
pub const AGENT_PORT: u16 = 7390;
/// The agent's token, in its own container's environment only.
pub const AGENT_TOKEN_ENV: &str = "BURROW_AGENT_TOKEN";
/// Where the agent mounts the pod's shared folders ([`Volume::Shared`]), each as
/// `m<n>` for the spec's mount number `n` (the volume's name too), to serve them to
/// Burrow ([`crate::files`]).
pub const AGENT_SHARED: &str = "/burrow/shared";
/// The agent's own memory, beside what it writes into the shared folders.
const AGENT_MEMORY: u64 = 32 << 20;

/// How pods are made.
#[derive(Clone)]
pub struct PodOptions {
    /// This installation's id, in [`INSTALL_LABEL`].
    pub install: String,
    /// The image sandboxes run: the same system and Python that environments are built
    /// against, with `tini`.
    pub image: String,
    /// The image the agent runs: one with the `burrow` binary.
    pub agent_image: String,
    /// The claim (ReadWriteMany) holding Burrow's data folder, which Burrow's own pods
    /// mount at `data_mount`: environments, code, secrets and workspaces are folders of it.
    pub data_claim: String,
    /// Where Burrow's pods mount `data_claim`.
    pub data_mount: PathBuf,
    /// Finds each named volume's folder under `data_mount`.
    pub volumes: Arc<dyn VolumeResolver>,
    /// A RuntimeClass such as gVisor's, when the cluster has one.
    pub runtime_class: Option<String>,
    /// The user and group sandboxes run as; never 0.
    pub uid: i64,
    /// The port the agent listens on for Burrow ([`AGENT_PORT`]).
    pub agent_port: u16,
}

impl std::fmt::Debug for PodOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PodOptions")
            .field("install", &self.install)
            .field("image", &self.image)
            .field("agent_image", &self.agent_image)
            .field("data_claim", &self.data_claim)
            .field("data_mount", &self.data_mount)
            .field("runtime_class", &self.runtime_class)
            .field("uid", &self.uid)
            .field("agent_port", &self.agent_port)
            .finish_non_exhaustive()
    }
}

fn invalid(why: String) -> SandboxError {
    SandboxError::InvalidSpec(why)
}

/// The pod for sandbox `id`; `agent_token` is what Burrow shows the agent.
pub fn pod_for(
    id: &str,
    spec: &SandboxSpec,
    options: &PodOptions,
    agent_token: &str,
) -> Result<Pod, SandboxError> {
    spec.validate()?;
    if options.uid <= 0 {
        return Err(invalid(format!(
            "sandboxes must run as a user other than root, not uid {}: set sandbox.kubernetes.uid",
            options.uid
        )));
    }
    let limits = &spec.limits;
    let mut volumes = vec![
        scratch("tmp", limits.disk_bytes),
        scratch("home", limits.disk_bytes),
    ];
    let mut mounts = vec![
        mount("tmp", "/tmp", true, None),
        mount("home", HOME, true, None),
    ];
    // The agent's mounts of the shared folders, and how much memory they may hold.
    let (mut agent_mounts, mut shared_bytes) = (Vec::new(), 0u64);
    for (i, m) in spec.mounts.iter().enumerate() {
        let name = format!("m{i}");
        match &m.volume {
            Volume::Scratch { size_bytes } => {
                volumes.push(scratch(&name, *size_bytes));
                mounts.push(mount(&name, &m.destination, true, None));
            }
            // In memory, capped like a tmpfs, and reached by Burrow through the agent,
            // which mounts it too: what the agent writes there counts against its own
            // memory, so that grows by the folder's size.
            Volume::Shared { size_bytes } => {
                volumes.push(scratch(&name, *size_bytes));
                mounts.push(mount(&name, &m.destination, true, None));
                agent_mounts.push(mount(&name, &format!("{AGENT_SHARED}/{name}"), true, None));
                shared_bytes = shared_bytes.saturating_add(*size_bytes);
            }
            Volume::HostPath { path } => {
                return Err(invalid(format!(
                    "the mount at {}: host folder {} cannot reach a pod; host paths are for \
                     `burrow sandbox run` on the local runtime",
                    m.destination,
                    path.display()
                )))
            }
            named => {
                let sub = sub_path(options, named)
                    .map_err(|why| invalid(format!("the mount at {}: {why}", m.destination)))?;
                mounts.push(mount("data", &m.destination, m.writable, Some(sub)));
            }
        }
    }
    if mounts.iter().any(|m| m.name == "data") {
        volumes.push(PodVolume {
            name: "data".into(),
            persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                claim_name: options.data_claim.clone(),
                read_only: None,
            }),
            ..Default::default()
        });
    }

    // The network's variables win over the spec's, as on the local runtime.
    let mut env: Vec<EnvVar> = Vec::new();
    for (name, value) in spec.env.iter().chain(spec.network.env().iter()) {
        env.retain(|e| &e.name != name);
        env.push(EnvVar {
            name: name.clone(),
            value: Some(value.clone()),
            value_from: None,
        });
    }

    let memory = limits.memory_bytes.to_string();
    // Both scratch folders live in memory and count against it; ephemeral storage is for
    // what the container runtime writes (logs).
    let resources = resources_of(
        &format!("{}m", (limits.cpus * 1000.0).round().max(1.0) as u64),
        &memory,
        &(64u64 << 20).to_string(),
    );
    let main = Container {
        name: MAIN.into(),
        image: Some(options.image.clone()),
        command: Some(vec!["/usr/bin/tini".into(), "-s".into(), "--".into()]),
        args: Some(spec.command.clone()),
        working_dir: Some(spec.cwd.clone()),
        env: Some(env),
        resources: Some(resources),
        security_context: Some(restricted_container()),
        volume_mounts: Some(mounts),
        termination_message_policy: Some("FallbackToLogsOnError".into()),
        ..Default::default()
    };

    let mut init = Vec::new();
    if !spec.host_services.is_empty() || !agent_mounts.is_empty() {
        let mut command: Vec<String> = vec![
            "burrow".into(),
            "sandbox".into(),
            "agent".into(),
            "--listen".into(),
            format!("0.0.0.0:{}", options.agent_port),
        ];
        if !spec.host_services.is_empty() {
            let ports: Vec<String> = spec.host_services.iter().map(u16::to_string).collect();
            command.extend(["--ports".into(), ports.join(",")]);
        }
        if !agent_mounts.is_empty() {
            command.extend(["--shared".into(), AGENT_SHARED.into()]);
        }
        let agent_memory = AGENT_MEMORY.saturating_add(shared_bytes).to_string();
        // A sidecar (an init container that keeps running) is listening before the
        // sandbox's command starts, as the local runtime's listeners are.
        init.push(Container {
            name: AGENT.into(),
            image: Some(options.agent_image.clone()),
            command: Some(command),
            env: Some(vec![EnvVar {
                name: AGENT_TOKEN_ENV.into(),
                value: Some(agent_token.to_owned()),
                value_from: None,
            }]),
            ports: Some(vec![ContainerPort {
                container_port: options.agent_port.into(),
                name: Some("agent".into()),
                ..Default::default()
            }]),
            restart_policy: Some("Always".into()),
            resources: Some(resources_of("50m", &agent_memory, "16Mi")),
            volume_mounts: (!agent_mounts.is_empty()).then_some(agent_mounts),
            security_context: Some(restricted_container()),
            startup_probe: Some(k8s_openapi::api::core::v1::Probe {
                tcp_socket: Some(k8s_openapi::api::core::v1::TCPSocketAction {
                    port: k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(
                        options.agent_port.into(),
                    ),
                    host: None,
                }),
                period_seconds: Some(1),
                failure_threshold: Some(30),
                ..Default::default()
            }),
            ..Default::default()
        });
    }

    let mut labels = BTreeMap::from([
        (MANAGED_BY.0.to_owned(), MANAGED_BY.1.to_owned()),
        (ROLE_LABEL.0.to_owned(), ROLE_LABEL.1.to_owned()),
        (INSTALL_LABEL.to_owned(), options.install.clone()),
        (SANDBOX_LABEL.to_owned(), id.to_owned()),
    ]);
    for (key, value) in &spec.labels {
        if is_label_key(key) && is_label_value(value) && !labels.contains_key(key) {
            labels.insert(key.clone(), value.clone());
        }
    }
    let annotations = BTreeMap::from([
        (
            LABELS_ANNOTATION.to_owned(),
            serde_json::to_string(&spec.labels).unwrap_or_default(),
        ),
        (
            COMMAND_ANNOTATION.to_owned(),
            serde_json::to_string(&spec.command).unwrap_or_default(),
        ),
    ]);

    Ok(Pod {
        metadata: ObjectMeta {
            name: Some(id.to_owned()),
            labels: Some(labels),
            annotations: Some(annotations),
            ..Default::default()
        },
        spec: Some(PodSpec {
            containers: vec![main],
            init_containers: (!init.is_empty()).then_some(init),
            volumes: Some(volumes),
            restart_policy: Some("Never".into()),
            automount_service_account_token: Some(false),
            enable_service_links: Some(false),
            host_network: Some(false),
            host_pid: Some(false),
            host_ipc: Some(false),
            share_process_namespace: Some(false),
            runtime_class_name: options.runtime_class.clone(),
            active_deadline_seconds: limits.timeout.map(|t| t.as_secs().max(1) as i64),
            termination_grace_period_seconds: Some(10),
            security_context: Some(PodSecurityContext {
                run_as_non_root: Some(true),
                run_as_user: Some(options.uid),
                run_as_group: Some(options.uid),
                fs_group: Some(options.uid),
                seccomp_profile: Some(runtime_default()),
                ..Default::default()
            }),
            ..Default::default()
        }),
        status: None,
    })
}

/// Where a named volume is in the data claim: its folder under `data_mount`, which must
/// exist (Burrow sees the same claim) and be beneath it.
fn sub_path(options: &PodOptions, volume: &Volume) -> Result<String, String> {
    let folder = options.volumes.folder(volume)?;
    let relative = folder.strip_prefix(&options.data_mount).map_err(|_| {
        format!(
            "{volume} is at {}, outside the data folder {} that pods share: keep Burrow's data \
             folder on the claim {}",
            folder.display(),
            options.data_mount.display(),
            options.data_claim
        )
    })?;
    let parts: Vec<&str> = relative
        .components()
        .map(|c| match c {
            std::path::Component::Normal(part) => part.to_str().ok_or(()),
            _ => Err(()),
        })
        .collect::<Result<_, _>>()
        .map_err(|()| {
            format!(
                "{volume} is at {}, which is not a plain path",
                folder.display()
            )
        })?;
    if parts.is_empty() {
        return Err(format!("{volume} is the whole data folder"));
    }
    Ok(parts.join("/"))
}

fn scratch(name: &str, size_bytes: u64) -> PodVolume {
    PodVolume {
        name: name.into(),
        empty_dir: Some(EmptyDirVolumeSource {
            medium: Some("Memory".into()),
            size_limit: Some(Quantity(size_bytes.to_string())),
        }),
        ..Default::default()
    }
}

fn mount(name: &str, at: &str, writable: bool, sub_path: Option<String>) -> VolumeMount {
    VolumeMount {
        name: name.into(),
        mount_path: at.into(),
        read_only: Some(!writable),
        sub_path,
        ..Default::default()
    }
}

/// Requests equal to limits: the pod is in the Guaranteed class and is never squeezed by
/// its neighbours' bursts.
fn resources_of(cpu: &str, memory: &str, ephemeral: &str) -> ResourceRequirements {
    let set = BTreeMap::from([
        ("cpu".to_owned(), Quantity(cpu.into())),
        ("memory".to_owned(), Quantity(memory.into())),
        ("ephemeral-storage".to_owned(), Quantity(ephemeral.into())),
    ]);
    ResourceRequirements {
        limits: Some(set.clone()),
        requests: Some(set),
        ..Default::default()
    }
}

fn runtime_default() -> SeccompProfile {
    SeccompProfile {
        type_: "RuntimeDefault".into(),
        localhost_profile: None,
    }
}

fn restricted_container() -> SecurityContext {
    SecurityContext {
        allow_privilege_escalation: Some(false),
        privileged: Some(false),
        read_only_root_filesystem: Some(true),
        run_as_non_root: Some(true),
        capabilities: Some(Capabilities {
            drop: Some(vec!["ALL".into()]),
            add: None,
        }),
        seccomp_profile: Some(runtime_default()),
        ..Default::default()
    }
}

/// A label key Kubernetes accepts: an optional DNS-subdomain prefix and `/`, then a name
/// of at most 63 characters.
pub fn is_label_key(key: &str) -> bool {
    let (prefix, name) = match key.rsplit_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, key),
    };
    let prefix_ok = prefix.is_none_or(|p| {
        !p.is_empty()
            && p.len() <= 253
            && p.split('.').all(|part| {
                !part.is_empty()
                    && part
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                    && !part.starts_with('-')
                    && !part.ends_with('-')
            })
    });
    prefix_ok && !name.is_empty() && is_label_value(name)
}

/// A label value Kubernetes accepts: at most 63 characters of letters, digits, `-`, `_`
/// and `.`, beginning and ending with a letter or digit (or empty).
pub fn is_label_value(value: &str) -> bool {
    value.len() <= 63
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && value
            .bytes()
            .next()
            .is_none_or(|b| b.is_ascii_alphanumeric())
        && value
            .bytes()
            .last()
            .is_none_or(|b| b.is_ascii_alphanumeric())
}
