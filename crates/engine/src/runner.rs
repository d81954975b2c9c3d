//! Running the engine: following the change journal into the queue, draining the queue with retries, full
//! reconciles, and the loop `roster serve` runs.
//!
//! Durability: the journal cursor moves in the same transaction that queues the changed objects; a queue row is
//! removed only after its object was synced (and only if no newer change arrived meanwhile). A crash at any
//! point leaves either the journal entries unread or the queue rows in place, and syncing an object again is
//! harmless (an unchanged object costs nothing; a create is preceded by matching).

use crate::codes;
use crate::plan::Action;
use crate::sync::{
    AppRuntime, ObjectResult, SyncError, SyncOptions, TargetSnapshot, sync_loaded, sync_object,
};
use futures_util::{StreamExt, stream};
use roster_store::{Hold, Outcome, QueueItem, ResourceKind, Store, StoreError, to_micros};
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;

pub use crate::health::{Clock, system_clock};

/// How long a journal gap may stay open before roster treats it as a rolled-back transaction. PostgreSQL hands
/// out sequence numbers before commit, so a later number can become visible before an earlier one.
const GAP_GRACE_MICROS: i64 = 10_000_000;
const JOURNAL_BATCH: i64 = 1000;
/// How long a worker holds the objects it leased. A worker that dies holds them this long; a batch is what the
/// worker syncs at once (see [`lease_size`]), so little waits.
const LEASE_MICROS: i64 = 30_000_000;
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

/// Reads the journal after the app's cursor and queues the objects that changed. Returns how many objects were
/// queued.
pub async fn follow_journal(store: &Store, app: &AppRuntime, now: i64) -> Result<usize, StoreError> {
    let mut queued = 0;
    loop {
        let cursor = store.app_cursor(&app.name).await?;
        let entries = store.journal_since(cursor, JOURNAL_BATCH).await?;
        if entries.is_empty() {
            return Ok(queued);
        }
        let mut advance_to = cursor;
        let mut gap = false;
        for e in &entries {
            if e.seq != advance_to + 1 && !gap {
                // A gap: an earlier transaction may still commit. Advance past it only when it is old.
                if now - to_micros(e.at) < GAP_GRACE_MICROS {
                    gap = true;
                }
            }
            if !gap {
                advance_to = e.seq;
            }
        }
        let objects = affected_objects(store, app, &entries).await?;
        let objects: Vec<_> = objects.into_iter().collect();
        queued += objects.len();
        store
            .enqueue_and_advance(&app.name, &objects, advance_to, now)
            .await?;
        if gap || entries.len() < usize::try_from(JOURNAL_BATCH).unwrap_or(usize::MAX) {
            return Ok(queued);
        }
    }
}

/// The objects an app must look at again after these journal entries: the users and (when the app pushes groups)
/// groups that changed; for an app scoped by groups, a group change also brings the group's users and every
/// linked user, since someone may have left a scope group (unchanged ones cost no request).
pub async fn affected_objects(
    store: &Store,
    app: &AppRuntime,
    entries: &[roster_store::JournalEntry],
) -> Result<BTreeSet<(ResourceKind, String)>, StoreError> {
    let mut objects = BTreeSet::new();
    let group_scoped = !app.config.scope.groups.is_empty();
    let mut group_changed = false;
    for e in entries {
        match e.kind {
            ResourceKind::User => {
                objects.insert((ResourceKind::User, e.id.clone()));
            }
            ResourceKind::Group => {
                group_changed = true;
                if app.config.push_groups {
                    objects.insert((ResourceKind::Group, e.id.clone()));
                }
                if group_scoped {
                    objects.extend(
                        store
                            .group_user_ids(&e.id)
                            .await?
                            .into_iter()
                            .map(|u| (ResourceKind::User, u)),
                    );
                }
            }
        }
    }
    if group_changed && group_scoped {
        let mut after: Option<String> = None;
        loop {
            let page = store
                .list_links(&app.name, ResourceKind::User, after.as_deref(), 1000)
                .await?;
            let Some(last) = page.last() else { break };
            after = Some(last.source_id.clone());
            objects.extend(page.into_iter().map(|l| (ResourceKind::User, l.source_id)));
        }
    }
    Ok(objects)
}

/// Attempts after a passing fault that are retried on the short schedule of [`backoff`].
const QUICK_RETRIES: i64 = 8;

/// The delay before attempt `attempts + 1`: exactly the target's `Retry-After` when it gave one (never earlier).
/// After a passing fault (`transient`: a server error, a dropped connection), 1 s doubling to at most 10 s for
/// the first eight attempts, so a run through a storm of them converges in seconds; a target that
/// fails most requests is quarantined by its health, not slowed object by object. Otherwise (and after those
/// attempts) 2 s doubling to one hour. ±20 % jitter.
pub fn backoff(attempts: i64, retry_after: Option<Duration>, transient: bool) -> Duration {
    let exp = u32::try_from(attempts.clamp(0, 20)).unwrap_or(20);
    let base = if transient && attempts < QUICK_RETRIES {
        1_000_u64.saturating_mul(1_u64 << exp).min(10_000)
    } else {
        2_000_u64.saturating_mul(1_u64 << exp).min(3_600_000)
    };
    let mut b = [0_u8; 2];
    let jitter = if getrandom::fill(&mut b).is_ok() {
        u64::from(u16::from_le_bytes(b))
    } else {
        32_768
    };
    // base * (0.8 .. 1.2)
    let ms = base * 8 / 10 + base * 4 / 10 * jitter / 65_535;
    retry_after.unwrap_or(Duration::from_millis(ms))
}

/// What a queue drain did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct DrainReport {
    /// Objects synced successfully (including those with nothing to do).
    pub done: usize,
    /// Objects that failed and wait for a retry.
    pub failed: usize,
    /// Deprovisions held for the guard.
    pub held: usize,
    /// Objects held back by the app's pause (its `Retry-After`, a refused credential): not attempted; they are
    /// due again when the pause ends.
    pub waiting: usize,
    /// The app is paused: quarantined, or it asked roster to wait (`Retry-After`), or its credential was
    /// refused; nothing more is leased this round.
    pub paused: bool,
}

/// Syncs the due objects of an app's queue, at most `limit`. Each object is leased for `holder` first, so
/// several workers (or processes on one PostgreSQL) never sync the same object at once.
///
/// Health comes first: nothing is leased while the app is quarantined or its `Retry-After` runs; on probation one
/// object is synced as a probe, and a request the app accepts releases the quarantine while a failure renews it
/// for twice as long. A batch whose failures cross the app's thresholds quarantines it.
pub async fn drain_queue(
    store: &Store,
    app: &AppRuntime,
    holder: &str,
    clock: &Clock,
    limit: i64,
) -> Result<DrainReport, StoreError> {
    let mut report = DrainReport::default();
    let now = clock();
    let health = store.app_health(&app.name).await?;
    app.client.defer_until(health.not_before);
    if health.quarantined(now) || health.not_before > now {
        report.paused = true;
        return Ok(report);
    }
    let probation = health.on_probation(now);
    let limit = if probation { 1 } else { limit };
    app.claim_share(store, now).await;
    let items = store
        .lease_queue(&app.name, holder, now, LEASE_MICROS, limit)
        .await?;
    if items.is_empty() {
        return Ok(report);
    }
    // Only a drain with work reads whether the app has discarded deprovisions (not every idle round).
    app.refresh_discards(store).await?;
    // Known before the workers are counted, so that creates fill bulk requests.
    app.client.bulk_limits().await;
    // A failure that halted the app's requests in an earlier drain is tried once more.
    app.client.resume();
    // The leased objects are distinct, so they are synced side by side. A failure or a held deprovision is
    // settled at once; the successes leave the queue together below.
    let work = stream::iter(items)
        .map(|item| async move {
            let opts = SyncOptions {
                snapshot: None,
                read_target: false,
                dry_run: false,
                attempt: item.attempts + 1,
                guard: item.hold != Hold::Approved,
            };
            let result = sync_object(store, app, item.kind, &item.source_id, opts).await?;
            let synced = !result.held && result.outcome != Outcome::Failed;
            if !synced {
                settle(store, &item, holder, &result, clock()).await?;
            }
            Ok((item, synced, result))
        })
        .buffer_unordered(app.workers())
        .collect::<Vec<Result<(QueueItem, bool, ObjectResult), StoreError>>>();
    let results = renewing(store, app, holder, clock, work).await;
    let mut synced = Vec::new();
    let mut results_only = Vec::with_capacity(results.len());
    for r in results {
        let (item, ok, r) = r?;
        if ok {
            synced.push((item.kind, item.source_id, item.generation));
        }
        results_only.push(r);
    }
    if !synced.is_empty() {
        // One write for the drain's successes, as a reconcile does for a page.
        let leased: Vec<_> = synced.iter().map(|(k, id, _)| (*k, id.clone())).collect();
        store.finish_many(&app.name, holder, &synced, &leased).await?;
    }
    let mut verdict = None;
    let (mut probe_ok, mut probe_failed) = (false, None);
    let mut wait: Option<Duration> = None;
    for r in results_only {
        if r.held {
            report.held += 1;
        } else if r.held_back {
            report.waiting += 1;
            report.paused = true;
            continue;
        } else if r.outcome == Outcome::Failed {
            report.failed += 1;
        } else {
            report.done += 1;
        }
        if r.code.is_some_and(|c| c.category == codes::Category::RateLimit) {
            wait = wait.max(r.retry_after);
        }
        match r.signal() {
            crate::health::Signal::Success => probe_ok = true,
            crate::health::Signal::Failure(c) => probe_failed = Some((c, r.message.clone())),
            crate::health::Signal::Neutral => {}
        }
    }
    // The requests of this drain (and of a reconcile before it) judged the app's health.
    if let Some(v) = app.tracker.take_verdict() {
        verdict = Some(v);
    }
    // Every process honours the app's Retry-After, not only this one.
    if let Some(w) = wait {
        let until = clock() + i64::try_from(w.as_micros()).unwrap_or(i64::MAX / 2);
        store.defer_app(&app.name, until).await?;
    }
    if probation {
        if let Some((code, message)) = probe_failed {
            let verdict = crate::health::Verdict {
                code,
                reason: format!("the probe after quarantine failed: {message}"),
            };
            quarantine(store, app, &health, &verdict, clock()).await?;
        } else if probe_ok {
            store.release_app(&app.name, clock()).await?;
            tracing::info!(app = %app.name, "probe succeeded; quarantine released");
            let message = "the probe after the quarantine succeeded; the app is synced again".to_owned();
            log_app_event(
                store,
                app,
                "release",
                Outcome::Ok,
                &codes::APP_QUARANTINED,
                message,
            )
            .await?;
        }
    } else if let Some(v) = verdict {
        quarantine(store, app, &health, &v, clock()).await?;
    }
    Ok(report)
}

/// Quarantines an app one level further than `health` says it was.
async fn quarantine(
    store: &Store,
    app: &AppRuntime,
    health: &roster_store::AppHealth,
    v: &crate::health::Verdict,
    now: i64,
) -> Result<(), StoreError> {
    let level = health.level + 1;
    let length = crate::health::quarantine_length(&app.config.guards, level);
    store
        .quarantine_app(&app.name, now + length, level, v.code.code, &v.reason)
        .await?;
    tracing::warn!(
        app = %app.name,
        code = codes::APP_QUARANTINED.code,
        "app quarantined for {} s ({}): {}; pending changes are kept",
        length / 1_000_000,
        v.code.code,
        v.reason
    );
    let message = format!(
        "app quarantined for {} s (quarantine {level} in a row) after {}: {}; pending changes are kept; roster \
         app release {} ends it",
        length / 1_000_000,
        v.code.code,
        v.reason,
        app.name
    );
    log_app_event(
        store,
        app,
        "quarantine",
        Outcome::Failed,
        &codes::APP_QUARANTINED,
        message,
    )
    .await
}

/// Writes an event of the app as a whole (a quarantine entered or ended) into its provisioning log, once per
/// event: an entry with no directory object, so `roster log NAME` shows why nothing moved.
async fn log_app_event(
    store: &Store,
    app: &AppRuntime,
    action: &str,
    outcome: Outcome,
    code: &'static crate::codes::Code,
    message: String,
) -> Result<(), StoreError> {
    store
        .append_log(&roster_store::LogEntry {
            id: 0,
            at: OffsetDateTime::now_utc(),
            app: app.name.clone(),
            kind: ResourceKind::User,
            source_id: String::new(),
            target_id: None,
            action: action.to_owned(),
            outcome,
            attempt: 1,
            http_status: None,
            code: Some(code.code.to_owned()),
            message,
            duration_ms: 0,
            exchanges: None,
        })
        .await
}

/// Removes a synced object from the queue, or schedules its retry.
async fn settle(
    store: &Store,
    item: &QueueItem,
    holder: &str,
    r: &ObjectResult,
    now: i64,
) -> Result<(), StoreError> {
    if r.held {
        return store.hold_queue_item(item, holder, &r.message).await;
    }
    if r.held_back {
        // Due when the pause ends (a halted credential: at the next drain, which asks the app once more).
        let wait = r.retry_after.unwrap_or_default();
        let run_at = now + i64::try_from(wait.as_micros()).unwrap_or(i64::MAX / 2);
        return store.postpone_queue_item(item, holder, run_at).await;
    }
    if r.outcome != Outcome::Failed {
        store.finish_queue_item(item, holder).await?;
        return Ok(());
    }
    let code = r.code.unwrap_or(&codes::INTERNAL);
    let delay = if code.retryable {
        backoff(
            item.attempts,
            r.retry_after,
            code.category == codes::Category::Transient,
        )
    } else {
        // A person must act; try again in six hours, or as soon as the object changes.
        Duration::from_secs(6 * 3600)
    };
    let run_at = now + i64::try_from(delay.as_micros()).unwrap_or(i64::MAX / 2);
    store
        .retry_queue_item(item, holder, run_at, code.code, &r.message)
        .await
}

/// Totals of a full reconcile or a dry run.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SyncReport {
    /// Objects looked at.
    pub seen: usize,
    /// Per action name (`create`, `update`, `link`, `disable`, `delete`, `unlink`, `conflict`, `none`).
    pub actions: HashMap<&'static str, usize>,
    /// Objects whose action failed.
    pub failed: usize,
    /// Objects held back by the app's pause: queued, due when it ends (not attempted, not failed).
    pub waiting: usize,
}

impl SyncReport {
    fn add(&mut self, r: &ObjectResult) {
        self.seen += 1;
        if r.held_back {
            self.waiting += 1;
            return;
        }
        *self.actions.entry(r.action.name()).or_default() += 1;
        if r.outcome == Outcome::Failed {
            self.failed += 1;
        }
    }
    /// How many objects got this action.
    pub fn count(&self, action: &str) -> usize {
        self.actions.get(action).copied().unwrap_or(0)
    }
}

/// A full reconcile: every user in the directory, then every link whose user is gone, each synced with the
/// target read (drift repaired); then the same for groups when the app pushes them. Streams both in pages, so memory stays bounded at any size. `on_object` sees
/// each result (progress, dry-run plans).
pub async fn full_sync(
    store: &Store,
    app: &AppRuntime,
    dry_run: bool,
    mut on_object: impl FnMut(&str, &ObjectResult),
) -> Result<SyncReport, StoreError> {
    let mut report = SyncReport::default();
    app.client.resume();
    app.refresh_discards(store).await?;
    let snapshot = target_snapshot(app).await;
    if !dry_run {
        // Known before the first page, so the page is synced wide enough to fill bulk requests.
        app.client.bulk_limits().await;
    }
    let opts = SyncOptions {
        snapshot: snapshot.as_ref(),
        read_target: true,
        dry_run,
        attempt: 1,
        guard: true,
    };
    // The reconcile leases what it syncs, like any worker: a queue worker busy with an object keeps it, and a
    // failure here becomes a queued retry.
    let holder = format!("reconcile-{}", uuid::Uuid::now_v7().simple());
    let clock = system_clock();
    app.claim_share(store, clock()).await;
    // Everything journalled before this point is covered by reading the current state below.
    let head = store.journal_head().await?;
    // Users first, so the groups pushed after them can list their accounts.
    let kinds: &[ResourceKind] = if app.config.push_groups {
        &[ResourceKind::User, ResourceKind::Group]
    } else {
        &[ResourceKind::User]
    };
    for &kind in kinds {
        sync_pages(
            store,
            app,
            kind,
            opts,
            &holder,
            &clock,
            &mut report,
            &mut on_object,
        )
        .await?;
        // Links whose directory object is gone (deleted while the engine was not running).
        let mut after: Option<String> = None;
        loop {
            let gone = store
                .links_without_object(&app.name, kind, after.as_deref(), 500)
                .await?;
            let Some(last) = gone.last() else { break };
            after = Some(last.clone());
            let gone: Vec<String> = if dry_run {
                gone
            } else {
                lease_ids(store, app, &holder, kind, &gone, &clock)
                    .await?
                    .into_iter()
                    .map(|(id, _)| id)
                    .collect()
            };
            for id in &gone {
                let r = sync_object(store, app, kind, id, opts).await?;
                if !dry_run {
                    settle(store, &reconcile_item(app, kind, id), &holder, &r, clock()).await?;
                }
                report.add(&r);
                on_object(id, &r);
            }
        }
    }
    if !dry_run {
        store
            .enqueue_and_advance(&app.name, &[], head, to_micros(OffsetDateTime::now_utc()))
            .await?;
    }
    Ok(report)
}

/// What a reconcile keeps of a page while its objects sync.
#[derive(Default)]
struct PageState {
    /// Objects still syncing.
    left: usize,
    /// The page's leases, with their queue generations.
    held: HashMap<String, i64>,
    /// The objects synced (their queue rows go).
    synced: Vec<(ResourceKind, String, i64)>,
    /// A dry run's plan: (position in the page, id, result).
    plan: Vec<(usize, String, ObjectResult)>,
}

/// An object's sync as the page stream yields it: (page number, position in the page, id, result).
type PageItem<'a> = std::pin::Pin<
    Box<
        dyn std::future::Future<Output = (usize, usize, String, Result<ObjectResult, StoreError>)>
            + Send
            + 'a,
    >,
>;

/// Syncs every object of `kind`, page after page, as one stream: the next pages are listed, leased and loaded
/// while earlier ones sync, and an object of the next page starts as soon as a slot is free, not when the whole
/// page is done. A page's leases are released (and its synced queue rows removed) when its last object is done.
/// A dry run's plan is shown page by page in directory order.
#[allow(clippy::too_many_arguments)]
async fn sync_pages(
    store: &Store,
    app: &AppRuntime,
    kind: ResourceKind,
    opts: SyncOptions<'_>,
    holder: &str,
    clock: &Clock,
    report: &mut SyncReport,
    on_object: &mut impl FnMut(&str, &ObjectResult),
) -> Result<(), StoreError> {
    let dry_run = opts.dry_run;
    let pages: std::sync::Mutex<HashMap<usize, PageState>> = std::sync::Mutex::default();
    let state = || pages.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let settle_as = (!dry_run).then_some((holder, clock));
    // Pages are listed, leased and loaded ahead (one waits ready while the next is prepared); a failure to
    // prepare one is passed on, and ends the listing.
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<(usize, Page), StoreError>>(1);
    let producer = async move {
        let mut after = None;
        for number in 0.. {
            match prepare_page(store, app, kind, after.take(), dry_run, holder, clock).await {
                Ok(Some(page)) => {
                    after = Some(page.last.clone());
                    if tx.send(Ok((number, page))).await.is_err() {
                        break;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    let _ = tx.send(Err(e)).await;
                    break;
                }
            }
        }
    };
    let listed = stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|p| (p, rx)) });
    // Boxed, so the stream's type (and its Send bound) is fixed here rather than inferred through its closures.
    let objects: stream::BoxStream<'_, PageItem<'_>> = listed
        .flat_map(|page| {
            let futures: Vec<PageItem<'_>> = match page {
                Err(e) => vec![Box::pin(async move { (usize::MAX, 0, String::new(), Err(e)) })],
                Ok((_, page)) if page.ids.is_empty() => Vec::new(),
                Ok((number, mut page)) => {
                    state().insert(
                        number,
                        PageState {
                            left: page.ids.len(),
                            held: std::mem::take(&mut page.held),
                            ..PageState::default()
                        },
                    );
                    page.ids
                        .into_iter()
                        .enumerate()
                        .map(|(i, id)| {
                            let resource = page.resources.remove(&id);
                            let link = page.links.remove(&id);
                            Box::pin(async move {
                                let r =
                                    sync_page_item(store, app, kind, &id, resource, link, opts, settle_as)
                                        .await;
                                (number, i, id, r)
                            }) as PageItem<'_>
                        })
                        .collect()
                }
            };
            stream::iter(futures)
        })
        .boxed();
    // Page releases run beside the syncs: nothing is awaited in the loop below, since a result waiting there must
    // not hold up the syncs still in flight (one of them may hold the store's writer lock).
    let mut releases = stream::FuturesUnordered::new();
    // A dry run's plans by page number, shown in page order.
    let mut plans: std::collections::BTreeMap<usize, Vec<(usize, String, ObjectResult)>> = Default::default();
    let mut shown = 0_usize;
    let work = async {
        // Distinct objects, synced side by side, each result taken as it comes: a slow object does not hold up
        // the others' slots. Dropped at the end, which stops the page producer.
        let mut results = Box::pin(objects.buffer_unordered(app.workers()));
        loop {
            tokio::select! {
                Some(released) = releases.next(), if !releases.is_empty() => released?,
                next = results.next() => {
                    let Some((number, i, id, r)) = next else { break };
                    let r = r?;
                    report.add(&r);
                    let done = {
                        let mut st = state();
                        let page = st.entry(number).or_default();
                        if r.outcome != Outcome::Failed && !r.held {
                            let generation = page.held.get(&id).copied().unwrap_or(0);
                            page.synced.push((kind, id.clone(), generation));
                        }
                        page.left = page.left.saturating_sub(1);
                        if dry_run {
                            page.plan.push((i, id, r));
                        } else {
                            on_object(&id, &r);
                        }
                        if page.left == 0 { st.remove(&number) } else { None }
                    };
                    let Some(page) = done else { continue };
                    if dry_run {
                        plans.insert(number, page.plan);
                        while let Some(mut plan) = plans.remove(&shown) {
                            // A plan is shown in directory order, whatever order the objects were planned in.
                            plan.sort_unstable_by_key(|(i, _, _)| *i);
                            for (_, id, r) in &plan {
                                on_object(id, r);
                            }
                            shown += 1;
                        }
                    } else {
                        // One write for the page: synced rows go, the rest of the page's leases are released.
                        let leased: Vec<_> = page.held.into_keys().map(|id| (kind, id)).collect();
                        let synced = page.synced;
                        releases.push(async move {
                            store.finish_many(&app.name, holder, &synced, &leased).await
                        });
                    }
                }
            }
        }
        drop(results);
        while let Some(released) = releases.next().await {
            released?;
        }
        Ok::<(), StoreError>(())
    };
    renewing(store, app, holder, clock, async {
        tokio::join!(producer, work).1
    })
    .await
}

/// One page of a reconcile: the objects it holds (with their queue generations), loaded with their links.
struct Page {
    /// The held ids, in order.
    ids: Vec<String>,
    held: HashMap<String, i64>,
    resources: HashMap<String, roster_store::StoredResource>,
    links: HashMap<String, roster_store::Link>,
    /// The last id listed (held or not): where the next page starts.
    last: String,
}

/// Lists the page of `kind` after `after`, leases it (unless a dry run) and loads its objects and links in two
/// queries, not two per object. `None` past the last page.
async fn prepare_page(
    store: &Store,
    app: &AppRuntime,
    kind: ResourceKind,
    after: Option<String>,
    dry_run: bool,
    holder: &str,
    clock: &Clock,
) -> Result<Option<Page>, StoreError> {
    // Still working for the app: renew this reconcile's share of its concurrency.
    app.renew_share(store, clock()).await;
    let listed = store.list_ids_after(kind, after.as_deref(), 500).await?;
    let Some(last) = listed.last().cloned() else {
        return Ok(None);
    };
    let held: Vec<(String, i64)> = if dry_run {
        listed.into_iter().map(|id| (id, 0)).collect()
    } else {
        lease_ids(store, app, holder, kind, &listed, clock).await?
    };
    let ids: Vec<String> = held.iter().map(|(id, _)| id.clone()).collect();
    let resources = store
        .load_resources(kind, &ids)
        .await?
        .into_iter()
        .map(|r| (r.id.clone(), r))
        .collect();
    let links = store.find_links(&app.name, kind, &ids).await?;
    Ok(Some(Page {
        ids,
        held: held.into_iter().collect(),
        resources,
        links,
        last,
    }))
}

/// Leases the objects of a reconcile page; returns the ids this reconcile holds, in order, with their queue
/// generations (a queue worker holds the rest and syncs them itself).
async fn lease_ids(
    store: &Store,
    app: &AppRuntime,
    holder: &str,
    kind: ResourceKind,
    ids: &[String],
    clock: &Clock,
) -> Result<Vec<(String, i64)>, StoreError> {
    let objects: Vec<_> = ids.iter().map(|id| (kind, id.clone())).collect();
    let held: HashMap<String, i64> = store
        .lease_objects(&app.name, holder, &objects, clock(), LEASE_MICROS)
        .await?
        .into_iter()
        .map(|i| (i.source_id, i.generation))
        .collect();
    Ok(ids
        .iter()
        .filter_map(|id| held.get(id).map(|g| (id.clone(), *g)))
        .collect())
}

/// Runs `work` while renewing `holder`'s leases every third of a lease, so a slow app never lets another worker
/// take its objects over while this one is alive.
async fn renewing<T>(
    store: &Store,
    app: &AppRuntime,
    holder: &str,
    clock: &Clock,
    work: impl std::future::Future<Output = T>,
) -> T {
    let renew = async {
        let every = Duration::from_micros(u64::try_from(LEASE_MICROS / 3).unwrap_or(10_000_000));
        loop {
            tokio::time::sleep(every).await;
            if let Err(e) = store
                .renew_leases(&app.name, holder, clock() + LEASE_MICROS)
                .await
            {
                tracing::warn!(app = %app.name, error = %e, "cannot renew the queue lease");
            }
        }
    };
    tokio::select! {
        r = work => r,
        never = renew => never,
    }
}

/// One object of a reconcile page, synced and (unless a dry run) settled in the queue under the reconcile's
/// lease when it failed or was held; successes are finished a page at a time by the caller.
#[allow(clippy::too_many_arguments)]
async fn sync_page_item(
    store: &Store,
    app: &AppRuntime,
    kind: ResourceKind,
    id: &str,
    resource: Option<roster_store::StoredResource>,
    link: Option<roster_store::Link>,
    opts: SyncOptions<'_>,
    settle_as: Option<(&str, &Clock)>,
) -> Result<ObjectResult, StoreError> {
    let result = sync_loaded(store, app, kind, id, resource, link, opts).await;
    match (result, settle_as) {
        (Ok(r), Some((holder, clock))) if r.outcome == Outcome::Failed || r.held => {
            let item = reconcile_item(app, kind, id);
            settle(store, &item, holder, &r, clock()).await.map(|()| r)
        }
        (other, _) => other,
    }
}

/// The queue row a reconcile leased for an object (its generation is not known, so finishing it keeps a row
/// that had a pending change: the worker re-syncs it, at no cost when nothing changed).
fn reconcile_item(app: &AppRuntime, kind: ResourceKind, id: &str) -> roster_store::QueueItem {
    roster_store::QueueItem {
        app: app.name.clone(),
        kind,
        source_id: id.to_owned(),
        generation: 0,
        attempts: 0,
        run_at: 0,
        last_code: None,
        last_error: None,
        hold: Hold::None,
    }
}

/// How often one page of a reconcile's listing is asked for before matching falls back to a request per identity.
const LISTING_TRIES: u32 = 6;

/// Whether a listing page that failed is worth asking for again: the app paused roster, or the failure passes.
fn listing_retryable(e: &crate::connect::TargetError) -> bool {
    e.held_back || e.code.retryable
}

/// Waits before asking for a listing page again: as long as the app asked, else 1 s doubling (at most 8 s).
async fn listing_pause(e: &crate::connect::TargetError, tries: u32) {
    let wait = e
        .retry_after
        .unwrap_or_else(|| Duration::from_secs(1 << tries.saturating_sub(1).min(3)));
    tokio::time::sleep(wait.min(Duration::from_secs(60))).await;
}

/// Reads the matching values of every user account in the target (pages of 1000 by cursor where the target
/// knows cursors, else by index; two attributes each), so the
/// initial sync of an empty or small target skips the matching request for identities nothing can match.
/// A page that fails for a passing cause (a pause, a 5xx, a reset) is asked for again, up to [`LISTING_TRIES`]
/// times. `None` when the target cannot be listed; matching then asks the target for each identity.
async fn target_snapshot(app: &AppRuntime) -> Option<TargetSnapshot> {
    let mut snap = TargetSnapshot::default();
    let attrs: Vec<&str> = app
        .config
        .matching
        .iter()
        .map(|m| m.split(['.', '[']).next().unwrap_or(m))
        .collect();
    let attrs = attrs.join(",");
    let mut start = 1_u64;
    // Cursor paging first (RFC 9865): each page costs the target the same, where `startIndex` pages cost it
    // more the deeper they go (an OFFSET scan: quadratic over a million accounts).
    let mut cursor = String::new();
    loop {
        let first = cursor.is_empty();
        let mut tries = 0;
        let page = loop {
            let page = app
                .client
                .list_page_cursor(ResourceKind::User, &cursor, 1000, &attrs)
                .await;
            match &page {
                Some(Err(e)) if tries < LISTING_TRIES && listing_retryable(e) => {
                    tries += 1;
                    listing_pause(e, tries).await;
                }
                _ => break page,
            }
        };
        match page {
            None => break,
            Some(Ok((page, total, next))) => {
                for account in &page {
                    snap.add_account(account, &app.config.matching);
                }
                match next {
                    Some(next) => cursor = next,
                    None if first => {
                        // All of it, or a target that does not know cursors answered its first page: go on by
                        // index.
                        start += page.len() as u64;
                        if page.is_empty() || start > total {
                            return Some(snap);
                        }
                        break;
                    }
                    None => return Some(snap),
                }
            }
            // A target that refuses the cursor parameter (RFC 9865 §2 lets it answer 400 or 501; some answer
            // other 4xx) is listed by index.
            Some(Err(e))
                if first
                    && e.status
                        .is_some_and(|s| ((400..500).contains(&s) && s != 429) || s == 501) =>
            {
                break;
            }
            Some(Err(e)) => {
                tracing::warn!(app = %app.name, "cannot list the app's accounts ({e}); matching asks per identity");
                return None;
            }
        }
    }
    let mut tries = 0;
    loop {
        match app
            .client
            .list_page(ResourceKind::User, start, 1000, &attrs)
            .await
        {
            Err(e) if tries < LISTING_TRIES && listing_retryable(&e) => {
                tries += 1;
                listing_pause(&e, tries).await;
            }
            Ok((page, total)) => {
                tries = 0;
                let n = page.len() as u64;
                for account in &page {
                    snap.add_account(account, &app.config.matching);
                }
                start += n;
                if n == 0 || start > total {
                    return Some(snap);
                }
            }
            Err(e) => {
                tracing::warn!(app = %app.name, "cannot list the app's accounts ({e}); matching asks per identity");
                return None;
            }
        }
    }
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
    if e.code.code != codes::SCOPE_GROUP_MISSING.code {
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

#[cfg(test)]
mod tests {
    use super::backoff;
    use std::time::Duration;

    fn within(d: Duration, base_ms: u64) -> bool {
        let ms = u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        (base_ms * 8 / 10..=base_ms * 12 / 10).contains(&ms)
    }

    #[test]
    fn passing_faults_are_retried_within_seconds_then_slower() {
        for (attempts, base) in [(0, 1_000), (1, 2_000), (3, 8_000), (4, 10_000), (7, 10_000)] {
            let d = backoff(attempts, None, true);
            assert!(within(d, base), "attempt {attempts}: {d:?}");
        }
        // After the quick retries, the long schedule.
        assert!(within(backoff(8, None, true), 512_000));
        assert!(within(backoff(0, None, false), 2_000));
        assert!(within(backoff(20, None, false), 3_600_000));
        // The target's Retry-After, exactly.
        let ra = Duration::from_secs(7);
        assert_eq!(backoff(5, Some(ra), true), ra);
        assert_eq!(backoff(0, Some(ra), false), ra);
    }
}
