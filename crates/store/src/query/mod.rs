//! Listing resources: SCIM filters translated to SQL (never load-all-then-filter), sorting and paging.
//!
//! - Indexed columns: `id`, `externalId`, `userName`, `displayName`, `emails.value`, `meta.created`,
//!   `meta.lastModified` (times as instants).
//! - Every other string, boolean and number attribute of the schema (core, enterprise, registered extensions),
//!   single-valued or a sub-attribute of a multi-valued one (`emails.type`, `addresses.locality`), and value
//!   paths (`emails[type eq "work" and value co "@example.com"]`): JSON expressions over the stored resource,
//!   with `EXISTS` over array elements for multi-valued attributes.
//! - A User's derived `groups` (`groups`, `groups.value`, `groups.display`): the members, direct and through
//!   nested groups, of the groups that compare true (a recursive query over memberships).
//! - Not translated (an `invalidFilter` that names the attribute, never a wrong answer): `dateTime` and binary
//!   attributes other than `meta`'s, `groups.type`, `members` beyond `members.value`, `password`.
//!
//! Case-insensitive values are compared lower-cased: indexed columns hold lower-cased text, and the `search`
//! column holds the resource with every string lower-cased, both by Rust's Unicode lower-casing, as are the
//! literals, so SQLite and PostgreSQL agree with the reference evaluator (`roster_scim::filter::matches`).
//!
//! `totalResults`: a page that ends the listing tells it (what comes before it and what it holds); an unfiltered
//! listing reads its type's number from `resource_counts` (`COUNT_OF_TYPE`), which the database's triggers
//! keep, so a directory of a million users is never counted row by row; a filtered one counts its matches.
//!
//! The translation itself (attribute paths to columns, comparisons to SQL in each dialect) is in
//! `translate.rs`; this module holds the listing's types, its two queries (the count, the page) and the store's
//! listing calls.

mod translate;

use translate::{Col, Cx, has_index_lookup, lookup_column, push_filter, sort_column, string_literal};

use crate::directory::{
    ReadRows, ResourceKind, Selection, StoredResource, StoredText, in_transaction, read_on,
};
use crate::{Store, StoreError, to_micros};
use roster_scim::filter::Filter;
use roster_scim::messages::SortOrder;
use roster_scim::{AttrPath, ResourceSchema, ScimError};
use sqlx::QueryBuilder;

/// A page of resources and the total number that match: parsed ([`StoredResource`]) or as their stored text
/// ([`crate::StoredText`], from [`Store::list_resource_texts`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Page<R = StoredResource> {
    /// How many resources match in all.
    pub total: u64,
    /// This page.
    pub resources: Vec<R>,
}

/// What to list.
#[derive(Debug, Clone, Default)]
pub struct ListQuery<'a> {
    /// The filter.
    pub filter: Option<&'a Filter>,
    /// Sort attribute.
    pub sort_by: Option<&'a AttrPath>,
    /// Sort direction.
    pub sort_order: SortOrder,
    /// Rows to skip (startIndex - 1).
    pub offset: u64,
    /// Page size; 0 returns only the total.
    pub limit: u64,
    /// The resource type's schema, needed to translate attributes that have no column of their own.
    pub schema: Option<&'a ResourceSchema<'a>>,
    /// Cursor paging: only resources after this one in the default order (`meta.created`, then id; before it
    /// when descending). Used with `offset` 0 and no `sort_by`.
    pub after: Option<&'a Position>,
    /// Whether the page's resources come with a Group's `members` or a User's derived `groups` (a listing whose
    /// projection drops them skips reading them: a group of 200,000 members costs what the answer needs).
    pub related: crate::Related,
}

/// A resource's place in the default listing order, which a cursor carries: its creation time in microseconds
/// and its id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Position {
    /// `meta.created` in microseconds since the epoch.
    pub created: i64,
    /// The resource id.
    pub id: String,
}

impl Position {
    /// The position of a listed resource.
    pub fn of(r: &StoredResource) -> Self {
        Self::at(r.created, &r.id)
    }

    /// The position of a resource created at `created` with `id`.
    pub fn at(created: time::OffsetDateTime, id: &str) -> Self {
        Self {
            created: to_micros(created),
            id: id.to_owned(),
        }
    }
}

/// The translation context of a listing.
fn listing_cx<'s>(pg: bool, kind: ResourceKind, q: &ListQuery<'s>) -> Cx<'s> {
    Cx {
        kind,
        pg,
        contains_fn: if pg { "strpos" } else { "instr" },
        collate: if pg { " COLLATE \"C\"" } else { "" },
        schema: q.schema,
        elem: None,
    }
}

/// `{head} SELECT {what} FROM resources r WHERE` the resource type and the filter, the start of both the count
/// and the page query (`head` is empty, or `EXPLAIN`).
fn matching<DB: sqlx::Database>(
    cx: Cx<'_>,
    kind: ResourceKind,
    q: &ListQuery<'_>,
    head: &str,
    what: &str,
) -> Result<QueryBuilder<DB>, ScimError>
where
    String: for<'t> sqlx::Encode<'t, DB> + sqlx::Type<DB>,
    i64: for<'t> sqlx::Encode<'t, DB> + sqlx::Type<DB>,
    f64: for<'t> sqlx::Encode<'t, DB> + sqlx::Type<DB>,
{
    // See `has_index_lookup`.
    let plus = if q.filter.is_some_and(|f| has_index_lookup(cx, f)) {
        "+"
    } else {
        ""
    };
    let mut qb = QueryBuilder::new(format!(
        "{head}SELECT {what} FROM resources r WHERE {plus}r.resource_type = "
    ));
    qb.push_bind(kind.as_str().to_owned());
    if let Some(f) = q.filter {
        qb.push(" AND ");
        push_filter(&mut qb, cx, f)?;
    }
    Ok(qb)
}

/// The query of one page's ids: the matching resources in order, after the cursor, limited.
fn page_query<DB: sqlx::Database>(
    cx: Cx<'_>,
    kind: ResourceKind,
    q: &ListQuery<'_>,
    head: &str,
) -> Result<QueryBuilder<DB>, ScimError>
where
    String: for<'t> sqlx::Encode<'t, DB> + sqlx::Type<DB>,
    i64: for<'t> sqlx::Encode<'t, DB> + sqlx::Type<DB>,
    f64: for<'t> sqlx::Encode<'t, DB> + sqlx::Type<DB>,
{
    let dir = if q.sort_order == SortOrder::Descending {
        "DESC"
    } else {
        "ASC"
    };
    let (order, is_text) = sort_column(&cx, q.sort_by)?;
    // On SQLite a key's equality (`displayName eq`, `externalId eq`) is ordered by `+r.created`, which no index
    // gives, so that SQLite looks the key up rather than walk the type in creation order (see `read_on`).
    let order = if !cx.pg && q.sort_by.is_none() && q.filter.is_some_and(|f| lookup_column(&cx, f).is_some())
    {
        "+r.created".to_owned()
    } else {
        order
    };
    let mut sel = matching(cx, kind, q, head, "r.id")?;
    if let Some(p) = q.after {
        let cmp = if q.sort_order == SortOrder::Descending {
            "<"
        } else {
            ">"
        };
        // `created >=` first, so the scan starts at the position in the (type, created, id) index.
        sel.push(format!(" AND r.created {cmp}= "));
        sel.push_bind(p.created);
        sel.push(format!(" AND (r.created {cmp} "));
        sel.push_bind(p.created);
        sel.push(format!(" OR r.id{} {cmp} ", cx.collate));
        sel.push_bind(p.id.clone());
        sel.push(")");
    }
    let collate = if is_text { cx.collate } else { "" };
    sel.push(format!(
        " ORDER BY {order}{collate} {dir}, r.id{} {dir} LIMIT ",
        cx.collate
    ));
    let (limit, offset) = (
        i64::try_from(q.limit).unwrap_or(i64::MAX),
        i64::try_from(q.offset).unwrap_or(i64::MAX),
    );
    if cx.pg {
        sel.push_bind(limit);
        sel.push(" OFFSET ");
        sel.push_bind(offset);
    } else {
        // Written, not bound: SQLite prepares a statement with a bound LIMIT again at every run (see readers.rs).
        sel.push(format!("{limit} OFFSET {offset}"));
    }
    Ok(sel)
}

/// A listing SQLite answers on the calling thread: in the default order, with no cursor, either every resource
/// of the type (`Some(None)`: a page of an export) or one equality on a column of `resources` with an index led by
/// the resource type (`Some(Some((column, value)))`: `id`, `externalId`, `userName`, `displayName`, an identity
/// provider's lookup before it creates, the most frequent listing there is).
fn simple_listing(cx: &Cx<'_>, q: &ListQuery<'_>) -> Option<Option<(&'static str, String)>> {
    if q.sort_by.is_some() || q.after.is_some() || q.sort_order == SortOrder::Descending {
        return None;
    }
    let Some(f) = q.filter else {
        return Some(None);
    };
    let col = lookup_column(cx, f)?;
    let (Col::Lower(c) | Col::Key(c) | Col::Exact(c), Filter::Compare { path, value, .. }) = (&col, f) else {
        return None;
    };
    let v = string_literal(path, value).ok()?;
    Some(Some((c.strip_prefix("r.").unwrap_or(c), col.literal(&v))))
}

/// The total a page of `got` resources read at `offset` with `limit` tells without a count: a page that is not
/// full, and not past the end, ends the listing, so the total is what comes before it and what it holds (a key
/// lookup, which matches a row or none, never counts). `None`: count.
fn total_from_page(limit: u64, offset: u64, got: usize) -> Option<u64> {
    let got = got as u64;
    (limit > 0 && got < limit && (got > 0 || offset == 0)).then(|| offset.saturating_add(got))
}

/// The number of resources of a type (`$1`) without a count over them: the sum of its rows in
/// `resource_counts`, which triggers keep in the transactions that insert and delete (migration 0018; several
/// rows a type on PostgreSQL, so that concurrent creates do not wait on one another).
pub(crate) const COUNT_OF_TYPE: &str =
    "SELECT CAST(COALESCE(SUM(n), 0) AS BIGINT) FROM resource_counts WHERE resource_type = $1";

impl Store {
    /// A [`simple_listing`] on SQLite, on the calling thread ([`crate::readers`]), in one read transaction: the
    /// page's resources with their related rows and, only when the page does not tell it, the total.
    async fn list_in_place(
        &self,
        readers: &crate::readers::Readers,
        kind: ResourceKind,
        q: &ListQuery<'_>,
        key: Option<(&str, String)>,
    ) -> Result<Page<StoredText>, StoreError> {
        let limit = i64::try_from(q.limit).unwrap_or(i64::MAX);
        let offset = i64::try_from(q.offset).unwrap_or(i64::MAX);
        let key = key.as_ref().map(|(column, value)| (*column, value.as_str()));
        let (total, read) = readers.read(|conn| {
            in_transaction(conn, |conn| {
                let read = if limit > 0 {
                    Some(read_on(
                        conn,
                        kind,
                        &Selection::Page { key, limit, offset },
                        q.related,
                    )?)
                } else {
                    None
                };
                let got = read.as_ref().map_or(0, ReadRows::len);
                // Otherwise count, with the index.
                let total = if let Some(total) = total_from_page(q.limit, q.offset, got) {
                    i64::try_from(total).unwrap_or(i64::MAX)
                } else {
                    match &key {
                        Some((column, value)) => conn
                            .prepare_cached(&format!(
                                "SELECT COUNT(*) FROM resources WHERE resource_type = ?1 AND {column} = ?2"
                            ))?
                            .query_row((kind.as_str(), value), |r| r.get(0))?,
                        None => conn
                            .prepare_cached(&COUNT_OF_TYPE.replace("$1", "?1"))?
                            .query_row([kind.as_str()], |r| r.get(0))?,
                    }
                };
                Ok((total, read))
            })
        })?;
        Ok(Page {
            total: u64::try_from(total).unwrap_or(0),
            resources: match read {
                Some(read) => read.into_texts(kind, None)?,
                None => Vec::new(),
            },
        })
    }

    /// Lists resources of one kind: the total that match and one page, in SQL.
    pub async fn list_resources(&self, kind: ResourceKind, q: &ListQuery<'_>) -> Result<Page, StoreError> {
        let page = self.list_resource_texts(kind, q).await?;
        Ok(Page {
            total: page.total,
            resources: page
                .resources
                .into_iter()
                .map(StoredText::parse)
                .collect::<Result<_, _>>()?,
        })
    }

    /// Lists resources as [`list_resources`](Self::list_resources) does, their attributes left as the JSON text
    /// they are stored as.
    pub async fn list_resource_texts(
        &self,
        kind: ResourceKind,
        q: &ListQuery<'_>,
    ) -> Result<Page<StoredText>, StoreError> {
        let cx = listing_cx(self.backend() == crate::Backend::Postgres, kind, q);
        // Translation errors (an attribute roster cannot search or sort by) come before any query runs.
        sort_column(&cx, q.sort_by)?;
        if let Some(readers) = &self.readers
            && let Some(key) = simple_listing(&cx, q)
        {
            return self.list_in_place(readers, kind, q, key).await;
        }
        on_db!(self, pool => {
            let ids: Vec<String> = if q.limit > 0 {
                page_query(cx, kind, q, "")?.build_query_scalar().fetch_all(pool).await?
            } else {
                Vec::new()
            };
            // A cursor's page says nothing of what came before it: count.
            let total = if let Some(total) = total_from_page(q.limit, q.offset, ids.len()).filter(|_| q.after.is_none()) {
                total
            } else if q.filter.is_none() {
                let n: i64 = sqlx::query_scalar(COUNT_OF_TYPE).bind(kind.as_str()).fetch_one(pool).await?;
                u64::try_from(n).unwrap_or(0)
            } else {
                let n: i64 = matching(cx, kind, q, "", "COUNT(*)")?.build_query_scalar().fetch_one(pool).await?;
                u64::try_from(n).unwrap_or(0)
            };
            let resources = self.load_texts_with(kind, &ids, q.related).await?;
            Ok(Page { total, resources })
        })
    }

    /// The directory object an admin's text names: a user's id or `userName`, else a group's id or
    /// `displayName` (matched as the SCIM filter `eq` matches them). For commands and API calls that take
    /// "a user or a group".
    pub async fn find_named(&self, s: &str) -> Result<Option<(ResourceKind, String)>, StoreError> {
        for (kind, attr) in [
            (ResourceKind::User, "userName"),
            (ResourceKind::Group, "displayName"),
        ] {
            if let Some(r) = self.get_resource(kind, s).await? {
                return Ok(Some((kind, r.id)));
            }
            let f = Filter::eq_str(attr, s)?;
            let q = ListQuery {
                filter: Some(&f),
                limit: 1,
                ..ListQuery::default()
            };
            if let Some(r) = self.list_resources(kind, &q).await?.resources.into_iter().next() {
                return Ok(Some((kind, r.id)));
            }
        }
        Ok(None)
    }

    /// The database's plan for the page query of a listing, one line per step (SQLite's `EXPLAIN QUERY PLAN`,
    /// PostgreSQL's `EXPLAIN`): which indexes a filter uses, for diagnosing a slow one.
    pub async fn explain_listing(
        &self,
        kind: ResourceKind,
        q: &ListQuery<'_>,
    ) -> Result<Vec<String>, StoreError> {
        let pg = self.backend() == crate::Backend::Postgres;
        let cx = listing_cx(pg, kind, q);
        match &self.db {
            crate::Db::Sqlite(pool) => {
                let rows: Vec<(i64, i64, i64, String)> = page_query(cx, kind, q, "EXPLAIN QUERY PLAN ")?
                    .build_query_as()
                    .fetch_all(pool)
                    .await?;
                Ok(rows.into_iter().map(|r| r.3).collect())
            }
            crate::Db::Postgres(pool) => Ok(page_query(cx, kind, q, "EXPLAIN ")?
                .build_query_scalar()
                .fetch_all(pool)
                .await?),
        }
    }
}
