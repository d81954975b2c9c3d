//! Syncing one directory object to one app: read the object and decide its scope, map it, find its link (or
//! match an existing account), plan, carry the action out, record the link and the log entry.
//!
//! Every step is idempotent against a crash: a create is preceded by matching, so if roster dies after the
//! target created the account but before the link was written, the next attempt finds the account and links
//! it instead of creating a second one.

use crate::codes::{self, Code};
use crate::connect::TargetError;
use crate::health::Signal;
use crate::mapping;
use crate::plan::{self, Action, MatchView, Owner, PatchOp, PlanInput, Source, TargetView};
pub use crate::runtime::{AppError, AppRuntime, SyncError, TargetSnapshot};
use roster_scim::value::identity_key;
use roster_scim::{PatchOp as PatchOpKind, PatchPath};
use roster_store::{Link, LinkChange, LinkState, LogEntry, Outcome, ResourceKind, Store, StoreError};
use serde_json::{Map, Value, json};
use std::time::{Duration, Instant};

/// How to sync.
#[derive(Debug, Clone, Copy, Default)]
pub struct SyncOptions<'a> {
    /// What the target held when a full reconcile began, to skip matching requests that cannot find anything.
    pub snapshot: Option<&'a TargetSnapshot>,
    /// Read the linked account from the target and repair drift (full reconcile) instead of trusting what was
    /// last pushed.
    pub read_target: bool,
    /// Decide only: write nothing to the target or to roster's state.
    pub dry_run: bool,
    /// Which attempt this is (1 for the first).
    pub attempt: i64,
    /// Hold deprovisions (disable, delete) for the deprovision guard instead of carrying them out: set for queue
    /// workers and reconciles, clear for approved rows and for one user provisioned on demand.
    pub guard: bool,
}

/// One step of a sync, for traces (`roster provision`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// `scope`, `mapping`, `link`, `match`, `target`, `action`, `result`.
    pub stage: &'static str,
    /// What happened.
    pub text: String,
}

/// What syncing one object did.
#[derive(Debug, Clone)]
pub struct ObjectResult {
    /// The action decided (and, unless a dry run, carried out).
    pub action: Action,
    /// How it ended.
    pub outcome: Outcome,
    /// The code of a failure.
    pub code: Option<&'static Code>,
    /// What happened.
    pub message: String,
    /// The target's `Retry-After`, if it gave one.
    pub retry_after: Option<Duration>,
    /// The target's HTTP status of a failure.
    pub http_status: Option<u16>,
    /// The deprovision was held for the guard (see [`SyncOptions::guard`]); nothing was sent.
    pub held: bool,
    /// A request was held back by the app's pause (see [`crate::connect::TargetError::held_back`]): the
    /// object waits for the pause to end. Not an attempt, so nothing was logged; `outcome` is `Failed` only so
    /// that nothing takes the object for synced.
    pub held_back: bool,
    /// The trace.
    pub steps: Vec<Step>,
}

impl ObjectResult {
    /// What the result says about the app's health (the probe after a quarantine is judged by its object).
    pub fn signal(&self) -> Signal {
        if self.held || self.held_back {
            return Signal::Neutral;
        }
        match (self.outcome, self.code) {
            (Outcome::Ok, _) if !matches!(self.action, Action::Nothing { .. }) => Signal::Success,
            (Outcome::Failed, Some(c)) => Signal::of_failure(c, self.http_status),
            _ => Signal::Neutral,
        }
    }
}

struct Run<'a> {
    store: &'a Store,
    /// Link changes established so far, written with the log entry in one transaction.
    changes: Vec<LinkChange>,
    app: &'a AppRuntime,
    kind: ResourceKind,
    id: &'a str,
    opts: SyncOptions<'a>,
    steps: Vec<Step>,
    /// The directory object's version (-1: deleted), which a discarded deprovision is bound to.
    version: i64,
}

impl Run<'_> {
    fn step(&mut self, stage: &'static str, text: impl Into<String>) {
        self.steps.push(Step {
            stage,
            text: text.into(),
        });
    }
}

/// Syncs one directory object to one app. Target failures are part of the result; only store failures are
/// errors.
pub async fn sync_object(
    store: &Store,
    app: &AppRuntime,
    kind: ResourceKind,
    id: &str,
    opts: SyncOptions<'_>,
) -> Result<ObjectResult, StoreError> {
    let object = Loaded {
        kind,
        id: id.to_owned(),
        resource: store.get_resource(kind, id).await?,
        link: store.find_link(&app.name, kind, id).await?,
    };
    sync_loaded(store, app, object, opts).await
}

/// A directory object as a sync starts from: its kind and id, the resource (`None`: deleted) and the app's link
/// to it, if any.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// User or Group.
    pub kind: ResourceKind,
    /// The directory id.
    pub id: String,
    /// The resource; `None` when it was deleted.
    pub resource: Option<roster_store::StoredResource>,
    /// The app's link to it.
    pub link: Option<Link>,
}

/// [`sync_object`] with the object and its link already read (full reconciles read them a page at a time).
pub async fn sync_loaded(
    store: &Store,
    app: &AppRuntime,
    object: Loaded,
    opts: SyncOptions<'_>,
) -> Result<ObjectResult, StoreError> {
    // Boxed, so that the object's future (moved into a worker pool, thousands at a time) is a pointer, not the
    // whole state of a sync.
    crate::connect::trace::scope(Box::pin(sync_traced(store, app, object, opts))).await
}

async fn sync_traced(
    store: &Store,
    app: &AppRuntime,
    object: Loaded,
    opts: SyncOptions<'_>,
) -> Result<ObjectResult, StoreError> {
    let Loaded {
        kind,
        id,
        resource,
        link,
    } = object;
    let id = id.as_str();
    let started = Instant::now();
    let mut run = Run {
        changes: Vec::new(),
        store,
        app,
        kind,
        id,
        opts,
        steps: Vec::new(),
        version: resource.as_ref().map_or(-1, |r| r.version),
    };
    // The user's pushed password, when this app is to receive it (see the store's `passwords` module).
    let mut sends_password = false;
    let resource = match resource {
        Some(r) => {
            let mut data = r.data;
            // The stored password is sealed: opened only for an app whose mapping sends it.
            if app.maps_password() {
                sends_password = data.contains_key("password");
                store.open_password(&mut data).await;
            } else {
                data.shift_remove("password");
            }
            data.insert("id".into(), Value::String(r.id));
            Some(Value::Object(data))
        }
        None => None,
    };
    let source = match kind {
        ResourceKind::User => app.source(resource.as_ref()),
        ResourceKind::Group => app.group_source(store, resource.as_ref()).await?,
    };
    // Out of scope with an account means deprovisioning: first make sure the scope groups still exist, or a
    // deleted group would empty the scope.
    if source == Source::OutOfScope
        && link.is_some()
        && let Some(e) = app.check_scope_groups(store).await?
    {
        return Ok(ObjectResult {
            action: Action::Nothing {
                why: "the scope is broken; nobody is deprovisioned until it is fixed".into(),
            },
            outcome: Outcome::Failed,
            code: Some(e.code),
            message: e.message,
            retry_after: None,
            http_status: None,
            held: false,
            held_back: false,
            steps: Vec::new(),
        });
    }
    if matches!(source, Source::InScope { .. }) && app.has_discards() && !opts.dry_run {
        // Back in scope: a deprovision discarded earlier is over; a later one is a new one.
        store.end_discard(&app.name, kind, id).await?;
    }
    run.step(
        "scope",
        match &source {
            Source::Gone => "not in the directory (deleted)".to_owned(),
            Source::OutOfScope => "exists, but is outside the app's scope".to_owned(),
            Source::InScope { .. } => "in scope".to_owned(),
        },
    );
    if let Source::InScope { desired, create, .. } = &source {
        // A target may echo a mapped password in its error text: its value is scrubbed from what is recorded.
        crate::connect::trace::remember_secrets(&Value::Object(create.clone()));
        crate::connect::trace::remember_secrets(&Value::Object(desired.clone()));
        run.step(
            "mapping",
            crate::connect::trace::hide_secrets(&Value::Object(desired.clone())).to_string(),
        );
    }
    run.step(
        "link",
        match &link {
            Some(l) => format!("linked to account {} ({})", l.target_id, l.state.as_str()),
            None => "no account linked yet".to_owned(),
        },
    );
    let (was_linked, in_scope) = (link.is_some(), matches!(source, Source::InScope { .. }));
    let result = decide_and_execute(&mut run, &source, link).await;
    let mut held = false;
    let held_back = matches!(&result, Err(Failure::Target(_, e)) if e.held_back);
    let (action, outcome) = match result {
        Ok(a) => (a, Ok(())),
        Err(Failure::Store(e)) => return Err(e),
        Err(Failure::Target(action, e)) => (action, Err(e)),
        Err(Failure::Held(action)) => {
            held = true;
            (action, Ok(()))
        }
    };
    let (outcome, code, message, retry_after, http_status) = match outcome {
        Ok(()) => {
            let (outcome, code) = match &action {
                Action::Conflict { target_ids, .. } => (
                    Outcome::Failed,
                    Some(if target_ids.len() > 1 {
                        &codes::MATCH_AMBIGUOUS
                    } else {
                        &codes::ACCOUNT_CLAIMED
                    }),
                ),
                Action::Protected { .. } => (Outcome::Skipped, Some(&codes::PROTECTED)),
                Action::Nothing { .. } => (Outcome::Skipped, None),
                _ if held => (Outcome::Skipped, Some(&codes::GUARD_DEPROVISIONS)),
                _ => (Outcome::Ok, None),
            };
            let message = if held {
                format!("{action}: held for the deprovision guard's check")
            } else {
                action.to_string()
            };
            (outcome, code, message, None, None)
        }
        Err(e) => (
            Outcome::Failed,
            Some(e.code),
            crate::connect::trace::scrub(&e.message),
            e.retry_after,
            e.status,
        ),
    };
    run.step(
        "result",
        match code {
            Some(c) => format!("{} ({}): {message}", outcome.as_str(), c.code),
            None => format!("{}: {message}", outcome.as_str()),
        },
    );
    let (mut outcome, mut code, mut message) = (outcome, code, message);
    let interesting = !matches!(action, Action::Nothing { .. }) || code.is_some() || !run.changes.is_empty();
    if !opts.dry_run && (held_back || held) {
        // Held back by a pause: not an attempt. Held for the guard's check: the guard logs the deprovisions it
        // holds for approval, and one it lets through logs its result. Neither writes an entry here; what was
        // established before (a link found by matching) stays.
        // Another object took the account meanwhile: the next attempt matches again.
        if !run.changes.is_empty() {
            match store.record_sync(&run.changes, None).await {
                Ok(()) | Err(StoreError::Scim(_)) => {}
                Err(e) => return Err(e),
            }
        }
    } else if !opts.dry_run && interesting {
        let mut entry = LogEntry {
            id: 0,
            at: time::OffsetDateTime::now_utc(),
            app: app.name.clone(),
            kind,
            source_id: id.to_owned(),
            target_id: target_of(&action),
            action: match (&action, outcome) {
                // The failure came before a decision: reading the linked account.
                (Action::Nothing { .. }, Outcome::Failed) => "read".to_owned(),
                _ => action.name().to_owned(),
            },
            outcome,
            attempt: opts.attempt.max(1),
            http_status: http_status.map(i64::from),
            code: code.map(|c| c.code.to_owned()),
            message: message.clone(),
            duration_ms: i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX),
            exchanges: crate::connect::trace::take(),
        };
        match store.record_sync(&run.changes, Some(&entry)).await {
            Ok(()) => {}
            Err(StoreError::Scim(e)) => {
                // Another object took the account meanwhile (two workers matched it at once).
                outcome = Outcome::Failed;
                code = Some(&codes::ACCOUNT_CLAIMED);
                message = e.detail;
                run.changes.clear();
                entry.outcome = outcome;
                entry.code = Some(codes::ACCOUNT_CLAIMED.code.to_owned());
                entry.message = message.clone();
                store.append_log(&entry).await?;
            }
            Err(e) => return Err(e),
        }
    }
    // The app has the password now (a create or an update carried it), or never will (its mapping sends it on
    // create only, and the account exists): once no app that sends passwords is owed it, the directory drops it.
    let carried = matches!(
        action,
        Action::Create { .. } | Action::Update { .. } | Action::Link { .. }
    ) && action.writes();
    let never_sent = was_linked && in_scope && !app.maps_password_on_update();
    let settled = match outcome {
        Outcome::Ok => carried || never_sent,
        // Nothing to send to an account that exists: it was never going to receive the password.
        Outcome::Skipped => never_sent && matches!(action, Action::Nothing { .. }),
        Outcome::Failed => false,
    };
    if sends_password && !opts.dry_run && settled {
        store.password_delivered(&app.name, id, run.version).await?;
    }
    if !opts.dry_run
        && kind == ResourceKind::User
        && app.config.push_groups
        && outcome == Outcome::Ok
        && matches!(action, Action::Create { .. } | Action::Link { .. })
    {
        // The user's groups can list the new account now.
        let groups: Vec<(ResourceKind, String)> = resource
            .as_ref()
            .and_then(|r| r.get("groups"))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter(|g| g.get("type").and_then(Value::as_str) == Some("direct"))
            .filter_map(|g| g.get("value").and_then(Value::as_str))
            .filter(|g| app.group_in_scope(g))
            .map(|g| (ResourceKind::Group, g.to_owned()))
            .collect();
        if !groups.is_empty() {
            store
                .enqueue(
                    &app.name,
                    &groups,
                    roster_store::to_micros(time::OffsetDateTime::now_utc()),
                )
                .await?;
        }
    }
    Ok(ObjectResult {
        action,
        outcome,
        code,
        message,
        retry_after,
        http_status,
        held,
        held_back,
        steps: run.steps,
    })
}

/// After a create answered 409 and matching found nothing: an account holding the identity's `userName` that the
/// app's matching attributes do not look at, as (attribute, account id). One request, only on that path.
async fn outside_matching(run: &Run<'_>, desired: &Map<String, Value>) -> Option<(&'static str, String)> {
    let app = run.app;
    if app
        .config
        .matching
        .iter()
        .any(|m| m.eq_ignore_ascii_case("userName"))
    {
        return None;
    }
    let name = desired.get("userName").and_then(Value::as_str)?;
    let filter = format!("userName eq {}", Value::String(name.to_owned()));
    let found = app.client.find(run.kind, &filter, 2).await.ok()?;
    let id = found.first()?.get("id").and_then(Value::as_str)?.to_owned();
    Some(("userName", id))
}

fn target_of(a: &Action) -> Option<String> {
    match a {
        Action::Link { target_id, .. }
        | Action::Update { target_id, .. }
        | Action::Disable { target_id }
        | Action::Delete { target_id }
        | Action::Unlink { target_id, .. }
        | Action::Rematch { target_id }
        | Action::Protected { target_id, .. } => Some(target_id.clone()).filter(|t| !t.is_empty()),
        Action::Conflict { target_ids, .. } => Some(target_ids.join(",")),
        Action::Create { .. } | Action::Nothing { .. } => None,
    }
}

enum Failure {
    Store(StoreError),
    Target(Action, TargetError),
    /// A deprovision held for the guard.
    Held(Action),
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}

async fn decide_and_execute(
    run: &mut Run<'_>,
    source: &Source,
    mut link: Option<Link>,
) -> Result<Action, Failure> {
    let (kind, app) = (run.kind, run.app);
    // An unchanged object with an active link costs nothing, unless the target is to be read.
    if let (Some(l), Source::InScope { desired, .. }) = (&link, source)
        && !run.opts.read_target
        && l.state == LinkState::Active
        && l.pushed_hash == plan::hash(desired)
    {
        return Ok(Action::Nothing {
            why: "nothing changed since the last push".into(),
        });
    }
    let mut target = TargetView::NotRead;
    if let Some(l) = &link
        && run.opts.read_target
    {
        target = match app.client.get(kind, &l.target_id).await {
            Ok(Some(t)) => TargetView::Found(t),
            Ok(None) => TargetView::Missing,
            Err(e) => {
                return Err(Failure::Target(
                    Action::Nothing {
                        why: "reading the account failed".into(),
                    },
                    e,
                ));
            }
        };
        run.step(
            "target",
            match &target {
                TargetView::Missing => format!("account {} is gone from the app (404)", l.target_id),
                _ => format!("read account {}", l.target_id),
            },
        );
    }
    let mut matched: Option<MatchView> = None;
    // At most three rounds: plan, match (or find the account gone), plan again.
    for _ in 0..3 {
        let protected = app.is_protected(
            link.as_ref()
                .and_then(|l| l.pushed.get("userName"))
                .and_then(Value::as_str),
        );
        let action = plan::plan(PlanInput {
            source,
            link: link.as_ref(),
            target: &target,
            matched: matched.as_ref(),
            // A group cannot be disabled: leaving scope deletes it, unless deprovisioning is off.
            deprovision: match (kind, app.config.deprovision) {
                (ResourceKind::Group, crate::config::Deprovision::Disable) => {
                    crate::config::Deprovision::Delete
                }
                (_, d) => d,
            },
            stale_link: app.config.stale_link,
            protected,
        });
        run.step("plan", action.to_string());
        match action {
            Action::Rematch { .. } => {
                let Source::InScope { desired, .. } = source else {
                    return Ok(action);
                };
                matched = Some(match_account(run, desired, link.as_ref()).await?);
            }
            action if run.opts.dry_run => return Ok(action),
            action @ (Action::Disable { .. } | Action::Delete { .. }) if run.opts.guard => {
                if app.has_discards()
                    && run.store.discarded_at(&app.name, kind, run.id).await? == Some(run.version)
                {
                    let why = "an admin discarded this deprovision (roster approve --discard); it stays undone \
                               until the object changes in the directory";
                    run.step("guard", why);
                    return Ok(Action::Nothing { why: why.into() });
                }
                run.step("guard", "deprovisions wait for the deprovision guard's check");
                return Err(Failure::Held(action));
            }
            action => {
                match execute(run, source, link.as_ref(), action).await? {
                    Executed::Done(a) => return Ok(a),
                    Executed::Stale(old) => {
                        // The app deleted the linked account: forget the link and decide again.
                        run.step(
                            "target",
                            format!(
                                "account {} is gone from the app (404): the link is stale",
                                old.target_id
                            ),
                        );
                        target = TargetView::Missing;
                        if app.config.stale_link == crate::config::StaleLinkPolicy::Relink
                            || !matches!(source, Source::InScope { .. })
                        {
                            run.changes.push(LinkChange::Delete {
                                app: app.name.clone(),
                                kind,
                                source_id: run.id.to_owned(),
                            });
                            link = None;
                            target = TargetView::NotRead;
                        }
                    }
                }
            }
        }
    }
    Ok(Action::Nothing {
        why: "no decision after three rounds; will try again".into(),
    })
}

/// Finds an existing account for an identity on the app's matching attributes, in order. Values match as
/// identities: width, case and Unicode composition aside (`roster_scim::value::identity_key`).
async fn match_account(
    run: &mut Run<'_>,
    desired: &Map<String, Value>,
    own: Option<&Link>,
) -> Result<MatchView, Failure> {
    let (kind, app) = (run.kind, run.app);
    let payload = Value::Object(desired.clone());
    let group_matching = ["displayName".to_owned()];
    let matching = match kind {
        ResourceKind::User => app.config.matching.as_slice(),
        ResourceKind::Group => group_matching.as_slice(),
    };
    // (attribute, its path, this identity's value), in matching order.
    let terms: Vec<(&String, PatchPath, String)> = matching
        .iter()
        .filter_map(|attr| {
            let path = PatchPath::parse(attr).ok()?;
            let value = mapping::get_path(&payload, &path).as_str()?.to_owned();
            Some((attr, path, value))
        })
        .collect();
    // A non-ASCII value is asked for in its composed and decomposed spellings too: a target that does not
    // normalise Unicode may hold either (RFC 8265; `émile` typed on a Mac is `e` + U+0301).
    let filter_of = |t: &(&String, PatchPath, String)| {
        roster_scim::value::unicode_spellings(&t.2)
            .into_iter()
            .map(|v| format!("{} eq {}", t.0, Value::String(v)))
            .collect::<Vec<_>>()
            .join(" or ")
    };
    let all = terms.iter().map(filter_of).collect::<Vec<_>>().join(" or ");
    if terms.is_empty() {
        run.step("match", "no matching attribute has a value: nothing to look for");
        return Ok(MatchView::Nothing);
    }
    if let Some(snap) = run.opts.snapshot
        && kind == ResourceKind::User
        && !terms.iter().any(|t| snap.may_hold(&t.2))
    {
        run.step("match", format!("no account had {all} when the sync began"));
        return Ok(MatchView::Nothing);
    }
    let fail = |e| {
        Failure::Target(
            Action::Rematch {
                target_id: String::new(),
            },
            e,
        )
    };
    // One request for every attribute; a target that refuses `or` is asked once per attribute.
    let found = match app.client.find(kind, &all, 20).await {
        Ok(found) => found,
        Err(e) if e.status == Some(400) && terms.len() > 1 => {
            let mut found = Vec::new();
            for t in &terms {
                found.extend(app.client.find(kind, &filter_of(t), 10).await.map_err(fail)?);
            }
            found
        }
        Err(e) => return Err(fail(e)),
    };
    for t in &terms {
        let (attr, path, value) = t;
        let filter = filter_of(t);
        // Some targets ignore filters: keep only accounts that really hold the value.
        let mut hits: Vec<&Map<String, Value>> = found
            .iter()
            .filter(|a| match mapping::get_path(&Value::Object((*a).clone()), path) {
                Value::String(s) => identity_key(&s) == identity_key(value),
                Value::Array(items) => items.iter().any(|i| {
                    i.get("value")
                        .and_then(Value::as_str)
                        .is_some_and(|s| identity_key(s) == identity_key(value))
                }),
                _ => false,
            })
            .collect();
        hits.dedup_by(|a, b| a.get("id") == b.get("id"));
        match hits.len() {
            0 => run.step("match", format!("no account with {filter}")),
            1 => {
                let account = hits[0].clone();
                let tid = account
                    .get("id")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned();
                let holder = run.store.find_link_by_target(&app.name, kind, &tid).await?;
                let owner = match holder {
                    Some(h) if own.is_none_or(|o| o.source_id != h.source_id) && h.source_id != run.id => {
                        if run.store.get_resource(kind, &h.source_id).await?.is_some() {
                            Some(Owner::Live(h.source_id))
                        } else {
                            Some(Owner::Gone(h.source_id))
                        }
                    }
                    _ => None,
                };
                run.step("match", format!("found account {tid} with {filter}"));
                return Ok(MatchView::One { account, owner });
            }
            _ => {
                let ids = hits
                    .iter()
                    .filter_map(|a| a.get("id").and_then(Value::as_str).map(str::to_owned))
                    .collect();
                run.step("match", format!("several accounts with {filter}"));
                return Ok(MatchView::Several {
                    attribute: (*attr).clone(),
                    ids,
                });
            }
        }
    }
    Ok(MatchView::Nothing)
}

enum Executed {
    Done(Action),
    /// The linked account answered 404.
    Stale(Link),
}

async fn execute(
    run: &mut Run<'_>,
    source: &Source,
    link: Option<&Link>,
    action: Action,
) -> Result<Executed, Failure> {
    let (kind, app) = (run.kind, run.app);
    let fail = |a: &Action, e: TargetError| Failure::Target(a.clone(), e);
    let id = run.id;
    let forget = |source_id: &str| LinkChange::Delete {
        app: app.name.clone(),
        kind,
        source_id: source_id.to_owned(),
    };
    let desired = match source {
        Source::InScope { desired, .. } => Some(desired),
        _ => None,
    };
    let save = |target_id: String, state: LinkState, mut pushed: Map<String, Value>| {
        // What was pushed is kept, but never a password.
        crate::mapping::forget_passwords(app.rules(), &mut pushed);
        Link {
            app: app.name.clone(),
            kind,
            source_id: id.to_owned(),
            target_id,
            state,
            pushed_hash: plan::hash(&pushed),
            pushed,
            updated: time::OffsetDateTime::now_utc(),
        }
    };
    match &action {
        Action::Nothing { .. }
        | Action::Protected { .. }
        | Action::Rematch { .. }
        | Action::Conflict { .. } => {}
        Action::Create { payload } => {
            match app.client.create(kind, payload).await {
                Ok(created) => {
                    let tid = created
                        .get("id")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned();
                    run.step("action", format!("created account {tid}"));
                    run.changes.push(LinkChange::Save(save(
                        tid,
                        LinkState::Active,
                        desired.cloned().unwrap_or_default(),
                    )));
                }
                Err(e) if e.status == Some(409) => {
                    // Someone created the account meanwhile (or the target found a clash): find and link it.
                    run.step(
                        "action",
                        format!(
                            "create answered 409 ({}); looking for the account to link",
                            e.message
                        ),
                    );
                    let Some(d) = desired else {
                        return Err(fail(&action, e));
                    };
                    match match_account(run, d, None).await? {
                        MatchView::One { account, owner: None } => {
                            let tid = account
                                .get("id")
                                .and_then(Value::as_str)
                                .unwrap_or_default()
                                .to_owned();
                            let ops = plan::diff(d, &account, None);
                            let linked = Action::Link {
                                target_id: tid,
                                ops,
                                takes_over_from: None,
                            };
                            return Box::pin(execute(run, source, None, linked)).await;
                        }
                        found => {
                            // Say precisely why the clash cannot be repaired by linking.
                            let (code, why) = match found {
                                MatchView::Several { ids, attribute } => (
                                    &codes::MATCH_AMBIGUOUS,
                                    format!("accounts {} share the {attribute}", ids.join(", ")),
                                ),
                                MatchView::One { account, .. } => (
                                    &codes::ACCOUNT_CLAIMED,
                                    format!(
                                        "account {} is linked to another identity",
                                        account.get("id").and_then(Value::as_str).unwrap_or("?")
                                    ),
                                ),
                                MatchView::Nothing => match outside_matching(run, d).await {
                                    Some((attr, id)) => (
                                        &codes::MATCH_SETTING,
                                        format!(
                                            "account {id} has this {attr}, but the app's matching ({}) does not \
                                             look at {attr}: add it (roster app edit {} --matching {attr},{})",
                                            app.config.matching.join(", "),
                                            app.name,
                                            app.config.matching.join(",")
                                        ),
                                    ),
                                    None => (
                                        &codes::TARGET_TAKEN_ELSEWHERE,
                                        "no account the app lists holds the value".to_owned(),
                                    ),
                                },
                            };
                            let e = TargetError {
                                code,
                                message: format!("{}; {why}", e.message),
                                ..e
                            };
                            return Err(fail(&action, e));
                        }
                    }
                }
                Err(e) => return Err(fail(&action, e)),
            }
        }
        Action::Link {
            target_id,
            ops,
            takes_over_from,
        } => {
            if let Some(old) = takes_over_from {
                run.changes.push(forget(old));
            }
            if !ops.is_empty() {
                apply_ops(run, target_id, ops)
                    .await
                    .map_err(|e| fail(&action, e))?;
            }
            run.changes.push(LinkChange::Save(save(
                target_id.clone(),
                LinkState::Active,
                desired.cloned().unwrap_or_default(),
            )));
        }
        Action::Update { target_id, ops } => match update_reactivating(run, target_id, ops).await {
            Ok(()) => {
                run.changes.push(LinkChange::Save(save(
                    target_id.clone(),
                    LinkState::Active,
                    desired.cloned().unwrap_or_default(),
                )));
            }
            Err(e) if e.status == Some(404) => {
                return Ok(Executed::Stale(
                    link.cloned().ok_or(Failure::Target(action.clone(), e))?,
                ));
            }
            Err(e) => return Err(fail(&action, e)),
        },
        Action::Disable { target_id } => {
            let ops = [plan::set_active(false)];
            match apply_ops(run, target_id, &ops).await {
                Ok(()) => {
                    if let Some(l) = link {
                        let mut pushed = l.pushed.clone();
                        pushed.insert("active".into(), json!(false));
                        run.changes.push(LinkChange::Save(save(
                            target_id.clone(),
                            LinkState::Disabled,
                            pushed,
                        )));
                    }
                }
                Err(e) if e.status == Some(404) => {
                    run.changes.push(forget(id));
                    return Ok(Executed::Done(Action::Unlink {
                        target_id: target_id.clone(),
                        why: "the account was already gone from the app".into(),
                    }));
                }
                Err(e) => return Err(fail(&action, e)),
            }
        }
        Action::Delete { target_id } => {
            app.client
                .delete(kind, target_id)
                .await
                .map_err(|e| fail(&action, e))?;
            run.changes.push(forget(id));
        }
        Action::Unlink { .. } => {
            run.changes.push(forget(id));
        }
    }
    Ok(Executed::Done(action))
}

/// Applies PATCH operations, or, for a target without PATCH, reads the account, applies them here and PUTs it.
/// Applies an update; when the app refuses it because the account is deactivated on its side (seed 002's "User
/// account is inactive") while the identity is in scope, reactivates the account and sends the update again.
async fn update_reactivating(run: &mut Run<'_>, target_id: &str, ops: &[PatchOp]) -> Result<(), TargetError> {
    match apply_ops(run, target_id, ops).await {
        Err(e) if e.code.code == codes::TARGET_INACTIVE.code && run.kind == ResourceKind::User => {
            run.step(
                "action",
                format!("the app says account {target_id} is inactive; reactivating it"),
            );
            apply_ops(run, target_id, &[plan::set_active(true)]).await?;
            let rest: Vec<PatchOp> = ops.iter().filter(|o| !plan::sets_active(o)).cloned().collect();
            if rest.is_empty() {
                Ok(())
            } else {
                apply_ops(run, target_id, &rest).await
            }
        }
        other => other,
    }
}

async fn apply_ops(run: &mut Run<'_>, target_id: &str, ops: &[PatchOp]) -> Result<(), TargetError> {
    let (kind, app) = (run.kind, run.app);
    if app.patch != Some(false) {
        match app.client.patch(kind, target_id, ops).await {
            Err(e) if matches!(e.status, Some(405 | 501)) => {
                run.step("action", "the app does not take PATCH; sending PUT");
            }
            other => return other,
        }
    }
    let Some(mut current) = app.client.get(kind, target_id).await? else {
        return Err(TargetError {
            code: &codes::TARGET_NOT_FOUND,
            status: Some(404),
            message: format!("GET /{}/{target_id} answered 404", kind.endpoint()),
            retry_after: None,
            held_back: false,
        });
    };
    current.shift_remove("meta");
    for op in ops {
        apply_locally(&mut current, op).map_err(|message| TargetError {
            code: &codes::TARGET_UNSUPPORTED,
            status: None,
            message: format!("not sent: {message}"),
            retry_after: None,
            held_back: false,
        })?;
    }
    app.client.replace(kind, target_id, &current).await
}

/// Applies one operation to an account read from a target that takes no PATCH, before it is sent back whole; an
/// operation that cannot be applied is refused by name, never dropped.
fn apply_locally(obj: &mut Map<String, Value>, op: &PatchOp) -> Result<(), String> {
    match (op.op, &op.path, &op.value) {
        (PatchOpKind::Remove, Some(path), _) => remove_path(obj, path),
        // Added values join the ones there (the planner adds a group's new members this way).
        (PatchOpKind::Add, Some(path), Some(Value::Array(added)))
            if path.filter.is_none() && path.attr.uri.is_none() && path.attr.sub.is_none() =>
        {
            match obj.get_mut(&path.attr.name) {
                Some(Value::Array(items)) => items.extend(added.iter().cloned()),
                _ => {
                    obj.insert(path.attr.name.clone(), Value::Array(added.clone()));
                }
            }
        }
        (_, Some(path), Some(v)) => mapping::set_path(obj, path, v.clone()),
        (_, None, Some(Value::Object(values))) => {
            for (k, v) in values {
                obj.insert(k.clone(), v.clone());
            }
        }
        (kind, path, _) => {
            return Err(format!(
                "the PATCH operation '{}'{} cannot be applied to the account read for a PUT",
                kind.as_str(),
                path.as_ref()
                    .map_or_else(|| " without a path".to_owned(), |p| format!(" of '{p}'"))
            ));
        }
    }
    Ok(())
}

fn remove_path(obj: &mut Map<String, Value>, p: &PatchPath) {
    if let Some(f) = &p.filter {
        if let Some(Value::Array(items)) = obj.get_mut(&p.attr.name) {
            items.retain(|i| !roster_scim::filter::matches_element(f, i, None));
        }
        return;
    }
    match &p.attr.uri {
        Some(uri) if !p.attr.name.is_empty() => {
            if let Some(Value::Object(ext)) = obj.get_mut(uri) {
                ext.shift_remove(&p.attr.name);
            }
        }
        _ => {
            obj.shift_remove(&p.attr.name);
        }
    }
}
