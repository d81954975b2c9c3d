//! The admin operations on both databases: what they do, what they refuse (kind, code, exit code, HTTP status),
//! and the audit entries they write in their actor's name.
#![allow(clippy::unwrap_used)]

use roster_admin::{Admin, Failure};
use roster_store::{AuditAction, ResourceKind};
use roster_testkit::on_every_backend;
use serde_json::{Map, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operations_refuse_what_does_not_exist_and_audit_what_they_change() {
    on_every_backend!(|store, backend| {
        let admin = Admin::new(store.clone(), "os:alice");
        store
            .create_app(
                "crm",
                &json!({"target": {"kind": "scim", "url": "https://crm.example.com/scim/v2"}}),
                None,
            )
            .await
            .unwrap();
        let mut user = Map::new();
        user.insert("userName".into(), json!("ann@example.com"));
        store.create_resource(ResourceKind::User, user).await.unwrap();

        // Refusals: the kind, the code, how each shell ends.
        let e = admin.retry("nope", None, None).await.unwrap_err();
        assert_eq!(
            (e.failure, e.code.code, e.exit_code(), e.http_status()),
            (Failure::NotFound, "R-ADMIN-NOT-FOUND", 2, 404),
            "{backend}: {e}"
        );
        assert!(e.message.contains("roster app list"), "{backend}: {e}");
        let e = admin.retry("crm", Some("R-NO-SUCH"), None).await.unwrap_err();
        assert_eq!(
            (e.failure, e.code.code, e.http_status()),
            (Failure::Invalid, "R-ADMIN-INVALID", 400),
            "{backend}: {e}"
        );
        let e = admin
            .retry("crm", None, Some("nobody@example.com"))
            .await
            .unwrap_err();
        assert_eq!(e.failure, Failure::NotFound, "{backend}: {e}");
        for e in [
            admin.approve("nope").await.unwrap_err(),
            admin.discard("nope").await.unwrap_err(),
            admin.held("nope").await.map(|_| ()).unwrap_err(),
            admin.release_app("nope").await.map(|_| ()).unwrap_err(),
            admin.client("nobody").await.map(|_| ()).unwrap_err(),
            admin.release_client("nobody").await.map(|_| ()).unwrap_err(),
            admin.revoke_token("nobody").await.unwrap_err(),
        ] {
            assert_eq!(e.failure, Failure::NotFound, "{backend}: {e}");
        }
        assert!(
            store.list_audit(None, 100).await.unwrap().is_empty(),
            "{backend}: refusals audit nothing"
        );

        // What they do, audited as the actor.
        let r = admin
            .retry("crm", Some("R-TARGET-AUTH"), Some("ann@example.com"))
            .await
            .unwrap();
        assert_eq!((r.due, r.quarantined), (0, None), "{backend}");
        assert!(admin.held("crm").await.unwrap().is_empty(), "{backend}");
        assert_eq!(admin.approve("crm").await.unwrap(), 0, "{backend}");
        assert_eq!(admin.discard("crm").await.unwrap(), 0, "{backend}");
        assert!(
            !admin.release_app("crm").await.unwrap(),
            "{backend}: not quarantined"
        );
        assert!(admin.clients().await.unwrap().is_empty(), "{backend}");
        let secret = admin
            .create_token("okta", roster_store::Scope::Write)
            .await
            .unwrap();
        assert!(
            store.verify_token(&secret).await.unwrap().is_some(),
            "{backend}: the secret works"
        );
        let tokens = admin.tokens().await.unwrap();
        assert_eq!(tokens.len(), 1, "{backend}");
        assert_eq!(tokens[0].name, "okta", "{backend}");
        let e = admin
            .create_token("okta", roster_store::Scope::Read)
            .await
            .unwrap_err();
        assert_eq!(
            (e.failure, e.code.code, e.exit_code(), e.http_status()),
            (Failure::Conflict, "R-ADMIN-CONFLICT", 4, 409),
            "{backend}: a name taken: {e}"
        );
        admin.revoke_token("okta").await.unwrap();
        assert!(admin.tokens().await.unwrap().is_empty(), "{backend}");
        let audit = store.list_audit(None, 100).await.unwrap();
        let actions: Vec<AuditAction> = audit.iter().map(|a| a.action).collect();
        assert_eq!(
            actions,
            [
                AuditAction::Retry,
                AuditAction::Approve,
                AuditAction::Discard,
                AuditAction::TokenCreate,
                AuditAction::TokenRevoke
            ],
            "{backend}: a release of nothing, and a token name refused, are not audited"
        );
        assert!(
            !audit[3].change.to_string().contains(&secret),
            "{backend}: never the secret"
        );
        assert!(
            audit.iter().all(|a| a.actor == "os:alice"),
            "{backend}: {audit:?}"
        );
        assert_eq!(
            audit.iter().map(|a| a.target.as_str()).collect::<Vec<_>>(),
            ["crm", "crm", "crm", "okta", "okta"],
            "{backend}"
        );
        assert_eq!(
            audit[0].change,
            json!({"code": "R-TARGET-AUTH", "object": "ann@example.com", "due": 0}),
            "{backend}"
        );
    });
}

/// Apps added, edited and removed: checked before they are stored, refused with the code of what is wrong, and
/// audited with their settings (never the credential).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apps_are_checked_before_they_are_stored_and_audited() {
    use roster_admin::apps::SchemaCheck;
    use roster_engine::config::AppConfig;
    use roster_store::Secret;
    let target = roster_testkit::Target::spawn().await;
    on_every_backend!(|store, backend| {
        let admin = Admin::new(store.clone(), "token:console");
        let secret = || Some(Secret::new(target.token.clone()));
        // No credential: refused before anything is stored.
        let e = admin
            .add_app("crm", AppConfig::new(&target.url), None)
            .await
            .unwrap_err();
        assert_eq!(e.failure, Failure::Invalid, "{backend}: {e}");
        assert!(e.message.contains("--token-file"), "{backend}: {e}");
        // A scope group that does not exist.
        let mut scoped = AppConfig::new(&target.url);
        scoped.scope.groups = vec!["Sales".into()];
        let e = admin.add_app("crm", scoped, secret()).await.unwrap_err();
        assert_eq!(
            (e.failure, e.code.code),
            (Failure::NotFound, "R-SCOPE-GROUP-MISSING"),
            "{backend}: {e}"
        );
        assert!(
            store.list_apps().await.unwrap().is_empty(),
            "{backend}: nothing stored"
        );
        // Added: the app's schemas were read and the default mapping covers them.
        let added = admin
            .add_app("crm", AppConfig::new(&target.url), secret())
            .await
            .unwrap();
        assert_eq!(added.schema, SchemaCheck::Checked, "{backend}");
        // Edited: turned off, audited as such; a stale version is refused.
        let mut off = added.config.clone();
        off.enabled = false;
        let edited = admin.edit_app("crm", off.clone(), None, None).await.unwrap();
        assert_eq!(
            (edited.version, edited.schema.clone(), edited.due, edited.released),
            (2, SchemaCheck::NotAsked, 0, false),
            "{backend}"
        );
        let e = admin.edit_app("crm", off, None, Some(1)).await.unwrap_err();
        assert_eq!(e.failure, Failure::Conflict, "{backend}: a stale version: {e}");
        // Removed, then gone.
        admin.remove_app("crm").await.unwrap();
        let e = admin.remove_app("crm").await.unwrap_err();
        assert_eq!(e.failure, Failure::NotFound, "{backend}: {e}");
        let audit = store.list_audit(None, 100).await.unwrap();
        let actions: Vec<AuditAction> = audit.iter().map(|a| a.action).collect();
        assert_eq!(
            actions,
            [
                AuditAction::AppAdd,
                AuditAction::AppDisable,
                AuditAction::AppRemove
            ],
            "{backend}"
        );
        let text = serde_json::to_string(&audit.iter().map(|a| &a.change).collect::<Vec<_>>()).unwrap();
        assert!(!text.contains(&target.token), "{backend}: never the credential");
        assert!(audit.iter().all(|a| a.actor == "token:console"), "{backend}");
    });
    target.stop().await;
}

/// `roster sync` as one call: a dry run plans and writes nothing, a sync pushes what changed and says what
/// waits, a full dry run finds nothing to do after it, and a quarantined app is refused with its code.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_reports_its_plan_and_its_summary_and_refuses_a_quarantined_app() {
    use roster_admin::sync::{SyncEvent, SyncRequest};
    use roster_engine::config::AppConfig;
    use roster_store::Secret;
    let target = roster_testkit::Target::spawn().await;
    on_every_backend!(|store, backend| {
        let admin = Admin::new(store.clone(), "os:alice");
        let app = format!("crm-{backend}");
        admin
            .add_app(
                &app,
                AppConfig::new(&target.url),
                Some(Secret::new(target.token.clone())),
            )
            .await
            .unwrap();
        for n in ["a", "b"] {
            let mut user = Map::new();
            user.insert("userName".into(), json!(format!("{n}-{backend}@example.com")));
            store.create_resource(ResourceKind::User, user).await.unwrap();
        }
        let at_target = || async {
            roster_testkit::all(&target.store, ResourceKind::User)
                .await
                .into_iter()
                .filter(|u| u.data["userName"].as_str().is_some_and(|n| n.contains(backend)))
                .count()
        };

        // A dry run: both users planned (each said as an event), nothing sent, nothing audited.
        let mut planned = Vec::new();
        let dry = admin
            .sync(
                &app,
                SyncRequest {
                    full: false,
                    dry_run: true,
                },
                |e| {
                    if let SyncEvent::Object { result, .. } = e {
                        planned.push(result.action.name());
                    }
                },
            )
            .await
            .unwrap();
        assert_eq!((dry.pending, dry.planned), (2, 2), "{backend}: {dry:?}");
        assert_eq!(planned, ["create", "create"], "{backend}");
        assert_eq!(at_target().await, 0, "{backend}: a dry run sends nothing");

        // The sync: both created, nothing waits.
        let done = admin.sync(&app, SyncRequest::default(), |_| ()).await.unwrap();
        assert_eq!(done.synced, 2, "{backend}: {done:?}");
        assert!(done.changes_read >= 2, "{backend}: {done:?}");
        assert!(done.settled(), "{backend}: {done:?}");
        assert_eq!(at_target().await, 2, "{backend}");

        // A full dry run after it: every user seen, none would change.
        let full = admin
            .sync(
                &app,
                SyncRequest {
                    full: true,
                    dry_run: true,
                },
                |_| (),
            )
            .await
            .unwrap();
        let pass = full.pass.clone().unwrap();
        assert_eq!((pass.seen, full.planned), (2, 0), "{backend}: {full:?}");
        assert_eq!(pass.actions.get("none"), Some(&2), "{backend}: {pass:?}");

        // Quarantined: refused with the quarantine's code, as a conflict with the app's state.
        let until = roster_store::to_micros(time::OffsetDateTime::now_utc()) + 3_600_000_000;
        store
            .quarantine_app(&app, until, 1, "R-TARGET-AUTH", "token revoked")
            .await
            .unwrap();
        let e = admin
            .sync(&app, SyncRequest::default(), |_| ())
            .await
            .unwrap_err();
        assert_eq!(
            (e.failure, e.code.code, e.exit_code(), e.http_status()),
            (Failure::Conflict, "R-APP-QUARANTINED", 4, 409),
            "{backend}: {e}"
        );
        assert!(
            e.message.contains("R-TARGET-AUTH") && e.message.contains("roster app release"),
            "{backend}: {e}"
        );
        let waiting = admin.waiting(&app).await.unwrap();
        assert_eq!(
            waiting.quarantine,
            Some(("R-TARGET-AUTH".to_owned(), "token revoked".to_owned())),
            "{backend}"
        );

        let actions: Vec<AuditAction> = store
            .list_audit(None, 100)
            .await
            .unwrap()
            .iter()
            .map(|a| a.action)
            .collect();
        assert_eq!(
            actions,
            [AuditAction::AppAdd, AuditAction::Sync],
            "{backend}: dry runs and a refused sync audit nothing"
        );
    });
    target.stop().await;
}
