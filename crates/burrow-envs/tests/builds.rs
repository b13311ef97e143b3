//! Environment builds against the real package index, with real uv, over SQLite and PostgreSQL.

// The tests run the built interpreters to check what they hold.
#![allow(clippy::disallowed_methods)]

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use burrow_config::{BlobConfig, Config};
use burrow_envs::{BuildLog, Builds, Environments};
use burrow_store::{Build, BuildStatus, Store};
use burrow_testkit::{Db, PgDatabase};

/// Every test builds under the target folder, beside one shared uv cache, so that
/// environments hard-link into the cache and only the first run downloads.
fn fresh_envs() -> (tempfile::TempDir, Environments) {
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let dir = tempfile::Builder::new()
        .prefix("envs-")
        .tempdir_in(tmp)
        .unwrap();
    let envs = Environments::new(
        dir.path().join("envs"),
        tmp.join("uv-cache"),
        PathBuf::from("uv"),
        PathBuf::from("/usr/bin/python3"),
    );
    (dir, envs)
}

struct Harness {
    builds: Builds,
    store: Store,
    url: String,
    blobs: std::sync::Arc<dyn burrow_blobs::ObjectStore>,
    _queue: Aborted,
    _dir: tempfile::TempDir,
    _pg: Option<PgDatabase>,
}

/// The harness's queue, stopped with it.
struct Aborted(tokio::task::JoinHandle<()>);

impl Drop for Aborted {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn harness(db: Db, max_concurrent: usize) -> Harness {
    harness_with(db, max_concurrent, BlobConfig::Memory).await
}

async fn harness_with(db: Db, max_concurrent: usize, blobs: BlobConfig) -> Harness {
    let (dir, envs) = fresh_envs();
    let (store, url, pg) = burrow_testkit::fresh_store(db, dir.path()).await;
    let config = Config {
        blobs,
        ..Config::default()
    };
    let blobs = burrow_blobs::open(&config).unwrap();
    // Builds that need uv run on the durable queue, as in `serve`.
    let queue = burrow_queue::Queue::builder(store.clone());
    let builds = Builds::new(
        store.clone(),
        blobs.clone(),
        envs,
        Duration::from_secs(600),
        queue.waker(),
    );
    let queue = queue
        .handle(
            burrow_envs::ENV_BUILD,
            max_concurrent,
            burrow_envs::BUILD_ATTEMPTS,
            builds.handler(),
        )
        .build();
    Harness {
        builds,
        store,
        url,
        blobs,
        _queue: Aborted(tokio::spawn(queue.run())),
        _dir: dir,
        _pg: pg,
    }
}

impl Harness {
    async fn build(&self, requirements: &str) -> (Build, String) {
        let build = self.builds.submit(requirements, None).await.unwrap();
        assert_eq!(build.status, BuildStatus::Queued);
        let mut log = Vec::new();
        let done = self
            .builds
            .follow(&build.id, |b| log.extend_from_slice(b))
            .await
            .unwrap();
        (done, String::from_utf8(log).unwrap())
    }
}

/// The requirements a validated bundle carries, in the normal form builds take.
async fn bundle_requirements(store: &Store, requirements_txt: &str) -> String {
    let allowlist = burrow_bundle::Allowlist::new(
        store
            .list_packages()
            .await
            .unwrap()
            .iter()
            .map(|p| (p.name.as_str(), p.max_version.as_deref())),
    )
    .unwrap();
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, text) in [
        ("app.py", "import streamlit as st\nst.write('hi')\n"),
        ("requirements.txt", requirements_txt),
    ] {
        zip.start_file(name, zip::write::SimpleFileOptions::default())
            .unwrap();
        std::io::Write::write_all(&mut zip, text.as_bytes()).unwrap();
    }
    let bytes = zip.finish().unwrap().into_inner();
    let bundle =
        burrow_bundle::validate("app.zip", &bytes, &allowlist, &burrow_bundle::Policy::app())
            .unwrap_or_else(|r| panic!("the bundle is valid: {r:?}"));
    burrow_bundle::requirements::render(&bundle.packages)
}

async fn lifecycle(db: Db) {
    let h = harness(db, 2).await;
    let envs = h.builds.environments().clone();
    let base_key = envs.base_key().await.unwrap();

    // The base alone: built once, with its log kept after the build.
    let (build, log) = h.build("").await;
    assert_eq!(build.status, BuildStatus::Succeeded, "{log}");
    assert_eq!(build.environment.as_deref(), Some(base_key.as_str()));
    assert!(build.started_at.is_some() && build.finished_at.is_some());
    assert!(log.contains("Building the base environment"), "{log}");
    assert!(build.log_blob.is_some());
    let base = envs.get(&base_key).unwrap();
    assert!(base.extra.is_none());
    let streamlit = std::process::Command::new(base.base.join("bin/python"))
        .args([
            "-c",
            "import streamlit, pandas; print(streamlit.__version__)",
        ])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&streamlit.stdout).trim(), "1.67.0");

    // Requirements the base meets need no build of their own.
    let wanted = bundle_requirements(&h.store, "pandas>=2\nstreamlit\n").await;
    assert!(envs.find(&wanted).await.is_some());
    let (build, log) = h.build(&wanted).await;
    assert_eq!(build.status, BuildStatus::Succeeded, "{log}");
    assert_eq!(build.environment.as_deref(), Some(base_key.as_str()));
    assert!(log.contains("met by the base environment"), "{log}");
    assert!(!log.contains("$ uv"), "no uv ran: {log}");

    // A version that does not exist fails, naming the package, and keeps its log.
    let (build, log) = h.build("tabulate==99.0\n").await;
    assert_eq!(build.status, BuildStatus::Failed, "{log}");
    let error = build.error.unwrap();
    assert!(error.contains("tabulate==99.0"), "{error}\n{log}");
    assert!(log.contains("tabulate==99.0"), "{log}");
    assert!(build.environment.is_none());

    // One runner at a time: a live claim holds, a stale one is taken over, and only
    // the holder may finish the build.
    let claimed = h.store.insert_build("bld_claimed", "", None).await.unwrap();
    let now = burrow_store::now_ms();
    assert!(h
        .store
        .claim_build(&claimed.id, "run_a", now - 30_000)
        .await
        .unwrap());
    assert!(!h
        .store
        .claim_build(&claimed.id, "run_b", now - 30_000)
        .await
        .unwrap());
    assert!(h
        .store
        .claim_build(&claimed.id, "run_b", now + 1)
        .await
        .unwrap());
    assert!(h
        .store
        .finish_build(&claimed.id, "run_a", Ok("x"), None)
        .await
        .is_err());
    let done = h
        .store
        .finish_build(&claimed.id, "run_b", Ok("x"), None)
        .await
        .unwrap();
    assert_eq!(done.status, BuildStatus::Succeeded);
    assert!(!h
        .store
        .claim_build(&claimed.id, "run_c", now + 60_000)
        .await
        .unwrap());

    // A version's build a restart left queued starts again; a build no version names
    // (a host's own base) is left to its host.
    burrow_testkit::app_in_new_project(&h.store, "ada@example.com", "bld_stranded", "streamlit\n")
        .await;
    let stranded = h.store.get_build("bld_stranded").await.unwrap();
    assert_eq!(stranded.status, BuildStatus::Queued);
    h.store.insert_build("bld_local", "", None).await.unwrap();
    assert_eq!(h.builds.resume().await.unwrap(), 1);
    let done = h.builds.follow(&stranded.id, |_| {}).await.unwrap();
    assert_eq!(done.status, BuildStatus::Succeeded);
    assert!(h.store.unfinished_builds().await.unwrap().is_empty());
    let local = h.store.get_build("bld_local").await.unwrap();
    assert_eq!(local.status, BuildStatus::Queued);
}

#[tokio::test]
async fn lifecycle_sqlite() {
    lifecycle(Db::Sqlite).await
}

#[tokio::test]
async fn lifecycle_postgres() {
    lifecycle(Db::Postgres).await
}

/// A second replica's builds, on the harness's database and blobs, with a folder of its
/// own: it runs no build, and sees none of the harness's local files.
async fn replica(h: &Harness) -> (Builds, tempfile::TempDir) {
    let (dir, envs) = fresh_envs();
    let store = Store::connect(&h.url).await.unwrap();
    // SQLite has no doorbell between processes (here, between the two stores).
    store.set_event_poll(Duration::from_millis(100));
    let waker = burrow_queue::Queue::builder(store.clone()).waker();
    let builds = Builds::new(
        store,
        h.blobs.clone(),
        envs,
        Duration::from_secs(600),
        waker,
    );
    (builds, dir)
}

/// Terminates every PostgreSQL connection that listens for events; how many.
async fn terminate_listeners(url: &str) -> i64 {
    use sqlx::Connection;
    let mut admin = sqlx::PgConnection::connect(url).await.unwrap();
    let (n,): (i64,) = sqlx::query_as(
        "SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity \
         WHERE datname = current_database() AND query LIKE 'LISTEN%'",
    )
    .fetch_one(&mut admin)
    .await
    .unwrap();
    n
}

/// A build followed from a replica that does not run it: the log arrives live, from
/// the segments in the blob store, and whole, with every listening connection cut
/// while it runs. On PostgreSQL the blobs are in a real S3-compatible bucket.
async fn a_build_log_is_followed_live_from_another_replica(db: Db) {
    let bucket = match db {
        Db::Postgres => Some(burrow_testkit::s3::Seaweed::start("builds").await),
        Db::Sqlite => None,
    };
    let blobs = bucket
        .as_ref()
        .map_or(BlobConfig::Memory, |b| b.config(30, 10));
    let h = harness_with(db, 2, blobs).await;
    h.store
        .add_packages(&[("tabulate".into(), None)], None)
        .await
        .unwrap();
    let wanted = bundle_requirements(&h.store, "tabulate\nstreamlit\n").await;
    let (other, _dir) = replica(&h).await;
    let build = h.builds.submit(&wanted, None).await.unwrap();
    let follower = tokio::spawn({
        let (other, id) = (other.clone(), build.id.clone());
        async move {
            let mut chunks = Vec::new();
            let done = other
                .follow(&id, |b| chunks.push(b.to_vec()))
                .await
                .unwrap();
            (done, chunks)
        }
    });
    let mut cut = 0;
    if db == Db::Postgres {
        while !follower.is_finished() {
            cut += terminate_listeners(&h.url).await;
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
    }
    let (done, chunks) = follower.await.unwrap();
    assert_eq!(done.status, BuildStatus::Succeeded, "{:?}", done.error);
    let whole = h.builds.read_log(&build.id, 0).await.unwrap();
    assert!(whole.finished);
    let followed = chunks.concat();
    assert_eq!(
        String::from_utf8_lossy(&followed),
        String::from_utf8_lossy(&whole.bytes),
        "no gap, no duplicate"
    );
    assert!(
        chunks.len() >= 2,
        "some arrived while the build ran, not all at the end: {} pieces",
        chunks.len()
    );
    if db == Db::Postgres {
        assert!(cut > 0, "the listeners were cut while the build ran");
    }
    // The segments went once the whole log was stored.
    assert!(h
        .store
        .log_segments_from(&burrow_envs::log_name(&build.id), 0, 10)
        .await
        .unwrap()
        .is_empty());
    use futures::TryStreamExt;
    let parts = burrow_blobs::BlobPath::from(format!("builds/{}.parts", build.id));
    let left: Vec<_> = h.blobs.list(Some(&parts)).try_collect().await.unwrap();
    assert!(left.is_empty(), "{left:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_build_log_is_followed_live_from_another_replica_sqlite() {
    a_build_log_is_followed_live_from_another_replica(Db::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_build_log_is_followed_live_from_another_replica_postgres() {
    a_build_log_is_followed_live_from_another_replica(Db::Postgres).await
}

#[tokio::test]
async fn an_extra_package_gets_its_own_environment_which_identical_sets_share() {
    let h = harness(Db::Sqlite, 2).await;
    h.store
        .add_packages(&[("tabulate".into(), None)], None)
        .await
        .unwrap();
    let wanted = bundle_requirements(&h.store, "Tabulate\nstreamlit\n").await;
    let envs = h.builds.environments().clone();
    assert!(envs.find(&wanted).await.is_none());

    let build = h.builds.submit(&wanted, None).await.unwrap();
    // The log can be read while the build runs.
    let mut seen_running = false;
    loop {
        let chunk = h.builds.read_log(&build.id, 0).await.unwrap();
        if chunk.finished {
            break;
        }
        seen_running |= !chunk.bytes.is_empty();
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(seen_running, "the log was readable before the build ended");
    let first = h.store.get_build(&build.id).await.unwrap();
    assert_eq!(first.status, BuildStatus::Succeeded, "{:?}", first.error);
    let key = first.environment.unwrap();
    assert!(key.starts_with("env-"), "{key}");
    let env = envs.get(&key).unwrap();
    assert_eq!(env.packages.len(), 1, "only tabulate: {:?}", env.packages);
    assert!(env.packages[0].starts_with("tabulate=="));
    let extra = env.extra.clone().unwrap();
    assert!(extra.join("tabulate").is_dir());
    assert!(!extra.join("streamlit").exists(), "the base is not copied");

    // The overlay stacks over the base.
    let out = std::process::Command::new(env.base.join("bin/python"))
        .env("PYTHONPATH", &extra)
        .args([
            "-c",
            "import tabulate, streamlit; print(tabulate.tabulate([[1]]).strip())",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // The same set again reuses the environment, without resolving.
    let (again, log) = h.build(&wanted).await;
    assert_eq!(again.status, BuildStatus::Succeeded);
    assert_eq!(again.environment.as_deref(), Some(key.as_str()));
    assert!(log.contains("Reusing environment"), "{log}");
    assert!(!log.contains("$ uv"), "{log}");
    // So does a differently written but equal set that resolves the same.
    let (pinned, log) = h.build(&format!("{}\n", env.packages[0])).await;
    assert_eq!(pinned.environment.as_deref(), Some(key.as_str()), "{log}");
    assert!(log.contains("already has exactly these packages"), "{log}");
}

#[tokio::test]
async fn identical_builds_at_once_share_one_environment() {
    let h = harness(Db::Sqlite, 2).await;
    let (a, b) = tokio::join!(
        h.builds.submit("six\n", None),
        h.builds.submit("six\n", None)
    );
    let a = h.builds.follow(&a.unwrap().id, |_| {}).await.unwrap();
    let b = h.builds.follow(&b.unwrap().id, |_| {}).await.unwrap();
    assert_eq!(a.status, BuildStatus::Succeeded, "{:?}", a.error);
    assert_eq!(b.status, BuildStatus::Succeeded, "{:?}", b.error);
    assert_eq!(a.environment, b.environment);
    assert_eq!(
        h.builds.environments().list().len(),
        2,
        "the base and one overlay"
    );
}

#[tokio::test]
async fn builds_beyond_the_limit_wait_their_turn() {
    let h = harness(Db::Sqlite, 1).await;
    let (base, _) = h.build("").await;
    assert_eq!(base.status, BuildStatus::Succeeded);
    let a = h.builds.submit("tabulate==0.9.0\n", None).await.unwrap();
    let b = h.builds.submit("six\n", None).await.unwrap();
    let a = h.builds.follow(&a.id, |_| {}).await.unwrap();
    let b = h.builds.follow(&b.id, |_| {}).await.unwrap();
    assert_eq!(a.status, BuildStatus::Succeeded, "{:?}", a.error);
    assert_eq!(b.status, BuildStatus::Succeeded, "{:?}", b.error);
    let (first, second) = if a.started_at <= b.started_at {
        (a, b)
    } else {
        (b, a)
    };
    assert!(
        second.started_at.unwrap() >= first.finished_at.unwrap(),
        "one build at a time: {first:?} {second:?}"
    );
}

#[tokio::test]
async fn unused_environments_are_collected_but_not_those_in_use() {
    let (dir, envs) = fresh_envs();
    let mut log = BuildLog::open(&dir.path().join("gc.log")).unwrap();
    let a = envs.build("tabulate==0.9.0\n", &mut log).await.unwrap();
    let b = envs.build("six\n", &mut log).await.unwrap();
    let base = envs.base_key().await.unwrap();

    // Young environments stay.
    let kept = envs
        .gc(Duration::from_secs(3600), &HashSet::new())
        .await
        .unwrap();
    assert!(kept.is_empty(), "{kept:?}");

    let in_use = HashSet::from([a.key.clone()]);
    let deleted = envs.gc(Duration::ZERO, &in_use).await.unwrap();
    assert_eq!(deleted, vec![b.key.clone()]);
    assert!(envs.get(&b.key).is_none());
    assert!(envs.get(&a.key).is_some());
    // Asking for the deleted set again builds it again.
    assert!(envs.find("six\n").await.is_none());

    let deleted = envs.gc(Duration::ZERO, &HashSet::new()).await.unwrap();
    assert_eq!(deleted, vec![a.key.clone()]);
    assert!(envs.get(&base).is_some(), "the current base stays");
}
