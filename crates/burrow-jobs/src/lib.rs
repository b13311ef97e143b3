//! Runs a transform job's script in one sandbox: chunks go in and results come back as Arrow IPC, counted and checked here.
//!
//! One sandbox per job (a fresh Python per chunk would cost about a second each): the
//! base environment and Burrow's module mounted read-only, no network, the job's memory
//! limit; its time limit is kept here, from the job's start. Its runner (`python -m burrow._job`, shipped in Burrow's module layer)
//! connects to a host service on its own loopback ([`JOB_PORT`]), whose listener exists
//! before the process starts. The host sends the script, then each chunk; the runner
//! answers each with `transform(chunk)`'s result. Everything that comes back is
//! untrusted: every frame is size-capped, every result decoded and validated by Arrow,
//! its rows counted against the cap, and its columns and types compared with the first
//! result's. The sandbox is killed and removed however the run ends, a dropped run too.
//!
//! [`Runners`] keeps one sandbox started ahead, its runner connected with pandas loaded,
//! so a job does not wait for them; each sandbox serves one run only.

use std::io::Cursor;
use std::sync::Arc;
use std::time::Duration;

use arrow::array::RecordBatch;
use arrow::datatypes::{DataType, SchemaRef};
use arrow::ipc::reader::StreamReader;
use arrow::ipc::writer::StreamWriter;
use burrow_sandbox::{Connection, ExitReason, ExitStatus, Network, Runtime, SandboxSpec};
use futures::{Stream as AsyncStream, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The host service port the runner connects to, on the sandbox's own loopback.
pub const JOB_PORT: u16 = 3160;
/// The label every job sandbox carries, as `burrow.kind=job`.
pub const KIND_LABEL: &str = "burrow.kind";

/// What a job may use.
#[derive(Debug, Clone)]
pub struct Limits {
    /// The whole run, from its start (not its sandbox's: that may be started ahead).
    pub timeout: Duration,
    pub memory_bytes: u64,
    pub cpus: f64,
    /// The most rows all results together may have.
    pub max_output_rows: u64,
    /// The most all results together may hold in memory, as Arrow counts it.
    pub max_output_bytes: u64,
    /// The largest single message the runner may send (one chunk's result).
    pub max_frame_bytes: usize,
    /// The most of the script's printed output kept.
    pub max_log_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(60),
            memory_bytes: 512 << 20,
            cpus: 1.0,
            max_output_rows: 1_000_000,
            max_output_bytes: 1 << 30,
            max_frame_bytes: 256 << 20,
            max_log_bytes: 1 << 20,
        }
    }
}

/// Why a job failed, in words for its author, with the script's traceback when it raised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub error: String,
    pub traceback: Option<String>,
}

impl Failure {
    pub fn new(error: impl Into<String>) -> Self {
        Self {
            error: error.into(),
            traceback: None,
        }
    }
}

/// What a run counted, whatever its outcome.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counters {
    pub rows_read: u64,
    pub rows_written: u64,
    pub chunks: u64,
    /// What the script printed, cut at the limit with a line saying so.
    pub output: String,
    /// The most memory the sandbox used, read from its cgroup when it ended.
    pub peak_memory_bytes: Option<u64>,
}

/// Where a run reports results and progress.
#[async_trait::async_trait]
pub trait Sink: Send {
    /// One chunk's result, already checked against the first's columns and the row cap:
    /// CPU work only (it runs on a blocking thread).
    fn result(&mut self, batch: RecordBatch) -> Result<(), Failure>;
    /// After each chunk, and every second while one is transformed: what the run has
    /// counted so far. A sink that sends results on (to a database) does so here; an
    /// error fails the job.
    async fn progress(&mut self, counters: &Counters) -> Result<(), Failure>;
}

/// How long a sandbox started ahead may wait for its run: one older is replaced.
const MAX_WAIT: Duration = Duration::from_secs(600);

/// The sandbox a job runs in, made from an environment's layers. [`run`] keeps the job's
/// time limit from the job's start; the runtime ends the sandbox anyway once it could
/// have waited [`MAX_WAIT`] and then run for the whole limit, so it never outlives a
/// Burrow process that died mid-job by more than that.
pub fn spec(env: &burrow_envs::EnvRef, limits: &Limits) -> SandboxSpec {
    let mut spec = SandboxSpec::new(vec!["python".into(), "-m".into(), "burrow._job".into()]);
    spec.mounts.extend(env.mounts());
    spec.env.extend(env.vars());
    spec.env.push((
        "PATH".into(),
        format!(
            "{}/bin:/usr/local/bin:/usr/bin:/bin",
            burrow_envs::BASE_MOUNT
        ),
    ));
    spec.env.push(("PYTHONUNBUFFERED".into(), "1".into()));
    spec.limits.timeout = Some(MAX_WAIT + limits.timeout);
    spec.limits.memory_bytes = limits.memory_bytes;
    spec.limits.cpus = limits.cpus;
    spec.network = Network::Loopback;
    spec.host_services = vec![JOB_PORT];
    spec.labels.insert(KIND_LABEL.into(), "job".into());
    spec
}

/// Kills and removes the sandbox when dropped, so a cancelled run leaves nothing.
struct Sandbox {
    runtime: Arc<dyn Runtime>,
    id: String,
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let (runtime, id) = (Arc::clone(&self.runtime), self.id.clone());
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            handle.spawn(async move {
                let _ = runtime.kill(&id).await;
                if let Err(e) = runtime.remove(&id).await {
                    tracing::warn!(sandbox = %id, error = %e, "Could not remove a job's sandbox");
                }
            });
        }
    }
}

/// A job's sandbox, started: its runner loads pandas and pyarrow, connects, and waits for
/// a script. It serves one run; dropping it kills and removes it.
pub struct Runner {
    // Field order is drop order: the sandbox goes before its lease.
    sandbox: Sandbox,
    listener: Box<dyn burrow_sandbox::HostListener>,
    /// Held while it lives: if this process dies, `gc` reaps the sandbox.
    _lease: burrow_sandbox::Lease,
    /// What it was made for: a run with other layers or limits needs another.
    env: burrow_envs::EnvRef,
    memory_bytes: u64,
    cpus: f64,
    started: tokio::time::Instant,
    /// When the runtime ends it, counted from `started`.
    ends_after: Duration,
}

impl std::fmt::Debug for Runner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runner")
            .field("sandbox", &self.sandbox.id)
            .field("env", &self.env.key)
            .finish_non_exhaustive()
    }
}

impl Runner {
    /// Starts a sandbox for a run in `env` with `limits`.
    pub async fn start(
        runtime: Arc<dyn Runtime>,
        env: &burrow_envs::EnvRef,
        limits: &Limits,
    ) -> Result<Self, Failure> {
        let failed = |e: burrow_sandbox::SandboxError| {
            Failure::new(format!("the job's sandbox did not start: {e}"))
        };
        let lease = runtime.lease().await.map_err(failed)?;
        let started = tokio::time::Instant::now();
        let mut spec = spec(env, limits);
        let ends_after = spec.limits.timeout.unwrap_or(Duration::MAX);
        spec.labels
            .insert(burrow_sandbox::LEASE_LABEL.into(), lease.id().to_owned());
        let created = runtime.create(spec).await.map_err(failed)?;
        let sandbox = Sandbox {
            runtime,
            id: created.id,
        };
        let (_, listener) = created
            .listeners
            .into_iter()
            .next()
            .ok_or_else(|| Failure::new("the job's sandbox has no runner service"))?;
        Ok(Self {
            sandbox,
            listener,
            _lease: lease,
            env: env.clone(),
            memory_bytes: limits.memory_bytes,
            cpus: limits.cpus,
            started,
            ends_after,
        })
    }

    /// The sandbox's id, as `burrow sandbox ps` shows it.
    pub fn id(&self) -> &str {
        &self.sandbox.id
    }

    /// Whether it can serve a run in `env` with `limits` now: made for them, not waiting
    /// for longer than [`MAX_WAIT`], and with the whole time limit left before the runtime
    /// ends it.
    fn fits(&self, env: &burrow_envs::EnvRef, limits: &Limits) -> bool {
        let waited = self.started.elapsed();
        self.env == *env
            && self.memory_bytes == limits.memory_bytes
            && self.cpus == limits.cpus
            && waited <= MAX_WAIT
            && waited.saturating_add(limits.timeout) <= self.ends_after
    }
}

/// Keeps one [`Runner`] started ahead, so a job or a trial waits for no sandbox, Python or
/// pandas (about half a second): each run starts the next when it is over, and a run
/// that comes while it is starting waits for it rather than start another. Each runner
/// serves one run and is then removed; none is reused,
/// so nothing of one project's run is left for another's. The first run after a start
/// makes its own, and so do runs at once with another (the one started ahead goes to the
/// first) and a run for other layers or limits.
#[derive(Debug)]
pub struct Runners {
    runtime: Arc<dyn Runtime>,
    keep: bool,
    /// Set by [`Runners::clear`]: nothing is started ahead any more.
    closed: Arc<std::sync::atomic::AtomicBool>,
    /// Held by the task starting the next runner until it is ready, so a run that comes
    /// meanwhile waits for it instead of starting another beside it.
    next: Arc<tokio::sync::Mutex<Option<Runner>>>,
}

impl Runners {
    /// With `keep` false, every run starts its own runner.
    pub fn new(runtime: Arc<dyn Runtime>, keep: bool) -> Arc<Self> {
        Arc::new(Self {
            runtime,
            keep,
            closed: Arc::new(std::sync::atomic::AtomicBool::new(false)),
            next: Arc::new(tokio::sync::Mutex::new(None)),
        })
    }

    /// A runner for a run in `env` with `limits`: the one started ahead when it fits and
    /// still runs, else a new one.
    async fn take(&self, env: &burrow_envs::EnvRef, limits: &Limits) -> Result<Runner, Failure> {
        if !self.keep {
            return Runner::start(Arc::clone(&self.runtime), env, limits).await;
        }
        let ready = self.next.lock().await.take();
        if let Some(runner) = ready {
            let running = matches!(
                self.runtime.status(runner.id()).await,
                Ok(burrow_sandbox::Status::Running)
            );
            if running && runner.fits(env, limits) {
                return Ok(runner);
            }
        }
        Runner::start(Arc::clone(&self.runtime), env, limits).await
    }

    /// Runs `script` over `input` in a runner from [`Runners::take`], handing each result
    /// to `sink`, for at most the limits' time from now (getting the runner included); once
    /// the run is over, starts the next runner in the background (not before: on a small
    /// host, its Python loading pandas would take a core from this run's work).
    pub async fn run<S>(
        &self,
        env: &burrow_envs::EnvRef,
        limits: &Limits,
        script: &str,
        input: S,
        sink: &mut dyn Sink,
    ) -> (Counters, Result<(), Failure>)
    where
        S: AsyncStream<Item = Result<RecordBatch, Failure>> + Unpin + Send + 'static,
    {
        // The time limit counts from here: getting a runner is part of it.
        let deadline = tokio::time::Instant::now() + limits.timeout;
        let ran = match tokio::time::timeout_at(deadline, self.take(env, limits)).await {
            Ok(Ok(runner)) => run_until(runner, limits, deadline, script, input, sink).await,
            Ok(Err(f)) => (Counters::default(), Err(f)),
            Err(_) => (Counters::default(), Err(timed_out(limits))),
        };
        if self.keep {
            self.start_next(env, limits);
        }
        ran
    }

    /// Starts the next runner in the background, unless one is there or on its way.
    fn start_next(&self, env: &burrow_envs::EnvRef, limits: &Limits) {
        let closed = || self.closed.load(std::sync::atomic::Ordering::SeqCst);
        if closed() {
            return;
        }
        let Ok(mut next) = Arc::clone(&self.next).try_lock_owned() else {
            return;
        };
        if next.is_some() {
            return;
        }
        let (runtime, env, limits) = (Arc::clone(&self.runtime), env.clone(), limits.clone());
        let closed = Arc::clone(&self.closed);
        tokio::spawn(async move {
            match Runner::start(runtime, &env, &limits).await {
                // Cleared meanwhile: the runner goes as it drops.
                Ok(_) if closed.load(std::sync::atomic::Ordering::SeqCst) => {}
                Ok(runner) => *next = Some(runner),
                Err(f) => tracing::warn!(error = %f.error, "Could not start a job runner ahead"),
            }
        });
    }

    /// Removes the runner started ahead, if any, and starts no more: before the process
    /// ends.
    pub async fn clear(&self) {
        self.closed.store(true, std::sync::atomic::Ordering::SeqCst);
        if let Some(runner) = self.next.lock().await.take() {
            let id = runner.sandbox.id.clone();
            let _ = self.runtime.kill(&id).await;
            let _ = self.runtime.remove(&id).await;
        }
    }
}

/// Runs `script` over `input` in `runner`'s sandbox, handing each result to `sink`, until
/// `deadline` at most. Returns what it counted, and how it ended.
async fn run_until<S>(
    runner: Runner,
    limits: &Limits,
    deadline: tokio::time::Instant,
    script: &str,
    input: S,
    sink: &mut dyn Sink,
) -> (Counters, Result<(), Failure>)
where
    S: AsyncStream<Item = Result<RecordBatch, Failure>> + Unpin + Send + 'static,
{
    let mut counters = Counters::default();
    let Runner {
        sandbox,
        listener,
        _lease: lease,
        ..
    } = runner;
    let runtime = Arc::clone(&sandbox.runtime);
    let mut log = Log::new(limits.max_log_bytes);
    let exchange = async {
        let connection = listener
            .accept()
            .await
            .map_err(|e| Failure::new(format!("the job's runner did not connect: {e}")))?;
        let here = (runtime.as_ref(), sandbox.id.as_str());
        exchange(
            connection,
            here,
            &mut log,
            limits,
            script,
            input,
            sink,
            &mut counters,
        )
        .await
    };
    let outcome = tokio::select! {
        // The runner's last answer comes before its exit: read it first.
        biased;
        result = exchange => result,
        exit = runtime.wait(&sandbox.id) => Err(ended_early(exit.ok(), limits)),
        () = tokio::time::sleep_until(deadline) => Err(timed_out(limits)),
    };
    // A broken exchange is most often the sandbox's end: say why it ended.
    let outcome = match outcome {
        Err(failure) if failure.error == CLOSED => {
            let exit = tokio::time::timeout(Duration::from_secs(5), runtime.wait(&sandbox.id))
                .await
                .ok()
                .and_then(Result::ok);
            Err(ended_early(exit, limits))
        }
        other => other,
    };
    if let Ok(exit) = runtime.kill(&sandbox.id).await {
        counters.peak_memory_bytes = exit.peak_memory_bytes;
    }
    log.read(runtime.as_ref(), &sandbox.id).await;
    counters.output = log.text();
    let outcome = match outcome {
        // The runner's last words say more than its exit code.
        Err(mut f) if f.error.starts_with(ENDED_EARLY) => {
            if let Some(last) = counters.output.lines().rev().find(|l| !l.trim().is_empty()) {
                f.error = format!(
                    "{}: {}",
                    f.error.trim_end_matches("; see the log"),
                    last.trim()
                );
            }
            Err(f)
        }
        other => other.and_then(|()| log.check()),
    };
    drop(sandbox);
    drop(lease);
    (counters, outcome)
}

const CLOSED: &str = "the job's runner closed its connection";
/// How often a chunk's printed output is read while transform works on it.
const LOG_EVERY: Duration = Duration::from_secs(1);
const ENDED_EARLY: &str = "the job's runner ended before the job did";

/// Why a sandbox ended before its runner said it was done.
fn ended_early(exit: Option<ExitStatus>, limits: &Limits) -> Failure {
    Failure::new(match exit {
        Some(ExitStatus {
            reason: ExitReason::Oom,
            ..
        }) => format!(
            "killed: out of memory (the job's limit is {} MiB): transform smaller chunks, \
             or ask an admin to raise jobs.memory_mb",
            limits.memory_bytes >> 20
        ),
        Some(ExitStatus {
            reason: ExitReason::Timeout,
            ..
        }) => return timed_out(limits),
        Some(exit) => format!("{ENDED_EARLY} ({exit}); see the log"),
        None => format!("{ENDED_EARLY}; see the log"),
    })
}

fn timed_out(limits: &Limits) -> Failure {
    Failure::new(format!(
        "killed: timeout after {} s (the job's limit): make the script faster, or ask an \
         admin to raise jobs.timeout_secs",
        limits.timeout.as_secs()
    ))
}

/// The conversation with the runner: the script, then each chunk and its result.
///
/// Chunks go out as they are read, on the connection's write half, while results come
/// back on its read half: the host reads and encodes the next chunk, and checks and
/// writes the last result, while Python transforms this one. How far ahead the chunks
/// get is bounded by the socket's buffers, as the runner reads one chunk at a time.
#[allow(clippy::too_many_arguments)]
async fn exchange<S>(
    connection: Connection,
    (runtime, id): (&dyn Runtime, &str),
    log: &mut Log,
    limits: &Limits,
    script: &str,
    mut input: S,
    sink: &mut dyn Sink,
    counters: &mut Counters,
) -> Result<(), Failure>
where
    S: AsyncStream<Item = Result<RecordBatch, Failure>> + Unpin + Send + 'static,
{
    let (mut from_runner, mut to_runner) = tokio::io::split(connection);
    send(&mut to_runner, b'S', script.as_bytes()).await?;
    match receive(&mut from_runner, limits.max_frame_bytes).await? {
        (b'R', _) => {}
        other => return Err(unexpected(other)),
    }
    // Each chunk's rows, in the order sent: counted as read when its result is back.
    let (sent, mut in_flight) = tokio::sync::mpsc::unbounded_channel::<u64>();
    // Set once every chunk went out: only then may the runner say it is done.
    let all_sent = Arc::new(std::sync::atomic::AtomicBool::new(false));
    // A task of its own, so reading and encoding chunks runs beside checking and writing
    // results (which holds its thread), not in turn with it. Aborted when the run ends.
    let fed = {
        let all_sent = Arc::clone(&all_sent);
        Feed(tokio::spawn(async move {
            while let Some(batch) = input.next().await {
                let batch = batch?;
                let bytes = encode(&batch)?;
                let _ = sent.send(batch.num_rows() as u64);
                send(&mut to_runner, b'B', &bytes).await?;
            }
            all_sent.store(true, std::sync::atomic::Ordering::SeqCst);
            send(&mut to_runner, b'E', b"").await?;
            // The write half stays open until the run ends: closing it would say to the
            // runner that Burrow is gone.
            std::future::pending::<()>().await;
            Ok(())
        }))
    };
    let feed = async move {
        let mut fed = fed;
        let fed = match (&mut fed.0).await {
            Ok(fed) => fed,
            Err(e) => Err(Failure::new(format!("feeding the chunks failed: {e}"))),
        };
        match fed {
            // The results' side says how the run ended: at `D` after all went out, or
            // with the runner's error (which closed the connection under the feed).
            Ok(()) => std::future::pending().await,
            Err(f) if f.error == CLOSED => std::future::pending().await,
            Err(f) => Err(f),
        }
    };
    let take = async {
        let mut first: Option<SchemaRef> = None;
        let mut output_bytes = 0u64;
        loop {
            // While transform works on a chunk, what it prints reaches the job's log
            // (and a flood of it fails the job) every second, not only when it is done.
            let reply = receive(&mut from_runner, limits.max_frame_bytes);
            tokio::pin!(reply);
            let mut tick =
                tokio::time::interval_at(tokio::time::Instant::now() + LOG_EVERY, LOG_EVERY);
            let reply = loop {
                tokio::select! {
                    biased;
                    reply = &mut reply => break reply?,
                    _ = tick.tick() => {
                        if log.read(runtime, id).await {
                            counters.output = log.text();
                            log.check()?;
                        }
                        // Also what the sink held back when it last had progress.
                        sink.progress(counters).await?;
                    }
                }
            };
            let payload = match reply {
                (b'B', payload) => payload,
                // Done, truly: after the last chunk, with every chunk's result back.
                (b'D', _)
                    if all_sent.load(std::sync::atomic::Ordering::SeqCst)
                        && in_flight.try_recv().is_err() =>
                {
                    return Ok(())
                }
                (b'D', _) => {
                    return Err(Failure::new(
                        "the job's runner said it was done before every chunk was transformed",
                    ))
                }
                other => return Err(unexpected(other)),
            };
            counters.rows_read += in_flight.try_recv().unwrap_or(0);
            counters.chunks += 1;
            let chunk = counters.chunks;
            for result in decode(payload, chunk).await? {
                match &first {
                    None => first = Some(result.schema()),
                    Some(schema) => same_columns(schema, &result.schema(), chunk)?,
                }
                counters.rows_written += result.num_rows() as u64;
                if counters.rows_written > limits.max_output_rows {
                    return Err(Failure::new(format!(
                        "the job's output exceeds {} rows (jobs.max_output_rows): filter or \
                         aggregate in transform, or ask an admin to raise the limit",
                        limits.max_output_rows
                    )));
                }
                output_bytes += result.get_array_memory_size() as u64;
                if output_bytes > limits.max_output_bytes {
                    return Err(Failure::new(format!(
                        "the job's output exceeds {} MiB (jobs.max_output_mb): return fewer or \
                         smaller columns, or ask an admin to raise the limit",
                        limits.max_output_bytes >> 20
                    )));
                }
                // Casting and writing Parquet is work for a blocking thread, not the async ones.
                if tokio::runtime::Handle::current().runtime_flavor()
                    == tokio::runtime::RuntimeFlavor::MultiThread
                {
                    tokio::task::block_in_place(|| sink.result(result))?;
                } else {
                    sink.result(result)?;
                }
            }
            log.read(runtime, id).await;
            counters.output = log.text();
            log.check()?;
            sink.progress(counters).await?;
        }
    };
    // The results' side ends the run (at `D`, which the runner sends only after the
    // feed's `E`, or at a failure); the feed only with a failure of its own, such as a
    // source that could not be read.
    tokio::select! {
        biased;
        done = take => done,
        failed = feed => failed,
    }
}

/// The task feeding chunks to the runner, aborted when dropped.
struct Feed(tokio::task::JoinHandle<Result<(), Failure>>);

impl Drop for Feed {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn encode(batch: &RecordBatch) -> Result<Vec<u8>, Failure> {
    let mut bytes = Vec::new();
    let mut writer = StreamWriter::try_new(&mut bytes, &batch.schema())
        .map_err(|e| Failure::new(format!("encoding a chunk: {e}")))?;
    writer
        .write(batch)
        .and_then(|()| writer.finish())
        .map_err(|e| Failure::new(format!("encoding a chunk: {e}")))?;
    drop(writer);
    Ok(bytes)
}

/// A result's batches, decoded and validated by Arrow, off the async threads; an empty
/// result is one empty batch, so its columns are still known. The stream's framing is
/// checked first: Arrow's reader trusts the lengths a message claims.
async fn decode(payload: Vec<u8>, chunk: u64) -> Result<Vec<RecordBatch>, Failure> {
    let decoded = tokio::task::spawn_blocking(move || -> Result<Vec<RecordBatch>, String> {
        check_stream(&payload)?;
        let reader =
            StreamReader::try_new(Cursor::new(payload), None).map_err(|e| e.to_string())?;
        let schema = reader.schema();
        let batches = reader
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| e.to_string())?;
        Ok(if batches.is_empty() {
            vec![RecordBatch::new_empty(schema)]
        } else {
            batches
        })
    })
    .await
    .unwrap_or_else(|_| Err("decoding it failed".into()));
    decoded.map_err(|e| {
        Failure::new(format!(
            "the result of chunk {chunk} is not a valid Arrow stream: {e}"
        ))
    })
}

/// Walks an Arrow IPC stream's messages: each one's metadata must parse and its body fit
/// in what is left, and no body may be compressed (the runner never compresses, and a
/// compressed body names the size to allocate for it).
fn check_stream(bytes: &[u8]) -> Result<(), String> {
    let word = |at: usize| -> Option<i32> {
        Some(i32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
    };
    let mut at = 0usize;
    while at < bytes.len() {
        let mut length = word(at).ok_or("a message is cut short")?;
        at += 4;
        if length == -1 {
            length = word(at).ok_or("a message is cut short")?;
            at += 4;
        }
        if length == 0 {
            return Ok(());
        }
        let length = usize::try_from(length).map_err(|_| "a message has a negative length")?;
        let metadata = bytes
            .get(at..at.saturating_add(length))
            .ok_or("a message is longer than the stream")?;
        let message = arrow::ipc::root_as_message(metadata)
            .map_err(|e| format!("a message does not parse: {e}"))?;
        at += length;
        let body = usize::try_from(message.bodyLength())
            .map_err(|_| "a message's body has a negative length")?;
        if body > bytes.len() - at {
            return Err("a message's body is longer than the stream".into());
        }
        let compressed = message
            .header_as_record_batch()
            .is_some_and(|b| b.compression().is_some())
            || message
                .header_as_dictionary_batch()
                .and_then(|d| d.data())
                .is_some_and(|b| b.compression().is_some());
        if compressed {
            return Err("its buffers are compressed".into());
        }
        at += body;
    }
    Ok(())
}

/// Every chunk's result must have the first's columns, in order, with their types. pandas
/// reads an integer column with a null as floats, and a column of nothing but nulls has no
/// type, so numbers match numbers and a column of nulls matches anything; the table's
/// writer checks that each value fits the column's type.
fn same_columns(first: &SchemaRef, this: &SchemaRef, chunk: u64) -> Result<(), Failure> {
    let numeric = |t: &DataType| t.is_integer() || t.is_floating();
    let matches = first.fields().len() == this.fields().len()
        && first.fields().iter().zip(this.fields()).all(|(a, b)| {
            let (ta, tb) = (a.data_type(), b.data_type());
            a.name() == b.name()
                && (ta == tb
                    || *ta == DataType::Null
                    || *tb == DataType::Null
                    || (numeric(ta) && numeric(tb)))
        });
    if matches {
        return Ok(());
    }
    let show = |s: &SchemaRef| {
        s.fields()
            .iter()
            .map(|f| format!("{} {}", f.name(), f.data_type()))
            .collect::<Vec<_>>()
            .join(", ")
    };
    Err(Failure::new(format!(
        "chunk {chunk}'s result has other columns or types than the first chunk's: \
         ({}) instead of ({}): make transform return the same columns with the same types \
         for every chunk",
        show(this),
        show(first)
    )))
}

fn unexpected((tag, payload): (u8, Vec<u8>)) -> Failure {
    if tag == b'X' {
        #[derive(serde::Deserialize)]
        struct Error {
            error: String,
            traceback: Option<String>,
        }
        return match serde_json::from_slice::<Error>(&payload) {
            Ok(e) => Failure {
                error: cut(e.error, 2 << 10),
                traceback: e.traceback.map(|t| cut(t, 32 << 10)),
            },
            Err(_) => Failure::new("the job's runner reported an error it could not describe"),
        };
    }
    Failure::new(format!(
        "the job's runner sent an unexpected message ({:?})",
        char::from(tag)
    ))
}

/// `text` cut to at most `max` bytes (on a character boundary), saying so.
fn cut(mut text: String, max: usize) -> String {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.truncate(end);
    text.push_str(" […]");
    text
}

async fn send<W>(connection: &mut W, tag: u8, payload: &[u8]) -> Result<(), Failure>
where
    W: tokio::io::AsyncWrite + Unpin,
{
    let length = u32::try_from(payload.len())
        .map_err(|_| Failure::new("a chunk is larger than 4 GiB: lower jobs.chunk_rows"))?;
    let mut head = [0u8; 5];
    head[0] = tag;
    head[1..].copy_from_slice(&length.to_be_bytes());
    connection
        .write_all(&head)
        .await
        .and(connection.write_all(payload).await)
        .and(connection.flush().await)
        .map_err(|_| Failure::new(CLOSED))
}

/// The largest message other than a result: an error with its traceback.
const MAX_MESSAGE: usize = 64 << 10;

async fn receive<R>(connection: &mut R, max: usize) -> Result<(u8, Vec<u8>), Failure>
where
    R: tokio::io::AsyncRead + Unpin,
{
    let mut head = [0u8; 5];
    connection
        .read_exact(&mut head)
        .await
        .map_err(|_| Failure::new(CLOSED))?;
    let length = u32::from_be_bytes([head[1], head[2], head[3], head[4]]) as usize;
    if head[0] == b'B' && length > max {
        return Err(Failure::new(format!(
            "a chunk's result is larger than {} MiB: return fewer or smaller rows per chunk, \
             or lower jobs.chunk_rows",
            max >> 20
        )));
    }
    if head[0] != b'B' && length > MAX_MESSAGE {
        return Err(Failure::new(format!(
            "the job's runner sent a message larger than {} KiB",
            MAX_MESSAGE >> 10
        )));
    }
    let mut payload = vec![0u8; length];
    connection
        .read_exact(&mut payload)
        .await
        .map_err(|_| Failure::new(CLOSED))?;
    Ok((head[0], payload))
}

/// The script's output, kept up to a limit.
struct Log {
    text: Vec<u8>,
    max: usize,
    dropped: usize,
    cursor: burrow_sandbox::Cursor,
}

impl Log {
    fn new(max: usize) -> Self {
        Self {
            text: Vec::new(),
            max,
            dropped: 0,
            cursor: burrow_sandbox::Cursor::default(),
        }
    }

    /// Reads what was printed since the last read; whether there was anything.
    async fn read(&mut self, runtime: &dyn Runtime, id: &str) -> bool {
        let before = self.cursor;
        loop {
            match runtime.logs(id, self.cursor).await {
                Ok((chunks, next)) if !chunks.is_empty() => {
                    for chunk in chunks {
                        let room = self.max.saturating_sub(self.text.len());
                        let kept = chunk.data.len().min(room);
                        self.text.extend_from_slice(&chunk.data[..kept]);
                        self.dropped += chunk.data.len() - kept;
                    }
                    self.cursor = next;
                }
                _ => break,
            }
        }
        self.cursor != before
    }

    /// Output past the limit fails the job: a log that lost its end explains nothing.
    fn check(&self) -> Result<(), Failure> {
        if self.dropped == 0 {
            return Ok(());
        }
        Err(Failure::new(format!(
            "the script printed more than {} KiB, the most a job's log keeps: print less, \
             such as one summary line per chunk",
            self.max >> 10
        )))
    }

    fn text(&self) -> String {
        let mut text = String::from_utf8_lossy(&self.text).into_owned();
        if self.dropped > 0 {
            text.push_str(&format!(
                "\n[burrow: {} more bytes of output were not kept; the log keeps the first {} KiB]\n",
                self.dropped,
                self.max >> 10
            ));
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Int64Array, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};

    fn batch(names: &[(&str, DataType)]) -> RecordBatch {
        let schema = Arc::new(Schema::new(
            names
                .iter()
                .map(|(n, t)| Field::new(*n, t.clone(), true))
                .collect::<Vec<_>>(),
        ));
        let columns = names
            .iter()
            .map(|(_, t)| match t {
                DataType::Int64 => Arc::new(Int64Array::from(vec![1, 2])) as _,
                _ => Arc::new(StringArray::from(vec!["a", "b"])) as _,
            })
            .collect();
        RecordBatch::try_new(schema, columns).unwrap()
    }

    #[tokio::test]
    async fn a_result_round_trips_and_garbage_is_refused() {
        let b = batch(&[("x", DataType::Int64), ("y", DataType::Utf8)]);
        let bytes = encode(&b).unwrap();
        let decoded = decode(bytes.clone(), 1).await.unwrap();
        assert_eq!(decoded, vec![b.clone()]);
        let error = decode(b"not arrow at all".to_vec(), 3)
            .await
            .unwrap_err()
            .error;
        assert!(
            error.starts_with("the result of chunk 3 is not a valid Arrow stream"),
            "{error}"
        );
        // A stream that claims a body larger than itself is refused before Arrow reads it.
        let word = |at: usize| i32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
        let batch_at = 8 + word(4);
        let mut lying = bytes.clone();
        lying.truncate(batch_at + 8 + word(batch_at + 4) + 8);
        let error = decode(lying, 2).await.unwrap_err().error;
        assert!(error.contains("body is longer than the stream"), "{error}");
        for cut in [5, 9, bytes.len() / 2] {
            assert!(
                decode(bytes[..cut].to_vec(), 1).await.is_err(),
                "cut at {cut}"
            );
        }
    }

    #[tokio::test]
    async fn an_empty_result_keeps_its_columns() {
        let b = batch(&[("x", DataType::Int64)]).slice(0, 0);
        let mut bytes = Vec::new();
        let mut writer = StreamWriter::try_new(&mut bytes, &b.schema()).unwrap();
        writer.finish().unwrap();
        drop(writer);
        let decoded = decode(bytes, 1).await.unwrap();
        assert_eq!(decoded.len(), 1);
        assert_eq!(decoded[0].num_rows(), 0);
        assert_eq!(decoded[0].schema(), b.schema());
    }

    #[test]
    fn a_chunk_with_other_columns_or_types_is_named() {
        let first = batch(&[("x", DataType::Int64)]).schema();
        let same = batch(&[("x", DataType::Int64)]).schema();
        assert!(same_columns(&first, &same, 2).is_ok());
        // pandas reads an integer column with a null as floats; a column of nulls has no type.
        let floats = Arc::new(Schema::new(vec![Field::new("x", DataType::Float64, true)]));
        assert!(same_columns(&first, &floats, 2).is_ok());
        let nulls = Arc::new(Schema::new(vec![Field::new("x", DataType::Null, true)]));
        assert!(same_columns(&first, &nulls, 2).is_ok());
        let renamed = batch(&[("y", DataType::Int64)]).schema();
        assert!(same_columns(&first, &renamed, 2).is_err());
        let other = batch(&[("x", DataType::Utf8)]).schema();
        let error = same_columns(&first, &other, 4).unwrap_err().error;
        assert!(
            error.contains("chunk 4's result has other columns or types than the first chunk's: (x Utf8) instead of (x Int64)"),
            "{error}"
        );
    }

    #[test]
    fn the_runner_reports_its_errors_with_their_traceback() {
        let failure = unexpected((
            b'X',
            br#"{"error": "transform raised KeyError on chunk 2: 'z'", "traceback": "Traceback"}"#
                .to_vec(),
        ));
        assert_eq!(failure.error, "transform raised KeyError on chunk 2: 'z'");
        assert_eq!(failure.traceback.as_deref(), Some("Traceback"));
        assert!(unexpected((b'Q', vec![]))
            .error
            .contains("unexpected message"));
    }

    #[test]
    fn the_log_says_what_it_did_not_keep() {
        let mut log = Log::new(4);
        log.text.extend_from_slice(b"abcd");
        log.dropped = 10;
        assert!(log
            .text()
            .starts_with("abcd\n[burrow: 10 more bytes of output were not kept"));
    }
}
