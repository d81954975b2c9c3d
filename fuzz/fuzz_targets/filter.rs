//! Filter parser fuzz target: any input either fails with invalidFilter or parses to a filter whose canonical
//! form parses back to the same tree; checking and evaluating it never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use roster_scim::{ErrorKind, SchemaRegistry, filter};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match filter::parse(text) {
        Err(e) => assert_eq!(e.kind, ErrorKind::InvalidFilter),
        Ok(f) => {
            let printed = f.to_string();
            let again = filter::parse(&printed).unwrap_or_else(|e| panic!("canonical form {printed:?} fails: {e}"));
            assert_eq!(again, f, "round trip of {printed:?}");
            let reg = SchemaRegistry::new();
            let users = reg.resource("User").unwrap();
            let _ = f.check(&users);
            let user = serde_json::json!({"userName": "bjensen", "active": true, "emails": [{"value": "b@example.com", "type": "work"}],
                "meta": {"lastModified": "2011-05-13T04:42:34Z"}, "name": {"givenName": "Barbara"}});
            let _ = filter::matches(&f, &user, Some(&users));
            let _ = filter::matches(&f, &user, None);
        }
    }
});
