//! `burrow serve`: open storage, migrate, bind, run the background work and serve until a signal.

use anyhow::Context;
use burrow_config::Config;

pub async fn serve(mut config: Config, stop_sandboxes: bool) -> anyhow::Result<()> {
    // A warm sandbox is handed its app by changing its labels and limits in place,
    // which pods cannot do: on Kubernetes apps start cold.
    if config.sandbox.kind == burrow_config::SandboxKind::Kubernetes && config.apps.warm_pool > 0 {
        tracing::info!(
            warm_pool = config.apps.warm_pool,
            "apps.warm_pool does not apply to sandboxes on Kubernetes: apps start cold"
        );
        config.apps.warm_pool = 0;
    }
    let store = crate::cli::open_store(&config).await?;
    // Start reading events now, so that other replicas' `access` events reach this
    // process's view grants before any request.
    store
        .subscribe()
        .await
        .context("Failed to read events from the database")?;
    let blobs = burrow_blobs::open(&config).context("Failed to open blob storage")?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("Failed to listen on {}: is another server using it? Set BURROW_LISTEN to change it", config.listen))?;
    let apps_listener = tokio::net::TcpListener::bind(config.apps_listen)
        .await
        .with_context(|| format!("Failed to listen on {} for the app origins: is another server using it? Set BURROW_APPS_LISTEN to change it", config.apps_listen))?;
    let internal = match config.internal_listen {
        Some(address) if address.ip().is_unspecified() => anyhow::bail!(
            "internal_listen {address} is no address other replicas can dial: set it to one of this host's addresses they reach"
        ),
        Some(address) => Some(tokio::net::TcpListener::bind(address).await.with_context(|| {
            format!("Failed to listen on {address} for other replicas: is another server using it? Set BURROW_INTERNAL_LISTEN to change it")
        })?),
        None => None,
    };
    let runtime = crate::sandbox::runtime(&config).await?;
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
    let queue = burrow_queue::Queue::builder(store.clone()).options(burrow_queue::Options {
        poll: std::time::Duration::from_millis(config.queue.poll_ms.max(10)),
        lease: std::time::Duration::from_secs(config.queue.lease_secs.max(1)),
        ..burrow_queue::Options::default()
    });
    let builds = burrow_envs::Builds::from_config(
        &config,
        store.clone(),
        std::sync::Arc::clone(&blobs),
        queue.waker(),
    );
    let app = burrow_api::Application::build(
        config.clone(),
        store.clone(),
        blobs,
        runtime,
        builds.clone(),
        listener,
        apps_listener,
    );
    let supervisor = app.state().supervisor.clone();
    let workspaces = app.state().workspaces.clone();
    let runners = std::sync::Arc::clone(&app.state().runners);
    // Apps still running from before a restart are re-adopted, the rest marked stopped.
    if let Err(e) = supervisor.reconcile().await {
        tracing::warn!(error = %e, "Could not reconcile apps with their sandboxes");
    }
    if let Err(e) = workspaces.reconcile().await {
        tracing::warn!(error = %e, "Could not reconcile workspaces with their sandboxes");
    }
    // Sandboxes whose holder died (a job's, after a `kill -9` of serve) go now.
    match supervisor.runtime().gc().await {
        Ok(report) if !report.reaped.is_empty() => {
            tracing::info!(sandboxes = ?report.reaped, "Removed sandboxes whose holder is gone")
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "Could not collect sandboxes whose holder is gone"),
    }
    // Other replicas reach the app sandboxes this one runs through its internal
    // listener, with the token it records for them.
    let forwarding = match internal {
        Some(listener) => {
            let token = burrow_core::SessionToken::generate();
            let address = listener.local_addr()?.to_string();
            store
                .register_replica(&config.replica_name(), &address, token.expose())
                .await
                .context("Failed to record this replica's internal address")?;
            tracing::info!(replica = %config.replica_name(), %address, "Other replicas reach this one's sandboxes here");
            Some(tokio::spawn(burrow_apps::forward::serve(
                listener,
                supervisor.clone(),
                token,
                api_address(config.listen),
            )))
        }
        None => None,
    };
    let background = [
        tokio::spawn(background_work(queue, &config, &store, &builds, app.state()).run()),
        tokio::spawn(supervisor.clone().run_upkeep()),
        tokio::spawn(workspaces.clone().run_upkeep()),
        tokio::spawn(burrow_service::workspaces::sandbox::run_sync(
            workspaces.clone(),
            std::time::Duration::from_millis(config.workspaces.sync_ms.max(100)),
        )),
        tokio::spawn(prepare_base(builds)),
    ];
    let result = app.run_until(shutdown_signal()).await;
    // The warm app sandboxes serve no one now: the pool stops before its task is
    // aborted, so a sandbox it is making goes too.
    supervisor.clear_pool().await;
    for task in background.into_iter().chain(forwarding) {
        task.abort();
    }
    // Nor does the job sandbox started ahead.
    runners.clear().await;
    if stop_sandboxes {
        // Sandboxes under a lease (a `burrow sandbox run`'s) are their holder's to end,
        // and those of keys another live replica holds (on a data folder replicas
        // share) are that replica's.
        let runtime = crate::sandbox::runtime(&config).await?;
        let grace = std::time::Duration::from_secs(config.http.shutdown_grace_secs);
        let others = store
            .sandbox_leases_held_by_others(&config.replica_name(), burrow_store::now_ms())
            .await;
        let stopped = match others {
            Ok(others) => {
                let ours = |s: &burrow_sandbox::SandboxInfo| {
                    !s.labels.contains_key(burrow_sandbox::LEASE_LABEL)
                        && !s
                            .labels
                            .contains_key(burrow_sandbox::LEGACY_OWNER_PID_LABEL)
                        && !others
                            .iter()
                            .any(|(workload, key)| s.labels.get(workload) == Some(key))
                };
                crate::sandbox::stop_sandboxes(&*runtime, grace, ours).await
            }
            Err(e) => Err(anyhow::anyhow!(
                "the database did not say which sandboxes other replicas run ({e}), so none \
                 was stopped: stop them with `burrow sandbox stop`"
            )),
        };
        match stopped {
            Ok(n) => tracing::info!(sandboxes = n, "Stopped the sandboxes on shutdown"),
            Err(e) => tracing::warn!(error = %e, "Could not stop every sandbox on shutdown"),
        }
    }
    store.close().await;
    result.context("The server failed")?;
    tracing::info!("Stopped");
    Ok(())
}

/// Everything `serve` does in the background through the durable queue, registered in
/// this one place: environment builds, transform jobs and their schedules, and the hourly upkeep (retired table versions too), each hour's run done by
/// one process of all that share the database (builds left without a task, say because
/// queuing them failed or their task ran out of attempts, are queued again), except
/// each host's own environment GC.
fn background_work(
    queue: burrow_queue::QueueBuilder,
    config: &Config,
    store: &burrow_store::Store,
    builds: &burrow_envs::Builds,
    services: &burrow_service::Services,
) -> burrow_queue::Queue {
    let supervisor = &services.supervisor;
    const HOURLY: std::time::Duration = std::time::Duration::from_secs(3600);
    let days = |n: u64| std::time::Duration::from_secs(n.saturating_mul(86_400));
    let keep_versions = days(config.apps.keep_versions_days);
    let unused_envs = days(config.envs.unused_days);
    let (s1, s2, s3, c) = (store.clone(), store.clone(), store.clone(), config.clone());
    let sup = supervisor.clone();
    let b = builds.clone();
    queue
        .handle(
            burrow_envs::ENV_BUILD,
            config.envs.max_concurrent_builds,
            burrow_envs::BUILD_ATTEMPTS,
            builds.handler(),
        )
        // Keys whose put failed for want of an answer from the storage: deleted when it
        // answers, in case the write landed after all.
        .handle(
            burrow_service::blobs::BLOB_FORGET,
            2,
            burrow_service::blobs::FORGET_ATTEMPTS,
            burrow_service::blobs::ForgetBlob(std::sync::Arc::clone(&services.blobs)),
        )
        // A job whose worker died ends failed, or runs again while it has attempts left.
        .handle(
            burrow_service::jobs::JOB_RUN,
            config.jobs.max_concurrent,
            config.jobs.max_attempts,
            burrow_service::jobs::JobHandler(services.clone()),
        )
        // Each due tick of a job schedule makes one job, whichever process fires it.
        .every(
            "jobs.schedules",
            std::time::Duration::from_secs(config.jobs.schedule_check_secs.max(1)),
            {
                let services = services.clone();
                move || {
                    let services = services.clone();
                    async move {
                        match burrow_service::schedules::fire_due(&services, burrow_store::now_ms()).await {
                            Ok(n) if n > 0 => tracing::info!(jobs = n, "Queued scheduled jobs"),
                            Ok(_) => {}
                            Err(e) => tracing::warn!(error = %e.message, "Could not fire due job schedules"),
                        }
                    }
                }
            },
        )
        .every("sessions.sweep", HOURLY, move || {
            let store = s1.clone();
            async move {
                match store.delete_expired_sessions().await {
                    Ok(n) if n > 0 => tracing::info!(sessions = n, "Removed expired sessions"),
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "Could not remove expired sessions"),
                }
            }
        })
        .every("logins.sweep", HOURLY, {
            let (store, window) = (store.clone(), config.auth.failure_window_secs);
            move || {
                let store = store.clone();
                let before = burrow_store::now_ms()
                    .saturating_sub((window as i64).saturating_mul(1000));
                async move {
                    if let Err(e) = store.delete_old_login_failures(before).await {
                        tracing::warn!(error = %e, "Could not remove old failed logins");
                    }
                }
            }
        })
        .every("events.sweep", HOURLY, {
            let store = store.clone();
            move || {
                let store = store.clone();
                // Subscribers are seconds behind at most; an hour is plenty.
                let before = burrow_store::now_ms() - 3_600_000;
                async move {
                    if let Err(e) = store.delete_events_before(before).await {
                        tracing::warn!(error = %e, "Could not remove old events");
                    }
                }
            }
        })
        .every("logs.sweep", HOURLY, {
            let builds = builds.clone();
            move || {
                let builds = builds.clone();
                async move {
                    match builds.sweep_log_segments().await {
                        Ok(n) if n > 0 => tracing::info!(builds = n, "Removed left-over pieces of build logs"),
                        Ok(_) => {}
                        Err(e) => tracing::warn!(error = %e, "Could not remove left-over pieces of build logs"),
                    }
                }
            }
        })
        .every("leases.sweep", HOURLY, {
            let store = store.clone();
            move || {
                let store = store.clone();
                async move {
                    match store.delete_orphaned_sandbox_leases(burrow_store::now_ms()).await {
                        Ok(n) if n > 0 => tracing::info!(leases = n, "Removed the leases of deleted apps and workspaces"),
                        Ok(_) => {}
                        Err(e) => tracing::warn!(error = %e, "Could not remove the leases of deleted apps and workspaces"),
                    }
                }
            }
        })
        .every("views.sweep", HOURLY, move || {
            let store = s2.clone();
            async move {
                if let Err(e) = store.delete_expired_views().await {
                    tracing::warn!(error = %e, "Could not remove expired view tickets and sessions");
                }
            }
        })
        .every("apps.prune_versions", HOURLY, move || {
            let supervisor = sup.clone();
            async move {
                if let Err(e) = supervisor.prune_versions(keep_versions).await {
                    tracing::warn!(error = %e, "Could not prune old app versions");
                }
            }
        })
        .every("data.prune_versions", HOURLY, {
            let services = services.clone();
            move || {
                let services = services.clone();
                async move {
                    match burrow_service::data::prune(&services, burrow_store::now_ms()).await {
                        Ok(n) if n > 0 => tracing::info!(versions = n, "Removed retired table versions"),
                        Ok(_) => {}
                        Err(e) => tracing::warn!(error = %e.message, "Could not remove retired table versions"),
                    }
                }
            }
        })
        .every("envs.resume_builds", HOURLY, move || {
            let builds = b.clone();
            async move {
                if let Err(e) = builds.resume().await {
                    tracing::warn!(error = %e, "Could not queue unfinished builds again");
                }
            }
        })
        // Each host collects its own environments folder.
        .every_on_each_host("envs.gc", HOURLY, move || {
            let (config, store) = (c.clone(), s3.clone());
            async move {
                match crate::runtime::collect(&config, &store, unused_envs).await {
                    Ok(deleted) if !deleted.is_empty() => {
                        tracing::info!(environments = ?deleted, "Deleted unused environments")
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "Could not collect unused environments"),
                }
            }
        })
        .build()
}

/// Queues builds an older release left unfinished, then builds the base environment
/// if this host lacks it, its log on the terminal: in this process, not through the
/// queue, since another replica's host may have it already.
async fn prepare_base(builds: burrow_envs::Builds) {
    match builds.resume().await {
        Ok(0) => {}
        Ok(n) => tracing::info!(builds = n, "Queued unfinished environment builds again"),
        Err(e) => tracing::warn!(error = %e, "Could not queue unfinished builds again"),
    }
    if builds.environments().find("").await.is_some() {
        return;
    }
    eprintln!("burrow: building the base Python environment; apps start once it is ready");
    let outcome = match builds.submit_here("").await {
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

/// Where this replica's own API is reached from this host: `listen`, with a wildcard
/// address made loopback.
fn api_address(listen: std::net::SocketAddr) -> std::net::SocketAddr {
    match listen.ip() {
        std::net::IpAddr::V4(ip) if ip.is_unspecified() => {
            (std::net::Ipv4Addr::LOCALHOST, listen.port()).into()
        }
        std::net::IpAddr::V6(ip) if ip.is_unspecified() => {
            (std::net::Ipv6Addr::LOCALHOST, listen.port()).into()
        }
        _ => listen,
    }
}
