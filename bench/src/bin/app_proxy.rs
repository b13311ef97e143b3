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
//!    keep-alive connections for SECONDS each, from the app's running sandbox: directly
//!    (a loopback connection in the sandbox's network), through nginx configured as a
//!    reverse proxy to it, and through Burrow's apps origin (origin, view cookie,
//!    membership check, the viewer connection's kept-alive upstream connection). nginx
//!    runs on the host as Burrow does, in the sandbox's network only, so both proxies
//!    forward to the same server, scheduled the same way (the sandbox's cgroup weighs
//!    on the kernel's scheduler, so an upstream on the host would not compare), and
//!    with a worker per core (`worker_processes auto`), as Burrow has a thread per core.
//!    The two proxies run in 3 alternating rounds each (nginx first, then Burrow first),
//!    so that neither gets the machine's better moments; each one's round of middle
//!    throughput is reported, with the ratio of every pair. Then all three once more at
//!    one pace, half of nginx's most.
//! 3. The same against an upstream that is not the bottleneck: nginx serving a 2 KiB
//!    file inside an app's sandbox. The app ships its own `streamlit` module, whose
//!    `python -m streamlit run` starts that nginx on the app's port.
//!    For both upstreams, the CPU time each proxy's processes spent per request.
//! 4. WebSocket ping round trips, through Burrow and directly to a bare Streamlit.

// A benchmark starts processes to time them.
#![allow(clippy::disallowed_methods)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use std::sync::Arc;

use burrow_bench::apps::{
    account_and_project, family, load, load_paced, load_proxy, static_app, status_of, view_cookie,
    wait_built, wait_ok, wake, Proxied, StopAll, Target, APP, CONNECTIONS, STATIC_ASSET,
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

/// Prints one upstream's three runs: direct into its sandbox, through nginx, and through
/// Burrow, then what each proxy keeps of the direct throughput.
fn report(
    title: &str,
    (direct_rps, direct): (f64, Stats),
    (nginx, burrow, ratios): (Proxied, Proxied, &[f64]),
    (rate, paced): (f64, [Stats; 3]),
) {
    let us = |p: &Proxied| {
        format!(
            "{:.0} µs CPU/req ({:.0} in the kernel)",
            p.cpu_per_request.as_secs_f64() * 1e6,
            p.system_per_request.as_secs_f64() * 1e6
        )
    };
    println!(
        "{title}, {CONNECTIONS} keep-alive connections (each proxy's middle of {ROUNDS} rounds):"
    );
    println!(
        "  direct, in the sandbox      {direct_rps:>6.0} req/s  1.00x   {}",
        p99(direct)
    );
    for (name, proxied) in [("nginx", &nginx), ("Burrow", &burrow)] {
        println!(
            "  via {name:<23} {:>6.0} req/s  {:.2}x   {}   {name} {}",
            proxied.rps,
            proxied.rps / direct_rps,
            p99(proxied.latency),
            us(proxied)
        );
    }
    println!(
        "  proxy cost: nginx keeps {:.1}% of direct throughput, Burrow {:.1}%; p99 {} against nginx's {}",
        100.0 * nginx.rps / direct_rps,
        100.0 * burrow.rps / direct_rps,
        ms(burrow.latency.p99),
        ms(nginx.latency.p99)
    );
    let mut sorted = ratios.to_vec();
    sorted.sort_by(f64::total_cmp);
    println!(
        "  Burrow's throughput against nginx's, round by round: {}; median {:.2}x",
        ratios
            .iter()
            .map(|r| format!("{r:.2}x"))
            .collect::<Vec<_>>()
            .join(" "),
        sorted[sorted.len() / 2]
    );
    println!("  at one pace for all three, half nginx's most ({rate:.0} req/s):");
    for (name, paced) in ["direct", "via nginx", "via Burrow"].iter().zip(paced) {
        println!("  {name:<27} {rate:>6.0} req/s          {}", p99(paced));
    }
}

/// Runs the load against one sandboxed upstream three ways: directly into the sandbox,
/// then through nginx as a reverse proxy to it (in its network, see [`start_nginx`]) and
/// through Burrow's apps origin in alternating rounds; then all three at one pace.
#[allow(clippy::too_many_arguments)]
async fn compare(
    title: &str,
    dir: &Path,
    runtime: &Arc<LocalRuntime>,
    sandbox: &str,
    serve_pid: &[u32],
    (apps_addr, app_host, cookie): (&str, &str, &str),
    asset: &str,
    secs: u64,
) {
    let init = std::fs::read_to_string(
        dir.join("sandboxes/sandboxes")
            .join(sandbox)
            .join(burrow_sandbox::shim::INIT_PID),
    )
    .expect("the sandbox records its init process");
    let nginx = start_nginx(dir, &format!("nginx-{sandbox}"), init.trim(), 8501);
    let to_nginx = Target::Sandbox(runtime.clone(), sandbox.to_owned(), NGINX_PORT);
    wait_in(&to_nginx, asset).await;
    let direct = load(
        Target::Sandbox(runtime.clone(), sandbox.to_owned(), 8501),
        "127.0.0.1",
        asset,
        None,
        secs,
    )
    .await;
    // The two proxies in alternating rounds, nginx first then Burrow first, so that
    // neither gets the machine's better moments: each one's middle round is reported,
    // with every round's ratio.
    let nginx_pids = family(nginx.0.id());
    let (mut nginx_rounds, mut burrow_rounds) = (Vec::new(), Vec::new());
    for round in 0..ROUNDS {
        for burrow_now in [round % 2 == 1, round % 2 == 0] {
            if burrow_now {
                let proxied = load_proxy(
                    serve_pid,
                    Target::Tcp(apps_addr.to_owned()),
                    app_host,
                    asset,
                    Some(cookie),
                    secs,
                )
                .await;
                burrow_rounds.push(proxied);
            } else {
                let proxied = load_proxy(
                    &nginx_pids,
                    to_nginx.clone(),
                    "127.0.0.1",
                    asset,
                    None,
                    secs,
                )
                .await;
                nginx_rounds.push(proxied);
            }
        }
    }
    let ratios: Vec<f64> = burrow_rounds
        .iter()
        .zip(&nginx_rounds)
        .map(|(b, n)| b.rps / n.rps)
        .collect();
    let (via_nginx, via_burrow) = (middle(nginx_rounds), middle(burrow_rounds));
    // Then all three at one pace: half the load nginx carries at most.
    let every = Duration::from_secs_f64(CONNECTIONS as f64 * 2.0 / via_nginx.rps);
    let rate = CONNECTIONS as f64 / every.as_secs_f64();
    let direct_paced = load_paced(
        Target::Sandbox(runtime.clone(), sandbox.to_owned(), 8501),
        "127.0.0.1",
        asset,
        None,
        every,
        secs,
    )
    .await;
    let nginx_paced = load_paced(to_nginx, "127.0.0.1", asset, None, every, secs).await;
    let burrow_paced = load_paced(
        Target::Tcp(apps_addr.to_owned()),
        app_host,
        asset,
        Some(cookie),
        every,
        secs,
    )
    .await;
    report(
        title,
        direct,
        (via_nginx, via_burrow, &ratios),
        (rate, [direct_paced, nginx_paced, burrow_paced]),
    );
}

/// Closed-load rounds each proxy runs, alternating with the other's.
const ROUNDS: usize = 3;

/// The round of middle throughput.
fn middle(mut rounds: Vec<Proxied>) -> Proxied {
    rounds.sort_by(|a, b| a.rps.total_cmp(&b.rps));
    rounds.swap_remove(rounds.len() / 2)
}

/// The sandbox app `app` runs in.
async fn running(runtime: &LocalRuntime, app: &str) -> String {
    runtime
        .list(&[("burrow.app".to_owned(), app.to_owned())].into())
        .await
        .unwrap()
        .into_iter()
        .find(|s| s.status == burrow_sandbox::Status::Running)
        .expect("the app runs")
        .id
}

/// Where the comparison's nginx listens in the sandbox's network: a port the app and
/// Burrow's host services leave free.
const NGINX_PORT: u16 = 18080;

/// Waits until `asset` answers 200 at `target`.
async fn wait_in(target: &Target, asset: &str) {
    let start = Instant::now();
    loop {
        if let Ok(Ok(status)) =
            tokio::time::timeout(Duration::from_secs(2), status_of(target, asset)).await
        {
            if status == 200 {
                return;
            }
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "nginx never answered {asset}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
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

    // 2. Proxy throughput and latency: direct, nginx, Burrow.
    wake(&client, &apps, &cookie, "/favicon.png").await;
    let sandbox = running(&runtime, &id).await;
    let serve_pid = [serve.0.id()];
    compare(
        &format!("Streamlit's favicon.png, {secs} s each"),
        dir.path(),
        &runtime,
        &sandbox,
        &serve_pid,
        (&apps_addr, &app_host, &cookie),
        "/favicon.png",
        secs,
    )
    .await;

    // 3. The same against nginx serving a file, an upstream that is not the bottleneck.
    let (static_id, static_cookie) = static_app(&client, &base, &token, &project, &apps_addr).await;
    let static_host = format!("{static_id}.apps.localhost:{apps_port}");
    let static_sandbox = running(&runtime, &static_id).await;
    compare(
        &format!("nginx serving a 2 KiB file, {secs} s each"),
        dir.path(),
        &runtime,
        &static_sandbox,
        &serve_pid,
        (&apps_addr, &static_host, &static_cookie),
        STATIC_ASSET,
        secs,
    )
    .await;

    // 4. WebSocket round trips, against the bare Streamlit of the cold starts.
    let _bare = bare(bare_port);
    wait_ok(
        &plain,
        &format!("http://127.0.0.1:{bare_port}/_stcore/health"),
        None,
        Duration::from_secs(120),
    )
    .await;
    let bare_host = format!("127.0.0.1:{bare_port}");
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

/// nginx as a reverse proxy, listening on [`NGINX_PORT`] in the network of the process
/// `init` (a sandbox's) and forwarding to its port `upstream` over kept-alive
/// connections, as Burrow keeps its own to the app. It runs on the host, outside the
/// sandbox's cgroup, as Burrow does; only its network is the sandbox's, so that both
/// proxies forward to the same server, reached the same way (loopback in that network).
/// It has a worker process per core, as Burrow's apps origin has a thread per core, and
/// sends the app the `X-Forwarded-For`, `-Proto` and `-Host` Burrow sends, as the
/// usual configuration for Streamlit behind nginx does.
fn start_nginx(dir: &Path, name: &str, init: &str, upstream: u16) -> Killed {
    let prefix = dir.join(name);
    std::fs::create_dir_all(prefix.join("logs")).unwrap();
    let conf = prefix.join("nginx.conf");
    std::fs::write(&conf, format!(
        "worker_processes auto;\npid {pid};\nerror_log {err} warn;\nevents {{ worker_connections 1024; }}\n\
         http {{\n  access_log off;\n  upstream st {{ server 127.0.0.1:{upstream}; keepalive 64; }}\n\
         server {{\n    listen 127.0.0.1:{NGINX_PORT};\n    location / {{\n      proxy_pass http://st;\n\
         proxy_http_version 1.1;\n      proxy_set_header Connection \"\";\n      proxy_set_header Host $host;\n\
      proxy_set_header X-Forwarded-For $remote_addr;\n      proxy_set_header X-Forwarded-Proto $scheme;\n\
      proxy_set_header X-Forwarded-Host $host;\n    }}\n  }}\n}}\n",
        pid = prefix.join("nginx.pid").display(), err = prefix.join("logs/error.log").display(),
    )).unwrap();
    // nsenter enters the network only, then becomes nginx: the child is nginx's master.
    Killed(
        Command::new("nsenter")
            .arg(format!("--net=/proc/{init}/ns/net"))
            .arg("nginx")
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
