//! `roster app test`: the app reachable, the credential accepted, discovery served, the mapping valid against the
//! app's schemas and the directory's.

use super::settings::*;
use crate::lookup::find;
use crate::serve::{DatabaseArg, open};
use roster_engine::codes;
use roster_engine::config::{AppConfig, TargetConfig};
use roster_engine::connect::Discovery;
use roster_engine::sync::AppRuntime;
use roster_store::redact_url;
use std::process::ExitCode;

pub(super) async fn run(name: &str, db: &DatabaseArg) -> Result<ExitCode, String> {
    let store = open(db).await?;
    let a = find(&store, name).await?;
    let cfg = config_of(&a)?;
    let secret = store.open_secret(&a).await.map_err(|e| e.to_string())?;
    let client = match cfg.connector(secret) {
        Ok(c) => c,
        Err(m) => {
            out!("FAIL  configuration: {m}");
            return Ok(ExitCode::from(1));
        }
    };
    out!("app {name}: {}", redact_url(client.base()));
    let mut ok = true;
    match client.discover().await {
        Ok(d) if matches!(cfg.target, TargetConfig::Google { .. }) => {
            out!("ok    Google issued a token to the service account (domain-wide delegation works)");
            out!("ok    Directory API: users and groups of the customer can be read");
            out!("ok    attributes Google keeps: {}", d.schemas.join(", "));
            check_mapping(&cfg, &d, &mut ok);
        }
        Ok(d) => {
            out!("ok    reachable, credential accepted");
            out!(
                "ok    ServiceProviderConfig: PATCH {}",
                if d.patch {
                    "supported"
                } else {
                    "not supported (roster uses PUT)"
                }
            );
            out!("ok    Schemas: {}", d.schemas.join(", "));
            out!("ok    ResourceTypes: {}", d.resource_types.join(", "));
            check_mapping(&cfg, &d, &mut ok);
            if !d.resource_types.iter().any(|r| r.eq_ignore_ascii_case("User")) {
                out!(
                    "FAIL  {}: the app lists no User resource type",
                    codes::TARGET_SCHEMA.code
                );
                ok = false;
            }
        }
        Err(e) => {
            ok = false;
            let t = e.code.texts(crate::lang());
            out!("FAIL  {}: {}", e.code.code, t.title);
            out!("      what happened: {}", e.message);
            out!("      cause: {}", t.cause);
            out!("      fix:   {}", t.fix);
        }
    }
    match AppRuntime::load(&store, name).await {
        Ok(_) => out!("ok    scope and mapping are valid"),
        Err(e) => {
            ok = false;
            out!("FAIL  {e}");
        }
    }
    Ok(if ok { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

pub(super) fn check_mapping(cfg: &AppConfig, d: &Discovery, ok: &mut bool) {
    let rules = cfg.effective_mapping();
    let mut problems = Vec::new();
    if d.definitions.is_empty() {
        out!("note  the app serves no schema definitions: mapped attributes cannot be checked against them");
    } else {
        problems = roster_engine::mapping::check_targets(
            &rules,
            roster_engine::mapping::USER_SCHEMA,
            &d.definitions,
        );
    }
    if let TargetConfig::Scim { .. } = cfg.target {
        problems.extend(mapping_problems(&rules, &d.definitions));
    }
    if problems.is_empty() {
        out!("ok    every mapped attribute exists in the app's schemas");
    }
    for p in problems {
        *ok = false;
        out!("FAIL  {}: {p}", codes::MAPPING_INVALID.code);
    }
}
