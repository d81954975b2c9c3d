//! The engine against Google Workspace's Directory API (`roster_testkit::GoogleTarget`, a stand-in that checks
//! the service account's signed token and answers with Google's errors): users, org units, groups and members
//! end to end, then each error of seed 000 reproduced and prevented, repaired or named. Each test runs on SQLite
//! and on PostgreSQL; time is the test's clock.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed unwrap is a failed test

use roster_engine::config::{AppConfig, Deprovision};
use roster_engine::mapping::MappingRule;
use roster_engine::runner::{Clock, follow_journal, full_sync, sync_round};
use roster_engine::sync::AppRuntime;
use roster_store::{LogQuery, ResourceKind, Secret, Store};
use roster_testkit::google::error_body;
use roster_testkit::{Fault, GoogleTarget, on_every_backend};
use serde_json::{Map, Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

const ADMIN: &str = "admin@example.com";
const OU: &str = "urn:roster:params:scim:schemas:extension:google:2.0:User:orgUnitPath";
const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

#[derive(Clone)]
struct TestTime(Arc<AtomicI64>);

impl TestTime {
    fn new() -> Self {
        Self(Arc::new(AtomicI64::new(roster_store::to_micros(
            time::OffsetDateTime::now_utc(),
        ))))
    }
    fn advance(&self, secs: i64) {
        self.0.fetch_add(secs * 1_000_000, Ordering::SeqCst);
    }
    fn clock(&self) -> Clock {
        let t = self.0.clone();
        Arc::new(move || t.load(Ordering::SeqCst))
    }
}

fn person(email: &str, given: &str, family: &str, department: &str) -> Map<String, Value> {
    json!({"userName": email, "active": true, "name": {"givenName": given, "familyName": family},
           "emails": [{"value": email, "type": "work", "primary": true}],
           ENTERPRISE: {"department": department}})
    .as_object()
    .unwrap()
    .clone()
}

/// A Google app on the stand-in: the default mapping plus the org unit from the department.
async fn add_app(
    store: &Store,
    gt: &GoogleTarget,
    time: &TestTime,
    edit: impl FnOnce(&mut AppConfig),
) -> AppRuntime {
    let mut cfg = AppConfig::google(ADMIN);
    cfg.target.set_url(&gt.url);
    cfg.reconcile_every_hours = 0;
    cfg.mapping = roster_engine::mapping::default_user_mapping();
    cfg.mapping
        .push(MappingRule::parse(&format!("{OU}=concat(\"/\", {ENTERPRISE}:department)"), false).unwrap());
    edit(&mut cfg);
    store
        .create_app("gws", &cfg.to_json().unwrap(), Some(&Secret::new(gt.key_json())))
        .await
        .unwrap();
    AppRuntime::load(store, "gws")
        .await
        .unwrap()
        .with_clock(time.clock())
}

async fn round(store: &Store, app: &AppRuntime, time: &TestTime) {
    let clock = time.clock();
    follow_journal(store, app, clock()).await.unwrap();
    sync_round(store, app, "worker", &clock).await.unwrap();
}

/// The queue's rows as (source id, last code).
async fn pending(store: &Store) -> Vec<(String, Option<String>)> {
    store
        .list_queue("gws", 100)
        .await
        .unwrap()
        .into_iter()
        .map(|q| (q.source_id, q.last_code))
        .collect()
}

fn field<'a>(u: &'a Map<String, Value>, pointer: &str) -> &'a Value {
    static NULL: Value = Value::Null;
    let v: &Value = u
        .get(pointer.trim_start_matches('/').split('/').next().unwrap())
        .unwrap_or(&NULL);
    let rest: String = pointer
        .trim_start_matches('/')
        .split_once('/')
        .map(|(_, r)| format!("/{r}"))
        .unwrap_or_default();
    v.pointer(&rest).unwrap_or(&NULL)
}

#[tokio::test]
async fn a_google_domain_is_provisioned_with_org_units_groups_and_deprovisioning() {
    on_every_backend!(|store, _backend| {
        let time = TestTime::new();
        let gt = GoogleTarget::spawn(ADMIN, time.clock()).await;
        gt.add_org_unit("/Sales");
        gt.add_org_unit("/Engineering");
        let alice = store
            .create_resource(
                ResourceKind::User,
                person("alice@example.com", "Alice", "Archer", "Sales"),
            )
            .await
            .unwrap()
            .id;
        let bob = store
            .create_resource(
                ResourceKind::User,
                person("bob@example.com", "Bob", "Baker", "Engineering"),
            )
            .await
            .unwrap()
            .id;
        // The admin the connection acts as is in the directory too.
        let admin = store
            .create_resource(ResourceKind::User, person(ADMIN, "Super", "Admin", ""))
            .await
            .unwrap()
            .id;
        let team = store
            .create_resource(
                ResourceKind::Group,
                json!({"displayName": "Engineering Team",
                       "members": [{"value": alice, "type": "User"}, {"value": bob, "type": "User"}]})
                .as_object()
                .unwrap()
                .clone(),
            )
            .await
            .unwrap()
            .id;
        let app = add_app(store, &gt, &time, |c| {
            c.push_groups = true;
            c.deprovision = Deprovision::Disable;
        })
        .await;

        let report = full_sync(store, &app, false, |_, _| {}).await.unwrap();
        assert_eq!(report.failed, 0, "{report:?} {:?}", pending(store).await);
        assert_eq!(report.count("create"), 3, "two users and one group: {report:?}");
        assert_eq!(
            report.count("link"),
            1,
            "the admin's existing account is linked: {report:?}"
        );
        let a = gt.user("alice@example.com").expect("alice's account");
        assert_eq!(field(&a, "/name/familyName"), "Archer");
        assert_eq!(field(&a, "/orgUnitPath"), "/Sales");
        assert_eq!(field(&a, "/suspended"), false);
        assert_eq!(
            field(&a, "/externalIds/0/value"),
            alice.as_str(),
            "the directory id is the external id"
        );
        assert_eq!(
            field(&gt.user("bob@example.com").unwrap(), "/orgUnitPath"),
            "/Engineering"
        );
        let groups = gt.groups();
        assert_eq!(groups.len(), 1);
        assert_eq!(field(&groups[0], "/email"), "engineering-team@example.com");
        assert_eq!(field(&groups[0], "/name"), "Engineering Team");
        let gid = groups[0]["id"].as_str().unwrap().to_owned();
        assert_eq!(gt.member_emails(&gid), ["alice@example.com", "bob@example.com"]);
        // Every request carried a token from the signed assertion; no password or key was logged.
        let log = serde_json::to_string(
            &store
                .list_log(&LogQuery {
                    app: Some("gws"),
                    limit: 1000,
                    ..LogQuery::default()
                })
                .await
                .unwrap()
                .iter()
                .map(roster_store::LogEntry::to_json)
                .collect::<Vec<_>>(),
        )
        .unwrap();
        assert!(log.contains("/users"), "the log keeps the requests: {log}");
        assert!(
            !log.contains("PRIVATE KEY") && !log.contains("ya29."),
            "no credential in the log"
        );
        assert!(log.contains("[redacted]"), "the generated password is redacted");

        // A second reconcile finds nothing to change: what Google holds is compared like with like.
        let before = gt.seen().len();
        let again = full_sync(store, &app, false, |_, _| {}).await.unwrap();
        assert_eq!(again.failed, 0);
        assert_eq!(again.count("update"), 0, "no drift: {again:?}");
        assert!(
            gt.seen()[before..].iter().all(|s| s.method == "GET"),
            "a converged reconcile only reads: {:?}",
            &gt.seen()[before..]
        );

        // A change in the directory reaches Google as one PATCH of what changed.
        let mut b = Value::Object(
            store
                .get_resource(ResourceKind::User, &bob)
                .await
                .unwrap()
                .unwrap()
                .data,
        );
        b["name"]["familyName"] = json!("Baker-Smith");
        b[ENTERPRISE]["department"] = json!("Sales");
        store
            .replace_resource(ResourceKind::User, &bob, b.as_object().unwrap().clone(), None)
            .await
            .unwrap();
        let mark = gt.seen().len();
        round(store, &app, &time).await;
        let bob_g = gt.user("bob@example.com").unwrap();
        assert_eq!(field(&bob_g, "/name/familyName"), "Baker-Smith");
        assert_eq!(
            field(&bob_g, "/orgUnitPath"),
            "/Sales",
            "moved to the Sales org unit"
        );
        let writes: Vec<_> = gt.seen()[mark..]
            .iter()
            .filter(|s| s.method != "GET")
            .cloned()
            .collect();
        assert_eq!(writes.len(), 1, "{writes:?}");
        assert_eq!(writes[0].method, "PATCH");

        // Membership changes are member requests, not a rewrite of the group.
        store
            .patch_members(&team, &[roster_store::MemberChange::Remove(bob.clone())], None)
            .await
            .unwrap();
        let mark = gt.seen().len();
        round(store, &app, &time).await;
        assert_eq!(gt.member_emails(&gid), ["alice@example.com"]);
        let writes: Vec<_> = gt.seen()[mark..]
            .iter()
            .filter(|s| s.method != "GET")
            .cloned()
            .collect();
        assert_eq!(writes.len(), 1, "{writes:?}");
        assert!(
            writes[0].method == "DELETE" && writes[0].path.contains("/members/"),
            "{writes:?}"
        );

        // Leaving: alice is suspended; the admin is protected and never sent a suspension (Google would answer
        // "Admin cannot suspend self").
        store
            .delete_resource(ResourceKind::User, &alice, None)
            .await
            .unwrap();
        store
            .delete_resource(ResourceKind::User, &admin, None)
            .await
            .unwrap();
        let mark = gt.seen().len();
        round(store, &app, &time).await;
        assert_eq!(field(&gt.user("alice@example.com").unwrap(), "/suspended"), true);
        assert_eq!(field(&gt.user(ADMIN).unwrap(), "/suspended"), false);
        assert!(
            !gt.seen()[mark..]
                .iter()
                .any(|s| s.method != "GET"
                    && s.path.ends_with(gt.user(ADMIN).unwrap()["id"].as_str().unwrap())),
            "nothing was sent for the admin: {:?}",
            &gt.seen()[mark..]
        );
        assert!(pending(store).await.is_empty(), "{:?}", pending(store).await);
        gt.stop();
    });
}

/// Rounds an hour apart until only `left` objects are pending, or `max` rounds.
async fn settle(store: &Store, app: &AppRuntime, time: &TestTime, left: usize, max: usize) {
    for _ in 0..max {
        round(store, app, time).await;
        if pending(store).await.len() <= left {
            return;
        }
        time.advance(3600);
    }
    panic!("not settled: {:?}", pending(store).await);
}

/// The code `roster app test` would show: discovery with a fresh connection (no cached token).
async fn discovery_code(store: &Store, time: &TestTime) -> String {
    let app = AppRuntime::load(store, "gws")
        .await
        .unwrap()
        .with_clock(time.clock());
    match app.client.discover().await {
        Ok(_) => "ok".into(),
        Err(e) => {
            assert!(!e.message.contains("PRIVATE KEY"), "{}", e.message);
            e.code.code.to_owned()
        }
    }
}

#[tokio::test]
async fn each_google_error_of_seed_000_is_prevented_repaired_or_named() {
    on_every_backend!(|store, _backend| {
        let time = TestTime::new();
        let gt = GoogleTarget::spawn(ADMIN, time.clock()).await;
        gt.add_org_unit("/Sales");
        let app = add_app(store, &gt, &time, |c| c.deprovision = Deprovision::Delete).await;
        assert_eq!(discovery_code(store, &time).await, "ok");
        let add = |email: &str, department: &str| {
            let u = person(email, "Test", "Person", department);
            async move { store.create_resource(ResourceKind::User, u).await.unwrap().id }
        };
        let code_of = |rows: &[(String, Option<String>)], id: &str| {
            rows.iter()
                .find(|(s, _)| s == id)
                .and_then(|(_, c)| c.clone())
                .unwrap_or_default()
        };

        // 2) duplicate (409) "Entity already exists.": the address is an alias or a group, not an account roster
        // could link. Named, nothing created, no retry storm.
        gt.reserve_address("carol@example.com");
        let carol = add("carol@example.com", "Sales").await;
        // 3) limitExceeded (412) "Domain user limit reached.": waits, then goes through once there is room.
        gt.set_user_limit(Some(1));
        let dave = add("dave@example.com", "Sales").await;
        // 5) invalid (400) "Invalid Input: INVALID_OU_ID": the org unit does not exist in Google.
        let erin = add("erin@example.com", "Marketing").await;
        // 6) invalid (400) "Invalid Input: primary_user_email": refused before sending.
        let frank = add("frank", "Sales").await;
        round(store, &app, &time).await;
        let rows = pending(store).await;
        assert_eq!(code_of(&rows, &carol), "R-TARGET-TAKEN-ELSEWHERE", "{rows:?}");
        assert_eq!(code_of(&rows, &dave), "R-TARGET-LIMIT", "{rows:?}");
        assert_eq!(code_of(&rows, &erin), "R-TARGET-ORG-UNIT", "{rows:?}");
        assert_eq!(code_of(&rows, &frank), "R-TARGET-INVALID-VALUE", "{rows:?}");
        let posted = gt
            .seen()
            .iter()
            .filter(|s| s.method == "POST" && s.path == "/users")
            .count();
        assert_eq!(
            posted,
            3,
            "carol, dave and erin were tried; frank was never sent: {:?}",
            gt.seen()
        );
        assert_eq!(gt.users().len(), 1, "only the admin exists");

        // Room and the org unit appear; the waiting objects go through without anyone touching roster.
        gt.set_user_limit(None);
        gt.add_org_unit("/Marketing");
        time.advance(7 * 3600);
        settle(store, &app, &time, 2, 10).await;
        assert!(gt.user("dave@example.com").is_some());
        assert_eq!(
            field(&gt.user("erin@example.com").unwrap(), "/orgUnitPath"),
            "/Marketing"
        );
        let left: Vec<String> = pending(store).await.into_iter().map(|(s, _)| s).collect();
        assert_eq!(left.len(), 2);
        assert!(left.contains(&carol) && left.contains(&frank), "{left:?}");

        // 7) notFound (404) "Resource Not Found: userKey" on delete: the account is already gone, which is done.
        gt.delete_user("dave@example.com");
        store
            .delete_resource(ResourceKind::User, &dave, None)
            .await
            .unwrap();
        round(store, &app, &time).await;
        assert!(!pending(store).await.iter().any(|(s, _)| s == &dave));
        assert!(
            store
                .find_link("gws", ResourceKind::User, &dave)
                .await
                .unwrap()
                .is_none(),
            "the link is gone"
        );

        // 11) invalid_grant "Invalid email or User ID", 15) unauthorized_client, 16) deleted_client: the token
        // endpoint's refusals, each with its own code.
        for (status, error, description, code) in [
            (
                400,
                "invalid_grant",
                "Invalid email or User ID",
                "R-TARGET-OAUTH-GRANT",
            ),
            (
                401,
                "unauthorized_client",
                "Client is unauthorized to retrieve access tokens using this method, or client not authorized for any of the scopes requested.",
                "R-TARGET-OAUTH-SCOPE",
            ),
            (
                401,
                "deleted_client",
                "The OAuth client was deleted.",
                "R-TARGET-CLIENT-DELETED",
            ),
        ] {
            gt.refuse_tokens(Some((status, error, description)));
            assert_eq!(discovery_code(store, &time).await, code, "{error}");
        }
        gt.refuse_tokens(None);

        // 12) forbidden, 13) domainCannotUseApis, 14) accessNotConfigured, 17) project deleted; and Google's
        // 403 rate limit reasons, which are rate limits, not refusals.
        for (reason, message, code) in [
            (
                "forbidden",
                "Not Authorized to access this resource/api",
                "R-TARGET-FORBIDDEN",
            ),
            (
                "domainCannotUseApis",
                "Domain cannot use apis.",
                "R-TARGET-API-DISABLED",
            ),
            (
                "accessNotConfigured",
                "Admin SDK API has not been used in project 123456 before or it is disabled.",
                "R-TARGET-API-DISABLED",
            ),
            (
                "forbidden",
                "Project #123456 has been deleted.",
                "R-TARGET-CLIENT-DELETED",
            ),
            (
                "userRateLimitExceeded",
                "Rate Limit Exceeded",
                "R-TARGET-RATE-LIMITED",
            ),
        ] {
            gt.add_fault(Fault::status(
                "GET",
                "/users",
                403,
                &error_body(403, reason, message),
                1,
            ));
            assert_eq!(discovery_code(store, &time).await, code, "{reason}: {message}");
        }

        // A 403 that says "rate limit" pauses the whole app like a 429: the next request is not sent.
        let app = AppRuntime::load(store, "gws")
            .await
            .unwrap()
            .with_clock(time.clock());
        gt.add_fault(Fault::status(
            "GET",
            "/users",
            403,
            &error_body(403, "rateLimitExceeded", "Rate Limit Exceeded"),
            1,
        ));
        let filter = r#"userName eq "zed@example.com""#;
        let first = app.client.find(ResourceKind::User, filter, 5).await.unwrap_err();
        assert_eq!(first.code.code, "R-TARGET-RATE-LIMITED");
        let seen = gt.seen().len();
        let second = app.client.find(ResourceKind::User, filter, 5).await.unwrap_err();
        assert_eq!(second.code.code, "R-TARGET-RATE-LIMITED");
        assert!(second.message.contains("not sent"), "{}", second.message);
        assert_eq!(gt.seen().len(), seen, "nothing reached Google during the pause");
        time.advance(3);
        assert!(
            app.client
                .find(ResourceKind::User, filter, 5)
                .await
                .unwrap()
                .is_empty()
        );
        gt.stop();
    });
}
