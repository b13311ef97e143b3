//! Environment builds: recorded, run as tasks of the durable queue, their logs kept as blobs.
//!
//! A build is a row in the store that goes `queued → running → succeeded | failed`.
//! A build that needs uv is a task of kind [`ENV_BUILD`] on the durable queue
//! (`burrow-queue`), which bounds how many run at once, holds the claim under a lease
//! and gives a build whose process died to another; one that needs no uv (met by the
//! base, or asked for before) finishes at once, in the caller's process. While a build
//! runs, its log is a local file copied to the blob store in segments that any replica
//! reads by offset (see [`crate::segments`]); when it ends, the log is stored as the
//! blob `builds/<id>.log`, and the file and segments removed. Builds left
//! unfinished without a task (say, by an older release) are queued by [`Builds::resume`].

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use burrow_blobs::{BlobPath, ObjectStore, PutPayload};
use burrow_store::{Build, Store, StoreError};

use crate::{segments, BuildLog, Environments};

/// The queue's task kind for a build that needs uv; the payload is the build's id.
pub const ENV_BUILD: &str = "env.build";
/// A build whose store writes failed is tried this many times in all.
pub const BUILD_ATTEMPTS: i64 = 3;

#[derive(Debug, thiserror::Error)]
pub enum BuildsError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the build log cannot be read: {0}")]
    Log(String),
}

/// A piece of a build's log, and where to read on from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogChunk {
    pub bytes: Vec<u8>,
    pub next: u64,
    /// The build has ended: there will be nothing after this chunk.
    pub finished: bool,
}

/// The queue of environment builds; cheap to clone.
#[derive(Clone)]
pub struct Builds {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    blobs: Arc<dyn ObjectStore>,
    envs: Environments,
    timeout: Duration,
    /// Wakes this process's queue when a build is queued.
    waker: burrow_queue::Waker,
}

impl std::fmt::Debug for Builds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Builds")
            .field("envs", &self.inner.envs)
            .finish_non_exhaustive()
    }
}

/// Runs [`ENV_BUILD`] tasks: register it on the queue with `envs.max_concurrent_builds`.
#[derive(Debug, Clone)]
pub struct BuildHandler(Builds);

#[async_trait::async_trait]
impl burrow_queue::Handler for BuildHandler {
    /// A build that fails (uv's verdict) is a task done: its failure is recorded on the
    /// build. Only failing to record it is an error, and tried again.
    async fn run(&self, task: &burrow_store::Task) -> Result<(), String> {
        let build = self
            .0
            .inner
            .store
            .get_build(&task.payload)
            .await
            .map_err(|e| format!("build {}: {e}", task.payload))?;
        if build.status.is_finished() {
            return Ok(());
        }
        let runner = task.claimed_by.clone().unwrap_or_default();
        self.0.run(build, &runner).await.map_err(|e| e.to_string())
    }
}

impl Builds {
    pub fn new(
        store: Store,
        blobs: Arc<dyn ObjectStore>,
        envs: Environments,
        timeout: Duration,
        waker: burrow_queue::Waker,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                store,
                blobs,
                envs,
                timeout,
                waker,
            }),
        }
    }

    pub fn from_config(
        config: &burrow_config::Config,
        store: Store,
        blobs: Arc<dyn ObjectStore>,
        waker: burrow_queue::Waker,
    ) -> Self {
        Self::new(
            store,
            blobs,
            Environments::from_config(config),
            Duration::from_secs(config.envs.build_timeout_secs),
            waker,
        )
    }

    /// The queue handler for [`ENV_BUILD`] tasks.
    pub fn handler(&self) -> BuildHandler {
        BuildHandler(self.clone())
    }

    /// Wakes this process's queue, for whatever was queued (not only builds).
    pub fn waker(&self) -> &burrow_queue::Waker {
        &self.inner.waker
    }

    pub fn environments(&self) -> &Environments {
        &self.inner.envs
    }

    /// Queues a build of a normalised requirements file (empty: the base alone).
    pub async fn submit(
        &self,
        requirements: &str,
        created_by: Option<&str>,
    ) -> Result<Build, BuildsError> {
        let build = self.insert(requirements, created_by).await?;
        self.start(build.clone()).await?;
        Ok(build)
    }

    /// Queues the builds left unfinished with no task of their own (a task already
    /// queued or running for a build is left as it is); returns how many builds were
    /// unfinished.
    pub async fn resume(&self) -> Result<usize, BuildsError> {
        let unfinished = self.inner.store.unfinished_builds().await?;
        let n = unfinished.len();
        for build in unfinished {
            self.start(build).await?;
        }
        Ok(n)
    }

    /// Runs a build recorded as queued, such as one inserted with the version it builds:
    /// at once if it needs no uv, else as a task on the queue.
    pub async fn start(&self, build: Build) -> Result<(), BuildsError> {
        if self
            .inner
            .envs
            .find_explained(&build.requirements)
            .await
            .is_some()
        {
            self.run_here(build);
            return Ok(());
        }
        burrow_queue::enqueue(
            &self.inner.store,
            ENV_BUILD,
            &build.id,
            &build.id,
            BUILD_ATTEMPTS,
        )
        .await?;
        self.inner.waker.wake();
        Ok(())
    }

    /// Queues a build and runs it at once in this process, not through the queue: for
    /// `burrow runtime build`, which follows it to the end.
    pub async fn submit_here(&self, requirements: &str) -> Result<Build, BuildsError> {
        let build = self.insert(requirements, None).await?;
        self.run_here(build.clone());
        Ok(build)
    }

    async fn insert(
        &self,
        requirements: &str,
        created_by: Option<&str>,
    ) -> Result<Build, BuildsError> {
        let id = burrow_core::ids::new_id("bld");
        Ok(self
            .inner
            .store
            .insert_build(&id, requirements, created_by)
            .await?)
    }

    /// Runs a build in a task of this process.
    fn run_here(&self, build: Build) {
        let this = self.clone();
        tokio::spawn(async move {
            let id = build.id.clone();
            let runner = burrow_core::ids::new_id("run");
            if let Err(e) = this.run(build, &runner).await {
                tracing::error!(build = %id, error = %e, "A build could not be recorded");
            }
        });
    }

    /// The local file of `runner`'s run of build `id`: each run writes its own, so a run
    /// taken over on the same host leaves the new one's alone.
    fn log_path(&self, id: &str, runner: &str) -> std::path::PathBuf {
        self.inner
            .envs
            .root()
            .join("logs")
            .join(format!("{id}-{runner}.log"))
    }

    /// Deletes the segments builds left over (see
    /// [`Store::builds_with_stale_log_segments`]): those of builds unfinished for a day
    /// or more, and those a deletion missed; returns for how many builds.
    pub async fn sweep_log_segments(&self) -> Result<usize, BuildsError> {
        let day_ago = burrow_store::now_ms() - 24 * 3_600_000;
        let stale = self
            .inner
            .store
            .builds_with_stale_log_segments(day_ago)
            .await?;
        for id in &stale {
            segments::discard(&self.inner.store, &self.inner.blobs, id).await;
        }
        Ok(stale.len())
    }

    /// Runs a build as `runner`. The caller holds the only claim on it (the queue's, or
    /// a build no queue knows of), so it takes the build over whatever ran it before;
    /// only the last runner can record the outcome.
    async fn run(&self, build: Build, runner: &str) -> Result<(), BuildsError> {
        let store = &self.inner.store;
        let ready = self.inner.envs.find_explained(&build.requirements).await;
        if !store.claim_build(&build.id, runner, i64::MAX).await? {
            // It finished meanwhile.
            return Ok(());
        }
        let path = self.log_path(&build.id, runner);
        let blobs = &self.inner.blobs;
        // A build taken over goes on with what its last runner stored.
        let before = segments::stored(store, blobs, &build.id)
            .await
            .map_err(BuildsError::Log)?;
        let opened = std::fs::write(&path, &before)
            .or_else(|_| {
                std::fs::create_dir_all(path.parent().unwrap_or(&path))?;
                std::fs::write(&path, &before)
            })
            .map_err(|e| crate::EnvError::Io {
                context: format!("writing the build log {}", path.display()),
                source: e,
            })
            .and_then(|()| BuildLog::open(&path));
        let outcome = match opened {
            Err(e) => Err(explained(&e, self.inner.envs.root())),
            Ok(mut log) => {
                let shipper = segments::Shipper::start(
                    store.clone(),
                    Arc::clone(blobs),
                    (&build.id, runner),
                    path.clone(),
                    before.len() as u64,
                );
                log.line(format!(
                    "Build {} of {}",
                    build.id,
                    if build.requirements.trim().is_empty() {
                        "the base environment".to_owned()
                    } else {
                        format!("requirements:\n{}", build.requirements.trim_end())
                    }
                ));
                let outcome = match ready {
                    Some((env, why)) => {
                        log.line(why);
                        Ok(env.key)
                    }
                    None => match tokio::time::timeout(
                        self.inner.timeout,
                        self.inner.envs.build(&build.requirements, &mut log),
                    )
                    .await
                    {
                        Ok(Ok(env)) => Ok(env.key),
                        Ok(Err(e)) => Err(explained(&e, self.inner.envs.root())),
                        Err(_) => Err(format!(
                            "the build took longer than {} s and was stopped; raise envs.build_timeout_secs if the index is slow",
                            self.inner.timeout.as_secs()
                        )),
                    },
                };
                match &outcome {
                    Ok(key) => log.line(format!("Succeeded: environment {key}.")),
                    Err(why) => log.line(format!("Failed: {why}")),
                }
                shipper.stop().await;
                outcome
            }
        };
        let blob = format!("builds/{}.log", build.id);
        let stored = match std::fs::read(&path) {
            Ok(bytes) => self
                .inner
                .blobs
                .put(&BlobPath::from(blob.as_str()), PutPayload::from(bytes))
                .await
                .map_err(|e| tracing::warn!(build = %build.id, error = %e, "the build log was not stored"))
                .is_ok(),
            Err(_) => false,
        };
        let finished = store
            .finish_build(
                &build.id,
                runner,
                outcome.as_deref().map_err(String::as_str),
                stored.then_some(blob.as_str()),
            )
            .await;
        if stored && finished.is_ok() {
            let _ = std::fs::remove_file(&path);
            segments::discard(store, blobs, &build.id).await;
        }
        store
            .announce(segments::LOG_EVENT, &segments::name(&build.id))
            .await;
        finished.map(drop).map_err(BuildsError::from)
    }

    /// The log from `offset`: its stored segments while the build runs (on whichever
    /// replica runs it), its whole blob after.
    pub async fn read_log(&self, id: &str, offset: u64) -> Result<LogChunk, BuildsError> {
        let build = self.inner.store.get_build(id).await?;
        if !build.status.is_finished() {
            let bytes = segments::read(&self.inner.store, &self.inner.blobs, id, offset)
                .await
                .map_err(BuildsError::Log)?;
            if !bytes.is_empty() {
                return Ok(LogChunk {
                    next: offset + bytes.len() as u64,
                    bytes,
                    finished: false,
                });
            }
        }
        // Finished, or finished between the two reads.
        let build = self.inner.store.get_build(id).await?;
        let bytes = match &build.log_blob {
            Some(blob) => {
                let all = self
                    .inner
                    .blobs
                    .get(&BlobPath::from(blob.as_str()))
                    .await
                    .map_err(|e| BuildsError::Log(e.to_string()))?
                    .bytes()
                    .await
                    .map_err(|e| BuildsError::Log(e.to_string()))?;
                all.get(offset as usize..).unwrap_or_default().to_vec()
            }
            // Not stored (the blob store failed): its segments are kept as its log.
            None => segments::read(&self.inner.store, &self.inner.blobs, id, offset)
                .await
                .map_err(BuildsError::Log)?,
        };
        Ok(LogChunk {
            next: offset + bytes.len() as u64,
            bytes,
            finished: build.status.is_finished(),
        })
    }

    /// Waits until the build's log may have grown or the build ended (a `log` event
    /// from whichever replica runs it), or `within` passes.
    pub async fn log_changed(
        &self,
        events: &mut burrow_store::Subscription,
        id: &str,
        within: Duration,
    ) {
        events
            .wait_for(segments::LOG_EVENT, &segments::name(id), within)
            .await;
    }

    /// Follows a build's log until it ends, handing each new piece to `sink`; returns the ended build.
    pub async fn follow(
        &self,
        id: &str,
        mut sink: impl FnMut(&[u8]),
    ) -> Result<Build, BuildsError> {
        let mut events = self.inner.store.subscribe().await?;
        let mut offset = 0;
        loop {
            let chunk = self.read_log(id, offset).await?;
            if !chunk.bytes.is_empty() {
                sink(&chunk.bytes);
            }
            offset = chunk.next;
            if chunk.finished {
                return Ok(self.inner.store.get_build(id).await?);
            }
            if chunk.bytes.is_empty() {
                self.log_changed(&mut events, id, Duration::from_secs(5))
                    .await;
            }
        }
    }
}

/// Why a build failed, in words that say what to do: a full disk (which uv reports as
/// the OS's "No space left on device") says where space must be freed.
fn explained(e: &crate::EnvError, envs: &Path) -> String {
    let full = match e {
        crate::EnvError::Io { source, .. } => matches!(
            source.kind(),
            std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded
        ),
        other => {
            let said = other.to_string();
            said.contains("No space left on device") || said.contains("Disk quota exceeded")
        }
    };
    if full {
        format!(
            "no space is left on the disk of {}, so the environment could not be built ({e}): free space there, then upload the version again",
            envs.display()
        )
    } else {
        e.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_disk_says_where_to_free_space() {
        let envs = Path::new("/srv/burrow/envs");
        let uv = crate::EnvError::Failed(
            "uv could not install pandas: No space left on device (os error 28)".into(),
        );
        let said = explained(&uv, envs);
        assert!(
            said.starts_with("no space is left on the disk of /srv/burrow/envs"),
            "{said}"
        );
        assert!(said.contains("uv could not install pandas"), "{said}");
        let io = crate::EnvError::Io {
            context: "writing the lock".into(),
            source: std::io::Error::from(std::io::ErrorKind::StorageFull),
        };
        assert!(explained(&io, envs).starts_with("no space is left"));
        let other = crate::EnvError::Failed("no matching distribution for pandaz".into());
        assert_eq!(explained(&other, envs), other.to_string());
    }
}
