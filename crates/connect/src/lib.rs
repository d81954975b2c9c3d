//! # roster-connect
//!
//! roster's clients for the apps it provisions: one [`Connector`] per app, the same operations whatever the
//! kind of target (read, find, list, create, PATCH, PUT, delete, discover), every failure a [`TargetError`]
//! with a roster code (`roster_codes`) and a message that never carries a credential.
//!
//! | module | owns |
//! |---|---|
//! | [`config`] | [`TargetConfig`] (what kind of target an app is, where, how roster signs in) and [`Options`] |
//! | [`scim`] | SCIM 2.0 targets: requests, cursor listing, creates in `/Bulk` ([`scim::bulk`]), discovery |
//! | [`google`] | Google Workspace's Directory API: the SCIM view translated at the edge |
//! | [`auth`] | bearer tokens, OAuth2 client credentials, Google service-account assertions |
//! | [`gate`] | what every request passes: `Retry-After`, the halt after refused credentials, the rate limit (a [`RateLease`] shares it between processes), request slots |
//! | [`http`] | the HTTP exchange, answers turned into codes, the [`Observer`] told of each outcome |
//! | [`answer`] | reading an answer: its body within a bound, `Retry-After`, transport failures and redirects as errors |
//! | [`trace`] | the redacted summary of the requests made for one object, for the provisioning log |
//!
//! **The seam.** [`Connector`] holds the HTTP side every target shares and one [`Target`], an enum with one
//! variant per kind of target; each operation dispatches on it in one place (the `on_target!` arms below). An
//! enum rather than a trait object: the set of kinds is closed and in this crate, the async operations need no
//! boxing, and a new kind that forgets an operation does not compile. Adding a vendor API is one module (a
//! `…Target` type with these operations, translating the SCIM view the engine speaks at its edge, as
//! [`google`] does), one [`Target`] variant, one [`TargetConfig`] variant and one arm per operation here.
//!
//! **Must never import** `roster-store`, `roster-engine`, `roster-server` or the CLI: what this crate needs
//! from its owner (a shared rate budget, the outcome of each request) comes through [`RateLease`] and
//! [`Observer`], and credentials arrive as `roster_codes::redact::Secret`.

pub mod answer;
pub mod auth;
pub mod config;
pub mod error;
pub mod gate;
pub mod google;
pub mod http;
pub mod scim;
pub mod trace;

pub use answer::{MAX_ANSWER_BYTES, parse_retry_after};
pub use auth::Auth;
pub use config::{Options, TargetConfig};
pub use error::{Discovery, ListPage, TargetError};
pub use gate::{Clock, RateLease, system_clock};
pub use http::Observer;
pub use scim::bulk::Limits as BulkLimits;

use auth::{Authenticator, Credentials};
use gate::Gate;
use google::{GoogleTarget, ServiceAccount};
use http::Http;
use roster_codes::redact::Secret;
use roster_scim::{PatchOperation, ResourceKind};
use scim::ScimTarget;
use serde_json::{Map, Value};
use std::sync::Arc;

/// The kinds of target, each with its own client state.
#[derive(Debug)]
pub enum Target {
    /// A SCIM 2.0 service provider.
    Scim(ScimTarget),
    /// Google Workspace's Directory API.
    Google(GoogleTarget),
}

/// Runs `$call` with `$t` bound to the target's client, whatever its kind: the one place operations dispatch.
macro_rules! on_target {
    ($self:ident, $t:ident => $call:expr) => {
        match &$self.target {
            Target::Scim($t) => $call,
            Target::Google($t) => $call,
        }
    };
}

/// The client for one app's target.
pub struct Connector {
    http: Http,
    target: Target,
}

impl std::fmt::Debug for Connector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connector")
            .field("base", &roster_codes::redact::redact_url(&self.http.base))
            .field("target", &self.target)
            .finish_non_exhaustive()
    }
}

impl Connector {
    /// A client for `target` with `options` and the app's credential. Errors say what to fix.
    pub fn new(target: &TargetConfig, options: &Options, secret: Option<Secret>) -> Result<Self, String> {
        let secret = secret.ok_or_else(|| target.missing_credential().to_owned())?;
        target.check_url(options.allow_insecure_http)?;
        let base = target.url().trim_end_matches('/').to_owned();
        let gate = Gate::new(usize::from(options.concurrency), options.rate_limit);
        let (credentials, content_type, client) = match target {
            TargetConfig::Scim { auth, .. } => (
                match auth {
                    Auth::Bearer => Credentials::Bearer(secret),
                    Auth::OAuth2 {
                        token_url,
                        client_id,
                        scope,
                    } => Credentials::OAuth2 {
                        token_url: token_url.clone(),
                        client_id: client_id.clone(),
                        scope: scope.clone(),
                        secret,
                    },
                },
                "application/scim+json",
                Target::Scim(ScimTarget::new(options.bulk)),
            ),
            TargetConfig::Google { google, .. } => (
                Credentials::Google {
                    account: ServiceAccount::from_json(secret.expose())?,
                    subject: google.admin.clone(),
                },
                "application/json",
                Target::Google(GoogleTarget::new(google.clone())),
            ),
        };
        Ok(Self {
            http: Http::new(base, content_type, Authenticator::new(credentials), gate)?,
            target: client,
        })
    }

    /// Tells `observer` the outcome of every request from now on.
    pub fn observe(&mut self, observer: Arc<dyn Observer>) {
        self.http.observer = Some(observer);
    }

    /// Shares the app's rate limit through `lease` (every roster process working for the app) instead of
    /// counting it in this process alone.
    pub fn share_rate_limit(&mut self, lease: Arc<dyn RateLease>) {
        self.http.gate.share_rate_limit(lease);
    }

    /// Reserves the next request slot under the app's rate limit and returns its time (microseconds since the
    /// epoch); `None` when the app has no rate limit. Every request takes one before it is sent.
    pub async fn reserve_slot(&self) -> Option<i64> {
        self.http.gate.reserve_slot().await
    }

    /// Reads time from `clock` (tests control it).
    pub fn set_clock(&mut self, clock: Clock) {
        self.http.gate.clock = clock;
    }

    /// Sends nothing to the app before `until` (microseconds since the epoch); an earlier time is ignored.
    pub fn defer_until(&self, until: i64) {
        self.http.gate.defer_until(until);
    }

    /// Sets how many requests this process may have in flight to the app (at least one).
    pub fn set_request_limit(&self, limit: usize) {
        self.http.gate.set_request_limit(limit);
    }

    /// The time before which nothing is sent (0: none).
    pub fn not_before(&self) -> i64 {
        self.http.gate.not_before()
    }

    /// Lets requests go to the app again after its refusal of roster's credentials halted them: a drain or a
    /// reconcile starts with it, so each tries the app once more.
    pub fn resume(&self) {
        self.http.gate.resume();
    }

    /// The base URL.
    pub fn base(&self) -> &str {
        &self.http.base
    }

    /// The target's client.
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// How many objects a worker pool should sync at once to keep the app's request slots busy.
    pub fn objects_per_request(&self) -> usize {
        match &self.target {
            Target::Scim(t) => t.objects_per_request(),
            Target::Google(_) => 1,
        }
    }

    /// The target's bulk limits when creates go in `/Bulk` requests to it (a SCIM target that offers Bulk, an
    /// app that allows it); the first call asks the target.
    pub async fn bulk_limits(&self) -> Option<BulkLimits> {
        match &self.target {
            Target::Scim(t) => t.bulk_limits(&self.http).await,
            Target::Google(_) => None,
        }
    }

    /// The desired state of an object reduced to what the target holds (Google keeps fewer attributes than a
    /// SCIM target), so a reconcile never sees drift it could not repair.
    pub fn normalize(&self, kind: ResourceKind, desired: Map<String, Value>) -> Map<String, Value> {
        match &self.target {
            Target::Scim(_) => desired,
            Target::Google(t) => t.normalize(kind, desired),
        }
    }

    /// The body a create of `payload` sends, as shown to a person: secret-named values (a mapped password) read
    /// `[redacted]`; for Google, the Directory API resource, a password roster makes up said to be one. An
    /// error says why the target would not be sent it.
    pub fn create_body_shown(
        &self,
        kind: ResourceKind,
        payload: &Map<String, Value>,
    ) -> Result<Value, String> {
        match &self.target {
            Target::Scim(_) => Ok(trace::hide_secrets(&Value::Object(payload.clone()))),
            Target::Google(t) => t.create_body_shown(kind, payload),
        }
    }

    /// Reads a resource; `None` when the target answers 404.
    pub async fn get(&self, kind: ResourceKind, id: &str) -> Result<Option<Map<String, Value>>, TargetError> {
        on_target!(self, t => t.get(&self.http, kind, id).await)
    }

    /// Resources matching a SCIM filter (at most `limit`); a target that cannot search by it says so.
    pub async fn find(
        &self,
        kind: ResourceKind,
        filter: &str,
        limit: u32,
    ) -> Result<Vec<Map<String, Value>>, TargetError> {
        on_target!(self, t => t.find(&self.http, kind, filter, limit).await)
    }

    /// One page of a listing (`startIndex` from 1) with only `attributes`; returns the page and `totalResults`.
    /// Pages are read in order (Google pages with tokens).
    pub async fn list_page(
        &self,
        kind: ResourceKind,
        start: u64,
        count: u32,
        attributes: &str,
    ) -> Result<(Vec<Map<String, Value>>, u64), TargetError> {
        match &self.target {
            Target::Scim(t) => t.list_page(&self.http, kind, start, count, attributes).await,
            Target::Google(t) => t.list_page(&self.http, kind, start, count).await,
        }
    }

    /// One page of a cursor listing (RFC 9865; `cursor` empty for the first page) with only `attributes`;
    /// returns the page, `totalResults` and `nextCursor` (absent on the last page, and from a target that does
    /// not know cursors: its answer is then the first `startIndex` page). `None` for a target without SCIM
    /// listing (Google).
    pub async fn list_page_cursor(
        &self,
        kind: ResourceKind,
        cursor: &str,
        count: u32,
        attributes: &str,
    ) -> Option<Result<ListPage, TargetError>> {
        match &self.target {
            Target::Scim(t) => Some(
                t.list_page_cursor(&self.http, kind, cursor, count, attributes)
                    .await,
            ),
            Target::Google(_) => None,
        }
    }

    /// Creates a resource; returns it as the target stored it.
    pub async fn create(
        &self,
        kind: ResourceKind,
        payload: &Map<String, Value>,
    ) -> Result<Map<String, Value>, TargetError> {
        on_target!(self, t => t.create(&self.http, kind, payload).await)
    }

    /// Applies PATCH operations; one the target cannot carry out is refused by name (`not sent: …`), never
    /// dropped.
    pub async fn patch(
        &self,
        kind: ResourceKind,
        id: &str,
        ops: &[PatchOperation],
    ) -> Result<(), TargetError> {
        on_target!(self, t => t.patch(&self.http, kind, id, ops).await)
    }

    /// Replaces a resource (PUT; a patch of every attribute where the target has no PUT).
    pub async fn replace(
        &self,
        kind: ResourceKind,
        id: &str,
        body: &Map<String, Value>,
    ) -> Result<(), TargetError> {
        on_target!(self, t => t.replace(&self.http, kind, id, body).await)
    }

    /// Deletes a resource; `false` when it was already gone (404 counts as done).
    pub async fn delete(&self, kind: ResourceKind, id: &str) -> Result<bool, TargetError> {
        on_target!(self, t => t.delete(&self.http, kind, id).await)
    }

    /// What the target offers: for SCIM, `/ServiceProviderConfig`, `/Schemas` and `/ResourceTypes`; for Google,
    /// a token and the users and groups endpoints, with the schemas roster maps to them.
    pub async fn discover(&self) -> Result<Discovery, TargetError> {
        on_target!(self, t => t.discover(&self.http).await)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_client_needs_a_credential_and_an_http_url() {
        let opts = Options::default();
        let cfg = TargetConfig::scim("https://app.example.com/scim/v2/");
        assert!(
            Connector::new(&cfg, &opts, None)
                .unwrap_err()
                .contains("--token-file")
        );
        let c = Connector::new(&cfg, &opts, Some(Secret::new("t"))).unwrap();
        assert_eq!(c.base(), "https://app.example.com/scim/v2");
        assert!(matches!(c.target(), Target::Scim(_)));
        let bad = TargetConfig::scim("ftp://x");
        assert!(
            Connector::new(&bad, &opts, Some(Secret::new("t")))
                .unwrap_err()
                .contains("https://")
        );
        let google = TargetConfig::google("admin@example.com");
        assert!(
            Connector::new(&google, &opts, None)
                .unwrap_err()
                .contains("--google-key-file")
        );
        assert!(
            Connector::new(&google, &opts, Some(Secret::new("not a key")))
                .unwrap_err()
                .contains("service account key")
        );
    }
}
