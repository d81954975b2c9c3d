//! The provisioning log: every attempt to change a target and every decision not to, with the roster code of a
//! failure. Callers write only redacted text here; the store adds nothing of its own.

use crate::directory::ResourceKind;
use crate::{Store, StoreError, from_micros, to_micros};
use time::OffsetDateTime;

/// How an attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The target accepted the change (or there was nothing to change).
    Ok,
    /// The attempt failed; `code` says why.
    Failed,
    /// Nothing was sent on purpose (out of scope without an account, a conflict held for a person, …).
    Skipped,
}

impl Outcome {
    /// The stored name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Failed => "failed",
            Self::Skipped => "skipped",
        }
    }
    fn parse(s: &str) -> Result<Self, StoreError> {
        match s {
            "ok" => Ok(Self::Ok),
            "failed" => Ok(Self::Failed),
            "skipped" => Ok(Self::Skipped),
            other => Err(StoreError::Corrupt(format!("log outcome '{other}'"))),
        }
    }
}

/// One provisioning log entry.
#[derive(Debug, Clone, PartialEq)]
pub struct LogEntry {
    /// Increasing id (0 before it is written).
    pub id: i64,
    /// When.
    pub at: OffsetDateTime,
    /// The app.
    pub app: String,
    /// User or Group.
    pub kind: ResourceKind,
    /// The directory object.
    pub source_id: String,
    /// The target account, when known.
    pub target_id: Option<String>,
    /// What roster did or meant to do (`create`, `update`, `link`, `disable`, `delete`, …).
    pub action: String,
    /// How it ended.
    pub outcome: Outcome,
    /// Which attempt this was (1 for the first).
    pub attempt: i64,
    /// The target's HTTP status, when a request was made.
    pub http_status: Option<i64>,
    /// The roster code of a failure.
    pub code: Option<String>,
    /// What happened, in words (redacted).
    pub message: String,
    /// How long it took.
    pub duration_ms: i64,
    /// The requests made and what came back, as a JSON array of `{request, body, status, response}`, summarised
    /// and redacted by the caller (`None` when no request was made).
    pub exchanges: Option<String>,
}

impl LogEntry {
    /// The entry as JSON (the form of `roster log --format json` and the operations API): `time` in RFC 3339,
    /// `exchanges` as the JSON array it holds.
    pub fn to_json(&self) -> serde_json::Value {
        let exchanges = match self
            .exchanges
            .as_deref()
            .map(serde_json::from_str::<serde_json::Value>)
        {
            None => serde_json::Value::Array(Vec::new()),
            Some(Ok(v @ serde_json::Value::Array(_))) => v,
            // An unreadable summary shows as one text item rather than being lost.
            Some(_) => serde_json::json!([{ "request": self.exchanges }]),
        };
        serde_json::json!({
            "id": self.id,
            "time": roster_scim::value::format_datetime(self.at),
            "app": self.app,
            "type": self.kind.as_str(),
            "object": self.source_id,
            "target": self.target_id,
            "action": self.action,
            "outcome": self.outcome.as_str(),
            "attempt": self.attempt,
            "httpStatus": self.http_status,
            "code": self.code,
            "message": self.message,
            "durationMs": self.duration_ms,
            "exchanges": exchanges,
        })
    }
}

/// Which entries to read.
#[derive(Debug, Clone, Default)]
pub struct LogQuery<'a> {
    /// Only this app.
    pub app: Option<&'a str>,
    /// Only this directory object.
    pub source_id: Option<&'a str>,
    /// Only this roster code.
    pub code: Option<&'a str>,
    /// Only failures.
    pub failures_only: bool,
    /// Only entries at or after this time.
    pub since: Option<OffsetDateTime>,
    /// At most this many, newest first.
    pub limit: i64,
}

type LogRow = (
    i64,
    i64,
    String,
    String,
    String,
    Option<String>,
    String,
    String,
    i64,
    Option<i64>,
    Option<String>,
    String,
    i64,
    Option<String>,
);

impl Store {
    /// Appends an entry (its `id` is assigned here).
    pub async fn append_log(&self, e: &LogEntry) -> Result<(), StoreError> {
        self.record_sync(&[], Some(e)).await
    }

    /// How many entries of an app with one of `actions` succeeded at or after `since` (the deprovision guard
    /// counts recent disables and deletes). `since` is in microseconds since the epoch.
    pub async fn count_done(&self, app: &str, actions: &[&str], since: i64) -> Result<i64, StoreError> {
        self.count_done_of(app, None, actions, since).await
    }

    /// [`Store::count_done`] for one resource type (`None`: both).
    pub async fn count_done_of(
        &self,
        app: &str,
        kind: Option<ResourceKind>,
        actions: &[&str],
        since: i64,
    ) -> Result<i64, StoreError> {
        on_db!(self, pool => {
            let mut q = sqlx::QueryBuilder::new("SELECT COUNT(*) FROM provisioning_log WHERE app = ");
            q.push_bind(app);
            if let Some(k) = kind {
                q.push(" AND resource_type = ").push_bind(k.as_str());
            }
            q.push(" AND outcome = 'ok' AND at >= ").push_bind(since).push(" AND action IN (");
            let mut sep = q.separated(", ");
            for a in actions {
                sep.push_bind(*a);
            }
            q.push(")");
            let n: (i64,) = q.build_query_as().fetch_one(pool).await?;
            Ok(n.0)
        })
    }

    /// Reads entries, newest first.
    pub async fn list_log(&self, q: &LogQuery<'_>) -> Result<Vec<LogEntry>, StoreError> {
        on_db!(self, pool => {
            let mut b = sqlx::QueryBuilder::new(
                "SELECT id, at, app, resource_type, source_id, target_id, action, outcome, attempt, http_status, code, \
                 message, duration_ms, exchanges FROM provisioning_log WHERE 1 = 1",
            );
            if let Some(app) = q.app {
                b.push(" AND app = ").push_bind(app);
            }
            if let Some(id) = q.source_id {
                b.push(" AND source_id = ").push_bind(id);
            }
            if let Some(code) = q.code {
                b.push(" AND code = ").push_bind(code);
            }
            if q.failures_only {
                b.push(" AND outcome = 'failed'");
            }
            if let Some(since) = q.since {
                b.push(" AND at >= ").push_bind(to_micros(since));
            }
            b.push(" ORDER BY id DESC LIMIT ").push_bind(q.limit.max(1));
            let rows: Vec<LogRow> = b.build_query_as().fetch_all(pool).await?;
            rows.into_iter()
                .map(|r| {
                    Ok(LogEntry {
                        id: r.0,
                        at: from_micros(r.1)?,
                        app: r.2,
                        kind: ResourceKind::from_name(&r.3)
                            .ok_or_else(|| StoreError::Corrupt(format!("log resource type '{}'", r.3)))?,
                        source_id: r.4,
                        target_id: r.5,
                        action: r.6,
                        outcome: Outcome::parse(&r.7)?,
                        attempt: r.8,
                        http_status: r.9,
                        code: r.10,
                        message: r.11,
                        duration_ms: r.12,
                        exchanges: r.13,
                    })
                })
                .collect()
        })
    }

    /// Deletes entries older than `before` (retention), ten thousand at a time so other writers are never held
    /// up for long. Returns how many went.
    pub async fn prune_log(&self, before: OffsetDateTime) -> Result<u64, StoreError> {
        let mut total = 0;
        loop {
            let _writer = self.writer().await;
            let n = on_db!(self, pool => {
                sqlx::query(
                    "DELETE FROM provisioning_log WHERE id IN \
                     (SELECT id FROM provisioning_log WHERE at < $1 ORDER BY id LIMIT 10000)",
                )
                .bind(to_micros(before)).execute(pool).await?.rows_affected()
            });
            total += n;
            if n < 10_000 {
                return Ok(total);
            }
        }
    }
}
