//! `list`, `remove` and `gc`: sandboxes read back from their records, and everything left behind cleaned up.

use std::collections::BTreeMap;
use std::time::Duration;

use super::{Local, LocalRuntime, STARTING_GRACE_MS};
use crate::{GcReport, Result, SandboxInfo, Status, LEASE_LABEL};

pub(super) async fn list(
    runtime: &LocalRuntime,
    labels: &BTreeMap<String, String>,
) -> Result<Vec<SandboxInfo>> {
    let labels = labels.clone();
    runtime.blocking(move |local| local.list(&labels)).await
}

pub(super) async fn remove(runtime: &LocalRuntime, id: &str) -> Result<()> {
    let record = runtime.record(id).await?;
    if runtime.read_status(id).await? == Status::Running {
        super::stop::kill(runtime, id).await?;
    }
    delete_container(runtime, id).await;
    runtime
        .blocking(move |local| {
            std::fs::remove_dir_all(local.dir(&record.id))?;
            local.free_slot(record.slot);
            Ok(())
        })
        .await
}

/// The label older versions gave a `sandbox run` sandbox instead of a lease: its
/// owner's process id. Kept for one release, so that such sandboxes are still reaped
/// once their owner is gone.
pub const LEGACY_OWNER_PID_LABEL: &str = "burrow.owner-pid";

/// For a sandbox of an older version: whether the process that owned it still runs.
fn legacy_owner_alive(labels: &BTreeMap<String, String>) -> Option<bool> {
    let pid = labels.get(LEGACY_OWNER_PID_LABEL)?.parse::<i32>().ok()?;
    let pid = rustix::process::Pid::from_raw(pid)?;
    Some(rustix::process::test_kill_process(pid).is_ok())
}

pub(super) async fn gc(runtime: &LocalRuntime) -> Result<GcReport> {
    let mut report = GcReport::default();
    let sandboxes = list(runtime, &BTreeMap::new()).await?;
    // Whether each one's lease is held: `None` for sandboxes without a lease.
    let leases = {
        let labels: Vec<Option<String>> = sandboxes
            .iter()
            .map(|s| s.labels.get(LEASE_LABEL).cloned())
            .collect();
        runtime
            .blocking(move |local| {
                let dir = local.leases();
                Ok(labels
                    .into_iter()
                    .map(|id| id.map(|id| super::lease::held(&dir, &id)))
                    .collect::<Vec<_>>())
            })
            .await?
            .into_iter()
            .zip(&sandboxes)
            .map(|(held, s)| held.or_else(|| legacy_owner_alive(&s.labels)))
            .collect::<Vec<_>>()
    };
    for (info, held) in sandboxes.into_iter().zip(leases) {
        // One sandbox that will not go (a kill that does not take) must not keep the
        // others: note it, and go on.
        let outcome = collect_one(runtime, &info, held, &mut report).await;
        if let Err(e) = outcome {
            tracing::warn!(sandbox.id = %info.id, error = %e, "Could not collect a sandbox");
            report.failed.push(format!("{}: {e}", info.id));
        }
    }
    // Directories whose record this version cannot read, once nothing runs there.
    report
        .reaped
        .extend(remove_unreadable(runtime, Duration::from_millis(STARTING_GRACE_MS as u64)).await?);
    // Containers in the runtime's state with no sandbox record.
    let orphans = runtime.blocking(|local| local.orphans()).await?;
    for name in orphans {
        delete_container(runtime, &name).await;
        report.orphans.push(name);
    }
    runtime
        .blocking(|local| {
            local.free_abandoned_slots();
            super::lease::sweep(&local.leases());
            Ok(())
        })
        .await?;
    Ok(report)
}

/// Removes one sandbox if it should go: ended and no longer wanted, or running with no
/// holder or no supervisor.
async fn collect_one(
    runtime: &LocalRuntime,
    info: &SandboxInfo,
    held: Option<bool>,
    report: &mut GcReport,
) -> Result<()> {
    match (&info.status, held) {
        // A holder still alive may want the exit status; it removes the sandbox itself.
        (Status::Exited(_), Some(true)) => {}
        (Status::Exited(_), _) => {
            remove(runtime, &info.id).await?;
            report.removed.push(info.id.clone());
        }
        (Status::Lost, _) => {
            let record = runtime.record(&info.id).await?;
            delete_container(runtime, &info.id).await;
            runtime
                .blocking(move |local| {
                    std::fs::remove_dir_all(local.dir(&record.id))?;
                    local.free_slot(record.slot);
                    Ok(())
                })
                .await?;
            report.reaped.push(info.id.clone());
        }
        (Status::Running, Some(false)) => {
            remove(runtime, &info.id).await?;
            report.reaped.push(info.id.clone());
        }
        (Status::Running, _) => {}
    }
    Ok(())
}

/// `runc delete --force`: what is left of the container in the OCI runtime's state.
async fn delete_container(runtime: &LocalRuntime, id: &str) {
    let _ = runtime
        .runtime(vec!["delete".into(), "--force".into(), id.into()])
        .await;
}

/// Removes sandbox directories without a readable record whose shim is gone and that are
/// at least `grace` old; returns their ids.
pub(super) async fn remove_unreadable(
    runtime: &LocalRuntime,
    grace: Duration,
) -> Result<Vec<String>> {
    let mut removed = Vec::new();
    for id in runtime
        .blocking(move |local| Ok(local.unreadable(grace)))
        .await?
    {
        delete_container(runtime, &id).await;
        let gone = {
            let id = id.clone();
            runtime
                .blocking(move |local| Ok(std::fs::remove_dir_all(local.dir(&id))?))
                .await
        };
        if gone.is_ok() {
            removed.push(id);
        }
    }
    Ok(removed)
}

impl Local {
    fn list(&self, labels: &BTreeMap<String, String>) -> Result<Vec<SandboxInfo>> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(self.options.state_dir.join("sandboxes"))? {
            let id = entry?.file_name().to_string_lossy().into_owned();
            let Ok(record) = self.record(&id) else {
                continue;
            };
            if labels
                .iter()
                .any(|(k, v)| record.spec.labels.get(k) != Some(v))
            {
                continue;
            }
            out.push(SandboxInfo {
                status: self.read_status(&id)?,
                id,
                labels: record.spec.labels,
                command: record.spec.command,
                created_at_ms: record.created_at_ms,
            });
        }
        out.sort_by_key(|s| s.created_at_ms);
        Ok(out)
    }

    /// Sandbox directories without a readable record (cut short, or written by a version
    /// whose format this one cannot read) whose shim is gone and that are at least `grace`
    /// old (the start's, so nothing is still writing them).
    fn unreadable(&self, grace: Duration) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(self.options.state_dir.join("sandboxes")) else {
            return Vec::new();
        };
        entries
            .flatten()
            .filter(|entry| {
                let id = entry.file_name().to_string_lossy().into_owned();
                let dir = entry.path();
                let old = std::fs::metadata(&dir)
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|t| t.elapsed().ok())
                    .is_some_and(|age| age >= grace);
                let shim_alive =
                    std::fs::File::open(dir.join(crate::shim::SHIM_LOCK)).is_ok_and(|lock| {
                        rustix::fs::flock(&lock, rustix::fs::FlockOperation::NonBlockingLockShared)
                            .is_err()
                    });
                old && !shim_alive && self.record(&id).is_err()
            })
            .map(|entry| entry.file_name().to_string_lossy().into_owned())
            .collect()
    }

    /// Containers in the OCI runtime's state whose sandbox has no directory.
    fn orphans(&self) -> Result<Vec<String>> {
        let mut orphans = Vec::new();
        for entry in std::fs::read_dir(self.options.state_dir.join("runtime"))? {
            let name = entry?.file_name().to_string_lossy().into_owned();
            if !self.dir(&name).exists() {
                orphans.push(name);
            }
        }
        Ok(orphans)
    }

    /// Frees slots whose sandbox is gone.
    fn free_abandoned_slots(&self) {
        let Ok(entries) = std::fs::read_dir(self.options.state_dir.join("slots")) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let owner = std::fs::read_to_string(&path).unwrap_or_default();
            // A slot is taken just before its sandbox's directory is made: leave young ones.
            let young = std::fs::metadata(&path)
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_none_or(|age| age < Duration::from_millis(STARTING_GRACE_MS as u64));
            if !young && !self.dir(owner.trim()).exists() {
                let _ = std::fs::remove_file(path);
            }
        }
    }
}
