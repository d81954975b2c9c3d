//! `roster client list|show|release`: the identity providers (API tokens) that push into roster, and their
//! inbound quarantine (see `roster_server::quarantine` and `roster_store::clients`), through `roster_admin`.

use crate::error::CliError;
use crate::output::{Format, csv_field};
use crate::serve::{DatabaseArg, admin};
use clap::Subcommand;
use roster_store::ClientState;
use serde_json::Value;
use std::process::ExitCode;

#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Every client (API token) and its state: normal, refused (until when, why) or on probation.
    List {
        /// Output format (json: one object per line, for scripts).
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
        #[command(flatten)]
        db: DatabaseArg,
    },
    /// One client: its state, the current window's counts, its last trip and why.
    Show {
        /// The client's (token's) name.
        name: String,
        /// Output format (table: one field a line; json: one object).
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
        #[command(flatten)]
        db: DatabaseArg,
    },
    /// End a client's refusal and probation now (after fixing what its errors named).
    Release {
        /// The client's (token's) name.
        name: String,
        #[command(flatten)]
        db: DatabaseArg,
    },
}

fn now() -> i64 {
    roster_store::to_micros(time::OffsetDateTime::now_utc())
}

pub async fn run(cmd: ClientCommand) -> Result<ExitCode, CliError> {
    match cmd {
        ClientCommand::List { format, db } => {
            let now = now();
            let all = admin(&db).await?.clients().await?;
            match format {
                Format::Json => {
                    for c in &all {
                        out!("{}", c.to_json(now));
                    }
                }
                Format::Csv => {
                    out!("name,state,until,trips_in_a_row,requests,failures,reason");
                    for c in &all {
                        let r = c.row.clone().unwrap_or_default();
                        out!(
                            "{},{},{},{},{},{},{}",
                            csv_field(&c.name),
                            c.state(now).as_str(),
                            c.until(now).unwrap_or_default(),
                            r.level,
                            r.requests,
                            r.failures,
                            csv_field(&r.reason)
                        );
                    }
                }
                Format::Table => {
                    if all.is_empty() {
                        eprintln!(
                            "No clients yet. Create a token for an identity provider with: roster token create --name NAME"
                        );
                    }
                    out!(
                        "{:<24} {:<10} {:<21} {:<6} {:<11} WHY",
                        "NAME",
                        "STATE",
                        "UNTIL",
                        "TRIPS",
                        "WINDOW"
                    );
                    for c in &all {
                        let r = c.row.clone().unwrap_or_default();
                        let why = match c.state(now) {
                            ClientState::Normal => String::new(),
                            _ => r.reason.clone(),
                        };
                        out!(
                            "{:<24} {:<10} {:<21} {:<6} {:<11} {why}",
                            c.name,
                            c.state(now).as_str(),
                            c.until(now).unwrap_or_else(|| "-".into()),
                            r.level,
                            format!("{}/{}", r.failures, r.requests),
                        );
                    }
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        ClientCommand::Show { name, format, db } => {
            let now = now();
            let c = admin(&db).await?.client(&name).await?;
            let v = c.to_json(now);
            match format {
                Format::Json => out!("{v}"),
                Format::Table | Format::Csv => {
                    let field = |k: &str| match &v[k] {
                        Value::Null => "-".to_owned(),
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    out!("name:           {}", c.name);
                    out!("token:          {}", c.scope.map_or("revoked", |s| s.as_str()));
                    out!("state:          {}", field("state"));
                    out!("until:          {}", field("until"));
                    out!("trips in a row: {}", field("tripsInARow"));
                    out!("trips in all:   {}", field("trips"));
                    out!(
                        "window:         {} failed of {} since {}",
                        v["window"]["failures"],
                        v["window"]["requests"],
                        v["window"]["since"].as_str().unwrap_or("-")
                    );
                    out!("last failure:   {}", field("lastFailure"));
                    out!("last trip:      {}", field("lastTrip"));
                    out!("why:            {}", field("reason"));
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        ClientCommand::Release { name, db } => {
            let now = now();
            let before = admin(&db).await?.release_client(&name).await?;
            match before.state(now) {
                ClientState::Normal => eprintln!("Client '{name}' was not refused; its counts start afresh."),
                state => eprintln!(
                    "Client '{name}' released (it was {}): its calls are accepted by every roster process within a second.",
                    state.as_str()
                ),
            }
            // The store wrote the audit entry (`client.release`), with what was released.
            Ok(ExitCode::SUCCESS)
        }
    }
}
