//! Success responses: JSON with the SCIM media type (error responses are `crate::error`'s).

use crate::error::SCIM_JSON;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

/// `body` as `application/scim+json` with `status`.
pub(crate) fn json_response(status: StatusCode, body: &Value) -> Response {
    json_bytes_response(status, serde_json::to_vec(body).unwrap_or_default())
}

/// JSON already serialised, as `application/scim+json` with `status`.
pub(crate) fn json_bytes_response(status: StatusCode, body: Vec<u8>) -> Response {
    let mut resp = (status, body).into_response();
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(SCIM_JSON));
    resp
}
