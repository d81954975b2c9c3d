//! The `roster` command.
//!
//! `roster scim …` runs the SCIM core on local files: check a filter, apply a PATCH, validate a resource, print
//! the schemas. Errors go to stderr as `error: <status> <scimType>: <detail>` with exit code 2.

mod scim;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// roster: an identity provisioning hub. It keeps the accounts of connected apps in sync with a SCIM 2.0
/// directory.
#[derive(Debug, Parser)]
#[command(name = "roster", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Work with SCIM payloads offline: filters, PATCH requests, resources and schemas.
    #[command(subcommand)]
    Scim(scim::ScimCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Scim(cmd) => scim::run(cmd),
    };
    match result {
        Ok(code) => code,
        Err(msg) => {
            eprintln!("error: {msg}");
            ExitCode::from(2)
        }
    }
}
