//! Store errors, translated from sqlx at this boundary.

/// What can go wrong in the store, in terms callers act on.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    /// A unique constraint failed: the thing already exists.
    #[error("already exists")]
    Conflict,
    /// What the change was made from changed meanwhile: read it again and retry.
    #[error("changed meanwhile")]
    Stale,
    /// The change would leave a project without an owner.
    #[error("a project must keep at least one owner")]
    LastOwner,
    /// A fenced write found its lease held by another holder (or its row gone): the
    /// writer no longer serves that key and must not act on it.
    #[error("the lease this change was made under is held by another replica now")]
    Fenced,
    /// The database cannot be reached now; retrying later may work.
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    /// The disk the database writes to is full; nothing of the change was kept.
    #[error("the database's disk is full: {0}")]
    Full(String),
    #[error("database configuration: {0}")]
    Config(String),
    #[error("database migration failed: {0}")]
    Migrate(String),
    #[error("database error: {0}")]
    Database(sqlx::Error),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match e {
            sqlx::Error::RowNotFound => StoreError::NotFound,
            // SQLite's SQLITE_FULL, PostgreSQL's disk_full: the transaction rolled back.
            sqlx::Error::Database(ref db)
                if db
                    .code()
                    .is_some_and(|c| matches!(c.as_ref(), "13" | "53100")) =>
            {
                StoreError::Full(e.to_string())
            }
            sqlx::Error::Database(ref db) if db.is_unique_violation() => StoreError::Conflict,
            // The row it points at went away concurrently, such as a deleted project.
            sqlx::Error::Database(ref db) if db.is_foreign_key_violation() => StoreError::NotFound,
            // SQLite: the database stayed locked past busy_timeout.
            sqlx::Error::Database(ref db)
                if db
                    .code()
                    .is_some_and(|c| matches!(c.as_ref(), "5" | "6" | "261" | "262" | "517")) =>
            {
                StoreError::Unavailable(e.to_string())
            }
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_) => StoreError::Unavailable(e.to_string()),
            // PostgreSQL: the database was dropped or the server is shutting down.
            sqlx::Error::Database(ref db)
                if db.code().is_some_and(|c| {
                    c.starts_with("57P") || c == "3D000" || c.starts_with("08")
                }) =>
            {
                StoreError::Unavailable(e.to_string())
            }
            other => StoreError::Database(other),
        }
    }
}
