//! Users: accounts that log in.

use sqlx::any::AnyRow;
use sqlx::Row;

use crate::{now_ms, Backend, Result, Store};

/// A stored account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: String,
    pub email: String,
    pub name: String,
    pub password_hash: String,
    pub is_admin: bool,
    pub created_at: i64,
}

impl<'r> sqlx::FromRow<'r, AnyRow> for User {
    fn from_row(row: &'r AnyRow) -> sqlx::Result<Self> {
        Ok(User {
            id: row.try_get("id")?,
            email: row.try_get("email")?,
            name: row.try_get("name")?,
            password_hash: row.try_get("password_hash")?,
            is_admin: row.try_get::<i64, _>("is_admin")? != 0,
            created_at: row.try_get("created_at")?,
        })
    }
}

/// An account to create; the email is already normalised and the password hashed.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub email: String,
    pub name: String,
    pub password_hash: String,
    /// Make this user an instance admin. The first user ever is an admin regardless.
    pub admin: bool,
}

const USER_COLUMNS: &str = "id, email, name, password_hash, is_admin, created_at";

impl Store {
    /// Creates a user. The very first user becomes an admin, decided atomically
    /// with the insert so that two racing first registrations yield one admin.
    pub async fn create_user(&self, new: NewUser) -> Result<User> {
        let mut tx = self.pool().begin().await?;
        if self.backend() == Backend::Postgres {
            // Serialises "is this the first user?" with concurrent inserts.
            sqlx::query("LOCK TABLE users IN SHARE ROW EXCLUSIVE MODE")
                .execute(&mut *tx)
                .await?;
        }
        let id = burrow_core::ids::new_id("u");
        // In SQLite one INSERT … SELECT reads and writes under the single write lock.
        let user = sqlx::query_as::<_, User>(&format!(
            "INSERT INTO users (id, email, name, password_hash, is_admin, created_at) \
             SELECT $1, $2, $3, $4, CASE WHEN $5 = 1 OR NOT EXISTS (SELECT 1 FROM users) THEN 1 ELSE 0 END, $6 \
             RETURNING {USER_COLUMNS}"
        ))
        .bind(&id)
        .bind(&new.email)
        .bind(&new.name)
        .bind(&new.password_hash)
        .bind(i64::from(new.admin))
        .bind(now_ms())
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(user)
    }

    pub async fn user_by_email(&self, email: &str) -> Result<User> {
        Ok(sqlx::query_as::<_, User>(&format!(
            "SELECT {USER_COLUMNS} FROM users WHERE email = $1"
        ))
        .bind(email)
        .fetch_one(self.pool())
        .await?)
    }

    pub async fn user_by_id(&self, id: &str) -> Result<User> {
        Ok(
            sqlx::query_as::<_, User>(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1"))
                .bind(id)
                .fetch_one(self.pool())
                .await?,
        )
    }

    /// Every user, oldest first. For admins.
    pub async fn list_users(&self) -> Result<Vec<User>> {
        Ok(sqlx::query_as::<_, User>(&format!(
            "SELECT {USER_COLUMNS} FROM users ORDER BY created_at, id"
        ))
        .fetch_all(self.pool())
        .await?)
    }
}
