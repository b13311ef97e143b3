//! Stories about the HTTP surface itself: error shape, probes, metrics and the OpenAPI document.

use reqwest::{header, Method, StatusCode};
use serde_json::Value;

use crate::helpers::{expect_error, spawn_app, spawn_app_with, Db};

async fn every_error_has_the_same_shape(db: Db) {
    let app = spawn_app_with(db, |c| c.http.max_body_bytes = 4096).await;
    let url = format!("{}/api/v1/auth/login", app.base);

    let resp = app
        .client
        .post(&url)
        .header(header::CONTENT_TYPE, "application/json")
        .body("{\"email\": ")
        .send()
        .await
        .unwrap();
    let msg = expect_error(resp, StatusCode::BAD_REQUEST, "malformed_json").await;
    assert!(msg.contains("not valid JSON"), "{msg}");

    let resp = app
        .client
        .post(&url)
        .header(header::CONTENT_TYPE, "text/plain")
        .body("{}")
        .send()
        .await
        .unwrap();
    expect_error(
        resp,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    )
    .await;

    let resp = app
        .client
        .post(&url)
        .header(header::CONTENT_TYPE, "application/json")
        .body("{\"email\": 5}")
        .send()
        .await
        .unwrap();
    let msg = expect_error(resp, StatusCode::UNPROCESSABLE_ENTITY, "invalid_body").await;
    assert!(msg.contains("email"), "the field at fault is named: {msg}");

    // A malformed query parameter is refused in the same shape, naming the parameter.
    let owner = app.account("shape@example.com").await;
    let project = app.project(&owner, "Shapes").await;
    let resp = app
        .get(
            &format!("/api/v1/projects/{project}/tables/t/rows?limit=many"),
            &owner.token,
        )
        .await;
    let msg = expect_error(resp, StatusCode::BAD_REQUEST, "invalid_query").await;
    assert!(msg.contains("limit"), "{msg}");

    let big = format!(
        "{{\"email\": \"{}\", \"password\": \"x\"}}",
        "a".repeat(10_000)
    );
    let resp = app
        .client
        .post(&url)
        .header(header::CONTENT_TYPE, "application/json")
        .body(big)
        .send()
        .await
        .unwrap();
    expect_error(resp, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;

    let resp = app
        .request(Method::GET, "/api/v1/nothing-here", None, None)
        .await;
    let msg = expect_error(resp, StatusCode::NOT_FOUND, "route_not_found").await;
    assert!(msg.contains("/api/v1/nothing-here"), "{msg}");

    let resp = app
        .request(Method::DELETE, "/api/v1/auth/login", None, None)
        .await;
    expect_error(resp, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed").await;

    let resp = app
        .request(Method::GET, "/api/v1/projects", None, None)
        .await;
    expect_error(resp, StatusCode::UNAUTHORIZED, "unauthenticated").await;
}

async fn readiness_follows_the_database(db: Db) {
    let app = spawn_app(db).await;
    let resp = app.request(Method::GET, "/healthz", None, None).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let resp = app.request(Method::GET, "/readyz", None, None).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let ada = app.account("ada@example.com").await;

    match db {
        Db::Sqlite => {
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(app.dir.path().join(format!("burrow.db{suffix}")));
            }
        }
        Db::Postgres => app.pg.as_ref().unwrap().drop_now().await,
    }
    let resp = app.request(Method::GET, "/readyz", None, None).await;
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = resp.json().await.unwrap();
    assert_ne!(body["status"], "ok");
    // Liveness does not depend on the database.
    assert_eq!(
        app.request(Method::GET, "/healthz", None, None)
            .await
            .status(),
        StatusCode::OK
    );
    if db == Db::Postgres {
        // Requests that need the database fail closed.
        let resp = app.get("/api/v1/me", &ada.token).await;
        expect_error(
            resp,
            StatusCode::SERVICE_UNAVAILABLE,
            "database_unavailable",
        )
        .await;
    }
}

async fn openapi_document_and_docs_page(db: Db) {
    let app = spawn_app(db).await;
    let doc: Value = app
        .request(Method::GET, "/api/v1/openapi.json", None, None)
        .await
        .json()
        .await
        .unwrap();
    insta::assert_json_snapshot!("openapi", doc);
    let docs = app
        .request(Method::GET, "/api/docs", None, None)
        .await
        .text()
        .await
        .unwrap();
    assert!(
        docs.contains("/api/v1/projects/{project}/members"),
        "docs page lists the routes"
    );
    assert!(docs.contains("AddMemberRequest"));
}

async fn the_web_ui_answers_its_own_routes(db: Db) {
    let app = spawn_app(db).await;
    // The shell, for the root and for any client-side route, deep links included.
    let mut shell = None;
    for path in ["/", "/login?next=%2F", "/projects/abc/apps/def", "/admin"] {
        let resp = app.request(Method::GET, path, None, None).await;
        assert_eq!(resp.status(), StatusCode::OK, "{path}");
        let headers = resp.headers().clone();
        assert!(headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/html"));
        let csp = headers["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        assert!(csp.contains("script-src 'self'"), "{csp}");
        assert_eq!(headers["x-frame-options"], "DENY");
        assert_eq!(headers[header::CACHE_CONTROL], "no-cache");
        let body = resp.text().await.unwrap();
        assert!(body.contains("<div id=\"root\">"), "{path}: {body}");
        shell = Some((headers[header::ETAG].clone(), body));
    }
    let (etag, body) = shell.unwrap();
    let resp = app
        .client
        .get(format!("{}/projects/x", app.base))
        .header(header::IF_NONE_MATCH, etag)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_MODIFIED);

    // Its script, by the hashed name the shell refers to, cached for good.
    let script = body
        .split('"')
        .find(|s| s.starts_with("/assets/") && s.ends_with(".js"))
        .unwrap_or_else(|| panic!("the shell loads a script: {body}"));
    let resp = app.request(Method::GET, script, None, None).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(resp.headers().get(header::CONTENT_ENCODING).is_none());
    let plain_etag = resp.headers()[header::ETAG].clone();
    assert!(resp.headers()[header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .starts_with("text/javascript"));
    assert!(resp.headers()[header::CACHE_CONTROL]
        .to_str()
        .unwrap()
        .contains("immutable"));

    let plain = resp.bytes().await.unwrap();
    // Gzipped for a browser that takes it, under its own validator.
    let resp = app
        .client
        .get(format!("{}{script}", app.base))
        .header(header::ACCEPT_ENCODING, "gzip, deflate, br")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()[header::CONTENT_ENCODING], "gzip");
    assert_eq!(resp.headers()[header::VARY], "accept-encoding");
    assert_ne!(resp.headers()[header::ETAG], plain_etag);
    let gzipped = resp.bytes().await.unwrap();
    assert!(
        gzipped.len() < plain.len() / 2,
        "{} of {}",
        gzipped.len(),
        plain.len()
    );
    assert_eq!(&gzipped[..2], &[0x1f, 0x8b]);
    let resp = app
        .client
        .get(format!("{}{script}", app.base))
        .header(header::ACCEPT_ENCODING, "gzip;q=0, identity")
        .send()
        .await
        .unwrap();
    assert!(resp.headers().get(header::CONTENT_ENCODING).is_none());

    // A missing asset is a 404, not the shell served as a script; API paths and
    // other methods keep the API's JSON errors.
    let resp = app
        .request(Method::GET, "/assets/index-gone.js", None, None)
        .await;
    expect_error(resp, StatusCode::NOT_FOUND, "route_not_found").await;
    let resp = app.request(Method::GET, "/api/nothing", None, None).await;
    expect_error(resp, StatusCode::NOT_FOUND, "route_not_found").await;
    let resp = app.request(Method::POST, "/projects", None, None).await;
    expect_error(resp, StatusCode::NOT_FOUND, "route_not_found").await;
}

crate::both_backends!(
    the_web_ui_answers_its_own_routes,
    every_error_has_the_same_shape,
    readiness_follows_the_database,
    openapi_document_and_docs_page,
);
