//! An app's state as an admin needs to see it: the worst of its conditions (quarantined, paused by the app,
//! scope broken, credential refused, objects waiting for a person, deprovisions held, objects failing), each with
//! its code, count, time and what to do. Read from what the engine keeps in the database, so every process and
//! every reader (`roster app list|show`, `GET /api/v1/apps`) sees the same.

use crate::{Store, StoreError};

/// What an app's state can be, worst first: the state an app shows is the worst of its conditions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum StateKind {
    /// Nothing is sent: too many requests failed, or the credentials were refused again and again.
    Quarantined,
    /// The app asked roster to wait (`Retry-After`).
    Paused,
    /// A scope group is gone from the directory: nobody is deprovisioned until the scope is fixed.
    ScopeBroken,
    /// The app refuses roster's credentials.
    CredentialRefused,
    /// Objects failed for a cause a person must fix; they wait six hours or a fix.
    NeedsPerson,
    /// Deprovisions wait for `roster approve`.
    DeprovisionsHeld,
    /// Objects failed for a passing cause and are retried.
    Failing,
    /// Nothing wrong.
    Healthy,
}

impl StateKind {
    /// The name scripts and the API see.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Quarantined => "quarantined",
            Self::Paused => "paused",
            Self::ScopeBroken => "scope-broken",
            Self::CredentialRefused => "credential-refused",
            Self::NeedsPerson => "needs-person",
            Self::DeprovisionsHeld => "deprovisions-held",
            Self::Failing => "failing",
            Self::Healthy => "healthy",
        }
    }
}

/// One thing wrong with an app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    /// What kind.
    pub kind: StateKind,
    /// The roster code, where one names it.
    pub code: Option<&'static roster_codes::Code>,
    /// Objects concerned (0 for the app as a whole).
    pub count: i64,
    /// Until when (microseconds since the epoch): the end of a quarantine or pause, the next attempt.
    pub until: Option<i64>,
    /// In words, with what to do.
    pub detail: String,
}

/// An app's state: the worst of its conditions (`Healthy` when it has none), and every condition, worst first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppState {
    /// The worst condition's kind.
    pub kind: StateKind,
    /// Every condition, worst first.
    pub conditions: Vec<Condition>,
}

/// Reads an app's state from the store: its quarantine and `Retry-After`, its scope groups, its queued failures
/// by code and its held deprovisions. `roster app list|show` and `GET /api/v1/apps` show it.
pub async fn app_state(
    store: &Store,
    app: &str,
    scope_groups: &[String],
    now: i64,
) -> Result<AppState, StoreError> {
    let mut conditions = Vec::new();
    let h = store.app_health(app).await?;
    if h.quarantined(now) {
        conditions.push(Condition {
            kind: StateKind::Quarantined,
            code: h.code.as_deref().and_then(roster_codes::find),
            count: 0,
            until: h.quarantined_until,
            detail: format!(
                "{}; roster tries it again then, or now with: roster app release {app}",
                h.reason.as_deref().unwrap_or("quarantined")
            ),
        });
    }
    if h.not_before > now {
        conditions.push(Condition {
            kind: StateKind::Paused,
            code: Some(&roster_codes::TARGET_RATE_LIMITED),
            count: 0,
            until: Some(h.not_before),
            detail: "the app asked roster to wait (Retry-After); nothing is sent before then".into(),
        });
    }
    for g in scope_groups {
        if matches!(store.resolve_group(g).await, Ok(None)) {
            conditions.push(Condition {
                kind: StateKind::ScopeBroken,
                code: Some(&roster_codes::SCOPE_GROUP_MISSING),
                count: 0,
                until: None,
                detail: format!(
                    "the scope group {g} is not in the directory; nobody is deprovisioned until the scope is \
                     fixed: roster app edit {app} --scope-group GROUP"
                ),
            });
        }
    }
    for (code, count, next) in store.failures_by_code(app).await? {
        let found = roster_codes::find(&code);
        let kind = match found {
            Some(c) if c.category == roster_codes::Category::Authentication => StateKind::CredentialRefused,
            Some(c) if !c.retryable => StateKind::NeedsPerson,
            _ => StateKind::Failing,
        };
        let detail = match (kind, found) {
            (StateKind::Failing, _) => format!("{count} object(s) failed ({code}) and are retried"),
            (_, Some(c)) => format!(
                "{count} object(s) wait ({code}: {}); fix: {} Then: roster retry {app} --code {code}",
                c.title, c.fix
            ),
            (_, None) => format!("{count} object(s) wait ({code})"),
        };
        conditions.push(Condition {
            kind,
            code: found,
            count,
            until: Some(next),
            detail,
        });
    }
    let (_, held) = store.count_held(app).await?;
    if held > 0 {
        conditions.push(Condition {
            kind: StateKind::DeprovisionsHeld,
            code: Some(&roster_codes::GUARD_DEPROVISIONS),
            count: held,
            until: None,
            detail: format!(
                "{held} deprovision(s) held by the guard: roster approve {app} runs them, --discard drops them"
            ),
        });
    }
    conditions.sort_by_key(|c| c.kind);
    Ok(AppState {
        kind: conditions.first().map_or(StateKind::Healthy, |c| c.kind),
        conditions,
    })
}

/// An app's state as JSON (the CLI's `--format json` and `GET /api/v1/apps`): `{"state": …, "conditions":
/// [{"state", "code", "count", "until", "detail"}]}`, times in RFC 3339.
pub fn state_json(state: &AppState) -> serde_json::Value {
    let time = |t: i64| {
        crate::from_micros(t)
            .ok()
            .map(roster_scim::value::format_datetime)
    };
    serde_json::json!({
        "state": state.kind.as_str(),
        "conditions": state.conditions.iter().map(|c| serde_json::json!({
            "state": c.kind.as_str(),
            "code": c.code.map(|c| c.code),
            "count": c.count,
            "until": c.until.and_then(time),
            "detail": c.detail,
        })).collect::<Vec<_>>(),
    })
}
