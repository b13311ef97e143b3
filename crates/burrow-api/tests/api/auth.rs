//! Stories about accounts and sessions.

use reqwest::{header, Method, StatusCode};
use serde_json::{json, Value};
use sqlx::Connection;

use crate::helpers::{expect_error, spawn_app, spawn_app_with, spawn_replica, Db, PASSWORD};

async fn register_login_me_logout(db: Db) {
    let app = spawn_app(db).await;
    let ada = app.account("ada@example.com").await;

    let resp = app.login("ADA@example.com ", PASSWORD).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let cookie = resp.headers()[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    let body: Value = resp.json().await.unwrap();
    let token = body["token"].as_str().unwrap().to_owned();
    assert_eq!(body["user"]["email"], "ada@example.com");
    assert_eq!(body["user"]["id"], ada.id.as_str());

    let me: Value = app.get("/api/v1/me", &token).await.json().await.unwrap();
    assert_eq!(me["email"], "ada@example.com");
    assert_eq!(me["name"], "ada");
    assert!(
        me.get("password_hash").is_none(),
        "the hash never leaves the server"
    );

    // The browser path: the cookie alone authenticates.
    let cookie_pair = cookie.split(';').next().unwrap();
    let resp = app
        .client
        .get(format!("{}/api/v1/me", app.base))
        .header(header::COOKIE, cookie_pair)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);

    let resp = app
        .request(Method::POST, "/api/v1/auth/logout", Some(&token), None)
        .await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    assert!(resp.headers()[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .contains("Max-Age=0"));
    expect_error(
        app.get("/api/v1/me", &token).await,
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
    )
    .await;
    // Other sessions of the same user live on.
    assert_eq!(
        app.get("/api/v1/me", &ada.token).await.status(),
        StatusCode::OK
    );
}

async fn tokens_are_stored_hashed_and_expire(db: Db) {
    let app = spawn_app(db).await;
    let ada = app.account("ada@example.com").await;
    let mut conn = sqlx::AnyConnection::connect(&app.database_url)
        .await
        .unwrap();
    let hashes: Vec<(String,)> = sqlx::query_as("SELECT token_hash FROM sessions")
        .fetch_all(&mut conn)
        .await
        .unwrap();
    assert_eq!(hashes.len(), 1);
    assert_ne!(hashes[0].0, ada.token, "the raw token is not stored");
    assert_eq!(hashes[0].0.len(), 64);

    sqlx::query("UPDATE sessions SET expires_at = 0")
        .execute(&mut conn)
        .await
        .unwrap();
    expect_error(
        app.get("/api/v1/me", &ada.token).await,
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
    )
    .await;
    conn.close().await.ok();
}

async fn login_failures_do_not_tell_accounts_apart(db: Db) {
    let app = spawn_app(db).await;
    app.account("ada@example.com").await;
    let wrong = expect_error(
        app.login("ada@example.com", "not the password").await,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    )
    .await;
    let unknown = expect_error(
        app.login("nobody@example.com", PASSWORD).await,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    )
    .await;
    assert_eq!(wrong, unknown);
    expect_error(
        app.get("/api/v1/me", "made-up-token").await,
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
    )
    .await;
}

async fn registration_validates_input(db: Db) {
    let app = spawn_app(db).await;
    app.account("ada@example.com").await;
    let msg = expect_error(
        app.register("Ada@Example.com").await,
        StatusCode::CONFLICT,
        "email_taken",
    )
    .await;
    assert!(msg.contains("ada@example.com"), "{msg}");

    let cases = [
        (
            json!({"email": "bob@example.com", "password": "", "name": "Bob"}),
            "empty",
        ),
        (
            json!({"email": "bob@example.com", "password": "short", "name": "Bob"}),
            "at least 8",
        ),
        (
            json!({"email": "bob@example.com", "password": "password123", "name": "Bob"}),
            "common",
        ),
        (
            json!({"email": "bob", "password": PASSWORD, "name": "Bob"}),
            "@",
        ),
        (
            json!({"email": "bob@example.com", "password": PASSWORD, "name": "  "}),
            "empty",
        ),
    ];
    for (body, why) in cases {
        let resp = app.post("/api/v1/auth/register", None, body.clone()).await;
        let msg = expect_error(resp, StatusCode::BAD_REQUEST, "invalid_input").await;
        assert!(msg.contains(why), "{body}: {msg}");
    }
    // Nothing was stored half-way: bob can still register.
    app.account("bob@example.com").await;
}

async fn the_first_user_is_the_admin(db: Db) {
    let app = spawn_app(db).await;
    let first = app.account("first@example.com").await;
    let second = app.account("second@example.com").await;
    let me: Value = app
        .get("/api/v1/me", &first.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["is_admin"], true);
    let me: Value = app
        .get("/api/v1/me", &second.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["is_admin"], false);

    let users: Value = app
        .get("/api/v1/users", &first.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(users.as_array().unwrap().len(), 2);
    expect_error(
        app.get("/api/v1/users", &second.token).await,
        StatusCode::FORBIDDEN,
        "admin_only",
    )
    .await;
}

async fn failed_logins_are_rate_limited(db: Db) {
    let app = spawn_app_with(db, |c| {
        c.auth.max_failures_per_account = 3;
        c.auth.max_failures_per_address = 6;
    })
    .await;
    app.account("ada@example.com").await;
    for _ in 0..3 {
        expect_error(
            app.login("ada@example.com", "wrong password").await,
            StatusCode::UNAUTHORIZED,
            "invalid_credentials",
        )
        .await;
    }
    // Locked even with the right password, and the answer says when to retry.
    let resp = app.login("ada@example.com", PASSWORD).await;
    let retry: u64 = resp.headers()[header::RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=900).contains(&retry), "{retry}");
    expect_error(resp, StatusCode::TOO_MANY_REQUESTS, "too_many_requests").await;

    // Per address: spraying other accounts from the same client also hits a wall.
    for i in 0..3 {
        let resp = app
            .login(&format!("guess{i}@example.com"), "wrong password")
            .await;
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    }
    let resp = app.login("fresh@example.com", "wrong password").await;
    assert!(resp.headers().contains_key(header::RETRY_AFTER));
    expect_error(resp, StatusCode::TOO_MANY_REQUESTS, "too_many_requests").await;
}

/// Guesses sent at once are checked one after another: exactly as many as the limit
/// are answered, the rest refused, on one server or spread over two on one database.
async fn concurrent_guesses_on_two_replicas_share_one_limit(db: Db) {
    let limits = |c: &mut burrow_config::Config| {
        c.auth.max_failures_per_account = 3;
        c.auth.max_failures_per_address = 100;
    };
    let first = spawn_app_with(db, limits).await;
    let second = spawn_replica(&first, limits).await;
    first.account("ada@example.com").await;
    let guesses = (0..20).map(|i| {
        let server = if i % 2 == 0 { &first } else { &second };
        server.login("ada@example.com", "wrong password")
    });
    let statuses: Vec<StatusCode> = futures::future::join_all(guesses)
        .await
        .iter()
        .map(|r| r.status())
        .collect();
    let checked = statuses
        .iter()
        .filter(|s| **s == StatusCode::UNAUTHORIZED)
        .count();
    let refused = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!((checked, refused), (3, 17), "{statuses:?}");
    // Locked on both, even with the right password.
    for server in [&first, &second] {
        let resp = server.login("ada@example.com", PASSWORD).await;
        expect_error(resp, StatusCode::TOO_MANY_REQUESTS, "too_many_requests").await;
    }

    // A success on one replica clears the account's failures for every replica.
    second.account("bob@example.com").await;
    for server in [&first, &second] {
        let resp = server.login("bob@example.com", "wrong password").await;
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    }
    assert_eq!(
        first.login("bob@example.com", PASSWORD).await.status(),
        StatusCode::OK
    );
    for _ in 0..2 {
        let resp = second.login("bob@example.com", "wrong password").await;
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    }
}

async fn closed_registration_leaves_account_creation_to_admins(db: Db) {
    let app = spawn_app_with(db, |c| c.registration_open = false).await;
    let msg = expect_error(
        app.register("ada@example.com").await,
        StatusCode::FORBIDDEN,
        "registration_closed",
    )
    .await;
    assert!(msg.contains("admin"), "{msg}");

    // The first admin comes from the CLI path, which uses the same account code.
    burrow_service::accounts::create_account(
        &app.store,
        "root@example.com",
        "Root",
        PASSWORD,
        true,
        |pw| async move { Ok(burrow_core::password::hash_password(&pw)) },
    )
    .await
    .unwrap();
    let root: Value = app
        .login("root@example.com", PASSWORD)
        .await
        .json()
        .await
        .unwrap();
    let root_token = root["token"].as_str().unwrap();
    let resp = app
        .post(
            "/api/v1/users",
            Some(root_token),
            json!({"email": "ada@example.com", "password": PASSWORD, "name": "Ada"}),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let ada: Value = app
        .login("ada@example.com", PASSWORD)
        .await
        .json()
        .await
        .unwrap();
    let ada_token = ada["token"].as_str().unwrap();
    assert_eq!(ada["user"]["is_admin"], false);
    let resp = app
        .post(
            "/api/v1/users",
            Some(ada_token),
            json!({"email": "eve@example.com", "password": PASSWORD, "name": "Eve"}),
        )
        .await;
    expect_error(resp, StatusCode::FORBIDDEN, "admin_only").await;
}

/// Logs in and returns the session cookie, as a browser would send it back.
async fn session_cookie(app: &crate::helpers::TestApp, email: &str) -> String {
    let resp = app.login(email, PASSWORD).await;
    resp.headers()[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned()
}

/// Pages of other origins of the same site get the browser's cookies for this host: a
/// change made with the session cookie from another origin is refused; bearer tokens
/// are not cookies.
async fn cookie_changes_from_other_origins_are_refused(db: Db) {
    let app = spawn_app(db).await;
    let account = app.account("ada@example.com").await;
    let cookie = session_cookie(&app, "ada@example.com").await;
    let create = |origin: Option<String>, bearer: bool| {
        let mut req = app
            .client
            .post(format!("{}/api/v1/projects", app.base))
            .json(&serde_json::json!({"name": "P"}));
        if bearer {
            req = req.bearer_auth(&account.token);
        } else {
            req = req.header("cookie", &cookie);
        }
        if let Some(origin) = origin {
            req = req.header("origin", origin);
        }
        req.send()
    };
    let foreign = || Some(app.app_url("abc", ""));
    let resp = create(foreign(), false).await.unwrap();
    expect_error(resp, StatusCode::FORBIDDEN, "cross_origin").await;
    let resp = create(Some(app.base.clone()), false).await.unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    let resp = create(None, false).await.unwrap();
    assert_eq!(
        resp.status(),
        StatusCode::CREATED,
        "no Origin: not a browser"
    );
    let resp = create(foreign(), true).await.unwrap();
    assert_eq!(
        resp.status(),
        StatusCode::CREATED,
        "bearer tokens are not sent by browsers on their own"
    );
    // Reading is not a change.
    let resp = app
        .client
        .get(format!("{}/api/v1/projects", app.base))
        .header("cookie", &cookie)
        .header("origin", app.app_url("abc", ""))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
}

/// A person who opens the platform at `localhost` when it printed `127.0.0.1` is sent
/// to the printed address, where the session cookie and the change check agree; with
/// no redirect they could sign in but never change anything.
async fn other_loopback_names_are_sent_to_the_public_url(db: Db) {
    let app = spawn_app(db).await;
    let port = app.base.rsplit(':').next().unwrap().trim_end_matches('/');
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let ask = |method: reqwest::Method, host: String| {
        client
            .request(method, format!("{}/projects/p1?tab=apps", app.base))
            .header("host", host)
            .send()
    };
    let resp = ask(reqwest::Method::GET, format!("localhost:{port}"))
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::TEMPORARY_REDIRECT);
    assert_eq!(
        resp.headers()["location"],
        format!("{}/projects/p1?tab=apps", app.base.trim_end_matches('/'))
    );
    // The printed address itself, and changes, are served as they come.
    let resp = ask(reqwest::Method::GET, format!("127.0.0.1:{port}"))
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let resp = ask(reqwest::Method::POST, format!("localhost:{port}"))
        .await
        .unwrap();
    assert_ne!(resp.status(), StatusCode::TEMPORARY_REDIRECT);
}

/// WebSocket upgrades are GETs, but every one on the platform (terminals) must come
/// from the platform's own pages, or carry a bearer token that no page can attach.
async fn platform_websockets_need_our_origin(db: Db) {
    let app = spawn_app(db).await;
    let account = app.account("ada@example.com").await;
    let cookie = session_cookie(&app, "ada@example.com").await;
    let upgrade = |origin: Option<String>, bearer: bool| {
        let mut req = app
            .client
            .get(format!("{}/api/v1/me", app.base))
            .header("connection", "upgrade")
            .header("upgrade", "websocket")
            .header("sec-websocket-version", "13")
            .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==");
        req = if bearer {
            req.bearer_auth(&account.token)
        } else {
            req.header("cookie", &cookie)
        };
        if let Some(origin) = origin {
            req = req.header("origin", origin);
        }
        req.send()
    };
    for (origin, bearer) in [
        (Some(app.app_url("abc", "")), false),
        (Some("http://evil.example".to_owned()), false),
        (Some(app.app_url("abc", "")), true),
        (None, false),
    ] {
        let resp = upgrade(origin.clone(), bearer).await.unwrap();
        let message = expect_error(resp, StatusCode::FORBIDDEN, "foreign_origin").await;
        assert!(message.contains(&app.base), "{origin:?}: {message}");
    }
    // Past the check, the route itself answers (this one is not a WebSocket).
    for (origin, bearer) in [(Some(app.base.clone()), false), (None, true)] {
        let resp = upgrade(origin.clone(), bearer).await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "{origin:?} {bearer}");
    }
    // Without a session, our own origin is not enough.
    let resp = app
        .client
        .get(format!("{}/api/v1/me", app.base))
        .header("origin", &app.base)
        .header("connection", "upgrade")
        .header("upgrade", "websocket")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
}

crate::both_backends!(
    platform_websockets_need_our_origin,
    cookie_changes_from_other_origins_are_refused,
    other_loopback_names_are_sent_to_the_public_url,
    register_login_me_logout,
    tokens_are_stored_hashed_and_expire,
    login_failures_do_not_tell_accounts_apart,
    registration_validates_input,
    the_first_user_is_the_admin,
    failed_logins_are_rate_limited,
    concurrent_guesses_on_two_replicas_share_one_limit,
    closed_registration_leaves_account_creation_to_admins,
);
