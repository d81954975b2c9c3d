//! The requests made while syncing one object, summarised and redacted for the provisioning log.
//!
//! The connector records each exchange (method, path, query, request body, status, response body) into the
//! current task's trace when there is one; [`scope`] opens a trace around one object's sync and [`take`] reads it
//! as JSON text. Nothing secret is kept: the `Authorization` header is never recorded, values of attributes whose
//! names speak of passwords, secrets, tokens, credentials or keys become `"[redacted]"` (also as PATCH `path`s),
//! long strings and arrays are cut, and the whole trace is bounded. Redaction by name is not enough when a target
//! echoes a value in its error text (`"password 'Hunter2!' is too weak"`): the secret values of the object being
//! synced are remembered for the trace's scope ([`remember_secrets`], and every request body recorded), and
//! [`scrub`] takes them out of any text (answers, the log message) by value.

use serde_json::{Map, Value, json};
use std::cell::RefCell;
use std::future::Future;

tokio::task_local! {
    static EXCHANGES: RefCell<Vec<Value>>;
    static SECRETS: RefCell<Vec<String>>;
}

/// Secret values shorter than this are not scrubbed by value: they would blank out ordinary words.
const MIN_SCRUBBED: usize = 4;

/// What a redacted value reads.
pub const REDACTED: &str = "[redacted]";
/// Longest string kept whole.
const MAX_STRING: usize = 120;
/// Most array items kept.
const MAX_ITEMS: usize = 10;
/// Deepest nesting kept.
const MAX_DEPTH: usize = 6;
/// Most exchanges kept for one object (the last ones).
const MAX_EXCHANGES: usize = 8;
/// Longest trace text; beyond it bodies are dropped, oldest first.
const MAX_TEXT: usize = 6_000;

/// Runs `f` with a fresh trace.
pub async fn scope<F: Future>(f: F) -> F::Output {
    SECRETS
        .scope(
            RefCell::new(Vec::new()),
            EXCHANGES.scope(RefCell::new(Vec::new()), f),
        )
        .await
}

/// Remembers the values of `v`'s secret-named attributes (and of PATCH operations on them) for [`scrub`].
pub fn remember_secrets(v: &Value) {
    fn walk(v: &Value, hidden: bool, out: &mut Vec<String>) {
        match v {
            Value::String(s) if hidden && s.chars().count() >= MIN_SCRUBBED => out.push(s.clone()),
            Value::Array(items) => items.iter().for_each(|i| walk(i, hidden, out)),
            Value::Object(o) => {
                let secret_op = o.get("path").and_then(Value::as_str).is_some_and(is_secret_name);
                for (k, val) in o {
                    walk(
                        val,
                        hidden || is_secret_name(k) || (secret_op && k.eq_ignore_ascii_case("value")),
                        out,
                    );
                }
            }
            _ => {}
        }
    }
    let mut found = Vec::new();
    walk(v, false, &mut found);
    if found.is_empty() {
        return;
    }
    let _ = SECRETS.try_with(|s| {
        let mut s = s.borrow_mut();
        for f in found {
            if !s.contains(&f) {
                s.push(f);
            }
        }
    });
}

/// `text` with every remembered secret value replaced by `[redacted]` (as it is, and as JSON escapes it).
pub fn scrub(text: &str) -> String {
    SECRETS
        .try_with(|s| {
            let mut out = text.to_owned();
            for secret in s.borrow().iter() {
                out = out.replace(secret.as_str(), REDACTED);
                let escaped = serde_json::to_string(secret).unwrap_or_default();
                let escaped = escaped.trim_matches('"');
                if escaped != secret {
                    out = out.replace(escaped, REDACTED);
                }
            }
            out
        })
        .unwrap_or_else(|_| text.to_owned())
}

/// A copy of `v` with the values of secret-named attributes (and of PATCH operations on them) replaced, nothing
/// else changed: for showing a payload whole (`roster app preview`, `roster provision`).
pub fn hide_secrets(v: &Value) -> Value {
    match v {
        Value::Array(items) => Value::Array(items.iter().map(hide_secrets).collect()),
        Value::Object(o) => with_secrets_hidden(o, hide_secrets),
        other => other.clone(),
    }
}

/// Whether the value under `k` in `o` is a secret: a secret-named attribute, or the `value` of a PATCH operation
/// whose `path` names one.
fn is_secret_entry(o: &Map<String, Value>, k: &str) -> bool {
    is_secret_name(k)
        || (k.eq_ignore_ascii_case("value")
            && o.get("path").and_then(Value::as_str).is_some_and(is_secret_name))
}

/// `o` with its secret entries replaced by `[redacted]` and `inner` applied to the others.
fn with_secrets_hidden(o: &Map<String, Value>, inner: impl Fn(&Value) -> Value) -> Value {
    Value::Object(
        o.iter()
            .map(|(k, v)| {
                let v = if is_secret_entry(o, k) {
                    Value::String(REDACTED.into())
                } else {
                    inner(v)
                };
                (k.clone(), v)
            })
            .collect(),
    )
}

/// The trace so far as a JSON array (`None` when no request was made, or outside [`scope`]); empties it.
pub fn take() -> Option<String> {
    let list = EXCHANGES
        .try_with(|t| std::mem::take(&mut *t.borrow_mut()))
        .ok()?;
    if list.is_empty() {
        return None;
    }
    Some(bounded(list))
}

/// One request: `status` is `None` when no answer came (`response` then says why); `parsed` is the response
/// as JSON when the caller has read it already. A write the app accepted (2xx to anything but GET) keeps only
/// the `id` of its answer: the rest echoes the request body, which the trace holds already.
pub(crate) fn record(
    method: &str,
    path: &str,
    query: &[(&str, &str)],
    body: Option<&Value>,
    status: Option<u16>,
    response: Option<&str>,
    parsed: Option<&Value>,
) {
    // Outside a trace there is nothing to do; skip the work.
    if EXCHANGES.try_with(|_| ()).is_err() {
        return;
    }
    let mut target = path.to_owned();
    for (i, (k, v)) in query.iter().enumerate() {
        target.push(if i == 0 { '?' } else { '&' });
        target.push_str(k);
        target.push('=');
        target.push_str(&cut(v));
    }
    let mut e = Map::new();
    e.insert("request".into(), Value::String(format!("{method} {target}")));
    if let Some(b) = body {
        remember_secrets(b);
        e.insert("body".into(), redact(b));
    }
    let scrubbed = response.map(scrub);
    let response = scrubbed.as_deref();
    let parsed_scrubbed = parsed.map(scrub_value);
    let parsed = parsed_scrubbed.as_ref();
    e.insert("status".into(), status.map_or(Value::Null, |s| json!(s)));
    let accepted_write = method != "GET" && status.is_some_and(|s| (200..300).contains(&s));
    if accepted_write {
        if let Some(id) = parsed.and_then(|v| v.get("id")) {
            e.insert("response".into(), json!({"id": redact(id)}));
        }
    } else if let Some(text) = response.map(str::trim).filter(|t| !t.is_empty()) {
        let summary = match parsed {
            Some(v) => redact(v),
            None => match serde_json::from_str::<Value>(text) {
                Ok(v) => redact(&v),
                Err(_) => Value::String(cut(text)),
            },
        };
        e.insert("response".into(), summary);
    }
    let _ = EXCHANGES.try_with(|t| {
        let mut t = t.borrow_mut();
        if t.len() == MAX_EXCHANGES {
            t.remove(0);
        }
        t.push(Value::Object(e));
    });
}

/// `v` with remembered secret values scrubbed from its strings.
fn scrub_value(v: &Value) -> Value {
    match v {
        Value::String(s) => Value::String(scrub(s)),
        Value::Array(items) => Value::Array(items.iter().map(scrub_value).collect()),
        Value::Object(o) => Value::Object(o.iter().map(|(k, val)| (k.clone(), scrub_value(val))).collect()),
        other => other.clone(),
    }
}

fn bounded(mut list: Vec<Value>) -> String {
    let mut text = Value::Array(list.clone()).to_string();
    for i in 0..list.len() {
        if text.len() <= MAX_TEXT {
            break;
        }
        if let Value::Object(e) = &mut list[i] {
            for k in ["body", "response"] {
                if let Some(v) = e.get_mut(k) {
                    *v = Value::String(format!("[{} bytes left out]", v.to_string().len()));
                }
            }
        }
        text = Value::Array(list.clone()).to_string();
    }
    text
}

/// Whether an attribute name (or PATCH path) names a secret.
pub fn is_secret_name(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    [
        "password",
        "secret",
        "token",
        "credential",
        "apikey",
        "api_key",
        "privatekey",
        "private_key",
    ]
    .iter()
    .any(|w| n.contains(w))
}

fn cut(s: &str) -> String {
    if s.len() <= MAX_STRING {
        return s.to_owned();
    }
    let mut end = MAX_STRING;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes)", &s[..end], s.len())
}

/// A copy of `v` with secrets replaced and long strings, arrays and deep nesting cut.
pub fn redact(v: &Value) -> Value {
    redact_at(v, 0)
}

fn redact_at(v: &Value, depth: usize) -> Value {
    match v {
        Value::String(s) => Value::String(cut(s)),
        Value::Array(items) if depth >= MAX_DEPTH => Value::String(format!("[{} items]", items.len())),
        Value::Object(_) if depth >= MAX_DEPTH => Value::String("{…}".into()),
        Value::Array(items) => {
            let mut out: Vec<Value> = items
                .iter()
                .take(MAX_ITEMS)
                .map(|i| redact_at(i, depth + 1))
                .collect();
            if items.len() > MAX_ITEMS {
                out.push(Value::String(format!("… {} more", items.len() - MAX_ITEMS)));
            }
            Value::Array(out)
        }
        Value::Object(o) => with_secrets_hidden(o, |v| redact_at(v, depth + 1)),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_redacted_wherever_they_sit() {
        let body = json!({
            "userName": "ann",
            "password": "hunter2",
            "urn:ietf:params:scim:schemas:extension:x:2.0:User": {"apiKey": "k-123", "badge": "7"},
            "Operations": [
                {"op": "replace", "path": "password", "value": "hunter3"},
                {"op": "replace", "value": {"password": "hunter4", "title": "Eng"}},
                {"op": "add", "path": "title", "value": "Eng"}
            ]
        });
        let r = redact(&body).to_string();
        for secret in ["hunter2", "hunter3", "hunter4", "k-123"] {
            assert!(!r.contains(secret), "{secret} leaked: {r}");
        }
        assert!(
            r.contains("\"userName\":\"ann\"") && r.contains("\"badge\":\"7\"") && r.contains("Eng"),
            "{r}"
        );
    }

    #[test]
    fn long_values_are_cut_and_the_trace_is_bounded() {
        let members: Vec<Value> = (0..1000).map(|i| json!({"value": format!("u{i}")})).collect();
        let r = redact(&json!({"members": members, "note": "x".repeat(5000)}));
        let m = r["members"].as_array().unwrap();
        assert_eq!(m.len(), MAX_ITEMS + 1);
        assert_eq!(m[MAX_ITEMS], json!("… 990 more"));
        assert!(r["note"].as_str().unwrap().ends_with("(5000 bytes)"));

        let big = json!({"blob": (0..10).map(|i| "y".repeat(100) + &i.to_string()).collect::<Vec<_>>()});
        let list: Vec<Value> = (0..MAX_EXCHANGES)
            .map(|_| json!({"request": "PUT /Groups/1", "body": big}))
            .collect();
        let text = bounded(list);
        assert!(text.len() <= MAX_TEXT, "{} bytes", text.len());
        assert!(text.contains("bytes left out"));
    }

    #[tokio::test]
    async fn a_trace_holds_only_its_own_task_s_requests() {
        record("GET", "/Users", &[], None, Some(200), None, None);
        let created = json!({"id": "9", "userName": "a", "password": "p"});
        let got = scope(async {
            record(
                "POST",
                "/Users",
                &[("x", "1")],
                Some(&json!({"password": "p"})),
                Some(201),
                Some(&created.to_string()),
                Some(&created),
            );
            record(
                "PATCH",
                "/Users/9",
                &[],
                None,
                Some(409),
                Some(r#"{"scimType":"uniqueness","detail":"taken"}"#),
                None,
            );
            take()
        })
        .await
        .unwrap();
        let v: Value = serde_json::from_str(&got).unwrap();
        assert_eq!(v.as_array().unwrap().len(), 2);
        assert_eq!(v[0]["request"], "POST /Users?x=1");
        assert_eq!(v[0]["body"]["password"], REDACTED);
        assert_eq!(v[0]["status"], 201);
        // An accepted write keeps only the id of its answer; a refusal keeps the answer.
        assert_eq!(v[0]["response"], json!({"id": "9"}));
        assert_eq!(v[1]["response"]["scimType"], "uniqueness");
        assert_eq!(scope(async { take() }).await, None, "no request, no trace");
    }
}
