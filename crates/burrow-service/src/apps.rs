//! Apps as use cases: deploying from an upload, pasted code or a template (validate,
//! store the bundle, record the version, queue its build), changing settings within
//! their ranges, activating a version, starting and stopping, and deleting an app or a
//! project with everything that hangs off it.

use burrow_blobs::{BlobPath, PutPayload};
use burrow_bundle::{validate, Policy};
use burrow_core::{AppId, AppName, Description, Role};
use burrow_egress::{Mode, Policy as EgressPolicy};
use burrow_store::{App, AppChanges, AppVersion, NewApp, NewVersion, StoreError};

use crate::access::{require, Membership};
use crate::error::{Error, Finding, Kind};
use crate::Services;

pub mod secrets;

/// The templates an app can start from: id, title, `app.py`.
pub const TEMPLATES: &[(&str, &str, &str)] = &[
    (
        "csv-explorer",
        "CSV Explorer",
        include_str!("../../../templates/csv_explorer/app.py"),
    ),
    (
        "table-dashboard",
        "Table dashboard",
        include_str!("../../../templates/table_dashboard/app.py"),
    ),
];

/// A new app's CPUs, in thousandths of a core.
pub const DEFAULT_CPU_MILLIS: i64 = 1000;
/// A new app's memory.
pub const DEFAULT_MEMORY_BYTES: i64 = 1 << 30;
/// How long a new app runs without viewers before it is stopped.
pub const DEFAULT_IDLE_TIMEOUT_SECS: i64 = 600;

/// The largest upload accepted: the bundle validator's uncompressed cap, plus room for headers.
pub fn upload_limit() -> usize {
    burrow_bundle::ZipLimits::default().max_total_bytes as usize + (1 << 20)
}

/// A new bundle, whichever way it came in, with a new app's name and description.
#[derive(Debug, Default)]
pub struct Upload {
    pub filename: String,
    pub bytes: Vec<u8>,
    pub name: Option<String>,
    pub description: Option<String>,
}

impl Upload {
    /// Pasted code: it becomes `app.py`.
    pub fn code(code: String) -> Self {
        Self {
            filename: "app.py".into(),
            bytes: code.into_bytes(),
            ..Self::default()
        }
    }

    /// A template by id; a new app takes the template's title unless named.
    pub fn template(id: &str) -> Result<Self, Error> {
        let (_, title, code) = TEMPLATES.iter().find(|(t, _, _)| *t == id).ok_or_else(|| {
            let known: Vec<&str> = TEMPLATES.iter().map(|t| t.0).collect();
            Error::bad_request(
                "unknown_template",
                format!(
                    "there is no template {id:?}: choose one of {}",
                    known.join(", ")
                ),
            )
            .with_field("template")
        })?;
        Ok(Self {
            filename: "app.py".into(),
            bytes: code.as_bytes().to_vec(),
            name: Some((*title).to_owned()),
            description: None,
        })
    }
}

pub fn app_not_found() -> Error {
    Error::not_found(
        "app_not_found",
        "there is no such app in this project: check the app id",
    )
}

pub fn version_not_found() -> Error {
    Error::not_found(
        "version_not_found",
        "this app has no such version: see GET …/versions",
    )
}

/// The app, if it belongs to the member's project (any role may see it).
pub async fn app_in_project(
    services: &Services,
    member: &Membership,
    app_id: &str,
) -> Result<App, Error> {
    let app_id = AppId::parse(app_id).ok_or_else(app_not_found)?;
    services
        .store
        .get_app(&member.project.id, &app_id)
        .await
        .map_err(|e| Error::or_not_found(e, app_not_found))
}

/// Validates the bundle and stores it as a blob. On a rejection nothing is stored and
/// every finding is in the error.
async fn accept_bundle(
    services: &Services,
    upload: &Upload,
) -> Result<(burrow_bundle::ValidBundle, String), Error> {
    let allowlist = crate::packages::load_allowlist(&services.store).await?;
    let bundle = validate(&upload.filename, &upload.bytes, &allowlist, &Policy::app()).map_err(
        |rejection| {
            let mut e = Error::new(
                Kind::Unprocessable,
                "invalid_bundle",
                format!(
                    "the upload has {} problem(s); fix each and upload again",
                    rejection.errors.len()
                ),
            );
            e.details = rejection.errors.iter().map(Finding::from).collect();
            e
        },
    )?;
    let blob = format!("bundles/{}.zip", burrow_core::ids::new_id("bnd"));
    crate::blobs::put_new(
        &services.store,
        &services.blobs,
        &blob,
        PutPayload::from(bundle.archive.clone()),
    )
    .await
    .map_err(|e| Error::blob("storing the bundle", e))?;
    Ok((bundle, blob))
}

/// Removes stored bundles: of a version that could not be recorded, or of deleted apps.
async fn forget_bundles(services: &Services, blobs: &[String]) {
    for blob in blobs {
        let _ = services.blobs.delete(&BlobPath::from(blob.as_str())).await;
    }
}

/// The version row a validated, stored bundle becomes; its build is `build_id`.
struct VersionOf {
    blob: String,
    sha256: String,
    requirements: String,
    inferred: bool,
    warnings_json: String,
    build_id: String,
}

impl VersionOf {
    fn new(bundle: &burrow_bundle::ValidBundle, blob: String) -> Self {
        let warnings: Vec<Finding> = bundle.warnings.iter().map(Finding::from).collect();
        Self {
            blob,
            sha256: bundle.sha256.clone(),
            requirements: burrow_bundle::requirements::render(&bundle.packages),
            inferred: bundle.inferred,
            warnings_json: serde_json::to_string(&warnings).expect("findings serialise"),
            build_id: burrow_core::ids::new_id("bld"),
        }
    }

    fn row<'a>(&'a self, created_by: &'a str) -> NewVersion<'a> {
        NewVersion {
            bundle_blob: &self.blob,
            sha256: &self.sha256,
            requirements: &self.requirements,
            inferred: self.inferred,
            warnings_json: &self.warnings_json,
            build_id: &self.build_id,
            created_by,
        }
    }
}

/// Queues a recorded version's build.
async fn start_build(services: &Services, build_id: &str) -> Result<(), Error> {
    let build = services.store.get_build(build_id).await?;
    services.builds.start(build).await.map_err(|e| match e {
        burrow_envs::BuildsError::Store(e) => Error::from(e),
        other => Error::internal(other.to_string()),
    })
}

/// Deploys a new app in the project from an upload: its first version is built at once
/// and becomes active when the build succeeds. Returns the app and its first build.
pub async fn create_app(
    services: &Services,
    member: &Membership,
    upload: &Upload,
) -> Result<App, Error> {
    require(member, Role::Editor)?;
    let (project_id, user_id) = (&member.project.id, &member.user.id);
    let name = AppName::parse(upload.name.as_deref().unwrap_or_default())?;
    let description = Description::parse(upload.description.as_deref().unwrap_or_default())?;
    let (bundle, blob) = accept_bundle(services, upload).await?;
    let version = VersionOf::new(&bundle, blob);
    let egress = services.config.egress.default_policy();
    let egress_domains = domains_text(&egress);
    let created = services
        .store
        .create_app(
            &NewApp {
                id: &AppId::new(),
                project_id,
                name: name.as_str(),
                description: description.as_str(),
                cpu_millis: DEFAULT_CPU_MILLIS,
                memory_bytes: DEFAULT_MEMORY_BYTES,
                idle_timeout_secs: DEFAULT_IDLE_TIMEOUT_SECS,
                egress_mode: egress.mode.as_str(),
                egress_domains: &egress_domains,
            },
            &version.row(user_id),
        )
        .await;
    let app = match created {
        Ok(app) => app,
        Err(e) => {
            forget_bundles(services, std::slice::from_ref(&version.blob)).await;
            return Err(match e {
                StoreError::Conflict => Error::conflict(
                    "app_exists",
                    format!(
                        "this project already has an app named {:?}: choose another name, or upload a new version of it",
                        name.as_str()
                    ),
                )
                .with_field("name"),
                other => other.into(),
            });
        }
    };
    start_build(services, &version.build_id).await?;
    tracing::info!(app.id = %app.id, project.id = %project_id, build.id = %version.build_id, "Created app");
    Ok(app)
}

/// Adds a version to an app of the project from an upload; it is built at once and
/// becomes the active version when its build succeeds.
pub async fn add_version(
    services: &Services,
    member: &Membership,
    app: &App,
    upload: &Upload,
) -> Result<AppVersion, Error> {
    require(member, Role::Editor)?;
    let (project_id, user_id) = (&member.project.id, &member.user.id);
    let (bundle, blob) = accept_bundle(services, upload).await?;
    let new = VersionOf::new(&bundle, blob);
    let version = match services
        .store
        .add_version(project_id, &app.id, &new.row(user_id))
        .await
    {
        Ok(v) => v,
        Err(e) => {
            forget_bundles(services, std::slice::from_ref(&new.blob)).await;
            return Err(Error::or_not_found(e, app_not_found));
        }
    };
    start_build(services, &new.build_id).await?;
    tracing::info!(app.id = %app.id, version = version.number, build.id = %new.build_id, "Uploaded a version");
    Ok(version)
}

/// What may change about an app; `None` leaves a setting as it is.
#[derive(Debug, Default)]
pub struct Settings {
    pub name: Option<String>,
    pub description: Option<String>,
    /// Cores, from 0.1 to 8.
    pub cpus: Option<f64>,
    /// MiB, from 128 to 16384.
    pub memory_mb: Option<i64>,
    /// Seconds, from 10 to a day.
    pub idle_timeout_secs: Option<i64>,
    /// What the app's sandbox may reach through the egress proxy.
    pub network: Option<Network>,
}

/// An egress policy as people choose it.
#[derive(Debug, Clone)]
pub struct Network {
    pub policy: Mode,
    /// For an allowlist: `api.example.com`, or `*.example.org` for any name under it.
    pub domains: Vec<String>,
}

/// An allowlist's domains as the store keeps them, one per line.
fn domains_text(policy: &EgressPolicy) -> String {
    policy
        .domains
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

/// Checks a chosen policy, and that it stays within what the instance allows.
fn network_policy(services: &Services, network: &Network) -> Result<EgressPolicy, Error> {
    let invalid =
        |message: String| Error::bad_request("invalid_network", message).with_field("network");
    let policy = EgressPolicy::new(network.policy, &network.domains).map_err(invalid)?;
    policy
        .check_within(&services.config.egress.max_policy())
        .map_err(|message| Error::forbidden("egress_not_allowed", message).with_field("network"))?;
    Ok(policy)
}

/// The app's recent egress decisions, newest first: what its sandbox asked to reach, and
/// what became of it.
pub async fn egress_decisions(
    services: &Services,
    member: &Membership,
    app_id: &str,
) -> Result<Vec<burrow_egress::Decision>, Error> {
    let app = app_in_project(services, member, app_id).await?;
    Ok(services.egress.decisions(&app.id))
}

fn out_of_range(field: &'static str, message: String) -> Error {
    Error::bad_request("out_of_range", message).with_field(field)
}

/// Changes an app's settings, each checked against its range first: nothing changes
/// unless all are valid.
pub async fn update_app(
    services: &Services,
    member: &Membership,
    app_id: &str,
    settings: &Settings,
) -> Result<App, Error> {
    require(member, Role::Editor)?;
    let name = settings.name.as_deref().map(AppName::parse).transpose()?;
    let description = settings
        .description
        .as_deref()
        .map(Description::parse)
        .transpose()?;
    let cpu_millis = match settings.cpus {
        Some(c) if (0.1..=8.0).contains(&c) => Some((c * 1000.0).round() as i64),
        Some(c) => {
            return Err(out_of_range(
                "cpus",
                format!("{c} cores is not between 0.1 and 8"),
            ))
        }
        None => None,
    };
    let memory_bytes = match settings.memory_mb {
        Some(m) if (128..=16384).contains(&m) => Some(m << 20),
        Some(m) => {
            return Err(out_of_range(
                "memory_mb",
                format!("{m} MiB is not between 128 and 16384"),
            ))
        }
        None => None,
    };
    let idle_timeout_secs = match settings.idle_timeout_secs {
        Some(s) if (10..=86_400).contains(&s) => Some(s),
        Some(s) => {
            return Err(out_of_range(
                "idle_timeout_secs",
                format!("{s} seconds is not between 10 and 86400 (a day)"),
            ))
        }
        None => None,
    };
    let network = settings
        .network
        .as_ref()
        .map(|n| network_policy(services, n))
        .transpose()?;
    let domains = network.as_ref().map(domains_text);
    let changes = AppChanges {
        egress: network
            .as_ref()
            .zip(domains.as_deref())
            .map(|(policy, domains)| (policy.mode.as_str(), domains)),
        name: name.as_ref().map(AppName::as_str),
        description: description.as_ref().map(Description::as_str),
        cpu_millis,
        memory_bytes,
        idle_timeout_secs,
    };
    services
        .store
        .update_app(&member.project.id, app_id, &changes)
        .await
        .map_err(|e| match e {
            StoreError::Conflict => Error::conflict(
                "app_exists",
                "this project already has an app of that name: choose another",
            )
            .with_field("name"),
            other => Error::or_not_found(other, app_not_found),
        })
}

/// Makes a built version the active one: an instant rollback (or roll-forward).
pub async fn activate_version(
    services: &Services,
    member: &Membership,
    app_id: &str,
    number: i64,
) -> Result<App, Error> {
    require(member, Role::Editor)?;
    let app = app_in_project(services, member, app_id).await?;
    let activated = services
        .store
        .activate_version(&member.project.id, &app.id, number)
        .await
        .map_err(|e| Error::or_not_found(e, version_not_found))?;
    match activated {
        Ok(app) => {
            tracing::info!(app.id = %app.id, version = number, "Activated a version");
            Ok(app)
        }
        Err(version) => Err(Error::conflict(
            "version_not_built",
            match version.build.error {
                Some(why) => format!(
                    "version {number} cannot run: its build failed ({why}); upload a fixed version"
                ),
                None => format!(
                    "version {number} is still being built: activate it once its build succeeds"
                ),
            },
        )),
    }
}

/// Why an app could not start or stop.
pub fn start_failed(e: burrow_apps::AppError) -> Error {
    match e {
        burrow_apps::AppError::NotBuilt => Error::conflict("not_built", e.to_string()),
        burrow_apps::AppError::Store(s) => s.into(),
        other => Error::new(Kind::Unavailable, "start_failed", other.to_string()),
    }
}

/// Starts (or restarts) a built app of the project in the supervisor's own task, so a
/// caller that goes away cannot cut it short. With `wait`, returns once it runs (or
/// failed to start); otherwise once `starting` is recorded.
pub async fn launch(
    services: &Services,
    member: &Membership,
    app_id: &str,
    wait: bool,
    restart: bool,
) -> Result<(), Error> {
    require(member, Role::Editor)?;
    let app = app_in_project(services, member, app_id).await?;
    if app.active_version.is_none() {
        return Err(start_failed(burrow_apps::AppError::NotBuilt));
    }
    let task = services.supervisor.launch(&app.id, restart).await;
    if wait {
        task.await
            .map_err(|e| Error::internal(format!("the start task failed: {e}")))?
            .map_err(|e| start_failed(e.into()))?;
        return Ok(());
    }
    tokio::spawn(async move {
        if let Ok(Err(e)) = task.await {
            tracing::warn!(app.id = %app.id, error = %e, "App did not start");
        }
    });
    Ok(())
}

/// Stops an app of the project.
pub async fn stop(services: &Services, member: &Membership, app_id: &str) -> Result<(), Error> {
    require(member, Role::Editor)?;
    let app = app_in_project(services, member, app_id).await?;
    services
        .supervisor
        .stop(&app.id)
        .await
        .map_err(start_failed)?;
    tracing::info!(app.id = %app.id, "Stopped app");
    Ok(())
}

/// Deletes an app of the project: its row and versions first (so only an app of this
/// project is touched), then its sandbox and files, then its bundles.
pub async fn delete_app(
    services: &Services,
    member: &Membership,
    app_id: &str,
) -> Result<(), Error> {
    require(member, Role::Editor)?;
    let project_id = &member.project.id;
    let blobs = services
        .store
        .delete_app(project_id, app_id)
        .await
        .map_err(|e| Error::or_not_found(e, app_not_found))?;
    services.supervisor.forget(app_id).await;
    services.egress.forget(app_id);
    forget_bundles(services, &blobs).await;
    tracing::info!(app.id = %app_id, project.id = %project_id, "Deleted app");
    Ok(())
}

/// Deletes a project and everything in it: its rows go in one transaction, then its
/// apps' sandboxes and files, then their bundles.
pub async fn delete_project(services: &Services, member: &Membership) -> Result<(), Error> {
    require(member, Role::Owner)?;
    let project_id = &member.project.id;
    let files = services.store.project_app_files(project_id).await?;
    services.store.delete_project(project_id).await?;
    let (mut apps, blobs): (Vec<String>, Vec<String>) = files.into_iter().unzip();
    apps.dedup();
    for app in &apps {
        services.supervisor.forget(app).await;
        services.egress.forget(app);
    }
    forget_bundles(services, &blobs).await;
    crate::workspaces::forget_project(services, project_id).await;
    Ok(())
}
