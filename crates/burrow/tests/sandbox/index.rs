//! `pip install` inside a sandbox through Burrow's package index: allowed packages within their caps install with no other network; others are refused with a message pip shows.

use std::io::Write;
use std::net::SocketAddr;
use std::process::Output;

use sha2::Digest;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::Host;

/// A pure-Python wheel of `burrowdemo` at `version`, whose module knows its version.
fn wheel(version: &str) -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default();
    let info = format!("burrowdemo-{version}.dist-info");
    let files = [
        ("burrowdemo/__init__.py".to_owned(), format!("VERSION = {version:?}\n")),
        (format!("{info}/METADATA"), format!("Metadata-Version: 2.1\nName: burrowdemo\nVersion: {version}\n")),
        (format!("{info}/WHEEL"), "Wheel-Version: 1.0\nGenerator: burrow-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n".to_owned()),
        (format!("{info}/RECORD"), String::new()),
    ];
    for (name, body) in &files {
        zip.start_file(name.as_str(), options).unwrap();
        zip.write_all(body.as_bytes()).unwrap();
    }
    zip.finish().unwrap().into_inner()
}

/// A small PEP 691 index on loopback with `burrowdemo` 1.0 and 2.0; returns its address.
async fn local_index() -> SocketAddr {
    let wheels: Vec<(String, Vec<u8>)> = ["1.0", "2.0"]
        .iter()
        .map(|v| (format!("burrowdemo-{v}-py3-none-any.whl"), wheel(v)))
        .collect();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (mut stream, _) = listener.accept().await.unwrap();
            let wheels = wheels.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    if stream.read_exact(&mut byte).await.is_err() {
                        return;
                    }
                    head.push(byte[0]);
                }
                let head = String::from_utf8_lossy(&head);
                let path = head.split(' ').nth(1).unwrap_or("/").to_owned();
                let (status, kind, body) = if path == "/simple/burrowdemo/" {
                    let files: Vec<serde_json::Value> = wheels
                        .iter()
                        .map(|(name, bytes)| {
                            serde_json::json!({
                                "filename": name,
                                "url": format!("/files/{name}"),
                                "hashes": {"sha256": hex::encode(sha2::Sha256::digest(bytes))},
                            })
                        })
                        .collect();
                    let page = serde_json::json!({"meta": {"api-version": "1.0"}, "name": "burrowdemo", "files": files});
                    (
                        "200 OK",
                        "application/vnd.pypi.simple.v1+json",
                        page.to_string().into_bytes(),
                    )
                } else if let Some((_, bytes)) =
                    wheels.iter().find(|(n, _)| path == format!("/files/{n}"))
                {
                    ("200 OK", "application/octet-stream", bytes.clone())
                } else {
                    ("404 Not Found", "text/plain", b"not here".to_vec())
                };
                let head = format!(
                    "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = stream.write_all(head.as_bytes()).await;
                let _ = stream.write_all(&body).await;
            });
        }
    });
    addr
}

/// Allows `packages` on the host's instance, then runs `script` with `sh -c` in a sandbox
/// with the package index, whose upstream is `upstream` (PyPI when `None`).
fn install(host: &Host, upstream: Option<SocketAddr>, packages: &[&str], script: &str) -> Output {
    let mut add = std::process::Command::new(crate::helpers::BURROW);
    add.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("BURROW_DATA_DIR", host.dir.path())
        .env("RUST_LOG", "warn")
        .args(["packages", "add"])
        .args(packages);
    let added = add.output().unwrap();
    assert!(added.status.success(), "{}", text(&added));
    let mut cmd = host.cli();
    if let Some(addr) = upstream {
        cmd.env("UV_INDEX_URL", format!("http://{addr}/simple/"));
    }
    // This host's CA settings, as a person's shell passes them to Burrow.
    for name in ["SSL_CERT_FILE", "SSL_CERT_DIR"] {
        if let Some(value) = std::env::var_os(name) {
            cmd.env(name, value);
        }
    }
    cmd.args(["run", "--packages", "--", "sh", "-c", script]);
    cmd.output().unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pip_installs_allowed_packages_within_their_cap_from_a_local_index() {
    let index = local_index().await;
    let host = Host::new();
    let out = tokio::task::block_in_place(|| {
        install(
            &host,
            Some(index),
            &["burrowdemo<=1.0"],
            "python3 -m pip install --no-cache-dir --target /tmp/site burrowdemo \
             && PYTHONPATH=/tmp/site python3 -c 'import burrowdemo; print(\"version\", burrowdemo.VERSION)' \
             && (python3 -m pip install --no-cache-dir --target /tmp/two 'burrowdemo==2.0' || echo 'above the cap: refused') \
             && python3 -c \"import urllib.request; print('page', urllib.request.urlopen('http://127.0.0.1:3141/simple/burrowdemo/').read().decode().count('.whl<'))\" \
             && (python3 -c \"import urllib.request; urllib.request.urlopen('http://127.0.0.1:3141/files/00/aHR0cDovLzE2OS4yNTQuMTY5LjI1NC8/burrowdemo-1.0-py3-none-any.whl')\" 2>&1 | tail -1)",
        )
    });
    let all = text(&out);
    assert!(out.status.success(), "{all}");
    assert!(
        all.contains("version 1.0"),
        "the newest version within the cap: {all}"
    );
    assert!(all.contains("above the cap: refused"), "{all}");
    assert!(
        all.contains("page 1"),
        "only the wheel within the cap is listed: {all}"
    );
    assert!(
        all.contains("HTTP Error 404"),
        "a link the index did not sign fetches nothing: {all}"
    );
}

#[test]
fn pip_is_told_why_a_package_is_refused() {
    let host = Host::new();
    let out = install(
        &host,
        None,
        &["tabulate"],
        "python3 -m pip install --no-cache-dir --target /tmp/site cowsay",
    );
    let all = text(&out);
    assert!(!out.status.success(), "{all}");
    assert!(
        all.contains("403 Client Error: cowsay is not on this instance's package allowlist: ask an admin to add it (`burrow packages add cowsay` or the admin page)"),
        "{all}"
    );
}

#[test]
fn pip_is_told_why_a_package_is_refused_while_the_upstream_index_is_down() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let host = Host::new();
    let out = install(
        &host,
        Some(closed),
        &["tabulate"],
        "python3 -m pip install --no-cache-dir --target /tmp/site cowsay; \
         python3 -m pip install --no-cache-dir --target /tmp/site tabulate",
    );
    let all = text(&out);
    assert!(!out.status.success(), "{all}");
    assert!(
        all.contains("403 Client Error: cowsay is not on this instance's package allowlist"),
        "the refusal does not depend on the upstream index: {all}"
    );
    assert!(
        all.contains(
            "502 Server Error: the package index Burrow reads did not answer for tabulate"
        ),
        "an allowed package says the upstream index failed: {all}"
    );
}

/// Through the real upstream index (PyPI), as a person gets it.
#[test]
fn pip_installs_an_allowed_package_from_the_real_index() {
    let host = Host::new();
    let out = install(
        &host,
        None,
        &["tabulate"],
        "python3 -m pip install --no-cache-dir --target /tmp/site tabulate \
         && PYTHONPATH=/tmp/site python3 -c 'import tabulate; print(tabulate.tabulate([[1, 2]], tablefmt=\"plain\"))'",
    );
    let all = text(&out);
    assert!(out.status.success(), "{all}");
    assert!(all.contains("Successfully installed tabulate"), "{all}");
    assert!(all.contains("1  2"), "{all}");
}
