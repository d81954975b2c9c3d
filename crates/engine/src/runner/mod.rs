//! Running the engine: following the change journal into the queue (`journal`), draining the queue with retries
//! and the app's health (`drain`), full reconciles (`reconcile`, with the `snapshot` of a target's accounts
//! that spares matching requests), and the loop `roster serve` runs (here).
//!
//! Durability: the journal cursor moves in the same transaction that queues the changed objects; a queue row is
//! removed only after its object was synced (and only if no newer change arrived meanwhile). A crash at any
//! point leaves either the journal entries unread or the queue rows in place, and syncing an object again is
//! harmless (an unchanged object costs nothing; a create is preceded by matching).

mod drain;
mod journal;
mod reconcile;
mod snapshot;

pub use crate::health::{Clock, system_clock};
pub use drain::{DrainReport, backoff, drain_queue};
pub use journal::{affected_objects, follow_journal};
pub use reconcile::{SyncReport, full_sync};

use crate::codes;
use crate::plan::Action;
use crate::sync::{AppRuntime, SyncError};
use roster_store::{Outcome, ResourceKind, Store, StoreError};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;

/// What a worker works with, passed as one value through a drain or a reconcile: the store, the app, the name
/// its queue leases are held under, and its clock.
#[derive(Clone, Copy)]
pub(crate) struct Worker<'a> {
    pub(crate) store: &'a Store,
    pub(crate) app: &'a AppRuntime,
    pub(crate) holder: &'a str,
    pub(crate) clock: &'a Clock,
}

impl Worker<'_> {
    /// The time now, by the worker's clock (microseconds since the epoch).
    pub(crate) fn now(&self) -> i64 {
        (self.clock)()
    }
}

/// How long a worker holds the objects it leased. A worker that dies holds them this long; a batch is what the
/// worker syncs at once (see [`lease_size`]), so little waits.
pub(crate) const LEASE_MICROS: i64 = 30_000_000;
/// The fewest objects a worker leases at once.
pub const BATCH: i64 = 10;

/// How many objects a queue drain leases: as many as this process syncs at once ([`AppRuntime::workers`]:
/// eight per request slot, or enough to fill its bulk requests), at least [`BATCH`]. A burst of changes (an HR
/// import of thousands of joiners) then keeps every request slot busy instead of waiting on a batch of ten.
pub async fn lease_size(app: &AppRuntime) -> i64 {
    // Known before the workers are counted, so that creates fill bulk requests.
    app.client.bulk_limits().await;
    i64::try_from(app.workers()).unwrap_or(BATCH).max(BATCH)
}

/// Follows the journal and drains the queue of every enabled app until `shutdown` completes: woken by every
/// directory write in this process (on PostgreSQL, of any process: [`Store::changes`]), and at least every
/// `poll`.
///
/// With `log_retention`, provisioning log entries older than that are deleted once an hour.
pub async fn run_engine(
    store: Store,
    holder: String,
    poll: Duration,
    log_retention: Option<Duration>,
    shutdown: impl std::future::Future<Output = ()> + Send,
) {
    let clock = system_clock();
    let mut pruned: Option<std::time::Instant> = None;
    let changes = store.changes();
    let mut apps: HashMap<String, (i64, Arc<AppRuntime>)> = HashMap::new();
    let mut reported: HashMap<String, String> = HashMap::new();
    tokio::pin!(shutdown);
    loop {
        let notified = changes.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if let Err(e) = engine_round(&store, &holder, &clock, &mut apps, &mut reported).await {
            tracing::error!(error = %e, "provisioning engine round failed; retrying");
        }
        if let Some(keep) = log_retention
            && pruned.is_none_or(|p| p.elapsed() >= Duration::from_secs(3600))
        {
            pruned = Some(std::time::Instant::now());
            let before = OffsetDateTime::now_utc() - keep;
            match store.prune_log(before).await {
                Ok(0) => {}
                Ok(n) => tracing::info!("{n} provisioning log entries older than the retention deleted"),
                Err(e) => tracing::warn!(error = %e, "cannot prune the provisioning log"),
            }
        }
        tokio::select! {
            () = &mut shutdown => return,
            () = notified => {},
            () = tokio::time::sleep(poll) => {},
        }
    }
}

async fn engine_round(
    store: &Store,
    holder: &str,
    clock: &Clock,
    apps: &mut HashMap<String, (i64, Arc<AppRuntime>)>,
    reported: &mut HashMap<String, String>,
) -> Result<(), StoreError> {
    let records = store.list_apps().await?;
    apps.retain(|name, _| records.iter().any(|r| &r.name == name));
    for record in records {
        let enabled = record
            .config
            .get("enabled")
            .and_then(serde_json::Value::as_bool)
            .unwrap_or(true);
        if !enabled {
            continue;
        }
        let runtime = match apps.get(&record.name) {
            Some((v, rt)) if *v == record.version => rt.clone(),
            _ => match AppRuntime::load(store, &record.name).await {
                Ok(rt) => {
                    reported.remove(&record.name);
                    let rt = Arc::new(rt);
                    apps.insert(record.name.clone(), (record.version, rt.clone()));
                    rt
                }
                Err(SyncError::Store(e)) => return Err(e),
                Err(SyncError::App(e)) => {
                    // Say it once per distinct problem, not every round.
                    if reported.get(&record.name) != Some(&e.message) {
                        tracing::error!(app = %record.name, code = e.code.code, "app cannot sync: {e}");
                        log_app_problem(store, &record, &e).await?;
                        reported.insert(record.name.clone(), e.message.clone());
                    }
                    apps.remove(&record.name);
                    continue;
                }
            },
        };
        if let Some(e) = runtime.check_scope_groups(store).await? {
            if reported.get(&record.name) != Some(&e.message) {
                tracing::error!(app = %record.name, code = e.code.code, "app cannot sync: {e}");
                log_app_problem(store, &record, &e).await?;
                reported.insert(record.name.clone(), e.message.clone());
            }
            continue;
        }
        follow_journal(store, &runtime, clock()).await?;
        let health = store.app_health(&runtime.name).await?;
        if !health.quarantined(clock()) && health.not_before <= clock() {
            scheduled_reconcile(store, &runtime, clock).await?;
        }
        sync_round(store, &runtime, holder, clock).await?;
    }
    Ok(())
}

/// Writes a problem that stops an app into its provisioning log, once per distinct problem and process (the
/// caller remembers what it reported): a missing scope group as an entry for each group of the scope that is
/// gone, so `roster log` shows why nothing moves, not only `roster serve`'s stderr.
async fn log_app_problem(
    store: &Store,
    record: &roster_store::AppRecord,
    e: &crate::sync::AppError,
) -> Result<(), StoreError> {
    if *e.code != codes::SCOPE_GROUP_MISSING {
        return Ok(());
    }
    for g in record.scope_groups() {
        if store.resolve_group(&g).await.is_ok_and(|found| found.is_some()) {
            continue;
        }
        store
            .append_log(&roster_store::LogEntry {
                id: 0,
                at: OffsetDateTime::now_utc(),
                app: record.name.clone(),
                kind: ResourceKind::Group,
                source_id: g,
                target_id: None,
                action: "scope".into(),
                outcome: Outcome::Failed,
                attempt: 1,
                http_status: None,
                code: Some(e.code.code.to_owned()),
                message: format!(
                    "{}; nobody is deprovisioned and nothing is synced until the scope is fixed",
                    e.message
                ),
                duration_ms: 0,
                exchanges: None,
            })
            .await?;
    }
    Ok(())
}

/// One round of an app's queue, as the engine loop runs it: drain what is due, let the deprovision guard decide
/// on the deprovisions held meanwhile (by the drain or by a reconcile), then drain those it let through.
pub async fn sync_round(
    store: &Store,
    app: &AppRuntime,
    holder: &str,
    clock: &Clock,
) -> Result<DrainReport, StoreError> {
    let mut total = drain_all(store, app, holder, clock).await?;
    let decision = crate::health::apply_guard(
        store,
        &app.name,
        &app.config.guards,
        app.config.deprovision,
        clock(),
    )
    .await?;
    if decision.approved > 0 {
        let more = drain_all(store, app, holder, clock).await?;
        total.done += more.done;
        total.failed += more.failed;
        total.waiting += more.waiting;
        total.paused |= more.paused;
    }
    total.held = usize::try_from(decision.held).unwrap_or(usize::MAX);
    Ok(total)
}

/// Drains an app's queue until nothing is due (or the app pauses).
pub async fn drain_all(
    store: &Store,
    app: &AppRuntime,
    holder: &str,
    clock: &Clock,
) -> Result<DrainReport, StoreError> {
    let mut total = DrainReport::default();
    loop {
        let limit = lease_size(app).await;
        let r = drain_queue(store, app, holder, clock, limit).await?;
        total.done += r.done;
        total.failed += r.failed;
        total.held += r.held;
        total.waiting += r.waiting;
        total.paused = r.paused;
        if r.paused || i64::try_from(r.done + r.failed + r.held).unwrap_or(0) < limit {
            return Ok(total);
        }
    }
}

/// Runs a full reconcile when one is due (the initial sync of a new app, then every `reconcile_every_hours`),
/// unless another process runs it. Returns whether one ran.
pub async fn scheduled_reconcile(store: &Store, app: &AppRuntime, clock: &Clock) -> Result<bool, StoreError> {
    const HOUR: i64 = 3_600_000_000;
    let every = i64::from(app.config.reconcile_every_hours);
    if every == 0 {
        return Ok(false);
    }
    let started = clock();
    if !store
        .claim_reconcile(&app.name, started, every * HOUR, HOUR)
        .await?
    {
        return Ok(false);
    }
    let first = store.last_reconcile(&app.name).await?.is_none();
    tracing::info!(app = %app.name, "{}", if first { "initial sync started" } else { "scheduled full reconcile started" });
    let report = full_sync(store, app, false, |_, _| {}).await?;
    store.finish_reconcile(&app.name, started).await?;
    let mut summary: Vec<_> = report.actions.iter().map(|(k, v)| format!("{k} {v}")).collect();
    summary.sort();
    tracing::info!(app = %app.name, failed = report.failed, "full reconcile done: {}", summary.join(", "));
    Ok(true)
}

/// Whether an action changes the target (for plan summaries).
pub fn is_change(a: &Action) -> bool {
    a.writes() || matches!(a, Action::Unlink { .. })
}
