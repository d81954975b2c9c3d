//! `roster app test` as a report: the app's target reachable, the credential accepted, discovery served, the
//! mapping valid against the app's schemas and the directory's, scope and mapping loadable. Each check is a value;
//! the shell says them in its language.

use crate::apps::config_of;
use crate::{Admin, AdminError};
use roster_codes::{self as codes, Code};
use roster_engine::config::{AppConfig, TargetConfig};
use roster_engine::connect::Discovery;
use roster_engine::mapping::{self, MappingRule};
use roster_engine::sync::AppRuntime;

/// One check of an app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    /// It holds.
    Ok(String),
    /// Worth knowing, not a failure.
    Note(String),
    /// It does not hold: what is wrong, with its code when it has one.
    Fail {
        /// The code.
        code: Option<&'static Code>,
        /// What is wrong.
        text: String,
    },
    /// The target refused or failed: its code (whose title, cause and fix the shell gives) and what happened.
    Target {
        /// The code.
        code: &'static Code,
        /// What happened.
        happened: String,
    },
}

/// What [`Admin::test_app`] found.
#[derive(Debug, Clone)]
pub struct AppTest {
    /// The target's URL, credentials in it redacted; `None` when no client could be made.
    pub url: Option<String>,
    /// The checks, in the order they ran.
    pub checks: Vec<Check>,
}

impl AppTest {
    /// Whether every check held.
    pub fn passed(&self) -> bool {
        !self
            .checks
            .iter()
            .any(|c| matches!(c, Check::Fail { .. } | Check::Target { .. }))
    }
}

impl Admin {
    /// Checks an app end to end, without changing anything.
    pub async fn test_app(&self, name: &str) -> Result<AppTest, AdminError> {
        let record = self.app(name).await?;
        let cfg = config_of(&record)?;
        let secret = self.store().open_secret(&record).await?;
        let client = match cfg.connector(secret) {
            Ok(c) => c,
            Err(m) => {
                return Ok(AppTest {
                    url: None,
                    checks: vec![Check::Fail {
                        code: None,
                        text: format!("configuration: {m}"),
                    }],
                });
            }
        };
        let mut checks = Vec::new();
        match client.discover().await {
            Ok(d) if matches!(cfg.target, TargetConfig::Google { .. }) => {
                checks.push(Check::Ok(
                    "Google issued a token to the service account (domain-wide delegation works)".into(),
                ));
                checks.push(Check::Ok(
                    "Directory API: users and groups of the customer can be read".into(),
                ));
                checks.push(Check::Ok(format!(
                    "attributes Google keeps: {}",
                    d.schemas.join(", ")
                )));
                check_mapping(&cfg, &d, &mut checks);
            }
            Ok(d) => {
                checks.push(Check::Ok("reachable, credential accepted".into()));
                checks.push(Check::Ok(format!(
                    "ServiceProviderConfig: PATCH {}",
                    if d.patch {
                        "supported"
                    } else {
                        "not supported (roster uses PUT)"
                    }
                )));
                checks.push(Check::Ok(format!("Schemas: {}", d.schemas.join(", "))));
                checks.push(Check::Ok(format!(
                    "ResourceTypes: {}",
                    d.resource_types.join(", ")
                )));
                check_mapping(&cfg, &d, &mut checks);
                if !d.resource_types.iter().any(|r| r.eq_ignore_ascii_case("User")) {
                    checks.push(Check::Fail {
                        code: Some(&codes::TARGET_SCHEMA),
                        text: "the app lists no User resource type".into(),
                    });
                }
            }
            Err(e) => checks.push(Check::Target {
                code: e.code,
                happened: e.message,
            }),
        }
        match AppRuntime::load(self.store(), name).await {
            Ok(_) => checks.push(Check::Ok("scope and mapping are valid".into())),
            Err(e) => checks.push(Check::Fail {
                code: None,
                text: e.to_string(),
            }),
        }
        Ok(AppTest {
            url: Some(roster_store::redact_url(client.base())),
            checks,
        })
    }
}

fn check_mapping(cfg: &AppConfig, d: &Discovery, checks: &mut Vec<Check>) {
    let rules = cfg.effective_mapping();
    let mut problems = Vec::new();
    if d.definitions.is_empty() {
        checks.push(Check::Note(
            "the app serves no schema definitions: mapped attributes cannot be checked against them".into(),
        ));
    } else {
        problems = mapping::check_targets(&rules, mapping::USER_SCHEMA, &d.definitions);
    }
    if let TargetConfig::Scim { .. } = cfg.target {
        problems.extend(mapping_problems(&rules, &d.definitions));
    }
    if problems.is_empty() {
        checks.push(Check::Ok(
            "every mapped attribute exists in the app's schemas".into(),
        ));
    }
    checks.extend(problems.into_iter().map(|p| Check::Fail {
        code: Some(&codes::MAPPING_INVALID),
        text: p,
    }));
}

/// What is wrong with a user mapping: sources the directory does not have, and attributes the app requires
/// (from its schemas `definitions`; RFC 7643's `userName` when it serves none) that no rule maps.
pub fn mapping_problems(rules: &[MappingRule], definitions: &[roster_scim::Schema]) -> Vec<String> {
    let registry = roster_scim::SchemaRegistry::new();
    let mut problems = registry
        .resource("User")
        .map(|users| mapping::check_sources(rules, &users))
        .unwrap_or_default();
    for attr in mapping::missing_required(rules, mapping::USER_SCHEMA, definitions) {
        problems.push(format!(
            "the app requires '{attr}' and no rule maps it (every create would fail): add one, for example \
             --map '{attr}={attr}'"
        ));
    }
    problems
}
