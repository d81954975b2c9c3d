//! Every route roster serves, in one place: `/healthz`, the SCIM endpoints under `/scim/v2` (Bulk included) and
//! the operations API under `/api/v1`, with the answers for what matches no route. Handlers live in [`crate::scim`],
//! [`crate::bulk`] and [`crate::api`]; what wraps every route (time limit, panics, access log) in [`crate::edge`].

use crate::api::apps;
use crate::error::ApiError;
use crate::{AppState, api, auth, bulk, edge, error, scim};
use axum::Router;
use axum::middleware;
use axum::response::IntoResponse;
use axum::routing::{any, get, post};
use roster_scim::{ErrorKind, ScimError};
use roster_store::ResourceKind;

/// The application: `/healthz`, `/scim/v2/...` and `/api/v1/...`.
pub fn router(state: AppState) -> Router {
    let edge = edge::EdgeConfig {
        request_timeout: state.config.request_timeout,
    };
    Router::new()
        .route("/healthz", get(healthz))
        .nest("/scim/v2", scim_router(state.clone()))
        .nest("/api/v1", api_router(state.clone()))
        .fallback(not_found)
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(
            error::panic_response,
        ))
        .layer(middleware::from_fn_with_state(edge, edge::edge))
        .with_state(state)
}

/// The `/scim/v2` router; every route requires a token. An endpoint spelled in another case (`/users`,
/// `/serviceproviderconfig`) or with a trailing slash (`/Users/`, `/Users/?filter=…`) is answered as its
/// canonical spelling ([`scim::canonical_uri`]), as clients and proxies in the wild send them; locations keep the
/// canonical spelling.
fn scim_router(state: AppState) -> Router<AppState> {
    let canonical = scim_routes(state.clone()).with_state(state.clone());
    scim_routes(state).fallback(move |req: axum::extract::Request| {
        let canonical = canonical.clone();
        async move {
            match scim::canonical_uri(req.uri()) {
                Some(uri) => {
                    let (mut parts, body) = req.into_parts();
                    parts.uri = uri;
                    match tower::ServiceExt::oneshot(
                        canonical,
                        axum::extract::Request::from_parts(parts, body),
                    )
                    .await
                    {
                        Ok(resp) => resp,
                        Err(never) => match never {},
                    }
                }
                None => scim_not_found().await.into_response(),
            }
        }
    })
}

/// The SCIM endpoints themselves, with the plain not-found fallback.
fn scim_routes(state: AppState) -> Router<AppState> {
    let all = [ResourceKind::User, ResourceKind::Group];
    let router = Router::new()
        .route("/ServiceProviderConfig", get(scim::service_provider_config))
        .route("/Schemas", get(scim::schemas))
        .route("/Schemas/{id}", get(scim::schema))
        .route("/ResourceTypes", get(scim::resource_types))
        .route("/ResourceTypes/{id}", get(scim::resource_type))
        .route("/.search", post(move |s, b| scim::search(s, all.to_vec(), b)))
        .route("/Me", any(scim::me))
        .route("/Bulk", post(bulk::bulk));
    all.into_iter()
        .fold(router, resource_routes)
        .method_not_allowed_fallback(method_not_allowed)
        .fallback(scim_not_found)
        .route_layer(middleware::from_fn_with_state(state, auth::require_token))
}

/// `/Users`, `/Users/.search` and `/Users/{id}` (likewise for Groups).
fn resource_routes(router: Router<AppState>, kind: ResourceKind) -> Router<AppState> {
    let base = format!("/{}", kind.endpoint());
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
fn api_router(state: AppState) -> Router<AppState> {
    Router::new()
        .route("/codes", get(api::list_codes))
        .route("/codes/{code}", get(api::one_code))
        .route("/explain", post(api::explain))
        .route("/apps", get(apps::apps).post(apps::app_add))
        .route(
            "/apps/{name}",
            get(apps::app_show).put(apps::app_edit).delete(apps::app_remove),
        )
        .route("/apps/{name}/log", get(apps::app_log))
        .route("/apps/{name}/retry", post(apps::app_retry))
        .route("/apps/{name}/test", get(apps::app_test))
        .route("/apps/{name}/sync", post(apps::app_sync))
        .route("/apps/{name}/provision", post(apps::app_provision))
        .route("/apps/{name}/preview", get(apps::app_preview))
        .route("/clients", get(api::clients))
        .route("/clients/{name}/release", post(api::client_release))
        .fallback(api_not_found)
        .route_layer(middleware::from_fn_with_state(state, auth::require_token))
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
