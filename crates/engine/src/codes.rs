//! The roster codes the engine reports: one table with each code's title, cause, fix, category and whether a
//! retry can help, and the classifier that turns a target's answer into a code. Log entries, queue rows, the CLI
//! and plans all name these codes, so an admin can look any of them up.

/// What kind of problem a code is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Category {
    /// The app's settings are wrong.
    Configuration,
    /// The target refused roster's credentials.
    Authentication,
    /// The target refused the data.
    Rejected,
    /// Two accounts or identities collide.
    Conflict,
    /// Something expected is not there.
    NotFound,
    /// A licence or quota is exhausted.
    Limit,
    /// A passing failure; retrying helps.
    Transient,
    /// The target asked roster to slow down.
    RateLimit,
    /// roster itself failed.
    Internal,
}

/// One code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Code {
    /// The stable code.
    pub code: &'static str,
    /// A short title.
    pub title: &'static str,
    /// Why it happens.
    pub cause: &'static str,
    /// What to do.
    pub fix: &'static str,
    /// What kind of problem it is.
    pub category: Category,
    /// Whether roster retries on its own.
    pub retryable: bool,
}

macro_rules! codes {
    ($($name:ident = $code:literal, $cat:ident, $retry:literal, $title:literal, $cause:literal, $fix:literal;)*) => {
        $(
            #[doc = $title]
            pub const $name: Code = Code {
                code: $code, title: $title, cause: $cause, fix: $fix, category: Category::$cat, retryable: $retry,
            };
        )*
        /// Every code, in one table.
        pub const ALL: &[Code] = &[$($name),*];
    };
}

codes! {
    TARGET_UNREACHABLE = "R-TARGET-UNREACHABLE", Transient, true,
        "The app cannot be reached",
        "roster could not open a connection to the app's SCIM URL, or the connection broke or timed out.",
        "Check the SCIM URL (roster app show NAME) and that the app is up; roster retries with growing delays.";
    TARGET_UNAVAILABLE = "R-TARGET-UNAVAILABLE", Transient, true,
        "The app failed to answer",
        "The app answered with a server error (5xx).",
        "Nothing to do if it passes; roster retries with growing delays. If it persists, contact the app's vendor.";
    TARGET_RATE_LIMITED = "R-TARGET-RATE-LIMITED", RateLimit, true,
        "The app asked roster to slow down",
        "The app answered 429 (too many requests), possibly with a Retry-After time.",
        "Nothing to do: roster waits as long as the app asks before sending again.";
    TARGET_AUTH_FAILED = "R-TARGET-AUTH", Authentication, false,
        "The app refused roster's credentials",
        "The app answered 401: the token is wrong, expired or revoked, or the OAuth2 client was refused.",
        "Create a new token in the app and store it: roster app edit NAME --token-file FILE.";
    TARGET_FORBIDDEN = "R-TARGET-FORBIDDEN", Authentication, false,
        "The app does not allow this operation",
        "The app answered 403: the credentials are valid but lack a permission (or the API is switched off).",
        "Give the token or service account the permission to manage users and groups, or switch the API on.";
    TARGET_ENDPOINT = "R-TARGET-ENDPOINT", Configuration, false,
        "The SCIM URL is wrong",
        "The app answered 404 at the SCIM URL's discovery endpoints: it is not the base of a SCIM API.",
        "Use the app's SCIM base URL (it usually ends in /scim/v2): roster app edit NAME --scim-url URL.";
    TARGET_SCHEMA = "R-TARGET-SCHEMA", Configuration, false,
        "The app's schemas cannot be read",
        "The app's /Schemas, /ResourceTypes or /ServiceProviderConfig answer is not valid SCIM.",
        "Ask the app's vendor; roster still syncs the core attributes, but cannot check mappings against the app.";
    TARGET_REJECTED = "R-TARGET-REJECTED", Rejected, false,
        "The app rejected the data",
        "The app answered 400: a value is missing, too long or not allowed there.",
        "Read the app's message in the log, fix the value or the mapping, then sync again.";
    TARGET_UNIQUENESS = "R-TARGET-UNIQUENESS", Conflict, false,
        "The value is taken by another account",
        "The app answered 409: another account already has this userName, email or externalId.",
        "roster looks for the account and links it; if that fails, rename or remove the other account in the app.";
    TARGET_LIMIT = "R-TARGET-LIMIT", Limit, true,
        "The app is out of licences or quota",
        "The app refused the account because a licence or user limit is reached.",
        "Free or buy licences in the app; roster keeps the account pending and tries again later.";
    TARGET_NOT_FOUND = "R-TARGET-NOT-FOUND", NotFound, false,
        "The account is gone from the app",
        "The app answered 404 for an account roster had linked: someone deleted it in the app.",
        "Nothing to do: roster matches again or creates the account, as the app's stale-link policy says.";
    MATCH_AMBIGUOUS = "R-MATCH-AMBIGUOUS", Conflict, false,
        "Several accounts match this identity",
        "More than one account in the app has the matching value, so roster cannot tell which is this identity's.",
        "Remove or rename the extra accounts in the app, then sync again; roster creates nothing meanwhile.";
    ACCOUNT_CLAIMED = "R-ACCOUNT-CLAIMED", Conflict, false,
        "The matching account belongs to another identity",
        "The account that matches this identity is already linked to another directory object.",
        "Two identities share a matching value (userName or email): correct one of them in the directory.";
    SCOPE_GROUP_MISSING = "R-SCOPE-GROUP-MISSING", Configuration, false,
        "A scope group does not exist",
        "The app's scope names a group that is not in the directory (deleted or renamed).",
        "Fix the scope: roster app edit NAME --scope-group GROUP. Nobody is deprovisioned until it is fixed.";
    SCOPE_INVALID = "R-SCOPE-INVALID", Configuration, false,
        "The scope filter is not valid",
        "The app's scope filter is not a valid SCIM filter for Users.",
        "Fix the filter: roster app edit NAME --scope-filter FILTER (roster scim filter checks one).";
    MAPPING_INVALID = "R-MAPPING-INVALID", Configuration, false,
        "A mapping rule is not valid",
        "A mapping rule cannot be parsed or names an unknown function.",
        "Fix the rule: roster app edit NAME --map TARGET=EXPRESSION.";
    PROTECTED = "R-PROTECTED", Configuration, false,
        "The account is protected",
        "The account is on the app's protected list (such as the account roster connects with), so roster never disables or deletes it.",
        "Nothing to do. Remove it from the protected list if it really must be deprovisioned.";
    INTERNAL = "R-INTERNAL", Internal, true,
        "roster failed",
        "roster's own database or code failed while syncing.",
        "Look at roster's log; roster retries the object.";
}

/// The code for a code string.
pub fn find(code: &str) -> Option<&'static Code> {
    ALL.iter().find(|c| c.code.eq_ignore_ascii_case(code))
}

/// The code for a target's HTTP answer.
pub fn classify(status: u16, scim_type: Option<&str>, detail: &str) -> &'static Code {
    let d = detail.to_ascii_lowercase();
    let limit = ["licen", "limit exceeded", "limitexceeded", "quota", "seat"]
        .iter()
        .any(|w| d.contains(w));
    match status {
        401 => &TARGET_AUTH_FAILED,
        403 if limit => &TARGET_LIMIT,
        403 => &TARGET_FORBIDDEN,
        404 => &TARGET_NOT_FOUND,
        409 => &TARGET_UNIQUENESS,
        412 | 400 if limit => &TARGET_LIMIT,
        400 if scim_type == Some("uniqueness") => &TARGET_UNIQUENESS,
        429 => &TARGET_RATE_LIMITED,
        s if s >= 500 => &TARGET_UNAVAILABLE,
        _ => &TARGET_REJECTED,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn codes_are_unique_and_complete() {
        let mut seen = std::collections::HashSet::new();
        for c in ALL {
            assert!(seen.insert(c.code), "duplicate {}", c.code);
            assert!(c.code.starts_with("R-"));
            assert!(!c.cause.is_empty() && !c.fix.is_empty() && !c.title.is_empty());
        }
        assert_eq!(find("r-match-ambiguous").unwrap().code, MATCH_AMBIGUOUS.code);
    }

    #[test]
    fn answers_are_classified() {
        assert_eq!(classify(401, None, "").code, TARGET_AUTH_FAILED.code);
        assert_eq!(
            classify(409, Some("uniqueness"), "exists").code,
            TARGET_UNIQUENESS.code
        );
        assert_eq!(
            classify(412, None, "limitExceeded: domain user limit").code,
            TARGET_LIMIT.code
        );
        assert_eq!(
            classify(400, None, "license limit reached").code,
            TARGET_LIMIT.code
        );
        assert_eq!(
            classify(400, Some("invalidValue"), "bad").code,
            TARGET_REJECTED.code
        );
        assert_eq!(classify(429, None, "").code, TARGET_RATE_LIMITED.code);
        assert_eq!(classify(503, None, "").code, TARGET_UNAVAILABLE.code);
        assert_eq!(classify(404, None, "").code, TARGET_NOT_FOUND.code);
        let retryable: Vec<_> = ALL.iter().filter(|c| c.retryable).map(|c| c.code).collect();
        assert!(retryable.contains(&"R-TARGET-UNAVAILABLE") && !retryable.contains(&"R-TARGET-REJECTED"));
    }
}
