//! The web UI's static files, embedded at build time from `web/dist`.
//!
//! The UI is a single-page app: its routes live in the browser, so every path
//! that is not a file is answered with `index.html` (see [`lookup`]).

/// One embedded file.
#[derive(Debug)]
pub struct Asset {
    /// The URL path, such as `/assets/index-3f2a.js`.
    pub path: &'static str,
    pub content_type: &'static str,
    /// A strong validator for the bytes, quoted.
    pub etag: &'static str,
    pub bytes: &'static [u8],
    /// The same bytes gzipped, for text.
    pub gzip: Option<&'static [u8]>,
}

impl Asset {
    /// Vite names what it emits under `/assets/` by content hash, so those
    /// never change and may be cached for good; anything else is revalidated.
    pub fn immutable(&self) -> bool {
        self.path.starts_with("/assets/")
    }
}

include!(concat!(env!("OUT_DIR"), "/assets.rs"));

/// The file at `path`, or the app shell for a client-side route.
///
/// Paths under `/assets/` name files only, so a missing one is `None` rather
/// than the shell: a stale page asking for an old bundle gets a 404, not HTML
/// served as JavaScript.
pub fn lookup(path: &str) -> Option<&'static Asset> {
    if let Some(asset) = ASSETS
        .iter()
        .find(|a| a.path == path && a.path != "/index.html")
    {
        return Some(asset);
    }
    if path.starts_with("/assets/") {
        return None;
    }
    index()
}

/// `index.html`, the app shell.
pub fn index() -> Option<&'static Asset> {
    ASSETS.iter().find(|a| a.path == "/index.html")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_routes_get_the_shell_and_assets_get_themselves() {
        let shell = index().expect("the build embeds index.html");
        assert!(std::str::from_utf8(shell.bytes)
            .expect("utf-8")
            .contains("<div id=\"root\">"));
        assert_eq!(
            lookup("/projects/abc/apps/def").map(|a| a.path),
            Some("/index.html")
        );
        assert_eq!(lookup("/").map(|a| a.path), Some("/index.html"));
        let script = ASSETS
            .iter()
            .find(|a| a.path.starts_with("/assets/") && a.path.ends_with(".js"))
            .expect("the build emits a script bundle");
        assert_eq!(lookup(script.path).map(|a| a.path), Some(script.path));
        assert!(script.immutable());
        assert!(script.content_type.starts_with("text/javascript"));
        assert!(lookup("/assets/gone-1234.js").is_none());
        let gzip = script.gzip.expect("scripts are stored gzipped too");
        assert!(gzip.len() < script.bytes.len());
        assert_eq!(&gzip[..2], &[0x1f, 0x8b]);
        assert!(!shell.immutable());
    }
}
