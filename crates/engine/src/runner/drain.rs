//! Draining an app's queue: due objects leased, synced side by side, settled (finished, retried with backoff, held
//! for the guard, postponed behind a pause), and the app's health judged on the way (quarantine, probation).

use super::{LEASE_MICROS, Worker};
use crate::codes;
use crate::health::Clock;
use crate::sync::{AppRuntime, Loaded, ObjectResult, SyncOptions, sync_loaded};
use futures_util::{StreamExt, stream};
use roster_store::{Hold, Outcome, QueueItem, ResourceKind, Store, StoreError};
use std::time::Duration;
use time::OffsetDateTime;

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
    let w = Worker {
        store,
        app,
        holder,
        clock,
    };
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
    // settled at once; the successes leave the queue together below. They and their links are read a batch at a
    // time, as a reconcile's page is (a change after this read queues the object again: it is synced anew).
    let loaded = load_batch(store, app, &items).await?;
    let work = stream::iter(items.into_iter().zip(loaded))
        .map(|(item, object)| async move {
            let opts = SyncOptions {
                snapshot: None,
                read_target: false,
                dry_run: false,
                attempt: item.attempts + 1,
                guard: item.hold != Hold::Approved,
            };
            let result = sync_loaded(store, app, object, opts).await?;
            let synced = !result.held && result.outcome != Outcome::Failed;
            if !synced {
                settle(&w, &item, &result).await?;
            }
            Ok((item, synced, result))
        })
        .buffer_unordered(app.workers())
        .collect::<Vec<Result<(QueueItem, bool, ObjectResult), StoreError>>>();
    let results = renewing(&w, work).await;
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
            quarantine(&w, &health, &verdict).await?;
        } else if probe_ok {
            store.release_app(&app.name, clock()).await?;
            tracing::info!(app = %app.name, "probe succeeded; quarantine released");
            let message = "the probe after the quarantine succeeded; the app is synced again".to_owned();
            log_app_event(&w, "release", Outcome::Ok, &codes::APP_QUARANTINED, message).await?;
        }
    } else if let Some(v) = verdict {
        quarantine(&w, &health, &v).await?;
    }
    Ok(report)
}

/// The leased objects as a sync starts from, in their order: each kind's resources and the app's links to them
/// in one read each (on PostgreSQL, four statements for a batch instead of two round trips an object).
async fn load_batch(store: &Store, app: &AppRuntime, items: &[QueueItem]) -> Result<Vec<Loaded>, StoreError> {
    let mut resources = std::collections::HashMap::new();
    let mut links = std::collections::HashMap::new();
    for kind in [ResourceKind::User, ResourceKind::Group] {
        let ids: Vec<String> = items
            .iter()
            .filter(|i| i.kind == kind)
            .map(|i| i.source_id.clone())
            .collect();
        if ids.is_empty() {
            continue;
        }
        for r in store.load_resources(kind, &ids).await? {
            resources.insert((kind, r.id.clone()), r);
        }
        for (id, link) in store.find_links(&app.name, kind, &ids).await? {
            links.insert((kind, id), link);
        }
    }
    Ok(items
        .iter()
        .map(|i| {
            let key = (i.kind, i.source_id.clone());
            Loaded {
                kind: i.kind,
                id: i.source_id.clone(),
                resource: resources.remove(&key),
                link: links.remove(&key),
            }
        })
        .collect())
}

/// Quarantines an app one level further than `health` says it was.
async fn quarantine(
    w: &Worker<'_>,
    health: &roster_store::AppHealth,
    v: &crate::health::Verdict,
) -> Result<(), StoreError> {
    let (store, app, now) = (w.store, w.app, w.now());
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
    log_app_event(w, "quarantine", Outcome::Failed, &codes::APP_QUARANTINED, message).await
}

/// Writes an event of the app as a whole (a quarantine entered or ended) into its provisioning log, once per
/// event: an entry with no directory object, so `roster log NAME` shows why nothing moved.
async fn log_app_event(
    w: &Worker<'_>,
    action: &str,
    outcome: Outcome,
    code: &'static crate::codes::Code,
    message: String,
) -> Result<(), StoreError> {
    w.store
        .append_log(&roster_store::LogEntry {
            id: 0,
            at: OffsetDateTime::now_utc(),
            app: w.app.name.clone(),
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
pub(super) async fn settle(w: &Worker<'_>, item: &QueueItem, r: &ObjectResult) -> Result<(), StoreError> {
    let (store, holder, now) = (w.store, w.holder, w.now());
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

/// Runs `work` while renewing `holder`'s leases every third of a lease, so a slow app never lets another worker
/// take its objects over while this one is alive.
pub(super) async fn renewing<T>(w: &Worker<'_>, work: impl std::future::Future<Output = T>) -> T {
    let (store, app, holder, clock) = (w.store, w.app, w.holder, w.clock);
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
