//! One sandbox per key, started on demand, for any workload: apps today, workspaces next.
//!
//! The [`Supervisor`] owns the link between a key (an app's id, a workspace's id) and
//! the sandbox that serves it. It knows nothing of Streamlit, HTTP or the database: a
//! [`Workload`] says what should run for a key ([`Want`]), builds its sandbox spec,
//! probes readiness and records the state changes people see ([`Change`]).
//!
//! Every state transition of one key happens here, under that key's lock: concurrent
//! first viewers trigger exactly one start, and a stop cannot interleave with a start.
//! Around that:
//! - a start is retried with backoff (1, 2, 4 s by default) until the restarts are used
//!   up; then the key is left in [`Phase::Error`] and [`Workload::gave_up`] is told;
//! - [`Supervisor::tick`] stops keys idle past their timeout or past their maximum
//!   lifetime, restarts crashed sandboxes with the same backoff, forgives old crashes
//!   after a long healthy run, and switches a running key to a new target version by
//!   starting the new sandbox before stopping the old one;
//! - [`Supervisor::reconcile`] re-adopts sandboxes that outlived a restart of the
//!   control plane, removes the rest, and marks keys without a sandbox stopped.
//!
//! A workload may ask for host services ([`HostService`]): listeners that Burrow opens on
//! `127.0.0.1:<port>` inside each of its sandboxes' networks and serves itself (the
//! egress proxy, the package index, the data bridge). Their ports go into the spec, so the
//! runtime opens them before the sandbox's process starts; they open again when a sandbox
//! is re-adopted, and close with it.
//!
//! Replicas share one record of [`Leases`]: a replica starts, stops or adopts a key's
//! sandbox only while it holds the key's lease, so 20 first viewers spread over three
//! replicas start one sandbox; the others reach the sandbox the lease names
//! ([`Supervisor::reach`]). Upkeep renews the leases held; a lease not renewed in time
//! (a dead or frozen replica) is taken over by the next replica that needs the key,
//! which adopts the sandbox if it can reach it. Every recorded change carries the
//! holder's epoch ([`Fence`]), so a replica that lost its lease cannot write late.
//!
//! All time is read through one [`Clock`], built on tokio's clock, so tests run the whole
//! state machine under paused time in milliseconds.

mod clock;
mod leases;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use burrow_sandbox::{HostListener, Runtime, SandboxError, SandboxSpec, Status};

pub use burrow_sandbox::Connection;
pub use clock::Clock;
pub use leases::{Claimed, Fence, KeyLease, LeaseWatch, Leases, MemoryLeases};

/// A service Burrow runs for a workload's sandboxes on a port of each sandbox's own
/// loopback. The listener a connection arrives on says which key's sandbox made it.
#[async_trait::async_trait]
pub trait HostService: Send + Sync + 'static {
    /// Serves one connection from the sandbox serving `key`. What arrives is untrusted.
    async fn serve(&self, key: &str, connection: Connection);
}

/// How the supervisor behaves; every workload may have its own.
#[derive(Debug, Clone)]
pub struct Options {
    /// A sandbox not ready after this long failed to start.
    pub start_timeout: Duration,
    /// How often [`Supervisor::run_upkeep`] runs [`Supervisor::tick`].
    pub tick: Duration,
    /// Restarts after a failed start or a crash before the key is left in `error`.
    pub max_restarts: u32,
    /// The wait before the first restart; each further one doubles it.
    pub backoff: Duration,
    /// A run this long without a crash resets the restart count.
    pub forgive_after: Duration,
    /// How long a stopped sandbox's processes get after SIGTERM.
    pub stop_grace: Duration,
    /// How often readiness is probed while a sandbox starts.
    pub probe_every: Duration,
    /// How long a key's lease lasts without renewal; upkeep renews it every `tick`.
    pub lease: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            start_timeout: Duration::from_secs(60),
            tick: Duration::from_secs(2),
            max_restarts: 3,
            backoff: Duration::from_secs(1),
            forgive_after: Duration::from_secs(300),
            stop_grace: Duration::from_secs(5),
            probe_every: Duration::from_millis(25),
            lease: Duration::from_secs(15),
        }
    }
}

/// One readiness check's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Readiness {
    Ready,
    /// Not yet: asked again until the start times out.
    NotYet,
    /// It never will be; says why, and the start fails with that at once.
    Failed(String),
}

impl From<bool> for Readiness {
    fn from(ready: bool) -> Self {
        if ready {
            Readiness::Ready
        } else {
            Readiness::NotYet
        }
    }
}

/// What should run for a key now, as the workload sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Want {
    /// This version, with these policies.
    Run(Target),
    /// Nothing can run yet (for example, no version is built); says why.
    Unavailable(String),
    /// The key no longer exists.
    Gone,
}

/// The version to run for a key, and the policies that end its sandbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub version: i64,
    /// What else the sandbox is made from that can change while a version runs, such
    /// as an app's secrets; a change switches the sandbox as a new version does.
    pub revision: i64,
    /// Stop after this long without [`Supervisor::touch`]; never when `None`.
    pub idle_timeout: Option<Duration>,
    /// Stop this long after the sandbox started, however busy; never when `None`.
    pub max_lifetime: Option<Duration>,
    /// The last activity any replica recorded (ms since the epoch; 0 if none), which
    /// keeps the key from being stopped as idle as local activity does.
    pub active_at_ms: i64,
}

/// Where a key is in its life, as people see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Stopped,
    Starting,
    Running,
    Stopping,
    Error,
}

/// What a transition does to the last error people see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Note {
    Keep,
    Set(String),
    Clear,
}

/// A state transition for the workload to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub phase: Phase,
    pub error: Note,
    /// The restart count, when it changes.
    pub restarts: Option<u32>,
    /// The lease the change was made under, set by the supervisor: the workload keeps
    /// the change only while it is still held (`None`: no lease, always kept).
    pub fence: Option<Fence>,
}

impl Change {
    fn to(phase: Phase) -> Self {
        Self {
            phase,
            error: Note::Keep,
            restarts: None,
            fence: None,
        }
    }
}

/// A key's running sandbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Running {
    pub sandbox: String,
    /// The version and revision it runs; 0 when another replica runs it.
    pub version: i64,
    pub revision: i64,
    /// The replica that runs it, when it is not this one.
    pub holder: Option<String>,
}

impl Running {
    /// What the replica holding `lease` runs, once the lease names its sandbox.
    fn elsewhere(lease: &KeyLease) -> Option<Running> {
        Some(Running {
            sandbox: lease.sandbox.clone()?,
            version: 0,
            revision: 0,
            holder: Some(lease.holder.clone()),
        })
    }
}

/// The sandbox label that holds the target's revision.
pub const REVISION_LABEL: &str = "burrow.revision";

/// What the supervisor needs from a workload.
#[async_trait::async_trait]
pub trait Workload: Send + Sync + 'static {
    /// The workload's own error, passed through untouched.
    type Error: std::error::Error + Send + Sync + 'static;
    /// The sandbox label that holds the key (`burrow.app`); reconcile finds sandboxes by it.
    const KEY_LABEL: &'static str;
    /// The sandbox label that holds the version.
    const VERSION_LABEL: &'static str;

    /// What should run for `key` now.
    async fn want(&self, key: &str) -> Result<Want, Self::Error>;
    /// The sandbox that serves `key` at the target's version and revision. The
    /// supervisor adds the key, version and revision labels.
    async fn spec(&self, key: &str, target: &Target) -> Result<SandboxSpec, Self::Error>;
    /// One readiness check of `key`'s new running sandbox; the supervisor repeats it
    /// while it answers [`Readiness::NotYet`], until the sandbox ends or the start
    /// times out.
    async fn ready(&self, runtime: &dyn Runtime, key: &str, sandbox: &str) -> Readiness;
    /// Records a transition people see; with a fence, only while the lease is held at
    /// its epoch, else an error that [`fenced`](Self::fenced) recognises.
    async fn record(&self, key: &str, change: Change) -> Result<(), Self::Error>;
    /// The error says a fenced change was refused: another replica serves the key now.
    fn fenced(_error: &Self::Error) -> bool {
        false
    }
    /// The restarts are used up and the key is left in `error`: tell someone.
    async fn gave_up(&self, key: &str, message: &str) -> Result<(), Self::Error>;
    /// The last activity, when it changed since the last tick.
    async fn active_at(&self, key: &str, at_ms: i64) -> Result<(), Self::Error>;
    /// Keys whose recorded phase says a sandbox may run; reconcile marks those it does
    /// not adopt stopped.
    async fn maybe_running(&self) -> Result<Vec<String>, Self::Error>;
    /// The sandbox's output with what must never leave it in error reports and logs
    /// hidden, such as an app's secrets; as it is by default.
    async fn redact(&self, _key: &str, output: Vec<u8>) -> Vec<u8> {
        output
    }
    /// The host services `key`'s sandbox gets, by port inside the sandbox.
    fn host_services(&self, _key: &str) -> Vec<(u16, Arc<dyn HostService>)> {
        Vec::new()
    }
    /// Makes `key`'s sandbox from `spec`, labels and host services included: a new one
    /// by default; a workload may hand over one it started ahead that `spec` fits.
    async fn create(
        &self,
        runtime: &dyn Runtime,
        _key: &str,
        spec: SandboxSpec,
    ) -> burrow_sandbox::Result<burrow_sandbox::Created> {
        runtime.create(spec).await
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SessionError<E: std::error::Error + 'static> {
    /// Nothing can run for the key yet; the workload said why.
    #[error("{0}")]
    Unavailable(String),
    #[error("it no longer exists")]
    Gone,
    #[error("{0}")]
    StartFailed(String),
    #[error("it failed {0} restarts in a row; start it again deliberately")]
    GaveUp(u32),
    #[error(transparent)]
    Workload(E),
    #[error(transparent)]
    Sandbox(#[from] SandboxError),
    /// Another replica took the key over meanwhile.
    #[error("another replica serves it now; try again")]
    LeaseLost,
    /// The shared record of leases could not be read or written.
    #[error("could not tell which replica serves it: {0}")]
    Leases(String),
}

/// What the supervisor's operations return for workload `W`.
pub type SessionResult<T, W> = Result<T, SessionError<<W as Workload>::Error>>;

#[derive(Debug, Default)]
struct Slot {
    /// Held across every transition: a whole start, stop, switch or upkeep pass.
    state: tokio::sync::Mutex<SlotState>,
    /// What `state.running` was last set to, readable without waiting for a start.
    current: parking_lot::RwLock<Option<Running>>,
    /// Milliseconds since the epoch of the last activity.
    last_activity: AtomicI64,
    /// The last activity handed to the workload.
    persisted_activity: AtomicI64,
    /// Restarts are used up: only a deliberate start (or a stop) clears this.
    gave_up: AtomicBool,
    /// The key is being forgotten: a start still waiting on this slot must not go ahead.
    deleted: AtomicBool,
    /// The epoch of the key's lease this replica holds; 0 when it holds none.
    epoch: AtomicI64,
    /// Until when (ms, this replica's clock) the held lease was last known to run: past
    /// it without a renewal, upkeep leaves the key alone, as another replica may hold it.
    held_until: AtomicI64,
    /// What another replica runs for the key, as its lease last said.
    remote: parking_lot::RwLock<Option<Running>>,
}

#[derive(Debug, Default)]
struct SlotState {
    running: Option<Running>,
    /// Restarts since the last deliberate start or forgiven run.
    restarts: u32,
    /// A new target version that failed to start; not tried again until the target changes.
    failed_switch: Option<(i64, i64)>,
    /// Since when (ms) the current sandbox has run without a crash.
    healthy_since: Option<i64>,
    /// When (ms) the current sandbox started, for the maximum lifetime.
    started_at: Option<i64>,
}

impl Slot {
    fn set_running(&self, state: &mut SlotState, running: Option<Running>) {
        state.running.clone_from(&running);
        *self.current.write() = running;
    }
}

/// Starts, watches and stops one sandbox per key; cheap to clone.
pub struct Supervisor<W: Workload> {
    inner: Arc<Inner<W>>,
}

impl<W: Workload> Clone for Supervisor<W> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

struct Inner<W> {
    workload: W,
    runtime: Arc<dyn Runtime>,
    leases: Arc<dyn Leases>,
    options: Options,
    clock: Clock,
    slots: parking_lot::RwLock<HashMap<String, Arc<Slot>>>,
    /// The accept loops of each sandbox's host services.
    services: parking_lot::Mutex<HashMap<String, Vec<tokio::task::AbortHandle>>>,
}

impl<W: Workload> std::fmt::Debug for Supervisor<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Supervisor")
            .field("key_label", &W::KEY_LABEL)
            .field("options", &self.inner.options)
            .finish_non_exhaustive()
    }
}

impl<W: Workload> Supervisor<W> {
    /// A supervisor whose time is tokio's (see [`Clock`]): real in `serve`, paused in tests.
    pub fn new(
        workload: W,
        runtime: Arc<dyn Runtime>,
        leases: Arc<dyn Leases>,
        options: Options,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                workload,
                runtime,
                leases,
                options,
                clock: Clock::new(),
                slots: Default::default(),
                services: Default::default(),
            }),
        }
    }

    pub fn workload(&self) -> &W {
        &self.inner.workload
    }

    pub fn runtime(&self) -> &Arc<dyn Runtime> {
        &self.inner.runtime
    }

    pub fn options(&self) -> &Options {
        &self.inner.options
    }

    /// This replica's name in the leases.
    pub fn replica(&self) -> &str {
        self.inner.leases.holder()
    }

    /// The replica that holds the key's lease now, when it is another live one.
    pub async fn held_by_other(&self, key: &str) -> SessionResult<Option<String>, W> {
        let now = self.inner.clock.now_ms();
        let lease = self.other_lease(key, now).await;
        Ok(lease.map_err(SessionError::Leases)?.map(|l| l.holder))
    }

    /// The key's lease when another live replica holds it.
    async fn other_lease(&self, key: &str, now: i64) -> Result<Option<KeyLease>, String> {
        let lease = self.inner.leases.get(W::KEY_LABEL, key).await?;
        Ok(lease.filter(|l| l.live(now) && l.holder != self.replica()))
    }

    fn slot(&self, key: &str) -> Arc<Slot> {
        if let Some(slot) = self.inner.slots.read().get(key) {
            return Arc::clone(slot);
        }
        let mut slots = self.inner.slots.write();
        Arc::clone(slots.entry(key.to_owned()).or_default())
    }

    /// Records a change under the key's lease, when this replica holds one.
    async fn record(&self, key: &str, mut change: Change) -> SessionResult<(), W> {
        let epoch = self.slot(key).epoch.load(Ordering::Relaxed);
        if epoch > 0 {
            change.fence = Some(Fence {
                holder: self.inner.leases.holder().to_owned(),
                epoch,
            });
        }
        self.inner.workload.record(key, change).await.map_err(|e| {
            if W::fenced(&e) {
                SessionError::LeaseLost
            } else {
                SessionError::Workload(e)
            }
        })
    }

    fn lease_ms(&self) -> i64 {
        self.inner.options.lease.as_millis() as i64
    }

    /// Makes the key this replica's to start, unless another replica holds it: then
    /// what that one runs, once it is ready (waiting while it starts, and taking the
    /// key over if its lease ends meanwhile). `force` takes the key from whoever holds
    /// it, for a deliberate restart or stop; a sandbox of the old holder's that this
    /// replica can reach is stopped. Taking over an ended lease adopts the sandbox it
    /// names when this replica can reach it and its host services open.
    async fn take(
        &self,
        slot: &Slot,
        state: &mut SlotState,
        key: &str,
        force: bool,
        waiting: &mut Option<tokio::sync::oneshot::Sender<()>>,
    ) -> SessionResult<Option<Running>, W> {
        let me = self.inner.leases.holder().to_owned();
        let clock = &self.inner.clock;
        let deadline = clock.now_ms() + self.inner.options.start_timeout.as_millis() as i64;
        // Asked for once this replica must wait for another's start.
        let mut watch: Option<Option<Box<dyn LeaseWatch>>> = None;
        loop {
            let now = clock.now_ms();
            let claimed = self
                .inner
                .leases
                .claim(W::KEY_LABEL, key, force, now, self.lease_ms())
                .await
                .map_err(SessionError::Leases)?;
            let lease = claimed.lease;
            if lease.holder == me {
                slot.epoch.store(lease.epoch, Ordering::Relaxed);
                slot.held_until
                    .store(lease.expires_at_ms, Ordering::Relaxed);
                *slot.remote.write() = None;
                let ours = state.running.as_ref().map(|r| r.sandbox.clone());
                let previous = claimed
                    .previous_sandbox
                    .filter(|p| ours.as_deref() != Some(p.as_str()));
                let Some(previous) = previous else {
                    return Ok(None);
                };
                if force {
                    if self.inner.runtime.status(&previous).await.is_ok() {
                        tracing::info!(key, sandbox = %previous, "Stopping the sandbox of the replica this key was taken from");
                        self.stop_sandbox(&previous).await;
                    }
                } else if ours.is_none() {
                    self.adopt(slot, state, key, &previous).await;
                    if state.running.is_some() {
                        if let Err(e) = self.settle(slot, key, &previous).await {
                            slot.set_running(state, None);
                            return Err(e);
                        }
                    }
                }
                return Ok(None);
            }
            slot.epoch.store(0, Ordering::Relaxed);
            if let Some(running) = Running::elsewhere(&lease) {
                *slot.remote.write() = Some(running.clone());
                return Ok(Some(running));
            }
            // Another replica is starting it: wait for it, or for its lease to end. A
            // deliberate start waiting here has begun, as far as its caller is concerned.
            waiting.take().map(|w| w.send(()));
            if now > deadline {
                return Err(SessionError::StartFailed(format!(
                    "replica {} did not finish starting it within {} s",
                    lease.holder,
                    self.inner.options.start_timeout.as_secs()
                )));
            }
            match &mut watch {
                // Listen first, then look again: a change in between is seen either way.
                None => watch = Some(self.inner.leases.watch().await),
                // Woken when the start ends; looked at every second anyway, for a
                // lease that runs out (nobody tells of that).
                Some(Some(changes)) => {
                    tokio::select! {
                        () = changes.changed(W::KEY_LABEL, key) => {}
                        () = clock.sleep(Duration::from_secs(1)) => {}
                    }
                }
                Some(None) => clock.sleep(Duration::from_millis(100)).await,
            }
        }
    }

    /// Adopts `sandbox`, which the lease this replica just took names, if it runs here
    /// and its host services open (they do not while the replica it was taken from
    /// still holds them); otherwise removes what is left of it here.
    async fn adopt(&self, slot: &Slot, state: &mut SlotState, key: &str, sandbox: &str) {
        let labels = BTreeMap::from([(W::KEY_LABEL.to_owned(), key.to_owned())]);
        let Some(found) = self
            .inner
            .runtime
            .list(&labels)
            .await
            .ok()
            .and_then(|all| all.into_iter().find(|s| s.id == sandbox))
        else {
            return;
        };
        if found.status != Status::Running {
            self.remove_sandbox(sandbox).await;
            return;
        }
        if let Err(e) = self.open_services(key, sandbox).await {
            tracing::warn!(key, sandbox, error = %e, "Could not adopt the sandbox of the replica this key was taken from; starting another");
            self.remove_sandbox(sandbox).await;
            return;
        }
        let now = self.inner.clock.now_ms();
        let label = |name: &str| {
            found
                .labels
                .get(name)
                .and_then(|v| v.parse().ok())
                .unwrap_or(0)
        };
        state.healthy_since = Some(now);
        state.started_at = Some(found.created_at_ms.min(now));
        slot.last_activity.store(now, Ordering::Relaxed);
        slot.set_running(
            state,
            Some(Running {
                sandbox: sandbox.to_owned(),
                version: label(W::VERSION_LABEL),
                revision: label(REVISION_LABEL),
                holder: None,
            }),
        );
        tracing::info!(
            key,
            sandbox,
            "Took over a sandbox whose replica's lease ended"
        );
    }

    /// Names the key's new sandbox in the lease this replica holds; a lease lost
    /// meanwhile stops it.
    async fn settle(&self, slot: &Slot, key: &str, sandbox: &str) -> SessionResult<(), W> {
        let epoch = slot.epoch.load(Ordering::Relaxed);
        let expires = self.inner.clock.now_ms() + self.lease_ms();
        match self
            .inner
            .leases
            .renew(W::KEY_LABEL, key, epoch, expires, Some(sandbox))
            .await
        {
            Ok(true) => {
                slot.held_until.store(expires, Ordering::Relaxed);
                Ok(())
            }
            Ok(false) => {
                self.stop_sandbox(sandbox).await;
                Err(SessionError::LeaseLost)
            }
            Err(e) => {
                self.stop_sandbox(sandbox).await;
                Err(SessionError::Leases(e))
            }
        }
    }

    /// Names no sandbox in the lease this replica holds, its sandbox being gone.
    async fn unname(&self, slot: &Slot, key: &str) {
        let epoch = slot.epoch.load(Ordering::Relaxed);
        if epoch > 0 {
            let expires = self.inner.clock.now_ms() + self.lease_ms();
            let renewed = self
                .inner
                .leases
                .renew(W::KEY_LABEL, key, epoch, expires, Some(""))
                .await;
            if let Err(e) = renewed {
                tracing::warn!(key, error = %e, "Could not clear a crashed sandbox from its lease");
            }
        }
    }

    /// Gives up the key's lease: it has no sandbox here now.
    async fn release(&self, slot: &Slot, key: &str) {
        let epoch = slot.epoch.swap(0, Ordering::Relaxed);
        if epoch > 0 {
            if let Err(e) = self.inner.leases.release(W::KEY_LABEL, key, epoch).await {
                tracing::warn!(key, error = %e, "Could not release a key's lease; it ends on its own");
            }
        }
    }

    /// The lease held at `epoch` was not renewed: another replica serves the key now.
    /// Its sandbox is left to the new holder if it adopted it, stopped otherwise;
    /// nothing is recorded, as the new holder records.
    async fn lost(&self, key: &str, slot: &Slot, epoch: i64) {
        let mut state = slot.state.lock().await;
        if slot.epoch.load(Ordering::Relaxed) != epoch {
            return;
        }
        slot.epoch.store(0, Ordering::Relaxed);
        tracing::warn!(key, epoch, "Lost this key's lease to another replica");
        let lease = self
            .inner
            .leases
            .get(W::KEY_LABEL, key)
            .await
            .ok()
            .flatten();
        if let Some(running) = state.running.clone() {
            slot.set_running(&mut state, None);
            self.close_services(&running.sandbox);
            let adopted = lease
                .as_ref()
                .is_some_and(|l| l.sandbox.as_deref() == Some(running.sandbox.as_str()));
            if !adopted {
                self.stop_sandbox(&running.sandbox).await;
            }
        }
        // Viewers here reach what the new holder runs from now on.
        if let Some(lease) = lease.filter(|l| !l.holder.is_empty()) {
            *slot.remote.write() = Running::elsewhere(&lease);
        }
    }

    /// Notes activity, which keeps the key from being stopped as idle.
    pub fn touch(&self, key: &str) {
        self.slot(key)
            .last_activity
            .store(self.inner.clock.now_ms(), Ordering::Relaxed);
    }

    /// The key's running sandbox, as [`reach`](Self::reach) finds it, with the activity
    /// noted ([`touch`](Self::touch)) when there is one: what a viewer's request does,
    /// in one lookup.
    pub fn visit(&self, key: &str) -> Option<Running> {
        let slots = self.inner.slots.read();
        let slot = slots.get(key)?;
        let running = slot.current.read().clone();
        let running = running.or_else(|| slot.remote.read().clone())?;
        let now = self.inner.clock.now_ms();
        // Written only when it moves on: the threads serving viewers would otherwise
        // all write the same memory on every request.
        if slot.last_activity.load(Ordering::Relaxed) != now {
            slot.last_activity.store(now, Ordering::Relaxed);
        }
        Some(running)
    }

    /// Every key's slot, as they are now.
    fn slots(&self) -> Vec<(String, Arc<Slot>)> {
        self.inner
            .slots
            .read()
            .iter()
            .map(|(k, v)| (k.clone(), Arc::clone(v)))
            .collect()
    }

    /// Every key that has a running sandbox here now, with it; not those whose lease
    /// has run out unrenewed, which another replica may hold by now.
    pub fn running_keys(&self) -> Vec<(String, Running)> {
        self.slots()
            .into_iter()
            .filter(|(_, slot)| !self.lapsed(slot))
            .filter_map(|(key, slot)| slot.current.read().clone().map(|r| (key, r)))
            .collect()
    }

    /// The lease this replica holds for the slot ran out without a renewal.
    fn lapsed(&self, slot: &Slot) -> bool {
        slot.epoch.load(Ordering::Relaxed) > 0
            && self.inner.clock.now_ms() > slot.held_until.load(Ordering::Relaxed)
    }

    /// The key's running sandbox on this replica, if it has one now; never waits for a start.
    pub fn running(&self, key: &str) -> Option<Running> {
        self.slot(key).current.read().clone()
    }

    /// The key's running sandbox, on this replica or, as its lease last said, on
    /// another; never waits.
    pub fn reach(&self, key: &str) -> Option<Running> {
        let slot = self.slot(key);
        let here = slot.current.read().clone();
        here.or_else(|| slot.remote.read().clone())
    }

    /// Forgets what another replica was last known to run for the key, after it did
    /// not answer: the next [`ensure_running`](Self::ensure_running) reads the lease again.
    pub fn unreachable(&self, key: &str, sandbox: &str) {
        let slot = self.slot(key);
        let mut remote = slot.remote.write();
        if remote.as_ref().is_some_and(|r| r.sandbox == sandbox) {
            *remote = None;
        }
    }

    /// Starts the key unless it runs; returns its sandbox once ready. Concurrent callers
    /// wait for the one start. A key whose restarts are used up stays stopped.
    pub async fn ensure_running(&self, key: &str) -> SessionResult<Running, W> {
        let slot = self.slot(key);
        let mut state = slot.state.lock().await;
        self.ensure_locked(&slot, &mut state, key).await
    }

    /// A deliberate start (`restart` stops first), in a task of its own so that a caller
    /// going away cannot cut it short. Returns once the start holds the key's lock and
    /// has recorded `starting` (or once another transition holds it), with the task.
    pub async fn launch(
        &self,
        key: &str,
        restart: bool,
    ) -> tokio::task::JoinHandle<SessionResult<Running, W>> {
        let (begun, begun_rx) = tokio::sync::oneshot::channel::<()>();
        let this = self.clone();
        let key = key.to_owned();
        let task = tokio::spawn(async move {
            let slot = this.slot(&key);
            let mut begun = Some(begun);
            let mut state = match slot.state.try_lock() {
                Ok(state) => state,
                Err(_) => {
                    // Another transition is under way; what it shows is the answer for now.
                    begun.take().map(|b| b.send(()));
                    slot.state.lock().await
                }
            };
            let started = async {
                // A restart takes the key from whichever replica runs it; a start of a
                // key another replica runs is answered with what runs there.
                if restart || state.running.is_none() {
                    let taken = this.take(&slot, &mut state, &key, restart, &mut begun);
                    if let Some(remote) = taken.await? {
                        return Ok(remote);
                    }
                }
                if restart {
                    this.stop_locked(&slot, &mut state, &key).await?;
                }
                slot.gave_up.store(false, Ordering::Relaxed);
                state.restarts = 0;
                let phase = if state.running.is_some() {
                    Phase::Running
                } else {
                    Phase::Starting
                };
                let recorded = this
                    .record(
                        &key,
                        Change {
                            phase,
                            error: Note::Clear,
                            restarts: Some(0),
                            fence: None,
                        },
                    )
                    .await;
                begun.take().map(|b| b.send(()));
                recorded?;
                this.ensure_locked(&slot, &mut state, &key).await
            }
            .await;
            this.release_if_idle(&slot, &state, &key, &started).await;
            started
        });
        // The sender is dropped, unsent, when the task ends early: that ends the wait too.
        let _ = begun_rx.await;
        task
    }

    /// A deliberate start: clears the last error and the restart count, then starts.
    pub async fn start(&self, key: &str) -> SessionResult<Running, W> {
        join(self.launch(key, false).await).await
    }

    /// Stops, then starts again, under one hold of the key's lock.
    pub async fn restart(&self, key: &str) -> SessionResult<Running, W> {
        join(self.launch(key, true).await).await
    }

    /// Stops the key's sandbox, if any, and records it stopped. The key is taken from
    /// whichever replica runs it, so the stop holds everywhere.
    pub async fn stop(&self, key: &str) -> SessionResult<(), W> {
        // In a task of its own, so a caller going away cannot leave the key taken and
        // half stopped.
        let (this, key) = (self.clone(), key.to_owned());
        let task = tokio::spawn(async move {
            let slot = this.slot(&key);
            let mut state = slot.state.lock().await;
            this.take(&slot, &mut state, &key, true, &mut None).await?;
            let stopped = this.stop_locked(&slot, &mut state, &key).await;
            if !matches!(stopped, Err(SessionError::LeaseLost)) {
                this.release(&slot, &key).await;
            }
            stopped
        });
        join(task).await
    }

    async fn stop_locked(
        &self,
        slot: &Slot,
        state: &mut SlotState,
        key: &str,
    ) -> SessionResult<(), W> {
        state.restarts = 0;
        slot.gave_up.store(false, Ordering::Relaxed);
        if let Some(running) = state.running.clone() {
            let recorded = self.record(key, Change::to(Phase::Stopping)).await;
            // Another replica holds the key now and may have adopted the sandbox:
            // `lost` decides what becomes of it.
            if matches!(recorded, Err(SessionError::LeaseLost)) {
                return recorded;
            }
            slot.set_running(state, None);
            // Otherwise the sandbox goes whatever the store says: a failed write must
            // not leave it running untracked.
            self.stop_sandbox(&running.sandbox).await;
            recorded?;
        }
        self.record(key, Change::to(Phase::Stopped)).await
    }

    /// Stops the key's sandbox and forgets the key, which is being deleted. A start
    /// waiting for the key's lock gives up.
    pub async fn forget(&self, key: &str) {
        let slot = self.slot(key);
        slot.deleted.store(true, Ordering::Relaxed);
        let mut state = slot.state.lock().await;
        if let Some(running) = state.running.clone() {
            slot.set_running(&mut state, None);
            self.stop_sandbox(&running.sandbox).await;
        }
        self.release(&slot, key).await;
        drop(state);
        self.inner.slots.write().remove(key);
    }

    async fn ensure_locked(
        &self,
        slot: &Slot,
        state: &mut SlotState,
        key: &str,
    ) -> SessionResult<Running, W> {
        if slot.deleted.load(Ordering::Relaxed) {
            return Err(SessionError::Gone);
        }
        if let Some(running) = &state.running {
            if matches!(
                self.inner.runtime.status(&running.sandbox).await,
                Ok(Status::Running)
            ) {
                let running = running.clone();
                self.record(key, Change::to(Phase::Running)).await?;
                return Ok(running);
            }
            // It ended since upkeep last looked: a crash like any other, counted and
            // backed off, so viewers reconnecting cannot restart it past the limit.
            let running = running.clone();
            self.crashed(slot, state, key, &running).await?;
        }
        slot.last_activity
            .store(self.inner.clock.now_ms(), Ordering::Relaxed);
        if let Some(remote) = self.take(slot, state, key, false, &mut None).await? {
            return Ok(remote);
        }
        let started = if let Some(adopted) = state.running.clone() {
            self.record(key, Change::to(Phase::Running))
                .await
                .map(|()| adopted)
        } else if slot.gave_up.load(Ordering::Relaxed) {
            // Only the replica that would start it again remembers giving up.
            Err(SessionError::GaveUp(self.inner.options.max_restarts))
        } else {
            self.start_locked(slot, state, key).await
        };
        self.release_if_idle(slot, state, key, &started).await;
        started
    }

    /// After a failed transition that left the key with no sandbox here: its lease goes,
    /// so another replica can start it (a lease lost meanwhile is not this one's).
    async fn release_if_idle<T>(
        &self,
        slot: &Slot,
        state: &SlotState,
        key: &str,
        outcome: &SessionResult<T, W>,
    ) {
        if outcome.is_err()
            && state.running.is_none()
            && !matches!(outcome, Err(SessionError::LeaseLost))
        {
            self.release(slot, key).await;
        }
    }

    /// Starts the target version, retrying a failed start with backoff until the
    /// restarts are used up; then the key is left in `error`.
    async fn start_locked(
        &self,
        slot: &Slot,
        state: &mut SlotState,
        key: &str,
    ) -> SessionResult<Running, W> {
        loop {
            let target = match self
                .inner
                .workload
                .want(key)
                .await
                .map_err(SessionError::Workload)?
            {
                Want::Run(target) => target,
                Want::Unavailable(why) => {
                    self.record(key, Change::to(Phase::Stopped)).await?;
                    return Err(SessionError::Unavailable(why));
                }
                Want::Gone => return Err(SessionError::Gone),
            };
            self.record(
                key,
                Change {
                    phase: Phase::Starting,
                    error: Note::Keep,
                    restarts: Some(state.restarts),
                    fence: None,
                },
            )
            .await?;
            let message = match self.start_sandbox(key, &target).await {
                Ok(running) => {
                    self.settle(slot, key, &running.sandbox).await?;
                    // Tracked before it is recorded, so a failed write leaves no
                    // sandbox nobody stops.
                    let now = self.inner.clock.now_ms();
                    state.healthy_since = Some(now);
                    state.started_at = Some(now);
                    slot.set_running(state, Some(running.clone()));
                    self.record(key, Change::to(Phase::Running)).await?;
                    return Ok(running);
                }
                Err(message) => message,
            };
            if state.restarts >= self.inner.options.max_restarts {
                self.give_up(slot, key, &message).await?;
                return Err(SessionError::StartFailed(message));
            }
            self.note_restart(state, key, &message).await?;
        }
    }

    /// Counts a restart, records it with its reason, and waits out its backoff.
    async fn note_restart(
        &self,
        state: &mut SlotState,
        key: &str,
        message: &str,
    ) -> SessionResult<(), W> {
        state.restarts += 1;
        tracing::warn!(key, restarts = state.restarts, error = %message, "Sandbox failed; restarting");
        self.record(
            key,
            Change {
                phase: Phase::Starting,
                error: Note::Set(message.to_owned()),
                restarts: Some(state.restarts),
                fence: None,
            },
        )
        .await?;
        let backoff = self.inner.options.backoff * (1u32 << (state.restarts - 1).min(16));
        self.inner.clock.sleep(backoff).await;
        Ok(())
    }

    /// Handles a sandbox that ended on its own: removes it, keeping its last output in
    /// the error, and counts a restart with its backoff, or gives up past the limit.
    async fn crashed(
        &self,
        slot: &Slot,
        state: &mut SlotState,
        key: &str,
        running: &Running,
    ) -> SessionResult<(), W> {
        let why = match self.inner.runtime.status(&running.sandbox).await {
            Ok(Status::Exited(exit)) => format!("it crashed ({exit})"),
            Ok(Status::Running) => "it stopped answering".to_owned(),
            Ok(Status::Lost) => "its sandbox was lost".to_owned(),
            Err(e) => e.to_string(),
        };
        let tail = self.log_tail(key, &running.sandbox, 20).await;
        self.remove_sandbox(&running.sandbox).await;
        slot.set_running(state, None);
        state.healthy_since = None;
        // Other replicas wait for the restart rather than reach a sandbox that is gone.
        self.unname(slot, key).await;
        let message = format!("{why}; its last output:\n{tail}");
        tracing::warn!(key, error = %message, "Sandbox crashed");
        if state.restarts >= self.inner.options.max_restarts {
            return self.give_up(slot, key, &message).await;
        }
        self.note_restart(state, key, &message).await
    }

    /// Leaves the key in `error` with `message`, and tells the workload.
    async fn give_up(&self, slot: &Slot, key: &str, message: &str) -> SessionResult<(), W> {
        tracing::warn!(key, error = %message, "Sandbox failed too often; leaving it in error");
        slot.gave_up.store(true, Ordering::Relaxed);
        let recorded = self
            .record(
                key,
                Change {
                    phase: Phase::Error,
                    error: Note::Set(message.to_owned()),
                    restarts: Some(self.inner.options.max_restarts),
                    fence: None,
                },
            )
            .await;
        self.release(slot, key).await;
        recorded?;
        self.inner
            .workload
            .gave_up(key, message)
            .await
            .map_err(SessionError::Workload)
    }

    /// Creates the sandbox for `version` and waits until it is ready; on failure
    /// removes it and says why, with its last output.
    async fn start_sandbox(&self, key: &str, target: &Target) -> Result<Running, String> {
        let (version, revision) = (target.version, target.revision);
        let mut spec = self
            .inner
            .workload
            .spec(key, target)
            .await
            .map_err(|e| e.to_string())?;
        spec.labels.insert(W::KEY_LABEL.to_owned(), key.to_owned());
        spec.labels
            .insert(W::VERSION_LABEL.to_owned(), version.to_string());
        spec.labels
            .insert(REVISION_LABEL.to_owned(), revision.to_string());
        let services = self.inner.workload.host_services(key);
        for (port, _) in &services {
            if !spec.host_services.contains(port) {
                spec.host_services.push(*port);
            }
        }
        let created = self
            .inner
            .workload
            .create(self.inner.runtime.as_ref(), key, spec)
            .await
            .map_err(|e| e.to_string())?;
        let sandbox = created.id;
        let ready = match self.serve_services(key, &sandbox, services, created.listeners) {
            Ok(()) => self.wait_ready(key, &sandbox).await,
            Err(e) => Err(e),
        };
        match ready {
            Ok(()) => {
                tracing::info!(key, version, sandbox = %sandbox, "Sandbox is ready");
                Ok(Running {
                    sandbox,
                    version,
                    revision,
                    holder: None,
                })
            }
            Err(why) => {
                let tail = self.log_tail(key, &sandbox, 20).await;
                self.stop_sandbox(&sandbox).await;
                Err(if tail.is_empty() {
                    why
                } else {
                    format!("{why}; its last output:\n{tail}")
                })
            }
        }
    }

    /// Probes readiness until it passes, the sandbox ends, or the start times out.
    async fn wait_ready(&self, key: &str, sandbox: &str) -> Result<(), String> {
        let clock = &self.inner.clock;
        let deadline = clock.now_ms() + self.inner.options.start_timeout.as_millis() as i64;
        loop {
            match self.inner.runtime.status(sandbox).await {
                Ok(Status::Running) => {}
                Ok(Status::Exited(exit)) => {
                    return Err(format!("it exited before it was ready ({exit})"))
                }
                Ok(Status::Lost) => return Err("its sandbox was lost".into()),
                Err(e) => return Err(e.to_string()),
            }
            match self
                .inner
                .workload
                .ready(self.inner.runtime.as_ref(), key, sandbox)
                .await
            {
                Readiness::Ready => return Ok(()),
                Readiness::Failed(why) => return Err(why),
                Readiness::NotYet => {}
            }
            if clock.now_ms() > deadline {
                return Err(format!(
                    "it was not ready within {} s",
                    self.inner.options.start_timeout.as_secs()
                ));
            }
            clock.sleep(self.inner.options.probe_every).await;
        }
    }

    /// The last lines of `key`'s sandbox's output, redacted by the workload, for error
    /// reports.
    pub async fn log_tail(&self, key: &str, sandbox: &str, lines: usize) -> String {
        let Ok((chunks, _)) = self
            .inner
            .runtime
            .logs(sandbox, burrow_sandbox::Cursor::default())
            .await
        else {
            return String::new();
        };
        let text: Vec<u8> = chunks.into_iter().flat_map(|c| c.data).collect();
        let text = self.inner.workload.redact(key, text).await;
        let text = String::from_utf8_lossy(&text);
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// Opens the workload's host services for `key` in a re-adopted `sandbox` and serves them.
    async fn open_services(&self, key: &str, sandbox: &str) -> Result<(), String> {
        let services = self.inner.workload.host_services(key);
        let mut listeners = Vec::new();
        for (port, _) in &services {
            match self.inner.runtime.listen(sandbox, *port).await {
                Ok(listener) => listeners.push((*port, listener)),
                Err(e) => {
                    return Err(format!(
                        "its host service on port {port} could not open: {e}"
                    ))
                }
            }
        }
        self.serve_services(key, sandbox, services, listeners)
    }

    /// Serves each of `key`'s host services on its listener in `sandbox`, each accept loop
    /// a task that ends with the sandbox.
    fn serve_services(
        &self,
        key: &str,
        sandbox: &str,
        services: Vec<(u16, Arc<dyn HostService>)>,
        mut listeners: Vec<(u16, Box<dyn HostListener>)>,
    ) -> Result<(), String> {
        let mut loops = Vec::new();
        for (port, service) in services {
            let Some(at) = listeners.iter().position(|(p, _)| *p == port) else {
                loops.iter().for_each(tokio::task::AbortHandle::abort);
                return Err(format!(
                    "the runtime opened no listener for its host service on port {port}: \
                     the runtime does not support host services"
                ));
            };
            let (_, listener) = listeners.swap_remove(at);
            let key = key.to_owned();
            let task = tokio::spawn(async move {
                loop {
                    match listener.accept().await {
                        Ok(connection) => {
                            let (service, key) = (Arc::clone(&service), key.clone());
                            tokio::spawn(async move { service.serve(&key, connection).await });
                        }
                        Err(e) => {
                            tracing::warn!(key, port, error = %e, "A host service stopped accepting");
                            return;
                        }
                    }
                }
            });
            loops.push(task.abort_handle());
        }
        if !loops.is_empty() {
            self.inner.services.lock().insert(sandbox.to_owned(), loops);
        }
        Ok(())
    }

    fn close_services(&self, sandbox: &str) {
        if let Some(loops) = self.inner.services.lock().remove(sandbox) {
            loops.iter().for_each(tokio::task::AbortHandle::abort);
        }
    }

    /// Closes a sandbox's host services and removes it.
    async fn remove_sandbox(&self, sandbox: &str) {
        self.close_services(sandbox);
        let _ = self.inner.runtime.remove(sandbox).await;
    }

    async fn stop_sandbox(&self, sandbox: &str) {
        self.close_services(sandbox);
        let _ = self
            .inner
            .runtime
            .stop(sandbox, self.inner.options.stop_grace)
            .await;
        let _ = self.inner.runtime.remove(sandbox).await;
    }

    /// After a restart of the control plane: re-adopts sandboxes of known keys that
    /// still run (one per key), removes every other sandbox of this workload, and marks
    /// keys that may have been running but have no sandbox stopped. Leaves no orphans.
    pub async fn reconcile(&self) -> SessionResult<(), W> {
        let sandboxes = self.inner.runtime.list(&BTreeMap::new()).await?;
        let mut adopted: HashMap<String, (Running, i64)> = HashMap::new();
        let me = self.inner.leases.holder().to_owned();
        let now = self.inner.clock.now_ms();
        // Keys another live replica holds are its to run: their sandboxes here are left
        // alone, unless its lease names another one and this one is older than any
        // start or switch takes (it is left over then).
        let mut elsewhere: HashMap<String, KeyLease> = HashMap::new();
        let left_over = now - 2 * self.inner.options.start_timeout.as_millis() as i64;
        for sandbox in sandboxes {
            let Some(key) = sandbox.labels.get(W::KEY_LABEL) else {
                continue;
            };
            if !elsewhere.contains_key(key) {
                if let Some(lease) = self.held_elsewhere(key, now).await {
                    elsewhere.insert(key.clone(), lease);
                }
            }
            if let Some(theirs) = elsewhere.get(key) {
                let named = theirs.sandbox.as_ref().is_some_and(|id| *id == sandbox.id);
                if !named && theirs.sandbox.is_some() && sandbox.created_at_ms < left_over {
                    let _ = self.inner.runtime.remove(&sandbox.id).await;
                }
                continue;
            }
            let version = sandbox
                .labels
                .get(W::VERSION_LABEL)
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            let revision = sandbox
                .labels
                .get(REVISION_LABEL)
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            let alive = sandbox.status == Status::Running;
            // Only a key the workload says is gone loses its sandbox; one it cannot
            // answer for now keeps it, and the next tick looks again.
            let known = match self.inner.workload.want(key).await {
                Ok(Want::Gone) => false,
                Ok(_) => true,
                Err(e) => {
                    tracing::warn!(key, error = %e, "Could not tell what should run; keeping its sandbox");
                    true
                }
            };
            if alive && known && !adopted.contains_key(key) {
                let running = Running {
                    sandbox: sandbox.id.clone(),
                    version,
                    revision,
                    holder: None,
                };
                adopted.insert(key.clone(), (running, sandbox.created_at_ms));
            } else {
                let _ = self.inner.runtime.remove(&sandbox.id).await;
            }
        }
        for key in self
            .inner
            .workload
            .maybe_running()
            .await
            .map_err(SessionError::Workload)?
        {
            if !adopted.contains_key(&key) && !elsewhere.contains_key(&key) {
                if let Some(lease) = self.held_elsewhere(&key, now).await {
                    elsewhere.insert(key, lease);
                    continue;
                }
                if let Err(e) = self.record(&key, Change::to(Phase::Stopped)).await {
                    tracing::warn!(key, error = %e, "Could not record a key stopped");
                }
            }
        }
        // Keys other replicas run are followed, so one whose replica dies is taken over.
        for (key, lease) in elsewhere {
            if let Some(running) = Running::elsewhere(&lease) {
                *self.slot(&key).remote.write() = Some(running);
            }
        }
        for (key, (running, created_at)) in adopted {
            let slot = self.slot(&key);
            // Held by this replica from now on, unless another took the key meanwhile.
            match self
                .inner
                .leases
                .claim(W::KEY_LABEL, &key, false, now, self.lease_ms())
                .await
            {
                Ok(claimed) if claimed.lease.holder == me => {
                    slot.epoch.store(claimed.lease.epoch, Ordering::Relaxed);
                    slot.held_until
                        .store(claimed.lease.expires_at_ms, Ordering::Relaxed);
                    if let Err(e) = self.settle(&slot, &key, &running.sandbox).await {
                        tracing::warn!(key, error = %e, "Could not re-adopt a running sandbox");
                        continue;
                    }
                }
                Ok(_) => continue,
                Err(e) => {
                    tracing::warn!(key, error = %e, "Could not claim a running sandbox's key; leaving it");
                    continue;
                }
            }
            tracing::info!(key, sandbox = %running.sandbox, "Re-adopted a running sandbox");
            if let Err(e) = self.open_services(&key, &running.sandbox).await {
                tracing::warn!(key, error = %e, "A re-adopted sandbox's host services did not open");
            }
            slot.last_activity.store(now, Ordering::Relaxed);
            let mut state = slot.state.lock().await;
            state.healthy_since = Some(now);
            // The lifetime counts from when the sandbox really started.
            state.started_at = Some(created_at.min(now));
            slot.set_running(&mut state, Some(running));
            if let Err(e) = self.record(&key, Change::to(Phase::Running)).await {
                tracing::warn!(key, error = %e, "Could not record a re-adopted key running");
            }
        }
        Ok(())
    }

    /// The key's lease when another live replica holds it (or it cannot be read: then
    /// the key is left alone as if it did).
    async fn held_elsewhere(&self, key: &str, now: i64) -> Option<KeyLease> {
        match self.other_lease(key, now).await {
            Ok(lease) => lease,
            Err(e) => {
                tracing::warn!(key, error = %e, "Could not read a key's lease; leaving the key alone");
                Some(KeyLease {
                    holder: String::new(),
                    epoch: 0,
                    expires_at_ms: 0,
                    sandbox: None,
                })
            }
        }
    }

    /// One pass of upkeep over every key with a sandbox, concurrently, so that one
    /// key's slow restart holds up no other: stop the idle and the too old, restart the
    /// crashed, switch to a new target version; then hand on changed activity.
    pub async fn tick(&self) {
        self.follow_leases().await;
        self.upkeep_pass().await;
    }

    /// [`tick`](Self::tick) without the leases, which [`run_leases`](Self::run_leases)
    /// follows on a timer of its own: a slow upkeep (a restart's backoff, a workspace's
    /// last sync) must not let this replica's leases run out.
    pub async fn upkeep_pass(&self) {
        let slots = self.slots();
        let work = slots.iter().map(|(key, slot)| async move {
            if let Err(e) = self.upkeep(key, slot).await {
                tracing::warn!(key, error = %e, "Upkeep failed");
            }
            let at = slot.last_activity.load(Ordering::Relaxed);
            if at > slot.persisted_activity.swap(at, Ordering::Relaxed) {
                if let Err(e) = self.inner.workload.active_at(key, at).await {
                    tracing::warn!(key, error = %e, "Could not record activity");
                }
            }
        });
        futures::future::join_all(work).await;
    }

    /// Renews every lease this replica holds (one lost is handed to
    /// [`lost`](Self::lost)), and follows the leases of keys other replicas run: a
    /// new sandbox there is reached next, a released lease forgotten, and an ended one
    /// taken over, adopting its sandbox when it can.
    async fn follow_leases(&self) {
        let now = self.inner.clock.now_ms();
        let expires = now + self.lease_ms();
        let leases = &self.inner.leases;
        let work = self.slots().into_iter().map(|(key, slot)| async move {
            let epoch = slot.epoch.load(Ordering::Relaxed);
            if epoch > 0 {
                match leases.renew(W::KEY_LABEL, &key, epoch, expires, None).await {
                    Ok(true) => slot.held_until.store(expires, Ordering::Relaxed),
                    Ok(false) => {
                        let this = self.clone();
                        tokio::spawn(async move { this.lost(&key, &slot, epoch).await });
                    }
                    Err(e) => {
                        tracing::warn!(key, error = %e, "Could not renew a key's lease");
                    }
                }
                return;
            }
            let Some(remote) = slot.remote.read().clone() else {
                return;
            };
            match leases.get(W::KEY_LABEL, &key).await {
                Ok(Some(lease)) if lease.live(now) => {
                    if lease.sandbox.as_deref() != Some(remote.sandbox.as_str()) {
                        *slot.remote.write() = Running::elsewhere(&lease);
                    }
                }
                Ok(Some(lease)) if !lease.holder.is_empty() => {
                    // Its holder stopped renewing: viewers here still reach the
                    // sandbox meanwhile, if they can, while this replica takes over.
                    let this = self.clone();
                    tokio::spawn(async move {
                        if let Err(e) = this.ensure_running(&key).await {
                            tracing::warn!(key, error = %e, "Could not take over a key whose replica's lease ended");
                        }
                    });
                }
                Ok(_) => *slot.remote.write() = None,
                Err(e) => tracing::warn!(key, error = %e, "Could not read a key's lease"),
            }
        });
        futures::future::join_all(work).await;
    }

    async fn upkeep(&self, key: &str, slot: &Slot) -> SessionResult<(), W> {
        // A key busy with a start or stop is looked at next tick: one slow start must
        // not hold up every other key's upkeep.
        let Ok(mut state) = slot.state.try_lock() else {
            return Ok(());
        };
        let Some(running) = state.running.clone() else {
            return Ok(());
        };
        if self.lapsed(slot) {
            // Another replica may hold it by now: renewal decides.
            return Ok(());
        }
        let want = self
            .inner
            .workload
            .want(key)
            .await
            .map_err(SessionError::Workload)?;
        let target = match want {
            Want::Run(target) => Some(target),
            Want::Gone => {
                slot.set_running(&mut state, None);
                self.stop_sandbox(&running.sandbox).await;
                self.release(slot, key).await;
                return Ok(());
            }
            // What runs keeps running; there is just nothing newer to switch to.
            Want::Unavailable(_) => None,
        };
        let now = self.inner.clock.now_ms();
        // Viewers on other replicas count too: they record their activity.
        let active_at = slot
            .last_activity
            .load(Ordering::Relaxed)
            .max(target.as_ref().map_or(0, |t| t.active_at_ms));
        let idle_for = now - active_at;
        let lived = now - state.started_at.unwrap_or(now);
        let idle = target
            .as_ref()
            .and_then(|t| t.idle_timeout)
            .is_some_and(|limit| idle_for >= limit.as_millis() as i64);
        let too_old = target
            .as_ref()
            .and_then(|t| t.max_lifetime)
            .is_some_and(|limit| lived >= limit.as_millis() as i64);
        if idle || too_old {
            if idle {
                tracing::info!(key, idle_secs = idle_for / 1000, "Stopping an idle sandbox");
            } else {
                tracing::info!(
                    key,
                    lived_secs = lived / 1000,
                    "Stopping a sandbox at its maximum lifetime"
                );
            }
            let stopped = self.stop_locked(slot, &mut state, key).await;
            self.release(slot, key).await;
            return stopped;
        }
        if !matches!(
            self.inner.runtime.status(&running.sandbox).await,
            Ok(Status::Running)
        ) {
            self.crashed(slot, &mut state, key, &running).await?;
            if !slot.gave_up.load(Ordering::Relaxed) {
                // A failed restart is recorded by start_locked.
                let _ = self.start_locked(slot, &mut state, key).await;
            }
            return Ok(());
        }
        let forgive = self.inner.options.forgive_after.as_millis() as i64;
        if state
            .healthy_since
            .is_some_and(|since| now - since > forgive)
        {
            state.restarts = 0;
        }
        let Some(target) = target else {
            return Ok(());
        };
        let wanted = (target.version, target.revision);
        if wanted != (running.version, running.revision) && state.failed_switch != Some(wanted) {
            // Start the new version beside the old; switch once it is ready.
            match self.start_sandbox(key, &target).await {
                Ok(next) => {
                    self.settle(slot, key, &next.sandbox).await?;
                    state.failed_switch = None;
                    state.started_at = Some(self.inner.clock.now_ms());
                    slot.set_running(&mut state, Some(next));
                    self.stop_sandbox(&running.sandbox).await;
                    tracing::info!(
                        key,
                        from = running.version,
                        to = target.version,
                        revision = target.revision,
                        "Switched version"
                    );
                }
                Err(message) => {
                    state.failed_switch = Some(wanted);
                    tracing::warn!(key, version = target.version, error = %message, "The new version did not start; the old one keeps running");
                    self.record(
                        key,
                        Change {
                            phase: Phase::Running,
                            error: Note::Set(message),
                            restarts: None,
                            fence: None,
                        },
                    )
                    .await?;
                }
            }
        }
        Ok(())
    }

    /// Renews the leases held and follows the others' forever, every `options.tick`.
    pub async fn run_leases(self) {
        let mut every = tokio::time::interval(self.inner.options.tick);
        loop {
            every.tick().await;
            self.follow_leases().await;
        }
    }

    /// Runs [`run_leases`](Self::run_leases) beside an upkeep pass every
    /// `options.tick`, forever.
    pub async fn run_upkeep(self) {
        let _leases = AbortOnDrop(tokio::spawn(self.clone().run_leases()));
        let mut every = tokio::time::interval(self.inner.options.tick);
        loop {
            every.tick().await;
            self.upkeep_pass().await;
        }
    }
}

/// Aborts the task when dropped, so a background loop ends with its owner.
pub struct AbortOnDrop(pub tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl std::fmt::Debug for AbortOnDrop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AbortOnDrop")
    }
}

async fn join<T, E: std::error::Error>(
    task: tokio::task::JoinHandle<Result<T, SessionError<E>>>,
) -> Result<T, SessionError<E>> {
    task.await.unwrap_or_else(|e| {
        Err(SessionError::StartFailed(format!(
            "the start task failed: {e}"
        )))
    })
}
