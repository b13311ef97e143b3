//! Shared helpers for Burrow's benchmark programs: timing statistics and reporting, and the data benchmarks' table, server and PostgreSQL.

use std::time::Duration;

pub mod apps;

/// Median and 95th percentile of a set of timings.
#[derive(Debug, Clone, Copy)]
pub struct Stats {
    pub median: Duration,
    pub p95: Duration,
    pub p99: Duration,
}

impl Stats {
    pub fn of(samples: &mut [Duration]) -> Stats {
        samples.sort_unstable();
        let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
        Stats {
            median: at(0.5),
            p95: at(0.95),
            p99: at(0.99),
        }
    }
}

pub use burrow_testkit::free_port;

/// A child process stopped when this drops: asked first (SIGTERM), so that a server
/// with children of its own (nginx's master and its workers) stops them too, and
/// killed if it has not ended within two seconds.
#[derive(Debug)]
pub struct Killed(pub std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let asked = i32::try_from(self.0.id())
            .ok()
            .and_then(rustix::process::Pid::from_raw)
            .is_some_and(|pid| {
                rustix::process::kill_process(pid, rustix::process::Signal::TERM).is_ok()
            });
        if asked {
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
            while std::time::Instant::now() < deadline {
                if let Ok(Some(_)) = self.0.try_wait() {
                    return;
                }
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A folder of its own under `target/` (sandboxes need a real file system, not a
/// tmpfs), readable by the sandboxes' user.
pub fn bench_dir(prefix: &str) -> tempfile::TempDir {
    let target = std::env::current_dir().unwrap().join("target");
    let dir = tempfile::Builder::new()
        .prefix(prefix)
        .tempdir_in(&target)
        .unwrap();
    std::fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    dir
}

pub fn ms(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    // Sub-millisecond figures (a proxy's p99) differ in the second decimal.
    if ms < 10.0 {
        format!("{ms:.2} ms")
    } else {
        format!("{ms:.1} ms")
    }
}

/// The data benchmarks' table: 1,000,000 rows × 6 columns.
#[allow(clippy::disallowed_methods)]
pub mod data {
    use std::path::{Path, PathBuf};
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};

    use serde_json::{json, Value};

    pub const ROWS: usize = 1_000_000;

    /// Makes the data: an integer id, a key of 1000 values, a float, 32 hex characters, a
    /// timestamp and a boolean.
    pub const MAKE: &str = r#"
import sys, numpy as np, pyarrow as pa, pyarrow.parquet as pq
n = int(sys.argv[2]); rng = np.random.default_rng(1)
hexes = np.array([f"{x:032x}" for x in rng.integers(0, 2**63, size=n, dtype=np.int64)])
table = pa.table({
    "i": pa.array(np.arange(n, dtype=np.int64)),
    "k": pa.array(rng.integers(0, 1000, size=n)),
    "f": pa.array(rng.random(n)),
    "s": pa.array(hexes),
    "t": pa.array(np.datetime64("2026-01-01") + rng.integers(0, 10**12, size=n).astype("timedelta64[us]")),
    "b": pa.array(rng.random(n) < 0.5),
})
pq.write_table(table, sys.argv[1], compression="zstd")
"#;

    /// Loads the Parquet file into PostgreSQL table `bench` and makes a SELECT-only user.
    pub const LOAD: &str = r#"
import io, sys, psycopg, pyarrow.csv as pc, pyarrow.parquet as pq
url, path, user, password = sys.argv[1:5]
table = pq.read_table(path)
out = io.BytesIO()
pc.write_csv(table, out, pc.WriteOptions(include_header=False))
with psycopg.connect(url, autocommit=True) as con:
    con.execute("CREATE TABLE bench (i bigint, k bigint, f double precision, s text, t timestamp, b boolean)")
    with con.cursor().copy("COPY bench FROM STDIN (FORMAT csv)") as copy:
        copy.write(out.getvalue())
    con.execute("ANALYZE bench")
    con.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
    con.execute(f"CREATE ROLE {user} LOGIN PASSWORD '{password}'")
    con.execute(f"GRANT SELECT ON bench TO {user}")
"#;

    /// `best(fn, rounds)`: the best time of ROUNDS calls, and the last result.
    pub const TIMER: &str = r#"
import sys, time
def best(fn, rounds):
    times = []
    for _ in range(rounds):
        t = time.perf_counter(); out = fn(); times.append(time.perf_counter() - t)
    return min(times), out
"#;

    /// Runs `script` with the interpreter at `path`; returns what it printed.
    pub fn python(path: &Path, script: &str, args: &[&str]) -> String {
        let out = Command::new(path)
            .arg("-c")
            .arg(script)
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    pub use crate::{free_port, Killed};

    /// A private data folder, the base environment built, and the data made as Parquet.
    #[derive(Debug)]
    pub struct Setup {
        pub dir: tempfile::TempDir,
        pub burrow: String,
        pub envs: PathBuf,
        /// The base environment's interpreter on the host (pandas, pyarrow).
        pub base_python: PathBuf,
        /// `target/bench-venv`'s interpreter (DuckDB, psycopg, SQLAlchemy).
        pub bench_python: PathBuf,
        pub parquet: PathBuf,
    }

    impl Setup {
        /// The data folder, the base environment built, and the data made as Parquet.
        pub fn new() -> Self {
            let target = std::env::current_dir().unwrap().join("target");
            let bench_python = target.join("bench-venv/bin/python");
            assert!(
                bench_python.exists(),
                "{} is missing: run scripts/install-bench-deps.sh",
                bench_python.display()
            );
            let mut setup = Self::base();
            setup.bench_python = bench_python;
            setup.parquet = setup.dir.path().join("bench.parquet");
            python(
                &setup.base_python,
                MAKE,
                &[setup.parquet.to_str().unwrap(), &ROWS.to_string()],
            );
            println!(
                "data: {ROWS} rows × 6 columns, {:.1} MB of Parquet (zstd)",
                std::fs::metadata(&setup.parquet).unwrap().len() as f64 / 1e6
            );
            setup
        }

        /// A private data folder and the base environment built; no data.
        pub fn base() -> Self {
            let burrow =
                std::env::var("BURROW_BIN").unwrap_or_else(|_| "target/release/burrow".into());
            let target = std::env::current_dir().unwrap().join("target");
            let dir = crate::bench_dir("burrow-bench-data");
            let mut setup = Self {
                dir,
                burrow,
                envs: target.join("bench-envs"),
                base_python: PathBuf::new(),
                bench_python: PathBuf::new(),
                parquet: PathBuf::new(),
            };
            let built = setup
                .cmd(&["runtime", "build"])
                .output()
                .expect("burrow runs");
            assert!(
                built.status.success(),
                "{}",
                String::from_utf8_lossy(&built.stderr)
            );
            setup.base_python = std::fs::read_dir(setup.envs.join("base"))
                .unwrap()
                .flatten()
                .map(|e| e.path().join("bin/python"))
                .find(|p| p.exists())
                .expect("the base environment is built");
            setup
        }

        /// `burrow ARGS` on this data folder and environments.
        pub fn cmd(&self, args: &[&str]) -> Command {
            let mut c = Command::new(&self.burrow);
            c.args(args)
                .env("BURROW_DATA_DIR", self.dir.path())
                .env("BURROW_ENVS__DIR", &self.envs)
                .env("BURROW_DATA__ALLOW_LOOPBACK_SOURCES", "true")
                .env("RUST_LOG", "warn");
            c
        }

        /// `burrow serve` with an account and a project, the data uploaded as table `bench`.
        pub async fn serve(&self, settings: &[(&str, &str)]) -> Served {
            let mut cmd = self.cmd(&["serve"]);
            cmd.envs(settings.iter().copied());
            let served = serve(cmd).await;
            let form = reqwest::multipart::Form::new().text("name", "bench").part(
                "file",
                reqwest::multipart::Part::bytes(std::fs::read(&self.parquet).unwrap())
                    .file_name("bench.parquet"),
            );
            let t = Instant::now();
            let resp = served
                .client
                .post(format!(
                    "{}/api/v1/projects/{}/tables",
                    served.base, served.project
                ))
                .bearer_auth(&served.token)
                .multipart(form)
                .send()
                .await
                .unwrap();
            let status = resp.status();
            assert_eq!(status, 201, "{}", resp.text().await.unwrap());
            println!(
                "upload: the file became a table in {:.2} s (checked and rewritten)",
                t.elapsed().as_secs_f64()
            );
            served
        }
    }

    impl Default for Setup {
        fn default() -> Self {
            Self::new()
        }
    }

    /// `cmd` (a `burrow serve` with its data folder set) on free ports, once it is ready,
    /// with an account signed in and a project.
    pub async fn serve(mut cmd: Command) -> Served {
        let port = free_port();
        let serve = Killed(
            cmd.env("BURROW_LISTEN", format!("127.0.0.1:{port}"))
                .env("BURROW_APPS_LISTEN", format!("127.0.0.1:{}", free_port()))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        );
        let base = format!("http://127.0.0.1:{port}");
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        while client
            .get(format!("{base}/readyz"))
            .send()
            .await
            .map(|r| r.status() != 200)
            .unwrap_or(true)
        {
            assert!(
                Instant::now() < deadline,
                "burrow serve did not become ready"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let mut served = Served {
            base,
            client,
            token: String::new(),
            project: String::new(),
            _serve: serve,
        };
        served.token = served
            .call(
                reqwest::Method::POST,
                "/api/v1/auth/register",
                Some(json!({"email": "bench@example.com", "password": "a long enough passphrase", "name": "Bench"})),
                201,
            )
            .await["token"]
            .as_str()
            .unwrap()
            .to_owned();
        served.project = served
            .call(
                reqwest::Method::POST,
                "/api/v1/projects",
                Some(json!({"name": "Bench"})),
                201,
            )
            .await["id"]
            .as_str()
            .unwrap()
            .to_owned();
        served
    }

    /// `burrow serve` on `setup` with an account, a project and a workspace; its API path.
    pub async fn serve_workspace(setup: &Setup) -> (Served, String) {
        let served = serve(setup.cmd(&["serve"])).await;
        let project = served.project.clone();
        let workspace = served
            .call(
                reqwest::Method::POST,
                &format!("/api/v1/projects/{project}/workspaces"),
                Some(json!({"name": "bench"})),
                201,
            )
            .await["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let path = format!("/api/v1/projects/{project}/workspaces/{workspace}");
        (served, path)
    }

    /// A running `burrow serve`, signed in, with a project.
    #[derive(Debug)]
    pub struct Served {
        pub base: String,
        pub client: reqwest::Client,
        pub token: String,
        pub project: String,
        _serve: Killed,
    }

    impl Served {
        /// Calls the API; asserts the status and returns the JSON answer.
        pub async fn call(
            &self,
            method: reqwest::Method,
            path: &str,
            body: Option<Value>,
            status: u16,
        ) -> Value {
            let mut req = self.client.request(method, format!("{}{path}", self.base));
            if !self.token.is_empty() {
                req = req.bearer_auth(&self.token);
            }
            if let Some(body) = body {
                req = req.json(&body);
            }
            let resp = req.send().await.unwrap();
            let got = resp.status();
            let text = resp.text().await.unwrap();
            assert_eq!(got.as_u16(), status, "{path}: {text}");
            serde_json::from_str(&text).unwrap_or(Value::Null)
        }
    }

    /// A fresh database on the PostgreSQL at `BURROW_TEST_POSTGRES_URL` holding the data as
    /// table `bench`, a SELECT-only `user` on it; dropped when this drops.
    #[derive(Debug)]
    pub struct Warehouse {
        admin: String,
        pub database: String,
        pub url: url::Url,
        pub user: String,
    }

    impl Warehouse {
        pub fn load(setup: &Setup) -> Self {
            let admin = std::env::var("BURROW_TEST_POSTGRES_URL").expect(
                "BURROW_TEST_POSTGRES_URL names a PostgreSQL server: run under scripts/with-postgres.sh",
            );
            let database = format!("bench_{}", std::process::id());
            let user = format!("bench_reader_{}", std::process::id());
            let created = Command::new("psql")
                .args([&admin, "-q", "-c", &format!("CREATE DATABASE {database}")])
                .output()
                .expect("psql runs");
            assert!(
                created.status.success(),
                "{}",
                String::from_utf8_lossy(&created.stderr)
            );
            let mut url = url::Url::parse(&admin).unwrap();
            url.set_path(&database);
            let t = Instant::now();
            python(
                &setup.bench_python,
                LOAD,
                &[
                    url.as_str(),
                    setup.parquet.to_str().unwrap(),
                    &user,
                    "bench-pw",
                ],
            );
            println!(
                "postgres: {ROWS} rows loaded into {database} in {:.1} s",
                t.elapsed().as_secs_f64()
            );
            Self {
                admin,
                database,
                url,
                user,
            }
        }
    }

    impl Drop for Warehouse {
        fn drop(&mut self) {
            let _ = Command::new("psql")
                .args([
                    &self.admin,
                    "-q",
                    "-c",
                    &format!("DROP DATABASE {} WITH (FORCE)", self.database),
                ])
                .output();
        }
    }
}
