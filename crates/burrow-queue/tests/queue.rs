//! The durable queue against real SQLite and PostgreSQL: racing claimers, a claimer that dies mid-task, retries, cancellation and periodic ticks.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use burrow_queue::{Handler, Options, Queue};
use burrow_store::{NewTask, Store, Task, TaskOutcome, TaskStatus};
use burrow_testkit::{both_backends, Db, PgDatabase};
use parking_lot::Mutex;

struct Database {
    store: Store,
    _dir: tempfile::TempDir,
    _pg: Option<PgDatabase>,
}

async fn database(db: Db) -> Database {
    let dir = tempfile::tempdir().unwrap();
    let (store, _, pg) = burrow_testkit::fresh_store(db, dir.path()).await;
    Database {
        store,
        _dir: dir,
        _pg: pg,
    }
}

fn task<'a>(kind: &'a str, key: &'a str, max_attempts: i64, at: i64) -> NewTask<'a> {
    NewTask {
        kind,
        dedupe_key: key,
        payload: "{}",
        max_attempts,
        run_after: at,
    }
}

/// Counts the runs of each task, then fails, hangs or succeeds as told.
#[derive(Clone, Default)]
struct Counting {
    runs: Arc<Mutex<HashMap<String, usize>>>,
    fail: bool,
    hang: bool,
}

#[async_trait::async_trait]
impl Handler for Counting {
    async fn run(&self, task: &Task) -> Result<(), String> {
        *self.runs.lock().entry(task.id.clone()).or_default() += 1;
        if self.hang {
            std::future::pending::<()>().await;
        }
        if self.fail {
            return Err(format!("attempt {} went wrong", task.attempts));
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
        Ok(())
    }
}

fn fast() -> Options {
    Options {
        poll: Duration::from_millis(20),
        lease: Duration::from_millis(600),
        backoff: Duration::ZERO,
    }
}

/// Waits, by polling the store, until `done` holds for the task.
async fn until(store: &Store, id: &str, done: impl Fn(&Task) -> bool) -> Task {
    for _ in 0..2000 {
        let task = store.get_task(id).await.unwrap();
        if done(&task) {
            return task;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("task {id} never got there: {:?}", store.get_task(id).await);
}

async fn one_claim_wins_however_many_race(db: Db) {
    let d = database(db).await;
    let now = burrow_store::now_ms();
    let (queued, created) = d
        .store
        .enqueue_task(task("k", "one", 1, now), now)
        .await
        .unwrap();
    assert!(created);
    let claims = futures::future::join_all((0..8).map(|i| {
        let store = d.store.clone();
        async move {
            store
                .claim_task(&["k"], &format!("claimer-{i}"), now, now + 60_000)
                .await
                .unwrap()
        }
    }))
    .await;
    let won: Vec<&Task> = claims.iter().flatten().collect();
    assert_eq!(won.len(), 1, "exactly one claimer gets the task");
    assert_eq!(won[0].id, queued.id);
    assert_eq!(won[0].attempts, 1);

    // Two whole queues over many tasks: each task runs exactly once.
    let mut ids = Vec::new();
    for i in 0..30 {
        let (t, _) = d
            .store
            .enqueue_task(task("count", &i.to_string(), 1, now), now)
            .await
            .unwrap();
        ids.push(t.id);
    }
    let handler = Counting::default();
    let queues: Vec<Queue> = (0..2)
        .map(|_| {
            Queue::builder(d.store.clone())
                .options(fast())
                .handle("count", 4, 1, handler.clone())
                .build()
        })
        .collect();
    let running: Vec<_> = queues
        .iter()
        .map(|q| tokio::spawn(q.clone().run()))
        .collect();
    for id in &ids {
        until(&d.store, id, |t| t.status == TaskStatus::Succeeded).await;
    }
    for r in running {
        r.abort();
    }
    let runs = handler.runs.lock();
    assert_eq!(runs.len(), 30);
    assert!(runs.values().all(|n| *n == 1), "{runs:?}");
}

async fn a_claimer_that_dies_mid_task_is_taken_over(db: Db) {
    let d = database(db).await;
    let now = burrow_store::now_ms();
    let (t, _) = d
        .store
        .enqueue_task(task("k", "x", 2, now), now)
        .await
        .unwrap();
    // A worker claims it with a short lease, then dies without renewing.
    let dead = d
        .store
        .claim_task(&["k"], "dead", now, now + 1_000)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(dead.status, TaskStatus::Running);
    assert_eq!(
        d.store.reap_tasks(now + 500).await.unwrap(),
        0,
        "its lease holds"
    );
    assert_eq!(
        d.store.reap_tasks(now + 1_001).await.unwrap(),
        1,
        "then it is taken back"
    );
    let back = d.store.get_task(&t.id).await.unwrap();
    assert_eq!(back.status, TaskStatus::Queued);
    assert!(back.error.unwrap().contains("stopped renewing"));
    let next = d
        .store
        .claim_task(&["k"], "alive", now + 1_001, now + 60_000)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(next.attempts, 2);
    // The dead worker, back from the grave, can neither renew nor finish it.
    assert_eq!(
        d.store
            .renew_task(&t.id, "dead", now + 90_000)
            .await
            .unwrap(),
        burrow_store::Renewal::Lost
    );
    assert!(!d
        .store
        .finish_task(&t.id, "dead", &TaskOutcome::Failed("late".into()), now)
        .await
        .unwrap());
    assert!(d
        .store
        .finish_task(&t.id, "alive", &TaskOutcome::Succeeded, now)
        .await
        .unwrap());
    assert_eq!(
        d.store.get_task(&t.id).await.unwrap().status,
        TaskStatus::Succeeded
    );

    // With no attempts left, a dead claim fails the task instead.
    let (t, _) = d
        .store
        .enqueue_task(task("k", "y", 1, now), now)
        .await
        .unwrap();
    d.store
        .claim_task(&["k"], "dead", now, now + 1_000)
        .await
        .unwrap()
        .unwrap();
    d.store.reap_tasks(now + 2_000).await.unwrap();
    let failed = d.store.get_task(&t.id).await.unwrap();
    assert_eq!(failed.status, TaskStatus::Failed);
    assert!(failed.error.unwrap().contains("attempts are used up"));

    // A live queue reaps while it runs, not only at start.
    let (t, _) = d
        .store
        .enqueue_task(task("count", "z", 3, now), now)
        .await
        .unwrap();
    let soon = burrow_store::now_ms();
    d.store
        .claim_task(&["count"], "dead", soon, soon + 200)
        .await
        .unwrap()
        .unwrap();
    let handler = Counting::default();
    let queue = Queue::builder(d.store.clone())
        .options(fast())
        .handle("count", 1, 3, handler.clone())
        .build();
    let running = tokio::spawn(queue.run());
    let done = until(&d.store, &t.id, |t| t.status == TaskStatus::Succeeded).await;
    running.abort();
    assert_eq!(done.attempts, 2);
    assert_eq!(handler.runs.lock()[&t.id], 1);
}

async fn failures_retry_until_the_attempts_are_used_up(db: Db) {
    let d = database(db).await;
    let handler = Counting {
        fail: true,
        ..Counting::default()
    };
    let queue = Queue::builder(d.store.clone())
        .options(fast())
        .handle("flaky", 1, 3, handler.clone())
        .build();
    let t = queue.enqueue("flaky", "a", "{}").await.unwrap();
    assert_eq!(t.max_attempts, 3);
    let running = tokio::spawn(queue.run());
    let failed = until(&d.store, &t.id, |t| t.status.is_finished()).await;
    running.abort();
    assert_eq!(failed.status, TaskStatus::Failed);
    assert_eq!(failed.attempts, 3);
    assert_eq!(failed.error.as_deref(), Some("attempt 3 went wrong"));
    assert_eq!(handler.runs.lock()[&t.id], 3);
}

async fn cancelling_stops_queued_and_running_tasks(db: Db) {
    let d = database(db).await;
    let now = burrow_store::now_ms();
    let (queued, _) = d
        .store
        .enqueue_task(task("hang", "later", 1, now + 3_600_000), now)
        .await
        .unwrap();
    assert_eq!(
        d.store.cancel_task(&queued.id, now).await.unwrap(),
        TaskStatus::Cancelled
    );
    let handler = Counting {
        hang: true,
        ..Counting::default()
    };
    let queue = Queue::builder(d.store.clone())
        .options(fast())
        .handle("hang", 1, 1, handler.clone())
        .build();
    let t = queue.enqueue("hang", "now", "{}").await.unwrap();
    let running = tokio::spawn(queue.clone().run());
    until(&d.store, &t.id, |t| t.status == TaskStatus::Running).await;
    assert_eq!(queue.cancel(&t.id).await.unwrap(), TaskStatus::Running);
    let cancelled = until(&d.store, &t.id, |t| t.status.is_finished()).await;
    running.abort();
    assert_eq!(cancelled.status, TaskStatus::Cancelled);
    assert_eq!(handler.runs.lock()[&t.id], 1);
    assert!(handler.runs.lock().get(&queued.id).is_none(), "never ran");
    // A cancel asked for while a task runs wins over the retry its failure would get.
    let now = burrow_store::now_ms();
    let (t, _) = d
        .store
        .enqueue_task(task("k", "retry", 3, now), now)
        .await
        .unwrap();
    d.store
        .claim_task(&["k"], "w", now, now + 60_000)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        d.store.cancel_task(&t.id, now).await.unwrap(),
        TaskStatus::Running
    );
    let retry = TaskOutcome::Retry {
        error: "failed".into(),
        at: now,
    };
    assert!(d.store.finish_task(&t.id, "w", &retry, now).await.unwrap());
    assert_eq!(
        d.store.get_task(&t.id).await.unwrap().status,
        TaskStatus::Cancelled
    );
}

async fn periodic_tasks_run_once_per_tick_across_processes(db: Db) {
    let d = database(db).await;
    let now = burrow_store::now_ms();
    let claims =
        futures::future::join_all((0..6).map(|_| d.store.claim_tick("sweep", now, 60_000))).await;
    assert_eq!(claims.iter().filter(|c| *c.as_ref().unwrap()).count(), 1);
    assert!(!d
        .store
        .claim_tick("sweep", now + 59_999, 60_000)
        .await
        .unwrap());
    assert!(d
        .store
        .claim_tick("sweep", now + 60_000, 60_000)
        .await
        .unwrap());

    let ran = Arc::new(AtomicUsize::new(0));
    let queues: Vec<Queue> = (0..3)
        .map(|_| {
            let ran = Arc::clone(&ran);
            Queue::builder(d.store.clone())
                .every("hourly", Duration::from_secs(3600), move || {
                    let ran = Arc::clone(&ran);
                    async move {
                        ran.fetch_add(1, Ordering::SeqCst);
                    }
                })
                .build()
        })
        .collect();
    for q in &queues {
        q.run_once().await;
        q.run_once().await;
    }
    // The claims were decided before run_once returned; wait for the run they started.
    for _ in 0..500 {
        if ran.load(Ordering::SeqCst) > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::task::yield_now().await;
    assert_eq!(
        ran.load(Ordering::SeqCst),
        1,
        "one run for the tick, in one process"
    );
}

async fn a_key_has_one_active_task(db: Db) {
    let d = database(db).await;
    let now = burrow_store::now_ms();
    let (a, new_a) = d
        .store
        .enqueue_task(task("k", "same", 1, now), now)
        .await
        .unwrap();
    let (b, new_b) = d
        .store
        .enqueue_task(task("k", "same", 1, now), now)
        .await
        .unwrap();
    assert!(new_a && !new_b);
    assert_eq!(a.id, b.id);
    let claimed = d
        .store
        .claim_task(&["k"], "w", now, now + 1_000)
        .await
        .unwrap()
        .unwrap();
    d.store
        .finish_task(&claimed.id, "w", &TaskOutcome::Succeeded, now)
        .await
        .unwrap();
    let (c, new_c) = d
        .store
        .enqueue_task(task("k", "same", 1, now), now)
        .await
        .unwrap();
    assert!(
        new_c && c.id != a.id,
        "once finished, the key is free again"
    );
    assert!(d
        .store
        .claim_task(&["other"], "w", now, now + 1)
        .await
        .unwrap()
        .is_none());
}

/// Notes the most tasks running at once.
#[derive(Clone, Default)]
struct Gauge {
    now: Arc<AtomicUsize>,
    most: Arc<AtomicUsize>,
}

#[async_trait::async_trait]
impl Handler for Gauge {
    async fn run(&self, _: &Task) -> Result<(), String> {
        let running = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.most.fetch_max(running, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(30)).await;
        self.now.fetch_sub(1, Ordering::SeqCst);
        Ok(())
    }
}

async fn a_kind_runs_at_most_its_concurrency_at_once(db: Db) {
    let d = database(db).await;
    let gauge = Gauge::default();
    let queue = Queue::builder(d.store.clone())
        .options(fast())
        .handle("limited", 2, 1, gauge.clone())
        .build();
    let mut ids = Vec::new();
    for i in 0..8 {
        ids.push(
            queue
                .enqueue("limited", &i.to_string(), "{}")
                .await
                .unwrap()
                .id,
        );
    }
    let running = tokio::spawn(queue.run());
    for id in &ids {
        until(&d.store, id, |t| t.status == TaskStatus::Succeeded).await;
    }
    running.abort();
    assert_eq!(
        gauge.most.load(Ordering::SeqCst),
        2,
        "two at once, never more"
    );
}

both_backends!(
    a_kind_runs_at_most_its_concurrency_at_once,
    one_claim_wins_however_many_race,
    a_claimer_that_dies_mid_task_is_taken_over,
    failures_retry_until_the_attempts_are_used_up,
    cancelling_stops_queued_and_running_tasks,
    periodic_tasks_run_once_per_tick_across_processes,
    a_key_has_one_active_task,
);
