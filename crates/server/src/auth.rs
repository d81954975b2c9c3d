//! Bearer-token authentication for `/scim/v2`: every request needs a valid token (401 with
//! `WWW-Authenticate: Bearer` otherwise); read-scoped tokens may only read (GET and POST `.search`), else 403.

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
    let is_read = req.method() == Method::GET
        || req.method() == Method::HEAD
        || (req.method() == Method::POST && req.uri().path().ends_with("/.search"));
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
    Ok(next.run(req).await)
}
