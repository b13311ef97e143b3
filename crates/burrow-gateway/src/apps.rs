//! Apps as the gateway's destinations: `{app}.apps…` hosts, project membership through
//! the view sessions of `burrow_service::access`, and the apps supervisor to wake and
//! reach them.

use burrow_apps::Running;
use burrow_core::{AppId, SessionToken};
use burrow_sandbox::Connection;
use burrow_service::access::{self, ViewAccess};
use burrow_service::{Error, Services};
use url::Url;

use crate::Destinations;

/// Every app, each on its own origin of `apps_url`.
#[derive(Debug, Clone)]
pub struct Apps {
    services: Services,
    apps_url: burrow_config::AppsUrl,
    /// The platform's runtime, where what outlives a request runs (an app's start, the
    /// event reader): not on the threads that serve viewers ([`crate::workers`]).
    runtime: tokio::runtime::Handle,
}

impl Apps {
    /// Made on the platform's runtime, which it keeps.
    pub fn new(services: Services) -> Self {
        let apps_url = services.config.apps_url();
        Self {
            services,
            apps_url,
            runtime: tokio::runtime::Handle::current(),
        }
    }
}

#[async_trait::async_trait]
impl Destinations for Apps {
    /// The app, and its sandbox here or on another replica.
    type Target = (String, Running);

    fn find(&self, host: &str) -> Option<String> {
        // Only a label with an app id's shape names an app: anything else is answered
        // without a query.
        let label = self.apps_url.app_in_host(host)?;
        AppId::parse(label).map(String::from)
    }

    fn origin(&self, id: &str) -> Url {
        self.apps_url.origin(id)
    }

    fn nowhere(&self) -> Error {
        Error::not_found(
            "app_not_found",
            format!(
                "no app is served at this address: apps live at {}, opened from Burrow",
                self.apps_url
            ),
        )
    }

    fn refused(&self) -> Error {
        access::app_not_viewable()
    }

    fn sign_in(&self, id: &str, next: &str) -> Url {
        let mut open = self.services.config.public_url();
        open.set_path(&format!("/api/v1/apps/{id}/open"));
        open.query_pairs_mut().append_pair("next", next);
        open
    }

    async fn redeem(&self, id: &str, ticket: &str) -> Result<Option<SessionToken>, Error> {
        access::redeem_view_ticket(&self.services, id, ticket).await
    }

    fn access(
        &self,
        id: &str,
        session_hash: &str,
    ) -> impl std::future::Future<Output = Result<ViewAccess, Error>> + Send {
        access::view_access(&self.services, session_hash, id)
    }

    async fn status(&self, id: &str) -> Result<serde_json::Value, Error> {
        let app = self.services.store.find_app(id).await?;
        Ok(serde_json::json!({
            "status": app.status.as_str(),
            "last_error": app.last_error,
            "restart_count": app.restart_count,
        }))
    }

    fn visit(&self, id: &str) -> Option<(String, Running)> {
        let running = self.services.supervisor.visit(id)?;
        Some((id.to_owned(), running))
    }

    async fn wake(&self, id: &str) -> Result<String, Error> {
        let app = self.services.store.find_app(id).await?;
        if app.active_version.is_none() {
            return Err(Error::conflict(
                "not_built",
                "this app has no built version yet: wait for its build, or upload a version that builds",
            ));
        }
        // An app left in `error` after its restarts stays there until an editor starts
        // it; viewers see the error on the loading page.
        if app.status != burrow_store::AppStatus::Error {
            let supervisor = self.services.supervisor.clone();
            let id = id.to_owned();
            self.runtime.spawn(async move {
                if let Err(e) = supervisor.ensure_running(&id).await {
                    tracing::warn!(app.id = %id, error = %e, "App did not start");
                }
            });
        }
        Ok(app.name)
    }

    fn upstream_key((_, running): &(String, Running)) -> &str {
        &running.sandbox
    }

    async fn connect(&self, (app, running): &(String, Running)) -> Result<Connection, Error> {
        self.services
            .supervisor
            .connect(app, running)
            .await
            .map_err(|e| {
                Error::new(
                    burrow_service::Kind::Unreachable,
                    "app_unreachable",
                    "the app did not answer: it may be restarting, so try again in a moment",
                )
                .with_detail(e.to_string())
            })
    }

    fn touch(&self, id: &str) {
        self.services.supervisor.touch(id);
    }

    fn recheck_every(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.services.config.apps.recheck_secs.max(1))
    }

    async fn access_changes(&self) -> Option<tokio::sync::watch::Receiver<u64>> {
        // The first call starts the store's event reader, which is to run on the
        // platform's runtime.
        let store = self.services.store.clone();
        self.runtime
            .spawn(async move { store.access_changes().await })
            .await
            .map_err(|e| e.to_string())
            .and_then(|changes| changes.map_err(|e| e.to_string()))
            .map_err(|e| tracing::warn!(error = %e, "Cannot follow events; WebSockets are checked on a timer only"))
            .ok()
    }

    fn max_body_bytes(&self) -> usize {
        self.services.supervisor.options().max_upload_mb as usize * 1024 * 1024 + (1 << 20)
    }
}
