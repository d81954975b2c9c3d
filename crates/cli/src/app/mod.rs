//! `roster app …`: connect, inspect, change, check and remove apps (provisioning targets). One file per
//! subcommand; what `add` and `edit` share is in `settings`.

mod add;
mod edit;
mod list;
mod preview;
mod release;
mod remove;
mod settings;
mod show;
mod test;

use crate::error::CliError;
use crate::serve::DatabaseArg;
use clap::Subcommand;
pub use settings::AppSettings;
use std::process::ExitCode;

#[derive(Debug, Subcommand)]
pub enum AppCommand {
    /// Connect an app.
    Add {
        /// A name for the app.
        name: String,
        #[command(flatten)]
        settings: AppSettings,
        #[command(flatten)]
        db: DatabaseArg,
    },
    /// List apps with their state (the worst of: quarantined, paused, scope broken, credential refused, waiting
    /// for a person, deprovisions held, failing; else healthy).
    List {
        /// Output format (json: one object per line, for scripts).
        #[arg(long, value_enum, default_value = "table")]
        format: crate::output::Format,
        #[command(flatten)]
        db: DatabaseArg,
    },
    /// Show an app's settings (never its credential) and state.
    Show {
        /// The app.
        name: String,
        /// Output format (json: one object with the settings, state and pending work, for scripts).
        #[arg(long, value_enum, default_value = "table")]
        format: crate::output::Format,
        #[command(flatten)]
        db: DatabaseArg,
    },
    /// Change an app's settings.
    Edit {
        /// The app.
        name: String,
        /// Apply only if the app is still at this version (as shown by `roster app show`).
        #[arg(long)]
        if_version: Option<i64>,
        #[command(flatten)]
        settings: AppSettings,
        #[command(flatten)]
        db: DatabaseArg,
    },
    /// Remove an app with its links, queue and log (its accounts are left as they are).
    Remove {
        /// The app.
        name: String,
        #[command(flatten)]
        db: DatabaseArg,
    },
    /// Check that the app is reachable, accepts the credential and serves SCIM discovery.
    Test {
        /// The app.
        name: String,
        #[command(flatten)]
        db: DatabaseArg,
    },
    /// End an app's quarantine now (roster also ends it by itself when a probe succeeds).
    Release {
        /// The app.
        name: String,
        #[command(flatten)]
        db: DatabaseArg,
    },
    /// Show the exact payload roster would send for a user.
    Preview {
        /// The app.
        name: String,
        /// The user's userName or id.
        #[arg(long)]
        user: String,
        #[command(flatten)]
        db: DatabaseArg,
    },
}

pub async fn run(cmd: AppCommand) -> Result<ExitCode, CliError> {
    match cmd {
        AppCommand::Add { name, settings, db } => add::run(name, settings, db).await,
        AppCommand::List { format, db } => list::run(format, db).await,
        AppCommand::Show { name, format, db } => show::run(name, format, db).await,
        AppCommand::Release { name, db } => release::run(name, db).await,
        AppCommand::Edit {
            name,
            if_version,
            settings,
            db,
        } => edit::run(name, if_version, settings, db).await,
        AppCommand::Remove { name, db } => remove::run(name, db).await,
        AppCommand::Test { name, db } => test::run(&name, &db).await,
        AppCommand::Preview { name, user, db } => preview::run(name, user, db).await,
    }
}
