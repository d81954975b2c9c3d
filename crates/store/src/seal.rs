//! Credentials sealed at rest.
//!
//! Contract:
//! - Every stored credential (`apps.secret`: bearer tokens, OAuth2 client secrets, Google service-account keys) is
//!   AES-256-GCM ciphertext under a 256-bit key that lives in a file, never in the database:
//!   `sealed:v1:<key id>:<base64url(nonce ‖ ciphertext ‖ tag)>`, with a random 96-bit nonce per value and the
//!   row it belongs to as associated data (`app:<name>`), so a sealed value copied to another row does not open.
//!   The key id is the first 8 bytes of the key's SHA-256, in hex: it names the key a value needs without
//!   revealing it.
//! - Where the key comes from ([`KeySource`]): a file given by the operator (`--secret-key-file`), else, for a
//!   SQLite file, `<database>.key` beside it; an in-memory database uses a key of its own for its lifetime.
//!   PostgreSQL has no "beside": every process sharing the database must be given the same file.
//! - A key file that does not exist is created (0600, and said once on stderr) only while the database holds no
//!   sealed value; otherwise it is an error that names the file and the key id the values need. A wrong key is
//!   the same error. Nothing is ever re-keyed silently.
//! - The key is loaded on first use: a server that never reads or writes a credential needs none.
//! - Rotation ([`crate::Store::rotate_secret_key`]) writes the new key to `<file>.new`, re-seals every value in one
//!   transaction, then renames the new file over the old. A crash in between leaves both files; values sealed
//!   under either open, and the next rotation finishes the job.
//! - Values stored before sealing existed (plain text) are sealed when the store connects, if a key is at hand.

use crate::{RotateReport, StoreError};
use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use sha2::Digest as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The associated data an app's credential is sealed with: the row it belongs to.
fn app_aad(app: &str) -> String {
    format!("app:{app}")
}

/// The associated data a pushed password is sealed with.
pub(crate) const PASSWORD_AAD: &str = "password";

/// The prefix of every sealed value.
pub(crate) const PREFIX: &str = "sealed:v1:";

/// Where a store's key comes from.
#[derive(Debug, Clone)]
pub enum KeySource {
    /// A file named by the operator.
    File(PathBuf),
    /// A file beside the SQLite database (`<database>.key`), made on first use.
    Beside(PathBuf),
    /// A key made for this process alone (an in-memory database).
    Ephemeral,
    /// None was given, and there is no place to make one (PostgreSQL).
    Missing,
}

/// A loaded key.
pub(crate) struct Key {
    aead: LessSafeKey,
    pub(crate) id: String,
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Key({})", self.id)
    }
}

impl Key {
    fn from_bytes(bytes: &[u8; 32]) -> Result<Self, StoreError> {
        let unbound = UnboundKey::new(&AES_256_GCM, bytes)
            .map_err(|_| StoreError::SecretKey("the secret key is not a valid AES-256 key".into()))?;
        let digest = sha2::Sha256::digest(bytes);
        let id = hex::encode(&digest[..8]);
        Ok(Self {
            aead: LessSafeKey::new(unbound),
            id,
        })
    }

    fn generate() -> Result<([u8; 32], Self), StoreError> {
        let mut bytes = [0u8; 32];
        aws_lc_rs::rand::fill(&mut bytes)
            .map_err(|_| StoreError::SecretKey("the system's random source failed".into()))?;
        let key = Self::from_bytes(&bytes)?;
        Ok((bytes, key))
    }

    /// Seals `plain` for the row `aad`.
    pub(crate) fn seal(&self, aad: &str, plain: &str) -> Result<String, StoreError> {
        let mut nonce = [0u8; NONCE_LEN];
        aws_lc_rs::rand::fill(&mut nonce)
            .map_err(|_| StoreError::SecretKey("the system's random source failed".into()))?;
        let mut data = plain.as_bytes().to_vec();
        self.aead
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad.as_bytes()),
                &mut data,
            )
            .map_err(|_| StoreError::SecretKey("sealing a credential failed".into()))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&data);
        Ok(format!("{PREFIX}{}:{}", self.id, URL_SAFE_NO_PAD.encode(out)))
    }

    fn open(&self, aad: &str, body: &str) -> Option<String> {
        let raw = URL_SAFE_NO_PAD.decode(body).ok()?;
        if raw.len() < NONCE_LEN {
            return None;
        }
        let (nonce, sealed) = raw.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut data = sealed.to_vec();
        let plain = self
            .aead
            .open_in_place(nonce, Aad::from(aad.as_bytes()), &mut data)
            .ok()?;
        String::from_utf8(plain.to_vec()).ok()
    }
}

/// The key id a sealed value needs, if it is sealed.
pub(crate) fn key_id_of(stored: &str) -> Option<&str> {
    stored.strip_prefix(PREFIX)?.split(':').next()
}

/// A store's keys: the current one and, after an interrupted rotation, the one it was moving to.
#[derive(Debug)]
pub(crate) struct Keys {
    pub(crate) current: Key,
    pub(crate) pending: Option<Key>,
    /// The file the current key came from, for messages and rotation.
    pub(crate) path: Option<PathBuf>,
}

impl Keys {
    /// Opens a value sealed for `aad`; a plain (never sealed) value is returned as it is.
    pub(crate) fn open(&self, aad: &str, stored: &str) -> Result<String, StoreError> {
        let Some(rest) = stored.strip_prefix(PREFIX) else {
            return Ok(stored.to_owned());
        };
        let (id, body) = rest.split_once(':').unwrap_or((rest, ""));
        let key = [Some(&self.current), self.pending.as_ref()]
            .into_iter()
            .flatten()
            .find(|k| k.id == id);
        let Some(key) = key else {
            return Err(StoreError::SecretKey(format!(
                "the credential of {aad} was sealed under key {id}, but {} holds key {}: start roster with the key \
                 file it was sealed with (--secret-key-file or ROSTER_SECRET_KEY_FILE)",
                self.describe(),
                self.current.id
            )));
        };
        key.open(aad, body).ok_or_else(|| {
            StoreError::SecretKey(format!(
                "the credential of {aad} does not open with key {id} from {}: the stored value was changed or \
                 belongs to another row; store the credential again (roster app edit NAME --token-file FILE)",
                self.describe()
            ))
        })
    }

    fn describe(&self) -> String {
        self.path.as_ref().map_or_else(
            || "this process's key".to_owned(),
            |p| format!("the key file {}", p.display()),
        )
    }
}

/// The key file's name beside a SQLite database.
pub(crate) fn beside(database: &Path) -> PathBuf {
    let mut name = database.as_os_str().to_owned();
    name.push(".key");
    PathBuf::from(name)
}

/// `<file>.new`: where a rotation writes the key it moves to.
pub(crate) fn pending_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".new");
    PathBuf::from(name)
}

/// Reads a key file: the key as standard base64 (44 characters; `openssl rand -base64 32` makes one).
fn read_key_file(path: &Path) -> Result<Key, StoreError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        StoreError::SecretKey(format!("cannot read the secret key file {}: {e}", path.display()))
    })?;
    let bytes = STANDARD
        .decode(text.trim())
        .ok()
        .and_then(|b| <[u8; 32]>::try_from(b).ok());
    let Some(bytes) = bytes else {
        return Err(StoreError::SecretKey(format!(
            "the secret key file {} does not hold a key: it must be 32 random bytes in base64 (44 characters), \
             as `openssl rand -base64 32` writes",
            path.display()
        )));
    };
    Key::from_bytes(&bytes)
}

/// Writes a new key file readable by its owner only; fails if the file exists.
pub(crate) fn write_key_file(path: &Path, bytes: &[u8; 32]) -> Result<(), StoreError> {
    use std::io::Write as _;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut f = opts.open(path).map_err(|e| {
        StoreError::SecretKey(format!(
            "cannot create the secret key file {}: {e}",
            path.display()
        ))
    })?;
    writeln!(f, "{}", STANDARD.encode(bytes))
        .and_then(|()| f.sync_all())
        .map_err(|e| {
            StoreError::SecretKey(format!(
                "cannot write the secret key file {}: {e}",
                path.display()
            ))
        })
}

/// A new key and its bytes.
pub(crate) fn new_key() -> Result<([u8; 32], Key), StoreError> {
    Key::generate()
}

/// Loads the keys for `source`. `sealed_ids` are the key ids the database's sealed values need (empty: none
/// is sealed yet, so a missing file may be made).
pub(crate) fn load(source: &KeySource, sealed_ids: &[String]) -> Result<Arc<Keys>, StoreError> {
    let path = match source {
        KeySource::Ephemeral => {
            return Ok(Arc::new(Keys {
                current: Key::generate()?.1,
                pending: None,
                path: None,
            }));
        }
        KeySource::Missing => {
            return Err(StoreError::SecretKey(
                "roster seals credentials under a key kept in a file, and on PostgreSQL every process must use the \
                 same one: give it with --secret-key-file FILE (or ROSTER_SECRET_KEY_FILE); `openssl rand -base64 32 \
                 > FILE` makes one, and roster makes it itself if the file does not exist yet"
                    .into(),
            ));
        }
        KeySource::File(p) | KeySource::Beside(p) => p,
    };
    let current = if path.exists() {
        read_key_file(path)?
    } else if sealed_ids.is_empty() {
        let (bytes, key) = Key::generate()?;
        write_key_file(path, &bytes)?;
        eprintln!(
            "roster: made a new secret key in {} (it seals the apps' credentials in the database); keep it with \
             the database's backups, apart from them",
            path.display()
        );
        key
    } else {
        return Err(StoreError::SecretKey(format!(
            "the secret key file {} does not exist, but the database holds credentials sealed under key {}: \
             start roster with that key file (--secret-key-file or ROSTER_SECRET_KEY_FILE)",
            path.display(),
            sealed_ids.join(", ")
        )));
    };
    let pending_file = pending_path(path);
    let pending = if pending_file.exists() {
        Some(read_key_file(&pending_file)?)
    } else {
        None
    };
    Ok(Arc::new(Keys {
        current,
        pending,
        path: Some(path.clone()),
    }))
}

impl crate::Store {
    /// The keys, loaded on first use.
    pub(crate) async fn keys(&self) -> Result<Arc<Keys>, StoreError> {
        let mut slot = self.keys.1.lock().await;
        if let Some(k) = slot.as_ref() {
            return Ok(k.clone());
        }
        let ids = self.sealed_key_ids().await?;
        let keys = load(&self.keys.0, &ids)?;
        *slot = Some(keys.clone());
        Ok(keys)
    }

    /// The ids of the keys the stored sealed values need.
    async fn sealed_key_ids(&self) -> Result<Vec<String>, StoreError> {
        let mut ids: Vec<String> = self
            .stored_secrets()
            .await?
            .iter()
            .filter_map(|(_, s)| key_id_of(s).map(str::to_owned))
            .collect();
        ids.sort();
        ids.dedup();
        Ok(ids)
    }

    async fn stored_secrets(&self) -> Result<Vec<(String, String)>, StoreError> {
        on_db!(self, pool => {
            Ok(sqlx::query_as("SELECT name, secret FROM apps WHERE secret IS NOT NULL ORDER BY name")
                .fetch_all(pool)
                .await?)
        })
    }

    /// Seals a credential for the app `name`.
    pub(crate) async fn seal_secret(
        &self,
        name: &str,
        secret: Option<&crate::Secret>,
    ) -> Result<Option<String>, StoreError> {
        let Some(secret) = secret else { return Ok(None) };
        Ok(Some(
            self.keys().await?.current.seal(&app_aad(name), secret.expose())?,
        ))
    }

    /// The app's credential, opened. A key that does not fit is looked for again in the key file once (another
    /// process may have rotated it) before it is an error.
    pub async fn open_secret(&self, app: &crate::AppRecord) -> Result<Option<crate::Secret>, StoreError> {
        let Some(sealed) = &app.secret else {
            return Ok(None);
        };
        let aad = app_aad(&app.name);
        match self.keys().await?.open(&aad, &sealed.0) {
            Ok(plain) => Ok(Some(crate::Secret::new(plain))),
            Err(_) => {
                *self.keys.1.lock().await = None;
                self.keys()
                    .await?
                    .open(&aad, &sealed.0)
                    .map(|p| Some(crate::Secret::new(p)))
            }
        }
    }

    /// Seals the credentials stored before roster sealed them. Without a key at hand (PostgreSQL without a key
    /// file) they stay as they are, and the server says so.
    pub(crate) async fn seal_plain_secrets(&self) -> Result<(), StoreError> {
        let plain: Vec<(String, String)> = self
            .stored_secrets()
            .await?
            .into_iter()
            .filter(|(_, s)| !s.starts_with(PREFIX))
            .collect();
        if plain.is_empty() {
            return Ok(());
        }
        let keys = match self.keys().await {
            Ok(k) => k,
            Err(e) => {
                tracing::warn!(
                    apps = plain.len(),
                    "credentials stay unsealed in the database: {e}"
                );
                return Ok(());
            }
        };
        let sealed = plain
            .iter()
            .map(|(name, s)| Ok((name.clone(), keys.current.seal(&app_aad(name), s)?)))
            .collect::<Result<Vec<_>, StoreError>>()?;
        self.write_sealed(&sealed, None).await?;
        tracing::info!(apps = sealed.len(), key = %keys.current.id, "sealed the credentials stored in clear");
        Ok(())
    }

    /// Writes sealed values in one transaction, each only over the value it replaces (`expect`, in the same
    /// order; `None`: over a value still in clear), so a row another process changed meanwhile is left alone.
    async fn write_sealed(
        &self,
        rows: &[(String, String)],
        expect: Option<&[(String, String)]>,
    ) -> Result<(), StoreError> {
        let _writer = self.writer().await;
        on_db!(self, pool => {
            let mut tx = pool.begin_with(self.write_begin()).await?;
            for (i, (name, sealed)) in rows.iter().enumerate() {
                let was = expect.map_or_else(|| None, |e| e.get(i).map(|(_, s)| s.as_str()));
                sqlx::query("UPDATE apps SET secret = $1 WHERE name = $2 AND (secret = $3 OR ($3 IS NULL AND secret NOT LIKE 'sealed:%'))")
                    .bind(sealed)
                    .bind(name)
                    .bind(was)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// Seals every credential under a new key: the new key goes to `<key file>.new`, the values are sealed anew
    /// in one transaction, then the new file replaces the old one. Every process sharing the database must then
    /// be given the new file (they look it up again when a value does not open with the key they hold).
    pub async fn rotate_secret_key(&self) -> Result<RotateReport, StoreError> {
        let keys = self.keys().await?;
        let Some(path) = keys.path.clone() else {
            return Err(StoreError::SecretKey(
                "this database's key is not kept in a file (an in-memory database): nothing to rotate".into(),
            ));
        };
        let next_path = pending_path(&path);
        let (next, resumed) = match std::fs::metadata(&next_path) {
            Ok(_) => (read_key_file(&next_path)?, true),
            Err(_) => {
                let (bytes, key) = new_key()?;
                write_key_file(&next_path, &bytes)?;
                (key, false)
            }
        };
        let stored = self.stored_secrets().await?;
        let mut resealed = Vec::with_capacity(stored.len());
        for (name, s) in &stored {
            let aad = app_aad(name);
            let plain = keys.open(&aad, s)?;
            resealed.push((name.clone(), next.seal(&aad, &plain)?));
        }
        self.write_sealed(&resealed, Some(&stored)).await?;
        std::fs::rename(&next_path, &path).map_err(|e| {
            StoreError::SecretKey(format!(
                "the credentials are sealed under the new key in {}, but it could not replace {}: {e}; move it there \
                 by hand",
                next_path.display(),
                path.display()
            ))
        })?;
        let report = RotateReport {
            path: path.clone(),
            old_id: keys.current.id.clone(),
            resumed,
            new_id: next.id.clone(),
            resealed: resealed.len(),
        };
        *self.keys.1.lock().await = Some(Arc::new(Keys {
            current: next,
            pending: None,
            path: Some(path),
        }));
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn sealed_values_open_only_for_their_row_and_key() {
        let keys = Keys {
            current: Key::generate().unwrap().1,
            pending: None,
            path: None,
        };
        let sealed = keys.current.seal("app:crm", "hunter2").unwrap();
        assert!(sealed.starts_with(PREFIX) && !sealed.contains("hunter2"));
        assert_eq!(key_id_of(&sealed), Some(keys.current.id.as_str()));
        assert_eq!(keys.open("app:crm", &sealed).unwrap(), "hunter2");
        assert!(matches!(
            keys.open("app:erp", &sealed),
            Err(StoreError::SecretKey(_))
        ));
        let other = Keys {
            current: Key::generate().unwrap().1,
            pending: None,
            path: None,
        };
        let e = other.open("app:crm", &sealed).unwrap_err().to_string();
        assert!(
            e.contains(&keys.current.id) && e.contains("--secret-key-file"),
            "{e}"
        );
        assert_eq!(keys.open("app:crm", "plain").unwrap(), "plain");
        // Two seals of one value differ (random nonces).
        assert_ne!(
            keys.current.seal("app:crm", "x").unwrap(),
            keys.current.seal("app:crm", "x").unwrap()
        );
    }
}
