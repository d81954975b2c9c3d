//! Reading directory resources: one by id (a Group with its `members`, a User with its derived `groups`, or
//! without them, [`Related`]), many by id for a page, on SQLite's calling thread where that is cheaper
//! ([`crate::readers`]).

use super::{Related, ResourceKind, StoredResource};
use crate::{Db, Store, StoreError, from_micros};
use serde_json::{Map, Value, json};
use sqlx::Row;
use sqlx::types::Json;

/// One entry of a Group's `members` (its `type` as stored) or of a User's derived `groups` (`direct` at depth 0,
/// else `indirect`).
fn related_entry(
    kind: ResourceKind,
    value: String,
    member_type: Option<String>,
    display: Option<String>,
    depth: i64,
) -> Value {
    let mut item = json!({"value": value});
    item["type"] = match kind {
        ResourceKind::Group => member_type.map_or(Value::Null, Value::String),
        ResourceKind::User => Value::from(if depth == 0 { "direct" } else { "indirect" }),
    };
    if let Some(d) = display {
        item["display"] = Value::String(d);
    }
    item
}

impl Store {
    /// Reads a resource: a Group with its `members`, a User with its derived `groups` (direct and indirect). One
    /// statement: the members or groups come back as one JSON array beside the resource.
    pub async fn get_resource(
        &self,
        kind: ResourceKind,
        id: &str,
    ) -> Result<Option<StoredResource>, StoreError> {
        self.get_resource_with(kind, id, Related::Read).await
    }

    /// Reads a resource as [`get_resource`](Self::get_resource) does, its related rows only when `related` says
    /// so: without them the read costs the same for a group of 20 members and one of 200,000.
    pub async fn get_resource_with(
        &self,
        kind: ResourceKind,
        id: &str,
        related: Related,
    ) -> Result<Option<StoredResource>, StoreError> {
        // $1 type, $2 id; the related rows as one JSON array of {value, type, display, depth}, or NULL.
        let sql = match related {
            Related::Skip => {
                "SELECT id, data, version, created, last_modified, NULL AS related \
                 FROM resources WHERE resource_type = $1 AND id = $2"
            }
            Related::Read => Self::read_sql(kind, &self.db),
        };
        self.read_one(kind, id, sql).await
    }

    /// The statement that reads one resource with its related rows ($1 type, $2 id), made once per kind and
    /// backend.
    fn read_sql(kind: ResourceKind, db: &Db) -> &'static str {
        use std::sync::LazyLock;
        fn make(kind: ResourceKind, postgres: bool) -> String {
            let related = Store::related_sql(kind, postgres);
            format!(
                "WITH RECURSIVE anc(group_id, depth) AS ( \
                   SELECT group_id, 0 FROM memberships WHERE member_id = $2 AND $1 = 'User' \
                   UNION SELECT m.group_id, 1 FROM memberships m JOIN anc a ON m.member_id = a.group_id) \
                 SELECT id, data, version, created, last_modified, {related} AS related \
                 FROM resources WHERE resource_type = $1 AND id = $2"
            )
        }
        static USER_SQLITE: LazyLock<String> = LazyLock::new(|| make(ResourceKind::User, false));
        static USER_POSTGRES: LazyLock<String> = LazyLock::new(|| make(ResourceKind::User, true));
        static GROUP_SQLITE: LazyLock<String> = LazyLock::new(|| make(ResourceKind::Group, false));
        static GROUP_POSTGRES: LazyLock<String> = LazyLock::new(|| make(ResourceKind::Group, true));
        match (kind, db) {
            (ResourceKind::User, Db::Sqlite(_)) => &USER_SQLITE,
            (ResourceKind::User, Db::Postgres(_)) => &USER_POSTGRES,
            (ResourceKind::Group, Db::Sqlite(_)) => &GROUP_SQLITE,
            (ResourceKind::Group, Db::Postgres(_)) => &GROUP_POSTGRES,
        }
    }

    /// The SQL of a resource's related rows, as one JSON array of {value, type, display, depth}: a User's groups
    /// through the recursive `anc`, a Group's members.
    fn related_sql(kind: ResourceKind, postgres: bool) -> &'static str {
        match (kind, postgres) {
            (ResourceKind::User, false) => {
                "(SELECT json_group_array(json_object('value', g.group_id, 'type', 'Group', 'display', g.display, 'depth', g.depth)) FROM (SELECT a.group_id, x.display_name AS display, MIN(a.depth) AS depth FROM anc a JOIN resources x ON x.id = a.group_id GROUP BY a.group_id, x.display_name) g)"
            }
            (ResourceKind::User, true) => {
                "(SELECT json_agg(json_build_object('value', g.group_id, 'type', 'Group', 'display', g.display, 'depth', g.depth))::text FROM (SELECT a.group_id, x.display_name AS display, MIN(a.depth) AS depth FROM anc a JOIN resources x ON x.id = a.group_id GROUP BY a.group_id, x.display_name) g)"
            }
            (ResourceKind::Group, false) => {
                "(SELECT json_group_array(json_object('value', m.member_id, 'type', m.member_type, 'display', COALESCE(m.display, x.display_name, json_extract(x.data, '$.userName')), 'depth', 0)) FROM memberships m JOIN resources x ON x.id = m.member_id WHERE m.group_id = $2)"
            }
            (ResourceKind::Group, true) => {
                "(SELECT json_agg(json_build_object('value', m.member_id, 'type', m.member_type, 'display', COALESCE(m.display, x.display_name, x.data->>'userName'), 'depth', 0))::text FROM memberships m JOIN resources x ON x.id = m.member_id WHERE m.group_id = $2)"
            }
        }
    }

    /// Runs `sql` ($1 type, $2 id; the columns of a [`ResourceRow`]) for one resource: on the SQLite readers'
    /// pool when there is one, else through sqlx.
    async fn read_one(
        &self,
        kind: ResourceKind,
        id: &str,
        sql: &str,
    ) -> Result<Option<StoredResource>, StoreError> {
        if let Some(readers) = &self.readers {
            let row = readers.read(|conn| {
                use rusqlite::OptionalExtension;
                conn.prepare_cached(sql)?
                    .query_row(rusqlite::named_params! {"$1": kind.as_str(), "$2": id}, |row| {
                        let data = match row.get_ref("data")? {
                            rusqlite::types::ValueRef::Text(t) | rusqlite::types::ValueRef::Blob(t) => {
                                t.to_vec()
                            }
                            _ => Vec::new(),
                        };
                        Ok(ResourceRow {
                            id: row.get("id")?,
                            data: DataColumn::Text(data),
                            version: row.get("version")?,
                            created: row.get("created")?,
                            last_modified: row.get("last_modified")?,
                            related: row.get("related")?,
                        })
                    })
                    .optional()
            })?;
            return row.map(|r| r.assemble(kind)).transpose();
        }
        on_db!(self, pool => {
            let Some(row) = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(kind.as_str()).bind(id).fetch_optional(pool).await? else {
                return Ok(None);
            };
            let Json(data): Json<Map<String, Value>> = row.try_get("data")?;
            ResourceRow {
                id: row.try_get("id")?,
                data: DataColumn::Parsed(data),
                version: row.try_get("version")?,
                created: row.try_get("created")?,
                last_modified: row.try_get("last_modified")?,
                related: row.try_get("related")?,
            }
            .assemble(kind)
            .map(Some)
        })
    }

    /// Reads resources by id, in the order given (missing ones are left out), with members or derived groups
    /// for all of them in one query.
    pub async fn load_resources(
        &self,
        kind: ResourceKind,
        ids: &[String],
    ) -> Result<Vec<StoredResource>, StoreError> {
        self.load_resources_with(kind, ids, Related::Read).await
    }

    /// Reads resources by id as [`load_resources`](Self::load_resources) does, their related rows only when
    /// `related` says so.
    pub async fn load_resources_with(
        &self,
        kind: ResourceKind,
        ids: &[String],
        related: Related,
    ) -> Result<Vec<StoredResource>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        if let Some(readers) = &self.readers {
            return load_in_place(readers, kind, ids, related);
        }
        on_db!(self, pool => {
            // `resource_type || ''`: the ids are looked up by primary key (on the bare column SQLite walks every
            // resource of the type through the (resource_type, created, id) index).
            let mut q = sqlx::QueryBuilder::new("SELECT id, data, version, created, last_modified FROM resources WHERE resource_type || '' = ");
            q.push_bind(kind.as_str());
            q.push(" AND id IN (");
            let mut sep = q.separated(", ");
            for id in ids {
                sep.push_bind(id.as_str());
            }
            q.push(")");
            let mut resources = Vec::new();
            for row in q.build().fetch_all(pool).await? {
                let Json(data): Json<Map<String, Value>> = row.try_get("data")?;
                resources.push(StoredResource {
                    id: row.try_get("id")?,
                    kind,
                    data,
                    version: row.try_get("version")?,
                    created: from_micros(row.try_get("created")?)?,
                    last_modified: from_micros(row.try_get("last_modified")?)?,
                });
            }
            let mut entries = Vec::new();
            if related == Related::Read && !resources.is_empty() {
                let (head, tail) = related_page_sql(kind, matches!(self.db, Db::Postgres(_)));
                let mut q = sqlx::QueryBuilder::new(head);
                let mut sep = q.separated(", ");
                for r in &resources {
                    sep.push_bind(r.id.as_str());
                }
                q.push(tail);
                for row in q.build().fetch_all(pool).await? {
                    let depth: i64 = row.try_get::<i64, _>("depth").or_else(|_| row.try_get::<i32, _>("depth").map(i64::from))?;
                    let item = related_entry(kind, row.try_get("value")?, row.try_get("type")?, row.try_get("display")?, depth);
                    entries.push((row.try_get("owner")?, item));
                }
            }
            Ok(in_order(kind, ids, resources, entries))
        })
    }
}

/// The statement of a page's related rows (a Group's members, a User's derived groups) as its head and tail,
/// the owners' ids bound between them. Columns: owner, value, type, display, depth.
fn related_page_sql(kind: ResourceKind, postgres: bool) -> (&'static str, &'static str) {
    let head = match (kind, postgres) {
        (ResourceKind::Group, false) => {
            "SELECT m.group_id AS owner, m.member_id AS value, m.member_type AS type, \
             COALESCE(m.display, x.display_name, json_extract(x.data, '$.userName')) AS display, 0 AS depth \
             FROM memberships m JOIN resources x ON x.id = m.member_id WHERE m.group_id IN ("
        }
        (ResourceKind::Group, true) => {
            "SELECT m.group_id AS owner, m.member_id AS value, m.member_type AS type, \
             COALESCE(m.display, x.display_name, x.data->>'userName') AS display, 0 AS depth \
             FROM memberships m JOIN resources x ON x.id = m.member_id WHERE m.group_id IN ("
        }
        (ResourceKind::User, _) => {
            "WITH RECURSIVE anc(owner, group_id, depth) AS ( \
             SELECT member_id, group_id, 0 FROM memberships WHERE member_id IN ("
        }
    };
    let tail = match kind {
        ResourceKind::Group => ") ORDER BY m.group_id, m.member_id",
        ResourceKind::User => {
            ") UNION SELECT a.owner, m.group_id, 1 FROM memberships m JOIN anc a ON m.member_id = a.group_id) \
             SELECT a.owner, a.group_id AS value, 'Group' AS type, r.display_name AS display, MIN(a.depth) AS depth \
             FROM anc a JOIN resources r ON r.id = a.group_id \
             GROUP BY a.owner, a.group_id, r.display_name ORDER BY a.owner, a.group_id"
        }
    };
    (head, tail)
}

/// The resources in the order of `ids` (missing ones left out), each with its related entries (owner, entry) in
/// the order given.
fn in_order(
    kind: ResourceKind,
    ids: &[String],
    resources: Vec<StoredResource>,
    entries: Vec<(String, Value)>,
) -> Vec<StoredResource> {
    let attr = match kind {
        ResourceKind::Group => "members",
        ResourceKind::User => "groups",
    };
    let mut by_id: std::collections::HashMap<String, StoredResource> =
        resources.into_iter().map(|r| (r.id.clone(), r)).collect();
    for (owner, item) in entries {
        if let Some(r) = by_id.get_mut(&owner) {
            match r.data.entry(attr) {
                serde_json::map::Entry::Occupied(mut e) => {
                    if let Some(a) = e.get_mut().as_array_mut() {
                        a.push(item);
                    }
                }
                serde_json::map::Entry::Vacant(e) => {
                    e.insert(Value::Array(vec![item]));
                }
            }
        }
    }
    ids.iter().filter_map(|id| by_id.remove(id)).collect()
}

/// [`Store::load_resources_with`] on SQLite's calling thread ([`crate::readers`]): the page's resources and their
/// related rows in two statements on one reader connection, instead of two hand-offs to sqlx's connection thread.
fn load_in_place(
    readers: &crate::readers::Readers,
    kind: ResourceKind,
    ids: &[String],
    related: Related,
) -> Result<Vec<StoredResource>, StoreError> {
    // ?1 is the type; the ids are ?2, ?3, …
    let marks = |from: usize| {
        (from..from + ids.len())
            .map(|i| format!("?{i}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let rows_sql = format!(
        "SELECT id, data, version, created, last_modified FROM resources WHERE resource_type || '' = ?1 AND id IN ({})",
        marks(2)
    );
    let (head, tail) = related_page_sql(kind, false);
    let related_sql = format!("{head}{}{tail}", marks(1));
    type Row = (String, Vec<u8>, i64, i64, i64);
    type Entry = (String, String, Option<String>, Option<String>, i64);
    let (rows, entries) = readers.read(|conn| {
        let mut params: Vec<&dyn rusqlite::ToSql> = Vec::with_capacity(ids.len() + 1);
        let kind_name = kind.as_str();
        params.push(&kind_name);
        params.extend(ids.iter().map(|i| i as &dyn rusqlite::ToSql));
        let rows = conn
            .prepare_cached(&rows_sql)?
            .query_map(params.as_slice(), |row| {
                let data = match row.get_ref("data")? {
                    rusqlite::types::ValueRef::Text(t) | rusqlite::types::ValueRef::Blob(t) => t.to_vec(),
                    _ => Vec::new(),
                };
                Ok((
                    row.get("id")?,
                    data,
                    row.get("version")?,
                    row.get("created")?,
                    row.get("last_modified")?,
                ))
            })?
            .collect::<rusqlite::Result<Vec<Row>>>()?;
        let entries = if related == Related::Read && !rows.is_empty() {
            conn.prepare_cached(&related_sql)?
                .query_map(rusqlite::params_from_iter(ids), |row| {
                    Ok((
                        row.get("owner")?,
                        row.get("value")?,
                        row.get("type")?,
                        row.get("display")?,
                        row.get("depth")?,
                    ))
                })?
                .collect::<rusqlite::Result<Vec<Entry>>>()?
        } else {
            Vec::new()
        };
        Ok((rows, entries))
    })?;
    let mut resources = Vec::with_capacity(rows.len());
    for (id, data, version, created, last_modified) in rows {
        let data: Map<String, Value> =
            serde_json::from_slice(&data).map_err(|e| StoreError::Corrupt(format!("data of {id}: {e}")))?;
        resources.push(StoredResource {
            id,
            kind,
            data,
            version,
            created: from_micros(created)?,
            last_modified: from_micros(last_modified)?,
        });
    }
    let entries = entries
        .into_iter()
        .map(|(owner, value, member_type, display, depth)| {
            (owner, related_entry(kind, value, member_type, display, depth))
        })
        .collect();
    Ok(in_order(kind, ids, resources, entries))
}

/// A resource's stored JSON: as read by sqlx (parsed) or as text from a reader connection.
enum DataColumn {
    Parsed(Map<String, Value>),
    Text(Vec<u8>),
}

/// The row [`Store::get_resource`] reads: the resource and its related rows as one JSON array.
struct ResourceRow {
    id: String,
    data: DataColumn,
    version: i64,
    created: i64,
    last_modified: i64,
    related: Option<String>,
}

impl ResourceRow {
    /// The resource, with a Group's `members` or a User's derived `groups` from the related rows.
    fn assemble(self, kind: ResourceKind) -> Result<StoredResource, StoreError> {
        let id = self.id;
        let mut data = match self.data {
            DataColumn::Parsed(m) => m,
            DataColumn::Text(t) => {
                serde_json::from_slice(&t).map_err(|e| StoreError::Corrupt(format!("data of {id}: {e}")))?
            }
        };
        let mut items: Vec<Value> = match self.related {
            Some(text) => serde_json::from_str(&text)
                .map_err(|e| StoreError::Corrupt(format!("related rows of {id}: {e}")))?,
            None => Vec::new(),
        };
        if !items.is_empty() {
            items.sort_by(|a, b| a["value"].as_str().cmp(&b["value"].as_str()));
            let text = |o: &Value, k: &str| o.get(k).and_then(Value::as_str).map(str::to_owned);
            for item in &mut items {
                let depth = item.get("depth").and_then(Value::as_i64).unwrap_or(0);
                *item = related_entry(
                    kind,
                    text(item, "value").unwrap_or_default(),
                    text(item, "type"),
                    text(item, "display"),
                    depth,
                );
            }
            let attr = match kind {
                ResourceKind::Group => "members",
                ResourceKind::User => "groups",
            };
            data.insert(attr.into(), Value::Array(items));
        }
        Ok(StoredResource {
            id,
            kind,
            data,
            version: self.version,
            created: from_micros(self.created)?,
            last_modified: from_micros(self.last_modified)?,
        })
    }
}
