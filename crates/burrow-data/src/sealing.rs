//! Data source passwords sealed at rest: AES-256-GCM (`ring`) under the instance's key,
//! bound to the source they belong to, so a sealed value copied onto another row does
//! not open.
//!
//! The key comes from configuration (`data.sources_key`, 32 bytes as base64, the same on
//! every replica) or from a key file Burrow creates beside its data with mode 0600.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use ring::rand::{SecureRandom, SystemRandom};

use crate::DataError;

/// What a sealed value starts with: the format, for a later one to be told apart.
const PREFIX: &str = "v1:";

/// Seals and opens data source passwords; cheap to clone.
#[derive(Clone)]
pub struct Sealer {
    key: std::sync::Arc<LessSafeKey>,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer([key redacted])")
    }
}

impl Sealer {
    /// A sealer over 32 bytes of key.
    pub fn new(key: &[u8]) -> Result<Self, DataError> {
        let unbound = UnboundKey::new(&AES_256_GCM, key).map_err(|_| {
            DataError::Invalid(format!(
                "the data sources key has {} bytes; it must have 32 (make one with \
                 `openssl rand -base64 32`)",
                key.len()
            ))
        })?;
        Ok(Self {
            key: std::sync::Arc::new(LessSafeKey::new(unbound)),
        })
    }

    /// A sealer over a base64 key from configuration.
    pub fn from_base64(key: &str) -> Result<Self, DataError> {
        let bytes = STANDARD.decode(key.trim()).map_err(|e| {
            DataError::Invalid(format!(
                "data.sources_key is not base64 ({e}); make one with `openssl rand -base64 32`"
            ))
        })?;
        Self::new(&bytes)
    }

    /// A sealer over the key in `path`, which is made (32 random bytes, mode 0600) when
    /// missing. A key file others can read is refused, not used.
    pub fn from_key_file(path: &Path) -> Result<Self, DataError> {
        let failed = |what: &str, e: std::io::Error| {
            DataError::Internal(format!(
                "{what} the data sources key {}: {e}",
                path.display()
            ))
        };
        if !path.exists() {
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(|e| failed("making the folder of", e))?;
            }
            let mut key = [0u8; 32];
            SystemRandom::new()
                .fill(&mut key)
                .map_err(|_| DataError::Internal("no randomness for a new key".into()))?;
            // Written whole beside its place, then linked in: a reader never sees a part
            // of a key, and of two processes making one, the first link wins.
            let partial = path.with_extension(format!("partial-{}", std::process::id()));
            let written = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&partial)
                .and_then(|mut file| {
                    file.write_all(STANDARD.encode(key).as_bytes())?;
                    file.sync_all()
                });
            let linked = written.and_then(|()| match std::fs::hard_link(&partial, path) {
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
                other => other,
            });
            let _ = std::fs::remove_file(&partial);
            linked.map_err(|e| failed("creating", e))?;
        }
        let mode = std::fs::metadata(path)
            .map_err(|e| failed("reading", e))?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            return Err(DataError::Invalid(format!(
                "the data sources key {} can be read by others (mode {:o}): run `chmod 600 {}`",
                path.display(),
                mode & 0o777,
                path.display()
            )));
        }
        let text = std::fs::read_to_string(path).map_err(|e| failed("reading", e))?;
        Self::from_base64(&text).map_err(|e| {
            DataError::Invalid(format!("the data sources key {}: {e}", path.display()))
        })
    }

    /// `secret` sealed for the source `bound_to`.
    pub fn seal(&self, secret: &str, bound_to: &str) -> Result<String, DataError> {
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new()
            .fill(&mut nonce)
            .map_err(|_| DataError::Internal("no randomness for a nonce".into()))?;
        let mut sealed = secret.as_bytes().to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(bound_to.as_bytes()),
                &mut sealed,
            )
            .map_err(|_| DataError::Internal("sealing a password failed".into()))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        Ok(format!("{PREFIX}{}", STANDARD.encode(out)))
    }

    /// Opens what [`Sealer::seal`] sealed for `bound_to`.
    pub fn open(&self, sealed: &str, bound_to: &str) -> Result<String, DataError> {
        let unreadable = || {
            DataError::Invalid(
                "this data source's password cannot be opened with this instance's key: \
                 was it saved under another data.sources_key? Enter the password again"
                    .into(),
            )
        };
        let bytes = sealed
            .strip_prefix(PREFIX)
            .and_then(|b| STANDARD.decode(b).ok())
            .filter(|b| b.len() >= NONCE_LEN)
            .ok_or_else(unreadable)?;
        let (nonce, body) = bytes.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| unreadable())?;
        let mut body = body.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(bound_to.as_bytes()), &mut body)
            .map_err(|_| unreadable())?;
        String::from_utf8(plain.to_vec()).map_err(|_| unreadable())
    }
}

/// Where the instance's key comes from, read when first needed: an instance without
/// data sources never makes a key file. Cheap to clone.
#[derive(Clone)]
pub struct Keyring(std::sync::Arc<KeyringInner>);

struct KeyringInner {
    configured: Option<String>,
    file: std::path::PathBuf,
    sealer: std::sync::OnceLock<Sealer>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyring")
            .field("configured", &self.0.configured.is_some())
            .field("file", &self.0.file)
            .finish()
    }
}

impl Keyring {
    /// The key from configuration (base64) when given, else the key file at `file`.
    pub fn new(configured: Option<String>, file: std::path::PathBuf) -> Self {
        Self(std::sync::Arc::new(KeyringInner {
            configured,
            file,
            sealer: std::sync::OnceLock::new(),
        }))
    }

    /// The sealer, loading the key the first time; a failure is tried again next time.
    pub fn sealer(&self) -> Result<Sealer, DataError> {
        if let Some(sealer) = self.0.sealer.get() {
            return Ok(sealer.clone());
        }
        // The key is the instance's business: what is wrong with it is for the logs and
        // its admin, not for whoever happened to add a source.
        let sealer = match &self.0.configured {
            Some(key) => Sealer::from_base64(key),
            None => Sealer::from_key_file(&self.0.file),
        }
        .map_err(|e| DataError::Internal(format!("the data sources key: {e}")))?;
        Ok(self.0.sealer.get_or_init(|| sealer).clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_only_what_it_sealed_for_the_same_source() {
        let sealer = Sealer::new(&[7u8; 32]).unwrap();
        let sealed = sealer.seal("hunter2-password", "src_a").unwrap();
        assert!(sealed.starts_with("v1:"));
        assert!(!sealed.contains("hunter2"));
        assert_eq!(sealer.open(&sealed, "src_a").unwrap(), "hunter2-password");
        // Two seals of one password differ: a fresh nonce each time.
        assert_ne!(sealed, sealer.seal("hunter2-password", "src_a").unwrap());
        // Another source's row, another key, a flipped byte: none opens.
        assert!(sealer.open(&sealed, "src_b").is_err());
        let other = Sealer::new(&[8u8; 32]).unwrap();
        let err = other.open(&sealed, "src_a").unwrap_err().to_string();
        assert!(err.contains("Enter the password again"), "{err}");
        let mut bytes = STANDARD.decode(&sealed[3..]).unwrap();
        bytes[20] ^= 1;
        let tampered = format!("v1:{}", STANDARD.encode(bytes));
        assert!(sealer.open(&tampered, "src_a").is_err());
        assert!(sealer.open("plain", "src_a").is_err());
    }

    #[test]
    fn a_key_must_have_32_bytes() {
        let err = Sealer::from_base64("c2hvcnQ=").unwrap_err().to_string();
        assert!(err.contains("5 bytes; it must have 32"), "{err}");
        assert!(Sealer::from_base64("not base64!").is_err());
    }

    #[test]
    fn the_key_file_is_made_private_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys/sources.key");
        let first = Sealer::from_key_file(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let sealed = first.seal("pw", "src").unwrap();
        // A restart reads the same key.
        let again = Sealer::from_key_file(&path).unwrap();
        assert_eq!(again.open(&sealed, "src").unwrap(), "pw");
        // A key file others can read is refused.
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = Sealer::from_key_file(&path).unwrap_err().to_string();
        assert!(err.contains("chmod 600"), "{err}");
    }
}
