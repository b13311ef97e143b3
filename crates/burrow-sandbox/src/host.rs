//! Host checks for `burrow sandbox doctor`: what sandboxes need and how to get it.

use std::path::Path;
use std::process::Command;

use crate::cgroup::{self, CgroupVersion};

/// One finding: what was checked, whether it is fine, and what to do if not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub name: String,
    pub ok: bool,
    pub detail: String,
    /// How to fix it; empty when `ok`.
    pub fix: String,
}

fn check(name: &str, ok: bool, detail: impl Into<String>, fix: impl Into<String>) -> Check {
    Check {
        name: name.into(),
        ok,
        detail: detail.into(),
        fix: if ok { String::new() } else { fix.into() },
    }
}

fn writable(path: &Path) -> bool {
    rustix::fs::access(path, rustix::fs::Access::WRITE_OK).is_ok()
}

/// Runs every check. `runtime_bin` and `init` are the configured binaries.
pub fn diagnose(runtime_bin: &Path, init: &Path) -> Vec<Check> {
    let mut checks = Vec::new();
    let version = Command::new(runtime_bin).arg("--version").output();
    checks.push(match version {
        Ok(out) if out.status.success() => {
            let text = String::from_utf8_lossy(&out.stdout);
            check(
                "OCI runtime",
                true,
                text.lines().next().unwrap_or_default().to_owned(),
                "",
            )
        }
        _ => check(
            "OCI runtime",
            false,
            format!("{} not found or not working", runtime_bin.display()),
            "apt-get install runc (or set sandbox.runtime to crun or youki)",
        ),
    });
    checks.push(check(
        "init process",
        init.exists(),
        init.display().to_string(),
        "apt-get install tini (or set sandbox.init)",
    ));
    checks.push(check(
        "running as root",
        rustix::process::geteuid().is_root(),
        format!("uid {}", rustix::process::geteuid().as_raw()),
        "run burrow as root: it maps each sandbox to its own unprivileged uid range",
    ));
    let max_userns: u64 = std::fs::read_to_string("/proc/sys/user/max_user_namespaces")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0);
    checks.push(check(
        "user namespaces",
        max_userns > 0,
        format!("user.max_user_namespaces = {max_userns}"),
        "sysctl -w user.max_user_namespaces=15000",
    ));
    let cg = cgroup::detect();
    let (label, controllers): (String, Vec<(&str, std::path::PathBuf)>) = match cg {
        CgroupVersion::V2 => (
            "v2 (unified)".into(),
            ["memory", "pids", "cpu"]
                .iter()
                .map(|c| {
                    (
                        *c,
                        Path::new("/sys/fs/cgroup/cgroup.subtree_control").to_path_buf(),
                    )
                })
                .collect(),
        ),
        CgroupVersion::V1 { hybrid } => (
            if hybrid {
                "v1 (hybrid, with a v2 mount)".into()
            } else {
                "v1".into()
            },
            ["memory", "pids", "cpu"]
                .iter()
                .map(|c| (*c, Path::new("/sys/fs/cgroup").join(c)))
                .collect(),
        ),
    };
    checks.push(check("cgroups", true, label, ""));
    let v2_enabled =
        std::fs::read_to_string("/sys/fs/cgroup/cgroup.controllers").unwrap_or_default();
    for (name, path) in controllers {
        let present = match cg {
            CgroupVersion::V2 => v2_enabled.split_whitespace().any(|c| c == name),
            CgroupVersion::V1 { .. } => path.is_dir(),
        };
        checks.push(check(
            &format!("cgroup controller {name}"),
            present && writable(&path),
            if present { format!("{} writable: {}", path.display(), writable(&path)) } else { "not mounted".into() },
            format!("mount the {name} controller writable for root (or run burrow outside a read-only cgroup namespace)"),
        ));
    }
    let seccomp = std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .any(|l| l.starts_with("Seccomp:"));
    checks.push(check(
        "seccomp",
        seccomp,
        if seccomp {
            "supported by the kernel"
        } else {
            "not supported"
        },
        "use a kernel built with CONFIG_SECCOMP_FILTER",
    ));
    let python = Path::new("/usr/bin/python3");
    checks.push(check(
        "python3",
        python.exists(),
        python.display().to_string(),
        "apt-get install python3",
    ));
    checks
}
