//! Bearer-token authentication for `/scim/v2` and `/api/v1`: every request needs a valid token (401 with
//! `WWW-Authenticate: Bearer` otherwise); read-scoped tokens may only read (GET, POST `.search` and `explain`),
//! else 403. The token's facts ([`roster_store::TokenInfo`]) go to the handler as a request extension.
//! A client (token) that [`crate::quarantine`] refuses gets 429 with `Retry-After` until the refusal ends.
//!
//! The edge middleware calls [`admit`] before routing a request under a guarded prefix ([`guarded`]) and [`settle`]
//! with the answer, so an unknown endpoint under `/scim/v2` is not told apart from a known one without a token.

use crate::AppState;
use crate::error::ErrorDetail;
use axum::extract::Request;
use axum::http::{Method, header};
use axum::response::Response;
use roster_scim::{ErrorKind, ScimError};
use roster_store::Scope;

/// Whether a path needs a token: `/scim/v2` and `/api/v1` and everything under them.
pub fn guarded(path: &str) -> bool {
    ["/scim/v2", "/api/v1"].iter().any(|prefix| {
        path.strip_prefix(prefix)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    })
}

/// A request whose token was accepted: who made it and what kind of request it is (for the quarantine).
#[derive(Debug)]
pub struct Admitted {
    /// The token's name.
    pub client: String,
    request: crate::quarantine::Request,
}

/// A request refused before routing: the answer, and the token's name when the token itself was valid.
#[derive(Debug)]
pub struct Refused {
    /// The error response.
    pub response: Response,
    /// The token's name, for the access log, when one was accepted.
    pub client: Option<String>,
}

/// Checks the request's bearer token, its scope and the client's quarantine; on success the token's facts are
/// put on the request for the handlers.
pub async fn admit(state: &AppState, req: &mut Request) -> Result<Admitted, Refused> {
    let refuse = |e: ScimError| Refused {
        response: crate::error::scim_error_response(&e),
        client: None,
    };
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim().to_owned());
    let Some(token) = presented else {
        return Err(refuse(ScimError::new(
            ErrorKind::Unauthorized,
            "send a roster API token as 'Authorization: Bearer <token>'; create one with 'roster token create'",
        )));
    };
    let info = match state.store.verify_token(&token).await {
        Ok(Some(info)) => info,
        Ok(None) => {
            return Err(refuse(ScimError::new(
                ErrorKind::Unauthorized,
                "the bearer token is not valid (unknown or revoked)",
            )));
        }
        Err(e) => {
            return Err(Refused {
                response: axum::response::IntoResponse::into_response(crate::error::ApiError::from(e)),
                client: None,
            });
        }
    };
    let path = req.uri().path();
    let method = req.method();
    let is_read = method == Method::GET
        || method == Method::HEAD
        || (method == Method::POST && (path.ends_with("/.search") || path.ends_with("/explain")));
    if info.scope == Scope::Read && !is_read {
        return Err(Refused {
            response: crate::error::scim_error_response(&ScimError::new(
                ErrorKind::Forbidden,
                format!(
                    "the token '{}' is read-only; use a token created with --scope write",
                    info.name
                ),
            )),
            client: Some(info.name),
        });
    }
    let request = if is_read {
        crate::quarantine::Request::Read
    } else if method == Method::DELETE {
        crate::quarantine::Request::Delete
    } else {
        crate::quarantine::Request::Write
    };
    if let Some(refusal) = state.quarantine.check(&info.name).await {
        let mut response = crate::error::scim_error_response(&ScimError::new(
            ErrorKind::TooManyRequests,
            format!(
                "R-CLIENT-SLOWED: this client's requests kept failing ({}); every call is refused until {} \
                 (in {} s), then accepted on probation. Fix what those errors name in the client; an admin can \
                 end this with roster client release {}",
                refusal.reason, refusal.until, refusal.secs, info.name
            ),
        ));
        if let Ok(v) = header::HeaderValue::from_str(&refusal.secs.to_string()) {
            response.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return Err(Refused {
            response,
            client: Some(info.name),
        });
    }
    let client = info.name.clone();
    req.extensions_mut().insert(info);
    Ok(Admitted { client, request })
}

/// Records an admitted request's answer with the quarantine, which counts a client's failures.
/// What it needs of the response is read at once (a response is not `Sync`, so no future may hold it).
pub fn settle<'a>(
    state: &'a AppState,
    admitted: &'a Admitted,
    resp: &Response,
) -> impl Future<Output = ()> + Send + 'a {
    let status = resp.status().as_u16();
    // A client error's detail is what a refused client is told about.
    let detail = resp.extensions().get::<ErrorDetail>().map(|d| d.0.clone());
    state
        .quarantine
        .record(&admitted.client, status, admitted.request, || {
            detail.unwrap_or_default()
        })
}

#[cfg(test)]
mod tests {
    use super::guarded;

    #[test]
    fn the_scim_and_api_prefixes_are_guarded_and_nothing_beside_them() {
        for p in [
            "/scim/v2",
            "/scim/v2/",
            "/scim/v2/Users/x",
            "/api/v1",
            "/api/v1/apps",
        ] {
            assert!(guarded(p), "{p}");
        }
        for p in [
            "/healthz",
            "/",
            "/scim/v2x",
            "/api/v10/apps",
            "/scim",
            "/other/scim/v2",
        ] {
            assert!(!guarded(p), "{p}");
        }
    }
}
