//! Stories about the package allowlist.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{expect_error, spawn_app, Db};

async fn admins_manage_the_allowlist_and_others_only_read_it(db: Db) {
    let app = spawn_app(db).await;
    let admin = app.account("admin@example.com").await;
    let user = app.account("user@example.com").await;

    let list: Value = app
        .get("/api/v1/packages", &user.token)
        .await
        .json()
        .await
        .unwrap();
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 18, "seeded: {names:?}");
    for seeded in [
        "streamlit",
        "pandas",
        "scikit-learn",
        "streamlit-aggrid",
        "beautifulsoup4",
    ] {
        assert!(names.contains(&seeded), "{seeded}");
    }

    let resp = app
        .post(
            "/api/v1/packages",
            Some(&user.token),
            json!({"name": "tabulate"}),
        )
        .await;
    expect_error(resp, StatusCode::FORBIDDEN, "admin_only").await;
    let resp = app
        .request(
            Method::DELETE,
            "/api/v1/packages/pandas",
            Some(&user.token),
            None,
        )
        .await;
    expect_error(resp, StatusCode::FORBIDDEN, "admin_only").await;

    let resp = app
        .post(
            "/api/v1/packages",
            Some(&admin.token),
            json!({"name": "Tabulate", "max_version": "0.9"}),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let added: Value = resp.json().await.unwrap();
    assert_eq!(
        (added["name"].as_str(), added["max_version"].as_str()),
        (Some("tabulate"), Some("0.9"))
    );
    assert_eq!(added["added_by"], admin.id.as_str());

    let resp = app
        .post(
            "/api/v1/packages",
            Some(&admin.token),
            json!({"name": "not a name!"}),
        )
        .await;
    expect_error(resp, StatusCode::BAD_REQUEST, "invalid_package").await;
    let resp = app
        .post(
            "/api/v1/packages",
            Some(&admin.token),
            json!({"name": "tabulate", "max_version": "soon"}),
        )
        .await;
    expect_error(resp, StatusCode::BAD_REQUEST, "invalid_package").await;
    // No name, or a cap smuggled into the name, stores nothing.
    for body in [
        json!({"name": "", "max_version": "0"}),
        json!({"name": "  "}),
        json!({"name": "numpy<=1", "max_version": "2"}),
        json!({"name": "numpy<=1"}),
    ] {
        let resp = app
            .post("/api/v1/packages", Some(&admin.token), body.clone())
            .await;
        expect_error(resp, StatusCode::BAD_REQUEST, "invalid_package").await;
    }
    let listed = app.get("/api/v1/packages", &admin.token).await;
    let listed: Value = listed.json().await.unwrap();
    assert!(
        listed
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["name"] != "" && (p["name"] != "numpy" || p["max_version"].is_null())),
        "{listed}"
    );

    let resp = app
        .request(
            Method::DELETE,
            "/api/v1/packages/tabulate",
            Some(&admin.token),
            None,
        )
        .await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let resp = app
        .request(
            Method::DELETE,
            "/api/v1/packages/tabulate",
            Some(&admin.token),
            None,
        )
        .await;
    expect_error(resp, StatusCode::NOT_FOUND, "package_not_found").await;
    let list: Value = app
        .get("/api/v1/packages", &admin.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list.as_array().unwrap().len(), 18);
}

crate::both_backends!(admins_manage_the_allowlist_and_others_only_read_it);
