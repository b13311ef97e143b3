//! Metrics, in a test binary of their own: the Prometheus recorder is global to a
//! process, so counts are exact only where no other test makes requests.

#[path = "api/helpers.rs"]
#[allow(dead_code)]
mod helpers;

use helpers::{spawn_app, Db};
use reqwest::Method;

/// The text of `/metrics`.
async fn metrics(app: &helpers::TestApp) -> String {
    app.request(Method::GET, "/metrics", None, None)
        .await
        .text()
        .await
        .unwrap()
}

/// The text of `/metrics` once `settled` holds of it, or after ten seconds. The gateway
/// counts an answer once it is written, on a thread of its own, so a viewer can hold the
/// answer a moment before it is counted.
async fn metrics_when(app: &helpers::TestApp, settled: impl Fn(&str) -> bool) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let text = metrics(app).await;
        if settled(&text) || std::time::Instant::now() > deadline {
            return text;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// The count of GET requests on `route` with `status` in a `/metrics` text.
fn count(text: &str, route: &str, status: u16) -> u64 {
    text.lines()
        .find(|l| {
            l.starts_with("burrow_http_requests_total{")
                && l.contains("method=\"GET\"")
                && l.contains(&format!("route=\"{route}\""))
                && l.contains(&format!("status=\"{status}\""))
        })
        .and_then(|l| l.rsplit(' ').next())
        .map_or(0, |n| n.parse().unwrap())
}

/// Requests are counted by route (never by id) and status, and timed, on both backends
/// in turn, so that the counts seen are exactly this test's.
#[tokio::test]
async fn metrics_count_requests_by_route_and_status() {
    for db in [Db::Sqlite, Db::Postgres] {
        let app = spawn_app(db).await;
        let ada = app.account("ada@example.com").await;
        let project = app.project(&ada, "Metered").await;
        const ROUTE: &str = "/api/v1/projects/{project}";
        let before = count(&metrics(&app).await, ROUTE, 200);
        for _ in 0..3 {
            app.get(&format!("/api/v1/projects/{project}"), &ada.token)
                .await;
        }
        let text = metrics(&app).await;
        assert_eq!(
            count(&text, ROUTE, 200) - before,
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

/// The app origins are observed like the platform: what the gateway forwards is counted
/// under one route, never by app or path, and its own paths by their template.
#[tokio::test]
async fn the_gateway_counts_its_requests_too() {
    let app = spawn_app(Db::Sqlite).await;
    let viewer = app.viewer_client();
    let text = metrics(&app).await;
    let before_proxy = count(&text, "destination", 303);
    let before_ticket = count(&text, "/_burrow/ticket", 401);
    // Without a view session the gateway sends the viewer to sign in (303), whatever the app.
    for id in ["aaaaaaaaaaaaaaaa", "bbbbbbbbbbbbbbbb"] {
        let response = viewer
            .get(app.app_url(id, "/some/page"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 303);
    }
    let response = viewer
        .get(app.app_url("aaaaaaaaaaaaaaaa", "/_burrow/ticket?ticket=nope"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    // A made-up method is counted as `other`: no client can mint new series.
    let brew = reqwest::Method::from_bytes(b"BREWCOFFEE").unwrap();
    viewer
        .request(brew, app.app_url("aaaaaaaaaaaaaaaa", "/"))
        .send()
        .await
        .unwrap();
    let text = metrics_when(&app, |text| {
        count(text, "destination", 303) >= before_proxy + 2
            && count(text, "/_burrow/ticket", 401) > before_ticket
            && text.contains("method=\"other\"")
    })
    .await;
    assert_eq!(count(&text, "destination", 303) - before_proxy, 2, "{text}");
    assert_eq!(count(&text, "/_burrow/ticket", 401) - before_ticket, 1);
    assert!(
        !text.contains("aaaaaaaaaaaaaaaa") && !text.contains("/some/page"),
        "neither app ids nor paths become labels"
    );
    assert!(!text.contains("BREWCOFFEE"), "{text}");
    assert!(text.contains("method=\"other\""), "{text}");
}
