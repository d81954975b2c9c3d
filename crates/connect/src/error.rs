//! What a request to a target can end in besides success, and what discovery finds.

use roster_codes::{self as codes, Code};
use serde_json::{Map, Value};
use std::time::Duration;

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

impl TargetError {
    /// A failure with `code` and `message` and nothing else: no answer, no pause.
    pub fn new(code: &'static Code, message: impl Into<String>) -> Self {
        Self {
            code,
            status: None,
            message: message.into(),
            retry_after: None,
            held_back: false,
        }
    }

    /// The same failure, with the HTTP status the target answered.
    #[must_use]
    pub fn with_status(mut self, status: u16) -> Self {
        self.status = Some(status);
        self
    }

    /// A change roster will not send because the target cannot take it (`not sent: …`).
    pub fn not_sent(code: &'static Code, why: impl std::fmt::Display) -> Self {
        Self::new(code, format!("not sent: {why}"))
    }

    /// An answer in `status` without the resource it should carry (`what`: `GET /Users/1`; `resource`: what was
    /// expected, such as "the SCIM resource").
    pub fn bad_body(what: &str, status: u16, resource: &str) -> Self {
        Self::new(
            &codes::TARGET_BAD_ANSWER,
            format!("{what} answered {status} without {resource} it should return"),
        )
        .with_status(status)
    }
}

impl std::fmt::Display for TargetError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.message, self.code.code)
    }
}

impl std::error::Error for TargetError {}

/// What discovery found at a target.
#[derive(Debug, Clone)]
pub struct Discovery {
    /// `/ServiceProviderConfig` (for a target that is not SCIM, what roster knows of it in that shape).
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

/// A page of a listing: its resources, `totalResults` and `nextCursor` (RFC 9865; `None` when absent or empty).
pub type ListPage = (Vec<Map<String, Value>>, u64, Option<String>);
