//! Job scripts and jobs through the API on both database backends: versions, the script
//! check, jobs checked and queued, filters, cancel, and a job whose worker died read as
//! failed. (Running jobs in real sandboxes is the binary's suite: `tests/apps/jobs.rs`.)

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::{expect_error, json_of, spawn_app, Db};

const IDENTITY: &str = "import pandas as pd\n\ndef transform(df):\n    return df\n";

async fn scripts_keep_every_version_and_refuse_what_cannot_run(db: Db) {
    let app = spawn_app(db).await;
    let owner = app.account("owner@example.com").await;
    let project = app.project(&owner, "Sales").await;
    let scripts = format!("/api/v1/projects/{project}/scripts");

    let resp = app
        .post(
            &scripts,
            Some(&owner.token),
            json!({"name": "clean", "source": "import os\nos.system('ls')\n"}),
        )
        .await;
    let message = expect_error(resp, StatusCode::UNPROCESSABLE_ENTITY, "invalid_script").await;
    assert!(
        message.contains("line 1: job scripts may not import os"),
        "{message}"
    );
    assert!(
        message.contains("no top-level function transform(df)"),
        "{message}"
    );
    let resp = app
        .post(
            &scripts,
            Some(&owner.token),
            json!({"name": "Bad Name", "source": IDENTITY}),
        )
        .await;
    expect_error(
        resp,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_script_name",
    )
    .await;
    let listed = json_of(app.get(&scripts, &owner.token).await, StatusCode::OK).await;
    assert_eq!(listed, json!([]), "nothing stored half-way");

    let created = json_of(
        app.post(
            &scripts,
            Some(&owner.token),
            json!({"name": "clean", "source": IDENTITY}),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(created["version"], 1);
    let resp = app
        .post(
            &scripts,
            Some(&owner.token),
            json!({"name": "clean", "source": IDENTITY}),
        )
        .await;
    expect_error(resp, StatusCode::CONFLICT, "script_exists").await;

    let second = "def transform(df):\n    return df.head(10)\n";
    let updated = json_of(
        app.request(
            Method::PUT,
            &format!("{scripts}/clean"),
            Some(&owner.token),
            Some(json!({"source": second})),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(updated["version"], 2);
    assert_eq!(updated["source"], second);
    // A broken version is refused and the newest stays.
    let resp = app
        .request(
            Method::PUT,
            &format!("{scripts}/clean"),
            Some(&owner.token),
            Some(json!({"source": "def transform(df):\n    return (\n"})),
        )
        .await;
    expect_error(resp, StatusCode::UNPROCESSABLE_ENTITY, "invalid_script").await;
    let detail = json_of(
        app.get(&format!("{scripts}/clean"), &owner.token).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(detail["version"], 2);
    let versions: Vec<i64> = detail["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["version"].as_i64().unwrap())
        .collect();
    assert_eq!(versions, vec![2, 1]);
    assert_eq!(detail["versions"][1]["source"], IDENTITY);
    assert_eq!(detail["versions"][0]["created_by"], "owner");

    // Viewers read scripts and do not write them; strangers see no project.
    let viewer = app.account("viewer@example.com").await;
    app.add_member(&owner, &project, "viewer@example.com", "viewer")
        .await;
    json_of(
        app.get(&format!("{scripts}/clean"), &viewer.token).await,
        StatusCode::OK,
    )
    .await;
    let resp = app
        .request(
            Method::PUT,
            &format!("{scripts}/clean"),
            Some(&viewer.token),
            Some(json!({"source": IDENTITY})),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let stranger = app.account("stranger@example.com").await;
    let resp = app.get(&format!("{scripts}/clean"), &stranger.token).await;
    expect_error(resp, StatusCode::NOT_FOUND, "project_not_found").await;
}

async fn jobs_are_queued_listed_and_cancelled(db: Db) {
    let app = spawn_app(db).await;
    let owner = app.account("owner@example.com").await;
    let project = app.project(&owner, "Sales").await;
    let resp = app
        .post(
            &format!("/api/v1/projects/{project}/tables/sample"),
            Some(&owner.token),
            json!({}),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let resp = app
        .post(
            &format!("/api/v1/projects/{project}/scripts"),
            Some(&owner.token),
            json!({"name": "copy", "source": IDENTITY}),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let jobs = format!("/api/v1/projects/{project}/jobs");
    let body = |destination: &str| json!({"script": "copy", "source": "daily_sales", "destination": destination});

    // These tests run no job handler: queued jobs stay pending.
    let first = json_of(
        app.post(&jobs, Some(&owner.token), body("first")).await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(first["status"], "pending");
    assert_eq!(first["mode"], "create");
    assert_eq!(first["script_version"], 1);
    assert_eq!(first["created_by"], "owner");
    let second = json_of(
        app.post(&jobs, Some(&owner.token), body("second")).await,
        StatusCode::CREATED,
    )
    .await;
    let listed = json_of(app.get(&jobs, &owner.token).await, StatusCode::OK).await;
    let ids: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        vec![
            second["id"].as_str().unwrap(),
            first["id"].as_str().unwrap()
        ]
    );
    let by_table = json_of(
        app.get(&format!("{jobs}?table=first"), &owner.token).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(by_table.as_array().unwrap().len(), 1);
    let resp = app
        .get(&format!("{jobs}?status=sleeping"), &owner.token)
        .await;
    expect_error(resp, StatusCode::BAD_REQUEST, "invalid_status").await;

    // Cancel: a pending job ends at once, saying by whom; its task is cancelled too.
    let id = first["id"].as_str().unwrap();
    let cancelled = json_of(
        app.post(
            &format!("{jobs}/{id}/cancel"),
            Some(&owner.token),
            json!({}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(cancelled["status"], "cancelled");
    assert_eq!(cancelled["error"], "cancelled by owner");
    let job = app.store.get_job(&project, id).await.unwrap();
    let task = app
        .store
        .get_task(job.task_id.as_deref().unwrap())
        .await
        .unwrap();
    assert_eq!(task.status.as_str(), "cancelled");
    let resp = app
        .post(
            &format!("{jobs}/{id}/cancel"),
            Some(&owner.token),
            json!({}),
        )
        .await;
    expect_error(resp, StatusCode::CONFLICT, "job_finished").await;
    let only = json_of(
        app.get(&format!("{jobs}?status=cancelled"), &owner.token)
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(only.as_array().unwrap().len(), 1);

    // A job whose worker stopped renewing its claim, with no attempt left, reads failed.
    let second_id = second["id"].as_str().unwrap();
    let now = burrow_store::now_ms();
    let claimed = app
        .store
        .claim_task(&["job.run"], "claim_test", now, now + 1)
        .await
        .unwrap()
        .expect("the job's task is queued");
    assert_eq!(claimed.payload, second_id);
    assert!(app.store.start_job(second_id).await.unwrap());
    let running = json_of(
        app.get(&format!("{jobs}/{second_id}"), &owner.token).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(running["status"], "running");
    app.store.reap_tasks(now + 10).await.unwrap();
    let failed = json_of(
        app.get(&format!("{jobs}/{second_id}"), &owner.token).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(failed["status"], "failed", "{failed}");
    assert!(
        failed["error"]
            .as_str()
            .unwrap()
            .contains("worker ended without finishing it"),
        "{failed}"
    );
    assert!(failed["finished_at"].is_string());

    // Another project's job is not there; a viewer cannot cancel.
    let other = app.project(&owner, "Other").await;
    let resp = app
        .get(
            &format!("/api/v1/projects/{other}/jobs/{second_id}"),
            &owner.token,
        )
        .await;
    expect_error(resp, StatusCode::NOT_FOUND, "job_not_found").await;
    let viewer = app.account("viewer@example.com").await;
    app.add_member(&owner, &project, "viewer@example.com", "viewer")
        .await;
    json_of(app.get(&jobs, &viewer.token).await, StatusCode::OK).await;
    let resp = app
        .post(
            &format!("{jobs}/{second_id}/cancel"),
            Some(&viewer.token),
            json!({}),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
}

/// The swap that ends a job: one transaction with the job's success, refused (changing
/// nothing) when the job was cancelled or the destination is not as the job found it.
async fn a_jobs_result_is_swapped_in_only_as_the_job_expected(db: Db) {
    let app = spawn_app(db).await;
    let owner = app.account("owner@example.com").await;
    let project = app.project(&owner, "Sales").await;
    let resp = app
        .post(
            &format!("/api/v1/projects/{project}/tables/sample"),
            Some(&owner.token),
            json!({}),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let resp = app
        .post(
            &format!("/api/v1/projects/{project}/scripts"),
            Some(&owner.token),
            json!({"name": "copy", "source": IDENTITY}),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let queue = |destination: &'static str| {
        let app = &app;
        let token = owner.token.clone();
        let project = project.clone();
        async move {
            json_of(
                app.post(
                    &format!("/api/v1/projects/{project}/jobs"),
                    Some(&token),
                    json!({"script": "copy", "source": "daily_sales", "destination": destination, "mode": "replace"}),
                )
                .await,
                StatusCode::CREATED,
            )
            .await["id"]
                .as_str()
                .unwrap()
                .to_owned()
        }
    };
    let sample = app.store.get_table(&project, "daily_sales").await.unwrap();
    let progress = burrow_store::JobProgress {
        rows_read: 120,
        rows_written: 120,
        chunks: 1,
        output: "done\n".into(),
        peak_memory_bytes: Some(64 << 20),
    };
    let version = |id: &'static str| burrow_store::NewTableVersion {
        id,
        blob: "tables/x/y/z.parquet",
        columns_json: &sample.columns_json,
        row_count: 120,
        size_bytes: 1,
        origin: "job",
        created_by: &owner.id,
    };
    use burrow_store::{Destination, JobCommit};
    let id = queue("daily_sales").await;
    let commit = |expect, v| {
        let app = &app;
        let (id, project, progress) = (id.clone(), project.clone(), progress.clone());
        async move {
            app.store
                .commit_job_version(
                    &id,
                    &progress,
                    &project,
                    "daily_sales",
                    "tbl_new",
                    expect,
                    &v,
                )
                .await
                .unwrap()
        }
    };
    assert_eq!(
        commit(Destination::Absent, version("tv_a")).await,
        JobCommit::NameTaken
    );
    assert_eq!(
        commit(Destination::Version("tv_not_it"), version("tv_b")).await,
        JobCommit::TableChanged
    );
    let unchanged = app.store.get_table(&project, "daily_sales").await.unwrap();
    assert_eq!(unchanged.version_id, sample.version_id, "nothing swapped");
    let job = app.store.get_job(&project, &id).await.unwrap();
    assert_eq!(job.status, "pending", "nothing recorded");
    assert_eq!(
        commit(Destination::Version(&sample.version_id), version("tv_c")).await,
        JobCommit::Committed
    );
    let swapped = app.store.get_table(&project, "daily_sales").await.unwrap();
    assert_eq!(swapped.version_id, "tv_c");
    let job = app.store.get_job(&project, &id).await.unwrap();
    assert_eq!(
        (job.status.as_str(), job.rows_written, job.output.as_str()),
        ("succeeded", 120, "done\n")
    );

    // A cancelled job's result is not swapped in.
    let cancelled = queue("elsewhere").await;
    json_of(
        app.post(
            &format!("/api/v1/projects/{project}/jobs/{cancelled}/cancel"),
            Some(&owner.token),
            json!({}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    let outcome = app
        .store
        .commit_job_version(
            &cancelled,
            &progress,
            &project,
            "elsewhere",
            "tbl_else",
            Destination::Any,
            &version("tv_d"),
        )
        .await
        .unwrap();
    assert_eq!(outcome, JobCommit::JobClosed);
    assert!(matches!(
        app.store.get_table(&project, "elsewhere").await,
        Err(burrow_store::StoreError::NotFound)
    ));
    // Lists carry no output; the filter reads the reconciled status.
    let listed = app
        .store
        .list_jobs(&project, Some("succeeded"), None, 10)
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].output, "");
}

/// A schedule is checked as its jobs would be, and each tick makes exactly one job
/// however many processes fire it at once; missed ticks run once, not one by one.
async fn schedules_make_one_job_per_tick(db: Db) {
    let app = spawn_app(db).await;
    let owner = app.account("owner@example.com").await;
    let viewer = app.account("viewer@example.com").await;
    let project = app.project(&owner, "Sales").await;
    app.add_member(&owner, &project, "viewer@example.com", "viewer")
        .await;
    let resp = app
        .post(
            &format!("/api/v1/projects/{project}/tables/sample"),
            Some(&owner.token),
            json!({}),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let resp = app
        .post(
            &format!("/api/v1/projects/{project}/scripts"),
            Some(&owner.token),
            json!({"name": "copy", "source": IDENTITY}),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let schedules = format!("/api/v1/projects/{project}/schedules");
    let body = |cron: &str, mode: &str| {
        json!({"script": "copy", "source": "daily_sales", "destination": "nightly",
               "mode": mode, "cron": cron})
    };

    for (cron, why) in [
        ("every day", "is not a cron expression"),
        ("0 0 6 * * *", "seconds and years are not supported"),
        ("61 * * * *", "is not a cron expression"),
        ("0 0 30 2 *", "never comes round"),
    ] {
        let resp = app
            .post(&schedules, Some(&owner.token), body(cron, "replace"))
            .await;
        let message = expect_error(resp, StatusCode::UNPROCESSABLE_ENTITY, "invalid_cron").await;
        assert!(message.contains(why), "{cron}: {message}");
    }
    let resp = app
        .post(&schedules, Some(&owner.token), body("@hourly", "create"))
        .await;
    let message = expect_error(resp, StatusCode::UNPROCESSABLE_ENTITY, "invalid_mode").await;
    assert!(message.contains("use replace or append"), "{message}");
    let mut wrong = body("@hourly", "replace");
    wrong["source"] = json!("missing");
    let resp = app.post(&schedules, Some(&owner.token), wrong).await;
    expect_error(resp, StatusCode::NOT_FOUND, "table_not_found").await;
    let mut wrong = body("@hourly", "replace");
    wrong["destination"] = json!("../x");
    let resp = app.post(&schedules, Some(&owner.token), wrong).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let resp = app
        .post(&schedules, Some(&viewer.token), body("@hourly", "replace"))
        .await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let listed = json_of(app.get(&schedules, &owner.token).await, StatusCode::OK).await;
    assert_eq!(listed, json!([]), "nothing stored half-way");

    let before = burrow_store::now_ms();
    let made = json_of(
        app.post(
            &schedules,
            Some(&owner.token),
            body("*/5 * * * *", "append"),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(made["cron"], "*/5 * * * *");
    assert_eq!(made["last_job_id"], Value::Null);
    let id = made["id"].as_str().unwrap().to_owned();
    let stored = app.store.get_schedule(&project, &id).await.unwrap();
    let first_tick = stored.next_run;
    assert!(first_tick > before && first_tick <= before + 5 * 60_000);
    assert_eq!(
        first_tick % (5 * 60_000),
        0,
        "ticks fall on the minute's fifths"
    );

    // Not due yet: nothing.
    let fired = burrow_service::schedules::fire_due(&app.state, first_tick - 1)
        .await
        .unwrap();
    assert_eq!(fired, 0);
    // Six processes look at once when the tick is due: one job.
    let fired: usize = futures::future::join_all(
        (0..6).map(|_| burrow_service::schedules::fire_due(&app.state, first_tick + 10)),
    )
    .await
    .into_iter()
    .map(Result::unwrap)
    .sum();
    assert_eq!(fired, 1);
    let jobs = json_of(
        app.get(&format!("/api/v1/projects/{project}/jobs"), &owner.token)
            .await,
        StatusCode::OK,
    )
    .await;
    let jobs = jobs.as_array().unwrap();
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0]["schedule_id"], id.as_str());
    assert_eq!(jobs[0]["status"], "pending");
    assert_eq!(jobs[0]["mode"], "append");
    assert_eq!(jobs[0]["created_by"], "owner");
    let job = app
        .store
        .get_job(&project, jobs[0]["id"].as_str().unwrap())
        .await
        .unwrap();
    assert_eq!(job.scheduled_for, Some(first_tick));
    let task = app
        .store
        .get_task(job.task_id.as_deref().unwrap())
        .await
        .unwrap();
    assert_eq!(task.kind, burrow_service::jobs::JOB_RUN);
    assert_eq!(task.payload, job.id);
    let listed = json_of(app.get(&schedules, &viewer.token).await, StatusCode::OK).await;
    assert_eq!(listed[0]["last_job_id"], jobs[0]["id"]);

    // The same tick again: nothing. Hours later: one job for all the missed ticks, and
    // the next tick after that time.
    let fired = burrow_service::schedules::fire_due(&app.state, first_tick + 10)
        .await
        .unwrap();
    assert_eq!(fired, 0);
    let later = first_tick + 3 * 3_600_000 + 1_000;
    let fired = burrow_service::schedules::fire_due(&app.state, later)
        .await
        .unwrap();
    assert_eq!(fired, 1);
    let stored = app.store.get_schedule(&project, &id).await.unwrap();
    assert_eq!(stored.next_run, first_tick + 3 * 3_600_000 + 5 * 60_000);
    assert_eq!(
        app.store
            .list_jobs(&project, None, None, 10)
            .await
            .unwrap()
            .len(),
        2
    );

    // Deleting the schedule keeps its jobs.
    let resp = app
        .request(
            Method::DELETE,
            &format!("{schedules}/{id}"),
            Some(&viewer.token),
            None,
        )
        .await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let resp = app
        .request(
            Method::DELETE,
            &format!("{schedules}/{id}"),
            Some(&owner.token),
            None,
        )
        .await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let resp = app
        .request(
            Method::DELETE,
            &format!("{schedules}/{id}"),
            Some(&owner.token),
            None,
        )
        .await;
    expect_error(resp, StatusCode::NOT_FOUND, "schedule_not_found").await;
    assert_eq!(
        burrow_service::schedules::fire_due(&app.state, later + 3_600_000)
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        app.store
            .list_jobs(&project, None, None, 10)
            .await
            .unwrap()
            .len(),
        2
    );
}

/// A job runs with its creator's right to the project's data: once the creator is no
/// longer an editor, their schedule's next job fails saying why, and touches nothing.
async fn a_schedule_stops_running_for_a_creator_no_longer_an_editor(db: Db) {
    let app = spawn_app(db).await;
    let owner = app.account("owner@example.com").await;
    let editor = app.account("editor@example.com").await;
    let project = app.project(&owner, "Sales").await;
    app.add_member(&owner, &project, "editor@example.com", "editor")
        .await;
    let resp = app
        .post(
            &format!("/api/v1/projects/{project}/tables/sample"),
            Some(&owner.token),
            json!({}),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let resp = app
        .post(
            &format!("/api/v1/projects/{project}/scripts"),
            Some(&editor.token),
            json!({"name": "copy", "source": IDENTITY}),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let made = json_of(
        app.post(
            &format!("/api/v1/projects/{project}/schedules"),
            Some(&editor.token),
            json!({"script": "copy", "source": "daily_sales", "destination": "nightly",
                   "mode": "replace", "cron": "@hourly"}),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let id = made["id"].as_str().unwrap();
    let resp = app
        .request(
            Method::PATCH,
            &format!("/api/v1/projects/{project}/members/{}", editor.id),
            Some(&owner.token),
            Some(json!({"role": "viewer"})),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::OK);

    let tick = app.store.get_schedule(&project, id).await.unwrap().next_run;
    let fired = burrow_service::schedules::fire_due(&app.state, tick + 10)
        .await
        .unwrap();
    assert_eq!(fired, 1);
    let job = app.store.list_jobs(&project, None, None, 10).await.unwrap();
    let job = &job[0];
    let task = app
        .store
        .get_task(job.task_id.as_deref().unwrap())
        .await
        .unwrap();
    burrow_queue::Handler::run(&burrow_service::jobs::JobHandler(app.state.clone()), &task)
        .await
        .unwrap();
    let ran = json_of(
        app.get(
            &format!("/api/v1/projects/{project}/jobs/{}", job.id),
            &owner.token,
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(ran["status"], "failed", "{ran}");
    assert!(
        ran["error"]
            .as_str()
            .unwrap()
            .contains("creator is no longer an editor of this project"),
        "{ran}"
    );
    let resp = app
        .get(
            &format!("/api/v1/projects/{project}/tables/nightly"),
            &owner.token,
        )
        .await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
}

both_backends!(
    a_schedule_stops_running_for_a_creator_no_longer_an_editor,
    a_jobs_result_is_swapped_in_only_as_the_job_expected,
    scripts_keep_every_version_and_refuse_what_cannot_run,
    jobs_are_queued_listed_and_cancelled,
    schedules_make_one_job_per_tick,
);
