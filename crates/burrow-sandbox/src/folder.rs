//! A folder shared with a running sandbox ([`Volume::Shared`](crate::Volume::Shared)), read and written from outside it without trusting it.
//!
//! [`SharedFolder`] is how Burrow reaches one, whichever runtime runs the sandbox:
//! [`LocalFolder`] opens it on this host (the local runtime's `/proc/<init>/root`), and
//! the Kubernetes runtime asks the pod's agent, which opens it with the same [`Folder`].
//!
//! The sandbox owns what is in the folder, and may have made anything there: symbolic
//! links to `/etc/passwd` or to Burrow's data folder, FIFOs that block a reader, sockets,
//! devices, hard links, huge files, folders nested without end. So every path is opened
//! with `openat2` beneath the folder with no symbolic link, magic link or other mount
//! on the way, and a file only after `fstat` says it is a regular file with one name (a
//! hard link is not read, wherever it leads; a FIFO is opened
//! non-blocking first, so it cannot hang the opener). A file is read up to a limit and
//! no further. Files and folders Burrow makes there are made as the folder's owner (the
//! sandbox's user, which is also the only user its file system, mounted in the
//! sandbox's user namespace, can record), are written under a temporary name and
//! renamed, and never replace a folder.

use std::ffi::OsStr;
use std::io::Read;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use std::sync::Arc;

use rustix::fs::{AtFlags, Dir, FileType, Gid, Mode, OFlags, ResolveFlags, Stat, Uid};
use rustix::io::Errno;
use serde::{Deserialize, Serialize};

/// How deep folders are walked.
const MAX_DEPTH: usize = 32;
/// The longest path a walk reports as it is: what a sandbox names beyond it is reported
/// as skipped, so a walk's answer stays small whatever the names.
pub const MAX_PATH_BYTES: usize = 1024;
/// A name Burrow writes under before renaming; never kept as a file.
const TEMP_PREFIX: &str = ".burrow-write-";

/// What a walk of the folder found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scan {
    pub found: Vec<Found>,
    /// False when the folder holds more entries than the walk looks at: what it did not
    /// reach is not known to be gone.
    pub complete: bool,
}

/// What a walk of the folder found at one path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Found {
    /// A regular file, as `stat` saw it.
    File { path: String, stamp: Stamp },
    /// Something that is not kept, and why.
    Skipped { path: String, why: String },
}

/// What says a file changed without reading it: size, modification time and inode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stamp {
    pub size: u64,
    pub mtime: (i64, i64),
    pub ino: u64,
}

impl Stamp {
    fn of(stat: &Stat) -> Self {
        Self {
            size: stat.st_size as u64,
            mtime: (stat.st_mtime, stat.st_mtime_nsec as i64),
            ino: stat.st_ino,
        }
    }
}

/// A folder shared with a running sandbox, as Burrow reaches it. Every path is relative
/// to the folder, in `/`-separated parts; what comes back is the sandbox's, and bounded.
#[async_trait::async_trait]
pub trait SharedFolder: Send + Sync + std::fmt::Debug {
    /// [`Folder::scan`].
    async fn scan(&self, max_entries: usize) -> std::io::Result<Scan>;
    /// [`Folder::read`].
    async fn read(&self, path: &str, max: u64) -> std::io::Result<Option<(Stamp, Vec<u8>)>>;
    /// [`Folder::write`].
    async fn write(&self, path: &str, content: Arc<Vec<u8>>) -> std::io::Result<Stamp>;
    /// [`Folder::remove`].
    async fn remove(&self, path: &str) -> std::io::Result<()>;
    /// [`Folder::rename`].
    async fn rename(&self, from: &str, to: &str) -> std::io::Result<()>;
}

/// A shared folder this host opens itself: each call runs on a blocking thread.
#[derive(Debug, Clone)]
pub struct LocalFolder(Arc<Folder>);

impl LocalFolder {
    pub fn new(folder: Folder) -> Self {
        Self(Arc::new(folder))
    }

    async fn run<T: Send + 'static>(
        &self,
        call: impl FnOnce(&Folder) -> std::io::Result<T> + Send + 'static,
    ) -> std::io::Result<T> {
        let folder = Arc::clone(&self.0);
        tokio::task::spawn_blocking(move || call(&folder))
            .await
            .map_err(std::io::Error::other)?
    }
}

#[async_trait::async_trait]
impl SharedFolder for LocalFolder {
    async fn scan(&self, max_entries: usize) -> std::io::Result<Scan> {
        self.run(move |f| f.scan(max_entries)).await
    }

    async fn read(&self, path: &str, max: u64) -> std::io::Result<Option<(Stamp, Vec<u8>)>> {
        let path = path.to_owned();
        self.run(move |f| f.read(&path, max)).await
    }

    async fn write(&self, path: &str, content: Arc<Vec<u8>>) -> std::io::Result<Stamp> {
        let path = path.to_owned();
        self.run(move |f| f.write(&path, &content)).await
    }

    async fn remove(&self, path: &str) -> std::io::Result<()> {
        let path = path.to_owned();
        self.run(move |f| f.remove(&path)).await
    }

    async fn rename(&self, from: &str, to: &str) -> std::io::Result<()> {
        let (from, to) = (from.to_owned(), to.to_owned());
        self.run(move |f| f.rename(&from, &to)).await
    }
}

/// An open handle on a folder shared with a running sandbox.
#[derive(Debug)]
pub struct Folder {
    dir: OwnedFd,
    uid: Uid,
    gid: Gid,
}

/// Beneath the folder, never through a link or into another mount.
fn beneath() -> ResolveFlags {
    ResolveFlags::BENEATH
        | ResolveFlags::NO_SYMLINKS
        | ResolveFlags::NO_MAGICLINKS
        | ResolveFlags::NO_XDEV
}

fn io(e: Errno) -> std::io::Error {
    e.into()
}

/// The error of a file larger than the `max` bytes a reader takes.
pub fn too_large(max: u64) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::FileTooLarge,
        format!("over {max} bytes"),
    )
}

impl Folder {
    /// The folder at the path `dir` beneath `root`, reached without following a link.
    pub fn open_in(root: &Path, dir: &str) -> std::io::Result<Self> {
        let root = rustix::fs::open(
            root,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(io)?;
        let dir = rustix::fs::openat2(
            &root,
            dir.trim_start_matches('/'),
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
            ResolveFlags::IN_ROOT | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS,
        )
        .map_err(io)?;
        let stat = rustix::fs::fstat(&dir).map_err(io)?;
        Ok(Self {
            dir,
            uid: Uid::from_raw(stat.st_uid),
            gid: Gid::from_raw(stat.st_gid),
        })
    }

    /// Every file and what is skipped, looking at no more than `max_entries` entries
    /// (folders and what is skipped count too); `__pycache__` folders are passed over. A
    /// folder that cannot be opened for any reason but being swapped or gone fails the
    /// walk, so nothing in it is taken for deleted.
    pub fn scan(&self, max_entries: usize) -> std::io::Result<Scan> {
        let mut walk = Walk {
            found: Vec::new(),
            entries: 0,
            max_entries,
        };
        let root = rustix::io::dup(&self.dir).map_err(io)?;
        let complete = walk.dir(root, "", 0)?;
        Ok(Scan {
            found: walk.found,
            complete,
        })
    }

    /// The file at `path`, if it is a regular file of at most `max` bytes: its stamp and
    /// content. `Ok(None)` when it is gone or is no longer a regular file; an error
    /// naming its size when it is larger.
    pub fn read(&self, path: &str, max: u64) -> std::io::Result<Option<(Stamp, Vec<u8>)>> {
        let Some((stamp, file)) = self.open_file(path, max)? else {
            return Ok(None);
        };
        let mut content = Vec::with_capacity(stamp.size as usize);
        file.take(max + 1).read_to_end(&mut content)?;
        if content.len() as u64 > max {
            return Err(too_large(max));
        }
        Ok(Some((stamp, content)))
    }

    /// The file at `path` opened for reading, as [`Folder::read`] checks it; who reads
    /// it stops at `max` bytes, as it may still grow.
    pub fn open_file(
        &self,
        path: &str,
        max: u64,
    ) -> std::io::Result<Option<(Stamp, std::fs::File)>> {
        let file = match rustix::fs::openat2(
            &self.dir,
            path,
            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC,
            Mode::empty(),
            beneath(),
        ) {
            Ok(fd) => fd,
            Err(Errno::NOENT | Errno::LOOP | Errno::XDEV | Errno::NOTDIR) => return Ok(None),
            Err(e) => return Err(io(e)),
        };
        let stat = rustix::fs::fstat(&file).map_err(io)?;
        if FileType::from_raw_mode(stat.st_mode) != FileType::RegularFile || stat.st_nlink > 1 {
            return Ok(None);
        }
        if stat.st_size as u64 > max {
            return Err(std::io::Error::new(
                std::io::ErrorKind::FileTooLarge,
                format!("{} bytes", stat.st_size),
            ));
        }
        Ok(Some((Stamp::of(&stat), std::fs::File::from(file))))
    }

    /// Writes `content` at `path`, making its folders; returns the new file's stamp.
    pub fn write(&self, path: &str, content: &[u8]) -> std::io::Result<Stamp> {
        self.write_from(path, &mut { content })
    }

    /// Writes what `content` reads, to its end, at `path`, making its folders; returns
    /// the new file's stamp. The file appears whole or not at all.
    pub fn write_from(&self, path: &str, content: &mut impl Read) -> std::io::Result<Stamp> {
        let _owner = AsOwner::new(self.uid, self.gid);
        let (parent, name) = self.parent_of(path, true)?;
        let temp = format!("{TEMP_PREFIX}{:016x}", rand_u64());
        let fd = rustix::fs::openat2(
            &parent,
            temp.as_str(),
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o644),
            beneath(),
        )
        .map_err(io)?;
        let written = (|| {
            let mut file = std::fs::File::from(fd);
            std::io::copy(content, &mut file)?;
            let stat = rustix::fs::fstat(&file).map_err(io)?;
            // A folder of that name stays: renaming a file over it fails.
            rustix::fs::renameat(&parent, temp.as_str(), &parent, name.as_str()).map_err(io)?;
            Ok(Stamp::of(&stat))
        })();
        if written.is_err() {
            let _ = rustix::fs::unlinkat(&parent, temp.as_str(), AtFlags::empty());
        }
        written
    }

    /// Removes the file or folder at `path`, whatever it holds; nothing there is fine.
    pub fn remove(&self, path: &str) -> std::io::Result<()> {
        let (parent, name) = match self.parent_of(path, false) {
            Ok(found) => found,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        remove_at(&parent, &name, 0)
    }

    /// Moves the file or folder at `from` to `to`, making `to`'s folders.
    pub fn rename(&self, from: &str, to: &str) -> std::io::Result<()> {
        let _owner = AsOwner::new(self.uid, self.gid);
        let (from_parent, from_name) = self.parent_of(from, false)?;
        let (to_parent, to_name) = self.parent_of(to, true)?;
        rustix::fs::renameat(
            &from_parent,
            from_name.as_str(),
            &to_parent,
            to_name.as_str(),
        )
        .map_err(io)
    }

    /// The folder holding `path` (made, with the folder's owner, when `make`), and the
    /// last part of `path`.
    fn parent_of(&self, path: &str, make: bool) -> std::io::Result<(OwnedFd, String)> {
        let mut parts: Vec<&str> = path.split('/').collect();
        let name = parts.pop().unwrap_or_default().to_owned();
        if name.is_empty()
            || name == "."
            || name == ".."
            || parts
                .iter()
                .any(|p| p.is_empty() || *p == "." || *p == "..")
        {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("{path:?} is not a path in the workspace"),
            ));
        }
        let mut dir = rustix::io::dup(&self.dir).map_err(io)?;
        for part in parts {
            if make {
                match rustix::fs::mkdirat(&dir, part, Mode::from_raw_mode(0o755)) {
                    Ok(()) | Err(Errno::EXIST) => {}
                    Err(e) => return Err(io(e)),
                }
            }
            dir = open_dir(&dir, part)?;
        }
        Ok((dir, name))
    }
}

/// This thread makes files as `uid`:`gid` until dropped (its file system ids; the rest
/// of the process is untouched).
struct AsOwner {
    uid: u32,
    gid: u32,
}

#[allow(unsafe_code)]
impl AsOwner {
    fn new(uid: Uid, gid: Gid) -> Self {
        // SAFETY: setfsuid and setfsgid change only this thread's file system ids, and
        // return the previous ones, which drop restores.
        unsafe {
            let gid = libc::setfsgid(gid.as_raw()) as u32;
            let uid = libc::setfsuid(uid.as_raw()) as u32;
            Self { uid, gid }
        }
    }
}

#[allow(unsafe_code)]
impl Drop for AsOwner {
    fn drop(&mut self) {
        // SAFETY: as in `new`, back to the ids this thread had.
        unsafe {
            libc::setfsuid(self.uid);
            libc::setfsgid(self.gid);
        }
    }
}

fn open_dir(dir: &OwnedFd, name: &str) -> std::io::Result<OwnedFd> {
    rustix::fs::openat2(
        dir,
        name,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
        beneath(),
    )
    .map_err(io)
}

/// Removes `name` in `dir`: a folder with what it holds, anything else unlinked.
fn remove_at(dir: &OwnedFd, name: &str, depth: usize) -> std::io::Result<()> {
    let stat = match rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(stat) => stat,
        Err(Errno::NOENT) => return Ok(()),
        Err(e) => return Err(io(e)),
    };
    if FileType::from_raw_mode(stat.st_mode) == FileType::Directory && depth < MAX_DEPTH {
        let inner = open_dir(dir, name)?;
        let names: Vec<Vec<u8>> = Dir::read_from(&inner)
            .map_err(io)?
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_bytes().to_vec())
            .filter(|n| n != b"." && n != b"..")
            .collect();
        for n in names {
            remove_at(&inner, &String::from_utf8_lossy(&n), depth + 1)?;
        }
        return match rustix::fs::unlinkat(dir, name, AtFlags::REMOVEDIR) {
            Ok(()) | Err(Errno::NOENT) => Ok(()),
            Err(e) => Err(io(e)),
        };
    }
    match rustix::fs::unlinkat(dir, name, AtFlags::empty()) {
        Ok(()) | Err(Errno::NOENT) => Ok(()),
        Err(e) => Err(io(e)),
    }
}

/// Whether `name` is one Burrow writes under before renaming.
fn is_temp(name: &str) -> bool {
    name.strip_prefix(TEMP_PREFIX)
        .is_some_and(|rest| rest.len() == 16 && rest.bytes().all(|b| b.is_ascii_hexdigit()))
}

struct Walk {
    found: Vec<Found>,
    entries: usize,
    max_entries: usize,
}

impl Walk {
    /// Walks `dir`; false when it stopped at the most entries it looks at.
    fn dir(&mut self, dir: OwnedFd, prefix: &str, depth: usize) -> std::io::Result<bool> {
        let mut names = Vec::new();
        for entry in Dir::read_from(&dir).map_err(io)? {
            let entry = entry.map_err(io)?;
            let name = entry.file_name().to_bytes();
            if name != b"." && name != b".." {
                self.entries += 1;
                if self.entries > self.max_entries {
                    return Ok(false);
                }
                names.push(name.to_vec());
            }
        }
        names.sort();
        for raw in names {
            let Ok(name) = std::str::from_utf8(&raw) else {
                let shown = Path::new(OsStr::from_bytes(&raw)).display().to_string();
                self.found.push(Found::Skipped {
                    path: format!("{prefix}{shown}"),
                    why: "its name is not UTF-8 text".into(),
                });
                continue;
            };
            if is_temp(name) {
                continue;
            }
            if prefix.len() + name.len() > MAX_PATH_BYTES {
                let mut shown = format!("{prefix}{name}");
                shown.truncate(shown.floor_char_boundary(MAX_PATH_BYTES));
                self.found.push(Found::Skipped {
                    path: shown,
                    why: format!("its path is longer than {MAX_PATH_BYTES} bytes"),
                });
                continue;
            }
            let path = format!("{prefix}{name}");
            let stat = match rustix::fs::statat(&dir, name, AtFlags::SYMLINK_NOFOLLOW) {
                Ok(stat) => stat,
                // Gone since the listing.
                Err(Errno::NOENT) => continue,
                Err(e) => return Err(io(e)),
            };
            let skipped = |why: &str| Found::Skipped {
                path: path.clone(),
                why: why.to_owned(),
            };
            match FileType::from_raw_mode(stat.st_mode) {
                // Another name of a file may lead anywhere the sandbox could link from.
                FileType::RegularFile if stat.st_nlink > 1 => self.found.push(skipped(
                    "a file with several names (a hard link) is not kept: copy it instead",
                )),
                FileType::RegularFile => self.found.push(Found::File {
                    path,
                    stamp: Stamp::of(&stat),
                }),
                FileType::Directory if name == "__pycache__" => {}
                FileType::Directory if depth + 1 >= MAX_DEPTH => {
                    self.found
                        .push(skipped("folders nest too deep here to be kept"));
                }
                FileType::Directory => {
                    let inner = match open_dir(&dir, name) {
                        Ok(inner) => inner,
                        // Swapped for something else, or gone, since it was looked at.
                        Err(e)
                            if [Errno::LOOP, Errno::NOTDIR, Errno::NOENT, Errno::XDEV]
                                .iter()
                                .any(|errno| e.raw_os_error() == Some(errno.raw_os_error())) =>
                        {
                            continue
                        }
                        Err(e) => return Err(e),
                    };
                    if !self.dir(inner, &format!("{path}/"), depth + 1)? {
                        return Ok(false);
                    }
                }
                FileType::Symlink => self.found.push(skipped("a symbolic link is not kept")),
                FileType::Fifo => self.found.push(skipped("a FIFO is not kept")),
                FileType::Socket => self.found.push(skipped("a socket is not kept")),
                _ => self.found.push(skipped("a device is not kept")),
            }
        }
        Ok(true)
    }
}

fn rand_u64() -> u64 {
    let mut bytes = [0u8; 8];
    // A clash only fails one write, which the caller reports.
    let _ = rustix::rand::getrandom(&mut bytes, rustix::rand::GetRandomFlags::empty());
    u64::from_ne_bytes(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustix::fs::CWD;

    const WORK_DIR: &str = "/home/sandbox/work";

    impl Folder {
        fn open(root: &Path) -> std::io::Result<Self> {
            Self::open_in(root, WORK_DIR)
        }
    }

    /// A folder laid out as a sandbox's root, with the workspace folder inside.
    fn sandbox_root() -> (tempfile::TempDir, std::path::PathBuf) {
        let root = tempfile::tempdir().unwrap();
        let work = root.path().join(WORK_DIR.trim_start_matches('/'));
        std::fs::create_dir_all(&work).unwrap();
        (root, work)
    }

    #[test]
    fn links_fifos_and_sockets_are_skipped_and_never_followed() {
        let (root, work) = sandbox_root();
        std::fs::write(work.join("a.py"), "print(1)\n").unwrap();
        std::fs::create_dir(work.join("pkg")).unwrap();
        std::fs::write(work.join("pkg/b.txt"), "b").unwrap();
        std::fs::create_dir(work.join("__pycache__")).unwrap();
        std::fs::write(work.join("__pycache__/a.pyc"), "x").unwrap();
        std::os::unix::fs::symlink("/etc/passwd", work.join("passwd")).unwrap();
        std::os::unix::fs::symlink("/", work.join("host")).unwrap();
        std::fs::write(work.join("one"), "1").unwrap();
        std::fs::hard_link(work.join("one"), work.join("two")).unwrap();
        rustix::fs::mknodat(
            CWD,
            work.join("fifo"),
            FileType::Fifo,
            Mode::from_raw_mode(0o644),
            0,
        )
        .unwrap();
        let _socket = std::os::unix::net::UnixListener::bind(work.join("sock")).unwrap();
        let folder = Folder::open(root.path()).unwrap();
        let scan = folder.scan(100).unwrap();
        assert!(scan.complete);
        let found = scan.found;
        let files: Vec<&str> = found
            .iter()
            .filter_map(|f| match f {
                Found::File { path, .. } => Some(path.as_str()),
                Found::Skipped { .. } => None,
            })
            .collect();
        assert_eq!(files, ["a.py", "pkg/b.txt"]);
        let skipped: Vec<&str> = found
            .iter()
            .filter_map(|f| match f {
                Found::Skipped { path, .. } => Some(path.as_str()),
                Found::File { .. } => None,
            })
            .collect();
        assert_eq!(skipped, ["fifo", "host", "one", "passwd", "sock", "two"]);
        assert_eq!(folder.read("two", 1 << 20).unwrap(), None);
        // Past the most entries looked at, the walk says it is not complete.
        assert!(!folder.scan(5).unwrap().complete);
        // Reading through a link, or a FIFO, gives nothing and does not block.
        assert_eq!(folder.read("passwd", 1 << 20).unwrap(), None);
        assert_eq!(folder.read("host/etc/passwd", 1 << 20).unwrap(), None);
        assert_eq!(folder.read("fifo", 1 << 20).unwrap(), None);
        assert_eq!(
            folder.read("a.py", 1 << 20).unwrap().unwrap().1,
            b"print(1)\n"
        );
        // Over the limit: an error that says how big it is.
        let err = folder.read("a.py", 3).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::FileTooLarge);
    }

    #[test]
    fn a_path_too_long_to_keep_is_skipped_and_not_walked() {
        let (root, work) = sandbox_root();
        let long = "d".repeat(200);
        let deep = (0..6).fold(work.clone(), |at, _| at.join(&long));
        std::fs::create_dir_all(&deep).unwrap();
        std::fs::write(deep.join("x.py"), "1").unwrap();
        std::fs::write(work.join("short.py"), "1").unwrap();
        let scan = Folder::open(root.path()).unwrap().scan(100).unwrap();
        assert!(scan.complete);
        let paths: Vec<(&str, bool)> = scan
            .found
            .iter()
            .map(|f| match f {
                Found::File { path, .. } => (path.as_str(), true),
                Found::Skipped { path, .. } => (path.as_str(), false),
            })
            .collect();
        assert_eq!(paths.len(), 2, "{paths:?}");
        assert!(
            paths[0].0.len() <= MAX_PATH_BYTES && !paths[0].1,
            "{paths:?}"
        );
        assert_eq!(paths[1], ("short.py", true));
    }

    #[test]
    fn writes_renames_and_removes_stay_beneath_the_folder() {
        let (root, work) = sandbox_root();
        let outside = root.path().join("outside");
        std::fs::create_dir(&outside).unwrap();
        std::os::unix::fs::symlink(&outside, work.join("escape")).unwrap();
        let folder = Folder::open(root.path()).unwrap();
        let stamp = folder.write("deep/er/c.py", b"x = 1\n").unwrap();
        assert_eq!(stamp.size, 6);
        assert_eq!(
            std::fs::read(work.join("deep/er/c.py")).unwrap(),
            b"x = 1\n"
        );
        // Through a link: refused, and nothing lands outside.
        assert!(folder.write("escape/pwned", b"no").is_err());
        assert!(std::fs::read_dir(&outside).unwrap().next().is_none());
        // A file never replaces a folder.
        assert!(folder.write("deep", b"no").is_err());
        folder.rename("deep/er", "moved").unwrap();
        assert!(work.join("moved/c.py").is_file());
        folder.remove("moved").unwrap();
        assert!(!work.join("moved").exists());
        // Removing the link removes the link, not what it points at.
        std::fs::write(outside.join("keep"), "k").unwrap();
        folder.remove("escape").unwrap();
        assert!(outside.join("keep").is_file());
        // No temporary file is left behind.
        let left: Vec<_> = std::fs::read_dir(&work).unwrap().collect();
        assert_eq!(left.len(), 1, "{left:?}");
    }
}
