//! Projects: the tenants that own apps, workspaces and jobs.

use burrow_core::{ProjectId, Role};

use crate::{now_ms, Result, Store, StoreError};

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Project {
    #[sqlx(try_from = "String")]
    pub id: ProjectId,
    pub name: String,
    pub created_by: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A project as one member sees it: with their role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectMembership {
    pub project: Project,
    pub role: Role,
}

#[derive(sqlx::FromRow)]
struct ProjectRoleRow {
    id: String,
    name: String,
    created_by: Option<String>,
    created_at: i64,
    updated_at: i64,
    role: String,
}

impl TryFrom<ProjectRoleRow> for ProjectMembership {
    type Error = StoreError;

    fn try_from(row: ProjectRoleRow) -> Result<Self> {
        Ok(ProjectMembership {
            role: parse_role(&row.role)?,
            project: Project {
                id: row.id.into(),
                name: row.name,
                created_by: row.created_by,
                created_at: row.created_at,
                updated_at: row.updated_at,
            },
        })
    }
}

pub(crate) fn parse_role(s: &str) -> Result<Role> {
    s.parse().map_err(|_| {
        StoreError::Database(sqlx::Error::Decode(
            format!("unknown role {s:?} in the database").into(),
        ))
    })
}

const PROJECT_ROLE_SELECT: &str =
    "SELECT p.id, p.name, p.created_by, p.created_at, p.updated_at, m.role \
     FROM projects p JOIN project_members m ON m.project_id = p.id";

impl Store {
    /// Creates a project with `owner_id` as its first owner, in one transaction.
    pub async fn create_project(&self, name: &str, owner_id: &str) -> Result<Project> {
        let id = burrow_core::ids::new_id("p");
        let now = now_ms();
        let mut tx = self.pool().begin().await?;
        let project = sqlx::query_as::<_, Project>(
            "INSERT INTO projects (id, name, created_by, created_at, updated_at) VALUES ($1, $2, $3, $4, $4) \
             RETURNING id, name, created_by, created_at, updated_at",
        )
        .bind(&id)
        .bind(name)
        .bind(owner_id)
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        sqlx::query("INSERT INTO project_members (project_id, user_id, role, created_at) VALUES ($1, $2, $3, $4)")
            .bind(&id)
            .bind(owner_id)
            .bind(Role::Owner.as_str())
            .bind(now)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(project)
    }

    /// The projects `user_id` is a member of, newest first.
    pub async fn projects_for_user(&self, user_id: &str) -> Result<Vec<ProjectMembership>> {
        let rows = sqlx::query_as::<_, ProjectRoleRow>(&format!(
            "{PROJECT_ROLE_SELECT} WHERE m.user_id = $1 ORDER BY p.created_at DESC, p.id"
        ))
        .bind(user_id)
        .fetch_all(self.pool())
        .await?;
        rows.into_iter().map(ProjectMembership::try_from).collect()
    }

    /// The project and `user_id`'s role in it. [`StoreError::NotFound`] both when
    /// the project does not exist and when the user is not a member.
    pub async fn project_membership(
        &self,
        project_id: &str,
        user_id: &str,
    ) -> Result<ProjectMembership> {
        let row = sqlx::query_as::<_, ProjectRoleRow>(&format!(
            "{PROJECT_ROLE_SELECT} WHERE p.id = $1 AND m.user_id = $2"
        ))
        .bind(project_id)
        .bind(user_id)
        .fetch_one(self.pool())
        .await?;
        row.try_into()
    }

    pub async fn rename_project(&self, project_id: &str, name: &str) -> Result<Project> {
        Ok(sqlx::query_as::<_, Project>(
            "UPDATE projects SET name = $1, updated_at = $2 WHERE id = $3 \
             RETURNING id, name, created_by, created_at, updated_at",
        )
        .bind(name)
        .bind(now_ms())
        .bind(project_id)
        .fetch_one(self.pool())
        .await?)
    }

    /// Deletes a project and, by cascade, everything it owns.
    pub async fn delete_project(&self, project_id: &str) -> Result<()> {
        let done = sqlx::query("DELETE FROM projects WHERE id = $1")
            .bind(project_id)
            .execute(self.pool())
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        self.views_taken_away().await;
        Ok(())
    }
}
