//! Key leases: which replica serves each key, shared by every replica of a workload.
//!
//! A replica starts, stops or adopts a key's sandbox only while it holds the key's
//! lease; others reach the sandbox the lease names. Each claim by a new holder raises
//! the epoch, and every state change the holder records carries the epoch it holds
//! ([`Fence`]), so a replica that was frozen or cut off past its lease cannot write late.

use std::collections::HashMap;

/// A key's lease as the shared record has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyLease {
    /// The replica holding it; empty once released.
    pub holder: String,
    pub epoch: i64,
    /// Milliseconds since the epoch; past it, anyone may claim the lease.
    pub expires_at_ms: i64,
    /// The sandbox serving the key, once its holder has one ready.
    pub sandbox: Option<String>,
}

impl KeyLease {
    /// Held by someone whose lease has not ended at `now_ms`.
    pub fn live(&self, now_ms: i64) -> bool {
        !self.holder.is_empty() && self.expires_at_ms > now_ms
    }
}

/// What a claim found and left.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claimed {
    /// The lease now: the claimer's if the claim took.
    pub lease: KeyLease,
    /// The sandbox the lease named before this claim took it.
    pub previous_sandbox: Option<String>,
}

/// What a recorded change was made under: the store keeps it only while `holder` still
/// holds the key's lease at `epoch`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fence {
    pub holder: String,
    pub epoch: i64,
}

/// The shared record of key leases (the database, for `serve`).
#[async_trait::async_trait]
pub trait Leases: Send + Sync + std::fmt::Debug + 'static {
    /// This replica's name, unique among all that share the record.
    fn holder(&self) -> &str;
    /// Claims `key` of `workload` until `now_ms + ttl_ms`: it takes when nobody holds
    /// it, its holder's lease ended, or `force`; a live lease, this replica's own
    /// included, is left as it is. Taking raises the epoch and names no sandbox: the
    /// one named before comes back, to adopt or stop. Returns the lease as it is after.
    async fn claim(
        &self,
        workload: &str,
        key: &str,
        force: bool,
        now_ms: i64,
        ttl_ms: i64,
    ) -> Result<Claimed, String>;
    /// Extends the lease held at `epoch` to `expires_at_ms`, naming `sandbox` when
    /// given (`Some("")`: none); `false` when it is no longer held.
    async fn renew(
        &self,
        workload: &str,
        key: &str,
        epoch: i64,
        expires_at_ms: i64,
        sandbox: Option<&str>,
    ) -> Result<bool, String>;
    /// Gives up the lease held at `epoch`: the key has no sandbox now.
    async fn release(&self, workload: &str, key: &str, epoch: i64) -> Result<(), String>;
    /// The key's lease, if it was ever claimed.
    async fn get(&self, workload: &str, key: &str) -> Result<Option<KeyLease>, String>;
    /// Changes to leases from now on, where the record tells of them, so a replica
    /// waiting for another's start hears when it ends; `None` (the default) has waiters
    /// look again every 100 ms.
    async fn watch(&self) -> Option<Box<dyn LeaseWatch>> {
        None
    }
}

/// The changes to leases a waiter hears of: see [`Leases::watch`].
#[async_trait::async_trait]
pub trait LeaseWatch: Send {
    /// Waits for a change to `key`'s lease a waiter looks again for: a sandbox named or
    /// cleared, or the lease released.
    async fn changed(&mut self, workload: &str, key: &str);
}

/// Leases in one process's memory, shared by the supervisors given clones of it: for
/// tests of the state machine, and replicas simulated in one process.
#[derive(Debug, Clone)]
pub struct MemoryLeases {
    holder: String,
    leases: std::sync::Arc<parking_lot::Mutex<HashMap<(String, String), KeyLease>>>,
}

impl MemoryLeases {
    pub fn new(holder: &str) -> Self {
        Self {
            holder: holder.to_owned(),
            leases: Default::default(),
        }
    }

    /// Another replica over the same record.
    pub fn replica(&self, holder: &str) -> Self {
        Self {
            holder: holder.to_owned(),
            leases: std::sync::Arc::clone(&self.leases),
        }
    }
}

#[async_trait::async_trait]
impl Leases for MemoryLeases {
    fn holder(&self) -> &str {
        &self.holder
    }

    async fn claim(
        &self,
        workload: &str,
        key: &str,
        force: bool,
        now_ms: i64,
        ttl_ms: i64,
    ) -> Result<Claimed, String> {
        let mut leases = self.leases.lock();
        let lease = leases
            .entry((workload.to_owned(), key.to_owned()))
            .or_insert_with(|| KeyLease {
                holder: String::new(),
                epoch: 0,
                expires_at_ms: 0,
                sandbox: None,
            });
        if lease.live(now_ms) && !force {
            return Ok(Claimed {
                lease: lease.clone(),
                previous_sandbox: None,
            });
        }
        let previous_sandbox = lease.sandbox.take();
        lease.holder.clone_from(&self.holder);
        lease.epoch += 1;
        lease.expires_at_ms = now_ms + ttl_ms;
        Ok(Claimed {
            lease: lease.clone(),
            previous_sandbox,
        })
    }

    async fn renew(
        &self,
        workload: &str,
        key: &str,
        epoch: i64,
        expires_at_ms: i64,
        sandbox: Option<&str>,
    ) -> Result<bool, String> {
        let mut leases = self.leases.lock();
        match leases.get_mut(&(workload.to_owned(), key.to_owned())) {
            Some(lease) if lease.holder == self.holder && lease.epoch == epoch => {
                lease.expires_at_ms = expires_at_ms;
                match sandbox {
                    Some("") => lease.sandbox = None,
                    Some(sandbox) => lease.sandbox = Some(sandbox.to_owned()),
                    None => {}
                }
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn release(&self, workload: &str, key: &str, epoch: i64) -> Result<(), String> {
        let mut leases = self.leases.lock();
        if let Some(lease) = leases.get_mut(&(workload.to_owned(), key.to_owned())) {
            if lease.holder == self.holder && lease.epoch == epoch {
                lease.holder.clear();
                lease.expires_at_ms = 0;
                lease.sandbox = None;
            }
        }
        Ok(())
    }

    async fn get(&self, workload: &str, key: &str) -> Result<Option<KeyLease>, String> {
        Ok(self
            .leases
            .lock()
            .get(&(workload.to_owned(), key.to_owned()))
            .cloned())
    }
}
