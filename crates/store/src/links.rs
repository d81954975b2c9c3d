//! Links: which target account belongs to which directory object, in which state, and what roster last pushed
//! to it. One directory object has at most one account per app, and one account belongs to at most one object.

use crate::directory::ResourceKind;
use crate::provlog::LogEntry;
use crate::{Store, StoreError, from_micros, to_micros};
use roster_scim::ScimError;
use serde_json::{Map, Value};
use time::OffsetDateTime;

/// One object's sync record: its link changes and its log entry.
pub(crate) type SyncRecord = (Vec<LinkChange>, Option<LogEntry>);

/// The state of a linked account as roster left it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkState {
    /// Provisioned and active.
    Active,
    /// Deprovisioned by disabling (`active: false`); the account is kept and comes back if the object does.
    Disabled,
}

impl LinkState {
    /// The stored name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Disabled => "disabled",
        }
    }
    fn parse(s: &str) -> Result<Self, StoreError> {
        match s {
            "active" => Ok(Self::Active),
            "disabled" => Ok(Self::Disabled),
            other => Err(StoreError::Corrupt(format!("link state '{other}'"))),
        }
    }
}

/// A directory object's account in one app.
#[derive(Debug, Clone, PartialEq)]
pub struct Link {
    /// The app.
    pub app: String,
    /// User or Group.
    pub kind: ResourceKind,
    /// The directory object's id.
    pub source_id: String,
    /// The account's id in the app.
    pub target_id: String,
    /// What roster left the account as.
    pub state: LinkState,
    /// The mapped attributes roster last wrote.
    pub pushed: Map<String, Value>,
    /// A hash of `pushed`, compared before anything is sent.
    pub pushed_hash: String,
    /// When the link last changed.
    pub updated: OffsetDateTime,
}

/// One change to the links, for [`Store::record_sync`].
#[derive(Debug, Clone, PartialEq)]
pub enum LinkChange {
    /// Insert or replace the object's link.
    Save(Link),
    /// Forget the object's link.
    Delete {
        /// The app.
        app: String,
        /// User or Group.
        kind: ResourceKind,
        /// The directory object.
        source_id: String,
    },
}

type LinkRow = (String, String, String, String, String, String, String, i64);

fn link_from_row(row: LinkRow) -> Result<Link, StoreError> {
    let (app, kind, source_id, target_id, state, pushed, pushed_hash, updated) = row;
    Ok(Link {
        kind: ResourceKind::from_name(&kind)
            .ok_or_else(|| StoreError::Corrupt(format!("link resource type '{kind}'")))?,
        state: LinkState::parse(&state)?,
        pushed: serde_json::from_str(&pushed)
            .map_err(|e| StoreError::Corrupt(format!("pushed attributes of a link in '{app}': {e}")))?,
        updated: from_micros(updated)?,
        app,
        source_id,
        target_id,
        pushed_hash,
    })
}

impl Store {
    /// The link of a directory object in an app.
    pub async fn find_link(
        &self,
        app: &str,
        kind: ResourceKind,
        source_id: &str,
    ) -> Result<Option<Link>, StoreError> {
        on_db!(self, pool => {
            let row: Option<LinkRow> = sqlx::query_as(
                "SELECT app, resource_type, source_id, target_id, state, pushed, pushed_hash, updated FROM links \
                 WHERE app = $1 AND resource_type = $2 AND source_id = $3",
            )
            .bind(app).bind(kind.as_str()).bind(source_id)
            .fetch_optional(pool).await?;
            row.map(link_from_row).transpose()
        })
    }

    /// The link that holds a target account, if any.
    pub async fn find_link_by_target(
        &self,
        app: &str,
        kind: ResourceKind,
        target_id: &str,
    ) -> Result<Option<Link>, StoreError> {
        on_db!(self, pool => {
            let row: Option<LinkRow> = sqlx::query_as(
                "SELECT app, resource_type, source_id, target_id, state, pushed, pushed_hash, updated FROM links \
                 WHERE app = $1 AND resource_type = $2 AND target_id = $3",
            )
            .bind(app).bind(kind.as_str()).bind(target_id)
            .fetch_optional(pool).await?;
            row.map(link_from_row).transpose()
        })
    }

    /// Writes a link (insert or replace by directory object). Another object already linked to the same target
    /// account is a 409 `uniqueness`: one account never serves two identities.
    pub async fn save_link(&self, link: &Link) -> Result<(), StoreError> {
        self.record_sync(&[LinkChange::Save(link.clone())], None).await
    }

    /// Records the outcome of syncing one object in one transaction: its link changes, in order, and its log
    /// entry. A link that would give one target account to two objects is a 409 `uniqueness` and nothing is
    /// written. Records made at the same time by concurrent syncs are written together (see the crate-private
    /// `combine` module), each with the result it would have alone.
    pub async fn record_sync(
        &self,
        changes: &[LinkChange],
        log: Option<&LogEntry>,
    ) -> Result<(), StoreError> {
        let store = self.clone();
        self.records
            .submit((changes.to_vec(), log.cloned()), move |batch| {
                let store = store.clone();
                async move { store.record_batch(batch).await }
            })
            .await
            .unwrap_or_else(|| {
                Err(StoreError::Corrupt(
                    "a sync record was not written (its batch failed)".into(),
                ))
            })
    }

    /// Writes a batch of sync records: when every change is a link save of a distinct object, all of them as one
    /// multi-row upsert and all log entries as one multi-row insert in one transaction; when that is refused (an
    /// account claimed twice) or the batch has other changes, each record in a transaction of its own.
    async fn record_batch(&self, batch: Vec<SyncRecord>) -> Vec<Result<(), StoreError>> {
        let mut seen = std::collections::HashSet::new();
        let together = batch.len() > 1
            && batch.iter().all(|(changes, _)| {
                changes.iter().all(|c| match c {
                    LinkChange::Save(l) => seen.insert((l.app.as_str(), l.kind, l.source_id.as_str())),
                    LinkChange::Delete { .. } => false,
                })
            });
        if together {
            match self.record_together(&batch).await {
                Ok(()) => return batch.iter().map(|_| Ok(())).collect(),
                Err(StoreError::Scim(_)) => {}
                Err(e) => {
                    tracing::debug!(error = %e, "a batch of sync records failed; writing them one by one")
                }
            }
        }
        let mut results = Vec::with_capacity(batch.len());
        for (changes, log) in &batch {
            results.push(self.record_one(changes, log.as_ref()).await);
        }
        results
    }

    /// See [`Self::record_batch`]: link saves only, of distinct objects.
    async fn record_together(&self, batch: &[SyncRecord]) -> Result<(), StoreError> {
        let now = to_micros(OffsetDateTime::now_utc());
        let links: Vec<(&Link, String)> = batch
            .iter()
            .flat_map(|(changes, _)| changes.iter())
            .filter_map(|c| match c {
                LinkChange::Save(l) => Some((l, Value::Object(l.pushed.clone()).to_string())),
                LinkChange::Delete { .. } => None,
            })
            .collect();
        let logs: Vec<&LogEntry> = batch.iter().filter_map(|(_, log)| log.as_ref()).collect();
        let _writer = self.writer().await;
        on_db!(self, pool => {
            let mut tx = pool.begin_with(self.write_begin()).await?;
            for chunk in links.chunks(200) {
                let mut q = sqlx::QueryBuilder::new(
                    "INSERT INTO links (app, resource_type, source_id, target_id, state, pushed, pushed_hash, updated) ",
                );
                q.push_values(chunk, |mut b, (link, pushed)| {
                    b.push_bind(&link.app).push_bind(link.kind.as_str()).push_bind(&link.source_id)
                        .push_bind(&link.target_id).push_bind(link.state.as_str()).push_bind(pushed)
                        .push_bind(&link.pushed_hash).push_bind(now);
                });
                q.push(
                    " ON CONFLICT (app, resource_type, source_id) DO UPDATE SET target_id = excluded.target_id, \
                     state = excluded.state, pushed = excluded.pushed, pushed_hash = excluded.pushed_hash, updated = excluded.updated",
                );
                q.build().execute(&mut *tx).await.map_err(|e| match &e {
                    sqlx::Error::Database(db) if db.is_unique_violation() => {
                        StoreError::Scim(ScimError::uniqueness("a target account is linked twice"))
                    }
                    _ => StoreError::Db(e),
                })?;
            }
            for chunk in logs.chunks(200) {
                let mut q = sqlx::QueryBuilder::new(
                    "INSERT INTO provisioning_log (at, app, resource_type, source_id, target_id, action, outcome, attempt, \
                     http_status, code, message, duration_ms, exchanges) ",
                );
                q.push_values(chunk, |mut b, e| {
                    b.push_bind(to_micros(e.at)).push_bind(&e.app).push_bind(e.kind.as_str()).push_bind(&e.source_id)
                        .push_bind(&e.target_id).push_bind(&e.action).push_bind(e.outcome.as_str()).push_bind(e.attempt)
                        .push_bind(e.http_status).push_bind(&e.code).push_bind(&e.message).push_bind(e.duration_ms)
                        .push_bind(&e.exchanges);
                });
                q.build().execute(&mut *tx).await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// One sync record in a transaction of its own.
    async fn record_one(&self, changes: &[LinkChange], log: Option<&LogEntry>) -> Result<(), StoreError> {
        let _writer = self.writer().await;
        let now = to_micros(OffsetDateTime::now_utc());
        on_db!(self, pool => {
            let mut tx = pool.begin_with(self.write_begin()).await?;
            for change in changes {
                match change {
                    LinkChange::Save(link) => {
                        let pushed = Value::Object(link.pushed.clone()).to_string();
                        sqlx::query(
                            "INSERT INTO links (app, resource_type, source_id, target_id, state, pushed, pushed_hash, updated) \
                             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
                             ON CONFLICT (app, resource_type, source_id) DO UPDATE SET target_id = excluded.target_id, \
                             state = excluded.state, pushed = excluded.pushed, pushed_hash = excluded.pushed_hash, updated = excluded.updated",
                        )
                        .bind(&link.app).bind(link.kind.as_str()).bind(&link.source_id).bind(&link.target_id)
                        .bind(link.state.as_str()).bind(&pushed).bind(&link.pushed_hash).bind(now)
                        .execute(&mut *tx).await
                        .map_err(|e| match &e {
                            sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Scim(ScimError::uniqueness(format!(
                                "target account {} in app '{}' is already linked to another directory object",
                                link.target_id, link.app
                            ))),
                            _ => StoreError::Db(e),
                        })?;
                    }
                    LinkChange::Delete { app, kind, source_id } => {
                        sqlx::query("DELETE FROM links WHERE app = $1 AND resource_type = $2 AND source_id = $3")
                            .bind(app).bind(kind.as_str()).bind(source_id)
                            .execute(&mut *tx).await?;
                    }
                }
            }
            if let Some(e) = log {
                sqlx::query(
                    "INSERT INTO provisioning_log (at, app, resource_type, source_id, target_id, action, outcome, attempt, \
                     http_status, code, message, duration_ms, exchanges) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
                )
                .bind(to_micros(e.at)).bind(&e.app).bind(e.kind.as_str()).bind(&e.source_id).bind(&e.target_id)
                .bind(&e.action).bind(e.outcome.as_str()).bind(e.attempt).bind(e.http_status).bind(&e.code)
                .bind(&e.message).bind(e.duration_ms).bind(&e.exchanges)
                .execute(&mut *tx).await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// Forgets a directory object's link. Returns whether there was one.
    pub async fn delete_link(
        &self,
        app: &str,
        kind: ResourceKind,
        source_id: &str,
    ) -> Result<bool, StoreError> {
        let _writer = self.writer().await;
        on_db!(self, pool => {
            let n = sqlx::query("DELETE FROM links WHERE app = $1 AND resource_type = $2 AND source_id = $3")
                .bind(app).bind(kind.as_str()).bind(source_id)
                .execute(pool).await?.rows_affected();
            Ok(n == 1)
        })
    }

    /// A page of an app's links of one type, by directory id after `after` (keyset paging).
    pub async fn list_links(
        &self,
        app: &str,
        kind: ResourceKind,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<Link>, StoreError> {
        on_db!(self, pool => {
            let rows: Vec<LinkRow> = sqlx::query_as(
                "SELECT app, resource_type, source_id, target_id, state, pushed, pushed_hash, updated FROM links \
                 WHERE app = $1 AND resource_type = $2 AND source_id > $3 ORDER BY source_id LIMIT $4",
            )
            .bind(app).bind(kind.as_str()).bind(after.unwrap_or("")).bind(limit)
            .fetch_all(pool).await?;
            rows.into_iter().map(link_from_row).collect()
        })
    }

    /// The links of several directory objects, by directory id.
    pub async fn find_links(
        &self,
        app: &str,
        kind: ResourceKind,
        source_ids: &[String],
    ) -> Result<std::collections::HashMap<String, Link>, StoreError> {
        let mut out = std::collections::HashMap::with_capacity(source_ids.len());
        for chunk in source_ids.chunks(500) {
            on_db!(self, pool => {
                let mut q = sqlx::QueryBuilder::new(
                    "SELECT app, resource_type, source_id, target_id, state, pushed, pushed_hash, updated FROM links WHERE app = ",
                );
                q.push_bind(app).push(" AND resource_type = ").push_bind(kind.as_str()).push(" AND source_id IN (");
                let mut sep = q.separated(", ");
                for id in chunk {
                    sep.push_bind(id.as_str());
                }
                q.push(")");
                let rows: Vec<LinkRow> =
                    q.build_query_as().persistent(crate::keep_prepared(chunk.len())).fetch_all(pool).await?;
                for row in rows {
                    let link = link_from_row(row)?;
                    out.insert(link.source_id.clone(), link);
                }
            });
        }
        Ok(out)
    }

    /// The target ids of linked directory objects, by directory id (objects without a link are left out).
    pub async fn target_ids(
        &self,
        app: &str,
        kind: ResourceKind,
        source_ids: &[String],
    ) -> Result<std::collections::HashMap<String, String>, StoreError> {
        let mut out = std::collections::HashMap::with_capacity(source_ids.len());
        for chunk in source_ids.chunks(500) {
            on_db!(self, pool => {
                let mut q = sqlx::QueryBuilder::new("SELECT source_id, target_id FROM links WHERE app = ");
                q.push_bind(app).push(" AND resource_type = ").push_bind(kind.as_str()).push(" AND source_id IN (");
                let mut sep = q.separated(", ");
                for id in chunk {
                    sep.push_bind(id.as_str());
                }
                q.push(")");
                let rows: Vec<(String, String)> =
                    q.build_query_as().persistent(crate::keep_prepared(chunk.len())).fetch_all(pool).await?;
                out.extend(rows);
            });
        }
        Ok(out)
    }

    /// How many links an app has, by state.
    pub async fn count_links(&self, app: &str, kind: ResourceKind) -> Result<(u64, u64), StoreError> {
        on_db!(self, pool => {
            let rows: Vec<(String, i64)> = sqlx::query_as(
                "SELECT state, COUNT(*) FROM links WHERE app = $1 AND resource_type = $2 GROUP BY state",
            )
            .bind(app).bind(kind.as_str()).fetch_all(pool).await?;
            let get = |s: LinkState| rows.iter().find(|r| r.0 == s.as_str()).map_or(0, |r| r.1.max(0).unsigned_abs());
            Ok((get(LinkState::Active), get(LinkState::Disabled)))
        })
    }
}
