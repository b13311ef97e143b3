//! Turns a [`SandboxSpec`] into an OCI runtime `config.json`, typed by the `oci-spec` crate.
//!
//! The document is written as JSON for readability and then parsed into
//! `oci_spec::runtime::Spec`, so a field the spec does not know fails here, in
//! tests, rather than inside runc.

use serde_json::{json, Value};

use crate::spec::{SandboxSpec, HOME};
use crate::SandboxError;

/// The unprivileged user that sandboxed code runs as, inside the sandbox.
pub const SANDBOX_UID: u32 = 1000;
/// How many ids each sandbox's user namespace maps.
pub const ID_RANGE: u32 = 65536;

/// Per-sandbox facts the runtime decides.
#[derive(Debug, Clone)]
pub struct Placement {
    /// The sandbox's id; also its hostname.
    pub id: String,
    /// First host uid/gid of this sandbox's private range.
    pub host_id_base: u32,
    /// The cgroup the runtime puts the sandbox in.
    pub cgroups_path: String,
    /// The init process run as PID 1, which reaps zombies and forwards signals.
    pub init: String,
    /// The spec's mounts, with their sources on this host.
    pub mounts: Vec<HostMount>,
}

/// A mount of the spec, found on this host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostMount {
    pub destination: String,
    pub source: HostSource,
    pub writable: bool,
}

/// Where a mount comes from on this host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostSource {
    /// A folder, bound.
    Folder(std::path::PathBuf),
    /// A new tmpfs of this size.
    Tmpfs { size_bytes: u64 },
}

/// The `process` object, shared by the main process and `exec`.
pub fn process(
    args: &[String],
    env: &[(String, String)],
    cwd: &str,
    terminal: bool,
    open_files: u64,
) -> Value {
    let env: Vec<String> = env.iter().map(|(k, v)| format!("{k}={v}")).collect();
    json!({
        "terminal": terminal,
        "user": {"uid": SANDBOX_UID, "gid": SANDBOX_UID, "additionalGids": []},
        "args": args,
        "env": env,
        "cwd": cwd,
        "capabilities": {"bounding": [], "effective": [], "inheritable": [], "permitted": [], "ambient": []},
        "rlimits": [
            {"type": "RLIMIT_NOFILE", "hard": open_files, "soft": open_files},
            {"type": "RLIMIT_CORE", "hard": 0, "soft": 0},
        ],
        "noNewPrivileges": true,
        "oomScoreAdj": 1000,
    })
}

fn tmpfs(destination: &str, options: &[String]) -> Value {
    json!({"destination": destination, "type": "tmpfs", "source": "tmpfs", "options": options})
}

/// Read-only binds of the host's system directories that programs need.
const SYSTEM_DIRS: &[&str] = &[
    "/usr",
    "/etc/alternatives",
    "/etc/ssl",
    "/etc/ld.so.cache",
    "/etc/localtime",
];

/// The CFS quota and period, in microseconds, that give `cpus` cores.
pub fn cpu_quota(cpus: f64) -> (i64, u64) {
    let period: u64 = 100_000;
    ((cpus * period as f64).round().max(1000.0) as i64, period)
}

/// The full OCI configuration for `spec`.
pub fn config(
    spec: &SandboxSpec,
    placement: &Placement,
) -> Result<oci_spec::runtime::Spec, SandboxError> {
    let limits = &spec.limits;
    let scratch_of = |disk: u64, mode: &str, owner: bool| {
        // Inodes scale with size, so a sandbox cannot exhaust inodes faster than bytes.
        let inodes = (disk / 4096).clamp(1024, 1 << 20);
        let mut o = vec![
            "nosuid".to_owned(),
            "nodev".to_owned(),
            format!("size={disk}"),
            format!("nr_inodes={inodes}"),
            format!("mode={mode}"),
        ];
        if owner {
            o.push(format!("uid={SANDBOX_UID}"));
            o.push(format!("gid={SANDBOX_UID}"));
        }
        o
    };
    let scratch = |mode: &str, owner: bool| scratch_of(limits.disk_bytes, mode, owner);
    let mut mounts = vec![
        json!({"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]}),
        tmpfs(
            "/dev",
            &[
                "nosuid".into(),
                "strictatime".into(),
                "mode=755".into(),
                "size=65536k".into(),
            ],
        ),
        json!({"destination": "/dev/pts", "type": "devpts", "source": "devpts",
               "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]}),
        tmpfs("/dev/shm", &scratch("1777", false)),
        json!({"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]}),
        tmpfs("/tmp", &scratch("1777", false)),
        tmpfs(HOME, &scratch("0755", true)),
    ];
    for dir in SYSTEM_DIRS {
        if std::path::Path::new(dir).exists() {
            mounts.push(json!({"destination": dir, "type": "bind", "source": dir,
                               "options": ["rbind", "ro", "nosuid", "nodev"]}));
        }
    }
    for m in &placement.mounts {
        let mode = if m.writable { "rw" } else { "ro" };
        match &m.source {
            HostSource::Folder(folder) => mounts.push(
                json!({"destination": m.destination, "type": "bind", "source": folder,
                       "options": ["rbind", mode, "nosuid", "nodev"]}),
            ),
            HostSource::Tmpfs { size_bytes } => {
                let mut options = scratch_of(*size_bytes, "0755", true);
                options.push(mode.to_owned());
                mounts.push(tmpfs(&m.destination, &options));
            }
        }
    }

    let mut args = vec![
        placement.init.clone(),
        "-s".to_owned(),
        "-g".to_owned(),
        "--".to_owned(),
    ];
    args.extend(spec.command.iter().cloned());
    let (cpu_quota, cpu_period) = cpu_quota(limits.cpus);
    let id_map = json!([{"containerID": 0, "hostID": placement.host_id_base, "size": ID_RANGE}]);

    // The network's variables replace any of the same name: a program sees one value.
    let network = spec.network.env();
    let mut env: Vec<(String, String)> = spec
        .env
        .iter()
        .filter(|(k, _)| !network.iter().any(|(n, _)| n == k))
        .cloned()
        .collect();
    env.extend(network);
    let doc = json!({
        "ociVersion": "1.0.2",
        "process": process(&args, &env, &spec.cwd, false, limits.open_files),
        "root": {"path": "rootfs", "readonly": true},
        "hostname": placement.id,
        "mounts": mounts,
        "linux": {
            "uidMappings": id_map,
            "gidMappings": id_map,
            "namespaces": [
                {"type": "pid"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"},
                {"type": "mount"}, {"type": "user"}, {"type": "cgroup"},
            ],
            "cgroupsPath": placement.cgroups_path,
            "resources": {
                "devices": [{"allow": false, "access": "rwm"}],
                "memory": {"limit": limits.memory_bytes, "swap": limits.memory_bytes},
                "cpu": {"quota": cpu_quota, "period": cpu_period},
                "pids": {"limit": limits.pids},
            },
            "seccomp": crate::seccomp::profile(),
            "maskedPaths": [
                "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
                "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi",
                "/sys/firmware", "/sys/devices/virtual/powercap",
            ],
            "readonlyPaths": [
                "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
            ],
        },
    });
    serde_json::from_value(doc)
        .map_err(|e| SandboxError::Internal(format!("generated OCI config is invalid: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn placement() -> Placement {
        Placement {
            id: "sb-test".into(),
            host_id_base: 200_000,
            cgroups_path: "/burrow/sb-test".into(),
            init: "/usr/bin/tini".into(),
            mounts: Vec::new(),
        }
    }

    #[test]
    fn isolation_is_complete() {
        let spec = SandboxSpec::new(vec!["python3".into(), "-c".into(), "pass".into()]);
        let mut placement = placement();
        placement.mounts = vec![
            HostMount {
                destination: "/code".into(),
                source: HostSource::Folder("/srv/code".into()),
                writable: false,
            },
            HostMount {
                destination: "/scratch".into(),
                source: HostSource::Tmpfs {
                    size_bytes: 8 << 20,
                },
                writable: true,
            },
        ];
        let config = serde_json::to_value(config(&spec, &placement).unwrap()).unwrap();
        let ns: Vec<&str> = config["linux"]["namespaces"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["type"].as_str().unwrap())
            .collect();
        for kind in ["pid", "network", "ipc", "uts", "mount", "user", "cgroup"] {
            assert!(ns.contains(&kind), "{kind} namespace");
        }
        assert_eq!(config["root"]["readonly"], true);
        assert_eq!(config["process"]["noNewPrivileges"], true);
        assert_eq!(config["process"]["user"]["uid"], SANDBOX_UID);
        assert_eq!(config["process"]["capabilities"]["effective"], json!([]));
        assert_eq!(config["process"]["args"][0], "/usr/bin/tini");
        assert_eq!(config["linux"]["uidMappings"][0]["hostID"], 200_000);
        let code = config["mounts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["destination"] == "/code")
            .unwrap();
        for opt in ["ro", "nosuid", "nodev"] {
            assert!(
                code["options"].as_array().unwrap().contains(&json!(opt)),
                "{opt}"
            );
        }
        let scratch = config["mounts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["destination"] == "/scratch")
            .unwrap();
        assert_eq!(scratch["type"], "tmpfs");
        for opt in ["size=8388608", "uid=1000", "rw", "nosuid", "nodev"] {
            assert!(
                scratch["options"].as_array().unwrap().contains(&json!(opt)),
                "{opt}"
            );
        }
        assert!(config["linux"]["maskedPaths"]
            .as_array()
            .unwrap()
            .contains(&json!("/proc/kcore")));
        assert!(!config["process"]["env"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e.as_str().unwrap().starts_with("HOSTNAME")));
    }

    #[test]
    fn an_egress_proxy_is_the_only_proxy_the_process_sees() {
        let mut spec = SandboxSpec::new(vec!["python3".into()]);
        spec.env
            .push(("https_proxy".into(), "http://elsewhere:1".into()));
        spec.network = crate::Network::EgressProxy { port: 3128 };
        let doc = serde_json::to_value(config(&spec, &placement()).unwrap()).unwrap();
        let env: Vec<&str> = doc["process"]["env"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e.as_str().unwrap())
            .collect();
        for name in ["HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"] {
            let set: Vec<&&str> = env
                .iter()
                .filter(|e| e.starts_with(&format!("{name}=")))
                .collect();
            assert_eq!(
                set,
                vec![&format!("{name}=http://127.0.0.1:3128").as_str()],
                "{env:?}"
            );
        }
        assert!(env.contains(&"NO_PROXY=localhost,127.0.0.1"));
        spec.network = crate::Network::Loopback;
        let config = serde_json::to_value(config(&spec, &placement()).unwrap()).unwrap();
        assert!(!config["process"]["env"]
            .to_string()
            .contains("127.0.0.1:3128"));
    }
}
