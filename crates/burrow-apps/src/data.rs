//! The data bridge in app sandboxes: an app's sandbox belongs to the app's project, and
//! sees that project's tables, read from the store at every request.

use std::sync::Arc;

use burrow_data::{Bridge, Catalog, DataError, TableInfo, TableSource};
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

/// The catalog of app sandboxes: the key is the app's id.
struct AppCatalog {
    store: Store,
}

#[async_trait::async_trait]
impl Catalog for AppCatalog {
    async fn tables(&self, app_id: &str) -> Result<(String, Vec<TableInfo>), DataError> {
        let app = match self.store.find_app(app_id).await {
            Ok(app) => app,
            Err(StoreError::NotFound) => {
                return Err(DataError::Invalid("burrow: this app was deleted".into()))
            }
            Err(e) => return Err(DataError::Internal(format!("finding app {app_id}: {e}"))),
        };
        let project = app.project_id.to_string();
        let tables = project_tables(&self.store, &project).await?;
        Ok((project, tables))
    }
}

/// The catalog of a sandbox that belongs to one project whatever its key
/// (`burrow sandbox run --data`).
struct ProjectCatalog {
    store: Store,
    project: String,
}

#[async_trait::async_trait]
impl Catalog for ProjectCatalog {
    async fn tables(&self, _key: &str) -> Result<(String, Vec<TableInfo>), DataError> {
        let tables = project_tables(&self.store, &self.project).await?;
        Ok((self.project.clone(), tables))
    }
}

/// A bridge for sandboxes of `project`.
pub fn project_bridge(store: Store, engine: burrow_data::Engine, project: String) -> Bridge {
    Bridge::new(engine, Arc::new(ProjectCatalog { store, project }))
}

/// The bridge as an app sandbox's host service.
#[derive(Debug)]
pub(crate) struct DataService(pub Bridge);

impl DataService {
    pub fn new(store: Store, engine: burrow_data::Engine) -> Self {
        Self(Bridge::new(engine, Arc::new(AppCatalog { store })))
    }
}

#[async_trait::async_trait]
impl HostService for DataService {
    async fn serve(&self, app_id: &str, connection: Connection) {
        self.0.serve(app_id, connection).await;
    }
}
