//! API tokens: the credentials identity providers (`write`), read-only clients (`read`) and consoles (`admin`)
//! present to roster. A token's secret is shown once, when it is made; roster keeps only its hash.

use crate::{Admin, AdminError};
use roster_store::{AuditAction, Scope, TokenInfo};
use serde_json::json;

impl Admin {
    /// Makes a token and returns its secret, which nobody can read again. Audited (the scope, never the secret).
    pub async fn create_token(&self, name: &str, scope: Scope) -> Result<String, AdminError> {
        let secret = self.store().create_token(name, scope).await?;
        self.audit(AuditAction::TokenCreate, name, json!({"scope": scope.as_str()}))
            .await?;
        Ok(secret)
    }

    /// Every token (names, scopes, creation and last use; never the secrets).
    pub async fn tokens(&self) -> Result<Vec<TokenInfo>, AdminError> {
        Ok(self.store().list_tokens().await?)
    }

    /// Revokes a token: every roster process refuses it within seconds. Audited.
    pub async fn revoke_token(&self, name: &str) -> Result<(), AdminError> {
        if !self.store().revoke_token(name).await? {
            return Err(AdminError::not_found(format!(
                "no token named '{name}'; see 'roster token list'"
            )));
        }
        self.audit(AuditAction::TokenRevoke, name, json!({})).await
    }
}
