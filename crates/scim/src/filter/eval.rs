//! Filter evaluation against JSON resources and schema checks of filters.
//!
//! Semantics (the store's SQL translation must agree with these):
//! - A multi-valued attribute matches when any of its values matches; a complex attribute named without a
//!   sub-attribute (`emails co "x"`) compares its `value` sub-attribute.
//! - `ne` is the negation of `eq`: it matches when no value equals, so an absent attribute matches `ne`.
//! - `eq null` matches an unassigned attribute, `ne null` an assigned one (the same as `pr`).
//! - Strings compare case-insensitively unless the schema marks the attribute `caseExact`; `dateTime` attributes
//!   compare as instants; numbers numerically; a literal of the wrong type never matches.

use super::{CompValue, CompareOp, Filter};
use crate::attr::AttrPath;
use crate::error::ScimError;
use crate::schema::{AttrType, Attribute, Location, ResourceSchema};
use crate::value::{get_ci, parse_bool, parse_datetime};
use serde_json::Value;
use std::cmp::Ordering;

/// Evaluates `filter` against `resource`. `schema` supplies `caseExact` and types; without it strings compare
/// case-insensitively and types come from the JSON values.
pub fn matches(filter: &Filter, resource: &Value, schema: Option<&ResourceSchema<'_>>) -> bool {
    eval(filter, Scope::Resource(schema), resource)
}

/// Evaluates a value filter (the inside of `emails[...]`) against one value of the attribute `attr`.
pub fn matches_element(filter: &Filter, element: &Value, attr: Option<&Attribute>) -> bool {
    eval(filter, Scope::Element(attr), element)
}

#[derive(Clone, Copy)]
enum Scope<'s, 'a> {
    Resource(Option<&'s ResourceSchema<'a>>),
    Element(Option<&'s Attribute>),
}

/// Finds the JSON value and definition of the top-level part of `path` (ignoring `path.sub`).
fn resolve<'v, 's>(
    scope: Scope<'s, '_>,
    node: &'v Value,
    path: &AttrPath,
) -> (Option<&'v Value>, Option<&'s Attribute>) {
    match scope {
        Scope::Resource(Some(rs)) => match rs.resolve(path.uri.as_deref(), &path.name) {
            Some((Location::Core, def)) => (get_ci(node, &def.name), Some(def)),
            Some((Location::Extension(s), def)) => {
                (get_ci(node, &s.id).and_then(|e| get_ci(e, &def.name)), Some(def))
            }
            None => (get_ci(node, &path.name), None),
        },
        Scope::Resource(None) => {
            let v = path
                .uri
                .as_deref()
                .and_then(|u| get_ci(node, u))
                .and_then(|e| get_ci(e, &path.name));
            (v.or_else(|| get_ci(node, &path.name)), None)
        }
        Scope::Element(def) => {
            let sub_def = def.and_then(|d| d.sub_attribute(&path.name));
            match node {
                Value::Object(_) => (get_ci(node, &path.name), sub_def),
                // A simple multi-valued attribute: `value` names the element itself.
                _ if path.name.eq_ignore_ascii_case("value") => (Some(node), def),
                _ => (None, None),
            }
        }
    }
}

/// Calls `f` on every leaf value `path` designates until it returns true; returns whether one did.
fn any_leaf(
    scope: Scope<'_, '_>,
    node: &Value,
    path: &AttrPath,
    mut f: impl FnMut(&Value, Option<&Attribute>) -> bool,
) -> bool {
    let (Some(v), def) = resolve(scope, node, path) else {
        return false;
    };
    let is_complex = |v: &Value| match def {
        Some(d) => d.kind == AttrType::Complex,
        None => v.is_object() || v.as_array().is_some_and(|a| a.iter().any(Value::is_object)),
    };
    let sub = match (&path.sub, is_complex(v)) {
        (Some(s), _) => Some(s.as_str()),
        (None, true) => Some("value"),
        (None, false) => None,
    };
    let leaf_def = match sub {
        Some(s) => def.and_then(|d| d.sub_attribute(s)),
        None => def,
    };
    let mut visit = |x: &Value| -> bool {
        let x = match sub {
            Some(s) => match get_ci(x, s) {
                Some(x) => x,
                None => return false,
            },
            None => x,
        };
        match x {
            Value::Array(items) => items.iter().any(|i| f(i, leaf_def)),
            other => f(other, leaf_def),
        }
    };
    match v {
        Value::Array(items) => items.iter().any(visit),
        other => visit(other),
    }
}

fn is_present(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => a.iter().any(is_present),
        Value::Object(o) => !o.is_empty(),
        _ => true,
    }
}

fn eval(filter: &Filter, scope: Scope<'_, '_>, node: &Value) -> bool {
    match filter {
        Filter::And(terms) => terms.iter().all(|t| eval(t, scope, node)),
        Filter::Or(terms) => terms.iter().any(|t| eval(t, scope, node)),
        Filter::Not(a) => !eval(a, scope, node),
        Filter::Present(path) => any_leaf(scope, node, path, |v, _| is_present(v)),
        Filter::Compare {
            path,
            op,
            value: CompValue::Null,
        } => {
            let present = any_leaf(scope, node, path, |v, _| is_present(v));
            match op {
                CompareOp::Eq => !present,
                CompareOp::Ne => present,
                _ => false,
            }
        }
        Filter::Compare {
            path,
            op: CompareOp::Ne,
            value,
        } => !any_leaf(scope, node, path, |v, def| compare(v, CompareOp::Eq, value, def)),
        Filter::Compare { path, op, value } => {
            any_leaf(scope, node, path, |v, def| compare(v, *op, value, def))
        }
        Filter::ValuePath { attr, filter } => {
            let (Some(v), def) = resolve(scope, node, attr) else {
                return false;
            };
            let inner = Scope::Element(def);
            match v {
                Value::Array(items) => items.iter().any(|e| eval(filter, inner, e)),
                other => eval(filter, inner, other),
            }
        }
    }
}

fn ordering_holds(op: CompareOp, ord: Ordering) -> bool {
    match op {
        CompareOp::Eq => ord == Ordering::Equal,
        CompareOp::Ne => ord != Ordering::Equal,
        CompareOp::Gt => ord == Ordering::Greater,
        CompareOp::Ge => ord != Ordering::Less,
        CompareOp::Lt => ord == Ordering::Less,
        CompareOp::Le => ord != Ordering::Greater,
        CompareOp::Co | CompareOp::Sw | CompareOp::Ew => false,
    }
}

fn compare(leaf: &Value, op: CompareOp, lit: &CompValue, def: Option<&Attribute>) -> bool {
    let kind = def.map(|d| d.kind);
    let case_exact = def.is_some_and(|d| d.case_exact);
    match (leaf, lit) {
        (Value::String(s), CompValue::Str(l)) => {
            if kind == Some(AttrType::DateTime)
                && (op.is_ordering() || op == CompareOp::Eq)
                && let (Some(a), Some(b)) = (parse_datetime(s), parse_datetime(l))
            {
                return ordering_holds(op, a.cmp(&b));
            }
            if kind == Some(AttrType::Boolean)
                && let (Some(a), Some(b)) = (parse_bool(s), parse_bool(l))
            {
                return op == CompareOp::Eq && a == b;
            }
            if !case_exact && def.is_some_and(|d| d.uniqueness != crate::schema::Uniqueness::None) {
                // An attribute roster keeps unique (userName) compares as an identity: width, case and Unicode
                // composition aside (RFC 8265), as its uniqueness does.
                return compare_str(
                    &crate::value::identity_key(s),
                    &crate::value::identity_key(l),
                    op,
                    true,
                );
            }
            compare_str(s, l, op, case_exact)
        }
        (Value::Bool(b), CompValue::Bool(l)) => op == CompareOp::Eq && b == l,
        (Value::Bool(b), CompValue::Str(l)) => op == CompareOp::Eq && parse_bool(l) == Some(*b),
        (Value::String(s), CompValue::Bool(l)) => op == CompareOp::Eq && parse_bool(s) == Some(*l),
        (Value::Number(n), CompValue::Number(l)) => {
            let ord = match (n.as_i64(), l.as_i64()) {
                (Some(a), Some(b)) => Some(a.cmp(&b)),
                _ => n.as_f64().zip(l.as_f64()).and_then(|(a, b)| a.partial_cmp(&b)),
            };
            ord.is_some_and(|o| ordering_holds(op, o))
        }
        _ => false,
    }
}

/// String comparison with the `caseExact` rule; ASCII input takes an allocation-free path.
pub(crate) fn compare_str(s: &str, l: &str, op: CompareOp, case_exact: bool) -> bool {
    if case_exact {
        return match op {
            CompareOp::Co => s.contains(l),
            CompareOp::Sw => s.starts_with(l),
            CompareOp::Ew => s.ends_with(l),
            _ => ordering_holds(op, s.cmp(l)),
        };
    }
    if s.is_ascii() && l.is_ascii() {
        let (sb, lb) = (s.as_bytes(), l.as_bytes());
        return match op {
            CompareOp::Co => lb.is_empty() || sb.windows(lb.len()).any(|w| w.eq_ignore_ascii_case(lb)),
            CompareOp::Sw => sb.len() >= lb.len() && sb[..lb.len()].eq_ignore_ascii_case(lb),
            CompareOp::Ew => sb.len() >= lb.len() && sb[sb.len() - lb.len()..].eq_ignore_ascii_case(lb),
            CompareOp::Eq => s.eq_ignore_ascii_case(l),
            _ => {
                let ord = sb
                    .iter()
                    .map(u8::to_ascii_lowercase)
                    .cmp(lb.iter().map(u8::to_ascii_lowercase));
                ordering_holds(op, ord)
            }
        };
    }
    let (s, l) = (s.to_lowercase(), l.to_lowercase());
    compare_str(&s, &l, op, true)
}

impl Filter {
    /// Checks the filter against a resource type's schema: every attribute must exist, a complex attribute needs
    /// a sub-attribute unless it has `value`, boolean and binary attributes take no ordering or substring operator,
    /// and literals must suit the attribute type. Errors are `invalidFilter` naming the attribute.
    pub fn check(&self, schema: &ResourceSchema<'_>) -> Result<(), ScimError> {
        check(self, Scope::Resource(Some(schema)))
    }
}

fn check(filter: &Filter, scope: Scope<'_, '_>) -> Result<(), ScimError> {
    match filter {
        Filter::And(terms) | Filter::Or(terms) => terms.iter().try_for_each(|t| check(t, scope)),
        Filter::Not(a) => check(a, scope),
        Filter::Present(path) => leaf_def(scope, path).map(|_| ()),
        Filter::Compare { path, op, value } => {
            let Some(def) = leaf_def(scope, path)? else {
                return Ok(());
            };
            check_comparison(path, *op, value, def)
        }
        Filter::ValuePath { attr, filter } => {
            let def = match scope {
                Scope::Resource(Some(rs)) => rs.resolve(attr.uri.as_deref(), &attr.name).map(|(_, d)| d),
                _ => None,
            }
            .ok_or_else(|| ScimError::invalid_filter(format!("unknown attribute '{attr}'")))?;
            if def.kind != AttrType::Complex && !def.multi_valued {
                return Err(ScimError::invalid_filter(format!(
                    "'{attr}' is a single value; a [value filter] needs a multi-valued or complex attribute"
                )));
            }
            check(filter, Scope::Element(Some(def)))
        }
    }
}

/// The definition of the leaf a path designates, or an error if the path names nothing. `Ok(None)` for the
/// `schemas` attribute, which has no definition but may be filtered on.
fn leaf_def<'s>(scope: Scope<'s, '_>, path: &AttrPath) -> Result<Option<&'s Attribute>, ScimError> {
    let def = match scope {
        Scope::Resource(Some(rs)) => match rs.resolve(path.uri.as_deref(), &path.name) {
            Some((_, d)) => d,
            None if path.uri.is_none() && path.sub.is_none() && path.name.eq_ignore_ascii_case("schemas") => {
                return Ok(None);
            }
            None => return Err(ScimError::invalid_filter(format!("unknown attribute '{path}'"))),
        },
        Scope::Element(Some(parent)) => parent.sub_attribute(&path.name).ok_or_else(|| {
            ScimError::invalid_filter(format!("'{}' has no sub-attribute '{}'", parent.name, path.name))
        })?,
        _ => return Ok(None),
    };
    if def.returned == crate::schema::Returned::Never {
        // A filter on a value never returned would reveal it one guess at a time (`password sw "a"`).
        return Err(ScimError::invalid_filter(format!(
            "'{}' is never returned, so it cannot be filtered on",
            def.name
        )));
    }
    match (&path.sub, def.kind) {
        (Some(sub), AttrType::Complex) => def
            .sub_attribute(sub)
            .map(Some)
            .ok_or_else(|| ScimError::invalid_filter(format!("'{}' has no sub-attribute '{sub}'", def.name))),
        (Some(_), _) => Err(ScimError::invalid_filter(format!(
            "'{}' has no sub-attributes",
            def.name
        ))),
        (None, AttrType::Complex) => def.sub_attribute("value").map(Some).ok_or_else(|| {
            ScimError::invalid_filter(format!(
                "'{}' is complex; name one of its sub-attributes, for example '{}.{}'",
                def.name,
                def.name,
                def.sub_attributes.first().map_or("value", |s| s.name.as_str())
            ))
        }),
        (None, _) => Ok(Some(def)),
    }
}

fn check_comparison(
    path: &AttrPath,
    op: CompareOp,
    value: &CompValue,
    def: &Attribute,
) -> Result<(), ScimError> {
    let fail = |msg: String| Err(ScimError::invalid_filter(msg));
    if matches!(value, CompValue::Null) {
        return if matches!(op, CompareOp::Eq | CompareOp::Ne) {
            Ok(())
        } else {
            fail(format!(
                "'{}' with null: only eq and ne can compare with null",
                op.as_str()
            ))
        };
    }
    match def.kind {
        AttrType::Boolean | AttrType::Binary if op.is_ordering() || op.is_substring() => fail(format!(
            "operator '{}' cannot be used on '{path}', a {} attribute",
            op.as_str(),
            if def.kind == AttrType::Boolean {
                "boolean"
            } else {
                "binary"
            }
        )),
        AttrType::Boolean => match value {
            CompValue::Bool(_) => Ok(()),
            CompValue::Str(s) if parse_bool(s).is_some() => Ok(()),
            _ => fail(format!("'{path}' is boolean; compare it with true or false")),
        },
        AttrType::Integer | AttrType::Decimal => match value {
            CompValue::Number(_) => Ok(()),
            _ => fail(format!(
                "'{path}' is a number; compare it with an unquoted number"
            )),
        },
        AttrType::DateTime => match value {
            CompValue::Str(s) if op.is_substring() || parse_datetime(s).is_some() => Ok(()),
            _ => fail(format!(
                "'{path}' is a dateTime; compare it with a quoted RFC 3339 time such as \"2011-05-13T04:42:34Z\""
            )),
        },
        AttrType::String | AttrType::Reference | AttrType::Binary | AttrType::Complex => match value {
            CompValue::Str(_) => Ok(()),
            _ => fail(format!("'{path}' is a string; quote the value")),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filter::parse;
    use crate::schema::SchemaRegistry;
    use serde_json::json;

    fn bjensen() -> Value {
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User",
                        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
            "id": "2819c223-7f76-453a-919d-413861904646",
            "externalId": "701984",
            "userName": "bjensen@example.com",
            "name": {"formatted": "Ms. Barbara J Jensen, III", "familyName": "Jensen", "givenName": "Barbara"},
            "title": "Tour Guide",
            "userType": "Employee",
            "active": true,
            "emails": [
                {"value": "bjensen@example.com", "type": "work", "primary": true},
                {"value": "babs@jensen.org", "type": "home"}
            ],
            "ims": [{"value": "someaimhandle", "type": "aim"}],
            "meta": {"resourceType": "User", "created": "2010-01-23T04:56:22Z",
                     "lastModified": "2011-05-13T04:42:34Z", "version": "W/\"3694e05e9dff591\""},
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {
                "employeeNumber": "701984", "costCenter": "4130", "department": "Tour Operations",
                "manager": {"value": "26118915-6090-4610-87e4-49d8ca9f808d", "displayName": "John Smith"}
            }
        })
    }

    fn check_all(cases: &[(&str, bool)]) {
        let reg = SchemaRegistry::new();
        let rs = reg.resource("User").unwrap();
        let user = bjensen();
        for (src, want) in cases {
            let f = parse(src).unwrap();
            f.check(&rs).unwrap_or_else(|e| panic!("{src}: {e}"));
            assert_eq!(matches(&f, &user, Some(&rs)), *want, "with schema: {src}");
        }
    }

    #[test]
    fn rfc_examples_evaluate_against_bjensen() {
        check_all(&[
            (r#"userName Eq "BJENSEN@example.com""#, true),
            (r#"userName eq "bjensen""#, false),
            (r#"name.familyName co "ens""#, true),
            (r#"userName sw "BJ""#, true),
            (r#"userName ew "EXAMPLE.COM""#, true),
            (
                r#"urn:ietf:params:scim:schemas:core:2.0:User:userName sw "b""#,
                true,
            ),
            ("title pr", true),
            ("nickName pr", false),
            (r#"meta.lastModified gt "2011-05-13T04:42:33Z""#, true),
            (r#"meta.lastModified gt "2011-05-13T04:42:34Z""#, false),
            (r#"meta.lastModified ge "2011-05-13T04:42:34Z""#, true),
            (r#"meta.lastModified eq "2011-05-13T06:42:34+02:00""#, true),
            (r#"meta.lastModified lt "2011-05-14T00:00:00Z""#, true),
            (r#"meta.lastModified le "2010-01-01T00:00:00Z""#, false),
            (r#"title pr and userType eq "Employee""#, true),
            (r#"title pr or userType eq "Intern""#, true),
            (
                r#"schemas eq "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User""#,
                true,
            ),
            (
                r#"userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")"#,
                true,
            ),
            (
                r#"userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")"#,
                false,
            ),
            (r#"userType eq "Employee" and (emails.type eq "work")"#, true),
            (
                r#"userType eq "Employee" and emails[type eq "work" and value co "@example.com"]"#,
                true,
            ),
            (r#"emails[type eq "home" and value co "@example.com"]"#, false),
            (
                r#"emails[type eq "work" and value co "@example.com"] or ims[type eq "xmpp" and value co "@foo.com"]"#,
                true,
            ),
            (
                r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq "701984""#,
                true,
            ),
            (
                r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value sw "2611""#,
                true,
            ),
            (r#"costCenter eq "4130""#, true),
            ("active eq true", true),
            (r#"active eq "True""#, true),
            ("active ne false", true),
            (r#"emails.primary eq true"#, true),
            (r#"externalId eq "701984""#, true),
            (r#"externalId eq "701984 ""#, false),
            (r#"id eq "2819C223-7F76-453A-919D-413861904646""#, false),
            ("nickName eq null", true),
            ("title ne null", true),
            (r#"nickName ne "x""#, true),
            (r#"emails.type ne "home""#, false),
        ]);
    }

    #[test]
    fn case_exact_attributes_compare_exactly() {
        check_all(&[
            (r#"id eq "2819c223-7f76-453a-919d-413861904646""#, true),
            (r#"id sw "2819C""#, false),
            (r#"externalId co "0198""#, true),
        ]);
    }

    #[test]
    fn schemaless_evaluation_infers_from_json() {
        let user = bjensen();
        for (src, want) in [
            (r#"userName eq "BJENSEN@EXAMPLE.COM""#, true),
            (r#"emails co "JENSEN.ORG""#, true),
            (
                r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:costCenter eq "4130""#,
                true,
            ),
            ("active eq true", true),
            (r#"unknown eq "x""#, false),
            ("unknown pr", false),
        ] {
            assert_eq!(matches(&parse(src).unwrap(), &user, None), want, "{src}");
        }
    }

    #[test]
    fn non_ascii_strings_fold_case() {
        let v = json!({"displayName": "ÉMILIE Müller"});
        for (src, want) in [
            (r#"displayName eq "émilie müller""#, true),
            (r#"displayName co "MÜLL""#, true),
            (r#"displayName sw "émi""#, true),
            (r#"displayName gt "émilie""#, true),
        ] {
            assert_eq!(matches(&parse(src).unwrap(), &v, None), want, "{src}");
        }
    }

    #[test]
    fn numbers_compare_numerically() {
        let v = json!({"n": 10, "f": 2.5});
        for (src, want) in [
            ("n gt 9", true),
            ("n gt 10", false),
            ("n eq 10.0", true),
            ("f lt 3", true),
            ("f ge 2.5", true),
        ] {
            assert_eq!(matches(&parse(src).unwrap(), &v, None), want, "{src}");
        }
    }

    #[test]
    fn check_rejects_what_the_rfc_forbids() {
        let reg = SchemaRegistry::new();
        let rs = reg.resource("User").unwrap();
        for (src, want) in [
            ("nope eq \"x\"", "unknown attribute 'nope'"),
            ("active gt true", "cannot be used on 'active', a boolean"),
            ("x509Certificates.value co \"x\"", "binary"),
            ("active eq \"yes\"", "boolean; compare it with true or false"),
            ("userName eq 12", "quote the value"),
            ("meta.lastModified gt \"yesterday\"", "RFC 3339"),
            (
                "name eq \"x\"",
                "'name' is complex; name one of its sub-attributes, for example 'name.formatted'",
            ),
            ("name.nope pr", "'name' has no sub-attribute 'nope'"),
            ("userName.x pr", "'userName' has no sub-attributes"),
            ("emails[nope eq \"x\"]", "'emails' has no sub-attribute 'nope'"),
            ("userName[value eq \"x\"]", "single value"),
            ("title gt null", "only eq and ne"),
        ] {
            let e = parse(src).unwrap().check(&rs).unwrap_err();
            assert_eq!(e.kind, crate::ErrorKind::InvalidFilter);
            assert!(e.detail.contains(want), "{src}: {}", e.detail);
        }
        let groups = reg.resource("Group").unwrap();
        parse(r#"members[value eq "x" and type eq "User"]"#)
            .unwrap()
            .check(&groups)
            .unwrap();
    }
}
