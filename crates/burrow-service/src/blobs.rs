//! New objects in the blob store: each is put under a fresh key before any row names it,
//! and a put that failed because the storage did not answer has its key forgotten later.
//!
//! A request abandoned after `blobs.timeout_secs` may still land when the storage
//! answers again (a hung server works through what it had received). The key is fresh
//! and no row ever named it, so deleting it is always right: a `blobs.forget` task on the
//! durable queue deletes it as soon as the storage answers, retrying with backoff, and a
//! second one does so again [`LATE`] later for a write that landed after the first.

use std::sync::Arc;
use std::time::Duration;

use burrow_blobs::{BlobPath, Failure, ObjectStore, PutPayload, StoreError};
use burrow_store::{Store, Task};

/// The queue's task kind that deletes a key whose put failed.
pub const BLOB_FORGET: &str = "blobs.forget";
/// Tries of one forget task; its backoff doubles from the queue's.
pub const FORGET_ATTEMPTS: i64 = 12;
/// When the second forget of a key runs.
const LATE: Duration = Duration::from_secs(15 * 60);

/// Puts a new object under `key`, which no row names yet. On failure nothing is kept:
/// a failure of the storage itself queues the key's deletion. The put runs to its end
/// even if the caller goes away meanwhile (a viewer who closed the page), and then the
/// key is forgotten too, as no row will ever name it.
pub async fn put_new(
    store: &Store,
    blobs: &Arc<dyn ObjectStore>,
    key: &str,
    payload: PutPayload,
) -> Result<(), StoreError> {
    let (blobs, path) = (Arc::clone(blobs), BlobPath::from(key));
    settled(store, key, async move {
        blobs.put(&path, payload).await.map(drop)
    })
    .await
}

/// Copies `from` to a new key as [`put_new`] puts one.
pub async fn copy_new(
    store: &Store,
    blobs: &Arc<dyn ObjectStore>,
    from: &str,
    key: &str,
) -> Result<(), StoreError> {
    let (blobs, from, to) = (Arc::clone(blobs), BlobPath::from(from), BlobPath::from(key));
    settled(store, key, async move { blobs.copy(&from, &to).await }).await
}

/// Runs `write` of the fresh `key` on a task of its own and returns its outcome; the key
/// is queued for deletion if the storage did not answer, or if no one is left to hear
/// the outcome.
async fn settled(
    store: &Store,
    key: &str,
    write: impl std::future::Future<Output = Result<(), StoreError>> + Send + 'static,
) -> Result<(), StoreError> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let (store, key) = (store.clone(), key.to_owned());
    tokio::spawn(async move {
        let outcome = write.await;
        let unanswered =
            matches!(&outcome, Err(e) if burrow_blobs::failure(e) == Failure::Unavailable);
        if unanswered {
            forget_later(&store, &key).await;
        }
        if tx.send(outcome).is_err() && !unanswered {
            forget_later(&store, &key).await;
        }
    });
    rx.await.unwrap_or_else(|_| {
        Err(StoreError::Generic {
            store: "Burrow",
            source: "the task writing a blob ended before it did".into(),
        })
    })
}

/// Lets go of new keys that no row will name, after `cause` ended what wrote them:
/// deletes them now, or, when the storage did not answer, queues their deletion rather
/// than wait on it for each.
pub async fn discard_new(
    store: &Store,
    blobs: &dyn ObjectStore,
    keys: Vec<String>,
    cause: &crate::Error,
) {
    if cause.code == crate::error::STORAGE_UNAVAILABLE {
        for key in &keys {
            forget_later(store, key).await;
        }
    } else {
        crate::workspaces::delete_blobs(blobs, keys).await;
    }
}

/// Queues the deletion of `key`: now, and again [`LATE`] from now.
async fn forget_later(store: &Store, key: &str) {
    let now = burrow_store::now_ms();
    let late = now.saturating_add(LATE.as_millis() as i64);
    for (when, at) in [("now", now), ("late", late)] {
        let queued = burrow_queue::enqueue_at(
            store,
            BLOB_FORGET,
            &format!("{when}:{key}"),
            key,
            FORGET_ATTEMPTS,
            at,
        )
        .await;
        if let Err(e) = queued {
            tracing::warn!(blob = key, error = %e, "Could not queue the deletion of a blob whose put failed");
        }
    }
}

/// Runs `blobs.forget` tasks: deletes the key, then looks again a moment later (a
/// storage that has just come back works through the requests it had received, in any
/// order); one still there is retried.
#[derive(Debug, Clone)]
pub struct ForgetBlob(pub Arc<dyn ObjectStore>);

/// How long after deleting a key [`ForgetBlob`] looks whether a late write brought it back.
const SETTLE: Duration = Duration::from_secs(1);

#[async_trait::async_trait]
impl burrow_queue::Handler for ForgetBlob {
    async fn run(&self, task: &Task) -> Result<(), String> {
        let key = BlobPath::from(task.payload.as_str());
        match self.0.delete(&key).await {
            Ok(()) | Err(StoreError::NotFound { .. }) => {}
            Err(e) => return Err(format!("deleting the blob {key}: {e}")),
        }
        tokio::time::sleep(SETTLE).await;
        match self.0.head(&key).await {
            Err(StoreError::NotFound { .. }) => Ok(()),
            Ok(_) => Err(format!(
                "a late write of the blob {key} landed: deleting it again"
            )),
            Err(e) => Err(format!("looking for the blob {key}: {e}")),
        }
    }
}
