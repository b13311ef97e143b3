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

use burrow_bench::data::{python, Setup, Warehouse, ROWS, TIMER};
use serde_json::{json, Value};

const AGGREGATE: &str =
    "select k, count(*) as n, sum(f) as total, avg(i) as mean, max(t) as latest from bench group by k order by k";

fn seconds(v: &Value) -> f64 {
    v.as_f64().expect("a time in seconds")
}

#[tokio::main]
async fn main() {
    let rounds: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let setup = Setup::new();
    let served = setup.serve(&[]).await;
    let project = served.project.clone();
    let burrow_cmd = |args: &[&str]| setup.cmd(args);
    let parquet = setup.parquet.clone();
    let base_python = setup.base_python.clone();
    let duckdb_python = setup.bench_python.clone();

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
    let warehouse = Warehouse::load(&setup);
    let (url, database, user) = (&warehouse.url, &warehouse.database, &warehouse.user);
    served
        .call(
            reqwest::Method::POST,
            &format!("/api/v1/projects/{project}/sources"),
            Some(json!({
                "name": "warehouse", "host": url.host_str().unwrap(), "port": url.port().unwrap_or(5432),
                "database": database, "user": user, "password": "bench-pw", "tls_mode": "disable",
            })),
            201,
        )
        .await;
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
    drop(warehouse);

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
