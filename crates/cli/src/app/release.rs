//! `roster app release`: end an app's quarantine now, through `roster_admin`.

use crate::error::CliError;
use crate::serve::DatabaseArg;
use std::process::ExitCode;

pub(super) async fn run(name: String, db: DatabaseArg) -> Result<ExitCode, CliError> {
    let admin = crate::serve::admin(&db).await?;
    if admin.release_app(&name).await? {
        eprintln!("Released {name}: roster syncs it again (pending changes were kept).");
    } else {
        eprintln!("{name} is not quarantined; nothing to release.");
    }
    Ok(ExitCode::SUCCESS)
}
