//! The README's way: the built binary with no configuration, its data in the relative default folder, running the CSV Explorer template.

use reqwest::StatusCode;
use serde_json::json;

use crate::harness::Server;

#[tokio::test]
async fn with_no_configuration_the_template_runs_from_the_relative_default_data_dir() {
    let server = Server::start_as_readme().await;
    let owner = server.account("new.user@example.com").await;
    let project = server.project(&owner, "First project").await;
    let (id, path) = server
        .deploy_json(
            &owner,
            &project,
            json!({"name": "CSV Explorer", "template": "csv-explorer"}),
        )
        .await;

    let viewer = server.viewer(&owner, &path, &id).await;
    let page = viewer.open_until_running().await;
    assert!(page.contains("id=\"root\""), "Streamlit's page: {page}");
    let health = viewer.get("/_stcore/health", "*/*").await;
    assert_eq!(health.status(), StatusCode::OK);
    assert_eq!(health.text().await.unwrap().trim(), "ok");
    let app = server.get_json(&path, &owner).await;
    assert_eq!(app["status"], "running", "{app}");

    // The state went where the README says, under the working directory.
    let data = server.dir.path().join("burrow-data");
    assert!(data.join("burrow.db").is_file());
    assert!(data.join("apps").join(&id).is_dir());
    assert!(data.join("sandboxes").is_dir());
}
