//! Replicas: requests per second through the apps proxy with one `burrow serve`, and with
//! three behind nginx as a load balancer, all on this machine over one PostgreSQL
//! database and one data folder; then how long the others take to take over an app
//! whose replica was killed with `kill -9`.
//!
//! Usage: `bash scripts/with-postgres.sh ./target/release/replicas [SECONDS]` as root,
//! after `cargo build --release --bin burrow`, with `uv` on `PATH` and nginx installed
//! (`make bench` does all of it). `BURROW_BIN` names the burrow executable.
//!
//! The upstream is nginx serving a 2 KiB file inside the app's sandbox (the static app
//! of `app_proxy`), so the proxies are what is measured. The same nginx load balancer
//! (one worker, kept-alive upstream connections) is measured in front of one replica
//! and in front of three, so the ratio is that of the replicas alone; the CPU each
//! part spent per request says where the time goes.

// A benchmark starts processes to time them.
#![allow(clippy::disallowed_methods)]

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use burrow_bench::apps::{
    account_and_project, cpu_time, family, load, static_app, wait_ok, StopAll, Target, CONNECTIONS,
    STATIC_ASSET,
};
use burrow_bench::{bench_dir, free_port, ms, Killed, Stats};

/// How long a replica's lease on an app lasts unrenewed: the default.
const LEASE_SECS: u64 = 15;

/// One `burrow serve` over the shared data folder and database.
struct Replica {
    name: String,
    process: Option<Killed>,
    api: u16,
    apps: u16,
}

impl Replica {
    fn start(burrow: &str, name: &str, data: &Path, envs: &Path, database: &str) -> Self {
        let (api, apps) = (free_port(), free_port());
        let process = Command::new(burrow)
            .arg("serve")
            .env("BURROW_DATA_DIR", data)
            .env("BURROW_ENVS__DIR", envs)
            .env("BURROW_DATABASE_URL", database)
            .env("BURROW_REPLICA", name)
            .env("BURROW_LISTEN", format!("127.0.0.1:{api}"))
            .env("BURROW_APPS_LISTEN", format!("127.0.0.1:{apps}"))
            .env("BURROW_SANDBOX__LEASE_SECS", LEASE_SECS.to_string())
            .env("BURROW_APPS__WARM_POOL", "0")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("burrow runs: build it with `cargo build --release --bin burrow`");
        Replica {
            name: name.to_owned(),
            process: Some(Killed(process)),
            api,
            apps,
        }
    }

    fn pid(&self) -> u32 {
        self.process.as_ref().expect("it runs").0.id()
    }

    fn apps_addr(&self) -> String {
        format!("127.0.0.1:{}", self.apps)
    }
}

/// nginx on `port` balancing over the apps listeners `upstreams`, keeping the Host
/// header (the app's origin) and its connections to them alive.
fn start_balancer(dir: &Path, name: &str, port: u16, upstreams: &[u16]) -> Killed {
    let prefix = dir.join(name);
    std::fs::create_dir_all(prefix.join("logs")).unwrap();
    let servers: String = upstreams
        .iter()
        .map(|p| format!("server 127.0.0.1:{p}; "))
        .collect();
    let conf = prefix.join("nginx.conf");
    std::fs::write(&conf, format!(
        "worker_processes 1;\npid {pid};\nerror_log {err} warn;\nevents {{ worker_connections 1024; }}\n\
         http {{\n  access_log off;\n  upstream burrow {{ {servers}keepalive 64; }}\n\
         server {{\n    listen 127.0.0.1:{port};\n    location / {{\n      proxy_pass http://burrow;\n\
         proxy_http_version 1.1;\n      proxy_set_header Connection \"\";\n      proxy_set_header Host $http_host;\n    }}\n  }}\n}}\n",
        pid = prefix.join("nginx.pid").display(), err = prefix.join("logs/error.log").display(),
    )).unwrap();
    Killed(
        Command::new("nginx")
            .arg("-p")
            .arg(&prefix)
            .arg("-c")
            .arg(&conf)
            .args(["-g", "daemon off;"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nginx runs: `make bench` installs it"),
    )
}

/// One run's figures: throughput, latency, and CPU per request of each part.
struct Run {
    rps: f64,
    latency: Stats,
    burrow_us: f64,
    balancer_us: f64,
    generator_us: f64,
}

async fn measure(
    target: String,
    host: &str,
    cookie: &str,
    burrow: &[u32],
    balancer: &[u32],
    secs: u64,
) -> Run {
    let me = [std::process::id()];
    let before = [cpu_time(burrow), cpu_time(balancer), cpu_time(&me)];
    let (rps, latency) = load(Target::Tcp(target), host, STATIC_ASSET, Some(cookie), secs).await;
    let after = [cpu_time(burrow), cpu_time(balancer), cpu_time(&me)];
    let requests = (rps * secs as f64).max(1.0);
    let us = |i: usize| {
        let (u0, s0) = before[i];
        let (u1, s1) = after[i];
        (u1.saturating_sub(u0) + s1.saturating_sub(s0)).as_secs_f64() * 1e6 / requests
    };
    Run {
        rps,
        latency,
        burrow_us: us(0),
        balancer_us: us(1),
        generator_us: us(2),
    }
}

fn line(label: &str, run: &Run, base: f64) {
    println!(
        "  {label:<34} {:>6.0} req/s  {:.2}x   p50 {} p99 {}   CPU/req: Burrow {:.0} µs, balancer {:.0} µs, load generator {:.0} µs",
        run.rps,
        run.rps / base,
        ms(run.latency.median),
        ms(run.latency.p99),
        run.burrow_us,
        run.balancer_us,
        run.generator_us,
    );
}

#[tokio::main]
async fn main() {
    let secs: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let burrow = std::env::var("BURROW_BIN").unwrap_or_else(|_| "target/release/burrow".into());
    let target = std::env::current_dir().unwrap().join("target");
    let dir = bench_dir("burrow-bench-replicas");
    let envs = target.join("bench-envs");
    let pg = burrow_testkit::PgDatabase::create().await;
    let _sandboxes = StopAll {
        burrow: burrow.clone(),
        data: dir.path().to_path_buf(),
    };
    let start = |name: &str| Replica::start(&burrow, name, dir.path(), &envs, &pg.url);
    let mut replicas = vec![start("r0")];
    let plain = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{}", replicas[0].api);
    wait_ok(
        &plain,
        &format!("{base}/readyz"),
        None,
        Duration::from_secs(30),
    )
    .await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let (token, project) = account_and_project(&client, &base).await;
    eprintln!("waiting for the base environment and the app's build…");
    let (id, cookie) = static_app(&client, &base, &token, &project, &replicas[0].apps_addr()).await;
    let host = format!("{id}.apps.localhost:{}", replicas[0].apps);

    // One replica, reached directly and behind the balancer.
    let one_port = free_port();
    let one_lb = start_balancer(dir.path(), "lb-one", one_port, &[replicas[0].apps]);
    let through_one = format!("127.0.0.1:{one_port}");
    let pids = |rs: &[Replica]| rs.iter().map(Replica::pid).collect::<Vec<_>>();
    let health = |addr: &str| {
        let client = reqwest::Client::builder()
            .resolve(&format!("{id}.apps.localhost"), addr.parse().unwrap())
            .build()
            .unwrap();
        let url = format!(
            "http://{id}.apps.localhost:{}{STATIC_ASSET}",
            addr.rsplit(':').next().unwrap()
        );
        (client, url)
    };
    let (c, url) = health(&through_one);
    wait_ok(&c, &url, Some(&cookie), Duration::from_secs(30)).await;
    let direct = measure(
        replicas[0].apps_addr(),
        &host,
        &cookie,
        &pids(&replicas),
        &[],
        secs,
    )
    .await;
    let one = measure(
        through_one.clone(),
        &host,
        &cookie,
        &pids(&replicas),
        &family(one_lb.0.id()),
        secs,
    )
    .await;
    drop(one_lb);

    // Three replicas behind the same balancer; each first reaches the app through its lease.
    replicas.push(start("r1"));
    replicas.push(start("r2"));
    for r in &replicas {
        let api = format!("http://127.0.0.1:{}/readyz", r.api);
        wait_ok(&plain, &api, None, Duration::from_secs(30)).await;
        let (c, url) = health(&r.apps_addr());
        wait_ok(&c, &url, Some(&cookie), Duration::from_secs(30)).await;
    }
    let three_port = free_port();
    let ports: Vec<u16> = replicas.iter().map(|r| r.apps).collect();
    let three_lb = start_balancer(dir.path(), "lb-three", three_port, &ports);
    let through_three = format!("127.0.0.1:{three_port}");
    let (c, url) = health(&through_three);
    wait_ok(&c, &url, Some(&cookie), Duration::from_secs(30)).await;
    let three = measure(
        through_three,
        &host,
        &cookie,
        &pids(&replicas),
        &family(three_lb.0.id()),
        secs,
    )
    .await;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "nginx serving a 2 KiB file in an app's sandbox, {CONNECTIONS} keep-alive connections, {secs} s each, {cores} cores:"
    );
    line("one replica, direct", &direct, direct.rps);
    line("one replica behind nginx", &one, one.rps);
    line("three replicas behind nginx", &three, one.rps);
    println!(
        "  three replicas give {:.2}x one behind the same balancer; every process shares these {cores} cores",
        three.rps / one.rps
    );

    // Takeover: kill -9 the replica holding the app; the others reach its sandbox at
    // once, and one holds the app once the lease runs out.
    let store = burrow_store::Store::connect(&pg.url).await.unwrap();
    let lease = store
        .sandbox_lease("burrow.app", &id)
        .await
        .unwrap()
        .expect("the app has a lease");
    let dead = replicas
        .iter()
        .position(|r| r.name == lease.holder)
        .expect("a replica holds it");
    let survivor = replicas
        .iter()
        .position(|r| r.name != lease.holder)
        .unwrap();
    let (c, url) = health(&replicas[survivor].apps_addr());
    let killed = Instant::now();
    replicas[dead].process.take();
    let mut served = None;
    let taken = loop {
        if served.is_none() {
            let ok = c
                .get(&url)
                .header("cookie", &cookie)
                .send()
                .await
                .is_ok_and(|r| r.status() == 200);
            if ok {
                served = Some(killed.elapsed());
            }
        }
        let now = store
            .sandbox_lease("burrow.app", &id)
            .await
            .unwrap()
            .unwrap();
        if now.holder != lease.holder && now.epoch > lease.epoch {
            assert_eq!(now.sandbox, lease.sandbox, "the sandbox is adopted");
            break killed.elapsed();
        }
        assert!(
            killed.elapsed() < Duration::from_secs(120),
            "nobody took the app over"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    println!("kill -9 of the replica holding the app (lease {LEASE_SECS} s, renewed every 2 s):");
    println!(
        "  another replica serves the app's sandbox after {}",
        served.map_or("(not within the takeover)".into(), ms)
    );
    println!(
        "  another replica holds the app, its sandbox adopted, after {}  ({:.2}x the lease)",
        ms(taken),
        taken.as_secs_f64() / LEASE_SECS as f64
    );
}
