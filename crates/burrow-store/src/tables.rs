//! A project's tables and their immutable versions: the pointer swap that replaces a
//! table, and the retired versions whose objects can go.

use crate::members::lock_project;
use crate::{now_ms, Result, Store, StoreError};

/// A table with its current version.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct DataTable {
    pub id: String,
    pub project_id: String,
    pub name: String,
    pub version_id: String,
    pub blob: String,
    pub columns_json: String,
    pub row_count: i64,
    pub size_bytes: i64,
    /// `upload`, `sample` or `job`.
    pub origin: String,
    pub created_by: Option<String>,
    pub creator_name: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A version about to become a table's current one; its object is already stored.
#[derive(Debug, Clone)]
pub struct NewTableVersion<'a> {
    pub id: &'a str,
    pub blob: &'a str,
    pub columns_json: &'a str,
    pub row_count: i64,
    pub size_bytes: i64,
    pub origin: &'a str,
    pub created_by: &'a str,
}

const SELECT: &str =
    "SELECT t.id, t.project_id, t.name, v.id AS version_id, v.blob, v.columns_json, \
     v.row_count, v.size_bytes, v.origin, t.created_by, u.name AS creator_name, t.created_at, \
     t.updated_at FROM data_tables t JOIN data_table_versions v ON v.id = t.current_version \
     LEFT JOIN users u ON u.id = t.created_by";

impl Store {
    /// Makes a new table whose first version is `version`; a taken name is a conflict.
    /// Once this returns `Ok` the version is committed (read it back with `get_table`).
    pub async fn create_table(
        &self,
        project_id: &str,
        table_id: &str,
        name: &str,
        version: &NewTableVersion<'_>,
    ) -> Result<()> {
        let mut tx = self.pool().begin().await?;
        lock_project(&mut tx, project_id).await?;
        insert_table(&mut tx, project_id, table_id, name, version).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Makes `version` the table's current one and retires the one it replaces, in one
    /// transaction: a reader sees the old version or the new, never a mix. Once this
    /// returns `Ok` the version is committed.
    pub async fn replace_table(
        &self,
        project_id: &str,
        name: &str,
        version: &NewTableVersion<'_>,
    ) -> Result<()> {
        let mut tx = self.pool().begin().await?;
        lock_project(&mut tx, project_id).await?;
        let (table_id, old): (String, String) = sqlx::query_as(
            "SELECT id, current_version FROM data_tables WHERE project_id = $1 AND name = $2",
        )
        .bind(project_id)
        .bind(name)
        .fetch_one(&mut *tx)
        .await?;
        swap_version(&mut tx, project_id, &table_id, &old, version).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn list_tables(&self, project_id: &str) -> Result<Vec<DataTable>> {
        Ok(
            sqlx::query_as(&format!("{SELECT} WHERE t.project_id = $1 ORDER BY t.name"))
                .bind(project_id)
                .fetch_all(self.pool())
                .await?,
        )
    }

    pub async fn get_table(&self, project_id: &str, name: &str) -> Result<DataTable> {
        Ok(
            sqlx::query_as(&format!("{SELECT} WHERE t.project_id = $1 AND t.name = $2"))
                .bind(project_id)
                .bind(name)
                .fetch_one(self.pool())
                .await?,
        )
    }

    /// Deletes a table; its versions are retired, for their objects to go later.
    pub async fn delete_table(&self, project_id: &str, name: &str) -> Result<()> {
        let now = now_ms();
        let mut tx = self.pool().begin().await?;
        lock_project(&mut tx, project_id).await?;
        let (table_id,): (String,) =
            sqlx::query_as("SELECT id FROM data_tables WHERE project_id = $1 AND name = $2")
                .bind(project_id)
                .bind(name)
                .fetch_one(&mut *tx)
                .await?;
        sqlx::query("DELETE FROM data_tables WHERE id = $1")
            .bind(&table_id)
            .execute(&mut *tx)
            .await?;
        retire(&mut tx, "table_id = $2", &table_id, now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Removes the rows of versions retired before `cutoff_ms`, and of a deleted
    /// project's versions (never retired: its tables went by cascade, and nothing of the
    /// project can query them), returning their objects for the caller to delete. A
    /// version that is some table's current one is never returned.
    pub async fn prune_table_versions(&self, cutoff_ms: i64) -> Result<Vec<String>> {
        let rows: Vec<(String,)> = sqlx::query_as(
            "DELETE FROM data_table_versions WHERE created_at < $1 AND \
             ((retired_at IS NOT NULL AND retired_at < $1) OR \
              (retired_at IS NULL AND NOT EXISTS \
                (SELECT 1 FROM data_tables t WHERE t.id = data_table_versions.table_id) AND NOT EXISTS \
                (SELECT 1 FROM projects p WHERE p.id = data_table_versions.project_id))) \
             AND NOT EXISTS (SELECT 1 FROM data_tables t WHERE t.current_version = data_table_versions.id) \
             RETURNING blob",
        )
        .bind(cutoff_ms)
        .fetch_all(self.pool())
        .await?;
        Ok(rows.into_iter().map(|(b,)| b).collect())
    }
}

/// Within a transaction that holds the project's lock: a new table whose current version
/// is `version`.
pub(crate) async fn insert_table(
    conn: &mut sqlx::AnyConnection,
    project_id: &str,
    table_id: &str,
    name: &str,
    version: &NewTableVersion<'_>,
) -> Result<()> {
    let now = now_ms();
    insert_version(conn, project_id, table_id, version, now).await?;
    sqlx::query(
        "INSERT INTO data_tables (id, project_id, name, current_version, created_by, \
         created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $6)",
    )
    .bind(table_id)
    .bind(project_id)
    .bind(name)
    .bind(version.id)
    .bind(version.created_by)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Within a transaction that holds the project's lock: the pointer swap that makes
/// `version` the table's current one and retires `old`.
pub(crate) async fn swap_version(
    conn: &mut sqlx::AnyConnection,
    project_id: &str,
    table_id: &str,
    old: &str,
    version: &NewTableVersion<'_>,
) -> Result<()> {
    let now = now_ms();
    insert_version(conn, project_id, table_id, version, now).await?;
    sqlx::query("UPDATE data_tables SET current_version = $1, updated_at = $2 WHERE id = $3")
        .bind(version.id)
        .bind(now)
        .bind(table_id)
        .execute(&mut *conn)
        .await?;
    retire(conn, "id = $2", old, now).await
}

async fn insert_version(
    conn: &mut sqlx::AnyConnection,
    project_id: &str,
    table_id: &str,
    v: &NewTableVersion<'_>,
    now: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO data_table_versions (id, table_id, project_id, blob, columns_json, \
         row_count, size_bytes, origin, created_by, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(v.id)
    .bind(table_id)
    .bind(project_id)
    .bind(v.blob)
    .bind(v.columns_json)
    .bind(v.row_count)
    .bind(v.size_bytes)
    .bind(v.origin)
    .bind(v.created_by)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub(crate) async fn retire(
    conn: &mut sqlx::AnyConnection,
    which: &str,
    id: &str,
    now: i64,
) -> Result<()> {
    let done = sqlx::query(&format!(
        "UPDATE data_table_versions SET retired_at = $1 WHERE {which} AND retired_at IS NULL"
    ))
    .bind(now)
    .bind(id)
    .execute(&mut *conn)
    .await?;
    if done.rows_affected() == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}
