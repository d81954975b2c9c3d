//! `roster approve`: the deprovisions an app's guard held, listed, let through or discarded, through
//! `roster_admin`.

use crate::error::CliError;
use crate::output::{Format, csv_field};
use crate::serve::{DatabaseArg, admin};
use clap::Args;
use std::process::ExitCode;

#[derive(Debug, Args)]
pub struct ApproveArgs {
    /// The app.
    name: String,
    /// Only list the held deprovisions.
    #[arg(long, conflicts_with = "discard")]
    list: bool,
    /// Drop the held deprovisions instead (the accounts stay; the same deprovision is not held again until the
    /// object changes in the directory or comes back into scope).
    #[arg(long)]
    discard: bool,
    /// Output format of --list (json: one object per line, for scripts).
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
    #[command(flatten)]
    db: DatabaseArg,
}

/// `roster approve`: runs (or drops) the deprovisions the guard held.
pub async fn run(args: ApproveArgs) -> Result<ExitCode, CliError> {
    let admin = admin(&args.db).await?;
    let held = admin.held(&args.name).await?;
    if args.list || held.is_empty() {
        if matches!(args.format, Format::Csv) {
            out!("type,object,name,reason");
        }
        for h in &held {
            let (kind, why) = (h.kind.as_str(), h.reason.as_str());
            match args.format {
                Format::Table => out!("{kind} {}: {why}", h.name.as_deref().unwrap_or(&h.id)),
                Format::Csv => out!(
                    "{kind},{},{},{}",
                    h.id,
                    csv_field(h.name.as_deref().unwrap_or("")),
                    csv_field(why)
                ),
                Format::Json => out!(
                    "{}",
                    serde_json::json!({"type": kind, "object": h.id, "name": h.name, "reason": why})
                ),
            }
        }
        eprintln!("{} deprovision(s) held for {}.", held.len(), args.name);
        return Ok(ExitCode::SUCCESS);
    }
    if args.discard {
        let n = admin.discard(&args.name).await?;
        eprintln!("Dropped {n} held deprovision(s); their accounts stay as they are.");
        return Ok(ExitCode::SUCCESS);
    }
    let n = admin.approve(&args.name).await?;
    eprintln!(
        "Approved {n} deprovision(s); roster serve carries them out now (or run roster sync {}).",
        args.name
    );
    Ok(ExitCode::SUCCESS)
}
