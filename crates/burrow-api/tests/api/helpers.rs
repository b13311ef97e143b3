//! The test harness: `spawn_app(db)` starts a real server over a fresh database and returns a client for it.

use std::sync::Arc;

use burrow_api::Application;
use burrow_config::{BlobConfig, Config, Secret};
use burrow_store::Store;
use reqwest::{Method, Response, StatusCode};
use serde_json::{json, Value};

/// Runs each named story once against SQLite and once against PostgreSQL.
#[macro_export]
macro_rules! both_backends {
    ($($story:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test]
            async fn $story() {
                super::$story($crate::helpers::Db::Sqlite).await
            })*
        }
        mod postgres {
            $(#[tokio::test]
            async fn $story() {
                super::$story($crate::helpers::Db::Postgres).await
            })*
        }
    };
}

pub const PASSWORD: &str = "a long enough passphrase";

pub use burrow_testkit::{Db, PgDatabase};

pub struct TestApp {
    pub base: String,
    /// The port app origins are served on: `http://{app}.apps.localhost:PORT`.
    pub apps_port: u16,
    /// The server's state, to run its maintenance directly.
    pub state: burrow_api::AppState,
    pub client: reqwest::Client,
    pub store: Store,
    pub dir: tempfile::TempDir,
    pub pg: Option<PgDatabase>,
    pub database_url: String,
    _shutdown: tokio::sync::oneshot::Sender<()>,
}

fn init_test_log() {
    if std::env::var_os("TEST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter("info")
            .with_test_writer()
            .try_init();
    }
}

fn target_tmp() -> &'static std::path::Path {
    std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
}

/// The environments folder of this test run, emptied when the run starts.
fn shared_envs_dir() -> &'static std::path::Path {
    static DIR: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let dir = target_tmp().join("api-envs");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    })
}

/// Builds the base environment once for the whole run, before any test deploys an app,
/// so that tests do not all build it at once.
pub fn base_environment_built() {
    static BUILT: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    BUILT.get_or_init(|| {
        std::thread::spawn(|| {
            let rt = tokio::runtime::Runtime::new().unwrap();
            rt.block_on(async {
                let envs = burrow_envs::Environments::new(
                    shared_envs_dir().to_path_buf(),
                    target_tmp().join("uv-cache"),
                    "uv".into(),
                    "/usr/bin/python3".into(),
                );
                let mut log =
                    burrow_envs::BuildLog::open(&shared_envs_dir().join("base-build.log")).unwrap();
                envs.ensure_base(&mut log).await.expect(
                    "the base environment builds (is uv on PATH? `make test` puts it there)",
                );
            })
        })
        .join()
        .unwrap()
    });
}

pub async fn spawn_app(db: Db) -> TestApp {
    spawn_app_with(db, |_| {}).await
}

/// Starts a server on 127.0.0.1:0 over a fresh database, after `configure` adjusts its config.
pub async fn spawn_app_with(db: Db, configure: impl FnOnce(&mut Config)) -> TestApp {
    spawn_app_in(db, tempfile::tempdir().unwrap(), configure).await
}

/// Starts a server as [`spawn_app_with`] does, with `dir` as its data folder.
pub async fn spawn_app_in(
    db: Db,
    dir: tempfile::TempDir,
    configure: impl FnOnce(&mut Config),
) -> TestApp {
    init_test_log();
    let (store, database_url, pg) = burrow_testkit::fresh_store(db, dir.path()).await;
    serve(store, database_url, pg, dir, configure).await
}

/// Starts another server on `app`'s database, as a second replica is: its own data
/// folder and blobs, the same database.
pub async fn spawn_replica(app: &TestApp, configure: impl FnOnce(&mut Config)) -> TestApp {
    let store = Store::connect(&app.database_url).await.unwrap();
    serve(
        store,
        app.database_url.clone(),
        None,
        tempfile::tempdir().unwrap(),
        configure,
    )
    .await
}

async fn serve(
    store: Store,
    database_url: String,
    pg: Option<PgDatabase>,
    dir: tempfile::TempDir,
    configure: impl FnOnce(&mut Config),
) -> TestApp {
    let mut config = Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.path().to_path_buf(),
        database_url: Some(Secret::new(database_url.clone())),
        blobs: BlobConfig::Memory,
        ..Config::default()
    };
    config.http.shutdown_grace_secs = 1;
    // Every server shares one environments folder (and uv cache), whose base is built once.
    config.envs.dir = Some(shared_envs_dir().to_path_buf());
    config.envs.cache_dir = Some(target_tmp().join("uv-cache"));
    configure(&mut config);
    let blobs = burrow_blobs::open(&config).unwrap();
    let listener = tokio::net::TcpListener::bind(config.listen).await.unwrap();
    let apps_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    // URLs the server hands out must name the ports actually bound.
    if config.public_url.is_none() {
        config.public_url = Some(
            format!("http://{}/", listener.local_addr().unwrap())
                .parse()
                .unwrap(),
        );
    }
    if config.apps_url.is_none() {
        config.apps_url = Some(burrow_config::AppsUrl::localhost(
            apps_listener.local_addr().unwrap(),
        ));
    }
    // No app is started in these tests (the binary's suite does that), so the shim is never run.
    std::fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let runtime = burrow_sandbox::LocalRuntime::new(burrow_sandbox::LocalOptions {
        state_dir: dir.path().join("sandboxes"),
        runtime_bin: "runc".into(),
        shim_exe: "/nonexistent/burrow".into(),
        init: "/usr/bin/tini".into(),
        log_policy: burrow_sandbox::LogPolicy::default(),
        volumes: Arc::new(burrow_sandbox::HostPathsOnly),
    })
    .unwrap();
    // Builds run on the durable queue, as in `serve`, with its queue running here; its
    // retries come quickly.
    let queue = burrow_queue::Queue::builder(store.clone()).options(burrow_queue::Options {
        poll: std::time::Duration::from_millis(100),
        backoff: std::time::Duration::from_millis(200),
        ..Default::default()
    });
    let builds =
        burrow_envs::Builds::from_config(&config, store.clone(), Arc::clone(&blobs), queue.waker());
    let queue = queue
        .handle(
            burrow_envs::ENV_BUILD,
            config.envs.max_concurrent_builds,
            burrow_envs::BUILD_ATTEMPTS,
            builds.handler(),
        )
        .handle(
            burrow_service::blobs::BLOB_FORGET,
            2,
            burrow_service::blobs::FORGET_ATTEMPTS,
            burrow_service::blobs::ForgetBlob(Arc::clone(&blobs)),
        )
        .build();
    let app = Application::build(
        config,
        store.clone(),
        Arc::clone(&blobs),
        Arc::new(runtime),
        builds,
        listener,
        apps_listener,
    );
    let addr = app.local_addr().unwrap();
    let apps_addr = app.apps_addr().unwrap();
    let state = app.state().clone();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let queue = tokio::spawn(queue.run());
    tokio::spawn(async move {
        let _ = app
            .run_until(async {
                let _ = rx.await;
            })
            .await;
        queue.abort();
    });
    TestApp {
        base: format!("http://{addr}"),
        apps_port: apps_addr.port(),
        state,
        client: reqwest::Client::new(),
        store,
        dir,
        pg,
        database_url,
        _shutdown: tx,
    }
}

/// A registered user's token and id.
#[derive(Debug, Clone)]
pub struct Account {
    pub token: String,
    pub id: String,
    pub email: String,
}

impl TestApp {
    /// A URL on one app's own origin.
    pub fn app_url(&self, app: &str, path: &str) -> String {
        format!("http://{app}.apps.localhost:{}{path}", self.apps_port)
    }

    /// A client that reaches app origins on loopback and does not follow redirects.
    pub fn viewer_client(&self) -> reqwest::Client {
        burrow_testkit::localhost_client()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
    }

    pub async fn request(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Response {
        let mut req = self.client.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        req.send().await.expect("the request reaches the server")
    }

    pub async fn get(&self, path: &str, token: &str) -> Response {
        self.request(Method::GET, path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> Response {
        self.request(Method::POST, path, token, Some(body)).await
    }

    pub async fn register(&self, email: &str) -> Response {
        self.post(
            "/api/v1/auth/register",
            None,
            json!({"email": email, "password": PASSWORD, "name": email.split('@').next().unwrap()}),
        )
        .await
    }

    pub async fn login(&self, email: &str, password: &str) -> Response {
        self.post(
            "/api/v1/auth/login",
            None,
            json!({"email": email, "password": password}),
        )
        .await
    }

    /// Registers `email` and returns its session.
    pub async fn account(&self, email: &str) -> Account {
        let resp = self.register(email).await;
        assert_eq!(resp.status(), StatusCode::CREATED, "register {email}");
        let body: Value = resp.json().await.unwrap();
        Account {
            token: body["token"].as_str().unwrap().to_owned(),
            id: body["user"]["id"].as_str().unwrap().to_owned(),
            email: email.to_owned(),
        }
    }

    /// Creates a project as `owner` and returns its id.
    pub async fn project(&self, owner: &Account, name: &str) -> String {
        let resp = self
            .post(
                "/api/v1/projects",
                Some(&owner.token),
                json!({ "name": name }),
            )
            .await;
        assert_eq!(resp.status(), StatusCode::CREATED);
        resp.json::<Value>().await.unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    pub async fn add_member(
        &self,
        owner: &Account,
        project: &str,
        email: &str,
        role: &str,
    ) -> Response {
        self.post(
            &format!("/api/v1/projects/{project}/members"),
            Some(&owner.token),
            json!({"email": email, "role": role}),
        )
        .await
    }
}

/// Asserts the error shape and code, and returns the message.
pub async fn expect_error(resp: Response, status: StatusCode, code: &str) -> String {
    let got = resp.status();
    let text = resp.text().await.unwrap_or_default();
    assert_eq!(got, status, "status, with the body {text}");
    let body: Value = serde_json::from_str(&text).expect("an error body is JSON");
    assert_eq!(body["error"]["code"], code, "error code in {body}");
    let message = body["error"]["message"]
        .as_str()
        .expect("an error has a message")
        .to_owned();
    assert!(!message.is_empty());
    message
}

/// The response's JSON body, after checking its status.
pub async fn json_of(resp: Response, status: StatusCode) -> Value {
    let got = resp.status();
    let text = resp.text().await.unwrap();
    assert_eq!(got, status, "{text}");
    serde_json::from_str(&text).unwrap()
}

/// Every object under a folder of the server's blob store, sorted.
pub async fn blob_objects(app: &TestApp, folder: &str) -> Vec<String> {
    use futures::TryStreamExt;
    let prefix = burrow_blobs::BlobPath::from(folder);
    let mut out: Vec<String> = app
        .state
        .blobs
        .list(Some(&prefix))
        .map_ok(|meta| meta.location.to_string())
        .try_collect()
        .await
        .unwrap();
    out.sort();
    out
}

/// A zip of `files` (name, bytes), for uploads.
pub fn zip_of(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, bytes) in files {
        zip.start_file(*name, zip::write::SimpleFileOptions::default())
            .unwrap();
        std::io::Write::write_all(&mut zip, bytes).unwrap();
    }
    zip.finish().unwrap().into_inner()
}
