//! Project tables: uploads (CSV, Parquet, the sample), type corrections, bad files that
//! store nothing, pages of rows, the SQL console, replacement, deletion and who may see what.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::{expect_error, json_of, spawn_app, Account, Db, TestApp};

const SALES: &str = burrow_data::SAMPLE_CSV;

pub(crate) async fn upload(
    app: &TestApp,
    who: &Account,
    method: Method,
    path: &str,
    fields: &[(&str, &str)],
    file: (&str, Vec<u8>),
) -> reqwest::Response {
    let mut form = reqwest::multipart::Form::new();
    for (k, v) in fields {
        form = form.text(k.to_string(), v.to_string());
    }
    form = form.part(
        "file",
        reqwest::multipart::Part::bytes(file.1).file_name(file.0.to_owned()),
    );
    app.client
        .request(method, format!("{}{path}", app.base))
        .bearer_auth(&who.token)
        .multipart(form)
        .send()
        .await
        .unwrap()
}

/// Every object under the blob store's `tables/` folder.
async fn table_objects(app: &TestApp) -> Vec<String> {
    crate::helpers::blob_objects(app, "tables").await
}

fn types(table: &Value) -> Vec<String> {
    table["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["type"].as_str().unwrap().to_owned())
        .collect()
}

async fn tables_are_made_queried_replaced_and_deleted(db: Db) {
    let app = spawn_app(db).await;
    let owner = app.account("owner@example.com").await;
    let project = app.project(&owner, "Sales").await;
    let base = format!("/api/v1/projects/{project}/tables");

    // The sample: 120 days of sales, typed.
    let sample = json_of(
        app.post(&format!("{base}/sample"), Some(&owner.token), json!({}))
            .await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(sample["name"], "daily_sales");
    assert_eq!(sample["rows"], 120);
    assert_eq!(sample["origin"], "sample");
    assert_eq!(
        types(&sample),
        ["date", "text", "integer", "float", "float"]
    );
    let again = app
        .post(&format!("{base}/sample"), Some(&owner.token), json!({}))
        .await;
    expect_error(again, StatusCode::CONFLICT, "table_exists").await;

    // Inference from the file's start, cut mid-line, for a person to correct.
    let head = SALES.as_bytes()[..250].to_vec();
    let inferred = json_of(
        upload(
            &app,
            &owner,
            Method::POST,
            &format!("{base}/infer"),
            &[],
            ("s.csv", head),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        types(&inferred),
        ["date", "text", "integer", "float", "float"]
    );
    assert_eq!(inferred["rows"][0][1], "West");

    // A corrected type is kept: units as float.
    let corrected = json!([
        {"name": "date", "type": "date"}, {"name": "region", "type": "text"},
        {"name": "units", "type": "float"}, {"name": "price", "type": "float"},
        {"name": "revenue", "type": "float"}
    ])
    .to_string();
    let sales2 = json_of(
        upload(
            &app,
            &owner,
            Method::POST,
            &base,
            &[("name", "sales2"), ("columns", &corrected)],
            ("sales.csv", SALES.as_bytes().to_vec()),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(types(&sales2)[2], "float");

    // Parquet, as other tools write it.
    let parquet = burrow_data::ingest::prepare(
        bytes::Bytes::from_static(SALES.as_bytes()),
        burrow_data::Format::Csv,
        None,
    )
    .unwrap()
    .parquet
    .to_vec();
    let from_parquet = json_of(
        upload(
            &app,
            &owner,
            Method::POST,
            &base,
            &[("name", "from_parquet")],
            ("s.parquet", parquet),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(from_parquet["rows"], 120);

    // Bad files and names are refused whole, and nothing is stored.
    let before = table_objects(&app).await;
    let wrong_type =
        json!([{"name": "a", "type": "integer"}, {"name": "b", "type": "text"}]).to_string();
    let resp = upload(
        &app,
        &owner,
        Method::POST,
        &base,
        &[("name", "bad"), ("columns", &wrong_type)],
        ("bad.csv", b"a,b\n1,x\n2,y\nthree,z\n".to_vec()),
    )
    .await;
    let message = expect_error(resp, StatusCode::BAD_REQUEST, "invalid_table_file").await;
    assert!(
        message.contains("three") && message.contains("line 4"),
        "{message}"
    );
    for (fields, file, code) in [
        (
            vec![("name", "Bad Name")],
            ("x.csv", b"a\n1\n".to_vec()),
            "invalid_table_name",
        ),
        (
            vec![("name", "x")],
            ("x.xlsx", b"a\n1\n".to_vec()),
            "invalid_table_file",
        ),
        (
            vec![("name", "x")],
            ("x.parquet", b"PAR1 nope".to_vec()),
            "invalid_table_file",
        ),
        (
            vec![("name", "x")],
            ("x.csv", Vec::new()),
            "invalid_table_file",
        ),
        (
            vec![
                ("name", "x"),
                ("columns", "[{\"name\":\"a\",\"type\":\"money\"}]"),
            ],
            ("x.csv", b"a\n1\n".to_vec()),
            "invalid_columns",
        ),
    ] {
        let resp = upload(&app, &owner, Method::POST, &base, &fields, file).await;
        expect_error(resp, StatusCode::BAD_REQUEST, code).await;
    }
    let taken = upload(
        &app,
        &owner,
        Method::POST,
        &base,
        &[("name", "sales2")],
        ("s.csv", SALES.as_bytes().to_vec()),
    )
    .await;
    expect_error(taken, StatusCode::CONFLICT, "table_exists").await;
    assert_eq!(
        table_objects(&app).await,
        before,
        "a refused upload stored an object"
    );
    let listed = json_of(app.get(&base, &owner.token).await, StatusCode::OK).await;
    let names: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["daily_sales", "from_parquet", "sales2"]);

    // Pages of rows, sorted by a column.
    let page = json_of(
        app.get(
            &format!("{base}/daily_sales/rows?limit=5&offset=0&sort=revenue&order=desc"),
            &owner.token,
        )
        .await,
        StatusCode::OK,
    )
    .await;
    let revenues: Vec<f64> = page["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r[4].as_str().unwrap().parse().unwrap())
        .collect();
    assert_eq!(revenues.len(), 5);
    assert!(revenues.windows(2).all(|w| w[0] >= w[1]), "{revenues:?}");
    let max: f64 = SALES
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(4).unwrap().parse::<f64>().unwrap())
        .fold(0.0, f64::max);
    assert_eq!(revenues[0], max);
    let next = json_of(
        app.get(
            &format!("{base}/daily_sales/rows?limit=50&offset=100"),
            &owner.token,
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(next["rows"].as_array().unwrap().len(), 20);
    let bad_sort = app
        .get(&format!("{base}/daily_sales/rows?sort=nope"), &owner.token)
        .await;
    expect_error(bad_sort, StatusCode::BAD_REQUEST, "invalid_sort").await;

    // The console: a query over several tables, refusals, and mistakes with their place.
    let sql = format!("/api/v1/projects/{project}/sql");
    let result = json_of(
        app.post(&sql, Some(&owner.token), json!({"sql": "select d.region, sum(d.units) as units, count(p.date) as n \
            from daily_sales d join from_parquet p on p.date = d.date group by d.region order by 1"})).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(result["row_count"], 4);
    assert_eq!(result["columns"][1]["type"], "integer");
    assert_eq!(result["rows"][0][0], "East");
    let refused = app
        .post(
            &sql,
            Some(&owner.token),
            json!({"sql": "insert into daily_sales select * from sales2"}),
        )
        .await;
    expect_error(refused, StatusCode::BAD_REQUEST, "sql_not_allowed").await;
    let mistake = app
        .post(
            &sql,
            Some(&owner.token),
            json!({"sql": "select region\nfrom daily_sales\nwhere units > > 3"}),
        )
        .await;
    let message = expect_error(mistake, StatusCode::BAD_REQUEST, "invalid_query").await;
    assert!(message.contains("Line: 3"), "{message}");

    // Replacing swaps the version; the old object stays until it is past its grace.
    let first = table_objects(&app).await;
    let replaced = json_of(
        upload(
            &app,
            &owner,
            Method::PUT,
            &format!("{base}/daily_sales"),
            &[],
            (
                "new.csv",
                b"date,region,units,price,revenue\n2027-01-01,North,1,2.5,2.5\n".to_vec(),
            ),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(replaced["rows"], 1);
    assert_ne!(replaced["version"], sample["version"]);
    let count = json_of(
        app.post(
            &sql,
            Some(&owner.token),
            json!({"sql": "select count(*) as n from daily_sales"}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(count["rows"][0][0], "1");
    assert_eq!(table_objects(&app).await.len(), first.len() + 1);
    let now = burrow_store::now_ms();
    assert_eq!(
        burrow_service::data::prune(&app.state, now).await.unwrap(),
        0
    );
    let later =
        || burrow_store::now_ms() + burrow_service::data::RETIRED_GRACE.as_millis() as i64 + 1;
    assert_eq!(
        burrow_service::data::prune(&app.state, later())
            .await
            .unwrap(),
        1
    );
    assert_eq!(table_objects(&app).await.len(), first.len());
    let count = json_of(
        app.post(
            &sql,
            Some(&owner.token),
            json!({"sql": "select count(*) as n from daily_sales"}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(count["rows"][0][0], "1");
    let missing = upload(
        &app,
        &owner,
        Method::PUT,
        &format!("{base}/nope"),
        &[],
        ("x.csv", b"a\n1\n".to_vec()),
    )
    .await;
    expect_error(missing, StatusCode::NOT_FOUND, "table_not_found").await;

    // Deleting: gone at once; its objects go after the grace, and a deleted project's too.
    let resp = app
        .request(
            Method::DELETE,
            &format!("{base}/sales2"),
            Some(&owner.token),
            None,
        )
        .await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    expect_error(
        app.get(&format!("{base}/sales2"), &owner.token).await,
        StatusCode::NOT_FOUND,
        "table_not_found",
    )
    .await;
    let gone = app
        .post(
            &sql,
            Some(&owner.token),
            json!({"sql": "select * from sales2"}),
        )
        .await;
    expect_error(gone, StatusCode::BAD_REQUEST, "invalid_query").await;
    assert_eq!(
        burrow_service::data::prune(&app.state, later())
            .await
            .unwrap(),
        1
    );
    let resp = app
        .request(
            Method::DELETE,
            &format!("/api/v1/projects/{project}"),
            Some(&owner.token),
            None,
        )
        .await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        burrow_service::data::prune(&app.state, later())
            .await
            .unwrap(),
        2
    );
    assert!(
        table_objects(&app).await.is_empty(),
        "{:?}",
        table_objects(&app).await
    );
}

async fn tables_are_seen_only_by_members_and_changed_only_by_editors(db: Db) {
    let app = spawn_app(db).await;
    let owner = app.account("owner@example.com").await;
    let viewer = app.account("viewer@example.com").await;
    let stranger = app.account("stranger@example.com").await;
    let project = app.project(&owner, "Sales").await;
    let other = app.project(&stranger, "Other").await;
    app.add_member(&owner, &project, &viewer.email, "viewer")
        .await;
    let base = format!("/api/v1/projects/{project}/tables");
    app.post(&format!("{base}/sample"), Some(&owner.token), json!({}))
        .await;
    app.post(
        &format!("/api/v1/projects/{other}/tables/sample"),
        Some(&stranger.token),
        json!({}),
    )
    .await;

    // A viewer sees the tables and their rows, and changes nothing.
    assert_eq!(
        json_of(app.get(&base, &viewer.token).await, StatusCode::OK)
            .await
            .as_array()
            .unwrap()
            .len(),
        1
    );
    json_of(
        app.get(&format!("{base}/daily_sales/rows"), &viewer.token)
            .await,
        StatusCode::OK,
    )
    .await;
    for resp in [
        app.post(&format!("{base}/sample"), Some(&viewer.token), json!({}))
            .await,
        app.post(
            &format!("/api/v1/projects/{project}/sql"),
            Some(&viewer.token),
            json!({"sql": "select 1"}),
        )
        .await,
        app.request(
            Method::DELETE,
            &format!("{base}/daily_sales"),
            Some(&viewer.token),
            None,
        )
        .await,
        upload(
            &app,
            &viewer,
            Method::POST,
            &base,
            &[("name", "x")],
            ("x.csv", b"a\n1\n".to_vec()),
        )
        .await,
    ] {
        expect_error(resp, StatusCode::FORBIDDEN, "forbidden").await;
    }

    // A stranger's view: the project does not exist, and neither do its tables.
    for path in [
        base.clone(),
        format!("{base}/daily_sales"),
        format!("{base}/daily_sales/rows"),
    ] {
        expect_error(
            app.get(&path, &stranger.token).await,
            StatusCode::NOT_FOUND,
            "project_not_found",
        )
        .await;
    }
    // Another project's table is not reachable through this project, by name or by SQL.
    let resp = app
        .request(
            Method::DELETE,
            &format!("/api/v1/projects/{other}/tables/daily_sales"),
            Some(&owner.token),
            None,
        )
        .await;
    expect_error(resp, StatusCode::NOT_FOUND, "project_not_found").await;
    let resp = app
        .post(
            &format!("/api/v1/projects/{project}/sql"),
            Some(&owner.token),
            json!({"sql": format!("select * from '{}'", "tables/")}),
        )
        .await;
    expect_error(resp, StatusCode::BAD_REQUEST, "invalid_query").await;
    assert_eq!(
        json_of(
            app.get(&format!("/api/v1/projects/{other}/tables"), &stranger.token)
                .await,
            StatusCode::OK
        )
        .await
        .as_array()
        .unwrap()
        .len(),
        1
    );
}

both_backends!(
    tables_are_made_queried_replaced_and_deleted,
    tables_are_seen_only_by_members_and_changed_only_by_editors,
);
