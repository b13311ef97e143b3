//! Kubernetes' "restricted" Pod Security Standard, checked in Burrow before any pod is
//! asked for, with Burrow's own stricter rules on top.
//!
//! Offline validators check that a manifest is well formed, not that it is confined, so
//! these rules are written out here. The standard: <https://kubernetes.io/docs/concepts/security/pod-security-standards/>.

use k8s_openapi::api::core::v1::{Container, PodSpec, SeccompProfile};

/// The volume types the restricted profile allows.
const ALLOWED_VOLUMES: &[&str] = &[
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
];

/// What the restricted profile (and Burrow) would refuse in `spec`, each naming the field;
/// empty when it passes. `sandbox` adds the rules for sandbox pods: a read-only root, no
/// service-account token, no restarts by Kubernetes and every resource limited.
pub fn violations(spec: &PodSpec, sandbox: bool) -> Vec<String> {
    let mut out = Vec::new();
    let pod = spec.security_context.clone().unwrap_or_default();
    if spec.host_network == Some(true) || spec.host_pid == Some(true) || spec.host_ipc == Some(true)
    {
        out.push("spec: hostNetwork, hostPID and hostIPC must be false".to_owned());
    }
    if pod.sysctls.as_ref().is_some_and(|s| !s.is_empty()) {
        out.push("spec.securityContext.sysctls: none may be set".to_owned());
    }
    for volume in spec.volumes.iter().flatten() {
        let value = serde_json::to_value(volume).unwrap_or_default();
        let kinds: Vec<&String> = value
            .as_object()
            .map(|o| o.keys().filter(|k| k.as_str() != "name").collect())
            .unwrap_or_default();
        for kind in kinds {
            if !ALLOWED_VOLUMES.contains(&kind.as_str()) {
                out.push(format!(
                    "spec.volumes[{}]: {kind} volumes are not allowed",
                    volume.name
                ));
            }
        }
    }
    let pod_seccomp = pod.seccomp_profile.as_ref().map(seccomp_ok);
    if pod_seccomp == Some(false) {
        out.push(
            "spec.securityContext.seccompProfile.type must be RuntimeDefault or Localhost".into(),
        );
    }
    if pod.run_as_user == Some(0) {
        out.push("spec.securityContext.runAsUser must not be 0".into());
    }
    let containers = spec.containers.iter().map(|c| ("containers", c)).chain(
        spec.init_containers
            .iter()
            .flatten()
            .map(|c| ("initContainers", c)),
    );
    for (list, c) in containers {
        check_container(
            &mut out,
            &format!("spec.{list}[{}]", c.name),
            c,
            &pod,
            sandbox,
        );
    }
    if sandbox {
        if spec.automount_service_account_token != Some(false) {
            out.push("spec.automountServiceAccountToken must be false".into());
        }
        if spec.restart_policy.as_deref() != Some("Never") {
            out.push("spec.restartPolicy must be Never: Burrow restarts sandboxes itself".into());
        }
        if spec.enable_service_links != Some(false) {
            out.push("spec.enableServiceLinks must be false".into());
        }
    }
    out
}

fn seccomp_ok(profile: &SeccompProfile) -> bool {
    matches!(profile.type_.as_str(), "RuntimeDefault" | "Localhost")
}

fn check_container(
    out: &mut Vec<String>,
    at: &str,
    c: &Container,
    pod: &k8s_openapi::api::core::v1::PodSecurityContext,
    sandbox: bool,
) {
    let sc = c.security_context.clone().unwrap_or_default();
    if sc.privileged == Some(true) {
        out.push(format!("{at}.securityContext.privileged must be false"));
    }
    if sc.allow_privilege_escalation != Some(false) {
        out.push(format!(
            "{at}.securityContext.allowPrivilegeEscalation must be false"
        ));
    }
    if sc.run_as_non_root.or(pod.run_as_non_root) != Some(true) {
        out.push(format!("{at}.securityContext.runAsNonRoot must be true"));
    }
    if sc.run_as_user == Some(0) {
        out.push(format!("{at}.securityContext.runAsUser must not be 0"));
    }
    match sc.seccomp_profile.as_ref().or(pod.seccomp_profile.as_ref()) {
        Some(p) if seccomp_ok(p) => {}
        _ => out.push(format!(
            "{at}.securityContext.seccompProfile.type must be RuntimeDefault or Localhost"
        )),
    }
    let caps = sc.capabilities.unwrap_or_default();
    if !caps.drop.iter().flatten().any(|d| d == "ALL") {
        out.push(format!(
            "{at}.securityContext.capabilities.drop must include ALL"
        ));
    }
    for add in caps.add.iter().flatten() {
        if add != "NET_BIND_SERVICE" {
            out.push(format!(
                "{at}.securityContext.capabilities.add: {add} is not allowed"
            ));
        }
    }
    if c.ports
        .iter()
        .flatten()
        .any(|p| p.host_port.is_some_and(|h| h != 0))
    {
        out.push(format!("{at}.ports: host ports are not allowed"));
    }
    if sc.proc_mount.as_deref().is_some_and(|m| m != "Default") {
        out.push(format!("{at}.securityContext.procMount must be Default"));
    }
    if sandbox {
        if sc.read_only_root_filesystem != Some(true) {
            out.push(format!(
                "{at}.securityContext.readOnlyRootFilesystem must be true"
            ));
        }
        let limits = c
            .resources
            .as_ref()
            .and_then(|r| r.limits.clone())
            .unwrap_or_default();
        for resource in ["cpu", "memory", "ephemeral-storage"] {
            if !limits.contains_key(resource) {
                out.push(format!("{at}.resources.limits.{resource} must be set"));
            }
        }
    }
}
