//! The `roster` command.
//!
//! - `roster serve` runs the SCIM 2.0 directory server (SQLite `roster.db` by default).
//! - `roster token create|list|revoke` manages the API tokens clients authenticate with.
//! - `roster scim …` runs the SCIM core on local files: check a filter, apply a PATCH, validate a resource.
//!
//! Errors go to stderr as `error: …` with exit code 2.

mod scim;
mod serve;

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
    /// Run the SCIM 2.0 directory server.
    Serve(serve::ServeArgs),
    /// Create, list and revoke the API tokens that SCIM clients use.
    #[command(subcommand)]
    Token(serve::TokenCommand),
    /// Work with SCIM payloads offline: filters, PATCH requests, resources and schemas.
    #[command(subcommand)]
    Scim(scim::ScimCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Scim(cmd) => scim::run(cmd),
        Command::Serve(args) => serve::block_on(serve::serve(args)),
        Command::Token(cmd) => serve::block_on(serve::token(cmd)),
    };
    match result {
        Ok(code) => code,
        Err(msg) => {
            eprintln!("error: {msg}");
            ExitCode::from(2)
        }
    }
}
