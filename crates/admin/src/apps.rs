//! Apps as an admin changes them: added, edited, removed. Each is checked before it is stored (the target's
//! address and credential, the scope groups, the mapping against what the app requires) and audited with its
//! settings, never its credential.

use crate::{Admin, AdminError, Failure, now};
use roster_codes::{self as codes, Code};
use roster_engine::config::{AppConfig, TargetConfig};
use roster_engine::mapping;
use roster_store::{AuditAction, Secret, StoreError};
use serde_json::{Value, json};
use std::time::Duration;

/// What asking the app for its schemas (to check the mapping covers what it requires) came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SchemaCheck {
    /// The app's schemas were read, and the mapping maps everything they require.
    Checked,
    /// Not asked: the mapping did not change, or the app's kind has fixed attributes (Google Workspace).
    NotAsked,
    /// The app could not be asked now (its code and what happened); `roster app test` checks it later.
    Unreachable {
        /// The failure's code.
        code: &'static Code,
        /// What happened.
        message: String,
    },
    /// The app did not answer within five seconds; `roster app test` checks it later.
    TimedOut,
}

/// What [`Admin::add_app`] did.
#[derive(Debug, Clone)]
pub struct Added {
    /// The app's settings as stored (scope groups by id).
    pub config: AppConfig,
    /// The schema check.
    pub schema: SchemaCheck,
}

/// What [`Admin::edit_app`] did.
#[derive(Debug, Clone)]
pub struct Edited {
    /// The app's new version.
    pub version: i64,
    /// The schema check (only when the mapping changed).
    pub schema: SchemaCheck,
    /// Failed objects due again now: the change may cure them.
    pub due: u64,
    /// Whether a quarantine was lifted: the settings changed, so roster tries the app again.
    pub released: bool,
}

/// The settings as the audit log and `app show` give them: the URL's credentials redacted.
pub fn audited(cfg: &AppConfig) -> Result<Value, AdminError> {
    let mut v = cfg
        .to_json()
        .map_err(|m| AdminError::with_code(Failure::Store, &codes::INTERNAL, m))?;
    if let Some(u) = v.pointer_mut("/target/url") {
        *u = Value::String(roster_store::redact_url(cfg.target.url()));
    }
    Ok(v)
}

/// An app's stored settings.
pub fn config_of(record: &roster_store::AppRecord) -> Result<AppConfig, AdminError> {
    AppConfig::from_json(&record.config)
        .map_err(|m| AdminError::with_code(Failure::Store, &codes::INTERNAL, m))
}

/// Settings as a request gives them (the admin API's body): the stored form, every field known. A field roster
/// does not know is refused by its path (`guards.max_deprovison`), so a typo does not leave a setting at its
/// default unnoticed.
pub fn settings_from_json(v: Value) -> Result<AppConfig, AdminError> {
    let mut unknown = Vec::new();
    let cfg: AppConfig = serde_ignored::deserialize(v, |path| unknown.push(path.to_string()))
        .map_err(|e| AdminError::invalid(format!("the settings are not valid: {e}")))?;
    if !unknown.is_empty() {
        return Err(AdminError::invalid(format!(
            "unknown setting(s): {}; GET /api/v1/apps/NAME shows the settings an app has",
            unknown.join(", ")
        )));
    }
    Ok(cfg)
}

/// The app's name and its settings as [`audited`] gives them, with the version an edit names.
pub fn shown(record: &roster_store::AppRecord) -> Result<Value, AdminError> {
    Ok(json!({
        "name": record.name,
        "version": record.version,
        "settings": audited(&config_of(record)?)?,
    }))
}

impl Admin {
    /// Adds an app with `cfg` and its credential: the target's address and credential are checked, the scope groups
    /// stored by id (each must exist), and the mapping checked against what the app's schemas require (asked once,
    /// for five seconds at most). Audited.
    pub async fn add_app(
        &self,
        name: &str,
        mut cfg: AppConfig,
        secret: Option<Secret>,
    ) -> Result<Added, AdminError> {
        cfg.connector(secret.clone()).map_err(AdminError::invalid)?;
        self.resolve_scope_groups(&mut cfg).await?;
        let schema = check_required_at_app(&cfg, secret.clone()).await?;
        self.store()
            .create_app(name, &json_of(&cfg)?, secret.as_ref())
            .await?;
        self.store()
            .set_sends_password(name, cfg.sends_password())
            .await?;
        let credential = if secret.is_some() { "set" } else { "none" };
        self.audit(
            AuditAction::AppAdd,
            name,
            json!({"after": audited(&cfg)?, "credential": credential}),
        )
        .await?;
        Ok(Added { config: cfg, schema })
    }

    /// Replaces an app's settings with `cfg` (and its credential with `secret`, when given), only if the app is
    /// still at `expected` (its current version when `None`). Changed scope groups are stored by id, a changed
    /// mapping is checked against the app's schemas; then what failed is due again and a quarantine lifted.
    /// Audited (`app.enable`/`app.disable` when that is what changed).
    pub async fn edit_app(
        &self,
        name: &str,
        mut cfg: AppConfig,
        secret: Option<Secret>,
        expected: Option<i64>,
    ) -> Result<Edited, AdminError> {
        let record = self.app(name).await?;
        let before = config_of(&record)?;
        if cfg.scope.groups != before.scope.groups {
            self.resolve_scope_groups(&mut cfg).await?;
        }
        let schema = if cfg.effective_mapping() == before.effective_mapping() && cfg.target == before.target {
            SchemaCheck::NotAsked
        } else {
            let current = match &secret {
                Some(s) => Some(s.clone()),
                None => self.store().open_secret(&record).await?,
            };
            check_required_at_app(&cfg, current).await?
        };
        let expected = expected.unwrap_or(record.version);
        let updated = self
            .store()
            .update_app(name, &json_of(&cfg)?, secret.as_ref(), expected)
            .await?;
        self.store()
            .set_sends_password(name, cfg.sends_password())
            .await?;
        let action = match (before.enabled, cfg.enabled) {
            (false, true) => AuditAction::AppEnable,
            (true, false) => AuditAction::AppDisable,
            _ => AuditAction::AppEdit,
        };
        let credential = if secret.is_some() { "replaced" } else { "unchanged" };
        self.audit(
            action,
            name,
            json!({"before": audited(&before)?, "after": audited(&cfg)?, "version": updated.version,
                   "credential": credential}),
        )
        .await?;
        let now = now();
        let due = self.store().retry_now(name, None, None, now).await?;
        let released = self.store().release_app(name, now).await?;
        Ok(Edited {
            version: updated.version,
            schema,
            due,
            released,
        })
    }

    /// Removes an app with its links, queue and log; its accounts in the app are left as they are. Audited with
    /// the settings it had.
    pub async fn remove_app(&self, name: &str) -> Result<(), AdminError> {
        let before = self.app(name).await.ok().map(|a| config_of(&a)).transpose()?;
        if !self.store().delete_app(name).await? {
            return Err(AdminError::not_found(format!(
                "no app named '{name}'; see roster app list"
            )));
        }
        let before = before.as_ref().map(audited).transpose()?.unwrap_or(Value::Null);
        self.audit(AuditAction::AppRemove, name, json!({"before": before}))
            .await
    }

    /// Stores the scope groups by id: each is given by id or displayName, and must exist, so a rename in the
    /// directory keeps the scope and a typo is refused now rather than stopping the app later.
    async fn resolve_scope_groups(&self, cfg: &mut AppConfig) -> Result<(), AdminError> {
        let mut ids = Vec::with_capacity(cfg.scope.groups.len());
        for g in &cfg.scope.groups {
            match self.store().resolve_group(g).await {
                Ok(Some(id)) => ids.push(id),
                Ok(None) => {
                    return Err(AdminError::with_code(
                        Failure::NotFound,
                        &codes::SCOPE_GROUP_MISSING,
                        format!(
                            "no group '{g}' in the directory. Name an existing group (by displayName or id), or \
                             create it first (roster import, or your identity provider)"
                        ),
                    ));
                }
                Err(StoreError::Scim(e)) => {
                    return Err(AdminError::with_code(
                        Failure::Invalid,
                        &codes::SCOPE_GROUP_MISSING,
                        e.detail,
                    ));
                }
                Err(e) => return Err(e.into()),
            }
        }
        cfg.scope.groups = ids;
        Ok(())
    }
}

fn json_of(cfg: &AppConfig) -> Result<Value, AdminError> {
    cfg.to_json()
        .map_err(|m| AdminError::with_code(Failure::Store, &codes::INTERNAL, m))
}

/// Every attribute the app's own `/Schemas` marks required must be mapped, or every create would fail at the app.
/// The app is asked once, for five seconds at most; one that cannot be asked now is left to `roster app test`.
/// Google Workspace apps have fixed attributes instead.
async fn check_required_at_app(cfg: &AppConfig, secret: Option<Secret>) -> Result<SchemaCheck, AdminError> {
    if let TargetConfig::Google { .. } = cfg.target {
        return Ok(SchemaCheck::NotAsked);
    }
    let Ok(client) = cfg.connector(secret) else {
        return Ok(SchemaCheck::NotAsked);
    };
    match tokio::time::timeout(Duration::from_secs(5), client.discover()).await {
        Ok(Ok(d)) => {
            let missing =
                mapping::missing_required(&cfg.effective_mapping(), mapping::USER_SCHEMA, &d.definitions);
            match missing.first() {
                Some(attr) => Err(AdminError::with_code(
                    Failure::Invalid,
                    &codes::MAPPING_INVALID,
                    format!(
                        "the app's schema requires '{attr}' and no rule maps it, so every create would fail: add \
                         one, for example --map '{attr}={attr}'"
                    ),
                )),
                None => Ok(SchemaCheck::Checked),
            }
        }
        Ok(Err(e)) => Ok(SchemaCheck::Unreachable {
            code: e.code,
            message: e.message,
        }),
        Err(_) => Ok(SchemaCheck::TimedOut),
    }
}
