//! Project tables as use cases: make one from a file or the sample, replace it (one
//! pointer swap), delete it, page through its rows, and run read-only SQL over a
//! project's tables; the tables a project's sandboxes query through the data bridge.
//!
//! A table version's Parquet object is stored before its row; if the row cannot be
//! written the object is removed again, so nothing is stored half-way.

use std::time::Duration;

use burrow_blobs::{BlobPath, PutPayload};
use burrow_core::Role;
use burrow_data::{
    ingest, Column, DataError, Format, Inferred, QueryResult, TableInfo, TableSource,
};
use burrow_store::{DataTable, NewTableVersion, StoreError};
use bytes::Bytes;

use crate::access::{require, Membership};
use crate::error::{Error, Kind};
use crate::Services;

/// A file for a table, with the types a person chose (or none, to infer them).
#[derive(Debug)]
pub struct TableFile {
    pub filename: String,
    pub bytes: Bytes,
    pub columns: Option<Vec<Column>>,
}

/// How long a replaced or deleted version's object stays for queries still reading it.
pub const RETIRED_GRACE: Duration = Duration::from_secs(600);

/// The engine's limits, from the configuration.
pub fn limits(config: &burrow_config::Config) -> burrow_data::Limits {
    let data = &config.data;
    burrow_data::Limits {
        memory_bytes: (data.query_memory_mb as usize) << 20,
        timeout: Duration::from_secs(data.query_timeout_secs),
        max_rows: data.max_result_rows,
        max_bytes: data.max_result_mb << 20,
        concurrent_per_project: data.concurrent_queries.max(1),
        concurrent_total: data.concurrent_queries_total.max(1),
        reach: burrow_data::Reach {
            allow_loopback: data.allow_loopback_sources,
            own_database: own_database(config),
        },
    }
}

/// Burrow's own PostgreSQL database, which no data source may be.
fn own_database(config: &burrow_config::Config) -> Option<(String, u16, String)> {
    let url = url::Url::parse(config.database_url().expose()).ok()?;
    if !url.scheme().starts_with("postgres") {
        return None;
    }
    Some((
        url.host_str()?.to_owned(),
        url.port().unwrap_or(5432),
        url.path().trim_start_matches('/').to_owned(),
    ))
}

/// Where data source passwords' key comes from, from the configuration.
pub fn keyring(config: &burrow_config::Config) -> burrow_data::Keyring {
    burrow_data::Keyring::new(
        config
            .data
            .sources_key
            .as_ref()
            .map(|k| k.expose().to_owned()),
        config.sources_key_file(),
    )
}

pub fn table_not_found() -> Error {
    Error::not_found(
        "table_not_found",
        "there is no such table in this project: check its name on the Data page",
    )
}

/// A data error as the one error of the use cases.
pub fn error(e: DataError, code: &'static str) -> Error {
    match e {
        DataError::Invalid(m) => Error::bad_request(code, m),
        DataError::Refused(m) => Error::bad_request("sql_not_allowed", m),
        DataError::Limit(m) => Error::new(Kind::Unprocessable, "query_limit", m),
        DataError::Busy(m) => Error::too_many_requests(1, m),
        DataError::Unavailable(m) => Error::new(Kind::Unprocessable, "source_unavailable", m),
        DataError::Internal(m) => Error::internal(m),
    }
}

pub async fn list(services: &Services, member: &Membership) -> Result<Vec<DataTable>, Error> {
    require(member, Role::Viewer)?;
    Ok(services.store.list_tables(&member.project.id).await?)
}

pub async fn get(services: &Services, member: &Membership, name: &str) -> Result<DataTable, Error> {
    require(member, Role::Viewer)?;
    services
        .store
        .get_table(&member.project.id, name)
        .await
        .map_err(|e| Error::or_not_found(e, table_not_found))
}

/// The columns of a file, or of its start, for a person to correct before saving.
pub async fn infer(
    _services: &Services,
    member: &Membership,
    filename: &str,
    bytes: Bytes,
) -> Result<Inferred, Error> {
    require(member, Role::Editor)?;
    let format = Format::from_filename(filename).map_err(|e| error(e, "invalid_table_file"))?;
    tokio::task::spawn_blocking(move || ingest::infer(&bytes, format))
        .await
        .map_err(|e| Error::internal(format!("inferring a file's columns: {e}")))?
        .map_err(|e| error(e, "invalid_table_file"))
}

/// Makes table `name` from a file, or replaces its contents when `replace` is set.
pub async fn save(
    services: &Services,
    member: &Membership,
    name: &str,
    file: TableFile,
    replace: bool,
) -> Result<DataTable, Error> {
    require(member, Role::Editor)?;
    burrow_data::types::check_table_name(name)
        .map_err(|e| error(e, "invalid_table_name").with_field("name"))?;
    let format = Format::from_filename(&file.filename)
        .map_err(|e| error(e, "invalid_table_file").with_field("file"))?;
    if !replace {
        ensure_free(services, member, name).await?;
    }
    let columns = file.columns;
    let bytes = file.bytes;
    let prepared =
        tokio::task::spawn_blocking(move || ingest::prepare(bytes, format, columns.as_deref()))
            .await
            .map_err(|e| Error::internal(format!("reading a table file: {e}")))?
            .map_err(|e| error(e, "invalid_table_file").with_field("file"))?;
    let (project, user) = (&member.project.id, &member.user.id);
    store_version(services, project, user, name, prepared, "upload", replace).await
}

/// Adds the sample table: the CSV Explorer's daily sales.
pub async fn add_sample(services: &Services, member: &Membership) -> Result<DataTable, Error> {
    require(member, Role::Editor)?;
    ensure_free(services, member, burrow_data::SAMPLE_NAME).await?;
    let sample = Bytes::from_static(burrow_data::SAMPLE_CSV.as_bytes());
    let prepared =
        ingest::prepare(sample, Format::Csv, None).map_err(|e| error(e, "invalid_table_file"))?;
    store_version(
        services,
        &member.project.id,
        &member.user.id,
        burrow_data::SAMPLE_NAME,
        prepared,
        "sample",
        false,
    )
    .await
}

/// Refuses a name the project's tables already use, before any file is read; the
/// store's unique index still decides a race.
async fn ensure_free(services: &Services, member: &Membership, name: &str) -> Result<(), Error> {
    match services.store.get_table(&member.project.id, name).await {
        Ok(_) => Err(taken(name)),
        Err(StoreError::NotFound) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

fn taken(name: &str) -> Error {
    Error::conflict(
        "table_exists",
        format!(
            "this project already has a table named {name}: replace it, or choose another name"
        ),
    )
    .with_field("name")
}

/// A table version's Parquet object, stored under its table's folder; the row that will
/// point at it comes from [`StoredObject::version`].
pub(crate) struct StoredObject {
    id: String,
    pub blob: String,
    columns_json: String,
    rows: i64,
    size: i64,
}

impl StoredObject {
    /// Stores `prepared` as a new version of table `table_id`; the error is the blob
    /// store's.
    pub(crate) async fn put(
        services: &Services,
        project: &str,
        table_id: &str,
        prepared: burrow_data::Prepared,
    ) -> Result<Self, burrow_blobs::StoreError> {
        let id = burrow_core::ids::new_id("tv");
        let blob = format!("tables/{project}/{table_id}/{id}.parquet");
        let size = prepared.parquet.len() as i64;
        crate::blobs::put_new(
            &services.store,
            &services.blobs,
            &blob,
            PutPayload::from(prepared.parquet),
        )
        .await?;
        Ok(Self {
            id,
            blob,
            columns_json: burrow_data::types::columns_to_json(&prepared.columns),
            rows: prepared.rows as i64,
            size,
        })
    }

    pub(crate) fn version<'a>(
        &'a self,
        origin: &'a str,
        created_by: &'a str,
    ) -> NewTableVersion<'a> {
        NewTableVersion {
            id: &self.id,
            blob: &self.blob,
            columns_json: &self.columns_json,
            row_count: self.rows,
            size_bytes: self.size,
            origin,
            created_by,
        }
    }

    /// Deletes the object again, when no row came to point at it.
    pub(crate) async fn discard(&self, services: &Services) {
        let _ = services
            .blobs
            .delete(&BlobPath::from(self.blob.as_str()))
            .await;
    }
}

/// Stores a prepared version's object, then its row; the object goes again if the row
/// cannot be written.
async fn store_version(
    services: &Services,
    project: &str,
    user: &str,
    name: &str,
    prepared: burrow_data::Prepared,
    origin: &str,
    replace: bool,
) -> Result<DataTable, Error> {
    let existing = if replace {
        Some(
            services
                .store
                .get_table(project, name)
                .await
                .map_err(|e| Error::or_not_found(e, table_not_found))?,
        )
    } else {
        None
    };
    let table_id = existing
        .as_ref()
        .map(|t| t.id.clone())
        .unwrap_or_else(|| burrow_core::ids::new_id("tbl"));
    let object = StoredObject::put(services, project, &table_id, prepared)
        .await
        .map_err(|e| Error::blob(&format!("storing table {name}'s Parquet object"), e))?;
    let version = object.version(origin, user);
    let saved = if replace {
        services.store.replace_table(project, name, &version).await
    } else {
        services
            .store
            .create_table(project, &table_id, name, &version)
            .await
    };
    match saved {
        // Committed: whatever happens next, the object stays.
        Ok(()) => services
            .store
            .get_table(project, name)
            .await
            .map_err(|e| Error::or_not_found(e, table_not_found)),
        Err(e) => {
            object.discard(services).await;
            Err(match e {
                StoreError::Conflict => taken(name),
                StoreError::NotFound => table_not_found(),
                e => e.into(),
            })
        }
    }
}

pub async fn delete(services: &Services, member: &Membership, name: &str) -> Result<(), Error> {
    require(member, Role::Editor)?;
    services
        .store
        .delete_table(&member.project.id, name)
        .await
        .map_err(|e| Error::or_not_found(e, table_not_found))
}

/// How to page through a table's rows.
#[derive(Debug, Clone, Default)]
pub struct Page {
    pub offset: u64,
    pub limit: u64,
    /// A column to sort by, and whether descending.
    pub sort: Option<(String, bool)>,
}

/// The most rows one page may have.
pub const MAX_PAGE: u64 = 1000;

/// One page of a table's rows.
pub async fn rows(
    services: &Services,
    member: &Membership,
    name: &str,
    page: &Page,
) -> Result<(DataTable, QueryResult), Error> {
    let table = get(services, member, name).await?;
    let columns = burrow_data::types::columns_from_json(&table.columns_json)
        .map_err(|e| error(e, "internal"))?;
    let order = match &page.sort {
        None => String::new(),
        Some((column, descending)) => {
            if !columns.iter().any(|c| &c.name == column) {
                return Err(Error::bad_request(
                    "invalid_sort",
                    format!("table {name} has no column {column:?} to sort by"),
                )
                .with_field("sort"));
            }
            format!(
                " ORDER BY {} {} NULLS LAST",
                burrow_data::types::quote_ident(column),
                if *descending { "DESC" } else { "ASC" }
            )
        }
    };
    let sql = format!(
        "SELECT * FROM {}{order} LIMIT {} OFFSET {}",
        burrow_data::types::quote_ident(name),
        page.limit.clamp(1, MAX_PAGE),
        page.offset
    );
    let sources = [source(&table, columns)];
    let result = services
        .data
        .query(&member.project.id, &sources, &sql)
        .await
        .map_err(|e| error(e, "invalid_query"))?;
    Ok((table, result))
}

/// Runs one read-only statement over the project's tables (the SQL console).
pub async fn query(
    services: &Services,
    member: &Membership,
    sql: &str,
) -> Result<QueryResult, Error> {
    require(member, Role::Editor)?;
    let tables = project_tables(services, &member.project.id).await?;
    let sources: Vec<TableSource> = tables.into_iter().map(|t| t.source).collect();
    services
        .data
        .query(&member.project.id, &sources, sql)
        .await
        .map_err(|e| error(e, "invalid_query").with_field("sql"))
}

fn source(table: &DataTable, columns: Vec<Column>) -> TableSource {
    TableSource {
        name: table.name.clone(),
        blob: table.blob.clone(),
        columns,
    }
}

/// Every table of a project, as queries see them.
pub async fn project_tables(services: &Services, project: &str) -> Result<Vec<TableInfo>, Error> {
    burrow_apps::data::project_tables(&services.store, project)
        .await
        .map_err(|e| error(e, "internal"))
}

/// Removes versions retired longer than [`RETIRED_GRACE`] before `now_ms`, and a deleted
/// project's, with their objects. Returns how many went.
pub async fn prune(services: &Services, now_ms: i64) -> Result<usize, Error> {
    let cutoff = now_ms - RETIRED_GRACE.as_millis() as i64;
    let blobs = services.store.prune_table_versions(cutoff).await?;
    for blob in &blobs {
        if let Err(e) = services.blobs.delete(&BlobPath::from(blob.as_str())).await {
            tracing::warn!(
                blob,
                "could not delete a retired table version's object: {e}"
            );
        }
    }
    Ok(blobs.len())
}
