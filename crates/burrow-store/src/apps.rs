//! Apps and their versions: what is deployed in a project, and which version runs.

use burrow_core::{AppId, ProjectId};
use sqlx::AnyConnection;

use crate::builds::{BuildRow, BuildStatus, COLUMNS as BUILD_COLUMNS};
use crate::leases::{fence_condition, fenced_update};
use crate::{now_ms, Build, Fence, Result, Store, StoreError};

/// An app as stored, with its creator's display name.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct App {
    #[sqlx(try_from = "String")]
    pub id: AppId,
    #[sqlx(try_from = "String")]
    pub project_id: ProjectId,
    pub name: String,
    pub description: String,
    pub active_version: Option<i64>,
    pub cpu_millis: i64,
    pub memory_bytes: i64,
    pub idle_timeout_secs: i64,
    /// The egress policy's mode: `none`, `allowlist` or `public`.
    pub egress_mode: String,
    /// An allowlist's domains, one per line.
    pub egress_domains: String,
    /// Counts changes to the app's secrets; a sandbox started at an older one is replaced.
    pub secrets_revision: i64,
    #[sqlx(try_from = "String")]
    pub status: AppStatus,
    pub restart_count: i64,
    pub last_error: Option<String>,
    pub started_at: Option<i64>,
    pub last_activity_at: Option<i64>,
    pub created_by: Option<String>,
    pub creator_name: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// What a new app starts with.
#[derive(Debug, Clone)]
pub struct NewApp<'a> {
    pub id: &'a str,
    pub project_id: &'a str,
    pub name: &'a str,
    pub description: &'a str,
    pub cpu_millis: i64,
    pub memory_bytes: i64,
    pub idle_timeout_secs: i64,
    pub egress_mode: &'a str,
    pub egress_domains: &'a str,
}

/// A validated upload, stored as a blob, about to become a version.
#[derive(Debug, Clone)]
pub struct NewVersion<'a> {
    pub bundle_blob: &'a str,
    pub sha256: &'a str,
    pub requirements: &'a str,
    pub inferred: bool,
    pub warnings_json: &'a str,
    pub build_id: &'a str,
    pub created_by: &'a str,
}

/// One version with its build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppVersion {
    pub app_id: AppId,
    pub number: i64,
    pub bundle_blob: String,
    pub sha256: String,
    pub requirements: String,
    pub inferred: bool,
    pub warnings_json: String,
    pub created_by: Option<String>,
    pub creator_name: Option<String>,
    pub created_at: i64,
    pub build: Build,
}

/// Changes to an app's settings; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct AppChanges<'a> {
    pub name: Option<&'a str>,
    pub description: Option<&'a str>,
    pub cpu_millis: Option<i64>,
    pub memory_bytes: Option<i64>,
    pub idle_timeout_secs: Option<i64>,
    /// The egress mode and domains, changed together.
    pub egress: Option<(&'a str, &'a str)>,
}

const APP_SELECT: &str = "SELECT a.id, a.project_id, a.name, a.description, a.active_version, \
     a.cpu_millis, a.memory_bytes, a.idle_timeout_secs, a.egress_mode, a.egress_domains, a.secrets_revision, a.status, a.restart_count, a.last_error, \
     a.started_at, a.last_activity_at, a.created_by, u.name AS creator_name, a.created_at, a.updated_at \
     FROM apps a LEFT JOIN users u ON u.id = a.created_by";

#[derive(sqlx::FromRow)]
struct VersionRow {
    app_id: String,
    number: i64,
    bundle_blob: String,
    sha256: String,
    version_requirements: String,
    inferred: i64,
    warnings: String,
    version_created_by: Option<String>,
    creator_name: Option<String>,
    version_created_at: i64,
    #[sqlx(flatten)]
    build: BuildRow,
}

impl TryFrom<VersionRow> for AppVersion {
    type Error = StoreError;
    fn try_from(r: VersionRow) -> Result<Self> {
        Ok(AppVersion {
            app_id: r.app_id.into(),
            number: r.number,
            bundle_blob: r.bundle_blob,
            sha256: r.sha256,
            requirements: r.version_requirements,
            inferred: r.inferred != 0,
            warnings_json: r.warnings,
            created_by: r.version_created_by,
            creator_name: r.creator_name,
            created_at: r.version_created_at,
            build: r.build.try_into()?,
        })
    }
}

fn version_select() -> String {
    let build_columns = BUILD_COLUMNS
        .split(", ")
        .map(|c| format!("b.{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "SELECT v.app_id, v.number, v.bundle_blob, v.sha256, v.requirements AS version_requirements, v.inferred, \
         v.warnings, v.created_by AS version_created_by, u.name AS creator_name, \
         v.created_at AS version_created_at, {build_columns} \
         FROM app_versions v JOIN builds b ON b.id = v.build_id \
         LEFT JOIN users u ON u.id = v.created_by"
    )
}

async fn insert_version(
    conn: &mut AnyConnection,
    app_id: &str,
    number: i64,
    version: &NewVersion<'_>,
) -> Result<()> {
    let now = now_ms();
    sqlx::query(
        "INSERT INTO builds (id, requirements, status, created_by, created_at) \
         VALUES ($1, $2, 'queued', $3, $4)",
    )
    .bind(version.build_id)
    .bind(version.requirements)
    .bind(version.created_by)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "INSERT INTO app_versions (app_id, number, bundle_blob, sha256, requirements, inferred, \
         warnings, build_id, created_by, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(app_id)
    .bind(number)
    .bind(version.bundle_blob)
    .bind(version.sha256)
    .bind(version.requirements)
    .bind(i64::from(version.inferred))
    .bind(version.warnings_json)
    .bind(version.build_id)
    .bind(version.created_by)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

impl Store {
    /// Creates an app with its first version and that version's queued build, all at once.
    /// A name already used in the project is `Conflict`.
    pub async fn create_app(&self, app: &NewApp<'_>, version: &NewVersion<'_>) -> Result<App> {
        let mut tx = self.pool().begin().await?;
        let now = now_ms();
        sqlx::query(
            "INSERT INTO apps (id, project_id, name, description, cpu_millis, memory_bytes, \
             idle_timeout_secs, created_by, created_at, updated_at, egress_mode, egress_domains) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9, $10, $11)",
        )
        .bind(app.id)
        .bind(app.project_id)
        .bind(app.name)
        .bind(app.description)
        .bind(app.cpu_millis)
        .bind(app.memory_bytes)
        .bind(app.idle_timeout_secs)
        .bind(version.created_by)
        .bind(now)
        .bind(app.egress_mode)
        .bind(app.egress_domains)
        .execute(&mut *tx)
        .await?;
        insert_version(&mut tx, app.id, 1, version).await?;
        tx.commit().await?;
        self.get_app(app.project_id, app.id).await
    }

    /// Adds the next version of an app, with its queued build.
    pub async fn add_version(
        &self,
        project_id: &str,
        app_id: &str,
        version: &NewVersion<'_>,
    ) -> Result<AppVersion> {
        let mut tx = self.pool().begin().await?;
        // Taking the app's write lock first serialises concurrent uploads' numbering.
        let touched =
            sqlx::query("UPDATE apps SET updated_at = $1 WHERE id = $2 AND project_id = $3")
                .bind(now_ms())
                .bind(app_id)
                .bind(project_id)
                .execute(&mut *tx)
                .await?;
        if touched.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        let (number,): (i64,) = sqlx::query_as(
            "SELECT COALESCE(MAX(number), 0) + 1 FROM app_versions WHERE app_id = $1",
        )
        .bind(app_id)
        .fetch_one(&mut *tx)
        .await?;
        insert_version(&mut tx, app_id, number, version).await?;
        tx.commit().await?;
        self.get_version(app_id, number).await
    }

    /// The project's apps, most recently updated first.
    pub async fn list_apps(&self, project_id: &str) -> Result<Vec<App>> {
        Ok(sqlx::query_as::<_, App>(&format!(
            "{APP_SELECT} WHERE a.project_id = $1 ORDER BY a.updated_at DESC, a.id"
        ))
        .bind(project_id)
        .fetch_all(self.pool())
        .await?)
    }

    /// One app of a project; another project's app is `NotFound`.
    pub async fn get_app(&self, project_id: &str, app_id: &str) -> Result<App> {
        Ok(sqlx::query_as::<_, App>(&format!(
            "{APP_SELECT} WHERE a.id = $1 AND a.project_id = $2"
        ))
        .bind(app_id)
        .bind(project_id)
        .fetch_one(self.pool())
        .await?)
    }

    /// Changes an app's settings.
    pub async fn update_app(
        &self,
        project_id: &str,
        app_id: &str,
        changes: &AppChanges<'_>,
    ) -> Result<App> {
        let done = sqlx::query(
            "UPDATE apps SET name = COALESCE($3, name), description = COALESCE($4, description), \
             cpu_millis = COALESCE($5, cpu_millis), memory_bytes = COALESCE($6, memory_bytes), \
             idle_timeout_secs = COALESCE($7, idle_timeout_secs), updated_at = $8, \
             egress_mode = COALESCE($9, egress_mode), egress_domains = COALESCE($10, egress_domains) \
             WHERE id = $1 AND project_id = $2",
        )
        .bind(app_id)
        .bind(project_id)
        .bind(changes.name)
        .bind(changes.description)
        .bind(changes.cpu_millis)
        .bind(changes.memory_bytes)
        .bind(changes.idle_timeout_secs)
        .bind(now_ms())
        .bind(changes.egress.map(|(mode, _)| mode))
        .bind(changes.egress.map(|(_, domains)| domains))
        .execute(self.pool())
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        self.get_app(project_id, app_id).await
    }

    /// Deletes an app and its versions; returns the bundle blobs to delete.
    pub async fn delete_app(&self, project_id: &str, app_id: &str) -> Result<Vec<String>> {
        let mut tx = self.pool().begin().await?;
        let blobs: Vec<(String,)> = sqlx::query_as(
            "SELECT v.bundle_blob FROM app_versions v JOIN apps a ON a.id = v.app_id \
             WHERE a.id = $1 AND a.project_id = $2",
        )
        .bind(app_id)
        .bind(project_id)
        .fetch_all(&mut *tx)
        .await?;
        let done = sqlx::query("DELETE FROM apps WHERE id = $1 AND project_id = $2")
            .bind(app_id)
            .bind(project_id)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        tx.commit().await?;
        self.views_taken_away().await;
        Ok(blobs.into_iter().map(|(b,)| b).collect())
    }

    /// An app's versions with their builds, newest first.
    pub async fn list_versions(&self, app_id: &str) -> Result<Vec<AppVersion>> {
        sqlx::query_as::<_, VersionRow>(&format!(
            "{} WHERE v.app_id = $1 ORDER BY v.number DESC",
            version_select()
        ))
        .bind(app_id)
        .fetch_all(self.pool())
        .await?
        .into_iter()
        .map(AppVersion::try_from)
        .collect()
    }

    pub async fn get_version(&self, app_id: &str, number: i64) -> Result<AppVersion> {
        sqlx::query_as::<_, VersionRow>(&format!(
            "{} WHERE v.app_id = $1 AND v.number = $2",
            version_select()
        ))
        .bind(app_id)
        .bind(number)
        .fetch_one(self.pool())
        .await?
        .try_into()
    }

    /// Makes a version active. Only a version whose build succeeded may be; for any
    /// other, nothing changes and the version is returned as `Err` to say why.
    pub async fn activate_version(
        &self,
        project_id: &str,
        app_id: &str,
        number: i64,
    ) -> Result<std::result::Result<App, AppVersion>> {
        let version = self.get_version(app_id, number).await?;
        if version.build.status != BuildStatus::Succeeded {
            return Ok(Err(version));
        }
        let done = sqlx::query(
            "UPDATE apps SET active_version = $3, updated_at = $4 WHERE id = $1 AND project_id = $2 \
             AND EXISTS (SELECT 1 FROM app_versions v WHERE v.app_id = $1 AND v.number = $3)",
        )
        .bind(app_id)
        .bind(project_id)
        .bind(number)
        .bind(now_ms())
        .execute(self.pool())
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        self.get_app(project_id, app_id).await.map(Ok)
    }
}

/// Where an app's runtime is, as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppStatus {
    Stopped,
    Starting,
    Running,
    Stopping,
    Error,
}

impl TryFrom<String> for AppStatus {
    type Error = StoreError;
    fn try_from(s: String) -> Result<Self> {
        Ok(match s.as_str() {
            "stopped" => AppStatus::Stopped,
            "starting" => AppStatus::Starting,
            "running" => AppStatus::Running,
            "stopping" => AppStatus::Stopping,
            "error" => AppStatus::Error,
            other => {
                return Err(StoreError::Config(format!(
                    "unknown app status {other:?} in the database"
                )))
            }
        })
    }
}

impl AppStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AppStatus::Stopped => "stopped",
            AppStatus::Starting => "starting",
            AppStatus::Running => "running",
            AppStatus::Stopping => "stopping",
            AppStatus::Error => "error",
        }
    }
}

impl Store {
    /// An app by its short id alone, for the viewer proxy, which learns the project from it.
    pub async fn find_app(&self, app_id: &str) -> Result<App> {
        Ok(
            sqlx::query_as::<_, App>(&format!("{APP_SELECT} WHERE a.id = $1"))
                .bind(app_id)
                .fetch_one(self.pool())
                .await?,
        )
    }

    /// Apps whose stored status says a sandbox may exist: for reconciliation at start.
    pub async fn apps_maybe_running(&self) -> Result<Vec<App>> {
        Ok(sqlx::query_as::<_, App>(&format!(
            "{APP_SELECT} WHERE a.status IN ('starting', 'running', 'stopping')"
        ))
        .fetch_all(self.pool())
        .await?)
    }

    /// Records a runtime transition. `error` replaces the last error when given;
    /// `restarts` replaces the restart count when given. Running also sets `started_at`.
    /// With a fence, only while its holder still holds the app's lease at that epoch,
    /// else [`StoreError::Fenced`].
    pub async fn set_app_status(
        &self,
        app_id: &str,
        status: AppStatus,
        error: Option<&str>,
        restarts: Option<i64>,
        fence: Option<Fence<'_>>,
    ) -> Result<()> {
        let sql = format!(
            "UPDATE apps SET status = $2, last_error = COALESCE($3, last_error), \
             restart_count = COALESCE($4, restart_count), \
             started_at = CASE WHEN $2 = 'running' THEN $5 ELSE started_at END \
             WHERE id = $1 AND {}",
            fence_condition("apps.id", 6)
        );
        let update = sqlx::query(&sql)
            .bind(app_id)
            .bind(status.as_str())
            .bind(error)
            .bind(restarts)
            .bind(now_ms());
        fenced_update(self, app_id, fence, update).await
    }

    /// Clears the last error and restart count, as a deliberate start does; fenced as
    /// [`set_app_status`](Self::set_app_status).
    pub async fn clear_app_error(&self, app_id: &str, fence: Option<Fence<'_>>) -> Result<()> {
        let sql = format!(
            "UPDATE apps SET last_error = NULL, restart_count = 0 WHERE id = $1 AND {}",
            fence_condition("apps.id", 2)
        );
        fenced_update(self, app_id, fence, sqlx::query(&sql).bind(app_id)).await
    }

    /// Notes when a viewer last used the app.
    pub async fn record_app_activity(&self, app_id: &str, at_ms: i64) -> Result<()> {
        // Replicas record their viewers' activity each: the latest wins.
        sqlx::query(
            "UPDATE apps SET last_activity_at = $2 \
             WHERE id = $1 AND (last_activity_at IS NULL OR last_activity_at < $2)",
        )
        .bind(app_id)
        .bind(at_ms)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Deletes versions created before `cutoff_ms`, except each app's active one;
    /// returns `(app, number, bundle blob)` of each, for their files to go too.
    pub async fn prune_versions(&self, cutoff_ms: i64) -> Result<Vec<(AppId, i64, String)>> {
        // One statement, so an activation cannot slip in between choosing and deleting.
        let rows: Vec<(String, i64, String)> = sqlx::query_as(
            "DELETE FROM app_versions WHERE created_at < $1 AND number <> \
             COALESCE((SELECT a.active_version FROM apps a WHERE a.id = app_versions.app_id), -1) \
             RETURNING app_id, number, bundle_blob",
        )
        .bind(cutoff_ms)
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .into_iter()
            .map(|(app, number, blob)| (app.into(), number, blob))
            .collect())
    }

    /// Every app of a project with its versions' bundle blobs, for cleaning up after
    /// the project is deleted (its rows go by cascade).
    pub async fn project_app_files(&self, project_id: &str) -> Result<Vec<(String, String)>> {
        Ok(sqlx::query_as(
            "SELECT a.id, v.bundle_blob FROM apps a JOIN app_versions v ON v.app_id = a.id \
             WHERE a.project_id = $1",
        )
        .bind(project_id)
        .fetch_all(self.pool())
        .await?)
    }

    /// The environments some app version was built into: kept, so rollbacks stay instant.
    pub async fn environments_of_versions(&self) -> Result<Vec<String>> {
        let rows: Vec<(String,)> = sqlx::query_as(
            "SELECT DISTINCT b.environment FROM app_versions v JOIN builds b ON b.id = v.build_id \
             WHERE b.environment IS NOT NULL",
        )
        .fetch_all(self.pool())
        .await?;
        Ok(rows.into_iter().map(|(e,)| e).collect())
    }
}

/// In the transaction that records a build's success: the version built by it becomes its
/// app's active version, unless a newer one already is.
pub(crate) async fn activate_built_version(conn: &mut AnyConnection, build_id: &str) -> Result<()> {
    sqlx::query(
        "UPDATE apps SET active_version = v.number, updated_at = $2 \
         FROM app_versions v WHERE v.build_id = $1 AND apps.id = v.app_id \
         AND (apps.active_version IS NULL OR apps.active_version < v.number)",
    )
    .bind(build_id)
    .bind(now_ms())
    .execute(&mut *conn)
    .await?;
    Ok(())
}
