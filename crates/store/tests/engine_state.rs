//! The provisioning engine's state in the store, on SQLite and PostgreSQL: apps with versions and credentials,
//! links, the queue's generations and leases, the provisioning log.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed unwrap is a failed test

use roster_scim::ErrorKind;
use roster_store::{Link, LinkState, LogEntry, LogQuery, Outcome, ResourceKind, Secret, StoreError};
use roster_testkit::on_every_backend;
use serde_json::json;

fn scim_kind(e: StoreError) -> ErrorKind {
    match e {
        StoreError::Scim(s) => s.kind,
        other => panic!("expected a SCIM error, got {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apps_are_versioned_and_keep_their_credential_apart() {
    on_every_backend!(|store, backend| {
        let cfg = json!({"scim_url": "https://a.example.com/scim/v2"});
        let app = store
            .create_app("crm", &cfg, Some(&Secret::new("s3cret")))
            .await
            .unwrap();
        assert_eq!(app.version, 1);
        assert_eq!(
            format!("{:?}", app.secret),
            "Some(Sealed(***))",
            "{backend}: Debug never shows it"
        );
        assert_eq!(
            scim_kind(store.create_app("crm", &cfg, None).await.unwrap_err()),
            ErrorKind::Uniqueness
        );
        // An edit keeps the credential unless a new one is given.
        let v2 = store
            .update_app("crm", &json!({"scim_url": "https://b"}), None, 1)
            .await
            .unwrap();
        let opened = store.open_secret(&v2).await.unwrap().unwrap();
        assert_eq!((v2.version, opened.expose()), (2, "s3cret"));
        // An edit made against version 1 is refused: someone else changed the app.
        let e = store.update_app("crm", &cfg, None, 1).await.unwrap_err();
        let text = e.to_string();
        assert_eq!(scim_kind(e), ErrorKind::PreconditionFailed);
        assert!(text.contains("changed by someone else"), "{text}");
        assert_eq!(
            scim_kind(store.update_app("nope", &cfg, None, 1).await.unwrap_err()),
            ErrorKind::NotFound
        );
        // The cursor starts at the end of the journal.
        store
            .create_resource(
                ResourceKind::User,
                json!({"userName": "a"}).as_object().unwrap().clone(),
            )
            .await
            .unwrap();
        store.create_app("later", &cfg, None).await.unwrap();
        assert_eq!(
            store.app_cursor("later").await.unwrap(),
            store.journal_since(0, 10).await.unwrap().last().unwrap().seq
        );
        assert!(store.delete_app("crm").await.unwrap());
        assert!(!store.delete_app("crm").await.unwrap());
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_account_belongs_to_one_identity() {
    on_every_backend!(|store, backend| {
        store.create_app("crm", &json!({}), None).await.unwrap();
        let pushed = json!({"userName": "a"}).as_object().unwrap().clone();
        let link = |source: &str, target: &str| Link {
            app: "crm".into(),
            kind: ResourceKind::User,
            source_id: source.into(),
            target_id: target.into(),
            state: LinkState::Active,
            pushed: pushed.clone(),
            pushed_hash: "h".into(),
            updated: time::OffsetDateTime::now_utc(),
        };
        store.save_link(&link("u1", "t1")).await.unwrap();
        let e = store.save_link(&link("u2", "t1")).await.unwrap_err();
        assert_eq!(scim_kind(e), ErrorKind::Uniqueness, "{backend}");
        let mut disabled = link("u1", "t1");
        disabled.state = LinkState::Disabled;
        store.save_link(&disabled).await.unwrap();
        let found = store
            .find_link_by_target("crm", ResourceKind::User, "t1")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (found.source_id.as_str(), found.state),
            ("u1", LinkState::Disabled)
        );
        assert_eq!(found.pushed, pushed);
        assert_eq!(
            store.count_links("crm", ResourceKind::User).await.unwrap(),
            (0, 1)
        );
        assert!(store.delete_link("crm", ResourceKind::User, "u1").await.unwrap());
        store.save_link(&link("u2", "t1")).await.unwrap();
        // Links by many ids: those linked, of this app and type only, whatever else is asked for.
        store.create_app("hr", &json!({}), None).await.unwrap();
        store.save_link(&link("u3", "t3")).await.unwrap();
        store
            .save_link(&Link {
                app: "hr".into(),
                ..link("u4", "t4")
            })
            .await
            .unwrap();
        let ids: Vec<String> = ["u2", "u3", "u4", "nobody"].map(String::from).to_vec();
        let found = store.find_links("crm", ResourceKind::User, &ids).await.unwrap();
        let mut got: Vec<_> = found
            .iter()
            .map(|(s, l)| (s.as_str(), l.target_id.as_str()))
            .collect();
        got.sort_unstable();
        assert_eq!(got, [("u2", "t1"), ("u3", "t3")], "{backend}");
        let mut targets: Vec<_> = store
            .target_ids("crm", ResourceKind::User, &ids)
            .await
            .unwrap()
            .into_iter()
            .collect();
        targets.sort_unstable();
        assert_eq!(
            targets,
            [("u2".into(), "t1".into()), ("u3".into(), "t3".into())],
            "{backend}"
        );
        assert!(
            store
                .find_links("crm", ResourceKind::Group, &ids)
                .await
                .unwrap()
                .is_empty()
        );
    });
}

/// Enqueues made at once (the engine's workers each queueing a new user's groups) are written together, yet each
/// as it would be alone: every object once per app, due at the earliest of its times; an enqueue the database
/// refuses (an app that does not exist) fails alone and the others are written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enqueues_at_once_are_written_as_their_union() {
    on_every_backend!(|store, backend| {
        store.create_app("crm", &json!({}), None).await.unwrap();
        store.create_app("hr", &json!({}), None).await.unwrap();
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..40_i64 {
            let store = store.clone();
            let app = match i % 5 {
                0 => "gone",
                1 | 2 => "crm",
                _ => "hr",
            };
            tasks.spawn(async move {
                let objects = [
                    (ResourceKind::Group, "all".to_owned()),
                    (ResourceKind::User, format!("u{i:02}")),
                ];
                (app, i, store.enqueue(app, &objects, 1_000 - i).await)
            });
        }
        let mut want: std::collections::BTreeMap<&str, Vec<(String, i64)>> = Default::default();
        for (app, i, result) in tasks.join_all().await {
            if app == "gone" {
                assert!(
                    result.is_err(),
                    "{backend}: an enqueue for an app that does not exist"
                );
                continue;
            }
            result.unwrap_or_else(|e| panic!("{backend}: {app}: {e}"));
            let queued = want.entry(app).or_default();
            queued.push((format!("u{i:02}"), 1_000 - i));
            match queued.iter_mut().find(|(id, _)| id == "all") {
                Some(all) => all.1 = all.1.min(1_000 - i),
                None => queued.push(("all".to_owned(), 1_000 - i)),
            }
        }
        for (app, mut want) in want {
            want.sort();
            let mut got: Vec<(String, i64)> = store
                .list_queue(app, 100)
                .await
                .unwrap()
                .into_iter()
                .map(|r| (r.source_id, r.run_at))
                .collect();
            got.sort();
            assert_eq!(got, want, "{backend}: {app}");
        }
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_queue_keeps_newer_changes_and_respects_leases() {
    on_every_backend!(|store, backend| {
        store.create_app("crm", &json!({}), None).await.unwrap();
        store.create_app("batch", &json!({}), None).await.unwrap();
        let obj = |id: &str| (ResourceKind::User, id.to_owned());
        store.enqueue("crm", &[obj("a"), obj("b")], 100).await.unwrap();
        // A second enqueue of a keeps one row, with a new generation and the earlier due time.
        store.enqueue("crm", &[obj("a")], 500).await.unwrap();
        let rows = store.list_queue("crm", 10).await.unwrap();
        assert_eq!(
            rows.iter()
                .map(|r| (r.source_id.as_str(), r.generation, r.run_at))
                .collect::<Vec<_>>(),
            [("a", 2, 100), ("b", 1, 100)],
            "{backend}"
        );
        // A batch larger than one statement, naming one object twice and some already queued: every object once,
        // the queued ones with a new generation.
        let other = |i: usize| (ResourceKind::User, format!("m{i:04}"));
        let mut batch: Vec<(ResourceKind, String)> = (0..1_200).map(other).collect();
        batch.push(other(7));
        store.enqueue("batch", &batch[..10], 300).await.unwrap();
        store.enqueue("batch", &batch, 200).await.unwrap();
        let queued = store.list_queue("batch", 2_000).await.unwrap();
        assert_eq!(queued.len(), 1_200, "{backend}");
        assert!(
            queued.iter().all(|r| {
                let again = r.source_id.as_str() < "m0010";
                (r.generation, r.run_at) == (if again { 2 } else { 1 }, 200)
            }),
            "{backend}"
        );
        // Nothing is due before its time.
        assert!(
            store
                .lease_queue("crm", "w1", 99, 1000, 10)
                .await
                .unwrap()
                .is_empty()
        );
        let leased = store.lease_queue("crm", "w1", 100, 1000, 1).await.unwrap();
        assert_eq!(leased.len(), 1);
        let a = leased[0].clone();
        // Leased rows are not handed out twice until the lease ends.
        let other = store.lease_queue("crm", "w2", 200, 1000, 10).await.unwrap();
        assert_eq!(
            other.iter().map(|r| r.source_id.as_str()).collect::<Vec<_>>(),
            ["b"]
        );
        // A change arrives while w1 syncs a: finishing the old generation keeps the row for the new one.
        store.enqueue("crm", &[obj("a")], 300).await.unwrap();
        assert!(!store.finish_queue_item(&a, "w1").await.unwrap());
        let again = store.lease_queue("crm", "w1", 300, 1000, 10).await.unwrap();
        assert_eq!(again.len(), 1);
        assert!(store.finish_queue_item(&again[0], "w1").await.unwrap());
        // A failure is counted and scheduled; another holder cannot settle someone else's lease.
        let b = &other[0];
        store
            .retry_queue_item(b, "w1", 5000, "R-X", "nope")
            .await
            .unwrap();
        assert_eq!(
            store.list_queue("crm", 10).await.unwrap()[0].attempts,
            0,
            "not w1's lease"
        );
        store
            .retry_queue_item(b, "w2", 5000, "R-TARGET-UNAVAILABLE", "503")
            .await
            .unwrap();
        let rows = store.list_queue("crm", 10).await.unwrap();
        assert_eq!(
            (rows[0].attempts, rows[0].run_at, rows[0].last_code.as_deref()),
            (1, 5000, Some("R-TARGET-UNAVAILABLE"))
        );
        assert_eq!(store.next_due("crm").await.unwrap(), Some(5000));
        // A busy worker renews its lease; nobody else gets the row meanwhile. An expired lease (the worker
        // died) makes the row available again.
        let l = store.lease_queue("crm", "w3", 5000, 10, 10).await.unwrap();
        assert_eq!(l.len(), 1);
        store.renew_leases("crm", "w3", 9000).await.unwrap();
        assert!(
            store
                .lease_queue("crm", "w4", 5011, 10, 10)
                .await
                .unwrap()
                .is_empty(),
            "{backend}: renewed"
        );
        assert_eq!(
            store.lease_queue("crm", "w4", 9001, 10, 10).await.unwrap().len(),
            1
        );
        // enqueue_and_advance never moves the cursor backwards.
        store.enqueue_and_advance("crm", &[], 7, 0).await.unwrap();
        store.enqueue_and_advance("crm", &[], 3, 0).await.unwrap();
        assert_eq!(store.app_cursor("crm").await.unwrap(), 7);
    });
}

/// Two engines (processes) that read the same journal entries: the first queues their objects and moves the
/// cursor; the second, at the cursor both read, writes nothing (a second queuing would count as a newer change
/// and sync every object again).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_journal_is_queued_once_however_many_follow_it() {
    on_every_backend!(|store, backend| {
        store.create_app("crm", &json!({}), None).await.unwrap();
        let from = store.app_cursor("crm").await.unwrap();
        let objects = [
            (ResourceKind::User, "a".to_owned()),
            (ResourceKind::User, "b".to_owned()),
        ];
        assert!(
            store
                .follow_journal_to("crm", &objects, from, from + 2, 100)
                .await
                .unwrap()
        );
        let generations = |rows: Vec<roster_store::QueueItem>| {
            rows.into_iter()
                .map(|r| (r.source_id, r.generation))
                .collect::<Vec<_>>()
        };
        let queued = generations(store.list_queue("crm", 10).await.unwrap());
        assert_eq!(queued.len(), 2, "{backend}");
        let more = [
            (ResourceKind::User, "a".to_owned()),
            (ResourceKind::User, "c".to_owned()),
        ];
        assert!(
            !store
                .follow_journal_to("crm", &more, from, from + 2, 200)
                .await
                .unwrap(),
            "{backend}: the cursor moved on"
        );
        assert_eq!(
            generations(store.list_queue("crm", 10).await.unwrap()),
            queued,
            "{backend}: nothing written"
        );
        assert_eq!(store.app_cursor("crm").await.unwrap(), from + 2);
        // From where it is now, the next follower goes on; entries that do not move the cursor (a gap) queue.
        assert!(
            store
                .follow_journal_to("crm", &more, from + 2, from + 2, 300)
                .await
                .unwrap()
        );
        assert_eq!(store.list_queue("crm", 10).await.unwrap().len(), 3, "{backend}");
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_log_is_queried_by_app_object_code_and_outcome() {
    on_every_backend!(|store, backend| {
        let entry = |app: &str, obj: &str, outcome: Outcome, code: Option<&str>| LogEntry {
            id: 0,
            at: time::OffsetDateTime::now_utc(),
            app: app.into(),
            kind: ResourceKind::User,
            source_id: obj.into(),
            target_id: None,
            action: "create".into(),
            outcome,
            attempt: 1,
            http_status: code.map(|_| 409),
            code: code.map(str::to_owned),
            message: "m".into(),
            duration_ms: 3,
            exchanges: code.map(|_| r#"[{"request":"POST /Users","status":409}]"#.to_owned()),
        };
        store
            .append_log(&entry("crm", "u1", Outcome::Ok, None))
            .await
            .unwrap();
        store
            .append_log(&entry("crm", "u2", Outcome::Failed, Some("R-TARGET-UNIQUENESS")))
            .await
            .unwrap();
        store
            .append_log(&entry("hr", "u1", Outcome::Ok, None))
            .await
            .unwrap();
        let q = |q: LogQuery<'static>| async move { store.list_log(&q).await.unwrap() };
        assert_eq!(
            q(LogQuery {
                app: Some("crm"),
                limit: 10,
                ..Default::default()
            })
            .await
            .len(),
            2,
            "{backend}"
        );
        let failed = q(LogQuery {
            app: Some("crm"),
            failures_only: true,
            limit: 10,
            ..Default::default()
        })
        .await;
        assert_eq!((failed.len(), failed[0].http_status), (1, Some(409)));
        assert_eq!(
            failed[0].exchanges.as_deref(),
            Some(r#"[{"request":"POST /Users","status":409}]"#),
            "the request summary is kept"
        );
        assert_eq!(
            q(LogQuery {
                code: Some("R-TARGET-UNIQUENESS"),
                limit: 10,
                ..Default::default()
            })
            .await
            .len(),
            1
        );
        assert_eq!(
            q(LogQuery {
                source_id: Some("u1"),
                limit: 10,
                ..Default::default()
            })
            .await
            .len(),
            2
        );
        let newest = q(LogQuery {
            limit: 1,
            ..Default::default()
        })
        .await;
        assert_eq!(newest[0].app, "hr", "newest first");
        let mut old = entry("crm", "u3", Outcome::Ok, None);
        old.at -= time::Duration::days(2);
        store.append_log(&old).await.unwrap();
        let recent = q(LogQuery {
            app: Some("crm"),
            since: Some(time::OffsetDateTime::now_utc() - time::Duration::hours(1)),
            limit: 10,
            ..Default::default()
        })
        .await;
        assert_eq!(recent.len(), 2, "the two-day-old entry is left out");
        assert_eq!(
            store
                .prune_log(time::OffsetDateTime::now_utc() + time::Duration::hours(1))
                .await
                .unwrap(),
            4
        );
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reconcile_leases_objects_whether_queued_or_not() {
    on_every_backend!(|store, backend| {
        store.create_app("crm", &json!({}), None).await.unwrap();
        let obj = |id: &str| (ResourceKind::User, id.to_owned());
        // A worker holds w; a is queued and free.
        store.enqueue("crm", &[obj("w")], 100).await.unwrap();
        assert_eq!(
            store
                .lease_queue("crm", "worker", 100, 1000, 10)
                .await
                .unwrap()
                .len(),
            1
        );
        store.enqueue("crm", &[obj("a")], 100).await.unwrap();
        let held = store
            .lease_objects("crm", "reconcile", &[obj("a"), obj("b"), obj("w")], 200, 1000)
            .await
            .unwrap();
        let mut got: Vec<_> = held
            .iter()
            .map(|i| (i.source_id.as_str(), i.generation))
            .collect();
        got.sort();
        assert_eq!(
            got,
            [("a", 1), ("b", 0)],
            "{backend}: a was queued, b was not, w is the worker's"
        );
        // The reconcile leases its next page (c) before it finishes this one.
        assert_eq!(
            store
                .lease_objects("crm", "reconcile", &[obj("c")], 250, 1000)
                .await
                .unwrap()
                .len(),
            1
        );
        // A change to a arrives during the reconcile; finishing keeps it for a worker.
        store.enqueue("crm", &[obj("a")], 300).await.unwrap();
        store
            .finish_many(
                "crm",
                "reconcile",
                &[
                    (ResourceKind::User, "a".into(), 1),
                    (ResourceKind::User, "b".into(), 0),
                ],
                &[obj("a"), obj("b")],
            )
            .await
            .unwrap();
        let mut left: Vec<_> = store
            .list_queue("crm", 10)
            .await
            .unwrap()
            .into_iter()
            .map(|i| i.source_id)
            .collect();
        left.sort();
        assert_eq!(left, ["a", "c", "w"], "{backend}");
        let free: Vec<_> = store
            .lease_queue("crm", "worker2", 400, 1000, 10)
            .await
            .unwrap()
            .into_iter()
            .map(|i| i.source_id)
            .collect();
        assert_eq!(
            free,
            ["a"],
            "{backend}: a is free again; the next page's c is still the reconcile's"
        );
    });
}

/// Sync records made by concurrent workers are written together, yet each gets the result it would have alone:
/// two objects claiming one account get one success and one `uniqueness` refusal that leaves nothing behind, and
/// every other record (link and log entry) is kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_sync_records_each_get_their_own_result() {
    on_every_backend!(|store, backend| {
        store.create_app("crm", &json!({}), None).await.unwrap();
        let record = |source: String, target: String| {
            let store = store.clone();
            tokio::spawn(async move {
                let link = Link {
                    app: "crm".into(),
                    kind: ResourceKind::User,
                    source_id: source.clone(),
                    target_id: target.clone(),
                    state: LinkState::Active,
                    pushed: json!({"userName": source}).as_object().unwrap().clone(),
                    pushed_hash: "h".into(),
                    updated: time::OffsetDateTime::now_utc(),
                };
                let entry = LogEntry {
                    id: 0,
                    at: time::OffsetDateTime::now_utc(),
                    app: "crm".into(),
                    kind: ResourceKind::User,
                    source_id: source,
                    target_id: Some(target),
                    action: "create".into(),
                    outcome: Outcome::Ok,
                    attempt: 1,
                    http_status: None,
                    code: None,
                    message: "created".into(),
                    duration_ms: 1,
                    exchanges: None,
                };
                store
                    .record_sync(&[roster_store::LinkChange::Save(link)], Some(&entry))
                    .await
            })
        };
        let mut tasks = Vec::new();
        for i in 0..60 {
            tasks.push(record(format!("u{i}"), format!("t{i}")));
        }
        // Two more objects claim one account that nobody else has.
        tasks.push(record("x1".into(), "shared".into()));
        tasks.push(record("x2".into(), "shared".into()));
        let mut refused = Vec::new();
        for (i, t) in tasks.into_iter().enumerate() {
            match t.await.unwrap() {
                Ok(()) => {}
                Err(e) => {
                    assert_eq!(scim_kind(e), ErrorKind::Uniqueness, "{backend}: record {i}");
                    refused.push(i);
                }
            }
        }
        assert_eq!(refused.len(), 1, "{backend}: {refused:?}");
        assert!(
            refused[0] >= 60,
            "{backend}: only a claim of the shared account is refused"
        );
        assert_eq!(
            store.count_links("crm", ResourceKind::User).await.unwrap(),
            (61, 0),
            "{backend}"
        );
        let log = store
            .list_log(&LogQuery {
                app: Some("crm"),
                limit: 1000,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(log.len(), 61, "{backend}: the refused record wrote no log entry");
        let holder = store
            .find_link_by_target("crm", ResourceKind::User, "shared")
            .await
            .unwrap()
            .unwrap();
        let winner = if refused[0] == 60 { "x2" } else { "x1" };
        assert_eq!(holder.source_id, winner, "{backend}");
    });
}

/// A reconcile finds the links whose directory object is gone in one query per page: only those, in id order,
/// paged by the last one returned, and only of the app and type asked for.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn links_without_their_object_are_found_page_by_page() {
    on_every_backend!(|store, backend| {
        store.create_app("crm", &json!({}), None).await.unwrap();
        store.create_app("hr", &json!({}), None).await.unwrap();
        let mut ids = Vec::new();
        for name in ["a", "b", "c", "d"] {
            let data = json!({"userName": name}).as_object().unwrap().clone();
            ids.push(store.create_resource(ResourceKind::User, data).await.unwrap().id);
        }
        let link = |app: &str, source: &str| Link {
            app: app.into(),
            kind: ResourceKind::User,
            source_id: source.into(),
            target_id: format!("t-{source}"),
            state: LinkState::Active,
            pushed: serde_json::Map::new(),
            pushed_hash: "h".into(),
            updated: time::OffsetDateTime::now_utc(),
        };
        for id in &ids {
            store.save_link(&link("crm", id)).await.unwrap();
        }
        store.save_link(&link("hr", &ids[1])).await.unwrap();
        store
            .delete_resource(ResourceKind::User, &ids[1], None)
            .await
            .unwrap();
        store
            .delete_resource(ResourceKind::User, &ids[3], None)
            .await
            .unwrap();
        let mut gone = vec![ids[1].clone(), ids[3].clone()];
        gone.sort();
        let all = store
            .links_without_object("crm", ResourceKind::User, None, 10)
            .await
            .unwrap();
        assert_eq!(all, gone, "{backend}");
        let first = store
            .links_without_object("crm", ResourceKind::User, None, 1)
            .await
            .unwrap();
        let second = store
            .links_without_object("crm", ResourceKind::User, Some(&first[0]), 1)
            .await
            .unwrap();
        assert_eq!([first, second].concat(), gone, "{backend}");
        assert!(
            store
                .links_without_object("crm", ResourceKind::User, Some(&gone[1]), 10)
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            store
                .links_without_object("hr", ResourceKind::User, None, 10)
                .await
                .unwrap(),
            [ids[1].clone()]
        );
        assert!(
            store
                .links_without_object("crm", ResourceKind::Group, None, 10)
                .await
                .unwrap()
                .is_empty()
        );
    });
}

/// A pushed password is kept, sealed, only while an app that sends passwords is still owed it: nothing when no
/// app sends passwords; dropped when the last owed app has it, when an app stops sending passwords or is removed;
/// a newer password stays owed after an older one was delivered; a user's delete takes its claims with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushed_passwords_are_kept_only_while_an_app_is_owed_them() {
    on_every_backend!(|store, backend| {
        let with_password = |name: &str, pw: &str| {
            let mut m = serde_json::Map::new();
            m.insert("userName".into(), json!(name));
            m.insert("password".into(), json!(pw));
            m
        };
        let password_of = |id: String| async move {
            let r = store
                .get_resource(ResourceKind::User, &id)
                .await
                .unwrap()
                .unwrap();
            r.data.get("password").cloned()
        };
        let cfg = json!({"scim_url": "https://a.example.com/scim/v2"});
        let nobody = store
            .create_resource(ResourceKind::User, with_password("nobody", "P-0"))
            .await
            .unwrap();
        assert_eq!(
            password_of(nobody.id.clone()).await,
            None,
            "{backend}: no app sends passwords"
        );
        for app in ["a", "b", "c"] {
            store.create_app(app, &cfg, None).await.unwrap();
        }
        assert!(store.set_sends_password("a", true).await.unwrap(), "{backend}");
        assert!(store.set_sends_password("b", true).await.unwrap(), "{backend}");
        assert!(
            !store.set_sends_password("b", true).await.unwrap(),
            "{backend}: unchanged"
        );
        let ada = store
            .create_resource(ResourceKind::User, with_password("ada", "P-1"))
            .await
            .unwrap();
        let sealed = password_of(ada.id.clone()).await.unwrap();
        assert!(
            sealed.as_str().unwrap().starts_with("sealed:v1:"),
            "{backend}: {sealed}"
        );
        assert_eq!(
            store.owed_password(&ada.id).await.unwrap(),
            ["a", "b"],
            "{backend}"
        );
        store.password_delivered("a", &ada.id, 1).await.unwrap();
        assert!(
            password_of(ada.id.clone()).await.is_some(),
            "{backend}: b is still owed it"
        );
        // A newer password (version 2) is owed afresh; delivering version 1 to b leaves it owed.
        let v2 = store
            .replace_resource(ResourceKind::User, &ada.id, with_password("ada", "P-2"), None)
            .await
            .unwrap();
        assert_eq!(
            store.owed_password(&ada.id).await.unwrap(),
            ["a", "b"],
            "{backend}"
        );
        store.password_delivered("b", &ada.id, 1).await.unwrap();
        assert_eq!(
            store.owed_password(&ada.id).await.unwrap(),
            ["a", "b"],
            "{backend}"
        );
        store.password_delivered("b", &ada.id, v2.version).await.unwrap();
        // b stops sending passwords: only a is owed; a is removed: nobody is, and the password goes.
        store.set_sends_password("b", false).await.unwrap();
        store.password_delivered("a", &ada.id, 0).await.unwrap();
        assert_eq!(store.owed_password(&ada.id).await.unwrap(), ["a"], "{backend}");
        assert!(password_of(ada.id.clone()).await.is_some(), "{backend}");
        assert!(store.delete_app("a").await.unwrap(), "{backend}");
        assert_eq!(
            password_of(ada.id.clone()).await,
            None,
            "{backend}: removing a dropped it"
        );
        // c sends passwords, then stops: what it was owed goes.
        store.set_sends_password("c", true).await.unwrap();
        let bob = store
            .create_resource(ResourceKind::User, with_password("bob", "P-3"))
            .await
            .unwrap();
        assert_eq!(store.owed_password(&bob.id).await.unwrap(), ["c"], "{backend}");
        assert!(store.set_sends_password("c", false).await.unwrap(), "{backend}");
        assert_eq!(password_of(bob.id.clone()).await, None, "{backend}");
        assert!(
            store.owed_password(&bob.id).await.unwrap().is_empty(),
            "{backend}"
        );
        // Bulk creates owe it too; deleting the user takes the claims with it.
        store.set_sends_password("c", true).await.unwrap();
        let created = store
            .create_resources(
                ResourceKind::User,
                vec![with_password("cy", "P-4"), with_password("di", "P-5")],
                None,
            )
            .await
            .unwrap();
        let cy = created[0].as_ref().unwrap().id.clone();
        assert_eq!(store.owed_password(&cy).await.unwrap(), ["c"], "{backend}");
        store
            .delete_resource(ResourceKind::User, &cy, None)
            .await
            .unwrap();
        assert!(store.owed_password(&cy).await.unwrap().is_empty(), "{backend}");
    });
}

/// Inbound quarantine, shared through the store: a client whose requests keep failing is refused, let through
/// on probation when the period ends, refused again for longer when it fails on probation, released by hand;
/// a client beside it that behaves is never refused; counts from two processes add up to one decision; every
/// trip and release is in the audit log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_are_quarantined_on_probation_and_released_by_one_shared_judgement() {
    use roster_store::{AuditAction, ClientCounts, ClientPolicy, ClientState};
    const S: i64 = 1_000_000;
    // The defaults: 40 % of 20 requests within 60 s; refused 60 s, doubling; probation 600 s at 20 % of 10.
    let policy = ClientPolicy::default();
    let counts = |requests: i64, failures: i64| ClientCounts {
        requests,
        failures,
        last_failure: (failures > 0).then(|| "400: invalidValue: 'userName' is required".to_owned()),
    };
    on_every_backend!(|store, backend| {
        let t0 = 1_800_000_000 * S;
        // Two processes each saw half of the bad client's requests: 6 of 10 failed each; together 12 of 20.
        let a = store
            .record_client_requests("okta", &counts(10, 6), t0, &policy)
            .await
            .unwrap();
        assert_eq!(
            a.state(t0),
            ClientState::Normal,
            "{backend}: 10 requests are under the minimum"
        );
        let b = store
            .record_client_requests("okta", &counts(10, 6), t0 + S, &policy)
            .await
            .unwrap();
        assert_eq!(b.state(t0 + S), ClientState::Refused, "{backend}: {b:?}");
        assert_eq!(b.refused_for_secs(t0 + S), 60, "{backend}");
        assert!(
            b.reason
                .starts_with("12 of 20 requests failed within 60 s (60%; the limit is 40%)"),
            "{}",
            b.reason
        );
        // The good client beside it: thousands of requests, a few failures, never refused.
        for i in 0..20 {
            let g = store
                .record_client_requests("entra", &counts(500, 5), t0 + i * S, &policy)
                .await
                .unwrap();
            assert_eq!(g.state(t0 + i * S), ClientState::Normal, "{backend}");
        }
        // Read back as any process would.
        let seen = store.client_health("okta").await.unwrap().unwrap();
        assert_eq!(seen, b, "{backend}");
        // The period ends: probation. 2 of 10 failing (20 %) trips it again, for twice as long.
        let t1 = b.refused_until;
        assert_eq!(seen.state(t1), ClientState::Probation, "{backend}");
        let c = store
            .record_client_requests("okta", &counts(10, 2), t1, &policy)
            .await
            .unwrap();
        assert_eq!((c.state(t1), c.level), (ClientState::Refused, 2), "{backend}");
        assert_eq!(c.refused_for_secs(t1), 120, "{backend}");
        assert!(c.probation_until - c.refused_until == 1200 * S, "{backend}");
        // Released by hand: accepted at once, normal, counts afresh.
        let before = store
            .release_client("okta", t1 + S, "os:admin")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(before.state(t1 + S), ClientState::Refused, "{backend}");
        let after = store.client_health("okta").await.unwrap().unwrap();
        assert_eq!(
            (after.state(t1 + S), after.level, after.requests),
            (ClientState::Normal, 0, 0),
            "{backend}"
        );
        assert_eq!(after.trips, 2, "{backend}: the history stays");
        assert!(
            store
                .release_client("nobody", t1, "os:admin")
                .await
                .unwrap()
                .is_none(),
            "{backend}"
        );
        let audit = store.list_audit(None, 100).await.unwrap();
        let actions: Vec<(AuditAction, &str, &str)> = audit
            .iter()
            .map(|e| (e.action, e.actor.as_str(), e.target.as_str()))
            .collect();
        assert_eq!(
            actions,
            [
                (AuditAction::ClientQuarantine, "roster", "okta"),
                (AuditAction::ClientQuarantine, "roster", "okta"),
                (AuditAction::ClientRelease, "os:admin", "okta"),
            ],
            "{backend}"
        );
        assert_eq!(audit[1].change["trips_in_a_row"], 2, "{backend}");
        // A probation that ends clean returns the client to normal, and says so once.
        let d = store
            .record_client_requests("okta", &counts(20, 20), t1 + 2 * S, &policy)
            .await
            .unwrap();
        let clean = d.probation_until + S;
        let e = store
            .record_client_requests("okta", &counts(5, 0), clean, &policy)
            .await
            .unwrap();
        assert_eq!((e.state(clean), e.level), (ClientState::Normal, 0), "{backend}");
        let last = store.list_audit(None, 100).await.unwrap();
        assert_eq!(
            last.last().unwrap().action,
            AuditAction::ClientRecover,
            "{backend}"
        );
        assert_eq!(store.list_client_health().await.unwrap().len(), 2, "{backend}");
    });
}
