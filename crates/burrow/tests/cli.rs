//! The `burrow` binary end to end: default-config, migrate, user create and serve with graceful shutdown.

// Tests start the real binary; outside tests, processes are started only by the sandbox layer.
#![allow(clippy::disallowed_methods)]

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn burrow(data_dir: &std::path::Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_burrow"));
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("BURROW_DATA_DIR", data_dir)
        .env("RUST_LOG", "warn");
    cmd
}

#[test]
fn default_config_prints_a_commented_example() {
    let dir = tempfile::tempdir().unwrap();
    let out = burrow(dir.path()).arg("default-config").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("listen = \"127.0.0.1:8080\""), "{text}");
    assert!(text.contains("# "), "the example is commented");
}

#[test]
fn migrate_and_create_the_first_admin() {
    let dir = tempfile::tempdir().unwrap();
    let out = burrow(dir.path()).arg("migrate").output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(dir.path().join("burrow.db").exists());

    let mut child = burrow(dir.path())
        .args([
            "user",
            "create",
            "--email",
            "root@example.com",
            "--name",
            "Root",
            "--admin",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"a long enough passphrase\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("(admin)"));

    // A weak password is refused with the reason, and nothing is stored.
    let mut child = burrow(dir.path())
        .args([
            "user",
            "create",
            "--email",
            "bob@example.com",
            "--name",
            "Bob",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"short\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("at least 8"), "{stderr}");
}

#[test]
fn a_bad_setting_is_named_on_startup() {
    let dir = tempfile::tempdir().unwrap();
    let out = burrow(dir.path())
        .env("BURROW_LISTEN", "nowhere")
        .arg("serve")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("LISTEN"), "{stderr}");
}

#[test]
fn kubernetes_sandboxes_without_their_settings_are_refused_naming_what_to_set() {
    let dir = tempfile::tempdir().unwrap();
    let serve = |extra: &[(&str, &str)]| {
        let mut cmd = burrow(dir.path());
        cmd.env("BURROW_SANDBOX__KIND", "kubernetes");
        for (k, v) in extra {
            cmd.env(k, v);
        }
        let out = cmd.arg("serve").output().unwrap();
        assert!(!out.status.success());
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let stderr = serve(&[]);
    assert!(
        stderr.contains("BURROW_SANDBOX__KUBERNETES__IMAGE"),
        "{stderr}"
    );
    let images = [
        (
            "BURROW_SANDBOX__KUBERNETES__IMAGE",
            "registry.example/burrow:1",
        ),
        (
            "BURROW_SANDBOX__KUBERNETES__AGENT_IMAGE",
            "registry.example/burrow:1",
        ),
    ];
    let stderr = serve(&images);
    assert!(
        stderr.contains("agent_secret must be at least 16 characters"),
        "{stderr}"
    );
    // Complete settings, but no cluster to reach: said so, nothing started.
    let stderr = serve(&[
        images[0],
        images[1],
        (
            "BURROW_SANDBOX__KUBERNETES__AGENT_SECRET",
            "0123456789abcdef0123",
        ),
        ("KUBECONFIG", "/nonexistent/kubeconfig"),
    ]);
    assert!(
        stderr.contains("Failed to reach the Kubernetes API for sandbox pods"),
        "{stderr}"
    );
}

#[tokio::test]
async fn the_pod_agent_serves_host_services_and_shared_folders_to_whoever_knows_its_token() {
    use burrow_sandbox::{HostListener, SharedFolder};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let free = || {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    };
    let (agent_port, service) = (free(), free());
    let token = "0123456789abcdef0123456789abcdef";
    let shared = tempfile::tempdir().unwrap();
    std::fs::create_dir(shared.path().join("m0")).unwrap();
    let mut agent = Command::new(env!("CARGO_BIN_EXE_burrow"));
    agent
        .env_clear()
        .env("BURROW_AGENT_TOKEN", token)
        .args([
            "sandbox",
            "agent",
            "--listen",
            &format!("127.0.0.1:{agent_port}"),
        ])
        .args(["--ports", &service.to_string()])
        .args(["--shared".as_ref(), shared.path().as_os_str()]);
    let _agent = KillOnDrop(Some(agent.spawn().unwrap()));
    let listener = burrow_kube::agent::AgentListener::new(
        ([127, 0, 0, 1], agent_port).into(),
        token.into(),
        service,
    );
    let mut inside = loop {
        match tokio::net::TcpStream::connect(("127.0.0.1", service)).await {
            Ok(s) => break s,
            Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    };
    inside.write_all(b"GET / HTTP/1.1\r\n\r\n").await.unwrap();
    let mut served = tokio::time::timeout(Duration::from_secs(10), listener.accept())
        .await
        .expect("the sandbox's connection reached Burrow")
        .unwrap();
    let mut got = [0; 18];
    served.read_exact(&mut got).await.unwrap();
    assert_eq!(&got, b"GET / HTTP/1.1\r\n\r\n");

    // Its shared folder, `m0` under `--shared`, read and written through it.
    let folder =
        burrow_kube::files::AgentFolder::new(([127, 0, 0, 1], agent_port).into(), token.into(), 0);
    folder
        .write("app/hello.py", std::sync::Arc::new(b"print('hi')".to_vec()))
        .await
        .unwrap();
    assert_eq!(
        std::fs::read(shared.path().join("m0/app/hello.py")).unwrap(),
        b"print('hi')"
    );
    let (_, content) = folder.read("app/hello.py", 100).await.unwrap().unwrap();
    assert_eq!(content, b"print('hi')");
    // A folder the pod does not mount is not there.
    let missing =
        burrow_kube::files::AgentFolder::new(([127, 0, 0, 1], agent_port).into(), token.into(), 7);
    assert_eq!(
        missing.scan(10).await.unwrap_err().kind(),
        std::io::ErrorKind::NotFound
    );

    // Without the token in its environment, the agent does not start.
    let out = Command::new(env!("CARGO_BIN_EXE_burrow"))
        .env_clear()
        .args([
            "sandbox",
            "agent",
            "--listen",
            "127.0.0.1:0",
            "--ports",
            "1",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("BURROW_AGENT_TOKEN"), "{stderr}");
}

/// Kills and reaps the server if the test fails before stopping it.
struct KillOnDrop(Option<std::process::Child>);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

#[tokio::test]
async fn serve_answers_health_checks_and_stops_gracefully_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let free = || {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    };
    let (port, apps_port) = (free(), free());
    let mut guard = KillOnDrop(Some(
        burrow(dir.path())
            .env("BURROW_LISTEN", format!("127.0.0.1:{port}"))
            .env("BURROW_APPS_LISTEN", format!("127.0.0.1:{apps_port}"))
            .arg("serve")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    ));
    let pid = guard.0.as_ref().unwrap().id();
    let url = format!("http://127.0.0.1:{port}/healthz");
    let started = Instant::now();
    let mut healthy = false;
    while started.elapsed() < Duration::from_secs(60) {
        if let Ok(resp) = reqwest::get(&url).await {
            healthy = resp.status().is_success();
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(healthy, "burrow serve did not answer /healthz");
    assert!(
        dir.path().join("burrow.db").exists(),
        "state lives under the data dir"
    );
    assert!(dir.path().join("blobs").is_dir());

    let status = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = tokio::task::spawn_blocking(move || {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if guard.0.as_mut().unwrap().try_wait().unwrap().is_some() {
                return guard.0.take().unwrap().wait_with_output().unwrap();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("burrow serve did not stop within 30 s of SIGTERM");
    })
    .await
    .unwrap();
    assert!(out.status.success(), "exit status {:?}", out.status);
    assert!(String::from_utf8_lossy(&out.stdout).contains(&format!("http://127.0.0.1:{port}/")));
}

#[test]
fn the_allowlist_cli_and_bundle_check_work_together() {
    let dir = tempfile::tempdir().unwrap();
    let app = dir.path().join("app.py");
    std::fs::write(
        &app,
        "import streamlit as st\nimport tabulate\nst.write(tabulate.tabulate([[1]]))\n",
    )
    .unwrap();

    let out = burrow(dir.path())
        .args(["bundle", "check"])
        .arg(&app)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("app.py:2:")
            && text.contains("tabulate is not on this instance's package allowlist"),
        "{text}"
    );

    let out = burrow(dir.path())
        .args(["packages", "add", "tabulate<=0.9", "bad name!"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("nothing was added"));
    let list = burrow(dir.path())
        .args(["packages", "list"])
        .output()
        .unwrap();
    assert!(
        !String::from_utf8_lossy(&list.stdout).contains("tabulate"),
        "nothing stored half-way"
    );

    let out = burrow(dir.path())
        .args(["packages", "add", "Tabulate<=0.9"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let list = String::from_utf8_lossy(
        &burrow(dir.path())
            .args(["packages", "list"])
            .output()
            .unwrap()
            .stdout,
    )
    .into_owned();
    assert!(
        list.contains("tabulate<=0.9") && list.contains("streamlit"),
        "{list}"
    );

    let out = burrow(dir.path())
        .args(["bundle", "check", "--json"])
        .arg(&app)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let verdict: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(verdict["ok"], true);
    assert_eq!(verdict["bundle"]["inferred"], true);
    let packages: Vec<String> = verdict["bundle"]["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            format!(
                "{}{}",
                p["name"].as_str().unwrap(),
                p["specifier"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(packages, ["streamlit", "tabulate<=0.9"]);
    assert_eq!(verdict["bundle"]["sha256"].as_str().unwrap().len(), 64);

    let out = burrow(dir.path())
        .args(["packages", "remove", "tabulate", "not-there"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("not-there is not on the allowlist"));
    let list = String::from_utf8_lossy(
        &burrow(dir.path())
            .args(["packages", "list"])
            .output()
            .unwrap()
            .stdout,
    )
    .into_owned();
    assert!(
        list.contains("tabulate"),
        "the failed removal removed nothing"
    );
    assert!(burrow(dir.path())
        .args(["packages", "remove", "tabulate"])
        .status()
        .unwrap()
        .success());
}
