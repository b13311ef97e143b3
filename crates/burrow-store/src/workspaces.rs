//! Workspaces and their files: the database is the truth of what a workspace holds.
//!
//! A file's row carries its version (from the workspace's counter, so versions never
//! repeat in a workspace: a file deleted and made again is never taken for the old
//! one), size and sha256, and either its content (a small
//! text file) or the blob store key its content was written under before the row. Every
//! change runs in one transaction that first touches the workspace's row, so changes to
//! one workspace take turns (a row lock on PostgreSQL, the write lock on SQLite): the
//! version check, the case-collision check and the limits see what the others committed.

use crate::{Result, Store, StoreError};

/// A workspace, with what its files add up to.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Workspace {
    pub id: String,
    pub project_id: String,
    pub owner_id: String,
    pub owner_name: Option<String>,
    pub name: String,
    pub files: i64,
    pub bytes: i64,
    pub created_at: i64,
    pub updated_at: i64,
    /// Where its sandbox is in its life.
    #[sqlx(try_from = "String")]
    pub status: crate::AppStatus,
    pub last_error: Option<String>,
    /// When its sandbox last started.
    pub started_at: Option<i64>,
    /// When its person last gave it input.
    pub last_active_at: Option<i64>,
    /// Files made in its sandbox that were not kept, one per line with why.
    pub sync_problems: String,
    /// The template it started from, while that exists.
    pub template_id: Option<String>,
    pub template: Option<String>,
    /// The files it started with, when it started from a template: the base of its first
    /// submission's diff.
    pub base_snapshot_id: Option<String>,
}

/// A file as the tree lists it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct FileEntry {
    pub path: String,
    pub size: i64,
    pub sha256: String,
    pub version: i64,
    pub updated_by: Option<String>,
    pub updated_at: i64,
}

/// A file with where its content is.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct WorkspaceFile {
    pub path: String,
    pub size: i64,
    pub sha256: String,
    pub version: i64,
    pub updated_by: Option<String>,
    pub updated_at: i64,
    /// A small text file's content.
    pub content: Option<String>,
    /// Any other file's blob store key.
    pub blob: Option<String>,
}

/// What a write expects the file to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileExpect {
    /// There is no such file yet.
    Absent,
    /// The file is at this version.
    Version(i64),
    /// Whatever it is.
    Any,
}

/// The most a workspace may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkspaceLimits {
    pub max_files: i64,
    pub max_bytes: i64,
}

/// A file to write.
#[derive(Debug, Clone)]
pub struct FileWrite<'a> {
    pub workspace_id: &'a str,
    pub path: &'a str,
    pub folded: &'a str,
    pub size: i64,
    pub sha256: &'a str,
    pub content: Option<&'a str>,
    pub blob: Option<&'a str>,
    pub by: &'a str,
    pub expect: FileExpect,
}

/// How a change ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileChange {
    /// Done: the file's new version (for a move or delete, the number of files), and the
    /// blobs no row names any more, for the caller to delete.
    Done { version: i64, unused: Vec<String> },
    /// The file is not as expected: what it is now (`None`: there is none).
    Conflict(Option<Box<WorkspaceFile>>),
    /// Another path differs from this one only in case.
    Collision(String),
    /// The workspace would hold more files than its limit.
    TooManyFiles,
    /// The workspace would hold more bytes than its limit.
    TooManyBytes,
    /// A file would be where a folder is, or in a folder that is a file: the other path.
    Clash(String),
    /// A path a moved file would get is refused: why.
    Invalid(String),
    /// Nothing is at the path, as a file or a folder.
    Missing,
}

const WORKSPACE: &str = "SELECT w.id, w.project_id, w.owner_id, u.name AS owner_name, w.name, \
     (SELECT COUNT(*) FROM workspace_files f WHERE f.workspace_id = w.id) AS files, \
     (SELECT CAST(COALESCE(SUM(f.size), 0) AS BIGINT) FROM workspace_files f \
      WHERE f.workspace_id = w.id) AS bytes, \
     w.created_at, w.updated_at, w.status, w.last_error, w.started_at, w.last_active_at, \
     w.sync_problems, w.template_id, t.name AS template, w.base_snapshot_id \
     FROM workspaces w LEFT JOIN users u ON u.id = w.owner_id \
     LEFT JOIN templates t ON t.id = w.template_id";

const FILE: &str = "SELECT f.path, f.size, f.sha256, f.version, u.name AS updated_by, \
     f.updated_at, f.content, f.blob FROM workspace_files f \
     LEFT JOIN users u ON u.id = f.updated_by";

/// The folder `path` as a prefix, and its length in characters: `SUBSTR(path, 1, n) = p`
/// finds what is in it (`LIKE` ignores case on SQLite).
fn under(path: &str) -> (String, i32) {
    let prefix = format!("{path}/");
    // An `integer`, as PostgreSQL's `substr` takes.
    let length = i32::try_from(prefix.chars().count()).unwrap_or(i32::MAX);
    (prefix, length)
}

/// What a moved file is named until the move is done: paths never hold control
/// characters, so these collide with nothing.
const MOVING: char = '\u{1}';

impl Store {
    /// Makes a workspace holding `files` (each at version 1; their `workspace_id` and
    /// `expect` are not read), all in one transaction: there is the workspace with every
    /// file, or nothing.
    pub async fn create_workspace(
        &self,
        id: &str,
        project_id: &str,
        owner_id: &str,
        name: &str,
        template: Option<&crate::Template>,
        files: &[FileWrite<'_>],
    ) -> Result<Workspace> {
        let now = crate::now_ms();
        let mut tx = self.pool().begin().await?;
        sqlx::query(
            "INSERT INTO workspaces (id, project_id, owner_id, name, created_at, updated_at, \
             versions, template_id, base_snapshot_id) VALUES ($1, $2, $3, $4, $5, $5, $6, $7, $8)",
        )
        .bind(id)
        .bind(project_id)
        .bind(owner_id)
        .bind(name)
        .bind(now)
        .bind(i64::from(!files.is_empty()))
        .bind(template.map(|t| t.id.as_str()))
        .bind(template.map(|t| t.snapshot_id.as_str()))
        .execute(&mut *tx)
        .await?;
        for file in files {
            sqlx::query(
                "INSERT INTO workspace_files (workspace_id, path, folded, size, sha256, version, \
                 content, blob, updated_by, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, 1, $6, $7, $8, $9)",
            )
            .bind(id)
            .bind(file.path)
            .bind(file.folded)
            .bind(file.size)
            .bind(file.sha256)
            .bind(file.content)
            .bind(file.blob)
            .bind(file.by)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        self.get_workspace(project_id, id).await
    }

    /// A person's workspaces in a project, newest change first.
    pub async fn list_workspaces(
        &self,
        project_id: &str,
        owner_id: &str,
    ) -> Result<Vec<Workspace>> {
        Ok(sqlx::query_as(&format!(
            "{WORKSPACE} WHERE w.project_id = $1 AND w.owner_id = $2 \
             ORDER BY w.updated_at DESC, w.id"
        ))
        .bind(project_id)
        .bind(owner_id)
        .fetch_all(self.pool())
        .await?)
    }

    pub async fn get_workspace(&self, project_id: &str, id: &str) -> Result<Workspace> {
        Ok(sqlx::query_as(&format!(
            "{WORKSPACE} WHERE w.project_id = $1 AND w.id = $2"
        ))
        .bind(project_id)
        .bind(id)
        .fetch_one(self.pool())
        .await?)
    }

    /// A workspace by id alone, for its sandbox's upkeep.
    pub async fn find_workspace(&self, id: &str) -> Result<Workspace> {
        Ok(sqlx::query_as(&format!("{WORKSPACE} WHERE w.id = $1"))
            .bind(id)
            .fetch_one(self.pool())
            .await?)
    }

    /// Records a transition of a workspace's sandbox. `error` replaces the last error
    /// when given (`Some("")` clears it); running sets `started_at` when it was not
    /// running before.
    pub async fn set_workspace_status(
        &self,
        id: &str,
        status: crate::AppStatus,
        error: Option<&str>,
        fence: Option<crate::Fence<'_>>,
    ) -> Result<()> {
        let sql = format!(
            "UPDATE workspaces SET \
             started_at = CASE WHEN $2 = 'running' AND status <> 'running' THEN $4 \
                               ELSE started_at END, \
             status = $2, \
             last_error = CASE WHEN $3 IS NULL THEN last_error WHEN $3 = '' THEN NULL \
                               ELSE $3 END \
             WHERE id = $1 AND {}",
            crate::leases::fence_condition("workspaces.id", 5)
        );
        let update = sqlx::query(&sql)
            .bind(id)
            .bind(status.as_str())
            .bind(error)
            .bind(crate::now_ms());
        crate::leases::fenced_update(self, id, fence, update).await
    }

    /// Notes when a workspace's person last gave it input.
    pub async fn record_workspace_activity(&self, id: &str, at_ms: i64) -> Result<()> {
        // Replicas record activity each: the latest wins.
        sqlx::query(
            "UPDATE workspaces SET last_active_at = $2 \
             WHERE id = $1 AND (last_active_at IS NULL OR last_active_at < $2)",
        )
        .bind(id)
        .bind(at_ms)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Replaces what a workspace's last sync could not keep.
    pub async fn set_sync_problems(&self, id: &str, problems: &str) -> Result<()> {
        sqlx::query("UPDATE workspaces SET sync_problems = $2 WHERE id = $1")
            .bind(id)
            .bind(problems)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Workspaces whose stored status says a sandbox may exist.
    pub async fn workspaces_maybe_running(&self) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar(
            "SELECT id FROM workspaces WHERE status IN ('starting', 'running', 'stopping')",
        )
        .fetch_all(self.pool())
        .await?)
    }

    /// [`StoreError::Conflict`] when the owner has a workspace of that name.
    pub async fn rename_workspace(&self, project_id: &str, id: &str, name: &str) -> Result<()> {
        let done = sqlx::query(
            "UPDATE workspaces SET name = $1, updated_at = $2 WHERE project_id = $3 AND id = $4",
        )
        .bind(name)
        .bind(crate::now_ms())
        .bind(project_id)
        .bind(id)
        .execute(self.pool())
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// Deletes a workspace and its files; returns the blobs they named.
    pub async fn delete_workspace(&self, project_id: &str, id: &str) -> Result<Vec<String>> {
        let mut tx = self.pool().begin().await?;
        // Its turn first, so no write lands between reading its blobs and deleting it.
        touch(&mut tx, id, crate::now_ms()).await?;
        let blobs: Vec<(String,)> = sqlx::query_as(
            "SELECT blob FROM workspace_files WHERE workspace_id = $1 AND blob IS NOT NULL",
        )
        .bind(id)
        .fetch_all(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM workspace_files WHERE workspace_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let done = sqlx::query("DELETE FROM workspaces WHERE project_id = $1 AND id = $2")
            .bind(project_id)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        // Its submissions went with it: what only they held goes too.
        let unused = crate::review::collect_garbage(&mut tx, project_id).await?;
        tx.commit().await?;
        Ok(blobs.into_iter().map(|(b,)| b).chain(unused).collect())
    }

    /// A page of a workspace's files in path order, after `after`.
    pub async fn list_files(
        &self,
        workspace_id: &str,
        after: &str,
        limit: i64,
    ) -> Result<Vec<FileEntry>> {
        Ok(sqlx::query_as(
            "SELECT f.path, f.size, f.sha256, f.version, u.name AS updated_by, f.updated_at \
             FROM workspace_files f LEFT JOIN users u ON u.id = f.updated_by \
             WHERE f.workspace_id = $1 AND f.path > $2 ORDER BY f.path LIMIT $3",
        )
        .bind(workspace_id)
        .bind(after)
        .bind(limit)
        .fetch_all(self.pool())
        .await?)
    }

    /// Every file with where its content is, in path order: for a download.
    pub async fn all_files(&self, workspace_id: &str) -> Result<Vec<WorkspaceFile>> {
        Ok(
            sqlx::query_as(&format!("{FILE} WHERE f.workspace_id = $1 ORDER BY f.path"))
                .bind(workspace_id)
                .fetch_all(self.pool())
                .await?,
        )
    }

    pub async fn get_file(&self, workspace_id: &str, path: &str) -> Result<WorkspaceFile> {
        Ok(
            sqlx::query_as(&format!("{FILE} WHERE f.workspace_id = $1 AND f.path = $2"))
                .bind(workspace_id)
                .bind(path)
                .fetch_one(self.pool())
                .await?,
        )
    }

    /// Writes a file if it is as `write.expect` says and the workspace stays within
    /// `limits`; nothing changes otherwise.
    pub async fn put_file(
        &self,
        write: &FileWrite<'_>,
        limits: WorkspaceLimits,
    ) -> Result<FileChange> {
        let now = crate::now_ms();
        let mut tx = self.pool().begin().await?;
        let version = touch(&mut tx, write.workspace_id, now).await?;
        let current: Option<WorkspaceFile> =
            sqlx::query_as(&format!("{FILE} WHERE f.workspace_id = $1 AND f.path = $2"))
                .bind(write.workspace_id)
                .bind(write.path)
                .fetch_optional(&mut *tx)
                .await?;
        let expected = match (write.expect, &current) {
            (FileExpect::Any, _) | (FileExpect::Absent, None) => true,
            (FileExpect::Version(v), Some(file)) => file.version == v,
            _ => false,
        };
        if !expected {
            return Ok(FileChange::Conflict(current.map(Box::new)));
        }
        if current.is_none() {
            if let Some(other) = collision(&mut tx, write.workspace_id, write.folded).await? {
                return Ok(FileChange::Collision(other));
            }
            if let Some(other) = clash(&mut tx, write.workspace_id, write.folded, &[]).await? {
                return Ok(FileChange::Clash(other));
            }
        }
        let (others, other_bytes): (i64, i64) = sqlx::query_as(
            "SELECT COUNT(*), CAST(COALESCE(SUM(size), 0) AS BIGINT) FROM workspace_files \
             WHERE workspace_id = $1 AND path <> $2",
        )
        .bind(write.workspace_id)
        .bind(write.path)
        .fetch_one(&mut *tx)
        .await?;
        if others + 1 > limits.max_files {
            return Ok(FileChange::TooManyFiles);
        }
        if other_bytes + write.size > limits.max_bytes {
            return Ok(FileChange::TooManyBytes);
        }
        if current.is_some() {
            sqlx::query(
                "UPDATE workspace_files SET size = $1, sha256 = $2, version = $3, content = $4, \
                 blob = $5, updated_by = $6, updated_at = $7 WHERE workspace_id = $8 AND path = $9",
            )
            .bind(write.size)
            .bind(write.sha256)
            .bind(version)
            .bind(write.content)
            .bind(write.blob)
            .bind(write.by)
            .bind(now)
            .bind(write.workspace_id)
            .bind(write.path)
            .execute(&mut *tx)
            .await?;
        } else {
            sqlx::query(
                "INSERT INTO workspace_files (workspace_id, path, folded, size, sha256, version, \
                 content, blob, updated_by, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            )
            .bind(write.workspace_id)
            .bind(write.path)
            .bind(write.folded)
            .bind(write.size)
            .bind(write.sha256)
            .bind(version)
            .bind(write.content)
            .bind(write.blob)
            .bind(write.by)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(FileChange::Done {
            version,
            unused: current.and_then(|f| f.blob).into_iter().collect(),
        })
    }

    /// Moves the file `from` to `to` (when `expect` matches it), or every file in the
    /// folder `from` into the folder `to`; nothing may be at `to` yet.
    pub async fn move_files(
        &self,
        workspace_id: &str,
        (from, to): (&str, &str),
        expect: FileExpect,
        by: &str,
        check: &(dyn Fn(&str) -> Option<String> + Send + Sync),
    ) -> Result<FileChange> {
        let now = crate::now_ms();
        let mut tx = self.pool().begin().await?;
        let version = touch(&mut tx, workspace_id, now).await?;
        let file: Option<(i64,)> = sqlx::query_as(
            "SELECT version FROM workspace_files WHERE workspace_id = $1 AND path = $2",
        )
        .bind(workspace_id)
        .bind(from)
        .fetch_optional(&mut *tx)
        .await?;
        let moves: Vec<(String, String)> = match file {
            Some((version,)) => {
                if matches!(expect, FileExpect::Version(v) if v != version) {
                    return Ok(FileChange::Conflict(None));
                }
                vec![(from.to_owned(), to.to_owned())]
            }
            // A version names a file: a folder there now is not it.
            None if matches!(expect, FileExpect::Version(_)) => {
                return Ok(FileChange::Conflict(None));
            }
            None => {
                let (prefix, length) = under(from);
                let inside: Vec<(String,)> = sqlx::query_as(
                    "SELECT path FROM workspace_files WHERE workspace_id = $1 \
                     AND SUBSTR(path, 1, $2) = $3 ORDER BY path",
                )
                .bind(workspace_id)
                .bind(length)
                .bind(prefix)
                .fetch_all(&mut *tx)
                .await?;
                inside
                    .into_iter()
                    .map(|(p,)| {
                        let rest = &p[from.len()..];
                        (p.clone(), format!("{to}{rest}"))
                    })
                    .collect()
            }
        };
        if moves.is_empty() {
            return Ok(FileChange::Missing);
        }
        let moving: Vec<&str> = moves.iter().map(|(a, _)| a.as_str()).collect();
        for (old, new) in &moves {
            if let Some(problem) = check(new) {
                return Ok(FileChange::Invalid(problem));
            }
            let folded = new.to_lowercase();
            let taken: Option<(String,)> = sqlx::query_as(
                "SELECT path FROM workspace_files WHERE workspace_id = $1 \
                 AND (path = $2 OR folded = $3)",
            )
            .bind(workspace_id)
            .bind(new)
            .bind(&folded)
            .fetch_optional(&mut *tx)
            .await?;
            if let Some((other,)) = taken.filter(|(p,)| !moving.contains(&p.as_str())) {
                return Ok(FileChange::Collision(other));
            }
            if let Some(other) = clash(&mut tx, workspace_id, &folded, &moving).await? {
                return Ok(FileChange::Clash(other));
            }
            // A temporary name first, so a move within the moved set never collides.
            sqlx::query(
                "UPDATE workspace_files SET path = $1, folded = $2, version = $3, \
                 updated_by = $4, updated_at = $5 WHERE workspace_id = $6 AND path = $7",
            )
            .bind(format!("{MOVING}{new}"))
            .bind(format!("{MOVING}{folded}"))
            .bind(version)
            .bind(by)
            .bind(now)
            .bind(workspace_id)
            .bind(old)
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query(
            "UPDATE workspace_files SET path = SUBSTR(path, 2), folded = SUBSTR(folded, 2) \
             WHERE workspace_id = $1 AND SUBSTR(path, 1, 1) = $2",
        )
        .bind(workspace_id)
        .bind(MOVING.to_string())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(FileChange::Done {
            version: moves.len() as i64,
            unused: Vec::new(),
        })
    }

    /// Deletes the file `path` (when `expect` matches it), or every file in the folder.
    pub async fn delete_files(
        &self,
        workspace_id: &str,
        path: &str,
        expect: FileExpect,
    ) -> Result<FileChange> {
        let now = crate::now_ms();
        let mut tx = self.pool().begin().await?;
        touch(&mut tx, workspace_id, now).await?;
        let file: Option<(i64, Option<String>)> = sqlx::query_as(
            "SELECT version, blob FROM workspace_files WHERE workspace_id = $1 AND path = $2",
        )
        .bind(workspace_id)
        .bind(path)
        .fetch_optional(&mut *tx)
        .await?;
        let (count, unused) = match file {
            Some((version, blob)) => {
                if matches!(expect, FileExpect::Version(v) if v != version) {
                    return Ok(FileChange::Conflict(None));
                }
                sqlx::query("DELETE FROM workspace_files WHERE workspace_id = $1 AND path = $2")
                    .bind(workspace_id)
                    .bind(path)
                    .execute(&mut *tx)
                    .await?;
                (1, blob.into_iter().collect())
            }
            // A version names a file: a folder there now is not it.
            None if matches!(expect, FileExpect::Version(_)) => {
                return Ok(FileChange::Conflict(None));
            }
            None => {
                let (prefix, length) = under(path);
                let blobs: Vec<(Option<String>,)> = sqlx::query_as(
                    "SELECT blob FROM workspace_files WHERE workspace_id = $1 \
                     AND SUBSTR(path, 1, $2) = $3",
                )
                .bind(workspace_id)
                .bind(length)
                .bind(&prefix)
                .fetch_all(&mut *tx)
                .await?;
                let done = sqlx::query(
                    "DELETE FROM workspace_files WHERE workspace_id = $1 \
                     AND SUBSTR(path, 1, $2) = $3",
                )
                .bind(workspace_id)
                .bind(length)
                .bind(&prefix)
                .execute(&mut *tx)
                .await?;
                if done.rows_affected() == 0 {
                    return Ok(FileChange::Missing);
                }
                (
                    done.rows_affected() as i64,
                    blobs.into_iter().filter_map(|(b,)| b).collect(),
                )
            }
        };
        tx.commit().await?;
        Ok(FileChange::Done {
            version: count,
            unused,
        })
    }
}

/// Marks the workspace changed, and so takes its turn (see the module's note); returns
/// the version this change gives the files it writes.
async fn touch(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    workspace_id: &str,
    now: i64,
) -> Result<i64> {
    let version: Option<(i64,)> = sqlx::query_as(
        "UPDATE workspaces SET updated_at = $1, versions = versions + 1 WHERE id = $2 \
         RETURNING versions",
    )
    .bind(now)
    .bind(workspace_id)
    .fetch_optional(&mut **tx)
    .await?;
    version.map(|(v,)| v).ok_or(StoreError::NotFound)
}

/// A file that would be a folder of `folded`, or a file inside the folder `folded`, other
/// than those in `except` (files being moved): the paths must stay a tree.
async fn clash(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    workspace_id: &str,
    folded: &str,
    except: &[&str],
) -> Result<Option<String>> {
    let mut ancestor = folded;
    while let Some((parent, _)) = ancestor.rsplit_once('/') {
        let found = collision(tx, workspace_id, parent).await?;
        if let Some(path) = found.filter(|p| !except.contains(&p.as_str())) {
            return Ok(Some(path));
        }
        ancestor = parent;
    }
    let (prefix, length) = under(folded);
    let inside: Vec<(String,)> = sqlx::query_as(
        "SELECT path FROM workspace_files WHERE workspace_id = $1 \
         AND SUBSTR(folded, 1, $2) = $3 ORDER BY path",
    )
    .bind(workspace_id)
    .bind(length)
    .bind(prefix)
    .fetch_all(&mut **tx)
    .await?;
    Ok(inside
        .into_iter()
        .map(|(p,)| p)
        .find(|p| !except.contains(&p.as_str())))
}

/// The path that differs from `folded` only in case.
async fn collision(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    workspace_id: &str,
    folded: &str,
) -> Result<Option<String>> {
    let found: Option<(String,)> =
        sqlx::query_as("SELECT path FROM workspace_files WHERE workspace_id = $1 AND folded = $2")
            .bind(workspace_id)
            .bind(folded)
            .fetch_optional(&mut **tx)
            .await?;
    Ok(found.map(|(p,)| p))
}
