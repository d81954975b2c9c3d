//! Quarantines as an admin ends them: an app's (outbound: its requests failed) and a client's (inbound: the
//! requests of an identity provider's token kept failing by its own mistake).

use crate::{Admin, AdminError, now};
use roster_store::{AuditAction, ClientHealth, ClientListing};

impl Admin {
    /// Ends an app's quarantine: roster syncs it again, pending changes kept. `false` when it was not
    /// quarantined (nothing is audited then).
    pub async fn release_app(&self, app: &str) -> Result<bool, AdminError> {
        self.app(app).await?;
        let released = self.store().release_app(app, now()).await?;
        if released {
            self.audit(AuditAction::AppRelease, app, serde_json::json!({}))
                .await?;
        }
        Ok(released)
    }

    /// Every client (API token) and its inbound quarantine state.
    pub async fn clients(&self) -> Result<Vec<ClientListing>, AdminError> {
        Ok(self.store().list_clients().await?)
    }

    /// One client.
    pub async fn client(&self, name: &str) -> Result<ClientListing, AdminError> {
        self.clients()
            .await?
            .into_iter()
            .find(|c| c.name == name)
            .ok_or_else(|| AdminError::not_found(format!("no client named '{name}'; see roster client list")))
    }

    /// Ends a client's refusal and probation now; returns the client as it was. The store writes the audit
    /// entry (`client.release`) in the same transaction.
    pub async fn release_client(&self, name: &str) -> Result<ClientHealth, AdminError> {
        self.store()
            .release_client(name, now(), self.actor())
            .await?
            .ok_or_else(|| {
                AdminError::not_found(format!(
                    "client '{name}' has sent no requests, so there is nothing to release; see roster client list"
                ))
            })
    }
}
