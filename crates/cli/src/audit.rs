//! `roster audit`, and the entry every admin command appends to the audit log.

use crate::serve::{DatabaseArg, open};
use crate::sync::{Format, csv_field, parse_since};
use clap::Args;
use roster_store::{AuditAction, Store};
use serde_json::{Value, json};
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

/// Who runs this command: the operating system's user, as `os:NAME` (from the process's user id where the
/// environment does not say, as under cron or systemd; `os:uid:N` when the id has no name).
pub fn actor() -> String {
    let name = ["USER", "LOGNAME", "USERNAME"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|s| !s.is_empty()))
        .or_else(user_of_process);
    format!("os:{}", name.as_deref().unwrap_or("unknown"))
}

/// The name of the user the process runs as, from its user id and `/etc/passwd`.
#[cfg(unix)]
fn user_of_process() -> Option<String> {
    use std::os::unix::fs::MetadataExt as _;
    let uid = std::fs::metadata("/proc/self").ok()?.uid();
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    let named = passwd.lines().find_map(|l| {
        let mut f = l.split(':');
        let name = f.next()?;
        (f.nth(1)? == uid.to_string()).then(|| name.to_owned())
    });
    Some(named.unwrap_or_else(|| format!("uid:{uid}")))
}

#[cfg(not(unix))]
fn user_of_process() -> Option<String> {
    None
}

/// Appends an admin action to the audit log. The action is done already; a log that cannot be written is an
/// error all the same, so the admin knows the record is missing.
pub async fn record(store: &Store, action: AuditAction, target: &str, change: Value) -> Result<(), String> {
    store
        .record_audit(&actor(), action, target, &change)
        .await
        .map_err(|e| format!("done, but the audit log could not be written: {e}"))
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
            println!(
                "{:<27} {:<16} {:<15} {:<20} CHANGE",
                "TIME", "WHO", "ACTION", "TARGET"
            );
            for e in &entries {
                println!(
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
            println!("time,who,action,target,change");
            for e in &entries {
                println!(
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
                println!(
                    "{}",
                    json!({"seq": e.seq, "time": time(e.at), "who": e.actor, "action": e.action.as_str(),
                           "target": e.target, "change": e.change})
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
