//! The SCIM endpoints (RFC 7644 §3): discovery, Users and Groups (create, read, replace, patch, delete, list,
//! search), with ETags and conditional requests. Every write goes through schema validation in roster-scim and
//! lands in the store together with its journal entry; nothing here talks to other systems.

use crate::AppState;
use crate::body::ScimBody;
use crate::error::ApiError;
use crate::resources::{
    Patched, do_create, do_delete, do_patch, do_replace, load_text, load_with, render_default, render_owned,
    schema_of, tag_versions,
};
use crate::response::{json_bytes_response, json_response};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use roster_scim::messages::{ListResponse, SearchRequest, ServiceProviderConfig};
use roster_scim::{ErrorKind, Projection, ScimError};
use roster_store::{ListQuery, Position, Related, ResourceKind, StoredResource, StoredText};
use serde_json::Value;

type Params = Query<Vec<(String, String)>>;

/// The endpoints whose names a request may spell in any case, canonically spelled.
const ENDPOINTS: [&str; 8] = [
    "Users",
    "Groups",
    "ServiceProviderConfig",
    "Schemas",
    "ResourceTypes",
    "Bulk",
    "Me",
    ".search",
];

/// The canonical form of a request's path under `/scim/v2` (`path`: the part after it) with its `query`: the
/// endpoint's name in its canonical case, `.search` in lower case, no trailing slash; `None` when it already is
/// canonical (then nothing answers it).
pub(crate) fn canonical_uri(path: &str, query: Option<&str>) -> Option<String> {
    let trimmed = path.strip_suffix('/').filter(|p| !p.is_empty()).unwrap_or(path);
    let mut segments: Vec<String> = trimmed.split('/').map(str::to_owned).collect();
    if let Some(first) = segments.get_mut(1)
        && let Some(name) = ENDPOINTS.iter().find(|e| e.eq_ignore_ascii_case(first))
    {
        *first = (*name).to_owned();
    }
    if let Some(second) = segments.get_mut(2)
        && second.eq_ignore_ascii_case(".search")
    {
        *second = ".search".to_owned();
    }
    let canonical = segments.join("/");
    if canonical == path {
        return None;
    }
    Some(match query {
        Some(q) => format!("{canonical}?{q}"),
        None => canonical,
    })
}

pub(crate) async fn me() -> ApiError {
    ScimError::new(
        ErrorKind::NotImplemented,
        "roster has no /Me: its tokens belong to provisioning clients, not to users",
    )
    .into()
}

fn spc(state: &AppState) -> ServiceProviderConfig {
    ServiceProviderConfig {
        documentation_uri: None,
        bulk: Some((
            state.config.max_bulk_operations as u64,
            state.config.max_body_bytes as u64,
        )),
        max_results: state.config.max_page_size,
        default_page_size: state.config.default_page_size,
        sort: true,
        etag: true,
        change_password: false,
        limits: state.config.resource_limits,
    }
}

/// The ServiceProviderConfig. roster's limits extension comes when `attributes` names it (or one of its
/// attributes): its attributes are `returned: request`, so strict clients never meet it unasked.
pub(crate) async fn service_provider_config(
    State(state): State<AppState>,
    Query(params): Params,
) -> Response {
    let limits = params.iter().any(|(k, v)| {
        k == "attributes"
            && v.split(',').any(|p| {
                let p = p.trim();
                p.len() >= roster_scim::schema::LIMITS_SCHEMA.len()
                    && p.is_char_boundary(roster_scim::schema::LIMITS_SCHEMA.len())
                    && p[..roster_scim::schema::LIMITS_SCHEMA.len()]
                        .eq_ignore_ascii_case(roster_scim::schema::LIMITS_SCHEMA)
            })
    });
    json_response(
        StatusCode::OK,
        &spc(&state).to_resource(&state.config.base_url, limits),
    )
}

/// A ListResponse of `resources` out of `total`, starting at `start_index`.
fn list_response<R: serde::Serialize>(resources: Vec<R>, total: u64, start_index: u64) -> Response {
    list_body(&ListResponse::new(resources, total, start_index))
}

/// The answer carrying `list`.
fn list_body<R: serde::Serialize>(list: &ListResponse<R>) -> Response {
    json_bytes_response(StatusCode::OK, serde_json::to_vec(list).unwrap_or_default())
}

/// A complete list (discovery endpoints are not paged).
fn full_list(resources: Vec<Value>) -> Response {
    let n = resources.len() as u64;
    list_response(resources, n, 1)
}

pub(crate) async fn schemas(State(state): State<AppState>) -> Response {
    full_list(
        state
            .registry
            .schemas()
            .iter()
            .map(|s| s.to_resource(&state.config.base_url))
            .collect(),
    )
}

pub(crate) async fn schema(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let s = state
        .registry
        .schema(&id)
        .ok_or_else(|| ScimError::not_found(format!("no schema '{id}'")))?;
    Ok(json_response(
        StatusCode::OK,
        &s.to_resource(&state.config.base_url),
    ))
}

pub(crate) async fn resource_types(State(state): State<AppState>) -> Response {
    full_list(
        state
            .registry
            .resource_types()
            .iter()
            .map(|r| r.to_resource(&state.config.base_url))
            .collect(),
    )
}

pub(crate) async fn resource_type(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let rt = state
        .registry
        .resource_types()
        .iter()
        .find(|r| r.id.eq_ignore_ascii_case(&id))
        .ok_or_else(|| ScimError::not_found(format!("no resource type '{id}'")))?;
    Ok(json_response(
        StatusCode::OK,
        &rt.to_resource(&state.config.base_url),
    ))
}

fn resource_response(
    state: &AppState,
    kind: ResourceKind,
    r: StoredResource,
    status: StatusCode,
    projection: &Projection,
) -> Result<Response, ApiError> {
    let rs = schema_of(state, kind)?;
    let etag = HeaderValue::from_str(&r.etag());
    let location = (status == StatusCode::CREATED)
        .then(|| HeaderValue::from_str(&r.meta(&state.config.base_url).location));
    let body = projection.apply_owned(&rs, render_owned(state, r));
    let mut resp = json_response(status, &body);
    if let Ok(etag) = etag {
        resp.headers_mut().insert(header::ETAG, etag);
    }
    if let Some(Ok(loc)) = location {
        resp.headers_mut().insert(header::LOCATION, loc);
    }
    Ok(resp)
}

/// Whether answers of `kind` under `projection` carry the related rows (a Group's `members`, a User's derived
/// `groups`), so they are read only when the answer shows them.
fn related(state: &AppState, kind: ResourceKind, projection: &Projection) -> Result<Related, ApiError> {
    let attr = match kind {
        ResourceKind::Group => "members",
        ResourceKind::User => "groups",
    };
    Ok(if projection.returns(&schema_of(state, kind)?, attr) {
        Related::Read
    } else {
        Related::Skip
    })
}

/// JSON written by [`render_default`] as one list entry.
fn raw_json(body: Vec<u8>) -> Result<Box<serde_json::value::RawValue>, ApiError> {
    let text = String::from_utf8(body).map_err(internal)?;
    serde_json::value::RawValue::from_string(text).map_err(internal)
}

/// A failure of roster's own while writing an answer.
fn internal(e: impl std::fmt::Display) -> ApiError {
    ScimError::new(ErrorKind::Internal, format!("writing the answer: {e}")).into()
}

/// Whether the request names `attributes` or `excludedAttributes`.
fn projection_asked(params: &[(String, String)]) -> bool {
    params
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("attributes") || k.eq_ignore_ascii_case("excludedAttributes"))
}

fn projection(params: &[(String, String)]) -> Result<Projection, ApiError> {
    let get = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    };
    Ok(Projection::from_params(
        get("attributes"),
        get("excludedAttributes"),
    )?)
}

/// The versions an `If-Match`/`If-None-Match` header names: `None` for `*`, else the list (unparsable tags are
/// kept as versions no resource has).
fn header_versions(headers: &HeaderMap, name: header::HeaderName) -> Option<Option<Vec<i64>>> {
    tag_versions(headers.get(name)?.to_str().unwrap_or_default())
}

fn raw_if_match(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::IF_MATCH)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

pub(crate) async fn read(
    State(state): State<AppState>,
    kind: ResourceKind,
    Path(id): Path<String>,
    Query(params): Params,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let projection = projection(&params)?;
    let mut t = load_text(&state, kind, &id, related(&state, kind, &projection)?).await?;
    if let Some(tags) = header_versions(&headers, header::IF_NONE_MATCH)
        && tags.is_none_or(|vs| vs.contains(&t.version))
    {
        let mut resp = StatusCode::NOT_MODIFIED.into_response();
        if let Ok(etag) = HeaderValue::from_str(&t.etag()) {
            resp.headers_mut().insert(header::ETAG, etag);
        }
        return Ok(resp);
    }
    if projection == Projection::default()
        && let Some(body) = render_default(&state, &mut t)?
    {
        let mut resp = json_bytes_response(StatusCode::OK, body);
        if let Ok(etag) = HeaderValue::from_str(&t.etag()) {
            resp.headers_mut().insert(header::ETAG, etag);
        }
        return Ok(resp);
    }
    resource_response(&state, kind, t.parse()?, StatusCode::OK, &projection)
}

/// `POST`: the resource created (201), shaped by `attributes`/`excludedAttributes` (RFC 7644 §3.9).
pub(crate) async fn create(
    State(state): State<AppState>,
    kind: ResourceKind,
    Query(params): Params,
    ScimBody(body): ScimBody,
) -> Result<Response, ApiError> {
    let projection = projection(&params)?;
    let r = do_create(&state, kind, &body).await?;
    resource_response(&state, kind, r, StatusCode::CREATED, &projection)
}

/// `PUT`: the resource as replaced, shaped by `attributes`/`excludedAttributes`.
pub(crate) async fn replace(
    State(state): State<AppState>,
    kind: ResourceKind,
    Path(id): Path<String>,
    Query(params): Params,
    headers: HeaderMap,
    ScimBody(body): ScimBody,
) -> Result<Response, ApiError> {
    let projection = projection(&params)?;
    let r = do_replace(&state, kind, &id, &body, raw_if_match(&headers).as_deref()).await?;
    resource_response(&state, kind, r, StatusCode::OK, &projection)
}

pub(crate) async fn delete(
    State(state): State<AppState>,
    kind: ResourceKind,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    do_delete(&state, kind, &id, raw_if_match(&headers).as_deref()).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `PATCH`: 200 with the resource, shaped by `attributes`/`excludedAttributes`; except that a group PATCH that
/// either only adds or removes members or leaves the members alone (a rename), asking for no attributes, answers
/// 204 with the new ETag (RFC 7644 §3.5.2 allows it; Microsoft's and Okta's clients expect it for groups): the
/// answer would be the whole group, which for 200,000 members is tens of megabytes no client reads.
pub(crate) async fn patch(
    State(state): State<AppState>,
    kind: ResourceKind,
    Path(id): Path<String>,
    Query(params): Params,
    headers: HeaderMap,
    ScimBody(body): ScimBody,
) -> Result<Response, ApiError> {
    let projection = projection(&params)?;
    let r = match do_patch(&state, kind, &id, &body, raw_if_match(&headers).as_deref()).await? {
        Patched::Resource(r) => r,
        Patched::InPlace { version } if !projection_asked(&params) => {
            let mut resp = StatusCode::NO_CONTENT.into_response();
            if let Ok(etag) = HeaderValue::from_str(&roster_scim::Meta::weak_etag(version)) {
                resp.headers_mut().insert(header::ETAG, etag);
            }
            return Ok(resp);
        }
        Patched::InPlace { .. } => load_with(&state, kind, &id, related(&state, kind, &projection)?).await?,
    };
    resource_response(&state, kind, r, StatusCode::OK, &projection)
}

pub(crate) async fn list(
    State(state): State<AppState>,
    kind: ResourceKind,
    Query(params): Params,
) -> Result<Response, ApiError> {
    let req = SearchRequest::from_query(params.iter().map(|(k, v)| (k.as_str(), v.as_str())))?;
    run_search(&state, &[kind], &req).await
}

pub(crate) async fn search(
    State(state): State<AppState>,
    kinds: Vec<ResourceKind>,
    ScimBody(body): ScimBody,
) -> Result<Response, ApiError> {
    let req = SearchRequest::from_json(&body)?;
    run_search(&state, &kinds, &req).await
}

/// Lists one or more resource types as one sequence (Users before Groups for a root search), by index or, with
/// `cursor`, by position (RFC 9865: each page starts after the last resource of the one before, so a large export
/// costs the same per page however deep it is).
async fn run_search(
    state: &AppState,
    kinds: &[ResourceKind],
    req: &SearchRequest,
) -> Result<Response, ApiError> {
    let limit = req
        .count
        .unwrap_or(state.config.default_page_size)
        .min(state.config.max_page_size);
    let cursor = match req.cursor.as_deref() {
        None => None,
        Some(_) if req.sort_by.is_some() => {
            return Err(ScimError::invalid_value(
                "cursor paging follows the listing's own order (creation, then id); leave out sortBy, or page by startIndex to sort",
            )
            .into());
        }
        Some("") => Some(None),
        Some(c) => Some(Some(decode_cursor(c, kinds)?)),
    };
    let mut offset = req.start_index.saturating_sub(1);
    // With a cursor, one row more than the page shows whether another page follows.
    let mut remaining = if cursor.is_some() && limit > 0 {
        limit + 1
    } else {
        limit
    };
    let mut total = 0;
    let mut rows: Vec<(ResourceKind, StoredText)> = Vec::new();
    let mut checked_any = false;
    let mut last_err = None;
    for &kind in kinds {
        let rs = schema_of(state, kind)?;
        if let Some(f) = &req.filter
            && let Err(e) = f.check(&rs)
        {
            // A root search skips types the filter cannot apply to.
            last_err = Some(e);
            continue;
        }
        checked_any = true;
        // A cursor names a resource of one kind: kinds before it are done, its own resumes after it.
        let (after, before_cursor) = match &cursor {
            Some(Some((ck, pos))) => (
                (*ck == kind).then_some(pos),
                kinds.iter().position(|k| k == ck) > kinds.iter().position(|k| *k == kind),
            ),
            _ => (None, false),
        };
        let q = ListQuery {
            filter: req.filter.as_ref(),
            sort_by: req.sort_by.as_ref(),
            sort_order: req.sort_order,
            offset: if cursor.is_some() { 0 } else { offset },
            limit: if before_cursor { 0 } else { remaining },
            schema: Some(&rs),
            after,
            related: related(state, kind, &req.projection)?,
        };
        let page = state.store.list_resource_texts(kind, &q).await?;
        total += page.total;
        offset = offset.saturating_sub(page.total);
        remaining -= page.resources.len() as u64;
        rows.extend(page.resources.into_iter().map(|r| (kind, r)));
    }
    let next_cursor = if cursor.is_some() && rows.len() as u64 > limit {
        rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        rows.last()
            .map(|(k, r)| encode_cursor(*k, &Position::at(r.created, &r.id)))
    } else {
        None
    };
    let default = req.projection == Projection::default();
    let mut resources = Vec::with_capacity(rows.len());
    for (kind, mut t) in rows {
        if default && let Some(body) = render_default(state, &mut t)? {
            resources.push(raw_json(body)?);
            continue;
        }
        let rs = schema_of(state, kind)?;
        let value = req.projection.apply_owned(&rs, render_owned(state, t.parse()?));
        resources.push(serde_json::value::to_raw_value(&value).map_err(internal)?);
    }
    if !checked_any && let Some(e) = last_err {
        return Err(e.into());
    }
    if cursor.is_some() {
        let mut list = ListResponse::new(resources, total, 1);
        list.start_index = None;
        list.next_cursor = next_cursor;
        return Ok(list_body(&list));
    }
    Ok(list_response(resources, total, req.start_index))
}

/// A cursor: the kind and position of the last resource of a page, as opaque URL-safe text.
fn encode_cursor(kind: ResourceKind, p: &Position) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!(
        "1:{}:{}:{}",
        kind.as_str(),
        p.created,
        p.id
    ))
}

fn decode_cursor(text: &str, kinds: &[ResourceKind]) -> Result<(ResourceKind, Position), ApiError> {
    use base64::Engine as _;
    let invalid = || {
        ApiError::from(ScimError::new(
            ErrorKind::InvalidCursor,
            "this cursor was not given out by this endpoint; start again with an empty cursor",
        ))
    };
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text)
        .map_err(|_| invalid())?;
    let raw = String::from_utf8(raw).map_err(|_| invalid())?;
    let mut parts = raw.splitn(4, ':');
    let (Some("1"), Some(kind), Some(created), Some(id)) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(invalid());
    };
    let kind = ResourceKind::from_name(kind)
        .filter(|k| kinds.contains(k))
        .ok_or_else(invalid)?;
    let created = created.parse::<i64>().map_err(|_| invalid())?;
    Ok((
        kind,
        Position {
            created,
            id: id.to_owned(),
        },
    ))
}
