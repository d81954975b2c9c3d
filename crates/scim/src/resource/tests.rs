use super::*;
use crate::ErrorKind;
use crate::schema::{CORE_USER, ENTERPRISE_USER, SchemaRegistry};
use serde_json::json;

fn validate(rt: &str, input: Value, existing: Option<&Value>) -> Result<Map<String, Value>, ScimError> {
    let reg = SchemaRegistry::new();
    let rs = reg.resource(rt).unwrap();
    rs.validate(&input, existing, ValidateOptions::default())
}

/// RFC 7643 §8.2 full user (readOnly parts removed where the RFC shows server output).
fn full_user() -> Value {
    json!({
      "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
      "id": "2819c223-7f76-453a-919d-413861904646",
      "externalId": "701984",
      "userName": "bjensen@example.com",
      "name": {"formatted": "Ms. Barbara J Jensen, III", "familyName": "Jensen", "givenName": "Barbara",
               "middleName": "Jane", "honorificPrefix": "Ms.", "honorificSuffix": "III"},
      "displayName": "Babs Jensen",
      "nickName": "Babs",
      "profileUrl": "https://login.example.com/bjensen",
      "emails": [{"value": "bjensen@example.com", "type": "work", "primary": true},
                 {"value": "babs@jensen.org", "type": "home"}],
      "addresses": [{"type": "work", "streetAddress": "100 Universal City Plaza", "locality": "Hollywood",
                     "region": "CA", "postalCode": "91608", "country": "USA",
                     "formatted": "100 Universal City Plaza\nHollywood, CA 91608 USA", "primary": true}],
      "phoneNumbers": [{"value": "555-555-5555", "type": "work"}, {"value": "555-555-4444", "type": "mobile"}],
      "ims": [{"value": "someaimhandle", "type": "aim"}],
      "photos": [{"value": "https://photos.example.com/profilephoto/72930000000Ccne/F", "type": "photo"}],
      "userType": "Employee",
      "title": "Tour Guide",
      "preferredLanguage": "en-US",
      "locale": "en-US",
      "timezone": "America/Los_Angeles",
      "active": true,
      "password": "t1meMa$heen",
      "groups": [{"value": "e9e30dba-f08f-4109-8486-d5c6a331660a", "display": "Tour Guides"}],
      "x509Certificates": [{"value": "MIIDQzCCAqygAwIBAgICEAAwDQYJKoZIhvcNAQEFBQAw"}],
      "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {
        "employeeNumber": "701984", "costCenter": "4130", "organization": "Universal Studios",
        "division": "Theme Park", "department": "Tour Operations",
        "manager": {"value": "26118915-6090-4610-87e4-49d8ca9f808d",
                    "$ref": "../Users/26118915-6090-4610-87e4-49d8ca9f808d", "displayName": "John Smith"}
      },
      "meta": {"resourceType": "User", "created": "2010-01-23T04:56:22Z", "lastModified": "2011-05-13T04:42:34Z",
               "version": "W/\"3694e05e9dff591\"", "location": "https://example.com/v2/Users/2819c223-7f76-453a-919d-413861904646"}
    })
}

#[test]
fn rfc_minimal_user_validates() {
    // RFC 7643 §8.1
    let out = validate(
        "User",
        json!({"schemas": [CORE_USER], "id": "2819c223", "userName": "bjensen@example.com",
        "meta": {"resourceType": "User"}}),
        None,
    )
    .unwrap();
    assert_eq!(
        Value::Object(out),
        json!({"schemas": [CORE_USER], "userName": "bjensen@example.com"})
    );
}

#[test]
fn rfc_full_enterprise_user_validates_and_drops_read_only() {
    let out = validate("User", full_user(), None).unwrap();
    assert!(!out.contains_key("id") && !out.contains_key("meta") && !out.contains_key("groups"));
    assert_eq!(out["schemas"], json!([CORE_USER, ENTERPRISE_USER]));
    let ext = &out[ENTERPRISE_USER];
    assert_eq!(ext["employeeNumber"], "701984");
    // manager.displayName is readOnly: ignored on input.
    assert_eq!(
        ext["manager"],
        json!({"value": "26118915-6090-4610-87e4-49d8ca9f808d",
        "$ref": "../Users/26118915-6090-4610-87e4-49d8ca9f808d"})
    );
    assert_eq!(out["password"], "t1meMa$heen");
    let keys: Vec<&str> = out.keys().map(String::as_str).collect();
    assert_eq!(&keys[..4], &["schemas", "externalId", "userName", "name"]);
    assert_eq!(keys.last(), Some(&ENTERPRISE_USER));
}

#[test]
fn rfc_group_validates() {
    // RFC 7643 §8.4
    let out = validate("Group", json!({
      "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
      "id": "e9e30dba-f08f-4109-8486-d5c6a331660a",
      "displayName": "Tour Guides",
      "members": [
        {"value": "2819c223-7f76-453a-919d-413861904646", "$ref": "https://example.com/v2/Users/2819c223-7f76-453a-919d-413861904646", "display": "Babs Jensen"},
        {"value": "902c246b-6245-4190-8e05-00816be7344a", "$ref": "https://example.com/v2/Users/902c246b-6245-4190-8e05-00816be7344a", "display": "Mandy Pepperidge"}
      ]
    }), None).unwrap();
    assert_eq!(out["members"].as_array().unwrap().len(), 2);
}

#[test]
fn names_are_case_insensitive_and_canonicalized() {
    let out = validate(
        "User",
        json!({"SCHEMAS": [CORE_USER], "USERNAME": "a", "Name": {"GIVENNAME": "B"},
        "urn:ietf:params:scim:schemas:extension:ENTERPRISE:2.0:User": {"EmployeeNumber": "7"}}),
        None,
    )
    .unwrap();
    assert_eq!(
        Value::Object(out),
        json!({"schemas": [CORE_USER, ENTERPRISE_USER], "userName": "a",
        "name": {"givenName": "B"}, ENTERPRISE_USER: {"employeeNumber": "7"}})
    );
}

#[test]
fn qualified_extension_attribute_at_top_level_is_accepted() {
    let key = format!("{ENTERPRISE_USER}:department");
    let out = validate("User", json!({"userName": "a", key: "Sales"}), None).unwrap();
    assert_eq!(out[ENTERPRISE_USER]["department"], "Sales");
}

#[test]
fn type_errors_name_the_attribute() {
    for (input, want) in [
        (
            json!({"userName": 5}),
            "'userName' must be a string, got a number",
        ),
        (
            json!({"userName": "a", "active": "yes"}),
            "'active' must be true or false",
        ),
        (
            json!({"userName": "a", "title": ["x"]}),
            "'title' takes a single value",
        ),
        (
            json!({"userName": "a", "emails": [{"value": 1}]}),
            "'emails.value' must be a string",
        ),
        (
            json!({"userName": "a", "name": "Bob"}),
            "'name' must be an object",
        ),
        (
            json!({"userName": "a", "nope": 1}),
            "unknown attribute 'nope' for User",
        ),
        (
            json!({"userName": "a", "name": {"first": "x"}}),
            "unknown attribute 'name.first'",
        ),
        (
            json!({"userName": "a", "schemas": ["urn:x:unknown"]}),
            "the schema 'urn:x:unknown' is not registered",
        ),
        (
            json!({"userName": "a", "schemas": "urn:x"}),
            "'schemas' must be an array",
        ),
        (
            json!({"userName": "a", "username": "b"}),
            "appears more than once",
        ),
        (
            json!({"userName": "a", ENTERPRISE_USER: "x"}),
            "must be an object of extension attributes",
        ),
        (
            json!({"userName": "a", "emails": [{"value": "x", "primary": true}, {"value": "y", "primary": "True"}]}),
            "at most one value of 'emails'",
        ),
        (
            json!({"displayName": "no username"}),
            "the attribute 'userName' is required",
        ),
        (json!({"userName": null}), "the attribute 'userName' is required"),
        (
            json!({"userName": "a", "emails": [[{"value": "x"}]]}),
            "nested arrays",
        ),
    ] {
        let e = validate("User", input.clone(), None).unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidValue, "{input}");
        assert!(e.detail.contains(want), "{input}: {}", e.detail);
    }
    let e = validate("User", json!([1]), None).unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidSyntax);
}

#[test]
fn lenient_shapes_real_clients_send() {
    let out = validate(
        "User",
        json!({"userName": "a", "active": "False",
        "emails": {"value": "a@example.com", "primary": "true"}, "nickName": null, "phoneNumbers": []}),
        None,
    )
    .unwrap();
    assert_eq!(out["active"], false);
    assert_eq!(
        out["emails"],
        json!([{"value": "a@example.com", "primary": true}])
    );
    assert!(!out.contains_key("nickName") && !out.contains_key("phoneNumbers"));
}

#[test]
fn ignore_option_drops_unknowns() {
    let reg = SchemaRegistry::new();
    let rs = reg.resource("User").unwrap();
    let opts = ValidateOptions {
        unknown: UnknownAttributes::Ignore,
        ..ValidateOptions::default()
    };
    let out = rs
        .validate(
            &json!({"userName": "a", "nope": 1, "schemas": [CORE_USER, "urn:x"]}),
            None,
            opts,
        )
        .unwrap();
    assert!(!out.contains_key("nope"));
}

#[test]
fn replace_carries_read_only_write_only_and_enforces_immutable() {
    let reg = SchemaRegistry::new();
    let user = reg.resource("User").unwrap();
    let existing = json!({"schemas": [CORE_USER], "id": "1", "userName": "a", "password": "secret",
        "groups": [{"value": "g"}], "meta": {"resourceType": "User"}});
    let out = user
        .validate(
            &json!({"userName": "b", "id": "999"}),
            Some(&existing),
            ValidateOptions::default(),
        )
        .unwrap();
    assert_eq!(out["id"], "1");
    assert_eq!(out["password"], "secret");
    assert_eq!(out["groups"], json!([{"value": "g"}]));
    assert_eq!(out.keys().next_back().map(String::as_str), Some("meta"));

    // An extension with an immutable attribute.
    let mut reg = SchemaRegistry::new();
    let ext = crate::schema::Schema::from_json(&json!({"id": "urn:example:ext:1.0:User", "attributes": [
        {"name": "badge", "type": "string", "mutability": "immutable"}]}))
    .unwrap();
    reg.register_extension("User", ext, false).unwrap();
    let user = reg.resource("User").unwrap();
    let existing = json!({"userName": "a", "urn:example:ext:1.0:User": {"badge": "B1"}});
    let e = user
        .validate(
            &json!({"userName": "a", "urn:example:ext:1.0:User": {"badge": "B2"}}),
            Some(&existing),
            ValidateOptions::default(),
        )
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Mutability);
    let kept = user
        .validate(
            &json!({"userName": "a"}),
            Some(&existing),
            ValidateOptions::default(),
        )
        .unwrap();
    assert_eq!(kept["urn:example:ext:1.0:User"]["badge"], "B1");
    let same = user.validate(
        &json!({"userName": "a", "urn:example:ext:1.0:User": {"badge": "B1"}}),
        Some(&existing),
        ValidateOptions::default(),
    );
    assert!(same.is_ok());
}

#[test]
fn required_extension_is_enforced() {
    let mut reg = SchemaRegistry::new();
    let ext = crate::schema::Schema::from_json(&json!({"id": "urn:example:req:1.0:User", "attributes": [
        {"name": "tenant", "type": "string", "required": true}]}))
    .unwrap();
    reg.register_extension("User", ext, true).unwrap();
    let user = reg.resource("User").unwrap();
    let e = user
        .validate(&json!({"userName": "a"}), None, ValidateOptions::default())
        .unwrap_err();
    assert!(
        e.detail
            .contains("extension 'urn:example:req:1.0:User' is required"),
        "{}",
        e.detail
    );
    let e = user
        .validate(
            &json!({"userName": "a", "urn:example:req:1.0:User": {"other": 1}}),
            None,
            ValidateOptions {
                unknown: UnknownAttributes::Ignore,
                ..ValidateOptions::default()
            },
        )
        .unwrap_err();
    assert!(
        e.detail
            .contains("extension 'urn:example:req:1.0:User' is required"),
        "{}",
        e.detail
    );
}

#[test]
fn meta_and_id_are_set_in_canonical_order() {
    let out = validate("User", json!({"userName": "a", "externalId": "x"}), None).unwrap();
    let t = time::macros::datetime!(2011-05-13 04:42:34 UTC);
    let meta = Meta {
        resource_type: "User".into(),
        created: t,
        last_modified: t,
        location: "https://example.com/v2/Users/1".into(),
        version: Meta::weak_etag(3),
    };
    let full = with_id_and_meta(out, "1", &meta);
    let keys: Vec<&str> = full.keys().map(String::as_str).collect();
    assert_eq!(keys, ["schemas", "id", "externalId", "userName", "meta"]);
    assert_eq!(full["meta"]["version"], "W/\"3\"");
    assert_eq!(full["meta"]["created"], "2011-05-13T04:42:34Z");
}

#[test]
fn meta_is_written_in_rfc_order_with_utc_times() {
    let meta = Meta {
        resource_type: "User".into(),
        created: time::macros::datetime!(2026-12-07 08:00:00.25 +09:00),
        last_modified: time::macros::datetime!(2026-12-07 10:30:00 UTC),
        location: "https://roster.example/scim/v2/Users/a\"b".into(),
        version: Meta::weak_etag(3),
    };
    let written = serde_json::to_string(&meta).unwrap();
    assert_eq!(
        written,
        r#"{"resourceType":"User","created":"2026-12-06T23:00:00.25Z","lastModified":"2026-12-07T10:30:00Z","location":"https://roster.example/scim/v2/Users/a\"b","version":"W/\"3\""}"#
    );
    assert_eq!(serde_json::to_string(&meta.to_value()).unwrap(), written);
}
