//! Sandbox leases: which replica serves each key of a sandbox workload, with a fencing
//! epoch, so that replicas on one database start one sandbox per key and a holder that
//! lost its lease cannot write late.

use crate::{Backend, Result, Store};

/// A key's lease as the database has it now.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct SandboxLease {
    pub key: String,
    /// The replica holding it; empty once released.
    pub holder: String,
    pub epoch: i64,
    /// Milliseconds since the epoch; past it, anyone may claim the lease.
    pub expires_at: i64,
    /// The sandbox serving the key, once its holder has one ready.
    pub sandbox: Option<String>,
}

impl SandboxLease {
    /// Held by someone whose lease has not ended at `now`.
    pub fn live(&self, now: i64) -> bool {
        !self.holder.is_empty() && self.expires_at > now
    }
}

/// What a status write was made under: it is kept only while `holder` still holds the
/// lease at `epoch`.
#[derive(Debug, Clone, Copy)]
pub struct Fence<'a> {
    pub workload: &'a str,
    pub holder: &'a str,
    pub epoch: i64,
}

/// What [`Store::claim_sandbox_lease`] found and left.
#[derive(Debug, Clone)]
pub struct Claim {
    /// The lease now: this holder's if the claim took.
    pub lease: SandboxLease,
    /// The sandbox the lease named before this claim took it.
    pub previous_sandbox: Option<String>,
}

const COLUMNS: &str = "key, holder, epoch, expires_at, sandbox";

impl Store {
    /// Claims `key`'s lease for `holder` until `now + ttl_ms`: it takes when nobody
    /// holds it, its holder's lease ended, or `force` (a deliberate start or stop,
    /// which takes the key from whoever runs it); a live lease, `holder`'s own
    /// included, is kept as it is. Taking raises the epoch and names no sandbox; the one
    /// named before comes back in [`Claim::previous_sandbox`], for the new holder to
    /// adopt or stop. Claims of one key take turns.
    pub async fn claim_sandbox_lease(
        &self,
        workload: &str,
        key: &str,
        holder: &str,
        force: bool,
        now: i64,
        ttl_ms: i64,
    ) -> Result<Claim> {
        let mut tx = self.pool().begin().await?;
        // In SQLite this first write takes the one write lock until the commit.
        sqlx::query(
            "INSERT INTO sandbox_leases (workload, key, holder, epoch, expires_at, sandbox) \
             VALUES ($1, $2, '', 0, 0, NULL) ON CONFLICT (workload, key) DO NOTHING",
        )
        .bind(workload)
        .bind(key)
        .execute(&mut *tx)
        .await?;
        let lock = match self.backend() {
            Backend::Postgres => " FOR UPDATE",
            Backend::Sqlite => "",
        };
        let now_row: SandboxLease = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM sandbox_leases WHERE workload = $1 AND key = $2{lock}"
        ))
        .bind(workload)
        .bind(key)
        .fetch_one(&mut *tx)
        .await?;
        // Live, whether this holder's own or another's: left as it is.
        if now_row.live(now) && !force {
            tx.commit().await?;
            return Ok(Claim {
                lease: now_row,
                previous_sandbox: None,
            });
        }
        let lease: SandboxLease = sqlx::query_as(&format!(
            "UPDATE sandbox_leases SET holder = $3, epoch = epoch + 1, expires_at = $4, \
             sandbox = NULL WHERE workload = $1 AND key = $2 RETURNING {COLUMNS}"
        ))
        .bind(workload)
        .bind(key)
        .bind(holder)
        .bind(now.saturating_add(ttl_ms))
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Claim {
            lease,
            previous_sandbox: now_row.sandbox,
        })
    }

    /// Extends `holder`'s lease of `key` at `epoch` to `expires_at` and names its
    /// sandbox (`None` leaves it as it is, `Some("")` names none); `false` when the
    /// lease is no longer held.
    pub async fn renew_sandbox_lease(
        &self,
        fence: Fence<'_>,
        key: &str,
        expires_at: i64,
        sandbox: Option<&str>,
    ) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE sandbox_leases SET expires_at = $5, \
             sandbox = CASE WHEN $6 IS NULL THEN sandbox WHEN $6 = '' THEN NULL ELSE $6 END \
             WHERE workload = $1 AND key = $2 AND holder = $3 AND epoch = $4",
        )
        .bind(fence.workload)
        .bind(key)
        .bind(fence.holder)
        .bind(fence.epoch)
        .bind(expires_at)
        .bind(sandbox)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Gives `key`'s lease up, if `holder` still holds it at `epoch`: its sandbox is gone.
    pub async fn release_sandbox_lease(&self, fence: Fence<'_>, key: &str) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE sandbox_leases SET holder = '', expires_at = 0, sandbox = NULL \
             WHERE workload = $1 AND key = $2 AND holder = $3 AND epoch = $4",
        )
        .bind(fence.workload)
        .bind(key)
        .bind(fence.holder)
        .bind(fence.epoch)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Deletes the ended leases (released, or run out before `now`) of apps and
    /// workspaces that are gone; returns how many. A lease still held is left to its
    /// holder, which lets the sandbox go when it finds its key gone. The workload names
    /// are the sandbox labels the supervisors use (`burrow.app`, `burrow.workspace`).
    pub async fn delete_orphaned_sandbox_leases(&self, now: i64) -> Result<u64> {
        let done = sqlx::query(
            "DELETE FROM sandbox_leases WHERE expires_at < $1 AND ( \
             (workload = 'burrow.app' AND NOT EXISTS \
                (SELECT 1 FROM apps a WHERE a.id = sandbox_leases.key)) OR \
             (workload = 'burrow.workspace' AND NOT EXISTS \
                (SELECT 1 FROM workspaces w WHERE w.id = sandbox_leases.key)))",
        )
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected())
    }

    /// The (workload, key) of every lease another replica than `me` holds at `now`.
    pub async fn sandbox_leases_held_by_others(
        &self,
        me: &str,
        now: i64,
    ) -> Result<Vec<(String, String)>> {
        Ok(sqlx::query_as(
            "SELECT workload, key FROM sandbox_leases \
             WHERE holder <> $1 AND holder <> '' AND expires_at > $2",
        )
        .bind(me)
        .bind(now)
        .fetch_all(self.pool())
        .await?)
    }

    /// `key`'s lease as it is now, if it was ever claimed.
    pub async fn sandbox_lease(&self, workload: &str, key: &str) -> Result<Option<SandboxLease>> {
        Ok(sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM sandbox_leases WHERE workload = $1 AND key = $2"
        ))
        .bind(workload)
        .bind(key)
        .fetch_optional(self.pool())
        .await?)
    }
}

/// The condition a fenced status write adds for the row whose key is `id_column`, with
/// the fence's workload, holder and epoch in parameters `$first` to `$first + 2` (an
/// empty workload: no fence).
pub(crate) fn fence_condition(id_column: &str, first: usize) -> String {
    let (w, h, e) = (first, first + 1, first + 2);
    format!(
        "(${w} = '' OR EXISTS (SELECT 1 FROM sandbox_leases l WHERE l.workload = ${w} \
         AND l.key = {id_column} AND l.holder = ${h} AND l.epoch = ${e}))"
    )
}

/// Runs `update`, whose last three parameters are left for the fence's workload,
/// holder and epoch (its `WHERE` adds [`fence_condition`]), and answers `Fenced` when a
/// fence was given and nothing changed (the lease moved on, or the row is gone).
///
/// On PostgreSQL its transaction first takes the fence's lease row for share, so a
/// claim of the key waits until the write commits and a write after a claim sees it
/// (the condition alone, read under its statement's snapshot, could pass after waiting
/// on its row). SQLite runs one writer at a time, so there the condition is enough.
pub(crate) async fn fenced_update<'q>(
    store: &Store,
    key: &'q str,
    fence: Option<Fence<'q>>,
    update: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
) -> Result<()> {
    let mut tx = store.pool().begin().await?;
    if let (Some(fence), Backend::Postgres) = (fence, store.backend()) {
        let held: Option<i64> = sqlx::query_scalar(
            "SELECT epoch FROM sandbox_leases WHERE workload = $1 AND key = $2 \
             AND holder = $3 AND epoch = $4 FOR SHARE",
        )
        .bind(fence.workload)
        .bind(key)
        .bind(fence.holder)
        .bind(fence.epoch)
        .fetch_optional(&mut *tx)
        .await?;
        if held.is_none() {
            return Err(crate::StoreError::Fenced);
        }
    }
    let done = update
        .bind(fence.map_or("", |f| f.workload))
        .bind(fence.map_or("", |f| f.holder))
        .bind(fence.map_or(0, |f| f.epoch))
        .execute(&mut *tx)
        .await?;
    if fence.is_some() && done.rows_affected() == 0 {
        return Err(crate::StoreError::Fenced);
    }
    tx.commit().await?;
    Ok(())
}

impl Store {
    /// Records where replica `name` takes forwarded connections, and the token it asks
    /// for, replacing what an earlier run of it recorded.
    pub async fn register_replica(&self, name: &str, address: &str, token: &str) -> Result<()> {
        sqlx::query(
            "INSERT INTO replicas (name, address, token, registered_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (name) DO UPDATE SET address = excluded.address, token = excluded.token, \
             registered_at = excluded.registered_at",
        )
        .bind(name)
        .bind(address)
        .bind(token)
        .bind(crate::now_ms())
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Where replica `name` takes forwarded connections, and its token; `NotFound` when
    /// it has no internal listener.
    pub async fn replica_address(&self, name: &str) -> Result<(String, String)> {
        Ok(
            sqlx::query_as("SELECT address, token FROM replicas WHERE name = $1")
                .bind(name)
                .fetch_one(self.pool())
                .await?,
        )
    }
}
