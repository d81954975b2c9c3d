//! SCIM protocol errors (RFC 7644 §3.12) and the one table that maps each error kind to its HTTP status and
//! `scimType`.
//!
//! Every fallible function in this crate returns [`ScimError`]. Its `detail` is written for the client: it names
//! the attribute, path or position at fault and never echoes secrets or internal state.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::fmt;

/// The SCIM error message schema URN.
pub const ERROR_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:Error";

/// The longest `detail` an error body carries, in characters; longer ones are cut and say how much was cut.
pub const MAX_DETAIL_CHARS: usize = 1000;

/// `detail` cut to [`MAX_DETAIL_CHARS`] characters, saying how many were cut.
pub fn truncate_detail(detail: &str) -> String {
    match detail.char_indices().nth(MAX_DETAIL_CHARS) {
        None => detail.to_owned(),
        Some((at, _)) => {
            let cut = detail[at..].chars().count();
            format!("{}… ({cut} more characters cut)", &detail[..at])
        }
    }
}

/// What went wrong, as a closed set. Each kind has exactly one HTTP status and at most one `scimType`; see
/// [`ErrorKind::status`] and [`ErrorKind::scim_type`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// `invalidFilter`: the filter syntax is invalid or names an attribute/operator combination that is not allowed.
    InvalidFilter,
    /// `tooMany`: the filter would return more results than the server is willing to compute.
    TooMany,
    /// `uniqueness`: a value conflicts with one that must be unique.
    Uniqueness,
    /// `mutability`: the request tried to change an attribute its mutability forbids.
    Mutability,
    /// `invalidSyntax`: the request body is not valid JSON or not the expected message.
    InvalidSyntax,
    /// `invalidPath`: a PATCH path is malformed or names an unknown attribute.
    InvalidPath,
    /// `noTarget`: a PATCH path with a value filter matched nothing.
    NoTarget,
    /// `invalidValue`: a required value is missing or a value has the wrong type or form.
    InvalidValue,
    /// `invalidVers`: the SCIM protocol version is not supported.
    InvalidVers,
    /// `sensitive`: the request put sensitive data in the URI.
    Sensitive,
    /// `invalidCursor` (RFC 9865): the `cursor` value is not one this server gave out.
    InvalidCursor,
    /// 401: no or bad credentials.
    Unauthorized,
    /// 403: credentials valid but not allowed to do this.
    Forbidden,
    /// 404: the resource or endpoint does not exist.
    NotFound,
    /// 405: the endpoint does not support this HTTP method.
    MethodNotAllowed,
    /// 409 without `scimType`: a version conflict other than an `If-Match` failure.
    Conflict,
    /// 412: `If-Match` did not match the current version.
    PreconditionFailed,
    /// 408: the request did not arrive, or was not answered, within the server's time limit.
    RequestTimeout,
    /// 413: the request exceeds a size or operation limit.
    PayloadTooLarge,
    /// 414: the request target (path and query) is longer than the server accepts.
    UriTooLong,
    /// 431: the request's header section is larger than the server accepts.
    HeadersTooLarge,
    /// 429: the client must slow down.
    TooManyRequests,
    /// 500: the server failed; the detail never carries internal text.
    Internal,
    /// 501: the operation is not implemented.
    NotImplemented,
    /// 503: temporarily unavailable.
    Unavailable,
}

impl ErrorKind {
    /// The HTTP status that goes with this kind.
    pub const fn status(self) -> u16 {
        match self {
            Self::InvalidFilter
            | Self::TooMany
            | Self::Mutability
            | Self::InvalidSyntax
            | Self::InvalidPath
            | Self::NoTarget
            | Self::InvalidValue
            | Self::InvalidVers
            | Self::Sensitive
            | Self::InvalidCursor => 400,
            Self::Unauthorized => 401,
            Self::Forbidden => 403,
            Self::NotFound => 404,
            Self::MethodNotAllowed => 405,
            Self::Uniqueness | Self::Conflict => 409,
            Self::PreconditionFailed => 412,
            Self::RequestTimeout => 408,
            Self::PayloadTooLarge => 413,
            Self::UriTooLong => 414,
            Self::HeadersTooLarge => 431,
            Self::TooManyRequests => 429,
            Self::Internal => 500,
            Self::NotImplemented => 501,
            Self::Unavailable => 503,
        }
    }

    /// The RFC 7644 §3.12 `scimType` keyword, where the kind has one.
    pub const fn scim_type(self) -> Option<&'static str> {
        Some(match self {
            Self::InvalidFilter => "invalidFilter",
            Self::TooMany => "tooMany",
            Self::Uniqueness => "uniqueness",
            Self::Mutability => "mutability",
            Self::InvalidSyntax => "invalidSyntax",
            Self::InvalidPath => "invalidPath",
            Self::NoTarget => "noTarget",
            Self::InvalidValue => "invalidValue",
            Self::InvalidVers => "invalidVers",
            Self::Sensitive => "sensitive",
            Self::InvalidCursor => "invalidCursor",
            _ => return None,
        })
    }

    /// The kind for a `scimType` keyword (case-insensitive), as a client reads it from a peer's error.
    pub fn from_scim_type(s: &str) -> Option<Self> {
        ALL_WITH_TYPE
            .iter()
            .copied()
            .find(|k| k.scim_type().is_some_and(|t| t.eq_ignore_ascii_case(s)))
    }

    /// The kind a bare HTTP status most likely means, for peers that send no `scimType`.
    pub fn from_status(status: u16) -> Self {
        match status {
            401 => Self::Unauthorized,
            403 => Self::Forbidden,
            404 => Self::NotFound,
            405 => Self::MethodNotAllowed,
            409 => Self::Conflict,
            408 => Self::RequestTimeout,
            412 => Self::PreconditionFailed,
            413 => Self::PayloadTooLarge,
            414 => Self::UriTooLong,
            431 => Self::HeadersTooLarge,
            429 => Self::TooManyRequests,
            501 => Self::NotImplemented,
            503 => Self::Unavailable,
            400..=499 => Self::InvalidValue,
            _ => Self::Internal,
        }
    }
}

const ALL_WITH_TYPE: [ErrorKind; 11] = [
    ErrorKind::InvalidFilter,
    ErrorKind::TooMany,
    ErrorKind::Uniqueness,
    ErrorKind::Mutability,
    ErrorKind::InvalidSyntax,
    ErrorKind::InvalidPath,
    ErrorKind::NoTarget,
    ErrorKind::InvalidValue,
    ErrorKind::InvalidVers,
    ErrorKind::Sensitive,
    ErrorKind::InvalidCursor,
];

/// A SCIM error: a kind (which fixes status and `scimType`) and a human-readable detail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScimError {
    /// What went wrong.
    pub kind: ErrorKind,
    /// A sentence for the client saying what is wrong and, where it helps, how to fix it.
    pub detail: String,
}

impl ScimError {
    /// A new error of `kind` with `detail`.
    pub fn new(kind: ErrorKind, detail: impl Into<String>) -> Self {
        Self {
            kind,
            detail: detail.into(),
        }
    }
    /// `400 invalidFilter`.
    pub fn invalid_filter(detail: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidFilter, detail)
    }
    /// `400 invalidValue`.
    pub fn invalid_value(detail: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidValue, detail)
    }
    /// `400 invalidSyntax`.
    pub fn invalid_syntax(detail: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidSyntax, detail)
    }
    /// `400 invalidPath`.
    pub fn invalid_path(detail: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidPath, detail)
    }
    /// `400 noTarget`.
    pub fn no_target(detail: impl Into<String>) -> Self {
        Self::new(ErrorKind::NoTarget, detail)
    }
    /// `400 mutability`.
    pub fn mutability(detail: impl Into<String>) -> Self {
        Self::new(ErrorKind::Mutability, detail)
    }
    /// `409 uniqueness`.
    pub fn uniqueness(detail: impl Into<String>) -> Self {
        Self::new(ErrorKind::Uniqueness, detail)
    }
    /// `404`.
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, detail)
    }

    /// The HTTP status of this error.
    pub fn status(&self) -> u16 {
        self.kind.status()
    }

    /// The RFC 7644 §3.12 error message body.
    ///
    /// The detail is cut to [`MAX_DETAIL_CHARS`] characters: a detail that echoes input (a 70 KB PATCH path)
    /// must not make the error itself oversized.
    pub fn to_body(&self) -> ErrorBody {
        ErrorBody {
            schemas: vec![ERROR_SCHEMA.to_owned()],
            status: self.status().to_string(),
            scim_type: self.kind.scim_type().map(str::to_owned),
            detail: Some(truncate_detail(&self.detail)),
        }
    }

    /// Reads a peer's error response. Tolerates `status` as a number (common in the wild) and a missing or unknown
    /// `scimType` (the HTTP status decides then).
    pub fn from_response(http_status: u16, body: &Value) -> Self {
        let scim_type = body.get("scimType").and_then(Value::as_str);
        let kind = scim_type
            .and_then(ErrorKind::from_scim_type)
            .unwrap_or_else(|| ErrorKind::from_status(http_status));
        let detail = body
            .get("detail")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        Self { kind, detail }
    }
}

impl fmt::Display for ScimError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind.scim_type() {
            Some(t) => write!(f, "{} {}: {}", self.status(), t, self.detail),
            None => write!(f, "{}: {}", self.status(), self.detail),
        }
    }
}

impl std::error::Error for ScimError {}

/// The wire form of a SCIM error (RFC 7644 §3.12). `status` is a string, as the RFC's examples show.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// Always `[ERROR_SCHEMA]`.
    pub schemas: Vec<String>,
    /// The HTTP status as a string.
    pub status: String,
    /// The `scimType` keyword, for 400 and 409 errors that have one.
    #[serde(rename = "scimType", skip_serializing_if = "Option::is_none")]
    pub scim_type: Option<String>,
    /// Human-readable detail.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn long_details_are_cut_on_a_character_boundary() {
        let long = "é".repeat(MAX_DETAIL_CHARS + 5);
        let body = ScimError::invalid_path(format!("x{long}")).to_body();
        let d = body.detail.unwrap();
        assert!(d.ends_with("… (6 more characters cut)"), "{d}");
        assert_eq!(
            d.chars().count(),
            MAX_DETAIL_CHARS + "… (6 more characters cut)".chars().count()
        );
        assert_eq!(truncate_detail("short"), "short");
    }

    #[test]
    fn every_scim_type_round_trips_and_maps_to_rfc_status() {
        for kind in ALL_WITH_TYPE {
            let t = kind.scim_type().unwrap();
            assert_eq!(ErrorKind::from_scim_type(t), Some(kind));
            assert_eq!(ErrorKind::from_scim_type(&t.to_uppercase()), Some(kind));
            let expected = if kind == ErrorKind::Uniqueness { 409 } else { 400 };
            assert_eq!(kind.status(), expected, "{t}");
        }
    }

    #[test]
    fn body_matches_rfc_7644_example() {
        // RFC 7644 §3.12: status is a string; scimType present for 400s that have one.
        let e = ScimError::invalid_filter("bad");
        let v = serde_json::to_value(e.to_body()).unwrap();
        assert_eq!(
            v,
            json!({"schemas":[ERROR_SCHEMA],"status":"400","scimType":"invalidFilter","detail":"bad"})
        );
        let nf = serde_json::to_value(ScimError::not_found("Resource 2819c223 not found").to_body()).unwrap();
        assert_eq!(nf["status"], "404");
        assert!(nf.get("scimType").is_none());
    }

    #[test]
    fn reads_peer_errors_leniently() {
        let e = ScimError::from_response(
            409,
            &json!({"status": 409, "scimType": "uniqueness", "detail": "x"}),
        );
        assert_eq!(e.kind, ErrorKind::Uniqueness);
        let e = ScimError::from_response(404, &json!({"detail": "No user returned"}));
        assert_eq!(e.kind, ErrorKind::NotFound);
        assert_eq!(e.detail, "No user returned");
        let e = ScimError::from_response(400, &json!({"scimType": "somethingElse"}));
        assert_eq!(e.kind, ErrorKind::InvalidValue);
    }
}
