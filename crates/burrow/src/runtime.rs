//! `burrow runtime`: build, list and collect the Python environments apps run in.

use std::collections::{BTreeMap, HashSet};
use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use anyhow::Context;
use burrow_config::Config;
use burrow_envs::{Builds, Environments};
use burrow_store::BuildStatus;
use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum RuntimeCommand {
    /// Build the base environment now, or the environment for a requirements file.
    Build {
        /// A requirements.txt, checked against the allowlist like an upload's.
        #[arg(long)]
        requirements: Option<PathBuf>,
    },
    /// List the environments on this host.
    List,
    /// Delete environments unused for `envs.unused_days`, except those app versions or sandboxes use.
    Gc {
        /// Override `envs.unused_days`.
        #[arg(long)]
        unused_days: Option<u64>,
    },
}

pub async fn run(config: &Config, command: RuntimeCommand) -> anyhow::Result<i32> {
    match command {
        RuntimeCommand::Build { requirements } => build(config, requirements).await,
        RuntimeCommand::List => {
            let envs = Environments::from_config(config);
            let list = envs.list();
            if list.is_empty() {
                println!("No environments yet: `burrow runtime build` builds the base.");
            }
            for env in list {
                let kind = if env.key == env.base {
                    format!("base, {} packages", env.packages)
                } else {
                    format!("on {}, +{} packages", env.base, env.packages)
                };
                println!(
                    "{}  {}  ({kind}; used {} ago)",
                    env.key,
                    env.python,
                    ago(env.last_used)
                );
            }
            Ok(0)
        }
        RuntimeCommand::Gc { unused_days } => {
            let days = unused_days.unwrap_or(config.envs.unused_days);
            let store = crate::cli::open_store(config).await?;
            let unused_for = Duration::from_secs(days.saturating_mul(86_400));
            let deleted = collect(config, &store, unused_for).await?;
            store.close().await;
            if deleted.is_empty() {
                println!("Nothing to delete: every environment was used in the last {days} days or is in use.");
            }
            for key in deleted {
                println!("deleted {key}");
            }
            Ok(0)
        }
    }
}

async fn build(config: &Config, requirements: Option<PathBuf>) -> anyhow::Result<i32> {
    let store = crate::cli::open_store(config).await?;
    let normalized = match requirements {
        None => String::new(),
        Some(path) => {
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("Failed to read {}", path.display()))?;
            let allowlist = burrow_service::packages::load_allowlist(&store)
                .await
                .map_err(|e| anyhow::anyhow!(e.detail.unwrap_or(e.message)))?;
            match burrow_bundle::requirements::parse(&text, &allowlist) {
                Ok(parsed) => burrow_bundle::requirements::render(&parsed),
                Err(findings) => {
                    eprintln!("{} is not accepted:", path.display());
                    for finding in findings {
                        eprintln!("  {finding}");
                    }
                    return Ok(1);
                }
            }
        }
    };
    let blobs = burrow_blobs::open(config).context("Failed to open blob storage")?;
    // The operator's own build runs here and now, not through serve's queue.
    let builds = Builds::from_config(config, store.clone(), blobs, Default::default());
    let build = builds.submit_here(&normalized).await?;
    let done = builds
        .follow(&build.id, |bytes| {
            let _ = std::io::stdout().write_all(bytes);
            let _ = std::io::stdout().flush();
        })
        .await?;
    store.close().await;
    match done.status {
        BuildStatus::Succeeded => {
            let key = done.environment.unwrap_or_default();
            println!("environment {key} is ready (build {})", done.id);
            Ok(0)
        }
        _ => {
            eprintln!(
                "burrow: build {} failed: {}",
                done.id,
                done.error.unwrap_or_default()
            );
            Ok(1)
        }
    }
}

/// Deletes environments unused for `unused_for` that no app version was built into
/// and no sandbox on this host runs on.
pub async fn collect(
    config: &Config,
    store: &burrow_store::Store,
    unused_for: Duration,
) -> anyhow::Result<Vec<String>> {
    let runtime = crate::sandbox::runtime(config).await?;
    let mut in_use: HashSet<String> = runtime
        .list(&BTreeMap::new())
        .await
        .context("Failed to list sandboxes")?
        .into_iter()
        .filter_map(|s| s.labels.get(burrow_envs::SANDBOX_LABEL).cloned())
        .collect();
    in_use.extend(
        store
            .environments_of_versions()
            .await
            .context("Failed to list the environments of app versions")?,
    );
    Ok(Environments::from_config(config)
        .gc(unused_for, &in_use)
        .await?)
}

fn ago(when: SystemTime) -> String {
    let secs = SystemTime::now()
        .duration_since(when)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    match secs {
        s if s < 120 => format!("{s} s"),
        s if s < 7200 => format!("{} min", s / 60),
        s if s < 172_800 => format!("{} h", s / 3600),
        s => format!("{} days", s / 86_400),
    }
}
