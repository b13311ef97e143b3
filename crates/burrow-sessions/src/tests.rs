//! The state machine against a fake runtime and workload, under tokio's paused clock:
//! backoff, give-up, idle, maximum lifetime, switch and reconcile in milliseconds.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use burrow_sandbox::{
    Chunk, Created, Cursor, ExecOutput, ExecSpec, ExitReason, ExitStatus, GcReport, HostListener,
    PtySession, Runtime, SandboxError, SandboxInfo, SandboxSpec, Status,
};
use parking_lot::Mutex;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;

use super::*;

type Labels = BTreeMap<String, String>;

/// Sandboxes in memory. A spec whose command is `exit` ends at once with code 3.
#[derive(Debug, Default)]
struct FakeRuntime {
    sandboxes: Mutex<BTreeMap<String, (Labels, Status)>>,
    /// `create ID` and `remove ID`, in order.
    events: Mutex<Vec<String>>,
    next: AtomicUsize,
    /// Host-service listeners, by sandbox and port: what a sandbox would connect to.
    listeners: Mutex<HashMap<(String, u16), tokio::sync::mpsc::UnboundedSender<Connection>>>,
}

#[derive(Debug)]
struct FakeListener(tokio::sync::Mutex<tokio::sync::mpsc::UnboundedReceiver<Connection>>);

#[async_trait::async_trait]
impl HostListener for FakeListener {
    async fn accept(&self) -> std::io::Result<Connection> {
        self.0
            .lock()
            .await
            .recv()
            .await
            .ok_or_else(|| std::io::Error::other("closed"))
    }
}

impl FakeRuntime {
    fn add(&self, labels: &[(&str, &str)], status: Status) -> String {
        let id = format!("sb{}", self.next.fetch_add(1, Ordering::Relaxed));
        let labels = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        self.sandboxes.lock().insert(id.clone(), (labels, status));
        id
    }

    fn crash(&self, id: &str) {
        self.sandboxes.lock().get_mut(id).unwrap().1 = exited(1);
    }

    fn live(&self) -> Vec<String> {
        self.sandboxes
            .lock()
            .iter()
            .filter(|(_, (_, s))| *s == Status::Running)
            .map(|(id, _)| id.clone())
            .collect()
    }

    fn created(&self) -> usize {
        self.events
            .lock()
            .iter()
            .filter(|e| e.starts_with("create"))
            .count()
    }

    /// Connects from inside `sandbox` to the host service on `port`; `None` if no
    /// listener is open there.
    fn dial(&self, sandbox: &str, port: u16) -> Option<tokio::io::DuplexStream> {
        let (inside, host) = tokio::io::duplex(1024);
        let listeners = self.listeners.lock();
        let sender = listeners.get(&(sandbox.to_owned(), port))?;
        sender.send(Box::new(host)).ok()?;
        Some(inside)
    }

    fn labels_of(&self, id: &str) -> Labels {
        self.sandboxes.lock()[id].0.clone()
    }

    fn version_of(&self, id: &str) -> i64 {
        self.sandboxes.lock()[id].0["test.version"].parse().unwrap()
    }
}

fn exited(code: i32) -> Status {
    Status::Exited(ExitStatus {
        reason: ExitReason::Exited,
        code: Some(code),
        signal: None,
        message: None,
        peak_memory_bytes: None,
    })
}

#[async_trait::async_trait]
impl Runtime for FakeRuntime {
    async fn create(&self, spec: SandboxSpec) -> burrow_sandbox::Result<Created> {
        let status = if spec.command[0] == "exit" {
            exited(3)
        } else {
            Status::Running
        };
        let labels: Vec<(String, String)> = spec.labels.clone().into_iter().collect();
        let labels: Vec<(&str, &str)> = labels
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let id = self.add(&labels, status);
        self.events.lock().push(format!("create {id}"));
        // Open before `create` returns, as the local runtime opens them before the process starts.
        let mut listeners = Vec::new();
        for port in spec.host_services {
            listeners.push((port, self.listen(&id, port).await?));
        }
        Ok(Created { id, listeners })
    }
    async fn status(&self, id: &str) -> burrow_sandbox::Result<Status> {
        self.sandboxes
            .lock()
            .get(id)
            .map(|(_, s)| s.clone())
            .ok_or_else(|| SandboxError::NotFound(id.into()))
    }
    async fn wait(&self, _: &str) -> burrow_sandbox::Result<ExitStatus> {
        Err(SandboxError::Internal("not in the fake".into()))
    }
    async fn stop(&self, id: &str, _: Duration) -> burrow_sandbox::Result<ExitStatus> {
        self.kill(id).await
    }
    async fn kill(&self, id: &str) -> burrow_sandbox::Result<ExitStatus> {
        let mut sandboxes = self.sandboxes.lock();
        let (_, status) = sandboxes
            .get_mut(id)
            .ok_or_else(|| SandboxError::NotFound(id.into()))?;
        *status = exited(137);
        Ok(ExitStatus {
            reason: ExitReason::Signal,
            code: None,
            signal: Some(9),
            message: None,
            peak_memory_bytes: None,
        })
    }
    async fn exec(&self, _: &str, _: ExecSpec) -> burrow_sandbox::Result<ExecOutput> {
        Err(SandboxError::Internal("not in the fake".into()))
    }
    async fn exec_pty(
        &self,
        _: &str,
        _: ExecSpec,
        _: u16,
        _: u16,
    ) -> burrow_sandbox::Result<PtySession> {
        Err(SandboxError::Internal("not in the fake".into()))
    }
    async fn connect(&self, _: &str, _: u16) -> burrow_sandbox::Result<Connection> {
        Err(SandboxError::Internal("not in the fake".into()))
    }
    async fn listen(&self, id: &str, port: u16) -> burrow_sandbox::Result<Box<dyn HostListener>> {
        let (send, receive) = tokio::sync::mpsc::unbounded_channel();
        self.listeners.lock().insert((id.to_owned(), port), send);
        Ok(Box::new(FakeListener(tokio::sync::Mutex::new(receive))))
    }
    async fn logs(&self, _: &str, cursor: Cursor) -> burrow_sandbox::Result<(Vec<Chunk>, Cursor)> {
        Ok((Vec::new(), cursor))
    }
    async fn list(&self, _: &BTreeMap<String, String>) -> burrow_sandbox::Result<Vec<SandboxInfo>> {
        Ok(self
            .sandboxes
            .lock()
            .iter()
            .map(|(id, (labels, status))| SandboxInfo {
                id: id.clone(),
                labels: labels.clone(),
                command: Vec::new(),
                created_at_ms: 0,
                status: status.clone(),
            })
            .collect())
    }
    async fn remove(&self, id: &str) -> burrow_sandbox::Result<()> {
        self.sandboxes
            .lock()
            .remove(id)
            .ok_or_else(|| SandboxError::NotFound(id.into()))?;
        self.events.lock().push(format!("remove {id}"));
        Ok(())
    }
    async fn gc(&self) -> burrow_sandbox::Result<GcReport> {
        Ok(GcReport::default())
    }
    async fn lease(&self) -> burrow_sandbox::Result<burrow_sandbox::Lease> {
        Err(SandboxError::Internal("not in the fake".into()))
    }
}

/// The one way the fake workload fails: a change made under a lease no longer held.
#[derive(Debug, thiserror::Error)]
#[error("the lease this change was made under is no longer held")]
struct FakeError;

/// Wants per key, and what the supervisor told it. Versions in `broken` exit at once;
/// versions in `slow` are never ready; versions in `failing` say they never will be.
#[derive(Default)]
struct Fake {
    runtime: Arc<FakeRuntime>,
    wants: Mutex<HashMap<String, Want>>,
    broken: Mutex<HashSet<i64>>,
    slow: Mutex<HashSet<i64>>,
    failing: Mutex<HashSet<i64>>,
    changes: Mutex<Vec<(String, Change)>>,
    gave_up: Mutex<Vec<String>>,
    /// Activity recorded, by every replica sharing it (as the database is shared).
    activity: Arc<Mutex<Vec<(String, i64)>>>,
    /// The leases a recorded change's fence is checked against, as the store does.
    leases: Option<MemoryLeases>,
    /// Whether sandboxes get the greeting host service on port 3128.
    services: std::sync::atomic::AtomicBool,
}

/// A host service that says which key it serves, then echoes.
struct Greeter;

#[async_trait::async_trait]
impl HostService for Greeter {
    async fn serve(&self, key: &str, mut connection: Connection) {
        let _ = connection
            .write_all(format!("hello {key}\n").as_bytes())
            .await;
        let mut buf = [0u8; 64];
        while let Ok(n) = connection.read(&mut buf).await {
            if n == 0 || connection.write_all(&buf[..n]).await.is_err() {
                break;
            }
        }
    }
}

impl Fake {
    fn want(&self, key: &str, version: i64, idle: Option<u64>, lifetime: Option<u64>) {
        self.want_revision(key, version, 0, idle, lifetime);
    }

    fn want_revision(
        &self,
        key: &str,
        version: i64,
        revision: i64,
        idle: Option<u64>,
        lifetime: Option<u64>,
    ) {
        self.wants.lock().insert(
            key.into(),
            Want::Run(Target {
                version,
                revision,
                idle_timeout: idle.map(Duration::from_secs),
                max_lifetime: lifetime.map(Duration::from_secs),
                active_at_ms: 0,
            }),
        );
    }

    fn phases(&self, key: &str) -> Vec<Phase> {
        self.changes
            .lock()
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, c)| c.phase)
            .collect()
    }

    fn last(&self, key: &str) -> Change {
        self.changes
            .lock()
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, c)| c.clone())
            .unwrap()
    }
}

#[async_trait::async_trait]
impl Workload for Fake {
    type Error = FakeError;
    const KEY_LABEL: &'static str = "test.key";
    const VERSION_LABEL: &'static str = "test.version";

    async fn want(&self, key: &str) -> Result<Want, FakeError> {
        let mut want = self.wants.lock().get(key).cloned().unwrap_or(Want::Gone);
        if let Want::Run(target) = &mut want {
            let activity = self.activity.lock();
            let last = activity.iter().filter(|(k, _)| k == key).map(|(_, at)| *at);
            target.active_at_ms = last.max().unwrap_or(0);
        }
        Ok(want)
    }
    async fn spec(&self, _: &str, target: &Target) -> Result<SandboxSpec, FakeError> {
        let version = target.version;
        let command = if self.broken.lock().contains(&version) {
            "exit"
        } else {
            "serve"
        };
        Ok(SandboxSpec::new(vec![command.into()]))
    }
    async fn ready(&self, _: &dyn Runtime, _: &str, sandbox: &str) -> Readiness {
        let version = self.runtime.version_of(sandbox);
        if self.failing.lock().contains(&version) {
            return Readiness::Failed(format!("version {version} cannot get ready"));
        }
        (!self.slow.lock().contains(&version)).into()
    }
    async fn record(&self, key: &str, change: Change) -> Result<(), FakeError> {
        if let (Some(fence), Some(leases)) = (&change.fence, &self.leases) {
            let lease = leases.get(Self::KEY_LABEL, key).await.unwrap().unwrap();
            if (&lease.holder, lease.epoch) != (&fence.holder, fence.epoch) {
                return Err(FakeError);
            }
        }
        self.changes.lock().push((key.into(), change));
        Ok(())
    }
    fn fenced(_: &FakeError) -> bool {
        true
    }
    async fn gave_up(&self, key: &str, _: &str) -> Result<(), FakeError> {
        self.gave_up.lock().push(key.into());
        Ok(())
    }
    async fn active_at(&self, key: &str, at_ms: i64) -> Result<(), FakeError> {
        self.activity.lock().push((key.into(), at_ms));
        Ok(())
    }
    async fn maybe_running(&self) -> Result<Vec<String>, FakeError> {
        let mut keys: Vec<String> = self.wants.lock().keys().cloned().collect();
        keys.sort();
        Ok(keys)
    }
    fn host_services(&self, _: &str) -> Vec<(u16, Arc<dyn HostService>)> {
        if self.services.load(Ordering::Relaxed) {
            vec![(3128, Arc::new(Greeter) as Arc<dyn HostService>)]
        } else {
            Vec::new()
        }
    }
}

fn supervisor(options: Options) -> (Supervisor<Fake>, Arc<FakeRuntime>) {
    supervisor_over(options, Arc::new(FakeRuntime::default()))
}

/// A supervisor over sandboxes that may already run, as after a restart.
fn supervisor_over(
    options: Options,
    runtime: Arc<FakeRuntime>,
) -> (Supervisor<Fake>, Arc<FakeRuntime>) {
    let fake = Fake {
        runtime: Arc::clone(&runtime),
        ..Fake::default()
    };
    let runtime_dyn: Arc<dyn Runtime> = runtime.clone();
    let leases = Arc::new(MemoryLeases::new("only"));
    (Supervisor::new(fake, runtime_dyn, leases, options), runtime)
}

/// One replica of several over one runtime (one host), one record of leases and one
/// record of activity, as replicas sharing a database are.
fn replica(
    name: &str,
    runtime: &Arc<FakeRuntime>,
    leases: &MemoryLeases,
    activity: &Arc<Mutex<Vec<(String, i64)>>>,
) -> Supervisor<Fake> {
    let leases = leases.replica(name);
    let fake = Fake {
        runtime: Arc::clone(runtime),
        leases: Some(leases.clone()),
        activity: Arc::clone(activity),
        ..Fake::default()
    };
    let runtime_dyn: Arc<dyn Runtime> = runtime.clone();
    Supervisor::new(fake, runtime_dyn, Arc::new(leases), Options::default())
}

/// Lets time pass in the paused clock.
async fn pass(secs: u64) {
    tokio::time::sleep(Duration::from_secs(secs)).await;
}

#[tokio::test(start_paused = true)]
async fn concurrent_first_requests_start_one_sandbox() {
    let (sup, runtime) = supervisor(Options::default());
    sup.workload().want("a", 1, None, None);
    let results = futures::future::join_all((0..5).map(|_| sup.ensure_running("a"))).await;
    let first = results[0].as_ref().unwrap().clone();
    for r in &results {
        assert_eq!(r.as_ref().unwrap(), &first);
    }
    assert_eq!(runtime.created(), 1);
    assert_eq!(sup.running("a"), Some(first.clone()));
    assert_eq!(runtime.sandboxes.lock()[&first.sandbox].0["test.key"], "a");
    let phases = sup.workload().phases("a");
    assert_eq!(&phases[..2], &[Phase::Starting, Phase::Running]);
    assert!(
        phases[2..].iter().all(|p| *p == Phase::Running),
        "{phases:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_failing_start_backs_off_then_gives_up_until_started_deliberately() {
    let (sup, runtime) = supervisor(Options::default());
    sup.workload().want("a", 1, None, None);
    sup.workload().broken.lock().insert(1);
    let began = Instant::now();
    let err = sup.ensure_running("a").await.unwrap_err();
    assert!(
        matches!(err, SessionError::StartFailed(ref m) if m.contains("exit code 3")),
        "{err}"
    );
    assert_eq!(
        began.elapsed(),
        Duration::from_secs(1 + 2 + 4),
        "backoff 1, 2, 4 s"
    );
    assert_eq!(runtime.created(), 4, "a start and three restarts");
    assert!(runtime.live().is_empty());
    assert_eq!(*sup.workload().gave_up.lock(), vec!["a".to_owned()]);
    let last = sup.workload().last("a");
    assert_eq!(last.phase, Phase::Error);
    assert_eq!(last.restarts, Some(3));
    assert!(matches!(last.error, Note::Set(ref m) if m.contains("exited before it was ready")));

    // Viewers do not start it again; a deliberate start does, and clears the error.
    let err = sup.ensure_running("a").await.unwrap_err();
    assert!(matches!(err, SessionError::GaveUp(3)), "{err}");
    assert_eq!(runtime.created(), 4);
    sup.workload().broken.lock().clear();
    sup.start("a").await.unwrap();
    assert_eq!(runtime.created(), 5);
    assert!(sup
        .workload()
        .changes
        .lock()
        .iter()
        .any(|(_, c)| c.error == Note::Clear && c.restarts == Some(0)));
    assert_eq!(sup.workload().last("a").phase, Phase::Running);
}

#[tokio::test(start_paused = true)]
async fn a_start_whose_readiness_fails_fails_at_once_with_why() {
    let options = Options {
        max_restarts: 0,
        ..Options::default()
    };
    let (sup, runtime) = supervisor(options);
    sup.workload().want("a", 1, None, None);
    sup.workload().failing.lock().insert(1);
    let began = Instant::now();
    let err = sup.ensure_running("a").await.unwrap_err();
    assert!(
        err.to_string().contains("version 1 cannot get ready"),
        "{err}"
    );
    assert!(
        began.elapsed() < Duration::from_secs(1),
        "no waiting for the timeout"
    );
    assert!(runtime.live().is_empty(), "the failed sandbox is removed");
}

#[tokio::test(start_paused = true)]
async fn a_start_that_never_gets_ready_times_out() {
    let options = Options {
        max_restarts: 0,
        ..Options::default()
    };
    let (sup, runtime) = supervisor(options);
    sup.workload().want("a", 1, None, None);
    sup.workload().slow.lock().insert(1);
    let began = Instant::now();
    let err = sup.ensure_running("a").await.unwrap_err();
    assert!(err.to_string().contains("not ready within 60 s"), "{err}");
    let took = began.elapsed();
    assert!(
        took >= Duration::from_secs(60) && took < Duration::from_secs(61),
        "{took:?}"
    );
    assert!(runtime.live().is_empty(), "the unready sandbox is removed");
}

#[tokio::test(start_paused = true)]
async fn crashes_restart_with_backoff_and_a_long_healthy_run_is_forgiven() {
    let (sup, runtime) = supervisor(Options::default());
    sup.workload().want("a", 1, None, None);
    let first = sup.ensure_running("a").await.unwrap();
    runtime.crash(&first.sandbox);
    let began = Instant::now();
    sup.tick().await;
    assert_eq!(began.elapsed(), Duration::from_secs(1));
    let second = sup.running("a").unwrap();
    assert_ne!(second.sandbox, first.sandbox);
    let restart = sup
        .workload()
        .changes
        .lock()
        .iter()
        .find(|(_, c)| c.restarts == Some(1))
        .map(|(_, c)| c.clone())
        .unwrap();
    assert!(matches!(restart.error, Note::Set(ref m) if m.contains("crashed (exit code 1)")));
    runtime.crash(&second.sandbox);
    let began = Instant::now();
    sup.tick().await;
    assert_eq!(
        began.elapsed(),
        Duration::from_secs(2),
        "the second restart waits longer"
    );

    // Five healthy minutes later, the count starts again: the next crash waits 1 s.
    pass(301).await;
    sup.tick().await;
    runtime.crash(&sup.running("a").unwrap().sandbox);
    let began = Instant::now();
    sup.tick().await;
    assert_eq!(began.elapsed(), Duration::from_secs(1));
    assert_eq!(sup.workload().last("a").phase, Phase::Running);

    // Crashes past the limit leave it in error, and nothing runs.
    for _ in 0..4 {
        if let Some(running) = sup.running("a") {
            runtime.crash(&running.sandbox);
        }
        sup.tick().await;
    }
    assert_eq!(sup.workload().last("a").phase, Phase::Error);
    assert_eq!(*sup.workload().gave_up.lock(), vec!["a".to_owned()]);
    assert!(runtime.live().is_empty());
}

#[tokio::test(start_paused = true)]
async fn idle_keys_stop_and_activity_keeps_them() {
    let (sup, runtime) = supervisor(Options::default());
    sup.workload().want("a", 1, Some(600), None);
    sup.ensure_running("a").await.unwrap();
    pass(300).await;
    sup.touch("a");
    pass(400).await;
    sup.tick().await;
    assert!(sup.running("a").is_some(), "400 s idle of 600");
    assert_eq!(
        sup.workload().activity.lock().len(),
        1,
        "activity is handed on"
    );
    pass(200).await;
    sup.tick().await;
    assert!(sup.running("a").is_none());
    assert!(runtime.live().is_empty());
    let phases = sup.workload().phases("a");
    assert_eq!(
        &phases[phases.len() - 2..],
        &[Phase::Stopping, Phase::Stopped]
    );
}

#[tokio::test(start_paused = true)]
async fn the_maximum_lifetime_stops_a_busy_key() {
    let (sup, runtime) = supervisor(Options::default());
    sup.workload().want("a", 1, Some(1800), Some(7200));
    sup.ensure_running("a").await.unwrap();
    for _ in 0..119 {
        pass(60).await;
        sup.touch("a");
        sup.tick().await;
    }
    assert!(sup.running("a").is_some(), "119 busy minutes of 120");
    pass(60).await;
    sup.touch("a");
    sup.tick().await;
    assert!(
        sup.running("a").is_none(),
        "stopped at two hours, however busy"
    );
    assert!(runtime.live().is_empty());
    assert_eq!(sup.workload().last("a").phase, Phase::Stopped);
}

#[tokio::test(start_paused = true)]
async fn a_new_version_starts_beside_the_old_and_a_broken_one_is_tried_once() {
    let (sup, runtime) = supervisor(Options::default());
    sup.workload().want("a", 1, None, None);
    let v1 = sup.ensure_running("a").await.unwrap();
    sup.workload().want("a", 2, None, None);
    sup.tick().await;
    let v2 = sup.running("a").unwrap();
    assert_eq!(v2.version, 2);
    let events = runtime.events.lock().clone();
    assert_eq!(
        events,
        vec![
            format!("create {}", v1.sandbox),
            format!("create {}", v2.sandbox),
            format!("remove {}", v1.sandbox)
        ],
        "the new sandbox is ready before the old one goes"
    );
    sup.workload().broken.lock().insert(3);
    sup.workload().want("a", 3, None, None);
    sup.tick().await;
    assert_eq!(
        sup.running("a"),
        Some(v2.clone()),
        "the old version keeps running"
    );
    let last = sup.workload().last("a");
    assert_eq!(last.phase, Phase::Running);
    assert!(matches!(last.error, Note::Set(ref m) if m.contains("exit code 3")));
    let created = runtime.created();
    sup.tick().await;
    assert_eq!(
        runtime.created(),
        created,
        "not tried again until the target changes"
    );
}

#[tokio::test(start_paused = true)]
async fn a_new_revision_of_the_same_version_switches_too_and_reconcile_reads_it_back() {
    let (sup, runtime) = supervisor(Options::default());
    sup.workload().want("a", 1, None, None);
    let first = sup.ensure_running("a").await.unwrap();
    sup.tick().await;
    assert_eq!(sup.running("a"), Some(first.clone()), "nothing changed");
    sup.workload().want_revision("a", 1, 5, None, None);
    sup.tick().await;
    let second = sup.running("a").unwrap();
    assert_ne!(second.sandbox, first.sandbox);
    assert_eq!((second.version, second.revision), (1, 5));
    assert_eq!(
        runtime.events.lock().last(),
        Some(&format!("remove {}", first.sandbox)),
        "the old sandbox goes once the new one is ready"
    );
    let labels = runtime.labels_of(&second.sandbox);
    assert_eq!(labels.get(REVISION_LABEL).map(String::as_str), Some("5"));

    let (again, _) = supervisor_over(Options::default(), runtime.clone());
    again.workload().want_revision("a", 1, 5, None, None);
    again.reconcile().await.unwrap();
    assert_eq!(
        again.running("a"),
        Some(second),
        "adopted with its revision"
    );
}

#[tokio::test(start_paused = true)]
async fn reconcile_adopts_what_runs_and_reaps_the_rest() {
    let (sup, runtime) = supervisor(Options::default());
    let fake = sup.workload();
    fake.want("a", 1, None, None);
    fake.want("b", 1, None, None);
    let adopt = runtime.add(&[("test.key", "a"), ("test.version", "1")], Status::Running);
    let duplicate = runtime.add(&[("test.key", "a"), ("test.version", "1")], Status::Running);
    let ended = runtime.add(&[("test.key", "b"), ("test.version", "1")], exited(0));
    let unknown = runtime.add(
        &[("test.key", "gone"), ("test.version", "1")],
        Status::Running,
    );
    let foreign = runtime.add(&[("other.key", "x")], Status::Running);
    sup.reconcile().await.unwrap();
    assert_eq!(
        sup.running("a"),
        Some(Running {
            sandbox: adopt.clone(),
            version: 1,
            revision: 0,
            holder: None,
        })
    );
    let left: Vec<String> = runtime.sandboxes.lock().keys().cloned().collect();
    assert_eq!(
        left,
        vec![adopt, foreign],
        "{duplicate}, {ended}, {unknown} were removed"
    );
    assert_eq!(fake.last("a").phase, Phase::Running);
    assert_eq!(fake.last("b").phase, Phase::Stopped);
    assert!(sup.running("b").is_none());
}

#[tokio::test(start_paused = true)]
async fn launch_answers_once_starting_is_recorded_and_transitions_queue_on_the_lock() {
    let (sup, runtime) = supervisor(Options::default());
    sup.workload().want("a", 1, None, None);
    sup.workload().slow.lock().insert(1);
    let task = sup.launch("a", false).await;
    assert_eq!(
        sup.workload().phases("a"),
        vec![Phase::Starting, Phase::Starting]
    );
    assert!(!task.is_finished(), "the start goes on in its task");
    // A stop waits for the start to finish, then runs: transitions never interleave.
    let stopper = {
        let sup = sup.clone();
        tokio::spawn(async move { sup.stop("a").await })
    };
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(!stopper.is_finished());
    sup.workload().slow.lock().clear();
    let running = task.await.unwrap().unwrap();
    stopper.await.unwrap().unwrap();
    let phases = sup.workload().phases("a");
    assert_eq!(
        &phases[phases.len() - 3..],
        &[Phase::Running, Phase::Stopping, Phase::Stopped]
    );
    assert!(runtime.sandboxes.lock().get(&running.sandbox).is_none());
}

#[tokio::test(start_paused = true)]
async fn forgetting_stops_the_sandbox_and_a_waiting_start_gives_up() {
    let (sup, runtime) = supervisor(Options::default());
    sup.workload().want("a", 1, None, None);
    sup.workload().slow.lock().insert(1);
    // One start holds the lock while its sandbox gets ready; a second waits behind it.
    let first = tokio::spawn({
        let sup = sup.clone();
        async move { sup.ensure_running("a").await }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let waiting = tokio::spawn({
        let sup = sup.clone();
        async move { sup.ensure_running("a").await }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let forget = tokio::spawn({
        let sup = sup.clone();
        async move { sup.forget("a").await }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    sup.workload().slow.lock().clear();
    first.await.unwrap().unwrap();
    let err = waiting.await.unwrap().unwrap_err();
    assert!(
        matches!(err, SessionError::Gone),
        "the waiting start sees the deletion: {err}"
    );
    forget.await.unwrap();
    assert!(runtime.live().is_empty());
    assert!(sup.running("a").is_none());
    assert_eq!(runtime.created(), 1, "the waiting start created nothing");
}

#[tokio::test(start_paused = true)]
async fn a_dead_sandbox_found_by_a_viewer_counts_as_a_crash() {
    let (sup, runtime) = supervisor(Options::default());
    sup.workload().want("a", 1, None, None);
    for _ in 0..4 {
        let running = sup.ensure_running("a").await.unwrap();
        runtime.crash(&running.sandbox);
    }
    // The fourth crash, found by the next viewer, is one past the limit.
    let err = sup.ensure_running("a").await.unwrap_err();
    assert!(matches!(err, SessionError::GaveUp(3)), "{err}");
    assert_eq!(runtime.created(), 4);
    assert_eq!(sup.workload().last("a").phase, Phase::Error);
    assert_eq!(*sup.workload().gave_up.lock(), vec!["a".to_owned()]);
}

#[tokio::test(start_paused = true)]
async fn upkeep_goes_on_while_one_key_is_slow_to_start() {
    let (sup, _runtime) = supervisor(Options::default());
    sup.workload().want("idle", 1, Some(60), None);
    sup.ensure_running("idle").await.unwrap();
    sup.workload().want("slow", 2, None, None);
    sup.workload().slow.lock().insert(2);
    let slow = tokio::spawn({
        let sup = sup.clone();
        async move { sup.ensure_running("slow").await }
    });
    pass(61).await;
    sup.tick().await;
    assert!(
        sup.running("idle").is_none(),
        "stopped while the other key still starts"
    );
    assert!(!slow.is_finished());
    slow.abort();
}

#[tokio::test(start_paused = true)]
async fn host_services_open_with_the_sandbox_know_its_key_and_close_with_it() {
    let (sup, runtime) = supervisor(Options::default());
    sup.workload().services.store(true, Ordering::Relaxed);
    sup.workload().want("a", 1, None, None);
    let first = sup.ensure_running("a").await.unwrap();
    let mut inside = runtime
        .dial(&first.sandbox, 3128)
        .expect("the service listens");
    let mut greeting = [0u8; 8];
    inside.read_exact(&mut greeting).await.unwrap();
    assert_eq!(
        &greeting, b"hello a\n",
        "the listener says which sandbox connected"
    );
    inside.write_all(b"ping").await.unwrap();
    let mut echo = [0u8; 4];
    inside.read_exact(&mut echo).await.unwrap();
    assert_eq!(&echo, b"ping");

    // A crash and restart: the old sandbox's service is gone, the new one has its own.
    runtime.crash(&first.sandbox);
    sup.tick().await;
    let second = sup.running("a").unwrap();
    tokio::task::yield_now().await;
    assert!(
        runtime.dial(&first.sandbox, 3128).is_none(),
        "closed with its sandbox"
    );
    assert!(runtime.dial(&second.sandbox, 3128).is_some());

    // Stopped: nothing listens. Re-adopted after a restart: it listens again.
    let adopted = runtime.add(&[("test.key", "a"), ("test.version", "1")], Status::Running);
    sup.stop("a").await.unwrap();
    tokio::task::yield_now().await;
    assert!(runtime.dial(&second.sandbox, 3128).is_none());
    let fresh = {
        let fake = Fake {
            runtime: Arc::clone(&runtime),
            ..Fake::default()
        };
        fake.services.store(true, Ordering::Relaxed);
        fake.want("a", 1, None, None);
        let runtime_dyn: Arc<dyn Runtime> = runtime.clone();
        Supervisor::new(
            fake,
            runtime_dyn,
            Arc::new(MemoryLeases::new("only")),
            Options::default(),
        )
    };
    fresh.reconcile().await.unwrap();
    assert_eq!(fresh.running("a").unwrap().sandbox, adopted);
    let mut inside = runtime
        .dial(&adopted, 3128)
        .expect("open again after re-adoption");
    inside.read_exact(&mut greeting).await.unwrap();
    assert_eq!(&greeting, b"hello a\n");
}

/// Three replicas over one host's sandboxes and one record of leases.
fn replicas() -> (Vec<Supervisor<Fake>>, Arc<FakeRuntime>, MemoryLeases) {
    let runtime = Arc::new(FakeRuntime::default());
    let leases = MemoryLeases::new("none");
    let activity = Arc::default();
    let all: Vec<_> = ["r1", "r2", "r3"]
        .iter()
        .map(|name| replica(name, &runtime, &leases, &activity))
        .collect();
    for sup in &all {
        sup.workload().want("a", 1, Some(60), None);
    }
    (all, runtime, leases)
}

#[tokio::test(start_paused = true)]
async fn first_views_spread_over_replicas_start_one_sandbox() {
    let (all, runtime, leases) = replicas();
    let views = (0..20).map(|i| all[i % 3].ensure_running("a"));
    let answers = futures::future::join_all(views).await;
    assert_eq!(runtime.created(), 1, "one start for 20 first views");
    let lease = leases.get("test.key", "a").await.unwrap().unwrap();
    let sandbox = lease.sandbox.clone().unwrap();
    for answer in &answers {
        let running = answer.as_ref().unwrap();
        assert_eq!(running.sandbox, sandbox);
        let holder = running.holder.as_deref().unwrap_or(lease.holder.as_str());
        assert_eq!(holder, lease.holder);
    }
    // The holder runs it; the others reach it through the lease, and record nothing.
    for sup in &all {
        let mine = sup.workload().leases.as_ref().unwrap().holder() == lease.holder;
        assert_eq!(sup.running("a").is_some(), mine);
        assert_eq!(sup.reach("a").unwrap().sandbox, sandbox);
        assert_eq!(sup.workload().phases("a").is_empty(), !mine);
    }
}

#[tokio::test(start_paused = true)]
async fn a_replica_past_its_lease_loses_the_key_and_cannot_write_late() {
    let (all, runtime, leases) = replicas();
    let first = all[0].ensure_running("a").await.unwrap();
    assert!(all[1].ensure_running("a").await.unwrap().holder.is_some());
    // r1 stops renewing (frozen); past its lease, r2's upkeep takes the key over and
    // adopts the same sandbox, which it can reach.
    pass(16).await;
    all[1].tick().await;
    pass(1).await;
    let lease = leases.get("test.key", "a").await.unwrap().unwrap();
    assert_eq!((lease.holder.as_str(), lease.epoch), ("r2", 2));
    assert_eq!(all[1].running("a").unwrap().sandbox, first.sandbox);
    assert_eq!(runtime.created(), 1, "adopted, not started again");
    assert_eq!(all[1].workload().last("a").phase, Phase::Running);

    // r1 wakes: its late change is refused, its renewal fails, and it lets the key go
    // without stopping the sandbox r2 now runs.
    let late = all[0].record("a", Change::to(Phase::Stopped)).await;
    assert!(matches!(late, Err(SessionError::LeaseLost)), "{late:?}");
    assert_eq!(all[0].workload().last("a").phase, Phase::Running);
    all[0].tick().await;
    pass(1).await;
    assert_eq!(all[0].running("a"), None);
    assert_eq!(runtime.live(), vec![first.sandbox.clone()]);
    assert_eq!(
        all[0].reach("a").and_then(|r| r.holder),
        Some("r2".to_owned()),
        "its viewers reach r2's sandbox at once"
    );
    // Its next view reaches r2's sandbox.
    let again = all[0].ensure_running("a").await.unwrap();
    assert_eq!(
        (again.sandbox, again.holder),
        (first.sandbox, Some("r2".to_owned()))
    );
}

#[tokio::test(start_paused = true)]
async fn a_stop_on_another_replica_takes_the_key_and_stops_its_sandbox() {
    let (all, runtime, leases) = replicas();
    let first = all[0].ensure_running("a").await.unwrap();
    all[2].stop("a").await.unwrap();
    assert!(runtime.live().is_empty(), "stopped where it ran");
    assert_eq!(all[2].workload().last("a").phase, Phase::Stopped);
    let lease = leases.get("test.key", "a").await.unwrap().unwrap();
    assert!(!lease.live(0) && lease.sandbox.is_none(), "{lease:?}");
    all[0].tick().await;
    pass(1).await;
    assert_eq!(all[0].running("a"), None, "its holder let it go");
    // A deliberate restart elsewhere then starts it there.
    let restarted = all[1].restart("a").await.unwrap();
    assert_ne!(restarted.sandbox, first.sandbox);
    assert_eq!(all[1].running("a").unwrap(), restarted);
}

#[tokio::test(start_paused = true)]
async fn viewers_on_another_replica_keep_a_key_from_going_idle() {
    let (all, runtime, _) = replicas();
    all[0].ensure_running("a").await.unwrap();
    all[1].ensure_running("a").await.unwrap();
    // Viewers reach it through r2 only, for longer than the idle timeout.
    for _ in 0..40 {
        all[1].touch("a");
        all[1].tick().await;
        all[0].tick().await;
        pass(2).await;
    }
    assert_eq!(runtime.live().len(), 1, "still running after 80 s of use");
    pass(62).await;
    all[0].tick().await;
    assert!(runtime.live().is_empty(), "stopped once nobody used it");
}

#[tokio::test(start_paused = true)]
async fn a_failed_start_lets_the_key_go_for_another_replica() {
    let (all, runtime, leases) = replicas();
    // r1 cannot run it (nothing is built, as it sees it); r2 can, at once.
    all[0]
        .workload()
        .wants
        .lock()
        .insert("a".into(), Want::Unavailable("not built".into()));
    let err = all[0].ensure_running("a").await.unwrap_err();
    assert!(matches!(err, SessionError::Unavailable(_)), "{err}");
    let lease = leases.get("test.key", "a").await.unwrap().unwrap();
    assert!(!lease.live(0), "released: {lease:?}");
    let began = Instant::now();
    let running = all[1].ensure_running("a").await.unwrap();
    assert_eq!(began.elapsed(), Duration::ZERO, "no wait for r1's lease");
    assert_eq!(running.holder, None);
    assert_eq!(runtime.created(), 1);
}

#[tokio::test(start_paused = true)]
async fn giving_up_is_the_business_of_the_replica_that_would_start_it() {
    let (all, _runtime, _) = replicas();
    all[0].workload().broken.lock().insert(1);
    assert!(all[0].ensure_running("a").await.is_err());
    assert!(matches!(
        all[0].ensure_running("a").await,
        Err(SessionError::GaveUp(3))
    ));
    // Started deliberately on r2, which can run it: r1's viewers reach it there.
    let started = all[1].start("a").await.unwrap();
    let reached = all[0].ensure_running("a").await.unwrap();
    assert_eq!(reached.sandbox, started.sandbox);
    assert_eq!(reached.holder.as_deref(), Some("r2"));
}
