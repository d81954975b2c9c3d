//! An app's health: the clock the engine reads, the sliding window of request outcomes that quarantines an app
//! whose requests fail at a high rate (or whose credentials are refused again and again), and the deprovision
//! guard that holds mass disables and deletes for an admin's approval.
//!
//! Quarantine state lives in the store (`app_health`), so every roster process on one database honours it; the
//! window that decides it is kept per process. Times are microseconds since the epoch from a [`Clock`], which
//! tests replace.

use crate::codes::{self, Category, Code};
use crate::config::Guards;
use roster_store::{Hold, Outcome, ResourceKind, Store, StoreError};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use time::OffsetDateTime;

pub use roster_connect::{Clock, system_clock};

const SECOND: i64 = 1_000_000;
const BUCKET: i64 = 10 * SECOND;
/// The longest quarantine.
const MAX_QUARANTINE: i64 = 6 * 3600 * SECOND;

/// What one synced object says about the app's health.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// No request that tells anything (nothing to do, a conflict held for a person, a licence limit, …).
    Neutral,
    /// A request the app accepted.
    Success,
    /// A request that failed in a way that counts against the app (server errors, unreachable, refused data,
    /// refused credentials).
    Failure(&'static Code),
}

impl Signal {
    /// Reads one request's failure: its code and the app's HTTP status, if it answered.
    pub fn of_failure(code: &'static Code, status: Option<u16>) -> Self {
        if matches!(
            code.category,
            Category::Transient | Category::Authentication | Category::Rejected
        ) && status.is_some()
            || *code == codes::TARGET_UNREACHABLE
        {
            Self::Failure(code)
        } else {
            Self::Neutral
        }
    }
}

/// The window of an app's requests, told each request's outcome by the app's client
/// (`roster_connect::Observer`) and judged against the app's guards.
#[derive(Debug)]
pub struct Watch {
    /// The window.
    pub tracker: Arc<Tracker>,
    /// The app's thresholds.
    pub guards: Guards,
}

impl roster_connect::Observer for Watch {
    fn answered(&self, now: i64, outcome: Result<(), &roster_connect::TargetError>) {
        let (signal, message) = match outcome {
            Ok(()) => (Signal::Success, ""),
            Err(e) if e.held_back => (Signal::Neutral, ""),
            Err(e) => (Signal::of_failure(e.code, e.status), e.message.as_str()),
        };
        self.tracker.record(now, signal, message, &self.guards);
    }
}

/// Why an app is to be quarantined.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// The code of the failures.
    pub code: &'static Code,
    /// What happened, in words.
    pub reason: String,
}

#[derive(Debug, Default)]
struct Window {
    /// (bucket start, requests, failures), oldest first.
    buckets: VecDeque<(i64, u32, u32)>,
    auth_in_row: u32,
    last: Option<(&'static Code, String)>,
}

/// The sliding window of one app's request outcomes in this process. Requests are counted, not objects: a
/// `/Bulk` request that fails is one failure, whatever number of creates it carried.
#[derive(Debug, Default)]
pub struct Tracker {
    window: Mutex<Window>,
    /// A verdict reached and not yet acted on (see [`Tracker::take_verdict`]).
    verdict: Mutex<Option<Verdict>>,
}

impl Tracker {
    /// Records one request's outcome at `now` (`message`: what happened, for the verdict's reason). When the app
    /// crosses a quarantine threshold, the verdict is kept for [`Tracker::take_verdict`] and the window starts
    /// afresh.
    pub fn record(&self, now: i64, signal: Signal, message: &str, g: &Guards) {
        if signal == Signal::Neutral {
            return;
        }
        let mut w = self
            .window
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let span = i64::from(g.quarantine_window_secs.max(1)) * SECOND;
        while w.buckets.front().is_some_and(|b| b.0 + BUCKET <= now - span) {
            w.buckets.pop_front();
        }
        let start = now - now.rem_euclid(BUCKET);
        if w.buckets.back().is_none_or(|b| b.0 != start) {
            w.buckets.push_back((start, 0, 0));
        }
        let failed = matches!(signal, Signal::Failure(_));
        if let Some(b) = w.buckets.back_mut() {
            b.1 += 1;
            b.2 += u32::from(failed);
        }
        match signal {
            Signal::Failure(c) => {
                w.last = Some((c, message.to_owned()));
                if c.category == Category::Authentication {
                    w.auth_in_row += 1;
                } else {
                    w.auth_in_row = 0;
                }
            }
            _ => w.auth_in_row = 0,
        }
        let (requests, failures) = w
            .buckets
            .iter()
            .fold((0_u32, 0_u32), |(r, f), b| (r + b.1, f + b.2));
        let Some((code, last)) = w.last.clone() else {
            return;
        };
        let verdict = if g.quarantine_auth_failures > 0 && w.auth_in_row >= g.quarantine_auth_failures {
            Some(Verdict {
                code,
                reason: format!(
                    "the app refused roster's credentials {} times in a row; last: {last}",
                    w.auth_in_row
                ),
            })
        } else if g.quarantine_error_percent > 0
            && requests >= g.quarantine_min_requests.max(1)
            && u64::from(failures) * 100 >= u64::from(g.quarantine_error_percent) * u64::from(requests)
        {
            Some(Verdict {
                code,
                reason: format!(
                    "{failures} of {requests} requests failed in {} s; last: {last}",
                    g.quarantine_window_secs
                ),
            })
        } else {
            None
        };
        if verdict.is_some() {
            *w = Window::default();
            *self
                .verdict
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = verdict;
        }
    }

    /// The verdict the requests since the last call reached, if any.
    pub fn take_verdict(&self) -> Option<Verdict> {
        self.verdict
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
    }
}

/// How long quarantine number `level` (1 for the first) lasts: the configured length, doubling with each
/// failed probation, at most six hours.
pub fn quarantine_length(g: &Guards, level: i64) -> i64 {
    let exp = u32::try_from((level - 1).clamp(0, 16)).unwrap_or(16);
    (i64::from(g.quarantine_secs.max(1)) * SECOND)
        .saturating_mul(1_i64 << exp)
        .min(MAX_QUARANTINE)
}

/// What the deprovision guard decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct GuardDecision {
    /// Deprovisions released to run.
    pub approved: u64,
    /// Deprovisions now waiting for `roster approve`.
    pub held: u64,
}

/// Decides on the deprovisions an app's workers and reconciles held for the check, users and groups apart: if
/// they, with those awaiting approval and those carried out in the last hour, stay within the app's thresholds
/// for their kind (a count — `max_deprovisions` for users, `max_group_deprovisions` for groups — and a share of
/// the app's linked objects of that kind above a floor), they run; otherwise all of that kind wait for
/// `roster approve`.
///
/// Each deprovision held for approval gets one provisioning log entry (`skipped`, `R-GUARD-DEPROVISIONS`) when it
/// is held; the check itself logs nothing, so a deprovision the guard lets through logs only its result.
pub async fn apply_guard(
    store: &Store,
    app: &str,
    g: &Guards,
    user_deprovision: crate::config::Deprovision,
    now: i64,
) -> Result<GuardDecision, StoreError> {
    let mut decision = GuardDecision::default();
    for (kind, max) in [
        (ResourceKind::User, g.max_deprovisions),
        (ResourceKind::Group, g.max_group_deprovisions),
    ] {
        let (check, waiting) = store.count_held_of(app, Some(kind)).await?;
        if check == 0 {
            continue;
        }
        let hour_ago = now - 3600 * SECOND;
        let recent = store
            .count_done_of(app, Some(kind), &["disable", "delete"], hour_ago)
            .await?;
        let pending = u64::try_from(check + waiting + recent).unwrap_or(0);
        let (active, disabled) = store.count_links(app, kind).await?;
        let linked = active + disabled;
        let over_count = max > 0 && pending > u64::from(max);
        let over_share = g.max_deprovision_percent > 0
            && pending > u64::from(g.percent_floor)
            && pending * 100 > u64::from(g.max_deprovision_percent) * linked;
        if waiting > 0 || over_count || over_share {
            let moved = store.hold_for_approval(app, kind, now).await?;
            let held = u64::try_from(moved.len()).unwrap_or(u64::MAX);
            let (what, action) = match kind {
                ResourceKind::User => ("user deprovisions", user_deprovision.as_str()),
                ResourceKind::Group => ("group deletions", "delete"),
            };
            let message = format!(
                "{action} held for approval: {pending} {what} in an hour exceed the guard (at most {max} or {} % of \
                 {linked}); roster approve {app} runs them, roster approve {app} --discard drops them",
                g.max_deprovision_percent
            );
            for id in moved {
                store
                    .append_log(&roster_store::LogEntry {
                        id: 0,
                        at: OffsetDateTime::now_utc(),
                        app: app.to_owned(),
                        kind,
                        source_id: id,
                        target_id: None,
                        action: action.to_owned(),
                        outcome: Outcome::Skipped,
                        attempt: 1,
                        http_status: None,
                        code: Some(codes::GUARD_DEPROVISIONS.code.to_owned()),
                        message: message.clone(),
                        duration_ms: 0,
                        exchanges: None,
                    })
                    .await?;
            }
            tracing::warn!(
                app,
                code = codes::GUARD_DEPROVISIONS.code,
                "{pending} {what} in an hour exceed the guard (at most {max} or {} % of {linked}): {held} more \
                 held; roster approve {app} runs them, roster approve {app} --discard drops them",
                g.max_deprovision_percent
            );
            decision.held += held;
        } else {
            decision.approved += store
                .set_holds_of(app, Some(kind), &[Hold::Check], Hold::Approved, now)
                .await?;
        }
    }
    Ok(decision)
}
