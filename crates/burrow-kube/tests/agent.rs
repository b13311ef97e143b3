//! The host-services agent over real TCP: a wrong token is refused for good, a sandbox that
//! connects before Burrow has dialled is served once it does, and many connections at once
//! each reach Burrow.

use std::net::SocketAddr;
use std::time::Duration;

use burrow_kube::agent::{run, AgentListener};
use burrow_sandbox::HostListener;
use burrow_testkit::free_port;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const TOKEN: &str = "0123456789abcdef0123456789abcdef";

/// Waits for `listener`'s dial to be refused, and checks that the error says `why`.
async fn refused(listener: &AgentListener, why: &str) {
    let err = tokio::time::timeout(Duration::from_secs(5), listener.accept())
        .await
        .expect("the dial ended")
        .unwrap_err();
    assert!(err.to_string().contains(why), "{err}");
}

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
    let running = tokio::spawn(run(agent, vec![service], TOKEN.into(), None));
    connect(agent_port).await;

    // A token of the same length that differs in its last character.
    let mut wrong_token = TOKEN.to_owned();
    wrong_token.pop();
    wrong_token.push('0');
    let wrong = AgentListener::new(agent, wrong_token, service);
    refused(&wrong, "does not know this sandbox's token").await;

    let other_port = AgentListener::new(agent, TOKEN.into(), service + 1);
    refused(&other_port, "is not a host service of this pod").await;

    // An agent without a proper token does not start.
    let err = run(
        SocketAddr::from(([127, 0, 0, 1], 0)),
        vec![],
        "short".into(),
        None,
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("BURROW_AGENT_TOKEN"), "{err}");
    running.abort();
}

#[tokio::test]
async fn neither_an_impostor_at_the_pods_address_nor_a_dialler_without_the_token_is_served() {
    // Something else answers where the pod was (a new pod on its address, or the
    // sandbox's own program): it says OK, but cannot prove it knows the token, and
    // Burrow never sends the token itself.
    let impostor = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let at = impostor.local_addr().unwrap();
    let heard = tokio::spawn(async move {
        let (mut s, _) = impostor.accept().await.unwrap();
        let mut line = Vec::new();
        while let Ok(b) = s.read_u8().await {
            if b == b'\n' {
                break;
            }
            line.push(b);
        }
        s.write_all(b"OK 00 00\n").await.unwrap();
        String::from_utf8(line).unwrap()
    });
    let listener = AgentListener::new(at, TOKEN.into(), 3128);
    refused(&listener, "does not know this sandbox's token").await;
    let preface = heard.await.unwrap();
    assert!(preface.starts_with("BURROW-AGENT/2 3128 "), "{preface}");
    assert!(!preface.contains(TOKEN), "the token never leaves Burrow");

    // Something that dials the real agent without the token is never handed the
    // sandbox's connections: they go to Burrow.
    let (agent_port, service) = (free_port(), free_port());
    let agent = SocketAddr::from(([127, 0, 0, 1], agent_port));
    let running = tokio::spawn(run(agent, vec![service], TOKEN.into(), None));
    let mut thief = connect(agent_port).await;
    thief
        .write_all(format!("BURROW-AGENT/2 {service} 0123\n").as_bytes())
        .await
        .unwrap();
    let mut answer = Vec::new();
    while let Ok(b) = thief.read_u8().await {
        if b == b'\n' {
            break;
        }
        answer.push(b);
    }
    assert!(
        answer.starts_with(b"OK "),
        "{}",
        String::from_utf8_lossy(&answer)
    );
    thief.write_all(b"not-a-proof\n").await.unwrap();
    let burrow = AgentListener::new(agent, TOKEN.into(), service);
    let mut inside = connect(service).await;
    inside.write_all(b"secret").await.unwrap();
    let mut served = tokio::time::timeout(Duration::from_secs(5), burrow.accept())
        .await
        .unwrap()
        .unwrap();
    let mut got = [0; 6];
    served.read_exact(&mut got).await.unwrap();
    assert_eq!(&got, b"secret");
    let mut stolen = [0u8; 1];
    let read = tokio::time::timeout(Duration::from_millis(300), thief.read(&mut stolen)).await;
    assert!(
        matches!(read, Ok(Ok(0)) | Ok(Err(_))),
        "the thief was closed, never served: {read:?}"
    );
    running.abort();
}

#[tokio::test]
async fn a_parked_connection_whose_burrow_end_closed_is_passed_over() {
    let (agent_port, service) = (free_port(), free_port());
    let agent = SocketAddr::from(([127, 0, 0, 1], agent_port));
    let running = tokio::spawn(run(agent, vec![service], TOKEN.into(), None));
    connect(agent_port).await;
    // A replica parks connections, then goes (a restart): its listener is dropped.
    let gone = AgentListener::new(agent, TOKEN.into(), service);
    tokio::time::sleep(Duration::from_millis(300)).await;
    drop(gone);
    tokio::time::sleep(Duration::from_millis(100)).await;
    // The next replica's listener gets the sandbox's very first connection.
    let next = AgentListener::new(agent, TOKEN.into(), service);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut inside = connect(service).await;
    inside.write_all(b"first").await.unwrap();
    let mut served = tokio::time::timeout(Duration::from_secs(5), next.accept())
        .await
        .expect("the first connection reached the live replica")
        .unwrap();
    let mut got = [0; 5];
    served.read_exact(&mut got).await.unwrap();
    assert_eq!(&got, b"first");
    running.abort();
}

#[tokio::test]
async fn connections_made_before_and_while_burrow_dials_all_reach_it() {
    let (agent_port, service) = (free_port(), free_port());
    let agent = SocketAddr::from(([127, 0, 0, 1], agent_port));
    let running = tokio::spawn(run(agent, vec![service], TOKEN.into(), None));

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
