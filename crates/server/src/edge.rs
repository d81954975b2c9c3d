//! The one middleware, around every route: authentication where a token is needed, the request time limit, the
//! answer to any failure that no handler of ours wrote (made a SCIM error), a handler's panic, the headers every
//! response carries, and one access-log line per request. One layer rather than one per concern: each layer
//! costs a boxed future and a clone of the inner service per request.
//!
//! - **Authentication** ([`crate::auth`]): under `/scim/v2` and `/api/v1`, before routing; the answer is then
//!   recorded with the client's quarantine.
//! - **Time limit**: a request not answered within [`crate::ServerConfig::request_timeout`] (a body that
//!   trickles in included) is answered 408; its handler is dropped, which rolls back an unfinished transaction.
//! - **Panics**: a handler that panics is answered 500 with a SCIM error (the panic is logged, not shown).
//! - **Errors**: a 4xx/5xx whose body is not a SCIM error (axum's plain-text rejections: a path segment that is
//!   not UTF-8, an unknown route, a body over the limit) is rewritten as one, with its text cut like every detail.
//! - **Headers**: `Cache-Control: no-store` (responses carry personal data; no proxy or browser may keep them) and
//!   `X-Content-Type-Options: nosniff`.
//! - **Access log**: `roster::access` at info: method, path (the query's names, never its values: a filter names
//!   people), status, the token's name (`-` when none was accepted), latency, peer address.

use crate::AppState;
use crate::error::{SCIM_JSON, scim_error_for, scim_error_response};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, Uri, header};
use axum::middleware::Next;
use axum::response::Response;
use futures_util::FutureExt as _;
use roster_scim::{ErrorKind, ScimError};
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::time::Instant;

/// The peer's address, as a request extension set by the accept loop.
#[derive(Debug, Clone, Copy)]
pub struct Peer(pub SocketAddr);

/// The longest path an access-log line shows, in characters.
const MAX_LOGGED_PATH: usize = 300;

/// The longest plain-text rejection body read to become a SCIM detail.
const MAX_REJECTION_TEXT: usize = 8 * 1024;

/// The middleware.
pub async fn edge(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().clone();
    let path = LoggedPath(req.uri().clone());
    let peer = req.extensions().get::<Peer>().map(|p| p.0);
    let admitted = if crate::auth::guarded(req.uri().path()) {
        match crate::auth::admit(&state, &mut req).await {
            Ok(a) => Some(a),
            Err(refused) => {
                let mut resp = refused.response;
                finish(&mut resp);
                log(&method, &path, &resp, refused.client.as_deref(), started, peer);
                return resp;
            }
        }
    } else {
        None
    };
    let timeout = state.config.request_timeout;
    let answer = AssertUnwindSafe(tokio::time::timeout(timeout, next.run(req))).catch_unwind();
    let mut resp = match answer.await {
        Ok(Ok(resp)) => resp,
        Ok(Err(_)) => scim_error_response(&ScimError::new(
            ErrorKind::RequestTimeout,
            format!(
                "the request was not complete and answered within {} s; send the body at once, or split the work",
                timeout.as_secs()
            ),
        )),
        Err(panic) => crate::error::panic_response(panic),
    };
    if resp.status().as_u16() >= 400 && !is_json(&resp) {
        resp = rewrite_rejection(resp).await;
    }
    if let Some(a) = &admitted {
        crate::auth::settle(&state, a, &resp).await;
    }
    finish(&mut resp);
    log(
        &method,
        &path,
        &resp,
        admitted.as_ref().map(|a| a.client.as_str()),
        started,
        peer,
    );
    resp
}

/// The headers every response carries.
fn finish(resp: &mut Response) {
    let h = resp.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
}

/// The access-log line.
fn log(
    method: &Method,
    path: &LoggedPath,
    resp: &Response,
    client: Option<&str>,
    started: Instant,
    peer: Option<SocketAddr>,
) {
    tracing::info!(
        target: "roster::access",
        %method,
        path = %path,
        status = resp.status().as_u16(),
        client = client.unwrap_or("-"),
        ms = started.elapsed().as_secs_f64() * 1000.0,
        peer = %peer.map_or_else(|| "-".to_owned(), |p| p.to_string()),
    );
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
    // Keep what the rejection said about the method (`Allow`).
    if let Some(allow) = parts.headers.get(header::ALLOW) {
        out.headers_mut().insert(header::ALLOW, allow.clone());
    }
    out
}

/// The request's path with its query's names and not their values (`/scim/v2/Users?filter=…&count=…`), cut to
/// [`MAX_LOGGED_PATH`] characters; written only when the access log is on.
struct LoggedPath(Uri);

impl std::fmt::Display for LoggedPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut out = self.0.path().to_owned();
        if let Some(q) = self.0.query() {
            for (i, pair) in q.split('&').enumerate() {
                let name = pair.split('=').next().unwrap_or_default();
                let _ = write!(out, "{}{name}=…", if i == 0 { '?' } else { '&' });
            }
        }
        if let Some((at, _)) = out.char_indices().nth(MAX_LOGGED_PATH) {
            out.truncate(at);
            out.push('…');
        }
        f.write_str(&out)
    }
}
