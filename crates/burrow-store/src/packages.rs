//! The package allowlist: which distributions bundles may install, and up to which version.

use crate::{now_ms, Result, Store, StoreError};

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Package {
    pub name: String,
    pub max_version: Option<String>,
    pub added_by: Option<String>,
    pub added_at: i64,
}

impl Store {
    /// The allowlist, by name.
    pub async fn list_packages(&self) -> Result<Vec<Package>> {
        Ok(sqlx::query_as::<_, Package>(
            "SELECT name, max_version, added_by, added_at FROM packages ORDER BY name",
        )
        .fetch_all(self.pool())
        .await?)
    }

    /// Adds packages, or changes their caps, all in one transaction. Names must be normalised.
    pub async fn add_packages(
        &self,
        entries: &[(String, Option<String>)],
        added_by: Option<&str>,
    ) -> Result<Vec<Package>> {
        let mut tx = self.pool().begin().await?;
        let mut added = Vec::with_capacity(entries.len());
        for (name, max_version) in entries {
            let package = sqlx::query_as::<_, Package>(
                "INSERT INTO packages (name, max_version, added_by, added_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (name) DO UPDATE SET max_version = excluded.max_version, \
                 added_by = excluded.added_by, added_at = excluded.added_at \
                 RETURNING name, max_version, added_by, added_at",
            )
            .bind(name)
            .bind(max_version.as_deref())
            .bind(added_by)
            .bind(now_ms())
            .fetch_one(&mut *tx)
            .await?;
            added.push(package);
        }
        tx.commit().await?;
        Ok(added)
    }

    /// Removes packages in one transaction. If any is not on the list, nothing is
    /// removed and the error names the first missing one.
    pub async fn remove_packages(
        &self,
        names: &[String],
    ) -> Result<(), (StoreError, Option<String>)> {
        let mut tx = self.pool().begin().await.map_err(|e| (e.into(), None))?;
        for name in names {
            let done = sqlx::query("DELETE FROM packages WHERE name = $1")
                .bind(name)
                .execute(&mut *tx)
                .await
                .map_err(|e| (e.into(), None))?;
            if done.rows_affected() == 0 {
                return Err((StoreError::NotFound, Some(name.clone())));
            }
        }
        tx.commit().await.map_err(|e| (e.into(), None))?;
        Ok(())
    }
}
