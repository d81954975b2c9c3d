//! The audit log: every admin action, append-only (migration 0011: the database itself refuses to change or
//! remove an entry). An entry says when, who (an admin token's name, or `os:USER` for the command line), what
//! ([`AuditAction`]), on what (an app, a token, a file), and the change as JSON (before/after, counts), which
//! callers build without secrets.

use crate::{Store, StoreError, from_micros, to_micros};
use serde_json::Value;
use time::OffsetDateTime;

/// What an admin did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuditAction {
    /// An API token was created.
    TokenCreate,
    /// An API token was revoked.
    TokenRevoke,
    /// An app was connected.
    AppAdd,
    /// An app's settings (or credential) changed, its being enabled aside.
    AppEdit,
    /// An app was enabled (with whatever else the same edit changed).
    AppEnable,
    /// An app was disabled (with whatever else the same edit changed).
    AppDisable,
    /// An app was removed.
    AppRemove,
    /// A quarantined app was released.
    AppRelease,
    /// Held deprovisions were approved.
    Approve,
    /// Held deprovisions were discarded.
    Discard,
    /// A file was imported into the directory.
    Import,
    /// A sync was started by hand.
    Sync,
    /// One user was provisioned by hand.
    Provision,
    /// The key that seals credentials was replaced.
    SecretRotate,
    /// Failed objects were made due at once.
    Retry,
    /// A client (API token) whose requests kept failing was refused for a while (by roster itself).
    ClientQuarantine,
    /// A client's probation ended without errors (by roster itself).
    ClientRecover,
    /// A client's quarantine was ended by hand.
    ClientRelease,
}

impl AuditAction {
    /// Every action.
    pub const ALL: [Self; 18] = [
        Self::TokenCreate,
        Self::TokenRevoke,
        Self::AppAdd,
        Self::AppEdit,
        Self::AppEnable,
        Self::AppDisable,
        Self::AppRemove,
        Self::AppRelease,
        Self::Approve,
        Self::Discard,
        Self::Import,
        Self::Sync,
        Self::Provision,
        Self::SecretRotate,
        Self::Retry,
        Self::ClientQuarantine,
        Self::ClientRecover,
        Self::ClientRelease,
    ];

    /// The stored name (`app.add`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::TokenCreate => "token.create",
            Self::TokenRevoke => "token.revoke",
            Self::AppAdd => "app.add",
            Self::AppEdit => "app.edit",
            Self::AppEnable => "app.enable",
            Self::AppDisable => "app.disable",
            Self::AppRemove => "app.remove",
            Self::AppRelease => "app.release",
            Self::Approve => "approve",
            Self::Discard => "discard",
            Self::Import => "import",
            Self::Sync => "sync",
            Self::Provision => "provision",
            Self::SecretRotate => "secrets.rotate",
            Self::Retry => "retry",
            Self::ClientQuarantine => "client.quarantine",
            Self::ClientRecover => "client.recover",
            Self::ClientRelease => "client.release",
        }
    }

    /// The action a stored name stands for.
    pub fn from_name(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == s)
    }
}

/// One entry of the audit log.
#[derive(Debug, Clone)]
pub struct AuditEntry {
    /// Its place in the log.
    pub seq: i64,
    /// When.
    pub at: OffsetDateTime,
    /// Who: an admin token's name, or `os:USER` for the command line.
    pub actor: String,
    /// What.
    pub action: AuditAction,
    /// On what: an app's or token's name, a file.
    pub target: String,
    /// The change (before/after without secrets, counts).
    pub change: Value,
}

type AuditRow = (i64, i64, String, String, String, String);

impl Store {
    /// Appends an entry to the audit log.
    pub async fn record_audit(
        &self,
        actor: &str,
        action: AuditAction,
        target: &str,
        change: &Value,
    ) -> Result<(), StoreError> {
        let _writer = self.writer().await;
        let now = to_micros(OffsetDateTime::now_utc());
        on_db!(self, pool => {
            sqlx::query("INSERT INTO audit_log (at, actor, action, target, change) VALUES ($1, $2, $3, $4, $5)")
                .bind(now)
                .bind(actor)
                .bind(action.as_str())
                .bind(target)
                .bind(change.to_string())
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// The audit log from `since` on (everything without it), oldest first, at most `limit` entries.
    pub async fn list_audit(
        &self,
        since: Option<OffsetDateTime>,
        limit: i64,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        let since = since.map_or(i64::MIN, to_micros);
        let rows: Vec<AuditRow> = on_db!(self, pool => {
            sqlx::query_as(
                "SELECT seq, at, actor, action, target, change FROM audit_log WHERE at >= $1 ORDER BY seq LIMIT $2",
            )
            .bind(since)
            .bind(limit)
            .fetch_all(pool)
            .await?
        });
        rows.into_iter()
            .map(|(seq, at, actor, action, target, change)| {
                Ok(AuditEntry {
                    seq,
                    at: from_micros(at)?,
                    action: AuditAction::from_name(&action).ok_or_else(|| {
                        StoreError::Corrupt(format!("audit entry {seq}: unknown action '{action}'"))
                    })?,
                    change: serde_json::from_str(&change)
                        .map_err(|e| StoreError::Corrupt(format!("audit entry {seq}: {e}")))?,
                    actor,
                    target,
                })
            })
            .collect()
    }
}
