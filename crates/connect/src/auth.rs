//! How roster proves itself to a target: a bearer token, OAuth2 client credentials (RFC 6749 §4.4), or a Google
//! service account's signed assertion (RFC 7523) for domain-wide delegation. Access tokens are fetched when
//! needed, kept until a minute before they expire, and never appear in a message.

use crate::answer::{read_capped, transport, truncate};
use crate::error::TargetError;
use base64::Engine as _;
use roster_codes as codes;
use roster_codes::redact::Secret;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

/// The OAuth2 scopes a Google service account asks for: users, groups and group members.
pub const GOOGLE_SCOPES: &str = "https://www.googleapis.com/auth/admin.directory.user \
                                 https://www.googleapis.com/auth/admin.directory.group \
                                 https://www.googleapis.com/auth/admin.directory.group.member";

/// How roster authenticates to a SCIM target (a Google target always uses its service account).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Auth {
    /// A bearer token (the app's secret); the default.
    #[default]
    Bearer,
    /// OAuth2 client credentials: the app's secret is the client secret.
    OAuth2 {
        /// The token endpoint.
        token_url: String,
        /// The client id.
        client_id: String,
        /// Requested scope, if the provider needs one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        scope: Option<String>,
    },
}

/// An app's credential, ready to authenticate requests.
pub(crate) enum Credentials {
    Bearer(Secret),
    OAuth2 {
        token_url: String,
        client_id: String,
        scope: Option<String>,
        secret: Secret,
    },
    /// A Google service account acting as `subject` (domain-wide delegation).
    Google {
        account: ServiceAccount,
        subject: String,
    },
}

/// Credentials and the access token they last obtained, with when it expires.
pub(crate) struct Authenticator {
    credentials: Credentials,
    token: Mutex<Option<(Secret, Instant)>>,
}

impl Authenticator {
    pub(crate) fn new(credentials: Credentials) -> Self {
        Self {
            credentials,
            token: Mutex::new(None),
        }
    }

    /// The token to send as `Authorization: Bearer` (`now`: seconds since the epoch, for a signed assertion).
    pub(crate) async fn bearer(&self, http: &reqwest::Client, now: i64) -> Result<Secret, TargetError> {
        let (url, form, who) = match &self.credentials {
            Credentials::Bearer(s) => return Ok(s.clone()),
            Credentials::OAuth2 {
                token_url,
                client_id,
                scope,
                secret,
            } => {
                let mut form = vec![
                    ("grant_type", "client_credentials".to_owned()),
                    ("client_id", client_id.clone()),
                    ("client_secret", secret.expose().to_owned()),
                ];
                if let Some(s) = scope {
                    form.push(("scope", s.clone()));
                }
                (
                    token_url,
                    form,
                    format!("the OAuth2 token endpoint refused client '{client_id}'"),
                )
            }
            Credentials::Google { account, subject } => {
                let assertion = account
                    .assertion(subject, now)
                    .map_err(|m| TargetError::new(&codes::TARGET_AUTH_FAILED, m))?;
                let form = vec![
                    (
                        "grant_type",
                        "urn:ietf:params:oauth:grant-type:jwt-bearer".to_owned(),
                    ),
                    ("assertion", assertion),
                ];
                (
                    &account.token_uri,
                    form,
                    format!(
                        "Google refused a token to service account '{}' acting as '{subject}'",
                        account.client_email
                    ),
                )
            }
        };
        let mut cached = self.token.lock().await;
        if let Some((tok, until)) = cached.as_ref()
            && Instant::now() < *until
        {
            return Ok(tok.clone());
        }
        let resp = http
            .post(url)
            .form(&form)
            .send()
            .await
            .map_err(|e| transport("POST token endpoint", &e))?;
        let status = resp.status().as_u16();
        let text = read_capped(resp).await.unwrap_or_default();
        let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        let token = body.get("access_token").and_then(Value::as_str);
        match (status, token) {
            (200, Some(t)) => {
                let ttl = body.get("expires_in").and_then(Value::as_u64).unwrap_or(300);
                let tok = Secret::new(t);
                // Renew a minute early.
                *cached = Some((
                    tok.clone(),
                    Instant::now() + Duration::from_secs(ttl.saturating_sub(60).max(1)),
                ));
                Ok(tok)
            }
            _ => {
                // The token endpoint's own error (invalid_grant, unauthorized_client, …) names the cause; any
                // other refusal is a credentials problem.
                let answer = codes::Answer::read(status, &text);
                let code = match answer.code() {
                    c if c.category == codes::Category::Authentication
                        || c.category == codes::Category::Transient
                        || c.category == codes::Category::RateLimit =>
                    {
                        c
                    }
                    _ => &codes::TARGET_AUTH_FAILED,
                };
                let err = answer
                    .reason
                    .as_deref()
                    .unwrap_or("no access_token in the answer");
                let detail = truncate(&answer.detail);
                let message = if detail.is_empty() || detail == err {
                    format!("{who}: {status} {}", truncate(err))
                } else {
                    format!("{who}: {status} {} ({detail})", truncate(err))
                };
                Err(TargetError::new(code, message).with_status(status))
            }
        }
    }
}

/// A service account key (the JSON file Google's console downloads). The private key never leaves this struct.
#[derive(Clone)]
pub struct ServiceAccount {
    /// The service account's email (`client_email`).
    pub client_email: String,
    /// Where tokens are requested (`token_uri`).
    pub token_uri: String,
    key: std::sync::Arc<aws_lc_rs::signature::RsaKeyPair>,
}

impl std::fmt::Debug for ServiceAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceAccount")
            .field("client_email", &self.client_email)
            .field("token_uri", &self.token_uri)
            .finish_non_exhaustive()
    }
}

impl ServiceAccount {
    /// Reads a service account key file's text. Errors say what is wrong without quoting the key.
    pub fn from_json(text: &str) -> Result<Self, String> {
        let v: Value = serde_json::from_str(text).map_err(|_| {
            "the credential is not a Google service account key: expected the JSON key file from the Google \
             Cloud console (IAM → Service accounts → Keys → Add key → JSON)"
                .to_owned()
        })?;
        let field = |name: &str| {
            v.get(name)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .ok_or_else(|| format!("the service account key has no '{name}': download a new JSON key"))
        };
        if v.get("type").and_then(Value::as_str) != Some("service_account") {
            return Err(
                "the key file is not of type 'service_account': download the key of a service account, not an \
                 OAuth client"
                    .into(),
            );
        }
        let client_email = field("client_email")?.to_owned();
        let token_uri = v
            .get("token_uri")
            .and_then(Value::as_str)
            .unwrap_or("https://oauth2.googleapis.com/token")
            .to_owned();
        let der = pem_body(field("private_key")?).ok_or(
            "the service account key's private_key is not a PEM private key: download a new JSON key",
        )?;
        let key = aws_lc_rs::signature::RsaKeyPair::from_pkcs8(&der).map_err(
            |_| "the service account key's private_key is not an RSA key: download a new JSON key",
        )?;
        Ok(Self {
            client_email,
            token_uri,
            key: std::sync::Arc::new(key),
        })
    }

    /// A signed JWT (RS256) asking for [`GOOGLE_SCOPES`] on behalf of `subject` (domain-wide delegation), valid an hour
    /// from `now` (seconds since the epoch).
    pub fn assertion(&self, subject: &str, now: i64) -> Result<String, String> {
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let header = b64.encode(br#"{"alg":"RS256","typ":"JWT"}"#);
        let claims = json!({
            "iss": self.client_email,
            "sub": subject,
            "scope": GOOGLE_SCOPES.split_whitespace().collect::<Vec<_>>().join(" "),
            "aud": self.token_uri,
            "iat": now,
            "exp": now + 3600,
        });
        let signed = format!("{header}.{}", b64.encode(claims.to_string()));
        let mut sig = vec![0; self.key.public_modulus_len()];
        self.key
            .sign(
                &aws_lc_rs::signature::RSA_PKCS1_SHA256,
                &aws_lc_rs::rand::SystemRandom::new(),
                signed.as_bytes(),
                &mut sig,
            )
            .map_err(|_| "cannot sign with the service account key".to_owned())?;
        Ok(format!("{signed}.{}", b64.encode(sig)))
    }
}

/// The DER bytes of a PEM block.
fn pem_body(pem: &str) -> Option<Vec<u8>> {
    let body: String = pem
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("-----"))
        .collect();
    base64::engine::general_purpose::STANDARD.decode(body).ok()
}
