//! Project data: tables made from uploads or the sample, their pages of rows, and the
//! SQL console's read-only queries.

use axum::extract::{FromRequest, Multipart, Request, State};
use axum::http::StatusCode;
use axum::Json;
use burrow_data::{Column, ColumnType};
use burrow_service::data::{self as use_case, Page, TableFile};
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::error::{ApiError, ErrorBody, Kind};
use crate::extract::{ApiJson, ApiPath, ApiQuery, Editor, ProjectAccess, Viewer};
use crate::AppState;

/// A column of a table: its name and type.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ColumnDto {
    pub name: String,
    /// `integer`, `float`, `boolean`, `text`, `date` or `timestamp`.
    #[serde(rename = "type")]
    pub column_type: String,
}

impl From<&Column> for ColumnDto {
    fn from(c: &Column) -> Self {
        Self {
            name: c.name.clone(),
            column_type: c.column_type.as_str().to_owned(),
        }
    }
}

/// A table and its current version.
#[derive(Debug, Serialize, ToSchema)]
pub struct TableDto {
    pub id: String,
    /// What SQL calls it.
    pub name: String,
    pub columns: Vec<ColumnDto>,
    pub rows: i64,
    /// The current version's Parquet size.
    pub size_bytes: i64,
    /// The current version's id; a replacement makes a new one.
    pub version: String,
    /// `upload`, `sample` or `job`.
    pub origin: String,
    #[schema(required = true)]
    pub created_by: Option<String>,
    #[schema(required = true)]
    pub creator_name: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

fn dto(t: burrow_store::DataTable) -> Result<TableDto, ApiError> {
    let columns = burrow_data::types::columns_from_json(&t.columns_json)
        .map_err(|e| use_case::error(e, "internal"))?;
    Ok(TableDto {
        columns: columns.iter().map(Into::into).collect(),
        id: t.id,
        name: t.name,
        rows: t.row_count,
        size_bytes: t.size_bytes,
        version: t.version_id,
        origin: t.origin,
        created_by: t.created_by,
        creator_name: t.creator_name,
        created_at: crate::dto::timestamp(t.created_at),
        updated_at: crate::dto::timestamp(t.updated_at),
    })
}

/// Rows as text (`null` for null), with their columns.
#[derive(Debug, Serialize, ToSchema)]
pub struct RowsDto {
    pub columns: Vec<ColumnDto>,
    pub rows: Vec<Vec<Option<String>>>,
}

/// A query's result for the console: its first rows, and how many there were in all.
#[derive(Debug, Serialize, ToSchema)]
pub struct QueryResultDto {
    pub columns: Vec<ColumnDto>,
    /// At most `shown` rows, as text.
    pub rows: Vec<Vec<Option<String>>>,
    /// Every row the query returned.
    pub row_count: u64,
    /// How many rows `rows` holds; fewer than `row_count` when the console shows only the first.
    pub shown: u64,
    pub elapsed_ms: u64,
}

/// The most rows the console sends back; the rest are counted.
pub const CONSOLE_ROWS: usize = 1000;

pub(crate) fn result_columns(schema: &arrow::datatypes::Schema) -> Vec<ColumnDto> {
    schema
        .fields()
        .iter()
        .map(|f| ColumnDto {
            name: f.name().clone(),
            column_type: ColumnType::of(f.data_type())
                .map(|t| t.as_str().to_owned())
                .unwrap_or_else(|| f.data_type().to_string()),
        })
        .collect()
}

pub(crate) fn result_rows(
    batches: &[arrow::array::RecordBatch],
    max: usize,
) -> Vec<Vec<Option<String>>> {
    let mut rows = Vec::new();
    for batch in batches {
        if rows.len() >= max {
            break;
        }
        rows.extend(burrow_data::text_rows(batch, max - rows.len()));
    }
    rows
}

/// A `multipart/form-data` table upload.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct TableForm {
    /// A `.csv` or `.parquet` file.
    #[schema(format = Binary, value_type = String)]
    file: Vec<u8>,
    /// The table's name (for a new table): lowercase letters, digits and underscores.
    name: Option<String>,
    /// The column types as JSON, `[{"name","type"}]`, one per column of the file in
    /// order; inferred from the file when absent.
    columns: Option<String>,
}

struct Form {
    name: Option<String>,
    file: Option<(String, Bytes)>,
    columns: Option<Vec<Column>>,
}

async fn read_form(state: &AppState, request: Request) -> Result<Form, ApiError> {
    // The instance's own cap, on top of the route's: enough for the file and the form.
    let limit = ((state.config.data.max_upload_mb as usize) << 20) + (1 << 20);
    let (parts, body) = request.into_parts();
    let request = Request::from_parts(
        parts,
        axum::body::Body::new(http_body_util::Limited::new(body, limit)),
    );
    let mut multipart = Multipart::from_request(request, state)
        .await
        .map_err(|e| ApiError::bad_request("invalid_upload", e.body_text()))?;
    let mut form = Form {
        name: None,
        file: None,
        columns: None,
    };
    let too_large = |state: &AppState, e: axum::extract::multipart::MultipartError| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                Kind::TooLarge,
                "upload_too_large",
                format!(
                    "the file is larger than {} MB (data.max_upload_mb): split it, or ask an admin to raise the limit",
                    state.config.data.max_upload_mb
                ),
            )
        } else {
            ApiError::bad_request("invalid_upload", e.body_text())
        }
    };
    while let Some(field) = multipart
        .next_field()
        .await
        .map_err(|e| too_large(state, e))?
    {
        match field.name().unwrap_or_default() {
            "file" => {
                let filename = field.file_name().unwrap_or("upload.csv").to_owned();
                let bytes = field.bytes().await.map_err(|e| too_large(state, e))?;
                form.file = Some((filename, bytes));
            }
            "name" => form.name = Some(field.text().await.map_err(|e| too_large(state, e))?),
            "columns" => {
                let text = field.text().await.map_err(|e| too_large(state, e))?;
                let given: Vec<ColumnDto> = serde_json::from_str(&text).map_err(|e| {
                    ApiError::bad_request(
                        "invalid_columns",
                        format!("`columns` is not a JSON list of {{\"name\", \"type\"}}: {e}"),
                    )
                    .with_field("columns")
                })?;
                let mut columns = Vec::new();
                for c in given {
                    let column_type = ColumnType::parse(&c.column_type).ok_or_else(|| {
                        ApiError::bad_request(
                            "invalid_columns",
                            format!(
                                "column {:?} has type {:?}: choose one of integer, float, boolean, text, date, timestamp",
                                c.name, c.column_type
                            ),
                        )
                        .with_field("columns")
                    })?;
                    columns.push(Column {
                        name: c.name,
                        column_type,
                    });
                }
                form.columns = Some(columns);
            }
            other => {
                return Err(ApiError::bad_request(
                    "invalid_upload",
                    format!("unknown form field {other:?}: send file, name and columns"),
                ))
            }
        }
    }
    Ok(form)
}

fn file_of(form: &mut Form) -> Result<TableFile, ApiError> {
    let (filename, bytes) = form.file.take().ok_or_else(|| {
        ApiError::bad_request(
            "invalid_upload",
            "the form has no file field: attach the .csv or .parquet file as `file`",
        )
        .with_field("file")
    })?;
    Ok(TableFile {
        filename,
        bytes,
        columns: form.columns.take(),
    })
}

/// The project's tables.
#[utoipa::path(get, path = "/api/v1/projects/{project}/tables", tag = "data",
    params(("project" = String, Path, description = "Project id")),
    responses(
        (status = 200, description = "The tables, by name", body = [TableDto]),
        (status = 404, description = "No such project, or not a member", body = ErrorBody),
    ))]
pub async fn list_tables(
    State(state): State<AppState>,
    access: ProjectAccess<Viewer>,
) -> Result<Json<Vec<TableDto>>, ApiError> {
    let tables = use_case::list(&state, &access).await?;
    Ok(Json(tables.into_iter().map(dto).collect::<Result<_, _>>()?))
}

/// Make a table from a CSV or Parquet file (`multipart/form-data`: `file`, `name`, and
/// optionally `columns` with the types to use). Every value must fit its column's type;
/// a file that does not is refused whole, naming the line and column.
#[utoipa::path(post, path = "/api/v1/projects/{project}/tables", tag = "data",
    params(("project" = String, Path, description = "Project id")),
    request_body(content((TableForm = "multipart/form-data"))),
    responses(
        (status = 201, description = "Created", body = TableDto),
        (status = 400, description = "A bad name, file or column types", body = ErrorBody),
        (status = 403, description = "Viewers cannot add tables", body = ErrorBody),
        (status = 404, description = "No such project, or not a member", body = ErrorBody),
        (status = 409, description = "A table of that name exists", body = ErrorBody),
        (status = 413, description = "The file is larger than `data.max_upload_mb`", body = ErrorBody),
    ))]
pub async fn create_table(
    State(state): State<AppState>,
    access: ProjectAccess<Editor>,
    request: Request,
) -> Result<(StatusCode, Json<TableDto>), ApiError> {
    let mut form = read_form(&state, request).await?;
    let name = form.name.take().ok_or_else(|| {
        ApiError::bad_request("invalid_table_name", "give the table a `name`").with_field("name")
    })?;
    let file = file_of(&mut form)?;
    let table = use_case::save(&state, &access, name.trim(), file, false).await?;
    Ok((StatusCode::CREATED, Json(dto(table)?)))
}

/// Replace a table's contents with a new file (`multipart/form-data`: `file`, optionally
/// `columns`). Readers see the old version or the new one, never a mix.
#[utoipa::path(put, path = "/api/v1/projects/{project}/tables/{table}", tag = "data",
    params(("project" = String, Path, description = "Project id"), ("table" = String, Path, description = "Table name")),
    request_body(content((TableForm = "multipart/form-data"))),
    responses(
        (status = 200, description = "Replaced", body = TableDto),
        (status = 400, description = "A bad file or column types", body = ErrorBody),
        (status = 403, description = "Viewers cannot replace tables", body = ErrorBody),
        (status = 404, description = "No such table or project, or not a member", body = ErrorBody),
        (status = 413, description = "The file is larger than `data.max_upload_mb`", body = ErrorBody),
    ))]
pub async fn replace_table(
    State(state): State<AppState>,
    access: ProjectAccess<Editor>,
    ApiPath(path): ApiPath<(String, String)>,
    request: Request,
) -> Result<Json<TableDto>, ApiError> {
    let mut form = read_form(&state, request).await?;
    let file = file_of(&mut form)?;
    let table = use_case::save(&state, &access, &path.1, file, true).await?;
    Ok(Json(dto(table)?))
}

/// The columns Burrow infers for a file, and its first rows, for a person to correct
/// before saving. A CSV may be only the file's start.
#[utoipa::path(post, path = "/api/v1/projects/{project}/tables/infer", tag = "data",
    params(("project" = String, Path, description = "Project id")),
    request_body(content((TableForm = "multipart/form-data"))),
    responses(
        (status = 200, description = "The inferred columns and first rows", body = RowsDto),
        (status = 400, description = "Not a file Burrow can read", body = ErrorBody),
        (status = 404, description = "No such project, or not a member", body = ErrorBody),
    ))]
pub async fn infer_table(
    State(state): State<AppState>,
    access: ProjectAccess<Editor>,
    request: Request,
) -> Result<Json<RowsDto>, ApiError> {
    let mut form = read_form(&state, request).await?;
    let file = file_of(&mut form)?;
    let inferred = use_case::infer(&state, &access, &file.filename, file.bytes).await?;
    Ok(Json(RowsDto {
        columns: inferred.columns.iter().map(Into::into).collect(),
        rows: inferred.preview,
    }))
}

/// Add the sample table `daily_sales`: the CSV Explorer's 120 days of sales by region.
#[utoipa::path(post, path = "/api/v1/projects/{project}/tables/sample", tag = "data",
    params(("project" = String, Path, description = "Project id")),
    responses(
        (status = 201, description = "Created", body = TableDto),
        (status = 403, description = "Viewers cannot add tables", body = ErrorBody),
        (status = 404, description = "No such project, or not a member", body = ErrorBody),
        (status = 409, description = "The project already has `daily_sales`", body = ErrorBody),
    ))]
pub async fn add_sample(
    State(state): State<AppState>,
    access: ProjectAccess<Editor>,
) -> Result<(StatusCode, Json<TableDto>), ApiError> {
    let table = use_case::add_sample(&state, &access).await?;
    Ok((StatusCode::CREATED, Json(dto(table)?)))
}

/// A table and its current version.
#[utoipa::path(get, path = "/api/v1/projects/{project}/tables/{table}", tag = "data",
    params(("project" = String, Path, description = "Project id"), ("table" = String, Path, description = "Table name")),
    responses(
        (status = 200, description = "The table", body = TableDto),
        (status = 404, description = "No such table or project, or not a member", body = ErrorBody),
    ))]
pub async fn get_table(
    State(state): State<AppState>,
    access: ProjectAccess<Viewer>,
    ApiPath(path): ApiPath<(String, String)>,
) -> Result<Json<TableDto>, ApiError> {
    Ok(Json(dto(use_case::get(&state, &access, &path.1).await?)?))
}

/// Delete a table. Queries already reading it finish; its files go later.
#[utoipa::path(delete, path = "/api/v1/projects/{project}/tables/{table}", tag = "data",
    params(("project" = String, Path, description = "Project id"), ("table" = String, Path, description = "Table name")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "Viewers cannot delete tables", body = ErrorBody),
        (status = 404, description = "No such table or project, or not a member", body = ErrorBody),
    ))]
pub async fn delete_table(
    State(state): State<AppState>,
    access: ProjectAccess<Editor>,
    ApiPath(path): ApiPath<(String, String)>,
) -> Result<StatusCode, ApiError> {
    use_case::delete(&state, &access, &path.1).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Which rows of a table to show.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RowsQuery {
    /// Rows to skip.
    #[serde(default)]
    pub offset: u64,
    /// Rows to return, at most 1000 (50 when absent).
    pub limit: Option<u64>,
    /// A column to sort by.
    pub sort: Option<String>,
    /// `asc` (the default) or `desc`.
    #[param(pattern = "^(asc|desc)$")]
    pub order: Option<String>,
}

/// A page of a table's rows, optionally sorted by one column.
#[utoipa::path(get, path = "/api/v1/projects/{project}/tables/{table}/rows", tag = "data",
    params(("project" = String, Path, description = "Project id"), ("table" = String, Path, description = "Table name"), RowsQuery),
    responses(
        (status = 200, description = "The rows", body = RowsDto),
        (status = 400, description = "No such column to sort by", body = ErrorBody),
        (status = 404, description = "No such table or project, or not a member", body = ErrorBody),
    ))]
pub async fn table_rows(
    State(state): State<AppState>,
    access: ProjectAccess<Viewer>,
    ApiPath(path): ApiPath<(String, String)>,
    ApiQuery(query): ApiQuery<RowsQuery>,
) -> Result<Json<RowsDto>, ApiError> {
    let page = page_of(query)?;
    let (_, result) = use_case::rows(&state, &access, &path.1, &page).await?;
    Ok(Json(RowsDto {
        columns: result_columns(&result.schema),
        rows: result_rows(&result.batches, use_case::MAX_PAGE as usize),
    }))
}

/// The page a request asks for.
pub(crate) fn page_of(query: RowsQuery) -> Result<Page, ApiError> {
    let descending = match query.order.as_deref() {
        None | Some("asc") => false,
        Some("desc") => true,
        Some(other) => {
            return Err(ApiError::bad_request(
                "invalid_sort",
                format!("order {other:?} is neither asc nor desc"),
            )
            .with_field("order"))
        }
    };
    Ok(Page {
        offset: query.offset,
        limit: query.limit.unwrap_or(50),
        sort: query.sort.map(|s| (s, descending)),
    })
}

/// A statement for the SQL console.
#[derive(Debug, Deserialize, ToSchema)]
pub struct QueryRequest {
    /// One read-only statement over the project's tables, or over `source`.
    pub sql: String,
    /// A data source of the project to run it on, instead of the project's tables.
    #[serde(default)]
    pub source: Option<String>,
}

/// Run one read-only statement over the project's tables, or on one of its data
/// sources. The console gets the first
/// 1000 rows and the count of all; a result past the instance's caps is an error.
#[utoipa::path(post, path = "/api/v1/projects/{project}/sql", tag = "data",
    params(("project" = String, Path, description = "Project id")),
    request_body = QueryRequest,
    responses(
        (status = 200, description = "The result", body = QueryResultDto),
        (status = 400, description = "Not a query, or a mistake in it (with its line and column)", body = ErrorBody),
        (status = 403, description = "Viewers cannot run SQL", body = ErrorBody),
        (status = 404, description = "No such project, or not a member", body = ErrorBody),
        (status = 422, description = "Past a limit: rows, bytes, memory or time", body = ErrorBody),
        (status = 429, description = "Too many queries running in the project", body = ErrorBody),
    ))]
pub async fn run_query(
    State(state): State<AppState>,
    access: ProjectAccess<Editor>,
    ApiJson(request): ApiJson<QueryRequest>,
) -> Result<Json<QueryResultDto>, ApiError> {
    let result = match request.source.as_deref().filter(|s| !s.is_empty()) {
        Some(source) => {
            burrow_service::sources::query(&state, &access, source, &request.sql).await?
        }
        None => use_case::query(&state, &access, &request.sql).await?,
    };
    let rows = result_rows(&result.batches, CONSOLE_ROWS);
    Ok(Json(QueryResultDto {
        columns: result_columns(&result.schema),
        shown: rows.len() as u64,
        rows,
        row_count: result.rows,
        elapsed_ms: result.elapsed.as_millis() as u64,
    }))
}
