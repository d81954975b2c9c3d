//! Reading directory resources: one by id (a Group with its `members`, a User with its derived `groups`, or
//! without them, [`Related`]), many by id for a page, on SQLite's calling thread where that is cheaper
//! ([`crate::readers`]).

use super::{Related, ResourceKind, StoredResource, meta};
use crate::{Db, Store, StoreError, from_micros};
use roster_scim::resource::Meta;
use serde_json::{Map, Value, json};
use sqlx::Row;
use time::OffsetDateTime;

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

/// A resource as read, its attributes still the JSON text they are stored as: a server can answer the default
/// representation from the text without parsing it (`roster_scim::rendered`), and [`parse`](Self::parse)s it for
/// anything else.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredText {
    /// The id.
    pub id: String,
    /// User or Group.
    pub kind: ResourceKind,
    /// The attributes as stored: a JSON object without `id`, `meta`, a Group's `members` and a User's `groups`.
    pub data: String,
    /// A Group's `members` or a User's derived `groups` (ordered by `value`); empty when there are none or they
    /// were not read.
    pub related: Vec<Value>,
    /// Increases by one with every change.
    pub version: i64,
    /// Creation time.
    pub created: OffsetDateTime,
    /// Time of the last change.
    pub last_modified: OffsetDateTime,
}

impl StoredText {
    /// The weak entity tag of this version.
    pub fn etag(&self) -> String {
        Meta::weak_etag(self.version)
    }

    /// The `meta` for a server whose SCIM base URL is `base_url`.
    pub fn meta(&self, base_url: &str) -> Meta {
        meta(
            self.kind,
            &self.id,
            self.version,
            self.created,
            self.last_modified,
            base_url,
        )
    }

    /// The attribute the related rows are: `members` for a Group, `groups` for a User.
    pub fn related_attribute(&self) -> &'static str {
        match self.kind {
            ResourceKind::Group => "members",
            ResourceKind::User => "groups",
        }
    }

    /// The resource with its attributes parsed and the related rows (if any) among them.
    pub fn parse(self) -> Result<StoredResource, StoreError> {
        let attr = self.related_attribute();
        let mut data: Map<String, Value> = serde_json::from_str(&self.data)
            .map_err(|e| StoreError::Corrupt(format!("data of {}: {e}", self.id)))?;
        if !self.related.is_empty() {
            data.insert(attr.into(), Value::Array(self.related));
        }
        Ok(StoredResource {
            id: self.id,
            kind: self.kind,
            data,
            version: self.version,
            created: self.created,
            last_modified: self.last_modified,
        })
    }
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
        self.get_resource_text(kind, id, related)
            .await?
            .map(StoredText::parse)
            .transpose()
    }

    /// Reads a resource as [`get_resource_with`](Self::get_resource_with) does, its attributes left as the JSON
    /// text they are stored as: a server answers the default representation from it without parsing it.
    pub async fn get_resource_text(
        &self,
        kind: ResourceKind,
        id: &str,
        related: Related,
    ) -> Result<Option<StoredText>, StoreError> {
        if let Some(readers) = &self.readers {
            return read_text_in_place(readers, kind, id, related);
        }
        let postgres = matches!(self.db, Db::Postgres(_));
        let sql = match related {
            Related::Skip => skip_sql(kind, postgres),
            Related::Read => read_sql(kind, postgres),
        };
        on_db!(self, pool => {
            let Some(row) = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(kind.as_str()).bind(id).fetch_optional(pool).await? else {
                return Ok(None);
            };
            ResourceRow {
                id: row.try_get("id")?,
                data: row.try_get("data")?,
                version: row.try_get("version")?,
                created: row.try_get("created")?,
                last_modified: row.try_get("last_modified")?,
                related: row.try_get("related")?,
            }
            .into_text(kind)
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
        self.load_texts_with(kind, ids, related)
            .await?
            .into_iter()
            .map(StoredText::parse)
            .collect()
    }

    /// Reads resources by id as [`load_resources_with`](Self::load_resources_with) does, their attributes left
    /// as the JSON text they are stored as.
    pub async fn load_texts_with(
        &self,
        kind: ResourceKind,
        ids: &[String],
        related: Related,
    ) -> Result<Vec<StoredText>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        if let Some(readers) = &self.readers {
            return load_in_place(readers, kind, ids, related);
        }
        let pool = match &self.db {
            Db::Postgres(pool) => return load_texts_postgres(pool, kind, ids, related).await,
            Db::Sqlite(pool) => pool,
        };
        // `resource_type || ''`: the ids are looked up by primary key (on the bare column SQLite walks every
        // resource of the type through the (resource_type, created, id) index). `has_related`: the statement of
        // the related rows runs only for the resources that have some (a round trip and a recursive statement
        // saved for a page of users in no group).
        let mut q = sqlx::QueryBuilder::new(format!(
            "SELECT id, data, version, created, last_modified, {} FROM resources WHERE resource_type || '' = ",
            has_related(kind),
        ));
        q.push_bind(kind.as_str());
        q.push(" AND id IN (");
        let mut sep = q.separated(", ");
        for id in ids {
            sep.push_bind(id.as_str());
        }
        q.push(")");
        let mut resources = Vec::new();
        let mut owners = Vec::new();
        for row in q
            .build()
            .persistent(crate::keep_prepared(ids.len()))
            .fetch_all(pool)
            .await?
        {
            push_row(&row, kind, &mut resources, &mut owners)?;
        }
        let mut entries = Vec::new();
        if related == Related::Read && !owners.is_empty() {
            let (head, tail) = related_page_sql(kind);
            let mut q = sqlx::QueryBuilder::new(head);
            let mut sep = q.separated(", ");
            for id in &owners {
                sep.push_bind(id.as_str());
            }
            q.push(tail);
            for row in q
                .build()
                .persistent(crate::keep_prepared(owners.len()))
                .fetch_all(pool)
                .await?
            {
                let depth: i64 = row
                    .try_get::<i64, _>("depth")
                    .or_else(|_| row.try_get::<i32, _>("depth").map(i64::from))?;
                let item = related_entry(
                    kind,
                    row.try_get("value")?,
                    row.try_get("type")?,
                    row.try_get("display")?,
                    depth,
                );
                entries.push((row.try_get("owner")?, item));
            }
        }
        Ok(in_order(ids, resources, entries))
    }
}

/// A row of a page's resources (id, data, version, created, last_modified, has_related) added to `resources`,
/// and its id to `owners` when it has related rows.
fn push_row<'r, R>(
    row: &'r R,
    kind: ResourceKind,
    resources: &mut Vec<StoredText>,
    owners: &mut Vec<String>,
) -> Result<(), StoreError>
where
    R: Row,
    &'static str: sqlx::ColumnIndex<R>,
    String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    bool: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    let id: String = row.try_get("id")?;
    if row.try_get::<bool, _>("has_related")? {
        owners.push(id.clone());
    }
    resources.push(StoredText {
        id,
        kind,
        data: row.try_get("data")?,
        related: Vec::new(),
        version: row.try_get("version")?,
        created: from_micros(row.try_get("created")?)?,
        last_modified: from_micros(row.try_get("last_modified")?)?,
    });
    Ok(())
}

/// [`Store::load_texts_with`] on PostgreSQL: the ids bound as one array, so each statement is prepared once
/// whatever the page's size, and its plan walks indexes whatever the statistics say (`resource_type || ''`:
/// without statistics PostgreSQL read every resource of the type through the `(resource_type, created, id)`
/// index and filtered them by id, 10 ms a page at 20,000 users). A User's derived groups
/// probe `memberships` by member and `resources` by id for each row of the recursion (`LATERAL … OFFSET 0` and a
/// scalar subquery keep the planner from joining them whole): written as joins, PostgreSQL estimated the
/// recursion at a hundred times its rows and hashed every membership and every resource for each page (19 ms a
/// page of 250 users at 20,000 members of one group, growing with the directory; 3.5 ms now).
async fn load_texts_postgres(
    pool: &sqlx::PgPool,
    kind: ResourceKind,
    ids: &[String],
    related: Related,
) -> Result<Vec<StoredText>, StoreError> {
    let sql = match kind {
        ResourceKind::User => {
            "SELECT id, data::text AS data, version, created, last_modified, \
             EXISTS (SELECT 1 FROM memberships WHERE member_id = resources.id) AS has_related \
             FROM resources WHERE resource_type || '' = 'User' AND id = ANY($1::text[])"
        }
        ResourceKind::Group => {
            "SELECT id, data::text AS data, version, created, last_modified, \
             EXISTS (SELECT 1 FROM memberships WHERE group_id = resources.id) AS has_related \
             FROM resources WHERE resource_type || '' = 'Group' AND id = ANY($1::text[])"
        }
    };
    let mut resources = Vec::new();
    let mut owners = Vec::new();
    for row in sqlx::query(sql).bind(ids).fetch_all(pool).await? {
        push_row(&row, kind, &mut resources, &mut owners)?;
    }
    let mut entries = Vec::new();
    if related == Related::Read && !owners.is_empty() {
        let sql = match kind {
            ResourceKind::User => {
                "WITH RECURSIVE anc(owner, group_id, depth) AS ( \
                   SELECT k.id, m.group_id, 0 FROM unnest($1::text[]) AS k(id) \
                   CROSS JOIN LATERAL (SELECT group_id FROM memberships WHERE member_id = k.id OFFSET 0) m \
                   UNION SELECT a.owner, m.group_id, 1 FROM anc a \
                   CROSS JOIN LATERAL (SELECT group_id FROM memberships WHERE member_id = a.group_id OFFSET 0) m) \
                 SELECT a.owner, a.group_id AS value, 'Group' AS type, \
                   (SELECT r.display_name FROM resources r WHERE r.id = a.group_id) AS display, MIN(a.depth) AS depth \
                 FROM anc a GROUP BY a.owner, a.group_id ORDER BY a.owner, a.group_id"
            }
            ResourceKind::Group => {
                "SELECT m.group_id AS owner, m.member_id AS value, m.member_type AS type, \
                 COALESCE(m.display, x.display_name, x.data->>'userName') AS display, 0 AS depth \
                 FROM memberships m JOIN resources x ON x.id = m.member_id WHERE m.group_id = ANY($1::text[]) \
                 ORDER BY m.group_id, m.member_id"
            }
        };
        for row in sqlx::query(sql).bind(&owners).fetch_all(pool).await? {
            let item = related_entry(
                kind,
                row.try_get("value")?,
                row.try_get("type")?,
                row.try_get("display")?,
                i64::from(row.try_get::<i32, _>("depth")?),
            );
            entries.push((row.try_get("owner")?, item));
        }
    }
    Ok(in_order(ids, resources, entries))
}

/// The statement of a page's related rows on SQLite (a Group's members, a User's derived groups) as its head and tail,
/// the owners' ids bound between them. Columns: owner, value, type, display, depth.
fn related_page_sql(kind: ResourceKind) -> (&'static str, &'static str) {
    let head = match kind {
        ResourceKind::Group => {
            "SELECT m.group_id AS owner, m.member_id AS value, m.member_type AS type, \
             COALESCE(m.display, x.display_name, json_extract(x.data, '$.userName')) AS display, 0 AS depth \
             FROM memberships m JOIN resources x ON x.id = m.member_id WHERE m.group_id IN ("
        }
        ResourceKind::User => {
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
fn in_order(ids: &[String], resources: Vec<StoredText>, entries: Vec<(String, Value)>) -> Vec<StoredText> {
    let mut by_id: std::collections::HashMap<String, StoredText> =
        resources.into_iter().map(|r| (r.id.clone(), r)).collect();
    for (owner, item) in entries {
        if let Some(r) = by_id.get_mut(&owner) {
            r.related.push(item);
        }
    }
    ids.iter().filter_map(|id| by_id.remove(id)).collect()
}

/// [`Store::load_texts_with`] on SQLite's calling thread ([`crate::readers`]): the resources and their related
/// rows in one read transaction on one reader connection, instead of hand-offs to sqlx's connection thread.
fn load_in_place(
    readers: &crate::readers::Readers,
    kind: ResourceKind,
    ids: &[String],
    related: Related,
) -> Result<Vec<StoredText>, StoreError> {
    let read = readers
        .read(|conn| in_transaction(conn, |conn| read_on(conn, kind, &Selection::Ids(ids), related)))?;
    read.into_texts(kind, Some(ids))
}

/// Runs `f` in one read transaction on `conn`: every statement of `f` reads the same committed state (a page's
/// rows, their total and their related rows agree). On failure the reader connection is dropped, which ends the
/// transaction.
pub(crate) fn in_transaction<T>(
    conn: &rusqlite::Connection,
    f: impl FnOnce(&rusqlite::Connection) -> rusqlite::Result<T>,
) -> rusqlite::Result<T> {
    conn.prepare_cached("BEGIN")?.execute([])?;
    let out = f(conn)?;
    conn.prepare_cached("COMMIT")?.execute([])?;
    Ok(out)
}

/// Which resources a reader statement selects.
#[derive(Debug)]
pub(crate) enum Selection<'a> {
    /// These ids; the result keeps their order and leaves out the missing ones.
    Ids(&'a [String]),
    /// A page in the default order (`created`, `id`): every resource of the type, or those whose column of
    /// `resources` (`id`, `external_id`, `user_name_lc`, …) equals the value. LIMIT and OFFSET are written into
    /// the statement, not bound: SQLite plans with a bound LIMIT's value and so prepares such a statement again at
    /// every run (see readers.rs).
    Page {
        key: Option<(&'a str, &'a str)>,
        limit: i64,
        offset: i64,
    },
}

/// Resources as a reader read them, before their timestamps are converted: the rows in the selection's order and
/// the related entries (owner, entry).
pub(crate) struct ReadRows {
    rows: Vec<ReadRow>,
    entries: Vec<ReadEntry>,
}

/// A resource's row: id, data, version, created, last modified (microseconds), whether it has related rows.
type ReadRow = (String, String, i64, i64, i64, bool);

/// A related row: owner, value, member type, display, depth.
type ReadEntry = (String, String, Option<String>, Option<String>, i64);

impl ReadRows {
    /// How many resources were read.
    pub(crate) fn len(&self) -> usize {
        self.rows.len()
    }

    /// The resources with their related rows, in the order of `ids` (the ids the selection named, missing ones
    /// left out) or, for a page (`None`), in the order read.
    pub(crate) fn into_texts(
        self,
        kind: ResourceKind,
        ids: Option<&[String]>,
    ) -> Result<Vec<StoredText>, StoreError> {
        let read_order: Vec<String>;
        let order = match ids {
            Some(ids) => ids,
            None => {
                read_order = self.rows.iter().map(|r| r.0.clone()).collect();
                &read_order
            }
        };
        let mut resources = Vec::with_capacity(self.rows.len());
        for (id, data, version, created, last_modified, _) in self.rows {
            resources.push(StoredText {
                id,
                kind,
                data,
                related: Vec::new(),
                version,
                created: from_micros(created)?,
                last_modified: from_micros(last_modified)?,
            });
        }
        let entries = self
            .entries
            .into_iter()
            .map(|(owner, value, member_type, display, depth)| {
                (owner, related_entry(kind, value, member_type, display, depth))
            })
            .collect();
        Ok(in_order(order, resources, entries))
    }
}

/// Reads the resources `selection` names and, when `related` says so, their related rows, on a reader connection:
/// one statement for the resources, one for the related rows of those that have some (the statement that reads
/// them, a recursive one for a User's groups with a temporary table SQLite opens and closes, runs only for those).
pub(crate) fn read_on(
    conn: &rusqlite::Connection,
    kind: ResourceKind,
    selection: &Selection<'_>,
    related: Related,
) -> rusqlite::Result<ReadRows> {
    let head = format!(
        "SELECT id, data, version, created, last_modified, {} FROM resources WHERE ",
        has_related(kind)
    );
    let kind_name = kind.as_str();
    let mut params: Vec<&dyn rusqlite::ToSql> = vec![&kind_name];
    let rows_sql = match selection {
        // `resource_type || ''`: the ids are looked up by primary key (on the bare column SQLite walks every
        // resource of the type through the (resource_type, created, id) index).
        Selection::Ids(ids) => {
            params.extend(ids.iter().map(|i| i as &dyn rusqlite::ToSql));
            format!(
                "{head}resource_type || '' = ?1 AND id IN ({})",
                marks(2, ids.len())
            )
        }
        // A key's page is ordered by `+created`, which no index gives: SQLite then looks the key up in its index
        // and sorts the few rows it matches. On the bare column it walks every resource of the type in the
        // (resource_type, created, id) index to spare that sort, when the key's index is not a unique one
        // (`displayName`, `externalId`).
        Selection::Page { key, limit, offset } => {
            let (filter, order) = match key {
                Some((column, value)) => {
                    params.push(value);
                    (format!(" AND {column} = ?2"), "+created")
                }
                None => (String::new(), "created"),
            };
            format!("{head}resource_type = ?1{filter} ORDER BY {order}, id LIMIT {limit} OFFSET {offset}")
        }
    };
    let rows = conn
        .prepare_cached(&rows_sql)?
        .query_map(params.as_slice(), |row| {
            Ok((
                row.get(0)?,
                row.get(1)?,
                row.get(2)?,
                row.get(3)?,
                row.get(4)?,
                row.get(5)?,
            ))
        })?
        .collect::<rusqlite::Result<Vec<ReadRow>>>()?;
    let owners: Vec<&String> = rows.iter().filter(|r| r.5).map(|r| &r.0).collect();
    let entries = if related == Related::Read && !owners.is_empty() {
        let (head, tail) = related_page_sql(kind);
        conn.prepare_cached(&format!("{head}{}{tail}", marks(1, owners.len())))?
            .query_map(rusqlite::params_from_iter(owners), |row| {
                Ok((
                    row.get("owner")?,
                    row.get("value")?,
                    row.get("type")?,
                    row.get("display")?,
                    row.get("depth")?,
                ))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?
    } else {
        Vec::new()
    };
    Ok(ReadRows { rows, entries })
}

/// The column `has_related` of a statement on `resources`: whether the resource has related rows at all (a
/// Group's members, a User's groups), so the statement that reads them runs only for those that have some.
fn has_related(kind: ResourceKind) -> &'static str {
    match kind {
        ResourceKind::Group => {
            "EXISTS (SELECT 1 FROM memberships WHERE group_id = resources.id) AS has_related"
        }
        ResourceKind::User => {
            "EXISTS (SELECT 1 FROM memberships WHERE member_id = resources.id) AS has_related"
        }
    }
}

/// `?from, ?from+1, …`: `n` numbered placeholders.
fn marks(from: usize, n: usize) -> String {
    (from..from + n)
        .map(|i| format!("?{i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The statement that reads one resource without its related rows ($1 type, $2 id; the columns of a
/// [`ResourceRow`], `related` NULL), and on SQLite whether it has any (`has_related`).
fn skip_sql(kind: ResourceKind, postgres: bool) -> &'static str {
    match (kind, postgres) {
        (_, true) => {
            "SELECT id, data::text AS data, version, created, last_modified, NULL AS related \
             FROM resources WHERE resource_type = $1 AND id = $2"
        }
        (ResourceKind::User, false) => {
            "SELECT id, data, version, created, last_modified, NULL AS related, \
             EXISTS (SELECT 1 FROM memberships WHERE member_id = $2) AS has_related \
             FROM resources WHERE resource_type = $1 AND id = $2"
        }
        (ResourceKind::Group, false) => {
            "SELECT id, data, version, created, last_modified, NULL AS related, \
             EXISTS (SELECT 1 FROM memberships WHERE group_id = $2) AS has_related \
             FROM resources WHERE resource_type = $1 AND id = $2"
        }
    }
}

/// The statement that reads one resource with its related rows ($1 type, $2 id; the columns of a
/// [`ResourceRow`]), made once per kind and backend.
fn read_sql(kind: ResourceKind, postgres: bool) -> &'static str {
    use std::sync::LazyLock;
    fn make(kind: ResourceKind, postgres: bool) -> String {
        let related = related_sql(kind, postgres);
        let data = if postgres { "data::text AS data" } else { "data" };
        format!(
            "WITH RECURSIVE anc(group_id, depth) AS ( \
               SELECT group_id, 0 FROM memberships WHERE member_id = $2 AND $1 = 'User' \
               UNION SELECT m.group_id, 1 FROM memberships m JOIN anc a ON m.member_id = a.group_id) \
             SELECT id, {data}, version, created, last_modified, {related} AS related \
             FROM resources WHERE resource_type = $1 AND id = $2"
        )
    }
    static USER_SQLITE: LazyLock<String> = LazyLock::new(|| make(ResourceKind::User, false));
    static USER_POSTGRES: LazyLock<String> = LazyLock::new(|| make(ResourceKind::User, true));
    static GROUP_SQLITE: LazyLock<String> = LazyLock::new(|| make(ResourceKind::Group, false));
    static GROUP_POSTGRES: LazyLock<String> = LazyLock::new(|| make(ResourceKind::Group, true));
    match (kind, postgres) {
        (ResourceKind::User, false) => &USER_SQLITE,
        (ResourceKind::User, true) => &USER_POSTGRES,
        (ResourceKind::Group, false) => &GROUP_SQLITE,
        (ResourceKind::Group, true) => &GROUP_POSTGRES,
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

/// [`Store::get_resource_text`] on SQLite's calling thread ([`crate::readers`]). The row comes first with whether
/// it has related rows at all; the recursive statement that reads them (a User's groups need a temporary table
/// SQLite opens and closes per read) runs only when it has, and then reads the row again with them, so row and
/// related rows are of one moment.
fn read_text_in_place(
    readers: &crate::readers::Readers,
    kind: ResourceKind,
    id: &str,
    related: Related,
) -> Result<Option<StoredText>, StoreError> {
    let row = readers.read(|conn| {
        use rusqlite::OptionalExtension;
        let params = rusqlite::named_params! {"$1": kind.as_str(), "$2": id};
        let first = conn
            .prepare_cached(skip_sql(kind, false))?
            .query_row(params, |row| {
                Ok((ResourceRow::from_sqlite(row)?, row.get::<_, bool>("has_related")?))
            })
            .optional()?;
        match first {
            Some((_, true)) if related == Related::Read => conn
                .prepare_cached(read_sql(kind, false))?
                .query_row(params, ResourceRow::from_sqlite)
                .optional(),
            other => Ok(other.map(|(row, _)| row)),
        }
    })?;
    row.map(|r| r.into_text(kind)).transpose()
}

/// The row a resource is read as: the resource and its related rows as one JSON array.
struct ResourceRow {
    id: String,
    data: String,
    version: i64,
    created: i64,
    last_modified: i64,
    related: Option<String>,
}

impl ResourceRow {
    /// The row as SQLite's reader gives it.
    fn from_sqlite(row: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            id: row.get("id")?,
            data: row.get("data")?,
            version: row.get("version")?,
            created: row.get("created")?,
            last_modified: row.get("last_modified")?,
            related: row.get("related")?,
        })
    }

    /// The resource, with a Group's `members` or a User's derived `groups` from the related rows, ordered by
    /// value.
    fn into_text(self, kind: ResourceKind) -> Result<StoredText, StoreError> {
        let id = self.id;
        let mut items: Vec<Value> = match self.related {
            Some(text) => serde_json::from_str(&text)
                .map_err(|e| StoreError::Corrupt(format!("related rows of {id}: {e}")))?,
            None => Vec::new(),
        };
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
        Ok(StoredText {
            id,
            kind,
            data: self.data,
            related: items,
            version: self.version,
            created: from_micros(self.created)?,
            last_modified: from_micros(self.last_modified)?,
        })
    }
}
