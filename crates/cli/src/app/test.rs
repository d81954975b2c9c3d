//! `roster app test`: the report of `roster_admin::Admin::test_app`, printed check by check.

use crate::error::CliError;
use crate::serve::{DatabaseArg, admin};
use roster_admin::checks::Check;
use std::process::ExitCode;

pub(super) async fn run(name: &str, db: &DatabaseArg) -> Result<ExitCode, CliError> {
    let report = admin(db).await?.test_app(name).await?;
    if let Some(url) = &report.url {
        out!("app {name}: {url}");
    }
    for check in &report.checks {
        match check {
            Check::Ok(text) => out!("ok    {text}"),
            Check::Note(text) => out!("note  {text}"),
            Check::Fail {
                code: Some(code),
                text,
            } => out!("FAIL  {}: {text}", code.code),
            Check::Fail { code: None, text } => out!("FAIL  {text}"),
            Check::Target { code, happened } => {
                let t = code.texts(crate::lang());
                out!("FAIL  {}: {}", code.code, t.title);
                out!("      what happened: {happened}");
                out!("      cause: {}", t.cause);
                out!("      fix:   {}", t.fix);
            }
        }
    }
    Ok(if report.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
