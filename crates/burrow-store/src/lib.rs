//! Burrow's database layer: sqlx over SQLite or PostgreSQL, chosen by the URL scheme.
//!
//! Both backends run the same SQL text through sqlx's `Any` driver; the few
//! places where they differ (locking) branch on [`Backend`]. Each backend has
//! its own migrations. Errors are translated into [`StoreError`] here, at the
//! boundary, so callers never match on `sqlx::Error`.

mod apps;
mod builds;
mod error;
mod events;
mod jobs;
mod leases;
mod logins;
mod members;
mod packages;
mod projects;
mod queue;
mod review;
mod schedules;
mod secrets;
mod sessions;
mod sources;
mod tables;
mod users;
mod viewing;
mod workspaces;

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, ConnectOptions, Executor};

pub use apps::{App, AppChanges, AppStatus, AppVersion, NewApp, NewVersion};
pub use builds::{Build, BuildStatus};
pub use error::StoreError;
pub use events::{Event, LogSegment, Subscription, ACCESS as ACCESS_EVENT, LOG_EVENT};
pub use jobs::{
    job_log_name, Destination, Job, JobCommit, JobProgress, JobScript, NewJob, ScriptVersion,
};
pub use leases::{Claim, Fence, SandboxLease};
pub use logins::LoginKey;
pub use members::Member;
pub use packages::Package;
pub use projects::{Project, ProjectMembership};
pub use queue::{NewTask, Renewal, Task, TaskOutcome, TaskStatus};
pub use review::{
    Anchor, Comment, NewNotification, NewSnapshot, SnapshotFile, Submission, SubmissionFilter,
    Template, Thread,
};
pub use schedules::{JobSchedule, NewSchedule};
pub use secrets::{AppSecret, PutSecret};
pub use sources::DataSource;
pub use tables::{DataTable, NewTableVersion};
pub use users::{NewUser, User};
pub use viewing::Notification;
pub use workspaces::{
    FileChange, FileEntry, FileExpect, FileWrite, Workspace, WorkspaceFile, WorkspaceLimits,
};

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// Which database engine a [`Store`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn from_url(url: &str) -> Result<Self> {
        match url.split(':').next().unwrap_or_default() {
            "sqlite" => Ok(Backend::Sqlite),
            "postgres" | "postgresql" => Ok(Backend::Postgres),
            other => Err(StoreError::Config(format!(
                "unsupported database URL scheme {other:?}: use sqlite:PATH or postgres://…"
            ))),
        }
    }
}

/// A handle to the database; cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    /// For SQLite, the database file, whose disappearance makes the store unready.
    sqlite_file: Option<PathBuf>,
    /// View grants remembered by this process: see [`viewing::Grants`].
    grants: std::sync::Arc<viewing::Grants>,
    /// This process's reader of events: see [`events`].
    events: std::sync::Arc<events::Hub>,
}

impl Store {
    /// Connects to the database at `url`, creating a SQLite file (and its folder) if needed.
    pub async fn connect(url: &str) -> Result<Self> {
        sqlx::any::install_default_drivers();
        let backend = Backend::from_url(url)?;
        let sqlite_file = match backend {
            Backend::Sqlite => sqlite_path(url),
            Backend::Postgres => None,
        };
        if let Some(dir) = sqlite_file.as_ref().and_then(|f| f.parent()) {
            if !dir.as_os_str().is_empty() {
                std::fs::create_dir_all(dir).map_err(|e| {
                    StoreError::Config(format!(
                        "cannot create the database folder {}: {e}",
                        dir.display()
                    ))
                })?;
            }
        }
        let options = AnyConnectOptions::from_str(url)
            .map_err(|e| StoreError::Config(format!("invalid database URL: {e}")))?
            .log_statements(tracing::log::LevelFilter::Trace);
        let pool = AnyPoolOptions::new()
            .max_connections(match backend {
                Backend::Sqlite => 8,
                Backend::Postgres => 16,
            })
            .acquire_timeout(Duration::from_secs(5))
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        // WAL lets readers run beside the one writer; foreign keys are
                        // off by default in SQLite and our schema relies on them.
                        conn.execute(
                            "PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON; \
                             PRAGMA busy_timeout = 5000; PRAGMA synchronous = NORMAL;",
                        )
                        .await?;
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await
            .map_err(StoreError::from)?;
        Ok(Self {
            pool,
            backend,
            sqlite_file,
            grants: Default::default(),
            events: std::sync::Arc::new(events::Hub::new(
                (backend == Backend::Postgres).then(|| url.to_owned()),
            )),
        })
    }

    /// Applies the backend's migrations that have not run yet.
    pub async fn migrate(&self) -> Result<()> {
        let migrator = match self.backend {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        };
        migrator
            .run(&self.pool)
            .await
            .map_err(|e| StoreError::Migrate(e.to_string()))
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Succeeds when the database answers a query.
    pub async fn ping(&self) -> Result<()> {
        if let Some(file) = &self.sqlite_file {
            if !file.exists() {
                return Err(StoreError::Unavailable(format!(
                    "the SQLite database file {} is gone",
                    file.display()
                )));
            }
        }
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Closes every connection; later calls fail with [`StoreError::Unavailable`].
    pub async fn close(&self) {
        self.pool.close().await;
    }

    pub(crate) fn pool(&self) -> &AnyPool {
        &self.pool
    }
}

/// The file a `sqlite:` URL points at, if it is a file and not `:memory:`.
fn sqlite_path(url: &str) -> Option<PathBuf> {
    let rest = url.strip_prefix("sqlite:")?;
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let path = rest.split('?').next().unwrap_or_default();
    if path.is_empty() || path == ":memory:" {
        None
    } else {
        Some(PathBuf::from(path))
    }
}

/// Milliseconds since the Unix epoch: how times are stored.
pub fn now_ms() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_sqlite_file_in_urls() {
        assert_eq!(
            sqlite_path("sqlite://./data/b.db?mode=rwc"),
            Some(PathBuf::from("./data/b.db"))
        );
        assert_eq!(
            sqlite_path("sqlite:/var/b.db"),
            Some(PathBuf::from("/var/b.db"))
        );
        assert_eq!(sqlite_path("sqlite::memory:"), None);
    }

    #[test]
    fn backend_follows_the_scheme() {
        assert_eq!(
            Backend::from_url("postgresql://x/y").unwrap(),
            Backend::Postgres
        );
        assert!(Backend::from_url("mysql://x")
            .unwrap_err()
            .to_string()
            .contains("mysql"));
    }
}
