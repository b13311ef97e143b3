//! The data bridge: an HTTP service on `127.0.0.1:3150` inside each sandbox of a project,
//! which `burrow.sql()` and `burrow.tables()` call.
//!
//! The listener a connection arrived on says which sandbox made it; the [`Catalog`] says
//! which project that sandbox belongs to and what tables it has, so a sandbox can only
//! ever name its own project's tables. Results stream back as Arrow IPC
//! (`application/vnd.apache.arrow.stream`), which ends with an end-of-stream marker
//! only when whole; errors are JSON, `{"error":{"code","message"}}`, which the Python
//! module raises as `burrow.BurrowError`.

use std::convert::Infallible;
use std::sync::Arc;

use arrow::ipc::writer::StreamWriter;
use bytes::Bytes;
use http_body_util::{combinators::BoxBody, BodyExt, Full, Limited, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use serde::{Deserialize, Serialize};

use crate::engine::{Engine, TableSource};
use crate::postgres::SourceConfig;
use crate::types::Column;
use crate::DataError;

/// The bridge's port on each sandbox's loopback.
pub const BRIDGE_PORT: u16 = 3150;

/// The largest request body: a statement, not data.
const MAX_REQUEST: usize = 1 << 20;

/// A table as the bridge lists it.
#[derive(Debug, Clone)]
pub struct TableInfo {
    pub source: TableSource,
    pub rows: u64,
    pub size_bytes: u64,
}

/// Which project a sandbox belongs to, and its tables.
#[async_trait::async_trait]
pub trait Catalog: Send + Sync + 'static {
    /// The project of the sandbox serving `key` and that project's tables.
    async fn tables(&self, key: &str) -> Result<(String, Vec<TableInfo>), DataError>;

    /// The project of the sandbox serving `key` and that project's source `name`.
    async fn source(&self, key: &str, name: &str) -> Result<(String, SourceConfig), DataError>;

    /// The names of the data sources of the sandbox's project.
    async fn sources(&self, key: &str) -> Result<Vec<String>, DataError>;
}

/// The bridge, shared by every sandbox; cheap to clone.
#[derive(Clone)]
pub struct Bridge {
    engine: Engine,
    catalog: Arc<dyn Catalog>,
}

impl std::fmt::Debug for Bridge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bridge")
            .field("engine", &self.engine)
            .finish()
    }
}

#[derive(Deserialize)]
struct SqlRequest {
    sql: String,
    #[serde(default)]
    source: Option<String>,
}

#[derive(Serialize)]
struct TableListing<'a> {
    name: &'a str,
    columns: &'a [Column],
    rows: u64,
    size_bytes: u64,
}

type Body = BoxBody<Bytes, std::io::Error>;

/// How long a result waits for the sandbox to read on before it is dropped.
const SEND_IDLE: std::time::Duration = std::time::Duration::from_secs(30);

impl Bridge {
    pub fn new(engine: Engine, catalog: Arc<dyn Catalog>) -> Self {
        Self { engine, catalog }
    }

    /// Serves one connection from the sandbox serving `key`. What arrives is untrusted.
    pub async fn serve<IO>(&self, key: &str, io: IO)
    where
        IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let bridge = self.clone();
        let shared: Arc<str> = Arc::from(key);
        let service = hyper::service::service_fn(move |request| {
            let bridge = bridge.clone();
            let key = Arc::clone(&shared);
            async move { Ok::<_, Infallible>(bridge.answer(&key, request).await) }
        });
        let served = hyper::server::conn::http1::Builder::new()
            .serve_connection(hyper_util::rt::TokioIo::new(io), service)
            .await;
        if let Err(e) = served {
            tracing::debug!(sandbox.key = %key, "data bridge connection ended: {e}");
        }
    }

    async fn answer(&self, key: &str, request: Request<Incoming>) -> Response<Body> {
        let result = match (request.method(), request.uri().path()) {
            (&Method::GET, "/v1/tables") => self.list(key).await,
            (&Method::POST, "/v1/sql") => self.sql(key, request).await,
            (_, "/v1/tables" | "/v1/sql") => Err((
                StatusCode::METHOD_NOT_ALLOWED,
                DataError::Invalid("use GET /v1/tables or POST /v1/sql".into()),
            )),
            _ => Err((
                StatusCode::NOT_FOUND,
                DataError::Invalid(
                    "the data bridge answers GET /v1/tables and POST /v1/sql".into(),
                ),
            )),
        };
        result.unwrap_or_else(|(status, e)| error(status, &e))
    }

    async fn list(&self, key: &str) -> Result<Response<Body>, (StatusCode, DataError)> {
        let (_, tables) = self.catalog.tables(key).await.map_err(with_status)?;
        let listing: Vec<TableListing> = tables
            .iter()
            .map(|t| TableListing {
                name: &t.source.name,
                columns: &t.source.columns,
                rows: t.rows,
                size_bytes: t.size_bytes,
            })
            .collect();
        let sources = self.catalog.sources(key).await.map_err(with_status)?;
        let body = serde_json::json!({ "tables": listing, "sources": sources }).to_string();
        Ok(json(StatusCode::OK, body))
    }

    async fn sql(
        &self,
        key: &str,
        request: Request<Incoming>,
    ) -> Result<Response<Body>, (StatusCode, DataError)> {
        let body = Limited::new(request.into_body(), MAX_REQUEST)
            .collect()
            .await
            .map_err(|_| {
                (
                    StatusCode::PAYLOAD_TOO_LARGE,
                    DataError::Invalid(format!(
                        "burrow: a statement may be at most {} bytes",
                        MAX_REQUEST
                    )),
                )
            })?
            .to_bytes();
        let request: SqlRequest = serde_json::from_slice(&body).map_err(|e| {
            (
                StatusCode::BAD_REQUEST,
                DataError::Invalid(format!(
                    "burrow: the request is not {{\"sql\": \"…\"}}: {e}"
                )),
            )
        })?;
        let (project, result) = match request.source.filter(|s| !s.is_empty()) {
            Some(name) => {
                let (project, source) =
                    self.catalog.source(key, &name).await.map_err(with_status)?;
                let result = self
                    .engine
                    .query_source(&project, &source, &request.sql)
                    .await
                    .map_err(with_status)?;
                (project, result)
            }
            None => {
                let (project, tables) = self.catalog.tables(key).await.map_err(with_status)?;
                let sources: Vec<TableSource> = tables.into_iter().map(|t| t.source).collect();
                let result = self
                    .engine
                    .query(&project, &sources, &request.sql)
                    .await
                    .map_err(with_status)?;
                (project, result)
            }
        };
        tracing::info!(
            sandbox.key = key,
            project.id = project.as_str(),
            rows = result.rows,
            elapsed_ms = result.elapsed.as_millis() as u64,
            "data bridge query"
        );
        let rows = result.rows;
        // The result (and its query slots) stays until the sandbox has read it, or stops
        // reading for SEND_IDLE. A failure ends the body with an error, so the sandbox
        // sees a broken transfer, never a stream that looks whole.
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
        tokio::spawn(async move {
            let send = |chunk| async {
                matches!(
                    tokio::time::timeout(SEND_IDLE, tx.send(chunk)).await,
                    Ok(Ok(()))
                )
            };
            let failed = |e: arrow::error::ArrowError| {
                tracing::error!("data bridge: encoding a result: {e}");
                Err(std::io::Error::other("the result could not be encoded"))
            };
            let mut writer = match StreamWriter::try_new(Vec::new(), &result.schema) {
                Ok(w) => w,
                Err(e) => {
                    send(failed(e)).await;
                    return;
                }
            };
            for batch in &result.batches {
                if let Err(e) = writer.write(batch) {
                    send(failed(e)).await;
                    return;
                }
                if !send(Ok(Bytes::from(std::mem::take(writer.get_mut())))).await {
                    return;
                }
            }
            // The end-of-stream marker only after every batch went out.
            match writer.finish() {
                Ok(()) => {
                    send(Ok(Bytes::from(std::mem::take(writer.get_mut())))).await;
                }
                Err(e) => {
                    send(failed(e)).await;
                }
            }
        });
        let frames = futures::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|chunk| (chunk.map(Frame::data), rx))
        });
        Ok(Response::builder()
            .status(StatusCode::OK)
            .header("content-type", "application/vnd.apache.arrow.stream")
            .header("x-burrow-rows", rows)
            .body(StreamBody::new(frames).boxed())
            .expect("a valid response"))
    }
}

fn with_status(e: DataError) -> (StatusCode, DataError) {
    let status = match e {
        DataError::Invalid(_) | DataError::Refused(_) => StatusCode::BAD_REQUEST,
        DataError::Limit(_) => StatusCode::UNPROCESSABLE_ENTITY,
        DataError::Busy(_) => StatusCode::TOO_MANY_REQUESTS,
        DataError::Unavailable(_) => StatusCode::BAD_GATEWAY,
        DataError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
    };
    (status, e)
}

fn error(status: StatusCode, e: &DataError) -> Response<Body> {
    let code = match e {
        DataError::Invalid(_) => "invalid_query",
        DataError::Refused(_) => "sql_not_allowed",
        DataError::Limit(_) => "query_limit",
        DataError::Busy(_) => "too_many_queries",
        DataError::Unavailable(_) => "source_unavailable",
        DataError::Internal(_) => "internal",
    };
    let message = match e {
        DataError::Internal(detail) => {
            tracing::error!("data bridge: {detail}");
            "burrow: the query failed inside Burrow; try again, or ask an admin to look at the logs"
                .to_owned()
        }
        other => other.to_string(),
    };
    json(
        status,
        serde_json::json!({ "error": { "code": code, "message": message } }).to_string(),
    )
}

fn json(status: StatusCode, body: String) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)).map_err(|e| match e {}).boxed())
        .expect("a valid response")
}
