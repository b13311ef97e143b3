//! Viewing apps: one-time view tickets, per-app view sessions, and notifications.

use parking_lot::RwLock;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::{now_ms, Result, Store, StoreError};

/// A notification for a user, such as an app that stopped after crashing.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Notification {
    pub id: String,
    /// `app_crashed`, `submission_made` or `submission_reviewed`.
    pub kind: String,
    pub project_id: Option<String>,
    pub app_id: Option<String>,
    /// Where in the dashboard it leads.
    pub link: Option<String>,
    pub message: String,
    pub created_at: i64,
    pub read_at: Option<i64>,
}

impl Store {
    /// Stores a ticket (by its hash) that lets `user_id` open `app_id` until `expires_at`.
    pub async fn insert_view_ticket(
        &self,
        token_hash: &str,
        user_id: &str,
        app_id: &str,
        expires_at: i64,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO view_tickets (token_hash, user_id, app_id, expires_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(token_hash)
        .bind(user_id)
        .bind(app_id)
        .bind(expires_at)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Redeems a ticket: deletes it and returns `(user, app)` if it had not expired.
    /// A ticket works once; a second redemption is `NotFound`.
    pub async fn redeem_view_ticket(&self, token_hash: &str) -> Result<(String, String)> {
        let row: Option<(String, String, i64)> = sqlx::query_as(
            "DELETE FROM view_tickets WHERE token_hash = $1 RETURNING user_id, app_id, expires_at",
        )
        .bind(token_hash)
        .fetch_optional(self.pool())
        .await?;
        match row {
            Some((user, app, expires_at)) if expires_at > now_ms() => Ok((user, app)),
            _ => Err(StoreError::NotFound),
        }
    }

    /// Stores a view session that lets `user_id` view `app_id`, and no other app.
    pub async fn insert_view_session(
        &self,
        token_hash: &str,
        user_id: &str,
        app_id: &str,
        expires_at: i64,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO view_sessions (token_hash, user_id, app_id, expires_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(token_hash)
        .bind(user_id)
        .bind(app_id)
        .bind(expires_at)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// For a view session and an app, in one query: `None` if the session is unknown,
    /// expired or for another app, else whether its user is a member of the app's project.
    /// A grant is remembered for [`GRANT_TTL`] (see [`Grants`]).
    pub async fn view_access(&self, token_hash: &str, app_id: &str) -> Result<Option<bool>> {
        let generation = match self.grants.lookup(token_hash, app_id) {
            Lookup::Granted => return Ok(Some(true)),
            Lookup::Ask(generation) => generation,
        };
        let row: Option<(i64,)> = sqlx::query_as(
            "SELECT COUNT(m.user_id) FROM view_sessions s \
             LEFT JOIN apps a ON a.id = s.app_id \
             LEFT JOIN project_members m ON m.project_id = a.project_id AND m.user_id = s.user_id \
             WHERE s.token_hash = $1 AND s.app_id = $2 AND s.expires_at > $3 GROUP BY s.token_hash",
        )
        .bind(token_hash)
        .bind(app_id)
        .bind(now_ms())
        .fetch_optional(self.pool())
        .await?;
        let access = row.map(|(n,)| n > 0);
        if access == Some(true) {
            self.grants.remember(token_hash, app_id, generation);
        } else {
            self.grants.forget(token_hash, app_id);
        }
        Ok(access)
    }

    /// After a write that can take a view away commits: forgets this process's grants
    /// at once, and tells the other replicas to forget theirs (an `access` event).
    pub(crate) async fn views_taken_away(&self) {
        self.grants.revoke();
        self.announce(crate::events::ACCESS, "").await;
    }

    /// Whether a user is a member of the project an app belongs to.
    pub async fn can_view_app(&self, user_id: &str, app_id: &str) -> Result<bool> {
        let row: Option<(i64,)> = sqlx::query_as(
            "SELECT 1 FROM apps a JOIN project_members m ON m.project_id = a.project_id \
             WHERE a.id = $1 AND m.user_id = $2",
        )
        .bind(app_id)
        .bind(user_id)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.is_some())
    }

    /// Deletes expired tickets and view sessions; returns how many.
    pub async fn delete_expired_views(&self) -> Result<u64> {
        let now = now_ms();
        let tickets = sqlx::query("DELETE FROM view_tickets WHERE expires_at <= $1")
            .bind(now)
            .execute(self.pool())
            .await?;
        let sessions = sqlx::query("DELETE FROM view_sessions WHERE expires_at <= $1")
            .bind(now)
            .execute(self.pool())
            .await?;
        Ok(tickets.rows_affected() + sessions.rows_affected())
    }

    /// Tells an app's creator something about it.
    pub async fn notify_app_creator(&self, app_id: &str, message: &str) -> Result<()> {
        sqlx::query(
            "INSERT INTO notifications (id, user_id, kind, project_id, app_id, link, message, \
             created_at) SELECT $1, created_by, 'app_crashed', project_id, id, \
             '/projects/' || project_id || '/apps/' || id, $2, $3 \
             FROM apps WHERE id = $4 AND created_by IS NOT NULL",
        )
        .bind(burrow_core::ids::new_id("n"))
        .bind(message)
        .bind(now_ms())
        .bind(app_id)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// A user's notifications, newest first, but those of projects they are no longer a
    /// member of.
    pub async fn notifications(&self, user_id: &str) -> Result<Vec<Notification>> {
        Ok(sqlx::query_as::<_, Notification>(
            "SELECT n.id, n.kind, n.project_id, n.app_id, n.link, n.message, n.created_at, \
             n.read_at FROM notifications n WHERE n.user_id = $1 \
             AND (n.project_id IS NULL OR EXISTS (SELECT 1 FROM project_members m \
                 WHERE m.project_id = n.project_id AND m.user_id = n.user_id)) \
             ORDER BY n.created_at DESC, n.id LIMIT 100",
        )
        .bind(user_id)
        .fetch_all(self.pool())
        .await?)
    }

    /// Marks one of a user's notifications read; [`StoreError::NotFound`] if they have
    /// no such one.
    pub async fn mark_notification_read(&self, user_id: &str, id: &str) -> Result<()> {
        let done = sqlx::query(
            "UPDATE notifications SET read_at = COALESCE(read_at, $1) \
             WHERE user_id = $2 AND id = $3",
        )
        .bind(now_ms())
        .bind(user_id)
        .bind(id)
        .execute(self.pool())
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// Marks all of a user's notifications read.
    pub async fn mark_notifications_read(&self, user_id: &str) -> Result<()> {
        sqlx::query("UPDATE notifications SET read_at = $1 WHERE user_id = $2 AND read_at IS NULL")
            .bind(now_ms())
            .bind(user_id)
            .execute(self.pool())
            .await?;
        Ok(())
    }
}

/// How long a view grant is remembered. It bounds how late a revocation nobody announced
/// is seen (a view session expiring, or another replica's write while this process's
/// event reader is cut off); this process's own revocations are seen at once, and other
/// replicas' as soon as their `access` event is read.
pub const GRANT_TTL: Duration = Duration::from_secs(1);

/// Grants remembered at most; past it they are all forgotten.
const MAX_GRANTS: usize = 16_384;

/// Recent answers "granted" of [`Store::view_access`], so the app origins' check on every
/// request is a lookup rather than a query (the query through the connection pool cost
/// more CPU than the rest of a proxied request). Every write that can take a view away (a
/// member removed, a project or an app deleted) calls [`Grants::revoke`] once committed,
/// which forgets them all and moves the generation on; a query that raced such a write
/// stores its answer only if the generation it started under is still current, so a
/// stale grant is never remembered. Refusals are never remembered, and a refusal forgets
/// the grant it was asked to renew.
///
/// A grant is renewed before it is too old, by one request: past half its life, the
/// first request that finds it asks the database while the others that come meanwhile
/// are still let through on it. The viewers of a busy app so never all wait on the
/// database at once when their grant runs out.
#[derive(Debug, Default)]
pub(crate) struct Grants {
    /// Read on every request, from every thread that serves viewers; written when a
    /// grant is renewed or revoked.
    inner: RwLock<GrantsInner>,
}

#[derive(Debug, Default)]
struct GrantsInner {
    generation: u64,
    /// Session hash → its grant. A view session is for one app: a grant is too.
    granted: HashMap<String, Grant>,
}

#[derive(Debug)]
struct Grant {
    app: String,
    /// When the database last said so.
    at: Instant,
    /// Whether a request is asking the database to renew it.
    renewing: AtomicBool,
}

pub(crate) enum Lookup {
    Granted,
    /// Ask the database, then remember a grant under this generation.
    Ask(u64),
}

impl Grants {
    fn lookup(&self, token_hash: &str, app_id: &str) -> Lookup {
        let inner = self.inner.read();
        let generation = inner.generation;
        let Some(grant) = inner.granted.get(token_hash).filter(|g| g.app == app_id) else {
            return Lookup::Ask(generation);
        };
        let age = grant.at.elapsed();
        let renew = || {
            !grant.renewing.load(Ordering::Relaxed) && !grant.renewing.swap(true, Ordering::Relaxed)
        };
        if age >= GRANT_TTL || (age >= GRANT_TTL / 2 && renew()) {
            Lookup::Ask(generation)
        } else {
            Lookup::Granted
        }
    }

    /// Forgets one grant: the database no longer gives it.
    fn forget(&self, token_hash: &str, app_id: &str) {
        let mut inner = self.inner.write();
        if inner
            .granted
            .get(token_hash)
            .is_some_and(|g| g.app == app_id)
        {
            inner.granted.remove(token_hash);
        }
    }

    fn remember(&self, token_hash: &str, app_id: &str, generation: u64) {
        let mut inner = self.inner.write();
        if inner.generation != generation {
            return;
        }
        if inner.granted.len() >= MAX_GRANTS {
            inner
                .granted
                .retain(|_, grant| grant.at.elapsed() < GRANT_TTL);
            if inner.granted.len() >= MAX_GRANTS {
                inner.granted.clear();
            }
        }
        let grant = Grant {
            app: app_id.to_owned(),
            at: Instant::now(),
            renewing: AtomicBool::new(false),
        };
        inner.granted.insert(token_hash.to_owned(), grant);
    }

    /// Forgets every grant: called after a write that can take a view away commits.
    pub(crate) fn revoke(&self) {
        let mut inner = self.inner.write();
        inner.generation += 1;
        inner.granted.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_grant_is_remembered_until_revoked_or_old() {
        let grants = Grants::default();
        let Lookup::Ask(generation) = grants.lookup("s", "a") else {
            panic!("nothing is remembered yet");
        };
        grants.remember("s", "a", generation);
        assert!(matches!(grants.lookup("s", "a"), Lookup::Granted));
        assert!(matches!(grants.lookup("s", "b"), Lookup::Ask(_)));
        assert!(matches!(grants.lookup("t", "a"), Lookup::Ask(_)));
        grants.revoke();
        assert!(matches!(grants.lookup("s", "a"), Lookup::Ask(_)));
        // Old grants are asked again.
        grants.inner.write().granted.insert(
            "s".into(),
            Grant {
                app: "a".into(),
                at: Instant::now() - GRANT_TTL,
                renewing: AtomicBool::new(true),
            },
        );
        assert!(matches!(grants.lookup("s", "a"), Lookup::Ask(_)));
        assert!(matches!(grants.lookup("s", "a"), Lookup::Ask(_)));
    }

    #[test]
    fn one_request_renews_a_grant_past_half_its_life_while_the_others_pass() {
        let grants = Grants::default();
        let aged = |grants: &Grants| {
            grants.inner.write().granted.insert(
                "s".into(),
                Grant {
                    app: "a".into(),
                    at: Instant::now() - GRANT_TTL / 2,
                    renewing: AtomicBool::new(false),
                },
            );
        };
        aged(&grants);
        let Lookup::Ask(generation) = grants.lookup("s", "a") else {
            panic!("the first request past half the grant's life renews it");
        };
        assert!(matches!(grants.lookup("s", "a"), Lookup::Granted));
        assert!(matches!(grants.lookup("s", "a"), Lookup::Granted));
        // Renewed: young again, and the next renewal is one request's again.
        grants.remember("s", "a", generation);
        assert!(!grants.inner.read().granted["s"]
            .renewing
            .load(Ordering::Relaxed));
        assert!(matches!(grants.lookup("s", "a"), Lookup::Granted));
        // Refused on renewal: the grant is gone for every request.
        aged(&grants);
        assert!(matches!(grants.lookup("s", "a"), Lookup::Ask(_)));
        grants.forget("s", "a");
        assert!(matches!(grants.lookup("s", "a"), Lookup::Ask(_)));
        assert!(matches!(grants.lookup("s", "a"), Lookup::Ask(_)));
    }

    #[test]
    fn a_query_that_raced_a_revocation_is_not_remembered() {
        let grants = Grants::default();
        let Lookup::Ask(generation) = grants.lookup("s", "a") else {
            panic!("nothing is remembered yet");
        };
        // The member is removed while the query runs; its answer came from before.
        grants.revoke();
        grants.remember("s", "a", generation);
        assert!(matches!(grants.lookup("s", "a"), Lookup::Ask(_)));
    }

    #[test]
    fn the_cap_keeps_memory_bounded() {
        let grants = Grants::default();
        for i in 0..MAX_GRANTS + 10 {
            grants.remember(&i.to_string(), "a", 0);
        }
        assert!(grants.inner.read().granted.len() <= MAX_GRANTS);
    }
}
