//! Apps' secrets as their sandboxes see them: `~/.streamlit/secrets.toml`, read-only, and masked in the app's log.
//!
//! Values are sealed by the instance's key (the one that seals data sources' passwords),
//! each bound to its app and name, so a sealed value copied to another row does not open.
//! A sandbox gets them as one TOML file in a folder of its own, written when the sandbox
//! is made, under `{data_dir}/secrets` (mode 0700: no other host user passes), and mounted
//! read-only at `/home/sandbox/.streamlit`, where Streamlit reads `st.secrets` from.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use burrow_core::AppId;
use burrow_data::{DataError, Keyring};
use burrow_store::{AppSecret, Store};

/// The most secrets one app may have.
pub const MAX_SECRETS: i64 = 100;
/// The longest value, in bytes.
pub const MAX_VALUE_BYTES: usize = 32 * 1024;
/// The longest name.
pub const MAX_NAME_LEN: usize = 64;
/// Where the folder is mounted; Streamlit reads `secrets.toml` in it.
pub const MOUNT_AT: &str = "/home/sandbox/.streamlit";
/// Values shorter than this are not masked in logs: they would mask ordinary words.
const MASK_MIN_LEN: usize = 4;

/// Why a name cannot be a secret's, if it cannot: a TOML bare key that is also an
/// environment-variable-like name, so `st.secrets.NAME` and `st.secrets["NAME"]` both work.
pub fn name_problem(name: &str) -> Option<String> {
    let ok_first = name
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_');
    if name.is_empty() || name.len() > MAX_NAME_LEN {
        return Some(format!(
            "a secret's name has 1 to {MAX_NAME_LEN} characters"
        ));
    }
    if !ok_first || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return Some(format!(
            "{name:?} is not a secret name: use letters, digits and '_', not a digit first, such as API_KEY"
        ));
    }
    None
}

/// Why a value cannot be stored, if it cannot.
pub fn value_problem(value: &str) -> Option<String> {
    if value.is_empty() {
        return Some("the value is empty: give the secret's value, or delete the secret".into());
    }
    if value.len() > MAX_VALUE_BYTES {
        return Some(format!(
            "the value is longer than {} KiB: keep large files out of secrets",
            MAX_VALUE_BYTES / 1024
        ));
    }
    if value.contains('\0') {
        return Some("the value contains a NUL character".into());
    }
    None
}

/// What a sealed value is bound to: its app and name.
fn bound_to(app_id: &str, name: &str) -> String {
    format!("app-secret:{app_id}:{name}")
}

/// `value` sealed for `app_id`'s secret `name`.
pub fn seal(keyring: &Keyring, app_id: &str, name: &str, value: &str) -> Result<String, DataError> {
    keyring.sealer()?.seal(value, &bound_to(app_id, name))
}

/// Every secret of the app opened, by name, with the revision they are at.
pub async fn open_all(
    store: &Store,
    keyring: &Keyring,
    app_id: &str,
) -> Result<(i64, BTreeMap<String, String>), String> {
    let (revision, secrets) = store
        .app_secrets(app_id)
        .await
        .map_err(|e| format!("its secrets cannot be read: {e}"))?;
    if secrets.is_empty() {
        return Ok((revision, BTreeMap::new()));
    }
    let sealer = keyring
        .sealer()
        .map_err(|e| format!("its secrets cannot be opened: {e}"))?;
    let mut open = BTreeMap::new();
    for AppSecret { name, sealed, .. } in secrets {
        // Never the value, nor what the cipher said about it.
        let value = sealer
            .open(&sealed, &bound_to(app_id, &name))
            .map_err(|_| {
                format!(
                "its secret {name} cannot be opened with this instance's key (was it set under \
                 another data.sources_key?): set it again"
            )
            })?;
        open.insert(name, value);
    }
    Ok((revision, open))
}

/// The app's output with its secrets masked; withheld whole when they cannot be read.
/// Viewers read an app's log, and error reports quote its last lines.
pub async fn redact(
    store: &Store,
    keyring: &Keyring,
    root: &Path,
    app_id: &str,
    output: Vec<u8>,
) -> Vec<u8> {
    let mut values: Vec<(String, String)> = match open_all(store, keyring, app_id).await {
        Ok((_, open)) => open.into_iter().collect(),
        Err(why) => return format!("[output withheld: {why}]\n").into_bytes(),
    };
    // A sandbox still running with values since replaced or deleted may print those:
    // the revisions on disk are the ones still mounted (or about to be).
    let root = root.to_path_buf();
    let app = app_id.to_owned();
    let masked = tokio::task::spawn_blocking(move || {
        values.extend(mounted_values(&root, &app));
        if values.is_empty() {
            output
        } else {
            mask(&output, &values)
        }
    })
    .await;
    masked.unwrap_or_else(|_| b"[output withheld: it could not be masked]\n".to_vec())
}

/// Every name and value in the app's `secrets.toml` files on disk.
fn mounted_values(root: &Path, app_id: &str) -> Vec<(String, String)> {
    let Some(app) = AppId::parse(app_id) else {
        return Vec::new();
    };
    let Ok(entries) = std::fs::read_dir(root.join(app.as_str())) else {
        return Vec::new();
    };
    let mut values = Vec::new();
    for entry in entries.flatten() {
        if !entry.file_name().to_string_lossy().starts_with('r') {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(entry.path().join("secrets.toml")) else {
            continue;
        };
        if let Ok(table) = text.parse::<toml::Table>() {
            values.extend(
                table
                    .into_iter()
                    .filter_map(|(k, v)| v.as_str().map(|v| (k, v.to_owned()))),
            );
        }
    }
    values
}

/// The TOML Streamlit reads, one string per name.
pub fn render(secrets: &BTreeMap<String, String>) -> String {
    let mut text =
        String::from("# Set in Burrow, under the app's Secrets; changes restart the app.\n");
    text.push_str(&toml::to_string(secrets).expect("a map of strings is TOML"));
    text
}

/// `{root}/{app}/r{revision}`; `None` for what is not an app id. A sandbox names it as
/// the volume `Secrets { owner: app, revision }`.
pub fn folder(root: &Path, app_id: &str, revision: i64) -> Option<PathBuf> {
    let app = AppId::parse(app_id)?;
    Some(root.join(app.as_str()).join(format!("r{revision}")))
}

/// Writes the app's `secrets.toml` at `revision`, unless that folder is there already
/// (a revision's secrets never change). Built beside and renamed into place.
pub fn write(root: &Path, app_id: &AppId, revision: i64, text: &str) -> std::io::Result<PathBuf> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    let app_dir = root.join(app_id.as_str());
    let dest = app_dir.join(format!("r{revision}"));
    if dest.is_dir() {
        return Ok(dest);
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&app_dir)?;
    // Host users other than Burrow's stop at the root; the sandbox sees only its mount.
    std::fs::set_permissions(root, std::fs::Permissions::from_mode(0o700))?;
    let tmp = tempfile::Builder::new()
        .prefix(".writing-")
        .tempdir_in(&app_dir)?;
    let file = tmp.path().join("secrets.toml");
    std::fs::write(&file, text)?;
    // The sandbox's user is another uid: it reads through the mount, and never writes.
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o444))?;
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o555))?;
    let written = tmp.keep();
    let published = burrow_fs::publish_dir(&written, &dest, Path::is_dir);
    // Not renamed (another start published first, or the rename failed): made read-only
    // above, so made writable again to go, leaving no plaintext copy behind.
    if written.exists() {
        remove_tree(&written);
    }
    match published {
        Err(_) if dest.is_dir() => Ok(dest),
        Err(e) => Err(e),
        Ok(()) => Ok(dest),
    }
}

/// Removes the app's secrets folders except the revisions in `keep`.
pub fn remove_except(root: &Path, app_id: &AppId, keep: &[i64]) {
    let app_dir = root.join(app_id.as_str());
    let Ok(entries) = std::fs::read_dir(&app_dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        // A start may be writing one now; all go when the app's folder does.
        if !keep.is_empty() && name.to_string_lossy().starts_with(".writing-") {
            continue;
        }
        let revision = name
            .to_str()
            .and_then(|n| n.strip_prefix('r'))
            .and_then(|r| r.parse::<i64>().ok());
        if revision.is_some_and(|r| keep.contains(&r)) {
            continue;
        }
        remove_tree(&entry.path());
    }
    if keep.is_empty() {
        let _ = std::fs::remove_dir(&app_dir);
    }
}

/// Removes a folder this module wrote read-only.
fn remove_tree(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700));
    let _ = std::fs::remove_dir_all(path);
}

/// Replaces every value (of at least 4 bytes) in `text` with `[secret NAME]`, longest
/// first, so a value that holds another is masked whole.
pub fn mask(text: &[u8], secrets: &[(String, String)]) -> Vec<u8> {
    let mut values: Vec<(&str, &str)> = secrets
        .iter()
        .filter(|(_, v)| v.len() >= MASK_MIN_LEN)
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    if values.is_empty() {
        return text.to_vec();
    }
    values.sort_by_key(|(_, v)| std::cmp::Reverse(v.len()));
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    'outer: while i < text.len() {
        for (name, value) in &values {
            if text[i..].starts_with(value.as_bytes()) {
                out.extend_from_slice(format!("[secret {name}]").as_bytes());
                i += value.len();
                continue 'outer;
            }
        }
        out.push(text[i]);
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn names_are_bare_toml_keys() {
        for good in ["API_KEY", "_x", "a1", &"A".repeat(64)] {
            assert_eq!(name_problem(good), None, "{good}");
        }
        for bad in ["", "1A", "a-b", "a.b", "a b", "ü", "a\"", &"A".repeat(65)] {
            assert!(name_problem(bad).is_some(), "{bad:?}");
        }
    }

    #[test]
    fn values_are_checked() {
        assert!(value_problem("").is_some());
        assert!(value_problem("a\0b").is_some());
        assert!(value_problem(&"x".repeat(MAX_VALUE_BYTES + 1)).is_some());
        assert_eq!(value_problem("multi\nline \"quoted\" 'ü'"), None);
    }

    #[test]
    fn rendered_toml_reads_back_exactly() {
        let secrets = map(&[
            ("API_KEY", "sk-\"quoted\"\\back\nslash"),
            ("Z", "'single' ]] [table]"),
        ]);
        let text = render(&secrets);
        let back: BTreeMap<String, String> = toml::from_str(&text).unwrap();
        assert_eq!(back, secrets);
    }

    #[test]
    fn masking_replaces_every_value_longest_first_and_leaves_short_ones() {
        let secrets = map(&[("LONG", "hunter22"), ("SHORT", "hunt"), ("TINY", "ab")]);
        let secrets: Vec<(String, String)> = secrets.into_iter().collect();
        let out = mask(b"pw=hunter22 and hunt, ab, hunter22", &secrets);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "pw=[secret LONG] and [secret SHORT], ab, [secret LONG]"
        );
        assert_eq!(mask(b"nothing", &[]), b"nothing");
    }

    #[test]
    fn folders_are_written_once_read_only_and_pruned() {
        let root = tempfile::tempdir().unwrap();
        let root = root.path().join("secrets");
        let app = AppId::new();
        let one = write(&root, &app, 1, "A = \"1\"\n").unwrap();
        let again = write(&root, &app, 1, "A = \"other\"\n").unwrap();
        assert_eq!(one, again);
        assert_eq!(
            std::fs::read_to_string(one.join("secrets.toml")).unwrap(),
            "A = \"1\"\n"
        );
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&root), 0o700);
        assert_eq!(mode(&one.join("secrets.toml")), 0o444);
        assert_eq!(Some(one.clone()), folder(&root, app.as_str(), 1));
        let two = write(&root, &app, 2, "A = \"2\"\n").unwrap();
        // Values on disk are masked too: a sandbox on revision 1 may still print its value.
        let mut on_disk = mounted_values(&root, app.as_str());
        on_disk.sort();
        assert_eq!(
            on_disk,
            [
                ("A".to_owned(), "1".to_owned()),
                ("A".to_owned(), "2".to_owned())
            ]
        );
        // A write in progress is left to its start; only removing everything takes it.
        let writing = root.join(app.as_str()).join(".writing-x");
        std::fs::create_dir(&writing).unwrap();
        remove_except(&root, &app, &[2]);
        assert!(!one.exists() && two.is_dir() && writing.is_dir());
        remove_except(&root, &app, &[]);
        assert!(!root.join(app.as_str()).exists());
    }
}
