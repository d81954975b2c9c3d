//! What kind of target an app is and where it is ([`TargetConfig`], stored in the app's settings), and how hard
//! roster may press it ([`Options`]). The credential is kept apart, sealed, and given to
//! [`crate::Connector::new`] only.

use crate::auth::Auth;
use crate::google::{DEFAULT_URL, GoogleConfig};
use serde::{Deserialize, Serialize};

/// An app's target: the kind, its address and how roster signs in. Stored as JSON with a `kind` tag
/// (`{"kind": "scim", "url": …, "auth": {…}}`, `{"kind": "google", "url": …, "admin": …}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TargetConfig {
    /// A SCIM 2.0 service provider.
    Scim {
        /// The SCIM base URL, such as `https://app.example.com/scim/v2`.
        url: String,
        /// How roster authenticates: the credential is a bearer token (when not said) or an OAuth2 client secret.
        #[serde(default)]
        auth: Auth,
    },
    /// Google Workspace's Admin SDK Directory API; the credential is a service account key.
    Google {
        /// The Directory API's base URL ([`DEFAULT_URL`]; another one for a test double).
        #[serde(default = "google_url")]
        url: String,
        /// The admin the service account acts as, the customer and the group domain.
        #[serde(flatten)]
        google: GoogleConfig,
    },
}

fn google_url() -> String {
    DEFAULT_URL.into()
}

/// How hard roster may press a target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// Requests in flight at once from this process (at least one).
    pub concurrency: u16,
    /// Requests per second at most (0: no limit besides `concurrency`). A `/Bulk` request counts as one.
    pub rate_limit: u32,
    /// Whether creates may go together in `/Bulk` requests when a SCIM target offers them.
    pub bulk: bool,
    /// Whether a plain `http://` URL to a host other than this machine is accepted (the admin's explicit
    /// choice): requests carry the app's credential and people's data.
    pub allow_insecure_http: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            concurrency: 8,
            rate_limit: 0,
            bulk: true,
            allow_insecure_http: false,
        }
    }
}

impl TargetConfig {
    /// A SCIM target at `url` signed into with a bearer token.
    pub fn scim(url: impl Into<String>) -> Self {
        Self::Scim {
            url: url.into().trim_end_matches('/').to_owned(),
            auth: Auth::Bearer,
        }
    }

    /// A Google Workspace target whose service account acts as `admin`.
    pub fn google(admin: impl Into<String>) -> Self {
        Self::Google {
            url: google_url(),
            google: GoogleConfig {
                admin: admin.into(),
                customer: "my_customer".into(),
                group_domain: None,
            },
        }
    }

    /// The kind's name, for messages.
    pub const fn kind_name(&self) -> &'static str {
        match self {
            Self::Scim { .. } => "SCIM",
            Self::Google { .. } => "Google Workspace",
        }
    }

    /// The base URL requests go to.
    pub fn url(&self) -> &str {
        match self {
            Self::Scim { url, .. } | Self::Google { url, .. } => url,
        }
    }

    /// Sets the base URL (a trailing slash dropped).
    pub fn set_url(&mut self, new: &str) {
        match self {
            Self::Scim { url, .. } | Self::Google { url, .. } => *url = new.trim_end_matches('/').to_owned(),
        }
    }

    /// The attributes of a User the target keeps nowhere, which the default mapping therefore leaves out.
    pub const fn unkept_user_attributes(&self) -> &'static [&'static str] {
        match self {
            Self::Scim { .. } => &[],
            // Google keeps no display name, language, locale or time zone on an account.
            Self::Google { .. } => &["displayName", "preferredLanguage", "locale", "timezone"],
        }
    }

    /// The target account the connection itself acts as, which roster must never suspend or delete (a Google
    /// app's admin); `None` when the credential is not an account in the target.
    pub fn acting_account(&self) -> Option<&str> {
        match self {
            Self::Scim { .. } => None,
            Self::Google { google, .. } => Some(&google.admin),
        }
    }

    /// What an app of this kind without a credential is told to do.
    pub const fn missing_credential(&self) -> &'static str {
        match self {
            Self::Scim { .. } => {
                "the app has no credential: set one with roster app edit NAME --token-file FILE (in the admin API: \"secret\")"
            }
            Self::Google { .. } => {
                "the app has no credential: set one with roster app edit NAME --google-key-file FILE"
            }
        }
    }

    /// Checks the URL: `https://`, or `http://` to this machine (a local test target), or `http://` anywhere
    /// when the admin allowed it.
    pub fn check_url(&self, allow_insecure_http: bool) -> Result<(), String> {
        let shown = roster_codes::redact::redact_url(self.url());
        let url =
            reqwest::Url::parse(self.url()).map_err(|e| format!("the URL '{shown}' is not valid: {e}"))?;
        match url.scheme() {
            "https" => Ok(()),
            "http" if allow_insecure_http || is_loopback(&url) => Ok(()),
            "http" => Err(format!(
                "the URL '{shown}' is plain http: the requests would carry the app's credential and people's data \
                 unencrypted. Use https://, or pass --allow-insecure-http if the network to the app is trusted"
            )),
            _ => Err(format!("the URL '{shown}' must start with https://")),
        }
    }
}

/// Whether the URL names this machine (`localhost`, 127.0.0.0/8, `::1`).
fn is_loopback(url: &reqwest::Url) -> bool {
    url.host_str().is_some_and(|h| {
        h.eq_ignore_ascii_case("localhost")
            || h.trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    #[test]
    fn targets_are_stored_with_their_kind() {
        let scim = TargetConfig::scim("https://app.example.com/scim/v2/");
        assert_eq!(
            serde_json::to_value(&scim).unwrap(),
            json!({"kind": "scim", "url": "https://app.example.com/scim/v2", "auth": {"type": "bearer"}})
        );
        let google = TargetConfig::google("admin@example.com");
        let v = serde_json::to_value(&google).unwrap();
        assert_eq!(
            v,
            json!({"kind": "google", "url": DEFAULT_URL, "admin": "admin@example.com", "customer": "my_customer"})
        );
        assert_eq!(serde_json::from_value::<TargetConfig>(v).unwrap(), google);
        let bare: TargetConfig =
            serde_json::from_value(json!({"kind": "google", "admin": "a@b.test"})).unwrap();
        assert_eq!(bare.url(), DEFAULT_URL);
        assert!(serde_json::from_value::<TargetConfig>(json!({"kind": "ldap", "url": "x"})).is_err());
    }

    #[test]
    fn urls_must_be_https_unless_local_or_allowed() {
        assert!(
            TargetConfig::scim("https://a.example.com")
                .check_url(false)
                .is_ok()
        );
        assert!(
            TargetConfig::scim("http://127.0.0.1:8080/scim")
                .check_url(false)
                .is_ok()
        );
        assert!(
            TargetConfig::scim("http://localhost/scim")
                .check_url(false)
                .is_ok()
        );
        let remote = TargetConfig::scim("http://a.example.com/scim");
        assert!(
            remote
                .check_url(false)
                .unwrap_err()
                .contains("--allow-insecure-http")
        );
        assert!(remote.check_url(true).is_ok());
        assert!(
            TargetConfig::scim("ftp://x")
                .check_url(true)
                .unwrap_err()
                .contains("https://")
        );
        let secret = TargetConfig::scim("http://u:pw@a.example.com/scim");
        assert!(!secret.check_url(false).unwrap_err().contains("pw"));
    }
}
