//! Unpacks a version's canonical bundle into the folder its sandbox mounts read-only at `/app`.

use std::io::Read;
use std::path::{Path, PathBuf};

use burrow_blobs::{BlobPath, ObjectStore};
use burrow_core::AppId;

/// `{dir}/{app}/v{version}`, unpacked once from the bundle blob and then reused.
/// It is built beside and renamed into place, so it is whole or absent. An `AppId` has
/// the shape of a short id, so it is safe as a path segment.
pub async fn unpack(
    dir: &Path,
    app_id: &AppId,
    version: i64,
    blob: &str,
    blobs: &dyn ObjectStore,
) -> Result<PathBuf, String> {
    let app_dir = dir.join(app_id.as_str());
    let dest = app_dir.join(format!("v{version}"));
    if dest.is_dir() {
        return Ok(dest);
    }
    let bytes = blobs
        .get(&BlobPath::from(blob))
        .await
        .map_err(|e| format!("its bundle {blob} cannot be read: {e}"))?
        .bytes()
        .await
        .map_err(|e| format!("its bundle {blob} cannot be read: {e}"))?;
    let dest_for_task = dest.clone();
    tokio::task::spawn_blocking(move || write_tree(&app_dir, &dest_for_task, &bytes))
        .await
        .map_err(|e| format!("unpacking the bundle failed: {e}"))?
        .map_err(|e| format!("unpacking the bundle failed: {e}"))?;
    Ok(dest)
}

fn write_tree(app_dir: &Path, dest: &Path, zip_bytes: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(app_dir)?;
    // The sandbox's user must pass through `apps/` and `apps/<app>/` to its code.
    for dir in [Some(app_dir), app_dir.parent()].into_iter().flatten() {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755))?;
    }
    let tmp = tempfile::Builder::new()
        .prefix(".unpacking-")
        .tempdir_in(app_dir)?;
    let mut archive =
        zip::ZipArchive::new(std::io::Cursor::new(zip_bytes)).map_err(std::io::Error::other)?;
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).map_err(std::io::Error::other)?;
        // The bundle was validated on upload: names are relative, clean and unique.
        let Some(name) = entry.enclosed_name() else {
            return Err(std::io::Error::other(format!(
                "unsafe name {:?} in a stored bundle",
                entry.name()
            )));
        };
        let path = tmp.path().join(name);
        if entry.is_dir() {
            std::fs::create_dir_all(&path)?;
            continue;
        }
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes)?;
        std::fs::write(&path, bytes)?;
    }
    burrow_envs::make_tree_readable(tmp.path())?;
    burrow_fs::publish_dir(&tmp.keep(), dest, Path::is_dir)
}

/// `{dir}/{app}/v{version}`, where a version's code is unpacked; `None` for what is not an
/// app id. A sandbox names it as the volume `Code { owner: app, version }`.
pub fn code_dir(dir: &Path, app_id: &str, version: i64) -> Option<PathBuf> {
    let app = AppId::parse(app_id)?;
    Some(dir.join(app.as_str()).join(format!("v{version}")))
}

/// Removes every unpacked version of an app.
pub fn remove_all(dir: &Path, app_id: &AppId) {
    let _ = std::fs::remove_dir_all(dir.join(app_id.as_str()));
}

/// Removes one unpacked version of an app.
pub fn remove_version(dir: &Path, app_id: &AppId, version: i64) {
    let _ = std::fs::remove_dir_all(dir.join(app_id.as_str()).join(format!("v{version}")));
}
