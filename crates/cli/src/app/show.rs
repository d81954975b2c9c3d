//! `roster app show`: an app's settings (never its credential), state, mapping and pending work.

use super::settings::{audited, config_of};
use crate::error::CliError;
use crate::lookup::find;
use crate::serve::{DatabaseArg, open};
use roster_engine::codes;
use roster_engine::config::{AppConfig, Auth, TargetConfig};
use roster_store::redact_url;
use roster_store::{ResourceKind, Store};
use std::process::ExitCode;

pub(super) async fn run(
    name: String,
    format: crate::output::Format,
    db: DatabaseArg,
) -> Result<ExitCode, CliError> {
    let store = open(&db).await?;
    let a = find(&store, &name).await?;
    let cfg = config_of(&a)?;
    if !matches!(format, crate::output::Format::Table) {
        out!("{}", show_json(&store, &a, &cfg).await?);
        return Ok(ExitCode::SUCCESS);
    }
    out!("name:         {}", a.name);
    out!(
        "version:      {}  (pass --if-version {} to roster app edit to refuse concurrent changes)",
        a.version,
        a.version
    );
    match &cfg.target {
        TargetConfig::Google { url, google: g } => {
            out!("connector:    Google Workspace Directory API");
            out!("api url:      {}", redact_url(url));
            out!(
                "auth:         service account key, acting as {} (protected); customer {}; group addresses @{}",
                g.admin,
                g.customer,
                g.group_domain()
            );
        }
        TargetConfig::Scim { url, auth } => {
            out!("connector:    SCIM 2.0");
            out!("scim url:     {}", redact_url(url));
            out!(
                "auth:         {}",
                match auth {
                    Auth::Bearer => "bearer token".to_owned(),
                    Auth::OAuth2 {
                        token_url, client_id, ..
                    } => format!("OAuth2 client credentials, client {client_id} at {token_url}"),
                }
            );
        }
    }
    out!(
        "credential:   {}",
        if a.secret.is_some() {
            "set (never shown)"
        } else {
            "missing"
        }
    );
    out!("enabled:      {}", cfg.enabled);
    out!(
        "concurrency:  {} requests at once across all processes{}",
        cfg.concurrency,
        if cfg.rate_limit > 0 {
            format!(", at most {} per second across all processes", cfg.rate_limit)
        } else {
            String::new()
        }
    );
    if let TargetConfig::Scim { .. } = cfg.target {
        out!(
            "creates:      {}",
            if cfg.bulk {
                "together in /Bulk requests when the app supports Bulk"
            } else {
                "one POST per account"
            }
        );
    }
    let g = &cfg.guards;
    out!(
        "guards:       hold deprovisions beyond {} users or {} groups an hour, or {} % of the accounts or \
             groups (above {}); quarantine at {} % failed requests over {} s (at least {}) or {} credential \
             refusals in a row",
        g.max_deprovisions,
        g.max_group_deprovisions,
        g.max_deprovision_percent,
        g.percent_floor,
        g.quarantine_error_percent,
        g.quarantine_window_secs,
        g.quarantine_min_requests,
        g.quarantine_auth_failures
    );
    let health = store.app_health(&a.name).await.map_err(|e| e.to_string())?;
    let now = roster_store::to_micros(time::OffsetDateTime::now_utc());
    let state = match health.quarantined_until {
        Some(until) if until > now => format!(
            "QUARANTINED until {} (quarantine {} in a row) [{}]: {}\n              \
                 fix the cause, or end it now: roster app release {}",
            roster_store_time(until),
            health.level,
            health.code.as_deref().unwrap_or("-"),
            health.reason.as_deref().unwrap_or("-"),
            a.name
        ),
        Some(_) => format!(
            "on probation after a quarantine [{}]: the next request is a probe",
            health.code.as_deref().unwrap_or("-")
        ),
        None if health.not_before > now => format!(
            "waiting until {} as the app asked (Retry-After)",
            roster_store_time(health.not_before)
        ),
        None => "no quarantine, no pause".to_owned(),
    };
    out!("health:       {state}");
    let app_state = roster_store::state::app_state(&store, &a.name, &cfg.scope.groups, now)
        .await
        .map_err(|e| e.to_string())?;
    out!("state:        {}", app_state.kind.as_str());
    for c in &app_state.conditions {
        let until = c
            .until
            .map(|t| format!(" (until {})", roster_store_time(t)))
            .unwrap_or_default();
        out!("  {:<19} {}{until}", c.kind.as_str(), c.detail);
    }
    let (checking, waiting) = store.count_held(&a.name).await.map_err(|e| e.to_string())?;
    if checking + waiting > 0 {
        out!(
            "held:         {waiting} deprovision(s) awaiting approval, {checking} being checked \
                 (roster approve {} --list)",
            a.name
        );
    }
    let last = store.last_reconcile(&a.name).await.map_err(|e| e.to_string())?;
    out!(
        "reconcile:    every {} h; last {}",
        cfg.reconcile_every_hours,
        last.map_or_else(
            || "never (roster serve runs the initial sync)".to_owned(),
            roster_store_time
        )
    );
    out!("deprovision:  {}", cfg.deprovision.as_str());
    out!("stale links:  {:?}", cfg.stale_link);
    let scope = if cfg.scope.groups.is_empty() && cfg.scope.filter.is_none() && cfg.scope.org_units.is_empty()
    {
        "every user".to_owned()
    } else {
        let mut parts = Vec::new();
        if !cfg.scope.groups.is_empty() {
            parts.push(format!("members of {}", scope_group_names(&store, &cfg).await?));
        }
        if let Some(f) = &cfg.scope.filter {
            parts.push(format!("matching {f}"));
        }
        if !cfg.scope.org_units.is_empty() {
            parts.push(format!(
                "in org units {} ({})",
                cfg.scope.org_units.join(", "),
                cfg.scope.org_unit_attribute
            ));
        }
        parts.join("; ")
    };
    out!("scope:        {scope}");
    out!("matching:     {}", cfg.matching.join(", then "));
    out!(
        "groups:       {}",
        if cfg.push_groups {
            "pushed with their members"
        } else {
            "not pushed"
        }
    );
    out!(
        "protected:    {}",
        if cfg.protected.is_empty() {
            "-".to_owned()
        } else {
            cfg.protected.join(", ")
        }
    );
    out!(
        "mapping{}:",
        if cfg.mapping.is_empty() { " (default)" } else { "" }
    );
    for r in cfg.effective_mapping() {
        out!("  {r}");
    }
    let (active, disabled) = store
        .count_links(&a.name, ResourceKind::User)
        .await
        .map_err(|e| e.to_string())?;
    out!("accounts:     {active} active, {disabled} disabled");
    let queue = store.list_queue(&a.name, 20).await.map_err(|e| e.to_string())?;
    out!("pending:      {}", queue.len());
    for q in queue {
        let at = roster_store_time(q.run_at);
        out!(
            "  {} {} attempts={} next={} {}",
            q.kind.as_str(),
            q.source_id,
            q.attempts,
            at,
            q.last_code
                .map(|c| format!("{c}: {}", q.last_error.unwrap_or_default()))
                .unwrap_or_default()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `roster app show --format json`: the settings (no credential), the state with every condition, the
/// mapping in effect, accounts, held deprovisions and the first pending objects.
pub(super) async fn show_json(
    store: &Store,
    a: &roster_store::AppRecord,
    cfg: &AppConfig,
) -> Result<serde_json::Value, String> {
    let e = |e: roster_store::StoreError| e.to_string();
    let now = roster_store::to_micros(time::OffsetDateTime::now_utc());
    let state = roster_store::state::app_state(store, &a.name, &cfg.scope.groups, now)
        .await
        .map_err(e)?;
    let (active, disabled) = store.count_links(&a.name, ResourceKind::User).await.map_err(e)?;
    let (checking, awaiting) = store.count_held(&a.name).await.map_err(e)?;
    let time = |t: i64| {
        roster_store::from_micros(t)
            .ok()
            .map(roster_scim::value::format_datetime)
    };
    let pending: Vec<serde_json::Value> = store
        .list_queue(&a.name, 100)
        .await
        .map_err(e)?
        .into_iter()
        .map(|q| {
            serde_json::json!({"type": q.kind.as_str(), "object": q.source_id, "attempts": q.attempts,
                "next": time(q.run_at), "code": q.last_code, "error": q.last_error})
        })
        .collect();
    Ok(serde_json::json!({
        "name": a.name,
        "version": a.version,
        "settings": audited(cfg)?,
        "mapping": cfg.effective_mapping().iter().map(ToString::to_string).collect::<Vec<_>>(),
        "state": roster_store::state::state_json(&state),
        "accounts": {"active": active, "disabled": disabled},
        "held": {"checking": checking, "awaitingApproval": awaiting},
        "pending": store.count_pending(&a.name).await.map_err(e)?,
        "firstPending": pending,
    }))
}

pub(super) fn roster_store_time(micros: i64) -> String {
    roster_store::from_micros(micros)
        .map(roster_scim::value::format_datetime)
        .unwrap_or_else(|_| "later".into())
}

/// The scope groups as an admin knows them: each group's current displayName (and id), or a deleted group's id
/// marked as missing. Scopes stored by name (before groups were stored by id) are shown as stored.
pub(super) async fn scope_group_names(store: &Store, cfg: &AppConfig) -> Result<String, String> {
    let mut names = Vec::new();
    for g in &cfg.scope.groups {
        let found = store
            .get_resource(ResourceKind::Group, g)
            .await
            .map_err(|e| e.to_string())?;
        names.push(match found {
            Some(r) => format!(
                "{} ({g})",
                r.data
                    .get("displayName")
                    .and_then(serde_json::Value::as_str)
                    .unwrap_or("?")
            ),
            None => match store.resolve_group(g).await {
                Ok(Some(_)) => g.clone(),
                _ => format!("{g} (not in the directory: {})", codes::SCOPE_GROUP_MISSING.code),
            },
        });
    }
    Ok(names.join(", "))
}
