//! The harness: a `burrow serve` process on free ports over a private data directory.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};

pub const BURROW: &str = env!("CARGO_BIN_EXE_burrow");
pub const PASSWORD: &str = "a long enough passphrase";

fn target_tmp() -> &'static Path {
    Path::new(env!("CARGO_TARGET_TMPDIR"))
}

/// The environments folder every server of this run shares, emptied when the run starts,
/// with its base built once, before any server needs it.
fn shared_envs() -> &'static Path {
    static DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let dir = target_tmp().join("apps-envs");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let data = tempfile::Builder::new()
            .prefix("burrow-apps-base")
            .tempdir_in(target_tmp())
            .unwrap();
        let out = Command::new(BURROW)
            .args(["runtime", "build"])
            .envs(envs_vars(&dir))
            .env("BURROW_DATA_DIR", data.path())
            .env("RUST_LOG", "warn")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "the base environment builds: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        dir
    })
}

fn envs_vars(dir: &Path) -> Vec<(&'static str, PathBuf)> {
    vec![
        ("BURROW_ENVS__DIR", dir.to_path_buf()),
        ("BURROW_ENVS__CACHE_DIR", target_tmp().join("uv-cache")),
    ]
}

/// The base environment's interpreter on the host, for making test data with Streamlit's own code.
pub fn base_python() -> PathBuf {
    let base = std::fs::read_dir(shared_envs().join("base"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.join("burrow-env.json").is_file())
        .expect("the base is built");
    base.join("bin/python")
}

pub use burrow_testkit::free_port;

/// A running `burrow serve`; killed (and its sandboxes removed) on drop.
pub struct Server {
    pub dir: tempfile::TempDir,
    /// Started as the README says: from `dir` as its working directory, with no
    /// data directory set, so the relative default `./burrow-data` is used.
    as_readme: bool,
    /// Arguments given to `serve`.
    serve_args: Vec<&'static str>,
    pub base: String,
    ports: (u16, u16),
    child: Option<Child>,
    pub client: reqwest::Client,
    /// Where the server's log goes, at debug level, when a test reads it.
    log: Option<PathBuf>,
    /// Settings given to `serve` as `BURROW_*` variables.
    env: Vec<(String, String)>,
    /// Another replica's data folder, shared as replicas on one host share it.
    shared_data: Option<PathBuf>,
    /// The network namespace it runs in, when it has one of its own: its address there,
    /// and the label its app origins carry (`{app}.<label>.localhost`).
    netns: Option<(burrow_testkit::netns::Host, String)>,
}

/// For tests that count every sandbox of the server: no app sandboxes kept warm.
pub const NO_WARM_APPS: (&str, &str) = ("BURROW_APPS__WARM_POOL", "0");

impl Server {
    pub async fn start() -> Self {
        Self::start_with(false, Vec::new()).await
    }

    /// Starts `burrow serve` with these arguments, such as `--stop-sandboxes`.
    pub async fn start_with_args(args: &[&'static str]) -> Self {
        Self::start_with(false, args.to_vec()).await
    }

    /// Starts the binary as the README tells a person to: no configuration file and no
    /// `BURROW_*` setting but the shared environments (so the base is built once per run)
    /// and the ports (fixed ports would collide with other tests), from a fresh empty
    /// working directory, with only `PATH` (which gives it uv) from the environment.
    pub async fn start_as_readme() -> Self {
        Self::start_with(true, Vec::new()).await
    }

    /// Starts `burrow serve` with these `BURROW_*` settings.
    pub async fn start_with_env(env: &[(&str, &str)]) -> Self {
        let env = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Self::start_inner_env(false, Vec::new(), false, env).await
    }

    /// Starts `burrow serve` logging at debug level into a file, for [`Server::log`].
    pub async fn start_logged() -> Self {
        Self::start_inner(false, Vec::new(), true).await
    }

    /// Everything the server logged so far (started with [`Server::start_logged`]).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log.as_ref().expect("started logged")).unwrap()
    }

    /// One app's own origin, as browsers see it: `http://{app}.apps.localhost:PORT`.
    pub fn app_origin(&self, app: &str) -> String {
        match &self.netns {
            Some((_, label)) => format!("http://{app}.{label}.localhost:{}", self.ports.1),
            None => format!("http://{app}.apps.localhost:{}", self.ports.1),
        }
    }

    /// The address the app origins are served on.
    pub fn apps_addr(&self) -> String {
        format!("{}:{}", self.address(), self.ports.1)
    }

    /// The port the API listens on.
    pub fn api_port(&self) -> u16 {
        self.ports.0
    }

    /// Where the server keeps its state.
    /// The environments folder the server uses: its own, if it was given one, else the
    /// one every test server shares.
    pub fn envs_dir(&self) -> PathBuf {
        self.env
            .iter()
            .find(|(k, _)| k == "BURROW_ENVS__DIR")
            .map(|(_, v)| PathBuf::from(v))
            .unwrap_or_else(|| shared_envs().to_path_buf())
    }

    pub fn data_dir(&self) -> PathBuf {
        if let Some(shared) = &self.shared_data {
            shared.clone()
        } else if self.as_readme {
            self.dir.path().join("burrow-data")
        } else {
            self.dir.path().to_path_buf()
        }
    }

    /// Runs `burrow ARGS` against this server's data directory and environments.
    pub fn cli(&self, args: &[&str]) -> std::process::Output {
        Command::new(BURROW)
            .args(args)
            .envs(envs_vars(shared_envs()))
            .env("BURROW_DATA_DIR", self.data_dir())
            .env("BURROW_DATA__ALLOW_LOOPBACK_SOURCES", "true")
            .env("RUST_LOG", "warn")
            .output()
            .unwrap()
    }

    async fn start_with(as_readme: bool, serve_args: Vec<&'static str>) -> Self {
        Self::start_inner(as_readme, serve_args, false).await
    }

    async fn start_inner(as_readme: bool, serve_args: Vec<&'static str>, logged: bool) -> Self {
        Self::start_inner_env(as_readme, serve_args, logged, Vec::new()).await
    }

    async fn start_inner_env(
        as_readme: bool,
        serve_args: Vec<&'static str>,
        logged: bool,
        env: Vec<(String, String)>,
    ) -> Self {
        let envs = shared_envs();
        let dir = tempfile::Builder::new()
            .prefix("burrow-apps-test")
            .tempdir()
            .unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let ports = (free_port(), free_port());
        let _ = envs;
        let mut server = Self {
            base: format!("http://127.0.0.1:{}", ports.0),
            dir,
            as_readme,
            serve_args,
            ports,
            child: None,
            log: None,
            env,
            shared_data: None,
            netns: None,
            client: burrow_testkit::localhost_client()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
        };
        if logged {
            server.log = Some(server.dir.path().join("serve.log"));
        }
        server.spawn().await;
        server
    }

    /// Another replica of `first` on the same host: its data folder, database and
    /// settings, with ports of its own, the replica name `name`, and `serve` given
    /// `args` too.
    pub async fn start_replica_with(first: &Server, name: &str, args: &[&'static str]) -> Self {
        let mut server = Self::start_beside_unspawned(first, name, &[], true);
        server.serve_args.extend_from_slice(args);
        server.spawn().await;
        server
    }

    /// Another replica of `first` as if on another host: its database and settings
    /// with `env` over them, and a data folder (so sandboxes) of its own.
    pub async fn start_on_another_host(first: &Server, name: &str, env: &[(&str, &str)]) -> Self {
        Self::start_beside(first, name, env, false).await
    }

    async fn start_beside(first: &Server, name: &str, extra: &[(&str, &str)], share: bool) -> Self {
        let mut server = Self::start_beside_unspawned(first, name, extra, share);
        server.spawn().await;
        server
    }

    fn start_beside_unspawned(
        first: &Server,
        name: &str,
        extra: &[(&str, &str)],
        share: bool,
    ) -> Self {
        let replaced = |k: &str| k == "BURROW_REPLICA" || extra.iter().any(|(e, _)| *e == k);
        let mut env: Vec<(String, String)> = first
            .env
            .iter()
            .filter(|(k, _)| !replaced(k))
            .cloned()
            .collect();
        env.push(("BURROW_REPLICA".into(), name.into()));
        env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let ports = (free_port(), free_port());
        Self {
            base: format!("http://127.0.0.1:{}", ports.0),
            dir: tempfile::Builder::new()
                .prefix("burrow-apps-replica")
                .tempdir()
                .unwrap(),
            as_readme: false,
            serve_args: first.serve_args.clone(),
            ports,
            child: None,
            log: None,
            env,
            shared_data: share.then(|| first.data_dir()),
            netns: None,
            client: first.client.clone(),
        }
    }

    /// [`Server::start_with_env`], in the network namespace of `host`, as on a machine
    /// of its own: it listens on `host`'s address, and its app origins are
    /// `{app}.<label>.localhost`, which the tests' clients resolve to that address.
    pub async fn start_in(
        host: &burrow_testkit::netns::Host,
        label: &str,
        env: &[(String, String)],
    ) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("burrow-apps-test")
            .tempdir()
            .unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let mut server = Self {
            base: String::new(),
            dir,
            as_readme: false,
            serve_args: Vec::new(),
            ports: (free_port(), free_port()),
            child: None,
            log: None,
            env: env.to_vec(),
            shared_data: None,
            netns: None,
            client: burrow_testkit::localhost_client()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
        };
        server.place(host, label);
        server.spawn().await;
        server
    }

    /// [`Server::start_replica_with`], in the network namespace of `host`: the same data
    /// folder (one machine's disk), but a network of its own.
    pub async fn start_replica_in(
        first: &Server,
        name: &str,
        host: &burrow_testkit::netns::Host,
    ) -> Self {
        let mut server = Self::start_beside_unspawned(first, name, &[], true);
        server.place(host, name);
        server.spawn().await;
        server
    }

    fn place(&mut self, host: &burrow_testkit::netns::Host, label: &str) {
        burrow_testkit::route_localhost(label, host.address.into());
        self.base = format!("http://{}:{}", host.address, self.ports.0);
        self.netns = Some((host.clone(), label.to_owned()));
    }

    /// The address it listens on: its namespace's, else loopback.
    fn address(&self) -> std::net::IpAddr {
        match &self.netns {
            Some((host, _)) => host.address.into(),
            None => [127, 0, 0, 1].into(),
        }
    }

    /// Sends `signal` (`STOP`, `CONT`, …) to the running process.
    pub fn signal(&self, signal: &str) {
        let child = self.child.as_ref().expect("the server runs");
        let sent = Command::new("kill")
            .args([&format!("-{signal}"), &child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
    }

    /// Starts the process (again) on the same ports and data.
    pub async fn spawn(&mut self) {
        let mut command = match &self.netns {
            // The child's pid is `burrow`'s: `nsenter` becomes it.
            Some((host, label)) => {
                let mut command = host.command(BURROW);
                command.env(
                    "BURROW_APPS_URL",
                    format!("http://{{app}}.{label}.localhost:{}", self.ports.1),
                );
                command
            }
            None => Command::new(BURROW),
        };
        if self.as_readme {
            command
                .env_clear()
                .env("PATH", std::env::var_os("PATH").unwrap_or_default())
                .current_dir(self.dir.path());
        } else {
            command.env("BURROW_DATA_DIR", self.data_dir());
        }
        if let Some(log) = &self.log {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(log)
                .unwrap();
            command.env("RUST_LOG", "debug").stderr(file);
        } else {
            command.env(
                "RUST_LOG",
                std::env::var("TEST_LOG").unwrap_or_else(|_| "warn".into()),
            );
        }
        let child = command
            .arg("serve")
            .args(&self.serve_args)
            .envs(envs_vars(shared_envs()))
            .env(
                "BURROW_LISTEN",
                format!("{}:{}", self.address(), self.ports.0),
            )
            .env(
                "BURROW_APPS_LISTEN",
                format!("{}:{}", self.address(), self.ports.1),
            )
            // Open WebSockets are checked again every second, so a test of a viewer
            // losing access waits a second, not the default quarter-minute.
            .env("BURROW_APPS__RECHECK_SECS", "1")
            // The tests' PostgreSQL, a data source's server, listens on loopback.
            .env("BURROW_DATA__ALLOW_LOOPBACK_SOURCES", "true")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(r) = self
                .client
                .get(format!("{}/readyz", self.base))
                .send()
                .await
            {
                if r.status() == StatusCode::OK {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "burrow serve did not become ready"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// SIGTERM, as an operator's Ctrl-C; waits for the process to end and returns how.
    pub fn stop_gracefully(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("the server runs");
        let sent = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
        child.wait().unwrap()
    }

    /// `kill -9`: no chance to clean up.
    pub fn kill_hard(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub async fn api(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> reqwest::Response {
        let mut req = self
            .client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(token);
        if let Some(body) = body {
            req = req.json(&body);
        }
        req.send().await.unwrap()
    }

    pub async fn get_json(&self, path: &str, token: &str) -> Value {
        let resp = self.api(reqwest::Method::GET, path, token, None).await;
        assert!(resp.status().is_success(), "GET {path}: {}", resp.status());
        resp.json().await.unwrap()
    }

    pub async fn post_json(&self, path: &str, token: &str, body: Value) -> reqwest::Response {
        self.api(reqwest::Method::POST, path, token, Some(body))
            .await
    }

    /// Registers and returns a token.
    pub async fn account(&self, email: &str) -> String {
        self.account_with_id(email).await.0
    }

    /// Registers and returns a token and the user's id.
    pub async fn account_with_id(&self, email: &str) -> (String, String) {
        let resp = self
            .client
            .post(format!("{}/api/v1/auth/register", self.base))
            .json(&json!({"email": email, "password": PASSWORD, "name": email.split('@').next().unwrap()}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::CREATED);
        let body: Value = resp.json().await.unwrap();
        (
            body["token"].as_str().unwrap().to_owned(),
            body["user"]["id"].as_str().unwrap().to_owned(),
        )
    }

    pub async fn project(&self, token: &str, name: &str) -> String {
        let resp = self
            .post_json("/api/v1/projects", token, json!({"name": name}))
            .await;
        assert_eq!(resp.status(), StatusCode::CREATED);
        resp.json::<Value>().await.unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Deploys `code` and waits until its first version is built and active; returns the app path.
    pub async fn deploy(
        &self,
        token: &str,
        project: &str,
        name: &str,
        code: &str,
    ) -> (String, String) {
        self.deploy_json(token, project, json!({"name": name, "code": code}))
            .await
    }

    /// A new owner and project with one app of `code`, built and opened by the owner until
    /// Streamlit answers; returns the owner's token, the app's id and path, and the viewer.
    pub async fn running_app(&self, name: &str, code: &str) -> (String, String, String, Viewer) {
        let owner = self.account("owner@example.com").await;
        let project = self.project(&owner, "Sales").await;
        let (id, path) = self.deploy(&owner, &project, name, code).await;
        let viewer = self.viewer(&owner, &path, &id).await;
        viewer.open_until_running().await;
        (owner, id, path, viewer)
    }

    /// Deploys from a JSON body (pasted code or a template) and waits until its first
    /// version is built and active; returns the app's id and path.
    pub async fn deploy_json(&self, token: &str, project: &str, body: Value) -> (String, String) {
        let resp = self
            .post_json(&format!("/api/v1/projects/{project}/apps"), token, body)
            .await;
        assert_eq!(resp.status(), StatusCode::CREATED);
        let id = resp.json::<Value>().await.unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let path = format!("/api/v1/projects/{project}/apps/{id}");
        self.wait_for(token, &path, |app| app["active_version"] == 1)
            .await;
        (id, path)
    }

    /// Polls an API resource until `done` holds; returns it.
    pub async fn wait_for(&self, token: &str, path: &str, done: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(300);
        loop {
            let value = self.get_json(path, token).await;
            if done(&value) {
                return value;
            }
            assert!(
                Instant::now() < deadline,
                "gave up waiting on {path}: {value}"
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// Signs a browser-like client in on the apps origin for `app`, through a view ticket.
    pub async fn viewer(&self, token: &str, app_path: &str, app_id: &str) -> Viewer {
        let resp = self
            .post_json(&format!("{app_path}/view-ticket"), token, json!({}))
            .await;
        assert_eq!(resp.status(), StatusCode::OK);
        let url = resp.json::<Value>().await.unwrap()["url"]
            .as_str()
            .unwrap()
            .to_owned();
        let origin = self.app_origin(app_id);
        assert!(
            url.starts_with(&format!("{origin}/_burrow/ticket?")),
            "{url}"
        );
        let resp = self.client.get(&url).send().await.unwrap();
        assert!(resp.status().is_redirection(), "{}", resp.status());
        assert_eq!(resp.headers()["location"], "/");
        let cookie = resp.headers()["set-cookie"].to_str().unwrap().to_owned();
        assert!(cookie.contains("HttpOnly"), "{cookie}");
        // The ticket works once.
        let again = self.client.get(&url).send().await.unwrap();
        assert_eq!(again.status(), StatusCode::UNAUTHORIZED);
        Viewer {
            cookie: cookie.split(';').next().unwrap().to_owned(),
            origin,
            client: self.client.clone(),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        // Sandboxes outlive serve by design; the operator's command ends them for good.
        let stop = Command::new(BURROW)
            .args(["sandbox", "stop", "--all", "--grace", "1s"])
            .env("BURROW_DATA_DIR", self.data_dir())
            .output();
        let left = self.sandboxes_left();
        if !std::thread::panicking() {
            let stop = stop.unwrap();
            assert!(
                stop.status.success(),
                "sandbox stop --all: {}",
                String::from_utf8_lossy(&stop.stderr)
            );
            assert!(left.is_empty(), "sandboxes left running: {left:?}");
        }
    }
}

impl Server {
    /// Sandboxes of this server's still known to Burrow or to runc, or processes still
    /// running from their folders.
    pub fn sandboxes_left(&self) -> Vec<String> {
        let data = self.data_dir();
        let mut left: Vec<String> = std::fs::read_dir(data.join("sandboxes/sandboxes"))
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| format!("record {}", e.file_name().to_string_lossy()))
            .collect();
        let runc = Command::new("runc")
            .arg("--root")
            .arg(data.join("sandboxes/runtime"))
            .args(["list", "-q"])
            .output();
        if let Ok(out) = runc {
            left.extend(
                String::from_utf8_lossy(&out.stdout)
                    .lines()
                    .filter(|l| !l.is_empty())
                    .map(|l| format!("container {l}")),
            );
        }
        let pgrep = Command::new("pgrep")
            .arg("-af")
            .arg(data.join("sandboxes"))
            .output();
        if let Ok(out) = pgrep {
            left.extend(
                String::from_utf8_lossy(&out.stdout)
                    .lines()
                    .map(|process| format!("process {process}")),
            );
        }
        left
    }

    /// The bytes a sandbox's log files hold: what it printed, framed.
    pub fn sandbox_log_bytes(&self, id: &str) -> u64 {
        std::fs::read_dir(
            self.data_dir()
                .join("sandboxes/sandboxes")
                .join(id)
                .join("logs"),
        )
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.metadata().ok())
        .map(|m| m.len())
        .sum()
    }
}

/// A browser signed in on one app's origin.
#[derive(Clone)]
pub struct Viewer {
    pub cookie: String,
    /// The app's origin, such as `http://abc.apps.localhost:8081`.
    pub origin: String,
    pub client: reqwest::Client,
}

impl Viewer {
    pub async fn get(&self, path: &str, accept: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.origin))
            .header("cookie", &self.cookie)
            .header("accept", accept)
            .send()
            .await
            .unwrap()
    }

    /// Opens the app like a browser: the loading page while it wakes, then Streamlit's page.
    pub async fn open_until_running(&self) -> String {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let resp = self.get("/", "text/html").await;
            assert_eq!(resp.status(), StatusCode::OK);
            let page = resp.text().await.unwrap();
            if !page.contains("Waking up the hedgehogs") {
                return page;
            }
            assert!(Instant::now() < deadline, "the app did not wake up");
            let status = self.get("/_burrow/status", "application/json").await;
            let status: Value = status.json().await.unwrap();
            assert_ne!(status["status"], "error", "{status}");
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }
}

pub type WebSocket = tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>;

/// Opens a WebSocket to `path` on an app's origin, sending `headers` (a browser's
/// cookie and Origin); the name `*.apps.localhost` is reached on loopback, as
/// browsers do.
pub async fn websocket(
    server: &Server,
    app_id: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> Result<WebSocket, tokio_tungstenite::tungstenite::Error> {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let url = format!("{}{path}", server.app_origin(app_id)).replace("http://", "ws://");
    let mut request = url.into_client_request().unwrap();
    for (name, value) in headers {
        request.headers_mut().insert(
            reqwest::header::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            value.parse().unwrap(),
        );
    }
    let stream = tokio::net::TcpStream::connect(server.apps_addr())
        .await
        .unwrap();
    tokio_tungstenite::client_async(request, stream)
        .await
        .map(|(ws, _)| ws)
}
