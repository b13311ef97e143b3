//! Apps' secrets in real sandboxes: read by `st.secrets` from a read-only file, masked in the app's log, switched without a gap when changed, and nowhere in the clear on disk or in Burrow's log.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::harness::Server;

/// The one running sandbox of an app, once it is the only one and is labelled with
/// the secrets `revision` it was made for.
async fn sole_sandbox(server: &Server, app_id: &str, revision: i64) -> String {
    let app = format!("burrow.app={app_id}");
    let wanted = format!("burrow.revision={revision}");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let out = server.cli(&["sandbox", "ps"]);
        let running: Vec<(String, bool)> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| l.contains(&app) && l.contains("running"))
            .filter_map(|l| {
                let id = l.split_whitespace().next()?.to_owned();
                let current = l.split([' ', ',']).any(|label| label == wanted);
                Some((id, current))
            })
            .collect();
        if let [(id, true)] = running.as_slice() {
            return id.clone();
        }
        assert!(Instant::now() < deadline, "sandboxes: {running:?}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Runs a command in a running sandbox; returns (success, stdout + stderr).
fn exec(server: &Server, sandbox: &str, command: &[&str]) -> (bool, String) {
    let mut args = vec!["sandbox", "exec", sandbox, "--"];
    args.extend_from_slice(command);
    let out = server.cli(&args);
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

/// Shows one secret, and prints another to its log as a careless app might.
const APP: &str = "import streamlit as st\n\
    print('token=' + st.secrets.get('TOKEN', 'none') + '.', flush=True)\n\
    st.title(st.secrets.get('GREETING', 'no greeting'))\n";

/// Runs the app's script once through the proxy, as a browser does; returns what came back.
pub async fn view(server: &Server, app_id: &str, viewer: &crate::harness::Viewer) -> String {
    use futures::{SinkExt, StreamExt};
    let mut ws = crate::harness::websocket(
        server,
        app_id,
        "/_stcore/stream",
        &[("cookie", &viewer.cookie), ("origin", &viewer.origin)],
    )
    .await
    .expect("the upgrade goes through");
    ws.send(tokio_tungstenite::tungstenite::Message::Binary(
        crate::viewing::rerun_message().into(),
    ))
    .await
    .unwrap();
    let mut seen = Vec::new();
    while let Ok(Some(Ok(msg))) = tokio::time::timeout(Duration::from_secs(10), ws.next()).await {
        if let tokio_tungstenite::tungstenite::Message::Binary(bytes) = msg {
            seen.extend_from_slice(&bytes);
            if String::from_utf8_lossy(&seen).contains("script_finished") {
                break;
            }
        }
    }
    String::from_utf8_lossy(&seen).into_owned()
}

const READ: &str = "import streamlit as st; print(st.secrets['TOKEN'], st.secrets.GREETING)";

#[tokio::test]
async fn secrets_reach_the_app_read_only_and_nowhere_else() {
    let server = Server::start_logged().await;
    let (owner, id, path, viewer) = server.running_app("Secretive", APP).await;
    sole_sandbox(&server, &id, 0).await;
    let (token, greeting) = ("sk-live-4f1c9e2b7a", "hello from a secret");
    for (name, value) in [("TOKEN", token), ("GREETING", greeting)] {
        let resp = server
            .api(
                Method::PUT,
                &format!("{path}/secrets/{name}"),
                &owner,
                Some(json!({ "value": value })),
            )
            .await;
        assert_eq!(resp.status(), StatusCode::CREATED);
    }

    // The running app is switched to a sandbox with the secrets, and the old one goes.
    // A sandbox started between the two changes may already hold both, yet it is
    // labelled with the first and replaced again: wait for the one made for the second.
    let sandbox = sole_sandbox(&server, &id, 2).await;
    let (ok, out) = exec(
        &server,
        &sandbox,
        &["/opt/burrow/env/bin/python", "-c", READ],
    );
    assert!(ok, "{out}");
    assert_eq!(
        out.lines().last(),
        Some(format!("{token} {greeting}").as_str())
    );
    let (ok, out) = exec(
        &server,
        &sandbox,
        &[
            "sh",
            "-c",
            "echo x >> /home/sandbox/.streamlit/secrets.toml",
        ],
    );
    assert!(!ok, "the app cannot change its secrets: {out}");
    let health = viewer.get("/_stcore/health", "*/*").await;
    assert_eq!(health.status(), StatusCode::OK);

    // The viewer sees the app use its secret; what it prints is masked for everyone
    // who reads its log.
    let page = view(&server, &id, &viewer).await;
    assert!(page.contains(greeting), "{page}");
    let mut log = server
        .client
        .get(format!("{}{path}/logs", server.base))
        .bearer_auth(&owner)
        .send()
        .await
        .unwrap();
    let mut seen = String::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !seen.contains("token=") {
        let left = deadline.saturating_duration_since(Instant::now());
        let chunk = tokio::time::timeout(left, log.chunk())
            .await
            .expect("the line reaches the log")
            .unwrap()
            .expect("the stream stays open");
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(seen.contains("token=[secret TOKEN]."), "{seen}");
    assert!(!seen.contains(token), "{seen}");
    drop(log);

    // A new value: another switch, and the old value's file is gone from the host.
    let resp = server
        .api(
            Method::PUT,
            &format!("{path}/secrets/TOKEN"),
            &owner,
            Some(json!({"value": "sk-live-rotated-0042"})),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let rotated = sole_sandbox(&server, &id, 3).await;
    let (ok, out) = exec(
        &server,
        &rotated,
        &["/opt/burrow/env/bin/python", "-c", READ],
    );
    assert!(ok, "{out}");
    assert_eq!(
        out.lines().last(),
        Some(format!("sk-live-rotated-0042 {greeting}").as_str())
    );
    let folders = server.data_dir().join("secrets").join(&id);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let left: Vec<_> = std::fs::read_dir(&folders).unwrap().flatten().collect();
        if left.len() == 1 {
            break;
        }
        assert!(Instant::now() < deadline, "{left:?}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    // Never in the clear in the database or in Burrow's own log.
    let log = server.log();
    for value in [token, "sk-live-rotated-0042"] {
        assert!(!log.contains(value), "the log holds {value}");
        for file in ["burrow.db", "burrow.db-wal"] {
            if let Ok(bytes) = std::fs::read(server.data_dir().join(file)) {
                assert!(
                    !bytes.windows(value.len()).any(|w| w == value.as_bytes()),
                    "{file} holds {value}"
                );
            }
        }
    }

    // Deleting the app removes its secrets' files.
    let resp = server.api(Method::DELETE, &path, &owner, None).await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    assert!(!folders.exists());
}
