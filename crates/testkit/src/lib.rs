//! Test support shared by roster's crates (dev-only): a store on each backend (SQLite in a temporary directory,
//! PostgreSQL in a schema of its own) and roster's own SCIM server running on a loopback port as a target.
//! A dev-dependency only: no crate's library code may import it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test support: a failed unwrap is a failed test

pub mod faults;
pub mod google;
pub use faults::{Fault, FaultKind, FaultTarget, Seen, Storm};
pub use google::GoogleTarget;

use roster_server::{AppState, ServerConfig};
use roster_store::{Scope, Store};
use sqlx::Connection;

/// The PostgreSQL URL tests use: `ROSTER_TEST_POSTGRES_URL`, default `postgres://postgres@127.0.0.1:5432/test`.
pub fn pg_admin_url() -> String {
    std::env::var("ROSTER_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// Stores on each backend. Without a reachable PostgreSQL its half is skipped with a loud message, except under
/// `CI=true`, where that fails the test.
#[derive(Debug)]
pub struct Backends {
    sqlite_dir: tempfile::TempDir,
    pg_schema: Option<String>,
}

impl Backends {
    /// Opens a fresh store on each backend: `[("sqlite", store), ("postgres", store)]`.
    pub async fn open() -> (Self, Vec<(&'static str, Store)>) {
        let dir = tempfile::tempdir().unwrap();
        let sqlite = Store::connect(&format!("sqlite://{}", dir.path().join("roster.db").display()))
            .await
            .unwrap();
        let mut stores = vec![("sqlite", sqlite)];
        let mut pg_schema = None;
        if let Some((url, schema)) = pg_schema_url().await {
            let key = dir.path().join("postgres.key");
            stores.push((
                "postgres",
                Store::connect_with_key(&url, Some(&key)).await.unwrap(),
            ));
            pg_schema = Some(schema);
        }
        (
            Self {
                sqlite_dir: dir,
                pg_schema,
            },
            stores,
        )
    }

    /// Closes the stores and drops the PostgreSQL schema.
    pub async fn close(self, stores: Vec<(&'static str, Store)>) {
        for (_, s) in &stores {
            s.close().await;
        }
        if let Some(schema) = self.pg_schema {
            drop_schema(&schema).await;
        }
        drop(self.sqlite_dir);
    }

    /// The SQLite database file.
    pub fn sqlite_path(&self) -> std::path::PathBuf {
        self.sqlite_dir.path().join("roster.db")
    }
}

/// Runs `body` once per backend with `store` bound to that backend's fresh store and `backend` to its label
/// (`"sqlite"`, `"postgres"`).
#[macro_export]
macro_rules! on_every_backend {
    (|$store:ident, $backend:ident| $body:block) => {{
        let (backends, stores) = $crate::Backends::open().await;
        for ($backend, $store) in stores.iter() {
            let $store: &roster_store::Store = $store;
            let $backend: &str = $backend;
            eprintln!("-- on {}", $backend);
            $body
        }
        backends.close(stores).await;
    }};
}

/// Every resource of a type in a store (up to 10,000), oldest first.
pub async fn all(store: &Store, kind: roster_store::ResourceKind) -> Vec<roster_store::StoredResource> {
    let q = roster_store::ListQuery {
        limit: 10_000,
        ..roster_store::ListQuery::default()
    };
    store.list_resources(kind, &q).await.unwrap().resources
}

/// A new schema in the test database and a URL whose connections use it; `None` (after a loud message) when
/// PostgreSQL is unreachable outside CI.
pub async fn pg_schema_url() -> Option<(String, String)> {
    let admin = pg_admin_url();
    match sqlx::PgConnection::connect(&admin).await {
        Ok(mut conn) => {
            drop_stale_schemas(&mut conn).await;
            // Extensions are per database: install pg_trgm once in `public`, so a test schema's migration finds it
            // there and never installs it inside a schema that the test drops (which would take the extension,
            // and other schemas' indexes on it, along). Concurrent test processes may race here; the loser's error
            // is harmless.
            let _ = sqlx::query("CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public")
                .execute(&mut conn)
                .await;
            let schema = format!("t_{}", uuid::Uuid::now_v7().simple());
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
                .execute(&mut conn)
                .await
                .unwrap();
            let sep = if admin.contains('?') { '&' } else { '?' };
            Some((format!("{admin}{sep}options=-c%20search_path%3D{schema}"), schema))
        }
        Err(e) => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "CI=true but PostgreSQL at {admin} is unreachable: {e}"
            );
            eprintln!("\n*** SKIPPING the PostgreSQL half of this test: {admin} is unreachable ({e}). ***\n");
            None
        }
    }
}

/// Drops a schema made by [`pg_schema_url`].
pub async fn drop_schema(schema: &str) {
    let mut conn = sqlx::PgConnection::connect(&pg_admin_url()).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
        .execute(&mut conn)
        .await
        .unwrap();
}

/// Drops test schemas left by failed runs (a panicking test skips its cleanup). Their names carry a UUIDv7,
/// whose first 48 bits are the creation time in milliseconds; anything older than an hour is stale.
async fn drop_stale_schemas(conn: &mut sqlx::PgConnection) {
    let names: Vec<(String,)> = sqlx::query_as(
        "SELECT schema_name::text FROM information_schema.schemata WHERE schema_name LIKE 't\\_%'",
    )
    .fetch_all(&mut *conn)
    .await
    .unwrap();
    let now_ms = u64::try_from(time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000).unwrap();
    for (name,) in names {
        let Some(ms) = name.get(2..14).and_then(|h| u64::from_str_radix(h, 16).ok()) else {
            continue;
        };
        if now_ms.saturating_sub(ms) > 3_600_000 {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP SCHEMA IF EXISTS {name} CASCADE"
            )))
            .execute(&mut *conn)
            .await
            .unwrap();
        }
    }
}

/// roster's own SCIM server on a loopback port, with its own SQLite directory: a real SCIM target.
#[derive(Debug)]
pub struct Target {
    /// The SCIM base URL (`http://127.0.0.1:PORT/scim/v2`).
    pub url: String,
    /// A write token for it.
    pub token: String,
    /// Its directory, to look at what arrived.
    pub store: Store,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
    _dir: tempfile::TempDir,
}

impl Target {
    /// Starts a target.
    pub async fn spawn() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::connect(&format!("sqlite://{}", dir.path().join("target.db").display()))
            .await
            .unwrap();
        let token = store.create_token("roster", Scope::Write).await.unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/scim/v2", listener.local_addr().unwrap());
        let state = AppState::new(store.clone(), ServerConfig::new(url.clone()));
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            roster_server::run(listener, state, async {
                let _ = rx.await;
            })
            .await
            .unwrap();
        });
        Self {
            url,
            token,
            store,
            shutdown: Some(tx),
            task: Some(task),
            _dir: dir,
        }
    }

    /// Makes the target keep the passwords pushed to it (as a directory does while an app of its own is owed
    /// them), so a test can open what arrived.
    pub async fn keep_passwords(&self) {
        self.store
            .create_app("relay", &serde_json::json!({}), None)
            .await
            .unwrap();
        self.store.set_sends_password("relay", true).await.unwrap();
    }

    /// Stops the server and waits for it.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.task.take() {
            t.await.unwrap();
        }
    }
}
