//! The warm pool against real runc and Streamlit: a first view takes a warm sandbox, which gets the app's code, secrets, labels and limits, serves that app once and goes with it; the pool refills, is never reused, is reaped after a `kill -9`, and is off at 0.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{json, Value};

use crate::harness::Server;

/// Every sandbox of the server, by id, with its labels, as its records say.
fn sandboxes(server: &Server) -> BTreeMap<String, BTreeMap<String, String>> {
    std::fs::read_dir(server.data_dir().join("sandboxes/sandboxes"))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let record: Value =
                serde_json::from_slice(&std::fs::read(e.path().join("sandbox.json")).ok()?).ok()?;
            let labels = serde_json::from_value(record["spec"]["labels"].clone()).ok()?;
            Some((e.file_name().to_string_lossy().into_owned(), labels))
        })
        .collect()
}

/// Sandboxes kept warm and not yet handed an app.
fn unassigned(server: &Server) -> Vec<String> {
    sandboxes(server)
        .into_iter()
        .filter(|(_, l)| l.contains_key("burrow.warm") && !l.contains_key("burrow.app"))
        .map(|(id, _)| id)
        .collect()
}

/// How many warm sandboxes are ready, as `/metrics` says.
async fn ready(server: &Server) -> u64 {
    let text = server
        .client
        .get(format!("{}/metrics", server.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("burrow_apps_warm_sandboxes "))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .unwrap_or(0.0) as u64
}

/// Waits until one warm sandbox is ready other than those in `not`; returns its id.
async fn warm_one(server: &Server, not: &[String]) -> String {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let fresh: Vec<String> = unassigned(server)
            .into_iter()
            .filter(|id| !not.contains(id))
            .collect();
        if ready(server).await >= 1 && fresh.len() == 1 {
            return fresh[0].clone();
        }
        assert!(
            Instant::now() < deadline,
            "no warm sandbox became ready: {:?}",
            sandboxes(server)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The sandbox serving `app`, once its start is recorded running.
async fn serving(server: &Server, token: &str, path: &str, app: &str) -> String {
    server
        .wait_for(token, path, |a| a["status"] == "running")
        .await;
    let running: Vec<String> = sandboxes(server)
        .into_iter()
        .filter(|(_, l)| l.get("burrow.app").map(String::as_str) == Some(app))
        .map(|(id, _)| id)
        .collect();
    assert_eq!(running.len(), 1, "{running:?}");
    running[0].clone()
}

/// A sandbox's memory limit in bytes and CPU quota per 100 ms period, in microseconds,
/// from its cgroup, v2 or v1.
fn limits(sandbox: &str) -> (String, String) {
    let read = |path: String| {
        std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{path}: {e}"))
            .trim()
            .to_owned()
    };
    if std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        let cpu = read(format!("/sys/fs/cgroup/burrow/{sandbox}/cpu.max"));
        (
            read(format!("/sys/fs/cgroup/burrow/{sandbox}/memory.max")),
            cpu.split_whitespace().next().unwrap().to_owned(),
        )
    } else {
        (
            read(format!(
                "/sys/fs/cgroup/memory/burrow/{sandbox}/memory.limit_in_bytes"
            )),
            read(format!(
                "/sys/fs/cgroup/cpu/burrow/{sandbox}/cpu.cfs_quota_us"
            )),
        )
    }
}

/// Shows its secret and where its code is, and says whether it can write there.
const APP: &str = "import os, streamlit as st\n\
    try:\n    open('/app/new.txt', 'w')\n    wrote = 'wrote'\nexcept OSError:\n    wrote = 'read-only'\n\
    st.title(st.secrets.get('GREETING', 'no greeting') + ' / ' + wrote)\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_view_takes_a_warm_sandbox_once_and_the_pool_refills() {
    let mut server = Server::start_with_env(&[("BURROW_APPS__WARM_POOL", "1")]).await;
    let first = warm_one(&server, &[]).await;
    let owner = server.account("owner@example.com").await;
    let project = server.project(&owner, "Warm").await;
    let (id, path) = server.deploy(&owner, &project, "Warm", APP).await;
    let resp = server
        .api(
            Method::PUT,
            &format!("{path}/secrets/GREETING"),
            &owner,
            Some(json!({"value": "hello warm"})),
        )
        .await;
    assert!(resp.status().is_success(), "{}", resp.status());
    let resp = server
        .api(
            Method::PATCH,
            &path,
            &owner,
            Some(json!({"cpus": 0.5, "memory_mb": 640})),
        )
        .await;
    assert!(resp.status().is_success(), "{}", resp.text().await.unwrap());

    // The first view is served by the sandbox that was warm, made the app's.
    let viewer = server.viewer(&owner, &path, &id).await;
    viewer.open_until_running().await;
    let sandbox = serving(&server, &owner, &path, &id).await;
    assert_eq!(sandbox, first, "the warm sandbox served the app");
    let labels = &sandboxes(&server)[&sandbox];
    assert_eq!(labels["burrow.version"], "1");
    assert!(
        !labels.contains_key(burrow_sandbox::LEASE_LABEL),
        "an assigned sandbox outlives serve as any app's does: {labels:?}"
    );
    assert_eq!(
        limits(&sandbox),
        ((640u64 << 20).to_string(), "50000".to_owned()),
        "the app's limits, not the pool's"
    );
    let page = crate::secrets::view(&server, &id, &viewer).await;
    assert!(page.contains("hello warm / read-only"), "{page}");

    // The pool refills with a new sandbox; the used one is never handed out again.
    let second = warm_one(&server, std::slice::from_ref(&first)).await;
    assert_ne!(second, first);
    let resp = server
        .api(Method::POST, &format!("{path}/stop"), &owner, None)
        .await;
    assert!(resp.status().is_success());
    let deadline = Instant::now() + Duration::from_secs(30);
    let assigned = server.data_dir().join("assigned");
    let folders = |server: &Server| -> Vec<String> {
        let _ = server;
        std::fs::read_dir(&assigned)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect()
    };
    let gone = sandboxes(&server)[&second]["burrow.warm"].clone();
    while sandboxes(&server).contains_key(&first) || folders(&server).len() != 3 {
        assert!(
            Instant::now() < deadline,
            "the used sandbox or its folders stayed: {:?}",
            folders(&server)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        folders(&server).iter().all(|f| f.starts_with(&gone)),
        "only the warm sandbox's folders are left: {:?}",
        folders(&server)
    );
    viewer.open_until_running().await;
    assert_eq!(serving(&server, &owner, &path, &id).await, second);
    let third = warm_one(&server, &[first.clone(), second.clone()]).await;

    // After a `kill -9` of serve, the running app is adopted again and the warm sandbox,
    // whose holder died, is reaped.
    server.kill_hard();
    server.spawn().await;
    let deadline = Instant::now() + Duration::from_secs(60);
    while sandboxes(&server).contains_key(&third) {
        assert!(Instant::now() < deadline, "{third} outlived its pool");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(serving(&server, &owner, &path, &id).await, second);
    let page = crate::secrets::view(&server, &id, &viewer).await;
    assert!(page.contains("hello warm / read-only"), "{page}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pool_of_zero_keeps_nothing_warm_and_apps_start_cold() {
    let server = Server::start_with_env(&[("BURROW_APPS__WARM_POOL", "0")]).await;
    let (owner, id, path, _viewer) = server.running_app("Cold", APP).await;
    let sandbox = serving(&server, &owner, &path, &id).await;
    let all = sandboxes(&server);
    assert!(
        !all[&sandbox].contains_key("burrow.warm"),
        "started cold: {all:?}"
    );
    assert_eq!(all.len(), 1, "nothing else runs: {all:?}");
    assert_eq!(ready(&server).await, 0);
}
