//! Directory resources: Users and Groups with versions, memberships as rows, the derived `groups` of a user
//! (direct and through nested groups), and the change journal written in the same transaction as each change.
//!
//! Every write to a resource keeps its lookup columns, memberships, kept password and journal entry in one
//! transaction, and those statements are kept in this file so that a change to one write is seen beside the
//! others. The reads that assemble resources are in `read.rs`.

mod read;
pub(crate) use read::{ReadRows, Selection, in_transaction, read_on};

pub use read::StoredText;

use crate::{Db, Store, StoreError, from_micros, to_micros};

/// Inserts one membership row inside the transaction `$tx` after checking that the member exists (and, when
/// the client declared a type, that it has that type). Evaluates to `Result<(), StoreError>`.
macro_rules! insert_member {
    ($tx:expr, $group_id:expr, $member:expr) => {
        async {
            let (group_id, m): (&str, &Member) = ($group_id, $member);
            let (member, declared) = (m.value.as_str(), m.kind);
            if member == group_id {
                return Err(StoreError::from(ScimError::invalid_value("a group cannot be a member of itself")));
            }
            let row: Option<(String,)> = sqlx::query_as("SELECT resource_type FROM resources WHERE id = $1")
                .bind(member)
                .fetch_optional(&mut *$tx)
                .await?;
            let Some((actual,)) = row else {
                return Err(ScimError::invalid_value(format!("member '{member}' does not exist")).into());
            };
            if let Some(d) = declared.filter(|d| d.as_str() != actual) {
                return Err(ScimError::invalid_value(format!("member '{member}' is a {actual}, not a {}", d.as_str())).into());
            }
            // A `display` the client gave is kept as given (RFC 7643 §4.2: members' sub-attributes are immutable)
            // until the member is renamed, when it would be stale and is dropped (`Store::replace_resource`);
            // without one, a member's display is derived when the group is read (its displayName, else a user's
            // userName), so it follows renames.
            sqlx::query("INSERT INTO memberships (group_id, member_id, member_type, display, display_lc) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (group_id, member_id) DO NOTHING")
                .bind(group_id)
                .bind(member)
                .bind(&actual)
                .bind(&m.display)
                .bind(m.display.as_deref().map(str::to_lowercase))
                .execute(&mut *$tx)
                .await?;
            Ok::<(), StoreError>(())
        }
        .await
    };
}

/// Reads a resource's version inside the transaction `$tx` and checks it (see [`check_version`]).
macro_rules! current_version {
    ($tx:expr, $kind:expr, $id:expr, $if_version:expr) => {{
        let row: Option<(i64,)> =
            sqlx::query_as("SELECT version FROM resources WHERE id = $1 AND resource_type = $2")
                .bind($id)
                .bind($kind.as_str())
                .fetch_optional(&mut *$tx)
                .await?;
        check_version(row.map(|r| r.0), $kind, $id, $if_version)?
    }};
}
use roster_scim::resource::Meta;
use roster_scim::{ErrorKind, ScimError};
use serde_json::{Map, Value};
use sqlx::Row;
use sqlx::types::Json;
use time::OffsetDateTime;

pub use roster_scim::ResourceKind;

/// A group member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// The member's id.
    pub value: String,
    /// User or Group, when the client said; checked against the member's real type.
    pub kind: Option<ResourceKind>,
    /// The display name the client gave, returned as it was sent (members' sub-attributes are immutable) until
    /// the member is renamed. A member added without one, or renamed since, is shown with its current
    /// `displayName`, or a user's `userName`.
    pub display: Option<String>,
}

/// Whether a read fills in a resource's related rows: a Group's `members`, a User's derived `groups`. Reading
/// them costs in proportion to the group's size (or the user's nesting); a caller whose answer leaves them out
/// (`excludedAttributes=members`, `attributes` without them) skips them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Related {
    /// Read them.
    #[default]
    Read,
    /// Leave them out: the resource comes without `members` or `groups`.
    Skip,
}

/// One change to a group's members, for [`Store::patch_members`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MemberChange {
    /// Add a member (kept if present).
    Add(Member),
    /// Remove a member by id (ignored if absent).
    Remove(String),
}

/// A resource as stored: canonical attributes (with a Group's `members` and a User's derived `groups` filled in
/// on reads), plus what `meta` is made from.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredResource {
    /// The id.
    pub id: String,
    /// User or Group.
    pub kind: ResourceKind,
    /// The attributes, without `id` and `meta`.
    pub data: Map<String, Value>,
    /// Increases by one with every change.
    pub version: i64,
    /// Creation time.
    pub created: OffsetDateTime,
    /// Time of the last change.
    pub last_modified: OffsetDateTime,
}

impl StoredResource {
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
}

/// A resource's `meta` for a server whose SCIM base URL is `base_url`.
pub(crate) fn meta(
    kind: ResourceKind,
    id: &str,
    version: i64,
    created: OffsetDateTime,
    last_modified: OffsetDateTime,
    base_url: &str,
) -> Meta {
    Meta {
        resource_type: kind.as_str().into(),
        created,
        last_modified,
        location: format!("{}/{}/{id}", base_url.trim_end_matches('/'), kind.endpoint()),
        version: Meta::weak_etag(version),
    }
}

/// What a journal entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JournalOp {
    /// The resource was created.
    Create,
    /// The resource changed (attributes or, for groups, members).
    Update,
    /// The resource was deleted.
    Delete,
}

impl JournalOp {
    const fn as_str(self) -> &'static str {
        match self {
            Self::Create => "create",
            Self::Update => "update",
            Self::Delete => "delete",
        }
    }
    fn parse(s: &str) -> Result<Self, StoreError> {
        match s {
            "create" => Ok(Self::Create),
            "update" => Ok(Self::Update),
            "delete" => Ok(Self::Delete),
            other => Err(StoreError::Corrupt(format!("journal op '{other}'"))),
        }
    }
}

/// One change, in commit order of its sequence number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalEntry {
    /// Sequence number, increasing.
    pub seq: i64,
    /// User or Group.
    pub kind: ResourceKind,
    /// The resource's id.
    pub id: String,
    /// The resource's version after the change.
    pub version: i64,
    /// What happened.
    pub op: JournalOp,
    /// When.
    pub at: OffsetDateTime,
}

fn lower(v: Option<&Value>) -> Option<String> {
    v.and_then(Value::as_str).map(str::to_lowercase)
}

/// The indexed columns of a resource.
struct Columns {
    user_name_lc: Option<String>,
    display_name: Option<String>,
    display_name_lc: Option<String>,
    external_id: Option<String>,
    emails: Vec<String>,
}

fn columns(kind: ResourceKind, data: &Map<String, Value>) -> Columns {
    let display = data.get("displayName").and_then(Value::as_str).map(str::to_owned);
    let mut emails: Vec<String> = data
        .get("emails")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|e| lower(e.get("value"))).collect())
        .unwrap_or_default();
    emails.sort();
    emails.dedup();
    Columns {
        // userName in its identity form (width, case and composition aside: RFC 8265), so look-alike spellings
        // are one user to the unique index and to filters.
        user_name_lc: if kind == ResourceKind::User {
            data.get("userName")
                .and_then(Value::as_str)
                .map(roster_scim::value::identity_key)
        } else {
            None
        },
        display_name_lc: display.as_deref().map(str::to_lowercase),
        display_name: display,
        external_id: data.get("externalId").and_then(Value::as_str).map(str::to_owned),
        emails,
    }
}

/// Takes the `members` out of a Group's attributes: they are stored as rows.
fn take_members(data: &mut Map<String, Value>) -> Result<Vec<Member>, ScimError> {
    let Some(list) = data.shift_remove("members") else {
        return Ok(Vec::new());
    };
    let mut out: Vec<Member> = Vec::new();
    // Ids already taken: a hash set, so a group of n members costs n lookups, not n² comparisons.
    let mut seen: std::collections::HashSet<&str> = std::collections::HashSet::new();
    for m in list.as_array().into_iter().flatten() {
        let value = m
            .get("value")
            .and_then(Value::as_str)
            .ok_or_else(|| ScimError::invalid_value("every member needs a \"value\" with the member's id"))?;
        let kind = match m.get("type").and_then(Value::as_str) {
            None => None,
            Some(t) => Some(ResourceKind::from_name(t).ok_or_else(|| {
                ScimError::invalid_value(format!("member type must be \"User\" or \"Group\", got \"{t}\""))
            })?),
        };
        if seen.insert(value) {
            let display = m.get("display").and_then(Value::as_str).map(str::to_owned);
            out.push(Member {
                value: value.to_owned(),
                kind,
                display,
            });
        }
    }
    Ok(out)
}

fn map_unique(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            ScimError::uniqueness("another User already has this userName (compared case-insensitively)")
                .into()
        }
        _ => StoreError::Db(e),
    }
}

/// A resource ready to insert: its new id, the attributes without `id`/`meta`/`groups`, a Group's members,
/// the indexed columns and the creation time.
struct PreparedCreate {
    id: String,
    data: Map<String, Value>,
    search: Value,
    members: Vec<Member>,
    cols: Columns,
    micros: i64,
}

fn prepare_create(kind: ResourceKind, mut data: Map<String, Value>) -> Result<PreparedCreate, ScimError> {
    data.shift_remove("id");
    data.shift_remove("meta");
    data.shift_remove("groups");
    let members = if kind == ResourceKind::Group {
        take_members(&mut data)?
    } else {
        Vec::new()
    };
    Ok(PreparedCreate {
        id: uuid::Uuid::now_v7().to_string(),
        search: lowercase_strings(&data),
        cols: columns(kind, &data),
        members,
        data,
        micros: to_micros(OffsetDateTime::now_utc()),
    })
}

/// Inserts a prepared resource, its lookup rows, members and journal entry inside the transaction `$tx`.
/// Evaluates to `Result<(), StoreError>`.
macro_rules! insert_resource {
    ($tx:expr, $kind:expr, $prepared:expr) => {
        async {
            let (kind, p): (ResourceKind, &PreparedCreate) = ($kind, $prepared);
            sqlx::query(
                "INSERT INTO resources (id, resource_type, user_name_lc, display_name, display_name_lc, external_id, data, search, version, created, last_modified) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $9, 1, $8, $8)",
            )
            .bind(&p.id)
            .bind(kind.as_str())
            .bind(&p.cols.user_name_lc)
            .bind(&p.cols.display_name)
            .bind(&p.cols.display_name_lc)
            .bind(&p.cols.external_id)
            .bind(Json(&p.data))
            .bind(p.micros)
            .bind(Json(&p.search))
            .execute(&mut *$tx)
            .await
            .map_err(map_unique)?;
            for email in &p.cols.emails {
                sqlx::query("INSERT INTO resource_values (resource_id, attr, value_lc) VALUES ($1, 'emails.value', $2)")
                    .bind(&p.id).bind(email).execute(&mut *$tx).await?;
            }
            for m in &p.members {
                insert_member!($tx, &p.id, m)?;
            }
            sqlx::query(INSERT_JOURNAL).bind(kind.as_str()).bind(&p.id).bind(1_i64).bind(JournalOp::Create.as_str()).bind(p.micros)
                .execute(&mut *$tx).await?;
            Ok::<(), StoreError>(())
        }
        .await
    };
}

/// Inserts prepared Users (no members) inside the transaction `$tx` with one multi-row INSERT per table and
/// chunk; the journal entries follow the order given. Evaluates to `Result<(), StoreError>` (a taken userName is
/// a `uniqueness` error for the whole statement).
macro_rules! insert_users {
    ($tx:expr, $ready:expr) => {
        async {
            let ready: &[&PreparedCreate] = $ready;
            for chunk in ready.chunks(200) {
                let mut q = sqlx::QueryBuilder::new(
                    "INSERT INTO resources (id, resource_type, user_name_lc, display_name, display_name_lc, external_id, data, search, version, created, last_modified) ",
                );
                q.push_values(chunk, |mut b, p| {
                    b.push_bind(&p.id)
                        .push_bind(ResourceKind::User.as_str())
                        .push_bind(&p.cols.user_name_lc)
                        .push_bind(&p.cols.display_name)
                        .push_bind(&p.cols.display_name_lc)
                        .push_bind(&p.cols.external_id)
                        .push_bind(Json(&p.data))
                        .push_bind(Json(&p.search))
                        .push_bind(1_i64)
                        .push_bind(p.micros)
                        .push_bind(p.micros);
                });
                q.build().execute(&mut *$tx).await.map_err(map_unique)?;
                let emails: Vec<(&str, &str)> = chunk
                    .iter()
                    .flat_map(|p| p.cols.emails.iter().map(|e| (p.id.as_str(), e.as_str())))
                    .collect();
                for part in emails.chunks(500) {
                    let mut q = sqlx::QueryBuilder::new("INSERT INTO resource_values (resource_id, attr, value_lc) ");
                    q.push_values(part, |mut b, (id, e)| {
                        b.push_bind(*id).push_bind("emails.value").push_bind(*e);
                    });
                    q.build().execute(&mut *$tx).await?;
                }
                let mut q = sqlx::QueryBuilder::new("INSERT INTO journal (resource_type, resource_id, version, op, at) ");
                q.push_values(chunk, |mut b, p| {
                    b.push_bind(ResourceKind::User.as_str())
                        .push_bind(&p.id)
                        .push_bind(1_i64)
                        .push_bind(JournalOp::Create.as_str())
                        .push_bind(p.micros);
                });
                q.build().execute(&mut *$tx).await?;
            }
            Ok::<(), StoreError>(())
        }
        .await
    };
}

/// A single create waiting for its batch: the kind and the validated attributes.
pub(crate) type PendingCreate = (ResourceKind, Map<String, Value>);

const INSERT_JOURNAL: &str =
    "INSERT INTO journal (resource_type, resource_id, version, op, at) VALUES ($1, $2, $3, $4, $5)";

impl Store {
    /// Creates a resource from validated, canonical attributes (`id` and `meta` are assigned here). A Group's
    /// `members` must name existing resources. Creates made at the same time are written together (see
    /// the crate-private `combine` module), each with the result it would have alone.
    pub async fn create_resource(
        &self,
        kind: ResourceKind,
        mut data: Map<String, Value>,
    ) -> Result<StoredResource, StoreError> {
        self.seal_password(&mut data).await;
        let store = self.clone();
        self.creates
            .submit((kind, data), move |batch| {
                let store = store.clone();
                async move { store.create_batch(batch).await }
            })
            .await
            .unwrap_or_else(|| {
                Err(StoreError::Corrupt(
                    "a create was not written (its batch failed)".into(),
                ))
            })
    }

    /// Writes a batch of single creates: each run of one kind as [`Self::create_resources`] does; when a run
    /// fails as a whole (the database refused it), each of its creates on its own, so each gets its own error.
    async fn create_batch(&self, batch: Vec<PendingCreate>) -> Vec<Result<StoredResource, StoreError>> {
        let mut results = Vec::with_capacity(batch.len());
        let mut items = batch.into_iter().peekable();
        while let Some((kind, first)) = items.next() {
            let mut run = vec![prepare_create(kind, first)];
            while let Some((_, data)) = items.next_if(|(k, _)| *k == kind) {
                run.push(prepare_create(kind, data));
            }
            match self.create_prepared(kind, &run, None).await {
                Ok(created) => results.extend(created),
                Err(e) if run.len() == 1 => results.push(Err(e)),
                Err(_) => {
                    for one in run {
                        results.push(match self.create_prepared(kind, &[one], None).await {
                            Ok(mut created) => created.pop().unwrap_or_else(|| {
                                Err(StoreError::Corrupt("a create gave no result".into()))
                            }),
                            Err(e) => Err(e),
                        });
                    }
                }
            }
        }
        results
    }

    /// Creates several resources of one kind in one transaction (a savepoint each), as `/Bulk` does with a run of
    /// creates: one result per item in order, each as [`Self::create_resource`] would give it (a failed item
    /// leaves nothing behind and does not stop the others). With `max_errors`, items after that many failures
    /// are not tried and have no result. An error of the database itself fails the whole call, with nothing
    /// created.
    pub async fn create_resources(
        &self,
        kind: ResourceKind,
        items: Vec<Map<String, Value>>,
        max_errors: Option<u64>,
    ) -> Result<Vec<Result<StoredResource, StoreError>>, StoreError> {
        let mut items = items;
        for data in &mut items {
            self.seal_password(data).await;
        }
        let prepared: Vec<Result<PreparedCreate, ScimError>> =
            items.into_iter().map(|data| prepare_create(kind, data)).collect();
        self.create_prepared(kind, &prepared, max_errors).await
    }

    /// [`Self::create_resources`] of prepared items.
    async fn create_prepared(
        &self,
        kind: ResourceKind,
        prepared: &[Result<PreparedCreate, ScimError>],
        max_errors: Option<u64>,
    ) -> Result<Vec<Result<StoredResource, StoreError>>, StoreError> {
        let mut outcomes: Vec<Result<String, StoreError>> = Vec::with_capacity(prepared.len());
        let mut errors = 0u64;
        // Users all well formed: first try the whole run as three multi-row INSERTs (a statement costs more than
        // a row), falling back to one savepoint per item when a row is refused.
        let all_ready = kind == ResourceKind::User && prepared.iter().all(Result::is_ok);
        let _writer = self.writer().await;
        on_db!(self, pool => {
            let mut tx = pool.begin_with(self.write_begin()).await?;
            let mut done = false;
            if all_ready {
                let ready: Vec<&PreparedCreate> = prepared.iter().filter_map(|p| p.as_ref().ok()).collect();
                match insert_users!(tx, &ready) {
                    Ok(()) => {
                        for p in ready.iter().filter(|p| p.data.contains_key("password")) {
                            sqlx::query(crate::passwords::OWE_PASSWORD).bind(&p.id).bind(1i64).execute(&mut *tx).await?;
                        }
                        outcomes.extend(ready.iter().map(|p| Ok(p.id.clone())));
                        done = true;
                    }
                    Err(StoreError::Scim(e)) => {
                        // Nothing of the run is kept. Alone, the refusal is the item's answer; in a run, each
                        // item is tried on its own.
                        tx.rollback().await?;
                        tx = pool.begin_with(self.write_begin()).await?;
                        if ready.len() == 1 {
                            outcomes.push(Err(StoreError::Scim(e)));
                            done = true;
                        }
                    }
                    Err(other) => return Err(other),
                }
            }
            for item in prepared.iter().filter(|_| !done) {
                if max_errors.is_some_and(|max| errors >= max) {
                    break;
                }
                let outcome = match item {
                    Err(e) => Err(StoreError::Scim(e.clone())),
                    Ok(prepared) => {
                        sqlx::query("SAVEPOINT bulk_item").execute(&mut *tx).await?;
                        match insert_resource!(tx, kind, prepared) {
                            Ok(()) => {
                                if prepared.data.contains_key("password") {
                                    sqlx::query(crate::passwords::OWE_PASSWORD).bind(&prepared.id).bind(1i64).execute(&mut *tx).await?;
                                }
                                sqlx::query("RELEASE SAVEPOINT bulk_item").execute(&mut *tx).await?;
                                Ok(prepared.id.clone())
                            }
                            Err(StoreError::Scim(e)) => {
                                sqlx::query("ROLLBACK TO SAVEPOINT bulk_item").execute(&mut *tx).await?;
                                sqlx::query("RELEASE SAVEPOINT bulk_item").execute(&mut *tx).await?;
                                Err(StoreError::Scim(e))
                            }
                            Err(other) => return Err(other),
                        }
                    }
                };
                errors += u64::from(outcome.is_err());
                outcomes.push(outcome);
            }
            tx.commit().await?;
            self.directory_changed();
        });
        let mut loaded: std::collections::HashMap<String, StoredResource> = if kind == ResourceKind::User {
            // A user just created is what was written, in no group yet: no need to read it back.
            prepared
                .iter()
                .filter_map(|p| p.as_ref().ok())
                .map(|p| {
                    let at = from_micros(p.micros)?;
                    let r = StoredResource {
                        id: p.id.clone(),
                        kind,
                        data: p.data.clone(),
                        version: 1,
                        created: at,
                        last_modified: at,
                    };
                    Ok((p.id.clone(), r))
                })
                .collect::<Result<_, StoreError>>()?
        } else {
            let ids: Vec<String> = outcomes.iter().filter_map(|o| o.as_ref().ok().cloned()).collect();
            self.load_resources(kind, &ids)
                .await?
                .into_iter()
                .map(|r| (r.id.clone(), r))
                .collect()
        };
        Ok(outcomes
            .into_iter()
            .map(|o| {
                o.and_then(|id| {
                    loaded
                        .remove(&id)
                        .ok_or_else(|| StoreError::Corrupt(format!("resource {id} vanished after create")))
                })
            })
            .collect())
    }

    /// $1 a resource's id, $2 the name it will show as a member (its new displayName, else its userName): drops
    /// the displays clients gave for it as a member if that name differs from the one it has now.
    fn drop_stale_member_displays_sql(&self) -> &'static str {
        match &self.db {
            Db::Sqlite(_) => {
                "UPDATE memberships SET display = NULL, display_lc = NULL WHERE member_id = $1 AND display IS NOT NULL \
                 AND (SELECT COALESCE(x.display_name, json_extract(x.data, '$.userName')) FROM resources x WHERE x.id = $1) IS NOT $2"
            }
            Db::Postgres(_) => {
                "UPDATE memberships SET display = NULL, display_lc = NULL WHERE member_id = $1 AND display IS NOT NULL \
                 AND (SELECT COALESCE(x.display_name, x.data->>'userName') FROM resources x WHERE x.id = $1) IS DISTINCT FROM $2"
            }
        }
    }

    /// Replaces a resource's attributes (PUT, or the result of a PATCH). `if_version` makes it conditional
    /// (`If-Match`): a different current version is 412. A Group's `members` are replaced as given.
    pub async fn replace_resource(
        &self,
        kind: ResourceKind,
        id: &str,
        data: Map<String, Value>,
        if_version: Option<i64>,
    ) -> Result<StoredResource, StoreError> {
        self.replace_with(kind, id, data, if_version, true).await?;
        self.get_resource(kind, id)
            .await?
            .ok_or_else(|| ScimError::not_found(format!("{} {id} not found", kind.as_str())).into())
    }

    /// Replaces a resource's attributes as [`replace_resource`](Self::replace_resource) does, but a Group's member
    /// rows stay as they are (`members` in `data` is ignored) and nothing is read back: a change to a group's
    /// other attributes (a rename) costs the same for 20 members and for 200,000. Returns the new version.
    pub async fn replace_attributes(
        &self,
        kind: ResourceKind,
        id: &str,
        data: Map<String, Value>,
        if_version: Option<i64>,
    ) -> Result<i64, StoreError> {
        self.replace_with(kind, id, data, if_version, false).await
    }

    /// The write of [`replace_resource`](Self::replace_resource) and [`replace_attributes`](Self::replace_attributes):
    /// a Group's members replaced as given when `members` is true, else left alone. Returns the new version.
    async fn replace_with(
        &self,
        kind: ResourceKind,
        id: &str,
        mut data: Map<String, Value>,
        if_version: Option<i64>,
        members: bool,
    ) -> Result<i64, StoreError> {
        let new_password = self.seal_password(&mut data).await;
        let _writer = self.writer().await;
        data.shift_remove("id");
        data.shift_remove("meta");
        data.shift_remove("groups");
        let members = match kind {
            ResourceKind::Group if members => Some(take_members(&mut data)?),
            ResourceKind::Group => {
                data.shift_remove("members");
                None
            }
            ResourceKind::User => None,
        };
        let micros = to_micros(OffsetDateTime::now_utc());
        let cols = columns(kind, &data);
        // The name a group shows for this resource as a member when no display was given.
        let name = cols
            .display_name
            .clone()
            .or_else(|| data.get("userName").and_then(Value::as_str).map(str::to_owned));
        on_db!(self, pool => {
            let mut tx = pool.begin_with(self.write_begin()).await?;
            let current = current_version!(tx, kind, id, if_version);
            // A display a client gave for this resource as a member becomes stale when it is renamed: dropped, so
            // groups show the new name at once (derived at read).
            sqlx::query(self.drop_stale_member_displays_sql()).bind(id).bind(&name).execute(&mut *tx).await?;
            let updated = sqlx::query(
                "UPDATE resources SET user_name_lc = $1, display_name = $2, display_name_lc = $3, external_id = $4, data = $5, \
                 search = $9, version = version + 1, last_modified = $6 WHERE id = $7 AND version = $8",
            )
            .bind(&cols.user_name_lc).bind(&cols.display_name).bind(&cols.display_name_lc).bind(&cols.external_id)
            .bind(Json(&data)).bind(micros).bind(id).bind(current).bind(Json(&lowercase_strings(&data)))
            .execute(&mut *tx).await.map_err(map_unique)?;
            if updated.rows_affected() != 1 {
                return Err(ScimError::new(ErrorKind::PreconditionFailed, "the resource changed while this request was applied; read it again and retry").into());
            }
            if new_password {
                sqlx::query(crate::passwords::OWE_PASSWORD).bind(id).bind(current + 1).execute(&mut *tx).await?;
            } else if data.contains_key("password") {
                // A kept password stays only while an app is owed it (see the `passwords` module).
                sqlx::query(self.drop_unowed_password_sql()).bind(id).execute(&mut *tx).await?;
            }
            sqlx::query("DELETE FROM resource_values WHERE resource_id = $1").bind(id).execute(&mut *tx).await?;
            for email in &cols.emails {
                sqlx::query("INSERT INTO resource_values (resource_id, attr, value_lc) VALUES ($1, 'emails.value', $2)")
                    .bind(id).bind(email).execute(&mut *tx).await?;
            }
            if let Some(members) = &members {
                sqlx::query("DELETE FROM memberships WHERE group_id = $1").bind(id).execute(&mut *tx).await?;
                for m in members {
                    insert_member!(tx, id, m)?;
                }
            }
            sqlx::query(INSERT_JOURNAL).bind(kind.as_str()).bind(id).bind(current + 1).bind(JournalOp::Update.as_str()).bind(micros)
                .execute(&mut *tx).await?;
            tx.commit().await?;
            self.directory_changed();
            Ok(current + 1)
        })
    }

    /// Applies member changes to a group in order, in one transaction: one row write per change, one version
    /// bump, one journal entry. Returns the new version.
    pub async fn patch_members(
        &self,
        group_id: &str,
        changes: &[MemberChange],
        if_version: Option<i64>,
    ) -> Result<i64, StoreError> {
        let _writer = self.writer().await;
        let micros = to_micros(OffsetDateTime::now_utc());
        // The group's row is locked before its version is read (SQLite's BEGIN IMMEDIATE locks the file):
        // concurrent member changes, which commute, queue here instead of failing each other's version check at
        // the update, and an If-Match is checked against the version this change will follow.
        let read_version = match self.db {
            Db::Postgres(_) => {
                "SELECT version FROM resources WHERE id = $1 AND resource_type = 'Group' FOR UPDATE"
            }
            Db::Sqlite(_) => "SELECT version FROM resources WHERE id = $1 AND resource_type = 'Group'",
        };
        on_db!(self, pool => {
            let mut tx = pool.begin_with(self.write_begin()).await?;
            let row: Option<(i64,)> = sqlx::query_as(read_version).bind(group_id).fetch_optional(&mut *tx).await?;
            let current = check_version(row.map(|r| r.0), ResourceKind::Group, group_id, if_version)?;
            for change in changes {
                match change {
                    MemberChange::Add(m) => insert_member!(tx, group_id, m)?,
                    MemberChange::Remove(id) => {
                        sqlx::query("DELETE FROM memberships WHERE group_id = $1 AND member_id = $2")
                            .bind(group_id).bind(id).execute(&mut *tx).await?;
                    }
                }
            }
            let updated = sqlx::query("UPDATE resources SET version = version + 1, last_modified = $1 WHERE id = $2 AND version = $3")
                .bind(micros).bind(group_id).bind(current).execute(&mut *tx).await?;
            if updated.rows_affected() != 1 {
                return Err(ScimError::new(ErrorKind::PreconditionFailed, "the group changed while this request was applied; retry").into());
            }
            sqlx::query(INSERT_JOURNAL).bind("Group").bind(group_id).bind(current + 1).bind(JournalOp::Update.as_str()).bind(micros)
                .execute(&mut *tx).await?;
            tx.commit().await?;
            self.directory_changed();
            Ok(current + 1)
        })
    }

    /// Deletes a resource. Groups it belonged to lose it as a member and get a new version and journal entry.
    pub async fn delete_resource(
        &self,
        kind: ResourceKind,
        id: &str,
        if_version: Option<i64>,
    ) -> Result<(), StoreError> {
        let _writer = self.writer().await;
        let micros = to_micros(OffsetDateTime::now_utc());
        on_db!(self, pool => {
            let mut tx = pool.begin_with(self.write_begin()).await?;
            let current = current_version!(tx, kind, id, if_version);
            let parents = sqlx::query("SELECT group_id FROM memberships WHERE member_id = $1").bind(id).fetch_all(&mut *tx).await?;
            sqlx::query("DELETE FROM memberships WHERE member_id = $1").bind(id).execute(&mut *tx).await?;
            for p in &parents {
                let gid: String = p.try_get("group_id")?;
                let row = sqlx::query("UPDATE resources SET version = version + 1, last_modified = $1 WHERE id = $2 RETURNING version")
                    .bind(micros).bind(&gid).fetch_one(&mut *tx).await?;
                let v: i64 = row.try_get("version")?;
                sqlx::query(INSERT_JOURNAL).bind("Group").bind(&gid).bind(v).bind(JournalOp::Update.as_str()).bind(micros)
                    .execute(&mut *tx).await?;
            }
            sqlx::query("DELETE FROM resources WHERE id = $1").bind(id).execute(&mut *tx).await?;
            sqlx::query(INSERT_JOURNAL).bind(kind.as_str()).bind(id).bind(current + 1).bind(JournalOp::Delete.as_str()).bind(micros)
                .execute(&mut *tx).await?;
            tx.commit().await?;
            self.directory_changed();
            Ok(())
        })
    }

    /// Journal entries after `after_seq`, oldest first, at most `limit`.
    pub async fn journal_since(&self, after_seq: i64, limit: i64) -> Result<Vec<JournalEntry>, StoreError> {
        on_db!(self, pool => {
            let rows = sqlx::query("SELECT seq, resource_type, resource_id, version, op, at FROM journal WHERE seq > $1 ORDER BY seq LIMIT $2")
                .bind(after_seq).bind(limit).fetch_all(pool).await?;
            rows.iter().map(|r| {
                let kind: String = r.try_get("resource_type")?;
                Ok(JournalEntry {
                    seq: r.try_get("seq")?,
                    kind: ResourceKind::from_name(&kind).ok_or_else(|| StoreError::Corrupt(format!("resource type '{kind}'")))?,
                    id: r.try_get("resource_id")?,
                    version: r.try_get("version")?,
                    op: JournalOp::parse(&r.try_get::<String, _>("op")?)?,
                    at: from_micros(r.try_get("at")?)?,
                })
            }).collect()
        })
    }
}

/// The version of a resource: 404 when it does not exist, 412 when `if_version` is given and differs.
fn check_version(
    current: Option<i64>,
    kind: ResourceKind,
    id: &str,
    if_version: Option<i64>,
) -> Result<i64, StoreError> {
    let Some(current) = current else {
        return Err(ScimError::not_found(format!("{} {id} not found", kind.as_str())).into());
    };
    if let Some(expected) = if_version
        && expected != current
    {
        return Err(ScimError::new(
            ErrorKind::PreconditionFailed,
            format!("the resource is at version {current}, not {expected}; read it again before changing it"),
        )
        .into());
    }
    Ok(current)
}

/// `data` with every string value lower-cased the way the filter evaluator folds case (keys unchanged), for the
/// `search` column. A `password` (write-only, never filtered on) is left out: it is not indexed.
pub(crate) fn lowercase_strings(data: &Map<String, Value>) -> Value {
    fn walk(v: &Value) -> Value {
        match v {
            Value::String(s) => Value::String(s.to_lowercase()),
            Value::Array(a) => Value::Array(a.iter().map(walk).collect()),
            Value::Object(o) => Value::Object(o.iter().map(|(k, v)| (k.clone(), walk(v))).collect()),
            other => other.clone(),
        }
    }
    Value::Object(
        data.iter()
            .filter(|(k, _)| k.as_str() != "password")
            .map(|(k, v)| (k.clone(), walk(v)))
            .collect(),
    )
}
