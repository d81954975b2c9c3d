//! Listing resources: SCIM filters translated to SQL (never load-all-then-filter), sorting and paging.
//!
//! Translated today: comparisons on the indexed attributes — `id`, `externalId`, `userName`, `displayName`
//! (`eq ne co sw ew gt ge lt le pr`), `emails.value` / `emails` (`eq co sw ew pr`), `meta.created` and
//! `meta.lastModified` (as instants) — combined with `and`, `or`, `not`. Other attributes are answered with an
//! `invalidFilter` that names the attribute and lists what is searchable, never with a wrong result.
//! Case-insensitive attributes are stored lower-cased (Rust's Unicode lower-casing) and literals are lower-cased
//! the same way, so SQLite and PostgreSQL agree with the reference evaluator.

use crate::directory::{ResourceKind, StoredResource};
use crate::{Store, StoreError, to_micros};
use roster_scim::filter::{CompValue, CompareOp, Filter};
use roster_scim::messages::SortOrder;
use roster_scim::{AttrPath, ScimError};
use sqlx::QueryBuilder;

/// A page of resources and the total number that match.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    /// How many resources match in all.
    pub total: u64,
    /// This page.
    pub resources: Vec<StoredResource>,
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
}

/// A column a comparison can use, and how values compare in it.
#[derive(Clone, Copy)]
enum Col {
    /// A text column holding lower-cased values.
    Lower(&'static str),
    /// A text column compared exactly.
    Exact(&'static str),
    /// A time column (microseconds).
    Micros(&'static str),
    /// Rows of resource_values for an attribute (lower-cased).
    Values(&'static str),
}

const SEARCHABLE: &str =
    "id, externalId, userName, displayName, emails.value, meta.created, meta.lastModified";

fn column(kind: ResourceKind, path: &AttrPath) -> Result<Col, ScimError> {
    let core = match kind {
        ResourceKind::User => roster_scim::schema::CORE_USER,
        ResourceKind::Group => roster_scim::schema::CORE_GROUP,
    };
    if path.uri.as_deref().is_some_and(|u| !u.eq_ignore_ascii_case(core)) {
        return Err(unsupported(path));
    }
    let name = path.name.to_ascii_lowercase();
    let sub = path.sub.as_deref().map(str::to_ascii_lowercase);
    Ok(match (name.as_str(), sub.as_deref(), kind) {
        ("id", None, _) => Col::Exact("r.id"),
        ("externalid", None, _) => Col::Exact("r.external_id"),
        ("username", None, ResourceKind::User) => Col::Lower("r.user_name_lc"),
        ("displayname", None, _) => Col::Lower("r.display_name_lc"),
        ("emails", None | Some("value"), ResourceKind::User) => Col::Values("emails.value"),
        ("meta", Some("created"), _) => Col::Micros("r.created"),
        ("meta", Some("lastmodified"), _) => Col::Micros("r.last_modified"),
        _ => return Err(unsupported(path)),
    })
}

fn unsupported(path: &AttrPath) -> ScimError {
    ScimError::invalid_filter(format!(
        "roster cannot search on '{path}' yet; searchable attributes: {SEARCHABLE}"
    ))
}

/// Appends `expr OP value` for a string comparison: `=`/`<`/… directly, `co`/`sw`/`ew` through functions that
/// mean the same on both backends and are case-sensitive (SQLite's LIKE is not).
fn push_str_cmp<DB: sqlx::Database>(qb: &mut QueryBuilder<DB>, cx: Cx, expr: &str, op: CompareOp, v: String)
where
    String: for<'t> sqlx::Encode<'t, DB> + sqlx::Type<DB>,
{
    match op {
        CompareOp::Co => {
            qb.push(format!("{}({expr}, ", cx.contains_fn));
            qb.push_bind(v);
            qb.push(") > 0");
        }
        CompareOp::Sw => {
            qb.push(format!("substr({expr}, 1, length("));
            qb.push_bind(v.clone());
            qb.push(")) = ");
            qb.push_bind(v);
        }
        CompareOp::Ew => {
            qb.push(format!("substr({expr}, length({expr}) - length("));
            qb.push_bind(v.clone());
            qb.push(") + 1) = ");
            qb.push_bind(v);
        }
        _ => {
            qb.push(format!("{expr}{} {} ", cx.collate, sql_op(op)));
            qb.push_bind(v);
        }
    }
}

fn sql_op(op: CompareOp) -> &'static str {
    match op {
        CompareOp::Eq => "=",
        CompareOp::Ne => "<>",
        CompareOp::Gt => ">",
        CompareOp::Ge => ">=",
        CompareOp::Lt => "<",
        CompareOp::Le => "<=",
        CompareOp::Co | CompareOp::Sw | CompareOp::Ew => "=",
    }
}

/// What the translation needs besides the filter.
#[derive(Clone, Copy)]
struct Cx {
    kind: ResourceKind,
    /// `instr` (SQLite) or `strpos` (PostgreSQL): position of a substring, 0 when absent.
    contains_fn: &'static str,
    /// Code-point ordering for text on PostgreSQL whatever the database locale (SQLite's default is already
    /// binary), so `gt` and `sortBy` agree with the evaluator.
    collate: &'static str,
}

/// Appends the SQL for `f` to `qb`.
fn push_filter<DB: sqlx::Database>(qb: &mut QueryBuilder<DB>, cx: Cx, f: &Filter) -> Result<(), ScimError>
where
    String: for<'t> sqlx::Encode<'t, DB> + sqlx::Type<DB>,
    i64: for<'t> sqlx::Encode<'t, DB> + sqlx::Type<DB>,
{
    match f {
        Filter::And(a, b) | Filter::Or(a, b) => {
            qb.push("(");
            push_filter(qb, cx, a)?;
            qb.push(if matches!(f, Filter::And(..)) {
                " AND "
            } else {
                " OR "
            });
            push_filter(qb, cx, b)?;
            qb.push(")");
        }
        Filter::Not(a) => {
            qb.push("NOT (");
            push_filter(qb, cx, a)?;
            qb.push(")");
        }
        Filter::ValuePath { attr, .. } => return Err(unsupported(attr)),
        Filter::Present(path) => match column(cx.kind, path)? {
            Col::Lower(c) | Col::Exact(c) => {
                qb.push(format!("({c} IS NOT NULL AND {c} <> '')"));
            }
            Col::Micros(_) => {
                qb.push("1 = 1");
            }
            Col::Values(attr) => {
                qb.push(format!("EXISTS (SELECT 1 FROM resource_values v WHERE v.resource_id = r.id AND v.attr = '{attr}')"));
            }
        },
        Filter::Compare { path, op, value } => {
            // `ne` is `not eq` (absent attributes match), as in the reference evaluator.
            if *op == CompareOp::Ne {
                let eq = Filter::Compare {
                    path: path.clone(),
                    op: CompareOp::Eq,
                    value: value.clone(),
                };
                return push_filter(qb, cx, &Filter::Not(Box::new(eq)));
            }
            let col = column(cx.kind, path)?;
            if matches!(value, CompValue::Null) {
                return push_filter(qb, cx, &Filter::Not(Box::new(Filter::Present(path.clone()))));
            }
            match col {
                Col::Micros(c) => {
                    let CompValue::Str(s) = value else {
                        return Err(ScimError::invalid_filter(format!(
                            "'{path}' is a dateTime; compare it with a quoted RFC 3339 time"
                        )));
                    };
                    let t = roster_scim::value::parse_datetime(s).ok_or_else(|| {
                        ScimError::invalid_filter(format!("'{s}' is not an RFC 3339 date-time"))
                    })?;
                    if op.is_substring() {
                        return Err(ScimError::invalid_filter(format!(
                            "'{}' cannot be used on the dateTime '{path}'",
                            op.as_str()
                        )));
                    }
                    qb.push(format!("{c} {} ", sql_op(*op)));
                    qb.push_bind(to_micros(t));
                }
                Col::Lower(c) | Col::Exact(c) => {
                    let CompValue::Str(s) = value else {
                        return Err(ScimError::invalid_filter(format!(
                            "'{path}' is a string; quote the value"
                        )));
                    };
                    let v = if matches!(col, Col::Lower(_)) {
                        s.to_lowercase()
                    } else {
                        s.clone()
                    };
                    // NULL never compares true: wrap so `not (...)` of an absent value is true.
                    qb.push("COALESCE(");
                    push_str_cmp(qb, cx, c, *op, v);
                    qb.push(", FALSE)");
                }
                Col::Values(attr) => {
                    let CompValue::Str(s) = value else {
                        return Err(ScimError::invalid_filter(format!(
                            "'{path}' is a string; quote the value"
                        )));
                    };
                    if op.is_ordering() {
                        return Err(ScimError::invalid_filter(format!(
                            "roster cannot order-compare '{path}' yet; use eq, co, sw or ew"
                        )));
                    }
                    qb.push(format!("EXISTS (SELECT 1 FROM resource_values v WHERE v.resource_id = r.id AND v.attr = '{attr}' AND "));
                    push_str_cmp(qb, cx, "v.value_lc", *op, s.to_lowercase());
                    qb.push(")");
                }
            }
        }
    }
    Ok(())
}

fn sort_column(kind: ResourceKind, path: Option<&AttrPath>) -> Result<(&'static str, bool), ScimError> {
    let Some(path) = path else {
        return Ok(("r.created", false));
    };
    match column(kind, path).map_err(|_| {
        ScimError::invalid_value(format!(
            "roster cannot sort by '{path}' yet; sort by one of: {SEARCHABLE}"
        ))
    })? {
        Col::Lower(c) | Col::Exact(c) => Ok((c, true)),
        Col::Micros(c) => Ok((c, false)),
        Col::Values(_) => Err(ScimError::invalid_value(format!(
            "roster cannot sort by '{path}' yet"
        ))),
    }
}

impl Store {
    /// Lists resources of one kind: the total that match and one page, in SQL.
    pub async fn list_resources(&self, kind: ResourceKind, q: &ListQuery<'_>) -> Result<Page, StoreError> {
        let (order, is_text) = sort_column(kind, q.sort_by)?;
        let dir = if q.sort_order == SortOrder::Descending {
            "DESC"
        } else {
            "ASC"
        };
        let offset = i64::try_from(q.offset).unwrap_or(i64::MAX);
        let limit = i64::try_from(q.limit).unwrap_or(i64::MAX);
        let cx = match self.backend() {
            crate::Backend::Sqlite => Cx {
                kind,
                contains_fn: "instr",
                collate: "",
            },
            crate::Backend::Postgres => Cx {
                kind,
                contains_fn: "strpos",
                collate: " COLLATE \"C\"",
            },
        };
        on_db!(self, pool => {
            let mut count = QueryBuilder::new("SELECT COUNT(*) FROM resources r WHERE r.resource_type = ");
            count.push_bind(kind.as_str().to_owned());
            if let Some(f) = q.filter {
                count.push(" AND ");
                push_filter(&mut count, cx, f)?;
            }
            let total: i64 = count.build_query_scalar().fetch_one(pool).await?;
            let mut resources = Vec::new();
            if limit > 0 {
                let mut sel = QueryBuilder::new("SELECT r.id FROM resources r WHERE r.resource_type = ");
                sel.push_bind(kind.as_str().to_owned());
                if let Some(f) = q.filter {
                    sel.push(" AND ");
                    push_filter(&mut sel, cx, f)?;
                }
                let collate = if is_text { cx.collate } else { "" };
                sel.push(format!(" ORDER BY {order}{collate} {dir}, r.id{} {dir} LIMIT ", cx.collate));
                sel.push_bind(limit);
                sel.push(" OFFSET ");
                sel.push_bind(offset);
                let ids: Vec<String> = sel.build_query_scalar().fetch_all(pool).await?;
                for id in ids {
                    if let Some(r) = self.get_resource(kind, &id).await? {
                        resources.push(r);
                    }
                }
            }
            Ok(Page { total: u64::try_from(total).unwrap_or(0), resources })
        })
    }
}
