//! API tokens for the SCIM and admin endpoints. A token is 32 random bytes shown once at creation
//! (`roster_` + 64 hex digits); only its SHA-256 is stored. Verification hashes the presented token, looks the hash
//! up by index and compares it in constant time.

use crate::{Store, StoreError, from_micros, to_micros};
use roster_scim::{ErrorKind, ScimError};
use sha2::{Digest, Sha256};
use sqlx::Row;
use time::OffsetDateTime;

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// GET and searches only.
    Read,
    /// Everything in SCIM.
    Write,
    /// Everything in SCIM, and the operations API (`/api/v1`: provisioning log, app health).
    Admin,
}

impl Scope {
    /// `read`, `write` or `admin`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Write => "write",
            Self::Admin => "admin",
        }
    }
    /// From `read`/`write`/`admin`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "read" => Some(Self::Read),
            "write" => Some(Self::Write),
            "admin" => Some(Self::Admin),
            _ => None,
        }
    }
}

/// A token's public facts (never the secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenInfo {
    /// Its name.
    pub name: String,
    /// Its scope.
    pub scope: Scope,
    /// When it was created.
    pub created: OffsetDateTime,
    /// When it was last used, if ever.
    pub last_used: Option<OffsetDateTime>,
}

const PREFIX: &str = "roster_";

/// How long a verified token is trusted without asking the database again. Revoking clears the cache of the
/// process that revokes; other processes notice within this time.
pub const CACHE_TTL: std::time::Duration = std::time::Duration::from_secs(5);

/// Verified tokens by secret hash, with the time they were checked.
pub(crate) type TokenCache = std::collections::HashMap<String, (TokenInfo, std::time::Instant)>;

fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn is_valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
}

impl Store {
    /// Creates a token and returns its secret, which is not stored and cannot be shown again.
    pub async fn create_token(&self, name: &str, scope: Scope) -> Result<String, StoreError> {
        let _writer = self.writer().await;
        if !is_valid_name(name) {
            return Err(
                ScimError::invalid_value("a token name is 1 to 64 letters, digits, '-', '_' or '.'").into(),
            );
        }
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).map_err(|e| StoreError::Corrupt(format!("no system randomness: {e}")))?;
        let secret = format!("{PREFIX}{}", hex::encode(bytes));
        let now = to_micros(OffsetDateTime::now_utc());
        let result = on_db!(self, pool => {
            sqlx::query("INSERT INTO api_tokens (name, token_hash, scope, created) VALUES ($1, $2, $3, $4)")
                .bind(name).bind(hash(&secret)).bind(scope.as_str()).bind(now).execute(pool).await.map(|_| ())
        });
        match result {
            Ok(_) => Ok(secret),
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Err(ScimError::new(
                ErrorKind::Conflict,
                format!("a token named '{name}' already exists; revoke it first or choose another name"),
            )
            .into()),
            Err(e) => Err(e.into()),
        }
    }

    /// The token a bearer secret belongs to, or `None`. Records the time of use.
    pub async fn verify_token(&self, secret: &str) -> Result<Option<TokenInfo>, StoreError> {
        if !secret.starts_with(PREFIX) || secret.len() != PREFIX.len() + 64 {
            return Ok(None);
        }
        let h = hash(secret);
        if let Ok(cache) = self.token_cache.lock()
            && let Some((info, at)) = cache.get(&h)
            && at.elapsed() < CACHE_TTL
        {
            return Ok(Some(info.clone()));
        }
        let now = to_micros(OffsetDateTime::now_utc());
        on_db!(self, pool => {
            let Some(row) = sqlx::query("SELECT name, token_hash, scope, created, last_used FROM api_tokens WHERE token_hash = $1")
                .bind(&h).fetch_optional(pool).await? else { return Ok(None) };
            let stored: String = row.try_get("token_hash")?;
            if !constant_time_eq(stored.as_bytes(), h.as_bytes()) {
                return Ok(None);
            }
            let info = token_info(&row)?;
            // Record use at most once a minute: a write per request would serialize every request on SQLite.
            if info.last_used.is_none_or(|t| now - to_micros(t) > 60_000_000) {
                sqlx::query("UPDATE api_tokens SET last_used = $1 WHERE name = $2").bind(now).bind(&info.name).execute(pool).await?;
            }
            if let Ok(mut cache) = self.token_cache.lock() {
                if cache.len() > 10_000 {
                    cache.clear();
                }
                cache.insert(h, (info.clone(), std::time::Instant::now()));
            }
            Ok(Some(info))
        })
    }

    /// All tokens, by name.
    pub async fn list_tokens(&self) -> Result<Vec<TokenInfo>, StoreError> {
        on_db!(self, pool => {
            let rows = sqlx::query("SELECT name, scope, created, last_used FROM api_tokens ORDER BY name").fetch_all(pool).await?;
            rows.iter().map(token_info).collect()
        })
    }

    /// Revokes a token; `false` when no token has that name.
    pub async fn revoke_token(&self, name: &str) -> Result<bool, StoreError> {
        let _writer = self.writer().await;
        if let Ok(mut cache) = self.token_cache.lock() {
            cache.retain(|_, (info, _)| info.name != name);
        }
        on_db!(self, pool => {
            let done = sqlx::query("DELETE FROM api_tokens WHERE name = $1").bind(name).execute(pool).await?;
            Ok(done.rows_affected() == 1)
        })
    }
}

fn token_info<R: Row>(r: &R) -> Result<TokenInfo, StoreError>
where
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    String: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    i64: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    Option<i64>: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    let scope: String = r.try_get("scope")?;
    Ok(TokenInfo {
        name: r.try_get("name")?,
        scope: Scope::parse(&scope).ok_or_else(|| StoreError::Corrupt(format!("token scope '{scope}'")))?,
        created: from_micros(r.try_get("created")?)?,
        last_used: r
            .try_get::<Option<i64>, _>("last_used")?
            .map(from_micros)
            .transpose()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashing_and_comparison() {
        assert_eq!(
            hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
        assert!(is_valid_name("okta-prod_1.x"));
        assert!(!is_valid_name("has space"));
        assert!(!is_valid_name(""));
    }
}
