//! Filter parse and evaluate, PATCH apply and resource validation, in time per operation.
//! Run: `cargo bench -p roster-scim`.
#![allow(clippy::unwrap_used, clippy::expect_used)] // bench setup: a failure aborts the run

use divan::{Bencher, black_box};
use roster_scim::{PatchRequest, SchemaRegistry, ValidateOptions, filter};
use serde_json::{Value, json};

fn main() {
    divan::main();
}

const SIMPLE: &str = r#"userName eq "bjensen@example.com""#;
const COMPLEX: &str = r#"userType eq "Employee" and (emails co "example.com" or emails.value co "example.org") and not (title pr and active eq false)"#;
const VALUE_PATH: &str =
    r#"emails[type eq "work" and value co "@example.com"] or meta.lastModified gt "2011-05-13T04:42:34Z""#;

fn user() -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
        "id": "2819c223-7f76-453a-919d-413861904646", "externalId": "701984", "userName": "bjensen@example.com",
        "name": {"formatted": "Ms. Barbara J Jensen, III", "familyName": "Jensen", "givenName": "Barbara"},
        "displayName": "Babs Jensen", "title": "Tour Guide", "userType": "Employee", "active": true,
        "emails": [{"value": "bjensen@example.com", "type": "work", "primary": true}, {"value": "babs@jensen.org", "type": "home"}],
        "phoneNumbers": [{"value": "555-555-5555", "type": "work"}],
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"employeeNumber": "701984", "department": "Tour Operations"},
        "meta": {"resourceType": "User", "created": "2010-01-23T04:56:22Z", "lastModified": "2011-05-13T04:42:34Z", "version": "W/\"1\""}
    })
}

#[divan::bench(args = [SIMPLE, COMPLEX, VALUE_PATH])]
fn filter_parse(text: &str) -> filter::Filter {
    filter::parse(black_box(text)).unwrap()
}

#[divan::bench(args = [SIMPLE, COMPLEX, VALUE_PATH])]
fn filter_evaluate(bencher: Bencher, text: &str) {
    let reg = SchemaRegistry::new();
    let users = reg.resource("User").unwrap();
    let f = filter::parse(text).unwrap();
    let u = user();
    bencher.bench_local(|| filter::matches(black_box(&f), black_box(&u), Some(&users)));
}

#[divan::bench]
fn patch_apply_entra_user_update(bencher: Bencher) {
    let reg = SchemaRegistry::new();
    let users = reg.resource("User").unwrap();
    let u = Value::Object(users.validate(&user(), None, ValidateOptions::default()).unwrap());
    let req = PatchRequest::from_json(&json!({"Operations": [
        {"op": "Replace", "path": "active", "value": "False"},
        {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "babs@contoso.com"},
        {"op": "Add", "value": {"title": "Guide", "name.givenName": "Babs"}}
    ]}))
    .unwrap();
    bencher.bench_local(|| users.apply_patch(black_box(&u), black_box(&req)).unwrap());
}

#[divan::bench(args = [10, 1000])]
fn patch_apply_add_group_member(bencher: Bencher, members: usize) {
    let reg = SchemaRegistry::new();
    let groups = reg.resource("Group").unwrap();
    let list: Vec<Value> = (0..members)
        .map(|i| json!({"value": format!("member-{i}")}))
        .collect();
    let g = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "id": "g", "displayName": "G", "members": list});
    let req = PatchRequest::from_json(
        &json!({"Operations": [{"op": "add", "path": "members", "value": [{"value": "new"}]}]}),
    )
    .unwrap();
    bencher.bench_local(|| groups.apply_patch(black_box(&g), black_box(&req)).unwrap());
}

#[divan::bench]
fn patch_parse(bencher: Bencher) {
    let body = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [
        {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "x@example.com"},
        {"op": "remove", "path": "members[value eq \"2819c223\"]"}]});
    bencher.bench_local(|| PatchRequest::from_json(black_box(&body)).unwrap());
}

#[divan::bench]
fn validate_full_user(bencher: Bencher) {
    let reg = SchemaRegistry::new();
    let users = reg.resource("User").unwrap();
    let u = user();
    bencher.bench_local(|| {
        users
            .validate(black_box(&u), None, ValidateOptions::default())
            .unwrap()
    });
}
