//! A disk that fills up: a small tmpfs mounted on a fresh folder (the tests run as root),
//! for what Burrow does when the disk under its data folder is full.

use std::io::Write;
use std::path::{Path, PathBuf};

/// A tmpfs of a given size, unmounted when dropped.
#[derive(Debug)]
pub struct Tmpfs {
    dir: Option<tempfile::TempDir>,
    path: PathBuf,
}

impl Tmpfs {
    /// Mounts a tmpfs of `mib` MiB on a fresh folder.
    pub fn mount(mib: u64) -> Self {
        let dir = tempfile::tempdir().expect("a folder to mount on");
        let path = dir.path().to_path_buf();
        let size = std::ffi::CString::new(format!("mode=0755,size={mib}m")).unwrap();
        rustix::mount::mount(
            "burrow-test-disk",
            &path,
            "tmpfs",
            rustix::mount::MountFlags::NOSUID | rustix::mount::MountFlags::NODEV,
            Some(size.as_c_str()),
        )
        .unwrap_or_else(|e| {
            panic!(
                "mount a tmpfs on {} (the tests run as root): {e}",
                path.display()
            )
        });
        Self {
            dir: Some(dir),
            path,
        }
    }

    /// The folder the tmpfs is mounted on.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes a file until the disk is full; returns it, to be removed to free space.
    pub fn fill(&self) -> PathBuf {
        let filler = self.path.join("filler");
        let mut file = std::fs::File::create(&filler).unwrap();
        for size in [1 << 20, 64 << 10, 4 << 10, 512] {
            let chunk = vec![7u8; size];
            loop {
                match file.write_all(&chunk) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::StorageFull => break,
                    Err(e) => panic!("filling {}: {e}", filler.display()),
                }
            }
        }
        filler
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        // Lazily: a server that still holds a file there lets go of it later.
        let _ = rustix::mount::unmount(&self.path, rustix::mount::UnmountFlags::DETACH);
        drop(self.dir.take());
    }
}
