//! Every failure leaves as a SCIM error (RFC 7644 §3.12) with `Content-Type: application/scim+json`. Database
//! and internal errors are logged for the operator and answered with a plain 500 that carries no internal text.

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

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        scim_error_response(&self.0)
    }
}

/// The response for a SCIM error.
pub fn scim_error_response(e: &ScimError) -> Response {
    let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = serde_json::to_vec(&e.to_body()).unwrap_or_default();
    let mut resp = (status, body).into_response();
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
