//! SECURITY.md, web: path tricks, smuggling, spoofed and identity headers, sessions that must not reach app code.

use std::io::{Read, Write};

use futures::{SinkExt, StreamExt};
use reqwest::StatusCode;
use tokio_tungstenite::tungstenite::Message;

use crate::harness::{websocket, Server};
use crate::viewing::rerun_message;

/// Shows what the app receives: the headers and cookies of its viewer's connection.
const ECHO: &str = "import json\nimport streamlit as st\nst.title('Echo')\n\
                    st.code(json.dumps(dict(st.context.headers)))\n\
                    st.code(json.dumps(dict(st.context.cookies)))\n";

/// Sends raw bytes to the app origins' listener and returns the whole answer.
fn raw_all(server: &Server, request: &str) -> String {
    let mut stream = std::net::TcpStream::connect(server.apps_addr()).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer).into_owned()
}

/// Sends raw bytes to the app origins' listener and returns the status line.
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
    viewer.open_until_running().await;

    let host = viewer.origin.trim_start_matches("http://");
    let other_host = server.app_origin(&other).replace("http://", "");

    // Path tricks: refused, whatever the spelling.
    for trick in [
        "/static/../_burrow/status",
        "/%2e%2e/_stcore/health",
        "/..%2f_stcore/health",
        "/%252e%252e/_stcore/health",
        "/..\\_stcore/health",
        "/./_stcore/health",
    ] {
        let status = raw(
            &server,
            &format!(
                "GET {trick} HTTP/1.1\r\nHost: {host}\r\nCookie: {}\r\nConnection: close\r\n\r\n",
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
            "POST /_stcore/health HTTP/1.1\r\nHost: {host}\r\nCookie: {}\r\n\
             Content-Length: 40\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n\
             GET /_stcore/health HTTP/1.1\r\nHost: {other_host}\r\n\r\n",
            viewer.cookie
        ),
    );
    assert_eq!(answer.matches("HTTP/1.1 ").count(), 1, "{answer}");

    // A WebSocket without a session is refused before reaching the app.
    let anonymous = websocket(
        &server,
        &id,
        "/_stcore/stream",
        &[("origin", &viewer.origin)],
    )
    .await;
    match anonymous {
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
            assert!(resp.status().is_redirection(), "{}", resp.status())
        }
        other => panic!("an anonymous upgrade went through: {other:?}"),
    }

    // Spoofed forwarding and identity headers, and both Burrow sessions, never reach
    // the app; the app's own cookies do.
    let cookies = format!(
        "{}; burrow_session=platform-secret-token; mine=kept-cookie",
        viewer.cookie
    );
    let mut ws = websocket(
        &server,
        &id,
        "/_stcore/stream",
        &[
            ("origin", &viewer.origin),
            ("cookie", &cookies),
            ("x-forwarded-for", "6.6.6.6"),
            ("forwarded", "for=6.6.6.6"),
            ("x-remote-user", "mallory-identity"),
            ("x-burrow-user", "mallory-identity"),
        ],
    )
    .await
    .unwrap();
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

    // No service worker may be installed on an app's origin.
    let resp = viewer
        .client
        .get(format!("{}/sw.js", viewer.origin))
        .header("cookie", &viewer.cookie)
        .header("service-worker", "script")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);

    // An app that does not exist: this session is not for it, so through sign-in,
    // where the platform says 404 exactly as for another project's app.
    let mut nowhere = viewer.clone();
    nowhere.origin = server.app_origin("doesnotexist0000");
    let resp = nowhere.get("/", "text/html").await;
    assert!(resp.status().is_redirection(), "{}", resp.status());
}
