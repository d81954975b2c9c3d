use super::*;
use crate::ErrorKind;
use crate::schema::{CORE_GROUP, CORE_USER, ENTERPRISE_USER, SchemaRegistry};
use serde_json::json;

const BABS: &str = "2819c223-7f76-453a-919d-413861904646";
const MANDY: &str = "902c246b-6245-4190-8e05-00816be7344a";

fn run(rt: &str, resource: Value, ops: Value) -> Result<Value, ScimError> {
    let reg = SchemaRegistry::new();
    let rs = reg.resource(rt).unwrap();
    let req = PatchRequest::from_json(&json!({"schemas": [PATCH_OP_SCHEMA], "Operations": ops}))?;
    rs.apply_patch(&resource, &req).map(|o| o.resource)
}

fn group() -> Value {
    json!({"schemas": [CORE_GROUP], "id": "e9e30dba", "displayName": "Tour Guides", "members": [
        {"value": BABS, "display": "Babs Jensen"}, {"value": MANDY, "display": "Mandy Pepperidge"}],
        "meta": {"resourceType": "Group", "version": "W/\"1\""}})
}

fn user() -> Value {
    json!({"schemas": [CORE_USER], "id": BABS, "userName": "bjensen", "name": {"givenName": "Barbara", "familyName": "Jensen"},
        "emails": [{"value": "bjensen@example.com", "type": "work", "primary": true}, {"value": "babs@jensen.org", "type": "home"}],
        "addresses": [{"type": "work", "streetAddress": "100 Universal City Plaza", "locality": "Hollywood", "primary": true},
                      {"type": "home", "streetAddress": "456 Hollywood Blvd", "locality": "Hollywood"}],
        "active": true,
        "meta": {"resourceType": "User", "version": "W/\"1\""}})
}

fn members(v: &Value) -> Vec<&str> {
    v["members"]
        .as_array()
        .map(|a| a.iter().map(|m| m["value"].as_str().unwrap()).collect())
        .unwrap_or_default()
}

// RFC 7644 §3.5.2.1: add a member.
#[test]
fn rfc_add_member() {
    let out = run(
        "Group",
        group(),
        json!([{"op": "add", "path": "members",
        "value": [{"display": "Jim", "$ref": "https://example.com/v2/Users/abc", "value": "abc"}]}]),
    )
    .unwrap();
    assert_eq!(members(&out), [BABS, MANDY, "abc"]);
    assert_eq!(out["id"], "e9e30dba");
    assert_eq!(out["meta"]["version"], "W/\"1\"");
}

#[test]
fn adding_an_existing_member_does_not_duplicate_it() {
    let out = run(
        "Group",
        group(),
        json!([{"op": "Add", "path": "members", "value": [{"value": BABS}]}]),
    )
    .unwrap();
    assert_eq!(members(&out), [BABS, MANDY]);
}

// RFC 7644 §3.5.2.1: add without a path.
#[test]
fn rfc_add_without_path() {
    let out = run("User", user(), json!([{"op": "add", "value": {
        "emails": [{"value": "babs@jensen.org", "type": "home"}, {"value": "b2@example.com", "type": "other"}],
        "nickname": "Babs"}}])).unwrap();
    assert_eq!(out["nickName"], "Babs");
    assert_eq!(out["emails"].as_array().unwrap().len(), 3, "{}", out["emails"]);
}

// RFC 7644 §3.5.2.2: remove all members, one member, a filtered value, then remove-and-add.
#[test]
fn rfc_removes() {
    let out = run("Group", group(), json!([{"op": "remove", "path": "members"}])).unwrap();
    assert!(out.get("members").is_none());
    let out = run(
        "Group",
        group(),
        json!([{"op": "remove", "path": format!("members[value eq \"{BABS}\"]")}]),
    )
    .unwrap();
    assert_eq!(members(&out), [MANDY]);
    let out = run(
        "User",
        user(),
        json!([{"op": "remove", "path": "emails[type eq \"work\" and value ew \"example.com\"]"}]),
    )
    .unwrap();
    assert_eq!(
        out["emails"],
        json!([{"value": "babs@jensen.org", "type": "home"}])
    );
    let out = run(
        "Group",
        group(),
        json!([
        {"op": "remove", "path": format!("members[value eq \"{BABS}\"]")},
        {"op": "add", "path": "members", "value": [{"value": "new1"}, {"value": "new2"}]}]),
    )
    .unwrap();
    assert_eq!(members(&out), [MANDY, "new1", "new2"]);
}

// RFC 7644 §3.5.2.3: replace members, a filtered address, a filtered sub-attribute, and without a path.
#[test]
fn rfc_replaces() {
    let out = run(
        "Group",
        group(),
        json!([{"op": "replace", "path": "members", "value": [{"value": "x"}]}]),
    )
    .unwrap();
    assert_eq!(members(&out), ["x"]);
    let out = run("User", user(), json!([{"op": "replace", "path": "addresses[type eq \"work\"]", "value":
        {"type": "work", "streetAddress": "911 Universal City Plaza", "locality": "Hollywood", "primary": true}}])).unwrap();
    assert_eq!(out["addresses"][0]["streetAddress"], "911 Universal City Plaza");
    assert_eq!(out["addresses"][1]["streetAddress"], "456 Hollywood Blvd");
    let out = run(
        "User",
        user(),
        json!([{"op": "replace", "path": "addresses[type eq \"work\"].streetAddress",
        "value": "1010 Broadway Ave"}]),
    )
    .unwrap();
    assert_eq!(out["addresses"][0]["streetAddress"], "1010 Broadway Ave");
    assert_eq!(out["addresses"][0]["locality"], "Hollywood");
    let out = run(
        "User",
        user(),
        json!([{"op": "replace", "value": {
        "emails": [{"value": "bjensen@example.com", "type": "work", "primary": true}], "nickname": "Babs"}}]),
    )
    .unwrap();
    assert_eq!(out["emails"].as_array().unwrap().len(), 1);
    assert_eq!(out["nickName"], "Babs");
}

#[test]
fn replace_of_complex_single_value_keeps_unspecified_sub_attributes() {
    let out = run(
        "User",
        user(),
        json!([{"op": "replace", "path": "name", "value": {"givenName": "Babs"}}]),
    )
    .unwrap();
    assert_eq!(out["name"], json!({"familyName": "Jensen", "givenName": "Babs"}));
    let out = run(
        "User",
        user(),
        json!([{"op": "replace", "path": "name.familyName", "value": "J"}]),
    )
    .unwrap();
    assert_eq!(out["name"]["familyName"], "J");
    let out = run(
        "User",
        user(),
        json!([{"op": "remove", "path": "name.familyName"}, {"op": "remove", "path": "name.givenName"}]),
    )
    .unwrap();
    assert!(out.get("name").is_none());
}

/// What Microsoft Entra ID sends.
#[test]
fn entra_id_shapes() {
    let out = run(
        "User",
        user(),
        json!([
            {"op": "Replace", "path": "active", "value": "False"},
            {"op": "Add", "path": "emails[type eq \"work\"].value", "value": "babs@contoso.com"},
            {"op": "Add", "path": "phoneNumbers[type eq \"mobile\"].value", "value": "+1 555 0100"},
            {"op": "Add", "path": format!("{ENTERPRISE_USER}:manager"), "value": MANDY},
            {"op": "Replace", "value": {"displayName": "Babs", "name.givenName": "Babs",
                "addresses[type eq \"work\"].locality": "Burbank",
                format!("{ENTERPRISE_USER}:department"): "Tours"}},
        ]),
    )
    .unwrap();
    assert_eq!(out["active"], false);
    assert_eq!(
        out["emails"][0],
        json!({"value": "babs@contoso.com", "type": "work", "primary": true})
    );
    assert_eq!(
        out["phoneNumbers"],
        json!([{"value": "+1 555 0100", "type": "mobile"}])
    );
    assert_eq!(
        out[ENTERPRISE_USER],
        json!({"department": "Tours", "manager": {"value": MANDY}})
    );
    assert_eq!(out["name"]["givenName"], "Babs");
    assert_eq!(out["addresses"][0]["locality"], "Burbank");
    assert_eq!(out["schemas"], json!([CORE_USER, ENTERPRISE_USER]));

    let out = run(
        "Group",
        group(),
        json!([{"op": "Remove", "path": "members", "value": [{"value": BABS}, {"value": "not-a-member"}]}]),
    )
    .unwrap();
    assert_eq!(members(&out), [MANDY]);
    let out = run(
        "User",
        out_with_manager(),
        json!([{"op": "Remove", "path": format!("{ENTERPRISE_USER}:manager")}]),
    )
    .unwrap();
    assert!(out.get(ENTERPRISE_USER).is_none(), "{out}");
    assert_eq!(out["schemas"], json!([CORE_USER]));
}

fn out_with_manager() -> Value {
    let mut u = user();
    u[ENTERPRISE_USER] = json!({"manager": {"value": MANDY}});
    u
}

/// What Okta sends: replace without a path carrying the id back, and PUT-like whole values.
#[test]
fn okta_shapes() {
    let out = run(
        "User",
        user(),
        json!([{"op": "replace", "value": {"id": BABS, "active": false}}]),
    )
    .unwrap();
    assert_eq!(out["active"], false);
    let e = run(
        "User",
        user(),
        json!([{"op": "replace", "value": {"id": "other"}}]),
    )
    .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Mutability);
}

#[test]
fn primary_moves_to_the_new_value() {
    let out = run("User", user(), json!([{"op": "add", "path": "emails", "value": [{"value": "n@example.com", "type": "other", "primary": true}]}])).unwrap();
    let prim: Vec<bool> = out["emails"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["primary"] == true)
        .collect();
    assert_eq!(prim, [false, false, true]);
    let out = run(
        "User",
        user(),
        json!([{"op": "replace", "path": "emails[type eq \"home\"].primary", "value": true}]),
    )
    .unwrap();
    assert_eq!(out["emails"][0]["primary"], false);
    assert_eq!(out["emails"][1]["primary"], true);
}

/// Found by scim2-tester: a whole extension object may carry its own `schemas` key.
#[test]
fn extension_object_with_schemas_key() {
    let out = run(
        "User",
        user(),
        json!([{"op": "add", "path": ENTERPRISE_USER,
        "value": {"schemas": [ENTERPRISE_USER], "department": "Tours"}}]),
    )
    .unwrap();
    assert_eq!(out[ENTERPRISE_USER], json!({"department": "Tours"}));
}

#[test]
fn extension_whole_object_paths() {
    let out = run("User", user(), json!([{"op": "add", "path": ENTERPRISE_USER, "value": {"costCenter": "42", "manager": {"value": "m"}}}])).unwrap();
    assert_eq!(out[ENTERPRISE_USER]["costCenter"], "42");
    let out = run(
        "User",
        out,
        json!([{"op": "add", "value": {ENTERPRISE_USER: {"division": "d"}}}]),
    )
    .unwrap();
    assert_eq!(
        out[ENTERPRISE_USER],
        json!({"costCenter": "42", "division": "d", "manager": {"value": "m"}})
    );
    let out = run("User", out, json!([{"op": "remove", "path": ENTERPRISE_USER}])).unwrap();
    assert!(out.get(ENTERPRISE_USER).is_none());
}

#[test]
fn errors_have_the_rfc_scim_types() {
    let cases = [
        (
            "User",
            json!([{"op": "remove", "path": "emails[type eq \"pager\"]"}]),
            ErrorKind::NoTarget,
            "no value of 'emails' matches",
        ),
        (
            "User",
            json!([{"op": "replace", "path": "emails[type eq \"pager\"]", "value": {"value": "x"}}]),
            ErrorKind::NoTarget,
            "matches",
        ),
        (
            "User",
            json!([{"op": "add", "path": "emails[value co \"zzz\"].type", "value": "work"}]),
            ErrorKind::NoTarget,
            "not a simple equality",
        ),
        (
            "User",
            json!([{"op": "add", "path": "nope", "value": 1}]),
            ErrorKind::InvalidPath,
            "'nope' is not an attribute of User",
        ),
        (
            "User",
            json!([{"op": "add", "path": "name.nope", "value": 1}]),
            ErrorKind::InvalidPath,
            "no sub-attribute 'nope'",
        ),
        (
            "User",
            json!([{"op": "add", "path": "emails[", "value": 1}]),
            ErrorKind::InvalidPath,
            "without a matching ']'",
        ),
        (
            "User",
            json!([{"op": "replace", "path": "id", "value": "x"}]),
            ErrorKind::Mutability,
            "'id' is read-only",
        ),
        (
            "User",
            json!([{"op": "add", "path": "groups", "value": [{"value": "g"}]}]),
            ErrorKind::Mutability,
            "read-only",
        ),
        (
            "User",
            json!([{"op": "remove", "path": "userName"}]),
            ErrorKind::Mutability,
            "required",
        ),
        (
            "User",
            json!([{"op": "replace", "path": "userName", "value": null}]),
            ErrorKind::Mutability,
            "required",
        ),
        (
            "User",
            json!([{"op": "replace", "path": "active", "value": "maybe"}]),
            ErrorKind::InvalidValue,
            "'active' must be true or false",
        ),
        (
            "User",
            json!([{"op": "add", "path": "emails", "value": [{"value": "a", "primary": true}, {"value": "b", "primary": true}]}]),
            ErrorKind::InvalidValue,
            "primary",
        ),
        (
            "Group",
            json!([{"op": "replace", "path": format!("members[value eq \"{BABS}\"].value"), "value": "z"}]),
            ErrorKind::Mutability,
            "immutable",
        ),
    ];
    for (rt, ops, kind, want) in cases {
        let base = if rt == "User" { user() } else { group() };
        let e = run(rt, base, ops.clone()).unwrap_err();
        assert_eq!(e.kind, kind, "{ops}: {e}");
        assert!(e.detail.contains(want), "{ops}: {}", e.detail);
    }
}

#[test]
fn message_parsing_errors() {
    for (body, kind, want) in [
        (json!([]), ErrorKind::InvalidSyntax, "JSON object"),
        (
            json!({"schemas": ["urn:x"], "Operations": [{"op": "add", "value": {}}]}),
            ErrorKind::InvalidSyntax,
            "must declare",
        ),
        (
            json!({"schemas": [PATCH_OP_SCHEMA]}),
            ErrorKind::InvalidSyntax,
            "needs an \"Operations\" array",
        ),
        (json!({"Operations": []}), ErrorKind::InvalidSyntax, "empty"),
        (
            json!({"Operations": [{"op": "move", "path": "a"}]}),
            ErrorKind::InvalidSyntax,
            "must be add, remove or replace",
        ),
        (
            json!({"Operations": [{"op": "remove"}]}),
            ErrorKind::NoTarget,
            "remove needs a \"path\"",
        ),
        (
            json!({"Operations": [{"op": "add", "path": "title"}]}),
            ErrorKind::InvalidValue,
            "add needs a \"value\"",
        ),
        (
            json!({"Operations": [{"op": "add", "value": "x"}]}),
            ErrorKind::InvalidValue,
            "must be an object",
        ),
        (
            json!({"Operations": [{"op": "add", "path": 5, "value": "x"}]}),
            ErrorKind::InvalidPath,
            "must be a string",
        ),
    ] {
        let e = PatchRequest::from_json(&body).unwrap_err();
        assert_eq!(e.kind, kind, "{body}");
        assert!(e.detail.contains(want), "{body}: {}", e.detail);
    }
    // Case-insensitive keys and ops.
    let req =
        PatchRequest::from_json(&json!({"operations": [{"OP": "REPLACE", "Path": "title", "Value": "x"}]}))
            .unwrap();
    assert_eq!(req.operations[0].op, PatchOp::Replace);
    assert_eq!(PatchRequest::from_json(&req.to_json()).unwrap(), req);
}

#[test]
fn failed_patch_is_atomic_and_no_op_is_reported() {
    let reg = SchemaRegistry::new();
    let rs = reg.resource("User").unwrap();
    let u = rs
        .validate(&user(), None, Default::default())
        .map(Value::Object)
        .unwrap();
    let req = PatchRequest::from_json(&json!({"Operations": [
        {"op": "replace", "path": "title", "value": "Boss"},
        {"op": "remove", "path": "emails[type eq \"fax\"]"}]}))
    .unwrap();
    assert!(rs.apply_patch(&u, &req).is_err());
    let noop = PatchRequest::from_json(
        &json!({"Operations": [{"op": "replace", "path": "userName", "value": "bjensen"}]}),
    )
    .unwrap();
    assert!(!rs.apply_patch(&u, &noop).unwrap().changed);
    let change = PatchRequest::from_json(
        &json!({"Operations": [{"op": "replace", "path": "title", "value": "Boss"}]}),
    )
    .unwrap();
    assert!(rs.apply_patch(&u, &change).unwrap().changed);
}

#[test]
fn password_can_be_removed_by_patch() {
    let mut u = user();
    u["password"] = json!("secret");
    let out = run("User", u, json!([{"op": "remove", "path": "password"}])).unwrap();
    assert!(out.get("password").is_none());
}

/// A mixed PATCH on a large group (other attributes beside member changes, so the whole group is merged in
/// memory): adding and removing tens of thousands of members to a group of a hundred thousand keeps each
/// member once, in order, and takes what a filter names; values are matched by their key, so this is linear
/// work (comparing each new member with each stored one was 10^10 comparisons here).
#[test]
fn large_member_lists_merge_by_key() {
    let id = |i: usize| format!("m-{i:06}");
    let mut g = group();
    g["members"] = Value::Array((0..100_000).map(|i| json!({"value": id(i)})).collect());
    let added: Vec<Value> = (50_000..150_000)
        .map(|i| json!({"value": id(i), "display": format!("n{i}")}))
        .collect();
    let removed: Vec<Value> = (0..25_000).map(|i| json!({"value": id(i)})).collect();
    let out = run(
        "Group",
        g,
        json!([
            {"op": "replace", "path": "displayName", "value": "Everyone"},
            {"op": "add", "path": "members", "value": added},
            {"op": "remove", "path": "members", "value": removed},
            {"op": "remove", "path": "members[value sw \"m-14\"]"},
        ]),
    )
    .unwrap();
    let got = members(&out);
    let want: Vec<String> = (25_000..140_000).map(id).collect();
    assert_eq!(got.len(), want.len());
    assert!(got.iter().zip(&want).all(|(g, w)| g == w));
    assert_eq!(out["displayName"], "Everyone");
    // A member already there took the display the PATCH gave; a stored one without a new value kept none.
    assert_eq!(out["members"][50_000 - 25_000]["display"], "n50000");
    assert!(out["members"][0].get("display").is_none());
}
