//! The `roster` command.
//!
//! - `roster serve` runs the SCIM 2.0 directory server (SQLite `roster.db` by default).
//! - `roster token create|list|revoke` manages the API tokens clients authenticate with.
//! - `roster scim …` runs the SCIM core on local files: check a filter, apply a PATCH, validate a resource.
//! - `roster app …` connects and manages apps; `roster sync`, `roster provision` and `roster log` run the
//!   provisioning engine by hand and read its log.
//! - `roster explain TEXT` says what an error means: its roster code, cause and fix.
//!
//! Errors go to stderr as `error: …` with exit code 2. Command output goes through `out!`: a reader that
//! stops early (`roster approve crm --list | head`) ends the command quietly.
//!
//! The binary is the top of the graph: it may use every roster crate, and no crate imports it.

/// `println!` for command output: a closed pipe ends the process quietly (exit 0) instead of panicking; any
/// other failure to write is an error (exit 2).
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        if let Err(e) = writeln!(std::io::stdout().lock(), $($arg)*) {
            $crate::output_failed(&e);
        }
    }};
}

/// Ends the process after stdout could not be written: quietly when the reader went away.
pub(crate) fn output_failed(e: &std::io::Error) -> ! {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        std::process::exit(0);
    }
    eprintln!("error: cannot write the output: {e}");
    std::process::exit(2);
}

mod actor;
mod app;
mod approve;
mod audit;
mod client;
mod error;
mod explain;
mod import;
mod log;
mod lookup;
mod output;
mod provision;
mod retry;
mod scim;
mod secrets;
mod serve;
mod sync;
mod token;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// roster: an identity provisioning hub. It keeps the accounts of connected apps in sync with a SCIM 2.0
/// directory.
#[derive(Debug, Parser)]
#[command(name = "roster", version, about, long_about = None)]
struct Cli {
    /// The language of error causes and fixes (en, ja); by default from ROSTER_LANG, LC_ALL, LC_MESSAGES or LANG.
    #[arg(long, global = true, value_parser = ["en", "ja"])]
    lang: Option<String>,
    #[command(subcommand)]
    command: Command,
}

static LANG: std::sync::OnceLock<roster_engine::codes::Lang> = std::sync::OnceLock::new();

/// The language error causes and fixes are written in: `--lang`, else the environment's.
pub(crate) fn lang() -> roster_engine::codes::Lang {
    *LANG.get_or_init(|| roster_engine::codes::Lang::from_env(|k| std::env::var(k).ok()))
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the SCIM 2.0 directory server.
    Serve(serve::ServeArgs),
    /// Create, list and revoke the API tokens that SCIM clients use.
    #[command(subcommand)]
    Token(token::TokenCommand),
    /// Work with SCIM payloads offline: filters, PATCH requests, resources and schemas.
    #[command(subcommand)]
    Scim(scim::ScimCommand),
    /// Connect, show, change, check and remove apps (provisioning targets).
    #[command(subcommand)]
    App(Box<app::AppCommand>),
    /// Sync an app now: what changed since the last sync, or everything with --full; --dry-run shows the plan.
    Sync(sync::SyncArgs),
    /// Provision one user to an app now and print each step.
    Provision(provision::ProvisionArgs),
    /// Read an app's provisioning log (table, CSV or JSON).
    Log(log::LogArgs),
    /// Import users and groups from a CSV or JSON file into the directory (idempotent).
    Import(import::ImportArgs),
    /// Retry an app's failed objects now (after fixing their cause): all, those failed with --code, or one --object.
    Retry(retry::RetryArgs),
    /// Run (or drop, with --discard) the deprovisions an app's guard held.
    Approve(approve::ApproveArgs),
    /// Explain an error: a roster code, or a message pasted from roster or another provisioning system.
    Explain(explain::ExplainArgs),
    /// Manage the key that seals the apps' credentials in the database.
    #[command(subcommand)]
    Secrets(secrets::SecretsCommand),
    /// Read the audit log: every admin action, who did it and when (table, CSV or JSON).
    Audit(audit::AuditArgs),
    /// The identity providers (API tokens) pushing into roster: list, show and release their quarantine.
    #[command(subcommand)]
    Client(client::ClientCommand),
}

/// mimalloc: the glibc allocator was ~10 % of the server's CPU under load (malloc, free, consolidation).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(l) = cli.lang.as_deref().and_then(roster_engine::codes::Lang::parse) {
        let _ = LANG.set(l);
    }
    let result: Result<ExitCode, error::CliError> = match cli.command {
        Command::Scim(cmd) => scim::run(cmd).map_err(Into::into),
        Command::Serve(args) => serve::block_on_server(serve::serve(args)).map_err(Into::into),
        Command::Token(cmd) => serve::block_on(token::run(cmd)),
        Command::App(cmd) => serve::block_on(app::run(*cmd)),
        Command::Sync(args) => {
            // What the engine warns about (a target refusing /Bulk, a lease it cannot renew) reaches stderr.
            serve::init_logging("warn");
            serve::block_on(sync::sync(args))
        }
        Command::Provision(args) => serve::block_on(provision::provision(args)),
        Command::Log(args) => serve::block_on(log::log(args)),
        Command::Import(args) => serve::block_on(import::import(args)).map_err(Into::into),
        Command::Approve(args) => serve::block_on(approve::run(args)),
        Command::Retry(args) => serve::block_on(retry::run(args)),
        Command::Explain(args) => explain::run(&args).map_err(Into::into),
        Command::Secrets(cmd) => serve::block_on(secrets::run(cmd)).map_err(Into::into),
        Command::Audit(args) => serve::block_on(audit::run(args)).map_err(Into::into),
        Command::Client(cmd) => serve::block_on(client::run(cmd)),
    };
    result.unwrap_or_else(|e| e.report())
}
