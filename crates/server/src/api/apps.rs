//! The operations API's apps: their state, settings (read, add, edit, remove), test, sync, one user provisioned or
//! previewed, retry and the provisioning log. Every endpoint needs an admin token and is a thin shell over
//! `roster-admin`; changes are audited in the token's name.

use super::{Caller, lang, now_micros, ok, time_json};
use crate::AppState;
use crate::error::ApiError;
use crate::response::json_response;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use roster_admin::apps::{SchemaCheck, audited, settings_from_json, shown};
use roster_admin::sync::{SyncEvent, SyncRequest};
use roster_scim::{ErrorKind, ScimError};
use roster_store::{ResourceKind, Secret};
use serde_json::{Map, Value, json};
use std::collections::HashMap;

/// The most planned or failed objects `POST /apps/{name}/sync` lists (the summary counts them all).
const SYNC_OBJECTS_LISTED: usize = 1000;

/// A request body that is one JSON object whose fields are among `allowed` (an empty body is an empty object).
fn object_body(body: &[u8], allowed: &[&str]) -> Result<Map<String, Value>, ApiError> {
    let request: Value = if body.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else {
        serde_json::from_slice(body)
            .map_err(|e| ScimError::new(ErrorKind::InvalidSyntax, format!("the body is not JSON: {e}")))?
    };
    let Value::Object(fields) = request else {
        return Err(ScimError::new(ErrorKind::InvalidSyntax, "the body is a JSON object").into());
    };
    if let Some(k) = fields.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(ScimError::new(
            ErrorKind::InvalidValue,
            format!("unknown field '{k}'; use {}", allowed.join(", ")),
        )
        .into());
    }
    Ok(fields)
}

/// An optional string field.
fn text(fields: &Map<String, Value>, key: &str) -> Result<Option<String>, ApiError> {
    match fields.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(ScimError::new(ErrorKind::InvalidValue, format!("'{key}' is a string")).into()),
    }
}

/// An optional boolean field (absent: false).
fn flag(fields: &Map<String, Value>, key: &str) -> Result<bool, ApiError> {
    match fields.get(key) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(ScimError::new(ErrorKind::InvalidValue, format!("'{key}' is true or false")).into()),
    }
}

/// A required field.
fn required<'a>(fields: &'a Map<String, Value>, key: &str) -> Result<&'a Value, ApiError> {
    fields
        .get(key)
        .filter(|v| !v.is_null())
        .ok_or_else(|| ScimError::new(ErrorKind::InvalidValue, format!("'{key}' is required")).into())
}

fn schema_json(check: &SchemaCheck) -> Value {
    match check {
        SchemaCheck::Checked => json!({"result": "checked"}),
        SchemaCheck::NotAsked => json!({"result": "notAsked"}),
        SchemaCheck::Unreachable { code, message } => {
            json!({"result": "unreachable", "code": code.code, "message": message})
        }
        SchemaCheck::TimedOut => json!({"result": "timedOut"}),
    }
}

/// `GET /apps/{name}`: the app's settings (credentials never; the URL's redacted) and the version an edit names.
pub(crate) async fn app_show(Caller(admin): Caller, Path(name): Path<String>) -> Result<Response, ApiError> {
    let record = admin.app(&name).await?;
    Ok(ok(&shown(&record)?))
}

/// `POST /apps`: `{"name", "settings", "secret"}` → the app added (201), checked as `roster app add` checks it.
pub(crate) async fn app_add(Caller(admin): Caller, body: axum::body::Bytes) -> Result<Response, ApiError> {
    let fields = object_body(&body, &["name", "settings", "secret"])?;
    let name = text(&fields, "name")?
        .ok_or_else(|| ScimError::new(ErrorKind::InvalidValue, "'name' is required"))?;
    let cfg = settings_from_json(required(&fields, "settings")?.clone())?;
    let secret = text(&fields, "secret")?.map(Secret::new);
    let added = admin.add_app(&name, cfg, secret).await?;
    let mut resp = json_response(
        StatusCode::CREATED,
        &json!({"name": name, "version": 1, "settings": audited(&added.config)?,
                "schema": schema_json(&added.schema)}),
    );
    if let Ok(location) = header::HeaderValue::from_str(&format!("/api/v1/apps/{name}")) {
        resp.headers_mut().insert(header::LOCATION, location);
    }
    Ok(resp)
}

/// `PUT /apps/{name}`: `{"settings", "secret", "version"}` (secret and version optional: without a secret the
/// stored one stays; with a version a change made since is refused, 409) → the new version and what the edit
/// set off (failed objects due again, a quarantine lifted).
pub(crate) async fn app_edit(
    Caller(admin): Caller,
    Path(name): Path<String>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let fields = object_body(&body, &["settings", "secret", "version"])?;
    let cfg = settings_from_json(required(&fields, "settings")?.clone())?;
    let secret = text(&fields, "secret")?.map(Secret::new);
    let version = match fields.get("version") {
        None | Some(Value::Null) => None,
        Some(v) => Some(v.as_i64().ok_or_else(|| {
            ScimError::new(
                ErrorKind::InvalidValue,
                "'version' is the number GET /apps/{name} gives",
            )
        })?),
    };
    let edited = admin.edit_app(&name, cfg, secret, version).await?;
    Ok(ok(
        &json!({"name": name, "version": edited.version, "schema": schema_json(&edited.schema),
                  "due": edited.due, "released": edited.released}),
    ))
}

/// `DELETE /apps/{name}`: the app removed with its queue and links (204); the accounts at the app stay.
pub(crate) async fn app_remove(
    Caller(admin): Caller,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    admin.remove_app(&name).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST /apps/{name}/sync`: `{"full", "dryRun"}` (both optional) → what `roster sync` does, as its summary and
/// the planned (dry run) or failed objects, the first [`SYNC_OBJECTS_LISTED`]. A quarantined app is refused (409,
/// `R-APP-QUARANTINED`). The request's time limit bounds it: a full sync of a large directory belongs to
/// `roster sync --full` or the schedule.
pub(crate) async fn app_sync(
    Caller(admin): Caller,
    Path(name): Path<String>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let fields = object_body(&body, &["full", "dryRun"])?;
    let request = SyncRequest {
        full: flag(&fields, "full")?,
        dry_run: flag(&fields, "dryRun")?,
    };
    let mut objects = Vec::new();
    let summary = admin
        .sync(&name, request, |e| {
            if let SyncEvent::Object { id, result: r } = e
                && objects.len() < SYNC_OBJECTS_LISTED
            {
                objects.push(
                    json!({"object": id, "action": r.action.name(), "detail": r.action.to_string(),
                    "outcome": r.outcome.as_str(), "code": r.code.map(|c| c.code), "message": r.message}),
                );
            }
        })
        .await?;
    Ok(ok(&json!({"summary": summary.to_json(), "objects": objects})))
}

/// `POST /apps/{name}/provision`: `{"user"}` (a userName or id) → what `roster provision` does: the user
/// synced now, with its steps, and a failure's cause and fix in the request's language.
pub(crate) async fn app_provision(
    Caller(admin): Caller,
    headers: HeaderMap,
    Path(name): Path<String>,
    Query(params): Query<HashMap<String, String>>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let fields = object_body(&body, &["user"])?;
    let user = text(&fields, "user")?
        .ok_or_else(|| ScimError::new(ErrorKind::InvalidValue, "'user' is required (a userName or id)"))?;
    let done = admin.provision(&name, &user).await?;
    Ok(ok(&done.to_json(&user, lang(&headers, &params))))
}

/// `GET /apps/{name}/preview?user=U`: what `roster app preview` shows: the body a create would send (secrets
/// `[redacted]`), what a sync would do now, and what is wrong with the mapping. Sends nothing.
pub(crate) async fn app_preview(
    Caller(admin): Caller,
    Path(name): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let user = params
        .get("user")
        .filter(|u| !u.is_empty())
        .ok_or_else(|| ScimError::new(ErrorKind::InvalidValue, "?user= is required (a userName or id)"))?;
    let p = admin.preview(&name, user).await?;
    Ok(ok(&json!({
        "user": user, "body": p.body,
        "plan": {"action": p.plan.name(), "detail": p.plan.to_string()},
        "problems": p.problems,
    })))
}

pub(crate) async fn apps(Caller(admin): Caller) -> Result<Response, ApiError> {
    let store = admin.store();
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
    Caller(admin): Caller,
    Path(name): Path<String>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let fields = object_body(&body, &["code", "object"])?;
    let (code, object) = (text(&fields, "code")?, text(&fields, "object")?);
    let retried = admin.retry(&name, code.as_deref(), object.as_deref()).await?;
    let due = retried.due;
    Ok(ok(&json!({"due": due})))
}

/// `GET /apps/{name}/test`: what `roster app test` checks, as one object; the codes' words in the request's
/// language. Changes nothing.
pub(crate) async fn app_test(
    Caller(admin): Caller,
    headers: HeaderMap,
    Path(name): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    use roster_admin::checks::Check;
    let lang = lang(&headers, &params);
    let report = admin.test_app(&name).await?;
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

pub(crate) async fn app_log(
    State(state): State<AppState>,
    Caller(admin): Caller,
    Path(name): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
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
    let entries = admin.log(&name, &filter).await?;
    Ok(ok(&json!({
        "app": name,
        "entries": entries.iter().map(roster_store::LogEntry::to_json).collect::<Vec<_>>(),
    })))
}
