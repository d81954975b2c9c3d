//! Slowing down clients whose requests keep failing (seed 004's quarantine, from the service provider's side): a
//! client (an API token) whose recent requests failed at a high rate gets 429 with `Retry-After` for a while,
//! with a SCIM error naming `R-CLIENT-SLOWED` and the last failure, instead of adding to its failures. Only the
//! client's own mistakes count (4xx except 401, 404 and 429); server errors never do.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

/// The thresholds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlowdownConfig {
    /// The share of failed requests (percent) that slows a client; 0 turns slowing off.
    pub error_percent: u32,
    /// The fewest requests in the window before the share counts.
    pub min_requests: u32,
    /// The window, in seconds.
    pub window_secs: u32,
    /// How long a slowed client waits, in seconds.
    pub pause_secs: u32,
}

impl Default for SlowdownConfig {
    fn default() -> Self {
        Self {
            error_percent: 80,
            min_requests: 50,
            window_secs: 60,
            pause_secs: 30,
        }
    }
}

#[derive(Debug, Default)]
struct Client {
    window_start: i64,
    requests: u32,
    failures: u32,
    last: String,
    slowed_until: i64,
}

/// A clock in microseconds since the epoch.
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// The per-client counts.
pub struct Slowdown {
    config: SlowdownConfig,
    clock: Clock,
    clients: Mutex<HashMap<String, Client>>,
}

impl std::fmt::Debug for Slowdown {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Slowdown")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

const SECOND: i64 = 1_000_000;

fn wall_clock() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

impl Slowdown {
    /// Counts on the wall clock.
    pub fn new(config: SlowdownConfig) -> Self {
        Self::with_clock(config, Arc::new(wall_clock))
    }

    /// Counts on `clock` (tests control it).
    pub fn with_clock(config: SlowdownConfig, clock: Clock) -> Self {
        Self {
            config,
            clock,
            clients: Mutex::new(HashMap::new()),
        }
    }

    fn clients(&self) -> std::sync::MutexGuard<'_, HashMap<String, Client>> {
        self.clients
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// `Some((seconds left, why))` while `client` is slowed.
    pub fn check(&self, client: &str) -> Option<(u64, String)> {
        let now = (self.clock)();
        let clients = self.clients();
        let c = clients.get(client)?;
        (c.slowed_until > now).then(|| {
            let left = u64::try_from((c.slowed_until - now + SECOND - 1) / SECOND).unwrap_or(1);
            (left, c.last.clone())
        })
    }

    /// Records the status of one of `client`'s requests (and the SCIM detail of a failure).
    pub fn record(&self, client: &str, status: u16, detail: impl FnOnce() -> String) {
        let cfg = self.config;
        if cfg.error_percent == 0 {
            return;
        }
        let failed = (400..500).contains(&status) && !matches!(status, 401 | 404 | 429);
        let now = (self.clock)();
        let mut clients = self.clients();
        let c = clients.entry(client.to_owned()).or_default();
        if now - c.window_start >= i64::from(cfg.window_secs) * SECOND {
            *c = Client {
                window_start: now,
                slowed_until: c.slowed_until,
                ..Client::default()
            };
        }
        c.requests += 1;
        if failed {
            c.failures += 1;
            c.last = format!("{status}: {}", detail());
        }
        if c.requests >= cfg.min_requests.max(1)
            && u64::from(c.failures) * 100 >= u64::from(cfg.error_percent) * u64::from(c.requests)
        {
            c.slowed_until = now + i64::from(cfg.pause_secs) * SECOND;
            c.last = format!(
                "{} of {} requests failed in {} s; last {}",
                c.failures, c.requests, cfg.window_secs, c.last
            );
            tracing::warn!(client, "client slowed for {} s: {}", cfg.pause_secs, c.last);
            c.window_start = now;
            c.requests = 0;
            c.failures = 0;
        }
    }
}
