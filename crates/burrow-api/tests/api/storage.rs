//! Where Burrow keeps what people send, when it fails: apps, tables and workspace files on
//! a real S3-compatible server (SeaweedFS), which then hangs; and a data folder on a disk
//! that fills up. Either way the request fails with a status and a message that say so
//! (503 or 507), nothing is kept half-way, and everything works again afterwards.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use burrow_config::BlobConfig;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{
    base_environment_built, blob_objects, expect_error, json_of, spawn_app_in, spawn_app_with,
    zip_of, Account, Db, TestApp,
};

const HELLO: &str = "import streamlit as st\nst.title('Hello')\n";

/// An app made from code, built; returns its API path.
async fn built_app(app: &TestApp, owner: &Account, project: &str) -> String {
    let created = json_of(
        app.deploy(owner, project, json!({"name": "Hello", "code": HELLO}))
            .await,
        StatusCode::CREATED,
    )
    .await;
    let path = format!(
        "/api/v1/projects/{project}/apps/{}",
        created["id"].as_str().unwrap()
    );
    let done = app.built(owner, &path, 1).await;
    assert_eq!(
        done["versions"][0]["build"]["status"], "succeeded",
        "{done}"
    );
    path
}

/// A second version's upload.
async fn upload_version(app: &TestApp, owner: &Account, path: &str) -> reqwest::Response {
    let zip = zip_of(&[("app.py", b"import streamlit as st\nst.title('Two')\n")]);
    app.upload(owner, &format!("{path}/versions"), "v2.zip", zip, None)
        .await
}

/// A table uploaded from a CSV file, as `name`.
async fn upload_table(
    app: &TestApp,
    owner: &Account,
    tables: &str,
    name: &str,
) -> reqwest::Response {
    let csv = b"a,b\n1,x\n2,y\n".to_vec();
    crate::tables::upload(
        app,
        owner,
        Method::POST,
        tables,
        &[("name", name)],
        ("t.csv", csv),
    )
    .await
}

/// The numbers of an app's versions.
async fn version_numbers(app: &TestApp, owner: &Account, path: &str) -> Vec<i64> {
    let got = json_of(app.get(path, &owner.token).await, StatusCode::OK).await;
    got["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["number"].as_i64().unwrap())
        .collect()
}

async fn table_names(app: &TestApp, owner: &Account, project: &str) -> Vec<String> {
    let got = json_of(
        app.get(&format!("/api/v1/projects/{project}/tables"), &owner.token)
            .await,
        StatusCode::OK,
    )
    .await;
    got.as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_owned())
        .collect()
}

/// The `blobs.forget` tasks that run at once (not the later pass): how many, and how
/// many have succeeded.
async fn forget_tasks(app: &TestApp) -> (i64, i64) {
    use sqlx::Connection;
    let mut conn = sqlx::AnyConnection::connect(&app.database_url)
        .await
        .unwrap();
    sqlx::query_as(
        "SELECT COUNT(*), COUNT(CASE WHEN status = 'succeeded' THEN 1 END) \
         FROM queue_tasks WHERE kind = 'blobs.forget' AND dedupe_key LIKE 'now:%'",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap()
}

/// A version's bundle, downloaded, holds its `app.py`.
async fn downloaded_app_py(app: &TestApp, owner: &Account, path: &str, number: i64) -> String {
    let resp = app
        .get(&format!("{path}/versions/{number}/download"), &owner.token)
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let bytes = resp.bytes().await.unwrap();
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes.to_vec())).unwrap();
    let mut text = String::new();
    std::io::Read::read_to_string(&mut zip.by_name("app.py").unwrap(), &mut text).unwrap();
    text
}

/// Apps, tables and workspace files kept on S3, then the storage hangs: uploads fail
/// with 503 and keep nothing, and once it answers again they work.
async fn blobs_on_s3_survive_a_hung_server(db: Db) {
    base_environment_built();
    let seaweed = burrow_testkit::s3::Seaweed::start("burrow").await;
    // Requests are abandoned after 4 s and retried for 2 s: a hung server fails an upload
    // in seconds, not minutes.
    let app = spawn_app_with(db, |config| config.blobs = seaweed.config(4, 2)).await;
    let owner = app.account("owner@example.com").await;
    let project = app.project(&owner, "Sales").await;

    // An app: its bundle and its build log go to the bucket, and come back from it.
    let path = built_app(&app, &owner, &project).await;
    assert_eq!(downloaded_app_py(&app, &owner, &path, 1).await, HELLO);
    // A table: Parquet in the bucket, read back by range for a query.
    let tables = format!("/api/v1/projects/{project}/tables");
    json_of(
        app.post(&format!("{tables}/sample"), Some(&owner.token), json!({}))
            .await,
        StatusCode::CREATED,
    )
    .await;
    let result = json_of(
        app.post(
            &format!("/api/v1/projects/{project}/sql"),
            Some(&owner.token),
            json!({"sql": "select count(*) as n, sum(units) as units from daily_sales"}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(result["rows"][0][0], "120", "{result}");
    // A workspace's binary file: a blob of its own.
    let made = json_of(
        app.post(
            &format!("/api/v1/projects/{project}/workspaces"),
            Some(&owner.token),
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
    let binary: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
    let put = crate::workspaces::put(
        &app,
        &owner.token,
        &ws,
        "data/blob.bin",
        binary.clone(),
        None,
    )
    .await;
    assert_eq!(
        put.status(),
        StatusCode::OK,
        "{}",
        put.text().await.unwrap()
    );
    let read = crate::workspaces::read(&app, &owner.token, &ws, "data/blob.bin").await;
    assert_eq!(read.bytes().await.unwrap().to_vec(), binary);
    for folder in ["bundles", "builds", "tables", "workspaces"] {
        assert!(
            !blob_objects(&app, folder).await.is_empty(),
            "{folder}/ is in the bucket"
        );
    }
    let bundles = blob_objects(&app, "bundles").await;
    let parquet = blob_objects(&app, "tables").await;

    // The storage hangs: every upload fails with 503, says why, and keeps nothing.
    seaweed.freeze();
    let resp = upload_version(&app, &owner, &path).await;
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(resp.headers().contains_key("retry-after"));
    let message = expect_error(resp, StatusCode::SERVICE_UNAVAILABLE, "storage_unavailable").await;
    assert!(message.contains("storing the bundle"), "{message}");
    assert!(message.contains("nothing was kept"), "{message}");
    let resp = upload_table(&app, &owner, &tables, "more").await;
    let message = expect_error(resp, StatusCode::SERVICE_UNAVAILABLE, "storage_unavailable").await;
    assert!(message.contains("table more's Parquet object"), "{message}");
    let resp = app
        .get(&format!("{path}/versions/1/download"), &owner.token)
        .await;
    expect_error(resp, StatusCode::SERVICE_UNAVAILABLE, "storage_unavailable").await;
    seaweed.thaw();
    assert_eq!(version_numbers(&app, &owner, &path).await, [1]);
    assert_eq!(table_names(&app, &owner, &project).await, ["daily_sales"]);
    // The hung server may still store what it had received before the requests were
    // abandoned; those keys were queued for deletion (the bundle's and the table's), and
    // go once it answers.
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let (queued, done) = forget_tasks(&app).await;
        assert!(
            queued >= 2,
            "the failed puts' keys are queued for deletion: {queued}"
        );
        if queued == done {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{done} of {queued} deletions done"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        blob_objects(&app, "bundles").await,
        bundles,
        "no bundle was kept"
    );
    assert_eq!(
        blob_objects(&app, "tables").await,
        parquet,
        "no table object was kept"
    );

    // It answers again: the same uploads work.
    json_of(
        upload_version(&app, &owner, &path).await,
        StatusCode::CREATED,
    )
    .await;
    json_of(
        upload_table(&app, &owner, &tables, "more").await,
        StatusCode::CREATED,
    )
    .await;
    let done = app.built(&owner, &path, 2).await;
    assert_eq!(done["active_version"], 2, "{done}");
    assert!(downloaded_app_py(&app, &owner, &path, 2)
        .await
        .contains("Two"));
    drop(app);
    drop(seaweed);
}

/// Files under `dir` whose names say they were left half-written (object_store stages
/// a put as `name#N` before renaming it into place).
fn staged_leftovers(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.to_string_lossy().contains('#') {
                found.push(path);
            }
        }
    }
    found
}

/// The data folder as a person gets it (SQLite and the blob folder inside it) on a disk
/// that fills up: uploads fail with 507 and say where to free space, nothing is kept
/// half-way, the database stays whole, and it all works again once space is freed.
#[tokio::test]
async fn a_full_data_folder_refuses_uploads_with_507_and_recovers() {
    base_environment_built();
    let disk = burrow_testkit::disk::Tmpfs::mount(48);
    let dir = tempfile::TempDir::new_in(disk.path()).unwrap();
    let blobs_dir = dir.path().join("blobs");
    let app = spawn_app_in(Db::Sqlite, dir, |config| {
        config.blobs = BlobConfig::Local { path: None };
    })
    .await;
    let owner = app.account("owner@example.com").await;
    let project = app.project(&owner, "Sales").await;
    let path = built_app(&app, &owner, &project).await;
    let bundles = blob_objects(&app, "bundles").await;

    let filler = disk.fill();
    // A new version: its bundle has nowhere to go.
    let resp = upload_version(&app, &owner, &path).await;
    let message = expect_error(resp, StatusCode::INSUFFICIENT_STORAGE, "storage_full").await;
    assert!(
        message.contains("no space is left for storing the bundle"),
        "{message}"
    );
    assert!(
        message.contains("free space in Burrow's data folder"),
        "{message}"
    );
    // A table: its Parquet object has nowhere to go either.
    let tables = format!("/api/v1/projects/{project}/tables");
    let resp = upload_table(&app, &owner, &tables, "more").await;
    expect_error(resp, StatusCode::INSUFFICIENT_STORAGE, "storage_full").await;
    // A change to the database alone either fits in what SQLite already holds or is
    // refused whole with 507: never a 500, never half a project.
    let resp = app
        .request(
            Method::POST,
            "/api/v1/projects",
            Some(&owner.token),
            Some(json!({"name": "Full"})),
        )
        .await;
    let created = match resp.status() {
        StatusCode::CREATED => true,
        StatusCode::INSUFFICIENT_STORAGE => {
            expect_error(resp, StatusCode::INSUFFICIENT_STORAGE, "database_full").await;
            false
        }
        other => panic!(
            "creating a project on a full disk: {other} {}",
            resp.text().await.unwrap()
        ),
    };
    // Nothing of the refused uploads was kept.
    assert_eq!(version_numbers(&app, &owner, &path).await, [1]);
    assert!(table_names(&app, &owner, &project).await.is_empty());
    assert_eq!(blob_objects(&app, "bundles").await, bundles);
    assert!(blob_objects(&app, "tables").await.is_empty());
    assert_eq!(staged_leftovers(&blobs_dir), Vec::<PathBuf>::new());
    let projects = json_of(
        app.get("/api/v1/projects", &owner.token).await,
        StatusCode::OK,
    )
    .await;
    let names: Vec<&str> = projects
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.contains(&"Full"), created, "{projects}");

    // Space is freed: the same uploads work, and the new version builds.
    std::fs::remove_file(filler).unwrap();
    json_of(
        upload_version(&app, &owner, &path).await,
        StatusCode::CREATED,
    )
    .await;
    let done = app.built(&owner, &path, 2).await;
    assert_eq!(done["active_version"], 2, "{done}");
    assert!(downloaded_app_py(&app, &owner, &path, 2)
        .await
        .contains("Two"));
    json_of(
        upload_table(&app, &owner, &tables, "more").await,
        StatusCode::CREATED,
    )
    .await;
    let check: Value = sqlx_integrity(&app).await;
    assert_eq!(check, json!("ok"));
    drop(app);
    drop(disk);
}

/// SQLite's own integrity check of the server's database.
async fn sqlx_integrity(app: &TestApp) -> Value {
    use sqlx::Connection;
    let mut conn = sqlx::SqliteConnection::connect(&app.database_url)
        .await
        .unwrap();
    let (result,): (String,) = sqlx::query_as("PRAGMA integrity_check")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    json!(result)
}

crate::both_backends!(blobs_on_s3_survive_a_hung_server);
