//! `burrow serve`: open storage, migrate, bind and serve until a signal.

use anyhow::Context;
use burrow_config::Config;

pub async fn serve(config: Config, stop_sandboxes: bool) -> anyhow::Result<()> {
    let store = crate::cli::open_store(&config).await?;
    let blobs = burrow_blobs::open(&config).context("Failed to open blob storage")?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("Failed to listen on {}: is another server using it? Set BURROW_LISTEN to change it", config.listen))?;
    let apps_listener = tokio::net::TcpListener::bind(config.apps_listen)
        .await
        .with_context(|| format!("Failed to listen on {} for the apps origin: is another server using it? Set BURROW_APPS_LISTEN to change it", config.apps_listen))?;
    let runtime = crate::sandbox::runtime(&config)?;
    let url = config.public_url();
    tracing::info!(
        listen = %config.listen,
        database = %config.database_url().redacted_url(),
        data_dir = %config.data_dir.display(),
        "Burrow is serving"
    );
    println!(
        "Burrow is running at {url}, data in {}",
        config.data_dir.display()
    );
    println!("Apps are served at {}, one origin each", config.apps_url());
    let app = burrow_api::Application::build(
        config.clone(),
        store.clone(),
        blobs,
        std::sync::Arc::new(runtime),
        listener,
        apps_listener,
    );
    let builds = app.state().builds.clone();
    let maintenance = tokio::spawn(prepare_environments(config.clone(), store.clone(), builds));
    let result = app.run_until(shutdown_signal()).await;
    maintenance.abort();
    if stop_sandboxes {
        // Sandboxes a `burrow sandbox run` owns are its own to end.
        let runtime = crate::sandbox::runtime(&config)?;
        let grace = std::time::Duration::from_secs(config.http.shutdown_grace_secs);
        match crate::sandbox::stop_sandboxes(&runtime, grace, |s| {
            !s.labels.contains_key(burrow_sandbox::OWNER_PID_LABEL)
        })
        .await
        {
            Ok(n) => tracing::info!(sandboxes = n, "Stopped the sandboxes on shutdown"),
            Err(e) => tracing::warn!(error = %e, "Could not stop every sandbox on shutdown"),
        }
    }
    store.close().await;
    result.context("The server failed")?;
    tracing::info!("Stopped");
    Ok(())
}

/// Restarts builds a previous run left unfinished, builds the base environment
/// if this host lacks it (its log on the terminal), then collects unused
/// environments hourly.
async fn prepare_environments(
    config: Config,
    store: burrow_store::Store,
    builds: burrow_envs::Builds,
) {
    match builds.resume().await {
        Ok(0) => {}
        Ok(n) => tracing::info!(builds = n, "Restarted unfinished environment builds"),
        Err(e) => tracing::warn!(error = %e, "Could not restart unfinished builds"),
    }
    if builds.environments().find("").await.is_none() {
        eprintln!("burrow: building the base Python environment; apps start once it is ready");
        let outcome = match builds.submit("", None).await {
            Ok(build) => {
                let mut partial = Vec::new();
                builds
                    .follow(&build.id, |bytes| {
                        partial.extend_from_slice(bytes);
                        while let Some(end) = partial.iter().position(|&b| b == b'\n') {
                            let line: Vec<u8> = partial.drain(..=end).collect();
                            eprint!("burrow: base: {}", String::from_utf8_lossy(&line));
                        }
                    })
                    .await
                    .map_err(|e| e.to_string())
                    .and_then(|b| b.error.map_or(Ok(()), Err))
            }
            Err(e) => Err(e.to_string()),
        };
        if let Err(why) = outcome {
            eprintln!("burrow: the base environment failed to build: {why}\nburrow: fix the cause, then run `burrow runtime build` or restart");
        }
    }
    let unused_for = std::time::Duration::from_secs(config.envs.unused_days.saturating_mul(86_400));
    let mut every = tokio::time::interval(std::time::Duration::from_secs(3600));
    loop {
        every.tick().await;
        match crate::runtime::collect(&config, &store, unused_for).await {
            Ok(deleted) if !deleted.is_empty() => {
                tracing::info!(environments = ?deleted, "Deleted unused environments")
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "Could not collect unused environments"),
        }
    }
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
