//! `roster app preview`: the exact payload roster would send for a user.

use super::settings::*;
use crate::error::CliError;
use crate::lookup::{find, find_user, sync_user};
use crate::serve::{DatabaseArg, open};
use roster_engine::codes;
use roster_engine::sync::AppRuntime;
use roster_store::ResourceKind;
use std::process::ExitCode;

pub(super) async fn run(name: String, user: String, db: DatabaseArg) -> Result<ExitCode, CliError> {
    let store = open(&db).await?;
    find(&store, &name).await?;
    let app = AppRuntime::load(&store, &name).await.map_err(|e| e.to_string())?;
    let id = find_user(&store, &user).await?;
    let r = sync_user(&store, &app, &id, false, true).await?;
    match &r.action {
        roster_engine::plan::Action::Create { payload } => out!("{}", wire(&app, payload)?),
        _ => {
            let resource = store
                .get_resource(ResourceKind::User, &id)
                .await
                .map_err(|e| e.to_string())?;
            match app.source(
                resource
                    .map(|r| {
                        let mut d = r.data;
                        d.insert("id".into(), r.id.into());
                        serde_json::Value::Object(d)
                    })
                    .as_ref(),
            ) {
                roster_engine::plan::Source::InScope { create, .. } => {
                    out!("{}", wire(&app, &create)?)
                }
                _ => {
                    return Err(format!(
                        "user '{user}' is not in the scope of app '{name}': nothing would be sent"
                    )
                    .into());
                }
            }
        }
    }
    eprintln!("plan: {}", r.action);
    let problems = mapping_problems(&app.config.effective_mapping(), &[]);
    for p in &problems {
        eprintln!("FAIL  {}: {p}", codes::MAPPING_INVALID.code);
    }
    if !problems.is_empty() {
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

/// The body roster would send to create the account, as shown to a person (see
/// `Connector::create_body_shown`).
pub(super) fn wire(
    app: &AppRuntime,
    payload: &serde_json::Map<String, serde_json::Value>,
) -> Result<String, String> {
    pretty(&app.client.create_body_shown(ResourceKind::User, payload)?)
}

pub(super) fn pretty(v: &serde_json::Value) -> Result<String, String> {
    serde_json::to_string_pretty(v).map_err(|e| format!("the payload cannot be printed: {e}"))
}
