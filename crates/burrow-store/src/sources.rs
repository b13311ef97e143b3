//! A project's external PostgreSQL sources: where they are, who Burrow connects as, and
//! the sealed password, which only the service layer can open.

use crate::{now_ms, Result, Store, StoreError};

/// A data source as stored.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct DataSource {
    pub id: String,
    pub project_id: String,
    pub name: String,
    pub host: String,
    pub port: i64,
    pub database_name: String,
    pub username: String,
    /// `v1:` and base64: never shown, never logged.
    pub password_sealed: String,
    /// `disable`, `prefer`, `require` or `verify-full`.
    pub tls_mode: String,
    /// 0 or 1: jobs may write here.
    pub destination: i64,
    pub created_by: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

const SELECT: &str = "SELECT id, project_id, name, host, port, database_name, username, \
     password_sealed, tls_mode, destination, created_by, created_at, updated_at FROM data_sources";

impl Store {
    /// Adds a source; a name the project already uses is a conflict.
    pub async fn create_source(&self, s: &DataSource) -> Result<()> {
        let now = now_ms();
        sqlx::query(
            "INSERT INTO data_sources (id, project_id, name, host, port, database_name, \
             username, password_sealed, tls_mode, destination, created_by, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12)",
        )
        .bind(&s.id)
        .bind(&s.project_id)
        .bind(&s.name)
        .bind(&s.host)
        .bind(s.port)
        .bind(&s.database_name)
        .bind(&s.username)
        .bind(&s.password_sealed)
        .bind(&s.tls_mode)
        .bind(s.destination)
        .bind(&s.created_by)
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Changes where a source is and how Burrow connects; its id, project and name stay.
    pub async fn update_source(&self, s: &DataSource) -> Result<()> {
        let done = sqlx::query(
            "UPDATE data_sources SET host = $1, port = $2, database_name = $3, username = $4, \
             password_sealed = $5, tls_mode = $6, destination = $7, updated_at = $8 \
             WHERE id = $9 AND project_id = $10",
        )
        .bind(&s.host)
        .bind(s.port)
        .bind(&s.database_name)
        .bind(&s.username)
        .bind(&s.password_sealed)
        .bind(&s.tls_mode)
        .bind(s.destination)
        .bind(now_ms())
        .bind(&s.id)
        .bind(&s.project_id)
        .execute(self.pool())
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    pub async fn list_sources(&self, project_id: &str) -> Result<Vec<DataSource>> {
        Ok(
            sqlx::query_as(&format!("{SELECT} WHERE project_id = $1 ORDER BY name"))
                .bind(project_id)
                .fetch_all(self.pool())
                .await?,
        )
    }

    pub async fn get_source(&self, project_id: &str, name: &str) -> Result<DataSource> {
        Ok(
            sqlx::query_as(&format!("{SELECT} WHERE project_id = $1 AND name = $2"))
                .bind(project_id)
                .bind(name)
                .fetch_one(self.pool())
                .await?,
        )
    }

    pub async fn delete_source(&self, project_id: &str, name: &str) -> Result<()> {
        let done = sqlx::query("DELETE FROM data_sources WHERE project_id = $1 AND name = $2")
            .bind(project_id)
            .bind(name)
            .execute(self.pool())
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }
}
