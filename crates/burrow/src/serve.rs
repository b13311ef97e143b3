//! `burrow serve`: open storage, migrate, bind and serve until a signal.

use anyhow::Context;
use burrow_config::Config;

pub async fn serve(config: Config) -> anyhow::Result<()> {
    let store = crate::cli::open_store(&config).await?;
    let blobs = burrow_blobs::open(&config).context("Failed to open blob storage")?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("Failed to listen on {}: is another server using it? Set BURROW_LISTEN to change it", config.listen))?;
    let url = config.public_url();
    tracing::info!(
        listen = %config.listen,
        database = %config.database_url().redacted_url(),
        data_dir = %config.data_dir.display(),
        "Burrow is serving"
    );
    println!("Burrow is running at {url}");
    let app = burrow_api::Application::build(config, store.clone(), blobs, listener);
    let result = app.run_until(shutdown_signal()).await;
    store.close().await;
    result.context("The server failed")?;
    tracing::info!("Stopped");
    Ok(())
}

/// Resolves on SIGTERM or SIGINT.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut sig) => {
                sig.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("Shutting down: finishing in-flight requests");
}
