//! What Burrow's two HTTP edges (the API and the apps gateway) share: errors as
//! `{"error":{"code","message"}}` responses, the request-observing layer (a log line and
//! Prometheus metrics per request), and reading cookies.

use std::sync::OnceLock;
use std::time::Instant;

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{MatchedPath, Request};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::{Error, Finding, Kind};

impl Kind {
    /// The HTTP status this kind of refusal is answered with.
    pub fn status(self) -> StatusCode {
        match self {
            Kind::Invalid => StatusCode::BAD_REQUEST,
            Kind::Unauthenticated => StatusCode::UNAUTHORIZED,
            Kind::Forbidden => StatusCode::FORBIDDEN,
            Kind::NotFound => StatusCode::NOT_FOUND,
            Kind::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Kind::Conflict => StatusCode::CONFLICT,
            Kind::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Kind::HeadersTooLarge => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            Kind::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Kind::Unprocessable => StatusCode::UNPROCESSABLE_ENTITY,
            Kind::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
            Kind::Unreachable => StatusCode::BAD_GATEWAY,
            Kind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Kind::InsufficientStorage => StatusCode::INSUFFICIENT_STORAGE,
            Kind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The kind a client-error status stands for (what a framework's rejection says).
    pub fn from_status(status: StatusCode) -> Kind {
        match status {
            StatusCode::PAYLOAD_TOO_LARGE => Kind::TooLarge,
            StatusCode::UNSUPPORTED_MEDIA_TYPE => Kind::UnsupportedMediaType,
            StatusCode::UNPROCESSABLE_ENTITY => Kind::Unprocessable,
            s if s.is_server_error() => Kind::Internal,
            _ => Kind::Invalid,
        }
    }
}

/// Internal detail of an error response, for the logs only.
#[derive(Debug, Clone)]
pub struct ErrorDetail(pub String);

/// The body of every error response.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorInfo,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorInfo {
    /// Stable and machine-readable, such as `project_not_found`.
    #[schema(example = "project_not_found")]
    pub code: String,
    /// What is wrong and, where possible, how to fix it.
    pub message: String,
    /// The request field at fault, when one is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Every problem, each with where it is, when there are several.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<Finding>,
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorInfo {
                code: self.code.to_owned(),
                message: self.message,
                field: self.field.map(str::to_owned),
                details: self.details.into_vec(),
            },
        };
        let mut response = (self.kind.status(), axum::Json(body)).into_response();
        if let Some(secs) = self.retry_after_secs {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if let Some(detail) = self.detail {
            response.extensions_mut().insert(ErrorDetail(detail));
        }
        response
    }
}

impl From<JsonRejection> for Error {
    fn from(rejection: JsonRejection) -> Self {
        match rejection {
            JsonRejection::MissingJsonContentType(_) => Error::new(
                Kind::UnsupportedMediaType,
                "unsupported_media_type",
                "the request body must be JSON: send `Content-Type: application/json`",
            ),
            JsonRejection::JsonSyntaxError(e) => Error::bad_request(
                "malformed_json",
                format!("the request body is not valid JSON: {}", e.body_text()),
            ),
            JsonRejection::JsonDataError(e) => Error::new(
                Kind::Unprocessable,
                "invalid_body",
                format!("the request body has the wrong shape: {}", e.body_text()),
            ),
            JsonRejection::BytesRejection(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                Error::new(
                    Kind::TooLarge,
                    "payload_too_large",
                    "the request body is larger than this server accepts (http.max_body_bytes)",
                )
            }
            other => Error::new(
                Kind::from_status(other.status()),
                "invalid_body",
                other.body_text(),
            ),
        }
    }
}

impl From<PathRejection> for Error {
    fn from(rejection: PathRejection) -> Self {
        Error::bad_request("invalid_path", rejection.body_text())
    }
}

impl From<QueryRejection> for Error {
    fn from(rejection: QueryRejection) -> Self {
        Error::bad_request("invalid_query", rejection.body_text())
    }
}

/// Every value of the cookie `name`, in the order sent. Another origin of the same site
/// may have planted more than one under a name, so none is trusted for being first.
pub fn cookie_values<'h>(headers: &'h HeaderMap, name: &'h str) -> impl Iterator<Item = &'h str> {
    cookies_named(
        headers
            .get_all(header::COOKIE)
            .iter()
            .map(HeaderValue::as_bytes),
        name,
    )
}

/// [`cookie_values`], from the `Cookie` headers' values as they came. A value that is
/// not text ([`header_text`]) is skipped whole.
pub fn cookies_named<'h>(
    values: impl Iterator<Item = &'h [u8]> + 'h,
    name: &'h str,
) -> impl Iterator<Item = &'h str> + 'h {
    values
        .filter_map(header_text)
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .filter(move |(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// A header value as text, as `HeaderValue::to_str` reads it: visible ASCII, spaces and
/// tabs only, or `None`.
pub fn header_text(value: &[u8]) -> Option<&str> {
    // A fold rather than `all`: no early exit, so it is done many bytes at a time.
    let visible = value
        .iter()
        .fold(true, |ok, b| ok & (*b == b'\t' || (0x20..0x7f).contains(b)));
    if visible {
        std::str::from_utf8(value).ok()
    } else {
        None
    }
}

const REQUESTS: &str = "burrow_http_requests_total";
const DURATION: &str = "burrow_http_request_duration_seconds";

/// The process-wide Prometheus recorder, installed on first use. A process
/// has one recorder, so every server in it (tests start many) shares it.
pub fn prometheus() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(
                Matcher::Full(DURATION.to_owned()),
                &[
                    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
                ],
            )
            .expect("the bucket list is not empty")
            .build_recorder();
        let handle = recorder.handle();
        // Another recorder may exist if an embedding program installed one; our
        // handle then renders only what we record through it, which is nothing.
        let _ = metrics::set_global_recorder(recorder);
        handle
    })
}

/// The route label of a request no route template matched, such as everything the
/// gateway forwards (`app`): set by the handler on its response.
#[derive(Debug, Clone, Copy)]
pub struct RouteName(pub &'static str);

/// Sets TCP_NODELAY on a connection either edge accepted: small requests and answers
/// on kept-alive connections would otherwise wait for the peer's delayed
/// acknowledgement (Nagle).
pub fn no_delay(stream: &tokio::net::TcpStream) {
    if let Err(e) = stream.set_nodelay(true) {
        tracing::debug!(error = %e, "Could not set TCP_NODELAY on a connection");
    }
}

/// A status as a metric label, without allocating for the common ones.
fn status_label(status: StatusCode) -> metrics::SharedString {
    let fixed = match status.as_u16() {
        200 => "200",
        204 => "204",
        206 => "206",
        301 => "301",
        302 => "302",
        303 => "303",
        304 => "304",
        307 => "307",
        400 => "400",
        401 => "401",
        403 => "403",
        404 => "404",
        500 => "500",
        502 => "502",
        503 => "503",
        _ => return metrics::SharedString::from(status.as_u16().to_string()),
    };
    metrics::SharedString::const_str(fixed)
}

/// Logs the request with its route template and status, and counts it.
///
/// The route label is the matched template (`/api/v1/projects/{project}`), never
/// the raw path, so ids do not explode the metric's cardinality.
pub async fn observe(request: Request, next: Next) -> Response {
    observed(request, |request| next.run(request)).await
}

/// Counts one request that `started` and was answered with `status`, and logs it: the
/// record [`observed`] keeps. `path` is logged only when the request failed.
pub fn record(
    method: &axum::http::Method,
    route: metrics::SharedString,
    status: StatusCode,
    started: Instant,
    detail: Option<&str>,
    path: &str,
) {
    let elapsed = started.elapsed();
    let (counter, histogram) = series(method_label(method), route.clone(), status);
    counter.increment(1);
    histogram.record(elapsed.as_secs_f64());
    log(method, &route, status, elapsed, detail, path);
}

/// The series one connection counted its last request in, so that requests alike (a
/// kept-alive connection's) are counted without looking their series up again: [`record`]
/// for servers that answer requests without a router (the apps gateway).
#[derive(Default)]
pub struct Series(Option<(SeriesKey, metrics::Counter, metrics::Histogram)>);

impl std::fmt::Debug for Series {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Series")
            .field(&self.0.as_ref().map(|(key, ..)| key))
            .finish()
    }
}

/// Method label, route and status.
type SeriesKey = (&'static str, &'static str, u16);

impl Series {
    /// [`record`], for a request to `route`.
    pub fn record(
        &mut self,
        method: &axum::http::Method,
        route: &'static str,
        status: StatusCode,
        started: Instant,
        detail: Option<&str>,
        path: &str,
    ) {
        let elapsed = started.elapsed();
        let key = (method_label(method), route, status.as_u16());
        let (_, counter, histogram) = match &mut self.0 {
            Some(known) if known.0 == key => known,
            slot => {
                let (counter, histogram) =
                    series(key.0, metrics::SharedString::const_str(route), status);
                slot.insert((key, counter, histogram))
            }
        };
        counter.increment(1);
        histogram.record(elapsed.as_secs_f64());
        log(method, route, status, elapsed, detail, path);
    }
}

/// A fixed set: any other token a client sends is `other`, so no request can mint new
/// series.
fn method_label(method: &axum::http::Method) -> &'static str {
    match method.as_str() {
        "GET" => "GET",
        "HEAD" => "HEAD",
        "POST" => "POST",
        "PUT" => "PUT",
        "PATCH" => "PATCH",
        "DELETE" => "DELETE",
        "OPTIONS" => "OPTIONS",
        _ => "other",
    }
}

/// The request counter and duration histogram for these labels.
fn series(
    method: &'static str,
    route: metrics::SharedString,
    status: StatusCode,
) -> (metrics::Counter, metrics::Histogram) {
    let labels = [
        ("method", metrics::SharedString::const_str(method)),
        ("route", route),
        ("status", status_label(status)),
    ];
    (
        metrics::counter!(REQUESTS, &labels),
        metrics::histogram!(DURATION, &labels),
    )
}

fn log(
    method: &axum::http::Method,
    route: &str,
    status: StatusCode,
    elapsed: std::time::Duration,
    detail: Option<&str>,
    path: &str,
) {
    let ms = elapsed.as_secs_f64() * 1000.0;
    // 503 is an answer (an app starting, the database away for a moment), not a fault.
    if status == StatusCode::SERVICE_UNAVAILABLE {
        tracing::warn!(http.method = %method, http.route = %route, http.status = status.as_u16(), elapsed_ms = ms, error.detail = detail, "Request not served yet");
    } else if status.is_server_error() {
        tracing::error!(http.method = %method, http.route = %route, http.path = %path, http.status = status.as_u16(), elapsed_ms = ms, error.detail = detail, "Request failed");
    } else {
        tracing::info!(http.method = %method, http.route = %route, http.status = status.as_u16(), elapsed_ms = ms, error.detail = detail, "Request");
    }
}

/// [`observe`] around any handler: what the apps gateway's own server runs each
/// request in, without a router.
pub async fn observed<B, F>(
    request: axum::http::Request<B>,
    handle: impl FnOnce(axum::http::Request<B>) -> F,
) -> Response
where
    F: std::future::Future<Output = Response>,
{
    let started = Instant::now();
    let method = request.method().clone();
    let matched = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| metrics::SharedString::from(p.as_str().to_owned()));
    // Shares the request's buffer: read only when a request fails.
    let uri = request.uri().clone();
    let response = handle(request).await;
    let route = matched
        .or_else(|| {
            let named = response.extensions().get::<RouteName>();
            named.map(|n| metrics::SharedString::const_str(n.0))
        })
        .unwrap_or(metrics::SharedString::const_str("unmatched"));
    let detail = response
        .extensions()
        .get::<ErrorDetail>()
        .map(|d| d.0.as_str());
    record(
        &method,
        route,
        response.status(),
        started,
        detail,
        uri.path(),
    );
    response
}
