//! A stored resource's default representation, written straight from the JSON text it is stored as.
//!
//! Contract: [`render_default`] returns exactly the bytes of the general path — parse the stored object, add the
//! related rows, [`with_id_and_meta`](crate::resource::with_id_and_meta), [`Projection::apply_owned`] with no
//! `attributes` or `excludedAttributes`, serialise — when the stored text is compact `serde_json` output (as a
//! store writes it), and the same JSON with the stored text's spacing otherwise. When that projection would
//! change anything it returns `None` and the caller takes the general path:
//!
//! - an attribute returned `never` or `request`, or one with a sub-attribute so returned;
//! - a value the projection drops for being empty (`{}`, `[]`, a list of `{}`; any text holding `{}` or `[]`
//!   inside an object or a list is taken as such, which is only ever too careful);
//! - a key the schema does not describe as a core or common attribute or an extension (or an extension's
//!   attribute), a key given twice, `id`, `meta`, or the related attribute itself;
//! - text that is not a JSON object, or a key with escapes in it.
//!
//! Why: a server's most common answer is one resource with the default projection. The general path allocates a
//! map entry and a value per attribute three times (parse, render, project) and serialises them again; this one
//! checks each key against the schema and copies the values' text in order, `id`, the related rows and `meta`
//! put where the general path puts them.
//!
//! [`Projection::apply_owned`]: crate::Projection::apply_owned

use crate::resource::Meta;
use crate::schema::{Attribute, Location, ResourceSchema, Returned};
use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::Value;
use serde_json::value::RawValue;

/// The default representation of a stored resource: its attributes as `stored` (a JSON object without `id`,
/// `meta` and the related rows), `id`, the related rows (`related`: a Group's `members` or a User's `groups`,
/// with their `$ref`s, left out when `None` or empty) and `meta`. `None` when the default projection would change
/// the stored attributes (see the module's contract): take the general path then.
pub fn render_default(
    schema: &ResourceSchema<'_>,
    stored: &str,
    id: &str,
    meta: &Meta,
    related: Option<(&str, &[Value])>,
) -> Option<Vec<u8>> {
    let Entries(entries) = serde_json::from_str(stored).ok()?;
    let related = related.filter(|(_, items)| !items.is_empty());
    if let Some((attr, _)) = related {
        match schema.resolve(None, attr) {
            Some((Location::Core, def)) if plain(def) => {}
            _ => return None,
        }
    }
    let mut schemas = None;
    let mut external_id = None;
    for (i, (key, value)) in entries.iter().enumerate() {
        if entries[..i].iter().any(|(k, _)| k == key)
            || related.is_some_and(|(attr, _)| attr.eq_ignore_ascii_case(key))
        {
            return None;
        }
        if *key == "schemas" {
            schemas = Some(*value);
        } else if let Some(ext) = schema.extension(key) {
            if !plain_extension(ext, value) {
                return None;
            }
        } else {
            match schema.resolve(None, key) {
                Some((Location::Core, def)) if plain(def) && !looks_empty(value) => {
                    if *key == "externalId" {
                        external_id = Some(*value);
                    }
                    // `id` and `meta` are the server's; a stored one would be replaced.
                    if def.name == "id" || def.name == "meta" {
                        return None;
                    }
                }
                _ => return None,
            }
        }
    }
    let mut out = Vec::with_capacity(stored.len() + 256);
    out.push(b'{');
    if let Some(s) = schemas {
        out.extend_from_slice(b"\"schemas\":");
        out.extend_from_slice(s.get().as_bytes());
        out.push(b',');
    }
    out.extend_from_slice(b"\"id\":");
    serde_json::to_writer(&mut out, id).ok()?;
    if let Some(e) = external_id {
        out.extend_from_slice(b",\"externalId\":");
        out.extend_from_slice(e.get().as_bytes());
    }
    for (key, value) in &entries {
        if *key == "schemas" || *key == "externalId" {
            continue;
        }
        out.push(b',');
        serde_json::to_writer(&mut out, key).ok()?;
        out.push(b':');
        out.extend_from_slice(value.get().as_bytes());
    }
    if let Some((attr, items)) = related {
        out.push(b',');
        serde_json::to_writer(&mut out, attr).ok()?;
        out.push(b':');
        serde_json::to_writer(&mut out, items).ok()?;
    }
    out.extend_from_slice(b",\"meta\":");
    serde_json::to_writer(&mut out, meta).ok()?;
    out.push(b'}');
    Some(out)
}

/// An attribute the default projection keeps as it is: returned by default (or always), and so is each
/// sub-attribute.
fn plain(def: &Attribute) -> bool {
    let kept = |r: Returned| matches!(r, Returned::Default | Returned::Always);
    kept(def.returned) && def.sub_attributes.iter().all(|s| kept(s.returned))
}

/// An extension's object that the default projection keeps as it is: a non-empty object of the extension's
/// plain attributes, none of them empty or given twice.
fn plain_extension(ext: &crate::schema::Schema, value: &RawValue) -> bool {
    let Ok(Entries(inner)) = serde_json::from_str(value.get()) else {
        return false;
    };
    !inner.is_empty()
        && inner.iter().enumerate().all(|(i, (key, v))| {
            !inner[..i].iter().any(|(k, _)| k == key)
                && ext.attribute(key).is_some_and(plain)
                && !looks_empty(v)
        })
}

/// Whether the projection could drop `value`, or part of it, for being empty: an object or a list whose text
/// holds `{}` or `[]` anywhere (a string holding them too, which only sends the caller the general way).
fn looks_empty(value: &RawValue) -> bool {
    let text = value.get();
    text.starts_with(['{', '[']) && (text.contains("{}") || text.contains("[]"))
}

/// A JSON object's members in their order, the values as their text (borrowed from the input).
struct Entries<'a>(Vec<(&'a str, &'a RawValue)>);

impl<'de> Deserialize<'de> for Entries<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Members;
        impl<'de> Visitor<'de> for Members {
            type Value = Entries<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::with_capacity(map.size_hint().unwrap_or(16));
                while let Some(entry) = map.next_entry::<&'de str, &'de RawValue>()? {
                    out.push(entry);
                }
                Ok(Entries(out))
            }
        }
        d.deserialize_map(Members)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Projection;
    use crate::resource::with_id_and_meta;
    use crate::schema::{CORE_GROUP, CORE_USER, ENTERPRISE_USER, SchemaRegistry};
    use serde_json::{Map, json};
    use time::macros::datetime;

    fn meta(kind: &str) -> Meta {
        Meta {
            resource_type: kind.into(),
            created: datetime!(2026-01-02 03:04:05.678 UTC),
            last_modified: datetime!(2026-02-03 04:05:06 UTC),
            location: format!("https://roster.test/scim/v2/{kind}s/a\"b"),
            version: Meta::weak_etag(7),
        }
    }

    /// The general path's bytes: parse, add the related rows, id and meta, project, serialise.
    fn general(kind: &str, stored: &str, related: Option<(&str, &[Value])>) -> Vec<u8> {
        let reg = SchemaRegistry::new();
        let rs = reg.resource(kind).unwrap();
        let mut data: Map<String, Value> = serde_json::from_str(stored).unwrap();
        if let Some((attr, items)) = related.filter(|(_, i)| !i.is_empty()) {
            data.insert(attr.into(), Value::Array(items.to_vec()));
        }
        let full = Value::Object(with_id_and_meta(data, "a\"b", &meta(kind)));
        serde_json::to_vec(&Projection::default().apply_owned(&rs, full)).unwrap()
    }

    fn fast(kind: &str, stored: &str, related: Option<(&str, &[Value])>) -> Option<Vec<u8>> {
        let reg = SchemaRegistry::new();
        let rs = reg.resource(kind).unwrap();
        render_default(&rs, stored, "a\"b", &meta(kind), related)
    }

    fn text(b: &[u8]) -> &str {
        std::str::from_utf8(b).unwrap()
    }

    #[test]
    fn a_plain_resource_comes_out_byte_for_byte_as_the_general_path_makes_it() {
        let groups =
            [json!({"value": "g1", "type": "direct", "display": "All", "$ref": "https://x/Groups/g1"})];
        let members = [json!({"value": "u1", "type": "User", "display": "b", "$ref": "https://x/Users/u1"})];
        type Case<'a> = (&'a str, Value, Option<(&'a str, &'a [Value])>);
        let cases: Vec<Case<'_>> = vec![
            (
                "User",
                json!({"schemas": [CORE_USER], "userName": "bjensen"}),
                None,
            ),
            (
                "User",
                json!({"userName": "b\u{e9}\"\\n", "schemas": [CORE_USER, ENTERPRISE_USER], "externalId": "e1",
                    "name": {"givenName": "B", "familyName": "J\u{1F600}"}, "active": true,
                    "emails": [{"value": "a@example.com", "type": "work", "primary": true}],
                    ENTERPRISE_USER: {"employeeNumber": "7", "manager": {"value": "m1"}}}),
                Some(("groups", &groups)),
            ),
            (
                "User",
                json!({"schemas": [CORE_USER], "userName": "x"}),
                Some(("groups", &[])),
            ),
            (
                "Group",
                json!({"schemas": [CORE_GROUP], "displayName": "All"}),
                Some(("members", &members)),
            ),
            ("Group", json!({"displayName": "No schemas"}), None),
        ];
        for (kind, data, related) in cases {
            let stored = serde_json::to_string(&data).unwrap();
            let expected = general(kind, &stored, related);
            let got = fast(kind, &stored, related).unwrap_or_else(|| panic!("not plain: {stored}"));
            assert_eq!(text(&got), text(&expected), "{stored}");
        }
    }

    #[test]
    fn anything_the_projection_would_change_takes_the_general_path() {
        let refused = [
            // returned: never
            json!({"schemas": [CORE_USER], "userName": "b", "password": "sealed"}),
            // empty values the projection drops
            json!({"schemas": [CORE_USER], "userName": "b", "emails": []}),
            json!({"schemas": [CORE_USER], "userName": "b", "name": {}}),
            json!({"schemas": [CORE_USER], "userName": "b", "emails": [{}]}),
            json!({"schemas": [CORE_USER], "userName": "b", ENTERPRISE_USER: {}}),
            // not described by the schema, or the server's own
            json!({"schemas": [CORE_USER], "userName": "b", "nickname2": "x"}),
            json!({"schemas": [CORE_USER], "userName": "b", ENTERPRISE_USER: {"shoeSize": "9"}}),
            json!({"schemas": [CORE_USER], "userName": "b", "id": "other"}),
            json!({"schemas": [CORE_USER], "userName": "b", "meta": {"version": "1"}}),
            json!(["not", "an", "object"]),
        ];
        for data in refused {
            let stored = serde_json::to_string(&data).unwrap();
            assert_eq!(fast("User", &stored, None), None, "{stored}");
        }
        // The related rows come from the caller, not from the stored text.
        let groups = [json!({"value": "g"})];
        let stored = r#"{"userName":"b","groups":[{"value":"g"}]}"#;
        assert_eq!(fast("User", stored, Some(("groups", &groups))), None);
        // A key given twice, and a key with an escape, are not read as the general path would read them.
        for stored in [
            r#"{"userName":"a","userName":"b"}"#,
            r#"{"user\u004eame":"a"}"#,
            r#"{"userName":"a""#,
        ] {
            assert_eq!(fast("User", stored, None), None, "{stored}");
        }
    }

    #[test]
    fn spacing_of_the_stored_text_is_kept_and_the_json_is_the_same() {
        // PostgreSQL's jsonb text: spaces after colons and commas, its own key order.
        let stored = r#"{"name": {"givenName": "B"}, "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "b"}"#;
        let got: Value = serde_json::from_slice(&fast("User", stored, None).unwrap()).unwrap();
        let expected: Value = serde_json::from_slice(&general("User", stored, None)).unwrap();
        assert_eq!(got, expected);
        let keys: Vec<&String> = got.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["schemas", "id", "name", "userName", "meta"]);
    }
}
