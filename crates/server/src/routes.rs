//! Every route roster serves, in one place: `/healthz`, the SCIM endpoints under `/scim/v2` (Bulk included) and
//! the operations API under `/api/v1`, with the answers for what matches no route. Handlers live in [`crate::scim`],
//! [`crate::bulk`] and [`crate::api`]; what wraps every route (authentication, time limit, panics, access log) in
//! [`crate::edge`].

use crate::api::apps;
use crate::error::ApiError;
use crate::{AppState, api, bulk, edge, scim};
use axum::Router;
use axum::middleware;
use axum::response::IntoResponse;
use axum::routing::{any, get, post};
use roster_scim::{ErrorKind, ScimError};
use roster_store::ResourceKind;

/// The SCIM endpoints' prefix.
const SCIM: &str = "/scim/v2";

/// The operations API's prefix.
const API: &str = "/api/v1";

/// The application: `/healthz`, `/scim/v2/...` and `/api/v1/...`, inside the one middleware of [`edge`]
/// (which authenticates under both prefixes). Routes are written with their full paths rather than nested
/// routers: a nested router rewrites every request's URI.
pub fn router(state: AppState) -> Router {
    let canonical = scim_routes().fallback(scim_not_found).with_state(state.clone());
    Router::new()
        .route("/healthz", get(healthz))
        .merge(scim_routes())
        .merge(api_routes())
        .fallback(move |req: axum::extract::Request| fallback(canonical.clone(), req))
        .layer(middleware::from_fn_with_state(state.clone(), edge::edge))
        .with_state(state)
}

/// What matches no route. An endpoint under `/scim/v2` spelled in another case (`/users`,
/// `/serviceproviderconfig`) or with a trailing slash (`/Users/`, `/Users/?filter=…`) is answered as its
/// canonical spelling ([`scim::canonical_uri`]) by `canonical`, as clients and proxies in the wild send them;
/// locations keep the canonical spelling. Anything else is a SCIM 404 naming what roster serves there.
async fn fallback(canonical: Router, req: axum::extract::Request) -> axum::response::Response {
    let path = req.uri().path();
    if let Some(rest) = path.strip_prefix(SCIM) {
        if let Some(uri) = scim::canonical_uri(rest, req.uri().query()).and_then(|p| prefixed(SCIM, &p)) {
            let (mut parts, body) = req.into_parts();
            parts.uri = uri;
            return match tower::ServiceExt::oneshot(
                canonical,
                axum::extract::Request::from_parts(parts, body),
            )
            .await
            {
                Ok(resp) => resp,
                Err(never) => match never {},
            };
        }
        return scim_not_found().await.into_response();
    }
    if path
        .strip_prefix(API)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    {
        return api_not_found().await.into_response();
    }
    not_found().await.into_response()
}

/// `prefix` followed by a path-and-query, as a URI.
fn prefixed(prefix: &str, path_and_query: &str) -> Option<axum::http::Uri> {
    format!("{prefix}{path_and_query}").parse().ok()
}

/// The SCIM endpoints themselves; a known endpoint asked with a method it does not serve is a SCIM 405.
fn scim_routes() -> Router<AppState> {
    let all = [ResourceKind::User, ResourceKind::Group];
    let router = Router::new()
        .route(
            "/scim/v2/ServiceProviderConfig",
            get(scim::service_provider_config),
        )
        .route("/scim/v2/Schemas", get(scim::schemas))
        .route("/scim/v2/Schemas/{id}", get(scim::schema))
        .route("/scim/v2/ResourceTypes", get(scim::resource_types))
        .route("/scim/v2/ResourceTypes/{id}", get(scim::resource_type))
        .route(
            "/scim/v2/.search",
            post(move |s, b| scim::search(s, all.to_vec(), b)),
        )
        .route("/scim/v2/Me", any(scim::me))
        .route("/scim/v2/Bulk", post(bulk::bulk));
    all.into_iter()
        .fold(router, resource_routes)
        .method_not_allowed_fallback(method_not_allowed)
}

/// `/Users`, `/Users/.search` and `/Users/{id}` (likewise for Groups).
fn resource_routes(router: Router<AppState>, kind: ResourceKind) -> Router<AppState> {
    let base = format!("{SCIM}/{}", kind.endpoint());
    router
        .route(
            &base,
            get(move |s, q| scim::list(s, kind, q)).post(move |s, q, b| scim::create(s, kind, q, b)),
        )
        .route(
            &format!("{base}/.search"),
            post(move |s, b| scim::search(s, vec![kind], b)),
        )
        .route(
            &format!("{base}/{{id}}"),
            get(move |s, p, q, h| scim::read(s, kind, p, q, h))
                .put(move |s, p, q, h, b| scim::replace(s, kind, p, q, h, b))
                .patch(move |s, p, q, h, b| scim::patch(s, kind, p, q, h, b))
                .delete(move |s, p, h| scim::delete(s, kind, p, h)),
        )
}

/// The operations API (every route requires a token; [`api`] says which need an admin token).
fn api_routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/codes", get(api::list_codes))
        .route("/api/v1/codes/{code}", get(api::one_code))
        .route("/api/v1/explain", post(api::explain))
        .route("/api/v1/apps", get(apps::apps).post(apps::app_add))
        .route(
            "/api/v1/apps/{name}",
            get(apps::app_show).put(apps::app_edit).delete(apps::app_remove),
        )
        .route("/api/v1/apps/{name}/log", get(apps::app_log))
        .route("/api/v1/apps/{name}/retry", post(apps::app_retry))
        .route("/api/v1/apps/{name}/test", get(apps::app_test))
        .route("/api/v1/apps/{name}/sync", post(apps::app_sync))
        .route("/api/v1/apps/{name}/provision", post(apps::app_provision))
        .route("/api/v1/apps/{name}/preview", get(apps::app_preview))
        .route("/api/v1/clients", get(api::clients))
        .route("/api/v1/clients/{name}/release", post(api::client_release))
}

async fn healthz(
    axum::extract::State(state): axum::extract::State<AppState>,
) -> Result<&'static str, ApiError> {
    state.store.ping().await?;
    Ok("ok\n")
}

async fn not_found() -> ApiError {
    ScimError::not_found("no such endpoint; roster serves /scim/v2, /api/v1 and /healthz").into()
}

async fn scim_not_found() -> ApiError {
    ScimError::not_found("no such SCIM endpoint; see /scim/v2/ResourceTypes").into()
}

async fn api_not_found() -> ApiError {
    ScimError::new(
        ErrorKind::NotFound,
        "no such endpoint; the operations API has /codes, /explain, /apps, /apps/{name}, /apps/{name}/log, \
         /apps/{name}/retry, /apps/{name}/test, /apps/{name}/sync, /apps/{name}/provision, /apps/{name}/preview, \
         /clients and /clients/{name}/release",
    )
    .into()
}

async fn method_not_allowed() -> ApiError {
    ScimError::new(
        ErrorKind::MethodNotAllowed,
        "this endpoint does not support that HTTP method",
    )
    .into()
}
