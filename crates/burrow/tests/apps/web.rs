//! SECURITY.md, web: path tricks, smuggling, spoofed and identity headers, sessions that must not reach app code.

use std::io::{Read, Write};

use futures::{SinkExt, StreamExt};
use reqwest::StatusCode;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

use crate::harness::Server;
use crate::viewing::rerun_message;

/// Shows what the app receives: the headers and cookies of its viewer's connection.
const ECHO: &str = "import json\nimport streamlit as st\nst.title('Echo')\n\
                    st.code(json.dumps(dict(st.context.headers)))\n\
                    st.code(json.dumps(dict(st.context.cookies)))\n";

/// Sends raw bytes to the apps origin and returns the whole answer.
fn raw_all(server: &Server, request: &str) -> String {
    let addr = server.apps.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer).into_owned()
}

/// Sends raw bytes to the apps origin and returns the status line.
fn raw(server: &Server, request: &str) -> String {
    raw_all(server, request)
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn hostile_requests_never_reach_another_app_or_smuggle_identity() {
    let server = Server::start().await;
    let owner = server.account("owner@example.com").await;
    let project = server.project(&owner, "Sales").await;
    let (id, path) = server.deploy(&owner, &project, "Echo", ECHO).await;
    let (other, _) = server
        .deploy(
            &owner,
            &project,
            "Other",
            "import streamlit as st\nst.write('other')\n",
        )
        .await;
    let viewer = server.viewer(&owner, &path, &id).await;
    viewer.open_until_running(&id).await;

    // Path tricks: refused, whatever the spelling.
    for trick in [
        format!("/apps/{id}/../{other}/"),
        format!("/apps/{id}/%2e%2e/{other}/"),
        format!("/apps/{id}/..%2f{other}/"),
        format!("/apps/{id}/%252e%252e/{other}/"),
        format!("/apps/{id}/..\\{other}/"),
        format!("/apps/{id}/./_stcore/health"),
    ] {
        let status = raw(
            &server,
            &format!(
                "GET {trick} HTTP/1.1\r\nHost: x\r\nCookie: {}\r\nConnection: close\r\n\r\n",
                viewer.cookie
            ),
        );
        assert!(status.contains(" 400 "), "{trick}: {status}");
    }

    // Request smuggling: with both Content-Length and Transfer-Encoding, the body is
    // read as chunked and the connection closes after the answer, so a request hidden
    // behind it (here, to the other app, without a session) is never read.
    let answer = raw_all(
        &server,
        &format!(
            "POST /apps/{id}/_stcore/health HTTP/1.1\r\nHost: x\r\nCookie: {}\r\n\
             Content-Length: 40\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n\
             GET /apps/{other}/_stcore/health HTTP/1.1\r\nHost: x\r\n\r\n",
            viewer.cookie
        ),
    );
    assert_eq!(answer.matches("HTTP/1.1 ").count(), 1, "{answer}");

    // A WebSocket without a session is refused before reaching the app.
    let ws_url = format!(
        "{}/apps/{id}/_stcore/stream",
        server.apps.replace("http://", "ws://")
    );
    let mut anonymous = ws_url.as_str().into_client_request().unwrap();
    anonymous
        .headers_mut()
        .insert("origin", server.apps.parse().unwrap());
    match tokio_tungstenite::connect_async(anonymous).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
            assert!(resp.status().is_redirection(), "{}", resp.status())
        }
        other => panic!("an anonymous upgrade went through: {other:?}"),
    }

    // Spoofed forwarding and identity headers, and both Burrow sessions, never reach
    // the app; the app's own cookies do.
    let mut request = ws_url.as_str().into_client_request().unwrap();
    let headers = request.headers_mut();
    headers.insert("origin", server.apps.parse().unwrap());
    headers.insert(
        "cookie",
        format!(
            "{}; burrow_session=platform-secret-token; mine=kept-cookie",
            viewer.cookie
        )
        .parse()
        .unwrap(),
    );
    headers.insert("x-forwarded-for", "6.6.6.6".parse().unwrap());
    headers.insert("forwarded", "for=6.6.6.6".parse().unwrap());
    headers.insert("x-remote-user", "mallory-identity".parse().unwrap());
    headers.insert("x-burrow-user", "mallory-identity".parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    ws.send(Message::Binary(rerun_message().into()))
        .await
        .unwrap();
    let mut seen = String::new();
    while let Ok(Some(Ok(msg))) =
        tokio::time::timeout(std::time::Duration::from_secs(20), ws.next()).await
    {
        if let Message::Binary(bytes) = msg {
            seen.push_str(&String::from_utf8_lossy(&bytes));
            if seen.contains("kept-cookie") {
                break;
            }
        }
    }
    assert!(
        seen.contains("kept-cookie"),
        "the app's own cookie arrives: {seen}"
    );
    let view_token = viewer.cookie.split('=').nth(1).unwrap();
    for secret in [
        "6.6.6.6",
        "mallory-identity",
        "platform-secret-token",
        view_token,
    ] {
        assert!(!seen.contains(secret), "{secret} reached the app");
    }
    assert!(seen.contains("127.0.0.1"), "our own X-Forwarded-For is set");

    // No service worker may take over the apps origin.
    let resp = viewer
        .client
        .get(format!("{}/apps/{id}/sw.js", server.apps))
        .header("cookie", &viewer.cookie)
        .header("service-worker", "script")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);

    // Another project's app: 404 whether it exists or not.
    let resp = viewer.get("/apps/doesnotexist0000/", "text/html").await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
}
