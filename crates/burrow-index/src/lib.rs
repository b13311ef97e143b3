//! The package index Burrow serves inside sandboxes that may install packages: the upstream index, filtered to the allowlist and its version caps.
//!
//! A host service on `127.0.0.1:3141` inside the sandbox speaks the simple repository API
//! (PEP 503 HTML and PEP 691 JSON); `PIP_INDEX_URL` and `UV_INDEX_URL` point at it, so
//! `pip install` and `uv pip install` need no other network.
//! - `/simple/` lists the allowed projects;
//! - `/simple/<name>/` asks the upstream index (PEP 691 JSON) for the project's files,
//!   and lists its wheels whose version is within the allowlist's cap. For a project that
//!   is not allowed it lists the upstream wheels with links under `/not-allowed/…` that
//!   answer 403 with the reason ("tabulate is not on this instance's package allowlist:
//!   …") as body and status phrase: pip and uv hide a missing page, and show why a
//!   download failed (pip the phrase, uv the path);
//! - each file's link is `/files/<signature>/<upstream URL>/<filename>`, signed with a key
//!   of this process, so a sandbox cannot make Burrow fetch anything but a file the index
//!   listed; the download streams from upstream through Burrow.
//!
//! Only wheels are listed: no `setup.py` runs to install a package.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use burrow_bundle::requirements::{normalize_name, not_on_allowlist};
use burrow_bundle::Allowlist;
use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use hmac::{Hmac, Mac};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use serde_json::{json, Value};

/// The index's port inside sandboxes.
pub const INDEX_PORT: u16 = 3141;
/// PEP 691's JSON content type.
const JSON_TYPE: &str = "application/vnd.pypi.simple.v1+json";

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type Body = UnsyncBoxBody<Bytes, BoxError>;

/// The environment that points a sandbox's installers at the index.
pub fn env() -> Vec<(String, String)> {
    let url = format!("http://127.0.0.1:{INDEX_PORT}/simple/");
    vec![
        ("PIP_INDEX_URL".into(), url.clone()),
        ("UV_INDEX_URL".into(), url.clone()),
        ("UV_DEFAULT_INDEX".into(), url),
        // Wheels only: the index lists no sources to build.
        ("PIP_ONLY_BINARY".into(), ":all:".into()),
        ("UV_NO_BUILD".into(), "1".into()),
    ]
}

/// The upstream index Burrow's uv uses: `UV_DEFAULT_INDEX` or `UV_INDEX_URL` from
/// Burrow's environment, else PyPI.
pub fn upstream_from_env() -> Result<url::Url, String> {
    let configured = ["UV_DEFAULT_INDEX", "UV_INDEX_URL"]
        .iter()
        .find_map(|name| {
            std::env::var(name)
                .ok()
                .filter(|v| !v.trim().is_empty())
                .map(|v| (name, v))
        });
    match configured {
        Some((name, value)) => value
            .trim()
            .parse()
            .map_err(|e| format!("{name} is not a URL ({value:?}): {e}")),
        None => Ok("https://pypi.org/simple/".parse().expect("a URL")),
    }
}

/// The index, shared by every sandbox's listener; cheap to clone.
#[derive(Debug, Clone)]
pub struct PackageIndex {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    upstream: url::Url,
    client: reqwest::Client,
    key: [u8; 32],
    /// Upstream pages fetched at once, for every sandbox together.
    fetching: tokio::sync::Semaphore,
}

/// The largest upstream project page read (PyPI's largest are a few MiB).
const MAX_PAGE_BYTES: usize = 32 << 20;

impl PackageIndex {
    /// An index over `upstream` (a PEP 691 simple index such as `https://pypi.org/simple/`).
    pub fn new(upstream: url::Url) -> Result<Self, String> {
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(300))
            .redirect(reqwest::redirect::Policy::limited(3))
            .user_agent(concat!("burrow/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("cannot make the package index's HTTP client: {e}"))?;
        let mut upstream = upstream;
        if !upstream.path().ends_with('/') {
            upstream.set_path(&format!("{}/", upstream.path()));
        }
        Ok(Self {
            inner: Arc::new(Inner {
                upstream,
                client,
                key: rand::random(),
                fetching: tokio::sync::Semaphore::new(8),
            }),
        })
    }

    /// Serves one connection from a sandbox, under `allowlist`, until it closes.
    pub async fn serve<IO>(&self, allowlist: Arc<Allowlist>, io: IO)
    where
        IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let index = self.clone();
        let service = hyper::service::service_fn(move |req: Request<Incoming>| {
            let (index, allowlist) = (index.clone(), Arc::clone(&allowlist));
            async move { Ok::<_, Infallible>(index.answer(&allowlist, req).await) }
        });
        let _ = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(Duration::from_secs(30))
            .serve_connection(TokioIo::new(io), service)
            .await;
    }

    async fn answer(&self, allowlist: &Allowlist, req: Request<Incoming>) -> Response<Body> {
        if req.method() != Method::GET && req.method() != Method::HEAD {
            return text(
                StatusCode::METHOD_NOT_ALLOWED,
                "the package index only answers GET",
            );
        }
        let json = req
            .headers()
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|a| a.contains(JSON_TYPE));
        let path = req.uri().path().to_owned();
        let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        match segments.as_slice() {
            ["simple"] => listing(allowlist, json),
            ["simple", name] => self.project(allowlist, name, json).await,
            ["files", signature, target, filename] => {
                self.download(allowlist, signature, target, filename).await
            }
            ["not-allowed", name, ..] => refused_with(StatusCode::FORBIDDEN, name),
            ["upstream-failed", name, ..] => with_reason(
                StatusCode::BAD_GATEWAY,
                format!(
                    "the package index Burrow reads did not answer for {}: try again later, \
                     or ask an admin to check the server's network",
                    normalize_name(name).unwrap_or_else(|_| "this package".into())
                ),
            ),
            _ => text(
                StatusCode::NOT_FOUND,
                "no such page: the index is at /simple/",
            ),
        }
    }

    async fn project(&self, allowlist: &Allowlist, raw: &str, json: bool) -> Response<Body> {
        let Ok(name) = normalize_name(raw) else {
            return text(
                StatusCode::NOT_FOUND,
                &format!("{raw:?} is not a valid package name"),
            );
        };
        if name != raw {
            // PEP 503: the normalised name is the page's address.
            let mut response = text(StatusCode::MOVED_PERMANENTLY, "");
            if let Ok(to) = HeaderValue::from_str(&format!("/simple/{name}/")) {
                response.headers_mut().insert(header::LOCATION, to);
            }
            return response;
        }
        let allowed = allowlist.get(&name).is_some();
        let files: Vec<Value> = match self.upstream_page(&name).await {
            Ok(page) => {
                let upstream = page["files"]
                    .as_array()
                    .map(Vec::as_slice)
                    .unwrap_or_default();
                if allowed {
                    upstream
                        .iter()
                        .filter_map(|file| self.allowed_file(allowlist, &name, file))
                        .collect()
                } else {
                    // Installers hide a missing page; they show why a download failed. So
                    // a package that is not allowed lists its wheels with links that refuse,
                    // saying why, in the status line pip prints and in a path uv prints.
                    upstream
                        .iter()
                        .filter_map(|file| refused_file(&name, file))
                        .collect()
                }
            }
            // Without the upstream's page, one stand-in wheel carries the reason the
            // same way: the refusal, which needs no upstream, or the upstream's failure.
            Err(e) => {
                if allowed {
                    tracing::warn!(package = %name, "package index: {e}");
                }
                vec![stand_in(&name, allowed)]
            }
        };
        if json {
            let body = json!({
                "meta": {"api-version": "1.0"},
                "name": name,
                "files": files,
            });
            let mut response = bytes(StatusCode::OK, body.to_string().into());
            response
                .headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static(JSON_TYPE));
            response
        } else {
            let links: String = files
                .iter()
                .map(|f| {
                    let filename = escape(f["filename"].as_str().unwrap_or_default());
                    let url = escape(f["url"].as_str().unwrap_or_default());
                    let sha = f["hashes"]["sha256"]
                        .as_str()
                        .map(|h| format!("#sha256={}", escape(h)))
                        .unwrap_or_default();
                    let requires = f["requires-python"]
                        .as_str()
                        .map(|r| format!(" data-requires-python=\"{}\"", escape(r)))
                        .unwrap_or_default();
                    format!("<a href=\"{url}{sha}\"{requires}>{filename}</a><br>\n")
                })
                .collect();
            html(format!(
                "<!DOCTYPE html>\n<html><head><meta name=\"pypi:repository-version\" content=\"1.0\"><title>Links for {name}</title></head><body><h1>Links for {name}</h1>\n{links}</body></html>\n"
            ))
        }
    }

    /// The upstream index's PEP 691 page for `name`.
    async fn upstream_page(&self, name: &str) -> Result<Value, String> {
        let _turn = self
            .inner
            .fetching
            .acquire()
            .await
            .map_err(|_| "the package index is shutting down".to_owned())?;
        let url = self
            .inner
            .upstream
            .join(&format!("{name}/"))
            .map_err(|e| format!("the upstream index's address is invalid: {e}"))?;
        let response = self
            .inner
            .client
            .get(url.clone())
            .header(header::ACCEPT, JSON_TYPE)
            .send()
            .await
            .map_err(|e| format!("the upstream index {url} did not answer: {e}"))?;
        if !response.status().is_success() {
            return Err(format!(
                "the upstream index {url} answered {}",
                response.status()
            ));
        }
        let mut body = Vec::new();
        let mut chunks = response.bytes_stream();
        while let Some(chunk) = chunks.next().await {
            let chunk = chunk.map_err(|e| format!("the upstream index {url} broke off: {e}"))?;
            if body.len() + chunk.len() > MAX_PAGE_BYTES {
                return Err(format!(
                    "the upstream index's page for {name} is larger than {} MiB",
                    MAX_PAGE_BYTES >> 20
                ));
            }
            body.extend_from_slice(&chunk);
        }
        serde_json::from_slice(&body)
            .map_err(|e| format!("the upstream index {url} sent no PEP 691 JSON page: {e}"))
    }

    /// A file of the upstream page as this index lists it: wheels within the cap only,
    /// with a signed link through Burrow.
    fn allowed_file(&self, allowlist: &Allowlist, name: &str, file: &Value) -> Option<Value> {
        let filename = file["filename"].as_str()?;
        let (project, version) = wheel_name_and_version(filename)?;
        if project != name || !allowlist.admits(name, &version) {
            return None;
        }
        let upstream = self.inner.upstream.join(file["url"].as_str()?).ok()?;
        let target = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(upstream.as_str());
        let signature = self.sign(&format!("{target}/{filename}"));
        let mut listed = json!({
            "filename": filename,
            "url": format!("/files/{signature}/{target}/{filename}"),
            "hashes": file["hashes"].clone(),
        });
        for field in ["requires-python", "yanked"] {
            if !file[field].is_null() {
                listed[field] = file[field].clone();
            }
        }
        Some(listed)
    }

    fn mac(&self, signed: &str) -> Hmac<sha2::Sha256> {
        let mut mac =
            Hmac::<sha2::Sha256>::new_from_slice(&self.inner.key).expect("any key length");
        mac.update(signed.as_bytes());
        mac
    }

    fn sign(&self, signed: &str) -> String {
        hex::encode(self.mac(signed).finalize().into_bytes())
    }

    /// Whether `signature` is this process's for `signed`, compared in constant time.
    fn verify(&self, signed: &str, signature: &str) -> bool {
        hex::decode(signature).is_ok_and(|s| self.mac(signed).verify_slice(&s).is_ok())
    }

    /// Streams a file the index listed from upstream, checked again against the allowlist.
    async fn download(
        &self,
        allowlist: &Allowlist,
        signature: &str,
        target: &str,
        filename: &str,
    ) -> Response<Body> {
        // The file's name is signed with its address: neither can be swapped.
        if !self.verify(&format!("{target}/{filename}"), signature) {
            return text(
                StatusCode::NOT_FOUND,
                "no such file: links come from the index's pages",
            );
        }
        // The allowlist may have changed since the page was listed.
        match wheel_name_and_version(filename) {
            Some((project, version)) if allowlist.admits(&project, &version) => {}
            Some((project, _)) if allowlist.get(&project).is_none() => return refused(&project),
            _ => {
                return text(
                    StatusCode::FORBIDDEN,
                    &format!("{filename} is above the version the package allowlist allows"),
                )
            }
        }
        let Some(url) = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(target)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
        else {
            return text(StatusCode::NOT_FOUND, "no such file");
        };
        let response = match self.inner.client.get(&url).send().await {
            Ok(r) if r.status().is_success() => r,
            Ok(r) => {
                return text(
                    StatusCode::BAD_GATEWAY,
                    &format!("the upstream index answered {} for {filename}", r.status()),
                )
            }
            Err(e) => {
                return text(
                    StatusCode::BAD_GATEWAY,
                    &format!("the upstream index did not send {filename}: {e}"),
                )
            }
        };
        let length = response.content_length();
        let stream = response
            .bytes_stream()
            .map_ok(Frame::data)
            .map_err(|e| Box::new(e) as BoxError);
        let mut answer = Response::new(StreamBody::new(stream).boxed_unsync());
        let headers = answer.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/octet-stream"),
        );
        if let Some(length) = length {
            headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
        }
        answer
    }
}

/// A wheel's project (normalised) and version, from its file name
/// (`name-version(-build)?-python-abi-platform.whl`). Other files are not wheels.
pub fn wheel_name_and_version(filename: &str) -> Option<(String, String)> {
    let stem = filename.strip_suffix(".whl")?;
    let mut parts = stem.split('-');
    let name = normalize_name(parts.next()?).ok()?;
    let version = parts.next()?.to_owned();
    (stem.split('-').count() >= 5).then_some((name, version))
}

/// A wheel of a package that is not allowed, linked to a refusal.
fn refused_file(name: &str, file: &Value) -> Option<Value> {
    let filename = file["filename"].as_str()?;
    let (project, _) = wheel_name_and_version(filename)?;
    (project == name).then(|| {
        json!({
            "filename": filename,
            "url": format!("/not-allowed/{name}/ask-an-admin-to-run/burrow-packages-add-{name}/{filename}"),
            "hashes": {},
        })
    })
}

fn refused(name: &str) -> Response<Body> {
    refused_with(StatusCode::NOT_FOUND, name)
}

/// A wheel of `name` that stands in when the upstream index gave no page: its
/// link answers why there is nothing to install.
fn stand_in(name: &str, allowed: bool) -> Value {
    let filename = format!("{}-0-py3-none-any.whl", name.replace('-', "_"));
    let url = if allowed {
        format!("/upstream-failed/{name}/{filename}")
    } else {
        format!("/not-allowed/{name}/ask-an-admin-to-run/burrow-packages-add-{name}/{filename}")
    };
    json!({"filename": filename, "url": url, "hashes": {}})
}

fn refused_with(status: StatusCode, name: &str) -> Response<Body> {
    let name = normalize_name(name).unwrap_or_else(|_| "this package".into());
    with_reason(status, not_on_allowlist(&name))
}

/// A plain-text answer whose status line carries `message`, which pip prints.
fn with_reason(status: StatusCode, message: String) -> Response<Body> {
    let mut response = text(status, &message);
    if let Ok(phrase) = hyper::ext::ReasonPhrase::try_from(message.into_bytes()) {
        response.extensions_mut().insert(phrase);
    }
    response
}

fn listing(allowlist: &Allowlist, json: bool) -> Response<Body> {
    if json {
        let projects: Vec<Value> = allowlist.names().map(|n| json!({"name": n})).collect();
        let body = json!({"meta": {"api-version": "1.0"}, "projects": projects});
        let mut response = bytes(StatusCode::OK, body.to_string().into());
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(JSON_TYPE));
        return response;
    }
    let links: String = allowlist
        .names()
        .map(|n| format!("<a href=\"/simple/{n}/\">{n}</a><br>\n"))
        .collect();
    html(format!(
        "<!DOCTYPE html>\n<html><head><meta name=\"pypi:repository-version\" content=\"1.0\"><title>Burrow's package index</title></head><body>\n{links}</body></html>\n"
    ))
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn bytes(status: StatusCode, body: Bytes) -> Response<Body> {
    let mut response = Response::new(
        Full::new(body)
            .map_err(|never| match never {})
            .boxed_unsync(),
    );
    *response.status_mut() = status;
    response
}

fn html(page: String) -> Response<Body> {
    let mut response = bytes(StatusCode::OK, page.into());
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/vnd.pypi.simple.v1+html"),
    );
    response
}

fn text(status: StatusCode, message: &str) -> Response<Body> {
    let mut response = bytes(status, format!("{message}\n").into());
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wheel_names_and_versions() {
        assert_eq!(
            wheel_name_and_version("tabulate-0.9.0-py3-none-any.whl"),
            Some(("tabulate".into(), "0.9.0".into()))
        );
        assert_eq!(
            wheel_name_and_version("Scikit_Learn-1.5.0-1-cp311-cp311-manylinux_2_17_x86_64.whl"),
            Some(("scikit-learn".into(), "1.5.0".into()))
        );
        assert_eq!(wheel_name_and_version("tabulate-0.9.0.tar.gz"), None);
        assert_eq!(wheel_name_and_version("tabulate-0.9.0.whl"), None);
    }

    #[test]
    fn signed_links_cannot_be_made_up() {
        let index = PackageIndex::new("https://pypi.org/simple".parse().unwrap()).unwrap();
        let other = PackageIndex::new("https://pypi.org/simple".parse().unwrap()).unwrap();
        assert_eq!(index.inner.upstream.as_str(), "https://pypi.org/simple/");
        assert_ne!(index.sign("x"), other.sign("x"), "a key per process");
        assert_eq!(index.sign("x"), index.sign("x"));
        let signature = index.sign("aHR0cHM6Ly9l/pkg-2.0-py3-none-any.whl");
        assert!(index.verify("aHR0cHM6Ly9l/pkg-2.0-py3-none-any.whl", &signature));
        assert!(
            !index.verify("aHR0cHM6Ly9l/pkg-1.0-py3-none-any.whl", &signature),
            "another file name under the same address"
        );
        assert!(!index.verify("aHR0cHM6Ly9l/pkg-2.0-py3-none-any.whl", "00"));
    }
}
