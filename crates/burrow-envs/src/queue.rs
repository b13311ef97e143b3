//! The build queue: builds are recorded, run with bounded concurrency, and their logs kept as blobs.
//!
//! A build is a row in the store that goes `queued → running → succeeded | failed`.
//! While it runs, its log is a local file that readers follow by offset; when it
//! ends, the log is stored as the blob `builds/<id>.log` and the file removed.
//! Builds left unfinished by a restart are started again by [`Builds::resume`].

use std::sync::Arc;
use std::time::Duration;

use burrow_blobs::{BlobPath, ObjectStore, PutPayload};
use burrow_store::{Build, Store, StoreError};
use tokio::sync::Semaphore;

use crate::{BuildLog, Environments};

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
    permits: Semaphore,
    timeout: Duration,
    /// This process's name on the builds it claims.
    runner: String,
}

/// A running build whose heartbeat is older than this has lost its runner, and
/// another process may take it over.
const LEASE: Duration = Duration::from_secs(30);

impl std::fmt::Debug for Builds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Builds")
            .field("envs", &self.inner.envs)
            .field("available", &self.inner.permits.available_permits())
            .finish_non_exhaustive()
    }
}

impl Builds {
    pub fn new(
        store: Store,
        blobs: Arc<dyn ObjectStore>,
        envs: Environments,
        max_concurrent: usize,
        timeout: Duration,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                store,
                blobs,
                envs,
                permits: Semaphore::new(max_concurrent.max(1)),
                timeout,
                runner: burrow_core::ids::new_id("run"),
            }),
        }
    }

    pub fn from_config(
        config: &burrow_config::Config,
        store: Store,
        blobs: Arc<dyn ObjectStore>,
    ) -> Self {
        Self::new(
            store,
            blobs,
            Environments::from_config(config),
            config.envs.max_concurrent_builds,
            Duration::from_secs(config.envs.build_timeout_secs),
        )
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
        let id = burrow_core::ids::new_id("bld");
        let build = self
            .inner
            .store
            .insert_build(&id, requirements, created_by)
            .await?;
        self.start(build.clone());
        Ok(build)
    }

    /// Starts again the builds a previous process left queued or running.
    pub async fn resume(&self) -> Result<usize, BuildsError> {
        let unfinished = self.inner.store.unfinished_builds().await?;
        let n = unfinished.len();
        for build in unfinished {
            self.start(build);
        }
        Ok(n)
    }

    /// Runs a build recorded as queued, such as one inserted with the version it builds.
    pub fn start(&self, build: Build) {
        let this = self.clone();
        tokio::spawn(async move {
            let id = build.id.clone();
            if let Err(e) = this.run(build).await {
                tracing::error!(build = %id, error = %e, "a build could not be recorded");
            }
        });
    }

    fn log_path(&self, id: &str) -> std::path::PathBuf {
        self.inner
            .envs
            .root()
            .join("logs")
            .join(format!("{id}.log"))
    }

    async fn run(&self, build: Build) -> Result<(), BuildsError> {
        let store = &self.inner.store;
        let runner = &self.inner.runner;
        // What needs no uv (met by the base, or asked for before) skips the queue.
        let ready = self.inner.envs.find_explained(&build.requirements).await;
        let _permit = match ready {
            Some(_) => None,
            None => Some(self.inner.permits.acquire().await.expect("never closed")),
        };
        // Claim it; if another live process holds it, wait until it finishes or dies.
        loop {
            let stale_before = burrow_store::now_ms() - LEASE.as_millis() as i64;
            if store.claim_build(&build.id, runner, stale_before).await? {
                break;
            }
            if store.get_build(&build.id).await?.status.is_finished() {
                return Ok(());
            }
            tokio::time::sleep(LEASE / 2).await;
        }
        let heartbeat = {
            let (store, id, runner) = (store.clone(), build.id.clone(), runner.clone());
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(LEASE / 4).await;
                    if let Err(e) = store.heartbeat_build(&id, &runner).await {
                        tracing::warn!(build = %id, error = %e, "could not renew a build's claim");
                    }
                }
            })
        };
        let path = self.log_path(&build.id);
        let outcome = match BuildLog::open(&path) {
            Err(e) => Err(e.to_string()),
            Ok(mut log) => {
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
                        Ok(Err(e)) => Err(e.to_string()),
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
        heartbeat.abort();
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
        }
        finished.map(drop).map_err(BuildsError::from)
    }

    /// The log from `offset`: from the live file while the build runs, from its blob after.
    pub async fn read_log(&self, id: &str, offset: u64) -> Result<LogChunk, BuildsError> {
        let build = self.inner.store.get_build(id).await?;
        if !build.status.is_finished() {
            if let Ok(bytes) = read_from(&self.log_path(id), offset) {
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
            None => read_from(&self.log_path(id), offset).unwrap_or_default(),
        };
        Ok(LogChunk {
            next: offset + bytes.len() as u64,
            bytes,
            finished: build.status.is_finished(),
        })
    }

    /// Follows a build's log until it ends, handing each new piece to `sink`; returns the ended build.
    pub async fn follow(
        &self,
        id: &str,
        mut sink: impl FnMut(&[u8]),
    ) -> Result<Build, BuildsError> {
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
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

fn read_from(path: &std::path::Path, offset: u64) -> std::io::Result<Vec<u8>> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file = std::fs::File::open(path)?;
    file.seek(SeekFrom::Start(offset))?;
    let mut bytes = Vec::new();
    file.take(1 << 20).read_to_end(&mut bytes)?;
    Ok(bytes)
}
