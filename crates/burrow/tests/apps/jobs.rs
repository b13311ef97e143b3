//! Transform jobs against a real `burrow serve`: real runc sandboxes, real pandas, the
//! durable queue, and project tables written as new versions only when a job succeeds.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::harness::{Server, NO_WARM_APPS};

/// The sample's data lines, after its header line.
fn sample_rows() -> std::str::Lines<'static> {
    let (_header, rows) = burrow_data::SAMPLE_CSV.split_once('\n').unwrap();
    rows.lines()
}

/// Rows of the sample whose units exceed `min`.
fn sample_rows_over(min: i64) -> usize {
    sample_rows()
        .filter(|l| l.split(',').nth(2).unwrap().parse::<i64>().unwrap() > min)
        .count()
}

async fn add_sample(server: &Server, token: &str, project: &str) {
    let resp = server
        .post_json(
            &format!("/api/v1/projects/{project}/tables/sample"),
            token,
            json!({}),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::CREATED);
}

async fn script(server: &Server, token: &str, project: &str, name: &str, source: &str) {
    let resp = server
        .post_json(
            &format!("/api/v1/projects/{project}/scripts"),
            token,
            json!({"name": name, "source": source}),
        )
        .await;
    let status = resp.status();
    assert_eq!(
        status,
        StatusCode::CREATED,
        "{}",
        resp.text().await.unwrap()
    );
}

/// Queues a job and returns its id.
async fn job(server: &Server, token: &str, project: &str, body: Value) -> String {
    let resp = server
        .post_json(&format!("/api/v1/projects/{project}/jobs"), token, body)
        .await;
    let status = resp.status();
    let value: Value = resp.json().await.unwrap();
    assert_eq!(status, StatusCode::CREATED, "{value}");
    assert_eq!(value["status"], "pending");
    value["id"].as_str().unwrap().to_owned()
}

async fn finished(server: &Server, token: &str, project: &str, id: &str) -> Value {
    server
        .wait_for(
            token,
            &format!("/api/v1/projects/{project}/jobs/{id}"),
            |j| !matches!(j["status"].as_str(), Some("pending" | "running")),
        )
        .await
}

/// Waits until no sandbox, runtime container or sandbox process of the server's is left
/// but those of the job runner started ahead (`jobs.keep_warm`): at most one job sandbox,
/// which no job has used, so it printed nothing.
async fn nothing_left(server: &Server) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let ahead = ids(job_sandboxes(server));
        let idle = match ahead.as_slice() {
            [id] if server.sandbox_log_bytes(id) == 0 => Some(id.clone()),
            _ => None,
        };
        let left: Vec<String> = server
            .sandboxes_left()
            .into_iter()
            .filter(|l| idle.as_ref().is_none_or(|id| !l.contains(id.as_str())))
            .collect();
        if left.is_empty() && (ahead.is_empty() || idle.is_some()) {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "left behind: {left:?}, job sandboxes {ahead:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

/// Waits until the one job sandbox there is a runner started ahead that printed nothing,
/// and none of `not`; returns its id.
async fn idle_runner(server: &Server, not: &[String]) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let now = ids(job_sandboxes(server));
        if let [id] = now.as_slice() {
            if !not.contains(id) && server.sandbox_log_bytes(id) == 0 {
                return id.clone();
            }
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no runner started ahead: {now:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// The sandbox ids of `burrow sandbox ps` lines.
fn ids(lines: Vec<String>) -> Vec<String> {
    lines
        .iter()
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .collect()
}

/// Waits until a running job's live log shows `text`.
async fn log_shows(server: &Server, token: &str, project: &str, id: &str, text: &str) {
    let mut log = server
        .api(
            Method::GET,
            &format!("/api/v1/projects/{project}/jobs/{id}/log"),
            token,
            None,
        )
        .await;
    let mut seen = String::new();
    while !seen.contains(text) {
        match tokio::time::timeout(std::time::Duration::from_secs(30), log.chunk()).await {
            Ok(Ok(Some(bytes))) => seen.push_str(&String::from_utf8_lossy(&bytes)),
            other => panic!("the log stream ended or stalled: {other:?} after {seen}"),
        }
    }
}

/// The job sandboxes the runtime still knows.
fn job_sandboxes(server: &Server) -> Vec<String> {
    let out = server.cli(&["sandbox", "ps"]);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains("burrow.kind=job"))
        .map(str::to_owned)
        .collect()
}

const FILTER: &str = r#"import pandas as pd

def transform(df):
    print(f'chunk of {len(df)} rows')
    out = df[df['units'] > 60].copy()
    out['double_units'] = out['units'] * 2
    return out
"#;

#[tokio::test]
async fn a_job_transforms_a_table_in_chunks_into_a_new_table() {
    let server = Server::start_with_env(&[NO_WARM_APPS, ("BURROW_JOBS__CHUNK_ROWS", "50")]).await;
    let (owner, project) = {
        let owner = server.account("owner@example.com").await;
        let project = server.project(&owner, "Sales").await;
        (owner, project)
    };
    add_sample(&server, &owner, &project).await;
    script(&server, &owner, &project, "big_days", FILTER).await;

    // "Try it": the first 100 rows before and after, in a sandbox, writing nothing.
    let tried: Value = server
        .post_json(
            &format!("/api/v1/projects/{project}/scripts/try"),
            &owner,
            json!({"source": FILTER, "table": "daily_sales"}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        tried["before"]["rows"].as_array().unwrap().len(),
        100,
        "{tried}"
    );
    let after = &tried["after"];
    assert_eq!(
        after["columns"].as_array().unwrap().last().unwrap()["name"],
        "double_units"
    );
    let first_hundred_over_60 = sample_rows()
        .take(100)
        .filter(|l| l.split(',').nth(2).unwrap().parse::<i64>().unwrap() > 60)
        .count();
    assert_eq!(
        after["rows"].as_array().unwrap().len(),
        first_hundred_over_60
    );
    assert!(
        tried["output"]
            .as_str()
            .unwrap()
            .contains("chunk of 100 rows"),
        "{tried}"
    );
    let broken: Value = server
        .post_json(
            &format!("/api/v1/projects/{project}/scripts/try"),
            &owner,
            json!({"source": "def transform(df):\n    return df['nope']\n", "table": "daily_sales"}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert!(broken["after"].is_null(), "{broken}");
    assert!(
        broken["error"].as_str().unwrap().contains("KeyError"),
        "{broken}"
    );
    assert!(
        broken["traceback"]
            .as_str()
            .unwrap()
            .contains("line 2, in transform"),
        "{broken}"
    );

    // The trials left a job sandbox started ahead (`jobs.keep_warm`, on by default): the
    // job runs in it, and the next one is started for the job after.
    let ahead = idle_runner(&server, &[]).await;
    let id = job(
        &server,
        &owner,
        &project,
        json!({"script": "big_days", "source": "daily_sales", "destination": "big_days"}),
    )
    .await;
    let done = finished(&server, &owner, &project, &id).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    idle_runner(&server, std::slice::from_ref(&ahead)).await;
    // The sandbox started ahead served the job, and went with everything of it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while server.sandboxes_left().iter().any(|l| l.contains(&ahead)) {
        assert!(std::time::Instant::now() < deadline, "{ahead} is left");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let expected = sample_rows_over(60);
    assert!(expected > 0 && expected < 120);
    assert_eq!(done["rows_read"], 120);
    assert_eq!(done["rows_written"], expected as i64);
    // Its sandbox's cgroup says how much memory it used: Python and pandas at least, and
    // within the job's limit.
    let peak = done["peak_memory_bytes"].as_i64().expect("a peak memory");
    assert!(peak > 20 << 20 && peak <= 512 << 20, "{peak}");
    assert_eq!(done["chunks"], 3, "120 rows in chunks of 50: {done}");
    assert!(done["duration_ms"].as_i64().unwrap() > 0);

    // The log shows each chunk, as a live stream that ends with the job's status.
    let log = server
        .client
        .get(format!(
            "{}/api/v1/projects/{project}/jobs/{id}/log",
            server.base
        ))
        .bearer_auth(&owner)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for rows in [50, 50, 20] {
        assert!(log.contains(&format!("chunk of {rows} rows")), "{log}");
    }
    assert!(
        log.contains("event: end") && log.contains("succeeded"),
        "{log}"
    );

    // The new table holds exactly the script's rows, with its new column.
    let table = server
        .get_json(
            &format!("/api/v1/projects/{project}/tables/big_days"),
            &owner,
        )
        .await;
    assert_eq!(table["rows"], expected as i64, "{table}");
    assert_eq!(table["origin"], "job");
    let resp = server
        .post_json(
            &format!("/api/v1/projects/{project}/sql"),
            &owner,
            json!({"sql": "select count(*) as n, min(units) as low, sum(double_units) - 2 * sum(units) as diff from big_days"}),
        )
        .await;
    let result: Value = resp.json().await.unwrap();
    let cell = |i: usize| {
        result["rows"][0][i]
            .to_string()
            .trim_matches('"')
            .to_owned()
    };
    assert_eq!(cell(0), expected.to_string(), "{result}");
    assert!(cell(1).parse::<i64>().unwrap() > 60, "{result}");
    assert_eq!(cell(2), "0", "{result}");

    // Append adds the rows again; replace makes them the table's only rows.
    let again = job(
        &server,
        &owner,
        &project,
        json!({"script": "big_days", "source": "daily_sales", "destination": "big_days", "mode": "append"}),
    )
    .await;
    assert_eq!(
        finished(&server, &owner, &project, &again).await["status"],
        "succeeded"
    );
    let table = server
        .get_json(
            &format!("/api/v1/projects/{project}/tables/big_days"),
            &owner,
        )
        .await;
    assert_eq!(table["rows"], 2 * expected as i64);
    let replace = job(
        &server,
        &owner,
        &project,
        json!({"script": "big_days", "source": "daily_sales", "destination": "big_days", "mode": "replace"}),
    )
    .await;
    assert_eq!(
        finished(&server, &owner, &project, &replace).await["status"],
        "succeeded"
    );
    let table = server
        .get_json(
            &format!("/api/v1/projects/{project}/tables/big_days"),
            &owner,
        )
        .await;
    assert_eq!(table["rows"], expected as i64);

    // A filter that keeps nothing makes an empty table with the result's columns; an
    // integer column that reads as floats in one chunk (a null) stays integer.
    script(
        &server,
        &owner,
        &project,
        "gaps",
        "def transform(df):\n    df = df.copy()\n    if len(df) < 50:\n        df.loc[df.index[0], 'units'] = None\n    return df\n",
    )
    .await;
    script(
        &server,
        &owner,
        &project,
        "nothing",
        "def transform(df):\n    return df[df['units'] < 0]\n",
    )
    .await;
    for (script, destination, rows) in [("gaps", "with_gap", 120), ("nothing", "no_days", 0)] {
        let id = job(
            &server,
            &owner,
            &project,
            json!({"script": script, "source": "daily_sales", "destination": destination}),
        )
        .await;
        let done = finished(&server, &owner, &project, &id).await;
        assert_eq!(done["status"], "succeeded", "{done}");
        let table = server
            .get_json(
                &format!("/api/v1/projects/{project}/tables/{destination}"),
                &owner,
            )
            .await;
        assert_eq!(table["rows"], rows, "{table}");
        assert_eq!(
            table["columns"][2],
            json!({"name": "units", "type": "integer"}),
            "{table}"
        );
    }

    // A table's jobs: those that read or wrote it; filters by status.
    let jobs = server
        .get_json(
            &format!("/api/v1/projects/{project}/jobs?table=big_days"),
            &owner,
        )
        .await;
    assert_eq!(jobs.as_array().unwrap().len(), 3);
    let failed = server
        .get_json(
            &format!("/api/v1/projects/{project}/jobs?status=failed"),
            &owner,
        )
        .await;
    assert_eq!(failed.as_array().unwrap().len(), 0);
    nothing_left(&server).await;
}

#[tokio::test]
async fn jobs_are_checked_before_they_are_queued() {
    let server = Server::start_with_env(&[NO_WARM_APPS]).await;
    let owner = server.account("owner@example.com").await;
    let project = server.project(&owner, "Sales").await;
    let other = server.project(&owner, "Other").await;
    add_sample(&server, &owner, &project).await;
    add_sample(&server, &owner, &other).await;

    // The script check names each problem with its line, and stores nothing.
    let resp = server
        .post_json(
            &format!("/api/v1/projects/{project}/scripts"),
            &owner,
            json!({"name": "bad", "source": "import requests\n\ndef transform(a, b):\n    return a\n"}),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = resp.json().await.unwrap();
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("line 1: job scripts may not import requests"),
        "{body}"
    );
    assert!(
        message.contains("line 3: transform must take exactly one argument"),
        "{body}"
    );
    let scripts = server
        .get_json(&format!("/api/v1/projects/{project}/scripts"), &owner)
        .await;
    assert_eq!(scripts, json!([]));

    script(
        &server,
        &owner,
        &project,
        "same",
        "def transform(df):\n    return df\n",
    )
    .await;
    // A new version keeps the old; a job may pick either.
    let resp = server
        .api(
            Method::PUT,
            &format!("/api/v1/projects/{project}/scripts/same"),
            &owner,
            Some(json!({"source": "def transform(df):\n    return df.head(1)\n"})),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let detail = server
        .get_json(&format!("/api/v1/projects/{project}/scripts/same"), &owner)
        .await;
    assert_eq!(detail["version"], 2);
    assert_eq!(detail["versions"].as_array().unwrap().len(), 2);

    let refused = |body: Value, status: StatusCode, code: &'static str| {
        let server = &server;
        let owner = owner.clone();
        let project = project.clone();
        async move {
            let resp = server
                .post_json(
                    &format!("/api/v1/projects/{project}/jobs"),
                    &owner,
                    body.clone(),
                )
                .await;
            assert_eq!(resp.status(), status, "{body}");
            let value: Value = resp.json().await.unwrap();
            assert_eq!(value["error"]["code"], code, "{value}");
        }
    };
    let base = |destination: &str| json!({"script": "same", "source": "daily_sales", "destination": destination});
    refused(base("../x"), StatusCode::BAD_REQUEST, "invalid_table_name").await;
    refused(base("daily_sales"), StatusCode::CONFLICT, "table_exists").await;
    let mut bad_mode = base("copy");
    bad_mode["mode"] = json!("overwrite");
    refused(bad_mode, StatusCode::UNPROCESSABLE_ENTITY, "invalid_mode").await;
    let mut no_version = base("copy");
    no_version["version"] = json!(9);
    refused(
        no_version,
        StatusCode::NOT_FOUND,
        "script_version_not_found",
    )
    .await;
    let mut missing = base("copy");
    missing["source"] = json!("nothing_here");
    refused(missing, StatusCode::NOT_FOUND, "table_not_found").await;
    refused(
        json!({"script": "nope", "source": "daily_sales", "destination": "copy"}),
        StatusCode::NOT_FOUND,
        "script_not_found",
    )
    .await;

    // Another project's scripts and jobs are not there at all.
    let resp = server
        .post_json(
            &format!("/api/v1/projects/{other}/jobs"),
            &owner,
            json!({"script": "same", "source": "daily_sales", "destination": "copy"}),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);

    // Viewers read jobs but do not run them; strangers see no project.
    let viewer = server.account("viewer@example.com").await;
    let resp = server
        .post_json(
            &format!("/api/v1/projects/{project}/members"),
            &owner,
            json!({"email": "viewer@example.com", "role": "viewer"}),
        )
        .await;
    assert!(resp.status().is_success());
    let resp = server
        .post_json(
            &format!("/api/v1/projects/{project}/jobs"),
            &viewer,
            base("copy"),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let stranger = server.account("stranger@example.com").await;
    let resp = server
        .api(
            Method::GET,
            &format!("/api/v1/projects/{project}/jobs"),
            &stranger,
            None,
        )
        .await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);

    // Version 1 of the script runs as it was: every row, not the first.
    let id = job(&server, &owner, &project, {
        let mut b = base("copy");
        b["version"] = json!(1);
        b
    })
    .await;
    let done = finished(&server, &owner, &project, &id).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(done["rows_written"], 120);
}

/// Each way a job can fail, at once (more than `jobs.max_concurrent`, so some wait):
/// each says why, and the destination keeps its version.
#[tokio::test]
async fn failing_jobs_say_why_and_leave_the_destination_as_it_was() {
    let server = Server::start_with_env(&[
        NO_WARM_APPS,
        ("BURROW_JOBS__CHUNK_ROWS", "50"),
        ("BURROW_JOBS__TIMEOUT_SECS", "20"),
        ("BURROW_JOBS__MEMORY_MB", "256"),
        ("BURROW_JOBS__MAX_OUTPUT_ROWS", "100"),
        ("BURROW_JOBS__MAX_CONCURRENT", "2"),
    ])
    .await;
    let owner = server.account("owner@example.com").await;
    let project = server.project(&owner, "Sales").await;
    add_sample(&server, &owner, &project).await;
    script(&server, &owner, &project, "big_days", FILTER).await;
    let first = job(
        &server,
        &owner,
        &project,
        json!({"script": "big_days", "source": "daily_sales", "destination": "target"}),
    )
    .await;
    assert_eq!(
        finished(&server, &owner, &project, &first).await["status"],
        "succeeded"
    );
    let before = server
        .get_json(&format!("/api/v1/projects/{project}/tables/target"), &owner)
        .await;

    let cases: &[(&str, &str, &str)] = &[
        (
            "raises",
            "def transform(df):\n    return df['no_such_column']\n",
            "transform raised KeyError on chunk 1",
        ),
        (
            "loops",
            "def transform(df):\n    while True:\n        pass\n",
            "killed: timeout after 20 s",
        ),
        (
            "hungry",
            "def transform(df):\n    block = bytearray(2 * 1024 * 1024 * 1024)\n    return df\n",
            "killed: out of memory",
        ),
        (
            "everything",
            "def transform(df):\n    return df\n",
            "the job's output exceeds 100 rows",
        ),
        (
            "shifty",
            "def transform(df):\n    df = df.copy()\n    df['units'] = df['units'].astype(str) if len(df) < 50 else df['units']\n    return df\n",
            "chunk 3's result has other columns or types than the first chunk's",
        ),
        (
            "chatty",
            "import math\n\ndef transform(df):\n    line = 'x' * 999\n    for _ in range(100_000):\n        print(line)\n    return df.head(1)\n",
            "the script printed more than 1024 KiB",
        ),
        (
            // The script check is no wall: a hostile script writes on the runner's socket.
            "forger",
            "def transform(df):\n    gc, socket = __import__('gc'), __import__('socket')\n    for o in gc.get_objects():\n        if isinstance(o, socket.socket):\n            o.sendall(b'B' + (4).to_bytes(4, 'big') + b'junk')\n    return df\n",
            "the result of chunk 1 is not a valid Arrow stream",
        ),
        (
            "flooder",
            "def transform(df):\n    gc, socket = __import__('gc'), __import__('socket')\n    for o in gc.get_objects():\n        if isinstance(o, socket.socket):\n            o.sendall(b'B' + (2**31).to_bytes(4, 'big'))\n    return df\n",
            "a chunk's result is larger than 256 MiB",
        ),
        (
            // A forged "done" before the chunk's result would pass a partial result.
            "quitter",
            "def transform(df):\n    gc, socket = __import__('gc'), __import__('socket')\n    for o in gc.get_objects():\n        if isinstance(o, socket.socket):\n            o.sendall(b'D' + (0).to_bytes(4, 'big'))\n    return df\n",
            "said it was done before every chunk was transformed",
        ),
        (
            "halves",
            "def transform(df):\n    df = df.copy()\n    if len(df) < 50:\n        df['units'] = df['units'] / 2\n    return df.head(10)\n",
            "but the first chunk made it an integer column",
        ),
        (
            "not_a_frame",
            "def transform(df):\n    return 42\n",
            "transform returned int on chunk 1, not a pandas DataFrame",
        ),
    ];
    let mut ids = Vec::new();
    for (name, source, _) in cases {
        script(&server, &owner, &project, name, source).await;
        ids.push(
            job(
                &server,
                &owner,
                &project,
                json!({"script": name, "source": "daily_sales", "destination": "target", "mode": "replace"}),
            )
            .await,
        );
    }
    let mut most_running = 0;
    loop {
        let jobs = server
            .get_json(
                &format!("/api/v1/projects/{project}/jobs?status=running"),
                &owner,
            )
            .await;
        most_running = most_running.max(jobs.as_array().unwrap().len());
        let open = server
            .get_json(
                &format!("/api/v1/projects/{project}/jobs?status=pending"),
                &owner,
            )
            .await;
        if jobs.as_array().unwrap().is_empty() && open.as_array().unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert!(
        most_running <= 2,
        "at most jobs.max_concurrent run at once: {most_running}"
    );
    for ((name, _, why), id) in cases.iter().zip(&ids) {
        let done = finished(&server, &owner, &project, id).await;
        assert_eq!(done["status"], "failed", "{name}: {done}");
        let error = done["error"].as_str().unwrap();
        assert!(error.contains(why), "{name}: {error}");
    }
    let raised = finished(&server, &owner, &project, &ids[0]).await;
    let traceback = raised["traceback"].as_str().unwrap();
    assert!(
        traceback.contains("script.py\", line 2, in transform"),
        "{traceback}"
    );
    assert!(
        !traceback.contains("_job.py"),
        "only the script's frames: {traceback}"
    );

    let after = server
        .get_json(&format!("/api/v1/projects/{project}/tables/target"), &owner)
        .await;
    assert_eq!(before["version"], after["version"], "{after}");
    assert_eq!(before["rows"], after["rows"]);
    nothing_left(&server).await;
}

#[tokio::test]
async fn a_cancelled_or_orphaned_job_leaves_nothing_behind() {
    let mut server = Server::start_with_env(&[
        NO_WARM_APPS,
        ("BURROW_JOBS__TIMEOUT_SECS", "300"),
        ("BURROW_QUEUE__LEASE_SECS", "2"),
        ("BURROW_JOBS__MAX_ATTEMPTS", "2"),
    ])
    .await;
    let owner = server.account("owner@example.com").await;
    let project = server.project(&owner, "Sales").await;
    add_sample(&server, &owner, &project).await;
    script(
        &server,
        &owner,
        &project,
        "slow",
        "def transform(df):\n    print('working on', len(df), 'rows')\n    while True:\n        pass\n",
    )
    .await;
    let body = json!({"script": "slow", "source": "daily_sales", "destination": "never"});

    // Cancel mid-run: the sandbox goes, the destination never appears.
    let id = job(&server, &owner, &project, body.clone()).await;
    server
        .wait_for(
            &owner,
            &format!("/api/v1/projects/{project}/jobs/{id}"),
            |j| j["status"] == "running",
        )
        .await;
    while job_sandboxes(&server).is_empty() {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    // What the script printed reaches the live log while its chunk is still running.
    log_shows(&server, &owner, &project, &id, "working on 120 rows").await;
    let resp = server
        .post_json(
            &format!("/api/v1/projects/{project}/jobs/{id}/cancel"),
            &owner,
            json!({}),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let cancelled = finished(&server, &owner, &project, &id).await;
    assert_eq!(cancelled["status"], "cancelled");
    assert_eq!(cancelled["error"], "cancelled by owner");
    nothing_left(&server).await;
    let resp = server
        .post_json(
            &format!("/api/v1/projects/{project}/jobs/{id}/cancel"),
            &owner,
            json!({}),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::CONFLICT);

    // `kill -9` of serve mid-job: after a restart its sandbox goes and, with an attempt
    // left (jobs.max_attempts = 2), the job runs again from the start in a new one.
    let id = job(&server, &owner, &project, body).await;
    log_shows(&server, &owner, &project, &id, "working on 120 rows").await;
    let first_run = ids(job_sandboxes(&server));
    server.kill_hard();
    server.spawn().await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let now = ids(job_sandboxes(&server));
        if !now.is_empty() && now.iter().all(|s| !first_run.contains(s)) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no second run: {now:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    log_shows(&server, &owner, &project, &id, "working on 120 rows").await;
    let again: Value = server
        .get_json(&format!("/api/v1/projects/{project}/jobs/{id}"), &owner)
        .await;
    assert_eq!(again["status"], "running", "{again}");
    // Its attempts used up, the next `kill -9` ends it failed.
    server.kill_hard();
    server.spawn().await;
    let orphaned = finished(&server, &owner, &project, &id).await;
    assert_eq!(orphaned["status"], "failed", "{orphaned}");
    assert!(
        orphaned["error"]
            .as_str()
            .unwrap()
            .contains("worker ended without finishing it"),
        "{orphaned}"
    );
    nothing_left(&server).await;
    let resp = server
        .api(
            Method::GET,
            &format!("/api/v1/projects/{project}/tables/never"),
            &owner,
            None,
        )
        .await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
}

/// A job reads a table of an external PostgreSQL source in chunks and writes a table of
/// a source marked as a job destination: the destination changes in one transaction at
/// the end, or not at all, and no temporary table stays behind.
#[tokio::test]
async fn a_job_reads_and_writes_tables_of_a_postgresql_source() {
    let warehouse = burrow_testkit::warehouse::Warehouse::create().await;
    warehouse
        .admin_sql(&format!(
            "CREATE TABLE public.orders (id integer PRIMARY KEY, units integer, region text); \
             INSERT INTO public.orders SELECT i, i % 100, CASE WHEN i % 2 = 0 THEN 'north' \
               ELSE 'south' END FROM generate_series(1, 130) AS i; \
             GRANT SELECT ON public.orders TO {r}; \
             CREATE SCHEMA results AUTHORIZATION {w}; \
             GRANT USAGE ON SCHEMA public TO {w}; \
             GRANT SELECT ON public.orders TO {w};",
            r = warehouse.reader,
            w = warehouse.writer,
        ))
        .await;
    let big = (1..=130).filter(|i| i % 100 > 60).count() as i64;
    let server = Server::start_with_env(&[NO_WARM_APPS, ("BURROW_JOBS__CHUNK_ROWS", "50")]).await;
    let owner = server.account("owner@example.com").await;
    let project = server.project(&owner, "Sales").await;
    let sources = format!("/api/v1/projects/{project}/sources");
    let resp = server
        .post_json(&sources, &owner, warehouse.source_json("warehouse"))
        .await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let mut results = warehouse.source_json("results");
    results["user"] = json!(warehouse.writer);
    results["password"] = json!("writer-pw");
    results["destination"] = json!(true);
    let resp = server.post_json(&sources, &owner, results).await;
    assert_eq!(
        resp.status(),
        StatusCode::CREATED,
        "{}",
        resp.text().await.unwrap()
    );
    script(&server, &owner, &project, "big_days", FILTER).await;
    let from_source = |destination: &str, mode: &str| {
        json!({"script": "big_days", "source": "public.orders", "source_database": "warehouse",
               "destination": destination, "destination_database": "results", "mode": mode})
    };
    let count = |sql: &'static str| {
        let warehouse = &warehouse;
        async move {
            let mut admin = warehouse.admin().await;
            let n: i64 = sqlx::query_scalar(sql).fetch_one(&mut admin).await.unwrap();
            n
        }
    };
    const COUNT: &str = "SELECT count(*) FROM results.big_orders";
    const STAGING_LEFT: &str = "SELECT count(*) FROM pg_class WHERE relname = 'burrow_job_result'";
    // A writer's temporary table goes with its session, which PostgreSQL ends a moment
    // after the connection closes.
    let no_staging_left = || async move {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while count(STAGING_LEFT).await != 0 {
            assert!(
                std::time::Instant::now() < deadline,
                "a job's staging table outlived its session"
            );
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    };

    // Checked before queuing: a source that is no destination, a table it cannot read,
    // a name that is no table.
    let jobs = format!("/api/v1/projects/{project}/jobs");
    let mut wrong = from_source("results.big_orders", "create");
    wrong["destination_database"] = json!("warehouse");
    let resp = server.post_json(&jobs, &owner, wrong).await;
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(resp.text().await.unwrap().contains("not_a_destination"));
    let mut wrong = from_source("results.big_orders", "create");
    wrong["source"] = json!("public.missing");
    let resp = server.post_json(&jobs, &owner, wrong).await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    for name in ["../x", "pg_temp.big_orders"] {
        let resp = server
            .post_json(&jobs, &owner, from_source(name, "create"))
            .await;
        assert!(resp.status().is_client_error(), "{name}");
        assert!(
            resp.text().await.unwrap().contains("invalid_table_name"),
            "{name}"
        );
    }

    // Source table to project table, in chunks.
    let mut into_project = from_source("big_orders", "create");
    into_project
        .as_object_mut()
        .unwrap()
        .remove("destination_database");
    let id = job(&server, &owner, &project, into_project).await;
    let done = finished(&server, &owner, &project, &id).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(done["rows_read"], 130);
    assert_eq!(done["chunks"], 3);
    assert_eq!(done["rows_written"], big);
    assert_eq!(done["source_database"], "warehouse");

    // Source table to a destination source's table.
    let id = job(
        &server,
        &owner,
        &project,
        from_source("results.big_orders", "create"),
    )
    .await;
    let done = finished(&server, &owner, &project, &id).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(count(COUNT).await, big);
    let mut admin = warehouse.admin().await;
    let types: Vec<(String, String)> = sqlx::query_as(
        "SELECT column_name::text, data_type::text FROM information_schema.columns \
         WHERE table_schema = 'results' AND table_name = 'big_orders' ORDER BY ordinal_position",
    )
    .fetch_all(&mut admin)
    .await
    .unwrap();
    assert_eq!(
        types,
        [
            ("id", "bigint"),
            ("units", "bigint"),
            ("region", "text"),
            ("double_units", "bigint")
        ]
        .map(|(a, b)| (a.to_owned(), b.to_owned()))
    );
    let doubled: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM results.big_orders WHERE double_units = units * 2",
    )
    .fetch_one(&mut admin)
    .await
    .unwrap();
    assert_eq!(doubled, big);
    no_staging_left().await;

    // Create never overwrites; a script that fails midway leaves the table as it was.
    let id = job(
        &server,
        &owner,
        &project,
        from_source("results.big_orders", "create"),
    )
    .await;
    let done = finished(&server, &owner, &project, &id).await;
    assert_eq!(done["status"], "failed");
    assert!(
        done["error"]
            .as_str()
            .unwrap()
            .contains("mode create never overwrites"),
        "{done}"
    );
    script(
        &server,
        &owner,
        &project,
        "breaks",
        "import pandas as pd\n\ndef transform(df):\n    if df['id'].min() > 50:\n        raise ValueError('bad chunk')\n    return df\n",
    )
    .await;
    let mut breaking = from_source("results.big_orders", "replace");
    breaking["script"] = json!("breaks");
    let id = job(&server, &owner, &project, breaking).await;
    let done = finished(&server, &owner, &project, &id).await;
    assert_eq!(done["status"], "failed");
    assert!(
        done["error"].as_str().unwrap().contains("bad chunk"),
        "{done}"
    );
    assert_eq!(count(COUNT).await, big);
    no_staging_left().await;

    // Append adds the rows; replace makes them the result, in one transaction each.
    let id = job(
        &server,
        &owner,
        &project,
        from_source("results.big_orders", "append"),
    )
    .await;
    assert_eq!(
        finished(&server, &owner, &project, &id).await["status"],
        "succeeded"
    );
    assert_eq!(count(COUNT).await, 2 * big);
    let id = job(
        &server,
        &owner,
        &project,
        from_source("results.big_orders", "replace"),
    )
    .await;
    assert_eq!(
        finished(&server, &owner, &project, &id).await["status"],
        "succeeded"
    );
    assert_eq!(count(COUNT).await, big);
    no_staging_left().await;
    nothing_left(&server).await;
}
