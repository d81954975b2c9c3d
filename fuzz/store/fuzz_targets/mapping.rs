//! Mapping fuzz target: any text, one rule per line, either fails to parse or compile with a message, or maps a
//! sample user without panicking, and no value it makes is longer than the limit.
#![no_main]

use libfuzzer_sys::fuzz_target;
use roster_engine::mapping::{MAX_VALUE_BYTES, MappingRule, apply, compile};
use serde_json::{Value, json};

fn longest(v: &Value) -> usize {
    match v {
        Value::String(s) => s.len(),
        Value::Array(a) => a.iter().map(longest).max().unwrap_or(0),
        Value::Object(o) => o.values().map(longest).max().unwrap_or(0),
        _ => 0,
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(rules) = text.lines().take(16).map(|l| MappingRule::parse(l, false)).collect::<Result<Vec<_>, _>>() else {
        return;
    };
    let Ok(compiled) = compile(&rules) else { return };
    let user = json!({"id": "u-1", "userName": "bjensen@example.com", "active": true,
        "name": {"givenName": "Barbara", "familyName": "Jensen"},
        "emails": [{"value": "bjensen@example.com", "type": "work", "primary": true}],
        "groups": [{"value": "g-1", "display": "Sales", "type": "direct"}]});
    for create in [true, false] {
        let out = Value::Object(apply(&compiled, &user, create));
        assert!(longest(&out) <= MAX_VALUE_BYTES);
    }
});
