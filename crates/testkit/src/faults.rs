//! A fault-injecting SCIM target: a small HTTP/1.1 proxy in front of a [`Target`] that answers chosen requests
//! with an error (a status with a body and `Retry-After`), drops the connection, or forwards the request and then
//! loses the answer (the classic source of duplicate accounts). Every request it sees is recorded with the time
//! of the test's clock, so tests can prove when roster sent what.
//!
//! One request per connection (`Connection: close`), which every HTTP client handles; that keeps the proxy
//! simple enough to trust.

use crate::Target;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What a fault does.
#[derive(Debug, Clone)]
pub enum FaultKind {
    /// Answer with this status, body and `Retry-After` header; the request never reaches the target.
    Status {
        /// The HTTP status.
        status: u16,
        /// The body (JSON).
        body: String,
        /// The `Retry-After` header.
        retry_after: Option<String>,
    },
    /// Close the connection without an answer; the request never reaches the target.
    Reset,
    /// Forward the request (the target applies it), then close the connection without passing the answer on.
    ForwardThenReset,
}

/// A rule: requests with this method whose path (after the SCIM base) starts with `path` get `kind`, `times`
/// times.
#[derive(Debug, Clone)]
pub struct Fault {
    /// `GET`, `POST`, `PATCH`, `PUT`, `DELETE`; `None` for any.
    pub method: Option<&'static str>,
    /// A path prefix such as `/Users`.
    pub path: String,
    /// What happens.
    pub kind: FaultKind,
    /// How many requests it applies to (`usize::MAX`: until cleared).
    pub times: usize,
}

impl Fault {
    /// A status answer for `method` requests under `path`, `times` times.
    pub fn status(method: &'static str, path: &str, status: u16, body: &str, times: usize) -> Self {
        Self {
            method: Some(method),
            path: path.to_owned(),
            kind: FaultKind::Status {
                status,
                body: body.to_owned(),
                retry_after: None,
            },
            times,
        }
    }
    /// A SCIM error answer.
    pub fn scim(
        method: &'static str,
        path: &str,
        status: u16,
        scim_type: Option<&str>,
        detail: &str,
        times: usize,
    ) -> Self {
        let mut body = serde_json::json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
            "status": status.to_string(),
            "detail": detail,
        });
        if let Some(t) = scim_type {
            body["scimType"] = serde_json::Value::String(t.to_owned());
        }
        Self::status(method, path, status, &body.to_string(), times)
    }
    /// With a `Retry-After` header.
    #[must_use]
    pub fn retry_after(mut self, value: &str) -> Self {
        if let FaultKind::Status { retry_after, .. } = &mut self.kind {
            *retry_after = Some(value.to_owned());
        }
        self
    }
}

/// Faults at random, for requests no [`Fault`] rule takes: each request draws one number from a seeded generator
/// (the same seed gives the same sequence of draws), so a storm of rate limits, server errors and dropped
/// connections hits whatever roster happens to send. Rates are per thousand requests.
#[derive(Debug, Clone)]
pub struct Storm {
    /// The generator's seed.
    pub seed: u64,
    /// 429 answers with `Retry-After: retry_after`.
    pub rate_limited: u32,
    /// The `Retry-After` of those 429s, as sent (seconds or an HTTP date).
    pub retry_after: String,
    /// 503 answers without `Retry-After` (a passing server error).
    pub server_errors: u32,
    /// Connections closed before the request reaches the target.
    pub resets: u32,
    /// Requests forwarded to the target whose answer is then lost (the classic source of duplicates).
    pub lost_answers: u32,
}

impl Storm {
    /// The fault for a draw in `0..1000`, if any.
    fn pick(&self, draw: u32) -> Option<FaultKind> {
        let mut edge = self.rate_limited;
        if draw < edge {
            return Some(FaultKind::Status {
                status: 429,
                body: r#"{"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"status":"429","detail":"slow down"}"#
                    .to_owned(),
                retry_after: Some(self.retry_after.clone()),
            });
        }
        edge += self.server_errors;
        if draw < edge {
            return Some(FaultKind::Status {
                status: 503,
                body: r#"{"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"status":"503","detail":"busy"}"#
                    .to_owned(),
                retry_after: None,
            });
        }
        edge += self.resets;
        if draw < edge {
            return Some(FaultKind::Reset);
        }
        edge += self.lost_answers;
        (draw < edge).then_some(FaultKind::ForwardThenReset)
    }
}

/// One request the proxy saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    /// The method.
    pub method: String,
    /// The path after the SCIM base, with the query.
    pub path: String,
    /// The test clock's time when it arrived.
    pub at: i64,
    /// Whether a fault answered it (`None`: the target did).
    pub fault: Option<String>,
    /// The `Retry-After` a fault answered with, in microseconds (seconds form only).
    pub retry_after: Option<i64>,
}

#[derive(Debug, Default)]
struct State {
    faults: Vec<Fault>,
    /// Random faults, with the generator's state (xorshift64*).
    storm: Option<(Storm, u64)>,
    seen: Vec<Seen>,
    /// Requests being forwarded to the target now, and the most there ever were.
    forwarding: usize,
    most_forwarding: usize,
}

/// Counts a request as being forwarded until dropped.
struct Forwarding<'a>(&'a Mutex<State>);

impl<'a> Forwarding<'a> {
    fn start(state: &'a Mutex<State>) -> Self {
        let mut st = state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        st.forwarding += 1;
        st.most_forwarding = st.most_forwarding.max(st.forwarding);
        Self(state)
    }
}

impl Drop for Forwarding<'_> {
    fn drop(&mut self) {
        let mut st = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        st.forwarding -= 1;
    }
}

/// The clock the proxy stamps requests with.
pub type TestClock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// A fault-injecting proxy in front of a real target.
pub struct FaultTarget {
    /// The SCIM base URL to give roster.
    pub url: String,
    /// The real target behind it (its store shows what arrived).
    pub target: Target,
    state: Arc<Mutex<State>>,
    task: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for FaultTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaultTarget")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl FaultTarget {
    /// Starts a target and a proxy in front of it; requests are stamped with `clock`.
    pub async fn spawn(clock: TestClock) -> Self {
        let target = Target::spawn().await;
        let upstream = target.url.clone();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/scim/v2", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(State::default()));
        let st = state.clone();
        let http = reqwest::Client::new();
        let task = tokio::spawn(async move {
            while let Ok((conn, _)) = listener.accept().await {
                let (st, http, upstream, clock) = (st.clone(), http.clone(), upstream.clone(), clock.clone());
                tokio::spawn(async move {
                    let _ = serve(conn, &st, &http, &upstream, &clock).await;
                });
            }
        });
        Self {
            url,
            target,
            state,
            task,
        }
    }

    /// Adds a fault (rules are tried in the order added).
    pub fn add(&self, fault: Fault) {
        self.lock().faults.push(fault);
    }

    /// Removes every fault, the storm's too.
    pub fn clear(&self) {
        let mut st = self.lock();
        st.faults.clear();
        st.storm = None;
    }

    /// Starts a storm of random faults (see [`Storm`]).
    pub fn storm(&self, storm: Storm) {
        let state = storm.seed.max(1);
        self.lock().storm = Some((storm, state));
    }

    /// Every request seen so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.lock().seen.clone()
    }

    /// The most requests the target was answering at the same time (counted from the moment the proxy forwards
    /// a request until the target's answer is read, while the client is still waiting for it).
    pub fn most_in_flight(&self) -> usize {
        self.lock().most_forwarding
    }

    /// Requests that arrived while a `Retry-After` the proxy sent earlier still ran: arrived after the answer
    /// that asked for the wait and more than `grace` microseconds after it (requests already on their way when the
    /// answer went out arrive within the grace), but before the wait ended. Must be none.
    pub fn retry_after_violations(&self, grace: i64) -> Vec<Seen> {
        let seen = self.seen();
        let mut until = i64::MIN;
        let mut asked_at = i64::MIN;
        let mut out = Vec::new();
        for s in seen {
            if s.at >= asked_at.saturating_add(grace) && s.at < until {
                out.push(s.clone());
            }
            if let Some(w) = s.retry_after
                && s.at + w > until
            {
                until = s.at + w;
                asked_at = s.at;
            }
        }
        out
    }

    /// How many requests were seen so far.
    pub fn count(&self) -> usize {
        self.lock().seen.len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Stops the proxy and the target.
    pub async fn stop(self) {
        self.task.abort();
        self.target.stop().await;
    }
}

struct Request {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

async fn read_request(conn: &mut TcpStream) -> Option<Request> {
    let mut buf = Vec::new();
    let mut chunk = [0_u8; 8192];
    let head_end = loop {
        let n = conn.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let mut lines = head.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let (method, path) = (first.next()?.to_owned(), first.next()?.to_owned());
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let len: usize = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = buf[head_end + 4..].to_vec();
    while body.len() < len {
        let n = conn.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Some(Request {
        method,
        path,
        headers,
        body,
    })
}

async fn respond(conn: &mut TcpStream, status: u16, headers: &[(String, String)], body: &[u8]) {
    let mut head = format!(
        "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let _ = conn.write_all(head.as_bytes()).await;
    let _ = conn.write_all(body).await;
    let _ = conn.shutdown().await;
}

async fn serve(
    mut conn: TcpStream,
    state: &Mutex<State>,
    http: &reqwest::Client,
    upstream: &str,
    clock: &TestClock,
) -> Option<()> {
    let req = read_request(&mut conn).await?;
    let path = req.path.strip_prefix("/scim/v2").unwrap_or(&req.path).to_owned();
    let fault = {
        let mut st = state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let hit = st
            .faults
            .iter_mut()
            .find(|f| f.times > 0 && f.method.is_none_or(|m| m == req.method) && path.starts_with(&f.path));
        let mut kind = hit.map(|f| {
            f.times = f.times.saturating_sub(1);
            f.kind.clone()
        });
        if kind.is_none()
            && let Some((storm, x)) = &mut st.storm
        {
            // xorshift64*: small, seeded, and good enough to spread faults evenly.
            *x ^= *x >> 12;
            *x ^= *x << 25;
            *x ^= *x >> 27;
            let draw = x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 32;
            kind = storm.pick(u32::try_from(draw % 1000).unwrap_or(0));
        }
        st.seen.push(Seen {
            method: req.method.clone(),
            path: path.clone(),
            at: clock(),
            fault: kind.as_ref().map(|k| format!("{k:?}")),
            retry_after: match &kind {
                Some(FaultKind::Status {
                    retry_after: Some(r), ..
                }) => r.trim().parse::<i64>().ok().map(|s| s * 1_000_000),
                _ => None,
            },
        });
        kind
    };
    match fault {
        Some(FaultKind::Status {
            status,
            body,
            retry_after,
        }) => {
            let mut headers = vec![("Content-Type".to_owned(), "application/scim+json".to_owned())];
            if let Some(r) = retry_after {
                headers.push(("Retry-After".to_owned(), r));
            }
            respond(&mut conn, status, &headers, body.as_bytes()).await;
            Some(())
        }
        Some(FaultKind::Reset) => {
            drop(conn);
            Some(())
        }
        forward => {
            let forwarding = Forwarding::start(state);
            let method = reqwest::Method::from_bytes(req.method.as_bytes()).ok()?;
            let mut r = http.request(method, format!("{upstream}{path}"));
            for (k, v) in &req.headers {
                if matches!(k.as_str(), "authorization" | "content-type" | "accept") {
                    r = r.header(k, v);
                }
            }
            let resp = r.body(req.body).send().await.ok()?;
            if matches!(forward, Some(FaultKind::ForwardThenReset)) {
                drop(conn);
                return Some(());
            }
            let status = resp.status().as_u16();
            let headers: Vec<(String, String)> = resp
                .headers()
                .iter()
                .filter(|(k, _)| matches!(k.as_str(), "content-type" | "location" | "etag" | "retry-after"))
                .filter_map(|(k, v)| Some((k.to_string(), v.to_str().ok()?.to_owned())))
                .collect();
            let body = resp.bytes().await.ok()?;
            drop(forwarding);
            respond(&mut conn, status, &headers, &body).await;
            Some(())
        }
    }
}
