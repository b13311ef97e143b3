//! Metrics, in a test binary of their own: the Prometheus recorder is global to a
//! process, so counts are exact only where no other test makes requests.

#[path = "api/helpers.rs"]
#[allow(dead_code)]
mod helpers;

use helpers::{spawn_app, Db};
use reqwest::Method;

/// The request counter for the project route with status 200, from `/metrics`.
async fn project_requests(app: &helpers::TestApp) -> (u64, String) {
    let text = app
        .request(Method::GET, "/metrics", None, None)
        .await
        .text()
        .await
        .unwrap();
    let count = text
        .lines()
        .find(|l| {
            l.starts_with("burrow_http_requests_total{")
                && l.contains("route=\"/api/v1/projects/{project}\"")
                && l.contains("status=\"200\"")
        })
        .and_then(|l| l.rsplit(' ').next())
        .map_or(0, |n| n.parse().unwrap());
    (count, text)
}

/// Requests are counted by route (never by id) and status, and timed, on both backends
/// in turn, so that the counts seen are exactly this test's.
#[tokio::test]
async fn metrics_count_requests_by_route_and_status() {
    for db in [Db::Sqlite, Db::Postgres] {
        let app = spawn_app(db).await;
        let ada = app.account("ada@example.com").await;
        let project = app.project(&ada, "Metered").await;
        let (before, _) = project_requests(&app).await;
        for _ in 0..3 {
            app.get(&format!("/api/v1/projects/{project}"), &ada.token)
                .await;
        }
        let (after, text) = project_requests(&app).await;
        assert_eq!(
            after - before,
            3,
            "{db:?}: three requests counted in:\n{text}"
        );
        assert!(!text.contains(&project), "ids never become labels");
        assert!(
            text.contains("burrow_http_request_duration_seconds_bucket{"),
            "latency histogram present"
        );
    }
}
