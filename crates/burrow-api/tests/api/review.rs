//! Review through the API on both database backends: templates, who sees which
//! submission, immutable snapshots, diff bases, comments that carry over, statuses,
//! verdicts, notifications, limits, and what deleting leaves behind.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::{blob_objects, expect_error, json_of, spawn_app_with, zip_of, Db, TestApp};

async fn template_from_zip(
    app: &TestApp,
    token: &str,
    project: &str,
    name: &str,
    archive: Vec<u8>,
) -> reqwest::Response {
    let form = reqwest::multipart::Form::new()
        .text("name", name.to_owned())
        .text("description", "Week 1".to_owned())
        .part(
            "file",
            reqwest::multipart::Part::bytes(archive).file_name("start.zip"),
        );
    app.client
        .post(format!("{}/api/v1/projects/{project}/templates", app.base))
        .bearer_auth(token)
        .multipart(form)
        .send()
        .await
        .unwrap()
}

async fn put(app: &TestApp, token: &str, ws: &str, path: &str, body: &str) {
    let resp = app
        .client
        .put(format!("{}{ws}/file", app.base))
        .query(&[("path", path)])
        .bearer_auth(token)
        .header("If-Match", "*")
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.status(),
        StatusCode::OK,
        "{}",
        resp.text().await.unwrap()
    );
}

async fn submit(app: &TestApp, token: &str, ws: &str, message: &str) -> Value {
    json_of(
        app.post(
            &format!("{ws}/submissions"),
            Some(token),
            json!({ "message": message }),
        )
        .await,
        StatusCode::CREATED,
    )
    .await
}

fn file<'a>(diff: &'a Value, path: &str) -> &'a Value {
    diff["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"] == path)
        .unwrap_or_else(|| panic!("{path} in {diff}"))
}

/// `(kind, old, new, text)` of each line of a file's diff.
fn lines(file: &Value) -> Vec<(String, Value, Value, String)> {
    file["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["kind"].as_str().unwrap().to_owned(),
                l["old"].clone(),
                l["new"].clone(),
                l["text"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

const START: &str = "def add(a, b):\n    return a - b\n\nprint(add(1, 2))\nprint('done')\n";

/// A reviewer's template starts a learner's workspace; the learner submits, and sees
/// only their own submissions; others get 404; a viewer cannot submit, a learner cannot
/// review, nobody reviews their own; and a submission is a snapshot that later edits do
/// not change, its unchanged files stored once.
async fn roles_templates_and_immutable_submissions(db: Db) {
    let app = spawn_app_with(db, |_| {}).await;
    let owner = app.account("owner@example.com").await;
    let reviewer = app.account("rita@example.com").await;
    let ada = app.account("ada@example.com").await;
    let bob = app.account("bob@example.com").await;
    let viewer = app.account("vic@example.com").await;
    let project = app.project(&owner, "Course").await;
    for (who, role) in [
        ("rita@example.com", "reviewer"),
        ("ada@example.com", "editor"),
        ("bob@example.com", "editor"),
        ("vic@example.com", "viewer"),
    ] {
        let added = json_of(
            app.add_member(&owner, &project, who, role).await,
            StatusCode::CREATED,
        )
        .await;
        assert_eq!(added["role"], role);
    }
    let p = format!("/api/v1/projects/{project}");
    let binary = vec![0u8, 1, 2, 3, 250];
    let archive = zip_of(&[("add.py", START.as_bytes()), ("data.bin", &binary)]);

    // Only reviewers and owners make templates.
    let resp = template_from_zip(&app, &ada.token, &project, "Week 1", archive.clone()).await;
    expect_error(resp, StatusCode::FORBIDDEN, "forbidden").await;
    let template = json_of(
        template_from_zip(&app, &reviewer.token, &project, "Week 1", archive.clone()).await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(
        (template["files"].as_i64(), template["description"].as_str()),
        (Some(2), Some("Week 1"))
    );
    let resp = template_from_zip(&app, &owner.token, &project, "Week 1", archive).await;
    expect_error(resp, StatusCode::CONFLICT, "template_exists").await;
    let listed = json_of(
        app.get(&format!("{p}/templates"), &bob.token).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(listed.as_array().unwrap().len(), 1);
    let folder = format!("workspaces/{project}/contents");
    let contents = || blob_objects(&app, &folder);
    assert_eq!(contents().await.len(), 1, "the binary file, once");

    // A learner starts from it; a template of another project is not found.
    let resp = app
        .post(
            &format!("{p}/workspaces"),
            Some(&ada.token),
            json!({"name": "w1", "template_id": "tp_nope"}),
        )
        .await;
    expect_error(resp, StatusCode::NOT_FOUND, "template_not_found").await;
    let elsewhere = app.project(&ada, "Elsewhere").await;
    let foreign = json_of(
        template_from_zip(
            &app,
            &ada.token,
            &elsewhere,
            "Mine",
            zip_of(&[("x.py", b"x = 1\n")]),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let resp = app
        .post(
            &format!("{p}/workspaces"),
            Some(&ada.token),
            json!({"name": "w1", "template_id": foreign["id"]}),
        )
        .await;
    expect_error(resp, StatusCode::NOT_FOUND, "template_not_found").await;
    let resp = app
        .request(
            reqwest::Method::DELETE,
            &format!("{p}/templates/{}", foreign["id"].as_str().unwrap()),
            Some(&owner.token),
            None,
        )
        .await;
    expect_error(resp, StatusCode::NOT_FOUND, "template_not_found").await;
    let made = json_of(
        app.post(
            &format!("{p}/workspaces"),
            Some(&ada.token),
            json!({"name": "w1", "template_id": template["id"]}),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(made["template"], "Week 1");
    assert_eq!(made["files"], 2);
    let ws = format!("{p}/workspaces/{}", made["id"].as_str().unwrap());
    put(
        &app,
        &ada.token,
        &ws,
        "add.py",
        &START.replace("a - b", "a + b"),
    )
    .await;

    // Nobody but its owner submits a workspace.
    for who in [&viewer, &bob, &reviewer] {
        let resp = app
            .post(
                &format!("{ws}/submissions"),
                Some(&who.token),
                json!({"message": "x"}),
            )
            .await;
        expect_error(resp, StatusCode::NOT_FOUND, "workspace_not_found").await;
    }
    let first = submit(&app, &ada.token, &ws, "Fixed add").await;
    assert_eq!(
        (first["seq"].as_i64(), first["status"].as_str()),
        (Some(1), Some("submitted"))
    );
    assert_eq!(first["base"], json!({"kind": "template", "seq": null}));
    assert_eq!(first["template"], "Week 1");
    assert_eq!(
        contents().await.len(),
        1,
        "the unchanged binary file costs nothing"
    );
    let s1 = format!("{p}/submissions/{}", first["id"].as_str().unwrap());

    // Another learner sees none of it; a viewer neither.
    for who in [&bob, &viewer] {
        for path in [s1.clone(), format!("{s1}/diff"), format!("{s1}/comments")] {
            let resp = app.get(&path, &who.token).await;
            expect_error(resp, StatusCode::NOT_FOUND, "submission_not_found").await;
        }
        let mine = json_of(
            app.get(&format!("{p}/submissions"), &who.token).await,
            StatusCode::OK,
        )
        .await;
        assert_eq!(mine, json!([]));
    }
    let all = json_of(
        app.get(
            &format!("{p}/submissions?status=submitted"),
            &reviewer.token,
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(all.as_array().unwrap().len(), 1);
    let resp = app
        .get(&format!("{p}/submissions?status=lost"), &reviewer.token)
        .await;
    expect_error(resp, StatusCode::BAD_REQUEST, "invalid_status").await;
    let by_template = json_of(
        app.get(
            &format!(
                "{p}/submissions?template={}&learner={}",
                template["id"].as_str().unwrap(),
                ada.id
            ),
            &owner.token,
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(by_template.as_array().unwrap().len(), 1);

    // The diff is against the template.
    let diff = json_of(
        app.get(&format!("{s1}/diff"), &reviewer.token).await,
        StatusCode::OK,
    )
    .await;
    let add = file(&diff, "add.py");
    assert_eq!(
        (
            add["status"].as_str(),
            add["additions"].as_i64(),
            add["deletions"].as_i64()
        ),
        (Some("modified"), Some(1), Some(1))
    );
    assert_eq!(
        lines(add)[1..3],
        [
            (
                "removed".into(),
                json!(2),
                Value::Null,
                "    return a - b".into()
            ),
            (
                "added".into(),
                Value::Null,
                json!(2),
                "    return a + b".into()
            ),
        ]
    );
    let data = file(&diff, "data.bin");
    assert_eq!(
        (data["status"].as_str(), data["binary"].as_bool()),
        (Some("unchanged"), Some(true))
    );

    // Editing the workspace after changes nothing in the submission.
    put(&app, &ada.token, &ws, "add.py", "print('rewritten')\n").await;
    put(&app, &ada.token, &ws, "extra.py", "x = 1\n").await;
    let again = json_of(
        app.get(&format!("{s1}/diff"), &ada.token).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(again, diff);

    // A learner does not review; nobody reviews their own.
    let verdict = json!({"verdict": "approved", "summary": ""});
    let resp = app
        .post(&format!("{s1}/review"), Some(&ada.token), verdict.clone())
        .await;
    expect_error(resp, StatusCode::FORBIDDEN, "forbidden").await;
    let resp = app
        .post(&format!("{s1}/review"), Some(&bob.token), verdict.clone())
        .await;
    expect_error(resp, StatusCode::FORBIDDEN, "forbidden").await;
    let own = json_of(
        app.post(
            &format!("{p}/workspaces"),
            Some(&reviewer.token),
            json!({"name": "mine"}),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let own_ws = format!("{p}/workspaces/{}", own["id"].as_str().unwrap());
    let resp = app
        .post(
            &format!("{own_ws}/submissions"),
            Some(&reviewer.token),
            json!({"message": ""}),
        )
        .await;
    expect_error(resp, StatusCode::BAD_REQUEST, "empty_workspace").await;
    put(&app, &reviewer.token, &own_ws, "a.py", "1\n").await;
    let own_sub = submit(&app, &reviewer.token, &own_ws, "").await;
    assert_eq!(own_sub["base"]["kind"], "empty");
    let resp = app
        .post(
            &format!("{p}/submissions/{}/review", own_sub["id"].as_str().unwrap()),
            Some(&reviewer.token),
            verdict.clone(),
        )
        .await;
    expect_error(resp, StatusCode::FORBIDDEN, "own_submission").await;
    let resp = app
        .post(
            &format!("{ws}/submissions"),
            Some(&ada.token),
            json!({"message": "m".repeat(2001)}),
        )
        .await;
    expect_error(resp, StatusCode::PAYLOAD_TOO_LARGE, "text_too_long").await;

    // A template of a workspace: one's own only; deleting it leaves the workspaces made
    // from it whole.
    let resp = app
        .post(
            &format!("{p}/templates"),
            Some(&owner.token),
            json!({"name": "From w1", "workspace_id": made["id"]}),
        )
        .await;
    expect_error(resp, StatusCode::NOT_FOUND, "workspace_not_found").await;
    let copy = json_of(
        app.post(
            &format!("{p}/templates"),
            Some(&reviewer.token),
            json!({"name": "From mine", "workspace_id": own["id"]}),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(copy["files"], 1);
    for t in [&template, &copy] {
        let resp = app
            .request(
                reqwest::Method::DELETE,
                &format!("{p}/templates/{}", t["id"].as_str().unwrap()),
                Some(&ada.token),
                None,
            )
            .await;
        expect_error(resp, StatusCode::FORBIDDEN, "forbidden").await;
        let resp = app
            .request(
                reqwest::Method::DELETE,
                &format!("{p}/templates/{}", t["id"].as_str().unwrap()),
                Some(&reviewer.token),
                None,
            )
            .await;
        assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    }
    let still = json_of(
        app.get(&format!("{s1}/diff"), &ada.token).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(still, diff, "the base outlives its template");
    assert_eq!(
        json_of(app.get(&s1, &ada.token).await, StatusCode::OK).await["template"],
        Value::Null
    );

    // Deleting the workspace deletes its submissions, and what only they held.
    let resp = app
        .request(reqwest::Method::DELETE, &ws, Some(&ada.token), None)
        .await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let resp = app.get(&s1, &reviewer.token).await;
    expect_error(resp, StatusCode::NOT_FOUND, "submission_not_found").await;
    assert_eq!(contents().await, Vec::<String>::new());
}

/// Threads anchor to a submission's lines, and show on the next submission where their
/// lines are unchanged; statuses move as reviews and resubmissions say; the learner is
/// notified of each verdict, and reviewers of each submission.
async fn comments_carry_over_and_statuses_move(db: Db) {
    let app = spawn_app_with(db, |_| {}).await;
    let owner = app.account("owner@example.com").await;
    let reviewer = app.account("rita@example.com").await;
    let ada = app.account("ada@example.com").await;
    let project = app.project(&owner, "Course").await;
    app.add_member(&owner, &project, "rita@example.com", "reviewer")
        .await;
    app.add_member(&owner, &project, "ada@example.com", "editor")
        .await;
    let p = format!("/api/v1/projects/{project}");
    let made = json_of(
        app.post(
            &format!("{p}/workspaces"),
            Some(&ada.token),
            json!({"name": "w"}),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let ws = format!("{p}/workspaces/{}", made["id"].as_str().unwrap());
    put(&app, &ada.token, &ws, "add.py", START).await;
    let first = submit(&app, &ada.token, &ws, "first").await;
    let s1 = format!("{p}/submissions/{}", first["id"].as_str().unwrap());

    // Reviewers were told.
    let told = json_of(
        app.get("/api/v1/notifications", &reviewer.token).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(told[0]["kind"], "submission_made");
    assert_eq!(
        told[0]["link"],
        format!(
            "/projects/{project}/submissions/{}",
            first["id"].as_str().unwrap()
        )
    );
    assert_eq!(told[0]["read"], false);

    // Anchors are checked.
    let comment = |path: &str, side: &str, start: i64, end: i64, body: &str| json!({"path": path, "side": side, "line_start": start, "line_end": end, "body": body});
    for (body, status, code) in [
        (
            comment("add.py", "new", 6, 6, "x"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_anchor",
        ),
        (
            comment("add.py", "new", 3, 2, "x"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_anchor",
        ),
        (
            comment("nope.py", "new", 1, 1, "x"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_anchor",
        ),
        (
            comment("add.py", "old", 1, 1, "x"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_anchor",
        ),
        (
            comment("add.py", "left", 1, 1, "x"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_anchor",
        ),
        (
            comment("add.py", "new", 1, 1, "  "),
            StatusCode::BAD_REQUEST,
            "invalid_text",
        ),
        (
            comment("add.py", "new", 1, 1, &"x".repeat(10_001)),
            StatusCode::PAYLOAD_TOO_LARGE,
            "text_too_long",
        ),
    ] {
        let resp = app
            .post(&format!("{s1}/comments"), Some(&reviewer.token), body)
            .await;
        expect_error(resp, status, code).await;
    }
    let markup = "<img src=x onerror=alert(1)> is not how you add";
    let on_two = json_of(
        app.post(
            &format!("{s1}/comments"),
            Some(&reviewer.token),
            comment("add.py", "new", 2, 2, markup),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(
        on_two["comments"][0]["body"], markup,
        "kept as written, shown as text"
    );
    let on_four = json_of(
        app.post(
            &format!("{s1}/comments"),
            Some(&reviewer.token),
            comment("add.py", "new", 4, 5, "print the result"),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    // The learner replies and resolves.
    let thread = format!("{p}/comments/{}", on_four["id"].as_str().unwrap());
    let replied = json_of(
        app.post(
            &format!("{thread}/replies"),
            Some(&ada.token),
            json!({"body": "ok"}),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(replied["comments"].as_array().unwrap().len(), 2);
    let resolved = json_of(
        app.post(
            &format!("{thread}/resolve"),
            Some(&ada.token),
            json!({"resolved": true}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(resolved["resolved"], true);

    let reviewed = json_of(
        app.post(
            &format!("{s1}/review"),
            Some(&reviewer.token),
            json!({"verdict": "changes_requested", "summary": "Look at line 2"}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        (
            reviewed["status"].as_str(),
            reviewed["summary"].as_str(),
            reviewed["reviewed_by"].as_str()
        ),
        (
            Some("changes_requested"),
            Some("Look at line 2"),
            Some("rita")
        )
    );
    let told = json_of(
        app.get("/api/v1/notifications", &ada.token).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(told[0]["kind"], "submission_reviewed");
    assert!(
        told[0]["message"]
            .as_str()
            .unwrap()
            .contains("asked for changes"),
        "{told}"
    );
    let id = told[0]["id"].as_str().unwrap();
    let resp = app
        .post(
            &format!("/api/v1/notifications/{id}/read"),
            Some(&reviewer.token),
            json!({}),
        )
        .await;
    expect_error(resp, StatusCode::NOT_FOUND, "notification_not_found").await;
    let resp = app
        .post(
            &format!("/api/v1/notifications/{id}/read"),
            Some(&ada.token),
            json!({}),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        json_of(
            app.get("/api/v1/notifications", &ada.token).await,
            StatusCode::OK
        )
        .await[0]["read"],
        true
    );

    // The IDE sees the threads where their lines are now.
    put(&app, &ada.token, &ws, "add.py", &format!("# add\n{START}")).await;
    let panel = json_of(
        app.get(&format!("{ws}/review"), &ada.token).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(panel["submission"]["seq"], 1);
    let placed: Vec<(Value, Value)> = panel["threads"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["line_start"].clone(), t["current_line"].clone()))
        .collect();
    assert_eq!(placed, [(json!(2), json!(3)), (json!(4), json!(5))]);

    // Resubmitted: line 2 fixed, a line added on top. The thread on line 2 stays on #1;
    // the one on lines 4–5, unchanged, shows on #2 at lines 5–6.
    put(
        &app,
        &ada.token,
        &ws,
        "add.py",
        &format!("# add\n{}", START.replace("a - b", "a + b")),
    )
    .await;
    let second = submit(&app, &ada.token, &ws, "second").await;
    assert_eq!(second["base"], json!({"kind": "submission", "seq": 1}));
    let s2 = format!("{p}/submissions/{}", second["id"].as_str().unwrap());
    assert_eq!(
        json_of(app.get(&s1, &ada.token).await, StatusCode::OK).await["status"],
        "changes_requested",
        "a reviewed one keeps its verdict"
    );
    let threads = json_of(
        app.get(&format!("{s2}/comments"), &reviewer.token).await,
        StatusCode::OK,
    )
    .await;
    let threads = threads.as_array().unwrap();
    assert_eq!(threads.len(), 1, "{threads:?}");
    assert_eq!(
        (
            threads[0]["carried"].as_bool(),
            threads[0]["seq"].as_i64(),
            threads[0]["line_start"].as_i64(),
            threads[0]["line_end"].as_i64()
        ),
        (Some(true), Some(1), Some(5), Some(6))
    );
    let on_one = json_of(
        app.get(&format!("{s1}/comments"), &reviewer.token).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        on_one.as_array().unwrap().len(),
        2,
        "the anchor never moves"
    );
    // The diff of #2 is against #1.
    let diff = json_of(
        app.get(&format!("{s2}/diff"), &reviewer.token).await,
        StatusCode::OK,
    )
    .await;
    let add = file(&diff, "add.py");
    assert_eq!(
        (add["additions"].as_i64(), add["deletions"].as_i64()),
        (Some(2), Some(1))
    );
    // A comment on the old side of #2 is on #1's lines.
    let old_side = json_of(
        app.post(
            &format!("{s2}/comments"),
            Some(&reviewer.token),
            comment("add.py", "old", 2, 2, "was wrong"),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(old_side["side"], "old");

    // A newer submission supersedes one waiting; the superseded one is no longer reviewed.
    let third = submit(&app, &ada.token, &ws, "third").await;
    assert_eq!(
        json_of(app.get(&s2, &ada.token).await, StatusCode::OK).await["status"],
        "superseded"
    );
    let resp = app
        .post(
            &format!("{s2}/review"),
            Some(&reviewer.token),
            json!({"verdict": "approved"}),
        )
        .await;
    expect_error(resp, StatusCode::CONFLICT, "submission_not_live").await;
    let s3 = format!("{p}/submissions/{}", third["id"].as_str().unwrap());
    let withdrawn = json_of(
        app.post(&format!("{s3}/withdraw"), Some(&ada.token), json!({}))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(withdrawn["status"], "withdrawn");
    let resp = app
        .post(&format!("{s3}/withdraw"), Some(&ada.token), json!({}))
        .await;
    expect_error(resp, StatusCode::CONFLICT, "submission_not_waiting").await;
    let resp = app
        .post(
            &format!("{s3}/review"),
            Some(&reviewer.token),
            json!({"verdict": "approved"}),
        )
        .await;
    expect_error(resp, StatusCode::CONFLICT, "submission_not_live").await;
    let fourth = submit(&app, &ada.token, &ws, "fourth").await;
    assert_eq!(
        (fourth["seq"].as_i64(), fourth["base"]["seq"].as_i64()),
        (Some(4), Some(2)),
        "a withdrawn one is no base"
    );
    let s4 = format!("{p}/submissions/{}", fourth["id"].as_str().unwrap());
    let resp = app
        .post(&format!("{s4}/withdraw"), Some(&reviewer.token), json!({}))
        .await;
    expect_error(resp, StatusCode::FORBIDDEN, "not_your_submission").await;
    assert_eq!(
        json_of(app.get(&s2, &reviewer.token).await, StatusCode::OK).await["live"],
        false
    );
    assert_eq!(
        json_of(app.get(&s1, &reviewer.token).await, StatusCode::OK).await["live"],
        false,
        "a newer one came"
    );
    let approved = json_of(
        app.post(
            &format!("{s4}/review"),
            Some(&owner.token),
            json!({"verdict": "approved", "summary": "Good"}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        (approved["status"].as_str(), approved["live"].as_bool()),
        (Some("approved"), Some(true))
    );
    let told = json_of(
        app.get("/api/v1/notifications", &ada.token).await,
        StatusCode::OK,
    )
    .await;
    assert!(
        told[0]["message"].as_str().unwrap().contains("approved"),
        "{told}"
    );
    assert_eq!(told[0]["read"], false);
    let resp = app
        .post("/api/v1/notifications/read", Some(&ada.token), json!({}))
        .await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let told = json_of(
        app.get("/api/v1/notifications", &ada.token).await,
        StatusCode::OK,
    )
    .await;
    assert!(told.as_array().unwrap().iter().all(|n| n["read"] == true));
    let listed = json_of(
        app.get(&format!("{ws}/submissions"), &ada.token).await,
        StatusCode::OK,
    )
    .await;
    let statuses: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses,
        ["approved", "withdrawn", "superseded", "changes_requested"]
    );

    // A renamed file's old side is its old path.
    let body = START.replace("a - b", "a + b");
    let resp = app
        .post(
            &format!("{ws}/move"),
            Some(&ada.token),
            json!({"from": "add.py", "to": "sum.py"}),
        )
        .await;
    assert_eq!(
        resp.status(),
        StatusCode::OK,
        "{}",
        resp.text().await.unwrap()
    );
    put(&app, &ada.token, &ws, "sum.py", &format!("# sum\n{body}")).await;
    let fifth = submit(&app, &ada.token, &ws, "renamed").await;
    let s5 = format!("{p}/submissions/{}", fifth["id"].as_str().unwrap());
    let diff = json_of(
        app.get(&format!("{s5}/diff"), &reviewer.token).await,
        StatusCode::OK,
    )
    .await;
    let renamed = file(&diff, "sum.py");
    assert_eq!(
        (renamed["status"].as_str(), renamed["old_path"].as_str()),
        (Some("renamed"), Some("add.py"))
    );
    json_of(
        app.post(
            &format!("{s5}/comments"),
            Some(&reviewer.token),
            comment("add.py", "old", 1, 1, "old name"),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;

    // Ids of this project are nothing in another one, even to its owner.
    let other = app.project(&owner, "Other").await;
    let o = format!("/api/v1/projects/{other}");
    let resp = app
        .post(
            &format!("{o}/comments/{}/replies", on_four["id"].as_str().unwrap()),
            Some(&owner.token),
            json!({"body": "x"}),
        )
        .await;
    expect_error(resp, StatusCode::NOT_FOUND, "comment_not_found").await;
    let resp = app
        .get(
            &format!("{o}/submissions/{}/diff", first["id"].as_str().unwrap()),
            &owner.token,
        )
        .await;
    expect_error(resp, StatusCode::NOT_FOUND, "submission_not_found").await;

    // Someone removed from the project no longer sees its notifications.
    let mine = json_of(
        app.get("/api/v1/notifications", &reviewer.token).await,
        StatusCode::OK,
    )
    .await;
    assert!(!mine.as_array().unwrap().is_empty());
    let resp = app
        .request(
            reqwest::Method::DELETE,
            &format!("{p}/members/{}", reviewer.id),
            Some(&owner.token),
            None,
        )
        .await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        json_of(
            app.get("/api/v1/notifications", &reviewer.token).await,
            StatusCode::OK
        )
        .await,
        json!([])
    );
}

both_backends!(
    roles_templates_and_immutable_submissions,
    comments_carry_over_and_statuses_move,
);
