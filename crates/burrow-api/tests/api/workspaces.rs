//! Workspaces through the API on both database backends: who sees what, files with
//! versions and conflicts, paths refused, limits, moves, deletes and the download.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::both_backends;
use crate::helpers::{expect_error, json_of, spawn_app_with, zip_of, Db, TestApp};

/// Every object under the blob store's `workspaces/` folder.
async fn workspace_objects(app: &TestApp) -> Vec<String> {
    crate::helpers::blob_objects(app, "workspaces").await
}

/// PUT of a file's bytes, with `If-Match` when given.
pub(crate) async fn put(
    app: &TestApp,
    token: &str,
    files: &str,
    path: &str,
    body: impl Into<reqwest::Body>,
    if_match: Option<&str>,
) -> reqwest::Response {
    let mut request = app
        .client
        .put(format!("{}{files}/file", app.base))
        .query(&[("path", path)])
        .bearer_auth(token)
        .body(body);
    if let Some(version) = if_match {
        request = request.header("If-Match", version);
    }
    request.send().await.unwrap()
}

pub(crate) async fn read(app: &TestApp, token: &str, files: &str, path: &str) -> reqwest::Response {
    app.client
        .get(format!("{}{files}/file", app.base))
        .query(&[("path", path)])
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

async fn tree(app: &TestApp, token: &str, files: &str) -> Vec<String> {
    let page = json_of(
        app.get(&format!("{files}/files"), token).await,
        StatusCode::OK,
    )
    .await;
    page["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap().to_owned())
        .collect()
}

/// A person's workspace is theirs: other members and strangers get 404, the project's
/// owners may read it but not change it, and viewers cannot make one.
async fn a_workspace_is_its_makers(db: Db) {
    let app = spawn_app_with(db, |_| {}).await;
    let owner = app.account("owner@example.com").await;
    let editor = app.account("editor@example.com").await;
    let other = app.account("other@example.com").await;
    let viewer = app.account("viewer@example.com").await;
    let stranger = app.account("stranger@example.com").await;
    let project = app.project(&owner, "Lab").await;
    for (who, role) in [
        ("editor@example.com", "editor"),
        ("other@example.com", "editor"),
        ("viewer@example.com", "viewer"),
    ] {
        app.add_member(&owner, &project, who, role).await;
    }
    let list = format!("/api/v1/projects/{project}/workspaces");
    let resp = app
        .post(&list, Some(&viewer.token), json!({"name": "mine"}))
        .await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let resp = app
        .post(&list, Some(&editor.token), json!({"name": " \u{7} "}))
        .await;
    expect_error(resp, StatusCode::BAD_REQUEST, "invalid_name").await;
    let made = json_of(
        app.post(&list, Some(&editor.token), json!({"name": "analysis"}))
            .await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(made["owner"], "editor");
    assert_eq!(made["files"], 0);
    let resp = app
        .post(&list, Some(&editor.token), json!({"name": "analysis"}))
        .await;
    expect_error(resp, StatusCode::CONFLICT, "workspace_exists").await;
    // Another editor may use the same name for a workspace of their own.
    json_of(
        app.post(&list, Some(&other.token), json!({"name": "analysis"}))
            .await,
        StatusCode::CREATED,
    )
    .await;
    let id = made["id"].as_str().unwrap();
    let one = format!("{list}/{id}");
    put(&app, &editor.token, &one, "main.py", "print('hi')\n", None).await;

    let mine = json_of(app.get(&list, &editor.token).await, StatusCode::OK).await;
    assert_eq!(mine.as_array().unwrap().len(), 1, "{mine}");
    assert_eq!(mine[0]["files"], 1);
    assert_eq!(mine[0]["bytes"], 12);
    for who in [&other, &viewer] {
        let resp = app.get(&one, &who.token).await;
        expect_error(resp, StatusCode::NOT_FOUND, "workspace_not_found").await;
        let resp = read(&app, &who.token, &one, "main.py").await;
        assert_eq!(resp.status(), StatusCode::NOT_FOUND);
        let resp = put(&app, &who.token, &one, "x.py", "", None).await;
        assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    }
    let resp = app.get(&one, &stranger.token).await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    // Its sandbox is its maker's alone to start, stop and open terminals in.
    assert_eq!(mine[0]["status"], "stopped");
    assert_eq!(mine[0]["sync_problems"], json!([]));
    assert!(mine[0]["stops_at"].is_null());
    for who in [&other, &viewer, &stranger, &owner] {
        for action in ["start", "stop"] {
            let resp = app
                .post(&format!("{one}/{action}"), Some(&who.token), json!({}))
                .await;
            assert_eq!(resp.status(), StatusCode::NOT_FOUND, "{action}");
        }
        let resp = app.get(&format!("{one}/terminals"), &who.token).await;
        assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    }
    let terminals = json_of(
        app.get(&format!("{one}/terminals"), &editor.token).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(terminals, json!([]));
    // The project's owner reads it, and changes nothing.
    let resp = read(&app, &owner.token, &one, "main.py").await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.text().await.unwrap(), "print('hi')\n");
    let resp = put(&app, &owner.token, &one, "main.py", "x", Some("*")).await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    let resp = app
        .request(Method::DELETE, &one, Some(&owner.token), None)
        .await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);

    let renamed = json_of(
        app.request(
            Method::PATCH,
            &one,
            Some(&editor.token),
            Some(json!({"name": "study"})),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(renamed["name"], "study");
    let resp = app
        .request(Method::DELETE, &one, Some(&editor.token), None)
        .await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let resp = app.get(&one, &editor.token).await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
}

/// Every write names the version it replaces: a stale one gets 409 with the file as it
/// is now, and the file keeps the other writer's change.
async fn files_have_versions_and_conflicts(db: Db) {
    let app = spawn_app_with(db, |_| {}).await;
    let ada = app.account("ada@example.com").await;
    let project = app.project(&ada, "Lab").await;
    let made = json_of(
        app.post(
            &format!("/api/v1/projects/{project}/workspaces"),
            Some(&ada.token),
            json!({"name": "w"}),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let ws = format!(
        "/api/v1/projects/{project}/workspaces/{}",
        made["id"].as_str().unwrap()
    );

    let first = json_of(
        put(&app, &ada.token, &ws, "src/app.py", "a = 1\n", None).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(first["version"], 1);
    // Made again without a version: it exists.
    let conflict = json_of(
        put(&app, &ada.token, &ws, "src/app.py", "a = 2\n", None).await,
        StatusCode::CONFLICT,
    )
    .await;
    assert_eq!(conflict["error"]["code"], "file_changed");
    assert_eq!(conflict["current"]["version"], 1);
    // Two tabs read version 1; the first saves, the second is refused with the first's text.
    let saved = json_of(
        put(
            &app,
            &ada.token,
            &ws,
            "src/app.py",
            "a = 2\n",
            Some("\"1\""),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(saved["version"], 2);
    let stale = json_of(
        put(
            &app,
            &ada.token,
            &ws,
            "src/app.py",
            "a = 3\n",
            Some("\"1\""),
        )
        .await,
        StatusCode::CONFLICT,
    )
    .await;
    assert_eq!(stale["current"]["version"], 2);
    assert_eq!(stale["current"]["content"], "a = 2\n");
    assert!(
        stale["error"]["message"]
            .as_str()
            .unwrap()
            .contains("changed since you read it"),
        "{stale}"
    );
    let resp = read(&app, &ada.token, &ws, "src/app.py").await;
    assert_eq!(resp.headers()["etag"], "\"2\"");
    assert_eq!(resp.text().await.unwrap(), "a = 2\n");
    let resp = put(&app, &ada.token, &ws, "src/app.py", "x", Some("soon")).await;
    expect_error(resp, StatusCode::BAD_REQUEST, "invalid_if_match").await;
    // `*` overwrites whatever is there.
    let forced = json_of(
        put(&app, &ada.token, &ws, "src/app.py", "a = 4\n", Some("*")).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(forced["version"], 3);

    // Binary and larger files go to the blob store; replacing or deleting one removes
    // its old object.
    let image: Vec<u8> = (0..=255u8).cycle().take(200_000).collect();
    json_of(
        put(&app, &ada.token, &ws, "data/blob.bin", image.clone(), None).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(workspace_objects(&app).await.len(), 1);
    let resp = read(&app, &ada.token, &ws, "data/blob.bin").await;
    assert_eq!(resp.bytes().await.unwrap().to_vec(), image);
    json_of(
        put(
            &app,
            &ada.token,
            &ws,
            "data/blob.bin",
            vec![0u8, 0xff, 2],
            Some("\"4\""),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        workspace_objects(&app).await.len(),
        1,
        "the old object went"
    );

    // Versions count for the whole workspace: a file deleted and made again never has a
    // version an old tab read, so that tab's save is refused.
    let old = json_of(
        put(&app, &ada.token, &ws, "tmp.txt", "first\n", None).await,
        StatusCode::OK,
    )
    .await;
    app.request(
        Method::DELETE,
        &format!("{ws}/file?path=tmp.txt"),
        Some(&ada.token),
        None,
    )
    .await;
    let again = json_of(
        put(&app, &ada.token, &ws, "tmp.txt", "second\n", None).await,
        StatusCode::OK,
    )
    .await;
    assert_ne!(again["version"], old["version"]);
    let version = format!("\"{}\"", old["version"]);
    let resp = put(&app, &ada.token, &ws, "tmp.txt", "stale\n", Some(&version)).await;
    assert_eq!(resp.status(), StatusCode::CONFLICT);
    // A file and a folder cannot share a name, either way round.
    let resp = put(&app, &ada.token, &ws, "tmp.txt/inner.py", "", None).await;
    expect_error(resp, StatusCode::CONFLICT, "path_clash").await;
    let resp = put(&app, &ada.token, &ws, "DATA", "", None).await;
    expect_error(resp, StatusCode::CONFLICT, "path_clash").await;
    // A version names a file: a delete with one where a folder is deletes nothing.
    let resp = app
        .client
        .delete(format!("{}{ws}/file", app.base))
        .query(&[("path", "data")])
        .header("If-Match", "\"3\"")
        .bearer_auth(&ada.token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CONFLICT);
    app.request(
        Method::DELETE,
        &format!("{ws}/file?path=tmp.txt"),
        Some(&ada.token),
        None,
    )
    .await;

    // Moves: a file, then a folder with everything in it.
    let resp = app
        .post(
            &format!("{ws}/move"),
            Some(&ada.token),
            json!({"from": "src/app.py", "to": "src/main.py", "version": 1}),
        )
        .await;
    expect_error(resp, StatusCode::CONFLICT, "file_changed").await;
    json_of(
        app.post(
            &format!("{ws}/move"),
            Some(&ada.token),
            json!({"from": "src/app.py", "to": "src/main.py", "version": 3}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    let moved = json_of(
        app.post(
            &format!("{ws}/move"),
            Some(&ada.token),
            json!({"from": "data", "to": "src/data"}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(moved["files"], 1);
    assert_eq!(
        tree(&app, &ada.token, &ws).await,
        ["src/data/blob.bin", "src/main.py"]
    );
    let resp = app
        .post(
            &format!("{ws}/move"),
            Some(&ada.token),
            json!({"from": "src", "to": "src/inner"}),
        )
        .await;
    expect_error(resp, StatusCode::BAD_REQUEST, "invalid_move").await;
    let resp = app
        .post(
            &format!("{ws}/move"),
            Some(&ada.token),
            json!({"from": "src/main.py", "to": "SRC/DATA/BLOB.BIN"}),
        )
        .await;
    expect_error(resp, StatusCode::CONFLICT, "path_taken").await;

    // The whole workspace as a zip.
    let resp = app.get(&format!("{ws}/download"), &ada.token).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["content-type"], "application/zip");
    let bytes = resp.bytes().await.unwrap();
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes.to_vec())).unwrap();
    let mut names: Vec<String> = zip.file_names().map(str::to_owned).collect();
    names.sort();
    assert_eq!(names, ["src/data/blob.bin", "src/main.py"]);
    let mut main = String::new();
    std::io::Read::read_to_string(&mut zip.by_name("src/main.py").unwrap(), &mut main).unwrap();
    assert_eq!(main, "a = 4\n");

    // Deleting a folder deletes what is in it, and its objects.
    let deleted = json_of(
        app.request(
            Method::DELETE,
            &format!("{ws}/file?path=src/data"),
            Some(&ada.token),
            None,
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(deleted["files"], 1);
    assert!(workspace_objects(&app).await.is_empty());
    let resp = app
        .request(
            Method::DELETE,
            &format!("{ws}/file?path=nothing"),
            Some(&ada.token),
            None,
        )
        .await;
    expect_error(resp, StatusCode::NOT_FOUND, "file_not_found").await;
    assert_eq!(tree(&app, &ada.token, &ws).await, ["src/main.py"]);
}

/// Paths are checked as an upload's entries are, case collisions are refused, and the
/// limits hold: a refused write stores nothing, not even its object.
async fn bad_paths_and_limits_are_refused_and_store_nothing(db: Db) {
    let app = spawn_app_with(db, |config| {
        config.workspaces.max_file_mb = 1;
        config.workspaces.max_total_mb = 2;
        config.workspaces.max_files = 4;
        config.workspaces.max_per_person = 1;
    })
    .await;
    let ada = app.account("ada@example.com").await;
    let project = app.project(&ada, "Lab").await;
    let made = json_of(
        app.post(
            &format!("/api/v1/projects/{project}/workspaces"),
            Some(&ada.token),
            json!({"name": "w"}),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let ws = format!(
        "/api/v1/projects/{project}/workspaces/{}",
        made["id"].as_str().unwrap()
    );
    let resp = app
        .post(
            &format!("/api/v1/projects/{project}/workspaces"),
            Some(&ada.token),
            json!({"name": "second"}),
        )
        .await;
    expect_error(resp, StatusCode::CONFLICT, "too_many_workspaces").await;
    for (path, why) in [
        ("../etc/passwd", ". or .. component"),
        ("/abs.py", "absolute path"),
        ("a//b.py", "empty component"),
        ("bad\u{1}.py", "control characters"),
        ("evil\u{202E}yp.exe", "bidirectional"),
        ("a\\b.py", "backslash"),
        ("pkg/__pycache__/x.pyc", "__pycache__"),
        ("", "empty name"),
    ] {
        let resp = put(&app, &ada.token, &ws, path, "x", None).await;
        let message = expect_error(resp, StatusCode::BAD_REQUEST, "invalid_path").await;
        assert!(message.contains(why), "{path:?}: {message}");
    }
    json_of(
        put(&app, &ada.token, &ws, "Notes.md", "# notes\n", None).await,
        StatusCode::OK,
    )
    .await;
    let resp = put(&app, &ada.token, &ws, "notes.MD", "other", None).await;
    let message = expect_error(resp, StatusCode::CONFLICT, "path_collision").await;
    assert!(message.contains("Notes.md"), "{message}");

    let big = vec![7u8; (1 << 20) + 1];
    let resp = put(&app, &ada.token, &ws, "big.bin", big, None).await;
    expect_error(resp, StatusCode::PAYLOAD_TOO_LARGE, "file_too_large").await;
    let almost = vec![7u8; 1 << 20];
    for name in ["one.bin", "two.bin"] {
        let resp = put(&app, &ada.token, &ws, name, almost.clone(), None).await;
        if name == "one.bin" {
            assert_eq!(resp.status(), StatusCode::OK);
        } else {
            expect_error(resp, StatusCode::PAYLOAD_TOO_LARGE, "workspace_full").await;
        }
    }
    json_of(
        put(&app, &ada.token, &ws, "a.py", "", None).await,
        StatusCode::OK,
    )
    .await;
    json_of(
        put(&app, &ada.token, &ws, "b.py", "", None).await,
        StatusCode::OK,
    )
    .await;
    let resp = put(&app, &ada.token, &ws, "c.py", "", None).await;
    expect_error(resp, StatusCode::PAYLOAD_TOO_LARGE, "too_many_files").await;
    // Replacing a file is within the count.
    json_of(
        put(&app, &ada.token, &ws, "b.py", "b = 1\n", Some("*")).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        tree(&app, &ada.token, &ws).await,
        ["Notes.md", "a.py", "b.py", "one.bin"]
    );
    // Only the one stored file's object is there: the refused ones left nothing.
    assert_eq!(workspace_objects(&app).await.len(), 1);

    // The tree pages.
    let page = json_of(
        app.get(&format!("{ws}/files?limit=2"), &ada.token).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(page["files"].as_array().unwrap().len(), 2);
    assert_eq!(page["next"], "a.py");
    let rest = json_of(
        app.get(&format!("{ws}/files?limit=2&after=a.py"), &ada.token)
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(rest["files"][0]["path"], "b.py");

    // Deleting the project deletes its workspaces' objects too.
    let resp = app
        .request(
            Method::DELETE,
            &format!("/api/v1/projects/{project}"),
            Some(&ada.token),
            None,
        )
        .await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    assert!(workspace_objects(&app).await.is_empty());
}

/// POST of a new workspace as a form: its name and a `.zip`.
async fn create_from_zip(
    app: &TestApp,
    token: &str,
    project: &str,
    name: &str,
    (filename, bytes): (&str, Vec<u8>),
) -> reqwest::Response {
    let form = reqwest::multipart::Form::new()
        .text("name", name.to_owned())
        .part(
            "file",
            reqwest::multipart::Part::bytes(bytes).file_name(filename.to_owned()),
        );
    app.client
        .post(format!("{}/api/v1/projects/{project}/workspaces", app.base))
        .bearer_auth(token)
        .multipart(form)
        .send()
        .await
        .unwrap()
}

/// A workspace made from a `.zip` holds its files with their paths as they were (so a
/// workspace's own download makes the same workspace again); an archive with any
/// problem, or more than a workspace may hold, makes nothing and stores nothing.
async fn a_workspace_starts_from_a_zip(db: Db) {
    let app = spawn_app_with(db, |config| {
        config.workspaces.max_file_mb = 1;
        config.workspaces.max_total_mb = 2;
        config.workspaces.max_files = 4;
    })
    .await;
    let ada = app.account("ada@example.com").await;
    let project = app.project(&ada, "Lab").await;
    let binary = vec![0u8, 159, 146, 150, 7];
    let archive = zip_of(&[
        ("src/main.py", b"print('hi')\n"),
        ("src/data/blob.bin", &binary),
    ]);
    let made = json_of(
        create_from_zip(
            &app,
            &ada.token,
            &project,
            "from zip",
            ("start.zip", archive),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(made["name"], "from zip");
    let ws = format!(
        "/api/v1/projects/{project}/workspaces/{}",
        made["id"].as_str().unwrap()
    );
    assert_eq!(
        tree(&app, &ada.token, &ws).await,
        ["src/data/blob.bin", "src/main.py"]
    );
    let main = read(&app, &ada.token, &ws, "src/main.py").await;
    assert_eq!(main.headers()["etag"], "\"1\"");
    assert_eq!(main.text().await.unwrap(), "print('hi')\n");
    let blob = read(&app, &ada.token, &ws, "src/data/blob.bin").await;
    assert_eq!(blob.bytes().await.unwrap().to_vec(), binary);
    assert_eq!(workspace_objects(&app).await.len(), 1, "the binary file's");
    // A change after is version 2, not a repeat of 1.
    let written = json_of(
        put(
            &app,
            &ada.token,
            &ws,
            "src/main.py",
            "print(2)\n",
            Some("\"1\""),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(written["version"], 2);

    // Its download makes the same workspace again.
    let download = app.get(&format!("{ws}/download"), &ada.token).await;
    let bytes = download.bytes().await.unwrap().to_vec();
    let again = json_of(
        create_from_zip(&app, &ada.token, &project, "again", ("w.zip", bytes)).await,
        StatusCode::CREATED,
    )
    .await;
    let again = format!(
        "/api/v1/projects/{project}/workspaces/{}",
        again["id"].as_str().unwrap()
    );
    assert_eq!(
        tree(&app, &ada.token, &again).await,
        ["src/data/blob.bin", "src/main.py"]
    );
    let main = read(&app, &ada.token, &again, "src/main.py").await;
    assert_eq!(main.text().await.unwrap(), "print(2)\n");
    let before = workspace_objects(&app).await;
    let count = || async {
        json_of(
            app.get(
                &format!("/api/v1/projects/{project}/workspaces"),
                &ada.token,
            )
            .await,
            StatusCode::OK,
        )
        .await
        .as_array()
        .unwrap()
        .len()
    };
    assert_eq!(count().await, 2);

    // Every problem is listed, and nothing is made.
    let bad = zip_of(&[
        ("ok.bin", &binary),
        ("../escape.py", b"x"),
        ("pkg/__pycache__/m.pyc", b"x"),
        ("big.bin", &vec![1u8; (1 << 20) + 1]),
    ]);
    let resp = create_from_zip(&app, &ada.token, &project, "bad", ("bad.zip", bad)).await;
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: serde_json::Value = resp.json().await.unwrap();
    let details = body["error"]["details"].to_string();
    assert!(details.contains(". or .. component"), "{details}");
    // Bytes that do not compress, so the archive is no bomb.
    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    let noise: Vec<u8> = (0..(1 << 20) + 1)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed as u8
        })
        .collect();
    let valid = zip_of(&[
        ("ok.bin", &binary),
        ("pkg/__pycache__/m.pyc", b"x"),
        ("big.bin", &noise),
    ]);
    let resp = create_from_zip(&app, &ada.token, &project, "bad", ("bad.zip", valid)).await;
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "invalid_archive");
    let details = body["error"]["details"].to_string();
    for why in ["__pycache__", "1 MiB"] {
        assert!(details.contains(why), "{why}: {details}");
    }
    let clash = zip_of(&[("a", b"a file"), ("a/b.py", b"and a folder")]);
    let resp = create_from_zip(&app, &ada.token, &project, "bad", ("bad.zip", clash)).await;
    let body: serde_json::Value = resp.json().await.unwrap();
    let details = body["error"]["details"].to_string();
    assert!(details.contains("both a file and a folder"), "{details}");
    let folded = zip_of(&[("Lib", b"a file"), ("lib/b.py", b"and a folder")]);
    let resp = create_from_zip(&app, &ada.token, &project, "bad", ("bad.zip", folded)).await;
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    // Too many files, and not a zip.
    let many = zip_of(&[
        ("1", b"1"),
        ("2", b"2"),
        ("3", b"3"),
        ("4", b"4"),
        ("5", b"5"),
    ]);
    let resp = create_from_zip(&app, &ada.token, &project, "many", ("m.zip", many)).await;
    expect_error(resp, StatusCode::PAYLOAD_TOO_LARGE, "too_many_files").await;
    let resp = create_from_zip(&app, &ada.token, &project, "py", ("m.py", b"x".to_vec())).await;
    let message = expect_error(resp, StatusCode::BAD_REQUEST, "invalid_upload").await;
    assert!(message.contains("not a .zip"), "{message}");
    let resp = create_from_zip(
        &app,
        &ada.token,
        &project,
        "junk",
        ("j.zip", b"PK".to_vec()),
    )
    .await;
    expect_error(resp, StatusCode::UNPROCESSABLE_ENTITY, "invalid_archive").await;
    // Larger than a workspace may be, as a body.
    let huge = vec![b'x'; 4 << 20];
    let resp = create_from_zip(&app, &ada.token, &project, "huge", ("h.zip", huge)).await;
    expect_error(resp, StatusCode::PAYLOAD_TOO_LARGE, "upload_too_large").await;
    // A name taken: the archive's blobs go again.
    let resp = create_from_zip(
        &app,
        &ada.token,
        &project,
        "again",
        ("w.zip", zip_of(&[("x.bin", &binary)])),
    )
    .await;
    expect_error(resp, StatusCode::CONFLICT, "workspace_exists").await;
    assert_eq!(count().await, 2);
    assert_eq!(workspace_objects(&app).await, before);
}

both_backends!(
    a_workspace_starts_from_a_zip,
    a_workspace_is_its_makers,
    files_have_versions_and_conflicts,
    bad_paths_and_limits_are_refused_and_store_nothing,
);
