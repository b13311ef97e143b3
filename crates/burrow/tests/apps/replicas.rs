//! Replicas: three `burrow serve`, each in a network namespace of its own, on one
//! PostgreSQL database, one SeaweedFS bucket and one data folder. First views spread
//! over them start one sandbox; a replica killed with
//! `kill -9` is taken over with its sandbox kept; a replica frozen past its lease loses
//! the app, and what it would write when it wakes is refused. A replica on another host
//! forwards viewers to the one running the app, and closes a WebSocket at once when
//! another replica takes its viewer's access away.

use std::time::{Duration, Instant};

use burrow_store::{SandboxLease, Store};
use reqwest::StatusCode;

use crate::harness::{free_port, Server, Viewer, NO_WARM_APPS};

const HELLO: &str = "import streamlit as st\nst.title('Hello from every replica')\n";
/// An app that needs a package the base environment lacks.
const TABULATED: &str =
    "import streamlit as st\nimport tabulate\nst.text(tabulate.tabulate([[1, 2]]))\n";

/// The app's running sandboxes on the host all replicas share.
fn app_sandboxes(server: &Server, app_id: &str) -> Vec<String> {
    let out = server.cli(&["sandbox", "ps"]);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains(&format!("burrow.app={app_id}")) && l.contains("running"))
        .map(|l| l.split_whitespace().next().unwrap_or_default().to_owned())
        .collect()
}

/// Waits until the app's lease satisfies `done`.
async fn lease_until(
    store: &Store,
    app: &str,
    done: impl Fn(&SandboxLease) -> bool,
) -> SandboxLease {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let lease = store.sandbox_lease("burrow.app", app).await.unwrap();
        if let Some(lease) = lease.filter(|l| done(l)) {
            return lease;
        }
        assert!(
            Instant::now() < deadline,
            "the lease never moved as expected"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Streamlit answers its health check through this viewer's replica.
async fn healthy(viewer: &Viewer) -> bool {
    viewer.get("/_stcore/health", "*/*").await.status() == StatusCode::OK
}

#[tokio::test]
async fn replicas_start_one_sandbox_take_over_a_dead_one_and_fence_a_frozen_one() {
    // Three replicas, each in a network namespace of its own, as on machines of their
    // own (sharing one disk, as on one host), on one PostgreSQL and one SeaweedFS that
    // they reach only over the bridge.
    let hosts = burrow_testkit::netns::Hosts::new(3);
    let pg = burrow_testkit::PgDatabase::create().await;
    let seaweed = burrow_testkit::s3::Seaweed::start("burrow").await;
    let mut env: Vec<(String, String)> = [
        ("BURROW_DATABASE_URL", hosts.relay_url(&pg.url)),
        ("BURROW_REPLICA", "r0".into()),
        ("BURROW_SANDBOX__LEASE_SECS", "6".into()),
        (NO_WARM_APPS.0, NO_WARM_APPS.1.into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    env.extend(seaweed.env(&hosts.relay_url(&seaweed.endpoint)));
    let first = Server::start_in(&hosts.hosts[0], "r0", &env).await;
    let second = Server::start_replica_in(&first, "r1", &hosts.hosts[1]).await;
    let third = Server::start_replica_in(&first, "r2", &hosts.hosts[2]).await;
    let mut replicas = [first, second, third];
    let store = Store::connect(&pg.url).await.unwrap();
    // Nothing of theirs is on this host's loopback.
    for r in &replicas {
        assert!(
            tokio::net::TcpStream::connect(("127.0.0.1", r.api_port()))
                .await
                .is_err(),
            "a replica listens in its own namespace only"
        );
    }

    let owner = replicas[0].account("owner@example.com").await;
    let project = replicas[0].project(&owner, "Sales").await;
    let (id, path) = replicas[0].deploy(&owner, &project, "Hello", HELLO).await;
    let viewer = replicas[0].viewer(&owner, &path, &id).await;
    // One browser, its requests spread by a load balancer: the view session is in the
    // database, so every replica knows it.
    let origins: Vec<String> = replicas.iter().map(|r| r.app_origin(&id)).collect();
    let through = |i: usize| Viewer {
        origin: origins[i].clone(),
        ..viewer.clone()
    };

    // 20 first views at once, over the three replicas: one sandbox starts.
    let views: Vec<Viewer> = (0..20).map(|i| through(i % 3)).collect();
    let pages = futures::future::join_all(views.iter().map(|v| v.get("/", "text/html"))).await;
    for page in pages {
        assert_eq!(page.status(), StatusCode::OK);
    }
    for i in 0..3 {
        let page = through(i).open_until_running().await;
        assert!(page.contains("<div id=\"root\">"), "replica {i}: {page}");
        assert!(healthy(&through(i)).await, "replica {i}");
    }
    let sandboxes = app_sandboxes(&replicas[0], &id);
    assert_eq!(
        sandboxes.len(),
        1,
        "one start for 20 first views: {sandboxes:?}"
    );
    let lease = store
        .sandbox_lease("burrow.app", &id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(lease.epoch, 1, "{lease:?}");
    assert_eq!(lease.sandbox.as_deref(), Some(sandboxes[0].as_str()));
    let index = |name: &str| name.trim_start_matches('r').parse::<usize>().unwrap();
    let holder = index(&lease.holder);

    // `kill -9` of the replica that started it: the others reach the same sandbox at
    // once, and one of them takes the app over, adopting that sandbox.
    replicas[holder].kill_hard();
    let others: Vec<usize> = (0..3).filter(|i| *i != holder).collect();
    for &i in &others {
        assert!(
            healthy(&through(i)).await,
            "replica {i} reaches the sandbox"
        );
    }
    // Taking the lease names no sandbox until the new holder has adopted (or started) one.
    let taken = lease_until(&store, &id, |l| {
        l.holder != lease.holder && l.epoch > 1 && l.sandbox.is_some()
    })
    .await;
    assert_eq!(taken.sandbox, lease.sandbox, "adopted, not started again");
    assert_eq!(app_sandboxes(&replicas[others[0]], &id), sandboxes);
    let app = replicas[others[0]].get_json(&path, &owner).await;
    assert_eq!(app["status"], "running", "{app}");
    for &i in &others {
        assert!(healthy(&through(i)).await, "replica {i} after the takeover");
    }

    // The new holder frozen past its lease: the last replica takes the app; as the
    // frozen one still holds the sandbox's host services, it starts another sandbox.
    let frozen = index(&taken.holder);
    let last = others.iter().copied().find(|i| *i != frozen).unwrap();
    replicas[frozen].signal("STOP");
    let moved = lease_until(&store, &id, |l| l.holder == format!("r{last}")).await;
    assert!(moved.epoch > taken.epoch, "{moved:?}");
    through(last).open_until_running().await;
    let moved = lease_until(&store, &id, |l| {
        l.sandbox.is_some() && l.sandbox != taken.sandbox
    })
    .await;

    // Thawed, the frozen replica finds its sandbox gone and its lease lost: the crash
    // and restart it would record are refused, and it lets the app go.
    replicas[frozen].signal("CONT");
    tokio::time::sleep(Duration::from_secs(6)).await;
    let now = store
        .sandbox_lease("burrow.app", &id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (now.holder.as_str(), now.epoch),
        (moved.holder.as_str(), moved.epoch)
    );
    assert_eq!(
        app_sandboxes(&replicas[last], &id),
        vec![now.sandbox.clone().unwrap()]
    );
    let app = replicas[last].get_json(&path, &owner).await;
    assert_eq!(app["status"], "running", "{app}");
    assert_eq!(app["restart_count"], 0, "{app}");
    assert!(app["last_error"].is_null(), "{app}");
    for i in [frozen, last] {
        assert!(
            healthy(&through(i)).await,
            "replica {i} reaches the new sandbox"
        );
    }

    // A replica on the same data folder stopped with `--stop-sandboxes` stops only its
    // own: the app another replica runs goes on.
    let mut fourth = Server::start_replica_with(&replicas[0], "r3", &["--stop-sandboxes"]).await;
    assert!(fourth.stop_gracefully().success());
    assert_eq!(
        app_sandboxes(&replicas[last], &id),
        vec![now.sandbox.clone().unwrap()]
    );
    assert!(healthy(&through(last)).await);
}

/// What a replica's internal listener answers to `preface`.
async fn internal_answer(port: u16, preface: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    stream.write_all(preface.as_bytes()).await.unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    answer
}

#[tokio::test]
async fn a_replica_on_another_host_forwards_viewers_to_the_one_running_the_app() {
    let pg = burrow_testkit::PgDatabase::create().await;
    let blobs = tempfile::tempdir().unwrap();
    let internal = [free_port(), free_port()];
    let (first_internal, second_internal) = (
        format!("127.0.0.1:{}", internal[0]),
        format!("127.0.0.1:{}", internal[1]),
    );
    let first = Server::start_with_env(&[
        ("BURROW_DATABASE_URL", pg.url.as_str()),
        ("BURROW_REPLICA", "h0"),
        ("BURROW_SANDBOX__LEASE_SECS", "6"),
        ("BURROW_BLOBS__KIND", "local"),
        ("BURROW_BLOBS__PATH", blobs.path().to_str().unwrap()),
        ("BURROW_INTERNAL_LISTEN", first_internal.as_str()),
        // Open WebSockets lose access by event alone: see below.
        ("BURROW_APPS__RECHECK_SECS", "3600"),
        NO_WARM_APPS,
    ])
    .await;
    // h1's environments are its own: it builds what it lacks.
    let h1_envs = tempfile::tempdir().unwrap();
    let mut second = Server::start_on_another_host(
        &first,
        "h1",
        &[
            ("BURROW_INTERNAL_LISTEN", second_internal.as_str()),
            ("BURROW_ENVS__DIR", h1_envs.path().to_str().unwrap()),
        ],
    )
    .await;
    let store = Store::connect(&pg.url).await.unwrap();

    let owner = first.account("owner@example.com").await;
    let project = first.project(&owner, "Sales").await;
    // An app with a package beyond the base: its build runs on whichever replica's
    // queue takes it, so one of the two hosts lacks its environment when it starts it.
    let resp = first
        .post_json(
            "/api/v1/packages",
            &owner,
            serde_json::json!({"name": "tabulate"}),
        )
        .await;
    assert_eq!(
        resp.status(),
        StatusCode::CREATED,
        "the first user is the admin"
    );
    let (id, path) = first.deploy(&owner, &project, "Hello", TABULATED).await;
    let viewer = first.viewer(&owner, &path, &id).await;
    viewer.open_until_running().await;
    let lease = store
        .sandbox_lease("burrow.app", &id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(lease.holder, "h0");
    assert_eq!(app_sandboxes(&first, &id).len(), 1);

    // The other host cannot see that sandbox: it goes through h0's internal listener.
    let there = Viewer {
        origin: second.app_origin(&id),
        ..viewer.clone()
    };
    let page = there.open_until_running().await;
    assert!(page.contains("<div id=\"root\">"), "{page}");
    assert!(healthy(&there).await);
    assert!(
        app_sandboxes(&second, &id).is_empty(),
        "nothing started on h1"
    );
    let ws = crate::harness::websocket(
        &second,
        &id,
        "/_stcore/stream",
        &[("cookie", &viewer.cookie), ("origin", &there.origin)],
    )
    .await;
    assert!(
        ws.is_ok(),
        "Streamlit's WebSocket through h1: {:?}",
        ws.err()
    );

    // A member removed on h0 loses the WebSocket they hold open through h1 at once:
    // open sockets are checked on a timer of an hour here, so only the `access` event
    // h0 publishes can close it.
    let (member, member_id) = first.account_with_id("member@example.com").await;
    let resp = first
        .post_json(
            &format!("/api/v1/projects/{project}/members"),
            &owner,
            serde_json::json!({"email": "member@example.com", "role": "viewer"}),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let member_view = first.viewer(&member, &path, &id).await;
    let mut held = crate::harness::websocket(
        &second,
        &id,
        "/_stcore/stream",
        &[("cookie", &member_view.cookie), ("origin", &there.origin)],
    )
    .await
    .expect("a member may open it through h1");
    let resp = first
        .api(
            reqwest::Method::DELETE,
            &format!("/api/v1/projects/{project}/members/{member_id}"),
            &owner,
            None,
        )
        .await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let closed = tokio::time::timeout(Duration::from_secs(30), async {
        use futures::StreamExt;
        use tokio_tungstenite::tungstenite::Message;
        loop {
            match held.next().await {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return,
                Some(Ok(_)) => {}
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "h1 closed the removed member's WebSocket");

    // The listener asks for h0's own token, and forwards only to what h0 runs.
    let (_, token) = store.replica_address("h0").await.unwrap();
    let wrong = internal_answer(
        internal[0],
        &format!("BURROW-FORWARD/1 {token}x app {id}\n"),
    )
    .await;
    assert_eq!(wrong, "NO wrong token\n");
    let garbage = internal_answer(internal[0], "GET / HTTP/1.1\r\n\r\n").await;
    assert_eq!(garbage, "NO not a forwarding preface\n");
    let unknown = internal_answer(internal[0], &format!("BURROW-FORWARD/1 {token} db x y\n")).await;
    assert_eq!(unknown, "NO not a forwarding preface\n");
    // The form of the release before is still understood.
    let legacy = internal_answer(internal[0], &format!("BURROW-FORWARD/1 {token}x {id}\n")).await;
    assert_eq!(legacy, "NO wrong token\n");
    let (_, h1_own) = store.replica_address("h1").await.unwrap();
    let legacy_elsewhere =
        internal_answer(internal[1], &format!("BURROW-FORWARD/1 {h1_own} {id}\n")).await;
    assert_eq!(legacy_elsewhere, "NO this replica does not run it\n");
    let wrong_api = internal_answer(internal[0], &format!("BURROW-FORWARD/1 {token}x api\n")).await;
    assert_eq!(wrong_api, "NO wrong token\n");
    let not_here =
        internal_answer(internal[1], &format!("BURROW-FORWARD/1 {token} app {id}\n")).await;
    assert_eq!(not_here, "NO wrong token\n", "h1 has a token of its own");
    let (_, h1_token) = store.replica_address("h1").await.unwrap();
    assert_ne!(h1_token, token);
    let not_run = internal_answer(
        internal[1],
        &format!("BURROW-FORWARD/1 {h1_token} app {id}\n"),
    )
    .await;
    assert_eq!(not_run, "NO this replica does not run it\n");

    // h0 dies with its host: h1 takes the app over once the lease runs out, and, as it
    // cannot reach h0's sandbox, starts one of its own.
    let h0_envs = first.envs_dir();
    drop(first);
    let taken = lease_until(&store, &id, |l| l.holder == "h1" && l.sandbox.is_some()).await;
    assert_eq!(app_sandboxes(&second, &id), vec![taken.sandbox.unwrap()]);
    assert!(healthy(&there).await);
    let page = there.get("/", "text/html").await;
    assert_eq!(page.status(), StatusCode::OK);
    // The host that did not build the version's environment built it when it started it.
    let built_here = [h0_envs, h1_envs.path().to_path_buf()]
        .iter()
        .filter(|dir| dir.join(format!("logs/{id}-v1-here.log")).is_file())
        .count();
    assert_eq!(built_here, 1, "one host built the environment at start");
    second.kill_hard();
}

/// Two hosts, each with a data folder of its own. A workspace and an app run on h0;
/// through h1, the workspace's files are written and read, its terminal is used, and
/// the app's output is read: h1 sends those requests on to h0's API.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_workspace_and_app_output_on_another_host_are_reached_through_the_replica_running_them() {
    use crate::workspaces::{put, read, start, workspace, Term};
    let pg = burrow_testkit::PgDatabase::create().await;
    let blobs = tempfile::tempdir().unwrap();
    let internal = [free_port(), free_port()];
    let first = Server::start_with_env(&[
        ("BURROW_DATABASE_URL", pg.url.as_str()),
        ("BURROW_REPLICA", "h0"),
        ("BURROW_BLOBS__KIND", "local"),
        ("BURROW_BLOBS__PATH", blobs.path().to_str().unwrap()),
        (
            "BURROW_INTERNAL_LISTEN",
            format!("127.0.0.1:{}", internal[0]).as_str(),
        ),
        NO_WARM_APPS,
    ])
    .await;
    let second = Server::start_on_another_host(
        &first,
        "h1",
        &[(
            "BURROW_INTERNAL_LISTEN",
            format!("127.0.0.1:{}", internal[1]).as_str(),
        )],
    )
    .await;
    let store = Store::connect(&pg.url).await.unwrap();

    let (owner, path) = workspace(&first).await;
    start(&first, &owner, &path).await;
    let workspace_id = path.rsplit('/').next().unwrap().to_owned();
    let lease = store
        .sandbox_lease("burrow.workspace", &workspace_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(lease.holder, "h0");

    // A file written through h1 reaches the sandbox h0 runs; h1's terminal sees it.
    put(
        &second,
        &owner,
        &path,
        "from_h1.txt",
        "written through h1\n",
    )
    .await;
    assert_eq!(
        read(&second, &owner, &path, "from_h1.txt").await,
        "written through h1\n"
    );
    let mut term = Term::open(&second, &owner, &path, 1, None).await;
    assert_eq!(term.run("cat from_h1.txt").await, "written through h1");
    // The terminal is h0's: listed through either replica.
    for server in [&first, &second] {
        let listed = server.get_json(&format!("{path}/terminals"), &owner).await;
        assert_eq!(
            listed,
            serde_json::json!([{"id": 1, "running": true}]),
            "{}",
            server.base
        );
    }
    drop(term);

    // An app h0 runs: its output, read through h1.
    let project = path.split('/').nth(4).unwrap().to_owned();
    let (id, app_path) = first.deploy(&owner, &project, "Hello", HELLO).await;
    let viewer = first.viewer(&owner, &app_path, &id).await;
    viewer.open_until_running().await;
    let output = second
        .api(
            reqwest::Method::GET,
            &format!("{app_path}/logs?follow=false"),
            &owner,
            None,
        )
        .await;
    assert_eq!(output.status(), StatusCode::OK);
    let output = output.text().await.unwrap();
    assert!(
        output.contains("event: log") && output.contains("Streamlit"),
        "{output}"
    );
    assert!(app_sandboxes(&second, &id).is_empty(), "nothing ran on h1");
}
