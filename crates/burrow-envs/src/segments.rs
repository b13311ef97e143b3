//! A running build's log, readable from any replica: the runner's local file, copied to
//! the blob store a segment at a time, each recorded in `log_segments` and announced
//! with a `log` event.
//!
//! The file only grows, and each segment holds the bytes after the one before, so any
//! reader that reads by byte offset (segments while the build runs, the whole log's
//! blob once it ended) sees every byte once. Only the runner holding the build's claim
//! records segments, each under a blob name of its own. A build taken over by another
//! runner first copies the segments already stored into its own file, so its log goes
//! on where the last copy ended (what the old runner recorded after that is dropped);
//! the old runner stops shipping at its next segment. When the build ends its whole log
//! is stored and the segments are deleted; if it could not be stored, the segments
//! stay as the log.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use burrow_blobs::{BlobPath, ObjectStore, PutPayload};
use burrow_store::{LogSegment, Store};

/// How often the file is copied while it grows.
const EVERY: Duration = Duration::from_millis(250);
/// The most one segment, or one read, holds.
const MOST: usize = 1 << 20;
pub use burrow_store::LOG_EVENT;

/// The name of a build's log, in `log_segments` and in its events.
pub fn name(build_id: &str) -> String {
    format!("build:{build_id}")
}

/// What copies a build's file while it runs; stop it with [`Shipper::stop`].
pub(crate) struct Shipper {
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

#[derive(Clone)]
struct Log {
    store: Store,
    blobs: Arc<dyn ObjectStore>,
    build_id: String,
    runner: String,
}

/// Why a copy was not recorded.
enum Unshipped {
    /// The build was taken over: this runner ships no more.
    ClaimLost,
    Failed(String),
}

impl Shipper {
    /// Copies `path` from byte `from` on, every [`EVERY`], starting now, for `runner`.
    pub(crate) fn start(
        store: Store,
        blobs: Arc<dyn ObjectStore>,
        (build_id, runner): (&str, &str),
        path: PathBuf,
        from: u64,
    ) -> Self {
        let log = Log {
            store,
            blobs,
            build_id: build_id.to_owned(),
            runner: runner.to_owned(),
        };
        let (stop, mut stopped) = tokio::sync::oneshot::channel();
        let task = tokio::spawn(async move {
            let mut shipped = from;
            let mut tick = tokio::time::interval(EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = &mut stopped => return,
                }
                match log.ship(&path, &mut shipped).await {
                    Ok(()) => {}
                    Err(Unshipped::ClaimLost) => {
                        tracing::info!(build = %log.build_id, "The build was taken over; its log is shipped by its new runner");
                        return;
                    }
                    Err(Unshipped::Failed(e)) => {
                        tracing::warn!(build = %log.build_id, error = %e, "A piece of the build log was not stored; trying again");
                    }
                }
            }
        });
        Self { stop, task }
    }

    /// Stops copying, after the copy under way (so no segment is left half-recorded).
    pub(crate) async fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
    }
}

impl Log {
    /// Stores what the file gained since `shipped` as one segment, and announces it.
    async fn ship(&self, path: &std::path::Path, shipped: &mut u64) -> Result<(), Unshipped> {
        let failed = |e: &dyn std::fmt::Display| Unshipped::Failed(e.to_string());
        let bytes = read_from(path, *shipped).map_err(|e| failed(&e))?;
        if bytes.is_empty() {
            return Ok(());
        }
        let length = bytes.len() as u64;
        let blob = format!(
            "builds/{}.parts/{}-{:012}",
            self.build_id, self.runner, *shipped
        );
        let at = BlobPath::from(blob.as_str());
        self.blobs
            .put(&at, PutPayload::from(bytes))
            .await
            .map_err(|e| failed(&e))?;
        let segment = LogSegment {
            start: *shipped as i64,
            length: length as i64,
            blob,
        };
        let recorded = self
            .store
            .record_build_log_segment(&self.build_id, &self.runner, &segment)
            .await;
        let replaced = match recorded {
            Ok(Some(replaced)) => replaced,
            Ok(None) => {
                let _ = self.blobs.delete(&at).await;
                return Err(Unshipped::ClaimLost);
            }
            Err(e) => {
                let _ = self.blobs.delete(&at).await;
                return Err(failed(&e));
            }
        };
        for old in replaced {
            let _ = self.blobs.delete(&BlobPath::from(old.as_str())).await;
        }
        *shipped += length;
        self.store.announce(LOG_EVENT, &name(&self.build_id)).await;
        Ok(())
    }
}

/// The bytes stored so far for a build's log: what a runner taking it over goes on from.
pub(crate) async fn stored(
    store: &Store,
    blobs: &Arc<dyn ObjectStore>,
    build_id: &str,
) -> Result<Vec<u8>, String> {
    let mut all = Vec::new();
    loop {
        let before = all.len();
        all.extend(read(store, blobs, build_id, all.len() as u64).await?);
        if all.len() == before {
            return Ok(all);
        }
    }
}

/// The stored bytes of a build's log from `offset` (at most about 1 MiB), from its
/// segments; empty when nothing after it is stored yet, or the segments are gone (the
/// build ended, with its whole log stored).
pub(crate) async fn read(
    store: &Store,
    blobs: &Arc<dyn ObjectStore>,
    build_id: &str,
    offset: u64,
) -> Result<Vec<u8>, String> {
    let segments = store
        .log_segments_from(&name(build_id), offset as i64, 16)
        .await
        .map_err(|e| e.to_string())?;
    let mut bytes = Vec::new();
    let mut at = offset;
    for segment in segments {
        if segment.start as u64 > at || bytes.len() >= MOST {
            break;
        }
        let data = match blobs.get(&BlobPath::from(segment.blob.as_str())).await {
            Ok(found) => found.bytes().await.map_err(|e| e.to_string())?,
            // Deleted as the build ended: the whole log's blob has it.
            Err(burrow_blobs::StoreError::NotFound { .. }) => break,
            Err(e) => return Err(e.to_string()),
        };
        let skip = (at - segment.start as u64) as usize;
        if let Some(rest) = data.get(skip..) {
            bytes.extend_from_slice(rest);
        }
        at = segment.start as u64 + data.len() as u64;
    }
    Ok(bytes)
}

/// Deletes a build's segments, once its whole log is stored.
pub(crate) async fn discard(store: &Store, blobs: &Arc<dyn ObjectStore>, build_id: &str) {
    match store.remove_log_segments(&name(build_id)).await {
        Ok(gone) => {
            for blob in gone {
                let _ = blobs.delete(&BlobPath::from(blob.as_str())).await;
            }
        }
        Err(e) => {
            tracing::warn!(build = %build_id, error = %e, "The build log's segments were not deleted")
        }
    }
}

pub(crate) fn read_from(path: &std::path::Path, offset: u64) -> std::io::Result<Vec<u8>> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file = std::fs::File::open(path)?;
    file.seek(SeekFrom::Start(offset))?;
    let mut bytes = Vec::new();
    file.take(MOST as u64).read_to_end(&mut bytes)?;
    Ok(bytes)
}
