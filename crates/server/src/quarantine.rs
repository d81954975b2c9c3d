//! Inbound quarantine (seed 004, from the receiving side): a client (an API token) whose requests fail by its own
//! mistake at a high rate is refused — every call answered 429 with `Retry-After` and a SCIM error naming
//! `R-CLIENT-SLOWED`, the error rate, the window and when calls are accepted again — then put on a stricter
//! probation, longer each time it trips again, and back to normal after a clean stretch.
//!
//! The state is the store's (`roster_store::clients`): every process on one database judges one shared window
//! and applies one decision; a restart forgets nothing; `roster client release` ends it. This module keeps, per
//! process and client, the counts not yet written and a copy of the client's row:
//! - the copy is read again when it is older than `state_ttl` (1 s; another process's trip or a release by hand
//!   shows within that), and replaced by the row a write returns;
//! - counts are written at most every `flush_every` (1 s) for a client whose requests succeed, and after every
//!   [`FAILURE_BATCH`] requests for one that is failing, so a failing client is judged within a few requests.
//!
//! What counts against a client: a 4xx other than 401 (no client to blame), 429 (roster's own refusal) and 404 to
//! a read or a DELETE ([`counts_against`]). Server errors never count. A database error while
//! judging is logged and the request served: quarantine protects roster, it must not take it down.

use roster_store::{ClientCounts, ClientHealth, ClientPolicy, ClientState, Store};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A failing client's counts are written after this many requests.
pub const FAILURE_BATCH: i64 = 10;

/// The settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuarantineConfig {
    /// When a client is refused and let through again.
    pub policy: ClientPolicy,
    /// How often a process writes a client's counts when they hold no failure.
    pub flush_every: Duration,
    /// How long a process trusts its copy of a client's state.
    pub state_ttl: Duration,
}

impl Default for QuarantineConfig {
    fn default() -> Self {
        Self {
            policy: ClientPolicy::default(),
            flush_every: Duration::from_secs(1),
            state_ttl: Duration::from_secs(1),
        }
    }
}

/// A refusal: what the 429 says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// Seconds until calls are accepted again (`Retry-After`).
    pub secs: u64,
    /// When, as RFC 3339.
    pub until: String,
    /// Why: the error rate, the window, the last failure.
    pub reason: String,
}

/// A clock in microseconds since the epoch.
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

#[derive(Debug, Default)]
struct Local {
    /// The client's row as last read or written, and when (µs; `None`: never).
    row: Option<ClientHealth>,
    fetched: Option<i64>,
    /// Counts not written yet, and when counts were last written.
    pending: ClientCounts,
    flushed: Option<i64>,
}

/// Per-process counts and copies over the shared state.
pub struct Quarantine {
    config: QuarantineConfig,
    store: Store,
    clock: Clock,
    clients: Mutex<HashMap<String, Local>>,
}

impl std::fmt::Debug for Quarantine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Quarantine")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

fn wall_clock() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

fn micros(d: Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

/// What a request asked for, as far as judging its answer goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    /// A GET, HEAD or search.
    Read,
    /// A DELETE.
    Delete,
    /// Any other write.
    Write,
}

/// Whether an answer counts against the client that got it: a 404 to a read (a lookup that finds nothing) or to
/// a DELETE (what was to go is gone: identity providers repeat deletes, and testers clean up twice) is a normal
/// answer.
pub fn counts_against(status: u16, request: Request) -> bool {
    (400..500).contains(&status)
        && !matches!(status, 401 | 429)
        && !(status == 404 && matches!(request, Request::Read | Request::Delete))
}

impl Quarantine {
    /// Judges on the wall clock.
    pub fn new(store: Store, config: QuarantineConfig) -> Self {
        Self::with_clock(store, config, Arc::new(wall_clock))
    }

    /// Judges on `clock` (tests control it).
    pub fn with_clock(store: Store, config: QuarantineConfig, clock: Clock) -> Self {
        Self {
            config,
            store,
            clock,
            clients: Mutex::new(HashMap::new()),
        }
    }

    fn clients(&self) -> std::sync::MutexGuard<'_, HashMap<String, Local>> {
        self.clients
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn off(&self) -> bool {
        self.config.policy.error_percent == 0
    }

    /// `Some` while `client` is refused.
    pub async fn check(&self, client: &str) -> Option<Refusal> {
        if self.off() {
            return None;
        }
        let now = (self.clock)();
        let stale = self.clients().get(client).is_none_or(|l| {
            l.fetched
                .is_none_or(|at| now - at >= micros(self.config.state_ttl))
        });
        if stale {
            match self.store.client_health(client).await {
                Ok(row) => {
                    let mut clients = self.clients();
                    let local = clients.entry(client.to_owned()).or_default();
                    local.row = row;
                    local.fetched = Some(now);
                }
                Err(e) => tracing::warn!(client, "could not read the client's quarantine state: {e}"),
            }
        }
        let clients = self.clients();
        let row = clients.get(client)?.row.as_ref()?;
        (row.state(now) == ClientState::Refused).then(|| Refusal {
            secs: row.refused_for_secs(now).max(1),
            until: roster_store::from_micros(row.refused_until)
                .ok()
                .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
                .unwrap_or_default(),
            reason: row.reason.clone(),
        })
    }

    /// Counts one answer to `client`'s `request`, with the SCIM detail of a failure.
    pub async fn record(&self, client: &str, status: u16, request: Request, detail: impl FnOnce() -> String) {
        if self.off() {
            return;
        }
        let failed = counts_against(status, request);
        let now = (self.clock)();
        let due = {
            let mut clients = self.clients();
            let local = clients.entry(client.to_owned()).or_default();
            local.pending.requests += 1;
            if failed {
                local.pending.failures += 1;
                local.pending.last_failure = Some(format!("{status}: {}", detail()));
            }
            let quiet_long_enough = local
                .flushed
                .is_none_or(|at| now - at >= micros(self.config.flush_every));
            let failing = local.pending.failures > 0 && local.pending.requests >= FAILURE_BATCH;
            (quiet_long_enough || failing).then(|| {
                local.flushed = Some(now);
                std::mem::take(&mut local.pending)
            })
        };
        let Some(counts) = due else { return };
        match self
            .store
            .record_client_requests(client, &counts, now, &self.config.policy)
            .await
        {
            Ok(row) => {
                let mut clients = self.clients();
                let local = clients.entry(client.to_owned()).or_default();
                local.row = Some(row);
                local.fetched = Some(now);
            }
            Err(e) => tracing::warn!(
                client,
                "could not record the client's requests for its quarantine: {e}"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_clients_own_mistakes_count() {
        use Request::{Delete, Read, Write};
        for (status, request, counts) in [
            (400, Write, true),
            (409, Write, true),
            (412, Write, true),
            (404, Write, true),
            (404, Read, false),
            (404, Delete, false),
            (400, Read, true),
            (401, Write, false),
            (429, Write, false),
            (500, Write, false),
            (503, Read, false),
            (200, Write, false),
        ] {
            assert_eq!(counts_against(status, request), counts, "{status} {request:?}");
        }
    }
}
