//! One job's run: its source read in chunks (a project table, or a table of a data
//! source), the script run over them in a sandbox, and the result written to its
//! destination once every chunk succeeded.
//!
//! A project table gets the result as a new version swapped in, in the transaction that
//! marks the job succeeded. A data source's table gets it from a temporary table of the
//! writer's own session, in one transaction of the source's; a job that fails before
//! leaves the destination as it was, and the temporary table goes with the session.

use std::sync::Arc;

use arrow::array::{Array, RecordBatch};
use arrow::datatypes::SchemaRef;
use burrow_data::chunks::columns_of;
use burrow_data::ingest::{conform, Writer};
use burrow_data::types::{columns_from_json, schema};
use burrow_data::{Column, DataError};
use burrow_jobs::{Counters, Failure};
use burrow_store::{Destination, Job, JobCommit, JobProgress, StoreError};
use futures::StreamExt;

use super::{failure, limits, progress_of, Mode, TableRef, TableWriter, WriteMode};
use crate::data::StoredObject;
use crate::Services;

/// Runs a job to its end and, when it succeeded, writes its destination.
pub(super) async fn execute(
    services: &Services,
    job: &Job,
    env: burrow_envs::EnvRef,
) -> (Counters, Result<(), Failure>) {
    let prepared = match prepare(services, job, env).await {
        Ok(prepared) => prepared,
        Err(f) => return (Counters::default(), Err(f)),
    };
    let Prepared {
        script,
        input,
        mut sink,
        env,
    } = prepared;
    let limits = limits(&services.config);
    let (counters, outcome) = services
        .runners
        .run(&env, &limits, &script, input, &mut sink)
        .await;
    if let Err(f) = outcome {
        return (counters, Err(f));
    }
    let written = sink.finish(services, job, &progress_of(&counters)).await;
    (counters, written)
}

struct Prepared {
    script: String,
    input: futures::stream::BoxStream<'static, Result<RecordBatch, Failure>>,
    sink: ResultSink,
    env: burrow_envs::EnvRef,
}

/// A data source of the job's project, ready to connect.
async fn connectable(
    services: &Services,
    job: &Job,
    name: &str,
) -> Result<burrow_data::SourceConfig, Failure> {
    let source = services
        .store
        .get_source(&job.project_id, name)
        .await
        .map_err(|e| match e {
            StoreError::NotFound => failure(format!("the data source {name} no longer exists")),
            e => failure(e),
        })?;
    crate::sources::config_of_saved(services, &source).map_err(|e| failure(e.message))
}

fn source_failure(e: DataError) -> Failure {
    failure(e.to_string().trim_start_matches("burrow: "))
}

async fn prepare(
    services: &Services,
    job: &Job,
    env: burrow_envs::EnvRef,
) -> Result<Prepared, Failure> {
    let store = &services.store;
    let script = store
        .get_script_version(&job.script_id, job.script_version)
        .await
        .map_err(|e| {
            failure(format!(
                "reading the script's version {}: {e}",
                job.script_version
            ))
        })?;
    let mode = Mode::parse(&job.mode).map_err(|e| failure(e.message))?;
    let chunk_rows = services.config.jobs.chunk_rows;
    let blobs = Arc::clone(&services.blobs);
    let input = match &job.source_database {
        None => {
            let source = store
                .get_table(&job.project_id, &job.source_table)
                .await
                .map_err(|e| match e {
                    StoreError::NotFound => failure(format!(
                        "the source table {} no longer exists",
                        job.source_table
                    )),
                    e => failure(e),
                })?;
            burrow_data::chunks::read(Arc::clone(&blobs), &source.blob, chunk_rows)
                .await
                .map_err(failure)?
                .map(|r| r.map_err(failure))
                .boxed()
        }
        Some(name) => {
            let config = connectable(services, job, name).await?;
            let table = TableRef::parse(&job.source_table).map_err(source_failure)?;
            burrow_data::postgres::transfer::read_table(
                &config,
                services.data.reach(),
                &table,
                chunk_rows,
                limits(&services.config).timeout,
            )
            .await
            .map_err(source_failure)?
            .map(|r| r.map_err(source_failure))
            .boxed()
        }
    };
    let output = match &job.destination_database {
        Some(name) => Output::Source {
            config: connectable(services, job, name).await?,
            reach: services.data.reach().clone(),
            table: TableRef::parse_destination(&job.destination_table).map_err(source_failure)?,
            mode: match mode {
                Mode::Create => WriteMode::Create,
                Mode::Replace => WriteMode::Replace,
                Mode::Append => WriteMode::Append,
            },
            timeout: limits(&services.config).timeout,
            pending: Vec::new(),
            writer: None,
        },
        None => project_table(services, job, mode).await?,
    };
    let mut sink = ResultSink {
        store: store.clone(),
        job_id: job.id.clone(),
        columns: None,
        target: None,
        output,
        recorded: None,
    };
    if let (
        Mode::Append,
        Output::Table {
            expect: Expect::Version(_),
            ..
        },
    ) = (mode, &sink.output)
    {
        {
            // The table's rows first, under its own columns; the result must fit them.
            let table = store
                .get_table(&job.project_id, &job.destination_table)
                .await
                .map_err(failure)?;
            let columns = columns_from_json(&table.columns_json).map_err(failure)?;
            sink.start(columns)?;
            let mut rows = burrow_data::chunks::read(blobs, &table.blob, chunk_rows)
                .await
                .map_err(failure)?;
            while let Some(batch) = rows.next().await {
                sink.write(&batch.map_err(failure)?)?;
            }
        }
    }
    Ok(Prepared {
        script: script.source,
        input,
        sink,
        env,
    })
}

/// A project table as the destination: what it must still be when the result is
/// swapped in.
async fn project_table(services: &Services, job: &Job, mode: Mode) -> Result<Output, Failure> {
    let existing = match services
        .store
        .get_table(&job.project_id, &job.destination_table)
        .await
    {
        Ok(table) => Some(table),
        Err(StoreError::NotFound) => None,
        Err(e) => return Err(failure(e)),
    };
    if mode == Mode::Create && existing.is_some() {
        return Err(failure(format!(
            "the table {} exists, and mode create never overwrites one",
            job.destination_table
        )));
    }
    Ok(Output::Table {
        writer: None,
        table_id: existing
            .as_ref()
            .map(|t| t.id.clone())
            .unwrap_or_else(|| burrow_core::ids::new_id("tbl")),
        expect: match (mode, &existing) {
            (Mode::Replace, _) => Expect::Any,
            (Mode::Append, Some(table)) => Expect::Version(table.version_id.clone()),
            _ => Expect::Absent,
        },
    })
}

/// Checks a job's results chunk by chunk, under the first chunk's columns (or the
/// appended table's), and hands them to the destination.
struct ResultSink {
    store: burrow_store::Store,
    job_id: String,
    columns: Option<Vec<Column>>,
    target: Option<SchemaRef>,
    output: Output,
    /// When progress was last recorded: at most every [`RECORD_EVERY`], and the end's by
    /// the job's finish.
    recorded: Option<std::time::Instant>,
}

/// How often a running job's counters and output are recorded, for its page and live log.
const RECORD_EVERY: std::time::Duration = std::time::Duration::from_millis(500);

/// A Parquet [`Writer`] on a thread of its own: the next result is read and checked
/// while the last is encoded and compressed.
struct BackgroundWriter {
    batches: Option<std::sync::mpsc::SyncSender<RecordBatch>>,
    thread: Option<std::thread::JoinHandle<Result<Writer, DataError>>>,
}

impl BackgroundWriter {
    fn new(schema: &SchemaRef) -> Result<Self, DataError> {
        let mut writer = Writer::new(schema)?;
        let (batches, taken) = std::sync::mpsc::sync_channel::<RecordBatch>(2);
        let thread = std::thread::Builder::new()
            .name("job-result-writer".into())
            .spawn(move || {
                for batch in taken {
                    writer.write(&batch)?;
                }
                Ok(writer)
            })
            .map_err(|e| DataError::Internal(format!("starting the result's writer: {e}")))?;
        Ok(Self {
            batches: Some(batches),
            thread: Some(thread),
        })
    }

    fn write(&mut self, batch: RecordBatch) -> Result<(), DataError> {
        match &self.batches {
            Some(batches) if batches.send(batch).is_ok() => Ok(()),
            // The thread stopped taking batches: at an error, which it returns.
            _ => match self.join() {
                Ok(_) => Err(DataError::Internal("the result's writer stopped".into())),
                Err(e) => Err(e),
            },
        }
    }

    /// Waits for every batch to be written; blocks.
    fn finish(mut self, columns: Vec<Column>) -> Result<burrow_data::ingest::Prepared, DataError> {
        self.join()?.finish(columns)
    }

    fn join(&mut self) -> Result<Writer, DataError> {
        self.batches = None;
        self.thread
            .take()
            .ok_or_else(|| DataError::Internal("the result's writer stopped".into()))?
            .join()
            .map_err(|_| DataError::Internal("the result's writer failed".into()))?
    }
}

/// Where a job's result goes.
#[allow(clippy::large_enum_variant, reason = "one per running job")]
enum Output {
    /// A new version of a project table, written as Parquet in memory.
    Table {
        writer: Option<BackgroundWriter>,
        /// The destination's table id, or a new one.
        table_id: String,
        /// What the destination must still be when the result is swapped in.
        expect: Expect,
    },
    /// A table of a data source, through a temporary table of the writer's session.
    Source {
        config: burrow_data::SourceConfig,
        reach: burrow_data::postgres::Reach,
        table: TableRef,
        mode: WriteMode,
        timeout: std::time::Duration,
        /// Checked results not yet sent: sent after each chunk.
        pending: Vec<RecordBatch>,
        writer: Option<TableWriter>,
    },
}

impl ResultSink {
    fn start(&mut self, columns: Vec<Column>) -> Result<(), Failure> {
        let target = schema(&columns);
        if let Output::Table { writer, .. } = &mut self.output {
            *writer = Some(BackgroundWriter::new(&target).map_err(failure)?);
        }
        self.target = Some(target);
        self.columns = Some(columns);
        Ok(())
    }

    fn write(&mut self, batch: &RecordBatch) -> Result<(), Failure> {
        let (Some(columns), Some(target)) = (&self.columns, &self.target) else {
            return Err(failure("the result writer was not started"));
        };
        fits_integers(batch, columns)?;
        let conformed = conform(batch, columns, target).map_err(failure)?;
        match &mut self.output {
            Output::Table {
                writer: Some(writer),
                ..
            } => writer.write(conformed).map_err(failure),
            Output::Table { writer: None, .. } => Err(failure("the result writer was not started")),
            Output::Source { pending, .. } => {
                pending.push(conformed);
                Ok(())
            }
        }
    }

    /// Sends what the data source has not had yet, opening the writer first.
    async fn flush(&mut self) -> Result<(), Failure> {
        let Output::Source {
            config,
            reach,
            table,
            timeout,
            pending,
            writer,
            ..
        } = &mut self.output
        else {
            return Ok(());
        };
        let Some(columns) = &self.columns else {
            return Ok(());
        };
        if writer.is_none() {
            *writer = Some(
                TableWriter::open(config, reach, table, columns.clone(), *timeout)
                    .await
                    .map_err(source_failure)?,
            );
        }
        let Some(writer) = writer else {
            return Ok(());
        };
        for batch in pending.drain(..) {
            writer.write(&batch).await.map_err(source_failure)?;
        }
        Ok(())
    }

    /// Writes the result to its destination, and (for a project table) marks the job
    /// succeeded in the same transaction; for a data source the handler marks it after.
    async fn finish(
        mut self,
        services: &Services,
        job: &Job,
        progress: &JobProgress,
    ) -> Result<(), Failure> {
        self.flush().await?;
        match self.output {
            Output::Source { writer, mode, .. } => {
                let Some(writer) = writer else {
                    return Err(failure("the job produced no result"));
                };
                // The last moment a cancel can still keep the source as it was.
                if !services.store.job_is_open(&job.id).await.map_err(failure)? {
                    return Err(failure("cancelled before its result was written"));
                }
                writer.commit(mode).await.map_err(source_failure)?;
                Ok(())
            }
            Output::Table {
                writer,
                table_id,
                expect,
            } => {
                let (Some(columns), Some(writer)) = (self.columns, writer) else {
                    return Err(failure("the job produced no result"));
                };
                commit_table(services, job, progress, columns, writer, &table_id, &expect).await
            }
        }
    }
}

/// Stores the version's object, then swaps it in and marks the job succeeded in one
/// transaction, unless the job was cancelled or the destination changed meanwhile; then
/// the object goes again and nothing changed.
async fn commit_table(
    services: &Services,
    job: &Job,
    progress: &JobProgress,
    columns: Vec<Column>,
    writer: BackgroundWriter,
    table_id: &str,
    expect: &Expect,
) -> Result<(), Failure> {
    let prepared = tokio::task::spawn_blocking(move || writer.finish(columns))
        .await
        .map_err(failure)?
        .map_err(failure)?;
    let object = StoredObject::put(services, &job.project_id, table_id, prepared)
        .await
        .map_err(|e| failure(format!("storing the result's Parquet object: {e}")))?;
    let version = object.version("job", job.created_by.as_deref().unwrap_or_default());
    let expect = match expect {
        Expect::Absent => Destination::Absent,
        Expect::Version(v) => Destination::Version(v),
        Expect::Any => Destination::Any,
    };
    let committed = services
        .store
        .commit_job_version(
            &job.id,
            progress,
            &job.project_id,
            &job.destination_table,
            table_id,
            expect,
            &version,
        )
        .await;
    let why = match committed {
        Ok(JobCommit::Committed) => return Ok(()),
        Ok(JobCommit::JobClosed) => "cancelled before its result was written".to_owned(),
        Ok(JobCommit::TableChanged) => format!(
            "the table {} changed while the job ran, so appending to it would lose rows: \
             run the job again",
            job.destination_table
        ),
        Ok(JobCommit::NameTaken) => format!(
            "a table named {} was made while the job ran, and mode create never \
             overwrites one: choose replace or append, or another name",
            job.destination_table
        ),
        Err(e) => e.to_string(),
    };
    object.discard(services).await;
    Err(failure(why))
}

/// Floats bound for an integer column must be whole: pandas reads an integer column with
/// a null as floats, and casting 2.5 would silently make it 2.
fn fits_integers(batch: &RecordBatch, columns: &[Column]) -> Result<(), Failure> {
    for (array, column) in batch.columns().iter().zip(columns) {
        if column.column_type != burrow_data::ColumnType::Integer
            || !array.data_type().is_floating()
        {
            continue;
        }
        let floats =
            arrow::compute::cast(array, &arrow::datatypes::DataType::Float64).map_err(failure)?;
        let floats = floats
            .as_any()
            .downcast_ref::<arrow::array::Float64Array>()
            .ok_or_else(|| failure("reading a float column"))?;
        if let Some(bad) = floats
            .iter()
            .flatten()
            .find(|f| f.fract() != 0.0 || !f.is_finite())
        {
            return Err(failure(format!(
                "column {:?} holds {bad}, but the first chunk made it an integer column: \
                 round it in transform, or make it float in every chunk (df[{:?}].astype(float))",
                column.name, column.name
            )));
        }
    }
    Ok(())
}

/// What the destination must be at the end, as the job saw it at the start.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Expect {
    Absent,
    Version(String),
    Any,
}

#[async_trait::async_trait]
impl burrow_jobs::Sink for ResultSink {
    fn result(&mut self, batch: RecordBatch) -> Result<(), Failure> {
        if self.columns.is_none() {
            let columns = columns_of(&batch.schema()).map_err(|e| match e {
                DataError::Invalid(m) => {
                    failure(format!("the script's result cannot be a table: {m}"))
                }
                e => failure(e),
            })?;
            self.start(columns)?;
        } else if let Some(columns) = &self.columns {
            // Appending: the result's columns must be the table's, by name and order.
            let names: Vec<&str> = batch
                .schema_ref()
                .fields()
                .iter()
                .map(|f| f.name().as_str())
                .collect();
            let wanted: Vec<&str> = columns.iter().map(|c| c.name.as_str()).collect();
            if names != wanted {
                return Err(failure(format!(
                    "the result's columns ({}) are not the destination table's ({}): return \
                     the table's columns in its order, or use mode replace",
                    names.join(", "),
                    wanted.join(", ")
                )));
            }
        }
        self.write(&batch)
    }

    async fn progress(&mut self, counters: &Counters) -> Result<(), Failure> {
        self.flush().await?;
        if self.recorded.is_some_and(|at| at.elapsed() < RECORD_EVERY) {
            return Ok(());
        }
        self.recorded = Some(std::time::Instant::now());
        if let Err(e) = self
            .store
            .record_job_progress(&self.job_id, &progress_of(counters))
            .await
        {
            tracing::warn!(job = %self.job_id, error = %e, "Could not record a job's progress");
        }
        Ok(())
    }
}
