//! `roster app remove`: an app with its links, queue and log (its accounts are left as they are); audited.

use super::settings::*;
use crate::error::CliError;
use crate::lookup::find;
use crate::serve::{DatabaseArg, open};
use roster_store::AuditAction;
use std::process::ExitCode;

pub(super) async fn run(name: String, db: DatabaseArg) -> Result<ExitCode, CliError> {
    let store = open(&db).await?;
    let before = find(&store, &name)
        .await
        .ok()
        .map(|a| config_of(&a))
        .transpose()?;
    if !store.delete_app(&name).await.map_err(|e| e.to_string())? {
        return Err(format!("no app named '{name}'; see roster app list").into());
    }
    let before = before
        .as_ref()
        .map(audited)
        .transpose()?
        .unwrap_or(serde_json::Value::Null);
    crate::actor::record(
        &store,
        AuditAction::AppRemove,
        &name,
        serde_json::json!({"before": before}),
    )
    .await?;
    eprintln!("App '{name}' removed; its accounts in the app were left as they are.");
    Ok(ExitCode::SUCCESS)
}
