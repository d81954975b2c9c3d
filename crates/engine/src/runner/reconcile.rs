//! Full reconciles: every object of the directory, then every link whose object is gone, synced with the target
//! read (drift repaired), page after page as one stream, each page leased like any worker's objects.

use super::drain::{renewing, settle};
use super::snapshot::target_snapshot;
use super::{LEASE_MICROS, Worker};
use crate::health::system_clock;
use crate::sync::{AppRuntime, Loaded, ObjectResult, SyncOptions, sync_loaded, sync_object};
use futures_util::{StreamExt, stream};
use roster_store::{Hold, Outcome, ResourceKind, Store, StoreError, to_micros};
use std::collections::HashMap;
use time::OffsetDateTime;

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
    let w = Worker {
        store,
        app,
        holder: &holder,
        clock: &clock,
    };
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
        sync_pages(&w, kind, opts, &mut report, &mut on_object).await?;
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
                lease_ids(&w, kind, &gone)
                    .await?
                    .into_iter()
                    .map(|(id, _)| id)
                    .collect()
            };
            for id in &gone {
                let r = sync_object(store, app, kind, id, opts).await?;
                if !dry_run {
                    settle(&w, &reconcile_item(app, kind, id), &r).await?;
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
async fn sync_pages(
    w: &Worker<'_>,
    kind: ResourceKind,
    opts: SyncOptions<'_>,
    report: &mut SyncReport,
    on_object: &mut impl FnMut(&str, &ObjectResult),
) -> Result<(), StoreError> {
    let (store, app, holder) = (w.store, w.app, w.holder);
    let dry_run = opts.dry_run;
    let pages: std::sync::Mutex<HashMap<usize, PageState>> = std::sync::Mutex::default();
    let state = || pages.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    // Pages are listed, leased and loaded ahead (one waits ready while the next is prepared); a failure to
    // prepare one is passed on, and ends the listing.
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<(usize, Page), StoreError>>(1);
    let producer = async move {
        let mut after = None;
        for number in 0.. {
            match prepare_page(w, kind, after.take(), dry_run).await {
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
                            let object = Loaded {
                                kind,
                                resource: page.resources.remove(&id),
                                link: page.links.remove(&id),
                                id: id.clone(),
                            };
                            Box::pin(async move {
                                let r = sync_page_item(w, object, opts).await;
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
    renewing(w, async { tokio::join!(producer, work).1 }).await
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
    w: &Worker<'_>,
    kind: ResourceKind,
    after: Option<String>,
    dry_run: bool,
) -> Result<Option<Page>, StoreError> {
    let (store, app, clock) = (w.store, w.app, w.clock);
    // Still working for the app: renew this reconcile's share of its concurrency.
    app.renew_share(store, clock()).await;
    let listed = store.list_ids_after(kind, after.as_deref(), 500).await?;
    let Some(last) = listed.last().cloned() else {
        return Ok(None);
    };
    let held: Vec<(String, i64)> = if dry_run {
        listed.into_iter().map(|id| (id, 0)).collect()
    } else {
        lease_ids(w, kind, &listed).await?
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
    w: &Worker<'_>,
    kind: ResourceKind,
    ids: &[String],
) -> Result<Vec<(String, i64)>, StoreError> {
    let (store, app, holder, clock) = (w.store, w.app, w.holder, w.clock);
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

/// One object of a reconcile page, synced and (unless a dry run) settled in the queue under the reconcile's
/// lease when it failed or was held; successes are finished a page at a time by the caller.
async fn sync_page_item(
    w: &Worker<'_>,
    object: Loaded,
    opts: SyncOptions<'_>,
) -> Result<ObjectResult, StoreError> {
    let (kind, id) = (object.kind, object.id.clone());
    let result = sync_loaded(w.store, w.app, object, opts).await;
    match result {
        Ok(r) if !opts.dry_run && (r.outcome == Outcome::Failed || r.held) => {
            let item = reconcile_item(w.app, kind, &id);
            settle(w, &item, &r).await.map(|()| r)
        }
        other => other,
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
