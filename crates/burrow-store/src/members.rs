//! Project members and their roles, with the rule that a project always keeps an owner.

use burrow_core::Role;
use sqlx::AnyConnection;

use crate::projects::parse_role;
use crate::{now_ms, Result, Store, StoreError};

/// A member of a project, as listed to other members.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub user_id: String,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub added_at: i64,
}

#[derive(sqlx::FromRow)]
struct MemberRow {
    user_id: String,
    email: String,
    name: String,
    role: String,
    added_at: i64,
}

impl TryFrom<MemberRow> for Member {
    type Error = StoreError;

    fn try_from(row: MemberRow) -> Result<Self> {
        Ok(Member {
            role: parse_role(&row.role)?,
            user_id: row.user_id,
            email: row.email,
            name: row.name,
            added_at: row.added_at,
        })
    }
}

const MEMBER_SELECT: &str = "SELECT m.user_id, u.email, u.name, m.role, m.created_at AS added_at \
     FROM project_members m JOIN users u ON u.id = m.user_id";

/// Takes the project's write lock for the rest of the transaction: a row lock in
/// PostgreSQL, the database write lock in SQLite. Owner counts read after this
/// cannot change under us, so two owners cannot demote each other at once.
pub(crate) async fn lock_project(conn: &mut AnyConnection, project_id: &str) -> Result<()> {
    let done = sqlx::query("UPDATE projects SET updated_at = $1 WHERE id = $2")
        .bind(now_ms())
        .bind(project_id)
        .execute(&mut *conn)
        .await?;
    if done.rows_affected() == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

async fn member_role(conn: &mut AnyConnection, project_id: &str, user_id: &str) -> Result<Role> {
    let (role,): (String,) =
        sqlx::query_as("SELECT role FROM project_members WHERE project_id = $1 AND user_id = $2")
            .bind(project_id)
            .bind(user_id)
            .fetch_one(&mut *conn)
            .await?;
    parse_role(&role)
}

async fn owner_count(conn: &mut AnyConnection, project_id: &str) -> Result<i64> {
    let (count,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM project_members WHERE project_id = $1 AND role = 'owner'",
    )
    .bind(project_id)
    .fetch_one(&mut *conn)
    .await?;
    Ok(count)
}

impl Store {
    pub async fn list_members(&self, project_id: &str) -> Result<Vec<Member>> {
        let rows = sqlx::query_as::<_, MemberRow>(&format!(
            "{MEMBER_SELECT} WHERE m.project_id = $1 ORDER BY m.created_at, u.email"
        ))
        .bind(project_id)
        .fetch_all(self.pool())
        .await?;
        rows.into_iter().map(Member::try_from).collect()
    }

    pub async fn member(&self, project_id: &str, user_id: &str) -> Result<Member> {
        sqlx::query_as::<_, MemberRow>(&format!(
            "{MEMBER_SELECT} WHERE m.project_id = $1 AND m.user_id = $2"
        ))
        .bind(project_id)
        .bind(user_id)
        .fetch_one(self.pool())
        .await?
        .try_into()
    }

    /// Adds a user to a project. [`StoreError::Conflict`] if they already are a member.
    pub async fn add_member(&self, project_id: &str, user_id: &str, role: Role) -> Result<Member> {
        sqlx::query("INSERT INTO project_members (project_id, user_id, role, created_at) VALUES ($1, $2, $3, $4)")
            .bind(project_id)
            .bind(user_id)
            .bind(role.as_str())
            .bind(now_ms())
            .execute(self.pool())
            .await?;
        self.member(project_id, user_id).await
    }

    /// Changes a member's role. [`StoreError::LastOwner`] if that would leave no owner.
    pub async fn set_member_role(
        &self,
        project_id: &str,
        user_id: &str,
        role: Role,
    ) -> Result<Member> {
        let mut tx = self.pool().begin().await?;
        lock_project(&mut tx, project_id).await?;
        let current = member_role(&mut tx, project_id, user_id).await?;
        if current == Role::Owner
            && role != Role::Owner
            && owner_count(&mut tx, project_id).await? <= 1
        {
            return Err(StoreError::LastOwner);
        }
        sqlx::query("UPDATE project_members SET role = $1 WHERE project_id = $2 AND user_id = $3")
            .bind(role.as_str())
            .bind(project_id)
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        if role < current {
            // A lower role may no longer use what is open (a workspace's terminals).
            self.views_taken_away().await;
        }
        self.member(project_id, user_id).await
    }

    /// Removes a member. [`StoreError::LastOwner`] if they are the last owner.
    pub async fn remove_member(&self, project_id: &str, user_id: &str) -> Result<()> {
        let mut tx = self.pool().begin().await?;
        lock_project(&mut tx, project_id).await?;
        let current = member_role(&mut tx, project_id, user_id).await?;
        if current == Role::Owner && owner_count(&mut tx, project_id).await? <= 1 {
            return Err(StoreError::LastOwner);
        }
        sqlx::query("DELETE FROM project_members WHERE project_id = $1 AND user_id = $2")
            .bind(project_id)
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        self.views_taken_away().await;
        Ok(())
    }
}
