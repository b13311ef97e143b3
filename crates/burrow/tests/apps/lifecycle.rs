//! Running apps over time: crash restarts, version switches and rollback, re-adoption after `kill -9`, idle stop, and stopping for good on shutdown.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::harness::{Server, BURROW};

fn app_sandboxes(server: &Server, app_id: &str) -> Vec<String> {
    let out = std::process::Command::new(BURROW)
        .args(["sandbox", "ps"])
        .env("BURROW_DATA_DIR", server.dir.path())
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains(&format!("burrow.app={app_id}")) && l.contains("running"))
        .map(|l| l.split_whitespace().next().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test]
async fn an_app_that_exits_at_start_ends_in_error_after_three_restarts() {
    let server = Server::start().await;
    let owner = server.account("owner@example.com").await;
    let project = server.project(&owner, "Sales").await;
    // A module named like Streamlit, first on the path, makes the server exit at once.
    let resp = server
        .client
        .post(format!("{}/api/v1/projects/{project}/apps", server.base))
        .bearer_auth(&owner)
        .multipart(
            reqwest::multipart::Form::new().text("name", "Crashy").part(
                "file",
                reqwest::multipart::Part::bytes(zip(&[
                    ("app.py", "print('never runs')\n"),
                    ("streamlit.py", "raise SystemExit(3)\n"),
                ]))
                .file_name("crashy.zip"),
            ),
        )
        .send()
        .await
        .unwrap();
    let created: Value = resp.json().await.unwrap();
    let id = created["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{created}"))
        .to_owned();
    let path = format!("/api/v1/projects/{project}/apps/{id}");
    server
        .wait_for(&owner, &path, |a| a["active_version"] == 1)
        .await;

    let resp = server
        .api(
            Method::POST,
            &format!("{path}/start?wait=true"),
            &owner,
            None,
        )
        .await;
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = resp.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("exit code 3"),
        "{body}"
    );
    let app = server.get_json(&path, &owner).await;
    assert_eq!(app["status"], "error");
    assert_eq!(app["restart_count"], 3);
    assert!(
        app["last_error"].as_str().unwrap().contains("exit code 3"),
        "{app}"
    );
    let notes = server.get_json("/api/v1/notifications", &owner).await;
    assert_eq!(notes.as_array().unwrap().len(), 1, "{notes}");
    assert_eq!(notes[0]["app_id"], id);
    assert!(
        notes[0]["message"].as_str().unwrap().contains("Crashy"),
        "{notes}"
    );
    assert!(
        app_sandboxes(&server, &id).is_empty(),
        "nothing left running"
    );

    // A viewer sees the error rather than starting it a fifth time.
    let viewer = server.viewer(&owner, &path, &id).await;
    let page = viewer.get("/", "text/html").await.text().await.unwrap();
    assert!(
        page.contains("Waking up the hedgehogs"),
        "the page shows the status"
    );
    let status: Value = viewer
        .get("/_burrow/status", "application/json")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(status["status"], "error", "{status}");
}

fn zip(files: &[(&str, &str)]) -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, text) in files {
        zip.start_file(*name, zip::write::SimpleFileOptions::default())
            .unwrap();
        std::io::Write::write_all(&mut zip, text.as_bytes()).unwrap();
    }
    zip.finish().unwrap().into_inner()
}

/// Waits until the app has exactly `n` running sandboxes (a stop takes a moment).
async fn wait_sandboxes(server: &Server, app_id: &str, n: usize) -> Vec<String> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let found = app_sandboxes(server, app_id);
        if found.len() == n || std::time::Instant::now() > deadline {
            return found;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn versions_switch_while_running_survive_kill_9_and_idle_apps_stop() {
    let mut server = Server::start().await;
    let (owner, id, path, viewer) = server
        .running_app("Story", "import streamlit as st\nst.title('One')\n")
        .await;
    let first = app_sandboxes(&server, &id);
    assert_eq!(first.len(), 1);

    // A new version switches the running app once it is ready; the old sandbox goes.
    let resp = server
        .post_json(
            &format!("{path}/versions"),
            &owner,
            json!({"code": "import streamlit as st\nst.title('Two')\n"}),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    server
        .wait_for(&owner, &path, |a| {
            a["running_version"] == 2 && a["status"] == "running"
        })
        .await;
    let second = wait_sandboxes(&server, &id, 1).await;
    assert_eq!(second.len(), 1, "{second:?}");
    assert_ne!(second, first);

    // Rollback: instant for the pointer, and the running app follows.
    let resp = server
        .api(
            Method::POST,
            &format!("{path}/versions/1/activate"),
            &owner,
            None,
        )
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    server
        .wait_for(&owner, &path, |a| a["running_version"] == 1)
        .await;
    let health = viewer.get("/_stcore/health", "*/*").await;
    assert_eq!(health.status(), StatusCode::OK);
    let running = wait_sandboxes(&server, &id, 1).await;
    assert_eq!(running.len(), 1, "{running:?}");

    // kill -9 of serve: the app keeps running, and the next serve adopts it.
    server.kill_hard();
    server.spawn().await;
    let app = server.get_json(&path, &owner).await;
    assert_eq!(app["status"], "running", "{app}");
    assert_eq!(app["running_version"], 1, "{app}");
    assert_eq!(
        app_sandboxes(&server, &id),
        running,
        "the same sandbox, no orphans"
    );
    let health = viewer.get("/_stcore/health", "*/*").await;
    assert_eq!(health.status(), StatusCode::OK, "served without waking");

    // Idle: with a short timeout and no viewers, it stops by itself.
    let resp = server
        .api(
            Method::PATCH,
            &path,
            &owner,
            Some(json!({"idle_timeout_secs": 10})),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    server
        .wait_for(&owner, &path, |a| a["status"] == "stopped")
        .await;
    assert!(wait_sandboxes(&server, &id, 0).await.is_empty());
}

#[tokio::test]
async fn serve_stops_its_sandboxes_on_shutdown_when_asked() {
    let mut server = Server::start_with_args(&["--stop-sandboxes"]).await;
    let (_, id, _, _) = server
        .running_app("Hello", "import streamlit as st\nst.title('Hello')\n")
        .await;
    assert_eq!(app_sandboxes(&server, &id).len(), 1);
    let status = server.stop_gracefully();
    assert!(status.success(), "{status:?}");
    assert_eq!(
        server.sandboxes_left(),
        Vec::<String>::new(),
        "serve ended its sandboxes itself"
    );
}
