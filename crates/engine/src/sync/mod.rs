//! Syncing one directory object to one app, as a pipeline: read the object and decide its scope and mapping
//! (`AppRuntime::source`), find its link or match an existing account (`matching`) and plan (`decide`), carry the action
//! out (`execute`), record the link changes with the log entry (here, in one transaction).
//!
//! Every step is idempotent against a crash: a create is preceded by matching, so if roster dies after the
//! target created the account but before the link was written, the next attempt finds the account and links
//! it instead of creating a second one.

use crate::codes::{self, Code};
use crate::connect::TargetError;
use crate::health::Signal;
use crate::plan::{Action, Source};
mod decide;
mod execute;
mod matching;

pub use crate::runtime::{AppError, AppRuntime, SyncError, TargetSnapshot};
use decide::decide_and_execute;
use roster_store::{Link, LinkChange, LogEntry, Outcome, ResourceKind, Store, StoreError};
use serde_json::Value;
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

/// One object's sync as it goes through the pipeline: what it works with, the trace, and the link changes
/// established so far.
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

pub(super) enum Failure {
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
