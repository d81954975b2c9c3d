//! `roster import` on SQLite and PostgreSQL: CSV and JSON, idempotent, bad records reported and skipped.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed unwrap is a failed test

use roster_engine::import::import;
use roster_store::{ListQuery, ResourceKind, Store};
use roster_testkit::on_every_backend;
use serde_json::{Value, json};

async fn users(store: &Store) -> Vec<serde_json::Map<String, Value>> {
    roster_testkit::all(store, ResourceKind::User)
        .await
        .into_iter()
        .map(|r| r.data)
        .collect()
}

const CSV: &str = "userName,externalId,name.givenName,name.familyName,emails[type eq \"work\"].value,active,urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department,groups
ann@example.com,E1,Ann,Lee,ann@example.com,true,/Sales/EMEA,Sales;All
ben@example.com,E2,Ben,Ito,ben@example.com,TRUE,/Eng,All
bad-row-with-too-few-fields,E3
cy@example.com,E4,Cy,Ng,cy@example.com,maybe,/Eng,
";

#[tokio::test]
async fn csv_imports_are_idempotent_and_report_bad_rows_by_line() {
    on_every_backend!(|store, backend| {
        let r = import(store, "hr.csv", CSV).await.unwrap();
        assert_eq!(
            (r.created, r.updated, r.unchanged, r.memberships),
            (2, 0, 0, 3),
            "{backend}: {r:?}"
        );
        assert_eq!(r.skipped.len(), 2, "{:?}", r.skipped);
        assert_eq!(r.skipped[0].0, "line 4");
        assert!(
            r.skipped[0].1.contains("2 fields, but the header has 8"),
            "{:?}",
            r.skipped
        );
        assert_eq!(r.skipped[1].0, "line 5");
        assert!(
            r.skipped[1].1.contains("active"),
            "the bad value is named: {:?}",
            r.skipped
        );
        let all = users(store).await;
        let ann = all.iter().find(|u| u["userName"] == "ann@example.com").unwrap();
        assert_eq!(
            ann["emails"],
            json!([{"type": "work", "value": "ann@example.com"}])
        );
        assert_eq!(ann["active"], true);
        assert_eq!(
            ann["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]["department"],
            "/Sales/EMEA"
        );
        assert_eq!(ann["groups"].as_array().unwrap().len(), 2);
        let head = store.journal_head().await.unwrap();

        // The same file again changes nothing, not even the journal.
        let again = import(store, "hr.csv", CSV).await.unwrap();
        assert_eq!(
            (again.created, again.updated, again.unchanged, again.memberships),
            (0, 0, 2, 0)
        );
        assert_eq!(store.journal_head().await.unwrap(), head);

        // A renamed user is found by externalId and updated, not duplicated.
        let renamed = CSV.replace("ann@example.com,E1,Ann", "ann.lee@example.com,E1,Ann");
        let r = import(store, "hr.csv", &renamed).await.unwrap();
        assert_eq!((r.created, r.updated), (0, 1));
        assert_eq!(users(store).await.len(), 2);
    });
}

#[tokio::test]
async fn json_imports_users_and_groups_with_members_by_user_name() {
    on_every_backend!(|store, backend| {
        let file = json!({
            "Users": [
                {"userName": "dee", "displayName": "Dee"},
                {"userName": "eve"},
                {"userName": 42}
            ],
            "Groups": [
                {"displayName": "Ops", "members": [{"value": "dee"}, {"value": "eve"}]},
                {"displayName": "Ghosts", "members": [{"value": "nobody"}]}
            ]
        });
        let r = import(store, "dir.json", &file.to_string()).await.unwrap();
        assert_eq!(r.created, 3, "{backend}: {r:?}");
        assert_eq!(
            r.skipped.iter().map(|s| s.0.as_str()).collect::<Vec<_>>(),
            ["item 3", "item 5"]
        );
        assert!(r.skipped[1].1.contains("'nobody'"), "{:?}", r.skipped);
        let q = ListQuery {
            limit: 10,
            ..ListQuery::default()
        };
        let groups = store
            .list_resources(ResourceKind::Group, &q)
            .await
            .unwrap()
            .resources;
        assert_eq!(groups.len(), 1);
        assert_eq!(groups[0].data["members"].as_array().unwrap().len(), 2);
        let bad = import(store, "dir.json", "{not json").await.unwrap();
        assert!(bad.skipped[0].1.contains("not valid JSON"), "{:?}", bad.skipped);
        let again = import(store, "dir.json", &file.to_string()).await.unwrap();
        assert_eq!((again.created, again.unchanged), (0, 3));
    });
}
