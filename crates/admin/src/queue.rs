//! An app's queue, as an admin acts on it: failed objects retried now, and the deprovisions the guard held
//! listed, approved or discarded.

use crate::{Admin, AdminError, now};
use roster_store::{AuditAction, Hold, ResourceKind};
use serde_json::json;

/// What [`Admin::retry`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retried {
    /// Objects now due.
    pub due: u64,
    /// The app's quarantine code when it is quarantined: nothing is sent until it is released.
    pub quarantined: Option<String>,
}

/// A deprovision the guard held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    /// User or Group.
    pub kind: ResourceKind,
    /// The directory id.
    pub id: String,
    /// Its userName or displayName, when it still exists.
    pub name: Option<String>,
    /// Why it is held.
    pub reason: String,
}

impl Admin {
    /// Makes an app's failed objects due now with their attempts counted afresh: all of them, those failed with
    /// `code`, or `object` (a userName, a group's displayName or an id). Quarantine is left to
    /// [`Admin::release_app`]. Audited.
    pub async fn retry(
        &self,
        app: &str,
        code: Option<&str>,
        object: Option<&str>,
    ) -> Result<Retried, AdminError> {
        self.app(app).await?;
        if let Some(c) = code
            && roster_codes::find(c).is_none()
        {
            return Err(AdminError::invalid(format!(
                "'{c}' is not a roster code; roster log {app} --failures shows the codes of what failed"
            )));
        }
        let found = match object {
            Some(o) => Some(self.store().find_named(o).await?.ok_or_else(|| {
                AdminError::not_found(format!(
                    "no user or group '{o}' in the directory (a userName, a group's displayName or an id)"
                ))
            })?),
            None => None,
        };
        let now = now();
        let due = self
            .store()
            .retry_now(app, code, found.as_ref().map(|(k, id)| (*k, id.as_str())), now)
            .await?;
        self.audit(
            AuditAction::Retry,
            app,
            json!({"code": code, "object": object, "due": due}),
        )
        .await?;
        let health = self.store().app_health(app).await?;
        Ok(Retried {
            due,
            quarantined: health.quarantined(now).then(|| health.code.unwrap_or_default()),
        })
    }

    /// The deprovisions the guard holds for an app, with the names of their objects.
    pub async fn held(&self, app: &str) -> Result<Vec<Held>, AdminError> {
        self.app(app).await?;
        let items = self.store().list_held(app, 1_000_000).await?;
        let mut names = self
            .names(items.iter().map(|q| (q.kind, q.source_id.as_str())))
            .await?;
        Ok(items
            .into_iter()
            .map(|q| Held {
                name: names.remove(&(q.kind, q.source_id.clone())),
                reason: q.last_error.unwrap_or_else(|| "held".into()),
                kind: q.kind,
                id: q.source_id,
            })
            .collect())
    }

    /// Lets the held deprovisions of an app through: a running `roster serve` carries them out now. Returns how
    /// many. Audited.
    pub async fn approve(&self, app: &str) -> Result<u64, AdminError> {
        self.app(app).await?;
        let n = self
            .store()
            .set_holds(app, &[Hold::Check, Hold::AwaitingApproval], Hold::Approved, now())
            .await?;
        self.audit(AuditAction::Approve, app, json!({"count": n})).await?;
        Ok(n)
    }

    /// Drops the held deprovisions of an app: the accounts stay as they are, and the same deprovision is not held
    /// again until the object changes or comes back into scope. Returns how many. Audited.
    pub async fn discard(&self, app: &str) -> Result<u64, AdminError> {
        self.app(app).await?;
        let n = self.store().discard_held(app).await?;
        self.audit(AuditAction::Discard, app, json!({"count": n})).await?;
        Ok(n)
    }
}
