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

/// The form roster compares identities in (RFC 8265's UsernameCaseMapped profile): fullwidth and halfwidth
/// characters mapped to their ordinary forms (width mapping), lower-cased (Unicode), then composed (NFC). So
/// `émile` typed with a precomposed `é` and with `e` + U+0301, `ガ` and `カ` + U+3099, `ＡＤＡ` and `ada` are one
/// identity. Used for `userName` uniqueness, for filters on attributes roster keeps unique, and for the engine's
/// matching; the stored value stays as the client sent it. ASCII takes an allocation-light path.
pub fn identity_key(s: &str) -> String {
    use unicode_normalization::UnicodeNormalization as _;
    if s.is_ascii() {
        return s.to_ascii_lowercase();
    }
    let mut mapped = String::with_capacity(s.len());
    for c in s.chars() {
        // The fullwidth and halfwidth forms (and the ideographic space), whose compatibility decompositions are
        // tagged <wide> or <narrow>: their decomposition is the width mapping.
        if matches!(c, '\u{3000}' | '\u{FF01}'..='\u{FFEE}') {
            mapped.extend(std::iter::once(c).nfkd());
        } else {
            mapped.push(c);
        }
    }
    mapped.to_lowercase().nfc().collect()
}

/// The spellings of `s` a system that does not normalise Unicode may hold: `s`, and its composed (NFC) and
/// decomposed (NFD) forms where they differ. For asking another system for an identity (the engine's matching).
pub fn unicode_spellings(s: &str) -> Vec<String> {
    use unicode_normalization::UnicodeNormalization as _;
    let mut forms = vec![s.to_owned()];
    if !s.is_ascii() {
        for form in [s.nfc().collect::<String>(), s.nfd().collect::<String>()] {
            if !forms.contains(&form) {
                forms.push(form);
            }
        }
    }
    forms
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn identities_compare_in_one_form_whatever_the_unicode_spelling() {
        let composed = "\u{e9}mile@example.com";
        let decomposed = "e\u{301}mile@example.com";
        assert_ne!(composed, decomposed);
        assert_eq!(identity_key(composed), identity_key(decomposed));
        assert_eq!(identity_key("\u{c9}MILE@Example.com"), identity_key(composed));
        // Dakuten: ガ precomposed, カ + U+3099, and the halfwidth ｶﾞ.
        assert_eq!(identity_key("\u{30ac}"), identity_key("\u{30ab}\u{3099}"));
        assert_eq!(identity_key("\u{ff76}\u{ff9e}"), "\u{30ac}");
        // Fullwidth Latin letters and digits, and the ideographic space.
        assert_eq!(identity_key("\u{ff21}\u{ff24}\u{ff21}\u{ff11}"), "ada1");
        assert_eq!(identity_key("a\u{3000}b"), "a b");
        // What is not width, case or composition stays apart: compatibility forms outside the width block.
        assert_ne!(identity_key("\u{fb01}"), identity_key("fi"));
        assert_eq!(identity_key("Bob.Jones"), "bob.jones");
        assert_eq!(unicode_spellings("ada"), ["ada"]);
        assert_eq!(unicode_spellings(composed), [composed, decomposed]);
        assert_eq!(unicode_spellings(decomposed), [decomposed, composed]);
    }

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
