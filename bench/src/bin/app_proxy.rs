//! Apps: cold start through Burrow against bare `streamlit run`, and the viewer proxy
//! against a direct connection and against nginx, all in the same run.
//!
//! Usage: `cargo run --release -p burrow-bench --bin app_proxy [SECONDS]` as root, after
//! `cargo build --release --bin burrow`, with `uv` on `PATH` and nginx installed
//! (`make bench` does all of it). `BURROW_BIN` names the burrow executable.
//!
//! 1. Cold start: a stopped app, from the first request through its origin until
//!    its health check answers there, with a warm sandbox ready in the pool (the
//!    default, `apps.warm_pool`); against bare `streamlit run` of the same app on
//!    the same environment until its health check answers. Medians of 7. Then the
//!    memory the pool's idle sandboxes hold.
//! 2. Throughput and latency of a static Streamlit asset (`favicon.png`) with 16
//!    keep-alive connections for SECONDS each: through Burrow, directly to a bare
//!    Streamlit, and through nginx configured as a reverse proxy to that Streamlit.
//! 3. The same against an upstream that is not the bottleneck: nginx serving a 2 KiB
//!    file, on the host (direct, and behind nginx as a reverse proxy) and inside an app's
//!    sandbox (direct, and through Burrow). The app ships its own `streamlit` module,
//!    whose `python -m streamlit run` starts that nginx on the app's port, so Burrow's
//!    path is the product's: origin, view cookie, membership check, and the viewer
//!    connection's kept-alive upstream connection.
//!    For both upstreams, the CPU time each proxy's processes spent per request.
//! 4. WebSocket ping round trips, through Burrow and directly.

// A benchmark starts processes to time them.
#![allow(clippy::disallowed_methods)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use std::sync::Arc;

use burrow_bench::apps::{
    account_and_project, family, load, load_proxy, static_app, view_cookie, wait_built, wait_ok,
    wake, Proxied, StopAll, Target, APP, CONNECTIONS, STATIC_ASSET, STATIC_CONF,
};
use burrow_bench::{bench_dir, free_port, ms, Killed, Stats};
use burrow_sandbox::{LocalOptions, LocalRuntime, LogPolicy, Runtime};
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

/// Cold starts timed of each kind.
const RUNS: usize = 7;

/// Waits until the warm pool has a sandbox ready, as `/metrics` says; returns how many
/// warm sandboxes are idle and the memory their cgroups hold.
async fn pool_ready(client: &reqwest::Client, base: &str, runtime: &LocalRuntime) -> (usize, u64) {
    let start = Instant::now();
    loop {
        let metrics = client
            .get(format!("{base}/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let ready = metrics
            .lines()
            .find_map(|l| l.strip_prefix("burrow_apps_warm_sandboxes "))
            .and_then(|v| v.trim().parse::<f64>().ok())
            .unwrap_or(0.0);
        if ready >= 1.0 {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "no warm sandbox became ready"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let idle: Vec<String> = runtime
        .list(&Default::default())
        .await
        .unwrap()
        .into_iter()
        .filter(|s| s.labels.contains_key("burrow.warm") && !s.labels.contains_key("burrow.app"))
        .map(|s| s.id)
        .collect();
    let memory = idle
        .iter()
        .filter_map(|id| burrow_sandbox::cgroup::current_memory(&format!("/burrow/{id}")))
        .sum();
    (idle.len(), memory)
}

/// Ping round trips over a WebSocket at `url`, reached at the TCP address `addr`.
async fn ws_rtt(addr: &str, url: &str, cookie: Option<&str>, origin: &str, n: usize) -> Stats {
    let mut request = url.into_client_request().unwrap();
    if let Some(c) = cookie {
        request.headers_mut().insert("cookie", c.parse().unwrap());
    }
    request
        .headers_mut()
        .insert("origin", origin.parse().unwrap());
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut ws, _) = tokio_tungstenite::client_async(request, stream)
        .await
        .unwrap();
    let mut times = Vec::new();
    for i in 0..n {
        let t = Instant::now();
        ws.send(Message::Ping(i.to_string().into_bytes().into()))
            .await
            .unwrap();
        loop {
            match ws.next().await.unwrap().unwrap() {
                Message::Pong(_) => break,
                _ => continue,
            }
        }
        times.push(t.elapsed());
    }
    Stats::of(&mut times)
}

/// Prints an upstream's four runs: direct and behind nginx on the host, direct and
/// through Burrow in a sandbox.
fn report(
    title: &str,
    (direct_rps, direct): (f64, Stats),
    nginx: Proxied,
    (inside_rps, inside): (f64, Stats),
    burrow: Proxied,
) {
    let us = |p: &Proxied| {
        format!(
            "{:.0} µs CPU/req ({:.0} in the kernel)",
            p.cpu_per_request.as_secs_f64() * 1e6,
            p.system_per_request.as_secs_f64() * 1e6
        )
    };
    println!("{title}, {CONNECTIONS} keep-alive connections:");
    println!(
        "  on the host, direct                 {direct_rps:>6.0} req/s  1.00x   {}",
        p99(direct)
    );
    println!(
        "  on the host, via nginx              {:>6.0} req/s  {:.2}x   {}   nginx {}",
        nginx.rps,
        nginx.rps / direct_rps,
        p99(nginx.latency),
        us(&nginx)
    );
    println!(
        "  in a sandbox, direct                {inside_rps:>6.0} req/s  1.00x   {}",
        p99(inside)
    );
    println!(
        "  in a sandbox, via Burrow            {:>6.0} req/s  {:.2}x   {}   Burrow {}",
        burrow.rps,
        burrow.rps / inside_rps,
        p99(burrow.latency),
        us(&burrow)
    );
    println!(
        "  proxy cost: nginx keeps {:.1}% of direct throughput, Burrow {:.1}%; p99 {} against nginx's {}",
        100.0 * nginx.rps / direct_rps,
        100.0 * burrow.rps / inside_rps,
        ms(burrow.latency.p99),
        ms(nginx.latency.p99)
    );
}

fn p99(samples: Stats) -> String {
    format!("p50 {} p99 {}", ms(samples.median), ms(samples.p99))
}

#[tokio::main]
async fn main() {
    let secs: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let burrow = std::env::var("BURROW_BIN").unwrap_or_else(|_| "target/release/burrow".into());
    let target = std::env::current_dir().unwrap().join("target");
    let dir = bench_dir("burrow-bench-apps");
    let envs = target.join("bench-envs");
    // Dropped after serve is killed and before the data folder goes: ends the app's
    // sandbox, which outlives serve by design.
    let _sandboxes = StopAll {
        burrow: burrow.clone(),
        data: dir.path().to_path_buf(),
    };
    let (api_port, apps_port) = (free_port(), free_port());
    let base = format!("http://127.0.0.1:{api_port}");
    let apps_addr = format!("127.0.0.1:{apps_port}");
    let serve = Killed(
        Command::new(&burrow)
            .arg("serve")
            .env("BURROW_DATA_DIR", dir.path())
            .env("BURROW_ENVS__DIR", &envs)
            .env("BURROW_LISTEN", format!("127.0.0.1:{api_port}"))
            .env("BURROW_APPS_LISTEN", format!("127.0.0.1:{apps_port}"))
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("burrow runs: build it with `cargo build --release --bin burrow`"),
    );
    let plain = reqwest::Client::new();
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
    let app: Value = client
        .post(format!("{base}/api/v1/projects/{project}/apps"))
        .bearer_auth(&token)
        .json(&json!({"name": "Bench", "code": APP}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = app["id"].as_str().unwrap().to_owned();
    let path = format!("{base}/api/v1/projects/{project}/apps/{id}");
    // The app's own origin; its name is reached on loopback, as browsers do.
    let app_host = format!("{id}.apps.localhost:{apps_port}");
    let apps = format!("http://{app_host}");
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .resolve(&format!("{id}.apps.localhost"), apps_addr.parse().unwrap())
        .build()
        .unwrap();
    eprintln!("waiting for the base environment and the app's build…");
    wait_built(&client, &path, &token).await;
    let cookie = view_cookie(&path, &token, &id, &apps_addr).await;

    let runtime = Arc::new(
        LocalRuntime::new(LocalOptions {
            state_dir: dir.path().join("sandboxes"),
            runtime_bin: "runc".into(),
            shim_exe: burrow.clone().into(),
            init: "/usr/bin/tini".into(),
            log_policy: LogPolicy::default(),
            volumes: std::sync::Arc::new(burrow_sandbox::HostPathsOnly),
        })
        .unwrap(),
    );

    // 1. Cold start, through Burrow, each once the pool has a warm sandbox ready.
    let mut burrow_cold = Vec::new();
    let mut pool_memory = 0;
    let mut pool_size = 0;
    for _ in 0..RUNS {
        (pool_size, pool_memory) = pool_ready(&plain, &base, &runtime).await;
        client
            .post(format!("{path}/stop"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        let t = Instant::now();
        client
            .get(format!("{apps}/"))
            .header("cookie", &cookie)
            .header("accept", "text/html")
            .send()
            .await
            .unwrap();
        wait_ok(
            &client,
            &format!("{apps}/_stcore/health"),
            Some(&cookie),
            Duration::from_secs(120),
        )
        .await;
        burrow_cold.push(t.elapsed());
    }

    // ... and bare Streamlit on the same environment and app.
    let python = find_python(&envs);
    let code_dir = dir.path().join("bare");
    std::fs::create_dir_all(&code_dir).unwrap();
    std::fs::write(code_dir.join("app.py"), APP).unwrap();
    let bare_port = free_port();
    let bare = |port: u16| {
        Killed(
            Command::new(&python)
                .args([
                    "-m",
                    "streamlit",
                    "run",
                    "app.py",
                    "--server.headless=true",
                    &format!("--server.port={port}"),
                    "--server.address=127.0.0.1",
                    "--browser.gatherUsageStats=false",
                    "--server.fileWatcherType=none",
                ])
                .current_dir(&code_dir)
                .env("HOME", dir.path())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        )
    };
    let mut bare_cold = Vec::new();
    for _ in 0..RUNS {
        let port = free_port();
        let t = Instant::now();
        let process = bare(port);
        wait_ok(
            &plain,
            &format!("http://127.0.0.1:{port}/_stcore/health"),
            None,
            Duration::from_secs(120),
        )
        .await;
        bare_cold.push(t.elapsed());
        drop(process);
    }
    let (burrow_cold, bare_cold) = (Stats::of(&mut burrow_cold), Stats::of(&mut bare_cold));
    println!("cold start, median of {RUNS}:");
    println!(
        "  bare streamlit run            {:>10}  1.00x",
        ms(bare_cold.median)
    );
    println!(
        "  through Burrow (sandboxed)    {:>10}  {:.2}x",
        ms(burrow_cold.median),
        burrow_cold.median.as_secs_f64() / bare_cold.median.as_secs_f64()
    );
    println!(
        "  warm pool: {pool_size} idle sandbox(es) before the last start, holding {:.0} MiB",
        pool_memory as f64 / f64::from(1 << 20)
    );

    // 2. Proxy throughput: Burrow, direct, nginx.
    let _bare = bare(bare_port);
    wait_ok(
        &plain,
        &format!("http://127.0.0.1:{bare_port}/_stcore/health"),
        None,
        Duration::from_secs(120),
    )
    .await;
    let nginx_port = free_port();
    let nginx = start_nginx(dir.path(), "nginx", nginx_port, bare_port);
    wait_ok(
        &plain,
        &format!("http://127.0.0.1:{nginx_port}/favicon.png"),
        None,
        Duration::from_secs(10),
    )
    .await;
    wake(&client, &apps, &cookie, "/favicon.png").await;

    let sandbox = runtime
        .list(&[("burrow.app".to_owned(), id.clone())].into())
        .await
        .unwrap()
        .into_iter()
        .find(|s| s.status == burrow_sandbox::Status::Running)
        .expect("the app runs")
        .id;
    let asset = "/favicon.png";
    let bare_host = format!("127.0.0.1:{bare_port}");
    let serve_pid = [serve.0.id()];
    let nginx_pids = family(nginx.0.id());
    let direct = load(
        Target::Tcp(bare_host.clone()),
        &bare_host,
        asset,
        None,
        secs,
    )
    .await;
    let via_nginx = load_proxy(
        &nginx_pids,
        Target::Tcp(format!("127.0.0.1:{nginx_port}")),
        &bare_host,
        asset,
        None,
        secs,
    )
    .await;
    let inside = load(
        Target::Sandbox(runtime.clone(), sandbox, 8501),
        "127.0.0.1",
        asset,
        None,
        secs,
    )
    .await;
    let via_burrow = load_proxy(
        &serve_pid,
        Target::Tcp(apps_addr.clone()),
        &app_host,
        asset,
        Some(&cookie),
        secs,
    )
    .await;
    report(
        &format!("Streamlit's favicon.png, {secs} s each"),
        direct,
        via_nginx,
        inside,
        via_burrow,
    );

    // 3. The same against nginx serving a file, an upstream that is not the bottleneck.
    let (static_id, static_cookie) = static_app(&client, &base, &token, &project, &apps_addr).await;
    let static_host = format!("{static_id}.apps.localhost:{apps_port}");
    let static_sandbox = runtime
        .list(&[("burrow.app".to_owned(), static_id.clone())].into())
        .await
        .unwrap()
        .into_iter()
        .find(|s| s.status == burrow_sandbox::Status::Running)
        .expect("the static app runs")
        .id;
    let static_port = free_port();
    let _static = start_static(dir.path(), static_port);
    let static_host_addr = format!("127.0.0.1:{static_port}");
    let front_port = free_port();
    let front = start_nginx(dir.path(), "nginx-static", front_port, static_port);
    for port in [static_port, front_port] {
        wait_ok(
            &plain,
            &format!("http://127.0.0.1:{port}{STATIC_ASSET}"),
            None,
            Duration::from_secs(10),
        )
        .await;
    }
    let front_pids = family(front.0.id());
    let direct = load(
        Target::Tcp(static_host_addr.clone()),
        &static_host_addr,
        STATIC_ASSET,
        None,
        secs,
    )
    .await;
    let via_nginx = load_proxy(
        &front_pids,
        Target::Tcp(format!("127.0.0.1:{front_port}")),
        &static_host_addr,
        STATIC_ASSET,
        None,
        secs,
    )
    .await;
    let inside = load(
        Target::Sandbox(runtime.clone(), static_sandbox, 8501),
        "127.0.0.1",
        STATIC_ASSET,
        None,
        secs,
    )
    .await;
    let via_burrow = load_proxy(
        &serve_pid,
        Target::Tcp(apps_addr.clone()),
        &static_host,
        STATIC_ASSET,
        Some(&static_cookie),
        secs,
    )
    .await;
    report(
        &format!("nginx serving a 2 KiB file, {secs} s each"),
        direct,
        via_nginx,
        inside,
        via_burrow,
    );

    // 4. WebSocket round trips.
    let direct_ws = ws_rtt(
        &bare_host,
        &format!("ws://{bare_host}/_stcore/stream"),
        None,
        &format!("http://127.0.0.1:{bare_port}"),
        500,
    )
    .await;
    let burrow_ws = ws_rtt(
        &apps_addr,
        &format!("ws://{app_host}/_stcore/stream"),
        Some(&cookie),
        &apps,
        500,
    )
    .await;
    println!("WebSocket ping round trip, 500 each:");
    println!("  direct                 {}", p99(direct_ws));
    println!(
        "  through Burrow         {}   ({:.2}x direct at p50)",
        p99(burrow_ws),
        burrow_ws.median.as_secs_f64() / direct_ws.median.as_secs_f64()
    );
}

fn find_python(envs: &Path) -> PathBuf {
    std::fs::read_dir(envs.join("base"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.join("burrow-env.json").is_file())
        .expect("the base environment is built")
        .join("bin/python")
}

fn start_nginx(dir: &Path, name: &str, port: u16, upstream: u16) -> Killed {
    let prefix = dir.join(name);
    std::fs::create_dir_all(prefix.join("logs")).unwrap();
    let conf = prefix.join("nginx.conf");
    std::fs::write(&conf, format!(
        "worker_processes 1;\npid {pid};\nerror_log {err} warn;\nevents {{ worker_connections 1024; }}\n\
         http {{\n  access_log off;\n  upstream st {{ server 127.0.0.1:{upstream}; keepalive 64; }}\n\
         server {{\n    listen 127.0.0.1:{port};\n    location / {{\n      proxy_pass http://st;\n\
         proxy_http_version 1.1;\n      proxy_set_header Connection \"\";\n      proxy_set_header Host $host;\n    }}\n  }}\n}}\n",
        pid = prefix.join("nginx.pid").display(), err = prefix.join("logs/error.log").display(),
    )).unwrap();
    Killed(
        Command::new("nginx")
            .args(["-p"])
            .arg(&prefix)
            .args(["-c"])
            .arg(&conf)
            .args(["-g", "daemon off;"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nginx runs: `make bench` installs it"),
    )
}

/// The static server on the host, configured as the sandboxed one.
fn start_static(dir: &Path, port: u16) -> Killed {
    let prefix = dir.join("static");
    std::fs::create_dir_all(prefix.join("www")).unwrap();
    std::fs::write(prefix.join("www/asset.txt"), "x".repeat(2048)).unwrap();
    let conf = prefix.join("nginx.conf");
    std::fs::write(
        &conf,
        STATIC_CONF
            .replace("{PREFIX}", &prefix.display().to_string())
            .replace("{PORT}", &port.to_string()),
    )
    .unwrap();
    Killed(
        Command::new("nginx")
            .args(["-e", "stderr", "-p"])
            .arg(&prefix)
            .args(["-c"])
            .arg(&conf)
            .args(["-g", "daemon off;"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nginx runs: `make bench` installs it"),
    )
}
