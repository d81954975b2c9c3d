//! The operations API under `/api/v1`, for consoles, scripts and monitoring.
//!
//! | endpoint | token | answers |
//! |---|---|---|
//! | `GET /codes` | any | every roster error code (code, title, category, retryable, cause, fix) |
//! | `GET /codes/{code}` | any | one code; 404 if roster has no such code |
//! | `POST /explain` | any | `{"text": …}` (or a plain-text body) → what `roster explain` says |
//!
//! The codes' words (title, category, cause, fix, and what another system's message means) come in English or
//! Japanese: `?lang=ja`, or an `Accept-Language` that prefers Japanese.
//!
//! | endpoint | token | answers |
//! |---|---|---|
//! | `GET /apps` | admin | each app's state (worst condition and every condition), health, pending and held work, accounts |
//! | `GET /apps/{name}/log` | admin | the app's provisioning log: `failures`, `object` (a userName, a group's displayName or an id), `code`, `since`, `limit` |
//! | `GET /apps/{name}/test` | admin | what `roster app test` checks: `{"passed", "url", "checks": [{"result": ok/note/fail, "code", "text", …}]}`; changes nothing |
//! | `POST /apps/{name}/retry` | admin | `{"code": …, "object": …}` (both optional) → failed objects due now: `{"due": N}`; audited |
//! | `GET /clients` | admin | each client (API token): inbound quarantine state, until when, why, the window's counts |
//! | `POST /clients/{name}/release` | admin | ends the client's refusal and probation → the client as it was; audited |
//!
//! Errors are SCIM error bodies, like the rest of the server. The provisioning log is readable by admin tokens
//! only: it names target accounts, which an identity provider's token has no business reading.

use crate::AppState;
use crate::error::ApiError;
use crate::response::json_response;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use roster_codes as codes;
use roster_scim::{ErrorKind, ScimError};
use roster_store::{ResourceKind, Scope, TokenInfo};
use serde_json::{Value, json};
use std::collections::HashMap;

fn ok(body: &Value) -> Response {
    json_response(StatusCode::OK, body)
}

/// The language of codes' titles, causes and fixes: `?lang=en|ja`, else the request's `Accept-Language`.
fn lang(headers: &HeaderMap, params: &HashMap<String, String>) -> codes::Lang {
    params
        .get("lang")
        .and_then(|l| codes::Lang::parse(l))
        .unwrap_or_else(|| {
            codes::Lang::from_accept_language(
                headers
                    .get(header::ACCEPT_LANGUAGE)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default(),
            )
        })
}

pub(crate) async fn list_codes(
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let lang = lang(&headers, &params);
    ok(&Value::Array(
        codes::ALL.iter().map(|c| c.to_json_in(lang)).collect(),
    ))
}

pub(crate) async fn one_code(
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
    Path(code): Path<String>,
) -> Result<Response, ApiError> {
    let c = codes::find(&code).ok_or_else(|| {
        ScimError::new(
            ErrorKind::NotFound,
            format!("roster has no error code '{code}'; GET /api/v1/codes lists them"),
        )
    })?;
    Ok(ok(&c.to_json_in(lang(&headers, &params))))
}

pub(crate) async fn explain(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
    body: axum::body::Body,
) -> Result<Response, ApiError> {
    let max = state.config.max_explain_bytes;
    let body = axum::body::to_bytes(body, max).await.map_err(|_| {
        ScimError::new(
            ErrorKind::PayloadTooLarge,
            format!("the text to explain is longer than {max} bytes; paste the error message alone"),
        )
    })?;
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("json"));
    let text = if is_json {
        let v: Value = serde_json::from_slice(&body).map_err(|e| {
            ScimError::new(
                ErrorKind::InvalidSyntax,
                format!("the body is not valid JSON: {e}"),
            )
        })?;
        v.get("text")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| {
                ScimError::new(
                    ErrorKind::InvalidValue,
                    "send {\"text\": \"the error text\"} (or the text alone as text/plain)",
                )
            })?
    } else {
        String::from_utf8(body.to_vec())
            .map_err(|_| ScimError::new(ErrorKind::InvalidSyntax, "the text is not UTF-8"))?
    };
    if text.trim().is_empty() {
        return Err(ScimError::new(ErrorKind::InvalidValue, "the text to explain is empty").into());
    }
    let found = codes::explain(&text);
    Ok(ok(&json!({
        "recognised": !found.is_empty(),
        "explanations": found.iter().map(|e| e.to_json_in(lang(&headers, &params))).collect::<Vec<_>>(),
    })))
}

/// The admin operations, in the name of the request's token (`token:NAME` in the audit log).
fn admin(state: &AppState, token: &TokenInfo) -> roster_admin::Admin {
    roster_admin::Admin::new(state.store.clone(), format!("token:{}", token.name))
}

fn require_admin(token: &TokenInfo) -> Result<(), ApiError> {
    if token.scope == Scope::Admin {
        return Ok(());
    }
    Err(ScimError::new(
        ErrorKind::Forbidden,
        format!(
            "the token '{}' cannot read apps and the provisioning log; use a token created with --scope admin",
            token.name
        ),
    )
    .into())
}

fn now_micros() -> i64 {
    roster_store::to_micros(time::OffsetDateTime::now_utc())
}

fn time_json(micros: i64) -> Value {
    roster_store::from_micros(micros)
        .map(|t| Value::String(roster_scim::value::format_datetime(t)))
        .unwrap_or(Value::Null)
}

pub(crate) async fn apps(
    State(state): State<AppState>,
    axum::Extension(token): axum::Extension<TokenInfo>,
) -> Result<Response, ApiError> {
    require_admin(&token)?;
    let store = &state.store;
    let now = now_micros();
    let mut out = Vec::new();
    for app in store.list_apps().await? {
        let h = store.app_health(&app.name).await?;
        let health = if h.quarantined(now) {
            json!({"state": "quarantined", "until": h.quarantined_until.map(time_json), "code": h.code,
                   "reason": h.reason, "times": h.level})
        } else if h.on_probation(now) {
            json!({"state": "probation", "code": h.code, "reason": h.reason})
        } else if h.not_before > now {
            json!({"state": "waiting", "until": time_json(h.not_before)})
        } else {
            json!({"state": "healthy"})
        };
        let (checking, awaiting) = store.count_held(&app.name).await?;
        let (active, disabled) = store.count_links(&app.name, ResourceKind::User).await?;
        out.push(json!({
            "name": app.name,
            "version": app.version,
            "enabled": app.config.get("enabled").and_then(Value::as_bool).unwrap_or(true),
            "health": health,
            "state": roster_store::state::state_json(
                &roster_store::state::app_state(store, &app.name, &app.scope_groups(), now).await?,
            ),
            "pending": store.count_pending(&app.name).await?,
            "held": {"checking": checking, "awaitingApproval": awaiting},
            "accounts": {"active": active, "disabled": disabled},
        }));
    }
    Ok(ok(&Value::Array(out)))
}

/// `POST /apps/{name}/retry`: what `roster retry` does; the audit log names the token.
pub(crate) async fn app_retry(
    State(state): State<AppState>,
    axum::Extension(token): axum::Extension<TokenInfo>,
    Path(name): Path<String>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    require_admin(&token)?;
    let request: Value = if body.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ScimError::new(ErrorKind::InvalidSyntax, format!("the body is not JSON: {e}")))?
    };
    let Some(fields) = request.as_object() else {
        return Err(ScimError::new(ErrorKind::InvalidSyntax, "the body is a JSON object").into());
    };
    let text = |key: &str| -> Result<Option<String>, ApiError> {
        match fields.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(ScimError::new(ErrorKind::InvalidValue, format!("'{key}' is a string")).into()),
        }
    };
    if let Some(k) = fields.keys().find(|k| !["code", "object"].contains(&k.as_str())) {
        return Err(ScimError::new(
            ErrorKind::InvalidValue,
            format!("unknown field '{k}'; use code and object"),
        )
        .into());
    }
    let (code, object) = (text("code")?, text("object")?);
    let retried = admin(&state, &token)
        .retry(&name, code.as_deref(), object.as_deref())
        .await?;
    let due = retried.due;
    Ok(ok(&json!({"due": due})))
}

/// `GET /apps/{name}/test`: what `roster app test` checks, as one object; the codes' words in the request's
/// language. Changes nothing.
pub(crate) async fn app_test(
    State(state): State<AppState>,
    axum::Extension(token): axum::Extension<TokenInfo>,
    headers: HeaderMap,
    Path(name): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    use roster_admin::checks::Check;
    require_admin(&token)?;
    let lang = lang(&headers, &params);
    let report = admin(&state, &token).test_app(&name).await?;
    let checks: Vec<Value> = report
        .checks
        .iter()
        .map(|c| match c {
            Check::Ok(text) => json!({"result": "ok", "text": text}),
            Check::Note(text) => json!({"result": "note", "text": text}),
            Check::Fail { code, text } => {
                json!({"result": "fail", "code": code.map(|c| c.code), "text": text})
            }
            Check::Target { code, happened } => {
                let t = code.texts(lang);
                json!({"result": "fail", "code": code.code, "text": t.title, "happened": happened,
                       "cause": t.cause, "fix": t.fix})
            }
        })
        .collect();
    Ok(ok(&json!({
        "app": name,
        "url": report.url,
        "passed": report.passed(),
        "checks": checks,
        "lang": lang.tag(),
    })))
}

/// `GET /clients`: what `roster client list --format json` gives, as one array.
pub(crate) async fn clients(
    State(state): State<AppState>,
    axum::Extension(token): axum::Extension<TokenInfo>,
) -> Result<Response, ApiError> {
    require_admin(&token)?;
    let now = now_micros();
    let all = admin(&state, &token).clients().await?;
    Ok(ok(&Value::Array(all.iter().map(|c| c.to_json(now)).collect())))
}

/// `POST /clients/{name}/release`: what `roster client release` does; the audit log names the token.
pub(crate) async fn client_release(
    State(state): State<AppState>,
    axum::Extension(token): axum::Extension<TokenInfo>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    require_admin(&token)?;
    let now = now_micros();
    let before = admin(&state, &token).release_client(&name).await?;
    Ok(ok(
        &json!({"name": name, "was": before.state(now).as_str(), "state": "normal"}),
    ))
}

pub(crate) async fn app_log(
    State(state): State<AppState>,
    axum::Extension(token): axum::Extension<TokenInfo>,
    Path(name): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    require_admin(&token)?;
    for key in params.keys() {
        if !["failures", "object", "code", "since", "limit"].contains(&key.as_str()) {
            return Err(ScimError::new(
                ErrorKind::InvalidValue,
                format!("unknown parameter '{key}'; use failures, object, code, since or limit"),
            )
            .into());
        }
    }
    let failures_only = match params.get("failures").map(String::as_str) {
        None | Some("false") => false,
        Some("true" | "") => true,
        Some(other) => {
            return Err(ScimError::new(
                ErrorKind::InvalidValue,
                format!("failures is true or false, not '{other}'"),
            )
            .into());
        }
    };
    let since = match params.get("since") {
        None => None,
        Some(s) => Some(roster_scim::value::parse_datetime(s).ok_or_else(|| {
            ScimError::new(
                ErrorKind::InvalidValue,
                format!("since is an RFC 3339 time such as 2026-11-20T08:00:00Z, not '{s}'"),
            )
        })?),
    };
    let limit = match params.get("limit") {
        None => 100,
        Some(s) => s
            .parse::<i64>()
            .ok()
            .filter(|n| (1..=state.config.max_log_entries).contains(n))
            .ok_or_else(|| {
                ScimError::new(
                    ErrorKind::InvalidValue,
                    format!(
                        "limit is a number from 1 to {}, not '{s}'",
                        state.config.max_log_entries
                    ),
                )
            })?,
    };
    let filter = roster_admin::LogFilter {
        failures_only,
        object: params.get("object").map(String::as_str),
        code: params.get("code").map(String::as_str),
        since,
        limit,
    };
    let entries = admin(&state, &token).log(&name, &filter).await?;
    Ok(ok(&json!({
        "app": name,
        "entries": entries.iter().map(roster_store::LogEntry::to_json).collect::<Vec<_>>(),
    })))
}
