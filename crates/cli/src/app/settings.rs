//! What `roster app add` and `roster app edit` share: the settings flags, how they apply to an app's
//! configuration, and the checks they run (the URL, the credential file, scope groups, the mapping against the app).

use clap::{Args, ValueEnum};
use roster_engine::codes;
use roster_engine::config::{AppConfig, Auth, Deprovision, StaleLinkPolicy, TargetConfig};
use roster_engine::connect::google;
use roster_engine::mapping::MappingRule;
use roster_store::Secret;
use std::path::PathBuf;

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
    pub(super) scim_url: Option<String>,
    /// Accept a plain http:// URL to another machine: requests then carry the app's credential and people's
    /// data unencrypted (http:// to this machine is always accepted, for local test targets).
    #[arg(long)]
    pub(super) allow_insecure_http: bool,
    /// A file holding the bearer token (or, with --oauth2-token-url, the OAuth2 client secret).
    #[arg(long)]
    pub(super) token_file: Option<PathBuf>,
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
    pub(super) google_key_file: Option<PathBuf>,
    /// Google Workspace: the super admin the service account acts as (domain-wide delegation); roster never
    /// suspends or deletes this account.
    #[arg(long)]
    pub(super) google_admin: Option<String>,
    /// Google Workspace: the customer id (default my_customer, the admin's own account).
    #[arg(long)]
    pub(super) google_customer: Option<String>,
    /// Google Workspace: the domain of group addresses made from group names (default: the admin's domain).
    #[arg(long)]
    pub(super) google_group_domain: Option<String>,
    /// Google Workspace: the Directory API base URL (default `https://admin.googleapis.com/admin/directory/v1`;
    /// set it for a proxy or a test stand-in).
    #[arg(long)]
    pub(super) google_url: Option<String>,
    /// What happens to the account of someone who leaves scope.
    #[arg(long, value_enum)]
    pub(super) deprovision: Option<PolicyArg>,
    /// What happens when the app deleted a linked account.
    #[arg(long, value_enum)]
    pub(super) stale_link: Option<StaleArg>,
    /// Only members of this group (id or displayName; repeat for several; nested groups count).
    #[arg(long = "scope-group")]
    pub(super) scope_groups: Vec<String>,
    /// Only users matching this SCIM filter.
    #[arg(long)]
    pub(super) scope_filter: Option<String>,
    /// Only users in this org unit path or below (repeat for several).
    #[arg(long = "scope-org-unit")]
    pub(super) scope_org_units: Vec<String>,
    /// The source attribute holding a user's org unit path.
    #[arg(long)]
    pub(super) org_unit_attribute: Option<String>,
    /// Every user (clears the scope groups, filter and org units).
    #[arg(long, conflicts_with_all = ["scope_groups", "scope_filter", "scope_org_units"])]
    pub(super) scope_all: bool,
    /// A mapping rule TARGET=EXPRESSION (repeat): added to the app's mapping, or replacing its rule for TARGET
    /// (the default maps the core attributes; roster app show lists the rules).
    #[arg(long = "map")]
    pub(super) map: Vec<String>,
    /// A mapping rule applied only when the account is created (added or replaced like --map).
    #[arg(long = "map-on-create")]
    pub(super) map_on_create: Vec<String>,
    /// Remove the mapping rule for this target attribute (repeat).
    #[arg(long = "unmap")]
    pub(super) unmap: Vec<String>,
    /// The --map and --map-on-create rules replace the whole mapping instead of changing it.
    #[arg(long, requires = "map")]
    pub(super) replace_mapping: bool,
    /// Go back to the default mapping.
    #[arg(long, conflicts_with_all = ["map", "map_on_create", "unmap"])]
    pub(super) default_mapping: bool,
    /// Target attributes tried in order to find an existing account (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub(super) matching: Option<Vec<String>>,
    /// Target userNames roster never disables or deletes (comma-separated), such as its own service account.
    #[arg(long, value_delimiter = ',')]
    pub(super) protected: Option<Vec<String>>,
    /// Push groups and their memberships too (the scope groups, or every group when the scope is every user).
    #[arg(long)]
    pub(super) push_groups: Option<bool>,
    /// Hours between the full reconciles `roster serve` runs (default 24; the first is the initial sync, as soon
    /// as the app is enabled; 0 turns both off).
    #[arg(long)]
    pub(super) reconcile_every_hours: Option<u32>,
    /// How many requests roster has in flight to the app at once, divided among every roster process working for
    /// it on the database (default 8).
    #[arg(long)]
    pub(super) concurrency: Option<u16>,
    /// Send creates made at the same time together in `/Bulk` requests when the app supports Bulk (default
    /// true; false: one POST per account).
    #[arg(long)]
    pub(super) bulk: Option<bool>,
    /// Pause (false) or resume (true) syncing.
    #[arg(long)]
    pub(super) enabled: Option<bool>,
    /// Requests per second roster sends the app at most, shared by all its workers and every roster process on
    /// the database (0: no limit).
    #[arg(long)]
    pub(super) rate: Option<u32>,
    /// Deprovisions allowed in an hour (or one reconcile) before the rest wait for roster approve (default 500;
    /// 0: no count limit).
    #[arg(long)]
    pub(super) max_deprovisions: Option<u32>,
    /// The same as a share of the app's accounts, in percent (default 20; 0: no share limit); it applies once
    /// more than 10 deprovisions are pending.
    #[arg(long)]
    pub(super) max_deprovision_percent: Option<u32>,
    /// Group deletions allowed in an hour (or one reconcile), counted apart from users (default 50; 0: no count
    /// limit); the percentage applies to groups too.
    #[arg(long)]
    pub(super) max_group_deprovisions: Option<u32>,
    /// The share of failed requests (percent) over 5 minutes that quarantines the app (default 50; 0: never).
    #[arg(long)]
    pub(super) quarantine_error_percent: Option<u32>,
}

pub(super) fn read_secret(path: &PathBuf) -> Result<Secret, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let t = text.trim();
    if t.is_empty() {
        return Err(format!("{} is empty: it must hold the token", path.display()));
    }
    Ok(Secret::new(t))
}

pub(super) fn apply_settings(cfg: &mut AppConfig, s: &AppSettings) -> Result<Option<Secret>, String> {
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

pub(super) fn check_admin(a: &str) -> Result<String, String> {
    let a = a.trim();
    match a.split_once('@') {
        Some((l, d)) if !l.is_empty() && d.contains('.') => Ok(a.to_owned()),
        _ => Err(format!(
            "--google-admin '{a}': give the email address of a super admin of the Google Workspace domain"
        )),
    }
}

pub(super) fn finish_settings(cfg: &mut AppConfig, s: &AppSettings) -> Result<(), String> {
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

/// Refuses a mapping that reads attributes the directory does not have, or maps nothing to `userName` (RFC 7643
/// requires it of every user; `roster app test` checks what the app's own schemas require).
pub(super) fn check_mapping_sources(cfg: &AppConfig) -> Result<(), String> {
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

pub(super) use roster_admin::checks::mapping_problems;

/// Says on stderr what asking the app for its schemas came to, when it could not be done now.
pub(super) fn note_schema_check(check: &roster_admin::apps::SchemaCheck) {
    use roster_admin::apps::SchemaCheck;
    match check {
        SchemaCheck::Checked | SchemaCheck::NotAsked => {}
        SchemaCheck::Unreachable { code, message } => eprintln!(
            "note: the app's schemas could not be read now ({}: {message}); roster app test checks the mapping \
             against them once the app answers",
            code.code
        ),
        SchemaCheck::TimedOut => eprintln!(
            "note: the app did not answer within 5 s; roster app test checks the mapping against its schemas once \
             it does"
        ),
    }
}

/// An app's stored settings.
pub(super) fn config_of(record: &roster_store::AppRecord) -> Result<AppConfig, String> {
    roster_admin::apps::config_of(record).map_err(|e| e.message)
}

/// The settings as the audit log and `app show` give them: the URL's credentials redacted.
pub(super) fn audited(cfg: &AppConfig) -> Result<serde_json::Value, String> {
    roster_admin::apps::audited(cfg).map_err(|e| e.message)
}
