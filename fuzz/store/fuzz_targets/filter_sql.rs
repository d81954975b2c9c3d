//! Filter→SQL fuzz target: any filter that parses and passes the schema check is answered by the store (on an
//! in-memory SQLite directory of a few users) with a page or a SCIM error, never a database error: what a client
//! sends can never reach the database as a 500.
#![no_main]

use libfuzzer_sys::fuzz_target;
use roster_scim::{SchemaRegistry, filter};
use roster_store::{ListQuery, ResourceKind, Store, StoreError};
use std::sync::OnceLock;

struct Fixture {
    rt: tokio::runtime::Runtime,
    store: Store,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let store = rt.block_on(async {
            let store = Store::connect("sqlite::memory:").await.unwrap();
            for (i, u) in [
                serde_json::json!({"userName": "bjensen", "title": "Guide", "active": true, "name": {"givenName": "Barbara", "familyName": "Jensen"},
                    "emails": [{"value": "b@example.com", "type": "work", "primary": true}], "nickName": "Bä"}),
                serde_json::json!({"userName": "x", "active": false, "emails": [],
                    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "Ops", "employeeNumber": "7"}}),
                serde_json::json!({"userName": "émile", "displayName": "Émile", "phoneNumbers": [{"value": "+1 555", "type": "work"}]}),
            ]
            .into_iter()
            .enumerate()
            {
                let mut data = u.as_object().unwrap().clone();
                data.insert("externalId".into(), format!("e{i}").into());
                store.create_resource(ResourceKind::User, data).await.unwrap();
            }
            store
        });
        Fixture { rt, store }
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(f) = filter::parse(text) else { return };
    let reg = SchemaRegistry::new();
    let users = reg.resource("User").unwrap();
    if f.check(&users).is_err() {
        return;
    }
    let fx = fixture();
    let q = ListQuery { filter: Some(&f), limit: 10, schema: Some(&users), ..ListQuery::default() };
    match fx.rt.block_on(fx.store.list_resources(ResourceKind::User, &q)) {
        Ok(_) | Err(StoreError::Scim(_)) => {}
        Err(e) => panic!("{text:?} reached the database as an error: {e}"),
    }
});
