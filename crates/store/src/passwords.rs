//! Passwords pushed by identity providers: sealed, and kept only while an app is still to receive them.
//!
//! Contract:
//! - A `password` in a written user is sealed (see [`crate::seal`]) before it is stored, and never indexed.
//! - It is kept only if some app's mapping sends passwords (`apps.sends_password`, set by whoever saves the
//!   mapping through [`Store::set_sends_password`]); otherwise nothing is kept.
//! - In the transaction that writes a new password, one `owed_passwords` row per such app records that the app is
//!   owed it (at the user's new version). The engine calls [`Store::password_delivered`] when an app has it; the
//!   row goes, and when no row is left for the user the password is dropped from the directory (without a new
//!   version: nothing a client can read changes).
//! - A write that keeps a stored password (a PUT without one, a PATCH of other attributes) keeps it only while a
//!   row is left, so a delivery that lands between such a write's read and its commit cannot leave it behind.
//! - An app that stops sending passwords, or is removed, is owed nothing; passwords nobody is owed are dropped.
//!   An app added later gets only passwords pushed after it.
//! - A user outside an app's scope stays owed until it enters the scope (a group assignment usually comes seconds
//!   after the create) or the app stops sending passwords.

use crate::{Db, Store, StoreError};
use serde_json::{Map, Value};

/// Owes a newly written password to every app that sends passwords. Binds: `$1` user id, `$2` its version.
pub(crate) const OWE_PASSWORD: &str = "INSERT INTO owed_passwords (app, source_id, version) \
     SELECT name, $1, $2 FROM apps WHERE sends_password \
     ON CONFLICT (app, source_id) DO UPDATE SET version = excluded.version";

impl Store {
    /// The statement that drops the password of the user `$1` when no app is owed it.
    pub(crate) fn drop_unowed_password_sql(&self) -> &'static str {
        match &self.db {
            Db::Sqlite(_) => {
                "UPDATE resources SET data = json_remove(data, '$.password') \
                 WHERE id = $1 AND json_extract(data, '$.password') IS NOT NULL \
                 AND NOT EXISTS (SELECT 1 FROM owed_passwords WHERE source_id = $1)"
            }
            Db::Postgres(_) => {
                "UPDATE resources SET data = data - 'password' \
                 WHERE id = $1 AND jsonb_exists(data, 'password') \
                 AND NOT EXISTS (SELECT 1 FROM owed_passwords WHERE source_id = $1)"
            }
        }
    }

    /// Prepares a resource's `password` for storage: a new one is sealed (true: the write must owe it to the
    /// apps that send passwords), or dropped when no app sends passwords or no key is at hand (PostgreSQL
    /// without a key file; said on stderr). One already sealed (a PUT or PATCH keeping the stored one) is left
    /// as it is (false).
    pub(crate) async fn seal_password(&self, data: &mut Map<String, Value>) -> bool {
        let Some(Value::String(pw)) = data.get("password") else {
            return false;
        };
        if pw.starts_with(crate::seal::PREFIX) {
            return false;
        }
        let sealed = match self.apps_take_passwords().await {
            Ok(false) => {
                data.shift_remove("password");
                return false;
            }
            Ok(true) => match self.keys().await {
                Ok(keys) => keys.current.seal(crate::seal::PASSWORD_AAD, pw),
                Err(e) => Err(e),
            },
            Err(e) => Err(e),
        };
        match sealed {
            Ok(s) => {
                data.insert("password".into(), Value::String(s));
                true
            }
            Err(e) => {
                data.shift_remove("password");
                tracing::warn!("a pushed password was not kept: {e}");
                false
            }
        }
    }

    /// Opens the sealed `password` of a resource's attributes in place, for an app whose mapping sends it; one
    /// that does not open is removed (and said), never sent sealed.
    pub async fn open_password(&self, data: &mut Map<String, Value>) {
        let Some(Value::String(stored)) = data.get("password") else {
            return;
        };
        let opened = match self.keys().await {
            Ok(keys) => keys.open(crate::seal::PASSWORD_AAD, stored),
            Err(e) => Err(e),
        };
        match opened {
            Ok(plain) => {
                data.insert("password".into(), Value::String(plain));
            }
            Err(e) => {
                data.shift_remove("password");
                tracing::warn!("a stored password could not be opened: {e}");
            }
        }
    }

    /// Whether any app's mapping sends passwords.
    async fn apps_take_passwords(&self) -> Result<bool, StoreError> {
        on_db!(self, pool => {
            let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM apps WHERE sends_password").fetch_one(pool).await?;
            Ok(n > 0)
        })
    }

    /// Records whether the app's mapping sends the user's password. An app that stops sending passwords is owed
    /// none any more, and passwords nobody is owed are dropped. Returns whether the setting changed.
    pub async fn set_sends_password(&self, app: &str, sends: bool) -> Result<bool, StoreError> {
        // Called whenever an app is loaded: a read answers the usual case (nothing to change) without a write.
        let current: Option<bool> = on_db!(self, pool => {
            sqlx::query_scalar("SELECT sends_password FROM apps WHERE name = $1").bind(app).fetch_optional(pool).await?
        });
        if current.is_none_or(|c| c == sends) {
            return Ok(false);
        }
        let _writer = self.writer().await;
        on_db!(self, pool => {
            let mut tx = pool.begin_with(self.write_begin()).await?;
            let changed = sqlx::query("UPDATE apps SET sends_password = $1 WHERE name = $2 AND sends_password <> $1")
                .bind(sends).bind(app).execute(&mut *tx).await?.rows_affected() > 0;
            if changed && !sends {
                let owed: Vec<String> = sqlx::query_scalar("DELETE FROM owed_passwords WHERE app = $1 RETURNING source_id")
                    .bind(app).fetch_all(&mut *tx).await?;
                for id in &owed {
                    sqlx::query(self.drop_unowed_password_sql()).bind(id).execute(&mut *tx).await?;
                }
            }
            tx.commit().await?;
            Ok(changed)
        })
    }

    /// The app has received the password the user `source_id` had at `version`: the app is owed it no more, and
    /// once no app is, the password is dropped from the directory. A newer password (a later version) stays owed.
    pub async fn password_delivered(
        &self,
        app: &str,
        source_id: &str,
        version: i64,
    ) -> Result<(), StoreError> {
        let _writer = self.writer().await;
        on_db!(self, pool => {
            let mut tx = pool.begin_with(self.write_begin()).await?;
            sqlx::query("DELETE FROM owed_passwords WHERE app = $1 AND source_id = $2 AND version <= $3")
                .bind(app).bind(source_id).bind(version).execute(&mut *tx).await?;
            sqlx::query(self.drop_unowed_password_sql()).bind(source_id).execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(())
        })
    }

    /// The apps still owed the user's password (oldest name first).
    pub async fn owed_password(&self, source_id: &str) -> Result<Vec<String>, StoreError> {
        on_db!(self, pool => {
            Ok(sqlx::query_scalar("SELECT app FROM owed_passwords WHERE source_id = $1 ORDER BY app")
                .bind(source_id).fetch_all(pool).await?)
        })
    }
}
