//! Environment builds: a cold one-extra-package build, a cache hit, and plain uv, in the same run.
//!
//! Usage: `cargo run --release -p burrow-bench --bin env_build [ROUNDS]` with `uv` on
//! `PATH` (`make bench` sets it). Each round starts from an empty uv cache in a
//! fresh folder. In that round:
//!
//! 1. the base is built (reported, not compared: it happens once per host);
//! 2. a cold build of the base plus `tabulate`, which is not in the cache yet;
//! 3. the same build again: a cache hit;
//! 4. plain `uv venv` + `uv pip install` of the same set (the base's requirements
//!    plus `tabulate`), as a user without Burrow would run it: once on the
//!    now-warm cache, once on an empty one.
//!
//! Medians over the rounds are printed with their ratio to the cold build.

// A benchmark starts processes to time them.
#![allow(clippy::disallowed_methods)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use burrow_bench::{ms, Stats};
use burrow_envs::{BuildLog, Environments, BASE_IN};

const EXTRA: &str = "tabulate\n";

fn uv(cache: &Path, args: &[&str]) {
    let status = Command::new("uv")
        .env("UV_CACHE_DIR", cache)
        .env("UV_PYTHON_DOWNLOADS", "never")
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("uv runs: put it on PATH (`make deps` installs it in .tools/bin)");
    assert!(status.success(), "uv {args:?} failed");
}

#[tokio::main]
async fn main() {
    let rounds: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    let (mut base, mut cold, mut hit) = (vec![], vec![], vec![]);
    let (mut plain, mut plain_cold) = (vec![], vec![]);
    for round in 1..=rounds {
        let dir = tempfile::Builder::new()
            .prefix("burrow-bench-envs")
            .tempdir_in(std::env::current_dir().unwrap().join("target"))
            .unwrap();
        let cache = dir.path().join("uv-cache");
        let envs = Environments::new(
            dir.path().join("envs"),
            cache.clone(),
            PathBuf::from("uv"),
            PathBuf::from("/usr/bin/python3"),
        );
        let mut log = BuildLog::open(&dir.path().join("build.log")).unwrap();

        let t = Instant::now();
        envs.ensure_base(&mut log).await.expect("the base builds");
        base.push(t.elapsed());

        let t = Instant::now();
        let first = envs.build(EXTRA, &mut log).await.expect("the cold build");
        cold.push(t.elapsed());
        assert!(first.extra.is_some(), "tabulate is beyond the base");

        let t = Instant::now();
        let again = envs.build(EXTRA, &mut log).await.expect("the cache hit");
        hit.push(t.elapsed());
        assert_eq!(again.key, first.key);

        let set = dir.path().join("plain.txt");
        std::fs::write(&set, format!("{BASE_IN}\n{EXTRA}")).unwrap();
        let empty_cache = dir.path().join("empty-cache");
        for (cache, timings, name) in [
            (&cache, &mut plain, "plain-warm"),
            (&empty_cache, &mut plain_cold, "plain-cold"),
        ] {
            let venv = dir.path().join(name);
            let t = Instant::now();
            uv(
                cache,
                &[
                    "venv",
                    "--python",
                    "/usr/bin/python3",
                    venv.to_str().unwrap(),
                ],
            );
            uv(
                cache,
                &[
                    "pip",
                    "install",
                    "--python",
                    venv.join("bin/python").to_str().unwrap(),
                    "-r",
                    set.to_str().unwrap(),
                ],
            );
            timings.push(t.elapsed());
        }
        eprintln!("round {round}/{rounds} done");
    }
    let base = Stats::of(&mut base).median;
    let cold = Stats::of(&mut cold).median;
    let hit = Stats::of(&mut hit).median;
    let plain = Stats::of(&mut plain).median;
    let plain_cold = Stats::of(&mut plain_cold).median;
    let ratio = |d: Duration| d.as_secs_f64() / cold.as_secs_f64();
    println!("environment builds, median of {rounds} rounds (each from an empty uv cache):");
    println!(
        "  cold build, base + tabulate       {:>10}  1.00x",
        ms(cold)
    );
    println!(
        "  cache hit, same requirements      {:>10}  {:.4}x",
        ms(hit),
        ratio(hit)
    );
    println!(
        "  plain uv venv + uv pip install    {:>10}  {:.2}x   (warm cache)",
        ms(plain),
        ratio(plain)
    );
    println!(
        "  plain uv venv + uv pip install    {:>10}  {:.2}x   (empty cache)",
        ms(plain_cold),
        ratio(plain_cold)
    );
    println!(
        "  (the base itself, once per host   {:>10}  {:.2}x)",
        ms(base),
        ratio(base)
    );
}
