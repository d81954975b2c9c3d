//! Resource JSON fuzz target: any body either fails validation with a SCIM error or yields a resource that
//! validates again unchanged (validation is idempotent) and holds no value beyond the limits; projection of
//! it never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use roster_scim::{Limits, Projection, SchemaRegistry, ValidateOptions};
use serde_json::Value;

fn within_limits(v: &Value, limits: &Limits) -> bool {
    match v {
        Value::String(s) => s.chars().count() <= limits.max_binary_chars,
        Value::Array(items) => items.len() <= limits.max_members && items.iter().all(|i| within_limits(i, limits)),
        Value::Object(o) => o.values().all(|x| within_limits(x, limits)),
        _ => true,
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(body) = serde_json::from_slice::<Value>(data) else { return };
    let reg = SchemaRegistry::new();
    for kind in ["User", "Group"] {
        let rs = reg.resource(kind).unwrap();
        let Ok(out) = rs.validate(&body, None, ValidateOptions::default()) else { continue };
        let out = Value::Object(out);
        assert!(within_limits(&out, &Limits::DEFAULT));
        let again = rs.validate(&out, Some(&out), ValidateOptions::default()).unwrap();
        assert_eq!(Value::Object(again), out);
        for (a, x) in [(Some("userName,emails.value"), None), (None, Some("members,name"))] {
            if let Ok(p) = Projection::from_params(a, x) {
                let _ = p.apply(&rs, &out);
            }
        }
    }
});
