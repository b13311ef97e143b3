//! Viewing: sign-in through the platform, the loading page, Streamlit's page and WebSocket through the proxy, and who may see what.

use futures::{SinkExt, StreamExt};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

use crate::harness::{self, base_python, Server, WebSocket};

const HELLO: &str = "import streamlit as st\nst.title('Hello from Burrow')\n";

/// A `BackMsg` asking Streamlit to run the script, made with Streamlit's own protobuf classes.
pub fn rerun_message() -> Vec<u8> {
    let out = std::process::Command::new(base_python())
        .args([
            "-c",
            "import sys; from streamlit.proto.BackMsg_pb2 import BackMsg; m = BackMsg(); \
             m.rerun_script.query_string = ''; m.rerun_script.page_script_hash = ''; \
             sys.stdout.write(m.SerializeToString().hex())",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let hex = String::from_utf8(out.stdout).unwrap();
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect()
}

/// Streamlit's WebSocket on an app's origin, as a browser on `origin` opens it.
async fn websocket(
    server: &Server,
    app_id: &str,
    cookie: &str,
    origin: &str,
) -> Result<WebSocket, tokio_tungstenite::tungstenite::Error> {
    harness::websocket(
        server,
        app_id,
        "/_stcore/stream",
        &[("cookie", cookie), ("origin", origin)],
    )
    .await
}

/// The status an upgrade was refused with.
fn refused_with(result: Result<WebSocket, tokio_tungstenite::tungstenite::Error>) -> StatusCode {
    match result {
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => resp.status(),
        other => panic!("the upgrade was not refused: {:?}", other.map(|_| "open")),
    }
}

#[tokio::test]
async fn an_app_wakes_on_first_view_and_streams_through_the_proxy() {
    let server = Server::start().await;
    let owner = server.account("owner@example.com").await;
    let project = server.project(&owner, "Sales").await;
    let (id, path) = server.deploy(&owner, &project, "Hello", HELLO).await;

    // Unknown visitors go through the platform's sign-in, which comes back to the app.
    let resp = server
        .client
        .get(format!("{}/", server.app_origin(&id)))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_redirection());
    let location = resp.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        location.starts_with(&format!("{}/api/v1/apps/{id}/open", server.base)),
        "{location}"
    );
    let resp = server.client.get(&location).send().await.unwrap();
    assert!(resp.status().is_redirection());
    let login = resp.headers()["location"].to_str().unwrap();
    assert!(
        login.starts_with(&format!("{}/login?next=", server.base)),
        "{login}"
    );
    // Signed in on the platform, the same link hands over a ticket for the app's origin.
    let resp = server
        .client
        .get(&location)
        .bearer_auth(&owner)
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_redirection());
    let ticket = resp.headers()["location"].to_str().unwrap();
    assert!(
        ticket.starts_with(&format!(
            "{}/_burrow/ticket?ticket=",
            server.app_origin(&id)
        )),
        "{ticket}"
    );

    // First view: the loading page, and exactly one start for concurrent viewers.
    let viewer = server.viewer(&owner, &path, &id).await;
    let (a, b) = tokio::join!(viewer.get("/", "text/html"), viewer.get("/", "text/html"));
    for page in [a.text().await.unwrap(), b.text().await.unwrap()] {
        assert!(page.contains("Waking up the hedgehogs"), "{page}");
    }
    let page = viewer.open_until_running().await;
    assert!(
        page.contains("<div id=\"root\">") || page.contains("id=\"root\""),
        "Streamlit's page: {page}"
    );
    let app = server.get_json(&path, &owner).await;
    assert_eq!(app["status"], "running");
    assert_eq!(app["running_version"], 1);
    let sandboxes = std::process::Command::new(crate::harness::BURROW)
        .args(["sandbox", "ps"])
        .env("BURROW_DATA_DIR", server.dir.path())
        .output()
        .unwrap();
    let listed = String::from_utf8_lossy(&sandboxes.stdout)
        .matches(&format!("burrow.app={id}"))
        .count();
    assert_eq!(listed, 1, "one sandbox for two first viewers");

    let health = viewer.get("/_stcore/health", "*/*").await;
    assert_eq!(health.status(), StatusCode::OK);
    assert_eq!(health.text().await.unwrap().trim(), "ok");

    // The WebSocket: upgraded through the proxy, and Streamlit answers a rerun.
    let mut ws = websocket(&server, &id, &viewer.cookie, &viewer.origin)
        .await
        .expect("the upgrade goes through");
    ws.send(Message::Binary(rerun_message().into()))
        .await
        .unwrap();
    let first = tokio::time::timeout(std::time::Duration::from_secs(30), ws.next())
        .await
        .expect("Streamlit answers")
        .unwrap()
        .unwrap();
    assert!(
        matches!(first, Message::Binary(ref b) if !b.is_empty()),
        "{first:?}"
    );
    let mut seen = Vec::new();
    while let Ok(Some(Ok(msg))) =
        tokio::time::timeout(std::time::Duration::from_secs(5), ws.next()).await
    {
        if let Message::Binary(bytes) = msg {
            seen.extend_from_slice(&bytes);
            if String::from_utf8_lossy(&seen).contains("Hello from Burrow") {
                break;
            }
        }
    }
    assert!(
        String::from_utf8_lossy(&seen).contains("Hello from Burrow"),
        "the script ran and its title came over the WebSocket"
    );
    drop(ws);

    // A foreign Origin on the upgrade is refused, and so is another app's origin.
    for origin in [
        "http://evil.example".to_owned(),
        server.app_origin("otherapp00000000"),
        server.base.clone(),
    ] {
        let refused = websocket(&server, &id, &viewer.cookie, &origin).await;
        assert_eq!(refused_with(refused), StatusCode::FORBIDDEN, "{origin}");
    }

    // A member removed from the project loses an open WebSocket too.
    let (member, member_id) = server.account_with_id("member@example.com").await;
    let resp = server
        .post_json(
            &format!("/api/v1/projects/{project}/members"),
            &owner,
            json!({"email": "member@example.com", "role": "viewer"}),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let member_view = server.viewer(&member, &path, &id).await;
    let mut ws = websocket(&server, &id, &member_view.cookie, &member_view.origin)
        .await
        .expect("a member may open it");
    // The owner's socket, open all along, shows that only the removed member's closes.
    let mut owners = websocket(&server, &id, &viewer.cookie, &viewer.origin)
        .await
        .expect("the owner may open it");
    let resp = server
        .api(
            Method::DELETE,
            &format!("/api/v1/projects/{project}/members/{member_id}"),
            &owner,
            None,
        )
        .await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    // Checked again every second (`apps.recheck_secs`): a bound, not a timing.
    let closed = tokio::time::timeout(std::time::Duration::from_secs(30), async {
        loop {
            match ws.next().await {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return,
                Some(Ok(_)) => {}
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the removed member's WebSocket was closed");
    owners
        .send(Message::Binary(rerun_message().into()))
        .await
        .expect("the owner's WebSocket is still open");
    let answer = tokio::time::timeout(std::time::Duration::from_secs(30), owners.next())
        .await
        .expect("Streamlit still answers the owner");
    assert!(matches!(answer, Some(Ok(Message::Binary(_)))), "{answer:?}");
    drop(owners);

    // Someone outside the project: 404 on the platform; their session for their own
    // app is nothing on this app's origin, so they go to sign-in, which says 404.
    let stranger = server.account("stranger@example.com").await;
    let resp = server
        .api(
            Method::POST,
            &format!("{path}/view-ticket"),
            &stranger,
            Some(json!({})),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    let theirs = server.project(&stranger, "Theirs").await;
    let (their_id, their_path) = server.deploy(&stranger, &theirs, "Mine", HELLO).await;
    let stranger_view = server.viewer(&stranger, &their_path, &their_id).await;
    let mut on_ours = stranger_view.clone();
    on_ours.origin = server.app_origin(&id);
    for page in ["/", "/_stcore/health"] {
        let resp = on_ours.get(page, "text/html").await;
        assert!(resp.status().is_redirection(), "{page}: {}", resp.status());
        let open = resp.headers()["location"].to_str().unwrap().to_owned();
        assert!(open.contains(&format!("/api/v1/apps/{id}/open")), "{open}");
        let resp = server
            .client
            .get(&open)
            .bearer_auth(&stranger)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::NOT_FOUND, "{page}");
    }
    let refused = websocket(&server, &id, &stranger_view.cookie, &on_ours.origin).await;
    assert!(
        refused_with(refused).is_redirection(),
        "a non-member's upgrade goes to sign-in, never to the app"
    );

    // Paths cannot wander.
    let resp = viewer.get("/..%2f_stcore/health", "text/html").await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);

    // Oversized headers: 431.
    let resp = server
        .client
        .get(format!("{}/", viewer.origin))
        .header("cookie", &viewer.cookie)
        .header("x-padding", "a".repeat(40_000))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);

    // Stopped, it wakes again on the next view.
    let resp = server
        .api(Method::POST, &format!("{path}/stop"), &owner, None)
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let stopped: Value = resp.json().await.unwrap();
    assert_eq!(stopped["status"], "stopped");
    let page = viewer.get("/", "text/html").await.text().await.unwrap();
    assert!(page.contains("Waking up the hedgehogs"));
    viewer.open_until_running().await;
}
