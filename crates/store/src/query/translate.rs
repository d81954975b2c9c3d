//! The filter→SQL translation of a listing: each SCIM attribute path to the column or JSON expression that
//! holds it ([`Col`]), each comparison to SQL in the dialect of the database (SQLite or PostgreSQL), index
//! lookups (`r.id IN (… UNION …)`), trigram candidates, and the sort column.
//!
//! Longer than the project's ~800-line guide: the translation is one recursive function per dialect feature,
//! checked against the evaluator (`roster_scim::filter::matches`) by a differential test; its parts are only
//! correct together.

use crate::directory::ResourceKind;
use crate::to_micros;
use roster_scim::filter::{CompValue, CompareOp, Filter};
use roster_scim::schema::{AttrType, Attribute, Location, Returned};
use roster_scim::{AttrPath, ResourceSchema, ScimError};
use sqlx::QueryBuilder;

/// A column a comparison can use, and how values compare in it.
#[derive(Clone)]
pub(super) enum Col {
    /// A text column holding lower-cased values.
    Lower(&'static str),
    /// A text column holding identity keys (`roster_scim::value::identity_key`): a User's userName.
    Key(&'static str),
    /// A text column compared exactly.
    Exact(&'static str),
    /// A time column (microseconds).
    Micros(&'static str),
    /// Rows of resource_values for an attribute (lower-cased).
    Values(&'static str),
    /// Rows of memberships: a Group's `members.value` (the member's id), or `members.display` (as the client gave
    /// it, else derived from the member: its displayName, else a user's userName; compared case-insensitively).
    Members { display: bool },
    /// A User's derived `groups` (direct and through nested groups): `value` (the group's id) or `display` (its
    /// displayName, compared case-insensitively).
    Groups { display: bool },
    /// A JSON value at `path` inside `src` (`r.data`, `r.search`, or an array element `e.value`).
    Json {
        src: &'static str,
        path: Vec<String>,
        kind: AttrType,
        lower: bool,
    },
    /// A sub-attribute of the elements of a JSON array: true when some element's value compares true.
    Each {
        src: &'static str,
        array: Vec<String>,
        sub: String,
        kind: AttrType,
        lower: bool,
    },
}

const SEARCHABLE: &str = "string, boolean and number attributes, meta.created and meta.lastModified, groups.value and groups.display";

/// Keys embedded in SQL come from the schema registry, never from the filter text, and must be plain.
fn safe_key(k: &str) -> Result<String, ScimError> {
    if k.chars()
        .all(|c| c.is_ascii_alphanumeric() || ":._-$".contains(c))
    {
        Ok(k.to_owned())
    } else {
        Err(ScimError::invalid_filter(format!(
            "roster cannot search inside '{k}'"
        )))
    }
}

impl Col {
    /// A string literal in the form the column holds it: an identity key, lower case, or as given.
    pub(super) fn literal(&self, v: &str) -> String {
        match self {
            Self::Key(_) => roster_scim::value::identity_key(v),
            Self::Lower(_) => v.to_lowercase(),
            _ => v.to_owned(),
        }
    }
}

pub(super) fn column(cx: &Cx<'_>, path: &AttrPath) -> Result<Col, ScimError> {
    if let Some(parent) = cx.elem {
        // Inside a value filter: names are sub-attributes of one element.
        let sub = parent
            .sub_attribute(&path.name)
            .filter(|_| path.sub.is_none())
            .ok_or_else(|| unsupported(path))?;
        // Elements are read from the lower-cased copy, so a case-exact string cannot be compared here.
        if sub.case_exact && matches!(sub.kind, AttrType::String | AttrType::Reference) {
            return Err(unsupported(path));
        }
        return Ok(Col::Json {
            src: "e.value",
            path: vec![safe_key(&sub.name)?],
            kind: sub.kind,
            lower: true,
        });
    }
    let core = match cx.kind {
        ResourceKind::User => roster_scim::schema::CORE_USER,
        ResourceKind::Group => roster_scim::schema::CORE_GROUP,
    };
    let in_core = path.uri.as_deref().is_none_or(|u| u.eq_ignore_ascii_case(core));
    let name = path.name.to_ascii_lowercase();
    let sub = path.sub.as_deref().map(str::to_ascii_lowercase);
    if in_core {
        let indexed = match (name.as_str(), sub.as_deref(), cx.kind) {
            ("id", None, _) => Some(Col::Exact("r.id")),
            ("externalid", None, _) => Some(Col::Exact("r.external_id")),
            ("username", None, ResourceKind::User) => Some(Col::Key("r.user_name_lc")),
            ("displayname", None, _) => Some(Col::Lower("r.display_name_lc")),
            ("emails", None | Some("value"), ResourceKind::User) => Some(Col::Values("emails.value")),
            ("members", None | Some("value"), ResourceKind::Group) => Some(Col::Members { display: false }),
            ("members", Some("display"), ResourceKind::Group) => Some(Col::Members { display: true }),
            ("groups", None | Some("value"), ResourceKind::User) => Some(Col::Groups { display: false }),
            ("groups", Some("display"), ResourceKind::User) => Some(Col::Groups { display: true }),
            ("meta", Some("created"), _) => Some(Col::Micros("r.created")),
            ("meta", Some("lastmodified"), _) => Some(Col::Micros("r.last_modified")),
            ("meta" | "groups" | "members", _, _) => return Err(unsupported(path)),
            _ => None,
        };
        if let Some(c) = indexed {
            return Ok(c);
        }
    }
    let schema = cx.schema.ok_or_else(|| unsupported(path))?;
    let (loc, def) = schema
        .resolve(path.uri.as_deref(), &path.name)
        .ok_or_else(|| unsupported(path))?;
    if def.returned == Returned::Never {
        return Err(unsupported(path));
    }
    let mut prefix = Vec::new();
    if let Location::Extension(ext) = loc {
        prefix.push(safe_key(&ext.id)?);
    }
    let leaf = |d: &Attribute| -> Result<(), ScimError> {
        match d.kind {
            AttrType::String
            | AttrType::Reference
            | AttrType::Boolean
            | AttrType::Integer
            | AttrType::Decimal => Ok(()),
            _ => Err(unsupported(path)),
        }
    };
    let target = if def.kind == AttrType::Complex {
        let sub_name = path.sub.as_deref().unwrap_or("value");
        Some(def.sub_attribute(sub_name).ok_or_else(|| unsupported(path))?)
    } else if path.sub.is_some() {
        return Err(unsupported(path));
    } else {
        None
    };
    let d = target.unwrap_or(def);
    leaf(d)?;
    let lower = !d.case_exact && matches!(d.kind, AttrType::String | AttrType::Reference);
    let src = if lower { "r.search" } else { "r.data" };
    prefix.push(safe_key(&def.name)?);
    match (def.multi_valued, target) {
        (true, Some(t)) => Ok(Col::Each {
            src,
            array: prefix,
            sub: safe_key(&t.name)?,
            kind: t.kind,
            lower,
        }),
        (true, None) => Err(unsupported(path)),
        (false, Some(t)) => {
            prefix.push(safe_key(&t.name)?);
            Ok(Col::Json {
                src,
                path: prefix,
                kind: t.kind,
                lower,
            })
        }
        (false, None) => Ok(Col::Json {
            src,
            path: prefix,
            kind: def.kind,
            lower,
        }),
    }
}

fn unsupported(path: &AttrPath) -> ScimError {
    ScimError::invalid_filter(format!(
        "roster cannot search on '{path}' yet; searchable attributes: {SEARCHABLE}"
    ))
}

/// Appends `expr OP value` for a string comparison: `=`/`<`/… directly, `co`/`sw`/`ew` through functions that
/// mean the same on both backends and are case-sensitive (SQLite's LIKE is not).
fn push_str_cmp<DB: sqlx::Database>(
    qb: &mut QueryBuilder<DB>,
    cx: Cx<'_>,
    expr: &str,
    op: CompareOp,
    v: String,
) where
    String: for<'t> sqlx::Encode<'t, DB> + sqlx::Type<DB>,
{
    if cx.pg && op.is_substring() {
        // LIKE with the pattern's own wildcards escaped: exact, case-sensitive, and served by pg_trgm indexes.
        let escaped = v.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
        let pattern = match op {
            CompareOp::Co => format!("%{escaped}%"),
            CompareOp::Sw => format!("{escaped}%"),
            _ => format!("%{escaped}"),
        };
        qb.push(format!("{expr} LIKE "));
        qb.push_bind(pattern);
        qb.push(" ESCAPE '\\'");
        return;
    }
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
        // Equality is the same under every deterministic collation; only an ordering needs the byte order that
        // `COLLATE "C"` gives. An equality on a column written with it could not use the column's index, whose
        // collation is the database's (`userName eq` walked a million users on PostgreSQL: `bench/totals.sh`).
        // JSON expressions keep it for their equalities too, as their indexes are built (`push_json_cmp`).
        CompareOp::Eq | CompareOp::Ne => {
            qb.push(format!("{expr} {} ", sql_op(op)));
            qb.push_bind(v);
        }
        _ => {
            qb.push(format!("{expr}{} {} ", cx.collate, sql_op(op)));
            qb.push_bind(v);
        }
    }
}

/// On SQLite, for `co`/`sw`/`ew` on a value with a trigram index (userName, displayName, emails.value) and a
/// literal of at least three characters, appends `r.id IN (candidates) AND `: the resources whose value contains
/// the literal's trigrams in sequence, case-folded. The caller's exact comparison follows, so the index only
/// narrows the rows compared. PostgreSQL's pg_trgm indexes serve the LIKE of [`push_str_cmp`] directly.
fn push_trigram_candidates<DB: sqlx::Database>(
    qb: &mut QueryBuilder<DB>,
    cx: Cx<'_>,
    attr: &str,
    op: CompareOp,
    v: &str,
) where
    String: for<'t> sqlx::Encode<'t, DB> + sqlx::Type<DB>,
{
    if !uses_trigram(cx, op, v) {
        return;
    }
    qb.push(format!(
        "r.id IN (SELECT t.resource_id FROM resource_text t WHERE t.attr = '{attr}' AND t.k IN \
         (SELECT rowid FROM resource_trgm WHERE resource_trgm MATCH "
    ));
    qb.push_bind(format!("\"{}\"", v.replace('"', "\"\"")));
    qb.push(")) AND ");
}

/// Whether a comparison with literal `v` goes through the SQLite trigram index.
fn uses_trigram(cx: Cx<'_>, op: CompareOp, v: &str) -> bool {
    !cx.pg && op.is_substring() && v.chars().count() >= 3
}

/// An equality that one index answers with the ids of the matching resources: on `id`, `externalId`,
/// `userName`, `displayName` (columns of `resources` with an index led by the resource type) or a value of a
/// multi-valued attribute kept in `resource_values` (`emails.value`). Outside value filters only.
pub(super) fn lookup_column(cx: &Cx<'_>, f: &Filter) -> Option<Col> {
    let Filter::Compare {
        path,
        op: CompareOp::Eq,
        value: CompValue::Str(_),
    } = f
    else {
        return None;
    };
    if cx.elem.is_some() {
        return None;
    }
    column(cx, path)
        .ok()
        .filter(|c| matches!(c, Col::Lower(_) | Col::Key(_) | Col::Exact(_) | Col::Values(_)))
}

/// Whether `f` is an `or` of index lookups only (`userName eq "a" or emails.value eq "a"`, matching's usual
/// question): written as `r.id IN (lookup UNION lookup …)`, it costs one index probe per term. Written as
/// `column = $v OR EXISTS (…)` it scans every resource of the type: neither planner combines an index on
/// `resources` with one on `resource_values` across an `OR` (SQLite's multi-index OR needs each term
/// indexable on its own, and the type that leads the indexes sits outside the `OR`).
fn is_lookup_union(cx: &Cx<'_>, f: &Filter) -> bool {
    match f {
        Filter::Or(terms) => terms.iter().all(|t| is_lookup_union(cx, t)),
        _ => lookup_column(cx, f).is_some(),
    }
}

/// Appends the terms of a lookup union (see [`is_lookup_union`]): `SELECT` of the matching ids, joined by
/// `UNION`.
fn push_lookup_union<DB: sqlx::Database>(
    qb: &mut QueryBuilder<DB>,
    cx: Cx<'_>,
    f: &Filter,
) -> Result<(), ScimError>
where
    String: for<'t> sqlx::Encode<'t, DB> + sqlx::Type<DB>,
{
    if let Filter::Or(terms) = f {
        for (i, t) in terms.iter().enumerate() {
            if i > 0 {
                qb.push(" UNION ");
            }
            push_lookup_union(qb, cx, t)?;
        }
        return Ok(());
    }
    let (Some(col), Filter::Compare { path, value, .. }) = (lookup_column(&cx, f), f) else {
        return Err(ScimError::invalid_filter("not an index lookup"));
    };
    push_lookup(qb, cx, &col, string_literal(path, value)?);
    Ok(())
}

/// `SELECT` of the ids of the resources whose `col` equals `v` (lower-cased first for a case-insensitive one),
/// through the column's index.
fn push_lookup<DB: sqlx::Database>(qb: &mut QueryBuilder<DB>, cx: Cx<'_>, col: &Col, v: String)
where
    String: for<'t> sqlx::Encode<'t, DB> + sqlx::Type<DB>,
{
    match col {
        Col::Values(attr) => {
            qb.push(format!(
                "SELECT v.resource_id FROM resource_values v WHERE v.attr = '{attr}' AND "
            ));
            push_str_cmp(qb, cx, "v.value_lc", CompareOp::Eq, v.to_lowercase());
        }
        Col::Lower(c) | Col::Key(c) | Col::Exact(c) => {
            let v = col.literal(&v);
            let c = c.strip_prefix("r.").unwrap_or(c);
            qb.push(format!(
                "SELECT s.id FROM resources s WHERE s.resource_type = '{}' AND ",
                cx.kind.as_str()
            ));
            push_str_cmp(qb, cx, &format!("s.{c}"), CompareOp::Eq, v);
        }
        _ => {}
    }
}

/// Whether the SQL for `f` looks up trigram candidates or an attribute's expression index anywhere: the
/// listing then keeps SQLite from walking the resource-type index (with no statistics its planner likes that
/// index better, as it gives the default order without sorting). PostgreSQL's planner weighs them itself.
pub(super) fn has_index_lookup(cx: Cx<'_>, f: &Filter) -> bool {
    if cx.pg {
        return false;
    }
    match f {
        Filter::Or(..) if is_lookup_union(&cx, f) => true,
        Filter::And(terms) | Filter::Or(terms) => terms.iter().any(|t| has_index_lookup(cx, t)),
        Filter::Not(a) => has_index_lookup(cx, a),
        Filter::Compare {
            path,
            op,
            value: CompValue::Str(v),
        } => match column(&cx, path) {
            Ok(ref col @ (Col::Lower(c) | Col::Key(c))) => {
                trigram_attr(c).is_some() && uses_trigram(cx, *op, &col.literal(v))
            }
            Ok(Col::Values(_)) => *op == CompareOp::Eq || uses_trigram(cx, *op, &v.to_lowercase()),
            Ok(Col::Json { src, path, .. }) => *op == CompareOp::Eq && has_expression_index(src, &path),
            _ => false,
        },
        _ => false,
    }
}

/// The JSON attributes with an expression index of their own (migration 0010), as keys into `r.search`.
const EXPRESSION_INDEXED: [&[&str]; 2] = [
    &["name", "familyName"],
    &[roster_scim::schema::ENTERPRISE_USER, "employeeNumber"],
];

fn has_expression_index(src: &str, keys: &[String]) -> bool {
    src == "r.search" && EXPRESSION_INDEXED.iter().any(|k| k.iter().eq(keys.iter()))
}

/// The `resource_text` attribute for an indexed text column, when it has a trigram index.
fn trigram_attr(column: &str) -> Option<&'static str> {
    match column {
        "r.user_name_lc" => Some("userName"),
        "r.display_name_lc" => Some("displayName"),
        _ => None,
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
pub(super) struct Cx<'s> {
    pub(super) kind: ResourceKind,
    pub(super) pg: bool,
    /// `instr` (SQLite) or `strpos` (PostgreSQL): position of a substring, 0 when absent.
    pub(super) contains_fn: &'static str,
    /// Code-point ordering for text on PostgreSQL whatever the database locale (SQLite's default is already
    /// binary), so `gt` and `sortBy` agree with the evaluator.
    pub(super) collate: &'static str,
    pub(super) schema: Option<&'s ResourceSchema<'s>>,
    /// Inside a value filter: the multi-valued attribute whose elements are being tested.
    pub(super) elem: Option<&'s Attribute>,
}

impl Cx<'_> {
    /// The JSON path literal: `'$."a"."b"'` (SQLite) or `'{"a","b"}'` (PostgreSQL). Keys are checked plain.
    fn path(&self, keys: &[String]) -> String {
        if self.pg {
            format!(
                "'{{{}}}'",
                keys.iter()
                    .map(|k| format!("\"{k}\""))
                    .collect::<Vec<_>>()
                    .join(",")
            )
        } else {
            format!(
                "'${}'",
                keys.iter().map(|k| format!(".\"{k}\"")).collect::<String>()
            )
        }
    }
    /// The value at `keys` as SQL text (numbers as numbers on SQLite).
    fn text(&self, src: &str, keys: &[String]) -> String {
        if self.pg {
            format!("({src} #>> {})", self.path(keys))
        } else {
            format!("json_extract({src}, {})", self.path(keys))
        }
    }
    /// Whether the value at `keys` is the JSON boolean `b`.
    fn is_bool(&self, src: &str, keys: &[String], b: bool) -> String {
        if self.pg {
            format!("({src} #> {}) = '{b}'::jsonb", self.path(keys))
        } else {
            format!("json_type({src}, {}) = '{b}'", self.path(keys))
        }
    }
    /// The value at `keys` as a number, only where it is one.
    fn number(&self, src: &str, keys: &[String]) -> String {
        if self.pg {
            format!(
                "CASE WHEN jsonb_typeof({src} #> {p}) = 'number' THEN ({src} #>> {p})::double precision END",
                p = self.path(keys)
            )
        } else {
            format!(
                "CASE WHEN json_type({src}, {p}) IN ('integer', 'real') THEN json_extract({src}, {p}) END",
                p = self.path(keys)
            )
        }
    }
    /// A FROM item over the elements of the array at `keys`, each as `e.value`.
    fn each(&self, src: &str, keys: &[String]) -> String {
        if self.pg {
            format!(
                "jsonb_array_elements(CASE WHEN jsonb_typeof({src} #> {p}) = 'array' THEN {src} #> {p} ELSE '[]'::jsonb END) AS e(value)",
                p = self.path(keys)
            )
        } else {
            format!("json_each({src}, {}) AS e", self.path(keys))
        }
    }
}

/// Appends a chain of terms joined by `op` as a balanced tree of parenthesised halves: SQL parsers nest
/// `a OR b OR c …` one level per term, and SQLite refuses an expression tree deeper than 1,000, so a chain of
/// `n` terms is written `log2(n)` levels deep instead.
fn push_chain<DB: sqlx::Database>(
    qb: &mut QueryBuilder<DB>,
    cx: Cx<'_>,
    terms: &[Filter],
    op: &str,
) -> Result<(), ScimError>
where
    String: for<'t> sqlx::Encode<'t, DB> + sqlx::Type<DB>,
    i64: for<'t> sqlx::Encode<'t, DB> + sqlx::Type<DB>,
    f64: for<'t> sqlx::Encode<'t, DB> + sqlx::Type<DB>,
{
    match terms {
        [] => {
            qb.push(if op == " AND " { "1 = 1" } else { "1 = 0" });
        }
        [only] => push_filter(qb, cx, only)?,
        _ => {
            let (left, right) = terms.split_at(terms.len() / 2);
            qb.push("(");
            push_chain(qb, cx, left, op)?;
            qb.push(op);
            push_chain(qb, cx, right, op)?;
            qb.push(")");
        }
    }
    Ok(())
}

/// Appends the SQL for `f` to `qb`.
pub(super) fn push_filter<DB: sqlx::Database>(
    qb: &mut QueryBuilder<DB>,
    cx: Cx<'_>,
    f: &Filter,
) -> Result<(), ScimError>
where
    String: for<'t> sqlx::Encode<'t, DB> + sqlx::Type<DB>,
    i64: for<'t> sqlx::Encode<'t, DB> + sqlx::Type<DB>,
    f64: for<'t> sqlx::Encode<'t, DB> + sqlx::Type<DB>,
{
    match f {
        Filter::Or(..) if is_lookup_union(&cx, f) => {
            qb.push("r.id IN (");
            push_lookup_union(qb, cx, f)?;
            qb.push(")");
        }
        Filter::And(terms) => push_chain(qb, cx, terms, " AND ")?,
        Filter::Or(terms) => push_chain(qb, cx, terms, " OR ")?,
        Filter::Not(a) => {
            qb.push("NOT (");
            push_filter(qb, cx, a)?;
            qb.push(")");
        }
        Filter::ValuePath { attr, filter } => {
            if cx.elem.is_some() {
                return Err(unsupported(attr));
            }
            let schema = cx.schema.ok_or_else(|| unsupported(attr))?;
            let (loc, def) = schema
                .resolve(attr.uri.as_deref(), &attr.name)
                .ok_or_else(|| unsupported(attr))?;
            if !def.multi_valued
                || def.kind != AttrType::Complex
                || (cx.kind == ResourceKind::Group && def.name == "members")
                || def.is_read_only()
            {
                return Err(unsupported(attr));
            }
            let mut keys = Vec::new();
            if let Location::Extension(ext) = loc {
                keys.push(safe_key(&ext.id)?);
            }
            keys.push(safe_key(&def.name)?);
            qb.push(format!(
                "EXISTS (SELECT 1 FROM {} WHERE ",
                cx.each("r.search", &keys)
            ));
            push_filter(
                qb,
                Cx {
                    elem: Some(def),
                    ..cx
                },
                filter,
            )?;
            qb.push(")");
        }
        Filter::Present(path) => match column(&cx, path)? {
            Col::Lower(c) | Col::Key(c) | Col::Exact(c) => {
                qb.push(format!("({c} IS NOT NULL AND {c} <> '')"));
            }
            Col::Micros(_) => {
                qb.push("1 = 1");
            }
            Col::Values(attr) => {
                qb.push(format!("EXISTS (SELECT 1 FROM resource_values v WHERE v.resource_id = r.id AND v.attr = '{attr}')"));
            }
            Col::Members { .. } => {
                qb.push("EXISTS (SELECT 1 FROM memberships m WHERE m.group_id = r.id)");
            }
            Col::Groups { .. } => {
                qb.push("EXISTS (SELECT 1 FROM memberships m WHERE m.member_id = r.id)");
            }
            Col::Json { src, path, .. } => {
                qb.push(format!(
                    "COALESCE(CAST({} AS TEXT) NOT IN ('', '[]', '{{}}'), FALSE)",
                    cx.text(src, &path)
                ));
            }
            Col::Each { src, array, sub, .. } => {
                qb.push(format!(
                    "EXISTS (SELECT 1 FROM {} WHERE COALESCE(CAST({} AS TEXT) NOT IN ('', '[]', '{{}}'), FALSE))",
                    cx.each(src, &array),
                    cx.text("e.value", &[sub])
                ));
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
            let col = column(&cx, path)?;
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
                Col::Lower(c) | Col::Key(c) | Col::Exact(c) => {
                    let v = col.literal(&string_literal(path, value)?);
                    // `c IS NOT NULL AND …` makes an absent value compare false, so `not (…)` of it is true as
                    // in the evaluator, and unlike COALESCE(…) it leaves `c = $v` free to use the index.
                    match trigram_attr(c).filter(|_| uses_trigram(cx, *op, &v)) {
                        Some(attr) => {
                            // `+` keeps SQLite from scanning this column's index instead of looking up the
                            // candidates.
                            qb.push(format!("(+{c} IS NOT NULL AND "));
                            push_trigram_candidates(qb, cx, attr, *op, &v);
                        }
                        None => {
                            qb.push(format!("({c} IS NOT NULL AND "));
                        }
                    }
                    push_str_cmp(qb, cx, c, *op, v);
                    qb.push(")");
                }
                Col::Values(attr) => {
                    let v = string_literal(path, value)?;
                    if op.is_ordering() {
                        return Err(ScimError::invalid_filter(format!(
                            "roster cannot order-compare '{path}' yet; use eq, co, sw or ew"
                        )));
                    }
                    if *op == CompareOp::Eq {
                        // Through the (attr, value) index rather than a probe per resource.
                        qb.push("r.id IN (");
                        push_lookup(qb, cx, &Col::Values(attr), v);
                        qb.push(")");
                        return Ok(());
                    }
                    let v = v.to_lowercase();
                    qb.push("(");
                    push_trigram_candidates(qb, cx, attr, *op, &v);
                    qb.push(format!("EXISTS (SELECT 1 FROM resource_values v WHERE v.resource_id = r.id AND v.attr = '{attr}' AND "));
                    push_str_cmp(qb, cx, "v.value_lc", *op, v);
                    qb.push("))");
                }
                Col::Members { display: false } => {
                    let v = string_literal(path, value)?;
                    qb.push("EXISTS (SELECT 1 FROM memberships m WHERE m.group_id = r.id AND ");
                    push_str_cmp(qb, cx, "m.member_id", *op, v);
                    qb.push(")");
                }
                Col::Members { display: true } => {
                    // A member's display: the one the client gave, else derived from the member (its displayName,
                    // else a user's userName); compared without case like the evaluator does.
                    let v = string_literal(path, value)?.to_lowercase();
                    qb.push(
                        "EXISTS (SELECT 1 FROM memberships m JOIN resources x ON x.id = m.member_id \
                         WHERE m.group_id = r.id AND ",
                    );
                    push_str_cmp(
                        qb,
                        cx,
                        "COALESCE(m.display_lc, x.display_name_lc, x.user_name_lc)",
                        *op,
                        v,
                    );
                    qb.push(")");
                }
                Col::Groups { display } => {
                    // The members, direct and through nested groups, of the groups that compare true.
                    let v = string_literal(path, value)?;
                    qb.push(
                        "r.id IN (WITH RECURSIVE below(id) AS (SELECT m.member_id FROM memberships m \
                         JOIN resources g ON g.id = m.group_id WHERE ",
                    );
                    if display {
                        qb.push("g.display_name_lc IS NOT NULL AND ");
                        push_str_cmp(qb, cx, "g.display_name_lc", *op, v.to_lowercase());
                    } else {
                        push_str_cmp(qb, cx, "g.id", *op, v);
                    }
                    qb.push(
                        " UNION SELECT m.member_id FROM memberships m JOIN below ON m.group_id = below.id) \
                         SELECT id FROM below)",
                    );
                }
                Col::Json {
                    src,
                    path: keys,
                    kind,
                    lower,
                } => {
                    if matches!(kind, AttrType::String | AttrType::Reference) {
                        // `text IS NOT NULL AND text = $v` is false for an absent value (so `not (…)` of it is
                        // true, as in the evaluator) and leaves `text = $v` free to use an expression index
                        // (`EXPRESSION_INDEXED`).
                        qb.push(format!("({} IS NOT NULL AND ", json_text(cx, src, &keys)));
                        push_json_cmp(qb, cx, src, &keys, kind, lower, path, *op, value)?;
                        qb.push(")");
                    } else {
                        qb.push("COALESCE(");
                        push_json_cmp(qb, cx, src, &keys, kind, lower, path, *op, value)?;
                        qb.push(", FALSE)");
                    }
                }
                Col::Each {
                    src,
                    array,
                    sub,
                    kind,
                    lower,
                } => {
                    qb.push(format!(
                        "EXISTS (SELECT 1 FROM {} WHERE COALESCE(",
                        cx.each(src, &array)
                    ));
                    push_json_cmp(qb, cx, "e.value", &[sub], kind, lower, path, *op, value)?;
                    qb.push(", FALSE))");
                }
            }
        }
    }
    Ok(())
}

pub(super) fn string_literal(path: &AttrPath, value: &CompValue) -> Result<String, ScimError> {
    match value {
        CompValue::Str(s) => Ok(s.clone()),
        _ => Err(ScimError::invalid_filter(format!(
            "'{path}' is a string; quote the value"
        ))),
    }
}

/// A comparison of the JSON value at `keys` in `src` with a literal, by the attribute's type.
#[allow(clippy::too_many_arguments)]
fn push_json_cmp<DB: sqlx::Database>(
    qb: &mut QueryBuilder<DB>,
    cx: Cx<'_>,
    src: &str,
    keys: &[String],
    kind: AttrType,
    lower: bool,
    path: &AttrPath,
    op: CompareOp,
    value: &CompValue,
) -> Result<(), ScimError>
where
    String: for<'t> sqlx::Encode<'t, DB> + sqlx::Type<DB>,
    f64: for<'t> sqlx::Encode<'t, DB> + sqlx::Type<DB>,
{
    match kind {
        AttrType::Boolean => {
            let b = match value {
                CompValue::Bool(b) => *b,
                CompValue::Str(s) => roster_scim::value::parse_bool(s).ok_or_else(|| {
                    ScimError::invalid_filter(format!("'{path}' is boolean; compare it with true or false"))
                })?,
                _ => {
                    return Err(ScimError::invalid_filter(format!(
                        "'{path}' is boolean; compare it with true or false"
                    )));
                }
            };
            if op != CompareOp::Eq {
                return Err(ScimError::invalid_filter(format!(
                    "operator '{}' cannot be used on the boolean '{path}'",
                    op.as_str()
                )));
            }
            qb.push(cx.is_bool(src, keys, b));
        }
        AttrType::Integer | AttrType::Decimal => {
            let CompValue::Number(n) = value else {
                return Err(ScimError::invalid_filter(format!(
                    "'{path}' is a number; compare it with an unquoted number"
                )));
            };
            if op.is_substring() {
                return Err(ScimError::invalid_filter(format!(
                    "operator '{}' cannot be used on the number '{path}'",
                    op.as_str()
                )));
            }
            qb.push(format!("{} {} ", cx.number(src, keys), sql_op(op)));
            qb.push_bind(n.as_f64().unwrap_or(f64::NAN));
        }
        _ => {
            let v = string_literal(path, value)?;
            let v = if lower { v.to_lowercase() } else { v };
            let expr = json_text(cx, src, keys);
            if matches!(op, CompareOp::Eq | CompareOp::Ne) {
                // The expression indexes (migration 0010) are built with `COLLATE "C"`: an equality says it too.
                qb.push(format!("{expr}{} {} ", cx.collate, sql_op(op)));
                qb.push_bind(v);
            } else {
                push_str_cmp(qb, cx, &expr, op, v);
            }
        }
    }
    Ok(())
}

/// The JSON value at `keys` in `src` as text. Expression indexes repeat this text exactly (with `search` for
/// `r.search`), so the planners can match them.
fn json_text(cx: Cx<'_>, src: &str, keys: &[String]) -> String {
    format!("CAST({} AS TEXT)", cx.text(src, keys))
}

/// The ORDER BY expression for `sortBy` and whether it is text (collated on PostgreSQL). Case-insensitive
/// attributes sort by their lower-cased form.
pub(super) fn sort_column(cx: &Cx<'_>, path: Option<&AttrPath>) -> Result<(String, bool), ScimError> {
    let Some(path) = path else {
        return Ok(("r.created".into(), false));
    };
    let cannot = || {
        ScimError::invalid_value(format!(
            "roster cannot sort by '{path}'; sort by a single-valued attribute"
        ))
    };
    match column(cx, path).map_err(|_| cannot())? {
        Col::Lower(c) | Col::Key(c) | Col::Exact(c) => Ok((c.into(), true)),
        Col::Micros(c) => Ok((c.into(), false)),
        Col::Json {
            src,
            path: keys,
            kind,
            ..
        } => match kind {
            AttrType::Integer | AttrType::Decimal => Ok((cx.number(src, &keys), false)),
            _ => Ok((json_text(*cx, src, &keys), true)),
        },
        Col::Values(_) | Col::Members { .. } | Col::Groups { .. } | Col::Each { .. } => Err(cannot()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use roster_scim::SchemaRegistry;

    #[test]
    fn resolves_json_columns() {
        let reg = SchemaRegistry::new();
        let users = reg.resource("User").unwrap();
        let cx = Cx {
            kind: ResourceKind::User,
            pg: false,
            contains_fn: "instr",
            collate: "",
            schema: Some(&users),
            elem: None,
        };
        for p in ["name.givenName", "title", "emails.type", "active"] {
            let path = AttrPath::parse(p).unwrap();
            assert!(column(&cx, &path).is_ok(), "{p}: {:?}", column(&cx, &path).err());
        }
        let f = roster_scim::filter::parse(
            r#"((externalId eq null or name.givenName gt "%") and emails[type eq "x" and value sw "x-1"])"#,
        )
        .unwrap();
        let mut qb: QueryBuilder<sqlx::Sqlite> = QueryBuilder::new("");
        push_filter(&mut qb, cx, &f).unwrap();
    }
}
