//! The outermost middleware, around every route: the request time limit, the answer to any failure that no
//! handler of ours wrote (made a SCIM error), the headers every response carries, and one access-log line per
//! request.
//!
//! - **Time limit**: a request not answered within [`EdgeConfig::request_timeout`] (a body that trickles in
//!   included) is answered 408; its handler is dropped, which rolls back an unfinished transaction.
//! - **Errors**: a 4xx/5xx whose body is not a SCIM error (axum's plain-text rejections: a path segment that is
//!   not UTF-8, an unknown route, a body over the limit) is rewritten as one, with its text cut like every detail.
//! - **Headers**: `Cache-Control: no-store` (responses carry personal data; no proxy or browser may keep them) and
//!   `X-Content-Type-Options: nosniff`.
//! - **Access log**: `roster::access` at info: method, path (the query's names, never its values: a filter names
//!   people), status, the token's name (`-` when none was accepted), latency, peer address.

use crate::error::{SCIM_JSON, scim_error_for, scim_error_response};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;
use roster_scim::{ErrorKind, ScimError};
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// The name of the token a request was made with, as a response extension for the access log.
#[derive(Debug, Clone)]
pub struct Client(pub String);

impl Client {
    /// The response for `e`, marked with this client.
    pub fn with(self, e: ScimError) -> Response {
        let mut resp = scim_error_response(&e);
        resp.extensions_mut().insert(self);
        resp
    }
}

/// The peer's address, as a request extension set by the accept loop.
#[derive(Debug, Clone, Copy)]
pub struct Peer(pub SocketAddr);

/// Settings of the edge middleware.
#[derive(Debug, Clone, Copy)]
pub struct EdgeConfig {
    /// Longest time from a request's head to its answer.
    pub request_timeout: Duration,
}

impl Default for EdgeConfig {
    fn default() -> Self {
        Self {
            request_timeout: Duration::from_secs(60),
        }
    }
}

/// The longest path an access-log line shows, in characters.
const MAX_LOGGED_PATH: usize = 300;

/// The longest plain-text rejection body read to become a SCIM detail.
const MAX_REJECTION_TEXT: usize = 8 * 1024;

/// The middleware.
pub async fn edge(State(cfg): State<EdgeConfig>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().clone();
    let path = loggable_path(&req);
    let peer = req.extensions().get::<Peer>().map(|p| p.0);
    let mut resp = match tokio::time::timeout(cfg.request_timeout, next.run(req)).await {
        Ok(resp) => resp,
        Err(_) => scim_error_response(&ScimError::new(
            ErrorKind::RequestTimeout,
            format!(
                "the request was not complete and answered within {} s; send the body at once, or split the work",
                cfg.request_timeout.as_secs()
            ),
        )),
    };
    if resp.status().as_u16() >= 400 && !is_json(&resp) {
        resp = rewrite_rejection(resp).await;
    }
    let h = resp.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    let client = resp.extensions().get::<Client>().map_or("-", |c| c.0.as_str());
    tracing::info!(
        target: "roster::access",
        %method,
        path = %path,
        status = resp.status().as_u16(),
        client,
        ms = started.elapsed().as_secs_f64() * 1000.0,
        peer = %peer.map_or_else(|| "-".to_owned(), |p| p.to_string()),
    );
    resp
}

fn is_json(resp: &Response) -> bool {
    resp.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with(SCIM_JSON) || v.starts_with("application/json"))
}

async fn rewrite_rejection(resp: Response) -> Response {
    let (parts, body) = resp.into_parts();
    let text = match axum::body::to_bytes(body, MAX_REJECTION_TEXT).await {
        Ok(b) => String::from_utf8_lossy(&b).into_owned(),
        Err(_) => String::new(),
    };
    let mut out = scim_error_response(&scim_error_for(parts.status, &text));
    // Keep what the rejection said about the method (`Allow`) and the client.
    if let Some(allow) = parts.headers.get(header::ALLOW) {
        out.headers_mut().insert(header::ALLOW, allow.clone());
    }
    if let Some(c) = parts.extensions.get::<Client>() {
        out.extensions_mut().insert(c.clone());
    }
    out
}

/// The request's path with its query's names and not their values (`/scim/v2/Users?filter=…&count=…`).
fn loggable_path(req: &Request) -> String {
    let uri = req.uri();
    let mut out = uri.path().to_owned();
    if let Some(q) = uri.query() {
        for (i, pair) in q.split('&').enumerate() {
            let name = pair.split('=').next().unwrap_or_default();
            let _ = write!(out, "{}{name}=…", if i == 0 { '?' } else { '&' });
        }
    }
    if let Some((at, _)) = out.char_indices().nth(MAX_LOGGED_PATH) {
        out.truncate(at);
        out.push('…');
    }
    out
}
