//! `roster import` on SQLite and PostgreSQL: CSV and JSON, idempotent, bad records reported and skipped, broken
//! files (quotes, field counts, duplicate keys) refused whole, dry runs that write nothing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed unwrap is a failed test

use roster_store::import::import;
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
        assert_eq!(r.skipped.len(), 1, "{:?}", r.skipped);
        assert_eq!(r.skipped[0].0, "line 4");
        assert!(
            r.skipped[0].1.contains("active"),
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
/// matches an existing user updates it, bad rows are reported by line in order.
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
                40 => "bad@example.com,B1,Bad,maybe\n".to_owned(),
                700 => "late@example.com,L1,Late,maybe\n".to_owned(),
                _ => format!("user{i}@example.com,U{i},G{i},true\n"),
            });
        }
        let r = import(store, "hr.csv", &csv).await.unwrap();
        assert_eq!(
            (r.created, r.updated, r.unchanged),
            (1097, 1, 0),
            "{backend}: {:?}",
            r.skipped
        );
        let lines: Vec<&str> = r.skipped.iter().map(|(at, _)| at.as_str()).collect();
        assert_eq!(lines, ["line 42", "line 702"], "{backend}");
        let all = users(store).await;
        assert_eq!(all.len(), 1098, "{backend}");
        let find = |name: &str| {
            all.iter()
                .find(|u| u["userName"].as_str().unwrap().eq_ignore_ascii_case(name))
                .unwrap()
        };
        assert_eq!(find("old@example.com")["name"]["givenName"], "Changed");
        let again = import(store, "hr.csv", &csv).await.unwrap();
        assert_eq!((again.created, again.updated, again.unchanged), (0, 0, 1098));
    });
}

/// A file that is not what it seems writes nothing: an unclosed quote that would swallow the rows after it,
/// a row with the wrong number of fields, one user twice (userName without case, or externalId). Each is named by
/// its line.
#[tokio::test]
async fn broken_files_write_nothing_and_name_their_lines() {
    on_every_backend!(|store, backend| {
        let head = store.journal_head().await.unwrap();
        let cases: [(&str, &str, &str); 4] = [
            (
                "userName,name.givenName,name.familyName\nann@example.com,\"Ann,Lee\nbob@example.com,Bob,Ito\ncy@example.com,Cy,\"Ng\"\n",
                "line 2",
                "runs over",
            ),
            (
                "userName,name.givenName,name.familyName\nann@example.com,Ann,Lee\nbob@example.com,Bob\n",
                "line 3",
                "2 fields, but the header has 3",
            ),
            (
                "userName,name.givenName\nmo@example.com,Mo\nann@example.com,Ann\nMO@example.com,Mo\n",
                "line 4",
                "userName 'MO@example.com' is already in line 2 (compared without case)",
            ),
            (
                "userName,externalId\nann@example.com,E1\nbob@example.com,E1\n",
                "line 3",
                "externalId 'E1' is already in line 2",
            ),
        ];
        for (csv, line, why) in cases {
            let r = import(store, "hr.csv", csv).await.unwrap();
            assert_eq!((r.created, r.updated), (0, 0), "{backend}: {csv}");
            assert!(
                r.errors.iter().any(|(at, w)| at == line && w.contains(why)),
                "{backend}: {csv}: {:?}",
                r.errors
            );
        }
        assert!(users(store).await.is_empty());
        assert_eq!(store.journal_head().await.unwrap(), head, "nothing was written");
        // JSON too.
        let json = r#"[{"userName": "x@example.com"}, {"userName": "X@example.com"}]"#;
        let r = import(store, "people.json", json).await.unwrap();
        assert_eq!(r.errors.len(), 1, "{:?}", r.errors);
        assert!(users(store).await.is_empty());
    });
}

/// A dry run reads and compares, writes nothing, and says what would change.
#[tokio::test]
async fn a_dry_run_plans_without_writing() {
    on_every_backend!(|store, backend| {
        import(store, "hr.csv", CSV).await.unwrap();
        let head = store.journal_head().await.unwrap();
        let changed = CSV
            .replace("ben@example.com,E2,Ben", "ben@example.com,E2,Benjamin")
            .replace(
                "cy@example.com,E4,Cy,Ng,cy@example.com,maybe",
                "cy@example.com,E4,Cy,Ng,cy@example.com,true",
            )
            + "dan@example.com,E5,Dan,Oz,dan@example.com,true,/Eng,New Team\n";
        let opts = roster_store::import::ImportOptions { dry_run: true };
        let r = roster_store::import::import_with(store, "hr.csv", &changed, opts)
            .await
            .unwrap();
        assert_eq!((r.created, r.updated, r.unchanged), (2, 1, 1), "{backend}: {r:?}");
        assert_eq!(
            r.plan,
            [
                "update line 3: User ben@example.com",
                "create line 4: User cy@example.com",
                "create line 5: User dan@example.com"
            ],
            "{backend}"
        );
        assert_eq!(r.memberships, 1, "{backend}: dan joins New Team");
        assert_eq!(store.journal_head().await.unwrap(), head, "nothing was written");
        assert_eq!(users(store).await.len(), 2);
    });
}

/// Groups an import creates are complete SCIM resources, like those a client POSTs.
#[tokio::test]
async fn groups_an_import_creates_carry_their_schemas() {
    on_every_backend!(|store, _backend| {
        import(store, "hr.csv", CSV).await.unwrap();
        let groups = roster_testkit::all(store, ResourceKind::Group).await;
        assert_eq!(groups.len(), 2);
        for g in groups {
            assert_eq!(
                g.data["schemas"],
                json!(["urn:ietf:params:scim:schemas:core:2.0:Group"]),
                "{:?}",
                g.data
            );
        }
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

/// A bulk import on PostgreSQL leaves the directory's tables analysed (the planner's statistics fit their new
/// sizes whether or not autovacuum runs); a small one does not pay for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bulk_import_brings_the_planner_statistics_up_to_date() {
    use std::io::Write;
    let Some((url, schema)) = roster_testkit::pg_schema_url().await else {
        return;
    };
    let store = Store::connect(&url).await.unwrap();
    let analysed = || async {
        let n: i64 = sqlx::query_scalar(
            "SELECT COALESCE(analyze_count, 0) FROM pg_stat_user_tables \
             WHERE schemaname = current_schema() AND relname = 'resources'",
        )
        .fetch_one(&sqlx::PgPool::connect(&url).await.unwrap())
        .await
        .unwrap();
        n
    };
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, n: usize| {
        let path = dir.path().join(format!("{name}.csv"));
        let mut f = std::fs::File::create(&path).unwrap();
        writeln!(f, "userName,externalId").unwrap();
        for i in 0..n {
            writeln!(f, "{name}{i}@example.com,{name}{i}").unwrap();
        }
        path
    };
    let before = analysed().await;
    let small = write("small", 10);
    roster_store::import::import_file(&store, &small, Default::default(), &mut |_| {})
        .await
        .unwrap();
    assert_eq!(analysed().await, before, "ten users are no bulk load");
    let bulk = write("bulk", 1_000);
    let r = roster_store::import::import_file(&store, &bulk, Default::default(), &mut |_| {})
        .await
        .unwrap();
    assert_eq!(r.created, 1_000);
    assert!(
        analysed().await > before,
        "a bulk load analyses the directory's tables"
    );
    // A load that grows the tables many times over is analysed on the way, as they double, not only at its end.
    let before = analysed().await;
    let growing = write("growing", 5_000);
    roster_store::import::import_file(&store, &growing, Default::default(), &mut |_| {})
        .await
        .unwrap();
    let times = analysed().await - before;
    assert!(
        (3..=5).contains(&times),
        "analysed {times} times while 1,010 users grew to 6,010"
    );
    store.close().await;
    roster_testkit::drop_schema(&schema).await;
}

/// Where autovacuum is off (as on this project's CI), `roster serve` does its work for the directory: a table is
/// analysed once it has changed by more than autovacuum would allow, and not before; the trigram indexes'
/// pending lists are merged.
#[tokio::test]
async fn the_directory_is_analysed_as_it_grows_where_autovacuum_is_off() {
    use roster_store::statistics::Maintenance;
    let Some((url, schema)) = roster_testkit::pg_schema_url().await else {
        return;
    };
    let store = Store::connect(&url).await.unwrap();
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    let analysed_rows = || async {
        let n: f32 = sqlx::query_scalar("SELECT reltuples FROM pg_class WHERE oid = 'resources'::regclass")
            .fetch_one(&pool)
            .await
            .unwrap();
        n
    };
    assert_eq!(
        store.maintain().await.unwrap(),
        Maintenance::default(),
        "an empty directory needs nothing"
    );
    assert!(analysed_rows().await < 0.0, "never analysed");
    let csv = |prefix: &str| {
        std::iter::once("userName,groups".to_owned())
            .chain((0..120).map(|i| format!("{prefix}{i}@example.com,All")))
            .collect::<Vec<_>>()
            .join("\n")
    };
    import(&store, "hr.csv", &csv("u")).await.unwrap();
    let done = store.maintain().await.unwrap();
    assert!(
        done.analysed.contains(&"resources"),
        "121 resources where none were analysed: {done:?}"
    );
    assert!(
        done.merged_pages > 0,
        "the new user names' trigrams were pending: {done:?}"
    );
    assert_eq!(analysed_rows().await, 121.0, "the users and the group");
    assert_eq!(store.maintain().await.unwrap().merged_pages, 0, "merged once");
    // Another process that maintains at the same moment leaves it to the one that holds the lock.
    let mut holder = pool.begin().await.unwrap();
    sqlx::query("SELECT pg_advisory_xact_lock(x'726f73746572414e'::bigint)")
        .execute(&mut *holder)
        .await
        .unwrap();
    import(&store, "more.csv", &csv("v")).await.unwrap();
    assert_eq!(store.maintain().await.unwrap(), Maintenance::default());
    holder.rollback().await.unwrap();
    let done = store.maintain().await.unwrap();
    assert!(
        done.analysed.contains(&"resources") && done.merged_pages > 0,
        "{done:?}"
    );
    assert_eq!(analysed_rows().await, 241.0);
    pool.close().await;
    store.close().await;
    roster_testkit::drop_schema(&schema).await;
}

#[tokio::test]
async fn sqlite_keeps_no_statistics() {
    on_every_backend!(|store, backend| {
        if backend == "sqlite" {
            import(store, "hr.csv", "userName\na@example.com").await.unwrap();
            assert!(!store.keeps_own_statistics().await.unwrap());
            assert!(store.maintain().await.unwrap().is_empty());
        }
    });
}
