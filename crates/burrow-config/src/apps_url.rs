//! The pattern of app origins: every app is served from an origin of its own, its id in the host.

use std::fmt;
use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

/// Where `apps_url` puts the app's id.
pub const APP_PLACEHOLDER: &str = "{app}";

/// A URL pattern such as `https://{app}.apps.example.com`: the app's id is the first
/// label of the host, so each app has an origin of its own and one app's script can
/// never read another's pages or receive its cookie.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct AppsUrl {
    https: bool,
    /// The host after the app's label, lowercase, with its leading dot: `.apps.localhost`.
    suffix: String,
    port: Option<u16>,
}

impl AppsUrl {
    /// Parses a pattern; the error says what is wrong and how to write it.
    pub fn parse(pattern: &str) -> Result<Self, String> {
        let bad = |why: &str| {
            format!("apps_url {pattern:?} {why}: write it like https://{{app}}.apps.example.com")
        };
        let (scheme, rest) = pattern
            .split_once("://")
            .ok_or_else(|| bad("has no scheme"))?;
        let https = match scheme.to_ascii_lowercase().as_str() {
            "https" => true,
            "http" => false,
            _ => return Err(bad("is neither http nor https")),
        };
        let authority = rest.strip_suffix('/').unwrap_or(rest);
        if authority.contains(['/', '?', '#', '@']) {
            return Err(bad(
                "has a path, query or user: apps are served at the root of their origin",
            ));
        }
        let after = authority
            .strip_prefix(APP_PLACEHOLDER)
            .filter(|after| after.starts_with('.'))
            .ok_or_else(|| bad("does not start its host with the label {app}"))?;
        if after.contains(APP_PLACEHOLDER) {
            return Err(bad("has {app} more than once"));
        }
        // The rest must be a valid host (and port) once a real label stands in.
        let sample = url::Url::parse(&format!("{scheme}://x{after}/"))
            .map_err(|e| bad(&format!("is not a valid URL ({e})")))?;
        let host = match sample.host() {
            Some(url::Host::Domain(host)) => host.to_owned(),
            _ => return Err(bad("does not have a domain name for its host")),
        };
        let suffix = host
            .strip_prefix('x')
            .filter(|s| s.len() > 1)
            .ok_or_else(|| bad("has nothing after {app}."))?
            .to_owned();
        Ok(Self {
            https,
            suffix,
            port: sample.port(),
        })
    }

    /// The default for a server whose apps listener is `apps_listen`:
    /// `http://{app}.apps.localhost:PORT`. Browsers resolve every `*.localhost`
    /// name to loopback, so this needs no DNS.
    pub fn localhost(apps_listen: SocketAddr) -> Self {
        Self {
            https: false,
            suffix: ".apps.localhost".into(),
            port: Some(apps_listen.port()),
        }
    }

    /// The origin of one app, as a URL ending in `/`: `http://abc.apps.localhost:8081/`.
    pub fn origin(&self, app: &str) -> url::Url {
        url::Url::parse(&self.origin_string(app))
            .expect("a parsed pattern with a DNS label makes a URL")
    }

    /// The ASCII serialisation of one app's origin, as browsers send it in `Origin`.
    pub fn origin_string(&self, app: &str) -> String {
        let scheme = if self.https { "https" } else { "http" };
        match self.port {
            Some(port) => format!("{scheme}://{app}{}:{port}", self.suffix),
            None => format!("{scheme}://{app}{}", self.suffix),
        }
    }

    /// The app a request is for, from its `Host` header (`abc.apps.localhost:8081`):
    /// the first label, when the rest is this pattern's. Ports are not compared: a
    /// reverse proxy in front may change them.
    pub fn app_in_host<'h>(&self, host: &'h str) -> Option<&'h str> {
        let name = match host.rsplit_once(':') {
            Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
            _ => host,
        };
        let name = name.strip_suffix('.').unwrap_or(name);
        if name.len() <= self.suffix.len() {
            return None;
        }
        let (label, suffix) = name.split_at(name.len() - self.suffix.len());
        let is_label = label.len() <= 63
            && label
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        (suffix.eq_ignore_ascii_case(&self.suffix) && is_label).then_some(label)
    }
}

impl fmt::Display for AppsUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.origin_string(APP_PLACEHOLDER))
    }
}

impl TryFrom<String> for AppsUrl {
    type Error = String;
    fn try_from(pattern: String) -> Result<Self, String> {
        Self::parse(&pattern)
    }
}

impl From<AppsUrl> for String {
    fn from(url: AppsUrl) -> String {
        url.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_give_one_origin_per_app() {
        let url = AppsUrl::parse("https://{app}.Apps.Example.com/").unwrap();
        assert_eq!(url.to_string(), "https://{app}.apps.example.com");
        assert_eq!(url.origin("abc").as_str(), "https://abc.apps.example.com/");
        assert_eq!(url.origin_string("abc"), "https://abc.apps.example.com");
        assert_eq!(url.origin("a").scheme(), "https");
        let local = AppsUrl::localhost("127.0.0.1:8081".parse().unwrap());
        assert_eq!(local.to_string(), "http://{app}.apps.localhost:8081");
        assert_eq!(
            local,
            AppsUrl::parse("http://{app}.apps.localhost:8081").unwrap()
        );
        assert_eq!(local.origin_string("k2"), "http://k2.apps.localhost:8081");
    }

    #[test]
    fn the_app_comes_from_the_first_label_of_the_host() {
        let url = AppsUrl::parse("http://{app}.apps.localhost:8081").unwrap();
        assert_eq!(url.app_in_host("abc.apps.localhost:8081"), Some("abc"));
        assert_eq!(url.app_in_host("abc.APPS.localhost"), Some("abc"));
        assert_eq!(url.app_in_host("abc.apps.localhost."), Some("abc"));
        for other in [
            "apps.localhost:8081",
            ".apps.localhost",
            "a.b.apps.localhost",
            "ABC.apps.localhost",
            "abc.apps.localhost.evil.com",
            "abcapps.localhost",
            "127.0.0.1:8081",
            "abc.apps.localhost:x",
            "",
        ] {
            assert_eq!(url.app_in_host(other), None, "{other}");
        }
    }

    #[test]
    fn bad_patterns_say_how_to_write_them() {
        for (bad, why) in [
            ("apps.example.com", "no scheme"),
            ("ftp://{app}.example.com", "neither http"),
            ("https://apps.example.com/{app}/", "path"),
            ("https://apps.example.com", "does not start"),
            ("https://x{app}.example.com", "does not start"),
            ("https://{app}.{app}.example.com", "more than once"),
            ("https://{app}.", "nothing after"),
            ("https://{app}.exa mple.com", "not a valid URL"),
            ("https://{app}.example.com:99999", "not a valid URL"),
        ] {
            let err = AppsUrl::parse(bad).unwrap_err();
            assert!(
                err.contains(why) && err.contains("https://{app}."),
                "{bad}: {err}"
            );
        }
    }
}
