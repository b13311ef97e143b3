//! Registration, login, logout and `me`.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use burrow_core::password::{dummy_hash, verify_password};
use burrow_core::SessionToken;
use burrow_store::{StoreError, User};

use crate::dto::{timestamp, LoginRequest, RegisterRequest, SessionDto, UserDto};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiJson, Session, SESSION_COOKIE};
use crate::AppState;
use burrow_service::accounts::create_account;

/// Starts a session for `user`: stores the token's hash and answers with the
/// token in the body and in an HttpOnly cookie.
async fn start_session(
    state: &AppState,
    user: User,
    status: StatusCode,
) -> Result<Response, ApiError> {
    let token = SessionToken::generate();
    let ttl_ms = i64::try_from(
        state
            .config
            .auth
            .session_ttl_hours
            .saturating_mul(3_600_000),
    )
    .unwrap_or(i64::MAX);
    let expires_at = burrow_store::now_ms().saturating_add(ttl_ms);
    state
        .store
        .create_session(&token.hash(), &user.id, expires_at)
        .await?;
    let secure = if state.config.public_url().scheme() == "https" {
        "; Secure"
    } else {
        ""
    };
    let cookie = format!(
        "{SESSION_COOKIE}={}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{secure}",
        token.expose(),
        ttl_ms / 1000
    );
    let body = SessionDto {
        token: token.expose().to_owned(),
        expires_at: timestamp(expires_at),
        user: user.into(),
    };
    let mut response = (status, axum::Json(body)).into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_str(&cookie).map_err(|e| ApiError::internal(e.to_string()))?,
    );
    Ok(response)
}

/// Create an account and sign in.
///
/// The first account on an instance becomes its admin. When registration is
/// closed, this answers 403 and admins create accounts with `POST /api/v1/users`.
#[utoipa::path(post, path = "/api/v1/auth/register", tag = "auth", security(()),
    request_body = RegisterRequest,
    responses(
        (status = 201, description = "Account created and signed in", body = SessionDto),
        (status = 400, description = "Invalid email, name or password", body = ErrorBody),
        (status = 403, description = "Registration is closed", body = ErrorBody),
        (status = 409, description = "The email is taken", body = ErrorBody),
    ))]
pub async fn register(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<RegisterRequest>,
) -> Result<Response, ApiError> {
    if !state.config.registration_open {
        return Err(ApiError::forbidden(
            "registration_closed",
            "registration is closed on this instance: ask an admin to create your account",
        ));
    }
    let hashing = state.clone();
    let user = create_account(
        &state.store,
        &req.email,
        &req.name,
        &req.password,
        false,
        |pw| async move {
            hashing
                .with_hashing(move || burrow_core::password::hash_password(&pw))
                .await
        },
    )
    .await?;
    tracing::info!(user.id = %user.id, "Registered user");
    start_session(&state, user, StatusCode::CREATED).await
}

/// Sign in with email and password.
///
/// Unknown emails and wrong passwords get the same answer. Repeated failures,
/// per account or per client address, get 429 with `Retry-After`.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", security(()),
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Signed in", body = SessionDto),
        (status = 401, description = "Wrong email or password", body = ErrorBody),
        (status = 429, description = "Too many failed attempts", body = ErrorBody),
    ))]
pub async fn login(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    ApiJson(req): ApiJson<LoginRequest>,
) -> Result<Response, ApiError> {
    // Only a well-formed email names an account; anything else is limited by address alone.
    let account = burrow_core::Email::parse(&req.email)
        .ok()
        .map(|e| e.as_str().to_owned());
    state
        .begin_login_attempt(account.as_deref(), peer.ip())
        .await?;
    let invalid = || {
        ApiError::new(
            crate::error::Kind::Unauthenticated,
            "invalid_credentials",
            "wrong email or password",
        )
    };
    let Some(account) = account else {
        return Err(invalid());
    };
    let user = match state.store.user_by_email(&account).await {
        Ok(user) => Some(user),
        Err(StoreError::NotFound) => None,
        Err(e) => return Err(e.into()),
    };
    // An unknown account still costs one verification, so timing does not tell.
    let phc = user
        .as_ref()
        .map_or_else(|| dummy_hash().to_owned(), |u| u.password_hash.clone());
    let password = req.password;
    let matches = state
        .with_hashing(move || verify_password(&password, &phc))
        .await?;
    match user {
        Some(user) if matches => {
            state.record_login_success(&account, peer.ip()).await;
            tracing::info!(user.id = %user.id, "Signed in");
            start_session(&state, user, StatusCode::OK).await
        }
        // The failure was counted when the attempt began.
        _ => Err(invalid()),
    }
}

/// Sign out: revoke the session used for this request and clear the cookie.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth",
    responses(
        (status = 204, description = "Signed out"),
        (status = 401, description = "Not signed in", body = ErrorBody),
    ))]
pub async fn logout(
    State(state): State<AppState>,
    session: Session,
) -> Result<(StatusCode, HeaderMap), ApiError> {
    state.store.delete_session(&session.token_hash).await?;
    let mut headers = HeaderMap::new();
    headers.insert(
        header::SET_COOKIE,
        HeaderValue::from_static("burrow_session=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0"),
    );
    tracing::info!(user.id = %session.user.id, "Signed out");
    Ok((StatusCode::NO_CONTENT, headers))
}

/// The signed-in user.
#[utoipa::path(get, path = "/api/v1/me", tag = "auth",
    responses(
        (status = 200, description = "The caller", body = UserDto),
        (status = 401, description = "Not signed in", body = ErrorBody),
    ))]
pub async fn me(session: Session) -> axum::Json<UserDto> {
    axum::Json(session.user.into())
}
