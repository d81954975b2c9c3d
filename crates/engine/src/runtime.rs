//! An app ready to sync: settings checked, mapping compiled, scope resolved, client built ([`AppRuntime`]); the
//! directory side of an object after scope and mapping ([`AppRuntime::source`]); and the snapshot of a target's
//! matching values a full reconcile takes ([`TargetSnapshot`]).

use crate::codes::{self, Code};
use crate::config::AppConfig;
use crate::connect::{Connector, RateLease};
use crate::health::{Tracker, Watch};
use crate::mapping::{self, CompiledRule, USER_SCHEMA};
use crate::plan::Source;
use roster_scim::{Filter, PatchPath, SchemaRegistry};
use roster_store::{ResourceKind, Store, StoreError};
use serde_json::{Map, Value, json};

/// Why an app cannot run at all (its settings are wrong), as a roster code and words.
#[derive(Debug, Clone)]
pub struct AppError {
    /// The code.
    pub code: &'static Code,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for AppError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}). Fix: {}", self.message, self.code.code, self.code.fix)
    }
}

/// Failures of a sync run: the app's settings, or the store.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// The app cannot run as configured.
    #[error("{0}")]
    App(AppError),
    /// roster's database failed.
    #[error("{0}")]
    Store(#[from] StoreError),
}

fn app_error(code: &'static Code, message: String) -> SyncError {
    SyncError::App(AppError { code, message })
}

/// An app's rate budget leased from the store, so every roster process on the database shares it.
struct StoreLease {
    store: Store,
    app: String,
}

impl RateLease for StoreLease {
    fn lease(
        &self,
        now: i64,
        span: i64,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<i64, String>> + Send + '_>> {
        Box::pin(async move {
            self.store
                .lease_rate_block(&self.app, now, span)
                .await
                .map_err(|e| format!("app {}: {e}", self.app))
        })
    }
}

/// One app, ready to sync: settings checked, mapping compiled, scope groups resolved, client built.
#[derive(Debug)]
pub struct AppRuntime {
    /// The app's name.
    pub name: String,
    /// Its settings.
    pub config: AppConfig,
    rules: Vec<CompiledRule>,
    scope_filter: Option<Filter>,
    scope_groups: Vec<String>,
    /// The client for the app's target.
    pub client: Connector,
    /// The window of the client's request outcomes that decides a quarantine.
    pub tracker: std::sync::Arc<Tracker>,
    /// Whether the target takes PATCH (`None`: not known, try it).
    pub patch: Option<bool>,
    registry: SchemaRegistry,
    /// This runtime's name among the processes working for the app (see [`AppRuntime::claim_share`]).
    participant: String,
    /// Its share of the app's concurrency.
    share: std::sync::atomic::AtomicUsize,
    /// When [`AppRuntime::renew_share`] last claimed it (microseconds since the epoch).
    claimed: std::sync::atomic::AtomicI64,
    /// Whether the app has deprovisions an admin discarded (see [`AppRuntime::refresh_discards`]).
    discards: std::sync::atomic::AtomicBool,
}

impl AppRuntime {
    /// Loads an app. A scope group that does not exist is an error: treating it as empty would deprovision
    /// everyone in it.
    pub async fn load(store: &Store, name: &str) -> Result<Self, SyncError> {
        let record = store.find_app(name).await?.ok_or_else(|| {
            app_error(
                &codes::SCOPE_INVALID,
                format!("no app named '{name}' (see roster app list)"),
            )
        })?;
        let config = AppConfig::from_json(&record.config).map_err(|m| app_error(&codes::INTERNAL, m))?;
        let rules = mapping::compile(&config.effective_mapping())
            .map_err(|m| app_error(&codes::MAPPING_INVALID, m))?;
        // The directory keeps pushed passwords only for apps that send them (an app saved before the flag
        // existed gets it here).
        store
            .set_sends_password(name, rules.iter().any(|r| r.reads("password")))
            .await?;
        let registry = SchemaRegistry::new();
        if let Some(users) = registry.resource("User")
            && let Some(problem) = mapping::check_sources(&config.effective_mapping(), &users).first()
        {
            return Err(app_error(&codes::MAPPING_INVALID, problem.clone()));
        }
        let scope_filter = match &config.scope.filter {
            None => None,
            Some(text) => {
                let f = roster_scim::filter::parse(text).map_err(|e| {
                    app_error(
                        &codes::SCOPE_INVALID,
                        format!("scope filter '{text}': {}", e.detail),
                    )
                })?;
                if let Some(users) = registry.resource("User") {
                    f.check(&users).map_err(|e| {
                        app_error(
                            &codes::SCOPE_INVALID,
                            format!("scope filter '{text}': {}", e.detail),
                        )
                    })?;
                }
                Some(f)
            }
        };
        let mut scope_groups = Vec::new();
        for g in &config.scope.groups {
            match store.resolve_group(g).await {
                Ok(Some(id)) => scope_groups.push(id),
                Ok(None) => {
                    return Err(app_error(
                        &codes::SCOPE_GROUP_MISSING,
                        format!("the scope of app '{name}' names group '{g}', which is not in the directory"),
                    ));
                }
                Err(StoreError::Scim(e)) => return Err(app_error(&codes::SCOPE_GROUP_MISSING, e.detail)),
                Err(e) => return Err(e.into()),
            }
        }
        let secret = match store.open_secret(&record).await {
            Ok(s) => s,
            Err(StoreError::SecretKey(m)) => return Err(app_error(&codes::SECRET_KEY, m)),
            Err(e) => return Err(e.into()),
        };
        let mut client = config
            .connector(secret)
            .map_err(|m| app_error(&codes::TARGET_AUTH_FAILED, m))?;
        client.share_rate_limit(std::sync::Arc::new(StoreLease {
            store: store.clone(),
            app: name.to_owned(),
        }));
        let tracker = std::sync::Arc::new(Tracker::default());
        client.observe(std::sync::Arc::new(Watch {
            tracker: tracker.clone(),
            guards: config.guards,
        }));
        let share = usize::from(config.concurrency.max(1));
        Ok(Self {
            name: name.to_owned(),
            config,
            rules,
            scope_filter,
            scope_groups,
            client,
            tracker,
            patch: None,
            registry,
            participant: uuid::Uuid::now_v7().simple().to_string(),
            share: std::sync::atomic::AtomicUsize::new(share),
            claimed: std::sync::atomic::AtomicI64::new(0),
            discards: std::sync::atomic::AtomicBool::new(true),
        })
    }

    /// Reads whether the app has discarded deprovisions; a drain and a reconcile start with it, so a sync looks
    /// discards up only when there are some.
    pub async fn refresh_discards(&self, store: &Store) -> Result<(), roster_store::StoreError> {
        let any = store.has_discards(&self.name).await?;
        self.discards.store(any, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }

    /// Whether the app may have discarded deprovisions.
    pub fn has_discards(&self) -> bool {
        self.discards.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The app reading time from `clock` (tests control it).
    #[must_use]
    pub fn with_clock(mut self, clock: crate::health::Clock) -> Self {
        self.client.set_clock(clock);
        self
    }

    /// An error when a scope group was deleted since the app was loaded: nobody may be deprovisioned for being
    /// outside a group that no longer exists (seed 001's 50005).
    pub async fn check_scope_groups(&self, store: &Store) -> Result<Option<AppError>, StoreError> {
        if self.scope_groups.is_empty() {
            return Ok(None);
        }
        let found = store
            .load_resources(ResourceKind::Group, &self.scope_groups)
            .await?;
        let missing: Vec<&str> = self
            .scope_groups
            .iter()
            .filter(|id| !found.iter().any(|g| &g.id == *id))
            .map(String::as_str)
            .collect();
        Ok((!missing.is_empty()).then(|| AppError {
            code: &codes::SCOPE_GROUP_MISSING,
            message: format!(
                "the scope of app '{}' names group {}, which is no longer in the directory",
                self.name,
                missing.join(", ")
            ),
        }))
    }

    /// Whether `user` (with `id` and derived `groups`) is in scope.
    pub fn in_scope(&self, user: &Value) -> bool {
        if !self.scope_groups.is_empty() {
            let groups = user.get("groups").and_then(Value::as_array);
            let member = groups.into_iter().flatten().any(|g| {
                g.get("value")
                    .and_then(Value::as_str)
                    .is_some_and(|id| self.scope_groups.iter().any(|s| s == id))
            });
            if !member {
                return false;
            }
        }
        if let Some(f) = &self.scope_filter {
            let users = self.registry.resource("User");
            if !roster_scim::filter::matches(f, user, users.as_ref()) {
                return false;
            }
        }
        if !self.config.scope.org_units.is_empty() {
            let Ok(path) = PatchPath::parse(&self.config.scope.org_unit_attribute) else {
                return false;
            };
            let ou = mapping::get_path(user, &path);
            let Some(ou) = ou.as_str() else { return false };
            let ou = ou.trim_end_matches('/').to_lowercase();
            return self.config.scope.org_units.iter().any(|unit| {
                let unit = unit.trim_end_matches('/').to_lowercase();
                ou == unit || ou.starts_with(&format!("{unit}/")) || unit.is_empty()
            });
        }
        true
    }

    /// The app's mapping rules, compiled.
    pub fn rules(&self) -> &[CompiledRule] {
        &self.rules
    }

    /// Whether the app's mapping sends the user's password.
    pub fn maps_password(&self) -> bool {
        self.rules.iter().any(|r| r.reads("password"))
    }

    /// Whether the app's mapping sends the user's password to an account that exists (not on create only).
    pub fn maps_password_on_update(&self) -> bool {
        self.rules
            .iter()
            .any(|r| r.reads("password") && !r.on_create_only())
    }

    /// The directory side of a user: gone, out of scope, or the mapped payloads.
    pub fn source(&self, resource: Option<&Value>) -> Source {
        let Some(r) = resource else { return Source::Gone };
        if !self.in_scope(r) {
            return Source::OutOfScope;
        }
        let desired = self
            .client
            .normalize(ResourceKind::User, mapping::apply(&self.rules, r, false));
        let create = mapping::with_schemas(mapping::apply(&self.rules, r, true), USER_SCHEMA);
        Source::InScope { desired, create }
    }

    /// Whether a group is pushed: groups are pushed when the app says so, all of them when the scope is every
    /// user, otherwise the scope groups.
    pub fn group_in_scope(&self, group_id: &str) -> bool {
        self.config.push_groups
            && (self.scope_groups.is_empty() || self.scope_groups.iter().any(|g| g == group_id))
    }

    /// The directory side of a group: `displayName`, the directory id as `externalId`, and the members that have
    /// an account in the app, by their target ids (sorted, so the hash is stable).
    pub(crate) async fn group_source(
        &self,
        store: &Store,
        resource: Option<&Value>,
    ) -> Result<Source, StoreError> {
        let Some(g) = resource else {
            return Ok(Source::Gone);
        };
        let id = g.get("id").and_then(Value::as_str).unwrap_or_default();
        if !self.group_in_scope(id) {
            return Ok(Source::OutOfScope);
        }
        let mut by_kind: [(ResourceKind, Vec<String>); 2] = [
            (ResourceKind::User, Vec::new()),
            (ResourceKind::Group, Vec::new()),
        ];
        for m in g.get("members").and_then(Value::as_array).into_iter().flatten() {
            let (Some(v), t) = (
                m.get("value").and_then(Value::as_str),
                m.get("type").and_then(Value::as_str),
            ) else {
                continue;
            };
            let slot = usize::from(t == Some("Group"));
            by_kind[slot].1.push(v.to_owned());
        }
        let mut members = Vec::new();
        for (kind, ids) in &by_kind {
            let targets = store.target_ids(&self.name, *kind, ids).await?;
            members.extend(targets.into_values());
        }
        members.sort();
        let mut desired = Map::new();
        if let Some(name) = g.get("displayName") {
            desired.insert("displayName".into(), name.clone());
        }
        desired.insert("externalId".into(), Value::String(id.to_owned()));
        desired.insert(
            "members".into(),
            Value::Array(members.into_iter().map(|m| json!({"value": m})).collect()),
        );
        let create = mapping::with_schemas(desired.clone(), mapping::GROUP_SCHEMA);
        let desired = self.client.normalize(ResourceKind::Group, desired);
        Ok(Source::InScope { desired, create })
    }

    /// How many requests this process has in flight to the app at once: its share of the app's concurrency (at
    /// least one).
    pub fn concurrency(&self) -> usize {
        self.share
            .load(std::sync::atomic::Ordering::Relaxed)
            .clamp(1, usize::from(self.config.concurrency.max(1)))
    }

    /// How many objects this process syncs at once, so that the local half of each sync (mapping, the link and
    /// log record) overlaps other objects' requests instead of leaving a request slot idle: eight per request
    /// slot when each object is a request of its own (records are committed in groups, and objects waiting for a
    /// commit — longer when it checkpoints the WAL — must not hold every slot's next object back); twice a bulk
    /// request's operations per slot when creates go in bulk. The requests themselves wait for one of the
    /// connector's slots.
    pub fn workers(&self) -> usize {
        match self.client.objects_per_request() {
            1 => self.concurrency() * 8,
            per => self.concurrency() * 2 * per,
        }
    }

    /// Says in the database that this runtime works for the app now, and takes its share of the app's
    /// concurrency: the configured number divided by the processes seen in the last 30 s (rounded down, at least
    /// one each), so several `roster serve` processes and a `roster sync` together keep about `concurrency`
    /// requests in flight. Should the database not answer, the last share stays.
    pub async fn claim_share(&self, store: &Store, now: i64) -> usize {
        const WINDOW: i64 = 30_000_000;
        let total = usize::from(self.config.concurrency.max(1));
        match store
            .heartbeat_participant(&self.name, &self.participant, now, now - WINDOW)
            .await
        {
            Ok(n) => {
                let n = usize::try_from(n.max(1)).unwrap_or(1);
                let share = (total / n).max(1);
                self.share.store(share, std::sync::atomic::Ordering::Relaxed);
                self.client.set_request_limit(share);
            }
            Err(e) => {
                tracing::warn!(app = %self.name, error = %e, "cannot record this process's share of the app's concurrency");
            }
        }
        self.concurrency()
    }

    /// [`AppRuntime::claim_share`], unless this runtime claimed it less than 5 s ago (a reconcile renews its
    /// claim each page; the window is 30 s). Returns the share.
    pub async fn renew_share(&self, store: &Store, now: i64) -> usize {
        const EVERY: i64 = 5_000_000;
        let last = self.claimed.load(std::sync::atomic::Ordering::Relaxed);
        if (0..EVERY).contains(&now.saturating_sub(last)) {
            return self.concurrency();
        }
        self.claimed.store(now, std::sync::atomic::Ordering::Relaxed);
        self.claim_share(store, now).await
    }

    /// Leaves the app's participants (this runtime's work is over), so the others take its share at once.
    pub async fn leave(&self, store: &Store) {
        if let Err(e) = store.leave_participant(&self.name, &self.participant).await {
            tracing::warn!(app = %self.name, error = %e, "cannot leave the app's participants");
        }
    }

    pub(crate) fn is_protected(&self, user_name: Option<&str>) -> bool {
        // The account the connection acts as (a Google app's admin): the target refuses to suspend it (Google's
        // "Admin cannot suspend self"), and deleting it would cut the connection.
        let admin = self.config.target.acting_account();
        user_name.is_some_and(|u| {
            self.config.protected.iter().any(|p| p.eq_ignore_ascii_case(u))
                || admin.is_some_and(|a| a.eq_ignore_ascii_case(u))
        })
    }
}

/// The matching values (`userName`s and emails in their identity form, hashed) of every account a target held when a full
/// reconcile began. A value not in it cannot match, so the matching request is skipped; a value in it (or a
/// hash collision) falls back to asking the target.
#[derive(Debug, Default)]
pub struct TargetSnapshot {
    keys: std::collections::HashSet<u64>,
}

impl TargetSnapshot {
    fn key(value: &str) -> u64 {
        use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
        BuildHasherDefault::<DefaultHasher>::default().hash_one(roster_scim::value::identity_key(value))
    }
    /// Records an account's matching values.
    pub fn add_account(&mut self, account: &Map<String, Value>, matching: &[String]) {
        let v = Value::Object(account.clone());
        for attr in matching {
            let Ok(path) = PatchPath::parse(attr) else {
                continue;
            };
            // The whole attribute: a string (`userName`) or the values of a multi-valued one (`emails.value`).
            let whole = PatchPath {
                attr: roster_scim::AttrPath {
                    sub: None,
                    ..path.attr.clone()
                },
                filter: None,
                sub_after_filter: None,
            };
            match mapping::get_path(&v, &whole) {
                Value::String(s) => {
                    self.keys.insert(Self::key(&s));
                }
                Value::Array(items) => {
                    for i in items {
                        let sub = path
                            .attr
                            .sub
                            .as_deref()
                            .or(path.sub_after_filter.as_deref())
                            .unwrap_or("value");
                        if let Some(s) = i.get(sub).and_then(Value::as_str) {
                            self.keys.insert(Self::key(s));
                        }
                    }
                }
                _ => {}
            }
        }
    }
    /// Whether some account may hold `value`.
    pub fn may_hold(&self, value: &str) -> bool {
        self.keys.contains(&Self::key(value))
    }
    /// How many values it holds.
    pub fn len(&self) -> usize {
        self.keys.len()
    }
    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_snapshot_answers_which_values_may_match() {
        let mut snap = TargetSnapshot::default();
        let account = json!({"id": "1", "userName": "Ann@Example.com", "emails": [{"value": "a.lee@example.com"}, {"value": "ann@home.example"}]});
        snap.add_account(
            account.as_object().unwrap(),
            &["userName".into(), "emails.value".into()],
        );
        assert_eq!(snap.len(), 3);
        assert!(
            snap.may_hold("ann@example.com")
                && snap.may_hold("ANN@HOME.EXAMPLE")
                && snap.may_hold("a.lee@example.com")
        );
        assert!(!snap.may_hold("ben@example.com"));
    }
}
