//! `roster log`: an app's provisioning log (table, CSV or JSON), filtered by failures, object, code and age.

use crate::error::CliError;
use crate::output::{Format, csv_field, parse_since};
use crate::serve::{DatabaseArg, admin};
use clap::Args;
use std::process::ExitCode;

#[derive(Debug, Args)]
pub struct LogArgs {
    /// The app.
    name: String,
    /// Only failures.
    #[arg(long)]
    failures: bool,
    /// Only this directory object: an id, a user's userName or a group's displayName (ids of deleted objects
    /// work too).
    #[arg(long)]
    object: Option<String>,
    /// Only this roster code.
    #[arg(long)]
    code: Option<String>,
    /// Only entries since this time: an age (`90m`, `12h`, `7d`) or an RFC 3339 time
    /// (`2026-11-20T08:00:00Z`).
    #[arg(long, value_parser = parse_since)]
    since: Option<time::OffsetDateTime>,
    /// In the table, show under each entry the requests roster made and what came back (redacted).
    #[arg(long)]
    detail: bool,
    /// At most this many entries, newest first.
    #[arg(long, default_value = "100")]
    limit: i64,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
    #[command(flatten)]
    db: DatabaseArg,
}

/// `roster log`: the entries of `roster_admin::Admin::log`, with the names their objects go by now.
pub async fn log(args: LogArgs) -> Result<ExitCode, CliError> {
    let admin = admin(&args.db).await?;
    let filter = roster_admin::LogFilter {
        failures_only: args.failures,
        object: args.object.as_deref(),
        code: args.code.as_deref(),
        since: args.since,
        limit: args.limit,
    };
    let entries = admin.log(&args.name, &filter).await?;
    let names = admin
        .names(entries.iter().map(|e| (e.kind, e.source_id.as_str())))
        .await?;
    let name_of = |e: &roster_store::LogEntry| names.get(&(e.kind, e.source_id.clone())).cloned();
    let time = |t: time::OffsetDateTime| roster_scim::value::format_datetime(t);
    match args.format {
        Format::Table => {
            out!(
                "{:<27} {:<9} {:<7} {:<36} {:<4} {:<22} MESSAGE",
                "TIME",
                "ACTION",
                "OUTCOME",
                "OBJECT",
                "HTTP",
                "CODE"
            );
            for e in &entries {
                out!(
                    "{:<27} {:<9} {:<7} {:<36} {:<4} {:<22} {}",
                    time(e.at),
                    e.action,
                    e.outcome.as_str(),
                    match name_of(e) {
                        Some(name) => name,
                        // An event of the app as a whole (a quarantine) names no object.
                        None if e.source_id.is_empty() => "(the app)".to_owned(),
                        None => e.source_id.clone(),
                    },
                    e.http_status.map(|s| s.to_string()).unwrap_or_default(),
                    e.code.as_deref().unwrap_or("-"),
                    e.message
                );
                if args.detail {
                    let v = e.to_json();
                    for x in v["exchanges"].as_array().into_iter().flatten() {
                        let body = x.get("body").map(|b| format!(" {b}")).unwrap_or_default();
                        let status = x.get("status").and_then(serde_json::Value::as_u64);
                        let answer = x.get("response").map(|r| format!(" {r}")).unwrap_or_default();
                        out!("    → {}{body}", x["request"].as_str().unwrap_or("?"));
                        match status {
                            Some(st) => out!("    ← {st}{answer}"),
                            None => out!("    ← no answer{answer}"),
                        }
                    }
                }
            }
        }
        Format::Csv => {
            out!(
                "time,app,type,object,target,action,outcome,attempt,http_status,code,message,duration_ms,exchanges,name"
            );
            for e in &entries {
                let fields = [
                    time(e.at),
                    e.app.clone(),
                    e.kind.as_str().to_owned(),
                    e.source_id.clone(),
                    e.target_id.clone().unwrap_or_default(),
                    e.action.clone(),
                    e.outcome.as_str().to_owned(),
                    e.attempt.to_string(),
                    e.http_status.map(|s| s.to_string()).unwrap_or_default(),
                    e.code.clone().unwrap_or_default(),
                    e.message.clone(),
                    e.duration_ms.to_string(),
                    e.exchanges.clone().unwrap_or_default(),
                    // Last, so scripts reading the columns by position keep working.
                    name_of(e).unwrap_or_default(),
                ];
                out!(
                    "{}",
                    fields.iter().map(|f| csv_field(f)).collect::<Vec<_>>().join(",")
                );
            }
        }
        Format::Json => {
            for e in &entries {
                let mut v = e.to_json();
                v["name"] = name_of(e).map_or(serde_json::Value::Null, serde_json::Value::String);
                out!("{v}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use crate::output::parse_since_at;
    use time::macros::datetime;

    #[test]
    fn since_takes_an_age_or_a_time() {
        let now = datetime!(2026-11-24 12:00 UTC);
        assert_eq!(parse_since_at("90m", now), Ok(datetime!(2026-11-24 10:30 UTC)));
        assert_eq!(parse_since_at("7d", now), Ok(datetime!(2026-11-17 12:00 UTC)));
        assert_eq!(parse_since_at("30s", now), Ok(datetime!(2026-11-24 11:59:30 UTC)));
        assert_eq!(
            parse_since_at("2026-11-20T08:00:00Z", now),
            Ok(datetime!(2026-11-20 08:00 UTC))
        );
        for bad in ["12x", "yesterday", "-3h", ""] {
            assert!(parse_since_at(bad, now).is_err(), "{bad}");
        }
    }
}
