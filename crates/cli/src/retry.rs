//! `roster retry`: an app's failed objects due now (all, by code, or one), through `roster_admin`.

use crate::error::CliError;
use crate::serve::{DatabaseArg, admin};
use clap::Args;
use std::process::ExitCode;

#[derive(Debug, Args)]
pub struct RetryArgs {
    /// The app.
    name: String,
    /// Only objects whose last failure had this roster code (for example R-TARGET-AUTH).
    #[arg(long)]
    code: Option<String>,
    /// Only this object: a user's userName, a group's displayName, or an id. It is synced now even if it is not
    /// waiting.
    #[arg(long)]
    object: Option<String>,
    #[command(flatten)]
    db: DatabaseArg,
}

/// `roster retry`: the failed objects (all, by code, or one) are due now with their attempts counted afresh; a
/// running `roster serve` syncs them within a second. Quarantine is left to `roster app release`.
pub async fn run(args: RetryArgs) -> Result<ExitCode, CliError> {
    let admin = admin(&args.db).await?;
    let r = admin
        .retry(&args.name, args.code.as_deref(), args.object.as_deref())
        .await?;
    eprintln!(
        "{} object(s) of {} due now; roster serve syncs them within a second (or run: roster sync {}).",
        r.due, args.name, args.name
    );
    if let Some(code) = r.quarantined {
        eprintln!(
            "{} is quarantined ({}); nothing is sent until it is released: roster app release {}",
            args.name,
            if code.is_empty() { "-" } else { &code },
            args.name
        );
    }
    Ok(ExitCode::SUCCESS)
}
