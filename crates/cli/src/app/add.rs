//! `roster app add`: connect an app, its settings checked and its credential sealed; audited.

use super::settings::{AppSettings, apply_settings, check_admin, note_schema_check};
use crate::error::CliError;
use crate::serve::DatabaseArg;
use roster_engine::config::AppConfig;
use std::process::ExitCode;

pub(super) async fn run(name: String, settings: AppSettings, db: DatabaseArg) -> Result<ExitCode, CliError> {
    let mut cfg = if settings.google_key_file.is_some() || settings.google_admin.is_some() {
        let (Some(_), Some(admin)) = (&settings.google_key_file, &settings.google_admin) else {
            return Err("a Google Workspace app needs --google-key-file (the service account's JSON key) and --google-admin (the super admin it acts as)"
                    .into());
        };
        AppConfig::google(check_admin(admin)?)
    } else {
        let url = settings.scim_url.clone().ok_or(
                "--scim-url is required: the app's SCIM base URL (or, for Google Workspace, --google-key-file and --google-admin)",
            )?;
        if settings.token_file.is_none() {
            return Err(
                "--token-file is required: a file holding the app's token (or OAuth2 client secret)".into(),
            );
        }
        AppConfig::new(url)
    };
    let secret = apply_settings(&mut cfg, &settings)?;
    let added = crate::serve::admin(&db)
        .await?
        .add_app(&name, cfg, secret)
        .await?;
    note_schema_check(&added.schema);
    let cfg = added.config;
    eprintln!(
        "App '{name}' added. Check it with: roster app test {name}; see the plan with: roster sync {name} --full --dry-run. {}",
        match (cfg.enabled, cfg.reconcile_every_hours) {
            (_, 0) => "Run the initial sync with roster sync --full (the schedule is off).",
            (true, _) =>
                "A running roster serve starts the initial sync now (add the app with --enabled false to look at the plan first).",
            (false, _) =>
                "A running roster serve starts the initial sync once the app is enabled (roster app edit --enabled true).",
        }
    );
    Ok(ExitCode::SUCCESS)
}
