//! Which cgroup version the host runs, and where a sandbox's memory events and peak are counted.

use std::path::{Path, PathBuf};

const ROOT: &str = "/sys/fs/cgroup";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CgroupVersion {
    /// Only cgroup v1 hierarchies, possibly with a v2 mount beside them ("hybrid").
    V1 { hybrid: bool },
    /// The unified v2 hierarchy only.
    V2,
}

/// Detects the host's cgroup layout the way runc does.
pub fn detect() -> CgroupVersion {
    if Path::new(ROOT).join("cgroup.controllers").exists() {
        CgroupVersion::V2
    } else {
        CgroupVersion::V1 {
            hybrid: Path::new(ROOT).join("unified/cgroup.controllers").exists(),
        }
    }
}

/// The file whose `oom_kill` counter says whether the sandbox was killed for memory.
pub fn oom_events_file(cgroups_path: &str) -> PathBuf {
    let rel = cgroups_path.trim_start_matches('/');
    match detect() {
        CgroupVersion::V2 => Path::new(ROOT).join(rel).join("memory.events"),
        CgroupVersion::V1 { .. } => Path::new(ROOT)
            .join("memory")
            .join(rel)
            .join("memory.oom_control"),
    }
}

/// How many processes of the cgroup the OOM killer has killed.
pub fn oom_kills(cgroups_path: &str) -> u64 {
    std::fs::read_to_string(oom_events_file(cgroups_path))
        .ok()
        .and_then(|text| parse_oom_kill(&text))
        .unwrap_or(0)
}

/// The most memory the cgroup has used since it was made: `memory.peak` on cgroup v2
/// (Linux 5.19 and later), `memory.max_usage_in_bytes` on v1. Read before the cgroup
/// goes; `None` when neither can be read.
pub fn peak_memory(cgroups_path: &str) -> Option<u64> {
    read_memory(cgroups_path, "memory.peak", "memory.max_usage_in_bytes")
}

/// The memory the cgroup uses now: `memory.current` on cgroup v2,
/// `memory.usage_in_bytes` on v1; `None` when neither can be read.
pub fn current_memory(cgroups_path: &str) -> Option<u64> {
    read_memory(cgroups_path, "memory.current", "memory.usage_in_bytes")
}

/// A number from the cgroup's memory controller, by its file's name on v2 and on v1.
fn read_memory(cgroups_path: &str, v2: &str, v1: &str) -> Option<u64> {
    let rel = cgroups_path.trim_start_matches('/');
    let file = match detect() {
        CgroupVersion::V2 => Path::new(ROOT).join(rel).join(v2),
        CgroupVersion::V1 { .. } => Path::new(ROOT).join("memory").join(rel).join(v1),
    };
    std::fs::read_to_string(file).ok()?.trim().parse().ok()
}

fn parse_oom_kill(text: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix("oom_kill ")?.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_oom_kill_counter_in_both_formats() {
        assert_eq!(
            parse_oom_kill("oom_kill_disable 0\nunder_oom 0\noom_kill 2\n"),
            Some(2)
        );
        assert_eq!(
            parse_oom_kill("low 0\nhigh 0\nmax 5\noom 1\noom_kill 1\n"),
            Some(1)
        );
        assert_eq!(parse_oom_kill("nothing"), None);
    }
}
