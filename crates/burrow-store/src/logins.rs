//! Failed-login counts, shared by every process on the database: per account and per
//! client address, each key allowed so many failures in a sliding window.

use crate::{Backend, Result, Store};

/// One limited key (such as `account:ada@example.com`) and the failures it may have.
#[derive(Debug, Clone, Copy)]
pub struct LoginKey<'a> {
    pub key: &'a str,
    pub max_failures: i64,
}

impl Store {
    /// Checks every key against its limit over the `window_ms` before `now` and, when
    /// none has run out, counts this attempt as a failure of each in advance, in one
    /// transaction: concurrent attempts, on this process or another, are checked one
    /// after another and cannot all slip past. Returns `Err(ms)`, how long until the
    /// first refusing key has room again, when one refuses (and counts nothing).
    pub async fn begin_login_attempt(
        &self,
        keys: &[LoginKey<'_>],
        now: i64,
        window_ms: i64,
    ) -> Result<std::result::Result<(), i64>> {
        let cutoff = now.saturating_sub(window_ms);
        let mut sorted: Vec<LoginKey<'_>> = keys.to_vec();
        sorted.sort_by_key(|k| k.key);
        let mut tx = self.pool().begin().await?;
        for k in &sorted {
            if self.backend() == Backend::Postgres {
                // Attempts on one key queue here until this transaction ends; keys are
                // taken in one order, so two attempts never wait on each other.
                sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 7211))::TEXT")
                    .bind(k.key)
                    .execute(&mut *tx)
                    .await?;
            }
            // In SQLite this first write takes the one write lock until the commit.
            sqlx::query("DELETE FROM login_failures WHERE key = $1 AND at <= $2")
                .bind(k.key)
                .bind(cutoff)
                .execute(&mut *tx)
                .await?;
        }
        let mut wait: Option<i64> = None;
        for k in &sorted {
            let (count, oldest): (i64, Option<i64>) =
                sqlx::query_as("SELECT COUNT(*), MIN(at) FROM login_failures WHERE key = $1")
                    .bind(k.key)
                    .fetch_one(&mut *tx)
                    .await?;
            if count >= k.max_failures.max(1) {
                let until = oldest.unwrap_or(now).saturating_add(window_ms) - now;
                wait = Some(wait.map_or(until, |w| w.max(until)));
            }
        }
        if wait.is_none() {
            for k in &sorted {
                sqlx::query("INSERT INTO login_failures (id, key, at) VALUES ($1, $2, $3)")
                    .bind(burrow_core::ids::new_id("lf"))
                    .bind(k.key)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        tx.commit().await?;
        Ok(match wait {
            Some(ms) => Err(ms.max(1)),
            None => Ok(()),
        })
    }

    /// After a successful login: `cleared` forgets all its failures, `forgiven` the
    /// one counted in advance for this attempt.
    pub async fn end_login_attempt(&self, cleared: &str, forgiven: &str) -> Result<()> {
        let mut tx = self.pool().begin().await?;
        sqlx::query("DELETE FROM login_failures WHERE key = $1")
            .bind(cleared)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "DELETE FROM login_failures WHERE id = \
             (SELECT id FROM login_failures WHERE key = $1 ORDER BY at DESC, id LIMIT 1)",
        )
        .bind(forgiven)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Deletes failures older than every window (`before`); returns how many.
    pub async fn delete_old_login_failures(&self, before: i64) -> Result<u64> {
        let done = sqlx::query("DELETE FROM login_failures WHERE at <= $1")
            .bind(before)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected())
    }
}
