//! Attribute projection (RFC 7644 §3.4.2.5, §3.9): `attributes` and `excludedAttributes`, honouring each
//! attribute's `returned` characteristic.
//!
//! - `returned: never` (password) is never output;
//! - `returned: always` (`id`, and `schemas`) is always output, even when excluded or not requested;
//! - `returned: request` only when named in `attributes`;
//! - `returned: default` unless `attributes` names other attributes or `excludedAttributes` names it.
//!
//! Naming a sub-attribute (`name.givenName`, `emails.value`) keeps only that part of the parent; naming an
//! extension URN keeps or drops the whole extension.

use crate::error::ScimError;
use crate::path::AttrPath;
use crate::schema::{Attribute, Location, ResourceSchema, Returned};
use serde_json::{Map, Value};

/// A parsed `attributes` / `excludedAttributes` request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Projection {
    /// Attributes to return (with the `always` ones); empty means the default set.
    pub attributes: Vec<AttrPath>,
    /// Attributes to leave out (when `attributes` is empty).
    pub excluded: Vec<AttrPath>,
}

/// The most attribute paths an `attributes` or `excludedAttributes` list may name: a resource type has about
/// sixty, and each path is compared with every attribute of every resource returned.
pub const MAX_PATHS: usize = 200;

/// Parses a comma-separated list of attribute paths as in the query parameters.
pub fn parse_list(s: &str) -> Result<Vec<AttrPath>, ScimError> {
    let paths: Vec<&str> = s.split(',').map(str::trim).filter(|p| !p.is_empty()).collect();
    if paths.len() > MAX_PATHS {
        return Err(ScimError::invalid_value(format!(
            "the attribute list names {} paths; the limit is {MAX_PATHS}",
            paths.len()
        )));
    }
    paths.into_iter().map(AttrPath::parse).collect()
}

impl Projection {
    /// From the raw `attributes` and `excludedAttributes` parameters.
    pub fn from_params(attributes: Option<&str>, excluded: Option<&str>) -> Result<Self, ScimError> {
        Ok(Self {
            attributes: attributes.map(parse_list).transpose()?.unwrap_or_default(),
            excluded: excluded.map(parse_list).transpose()?.unwrap_or_default(),
        })
    }

    /// Whether the core attribute `name` can appear in what [`apply`](Self::apply) returns. A store leaves out
    /// what it would cost to read when it cannot (a group's `members`, a user's derived `groups`). An attribute the
    /// schema does not describe is taken to appear.
    pub fn returns(&self, schema: &ResourceSchema<'_>, name: &str) -> bool {
        let Some((Location::Core, def)) = schema.resolve(None, name) else {
            return true;
        };
        match def.returned {
            Returned::Never => false,
            Returned::Always => true,
            _ if !self.attributes.is_empty() => self
                .attributes
                .iter()
                .any(|p| Self::matches(p, None, def, schema)),
            Returned::Request => false,
            Returned::Default => !self
                .excluded
                .iter()
                .any(|p| p.sub.is_none() && Self::matches(p, None, def, schema)),
        }
    }

    /// Applies the projection to a canonical resource.
    pub fn apply(&self, schema: &ResourceSchema<'_>, resource: &Value) -> Value {
        self.apply_owned(schema, resource.clone())
    }

    /// Applies the projection to a canonical resource the caller no longer needs: what is kept is moved, not
    /// copied (a server's answer is rendered once and projected once).
    pub fn apply_owned(&self, schema: &ResourceSchema<'_>, resource: Value) -> Value {
        let Value::Object(obj) = resource else {
            return resource;
        };
        let mut out = Map::with_capacity(obj.len());
        for (key, v) in obj {
            if key == "schemas" {
                out.insert(key, v);
                continue;
            }
            if let Some(ext) = schema.extension(&key) {
                let Value::Object(inner) = v else { continue };
                // `urn:...:2.0:User` alone parses as uri `urn:...:2.0`, name `User`: it names the whole extension.
                let named_whole = |list: &[AttrPath]| {
                    list.iter()
                        .any(|p| p.sub.is_none() && p.to_string().eq_ignore_ascii_case(&ext.id))
                };
                let keep_all = named_whole(&self.attributes);
                let drop_all = named_whole(&self.excluded);
                let mut m = Map::new();
                for (k, x) in inner {
                    let Some(def) = ext.attribute(&k) else { continue };
                    let projected = if keep_all && !drop_all {
                        Some(Self::strip_never(def, x))
                    } else if drop_all && def.returned != Returned::Always {
                        None
                    } else {
                        self.project_attr(schema, Some(&ext.id), def, x)
                    };
                    if let Some(p) = projected {
                        m.insert(k, p);
                    }
                }
                if !m.is_empty() {
                    out.insert(key, Value::Object(m));
                }
                continue;
            }
            let Some((Location::Core, def)) = schema.resolve(None, &key) else {
                // Not described by the schema (should not happen for canonical resources): keep unless excluded.
                if self.attributes.is_empty()
                    && !self.excluded.iter().any(|p| p.name.eq_ignore_ascii_case(&key))
                {
                    out.insert(key, v);
                }
                continue;
            };
            if let Some(p) = self.project_attr(schema, None, def, v) {
                out.insert(key, p);
            }
        }
        Value::Object(out)
    }

    fn matches(p: &AttrPath, uri: Option<&str>, def: &Attribute, schema: &ResourceSchema<'_>) -> bool {
        if !p.name.eq_ignore_ascii_case(&def.name) {
            return false;
        }
        match (p.uri.as_deref(), uri) {
            (None, _) => true,
            (Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
            (Some(a), None) => schema.core.id.eq_ignore_ascii_case(a),
        }
    }

    fn strip_never(def: &Attribute, v: Value) -> Value {
        Self::filter_subs(def, v, |s| s.returned != Returned::Never)
    }

    /// `v` (a complex value, or a list of them) with only the sub-attributes `keep` accepts.
    fn filter_subs(def: &Attribute, v: Value, keep: impl Fn(&Attribute) -> bool) -> Value {
        let one = |x: &mut Value| {
            if let Value::Object(o) = x {
                o.retain(|k, _| def.sub_attribute(k).is_none_or(&keep));
            }
        };
        match v {
            Value::Array(mut a) => {
                a.iter_mut().for_each(one);
                Value::Array(a)
            }
            mut other => {
                one(&mut other);
                other
            }
        }
    }

    fn project_attr(
        &self,
        schema: &ResourceSchema<'_>,
        uri: Option<&str>,
        def: &Attribute,
        v: Value,
    ) -> Option<Value> {
        match def.returned {
            Returned::Never => return None,
            Returned::Always => return Some(Self::strip_never(def, v)),
            _ => {}
        }
        if !self.attributes.is_empty() {
            let requested: Vec<&AttrPath> = self
                .attributes
                .iter()
                .filter(|p| Self::matches(p, uri, def, schema))
                .collect();
            if requested.is_empty() {
                return None;
            }
            if requested.iter().any(|p| p.sub.is_none()) {
                return Some(Self::strip_never(def, v));
            }
            // Only the named sub-attributes (and the parent's `always` ones).
            let keep = |s: &Attribute| {
                s.returned == Returned::Always
                    || requested
                        .iter()
                        .any(|p| p.sub.as_deref().is_some_and(|n| n.eq_ignore_ascii_case(&s.name)))
            };
            return non_empty(Self::filter_subs(def, v, keep));
        }
        if def.returned == Returned::Request {
            return None;
        }
        let excluded: Vec<&AttrPath> = self
            .excluded
            .iter()
            .filter(|p| Self::matches(p, uri, def, schema))
            .collect();
        if excluded.iter().any(|p| p.sub.is_none()) {
            return None;
        }
        let keep = |s: &Attribute| {
            s.returned != Returned::Never
                && (s.returned == Returned::Always
                    || !excluded
                        .iter()
                        .any(|p| p.sub.as_deref().is_some_and(|n| n.eq_ignore_ascii_case(&s.name))))
                && s.returned != Returned::Request
        };
        non_empty(Self::filter_subs(def, v, keep))
    }
}

fn non_empty(v: Value) -> Option<Value> {
    let empty = match &v {
        Value::Object(o) => o.is_empty(),
        Value::Array(a) => a.iter().all(|x| x.as_object().is_some_and(Map::is_empty)),
        _ => false,
    };
    (!empty).then_some(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{CORE_USER, ENTERPRISE_USER, SchemaRegistry};
    use serde_json::json;

    fn user() -> Value {
        json!({"schemas": [CORE_USER, ENTERPRISE_USER], "id": "1", "externalId": "e", "userName": "bjensen",
            "name": {"givenName": "B", "familyName": "J"}, "password": "secret",
            "emails": [{"value": "a@example.com", "type": "work"}],
            ENTERPRISE_USER: {"employeeNumber": "7", "department": "D"},
            "meta": {"resourceType": "User"}})
    }

    fn project(attrs: Option<&str>, excluded: Option<&str>) -> Value {
        let reg = SchemaRegistry::new();
        let rs = reg.resource("User").unwrap();
        Projection::from_params(attrs, excluded)
            .unwrap()
            .apply(&rs, &user())
    }

    /// `returns` says whether `apply` can keep an attribute, so a store may leave out what would be dropped.
    #[test]
    fn returns_agrees_with_apply_on_a_groups_members() {
        let reg = SchemaRegistry::new();
        let rs = reg.resource("Group").unwrap();
        let group = json!({"schemas": [crate::schema::CORE_GROUP], "id": "g", "displayName": "All",
            "members": [{"value": "u1", "type": "User", "display": "Ann"}]});
        for (attrs, excluded, expected) in [
            (None, None, true),
            (None, Some("members"), false),
            (None, Some("MEMBERS"), false),
            (
                None,
                Some("urn:ietf:params:scim:schemas:core:2.0:Group:members"),
                false,
            ),
            (None, Some("members.display"), true),
            (None, Some("displayName"), true),
            (Some("displayName"), None, false),
            (Some("members.value"), None, true),
            (Some("displayName,members"), None, true),
            (Some("id"), Some("displayName"), false),
        ] {
            let p = Projection::from_params(attrs, excluded).unwrap();
            assert_eq!(p.returns(&rs, "members"), expected, "{attrs:?} {excluded:?}");
            assert_eq!(
                p.apply(&rs, &group).get("members").is_some(),
                expected,
                "{attrs:?} {excluded:?}"
            );
        }
        let p = Projection::default();
        assert!(
            !p.returns(&reg.resource("User").unwrap(), "password"),
            "returned never"
        );
        assert!(p.returns(&rs, "id"), "returned always");
    }

    #[test]
    fn default_never_returns_password() {
        let v = project(None, None);
        assert!(v.get("password").is_none());
        assert_eq!(v["userName"], "bjensen");
        assert_eq!(v["meta"]["resourceType"], "User");
    }

    #[test]
    fn attributes_keep_only_named_plus_always() {
        let v = project(Some("userName,name.familyName"), None);
        assert_eq!(
            v,
            json!({"schemas": [CORE_USER, ENTERPRISE_USER], "id": "1", "userName": "bjensen", "name": {"familyName": "J"}})
        );
        let v = project(Some("emails.value"), None);
        assert_eq!(v["emails"], json!([{"value": "a@example.com"}]));
        let v = project(Some("password"), None);
        assert!(v.get("password").is_none());
        let v = project(Some(&format!("{ENTERPRISE_USER}:department")), None);
        assert_eq!(v[ENTERPRISE_USER], json!({"department": "D"}));
        let v = project(Some(ENTERPRISE_USER), None);
        assert_eq!(
            v[ENTERPRISE_USER],
            json!({"employeeNumber": "7", "department": "D"})
        );
        let v = project(Some("urn:ietf:params:scim:schemas:core:2.0:User:userName"), None);
        assert_eq!(v["userName"], "bjensen");
    }

    #[test]
    fn excluded_attributes_drop_but_never_always() {
        let v = project(None, Some("emails,id,name.givenName,meta"));
        assert!(v.get("emails").is_none() && v.get("meta").is_none());
        assert_eq!(v["id"], "1");
        assert_eq!(v["name"], json!({"familyName": "J"}));
        let v = project(None, Some(ENTERPRISE_USER));
        assert!(v.get(ENTERPRISE_USER).is_none());
        let v = project(None, Some("name.givenName,name.familyName"));
        assert!(v.get("name").is_none());
    }

    #[test]
    fn bad_lists_are_invalid_path() {
        assert!(Projection::from_params(Some("user name"), None).is_err());
        assert_eq!(
            Projection::from_params(Some(" userName , ,title"), None)
                .unwrap()
                .attributes
                .len(),
            2
        );
    }
}
