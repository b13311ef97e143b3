//! Files and folders that appear whole or not at all, for every crate that keeps state on
//! disk: [`write_atomic`] for a file, [`publish_dir`] for a folder built beside its place.
//!
//! Both write under a temporary name in the destination's own folder (so the final
//! rename stays on one file system) and end with one `rename`, which readers see either
//! before or after, never half-way.

use std::io::Write;
use std::path::Path;

/// Replaces `path` with `contents`: written to a temporary file of its own beside it,
/// then renamed over it. Concurrent writers of the same path cannot trip over each
/// other's temporary files, and readers (and a process that crashed mid-write) see the
/// old or the new contents. It does not wait for the disk: what it writes (sandbox
/// state, request markers) describes processes that a power loss ends anyway, and it
/// sits on the path of every sandbox start.
pub fn write_atomic(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
    let dir = dir.unwrap_or_else(|| Path::new("."));
    let mut tmp = tempfile::Builder::new()
        .prefix(".writing-")
        .tempfile_in(dir)?;
    tmp.write_all(contents)?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// Renames the finished folder `built` to `dest`. If `dest` appeared meanwhile and
/// `complete` says it is whole (another builder of the same content won the race),
/// `built` is removed and that one stays. On any other failure `built` is removed too,
/// so nothing half-made is left behind.
pub fn publish_dir(
    built: &Path,
    dest: &Path,
    complete: impl Fn(&Path) -> bool,
) -> std::io::Result<()> {
    match std::fs::rename(built, dest) {
        Ok(()) => Ok(()),
        Err(_) if complete(dest) => std::fs::remove_dir_all(built),
        Err(e) => {
            let _ = std::fs::remove_dir_all(built);
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_replaces_the_file_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        write_atomic(&path, b"one").unwrap();
        write_atomic(&path, b"two").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("state.json")]);
    }

    #[test]
    fn a_write_into_a_missing_folder_fails_and_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let error = write_atomic(&dir.path().join("missing/state.json"), b"x").unwrap_err();
        assert_eq!(error.kind(), std::io::ErrorKind::NotFound);
    }

    #[test]
    fn publishing_keeps_the_first_complete_folder() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("v1");
        let first = dir.path().join(".building-1");
        std::fs::create_dir(&first).unwrap();
        std::fs::write(first.join("app.py"), "first").unwrap();
        publish_dir(&first, &dest, |d| d.join("app.py").exists()).unwrap();
        // A second builder of the same content loses the race: its folder goes.
        let second = dir.path().join(".building-2");
        std::fs::create_dir(&second).unwrap();
        std::fs::write(second.join("app.py"), "second").unwrap();
        std::fs::write(second.join("extra"), "x").unwrap();
        publish_dir(&second, &dest, |d| d.join("app.py").exists()).unwrap();
        assert_eq!(
            std::fs::read_to_string(dest.join("app.py")).unwrap(),
            "first"
        );
        assert!(!second.exists());
    }

    #[test]
    fn a_failed_publish_leaves_nothing_half_made() {
        let dir = tempfile::tempdir().unwrap();
        let built = dir.path().join(".building");
        std::fs::create_dir(&built).unwrap();
        std::fs::write(built.join("f"), "x").unwrap();
        let error = publish_dir(&built, &dir.path().join("no/such/parent/v1"), |_| false);
        assert!(error.is_err());
        assert!(!built.exists());
    }
}
