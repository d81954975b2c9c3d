//! End-to-end syncs: the directory on SQLite and on PostgreSQL, roster's own SCIM server on a loopback port as
//! the target. Time is the test's clock; nothing sleeps.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed unwrap is a failed test

use roster_engine::config::{AppConfig, Deprovision};
use roster_engine::runner::{Clock, drain_queue, follow_journal, full_sync, scheduled_reconcile, sync_round};
use roster_engine::sync::{AppRuntime, SyncOptions, sync_object};
use roster_store::{LinkState, LogQuery, Member, MemberChange, ResourceKind, Secret, Store};
use roster_testkit::{Target, on_every_backend};
use serde_json::{Map, Value, json};
use std::sync::Arc;

fn user(name: &str, email: &str) -> Map<String, Value> {
    json!({"userName": name, "displayName": name, "active": true,
           "emails": [{"value": email, "type": "work", "primary": true}]})
    .as_object()
    .unwrap()
    .clone()
}

fn clock() -> Clock {
    // Far in the future of every journal entry, so no journal gap is young.
    Arc::new(|| i64::MAX / 4)
}

async fn add_app(
    store: &Store,
    target: &Target,
    name: &str,
    edit: impl FnOnce(&mut AppConfig),
) -> AppRuntime {
    let mut cfg = AppConfig::new(&target.url);
    edit(&mut cfg);
    store
        .create_app(name, &cfg.to_json().unwrap(), Some(&Secret::new(&target.token)))
        .await
        .unwrap();
    AppRuntime::load(store, name).await.unwrap()
}

/// Follows the journal and drains the queue, as the engine loop does.
async fn sync_now(store: &Store, app: &AppRuntime) {
    let c = clock();
    follow_journal(store, app, c()).await.unwrap();
    let r = sync_round(store, app, "test", &c).await.unwrap();
    assert_eq!(
        r.failed,
        0,
        "{:?}",
        store.list_queue(&app.name, 10).await.unwrap()
    );
}

async fn target_users(t: &Target) -> Vec<Map<String, Value>> {
    roster_testkit::all(&t.store, ResourceKind::User)
        .await
        .into_iter()
        .map(|r| r.data)
        .collect()
}

async fn target_user(t: &Target, user_name: &str) -> Map<String, Value> {
    let all = target_users(t).await;
    let found: Vec<_> = all.into_iter().filter(|u| u["userName"] == user_name).collect();
    assert_eq!(found.len(), 1, "exactly one account for {user_name}");
    found.into_iter().next().unwrap()
}

#[tokio::test]
async fn initial_sync_then_changes_arrive_without_duplicates() {
    on_every_backend!(|store, _backend| {
        let target = Target::spawn().await;
        let alice = store
            .create_resource(ResourceKind::User, user("alice", "alice@example.com"))
            .await
            .unwrap();
        let bob = store
            .create_resource(ResourceKind::User, user("bob", "bob@example.com"))
            .await
            .unwrap();
        // dan has an account in the app already: the initial sync links it instead of creating one.
        let dan = store
            .create_resource(ResourceKind::User, user("dan", "dan@example.com"))
            .await
            .unwrap();
        target
            .store
            .create_resource(ResourceKind::User, user("DAN", "dan@example.com"))
            .await
            .unwrap();
        // carol already has an account in the app, made by hand before roster.
        target
            .store
            .create_resource(ResourceKind::User, user("carol", "carol@example.com"))
            .await
            .unwrap();
        let app = add_app(store, &target, "crm", |_| {}).await;

        // A dry run plans and writes nothing.
        let mut plans = Vec::new();
        let report = full_sync(store, &app, true, |_, r| plans.push(r.action.name()))
            .await
            .unwrap();
        assert_eq!(
            (report.count("create"), report.count("link")),
            (2, 1),
            "{plans:?}"
        );
        assert!(
            target_users(&target).await.len() == 2
                && store
                    .list_links("crm", ResourceKind::User, None, 10)
                    .await
                    .unwrap()
                    .is_empty()
        );

        let report = full_sync(store, &app, false, |_, _| {}).await.unwrap();
        assert_eq!(
            (report.count("create"), report.count("link"), report.failed),
            (2, 1, 0)
        );
        assert!(
            store
                .find_link("crm", ResourceKind::User, &dan.id)
                .await
                .unwrap()
                .is_some()
        );
        let a = target_user(&target, "alice").await;
        assert_eq!(
            a["externalId"],
            json!(alice.id),
            "the directory id travels as externalId"
        );
        // A second full sync finds nothing to do.
        let again = full_sync(store, &app, false, |_, _| {}).await.unwrap();
        assert_eq!(again.count("none"), 3, "{again:?}");

        // carol joins the directory: her existing account is linked, not duplicated.
        let carol = store
            .create_resource(ResourceKind::User, user("Carol", "carol@example.com"))
            .await
            .unwrap();
        sync_now(store, &app).await;
        assert_eq!(target_users(&target).await.len(), 4);
        let link = store
            .find_link("crm", ResourceKind::User, &carol.id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(link.state, LinkState::Active);
        let log = store
            .list_log(&LogQuery {
                app: Some("crm"),
                source_id: Some(&carol.id),
                limit: 10,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(log[0].action, "link", "{log:?}");

        // A change in the directory reaches the account.
        let mut data = alice.data.clone();
        data.insert("title".into(), json!("Engineer"));
        store
            .replace_resource(ResourceKind::User, &alice.id, data, None)
            .await
            .unwrap();
        sync_now(store, &app).await;
        assert_eq!(target_user(&target, "alice").await["title"], "Engineer");

        // bob leaves: disabled (the default policy), not deleted.
        store
            .delete_resource(ResourceKind::User, &bob.id, None)
            .await
            .unwrap();
        sync_now(store, &app).await;
        assert_eq!(target_user(&target, "bob").await["active"], false);
        assert_eq!(
            store
                .find_link("crm", ResourceKind::User, &bob.id)
                .await
                .unwrap()
                .unwrap()
                .state,
            LinkState::Disabled
        );

        // bob comes back as a new directory object: the same account is reactivated (seed 003's duplicate).
        let bob2 = store
            .create_resource(ResourceKind::User, user("bob", "bob@example.com"))
            .await
            .unwrap();
        sync_now(store, &app).await;
        assert_eq!(target_users(&target).await.len(), 4, "no second account for bob");
        assert_eq!(target_user(&target, "bob").await["active"], true);
        assert!(
            store
                .find_link("crm", ResourceKind::User, &bob.id)
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            store
                .find_link("crm", ResourceKind::User, &bob2.id)
                .await
                .unwrap()
                .is_some()
        );
        target.stop().await;
    });
}

#[tokio::test]
async fn an_account_deleted_in_the_app_is_relinked_or_recreated() {
    on_every_backend!(|store, _backend| {
        let target = Target::spawn().await;
        let alice = store
            .create_resource(ResourceKind::User, user("alice", "alice@example.com"))
            .await
            .unwrap();
        let app = add_app(store, &target, "crm", |_| {}).await;
        full_sync(store, &app, false, |_, _| {}).await.unwrap();
        let old = store
            .find_link("crm", ResourceKind::User, &alice.id)
            .await
            .unwrap()
            .unwrap();
        // Someone deletes the account in the app (seed 002: "No user returned for user …").
        target
            .store
            .delete_resource(ResourceKind::User, &old.target_id, None)
            .await
            .unwrap();
        let mut data = alice.data.clone();
        data.insert("title".into(), json!("Lead"));
        store
            .replace_resource(ResourceKind::User, &alice.id, data, None)
            .await
            .unwrap();
        sync_now(store, &app).await;
        let now = target_user(&target, "alice").await;
        assert_eq!(now["title"], "Lead");
        let new = store
            .find_link("crm", ResourceKind::User, &alice.id)
            .await
            .unwrap()
            .unwrap();
        assert_ne!(new.target_id, old.target_id, "a new account, linked");
        let log = store
            .list_log(&LogQuery {
                app: Some("crm"),
                limit: 10,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(log[0].action, "create", "{log:?}");
        target.stop().await;
    });
}

#[tokio::test]
async fn ambiguous_matches_create_nothing_and_say_why() {
    on_every_backend!(|store, _backend| {
        let target = Target::spawn().await;
        target
            .store
            .create_resource(ResourceKind::User, user("erin.a", "shared@example.com"))
            .await
            .unwrap();
        target
            .store
            .create_resource(ResourceKind::User, user("erin.b", "shared@example.com"))
            .await
            .unwrap();
        let app = add_app(store, &target, "crm", |_| {}).await;
        let erin = store
            .create_resource(ResourceKind::User, user("erin", "shared@example.com"))
            .await
            .unwrap();
        let c = clock();
        follow_journal(store, &app, c()).await.unwrap();
        let r = drain_queue(store, &app, "test", &c, 10).await.unwrap();
        assert_eq!(r.failed, 1);
        assert_eq!(target_users(&target).await.len(), 2, "nothing created");
        let queued = store.list_queue("crm", 10).await.unwrap();
        assert_eq!(queued.len(), 1);
        assert_eq!(queued[0].last_code.as_deref(), Some("R-MATCH-AMBIGUOUS"));
        assert!(
            queued[0].run_at > c(),
            "waits for a person instead of retrying at once"
        );
        let log = store
            .list_log(&LogQuery {
                source_id: Some(&erin.id),
                failures_only: true,
                limit: 5,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(log[0].code.as_deref(), Some("R-MATCH-AMBIGUOUS"));
        assert!(log[0].message.contains("emails.value"), "{}", log[0].message);
        target.stop().await;
    });
}

#[tokio::test]
async fn group_scope_follows_membership_and_a_missing_group_stops_the_app() {
    on_every_backend!(|store, _backend| {
        let target = Target::spawn().await;
        let ann = store
            .create_resource(ResourceKind::User, user("ann", "ann@example.com"))
            .await
            .unwrap();
        let ben = store
            .create_resource(ResourceKind::User, user("ben", "ben@example.com"))
            .await
            .unwrap();
        let member = |id: &str| json!({"value": id});
        let inner = store
            .create_resource(
                ResourceKind::Group,
                json!({"displayName": "Sales EMEA", "members": [member(&ben.id)]})
                    .as_object()
                    .unwrap()
                    .clone(),
            )
            .await
            .unwrap();
        let sales = store
            .create_resource(
                ResourceKind::Group,
                json!({"displayName": "Sales", "members": [member(&ann.id), member(&inner.id)]})
                    .as_object()
                    .unwrap()
                    .clone(),
            )
            .await
            .unwrap();
        store
            .create_resource(ResourceKind::User, user("cy", "cy@example.com"))
            .await
            .unwrap();
        let app = add_app(store, &target, "crm", |c| c.scope.groups = vec!["sales".into()]).await;
        full_sync(store, &app, false, |_, _| {}).await.unwrap();
        let names: Vec<_> = target_users(&target)
            .await
            .iter()
            .map(|u| u["userName"].clone())
            .collect();
        assert_eq!(
            names.len(),
            2,
            "ann and ben (through the nested group), not cy: {names:?}"
        );

        // ben leaves the nested group: his account is disabled.
        store
            .patch_members(&inner.id, &[MemberChange::Remove(ben.id.clone())], None)
            .await
            .unwrap();
        sync_now(store, &app).await;
        assert_eq!(target_user(&target, "ben").await["active"], false);
        // and comes back.
        let add = Member {
            value: ben.id.clone(),
            kind: None,
            display: None,
        };
        store
            .patch_members(&sales.id, &[MemberChange::Add(add)], None)
            .await
            .unwrap();
        sync_now(store, &app).await;
        assert_eq!(target_user(&target, "ben").await["active"], true);

        // The scope group is deleted: the app refuses to run rather than deprovision everyone.
        store
            .delete_resource(ResourceKind::Group, &sales.id, None)
            .await
            .unwrap();
        let err = AppRuntime::load(store, "crm").await.unwrap_err().to_string();
        assert!(
            err.contains("R-SCOPE-GROUP-MISSING") && err.contains("'sales'"),
            "{err}"
        );
        target.stop().await;
    });
}

#[tokio::test]
async fn deprovision_policies_and_protected_accounts() {
    on_every_backend!(|store, _backend| {
        let target = Target::spawn().await;
        let a = store
            .create_resource(ResourceKind::User, user("gone", "gone@example.com"))
            .await
            .unwrap();
        let svc = store
            .create_resource(ResourceKind::User, user("svc-roster", "svc@example.com"))
            .await
            .unwrap();
        let app = add_app(store, &target, "crm", |c| {
            c.deprovision = Deprovision::Delete;
            c.protected = vec!["SVC-roster".into()];
        })
        .await;
        full_sync(store, &app, false, |_, _| {}).await.unwrap();
        store
            .delete_resource(ResourceKind::User, &a.id, None)
            .await
            .unwrap();
        store
            .delete_resource(ResourceKind::User, &svc.id, None)
            .await
            .unwrap();
        sync_now(store, &app).await;
        let left: Vec<_> = target_users(&target)
            .await
            .iter()
            .map(|u| u["userName"].clone())
            .collect();
        assert_eq!(
            left,
            [json!("svc-roster")],
            "deleted, except the protected account"
        );
        let log = store
            .list_log(&LogQuery {
                source_id: Some(&svc.id),
                limit: 5,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(log[0].code.as_deref(), Some("R-PROTECTED"));
        target.stop().await;
    });
}

#[tokio::test]
async fn a_crash_between_create_and_link_does_not_duplicate() {
    on_every_backend!(|store, _backend| {
        let target = Target::spawn().await;
        let app = add_app(store, &target, "crm", |_| {}).await;
        let dana = store
            .create_resource(ResourceKind::User, user("dana", "dana@example.com"))
            .await
            .unwrap();
        let c = clock();
        follow_journal(store, &app, c()).await.unwrap();
        // A worker leased dana, created her account, and died before writing the link.
        let leased = store
            .lease_queue("crm", "dead-worker", c(), 120_000_000, 10)
            .await
            .unwrap();
        assert_eq!(leased.len(), 1);
        target
            .store
            .create_resource(ResourceKind::User, user("dana", "dana@example.com"))
            .await
            .unwrap();
        // While the lease runs, nobody else takes the row.
        assert!(
            store
                .lease_queue("crm", "worker-2", c() + 1_000_000, 120_000_000, 10)
                .await
                .unwrap()
                .is_empty()
        );
        // Its lease expires; another worker takes the row over.
        let later: Clock = Arc::new(move || c() + 200_000_000);
        let r = drain_queue(store, &app, "worker-2", &later, 10).await.unwrap();
        assert_eq!((r.done, r.failed), (1, 0));
        assert_eq!(target_users(&target).await.len(), 1, "linked, not created twice");
        assert!(
            store
                .find_link("crm", ResourceKind::User, &dana.id)
                .await
                .unwrap()
                .is_some()
        );
        assert!(store.list_queue("crm", 10).await.unwrap().is_empty());
        // Provision on demand traces each step.
        let r = sync_object(
            store,
            &app,
            ResourceKind::User,
            &dana.id,
            SyncOptions {
                snapshot: None,
                read_target: true,
                dry_run: true,
                attempt: 1,
                guard: false,
            },
        )
        .await
        .unwrap();
        let stages: Vec<_> = r.steps.iter().map(|s| s.stage).collect();
        assert_eq!(
            stages,
            ["scope", "mapping", "link", "target", "plan", "result"],
            "{:?}",
            r.steps
        );
        target.stop().await;
    });
}

#[tokio::test]
async fn groups_and_memberships_are_pushed_with_minimal_changes() {
    on_every_backend!(|store, _backend| {
        let target = Target::spawn().await;
        let ann = store
            .create_resource(ResourceKind::User, user("ann", "ann@example.com"))
            .await
            .unwrap();
        let ben = store
            .create_resource(ResourceKind::User, user("ben", "ben@example.com"))
            .await
            .unwrap();
        let sales = store
            .create_resource(
                ResourceKind::Group,
                json!({"displayName": "Sales", "members": [{"value": ann.id}]})
                    .as_object()
                    .unwrap()
                    .clone(),
            )
            .await
            .unwrap();
        store
            .create_resource(
                ResourceKind::Group,
                json!({"displayName": "Other"}).as_object().unwrap().clone(),
            )
            .await
            .unwrap();
        let app = add_app(store, &target, "crm", |c| {
            c.push_groups = true;
            c.scope.groups = vec!["Sales".into()];
        })
        .await;
        full_sync(store, &app, false, |_, _| {}).await.unwrap();
        let g = roster_testkit::all(&target.store, ResourceKind::Group).await;
        assert_eq!(g.len(), 1, "only the scope group is pushed");
        let ann_t = store
            .find_link("crm", ResourceKind::User, &ann.id)
            .await
            .unwrap()
            .unwrap()
            .target_id;
        // The target (roster) shows the member with its account's name, as it derives one for members pushed
        // without a display.
        assert_eq!(
            g[0].data["members"],
            json!([{"value": ann_t, "type": "User", "display": "ann"}])
        );
        assert_eq!(g[0].data["externalId"], json!(sales.id));

        // ben joins Sales: his account is created, then the group gains him with one small PATCH.
        let add = Member {
            value: ben.id.clone(),
            kind: None,
            display: None,
        };
        store
            .patch_members(&sales.id, &[MemberChange::Add(add)], None)
            .await
            .unwrap();
        sync_now(store, &app).await;
        sync_now(store, &app).await;
        let ben_t = store
            .find_link("crm", ResourceKind::User, &ben.id)
            .await
            .unwrap()
            .unwrap()
            .target_id;
        let members: Vec<_> =
            roster_testkit::all(&target.store, ResourceKind::Group).await[0].data["members"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m["value"].as_str().unwrap().to_owned())
                .collect();
        let mut want = vec![ann_t.clone(), ben_t.clone()];
        want.sort();
        let mut got = members.clone();
        got.sort();
        assert_eq!(got, want);
        let log = store
            .list_log(&LogQuery {
                source_id: Some(&sales.id),
                limit: 5,
                ..Default::default()
            })
            .await
            .unwrap();
        assert!(
            log[0].message.contains("update") && log[0].message.contains("members"),
            "{:?}",
            log[0]
        );

        // ann leaves: removed from the group, and disabled.
        store
            .patch_members(&sales.id, &[MemberChange::Remove(ann.id.clone())], None)
            .await
            .unwrap();
        sync_now(store, &app).await;
        assert_eq!(
            roster_testkit::all(&target.store, ResourceKind::Group).await[0].data["members"],
            json!([{"value": ben_t, "type": "User", "display": "ben"}])
        );
        assert_eq!(target_user(&target, "ann").await["active"], false);
        target.stop().await;
    });
}

#[tokio::test]
async fn the_engine_runs_the_initial_sync_then_reconciles_on_schedule() {
    on_every_backend!(|store, _backend| {
        let target = Target::spawn().await;
        store
            .create_resource(ResourceKind::User, user("ann", "ann@example.com"))
            .await
            .unwrap();
        let app = add_app(store, &target, "crm", |_| {}).await;
        let now = roster_store::to_micros(time::OffsetDateTime::now_utc());
        let at = |t: i64| -> Clock { Arc::new(move || t) };
        assert!(
            scheduled_reconcile(store, &app, &at(now)).await.unwrap(),
            "the initial sync runs at once"
        );
        assert_eq!(
            target_users(&target).await.len(),
            1,
            "users that existed before the app are provisioned"
        );
        assert!(
            !scheduled_reconcile(store, &app, &at(now + 1)).await.unwrap(),
            "not due again yet"
        );
        // Someone changes the account in the app; the next scheduled reconcile repairs it.
        let tid = store
            .find_link(
                "crm",
                ResourceKind::User,
                &roster_testkit::all(store, ResourceKind::User).await[0].id,
            )
            .await
            .unwrap()
            .unwrap()
            .target_id;
        let mut drifted = target
            .store
            .get_resource(ResourceKind::User, &tid)
            .await
            .unwrap()
            .unwrap()
            .data;
        drifted.insert("displayName".into(), json!("Someone Else"));
        target
            .store
            .replace_resource(ResourceKind::User, &tid, drifted, None)
            .await
            .unwrap();
        let day = 24 * 3_600_000_000_i64;
        assert!(scheduled_reconcile(store, &app, &at(now + day)).await.unwrap());
        assert_eq!(target_user(&target, "ann").await["displayName"], "ann");
        // Two processes: while one holds the lease, the other does not start a second run.
        assert!(
            store
                .claim_reconcile("crm", now + 3 * day, day, 3_600_000_000)
                .await
                .unwrap()
        );
        assert!(
            !store
                .claim_reconcile("crm", now + 3 * day + 1, day, 3_600_000_000)
                .await
                .unwrap()
        );
        let off = add_app(store, &target, "off", |c| c.reconcile_every_hours = 0).await;
        assert!(!scheduled_reconcile(store, &off, &at(now)).await.unwrap());
        target.stop().await;
    });
}

#[tokio::test]
async fn scope_filters_and_org_units_choose_who_is_provisioned() {
    on_every_backend!(|store, _backend| {
        let target = Target::spawn().await;
        let dept = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
        for (name, title, ou) in [
            ("ann", "Eng", "/Sales/EMEA"),
            ("ben", "Ops", "/Sales"),
            ("cy", "Eng", "/Salesforce"),
        ] {
            let mut u = user(name, &format!("{name}@example.com"));
            u.insert("title".into(), json!(title));
            u.insert(dept.into(), json!({"department": ou}));
            store.create_resource(ResourceKind::User, u).await.unwrap();
        }
        let by_filter = add_app(store, &target, "f", |c| {
            c.scope.filter = Some(r#"title eq "eng""#.into())
        })
        .await;
        let report = full_sync(store, &by_filter, true, |_, _| {}).await.unwrap();
        assert_eq!(
            (report.count("create"), report.count("none")),
            (2, 1),
            "ann and cy: {report:?}"
        );
        let by_ou = add_app(store, &target, "o", |c| c.scope.org_units = vec!["/sales".into()]).await;
        let report = full_sync(store, &by_ou, true, |_, _| {}).await.unwrap();
        assert_eq!(
            (report.count("create"), report.count("none")),
            (2, 1),
            "ann and ben, not /Salesforce: {report:?}"
        );
        // A bad filter stops the app with a code instead of matching nobody.
        let mut cfg = AppConfig::new(&target.url);
        cfg.scope.filter = Some("title eq".into());
        store
            .create_app("bad", &cfg.to_json().unwrap(), Some(&Secret::new("x")))
            .await
            .unwrap();
        let err = AppRuntime::load(store, "bad").await.unwrap_err().to_string();
        assert!(err.contains("R-SCOPE-INVALID"), "{err}");
        target.stop().await;
    });
}

/// An OAuth2 token endpoint that hands out the target's bearer token for the right client credentials, and
/// counts how often it was asked.
async fn token_endpoint(issue: String) -> (String, Arc<std::sync::atomic::AtomicUsize>) {
    use axum::routing::post;
    let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = calls.clone();
    let app = axum::Router::new().route(
        "/token",
        post(
            move |axum::extract::Form(form): axum::extract::Form<
                std::collections::HashMap<String, String>,
            >| {
                let issue = issue.clone();
                let counter = counter.clone();
                async move {
                    counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    let ok = form.get("grant_type").map(String::as_str) == Some("client_credentials")
                        && form.get("client_id").map(String::as_str) == Some("roster")
                        && form.get("client_secret").map(String::as_str) == Some("client-secret");
                    if ok {
                        (
                            axum::http::StatusCode::OK,
                            axum::Json(
                                json!({"access_token": issue, "token_type": "Bearer", "expires_in": 3600}),
                            ),
                        )
                    } else {
                        (
                            axum::http::StatusCode::UNAUTHORIZED,
                            axum::Json(json!({"error": "invalid_client"})),
                        )
                    }
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/token", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, calls)
}

#[tokio::test]
async fn oauth2_client_credentials_get_a_token_once_and_a_refusal_is_coded() {
    on_every_backend!(|store, _backend| {
        let target = Target::spawn().await;
        let (token_url, calls) = token_endpoint(target.token.clone()).await;
        for n in ["a", "b", "c"] {
            store
                .create_resource(ResourceKind::User, user(n, &format!("{n}@example.com")))
                .await
                .unwrap();
        }
        let oauth = |c: &mut AppConfig| {
            c.target = roster_engine::config::TargetConfig::Scim {
                url: c.target.url().to_owned(),
                auth: roster_engine::config::Auth::OAuth2 {
                    token_url: token_url.clone(),
                    client_id: "roster".into(),
                    scope: None,
                },
            }
        };
        let mut cfg = AppConfig::new(&target.url);
        oauth(&mut cfg);
        store
            .create_app(
                "crm",
                &cfg.to_json().unwrap(),
                Some(&Secret::new("client-secret")),
            )
            .await
            .unwrap();
        let app = AppRuntime::load(store, "crm").await.unwrap();
        let report = full_sync(store, &app, false, |_, _| {}).await.unwrap();
        assert_eq!((report.count("create"), report.failed), (3, 0));
        assert_eq!(
            calls.load(std::sync::atomic::Ordering::SeqCst),
            1,
            "the access token is reused until it expires"
        );

        store
            .create_app(
                "wrong",
                &cfg.to_json().unwrap(),
                Some(&Secret::new("not-the-secret")),
            )
            .await
            .unwrap();
        let wrong = AppRuntime::load(store, "wrong").await.unwrap();
        let id = roster_testkit::all(store, ResourceKind::User).await[0].id.clone();
        let r = sync_object(store, &wrong, ResourceKind::User, &id, SyncOptions::default())
            .await
            .unwrap();
        assert_eq!(r.code.map(|c| c.code), Some("R-TARGET-AUTH"));
        assert!(
            r.message.contains("invalid_client") && !r.message.contains("not-the-secret"),
            "{}",
            r.message
        );
        target.stop().await;
    });
}

/// A reconcile over several pages: a dry run shows every object once, in directory order, though the pages
/// sync side by side; the sync itself creates each account once (in bulk, roster's server supports it), leaves
/// no queue row or lease behind, and a second reconcile finds nothing to change.
#[tokio::test]
async fn a_reconcile_over_many_pages_plans_in_order_and_creates_each_account_once() {
    on_every_backend!(|store, backend| {
        let target = Target::spawn().await;
        let app = add_app(store, &target, "crm", |c| c.reconcile_every_hours = 0).await;
        let users: Vec<_> = (0..1234)
            .map(|i| user(&format!("p{i:04}"), &format!("p{i:04}@example.com")))
            .collect();
        let mut ids: Vec<String> = store
            .create_resources(ResourceKind::User, users, None)
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.unwrap().id)
            .collect();
        ids.sort_unstable();

        let mut planned = Vec::new();
        let report = full_sync(store, &app, true, |id, r| {
            planned.push((id.to_owned(), r.action.name()))
        })
        .await
        .unwrap();
        assert_eq!(report.count("create"), 1234, "{backend}");
        let order: Vec<String> = planned.iter().map(|(id, _)| id.clone()).collect();
        assert_eq!(order, ids, "{backend}: the plan in directory order");
        assert!(
            target_users(&target).await.is_empty(),
            "{backend}: a dry run writes nothing"
        );

        let report = full_sync(store, &app, false, |_, _| {}).await.unwrap();
        assert_eq!((report.count("create"), report.failed), (1234, 0), "{backend}");
        let names: std::collections::HashSet<String> = target_users(&target)
            .await
            .into_iter()
            .map(|u| u["userName"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(names.len(), 1234, "{backend}");
        assert!(
            store.list_queue("crm", 10).await.unwrap().is_empty(),
            "{backend}: no queue row left"
        );
        let again = full_sync(store, &app, false, |_, _| {}).await.unwrap();
        assert_eq!((again.count("none"), again.seen), (1234, 1234), "{backend}");
    });
}

/// A pushed password is sealed in the directory (never in clear in `data`), opened only for an app whose
/// mapping sends it, which then receives it as pushed; an app that does not map it never sees it. It is kept only
/// until every app that sends passwords has it: the link's record of what was pushed never holds it, and a later
/// sync sends nothing more. A new password is owed afresh.
#[tokio::test]
async fn pushed_passwords_are_sealed_sent_only_where_mapped_and_dropped_once_delivered() {
    on_every_backend!(|store, backend| {
        let with_pw = Target::spawn().await;
        with_pw.keep_passwords().await;
        let without = Target::spawn().await;
        let a = add_app(store, &with_pw, "hr", |c| {
            c.mapping = vec![
                roster_engine::mapping::MappingRule::parse("userName=userName", false).unwrap(),
                roster_engine::mapping::MappingRule::parse("password=password", false).unwrap(),
            ];
        })
        .await;
        let b = add_app(store, &without, "crm", |_| {}).await;
        assert!(a.maps_password() && !b.maps_password(), "{backend}");
        let stored_password = |id: String| async move {
            let r = store
                .get_resource(ResourceKind::User, &id)
                .await
                .unwrap()
                .unwrap();
            r.data.get("password").and_then(Value::as_str).map(str::to_owned)
        };
        let mut u = user("ada", "ada@example.com");
        u.insert("password".into(), json!("Pushed-Secret-1"));
        let created = store.create_resource(ResourceKind::User, u).await.unwrap();
        let sealed = stored_password(created.id.clone()).await.unwrap();
        assert!(
            sealed.starts_with("sealed:v1:") && !sealed.contains("Pushed-Secret-1"),
            "{backend}: {sealed}"
        );
        assert_eq!(
            store.owed_password(&created.id).await.unwrap(),
            ["hr"],
            "{backend}"
        );
        // A PUT that omits the password keeps the sealed one while an app is owed it.
        let mut again = user("ada", "ada@example.com");
        again.insert("password".into(), Value::String(sealed.clone()));
        store
            .replace_resource(ResourceKind::User, &created.id, again.clone(), None)
            .await
            .unwrap();
        assert_eq!(
            stored_password(created.id.clone()).await.as_deref(),
            Some(sealed.as_str()),
            "{backend}"
        );
        sync_now(store, &b).await;
        assert!(
            stored_password(created.id.clone()).await.is_some(),
            "{backend}: an app that does not send passwords owes nothing"
        );
        sync_now(store, &a).await;
        let mut got = target_user(&with_pw, "ada").await;
        with_pw.store.open_password(&mut got).await;
        assert_eq!(got["password"], "Pushed-Secret-1", "{backend}");
        assert!(
            !target_user(&without, "ada").await.contains_key("password"),
            "{backend}"
        );
        // Delivered to the one app that sends passwords: nothing of it is left, in the directory or the link.
        assert_eq!(stored_password(created.id.clone()).await, None, "{backend}");
        assert!(
            store.owed_password(&created.id).await.unwrap().is_empty(),
            "{backend}"
        );
        let link = store
            .find_link("hr", ResourceKind::User, &created.id)
            .await
            .unwrap()
            .unwrap();
        assert!(
            !link.pushed.contains_key("password"),
            "{backend}: {:?}",
            link.pushed
        );
        assert_eq!(link.pushed["userName"], "ada", "{backend}");
        // A PUT that carries the old sealed value back does not keep it, and the next sync sends nothing.
        store
            .replace_resource(ResourceKind::User, &created.id, again, None)
            .await
            .unwrap();
        assert_eq!(stored_password(created.id.clone()).await, None, "{backend}");
        let actions = || async {
            let q = roster_store::LogQuery {
                app: Some("hr"),
                limit: 100,
                ..Default::default()
            };
            let mut a: Vec<String> = store
                .list_log(&q)
                .await
                .unwrap()
                .into_iter()
                .map(|e| e.action)
                .collect();
            a.sort();
            a
        };
        assert_eq!(actions().await, ["create"], "{backend}");
        sync_now(store, &a).await;
        assert_eq!(actions().await, ["create"], "{backend}: nothing more was sent");
        // A new password is owed afresh and delivered as an update.
        let mut changed = user("ada", "ada@example.com");
        changed.insert("password".into(), json!("Pushed-Secret-2"));
        store
            .replace_resource(ResourceKind::User, &created.id, changed, None)
            .await
            .unwrap();
        assert_eq!(
            store.owed_password(&created.id).await.unwrap(),
            ["hr"],
            "{backend}"
        );
        sync_now(store, &a).await;
        assert_eq!(actions().await, ["create", "update"], "{backend}");
        let mut got = target_user(&with_pw, "ada").await;
        with_pw.store.open_password(&mut got).await;
        assert_eq!(got["password"], "Pushed-Secret-2", "{backend}");
        assert_eq!(stored_password(created.id.clone()).await, None, "{backend}");
        with_pw.stop().await;
        without.stop().await;
    });
}

/// Matching treats look-alike spellings as one identity (RFC 8265): an account the app holds as `e` + U+0301
/// (typed on a Mac) is the directory's precomposed `émile`, linked rather than duplicated, by a full reconcile
/// and by the journal alike.
#[tokio::test]
async fn accounts_in_another_unicode_spelling_are_linked_not_duplicated() {
    on_every_backend!(|store, backend| {
        let target = Target::spawn().await;
        for name in ["e\u{301}mile@example.com", "\u{ff2b}\u{ff45}\u{ff4e}@example.com"] {
            target
                .store
                .create_resource(ResourceKind::User, user(name, name))
                .await
                .unwrap();
        }
        let app = add_app(store, &target, "crm", |_| {}).await;
        let emile = store
            .create_resource(
                ResourceKind::User,
                user("\u{e9}mile@example.com", "emile@example.com"),
            )
            .await
            .unwrap();
        let report = full_sync(store, &app, false, |_, _| {}).await.unwrap();
        assert_eq!(
            (report.count("link"), report.count("create")),
            (1, 0),
            "{backend}: {report:?}"
        );
        let link = store
            .find_link("crm", ResourceKind::User, &emile.id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(link.state, LinkState::Active, "{backend}");
        // Through the journal: fullwidth letters in the app, ordinary ones in the directory.
        let ken = store
            .create_resource(ResourceKind::User, user("Ken@example.com", "ken@example.com"))
            .await
            .unwrap();
        sync_now(store, &app).await;
        assert!(
            store
                .find_link("crm", ResourceKind::User, &ken.id)
                .await
                .unwrap()
                .is_some(),
            "{backend}"
        );
        assert_eq!(
            target_users(&target).await.len(),
            2,
            "{backend}: nothing duplicated"
        );
        target.stop().await;
    });
}

/// An app that is sent the password on create only is never sent a later one: the directory does not keep it for
/// that app (it would be owed forever).
#[tokio::test]
async fn a_password_sent_on_create_only_is_not_kept_for_later() {
    on_every_backend!(|store, backend| {
        let target = Target::spawn().await;
        let app = add_app(store, &target, "oc", |c| {
            c.mapping = vec![
                roster_engine::mapping::MappingRule::parse("userName=userName", false).unwrap(),
                roster_engine::mapping::MappingRule::parse("password=password", true).unwrap(),
            ];
        })
        .await;
        let mut u = user("ada", "ada@example.com");
        u.insert("password".into(), json!("First-1"));
        let ada = store.create_resource(ResourceKind::User, u).await.unwrap();
        sync_now(store, &app).await;
        let stored = |id: String| async move {
            store
                .get_resource(ResourceKind::User, &id)
                .await
                .unwrap()
                .unwrap()
                .data
                .contains_key("password")
        };
        assert!(
            !stored(ada.id.clone()).await,
            "{backend}: delivered with the create"
        );
        let mut changed = user("ada", "ada@example.com");
        changed.insert("password".into(), json!("Second-2"));
        store
            .replace_resource(ResourceKind::User, &ada.id, changed, None)
            .await
            .unwrap();
        assert_eq!(store.owed_password(&ada.id).await.unwrap(), ["oc"], "{backend}");
        sync_now(store, &app).await;
        assert!(
            !stored(ada.id.clone()).await,
            "{backend}: an account that exists is never sent it"
        );
        assert!(
            store.owed_password(&ada.id).await.unwrap().is_empty(),
            "{backend}"
        );
        target.stop().await;
    });
}
