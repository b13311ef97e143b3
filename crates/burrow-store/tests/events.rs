//! Events across replicas against real SQLite and PostgreSQL: every event reaches every
//! replica's subscribers once and in order, while publishers race and PostgreSQL's
//! listening connections are terminated mid-stream; a view taken away on one replica
//! is forgotten by the others at once; live-log segments read by offset.

use std::collections::BTreeSet;
use std::time::Duration;

use burrow_core::Role;
use burrow_store::{LogSegment, NewUser, Store, Subscription};
use burrow_testkit::{both_backends, Db};
use sqlx::Connection;

both_backends!(
    every_event_reaches_every_replica_once_in_order_across_dropped_listeners,
    a_view_taken_away_on_one_replica_is_forgotten_by_the_others,
    live_log_segments_are_read_from_an_offset,
);

/// How often a replica reads the table whatever rings. PostgreSQL's doorbell must do
/// without it (an hour); SQLite has no doorbell between processes, only this.
fn poll(db: Db) -> Duration {
    match db {
        Db::Postgres => Duration::from_secs(3600),
        Db::Sqlite => Duration::from_millis(50),
    }
}

/// A second replica's store on the same database.
async fn replica(url: &str, db: Db) -> Store {
    let store = Store::connect(url).await.unwrap();
    store.set_event_poll(poll(db));
    store
}

/// Terminates every connection listening for events; how many there were.
async fn terminate_listeners(url: &str) -> u64 {
    let mut admin = sqlx::PgConnection::connect(url).await.unwrap();
    let (n,): (i64,) = sqlx::query_as(
        "SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity \
         WHERE datname = current_database() AND query LIKE 'LISTEN%'",
    )
    .fetch_one(&mut admin)
    .await
    .unwrap();
    n as u64
}

async fn next(sub: &mut Subscription) -> burrow_store::Event {
    let event = tokio::time::timeout(Duration::from_secs(30), sub.next())
        .await
        .expect("an event within 30 s")
        .unwrap();
    (*event).clone()
}

async fn every_event_reaches_every_replica_once_in_order_across_dropped_listeners(db: Db) {
    let dir = tempfile::tempdir().unwrap();
    let (first, url, _pg) = burrow_testkit::fresh_store(db, dir.path()).await;
    first.set_event_poll(poll(db));
    let second = replica(&url, db).await;
    let mut subs = [
        first.subscribe().await.unwrap(),
        second.subscribe().await.unwrap(),
    ];

    // 4 publishers, two on each replica, 50 events each, all at once; PostgreSQL's
    // listeners are cut twice while they publish.
    let publishers = (0..4).map(|p| {
        let store = if p % 2 == 0 { &first } else { &second }.clone();
        tokio::spawn(async move {
            for i in 0..50 {
                store.publish("n", &format!("{p}-{i}")).await.unwrap();
                if i % 10 == 0 {
                    tokio::task::yield_now().await;
                }
            }
        })
    });
    let publishers: Vec<_> = publishers.collect();
    let mut cut = 0;
    if db == Db::Postgres {
        for _ in 0..2 {
            tokio::time::sleep(Duration::from_millis(30)).await;
            cut += terminate_listeners(&url).await;
        }
    }
    for p in publishers {
        p.await.unwrap();
    }
    let expected: BTreeSet<String> = (0..4)
        .flat_map(|p| (0..50).map(move |i| format!("{p}-{i}")))
        .collect();
    for sub in &mut subs {
        let mut seen = Vec::new();
        for _ in 0..200 {
            seen.push(next(sub).await);
        }
        assert!(
            seen.windows(2).all(|w| w[0].seq < w[1].seq),
            "in order: {seen:?}"
        );
        let subjects: BTreeSet<String> = seen.iter().map(|e| e.subject.clone()).collect();
        assert_eq!(subjects, expected, "each event once");
    }
    if db == Db::Postgres {
        assert!(cut >= 2, "both replicas were listening when cut: {cut}");
        // Cut again while nothing is published: the next event still rings, with no
        // reading on a timer to fall back on.
        while terminate_listeners(&url).await == 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let seq = first.publish("after", "cut").await.unwrap();
    for sub in &mut subs {
        let event = next(sub).await;
        assert_eq!(
            (event.seq, event.topic.as_str(), event.subject.as_str()),
            (seq, "after", "cut")
        );
    }

    // A subscriber that falls far behind what is kept reads the rest from the table.
    let mut late = second.subscribe().await.unwrap();
    let from = late.seq();
    for i in 0..4200 {
        first.publish("bulk", &i.to_string()).await.unwrap();
    }
    for i in 0..4200 {
        let event = next(&mut late).await;
        assert_eq!(event.subject, i.to_string(), "after {from}");
    }

    // Old events are swept.
    let swept = first
        .delete_events_before(burrow_store::now_ms() + 1)
        .await
        .unwrap();
    assert_eq!(swept, 4401);
    assert!(first.events_after(0, 10).await.unwrap().is_empty());
}

async fn a_view_taken_away_on_one_replica_is_forgotten_by_the_others(db: Db) {
    let dir = tempfile::tempdir().unwrap();
    let (first, url, _pg) = burrow_testkit::fresh_store(db, dir.path()).await;
    let second = replica(&url, db).await;
    let made = burrow_testkit::app_in_new_project(&first, "owner@example.com", "b1", "").await;
    let viewer = first
        .create_user(NewUser {
            email: "viewer@example.com".into(),
            name: "x".into(),
            password_hash: "x".into(),
            admin: false,
        })
        .await
        .unwrap();
    first
        .add_member(&made.project, &viewer.id, Role::Viewer)
        .await
        .unwrap();
    let app = made.app.clone();
    first
        .insert_view_session(
            "h",
            &viewer.id,
            app.as_str(),
            burrow_store::now_ms() + 60_000,
        )
        .await
        .unwrap();
    // The second replica remembers the grant, and follows events.
    let mut sub = second.subscribe().await.unwrap();
    assert_eq!(
        second.view_access("h", app.as_str()).await.unwrap(),
        Some(true)
    );
    first
        .remove_member(&made.project, &viewer.id)
        .await
        .unwrap();
    let event = next(&mut sub).await;
    assert_eq!(event.topic, "access");
    // Its reader forgot the grant before handing the event out: asked again, within
    // the time a grant is remembered.
    assert_eq!(
        second.view_access("h", app.as_str()).await.unwrap(),
        Some(false)
    );
}

async fn live_log_segments_are_read_from_an_offset(db: Db) {
    let dir = tempfile::tempdir().unwrap();
    let (store, _, _pg) = burrow_testkit::fresh_store(db, dir.path()).await;
    store.insert_build("b1", "tabulate", None).await.unwrap();
    assert!(store.claim_build("b1", "run-1", i64::MAX).await.unwrap());
    let log = "build:b1";
    let segment = |start: i64, length: i64, blob: &str| LogSegment {
        start,
        length,
        blob: blob.to_owned(),
    };
    for (start, length) in [(0, 10), (10, 5), (15, 20)] {
        let replaced = store
            .record_build_log_segment(
                "b1",
                "run-1",
                &segment(start, length, &format!("r1/{start}")),
            )
            .await
            .unwrap();
        assert_eq!(replaced, Some(vec![]));
    }
    let starts = |segments: Vec<LogSegment>| segments.iter().map(|s| s.start).collect::<Vec<_>>();
    assert_eq!(
        starts(store.log_segments_from(log, 0, 10).await.unwrap()),
        [0, 10, 15]
    );
    assert_eq!(
        starts(store.log_segments_from(log, 12, 10).await.unwrap()),
        [10, 15]
    );
    assert_eq!(
        starts(store.log_segments_from(log, 15, 1).await.unwrap()),
        [15]
    );
    assert!(store
        .log_segments_from(log, 35, 10)
        .await
        .unwrap()
        .is_empty());
    assert!(store
        .log_segments_from("build:other", 0, 10)
        .await
        .unwrap()
        .is_empty());

    // Taken over by another runner, which goes on from what it found stored (up to 15):
    // what the first recorded from there on is dropped, and the first records no more.
    assert!(store.claim_build("b1", "run-2", i64::MAX).await.unwrap());
    let replaced = store
        .record_build_log_segment("b1", "run-2", &segment(15, 7, "r2/15"))
        .await
        .unwrap();
    assert_eq!(replaced, Some(vec!["r1/15".to_owned()]));
    let late = store
        .record_build_log_segment("b1", "run-1", &segment(35, 5, "r1/35"))
        .await
        .unwrap();
    assert_eq!(late, None, "the claim is lost");
    let now: Vec<String> = store
        .log_segments_from(log, 0, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.blob)
        .collect();
    assert_eq!(now, ["r1/0", "r1/10", "r2/15"]);

    // Left over once the build ended with its whole log stored; then removed.
    assert!(store
        .builds_with_stale_log_segments(0)
        .await
        .unwrap()
        .is_empty());
    store
        .finish_build("b1", "run-2", Ok("env-1"), Some("builds/b1.log"))
        .await
        .unwrap();
    assert_eq!(
        store.builds_with_stale_log_segments(0).await.unwrap(),
        ["b1"]
    );
    let mut gone = store.remove_log_segments(log).await.unwrap();
    gone.sort();
    assert_eq!(gone, ["r1/0", "r1/10", "r2/15"]);
    assert!(store
        .log_segments_from(log, 0, 10)
        .await
        .unwrap()
        .is_empty());
}
