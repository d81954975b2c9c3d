//! Every failure leaves as a SCIM error (RFC 7644 §3.12) with `Content-Type: application/scim+json`. Database
//! and internal errors are logged for the operator and answered with a plain 500 that carries no internal text.
//! Failures that no handler of ours answered (axum's routing and extractor rejections, limits) are rewritten by
//! [`scim_error_for`] in the edge middleware (module `edge`); failures hyper answers itself, before any
//! handler (a request line or header section too large, a malformed request), by the accept loop (`listen`).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use roster_scim::{ErrorKind, ScimError};
use roster_store::StoreError;

/// The SCIM media type.
pub const SCIM_JSON: &str = "application/scim+json";

/// A handler failure.
#[derive(Debug)]
pub struct ApiError(pub ScimError);

impl From<ScimError> for ApiError {
    fn from(e: ScimError) -> Self {
        Self(e)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Scim(e) => Self(e),
            other => {
                tracing::error!(error = %other, "store failure");
                Self(ScimError::new(
                    ErrorKind::Internal,
                    "roster could not complete the request; see the server log",
                ))
            }
        }
    }
}

impl From<roster_admin::AdminError> for ApiError {
    fn from(e: roster_admin::AdminError) -> Self {
        use roster_admin::Failure;
        let kind = match e.failure {
            Failure::NotFound => ErrorKind::NotFound,
            Failure::Invalid => ErrorKind::InvalidValue,
            Failure::Conflict => ErrorKind::Conflict,
            Failure::Store => {
                tracing::error!(error = %e.message, "store failure");
                return Self(ScimError::new(
                    ErrorKind::Internal,
                    "roster could not complete the request; see the server log",
                ));
            }
        };
        Self(ScimError::new(kind, format!("{} ({})", e.message, e.code.code)))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        scim_error_response(&self.0)
    }
}

/// The detail of an error response, as a response extension: what the quarantine records about a client's failed
/// request, without reading the body back.
#[derive(Debug, Clone)]
pub struct ErrorDetail(pub String);

/// The bytes of a SCIM error body. Serialising a struct of strings cannot fail; should it, the body is a fixed
/// error of the same status rather than nothing.
pub fn error_body_bytes(e: &ScimError) -> Vec<u8> {
    serde_json::to_vec(&e.to_body()).unwrap_or_else(|_| {
        format!(
            r#"{{"schemas":["{}"],"status":"{}"}}"#,
            roster_scim::error::ERROR_SCHEMA,
            e.status()
        )
        .into_bytes()
    })
}

/// The response for a SCIM error.
pub fn scim_error_response(e: &ScimError) -> Response {
    let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = error_body_bytes(e);
    let mut resp = (status, body).into_response();
    resp.extensions_mut()
        .insert(ErrorDetail(roster_scim::error::truncate_detail(&e.detail)));
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(SCIM_JSON));
    if e.kind == ErrorKind::Unauthorized {
        resp.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"roster\""),
        );
    }
    resp
}

/// A panic inside a handler: a 500 SCIM error; the server keeps running.
pub fn panic_response(_panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("a request handler panicked");
    scim_error_response(&ScimError::new(
        ErrorKind::Internal,
        "roster failed while handling the request; see the server log",
    ))
}

/// The SCIM error for a failure answered by axum rather than by a handler of ours: a rejected path parameter (not
/// UTF-8), query string or body, an unknown route or method. `text` is axum's plain-text message, which may echo
/// input: it is cut like every detail.
pub fn scim_error_for(status: StatusCode, text: &str) -> ScimError {
    let kind = match status.as_u16() {
        400 | 422 => ErrorKind::InvalidSyntax,
        415 => ErrorKind::InvalidSyntax,
        s => ErrorKind::from_status(s),
    };
    let text = text.trim();
    let detail = if text.is_empty() {
        status.canonical_reason().unwrap_or("request failed").to_owned()
    } else {
        text.to_owned()
    };
    ScimError::new(kind, detail)
}
