//! Workspaces as use cases: a person's files in a project, kept by Burrow.
//!
//! Editors and above make workspaces; only the person who made one sees, opens and
//! changes it, and the project's reviewers and owners may read its files. Anyone else asking gets 404,
//! as for something that does not exist. A file's path is checked as an upload's entries
//! are (no `..`, no absolute path, no control or bidirectional characters) and must not
//! differ from another's only in case. A small text file is stored in its row; any other
//! file's content goes to the blob store first, and is deleted again when the change is
//! refused, so nothing is stored half-way. Every write names the version it replaces
//! (or that there is none), so two tabs or two people never overwrite each other
//! unknowingly: the loser gets the file as it is now.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::sync::Arc;

use burrow_blobs::{BlobPath, ObjectStore, PutPayload};
use burrow_config::WorkspacesConfig;
use burrow_core::Role;
use burrow_store::{
    FileChange, FileEntry, FileExpect, FileWrite, StoreError, Workspace, WorkspaceFile,
    WorkspaceLimits,
};
use sha2::{Digest, Sha256};

use crate::access::{require, Membership};
use crate::error::{Error, Finding, Kind};
use crate::Services;

pub mod sandbox;
pub mod terminals;

/// Text files up to this size are kept in the database row; larger or binary ones (any
/// with a NUL byte) as blobs.
const INLINE_BYTES: usize = 64 << 10;
/// The most files one page of the tree lists.
pub const MAX_PAGE: i64 = 1000;

fn not_found() -> Error {
    Error::new(
        Kind::NotFound,
        "workspace_not_found",
        "no such workspace in this project: the workspace list shows yours",
    )
}

fn file_not_found(path: &str) -> Error {
    Error::new(
        Kind::NotFound,
        "file_not_found",
        format!("no file or folder {path:?} in this workspace"),
    )
}

/// What a caller may do with a workspace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Use {
    /// Read its files: its owner, and the project's reviewers and owners.
    Read,
    /// Anything else: its owner only.
    Change,
}

/// The workspace, when the caller may `usage` it; 404 otherwise.
pub async fn workspace(
    services: &Services,
    member: &Membership,
    id: &str,
    usage: Use,
) -> Result<Workspace, Error> {
    let workspace = services
        .store
        .get_workspace(&member.project.id, id)
        .await
        .map_err(|e| Error::or_not_found(e, not_found))?;
    let mine = workspace.owner_id == member.user.id;
    let allowed = match usage {
        Use::Change => mine && member.role.allows(Role::Editor),
        Use::Read => mine || member.role.allows(Role::Reviewer),
    };
    if !allowed {
        return Err(not_found());
    }
    Ok(workspace)
}

fn check_name(name: &str) -> Result<String, Error> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 80 || name.chars().any(char::is_control) {
        return Err(Error::new(
            Kind::Invalid,
            "invalid_name",
            "a workspace's name is 1 to 80 characters, without control characters",
        )
        .with_field("name"));
    }
    Ok(name.to_owned())
}

fn name_taken(name: &str) -> Error {
    Error::new(
        Kind::Conflict,
        "workspace_exists",
        format!("you have a workspace named {name:?} in this project: pick another name"),
    )
    .with_field("name")
}

/// What a new workspace starts with.
#[derive(Debug, Default)]
pub enum Start {
    /// No files.
    #[default]
    Empty,
    /// These files (from an uploaded `.zip`, see [`files_of_zip`]).
    Files(BTreeMap<String, Vec<u8>>),
    /// The files of the project's template of this id.
    Template(String),
}

/// Makes a workspace of the caller's, starting as `start` says. The files are checked
/// as one by one writes would be, and all of them are kept or none, nor the workspace.
pub async fn create_workspace(
    services: &Services,
    member: &Membership,
    name: &str,
    start: Start,
) -> Result<Workspace, Error> {
    // Made to the end even if the caller goes away meanwhile: what it stores is either
    // all kept or all deleted again.
    let (services, member, name) = (services.clone(), member.clone(), name.to_owned());
    tokio::spawn(async move { make_workspace(&services, &member, &name, start).await })
        .await
        .map_err(|e| Error::internal(format!("making the workspace: {e}")))?
}

async fn make_workspace(
    services: &Services,
    member: &Membership,
    name: &str,
    start: Start,
) -> Result<Workspace, Error> {
    require(member, Role::Editor)?;
    let name = check_name(name)?;
    let (files, template) = match start {
        Start::Empty => (BTreeMap::new(), None),
        Start::Files(files) => (files, None),
        Start::Template(id) => {
            let template = crate::review::template(services, member, &id).await?;
            let files = crate::review::snapshot_contents(services, &template.snapshot_id).await?;
            (files, Some(template))
        }
    };
    check_files(&services.config.workspaces, &files)?;
    let most = services.config.workspaces.max_per_person;
    let mine = services
        .store
        .list_workspaces(&member.project.id, &member.user.id)
        .await?;
    if mine.len() as u64 >= most {
        return Err(Error::new(
            Kind::Conflict,
            "too_many_workspaces",
            format!(
                "you have {most} workspaces in this project, as many as one person may \
                 (workspaces.max_per_person): delete one first"
            ),
        ));
    }
    let id = burrow_core::ids::new_id("ws");
    let mut kept = Vec::with_capacity(files.len());
    let mut blobs = Vec::new();
    for (path, content) in files {
        let sha256 = hex::encode(Sha256::digest(&content));
        let size = content.len() as i64;
        let stored = keep(
            &services.store,
            &services.blobs,
            (&member.project.id, &id),
            &path,
            content,
        )
        .await;
        let (text, blob) = match stored {
            Ok(stored) => stored,
            Err(e) => {
                crate::blobs::discard_new(&services.store, services.blobs.as_ref(), blobs, &e)
                    .await;
                return Err(e);
            }
        };
        blobs.extend(blob.clone());
        kept.push((path.to_lowercase(), path, size, sha256, text, blob));
    }
    let writes: Vec<FileWrite<'_>> = kept
        .iter()
        .map(|(folded, path, size, sha256, text, blob)| FileWrite {
            workspace_id: &id,
            path,
            folded,
            size: *size,
            sha256,
            content: text.as_deref(),
            blob: blob.as_deref(),
            by: &member.user.id,
            expect: FileExpect::Absent,
        })
        .collect();
    let made = services
        .store
        .create_workspace(
            &id,
            &member.project.id,
            &member.user.id,
            &name,
            template.as_ref(),
            &writes,
        )
        .await;
    if made.is_err() {
        delete_blobs(services.blobs.as_ref(), blobs).await;
    }
    made.map_err(|e| match e {
        StoreError::Conflict => name_taken(&name),
        e => e.into(),
    })
}

/// The files of an uploaded `.zip`, read as app bundles are (no links, no special files,
/// no bombs, no paths out of the folder), within what a workspace may hold, with their
/// paths as they are. Every problem is in the error.
pub async fn files_of_zip(
    config: &WorkspacesConfig,
    bytes: Vec<u8>,
) -> Result<BTreeMap<String, Vec<u8>>, Error> {
    // Unpacking is work for a blocking thread, not for the request's.
    let config = config.clone();
    tokio::task::spawn_blocking(move || read_zip(&config, &bytes))
        .await
        .map_err(|e| Error::internal(format!("reading the archive: {e}")))?
}

fn read_zip(config: &WorkspacesConfig, bytes: &[u8]) -> Result<BTreeMap<String, Vec<u8>>, Error> {
    let limits = burrow_bundle::ZipLimits {
        max_total_bytes: config.max_total_mb << 20,
        max_entries: usize::try_from(config.max_files)
            .unwrap_or(usize::MAX)
            .saturating_add(1000),
        max_python_bytes: usize::try_from(config.max_file_mb << 20).unwrap_or(usize::MAX),
        // A workspace's own download comes back as it was.
        unwrap_top_folder: false,
        ..burrow_bundle::ZipLimits::default()
    };
    burrow_bundle::read_zip(bytes, &limits)
        .map(|(files, _)| files)
        .map_err(|errors| rejected(errors.iter().map(Finding::from).collect()))
}

fn rejected(details: Vec<Finding>) -> Error {
    let mut e = Error::new(
        Kind::Unprocessable,
        "invalid_archive",
        format!(
            "the archive has {} problem(s); fix each and upload it again",
            details.len()
        ),
    );
    e.details = details.into();
    e
}

/// Checks new files as one by one writes would be: each path, each size, how many and
/// how much in all, and that no file is where another needs a folder.
fn check_files(config: &WorkspacesConfig, files: &BTreeMap<String, Vec<u8>>) -> Result<(), Error> {
    let file_problem = |path: &str, message: String| Finding {
        file: Some(path.to_owned()),
        line: None,
        message,
    };
    let mut problems = Vec::new();
    let mut files_folded = HashMap::new();
    for path in files.keys() {
        if let Some(other) = files_folded.insert(path.to_lowercase(), path.as_str()) {
            problems.push(file_problem(
                path,
                format!("differs from {other} only in case"),
            ));
        }
    }
    for (path, content) in files {
        if let Err(e) = check_path(path) {
            problems.push(file_problem(path, e.message));
        } else if content.len() as u64 > config.max_file_mb << 20 {
            problems.push(file_problem(
                path,
                format!(
                    "{} bytes is more than the {} MiB a workspace file may hold                      (workspaces.max_file_mb)",
                    content.len(),
                    config.max_file_mb
                ),
            ));
        }
        // As the store compares paths: without case.
        let folded = path.to_lowercase();
        let mut folder = folded.as_str();
        while let Some((parent, _)) = folder.rsplit_once('/') {
            if let Some(file) = files_folded.get(parent) {
                problems.push(file_problem(
                    path,
                    format!("{file} is a file, so it cannot be a folder too"),
                ));
            }
            folder = parent;
        }
    }
    if !problems.is_empty() {
        return Err(rejected(problems));
    }
    if files.len() as u64 > config.max_files {
        return Err(refused("", FileChange::TooManyFiles));
    }
    let total: u64 = files.values().map(|c| c.len() as u64).sum();
    if total > config.max_total_mb << 20 {
        return Err(refused("", FileChange::TooManyBytes));
    }
    Ok(())
}

/// The caller's own workspaces in the project.
pub async fn list_workspaces(
    services: &Services,
    member: &Membership,
) -> Result<Vec<Workspace>, Error> {
    Ok(services
        .store
        .list_workspaces(&member.project.id, &member.user.id)
        .await?)
}

pub async fn rename_workspace(
    services: &Services,
    member: &Membership,
    id: &str,
    name: &str,
) -> Result<Workspace, Error> {
    workspace(services, member, id, Use::Change).await?;
    let name = check_name(name)?;
    services
        .store
        .rename_workspace(&member.project.id, id, &name)
        .await
        .map_err(|e| match e {
            StoreError::Conflict => name_taken(&name),
            e => Error::or_not_found(e, not_found),
        })?;
    workspace(services, member, id, Use::Change).await
}

/// Deletes a workspace and every file of it.
pub async fn delete_workspace(
    services: &Services,
    member: &Membership,
    id: &str,
) -> Result<(), Error> {
    workspace(services, member, id, Use::Change).await?;
    services.workspaces.forget(id).await;
    services.workspaces.workload().forget(id).await;
    let mut blobs = services
        .store
        .delete_workspace(&member.project.id, id)
        .await
        .map_err(|e| Error::or_not_found(e, not_found))?;
    blobs.push(sandbox::packages_key(&member.project.id, id));
    delete_blobs(services.blobs.as_ref(), blobs).await;
    Ok(())
}

fn start_failed(e: burrow_sessions::SessionError<sandbox::RunError>) -> Error {
    use burrow_sessions::SessionError;
    match e {
        SessionError::Gone => not_found(),
        SessionError::Workload(e) => Error::conflict("workspace_start_failed", e.0),
        SessionError::Sandbox(e) => Error::internal(format!("the sandbox runtime failed: {e}")),
        e => Error::conflict(
            "workspace_start_failed",
            format!("the workspace's sandbox did not start: {e}"),
        ),
    }
}

/// Starts the workspace's sandbox unless it runs, and returns once it is ready (its
/// files in it); a start after an error starts afresh.
pub async fn start(services: &Services, member: &Membership, id: &str) -> Result<Workspace, Error> {
    workspace(services, member, id, Use::Change).await?;
    services.workspaces.touch(id);
    services.workspaces.start(id).await.map_err(start_failed)?;
    workspace(services, member, id, Use::Change).await
}

/// Stops the workspace's sandbox, keeping what changed in it last.
pub async fn stop(services: &Services, member: &Membership, id: &str) -> Result<Workspace, Error> {
    workspace(services, member, id, Use::Change).await?;
    services.workspaces.stop(id).await.map_err(start_failed)?;
    workspace(services, member, id, Use::Change).await
}

/// The sandbox of the caller's running workspace, for a terminal; 409 when it does not run.
pub async fn running_sandbox(
    services: &Services,
    member: &Membership,
    id: &str,
) -> Result<String, Error> {
    workspace(services, member, id, Use::Change).await?;
    if let Some(running) = services.workspaces.running(id) {
        return Ok(running.sandbox);
    }
    not_elsewhere(services, id).await?;
    Err(Error::conflict(
        "workspace_not_running",
        "the workspace is not running: start it first",
    ))
}

/// Refuses what must reach a workspace's sandbox while another replica runs it. Such
/// requests are sent on to that replica (`burrow_api::forwarded`); this answers those
/// that could not be, when it takes no forwarded connections or did not answer.
async fn not_elsewhere(services: &Services, id: &str) -> Result<(), Error> {
    match services.workspaces.held_by_other(id).await {
        Ok(None) => Ok(()),
        Ok(Some(replica)) => Err(Error::conflict(
            "workspace_elsewhere",
            format!(
                "the workspace runs on Burrow replica {replica}, which this replica could not \
                 reach (every replica needs `internal_listen` for that): use it through that \
                 replica, or stop it and start it again here"
            ),
        )),
        Err(e) => Err(Error::new(
            Kind::Unavailable,
            "database_unavailable",
            "could not tell which replica runs the workspace; try again shortly",
        )
        .with_detail(e.to_string())),
    }
}

/// Whether the session `token_hash` still signs in `user_id`, who may still use
/// workspace `id` in `project_id` as [`running_sandbox`] asks: an open terminal asks this
/// again and again, so a logout, a removal from the project or a lower role ends it.
pub async fn still_allowed(
    services: &Services,
    token_hash: &str,
    user_id: &str,
    (project_id, id): (&str, &str),
) -> Result<bool, Error> {
    let user = match services.store.session_user(token_hash).await {
        Ok(user) if user.id == user_id => user,
        Ok(_) | Err(StoreError::NotFound) => return Ok(false),
        Err(e) => return Err(e.into()),
    };
    let member = match crate::access::project_access(services, user, project_id, Role::Viewer).await
    {
        Ok(member) => member,
        Err(e) if matches!(e.kind, Kind::NotFound | Kind::Forbidden) => return Ok(false),
        Err(e) => return Err(e),
    };
    match workspace(services, &member, id, Use::Change).await {
        Ok(_) => Ok(true),
        Err(e) if e.kind == Kind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

/// Deletes the blobs of a deleted project's workspace files (its rows went with it).
pub(crate) async fn forget_project(services: &Services, project_id: &str) {
    use futures::TryStreamExt;
    // Its running workspaces stop first, so none keeps its packages after the listing.
    for (key, _) in services.workspaces.running_keys() {
        if let Err(StoreError::NotFound) = services.store.find_workspace(&key).await {
            services.workspaces.forget(&key).await;
            services.workspaces.workload().forget(&key).await;
        }
    }
    let prefix = BlobPath::from(format!("workspaces/{project_id}"));
    let listed: Result<Vec<String>, _> = services
        .blobs
        .list(Some(&prefix))
        .map_ok(|meta| meta.location.to_string())
        .try_collect()
        .await;
    match listed {
        Ok(blobs) => delete_blobs(services.blobs.as_ref(), blobs).await,
        Err(e) => {
            tracing::warn!(project = %project_id, error = %e, "Could not list a deleted project's workspace blobs")
        }
    }
}

pub(crate) async fn delete_blobs(store: &dyn ObjectStore, blobs: Vec<String>) {
    for blob in blobs {
        match store.delete(&BlobPath::from(blob.as_str())).await {
            Ok(()) | Err(burrow_blobs::StoreError::NotFound { .. }) => {}
            Err(e) => {
                tracing::warn!(blob = %blob, error = %e, "Could not delete a workspace file's blob")
            }
        }
    }
}

/// The path checked as an upload's entries are; `Err` says what is wrong with it.
pub fn check_path(path: &str) -> Result<String, Error> {
    let problem =
        burrow_bundle::path_problem(path, &burrow_bundle::ZipLimits::default()).or_else(|| {
            path.split('/')
                .any(|part| part == "__pycache__")
                .then(|| "Python's caches (__pycache__) are not kept".to_owned())
                .or_else(|| {
                    path.split('/')
                        .any(|part| part.starts_with(".burrow-write-"))
                        .then(|| "names starting with .burrow-write- are Burrow's own".to_owned())
                })
        });
    match problem {
        Some(problem) => Err(Error::new(
            Kind::Invalid,
            "invalid_path",
            format!("{path:?} cannot be a file's path: {problem}"),
        )
        .with_field("path")),
        None if path.ends_with('/') => Err(Error::new(
            Kind::Invalid,
            "invalid_path",
            format!("{path:?} cannot be a file's path: it ends with /"),
        )
        .with_field("path")),
        None => Ok(path.to_owned()),
    }
}

/// A page of the workspace's files, in path order, after `after`.
pub async fn list_files(
    services: &Services,
    member: &Membership,
    id: &str,
    after: &str,
    limit: i64,
) -> Result<Vec<FileEntry>, Error> {
    workspace(services, member, id, Use::Read).await?;
    Ok(services
        .store
        .list_files(id, after, limit.clamp(1, MAX_PAGE))
        .await?)
}

/// A file and its content.
pub async fn read_file(
    services: &Services,
    member: &Membership,
    id: &str,
    path: &str,
) -> Result<(WorkspaceFile, Vec<u8>), Error> {
    workspace(services, member, id, Use::Read).await?;
    let path = check_path(path)?;
    let file = services
        .store
        .get_file(id, &path)
        .await
        .map_err(|e| match e {
            StoreError::NotFound => file_not_found(&path),
            e => e.into(),
        })?;
    let content = content_of(services.blobs.as_ref(), &file).await?;
    Ok((file, content))
}

async fn content_of(blobs: &dyn ObjectStore, file: &WorkspaceFile) -> Result<Vec<u8>, Error> {
    stored_content(
        blobs,
        &file.path,
        file.content.as_deref(),
        file.blob.as_deref(),
    )
    .await
}

/// A file's content, kept in its row (`content`) or as a blob (`blob`).
pub(crate) async fn stored_content(
    blobs: &dyn ObjectStore,
    path: &str,
    content: Option<&str>,
    blob: Option<&str>,
) -> Result<Vec<u8>, Error> {
    if let Some(text) = content {
        return Ok(text.as_bytes().to_vec());
    }
    let Some(blob) = blob else {
        return Ok(Vec::new());
    };
    let bytes = blobs
        .get(&BlobPath::from(blob))
        .await
        .map_err(|e| Error::blob(&format!("reading {path}'s blob {blob}"), e))?
        .bytes()
        .await
        .map_err(|e| Error::blob(&format!("reading {path}'s blob {blob}"), e))?;
    Ok(bytes.to_vec())
}

/// How a write ended.
#[derive(Debug)]
pub enum Written {
    /// The file's new version.
    Done(i64),
    /// The file is not at the version the write named: as it is now (with its content),
    /// or `None` when it is gone.
    Changed(Option<(WorkspaceFile, Vec<u8>)>),
}

fn limits(config: &WorkspacesConfig) -> WorkspaceLimits {
    WorkspaceLimits {
        max_files: i64::try_from(config.max_files).unwrap_or(i64::MAX),
        max_bytes: i64::try_from(config.max_total_mb << 20).unwrap_or(i64::MAX),
    }
}

/// Writes `content` at `path` if the file is as `expect` says.
pub async fn write_file(
    services: &Services,
    member: &Membership,
    id: &str,
    path: &str,
    content: Vec<u8>,
    expect: FileExpect,
) -> Result<Written, Error> {
    workspace(services, member, id, Use::Change).await?;
    let path = check_path(path)?;
    not_elsewhere(services, id).await?;
    services.workspaces.touch(id);
    // What goes into the sandbox's folder, if it has one, once the database has it.
    let copy = content.clone();
    let change = put_content(
        &services.store,
        &services.blobs,
        &services.config.workspaces,
        (&member.project.id, id),
        &path,
        content,
        &member.user.id,
        expect,
    )
    .await?;
    let written = match change {
        FileChange::Done { version, .. } => {
            services
                .workspaces
                .workload()
                .wrote(id, &path, copy, version)
                .await;
            Written::Done(version)
        }
        FileChange::Conflict(current) => {
            let current = match current {
                Some(file) => {
                    let content = content_of(services.blobs.as_ref(), &file).await?;
                    Some((*file, content))
                }
                None => None,
            };
            Written::Changed(current)
        }
        other => return Err(refused(&path, other)),
    };
    Ok(written)
}

/// Stores `content` at `path` in workspace `(project, id)` if the file is as `expect`
/// says: small text in the row, anything else as a blob first, deleted again when the
/// change is refused or fails, as are the blobs the change leaves unused.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn put_content(
    store: &burrow_store::Store,
    blobs: &Arc<dyn ObjectStore>,
    config: &WorkspacesConfig,
    (project_id, id): (&str, &str),
    path: &str,
    content: Vec<u8>,
    by: &str,
    expect: FileExpect,
) -> Result<FileChange, Error> {
    let max_file = config.max_file_mb << 20;
    if content.len() as u64 > max_file {
        return Err(Error::new(
            Kind::TooLarge,
            "file_too_large",
            format!(
                "{path} is {} bytes; a workspace file may be at most {} MiB \
                 (workspaces.max_file_mb)",
                content.len(),
                max_file >> 20
            ),
        ));
    }
    let sha256 = hex::encode(Sha256::digest(&content));
    let size = content.len() as i64;
    let (text, blob) = keep(store, blobs, (project_id, id), path, content).await?;
    let folded = path.to_lowercase();
    let change = store
        .put_file(
            &FileWrite {
                workspace_id: id,
                path,
                folded: &folded,
                size,
                sha256: &sha256,
                content: text.as_deref(),
                blob: blob.as_deref(),
                by,
                expect,
            },
            limits(config),
        )
        .await;
    // Refused, or failed: the blob written for it goes again.
    if !matches!(change, Ok(FileChange::Done { .. })) {
        delete_blobs(blobs.as_ref(), blob.into_iter().collect()).await;
    }
    let change = change.map_err(|e| Error::or_not_found(e, not_found))?;
    if let FileChange::Done { unused, .. } = &change {
        delete_blobs(blobs.as_ref(), unused.clone()).await;
    }
    Ok(change)
}

/// Where a file's `content` is kept: small text in its row (the first), anything else in
/// a new blob (the second, its key), written here.
async fn keep(
    store: &burrow_store::Store,
    blobs: &Arc<dyn ObjectStore>,
    (project_id, id): (&str, &str),
    path: &str,
    content: Vec<u8>,
) -> Result<(Option<String>, Option<String>), Error> {
    let text = inline(&content);
    if text.is_some() {
        return Ok((text, None));
    }
    let key = format!(
        "workspaces/{project_id}/{id}/{}",
        burrow_core::ids::new_id("wf")
    );
    crate::blobs::put_new(store, blobs, &key, PutPayload::from(content))
        .await
        .map_err(|e| Error::blob(&format!("storing {path}'s content"), e))?;
    Ok((None, Some(key)))
}

/// `content` as it is kept in a database row, when it is small text.
pub(crate) fn inline(content: &[u8]) -> Option<String> {
    // PostgreSQL's text holds no NUL: a file with one is binary, whatever else it is.
    (content.len() <= INLINE_BYTES && !content.contains(&0))
        .then(|| String::from_utf8(content.to_vec()).ok())
        .flatten()
}

/// The error for a change the store refused.
fn refused(path: &str, change: FileChange) -> Error {
    match change {
        FileChange::Collision(other) => Error::new(
            Kind::Conflict,
            "path_collision",
            format!(
                "{path:?} differs from {other:?} only in case, which many file systems \
                 cannot tell apart: rename one of them"
            ),
        )
        .with_field("path"),
        FileChange::TooManyFiles => Error::new(
            Kind::TooLarge,
            "too_many_files",
            "the workspace holds as many files as it may (workspaces.max_files): delete \
             some first",
        ),
        FileChange::TooManyBytes => Error::new(
            Kind::TooLarge,
            "workspace_full",
            "the workspace would hold more than it may (workspaces.max_total_mb): delete \
             or shrink some files first",
        ),
        FileChange::Missing => file_not_found(path),
        FileChange::Clash(other) => Error::new(
            Kind::Conflict,
            "path_clash",
            format!(
                "{path:?} and {other:?} cannot both be: one would be a file and a folder at \
                 once. Rename one of them"
            ),
        )
        .with_field("path"),
        FileChange::Invalid(problem) => {
            Error::new(Kind::Invalid, "invalid_path", problem).with_field("to")
        }
        FileChange::Conflict(_) => Error::new(
            Kind::Conflict,
            "file_changed",
            format!("{path} changed meanwhile: reload it, then try again"),
        ),
        FileChange::Done { .. } => Error::internal("a done change reported as refused"),
    }
}

/// Moves a file, or a folder with everything in it; returns how many files moved.
pub async fn move_path(
    services: &Services,
    member: &Membership,
    id: &str,
    from: &str,
    to: &str,
    expect: FileExpect,
) -> Result<i64, Error> {
    workspace(services, member, id, Use::Change).await?;
    let from = check_path(from)?;
    let to = check_path(to).map_err(|e| e.with_field("to"))?;
    not_elsewhere(services, id).await?;
    if to == from || to.starts_with(&format!("{from}/")) {
        return Err(Error::new(
            Kind::Invalid,
            "invalid_move",
            format!("{from:?} cannot move into itself ({to:?})"),
        )
        .with_field("to"));
    }
    let check = |path: &str| check_path(path).err().map(|e| e.message);
    match services
        .store
        .move_files(id, (&from, &to), expect, &member.user.id, &check)
        .await
        .map_err(|e| Error::or_not_found(e, not_found))?
    {
        FileChange::Done { version, .. } => {
            services.workspaces.touch(id);
            services.workspaces.workload().moved(id, &from, &to).await;
            Ok(version)
        }
        FileChange::Collision(other) => Err(Error::new(
            Kind::Conflict,
            "path_taken",
            format!("{other:?} is there already: pick another name, or move it first"),
        )
        .with_field("to")),
        other => Err(refused(&from, other)),
    }
}

/// Deletes a file, or a folder with everything in it; returns how many files went.
pub async fn delete_path(
    services: &Services,
    member: &Membership,
    id: &str,
    path: &str,
    expect: FileExpect,
) -> Result<i64, Error> {
    workspace(services, member, id, Use::Change).await?;
    let path = check_path(path)?;
    not_elsewhere(services, id).await?;
    match services
        .store
        .delete_files(id, &path, expect)
        .await
        .map_err(|e| Error::or_not_found(e, not_found))?
    {
        FileChange::Done { version, unused } => {
            delete_blobs(services.blobs.as_ref(), unused).await;
            services.workspaces.touch(id);
            services.workspaces.workload().removed(id, &path).await;
            Ok(version)
        }
        other => Err(refused(&path, other)),
    }
}

/// The whole workspace as a `.zip`, its files at the archive's top.
pub async fn download(
    services: &Services,
    member: &Membership,
    id: &str,
) -> Result<(Workspace, Vec<u8>), Error> {
    let workspace = workspace(services, member, id, Use::Read).await?;
    let files = services.store.all_files(id).await?;
    let mut contents = Vec::with_capacity(files.len());
    for file in &files {
        contents.push((
            file.path.clone(),
            content_of(services.blobs.as_ref(), file).await?,
        ));
    }
    let zipped = tokio::task::spawn_blocking(move || -> Result<Vec<u8>, String> {
        let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .large_file(false);
        for (path, content) in contents {
            zip.start_file(path, options).map_err(|e| e.to_string())?;
            zip.write_all(&content).map_err(|e| e.to_string())?;
        }
        Ok(zip.finish().map_err(|e| e.to_string())?.into_inner())
    })
    .await
    .map_err(|e| Error::internal(e.to_string()))?
    .map_err(|e| Error::internal(format!("making the workspace's zip: {e}")))?;
    Ok((workspace, zipped))
}
