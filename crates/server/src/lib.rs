//! # roster-server
//!
//! The HTTP face of roster: a SCIM 2.0 service provider (RFC 7644) under `/scim/v2`, the operations API under
//! `/api/v1`, and `/healthz`.
//! [`router`] builds the axum router from an [`AppState`]; [`run`] serves it on a listener until a shutdown
//! future completes, finishing requests in flight. No global state: the store, schemas and settings are in
//! the state.
//!
//! **Must never import** `roster-engine` or `roster-connect` directly: the server receives (inbound SCIM) and
//! serves the operations API, whose operations come from `roster-admin`; provisioning outward is the engine's, and
//! the SCIM side meets it only in the store.
//!
//! | module | owns |
//! |---|---|
//! | [`routes`] | every route in one place: `/healthz`, `/scim/v2` (Bulk included), `/api/v1`, and what matches none |
//! | [`error`] | every failure as a SCIM error response; internal text never reaches clients |
//! | [`auth`] | bearer tokens, read and write scopes |
//! | [`body`] | request bodies: size limit, media types, JSON syntax |
//! | [`scim`] | the SCIM endpoints |
//! | [`bulk`] | `/Bulk`: operations in order, `bulkId` references, `failOnErrors` |
//! | [`api`] | the operations API under `/api/v1`: error codes, explain, clients; `api/apps.rs`: apps (state, add, show, edit, remove, test, sync, provision, preview, retry, log) |
//! | [`quarantine`] | refusing a client whose requests keep failing (429 with `Retry-After`, then probation), shared through the store |
//! | [`edge`] | around every route: request time limit, failures as SCIM errors, no-store headers, access log |
//! | [`listen`] | the accept loop: connection cap, header and idle timeout, TLS, hyper's own errors as SCIM errors |

pub mod api;
pub mod auth;
pub mod body;
pub mod bulk;
pub mod edge;
pub mod error;
pub mod listen;
pub mod quarantine;
mod resources;
mod response;
pub mod routes;
pub mod scim;

pub use routes::router;

use roster_scim::SchemaRegistry;
use roster_store::Store;
use std::future::Future;
use std::sync::Arc;
use tokio::net::TcpListener;

/// Server settings.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The absolute SCIM base URL clients use (for `Location` and `meta.location`), without a trailing slash,
    /// for example `https://roster.example.com/scim/v2`.
    pub base_url: String,
    /// Page size when a list request gives no `count`.
    pub default_page_size: u64,
    /// The largest page a list returns (advertised as `filter.maxResults`).
    pub max_page_size: u64,
    /// The largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// When a client whose requests keep failing is refused, and for how long.
    pub quarantine: quarantine::QuarantineConfig,
    /// Longest wait for a request's header section, on a new connection or an idle keep-alive one.
    pub header_timeout: std::time::Duration,
    /// Longest time from a request's header section to its answer (408 after it).
    pub request_timeout: std::time::Duration,
    /// Most connections open at once; more are answered 503 and closed.
    pub max_connections: usize,
    /// What one resource may hold (string and binary lengths, values of a multi-valued attribute, members),
    /// checked on create, replace and PATCH and advertised in the ServiceProviderConfig's limits extension.
    pub resource_limits: roster_scim::Limits,
    /// Most operations in one `/Bulk` request (advertised as `bulk.maxOperations`).
    pub max_bulk_operations: usize,
    /// Most provisioning log entries one `GET /api/v1/apps/{name}/log` returns.
    pub max_log_entries: i64,
    /// The longest text `POST /api/v1/explain` reads: an error message with its answer, pasted.
    pub max_explain_bytes: usize,
}

impl ServerConfig {
    /// Defaults for a server reachable at `base_url`.
    pub fn new(base_url: impl Into<String>) -> Self {
        Self {
            base_url: base_url.into().trim_end_matches('/').to_owned(),
            default_page_size: 100,
            max_page_size: 1000,
            max_body_bytes: 1024 * 1024,
            quarantine: quarantine::QuarantineConfig::default(),
            header_timeout: std::time::Duration::from_secs(20),
            request_timeout: std::time::Duration::from_secs(60),
            max_connections: 1024,
            resource_limits: roster_scim::Limits::DEFAULT,
            max_bulk_operations: 1000,
            max_log_entries: 10_000,
            max_explain_bytes: 64 * 1024,
        }
    }

    /// How writes are validated: unknown attributes refused, values within [`Self::resource_limits`].
    pub fn validate_options(&self) -> roster_scim::ValidateOptions {
        roster_scim::ValidateOptions {
            limits: self.resource_limits,
            ..roster_scim::ValidateOptions::default()
        }
    }
}

/// What handlers share: one pointer, so the copies axum makes per request (each extractor and middleware takes
/// its own) cost one reference count each.
#[derive(Debug, Clone)]
pub struct AppState(Arc<Shared>);

/// The contents of [`AppState`].
#[derive(Debug)]
pub struct Shared {
    /// The directory.
    pub store: Store,
    /// Schemas and resource types.
    pub registry: Arc<SchemaRegistry>,
    /// Settings.
    pub config: Arc<ServerConfig>,
    /// Clients refused for failing too often.
    pub quarantine: Arc<quarantine::Quarantine>,
}

impl std::ops::Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl AppState {
    /// State with the core schemas.
    pub fn new(store: Store, config: ServerConfig) -> Self {
        let quarantine = Arc::new(quarantine::Quarantine::new(store.clone(), config.quarantine));
        Self::with_quarantine(store, config, quarantine)
    }

    /// State with the core schemas and a client quarantine of the caller's (a test's clock, say).
    pub fn with_quarantine(
        store: Store,
        config: ServerConfig,
        quarantine: Arc<quarantine::Quarantine>,
    ) -> Self {
        Self(Arc::new(Shared {
            store,
            registry: Arc::new(SchemaRegistry::new()),
            quarantine,
            config: Arc::new(config),
        }))
    }
}

/// Serves `router(state)` on `listener` over plain HTTP until `shutdown` completes; requests in flight are
/// finished.
pub async fn run(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    run_with_tls(listener, state, None, shutdown).await
}

/// [`run`], over TLS when `tls` is given.
pub async fn run_with_tls(
    listener: TcpListener,
    state: AppState,
    tls: Option<listen::Tls>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let config = state.config.clone();
    listen::serve(listener, router(state), &config, tls, shutdown).await
}
