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

/// Users are imported 500 at a time, yet each row has the result it would have alone, in file order: a row that
/// names a user an earlier row (in its batch or the one before) created updates it, a row that matches an existing
/// user updates it, bad rows are reported by line in order.
#[tokio::test]
async fn large_csv_imports_give_each_row_its_own_result_in_file_order() {
    on_every_backend!(|store, backend| {
        let head = "userName,externalId,name.givenName,active\n";
        let first = import(store, "hr.csv", &format!("{head}old@example.com,X0,Old,true\n"))
            .await
            .unwrap();
        assert_eq!(first.created, 1);
        let mut csv = head.to_owned();
        for i in 0..1100 {
            csv.push_str(&match i {
                10 => "old@example.com,X0,Changed,true\n".to_owned(),
                20 => "dup@example.com,D1,First,true\n".to_owned(),
                30 => "DUP@example.com,D2,Second,true\n".to_owned(),
                40 => "bad@example.com,B1,Bad,maybe\n".to_owned(),
                41 => "short-row\n".to_owned(),
                600 => "USER5@example.com,U5,Again,true\n".to_owned(),
                _ => format!("user{i}@example.com,U{i},G{i},true\n"),
            });
        }
        let r = import(store, "hr.csv", &csv).await.unwrap();
        assert_eq!(
            (r.created, r.updated, r.unchanged),
            (1095, 3, 0),
            "{backend}: {:?}",
            r.skipped
        );
        let lines: Vec<&str> = r.skipped.iter().map(|(at, _)| at.as_str()).collect();
        assert_eq!(lines, ["line 42", "line 43"], "{backend}");
        let all = users(store).await;
        assert_eq!(all.len(), 1096, "{backend}");
        let find = |name: &str| {
            all.iter()
                .find(|u| u["userName"].as_str().unwrap().eq_ignore_ascii_case(name))
                .unwrap()
        };
        assert_eq!(find("old@example.com")["name"]["givenName"], "Changed");
        let dup = find("dup@example.com");
        assert_eq!(
            (&dup["externalId"], &dup["name"]["givenName"]),
            (&json!("D2"), &json!("Second")),
            "{backend}: the second row updated the user the first created"
        );
        assert_eq!(find("user5@example.com")["name"]["givenName"], "Again");

        // Again: the rows that contradict each other (20 and 30, 5 and 600) flip their users once more and
        // back; the rest is unchanged.
        let again = import(store, "hr.csv", &csv).await.unwrap();
        assert_eq!((again.created, again.updated, again.unchanged), (0, 4, 1094));
        assert_eq!(users(store).await.len(), 1096);
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
