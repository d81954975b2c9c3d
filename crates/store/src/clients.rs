//! Inbound quarantine: each client's (API token's) error rate and quarantine state, shared by every process.
//!
//! Contract:
//! - A row per client that has sent requests (`client_health`, migration 0015), keyed by the token's name.
//!   Processes count requests in memory and add their counts here ([`Store::record_client_requests`]); the
//!   judgement ([`judge`], a pure function) runs in the same transaction on the shared counts, so every process
//!   sees one window, one decision.
//! - States ([`ClientState`]): normal; refused (every call answered 429 until `refused_until`); on probation (calls
//!   accepted, judged against a lower threshold, until `probation_until`). A trip while normal or on probation
//!   refuses the client for the policy's period, doubled for each trip in a row (at most `max_refuse_secs`),
//!   then puts it on probation for `probation_secs` times the number of trips in a row. A probation that ends
//!   without a trip returns the client to normal.
//! - Trips, recoveries and releases by hand are written to the audit log (actor `roster` for the first two).
//! - Only what a process is told counts: which statuses are the client's fault is the caller's decision.

use crate::{AuditAction, Store, StoreError, from_micros};
use serde_json::json;

/// One second in microseconds.
const SECOND: i64 = 1_000_000;

/// When a client is refused and when it is let through again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientPolicy {
    /// The share of failed requests (percent) in a window that trips a normal client; 0 turns quarantine off.
    pub error_percent: u32,
    /// The fewest requests in the window before the share counts.
    pub min_requests: u32,
    /// The window, in seconds.
    pub window_secs: u32,
    /// How long the first trip refuses the client, in seconds (doubled for each further trip in a row).
    pub refuse_secs: u32,
    /// The longest refusal, in seconds.
    pub max_refuse_secs: u32,
    /// How long a client stays on probation after a refusal, in seconds (times the trips in a row).
    pub probation_secs: u32,
    /// The share of failed requests (percent) that trips a client on probation.
    pub probation_percent: u32,
    /// The fewest requests in the window before the share counts on probation.
    pub probation_min_requests: u32,
}

impl Default for ClientPolicy {
    /// Entra ID quarantines a sync whose calls fail above a share like 40 %; Adobe (seed 004) refuses every call
    /// for a while, then accepts calls again on a longer probation if errors go on.
    fn default() -> Self {
        Self {
            error_percent: 40,
            min_requests: 20,
            window_secs: 60,
            refuse_secs: 60,
            max_refuse_secs: 3600,
            probation_secs: 600,
            probation_percent: 20,
            probation_min_requests: 10,
        }
    }
}

/// Where a client stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientState {
    /// Calls are served and judged against the normal threshold.
    Normal,
    /// Every call is refused until the time given.
    Refused,
    /// Calls are served and judged against the probation threshold.
    Probation,
}

impl ClientState {
    /// Its name (`normal`, `refused`, `probation`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Normal => "normal",
            Self::Refused => "refused",
            Self::Probation => "probation",
        }
    }
}

/// A client's row.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientHealth {
    /// The token's name.
    pub client: String,
    /// When the current window began (µs).
    pub window_start: i64,
    /// Requests served in the window.
    pub requests: i64,
    /// Of those, the ones that failed by the client's mistake.
    pub failures: i64,
    /// The last such failure (status and detail).
    pub last_failure: String,
    /// Trips in a row (0: normal).
    pub level: i64,
    /// Refused until (µs; 0: never refused).
    pub refused_until: i64,
    /// On probation until (µs).
    pub probation_until: i64,
    /// Why the last trip happened.
    pub reason: String,
    /// When the last trip happened (µs).
    pub tripped_at: i64,
    /// Trips in all.
    pub trips: i64,
}

impl ClientHealth {
    /// Its state at `now` (µs).
    pub fn state(&self, now: i64) -> ClientState {
        if self.refused_until > now {
            ClientState::Refused
        } else if self.level > 0 && self.probation_until > now {
            ClientState::Probation
        } else {
            ClientState::Normal
        }
    }

    /// Seconds until calls are accepted again (0 when they are).
    pub fn refused_for_secs(&self, now: i64) -> u64 {
        u64::try_from((self.refused_until - now + SECOND - 1) / SECOND).unwrap_or(0)
    }
}

/// What a process counted for one client since it last told the store.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientCounts {
    /// Requests served.
    pub requests: i64,
    /// Of those, failures by the client's mistake.
    pub failures: i64,
    /// The last such failure (status and detail), if any.
    pub last_failure: Option<String>,
}

/// What a judgement changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientEvent {
    /// The client was refused (again).
    Tripped,
    /// A probation ended without a trip: the client is normal again.
    Recovered,
}

/// Adds `counts` to the client's window at `now` and decides: the pure core of [`Store::record_client_requests`].
pub fn judge(
    mut h: ClientHealth,
    counts: &ClientCounts,
    now: i64,
    p: &ClientPolicy,
) -> (ClientHealth, Option<ClientEvent>) {
    let mut event = None;
    if h.level > 0 && h.state(now) == ClientState::Normal {
        h.level = 0;
        event = Some(ClientEvent::Recovered);
    }
    if now - h.window_start >= i64::from(p.window_secs) * SECOND || h.window_start > now {
        h.window_start = now;
        h.requests = 0;
        h.failures = 0;
    }
    h.requests += counts.requests;
    h.failures += counts.failures;
    if let Some(last) = &counts.last_failure {
        h.last_failure.clone_from(last);
    }
    if p.error_percent == 0 || h.state(now) == ClientState::Refused {
        return (h, event);
    }
    let (percent, min) = if h.level > 0 {
        (p.probation_percent, p.probation_min_requests)
    } else {
        (p.error_percent, p.min_requests)
    };
    if h.requests >= i64::from(min.max(1)) && h.failures * 100 >= i64::from(percent) * h.requests {
        h.level += 1;
        h.trips += 1;
        let doubling = u32::try_from(h.level - 1).unwrap_or(u32::MAX).min(20);
        let refuse = (i64::from(p.refuse_secs) << doubling).min(i64::from(p.max_refuse_secs).max(1));
        h.refused_until = now + refuse * SECOND;
        h.probation_until = h.refused_until + i64::from(p.probation_secs) * h.level * SECOND;
        h.tripped_at = now;
        h.reason = format!(
            "{} of {} requests failed within {} s ({}%; the limit is {percent}%{}); last: {}",
            h.failures,
            h.requests,
            p.window_secs,
            h.failures * 100 / h.requests.max(1),
            if h.level > 1 { " on probation" } else { "" },
            h.last_failure,
        );
        h.window_start = now;
        h.requests = 0;
        h.failures = 0;
        event = Some(ClientEvent::Tripped);
    }
    (h, event)
}

type Row = (String, i64, i64, i64, String, i64, i64, i64, String, i64, i64);

fn from_row(r: Row) -> ClientHealth {
    ClientHealth {
        client: r.0,
        window_start: r.1,
        requests: r.2,
        failures: r.3,
        last_failure: r.4,
        level: r.5,
        refused_until: r.6,
        probation_until: r.7,
        reason: r.8,
        tripped_at: r.9,
        trips: r.10,
    }
}

/// The columns of a [`Row`], as a literal for `concat!`.
macro_rules! columns {
    () => {
        "client, window_start, requests, failures, last_failure, level, refused_until, probation_until, reason, \
         tripped_at, trips"
    };
}

fn rfc3339(us: i64) -> String {
    from_micros(us)
        .map(roster_scim::value::format_datetime)
        .unwrap_or_default()
}

/// A client as an admin sees it: every API token, with its row if it has sent requests, and the rows of
/// revoked tokens (their history stays readable).
#[derive(Debug, Clone)]
pub struct ClientListing {
    /// The token's name.
    pub name: String,
    /// The token's scope; `None` once revoked.
    pub scope: Option<crate::Scope>,
    /// Its row, once it has sent requests.
    pub row: Option<ClientHealth>,
}

impl ClientListing {
    /// Its state at `now` (µs).
    pub fn state(&self, now: i64) -> ClientState {
        self.row.as_ref().map_or(ClientState::Normal, |r| r.state(now))
    }

    /// When its current state ends (refusal or probation), as RFC 3339.
    pub fn until(&self, now: i64) -> Option<String> {
        let r = self.row.as_ref()?;
        match r.state(now) {
            ClientState::Refused => Some(rfc3339(r.refused_until)),
            ClientState::Probation => Some(rfc3339(r.probation_until)),
            ClientState::Normal => None,
        }
    }

    /// The JSON the CLI (`roster client list|show --format json`) and the operations API (`/api/v1/clients`)
    /// give.
    pub fn to_json(&self, now: i64) -> serde_json::Value {
        let r = self.row.clone().unwrap_or_default();
        let time = |us: i64| (us > 0).then(|| rfc3339(us));
        json!({
            "name": self.name,
            "scope": self.scope.map(crate::Scope::as_str),
            "state": self.state(now).as_str(),
            "until": self.until(now),
            "tripsInARow": r.level,
            "trips": r.trips,
            "window": {"since": time(r.window_start), "requests": r.requests, "failures": r.failures},
            "lastFailure": (!r.last_failure.is_empty()).then_some(&r.last_failure),
            "lastTrip": time(r.tripped_at),
            "reason": (!r.reason.is_empty()).then_some(&r.reason),
        })
    }
}

impl Store {
    /// Every client an admin can see, by name (see [`ClientListing`]).
    pub async fn list_clients(&self) -> Result<Vec<ClientListing>, StoreError> {
        let mut rows = self.list_client_health().await?;
        let mut all: Vec<ClientListing> = self
            .list_tokens()
            .await?
            .into_iter()
            .map(|t| {
                let row = rows
                    .iter()
                    .position(|r| r.client == t.name)
                    .map(|i| rows.swap_remove(i));
                ClientListing {
                    name: t.name,
                    scope: Some(t.scope),
                    row,
                }
            })
            .collect();
        all.extend(rows.into_iter().map(|r| ClientListing {
            name: r.client.clone(),
            scope: None,
            row: Some(r),
        }));
        all.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(all)
    }

    /// Adds what a process counted for `client` and judges the shared window at `now` (µs); returns the row as it
    /// now stands. A trip or a recovery is written to the audit log.
    pub async fn record_client_requests(
        &self,
        client: &str,
        counts: &ClientCounts,
        now: i64,
        policy: &ClientPolicy,
    ) -> Result<ClientHealth, StoreError> {
        let _writer = self.writer().await;
        let (after, event) = on_db!(self, pool => {
            let mut tx = pool.begin_with(self.write_begin()).await?;
            // Make the row first, so that the read below holds it (PostgreSQL: FOR UPDATE) against other processes.
            sqlx::query("INSERT INTO client_health (client, window_start) VALUES ($1, $2) ON CONFLICT (client) DO NOTHING")
                .bind(client).bind(now).execute(&mut *tx).await?;
            let select = match self.db {
                crate::Db::Postgres(_) => concat!("SELECT ", columns!(), " FROM client_health WHERE client = $1 FOR UPDATE"),
                crate::Db::Sqlite(_) => concat!("SELECT ", columns!(), " FROM client_health WHERE client = $1"),
            };
            let row: Row = sqlx::query_as(select)
                .bind(client).fetch_one(&mut *tx).await?;
            let (after, event) = judge(from_row(row), counts, now, policy);
            sqlx::query(
                "UPDATE client_health SET window_start = $2, requests = $3, failures = $4, last_failure = $5, level = $6, \
                 refused_until = $7, probation_until = $8, reason = $9, tripped_at = $10, trips = $11 WHERE client = $1",
            )
            .bind(client).bind(after.window_start).bind(after.requests).bind(after.failures).bind(&after.last_failure)
            .bind(after.level).bind(after.refused_until).bind(after.probation_until).bind(&after.reason)
            .bind(after.tripped_at).bind(after.trips)
            .execute(&mut *tx).await?;
            tx.commit().await?;
            (after, event)
        });
        drop(_writer);
        match event {
            Some(ClientEvent::Tripped) => {
                tracing::warn!(
                    client,
                    "client refused until {}: {}",
                    rfc3339(after.refused_until),
                    after.reason
                );
                let change = json!({
                    "state": "refused",
                    "until": rfc3339(after.refused_until),
                    "probation_until": rfc3339(after.probation_until),
                    "trips_in_a_row": after.level,
                    "reason": after.reason,
                });
                self.record_audit("roster", AuditAction::ClientQuarantine, client, &change)
                    .await?;
            }
            Some(ClientEvent::Recovered) => {
                let change = json!({"state": "normal", "after": "a probation without errors"});
                self.record_audit("roster", AuditAction::ClientRecover, client, &change)
                    .await?;
            }
            None => {}
        }
        Ok(after)
    }

    /// A client's row, if it has sent requests.
    pub async fn client_health(&self, client: &str) -> Result<Option<ClientHealth>, StoreError> {
        on_db!(self, pool => {
            let row: Option<Row> = sqlx::query_as(concat!("SELECT ", columns!(), " FROM client_health WHERE client = $1"))
                .bind(client).fetch_optional(pool).await?;
            Ok(row.map(from_row))
        })
    }

    /// Every client's row, by name.
    pub async fn list_client_health(&self) -> Result<Vec<ClientHealth>, StoreError> {
        on_db!(self, pool => {
            let rows: Vec<Row> = sqlx::query_as(concat!("SELECT ", columns!(), " FROM client_health ORDER BY client"))
                .fetch_all(pool).await?;
            Ok(rows.into_iter().map(from_row).collect())
        })
    }

    /// Ends a client's quarantine by hand at `now` (µs): refusal and probation over, counts cleared, trips in a row
    /// back to 0; recorded in the audit log with `actor`. Returns the row before, or `None` for a client that
    /// has sent nothing.
    pub async fn release_client(
        &self,
        client: &str,
        now: i64,
        actor: &str,
    ) -> Result<Option<ClientHealth>, StoreError> {
        let Some(before) = self.client_health(client).await? else {
            return Ok(None);
        };
        {
            let _writer = self.writer().await;
            on_db!(self, pool => {
                sqlx::query(
                    "UPDATE client_health SET window_start = $2, requests = 0, failures = 0, level = 0, refused_until = 0, \
                     probation_until = 0 WHERE client = $1",
                )
                .bind(client).bind(now).execute(pool).await?;
            });
        }
        let change = json!({
            "before": before.state(now).as_str(),
            "refused_until": (before.refused_until > now).then(|| rfc3339(before.refused_until)),
            "reason": before.reason,
        });
        self.record_audit(actor, AuditAction::ClientRelease, client, &change)
            .await?;
        Ok(Some(before))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const P: ClientPolicy = ClientPolicy {
        error_percent: 40,
        min_requests: 10,
        window_secs: 60,
        refuse_secs: 60,
        max_refuse_secs: 300,
        probation_secs: 600,
        probation_percent: 20,
        probation_min_requests: 5,
    };

    fn counts(requests: i64, failures: i64) -> ClientCounts {
        ClientCounts {
            requests,
            failures,
            last_failure: (failures > 0).then(|| "400: bad".to_owned()),
        }
    }

    #[test]
    fn a_client_trips_is_refused_then_on_a_stricter_longer_probation_then_normal() {
        let t0 = 1_000 * SECOND;
        let h = ClientHealth {
            window_start: t0,
            ..ClientHealth::default()
        };
        // Below the minimum of requests nothing trips, whatever the share.
        let (h, e) = judge(h, &counts(9, 3), t0, &P);
        assert_eq!((h.state(t0), e), (ClientState::Normal, None));
        // 4 of 10 is 40 %: refused for 60 s.
        let (h, e) = judge(h, &counts(1, 1), t0 + SECOND, &P);
        assert_eq!(
            (h.requests, h.failures),
            (0, 0),
            "a trip starts the window afresh"
        );
        assert_eq!(
            (h.state(t0 + SECOND), e),
            (ClientState::Refused, Some(ClientEvent::Tripped))
        );
        assert_eq!(h.refused_for_secs(t0 + SECOND), 60);
        assert!(
            h.reason
                .contains("4 of 10 requests failed within 60 s (40%; the limit is 40%)"),
            "{}",
            h.reason
        );
        // Then probation: 1 failure of 5 (20 %) trips it again, for twice as long, with a longer probation.
        let t1 = t0 + 62 * SECOND;
        assert_eq!(h.state(t1), ClientState::Probation);
        let (h, e) = judge(h, &counts(5, 1), t1, &P);
        assert_eq!(
            (h.state(t1), e, h.level),
            (ClientState::Refused, Some(ClientEvent::Tripped), 2)
        );
        assert_eq!(h.refused_for_secs(t1), 120);
        assert_eq!(h.probation_until, h.refused_until + 1200 * SECOND);
        assert!(h.reason.contains("on probation"));
        // A third and fourth trip: the refusal is capped.
        let at = h.refused_until;
        let (h, _) = judge(h, &counts(5, 5), at, &P);
        let at = h.refused_until;
        let (h, _) = judge(h, &counts(5, 5), at, &P);
        assert_eq!((h.level, h.refused_for_secs(h.tripped_at)), (4, 300));
        // A clean probation: normal again, and the next judgement says so once.
        let later = h.probation_until;
        let (h, e) = judge(h, &counts(100, 0), later, &P);
        assert_eq!(
            (h.state(later), e, h.level),
            (ClientState::Normal, Some(ClientEvent::Recovered), 0)
        );
        let (h, e) = judge(h, &counts(100, 39), later + SECOND, &P);
        assert_eq!(
            (h.state(later + SECOND), e),
            (ClientState::Normal, None),
            "39 of 200 is under 40 %"
        );
        assert_eq!(h.trips, 4);
    }

    #[test]
    fn the_window_rolls_and_zero_turns_quarantine_off() {
        let t0 = 1_000 * SECOND;
        let h = ClientHealth {
            window_start: t0,
            ..ClientHealth::default()
        };
        let (h, _) = judge(h, &counts(9, 9), t0, &P);
        // 61 s later the window starts again: the nine old failures do not count.
        let (h, e) = judge(h, &counts(1, 1), t0 + 61 * SECOND, &P);
        assert_eq!((h.requests, h.failures, e), (1, 1, None));
        let off = ClientPolicy {
            error_percent: 0,
            ..P
        };
        let (h, e) = judge(h, &counts(100, 100), t0 + 62 * SECOND, &off);
        assert_eq!((h.state(t0 + 62 * SECOND), e), (ClientState::Normal, None));
    }
}
