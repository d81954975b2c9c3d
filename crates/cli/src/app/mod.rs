//! `roster app …`: connect, inspect, change, check and remove apps (provisioning targets).

use crate::lookup::{find, find_user, sync_user};
use crate::serve::{DatabaseArg, open};
use clap::{Args, Subcommand, ValueEnum};
use roster_engine::codes;
use roster_engine::config::{AppConfig, Auth, Deprovision, StaleLinkPolicy, TargetConfig};
use roster_engine::connect::{Discovery, google};
use roster_engine::mapping::MappingRule;
use roster_engine::sync::AppRuntime;
use roster_store::redact_url;
use roster_store::{AuditAction, ResourceKind, Secret, Store};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum PolicyArg {
    /// Set active: false and keep the account.
    Disable,
    /// Delete the account.
    Delete,
    /// Leave the account alone.
    None,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum StaleArg {
    /// Match again, create if nothing matches.
    Relink,
    /// Create a new account at once.
    Recreate,
}

/// Settings shared by `app add` and `app edit`.
#[derive(Debug, Args)]
pub struct AppSettings {
    /// The app's SCIM base URL (for example `https://app.example.com/scim/v2`).
    #[arg(long)]
    scim_url: Option<String>,
    /// Accept a plain http:// URL to another machine: requests then carry the app's credential and people's
    /// data unencrypted (http:// to this machine is always accepted, for local test targets).
    #[arg(long)]
    allow_insecure_http: bool,
    /// A file holding the bearer token (or, with --oauth2-token-url, the OAuth2 client secret).
    #[arg(long)]
    token_file: Option<PathBuf>,
    /// Use OAuth2 client credentials from this token endpoint.
    #[arg(long, requires = "oauth2_client_id")]
    oauth2_token_url: Option<String>,
    /// The OAuth2 client id.
    #[arg(long)]
    oauth2_client_id: Option<String>,
    /// The OAuth2 scope to request.
    #[arg(long)]
    oauth2_scope: Option<String>,
    /// Google Workspace: the service account's JSON key file (the app then talks to Google's Directory API).
    #[arg(long, conflicts_with_all = ["scim_url", "token_file", "oauth2_token_url"])]
    google_key_file: Option<PathBuf>,
    /// Google Workspace: the super admin the service account acts as (domain-wide delegation); roster never
    /// suspends or deletes this account.
    #[arg(long)]
    google_admin: Option<String>,
    /// Google Workspace: the customer id (default my_customer, the admin's own account).
    #[arg(long)]
    google_customer: Option<String>,
    /// Google Workspace: the domain of group addresses made from group names (default: the admin's domain).
    #[arg(long)]
    google_group_domain: Option<String>,
    /// Google Workspace: the Directory API base URL (default `https://admin.googleapis.com/admin/directory/v1`;
    /// set it for a proxy or a test stand-in).
    #[arg(long)]
    google_url: Option<String>,
    /// What happens to the account of someone who leaves scope.
    #[arg(long, value_enum)]
    deprovision: Option<PolicyArg>,
    /// What happens when the app deleted a linked account.
    #[arg(long, value_enum)]
    stale_link: Option<StaleArg>,
    /// Only members of this group (id or displayName; repeat for several; nested groups count).
    #[arg(long = "scope-group")]
    scope_groups: Vec<String>,
    /// Only users matching this SCIM filter.
    #[arg(long)]
    scope_filter: Option<String>,
    /// Only users in this org unit path or below (repeat for several).
    #[arg(long = "scope-org-unit")]
    scope_org_units: Vec<String>,
    /// The source attribute holding a user's org unit path.
    #[arg(long)]
    org_unit_attribute: Option<String>,
    /// Every user (clears the scope groups, filter and org units).
    #[arg(long, conflicts_with_all = ["scope_groups", "scope_filter", "scope_org_units"])]
    scope_all: bool,
    /// A mapping rule TARGET=EXPRESSION (repeat): added to the app's mapping, or replacing its rule for TARGET
    /// (the default maps the core attributes; roster app show lists the rules).
    #[arg(long = "map")]
    map: Vec<String>,
    /// A mapping rule applied only when the account is created (added or replaced like --map).
    #[arg(long = "map-on-create")]
    map_on_create: Vec<String>,
    /// Remove the mapping rule for this target attribute (repeat).
    #[arg(long = "unmap")]
    unmap: Vec<String>,
    /// The --map and --map-on-create rules replace the whole mapping instead of changing it.
    #[arg(long, requires = "map")]
    replace_mapping: bool,
    /// Go back to the default mapping.
    #[arg(long, conflicts_with_all = ["map", "map_on_create", "unmap"])]
    default_mapping: bool,
    /// Target attributes tried in order to find an existing account (comma-separated).
    #[arg(long, value_delimiter = ',')]
    matching: Option<Vec<String>>,
    /// Target userNames roster never disables or deletes (comma-separated), such as its own service account.
    #[arg(long, value_delimiter = ',')]
    protected: Option<Vec<String>>,
    /// Push groups and their memberships too (the scope groups, or every group when the scope is every user).
    #[arg(long)]
    push_groups: Option<bool>,
    /// Hours between the full reconciles `roster serve` runs (default 24; the first is the initial sync, as soon
    /// as the app is enabled; 0 turns both off).
    #[arg(long)]
    reconcile_every_hours: Option<u32>,
    /// How many requests roster has in flight to the app at once, divided among every roster process working for
    /// it on the database (default 8).
    #[arg(long)]
    concurrency: Option<u16>,
    /// Send creates made at the same time together in `/Bulk` requests when the app supports Bulk (default
    /// true; false: one POST per account).
    #[arg(long)]
    bulk: Option<bool>,
    /// Pause (false) or resume (true) syncing.
    #[arg(long)]
    enabled: Option<bool>,
    /// Requests per second roster sends the app at most, shared by all its workers and every roster process on
    /// the database (0: no limit).
    #[arg(long)]
    rate: Option<u32>,
    /// Deprovisions allowed in an hour (or one reconcile) before the rest wait for roster approve (default 500;
    /// 0: no count limit).
    #[arg(long)]
    max_deprovisions: Option<u32>,
    /// The same as a share of the app's accounts, in percent (default 20; 0: no share limit); it applies once
    /// more than 10 deprovisions are pending.
    #[arg(long)]
    max_deprovision_percent: Option<u32>,
    /// Group deletions allowed in an hour (or one reconcile), counted apart from users (default 50; 0: no count
    /// limit); the percentage applies to groups too.
    #[arg(long)]
    max_group_deprovisions: Option<u32>,
    /// The share of failed requests (percent) over 5 minutes that quarantines the app (default 50; 0: never).
    #[arg(long)]
    quarantine_error_percent: Option<u32>,
}

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

fn read_secret(path: &PathBuf) -> Result<Secret, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let t = text.trim();
    if t.is_empty() {
        return Err(format!("{} is empty: it must hold the token", path.display()));
    }
    Ok(Secret::new(t))
}

fn apply_settings(cfg: &mut AppConfig, s: &AppSettings) -> Result<Option<Secret>, String> {
    let google_options = s.google_key_file.is_some()
        || s.google_admin.is_some()
        || s.google_customer.is_some()
        || s.google_group_domain.is_some()
        || s.google_url.is_some();
    match &mut cfg.target {
        TargetConfig::Google { url, google: g } => {
            if s.scim_url.is_some() || s.token_file.is_some() || s.oauth2_token_url.is_some() {
                return Err("this is a Google Workspace app: --scim-url, --token-file and --oauth2-* apply to SCIM apps; use --google-url and --google-key-file"
                    .into());
            }
            if let Some(a) = &s.google_admin {
                g.admin = check_admin(a)?;
            }
            if let Some(c) = &s.google_customer {
                g.customer = c.trim().to_owned();
            }
            if let Some(d) = &s.google_group_domain {
                g.group_domain = Some(d.trim().trim_start_matches('@').to_lowercase());
            }
            if let Some(u) = &s.google_url {
                *url = u.trim_end_matches('/').to_owned();
            }
        }
        TargetConfig::Scim { .. } if google_options => {
            return Err("this is a SCIM app: the --google-* options apply to Google Workspace apps (remove the app and add it again with --google-key-file and --google-admin)"
                .into());
        }
        TargetConfig::Scim { .. } => {}
    }
    if let Some(path) = &s.google_key_file {
        let secret = read_secret(path)?;
        google::ServiceAccount::from_json(secret.expose()).map_err(|e| format!("{}: {e}", path.display()))?;
        return finish_settings(cfg, s).map(|()| Some(secret));
    }
    finish_settings(cfg, s)?;
    s.token_file.as_ref().map(read_secret).transpose()
}

fn check_admin(a: &str) -> Result<String, String> {
    let a = a.trim();
    match a.split_once('@') {
        Some((l, d)) if !l.is_empty() && d.contains('.') => Ok(a.to_owned()),
        _ => Err(format!(
            "--google-admin '{a}': give the email address of a super admin of the Google Workspace domain"
        )),
    }
}

fn finish_settings(cfg: &mut AppConfig, s: &AppSettings) -> Result<(), String> {
    if let Some(u) = &s.scim_url {
        cfg.target.set_url(u);
    }
    if s.allow_insecure_http {
        cfg.allow_insecure_http = true;
    }
    cfg.check_url()?;
    if let Some(url) = &s.oauth2_token_url
        && let TargetConfig::Scim { auth, .. } = &mut cfg.target
    {
        *auth = Auth::OAuth2 {
            token_url: url.clone(),
            client_id: s.oauth2_client_id.clone().unwrap_or_default(),
            scope: s.oauth2_scope.clone(),
        };
    }
    if let Some(p) = s.deprovision {
        cfg.deprovision = match p {
            PolicyArg::Disable => Deprovision::Disable,
            PolicyArg::Delete => Deprovision::Delete,
            PolicyArg::None => Deprovision::None,
        };
    }
    if let Some(p) = s.stale_link {
        cfg.stale_link = match p {
            StaleArg::Relink => StaleLinkPolicy::Relink,
            StaleArg::Recreate => StaleLinkPolicy::Recreate,
        };
    }
    if s.scope_all {
        cfg.scope.groups.clear();
        cfg.scope.filter = None;
        cfg.scope.org_units.clear();
    }
    if !s.scope_groups.is_empty() {
        cfg.scope.groups = s.scope_groups.clone();
    }
    if let Some(f) = &s.scope_filter {
        roster_scim::filter::parse(f).map_err(|e| format!("--scope-filter: {}", e.detail))?;
        cfg.scope.filter = Some(f.clone());
    }
    if !s.scope_org_units.is_empty() {
        cfg.scope.org_units = s.scope_org_units.clone();
    }
    if let Some(a) = &s.org_unit_attribute {
        cfg.scope.org_unit_attribute = a.clone();
    }
    if s.default_mapping {
        cfg.mapping.clear();
    }
    if !s.map.is_empty() || !s.map_on_create.is_empty() || !s.unmap.is_empty() {
        let mut rules = Vec::new();
        for m in &s.map {
            rules.push(MappingRule::parse(m, false)?);
        }
        for m in &s.map_on_create {
            rules.push(MappingRule::parse(m, true)?);
        }
        cfg.mapping = if s.replace_mapping {
            rules
        } else {
            roster_engine::mapping::merge_rules(cfg.effective_mapping(), rules, &s.unmap)
        };
    }
    check_mapping_sources(cfg)?;
    if let Some(m) = &s.matching {
        cfg.matching = m.clone();
    }
    if let Some(p) = &s.protected {
        cfg.protected = p.clone();
    }
    if let Some(g) = s.push_groups {
        cfg.push_groups = g;
    }
    if let Some(h) = s.reconcile_every_hours {
        cfg.reconcile_every_hours = h;
    }
    if let Some(c) = s.concurrency {
        cfg.concurrency = c.max(1);
    }
    if let Some(b) = s.bulk {
        cfg.bulk = b;
    }
    if let Some(e) = s.enabled {
        cfg.enabled = e;
    }
    if let Some(r) = s.rate {
        cfg.rate_limit = r;
    }
    if let Some(n) = s.max_group_deprovisions {
        cfg.guards.max_group_deprovisions = n;
    }
    if let Some(n) = s.max_deprovisions {
        cfg.guards.max_deprovisions = n;
    }
    if let Some(p) = s.max_deprovision_percent {
        if p > 100 {
            return Err(format!(
                "--max-deprovision-percent {p}: give a percentage from 0 to 100"
            ));
        }
        cfg.guards.max_deprovision_percent = p;
    }
    if let Some(p) = s.quarantine_error_percent {
        if p > 100 {
            return Err(format!(
                "--quarantine-error-percent {p}: give a percentage from 0 to 100"
            ));
        }
        cfg.guards.quarantine_error_percent = p;
    }
    Ok(())
}

fn config_of(record: &roster_store::AppRecord) -> Result<AppConfig, String> {
    AppConfig::from_json(&record.config)
}

pub async fn run(cmd: AppCommand) -> Result<ExitCode, String> {
    match cmd {
        AppCommand::Add { name, settings, db } => {
            let mut cfg = if settings.google_key_file.is_some() || settings.google_admin.is_some() {
                let (Some(_), Some(admin)) = (&settings.google_key_file, &settings.google_admin) else {
                    return Err("a Google Workspace app needs --google-key-file (the service account's JSON key) and --google-admin (the super admin it acts as)"
                        .into());
                };
                AppConfig::google(check_admin(admin)?)
            } else {
                let url = settings.scim_url.clone().ok_or(
                    "--scim-url is required: the app's SCIM base URL (or, for Google Workspace, --google-key-file and --google-admin)",
                )?;
                if settings.token_file.is_none() {
                    return Err(
                        "--token-file is required: a file holding the app's token (or OAuth2 client secret)"
                            .into(),
                    );
                }
                AppConfig::new(url)
            };
            let secret = apply_settings(&mut cfg, &settings)?;
            cfg.connector(secret.clone())?;
            let store = open(&db).await?;
            resolve_scope_groups(&store, &mut cfg).await?;
            check_required_at_app(&cfg, secret.clone()).await?;
            store
                .create_app(&name, &cfg.to_json()?, secret.as_ref())
                .await
                .map_err(|e| e.to_string())?;
            store
                .set_sends_password(&name, cfg.sends_password())
                .await
                .map_err(|e| e.to_string())?;
            let change = serde_json::json!({"after": audited(&cfg)?, "credential": if secret.is_some() { "set" } else { "none" }});
            crate::actor::record(&store, AuditAction::AppAdd, &name, change).await?;
            eprintln!(
                "App '{name}' added. Check it with: roster app test {name}; see the plan with: roster sync {name} --full --dry-run. {}",
                match (cfg.enabled, cfg.reconcile_every_hours) {
                    (_, 0) => "Run the initial sync with roster sync --full (the schedule is off).",
                    (true, _) =>
                        "A running roster serve starts the initial sync now (add the app with --enabled false to look at the plan first).",
                    (false, _) =>
                        "A running roster serve starts the initial sync once the app is enabled (roster app edit --enabled true).",
                }
            );
        }
        AppCommand::List { format, db } => {
            let store = open(&db).await?;
            let apps = store.list_apps().await.map_err(|e| e.to_string())?;
            if apps.is_empty() && matches!(format, crate::output::Format::Table) {
                eprintln!("No apps. Connect one with: roster app add NAME --scim-url URL --token-file FILE");
            }
            match format {
                crate::output::Format::Table => out!(
                    "{:<20} {:<8} {:<19} {:>7} {:>8} URL",
                    "NAME",
                    "ENABLED",
                    "STATE",
                    "LINKED",
                    "PENDING"
                ),
                crate::output::Format::Csv => out!("name,enabled,state,version,linked,pending,url"),
                crate::output::Format::Json => {}
            }
            let now = roster_store::to_micros(time::OffsetDateTime::now_utc());
            for a in apps {
                let cfg = config_of(&a)?;
                let (active, disabled) = store
                    .count_links(&a.name, ResourceKind::User)
                    .await
                    .map_err(|e| e.to_string())?;
                let pending = store.count_pending(&a.name).await.map_err(|e| e.to_string())?;
                let state = roster_store::state::app_state(&store, &a.name, &cfg.scope.groups, now)
                    .await
                    .map_err(|e| e.to_string())?;
                let url = redact_url(cfg.target.url());
                match format {
                    crate::output::Format::Table => out!(
                        "{:<20} {:<8} {:<19} {:>7} {:>8} {url}",
                        a.name,
                        cfg.enabled,
                        state.kind.as_str(),
                        active + disabled,
                        pending,
                    ),
                    crate::output::Format::Csv => out!(
                        "{},{},{},{},{},{pending},{}",
                        crate::output::csv_field(&a.name),
                        cfg.enabled,
                        state.kind.as_str(),
                        a.version,
                        active + disabled,
                        crate::output::csv_field(&url)
                    ),
                    crate::output::Format::Json => out!(
                        "{}",
                        serde_json::json!({"name": a.name, "enabled": cfg.enabled, "version": a.version,
                            "state": roster_store::state::state_json(&state), "linked": active + disabled, "pending": pending, "url": url})
                    ),
                }
            }
        }
        AppCommand::Show { name, format, db } => {
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
            let scope = if cfg.scope.groups.is_empty()
                && cfg.scope.filter.is_none()
                && cfg.scope.org_units.is_empty()
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
        }
        AppCommand::Release { name, db } => {
            let store = open(&db).await?;
            find(&store, &name).await?;
            let now = roster_store::to_micros(time::OffsetDateTime::now_utc());
            if store.release_app(&name, now).await.map_err(|e| e.to_string())? {
                crate::actor::record(&store, AuditAction::AppRelease, &name, serde_json::json!({})).await?;
                eprintln!("Released {name}: roster syncs it again (pending changes were kept).");
            } else {
                eprintln!("{name} is not quarantined; nothing to release.");
            }
        }
        AppCommand::Edit {
            name,
            if_version,
            settings,
            db,
        } => {
            let store = open(&db).await?;
            let a = find(&store, &name).await?;
            let mut cfg = config_of(&a)?;
            let secret = apply_settings(&mut cfg, &settings)?;
            if !settings.scope_groups.is_empty() {
                resolve_scope_groups(&store, &mut cfg).await?;
            }
            let mapping_changed = !settings.map.is_empty()
                || !settings.map_on_create.is_empty()
                || !settings.unmap.is_empty()
                || settings.default_mapping;
            if mapping_changed {
                let current = match &secret {
                    Some(s) => Some(s.clone()),
                    None => store.open_secret(&a).await.map_err(|e| e.to_string())?,
                };
                check_required_at_app(&cfg, current).await?;
            }
            let expected = if_version.unwrap_or(a.version);
            let before = audited(&config_of(&a)?)?;
            let updated = store
                .update_app(&name, &cfg.to_json()?, secret.as_ref(), expected)
                .await
                .map_err(|e| e.to_string())?;
            store
                .set_sends_password(&name, cfg.sends_password())
                .await
                .map_err(|e| e.to_string())?;
            let change = serde_json::json!({
                "before": before,
                "after": audited(&cfg)?,
                "version": updated.version,
                "credential": if secret.is_some() { "replaced" } else { "unchanged" },
            });
            let action = match (config_of(&a)?.enabled, cfg.enabled) {
                (false, true) => AuditAction::AppEnable,
                (true, false) => AuditAction::AppDisable,
                _ => AuditAction::AppEdit,
            };
            crate::actor::record(&store, action, &name, change).await?;
            eprintln!("App '{name}' is now at version {}.", updated.version);
            // The change may cure what failed: it is tried again now, not after its backoff.
            let now = roster_store::to_micros(time::OffsetDateTime::now_utc());
            let due = store
                .retry_now(&name, None, None, now)
                .await
                .map_err(|e| e.to_string())?;
            if due > 0 {
                eprintln!("{due} failed object(s) are due again now.");
            }
            if store.release_app(&name, now).await.map_err(|e| e.to_string())? {
                eprintln!(
                    "The quarantine of '{name}' is lifted: its settings changed, so roster tries it again."
                );
            }
        }
        AppCommand::Remove { name, db } => {
            let store = open(&db).await?;
            let before = find(&store, &name)
                .await
                .ok()
                .map(|a| config_of(&a))
                .transpose()?;
            if !store.delete_app(&name).await.map_err(|e| e.to_string())? {
                return Err(format!("no app named '{name}'; see roster app list"));
            }
            let before = before
                .as_ref()
                .map(audited)
                .transpose()?
                .unwrap_or(serde_json::Value::Null);
            crate::actor::record(
                &store,
                AuditAction::AppRemove,
                &name,
                serde_json::json!({"before": before}),
            )
            .await?;
            eprintln!("App '{name}' removed; its accounts in the app were left as they are.");
        }
        AppCommand::Test { name, db } => return test(&name, &db).await,
        AppCommand::Preview { name, user, db } => {
            let store = open(&db).await?;
            find(&store, &name).await?;
            let app = AppRuntime::load(&store, &name).await.map_err(|e| e.to_string())?;
            let id = find_user(&store, &user).await?;
            let r = sync_user(&store, &app, &id, false, true).await?;
            match &r.action {
                roster_engine::plan::Action::Create { payload } => out!("{}", wire(&app, payload)?),
                _ => {
                    let resource = store
                        .get_resource(ResourceKind::User, &id)
                        .await
                        .map_err(|e| e.to_string())?;
                    match app.source(
                        resource
                            .map(|r| {
                                let mut d = r.data;
                                d.insert("id".into(), r.id.into());
                                serde_json::Value::Object(d)
                            })
                            .as_ref(),
                    ) {
                        roster_engine::plan::Source::InScope { create, .. } => {
                            out!("{}", wire(&app, &create)?)
                        }
                        _ => {
                            return Err(format!(
                                "user '{user}' is not in the scope of app '{name}': nothing would be sent"
                            ));
                        }
                    }
                }
            }
            eprintln!("plan: {}", r.action);
            let problems = mapping_problems(&app.config.effective_mapping(), &[]);
            for p in &problems {
                eprintln!("FAIL  {}: {p}", codes::MAPPING_INVALID.code);
            }
            if !problems.is_empty() {
                return Ok(ExitCode::from(1));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// An app's settings as the audit log keeps them: no credential is in them, and credentials in the URL are
/// redacted.
/// `roster app show --format json`: the settings (no credential), the state with every condition, the
/// mapping in effect, accounts, held deprovisions and the first pending objects.
async fn show_json(
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

/// The settings as the audit log and `app show` give them: the URL's credentials redacted.
fn audited(cfg: &AppConfig) -> Result<serde_json::Value, String> {
    let mut v = cfg.to_json()?;
    if let Some(u) = v.pointer_mut("/target/url") {
        *u = serde_json::Value::String(redact_url(cfg.target.url()));
    }
    Ok(v)
}

/// The body roster would send to create the account, as shown to a person (see
/// `Connector::create_body_shown`).
fn wire(app: &AppRuntime, payload: &serde_json::Map<String, serde_json::Value>) -> Result<String, String> {
    pretty(&app.client.create_body_shown(ResourceKind::User, payload)?)
}

fn pretty(v: &serde_json::Value) -> Result<String, String> {
    serde_json::to_string_pretty(v).map_err(|e| format!("the payload cannot be printed: {e}"))
}

fn roster_store_time(micros: i64) -> String {
    roster_store::from_micros(micros)
        .map(roster_scim::value::format_datetime)
        .unwrap_or_else(|_| "later".into())
}

/// At `app add` and when `app edit` changes the mapping: every attribute the app's own `/Schemas` marks required
/// must be mapped, or every create would fail at the app. The app is asked once, for five seconds at most; one
/// that cannot be asked now is checked by `roster app test` later (said so). Google Workspace apps are checked by
/// their fixed attributes instead.
async fn check_required_at_app(cfg: &AppConfig, secret: Option<Secret>) -> Result<(), String> {
    if let TargetConfig::Google { .. } = cfg.target {
        return Ok(());
    }
    let Ok(client) = cfg.connector(secret) else {
        return Ok(());
    };
    match tokio::time::timeout(std::time::Duration::from_secs(5), client.discover()).await {
        Ok(Ok(d)) => {
            let missing = roster_engine::mapping::missing_required(
                &cfg.effective_mapping(),
                roster_engine::mapping::USER_SCHEMA,
                &d.definitions,
            );
            if let Some(attr) = missing.first() {
                return Err(format!(
                    "{}: the app's schema requires '{attr}' and no rule maps it, so every create would fail: add \
                     one, for example --map '{attr}={attr}'",
                    codes::MAPPING_INVALID.code
                ));
            }
            Ok(())
        }
        Ok(Err(e)) => {
            eprintln!(
                "note: the app's schemas could not be read now ({}: {}); roster app test checks the mapping against \
                 them once the app answers",
                e.code.code, e.message
            );
            Ok(())
        }
        Err(_) => {
            eprintln!(
                "note: the app did not answer within 5 s; roster app test checks the mapping against its schemas \
                 once it does"
            );
            Ok(())
        }
    }
}

/// Stores the scope groups by id: each is given by id or displayName, and must exist, so a rename in the
/// directory keeps the scope and a typo is refused now rather than stopping the app later.
async fn resolve_scope_groups(store: &Store, cfg: &mut AppConfig) -> Result<(), String> {
    let mut ids = Vec::with_capacity(cfg.scope.groups.len());
    for g in &cfg.scope.groups {
        match store.resolve_group(g).await {
            Ok(Some(id)) => ids.push(id),
            Ok(None) => {
                return Err(format!(
                    "{}: no group '{g}' in the directory. Name an existing group (by displayName or id), or create \
                     it first (roster import, or your identity provider)",
                    codes::SCOPE_GROUP_MISSING.code
                ));
            }
            Err(roster_store::StoreError::Scim(e)) => {
                return Err(format!("{}: {}", codes::SCOPE_GROUP_MISSING.code, e.detail));
            }
            Err(e) => return Err(e.to_string()),
        }
    }
    cfg.scope.groups = ids;
    Ok(())
}

/// The scope groups as an admin knows them: each group's current displayName (and id), or a deleted group's id
/// marked as missing. Scopes stored by name (before groups were stored by id) are shown as stored.
async fn scope_group_names(store: &Store, cfg: &AppConfig) -> Result<String, String> {
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

/// Refuses a mapping that reads attributes the directory does not have, or maps nothing to `userName` (RFC 7643
/// requires it of every user; `roster app test` checks what the app's own schemas require).
fn check_mapping_sources(cfg: &AppConfig) -> Result<(), String> {
    let rules = cfg.effective_mapping();
    let mut problems = mapping_problems(&rules, &[]);
    if let Some(first) = problems.first_mut() {
        first.insert_str(0, &format!("{}: ", codes::MAPPING_INVALID.code));
        return Err(format!(
            "{}. Fix the rule: --map 'TARGET=EXPRESSION' adds or replaces one, --unmap TARGET removes one",
            problems.join("; ")
        ));
    }
    Ok(())
}

/// What is wrong with a user mapping: sources the directory does not have, and attributes the app requires
/// (from its schemas `definitions`; RFC 7643's `userName` when it serves none) that no rule maps.
fn mapping_problems(rules: &[MappingRule], definitions: &[roster_scim::Schema]) -> Vec<String> {
    let registry = roster_scim::SchemaRegistry::new();
    let mut problems = registry
        .resource("User")
        .map(|users| roster_engine::mapping::check_sources(rules, &users))
        .unwrap_or_default();
    for attr in
        roster_engine::mapping::missing_required(rules, roster_engine::mapping::USER_SCHEMA, definitions)
    {
        problems.push(format!(
            "the app requires '{attr}' and no rule maps it (every create would fail): add one, for example \
             --map '{attr}={attr}'"
        ));
    }
    problems
}

fn check_mapping(cfg: &AppConfig, d: &Discovery, ok: &mut bool) {
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

async fn test(name: &str, db: &DatabaseArg) -> Result<ExitCode, String> {
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
