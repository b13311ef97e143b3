//! A test "warehouse": a fresh PostgreSQL database on the server `make test` started,
//! with a table of events and a SELECT-only user, as an owner would prepare a source.

use sqlx::{Connection, Executor};

use crate::PgDatabase;

/// A database to add as a data source, and the users that can connect to it.
#[derive(Debug)]
pub struct Warehouse {
    pub db: PgDatabase,
    pub host: String,
    pub port: u16,
    /// A user with SELECT on `public.events` and nothing else.
    pub reader: String,
    pub reader_password: String,
    /// A user that may also insert into `public.events`.
    pub writer: String,
}

impl Warehouse {
    /// Makes the database, `public.events` with three rows, and the users. User names
    /// are unique per warehouse: roles belong to the whole server.
    pub async fn create() -> Self {
        let db = PgDatabase::create().await;
        let url = url::Url::parse(&db.url).unwrap();
        let suffix = db.name.trim_start_matches("burrow_test_").to_owned();
        let warehouse = Self {
            host: url.host_str().unwrap().to_owned(),
            port: url.port().unwrap_or(5432),
            reader: format!("reader_{suffix}"),
            reader_password: format!("pw-{}", burrow_core::ids::new_id("secret")),
            writer: format!("writer_{suffix}"),
            db,
        };
        let mut admin = warehouse.admin().await;
        let setup = format!(
            "CREATE TABLE public.events (id integer PRIMARY KEY, kind text NOT NULL, \
               amount numeric(10, 2), at timestamptz, ok boolean, day date, tags text[]); \
             INSERT INTO public.events VALUES \
               (1, 'signup', 0, '2026-11-01 10:00:00+00', true, '2026-11-01', '{{a,b}}'), \
               (2, 'purchase', 19.99, '2026-11-02 11:30:00+00', true, '2026-11-02', NULL), \
               (3, 'purchase', 5.25, NULL, false, NULL, '{{c}}'); \
             ANALYZE public.events; \
             CREATE ROLE {r} LOGIN PASSWORD '{p}'; \
             GRANT CONNECT ON DATABASE {d} TO {r}; \
             GRANT USAGE ON SCHEMA public TO {r}; \
             GRANT SELECT ON public.events TO {r}; \
             REVOKE CREATE ON SCHEMA public FROM PUBLIC; \
             CREATE ROLE {w} LOGIN PASSWORD 'writer-pw'; \
             GRANT SELECT, INSERT ON public.events TO {w};",
            r = warehouse.reader,
            p = warehouse.reader_password,
            d = warehouse.db.name,
            w = warehouse.writer,
        );
        admin.execute(sqlx::raw_sql(&setup)).await.unwrap();
        admin.close().await.ok();
        warehouse
    }

    /// A superuser's connection to the warehouse database.
    pub async fn admin(&self) -> sqlx::PgConnection {
        sqlx::PgConnection::connect(&self.db.url).await.unwrap()
    }

    /// Runs SQL as a superuser on the warehouse database.
    pub async fn admin_sql(&self, sql: &str) {
        let mut admin = self.admin().await;
        admin.execute(sqlx::raw_sql(sql)).await.unwrap();
        admin.close().await.ok();
    }

    /// The JSON body that adds this warehouse as source `name`, connecting as the reader.
    pub fn source_json(&self, name: &str) -> serde_json::Value {
        serde_json::json!({
            "name": name,
            "host": self.host,
            "port": self.port,
            "database": self.db.name,
            "user": self.reader,
            "password": self.reader_password,
            "tls_mode": "disable",
        })
    }
}
