//! Stories about project members and roles.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{expect_error, spawn_app, Db};

async fn owners_add_change_and_remove_members(db: Db) {
    let app = spawn_app(db).await;
    let ada = app.account("ada@example.com").await;
    let bob = app.account("bob@example.com").await;
    let project = app.project(&ada, "Team").await;

    let resp = app
        .add_member(&ada, &project, "BOB@example.com", "editor")
        .await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let member: Value = resp.json().await.unwrap();
    assert_eq!(member["user_id"], bob.id.as_str());
    assert_eq!(member["role"], "editor");

    // Bob now sees the project, with his role.
    let list: Value = app
        .get("/api/v1/projects", &bob.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list[0]["id"], project.as_str());
    assert_eq!(list[0]["role"], "editor");

    expect_error(
        app.add_member(&ada, &project, &bob.email, "viewer").await,
        StatusCode::CONFLICT,
        "already_member",
    )
    .await;
    let msg = expect_error(
        app.add_member(&ada, &project, "ghost@example.com", "viewer")
            .await,
        StatusCode::NOT_FOUND,
        "user_not_found",
    )
    .await;
    assert!(msg.contains("ghost@example.com"), "{msg}");
    let resp = app
        .post(
            &format!("/api/v1/projects/{project}/members"),
            Some(&ada.token),
            json!({"email": "bob@example.com", "role": "god"}),
        )
        .await;
    expect_error(resp, StatusCode::UNPROCESSABLE_ENTITY, "invalid_body").await;

    let path = format!("/api/v1/projects/{project}/members/{}", bob.id);
    let resp = app
        .request(
            Method::PATCH,
            &path,
            Some(&ada.token),
            Some(json!({"role": "viewer"})),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.json::<Value>().await.unwrap()["role"], "viewer");

    let members: Value = app
        .get(&format!("/api/v1/projects/{project}/members"), &bob.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(members.as_array().unwrap().len(), 2);

    let resp = app
        .request(Method::DELETE, &path, Some(&ada.token), None)
        .await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    expect_error(
        app.get(&format!("/api/v1/projects/{project}"), &bob.token)
            .await,
        StatusCode::NOT_FOUND,
        "project_not_found",
    )
    .await;
    let resp = app
        .request(Method::DELETE, &path, Some(&ada.token), None)
        .await;
    expect_error(resp, StatusCode::NOT_FOUND, "member_not_found").await;
}

async fn viewers_and_editors_cannot_change_membership(db: Db) {
    let app = spawn_app(db).await;
    let ada = app.account("ada@example.com").await;
    let vic = app.account("vic@example.com").await;
    let eddie = app.account("eddie@example.com").await;
    let mallory = app.account("mallory@example.com").await;
    let project = app.project(&ada, "Team").await;
    app.add_member(&ada, &project, &vic.email, "viewer").await;
    app.add_member(&ada, &project, &eddie.email, "editor").await;

    for who in [&vic, &eddie] {
        let resp = app.add_member(who, &project, &mallory.email, "owner").await;
        expect_error(resp, StatusCode::FORBIDDEN, "forbidden").await;
        let resp = app
            .request(
                Method::PATCH,
                &format!("/api/v1/projects/{project}/members/{}", who.id),
                Some(&who.token),
                Some(json!({"role": "owner"})),
            )
            .await;
        expect_error(resp, StatusCode::FORBIDDEN, "forbidden").await;
        let resp = app
            .request(
                Method::DELETE,
                &format!("/api/v1/projects/{project}/members/{}", ada.id),
                Some(&who.token),
                None,
            )
            .await;
        expect_error(resp, StatusCode::FORBIDDEN, "forbidden").await;
    }
    // Anyone may leave.
    let resp = app
        .request(
            Method::DELETE,
            &format!("/api/v1/projects/{project}/members/{}", vic.id),
            Some(&vic.token),
            None,
        )
        .await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let members: Value = app
        .get(&format!("/api/v1/projects/{project}/members"), &ada.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        members.as_array().unwrap().len(),
        2,
        "mallory was never added; vic left"
    );
}

async fn the_last_owner_can_be_neither_removed_nor_demoted(db: Db) {
    let app = spawn_app(db).await;
    let ada = app.account("ada@example.com").await;
    let bob = app.account("bob@example.com").await;
    let project = app.project(&ada, "Team").await;
    let ada_path = format!("/api/v1/projects/{project}/members/{}", ada.id);

    let resp = app
        .request(
            Method::PATCH,
            &ada_path,
            Some(&ada.token),
            Some(json!({"role": "editor"})),
        )
        .await;
    let msg = expect_error(resp, StatusCode::CONFLICT, "last_owner").await;
    assert!(msg.contains("another member an owner"), "{msg}");
    let resp = app
        .request(Method::DELETE, &ada_path, Some(&ada.token), None)
        .await;
    expect_error(resp, StatusCode::CONFLICT, "last_owner").await;

    // With a second owner, the first may step down.
    app.add_member(&ada, &project, &bob.email, "owner").await;
    let resp = app
        .request(
            Method::PATCH,
            &ada_path,
            Some(&ada.token),
            Some(json!({"role": "viewer"})),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let bob_path = format!("/api/v1/projects/{project}/members/{}", bob.id);
    let resp = app
        .request(Method::DELETE, &bob_path, Some(&bob.token), None)
        .await;
    expect_error(resp, StatusCode::CONFLICT, "last_owner").await;
    let members: Value = app
        .get(&format!("/api/v1/projects/{project}/members"), &bob.token)
        .await
        .json()
        .await
        .unwrap();
    let owners = members
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] == "owner")
        .count();
    assert_eq!(owners, 1);
}

crate::both_backends!(
    owners_add_change_and_remove_members,
    viewers_and_editors_cannot_change_membership,
    the_last_owner_can_be_neither_removed_nor_demoted,
);
