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
//! | `POST /apps` | admin | `{"name", "settings", "secret"}` → the app added, checked as `roster app add` checks it (201; taken name 409); audited |
//! | `GET /apps/{name}` | admin | `{"name", "version", "settings"}`: the settings as stored (never the credential; the URL redacted) |
//! | `PUT /apps/{name}` | admin | `{"settings", "secret"?, "version"?}` → the new version, the schema check, failed objects due again, a quarantine lifted (a stale version 409); audited |
//! | `DELETE /apps/{name}` | admin | the app removed with its queue and links (204); audited |
//! | `GET /apps/{name}/test` | admin | what `roster app test` checks: `{"passed", "url", "checks": [{"result": ok/note/fail, "code", "text", …}]}`; changes nothing |
//! | `POST /apps/{name}/sync` | admin | `{"full"?, "dryRun"?}` → what `roster sync` does: `{"summary", "objects"}` (planned or failed objects, the first 1,000); a quarantined app 409 `R-APP-QUARANTINED`; audited unless a dry run |
//! | `POST /apps/{name}/provision` | admin | `{"user"}` → what `roster provision` does: the action, outcome, code with cause and fix, steps; audited |
//! | `GET /apps/{name}/preview?user=U` | admin | what `roster app preview` shows: the create body (secrets redacted), the plan, mapping problems; sends nothing |
//! | `POST /apps/{name}/retry` | admin | `{"code": …, "object": …}` (both optional) → failed objects due now: `{"due": N}`; audited |
//! | `GET /clients` | admin | each client (API token): inbound quarantine state, until when, why, the window's counts |
//! | `POST /clients/{name}/release` | admin | ends the client's refusal and probation → the client as it was; audited |
//!
//! The apps' endpoints are in `api/apps.rs`. Errors are SCIM error bodies, like the rest of the server (an admin
//! operation's failure: 404, 400, 409 or 500, the message ending with its roster code). The provisioning log is readable by admin tokens
//! only: it names target accounts, which an identity provider's token has no business reading.

pub(crate) mod apps;

use crate::AppState;
use crate::error::ApiError;
use crate::response::json_response;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use roster_codes as codes;
use roster_scim::{ErrorKind, ScimError};
use roster_store::{Scope, TokenInfo};
use serde_json::{Value, json};
use std::collections::HashMap;

pub(crate) fn ok(body: &Value) -> Response {
    json_response(StatusCode::OK, body)
}

/// The language of codes' titles, causes and fixes: `?lang=en|ja`, else the request's `Accept-Language`.
pub(crate) fn lang(headers: &HeaderMap, params: &HashMap<String, String>) -> codes::Lang {
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

/// The admin operations in the name of the request's token (`token:NAME` in the audit log), which must be an admin
/// token: an extractor, so no admin endpoint can forget the check.
pub(crate) struct Caller(pub roster_admin::Admin);

impl axum::extract::FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &AppState,
    ) -> Result<Self, ApiError> {
        let Some(token) = parts.extensions.get::<TokenInfo>() else {
            // The token layer runs before every operations API route; without it no one is let in.
            return Err(ScimError::new(ErrorKind::Unauthorized, "a bearer token is required").into());
        };
        if token.scope != Scope::Admin {
            return Err(ScimError::new(
                ErrorKind::Forbidden,
                format!(
                    "the token '{}' cannot read or change apps, clients and the provisioning log; use a token \
                     created with --scope admin",
                    token.name
                ),
            )
            .into());
        }
        Ok(Self(roster_admin::Admin::new(
            state.store.clone(),
            format!("token:{}", token.name),
        )))
    }
}

pub(crate) fn now_micros() -> i64 {
    roster_store::to_micros(time::OffsetDateTime::now_utc())
}

pub(crate) fn time_json(micros: i64) -> Value {
    roster_store::from_micros(micros)
        .map(|t| Value::String(roster_scim::value::format_datetime(t)))
        .unwrap_or(Value::Null)
}

/// `GET /clients`: what `roster client list --format json` gives, as one array.
pub(crate) async fn clients(Caller(admin): Caller) -> Result<Response, ApiError> {
    let now = now_micros();
    let all = admin.clients().await?;
    Ok(ok(&Value::Array(all.iter().map(|c| c.to_json(now)).collect())))
}

/// `POST /clients/{name}/release`: what `roster client release` does; the audit log names the token.
pub(crate) async fn client_release(
    Caller(admin): Caller,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let now = now_micros();
    let before = admin.release_client(&name).await?;
    Ok(ok(
        &json!({"name": name, "was": before.state(now).as_str(), "state": "normal"}),
    ))
}
