//! Review as use cases: templates to start workspaces from, submissions of workspaces,
//! their diffs, threads of comments on their lines, and verdicts.
//!
//! Who may do what, with the project's roles (`viewer < editor < reviewer < owner`):
//! reviewers and owners make and delete templates, see every submission, comment on it
//! and give it a verdict (never on their own); an editor submits their own workspaces,
//! and sees only their own submissions, where they may comment, reply, resolve and
//! withdraw. A submission someone may not see is answered with 404, as one that does
//! not exist.
//!
//! A template's and a submission's files are an immutable snapshot: each distinct
//! content is kept once per project (small text in its row, anything else as the blob
//! `workspaces/{project}/contents/{sha256}`), written before the rows that name it.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use burrow_blobs::PutPayload;
use burrow_core::Role;
use burrow_store::{
    Anchor, Comment, NewNotification, NewSnapshot, SnapshotFile, StoreError, Submission,
    SubmissionFilter, Template, Thread,
};
use sha2::{Digest, Sha256};

use crate::access::{require, Membership};
use crate::error::{Error, Kind};
use crate::workspaces::{self, Use};
use crate::Services;

pub mod diff;

/// The longest comment, reply or review summary, in characters.
pub const MAX_BODY: usize = 10_000;
/// The longest submission message, in characters.
pub const MAX_MESSAGE: usize = 2_000;
/// The most threads one submission may have.
pub const MAX_THREADS: usize = 1_000;
/// The most comments one thread may have.
pub const MAX_REPLIES: usize = 200;
/// The most submissions one workspace may have.
pub const MAX_SUBMISSIONS: i64 = 100;

/// The statuses of a submission.
pub const STATUSES: [&str; 5] = [
    "submitted",
    "changes_requested",
    "approved",
    "superseded",
    "withdrawn",
];

fn template_not_found() -> Error {
    Error::not_found(
        "template_not_found",
        "no such template in this project: the Workspaces page lists them",
    )
}

fn submission_not_found() -> Error {
    Error::not_found(
        "submission_not_found",
        "no such submission in this project, or it is not yours to see",
    )
}

fn thread_not_found() -> Error {
    Error::not_found(
        "comment_not_found",
        "no such comment thread in this project, or it is not yours to see",
    )
}

/// Whether the member sees and reviews every submission of the project.
pub fn reviews(member: &Membership) -> bool {
    member.role.allows(Role::Reviewer)
}

/// A template of the member's project.
pub async fn template(
    services: &Services,
    member: &Membership,
    id: &str,
) -> Result<Template, Error> {
    services
        .store
        .get_template(&member.project.id, id)
        .await
        .map_err(|e| Error::or_not_found(e, template_not_found))
}

pub async fn list_templates(
    services: &Services,
    member: &Membership,
) -> Result<Vec<Template>, Error> {
    Ok(services.store.list_templates(&member.project.id).await?)
}

/// A new key for a content kept as a blob: each write has its own, so a blob is only
/// ever deleted by whoever wrote it when no row names it, or with the row that does.
fn content_key(project_id: &str) -> String {
    format!(
        "workspaces/{project_id}/contents/{}",
        burrow_core::ids::new_id("c")
    )
}

/// Whether an error says what a change was made from changed meanwhile (try again).
fn stale(e: &Error) -> bool {
    e.code == "changed_meanwhile"
}

/// The snapshot of `files` (path, sha256, size, content), storing first the contents the
/// project does not hold yet; also the blobs it wrote, to delete if it is not made.
async fn snapshot(
    services: &Services,
    project_id: &str,
    files: Vec<(String, String, i64, Source)>,
) -> Result<(NewSnapshot, Vec<String>), Error> {
    let shas: Vec<String> = files.iter().map(|(_, sha, _, _)| sha.clone()).collect();
    let known: std::collections::HashSet<String> = services
        .store
        .known_contents(project_id, &shas)
        .await?
        .into_iter()
        .collect();
    let mut written: Vec<String> = Vec::new();
    // A content given twice in one snapshot is stored once.
    let mut stored: HashMap<String, (Option<String>, Option<String>)> = HashMap::new();
    let mut snapshot = NewSnapshot::default();
    for (path, sha256, size, source) in files {
        let (content, blob) = if known.contains(&sha256) {
            (None, None)
        } else if let Some(done) = stored.get(&sha256) {
            done.clone()
        } else {
            let done = match source {
                Source::Text(text) => (Some(text), None),
                Source::Bytes(bytes) => match workspaces::inline(&bytes) {
                    Some(text) => (Some(text), None),
                    None => {
                        let key = content_key(project_id);
                        let put = crate::blobs::put_new(
                            &services.store,
                            &services.blobs,
                            &key,
                            PutPayload::from(bytes),
                        )
                        .await;
                        if let Err(e) = put {
                            let e = Error::blob(&format!("storing {path}'s content"), e);
                            discard(services, written, &e).await;
                            return Err(e);
                        }
                        written.push(key.clone());
                        (None, Some(key))
                    }
                },
                Source::Blob(from) => {
                    let key = content_key(project_id);
                    let copied = crate::blobs::copy_new(
                        &services.store,
                        &services.blobs,
                        from.as_str(),
                        &key,
                    )
                    .await;
                    match copied {
                        Ok(()) => {}
                        // The file was changed since it was listed, and its old blob went.
                        Err(burrow_blobs::StoreError::NotFound { .. }) => {
                            workspaces::delete_blobs(services.blobs.as_ref(), written).await;
                            return Err(StoreError::Stale.into());
                        }
                        Err(e) => {
                            let e = Error::blob(&format!("keeping {path}'s content"), e);
                            discard(services, written, &e).await;
                            return Err(e);
                        }
                    }
                    written.push(key.clone());
                    (None, Some(key))
                }
            };
            stored.insert(sha256.clone(), done.clone());
            done
        };
        snapshot.files.push(SnapshotFile {
            path,
            sha256,
            size,
            content,
            blob,
        });
    }
    Ok((snapshot, written))
}

/// Lets go of a snapshot's new blobs after `e` ended its making.
async fn discard(services: &Services, written: Vec<String>, e: &Error) {
    crate::blobs::discard_new(&services.store, services.blobs.as_ref(), written, e).await;
}

/// Where a file of a snapshot being made has its content.
enum Source {
    Text(String),
    Bytes(Vec<u8>),
    /// A blob of a workspace file.
    Blob(String),
}

/// The files of a snapshot, with their contents.
pub async fn snapshot_contents(
    services: &Services,
    snapshot_id: &str,
) -> Result<BTreeMap<String, Vec<u8>>, Error> {
    let mut files = BTreeMap::new();
    for file in services.store.snapshot_files(snapshot_id).await? {
        let content = workspaces::stored_content(
            services.blobs.as_ref(),
            &file.path,
            file.content.as_deref(),
            file.blob.as_deref(),
        )
        .await?;
        files.insert(file.path, content);
    }
    Ok(files)
}

fn check_name(name: &str) -> Result<String, Error> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 80 || name.chars().any(char::is_control) {
        return Err(Error::bad_request(
            "invalid_name",
            "a template's name is 1 to 80 characters, without control characters",
        )
        .with_field("name"));
    }
    Ok(name.to_owned())
}

fn check_text(
    text: &str,
    field: &'static str,
    what: &str,
    most: usize,
    empty: bool,
) -> Result<String, Error> {
    let text = text.trim();
    if !empty && text.is_empty() {
        return Err(Error::bad_request(
            "invalid_text",
            format!("{what} is empty: write something"),
        )
        .with_field(field));
    }
    let chars = text.chars().count();
    if chars > most {
        return Err(Error::new(
            Kind::TooLarge,
            "text_too_long",
            format!("{what} is {chars} characters; it may be at most {most}"),
        )
        .with_field(field));
    }
    Ok(text.to_owned())
}

/// What a new template holds.
#[derive(Debug)]
pub enum TemplateFiles {
    /// One of the caller's workspaces as it is now.
    Workspace(String),
    /// The files of an uploaded `.zip` (see [`workspaces::files_of_zip`]).
    Files(BTreeMap<String, Vec<u8>>),
}

/// Makes a template of the project: reviewers and owners.
pub async fn create_template(
    services: &Services,
    member: &Membership,
    name: &str,
    description: &str,
    files: TemplateFiles,
) -> Result<Template, Error> {
    require(member, Role::Reviewer)?;
    let name = check_name(name)?;
    let description = check_text(description, "description", "the description", 2_000, true)?;
    let (services, member) = (services.clone(), member.clone());
    // To the end even if the caller goes away: its blobs are either named or deleted.
    tokio::spawn(async move {
        let project_id = member.project.id.clone();
        if let TemplateFiles::Workspace(id) = &files {
            workspaces::workspace(&services, &member, id, Use::Change).await?;
            sync_now(&services, id).await;
        }
        // A content known when planned and gone when named: plan again.
        let mut tries = 0;
        loop {
            tries += 1;
            let sources = match &files {
                TemplateFiles::Workspace(id) => sources_of_workspace(&services, id).await?,
                TemplateFiles::Files(files) => files
                    .iter()
                    .map(|(path, bytes)| {
                        let sha = hex::encode(Sha256::digest(bytes));
                        (
                            path.clone(),
                            sha,
                            bytes.len() as i64,
                            Source::Bytes(bytes.clone()),
                        )
                    })
                    .collect(),
            };
            let (snapshot, written) = match snapshot(&services, &project_id, sources).await {
                Err(e) if stale(&e) && tries < 3 => continue,
                other => other?,
            };
            let id = burrow_core::ids::new_id("tp");
            let made = services
                .store
                .create_template(
                    (&id, &project_id),
                    &name,
                    &description,
                    &member.user.id,
                    &snapshot,
                )
                .await;
            let (template, unused) = match made {
                Ok(made) => made,
                Err(e) => {
                    workspaces::delete_blobs(services.blobs.as_ref(), written).await;
                    match e {
                        StoreError::Stale if tries < 3 => continue,
                        StoreError::Conflict => {
                            return Err(Error::conflict(
                                "template_exists",
                                format!(
                                    "this project has a template named {name:?}: pick another name"
                                ),
                            )
                            .with_field("name"))
                        }
                        e => return Err(e.into()),
                    }
                }
            };
            workspaces::delete_blobs(services.blobs.as_ref(), unused).await;
            return Ok(template);
        }
    })
    .await
    .map_err(|e| Error::internal(format!("making the template: {e}")))?
}

pub async fn delete_template(
    services: &Services,
    member: &Membership,
    id: &str,
) -> Result<(), Error> {
    require(member, Role::Reviewer)?;
    let unused = services
        .store
        .delete_template(&member.project.id, id)
        .await
        .map_err(|e| Error::or_not_found(e, template_not_found))?;
    workspaces::delete_blobs(services.blobs.as_ref(), unused).await;
    Ok(())
}

/// Keeps what changed in a running workspace's sandbox a moment ago, so what is taken
/// of its files is what its person sees.
async fn sync_now(services: &Services, workspace_id: &str) {
    if let Some(running) = services.workspaces.running(workspace_id) {
        if let Err(e) = services
            .workspaces
            .workload()
            .sync(workspace_id, &running.sandbox, true)
            .await
        {
            tracing::warn!(workspace = %workspace_id, error = %e, "Could not sync a workspace before taking its files");
        }
    }
}

async fn sources_of_workspace(
    services: &Services,
    workspace_id: &str,
) -> Result<Vec<(String, String, i64, Source)>, Error> {
    Ok(services
        .store
        .all_files(workspace_id)
        .await?
        .into_iter()
        .map(|f| {
            let source = match (f.content, f.blob) {
                (Some(text), _) => Source::Text(text),
                (None, Some(blob)) => Source::Blob(blob),
                (None, None) => Source::Text(String::new()),
            };
            (f.path, f.sha256, f.size, source)
        })
        .collect())
}

/// The submission, when the member may see it: its learner, and reviewers and owners.
pub async fn submission(
    services: &Services,
    member: &Membership,
    id: &str,
) -> Result<Submission, Error> {
    let submission = services
        .store
        .get_submission(&member.project.id, id)
        .await
        .map_err(|e| Error::or_not_found(e, submission_not_found))?;
    if submission.learner_id != member.user.id && !reviews(member) {
        return Err(submission_not_found());
    }
    Ok(submission)
}

/// Submits the caller's workspace as its files are now, with `message`, and tells the
/// project's reviewers.
pub async fn submit(
    services: &Services,
    member: &Membership,
    workspace_id: &str,
    message: &str,
) -> Result<Submission, Error> {
    let workspace = workspaces::workspace(services, member, workspace_id, Use::Change).await?;
    let message = check_text(message, "message", "the message", MAX_MESSAGE, true)?;
    if services.store.count_submissions(&workspace.id).await? >= MAX_SUBMISSIONS {
        return Err(Error::conflict(
            "too_many_submissions",
            format!(
                "{} has been submitted {MAX_SUBMISSIONS} times, the most a workspace may: \
                 start a new workspace from its download",
                workspace.name
            ),
        ));
    }
    let (services, member) = (services.clone(), member.clone());
    tokio::spawn(async move {
        let project_id = member.project.id.clone();
        sync_now(&services, &workspace.id).await;
        // A file written between reading the files and submitting them, or a content
        // collected meanwhile: read again.
        let mut tries = 0;
        let submission = loop {
            tries += 1;
            let sources = sources_of_workspace(&services, &workspace.id).await?;
            if sources.is_empty() {
                return Err(Error::new(
                    Kind::Invalid,
                    "empty_workspace",
                    "the workspace has no files: write or upload some before submitting",
                ));
            }
            let (snapshot, written) = match snapshot(&services, &project_id, sources).await {
                Err(e) if stale(&e) && tries < 3 => continue,
                other => other?,
            };
            let id = burrow_core::ids::new_id("sb");
            let made = services
                .store
                .create_submission(
                    (&id, &project_id, &workspace.id),
                    &member.user.id,
                    &message,
                    &snapshot,
                )
                .await;
            match made {
                Ok((submission, unused)) => {
                    workspaces::delete_blobs(services.blobs.as_ref(), unused).await;
                    break submission;
                }
                Err(e) => {
                    workspaces::delete_blobs(services.blobs.as_ref(), written).await;
                    match e {
                        StoreError::Stale if tries < 3 => {}
                        StoreError::Stale => {
                            return Err(Error::conflict(
                                "workspace_changing",
                                "the workspace's files kept changing while they were \
                                 submitted: try again",
                            ))
                        }
                        e => return Err(Error::or_not_found(e, submission_not_found)),
                    }
                }
            }
        };
        let link = link(&project_id, &submission.id);
        let message = format!(
            "{} submitted {} (#{}) for review",
            member.user.name, submission.workspace, submission.seq
        );
        let notice = NewNotification {
            kind: "submission_made",
            project_id: &project_id,
            link: &link,
            message: &message,
        };
        if let Err(e) = services.store.notify_reviewers(&member.user.id, notice).await {
            tracing::warn!(submission = %submission.id, error = %e, "Could not tell reviewers of a submission");
        }
        Ok(submission)
    })
    .await
    .map_err(|e| Error::internal(format!("submitting the workspace: {e}")))?
}

fn link(project_id: &str, submission_id: &str) -> String {
    format!("/projects/{project_id}/submissions/{submission_id}")
}

/// The submissions the member may see, as `filter` picks them: all of the project's for
/// reviewers and owners, their own for anyone else.
pub async fn list_submissions(
    services: &Services,
    member: &Membership,
    mut filter: SubmissionFilter<'_>,
) -> Result<Vec<Submission>, Error> {
    if let Some(status) = filter.status {
        if !STATUSES.contains(&status) {
            return Err(Error::bad_request(
                "invalid_status",
                format!(
                    "unknown status {status:?}: use one of {}",
                    STATUSES.join(", ")
                ),
            )
            .with_field("status"));
        }
    }
    if !reviews(member) {
        filter.learner = Some(&member.user.id);
    }
    Ok(services
        .store
        .list_submissions(&member.project.id, &filter)
        .await?)
}

/// The submissions of one workspace the member may read, newest first.
pub async fn workspace_submissions(
    services: &Services,
    member: &Membership,
    workspace_id: &str,
) -> Result<Vec<Submission>, Error> {
    workspaces::workspace(services, member, workspace_id, Use::Read).await?;
    Ok(services
        .store
        .list_submissions(
            &member.project.id,
            &SubmissionFilter {
                workspace: Some(workspace_id),
                ..SubmissionFilter::default()
            },
        )
        .await?)
}

/// A verdict on a submission.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Approved,
    ChangesRequested,
}

/// Gives a submission a verdict: reviewers and owners, never on their own; tells its
/// learner.
pub async fn review(
    services: &Services,
    member: &Membership,
    id: &str,
    verdict: Verdict,
    summary: &str,
) -> Result<Submission, Error> {
    let submission = submission(services, member, id).await?;
    require(member, Role::Reviewer)?;
    if submission.learner_id == member.user.id {
        return Err(Error::forbidden(
            "own_submission",
            "you cannot review your own submission: ask another reviewer",
        ));
    }
    let summary = check_text(summary, "summary", "the summary", MAX_BODY, true)?;
    let (status, said) = match verdict {
        Verdict::Approved => ("approved", "approved"),
        Verdict::ChangesRequested => ("changes_requested", "asked for changes to"),
    };
    let link = link(&member.project.id, id);
    let message = format!(
        "{} {said} your submission {} (#{})",
        member.user.name, submission.workspace, submission.seq
    );
    services
        .store
        .review_submission(
            (&member.project.id, id),
            &member.user.id,
            status,
            &summary,
            NewNotification {
                kind: "submission_reviewed",
                project_id: &member.project.id,
                link: &link,
                message: &message,
            },
        )
        .await
        .map_err(|e| match e {
            StoreError::Conflict => not_live(&submission),
            e => Error::or_not_found(e, submission_not_found),
        })
}

fn not_live(submission: &Submission) -> Error {
    Error::conflict(
        "submission_not_live",
        format!(
            "submission #{} is {} or has a newer one: review the newest",
            submission.seq,
            submission.status.replace('_', " ")
        ),
    )
}

/// Withdraws the caller's own submission while it waits for review.
pub async fn withdraw(
    services: &Services,
    member: &Membership,
    id: &str,
) -> Result<Submission, Error> {
    let submission = submission(services, member, id).await?;
    if submission.learner_id != member.user.id {
        return Err(Error::forbidden(
            "not_your_submission",
            "only the person who submitted it may withdraw a submission",
        ));
    }
    services
        .store
        .withdraw_submission(&member.project.id, id)
        .await
        .map_err(|e| match e {
            StoreError::Conflict => Error::conflict(
                "submission_not_waiting",
                format!(
                    "submission #{} is {}: only one waiting for review may be withdrawn",
                    submission.seq,
                    submission.status.replace('_', " ")
                ),
            ),
            e => Error::or_not_found(e, submission_not_found),
        })
}

/// What a diff is against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Base {
    /// Nothing: every file is added.
    Empty,
    /// The template the workspace started from.
    Template,
    /// The submission of this number.
    Submission(i64),
}

pub fn base_of(submission: &Submission) -> Base {
    match (submission.base_seq, &submission.base_snapshot_id) {
        (Some(seq), _) => Base::Submission(seq),
        (None, Some(_)) => Base::Template,
        (None, None) => Base::Empty,
    }
}

/// Diffs and line mappings running at once: each may take seconds of a CPU.
static WORK: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(2);

/// Runs `work` on a blocking thread, at most [`WORK`]'s permits at once.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, Error> {
    let _permit = WORK
        .acquire()
        .await
        .map_err(|e| Error::internal(format!("comparing files: {e}")))?;
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| Error::internal(format!("comparing files: {e}")))
}

/// A stored file's text, when it is text small enough to show.
async fn read_text(
    services: &Services,
    path: &str,
    size: i64,
    (content, blob): (Option<&str>, Option<&str>),
) -> Result<Option<Arc<String>>, Error> {
    if size as usize > diff::MAX_TEXT_BYTES {
        return Ok(None);
    }
    let bytes = workspaces::stored_content(services.blobs.as_ref(), path, content, blob).await?;
    Ok(diff::text_of(&bytes).map(Arc::new))
}

/// The text of a file looked up (path, size, content, blob), `None` when there is none.
async fn text_if_found(
    services: &Services,
    found: Result<(String, i64, Option<String>, Option<String>), StoreError>,
) -> Result<Option<Arc<String>>, Error> {
    match found {
        Ok((path, size, content, blob)) => {
            read_text(services, &path, size, (content.as_deref(), blob.as_deref())).await
        }
        Err(StoreError::NotFound) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// The files of a snapshot as a diff reads them; `texts` caches texts by sha256.
async fn versions(
    services: &Services,
    snapshot_id: Option<&str>,
    texts: &mut HashMap<String, Option<Arc<String>>>,
) -> Result<BTreeMap<String, diff::Version>, Error> {
    let mut versions = BTreeMap::new();
    let Some(snapshot_id) = snapshot_id else {
        return Ok(versions);
    };
    for file in services.store.snapshot_files(snapshot_id).await? {
        let text = match texts.get(&file.sha256) {
            Some(text) => text.clone(),
            None => {
                let text = read_text(
                    services,
                    &file.path,
                    file.size,
                    (file.content.as_deref(), file.blob.as_deref()),
                )
                .await?;
                texts.insert(file.sha256.clone(), text.clone());
                text
            }
        };
        versions.insert(
            file.path,
            diff::Version {
                sha256: file.sha256,
                size: file.size,
                text: text.map(|t| t.as_str().to_owned()),
            },
        );
    }
    Ok(versions)
}

/// A submission's diff against its base.
pub async fn diff(
    services: &Services,
    member: &Membership,
    id: &str,
) -> Result<(Submission, Vec<diff::FileDiff>), Error> {
    let submission = submission(services, member, id).await?;
    let mut texts = HashMap::new();
    let old = versions(services, submission.base_snapshot_id.as_deref(), &mut texts).await?;
    let new = versions(services, Some(&submission.snapshot_id), &mut texts).await?;
    drop(texts);
    let files = blocking(move || diff::diff(&old, &new)).await?;
    Ok((submission, files))
}

/// A thread as shown on a submission.
#[derive(Debug, Clone)]
pub struct ThreadView {
    pub thread: Thread,
    /// Made on an earlier submission; its lines are unchanged in this one.
    pub carried: bool,
    /// Its lines on the submission it is shown on.
    pub line_start: i64,
    pub line_end: i64,
    pub comments: Vec<Comment>,
}

/// A thread with its lines on the submission shown, when made there, or the index of
/// the job that finds them.
type Placing = (Thread, Option<(i64, i64)>, Option<usize>);

/// Texts of files of snapshots, by `(snapshot, path)`.
type Texts = HashMap<(String, String), Option<Arc<String>>>;

/// The text of `path` in a snapshot (`None`: not there, binary or too large).
async fn text_in(
    services: &Services,
    cache: &mut Texts,
    snapshot_id: &str,
    path: &str,
) -> Result<Option<Arc<String>>, Error> {
    let key = (snapshot_id.to_owned(), path.to_owned());
    if let Some(text) = cache.get(&key) {
        return Ok(text.clone());
    }
    let found = services.store.snapshot_file(snapshot_id, path).await;
    let text = text_if_found(services, found.map(|f| (f.path, f.size, f.content, f.blob))).await?;
    cache.insert(key, text.clone());
    Ok(text)
}

/// Where each range of lines of a text is in another, when none of them changed, on a
/// blocking thread.
async fn follow_all(
    jobs: Vec<(Arc<String>, Arc<String>, i64, i64)>,
) -> Result<Vec<Option<(i64, i64)>>, Error> {
    blocking(move || {
        jobs.iter()
            .map(|(then, now, start, end)| {
                let start = usize::try_from(*start).ok()?;
                let end = usize::try_from(*end).ok()?;
                diff::follow(then, now, start, end).map(|(s, e)| (s as i64, e as i64))
            })
            .collect()
    })
    .await
}

/// The threads shown on a submission: its own, and those of its workspace's earlier
/// submissions whose lines (on their `new` side) are unchanged in it, where they are now.
pub async fn threads(
    services: &Services,
    member: &Membership,
    id: &str,
) -> Result<(Submission, Vec<ThreadView>), Error> {
    let submission = submission(services, member, id).await?;
    let views = threads_of(services, &submission).await?;
    Ok((submission, views))
}

async fn threads_of(
    services: &Services,
    submission: &Submission,
) -> Result<Vec<ThreadView>, Error> {
    let (threads, comments) = services
        .store
        .threads_up_to(&submission.workspace_id, submission.seq)
        .await?;
    let mut by_thread: HashMap<String, Vec<Comment>> = HashMap::new();
    for comment in comments {
        by_thread
            .entry(comment.thread_id.clone())
            .or_default()
            .push(comment);
    }
    let mut cache = Texts::new();
    // Each thread's lines here, or the texts to find them in.
    let mut placed: Vec<Placing> = Vec::new();
    let mut jobs = Vec::new();
    for thread in threads {
        if thread.submission_id == submission.id {
            let lines = (thread.line_start, thread.line_end);
            placed.push((thread, Some(lines), None));
        } else if thread.side == "new" {
            let then = text_in(services, &mut cache, &thread.snapshot_id, &thread.path).await?;
            let now = text_in(services, &mut cache, &submission.snapshot_id, &thread.path).await?;
            if let (Some(then), Some(now)) = (then, now) {
                jobs.push((then, now, thread.line_start, thread.line_end));
                placed.push((thread, None, Some(jobs.len() - 1)));
            }
        }
    }
    drop(cache);
    let found = follow_all(jobs).await?;
    Ok(placed
        .into_iter()
        .filter_map(|(thread, own, job)| {
            let (line_start, line_end) = own.or_else(|| job.and_then(|j| found[j]))?;
            let comments = by_thread.remove(&thread.id).unwrap_or_default();
            Some(ThreadView {
                carried: own.is_none(),
                line_start,
                line_end,
                comments,
                thread,
            })
        })
        .collect())
}

/// Where a new thread goes.
#[derive(Debug, Clone)]
pub struct NewThread {
    pub path: String,
    pub side: String,
    pub line_start: i64,
    pub line_end: i64,
    pub body: String,
}

fn invalid_anchor(message: String) -> Error {
    Error::new(Kind::Unprocessable, "invalid_anchor", message)
}

/// Opens a thread on lines of a submission: reviewers and owners, and its learner.
pub async fn comment(
    services: &Services,
    member: &Membership,
    id: &str,
    new: NewThread,
) -> Result<ThreadView, Error> {
    let submission = submission(services, member, id).await?;
    let body = check_text(&new.body, "body", "the comment", MAX_BODY, false)?;
    let snapshot = match new.side.as_str() {
        "new" => Some(submission.snapshot_id.as_str()),
        "old" => submission.base_snapshot_id.as_deref(),
        other => {
            return Err(invalid_anchor(format!(
                "side {other:?} is neither \"old\" (the base) nor \"new\" (the submission)"
            ))
            .with_field("side"))
        }
    };
    let Some(snapshot) = snapshot else {
        return Err(invalid_anchor(format!(
            "submission #{} has nothing to compare with, so no \"old\" side: comment on \"new\"",
            submission.seq
        ))
        .with_field("side"));
    };
    let file = match services.store.snapshot_file(snapshot, &new.path).await {
        Ok(file) => file,
        Err(StoreError::NotFound) => {
            return Err(invalid_anchor(format!(
                "there is no {:?} on the {} side",
                new.path, new.side
            ))
            .with_field("path"))
        }
        Err(e) => return Err(e.into()),
    };
    let text = if file.size as usize > diff::MAX_TEXT_BYTES {
        None
    } else {
        let bytes = workspaces::stored_content(
            services.blobs.as_ref(),
            &file.path,
            file.content.as_deref(),
            file.blob.as_deref(),
        )
        .await?;
        diff::text_of(&bytes)
    };
    let Some(text) = text else {
        return Err(invalid_anchor(format!(
            "{:?} is binary or too large to comment on its lines",
            new.path
        ))
        .with_field("path"));
    };
    let lines = diff::line_count(&text) as i64;
    if new.line_start < 1 || new.line_end < new.line_start || new.line_end > lines {
        return Err(invalid_anchor(format!(
            "lines {} to {} are not in {:?}, which has {lines} lines on the {} side",
            new.line_start, new.line_end, new.path, new.side
        ))
        .with_field("line_start"));
    }
    if services.store.count_threads(id).await? >= MAX_THREADS as i64 {
        return Err(Error::conflict(
            "too_many_threads",
            format!(
                "submission #{} has {MAX_THREADS} threads, the most it may",
                submission.seq
            ),
        ));
    }
    let thread_id = burrow_core::ids::new_id("th");
    services
        .store
        .create_thread(
            (&thread_id, id),
            Anchor {
                path: &new.path,
                side: &new.side,
                line_start: new.line_start,
                line_end: new.line_end,
            },
            &member.user.id,
            &body,
        )
        .await?;
    thread_view(services, &submission, &thread_id).await
}

/// The thread `thread_id` as shown on its own submission.
async fn thread_view(
    services: &Services,
    submission: &Submission,
    thread_id: &str,
) -> Result<ThreadView, Error> {
    let thread = services
        .store
        .get_thread(&submission.project_id, thread_id)
        .await
        .map_err(|e| Error::or_not_found(e, thread_not_found))?;
    Ok(ThreadView {
        carried: false,
        line_start: thread.line_start,
        line_end: thread.line_end,
        comments: services.store.thread_comments(thread_id).await?,
        thread,
    })
}

/// The thread and its submission, when the member may see them.
async fn thread(
    services: &Services,
    member: &Membership,
    id: &str,
) -> Result<(Submission, Thread), Error> {
    let thread = services
        .store
        .get_thread(&member.project.id, id)
        .await
        .map_err(|e| Error::or_not_found(e, thread_not_found))?;
    let submission = submission(services, member, &thread.submission_id)
        .await
        .map_err(|e| {
            if e.kind == Kind::NotFound {
                thread_not_found()
            } else {
                e
            }
        })?;
    Ok((submission, thread))
}

/// Replies to a thread: whoever may see its submission.
pub async fn reply(
    services: &Services,
    member: &Membership,
    id: &str,
    body: &str,
) -> Result<ThreadView, Error> {
    let (submission, _) = thread(services, member, id).await?;
    let body = check_text(body, "body", "the reply", MAX_BODY, false)?;
    if services.store.thread_comments(id).await?.len() >= MAX_REPLIES {
        return Err(Error::conflict(
            "too_many_replies",
            format!("this thread has {MAX_REPLIES} comments, the most it may: open another"),
        ));
    }
    services.store.reply(id, &member.user.id, &body).await?;
    thread_view(services, &submission, id).await
}

/// Marks a thread resolved or not: whoever may see its submission.
pub async fn resolve(
    services: &Services,
    member: &Membership,
    id: &str,
    resolved: bool,
) -> Result<ThreadView, Error> {
    let (submission, _) = thread(services, member, id).await?;
    services.store.resolve_thread(id, resolved).await?;
    thread_view(services, &submission, id).await
}

/// What the IDE shows of a workspace's review: its newest submission (not withdrawn)
/// and the threads on it, each with where its first line is in the workspace's file now
/// (`None`: those lines changed since, or the file is gone).
pub async fn workspace_review(
    services: &Services,
    member: &Membership,
    workspace_id: &str,
) -> Result<Option<(Submission, Vec<(ThreadView, Option<i64>)>)>, Error> {
    let all = workspace_submissions(services, member, workspace_id).await?;
    let Some(submission) = all.into_iter().find(|s| s.status != "withdrawn") else {
        return Ok(None);
    };
    let views = threads_of(services, &submission).await?;
    let mut cache = Texts::new();
    let mut current: HashMap<String, Option<Arc<String>>> = HashMap::new();
    let mut jobs = Vec::new();
    let mut job_of = Vec::with_capacity(views.len());
    for view in &views {
        if view.thread.side != "new" {
            job_of.push(None);
            continue;
        }
        let path = &view.thread.path;
        let then = text_in(services, &mut cache, &submission.snapshot_id, path).await?;
        if !current.contains_key(path) {
            let found = services.store.get_file(workspace_id, path).await;
            let now =
                text_if_found(services, found.map(|f| (f.path, f.size, f.content, f.blob))).await?;
            current.insert(path.clone(), now);
        }
        match (then, current[path].clone()) {
            (Some(then), Some(now)) => {
                jobs.push((then, now, view.line_start, view.line_end));
                job_of.push(Some(jobs.len() - 1));
            }
            _ => job_of.push(None),
        }
    }
    let found = follow_all(jobs).await?;
    let placed = views
        .into_iter()
        .zip(job_of)
        .map(|(view, job)| {
            let line = job.and_then(|j| found[j]).map(|(start, _)| start);
            (view, line)
        })
        .collect();
    Ok(Some((submission, placed)))
}
