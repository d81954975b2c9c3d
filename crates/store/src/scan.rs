//! Reads of the directory that the provisioning engine needs: keyset scans for full reconciles (bounded memory
//! at any size) and the users of a group through nested groups.

use crate::directory::ResourceKind;
use crate::{Store, StoreError};
use std::collections::HashMap;

/// Keys (externalIds or lower-cased names) and the ids of the resources holding each.
pub type KeyIds = HashMap<String, Vec<String>>;

/// The statement of [`Store::ids_by_keys`]: the ids of the resources of `kind` whose `column` is one of `values`.
fn key_lookup<'v, DB: sqlx::Database>(
    kind: ResourceKind,
    column: &str,
    values: &'v [String],
) -> sqlx::QueryBuilder<DB>
where
    for<'t> &'t str: sqlx::Encode<'t, DB> + sqlx::Type<DB>,
{
    let mut q = sqlx::QueryBuilder::new("SELECT ");
    q.push(column)
        .push(", id FROM resources WHERE resource_type = ")
        .push_bind(kind.as_str())
        .push(" AND ")
        .push(column)
        .push(" IN (");
    let mut sep = q.separated(", ");
    for v in values {
        sep.push_bind(v.as_str());
    }
    q.push(") ORDER BY id");
    q
}

impl Store {
    /// The ids of up to `limit` resources of a type after `after`, in id order (keyset paging).
    pub async fn list_ids_after(
        &self,
        kind: ResourceKind,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<String>, StoreError> {
        on_db!(self, pool => {
            // `resource_type || ''` keeps the planner on the primary key: a range scan that stops after `limit`
            // rows. On the bare column SQLite reads every id of the type from the (resource_type, created, id)
            // index and sorts them, for each page: quadratic over a directory.
            let rows: Vec<(String,)> = sqlx::query_as(
                "SELECT id FROM resources WHERE resource_type || '' = $1 AND id > $2 ORDER BY id LIMIT $3",
            )
            .bind(kind.as_str()).bind(after.unwrap_or("")).bind(limit)
            .fetch_all(pool).await?;
            Ok(rows.into_iter().map(|r| r.0).collect())
        })
    }

    /// The directory ids, after `after` in id order (keyset paging), of up to `limit` of an app's links whose
    /// directory object no longer exists (deleted while no engine was running). One query per page, however
    /// many links are fine.
    pub async fn links_without_object(
        &self,
        app: &str,
        kind: ResourceKind,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<String>, StoreError> {
        on_db!(self, pool => {
            let rows: Vec<(String,)> = sqlx::query_as(
                "SELECT l.source_id FROM links l WHERE l.app = $1 AND l.resource_type = $2 AND l.source_id > $3 \
                 AND NOT EXISTS (SELECT 1 FROM resources r WHERE r.id = l.source_id AND r.resource_type = l.resource_type) \
                 ORDER BY l.source_id LIMIT $4",
            )
            .bind(app).bind(kind.as_str()).bind(after.unwrap_or("")).bind(limit)
            .fetch_all(pool).await?;
            Ok(rows.into_iter().map(|r| r.0).collect())
        })
    }

    /// The newest journal sequence number (0 when the journal is empty).
    pub async fn journal_head(&self) -> Result<i64, StoreError> {
        on_db!(self, pool => {
            let row: (Option<i64>,) = sqlx::query_as("SELECT MAX(seq) FROM journal").fetch_one(pool).await?;
            Ok(row.0.unwrap_or(0))
        })
    }

    /// How many resources of a type there are.
    pub async fn count_resources(&self, kind: ResourceKind) -> Result<u64, StoreError> {
        on_db!(self, pool => {
            let row: (i64,) = sqlx::query_as(crate::query::COUNT_OF_TYPE).bind(kind.as_str()).fetch_one(pool).await?;
            Ok(row.0.max(0).unsigned_abs())
        })
    }

    /// The users in a group, directly or through nested groups (cycles end), in id order.
    pub async fn group_user_ids(&self, group_id: &str) -> Result<Vec<String>, StoreError> {
        on_db!(self, pool => {
            let rows: Vec<(String,)> = sqlx::query_as(
                "WITH RECURSIVE sub(id) AS (SELECT $1 UNION SELECT m.member_id FROM memberships m JOIN sub s \
                 ON m.group_id = s.id WHERE m.member_type = 'Group') \
                 SELECT DISTINCT m.member_id FROM memberships m JOIN sub s ON m.group_id = s.id \
                 WHERE m.member_type = 'User' ORDER BY m.member_id",
            )
            .bind(group_id).fetch_all(pool).await?;
            Ok(rows.into_iter().map(|r| r.0).collect())
        })
    }

    /// The ids of the resources with this `externalId` (exact) — at most two, enough to tell "one" from "several".
    pub async fn ids_by_external_id(
        &self,
        kind: ResourceKind,
        external_id: &str,
    ) -> Result<Vec<String>, StoreError> {
        on_db!(self, pool => {
            let rows: Vec<(String,)> = sqlx::query_as(
                "SELECT id FROM resources WHERE resource_type = $1 AND external_id = $2 ORDER BY id LIMIT 2",
            )
            .bind(kind.as_str()).bind(external_id).fetch_all(pool).await?;
            Ok(rows.into_iter().map(|r| r.0).collect())
        })
    }

    /// The resources of a type holding these `externalId`s and names (a User's `userName`, a Group's
    /// `displayName`, compared case-insensitively; keyed by [`crate::name_key`]): key → ids, for an import that checks a
    /// batch of records at once. Two queries per 500 values.
    pub async fn ids_by_keys(
        &self,
        kind: ResourceKind,
        external_ids: &[String],
        names: &[String],
    ) -> Result<(KeyIds, KeyIds), StoreError> {
        let name_column = match kind {
            ResourceKind::User => "user_name_lc",
            ResourceKind::Group => "display_name_lc",
        };
        let names: Vec<String> = names.iter().map(|n| crate::name_key(kind, n)).collect();
        let mut held = (KeyIds::new(), KeyIds::new());
        for (column, values, found) in [
            ("external_id", external_ids, &mut held.0),
            (name_column, names.as_slice(), &mut held.1),
        ] {
            for chunk in values.chunks(500) {
                let keep = crate::keep_prepared(chunk.len());
                let rows: Vec<(String, String)> = match &self.db {
                    crate::Db::Sqlite(pool) => {
                        key_lookup(kind, column, chunk)
                            .build_query_as()
                            .persistent(keep)
                            .fetch_all(pool)
                            .await?
                    }
                    crate::Db::Postgres(pool) => {
                        // Without bitmap scans, so that the lookup is the btree's: with them PostgreSQL may
                        // answer `IN (500 names)` through the name's pg_trgm GIN index (migration 0008), whose
                        // cost it underestimates: 2.1 s for one lookup at 3,500 users, the trigrams of
                        // `@example.com` being in every name.
                        let mut tx = pool.begin().await?;
                        sqlx::query("SET LOCAL enable_bitmapscan = off")
                            .execute(&mut *tx)
                            .await?;
                        let rows = key_lookup(kind, column, chunk)
                            .build_query_as()
                            .persistent(keep)
                            .fetch_all(&mut *tx)
                            .await?;
                        tx.commit().await?;
                        rows
                    }
                };
                for (key, id) in rows {
                    found.entry(key).or_default().push(id);
                }
            }
        }
        Ok(held)
    }

    /// The ids of the resources with this name, compared case-insensitively: a User's `userName`, a Group's
    /// `displayName` — at most two.
    pub async fn ids_by_name(&self, kind: ResourceKind, name: &str) -> Result<Vec<String>, StoreError> {
        let column = match kind {
            ResourceKind::User => "user_name_lc",
            ResourceKind::Group => "display_name_lc",
        };
        let sql = format!(
            "SELECT id FROM resources WHERE resource_type = $1 AND {column} = $2 ORDER BY id LIMIT 2"
        );
        on_db!(self, pool => {
            let rows: Vec<(String,)> = sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
                .bind(kind.as_str()).bind(crate::name_key(kind, name)).fetch_all(pool).await?;
            Ok(rows.into_iter().map(|r| r.0).collect())
        })
    }

    /// A group's id from its id or its displayName (case-insensitive); `None` when no group has it, and a
    /// 409 `uniqueness` when the name is ambiguous.
    pub async fn resolve_group(&self, id_or_name: &str) -> Result<Option<String>, StoreError> {
        on_db!(self, pool => {
            let rows: Vec<(String,)> = sqlx::query_as(
                "SELECT id FROM resources WHERE resource_type = 'Group' AND (id = $1 OR display_name_lc = $2) \
                 ORDER BY (id = $1) DESC, id LIMIT 3",
            )
            .bind(id_or_name).bind(id_or_name.to_lowercase()).fetch_all(pool).await?;
            match rows.as_slice() {
                [] => Ok(None),
                [(one,)] => Ok(Some(one.clone())),
                [(first, ..), ..] if first == id_or_name => Ok(Some(first.clone())),
                _ => Err(roster_scim::ScimError::uniqueness(format!(
                    "more than one group is named '{id_or_name}'; name the group by its id"
                ))
                .into()),
            }
        })
    }
}
