//! The host-services agent over real TCP: a wrong token is refused for good, a sandbox that
//! connects before Burrow has dialled is served once it does, and many connections at once
//! each reach Burrow.

use std::net::SocketAddr;
use std::time::Duration;

use burrow_kube::agent::{run, AgentListener};
use burrow_sandbox::HostListener;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

const TOKEN: &str = "0123456789abcdef0123456789abcdef";

async fn connect(port: u16) -> tokio::net::TcpStream {
    for _ in 0..200 {
        if let Ok(s) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await {
            return s;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("nothing listens on {port}")
}

#[tokio::test]
async fn a_wrong_token_or_port_is_refused_and_says_why() {
    let (agent_port, service) = (free_port(), free_port());
    let agent = SocketAddr::from(([127, 0, 0, 1], agent_port));
    let running = tokio::spawn(run(agent, vec![service], TOKEN.into()));
    connect(agent_port).await;

    let wrong = AgentListener::new(agent, "not-the-token-at-all-0000000000".into(), service);
    let err = tokio::time::timeout(Duration::from_secs(5), wrong.accept())
        .await
        .unwrap()
        .unwrap_err();
    assert!(err.to_string().contains("wrong token"), "{err}");

    let other_port = AgentListener::new(agent, TOKEN.into(), service + 1);
    let err = tokio::time::timeout(Duration::from_secs(5), other_port.accept())
        .await
        .unwrap()
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("is not a host service of this pod"),
        "{err}"
    );

    // An agent without a proper token does not start.
    let err = run(
        SocketAddr::from(([127, 0, 0, 1], 0)),
        vec![],
        "short".into(),
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("BURROW_AGENT_TOKEN"), "{err}");
    running.abort();
}

#[tokio::test]
async fn connections_made_before_and_while_burrow_dials_all_reach_it() {
    let (agent_port, service) = (free_port(), free_port());
    let agent = SocketAddr::from(([127, 0, 0, 1], agent_port));
    let running = tokio::spawn(run(agent, vec![service], TOKEN.into()));

    // The sandbox connects first; Burrow dials a moment later.
    let mut early = connect(service).await;
    early.write_all(b"early").await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let listener = AgentListener::new(agent, TOKEN.into(), service);
    let mut served = tokio::time::timeout(Duration::from_secs(5), listener.accept())
        .await
        .unwrap()
        .unwrap();
    let mut got = [0; 5];
    served.read_exact(&mut got).await.unwrap();
    assert_eq!(&got, b"early");

    // Ten at once, more than Burrow keeps parked: each is handed over, with its own bytes.
    let mut inside = Vec::new();
    for i in 0..10u8 {
        let mut s = connect(service).await;
        s.write_all(&[i]).await.unwrap();
        inside.push(s);
    }
    let mut seen = Vec::new();
    for _ in 0..10 {
        let mut c = tokio::time::timeout(Duration::from_secs(5), listener.accept())
            .await
            .unwrap()
            .unwrap();
        let b = c.read_u8().await.unwrap();
        c.write_all(&[b, b]).await.unwrap();
        seen.push(b);
    }
    seen.sort();
    assert_eq!(seen, (0..10).collect::<Vec<u8>>());
    for (i, s) in inside.iter_mut().enumerate() {
        let mut back = [0; 2];
        s.read_exact(&mut back).await.unwrap();
        assert_eq!(back, [i as u8, i as u8]);
    }
    running.abort();
}
