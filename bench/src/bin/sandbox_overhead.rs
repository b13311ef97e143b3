//! Sandbox start-up overhead: `python3 -c pass` bare and in a sandbox, in the same run.
//!
//! Usage: `cargo run --release -p burrow-bench --bin sandbox_overhead [RUNS]`
//! (as root, after `cargo build --release --bin burrow`). `BURROW_BIN` names the
//! burrow executable used as the shim; the default is `target/release/burrow`.

// A benchmark starts processes to time them.
#![allow(clippy::disallowed_methods)]

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use burrow_bench::{ms, Stats};
use burrow_sandbox::{LocalOptions, LocalRuntime, LogPolicy, Runtime, SandboxSpec, Status};

fn pss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            l.strip_prefix("Pss:")
                .map(|v| v.trim().trim_end_matches(" kB").trim().parse().unwrap_or(0))
        })
        .unwrap_or(0)
}

fn children_of(pid: u32) -> Vec<u32> {
    std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

#[tokio::main]
async fn main() {
    let runs: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(40);
    let shim = std::env::var("BURROW_BIN").unwrap_or_else(|_| "target/release/burrow".into());
    let shim = std::fs::canonicalize(&shim).unwrap_or_else(|e| {
        panic!("{shim}: {e}: build it with `cargo build --release --bin burrow`")
    });
    let dir = tempfile_dir();
    let runtime = LocalRuntime::new(LocalOptions {
        state_dir: dir.join("sandboxes"),
        runtime_bin: "runc".into(),
        shim_exe: shim.clone(),
        init: "/usr/bin/tini".into(),
        log_policy: LogPolicy::default(),
        volumes: std::sync::Arc::new(burrow_sandbox::HostPathsOnly),
    })
    .expect("this host can run sandboxes (see `burrow sandbox doctor`)");
    let command = vec!["python3".to_owned(), "-c".to_owned(), "pass".to_owned()];

    // Warm up both paths (page cache, Python's imports).
    for _ in 0..3 {
        let _ = Command::new("/usr/bin/python3")
            .args(["-c", "pass"])
            .status();
        let id = runtime
            .create(SandboxSpec::new(command.clone()))
            .await
            .unwrap()
            .id;
        runtime.wait(&id).await.unwrap();
        runtime.remove(&id).await.unwrap();
    }

    let mut bare = Vec::with_capacity(runs);
    let mut sandboxed = Vec::with_capacity(runs);
    let mut cli = Vec::with_capacity(runs);
    for _ in 0..runs {
        let t = Instant::now();
        let status = Command::new("/usr/bin/python3")
            .args(["-c", "pass"])
            .stdin(Stdio::null())
            .status()
            .unwrap();
        bare.push(t.elapsed());
        assert!(status.success());

        let t = Instant::now();
        let id = runtime
            .create(SandboxSpec::new(command.clone()))
            .await
            .unwrap()
            .id;
        let exit = runtime.wait(&id).await.unwrap();
        sandboxed.push(t.elapsed());
        assert_eq!(exit.shell_code(), 0);
        runtime.remove(&id).await.unwrap();

        let t = Instant::now();
        let status = Command::new(&shim)
            .args(["sandbox", "run", "--", "python3", "-c", "pass"])
            .env("BURROW_DATA_DIR", &dir)
            .env("RUST_LOG", "warn")
            .status()
            .unwrap();
        cli.push(t.elapsed());
        assert!(status.success());
    }
    let (b, s, c) = (
        Stats::of(&mut bare),
        Stats::of(&mut sandboxed),
        Stats::of(&mut cli),
    );
    println!("python3 -c pass, {runs} runs each");
    println!("{:<34} {:>10} {:>10}", "", "median", "p95");
    println!("{:<34} {:>10} {:>10}", "bare", ms(b.median), ms(b.p95));
    println!(
        "{:<34} {:>10} {:>10}",
        "sandbox (Runtime::create+wait)",
        ms(s.median),
        ms(s.p95)
    );
    println!(
        "{:<34} {:>10} {:>10}",
        "sandbox (burrow sandbox run)",
        ms(c.median),
        ms(c.p95)
    );
    println!(
        "overhead (median): runtime {} ({:.1}x bare), CLI {} ({:.1}x bare)",
        ms(s.median.saturating_sub(b.median)),
        s.median.as_secs_f64() / b.median.as_secs_f64(),
        ms(c.median.saturating_sub(b.median)),
        c.median.as_secs_f64() / b.median.as_secs_f64(),
    );

    // Memory per idle sandbox beyond its own process: the shim and the init.
    let idle = 10;
    let mut ids = Vec::new();
    for _ in 0..idle {
        ids.push(
            runtime
                .create(SandboxSpec::new(vec!["sleep".into(), "infinity".into()]))
                .await
                .unwrap()
                .id,
        );
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut shim_kib = 0;
    let mut init_kib = 0;
    let mut payload_kib = 0;
    for id in &ids {
        let shim_pid: u32 =
            std::fs::read_to_string(dir.join("sandboxes/sandboxes").join(id).join("shim.pid"))
                .unwrap()
                .trim()
                .parse()
                .unwrap();
        shim_kib += pss_kib(shim_pid);
        for init in children_of(shim_pid) {
            init_kib += pss_kib(init);
            for p in children_of(init) {
                payload_kib += pss_kib(p);
            }
        }
    }
    assert!(runtime
        .list(&BTreeMap::new())
        .await
        .unwrap()
        .iter()
        .all(|s| s.status == Status::Running));
    println!(
        "idle sandbox memory (PSS, mean of {idle}): shim {} KiB + init {} KiB beyond the process itself ({} KiB)",
        shim_kib / idle as u64,
        init_kib / idle as u64,
        payload_kib / idle as u64
    );
    for id in ids {
        runtime.remove(&id).await.unwrap();
    }
    let _ = std::fs::remove_dir_all(&dir);
}

fn tempfile_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("burrow-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    dir
}
