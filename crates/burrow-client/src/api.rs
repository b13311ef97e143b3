//! Calls to a Burrow server's `/api/v1`: bearer auth, the server's errors passed on unchanged, and Server-Sent Events.

use std::fmt;

use anyhow::Context;
use reqwest::{Method, RequestBuilder, Response};
use serde::de::DeserializeOwned;
use serde::Deserialize;

use crate::credentials::Credentials;

/// An error response from the server: its message, and every problem it listed.
#[derive(Debug)]
pub struct ServerError {
    pub status: u16,
    pub code: String,
    pub message: String,
    pub details: Vec<Finding>,
}

/// One problem of several, such as a refused bundle's.
#[derive(Debug, Deserialize)]
pub struct Finding {
    pub file: Option<String>,
    pub line: Option<usize>,
    pub message: String,
}

impl fmt::Display for ServerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        for d in &self.details {
            match (&d.file, d.line) {
                (Some(file), Some(line)) => write!(f, "\n  {file}:{line}: {}", d.message)?,
                (Some(file), None) => write!(f, "\n  {file}: {}", d.message)?,
                _ => write!(f, "\n  {}", d.message)?,
            }
        }
        if self.status == 401 {
            f.write_str("\n(sign in again with `burrow login URL`)")?;
        }
        Ok(())
    }
}

impl std::error::Error for ServerError {}

#[derive(Deserialize)]
struct ErrorBody {
    error: ErrorInfo,
}

#[derive(Deserialize)]
struct ErrorInfo {
    code: String,
    message: String,
    #[serde(default)]
    details: Vec<Finding>,
}

/// A signed-in connection to one server.
#[derive(Debug, Clone)]
pub struct Api {
    base: url::Url,
    token: Option<String>,
    http: reqwest::Client,
}

impl Api {
    /// A connection to `base` without a session, for signing in.
    pub fn anonymous(base: url::Url) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .user_agent(concat!("burrow-cli/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .context("cannot set up the HTTP client")?;
        Ok(Self {
            base,
            token: None,
            http,
        })
    }

    /// A connection with the stored session.
    pub fn signed_in(credentials: &Credentials) -> anyhow::Result<Self> {
        let base = parse_server_url(&credentials.url)?;
        let mut api = Self::anonymous(base)?;
        api.token = Some(credentials.token.clone());
        Ok(api)
    }

    pub fn base(&self) -> &url::Url {
        &self.base
    }

    /// A request to `path` (which starts with `/api/v1/` and may have a query), with the session.
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let (path, query) = path.split_once('?').unwrap_or((path, ""));
        let mut url = self.base.clone();
        url.set_path(path);
        url.set_query((!query.is_empty()).then_some(query));
        let request = self.http.request(method, url);
        match &self.token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    /// Sends `request`; an error status becomes the server's [`ServerError`].
    pub async fn send(&self, request: RequestBuilder) -> anyhow::Result<Response> {
        let response = request.send().await.map_err(|e| {
            anyhow::anyhow!(
                "cannot reach {}: {}",
                self.base,
                std::error::Error::source(&e)
                    .map(ToString::to_string)
                    .unwrap_or_else(|| e.to_string())
            )
        })?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        if status.is_redirection() {
            let to = response
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("elsewhere")
                .to_owned();
            anyhow::bail!(
                "{} answered {status}, sending requests to {to}: sign in with the server's own address (`burrow login URL`)",
                self.base
            );
        }
        let text = response.text().await.unwrap_or_default();
        Err(match serde_json::from_str::<ErrorBody>(&text) {
            Ok(body) => ServerError {
                status: status.as_u16(),
                code: body.error.code,
                message: body.error.message,
                details: body.error.details,
            }
            .into(),
            Err(_) => anyhow::anyhow!(
                "{} answered {status}{}{}",
                self.base,
                if text.trim().is_empty() { "" } else { ": " },
                text.trim().chars().take(300).collect::<String>()
            ),
        })
    }

    /// `GET path`, read as JSON.
    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> anyhow::Result<T> {
        json(self.send(self.request(Method::GET, path)).await?).await
    }

    /// `POST path` with a JSON body, read as JSON.
    pub async fn post<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &serde_json::Value,
    ) -> anyhow::Result<T> {
        json(
            self.send(self.request(Method::POST, path).json(body))
                .await?,
        )
        .await
    }

    /// Opens a Server-Sent Events stream at `path`.
    pub async fn events(&self, path: &str) -> anyhow::Result<Events> {
        let response = self
            .send(
                self.request(Method::GET, path)
                    .header(reqwest::header::ACCEPT, "text/event-stream"),
            )
            .await?;
        Ok(Events {
            response,
            buffer: Vec::new(),
            searched: 0,
        })
    }
}

/// Reads `response` as JSON.
pub async fn json<T: DeserializeOwned>(response: Response) -> anyhow::Result<T> {
    let url = response.url().clone();
    let text = response
        .text()
        .await
        .with_context(|| format!("reading the answer from {url}"))?;
    serde_json::from_str(&text).with_context(|| format!("{url} answered something unexpected"))
}

/// Checks a server URL as given to `burrow login`: http or https, nothing after the host.
pub fn parse_server_url(given: &str) -> anyhow::Result<url::Url> {
    let with_scheme = if given.contains("://") {
        given.to_owned()
    } else {
        format!("https://{given}")
    };
    let url = url::Url::parse(&with_scheme).with_context(|| {
        format!(
            "`{given}` is not a URL: give the server's address, such as https://burrow.example.com"
        )
    })?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        anyhow::bail!(
            "`{given}` is not an http or https address: give the server's address, such as https://burrow.example.com"
        );
    }
    if url.path() != "/" || url.query().is_some() {
        anyhow::bail!(
            "`{given}` has a path: give only the server's address, such as {}://{}",
            url.scheme(),
            url.host_str().unwrap_or_default()
        );
    }
    Ok(url)
}

/// `given` as one path segment: every byte but letters, digits, `-` and `_` percent-encoded,
/// so that a `/` or `?` typed as a name never reaches another route. URLs treat `.` and
/// `..` as steps up however they are written, so those (and nothing) are refused here.
pub fn segment(given: &str) -> anyhow::Result<String> {
    if matches!(given, "" | "." | "..") {
        anyhow::bail!("`{given}` cannot be a name in a URL: give the name as it is listed");
    }
    let mut out = String::with_capacity(given.len());
    for b in given.bytes() {
        if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    Ok(out)
}

/// One Server-Sent Event: its type and its data.
#[derive(Debug, PartialEq, Eq)]
pub struct Event {
    pub kind: String,
    pub data: String,
}

/// A stream of Server-Sent Events, read as they arrive.
#[derive(Debug)]
pub struct Events {
    response: Response,
    buffer: Vec<u8>,
    /// How much of `buffer` is known to hold no event's end: a large event is searched
    /// once, not again with each chunk.
    searched: usize,
}

impl Events {
    /// The next event; `None` when the server closed the stream.
    pub async fn next(&mut self) -> anyhow::Result<Option<Event>> {
        loop {
            if let Some(event) = take_event(&mut self.buffer, self.searched) {
                self.searched = 0;
                if event.kind.is_empty() && event.data.is_empty() {
                    continue; // a keep-alive comment
                }
                return Ok(Some(event));
            }
            // A separator may straddle the next chunk: look again from 3 bytes back.
            self.searched = self.buffer.len().saturating_sub(3);
            match self
                .response
                .chunk()
                .await
                .context("the connection to the server broke")?
            {
                Some(bytes) => self.buffer.extend_from_slice(&bytes),
                None => return Ok(None),
            }
        }
    }
}

/// Takes one complete event (ended by a blank line) off the front of `buffer`, whose
/// first `searched` bytes are known to hold no blank line.
fn take_event(buffer: &mut Vec<u8>, searched: usize) -> Option<Event> {
    // Bytes, not text: a chunk may end inside a character.
    let (end, gap) = [&b"\n\n"[..], b"\r\n\r\n"]
        .iter()
        .filter_map(|sep| {
            buffer[searched.min(buffer.len())..]
                .windows(sep.len())
                .position(|w| w == *sep)
                .map(|at| (searched + at, sep.len()))
        })
        .min()?;
    // Lines end with CRLF, LF or CR alike (axum starts a new `data:` line after each CR).
    let block = String::from_utf8_lossy(&buffer[..end])
        .replace("\r\n", "\n")
        .replace('\r', "\n");
    buffer.drain(..end + gap);
    let mut kind = String::new();
    let mut data: Vec<&str> = Vec::new();
    for line in block.split('\n') {
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match field {
            "event" => kind = value.to_owned(),
            "data" => data.push(value),
            _ => {} // comments (`: keep-alive`), ids and retries
        }
    }
    Some(Event {
        kind,
        data: data.join("\n"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_split_on_blank_lines_and_multi_line_data_is_joined() {
        let mut buffer =
            b"event: log\ndata: one\ndata: two\n\n: keep-alive\n\nevent: end\ndata: succ".to_vec();
        assert_eq!(
            take_event(&mut buffer, 0),
            Some(Event {
                kind: "log".into(),
                data: "one\ntwo".into()
            })
        );
        assert_eq!(
            take_event(&mut buffer, 0),
            Some(Event {
                kind: String::new(),
                data: String::new()
            })
        );
        // The last event is not complete yet.
        assert_eq!(take_event(&mut buffer, 0), None);
        buffer.extend_from_slice(b"eeded\n\n");
        assert_eq!(
            take_event(&mut buffer, 0),
            Some(Event {
                kind: "end".into(),
                data: "succeeded".into()
            })
        );
    }

    #[test]
    fn a_segment_cannot_climb_or_split_the_path() {
        assert_eq!(segment("API_KEY").unwrap(), "API_KEY");
        assert_eq!(segment("a/b?c").unwrap(), "a%2Fb%3Fc");
        assert_eq!(segment("../x").unwrap(), "%2E%2E%2Fx");
        assert_eq!(segment("é").unwrap(), "%C3%A9");
        for step in ["", ".", ".."] {
            assert!(segment(step).is_err(), "{step:?}");
        }
    }

    #[test]
    fn carriage_returns_end_lines_too() {
        let mut buffer = b"event: log\ndata: 50%\rdata: 100%\ndata: \n\n".to_vec();
        assert_eq!(
            take_event(&mut buffer, 0),
            Some(Event {
                kind: "log".into(),
                data: "50%\n100%\n".into()
            })
        );
        // A search resumed part-way finds the same end.
        let mut buffer = b"event: log\ndata: x\n\n".to_vec();
        assert_eq!(
            take_event(&mut buffer, 12).map(|e| e.data),
            Some("x".into())
        );
    }

    #[test]
    fn server_urls_are_checked() {
        assert_eq!(
            parse_server_url("http://127.0.0.1:8080/").unwrap().as_str(),
            "http://127.0.0.1:8080/"
        );
        assert_eq!(
            parse_server_url("burrow.example.com").unwrap().as_str(),
            "https://burrow.example.com/"
        );
        assert!(parse_server_url("ftp://x")
            .unwrap_err()
            .to_string()
            .contains("not an http"));
        assert!(parse_server_url("http://x/api/v1")
            .unwrap_err()
            .to_string()
            .contains("has a path"));
    }

    #[test]
    fn a_refusal_lists_every_problem_under_the_message() {
        let e = ServerError {
            status: 422,
            code: "bundle_invalid".into(),
            message: "the bundle was refused".into(),
            details: vec![
                Finding {
                    file: Some("app.py".into()),
                    line: Some(3),
                    message: "syntax error".into(),
                },
                Finding {
                    file: None,
                    line: None,
                    message: "no app.py".into(),
                },
            ],
        };
        assert_eq!(
            e.to_string(),
            "the bundle was refused\n  app.py:3: syntax error\n  no app.py"
        );
    }
}
