//! Request bodies: at most `max_body_bytes` (413 otherwise), `application/scim+json` or `application/json`
//! (or no media type), and well-formed JSON (`invalidSyntax` with serde's position otherwise). serde_json's
//! recursion limit bounds nesting depth.

use crate::AppState;
use crate::error::ApiError;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::header;
use roster_scim::{ErrorKind, ScimError};
use serde_json::Value;

/// A JSON request body.
#[derive(Debug)]
pub struct ScimBody(pub Value);

impl FromRequest<AppState> for ScimBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        if let Some(ct) = req.headers().get(header::CONTENT_TYPE) {
            let ct = ct
                .to_str()
                .unwrap_or_default()
                .split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase();
            if ct != "application/scim+json" && ct != "application/json" {
                return Err(ScimError::invalid_syntax(format!(
                    "the body must be application/scim+json or application/json, not '{ct}'"
                ))
                .into());
            }
        }
        let limit = state.config.max_body_bytes;
        let bytes = axum::body::to_bytes(req.into_body(), limit).await.map_err(|_| {
            ScimError::new(
                ErrorKind::PayloadTooLarge,
                format!("the request body is larger than {limit} bytes"),
            )
        })?;
        parse(&bytes).map(ScimBody)
    }
}

fn parse(bytes: &Bytes) -> Result<Value, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ScimError::invalid_syntax("the request body is empty; send a JSON object").into());
    }
    serde_json::from_slice(bytes)
        .map_err(|e| ScimError::invalid_syntax(format!("the request body is not valid JSON: {e}")).into())
}
