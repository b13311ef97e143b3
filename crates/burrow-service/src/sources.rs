//! External PostgreSQL sources as use cases: owners add, change, test and remove them;
//! members browse their tables and preview rows; editors query them read-only.
//!
//! A source is saved only after Burrow connected with it and found its user unable to
//! change the database (unless the source is a job destination) or reach past it. The
//! password is sealed before it is stored and opened only to connect.

use std::time::Duration;

use burrow_core::Role;
use burrow_data::postgres::{self, Checked, SourceColumn, SourceTable};
use burrow_data::{DataError, QueryResult, SourceConfig, TlsMode};
use burrow_store::{DataSource, StoreError};

use crate::access::{require, Membership};
use crate::data::{error, Page, MAX_PAGE};
use crate::error::{Error, Kind};
use crate::Services;

/// What an owner enters for a source. `Display` and `Debug` leave the password out.
#[derive(Clone)]
pub struct SourceInput {
    pub host: String,
    pub port: u16,
    pub database: String,
    pub user: String,
    /// `None` keeps the stored password (when changing or testing a saved source).
    pub password: Option<String>,
    pub tls_mode: String,
    pub destination: bool,
}

impl std::fmt::Display for SourceInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}@{}:{}/{}",
            self.user, self.host, self.port, self.database
        )
    }
}

impl std::fmt::Debug for SourceInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "SourceInput({self}, tls {}, destination {})",
            self.tls_mode, self.destination
        )
    }
}

pub fn source_not_found() -> Error {
    Error::not_found(
        "source_not_found",
        "there is no such data source in this project: check its name on the Data page",
    )
}

fn source_table_not_found() -> Error {
    Error::not_found(
        "table_not_found",
        "the data source has no such table, or its user may not read it: the source's page \
         lists the tables it can read",
    )
}

/// A failed connection or check, as the answer to a test or a save.
fn check_error(e: DataError) -> Error {
    match e {
        DataError::Invalid(m)
        | DataError::Refused(m)
        | DataError::Limit(m)
        | DataError::Unavailable(m) => Error::new(Kind::Unprocessable, "source_check_failed", m),
        other => error(other, "source_check_failed"),
    }
}

/// A source's answer to browsing: a failed connection or a refused read is the source's
/// state, not the request's mistake.
fn browse_error(e: DataError) -> Error {
    match e {
        DataError::Invalid(m) | DataError::Refused(m) | DataError::Unavailable(m) => {
            Error::new(Kind::Unprocessable, "source_unavailable", m)
        }
        other => error(other, "source_unavailable"),
    }
}

/// A saved password goes only where it went before: to send it to another host, port or
/// user, or over weaker TLS, the owner enters it again.
fn keeps_destination(saved: &DataSource, input: &SourceInput, tls: TlsMode) -> Result<(), Error> {
    let rank = |m: TlsMode| TlsMode::ALL.iter().position(|x| *x == m).unwrap_or(0);
    let weaker = TlsMode::parse(&saved.tls_mode).is_some_and(|old| rank(tls) < rank(old));
    if saved.host != input.host
        || saved.port != i64::from(input.port)
        || saved.username != input.user
        || weaker
    {
        return Err(Error::bad_request(
            "invalid_source",
            "enter the password again: the saved one goes only to the host, port and user it \
             was saved for, over TLS at least as strict",
        )
        .with_field("password"));
    }
    Ok(())
}

/// How long a statement on a source may run (`data.query_timeout_secs`).
pub(crate) fn timeout(services: &Services) -> Duration {
    Duration::from_secs(services.config.data.query_timeout_secs)
}

/// Checks what an owner entered, field by field.
fn validate(input: &SourceInput) -> Result<TlsMode, Error> {
    let field_error = |field: &'static str, message: String| {
        Error::bad_request("invalid_source", message).with_field(field)
    };
    let plain = |s: &str| !s.chars().any(|c| c.is_control() || c.is_whitespace());
    let host = input.host.as_str();
    if host.is_empty() || host.len() > 253 || !plain(host) || host.starts_with('/') {
        return Err(field_error(
            "host",
            format!("host {host:?} is not a host name or IP address: enter one such as db.internal or 10.0.0.5"),
        ));
    }
    if input.port == 0 {
        return Err(field_error(
            "port",
            "the port must be 1 to 65535 (PostgreSQL's is 5432)".into(),
        ));
    }
    for (field, value, what) in [
        ("database", &input.database, "database"),
        ("user", &input.user, "user"),
    ] {
        if value.is_empty() || value.len() > 63 || value.contains('\0') {
            return Err(field_error(
                field,
                format!("the {what} name must be 1 to 63 bytes, without NUL"),
            ));
        }
    }
    if let Some(password) = &input.password {
        if password.len() > 1024 || password.contains('\0') {
            return Err(field_error(
                "password",
                "the password must be at most 1024 bytes, without NUL".into(),
            ));
        }
    }
    TlsMode::parse(&input.tls_mode).ok_or_else(|| {
        field_error(
            "tls_mode",
            format!(
                "TLS mode {:?} is not one of disable, prefer, require, verify-full",
                input.tls_mode
            ),
        )
    })
}

fn config_of(input: &SourceInput, tls: TlsMode, password: String) -> SourceConfig {
    SourceConfig {
        host: input.host.clone(),
        port: input.port,
        database: input.database.clone(),
        user: input.user.clone(),
        password,
        tls,
        destination: input.destination,
    }
}

pub async fn list(services: &Services, member: &Membership) -> Result<Vec<DataSource>, Error> {
    require(member, Role::Viewer)?;
    Ok(services.store.list_sources(&member.project.id).await?)
}

pub async fn get(
    services: &Services,
    member: &Membership,
    name: &str,
) -> Result<DataSource, Error> {
    require(member, Role::Viewer)?;
    services
        .store
        .get_source(&member.project.id, name)
        .await
        .map_err(|e| Error::or_not_found(e, source_not_found))
}

/// The stored source `name` ready to connect, its password opened.
async fn connectable(
    services: &Services,
    member: &Membership,
    name: &str,
) -> Result<SourceConfig, Error> {
    let source = get(services, member, name).await?;
    config_of_saved(services, &source)
}

/// A stored source ready to connect, its password opened: for a member's request, or a
/// job of its project.
pub(crate) fn config_of_saved(
    services: &Services,
    source: &DataSource,
) -> Result<SourceConfig, Error> {
    let password = services
        .keyring
        .sealer()
        .and_then(|s| s.open(&source.password_sealed, &source.id))
        .map_err(|e| error(e, "source_key"))?;
    burrow_apps::data::source_config(source, &password).map_err(|e| error(e, "internal"))
}

/// Connects with what an owner entered (the stored password when none is given and
/// `saved` names a source) and checks the user, saving nothing.
pub async fn test(
    services: &Services,
    member: &Membership,
    saved: Option<&str>,
    input: &SourceInput,
) -> Result<Checked, Error> {
    require(member, Role::Owner)?;
    let tls = validate(input)?;
    let password = match (&input.password, saved) {
        (Some(p), _) => p.clone(),
        (None, Some(name)) => {
            keeps_destination(&get(services, member, name).await?, input, tls)?;
            connectable(services, member, name).await?.password
        }
        (None, None) => {
            return Err(
                Error::bad_request("invalid_source", "enter the password").with_field("password")
            )
        }
    };
    postgres::test(
        &config_of(input, tls, password),
        services.data.reach(),
        timeout(services),
    )
    .await
    .map_err(check_error)
}

/// Adds source `name` once a connection with it works and its user passes the check.
pub async fn create(
    services: &Services,
    member: &Membership,
    name: &str,
    input: &SourceInput,
) -> Result<DataSource, Error> {
    require(member, Role::Owner)?;
    burrow_data::types::check_table_name(name)
        .and_then(|()| match name {
            "test" => Err(DataError::Invalid(
                "\"test\" is reserved for testing a connection: choose another name".into(),
            )),
            _ => Ok(()),
        })
        .map_err(|e| match e {
            DataError::Invalid(m) => DataError::Invalid(
                m.replace("table name", "source name")
                    .replace("daily_sales", "warehouse"),
            ),
            other => other,
        })
        .map_err(|e| error(e, "invalid_source_name").with_field("name"))?;
    let tls = validate(input)?;
    let Some(password) = input.password.clone().filter(|p| !p.is_empty()) else {
        return Err(
            Error::bad_request("invalid_source", "enter the password").with_field("password")
        );
    };
    match services.store.get_source(&member.project.id, name).await {
        Ok(_) => return Err(taken(name)),
        Err(StoreError::NotFound) => {}
        Err(e) => return Err(e.into()),
    }
    postgres::test(
        &config_of(input, tls, password.clone()),
        services.data.reach(),
        timeout(services),
    )
    .await
    .map_err(check_error)?;
    let id = burrow_core::ids::new_id("src");
    let source = DataSource {
        password_sealed: seal(services, &password, &id)?,
        id,
        project_id: member.project.id.to_string(),
        name: name.to_owned(),
        host: input.host.clone(),
        port: input.port.into(),
        database_name: input.database.clone(),
        username: input.user.clone(),
        tls_mode: tls.as_str().to_owned(),
        destination: input.destination.into(),
        created_by: Some(member.user.id.to_string()),
        created_at: 0,
        updated_at: 0,
    };
    services
        .store
        .create_source(&source)
        .await
        .map_err(|e| match e {
            StoreError::Conflict => taken(name),
            e => e.into(),
        })?;
    tracing::info!(project.id = %member.project.id, source = name, "data source added");
    get(services, member, name).await
}

/// Changes source `name`; without a password, the stored one stays. Checked as a new one is.
pub async fn update(
    services: &Services,
    member: &Membership,
    name: &str,
    input: &SourceInput,
) -> Result<DataSource, Error> {
    require(member, Role::Owner)?;
    let tls = validate(input)?;
    let existing = get(services, member, name).await?;
    let (password, sealed) = match input.password.clone().filter(|p| !p.is_empty()) {
        Some(p) => {
            let sealed = seal(services, &p, &existing.id)?;
            (p, sealed)
        }
        None => {
            keeps_destination(&existing, input, tls)?;
            (
                connectable(services, member, name).await?.password,
                existing.password_sealed.clone(),
            )
        }
    };
    postgres::test(
        &config_of(input, tls, password),
        services.data.reach(),
        timeout(services),
    )
    .await
    .map_err(check_error)?;
    let changed = DataSource {
        host: input.host.clone(),
        port: input.port.into(),
        database_name: input.database.clone(),
        username: input.user.clone(),
        password_sealed: sealed,
        tls_mode: tls.as_str().to_owned(),
        destination: input.destination.into(),
        ..existing
    };
    services
        .store
        .update_source(&changed)
        .await
        .map_err(|e| Error::or_not_found(e, source_not_found))?;
    tracing::info!(project.id = %member.project.id, source = name, "data source changed");
    get(services, member, name).await
}

pub async fn delete(services: &Services, member: &Membership, name: &str) -> Result<(), Error> {
    require(member, Role::Owner)?;
    services
        .store
        .delete_source(&member.project.id, name)
        .await
        .map_err(|e| Error::or_not_found(e, source_not_found))
}

fn seal(services: &Services, password: &str, id: &str) -> Result<String, Error> {
    services
        .keyring
        .sealer()
        .and_then(|s| s.seal(password, id))
        .map_err(|e| error(e, "source_key"))
}

fn taken(name: &str) -> Error {
    Error::conflict(
        "source_exists",
        format!("this project already has a data source named {name}: choose another name"),
    )
    .with_field("name")
}

/// The tables and views source `name`'s user may read.
pub async fn tables(
    services: &Services,
    member: &Membership,
    name: &str,
) -> Result<Vec<SourceTable>, Error> {
    let source = connectable(services, member, name).await?;
    postgres::tables(&source, services.data.reach(), timeout(services))
        .await
        .map_err(browse_error)
}

/// The columns of one of source `name`'s tables.
pub async fn columns(
    services: &Services,
    member: &Membership,
    name: &str,
    schema: &str,
    table: &str,
) -> Result<Vec<SourceColumn>, Error> {
    let source = connectable(services, member, name).await?;
    postgres::columns(
        &source,
        services.data.reach(),
        schema,
        table,
        timeout(services),
    )
    .await
    .map_err(browse_error)?
    .ok_or_else(source_table_not_found)
}

/// Types Burrow reads as they are; a preview reads the others as text.
const READABLE_TYPES: [&str; 16] = [
    "smallint",
    "integer",
    "bigint",
    "oid",
    "real",
    "double precision",
    "numeric",
    "boolean",
    "text",
    "character varying",
    "character",
    "name",
    "json",
    "jsonb",
    "uuid",
    "bytea",
];
const READABLE_TIMES: [&str; 4] = [
    "date",
    "time without time zone",
    "timestamp without time zone",
    "timestamp with time zone",
];

fn preview_column(c: &SourceColumn) -> String {
    let quoted = postgres::quote_ident(&c.name);
    let base = c.column_type.split('(').next().unwrap_or_default().trim();
    let time = c
        .column_type
        .replace(['(', ')', '0', '1', '2', '3', '4', '5', '6'], "");
    let time = time.split_whitespace().collect::<Vec<_>>().join(" ");
    if READABLE_TYPES.contains(&base) || READABLE_TIMES.contains(&time.as_str()) {
        quoted
    } else {
        format!("{quoted}::text AS {quoted}")
    }
}

/// One page of one of source `name`'s tables, optionally sorted by a column.
pub async fn rows(
    services: &Services,
    member: &Membership,
    name: &str,
    schema: &str,
    table: &str,
    page: &Page,
) -> Result<QueryResult, Error> {
    let source = connectable(services, member, name).await?;
    let columns = postgres::columns(
        &source,
        services.data.reach(),
        schema,
        table,
        timeout(services),
    )
    .await
    .map_err(browse_error)?
    .ok_or_else(source_table_not_found)?;
    let order = match &page.sort {
        None => String::new(),
        Some((column, descending)) => {
            if !columns.iter().any(|c| &c.name == column) {
                return Err(Error::bad_request(
                    "invalid_sort",
                    format!("{schema}.{table} has no column {column:?} to sort by"),
                )
                .with_field("sort"));
            }
            format!(
                " ORDER BY {} {} NULLS LAST",
                postgres::quote_ident(column),
                if *descending { "DESC" } else { "ASC" }
            )
        }
    };
    let select: Vec<String> = columns.iter().map(preview_column).collect();
    let sql = format!(
        "SELECT {} FROM {}.{}{order} LIMIT {} OFFSET {}",
        select.join(", "),
        postgres::quote_ident(schema),
        postgres::quote_ident(table),
        page.limit.clamp(1, MAX_PAGE),
        page.offset
    );
    services
        .data
        .query_source(&member.project.id, &source, &sql)
        .await
        .map_err(browse_error)
}

/// Runs one read-only statement on source `name` (the SQL console).
pub async fn query(
    services: &Services,
    member: &Membership,
    name: &str,
    sql: &str,
) -> Result<QueryResult, Error> {
    require(member, Role::Editor)?;
    let source = connectable(services, member, name).await?;
    services
        .data
        .query_source(&member.project.id, &source, sql)
        .await
        .map_err(|e| error(e, "invalid_query").with_field("sql"))
}
