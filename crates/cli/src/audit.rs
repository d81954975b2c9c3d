//! `roster audit`: reads the audit log (the entries are appended by `actor::record`).

use crate::output::parse_since;
use crate::output::{Format, csv_field};
use crate::serve::{DatabaseArg, open};
use clap::Args;
use serde_json::json;
use std::process::ExitCode;

#[derive(Debug, Args)]
pub struct AuditArgs {
    /// Only entries from this time on: an age (90m, 12h, 7d) or an RFC 3339 time.
    #[arg(long, value_parser = parse_since)]
    since: Option<time::OffsetDateTime>,
    /// At most this many entries (oldest first).
    #[arg(long, default_value = "1000")]
    limit: i64,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
    #[command(flatten)]
    db: DatabaseArg,
}

pub async fn run(args: AuditArgs) -> Result<ExitCode, String> {
    let store = open(&args.db).await?;
    let entries = store
        .list_audit(args.since, args.limit.clamp(1, 1_000_000))
        .await
        .map_err(|e| e.to_string())?;
    let time = |t: time::OffsetDateTime| roster_scim::value::format_datetime(t);
    match args.format {
        Format::Table => {
            out!(
                "{:<27} {:<16} {:<15} {:<20} CHANGE",
                "TIME",
                "WHO",
                "ACTION",
                "TARGET"
            );
            for e in &entries {
                out!(
                    "{:<27} {:<16} {:<15} {:<20} {}",
                    time(e.at),
                    e.actor,
                    e.action.as_str(),
                    e.target,
                    e.change
                );
            }
        }
        Format::Csv => {
            out!("time,who,action,target,change");
            for e in &entries {
                out!(
                    "{},{},{},{},{}",
                    time(e.at),
                    csv_field(&e.actor),
                    e.action.as_str(),
                    csv_field(&e.target),
                    csv_field(&e.change.to_string())
                );
            }
        }
        Format::Json => {
            for e in &entries {
                out!(
                    "{}",
                    json!({"seq": e.seq, "time": time(e.at), "who": e.actor, "action": e.action.as_str(),
                           "target": e.target, "change": e.change})
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
