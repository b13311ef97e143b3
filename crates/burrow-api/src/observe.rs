//! Request observation: one middleware that logs each request and records Prometheus metrics.

use std::sync::OnceLock;
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::error::ErrorDetail;

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

/// Logs the request with its route template and status, and counts it.
///
/// The route label is the matched template (`/api/v1/projects/{project}`), never
/// the raw path, so ids do not explode the metric's cardinality.
pub async fn observe(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let path = request.uri().path().to_owned();
    let response = next.run(request).await;
    let elapsed = started.elapsed();
    let status = response.status();
    let labels = [
        ("method", method.to_string()),
        ("route", route.clone()),
        ("status", status.as_u16().to_string()),
    ];
    metrics::counter!(REQUESTS, &labels).increment(1);
    metrics::histogram!(DURATION, &labels).record(elapsed.as_secs_f64());
    let detail = response
        .extensions()
        .get::<ErrorDetail>()
        .map(|d| d.0.as_str());
    let ms = elapsed.as_secs_f64() * 1000.0;
    if status.is_server_error() {
        tracing::error!(http.method = %method, http.route = %route, http.path = %path, http.status = status.as_u16(), elapsed_ms = ms, error.detail = detail, "Request failed");
    } else {
        tracing::info!(http.method = %method, http.route = %route, http.status = status.as_u16(), elapsed_ms = ms, error.detail = detail, "Request");
    }
    response
}
