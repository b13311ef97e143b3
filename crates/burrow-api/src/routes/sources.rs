//! External PostgreSQL data sources: owners add, change, test and remove them; members
//! browse their tables and preview rows. Passwords go in and never come out.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use burrow_service::sources::{self as use_case, SourceInput};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiJson, ApiPath, ApiQuery, Owner, ProjectAccess, Viewer};
use crate::routes::tables::{page_of, result_columns, result_rows, RowsDto, RowsQuery};
use crate::AppState;

/// A data source, without its password.
#[derive(Debug, Serialize, ToSchema)]
pub struct SourceDto {
    pub id: String,
    /// What `burrow.sql(…, source=…)` and the console call it.
    pub name: String,
    pub host: String,
    pub port: u16,
    pub database: String,
    pub user: String,
    /// `disable`, `prefer`, `require` or `verify-full`.
    pub tls_mode: String,
    /// Jobs may write here, so its user may change the database.
    pub destination: bool,
    pub created_at: String,
    pub updated_at: String,
}

fn dto(s: burrow_store::DataSource) -> SourceDto {
    SourceDto {
        id: s.id,
        name: s.name,
        host: s.host,
        port: u16::try_from(s.port).unwrap_or_default(),
        database: s.database_name,
        user: s.username,
        tls_mode: s.tls_mode,
        destination: s.destination != 0,
        created_at: crate::dto::timestamp(s.created_at),
        updated_at: crate::dto::timestamp(s.updated_at),
    }
}

/// Where a source is and who Burrow connects as.
#[derive(Deserialize, ToSchema)]
pub struct SourceRequest {
    /// For a new source: lowercase letters, digits and underscores.
    #[serde(default)]
    pub name: Option<String>,
    pub host: String,
    /// 5432 when absent.
    #[serde(default)]
    pub port: Option<u16>,
    pub database: String,
    pub user: String,
    /// Required for a new source; when changing or testing a saved one, absent keeps
    /// the stored password.
    #[serde(default)]
    pub password: Option<String>,
    /// `disable`, `prefer` (the default), `require` or `verify-full`.
    #[serde(default)]
    pub tls_mode: Option<String>,
    /// Jobs may write here: the user may then change the database. Owners only.
    #[serde(default)]
    pub destination: bool,
}

impl std::fmt::Debug for SourceRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SourceRequest")
            .field("name", &self.name)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("database", &self.database)
            .field("user", &self.user)
            .field("tls_mode", &self.tls_mode)
            .field("destination", &self.destination)
            .finish_non_exhaustive()
    }
}

fn input(request: SourceRequest) -> SourceInput {
    SourceInput {
        host: request.host.trim().to_owned(),
        port: request.port.unwrap_or(5432),
        database: request.database,
        user: request.user,
        password: request.password.filter(|p| !p.is_empty()),
        tls_mode: request.tls_mode.unwrap_or_else(|| "prefer".into()),
        destination: request.destination,
    }
}

/// What a connection test found.
#[derive(Debug, Serialize, ToSchema)]
pub struct TestResultDto {
    pub server_version: String,
    /// Whether the connection used TLS.
    pub tls: bool,
    /// Tables and views the user may read.
    pub tables: u64,
}

/// A table or view of a source that its user may read.
#[derive(Debug, Serialize, ToSchema)]
pub struct SourceTableDto {
    pub schema: String,
    pub name: String,
    /// `table`, `view`, `materialized view`, `foreign table` or `partitioned table`.
    pub kind: String,
    /// PostgreSQL's estimate; absent before the table was analyzed.
    #[schema(required = true)]
    pub rows_estimate: Option<i64>,
}

/// A source table's columns, with PostgreSQL's names for their types.
#[derive(Debug, Serialize, ToSchema)]
pub struct SourceTableDetailDto {
    pub schema: String,
    pub name: String,
    pub columns: Vec<crate::routes::tables::ColumnDto>,
}

/// The project's data sources.
#[utoipa::path(get, path = "/api/v1/projects/{project}/sources", tag = "data",
    params(("project" = String, Path, description = "Project id")),
    responses(
        (status = 200, description = "The sources, by name", body = [SourceDto]),
        (status = 404, description = "No such project, or not a member", body = ErrorBody),
    ))]
pub async fn list_sources(
    State(state): State<AppState>,
    access: ProjectAccess<Viewer>,
) -> Result<Json<Vec<SourceDto>>, ApiError> {
    let sources = use_case::list(&state, &access).await?;
    Ok(Json(sources.into_iter().map(dto).collect()))
}

/// Add an external PostgreSQL source. Burrow connects first, and saves it only if its
/// user cannot change the database (unless it is a job destination) or reach past it.
#[utoipa::path(post, path = "/api/v1/projects/{project}/sources", tag = "data",
    params(("project" = String, Path, description = "Project id")),
    request_body = SourceRequest,
    responses(
        (status = 201, description = "Saved", body = SourceDto),
        (status = 400, description = "A field is wrong", body = ErrorBody),
        (status = 403, description = "Only owners manage sources", body = ErrorBody),
        (status = 404, description = "No such project, or not a member", body = ErrorBody),
        (status = 409, description = "A source of that name exists", body = ErrorBody),
        (status = 422, description = "The connection or the user check failed; the message says which", body = ErrorBody),
    ))]
pub async fn create_source(
    State(state): State<AppState>,
    access: ProjectAccess<Owner>,
    ApiJson(request): ApiJson<SourceRequest>,
) -> Result<(StatusCode, Json<SourceDto>), ApiError> {
    let name = request.name.clone().unwrap_or_default();
    let source = use_case::create(&state, &access, name.trim(), &input(request)).await?;
    Ok((StatusCode::CREATED, Json(dto(source))))
}

/// Test a connection without saving: connect, check the user, count what it may read.
/// With `name` of a saved source and no password, the stored password is used.
#[utoipa::path(post, path = "/api/v1/projects/{project}/sources/test", tag = "data",
    params(("project" = String, Path, description = "Project id")),
    request_body = SourceRequest,
    responses(
        (status = 200, description = "The connection works", body = TestResultDto),
        (status = 400, description = "A field is wrong", body = ErrorBody),
        (status = 403, description = "Only owners manage sources", body = ErrorBody),
        (status = 422, description = "What failed: the host, the login, TLS, or the user's rights", body = ErrorBody),
    ))]
pub async fn test_source(
    State(state): State<AppState>,
    access: ProjectAccess<Owner>,
    ApiJson(request): ApiJson<SourceRequest>,
) -> Result<Json<TestResultDto>, ApiError> {
    let saved = request.name.clone().filter(|n| !n.trim().is_empty());
    let checked = use_case::test(&state, &access, saved.as_deref(), &input(request)).await?;
    Ok(Json(TestResultDto {
        server_version: checked.server_version,
        tls: checked.tls,
        tables: checked.tables,
    }))
}

/// A data source, without its password.
#[utoipa::path(get, path = "/api/v1/projects/{project}/sources/{source}", tag = "data",
    params(("project" = String, Path, description = "Project id"), ("source" = String, Path, description = "Source name")),
    responses(
        (status = 200, description = "The source", body = SourceDto),
        (status = 404, description = "No such source or project, or not a member", body = ErrorBody),
    ))]
pub async fn get_source(
    State(state): State<AppState>,
    access: ProjectAccess<Viewer>,
    ApiPath(path): ApiPath<(String, String)>,
) -> Result<Json<SourceDto>, ApiError> {
    Ok(Json(dto(use_case::get(&state, &access, &path.1).await?)))
}

/// Change a source; without a password, the stored one stays. Checked as a new one is.
#[utoipa::path(put, path = "/api/v1/projects/{project}/sources/{source}", tag = "data",
    params(("project" = String, Path, description = "Project id"), ("source" = String, Path, description = "Source name")),
    request_body = SourceRequest,
    responses(
        (status = 200, description = "Saved", body = SourceDto),
        (status = 400, description = "A field is wrong", body = ErrorBody),
        (status = 403, description = "Only owners manage sources", body = ErrorBody),
        (status = 404, description = "No such source or project, or not a member", body = ErrorBody),
        (status = 422, description = "The connection or the user check failed", body = ErrorBody),
    ))]
pub async fn update_source(
    State(state): State<AppState>,
    access: ProjectAccess<Owner>,
    ApiPath(path): ApiPath<(String, String)>,
    ApiJson(request): ApiJson<SourceRequest>,
) -> Result<Json<SourceDto>, ApiError> {
    let source = use_case::update(&state, &access, &path.1, &input(request)).await?;
    Ok(Json(dto(source)))
}

/// Remove a source. Its password goes with it.
#[utoipa::path(delete, path = "/api/v1/projects/{project}/sources/{source}", tag = "data",
    params(("project" = String, Path, description = "Project id"), ("source" = String, Path, description = "Source name")),
    responses(
        (status = 204, description = "Removed"),
        (status = 403, description = "Only owners manage sources", body = ErrorBody),
        (status = 404, description = "No such source or project, or not a member", body = ErrorBody),
    ))]
pub async fn delete_source(
    State(state): State<AppState>,
    access: ProjectAccess<Owner>,
    ApiPath(path): ApiPath<(String, String)>,
) -> Result<StatusCode, ApiError> {
    use_case::delete(&state, &access, &path.1).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The tables and views the source's user may read.
#[utoipa::path(get, path = "/api/v1/projects/{project}/sources/{source}/tables", tag = "data",
    params(("project" = String, Path, description = "Project id"), ("source" = String, Path, description = "Source name")),
    responses(
        (status = 200, description = "By schema and name, at most 2000", body = [SourceTableDto]),
        (status = 404, description = "No such source or project, or not a member", body = ErrorBody),
        (status = 422, description = "The source could not be reached; the message says why", body = ErrorBody),
    ))]
pub async fn source_tables(
    State(state): State<AppState>,
    access: ProjectAccess<Viewer>,
    ApiPath(path): ApiPath<(String, String)>,
) -> Result<Json<Vec<SourceTableDto>>, ApiError> {
    let tables = use_case::tables(&state, &access, &path.1).await?;
    Ok(Json(
        tables
            .into_iter()
            .map(|t| SourceTableDto {
                schema: t.schema,
                name: t.name,
                kind: t.kind,
                rows_estimate: t.rows_estimate,
            })
            .collect(),
    ))
}

/// A source table's columns.
#[utoipa::path(get, path = "/api/v1/projects/{project}/sources/{source}/tables/{schema}/{table}", tag = "data",
    params(("project" = String, Path, description = "Project id"), ("source" = String, Path, description = "Source name"),
           ("schema" = String, Path, description = "Schema"), ("table" = String, Path, description = "Table or view")),
    responses(
        (status = 200, description = "The table's columns", body = SourceTableDetailDto),
        (status = 404, description = "No such source or table, or not readable by its user", body = ErrorBody),
        (status = 422, description = "The source could not be reached", body = ErrorBody),
    ))]
pub async fn source_table(
    State(state): State<AppState>,
    access: ProjectAccess<Viewer>,
    ApiPath(path): ApiPath<(String, String, String, String)>,
) -> Result<Json<SourceTableDetailDto>, ApiError> {
    let (_, source, schema, table) = path;
    let columns = use_case::columns(&state, &access, &source, &schema, &table).await?;
    Ok(Json(SourceTableDetailDto {
        schema,
        name: table,
        columns: columns
            .into_iter()
            .map(|c| crate::routes::tables::ColumnDto {
                name: c.name,
                column_type: c.column_type,
            })
            .collect(),
    }))
}

/// A page of a source table's rows, optionally sorted by one column. Types Burrow does
/// not read natively arrive as text.
#[utoipa::path(get, path = "/api/v1/projects/{project}/sources/{source}/tables/{schema}/{table}/rows", tag = "data",
    params(("project" = String, Path, description = "Project id"), ("source" = String, Path, description = "Source name"),
           ("schema" = String, Path, description = "Schema"), ("table" = String, Path, description = "Table or view"), RowsQuery),
    responses(
        (status = 200, description = "The rows", body = RowsDto),
        (status = 400, description = "No such column to sort by", body = ErrorBody),
        (status = 404, description = "No such source or table", body = ErrorBody),
        (status = 422, description = "The source could not be reached, or a limit was passed", body = ErrorBody),
    ))]
pub async fn source_rows(
    State(state): State<AppState>,
    access: ProjectAccess<Viewer>,
    ApiPath(path): ApiPath<(String, String, String, String)>,
    ApiQuery(query): ApiQuery<RowsQuery>,
) -> Result<Json<RowsDto>, ApiError> {
    let (_, source, schema, table) = path;
    let page = page_of(query)?;
    let result = use_case::rows(&state, &access, &source, &schema, &table, &page).await?;
    Ok(Json(RowsDto {
        columns: result_columns(&result.schema),
        rows: result_rows(&result.batches, burrow_service::data::MAX_PAGE as usize),
    }))
}
