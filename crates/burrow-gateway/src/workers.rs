//! The threads viewer connections are served on: one per core, each running a
//! single-threaded runtime of its own, as nginx runs a worker process per core. A
//! connection stays on the thread it is given, so what wakes its task (the viewer's
//! bytes, the app's answer) never has to wake another thread, and nothing moves it
//! between threads mid-request. On a shared multi-threaded runtime those wake-ups and
//! moves cost more than the proxying itself (`make bench`, `app_proxy`).
//!
//! The threads are started once, on the first connection, and live as long as the
//! process: a connection outlives the listener that accepted it, and what it starts
//! (an app woken on first view) keeps running on them.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use tokio::sync::mpsc;

/// What serves one connection once it is on its thread.
pub(crate) type Serve =
    Box<dyn FnOnce(tokio::net::TcpStream) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send>;

struct Worker {
    jobs: mpsc::UnboundedSender<(std::net::TcpStream, Serve)>,
    /// Connections it serves now.
    load: Arc<AtomicUsize>,
}

static WORKERS: OnceLock<Vec<Worker>> = OnceLock::new();

fn workers() -> &'static [Worker] {
    WORKERS.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        (0..cores).filter_map(start).collect()
    })
}

/// Starts worker `n`; `None` when its thread or runtime cannot start (the others serve).
fn start(n: usize) -> Option<Worker> {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            tracing::error!(error = %e, "An apps origin thread's runtime could not start");
            return None;
        }
    };
    let (jobs, mut queue) = mpsc::unbounded_channel::<(std::net::TcpStream, Serve)>();
    let load = Arc::new(AtomicUsize::new(0));
    let served = Arc::clone(&load);
    let started = std::thread::Builder::new()
        .name(format!("burrow-apps-{n}"))
        .spawn(move || {
            runtime.block_on(async move {
                while let Some((stream, serve)) = queue.recv().await {
                    let counted = Counted(Arc::clone(&served));
                    match tokio::net::TcpStream::from_std(stream) {
                        Ok(stream) => {
                            tokio::spawn(async move {
                                serve(stream).await;
                                drop(counted);
                            });
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "A viewer's connection could not be served");
                        }
                    }
                }
            });
        });
    match started {
        Ok(_) => Some(Worker { jobs, load }),
        Err(e) => {
            tracing::error!(error = %e, "An apps origin thread could not start");
            None
        }
    }
}

/// Serves `stream` with `serve` on the thread with the fewest connections, or on the
/// caller's runtime when there is no such thread.
pub(crate) fn hand(stream: tokio::net::TcpStream, serve: Serve) {
    let Some(worker) = workers()
        .iter()
        .min_by_key(|w| w.load.load(Ordering::Relaxed))
    else {
        tokio::spawn(serve(stream));
        return;
    };
    let stream = match stream.into_std() {
        Ok(stream) => stream,
        Err(e) => {
            tracing::warn!(error = %e, "A viewer's connection could not be handed on");
            return;
        }
    };
    worker.load.fetch_add(1, Ordering::Relaxed);
    if worker.jobs.send((stream, serve)).is_err() {
        // The thread is gone: the connection closes.
        worker.load.fetch_sub(1, Ordering::Relaxed);
        tracing::error!("An apps origin thread has stopped");
    }
}

/// One connection counted in a worker's load until it ends, however it ends.
struct Counted(Arc<AtomicUsize>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}
