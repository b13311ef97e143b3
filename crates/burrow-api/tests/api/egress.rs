//! An app's network: the egress policy in its settings, checked and held within the instance's maximum, and its recent decisions.

use burrow_egress::{Domain, Mode};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::{base_environment_built, expect_error, spawn_app_with, Db};

/// A 200 answer's JSON.
async fn get_json(app: &crate::helpers::TestApp, path: &str, token: &str) -> Value {
    let resp = app.get(path, token).await;
    assert_eq!(resp.status(), StatusCode::OK, "{path}");
    resp.json().await.unwrap()
}

const HELLO: &str = "import streamlit as st\nst.title('Hello')\n";

async fn network_is_checked_and_held_within_the_maximum(db: Db) {
    base_environment_built();
    // An instance that lets apps reach at most names under example.org.
    let app = spawn_app_with(db, |config| {
        config.egress.max_policy = Mode::Allowlist;
        config.egress.max_domains = vec![
            Domain::parse("*.example.org").unwrap(),
            Domain::parse("example.org").unwrap(),
        ];
    })
    .await;
    let owner = app.account("owner@example.com").await;
    let viewer = app.account("viewer@example.com").await;
    let stranger = app.account("stranger@example.com").await;
    let project = app.project(&owner, "Sales").await;
    app.add_member(&owner, &project, &viewer.email, "viewer")
        .await;
    let created: Value = app
        .post(
            &format!("/api/v1/projects/{project}/apps"),
            Some(&owner.token),
            json!({"name": "Hello", "code": HELLO}),
        )
        .await
        .json()
        .await
        .unwrap();
    // A new app starts with the instance's default: no network.
    assert_eq!(created["network"], json!({"policy": "none", "domains": []}));
    let path = format!(
        "/api/v1/projects/{project}/apps/{}",
        created["id"].as_str().unwrap()
    );
    let patch = |body: Value, token: String| {
        let (app, path) = (&app, path.clone());
        async move {
            app.request(Method::PATCH, &path, Some(&token), Some(body))
                .await
        }
    };

    let resp = patch(
        json!({"network": {"policy": "allowlist", "domains": ["API.example.org", "*.cdn.example.org", "api.example.org"]}}),
        owner.token.clone(),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let changed: Value = resp.json().await.unwrap();
    assert_eq!(
        changed["network"],
        json!({"policy": "allowlist", "domains": ["*.cdn.example.org", "api.example.org"]}),
        "normalised, sorted, without duplicates"
    );
    assert_eq!(
        get_json(&app, &path, &viewer.token).await["network"],
        changed["network"]
    );

    // Bad input names what is wrong, and changes nothing.
    for (network, words) in [
        (
            json!({"policy": "allowlist", "domains": []}),
            "at least one domain",
        ),
        (
            json!({"policy": "allowlist", "domains": ["169.254.169.254"]}),
            "is an address",
        ),
        (
            json!({"policy": "allowlist", "domains": ["metadata.google.internal"]}),
            "cloud metadata name",
        ),
        (
            json!({"policy": "allowlist", "domains": ["a.*.example.org"]}),
            "only a leading `*.`",
        ),
        (
            json!({"policy": "allowlist", "domains": ["intranet"]}),
            "single label",
        ),
        (
            json!({"policy": "none", "domains": ["example.org"]}),
            "only apply to the allowlist",
        ),
    ] {
        let resp = patch(
            json!({"network": network, "name": "Renamed"}),
            owner.token.clone(),
        )
        .await;
        let body = expect_error(resp, StatusCode::BAD_REQUEST, "invalid_network").await;
        assert!(body.contains(words), "{network}: {body}");
    }
    let resp = patch(
        json!({"network": {"policy": "everything"}}),
        owner.token.clone(),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body = resp.text().await.unwrap();
    assert!(
        body.contains("expected one of `none`, `allowlist`, `public`"),
        "{body}"
    );
    // Beyond the maximum: refused, saying what the instance allows.
    let resp = patch(
        json!({"network": {"policy": "public"}}),
        owner.token.clone(),
    )
    .await;
    let body = expect_error(resp, StatusCode::FORBIDDEN, "egress_not_allowed").await;
    assert!(body.contains("at most the allowlist"), "{body}");
    let resp = patch(
        json!({"network": {"policy": "allowlist", "domains": ["evil.com"]}}),
        owner.token.clone(),
    )
    .await;
    let body = expect_error(resp, StatusCode::FORBIDDEN, "egress_not_allowed").await;
    assert!(body.contains("evil.com is not among the domains"), "{body}");
    let now = get_json(&app, &path, &owner.token).await;
    assert_eq!(now["network"], changed["network"]);
    assert_eq!(now["name"], "Hello", "nothing changed half-way");

    // Viewers see the network and its decisions, and change nothing.
    let resp = patch(json!({"network": {"policy": "none"}}), viewer.token.clone()).await;
    expect_error(resp, StatusCode::FORBIDDEN, "forbidden").await;
    let decisions = get_json(&app, &format!("{path}/egress"), &viewer.token).await;
    assert_eq!(
        decisions,
        json!([]),
        "no sandbox has asked for anything yet"
    );
    let resp = app.get(&format!("{path}/egress"), &stranger.token).await;
    expect_error(resp, StatusCode::NOT_FOUND, "project_not_found").await;

    // What the app's sandbox asks of the proxy shows in its decisions, newest first.
    let app_id = created["id"].as_str().unwrap();
    let (mut sandbox, proxy_end) = tokio::io::duplex(4096);
    let proxy = app.state.egress.clone();
    let id = app_id.to_owned();
    let serving = tokio::spawn(async move {
        proxy
            .serve(
                &id,
                std::sync::Arc::new(burrow_egress::Policy::PUBLIC),
                proxy_end,
            )
            .await
    });
    for target in ["169.254.169.254:443", "127.1:443", "example.org:22"] {
        tokio::io::AsyncWriteExt::write_all(
            &mut sandbox,
            format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n").as_bytes(),
        )
        .await
        .unwrap();
        let mut answer = vec![0u8; 1024];
        let n = tokio::io::AsyncReadExt::read(&mut sandbox, &mut answer)
            .await
            .unwrap();
        assert!(
            answer[..n].starts_with(b"HTTP/1.1 403"),
            "{}",
            String::from_utf8_lossy(&answer[..n])
        );
    }
    drop(sandbox);
    serving.await.unwrap();
    let decisions = get_json(&app, &format!("{path}/egress"), &viewer.token).await;
    let seen: Vec<(String, String, String)> = decisions
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["host"].as_str().unwrap().to_owned(),
                d["verdict"].as_str().unwrap().to_owned(),
                d["reason"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            (
                "example.org".into(),
                "denied".into(),
                "port 22 is not open for HTTPS (open: 443)".into()
            ),
            ("127.1".into(), "denied".into(), "loopback range".into()),
            (
                "169.254.169.254".into(),
                "denied".into(),
                "cloud metadata endpoint".into()
            ),
        ]
    );
    assert_eq!(decisions[1]["address"], "127.0.0.1");

    // A choice made before an admin lowered the maximum: kept, and what is enforced shown.
    assert!(now.get("network_enforced").is_none(), "{now}");
    app.store
        .update_app(
            &project,
            app_id,
            &burrow_store::AppChanges {
                egress: Some(("allowlist", "api.example.org\nevil.com")),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let narrowed = get_json(&app, &path, &viewer.token).await;
    assert_eq!(
        narrowed["network"],
        json!({"policy": "allowlist", "domains": ["api.example.org", "evil.com"]})
    );
    assert_eq!(
        narrowed["network_enforced"],
        json!({"policy": "allowlist", "domains": ["api.example.org"]})
    );

    let resp = patch(json!({"network": {"policy": "none"}}), owner.token.clone()).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let back: Value = resp.json().await.unwrap();
    assert_eq!(back["network"], json!({"policy": "none", "domains": []}));
}

both_backends!(network_is_checked_and_held_within_the_maximum);
