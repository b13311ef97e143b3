//! Stories about projects and who may see them.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{expect_error, spawn_app, Db};

async fn owners_create_list_rename_and_delete_projects(db: Db) {
    let app = spawn_app(db).await;
    let ada = app.account("ada@example.com").await;
    let first = app.project(&ada, "Sales").await;
    let second = app.project(&ada, "  Marketing ").await;

    let list: Value = app
        .get("/api/v1/projects", &ada.token)
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
    assert_eq!(names.len(), 2);
    assert!(
        names.contains(&"Sales") && names.contains(&"Marketing"),
        "{names:?}"
    );
    assert!(list
        .as_array()
        .unwrap()
        .iter()
        .all(|p| p["role"] == "owner"));

    let resp = app
        .request(
            Method::PATCH,
            &format!("/api/v1/projects/{first}"),
            Some(&ada.token),
            Some(json!({"name": "Revenue"})),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let got: Value = app
        .get(&format!("/api/v1/projects/{first}"), &ada.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(got["name"], "Revenue");

    let resp = app
        .request(
            Method::PATCH,
            &format!("/api/v1/projects/{first}"),
            Some(&ada.token),
            Some(json!({"name": ""})),
        )
        .await;
    expect_error(resp, StatusCode::BAD_REQUEST, "invalid_input").await;
    let resp = app
        .post(
            "/api/v1/projects",
            Some(&ada.token),
            json!({"name": "x".repeat(101)}),
        )
        .await;
    expect_error(resp, StatusCode::BAD_REQUEST, "invalid_input").await;

    let resp = app
        .request(
            Method::DELETE,
            &format!("/api/v1/projects/{second}"),
            Some(&ada.token),
            None,
        )
        .await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    expect_error(
        app.get(&format!("/api/v1/projects/{second}"), &ada.token)
            .await,
        StatusCode::NOT_FOUND,
        "project_not_found",
    )
    .await;
    let list: Value = app
        .get("/api/v1/projects", &ada.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list.as_array().unwrap().len(), 1);
}

async fn strangers_get_404_exactly_as_for_a_missing_project(db: Db) {
    let app = spawn_app(db).await;
    let ada = app.account("ada@example.com").await;
    let bob = app.account("bob@example.com").await;
    let project = app.project(&ada, "Secret plans").await;

    let list: Value = app
        .get("/api/v1/projects", &bob.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list, json!([]));

    let mut bodies = Vec::new();
    for id in [project.as_str(), "p_doesnotexist0000"] {
        for (method, path, body) in [
            (Method::GET, format!("/api/v1/projects/{id}"), None),
            (
                Method::PATCH,
                format!("/api/v1/projects/{id}"),
                Some(json!({"name": "mine now"})),
            ),
            (Method::DELETE, format!("/api/v1/projects/{id}"), None),
            (Method::GET, format!("/api/v1/projects/{id}/members"), None),
            (
                Method::POST,
                format!("/api/v1/projects/{id}/members"),
                Some(json!({"email": "bob@example.com", "role": "owner"})),
            ),
            (
                Method::PATCH,
                format!("/api/v1/projects/{id}/members/{}", ada.id),
                Some(json!({"role": "viewer"})),
            ),
            (
                Method::DELETE,
                format!("/api/v1/projects/{id}/members/{}", ada.id),
                None,
            ),
        ] {
            let resp = app
                .request(method.clone(), &path, Some(&bob.token), body)
                .await;
            assert_eq!(resp.status(), StatusCode::NOT_FOUND, "{method} {path}");
            let text = resp.text().await.unwrap();
            bodies.push(text.replace(id, "ID"));
        }
    }
    let (existing, missing) = bodies.split_at(bodies.len() / 2);
    assert_eq!(
        existing, missing,
        "a foreign project looks exactly like a missing one"
    );

    // Nothing changed.
    let got: Value = app
        .get(&format!("/api/v1/projects/{project}"), &ada.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(got["name"], "Secret plans");
    let members: Value = app
        .get(&format!("/api/v1/projects/{project}/members"), &ada.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(members.as_array().unwrap().len(), 1);
}

async fn viewers_and_editors_cannot_manage_the_project(db: Db) {
    let app = spawn_app(db).await;
    let ada = app.account("ada@example.com").await;
    let vic = app.account("vic@example.com").await;
    let eddie = app.account("eddie@example.com").await;
    let project = app.project(&ada, "Shared").await;
    assert_eq!(
        app.add_member(&ada, &project, &vic.email, "viewer")
            .await
            .status(),
        StatusCode::CREATED
    );
    assert_eq!(
        app.add_member(&ada, &project, &eddie.email, "editor")
            .await
            .status(),
        StatusCode::CREATED
    );

    for who in [&vic, &eddie] {
        let got: Value = app
            .get(&format!("/api/v1/projects/{project}"), &who.token)
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(got["name"], "Shared");
        let resp = app
            .request(
                Method::PATCH,
                &format!("/api/v1/projects/{project}"),
                Some(&who.token),
                Some(json!({"name": "x"})),
            )
            .await;
        expect_error(resp, StatusCode::FORBIDDEN, "forbidden").await;
        let resp = app
            .request(
                Method::DELETE,
                &format!("/api/v1/projects/{project}"),
                Some(&who.token),
                None,
            )
            .await;
        expect_error(resp, StatusCode::FORBIDDEN, "forbidden").await;
    }
    let got: Value = app
        .get(&format!("/api/v1/projects/{project}"), &vic.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(got["role"], "viewer");
}

crate::both_backends!(
    owners_create_list_rename_and_delete_projects,
    strangers_get_404_exactly_as_for_a_missing_project,
    viewers_and_editors_cannot_manage_the_project,
);
