//! The data bridge: 1,000,000 rows × 6 columns into pandas with `burrow.sql()` inside a
//! sandbox, against `pyarrow.parquet.read_table(…).to_pandas()` of the same data on the
//! host; an aggregate's latency through `burrow.sql()` against DuckDB over the same
//! Parquet file on the host; and the same 1,000,000 rows read from an external PostgreSQL
//! source with `burrow.sql(…, source=…)` against `pandas.read_sql` over psycopg on the
//! host. All in one run.
//!
//! Usage: `cargo run --release -p burrow-bench --bin data_bridge [ROUNDS]` as root
//! (`make bench` does it, after `scripts/install-bench-deps.sh` put DuckDB in
//! `target/bench-venv`). It serves Burrow on a private data folder, uploads the Parquet
//! file as a project table through the API, and runs the sandbox with
//! `burrow sandbox run --data PROJECT`, whose Python times its own calls. Best of ROUNDS
//! (default 5) each; `pandas.read_sql`, at about 10 s a read, best of 2. PostgreSQL is the
//! server at `BURROW_TEST_POSTGRES_URL` (`make bench` starts one with
//! `scripts/with-postgres.sh`). Goals: the read at least 0.7× the host's; the source read
//! at least 5× faster than `pandas.read_sql`.

#![allow(clippy::disallowed_methods)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

const ROWS: usize = 1_000_000;
const AGGREGATE: &str =
    "select k, count(*) as n, sum(f) as total, avg(i) as mean, max(t) as latest from bench group by k order by k";

/// Makes the data: an integer id, a key of 1000 values, a float, 32 hex characters, a
/// timestamp and a boolean.
const MAKE: &str = r#"
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

/// Times `fn` ROUNDS times; prints the best in seconds.
/// Loads the Parquet file into PostgreSQL table `bench` and makes a SELECT-only user.
const LOAD: &str = r#"
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

const TIMER: &str = r#"
import sys, time
def best(fn, rounds):
    times = []
    for _ in range(rounds):
        t = time.perf_counter(); out = fn(); times.append(time.perf_counter() - t)
    return min(times), out
"#;

fn python(path: &Path, script: &str, args: &[&str]) -> String {
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

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn seconds(v: &Value) -> f64 {
    v.as_f64().expect("a time in seconds")
}

#[tokio::main]
async fn main() {
    let rounds: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let burrow = std::env::var("BURROW_BIN").unwrap_or_else(|_| "target/release/burrow".into());
    let target = std::env::current_dir().unwrap().join("target");
    let envs = target.join("bench-envs");
    let duckdb_python = target.join("bench-venv/bin/python");
    assert!(
        duckdb_python.exists(),
        "{} is missing: run scripts/install-bench-deps.sh",
        duckdb_python.display()
    );
    let dir = tempfile::Builder::new()
        .prefix("burrow-bench-data")
        .tempdir_in(&target)
        .unwrap();
    std::fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let burrow_cmd = |args: &[&str]| {
        let mut c = Command::new(&burrow);
        c.args(args)
            .env("BURROW_DATA_DIR", dir.path())
            .env("BURROW_ENVS__DIR", &envs)
            .env("BURROW_DATA__ALLOW_LOOPBACK_SOURCES", "true")
            .env("RUST_LOG", "warn");
        c
    };
    let built = burrow_cmd(&["runtime", "build"])
        .output()
        .expect("burrow runs");
    assert!(
        built.status.success(),
        "{}",
        String::from_utf8_lossy(&built.stderr)
    );
    let base_python: PathBuf = std::fs::read_dir(envs.join("base"))
        .unwrap()
        .flatten()
        .map(|e| e.path().join("bin/python"))
        .find(|p| p.exists())
        .expect("the base environment is built");

    // The data, once, on the host.
    let parquet = dir.path().join("bench.parquet");
    python(
        &base_python,
        MAKE,
        &[parquet.to_str().unwrap(), &ROWS.to_string()],
    );
    println!(
        "data: {ROWS} rows × 6 columns, {:.1} MB of Parquet (zstd)",
        std::fs::metadata(&parquet).unwrap().len() as f64 / 1e6
    );

    // Burrow, with the file as a project table.
    let port = free_port();
    let _serve = Killed(
        burrow_cmd(&["serve"])
            .env("BURROW_LISTEN", format!("127.0.0.1:{port}"))
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
    let token = client
        .post(format!("{base}/api/v1/auth/register"))
        .json(&json!({"email": "bench@example.com", "password": "a long enough passphrase", "name": "Bench"}))
        .send().await.unwrap().json::<Value>().await.unwrap()["token"].as_str().unwrap().to_owned();
    let project = client
        .post(format!("{base}/api/v1/projects"))
        .bearer_auth(&token)
        .json(&json!({"name": "Bench"}))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let form = reqwest::multipart::Form::new().text("name", "bench").part(
        "file",
        reqwest::multipart::Part::bytes(std::fs::read(&parquet).unwrap())
            .file_name("bench.parquet"),
    );
    let t = Instant::now();
    let resp = client
        .post(format!("{base}/api/v1/projects/{project}/tables"))
        .bearer_auth(&token)
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

    // Inside a sandbox of the project, through the bridge.
    let inside = format!(
        "{TIMER}\nimport json, burrow\nr = int(sys.argv[1])\n\
         s, df = best(lambda: burrow.sql('select * from bench'), r)\n\
         assert df.shape == ({ROWS}, 6), df.shape\n\
         a, agg = best(lambda: burrow.sql({AGGREGATE:?}), r)\n\
         assert len(agg) == 1000\n\
         print(json.dumps({{'select': s, 'aggregate': a}}))"
    );
    // Runs timed Python in a sandbox of the project; its timings come back as JSON.
    let in_sandbox = |code: &str| -> Value {
        let out = burrow_cmd(&[
            "sandbox",
            "run",
            "--data",
            &project,
            "--memory",
            "3G",
            "--cpus",
            "2",
            "--",
            "python",
            "-c",
            code,
            &rounds.to_string(),
        ])
        .output()
        .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("the sandbox prints its timings")
    };
    let ours = in_sandbox(&inside);

    // On the host: pyarrow straight from the file, and DuckDB over it.
    let path = parquet.to_str().unwrap();
    let host = format!(
        "{TIMER}\nimport pyarrow.parquet as pq\ns, df = best(lambda: pq.read_table(sys.argv[1]).to_pandas(), int(sys.argv[2]))\n\
         assert df.shape == ({ROWS}, 6)\nprint(s)"
    );
    let host: f64 = python(&base_python, &host, &[path, &rounds.to_string()])
        .parse()
        .unwrap();
    let duck = format!(
        "{TIMER}\nimport duckdb\ncon = duckdb.connect()\nq = {AGGREGATE:?}.replace('from bench', \"from read_parquet('\" + sys.argv[1] + \"')\")\n\
         a, agg = best(lambda: con.sql(q).df(), int(sys.argv[2]))\nassert len(agg) == 1000\nprint(a)"
    );
    let duck: f64 = python(&duckdb_python, &duck, &[path, &rounds.to_string()])
        .parse()
        .unwrap();

    // The same rows in an external PostgreSQL source.
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
        &duckdb_python,
        LOAD,
        &[url.as_str(), path, &user, "bench-pw"],
    );
    println!(
        "postgres: {ROWS} rows loaded into {database} in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let resp = client
        .post(format!("{base}/api/v1/projects/{project}/sources"))
        .bearer_auth(&token)
        .json(&json!({
            "name": "warehouse", "host": url.host_str().unwrap(), "port": url.port().unwrap_or(5432),
            "database": database, "user": user, "password": "bench-pw", "tls_mode": "disable",
        }))
        .send()
        .await
        .unwrap();
    let status = resp.status();
    assert_eq!(status, 201, "{}", resp.text().await.unwrap());
    let inside = format!(
        "{TIMER}\nimport json, burrow\nr = int(sys.argv[1])\n\
         s, df = best(lambda: burrow.sql('select * from bench', source='warehouse'), r)\n\
         assert df.shape == ({ROWS}, 6), df.shape\n\
         print(json.dumps({{'select': s}}))"
    );
    let from_source = in_sandbox(&inside);
    let read_sql = format!(
        "{TIMER}\nimport warnings, pandas, psycopg\nwarnings.simplefilter('ignore')\ncon = psycopg.connect(sys.argv[1])\n\
         s, df = best(lambda: pandas.read_sql('select * from bench', con), int(sys.argv[2]))\n\
         assert df.shape == ({ROWS}, 6)\nprint(s)"
    );
    let pandas_rounds = rounds.min(2).to_string();
    let read_sql: f64 = python(&duckdb_python, &read_sql, &[url.as_str(), &pandas_rounds])
        .parse()
        .unwrap();
    let _ = Command::new("psql")
        .args([
            &admin,
            "-q",
            "-c",
            &format!("DROP DATABASE {database} WITH (FORCE)"),
        ])
        .output();

    let (select, aggregate) = (seconds(&ours["select"]), seconds(&ours["aggregate"]));
    println!("read {ROWS} rows into pandas, best of {rounds}:");
    println!(
        "  host, pyarrow.parquet.read_table().to_pandas(): {:.3} s",
        host
    );
    println!(
        "  sandbox, burrow.sql('select * from bench'):    {:.3} s",
        select
    );
    println!("  speed vs the host: {:.2}× (goal ≥ 0.7×)", host / select);
    println!("aggregate ({AGGREGATE}), best of {rounds}:");
    println!(
        "  host, DuckDB over the Parquet file:  {:.1} ms",
        duck * 1000.0
    );
    println!(
        "  sandbox, burrow.sql():               {:.1} ms",
        aggregate * 1000.0
    );
    println!("  latency vs DuckDB: {:.2}×", aggregate / duck);
    let source = seconds(&from_source["select"]);
    println!("read {ROWS} rows from PostgreSQL into pandas:");
    println!(
        "  host, pandas.read_sql over psycopg (best of {pandas_rounds}): {:.3} s",
        read_sql
    );
    println!(
        "  sandbox, burrow.sql(…, source=) (best of {rounds}):       {:.3} s",
        source
    );
    println!(
        "  speed vs pandas.read_sql: {:.2}× (goal ≥ 5×)",
        read_sql / source
    );
    let _ = burrow_cmd(&["sandbox", "stop", "--all", "--grace", "1s"]).output();
}
