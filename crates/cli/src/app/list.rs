//! `roster app list`: every app with its state, links and pending work.

use super::settings::config_of;
use crate::error::CliError;
use crate::serve::{DatabaseArg, open};
use roster_store::ResourceKind;
use roster_store::redact_url;
use std::process::ExitCode;

pub(super) async fn run(format: crate::output::Format, db: DatabaseArg) -> Result<ExitCode, CliError> {
    let store = open(&db).await?;
    let apps = store.list_apps().await.map_err(|e| e.to_string())?;
    if apps.is_empty() && matches!(format, crate::output::Format::Table) {
        eprintln!("No apps. Connect one with: roster app add NAME --scim-url URL --token-file FILE");
    }
    match format {
        crate::output::Format::Table => out!(
            "{:<20} {:<8} {:<19} {:>7} {:>8} URL",
            "NAME",
            "ENABLED",
            "STATE",
            "LINKED",
            "PENDING"
        ),
        crate::output::Format::Csv => out!("name,enabled,state,version,linked,pending,url"),
        crate::output::Format::Json => {}
    }
    let now = roster_store::to_micros(time::OffsetDateTime::now_utc());
    for a in apps {
        let cfg = config_of(&a)?;
        let (active, disabled) = store
            .count_links(&a.name, ResourceKind::User)
            .await
            .map_err(|e| e.to_string())?;
        let pending = store.count_pending(&a.name).await.map_err(|e| e.to_string())?;
        let state = roster_store::state::app_state(&store, &a.name, &cfg.scope.groups, now)
            .await
            .map_err(|e| e.to_string())?;
        let url = redact_url(cfg.target.url());
        match format {
            crate::output::Format::Table => out!(
                "{:<20} {:<8} {:<19} {:>7} {:>8} {url}",
                a.name,
                cfg.enabled,
                state.kind.as_str(),
                active + disabled,
                pending,
            ),
            crate::output::Format::Csv => out!(
                "{},{},{},{},{},{pending},{}",
                crate::output::csv_field(&a.name),
                cfg.enabled,
                state.kind.as_str(),
                a.version,
                active + disabled,
                crate::output::csv_field(&url)
            ),
            crate::output::Format::Json => out!(
                "{}",
                serde_json::json!({"name": a.name, "enabled": cfg.enabled, "version": a.version,
                        "state": roster_store::state::state_json(&state), "linked": active + disabled, "pending": pending, "url": url})
            ),
        }
    }
    Ok(ExitCode::SUCCESS)
}
