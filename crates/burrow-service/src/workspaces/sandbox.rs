//! A workspace's sandbox: the workspaces workload of the generic supervisor, and its files kept in step both ways.
//!
//! A running workspace has one sandbox: the base Python environment, the workspace's
//! files in a size-capped folder at [`WORK_DIR`], the instance's memory and CPU for
//! workspaces, no network but the package index (so `pip install` of an allowed package
//! works in its terminals, into `/home/sandbox/packages`). It is started when opened,
//! stopped after `workspaces.idle_timeout_secs` without its person's input and after
//! `workspaces.max_lifetime_secs` however busy, and re-adopted or reaped after a
//! restart of `serve`, all by the supervisor.
//!
//! The database is the truth of the files:
//! - when the sandbox is ready, every file is written into its folder;
//! - a change through the API goes to the database, then into the folder;
//! - every `workspaces.sync_ms`, and when the sandbox stops, the folder is walked (see
//!   [`folder`](super::folder), which trusts nothing in it) and what changed in it comes
//!   back: a file whose size, time or inode moved is read and kept when its content
//!   differs from the database's, a file gone from the folder is deleted. What cannot be
//!   kept (a link, a FIFO, a file over the limits, a path the API would refuse) is
//!   listed in the workspace's `sync_problems` for the page to show.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use burrow_blobs::{BlobPath, ObjectStore, PutPayload};
use burrow_config::WorkspacesConfig;
use burrow_envs::Environments;
use burrow_sandbox::{ExecSpec, Limits, Mount, Runtime, SandboxSpec, Volume};
use burrow_sessions::{Change, HostService, Note, Phase, Readiness, Target, Want};
use burrow_store::{AppStatus, FileChange, FileExpect, Store, StoreError};
use sha2::{Digest, Sha256};

use super::terminals::Terminals;
use burrow_sandbox::folder::{Found, SharedFolder, Stamp};

/// Sandbox labels that tie a sandbox to its workspace.
pub const KEY_LABEL: &str = "burrow.workspace";
pub const VERSION_LABEL: &str = "burrow.workspace.version";
/// Where `pip install` puts packages in a workspace's sandbox; on its `PYTHONPATH`.
pub const PACKAGES_DIR: &str = "/home/sandbox/packages";
/// What the sandbox's main process does: wait, and end at once on SIGTERM.
const KEEPER: &str = "trap 'exit 0' TERM; while :; do sleep 3600 & wait $!; done";
/// The sandbox user's home, where the packages scripts run.
const HOME_DIR: &str = "/home/sandbox";
/// The workspace's files inside its sandbox.
pub const WORK_DIR: &str = "/home/sandbox/work";
/// The folder, shared with Burrow, through which the packages archive passes.
const TRANSFER_DIR: &str = "/home/sandbox/.burrow";
/// The packages archive's name in [`TRANSFER_DIR`] while it is put back or made.
const PACKAGES_ARCHIVE: &str = "packages.tgz";
/// Defines `fingerprint`, which prints one of the packages folder (every entry's path,
/// size, time, mode and type), run in it. Programs are named by absolute path: `PATH`
/// starts with what `pip` installed.
const FINGERPRINT: &str = "fingerprint() { /usr/bin/find . -printf '%P %s %T@ %m %y\\n' \
    | LC_ALL=C /usr/bin/sort | /usr/bin/sha256sum | /usr/bin/cut -c1-64; }; ";
/// Unpacks the archive into the packages folder and prints the folder's fingerprint.
const RESTORE: &str = "set -euo pipefail; cd /home/sandbox; /bin/mkdir -p packages; \
    /bin/gzip -dc /home/sandbox/.burrow/packages.tgz | /bin/tar -xf - -C packages; \
    /bin/rm -f /home/sandbox/.burrow/packages.tgz; cd packages; fingerprint";
/// Prints `empty` for an empty packages folder, `same` when its fingerprint is `$1`,
/// and otherwise packs it into the archive and prints its fingerprint.
const SAVE: &str =
    "set -euo pipefail; cd /home/sandbox/packages 2>/dev/null || { echo empty; exit 0; }; \
    if [ -z \"$(/bin/ls -A)\" ]; then echo empty; exit 0; fi; fp=$(fingerprint); \
    if [ \"$fp\" = \"$1\" ]; then echo same; exit 0; fi; \
    /bin/rm -f /home/sandbox/.burrow/packages.tgz; \
    /bin/tar -cf - . | /bin/gzip -1 > /home/sandbox/.burrow/packages.tgz; echo \"$fp\"";
/// The longest a packing or unpacking script may take: a sandbox that makes it hang
/// (a FIFO where the archive goes) holds up its stop no longer.
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(120);

/// Where a workspace's installed packages are kept while it is stopped.
pub fn packages_key(project_id: &str, id: &str) -> String {
    format!("workspaces/{project_id}/{id}/packages.tgz")
}

/// Starts, watches and stops workspace sandboxes.
pub type Supervisor = burrow_sessions::Supervisor<Runs>;

/// A failure of the workspaces workload, said as people read it.
#[derive(Debug)]
pub struct RunError(pub String);

impl std::fmt::Display for RunError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RunError {}

impl From<StoreError> for RunError {
    fn from(e: StoreError) -> Self {
        RunError(e.to_string())
    }
}

/// What a change refused by its lease's fence says, by which it is known again.
fn fenced_message() -> String {
    StoreError::Fenced.to_string()
}

/// The workspaces workload: what runs for a workspace, and its files' sync.
pub struct Runs {
    store: Store,
    blobs: Arc<dyn ObjectStore>,
    envs: Environments,
    config: WorkspacesConfig,
    runtime: Arc<dyn Runtime>,
    index: Option<Arc<IndexService>>,
    /// Each running workspace's files as last synced.
    synced: parking_lot::Mutex<HashMap<String, Arc<tokio::sync::Mutex<Synced>>>>,
    /// The running workspaces' terminals.
    pub terminals: Terminals,
}

impl std::fmt::Debug for Runs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runs").finish_non_exhaustive()
    }
}

/// What a running workspace's folder held at the last sync.
#[derive(Debug, Default)]
struct Synced {
    sandbox: String,
    known: HashMap<String, Known>,
    /// Found running after a restart of `serve`: what the folder lacks is written into
    /// it, not deleted, on the first sync.
    adopted: bool,
    problems: String,
    /// Files not kept, with their stamp and why: not read again until they change.
    refused: HashMap<String, (Stamp, String)>,
    /// The last sync's problems with files.
    file_problems: Vec<String>,
    /// Why the installed packages were not put back or not kept, if so.
    packages_problem: Option<String>,
    /// The packages folder's fingerprint as put back or last kept; `None` when not
    /// known (after a restart of `serve`), so it is kept at the stop.
    packages: Option<String>,
    /// The kept packages could not be put back: what the folder holds is not all of
    /// them, so it is not kept over them.
    restore_failed: bool,
}

#[derive(Debug, Clone)]
struct Known {
    stamp: Stamp,
    version: i64,
}

/// The package index as a workspace sandbox's host service, under the allowlist as it
/// is when each connection comes.
struct IndexService {
    index: burrow_index::PackageIndex,
    store: Store,
}

#[async_trait::async_trait]
impl HostService for IndexService {
    async fn serve(&self, _key: &str, connection: burrow_sessions::Connection) {
        match crate::packages::load_allowlist(&self.store).await {
            Ok(allowlist) => self.index.serve(Arc::new(allowlist), connection).await,
            Err(e) => tracing::warn!(error = %e.message, "Could not read the package allowlist"),
        }
    }
}

impl Runs {
    pub fn new(
        store: Store,
        blobs: Arc<dyn ObjectStore>,
        envs: Environments,
        config: WorkspacesConfig,
        runtime: Arc<dyn Runtime>,
    ) -> Self {
        let index = burrow_index::upstream_from_env()
            .and_then(burrow_index::PackageIndex::new)
            .map_err(|e| tracing::warn!(error = %e, "Workspaces get no package index"))
            .ok()
            .map(|index| {
                Arc::new(IndexService {
                    index,
                    store: store.clone(),
                })
            });
        Self {
            store,
            blobs,
            envs,
            config,
            runtime,
            index,
            synced: Default::default(),
            terminals: Terminals::default(),
        }
    }

    /// A supervisor over this workload.
    pub fn supervisor(
        self,
        start_timeout: Duration,
        leases: Arc<dyn burrow_sessions::Leases>,
        lease: Duration,
    ) -> Supervisor {
        let runtime = Arc::clone(&self.runtime);
        burrow_sessions::Supervisor::new(
            self,
            runtime,
            leases,
            burrow_sessions::Options {
                start_timeout,
                lease,
                ..burrow_sessions::Options::default()
            },
        )
    }

    /// How a terminal's shell is started.
    pub fn shell(&self) -> ExecSpec {
        ExecSpec {
            command: vec!["/bin/bash".into(), "-i".into()],
            env: vec![
                ("PS1".into(), "\\[\\e[1;34m\\]\\w\\[\\e[0m\\] $ ".into()),
                ("SHELL".into(), "/bin/bash".into()),
            ],
            cwd: Some(WORK_DIR.into()),
        }
    }

    fn max_file(&self) -> u64 {
        self.config.max_file_mb << 20
    }

    async fn open_folder(&self, sandbox: &str) -> Result<Arc<dyn SharedFolder>, String> {
        self.runtime
            .shared_folder(sandbox, WORK_DIR)
            .await
            .map_err(|e| format!("cannot open the workspace's folder in its sandbox: {e}"))
    }

    /// Writes every file of `key` into the new sandbox's folder. Its record is taken
    /// first, so a change through the API meanwhile waits and lands after.
    async fn materialize(&self, key: &str, sandbox: &str) -> Result<(), String> {
        let entry = Arc::new(tokio::sync::Mutex::new(Synced {
            sandbox: sandbox.to_owned(),
            ..Synced::default()
        }));
        let mut synced = Arc::clone(&entry).lock_owned().await;
        self.synced.lock().insert(key.to_owned(), entry);
        let folder = self.open_folder(sandbox).await?;
        let files = self.store.all_files(key).await.map_err(|e| e.to_string())?;
        for file in files {
            let content = super::content_of(self.blobs.as_ref(), &file)
                .await
                .map_err(|e| e.message)?;
            let stamp = folder
                .write(&file.path, Arc::new(content))
                .await
                .map_err(|e| format!("cannot write {} into the sandbox: {e}", file.path))?;
            synced.known.insert(
                file.path,
                Known {
                    stamp,
                    version: file.version,
                },
            );
        }
        let workspace = self
            .store
            .find_workspace(key)
            .await
            .map_err(|e| e.to_string())?;
        match self
            .restore_packages(&workspace.project_id, key, sandbox)
            .await
        {
            Ok(fingerprint) => synced.packages = Some(fingerprint),
            Err(e) => {
                synced.restore_failed = true;
                tracing::warn!(workspace = key, error = %e, "Could not put a workspace's packages back");
                synced.packages_problem = Some(format!(
                    "installed packages: not put back ({e}); install them again, or use \
                     Rebuild packages with a requirements.txt"
                ));
                self.write_problems(key, &mut synced).await?;
            }
        }
        Ok(())
    }

    /// Unpacks the workspace's kept packages, if any, into its new sandbox; returns the
    /// packages folder's fingerprint.
    async fn restore_packages(
        &self,
        project_id: &str,
        key: &str,
        sandbox: &str,
    ) -> Result<String, String> {
        let archive = match self
            .blobs
            .get(&BlobPath::from(packages_key(project_id, key)))
            .await
        {
            Ok(found) => found.bytes().await.map_err(|e| e.to_string())?,
            Err(burrow_blobs::StoreError::NotFound { .. }) => return Ok(String::new()),
            Err(e) => return Err(format!("cannot read the kept packages: {e}")),
        };
        self.runtime
            .shared_folder(sandbox, TRANSFER_DIR)
            .await
            .map_err(|e| e.to_string())?
            .write(PACKAGES_ARCHIVE, Arc::new(archive.to_vec()))
            .await
            .map_err(|e| format!("cannot write the kept packages into the sandbox: {e}"))?;
        self.in_sandbox(sandbox, RESTORE, "").await
    }

    /// Keeps the packages installed in `key`'s stopping `sandbox` when they changed since
    /// they were put back: packed in the sandbox, read from it as untrusted bytes of at
    /// most `max_packages_mb`, and stored as one blob; none installed, none kept.
    async fn save_packages(&self, key: &str, sandbox: &str, synced: &mut Synced) {
        if synced.restore_failed {
            // The ones kept before stay, whole.
            return;
        }
        let saved = async {
            let workspace = self
                .store
                .find_workspace(key)
                .await
                .map_err(|e| e.to_string())?;
            let blob = BlobPath::from(packages_key(&workspace.project_id, key));
            let was = synced.packages.clone().unwrap_or_else(|| "unknown".into());
            let printed = self.in_sandbox(sandbox, SAVE, &was).await?;
            match printed.as_str() {
                "same" => return Ok(None),
                "empty" => {
                    match self.blobs.delete(&blob).await {
                        Ok(()) | Err(burrow_blobs::StoreError::NotFound { .. }) => {}
                        Err(e) => return Err(format!("cannot delete the kept packages: {e}")),
                    }
                    return Ok(Some(String::new()));
                }
                _ => {}
            }
            let max = self.config.max_packages_mb << 20;
            let read = self
                .runtime
                .shared_folder(sandbox, TRANSFER_DIR)
                .await
                .map_err(|e| e.to_string())?
                .read(PACKAGES_ARCHIVE, max)
                .await;
            let archive = match read {
                Ok(Some((_, archive))) => archive,
                Ok(None) => return Err("their archive was not made".into()),
                Err(e) if e.kind() == std::io::ErrorKind::FileTooLarge => {
                    return Err(format!(
                        "they are {e} compressed, over the {} MiB kept \
                         (workspaces.max_packages_mb); the ones kept before stay",
                        self.config.max_packages_mb
                    ))
                }
                Err(e) => return Err(format!("cannot read their archive: {e}")),
            };
            self.blobs
                .put(&blob, PutPayload::from(archive))
                .await
                .map_err(|e| format!("cannot store them: {e}"))?;
            Ok(Some(printed))
        };
        match saved.await {
            Ok(Some(fingerprint)) => {
                synced.packages = Some(fingerprint);
                synced.packages_problem = None;
            }
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(workspace = key, error = %e, "Could not keep a workspace's packages");
                synced.packages_problem = Some(format!("installed packages: not kept: {e}"));
            }
        }
        if let Err(e) = self.write_problems(key, synced).await {
            tracing::warn!(workspace = key, error = %e, "Could not note a workspace's problems");
        }
    }

    /// Runs `script` with bash in `sandbox` with `arg` as `$1`; what it printed, trimmed,
    /// when it succeeded. What it prints is the sandbox's, so it is only compared.
    async fn in_sandbox(&self, sandbox: &str, script: &str, arg: &str) -> Result<String, String> {
        let run = self.runtime.exec(
            sandbox,
            ExecSpec {
                command: vec![
                    "/bin/bash".into(),
                    "-c".into(),
                    format!("{FINGERPRINT}{script}"),
                    "burrow".into(),
                    arg.into(),
                ],
                env: Vec::new(),
                cwd: Some(HOME_DIR.into()),
            },
        );
        // Timed out, the exec is dropped, which kills it.
        let ran = tokio::time::timeout(SCRIPT_TIMEOUT, run)
            .await
            .map_err(|_| format!("it took over {} s", SCRIPT_TIMEOUT.as_secs()))?
            .map_err(|e| e.to_string())?;
        if ran.code != 0 {
            let said = String::from_utf8_lossy(&ran.stderr);
            let said: String = said
                .trim()
                .chars()
                .rev()
                .take(300)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            return Err(format!("exit code {}: {said}", ran.code));
        }
        let printed = String::from_utf8_lossy(&ran.stdout);
        Ok(printed.trim().chars().take(100).collect())
    }

    /// Keeps what changed in the folder of `key`'s running `sandbox` since the last sync.
    /// `last`: the sandbox stops next, so a file changed a moment ago is kept too.
    pub async fn sync(&self, key: &str, sandbox: &str, last: bool) -> Result<(), String> {
        let entry = {
            let mut all = self.synced.lock();
            let entry = all.entry(key.to_owned()).or_insert_with(|| {
                Arc::new(tokio::sync::Mutex::new(Synced {
                    sandbox: sandbox.to_owned(),
                    adopted: true,
                    ..Synced::default()
                }))
            });
            Arc::clone(entry)
        };
        let mut synced = entry.lock().await;
        if synced.sandbox != sandbox {
            // A newer start owns the record: this sandbox is gone.
            return Ok(());
        }
        let folder = self.open_folder(sandbox).await?;
        let max_entries = self.config.max_files as usize + 1000;
        let scan = folder
            .scan(max_entries)
            .await
            .map_err(|e| format!("cannot read the workspace's folder: {e}"))?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        let mut problems = Vec::new();
        let mut changed = Vec::new();
        let mut present = HashSet::new();
        for item in scan.found {
            match item {
                Found::File { path, stamp } => {
                    present.insert(path.clone());
                    if let Some((refused, why)) = synced.refused.get(&path) {
                        if *refused == stamp {
                            problems.push(why.clone());
                            continue;
                        }
                    }
                    if synced.known.get(&path).is_some_and(|k| k.stamp == stamp) {
                        continue;
                    }
                    // Still being written, perhaps: the next sync takes it.
                    if !last && stamp.mtime.0 >= now - 1 {
                        continue;
                    }
                    changed.push((path, stamp));
                }
                // What is there but not kept is not gone: its stored version stays.
                Found::Skipped { path, why } => {
                    problems.push(problem(&path, &why));
                    present.insert(path);
                }
            }
        }
        synced.refused.retain(|p, _| present.contains(p));
        if !scan.complete {
            problems.push(format!(
                "the folder holds more than {max_entries} files and folders: Burrow looks at \
                 no more, and deletes nothing of the workspace's until there are fewer"
            ));
        }
        let gone: Vec<String> = if scan.complete {
            synced
                .known
                .keys()
                .filter(|p| !present.contains(*p))
                .cloned()
                .collect()
        } else {
            Vec::new()
        };
        if changed.is_empty() && gone.is_empty() && !synced.adopted {
            return self.note_problems(key, &mut synced, problems).await;
        }
        let workspace = self
            .store
            .find_workspace(key)
            .await
            .map_err(|e| e.to_string())?;
        let stored: HashMap<String, (i64, String)> = self
            .store
            .all_files(key)
            .await
            .map_err(|e| e.to_string())?
            .into_iter()
            .map(|f| (f.path, (f.version, f.sha256)))
            .collect();
        for (path, scanned) in changed {
            let read = folder.read(&path, self.max_file()).await.map(|found| {
                found.map(|(stamp, content)| {
                    let sha256 = hex::encode(Sha256::digest(&content));
                    (stamp, content, sha256)
                })
            });
            let (stamp, content, sha256) = match read {
                Ok(Some(found)) => found,
                Ok(None) => continue,
                Err(e) if e.kind() == std::io::ErrorKind::FileTooLarge => {
                    let why = format!(
                        "{e}, over the {} MiB a workspace file may hold",
                        self.config.max_file_mb
                    );
                    let why = problem(&path, &why);
                    problems.push(why.clone());
                    // Refused until it changes; any stored version stays.
                    synced.refused.insert(path, (scanned, why));
                    continue;
                }
                Err(e) => {
                    problems.push(problem(&path, &format!("cannot be read ({e})")));
                    continue;
                }
            };
            let stored_now = stored.get(&path);
            if stored_now.is_some_and(|(_, sha)| *sha == sha256) {
                let version = stored_now.map_or(0, |(v, _)| *v);
                synced.known.insert(path, Known { stamp, version });
                continue;
            }
            if let Err(e) = super::check_path(&path) {
                let why = problem(&path, &e.message);
                problems.push(why.clone());
                synced.refused.insert(path, (stamp, why));
                continue;
            }
            // Over the version read above: a save through the API meanwhile wins.
            let expect = stored_now.map_or(FileExpect::Absent, |(v, _)| FileExpect::Version(*v));
            let change = super::put_content(
                &self.store,
                &self.blobs,
                &self.config,
                (&workspace.project_id, key),
                &path,
                content,
                &workspace.owner_id,
                expect,
            )
            .await;
            match change {
                Ok(FileChange::Done { version, .. }) => {
                    synced.known.insert(path, Known { stamp, version });
                }
                // Looked at again next time, against what the API wrote.
                Ok(FileChange::Conflict(_)) => {
                    synced.known.remove(&path);
                }
                Ok(other) => {
                    let why = problem(&path, &super::refused(&path, other).message);
                    problems.push(why.clone());
                    synced.refused.insert(path, (stamp, why));
                }
                Err(e) => problems.push(problem(&path, &e.message)),
            }
        }
        for path in gone {
            let Some(known) = synced.known.remove(&path) else {
                continue;
            };
            // Only the version the folder had goes: a newer one came through the API.
            if stored.get(&path).is_some_and(|(v, _)| *v == known.version) {
                match self
                    .store
                    .delete_files(key, &path, FileExpect::Version(known.version))
                    .await
                {
                    Ok(FileChange::Done { unused, .. }) => {
                        super::delete_blobs(self.blobs.as_ref(), unused).await
                    }
                    Ok(_) => {}
                    Err(e) => problems.push(problem(&path, &format!("cannot be deleted ({e})"))),
                }
            }
        }
        if synced.adopted {
            // After a restart of `serve`: what the folder lacks is written back into it.
            let mut all_written = true;
            for file in self.store.all_files(key).await.map_err(|e| e.to_string())? {
                if present.contains(&file.path) {
                    continue;
                }
                let content = super::content_of(self.blobs.as_ref(), &file)
                    .await
                    .map_err(|e| e.message)?;
                match folder.write(&file.path, Arc::new(content)).await {
                    Ok(stamp) => {
                        synced.known.insert(
                            file.path,
                            Known {
                                stamp,
                                version: file.version,
                            },
                        );
                    }
                    _ => all_written = false,
                }
            }
            synced.adopted = !all_written;
        }
        self.note_problems(key, &mut synced, problems).await
    }

    async fn note_problems(
        &self,
        key: &str,
        synced: &mut Synced,
        mut problems: Vec<String>,
    ) -> Result<(), String> {
        problems.truncate(50);
        synced.file_problems = problems;
        self.write_problems(key, synced).await
    }

    /// Stores the workspace's problems (with files, with packages) when they changed.
    async fn write_problems(&self, key: &str, synced: &mut Synced) -> Result<(), String> {
        let mut all = synced.file_problems.clone();
        all.extend(synced.packages_problem.clone());
        let problems = all.join("\n");
        if problems != synced.problems {
            self.store
                .set_sync_problems(key, &problems)
                .await
                .map_err(|e| e.to_string())?;
            synced.problems = problems;
        }
        Ok(())
    }

    /// Runs `change` on the folder of `key`'s sandbox, if it has one, between syncs;
    /// `change` updates what is known of the folder only once the folder changed.
    async fn in_folder<F, C>(&self, key: &str, change: C)
    where
        C: FnOnce(Arc<dyn SharedFolder>, HashMap<String, Known>) -> F,
        F: std::future::Future<Output = (HashMap<String, Known>, std::io::Result<()>)>
            + Send
            + 'static,
    {
        let Some(entry) = self.synced.lock().get(key).cloned() else {
            return;
        };
        let mut synced = entry.lock().await;
        let sandbox = synced.sandbox.clone();
        let folder = match self.open_folder(&sandbox).await {
            Ok(folder) => folder,
            Err(e) => {
                tracing::warn!(workspace = key, error = %e, "Could not reach a running workspace's folder");
                return;
            }
        };
        // A copy, and a task of its own: a caller that goes away meanwhile leaves the
        // change to finish and the record as it was, and the next sync sees what changed.
        match tokio::spawn(change(folder, synced.known.clone())).await {
            Ok((known, Ok(()))) => synced.known = known,
            Ok((_, Err(e))) => {
                tracing::warn!(workspace = key, error = %e, "Could not change a running workspace's folder")
            }
            Err(e) => {
                tracing::warn!(workspace = key, error = %e, "Changing a workspace's folder failed")
            }
        }
    }

    /// A file written through the API at `version`, into the sandbox, unless a later
    /// version is there already.
    pub async fn wrote(&self, key: &str, path: &str, content: Vec<u8>, version: i64) {
        let path = path.to_owned();
        self.in_folder(key, |folder, mut known| async move {
            if known.get(&path).is_some_and(|k| k.version >= version) {
                return (known, Ok(()));
            }
            match folder.write(&path, Arc::new(content)).await {
                Ok(stamp) => {
                    known.insert(path, Known { stamp, version });
                    (known, Ok(()))
                }
                Err(e) => (known, Err(e)),
            }
        })
        .await;
    }

    /// A file or folder deleted through the API, out of the running sandbox.
    pub async fn removed(&self, key: &str, path: &str) {
        let path = path.to_owned();
        self.in_folder(key, |folder, mut known| async move {
            let removed = folder.remove(&path).await;
            if removed.is_ok() {
                let inside = format!("{path}/");
                known.retain(|p, _| *p != path && !p.starts_with(&inside));
            }
            (known, removed)
        })
        .await;
    }

    /// A file or folder moved through the API, in the running sandbox too. The next
    /// sync finds the moved files and, their content being the database's, only notes
    /// them.
    pub async fn moved(&self, key: &str, from: &str, to: &str) {
        let (from, to) = (from.to_owned(), to.to_owned());
        self.in_folder(key, |folder, mut known| async move {
            let moved = folder.rename(&from, &to).await;
            if moved.is_ok() {
                let inside = format!("{from}/");
                known.retain(|p, _| *p != from && !p.starts_with(&inside));
            }
            (known, moved)
        })
        .await;
    }

    /// The workspace is deleted: its terminals end, and its record goes.
    pub async fn forget(&self, key: &str) {
        self.synced.lock().remove(key);
        self.terminals.close_all(key).await;
    }
}

/// A line of `sync_problems`: the path as text (control characters escaped), and why.
fn problem(path: &str, why: &str) -> String {
    let mut shown: String = path.escape_debug().collect();
    if shown.chars().count() > 200 {
        shown = shown.chars().take(200).collect::<String>() + "…";
    }
    format!("{shown}: {why}")
}

/// Syncs every running workspace's files every `every`, until aborted.
pub async fn run_sync(supervisor: Supervisor, every: Duration) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        for (key, running) in supervisor.running_keys() {
            // Stopped or started again since the list was made: not this one's to sync.
            if supervisor.running(&key).as_ref() != Some(&running) {
                continue;
            }
            if let Err(e) = supervisor
                .workload()
                .sync(&key, &running.sandbox, false)
                .await
            {
                tracing::warn!(workspace = %key, error = %e, "Could not sync a workspace's files");
            }
        }
    }
}

fn status_of(phase: Phase) -> AppStatus {
    match phase {
        Phase::Stopped => AppStatus::Stopped,
        Phase::Starting => AppStatus::Starting,
        Phase::Running => AppStatus::Running,
        Phase::Stopping => AppStatus::Stopping,
        Phase::Error => AppStatus::Error,
    }
}

#[async_trait::async_trait]
impl burrow_sessions::Workload for Runs {
    type Error = RunError;
    const KEY_LABEL: &'static str = KEY_LABEL;
    const VERSION_LABEL: &'static str = VERSION_LABEL;

    /// Always the one version; stopped when idle and when too old.
    async fn want(&self, key: &str) -> Result<Want, RunError> {
        match self.store.find_workspace(key).await {
            Ok(workspace) => Ok(Want::Run(Target {
                version: 1,
                revision: 0,
                idle_timeout: Some(Duration::from_secs(self.config.idle_timeout_secs.max(1))),
                max_lifetime: Some(Duration::from_secs(self.config.max_lifetime_secs.max(1))),
                active_at_ms: workspace.last_active_at.unwrap_or(0),
            })),
            Err(StoreError::NotFound) => Ok(Want::Gone),
            Err(e) => Err(e.into()),
        }
    }

    async fn spec(&self, _key: &str, _target: &Target) -> Result<SandboxSpec, RunError> {
        let base = self.envs.base_key().await.map_err(|e| {
            RunError(format!(
                "the base Python environment is not ready ({e}): wait for its build, or run \
                 `burrow runtime build`"
            ))
        })?;
        let env = self.envs.get(&base).ok_or_else(|| {
            RunError(format!(
                "the base environment {base} is not built on this host: run `burrow runtime build`"
            ))
        })?;
        let mut spec = SandboxSpec::new(vec!["/bin/sh".into(), "-c".into(), KEEPER.into()]);
        spec.cwd = WORK_DIR.into();
        spec.mounts = env.mounts();
        // The files' folder: what a workspace may hold, and room for one file more; and
        // the folder the packages archive passes through. Burrow writes both.
        spec.mounts.push(Mount {
            volume: Volume::Shared {
                size_bytes: (self.config.max_total_mb + self.config.max_file_mb) << 20,
            },
            destination: WORK_DIR.into(),
            writable: true,
        });
        spec.mounts.push(Mount {
            // Room for an archive somewhat over the most kept, so one too big is
            // refused with its size rather than a full disk.
            volume: Volume::Shared {
                size_bytes: ((self.config.max_packages_mb + 64) << 20).max(512 << 20),
            },
            destination: TRANSFER_DIR.into(),
            writable: true,
        });
        let mut python_path = vec![PACKAGES_DIR.to_owned()];
        for (name, value) in env.vars() {
            if name == "PYTHONPATH" {
                python_path.push(value);
            } else {
                spec.env.push((name, value));
            }
        }
        spec.env.extend([
            ("PYTHONPATH".into(), python_path.join(":")),
            (
                "PATH".into(),
                format!(
                    "{PACKAGES_DIR}/bin:{}/bin:/usr/local/bin:/usr/bin:/bin",
                    burrow_envs::BASE_MOUNT
                ),
            ),
            // `pip` installs for the workspace's Python, into the packages folder.
            ("PIP_PYTHON".into(), env.python()),
            ("PIP_TARGET".into(), PACKAGES_DIR.into()),
            ("PIP_DISABLE_PIP_VERSION_CHECK".into(), "1".into()),
            ("PIP_NO_WARN_SCRIPT_LOCATION".into(), "1".into()),
        ]);
        if self.index.is_some() {
            spec.env.extend(burrow_index::env());
        }
        spec.limits = Limits {
            memory_bytes: self.config.memory_mb.max(64) << 20,
            cpus: self.config.cpu_millis.max(100) as f64 / 1000.0,
            pids: 512,
            disk_bytes: 512 << 20,
            ..Limits::default()
        };
        spec.labels = BTreeMap::from([(burrow_envs::SANDBOX_LABEL.to_owned(), env.key.clone())]);
        Ok(spec)
    }

    fn host_services(&self, _key: &str) -> Vec<(u16, Arc<dyn HostService>)> {
        self.index
            .iter()
            .map(|index| {
                (
                    burrow_index::INDEX_PORT,
                    Arc::clone(index) as Arc<dyn HostService>,
                )
            })
            .collect()
    }

    /// Ready once its files are in its folder; a folder they cannot be written into
    /// fails the start with why, at once.
    async fn ready(&self, _runtime: &dyn Runtime, key: &str, sandbox: &str) -> Readiness {
        match self.materialize(key, sandbox).await {
            Ok(()) => Readiness::Ready,
            Err(e) => {
                tracing::warn!(workspace = key, error = %e, "Could not write a workspace's files into its sandbox");
                Readiness::Failed(e)
            }
        }
    }

    /// The status first: a change refused by its fence (another replica runs the
    /// workspace now) touches neither the folder nor the terminals.
    async fn record(&self, key: &str, change: Change) -> Result<(), RunError> {
        let error = match &change.error {
            Note::Keep => None,
            Note::Set(message) => Some(message.as_str()),
            Note::Clear => Some(""),
        };
        let fence = change.fence.as_ref().map(|f| burrow_store::Fence {
            workload: KEY_LABEL,
            holder: &f.holder,
            epoch: f.epoch,
        });
        let recorded = match self
            .store
            .set_workspace_status(key, status_of(change.phase), error, fence)
            .await
        {
            Ok(()) | Err(StoreError::NotFound) => Ok(()),
            Err(StoreError::Fenced) => return Err(StoreError::Fenced.into()),
            Err(e) => Err(e.into()),
        };
        match change.phase {
            // The shells end first, so nothing changes during the last sync and while the
            // packages are packed; then both are kept, while the sandbox is still there.
            Phase::Stopping => {
                self.terminals.close_all(key).await;
                let sandbox = self.synced.lock().get(key).cloned();
                if let Some(synced) = sandbox {
                    let sandbox = synced.lock().await.sandbox.clone();
                    if let Err(e) = self.sync(key, &sandbox, true).await {
                        tracing::warn!(workspace = key, error = %e, "Could not keep a stopping workspace's last changes");
                    }
                    let mut synced = synced.lock().await;
                    if synced.sandbox == sandbox {
                        self.save_packages(key, &sandbox, &mut synced).await;
                    }
                }
            }
            Phase::Stopped | Phase::Error => {
                self.synced.lock().remove(key);
                self.terminals.close_all(key).await;
            }
            Phase::Starting | Phase::Running => {}
        }
        recorded
    }

    fn fenced(error: &RunError) -> bool {
        error.0 == fenced_message()
    }

    async fn gave_up(&self, key: &str, message: &str) -> Result<(), RunError> {
        tracing::warn!(workspace = key, error = %message, "A workspace's sandbox failed to start");
        Ok(())
    }

    async fn active_at(&self, key: &str, at_ms: i64) -> Result<(), RunError> {
        Ok(self.store.record_workspace_activity(key, at_ms).await?)
    }

    async fn maybe_running(&self) -> Result<Vec<String>, RunError> {
        Ok(self.store.workspaces_maybe_running().await?)
    }
}
