//! Request extractors: JSON and path with our error shape, the signed-in user, and project access.
//!
//! [`ProjectAccess`] is the one place where project membership and role are
//! checked. Every project-scoped route takes it, so forgetting the check
//! does not compile.

use std::collections::HashMap;
use std::marker::PhantomData;

use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::extract::{FromRequest, FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use burrow_core::{Role, SessionToken};
use burrow_store::{Project, StoreError, User};

use crate::error::ApiError;
use crate::state::AppState;

pub const SESSION_COOKIE: &str = "burrow_session";

/// `axum::Json` whose rejections are [`ApiError`]s.
#[derive(Debug, FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct ApiJson<T>(pub T);

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        match rejection {
            JsonRejection::MissingJsonContentType(_) => ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "the request body must be JSON: send `Content-Type: application/json`",
            ),
            JsonRejection::JsonSyntaxError(e) => ApiError::bad_request(
                "malformed_json",
                format!("the request body is not valid JSON: {}", e.body_text()),
            ),
            JsonRejection::JsonDataError(e) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_body",
                format!("the request body has the wrong shape: {}", e.body_text()),
            ),
            JsonRejection::BytesRejection(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "payload_too_large",
                    "the request body is larger than this server accepts (http.max_body_bytes)",
                )
            }
            other => ApiError::new(other.status(), "invalid_body", other.body_text()),
        }
    }
}

/// `axum::extract::Path` whose rejections are [`ApiError`]s.
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct ApiPath<T>(pub T);

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> Self {
        ApiError::bad_request("invalid_path", rejection.body_text())
    }
}

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

/// Every value of the cookie `name`, in the order sent. Another origin of the same site
/// may have planted more than one under a name, so none is trusted for being first.
pub(crate) fn cookie_values<'h>(
    headers: &'h axum::http::HeaderMap,
    name: &'h str,
) -> impl Iterator<Item = &'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .filter(move |(k, _)| *k == name)
        .map(|(_, v)| v)
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
        let token_hash = token.hash();
        let user = match state.store.session_user(&token_hash).await {
            Ok(user) => user,
            Err(StoreError::NotFound) => return Err(ApiError::unauthenticated()),
            Err(e) => return Err(e.into()),
        };
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
        if !session.user.is_admin {
            return Err(ApiError::forbidden(
                "admin_only",
                "only instance admins may do this",
            ));
        }
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
pub struct Owner;

impl MinRole for Viewer {
    const ROLE: Role = Role::Viewer;
}
impl MinRole for Editor {
    const ROLE: Role = Role::Editor;
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
    pub user: User,
    pub project: Project,
    pub role: Role,
    _role: PhantomData<R>,
}

pub fn project_not_found() -> ApiError {
    ApiError::not_found(
        "project_not_found",
        "project not found: check the id, or ask one of its owners to add you",
    )
}

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
        let membership = match state
            .store
            .project_membership(project_id, &session.user.id)
            .await
        {
            Ok(m) => m,
            Err(StoreError::NotFound) => return Err(project_not_found()),
            Err(e) => return Err(e.into()),
        };
        if !membership.role.allows(R::ROLE) {
            return Err(ApiError::forbidden(
                "forbidden",
                format!(
                    "this needs the {} role in the project, and you are {}: ask an owner",
                    R::ROLE,
                    membership.role
                ),
            ));
        }
        Ok(ProjectAccess {
            user: session.user,
            project: membership.project,
            role: membership.role,
            _role: PhantomData,
        })
    }
}
