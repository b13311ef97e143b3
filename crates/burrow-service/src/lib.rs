//! Burrow's use cases, shared by the API, the apps gateway and the CLI: who may do what
//! ([`access`]), accounts, the package allowlist, and deploying, changing and deleting
//! apps ([`apps`]). No HTTP here, except behind the `http` feature: rendering
//! [`Error`]s as responses and observing requests, for the two HTTP edges.

pub mod access;
pub mod accounts;
pub mod apps;
pub mod blobs;
pub mod data;
pub mod error;
#[cfg(feature = "http")]
pub mod http;
pub mod jobs;
pub mod leases;
pub mod packages;
pub mod review;
pub mod schedules;
pub mod sources;
pub mod workspaces;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use burrow_blobs::ObjectStore;
use burrow_config::Config;
use burrow_store::{LoginKey, Store};
use tokio::sync::Semaphore;

pub use crate::error::{Error, Finding, Kind};

/// Everything a use case may need; cloning is one `Arc` increment.
#[derive(Clone, Debug)]
pub struct Services(Arc<Core>);

impl std::ops::Deref for Services {
    type Target = Core;

    fn deref(&self) -> &Core {
        &self.0
    }
}

pub struct Core {
    pub config: Config,
    pub store: Store,
    pub blobs: Arc<dyn ObjectStore>,
    /// Python environment builds, run by the durable queue.
    pub builds: burrow_envs::Builds,
    /// Starts, watches and stops app sandboxes.
    pub supervisor: burrow_apps::Supervisor,
    /// Starts, watches and stops workspace sandboxes, and keeps their files in step.
    pub workspaces: workspaces::sandbox::Supervisor,
    /// The sandboxes transform jobs and trials run in, one started ahead.
    pub runners: Arc<burrow_jobs::Runners>,
    /// The egress proxy app sandboxes reach; keeps their recent decisions.
    pub egress: burrow_egress::Egress,
    /// Read-only SQL over project tables, for the dashboard and the data bridge.
    pub data: burrow_data::Engine,
    /// Seals and opens data source passwords.
    pub keyring: burrow_data::Keyring,
    /// Caps concurrent password hashing: each hash holds 19 MiB and a core.
    pub hashing: Semaphore,
}

impl std::fmt::Debug for Core {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Core")
            .field("config", &self.config)
            .field("store", &self.store)
            .finish_non_exhaustive()
    }
}

impl Services {
    pub fn new(
        config: Config,
        store: Store,
        blobs: Arc<dyn ObjectStore>,
        runtime: Arc<dyn burrow_sandbox::Runtime>,
        builds: burrow_envs::Builds,
    ) -> Self {
        let permits = match config.auth.max_concurrent_hashes {
            0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
            n => n,
        };
        let egress = burrow_egress::Egress::new(config.egress.proxy_options());
        let data = burrow_data::Engine::new(Arc::clone(&blobs), data::limits(&config));
        let keyring = data::keyring(&config);
        let runners = burrow_jobs::Runners::new(Arc::clone(&runtime), config.jobs.keep_warm);
        let leases: Arc<dyn burrow_sessions::Leases> = Arc::new(leases::StoreLeases::new(
            store.clone(),
            config.replica_name(),
        ));
        // At least three of upkeep's 2 s renewals fit in a lease.
        let lease = Duration::from_secs(config.sandbox.lease_secs.max(6));
        let workspaces = workspaces::sandbox::Runs::new(
            store.clone(),
            Arc::clone(&blobs),
            builds.environments().clone(),
            config.workspaces.clone(),
            Arc::clone(&runtime),
        )
        .supervisor(
            Duration::from_secs(config.apps.start_timeout_secs),
            Arc::clone(&leases),
            lease,
        );
        let supervisor = burrow_apps::Supervisor::new(
            store.clone(),
            runtime,
            builds.environments().clone(),
            Arc::clone(&blobs),
            burrow_apps::Options {
                dir: config.apps_dir(),
                secrets_dir: config.secrets_dir(),
                start_timeout: Duration::from_secs(config.apps.start_timeout_secs),
                tick: Duration::from_secs(2),
                max_upload_mb: config.apps.max_upload_mb,
                egress: egress.clone(),
                egress_max: config.egress.max_policy(),
                data: data.clone(),
                keyring: keyring.clone(),
                assigned_dir: config.assigned_dir(),
                build_timeout: Duration::from_secs(config.envs.build_timeout_secs),
                max_builds: config.envs.max_concurrent_builds,
                warm_pool: config.apps.warm_pool as usize,
                leases,
                lease,
            },
        );
        Self(Arc::new(Core {
            config,
            store,
            blobs,
            builds,
            supervisor,
            workspaces,
            runners,
            egress,
            data,
            keyring,
            hashing: Semaphore::new(permits),
        }))
    }
}

impl Core {
    /// Runs a password hash or verification on the blocking pool, at most
    /// `auth.max_concurrent_hashes` at once.
    pub async fn with_hashing<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, Error> {
        // Waiting is bounded, so a flood of logins cannot queue without end.
        let _permit =
            match tokio::time::timeout(Duration::from_secs(10), self.hashing.acquire()).await {
                Ok(Ok(permit)) => permit,
                Ok(Err(_)) => return Err(Error::internal("the hashing semaphore is closed")),
                Err(_) => {
                    return Err(Error::new(
                        Kind::Unavailable,
                        "busy",
                        "the server is busy checking passwords: try again in a few seconds",
                    ))
                }
            };
        tokio::task::spawn_blocking(work)
            .await
            .map_err(|e| Error::internal(format!("password hashing task failed: {e}")))
    }

    /// 429 if either the account or the address has run out of failed logins;
    /// otherwise counts this attempt as a failure in advance, in the same transaction,
    /// so concurrent guesses cannot all slip past the check, whichever replica each
    /// reaches. A success takes it back with [`Core::record_login_success`].
    pub async fn begin_login_attempt(
        &self,
        account: Option<&str>,
        address: IpAddr,
    ) -> Result<(), Error> {
        let auth = &self.config.auth;
        let account = account.map(|a| format!("account:{a}"));
        let address = format!("address:{}", address_key(address));
        let mut keys = vec![LoginKey {
            key: &address,
            max_failures: auth.max_failures_per_address as i64,
        }];
        if let Some(account) = &account {
            keys.push(LoginKey {
                key: account,
                max_failures: auth.max_failures_per_account as i64,
            });
        }
        let window_ms = (auth.failure_window_secs as i64).saturating_mul(1000);
        match self
            .store
            .begin_login_attempt(&keys, burrow_store::now_ms(), window_ms)
            .await?
        {
            Ok(()) => Ok(()),
            Err(ms) => {
                let secs = (ms as u64).div_ceil(1000).max(1);
                Err(Error::too_many_requests(
                    secs,
                    format!("too many failed logins: wait {secs} seconds and try again"),
                ))
            }
        }
    }

    /// Clears the account's failures and takes back the address's advance count.
    pub async fn record_login_success(&self, account: &str, address: IpAddr) {
        let cleared = format!("account:{account}");
        let forgiven = format!("address:{}", address_key(address));
        if let Err(e) = self.store.end_login_attempt(&cleared, &forgiven).await {
            tracing::warn!(error = %e, "Could not clear the failed logins of a successful one");
        }
    }
}

/// The key a client address is limited by: IPv4 as is, IPv6 by its /64, since
/// one host commonly holds a whole /64.
fn address_key(address: IpAddr) -> String {
    match address {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
    }
}
