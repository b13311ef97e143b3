//! External PostgreSQL data sources, read only.
//!
//! Every call opens a connection of its own and closes it after: nothing a statement sets
//! (a `set_config`, a session advisory lock, a prepared statement) outlives it. Inside,
//! `BEGIN READ ONLY`, `SET LOCAL statement_timeout`, then exactly one statement over the
//! extended protocol (so `select 1; insert …` is refused by the server), then `ROLLBACK`.
//! A read-only transaction is a seatbelt, not a wall (`dblink` still writes), so the
//! source's user is checked too: [`check_user`] refuses one that can change the database,
//! unless the source is a job destination, and one that can reach past it in any case.
//! Rows arrive in PostgreSQL's binary format and become Arrow batches here, under the
//! same row and byte caps as the built-in tables.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::array::{
    ArrayBuilder, ArrayRef, BinaryBuilder, BooleanBuilder, Date32Builder, Float64Builder,
    Int64Builder, RecordBatch, StringBuilder, Time64MicrosecondBuilder,
    TimestampMicrosecondBuilder,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use futures::TryStreamExt;
use serde::Serialize;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgSslMode, PgTypeInfo, PgTypeKind};
use sqlx::{ConnectOptions, Connection, Executor, Row, Statement, TypeInfo, ValueRef};

use crate::engine::Collector;

pub mod transfer;
use crate::DataError;

/// How a connection to a source uses TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum TlsMode {
    /// Plain TCP.
    Disable,
    /// TLS when the server offers it.
    Prefer,
    /// TLS always, without checking the certificate.
    Require,
    /// TLS always, with a certificate for the host from a trusted authority.
    VerifyFull,
}

impl TlsMode {
    pub const ALL: [TlsMode; 4] = [Self::Disable, Self::Prefer, Self::Require, Self::VerifyFull];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Disable => "disable",
            Self::Prefer => "prefer",
            Self::Require => "require",
            Self::VerifyFull => "verify-full",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.as_str() == s)
    }
}

/// Where a source is and who Burrow connects as. The password never shows in `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct SourceConfig {
    pub host: String,
    pub port: u16,
    pub database: String,
    pub user: String,
    pub password: String,
    pub tls: TlsMode,
    /// Jobs may write here: the user may change the database.
    pub destination: bool,
}

impl std::fmt::Debug for SourceConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SourceConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("database", &self.database)
            .field("user", &self.user)
            .field("tls", &self.tls)
            .field("destination", &self.destination)
            .finish_non_exhaustive()
    }
}

/// How long a connection may take to open.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Where a source may be. Never a link-local address (cloud metadata lives there), an
/// unspecified, multicast or broadcast one, nor Burrow's own database; loopback only
/// when the instance allows it. The name is resolved once and checked, and the
/// connection goes to the checked address.
#[derive(Debug, Clone, Default)]
pub struct Reach {
    /// Sources on this host's loopback (`data.allow_loopback_sources`).
    pub allow_loopback: bool,
    /// Burrow's own PostgreSQL database, when it uses one: host, port and database.
    pub own_database: Option<(String, u16, String)>,
}

async fn resolve(host: &str, port: u16) -> Result<Vec<SocketAddr>, DataError> {
    let found = tokio::time::timeout(CONNECT_TIMEOUT, tokio::net::lookup_host((host, port)))
        .await
        .map_err(|_| DataError::Unavailable(format!("looking up the host {host:?} took too long")))?
        .map_err(|e| {
            DataError::Unavailable(format!(
                "the host {host:?} could not be found ({e}): check its name"
            ))
        })?;
    Ok(found.collect())
}

impl Reach {
    /// The address to connect to for `source`, after checking every address its host has.
    async fn check(&self, source: &SourceConfig) -> Result<IpAddr, DataError> {
        let addrs = resolve(&source.host, source.port).await?;
        let own = match &self.own_database {
            Some((host, port, database)) if *database == source.database => {
                resolve(host, *port).await.unwrap_or_default()
            }
            _ => Vec::new(),
        };
        let refused = |why: &str| {
            DataError::Invalid(format!(
                "burrow: a data source cannot be at {}:{}: {why}",
                source.host, source.port
            ))
        };
        let mut first = None;
        for addr in &addrs {
            let ip = addr.ip().to_canonical();
            let never = match ip {
                IpAddr::V4(v4) => {
                    v4.is_link_local()
                        || v4.is_unspecified()
                        || v4.is_multicast()
                        || v4.is_broadcast()
                }
                IpAddr::V6(v6) => {
                    v6.is_unicast_link_local() || v6.is_unspecified() || v6.is_multicast()
                }
            };
            if never {
                return Err(refused(&format!(
                    "{ip} is a link-local, unspecified or multicast address"
                )));
            }
            if ip.is_loopback() && !self.allow_loopback {
                return Err(refused(&format!(
                    "{ip} is this host's loopback, which sources may use only when an admin \
                     sets data.allow_loopback_sources"
                )));
            }
            if own
                .iter()
                .any(|o| o.ip().to_canonical() == ip && o.port() == addr.port())
            {
                return Err(refused("that is Burrow's own database"));
            }
            first.get_or_insert(ip);
        }
        first.ok_or_else(|| {
            DataError::Unavailable(format!("the host {:?} has no address", source.host))
        })
    }
}

/// What "Test connection" found.
#[derive(Debug, Clone, Serialize)]
pub struct Checked {
    /// The server's version, as `SHOW server_version` says it.
    pub server_version: String,
    /// Whether the connection uses TLS.
    pub tls: bool,
    /// Tables and views the user may read.
    pub tables: u64,
}

/// A table or view of a source the user may read.
#[derive(Debug, Clone, Serialize)]
pub struct SourceTable {
    pub schema: String,
    pub name: String,
    /// `table`, `view`, `materialized view`, `foreign table` or `partitioned table`.
    pub kind: String,
    /// PostgreSQL's estimate from its statistics; `None` before the table is analyzed.
    pub rows_estimate: Option<i64>,
}

/// A column of a source's table, with PostgreSQL's name for its type.
#[derive(Debug, Clone, Serialize)]
pub struct SourceColumn {
    pub name: String,
    #[serde(rename = "type")]
    pub column_type: String,
}

/// An open read-only transaction on a fresh connection.
struct Session {
    conn: PgConnection,
}

impl Session {
    /// Opens a connection, checked against `reach`, whose statements may each run until
    /// `deadline` (less a margin, so the server cancels a statement before the caller
    /// gives up on it).
    async fn open(
        source: &SourceConfig,
        reach: &Reach,
        deadline: Instant,
        timeout: Duration,
    ) -> Result<Self, DataError> {
        let address = reach.check(source).await?;
        let mut conn = connect(source, address).await?;
        let budget = deadline
            .saturating_duration_since(Instant::now())
            .saturating_sub(Duration::from_millis(250))
            .max(Duration::from_millis(100));
        let begin = async {
            conn.execute(sqlx::query("BEGIN READ ONLY")).await?;
            // The timer starts with each statement, so a statement cannot lift its own.
            conn.execute(sqlx::query(&format!(
                "SET LOCAL statement_timeout = {}",
                budget.as_millis()
            )))
            .await?;
            conn.execute(sqlx::query(&format!(
                "SET LOCAL idle_in_transaction_session_timeout = {}",
                (timeout + CONNECT_TIMEOUT).as_millis()
            )))
            .await
        };
        begin.await.map_err(|e| statement_error(e, timeout))?;
        Ok(Self { conn })
    }

    /// Ends the transaction and the connection; whatever the statement did goes with them.
    async fn close(mut self) {
        let _ = self.conn.execute(sqlx::query("ROLLBACK")).await;
        let _ = self.conn.close().await;
    }

    /// Ends the connection after a failure without reading what the server still sends
    /// (a `ROLLBACK` would first drain a statement's remaining rows): the server rolls
    /// back when the connection goes.
    fn abandon(self) {
        drop(self.conn);
    }

    /// Ends the session as `result` says: cleanly after success, at once after a failure.
    async fn end<T>(self, result: Result<T, DataError>) -> Result<T, DataError> {
        match result {
            Ok(value) => {
                self.close().await;
                Ok(value)
            }
            Err(e) => {
                self.abandon();
                Err(e)
            }
        }
    }
}

async fn connect(source: &SourceConfig, address: IpAddr) -> Result<PgConnection, DataError> {
    // The checked address, not the name again: a second lookup could answer otherwise.
    // Verifying a certificate needs the name, which the certificate then vouches for.
    let host = match source.tls {
        TlsMode::VerifyFull => source.host.clone(),
        _ => address.to_string(),
    };
    let options = PgConnectOptions::new_without_pgpass()
        .host(&host)
        .port(source.port)
        .database(&source.database)
        .username(&source.user)
        .password(&source.password)
        .ssl_mode(match source.tls {
            TlsMode::Disable => PgSslMode::Disable,
            TlsMode::Prefer => PgSslMode::Prefer,
            TlsMode::Require => PgSslMode::Require,
            TlsMode::VerifyFull => PgSslMode::VerifyFull,
        })
        .application_name("burrow")
        // Statements are the project's queries: Burrow's logs are not the place for them.
        .disable_statement_logging();
    match tokio::time::timeout(CONNECT_TIMEOUT, options.connect()).await {
        Ok(Ok(conn)) => Ok(conn),
        Ok(Err(e)) => Err(connect_error(e, source)),
        Err(_) => Err(DataError::Unavailable(format!(
            "no answer from {}:{} within {} s: check the host and port, and that no firewall \
             stands between Burrow and the server",
            source.host,
            source.port,
            CONNECT_TIMEOUT.as_secs()
        ))),
    }
}

/// What failed while connecting, in words an owner can act on.
fn connect_error(e: sqlx::Error, source: &SourceConfig) -> DataError {
    let at = format!("{}:{}", source.host, source.port);
    let message = match &e {
        sqlx::Error::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => format!(
            "nothing accepts connections on {at}: check the host and port, and that \
             PostgreSQL listens there (listen_addresses)"
        ),
        sqlx::Error::Io(io)
            if io.to_string().contains("lookup") || io.to_string().contains("resolve") =>
        {
            format!(
                "the host {:?} could not be found ({io}): check its name",
                source.host
            )
        }
        sqlx::Error::Io(io) => format!("could not reach {at}: {io}"),
        sqlx::Error::Tls(tls) => format!(
            "TLS with {at} failed ({tls}): with TLS mode {}, the server must offer TLS{}",
            source.tls.as_str(),
            if source.tls == TlsMode::VerifyFull {
                " and a certificate for this host name from a trusted authority"
            } else {
                ""
            }
        ),
        sqlx::Error::Database(db) => match db.code().as_deref() {
            Some("28P01") => format!(
                "password authentication failed for user {:?}: check the user and password",
                source.user
            ),
            Some("28000") => format!(
                "the server refused user {:?} on database {:?}: {} (the server's pg_hba.conf \
                 decides who may connect from where)",
                source.user,
                source.database,
                db.message()
            ),
            Some("3D000") => format!(
                "there is no database {:?} on {at}: check its name",
                source.database
            ),
            _ => format!(
                "the server at {at} refused the connection: {}",
                db.message()
            ),
        },
        other => format!("connecting to {at} failed: {other}"),
    };
    DataError::Unavailable(message)
}

/// A statement's error: the server's message, with its position, or the time limit.
fn statement_error(e: sqlx::Error, timeout: Duration) -> DataError {
    match &e {
        sqlx::Error::Database(db) => match db.code().as_deref() {
            Some("57014") => DataError::Limit(format!(
                "burrow: the query ran past its {} s time limit; filter earlier or aggregate",
                timeout.as_secs().max(1)
            )),
            Some("42501") => DataError::Refused(format!("burrow: {}", db.message())),
            Some("25006") => DataError::Refused(format!(
                "burrow: queries on a data source are read-only ({})",
                db.message()
            )),
            Some("42601") if db.message().contains("multiple commands") => DataError::Refused(
                format!("burrow: run one statement at a time ({})", db.message()),
            ),
            Some(code) if code.starts_with("53") || code.starts_with("54") => {
                DataError::Limit(format!("burrow: the source refused: {}", db.message()))
            }
            _ => {
                let position = db
                    .try_downcast_ref::<sqlx::postgres::PgDatabaseError>()
                    .and_then(|pg| match pg.position() {
                        Some(sqlx::postgres::PgErrorPosition::Original(at)) => Some(at),
                        _ => None,
                    });
                DataError::Invalid(match position {
                    Some(at) => format!("{} (at character {at})", db.message()),
                    None => db.message().to_owned(),
                })
            }
        },
        sqlx::Error::Io(_) | sqlx::Error::Protocol(_) => {
            DataError::Unavailable(format!("the connection to the data source failed: {e}"))
        }
        other => DataError::Internal(format!("a data source query: {other}")),
    }
}

/// Connects, checks the user as a query would, and counts what it may read.
pub async fn test(
    source: &SourceConfig,
    reach: &Reach,
    timeout: Duration,
) -> Result<Checked, DataError> {
    let mut session = Session::open(source, reach, Instant::now() + timeout, timeout).await?;
    let checked = async {
        check_user(&mut session.conn, source.destination, timeout).await?;
        let (server_version, tls, tables): (String, bool, i64) = sqlx::query_as(&format!(
            "SELECT current_setting('server_version'), \
             coalesce((SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()), false), \
             (SELECT count(*) FROM ({READABLE}) t)"
        ))
        .fetch_one(&mut session.conn)
        .await
        .map_err(|e| statement_error(e, timeout))?;
        Ok(Checked {
            server_version,
            tls,
            tables: tables.max(0) as u64,
        })
    }
    .await;
    session.end(checked).await
}

/// The tables and views a source's user may read, outside PostgreSQL's own schemas.
const READABLE: &str = "SELECT n.nspname::text AS schema, c.relname::text AS name, \
     c.relkind::text AS kind, c.reltuples::float8 AS rows_estimate \
     FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
     WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') \
     AND n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\\_%' \
     AND has_schema_privilege(n.oid, 'USAGE') AND has_table_privilege(c.oid, 'SELECT')";

/// The most tables a listing shows.
pub const MAX_TABLES: usize = 2000;

/// The tables and views of a source its user may read, by schema and name.
pub async fn tables(
    source: &SourceConfig,
    reach: &Reach,
    timeout: Duration,
) -> Result<Vec<SourceTable>, DataError> {
    let mut session = Session::open(source, reach, Instant::now() + timeout, timeout).await?;
    let rows: Result<Vec<(String, String, String, f64)>, _> =
        sqlx::query_as(&format!("{READABLE} ORDER BY 1, 2 LIMIT {MAX_TABLES}"))
            .fetch_all(&mut session.conn)
            .await
            .map_err(|e| statement_error(e, timeout));
    let rows = session.end(rows).await?;
    Ok(rows
        .into_iter()
        .map(|(schema, name, kind, estimate)| SourceTable {
            schema,
            name,
            kind: match kind.as_str() {
                "v" => "view",
                "m" => "materialized view",
                "f" => "foreign table",
                "p" => "partitioned table",
                _ => "table",
            }
            .to_owned(),
            rows_estimate: (estimate >= 0.0).then_some(estimate as i64),
        })
        .collect())
}

/// The columns of `schema.table`, or `None` when the user may not read such a table.
pub async fn columns(
    source: &SourceConfig,
    reach: &Reach,
    schema: &str,
    table: &str,
    timeout: Duration,
) -> Result<Option<Vec<SourceColumn>>, DataError> {
    let mut session = Session::open(source, reach, Instant::now() + timeout, timeout).await?;
    let rows: Result<Vec<(String, String)>, _> = sqlx::query_as(
        "SELECT a.attname::text, format_type(a.atttypid, a.atttypmod) \
         FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid \
         JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p', 'v', 'm', 'f') \
         AND a.attnum > 0 AND NOT a.attisdropped \
         AND has_schema_privilege(n.oid, 'USAGE') AND has_table_privilege(c.oid, 'SELECT') \
         ORDER BY a.attnum",
    )
    .bind(schema)
    .bind(table)
    .fetch_all(&mut session.conn)
    .await
    .map_err(|e| statement_error(e, timeout));
    let rows = session.end(rows).await?;
    Ok((!rows.is_empty()).then(|| {
        rows.into_iter()
            .map(|(name, column_type)| SourceColumn { name, column_type })
            .collect()
    }))
}

/// PostgreSQL's quoting of an identifier.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The roles whose members can reach past the database: files and programs on its
/// server, and other sessions.
const SERVER_ROLES: [&str; 4] = [
    "pg_execute_server_program",
    "pg_read_server_files",
    "pg_write_server_files",
    "pg_signal_backend",
];

/// Refuses a user that can change the database (unless the source is a job destination)
/// or reach past it, itself or through a role it is a member of, naming each power and
/// how to take it away. A superuser role's members are refused as superusers.
pub async fn check_user(
    conn: &mut PgConnection,
    destination: bool,
    timeout: Duration,
) -> Result<(), DataError> {
    // The user's own rights and those of every role it is a member of: a member may
    // `SET ROLE` to any of them, even inside a read-only transaction.
    type Powers = (
        String,
        bool,
        bool,
        bool,
        bool,
        Vec<String>,
        bool,
        Vec<String>,
        Vec<String>,
        Vec<String>,
    );
    let (
        user,
        superuser,
        createrole,
        createdb,
        replication,
        roles,
        create_in_db,
        schemas,
        writable,
        dblink,
    ): Powers = sqlx::query_as(
        "WITH m AS (SELECT oid, rolname, rolsuper, rolcreaterole, rolcreatedb, rolreplication \
                    FROM pg_roles WHERE pg_has_role(current_user, oid, 'MEMBER')) \
         SELECT current_user::text, \
           EXISTS (SELECT 1 FROM m WHERE rolsuper), \
           EXISTS (SELECT 1 FROM m WHERE rolcreaterole), \
           EXISTS (SELECT 1 FROM m WHERE rolcreatedb), \
           EXISTS (SELECT 1 FROM m WHERE rolreplication), \
           ARRAY(SELECT rolname::text FROM m WHERE rolname IN ('pg_write_all_data', \
                 'pg_execute_server_program', 'pg_read_server_files', 'pg_write_server_files', \
                 'pg_signal_backend') ORDER BY 1), \
           EXISTS (SELECT 1 FROM m WHERE has_database_privilege(m.oid, current_database(), 'CREATE')), \
           ARRAY(SELECT n.nspname::text FROM pg_namespace n \
                 WHERE n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\\_%' \
                 AND EXISTS (SELECT 1 FROM m WHERE has_schema_privilege(m.oid, n.oid, 'CREATE')) \
                 ORDER BY 1), \
           ARRAY(SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c \
                 JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE c.relkind IN ('r', 'p', 'v', 'f', 'm') \
                 AND n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\\_%' \
                 AND EXISTS (SELECT 1 FROM m WHERE \
                     has_table_privilege(m.oid, c.oid, 'INSERT, UPDATE, DELETE, TRUNCATE') \
                     OR has_any_column_privilege(m.oid, c.oid, 'INSERT, UPDATE')) \
                 ORDER BY 1 LIMIT 4), \
           ARRAY(SELECT p.oid::regprocedure::text FROM pg_proc p \
                 WHERE p.proname IN ('dblink', 'dblink_exec', 'dblink_connect', 'dblink_connect_u') \
                 AND EXISTS (SELECT 1 FROM m WHERE has_function_privilege(m.oid, p.oid, 'EXECUTE')) \
                 ORDER BY 1)",
    )
    .fetch_one(&mut *conn)
    .await
    .map_err(|e| statement_error(e, timeout))?;
    let u = quote_ident(&user);
    // Powers no source may have: they reach past the database.
    let mut always = Vec::new();
    if superuser {
        always.push(format!(
            "it is, or may act as, a superuser (ALTER ROLE {u} NOSUPERUSER, and no superuser role granted to it)"
        ));
    }
    if createrole {
        always.push(format!("it can create roles (ALTER ROLE {u} NOCREATEROLE)"));
    }
    if replication {
        always.push(format!(
            "it can start replication, whose slots outlive a session (ALTER ROLE {u} NOREPLICATION)"
        ));
    }
    for role in roles.iter().filter(|r| SERVER_ROLES.contains(&r.as_str())) {
        always.push(format!("it is a member of {role} (REVOKE {role} FROM {u})"));
    }
    if !dblink.is_empty() {
        always.push(format!(
            "it can run {} to connect elsewhere ({})",
            dblink.join(", "),
            dblink
                .iter()
                .map(|f| format!("REVOKE EXECUTE ON FUNCTION {f} FROM PUBLIC, {u}"))
                .collect::<Vec<_>>()
                .join("; ")
        ));
    }
    // Powers a job destination needs, and a source for reading must not have.
    let mut writes = Vec::new();
    if createdb {
        writes.push(format!(
            "it can create databases (ALTER ROLE {u} NOCREATEDB)"
        ));
    }
    if roles.iter().any(|r| r == "pg_write_all_data") {
        writes.push(format!(
            "it is a member of pg_write_all_data (REVOKE pg_write_all_data FROM {u})"
        ));
    }
    if create_in_db {
        writes.push(format!(
            "it can create schemas (REVOKE CREATE ON DATABASE … FROM PUBLIC, {u})"
        ));
    }
    for schema in &schemas {
        let s = quote_ident(schema);
        writes.push(format!(
            "it can create objects in schema {schema} (REVOKE CREATE ON SCHEMA {s} FROM PUBLIC, {u})"
        ));
    }
    if !writable.is_empty() {
        writes.push(format!(
            "it can change rows of {}{} (REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON ALL TABLES \
             IN SCHEMA … FROM {u})",
            writable.join(", "),
            if writable.len() == 4 { ", …" } else { "" }
        ));
    }
    if !always.is_empty() {
        return Err(DataError::Refused(format!(
            "burrow: user {user} can reach past the database, which no data source may: {}. \
             Connect as a user with SELECT rights only",
            always.join("; ")
        )));
    }
    if !writes.is_empty() && !destination {
        return Err(DataError::Refused(format!(
            "burrow: user {user} can change the database, and Burrow reads sources only as a \
             SELECT-only user: {}. Connect as a user with SELECT rights only (the README shows \
             the SQL to make one), or, if jobs are to write here, mark the source as a job \
             destination",
            writes.join("; ")
        )));
    }
    Ok(())
}

/// Rows per Arrow batch, at most.
const BATCH_ROWS: usize = 8192;
/// Bytes per Arrow batch, about, at most.
const BATCH_BYTES: u64 = 16 << 20;

/// Runs one read-only statement on `source`, collecting its rows as Arrow batches.
pub(crate) async fn read(
    source: &SourceConfig,
    reach: &Reach,
    sql: &str,
    deadline: Instant,
    timeout: Duration,
    collector: &mut Collector,
) -> Result<SchemaRef, DataError> {
    let mut session = Session::open(source, reach, deadline, timeout).await?;
    let result = read_in(&mut session.conn, source, sql, timeout, collector).await;
    session.end(result).await
}

async fn read_in(
    conn: &mut PgConnection,
    source: &SourceConfig,
    sql: &str,
    timeout: Duration,
    collector: &mut Collector,
) -> Result<SchemaRef, DataError> {
    check_user(conn, source.destination, timeout).await?;
    let (statement, mut reader) = RowReader::prepare(conn, sql, timeout).await?;
    let mut rows = statement.query().fetch(&mut *conn);
    while let Some(row) = rows
        .try_next()
        .await
        .map_err(|e| statement_error(e, timeout))?
    {
        reader.push(&row, timeout)?;
        // Counted as each row arrives: a few huge values must not pile up unseen.
        collector.check_room(reader.builders.held)?;
        if reader.builders.len() >= BATCH_ROWS || reader.builders.held >= BATCH_BYTES {
            collector.push(reader.take()?)?;
        }
    }
    drop(rows);
    if reader.builders.len() > 0 {
        collector.push(reader.take()?)?;
    }
    Ok(reader.schema)
}

/// A statement's rows, decoded into Arrow builders as they arrive.
struct RowReader {
    schema: SchemaRef,
    decoders: Vec<Kind>,
    builders: Builders,
}

impl RowReader {
    /// Prepares `sql` as exactly one query without parameters, whose every column
    /// Burrow can read.
    async fn prepare(
        conn: &mut PgConnection,
        sql: &str,
        timeout: Duration,
    ) -> Result<(sqlx::postgres::PgStatement<'static>, Self), DataError> {
        // One statement, parsed by the server as a prepared statement: a second one is an error.
        let statement = conn
            .prepare(sql)
            .await
            .map_err(|e| statement_error(e, timeout))?;
        if statement.parameters().is_some_and(|p| match p {
            sqlx::Either::Left(types) => !types.is_empty(),
            sqlx::Either::Right(n) => n > 0,
        }) {
            return Err(DataError::Invalid(
                "burrow: the statement has parameters ($1, …); write the values into it".into(),
            ));
        }
        if statement.columns().is_empty() {
            return Err(DataError::Refused(
                "burrow: only queries (SELECT, WITH, VALUES, TABLE) run on a data source; \
                 it is read-only"
                    .into(),
            ));
        }
        let mut fields = Vec::new();
        let mut decoders = Vec::new();
        for column in statement.columns() {
            let name = sqlx::Column::name(column);
            let kind = Kind::of(sqlx::Column::type_info(column)).ok_or_else(|| {
                DataError::Invalid(format!(
                    "burrow: column {name:?} has type {}, which Burrow cannot read from PostgreSQL \
                     yet; cast it in the query, e.g. {}::text",
                    sqlx::Column::type_info(column).name(),
                    quote_ident(name)
                ))
            })?;
            fields.push(Field::new(name, kind.data_type(), true));
            decoders.push(kind);
        }
        let schema: SchemaRef = Arc::new(Schema::new(fields));
        let builders = Builders::new(&decoders);
        Ok((
            sqlx::Statement::to_owned(&statement),
            Self {
                schema,
                decoders,
                builders,
            },
        ))
    }

    /// Decodes one row into the builders.
    fn push(&mut self, row: &sqlx::postgres::PgRow, timeout: Duration) -> Result<(), DataError> {
        for (i, kind) in self.decoders.iter().enumerate() {
            let value = row
                .try_get_raw(i)
                .map_err(|e| statement_error(e, timeout))?;
            let bytes = if value.is_null() {
                None
            } else {
                Some(value.as_bytes().map_err(|e| {
                    DataError::Internal(format!("reading column {i} of a source's row: {e}"))
                })?)
            };
            self.builders.held += bytes.map_or(1, |b| b.len() as u64 + 1);
            self.builders.push(i, *kind, bytes).map_err(|e| {
                DataError::Invalid(format!(
                    "burrow: column {:?}: {e}",
                    self.schema.field(i).name()
                ))
            })?;
        }
        Ok(())
    }

    /// The rows decoded since the last batch, as one.
    fn take(&mut self) -> Result<RecordBatch, DataError> {
        self.builders.finish(&self.schema)
    }
}

/// How a column's values are decoded from PostgreSQL's binary format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Int2,
    Int4,
    Int8,
    Oid,
    Float4,
    Float8,
    Numeric,
    Bool,
    Text,
    Jsonb,
    Uuid,
    Bytea,
    Date,
    Time,
    Timestamp,
    Timestamptz,
}

impl Kind {
    fn of(info: &PgTypeInfo) -> Option<Self> {
        if let PgTypeKind::Domain(base) = info.kind() {
            return Self::of(base);
        }
        if matches!(info.kind(), PgTypeKind::Enum(_)) {
            return Some(Self::Text);
        }
        Some(match info.oid().map(|o| o.0) {
            Some(21) => Self::Int2,
            Some(23) => Self::Int4,
            Some(20) => Self::Int8,
            Some(26) => Self::Oid,
            Some(700) => Self::Float4,
            Some(701) => Self::Float8,
            Some(1700) => Self::Numeric,
            Some(16) => Self::Bool,
            // text, varchar, bpchar, name, json, xml, unknown, void: UTF-8 as it is.
            Some(25 | 1043 | 1042 | 19 | 114 | 142 | 705 | 2278) => Self::Text,
            Some(3802) => Self::Jsonb,
            Some(2950) => Self::Uuid,
            Some(17) => Self::Bytea,
            Some(1082) => Self::Date,
            Some(1083) => Self::Time,
            Some(1114) => Self::Timestamp,
            Some(1184) => Self::Timestamptz,
            _ if info.name().eq_ignore_ascii_case("citext") => Self::Text,
            _ => return None,
        })
    }

    fn data_type(self) -> DataType {
        match self {
            Self::Int2 | Self::Int4 | Self::Int8 | Self::Oid => DataType::Int64,
            Self::Float4 | Self::Float8 | Self::Numeric => DataType::Float64,
            Self::Bool => DataType::Boolean,
            Self::Text | Self::Jsonb | Self::Uuid => DataType::Utf8,
            Self::Bytea => DataType::Binary,
            Self::Date => DataType::Date32,
            Self::Time => DataType::Time64(TimeUnit::Microsecond),
            Self::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, None),
            Self::Timestamptz => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        }
    }
}

/// Days from 1970-01-01 to PostgreSQL's epoch, 2000-01-01.
const PG_EPOCH_DAYS: i32 = 10_957;
const PG_EPOCH_MICROS: i64 = PG_EPOCH_DAYS as i64 * 86_400_000_000;

enum Builder {
    Int(Int64Builder),
    Float(Float64Builder),
    Bool(BooleanBuilder),
    Text(StringBuilder),
    Bytes(BinaryBuilder),
    Date(Date32Builder),
    Time(Time64MicrosecondBuilder),
    Timestamp(TimestampMicrosecondBuilder),
}

struct Builders {
    columns: Vec<Builder>,
    /// The bytes of the values appended since the last batch, as the server sent them.
    held: u64,
}

fn fixed<const N: usize>(bytes: &[u8]) -> Result<[u8; N], String> {
    bytes
        .try_into()
        .map_err(|_| format!("expected {N} bytes, the server sent {}", bytes.len()))
}

impl Builders {
    fn new(kinds: &[Kind]) -> Self {
        let columns = kinds
            .iter()
            .map(|k| match k {
                Kind::Int2 | Kind::Int4 | Kind::Int8 | Kind::Oid => {
                    Builder::Int(Int64Builder::new())
                }
                Kind::Float4 | Kind::Float8 | Kind::Numeric => {
                    Builder::Float(Float64Builder::new())
                }
                Kind::Bool => Builder::Bool(BooleanBuilder::new()),
                Kind::Text | Kind::Jsonb | Kind::Uuid => Builder::Text(StringBuilder::new()),
                Kind::Bytea => Builder::Bytes(BinaryBuilder::new()),
                Kind::Date => Builder::Date(Date32Builder::new()),
                Kind::Time => Builder::Time(Time64MicrosecondBuilder::new()),
                Kind::Timestamp => Builder::Timestamp(TimestampMicrosecondBuilder::new()),
                Kind::Timestamptz => {
                    Builder::Timestamp(TimestampMicrosecondBuilder::new().with_timezone("UTC"))
                }
            })
            .collect();
        Self { columns, held: 0 }
    }

    fn len(&self) -> usize {
        match self.columns.first() {
            Some(Builder::Int(b)) => b.len(),
            Some(Builder::Float(b)) => b.len(),
            Some(Builder::Bool(b)) => b.len(),
            Some(Builder::Text(b)) => b.len(),
            Some(Builder::Bytes(b)) => b.len(),
            Some(Builder::Date(b)) => b.len(),
            Some(Builder::Time(b)) => b.len(),
            Some(Builder::Timestamp(b)) => b.len(),
            None => 0,
        }
    }

    /// Appends one value (binary format), or a null.
    fn push(&mut self, i: usize, kind: Kind, bytes: Option<&[u8]>) -> Result<(), String> {
        match (&mut self.columns[i], bytes) {
            (Builder::Int(b), None) => b.append_null(),
            (Builder::Int(b), Some(v)) => b.append_value(match kind {
                Kind::Int2 => i16::from_be_bytes(fixed(v)?) as i64,
                Kind::Int4 => i32::from_be_bytes(fixed(v)?) as i64,
                Kind::Oid => u32::from_be_bytes(fixed(v)?) as i64,
                _ => i64::from_be_bytes(fixed(v)?),
            }),
            (Builder::Float(b), None) => b.append_null(),
            (Builder::Float(b), Some(v)) => b.append_value(match kind {
                Kind::Float4 => f32::from_be_bytes(fixed(v)?) as f64,
                Kind::Numeric => numeric(v)?,
                _ => f64::from_be_bytes(fixed(v)?),
            }),
            (Builder::Bool(b), None) => b.append_null(),
            (Builder::Bool(b), Some(v)) => b.append_value(fixed::<1>(v)?[0] != 0),
            (Builder::Text(b), None) => b.append_null(),
            (Builder::Text(b), Some(v)) => match kind {
                Kind::Uuid => {
                    let u: [u8; 16] = fixed(v)?;
                    let hex: String = u.iter().map(|x| format!("{x:02x}")).collect();
                    b.append_value(format!(
                        "{}-{}-{}-{}-{}",
                        &hex[0..8],
                        &hex[8..12],
                        &hex[12..16],
                        &hex[16..20],
                        &hex[20..]
                    ))
                }
                Kind::Jsonb => b.append_value(
                    std::str::from_utf8(v.get(1..).unwrap_or_default())
                        .map_err(|e| e.to_string())?,
                ),
                _ => b.append_value(std::str::from_utf8(v).map_err(|e| e.to_string())?),
            },
            (Builder::Bytes(b), None) => b.append_null(),
            (Builder::Bytes(b), Some(v)) => b.append_value(v),
            (Builder::Date(b), None) => b.append_null(),
            (Builder::Date(b), Some(v)) => match i32::from_be_bytes(fixed(v)?) {
                // ±infinity has no Arrow date.
                i32::MAX | i32::MIN => b.append_null(),
                days => b.append_value(days.saturating_add(PG_EPOCH_DAYS)),
            },
            (Builder::Time(b), None) => b.append_null(),
            (Builder::Time(b), Some(v)) => b.append_value(i64::from_be_bytes(fixed(v)?)),
            (Builder::Timestamp(b), None) => b.append_null(),
            (Builder::Timestamp(b), Some(v)) => match i64::from_be_bytes(fixed(v)?) {
                i64::MAX | i64::MIN => b.append_null(),
                micros => b.append_value(micros.saturating_add(PG_EPOCH_MICROS)),
            },
        }
        Ok(())
    }

    fn finish(&mut self, schema: &SchemaRef) -> Result<RecordBatch, DataError> {
        self.held = 0;
        let columns: Vec<ArrayRef> = self
            .columns
            .iter_mut()
            .map(|b| match b {
                Builder::Int(b) => ArrayBuilder::finish(b),
                Builder::Float(b) => ArrayBuilder::finish(b),
                Builder::Bool(b) => ArrayBuilder::finish(b),
                Builder::Text(b) => ArrayBuilder::finish(b),
                Builder::Bytes(b) => ArrayBuilder::finish(b),
                Builder::Date(b) => ArrayBuilder::finish(b),
                Builder::Time(b) => ArrayBuilder::finish(b),
                Builder::Timestamp(b) => ArrayBuilder::finish(b),
            })
            .collect();
        RecordBatch::try_new(Arc::clone(schema), columns)
            .map_err(|e| DataError::Internal(format!("assembling a source's rows: {e}")))
    }
}

/// A `numeric` in PostgreSQL's binary format (base-10000 digits) as the nearest float.
fn numeric(v: &[u8]) -> Result<f64, String> {
    let short = || "a numeric value was cut short".to_owned();
    let word = |at: usize| -> Result<u16, String> {
        v.get(at..at + 2)
            .map(|b| u16::from_be_bytes([b[0], b[1]]))
            .ok_or_else(short)
    };
    let ndigits = word(0)? as usize;
    let weight = word(2)? as i16 as i32;
    let sign = word(4)?;
    match sign {
        0xC000 => return Ok(f64::NAN),
        0xD000 => return Ok(f64::INFINITY),
        0xF000 => return Ok(f64::NEG_INFINITY),
        _ => {}
    }
    // Through text, so the float is the nearest to the decimal, as PostgreSQL's own
    // numeric-to-float8 cast gives.
    let mut text = String::with_capacity(ndigits * 4 + 8);
    if sign == 0x4000 {
        text.push('-');
    }
    text.push_str("0.");
    for d in 0..ndigits {
        text.push_str(&format!("{:04}", word(8 + 2 * d)?));
    }
    if ndigits == 0 {
        text.push('0');
    }
    text.push_str(&format!("e{}", (weight + 1) * 4));
    text.parse::<f64>().map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numeric_bytes(digits: &[u16], weight: i16, negative: bool) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&(digits.len() as u16).to_be_bytes());
        v.extend_from_slice(&weight.to_be_bytes());
        v.extend_from_slice(&(if negative { 0x4000u16 } else { 0 }).to_be_bytes());
        v.extend_from_slice(&0u16.to_be_bytes());
        for d in digits {
            v.extend_from_slice(&d.to_be_bytes());
        }
        v
    }

    #[test]
    fn numerics_become_the_nearest_float() {
        // 12345.6789 = [1, 2345, 6789] with weight 1.
        assert_eq!(
            numeric(&numeric_bytes(&[1, 2345, 6789], 1, false)).unwrap(),
            12345.6789
        );
        assert_eq!(numeric(&numeric_bytes(&[5], -1, true)).unwrap(), -0.0005);
        assert_eq!(numeric(&numeric_bytes(&[], 0, false)).unwrap(), 0.0);
        assert!(numeric(&[0, 1]).is_err());
    }

    #[test]
    fn tls_modes_round_trip_and_passwords_stay_out_of_debug() {
        for mode in TlsMode::ALL {
            assert_eq!(TlsMode::parse(mode.as_str()), Some(mode));
        }
        assert_eq!(TlsMode::parse("allow"), None);
        let source = SourceConfig {
            host: "db".into(),
            port: 5432,
            database: "d".into(),
            user: "u".into(),
            password: "s3cret-pw".into(),
            tls: TlsMode::Prefer,
            destination: false,
        };
        assert!(!format!("{source:?}").contains("s3cret"));
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
    }
}
