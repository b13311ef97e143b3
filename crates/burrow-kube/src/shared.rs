//! The folders a sandbox shares with Burrow on the data claim: made for the sandbox's
//! user before its pod, and removed, whatever the sandbox left in them, after it.

use std::path::Path;
use std::time::Duration;

use burrow_sandbox::{Result, SandboxError};
use rustix::fs::{AtFlags, Dir, FileType, Mode, OFlags};
use rustix::io::Errno;

/// Makes `dir` and the folders above it, and gives `dir` to user `uid`, which it can
/// only be if this process runs as that user or as root.
pub fn make_owned(dir: &Path, uid: i64) -> Result<()> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt};
    let failed = |e: std::io::Error| {
        SandboxError::Host(format!(
            "cannot make the folder {} that the sandbox shares with Burrow: {e}",
            dir.display()
        ))
    };
    // The folders above only let through (the kubelet reaches the pod's folder as root,
    // which an NFS server may treat as nobody); the pod's own is its user's alone.
    if let Some(parent) = dir.parent() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o711)
            .create(parent)
            .map_err(failed)?;
    }
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(dir)
        .map_err(failed)?;
    let owner = std::fs::metadata(dir).map_err(failed)?.uid();
    if i64::from(owner) != uid {
        std::os::unix::fs::chown(dir, Some(uid as u32), Some(uid as u32)).map_err(|e| {
            SandboxError::Host(format!(
                "sandboxes run as uid {uid} but Burrow as uid {owner}, so the folders it shares \
                 with them would not be theirs ({e}): run both as one user \
                 (sandbox.kubernetes.uid, and the chart's sandboxes.uid)"
            ))
        })?;
    }
    Ok(())
}

/// Removes the folder `dir` and what is in it; one already gone is no error.
///
/// What is in it is a sandbox's: nested without end, full of links. So the walk holds
/// one folder open at a time and remembers the way back by device and inode (a walk
/// that recursed, or kept a folder open per level, runs out of stack or of open files
/// on a deep enough tree); it never follows a link nor leaves `dir`'s file system; and
/// going back up, it checks that `..` is the folder it came from, so a folder moved
/// meanwhile stops it rather than leading it elsewhere.
pub fn remove_all(dir: &Path) -> std::io::Result<()> {
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let top = match rustix::fs::open(dir, flags, Mode::empty()) {
        Ok(fd) => fd,
        Err(Errno::NOENT) => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    let device = rustix::fs::fstat(&top)?.st_dev;
    // The folders above the one open, with the names they have in their parents.
    let mut above: Vec<((u64, u64), Vec<u8>)> = Vec::new();
    let mut here = top;
    loop {
        let mut child = None;
        for entry in Dir::read_from(&here)? {
            let entry = entry?;
            let name = entry.file_name().to_bytes();
            if name == b"." || name == b".." {
                continue;
            }
            let is_dir = match entry.file_type() {
                FileType::Unknown => {
                    rustix::fs::statat(&here, entry.file_name(), AtFlags::SYMLINK_NOFOLLOW)
                        .map(|s| FileType::from_raw_mode(s.st_mode) == FileType::Directory)
                        .unwrap_or(false)
                }
                kind => kind == FileType::Directory,
            };
            if is_dir {
                child = Some(name.to_vec());
                break;
            }
            match rustix::fs::unlinkat(&here, entry.file_name(), AtFlags::empty()) {
                Ok(()) | Err(Errno::NOENT) => {}
                Err(e) => return Err(e.into()),
            }
        }
        if let Some(name) = child {
            let opened = rustix::fs::openat(&here, name.as_slice(), flags, Mode::empty())?;
            let stat = rustix::fs::fstat(&opened)?;
            if stat.st_dev != device {
                return Err(std::io::Error::other(format!(
                    "{} holds another file system",
                    dir.display()
                )));
            }
            let at = rustix::fs::fstat(&here)?;
            above.push(((at.st_dev, at.st_ino), name));
            here = opened;
            continue;
        }
        // Empty: back up to the parent, and remove it from there.
        let Some(((dev, ino), name)) = above.pop() else {
            break;
        };
        let parent = rustix::fs::openat(&here, "..", flags, Mode::empty())?;
        let stat = rustix::fs::fstat(&parent)?;
        if (stat.st_dev, stat.st_ino) != (dev, ino) {
            return Err(std::io::Error::other(format!(
                "a folder in {} was moved while it was removed",
                dir.display()
            )));
        }
        match rustix::fs::unlinkat(&parent, name.as_slice(), AtFlags::REMOVEDIR) {
            // Something was made in it meanwhile: the parent's walk finds it again.
            Ok(()) | Err(Errno::NOENT) | Err(Errno::NOTEMPTY) => {}
            Err(e) => return Err(e.into()),
        }
        here = parent;
    }
    match std::fs::remove_dir(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// What a sweep of the shared folders did.
#[derive(Debug, Default)]
pub struct Swept {
    pub trashed: Vec<String>,
    pub failed: Vec<String>,
}

/// The trash, in an installation's folder of shared folders: never a sandbox's id,
/// which has no leading dot.
const TRASH: &str = ".trash";

/// Removes what went into the trash under `root` over `settled` ago, then moves into
/// it the sandboxes' folders that no pod in `pods` owns and that were made over
/// `settled` ago. Each goes in named by when, so a replica's pass removes only what
/// has been there that long, whoever put it there.
pub fn sweep(root: &Path, pods: &std::collections::HashSet<String>, settled: Duration) -> Swept {
    let mut swept = Swept::default();
    let trash = root.join(TRASH);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    for entry in std::fs::read_dir(&trash).into_iter().flatten().flatten() {
        let name = entry.file_name();
        let put_at = name
            .to_str()
            .and_then(|n| n.split_once('-'))
            .and_then(|(ms, _)| ms.parse::<u64>().ok())
            .map(Duration::from_millis);
        if put_at.is_none_or(|at| now.saturating_sub(at) > settled) {
            if let Err(e) = remove_all(&entry.path()) {
                swept
                    .failed
                    .push(format!("{}: {e}", entry.path().display()));
            }
        }
    }
    let Ok(entries) = std::fs::read_dir(root) else {
        return swept;
    };
    let orphans: Vec<_> = entries
        .flatten()
        .filter(|entry| {
            entry
                .file_name()
                .to_str()
                .is_some_and(|n| !n.starts_with('.') && !pods.contains(n))
        })
        .filter(|entry| {
            entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|at| at.elapsed().ok())
                .is_some_and(|age| age > settled)
        })
        .collect();
    if orphans.is_empty() {
        return swept;
    }
    if let Err(e) = std::fs::create_dir(&trash).or_else(|e| match e.kind() {
        std::io::ErrorKind::AlreadyExists => Ok(()),
        _ => Err(e),
    }) {
        swept.failed.push(format!("{}: {e}", trash.display()));
        return swept;
    }
    for entry in orphans {
        let name = format!(
            "{}-{}",
            now.as_millis(),
            entry.file_name().to_string_lossy()
        );
        match std::fs::rename(entry.path(), trash.join(name)) {
            Ok(()) => swept
                .trashed
                .push(format!("the shared folders at {}", entry.path().display())),
            Err(e) => swept
                .failed
                .push(format!("{}: {e}", entry.path().display())),
        }
    }
    swept
}
