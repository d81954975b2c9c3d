//! Reading a target's answer: its body (never beyond [`MAX_ANSWER_BYTES`]), its `Retry-After`, and the failures
//! before any answer (a connection that fails, a redirect roster does not follow) as [`TargetError`]s whose
//! messages are cut to a readable length.

use crate::error::TargetError;
use roster_codes as codes;
use std::time::Duration;

const MAX_DETAIL: usize = 400;

pub(crate) fn truncate(s: &str) -> String {
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

/// The largest answer roster reads from a target: a page of a thousand accounts is a few megabytes.
pub const MAX_ANSWER_BYTES: usize = 32 * 1024 * 1024;

/// Why an answer's body could not be read.
pub(crate) enum ReadError {
    Transport(reqwest::Error),
    TooLarge,
}

impl ReadError {
    pub(crate) fn within(self, what: &str) -> TargetError {
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
pub(crate) async fn read_capped(mut resp: reqwest::Response) -> Result<String, ReadError> {
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
pub(crate) fn redirect_error(what: &str, status: u16, headers: &reqwest::header::HeaderMap) -> TargetError {
    let location = headers
        .get(reqwest::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(|l| roster_codes::redact::redact_url(&truncate(l)));
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

pub(crate) fn transport(what: &str, e: &reqwest::Error) -> TargetError {
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

#[cfg(test)]
mod tests {
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
}
