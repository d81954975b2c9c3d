//! The HTTP side of every request to a target: the request through the app's gate ([`crate::gate`]), its
//! credentials ([`crate::auth`]), the exchange recorded in the request trace ([`crate::trace`]) and told to the
//! [`Observer`], and every failure turned into a roster code ([`roster_codes`]) with a message that never
//! carries a credential. Answers in 3xx are failures (a redirect would re-send the credential elsewhere), and
//! no answer is read beyond [`crate::MAX_ANSWER_BYTES`].

use crate::answer::{parse_retry_after, read_capped, redirect_error, transport, truncate};
use crate::auth::Authenticator;
use crate::error::TargetError;
use crate::gate::{Gate, Slot};
use roster_codes as codes;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

/// What a client tells its owner about each request it sent (or held back): the engine keeps the window of
/// outcomes that quarantines an app.
pub trait Observer: Send + Sync {
    /// One request's outcome at `now` (microseconds since the epoch).
    fn answered(&self, now: i64, outcome: Result<(), &TargetError>);
}

/// How long roster leaves an app alone after a 429 that gave no `Retry-After`.
const DEFAULT_WAIT: Duration = Duration::from_secs(2);

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

/// One app's HTTP client: its base URL, credentials, gate and observer.
pub(crate) struct Http {
    pub(crate) base: String,
    /// The `Content-Type` of request bodies.
    pub(crate) content_type: &'static str,
    pub(crate) auth: Authenticator,
    pub(crate) client: reqwest::Client,
    pub(crate) gate: Gate,
    pub(crate) observer: Option<Arc<dyn Observer>>,
}

/// The HTTP client every target uses: no redirects (an answer in 3xx is a failure that names the location),
/// bounded connect and request times.
fn client() -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(60))
        // A redirect would re-send the request (a mapped password, the credential) to another address and
        // report success: answers in 3xx are failures that name the location instead.
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("roster/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| format!("cannot build the HTTP client: {e}"))
}

impl Http {
    /// A client for the target at `base` (no trailing slash).
    pub(crate) fn new(
        base: String,
        content_type: &'static str,
        auth: Authenticator,
        gate: Gate,
    ) -> Result<Self, String> {
        Ok(Self {
            base,
            content_type,
            auth,
            client: client()?,
            gate,
            observer: None,
        })
    }

    /// A bearer-token client for unit tests that send nothing.
    #[cfg(test)]
    #[allow(clippy::expect_used)]
    pub(crate) fn bearer_for_tests(base: &str) -> Self {
        let auth = Authenticator::new(crate::auth::Credentials::Bearer(
            roster_codes::redact::Secret::new("t"),
        ));
        Self::new(base.to_owned(), "application/scim+json", auth, Gate::new(1, 0)).expect("an HTTP client")
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
        self.gate.admit(&what).await?;
        // Held until the answer is read. A Retry-After that came while this request waited for its slot stops it.
        let slot = self.gate.slot().await;
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
        if let Some(e) = self.gate.halted() {
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
        if let Some(observer) = &self.observer {
            observer.answered(self.gate.now(), answer.as_ref().map(|_| ()));
        }
        if let Err(e) = &answer
            && e.code.category == codes::Category::Authentication
            && e.status.is_some()
        {
            self.gate.halt(e);
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
        self.gate.check_deferred(what)?;
        let token = self
            .auth
            .bearer(&self.client, self.gate.now() / 1_000_000)
            .await?;
        let mut req = self
            .client
            .request(request.method, format!("{}{}", self.base, request.path))
            .bearer_auth(token.expose())
            .header("Accept", "application/scim+json, application/json");
        if !request.query.is_empty() {
            req = req.query(request.query);
        }
        if let Some(b) = request.body {
            req = req.header("Content-Type", self.content_type).body(b);
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
            || *code == codes::TARGET_RATE_LIMITED)
            .then(|| retry_after.unwrap_or(DEFAULT_WAIT));
        if let Some(wait) = pause {
            self.gate
                .defer_until(self.gate.now() + i64::try_from(wait.as_micros()).unwrap_or(i64::MAX / 2));
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
}

pub(crate) fn encode(id: &str) -> String {
    id.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn ids_are_percent_encoded() {
        assert_eq!(encode("a b/c?d"), "a%20b%2Fc%3Fd");
        assert_eq!(encode("2819c223-7f76"), "2819c223-7f76");
    }
}
