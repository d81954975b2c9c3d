//! # roster-admin
//!
//! The operations an admin performs on roster, written once: the CLI (`roster retry`, `roster approve`,
//! `roster app add|edit|remove|test|preview|release`, `roster sync`, `roster provision`, `roster client …`, `roster token …`,
//! `roster log`) and the admin API (`/api/v1`) are thin shells over these calls.
//! Each returns a typed result or an [`AdminError`] (a kind the shell turns into an exit code or an HTTP
//! status, a roster code, a message that says what to fix), and each change is written to the audit log in the
//! name of the [`Admin`]'s actor (`os:USER` for the CLI, `token:NAME` for the API).
//!
//! | module | operations |
//! |---|---|
//! | [`apps`] | add, edit and remove apps: checked (target, credential, scope groups, mapping against the app's schemas) before they are stored |
//! | [`checks`] | `roster app test` as a typed report: each check a value the shell says in its language |
//! | [`provision`] | one user and one app: provisioned now with its trace, or previewed (the body, the plan) |
//! | [`sync`] | an app synced now (what changed, or every user), or its plan; events while it runs, a typed summary |
//! | [`queue`] | retry failed objects now; list, approve or discard the deprovisions the guard held |
//! | [`health`] | release an app's quarantine; the clients (API tokens) pushing into roster and their inbound quarantine |
//! | [`log`] | an app's provisioning log, filtered; the names objects go by now |
//! | [`tokens`] | create (the secret shown once), list and revoke API tokens |
//!
//! **Must never import** `roster-server` or the CLI (its shells), nor print or exit: what to say and how to end is
//! the shell's. It uses the engine (an app's settings, its mapping, a client for its target) and the store.

pub mod apps;
pub mod checks;
pub mod error;
pub mod health;
pub mod log;
pub mod provision;
pub mod queue;
pub mod sync;
pub mod tokens;

pub use error::{AdminError, Failure};
pub use log::LogFilter;
pub use sync::{SyncEvent, SyncRequest, SyncSummary};

use roster_store::{AppRecord, AuditAction, Store};
use serde_json::Value;

/// An admin acting on roster's database.
#[derive(Debug, Clone)]
pub struct Admin {
    store: Store,
    actor: String,
}

impl Admin {
    /// `actor` acting on `store`; the audit log names the actor (`os:alice`, `token:console`).
    pub fn new(store: Store, actor: impl Into<String>) -> Self {
        Self {
            store,
            actor: actor.into(),
        }
    }

    /// The database.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Who acts.
    pub fn actor(&self) -> &str {
        &self.actor
    }

    /// The app named `name`.
    pub async fn app(&self, name: &str) -> Result<AppRecord, AdminError> {
        self.store
            .find_app(name)
            .await?
            .ok_or_else(|| AdminError::not_found(format!("no app named '{name}'; see roster app list")))
    }

    /// Appends the action, done already, to the audit log; a log that cannot be written is an error all the same,
    /// so the admin knows the record is missing.
    async fn audit(&self, action: AuditAction, target: &str, change: Value) -> Result<(), AdminError> {
        self.store
            .record_audit(&self.actor, action, target, &change)
            .await
            .map_err(|e| {
                let mut err = AdminError::from(e);
                err.message = format!("done, but the audit log could not be written: {}", err.message);
                err
            })
    }
}

/// The time now, in microseconds since the epoch.
fn now() -> i64 {
    roster_store::to_micros(time::OffsetDateTime::now_utc())
}
