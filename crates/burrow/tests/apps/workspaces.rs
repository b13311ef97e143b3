//! Workspaces against a real `burrow serve` and real runc: files synced both ways (and
//! nothing a sandbox makes trusted), terminals over a real WebSocket, idle stop by input
//! only, the maximum lifetime, and re-adoption after `kill -9` of `serve`.

use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

use crate::harness::{Server, NO_WARM_APPS};

/// A workspace of a new owner, with `hello.py` in it; returns the token, the
/// workspace's API path and its project.
pub(crate) async fn workspace(server: &Server) -> (String, String) {
    let owner = server.account("ada@example.com").await;
    let project = server.project(&owner, "Lab").await;
    let resp = server
        .post_json(
            &format!("/api/v1/projects/{project}/workspaces"),
            &owner,
            json!({"name": "play"}),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let id = resp.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/api/v1/projects/{project}/workspaces/{id}");
    put(
        server,
        &owner,
        &path,
        "hello.py",
        "print('hello from the editor')\n",
    )
    .await;
    (owner, path)
}

pub(crate) async fn put(server: &Server, token: &str, path: &str, file: &str, content: &str) {
    let resp = server
        .client
        .put(format!("{}{path}/file?path={file}", server.base))
        .bearer_auth(token)
        .header("if-match", "*")
        .body(content.to_owned())
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "PUT {file}: {}", resp.status());
}

pub(crate) async fn start(server: &Server, token: &str, path: &str) -> Value {
    let resp = server
        .api(Method::POST, &format!("{path}/start"), token, None)
        .await;
    let status = resp.status();
    let body: Value = resp.json().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "running", "{body}");
    body
}

/// The workspace's files, by path, with their content.
async fn files(server: &Server, token: &str, path: &str) -> Vec<String> {
    let page = server.get_json(&format!("{path}/files"), token).await;
    page["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap().to_owned())
        .collect()
}

pub(crate) async fn read(server: &Server, token: &str, path: &str, file: &str) -> String {
    let resp = server
        .api(
            Method::GET,
            &format!("{path}/file?path={file}"),
            token,
            None,
        )
        .await;
    assert_eq!(resp.status(), StatusCode::OK, "{file}");
    resp.text().await.unwrap()
}

/// Waits until `done` holds for the workspace as the API shows it.
async fn until(
    server: &Server,
    token: &str,
    path: &str,
    what: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let got = server.get_json(path, token).await;
        if done(&got) {
            return got;
        }
        assert!(Instant::now() < deadline, "{what}: {got}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Waits until the file list holds for `done`.
async fn until_files(
    server: &Server,
    token: &str,
    path: &str,
    done: impl Fn(&[String]) -> bool,
) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let listed = files(server, token, path).await;
        if done(&listed) {
            return listed;
        }
        assert!(Instant::now() < deadline, "files: {listed:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A terminal over its WebSocket, as the IDE speaks to it.
pub(crate) struct Term {
    ws: crate::harness::WebSocket,
    /// The offset after the last byte received.
    seen: u64,
    /// Everything received, in order.
    screen: Vec<u8>,
    /// Acknowledge what arrives (a page that writes it); off to stall like a page that does not.
    ack: bool,
    exit: Option<i32>,
}

async fn connect(
    server: &Server,
    path: &str,
    n: u8,
    from: Option<u64>,
    headers: &[(&str, &str)],
) -> Result<crate::harness::WebSocket, tokio_tungstenite::tungstenite::Error> {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let query = from.map(|f| format!("?from={f}")).unwrap_or_default();
    let url = format!("{}{path}/terminals/{n}{query}", server.base).replace("http://", "ws://");
    let mut request = url.into_client_request().unwrap();
    for (name, value) in headers {
        request.headers_mut().insert(
            reqwest::header::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            value.parse().unwrap(),
        );
    }
    let addr = server.base.trim_start_matches("http://").to_owned();
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    tokio_tungstenite::client_async(request, stream)
        .await
        .map(|(ws, _)| ws)
}

impl Term {
    pub(crate) async fn open(
        server: &Server,
        token: &str,
        path: &str,
        n: u8,
        from: Option<u64>,
    ) -> Self {
        let bearer = format!("Bearer {token}");
        let ws = connect(server, path, n, from, &[("authorization", &bearer)])
            .await
            .expect("the terminal opens");
        Self {
            ws,
            seen: from.unwrap_or(0),
            screen: Vec::new(),
            ack: true,
            exit: None,
        }
    }

    async fn send(&mut self, kind: u8, bytes: &[u8]) {
        let mut frame = vec![kind];
        frame.extend_from_slice(bytes);
        self.ws.send(Message::Binary(frame.into())).await.unwrap();
    }

    async fn keys(&mut self, keys: &str) {
        self.send(0, keys.as_bytes()).await;
    }

    /// One frame, or `None` after `wait` without one.
    async fn frame(&mut self, wait: Duration) -> Option<()> {
        let message = tokio::time::timeout(wait, self.ws.next()).await.ok()??;
        let Ok(Message::Binary(bytes)) = message else {
            return Some(());
        };
        match bytes[0] {
            1 | 2 => {
                let offset = u64::from_be_bytes(bytes[1..9].try_into().unwrap());
                assert_eq!(offset, self.seen, "output continues where it left off");
                self.screen.extend_from_slice(&bytes[9..]);
                self.seen = offset + (bytes.len() - 9) as u64;
                if self.ack {
                    // The sandbox may have ended, and the server closed the socket,
                    // since this output was sent: an acknowledgement then has nowhere
                    // to go, and the exit frame or the end of the stream says so.
                    let mut frame = vec![2];
                    frame.extend_from_slice(&self.seen.to_be_bytes());
                    let _ = self.ws.send(Message::Binary(frame.into())).await;
                }
            }
            3 => self.exit = Some(i32::from_be_bytes(bytes[1..5].try_into().unwrap())),
            other => panic!("an unknown frame {other}"),
        }
        Some(())
    }

    /// Reads until the screen holds `needle` after `from` bytes of it; returns that part.
    async fn until(&mut self, from: usize, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let text =
                String::from_utf8_lossy(&self.screen[from.min(self.screen.len())..]).into_owned();
            if text.contains(needle) {
                return text;
            }
            assert!(
                Instant::now() < deadline,
                "waiting for {needle:?}, got {text:?}"
            );
            self.frame(Duration::from_secs(1)).await;
        }
    }

    /// Runs `command` and returns what it printed between two markers (typed quoted, so
    /// the echo of the typed line never matches).
    pub(crate) async fn run(&mut self, command: &str) -> String {
        let mark = self.screen.len();
        self.keys(&format!("echo @@'B'; {command}; echo @@'E'\r"))
            .await;
        let text = self.until(mark, "@@E\r\n").await;
        let start = text.find("@@B\r\n").expect("the start marker") + 5;
        let end = text.rfind("@@E\r\n").unwrap();
        text[start..end].trim().to_owned()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_sync_both_ways_and_what_the_sandbox_makes_is_not_trusted() {
    // At most 40 files: the walk looks at no more than 1,040 entries.
    let server = Server::start_with_env(&[
        NO_WARM_APPS,
        ("BURROW_WORKSPACES__MAX_FILES", "40"),
        ("BURROW_WORKSPACES__MAX_PACKAGES_MB", "1"),
    ])
    .await;
    let (owner, path) = workspace(&server).await;
    start(&server, &owner, &path).await;
    let mut term = Term::open(&server, &owner, &path, 1, None).await;
    assert_eq!(term.run("pwd").await, "/home/sandbox/work");

    // Into the sandbox: the files it had, and a write through the API while it runs.
    assert_eq!(
        term.run("cat hello.py").await,
        "print('hello from the editor')"
    );
    put(&server, &owner, &path, "pkg/data.txt", "from the API").await;
    assert_eq!(term.run("cat pkg/data.txt").await, "from the API");
    assert_eq!(
        term.run("python hello.py").await,
        "hello from the editor",
        "the workspace's Python runs its files"
    );

    // Out of the sandbox: what programs write comes back, and what they delete goes.
    let data_dir = server.data_dir();
    term.run(&format!(
        "echo made > made.txt; echo twice > twice.txt; mkdir -p out/deep; echo nested > out/deep/n.txt; \
         ln -s /etc/passwd passwd-link; ln -s {} data-link; mkfifo pipe; \
         ln twice.txt hard.txt; mkdir __pycache__; echo x > __pycache__/c.pyc; rm pkg/data.txt",
        data_dir.display()
    ))
    .await;
    let listed = until_files(&server, &owner, &path, |f| {
        f.contains(&"made.txt".to_owned()) && !f.contains(&"pkg/data.txt".to_owned())
    })
    .await;
    assert_eq!(
        listed,
        ["hello.py", "made.txt", "out/deep/n.txt"],
        "links, the FIFO and __pycache__ are not kept"
    );
    let ws = until(&server, &owner, &path, "problems listed", |w| {
        w["sync_problems"].as_array().unwrap().len() == 5
    })
    .await;
    let problems: Vec<&str> = ws["sync_problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    assert_eq!(
        problems,
        [
            "data-link: a symbolic link is not kept",
            "hard.txt: a file with several names (a hard link) is not kept: copy it instead",
            "passwd-link: a symbolic link is not kept",
            "pipe: a FIFO is not kept",
            "twice.txt: a file with several names (a hard link) is not kept: copy it instead",
        ]
    );

    // 200 MB: the folder is capped, and a file over the limit is refused, with why.
    let out = term
        .run("dd if=/dev/zero of=big.bin bs=1M count=200 2>&1 | grep -o 'No space left on device'; stat -c %s big.bin")
        .await;
    let (refused, size) = out.split_once('\n').unwrap();
    assert_eq!(refused.trim(), "No space left on device");
    assert!(size.trim().parse::<u64>().unwrap() < 200 << 20, "{out}");
    until(&server, &owner, &path, "the big file is refused", |w| {
        w["sync_problems"].as_array().unwrap().iter().any(|p| {
            p.as_str().unwrap().starts_with("big.bin: ") && p.as_str().unwrap().contains("10 MiB")
        })
    })
    .await;
    assert!(!files(&server, &owner, &path)
        .await
        .contains(&"big.bin".to_owned()));

    // A folder deleted through the API leaves the sandbox too; a file changed after the
    // last sync is kept when the workspace stops.
    let resp = server
        .api(
            Method::DELETE,
            &format!("{path}/file?path=out"),
            &owner,
            None,
        )
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        term.run("ls out 2>&1 | head -1").await,
        "ls: cannot access 'out': No such file or directory"
    );
    term.run("rm big.bin; echo last > last.txt").await;
    // Installed packages (a module, a script, a link that leads nowhere outside) are kept,
    // a FIFO where their archive goes notwithstanding.
    term.run(
        "mkdir -p ~/packages/burrowpkg ~/packages/bin && echo 'X = 42' > ~/packages/burrowpkg/__init__.py \
         && printf '#!/bin/sh\\necho tool ran\\n' > ~/packages/bin/mytool && chmod +x ~/packages/bin/mytool \
         && ln -s /etc/passwd ~/packages/link && mkfifo ~/.burrow/packages.tgz",
    )
    .await;
    let resp = server
        .api(Method::POST, &format!("{path}/stop"), &owner, None)
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(read(&server, &owner, &path, "last.txt").await, "last\n");
    term.frame(Duration::from_secs(5)).await;
    while term.exit.is_none() && term.frame(Duration::from_secs(5)).await.is_some() {}
    assert!(term.exit.is_some(), "the terminal ends with its sandbox");

    // Started again: the same files, nothing else, and the packages put back.
    start(&server, &owner, &path).await;
    let mut term = Term::open(&server, &owner, &path, 1, None).await;
    assert_eq!(
        term.run("ls -A | tr '\\n' ' '").await,
        "hello.py last.txt made.txt"
    );
    assert_eq!(
        term.run("python -c 'import burrowpkg; print(burrowpkg.X)'; mytool; readlink ~/packages/link; ls -A ~/.burrow | grep -c packages")
            .await,
        "42\r\ntool ran\r\n/etc/passwd\r\n0",
        "the module, the script and the link are back, and the archive is gone"
    );

    // More entries than the walk looks at, in a folder walked first: nothing after it is
    // taken for deleted, and the page is told why.
    term.run("mkdir aaa && (cd aaa && seq 1100 | xargs touch)")
        .await;
    until(&server, &owner, &path, "too many entries", |w| {
        w["sync_problems"].as_array().unwrap().iter().any(|p| {
            p.as_str()
                .unwrap()
                .contains("more than 1040 files and folders")
        })
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        files(&server, &owner, &path).await,
        ["hello.py", "last.txt", "made.txt"]
    );
    term.run("rm -r aaa; echo again > made.txt").await;
    until(&server, &owner, &path, "synced again", |w| {
        w["sync_problems"].as_array().unwrap().is_empty()
    })
    .await;
    until_files(&server, &owner, &path, |f| f.len() == 3).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while read(&server, &owner, &path, "made.txt").await != "again\n" {
        assert!(
            Instant::now() < deadline,
            "the change after the limit is kept"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Packages over `max_packages_mb` are not kept, the page is told why, and the ones
    // kept before stay.
    term.run("head -c 3000000 /dev/urandom > ~/packages/noise.bin")
        .await;
    let resp = server
        .api(Method::POST, &format!("{path}/stop"), &owner, None)
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let ws = until(&server, &owner, &path, "the packages refused", |w| {
        !w["sync_problems"].as_array().unwrap().is_empty()
    })
    .await;
    let said = ws["sync_problems"].to_string();
    assert!(
        said.contains("installed packages: not kept") && said.contains("over the 1 MiB kept"),
        "{said}"
    );
    start(&server, &owner, &path).await;
    let mut term = Term::open(&server, &owner, &path, 1, None).await;
    assert_eq!(
        term.run("python -c 'import burrowpkg; print(burrowpkg.X)'; ls ~/packages/noise.bin 2>&1 | grep -c 'No such'")
            .await,
        "42\r\n1"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_terminal_outlives_its_websocket_and_a_flood_cannot_grow_memory() {
    let server = Server::start_with_env(&[NO_WARM_APPS]).await;
    let (owner, path) = workspace(&server).await;

    // Not running: a terminal is refused with why.
    let bearer = format!("Bearer {owner}");
    let refused = connect(&server, &path, 1, None, &[("authorization", &bearer)]).await;
    assert!(refused.is_err());
    start(&server, &owner, &path).await;

    // Burrow's own page without a cookie; no Origin (no browser) and no token; another
    // site's page with the cookie; a terminal that is not.
    let origin = server.base.clone();
    let err = connect(&server, &path, 1, None, &[("origin", &origin)])
        .await
        .unwrap_err();
    assert!(err.to_string().contains("401"), "{err}");
    let cookie = format!("burrow_session={owner}");
    let err = connect(&server, &path, 1, None, &[("cookie", &cookie)])
        .await
        .unwrap_err();
    assert!(err.to_string().contains("403"), "{err}");
    let err = connect(
        &server,
        &path,
        1,
        None,
        &[("cookie", &cookie), ("origin", "http://evil.example")],
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("403"), "{err}");
    let err = connect(&server, &path, 9, None, &[("authorization", &bearer)])
        .await
        .unwrap_err();
    assert!(err.to_string().contains("400"), "{err}");
    // Another person's session: the same 404 as for no workspace, and no shell starts.
    let other = server.account("eve@example.com").await;
    let other = format!("Bearer {other}");
    let err = connect(&server, &path, 1, None, &[("authorization", &other)])
        .await
        .unwrap_err();
    assert!(err.to_string().contains("404"), "{err}");
    assert_eq!(
        server.get_json(&format!("{path}/terminals"), &owner).await,
        json!([])
    );
    // Burrow's own page, with the cookie: accepted.
    connect(
        &server,
        &path,
        1,
        None,
        &[("cookie", &cookie), ("origin", &origin)],
    )
    .await
    .expect("the platform's own page opens a terminal");

    let mut term = Term::open(&server, &owner, &path, 1, None).await;
    let shell = term.run("echo $$").await;
    assert!(shell.parse::<u32>().is_ok(), "{shell}");
    // The size reaches the sandbox's terminal through runc, which follows it on
    // SIGWINCH, beside the keys: asked again until it arrives.
    term.send(1, &[0, 100, 0, 30]).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let size = term.run("stty size").await;
        if size == "30 100" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the new size never arrived: {size}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Dropped and reconnected from the last offset: the same shell, nothing lost or
    // shown twice (each frame's offset is checked to continue the last).
    term.keys("echo before; sleep 1; echo after-the-'drop'\r")
        .await;
    term.until(0, "before\r\n").await;
    let seen = term.seen;
    let screen = term.screen.clone();
    drop(term);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let mut term = Term::open(&server, &owner, &path, 1, Some(seen)).await;
    term.screen = screen;
    term.until(0, "after-the-drop").await;
    assert_eq!(term.run("echo $$").await, shell, "the same shell");
    let listed = server.get_json(&format!("{path}/terminals"), &owner).await;
    assert_eq!(listed, json!([{"id": 1, "running": true}]));

    // A new page (no offset) gets the kept output replayed, then live.
    let mut fresh = Term::open(&server, &owner, &path, 1, None).await;
    fresh.until(0, "after-the-drop").await;
    drop(fresh);

    // The flood: a viewer that stops acknowledging gets at most a window; the shell is
    // paused, yet Ctrl-C reaches it at once.
    term.ack = false;
    let before = term.screen.len();
    term.keys("cat /dev/urandom | base64\r").await;
    while term.frame(Duration::from_secs(2)).await.is_some() {}
    let got = term.screen.len() - before;
    assert!(got > 1000, "the flood started: {got}");
    assert!(
        got as u64 <= burrow_service::workspaces::terminals::WINDOW + (64 << 10),
        "a stalled viewer gets no more than a window: {got} bytes"
    );
    term.keys("\u{3}").await;
    term.ack = true;
    let seen = term.seen.to_be_bytes();
    term.send(2, &seen).await;
    let mark = term.screen.len();
    term.keys("echo flood-'over'\r").await;
    term.until(mark, "flood-over\r\n").await;
    assert_eq!(
        term.run("echo $$").await,
        shell,
        "Ctrl-C ended the flood, not the shell"
    );

    // `exit` ends the shell; the next connection starts a new one.
    term.keys("exit 3\r").await;
    while term.exit.is_none() {
        term.frame(Duration::from_secs(10))
            .await
            .expect("the exit frame");
    }
    assert_eq!(term.exit, Some(3));
    let mut term = Term::open(&server, &owner, &path, 1, None).await;
    assert_ne!(term.run("echo $$").await, shell);
    let resp = server
        .api(Method::DELETE, &format!("{path}/terminals/1"), &owner, None)
        .await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);

    // Signing out ends an open terminal's connection (its shell stays for the next
    // sign-in), within the time between checks.
    let resp = server
        .client
        .post(format!("{}/api/v1/auth/login", server.base))
        .json(&json!({"email": "ada@example.com", "password": crate::harness::PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let second = resp.json::<Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut term = Term::open(&server, &second, &path, 2, None).await;
    let shell = term.run("echo $$").await;
    let resp = server
        .api(Method::POST, "/api/v1/auth/logout", &second, None)
        .await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let deadline = Instant::now() + Duration::from_secs(30);
    let closed = loop {
        assert!(
            Instant::now() < deadline,
            "the connection outlived its session"
        );
        match tokio::time::timeout(Duration::from_secs(1), term.ws.next()).await {
            Ok(Some(Ok(Message::Close(frame)))) => break frame,
            Ok(Some(Ok(_))) | Err(_) => {}
            Ok(other) => panic!("the connection ended without a close frame: {other:?}"),
        }
    };
    assert_eq!(closed.map(|f| u16::from(f.code)), Some(4401));
    let mut term = Term::open(&server, &owner, &path, 2, None).await;
    assert_eq!(term.run("echo $$").await, shell, "the shell stayed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn input_keeps_a_workspace_running_until_its_lifetime_and_serve_restarts_adopt_it() {
    let mut server = Server::start_with_env(&[
        NO_WARM_APPS,
        ("BURROW_WORKSPACES__IDLE_TIMEOUT_SECS", "6"),
        ("BURROW_WORKSPACES__MAX_LIFETIME_SECS", "24"),
    ])
    .await;
    let (owner, path) = workspace(&server).await;
    let first = start(&server, &owner, &path).await;
    let sandboxes = server.sandboxes_left();
    let mut term = Term::open(&server, &owner, &path, 1, None).await;
    let shell = term.run("echo $$").await;

    // kill -9 of serve: the sandbox keeps running with its files, and is adopted.
    server.kill_hard();
    server.spawn().await;
    let ws = server.get_json(&path, &owner).await;
    assert_eq!(ws["status"], "running", "{ws}");
    assert_eq!(ws["started_at"], first["started_at"], "the same run");
    assert_eq!(
        server.sandboxes_left(),
        sandboxes,
        "the same sandbox, no orphans"
    );
    let mut term = Term::open(&server, &owner, &path, 1, None).await;
    let new_shell = term.run("echo $$; echo adopted > adopted.txt").await;
    assert_ne!(
        new_shell, shell,
        "terminals end with the serve that ran them"
    );
    until_files(&server, &owner, &path, |f| {
        f.contains(&"adopted.txt".to_owned())
    })
    .await;

    // Output is not input: a program printing every 200 ms does not keep it running.
    term.keys("while :; do date; sleep 0.2; done\r").await;
    let ws = until(&server, &owner, &path, "stopped as idle", |w| {
        w["status"] == "stopped"
    })
    .await;
    assert!(ws["last_active_at"].is_string(), "{ws}");

    // Input is: typing every second keeps it running past the idle timeout, until the
    // lifetime ends it however busy.
    let started = start(&server, &owner, &path).await;
    let mut term = Term::open(&server, &owner, &path, 1, None).await;
    let lifetime_ends = started["stops_at"].as_str().unwrap().to_owned();
    let began = Instant::now();
    loop {
        // The stop closes the terminal: a key may find it closed.
        let sent = term.ws.send(Message::Binary(vec![0, b' '].into())).await;
        let ws = server.get_json(&path, &owner).await;
        if ws["status"] != "running" {
            break;
        }
        assert!(
            sent.is_ok(),
            "the terminal is open while the workspace runs"
        );
        assert!(began.elapsed() < Duration::from_secs(60), "{ws}");
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    assert!(
        began.elapsed() > Duration::from_secs(12),
        "typing kept it past two idle timeouts: {:?}",
        began.elapsed()
    );
    let ws = until(&server, &owner, &path, "stopped at its lifetime", |w| {
        w["status"] == "stopped"
    })
    .await;
    assert!(ws["stops_at"].is_null(), "{ws} (ended at {lifetime_ends})");
    assert_eq!(
        read(&server, &owner, &path, "adopted.txt").await,
        "adopted\n"
    );
    let left = server.sandboxes_left();
    assert!(left.is_empty(), "{left:?}");
}
