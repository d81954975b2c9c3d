//! `roster provision`: one user provisioned to an app now, each step printed.

use crate::lookup::{find_user, runtime, sync_user};
use crate::output::Format;
use crate::serve::{DatabaseArg, open};
use clap::Args;
use roster_engine::plan::Action;
use roster_store::AuditAction;
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

pub async fn provision(args: ProvisionArgs) -> Result<ExitCode, String> {
    let store = open(&args.db).await?;
    let app = runtime(&store, &args.name).await?;
    let id = find_user(&store, &args.user).await?;
    let change = serde_json::json!({"user": args.user, "id": id});
    crate::actor::record(&store, AuditAction::Provision, &args.name, change).await?;
    let r = sync_user(&store, &app, &id, true, false).await?;
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
    Ok(match (&r.action, r.outcome) {
        (_, roster_store::Outcome::Failed) => ExitCode::from(1),
        (Action::Conflict { .. }, _) => ExitCode::from(1),
        _ => ExitCode::SUCCESS,
    })
}
