//! The supervisors' key leases in the database, shared by every replica on it.

use burrow_sessions::{Claimed, KeyLease, Leases};
use burrow_store::{Fence, SandboxLease, Store};

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
        self.store
            .renew_sandbox_lease(self.fence(workload, epoch), key, expires_at_ms, sandbox)
            .await
            .map_err(|e| e.to_string())
    }

    async fn release(&self, workload: &str, key: &str, epoch: i64) -> Result<(), String> {
        self.store
            .release_sandbox_lease(self.fence(workload, epoch), key)
            .await
            .map(drop)
            .map_err(|e| e.to_string())
    }

    async fn get(&self, workload: &str, key: &str) -> Result<Option<KeyLease>, String> {
        self.store
            .sandbox_lease(workload, key)
            .await
            .map(|row| row.map(lease))
            .map_err(|e| e.to_string())
    }
}
