//! `burrow` as a client of a Burrow server: `login`, `logout`, `deploy` and `apps`, over the HTTP API with a stored session token.
//!
//! Errors from the server are printed as the server wrote them ([`api::ServerError`]);
//! what the client adds (where the token lives, which project) says how to go on.

pub mod api;
pub mod bundle;
pub mod credentials;
mod progress;

use std::io::{BufRead, Write};
use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use reqwest::Method;
use serde::Deserialize;
use serde_json::json;

use crate::api::Api;
use crate::credentials::Credentials;
use crate::progress::Progress;

/// `burrow login URL`.
#[derive(Debug, Args)]
pub struct LoginArgs {
    /// The server's address, such as https://burrow.example.com.
    pub url: String,
    /// The account's email; asked for when not given.
    #[arg(long)]
    pub email: Option<String>,
}

/// `burrow deploy DIR`.
#[derive(Debug, Args)]
pub struct DeployArgs {
    /// The folder that holds app.py. Files its .gitignore (or .burrowignore) lists stay behind.
    #[arg(default_value = ".")]
    pub dir: PathBuf,
    /// Upload a new version of this app (its id, from `burrow apps list`).
    #[arg(long, conflicts_with = "name")]
    pub app: Option<String>,
    /// The app's name: a new version of the project's app of that name, or a new app.
    /// Defaults to the folder's name.
    #[arg(long)]
    pub name: Option<String>,
    /// The project (id or name) for a new app; needed when you can deploy to several.
    #[arg(long)]
    pub project: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum AppsCommand {
    /// List the apps of every project you are in.
    List {
        /// Only this project's (id or name).
        #[arg(long)]
        project: Option<String>,
        /// Print the server's JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Print an app's output (its stdout and stderr while it runs).
    Logs {
        app: String,
        /// Keep printing new output until the app stops.
        #[arg(short, long)]
        follow: bool,
    },
    /// Open an app in the browser, signed in (a single-use link, valid for a minute).
    Open {
        app: String,
        /// Print the link instead of starting a browser.
        #[arg(long)]
        print: bool,
    },
    /// Make a built version the one that runs: an instant rollback (or roll-forward).
    Rollback { app: String, version: i64 },
    /// An app's versions, newest first, with their builds.
    Versions { app: String },
    /// Save a version's bundle as a zip.
    Download {
        app: String,
        version: i64,
        /// Where to write it; `APP-vN.zip` in this folder by default.
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
    /// Start an app's sandbox (it also starts on its first view), waiting until it runs.
    Start { app: String },
    /// Stop an app's sandbox.
    Stop { app: String },
    /// Stop an app and start it again, waiting until it runs.
    Restart { app: String },
    /// Change an app's name, description, limits or network policy.
    Set(SetArgs),
    /// Delete an app with its versions and bundles.
    Delete {
        app: String,
        /// Delete without asking.
        #[arg(long)]
        yes: bool,
    },
    /// An app's secrets: names listed, values set from standard input, never shown.
    Secrets {
        #[command(subcommand)]
        command: SecretsCommand,
    },
}

/// `burrow apps set ID …`: only what is given changes.
#[derive(Debug, Args)]
pub struct SetArgs {
    pub app: String,
    #[arg(long)]
    pub name: Option<String>,
    #[arg(long)]
    pub description: Option<String>,
    /// CPU limit in cores.
    #[arg(long)]
    pub cpus: Option<f64>,
    /// Memory limit in MiB.
    #[arg(long)]
    pub memory_mb: Option<i64>,
    /// Stop after this many seconds without viewers.
    #[arg(long)]
    pub idle_timeout_secs: Option<i64>,
    /// What the app may reach: `none`, `allowlist` or `public`.
    #[arg(long)]
    pub network: Option<String>,
    /// A domain the allowlist lets through (repeat it); with `--network allowlist`.
    #[arg(long = "domain", requires = "network")]
    pub domains: Vec<String>,
}

#[derive(Debug, Subcommand)]
pub enum SecretsCommand {
    /// The names of an app's secrets, when each was set and by whom.
    List { app: String },
    /// Set a secret; its value is read from standard input (without echo on a terminal),
    /// never from the command line, where shell history and `ps` would keep it.
    Set { app: String, name: String },
    /// Delete a secret.
    Delete { app: String, name: String },
}

#[derive(Debug, Deserialize, serde::Serialize)]
struct Project {
    id: String,
    name: String,
    role: String,
}

#[derive(Debug, Deserialize, serde::Serialize)]
struct App {
    id: String,
    name: String,
    status: String,
    active_version: Option<i64>,
    url: String,
    #[serde(default)]
    last_error: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Build {
    id: String,
    error: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Finding {
    file: Option<String>,
    line: Option<usize>,
    message: String,
}

#[derive(Debug, Deserialize)]
struct Version {
    number: i64,
    build: Build,
    #[serde(default)]
    warnings: Vec<Finding>,
}

#[derive(Debug, Deserialize)]
struct AppDetail {
    #[serde(flatten)]
    app: App,
    versions: Vec<Version>,
}

#[derive(Debug, Deserialize)]
struct Session {
    token: String,
    expires_at: String,
}

fn signed_in() -> anyhow::Result<Api> {
    Api::signed_in(&credentials::load()?)
}

/// Signs in with email and password and stores the session token.
pub async fn login(args: LoginArgs) -> anyhow::Result<()> {
    let url = api::parse_server_url(&args.url)?;
    let local = match url.host() {
        Some(url::Host::Domain(d)) => d == "localhost" || d.ends_with(".localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    if url.scheme() == "http" && !local {
        eprintln!(
            "warning: {url} is plain http: your password and token cross the network unencrypted"
        );
    }
    let email = match args.email {
        Some(email) => email,
        None => prompt("Email: ")?,
    };
    let password = read_password("Password: ")?;
    let api = Api::anonymous(url.clone())?;
    let session: Session = api
        .post(
            "/api/v1/auth/login",
            &json!({"email": email, "password": password}),
        )
        .await?;
    let mut server = url.to_string();
    if server.ends_with('/') {
        server.pop();
    }
    let path = credentials::save(&Credentials {
        url: server.clone(),
        email: email.clone(),
        token: session.token,
        expires_at: session.expires_at.clone(),
    })?;
    eprintln!(
        "Signed in to {server} as {email} until {}; the token is in {}",
        session.expires_at,
        path.display()
    );
    Ok(())
}

/// Ends the session on the server and forgets the token.
pub async fn logout() -> anyhow::Result<()> {
    if !credentials::path()?.exists() {
        eprintln!("Not signed in.");
        return Ok(());
    }
    let credentials = match credentials::load_for_logout() {
        Ok(c) => c,
        Err(e) => {
            // Unreadable: nothing to end on a server, but the file goes.
            credentials::remove()?;
            eprintln!("Forgot the stored token ({e:#}).");
            return Ok(());
        }
    };
    let api = Api::signed_in(&credentials)?;
    // An expired session is as good as ended: the token is forgotten either way.
    let ended = api
        .send(api.request(Method::POST, "/api/v1/auth/logout"))
        .await;
    credentials::remove()?;
    match ended {
        Ok(_) => eprintln!("Signed out of {}.", credentials.url),
        Err(e) => eprintln!(
            "Forgot the token for {} (the server said: {e})",
            credentials.url
        ),
    }
    Ok(())
}

fn prompt(question: &str) -> anyhow::Result<String> {
    eprint!("{question}");
    std::io::stderr().flush().ok();
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("cannot read standard input")?;
    let answer = line.trim().to_owned();
    if answer.is_empty() {
        bail!(
            "nothing was given for `{}`",
            question.trim_end_matches(": ")
        );
    }
    Ok(answer)
}

/// Reads a line from standard input; on a terminal, without echoing it.
fn read_password(question: &str) -> anyhow::Result<String> {
    let stdin = std::io::stdin();
    let saved = rustix::termios::tcgetattr(&stdin).ok();
    if let Some(attrs) = &saved {
        eprint!("{question}");
        std::io::stderr().flush().ok();
        let mut quiet = attrs.clone();
        quiet.local_modes.remove(rustix::termios::LocalModes::ECHO);
        let _ = rustix::termios::tcsetattr(&stdin, rustix::termios::OptionalActions::Now, &quiet);
    }
    let mut line = String::new();
    let read = stdin.lock().read_line(&mut line);
    if let Some(attrs) = &saved {
        let _ = rustix::termios::tcsetattr(&stdin, rustix::termios::OptionalActions::Now, attrs);
        eprintln!();
    }
    read.context("cannot read the password from standard input")?;
    Ok(line.trim_end_matches(['\n', '\r']).to_owned())
}

async fn projects(api: &Api) -> anyhow::Result<Vec<Project>> {
    api.get("/api/v1/projects").await
}

/// The project `given` names, by id or by name.
fn pick_project<'a>(projects: &'a [Project], given: &str) -> anyhow::Result<&'a Project> {
    projects
        .iter()
        .find(|p| p.id == given)
        .or_else(|| projects.iter().find(|p| p.name == given))
        .with_context(|| {
            format!(
                "you are in no project `{given}`: yours are {}",
                names(projects)
            )
        })
}

fn names(projects: &[Project]) -> String {
    if projects.is_empty() {
        return "none yet (create one in the dashboard)".into();
    }
    projects
        .iter()
        .map(|p| format!("{} ({})", p.name, p.id))
        .collect::<Vec<_>>()
        .join(", ")
}

async fn apps_of(api: &Api, project: &Project) -> anyhow::Result<Vec<App>> {
    api.get(&format!("/api/v1/projects/{}/apps", project.id))
        .await
}

/// The app with this id, and its project, among every project the user is in.
async fn find_app(api: &Api, id: &str) -> anyhow::Result<(Project, App)> {
    for project in projects(api).await? {
        if let Some(app) = apps_of(api, &project)
            .await?
            .into_iter()
            .find(|a| a.id == id)
        {
            return Ok((project, app));
        }
    }
    bail!("none of your projects has an app `{id}`: `burrow apps list` shows their ids")
}

fn app_path(project: &Project, app: &App) -> String {
    format!("/api/v1/projects/{}/apps/{}", project.id, app.id)
}

/// Runs `burrow apps …`.
pub async fn apps(command: AppsCommand) -> anyhow::Result<()> {
    let api = signed_in()?;
    match command {
        AppsCommand::List { project, json } => list(&api, project.as_deref(), json).await,
        AppsCommand::Logs { app, follow } => logs(&api, &app, follow).await,
        AppsCommand::Open { app, print } => open(&api, &app, print).await,
        AppsCommand::Rollback { app, version } => {
            let (project, app) = find_app(&api, &app).await?;
            let was = app.active_version;
            let now: App = api
                .post(
                    &format!("{}/versions/{version}/activate", app_path(&project, &app)),
                    &json!({}),
                )
                .await?;
            println!(
                "{} now runs version {version}{}",
                now.name,
                match was {
                    Some(was) if was != version => format!(" (it ran version {was})"),
                    _ => String::new(),
                }
            );
            Ok(())
        }
        AppsCommand::Versions { app } => versions(&api, &app).await,
        AppsCommand::Download {
            app,
            version,
            output,
        } => {
            let (project, app) = find_app(&api, &app).await?;
            let response = api
                .send(api.request(
                    Method::GET,
                    &format!("{}/versions/{version}/download", app_path(&project, &app)),
                ))
                .await?;
            let bytes = response
                .bytes()
                .await
                .context("the download broke off: run the command again")?;
            let path =
                output.unwrap_or_else(|| PathBuf::from(format!("{}-v{version}.zip", app.name)));
            std::fs::write(&path, &bytes)
                .with_context(|| format!("cannot write {}", path.display()))?;
            eprintln!(
                "Saved version {version} of {} to {}.",
                app.name,
                path.display()
            );
            Ok(())
        }
        AppsCommand::Start { app } => lifecycle(&api, &app, "start?wait=true", "runs").await,
        AppsCommand::Stop { app } => lifecycle(&api, &app, "stop", "is stopped").await,
        AppsCommand::Restart { app } => {
            lifecycle(&api, &app, "restart?wait=true", "runs again").await
        }
        AppsCommand::Set(args) => set(&api, args).await,
        AppsCommand::Delete { app, yes } => {
            let (project, app) = find_app(&api, &app).await?;
            if !yes {
                let answer = prompt(&format!(
                    "Delete {} ({}) with every version? Type its name to confirm: ",
                    app.name, app.id
                ))?;
                if answer != app.name {
                    bail!("nothing was deleted: the name typed was not `{}`", app.name);
                }
            }
            api.send(api.request(Method::DELETE, &app_path(&project, &app)))
                .await?;
            eprintln!("Deleted {}.", app.name);
            Ok(())
        }
        AppsCommand::Secrets { command } => secrets(&api, command).await,
    }
}

async fn versions(api: &Api, id: &str) -> anyhow::Result<()> {
    #[derive(Deserialize)]
    struct Row {
        number: i64,
        active: bool,
        packages: Vec<String>,
        created_at: String,
        build: BuildRow,
    }
    #[derive(Deserialize)]
    struct BuildRow {
        status: String,
    }
    let (project, app) = find_app(api, id).await?;
    let rows: Vec<Row> = api
        .get(&format!("{}/versions", app_path(&project, &app)))
        .await?;
    let table: Vec<[String; 5]> = rows
        .into_iter()
        .map(|v| {
            [
                v.number.to_string(),
                if v.active {
                    "yes".into()
                } else {
                    String::new()
                },
                v.build.status,
                v.packages.len().to_string(),
                v.created_at,
            ]
        })
        .collect();
    print_table(
        &["VERSION", "ACTIVE", "BUILD", "PACKAGES", "CREATED"],
        &table,
    );
    Ok(())
}

/// `POST …/{action}`, then says what became of the app.
async fn lifecycle(api: &Api, id: &str, action: &str, done: &str) -> anyhow::Result<()> {
    let (project, app) = find_app(api, id).await?;
    let now: App = api
        .post(
            &format!("{}/{action}", app_path(&project, &app)),
            &json!({}),
        )
        .await?;
    println!("{} {done} ({})", now.name, now.status);
    Ok(())
}

async fn set(api: &Api, args: SetArgs) -> anyhow::Result<()> {
    let (project, app) = find_app(api, &args.app).await?;
    let mut body = serde_json::Map::new();
    let mut put = |key: &str, value: Option<serde_json::Value>| {
        if let Some(value) = value {
            body.insert(key.to_owned(), value);
        }
    };
    put("name", args.name.map(Into::into));
    put("description", args.description.map(Into::into));
    put("cpus", args.cpus.map(Into::into));
    put("memory_mb", args.memory_mb.map(Into::into));
    put("idle_timeout_secs", args.idle_timeout_secs.map(Into::into));
    put(
        "network",
        args.network
            .map(|policy| json!({"policy": policy, "domains": args.domains})),
    );
    if body.is_empty() {
        bail!("nothing to change: give --name, --description, --cpus, --memory-mb, --idle-timeout-secs or --network");
    }
    let response = api
        .send(
            api.request(Method::PATCH, &app_path(&project, &app))
                .json(&body),
        )
        .await?;
    let now: App = api::json(response).await?;
    eprintln!("Changed {}.", now.name);
    Ok(())
}

async fn secrets(api: &Api, command: SecretsCommand) -> anyhow::Result<()> {
    match command {
        SecretsCommand::List { app } => {
            #[derive(Deserialize)]
            struct Secret {
                name: String,
                updated_at: i64,
                updated_by: Option<String>,
            }
            let (project, app) = find_app(api, &app).await?;
            let secrets: Vec<Secret> = api
                .get(&format!("{}/secrets", app_path(&project, &app)))
                .await?;
            if secrets.is_empty() {
                eprintln!("{} has no secrets.", app.name);
                return Ok(());
            }
            let rows: Vec<[String; 3]> = secrets
                .into_iter()
                .map(|s| {
                    [
                        s.name,
                        seconds_ago(s.updated_at),
                        s.updated_by.unwrap_or_default(),
                    ]
                })
                .collect();
            print_table(&["NAME", "SET", "BY"], &rows);
            Ok(())
        }
        SecretsCommand::Set { app, name } => {
            let (project, app) = find_app(api, &app).await?;
            let value = read_password(&format!("Value of {name}: "))?;
            let response = api
                .send(
                    api.request(
                        Method::PUT,
                        &format!(
                            "{}/secrets/{}",
                            app_path(&project, &app),
                            api::segment(&name)?
                        ),
                    )
                    .json(&json!({ "value": value })),
                )
                .await?;
            let verb = if response.status() == reqwest::StatusCode::CREATED {
                "Added"
            } else {
                "Replaced"
            };
            eprintln!(
                "{verb} {name}; {} switches to it within a few seconds if it runs.",
                app.name
            );
            Ok(())
        }
        SecretsCommand::Delete { app, name } => {
            let (project, app) = find_app(api, &app).await?;
            api.send(api.request(
                Method::DELETE,
                &format!(
                    "{}/secrets/{}",
                    app_path(&project, &app),
                    api::segment(&name)?
                ),
            ))
            .await?;
            eprintln!("Deleted {name} from {}.", app.name);
            Ok(())
        }
    }
}

/// What a sandbox printed, made safe for a terminal: its control characters but newline
/// and tab shown as `\x1b` and the like, so an app's output cannot drive the terminal
/// (set its title, write the clipboard, hide text). The app's code is untrusted.
pub fn shown_on_a_terminal(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() && c != '\n' && c != '\t' {
            out.push_str(&format!("\\x{:02x}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    out
}

/// "5 min ago" from milliseconds since the epoch.
fn seconds_ago(ms: i64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    let secs = (now - ms).max(0) / 1000;
    match secs {
        s if s < 60 => "just now".into(),
        s if s < 3600 => format!("{} min ago", s / 60),
        s if s < 86_400 => format!("{} h ago", s / 3600),
        s => format!("{} days ago", s / 86_400),
    }
}

async fn list(api: &Api, only: Option<&str>, as_json: bool) -> anyhow::Result<()> {
    let mut projects = projects(api).await?;
    if let Some(given) = only {
        let id = pick_project(&projects, given)?.id.clone();
        projects.retain(|p| p.id == id);
    }
    let mut rows = Vec::new();
    let mut raw: Vec<serde_json::Value> = Vec::new();
    for project in projects {
        let apps: Vec<serde_json::Value> = api
            .get(&format!("/api/v1/projects/{}/apps", project.id))
            .await?;
        for value in apps {
            let app: App = serde_json::from_value(value.clone())
                .context("the server answered something unexpected")?;
            rows.push((project.name.clone(), app));
            raw.push(value);
        }
    }
    if as_json {
        println!("{}", serde_json::to_string_pretty(&raw)?);
        return Ok(());
    }
    if rows.is_empty() {
        eprintln!("No apps yet: `burrow deploy ./folder` deploys one.");
        return Ok(());
    }
    let table: Vec<[String; 6]> = rows
        .into_iter()
        .map(|(project, app)| {
            [
                app.id,
                app.name,
                project,
                app.status,
                app.active_version
                    .map_or_else(|| "-".into(), |v| v.to_string()),
                app.url,
            ]
        })
        .collect();
    print_table(
        &["ID", "NAME", "PROJECT", "STATUS", "VERSION", "URL"],
        &table,
    );
    Ok(())
}

fn print_table<const N: usize>(header: &[&str; N], rows: &[[String; N]]) {
    let mut widths = header.map(|h| h.chars().count());
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut out = String::new();
        for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
            if i + 1 == N {
                out.push_str(cell);
            } else {
                out.push_str(&format!("{cell:<w$}  "));
            }
        }
        println!("{}", out.trim_end());
    };
    line(header.to_vec());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
}

async fn logs(api: &Api, id: &str, follow: bool) -> anyhow::Result<()> {
    let (project, app) = find_app(api, id).await?;
    let mut path = format!("{}/logs", app_path(&project, &app));
    if !follow {
        path.push_str("?follow=false");
    }
    let mut events = api.events(&path).await?;
    let mut printed = false;
    let mut stdout = std::io::stdout();
    let to_terminal = std::io::IsTerminal::is_terminal(&stdout);
    while let Some(event) = events.next().await? {
        match event.kind.as_str() {
            "log" => {
                printed = true;
                let text = if to_terminal {
                    shown_on_a_terminal(&event.data)
                } else {
                    event.data
                };
                stdout.write_all(text.as_bytes())?;
                stdout.flush()?;
            }
            "end" => {
                if event.data == "stopped" {
                    if printed {
                        eprintln!("({} stopped)", app.name);
                    } else {
                        eprintln!(
                            "{} is not running, and its output is kept only while it runs: `burrow apps open {}` starts it",
                            app.name, app.id
                        );
                    }
                }
                return Ok(());
            }
            "error" => bail!("the log cannot be read: {}", event.data),
            _ => {}
        }
    }
    bail!("the server closed the log stream before its end: run the command again")
}

async fn open(api: &Api, id: &str, print: bool) -> anyhow::Result<()> {
    #[derive(Deserialize)]
    struct Ticket {
        url: String,
    }
    let (project, app) = find_app(api, id).await?;
    let ticket: Ticket = api
        .post(
            &format!("{}/view-ticket", app_path(&project, &app)),
            &json!({}),
        )
        .await?;
    if print {
        println!("{}", ticket.url);
        return Ok(());
    }
    match launch_browser(&ticket.url) {
        Ok(browser) => eprintln!("Opened {} in {browser}.", app.name),
        Err(why) => {
            eprintln!("{why}; open this link within a minute (it works once):");
            println!("{}", ticket.url);
        }
    }
    Ok(())
}

/// Starts the user's browser on `url`: `$BROWSER` if set (as Python's `webbrowser` and
/// git read it), else `xdg-open` (`open` on macOS). Returns the program used, once it has
/// exited successfully or is still running (a browser that stays open) after 3 seconds.
// The browser is the user's own program, started on their behalf on their own machine.
#[allow(clippy::disallowed_methods)]
fn launch_browser(url: &str) -> Result<String, String> {
    let fallback = if cfg!(target_os = "macos") {
        "open"
    } else {
        "xdg-open"
    };
    let candidates: Vec<String> = match std::env::var("BROWSER") {
        Ok(list) if !list.trim().is_empty() => list.split(':').map(str::to_owned).collect(),
        _ => vec![fallback.into()],
    };
    let mut why = String::from("no browser could be started (set BROWSER to one)");
    for candidate in candidates {
        let mut words = candidate.split_whitespace();
        let Some(program) = words.next() else {
            continue;
        };
        let mut args: Vec<String> = words.map(|w| w.replace("%s", url)).collect();
        if !candidate.contains("%s") {
            args.push(url.to_owned());
        }
        let child = std::process::Command::new(program)
            .args(&args)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn();
        let mut child = match child {
            Ok(child) => child,
            Err(e) => {
                why = format!("{program} could not be started: {e}");
                continue;
            }
        };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
        loop {
            match child.try_wait() {
                Ok(Some(status)) if status.success() => return Ok(program.to_owned()),
                Ok(Some(status)) => {
                    why = format!("{program} failed ({status})");
                    break;
                }
                Ok(None) if std::time::Instant::now() >= deadline => return Ok(program.to_owned()),
                Ok(None) => std::thread::sleep(std::time::Duration::from_millis(50)),
                Err(e) => {
                    why = format!("{program} could not be waited for: {e}");
                    break;
                }
            }
        }
    }
    Err(why)
}

/// Deploys a folder: packs it, uploads it as a new app or a new version, follows the
/// build's log, and prints the app's address.
pub async fn deploy(args: DeployArgs) -> anyhow::Result<()> {
    let api = signed_in()?;
    let progress = Progress::start();
    progress.step(format!("Packing {}", args.dir.display()));
    let packed = bundle::pack(&args.dir)?;
    for (name, why) in &packed.left_out {
        progress.line(&format!("left out {name}: {why}"));
    }
    if packed.files.is_empty() {
        bail!(
            "{} has no files to deploy once ignored files are left out",
            args.dir.display()
        );
    }
    let (project, existing, name) = target(&api, &args).await?;
    progress.step(format!(
        "Uploading {} files ({}) to {}",
        packed.files.len(),
        size(packed.zip.len()),
        project.name
    ));
    let part = reqwest::multipart::Part::bytes(packed.zip)
        .file_name("bundle.zip")
        .mime_str("application/zip")?;
    let form = reqwest::multipart::Form::new().part("file", part);
    let (app, version) = match existing {
        Some(app) => {
            let version: Version = api::json(
                api.send(
                    api.request(
                        Method::POST,
                        &format!("{}/versions", app_path(&project, &app)),
                    )
                    .multipart(form),
                )
                .await?,
            )
            .await?;
            (app, version)
        }
        None => {
            let mut detail: AppDetail = api::json(
                api.send(
                    api.request(
                        Method::POST,
                        &format!("/api/v1/projects/{}/apps", project.id),
                    )
                    .multipart(form.text("name", name)),
                )
                .await?,
            )
            .await?;
            let version = detail
                .versions
                .pop()
                .context("the server made the app without a version")?;
            (detail.app, version)
        }
    };
    for w in &version.warnings {
        let place = match (&w.file, w.line) {
            (Some(file), Some(line)) => format!("{file}:{line}: "),
            (Some(file), None) => format!("{file}: "),
            _ => String::new(),
        };
        progress.line(&format!("warning: {place}{}", w.message));
    }
    progress.step(format!("Building {} version {}", app.name, version.number));
    let outcome = follow_build(&api, &project, &app, &version, &progress).await?;
    progress.finish();
    let path = app_path(&project, &app);
    if outcome != "succeeded" {
        let versions: Vec<Version> = api.get(&format!("{path}/versions")).await?;
        let why = versions
            .into_iter()
            .find(|v| v.number == version.number)
            .and_then(|v| v.build.error)
            .unwrap_or_else(|| format!("it ended {outcome}"));
        bail!(
            "the build of {} version {} failed: {why}",
            app.name,
            version.number
        );
    }
    let now: App = api.get(&path).await?;
    match now.active_version {
        Some(active) if active == version.number => eprintln!(
            "Deployed {} version {}; it starts on its first view.",
            now.name, version.number
        ),
        Some(active) => eprintln!(
            "Built {} version {}, but version {active} is the active one (deployed since, or \
             chosen): `burrow apps rollback {} {}` makes this one run.",
            now.name, version.number, now.id, version.number
        ),
        None => eprintln!("Built {} version {}.", now.name, version.number),
    }
    println!("{}", now.url);
    Ok(())
}

/// Where a deploy goes: the project, the app when it exists, and the name for a new one.
async fn target(api: &Api, args: &DeployArgs) -> anyhow::Result<(Project, Option<App>, String)> {
    if let Some(id) = &args.app {
        let (project, app) = find_app(api, id).await?;
        let name = app.name.clone();
        return Ok((project, Some(app), name));
    }
    let name = match &args.name {
        Some(name) => name.clone(),
        None => std::fs::canonicalize(&args.dir)
            .ok()
            .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .context("the folder has no name: give the app's with --name")?,
    };
    let mut projects = projects(api).await?;
    let project = match &args.project {
        Some(given) => {
            let id = pick_project(&projects, given)?.id.clone();
            projects.into_iter().find(|p| p.id == id)
        }
        None => {
            projects.retain(|p| p.role != "viewer");
            if projects.len() > 1 {
                bail!(
                    "you can deploy to several projects: choose one with --project (yours are {})",
                    names(&projects)
                );
            }
            projects.pop()
        }
    };
    let project = project.with_context(|| {
        "you are in no project you can deploy to: create one in the dashboard, or ask an owner to make you an editor"
    })?;
    let existing = apps_of(api, &project)
        .await?
        .into_iter()
        .find(|a| a.name == name);
    Ok((project, existing, name))
}

/// Prints the build's log as it comes; returns how the build ended.
async fn follow_build(
    api: &Api,
    project: &Project,
    app: &App,
    version: &Version,
    progress: &Progress,
) -> anyhow::Result<String> {
    let path = format!("{}/builds/{}/log", app_path(project, app), version.build.id);
    let mut events = api.events(&path).await?;
    let mut pending = String::new();
    while let Some(event) = events.next().await? {
        match event.kind.as_str() {
            "log" => {
                pending.push_str(&event.data);
                while let Some(end) = pending.find('\n') {
                    let line: String = pending.drain(..=end).collect();
                    progress.line(line.trim_end());
                }
            }
            "end" => {
                if !pending.is_empty() {
                    progress.line(pending.trim_end());
                }
                return Ok(event.data);
            }
            "error" => bail!("the build log cannot be read: {}", event.data),
            _ => {}
        }
    }
    bail!("the server closed the build log before the build ended: `burrow apps list` shows how it went")
}

fn size(bytes: usize) -> String {
    match bytes {
        b if b >= 1 << 20 => format!("{:.1} MB", b as f64 / f64::from(1 << 20)),
        b if b >= 1 << 10 => format!("{:.1} KB", b as f64 / f64::from(1 << 10)),
        b => format!("{b} bytes"),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_apps_output_cannot_drive_the_terminal() {
        assert_eq!(
            super::shown_on_a_terminal("ok\tdone\n\x1b]52;c;ZXZpbA==\x07\u{9b}2J"),
            "ok\tdone\n\\x1b]52;c;ZXZpbA==\\x07\\x9b2J"
        );
    }
}
