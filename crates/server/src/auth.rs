//! Bearer-token authentication for `/scim/v2` and `/api/v1`: every request needs a valid token (401 with
//! `WWW-Authenticate: Bearer` otherwise); read-scoped tokens may only read (GET, POST `.search` and `explain`),
//! else 403. The token's facts ([`roster_store::TokenInfo`]) go to the handler as a request extension.
//! A client (token) that [`crate::quarantine`] refuses gets 429 with `Retry-After` until the refusal ends.

use crate::AppState;
use crate::error::ApiError;
use axum::extract::{Request, State};
use axum::http::{Method, header};
use axum::middleware::Next;
use axum::response::Response;
use roster_scim::{ErrorKind, ScimError};
use roster_store::Scope;

/// The authentication middleware.
pub async fn require_token(
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim().to_owned());
    let Some(token) = presented else {
        return Err(ScimError::new(ErrorKind::Unauthorized, "send a roster API token as 'Authorization: Bearer <token>'; create one with 'roster token create'").into());
    };
    let Some(info) = state.store.verify_token(&token).await? else {
        return Err(ScimError::new(
            ErrorKind::Unauthorized,
            "the bearer token is not valid (unknown or revoked)",
        )
        .into());
    };
    let path = req.uri().path();
    let is_read = req.method() == Method::GET
        || req.method() == Method::HEAD
        || (req.method() == Method::POST && (path.ends_with("/.search") || path.ends_with("/explain")));
    if info.scope == Scope::Read && !is_read {
        return Ok(crate::edge::Client(info.name.clone()).with(ScimError::new(
            ErrorKind::Forbidden,
            format!(
                "the token '{}' is read-only; use a token created with --scope write",
                info.name
            ),
        )));
    }
    let request = if is_read {
        crate::quarantine::Request::Read
    } else if req.method() == Method::DELETE {
        crate::quarantine::Request::Delete
    } else {
        crate::quarantine::Request::Write
    };
    if let Some(refusal) = state.quarantine.check(&info.name).await {
        let mut resp = crate::error::scim_error_response(&ScimError::new(
            ErrorKind::TooManyRequests,
            format!(
                "R-CLIENT-SLOWED: this client's requests kept failing ({}); every call is refused until {} \
                 (in {} s), then accepted on probation. Fix what those errors name in the client; an admin can \
                 end this with roster client release {}",
                refusal.reason, refusal.until, refusal.secs, info.name
            ),
        ));
        if let Ok(v) = header::HeaderValue::from_str(&refusal.secs.to_string()) {
            resp.headers_mut().insert(header::RETRY_AFTER, v);
        }
        resp.extensions_mut()
            .insert(crate::edge::Client(info.name.clone()));
        return Ok(resp);
    }
    let mut req = req;
    req.extensions_mut().insert(info.clone());
    let mut resp = next.run(req).await;
    resp.extensions_mut()
        .insert(crate::edge::Client(info.name.clone()));
    let status = resp.status().as_u16();
    // A client error's detail is what a refused client is told about.
    let detail = resp
        .extensions()
        .get::<crate::error::ErrorDetail>()
        .map(|d| d.0.clone());
    state
        .quarantine
        .record(&info.name, status, request, || detail.unwrap_or_default())
        .await;
    Ok(resp)
}
