//! An app's settings: its target (what kind, where, how roster signs in: `roster_connect::TargetConfig`), what
//! is in scope, how attributes map, how accounts are matched and what happens when someone leaves. Stored as
//! JSON in the app's row; the credential is stored apart (`roster_store::Secret`) and never appears here.

use crate::mapping::MappingRule;
pub use roster_connect::{Auth, TargetConfig};
use roster_connect::{Connector, Options};
use roster_store::Secret;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What happens to an account whose directory object left scope or was deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Deprovision {
    /// Set `active: false`; the account is kept and reactivated if the object comes back (the default).
    #[default]
    Disable,
    /// Delete the account.
    Delete,
    /// Leave the account as it is (roster stops managing it).
    None,
}

impl Deprovision {
    /// The name used in settings and on the command line.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Disable => "disable",
            Self::Delete => "delete",
            Self::None => "none",
        }
    }
}

/// What a 404 on a linked account (the app deleted it behind roster's back) leads to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum StaleLinkPolicy {
    /// Look for the account again with the matching rules; create one if none is found (the default).
    #[default]
    Relink,
    /// Create a new account straight away.
    Recreate,
}

/// Which directory objects the app receives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ScopeConfig {
    /// Members of these groups (ids or displayNames; nested groups expanded). Empty: every user.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
    /// A SCIM filter every user in scope must match, such as
    /// `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq "Sales"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<String>,
    /// Only users whose org unit path (the mapped source attribute `org_unit_attribute`) is one of these
    /// paths or below one of them (`/Sales` covers `/Sales/EMEA`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub org_units: Vec<String>,
    /// The source attribute that holds a user's org unit path.
    #[serde(default = "default_org_unit_attribute")]
    pub org_unit_attribute: String,
}

fn default_org_unit_attribute() -> String {
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department".into()
}

/// Everything about one connected app except its credential.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AppConfig {
    /// The target: its kind, its URL and how roster signs in.
    pub target: TargetConfig,
    /// What happens when someone leaves scope.
    #[serde(default)]
    pub deprovision: Deprovision,
    /// What a 404 on a linked account leads to.
    #[serde(default)]
    pub stale_link: StaleLinkPolicy,
    /// Who is in scope.
    #[serde(default)]
    pub scope: ScopeConfig,
    /// Target attribute ← source attribute, constant or expression. Empty: the default mapping.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mapping: Vec<MappingRule>,
    /// Target attributes tried in order to find an existing account before creating one.
    #[serde(default = "default_matching")]
    pub matching: Vec<String>,
    /// Whether groups (the scope groups, or every group when the scope is every user) are pushed too.
    #[serde(default)]
    pub push_groups: bool,
    /// Whether the engine runs for this app (a paused app keeps its queue).
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Hours between full reconciles run by `roster serve` (the first runs as soon as the app is enabled: the
    /// initial sync). 0 turns the schedule off, initial sync included.
    #[serde(default = "default_reconcile_hours")]
    pub reconcile_every_hours: u32,
    /// How many requests roster has in flight to this app at once.
    #[serde(default = "default_concurrency")]
    pub concurrency: u16,
    /// Target accounts roster must never disable or delete, by target userName (case-insensitive), such as the
    /// account the connection itself uses.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub protected: Vec<String>,
    /// The deprovision guard and quarantine thresholds.
    #[serde(default)]
    pub guards: Guards,
    /// Requests per second roster sends this app at most (0: no limit besides `concurrency`). A `/Bulk`
    /// request counts as one.
    #[serde(default)]
    pub rate_limit: u32,
    /// Whether creates made at the same time go to the target together in `/Bulk` requests, when its
    /// ServiceProviderConfig says it supports Bulk (a target that then refuses `/Bulk` gets single POSTs).
    #[serde(default = "yes")]
    pub bulk: bool,
    /// Whether a plain `http://` URL to a host other than this machine is accepted (the admin's explicit
    /// `--allow-insecure-http`): requests carry the app's credential and people's data.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_insecure_http: bool,
}

/// When roster stops by itself: too many deprovisions at once, too many failed requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Guards {
    /// Deprovisions (disables and deletes) allowed in one hour, or in one reconcile, before the rest are held for
    /// `roster approve` (0: no count limit).
    pub max_deprovisions: u32,
    /// The same as a share of the app's linked accounts, in percent (0: no share limit); it applies once more than
    /// `percent_floor` deprovisions are pending, so a small app can lose a few people without an approval.
    pub max_deprovision_percent: u32,
    /// See `max_deprovision_percent`.
    pub percent_floor: u32,
    /// Group deletions allowed in one hour, or in one reconcile, counted apart from users' deprovisions: a group
    /// source read empty must not delete every group, and deleting a group removes access for all its members
    /// at once (0: no count limit). The percentage applies to groups too, against the app's linked groups.
    pub max_group_deprovisions: u32,
    /// A share of failed requests (percent) in the sliding window that quarantines the app.
    pub quarantine_error_percent: u32,
    /// The sliding window, in seconds.
    pub quarantine_window_secs: u32,
    /// The fewest requests in the window before the share counts.
    pub quarantine_min_requests: u32,
    /// Refusals of roster's credentials in a row that quarantine the app.
    pub quarantine_auth_failures: u32,
    /// The first quarantine's length in seconds; each failed probation doubles it, up to six hours.
    pub quarantine_secs: u32,
}

impl Default for Guards {
    fn default() -> Self {
        Self {
            max_deprovisions: 500,
            max_deprovision_percent: 20,
            percent_floor: 10,
            max_group_deprovisions: 50,
            quarantine_error_percent: 50,
            quarantine_window_secs: 300,
            quarantine_min_requests: 20,
            quarantine_auth_failures: 3,
            quarantine_secs: 300,
        }
    }
}

fn default_matching() -> Vec<String> {
    vec!["userName".into(), "emails.value".into()]
}

fn default_reconcile_hours() -> u32 {
    24
}

fn default_concurrency() -> u16 {
    8
}

fn yes() -> bool {
    true
}

impl AppConfig {
    /// Settings for a bearer-token SCIM target with every default.
    pub fn new(scim_url: impl Into<String>) -> Self {
        Self {
            target: TargetConfig::scim(scim_url),
            deprovision: Deprovision::default(),
            stale_link: StaleLinkPolicy::default(),
            scope: ScopeConfig {
                org_unit_attribute: default_org_unit_attribute(),
                ..ScopeConfig::default()
            },
            mapping: Vec::new(),
            matching: default_matching(),
            push_groups: false,
            enabled: true,
            concurrency: default_concurrency(),
            reconcile_every_hours: default_reconcile_hours(),
            protected: Vec::new(),
            guards: Guards::default(),
            rate_limit: 0,
            bulk: true,
            allow_insecure_http: false,
        }
    }

    /// Checks the app's URL: `https://`, or `http://` to this machine (a local test target), or `http://`
    /// anywhere when the admin allowed it.
    pub fn check_url(&self) -> Result<(), String> {
        self.target.check_url(self.allow_insecure_http)
    }

    /// Settings for a Google Workspace app whose service account acts as `admin`, with every default.
    pub fn google(admin: impl Into<String>) -> Self {
        Self {
            target: TargetConfig::google(admin),
            ..Self::new("https://unused.invalid")
        }
    }

    /// How hard roster may press the target.
    pub fn options(&self) -> Options {
        Options {
            concurrency: self.concurrency,
            rate_limit: self.rate_limit,
            bulk: self.bulk,
            allow_insecure_http: self.allow_insecure_http,
        }
    }

    /// A client for the app's target with its credential.
    pub fn connector(&self, secret: Option<Secret>) -> Result<Connector, String> {
        Connector::new(&self.target, &self.options(), secret)
    }

    /// Whether the mapping in force sends the user's password (a rule that does not compile sends nothing).
    pub fn sends_password(&self) -> bool {
        self.effective_mapping()
            .iter()
            .filter_map(|r| r.compile().ok())
            .any(|r| r.reads("password"))
    }

    /// The mapping in force: the configured rules, or the default ones.
    pub fn effective_mapping(&self) -> Vec<MappingRule> {
        if self.mapping.is_empty() {
            let mut rules = crate::mapping::default_user_mapping();
            let unkept = self.target.unkept_user_attributes();
            rules.retain(|r| !unkept.contains(&r.target.as_str()));
            rules
        } else {
            self.mapping.clone()
        }
    }

    /// Reads settings stored as JSON, those stored before targets had kinds included (see [`upgrade`]).
    pub fn from_json(v: &Value) -> Result<Self, String> {
        serde_json::from_value(upgrade(v.clone()))
            .map_err(|e| format!("the app's stored settings cannot be read: {e}"))
    }

    /// The settings as JSON, for storing.
    pub fn to_json(&self) -> Result<serde_json::Value, String> {
        serde_json::to_value(self).map_err(|e| format!("the app's settings cannot be written as JSON: {e}"))
    }
}

/// Settings stored before targets had kinds (`scim_url`, `auth` and, for Google Workspace, `google` at the top
/// level) in today's form (`target: {"kind": …}`); today's settings pass unchanged. Rows are rewritten in the
/// new form the next time the app is saved.
pub fn upgrade(mut v: Value) -> Value {
    let Some(o) = v.as_object_mut() else { return v };
    if o.contains_key("target") {
        return v;
    }
    let url = o.remove("scim_url");
    let auth = o.remove("auth");
    let google = o.remove("google").filter(|g| !g.is_null());
    let target = match google {
        Some(Value::Object(mut g)) => {
            g.insert("kind".into(), "google".into());
            if let Some(u) = url {
                g.insert("url".into(), u);
            }
            Value::Object(g)
        }
        _ => serde_json::json!({
            "kind": "scim",
            "url": url.unwrap_or(Value::Null),
            "auth": auth.unwrap_or_else(|| serde_json::json!({"type": "bearer"})),
        }),
    };
    o.insert("target".into(), target);
    v
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    /// Rows saved before targets had kinds read as the same app; saving writes the new form, read alike.
    #[test]
    fn settings_stored_before_target_kinds_are_read() {
        let scim = json!({"scim_url": "https://a.example.com/scim/v2", "concurrency": 3,
                          "auth": {"type": "o_auth2", "token_url": "https://idp/token", "client_id": "c"}});
        let cfg = AppConfig::from_json(&scim).unwrap();
        assert_eq!(
            cfg.target,
            TargetConfig::Scim {
                url: "https://a.example.com/scim/v2".into(),
                auth: Auth::OAuth2 {
                    token_url: "https://idp/token".into(),
                    client_id: "c".into(),
                    scope: None
                }
            }
        );
        assert_eq!(cfg.concurrency, 3);
        let bare = AppConfig::from_json(&json!({"scim_url": "https://b.example.com"})).unwrap();
        assert_eq!(bare.target, TargetConfig::scim("https://b.example.com"));
        let google = json!({"scim_url": "http://127.0.0.1:9/directory", "auth": {"type": "bearer"},
                            "google": {"admin": "admin@example.com", "customer": "C01", "group_domain": "groups.example.com"}});
        let cfg = AppConfig::from_json(&google).unwrap();
        let TargetConfig::Google { url, google } = &cfg.target else {
            panic!("{cfg:?}")
        };
        assert_eq!(url, "http://127.0.0.1:9/directory");
        assert_eq!(
            (
                google.admin.as_str(),
                google.customer.as_str(),
                google.group_domain()
            ),
            ("admin@example.com", "C01", "groups.example.com")
        );
        let saved = cfg.to_json().unwrap();
        assert_eq!(saved["target"]["kind"], "google");
        assert!(saved.get("scim_url").is_none() && saved.get("google").is_none());
        assert_eq!(AppConfig::from_json(&saved).unwrap(), cfg);
        assert!(
            AppConfig::from_json(&json!({"concurrency": 2}))
                .unwrap_err()
                .contains("cannot be read")
        );
    }
}
