//! One durable work queue in the database: typed task kinds, leases renewed by heartbeat, retries, cancellation, periodic tasks.
//!
//! A task is a row (`burrow_store::Task`) with a kind, a JSON payload and a dedupe key.
//! A [`Queue`] runs the handlers registered for its kinds:
//! - each pass it first reaps running tasks whose lease has passed (their worker died
//!   or hung), so another process takes them over while running, not only at start;
//! - then it claims ready tasks of each kind while that kind has a free slot (PostgreSQL
//!   claims with `FOR UPDATE SKIP LOCKED`; SQLite has one writer);
//! - a claimed task runs with a heartbeat that renews its lease; a renewal that finds
//!   the claim gone (taken over) or cancelled stops the handler by dropping it;
//! - a handler's error retries the task with backoff until its attempts are used up;
//! - only the holder of the claim can finish a task, so a worker that lost its lease
//!   cannot overwrite its successor's outcome.
//!
//! Periodic tasks run once per tick, however many processes run: each tick is claimed
//! by moving its `next_run` on in one statement, which exactly one caller wins. Upkeep
//! of what each host keeps for itself runs in every process instead
//! ([`QueueBuilder::every_on_each_host`]).
//! Handlers must be idempotent: a task may run again after its worker dies.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use burrow_store::{NewTask, Renewal, Store, StoreError, Task, TaskOutcome, TaskStatus};
use futures::future::BoxFuture;
use tokio::sync::{Notify, Semaphore};

/// Runs the tasks of one kind.
#[async_trait::async_trait]
pub trait Handler: Send + Sync + 'static {
    /// Does the task's work. An error is retried while attempts are left; it should say
    /// what went wrong.
    async fn run(&self, task: &Task) -> Result<(), String>;
}

/// Timing of the queue.
#[derive(Debug, Clone)]
pub struct Options {
    /// How often the queue looks for work when nothing wakes it.
    pub poll: Duration,
    /// How long a claim lasts without renewal; renewed every third of it.
    pub lease: Duration,
    /// The wait before the first retry; each further one doubles it.
    pub backoff: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            poll: Duration::from_millis(500),
            lease: Duration::from_secs(30),
            backoff: Duration::from_secs(5),
        }
    }
}

struct Kind {
    handler: Arc<dyn Handler>,
    slots: Arc<Semaphore>,
    max_attempts: i64,
}

type PeriodicFn = Arc<dyn Fn() -> BoxFuture<'static, ()> + Send + Sync>;

struct Periodic {
    name: &'static str,
    every: Duration,
    run: PeriodicFn,
    /// Runs in every process, for what is each host's own (its disk); else once per
    /// tick across all processes.
    on_each_host: bool,
}

/// Wakes a queue at once, after something was queued, instead of at its next poll.
#[derive(Debug, Clone, Default)]
pub struct Waker(Arc<Notify>);

impl Waker {
    pub fn wake(&self) {
        self.0.notify_one();
    }
}

/// Registers task kinds and periodic tasks, then builds the [`Queue`].
pub struct QueueBuilder {
    store: Store,
    kinds: HashMap<&'static str, Kind>,
    periodic: Vec<Periodic>,
    options: Options,
    waker: Waker,
}

impl std::fmt::Debug for QueueBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueueBuilder")
            .field("kinds", &self.kinds.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl QueueBuilder {
    pub fn new(store: Store) -> Self {
        Self {
            store,
            kinds: HashMap::new(),
            periodic: Vec::new(),
            options: Options::default(),
            waker: Waker::default(),
        }
    }

    pub fn options(mut self, options: Options) -> Self {
        self.options = options;
        self
    }

    /// What producers of work hold to wake the queue.
    pub fn waker(&self) -> Waker {
        self.waker.clone()
    }

    /// Runs tasks of `kind` with `handler`, at most `concurrency` at once in this
    /// process, each tried at most `max_attempts` times.
    pub fn handle(
        mut self,
        kind: &'static str,
        concurrency: usize,
        max_attempts: i64,
        handler: impl Handler,
    ) -> Self {
        self.kinds.insert(
            kind,
            Kind {
                handler: Arc::new(handler),
                slots: Arc::new(Semaphore::new(concurrency.max(1))),
                max_attempts: max_attempts.max(1),
            },
        );
        self
    }

    /// Runs `task` once every `every`, in one process of all that share the database.
    pub fn every<F, Fut>(self, name: &'static str, every: Duration, task: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        self.periodic(name, every, false, task)
    }

    /// Runs `task` once every `every` in this process, whatever others do: for upkeep
    /// of what each host keeps for itself, such as its environments folder.
    pub fn every_on_each_host<F, Fut>(self, name: &'static str, every: Duration, task: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        self.periodic(name, every, true, task)
    }

    fn periodic<F, Fut>(
        mut self,
        name: &'static str,
        every: Duration,
        on_each_host: bool,
        task: F,
    ) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        self.periodic.push(Periodic {
            name,
            every,
            run: Arc::new(move || Box::pin(task())),
            on_each_host,
        });
        self
    }

    pub fn build(self) -> Queue {
        Queue {
            inner: Arc::new(Inner {
                store: self.store,
                kinds: self.kinds,
                periodic: self.periodic,
                options: self.options,
                waker: self.waker,
            }),
        }
    }
}

/// The work queue of one process; cheap to clone.
#[derive(Clone)]
pub struct Queue {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    kinds: HashMap<&'static str, Kind>,
    periodic: Vec<Periodic>,
    options: Options,
    waker: Waker,
}

impl std::fmt::Debug for Queue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Queue")
            .field("kinds", &self.inner.kinds.keys().collect::<Vec<_>>())
            .field(
                "periodic",
                &self
                    .inner
                    .periodic
                    .iter()
                    .map(|p| p.name)
                    .collect::<Vec<_>>(),
            )
            .field("options", &self.inner.options)
            .finish()
    }
}

fn now() -> i64 {
    burrow_store::now_ms()
}

fn millis(d: Duration) -> i64 {
    d.as_millis().min(i64::MAX as u128) as i64
}

/// Queues a task of `kind` (at most `max_attempts` tries) unless one with the same
/// kind and key is queued or running; returns that task. For producers that hold the
/// store but not the queue.
pub async fn enqueue(
    store: &Store,
    kind: &str,
    dedupe_key: &str,
    payload: &str,
    max_attempts: i64,
) -> Result<Task, StoreError> {
    enqueue_at(store, kind, dedupe_key, payload, max_attempts, now()).await
}

/// Queues a task as [`enqueue`] does, not to be claimed before `run_after` (ms since the
/// epoch).
pub async fn enqueue_at(
    store: &Store,
    kind: &str,
    dedupe_key: &str,
    payload: &str,
    max_attempts: i64,
    run_after: i64,
) -> Result<Task, StoreError> {
    let (task, _) = store
        .enqueue_task(
            NewTask {
                kind,
                dedupe_key,
                payload,
                max_attempts,
                run_after,
            },
            now(),
        )
        .await?;
    Ok(task)
}

impl Queue {
    pub fn builder(store: Store) -> QueueBuilder {
        QueueBuilder::new(store)
    }

    /// Queues a task of a registered kind; see [`enqueue`]. Wakes this queue.
    pub async fn enqueue(
        &self,
        kind: &str,
        dedupe_key: &str,
        payload: &str,
    ) -> Result<Task, StoreError> {
        let max_attempts = self.inner.kinds.get(kind).map_or(1, |k| k.max_attempts);
        let task = enqueue(&self.inner.store, kind, dedupe_key, payload, max_attempts).await?;
        self.inner.waker.wake();
        Ok(task)
    }

    /// Cancels a task: a queued one at once, a running one at its next heartbeat.
    pub async fn cancel(&self, id: &str) -> Result<TaskStatus, StoreError> {
        self.inner.store.cancel_task(id, now()).await
    }

    /// Runs forever: a pass at every poll, or at once when woken.
    pub async fn run(self) {
        let mut due: HashMap<&'static str, i64> = HashMap::new();
        loop {
            self.pass(&mut due).await;
            let _ =
                tokio::time::timeout(self.inner.options.poll, self.inner.waker.0.notified()).await;
        }
    }

    /// One pass: reap stale claims, start what is due, then claim and start ready tasks
    /// while their kinds have free slots. Returns how many tasks it started.
    pub async fn run_once(&self) -> usize {
        self.pass(&mut HashMap::new()).await
    }

    async fn pass(&self, due: &mut HashMap<&'static str, i64>) -> usize {
        let store = &self.inner.store;
        match store.reap_tasks(now()).await {
            Ok(0) => {}
            Ok(n) => tracing::warn!(
                tasks = n,
                "Took back tasks whose worker stopped renewing its claim"
            ),
            Err(e) => tracing::warn!(error = %e, "Could not reap stale tasks"),
        }
        for periodic in &self.inner.periodic {
            // Asking the database only when this process thinks the tick is due keeps
            // idle polls cheap; the database decides who runs it.
            if due.get(periodic.name).is_some_and(|at| *at > now()) {
                continue;
            }
            due.insert(periodic.name, now() + millis(periodic.every));
            if periodic.on_each_host {
                tokio::spawn((periodic.run)());
                continue;
            }
            match store
                .claim_tick(periodic.name, now(), millis(periodic.every))
                .await
            {
                Ok(true) => {
                    tracing::debug!(task = periodic.name, "Running a periodic task");
                    tokio::spawn((periodic.run)());
                }
                Ok(false) => {}
                Err(e) => {
                    tracing::warn!(task = periodic.name, error = %e, "Could not claim a periodic tick")
                }
            }
        }
        let mut started = 0;
        for (kind, registered) in &self.inner.kinds {
            loop {
                let Ok(slot) = Arc::clone(&registered.slots).try_acquire_owned() else {
                    break;
                };
                let token = burrow_core::ids::new_id("claim");
                let lease_until = now() + millis(self.inner.options.lease);
                let task = match store.claim_task(&[kind], &token, now(), lease_until).await {
                    Ok(Some(task)) => task,
                    Ok(None) => break,
                    Err(e) => {
                        tracing::warn!(kind, error = %e, "Could not claim a task");
                        break;
                    }
                };
                started += 1;
                let this = self.clone();
                let handler = Arc::clone(&registered.handler);
                tokio::spawn(async move {
                    this.execute(handler, task, token).await;
                    drop(slot);
                    this.inner.waker.wake();
                });
            }
        }
        started
    }

    /// Runs one claimed task beside its heartbeat, and records how it ended.
    async fn execute(&self, handler: Arc<dyn Handler>, task: Task, token: String) {
        let store = &self.inner.store;
        let lease = self.inner.options.lease;
        let heartbeat = async {
            loop {
                tokio::time::sleep(lease / 3).await;
                match store
                    .renew_task(&task.id, &token, now() + millis(lease))
                    .await
                {
                    Ok(Renewal::Held) => {}
                    Ok(stop) => return stop,
                    Err(e) => {
                        tracing::warn!(task.id = %task.id, error = %e, "Could not renew a task's claim")
                    }
                }
            }
        };
        let outcome = tokio::select! {
            result = handler.run(&task) => match result {
                Ok(()) => TaskOutcome::Succeeded,
                Err(error) if task.attempts < task.max_attempts => {
                    let backoff = self.inner.options.backoff * (1u32 << (task.attempts - 1).clamp(0, 16) as u32);
                    tracing::warn!(task.id = %task.id, kind = %task.kind, attempt = task.attempts, error = %error, "Task failed; it will be tried again");
                    TaskOutcome::Retry { error, at: now() + millis(backoff) }
                }
                Err(error) => {
                    tracing::warn!(task.id = %task.id, kind = %task.kind, error = %error, "Task failed; no attempts left");
                    TaskOutcome::Failed(error)
                }
            },
            stop = heartbeat => match stop {
                Renewal::CancelRequested => TaskOutcome::Cancelled,
                _ => {
                    tracing::warn!(task.id = %task.id, kind = %task.kind, "Lost the claim on a task; another worker has it");
                    return;
                }
            },
        };
        match store.finish_task(&task.id, &token, &outcome, now()).await {
            Ok(true) => {}
            Ok(false) => {
                tracing::warn!(task.id = %task.id, "A task's claim passed before it finished; its outcome was not recorded")
            }
            Err(e) => {
                tracing::warn!(task.id = %task.id, error = %e, "Could not record how a task ended")
            }
        }
    }
}
