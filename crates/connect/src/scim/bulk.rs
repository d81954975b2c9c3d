//! Creates sent together in `/Bulk` requests (RFC 7644 §3.7), for a target whose ServiceProviderConfig says it
//! supports Bulk and an app whose `bulk` setting allows it.
//!
//! Each create waits in the app's queue. Whoever gets a request slot takes as many waiting creates as the
//! target's `maxOperations` and `maxPayloadSize` allow (at most [`MOST_OPERATIONS`]), sends them as one request
//! and hands each create its own result; a create whose operation was taken by another request waits for that
//! answer. Nothing waits on a timer: an idle app gets a bulk of one at once; while bulk requests are on their
//! way, a new one starts only with half a request's worth of creates, or when one of them is answered, so a busy
//! app gets a few large requests instead of many small ones. Each create is still recorded in its own object's trace, as the operation it was
//! and the answer to it. A target that refuses `/Bulk` (400, 404, 405, 413, 501 to the whole request) gets single
//! POSTs from then on, starting with the creates that request carried, which it did not apply.

use crate::error::TargetError;
use crate::gate::Slot;
use crate::http::{Http, Request};
use crate::scim::ScimTarget;
use roster_codes as codes;
use roster_scim::ResourceKind;
use serde_json::{Map, Value, json};
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use tokio::sync::{Notify, OnceCell, oneshot};

/// The most operations roster puts in one bulk request, whatever the target allows: a larger one holds a
/// request slot longer without saving much more.
pub const MOST_OPERATIONS: usize = 100;

/// What the target allows in one bulk request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Operations per request (at most [`MOST_OPERATIONS`]).
    pub operations: usize,
    /// Bytes per request.
    pub payload: usize,
}

/// Room left in every request for its envelope.
const ENVELOPE: usize = 256;

impl Limits {
    /// The limits a ServiceProviderConfig advertises; `None` when it does not support Bulk, or only one
    /// operation at a time.
    pub fn advertised(config: &Value) -> Option<Self> {
        let bulk = config.get("bulk")?;
        if bulk.get("supported").and_then(Value::as_bool) != Some(true) {
            return None;
        }
        let operations = bulk
            .get("maxOperations")
            .and_then(Value::as_u64)
            .map_or(0, |n| usize::try_from(n).unwrap_or(usize::MAX))
            .min(MOST_OPERATIONS);
        // maxPayloadSize is required; a target that leaves it out gets the 1 MiB most targets take.
        let payload = bulk
            .get("maxPayloadSize")
            .and_then(Value::as_u64)
            .map_or(1 << 20, |n| usize::try_from(n).unwrap_or(usize::MAX));
        (operations >= 2 && payload > 2 * ENVELOPE).then_some(Self { operations, payload })
    }
}

/// One create's answer.
enum Answer {
    /// The target answered the operation: its result, and the status and body to trace.
    Done {
        result: Result<Map<String, Value>, TargetError>,
        status: Option<u16>,
        response: Option<Value>,
    },
    /// The target refused `/Bulk`: the operation was not applied; send it on its own.
    Refused,
}

/// A create waiting for a bulk request.
struct Waiting {
    bulk_id: String,
    /// `POST /Users`, for messages.
    what: String,
    /// The operation as JSON text.
    text: String,
    tx: oneshot::Sender<Answer>,
}

/// An app's bulk state.
pub struct Bulk {
    enabled: bool,
    /// The target's limits, read once (`None`: it does not support Bulk).
    limits: OnceCell<Option<Limits>>,
    refused: AtomicBool,
    next_id: AtomicU64,
    waiting: Mutex<VecDeque<Waiting>>,
    /// Bulk requests being sent.
    sending: AtomicUsize,
    /// Told when one is answered.
    finished: Notify,
}

/// Counts a bulk request as being sent until dropped (answered, or given up), then wakes the waiting creates.
struct Sending<'a>(&'a Bulk);

impl<'a> Sending<'a> {
    fn start(bulk: &'a Bulk) -> Self {
        bulk.sending.fetch_add(1, Ordering::SeqCst);
        Self(bulk)
    }
}

impl Drop for Sending<'_> {
    fn drop(&mut self) {
        self.0.sending.fetch_sub(1, Ordering::SeqCst);
        self.0.finished.notify_waiters();
    }
}

impl std::fmt::Debug for Bulk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bulk")
            .field("enabled", &self.enabled)
            .field("limits", &self.limits.get())
            .field("refused", &self.refused)
            .finish_non_exhaustive()
    }
}

impl Bulk {
    /// Bulk state for an app; `enabled` is its `bulk` setting.
    pub fn new(enabled: bool) -> Self {
        Self {
            enabled,
            limits: OnceCell::new(),
            refused: AtomicBool::new(false),
            next_id: AtomicU64::new(0),
            waiting: Mutex::new(VecDeque::new()),
            sending: AtomicUsize::new(0),
            finished: Notify::new(),
        }
    }

    /// The limits, if known and creates go in bulk.
    pub fn known(&self) -> Option<Limits> {
        if self.refused.load(Ordering::SeqCst) {
            return None;
        }
        self.limits.get().copied().flatten()
    }

    fn queue(&self) -> std::sync::MutexGuard<'_, VecDeque<Waiting>> {
        self.waiting
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether the waiting creates should go now: no bulk request is on its way (an idle app's create is not
    /// held back), or they fill half a request.
    fn worth_a_request(&self, limits: Limits) -> bool {
        self.sending.load(Ordering::SeqCst) == 0 || self.queue().len() >= limits.operations.div_ceil(2)
    }

    /// The waiting creates, oldest first, that fit in one request.
    fn take(&self, limits: Limits) -> Vec<Waiting> {
        let mut queue = self.queue();
        let mut batch = Vec::new();
        let mut bytes = ENVELOPE;
        while let Some(next) = queue.front() {
            if batch.len() == limits.operations || bytes + next.text.len() + 1 > limits.payload {
                break;
            }
            bytes += next.text.len() + 1;
            batch.extend(queue.pop_front());
        }
        batch
    }
}

impl ScimTarget {
    /// The target's bulk limits when creates go in bulk to it: the app allows it, the target advertises Bulk and
    /// has not refused it. The first call reads `/ServiceProviderConfig` (not traced: no object asked for it); a
    /// target that cannot be reached is asked again next time.
    pub(crate) async fn bulk_limits(&self, http: &Http) -> Option<Limits> {
        let bulk = &self.bulk;
        if !bulk.enabled || bulk.refused.load(Ordering::SeqCst) {
            return None;
        }
        let read = bulk.limits.get_or_try_init(|| async {
            let path = "/ServiceProviderConfig";
            let request = Request {
                what: "GET /ServiceProviderConfig",
                method: reqwest::Method::GET,
                path,
                query: &[],
                body: None,
            };
            let slot = http.gate.slot().await;
            match Box::pin(http.exchange(slot, request, &[], |_, _, _| {})).await {
                Ok((_, config)) => Ok(config.as_ref().and_then(Limits::advertised)),
                // The target answered, and has no configuration to read.
                Err(e) if matches!(e.status, Some(404 | 405 | 501)) => Ok(None),
                Err(e) => Err(e),
            }
        });
        read.await.ok().copied().flatten()
    }

    /// Creates `payload` through a bulk request; `None` when it must go on its own (too large for a bulk
    /// request, or the target refused `/Bulk`).
    pub(crate) async fn create_in_bulk(
        &self,
        http: &Http,
        kind: ResourceKind,
        payload: &Map<String, Value>,
        limits: Limits,
    ) -> Option<Result<Map<String, Value>, TargetError>> {
        let path = format!("/{}", kind.endpoint());
        let what = format!("POST {path}");
        if let Err(e) = http.gate.check_deferred(&what) {
            return Some(Err(e));
        }
        let bulk = &self.bulk;
        let bulk_id = bulk.next_id.fetch_add(1, Ordering::SeqCst).to_string();
        let text = json!({"method": "POST", "path": path, "bulkId": bulk_id, "data": payload}).to_string();
        if text.len() + ENVELOPE > limits.payload {
            return None;
        }
        let (tx, mut rx) = oneshot::channel();
        bulk.queue().push_back(Waiting {
            bulk_id,
            what: what.clone(),
            text,
            tx,
        });
        let answer = loop {
            // Registered before looking, so a request finishing in between still wakes this create.
            let finished = bulk.finished.notified();
            tokio::pin!(finished);
            finished.as_mut().enable();
            if !bulk.worth_a_request(limits) {
                // Bulk requests are on their way and few creates wait: they go together when one is answered,
                // rather than each in a request of its own.
                tokio::select! {
                    biased;
                    answer = &mut rx => break answer,
                    () = &mut finished => continue,
                }
            }
            tokio::select! {
                biased;
                answer = &mut rx => break answer,
                slot = http.gate.slot() => {
                    if bulk.refused.load(Ordering::SeqCst) {
                        // Refused while this create waited: none of the waiting creates goes in bulk.
                        drop(slot);
                        let waiting: Vec<Waiting> = bulk.queue().drain(..).collect();
                        for w in waiting {
                            let _ = w.tx.send(Answer::Refused);
                        }
                        break rx.await;
                    }
                    let batch = bulk.take(limits);
                    if batch.is_empty() {
                        // Another request carries this create.
                        drop(slot);
                        break rx.await;
                    }
                    let _sending = Sending::start(bulk);
                    Box::pin(self.send_bulk(http, slot, batch)).await;
                }
            }
        };
        match answer {
            Ok(Answer::Refused) => None,
            Ok(Answer::Done {
                result,
                status,
                response,
            }) => {
                let body = Value::Object(payload.clone());
                let text = response.as_ref().map(Value::to_string);
                let traced = format!("{path} (in /Bulk)");
                crate::trace::record(
                    "POST",
                    &traced,
                    &[],
                    Some(&body),
                    status,
                    text.as_deref(),
                    response.as_ref(),
                );
                Some(result)
            }
            Err(_) => Some(Err(TargetError {
                code: &codes::TARGET_UNREACHABLE,
                status: None,
                message: format!("{what}: the /Bulk request carrying it was given up before it was answered"),
                retry_after: None,
                held_back: false,
            })),
        }
    }

    /// Sends `batch` as one bulk request in `slot` and answers each of its creates.
    async fn send_bulk(&self, http: &Http, slot: Slot<'_>, batch: Vec<Waiting>) {
        let answer_all = |batch: Vec<Waiting>, answer: &dyn Fn() -> Answer| {
            for w in batch {
                let _ = w.tx.send(answer());
            }
        };
        if let Err(e) = http.gate.admit("POST /Bulk").await {
            answer_all(batch, &|| done(Err(e.clone())));
            return;
        }
        let mut body = String::from(
            r#"{"schemas":["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],"Operations":["#,
        );
        for (i, w) in batch.iter().enumerate() {
            if i > 0 {
                body.push(',');
            }
            body.push_str(&w.text);
        }
        body.push_str("]}");
        tracing::debug!(operations = batch.len(), bytes = body.len(), "bulk request");
        let request = Request {
            what: "POST /Bulk",
            method: reqwest::Method::POST,
            path: "/Bulk",
            query: &[],
            body: Some(body),
        };
        match Box::pin(http.exchange(slot, request, &[], |_, _, _| {})).await {
            Ok((_, Some(answer))) => {
                let results: HashMap<&str, &Value> = answer
                    .get("Operations")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(|op| Some((op.get("bulkId")?.as_str()?, op)))
                    .collect();
                for w in batch {
                    let answer = match results.get(w.bulk_id.as_str()) {
                        Some(op) => Self::operation_answer(http, &w.what, op),
                        None => done(Err(TargetError {
                            code: &codes::TARGET_BAD_ANSWER,
                            status: Some(200),
                            message: format!(
                                "{} (in /Bulk): the answer has no result for this operation; roster asks again \
                                 (an account the target did create is then found and linked)",
                                w.what
                            ),
                            retry_after: None,
                            held_back: false,
                        })),
                    };
                    let _ = w.tx.send(answer);
                }
            }
            Ok((status, None)) => answer_all(batch, &|| {
                done(Err(TargetError {
                    code: &codes::TARGET_BAD_ANSWER,
                    status: Some(status),
                    message: format!("POST /Bulk answered {status} without a BulkResponse"),
                    retry_after: None,
                    held_back: false,
                }))
            }),
            Err(e) if matches!(e.status, Some(400 | 404 | 405 | 413 | 501)) => {
                if !self.bulk.refused.swap(true, Ordering::SeqCst) {
                    tracing::warn!(error = %e, "the app refused /Bulk; creates go one by one from now on");
                }
                answer_all(batch, &|| Answer::Refused);
            }
            Err(e) => answer_all(batch, &|| done(Err(e.clone()))),
        }
    }

    /// One operation's result in a BulkResponse.
    fn operation_answer(http: &Http, what: &str, op: &Value) -> Answer {
        let status = match op.get("status") {
            Some(Value::String(s)) => s.trim().parse::<u16>().ok(),
            Some(Value::Number(n)) => n.as_u64().and_then(|n| u16::try_from(n).ok()),
            _ => None,
        };
        let response = op.get("response").cloned();
        let what = format!("{what} (in /Bulk)");
        let Some(status) = status else {
            return done(Err(TargetError {
                code: &codes::TARGET_BAD_ANSWER,
                status: Some(200),
                message: format!("{what}: the operation's result has no status"),
                retry_after: None,
                held_back: false,
            }));
        };
        if !(200..300).contains(&status) {
            let text = response.as_ref().map(Value::to_string).unwrap_or_default();
            return Answer::Done {
                result: Err(http.failure(&what, status, &text, None)),
                status: Some(status),
                response,
            };
        }
        let id = response
            .as_ref()
            .and_then(|r| r.get("id"))
            .and_then(Value::as_str)
            .map(str::to_owned)
            .or_else(|| {
                let location = op.get("location")?.as_str()?;
                let last = location.trim_end_matches('/').rsplit('/').next()?;
                Some(percent_decode(last)).filter(|id| !id.is_empty())
            });
        let result = match (id, response.as_ref()) {
            (Some(id), Some(Value::Object(r))) if r.get("id").is_some() => {
                let mut r = r.clone();
                r.insert("id".into(), Value::String(id));
                Ok(r)
            }
            (Some(id), _) => Ok(Map::from_iter([("id".to_owned(), Value::String(id))])),
            (None, _) => Err(TargetError {
                code: &codes::TARGET_BAD_ANSWER,
                status: Some(status),
                message: format!("{what} answered {status} without the new account's location or id"),
                retry_after: None,
                held_back: false,
            }),
        };
        // The trace keeps only the id of an accepted create.
        let traced = result
            .as_ref()
            .ok()
            .map(|r| json!({"id": r.get("id").cloned().unwrap_or(Value::Null)}));
        Answer::Done {
            result,
            status: Some(status),
            response: traced.or(response),
        }
    }
}

/// An answer roster made up (the request failed as a whole, or its answer lacks the operation): the trace
/// shows the message.
fn done(result: Result<Map<String, Value>, TargetError>) -> Answer {
    let (status, response) = match &result {
        Ok(_) => (None, None),
        Err(e) => (e.status, Some(Value::String(e.message.clone()))),
    };
    Answer::Done {
        result,
        status,
        response,
    }
}

/// `%XX` escapes decoded (an id in a `Location` URL); anything that is not valid UTF-8 afterwards is kept as
/// it was.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| char::from(b).to_digit(16);
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push(u8::try_from(h * 16 + l).unwrap_or(b'?'));
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap_or_else(|_| s.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_come_from_the_service_provider_config() {
        let spc = |bulk: Value| json!({ "bulk": bulk });
        assert_eq!(
            Limits::advertised(&spc(
                json!({"supported": true, "maxOperations": 1000, "maxPayloadSize": 1_048_576})
            )),
            Some(Limits {
                operations: MOST_OPERATIONS,
                payload: 1_048_576
            })
        );
        assert_eq!(
            Limits::advertised(&spc(json!({"supported": true, "maxOperations": 10}))),
            Some(Limits {
                operations: 10,
                payload: 1 << 20
            })
        );
        assert_eq!(
            Limits::advertised(&spc(
                json!({"supported": false, "maxOperations": 10, "maxPayloadSize": 1000})
            )),
            None
        );
        assert_eq!(
            Limits::advertised(&spc(
                json!({"supported": true, "maxOperations": 1, "maxPayloadSize": 100_000})
            )),
            None
        );
        assert_eq!(Limits::advertised(&json!({"patch": {"supported": true}})), None);
    }

    fn result(op: Value) -> Result<Map<String, Value>, TargetError> {
        let http = Http::bearer_for_tests("http://127.0.0.1:9/scim/v2");
        match ScimTarget::operation_answer(&http, "POST /Users", &op) {
            Answer::Done { result, .. } => result,
            Answer::Refused => panic!("an operation's answer is never a refusal"),
        }
    }

    #[test]
    fn each_operation_is_answered_from_its_own_result() {
        let created = result(json!({"method": "POST", "bulkId": "0", "status": "201",
            "location": "https://app.example.com/scim/v2/Users/a%2Fb"}))
        .expect("created");
        assert_eq!(created.get("id"), Some(&json!("a/b")));
        let created = result(json!({"method": "POST", "bulkId": "1", "status": 201,
            "response": {"id": "x1", "userName": "u"}}))
        .expect("created");
        assert_eq!(
            (created.get("id"), created.get("userName")),
            (Some(&json!("x1")), Some(&json!("u")))
        );
        let clash = result(json!({"method": "POST", "bulkId": "2", "status": "409",
            "response": {"schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"], "status": "409",
                         "scimType": "uniqueness", "detail": "userName is taken"}}))
        .expect_err("a clash");
        assert_eq!(
            (clash.status, clash.code.code),
            (Some(409), codes::TARGET_UNIQUENESS.code)
        );
        assert!(
            clash
                .message
                .contains("POST /Users (in /Bulk) answered 409 uniqueness"),
            "{}",
            clash.message
        );
        let no_status = result(json!({"method": "POST", "bulkId": "3"})).expect_err("no status");
        assert_eq!(no_status.code.code, codes::TARGET_BAD_ANSWER.code);
        let no_id = result(json!({"method": "POST", "bulkId": "4", "status": "201"})).expect_err("no id");
        assert_eq!(
            (no_id.code.code, no_id.status),
            (codes::TARGET_BAD_ANSWER.code, Some(201))
        );
    }

    #[test]
    fn ids_in_locations_are_decoded() {
        assert_eq!(percent_decode("a%2Fb%20c"), "a/b c");
        assert_eq!(percent_decode("plain-id"), "plain-id");
        assert_eq!(percent_decode("bad%zzend%4"), "bad%zzend%4");
        assert_eq!(percent_decode("%E2%82%AC"), "€");
        assert_eq!(percent_decode("%FF"), "%FF");
    }
}
