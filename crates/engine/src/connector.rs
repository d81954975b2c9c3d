//! The client roster uses to talk to targets: SCIM 2.0 (bearer or OAuth2 client-credentials auth) or Google
//! Workspace's Directory API ([`crate::google`], a service account), the same operations either way: resource
//! requests, discovery, the app's `Retry-After` gate and rate budget, the redacted request trace, and every
//! failure turned into a roster code ([`crate::codes`]) with a message that never carries a credential.

use crate::codes::{self, Code};
use crate::config::{AppConfig, Auth};
use crate::health::{Clock, system_clock};
use crate::plan::PatchOp;
use roster_store::{ResourceKind, Secret};
use serde_json::{Map, Value};
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

/// A failed request to a target.
#[derive(Debug, Clone)]
pub struct TargetError {
    /// The roster code.
    pub code: &'static Code,
    /// The HTTP status, when the target answered.
    pub status: Option<u16>,
    /// What happened, in words (the target's own message included, credentials never).
    pub message: String,
    /// How long the target asked roster to wait (`Retry-After`).
    pub retry_after: Option<Duration>,
    /// Not sent: the app is paused (its `Retry-After` runs, or it refused roster's credentials and requests are
    /// halted until the next drain). Not an attempt: the object waits for the pause to end, without a log entry,
    /// a backoff step or a failure count.
    pub held_back: bool,
}

impl std::fmt::Display for TargetError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.message, self.code.code)
    }
}

/// What discovery found at a target.
#[derive(Debug, Clone)]
pub struct Discovery {
    /// `/ServiceProviderConfig`.
    pub config: Value,
    /// The schema URNs `/Schemas` lists.
    pub schemas: Vec<String>,
    /// The schema definitions that could be read (a target may list URNs without definitions).
    pub definitions: Vec<roster_scim::schema::Schema>,
    /// The resource type names `/ResourceTypes` lists.
    pub resource_types: Vec<String>,
    /// Whether the target says it supports PATCH.
    pub patch: bool,
}

enum ClientAuth {
    Bearer(Secret),
    OAuth2 {
        token_url: String,
        client_id: String,
        scope: Option<String>,
        secret: Secret,
    },
    /// A Google service account acting as `subject` (domain-wide delegation).
    Google {
        account: crate::google::ServiceAccount,
        subject: String,
    },
}

/// The client for one app's target.
pub struct Connector {
    base: String,
    /// Set when the target is Google Workspace's Directory API rather than SCIM.
    google: Option<crate::google::GoogleConfig>,
    /// Directory API page tokens by (endpoint, start index) for offset-style listing.
    page_tokens: Mutex<std::collections::HashMap<(&'static str, u64), String>>,
    auth: ClientAuth,
    http: reqwest::Client,
    /// The OAuth2 access token and when it expires.
    token: Mutex<Option<(Secret, Instant)>>,
    /// The clock the `Retry-After` gate reads.
    clock: Clock,
    /// No request before this time (microseconds since the epoch): the app's last `Retry-After`.
    not_before: AtomicI64,
    /// The failure that stopped this client's requests until [`Self::resume`]: the app refused roster's
    /// credentials. Requests after it fail at once with its code instead of each asking the app again (a drain
    /// of hundreds of objects against a revoked token sends the requests already in flight, not hundreds).
    halted: std::sync::Mutex<Option<TargetError>>,
    /// The app's rate limit, when it has one.
    pace: Option<Pace>,
    /// Requests in flight, at most this process's share of the app's concurrency.
    slots: Slots,
    /// Creates sent together in `/Bulk` requests.
    bulk: crate::bulk::Bulk,
    /// The window of this process's requests to the app that decides a quarantine.
    tracker: crate::health::Tracker,
    /// The app's thresholds for it.
    guards: crate::config::Guards,
}

/// Request slots: at most `limit` requests to the app in flight from this process (its share of the app's
/// `concurrency`, set by [`crate::AppRuntime::claim_share`]); a request waits here for a free slot.
#[derive(Debug)]
struct Slots {
    limit: AtomicUsize,
    busy: AtomicUsize,
    freed: tokio::sync::Notify,
}

/// A request's slot, given back when dropped.
pub(crate) struct Slot<'a>(&'a Slots);

/// One HTTP request to the target.
pub(crate) struct Request<'a> {
    /// `METHOD /path`, for messages.
    pub what: &'a str,
    pub method: reqwest::Method,
    /// The path after the base URL.
    pub path: &'a str,
    pub query: &'a [(&'a str, &'a str)],
    /// The JSON body, as text.
    pub body: Option<String>,
}

impl Slots {
    fn new(limit: usize) -> Self {
        Self {
            limit: AtomicUsize::new(limit.max(1)),
            busy: AtomicUsize::new(0),
            freed: tokio::sync::Notify::new(),
        }
    }

    async fn take(&self) -> Slot<'_> {
        loop {
            // Registered before looking, so a slot freed in between still wakes this request.
            let freed = self.freed.notified();
            tokio::pin!(freed);
            freed.as_mut().enable();
            let busy = self.busy.load(Ordering::SeqCst);
            if busy < self.limit.load(Ordering::SeqCst) {
                if self
                    .busy
                    .compare_exchange(busy, busy + 1, Ordering::SeqCst, Ordering::SeqCst)
                    .is_ok()
                {
                    return Slot(self);
                }
                continue;
            }
            freed.await;
        }
    }

    fn set_limit(&self, limit: usize) {
        self.limit.store(limit.max(1), Ordering::SeqCst);
        self.freed.notify_waiters();
    }
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.0.busy.fetch_sub(1, Ordering::SeqCst);
        self.0.freed.notify_one();
    }
}

/// Request slots under an app's rate limit. Slots are taken in blocks (a quarter second's worth); with a store,
/// blocks are leased from it so that every roster process on the database shares one budget. A slot not used by
/// its time is forfeited, so late requests never bunch up into a burst.
struct Pace {
    /// Microseconds between two requests.
    gap: i64,
    /// Slots per block.
    block: i64,
    /// The next slot and the end of the current block (microseconds since the epoch).
    state: Mutex<(i64, i64)>,
    /// Where blocks are leased: the store and the app's name.
    shared: Option<(roster_store::Store, String)>,
}

impl Pace {
    fn new(per_second: u32) -> Self {
        let gap = (1_000_000 / i64::from(per_second.max(1))).max(1);
        Self {
            gap,
            block: i64::from(per_second / 4).max(1),
            state: Mutex::new((0, 0)),
            shared: None,
        }
    }

    /// Reserves the next slot; returns its time.
    async fn take(&self, now: i64) -> i64 {
        let mut st = self.state.lock().await;
        if st.0 < now - self.gap {
            // Forfeit the slots whose time has passed.
            let missed = (now - self.gap - st.0 + self.gap - 1) / self.gap;
            st.0 += missed * self.gap;
        }
        if st.0 >= st.1 {
            let span = self.block * self.gap;
            let start = match &self.shared {
                Some((store, app)) => match store.lease_rate_block(app, now, span).await {
                    Ok(start) => start,
                    Err(e) => {
                        // The database is unreachable; pace this process alone until it is back.
                        tracing::warn!(app = %app, error = %e, "cannot lease rate slots; pacing this process alone");
                        st.1.max(now)
                    }
                },
                None => st.1.max(now),
            };
            *st = (start, start + span);
        }
        let slot = st.0;
        st.0 += self.gap;
        slot
    }
}

/// How long roster leaves an app alone after a 429 that gave no `Retry-After`.
const DEFAULT_WAIT: Duration = Duration::from_secs(2);

impl std::fmt::Debug for Connector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connector")
            .field("base", &roster_store::redact_url(&self.base))
            .finish_non_exhaustive()
    }
}

const MAX_DETAIL: usize = 400;

fn truncate(s: &str) -> String {
    let s = s.trim();
    if s.len() <= MAX_DETAIL {
        return s.to_owned();
    }
    let mut end = MAX_DETAIL;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

/// Reads `Retry-After`: delay-seconds or an HTTP date.
pub fn parse_retry_after(v: &str, now: time::OffsetDateTime) -> Option<Duration> {
    let v = v.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = time::OffsetDateTime::parse(v, &time::format_description::well_known::Rfc2822).ok()?;
    Some(Duration::try_from(at - now).unwrap_or(Duration::ZERO))
}

impl Connector {
    /// A client for an app's settings and credential.
    pub fn new(config: &AppConfig, secret: Option<Secret>) -> Result<Self, String> {
        let Some(secret) = secret else {
            return Err(if config.google.is_some() {
                "the app has no credential: set one with roster app edit NAME --google-key-file FILE".into()
            } else {
                "the app has no credential: set one with roster app edit NAME --token-file FILE".into()
            });
        };
        let base = config.scim_url.trim_end_matches('/').to_owned();
        config.check_url()?;
        let auth = match (&config.google, &config.auth) {
            (Some(g), _) => ClientAuth::Google {
                account: crate::google::ServiceAccount::from_json(secret.expose())?,
                subject: g.admin.clone(),
            },
            (None, Auth::Bearer) => ClientAuth::Bearer(secret),
            (
                None,
                Auth::OAuth2 {
                    token_url,
                    client_id,
                    scope,
                },
            ) => ClientAuth::OAuth2 {
                token_url: token_url.clone(),
                client_id: client_id.clone(),
                scope: scope.clone(),
                secret,
            },
        };
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(60))
            // A redirect would re-send the request (a mapped password, the credential) to another address and
            // report success: answers in 3xx are failures that name the location instead.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("roster/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        Ok(Self {
            base,
            google: config.google.clone(),
            page_tokens: Mutex::new(std::collections::HashMap::new()),
            auth,
            http,
            token: Mutex::new(None),
            clock: system_clock(),
            not_before: AtomicI64::new(0),
            halted: std::sync::Mutex::new(None),
            pace: (config.rate_limit > 0).then(|| Pace::new(config.rate_limit)),
            slots: Slots::new(usize::from(config.concurrency)),
            bulk: crate::bulk::Bulk::new(config.bulk),
            tracker: crate::health::Tracker::default(),
            guards: config.guards,
        })
    }

    /// Shares the app's rate limit with every roster process on `store`: request slots are leased from the
    /// database instead of counted in this process alone.
    pub fn share_rate_limit(&mut self, store: roster_store::Store, app: &str) {
        if let Some(p) = &mut self.pace {
            p.shared = Some((store, app.to_owned()));
        }
    }

    /// Reserves the next request slot under the app's rate limit and returns its time (microseconds since the
    /// epoch); `None` when the app has no rate limit. Every request takes one before it is sent.
    pub async fn reserve_slot(&self) -> Option<i64> {
        match &self.pace {
            Some(p) => Some(p.take((self.clock)()).await),
            None => None,
        }
    }

    /// Reads time from `clock` (tests control it).
    pub fn set_clock(&mut self, clock: Clock) {
        self.clock = clock;
    }

    /// Sends nothing to the app before `until` (microseconds since the epoch); an earlier time is ignored.
    pub fn defer_until(&self, until: i64) {
        self.not_before.fetch_max(until, Ordering::SeqCst);
    }

    /// Sets how many requests this process may have in flight to the app (at least one).
    pub fn set_request_limit(&self, limit: usize) {
        self.slots.set_limit(limit);
    }

    /// The time before which nothing is sent (0: none).
    pub fn not_before(&self) -> i64 {
        self.not_before.load(Ordering::SeqCst)
    }

    /// Lets requests go to the app again after a failure halted them (see `halted`): a drain or a reconcile
    /// starts with it, so each tries the app once more.
    pub fn resume(&self) {
        if let Ok(mut h) = self.halted.lock() {
            *h = None;
        }
    }

    /// Refuses to send while the app's `Retry-After` runs, then waits for a slot under the app's rate limit.
    pub(crate) async fn admit(&self, what: &str) -> Result<(), TargetError> {
        self.check_deferred(what)?;
        if let Some(slot) = self.reserve_slot().await {
            let wait = slot - (self.clock)();
            if wait > 0 {
                tokio::time::sleep(Duration::from_micros(wait.unsigned_abs())).await;
            }
        }
        Ok(())
    }

    /// Refuses to send while the app's `Retry-After` runs.
    pub(crate) fn check_deferred(&self, what: &str) -> Result<(), TargetError> {
        let now = (self.clock)();
        let until = self.not_before();
        if now < until {
            let left = Duration::from_micros(u64::try_from(until - now).unwrap_or(0));
            return Err(TargetError {
                code: &codes::TARGET_RATE_LIMITED,
                status: None,
                message: format!(
                    "{what}: not sent; the app asked roster to wait {} s more",
                    left.as_secs_f64().ceil()
                ),
                retry_after: Some(left),
                held_back: true,
            });
        }
        Ok(())
    }

    /// A request slot, held until dropped.
    pub(crate) async fn slot(&self) -> Slot<'_> {
        self.slots.take().await
    }

    /// The window of requests that decides the app's quarantine.
    pub fn tracker(&self) -> &crate::health::Tracker {
        &self.tracker
    }

    pub(crate) fn bulk(&self) -> &crate::bulk::Bulk {
        &self.bulk
    }

    /// How many objects a worker pool should sync at once to keep the app's request slots busy: creates in bulk
    /// need a bulk request's worth of objects per slot.
    pub fn objects_per_request(&self) -> usize {
        self.bulk.known().map_or(1, |l| l.operations)
    }

    /// The base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The Google settings, when the target is Google Workspace.
    pub fn google(&self) -> Option<&crate::google::GoogleConfig> {
        self.google.as_ref()
    }

    pub(crate) fn page_tokens(&self) -> &Mutex<std::collections::HashMap<(&'static str, u64), String>> {
        &self.page_tokens
    }

    /// The desired state of an object reduced to what the target holds (Google keeps fewer attributes than a
    /// SCIM target); for SCIM targets, `desired` itself.
    pub fn normalize(&self, kind: ResourceKind, desired: Map<String, Value>) -> Map<String, Value> {
        match &self.google {
            Some(g) => crate::google::normalize(kind, desired, g),
            None => desired,
        }
    }

    async fn bearer(&self) -> Result<Secret, TargetError> {
        let (url, form, who) = match &self.auth {
            ClientAuth::Bearer(s) => return Ok(s.clone()),
            ClientAuth::OAuth2 {
                token_url,
                client_id,
                scope,
                secret,
            } => {
                let mut form = vec![
                    ("grant_type", "client_credentials".to_owned()),
                    ("client_id", client_id.clone()),
                    ("client_secret", secret.expose().to_owned()),
                ];
                if let Some(s) = scope {
                    form.push(("scope", s.clone()));
                }
                (
                    token_url,
                    form,
                    format!("the OAuth2 token endpoint refused client '{client_id}'"),
                )
            }
            ClientAuth::Google { account, subject } => {
                let now = (self.clock)() / 1_000_000;
                let assertion = account.assertion(subject, now).map_err(|m| TargetError {
                    code: &codes::TARGET_AUTH_FAILED,
                    status: None,
                    message: m,
                    retry_after: None,
                    held_back: false,
                })?;
                let form = vec![
                    (
                        "grant_type",
                        "urn:ietf:params:oauth:grant-type:jwt-bearer".to_owned(),
                    ),
                    ("assertion", assertion),
                ];
                (
                    &account.token_uri,
                    form,
                    format!(
                        "Google refused a token to service account '{}' acting as '{subject}'",
                        account.client_email
                    ),
                )
            }
        };
        let mut cached = self.token.lock().await;
        if let Some((tok, until)) = cached.as_ref()
            && Instant::now() < *until
        {
            return Ok(tok.clone());
        }
        let resp = self
            .http
            .post(url)
            .form(&form)
            .send()
            .await
            .map_err(|e| transport("POST token endpoint", &e))?;
        let status = resp.status().as_u16();
        let text = read_capped(resp).await.unwrap_or_default();
        let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        let token = body.get("access_token").and_then(Value::as_str);
        match (status, token) {
            (200, Some(t)) => {
                let ttl = body.get("expires_in").and_then(Value::as_u64).unwrap_or(300);
                let tok = Secret::new(t);
                // Renew a minute early.
                *cached = Some((
                    tok.clone(),
                    Instant::now() + Duration::from_secs(ttl.saturating_sub(60).max(1)),
                ));
                Ok(tok)
            }
            _ => {
                // The token endpoint's own error (invalid_grant, unauthorized_client, …) names the cause; any
                // other refusal is a credentials problem.
                let answer = codes::Answer::read(status, &text);
                let code = match answer.code() {
                    c if c.category == codes::Category::Authentication
                        || c.category == codes::Category::Transient
                        || c.category == codes::Category::RateLimit =>
                    {
                        c
                    }
                    _ => &codes::TARGET_AUTH_FAILED,
                };
                let err = answer
                    .reason
                    .as_deref()
                    .unwrap_or("no access_token in the answer");
                let detail = truncate(&answer.detail);
                Err(TargetError {
                    code,
                    status: Some(status),
                    message: if detail.is_empty() || detail == err {
                        format!("{who}: {status} {}", truncate(err))
                    } else {
                        format!("{who}: {status} {} ({detail})", truncate(err))
                    },
                    retry_after: None,
                    held_back: false,
                })
            }
        }
    }

    /// Sends a request; returns the status and the JSON body (if any). Non-success statuses are errors, except
    /// those in `ok_statuses`.
    pub(crate) async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&Value>,
        ok_statuses: &[u16],
    ) -> Result<(u16, Option<Value>), TargetError> {
        let what = format!("{method} {path}");
        self.admit(&what).await?;
        // Held until the answer is read. A Retry-After that came while this request waited for its slot stops it.
        let slot = self.slots.take().await;
        let method_name = method.as_str().to_owned();
        let trace = |status: Option<u16>, response: &str, parsed: Option<&Value>| {
            crate::trace::record(&method_name, path, query, body, status, Some(response), parsed);
        };
        let request = Request {
            what: &what,
            method,
            path,
            query,
            body: body.map(Value::to_string),
        };
        // Boxed: the HTTP exchange is the largest state of every request's future, and the futures that await a
        // request (an object's whole sync) stay small enough to move cheaply.
        Box::pin(self.exchange(slot, request, ok_statuses, trace)).await
    }

    /// Sends `request` in `slot` (given back as soon as the answer is read) and reads the answer; `trace` sees
    /// every exchange.
    pub(crate) async fn exchange(
        &self,
        slot: Slot<'_>,
        request: Request<'_>,
        ok_statuses: &[u16],
        trace: impl Fn(Option<u16>, &str, Option<&Value>),
    ) -> Result<(u16, Option<Value>), TargetError> {
        let halted = self.halted.lock().ok().and_then(|h| h.clone());
        if let Some(e) = halted {
            // Not sent, so not an attempt: the object waits for the next drain, which asks the app once more.
            return Err(TargetError {
                code: e.code,
                status: e.status,
                message: format!("{}: not sent, since {}", request.what, e.message),
                retry_after: None,
                held_back: true,
            });
        }
        let answer = self.answer(slot, request, ok_statuses, trace).await;
        let signal = match &answer {
            Ok(_) => crate::health::Signal::Success,
            Err(e) if e.held_back => crate::health::Signal::Neutral,
            Err(e) => crate::health::Signal::of_failure(e.code, e.status),
        };
        let message = answer.as_ref().err().map(|e| e.message.as_str()).unwrap_or("");
        self.tracker.record((self.clock)(), signal, message, &self.guards);
        if let Err(e) = &answer
            && e.code.category == codes::Category::Authentication
            && e.status.is_some()
            && let Ok(mut h) = self.halted.lock()
        {
            *h = Some(e.clone());
        }
        answer
    }

    /// See [`Self::exchange`]: the request sent and its answer read.
    async fn answer(
        &self,
        slot: Slot<'_>,
        request: Request<'_>,
        ok_statuses: &[u16],
        trace: impl Fn(Option<u16>, &str, Option<&Value>),
    ) -> Result<(u16, Option<Value>), TargetError> {
        let what = request.what;
        self.check_deferred(what)?;
        let token = self.bearer().await?;
        let mut req = self
            .http
            .request(request.method, format!("{}{}", self.base, request.path))
            .bearer_auth(token.expose())
            .header("Accept", "application/scim+json, application/json");
        let content_type = if self.google.is_some() {
            "application/json"
        } else {
            "application/scim+json"
        };
        if !request.query.is_empty() {
            req = req.query(request.query);
        }
        if let Some(b) = request.body {
            req = req.header("Content-Type", content_type).body(b);
        }
        let resp = match req.send().await {
            Ok(r) => r,
            Err(e) => {
                let err = transport(what, &e);
                trace(None, &err.message, None);
                return Err(err);
            }
        };
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, time::OffsetDateTime::now_utc()));
        if (300..400).contains(&status) {
            let err = redirect_error(what, status, resp.headers());
            trace(Some(status), &err.message, None);
            return Err(err);
        }
        let text = match read_capped(resp).await {
            Ok(t) => t,
            Err(err) => {
                let err = err.within(what);
                trace(Some(status), &err.message, None);
                return Err(err);
            }
        };
        // The answer is read: the next request may go while this one is parsed and recorded.
        drop(slot);
        let json: Option<Value> = if text.trim().is_empty() {
            None
        } else {
            serde_json::from_str(&text).ok()
        };
        trace(Some(status), &text, json.as_ref());
        if (200..300).contains(&status) || ok_statuses.contains(&status) {
            return Ok((status, json));
        }
        Err(self.failure(what, status, &text, retry_after))
    }

    /// The error for a non-success answer (`text` is its body). A rate limit stops every request to the app for
    /// a while.
    pub(crate) fn failure(
        &self,
        what: &str,
        status: u16,
        text: &str,
        retry_after: Option<Duration>,
    ) -> TargetError {
        let answer = codes::Answer::read(status, text);
        let code = answer.code();
        // 429, a 503 with Retry-After, and answers that say "rate limit" in other words (Google's 403
        // rateLimitExceeded, userRateLimitExceeded, quotaExceeded) stop every request to the app for a while.
        let pause = (status == 429
            || (status == 503 && retry_after.is_some())
            || code.code == codes::TARGET_RATE_LIMITED.code)
            .then(|| retry_after.unwrap_or(DEFAULT_WAIT));
        if let Some(wait) = pause {
            self.defer_until((self.clock)() + i64::try_from(wait.as_micros()).unwrap_or(i64::MAX / 2));
        }
        let scim_type = answer.scim_type.as_deref().or(answer.reason.as_deref());
        let detail = truncate(&answer.detail);
        let mut message = format!("{what} answered {status}");
        if let Some(t) = scim_type {
            message.push_str(&format!(" {t}"));
        }
        if !detail.is_empty() {
            message.push_str(&format!(": {detail}"));
        }
        if let Some(wait) = pause {
            // This entry is the log's record of the pause: what waits behind it is not an attempt and logs nothing.
            message.push_str(&format!(
                "; every request to the app waits {} s ({})",
                wait.as_secs_f64().ceil(),
                if retry_after.is_some() {
                    "its Retry-After"
                } else {
                    "no Retry-After given"
                }
            ));
        }
        TargetError {
            code,
            status: Some(status),
            message,
            retry_after,
            held_back: false,
        }
    }

    /// Reads a resource; `None` when the target answers 404.
    pub async fn get(&self, kind: ResourceKind, id: &str) -> Result<Option<Map<String, Value>>, TargetError> {
        if self.google.is_some() {
            return self.google_get(kind, id).await;
        }
        let path = format!("/{}/{}", kind.endpoint(), encode(id));
        match self.send(reqwest::Method::GET, &path, &[], None, &[404]).await? {
            (404, _) => Ok(None),
            (_, Some(Value::Object(o))) => Ok(Some(o)),
            (s, _) => Err(bad_body(&format!("GET {path}"), s)),
        }
    }

    /// Resources matching a filter (at most `limit`).
    pub async fn find(
        &self,
        kind: ResourceKind,
        filter: &str,
        limit: u32,
    ) -> Result<Vec<Map<String, Value>>, TargetError> {
        if self.google.is_some() {
            return self.google_find(kind, filter, limit).await;
        }
        let path = format!("/{}", kind.endpoint());
        let count = limit.to_string();
        let (s, body) = self
            .send(
                reqwest::Method::GET,
                &path,
                &[("filter", filter), ("count", &count)],
                None,
                &[],
            )
            .await?;
        let Some(list) = body
            .as_ref()
            .and_then(|b| b.get("Resources").or_else(|| b.get("resources")))
        else {
            // A ListResponse with no results may leave Resources out.
            return if body.as_ref().is_some_and(|b| b.get("totalResults").is_some()) {
                Ok(Vec::new())
            } else {
                Err(bad_body(&format!("GET {path}?filter={filter}"), s))
            };
        };
        Ok(list
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| r.as_object().cloned())
            .collect())
    }

    /// One page of a listing (`startIndex` from 1) with only `attributes`; returns the page and `totalResults`.
    pub async fn list_page(
        &self,
        kind: ResourceKind,
        start: u64,
        count: u32,
        attributes: &str,
    ) -> Result<(Vec<Map<String, Value>>, u64), TargetError> {
        if self.google.is_some() {
            return self.google_list_page(kind, start, count).await;
        }
        let path = format!("/{}", kind.endpoint());
        let (start, count) = (start.to_string(), count.to_string());
        let query = [
            ("startIndex", start.as_str()),
            ("count", count.as_str()),
            ("attributes", attributes),
        ];
        let (s, body) = self.send(reqwest::Method::GET, &path, &query, None, &[]).await?;
        let (items, total, _) = list_response(&path, s, body)?;
        Ok((items, total))
    }

    /// One page of a cursor listing (RFC 9865; `cursor` empty for the first page) with only `attributes`;
    /// returns the page, `totalResults` and `nextCursor` (absent on the last page, and from a target that does
    /// not know cursors: its answer is then the first `startIndex` page). `None` for Google, which has no SCIM
    /// listing.
    pub async fn list_page_cursor(
        &self,
        kind: ResourceKind,
        cursor: &str,
        count: u32,
        attributes: &str,
    ) -> Option<Result<ListPage, TargetError>> {
        if self.google.is_some() {
            return None;
        }
        let path = format!("/{}", kind.endpoint());
        let count = count.to_string();
        let query = [
            ("cursor", cursor),
            ("count", count.as_str()),
            ("attributes", attributes),
        ];
        let answer = self.send(reqwest::Method::GET, &path, &query, None, &[]).await;
        Some(answer.and_then(|(s, body)| list_response(&path, s, body)))
    }

    /// Creates a resource; returns it as the target stored it.
    pub async fn create(
        &self,
        kind: ResourceKind,
        payload: &Map<String, Value>,
    ) -> Result<Map<String, Value>, TargetError> {
        if self.google.is_some() {
            return self.google_create(kind, payload).await;
        }
        if let Some(limits) = self.bulk_limits().await
            && let Some(created) = self.create_in_bulk(kind, payload, limits).await
        {
            return created;
        }
        let path = format!("/{}", kind.endpoint());
        match self
            .send(
                reqwest::Method::POST,
                &path,
                &[],
                Some(&Value::Object(payload.clone())),
                &[],
            )
            .await?
        {
            (_, Some(Value::Object(o))) if o.get("id").and_then(Value::as_str).is_some() => Ok(o),
            (s, _) => Err(bad_body(&format!("POST {path}"), s)),
        }
    }

    /// Applies PATCH operations.
    pub async fn patch(&self, kind: ResourceKind, id: &str, ops: &[PatchOp]) -> Result<(), TargetError> {
        if self.google.is_some() {
            return self.google_patch(kind, id, ops).await;
        }
        let path = format!("/{}/{}", kind.endpoint(), encode(id));
        self.send(
            reqwest::Method::PATCH,
            &path,
            &[],
            Some(
                &roster_scim::PatchRequest {
                    operations: ops.to_vec(),
                }
                .to_json(),
            ),
            &[],
        )
        .await?;
        Ok(())
    }

    /// Replaces a resource (PUT).
    pub async fn replace(
        &self,
        kind: ResourceKind,
        id: &str,
        body: &Map<String, Value>,
    ) -> Result<(), TargetError> {
        if self.google.is_some() {
            return self.google_replace(kind, id, body).await;
        }
        let path = format!("/{}/{}", kind.endpoint(), encode(id));
        self.send(
            reqwest::Method::PUT,
            &path,
            &[],
            Some(&Value::Object(body.clone())),
            &[],
        )
        .await?;
        Ok(())
    }

    /// Deletes a resource; `false` when it was already gone (404 counts as done).
    pub async fn delete(&self, kind: ResourceKind, id: &str) -> Result<bool, TargetError> {
        if self.google.is_some() {
            return self.google_delete(kind, id).await;
        }
        let path = format!("/{}/{}", kind.endpoint(), encode(id));
        let (s, _) = self
            .send(reqwest::Method::DELETE, &path, &[], None, &[404])
            .await?;
        Ok(s != 404)
    }

    /// Reads `/ServiceProviderConfig`, `/Schemas` and `/ResourceTypes`.
    pub async fn discover(&self) -> Result<Discovery, TargetError> {
        if self.google.is_some() {
            return self.google_discover().await;
        }
        let endpoint = |e: TargetError| match e.status {
            Some(404) => TargetError {
                code: &codes::TARGET_ENDPOINT,
                ..e
            },
            _ => e,
        };
        let (_, config) = self
            .send(reqwest::Method::GET, "/ServiceProviderConfig", &[], None, &[])
            .await
            .map_err(endpoint)?;
        let config = config
            .filter(Value::is_object)
            .ok_or_else(|| schema_error("/ServiceProviderConfig"))?;
        let patch = config
            .pointer("/patch/supported")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let list = |body: Option<Value>, key: &str, what: &str| -> Result<Vec<String>, TargetError> {
            let body = body.ok_or_else(|| schema_error(what))?;
            let items = body
                .get("Resources")
                .and_then(Value::as_array)
                .or_else(|| body.as_array())
                .ok_or_else(|| schema_error(what))?;
            Ok(items
                .iter()
                .filter_map(|i| i.get(key).and_then(Value::as_str).map(str::to_owned))
                .collect())
        };
        let (_, s) = self
            .send(reqwest::Method::GET, "/Schemas", &[], None, &[])
            .await
            .map_err(endpoint)?;
        let definitions = s
            .as_ref()
            .and_then(|b| {
                b.get("Resources")
                    .and_then(Value::as_array)
                    .or_else(|| b.as_array())
            })
            .into_iter()
            .flatten()
            .filter_map(|d| roster_scim::schema::Schema::from_json(d).ok())
            .collect();
        let schemas = list(s, "id", "/Schemas")?;
        let (_, r) = self
            .send(reqwest::Method::GET, "/ResourceTypes", &[], None, &[])
            .await
            .map_err(endpoint)?;
        let resource_types = list(r, "name", "/ResourceTypes")?;
        Ok(Discovery {
            config,
            schemas,
            definitions,
            resource_types,
            patch,
        })
    }
}

pub(crate) fn encode(id: &str) -> String {
    id.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The largest answer roster reads from a target: a page of a thousand accounts is a few megabytes.
pub const MAX_ANSWER_BYTES: usize = 32 * 1024 * 1024;

/// Why an answer's body could not be read.
enum ReadError {
    Transport(reqwest::Error),
    TooLarge,
}

impl ReadError {
    fn within(self, what: &str) -> TargetError {
        match self {
            Self::Transport(e) => transport(what, &e),
            Self::TooLarge => TargetError {
                code: &codes::TARGET_BAD_ANSWER,
                status: None,
                message: format!(
                    "{what}: the answer is larger than {MAX_ANSWER_BYTES} bytes; roster stopped reading it"
                ),
                retry_after: None,
                held_back: false,
            },
        }
    }
}

/// The body of an answer, read up to [`MAX_ANSWER_BYTES`] (a bigger answer is refused before it is held in
/// memory, whatever its `Content-Length` says).
async fn read_capped(mut resp: reqwest::Response) -> Result<String, ReadError> {
    if resp.content_length().is_some_and(|n| n > MAX_ANSWER_BYTES as u64) {
        return Err(ReadError::TooLarge);
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(ReadError::Transport)? {
        if body.len() + chunk.len() > MAX_ANSWER_BYTES {
            return Err(ReadError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(String::from_utf8_lossy(&body).into_owned())
}

/// The failure for an answer in 3xx: roster does not follow redirects. The location is named (credentials in
/// it redacted) so the admin can fix the app's URL if the new address is right.
fn redirect_error(what: &str, status: u16, headers: &reqwest::header::HeaderMap) -> TargetError {
    let location = headers
        .get(reqwest::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(|l| roster_store::redact_url(&truncate(l)));
    TargetError {
        code: &codes::TARGET_REDIRECT,
        status: Some(status),
        message: match location {
            Some(l) => {
                format!("{what} answered {status}, a redirect to {l}; roster does not follow redirects")
            }
            None => format!(
                "{what} answered {status}, a redirect without a location; roster does not follow redirects"
            ),
        },
        retry_after: None,
        held_back: false,
    }
}

fn transport(what: &str, e: &reqwest::Error) -> TargetError {
    let why = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else {
        "the connection failed"
    };
    // reqwest's error text may carry the URL, never the Authorization header.
    let mut source = std::error::Error::source(e);
    let mut detail = String::new();
    while let Some(s) = source {
        detail = s.to_string();
        source = s.source();
    }
    TargetError {
        code: &codes::TARGET_UNREACHABLE,
        status: None,
        message: format!(
            "{what}: {why}{}",
            if detail.is_empty() {
                String::new()
            } else {
                format!(" ({})", truncate(&detail))
            }
        ),
        retry_after: None,
        held_back: false,
    }
}

/// A page of a listing: its resources, `totalResults` and `nextCursor` (RFC 9865; `None` when absent or empty).
pub type ListPage = (Vec<Map<String, Value>>, u64, Option<String>);

/// A ListResponse read as a [`ListPage`].
fn list_response(path: &str, status: u16, body: Option<Value>) -> Result<ListPage, TargetError> {
    let body = body.ok_or_else(|| bad_body(&format!("GET {path}"), status))?;
    let total = body
        .get("totalResults")
        .and_then(Value::as_u64)
        .ok_or_else(|| bad_body(&format!("GET {path}"), status))?;
    let next = body
        .get("nextCursor")
        .and_then(Value::as_str)
        .filter(|c| !c.is_empty())
        .map(str::to_owned);
    let items = body
        .get("Resources")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|r| r.as_object().cloned())
        .collect();
    Ok((items, total, next))
}

fn bad_body(what: &str, status: u16) -> TargetError {
    TargetError {
        code: &codes::TARGET_BAD_ANSWER,
        status: Some(status),
        message: format!("{what} answered {status} without the SCIM resource it should return"),
        retry_after: None,
        held_back: false,
    }
}

fn schema_error(what: &str) -> TargetError {
    TargetError {
        code: &codes::TARGET_SCHEMA,
        status: Some(200),
        message: format!("GET {what} did not return valid SCIM"),
        retry_after: None,
        held_back: false,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn retry_after_is_read_as_seconds_or_a_date() {
        let now = time::macros::datetime!(2015-10-21 07:28:00 UTC);
        assert_eq!(parse_retry_after("120", now), Some(Duration::from_secs(120)));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:30:00 GMT", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[test]
    fn ids_are_percent_encoded() {
        assert_eq!(encode("a b/c?d"), "a%20b%2Fc%3Fd");
        assert_eq!(encode("2819c223-7f76"), "2819c223-7f76");
    }

    #[test]
    fn a_client_needs_a_credential_and_an_http_url() {
        let cfg = AppConfig::new("https://app.example.com/scim/v2/");
        assert!(Connector::new(&cfg, None).unwrap_err().contains("no credential"));
        let c = Connector::new(&cfg, Some(Secret::new("t"))).unwrap();
        assert_eq!(c.base(), "https://app.example.com/scim/v2");
        let bad = AppConfig::new("ftp://x");
        assert!(
            Connector::new(&bad, Some(Secret::new("t")))
                .unwrap_err()
                .contains("https://")
        );
    }
}
