//! Test support shared by Burrow's test suites: fresh SQLite and PostgreSQL databases, a client that reaches app origins on loopback, a test internet for egress tests, a real S3-compatible server, and a disk that fills up.

pub mod chart;
pub mod disk;
pub mod internet;
pub mod netns;
pub mod s3;
pub mod warehouse;

use std::path::Path;

/// Runs each named story, an `async fn(Db)`, once against SQLite and once against
/// PostgreSQL, each on a runtime of two worker threads (so racing tasks really race).
#[macro_export]
macro_rules! both_backends {
    ($($story:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $story() {
                super::$story($crate::Db::Sqlite).await
            })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $story() {
                super::$story($crate::Db::Postgres).await
            })*
        }
    };
}

use burrow_store::Store;
use sqlx::Connection;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Db {
    Sqlite,
    Postgres,
}

/// A fresh PostgreSQL database on the server `make test` started, dropped on `Drop`.
#[derive(Debug)]
pub struct PgDatabase {
    admin_url: String,
    pub name: String,
    pub url: String,
}

impl PgDatabase {
    pub async fn create() -> Self {
        let admin_url = std::env::var("BURROW_TEST_POSTGRES_URL").expect(
            "BURROW_TEST_POSTGRES_URL is not set: run the tests with `make test`, which starts PostgreSQL, \
             or point it at a server where this user may create databases",
        );
        let name = format!(
            "burrow_test_{}",
            burrow_core::ids::new_id("db").trim_start_matches("db_")
        );
        let mut conn = sqlx::PgConnection::connect(&admin_url)
            .await
            .expect("connect to the test PostgreSQL server");
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await
            .expect("create the test database");
        conn.close().await.ok();
        let mut url = url::Url::parse(&admin_url).expect("BURROW_TEST_POSTGRES_URL is a URL");
        url.set_path(&name);
        Self {
            admin_url,
            name,
            url: url.to_string(),
        }
    }

    /// Drops the database now, cutting every connection to it.
    pub async fn drop_now(&self) {
        let mut conn = sqlx::PgConnection::connect(&self.admin_url)
            .await
            .expect("connect to the test PostgreSQL server");
        sqlx::query(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        ))
        .execute(&mut conn)
        .await
        .expect("drop the test database");
        conn.close().await.ok();
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let admin_url = self.admin_url.clone();
        let name = self.name.clone();
        // Drop runs inside the test's runtime, which cannot block on itself.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                if let Ok(mut conn) = sqlx::PgConnection::connect(&admin_url).await {
                    let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .execute(&mut conn)
                        .await;
                }
            });
        })
        .join();
    }
}

/// A migrated store over a fresh database: SQLite in `dir`, or a new PostgreSQL database.
/// Keep the returned [`PgDatabase`] alive as long as the store is used.
pub async fn fresh_store(db: Db, dir: &Path) -> (Store, String, Option<PgDatabase>) {
    let pg = match db {
        Db::Sqlite => None,
        Db::Postgres => Some(PgDatabase::create().await),
    };
    let url = match &pg {
        None => format!("sqlite://{}?mode=rwc", dir.join("burrow.db").display()),
        Some(pg) => pg.url.clone(),
    };
    let store = Store::connect(&url).await.expect("open the test database");
    store.migrate().await.expect("migrate the test database");
    (store, url, pg)
}

/// The ids of what [`app_in_new_project`] made.
#[derive(Debug, Clone)]
pub struct MadeApp {
    pub user: String,
    pub project: String,
    pub app: String,
}

/// A new user `email`, their project, and in it an app whose first version is queued
/// for build `build_id` (made with it), with `requirements`.
pub async fn app_in_new_project(
    store: &Store,
    email: &str,
    build_id: &str,
    requirements: &str,
) -> MadeApp {
    let user = store
        .create_user(burrow_store::NewUser {
            email: email.into(),
            name: "Ada".into(),
            password_hash: "x".into(),
            admin: false,
        })
        .await
        .unwrap();
    let project = store.create_project("Project", &user.id).await.unwrap();
    let id = burrow_core::AppId::new();
    store
        .create_app(
            &burrow_store::NewApp {
                id: id.as_str(),
                project_id: &project.id,
                name: "App",
                description: "",
                cpu_millis: 1000,
                memory_bytes: 1 << 30,
                idle_timeout_secs: 900,
                egress_mode: "none",
                egress_domains: "",
            },
            &burrow_store::NewVersion {
                bundle_blob: "bundles/x",
                sha256: "x",
                requirements,
                inferred: false,
                warnings_json: "[]",
                build_id,
                created_by: &user.id,
            },
        )
        .await
        .unwrap();
    MadeApp {
        user: user.id,
        project: project.id.to_string(),
        app: id.to_string(),
    }
}

/// A free port on loopback.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A client builder that resolves `localhost` and every `*.localhost` name to
/// 127.0.0.1, as browsers do (each app has an origin such as
/// `http://{app}.apps.localhost:PORT`), and refuses every other name: tests reach
/// only what they started.
pub fn localhost_client() -> reqwest::ClientBuilder {
    reqwest::Client::builder().dns_resolver(std::sync::Arc::new(Loopback))
}

struct Loopback;

/// Names under `<label>.localhost` that resolve to another address than loopback: a
/// server in a network namespace of its own ([`netns`]).
static ROUTES: parking_lot::Mutex<Vec<(String, std::net::IpAddr)>> =
    parking_lot::const_mutex(Vec::new());

/// Makes [`localhost_client`]s resolve `<label>.localhost` and every name under it to
/// `address`, such as `{app}.r1.localhost` to a replica in a namespace of its own.
pub fn route_localhost(label: &str, address: std::net::IpAddr) {
    let mut routes = ROUTES.lock();
    routes.retain(|(l, _)| l != label);
    routes.push((label.to_ascii_lowercase(), address));
}

impl reqwest::dns::Resolve for Loopback {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let name = name.as_str().trim_end_matches('.').to_ascii_lowercase();
        let local = name == "localhost" || name.ends_with(".localhost");
        let routed = ROUTES
            .lock()
            .iter()
            .find(|(label, _)| {
                let under = format!(".{label}.localhost");
                name.ends_with(&under) || name == under[1..]
            })
            .map(|(_, address)| *address);
        Box::pin(async move {
            if local {
                // The port is the URL's; reqwest replaces this one.
                let address = routed.unwrap_or(std::net::IpAddr::from([127, 0, 0, 1]));
                let addrs: reqwest::dns::Addrs =
                    Box::new(std::iter::once(std::net::SocketAddr::new(address, 0)));
                Ok(addrs)
            } else {
                Err(format!("{name} is not a *.localhost name: tests reach only loopback").into())
            }
        })
    }
}
