//! The engine against real Parquet in an object store: queries, refusals and limits.

use std::sync::Arc;
use std::time::Duration;

use burrow_data::engine::MAX_STATEMENT;
use burrow_data::{ingest, DataError, Engine, Format, Limits, TableSource, SAMPLE_CSV};
use bytes::Bytes;
use object_store::{memory::InMemory, path::Path, ObjectStore, PutPayload};

async fn engine_with_sample(limits: Limits) -> (Engine, Vec<TableSource>) {
    let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let prepared =
        ingest::prepare(Bytes::from_static(SAMPLE_CSV.as_bytes()), Format::Csv, None).unwrap();
    let blob = "tables/p1/t1/v1.parquet";
    store
        .put(&Path::from(blob), PutPayload::from(prepared.parquet))
        .await
        .unwrap();
    // Another project's table in the same store.
    store
        .put(
            &Path::from("tables/p2/t9/v1.parquet"),
            PutPayload::from_static(b"secret"),
        )
        .await
        .unwrap();
    let tables = vec![TableSource {
        name: "daily_sales".into(),
        blob: blob.into(),
        columns: prepared.columns,
    }];
    (Engine::new(store, limits), tables)
}

async fn refused(engine: &Engine, tables: &[TableSource], sql: &str) -> DataError {
    match engine.query("p1", tables, sql).await {
        Ok(r) => panic!("{sql} ran and returned {} rows", r.rows),
        Err(e) => e,
    }
}

#[tokio::test]
async fn a_query_over_a_project_table_aggregates_it() {
    let (engine, tables) = engine_with_sample(Limits::default()).await;
    let result = engine
        .query(
            "p1",
            &tables,
            "select region, sum(units) as units from daily_sales group by region order by region",
        )
        .await
        .unwrap();
    assert_eq!(result.rows, 4);
    let rows: Vec<_> = result
        .batches
        .iter()
        .flat_map(|b| burrow_data::text_rows(b, 10))
        .collect();
    assert_eq!(rows[0][0].as_deref(), Some("East"));
    let total: i64 = rows
        .iter()
        .map(|r| r[1].as_deref().unwrap().parse::<i64>().unwrap())
        .sum();
    let expected: i64 = SAMPLE_CSV
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(2).unwrap().parse::<i64>().unwrap())
        .sum();
    assert_eq!(total, expected);
}

#[tokio::test]
async fn statements_that_are_not_queries_are_refused() {
    let (engine, tables) = engine_with_sample(Limits::default()).await;
    for sql in [
        "CREATE EXTERNAL TABLE x STORED AS CSV LOCATION '/etc/passwd'",
        "CREATE TABLE x AS SELECT 1",
        "COPY daily_sales TO '/tmp/burrow-copy-out.csv'",
        "INSERT INTO daily_sales SELECT * FROM daily_sales",
        "SET datafusion.execution.target_partitions = 64",
        "DROP TABLE daily_sales",
    ] {
        let e = refused(&engine, &tables, sql).await;
        assert!(
            matches!(e, DataError::Refused(_)),
            "{sql}: {e:?} is not a refusal"
        );
        assert!(e.to_string().contains("only queries"), "{sql}: {e}");
    }
    assert!(!std::path::Path::new("/tmp/burrow-copy-out.csv").exists());
    let e = refused(&engine, &tables, "select 1; drop table daily_sales").await;
    assert!(matches!(e, DataError::Refused(_)), "{e:?}");
}

#[tokio::test]
async fn files_and_other_projects_objects_cannot_be_named() {
    let (engine, tables) = engine_with_sample(Limits::default()).await;
    for sql in [
        "select * from '/etc/passwd'",
        "select * from 'burrow-blobs://tables/tables/p2/t9/v1.parquet'",
        "select * from 'tables/p2/t9/v1.parquet'",
        "select * from t9",
        "select * from information_schema.tables",
    ] {
        let e = refused(&engine, &tables, sql).await;
        assert!(matches!(e, DataError::Invalid(_)), "{sql}: {e:?}");
    }
}

#[tokio::test]
async fn a_mistake_names_its_line_and_column() {
    let (engine, tables) = engine_with_sample(Limits::default()).await;
    let e = refused(
        &engine,
        &tables,
        "select region\nfrom daily_sales\nwhere units > > 3",
    )
    .await;
    assert!(e.to_string().contains("Line: 3"), "{e}");
}

#[tokio::test]
async fn a_result_past_the_row_cap_fails_loudly() {
    let (engine, tables) = engine_with_sample(Limits {
        max_rows: 100,
        ..Limits::default()
    })
    .await;
    let e = refused(&engine, &tables, "select * from daily_sales").await;
    assert_eq!(
        e.to_string(),
        "burrow: result exceeds 100 rows; add a LIMIT or aggregate"
    );
    assert!(engine
        .query("p1", &tables, "select * from daily_sales limit 100")
        .await
        .is_ok());
}

#[tokio::test]
async fn a_runaway_cross_join_stops_at_its_memory_limit() {
    let (engine, tables) = engine_with_sample(Limits {
        memory_bytes: 32 << 20,
        ..Limits::default()
    })
    .await;
    let e = refused(
        &engine,
        &tables,
        "select count(distinct a.value * 100000 + b.value) from generate_series(1, 5000) a \
         cross join generate_series(1, 5000) b",
    )
    .await;
    assert!(matches!(e, DataError::Limit(_)), "{e:?}");
    assert!(e.to_string().contains("32 MB of memory"), "{e}");
}

#[tokio::test]
async fn a_long_query_stops_at_its_time_limit_and_queries_are_capped_per_project() {
    let (engine, tables) = engine_with_sample(Limits {
        timeout: Duration::from_millis(300),
        concurrent_per_project: 1,
        ..Limits::default()
    })
    .await;
    let slow =
        "select count(*) from generate_series(1, 20000) a cross join generate_series(1, 20000) b \
                where a.value * b.value % 7 = 3";
    let (first, second) = tokio::join!(engine.query("p1", &tables, slow), async {
        tokio::time::sleep(Duration::from_millis(50)).await;
        engine.query("p1", &tables, "select 1").await
    });
    let first = first.unwrap_err();
    assert!(first.to_string().contains("time limit"), "{first}");
    assert!(matches!(second.unwrap_err(), DataError::Busy(_)));
    // The first project's slot came back.
    // Another project is not held up: the stopped query no longer holds the query threads.
    assert!(engine.query("p2", &[], "select 1").await.is_ok());
    assert!(engine.query("p1", &tables, "select 1").await.is_ok());
}

#[tokio::test]
async fn a_result_past_the_byte_cap_fails_loudly() {
    let (engine, tables) = engine_with_sample(Limits {
        max_bytes: 1 << 20,
        ..Limits::default()
    })
    .await;
    let e = refused(
        &engine,
        &tables,
        "select value, value * 2 as twice from generate_series(1, 500000)",
    )
    .await;
    assert!(matches!(e, DataError::Limit(_)), "{e:?}");
    assert!(
        e.to_string().starts_with("burrow: result exceeds 1 MB"),
        "{e}"
    );
}

#[tokio::test]
async fn long_statements_are_refused_before_parsing() {
    let (engine, tables) = engine_with_sample(Limits {
        timeout: Duration::from_secs(5),
        ..Limits::default()
    })
    .await;
    // Arithmetic nested as deep as the size cap allows plans on the query threads' stack,
    // or runs out of time; either way the process lives on and answers.
    let deep = format!("select {}1", "1+".repeat(MAX_STATEMENT / 2 - 8));
    match engine.query("p1", &tables, &deep).await {
        Ok(_) | Err(DataError::Limit(_)) => {}
        Err(e) => panic!("{e:?}"),
    }
    assert!(engine.query("p1", &tables, "select 1").await.is_ok());
    let long = format!("select {}1", "1+".repeat(40_000));
    let e = refused(&engine, &tables, &long).await;
    assert!(e.to_string().contains("at most 64 KB"), "{e}");
}

#[tokio::test]
async fn a_table_whose_object_is_gone_is_an_error_not_an_empty_table() {
    let (engine, mut tables) = engine_with_sample(Limits::default()).await;
    tables[0].blob = "tables/p1/t1/gone.parquet".into();
    let e = refused(&engine, &tables, "select count(*) from daily_sales").await;
    assert!(matches!(e, DataError::Internal(_)), "{e:?}");
}
