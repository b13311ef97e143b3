//! A transform job's source or destination on an external PostgreSQL source: a table
//! read in chunks inside one read-only transaction, and a result written into a
//! temporary table that one transaction copies into the destination at the end.
//!
//! The temporary table lives in the writer's own session: when the job fails, is
//! cancelled, or Burrow dies, the connection ends and PostgreSQL drops it, so nothing is
//! left behind and the destination never sees part of a result.

use std::time::{Duration, Instant};

use arrow::array::{Array, RecordBatch};
use arrow::datatypes::DataType;
use arrow::util::display::{ArrayFormatter, FormatOptions};
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use sqlx::postgres::PgConnection;
use sqlx::{Connection, Executor, Statement};

use super::{check_user, connect, quote_ident, statement_error, Reach, RowReader, Session};
use crate::types::{Column, ColumnType};
use crate::{DataError, SourceConfig};

/// A table of a source: `schema.name`, or `name` in schema `public`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableRef {
    pub schema: String,
    pub name: String,
}

impl TableRef {
    /// Reads `schema.table` or `table`; names are taken as written (case included), at
    /// most 63 bytes, without quotes, dots or control characters.
    pub fn parse(text: &str) -> Result<Self, DataError> {
        let text = text.trim();
        let (schema, name) = match text.split_once('.') {
            Some((schema, name)) => (schema, name),
            None => ("public", text),
        };
        let ok = |part: &str| {
            !part.is_empty()
                && part.len() <= 63
                && !part
                    .chars()
                    .any(|c| c.is_control() || matches!(c, '"' | '.' | '\0'))
        };
        if !ok(schema) || !ok(name) {
            return Err(DataError::Invalid(format!(
                "{text:?} is not a table of a data source: write schema.table (such as \
                 public.orders) or a table name in schema public"
            )));
        }
        Ok(Self {
            schema: schema.to_owned(),
            name: name.to_owned(),
        })
    }

    /// A table a job may write: not in a schema of PostgreSQL's own (`pg_catalog`,
    /// `pg_temp`, whose tables go with the session, …) nor `information_schema`.
    pub fn parse_destination(text: &str) -> Result<Self, DataError> {
        let table = Self::parse(text)?;
        let schema = table.schema.to_ascii_lowercase();
        if schema.starts_with("pg_") || schema == "information_schema" {
            return Err(DataError::Invalid(format!(
                "{text:?} is in schema {}, which is PostgreSQL's own: write to a table of \
                 another schema",
                table.schema
            )));
        }
        Ok(table)
    }

    /// Quoted for SQL.
    pub fn sql(&self) -> String {
        format!("{}.{}", quote_ident(&self.schema), quote_ident(&self.name))
    }
}

impl std::fmt::Display for TableRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.schema, self.name)
    }
}

/// Reads every row of `table` as batches of `chunk_rows`, in one read-only transaction
/// that may run for `timeout`. An empty table gives one empty batch. The reading stops
/// (and the connection closes) when the stream is dropped.
pub async fn read_table(
    source: &SourceConfig,
    reach: &Reach,
    table: &TableRef,
    chunk_rows: usize,
    timeout: Duration,
) -> Result<BoxStream<'static, Result<RecordBatch, DataError>>, DataError> {
    let mut session = Session::open(source, reach, Instant::now() + timeout, timeout).await?;
    let sql = format!("SELECT * FROM {}", table.sql());
    let prepared = async {
        check_user(&mut session.conn, source.destination, timeout).await?;
        RowReader::prepare(&mut session.conn, &sql, timeout)
            .await
            .map_err(|e| match e {
                DataError::Invalid(m) if m.contains("does not exist") => {
                    DataError::Invalid(format!(
                        "burrow: the data source has no table {table}, or its user may not read it"
                    ))
                }
                DataError::Invalid(m) if m.contains("cast it in the query") => {
                    DataError::Invalid(format!(
                        "{m}: for a job, read a view of {table} that casts it \
                         (CREATE VIEW … AS SELECT …::text …)"
                    ))
                }
                other => other,
            })
    }
    .await;
    let (statement, mut reader) = match prepared {
        Ok(prepared) => prepared,
        Err(e) => {
            session.abandon();
            return Err(e);
        }
    };
    let chunk_rows = chunk_rows.max(1);
    let (sender, receiver) = tokio::sync::mpsc::channel(1);
    tokio::spawn(async move {
        let result = async {
            let mut sent = false;
            let mut rows = statement.query().fetch(&mut session.conn);
            loop {
                // A job that ended (failed, cancelled) drops the stream: stop reading then,
                // not at the next row, which a slow query may take long to give.
                let row = tokio::select! {
                    row = rows.try_next() => row.map_err(|e| statement_error(e, timeout))?,
                    _ = sender.closed() => return Ok(false),
                };
                let Some(row) = row else { break };
                reader.push(&row, timeout)?;
                // Wide rows make smaller chunks: a chunk holds `chunk_rows` or its bytes.
                if reader.builders.len() >= chunk_rows || reader.builders.held >= CHUNK_BYTES {
                    if sender.send(Ok(reader.take()?)).await.is_err() {
                        return Ok(false);
                    }
                    sent = true;
                }
            }
            drop(rows);
            if reader.builders.len() > 0 || !sent {
                let _ = sender.send(Ok(reader.take()?)).await;
            }
            Ok(true)
        }
        .await;
        match result {
            Ok(true) => session.close().await,
            Ok(false) => session.abandon(),
            Err(e) => {
                session.abandon();
                let _ = sender.send(Err(e)).await;
            }
        }
    });
    Ok(tokio_stream_of(receiver))
}

/// About the most a chunk read from a source holds, as the server sent it.
const CHUNK_BYTES: u64 = 64 << 20;

fn tokio_stream_of(
    mut receiver: tokio::sync::mpsc::Receiver<Result<RecordBatch, DataError>>,
) -> BoxStream<'static, Result<RecordBatch, DataError>> {
    futures::stream::poll_fn(move |cx| receiver.poll_recv(cx)).boxed()
}

/// How a job's result goes into its destination table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteMode {
    /// A new table; fails if one has the name.
    Create,
    /// The table's rows become the result; the table keeps its definition (indexes,
    /// grants) when it exists, and is made when it does not.
    Replace,
    /// The result is added to the table's rows (made if missing).
    Append,
}

/// The temporary table a result is written into, in the writer's own session.
const STAGING: &str = "pg_temp.burrow_job_result";

/// A result on its way into a source's table: rows go to a temporary table of this
/// connection, and [`TableWriter::commit`] moves them into the destination in one
/// transaction. Dropped before that, it leaves the destination as it was.
pub struct TableWriter {
    conn: PgConnection,
    table: TableRef,
    columns: Vec<Column>,
    timeout: Duration,
    rows: u64,
}

impl std::fmt::Debug for TableWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TableWriter")
            .field("table", &self.table)
            .field("rows", &self.rows)
            .finish_non_exhaustive()
    }
}

fn pg_type(t: ColumnType) -> &'static str {
    match t {
        ColumnType::Integer => "bigint",
        ColumnType::Float => "double precision",
        ColumnType::Boolean => "boolean",
        ColumnType::Text => "text",
        ColumnType::Date => "date",
        ColumnType::Timestamp => "timestamp",
    }
}

impl TableWriter {
    /// Connects to a source marked as a job destination, checks its user as every
    /// connection does, and makes the temporary table for `columns`.
    pub async fn open(
        source: &SourceConfig,
        reach: &Reach,
        table: &TableRef,
        columns: Vec<Column>,
        timeout: Duration,
    ) -> Result<Self, DataError> {
        if !source.destination {
            return Err(DataError::Refused(
                "burrow: this data source is not a job destination: its owner can mark it as \
                 one on its page"
                    .into(),
            ));
        }
        let address = reach.check(source).await?;
        let mut conn = connect(source, address).await?;
        let ready = async {
            check_user(&mut conn, true, timeout).await?;
            conn.execute(sqlx::query(&format!(
                "SET statement_timeout = {}",
                timeout.as_millis()
            )))
            .await
            .map_err(|e| statement_error(e, timeout))?;
            let definition = columns
                .iter()
                .map(|c| format!("{} {}", quote_ident(&c.name), pg_type(c.column_type)))
                .collect::<Vec<_>>()
                .join(", ");
            conn.execute(sqlx::query(&format!(
                "CREATE TEMPORARY TABLE burrow_job_result ({definition})"
            )))
            .await
            .map_err(|e| match statement_error(e, timeout) {
                DataError::Refused(m) => DataError::Refused(format!(
                    "{m}: a job writes its result into a temporary table first, so the source's \
                     user needs TEMPORARY on the database (GRANT TEMPORARY ON DATABASE … TO …)"
                )),
                other => other,
            })?;
            Ok::<_, DataError>(())
        }
        .await;
        if let Err(e) = ready {
            drop(conn);
            return Err(e);
        }
        Ok(Self {
            conn,
            table: table.clone(),
            columns,
            timeout,
            rows: 0,
        })
    }

    /// Adds a batch (of the writer's columns, in order) to the temporary table.
    pub async fn write(&mut self, batch: &RecordBatch) -> Result<(), DataError> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let text = copy_text(batch)?;
        let names = self
            .columns
            .iter()
            .map(|c| quote_ident(&c.name))
            .collect::<Vec<_>>()
            .join(", ");
        let mut copy = self
            .conn
            .copy_in_raw(&format!("COPY {STAGING} ({names}) FROM STDIN"))
            .await
            .map_err(|e| write_error(e, &self.table, self.timeout))?;
        if let Err(e) = copy.send(text.into_bytes()).await {
            let _ = copy.abort("burrow: the result could not be sent").await;
            return Err(write_error(e, &self.table, self.timeout));
        }
        copy.finish()
            .await
            .map_err(|e| write_error(e, &self.table, self.timeout))?;
        self.rows += batch.num_rows() as u64;
        Ok(())
    }

    /// Moves the result into the destination in one transaction; returns the rows
    /// written. On any error the destination is as it was.
    pub async fn commit(mut self, mode: WriteMode) -> Result<u64, DataError> {
        let table = self.table.sql();
        let names = self
            .columns
            .iter()
            .map(|c| quote_ident(&c.name))
            .collect::<Vec<_>>()
            .join(", ");
        let result = async {
            let mut tx = self
                .conn
                .begin()
                .await
                .map_err(|e| write_error(e, &self.table, self.timeout))?;
            let exists: bool = sqlx::query_scalar("SELECT to_regclass($1) IS NOT NULL")
                .bind(&table)
                .fetch_one(&mut *tx)
                .await
                .map_err(|e| write_error(e, &self.table, self.timeout))?;
            let statements = match (mode, exists) {
                (WriteMode::Create, true) => {
                    return Err(DataError::Invalid(format!(
                        "burrow: the data source has a table {} already, and mode create never \
                         overwrites one: choose replace or append, or another name",
                        self.table
                    )))
                }
                (_, false) => vec![format!("CREATE TABLE {table} AS TABLE {STAGING}")],
                (WriteMode::Replace, true) => vec![
                    format!("DELETE FROM {table}"),
                    format!("INSERT INTO {table} ({names}) SELECT {names} FROM {STAGING}"),
                ],
                (WriteMode::Append, true) => vec![format!(
                    "INSERT INTO {table} ({names}) SELECT {names} FROM {STAGING}"
                )],
            };
            for sql in statements {
                tx.execute(sqlx::query(&sql))
                    .await
                    .map_err(|e| write_error(e, &self.table, self.timeout))?;
            }
            tx.commit()
                .await
                .map_err(|e| write_error(e, &self.table, self.timeout))?;
            Ok(self.rows)
        }
        .await;
        // The temporary table goes with the connection.
        let _ = self.conn.close().await;
        result
    }
}

/// A write's error, naming the table and, where PostgreSQL says it, how to fix it.
fn write_error(e: sqlx::Error, table: &TableRef, timeout: Duration) -> DataError {
    let code = match &e {
        sqlx::Error::Database(db) => db.code().map(|c| c.into_owned()),
        _ => None,
    };
    match (code.as_deref(), statement_error(e, timeout)) {
        (Some("42501"), DataError::Refused(m)) => DataError::Refused(format!(
            "{m}: the source's user needs rights on {table} (or CREATE on schema {}) to write it",
            table.schema
        )),
        (Some("42703" | "42804" | "22P02"), DataError::Invalid(m)) => DataError::Invalid(format!(
            "burrow: the result does not fit {table} ({m}): return its columns with their types, \
             or write a new table"
        )),
        (Some("3F000"), DataError::Invalid(_)) => DataError::Invalid(format!(
            "burrow: the data source has no schema {:?}: make it, or write to another",
            table.schema
        )),
        (_, other) => other,
    }
}

/// A batch in `COPY … FROM STDIN`'s text format: tab-separated, `\N` for null, and
/// backslash, tab, newline and carriage return escaped.
fn copy_text(batch: &RecordBatch) -> Result<String, DataError> {
    let options = FormatOptions::default();
    let formatters = batch
        .columns()
        .iter()
        .map(|a| {
            ArrayFormatter::try_new(a.as_ref(), &options)
                .map_err(|e| DataError::Internal(format!("formatting a result column: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut out = String::with_capacity(batch.num_rows() * batch.num_columns() * 8);
    let mut value = String::new();
    for row in 0..batch.num_rows() {
        for (i, (array, formatter)) in batch.columns().iter().zip(&formatters).enumerate() {
            if i > 0 {
                out.push('\t');
            }
            if array.is_null(row) {
                out.push_str("\\N");
                continue;
            }
            value.clear();
            use std::fmt::Write;
            match array.data_type() {
                DataType::Float64 | DataType::Float32 => {
                    let f = arrow::compute::cast(&array.slice(row, 1), &DataType::Float64)
                        .ok()
                        .and_then(|a| {
                            a.as_any()
                                .downcast_ref::<arrow::array::Float64Array>()
                                .map(|a| a.value(0))
                        })
                        .unwrap_or(f64::NAN);
                    if f.is_nan() {
                        value.push_str("NaN");
                    } else if f.is_infinite() {
                        value.push_str(if f > 0.0 { "Infinity" } else { "-Infinity" });
                    } else {
                        let _ = write!(value, "{f:?}");
                    }
                }
                _ => {
                    let _ = write!(value, "{}", formatter.value(row));
                }
            }
            for c in value.chars() {
                match c {
                    '\\' => out.push_str("\\\\"),
                    '\t' => out.push_str("\\t"),
                    '\n' => out.push_str("\\n"),
                    '\r' => out.push_str("\\r"),
                    c => out.push(c),
                }
            }
        }
        out.push('\n');
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{BooleanArray, Float64Array, Int64Array, StringArray};
    use arrow::datatypes::{Field, Schema};

    use super::*;

    #[test]
    fn names_tables_with_or_without_a_schema() {
        assert_eq!(
            TableRef::parse("orders").unwrap(),
            TableRef {
                schema: "public".into(),
                name: "orders".into()
            }
        );
        let t = TableRef::parse(" sales.Daily ").unwrap();
        assert_eq!(t.sql(), "\"sales\".\"Daily\"");
        for bad in ["", "a.b.c", "a.", ".b", "x\"y", "a\nb"] {
            assert!(TableRef::parse(bad).is_err(), "{bad:?}");
        }
        // Destinations stay out of PostgreSQL's own schemas, whatever the case.
        for own in [
            "pg_temp.x",
            "PG_TEMP_3.x",
            "pg_catalog.pg_class",
            "information_schema.t",
        ] {
            assert!(TableRef::parse(own).is_ok());
            assert!(TableRef::parse_destination(own).is_err(), "{own}");
        }
        assert!(TableRef::parse_destination("results.out").is_ok());
    }

    #[test]
    fn copy_text_escapes_what_copy_reads_specially() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("n", DataType::Int64, true),
            Field::new("f", DataType::Float64, true),
            Field::new("s", DataType::Utf8, true),
            Field::new("b", DataType::Boolean, true),
        ]));
        let batch = RecordBatch::try_new(
            schema,
            vec![
                Arc::new(Int64Array::from(vec![Some(1), None])),
                Arc::new(Float64Array::from(vec![Some(0.1), Some(f64::NAN)])),
                Arc::new(StringArray::from(vec![Some("a\tb\\c\nd"), Some("\\N")])),
                Arc::new(BooleanArray::from(vec![Some(true), None])),
            ],
        )
        .unwrap();
        assert_eq!(
            copy_text(&batch).unwrap(),
            "1\t0.1\ta\\tb\\\\c\\nd\ttrue\n\\N\tNaN\t\\\\N\t\\N\n"
        );
    }
}
