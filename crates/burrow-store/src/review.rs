//! Review: immutable snapshots of files (content-addressed per project), the templates
//! and submissions that hold them, and threads of comments on a submission's lines.
//!
//! A snapshot and what holds it are inserted in one transaction, after the blobs of its
//! new contents were written; a content row is shared by every snapshot of the project
//! holding the same bytes. Deleting a template or a workspace collects what no snapshot
//! names any more, and hands back the blobs to delete.

use sqlx::AnyConnection;

use crate::{now_ms, Result, Store, StoreError};

/// A file of a snapshot, with where its content is.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct SnapshotFile {
    pub path: String,
    pub sha256: String,
    pub size: i64,
    /// A small text file's content.
    pub content: Option<String>,
    /// Any other file's blob store key.
    pub blob: Option<String>,
}

/// The files of a snapshot to make, and the contents the project does not hold yet
/// (`path`, `sha256` and `size` of each file; `content` or `blob` for the new ones).
#[derive(Debug, Clone, Default)]
pub struct NewSnapshot {
    pub files: Vec<SnapshotFile>,
}

/// Named starting files.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Template {
    pub id: String,
    pub project_id: String,
    pub name: String,
    pub description: String,
    pub snapshot_id: String,
    pub files: i64,
    pub bytes: i64,
    pub created_by: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A workspace as submitted, with its last review.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Submission {
    pub id: String,
    pub project_id: String,
    pub workspace_id: String,
    pub workspace: String,
    pub learner_id: String,
    pub learner: Option<String>,
    pub seq: i64,
    pub snapshot_id: String,
    pub base_snapshot_id: Option<String>,
    /// The submission it is compared with; none for the first.
    pub base_seq: Option<i64>,
    pub template_id: Option<String>,
    pub template: Option<String>,
    pub message: String,
    pub status: String,
    pub files: i64,
    pub bytes: i64,
    pub created_at: i64,
    pub reviewed_by: Option<String>,
    pub reviewed_at: Option<i64>,
    pub summary: Option<String>,
    /// 1 while it may take a verdict: not superseded or withdrawn, and the newest of its
    /// workspace's that is not withdrawn.
    pub live: i64,
}

/// Which submissions to list.
#[derive(Debug, Clone, Default)]
pub struct SubmissionFilter<'a> {
    pub learner: Option<&'a str>,
    pub status: Option<&'a str>,
    pub template: Option<&'a str>,
    pub workspace: Option<&'a str>,
}

/// A thread of comments on lines of a submission.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Thread {
    pub id: String,
    pub submission_id: String,
    pub seq: i64,
    pub snapshot_id: String,
    pub path: String,
    pub side: String,
    pub line_start: i64,
    pub line_end: i64,
    pub resolved: i64,
    pub created_at: i64,
}

/// One comment of a thread.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Comment {
    pub id: String,
    pub thread_id: String,
    pub author_id: Option<String>,
    pub author: Option<String>,
    pub body: String,
    pub created_at: i64,
}

/// Where a thread is anchored.
#[derive(Debug, Clone, Copy)]
pub struct Anchor<'a> {
    pub path: &'a str,
    pub side: &'a str,
    pub line_start: i64,
    pub line_end: i64,
}

/// Something to tell a user.
#[derive(Debug, Clone, Copy)]
pub struct NewNotification<'a> {
    pub kind: &'a str,
    pub project_id: &'a str,
    pub link: &'a str,
    pub message: &'a str,
}

const TEMPLATE: &str = "SELECT t.id, t.project_id, t.name, t.description, t.snapshot_id, \
     s.files, s.bytes, u.name AS created_by, t.created_at, t.updated_at \
     FROM templates t JOIN snapshots s ON s.id = t.snapshot_id \
     LEFT JOIN users u ON u.id = t.created_by";

const SUBMISSION: &str = "SELECT s.id, s.project_id, s.workspace_id, w.name AS workspace, \
     s.learner_id, l.name AS learner, s.seq, s.snapshot_id, s.base_snapshot_id, s.base_seq, \
     s.template_id, t.name AS template, s.message, s.status, n.files, n.bytes, s.created_at, \
     r.name AS reviewed_by, s.reviewed_at, s.summary, \
     CAST(CASE WHEN s.status IN ('submitted', 'changes_requested', 'approved') \
      AND NOT EXISTS (SELECT 1 FROM submissions x WHERE x.workspace_id = s.workspace_id \
      AND x.seq > s.seq AND x.status <> 'withdrawn') THEN 1 ELSE 0 END AS BIGINT) AS live \
     FROM submissions s JOIN workspaces w ON w.id = s.workspace_id \
     JOIN snapshots n ON n.id = s.snapshot_id \
     LEFT JOIN users l ON l.id = s.learner_id \
     LEFT JOIN users r ON r.id = s.reviewed_by \
     LEFT JOIN templates t ON t.id = s.template_id";

const THREAD: &str = "SELECT h.id, h.submission_id, s.seq, s.snapshot_id, h.path, h.side, \
     h.line_start, h.line_end, h.resolved, h.created_at \
     FROM review_threads h JOIN submissions s ON s.id = h.submission_id";

/// Takes the project's turn for its contents: snapshots are made and collected one at a
/// time per project (a row lock on PostgreSQL, the write lock on SQLite), so a content
/// known when a snapshot was planned is still there when it is named, and nothing named
/// is collected.
async fn lock_contents(conn: &mut AnyConnection, project_id: &str) -> Result<()> {
    let done = sqlx::query("UPDATE projects SET updated_at = updated_at WHERE id = $1")
        .bind(project_id)
        .execute(&mut *conn)
        .await?;
    if done.rows_affected() == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

/// Inserts snapshot `id` of `project_id` holding `snapshot`'s files, and the contents the
/// project lacks, once the caller has [`lock_contents`]. A file without content or blob
/// names a content the project holds: [`StoreError::Stale`] if it holds it no more.
/// Returns the blobs given that no row names (another snapshot stored the same content
/// first), for the caller to delete.
async fn insert_snapshot(
    conn: &mut AnyConnection,
    id: &str,
    project_id: &str,
    snapshot: &NewSnapshot,
) -> Result<Vec<String>> {
    let bytes: i64 = snapshot.files.iter().map(|f| f.size).sum();
    sqlx::query(
        "INSERT INTO snapshots (id, project_id, files, bytes, created_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(id)
    .bind(project_id)
    .bind(snapshot.files.len() as i64)
    .bind(bytes)
    .bind(now_ms())
    .execute(&mut *conn)
    .await?;
    let mut unused = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for file in &snapshot.files {
        if seen.insert(file.sha256.as_str()) {
            if file.content.is_none() && file.blob.is_none() {
                let (held,): (i64,) = sqlx::query_as(
                    "SELECT COUNT(*) FROM contents WHERE project_id = $1 AND sha256 = $2",
                )
                .bind(project_id)
                .bind(&file.sha256)
                .fetch_one(&mut *conn)
                .await?;
                if held == 0 {
                    return Err(StoreError::Stale);
                }
            } else {
                let done = sqlx::query(
                    "INSERT INTO contents (project_id, sha256, size, content, blob) \
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (project_id, sha256) DO NOTHING",
                )
                .bind(project_id)
                .bind(&file.sha256)
                .bind(file.size)
                .bind(&file.content)
                .bind(&file.blob)
                .execute(&mut *conn)
                .await?;
                if done.rows_affected() == 0 {
                    unused.extend(file.blob.clone());
                }
            }
        }
        sqlx::query(
            "INSERT INTO snapshot_files (snapshot_id, path, project_id, sha256, size) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(id)
        .bind(&file.path)
        .bind(project_id)
        .bind(&file.sha256)
        .bind(file.size)
        .execute(&mut *conn)
        .await?;
    }
    Ok(unused)
}

/// Deletes the project's snapshots nothing holds, then the contents no snapshot names;
/// returns the blobs of those contents, to delete once committed.
pub(crate) async fn collect_garbage(
    conn: &mut AnyConnection,
    project_id: &str,
) -> Result<Vec<String>> {
    sqlx::query(
        "DELETE FROM snapshots WHERE project_id = $1 \
         AND NOT EXISTS (SELECT 1 FROM submissions s \
             WHERE s.snapshot_id = snapshots.id OR s.base_snapshot_id = snapshots.id) \
         AND NOT EXISTS (SELECT 1 FROM templates t WHERE t.snapshot_id = snapshots.id) \
         AND NOT EXISTS (SELECT 1 FROM workspaces w WHERE w.base_snapshot_id = snapshots.id)",
    )
    .bind(project_id)
    .execute(&mut *conn)
    .await?;
    let unused: Vec<(Option<String>,)> = sqlx::query_as(
        "DELETE FROM contents WHERE project_id = $1 \
         AND NOT EXISTS (SELECT 1 FROM snapshot_files f \
             WHERE f.project_id = contents.project_id AND f.sha256 = contents.sha256) \
         RETURNING blob",
    )
    .bind(project_id)
    .fetch_all(&mut *conn)
    .await?;
    Ok(unused.into_iter().filter_map(|(b,)| b).collect())
}

impl Store {
    /// Which of `shas` the project holds as contents already.
    pub async fn known_contents(&self, project_id: &str, shas: &[String]) -> Result<Vec<String>> {
        let mut known = Vec::new();
        for chunk in shas.chunks(200) {
            let marks: Vec<String> = (0..chunk.len()).map(|i| format!("${}", i + 2)).collect();
            let sql = format!(
                "SELECT sha256 FROM contents WHERE project_id = $1 AND sha256 IN ({})",
                marks.join(", ")
            );
            let mut query = sqlx::query_as::<_, (String,)>(&sql).bind(project_id);
            for sha in chunk {
                query = query.bind(sha);
            }
            known.extend(
                query
                    .fetch_all(self.pool())
                    .await?
                    .into_iter()
                    .map(|(s,)| s),
            );
        }
        Ok(known)
    }

    /// A snapshot's files in path order, with where their contents are.
    pub async fn snapshot_files(&self, snapshot_id: &str) -> Result<Vec<SnapshotFile>> {
        Ok(sqlx::query_as(
            "SELECT f.path, f.sha256, f.size, c.content, c.blob FROM snapshot_files f \
             JOIN contents c ON c.project_id = f.project_id AND c.sha256 = f.sha256 \
             WHERE f.snapshot_id = $1 ORDER BY f.path",
        )
        .bind(snapshot_id)
        .fetch_all(self.pool())
        .await?)
    }

    /// Makes template `id` holding `snapshot`, and returns the blobs it did not need.
    /// [`StoreError::Conflict`] if the project has a template of that name;
    /// [`StoreError::Stale`] if a content the snapshot names is gone.
    pub async fn create_template(
        &self,
        (id, project_id): (&str, &str),
        name: &str,
        description: &str,
        by: &str,
        snapshot: &NewSnapshot,
    ) -> Result<(Template, Vec<String>)> {
        let snapshot_id = burrow_core::ids::new_id("sn");
        let now = now_ms();
        let mut tx = self.pool().begin().await?;
        lock_contents(&mut tx, project_id).await?;
        let unused = insert_snapshot(&mut tx, &snapshot_id, project_id, snapshot).await?;
        sqlx::query(
            "INSERT INTO templates (id, project_id, name, description, snapshot_id, created_by, \
             created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
        )
        .bind(id)
        .bind(project_id)
        .bind(name)
        .bind(description)
        .bind(&snapshot_id)
        .bind(by)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok((self.get_template(project_id, id).await?, unused))
    }

    pub async fn list_templates(&self, project_id: &str) -> Result<Vec<Template>> {
        Ok(sqlx::query_as(&format!(
            "{TEMPLATE} WHERE t.project_id = $1 ORDER BY t.name"
        ))
        .bind(project_id)
        .fetch_all(self.pool())
        .await?)
    }

    pub async fn get_template(&self, project_id: &str, id: &str) -> Result<Template> {
        sqlx::query_as(&format!("{TEMPLATE} WHERE t.project_id = $1 AND t.id = $2"))
            .bind(project_id)
            .bind(id)
            .fetch_optional(self.pool())
            .await?
            .ok_or(StoreError::NotFound)
    }

    /// Deletes a template; workspaces made from it keep their starting files as the base
    /// of their first diff. Returns the blobs no snapshot names any more.
    pub async fn delete_template(&self, project_id: &str, id: &str) -> Result<Vec<String>> {
        let mut tx = self.pool().begin().await?;
        let done = sqlx::query("DELETE FROM templates WHERE project_id = $1 AND id = $2")
            .bind(project_id)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        let unused = collect_garbage(&mut tx, project_id).await?;
        tx.commit().await?;
        Ok(unused)
    }

    /// Submits workspace `workspace_id` as `snapshot`, which must be exactly its files
    /// now ([`StoreError::Stale`] if one changed meanwhile: read them again). It is
    /// numbered after the workspace's last submission and compared with it (or, for the
    /// first, with the template the workspace started from); an older submission still
    /// waiting for review is superseded. Returns the blobs it did not need.
    pub async fn create_submission(
        &self,
        (id, project_id, workspace_id): (&str, &str, &str),
        learner_id: &str,
        message: &str,
        snapshot: &NewSnapshot,
    ) -> Result<(Submission, Vec<String>)> {
        let mut tx = self.pool().begin().await?;
        // The workspace's turn, so its files cannot change while they are compared.
        let base: Option<(Option<String>, Option<String>)> = sqlx::query_as(
            "UPDATE workspaces SET versions = versions WHERE id = $1 AND project_id = $2 \
             RETURNING base_snapshot_id, template_id",
        )
        .bind(workspace_id)
        .bind(project_id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((template_snapshot, template_id)) = base else {
            return Err(StoreError::NotFound);
        };
        let now: Vec<(String, String)> = sqlx::query_as(
            "SELECT path, sha256 FROM workspace_files WHERE workspace_id = $1 ORDER BY path",
        )
        .bind(workspace_id)
        .fetch_all(&mut *tx)
        .await?;
        let mut given: Vec<(&str, &str)> = snapshot
            .files
            .iter()
            .map(|f| (f.path.as_str(), f.sha256.as_str()))
            .collect();
        given.sort_unstable();
        let same = now.len() == given.len()
            && now
                .iter()
                .zip(&given)
                .all(|((p, s), (gp, gs))| p == gp && s == gs);
        if !same {
            return Err(StoreError::Stale);
        }
        let last: Option<(i64, String)> = sqlx::query_as(
            "SELECT seq, snapshot_id FROM submissions WHERE workspace_id = $1 \
             AND status <> 'withdrawn' ORDER BY seq DESC LIMIT 1",
        )
        .bind(workspace_id)
        .fetch_optional(&mut *tx)
        .await?;
        let (seq,): (i64,) = sqlx::query_as(
            "SELECT CAST(COALESCE(MAX(seq), 0) + 1 AS BIGINT) FROM submissions \
             WHERE workspace_id = $1",
        )
        .bind(workspace_id)
        .fetch_one(&mut *tx)
        .await?;
        let (base_seq, base_snapshot) = match last {
            Some((seq, snapshot)) => (Some(seq), Some(snapshot)),
            None => (None, template_snapshot),
        };
        sqlx::query(
            "UPDATE submissions SET status = 'superseded' WHERE workspace_id = $1 \
             AND status = 'submitted'",
        )
        .bind(workspace_id)
        .execute(&mut *tx)
        .await?;
        let snapshot_id = burrow_core::ids::new_id("sn");
        lock_contents(&mut tx, project_id).await?;
        let unused = insert_snapshot(&mut tx, &snapshot_id, project_id, snapshot).await?;
        sqlx::query(
            "INSERT INTO submissions (id, project_id, workspace_id, learner_id, seq, snapshot_id, \
             base_snapshot_id, base_seq, template_id, message, status, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'submitted', $11)",
        )
        .bind(id)
        .bind(project_id)
        .bind(workspace_id)
        .bind(learner_id)
        .bind(seq)
        .bind(&snapshot_id)
        .bind(base_snapshot)
        .bind(base_seq)
        .bind(template_id)
        .bind(message)
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok((self.get_submission(project_id, id).await?, unused))
    }

    /// How many submissions a workspace has had, withdrawn ones too.
    pub async fn count_submissions(&self, workspace_id: &str) -> Result<i64> {
        let (n,): (i64,) = sqlx::query_as(
            "SELECT CAST(COUNT(*) AS BIGINT) FROM submissions WHERE workspace_id = $1",
        )
        .bind(workspace_id)
        .fetch_one(self.pool())
        .await?;
        Ok(n)
    }

    /// One file of a snapshot, with where its content is.
    pub async fn snapshot_file(&self, snapshot_id: &str, path: &str) -> Result<SnapshotFile> {
        sqlx::query_as(
            "SELECT f.path, f.sha256, f.size, c.content, c.blob FROM snapshot_files f \
             JOIN contents c ON c.project_id = f.project_id AND c.sha256 = f.sha256 \
             WHERE f.snapshot_id = $1 AND f.path = $2",
        )
        .bind(snapshot_id)
        .bind(path)
        .fetch_optional(self.pool())
        .await?
        .ok_or(StoreError::NotFound)
    }

    /// How many threads a submission has.
    pub async fn count_threads(&self, submission_id: &str) -> Result<i64> {
        let (n,): (i64,) = sqlx::query_as(
            "SELECT CAST(COUNT(*) AS BIGINT) FROM review_threads WHERE submission_id = $1",
        )
        .bind(submission_id)
        .fetch_one(self.pool())
        .await?;
        Ok(n)
    }

    /// A thread's comments, oldest first.
    pub async fn thread_comments(&self, thread_id: &str) -> Result<Vec<Comment>> {
        Ok(sqlx::query_as(
            "SELECT c.id, c.thread_id, c.author_id, u.name AS author, c.body, c.created_at \
             FROM review_comments c LEFT JOIN users u ON u.id = c.author_id \
             WHERE c.thread_id = $1 ORDER BY c.created_at, c.id",
        )
        .bind(thread_id)
        .fetch_all(self.pool())
        .await?)
    }

    pub async fn get_submission(&self, project_id: &str, id: &str) -> Result<Submission> {
        sqlx::query_as(&format!(
            "{SUBMISSION} WHERE s.project_id = $1 AND s.id = $2"
        ))
        .bind(project_id)
        .bind(id)
        .fetch_optional(self.pool())
        .await?
        .ok_or(StoreError::NotFound)
    }

    /// A project's submissions as `filter` picks them, newest first (the last 500).
    pub async fn list_submissions(
        &self,
        project_id: &str,
        filter: &SubmissionFilter<'_>,
    ) -> Result<Vec<Submission>> {
        let mut sql = format!("{SUBMISSION} WHERE s.project_id = $1");
        let mut binds = Vec::new();
        for (column, value) in [
            ("s.learner_id", filter.learner),
            ("s.status", filter.status),
            ("s.template_id", filter.template),
            ("s.workspace_id", filter.workspace),
        ] {
            if let Some(value) = value {
                binds.push(value);
                sql.push_str(&format!(" AND {column} = ${}", binds.len() + 1));
            }
        }
        sql.push_str(" ORDER BY s.created_at DESC, s.seq DESC LIMIT 500");
        let mut query = sqlx::query_as::<_, Submission>(&sql).bind(project_id);
        for value in binds {
            query = query.bind(value);
        }
        Ok(query.fetch_all(self.pool()).await?)
    }

    /// Gives a live submission (not superseded, withdrawn, or followed by a newer one)
    /// the verdict `status` from `reviewer`, and tells its learner `notice`, at once.
    /// [`StoreError::Conflict`] when it is not live.
    pub async fn review_submission(
        &self,
        (project_id, id): (&str, &str),
        reviewer: &str,
        status: &str,
        summary: &str,
        notice: NewNotification<'_>,
    ) -> Result<Submission> {
        let mut tx = self.pool().begin().await?;
        let done = sqlx::query(
            "UPDATE submissions SET status = $1, reviewed_by = $2, reviewed_at = $3, \
             summary = $4 WHERE project_id = $5 AND id = $6 \
             AND status IN ('submitted', 'changes_requested', 'approved') \
             AND NOT EXISTS (SELECT 1 FROM submissions n \
                 WHERE n.workspace_id = submissions.workspace_id \
                 AND n.seq > submissions.seq AND n.status <> 'withdrawn')",
        )
        .bind(status)
        .bind(reviewer)
        .bind(now_ms())
        .bind(summary)
        .bind(project_id)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::Conflict);
        }
        let (learner,): (String,) =
            sqlx::query_as("SELECT learner_id FROM submissions WHERE id = $1")
                .bind(id)
                .fetch_one(&mut *tx)
                .await?;
        notify(&mut tx, &learner, notice).await?;
        tx.commit().await?;
        self.get_submission(project_id, id).await
    }

    /// Withdraws a submission still waiting for review; [`StoreError::Conflict`] if it
    /// is not.
    pub async fn withdraw_submission(&self, project_id: &str, id: &str) -> Result<Submission> {
        let done = sqlx::query(
            "UPDATE submissions SET status = 'withdrawn' WHERE project_id = $1 AND id = $2 \
             AND status = 'submitted'",
        )
        .bind(project_id)
        .bind(id)
        .execute(self.pool())
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::Conflict);
        }
        self.get_submission(project_id, id).await
    }

    /// Opens a thread on a submission with its first comment.
    pub async fn create_thread(
        &self,
        (id, submission_id): (&str, &str),
        anchor: Anchor<'_>,
        author: &str,
        body: &str,
    ) -> Result<()> {
        let now = now_ms();
        let mut tx = self.pool().begin().await?;
        sqlx::query(
            "INSERT INTO review_threads (id, submission_id, path, side, line_start, line_end, \
             created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(id)
        .bind(submission_id)
        .bind(anchor.path)
        .bind(anchor.side)
        .bind(anchor.line_start)
        .bind(anchor.line_end)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        insert_comment(&mut tx, id, author, body, now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Adds a reply to a thread.
    pub async fn reply(&self, thread_id: &str, author: &str, body: &str) -> Result<()> {
        let mut conn = self.pool().acquire().await?;
        insert_comment(&mut conn, thread_id, author, body, now_ms()).await
    }

    pub async fn resolve_thread(&self, thread_id: &str, resolved: bool) -> Result<()> {
        sqlx::query("UPDATE review_threads SET resolved = $1 WHERE id = $2")
            .bind(i64::from(resolved))
            .bind(thread_id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// A thread of the project, with the submission it is on.
    pub async fn get_thread(&self, project_id: &str, id: &str) -> Result<Thread> {
        sqlx::query_as(&format!("{THREAD} WHERE s.project_id = $1 AND h.id = $2"))
            .bind(project_id)
            .bind(id)
            .fetch_optional(self.pool())
            .await?
            .ok_or(StoreError::NotFound)
    }

    /// The threads of a workspace's submissions up to number `seq`, oldest first, and
    /// their comments, oldest first.
    pub async fn threads_up_to(
        &self,
        workspace_id: &str,
        seq: i64,
    ) -> Result<(Vec<Thread>, Vec<Comment>)> {
        let threads: Vec<Thread> = sqlx::query_as(&format!(
            "{THREAD} WHERE s.workspace_id = $1 AND s.seq <= $2 ORDER BY s.seq, h.created_at, h.id"
        ))
        .bind(workspace_id)
        .bind(seq)
        .fetch_all(self.pool())
        .await?;
        let comments = sqlx::query_as(
            "SELECT c.id, c.thread_id, c.author_id, u.name AS author, c.body, c.created_at \
             FROM review_comments c JOIN review_threads h ON h.id = c.thread_id \
             JOIN submissions s ON s.id = h.submission_id \
             LEFT JOIN users u ON u.id = c.author_id \
             WHERE s.workspace_id = $1 AND s.seq <= $2 ORDER BY c.created_at, c.id",
        )
        .bind(workspace_id)
        .bind(seq)
        .fetch_all(self.pool())
        .await?;
        Ok((threads, comments))
    }

    /// Tells the project's reviewers and owners, but `except`, something.
    pub async fn notify_reviewers(&self, except: &str, notice: NewNotification<'_>) -> Result<()> {
        let reviewers: Vec<(String,)> = sqlx::query_as(
            "SELECT user_id FROM project_members WHERE project_id = $1 \
             AND role IN ('reviewer', 'owner') AND user_id <> $2",
        )
        .bind(notice.project_id)
        .bind(except)
        .fetch_all(self.pool())
        .await?;
        let mut tx = self.pool().begin().await?;
        for (user,) in reviewers {
            notify(&mut tx, &user, notice).await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

async fn insert_comment(
    conn: &mut AnyConnection,
    thread_id: &str,
    author: &str,
    body: &str,
    now: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO review_comments (id, thread_id, author_id, body, created_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(burrow_core::ids::new_id("cm"))
    .bind(thread_id)
    .bind(author)
    .bind(body)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Inserts a notification for `user_id`.
pub(crate) async fn notify(
    conn: &mut AnyConnection,
    user_id: &str,
    notice: NewNotification<'_>,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO notifications (id, user_id, kind, project_id, link, message, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(burrow_core::ids::new_id("n"))
    .bind(user_id)
    .bind(notice.kind)
    .bind(notice.project_id)
    .bind(notice.link)
    .bind(notice.message)
    .bind(now_ms())
    .execute(&mut *conn)
    .await?;
    Ok(())
}
