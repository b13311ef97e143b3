//! Leases on this machine: an exclusive `flock` on `leases/<id>`, kept by the holder's open file and released by the kernel when it dies.
//!
//! A pid would do the same until it is reused; a lock cannot outlive its holder. The file
//! is locked under a hidden name and then renamed into place, so `gc` never sees a lease
//! that exists but is not yet held.

use std::fs::File;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rustix::fs::{flock, FlockOperation};

use super::{random_id, STARTING_GRACE_MS};
use crate::{Lease, Result, SandboxError};

/// Holds the lock for as long as it lives; dropping it ends the lease.
#[derive(Debug)]
struct Held {
    path: PathBuf,
    _file: File,
}

impl Drop for Held {
    fn drop(&mut self) {
        // The lock goes with the file; the name goes too, so that `gc` has less to sweep.
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Takes a new lease under `dir`.
pub(super) fn take(dir: &Path) -> Result<Lease> {
    let id = random_id("ls-");
    let hidden = dir.join(format!(".{id}"));
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&hidden)?;
    flock(&file, FlockOperation::NonBlockingLockExclusive).map_err(|e| {
        SandboxError::Host(format!(
            "cannot lock the lease file {}: {e}: the state directory must be on a local file system",
            hidden.display()
        ))
    })?;
    let path = dir.join(&id);
    std::fs::rename(&hidden, &path)?;
    Ok(Lease::new(id, Box::new(Held { path, _file: file })))
}

/// Whether lease `id` under `dir` is still held by a live holder.
pub(super) fn held(dir: &Path, id: &str) -> bool {
    let well_formed = !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if !well_formed {
        return false;
    }
    locked(&dir.join(id))
}

/// Whether someone holds the lock on `path`; a missing file is not held.
fn locked(path: &Path) -> bool {
    match File::open(path) {
        Ok(file) => flock(&file, FlockOperation::NonBlockingLockShared).is_err(),
        Err(_) => false,
    }
}

/// Removes lease files nobody holds: those of holders that died. A hidden one is a lease
/// being taken, unless it is older than a start may take.
pub(super) fn sweep(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = entry.path();
        let being_taken = name.starts_with('.')
            && std::fs::metadata(&path)
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_none_or(|age| age < Duration::from_millis(STARTING_GRACE_MS as u64));
        let unheld = !being_taken && !locked(&path);
        if unheld {
            let _ = std::fs::remove_file(path);
        }
    }
}
