//! Read-only SQL over a project's tables with DataFusion, within limits that fail loudly.
//!
//! Each query gets a session of its own, in which only the project's tables are
//! registered (each a Parquet object in the blob store, under a schema Burrow wrote):
//! no DDL, DML or `SET` (DataFusion's SQL options), no URL tables, no spilling to disk, a
//! memory pool of its own, a time limit, a cap on running queries per project, and caps on
//! the rows and bytes returned that end the query with an error, never a truncated result.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::error::DataFusionError;
use datafusion::execution::disk_manager::{DiskManagerBuilder, DiskManagerMode};
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::prelude::{SQLOptions, SessionConfig, SessionContext};
use futures::StreamExt;
use object_store::ObjectStore;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::deadline::{with_deadline, PAST_DEADLINE};
use crate::postgres::{Reach, SourceConfig};
use crate::types::{schema, Column};
use crate::DataError;

/// The limits every query runs within.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Memory for the query's joins, sorts and aggregates.
    pub memory_bytes: usize,
    pub timeout: Duration,
    /// The most rows a result may have.
    pub max_rows: u64,
    /// The most bytes a result may hold, in Arrow's memory.
    pub max_bytes: u64,
    /// Queries that may run at once in one project.
    pub concurrent_per_project: usize,
    /// Queries that may run at once in all projects together: each may hold its memory
    /// and its result, so this bounds what queries hold in all.
    pub concurrent_total: usize,
    /// Where external sources may be.
    pub reach: Reach,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            memory_bytes: 512 << 20,
            timeout: Duration::from_secs(30),
            max_rows: 1_000_000,
            max_bytes: 512 << 20,
            concurrent_per_project: 4,
            concurrent_total: 8,
            reach: Reach::default(),
        }
    }
}

/// A table as a query sees it: its SQL name and the Parquet object of its current version.
#[derive(Debug, Clone)]
pub struct TableSource {
    pub name: String,
    pub blob: String,
    pub columns: Vec<Column>,
}

/// The longest statement accepted: SQL, not data. Longer ones are refused before parsing,
/// which also bounds how deep an expression can nest.
pub const MAX_STATEMENT: usize = 64 << 10;

/// A finished query. It holds its project's and the instance's query slots until dropped,
/// so a result waiting to be sent still counts against the caps.
#[derive(Debug)]
pub struct QueryResult {
    pub schema: SchemaRef,
    pub batches: Vec<RecordBatch>,
    pub rows: u64,
    pub bytes: u64,
    pub elapsed: Duration,
    _slots: Slots,
}

/// A query's permits: its project's and the instance's.
#[derive(Debug)]
struct Slots {
    _project: OwnedSemaphorePermit,
    _total: OwnedSemaphorePermit,
}

/// Aborts a query's task when its caller goes away (a closed connection, a timeout).
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The query engine over the blob store; cheap to clone.
#[derive(Clone)]
pub struct Engine {
    store: Arc<dyn ObjectStore>,
    limits: Limits,
    running: Arc<parking_lot::Mutex<HashMap<String, Arc<Semaphore>>>>,
    total: Arc<Semaphore>,
    workers: Arc<Workers>,
}

/// The threads queries run on: a runtime of their own, so a heavy query never holds up
/// the threads that serve requests, and a query past its time is aborted there.
struct Workers(Option<tokio::runtime::Runtime>);

impl Workers {
    fn handle(&self) -> &tokio::runtime::Handle {
        self.0
            .as_ref()
            .expect("the query runtime lives as long as the engine")
            .handle()
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("limits", &self.limits)
            .finish()
    }
}

/// The URL the blob store is registered under in each query's session.
const STORE_URL: &str = "burrow-blobs://tables/";

impl Engine {
    pub fn new(store: Arc<dyn ObjectStore>, limits: Limits) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("burrow-query")
            // Planning walks expression trees recursively; DataFusion grows the stack on
            // the heap where it can (`recursive_protection`), and this is the floor: virtual
            // memory, touched only as deep as a statement within [`MAX_STATEMENT`] nests.
            .thread_stack_size(256 << 20)
            .enable_all()
            .build()
            .expect("the query runtime starts");
        Self {
            store,
            total: Arc::new(Semaphore::new(limits.concurrent_total.max(1))),
            limits,
            running: Arc::default(),
            workers: Arc::new(Workers(Some(runtime))),
        }
    }

    /// Runs one read-only statement over `tables`, which belong to `project`.
    pub async fn query(
        &self,
        project: &str,
        tables: &[TableSource],
        sql: &str,
    ) -> Result<QueryResult, DataError> {
        check_length(sql)?;
        let limits = self.limits.clone();
        let store = Arc::clone(&self.store);
        let ctx = self.session()?;
        let tables = tables.to_vec();
        let sql = sql.to_owned();
        self.run(project, move |deadline, mut collector| async move {
            let limits = &limits;
            register(&ctx, &store, &tables, &sql, limits).await?;
            let options = SQLOptions::new()
                .with_allow_ddl(false)
                .with_allow_dml(false)
                .with_allow_statements(false);
            let frame = ctx
                .sql_with_options(&sql, options)
                .await
                .map_err(|e| query_error(e, limits))?;
            let plan = frame
                .create_physical_plan()
                .await
                .map_err(|e| query_error(e, limits))?;
            let plan = with_deadline(plan, deadline).map_err(internal)?;
            let mut stream = datafusion::physical_plan::execute_stream(plan, ctx.task_ctx())
                .map_err(|e| query_error(e, limits))?;
            let schema = stream.schema();
            while let Some(batch) = stream.next().await {
                collector.push(batch.map_err(|e| query_error(e, limits))?)?;
            }
            Ok((schema, collector))
        })
        .await
    }

    /// Runs one read-only statement on an external PostgreSQL source of `project`,
    /// within the same slots, time limit and result caps as a query over its tables.
    pub async fn query_source(
        &self,
        project: &str,
        source: &SourceConfig,
        sql: &str,
    ) -> Result<QueryResult, DataError> {
        check_length(sql)?;
        let source = source.clone();
        let sql = sql.to_owned();
        let timeout = self.limits.timeout;
        let reach = self.limits.reach.clone();
        self.run(project, move |deadline, mut collector| async move {
            let schema =
                crate::postgres::read(&source, &reach, &sql, deadline, timeout, &mut collector)
                    .await?;
            Ok((schema, collector))
        })
        .await
    }

    /// Where external sources may be, for browsing them.
    pub fn reach(&self) -> &Reach {
        &self.limits.reach
    }

    /// Runs `work` on the query runtime in one of `project`'s slots, within the time
    /// limit, with a collector that holds it to the result caps.
    async fn run<W, F>(&self, project: &str, work: W) -> Result<QueryResult, DataError>
    where
        W: FnOnce(Instant, Collector) -> F + Send + 'static,
        F: std::future::Future<Output = Result<(SchemaRef, Collector), DataError>> + Send,
    {
        let slots = self.permit(project)?;
        let started = Instant::now();
        let deadline = started + self.limits.timeout;
        let limits = self.limits.clone();
        let run = async move {
            let (schema, collector) = work(deadline, Collector::new(&limits)).await?;
            Ok(QueryResult {
                schema,
                batches: collector.batches,
                rows: collector.rows,
                bytes: collector.bytes,
                elapsed: started.elapsed(),
                _slots: slots,
            })
        };
        // The slots travel with the task, which is aborted if this future is dropped: a
        // query counts against the caps for as long as it runs, whoever stopped waiting.
        let mut task = AbortOnDrop(self.workers.handle().spawn(run));
        match tokio::time::timeout(self.limits.timeout, &mut task.0).await {
            Ok(Ok(result)) => result,
            Ok(Err(e)) => Err(DataError::Internal(format!("a query's task failed: {e}"))),
            Err(_) => {
                task.0.abort();
                Err(DataError::Limit(format!(
                    "burrow: the query ran past its {} time limit; filter earlier or aggregate",
                    seconds(self.limits.timeout)
                )))
            }
        }
    }

    fn permit(&self, project: &str) -> Result<Slots, DataError> {
        let busy =
            |what: String| DataError::Busy(format!("burrow: {what}; try again when one finishes"));
        let project_slot = {
            let mut running = self.running.lock();
            // Projects with nothing running are forgotten; the permit is taken under the
            // lock, so no one holds a semaphore that is about to be forgotten.
            running.retain(|_, s| s.available_permits() < self.limits.concurrent_per_project);
            let semaphore = running
                .entry(project.to_owned())
                .or_insert_with(|| Arc::new(Semaphore::new(self.limits.concurrent_per_project)));
            Arc::clone(semaphore).try_acquire_owned().map_err(|_| {
                busy(format!(
                    "{} queries are already running in this project",
                    self.limits.concurrent_per_project
                ))
            })?
        };
        let total = Arc::clone(&self.total).try_acquire_owned().map_err(|_| {
            busy(format!(
                "{} queries are already running on this instance",
                self.limits.concurrent_total
            ))
        })?;
        Ok(Slots {
            _project: project_slot,
            _total: total,
        })
    }

    /// A session with its own memory pool and no disk, that knows no tables yet.
    fn session(&self) -> Result<SessionContext, DataError> {
        let runtime = RuntimeEnvBuilder::new()
            .with_memory_limit(self.limits.memory_bytes, 1.0)
            .with_disk_manager_builder(
                DiskManagerBuilder::default().with_mode(DiskManagerMode::Disabled),
            )
            .build_arc()
            .map_err(internal)?;
        let config = SessionConfig::new()
            .with_target_partitions(2)
            .with_information_schema(false);
        let ctx = SessionContext::new_with_config_rt(config, runtime);
        let url = url::Url::parse(STORE_URL).expect("a valid URL");
        ctx.register_object_store(&url, Arc::clone(&self.store));
        Ok(ctx)
    }
}

/// Registers the tables the statement names, each after checking that its object is
/// there: a missing object would otherwise list as an empty folder, an empty table.
async fn register(
    ctx: &SessionContext,
    store: &Arc<dyn ObjectStore>,
    tables: &[TableSource],
    sql: &str,
    limits: &Limits,
) -> Result<(), DataError> {
    let state = ctx.state();
    let statement = state
        .sql_to_statement(sql, &datafusion::config::Dialect::Generic)
        .map_err(|e| query_error(e, limits))?;
    let named = state
        .resolve_table_references(&statement)
        .map_err(|e| query_error(e, limits))?;
    for reference in named {
        if reference.schema().is_some() {
            continue;
        }
        let Some(table) = tables.iter().find(|t| t.name == reference.table()) else {
            continue;
        };
        if ctx.table_exist(table.name.as_str()).map_err(internal)? {
            continue;
        }
        store
            .head(&object_store::path::Path::from(table.blob.as_str()))
            .await
            .map_err(|e| {
                DataError::Internal(format!(
                    "table {}'s object {} is unreadable: {e}",
                    table.name, table.blob
                ))
            })?;
        let path =
            ListingTableUrl::parse(format!("{STORE_URL}{}", table.blob)).map_err(internal)?;
        let options =
            ListingOptions::new(Arc::new(ParquetFormat::default())).with_file_extension(".parquet");
        let config = ListingTableConfig::new(path)
            .with_listing_options(options)
            .with_schema(schema(&table.columns));
        let provider = ListingTable::try_new(config).map_err(internal)?;
        ctx.register_table(table.name.as_str(), Arc::new(provider))
            .map_err(internal)?;
    }
    Ok(())
}

fn check_length(sql: &str) -> Result<(), DataError> {
    if sql.len() > MAX_STATEMENT {
        return Err(DataError::Invalid(format!(
            "burrow: a statement may be at most {} KB; this one is {} KB",
            MAX_STATEMENT >> 10,
            sql.len() >> 10
        )));
    }
    Ok(())
}

/// A result's batches as they arrive, held to the row and byte caps: past either, the
/// query ends with an error, never a truncated result.
pub(crate) struct Collector {
    batches: Vec<RecordBatch>,
    rows: u64,
    bytes: u64,
    max_rows: u64,
    max_bytes: u64,
}

impl Collector {
    fn new(limits: &Limits) -> Self {
        Self {
            batches: Vec::new(),
            rows: 0,
            bytes: 0,
            max_rows: limits.max_rows,
            max_bytes: limits.max_bytes,
        }
    }

    pub(crate) fn push(&mut self, batch: RecordBatch) -> Result<(), DataError> {
        self.rows += batch.num_rows() as u64;
        self.bytes += batch_bytes(&batch);
        if self.rows > self.max_rows {
            return Err(DataError::Limit(format!(
                "burrow: result exceeds {} rows; add a LIMIT or aggregate",
                thousands(self.max_rows)
            )));
        }
        self.check_room(0)?;
        if batch.num_rows() > 0 {
            self.batches.push(batch);
        }
        Ok(())
    }
}

impl Collector {
    /// Fails once what is collected and `pending` bytes not yet in a batch pass the cap.
    pub(crate) fn check_room(&self, pending: u64) -> Result<(), DataError> {
        if self.bytes + pending > self.max_bytes {
            return Err(DataError::Limit(format!(
                "burrow: result exceeds {} MB; select fewer columns, add a LIMIT or aggregate",
                self.max_bytes >> 20
            )));
        }
        Ok(())
    }
}

/// What a batch holds, as Arrow counts it.
fn batch_bytes(batch: &RecordBatch) -> u64 {
    batch
        .columns()
        .iter()
        .map(|a| a.to_data().get_slice_memory_size().unwrap_or(0) as u64)
        .sum()
}

fn internal(e: impl std::fmt::Display) -> DataError {
    DataError::Internal(e.to_string())
}

/// DataFusion's error as a person needs it: what was refused, what exceeded which limit,
/// and where in the SQL a mistake is. Errors of storage and of DataFusion itself name
/// host paths and internals: they are Burrow's to log, not the caller's to read.
fn query_error(e: DataFusionError, limits: &Limits) -> DataError {
    let root = e.find_root();
    let text = root.to_string();
    match root {
        DataFusionError::Execution(m) if m == PAST_DEADLINE => DataError::Limit(format!(
            "burrow: the query ran past its {} time limit; filter earlier or aggregate",
            seconds(limits.timeout)
        )),
        DataFusionError::ResourcesExhausted(_) => DataError::Limit(format!(
            "burrow: the query needs more than its {} MB of memory; filter or aggregate before \
             joining or sorting ({text})",
            limits.memory_bytes >> 20
        )),
        DataFusionError::Plan(_)
            if text.contains("DDL not supported")
                || text.contains("DML not supported")
                || text.contains("Statement not supported") =>
        {
            DataError::Refused(format!(
                "burrow: only queries (SELECT, WITH, VALUES, EXPLAIN) run here; tables change by \
                 upload or by a job ({text})"
            ))
        }
        _ if text.contains("single SQL statement") => {
            DataError::Refused(format!("burrow: run one statement at a time ({text})"))
        }
        DataFusionError::SQL(..)
        | DataFusionError::Plan(_)
        | DataFusionError::SchemaError(..)
        | DataFusionError::NotImplemented(_)
        | DataFusionError::Execution(_)
        | DataFusionError::ArrowError(..) => DataError::Invalid(text),
        _ => DataError::Internal(text),
    }
}

fn seconds(d: Duration) -> String {
    if d.as_millis().is_multiple_of(1000) {
        format!("{} s", d.as_secs())
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}

/// 1000000 as 1,000,000.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}
