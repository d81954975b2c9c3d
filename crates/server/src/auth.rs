//! Bearer-token authentication for `/scim/v2` and `/api/v1`: every request needs a valid token (401 with
//! `WWW-Authenticate: Bearer` otherwise); read-scoped tokens may only read (GET, POST `.search` and `explain`),
//! else 403. The token's facts ([`roster_store::TokenInfo`]) go to the handler as a request extension.
//! A client (token) that [`crate::slowdown`] slowed gets 429 with `Retry-After` until its pause ends.

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
        return Err(ScimError::new(
            ErrorKind::Forbidden,
            format!(
                "the token '{}' is read-only; use a token created with --scope write",
                info.name
            ),
        )
        .into());
    }
    if let Some((left, why)) = state.slowdown.check(&info.name) {
        let mut resp = crate::error::scim_error_response(&ScimError::new(
            ErrorKind::TooManyRequests,
            format!(
                "R-CLIENT-SLOWED: most of this client's recent requests failed ({why}); fix what those errors \
                 name, then retry after {left} s"
            ),
        ));
        if let Ok(v) = header::HeaderValue::from_str(&left.to_string()) {
            resp.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return Ok(resp);
    }
    let mut req = req;
    req.extensions_mut().insert(info.clone());
    let resp = next.run(req).await;
    let status = resp.status().as_u16();
    if !(400..500).contains(&status) {
        state.slowdown.record(&info.name, status, String::new);
        return Ok(resp);
    }
    // A client error: keep its detail for the message a slowed client gets.
    let (parts, body) = resp.into_parts();
    let bytes = axum::body::to_bytes(body, 64 * 1024).await.unwrap_or_default();
    state.slowdown.record(&info.name, status, || {
        serde_json::from_slice::<serde_json::Value>(&bytes)
            .ok()
            .and_then(|v| v.get("detail").and_then(|d| d.as_str()).map(str::to_owned))
            .unwrap_or_default()
    });
    Ok(Response::from_parts(parts, axum::body::Body::from(bytes)))
}
