//! # roster-codes
//!
//! roster's error catalog: one table of stable codes, each with a title, cause, fix, category and whether roster
//! retries on its own; the classifiers that turn a target's answer (status, SCIM `scimType`, Google's reasons,
//! OAuth2 errors, message words) into a code; and [`explain()`], which recognises error texts of other provisioning
//! systems and of roster itself. The provisioning log, queue rows, the CLI and the SCIM server all name these
//! codes, so an admin can look any of them up (`roster explain CODE`).

pub mod explain;
pub use explain::{Explanation, Source, explain};

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

impl Code {
    /// The code as JSON: `code`, `title`, `category`, `retryable`, `cause`, `fix` (the CLI's and the API's form).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "code": self.code,
            "title": self.title,
            "category": self.category.name(),
            "retryable": self.retryable,
            "cause": self.cause,
            "fix": self.fix,
        })
    }
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
    // Configuration: the app's settings in roster are wrong.
    TARGET_ENDPOINT = "R-TARGET-ENDPOINT", Configuration, false,
        "The SCIM URL is wrong",
        "The app answered 404 at the SCIM URL's discovery endpoints: it is not the base of a SCIM API.",
        "Use the app's SCIM base URL (it usually ends in /scim/v2): roster app edit NAME --scim-url URL.";
    TARGET_SCHEMA = "R-TARGET-SCHEMA", Configuration, false,
        "The app's schemas cannot be read",
        "The app's /Schemas, /ResourceTypes or /ServiceProviderConfig answer is not valid SCIM, or the URL points elsewhere.",
        "Check the SCIM URL, then ask the app's vendor; roster still syncs the core attributes, but cannot check mappings against the app.";
    TARGET_API_DISABLED = "R-TARGET-API-DISABLED", Configuration, false,
        "The app's API is switched off",
        "The app (or the cloud project behind roster's credentials) has not enabled the API roster calls, or the account's edition cannot use APIs.",
        "Enable the API for the project or the domain in the app's admin console, wait a few minutes, then run roster app test NAME.";
    TARGET_NOT_INSTALLED = "R-TARGET-NOT-INSTALLED", Configuration, false,
        "The app is not set up for this organisation",
        "The app answered that it is not installed or provisioning is not configured on its side for this tenant.",
        "Install or enable the app for the organisation in its admin console, then run roster app test NAME.";
    SCOPE_GROUP_MISSING = "R-SCOPE-GROUP-MISSING", Configuration, false,
        "A scope group does not exist",
        "The app's scope names a group that is not in the directory: it was deleted (scopes keep a group's id, so a rename does not matter).",
        "Fix the scope: roster app edit NAME --scope-group GROUP (a displayName or an id). Nobody is deprovisioned until it is fixed.";
    SCOPE_INVALID = "R-SCOPE-INVALID", Configuration, false,
        "The scope filter is not valid",
        "The app's scope filter is not a valid SCIM filter for Users.",
        "Fix the filter: roster app edit NAME --scope-filter FILTER (roster scim filter checks one).";
    MAPPING_INVALID = "R-MAPPING-INVALID", Configuration, false,
        "A mapping rule is not valid",
        "A mapping rule cannot be parsed, names an unknown function, or targets an attribute the app's schema lacks.",
        "Fix the rule: roster app edit NAME --map TARGET=EXPRESSION; roster app test NAME checks rules against the app.";
    APP_STALE = "R-APP-STALE", Configuration, false,
        "The app's settings changed meanwhile",
        "The change was made against an older version of the app's settings: someone else changed them since they were read.",
        "Read the current settings (roster app show NAME), then make the change again with the new --if-version.";
    TARGET_REDIRECT = "R-TARGET-REDIRECT", Configuration, false,
        "The app answered with a redirect",
        "The app's URL answered 3xx with another address. roster does not follow redirects: the request would carry the app's credential and people's data (a mapped password included) to an address nobody configured.",
        "If the new address is the app's, make it the app's URL: roster app edit NAME --scim-url URL. Otherwise ask the app's owner why it redirects.";
    SECRET_KEY = "R-SECRET-KEY", Configuration, false,
        "The key that seals credentials is missing or wrong",
        "roster keeps the apps' credentials sealed under a key in a file; that file is missing, unreadable, or holds another key than the one the credentials were sealed with.",
        "Start roster with the key file the credentials were sealed with (--secret-key-file or ROSTER_SECRET_KEY_FILE); if it is lost, store each app's credential again: roster app edit NAME --token-file FILE.";
    PROTECTED = "R-PROTECTED", Configuration, false,
        "The account is protected",
        "The account is on the app's protected list (such as the account roster connects with), so roster never disables or deletes it.",
        "Nothing to do. Remove it from the protected list if it really must be deprovisioned.";

    // Authentication: the app refused roster's credentials or their permissions.
    TARGET_AUTH_FAILED = "R-TARGET-AUTH", Authentication, false,
        "The app refused roster's credentials",
        "The app answered 401: the token is wrong, expired or revoked, or the OAuth2 client was refused.",
        "Create a new token in the app and store it: roster app edit NAME --token-file FILE.";
    TARGET_OAUTH_GRANT = "R-TARGET-OAUTH-GRANT", Authentication, false,
        "The OAuth2 grant was refused",
        "The token endpoint answered invalid_grant: the account or user id in the grant is wrong, or the authorisation or refresh token expired or was revoked.",
        "Check the account roster acts as, authorise again in the app, and store the new credential: roster app edit NAME --token-file FILE.";
    TARGET_OAUTH_SCOPE = "R-TARGET-OAUTH-SCOPE", Authentication, false,
        "The OAuth2 client lacks a scope",
        "The OAuth2 client is not allowed the scopes roster asks for (unauthorized_client), or its permissions were revoked.",
        "Grant the client the scopes for users and groups (for Google: domain-wide delegation in the Admin console), or fix --oauth2-scope.";
    TARGET_CLIENT_DELETED = "R-TARGET-CLIENT-DELETED", Authentication, false,
        "The OAuth2 client or its project was deleted",
        "The app says the OAuth2 client roster uses, or the cloud project that owns it, no longer exists.",
        "Create a new client (and project if needed) with the same scopes, then store it: roster app edit NAME --oauth2-client-id ID --token-file FILE (for Google Workspace: a new service account with domain-wide delegation, then roster app edit NAME --google-key-file FILE).";
    TARGET_FORBIDDEN = "R-TARGET-FORBIDDEN", Authentication, false,
        "The app does not allow this operation",
        "The app answered 403: the credentials are valid but lack a permission, or the account roster acts as was suspended, deleted or lost its admin role.",
        "Give the token or service account the right to manage users and groups, and check that the account roster acts as is active.";

    // Rejected: the app refused the data in one request.
    TARGET_REJECTED = "R-TARGET-REJECTED", Rejected, false,
        "The app rejected the data",
        "The app answered 400 (or another 4xx) for this account: something in the request is not acceptable to it.",
        "Read the app's message in roster log NAME --object ID, fix the value or the mapping, then sync again.";
    TARGET_INVALID_VALUE = "R-TARGET-INVALID-VALUE", Rejected, false,
        "A value is not acceptable to the app",
        "The app refused a value: too long, wrong format (for example a userName that must be an email address), or an id or licence it does not know.",
        "Fix the value in the directory or change the mapping (roster app preview NAME --user U shows what is sent).";
    TARGET_MISSING_VALUE = "R-TARGET-MISSING-VALUE", Rejected, false,
        "A value the app requires is missing",
        "The app requires an attribute (or an entitlement) that roster did not send because the directory has no value or no mapping for it.",
        "Fill the attribute in the directory, or map it: roster app edit NAME --map 'ATTR=SOURCE' adds the rule to the app's mapping (default(SOURCE, \"value\") for users without one). roster app test NAME lists what the app requires that no rule maps; then roster retry NAME --code R-TARGET-MISSING-VALUE.";
    TARGET_ORG_UNIT = "R-TARGET-ORG-UNIT", Rejected, false,
        "The org unit does not exist in the app",
        "The account is placed in an org unit (or group path) the app does not have: the directory's and the app's org structures differ.",
        "Create the org unit in the app, or map the directory's org unit to one that exists (roster app edit NAME --map).";
    TARGET_MUTABILITY = "R-TARGET-MUTABILITY", Rejected, false,
        "The app does not allow changing this attribute",
        "The attribute is read-only or immutable in the app (scimType mutability), or the app's directory is locked to edits from this source.",
        "Stop mapping the attribute, or map it on create only (--map-on-create); unlock the app's directory if it is read-only on purpose.";
    TARGET_UNSUPPORTED = "R-TARGET-UNSUPPORTED", Rejected, false,
        "The app does not support this request",
        "The app does not understand the request's form (an unsupported key type, path, filter or method such as PATCH).",
        "roster falls back where it can (PUT for PATCH); otherwise report the app's message to its vendor.";
    TARGET_FILTER = "R-TARGET-FILTER", Rejected, true,
        "The app refused roster's search",
        "The app rejected the filter roster uses to find an existing account (invalidFilter), or said it matches too many (tooMany).",
        "roster retries attribute by attribute; if it persists, change the matching attributes: roster app edit NAME --matching userName.";
    TARGET_TOO_LARGE = "R-TARGET-TOO-LARGE", Rejected, false,
        "The request is too large for the app",
        "The app answered 413: the request (for example a group with many members) exceeds its size limit.",
        "Nothing to do for groups: roster sends member changes in smaller parts; otherwise shorten the values mapped.";
    TARGET_SENSITIVE = "R-TARGET-SENSITIVE", Rejected, false,
        "The app refuses sensitive data in this form",
        "The app answered scimType sensitive: the request carried sensitive data in a way it does not allow.",
        "Stop mapping the sensitive attribute (such as a password) to this app.";
    TARGET_BAD_ANSWER = "R-TARGET-BAD-ANSWER", Transient, true,
        "The app's answer is not valid SCIM",
        "The app answered success but its body is not the SCIM resource it should return.",
        "roster retries; if it persists, report it to the app's vendor with the entry from roster log NAME.";

    // Conflict: two accounts or identities collide.
    TARGET_UNIQUENESS = "R-TARGET-UNIQUENESS", Conflict, false,
        "The value is taken by another account",
        "The app answered 409 (or scimType uniqueness): another account already has this userName, email or externalId.",
        "roster looks for the account and links it; if that fails, rename or remove the other account in the app.";
    TARGET_TAKEN_ELSEWHERE = "R-TARGET-TAKEN-ELSEWHERE", Conflict, false,
        "The value is used by something roster cannot link",
        "The app says the value exists, but no account it lists matches: it is an alias, a group's address, or an account outside roster's reach (unmanaged or in another organisation).",
        "Find the value in the app's admin console; remove the alias or group, or move the other account into the organisation, then sync again.";
    MATCH_AMBIGUOUS = "R-MATCH-AMBIGUOUS", Conflict, false,
        "Several accounts match this identity",
        "More than one account in the app has the matching value, so roster cannot tell which is this identity's (often a duplicate left by an earlier tool).",
        "Remove or rename the extra accounts in the app, then sync again; roster creates nothing meanwhile.";
    MATCH_SETTING = "R-MATCH-SETTING", Conflict, false,
        "The app's matching does not look at the value the app found taken",
        "The app refused the create because an account already has a value (usually the userName), but the app's matching attributes (--matching) do not include it, so roster never found that account to link.",
        "Add the attribute to the matching, for example: roster app edit NAME --matching userName,emails.value; then roster retry NAME --code R-MATCH-SETTING.";
    ACCOUNT_CLAIMED = "R-ACCOUNT-CLAIMED", Conflict, false,
        "The matching account belongs to another identity",
        "The account that matches this identity is already linked to another directory object.",
        "Two identities share a matching value (userName or email): correct one of them in the directory.";

    // Not found.
    TARGET_NOT_FOUND = "R-TARGET-NOT-FOUND", NotFound, false,
        "The account is gone from the app",
        "The app answered 404 for an account roster had linked: someone deleted it in the app.",
        "Nothing to do: roster matches again or creates the account, as the app's stale-link policy says; a delete of a missing account is done.";
    TARGET_INACTIVE = "R-TARGET-INACTIVE", NotFound, true,
        "The account is deactivated in the app",
        "The app refused a change because the account is deactivated there, while the identity is in the app's scope.",
        "Nothing to do: roster reactivates the account (active: true) and sends the change again.";

    // Limit.
    TARGET_LIMIT = "R-TARGET-LIMIT", Limit, true,
        "The app is out of licences or quota",
        "The app refused the account because a licence or user limit is reached (suspended accounts often still hold a licence).",
        "Free or buy licences in the app; roster keeps the account pending and tries again later.";
    GUARD_DEPROVISIONS = "R-GUARD-DEPROVISIONS", Limit, false,
        "Too many deprovisions at once; held for approval",
        "More accounts would be disabled or deleted than the app's threshold allows (count or share of its accounts), as when a source or scope shrinks by mistake.",
        "Check why so many identities left (roster held NAME lists them); run roster approve NAME to go ahead, or roster approve NAME --discard.";

    // Transient.
    TARGET_UNREACHABLE = "R-TARGET-UNREACHABLE", Transient, true,
        "The app cannot be reached",
        "roster could not open a connection to the app's SCIM URL, or the connection broke or timed out.",
        "Check the SCIM URL (roster app show NAME) and that the app is up; roster retries with growing delays.";
    TARGET_UNAVAILABLE = "R-TARGET-UNAVAILABLE", Transient, true,
        "The app failed to answer",
        "The app answered with a server error (5xx) or said it is temporarily unavailable.",
        "Nothing to do if it passes; roster retries with growing delays. If it persists, contact the app's vendor.";
    TARGET_VERSION = "R-TARGET-VERSION", Transient, true,
        "The account changed in the app meanwhile",
        "The app refused the change because the account's version moved on since roster read it (412 or scimType invalidVers).",
        "Nothing to do: roster reads the account again and sends the change.";
    APP_QUARANTINED = "R-APP-QUARANTINED", Transient, true,
        "The app is quarantined",
        "Too many of roster's requests to the app failed in a short time (or its credentials were refused repeatedly), so roster paused the app instead of adding to the failures.",
        "Fix the cause named in roster app show NAME; roster probes at growing intervals and resumes by itself, or release it now: roster app release NAME.";

    // Rate limit.
    TARGET_RATE_LIMITED = "R-TARGET-RATE-LIMITED", RateLimit, true,
        "The app asked roster to slow down",
        "The app answered 429 (or a rate or quota limit message), possibly with a Retry-After time.",
        "Nothing to do: roster waits as long as the app asks before sending it anything; lower --rate if it happens often.";
    CLIENT_SLOWED = "R-CLIENT-SLOWED", RateLimit, true,
        "roster refuses this client for a while (inbound quarantine)",
        "Too many of this client's recent requests to roster's SCIM API failed by its own mistake (the share and the window are in the message), so every roster process answers its calls 429 with Retry-After until the time given, then accepts them on probation; failing again on probation refuses it for longer.",
        "Read the errors the client got (they name the cause) and fix them in the client (its mapping, its data). roster client show NAME says why and until when; roster client release NAME ends it at once.";

    // Internal.
    INTERNAL = "R-INTERNAL", Internal, true,
        "roster failed",
        "roster's own database or code failed while syncing.",
        "Look at roster's log; roster retries the object.";
}

impl Category {
    /// The category's name in plain words.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Configuration => "configuration",
            Self::Authentication => "authentication",
            Self::Rejected => "rejected by target",
            Self::Conflict => "conflict",
            Self::NotFound => "not found",
            Self::Limit => "limit",
            Self::Transient => "transient",
            Self::RateLimit => "rate limit",
            Self::Internal => "internal",
        }
    }
}

/// The code for a code string.
pub fn find(code: &str) -> Option<&'static Code> {
    ALL.iter().find(|c| c.code.eq_ignore_ascii_case(code))
}

/// The code for a target's HTTP answer: its status, SCIM `scimType` and message.
pub fn classify(status: u16, scim_type: Option<&str>, detail: &str) -> &'static Code {
    classify_full(status, scim_type, None, detail)
}

/// The code for a target's answer, with the machine-readable reason some APIs give besides SCIM's `scimType`
/// (Google's `error.errors[].reason`, OAuth2's `error`). Reason first, then `scimType`, then words in the message
/// that name a cause, then the bare status. Status 0 means no answer at all.
pub fn classify_full(
    status: u16,
    scim_type: Option<&str>,
    reason: Option<&str>,
    detail: &str,
) -> &'static Code {
    if let Some(code) = reason.and_then(|r| by_reason(r, detail)) {
        return code;
    }
    if let Some(code) = scim_type.and_then(|t| by_scim_type(t, detail)) {
        return code;
    }
    if let Some(code) = by_words(status, detail) {
        return code;
    }
    match status {
        0 => &TARGET_UNREACHABLE,
        401 => &TARGET_AUTH_FAILED,
        403 => &TARGET_FORBIDDEN,
        404 | 410 => &TARGET_NOT_FOUND,
        409 => &TARGET_UNIQUENESS,
        412 => &TARGET_VERSION,
        413 => &TARGET_TOO_LARGE,
        429 => &TARGET_RATE_LIMITED,
        405 | 501 => &TARGET_UNSUPPORTED,
        s if s >= 500 => &TARGET_UNAVAILABLE,
        _ => &TARGET_REJECTED,
    }
}

fn by_reason(reason: &str, detail: &str) -> Option<&'static Code> {
    Some(match reason {
        "rateLimitExceeded" | "userRateLimitExceeded" | "quotaExceeded" | "rateLimited" => {
            &TARGET_RATE_LIMITED
        }
        "limitExceeded" => &TARGET_LIMIT,
        "duplicate" => &TARGET_UNIQUENESS,
        "notFound" => &TARGET_NOT_FOUND,
        "conditionNotMet" => &TARGET_VERSION,
        "invalid_grant" => &TARGET_OAUTH_GRANT,
        "unauthorized_client" | "invalid_scope" => &TARGET_OAUTH_SCOPE,
        "deleted_client" => &TARGET_CLIENT_DELETED,
        "invalid_client" | "authError" | "unauthorized" => &TARGET_AUTH_FAILED,
        "domainCannotUseApis" | "accessNotConfigured" => &TARGET_API_DISABLED,
        "backendError" | "internalError" => &TARGET_UNAVAILABLE,
        "forbidden" | "insufficientPermissions" => {
            return Some(by_words(403, detail).unwrap_or(&TARGET_FORBIDDEN));
        }
        _ => return None,
    })
}

fn by_scim_type(scim_type: &str, detail: &str) -> Option<&'static Code> {
    Some(match scim_type {
        "uniqueness" => &TARGET_UNIQUENESS,
        "mutability" => &TARGET_MUTABILITY,
        "invalidFilter" | "tooMany" => &TARGET_FILTER,
        "invalidVers" => &TARGET_VERSION,
        "sensitive" => &TARGET_SENSITIVE,
        "invalidPath" | "noTarget" => &TARGET_UNSUPPORTED,
        "invalidValue" => by_words(400, detail).unwrap_or(&TARGET_INVALID_VALUE),
        _ => return None,
    })
}

/// Words in a message that name a cause more precisely than its status does.
fn by_words(status: u16, detail: &str) -> Option<&'static Code> {
    let d = detail.to_ascii_lowercase();
    let has = |words: &[&str]| words.iter().any(|w| d.contains(w));
    if d.is_empty() {
        return None;
    }
    let code = if has(&["licen", "limit exceeded", "limitexceeded", "user limit", "seat"]) {
        &TARGET_LIMIT
    } else if has(&["rate limit", "too many requests"]) {
        &TARGET_RATE_LIMITED
    } else if has(&[
        "invalid_ou_id",
        "org unit",
        "orgunit",
        "organizational unit",
        "organizationalunit",
    ]) {
        &TARGET_ORG_UNIT
    } else if has(&["cannot suspend self", "cannot delete self"]) {
        &PROTECTED
    } else if has(&["no user returned for user"]) {
        &TARGET_NOT_FOUND
    } else if status != 401
        && has(&[
            "account is inactive",
            "user is inactive",
            "deactivated user",
            "user is deactivated",
        ])
    {
        &TARGET_INACTIVE
    } else if has(&["has been deleted", "deleted_client", "client was deleted"]) {
        &TARGET_CLIENT_DELETED
    } else if has(&[
        "has not been used in project",
        "cannot use apis",
        "api has not been enabled",
        "it is disabled",
    ]) {
        &TARGET_API_DISABLED
    } else if has(&["not installed"]) {
        &TARGET_NOT_INSTALLED
    } else if (400..500).contains(&status)
        && has(&["already exists", "duplicate", "not unique", "must be unique"])
    {
        &TARGET_UNIQUENESS
    } else if (400..500).contains(&status)
        && has(&[
            "too long",
            "invalid license",
            "doesn't exist",
            "does not exist",
            "primary_user_email",
            "invalid scim",
        ])
    {
        &TARGET_INVALID_VALUE
    } else if (400..500).contains(&status) && has(&["required", "missing", "must have at least one"]) {
        &TARGET_MISSING_VALUE
    } else if (400..500).contains(&status) && has(&["not supported", "unsupported"]) {
        &TARGET_UNSUPPORTED
    } else if (400..500).contains(&status) && has(&["read-only", "readonly", "immutable"]) {
        &TARGET_MUTABILITY
    } else {
        return None;
    };
    Some(code)
}

/// A target's error answer, read from its body: SCIM errors (`scimType`, `detail`), Google's
/// (`error.errors[].reason`, `error.message`), OAuth2 token errors (`error`, `error_description`) or plain text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The HTTP status (the body's `status` when the caller passes 0 and the body has one).
    pub status: u16,
    /// SCIM's `scimType`.
    pub scim_type: Option<String>,
    /// A machine-readable reason besides `scimType` (Google, OAuth2).
    pub reason: Option<String>,
    /// The message, as the target wrote it.
    pub detail: String,
}

impl Answer {
    /// Reads an error body. Anything that is not JSON is kept as the message.
    pub fn read(status: u16, body: &str) -> Self {
        let json: Option<serde_json::Value> = serde_json::from_str(body.trim()).ok();
        let Some(j) = json.filter(serde_json::Value::is_object) else {
            return Self {
                status,
                scim_type: None,
                reason: None,
                detail: body.trim().to_owned(),
            };
        };
        let text = |v: Option<&serde_json::Value>| v.and_then(serde_json::Value::as_str).map(str::to_owned);
        let body_status = j
            .get("status")
            .and_then(|s| s.as_u64().or_else(|| s.as_str().and_then(|s| s.parse().ok())))
            .or_else(|| j.pointer("/error/code").and_then(serde_json::Value::as_u64))
            .and_then(|s| u16::try_from(s).ok());
        let reason = text(j.pointer("/error/errors/0/reason"))
            .or_else(|| text(j.get("error")).filter(|e| !e.contains(' ')));
        let detail = text(j.get("detail"))
            .or_else(|| text(j.pointer("/error/message")))
            .or_else(|| text(j.get("error_description")))
            .or_else(|| text(j.get("message")))
            .or_else(|| text(j.pointer("/errors/0/message")))
            .or_else(|| text(j.get("error")))
            .unwrap_or_default();
        Self {
            status: if status == 0 {
                body_status.unwrap_or(0)
            } else {
                status
            },
            scim_type: text(j.get("scimType")),
            reason,
            detail,
        }
    }

    /// The roster code for this answer.
    pub fn code(&self) -> &'static Code {
        classify_full(
            self.status,
            self.scim_type.as_deref(),
            self.reason.as_deref(),
            &self.detail,
        )
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
            assert!(c.cause.ends_with('.') && c.fix.ends_with('.'), "{}", c.code);
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
            TARGET_INVALID_VALUE.code
        );
        assert_eq!(classify(400, None, "bad").code, TARGET_REJECTED.code);
        assert_eq!(classify(400, Some("mutability"), "").code, TARGET_MUTABILITY.code);
        assert_eq!(classify(400, Some("invalidFilter"), "").code, TARGET_FILTER.code);
        assert_eq!(classify(412, None, "").code, TARGET_VERSION.code);
        assert_eq!(
            classify(400, None, "User account is inactive").code,
            TARGET_INACTIVE.code
        );
        assert_eq!(classify(0, None, "").code, TARGET_UNREACHABLE.code);
        assert_eq!(
            classify(400, None, "displayName is required").code,
            TARGET_MISSING_VALUE.code
        );
        // Google's reasons and OAuth2 errors, read from their bodies.
        let google = r#"{"error":{"code":403,"message":"Rate Limit Exceeded","errors":[{"reason":"userRateLimitExceeded"}]}}"#;
        assert_eq!(Answer::read(403, google).code().code, TARGET_RATE_LIMITED.code);
        let quota =
            r#"{"error":{"code":403,"message":"Quota exceeded","errors":[{"reason":"quotaExceeded"}]}}"#;
        assert_eq!(Answer::read(403, quota).code().code, TARGET_RATE_LIMITED.code);
        let licence = r#"{"error":{"code":412,"message":"Domain user limit reached.","errors":[{"reason":"limitExceeded"}]}}"#;
        assert_eq!(Answer::read(412, licence).code().code, TARGET_LIMIT.code);
        let oauth = r#"{"error":"invalid_grant","error_description":"Invalid email or User ID"}"#;
        let a = Answer::read(400, oauth);
        assert_eq!(
            (a.code().code, a.detail.as_str()),
            (TARGET_OAUTH_GRANT.code, "Invalid email or User ID")
        );
        let scim = r#"{"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"status":"409","scimType":"uniqueness","detail":"taken"}"#;
        let a = Answer::read(0, scim);
        assert_eq!((a.status, a.code().code), (409, TARGET_UNIQUENESS.code));
        assert_eq!(
            Answer::read(502, "<html>bad gateway</html>").code().code,
            TARGET_UNAVAILABLE.code
        );
        assert_eq!(classify(429, None, "").code, TARGET_RATE_LIMITED.code);
        assert_eq!(classify(503, None, "").code, TARGET_UNAVAILABLE.code);
        assert_eq!(classify(404, None, "").code, TARGET_NOT_FOUND.code);
        let retryable: Vec<_> = ALL.iter().filter(|c| c.retryable).map(|c| c.code).collect();
        assert!(retryable.contains(&"R-TARGET-UNAVAILABLE") && !retryable.contains(&"R-TARGET-REJECTED"));
    }
}
