//! # roster-store
//!
//! roster's directory on SQLite (the embedded default) or PostgreSQL (several roster processes sharing one
//! database). It stores SCIM resources as canonical JSON plus the columns that lookups need, group memberships
//! as one row per member, the change journal (appended in the same transaction as every write), and API tokens
//! (hashed).
//!
//! **Must never import** `roster-connect`, `roster-engine`, `roster-server` or the CLI: it stores what they
//! decide (apps, links, the queue, the provisioning log) without knowing how a target is reached or a request
//! served. It speaks SCIM through `roster-scim` and names codes through `roster-codes`.
//!
//! Both backends run the same code: SQL is written once with `$n` placeholders (which SQLite accepts too) and
//! the crate-private `on_db!` macro expands each query for the pool type in use. Backend differences live in the two
//! migration folders (`JSONB`/`BIGSERIAL` on PostgreSQL).
//!
//! | module | owns |
//! |---|---|
//! | [`directory`] | resources (create, get, replace, delete with versions), memberships, derived `groups`, journal |
//! | [`query`] | listing: SCIM filters translated to SQL, sorting, paging |
//! | [`tokens`] | API tokens: create (shown once), verify, list, revoke |
//! | [`apps`] | connected apps: versioned settings, credentials kept apart, journal cursors |
//! | [`links`] | which target account belongs to which directory object, and what was last pushed |
//! | [`queue`] | objects waiting to be synced: durable rows with generations and leases |
//! | [`provlog`] | the provisioning log |
//! | [`scan`] | keyset scans and group expansion for the engine |
//! | [`import`] | `roster import`: users and groups from CSV or JSON into the directory, idempotently (inbound work, like the SCIM server's) |
//! | `wake` | PostgreSQL: other processes woken by this one's directory writes (LISTEN, and announcements after commit) |
//! | `combine` | group commit: concurrent single creates, sync records and enqueues written together |

/// Runs `$body` with `$pool` bound to the concrete pool of `$store`, once per backend type.
macro_rules! on_db {
    ($store:expr, $pool:ident => $body:expr) => {
        match &$store.db {
            $crate::Db::Sqlite($pool) => $body,
            $crate::Db::Postgres($pool) => $body,
        }
    };
}

pub mod apps;
pub mod audit;
pub mod clients;
mod combine;
pub mod directory;
pub mod health;
pub mod import;
pub mod links;
mod passwords;
pub mod provlog;
pub mod query;
pub mod queue;
mod readers;
pub mod scan;
pub mod seal;
pub mod state;
pub mod statistics;
pub mod tokens;
mod wake;

use roster_scim::ScimError;
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use std::str::FromStr;
use std::time::Duration;

pub use apps::{AppRecord, RotateReport, Sealed};
pub use audit::{AuditAction, AuditEntry};
pub use clients::{ClientCounts, ClientHealth, ClientListing, ClientPolicy, ClientState};
pub use directory::{
    JournalEntry, JournalOp, Member, MemberChange, Related, ResourceKind, StoredResource, StoredText,
};
pub use health::AppHealth;
pub use links::{Link, LinkChange, LinkState};
pub use provlog::{LogEntry, LogQuery, Outcome};
pub use query::{ListQuery, Page, Position};
pub use queue::{Hold, QueueItem};
pub use roster_codes::redact::{Secret, redact_url};
pub use seal::KeySource;
pub use tokens::{Scope, TokenInfo};

/// Store failures: a SCIM error for the client (conflict, not found, precondition) or a database error, whose
/// text is for the operator's log and never for a client.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The client's request cannot be applied.
    #[error("{0}")]
    Scim(#[from] ScimError),
    /// The database failed.
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    /// A stored value could not be read back.
    #[error("corrupt stored data: {0}")]
    Corrupt(String),
    /// A read on one of SQLite's in-place reader connections failed.
    #[error("database error: {0}")]
    Read(String),
    /// The key that seals credentials is missing, unreadable or not the one the values need.
    #[error("{0}")]
    SecretKey(String),
    /// A database file could not be created or protected.
    #[error("{0}")]
    File(String),
    /// The database server could not be reached when the store was opened.
    #[error("{0}")]
    Connect(String),
}

/// Which database a store runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite file.
    Sqlite,
    /// PostgreSQL server.
    Postgres,
}

#[derive(Debug, Clone)]
pub(crate) enum Db {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// The directory store. Cheap to clone (it holds a connection pool).
#[derive(Debug, Clone)]
pub struct Store {
    pub(crate) db: Db,
    /// Recently verified tokens, by the SHA-256 of the secret (see [`tokens`]).
    pub(crate) token_cache: std::sync::Arc<std::sync::Mutex<tokens::TokenCache>>,
    /// Woken after every directory write in this process (the engine's event source).
    pub(crate) changes: std::sync::Arc<tokio::sync::Notify>,
    /// SQLite allows one writer at a time; writers of this process queue here instead of colliding on the
    /// database lock, where SQLite's busy handler would make them sleep and retry.
    pub(crate) write_lock: std::sync::Arc<tokio::sync::Mutex<()>>,
    /// PostgreSQL: the task that turns other processes' change notifications into wake-ups of [`Self::changes`];
    /// stopped when the last clone of the store goes.
    pub(crate) listener: Option<std::sync::Arc<AbortOnDrop>>,
    /// PostgreSQL: announces this process's directory writes to the others ([`wake`]).
    pub(crate) announcer: Option<std::sync::Arc<wake::Announcer>>,
    /// Single creates waiting to be written together ([`combine`]).
    pub(crate) creates:
        std::sync::Arc<combine::Combiner<directory::PendingCreate, Result<StoredResource, StoreError>>>,
    /// The engine's sync records waiting to be written together ([`combine`]).
    pub(crate) records: std::sync::Arc<combine::Combiner<links::SyncRecord, Result<(), StoreError>>>,
    /// Lone enqueues waiting to be written together ([`combine`]).
    pub(crate) enqueues: std::sync::Arc<combine::Combiner<queue::PendingEnqueue, Result<(), StoreError>>>,
    /// SQLite file: connections for short reads on the calling thread ([`readers`]).
    pub(crate) readers: Option<std::sync::Arc<readers::Readers>>,
    /// Where the key that seals credentials comes from, and the keys once loaded ([`seal`]).
    pub(crate) keys: std::sync::Arc<(
        seal::KeySource,
        tokio::sync::Mutex<Option<std::sync::Arc<seal::Keys>>>,
    )>,
}

/// Makes a SQLite database file readable and writable by its owner only: created so if it does not exist,
/// narrowed if it is open to others (its `-wal` and `-shm` files, which SQLite creates with the database's
/// permissions, too).
fn owner_only(path: &std::path::Path) -> Result<(), StoreError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
        let fail = |e: std::io::Error| {
            let folder = path.parent().filter(|p| !p.as_os_str().is_empty());
            match folder {
                Some(dir) if !dir.exists() => StoreError::File(format!(
                    "cannot create the database file {}: the folder {} does not exist; create it, or give \
                     another --database",
                    path.display(),
                    dir.display()
                )),
                _ => StoreError::File(format!("cannot create the database file {}: {e}", path.display())),
            }
        };
        if !path.exists() {
            std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(false)
                .mode(0o600)
                .open(path)
                .map_err(fail)?;
        }
        for suffix in ["", "-wal", "-shm"] {
            let mut name = path.as_os_str().to_owned();
            name.push(suffix);
            let file = std::path::PathBuf::from(name);
            if let Ok(meta) = std::fs::metadata(&file)
                && meta.permissions().mode() & 0o077 != 0
            {
                std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).map_err(|e| {
                    StoreError::File(format!(
                        "cannot make {} readable by its owner only: {e}",
                        file.display()
                    ))
                })?;
            }
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// Aborts a background task when dropped.
#[derive(Debug)]
pub(crate) struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Store {
    /// Connects to `url` and runs the migrations. `sqlite://PATH` (created if missing; `sqlite::memory:` for a
    /// private in-memory database) or `postgres://…`.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::connect_with_key(url, None).await
    }

    /// [`Self::connect`], with credentials sealed under the key in `key_file` (made there if it does not exist
    /// and nothing is sealed yet). Without one, a SQLite file's key is `<database>.key` beside it; PostgreSQL
    /// needs one as soon as a credential is stored or read.
    pub async fn connect_with_key(url: &str, key_file: Option<&std::path::Path>) -> Result<Self, StoreError> {
        let mut readers = None;
        let mut key_source = seal::KeySource::Missing;
        let db = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let mut opts = sqlx::postgres::PgConnectOptions::from_str(url)?;
            // PostgreSQL compiles a statement whose estimated cost passes `jit_above_cost` before running it: 12 to
            // 50 ms each time for a page's derived groups, whose plan (index probes, 1.3 ms) is costed as large
            // while its array's size is known. roster's statements are short; a URL that sets `jit` decides.
            if !opts.get_options().is_some_and(|o| o.contains("jit")) {
                opts = opts.options([("jit", "off")]);
            }
            let pool = PgPoolOptions::new()
                .max_connections(16)
                .acquire_timeout(Duration::from_secs(10))
                .connect_with(opts)
                .await
                .map_err(|e| match e {
                    sqlx::Error::PoolTimedOut => StoreError::Connect(
                        "no connection within 10 s: is PostgreSQL running and reachable at that host and port?"
                            .into(),
                    ),
                    other => StoreError::Db(other),
                })?;
            Db::Postgres(pool)
        } else if url.starts_with("sqlite:") {
            let opts = SqliteConnectOptions::from_str(url)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(10));
            // An in-memory database exists per connection: keep exactly one, and no readers of its own.
            let memory = url.contains(":memory:") || url.contains("mode=memory");
            if memory {
                key_source = seal::KeySource::Ephemeral;
            } else {
                owner_only(opts.get_filename())?;
                readers = Some(std::sync::Arc::new(readers::Readers::new(opts.get_filename())));
                key_source = seal::KeySource::Beside(seal::beside(opts.get_filename()));
            }
            Db::Sqlite(
                SqlitePoolOptions::new()
                    .max_connections(if memory { 1 } else { 8 })
                    .connect_with(opts)
                    .await?,
            )
        } else {
            return Err(StoreError::Scim(ScimError::invalid_value(format!(
                "unsupported database URL '{}': use sqlite://PATH or postgres://…",
                redact_url(url)
            ))));
        };
        let mut store = Self {
            db,
            token_cache: Default::default(),
            changes: Default::default(),
            write_lock: Default::default(),
            listener: None,
            announcer: None,
            creates: Default::default(),
            records: Default::default(),
            enqueues: Default::default(),
            readers,
            keys: std::sync::Arc::new((
                match key_file {
                    Some(f) => seal::KeySource::File(f.to_owned()),
                    None => key_source,
                },
                tokio::sync::Mutex::new(None),
            )),
        };
        store.migrate().await?;
        store.rekey_user_names().await?;
        store.seal_plain_secrets().await?;
        if store.keeps_own_statistics().await? {
            tracing::warn!(
                "PostgreSQL's autovacuum is off: roster analyses the directory's tables itself (`roster serve` \
                 every minute, `roster import` as it loads); the rest of this database is left as it is"
            );
        }
        if let Db::Postgres(pool) = &store.db {
            let channel = wake::channel(pool).await?;
            let task = wake::listen(url, &channel, store.changes.clone()).await?;
            store.listener = Some(std::sync::Arc::new(task));
            store.announcer = Some(std::sync::Arc::new(wake::Announcer::start(url, channel)));
        }
        Ok(store)
    }

    /// Applies pending migrations for the backend.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        match &self.db {
            Db::Sqlite(p) => sqlx::migrate!("./migrations/sqlite").run(p).await,
            Db::Postgres(p) => sqlx::migrate!("./migrations/postgres").run(p).await,
        }
        .map_err(|e| StoreError::Db(e.into()))
    }

    /// Once per database: recomputes `user_name_lc` of users whose userName is not ASCII in its identity form
    /// ([`name_key`]; it used to be plain lower case). Two stored users that are one identity under the new form
    /// cannot both have it: the later keeps its old key, and the pair is said on stderr so an admin can merge them.
    async fn rekey_user_names(&self) -> Result<(), StoreError> {
        const MARK: &str = "user_name_identity_key";
        let _writer = self.writer().await;
        on_db!(self, pool => {
            let done: Option<(String,)> = sqlx::query_as("SELECT name FROM store_marks WHERE name = $1")
                .bind(MARK).fetch_optional(pool).await?;
            if done.is_some() {
                return Ok(());
            }
            let non_ascii = match &self.db {
                Db::Sqlite(_) => "SELECT id, user_name_lc FROM resources WHERE resource_type = 'User' \
                                  AND user_name_lc GLOB '*[^ -~]*' ORDER BY created, id",
                Db::Postgres(_) => "SELECT id, user_name_lc FROM resources WHERE resource_type = 'User' \
                                    AND user_name_lc ~ '[^ -~]' ORDER BY created, id",
            };
            let rows: Vec<(String, String)> = sqlx::query_as(non_ascii).fetch_all(pool).await?;
            let mut tx = pool.begin_with(self.write_begin()).await?;
            for (id, old) in rows {
                let data: Option<(String,)> = sqlx::query_as("SELECT CAST(data AS TEXT) FROM resources WHERE id = $1")
                    .bind(&id).fetch_optional(&mut *tx).await?;
                let Some(user_name) = data
                    .and_then(|(d,)| serde_json::from_str::<serde_json::Value>(&d).ok())
                    .and_then(|d| d.get("userName").and_then(serde_json::Value::as_str).map(str::to_owned))
                else {
                    continue;
                };
                let key = name_key(ResourceKind::User, &user_name);
                if key == old {
                    continue;
                }
                let taken: Option<(String,)> = sqlx::query_as(
                    "SELECT id FROM resources WHERE resource_type = 'User' AND user_name_lc = $1 AND id <> $2",
                )
                .bind(&key).bind(&id).fetch_optional(&mut *tx).await?;
                if let Some((other,)) = taken {
                    eprintln!(
                        "roster: users {other} and {id} are one identity ('{user_name}' in another Unicode spelling); \
                         {id} keeps matching apart until one of them is renamed or removed"
                    );
                    continue;
                }
                sqlx::query("UPDATE resources SET user_name_lc = $1 WHERE id = $2")
                    .bind(&key).bind(&id).execute(&mut *tx).await?;
            }
            sqlx::query("INSERT INTO store_marks (name) VALUES ($1) ON CONFLICT (name) DO NOTHING")
                .bind(MARK).execute(&mut *tx).await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// Notified after every directory write this process commits, and on PostgreSQL after every directory write
    /// or app change any process commits (LISTEN/NOTIFY): the provisioning engine waits on it instead of polling.
    /// On SQLite, other processes' writes are seen at the engine's next poll.
    pub fn changes(&self) -> std::sync::Arc<tokio::sync::Notify> {
        self.changes.clone()
    }

    /// After a directory write commits: wakes this process's waiters on [`Self::changes`] and, on PostgreSQL,
    /// announces the write to the other processes ([`wake`]).
    pub(crate) fn directory_changed(&self) {
        self.changes.notify_waiters();
        if let Some(a) = &self.announcer {
            a.announce();
        }
    }

    /// Which backend this store uses.
    pub fn backend(&self) -> Backend {
        match self.db {
            Db::Sqlite(_) => Backend::Sqlite,
            Db::Postgres(_) => Backend::Postgres,
        }
    }

    /// The statement that opens a write transaction. SQLite takes the write lock up front (`BEGIN IMMEDIATE`):
    /// a deferred transaction that reads and then writes cannot upgrade its lock once another writer has
    /// committed, and fails at once with "database is locked" instead of waiting.
    pub(crate) fn write_begin(&self) -> &'static str {
        match self.db {
            Db::Sqlite(_) => "BEGIN IMMEDIATE",
            Db::Postgres(_) => "BEGIN",
        }
    }

    /// Waits for this process's turn to write (SQLite); PostgreSQL writers need no turn. Store methods that write
    /// take it first and never call another writing method while holding it.
    pub(crate) async fn writer(&self) -> Option<tokio::sync::MutexGuard<'_, ()>> {
        match self.db {
            Db::Sqlite(_) => Some(self.write_lock.lock().await),
            Db::Postgres(_) => None,
        }
    }

    /// Checks that the database answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        on_db!(self, p => sqlx::query("SELECT 1").execute(p).await.map(|_| ()))?;
        Ok(())
    }

    /// Closes the pool, waiting for connections to be returned; on PostgreSQL first announces the last directory
    /// writes to other processes if that is still to be done.
    pub async fn close(&self) {
        if let Some(a) = &self.announcer {
            a.flush().await;
        }
        on_db!(self, p => p.close().await)
    }
}

/// Whether a statement that names `values` values in an `IN` list is kept prepared. PostgreSQL switches a kept
/// statement to a generic plan after five runs and keeps it; a generic plan chosen while a table was small (a
/// scan) stays as the table grows, which made an import of 20,000 users 4–5 × slower and a reconcile 2.3 ×
/// (`bench/grouppush.sh`, BENCHMARKS). A batch statement (more than 50 values) is planned with its values at
/// each run instead: its planning is small beside the rows it reads; a small one stays prepared, as the read
/// path wants.
pub(crate) fn keep_prepared(values: usize) -> bool {
    values <= 50
}

/// The form a resource's name is compared in: a User's `userName` as an identity (width, case and Unicode
/// composition aside: `roster_scim::value::identity_key`), a Group's `displayName` lower-cased. What the
/// `user_name_lc` and `display_name_lc` columns hold.
pub fn name_key(kind: ResourceKind, name: &str) -> String {
    match kind {
        ResourceKind::User => roster_scim::value::identity_key(name),
        ResourceKind::Group => name.to_lowercase(),
    }
}

/// Microseconds since the epoch, the stored time unit (also the queue's clock).
pub fn to_micros(t: time::OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1000) as i64
}

/// The time `us` microseconds after the epoch (an error when out of range).
pub fn from_micros(us: i64) -> Result<time::OffsetDateTime, StoreError> {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(us) * 1000)
        .map_err(|e| StoreError::Corrupt(format!("time {us}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn micros_round_trip() {
        let t = time::macros::datetime!(2024-02-29 12:34:56.123456 UTC);
        assert_eq!(from_micros(to_micros(t)).unwrap(), t);
    }

    /// roster's PostgreSQL connections run without JIT compilation, unless the URL says otherwise.
    #[tokio::test]
    async fn postgres_connections_run_without_jit() {
        let Some((url, schema)) = roster_testkit::pg_schema_url().await else {
            return;
        };
        let jit = |store: Store| async move {
            let Db::Postgres(pool) = &store.db else {
                unreachable!("a PostgreSQL URL")
            };
            let jit: String = sqlx::query_scalar("SHOW jit").fetch_one(pool).await.unwrap();
            store.close().await;
            jit
        };
        assert_eq!(jit(Store::connect(&url).await.unwrap()).await, "off");
        let on = format!("{url}%20-c%20jit%3Don");
        assert_eq!(jit(Store::connect(&on).await.unwrap()).await, "on");
        roster_testkit::drop_schema(&schema).await;
    }
}
