//! The request gate every request to an app passes: the app's `Retry-After` pause, the halt after it refused
//! roster's credentials, its rate limit (shared by every roster process through a [`RateLease`]) and this
//! process's request slots.

use crate::error::TargetError;
use roster_codes as codes;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::Mutex;

/// A clock in microseconds since the epoch; tests pass their own.
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// The wall clock.
pub fn system_clock() -> Clock {
    Arc::new(|| {
        i64::try_from(time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1000).unwrap_or(i64::MAX)
    })
}

/// Where blocks of an app's rate-limited request slots are leased, so that every roster process working for the
/// app shares one budget. The engine implements it on the store.
pub trait RateLease: Send + Sync {
    /// Leases the next block of `span` microseconds not before `now`; returns when it starts. An error (the
    /// database is unreachable) makes the process pace itself alone until a lease succeeds again.
    fn lease(&self, now: i64, span: i64) -> Pin<Box<dyn Future<Output = Result<i64, String>> + Send + '_>>;
}

/// Request slots: at most `limit` requests to the app in flight from this process (its share of the app's
/// `concurrency`); a request waits here for a free slot.
#[derive(Debug)]
struct Slots {
    limit: AtomicUsize,
    busy: AtomicUsize,
    freed: tokio::sync::Notify,
}

/// A request's slot, given back when dropped.
#[derive(Debug)]
pub(crate) struct Slot<'a>(&'a Slots);

impl Slots {
    fn new(limit: usize) -> Self {
        Self {
            limit: AtomicUsize::new(limit.max(1)),
            busy: AtomicUsize::new(0),
            freed: tokio::sync::Notify::new(),
        }
    }

    async fn take(&self) -> Slot<'_> {
        loop {
            // Registered before looking, so a slot freed in between still wakes this request.
            let freed = self.freed.notified();
            tokio::pin!(freed);
            freed.as_mut().enable();
            let busy = self.busy.load(Ordering::SeqCst);
            if busy < self.limit.load(Ordering::SeqCst) {
                if self
                    .busy
                    .compare_exchange(busy, busy + 1, Ordering::SeqCst, Ordering::SeqCst)
                    .is_ok()
                {
                    return Slot(self);
                }
                continue;
            }
            freed.await;
        }
    }

    fn set_limit(&self, limit: usize) {
        self.limit.store(limit.max(1), Ordering::SeqCst);
        self.freed.notify_waiters();
    }
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.0.busy.fetch_sub(1, Ordering::SeqCst);
        self.0.freed.notify_one();
    }
}

/// Request slots under an app's rate limit. Slots are taken in blocks (a quarter second's worth); with a lease,
/// blocks are leased so that every roster process shares one budget. A slot not used by its time is forfeited,
/// so late requests never bunch up into a burst.
struct Pace {
    /// Microseconds between two requests.
    gap: i64,
    /// Slots per block.
    block: i64,
    /// The next slot and the end of the current block (microseconds since the epoch).
    state: Mutex<(i64, i64)>,
    /// Where blocks are leased.
    shared: Option<Arc<dyn RateLease>>,
}

impl Pace {
    fn new(per_second: u32) -> Self {
        let gap = (1_000_000 / i64::from(per_second.max(1))).max(1);
        Self {
            gap,
            block: i64::from(per_second / 4).max(1),
            state: Mutex::new((0, 0)),
            shared: None,
        }
    }

    /// Reserves the next slot; returns its time.
    async fn take(&self, now: i64) -> i64 {
        let mut st = self.state.lock().await;
        if st.0 < now - self.gap {
            // Forfeit the slots whose time has passed.
            let missed = (now - self.gap - st.0 + self.gap - 1) / self.gap;
            st.0 += missed * self.gap;
        }
        if st.0 >= st.1 {
            let span = self.block * self.gap;
            let start = match &self.shared {
                Some(lease) => match lease.lease(now, span).await {
                    Ok(start) => start,
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot lease rate slots; pacing this process alone");
                        st.1.max(now)
                    }
                },
                None => st.1.max(now),
            };
            *st = (start, start + span);
        }
        let slot = st.0;
        st.0 += self.gap;
        slot
    }
}

/// The gate of one app's requests.
pub(crate) struct Gate {
    /// The clock the pause and the pace read.
    pub(crate) clock: Clock,
    /// No request before this time (microseconds since the epoch): the app's last `Retry-After`.
    not_before: AtomicI64,
    /// The failure that stopped this client's requests until [`Gate::resume`]: the app refused roster's
    /// credentials. Requests after it fail at once with its code instead of each asking the app again (a drain
    /// of hundreds of objects against a revoked token sends the requests already in flight, not hundreds).
    halted: std::sync::Mutex<Option<TargetError>>,
    /// The app's rate limit, when it has one.
    pace: Option<Pace>,
    /// Requests in flight, at most this process's share of the app's concurrency.
    slots: Slots,
}

impl Gate {
    /// A gate for `concurrency` requests in flight and `rate_limit` requests per second (0: none).
    pub(crate) fn new(concurrency: usize, rate_limit: u32) -> Self {
        Self {
            clock: system_clock(),
            not_before: AtomicI64::new(0),
            halted: std::sync::Mutex::new(None),
            pace: (rate_limit > 0).then(|| Pace::new(rate_limit)),
            slots: Slots::new(concurrency),
        }
    }

    pub(crate) fn now(&self) -> i64 {
        (self.clock)()
    }

    pub(crate) fn share_rate_limit(&mut self, lease: Arc<dyn RateLease>) {
        if let Some(p) = &mut self.pace {
            p.shared = Some(lease);
        }
    }

    pub(crate) async fn reserve_slot(&self) -> Option<i64> {
        match &self.pace {
            Some(p) => Some(p.take(self.now()).await),
            None => None,
        }
    }

    pub(crate) fn defer_until(&self, until: i64) {
        self.not_before.fetch_max(until, Ordering::SeqCst);
    }

    pub(crate) fn set_request_limit(&self, limit: usize) {
        self.slots.set_limit(limit);
    }

    pub(crate) fn not_before(&self) -> i64 {
        self.not_before.load(Ordering::SeqCst)
    }

    pub(crate) fn resume(&self) {
        if let Ok(mut h) = self.halted.lock() {
            *h = None;
        }
    }

    /// Stops requests until [`Gate::resume`] with `e`, the app's refusal of roster's credentials.
    pub(crate) fn halt(&self, e: &TargetError) {
        if let Ok(mut h) = self.halted.lock() {
            *h = Some(e.clone());
        }
    }

    /// The failure that halted requests, if one did.
    pub(crate) fn halted(&self) -> Option<TargetError> {
        self.halted.lock().ok().and_then(|h| h.clone())
    }

    /// Refuses to send while the app's `Retry-After` runs, then waits for a slot under the app's rate limit.
    pub(crate) async fn admit(&self, what: &str) -> Result<(), TargetError> {
        self.check_deferred(what)?;
        if let Some(slot) = self.reserve_slot().await {
            let wait = slot - self.now();
            if wait > 0 {
                tokio::time::sleep(Duration::from_micros(wait.unsigned_abs())).await;
            }
        }
        Ok(())
    }

    /// Refuses to send while the app's `Retry-After` runs.
    pub(crate) fn check_deferred(&self, what: &str) -> Result<(), TargetError> {
        let now = self.now();
        let until = self.not_before();
        if now < until {
            let left = Duration::from_micros(u64::try_from(until - now).unwrap_or(0));
            return Err(TargetError {
                code: &codes::TARGET_RATE_LIMITED,
                status: None,
                message: format!(
                    "{what}: not sent; the app asked roster to wait {} s more",
                    left.as_secs_f64().ceil()
                ),
                retry_after: Some(left),
                held_back: true,
            });
        }
        Ok(())
    }

    /// A request slot, held until dropped.
    pub(crate) async fn slot(&self) -> Slot<'_> {
        self.slots.take().await
    }
}
