//! `roster provision`: one user provisioned to an app now (`roster_admin::Admin::provision`), each step printed.

use crate::error::CliError;
use crate::output::Format;
use crate::serve::{DatabaseArg, admin};
use clap::Args;
use std::process::ExitCode;

#[derive(Debug, Args)]
pub struct ProvisionArgs {
    /// The app.
    name: String,
    /// The user's userName or id.
    #[arg(long)]
    user: String,
    /// Output format (json: one object with the steps, the result and, on failure, the code's cause and fix).
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
    #[command(flatten)]
    db: DatabaseArg,
}

pub async fn provision(args: ProvisionArgs) -> Result<ExitCode, CliError> {
    let done = admin(&args.db).await?.provision(&args.name, &args.user).await?;
    let r = &done.result;
    if matches!(args.format, Format::Table) {
        for s in &r.steps {
            out!("{:<8} {}", s.stage, s.text);
        }
        if let Some(c) = r.code {
            let t = c.texts(crate::lang());
            out!("cause    {}", t.cause);
            out!("fix      {}", t.fix);
        }
    } else {
        out!("{}", done.to_json(&args.user, crate::lang()));
    }
    Ok(if done.succeeded() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
