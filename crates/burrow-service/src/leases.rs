//! The supervisors' key leases in the database, shared by every replica on it; a
//! `lease` event tells the other replicas when a holder names or clears its sandbox or
//! lets the key go, so one waiting for another's start hears when it ends.

use burrow_sessions::{Claimed, KeyLease, LeaseWatch, Leases};
use burrow_store::{Fence, SandboxLease, Store, Subscription};

/// Topic of the events that say a key's lease changed; the subject is [`subject`].
pub const LEASE_EVENT: &str = "lease";

fn subject(workload: &str, key: &str) -> String {
    format!("{workload}/{key}")
}

/// [`Leases`] over the store's `sandbox_leases`, as replica `holder`.
#[derive(Debug, Clone)]
pub struct StoreLeases {
    store: Store,
    holder: String,
}

impl StoreLeases {
    pub fn new(store: Store, holder: String) -> Self {
        Self { store, holder }
    }

    fn fence<'a>(&'a self, workload: &'a str, epoch: i64) -> Fence<'a> {
        Fence {
            workload,
            holder: &self.holder,
            epoch,
        }
    }
}

fn lease(row: SandboxLease) -> KeyLease {
    KeyLease {
        holder: row.holder,
        epoch: row.epoch,
        expires_at_ms: row.expires_at,
        sandbox: row.sandbox,
    }
}

#[async_trait::async_trait]
impl Leases for StoreLeases {
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
        let claim = self
            .store
            .claim_sandbox_lease(workload, key, &self.holder, force, now_ms, ttl_ms)
            .await
            .map_err(|e| e.to_string())?;
        Ok(Claimed {
            lease: lease(claim.lease),
            previous_sandbox: claim.previous_sandbox,
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
        let renewed = self
            .store
            .renew_sandbox_lease(self.fence(workload, epoch), key, expires_at_ms, sandbox)
            .await
            .map_err(|e| e.to_string())?;
        if renewed && sandbox.is_some() {
            self.store
                .announce(LEASE_EVENT, &subject(workload, key))
                .await;
        }
        Ok(renewed)
    }

    async fn release(&self, workload: &str, key: &str, epoch: i64) -> Result<(), String> {
        let released = self
            .store
            .release_sandbox_lease(self.fence(workload, epoch), key)
            .await
            .map_err(|e| e.to_string())?;
        if released {
            self.store
                .announce(LEASE_EVENT, &subject(workload, key))
                .await;
        }
        Ok(())
    }

    async fn watch(&self) -> Option<Box<dyn LeaseWatch>> {
        match self.store.subscribe().await {
            Ok(events) => Some(Box::new(StoreWatch(events))),
            Err(e) => {
                tracing::warn!(error = %e, "Cannot follow lease events; looking again on a timer");
                None
            }
        }
    }

    async fn get(&self, workload: &str, key: &str) -> Result<Option<KeyLease>, String> {
        self.store
            .sandbox_lease(workload, key)
            .await
            .map(|row| row.map(lease))
            .map_err(|e| e.to_string())
    }
}

/// `lease` events, as a [`LeaseWatch`].
struct StoreWatch(Subscription);

#[async_trait::async_trait]
impl LeaseWatch for StoreWatch {
    async fn changed(&mut self, workload: &str, key: &str) {
        let wanted = subject(workload, key);
        loop {
            match self.0.next().await {
                Ok(e) if e.topic == LEASE_EVENT && e.subject == wanted => return,
                Ok(_) => {}
                // The waiter's own timer looks again.
                Err(_) => std::future::pending().await,
            }
        }
    }
}
