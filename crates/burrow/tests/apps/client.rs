//! `burrow` as a client of a real server: login, deploy a folder (honouring .gitignore) and follow its build, list, roll back, open, read logs, a refused deploy that prints each problem, logout.

use std::io::{BufRead, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::harness::{Server, Viewer, BURROW, PASSWORD};

/// A person's shell: their own home and config folder, a browser that writes down the
/// link it was asked to open, and a folder to work in.
struct Shell {
    home: tempfile::TempDir,
}

impl Shell {
    fn new() -> Self {
        let home = tempfile::tempdir().unwrap();
        let browser = home.path().join("browser");
        std::fs::write(
            &browser,
            format!(
                "#!/bin/sh\nprintf '%s' \"$1\" > {}/opened\n",
                home.path().display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&browser, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::create_dir(home.path().join("work")).unwrap();
        Self { home }
    }

    fn work(&self) -> PathBuf {
        self.home.path().join("work")
    }

    fn credentials(&self) -> PathBuf {
        self.home.path().join(".config/burrow/credentials.toml")
    }

    /// `burrow ARGS` from the work folder, with only PATH, HOME and BROWSER set.
    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(BURROW);
        cmd.args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.home.path())
            .env("BROWSER", self.home.path().join("browser"))
            .current_dir(self.work())
            .stdin(Stdio::null());
        cmd
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    fn run_with_input(&self, args: &[&str], input: &str) -> Output {
        let mut child = self
            .command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    }

    fn write(&self, name: &str, text: &str) {
        let path = self.work().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Asserts the command succeeded; returns its stdout and stderr.
fn ok(out: Output) -> (String, String) {
    assert!(
        out.status.success(),
        "stdout: {}\nstderr: {}",
        text(&out.stdout),
        text(&out.stderr)
    );
    (text(&out.stdout), text(&out.stderr))
}

/// Asserts the command failed; returns its stderr.
fn failed(out: Output) -> String {
    assert!(
        !out.status.success(),
        "it should fail: {}",
        text(&out.stdout)
    );
    text(&out.stderr)
}

/// The server's error for a request, as it sends it.
async fn server_error(resp: reqwest::Response) -> Value {
    assert!(resp.status().is_client_error(), "{}", resp.status());
    resp.json::<Value>().await.unwrap()["error"].clone()
}

fn zip_entries(bytes: &[u8]) -> Vec<String> {
    let archive = zip::ZipArchive::new(std::io::Cursor::new(bytes.to_vec())).unwrap();
    let mut names: Vec<String> = archive.file_names().map(str::to_owned).collect();
    names.sort();
    names
}

#[tokio::test]
async fn deploy_list_rollback_open_and_follow_logs_from_a_terminal() {
    let server = Server::start().await;
    let owner = server.account("dev@example.com").await;
    let project = server.project(&owner, "Team").await;
    let shell = Shell::new();

    // Signed out, every command says how to sign in.
    let err = failed(shell.run(&["apps", "list"]));
    assert!(
        err.contains("not signed in: run `burrow login URL`"),
        "{err}"
    );

    // A wrong password gets the server's own words, and nothing is stored.
    let said = server_error(
        server
            .client
            .post(format!("{}/api/v1/auth/login", server.base))
            .json(&json!({"email": "dev@example.com", "password": "not the passphrase"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let err = failed(shell.run_with_input(
        &["login", &server.base, "--email", "dev@example.com"],
        "not the passphrase\n",
    ));
    assert!(
        err.contains(said["message"].as_str().unwrap()),
        "{err} / {said}"
    );
    assert!(!shell.credentials().exists());

    let (_, err) = ok(shell.run_with_input(
        &["login", &server.base, "--email", "dev@example.com"],
        &format!("{PASSWORD}\n"),
    ));
    assert!(err.contains("Signed in to"), "{err}");
    let mode = std::fs::metadata(shell.credentials())
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "the token is private");
    assert!(!std::fs::read_to_string(shell.credentials())
        .unwrap()
        .contains(PASSWORD));

    // A folder as a person has it: ignored data, a log, git's folder, local secrets.
    shell.write(
        "hello/app.py",
        "import streamlit as st\nprint('hello from v1', flush=True)\nst.title('Hello v1')\n",
    );
    shell.write("hello/.gitignore", "data/\n*.log\n");
    shell.write("hello/data/big.csv", "a,b\n1,2\n");
    shell.write("hello/debug.log", "noise\n");
    shell.write("hello/.git/HEAD", "ref: refs/heads/main\n");
    shell.write("hello/.streamlit/config.toml", "[theme]\nbase = \"dark\"\n");
    shell.write("hello/.streamlit/secrets.toml", "TOKEN = \"local\"\n");

    // A relative folder, named after the app; the only project is the one deployed to.
    let (out, err) = ok(shell.run(&["deploy", "hello"]));
    assert!(
        err.contains("left out .streamlit/secrets.toml"),
        "the local secrets stay home and the person is told: {err}"
    );
    assert!(err.contains("Building hello version 1"), "{err}");
    assert!(err.contains("Deployed hello version 1"), "{err}");
    let apps: Value = server
        .get_json(&format!("/api/v1/projects/{project}/apps"), &owner)
        .await;
    let apps = apps.as_array().unwrap();
    assert_eq!(apps.len(), 1, "{apps:?}");
    let id = apps[0]["id"].as_str().unwrap().to_owned();
    assert_eq!(apps[0]["name"], "hello");
    assert_eq!(apps[0]["active_version"], 1);
    assert_eq!(
        out.trim(),
        apps[0]["url"].as_str().unwrap(),
        "the URL is printed"
    );
    let app_path = format!("/api/v1/projects/{project}/apps/{id}");

    // What was uploaded is the folder less what .gitignore, git and secrets keep back.
    let bundle = server
        .api(
            Method::GET,
            &format!("{app_path}/versions/1/download"),
            &owner,
            None,
        )
        .await
        .bytes()
        .await
        .unwrap();
    // (The canonical bundle adds the requirements Burrow inferred.)
    assert_eq!(
        zip_entries(&bundle),
        [
            ".gitignore",
            ".streamlit/config.toml",
            "app.py",
            "requirements.txt"
        ]
    );

    let (out, _) = ok(shell.run(&["apps", "list"]));
    let row = out.lines().find(|l| l.starts_with(&id)).unwrap_or_default();
    assert!(
        row.contains("hello") && row.contains("Team") && row.contains(&server.app_origin(&id)),
        "{out}"
    );
    let (out, _) = ok(shell.run(&["apps", "list", "--json"]));
    let listed: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(listed[0]["id"], id.as_str());

    // A new version by id, then back to the first.
    shell.write(
        "hello/app.py",
        "import streamlit as st\nprint('hello from v2', flush=True)\nst.title('Hello v2')\n",
    );
    let hello = shell.work().join("hello");
    let (_, err) = ok(shell.run(&["deploy", hello.to_str().unwrap(), "--app", &id]));
    assert!(err.contains("Deployed hello version 2"), "{err}");
    let app = server.get_json(&app_path, &owner).await;
    assert_eq!(app["active_version"], 2);

    let (out, _) = ok(shell.run(&["apps", "rollback", &id, "1"]));
    assert_eq!(out.trim(), "hello now runs version 1 (it ran version 2)");
    assert_eq!(
        server.get_json(&app_path, &owner).await["active_version"],
        1
    );
    let said = server_error(
        server
            .post_json(
                &format!("{app_path}/versions/9/activate"),
                &owner,
                json!({}),
            )
            .await,
    )
    .await;
    let err = failed(shell.run(&["apps", "rollback", &id, "9"]));
    assert!(
        err.contains(said["message"].as_str().unwrap()),
        "the server's message, unchanged: {err}"
    );
    let err = failed(shell.run(&["apps", "rollback", "nosuchapp", "1"]));
    assert!(err.contains("`burrow apps list`"), "{err}");

    let (out, _) = ok(shell.run(&["apps", "versions", &id]));
    let mut lines = out.lines();
    assert!(
        lines.next().is_some_and(|h| h.starts_with("VERSION")),
        "a header first: {out}"
    );
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), 2, "{out}");
    assert!(
        rows[0].starts_with("2 ") && rows[0].contains("succeeded") && !rows[0].contains("yes"),
        "{out}"
    );
    assert!(
        rows[1].starts_with("1 ") && rows[1].contains("yes"),
        "{out}"
    );
    ok(shell.run(&["apps", "download", &id, "1", "-o", "v1.zip"]));
    assert_eq!(
        std::fs::read(shell.work().join("v1.zip")).unwrap(),
        bundle.to_vec(),
        "the same bytes as the dashboard's download"
    );

    // Settings: the server's refusal as it words it, then a change that holds.
    let said = server_error(
        server
            .api(
                Method::PATCH,
                &app_path,
                &owner,
                Some(json!({"memory_mb": 1})),
            )
            .await,
    )
    .await;
    let err = failed(shell.run(&["apps", "set", &id, "--memory-mb", "1"]));
    assert!(err.contains(said["message"].as_str().unwrap()), "{err}");
    ok(shell.run(&[
        "apps",
        "set",
        &id,
        "--idle-timeout-secs",
        "120",
        "--network",
        "allowlist",
        "--domain",
        "api.example.com",
    ]));
    let app = server.get_json(&app_path, &owner).await;
    assert_eq!(app["idle_timeout_secs"], 120);
    assert_eq!(
        app["network"],
        json!({"policy": "allowlist", "domains": ["api.example.com"]})
    );

    // Secrets: the value comes on standard input, never on the command line, and never back.
    let (_, err) = ok(shell.run_with_input(
        &["apps", "secrets", "set", &id, "GREETING"],
        "hello there\n",
    ));
    assert!(err.contains("Added GREETING"), "{err}");
    let (_, err) = ok(shell.run_with_input(
        &["apps", "secrets", "set", &id, "GREETING"],
        "hello again\n",
    ));
    assert!(err.contains("Replaced GREETING"), "{err}");
    let (out, _) = ok(shell.run(&["apps", "secrets", "list", &id]));
    assert!(out.contains("GREETING") && !out.contains("hello"), "{out}");
    // Names that would climb out of the secrets' path reach no other route.
    for name in ["..", "../..", "x/../../stop"] {
        let err = failed(shell.run(&["apps", "secrets", "delete", &id, name]));
        assert!(err.contains("name"), "{name}: {err}");
    }
    assert_eq!(server.get_json(&app_path, &owner).await["id"], id.as_str());
    ok(shell.run(&["apps", "secrets", "delete", &id, "GREETING"]));
    let (_, err) = ok(shell.run(&["apps", "secrets", "list", &id]));
    assert!(err.contains("has no secrets"), "{err}");

    // Not running yet: logs say how to start it.
    let (out, err) = ok(shell.run(&["apps", "logs", &id]));
    assert!(out.is_empty() && err.contains("is not running"), "{err}");

    // `apps open` hands the browser a single-use link that signs it in on the app's origin.
    let (_, err) = ok(shell.run(&["apps", "open", &id]));
    assert!(err.contains("Opened hello"), "{err}");
    let link = std::fs::read_to_string(shell.home.path().join("opened")).unwrap();
    let origin = server.app_origin(&id);
    assert!(
        link.starts_with(&format!("{origin}/_burrow/ticket?")),
        "{link}"
    );
    let resp = server.client.get(&link).send().await.unwrap();
    assert!(resp.status().is_redirection(), "{}", resp.status());
    let cookie = resp.headers()["set-cookie"].to_str().unwrap().to_owned();
    let viewer = Viewer {
        cookie: cookie.split(';').next().unwrap().to_owned(),
        origin,
        client: server.client.clone(),
    };
    let page = viewer.open_until_running().await;
    assert!(page.contains("<div id=\"root\">"), "{page}");
    let (_, err) = ok(shell.run(&["apps", "open", &id, "--print"]));
    assert!(err.is_empty(), "{err}");

    // The output so far, then following it until the app stops.
    let kept = wait_for_log(&shell, &id, "You can now view").await;
    assert!(kept.contains("You can now view"), "{kept}");
    let mut follow = shell
        .command(&["apps", "logs", &id, "-f"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(follow.stdout.take().unwrap()).lines();
    let first = tokio::task::spawn_blocking(move || {
        let line = lines.next();
        (line, lines)
    });
    let (line, mut lines) = first.await.unwrap();
    assert!(line.is_some(), "the kept output comes first");
    let resp = server
        .post_json(&format!("{app_path}/stop"), &owner, json!({}))
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let ended = tokio::task::spawn_blocking(move || {
        for _ in lines.by_ref() {}
        follow.wait_with_output().unwrap()
    });
    let out = tokio::time::timeout(Duration::from_secs(30), ended)
        .await
        .expect("following ends when the app stops")
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("(hello stopped)"));

    let (out, _) = ok(shell.run(&["apps", "start", &id]));
    assert_eq!(out.trim(), "hello runs (running)");
    let (out, _) = ok(shell.run(&["apps", "stop", &id]));
    assert_eq!(out.trim(), "hello is stopped (stopped)");

    // With two projects to deploy to, the client asks which, naming them.
    let other = server.project(&owner, "Other").await;
    shell.write("broken/main.py", "def broken(:\n    pass\n");
    shell.write("broken/requirements.txt", "surely-not-a-real-package-xyz\n");
    let err = failed(shell.run(&["deploy", "broken"]));
    assert!(
        err.contains("--project") && err.contains("Team") && err.contains("Other"),
        "{err}"
    );

    // A refused bundle: every problem the server found, as it worded them, and nothing stored.
    let packed = burrow_client::bundle::pack(&shell.work().join("broken")).unwrap();
    let form = reqwest::multipart::Form::new()
        .text("name", "refused")
        .part(
            "file",
            reqwest::multipart::Part::bytes(packed.zip).file_name("bundle.zip"),
        );
    let said = server_error(
        server
            .client
            .post(format!("{}/api/v1/projects/{other}/apps", server.base))
            .bearer_auth(&owner)
            .multipart(form)
            .send()
            .await
            .unwrap(),
    )
    .await;
    let details = said["details"].as_array().unwrap();
    assert!(details.len() >= 3, "{said}");
    let err = failed(shell.run(&["deploy", "broken", "--project", "Other"]));
    assert!(err.contains(said["message"].as_str().unwrap()), "{err}");
    for d in details {
        assert!(
            err.contains(d["message"].as_str().unwrap()),
            "each problem is printed: {d} in {err}"
        );
    }
    let apps: Value = server
        .get_json(&format!("/api/v1/projects/{other}/apps"), &owner)
        .await;
    assert_eq!(apps, json!([]), "a refused deploy stores nothing");

    // Deleting asks for the name unless told --yes.
    let err = failed(shell.run_with_input(&["apps", "delete", &id], "nope\n"));
    assert!(err.contains("nothing was deleted"), "{err}");
    assert_eq!(server.get_json(&app_path, &owner).await["id"], id.as_str());
    ok(shell.run_with_input(&["apps", "delete", &id], "hello\n"));
    let resp = server.api(Method::GET, &app_path, &owner, None).await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);

    // Logging out ends the session on the server, not only on this machine.
    let token = std::fs::read_to_string(shell.credentials()).unwrap();
    let token: Value = toml_token(&token);
    ok(shell.run(&["logout"]));
    assert!(!shell.credentials().exists());
    let resp = server
        .api(
            Method::GET,
            "/api/v1/projects",
            token.as_str().unwrap(),
            None,
        )
        .await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
}

/// The `token = "…"` line of the credentials file.
fn toml_token(file: &str) -> Value {
    let line = file
        .lines()
        .find(|l| l.starts_with("token = "))
        .expect("a token line");
    Value::String(line["token = ".len()..].trim_matches('"').to_owned())
}

/// `burrow apps logs ID` until its output holds `needle` (Streamlit prints it once up).
async fn wait_for_log(shell: &Shell, id: &str, needle: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (out, _) = ok(shell.run(&["apps", "logs", id]));
        if out.contains(needle) || Instant::now() > deadline {
            return out;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}
