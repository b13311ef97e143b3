//! A string that never shows itself in `Debug` output or logs.

use serde::{Deserialize, Serialize};

/// A secret configuration value: a password, a key, a URL with credentials.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value itself, for the one place that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// For URLs: the scheme and host without credentials, safe to log.
    pub fn redacted_url(&self) -> String {
        match url::Url::parse(&self.0) {
            Ok(mut url) if url.has_host() => {
                let _ = url.set_password(None);
                let _ = url.set_username("");
                url.set_query(None);
                url.to_string()
            }
            _ => self.0.split('?').next().unwrap_or_default().to_owned(),
        }
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_shows_in_debug_and_urls_lose_credentials() {
        let s = Secret::new("postgres://burrow:hunter2@db.internal:5432/burrow?sslmode=require");
        assert_eq!(format!("{s:?}"), "Secret([redacted])");
        assert_eq!(s.redacted_url(), "postgres://db.internal:5432/burrow");
    }
}
