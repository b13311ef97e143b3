//! Login sessions, stored by the hash of their token.

use crate::{now_ms, Result, Store, User};

impl Store {
    /// Records a session for `user_id`, valid until `expires_at` (ms since the epoch).
    pub async fn create_session(
        &self,
        token_hash: &str,
        user_id: &str,
        expires_at: i64,
    ) -> Result<()> {
        sqlx::query("INSERT INTO sessions (token_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)")
            .bind(token_hash)
            .bind(user_id)
            .bind(now_ms())
            .bind(expires_at)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// The user behind an unexpired session; [`crate::StoreError::NotFound`] otherwise.
    pub async fn session_user(&self, token_hash: &str) -> Result<User> {
        Ok(sqlx::query_as::<_, User>(
            "SELECT u.id, u.email, u.name, u.password_hash, u.is_admin, u.created_at \
             FROM sessions s JOIN users u ON u.id = s.user_id \
             WHERE s.token_hash = $1 AND s.expires_at > $2",
        )
        .bind(token_hash)
        .bind(now_ms())
        .fetch_one(self.pool())
        .await?)
    }

    /// Revokes one session. Revoking an unknown session is not an error.
    pub async fn delete_session(&self, token_hash: &str) -> Result<()> {
        let done = sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
            .bind(token_hash)
            .execute(self.pool())
            .await?;
        if done.rows_affected() > 0 {
            // Its open terminals close at once, on every replica.
            self.announce(crate::events::ACCESS, "").await;
        }
        Ok(())
    }

    /// Removes expired sessions; returns how many.
    pub async fn delete_expired_sessions(&self) -> Result<u64> {
        let done = sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
            .bind(now_ms())
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected())
    }
}
