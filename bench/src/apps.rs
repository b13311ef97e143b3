//! What the apps benchmarks share: processes killed on drop, waiting for an answer, the
//! keep-alive load generator and its CPU accounting, and the static upstream app (nginx
//! serving a file from inside an app's sandbox, so the proxy is what is measured).

// A benchmark starts processes to time them.
#![allow(clippy::disallowed_methods)]

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use burrow_sandbox::{LocalRuntime, Runtime};
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use serde_json::Value;

use crate::Stats;

pub const APP: &str = "import streamlit as st\nst.title('Bench')\n";

/// The static upstream app's `streamlit/__main__.py`: writes the nginx configuration
/// (`{CONF}`, with `{PREFIX}` and `{PORT}` filled in) and the file, then becomes nginx.
pub const STATIC_MAIN: &str = r#"import os, sys
port = next(a.split("=", 1)[1] for a in sys.argv if a.startswith("--server.port="))
prefix = "/tmp/static"
os.makedirs(prefix + "/www", exist_ok=True)
with open(prefix + "/www/asset.txt", "w") as f:
    f.write("x" * 2048)
with open(prefix + "/nginx.conf", "w") as f:
    f.write('''{CONF}'''.replace("{PREFIX}", prefix).replace("{PORT}", port))
# The upload scan refuses `os.exec*` to help authors; the sandbox is what contains code.
getattr(os, "execv")("/usr/sbin/nginx", ["nginx", "-e", "stderr", "-p", prefix, "-c", prefix + "/nginx.conf", "-g", "daemon off;"])
"#;

pub const STATIC_ASSET: &str = "/asset.txt";

pub const CONNECTIONS: usize = 16;

/// Runs `burrow sandbox stop --all` on a data folder when dropped.
#[derive(Debug)]
pub struct StopAll {
    pub burrow: String,
    pub data: PathBuf,
}

impl Drop for StopAll {
    fn drop(&mut self) {
        let out = Command::new(&self.burrow)
            .args(["sandbox", "stop", "--all", "--grace", "1s"])
            .env("BURROW_DATA_DIR", &self.data)
            .output();
        match out {
            Ok(out) if out.status.success() => {}
            Ok(out) => eprintln!(
                "could not stop the benchmark's sandboxes: {}",
                String::from_utf8_lossy(&out.stderr)
            ),
            Err(e) => eprintln!("could not run burrow sandbox stop: {e}"),
        }
    }
}

pub async fn wait_ok(
    client: &reqwest::Client,
    url: &str,
    cookie: Option<&str>,
    deadline: Duration,
) -> Duration {
    let start = Instant::now();
    loop {
        let mut req = client.get(url);
        if let Some(c) = cookie {
            req = req.header("cookie", c);
        }
        if let Ok(r) = req.send().await {
            if r.status() == 200 {
                return start.elapsed();
            }
        }
        assert!(start.elapsed() < deadline, "{url} never answered");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Where the load generator connects: a TCP address, or into a sandbox through `connect()`.
#[derive(Clone)]
#[allow(missing_debug_implementations)]
pub enum Target {
    Tcp(String),
    Sandbox(Arc<LocalRuntime>, String, u16),
}

impl Target {
    /// A connection with Nagle's algorithm off, as the runtime's own are.
    async fn connect(&self) -> burrow_sandbox::Connection {
        self.try_connect().await.unwrap()
    }

    async fn try_connect(&self) -> Result<burrow_sandbox::Connection, String> {
        match self {
            Target::Tcp(addr) => {
                let stream = tokio::net::TcpStream::connect(addr)
                    .await
                    .map_err(|e| e.to_string())?;
                stream.set_nodelay(true).map_err(|e| e.to_string())?;
                Ok(Box::new(stream))
            }
            Target::Sandbox(runtime, id, port) => {
                runtime.connect(id, *port).await.map_err(|e| e.to_string())
            }
        }
    }
}

/// The status of one GET of `path` at `target`, on a connection of its own.
pub async fn status_of(target: &Target, path: &str) -> Result<u16, String> {
    let stream = target.try_connect().await?;
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake::<_, Empty<Bytes>>(TokioIo::new(stream))
            .await
            .map_err(|e| e.to_string())?;
    tokio::spawn(conn);
    let request = hyper::Request::get(path)
        .header("host", "127.0.0.1")
        .body(Empty::new())
        .map_err(|e| e.to_string())?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| e.to_string())?;
    Ok(response.status().as_u16())
}

/// Requests per second and latencies for GET `path`, over keep-alive connections, each
/// sending its next request as soon as its last is answered: a closed load, which finds
/// how much the path serves at most.
pub async fn load(
    target: Target,
    host: &str,
    path: &str,
    cookie: Option<&str>,
    secs: u64,
) -> (f64, Stats) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut workers = Vec::new();
    for _ in 0..CONNECTIONS {
        let request = Get::new(&target, host, path, cookie);
        workers.push(tokio::spawn(async move {
            let mut sender = open(&request.target).await;
            let mut times = Vec::new();
            while Instant::now() < deadline {
                let t = Instant::now();
                request.send(&mut sender).await;
                times.push(t.elapsed());
            }
            times
        }));
    }
    let mut all = Vec::new();
    for w in workers {
        all.extend(w.await.unwrap());
    }
    let rps = all.len() as f64 / secs as f64;
    (rps, Stats::of(&mut all))
}

/// Latencies for GET `path` at a fixed pace: each of [`CONNECTIONS`] keep-alive
/// connections sends a request every `every`, however fast the answers come (an open
/// load, as wrk2 makes). Two proxies are compared so at the same load, where a closed
/// load puts each at its own saturation and the faster one queues more.
///
/// A request whose turn comes while the last one on its connection is still out is
/// sent once that is answered, and timed from its turn, so a slow answer is not hidden
/// (coordinated omission); a request the load generator's own timer sends late is
/// timed from when it went.
pub async fn load_paced(
    target: Target,
    host: &str,
    path: &str,
    cookie: Option<&str>,
    every: Duration,
    secs: u64,
) -> Stats {
    let start = Instant::now();
    let deadline = start + Duration::from_secs(secs);
    let mut workers = Vec::new();
    for n in 0..CONNECTIONS {
        let request = Get::new(&target, host, path, cookie);
        // The connections' turns are spread evenly over each period.
        let first = every.mul_f64(n as f64 / CONNECTIONS as f64);
        workers.push(tokio::spawn(async move {
            let mut sender = open(&request.target).await;
            let mut pace = Pace::new(first, every);
            let mut turn = Instant::now() + first;
            let mut times = Vec::new();
            while turn < deadline {
                let from = if pace.due() {
                    turn
                } else {
                    pace.wait().await;
                    Instant::now()
                };
                request.send(&mut sender).await;
                times.push(from.elapsed());
                turn += every;
                pace.taken += 1;
            }
            times
        }));
    }
    let mut all = Vec::new();
    for w in workers {
        all.extend(w.await.unwrap());
    }
    Stats::of(&mut all)
}

/// A connection's turns, from a periodic timerfd: precise to microseconds where the
/// runtime's timer rounds to milliseconds and would send every connection's request
/// at once on each millisecond.
struct Pace {
    timer: tokio::io::unix::AsyncFd<std::os::fd::OwnedFd>,
    /// Turns that have come, and turns taken.
    come: u64,
    taken: u64,
}

impl Pace {
    fn new(first: Duration, every: Duration) -> Self {
        use rustix::time::{
            timerfd_create, timerfd_settime, Itimerspec, TimerfdClockId, TimerfdFlags,
            TimerfdTimerFlags, Timespec,
        };
        let spec = |d: Duration| Timespec {
            tv_sec: d.as_secs() as i64,
            tv_nsec: i64::from(d.subsec_nanos()),
        };
        let fd = timerfd_create(
            TimerfdClockId::Monotonic,
            TimerfdFlags::NONBLOCK | TimerfdFlags::CLOEXEC,
        )
        .unwrap();
        timerfd_settime(
            &fd,
            TimerfdTimerFlags::empty(),
            &Itimerspec {
                it_interval: spec(every),
                // Zero would disarm the timer.
                it_value: spec(first.max(Duration::from_nanos(1))),
            },
        )
        .unwrap();
        // SAFETY: the OwnedFd is a valid descriptor, owned by the AsyncFd, and nothing
        // replaces or closes it while it is registered.
        #[allow(unsafe_code)]
        let timer = unsafe { tokio::io::unix::AsyncFd::register(fd) }.unwrap();
        Self {
            timer,
            come: 0,
            taken: 0,
        }
    }

    /// Whether the next turn has already come (while the last request was out).
    fn due(&mut self) -> bool {
        self.count();
        self.come > self.taken
    }

    /// Until the next turn comes.
    async fn wait(&mut self) {
        while !self.due() {
            self.timer.readable().await.unwrap().clear_ready();
        }
    }

    fn count(&mut self) {
        let mut buf = [0u8; 8];
        if let Ok(8) = rustix::io::read(self.timer.get_ref(), &mut buf) {
            self.come += u64::from_ne_bytes(buf);
        }
    }
}

/// One GET the load generator sends over and over on a connection of its own.
struct Get {
    target: Target,
    host: String,
    path: String,
    cookie: Option<String>,
}

impl Get {
    fn new(target: &Target, host: &str, path: &str, cookie: Option<&str>) -> Self {
        Self {
            target: target.clone(),
            host: host.to_owned(),
            path: path.to_owned(),
            cookie: cookie.map(str::to_owned),
        }
    }

    /// Sends it on `sender` and reads the whole answer, which must be a 200. A server may
    /// close a keep-alive connection after so many requests (nginx's
    /// keepalive_requests); a new one is opened then, as a browser does.
    async fn send(&self, sender: &mut hyper::client::conn::http1::SendRequest<Empty<Bytes>>) {
        let mut req = hyper::Request::get(&self.path).header("host", &self.host);
        if let Some(c) = &self.cookie {
            req = req.header("cookie", c);
        }
        let resp = sender
            .send_request(req.body(Empty::new()).unwrap())
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{}", self.path);
        resp.into_body().collect().await.unwrap();
        if sender.ready().await.is_err() {
            *sender = open(&self.target).await;
        }
    }
}

/// An HTTP/1.1 connection to `target`.
pub async fn open(target: &Target) -> hyper::client::conn::http1::SendRequest<Empty<Bytes>> {
    let stream = target.connect().await;
    let (sender, conn) =
        hyper::client::conn::http1::handshake::<_, Empty<Bytes>>(TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(conn);
    sender
}

/// The CPU time processes have used so far: in user space, and in the kernel.
pub fn cpu_time(pids: &[u32]) -> (Duration, Duration) {
    let ticks = rustix::param::clock_ticks_per_second() as f64;
    let (user, system) = pids
        .iter()
        .filter_map(|pid| std::fs::read_to_string(format!("/proc/{pid}/stat")).ok())
        .map(|stat| {
            // Fields after the command, which may hold spaces, from its closing paren.
            let rest = &stat[stat.rfind(')').unwrap() + 2..];
            let fields: Vec<&str> = rest.split(' ').collect();
            let field = |i: usize| fields[i].parse::<u64>().unwrap();
            (field(11), field(12))
        })
        .fold((0, 0), |(u, s), (du, ds)| (u + du, s + ds));
    let secs = |t: u64| Duration::from_secs_f64(t as f64 / ticks);
    (secs(user), secs(system))
}

/// A process and its children (nginx's master and workers).
pub fn family(pid: u32) -> Vec<u32> {
    let mut pids = vec![pid];
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(child) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{child}/stat")) else {
            continue;
        };
        let rest = &stat[stat.rfind(')').unwrap() + 2..];
        if rest.split(' ').nth(1) == Some(&pid.to_string()) {
            pids.push(child);
        }
    }
    pids
}

/// One proxy's run: throughput, latencies, and its processes' CPU time per request.
#[derive(Debug)]
pub struct Proxied {
    pub rps: f64,
    pub latency: Stats,
    pub cpu_per_request: Duration,
    /// The part of it spent in the kernel.
    pub system_per_request: Duration,
}

/// [`load`] through a proxy whose processes are `pids`.
pub async fn load_proxy(
    pids: &[u32],
    target: Target,
    host: &str,
    path: &str,
    cookie: Option<&str>,
    secs: u64,
) -> Proxied {
    let (user_before, system_before) = cpu_time(pids);
    let (rps, latency) = load(target, host, path, cookie, secs).await;
    let (user, system) = cpu_time(pids);
    let requests = (rps * secs as f64).max(1.0);
    let system = system.saturating_sub(system_before);
    Proxied {
        rps,
        latency,
        cpu_per_request: (user.saturating_sub(user_before) + system).div_f64(requests),
        system_per_request: system.div_f64(requests),
    }
}

/// nginx as a static server of `{PREFIX}/www` on `127.0.0.1:{PORT}`, answering the
/// Streamlit health check the supervisor waits for; one worker, like the front nginx.
pub const STATIC_CONF: &str = "worker_processes 1;\npid {PREFIX}/nginx.pid;\nevents { worker_connections 1024; }\n\
http {\n  access_log off;\n  sendfile on;\n  client_body_temp_path {PREFIX}/body;\n  proxy_temp_path {PREFIX}/proxy;\n\
  fastcgi_temp_path {PREFIX}/fastcgi;\n  uwsgi_temp_path {PREFIX}/uwsgi;\n  scgi_temp_path {PREFIX}/scgi;\n\
  server {\n    listen 127.0.0.1:{PORT};\n    root {PREFIX}/www;\n    location = /_stcore/health { return 200 \"ok\"; }\n  }\n}\n";

/// Deploys the static upstream app, waits for its build, opens it (a cold start: a warm
/// sandbox's Streamlit is already imported, so an app with its own `streamlit` never
/// takes one) until the file answers through its origin; returns its id and view cookie.
pub async fn static_app(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    project: &str,
    apps_addr: &str,
) -> (String, String) {
    let mut zipped = std::io::Cursor::new(Vec::new());
    {
        let mut zip = zip::ZipWriter::new(&mut zipped);
        let options = zip::write::SimpleFileOptions::default();
        let main = STATIC_MAIN.replace("{CONF}", STATIC_CONF);
        for (name, text) in [
            ("app.py", APP),
            ("streamlit/__init__.py", ""),
            ("streamlit/__main__.py", main.as_str()),
        ] {
            zip.start_file(name, options).unwrap();
            std::io::Write::write_all(&mut zip, text.as_bytes()).unwrap();
        }
        zip.finish().unwrap();
    }
    let form = reqwest::multipart::Form::new().text("name", "Static").part(
        "file",
        reqwest::multipart::Part::bytes(zipped.into_inner())
            .file_name("static.zip")
            .mime_str("application/zip")
            .unwrap(),
    );
    let created = client
        .post(format!("{base}/api/v1/projects/{project}/apps"))
        .bearer_auth(token)
        .multipart(form)
        .send()
        .await
        .unwrap();
    let app: Value = created.json().await.unwrap();
    let id = app["id"]
        .as_str()
        .unwrap_or_else(|| panic!("the static app was refused: {app}"))
        .to_owned();
    let path = format!("{base}/api/v1/projects/{project}/apps/{id}");
    wait_built(client, &path, token).await;
    let cookie = view_cookie(&path, token, &id, apps_addr).await;
    let client = reqwest::Client::builder()
        .resolve(&format!("{id}.apps.localhost"), apps_addr.parse().unwrap())
        .build()
        .unwrap();
    let origin = format!(
        "http://{id}.apps.localhost:{}",
        apps_addr.rsplit(':').next().unwrap()
    );
    wake(&client, &origin, &cookie, STATIC_ASSET).await;
    (id, cookie)
}

/// Opens the app at `origin` as a viewer with `cookie`, which wakes it, then waits
/// until `asset` answers there.
pub async fn wake(client: &reqwest::Client, origin: &str, cookie: &str, asset: &str) {
    client
        .get(format!("{origin}/"))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    wait_ok(
        client,
        &format!("{origin}{asset}"),
        Some(cookie),
        Duration::from_secs(120),
    )
    .await;
}

/// Registers the benchmark's account on the platform at `base` and makes it a project;
/// returns the account's token and the project's id.
pub async fn account_and_project(client: &reqwest::Client, base: &str) -> (String, String) {
    let account: Value = client
        .post(format!("{base}/api/v1/auth/register"))
        .json(&serde_json::json!({"email": "bench@example.com", "password": "a long enough passphrase", "name": "Bench"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = account["token"].as_str().unwrap().to_owned();
    let project: Value = client
        .post(format!("{base}/api/v1/projects"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"name": "Bench"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    (token, project["id"].as_str().unwrap().to_owned())
}

/// Waits until the app at API `path` has its first version built and active (the base
/// environment may be built first).
pub async fn wait_built(client: &reqwest::Client, path: &str, token: &str) {
    let started = Instant::now();
    loop {
        let app: Value = client
            .get(path)
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if app["active_version"] == 1 {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(900),
            "the app's build did not finish: {app}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A view cookie (`name=value`) for app `id` at API `path`, redeemed on its origin,
/// which `apps_addr` serves.
pub async fn view_cookie(path: &str, token: &str, id: &str, apps_addr: &str) -> String {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .resolve(&format!("{id}.apps.localhost"), apps_addr.parse().unwrap())
        .build()
        .unwrap();
    let ticket: Value = client
        .post(format!("{path}/view-ticket"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let resp = client
        .get(ticket["url"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    resp.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned()
}
