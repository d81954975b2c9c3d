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
    let (id, r) = (&done.id, &done.result);
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
        out!(
            "{}",
            serde_json::json!({
                "user": args.user, "id": id, "action": r.action.name(), "detail": r.action.to_string(),
                "outcome": r.outcome.as_str(), "code": r.code.map(|c| c.code), "message": r.message,
                "cause": r.code.map(|c| c.texts(crate::lang()).cause), "fix": r.code.map(|c| c.texts(crate::lang()).fix),
                "steps": r.steps.iter().map(|s| serde_json::json!({"stage": s.stage, "text": s.text}))
                    .collect::<Vec<_>>(),
            })
        );
    }
    Ok(if done.succeeded() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
