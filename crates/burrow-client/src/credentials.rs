//! The signed-in server and its session token, kept in the user's config directory, mode 0600.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};

/// What `burrow login` stores: the server and a session token for it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Credentials {
    /// The server's base URL, such as `https://burrow.example.com`.
    pub url: String,
    pub email: String,
    pub token: String,
    /// When the session ends (RFC 3339), as the server said.
    pub expires_at: String,
}

/// `$XDG_CONFIG_HOME/burrow/credentials.toml`, or `~/.config/burrow/credentials.toml`.
pub fn path() -> anyhow::Result<PathBuf> {
    // A relative XDG_CONFIG_HOME is to be ignored (the XDG spec says so): it would put the
    // token in whatever folder the command runs in, such as the one being deployed.
    let config = match std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| Path::new(v).is_absolute())
    {
        Some(dir) => PathBuf::from(dir),
        None => match std::env::var_os("HOME").filter(|v| !v.is_empty()) {
            Some(home) => PathBuf::from(home).join(".config"),
            None => bail!(
                "neither XDG_CONFIG_HOME nor HOME is set: set one so `burrow login` has somewhere to keep its token"
            ),
        },
    };
    Ok(config.join("burrow").join("credentials.toml"))
}

/// The stored credentials; an error that says to sign in when there are none.
pub fn load() -> anyhow::Result<Credentials> {
    let path = path()?;
    load_from(&path)
}

/// The stored credentials even when others could read them, so that `logout` can still
/// end a session whose token may have leaked.
pub fn load_for_logout() -> anyhow::Result<Credentials> {
    let path = path()?;
    read(&path)
}

fn read(path: &Path) -> anyhow::Result<Credentials> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    toml::from_str(&text).with_context(|| {
        format!(
            "{} is not valid: run `burrow login URL` to write it again",
            path.display()
        )
    })
}

fn load_from(path: &Path) -> anyhow::Result<Credentials> {
    let meta = match std::fs::metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            bail!("not signed in: run `burrow login URL` first")
        }
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    // A token others can read is as good as theirs: refuse it, as ssh refuses such keys.
    if meta.permissions().mode() & 0o077 != 0 {
        bail!(
            "{} can be read by other users, so its token is refused: run `chmod 600 {}` and check who read it, or `burrow login` again",
            path.display(),
            path.display()
        );
    }
    read(path)
}

/// Stores `credentials`, replacing any: written to a new file of mode 0600 in a
/// directory of mode 0700, then renamed over the old one.
pub fn save(credentials: &Credentials) -> anyhow::Result<PathBuf> {
    let path = path()?;
    save_to(&path, credentials)?;
    Ok(path)
}

fn save_to(path: &Path, credentials: &Credentials) -> anyhow::Result<()> {
    let dir = path.parent().context("the credentials path has a folder")?;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
        .with_context(|| format!("cannot make {} private", dir.display()))?;
    let text = toml::to_string(credentials).context("cannot write the credentials as TOML")?;
    let partial = dir.join(format!(".credentials.toml.{}.partial", std::process::id()));
    let _ = std::fs::remove_file(&partial);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&partial)
        .with_context(|| format!("cannot create {}", partial.display()))?;
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write {}", partial.display()))?;
    std::fs::rename(&partial, path)
        .with_context(|| format!("cannot replace {}", path.display()))?;
    Ok(())
}

/// Forgets the stored credentials; false when there were none.
pub fn remove() -> anyhow::Result<bool> {
    let path = path()?;
    match std::fs::remove_file(&path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e).with_context(|| format!("cannot remove {}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Credentials {
        Credentials {
            url: "http://127.0.0.1:8080".into(),
            email: "ann@example.com".into(),
            token: "secret-token".into(),
            expires_at: "2026-12-31T00:00:00Z".into(),
        }
    }

    #[test]
    fn saved_private_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("burrow/credentials.toml");
        save_to(&path, &sample()).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let dir_mode = std::fs::metadata(path.parent().unwrap())
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(dir_mode, 0o700);
        assert_eq!(load_from(&path).unwrap().token, "secret-token");
        // Saving again replaces the file, still private.
        let mut other = sample();
        other.token = "another".into();
        save_to(&path, &other).unwrap();
        assert_eq!(load_from(&path).unwrap().token, "another");
    }

    #[test]
    fn a_token_others_can_read_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("burrow/credentials.toml");
        save_to(&path, &sample()).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = load_from(&path).unwrap_err().to_string();
        assert!(err.contains("chmod 600"), "{err}");
    }

    #[test]
    fn missing_says_to_sign_in() {
        let dir = tempfile::tempdir().unwrap();
        let err = load_from(&dir.path().join("none.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("burrow login URL"), "{err}");
    }
}
