//! The shared application state handed to every handler.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use burrow_blobs::ObjectStore;
use burrow_config::Config;
use burrow_core::rate_limit::FailureLimiter;
use burrow_store::Store;
use tokio::sync::{Mutex, Semaphore};

use crate::error::ApiError;

/// Everything a request may need; cloning is one `Arc` increment.
#[derive(Clone, Debug)]
pub struct AppState(Arc<App>);

impl std::ops::Deref for AppState {
    type Target = App;

    fn deref(&self) -> &App {
        &self.0
    }
}

pub struct App {
    pub config: Config,
    pub store: Store,
    pub blobs: Arc<dyn ObjectStore>,
    /// Caps concurrent password hashing: each hash holds 19 MiB and a core.
    pub hashing: Semaphore,
    pub login_limits: Mutex<LoginLimits>,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("config", &self.config)
            .field("store", &self.store)
            .finish_non_exhaustive()
    }
}

/// Failed-login counters, per account and per client address.
#[derive(Debug)]
pub struct LoginLimits {
    pub per_account: FailureLimiter,
    pub per_address: FailureLimiter,
}

impl AppState {
    pub fn new(config: Config, store: Store, blobs: Arc<dyn ObjectStore>) -> Self {
        let permits = match config.auth.max_concurrent_hashes {
            0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
            n => n,
        };
        let window = Duration::from_secs(config.auth.failure_window_secs);
        let login_limits = LoginLimits {
            per_account: FailureLimiter::new(config.auth.max_failures_per_account, window),
            per_address: FailureLimiter::new(config.auth.max_failures_per_address, window),
        };
        Self(Arc::new(App {
            config,
            store,
            blobs,
            hashing: Semaphore::new(permits),
            login_limits: Mutex::new(login_limits),
        }))
    }
}

impl App {
    /// Runs a password hash or verification on the blocking pool, at most
    /// `auth.max_concurrent_hashes` at once.
    pub async fn with_hashing<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        let _permit = self
            .hashing
            .acquire()
            .await
            .map_err(|_| ApiError::internal("the hashing semaphore is closed"))?;
        tokio::task::spawn_blocking(work)
            .await
            .map_err(|e| ApiError::internal(format!("password hashing task failed: {e}")))
    }

    /// 429 if either the account or the address has run out of failed logins.
    pub async fn check_login_allowed(
        &self,
        account: &str,
        address: IpAddr,
    ) -> Result<(), ApiError> {
        let now = Instant::now();
        let mut limits = self.login_limits.lock().await;
        let by_account = limits.per_account.check(account, now);
        let by_address = limits.per_address.check(&address.to_string(), now);
        let retry = match (by_account, by_address) {
            (Ok(()), Ok(())) => return Ok(()),
            (Err(a), Ok(())) | (Ok(()), Err(a)) => a,
            (Err(a), Err(b)) => a.max(b),
        };
        let secs = retry.as_secs().max(1);
        Err(ApiError::too_many_requests(
            secs,
            format!("too many failed logins: wait {secs} seconds and try again"),
        ))
    }

    pub async fn record_login_failure(&self, account: &str, address: IpAddr) {
        let now = Instant::now();
        let mut limits = self.login_limits.lock().await;
        limits.per_account.record_failure(account, now);
        limits.per_address.record_failure(&address.to_string(), now);
    }

    pub async fn record_login_success(&self, account: &str) {
        self.login_limits.lock().await.per_account.clear(account);
    }
}
