//! `burrow.sql()` from inside real sandboxes: an app's (the Table dashboard template) and a
//! plain one, each seeing only its own project's tables, with limits that fail loudly.

use reqwest::StatusCode;
use serde_json::json;

use crate::harness::Server;

/// The running sandboxes of an app.
fn app_sandbox(server: &Server, app_id: &str) -> String {
    let out = server.cli(&["sandbox", "ps"]);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find(|l| l.contains(&format!("burrow.app={app_id}")) && l.contains("running"))
        .and_then(|l| l.split_whitespace().next())
        .expect("the app has a running sandbox")
        .to_owned()
}

/// Runs Python in a running sandbox; returns (exit code, stdout, stderr).
fn python_in(server: &Server, sandbox: &str, code: &str) -> (i32, String, String) {
    let out = server.cli(&[
        "sandbox",
        "exec",
        sandbox,
        "--",
        "/opt/burrow/env/bin/python",
        "-c",
        code,
    ]);
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The sample's units per region, from the CSV itself.
fn units_by_region() -> std::collections::BTreeMap<String, i64> {
    let mut sums = std::collections::BTreeMap::new();
    for line in burrow_data::SAMPLE_CSV.lines().skip(1) {
        let fields: Vec<&str> = line.split(',').collect();
        *sums.entry(fields[1].to_owned()).or_default() += fields[2].parse::<i64>().unwrap();
    }
    sums
}

#[tokio::test]
async fn sandboxes_query_their_own_projects_tables_through_burrow_sql() {
    let server = Server::start().await;
    let owner = server.account("owner@example.com").await;
    let project = server.project(&owner, "Sales").await;
    let other = server.project(&owner, "Secrets").await;
    let resp = server
        .post_json(
            &format!("/api/v1/projects/{project}/tables/sample"),
            &owner,
            json!({}),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    // The other project has a table of its own, which the first project's sandboxes never see.
    let resp = server
        .post_json(
            &format!("/api/v1/projects/{other}/tables/sample"),
            &owner,
            json!({}),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::CREATED);

    // The Table dashboard template deploys (its `import burrow` needs no package) and runs.
    let (id, path) = server
        .deploy_json(&owner, &project, json!({"template": "table-dashboard"}))
        .await;
    let viewer = server.viewer(&owner, &path, &id).await;
    viewer.open_until_running().await;
    let sandbox = app_sandbox(&server, &id);

    let (code, out, err) = python_in(
        &server,
        &sandbox,
        "import burrow, json\n\
         df = burrow.sql('select region, sum(units) as units from daily_sales group by region order by region')\n\
         print(json.dumps(dict(zip(df.region, (int(u) for u in df.units)))))\n\
         print([t['name'] for t in burrow.tables()], burrow.__version__)",
    );
    assert_eq!(code, 0, "{err}");
    let mut lines = out.lines();
    let sums: std::collections::BTreeMap<String, i64> =
        serde_json::from_str(lines.next().unwrap()).unwrap();
    assert_eq!(sums, units_by_region());
    assert_eq!(
        lines.next().unwrap(),
        format!("['daily_sales'] {}", env!("CARGO_PKG_VERSION"))
    );

    // Errors arrive as BurrowError with Burrow's message: a statement that is not a query,
    // a table of another project, and a result past the row cap.
    for (sql, expected) in [
        (
            "insert into daily_sales select * from daily_sales",
            "sql_not_allowed",
        ),
        (
            &format!("select * from '{}'", "/etc/passwd") as &str,
            "invalid_query",
        ),
        (
            "select * from generate_series(1, 1000001)",
            "result exceeds 1,000,000 rows; add a LIMIT or aggregate",
        ),
    ] {
        let (code, out, err) = python_in(
            &server,
            &sandbox,
            &format!(
                "import burrow\ntry:\n    burrow.sql({sql:?})\nexcept burrow.BurrowError as e:\n    print(e.code, '|', e)\n"
            ),
        );
        assert_eq!(code, 0, "{err}");
        assert!(out.contains(expected), "{sql}: {out}");
    }
    // The other project's table is not there under any name.
    let (_, out, _) = python_in(
        &server,
        &sandbox,
        &format!(
            "import burrow\ntry:\n    burrow.sql('select count(*) from daily_sales', source='{other}')\nexcept burrow.BurrowError as e:\n    print(e)\n"
        ),
    );
    assert!(out.contains("no data source"), "{out}");

    // A plain sandbox given the project's data sees the same tables; given the other
    // project, it sees that one's.
    let run = |project: &str| {
        server.cli(&[
            "sandbox",
            "run",
            "--data",
            project,
            "--",
            "python",
            "-c",
            "import burrow; print(len(burrow.sql('select * from daily_sales')))",
        ])
    };
    let out = run(&project);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "120");
    let out = server.cli(&[
        "sandbox",
        "run",
        "--data",
        &project,
        "--",
        "python",
        "-c",
        "import burrow; burrow.sql('select * from nowhere')",
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("burrow.BurrowError") && err.contains("nowhere"),
        "{err}"
    );
}

#[tokio::test]
async fn sandboxes_query_a_data_source_whose_password_stays_out_of_the_logs() {
    let warehouse = burrow_testkit::warehouse::Warehouse::create().await;
    let server = Server::start_logged().await;
    let owner = server.account("owner@example.com").await;
    let project = server.project(&owner, "Sales").await;
    let other = server.project(&owner, "Elsewhere").await;
    let resp = server
        .post_json(
            &format!("/api/v1/projects/{project}/sources"),
            &owner,
            warehouse.source_json("warehouse"),
        )
        .await;
    assert_eq!(
        resp.status(),
        StatusCode::CREATED,
        "{}",
        resp.text().await.unwrap()
    );

    // A plain sandbox of the project reads the source into pandas, with PostgreSQL's types.
    let code = "import burrow\n\
        print(burrow.sources())\n\
        df = burrow.sql('select id, kind, amount, at, ok, day from events order by id', source='warehouse')\n\
        print(list(df.kind), list(df.amount), str(df['at'].dtype), str(df.ok.dtype), len(df))\n\
        try:\n    burrow.sql('insert into events (id, kind) values (7, $$x$$)', source='warehouse')\n\
        except burrow.BurrowError as e:\n    print(e.code)\n";
    let run = |project: &str| {
        server.cli(&[
            "sandbox", "run", "--data", project, "--", "python", "-c", code,
        ])
    };
    let out = run(&project);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The sandbox's host side (here, this command) logs nothing of the password either.
    assert!(!String::from_utf8_lossy(&out.stderr).contains(&warehouse.reader_password));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines[0], "['warehouse']");
    assert_eq!(
        lines[1],
        "['signup', 'purchase', 'purchase'] [0.0, 19.99, 5.25] datetime64[us, UTC] bool 3"
    );
    assert_eq!(lines[2], "sql_not_allowed");
    // Another project's sandbox has no such source.
    let out = run(&other);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no data source named \"warehouse\""));

    // The server logged its work at debug level, and never the password.
    let log = server.log();
    assert!(log.contains("data source added"), "the log is captured");
    assert!(!log.contains(&warehouse.reader_password));
    let key = server.data_dir().join("keys/data-sources.key");
    assert!(key.exists());
    for file in ["burrow.db", "burrow.db-wal"] {
        if let Ok(bytes) = std::fs::read(server.data_dir().join(file)) {
            let password = warehouse.reader_password.as_bytes();
            assert!(
                !bytes.windows(password.len()).any(|w| w == password),
                "{file}"
            );
        }
    }
}
