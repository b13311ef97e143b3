//! Burrow's HTTP surface: the REST API under `/api/v1`, the web UI, health probes, metrics and the OpenAPI document.
//!
//! [`Application::build`] takes an already-bound listener so that tests bind
//! port 0 and read the port back; `burrow serve` binds the configured address.

pub mod docs;
pub mod dto;
pub mod error;
pub mod extract;
mod follow;
pub mod forwarded;
pub mod routes;
mod spec;
mod web;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, Request};
use axum::http::header;
use axum::response::{Html, IntoResponse};
use axum::routing::get;
use axum::serve::ListenerExt;
use axum::Router;
use burrow_blobs::ObjectStore;
use burrow_config::Config;
use burrow_store::Store;
use tokio::net::TcpListener;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::ApiError;
pub use burrow_service::http as observe;

/// What every handler gets: the use cases' services.
pub type AppState = burrow_service::Services;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Burrow",
        description = "Run untrusted Python from a browser: Streamlit apps, workspaces and jobs, in sandboxes."
    ),
    modifiers(&SecuritySchemes),
    security(("bearer" = []), ("cookie" = [])),
    tags(
        (name = "auth", description = "Registration and sessions"),
        (name = "users", description = "Instance administration of users"),
        (name = "projects", description = "Projects: the tenants everything else belongs to"),
        (name = "members", description = "Who may see and change a project"),
        (name = "packages", description = "The allowlist of packages bundles may install"),
        (name = "apps", description = "Streamlit apps: deploy, versions, builds, running, viewing"),
        (name = "data", description = "Project tables, external PostgreSQL sources, and read-only SQL over them"),
        (name = "jobs", description = "Transform jobs: scripts defining transform(df), run over project tables in sandboxes"),
        (name = "workspaces", description = "Workspaces: a person's files in a project, kept by Burrow"),
        (name = "review", description = "Review: workspace templates, submissions, diffs, comments and verdicts"),
        (name = "notifications", description = "What Burrow has to tell you"),
        (name = "health", description = "Probes for orchestrators"),
    )
)]
struct ApiDoc;

struct SecuritySchemes;

impl utoipa::Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        components.add_security_scheme(
            "cookie",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new(extract::SESSION_COOKIE))),
        );
    }
}

/// The API routes, with the OpenAPI document generated from the same handlers.
fn api_router() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let (router, doc) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(routes::auth::register))
        .routes(routes!(routes::auth::login))
        .routes(routes!(routes::auth::logout))
        .routes(routes!(routes::auth::me))
        .routes(routes!(
            routes::users::list_users,
            routes::users::create_user
        ))
        .routes(routes!(
            routes::projects::list_projects,
            routes::projects::create_project
        ))
        .routes(routes!(
            routes::projects::get_project,
            routes::projects::update_project,
            routes::projects::delete_project
        ))
        .routes(routes!(
            routes::members::list_members,
            routes::members::add_member
        ))
        .routes(routes!(
            routes::members::update_member,
            routes::members::remove_member
        ))
        .routes(routes!(
            routes::packages::list_packages,
            routes::packages::add_package
        ))
        .routes(routes!(routes::packages::remove_package))
        .merge(
            // Uploads may be as large as a bundle may be; everything else keeps the JSON limit.
            OpenApiRouter::new()
                .routes(routes!(routes::apps::list_apps, routes::apps::create_app))
                .routes(routes!(
                    routes::apps::list_versions,
                    routes::apps::add_version
                ))
                .layer(DefaultBodyLimit::max(routes::apps::upload_limit())),
        )
        .merge(
            // Table files are capped by `data.max_upload_mb`, read from the configuration.
            OpenApiRouter::new()
                .routes(routes!(
                    routes::tables::list_tables,
                    routes::tables::create_table
                ))
                .routes(routes!(routes::tables::infer_table))
                .routes(routes!(
                    routes::tables::get_table,
                    routes::tables::replace_table,
                    routes::tables::delete_table
                ))
                .layer(DefaultBodyLimit::disable()),
        )
        .routes(routes!(routes::tables::add_sample))
        .routes(routes!(routes::tables::table_rows))
        .routes(routes!(routes::tables::run_query))
        .routes(routes!(
            routes::sources::list_sources,
            routes::sources::create_source
        ))
        .routes(routes!(routes::sources::test_source))
        .routes(routes!(
            routes::sources::get_source,
            routes::sources::update_source,
            routes::sources::delete_source
        ))
        .routes(routes!(routes::sources::source_tables))
        .routes(routes!(routes::sources::source_table))
        .routes(routes!(routes::sources::source_rows))
        .routes(routes!(
            routes::jobs::list_scripts,
            routes::jobs::create_script
        ))
        .routes(routes!(
            routes::jobs::get_script,
            routes::jobs::update_script
        ))
        .routes(routes!(routes::jobs::try_script))
        .routes(routes!(routes::jobs::list_jobs, routes::jobs::create_job))
        .routes(routes!(routes::jobs::get_job))
        .routes(routes!(routes::jobs::cancel_job))
        .routes(routes!(routes::jobs::job_log))
        .routes(routes!(
            routes::jobs::list_schedules,
            routes::jobs::create_schedule
        ))
        .routes(routes!(routes::jobs::delete_schedule))
        .merge(
            // A workspace made from a `.zip` may be as large as `workspaces.max_total_mb`,
            // read from the configuration.
            OpenApiRouter::new()
                .routes(routes!(
                    routes::workspaces::list_workspaces,
                    routes::workspaces::create_workspace
                ))
                .layer(DefaultBodyLimit::disable()),
        )
        .routes(routes!(
            routes::workspaces::get_workspace,
            routes::workspaces::rename_workspace,
            routes::workspaces::delete_workspace
        ))
        .routes(routes!(routes::workspaces::list_files))
        .merge(
            // A file may be as large as `workspaces.max_file_mb`, read from the configuration.
            OpenApiRouter::new()
                .routes(routes!(
                    routes::workspaces::read_file,
                    routes::workspaces::write_file,
                    routes::workspaces::delete_file
                ))
                .layer(DefaultBodyLimit::disable()),
        )
        .routes(routes!(routes::workspaces::move_file))
        .routes(routes!(routes::workspaces::start_workspace))
        .routes(routes!(routes::workspaces::stop_workspace))
        .routes(routes!(routes::workspaces::list_terminals))
        .routes(routes!(
            routes::workspaces::terminal,
            routes::workspaces::close_terminal
        ))
        .routes(routes!(routes::workspaces::download_workspace))
        .merge(
            // A template made from a `.zip` may be as large as a workspace, read from the
            // configuration.
            OpenApiRouter::new()
                .routes(routes!(
                    routes::review::list_templates,
                    routes::review::create_template
                ))
                .layer(DefaultBodyLimit::disable()),
        )
        .routes(routes!(routes::review::delete_template))
        .routes(routes!(
            routes::review::workspace_submissions,
            routes::review::submit
        ))
        .routes(routes!(routes::review::workspace_review))
        .routes(routes!(routes::review::list_submissions))
        .routes(routes!(routes::review::get_submission))
        .routes(routes!(routes::review::withdraw))
        .routes(routes!(routes::review::review))
        .routes(routes!(routes::review::submission_diff))
        .routes(routes!(
            routes::review::list_threads,
            routes::review::create_thread
        ))
        .routes(routes!(routes::review::reply))
        .routes(routes!(routes::review::resolve))
        .routes(routes!(
            routes::apps::get_app,
            routes::apps::update_app,
            routes::apps::delete_app
        ))
        .routes(routes!(routes::apps::activate_version))
        .routes(routes!(routes::apps::download_version))
        .routes(routes!(routes::apps::build_log))
        .routes(routes!(routes::apps::app_status))
        .routes(routes!(routes::apps::start_app))
        .routes(routes!(routes::apps::stop_app))
        .routes(routes!(routes::apps::restart_app))
        .routes(routes!(routes::apps::app_logs))
        .routes(routes!(routes::apps::app_egress))
        .routes(routes!(routes::secrets::list_secrets))
        .routes(routes!(
            routes::secrets::put_secret,
            routes::secrets::delete_secret
        ))
        .routes(routes!(routes::apps::view_ticket))
        .routes(routes!(routes::apps::open_app))
        .routes(routes!(routes::notifications::list_notifications))
        .routes(routes!(routes::notifications::mark_read))
        .routes(routes!(routes::notifications::mark_all_read))
        .routes(routes!(routes::health::healthz))
        .routes(routes!(routes::health::readyz))
        .split_for_parts();
    let mut doc = doc;
    spec::describe_refusals(&mut doc);
    (router, doc)
}

/// The OpenAPI document, as served at `/api/v1/openapi.json`.
pub fn openapi() -> utoipa::openapi::OpenApi {
    api_router().1
}

/// The web UI for its pages and files; for anything else, a JSON 404.
async fn no_route(request: Request) -> axum::response::Response {
    if let Some(page) = web::serve(&request) {
        return page;
    }
    ApiError::not_found(
        "route_not_found",
        format!(
            "there is no route {} {}: see /api/docs",
            request.method(),
            request.uri().path()
        ),
    )
    .into_response()
}

async fn method_not_allowed(request: Request) -> ApiError {
    ApiError::new(
        error::Kind::MethodNotAllowed,
        "method_not_allowed",
        format!(
            "{} is not allowed on {}: see /api/docs",
            request.method(),
            request.uri().path()
        ),
    )
}

/// The whole HTTP application for `state`.
pub fn router(state: AppState) -> Router {
    let (api, openapi) = api_router();
    let openapi = Arc::new(openapi);
    let docs = Arc::new(docs::render(&openapi));
    let max_body = state.config.http.max_body_bytes;
    api.route(
        "/api/v1/openapi.json",
        get(move || {
            let openapi = openapi.clone();
            async move { axum::Json(openapi.as_ref().clone()) }
        }),
    )
    .route(
        "/api/docs",
        get(move || async move { Html(docs.as_ref().clone()) }),
    )
    .route(
        "/metrics",
        get(|| async {
            (
                [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
                observe::prometheus().render(),
            )
                .into_response()
        }),
    )
    .fallback(no_route)
    .method_not_allowed_fallback(method_not_allowed)
    .layer(DefaultBodyLimit::max(max_body))
    .layer(axum::middleware::from_fn_with_state(
        state.clone(),
        forwarded::to_holder,
    ))
    .layer(axum::middleware::from_fn_with_state(
        state.clone(),
        extract::refuse_foreign_upgrades,
    ))
    .layer(axum::middleware::from_fn_with_state(
        state.clone(),
        extract::to_public_url,
    ))
    .layer(axum::middleware::from_fn(observe::observe))
    .with_state(state)
}

/// A configured server with its listeners bound, ready to run: the platform
/// (API and UI) on one, the apps origin (the viewer proxy) on the other.
#[derive(Debug)]
pub struct Application {
    listener: TcpListener,
    apps_listener: TcpListener,
    state: AppState,
}

impl Application {
    /// Builds the application over an open store, blob store, sandbox runtime and the
    /// environment builds (whose queue the caller runs), serving the platform on
    /// `listener` and the app origins on `apps_listener`.
    pub fn build(
        config: Config,
        store: Store,
        blobs: Arc<dyn ObjectStore>,
        runtime: Arc<dyn burrow_sandbox::Runtime>,
        builds: burrow_envs::Builds,
        listener: TcpListener,
        apps_listener: TcpListener,
    ) -> Self {
        observe::prometheus();
        Self {
            listener,
            apps_listener,
            state: AppState::new(config, store, blobs, runtime, builds),
        }
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    pub fn apps_addr(&self) -> std::io::Result<SocketAddr> {
        self.apps_listener.local_addr()
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` resolves, then lets in-flight requests finish for
    /// up to `http.shutdown_grace_secs` before returning. It serves and nothing else:
    /// the background work (the queue, the supervisor's upkeep, reconcile) is the
    /// caller's to run.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let grace = Duration::from_secs(self.state.config.http.shutdown_grace_secs);
        // The gateway serves beside the platform, in this same future: the API crate
        // starts no tasks. It stops with the platform.
        let apps_server = burrow_gateway::serve(
            burrow_gateway::Gateway::new(burrow_gateway::apps::Apps::new(self.state.clone())),
            self.apps_listener,
        );
        let app = router(self.state.clone());
        let (stopping_tx, mut stopping_rx) = tokio::sync::watch::channel(false);
        let server = axum::serve(
            self.listener.tap_io(|stream| observe::no_delay(stream)),
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move {
            shutdown.await;
            let _ = stopping_tx.send(true);
        });
        let deadline = async move {
            if stopping_rx.wait_for(|stopping| *stopping).await.is_ok() {
                tokio::time::sleep(grace).await;
            } else {
                std::future::pending::<()>().await;
            }
        };
        tokio::select! {
            result = server => result,
            () = apps_server => Ok(()),
            () = deadline => {
                tracing::warn!(grace_secs = grace.as_secs(), "Requests still in flight after the shutdown grace period; stopping anyway");
                Ok(())
            }
        }
    }
}
