//! Request extractors: JSON and path with our error shape, the signed-in user, and project access.
//!
//! [`ProjectAccess`] is the one place where project membership and role are
//! checked. Every project-scoped route takes it, so forgetting the check
//! does not compile.

use std::collections::HashMap;
use std::marker::PhantomData;

use axum::extract::{FromRequest, FromRequestParts, Path, State};
use axum::http::header;
use axum::http::request::Parts;
use burrow_core::{Role, SessionToken};
use burrow_service::access::Membership;
use burrow_store::User;

use crate::error::ApiError;
use crate::AppState;
pub(crate) use burrow_service::http::cookie_values;

pub const SESSION_COOKIE: &str = "burrow_session";

/// `axum::Json` whose rejections are [`ApiError`]s. A number written with a zero fraction
/// (`3.0`) is read as the integer it equals, as JSON Schema's `integer` allows.
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<T, S> FromRequest<S> for ApiJson<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, ApiError> {
        let axum::Json(mut value) =
            axum::Json::<serde_json::Value>::from_request(req, state).await?;
        integral_numbers(&mut value);
        serde_path_to_error::deserialize(value)
            .map(ApiJson)
            .map_err(|e| {
                let at = e.path().to_string();
                ApiError::new(
                    crate::error::Kind::Unprocessable,
                    "invalid_body",
                    if at == "." {
                        format!("the request body has the wrong shape: {}", e.inner())
                    } else {
                        format!("the request body has the wrong shape: {at}: {}", e.inner())
                    },
                )
            })
    }
}

/// Rewrites every number with a zero fraction, within the range where doubles are exact,
/// as an integer: `{"version": 2.0}` means version 2.
fn integral_numbers(value: &mut serde_json::Value) {
    use serde_json::Value;
    const EXACT: f64 = 9_007_199_254_740_992.0; // 2^53
    match value {
        Value::Number(n) if n.is_f64() => {
            if let Some(f) = n.as_f64() {
                if f.fract() == 0.0 && f.abs() <= EXACT {
                    // In range and whole: the cast is exact.
                    #[allow(clippy::cast_possible_truncation)]
                    let whole = f as i64;
                    *value = Value::from(whole);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(integral_numbers),
        Value::Object(fields) => fields.values_mut().for_each(integral_numbers),
        _ => {}
    }
}

/// `axum::extract::Query` whose rejections are [`ApiError`]s.
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct ApiQuery<T>(pub T);

/// `axum::extract::Path` whose rejections are [`ApiError`]s.
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct ApiPath<T>(pub T);

/// The caller's session token, from `Authorization: Bearer` or the session cookie.
fn presented_token(parts: &Parts) -> Option<SessionToken> {
    if let Some(value) = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        if let Some(token) = value
            .strip_prefix("Bearer ")
            .map(str::trim)
            .filter(|t| !t.is_empty())
        {
            return Some(SessionToken::from_client(token));
        }
    }
    cookie_values(&parts.headers, SESSION_COOKIE)
        .next()
        .map(|value| SessionToken::from_client(value.trim()))
        .filter(|t| !t.expose().is_empty())
}

/// A change made with the session cookie must come from the platform's own pages:
/// browsers send cookies with requests from other origins of the same site (such as
/// app pages on the apps origin), and their `Origin` header says where they came from.
fn refuse_cross_site(parts: &Parts, state: &AppState) -> Result<(), ApiError> {
    if matches!(
        parts.method,
        axum::http::Method::GET | axum::http::Method::HEAD | axum::http::Method::OPTIONS
    ) {
        return Ok(());
    }
    let Some(origin) = parts.headers.get(header::ORIGIN) else {
        return Ok(());
    };
    let ours = state.config.public_url().origin().ascii_serialization();
    if origin.to_str().is_ok_and(|o| o == ours) {
        return Ok(());
    }
    Err(ApiError::forbidden(
        "cross_origin",
        "this change came from another origin with the session cookie: make it from Burrow itself, or use a bearer token",
    ))
}

/// Every WebSocket upgrade on the platform (terminals, live views) must come from the
/// platform's own pages: upgrades are GETs, which [`refuse_cross_site`] lets through,
/// and browsers attach the session cookie to upgrades from any page of the same site.
/// Browsers always send `Origin` with an upgrade; an upgrade without one is accepted
/// only with a bearer token, which no browser page can attach. Applied to the whole
/// platform router, so no route can forget it.
pub async fn refuse_foreign_upgrades(
    State(state): State<AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let headers = request.headers();
    let upgrade = headers
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    if upgrade {
        let ours = state.config.public_url().origin().ascii_serialization();
        let allowed = match headers.get(header::ORIGIN) {
            Some(origin) => origin.to_str().is_ok_and(|o| o == ours),
            None => headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.starts_with("Bearer ")),
        };
        if !allowed {
            return ApiError::forbidden(
                "foreign_origin",
                format!("WebSocket connections are accepted only from Burrow's own pages ({ours}), or with a bearer token"),
            )
            .into_response();
        }
    }
    next.run(request).await
}

/// A signed-in caller: the user and the hash of the token they presented.
#[derive(Debug, Clone)]
pub struct Session {
    pub user: User,
    pub token_hash: String,
}

impl FromRequestParts<AppState> for Session {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if let Some(session) = parts.extensions.get::<Session>() {
            return Ok(session.clone());
        }
        let token = presented_token(parts).ok_or_else(ApiError::unauthenticated)?;
        if !parts.headers.contains_key(header::AUTHORIZATION) {
            refuse_cross_site(parts, state)?;
        }
        let burrow_service::access::Session { user, token_hash } =
            burrow_service::access::authenticate(state, &token).await?;
        let session = Session { user, token_hash };
        parts.extensions.insert(session.clone());
        Ok(session)
    }
}

/// A signed-in instance admin.
#[derive(Debug, Clone)]
pub struct Admin(pub User);

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let session = Session::from_request_parts(parts, state).await?;
        burrow_service::access::require_admin(&session.user)?;
        Ok(Admin(session.user))
    }
}

/// The least role a route needs, as a type: `ProjectAccess<Owner>`.
pub trait MinRole: Send + Sync + 'static {
    const ROLE: Role;
}

#[derive(Debug)]
pub struct Viewer;
#[derive(Debug)]
pub struct Editor;
#[derive(Debug)]
pub struct Reviewer;
#[derive(Debug)]
pub struct Owner;

impl MinRole for Viewer {
    const ROLE: Role = Role::Viewer;
}
impl MinRole for Editor {
    const ROLE: Role = Role::Editor;
}
impl MinRole for Reviewer {
    const ROLE: Role = Role::Reviewer;
}
impl MinRole for Owner {
    const ROLE: Role = Role::Owner;
}

/// The caller is a member of the project in the `{project}` path segment, with
/// at least role `R`.
///
/// A project the caller is not a member of is reported exactly like one that
/// does not exist (404), so ids cannot be probed. A member without the role
/// gets 403, since they may already see the project.
#[derive(Debug)]
pub struct ProjectAccess<R: MinRole> {
    /// The caller, the project and their role in it, as the use cases take them.
    pub member: Membership,
    _role: PhantomData<R>,
}

impl<R: MinRole> std::ops::Deref for ProjectAccess<R> {
    type Target = Membership;

    fn deref(&self) -> &Membership {
        &self.member
    }
}

pub use burrow_service::access::project_not_found;

impl<R: MinRole> FromRequestParts<AppState> for ProjectAccess<R> {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let session = Session::from_request_parts(parts, state).await?;
        let Path(params) =
            Path::<HashMap<String, String>>::from_request_parts(parts, state).await?;
        let project_id = params
            .get("project")
            .ok_or_else(|| ApiError::internal("ProjectAccess used on a route without {project}"))?;
        let member =
            burrow_service::access::project_access(state, session.user, project_id, R::ROLE)
                .await?;
        Ok(ProjectAccess {
            member,
            _role: PhantomData,
        })
    }
}

/// A `multipart/form-data` body: its one file (`file`, with the name it was sent under)
/// and its text fields.
#[derive(Debug, Default)]
pub struct Form {
    pub file: Option<(String, Vec<u8>)>,
    pub text: HashMap<String, String>,
}

/// Whether the request's body is `multipart/form-data`.
pub fn is_multipart(request: &axum::extract::Request) -> bool {
    request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().starts_with("multipart/form-data"))
}

/// Reads a form of one `file` and the text fields named in `fields`; any other field is
/// refused by name. `too_large` says what the limit is when the body is over it.
pub async fn read_form(
    state: &AppState,
    request: axum::extract::Request,
    fields: &[&str],
    too_large: impl Fn() -> ApiError,
) -> Result<Form, ApiError> {
    let mut multipart = axum::extract::Multipart::from_request(request, state)
        .await
        .map_err(|e| ApiError::bad_request("invalid_upload", e.body_text()))?;
    let failed = |e: axum::extract::multipart::MultipartError| {
        if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
            too_large()
        } else {
            ApiError::bad_request("invalid_upload", e.body_text())
        }
    };
    let mut form = Form::default();
    while let Some(field) = multipart.next_field().await.map_err(failed)? {
        let name = field.name().unwrap_or_default().to_owned();
        if name == "file" {
            let filename = field.file_name().unwrap_or_default().to_owned();
            let bytes = field.bytes().await.map_err(failed)?;
            form.file = Some((filename, bytes.to_vec()));
        } else if fields.contains(&name.as_str()) {
            let text = field.text().await.map_err(failed)?;
            form.text.insert(name, text);
        } else {
            return Err(ApiError::bad_request(
                "invalid_upload",
                format!(
                    "unknown form field {name:?}: send file and {}",
                    fields.join(", ")
                ),
            ));
        }
    }
    Ok(form)
}

#[cfg(test)]
mod tests {
    use super::integral_numbers;
    use serde_json::json;

    #[test]
    fn whole_numbers_written_with_a_fraction_are_integers() {
        let mut v = json!({"version": 2.0, "cpus": 0.5, "list": [1.0, -3.0, 1e300], "s": "2.0"});
        integral_numbers(&mut v);
        assert_eq!(
            v,
            json!({"version": 2, "cpus": 0.5, "list": [1, -3, 1e300], "s": "2.0"})
        );
        assert!(v["version"].is_i64());
    }
}

/// A page asked for at another loopback spelling of a loopback public URL (such as
/// `localhost:8080` for the default `http://127.0.0.1:8080`) is sent to the public URL,
/// the one origin the session cookie and the change check ([`refuse_cross_site`]) know:
/// a person who types `localhost` would otherwise sign in there and have every change
/// refused as another origin's. Only reads are sent on, and only between loopback
/// names of one port, so no proxy's own `Host` is ever redirected.
pub async fn to_public_url(
    State(state): State<AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let reads = matches!(
        *request.method(),
        axum::http::Method::GET | axum::http::Method::HEAD
    );
    if reads {
        let public = state.config.public_url();
        let host = request
            .headers()
            .get(header::HOST)
            .and_then(|v| v.to_str().ok());
        if host.is_some_and(|host| other_loopback_spelling(host, &public)) {
            let mut to = public;
            to.set_path(request.uri().path());
            to.set_query(request.uri().query());
            return axum::response::Redirect::temporary(to.as_str()).into_response();
        }
    }
    next.run(request).await
}

/// Whether `host` (a `Host` header) names the loopback public URL `public` another way:
/// both loopback, the same port, not the same name.
fn other_loopback_spelling(host: &str, public: &url::Url) -> bool {
    let Ok(asked) = url::Url::parse(&format!("http://{host}/")) else {
        return false;
    };
    let loopback = |url: &url::Url| match url.host() {
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    loopback(public)
        && loopback(&asked)
        && asked.port_or_known_default() == public.port_or_known_default()
        && asked.host() != public.host()
}

#[cfg(test)]
mod loopback_tests {
    use super::other_loopback_spelling;

    #[test]
    fn only_other_loopback_names_of_the_same_port_are_sent_on() {
        let public = url::Url::parse("http://127.0.0.1:8080/").unwrap();
        assert!(other_loopback_spelling("localhost:8080", &public));
        assert!(other_loopback_spelling("LOCALHOST:8080", &public));
        assert!(other_loopback_spelling("[::1]:8080", &public));
        assert!(!other_loopback_spelling("127.0.0.1:8080", &public));
        assert!(!other_loopback_spelling("localhost:8081", &public));
        assert!(!other_loopback_spelling("abc.apps.localhost:8080", &public));
        assert!(!other_loopback_spelling("burrow.example.com", &public));
        assert!(!other_loopback_spelling("bad host", &public));
        let behind_a_proxy = url::Url::parse("https://burrow.example.com/").unwrap();
        assert!(!other_loopback_spelling("localhost:443", &behind_a_proxy));
        assert!(!other_loopback_spelling("127.0.0.1", &behind_a_proxy));
    }
}
