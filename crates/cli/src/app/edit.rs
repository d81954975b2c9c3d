//! `roster app edit`: change an app's settings (optionally only at a version); what failed is tried again; audited.

use super::settings::*;
use crate::error::CliError;
use crate::lookup::find;
use crate::serve::{DatabaseArg, open};
use roster_store::AuditAction;
use std::process::ExitCode;

pub(super) async fn run(
    name: String,
    if_version: Option<i64>,
    settings: AppSettings,
    db: DatabaseArg,
) -> Result<ExitCode, CliError> {
    let store = open(&db).await?;
    let a = find(&store, &name).await?;
    let mut cfg = config_of(&a)?;
    let secret = apply_settings(&mut cfg, &settings)?;
    if !settings.scope_groups.is_empty() {
        resolve_scope_groups(&store, &mut cfg).await?;
    }
    let mapping_changed = !settings.map.is_empty()
        || !settings.map_on_create.is_empty()
        || !settings.unmap.is_empty()
        || settings.default_mapping;
    if mapping_changed {
        let current = match &secret {
            Some(s) => Some(s.clone()),
            None => store.open_secret(&a).await.map_err(|e| e.to_string())?,
        };
        check_required_at_app(&cfg, current).await?;
    }
    let expected = if_version.unwrap_or(a.version);
    let before = audited(&config_of(&a)?)?;
    let updated = store
        .update_app(&name, &cfg.to_json()?, secret.as_ref(), expected)
        .await
        .map_err(|e| e.to_string())?;
    store
        .set_sends_password(&name, cfg.sends_password())
        .await
        .map_err(|e| e.to_string())?;
    let change = serde_json::json!({
        "before": before,
        "after": audited(&cfg)?,
        "version": updated.version,
        "credential": if secret.is_some() { "replaced" } else { "unchanged" },
    });
    let action = match (config_of(&a)?.enabled, cfg.enabled) {
        (false, true) => AuditAction::AppEnable,
        (true, false) => AuditAction::AppDisable,
        _ => AuditAction::AppEdit,
    };
    crate::actor::record(&store, action, &name, change).await?;
    eprintln!("App '{name}' is now at version {}.", updated.version);
    // The change may cure what failed: it is tried again now, not after its backoff.
    let now = roster_store::to_micros(time::OffsetDateTime::now_utc());
    let due = store
        .retry_now(&name, None, None, now)
        .await
        .map_err(|e| e.to_string())?;
    if due > 0 {
        eprintln!("{due} failed object(s) are due again now.");
    }
    if store.release_app(&name, now).await.map_err(|e| e.to_string())? {
        eprintln!("The quarantine of '{name}' is lifted: its settings changed, so roster tries it again.");
    }
    Ok(ExitCode::SUCCESS)
}
