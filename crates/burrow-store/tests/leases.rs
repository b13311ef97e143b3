//! Sandbox leases against real SQLite and PostgreSQL: racing claims from several
//! replicas, ended leases taken over with a new epoch, forced claims, and status writes
//! fenced by the epoch they were made under.

use burrow_store::{AppStatus, Fence, Store, StoreError};
use burrow_testkit::{both_backends, Db};

both_backends!(
    racing_claims_from_three_replicas_make_one_holder,
    an_ended_lease_is_taken_over_and_the_old_holder_is_fenced,
    leases_of_deleted_apps_go_once_they_end,
);

const APPS: &str = "burrow.app";
const TTL: i64 = 15_000;

async fn app(store: &Store) -> String {
    burrow_testkit::app_in_new_project(store, "ada@example.com", "b1", "")
        .await
        .app
}

fn fence(holder: &str, epoch: i64) -> Fence<'_> {
    Fence {
        workload: APPS,
        holder,
        epoch,
    }
}

async fn racing_claims_from_three_replicas_make_one_holder(db: Db) {
    let dir = tempfile::tempdir().unwrap();
    let (store, _, _pg) = burrow_testkit::fresh_store(db, dir.path()).await;
    let now = 1_000_000;
    let claims = (0..30).map(|i| {
        let store = store.clone();
        async move {
            let holder = format!("replica-{}", i % 3);
            store
                .claim_sandbox_lease(APPS, "a1", &holder, false, now, TTL)
                .await
                .unwrap()
        }
    });
    let claims = futures::future::join_all(claims).await;
    let lease = store.sandbox_lease(APPS, "a1").await.unwrap().unwrap();
    assert_eq!(lease.epoch, 1, "taken once");
    assert!(lease.holder.starts_with("replica-"));
    for claim in &claims {
        assert_eq!(claim.lease, lease, "every claimer sees the one holder");
    }
    // The holder names its sandbox; the others' renewals change nothing.
    assert!(store
        .renew_sandbox_lease(
            fence(&lease.holder, 1),
            "a1",
            now + TTL + 2000,
            Some("sb-1")
        )
        .await
        .unwrap());
    for other in ["replica-0", "replica-1", "replica-2"] {
        if other != lease.holder {
            assert!(!store
                .renew_sandbox_lease(fence(other, 1), "a1", now + 99_999, Some("sb-9"))
                .await
                .unwrap());
        }
    }
    let now_lease = store.sandbox_lease(APPS, "a1").await.unwrap().unwrap();
    assert_eq!(now_lease.sandbox.as_deref(), Some("sb-1"));
    assert_eq!(now_lease.expires_at, now + TTL + 2000);
    // A lease of another workload is another lease.
    let other = store
        .claim_sandbox_lease("burrow.workspace", "a1", "replica-x", false, now, TTL)
        .await
        .unwrap();
    assert_eq!(
        (other.lease.holder.as_str(), other.lease.epoch),
        ("replica-x", 1)
    );
}

async fn an_ended_lease_is_taken_over_and_the_old_holder_is_fenced(db: Db) {
    let dir = tempfile::tempdir().unwrap();
    let (store, _, _pg) = burrow_testkit::fresh_store(db, dir.path()).await;
    let app = app(&store).await;
    let now = 1_000_000;
    let first = store
        .claim_sandbox_lease(APPS, &app, "r1", false, now, TTL)
        .await
        .unwrap();
    assert_eq!(first.lease.epoch, 1);
    store
        .renew_sandbox_lease(fence("r1", 1), &app, now + TTL, Some("sb-1"))
        .await
        .unwrap();
    store
        .set_app_status(
            &app,
            AppStatus::Running,
            None,
            Some(0),
            Some(fence("r1", 1)),
        )
        .await
        .unwrap();

    // Before it ends, r2 gets r1's lease back unchanged; after, r2 takes it over, and
    // learns the sandbox r1 ran, for it to adopt.
    let early = store
        .claim_sandbox_lease(APPS, &app, "r2", false, now + TTL - 1, TTL)
        .await
        .unwrap();
    assert_eq!((early.lease.holder.as_str(), early.lease.epoch), ("r1", 1));
    let later = now + TTL + 1;
    let taken = store
        .claim_sandbox_lease(APPS, &app, "r2", false, later, TTL)
        .await
        .unwrap();
    assert_eq!((taken.lease.holder.as_str(), taken.lease.epoch), ("r2", 2));
    assert_eq!(taken.lease.sandbox, None);
    assert_eq!(taken.previous_sandbox.as_deref(), Some("sb-1"));
    // Once it adopted it, the lease names it; a crash names none.
    for (named, now) in [
        (Some("sb-1"), Some("sb-1")),
        (Some(""), None),
        (Some("sb-2"), Some("sb-2")),
        (None, Some("sb-2")),
    ] {
        assert!(store
            .renew_sandbox_lease(fence("r2", 2), &app, later + TTL, named)
            .await
            .unwrap());
        let lease = store.sandbox_lease(APPS, &app).await.unwrap().unwrap();
        assert_eq!(lease.sandbox.as_deref(), now, "{named:?}");
    }

    // r1's late writes are refused and change nothing; r2's are kept.
    let late = store
        .set_app_status(
            &app,
            AppStatus::Stopped,
            Some("late"),
            Some(3),
            Some(fence("r1", 1)),
        )
        .await;
    assert!(matches!(late, Err(StoreError::Fenced)), "{late:?}");
    let late = store.clear_app_error(&app, Some(fence("r1", 1))).await;
    assert!(matches!(late, Err(StoreError::Fenced)), "{late:?}");
    assert!(!store
        .renew_sandbox_lease(fence("r1", 1), &app, later + TTL, None)
        .await
        .unwrap());
    assert!(!store
        .release_sandbox_lease(fence("r1", 1), &app)
        .await
        .unwrap());
    let row = store.find_app(&app).await.unwrap();
    assert_eq!(row.status, AppStatus::Running);
    assert_eq!(row.last_error, None);
    store
        .set_app_status(
            &app,
            AppStatus::Stopping,
            Some("by r2"),
            None,
            Some(fence("r2", 2)),
        )
        .await
        .unwrap();
    assert_eq!(
        store.find_app(&app).await.unwrap().status,
        AppStatus::Stopping
    );

    // A forced claim (a deliberate stop elsewhere) takes a live lease and says which
    // sandbox the old holder ran.
    let forced = store
        .claim_sandbox_lease(APPS, &app, "r3", true, later + 1, TTL)
        .await
        .unwrap();
    assert_eq!(
        (forced.lease.holder.as_str(), forced.lease.epoch),
        ("r3", 3)
    );
    assert_eq!(forced.lease.sandbox, None);
    assert_eq!(forced.previous_sandbox.as_deref(), Some("sb-2"));
    // Released, it is anyone's, and its epoch goes on rising.
    assert!(store
        .release_sandbox_lease(fence("r3", 3), &app)
        .await
        .unwrap());
    let again = store
        .claim_sandbox_lease(APPS, &app, "r1", false, later + 2, TTL)
        .await
        .unwrap();
    assert_eq!((again.lease.holder.as_str(), again.lease.epoch), ("r1", 4));
    // An unfenced write (no lease) is kept as before.
    store
        .set_app_status(&app, AppStatus::Stopped, None, None, None)
        .await
        .unwrap();
    assert_eq!(
        store.find_app(&app).await.unwrap().status,
        AppStatus::Stopped
    );
}

async fn leases_of_deleted_apps_go_once_they_end(db: Db) {
    let dir = tempfile::tempdir().unwrap();
    let (store, _, _pg) = burrow_testkit::fresh_store(db, dir.path()).await;
    let kept = app(&store).await;
    let found = store.find_app(&kept).await.unwrap();
    let now = 1_000_000;
    for key in [kept.as_str(), "gone-released", "gone-held", "gone-run-out"] {
        store
            .claim_sandbox_lease(APPS, key, "r1", false, now, TTL)
            .await
            .unwrap();
    }
    store
        .claim_sandbox_lease("burrow.workspace", "gone-workspace", "r1", false, now, TTL)
        .await
        .unwrap();
    store
        .release_sandbox_lease(fence("r1", 1), "gone-released")
        .await
        .unwrap();
    store
        .release_sandbox_lease(fence("r1", 1), &kept)
        .await
        .unwrap();
    store
        .renew_sandbox_lease(fence("r1", 1), "gone-held", now + 10 * TTL, None)
        .await
        .unwrap();
    // Later: the leases not renewed ran out; the one renewed is held still.
    let later = now + 2 * TTL;
    let swept = store.delete_orphaned_sandbox_leases(later).await.unwrap();
    assert_eq!(swept, 3, "released, run out, and the workspace's");
    let left = |key: &'static str| {
        let store = store.clone();
        async move { store.sandbox_lease(APPS, key).await.unwrap().is_some() }
    };
    assert!(left("gone-held").await, "held: its holder lets it go");
    assert!(!left("gone-released").await);
    assert!(!left("gone-run-out").await);
    assert!(
        store.sandbox_lease(APPS, &kept).await.unwrap().is_some(),
        "an app that exists keeps its lease row, and so its epoch"
    );
    assert_eq!(found.id.as_str(), kept);
}
