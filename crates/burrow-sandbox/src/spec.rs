//! What a sandbox is asked to be: command, environment, mounts, limits and labels.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::SandboxError;

/// Everything needed to start a sandbox. Nothing else from the host reaches it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SandboxSpec {
    /// The program and its arguments; `command[0]` is looked up in the sandbox's `PATH`.
    pub command: Vec<String>,
    /// Working directory inside the sandbox.
    pub cwd: String,
    /// The whole environment of the process: nothing is inherited from the host.
    pub env: Vec<(String, String)>,
    /// Named volumes to mount into the sandbox.
    pub mounts: Vec<Mount>,
    pub limits: Limits,
    /// What the sandbox may reach beyond its own loopback.
    #[serde(default)]
    pub network: Network,
    /// Ports on the sandbox's loopback where host services listen. `create` opens their
    /// listeners before the process starts, so a connection it makes at once finds them,
    /// and hands them back.
    #[serde(default)]
    pub host_services: Vec<u16>,
    /// Free-form labels to find the sandbox again (`list`), such as `burrow.app=…`.
    pub labels: BTreeMap<String, String>,
}

/// A sandbox's network. Either way it has only loopback, in a namespace of its own, and
/// no route anywhere: what it reaches beyond, it reaches through host services.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Network {
    /// Loopback only.
    #[default]
    Loopback,
    /// Loopback, with `HTTP_PROXY`, `HTTPS_PROXY` (both cases) pointing at a host service
    /// on `127.0.0.1:port` and `NO_PROXY` naming loopback, so HTTP clients go out
    /// through the proxy Burrow serves there, and only through it.
    EgressProxy { port: u16 },
}

impl Network {
    /// The environment the network asks for.
    pub fn env(&self) -> Vec<(String, String)> {
        match self {
            Network::Loopback => Vec::new(),
            Network::EgressProxy { port } => {
                let proxy = format!("http://127.0.0.1:{port}");
                let mut env = Vec::new();
                for name in ["HTTP_PROXY", "HTTPS_PROXY"] {
                    env.push((name.to_owned(), proxy.clone()));
                    env.push((name.to_ascii_lowercase(), proxy.clone()));
                }
                for name in ["NO_PROXY", "no_proxy"] {
                    env.push((name.to_owned(), "localhost,127.0.0.1".to_owned()));
                }
                env
            }
        }
    }
}

/// A folder in the sandbox, named by what it carries; never by where it is on a host, so a
/// spec means the same on any runtime. Always `nosuid` and `nodev`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "MountRecord")]
pub struct Mount {
    pub volume: Volume,
    pub destination: String,
    pub writable: bool,
}

/// What a mount carries. The names are opaque to the sandbox: each runtime finds the
/// volume itself (the local one asks its [`VolumeResolver`](crate::VolumeResolver), which
/// knows the data directory's layout).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Volume {
    /// A built environment (interpreter and packages), by its key, such as `base-…`.
    Environment { key: String },
    /// A workload's code at one version, such as an app's unpacked upload; `owner` is
    /// whose code it is, such as the app's id.
    Code { owner: String, version: i64 },
    /// A workspace's persistent folder, by the workspace's id.
    Workspace { id: String },
    /// The files that hold a workload's secrets at one revision, such as an app's
    /// `secrets.toml`; `owner` is whose they are. Mounted read-only.
    Secrets { owner: String, revision: i64 },
    /// A folder that is empty when the sandbox starts and is filled once it is handed
    /// its work, such as a warm app sandbox's code and secrets; `id` names it. Mounted
    /// read-only.
    Assigned { id: String },
    /// An empty tmpfs of `size_bytes`, owned by the sandbox's user, counted against the
    /// memory limit and gone with the sandbox.
    Scratch { size_bytes: u64 },
    /// An empty folder of at most `size_bytes`, owned by the sandbox's user, that Burrow
    /// reads and writes while the sandbox runs (a workspace's files), gone with the
    /// sandbox; [`Runtime::shared_folder`](crate::Runtime::shared_folder) says where
    /// Burrow finds it. The local runtime makes it a tmpfs, as a scratch space; a runtime
    /// whose sandboxes run on other machines keeps it where Burrow can reach it.
    Shared { size_bytes: u64 },
    /// A folder of this host, by absolute path, for `burrow sandbox run --mount` only:
    /// a debugging aid of the local runtime. A runtime on other machines refuses it.
    HostPath { path: PathBuf },
}

impl std::fmt::Display for Volume {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Volume::Environment { key } => write!(f, "environment {key}"),
            Volume::Code { owner, version } => write!(f, "the code of {owner} v{version}"),
            Volume::Workspace { id } => write!(f, "workspace {id}"),
            Volume::Secrets { owner, revision } => {
                write!(f, "the secrets of {owner} at revision {revision}")
            }
            Volume::Assigned { id } => write!(f, "the assigned folder {id}"),
            Volume::Scratch { size_bytes } => {
                write!(f, "a {} scratch space", format_size(*size_bytes))
            }
            Volume::Shared { size_bytes } => {
                write!(
                    f,
                    "a {} folder shared with Burrow",
                    format_size(*size_bytes)
                )
            }
            Volume::HostPath { path } => write!(f, "host folder {}", path.display()),
        }
    }
}

/// A mount as records hold it: named, or as written before mounts were named (a host
/// path in `source`), which reads back as [`Volume::HostPath`].
#[derive(Deserialize)]
#[serde(untagged)]
enum MountRecord {
    Named {
        volume: Volume,
        destination: String,
        writable: bool,
    },
    HostPath {
        source: PathBuf,
        destination: String,
        writable: bool,
    },
}

impl From<MountRecord> for Mount {
    fn from(record: MountRecord) -> Self {
        match record {
            MountRecord::Named {
                volume,
                destination,
                writable,
            } => Mount {
                volume,
                destination,
                writable,
            },
            MountRecord::HostPath {
                source,
                destination,
                writable,
            } => Mount {
                volume: Volume::HostPath { path: source },
                destination,
                writable,
            },
        }
    }
}

/// Resource limits. Every sandbox has all of them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Limits {
    /// Memory, including tmpfs contents, in bytes.
    pub memory_bytes: u64,
    /// CPU quota in cores, such as 0.5.
    pub cpus: f64,
    /// Maximum number of processes and threads.
    pub pids: u64,
    /// Maximum open file descriptors per process.
    pub open_files: u64,
    /// Wall-clock limit for the main process; `None` runs until stopped.
    pub timeout: Option<Duration>,
    /// Size of each writable scratch space (`/tmp`, the home directory), in bytes.
    pub disk_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            memory_bytes: 512 * 1024 * 1024,
            cpus: 1.0,
            pids: 128,
            open_files: 1024,
            timeout: None,
            disk_bytes: 64 * 1024 * 1024,
        }
    }
}

/// The home directory inside every sandbox, a size-capped tmpfs.
pub const HOME: &str = "/home/sandbox";

impl SandboxSpec {
    /// A spec for `command` with default limits, a minimal environment and no mounts.
    pub fn new(command: Vec<String>) -> Self {
        Self {
            command,
            cwd: HOME.to_owned(),
            env: default_env(),
            mounts: Vec::new(),
            limits: Limits::default(),
            network: Network::default(),
            host_services: Vec::new(),
            labels: BTreeMap::new(),
        }
    }

    /// Rejects specs that cannot work, saying why.
    pub fn validate(&self) -> Result<(), SandboxError> {
        let bad = |m: String| Err(SandboxError::InvalidSpec(m));
        if self.command.is_empty() || self.command[0].is_empty() {
            return bad("the command is empty: give a program to run".into());
        }
        if !self.cwd.starts_with('/') {
            return bad(format!(
                "the working directory {:?} is not absolute",
                self.cwd
            ));
        }
        for m in &self.mounts {
            let Some(dest) = normalize_destination(&m.destination) else {
                return bad(format!(
                    "mount destination {:?} must be an absolute path without empty, . or .. components",
                    m.destination
                ));
            };
            let under = |a: &str, b: &str| a == b || a.starts_with(&format!("{b}/")) || b == "/";
            // A folder inside the home directory is the sandbox's own to mount, such as
            // a workspace's files at `/home/sandbox/work`; the home directory is not.
            let inside_home = dest.starts_with(&format!("{HOME}/"));
            if dest == "/"
                || (!inside_home && RESERVED.iter().any(|r| under(&dest, r) || under(r, &dest)))
            {
                return bad(format!(
                    "mount destination {:?} is, or covers, a path reserved for the system",
                    m.destination
                ));
            }
            check_volume(&m.volume)?;
            if m.writable && matches!(m.volume, Volume::Secrets { .. }) {
                return bad(format!(
                    "the secrets at {:?} are mounted read-only: a sandbox never writes them",
                    m.destination
                ));
            }
            if m.writable && matches!(m.volume, Volume::Assigned { .. }) {
                return bad(format!(
                    "the assigned folder at {:?} is mounted read-only: it holds what the \
                     sandbox is handed, such as code and secrets",
                    m.destination
                ));
            }
        }
        for (i, port) in self.host_services.iter().enumerate() {
            if *port == 0 || self.host_services[..i].contains(port) {
                return bad(format!(
                    "host service port {port} is zero or given twice: give each service its own port"
                ));
            }
        }
        for (k, _) in &self.env {
            if k.is_empty() || k.contains('=') || k.contains('\0') {
                return bad(format!("environment variable name {k:?} is invalid"));
            }
        }
        let l = &self.limits;
        if l.memory_bytes < 8 * 1024 * 1024 {
            return bad("the memory limit is below 8M: nothing runs in that".into());
        }
        if !(l.cpus > 0.0 && l.cpus <= 256.0) {
            return bad(format!("the CPU limit {} must be above 0", l.cpus));
        }
        if l.pids < 4 {
            return bad("the pids limit must be at least 4".into());
        }
        if l.open_files < 16 {
            return bad("the open files limit must be at least 16".into());
        }
        if l.disk_bytes < 1024 * 1024 {
            return bad("the disk limit must be at least 1M".into());
        }
        Ok(())
    }
}

/// Paths the runtime owns inside every sandbox; tenant mounts may not cover them.
const RESERVED: &[&str] = &[
    "/proc", "/sys", "/dev", "/usr", "/etc", "/tmp", "/bin", "/lib", "/lib64", "/sbin", HOME,
];

/// `/a/b` from a destination, or `None` if it is relative or has empty, `.` or `..` parts.
fn normalize_destination(raw: &str) -> Option<String> {
    let rest = raw.strip_prefix('/')?;
    if rest.is_empty() {
        return Some("/".into());
    }
    let parts: Vec<&str> = rest.trim_end_matches('/').split('/').collect();
    if parts
        .iter()
        .any(|p| p.is_empty() || *p == "." || *p == "..")
    {
        return None;
    }
    Some(format!("/{}", parts.join("/")))
}

/// Rejects volume names that are empty or could be read as paths, and scratch sizes that
/// cannot hold anything; whether the volume exists is the runtime's to find out.
fn check_volume(volume: &Volume) -> Result<(), SandboxError> {
    let name_ok = |n: &str| {
        !n.is_empty()
            && !n.starts_with('.')
            && n.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
    };
    let bad_name = |what: &str, n: &str| {
        Err(SandboxError::InvalidSpec(format!(
            "{what} {n:?} is not a volume name: use letters, digits, '-', '_' and '.', not first"
        )))
    };
    match volume {
        Volume::Environment { key } if !name_ok(key) => bad_name("environment", key),
        Volume::Code { owner, .. } if !name_ok(owner) => bad_name("code owner", owner),
        Volume::Workspace { id } if !name_ok(id) => bad_name("workspace", id),
        Volume::Secrets { owner, .. } if !name_ok(owner) => bad_name("secrets owner", owner),
        Volume::Assigned { id } if !name_ok(id) => bad_name("assigned folder", id),
        Volume::Scratch { size_bytes } | Volume::Shared { size_bytes }
            if *size_bytes < 1024 * 1024 =>
        {
            let what = match volume {
                Volume::Shared { .. } => "folder shared with Burrow",
                _ => "scratch volume",
            };
            Err(SandboxError::InvalidSpec(format!(
                "a {what} of {size_bytes} bytes is too small: give it at least 1M"
            )))
        }
        Volume::HostPath { path } if !path.is_absolute() => Err(SandboxError::InvalidSpec(
            format!("mount source {} must be an absolute path", path.display()),
        )),
        _ => Ok(()),
    }
}

/// The environment every sandbox starts with.
pub fn default_env() -> Vec<(String, String)> {
    vec![
        ("PATH".into(), "/usr/local/bin:/usr/bin:/bin".into()),
        ("HOME".into(), HOME.into()),
        ("LANG".into(), "C.UTF-8".into()),
        ("PYTHONDONTWRITEBYTECODE".into(), "1".into()),
        ("PYTHONUNBUFFERED".into(), "1".into()),
    ]
}

/// Parses sizes such as `256M`, `1G`, `512k` or `1048576`.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let (num, mult) = match s.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => {
            let mult = match c.to_ascii_lowercase() {
                'k' => 1024,
                'm' => 1024 * 1024,
                'g' => 1024 * 1024 * 1024,
                _ => return Err(format!("unknown size suffix in {s:?}: use k, M or G")),
            };
            (&s[..i], mult)
        }
        _ => (s, 1),
    };
    let n: u64 = num
        .trim()
        .parse()
        .map_err(|_| format!("{s:?} is not a size such as 256M"))?;
    n.checked_mul(mult)
        .ok_or_else(|| format!("{s:?} is too large"))
}

/// Formats a size the way people write it: `256M`.
pub fn format_size(bytes: u64) -> String {
    for (suffix, unit) in [("G", 1u64 << 30), ("M", 1 << 20), ("k", 1 << 10)] {
        if bytes >= unit && bytes.is_multiple_of(unit) {
            return format!("{}{suffix}", bytes / unit);
        }
    }
    bytes.to_string()
}

/// Parses durations such as `30s`, `5m`, `1h` or `250ms`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a duration such as 30s"))?;
    match unit {
        "ms" => Ok(Duration::from_millis(n)),
        "" | "s" => Ok(Duration::from_secs(n)),
        "m" => Ok(Duration::from_secs(n.saturating_mul(60))),
        "h" => Ok(Duration::from_secs(n.saturating_mul(3600))),
        _ => Err(format!("unknown duration unit in {s:?}: use ms, s, m or h")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_durations_parse_and_format() {
        assert_eq!(parse_size("256M").unwrap(), 256 << 20);
        assert_eq!(parse_size("1g").unwrap(), 1 << 30);
        assert_eq!(parse_size("4096").unwrap(), 4096);
        assert!(parse_size("12X").is_err());
        assert_eq!(format_size(256 << 20), "256M");
        assert_eq!(format_size(1000), "1000");
        assert_eq!(parse_duration("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert!(parse_duration("3 weeks").is_err());
    }

    #[test]
    fn validation_names_the_problem() {
        let mut spec = SandboxSpec::new(vec![]);
        assert!(spec
            .validate()
            .unwrap_err()
            .to_string()
            .contains("command is empty"));
        spec.command = vec!["python3".into()];
        spec.mounts.push(Mount {
            volume: Volume::Code {
                owner: "app1".into(),
                version: 1,
            },
            destination: "/proc/x".into(),
            writable: false,
        });
        assert!(spec
            .validate()
            .unwrap_err()
            .to_string()
            .contains("reserved"));
        spec.mounts[0].destination = "/code/../etc".into();
        assert!(spec.validate().unwrap_err().to_string().contains(".."));
        for sneaky in [
            "//tmp",
            "/./usr",
            "/home//sandbox",
            "/home",
            "/home/sandbox",
            "/home/sandbox/",
            "/home/sandbox/../../etc",
            "/usr/lib",
        ] {
            spec.mounts[0].destination = sneaky.into();
            assert!(spec.validate().is_err(), "{sneaky} accepted");
        }
        // A folder inside the home directory is the sandbox's own (a workspace's files).
        spec.mounts[0].destination = "/home/sandbox/work".into();
        assert!(spec.validate().is_ok());
        spec.mounts[0].destination = "/code".into();
        assert!(spec.validate().is_ok());
        for sneaky in ["../etc", "", ".hidden", "a/b"] {
            spec.mounts[0].volume = Volume::Environment { key: sneaky.into() };
            assert!(spec.validate().is_err(), "{sneaky:?} accepted");
        }
        spec.mounts[0].volume = Volume::Scratch { size_bytes: 4096 };
        assert!(spec
            .validate()
            .unwrap_err()
            .to_string()
            .contains("at least 1M"));
    }

    #[test]
    fn mounts_read_back_named_and_from_records_of_host_paths() {
        let named = Mount {
            volume: Volume::Environment {
                key: "base-abc".into(),
            },
            destination: "/opt/burrow/env".into(),
            writable: false,
        };
        let text = serde_json::to_string(&named).unwrap();
        assert_eq!(
            text,
            r#"{"volume":{"kind":"environment","key":"base-abc"},"destination":"/opt/burrow/env","writable":false}"#
        );
        assert_eq!(serde_json::from_str::<Mount>(&text).unwrap(), named);
        let old: Mount = serde_json::from_str(
            r#"{"source":"/srv/data/envs/base/base-abc","destination":"/opt/burrow/env","writable":false}"#,
        )
        .unwrap();
        assert_eq!(
            old.volume,
            Volume::HostPath {
                path: "/srv/data/envs/base/base-abc".into()
            }
        );
    }
}
