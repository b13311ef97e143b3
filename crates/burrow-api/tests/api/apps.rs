//! Apps: deploy from code, an upload or a template; builds with real uv; versions, rollback, download; roles.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sha2::Digest;

use crate::both_backends;
use crate::helpers::{
    base_environment_built, expect_error, spawn_app, spawn_app_with, zip_of, Account, Db, TestApp,
};

const HELLO: &str = "import streamlit as st\nst.title('Hello')\n";

impl TestApp {
    pub(crate) async fn deploy(
        &self,
        who: &Account,
        project: &str,
        body: Value,
    ) -> reqwest::Response {
        self.post(
            &format!("/api/v1/projects/{project}/apps"),
            Some(&who.token),
            body,
        )
        .await
    }

    pub(crate) async fn upload(
        &self,
        who: &Account,
        path: &str,
        filename: &str,
        bytes: Vec<u8>,
        name: Option<&str>,
    ) -> reqwest::Response {
        let mut form = reqwest::multipart::Form::new().part(
            "file",
            reqwest::multipart::Part::bytes(bytes).file_name(filename.to_owned()),
        );
        if let Some(name) = name {
            form = form.text("name", name.to_owned());
        }
        self.client
            .post(format!("{}{path}", self.base))
            .bearer_auth(&who.token)
            .multipart(form)
            .send()
            .await
            .unwrap()
    }

    /// Polls the app until version `number`'s build has ended; returns the app.
    pub(crate) async fn built(&self, who: &Account, app_path: &str, number: i64) -> Value {
        let deadline = Instant::now() + Duration::from_secs(300);
        loop {
            let app: Value = self.get(app_path, &who.token).await.json().await.unwrap();
            let version = app["versions"]
                .as_array()
                .unwrap()
                .iter()
                .find(|v| v["number"] == number)
                .cloned()
                .unwrap_or_else(|| panic!("version {number} in {app}"));
            if matches!(
                version["build"]["status"].as_str(),
                Some("succeeded" | "failed")
            ) {
                return app;
            }
            assert!(Instant::now() < deadline, "the build did not end: {app}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

fn version(app: &Value, number: i64) -> &Value {
    app["versions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["number"] == number)
        .unwrap()
}

async fn deploy_from_code_builds_and_activates(db: Db) {
    base_environment_built();
    let app = spawn_app(db).await;
    let owner = app.account("owner@example.com").await;
    let project = app.project(&owner, "Sales").await;

    let resp = app
        .deploy(
            &owner,
            &project,
            json!({"name": "Hello", "description": "Says hello", "code": HELLO}),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let created: Value = resp.json().await.unwrap();
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(id.len(), 16, "an unguessable short id: {id}");
    assert_eq!(created["status"], "stopped");
    assert_eq!(created["created_by"]["name"], "owner");
    assert_eq!(
        created["url"],
        app.app_url(&id, "/"),
        "an origin of its own"
    );
    assert_eq!(created["versions"][0]["packages"], json!(["streamlit"]));
    assert_eq!(created["versions"][0]["inferred"], true);

    let path = format!("/api/v1/projects/{project}/apps/{id}");
    let done = app.built(&owner, &path, 1).await;
    assert_eq!(version(&done, 1)["build"]["status"], "succeeded", "{done}");
    assert_eq!(done["active_version"], 1, "a built version becomes active");
    assert_eq!(version(&done, 1)["active"], true);

    // The build log, as Server-Sent Events that end with the build's status.
    let build = version(&done, 1)["build"]["id"].as_str().unwrap();
    let resp = app
        .get(&format!("{path}/builds/{build}/log"), &owner.token)
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    let events = resp.text().await.unwrap();
    assert!(events.contains("event: log"), "{events}");
    assert!(events.contains("met by the base environment"), "{events}");
    assert!(events.contains("event: end\ndata: succeeded"), "{events}");

    // The card list.
    let list: Value = app
        .get(&format!("/api/v1/projects/{project}/apps"), &owner.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["name"], "Hello");
    assert_eq!(list[0]["description"], "Says hello");
}

async fn uploads_and_templates_deploy(db: Db) {
    base_environment_built();
    let app = spawn_app(db).await;
    let owner = app.account("owner@example.com").await;
    let project = app.project(&owner, "Sales").await;
    let apps = format!("/api/v1/projects/{project}/apps");

    // A zip in a top folder, with an asset and an explicit requirements.txt.
    let zip = zip_of(&[
        ("report/app.py", HELLO.as_bytes()),
        ("report/data/sample.csv", b"a,b\n1,2\n"),
        ("report/requirements.txt", b"streamlit\npandas>=2\n"),
    ]);
    let resp = app
        .upload(&owner, &apps, "report.zip", zip, Some("Report"))
        .await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let report: Value = resp.json().await.unwrap();
    assert_eq!(
        report["versions"][0]["packages"],
        json!(["pandas>=2", "streamlit"])
    );
    assert_eq!(report["versions"][0]["inferred"], false);

    // A single .py.
    let resp = app
        .upload(
            &owner,
            &apps,
            "hello.py",
            HELLO.as_bytes().to_vec(),
            Some("Single"),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::CREATED);

    // A template, named after itself unless named.
    let resp = app
        .deploy(&owner, &project, json!({"template": "csv-explorer"}))
        .await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let csv: Value = resp.json().await.unwrap();
    assert_eq!(csv["name"], "CSV Explorer");
    let path = format!("{apps}/{}", csv["id"].as_str().unwrap());
    let done = app.built(&owner, &path, 1).await;
    assert_eq!(version(&done, 1)["build"]["status"], "succeeded", "{done}");

    // The same name twice in a project is a conflict, naming the field.
    let resp = app
        .deploy(&owner, &project, json!({"template": "csv-explorer"}))
        .await;
    let message = expect_error(resp, StatusCode::CONFLICT, "app_exists").await;
    assert!(message.contains("CSV Explorer"), "{message}");

    let resp = app
        .deploy(&owner, &project, json!({"template": "nope", "name": "X"}))
        .await;
    let message = expect_error(resp, StatusCode::BAD_REQUEST, "unknown_template").await;
    assert!(message.contains("csv-explorer"), "{message}");
    let resp = app
        .deploy(
            &owner,
            &project,
            json!({"name": "X", "code": HELLO, "template": "csv-explorer"}),
        )
        .await;
    expect_error(resp, StatusCode::BAD_REQUEST, "invalid_upload").await;
    let resp = app.deploy(&owner, &project, json!({"code": HELLO})).await;
    expect_error(resp, StatusCode::BAD_REQUEST, "invalid_input").await;
}

async fn bad_uploads_list_every_problem_and_store_nothing(db: Db) {
    let app = spawn_app(db).await;
    let owner = app.account("owner@example.com").await;
    let project = app.project(&owner, "Sales").await;
    let apps = format!("/api/v1/projects/{project}/apps");
    let zip = zip_of(&[
        ("app.py", b"import subprocess\nimport streamlit\n"),
        (
            "requirements.txt",
            b"streamlit\nnot-allowed-pkg\n-e git+https://x/y\n",
        ),
    ]);
    let resp = app.upload(&owner, &apps, "bad.zip", zip, Some("Bad")).await;
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "invalid_bundle");
    let details = body["error"]["details"].as_array().unwrap();
    assert_eq!(details.len(), 3, "every problem is listed: {body}");
    let said = |needle: &str| {
        details
            .iter()
            .any(|d| d["message"].as_str().unwrap().contains(needle))
    };
    assert!(
        said("subprocess") && said("not-allowed-pkg") && said("-e"),
        "{body}"
    );

    let zip = zip_of(&[("app.py", HELLO.as_bytes()), ("../escape.py", b"x = 1\n")]);
    let resp = app.upload(&owner, &apps, "bad.zip", zip, Some("Bad")).await;
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(
        body["error"]["details"][0]["file"], "../escape.py",
        "{body}"
    );

    let resp = app
        .deploy(
            &owner,
            &project,
            json!({"name": "Broken", "code": "import streamlit as st\nst.title('x'\n"}),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["details"][0]["file"], "app.py", "{body}");
    assert!(
        body["error"]["details"][0]["line"].as_u64().is_some(),
        "{body}"
    );

    // Nothing was stored.
    let list: Value = app.get(&apps, &owner.token).await.json().await.unwrap();
    assert_eq!(list, json!([]));
}

async fn versions_roll_back_and_download(db: Db) {
    base_environment_built();
    let app = spawn_app(db).await;
    let owner = app.account("owner@example.com").await;
    let project = app.project(&owner, "Sales").await;
    let created: Value = app
        .deploy(&owner, &project, json!({"name": "Hello", "code": HELLO}))
        .await
        .json()
        .await
        .unwrap();
    let path = format!(
        "/api/v1/projects/{project}/apps/{}",
        created["id"].as_str().unwrap()
    );
    app.built(&owner, &path, 1).await;

    // Version 2 becomes active once built.
    let v2 = "import streamlit as st\nst.title('Hello again')\n";
    let resp = app
        .post(
            &format!("{path}/versions"),
            Some(&owner.token),
            json!({"code": v2}),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let version2: Value = resp.json().await.unwrap();
    assert_eq!(version2["number"], 2);
    let done = app.built(&owner, &path, 2).await;
    assert_eq!(done["active_version"], 2, "{done}");

    // Instant rollback.
    let resp = app
        .post(
            &format!("{path}/versions/1/activate"),
            Some(&owner.token),
            json!({}),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let rolled: Value = resp.json().await.unwrap();
    assert_eq!(rolled["active_version"], 1);

    // A version whose build fails cannot be activated, and says why.
    let resp = app
        .post(
            "/api/v1/packages",
            Some(&owner.token),
            json!({"name": "tabulate"}),
        )
        .await;
    assert_eq!(
        resp.status(),
        StatusCode::CREATED,
        "the first user is the admin"
    );
    let zip = zip_of(&[
        ("app.py", HELLO.as_bytes()),
        ("requirements.txt", b"streamlit\ntabulate==99.0\n"),
    ]);
    let resp = app
        .upload(&owner, &format!("{path}/versions"), "v3.zip", zip, None)
        .await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let done = app.built(&owner, &path, 3).await;
    let failed = version(&done, 3);
    assert_eq!(failed["build"]["status"], "failed");
    assert!(
        failed["build"]["error"]
            .as_str()
            .unwrap()
            .contains("tabulate==99.0"),
        "{failed}"
    );
    assert_eq!(done["active_version"], 1, "a failed build changes nothing");
    let resp = app
        .post(
            &format!("{path}/versions/3/activate"),
            Some(&owner.token),
            json!({}),
        )
        .await;
    let message = expect_error(resp, StatusCode::CONFLICT, "version_not_built").await;
    assert!(message.contains("tabulate==99.0"), "{message}");
    let resp = app
        .post(
            &format!("{path}/versions/9/activate"),
            Some(&owner.token),
            json!({}),
        )
        .await;
    expect_error(resp, StatusCode::NOT_FOUND, "version_not_found").await;

    // Download returns the canonical bundle, whose sha256 is the version's.
    let resp = app
        .get(&format!("{path}/versions/2/download"), &owner.token)
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["content-type"], "application/zip");
    assert!(resp.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .contains("Hello-v2.zip"));
    let bytes = resp.bytes().await.unwrap();
    let sha = hex::encode(sha2::Sha256::digest(&bytes));
    assert_eq!(sha, version(&done, 2)["sha256"].as_str().unwrap());

    // Delete takes the versions and downloads with it.
    let resp = app
        .request(Method::DELETE, &path, Some(&owner.token), None)
        .await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let resp = app.get(&path, &owner.token).await;
    expect_error(resp, StatusCode::NOT_FOUND, "app_not_found").await;
    let resp = app
        .get(&format!("{path}/versions/1/download"), &owner.token)
        .await;
    expect_error(resp, StatusCode::NOT_FOUND, "app_not_found").await;
}

async fn settings_are_checked_and_roles_enforced(db: Db) {
    base_environment_built();
    let app = spawn_app(db).await;
    let owner = app.account("owner@example.com").await;
    let viewer = app.account("viewer@example.com").await;
    let stranger = app.account("stranger@example.com").await;
    let project = app.project(&owner, "Sales").await;
    app.add_member(&owner, &project, &viewer.email, "viewer")
        .await;
    let created: Value = app
        .deploy(&owner, &project, json!({"name": "Hello", "code": HELLO}))
        .await
        .json()
        .await
        .unwrap();
    let path = format!(
        "/api/v1/projects/{project}/apps/{}",
        created["id"].as_str().unwrap()
    );

    let patch = |body: Value, who: &Account| {
        let token = who.token.clone();
        let path = path.clone();
        let app = &app;
        async move {
            app.request(Method::PATCH, &path, Some(&token), Some(body))
                .await
        }
    };
    let resp = patch(
        json!({"cpus": 0.5, "memory_mb": 512, "idle_timeout_secs": 120, "description": "New"}),
        &owner,
    )
    .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let changed: Value = resp.json().await.unwrap();
    assert_eq!(changed["cpus"], 0.5);
    assert_eq!(changed["memory_mb"], 512);
    assert_eq!(changed["idle_timeout_secs"], 120);
    assert_eq!(changed["description"], "New");
    assert_eq!(changed["name"], "Hello");
    for (body, field) in [
        (json!({"cpus": 0.01}), "cpus"),
        (json!({"memory_mb": 16}), "memory_mb"),
        (json!({"idle_timeout_secs": 5}), "idle_timeout_secs"),
        (json!({"idle_timeout_secs": 100_000}), "idle_timeout_secs"),
        (json!({"name": " "}), "name"),
    ] {
        let resp = patch(body, &owner).await;
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["error"]["field"], field, "{body}");
    }

    // Viewers see, and change nothing.
    assert_eq!(app.get(&path, &viewer.token).await.status(), StatusCode::OK);
    let resp = patch(json!({"name": "Mine"}), &viewer).await;
    expect_error(resp, StatusCode::FORBIDDEN, "forbidden").await;
    let resp = app
        .deploy(&viewer, &project, json!({"name": "V", "code": HELLO}))
        .await;
    expect_error(resp, StatusCode::FORBIDDEN, "forbidden").await;
    let resp = app
        .request(Method::DELETE, &path, Some(&viewer.token), None)
        .await;
    expect_error(resp, StatusCode::FORBIDDEN, "forbidden").await;
    let resp = app
        .post(
            &format!("{path}/versions/1/activate"),
            Some(&viewer.token),
            json!({}),
        )
        .await;
    expect_error(resp, StatusCode::FORBIDDEN, "forbidden").await;

    // App ids are never paths: deleting "..", however spelled, touches nothing.
    // (A client resolves a bare "%2E%2E" segment itself, so it is sent raw as well.)
    let raw = format!(
        "DELETE /api/v1/projects/{project}/apps/%2E%2E HTTP/1.1\r\nHost: x\r\n\
         Authorization: Bearer {}\r\nConnection: close\r\n\r\n",
        owner.token
    );
    let mut stream = tokio::net::TcpStream::connect(app.base.trim_start_matches("http://"))
        .await
        .unwrap();
    tokio::io::AsyncWriteExt::write_all(&mut stream, raw.as_bytes())
        .await
        .unwrap();
    let mut answer = String::new();
    tokio::io::AsyncReadExt::read_to_string(&mut stream, &mut answer)
        .await
        .unwrap();
    assert!(answer.starts_with("HTTP/1.1 404"), "{answer}");
    assert!(answer.contains("app_not_found"), "{answer}");
    for trick in ["..%2F..", "%2E%2E%2F%2E%2E%2Fsandboxes", "%2e%2e%2f%2e%2e"] {
        let resp = app
            .request(
                Method::DELETE,
                &format!("/api/v1/projects/{project}/apps/{trick}"),
                Some(&owner.token),
                None,
            )
            .await;
        expect_error(resp, StatusCode::NOT_FOUND, "app_not_found").await;
    }
    assert!(app.dir.path().join("sandboxes").is_dir());
    assert_eq!(app.get(&path, &owner.token).await.status(), StatusCode::OK);

    // Someone outside the project cannot tell the app exists.
    let resp = app.get(&path, &stranger.token).await;
    expect_error(resp, StatusCode::NOT_FOUND, "project_not_found").await;
    // Nor reach it through another project of their own.
    let theirs = app.project(&stranger, "Mine").await;
    let resp = app
        .get(
            &format!(
                "/api/v1/projects/{theirs}/apps/{}",
                created["id"].as_str().unwrap()
            ),
            &stranger.token,
        )
        .await;
    expect_error(resp, StatusCode::NOT_FOUND, "app_not_found").await;
}

async fn old_versions_are_pruned_except_the_active_one(db: Db) {
    base_environment_built();
    let app = spawn_app_with(db, |c| c.apps.keep_versions_days = 0).await;
    let owner = app.account("owner@example.com").await;
    let project = app.project(&owner, "Sales").await;
    let created: Value = app
        .deploy(&owner, &project, json!({"name": "Hello", "code": HELLO}))
        .await
        .json()
        .await
        .unwrap();
    let path = format!(
        "/api/v1/projects/{project}/apps/{}",
        created["id"].as_str().unwrap()
    );
    app.built(&owner, &path, 1).await;
    let resp = app
        .post(
            &format!("{path}/versions"),
            Some(&owner.token),
            json!({"code": HELLO}),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    app.built(&owner, &path, 2).await;
    let resp = app
        .post(
            &format!("{path}/versions/1/activate"),
            Some(&owner.token),
            json!({}),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::OK);

    let pruned = app
        .state
        .supervisor
        .prune_versions(Duration::from_secs(0))
        .await
        .unwrap();
    assert_eq!(pruned, 1);
    let versions: Value = app
        .get(&format!("{path}/versions"), &owner.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(versions.as_array().unwrap().len(), 1, "{versions}");
    assert_eq!(versions[0]["number"], 1, "the active version stays");
    let resp = app
        .get(&format!("{path}/versions/2/download"), &owner.token)
        .await;
    expect_error(resp, StatusCode::NOT_FOUND, "version_not_found").await;
}

async fn each_app_origin_admits_members_with_its_own_session(db: Db) {
    let app = spawn_app(db).await;
    let owner = app.account("owner@example.com").await;
    let stranger = app.account("stranger@example.com").await;
    let project = app.project(&owner, "Sales").await;
    let theirs = app.project(&stranger, "Theirs").await;
    let mine: Value = app
        .deploy(&owner, &project, json!({"name": "Mine", "code": HELLO}))
        .await
        .json()
        .await
        .unwrap();
    let id = mine["id"].as_str().unwrap();
    let mine_path = format!("/api/v1/projects/{project}/apps/{id}");
    let other: Value = app
        .deploy(&stranger, &theirs, json!({"name": "Other", "code": HELLO}))
        .await
        .json()
        .await
        .unwrap();
    let other_id = other["id"].as_str().unwrap();
    let other_path = format!("/api/v1/projects/{theirs}/apps/{other_id}");
    let browser = app.viewer_client();
    let signed_in = |location: &str| location.contains(&format!("/api/v1/apps/{id}/open"));

    // No session: through the platform's sign-in, which comes back to the same page.
    let resp = browser
        .get(app.app_url(id, "/some/page?x=1"))
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_redirection());
    let location = resp.headers()["location"].to_str().unwrap();
    assert!(signed_in(location), "{location}");
    assert!(
        location.contains("next=%2Fsome%2Fpage%3Fx%3D1"),
        "{location}"
    );

    // A view session, from a ticket, is a host-only cookie for that app alone.
    let view = |path: String, token: String| {
        let app = &app;
        let browser = browser.clone();
        async move {
            let ticket: Value = app
                .post(&format!("{path}/view-ticket"), Some(&token), json!({}))
                .await
                .json()
                .await
                .unwrap();
            let url = ticket["url"].as_str().unwrap().to_owned();
            let resp = browser.get(&url).send().await.unwrap();
            assert!(resp.status().is_redirection(), "{}", resp.status());
            assert_eq!(resp.headers()["location"], "/");
            let cookie = resp.headers()["set-cookie"].to_str().unwrap().to_owned();
            assert!(
                cookie.contains("HttpOnly") && cookie.contains("Path=/"),
                "{cookie}"
            );
            assert!(
                !cookie.to_ascii_lowercase().contains("domain"),
                "host-only: {cookie}"
            );
            (url, cookie.split(';').next().unwrap().to_owned())
        }
    };
    let (url, owner_cookie) = view(mine_path.clone(), owner.token.clone()).await;
    assert!(
        url.starts_with(&app.app_url(id, "/_burrow/ticket?")),
        "{url}"
    );
    let status = |host_app: String, cookie: String| {
        let browser = browser.clone();
        let url = app.app_url(&host_app, "/_burrow/status");
        async move {
            browser
                .get(url)
                .header("cookie", cookie)
                .send()
                .await
                .unwrap()
        }
    };
    let resp = status(id.to_owned(), owner_cookie.clone()).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.json::<Value>().await.unwrap()["status"], "stopped");

    // The stranger's session for their own app is nothing on this app's origin, and
    // the platform will not give them a ticket for it.
    let (_, stranger_cookie) = view(other_path.clone(), stranger.token.clone()).await;
    let resp = status(id.to_owned(), stranger_cookie.clone()).await;
    assert!(resp.status().is_redirection());
    let resp = app
        .get(&format!("/api/v1/apps/{id}/open"), &stranger.token)
        .await;
    expect_error(resp, StatusCode::NOT_FOUND, "app_not_found").await;
    // Nor does the owner's session for this app open the stranger's.
    let resp = status(other_id.to_owned(), owner_cookie.clone()).await;
    assert!(resp.status().is_redirection());
    // A cookie planted first under the same name (another app of the same site may
    // set one for the parent domain) neither locks the viewer out nor lets anyone in.
    let resp = status(id.to_owned(), format!("{stranger_cookie}; {owner_cookie}")).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let resp = status(id.to_owned(), "burrow_view=forged".into()).await;
    assert!(resp.status().is_redirection());

    // A ticket works on its own app's origin only, and only once.
    let ticket: Value = app
        .post(
            &format!("{mine_path}/view-ticket"),
            Some(&owner.token),
            json!({}),
        )
        .await
        .json()
        .await
        .unwrap();
    let moved = ticket["url"]
        .as_str()
        .unwrap()
        .replace(&format!("//{id}."), &format!("//{other_id}."));
    let resp = browser.get(&moved).send().await.unwrap();
    expect_error(resp, StatusCode::UNAUTHORIZED, "invalid_ticket").await;
    let resp = browser
        .get(ticket["url"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    expect_error(resp, StatusCode::UNAUTHORIZED, "invalid_ticket").await;

    // Requests another page of the site made (fetches, frames, forms) are refused;
    // navigations are not. A WebSocket must come from this app's own origin.
    let resp = browser
        .get(app.app_url(id, "/"))
        .header("cookie", &owner_cookie)
        .header("sec-fetch-site", "same-site")
        .header("sec-fetch-mode", "cors")
        .header("sec-fetch-dest", "empty")
        .send()
        .await
        .unwrap();
    expect_error(resp, StatusCode::FORBIDDEN, "cross_app_request").await;
    for origin in [
        app.app_url(other_id, ""),
        app.base.clone(),
        format!("http://apps.localhost:{}", app.apps_port),
    ] {
        let resp = browser
            .get(app.app_url(id, "/_stcore/stream"))
            .header("cookie", &owner_cookie)
            .header("origin", &origin)
            .header("connection", "upgrade")
            .header("upgrade", "websocket")
            .header("sec-websocket-version", "13")
            .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
            .send()
            .await
            .unwrap();
        expect_error(resp, StatusCode::FORBIDDEN, "foreign_origin").await;
    }

    // The listener's own address, or a host outside the pattern, serves no app.
    for url in [
        format!("http://127.0.0.1:{}/", app.apps_port),
        format!("http://a.b.apps.localhost:{}/", app.apps_port),
        format!("http://127.0.0.1:{}/_burrow/anything", app.apps_port),
    ] {
        let resp = browser.get(url).send().await.unwrap();
        expect_error(resp, StatusCode::NOT_FOUND, "app_not_found").await;
    }
    // Burrow's own paths are never the app's.
    let resp = browser
        .get(app.app_url(id, "/_burrow/anything"))
        .header("cookie", &owner_cookie)
        .send()
        .await
        .unwrap();
    expect_error(resp, StatusCode::NOT_FOUND, "route_not_found").await;
}

async fn deleting_a_project_removes_its_apps_files(db: Db) {
    let app = spawn_app(db).await;
    let owner = app.account("owner@example.com").await;
    let project = app.project(&owner, "Sales").await;
    let resp = app
        .deploy(&owner, &project, json!({"name": "Hello", "code": HELLO}))
        .await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let files = app.state.store.project_app_files(&project).await.unwrap();
    assert_eq!(files.len(), 1);
    let blob = burrow_blobs::BlobPath::from(files[0].1.as_str());
    assert!(app.state.blobs.head(&blob).await.is_ok());
    let resp = app
        .request(
            Method::DELETE,
            &format!("/api/v1/projects/{project}"),
            Some(&owner.token),
            None,
        )
        .await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    assert!(
        app.state.blobs.head(&blob).await.is_err(),
        "the bundle is gone"
    );
}

both_backends!(
    deleting_a_project_removes_its_apps_files,
    each_app_origin_admits_members_with_its_own_session,
    old_versions_are_pruned_except_the_active_one,
    deploy_from_code_builds_and_activates,
    uploads_and_templates_deploy,
    bad_uploads_list_every_problem_and_store_nothing,
    versions_roll_back_and_download,
    settings_are_checked_and_roles_enforced,
    secrets_are_write_only_and_for_editors,
    a_view_ends_at_once_when_access_is_taken_away,
);

/// The app origins remember a grant for a moment; taking access away (a member removed,
/// the app or its project deleted) must still end a view that was just granted.
async fn a_view_ends_at_once_when_access_is_taken_away(db: Db) {
    let app = spawn_app(db).await;
    let owner = app.account("owner@example.com").await;
    let member = app.account("member@example.com").await;
    let project = app.project(&owner, "Sales").await;
    app.add_member(&owner, &project, &member.email, "viewer")
        .await;
    let browser = app.viewer_client();
    let deploy = |name: &'static str| {
        let (app, owner, project) = (&app, &owner, &project);
        async move {
            let made: Value = app
                .deploy(owner, project, json!({"name": name, "code": HELLO}))
                .await
                .json()
                .await
                .unwrap();
            made["id"].as_str().unwrap().to_owned()
        }
    };
    let cookie = |id: String, token: String| {
        let (app, browser, project) = (&app, browser.clone(), &project);
        async move {
            let ticket: Value = app
                .post(
                    &format!("/api/v1/projects/{project}/apps/{id}/view-ticket"),
                    Some(&token),
                    json!({}),
                )
                .await
                .json()
                .await
                .unwrap();
            let resp = browser
                .get(ticket["url"].as_str().unwrap())
                .send()
                .await
                .unwrap();
            let set = resp.headers()["set-cookie"].to_str().unwrap();
            set.split(';').next().unwrap().to_owned()
        }
    };
    let status = |id: &str, cookie: &str| {
        browser
            .get(app.app_url(id, "/_burrow/status"))
            .header("cookie", cookie)
            .send()
    };
    let first = deploy("First").await;
    let second = deploy("Second").await;
    let members = cookie(first.clone(), member.token.clone()).await;
    let owners = cookie(first.clone(), owner.token.clone()).await;
    let owners_second = cookie(second.clone(), owner.token.clone()).await;
    for (id, c) in [
        (&first, &members),
        (&first, &owners),
        (&second, &owners_second),
    ] {
        // Twice: the second answer is the remembered one.
        for _ in 0..2 {
            assert_eq!(status(id, c).await.unwrap().status(), StatusCode::OK);
        }
    }

    // The member is removed: their very next request is refused; the owner's is not.
    let resp = app
        .request(
            Method::DELETE,
            &format!("/api/v1/projects/{project}/members/{}", member.id),
            Some(&owner.token),
            None,
        )
        .await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    expect_error(
        status(&first, &members).await.unwrap(),
        StatusCode::NOT_FOUND,
        "app_not_found",
    )
    .await;
    assert_eq!(
        status(&first, &owners).await.unwrap().status(),
        StatusCode::OK
    );

    // The app is deleted: its view session goes with it.
    let resp = app
        .request(
            Method::DELETE,
            &format!("/api/v1/projects/{project}/apps/{first}"),
            Some(&owner.token),
            None,
        )
        .await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let resp = status(&first, &owners).await.unwrap();
    assert!(
        resp.status().is_redirection(),
        "no view session is left: {}",
        resp.status()
    );
    assert_eq!(
        status(&second, &owners_second).await.unwrap().status(),
        StatusCode::OK
    );

    // The project is deleted: no view of its apps is left.
    let resp = app
        .request(
            Method::DELETE,
            &format!("/api/v1/projects/{project}"),
            Some(&owner.token),
            None,
        )
        .await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let resp = status(&second, &owners_second).await.unwrap();
    assert!(
        resp.status().is_redirection(),
        "no view session is left: {}",
        resp.status()
    );
}

async fn secrets_are_write_only_and_for_editors(db: Db) {
    let app = spawn_app(db).await;
    let owner = app.account("owner@example.com").await;
    let editor = app.account("editor@example.com").await;
    let viewer = app.account("viewer@example.com").await;
    let stranger = app.account("stranger@example.com").await;
    let project = app.project(&owner, "Sales").await;
    app.add_member(&owner, &project, &editor.email, "editor")
        .await;
    app.add_member(&owner, &project, &viewer.email, "viewer")
        .await;
    let created: Value = app
        .deploy(&owner, &project, json!({"name": "Hello", "code": HELLO}))
        .await
        .json()
        .await
        .unwrap();
    let id = created["id"].as_str().unwrap().to_owned();
    let secrets = format!("/api/v1/projects/{project}/apps/{id}/secrets");
    let put = |who: &Account, name: &str, body: Value| {
        let (token, path) = (who.token.clone(), format!("{secrets}/{name}"));
        let app = &app;
        async move {
            app.request(Method::PUT, &path, Some(&token), Some(body))
                .await
        }
    };
    let value = "sk-test-9d8c7b6a";

    // Editors set, replace and list; the value never comes back.
    let resp = put(&editor, "API_KEY", json!({ "value": value })).await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let resp = put(&owner, "API_KEY", json!({ "value": "sk-test-second" })).await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let resp = app.get(&secrets, &editor.token).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let text = resp.text().await.unwrap();
    assert!(!text.contains("sk-test"), "{text}");
    let listed: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(listed[0]["name"], "API_KEY");
    assert_eq!(listed[0]["updated_by"], "owner");
    // At rest, sealed and bound to the app and name.
    let (revision, stored) = app.state.store.app_secrets(&id).await.unwrap();
    assert_eq!(revision, 2, "each change counts");
    assert!(!stored[0].sealed.contains("sk-test"));
    let keyring = &app.state.keyring;
    assert_eq!(
        burrow_apps::secrets::open_all(&app.state.store, keyring, &id)
            .await
            .unwrap()
            .1["API_KEY"],
        "sk-test-second"
    );

    // Bad names and values say what is wrong, and change nothing.
    for (name, body, field) in [
        ("1ABC", json!({"value": "x"}), "name"),
        ("has-dash", json!({"value": "x"}), "name"),
        ("OK", json!({"value": ""}), "value"),
        ("OK", json!({"value": "a\u{0}b"}), "value"),
        ("OK", json!({"value": "x".repeat(32 * 1024 + 1)}), "value"),
    ] {
        let resp = put(&editor, name, body).await;
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["error"]["field"], field, "{body}");
    }
    let resp = put(&editor, "OK", json!({"value": "x", "extra": 1})).await;
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(app.state.store.app_secrets(&id).await.unwrap().0, 2);

    // Viewers neither see the names nor set; strangers cannot tell the app exists.
    let resp = app.get(&secrets, &viewer.token).await;
    expect_error(resp, StatusCode::FORBIDDEN, "forbidden").await;
    let resp = put(&viewer, "MINE", json!({"value": "x"})).await;
    expect_error(resp, StatusCode::FORBIDDEN, "forbidden").await;
    let resp = app.get(&secrets, &stranger.token).await;
    expect_error(resp, StatusCode::NOT_FOUND, "project_not_found").await;
    let theirs = app.project(&stranger, "Mine").await;
    let resp = app
        .get(
            &format!("/api/v1/projects/{theirs}/apps/{id}/secrets"),
            &stranger.token,
        )
        .await;
    expect_error(resp, StatusCode::NOT_FOUND, "app_not_found").await;

    // Delete: once, then it is not there.
    let path = format!("{secrets}/API_KEY");
    let resp = app
        .request(Method::DELETE, &path, Some(&editor.token), None)
        .await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let resp = app
        .request(Method::DELETE, &path, Some(&editor.token), None)
        .await;
    expect_error(resp, StatusCode::NOT_FOUND, "secret_not_found").await;
    let (revision, stored) = app.state.store.app_secrets(&id).await.unwrap();
    assert_eq!(
        (revision, stored.len()),
        (3, 0),
        "a refused delete counts nothing"
    );

    // At most 100 per app.
    for i in 0..100 {
        let resp = put(&editor, &format!("S{i}"), json!({"value": "v"})).await;
        assert_eq!(resp.status(), StatusCode::CREATED);
    }
    let resp = put(&editor, "ONE_MORE", json!({"value": "v"})).await;
    expect_error(resp, StatusCode::CONFLICT, "too_many_secrets").await;
    let resp = put(&editor, "S0", json!({"value": "w"})).await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT, "replacing is fine");
}
