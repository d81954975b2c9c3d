//! `roster token create|list|revoke`: the API tokens SCIM clients and consoles present, through `roster_admin`.

use crate::error::CliError;
use crate::output::{Format, csv_field};
use crate::serve::{DatabaseArg, admin};
use clap::{Subcommand, ValueEnum};
use roster_store::{Scope, redact_url};
use std::process::ExitCode;

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ScopeArg {
    /// Read only: GET and searches.
    Read,
    /// Read and write (SCIM).
    Write,
    /// Read and write, and the operations API under /api/v1 (provisioning log, app health).
    Admin,
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token and print it once on stdout.
    Create {
        /// A name to tell the token apart (for example the IdP it is for).
        #[arg(long)]
        name: String,
        /// What the token may do.
        #[arg(long, value_enum, default_value = "write")]
        scope: ScopeArg,
        #[command(flatten)]
        db: DatabaseArg,
    },
    /// List tokens (names, scopes, last use; never the secrets).
    List {
        /// Output format (json: one object per line, for scripts).
        #[arg(long, value_enum, default_value = "table")]
        format: crate::output::Format,
        #[command(flatten)]
        db: DatabaseArg,
    },
    /// Revoke a token by name.
    Revoke {
        /// The token's name.
        name: String,
        #[command(flatten)]
        db: DatabaseArg,
    },
}

pub async fn run(cmd: TokenCommand) -> Result<ExitCode, CliError> {
    match cmd {
        TokenCommand::Create { name, scope, db } => {
            let scope = match scope {
                ScopeArg::Read => Scope::Read,
                ScopeArg::Write => Scope::Write,
                ScopeArg::Admin => Scope::Admin,
            };
            let secret = admin(&db).await?.create_token(&name, scope).await?;
            out!("{secret}");
            eprintln!(
                "Token '{name}' ({}) created in {}. It is shown only now: store it in your IdP. Only a roster serve \
                 on this database accepts it.",
                scope.as_str(),
                redact_url(&db.database)
            );
        }
        TokenCommand::List { format, db } => {
            let tokens = admin(&db).await?.tokens().await?;
            let time = |t: time::OffsetDateTime| roster_scim::value::format_datetime(t);
            match format {
                Format::Json => {
                    for t in tokens {
                        let line = serde_json::json!({"name": t.name, "scope": t.scope.as_str(),
                            "created": time(t.created), "lastUsed": t.last_used.map(time)});
                        out!("{line}");
                    }
                }
                Format::Csv => {
                    out!("name,scope,created,last_used");
                    for t in tokens {
                        out!(
                            "{},{},{},{}",
                            csv_field(&t.name),
                            t.scope.as_str(),
                            time(t.created),
                            t.last_used.map(time).unwrap_or_default()
                        );
                    }
                }
                Format::Table => {
                    if tokens.is_empty() {
                        eprintln!(
                            "No tokens in {}. Create one with: roster token create --name NAME",
                            redact_url(&db.database)
                        );
                    }
                    out!("{:<24} {:<6} {:<28} LAST USED", "NAME", "SCOPE", "CREATED");
                    for t in tokens {
                        let last = t.last_used.map_or_else(|| "never".to_owned(), time);
                        out!(
                            "{:<24} {:<6} {:<28} {last}",
                            t.name,
                            t.scope.as_str(),
                            time(t.created)
                        );
                    }
                }
            }
        }
        TokenCommand::Revoke { name, db } => {
            admin(&db).await?.revoke_token(&name).await?;
            eprintln!("Token '{name}' revoked.");
        }
    }
    Ok(ExitCode::SUCCESS)
}
