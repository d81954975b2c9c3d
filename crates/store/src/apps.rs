//! Connected apps (provisioning targets): their settings with a version, and their credential kept apart from
//! the settings so no listing, log or error ever carries it.

use crate::{Store, StoreError, from_micros, to_micros};
use roster_scim::{ErrorKind, ScimError};
use serde_json::Value;
use time::OffsetDateTime;

pub use roster_codes::redact::Secret;

/// A credential as stored: sealed (module `seal`), opened only by [`Store::open_secret`]. Its `Debug`
/// shows nothing of it.
#[derive(Clone, PartialEq, Eq)]
pub struct Sealed(pub(crate) String);

impl std::fmt::Debug for Sealed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealed(***)")
    }
}

/// What [`Store::rotate_secret_key`] did.
#[derive(Debug, Clone)]
pub struct RotateReport {
    /// The key file, now holding the new key.
    pub path: std::path::PathBuf,
    /// The old key's id.
    pub old_id: String,
    /// The new key's id.
    pub new_id: String,
    /// How many credentials were sealed anew.
    pub resealed: usize,
    /// Whether this finished a rotation that an earlier run began (its new key file was there).
    pub resumed: bool,
}

/// A stored app.
#[derive(Debug, Clone)]
pub struct AppRecord {
    /// The app's name (unique).
    pub name: String,
    /// The app's settings as JSON (the engine owns their shape).
    pub config: Value,
    /// The credential, sealed, if one is set.
    pub secret: Option<Sealed>,
    /// Increases with every change.
    pub version: i64,
    /// When the app was added.
    pub created: OffsetDateTime,
    /// When it last changed.
    pub updated: OffsetDateTime,
}

impl AppRecord {
    /// The scope groups its settings name (group ids; names in settings stored before groups were kept by id).
    pub fn scope_groups(&self) -> Vec<String> {
        self.config
            .pointer("/scope/groups")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|g| g.as_str().map(str::to_owned))
            .collect()
    }
}

type AppRow = (String, String, Option<String>, i64, i64, i64);

fn app_from_row(row: AppRow) -> Result<AppRecord, StoreError> {
    let (name, config, secret, version, created, updated) = row;
    let config = serde_json::from_str(&config)
        .map_err(|e| StoreError::Corrupt(format!("settings of app '{name}': {e}")))?;
    Ok(AppRecord {
        config,
        secret: secret.map(Sealed),
        version,
        created: from_micros(created)?,
        updated: from_micros(updated)?,
        name,
    })
}

impl Store {
    /// Adds an app at version 1; its journal cursor starts at the journal's current end (the initial full sync
    /// covers what came before). 409 `uniqueness` if the name is taken.
    pub async fn create_app(
        &self,
        name: &str,
        config: &Value,
        secret: Option<&Secret>,
    ) -> Result<AppRecord, StoreError> {
        let sealed = self.seal_secret(name, secret).await?;
        let _writer = self.writer().await;
        let now = to_micros(OffsetDateTime::now_utc());
        on_db!(self, pool => {
            let mut tx = pool.begin_with(self.write_begin()).await?;
            sqlx::query("INSERT INTO apps (name, config, secret, version, created, updated) VALUES ($1, $2, $3, 1, $4, $4)")
                .bind(name)
                .bind(config.to_string())
                .bind(sealed.as_deref())
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(|e| match &e {
                    sqlx::Error::Database(db) if db.is_unique_violation() => {
                        StoreError::Scim(ScimError::uniqueness(format!("an app named '{name}' already exists")))
                    }
                    _ => StoreError::Db(e),
                })?;
            sqlx::query("INSERT INTO app_cursors (app, seq) SELECT $1, COALESCE(MAX(seq), 0) FROM journal")
                .bind(name)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        });
        self.find_app(name)
            .await?
            .ok_or_else(|| StoreError::Corrupt(format!("app '{name}' vanished after create")))
    }

    /// An app by name.
    pub async fn find_app(&self, name: &str) -> Result<Option<AppRecord>, StoreError> {
        on_db!(self, pool => {
            let row: Option<AppRow> = sqlx::query_as("SELECT name, config, secret, version, created, updated FROM apps WHERE name = $1").bind(name).fetch_optional(pool).await?;
            row.map(app_from_row).transpose()
        })
    }

    /// All apps, by name.
    pub async fn list_apps(&self) -> Result<Vec<AppRecord>, StoreError> {
        on_db!(self, pool => {
            let rows: Vec<AppRow> = sqlx::query_as("SELECT name, config, secret, version, created, updated FROM apps ORDER BY name").fetch_all(pool).await?;
            rows.into_iter().map(app_from_row).collect()
        })
    }

    /// Changes an app's settings (and its credential when `secret` is given), only if it is still at
    /// `expected_version`: otherwise 412, because someone else changed it in between and their change must not
    /// be overwritten silently.
    pub async fn update_app(
        &self,
        name: &str,
        config: &Value,
        secret: Option<&Secret>,
        expected_version: i64,
    ) -> Result<AppRecord, StoreError> {
        let sealed = self.seal_secret(name, secret).await?;
        let _writer = self.writer().await;
        let now = to_micros(OffsetDateTime::now_utc());
        let done = on_db!(self, pool => {
            sqlx::query(
                "UPDATE apps SET config = $1, secret = COALESCE($2, secret), version = version + 1, updated = $3 \
                 WHERE name = $4 AND version = $5",
            )
            .bind(config.to_string())
            .bind(sealed.as_deref())
            .bind(now)
            .bind(name)
            .bind(expected_version)
            .execute(pool)
            .await?
            .rows_affected()
        });
        if done != 1 {
            let current = self.find_app(name).await?;
            return Err(match current {
                None => ScimError::not_found(format!("no app named '{name}'")).into(),
                Some(app) => ScimError::new(
                    ErrorKind::PreconditionFailed,
                    format!(
                        "app '{name}' was changed by someone else (it is at version {}, this change was made \
                         against version {expected_version}); look at it again and redo the change",
                        app.version
                    ),
                )
                .into(),
            });
        }
        self.find_app(name)
            .await?
            .ok_or_else(|| StoreError::Corrupt(format!("app '{name}' vanished after update")))
    }

    /// Removes an app with its links, queue, cursor (cascade), log and claims on pushed passwords. Returns whether
    /// it existed.
    pub async fn delete_app(&self, name: &str) -> Result<bool, StoreError> {
        let _writer = self.writer().await;
        on_db!(self, pool => {
            let mut tx = pool.begin_with(self.write_begin()).await?;
            sqlx::query("DELETE FROM provisioning_log WHERE app = $1").bind(name).execute(&mut *tx).await?;
            let owed: Vec<String> = sqlx::query_scalar("DELETE FROM owed_passwords WHERE app = $1 RETURNING source_id")
                .bind(name).fetch_all(&mut *tx).await?;
            let n = sqlx::query("DELETE FROM apps WHERE name = $1").bind(name).execute(&mut *tx).await?.rows_affected();
            // Passwords only this app was owed have no reason to stay.
            for id in &owed {
                sqlx::query(self.drop_unowed_password_sql()).bind(id).execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok(n == 1)
        })
    }

    /// Claims the next full reconcile of an app when one is due: none has finished yet, or the last one started
    /// `interval` or more before `now`, and no other run holds the lease. Returns whether the caller runs it; the
    /// lease lasts until `now + lease`.
    pub async fn claim_reconcile(
        &self,
        app: &str,
        now: i64,
        interval: i64,
        lease: i64,
    ) -> Result<bool, StoreError> {
        let _writer = self.writer().await;
        on_db!(self, pool => {
            let n = sqlx::query(
                "UPDATE app_cursors SET reconcile_lease = $1 WHERE app = $2 \
                 AND (reconcile_done IS NULL OR reconcile_done <= $3) AND (reconcile_lease IS NULL OR reconcile_lease < $4)",
            )
            .bind(now + lease).bind(app).bind(now - interval).bind(now)
            .execute(pool).await?.rows_affected();
            Ok(n == 1)
        })
    }

    /// Records a finished full reconcile that started at `started`, and releases the lease.
    pub async fn finish_reconcile(&self, app: &str, started: i64) -> Result<(), StoreError> {
        let _writer = self.writer().await;
        on_db!(self, pool => {
            sqlx::query("UPDATE app_cursors SET reconcile_done = $1, reconcile_lease = NULL WHERE app = $2")
                .bind(started).bind(app).execute(pool).await?;
            Ok(())
        })
    }

    /// When the last full reconcile of an app started, if one finished.
    pub async fn last_reconcile(&self, app: &str) -> Result<Option<i64>, StoreError> {
        on_db!(self, pool => {
            let row: Option<(Option<i64>,)> = sqlx::query_as("SELECT reconcile_done FROM app_cursors WHERE app = $1")
                .bind(app).fetch_optional(pool).await?;
            Ok(row.and_then(|r| r.0))
        })
    }

    /// How far `app` has read the journal.
    pub async fn app_cursor(&self, app: &str) -> Result<i64, StoreError> {
        on_db!(self, pool => {
            let row: Option<(i64,)> = sqlx::query_as("SELECT seq FROM app_cursors WHERE app = $1")
                .bind(app).fetch_optional(pool).await?;
            row.map(|r| r.0).ok_or_else(|| ScimError::not_found(format!("no app named '{app}'")).into())
        })
    }
}
