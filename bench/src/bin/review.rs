//! Review: what submitting a workspace costs, against reading the same workspace, in one run.
//!
//! A workspace of 300 files (280 text files of 4 KB, kept in the database, and 20 binary
//! files of 100 KB, kept as blobs) is submitted, then resubmitted ROUNDS times with one
//! text file and one binary file changed each time.
//!
//! - **Submit**: `POST …/submissions` against the baseline `GET …/download` (every file
//!   read and zipped), medians.
//! - **Diff**: `GET …/submissions/{s}/diff` of the last submission against the one before
//!   (every text file whole, one changed), against the same baseline.
//! - **Storage**: the bytes of the project's content blobs after every submission, against
//!   what keeping each submission's binary files whole would take.
//!
//! Usage: `cargo run --release -p burrow-bench --bin review [ROUNDS]` as root (`make bench`
//! runs it). Goals: a submission at most 2× a download, its diff at most 2× a download,
//! and the blobs of N submissions at most 1/N + 10% of copying each one's.

#![allow(clippy::disallowed_methods)]

use std::path::Path;
use std::time::{Duration, Instant};

use burrow_bench::data::Setup;
use burrow_bench::{ms, Stats};
use serde_json::json;

const TEXT_FILES: usize = 280;
const BINARY_FILES: usize = 20;
const BINARY_BYTES: usize = 100_000;

fn text_file(i: usize, round: usize) -> String {
    (0..100)
        .map(|line| format!("value_{i}_{line} = {} + {round}\n", line * 7))
        .collect::<String>()
        .chars()
        .take(4096)
        .collect()
}

fn binary_file(i: usize, round: usize) -> Vec<u8> {
    let mut bytes = vec![0u8; BINARY_BYTES];
    for (k, b) in bytes.iter_mut().enumerate() {
        *b = ((k * 31 + i * 7 + round * 13) % 251) as u8;
    }
    bytes
}

/// The bytes of every file under `dir`.
fn bytes_under(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| {
            let meta = e.metadata().unwrap();
            if meta.is_dir() {
                bytes_under(&e.path())
            } else {
                meta.len()
            }
        })
        .sum()
}

#[tokio::main]
async fn main() {
    let rounds: usize = std::env::args()
        .nth(1)
        .map(|n| n.parse().expect("ROUNDS is a number"))
        .unwrap_or(10);
    let setup = Setup::base();
    let (served, ws) = burrow_bench::data::serve_workspace(&setup).await;
    let project = served.project.clone();
    let p = format!("/api/v1/projects/{project}");
    let put = |path: String, body: Vec<u8>| {
        let served = &served;
        let ws = &ws;
        async move {
            let resp = served
                .client
                .put(format!("{}{ws}/file", served.base))
                .query(&[("path", path)])
                .bearer_auth(&served.token)
                .header("If-Match", "*")
                .body(body)
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), 200);
        }
    };
    for i in 0..TEXT_FILES {
        put(format!("src/m{i}.py"), text_file(i, 0).into_bytes()).await;
    }
    for i in 0..BINARY_FILES {
        put(format!("data/d{i}.bin"), binary_file(i, 0)).await;
    }
    let total = TEXT_FILES * 4096 + BINARY_FILES * BINARY_BYTES;
    println!(
        "workspace: {} files, {:.1} MB",
        TEXT_FILES + BINARY_FILES,
        total as f64 / 1e6
    );

    let mut downloads: Vec<Duration> = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        let resp = served
            .client
            .get(format!("{}{ws}/download", served.base))
            .bearer_auth(&served.token)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        resp.bytes().await.unwrap();
        downloads.push(t.elapsed());
    }
    let download = Stats::of(&mut downloads);

    let contents = setup
        .dir
        .path()
        .join("blobs/workspaces")
        .join(&project)
        .join("contents");
    let mut submits: Vec<Duration> = Vec::new();
    let mut ids = Vec::new();
    for round in 0..=rounds {
        if round > 0 {
            let i = round % TEXT_FILES;
            put(format!("src/m{i}.py"), text_file(i, round).into_bytes()).await;
            let i = round % BINARY_FILES;
            put(format!("data/d{i}.bin"), binary_file(i, round)).await;
        }
        let t = Instant::now();
        let made = served
            .call(
                reqwest::Method::POST,
                &format!("{ws}/submissions"),
                Some(json!({"message": format!("round {round}")})),
                201,
            )
            .await;
        submits.push(t.elapsed());
        ids.push(made["id"].as_str().unwrap().to_owned());
    }
    let submit = Stats::of(&mut submits);

    let last = ids.last().unwrap();
    let mut diffs: Vec<Duration> = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        let diff = served
            .call(
                reqwest::Method::GET,
                &format!("{p}/submissions/{last}/diff"),
                None,
                200,
            )
            .await;
        diffs.push(t.elapsed());
        let changed = diff["files"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["status"] != "unchanged")
            .count();
        if rounds > 0 {
            assert_eq!(changed, 2, "one text and one binary file changed");
        }
    }
    let diff = Stats::of(&mut diffs);

    let stored = bytes_under(&contents);
    let copied = ((rounds + 1) * BINARY_FILES * BINARY_BYTES) as u64;
    println!(
        "download (baseline): median {} p99 {}",
        ms(download.median),
        ms(download.p99)
    );
    println!(
        "submit:              median {} p99 {}  = {:.2}× the download",
        ms(submit.median),
        ms(submit.p99),
        submit.median.as_secs_f64() / download.median.as_secs_f64()
    );
    println!(
        "diff:                median {} p99 {}  = {:.2}× the download",
        ms(diff.median),
        ms(diff.p99),
        diff.median.as_secs_f64() / download.median.as_secs_f64()
    );
    println!(
        "storage: {} submissions keep {:.2} MB of blobs; copying each one's binary files \
         would keep {:.2} MB: {:.3}× (1/N = {:.3})",
        rounds + 1,
        stored as f64 / 1e6,
        copied as f64 / 1e6,
        stored as f64 / copied as f64,
        1.0 / (rounds + 1) as f64
    );
}
