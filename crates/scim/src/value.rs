//! Small helpers over JSON values shared by validation, filters, PATCH and projection: case-insensitive key
//! lookup (SCIM attribute names are case-insensitive) and the lenient literal readers real clients need.

use serde_json::{Map, Value};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// The value under `key` in the object `v`, matching the key case-insensitively (exact match first).
pub fn get_ci<'v>(v: &'v Value, key: &str) -> Option<&'v Value> {
    let obj = v.as_object()?;
    obj.get(key).or_else(|| {
        obj.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

/// The key in `obj` that equals `key` case-insensitively (exact match first).
pub fn find_key(obj: &Map<String, Value>, key: &str) -> Option<String> {
    if obj.contains_key(key) {
        return Some(key.to_owned());
    }
    obj.keys().find(|k| k.eq_ignore_ascii_case(key)).cloned()
}

/// Mutable access to the value under `key`, case-insensitively.
pub fn get_ci_mut<'v>(obj: &'v mut Map<String, Value>, key: &str) -> Option<&'v mut Value> {
    let k = find_key(obj, key)?;
    obj.get_mut(&k)
}

/// Removes the entry under `key`, case-insensitively.
pub fn remove_ci(obj: &mut Map<String, Value>, key: &str) -> Option<Value> {
    let k = find_key(obj, key)?;
    obj.shift_remove(&k)
}

/// `"true"`/`"false"` in any case, as Entra ID sends booleans in PATCH.
pub fn parse_bool(s: &str) -> Option<bool> {
    if s.eq_ignore_ascii_case("true") {
        Some(true)
    } else if s.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

/// An `xsd:dateTime` / RFC 3339 instant.
pub fn parse_datetime(s: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(s, &Rfc3339).ok()
}

/// Formats an instant the way SCIM `meta` does (RFC 3339, UTC, `Z`).
pub fn format_datetime(t: OffsetDateTime) -> String {
    t.to_offset(time::UtcOffset::UTC)
        .format(&Rfc3339)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn case_insensitive_lookup_prefers_exact_key() {
        let v = json!({"userName": "a", "USERNAME": "b", "Title": "t"});
        assert_eq!(get_ci(&v, "USERNAME"), Some(&json!("b")));
        assert_eq!(get_ci(&v, "title"), Some(&json!("t")));
        assert_eq!(get_ci(&json!([1]), "x"), None);
        let mut m = v.as_object().unwrap().clone();
        assert_eq!(remove_ci(&mut m, "TITLE"), Some(json!("t")));
        assert!(get_ci_mut(&mut m, "title").is_none());
    }

    #[test]
    fn lenient_literals() {
        assert_eq!(parse_bool("False"), Some(false));
        assert_eq!(parse_bool("TRUE"), Some(true));
        assert_eq!(parse_bool("yes"), None);
        let t = parse_datetime("2011-05-13T06:42:34+02:00").unwrap();
        assert_eq!(format_datetime(t), "2011-05-13T04:42:34Z");
        assert!(parse_datetime("2011-05-13").is_none());
    }
}
