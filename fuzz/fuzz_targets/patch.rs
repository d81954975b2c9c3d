//! PATCH fuzz target: any JSON body either fails with a SCIM error or yields a resource that validates again
//! unchanged (PATCH output is always a valid, canonical resource).
#![no_main]

use libfuzzer_sys::fuzz_target;
use roster_scim::{PatchRequest, SchemaRegistry, ValidateOptions};

fuzz_target!(|data: &[u8]| {
    let Ok(body) = serde_json::from_slice::<serde_json::Value>(data) else { return };
    let Ok(req) = PatchRequest::from_json(&body) else { return };
    let reg = SchemaRegistry::new();
    let users = reg.resource("User").unwrap();
    let user = serde_json::json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "id": "1", "userName": "bjensen",
        "name": {"givenName": "Barbara"}, "emails": [{"value": "b@example.com", "type": "work", "primary": true}],
        "meta": {"resourceType": "User"}});
    if let Ok(out) = users.apply_patch(&user, &req) {
        let again = users.validate(&out.resource, Some(&out.resource), ValidateOptions::default()).unwrap();
        assert_eq!(serde_json::Value::Object(again), out.resource);
    }
});
