//! Lease events between replicas, against real SQLite and PostgreSQL: a replica waiting
//! for another's start hears when that one names its sandbox, and when it lets the key go.

use std::time::Duration;

use burrow_service::leases::StoreLeases;
use burrow_sessions::{LeaseWatch, Leases};
use burrow_store::Store;
use burrow_testkit::{both_backends, Db};

both_backends!(a_waiting_replica_hears_a_sandbox_named_and_a_lease_released);

const APPS: &str = "burrow.app";

/// Waits on `watch` for a change to `a1`'s lease in a task of its own, handing the
/// watch back once heard.
fn heard(mut watch: Box<dyn LeaseWatch>) -> tokio::task::JoinHandle<Box<dyn LeaseWatch>> {
    tokio::spawn(async move {
        tokio::time::timeout(Duration::from_secs(30), watch.changed(APPS, "a1"))
            .await
            .expect("heard within 30 s");
        watch
    })
}

async fn a_waiting_replica_hears_a_sandbox_named_and_a_lease_released(db: Db) {
    let dir = tempfile::tempdir().unwrap();
    let (store, url, _pg) = burrow_testkit::fresh_store(db, dir.path()).await;
    let other = Store::connect(&url).await.unwrap();
    // PostgreSQL's doorbell must do without reading on a timer; SQLite has only that
    // between two processes (here, two stores).
    other.set_event_poll(match db {
        Db::Postgres => Duration::from_secs(3600),
        Db::Sqlite => Duration::from_millis(50),
    });
    let first = StoreLeases::new(store, "r1".into());
    let second = StoreLeases::new(other, "r2".into());
    let now = burrow_store::now_ms();
    let claimed = first.claim(APPS, "a1", false, now, 15_000).await.unwrap();
    assert_eq!(claimed.lease.holder, "r1");
    first
        .claim(APPS, "other", false, now, 15_000)
        .await
        .unwrap();

    let watch = second
        .watch()
        .await
        .expect("the store tells of lease changes");
    // A renewal that names no sandbox, and another key's naming, are passed over.
    let waiting = heard(watch);
    assert!(first
        .renew(APPS, "a1", 1, now + 15_000, None)
        .await
        .unwrap());
    assert!(first
        .renew(APPS, "other", 1, now + 15_000, Some("sb-x"))
        .await
        .unwrap());
    assert!(first
        .renew(APPS, "a1", 1, now + 15_000, Some("sb-1"))
        .await
        .unwrap());
    let watch = waiting.await.unwrap();
    let lease = second.get(APPS, "a1").await.unwrap().unwrap();
    assert_eq!(lease.sandbox.as_deref(), Some("sb-1"));

    // Letting the key go is heard too.
    let waiting = heard(watch);
    first.release(APPS, "a1", 1).await.unwrap();
    waiting.await.unwrap();
    let lease = second.get(APPS, "a1").await.unwrap().unwrap();
    assert!(lease.holder.is_empty());
}
