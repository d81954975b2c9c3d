//! `roster app edit`: change an app's settings (optionally only at a version); what failed is tried again; audited.

use super::settings::{AppSettings, apply_settings, note_schema_check};
use crate::error::CliError;
use crate::serve::DatabaseArg;
use std::process::ExitCode;

pub(super) async fn run(
    name: String,
    if_version: Option<i64>,
    settings: AppSettings,
    db: DatabaseArg,
) -> Result<ExitCode, CliError> {
    let admin = crate::serve::admin(&db).await?;
    let mut cfg = roster_admin::apps::config_of(&admin.app(&name).await?)?;
    let secret = apply_settings(&mut cfg, &settings)?;
    let edited = admin.edit_app(&name, cfg, secret, if_version).await?;
    note_schema_check(&edited.schema);
    eprintln!("App '{name}' is now at version {}.", edited.version);
    if edited.due > 0 {
        eprintln!("{} failed object(s) are due again now.", edited.due);
    }
    if edited.released {
        eprintln!("The quarantine of '{name}' is lifted: its settings changed, so roster tries it again.");
    }
    Ok(ExitCode::SUCCESS)
}
