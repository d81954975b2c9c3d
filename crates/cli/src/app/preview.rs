//! `roster app preview`: the exact payload roster would send for a user (`roster_admin::Admin::preview`).

use crate::error::CliError;
use crate::serve::DatabaseArg;
use roster_engine::codes;
use std::process::ExitCode;

pub(super) async fn run(name: String, user: String, db: DatabaseArg) -> Result<ExitCode, CliError> {
    let preview = crate::serve::admin(&db).await?.preview(&name, &user).await?;
    out!("{}", pretty(&preview.body)?);
    eprintln!("plan: {}", preview.plan);
    for p in &preview.problems {
        eprintln!("FAIL  {}: {p}", codes::MAPPING_INVALID.code);
    }
    Ok(if preview.problems.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

pub(super) fn pretty(v: &serde_json::Value) -> Result<String, String> {
    serde_json::to_string_pretty(v).map_err(|e| format!("the payload cannot be printed: {e}"))
}
