//! External PostgreSQL sources against a real server: what "Test connection" says, the
//! user check on save, the password sealed at rest and kept out of every answer,
//! browsing and previews, console queries, and each way out of a read-only query
//! refused or contained.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::{expect_error, json_of, spawn_app_with, Db, TestApp};
use burrow_testkit::warehouse::Warehouse;

async fn spawn(db: Db) -> TestApp {
    spawn_app_with(db, |config| {
        config.data.query_timeout_secs = 2;
        config.data.max_result_rows = 1000;
        config.data.max_result_mb = 16;
        // The test warehouse is on this host's loopback.
        config.data.allow_loopback_sources = true;
    })
    .await
}

/// Every byte of the server's database: the SQLite files, or the PostgreSQL table's rows.
async fn database_bytes(app: &TestApp) -> Vec<u8> {
    match &app.pg {
        None => {
            let mut all = Vec::new();
            for entry in std::fs::read_dir(app.dir.path()).unwrap() {
                let path = entry.unwrap().path();
                if path
                    .file_name()
                    .unwrap()
                    .to_string_lossy()
                    .starts_with("burrow.db")
                {
                    all.extend(std::fs::read(&path).unwrap());
                }
            }
            assert!(!all.is_empty());
            all
        }
        Some(pg) => {
            use sqlx::Connection;
            let mut conn = sqlx::PgConnection::connect(&pg.url).await.unwrap();
            let rows: Vec<(String,)> =
                sqlx::query_as("SELECT row_to_json(d)::text FROM data_sources d")
                    .fetch_all(&mut conn)
                    .await
                    .unwrap();
            assert!(!rows.is_empty());
            rows.into_iter().flat_map(|(r,)| r.into_bytes()).collect()
        }
    }
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

async fn sources_are_checked_before_saving_and_sealed_at_rest(db: Db) {
    let wh = Warehouse::create().await;
    let app = spawn(db).await;
    let owner = app.account("owner@example.com").await;
    let project = app.project(&owner, "Sales").await;
    let base = format!("/api/v1/projects/{project}/sources");
    wh.admin_sql("CREATE EXTENSION dblink").await;

    // dblink is PUBLIC by default: a read-only transaction does not stop its writes.
    let test = |body: Value| {
        let app = &app;
        let token = owner.token.clone();
        let path = format!("{base}/test");
        async move { app.post(&path, Some(&token), body).await }
    };
    let message = expect_error(
        test(wh.source_json("")).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "source_check_failed",
    )
    .await;
    assert!(message.contains("dblink_exec(text,text)"), "{message}");
    assert!(message.contains("REVOKE EXECUTE ON FUNCTION"), "{message}");
    wh.admin_sql(
        "REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA public FROM PUBLIC; \
         CREATE SEQUENCE public.s1",
    )
    .await;
    let checked = json_of(test(wh.source_json("")).await, StatusCode::OK).await;
    assert_eq!(checked["tables"], 1, "{checked}");
    assert!(!checked["server_version"].as_str().unwrap().is_empty());
    assert_eq!(checked["tls"], false);

    // Each failure says what failed.
    let with = |changes: Value| {
        let mut body = wh.source_json("");
        for (k, v) in changes.as_object().unwrap() {
            body[k] = v.clone();
        }
        body
    };
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed_port = closed.local_addr().unwrap().port();
    drop(closed);
    for (changes, expected) in [
        (json!({"port": closed_port}), "nothing accepts connections"),
        (
            json!({"database": "no_such_db"}),
            "there is no database \"no_such_db\"",
        ),
        (json!({"user": "nobody_here"}), "nobody_here"),
        (json!({"tls_mode": "require"}), "TLS"),
    ] {
        let message = expect_error(
            test(with(changes.clone())).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "source_check_failed",
        )
        .await;
        assert!(message.contains(expected), "{changes}: {message}");
    }
    for (changes, field) in [
        (json!({"host": "/var/run/postgresql"}), "host"),
        (json!({"tls_mode": "sometimes"}), "tls_mode"),
        (json!({"password": null}), "password"),
    ] {
        let resp = test(with(changes)).await;
        let body = json_of(resp, StatusCode::BAD_REQUEST).await;
        assert_eq!(body["error"]["field"], field, "{body}");
    }

    // A user that can write is refused, unless the source is a job destination; a
    // superuser never.
    let writer = with(json!({"name": "jobs", "user": wh.writer, "password": "writer-pw"}));
    let message = expect_error(
        app.post(&base, Some(&owner.token), writer.clone()).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "source_check_failed",
    )
    .await;
    assert!(message.contains("public.events"), "{message}");
    assert!(message.contains("job destination"), "{message}");
    let mut destination = writer.clone();
    destination["destination"] = json!(true);
    let jobs = json_of(
        app.post(&base, Some(&owner.token), destination).await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(jobs["destination"], true);
    let mut superuser = with(json!({"name": "admin", "user": "postgres", "password": "x"}));
    superuser["destination"] = json!(true);
    let message = expect_error(
        app.post(&base, Some(&owner.token), superuser).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "source_check_failed",
    )
    .await;
    assert!(message.contains("superuser"), "{message}");

    // Saved: the password never comes back, and is sealed in the database.
    let created = app
        .post(&base, Some(&owner.token), wh.source_json("warehouse"))
        .await;
    let text = created.text().await.unwrap();
    assert!(!text.contains(&wh.reader_password), "{text}");
    let source: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(source["name"], "warehouse");
    assert_eq!(source["user"], wh.reader);
    assert!(source.get("password").is_none());
    let listed = app.get(&base, &owner.token).await.text().await.unwrap();
    assert!(listed.contains("warehouse") && !listed.contains(&wh.reader_password));
    let stored = app.store.get_source(&project, "warehouse").await.unwrap();
    assert!(stored.password_sealed.starts_with("v1:"));
    let bytes = database_bytes(&app).await;
    assert!(contains(&bytes, &stored.password_sealed[..20]));
    assert!(!contains(&bytes, &wh.reader_password));
    let key = app.dir.path().join("keys/data-sources.key");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
        0o600
    );
    expect_error(
        app.post(&base, Some(&owner.token), wh.source_json("warehouse"))
            .await,
        StatusCode::CONFLICT,
        "source_exists",
    )
    .await;

    // A change that fails its check stores nothing; one without a password keeps it.
    let mut change = wh.source_json("warehouse");
    change["tls_mode"] = json!("require");
    expect_error(
        app.request(
            Method::PUT,
            &format!("{base}/warehouse"),
            Some(&owner.token),
            Some(change),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "source_check_failed",
    )
    .await;
    assert_eq!(
        app.store.get_source(&project, "warehouse").await.unwrap(),
        stored
    );
    let mut change = wh.source_json("warehouse");
    change["password"] = Value::Null;
    change["tls_mode"] = json!("prefer");
    let changed = json_of(
        app.request(
            Method::PUT,
            &format!("{base}/warehouse"),
            Some(&owner.token),
            Some(change),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(changed["tls_mode"], "prefer");
    let after = app.store.get_source(&project, "warehouse").await.unwrap();
    assert_eq!(after.password_sealed, stored.password_sealed);
    // Testing a saved source without retyping its password.
    let mut saved = wh.source_json("warehouse");
    saved["password"] = Value::Null;
    saved["tls_mode"] = json!("prefer");
    json_of(test(saved).await, StatusCode::OK).await;

    // Queries run on it.
    let sql = app
        .post(
            &format!("/api/v1/projects/{project}/sql"),
            Some(&owner.token),
            json!({"sql": "select count(*) as n from events", "source": "warehouse"}),
        )
        .await;
    assert_eq!(json_of(sql, StatusCode::OK).await["rows"][0][0], "3");

    // Removed, it is gone for queries as well.
    let resp = app
        .request(
            Method::DELETE,
            &format!("{base}/warehouse"),
            Some(&owner.token),
            None,
        )
        .await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let sql = app
        .post(
            &format!("/api/v1/projects/{project}/sql"),
            Some(&owner.token),
            json!({"sql": "select 1", "source": "warehouse"}),
        )
        .await;
    expect_error(sql, StatusCode::NOT_FOUND, "source_not_found").await;
}

async fn sources_are_browsed_and_queried_read_only(db: Db) {
    let app = spawn(db).await;
    let owner = app.account("owner@example.com").await;
    let project = app.project(&owner, "Sales").await;
    let wh = Warehouse::create().await;
    wh.admin_sql(
        "CREATE EXTENSION dblink; REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA public FROM PUBLIC",
    )
    .await;
    let base = format!("/api/v1/projects/{project}/sources");
    json_of(
        app.post(&base, Some(&owner.token), wh.source_json("warehouse"))
            .await,
        StatusCode::CREATED,
    )
    .await;

    // Browsing: the tables the user may read, their columns, and sorted pages.
    let tables = json_of(
        app.get(&format!("{base}/warehouse/tables"), &owner.token)
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        tables,
        json!([{"schema": "public", "name": "events", "kind": "table", "rows_estimate": 3}])
    );
    let detail = json_of(
        app.get(
            &format!("{base}/warehouse/tables/public/events"),
            &owner.token,
        )
        .await,
        StatusCode::OK,
    )
    .await;
    let types: Vec<&str> = detail["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        [
            "integer",
            "text",
            "numeric(10,2)",
            "timestamp with time zone",
            "boolean",
            "date",
            "text[]"
        ]
    );
    let page = json_of(
        app.get(
            &format!("{base}/warehouse/tables/public/events/rows?sort=amount&order=desc&limit=2"),
            &owner.token,
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(page["rows"].as_array().unwrap().len(), 2);
    assert_eq!(page["rows"][0][0], "2");
    assert_eq!(page["rows"][0][2], "19.99");
    assert_eq!(page["rows"][0][3], "2026-11-02T11:30:00Z");
    assert_eq!(page["rows"][1][6], "{c}", "an array arrives as text");
    expect_error(
        app.get(
            &format!("{base}/warehouse/tables/public/nope/rows"),
            &owner.token,
        )
        .await,
        StatusCode::NOT_FOUND,
        "table_not_found",
    )
    .await;
    expect_error(
        app.get(
            &format!("{base}/warehouse/tables/public/events/rows?sort=nope"),
            &owner.token,
        )
        .await,
        StatusCode::BAD_REQUEST,
        "invalid_sort",
    )
    .await;

    let sql = |statement: &str| {
        let app = &app;
        let token = owner.token.clone();
        let path = format!("/api/v1/projects/{project}/sql");
        let body = json!({"sql": statement, "source": "warehouse"});
        async move { app.post(&path, Some(&token), body).await }
    };
    let result = json_of(
        sql(
            "select kind, sum(amount) as total, min(at) as first from events group by 1 order by 1",
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(result["row_count"], 2);
    assert_eq!(result["rows"][0][0], "purchase");
    assert_eq!(result["rows"][0][1], "25.24");
    assert_eq!(result["rows"][0][2], page["rows"][0][3]);
    assert_eq!(result["columns"][1]["type"], "float");

    // One statement, over the extended protocol: a second is refused by the server.
    let message = expect_error(
        sql("select 1; insert into events (id, kind) values (9, 'x')").await,
        StatusCode::BAD_REQUEST,
        "sql_not_allowed",
    )
    .await;
    assert!(message.contains("one statement"), "{message}");
    for statement in [
        "insert into events (id, kind) values (10, 'x') returning id",
        "copy (select 1) to program 'id'",
        "select lo_import('/etc/passwd')",
        "select dblink_exec('dbname=postgres', 'create table pwned (x int)')",
        "select pg_read_file('/etc/passwd')",
        "set statement_timeout = 0",
    ] {
        let resp = sql(statement).await;
        let status = resp.status();
        let text = resp.text().await.unwrap();
        assert!(
            status == StatusCode::BAD_REQUEST && text.contains("sql_not_allowed"),
            "{statement}: {status} {text}"
        );
    }
    let mut admin = wh.admin().await;
    let (events, pwned): (i64, Option<String>) =
        sqlx::query_as("select (select count(*) from events), to_regclass('public.pwned')::text")
            .fetch_one(&mut admin)
            .await
            .unwrap();
    assert_eq!((events, pwned), (3, None));

    // Nothing a statement sets outlives it: a setting, an advisory lock.
    json_of(
        sql("select set_config('search_path', 'pg_catalog', false), pg_advisory_lock(42)").await,
        StatusCode::OK,
    )
    .await;
    let path = json_of(
        sql("select current_setting('search_path') as p").await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(path["rows"][0][0], "\"$user\", public");
    let (free,): (bool,) = sqlx::query_as("select pg_try_advisory_lock(42)")
        .fetch_one(&mut admin)
        .await
        .unwrap();
    assert!(free, "the lock went with the connection");

    // Time, rows and a huge sort end loudly.
    let message = expect_error(
        sql("select pg_sleep(5) as slept").await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "query_limit",
    )
    .await;
    assert!(message.contains("2 s time limit"), "{message}");
    // The source itself cancelled it: nothing of it runs on.
    let (running,): (i64,) = sqlx::query_as(
        "select count(*) from pg_stat_activity where query like '%pg_sleep(5) as slept%' \
         and pid <> pg_backend_pid()",
    )
    .fetch_one(&mut admin)
    .await
    .unwrap();
    assert_eq!(running, 0);
    // Bytes are capped as well as rows: a hundred values of 1 MB pass 16 MB.
    let message = expect_error(
        sql("select repeat('x', 1000000) from generate_series(1, 100)").await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "query_limit",
    )
    .await;
    assert!(message.contains("exceeds 16 MB"), "{message}");
    let message = expect_error(
        sql("select g from generate_series(1, 5000) g").await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "query_limit",
    )
    .await;
    assert!(message.contains("exceeds 1,000 rows"), "{message}");
    expect_error(
        sql("select g, md5(g::text) from generate_series(1, 100000000) g order by 2 desc limit 5")
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "query_limit",
    )
    .await;
    // A type Burrow does not read says how to read it.
    let message = expect_error(
        sql("select tags from events").await,
        StatusCode::BAD_REQUEST,
        "invalid_query",
    )
    .await;
    assert!(message.contains("\"tags\"::text"), "{message}");
    let message = expect_error(
        sql("select nope from events").await,
        StatusCode::BAD_REQUEST,
        "invalid_query",
    )
    .await;
    assert!(
        message.contains("nope") && message.contains("at character 8"),
        "{message}"
    );
}

async fn sources_are_seen_by_members_and_managed_by_owners(db: Db) {
    let app = spawn(db).await;
    let owner = app.account("owner@example.com").await;
    let editor = app.account("editor@example.com").await;
    let viewer = app.account("viewer@example.com").await;
    let stranger = app.account("stranger@example.com").await;
    let project = app.project(&owner, "Sales").await;
    app.add_member(&owner, &project, &editor.email, "editor")
        .await;
    app.add_member(&owner, &project, &viewer.email, "viewer")
        .await;
    let theirs = app.project(&stranger, "Theirs").await;
    let wh = Warehouse::create().await;
    let base = format!("/api/v1/projects/{project}/sources");
    json_of(
        app.post(&base, Some(&owner.token), wh.source_json("warehouse"))
            .await,
        StatusCode::CREATED,
    )
    .await;

    // Editors and viewers may look, not manage; viewers may not run SQL.
    for who in [&editor, &viewer] {
        assert_eq!(app.get(&base, &who.token).await.status(), StatusCode::OK);
        let rows = app
            .get(
                &format!("{base}/warehouse/tables/public/events/rows"),
                &who.token,
            )
            .await;
        assert_eq!(rows.status(), StatusCode::OK);
        expect_error(
            app.post(&base, Some(&who.token), wh.source_json("other"))
                .await,
            StatusCode::FORBIDDEN,
            "forbidden",
        )
        .await;
        expect_error(
            app.request(
                Method::DELETE,
                &format!("{base}/warehouse"),
                Some(&who.token),
                None,
            )
            .await,
            StatusCode::FORBIDDEN,
            "forbidden",
        )
        .await;
    }
    let sql = json!({"sql": "select 1 as one", "source": "warehouse"});
    let path = format!("/api/v1/projects/{project}/sql");
    assert_eq!(
        app.post(&path, Some(&editor.token), sql.clone())
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        app.post(&path, Some(&viewer.token), sql.clone())
            .await
            .status(),
        StatusCode::FORBIDDEN
    );

    // Another project's source is not there, whoever asks.
    for path in [
        format!("{base}/warehouse"),
        format!("{base}/warehouse/tables"),
        format!("{base}/warehouse/tables/public/events/rows"),
    ] {
        assert_eq!(
            app.get(&path, &stranger.token).await.status(),
            StatusCode::NOT_FOUND,
            "{path}"
        );
    }
    let theirs_sql = app
        .post(
            &format!("/api/v1/projects/{theirs}/sql"),
            Some(&stranger.token),
            sql,
        )
        .await;
    expect_error(theirs_sql, StatusCode::NOT_FOUND, "source_not_found").await;
    // Their own source of the same name is theirs alone: each project reads its own.
    let other = Warehouse::create().await;
    other
        .admin_sql("INSERT INTO public.events (id, kind) VALUES (4, 'refund')")
        .await;
    json_of(
        app.post(
            &format!("/api/v1/projects/{theirs}/sources"),
            Some(&stranger.token),
            other.source_json("warehouse"),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let count = json!({"sql": "select count(*) from events", "source": "warehouse"});
    for (who, project, expected) in [(&owner, &project, "3"), (&stranger, &theirs, "4")] {
        let resp = app
            .post(
                &format!("/api/v1/projects/{project}/sql"),
                Some(&who.token),
                count.clone(),
            )
            .await;
        assert_eq!(json_of(resp, StatusCode::OK).await["rows"][0][0], expected);
    }
    // "test" names the connection test.
    let resp = app
        .post(&base, Some(&owner.token), wh.source_json("test"))
        .await;
    assert_eq!(
        json_of(resp, StatusCode::BAD_REQUEST).await["error"]["field"],
        "name"
    );
}

async fn sources_cannot_be_where_burrow_keeps_its_own(db: Db) {
    // The defaults a person gets: no loopback, no link-local, never Burrow's database.
    let app = spawn_app_with(db, |_| {}).await;
    let owner = app.account("owner@example.com").await;
    let project = app.project(&owner, "Sales").await;
    let wh = Warehouse::create().await;
    let test = format!("/api/v1/projects/{project}/sources/test");
    let message = expect_error(
        app.post(&test, Some(&owner.token), wh.source_json(""))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "source_check_failed",
    )
    .await;
    assert!(message.contains("data.allow_loopback_sources"), "{message}");
    for host in ["169.254.169.254", "0.0.0.0", "fe80::1", "224.0.0.1"] {
        let mut body = wh.source_json("");
        body["host"] = json!(host);
        let message = expect_error(
            app.post(&test, Some(&owner.token), body).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "source_check_failed",
        )
        .await;
        assert!(
            message.contains("link-local, unspecified or multicast"),
            "{host}: {message}"
        );
    }
    if let Some(pg) = &app.pg {
        // Even where loopback is allowed, Burrow's own database is not a source.
        let app = spawn_app_with(db, |config| {
            config.database_url = Some(burrow_config::Secret::new(pg.url.clone()));
            config.data.allow_loopback_sources = true;
        })
        .await;
        let owner = app.account("owner2@example.com").await;
        let project = app.project(&owner, "Sales").await;
        let mut body = wh.source_json("");
        body["database"] = json!(pg.name);
        let message = expect_error(
            app.post(
                &format!("/api/v1/projects/{project}/sources/test"),
                Some(&owner.token),
                body,
            )
            .await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "source_check_failed",
        )
        .await;
        assert!(message.contains("Burrow's own database"), "{message}");
    }
}

async fn a_saved_password_goes_only_where_it_went_before(db: Db) {
    let app = spawn(db).await;
    let owner = app.account("owner@example.com").await;
    let project = app.project(&owner, "Sales").await;
    let wh = Warehouse::create().await;
    let base = format!("/api/v1/projects/{project}/sources");
    json_of(
        app.post(&base, Some(&owner.token), wh.source_json("warehouse"))
            .await,
        StatusCode::CREATED,
    )
    .await;
    let stored = app.store.get_source(&project, "warehouse").await.unwrap();
    for (field, value) in [
        ("host", json!("localhost")),
        ("port", json!(wh.port + 1)),
        ("user", json!(wh.writer)),
        ("tls_mode", json!("disable")),
    ] {
        let mut body = wh.source_json("warehouse");
        body["password"] = Value::Null;
        body["tls_mode"] = json!("prefer");
        app.request(
            Method::PUT,
            &format!("{base}/warehouse"),
            Some(&owner.token),
            Some(body.clone()),
        )
        .await;
        body[field] = value;
        for resp in [
            app.post(&format!("{base}/test"), Some(&owner.token), body.clone())
                .await,
            app.request(
                Method::PUT,
                &format!("{base}/warehouse"),
                Some(&owner.token),
                Some(body.clone()),
            )
            .await,
        ] {
            let body = json_of(resp, StatusCode::BAD_REQUEST).await;
            assert_eq!(body["error"]["field"], "password", "{field}: {body}");
        }
    }
    assert_eq!(
        app.store
            .get_source(&project, "warehouse")
            .await
            .unwrap()
            .password_sealed,
        stored.password_sealed
    );

    // A role that may act as a writer, through membership, is refused as a writer.
    wh.admin_sql(&format!(
        "CREATE ROLE group_{r} NOLOGIN; GRANT INSERT ON public.events TO group_{r}; \
         GRANT group_{r} TO {r}",
        r = wh.reader
    ))
    .await;
    let message = expect_error(
        app.post(
            &format!("{base}/test"),
            Some(&owner.token),
            wh.source_json(""),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "source_check_failed",
    )
    .await;
    assert!(message.contains("public.events"), "{message}");
    // And queries on the saved source stop at once: the check runs at every query.
    let sql = app
        .post(
            &format!("/api/v1/projects/{project}/sql"),
            Some(&owner.token),
            json!({"sql": "select 1", "source": "warehouse"}),
        )
        .await;
    let message = expect_error(sql, StatusCode::BAD_REQUEST, "sql_not_allowed").await;
    assert!(message.contains("can change the database"), "{message}");
}

both_backends!(
    sources_cannot_be_where_burrow_keeps_its_own,
    a_saved_password_goes_only_where_it_went_before,
    sources_are_checked_before_saving_and_sealed_at_rest,
    sources_are_browsed_and_queried_read_only,
    sources_are_seen_by_members_and_managed_by_owners,
);
