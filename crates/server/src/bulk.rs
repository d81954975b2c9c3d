//! `/Bulk` (RFC 7644 §3.7): operations run in order through the same code as the single-resource endpoints.
//! `bulkId:` references in paths and data resolve to resources created earlier in the request (409 when the
//! referenced operation has not created one); `failOnErrors` stops after that many failures; more than
//! `ServerConfig::max_bulk_operations` operations, or a body over `maxPayloadSize`, is 413. Each operation is its own
//! transaction (a run of creates shares one, a savepoint each, with the same results): RFC 7644 does not make a
//! bulk request atomic.

use crate::AppState;
use crate::body::ScimBody;
use crate::error::ApiError;
use crate::resources::{Patched, do_create, do_delete, do_patch, do_replace, load_with, schema_of};
use crate::response::json_response;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use roster_scim::messages::{
    BulkOperation, BulkOperationResult, BulkRequest, BulkResponse, resolve_bulk_ids,
};
use roster_scim::{ErrorKind, ScimError};
use roster_store::{Related, ResourceKind, StoredResource};
use serde_json::{Map, Value};
use std::collections::HashMap;

/// `POST /Bulk`.
pub async fn bulk(State(state): State<AppState>, ScimBody(body): ScimBody) -> Result<Response, ApiError> {
    let req = BulkRequest::from_json(&body, state.config.max_bulk_operations)?;
    let mut created: HashMap<String, String> = HashMap::new();
    let mut results = Vec::with_capacity(req.operations.len());
    let mut errors = 0u64;
    let ops = &req.operations;
    let mut next = 0;
    while next < ops.len() {
        if req.fail_on_errors.is_some_and(|max| errors >= max) {
            break;
        }
        // A run of valid creates of one kind that refer to nothing created inside the run goes to the store as
        // one transaction; results are the same as one by one.
        let run_of_creates = create_run(&state, &ops[next..], &created);
        if !run_of_creates.is_empty() {
            let (kind, _) = run_of_creates[0];
            let items = run_of_creates.into_iter().map(|(_, data)| data).collect();
            let left = req.fail_on_errors.map(|max| max - errors);
            let outcomes = state.store.create_resources(kind, items, left).await?;
            for (op, outcome) in ops[next..].iter().zip(outcomes) {
                let outcome = outcome
                    .map(|r| (StatusCode::CREATED, Some(r)))
                    .map_err(ApiError::from);
                results.push(record(&state, op, outcome, &mut created, &mut errors));
                next += 1;
            }
            continue;
        }
        let outcome = run(&state, &ops[next], &created).await;
        results.push(record(&state, &ops[next], outcome, &mut created, &mut errors));
        next += 1;
    }
    Ok(json_response(
        StatusCode::OK,
        &serde_json::to_value(BulkResponse::new(results)).unwrap_or_default(),
    ))
}

/// The most creates one store transaction takes: bounds how long other writers wait on SQLite.
const CREATE_RUN: usize = 250;

/// The validated data of the longest run of creates (POST to `/Users` or `/Groups` without an id) of one kind
/// at the start of `ops` whose `bulkId` references all resolve in `created`, up to [`CREATE_RUN`]. Stops before
/// anything else (an invalid create is then run alone, and answers its error).
fn create_run(
    state: &AppState,
    ops: &[BulkOperation],
    created: &HashMap<String, String>,
) -> Vec<(ResourceKind, Map<String, Value>)> {
    let mut run: Vec<(ResourceKind, Map<String, Value>)> = Vec::new();
    for op in ops.iter().take(CREATE_RUN) {
        let kind = match (op.method.to_ascii_uppercase().as_str(), op.path.trim_matches('/')) {
            ("POST", "Users") => ResourceKind::User,
            ("POST", "Groups") => ResourceKind::Group,
            _ => break,
        };
        if run.first().is_some_and(|(k, _)| *k != kind) {
            break;
        }
        let mut data = op.data.clone().unwrap_or_default();
        if resolve_bulk_ids(&mut data, &|b| created.get(b).cloned()).is_err() {
            break;
        }
        let Ok(schema) = schema_of(state, kind) else {
            break;
        };
        let Ok(valid) = schema.validate(&data, None, state.config.validate_options()) else {
            break;
        };
        run.push((kind, valid));
    }
    run
}

/// One operation's entry in the response; counts errors and remembers what a `bulkId` created.
fn record(
    state: &AppState,
    op: &BulkOperation,
    outcome: Result<(StatusCode, Option<StoredResource>), ApiError>,
    created: &mut HashMap<String, String>,
    errors: &mut u64,
) -> BulkOperationResult {
    let mut result = BulkOperationResult {
        method: op.method.clone(),
        bulk_id: op.bulk_id.clone(),
        version: None,
        location: None,
        status: String::new(),
        response: None,
    };
    match outcome {
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
            *errors += 1;
            result.status = e.0.status().to_string();
            result.response = serde_json::to_value(e.0.to_body()).ok();
        }
    }
    result
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
        ("PATCH", _) => {
            let id = need_id()?;
            let r = match do_patch(state, kind, &id, &data, version).await? {
                Patched::Resource(r) => r,
                // The result names the version and location only: the group is read without its members.
                Patched::InPlace { .. } => load_with(state, kind, &id, Related::Skip).await?,
            };
            Ok((StatusCode::OK, Some(r)))
        }
        ("DELETE", _) => {
            do_delete(state, kind, &need_id()?, version).await?;
            Ok((StatusCode::NO_CONTENT, None))
        }
        (m, _) => Err(ScimError::invalid_syntax(format!("unsupported bulk method '{m}'")).into()),
    }
}
