//! `burrow packages` and `burrow bundle check`: the allowlist, and validating uploads against it.

use std::path::PathBuf;

use anyhow::Context;
use burrow_bundle::requirements::{normalize_name, parse_entry};
use burrow_bundle::{validate, Policy};
use burrow_config::Config;
use burrow_store::StoreError;
use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum PackagesCommand {
    /// List the packages bundles may install.
    List,
    /// Allow packages, optionally capped: `NAME` or `NAME<=MAX`.
    Add {
        #[arg(required = true)]
        packages: Vec<String>,
    },
    /// Stop allowing packages.
    Remove {
        #[arg(required = true)]
        names: Vec<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum BundleCommand {
    /// Validate a .py or .zip against the current allowlist; print the manifest or every error.
    Check {
        path: PathBuf,
        /// Print the verdict as JSON.
        #[arg(long)]
        json: bool,
    },
}

pub async fn packages(config: &Config, command: PackagesCommand) -> anyhow::Result<i32> {
    let store = crate::cli::open_store(config).await?;
    match command {
        PackagesCommand::List => {
            for p in store.list_packages().await? {
                match p.max_version {
                    Some(max) => println!("{}<={max}", p.name),
                    None => println!("{}", p.name),
                }
            }
        }
        PackagesCommand::Add { packages } => {
            // Every entry is checked before anything is stored.
            let mut entries = Vec::new();
            let mut bad = Vec::new();
            for raw in &packages {
                match parse_entry(raw) {
                    Ok(entry) => entries.push(entry),
                    Err(e) => bad.push(e),
                }
            }
            if !bad.is_empty() {
                anyhow::bail!("nothing was added:\n  {}", bad.join("\n  "));
            }
            for p in store.add_packages(&entries, None).await? {
                println!(
                    "allowed {}{}",
                    p.name,
                    p.max_version.map(|m| format!("<={m}")).unwrap_or_default()
                );
            }
        }
        PackagesCommand::Remove { names } => {
            let names = names
                .iter()
                .map(|n| normalize_name(n))
                .collect::<Result<Vec<_>, _>>()
                .map_err(anyhow::Error::msg)?;
            match store.remove_packages(&names).await {
                Ok(()) => println!("removed {}", names.join(", ")),
                Err((StoreError::NotFound, Some(name))) => {
                    anyhow::bail!("{name} is not on the allowlist; nothing was removed")
                }
                Err((e, _)) => return Err(e).context("Failed to remove packages"),
            }
        }
    }
    store.close().await;
    Ok(0)
}

pub async fn bundle(config: &Config, command: BundleCommand) -> anyhow::Result<i32> {
    let BundleCommand::Check { path, json } = command;
    let bytes =
        std::fs::read(&path).with_context(|| format!("Failed to read {}", path.display()))?;
    let store = crate::cli::open_store(config).await?;
    let allowlist = burrow_service::packages::load_allowlist(&store)
        .await
        .map_err(|e| anyhow::anyhow!(e.detail.unwrap_or(e.message)))?;
    store.close().await;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let verdict = validate(&name, &bytes, &allowlist, &Policy::app());
    if json {
        let value = match &verdict {
            Ok(bundle) => serde_json::json!({"ok": true, "bundle": bundle}),
            Err(rejection) => {
                serde_json::json!({"ok": false, "errors": rejection.errors, "warnings": rejection.warnings})
            }
        };
        println!("{}", serde_json::to_string_pretty(&value)?);
    } else {
        match &verdict {
            Ok(bundle) => {
                println!("ok: {} is a valid bundle", path.display());
                println!("sha256: {}", bundle.sha256);
                println!("files:");
                for (file, size) in &bundle.manifest {
                    println!("  {file} ({size} bytes)");
                }
                println!(
                    "packages{}:",
                    if bundle.inferred {
                        " (inferred from imports)"
                    } else {
                        ""
                    }
                );
                for p in &bundle.packages {
                    println!("  {}{}", p.name, p.specifier);
                }
                for w in &bundle.warnings {
                    println!("warning: {w}");
                }
            }
            Err(rejection) => {
                for e in &rejection.errors {
                    println!("error: {e}");
                }
                for w in &rejection.warnings {
                    println!("warning: {w}");
                }
                println!(
                    "{} error(s): the bundle was rejected",
                    rejection.errors.len()
                );
            }
        }
    }
    Ok(if verdict.is_ok() { 0 } else { 1 })
}
