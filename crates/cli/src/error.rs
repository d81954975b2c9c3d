//! The one error every command can end with, and how it ends the process: a message of the command's own
//! (exit 2), or an admin operation's [`AdminError`] with its roster code and fix (exit 2 for a mistake in what was
//! asked, 3 when roster's database failed).

use roster_admin::AdminError;
use std::process::ExitCode;

/// A command's failure.
#[derive(Debug)]
pub enum CliError {
    /// What went wrong and what to do, in the command's words.
    Message(String),
    /// An admin operation's failure.
    Admin(AdminError),
}

impl From<String> for CliError {
    fn from(m: String) -> Self {
        Self::Message(m)
    }
}

impl From<&str> for CliError {
    fn from(m: &str) -> Self {
        Self::Message(m.to_owned())
    }
}

impl From<AdminError> for CliError {
    fn from(e: AdminError) -> Self {
        Self::Admin(e)
    }
}

impl CliError {
    /// Says what went wrong on stderr and gives the exit code.
    pub fn report(&self) -> ExitCode {
        match self {
            Self::Message(m) => {
                eprintln!("error: {m}");
                ExitCode::from(2)
            }
            Self::Admin(e) => {
                eprintln!("error: {} ({})", e.message, e.code.code);
                eprintln!("fix:   {}", e.code.texts(crate::lang()).fix);
                ExitCode::from(e.exit_code())
            }
        }
    }
}
