//! Apps' secrets: names with sealed values; every change bumps the app's secrets revision.

use crate::{now_ms, Result, Store, StoreError};

/// One secret as stored: its value sealed, never in the clear.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct AppSecret {
    pub name: String,
    pub sealed: String,
    pub updated_at: i64,
    pub updater_name: Option<String>,
}

/// What [`Store::put_app_secret`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutSecret {
    Created,
    Replaced,
    /// A new name would make more than the cap; nothing changed.
    TooMany,
}

impl Store {
    /// The app's secrets by name, with the revision they are at, read together: one
    /// statement, so one snapshot on PostgreSQL too (a transaction under READ COMMITTED
    /// would see a change land between two statements).
    pub async fn app_secrets(&self, app_id: &str) -> Result<(i64, Vec<AppSecret>)> {
        type Row = (
            i64,
            Option<String>,
            Option<String>,
            Option<i64>,
            Option<String>,
        );
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT a.secrets_revision, s.name, s.sealed, s.updated_at, u.name \
             FROM apps a LEFT JOIN app_secrets s ON s.app_id = a.id \
             LEFT JOIN users u ON u.id = s.updated_by WHERE a.id = $1 ORDER BY s.name",
        )
        .bind(app_id)
        .fetch_all(self.pool())
        .await?;
        let Some(revision) = rows.first().map(|r| r.0) else {
            return Err(StoreError::NotFound);
        };
        let secrets = rows
            .into_iter()
            .filter_map(|(_, name, sealed, updated_at, updater_name)| {
                Some(AppSecret {
                    name: name?,
                    sealed: sealed?,
                    updated_at: updated_at?,
                    updater_name,
                })
            })
            .collect();
        Ok((revision, secrets))
    }

    /// Sets one secret of an app, keeping at most `max` names; bumps the revision in the
    /// same transaction, which also makes changes to one app's secrets take turns.
    pub async fn put_app_secret(
        &self,
        app_id: &str,
        name: &str,
        sealed: &str,
        by: &str,
        max: i64,
    ) -> Result<PutSecret> {
        let mut tx = self.pool().begin().await?;
        bump_revision(&mut tx, app_id).await?;
        let now = now_ms();
        let replaced = sqlx::query(
            "UPDATE app_secrets SET sealed = $3, updated_by = $4, updated_at = $5 \
             WHERE app_id = $1 AND name = $2",
        )
        .bind(app_id)
        .bind(name)
        .bind(sealed)
        .bind(by)
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            > 0;
        if !replaced {
            let (count,): (i64,) =
                sqlx::query_as("SELECT COUNT(*) FROM app_secrets WHERE app_id = $1")
                    .bind(app_id)
                    .fetch_one(&mut *tx)
                    .await?;
            if count >= max {
                return Ok(PutSecret::TooMany);
            }
            sqlx::query(
                "INSERT INTO app_secrets (app_id, name, sealed, updated_by, updated_at) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(app_id)
            .bind(name)
            .bind(sealed)
            .bind(by)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(if replaced {
            PutSecret::Replaced
        } else {
            PutSecret::Created
        })
    }

    /// Removes one secret of an app; `NotFound` if it has none by that name.
    pub async fn delete_app_secret(&self, app_id: &str, name: &str) -> Result<()> {
        let mut tx = self.pool().begin().await?;
        bump_revision(&mut tx, app_id).await?;
        let done = sqlx::query("DELETE FROM app_secrets WHERE app_id = $1 AND name = $2")
            .bind(app_id)
            .bind(name)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        tx.commit().await?;
        Ok(())
    }
}

/// Takes the app's turn and counts the change; `NotFound` if the app is gone.
async fn bump_revision(tx: &mut sqlx::Transaction<'_, sqlx::Any>, app_id: &str) -> Result<()> {
    let done = sqlx::query(
        "UPDATE apps SET secrets_revision = secrets_revision + 1, updated_at = $2 WHERE id = $1",
    )
    .bind(app_id)
    .bind(now_ms())
    .execute(&mut **tx)
    .await?;
    if done.rows_affected() == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}
