//! Command-line parsing and dispatch to subcommands.

use std::path::PathBuf;

use anyhow::Context;
use burrow_config::{Config, LogFormat};
use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "burrow",
    version,
    about = "Run untrusted Python from a browser, in sandboxes"
)]
pub struct Cli {
    /// A TOML configuration file; see `burrow default-config`.
    #[arg(long, global = true, env = "BURROW_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server: migrate the database, then serve the API and UI.
    Serve {
        /// On shutdown, stop and remove the sandboxes this server started. Without it
        /// they keep running, and the next `serve` re-adopts them.
        #[arg(long)]
        stop_sandboxes: bool,
    },
    /// Apply pending database migrations and exit.
    Migrate,
    /// Manage users.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Print a commented example configuration with every default.
    DefaultConfig,
    /// Manage the package allowlist.
    Packages {
        #[command(subcommand)]
        command: crate::packages::PackagesCommand,
    },
    /// Validate uploads.
    Bundle {
        #[command(subcommand)]
        command: crate::packages::BundleCommand,
    },
    /// Build and manage the Python environments apps run in.
    Runtime {
        #[command(subcommand)]
        command: crate::runtime::RuntimeCommand,
    },
    /// Run and manage sandboxes.
    Sandbox {
        #[command(subcommand)]
        command: crate::sandbox::SandboxCommand,
    },
    /// Sign in to a Burrow server; the token is kept in ~/.config/burrow, mode 0600.
    Login(burrow_client::LoginArgs),
    /// Sign out of the server and forget the token.
    Logout,
    /// Deploy a folder as an app (a new app, or a new version of one), following its build.
    Deploy(burrow_client::DeployArgs),
    /// Apps on the server you signed in to: list, logs, open, rollback.
    Apps {
        #[command(subcommand)]
        command: burrow_client::AppsCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user. The password is read from the first line of standard input.
    Create {
        #[arg(long)]
        email: String,
        #[arg(long)]
        name: String,
        /// Make the user an instance admin.
        #[arg(long)]
        admin: bool,
    },
}

pub fn init_tracing(config: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&config.log.filter));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match config.log.format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Pretty => builder.try_init(),
    };
}

pub async fn open_store(config: &Config) -> anyhow::Result<burrow_store::Store> {
    let url = config.database_url();
    let store = burrow_store::Store::connect(url.expose())
        .await
        .with_context(|| format!("Failed to open the database at {}", url.redacted_url()))?;
    store
        .migrate()
        .await
        .context("Failed to migrate the database")?;
    Ok(store)
}

/// Runs the command; returns the process exit code.
pub async fn run(cli: Cli) -> anyhow::Result<i32> {
    // Client commands talk to a server over HTTP: they need no server configuration.
    match cli.command {
        Command::DefaultConfig => {
            print!("{}", burrow_config::EXAMPLE);
            return Ok(0);
        }
        Command::Login(args) => return burrow_client::login(args).await.map(|()| 0),
        Command::Logout => return burrow_client::logout().await.map(|()| 0),
        Command::Deploy(args) => return burrow_client::deploy(args).await.map(|()| 0),
        Command::Apps { command } => return burrow_client::apps(command).await.map(|()| 0),
        _ => {}
    }
    let config = Config::load(cli.config.as_deref())?;
    init_tracing(&config);
    match cli.command {
        Command::Serve { stop_sandboxes } => crate::serve::serve(config, stop_sandboxes)
            .await
            .map(|()| 0),
        Command::Migrate => {
            open_store(&config).await?;
            println!(
                "The database at {} is up to date.",
                config.database_url().redacted_url()
            );
            Ok(0)
        }
        Command::User {
            command: UserCommand::Create { email, name, admin },
        } => crate::user::create(&config, &email, &name, admin)
            .await
            .map(|()| 0),
        Command::Sandbox { command } => crate::sandbox::run(&config, command).await,
        Command::Runtime { command } => crate::runtime::run(&config, command).await,
        Command::Packages { command } => crate::packages::packages(&config, command).await,
        Command::Bundle { command } => crate::packages::bundle(&config, command).await,
        Command::DefaultConfig
        | Command::Login(_)
        | Command::Logout
        | Command::Deploy(_)
        | Command::Apps { .. } => unreachable!("run before the configuration is loaded"),
    }
}
