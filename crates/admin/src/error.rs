//! What an admin operation can fail with: a kind every shell maps (an exit code, an HTTP status), a roster
//! code an admin can look up, and a message that says what to fix.

use roster_codes::{self as codes, Code};
use roster_store::StoreError;

/// The kind of failure, for the shell to answer with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// What the operation names does not exist (an app, a client, a user or group, a code).
    NotFound,
    /// A value given is not one the operation takes.
    Invalid,
    /// The operation cannot be done in the state things are in (a name already taken, an edit of a version
    /// changed since, an app in quarantine); the message says what to change first.
    Conflict,
    /// roster's database failed; the operation may or may not have happened (the message says which).
    Store,
}

/// A failed admin operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminError {
    /// The kind.
    pub failure: Failure,
    /// The roster code (`roster explain CODE`).
    pub code: &'static Code,
    /// What happened and what to do, in words.
    pub message: String,
}

impl AdminError {
    /// A failure of `failure`'s kind with `code`.
    pub(crate) fn with_code(failure: Failure, code: &'static Code, message: impl Into<String>) -> Self {
        Self {
            failure,
            code,
            message: message.into(),
        }
    }

    /// `what` does not exist.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::with_code(Failure::NotFound, &codes::ADMIN_NOT_FOUND, message)
    }

    /// A value given is wrong.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::with_code(Failure::Invalid, &codes::ADMIN_INVALID, message)
    }

    /// The exit code a command ends with: 2 for a mistake in what was asked (as for any CLI error), 3 when
    /// roster's database failed, 4 when the state things are in refuses it (a script may wait or alert).
    pub const fn exit_code(&self) -> u8 {
        match self.failure {
            Failure::NotFound | Failure::Invalid => 2,
            Failure::Store => 3,
            Failure::Conflict => 4,
        }
    }

    /// The HTTP status an API answers with.
    pub const fn http_status(&self) -> u16 {
        match self.failure {
            Failure::NotFound => 404,
            Failure::Invalid => 400,
            Failure::Conflict => 409,
            Failure::Store => 500,
        }
    }
}

impl std::fmt::Display for AdminError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.message, self.code.code)
    }
}

impl std::error::Error for AdminError {}

impl From<StoreError> for AdminError {
    fn from(e: StoreError) -> Self {
        match e {
            // A taken name (409) or a stale version (412) is a conflict with what is stored, not a bad value.
            StoreError::Scim(s) if matches!(s.status(), 409 | 412) => {
                Self::with_code(Failure::Conflict, &codes::ADMIN_CONFLICT, s.detail)
            }
            StoreError::Scim(s) => Self::invalid(s.detail),
            // A missing or wrong key file is the operator's to fix, with its own code and fix text; not a fault
            // of roster's.
            StoreError::SecretKey(m) => Self::with_code(Failure::Store, &codes::SECRET_KEY, m),
            other => Self::with_code(Failure::Store, &codes::INTERNAL, other.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_secret_key_is_named_as_such_not_as_an_internal_failure() {
        let e = AdminError::from(StoreError::SecretKey(
            "give it with --secret-key-file FILE".into(),
        ));
        assert_eq!(e.code.code, "R-SECRET-KEY");
        assert!(e.message.contains("--secret-key-file"), "{e}");
        assert_eq!(e.http_status(), 500);
        let other = AdminError::from(StoreError::Read("disk".into()));
        assert_eq!(other.code.code, "R-INTERNAL");
    }
}
