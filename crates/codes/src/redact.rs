//! What never appears in a message, a log line or the provisioning log: credentials. [`Secret`] holds one and
//! shows nothing of it; [`redact_url`] masks the credentials a URL may carry (a password, a token as the user
//! part, secret-named query parameters).

/// A credential (bearer token, OAuth2 client secret). Its `Debug` and `Display` never show the value.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a credential.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    /// The credential itself, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl std::fmt::Display for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

/// A URL (a database's, an app's) with any password, token or secret-named query parameter replaced by `***`,
/// for messages and logs.
pub fn redact_url(url: &str) -> String {
    let (url, fragment) = url.split_once('#').map_or((url, None), |(u, f)| (u, Some(f)));
    let (base, query) = url.split_once('?').map_or((url, None), |(b, q)| (b, Some(q)));
    let mut out = match (base.find("://"), base.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme && !base[scheme + 3..at].contains('/') => {
            let userinfo = &base[scheme + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &base[..scheme + 3], &base[at..]),
                // A lone user part of a web URL may be a token (`https://TOKEN@host`); a database URL's is a
                // user name.
                None if base.starts_with("http") => format!("{}***{}", &base[..scheme + 3], &base[at..]),
                None => base.to_owned(),
            }
        }
        _ => base.to_owned(),
    };
    if let Some(q) = query {
        out.push('?');
        let pairs: Vec<String> = q
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((k, _)) if is_secret_name(k) => format!("{k}=***"),
                _ => pair.to_owned(),
            })
            .collect();
        out.push_str(&pairs.join("&"));
    }
    if let Some(f) = fragment {
        out.push('#');
        out.push_str(f);
    }
    out
}

/// Whether a query parameter's name says its value is a credential.
fn is_secret_name(name: &str) -> bool {
    let n = name.to_ascii_lowercase().replace(['-', '_'], "");
    [
        "apikey",
        "key",
        "token",
        "accesstoken",
        "password",
        "passwd",
        "pwd",
        "secret",
        "clientsecret",
        "sig",
        "signature",
        "auth",
        "code",
    ]
    .contains(&n.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_redacted() {
        assert_eq!(
            redact_url("postgres://roster:s3cret@db:5432/roster"),
            "postgres://roster:***@db:5432/roster"
        );
        assert_eq!(redact_url("postgres://db/roster"), "postgres://db/roster");
        assert_eq!(redact_url("sqlite://roster.db"), "sqlite://roster.db");
        assert_eq!(redact_url("postgres://roster@db/x"), "postgres://roster@db/x");
        assert_eq!(
            redact_url("https://tok3n@app.example.com/scim?api_key=k&x=1&Access-Token=t#f"),
            "https://***@app.example.com/scim?api_key=***&x=1&Access-Token=***#f"
        );
        assert_eq!(
            redact_url("postgres://u@db/x?password=p&sslmode=require"),
            "postgres://u@db/x?password=***&sslmode=require"
        );
    }

    #[test]
    fn a_secret_shows_nothing_of_itself() {
        let s = Secret::new("t0ken");
        assert_eq!(format!("{s:?} {s}"), "Secret(***) ***");
        assert_eq!(s.expose(), "t0ken");
    }
}
