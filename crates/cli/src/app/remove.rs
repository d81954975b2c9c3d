//! `roster app remove`: an app with its links, queue and log (its accounts are left as they are); audited.

use crate::error::CliError;
use crate::serve::DatabaseArg;
use std::process::ExitCode;

pub(super) async fn run(name: String, db: DatabaseArg) -> Result<ExitCode, CliError> {
    crate::serve::admin(&db).await?.remove_app(&name).await?;
    eprintln!("App '{name}' removed; its accounts in the app were left as they are.");
    Ok(ExitCode::SUCCESS)
}
