//! The data bridge in app sandboxes: an app's sandbox belongs to the app's project, and
//! sees that project's tables and data sources, read from the store at every request.

use std::sync::Arc;

use burrow_data::{
    Bridge, Catalog, DataError, Keyring, SourceConfig, TableInfo, TableSource, TlsMode,
};
use burrow_sessions::{Connection, HostService};
use burrow_store::{Store, StoreError};

/// Every table of a project, as queries see them.
pub async fn project_tables(store: &Store, project: &str) -> Result<Vec<TableInfo>, DataError> {
    let tables = store
        .list_tables(project)
        .await
        .map_err(|e| DataError::Internal(format!("listing project {project}'s tables: {e}")))?;
    tables
        .into_iter()
        .map(|t| {
            let columns = burrow_data::types::columns_from_json(&t.columns_json)?;
            Ok(TableInfo {
                rows: t.row_count.max(0) as u64,
                size_bytes: t.size_bytes.max(0) as u64,
                source: TableSource {
                    name: t.name,
                    blob: t.blob,
                    columns,
                },
            })
        })
        .collect()
}

/// The answer for a source name a project does not have.
pub fn no_such_source(name: &str) -> DataError {
    DataError::Invalid(format!(
        "burrow: this project has no data source named {name:?}; the Data page lists them"
    ))
}

/// Project `project`'s source `name`, with its password opened, ready to connect.
pub async fn project_source(
    store: &Store,
    keyring: &Keyring,
    project: &str,
    name: &str,
) -> Result<SourceConfig, DataError> {
    let source = match store.get_source(project, name).await {
        Ok(source) => source,
        Err(StoreError::NotFound) => return Err(no_such_source(name)),
        Err(e) => {
            return Err(DataError::Internal(format!(
                "finding project {project}'s source {name}: {e}"
            )))
        }
    };
    source_config(
        &source,
        &keyring
            .sealer()?
            .open(&source.password_sealed, &source.id)?,
    )
}

/// The names of a project's data sources.
async fn source_names(store: &Store, project: &str) -> Result<Vec<String>, DataError> {
    Ok(store
        .list_sources(project)
        .await
        .map_err(|e| DataError::Internal(format!("listing project {project}'s sources: {e}")))?
        .into_iter()
        .map(|s| s.name)
        .collect())
}

/// A stored source with its opened password, ready to connect.
pub fn source_config(
    source: &burrow_store::DataSource,
    password: &str,
) -> Result<SourceConfig, DataError> {
    Ok(SourceConfig {
        host: source.host.clone(),
        port: u16::try_from(source.port).map_err(|_| {
            DataError::Internal(format!("source {} has port {}", source.id, source.port))
        })?,
        database: source.database_name.clone(),
        user: source.username.clone(),
        password: password.to_owned(),
        tls: TlsMode::parse(&source.tls_mode).ok_or_else(|| {
            DataError::Internal(format!(
                "source {} has TLS mode {:?}",
                source.id, source.tls_mode
            ))
        })?,
        destination: source.destination != 0,
    })
}

/// The catalog of app sandboxes: the key is the app's id.
struct AppCatalog {
    store: Store,
    keyring: Keyring,
}

impl AppCatalog {
    async fn project(&self, app_id: &str) -> Result<String, DataError> {
        match self.store.find_app(app_id).await {
            Ok(app) => Ok(app.project_id.to_string()),
            Err(StoreError::NotFound) => {
                Err(DataError::Invalid("burrow: this app was deleted".into()))
            }
            Err(e) => Err(DataError::Internal(format!("finding app {app_id}: {e}"))),
        }
    }
}

#[async_trait::async_trait]
impl Catalog for AppCatalog {
    async fn tables(&self, app_id: &str) -> Result<(String, Vec<TableInfo>), DataError> {
        let project = self.project(app_id).await?;
        let tables = project_tables(&self.store, &project).await?;
        Ok((project, tables))
    }

    async fn source(&self, app_id: &str, name: &str) -> Result<(String, SourceConfig), DataError> {
        let project = self.project(app_id).await?;
        let source = project_source(&self.store, &self.keyring, &project, name).await?;
        Ok((project, source))
    }

    async fn sources(&self, app_id: &str) -> Result<Vec<String>, DataError> {
        source_names(&self.store, &self.project(app_id).await?).await
    }
}

/// The catalog of a sandbox that belongs to one project whatever its key
/// (`burrow sandbox run --data`).
struct ProjectCatalog {
    store: Store,
    keyring: Keyring,
    project: String,
}

#[async_trait::async_trait]
impl Catalog for ProjectCatalog {
    async fn tables(&self, _key: &str) -> Result<(String, Vec<TableInfo>), DataError> {
        let tables = project_tables(&self.store, &self.project).await?;
        Ok((self.project.clone(), tables))
    }

    async fn source(&self, _key: &str, name: &str) -> Result<(String, SourceConfig), DataError> {
        let source = project_source(&self.store, &self.keyring, &self.project, name).await?;
        Ok((self.project.clone(), source))
    }

    async fn sources(&self, _key: &str) -> Result<Vec<String>, DataError> {
        source_names(&self.store, &self.project).await
    }
}

/// A bridge for sandboxes of `project`.
pub fn project_bridge(
    store: Store,
    engine: burrow_data::Engine,
    keyring: Keyring,
    project: String,
) -> Bridge {
    Bridge::new(
        engine,
        Arc::new(ProjectCatalog {
            store,
            keyring,
            project,
        }),
    )
}

/// The bridge as an app sandbox's host service.
#[derive(Debug)]
pub(crate) struct DataService(pub Bridge);

impl DataService {
    pub fn new(store: Store, engine: burrow_data::Engine, keyring: Keyring) -> Self {
        Self(Bridge::new(engine, Arc::new(AppCatalog { store, keyring })))
    }
}

#[async_trait::async_trait]
impl HostService for DataService {
    async fn serve(&self, app_id: &str, connection: Connection) {
        self.0.serve(app_id, connection).await;
    }
}
