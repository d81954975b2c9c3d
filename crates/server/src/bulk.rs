//! `/Bulk` (RFC 7644 §3.7): operations run in order through the same code as the single-resource endpoints.
//! `bulkId:` references in paths and data resolve to resources created earlier in the request (409 when the
//! referenced operation has not created one); `failOnErrors` stops after that many failures; more than
//! [`MAX_OPERATIONS`] operations, or a body over `maxPayloadSize`, is 413. Each operation is its own
//! transaction: RFC 7644 does not make a bulk request atomic.

use crate::AppState;
use crate::body::ScimBody;
use crate::error::ApiError;
use crate::scim::{do_create, do_delete, do_patch, do_replace, json_response};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use roster_scim::messages::{
    BulkOperation, BulkOperationResult, BulkRequest, BulkResponse, resolve_bulk_ids,
};
use roster_scim::{ErrorKind, ScimError};
use roster_store::{ResourceKind, StoredResource};
use std::collections::HashMap;

/// The most operations one bulk request may carry (advertised as `bulk.maxOperations`).
pub const MAX_OPERATIONS: usize = 1000;

/// `POST /Bulk`.
pub async fn bulk(State(state): State<AppState>, ScimBody(body): ScimBody) -> Result<Response, ApiError> {
    let req = BulkRequest::from_json(&body, MAX_OPERATIONS)?;
    let mut created: HashMap<String, String> = HashMap::new();
    let mut results = Vec::with_capacity(req.operations.len());
    let mut errors = 0u64;
    for op in &req.operations {
        if req.fail_on_errors.is_some_and(|max| errors >= max) {
            break;
        }
        let mut result = BulkOperationResult {
            method: op.method.clone(),
            bulk_id: op.bulk_id.clone(),
            version: None,
            location: None,
            status: String::new(),
            response: None,
        };
        match run(&state, op, &created).await {
            Ok((status, resource)) => {
                result.status = status.as_u16().to_string();
                if let Some(r) = resource {
                    let meta = r.meta(&state.config.base_url);
                    result.version = Some(meta.version);
                    result.location = Some(meta.location);
                    if let Some(bid) = &op.bulk_id {
                        created.insert(bid.clone(), r.id.clone());
                    }
                }
            }
            Err(e) => {
                errors += 1;
                result.status = e.0.status().to_string();
                result.response = serde_json::to_value(e.0.to_body()).ok();
            }
        }
        results.push(result);
    }
    Ok(json_response(
        StatusCode::OK,
        &serde_json::to_value(BulkResponse::new(results)).unwrap_or_default(),
    ))
}

fn unresolved(bulk_id: &str) -> ApiError {
    ScimError::new(
        ErrorKind::Conflict,
        format!("bulkId '{bulk_id}' does not name a resource created earlier in this request"),
    )
    .into()
}

async fn run(
    state: &AppState,
    op: &BulkOperation,
    created: &HashMap<String, String>,
) -> Result<(StatusCode, Option<StoredResource>), ApiError> {
    let mut parts = op.path.trim_start_matches('/').splitn(2, '/');
    let kind = match parts.next() {
        Some("Users") => ResourceKind::User,
        Some("Groups") => ResourceKind::Group,
        _ => {
            return Err(ScimError::invalid_value(format!(
                "unknown bulk path '{}'; use /Users or /Groups",
                op.path
            ))
            .into());
        }
    };
    let id = match parts.next() {
        None | Some("") => None,
        Some(raw) => Some(match raw.strip_prefix("bulkId:") {
            Some(b) => created.get(b).cloned().ok_or_else(|| unresolved(b))?,
            None => raw.to_owned(),
        }),
    };
    let mut data = op.data.clone().unwrap_or_default();
    resolve_bulk_ids(&mut data, &|b| created.get(b).cloned()).map_err(|b| unresolved(&b))?;
    let version = op.version.as_deref();
    let need_id = || {
        id.clone().ok_or_else(|| {
            ApiError::from(ScimError::invalid_value(format!(
                "{} needs a path with an id, like /Users/{{id}}",
                op.method
            )))
        })
    };
    match (op.method.to_ascii_uppercase().as_str(), &id) {
        ("POST", None) => Ok((StatusCode::CREATED, Some(do_create(state, kind, &data).await?))),
        ("POST", Some(_)) => {
            Err(ScimError::invalid_value("POST goes to /Users or /Groups, without an id").into())
        }
        ("PUT", _) => Ok((
            StatusCode::OK,
            Some(do_replace(state, kind, &need_id()?, &data, version).await?),
        )),
        ("PATCH", _) => Ok((
            StatusCode::OK,
            Some(do_patch(state, kind, &need_id()?, &data, version).await?),
        )),
        ("DELETE", _) => {
            do_delete(state, kind, &need_id()?, version).await?;
            Ok((StatusCode::NO_CONTENT, None))
        }
        (m, _) => Err(ScimError::invalid_syntax(format!("unsupported bulk method '{m}'")).into()),
    }
}
