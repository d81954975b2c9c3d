//! The operations API's apps, end to end: an app added, read, edited and removed over HTTP, a user previewed and
//! provisioned, a sync planned and run, each pushing into a second roster server on a loopback port; what is
//! refused, with which status and code; what the audit log says, in the token's name. SQLite (the admin calls
//! under these endpoints run on both databases in roster-admin's tests).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed unwrap is a failed test

use axum::body::Body;
use axum::http::{Request, header};
use http_body_util::BodyExt;
use roster_server::{AppState, ServerConfig, router};
use roster_store::{AuditAction, ResourceKind, Scope, Store};
use serde_json::{Value, json};
use tower::ServiceExt;

/// A SCIM target: roster's own server on a loopback port.
struct Target {
    url: String,
    token: String,
    store: Store,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
    _dir: tempfile::TempDir,
}

async fn target() -> Target {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::connect(&format!("sqlite://{}", dir.path().join("target.db").display()))
        .await
        .unwrap();
    let token = store.create_token("roster", Scope::Write).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/scim/v2", listener.local_addr().unwrap());
    let state = AppState::new(store.clone(), ServerConfig::new(url.clone()));
    let (stop, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        roster_server::run(listener, state, async {
            let _ = rx.await;
        })
        .await
        .unwrap();
    });
    Target {
        url,
        token,
        store,
        stop,
        task,
        _dir: dir,
    }
}

struct Roster {
    router: axum::Router,
    store: Store,
    admin: String,
    write: String,
    _dir: tempfile::TempDir,
}

async fn roster() -> Roster {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::connect(&format!("sqlite://{}", dir.path().join("r.db").display()))
        .await
        .unwrap();
    let admin = store.create_token("ops", Scope::Admin).await.unwrap();
    let write = store.create_token("idp", Scope::Write).await.unwrap();
    Roster {
        router: router(AppState::new(
            store.clone(),
            ServerConfig::new("http://roster.test/scim/v2"),
        )),
        store,
        admin,
        write,
        _dir: dir,
    }
}

impl Roster {
    /// The status, the Location header and the body (`Null` when empty) of a request with `token`.
    async fn call_as(
        &self,
        token: &str,
        method: &str,
        uri: &str,
        body: Option<Value>,
    ) -> (u16, Option<String>, Value) {
        let req = Request::builder()
            .method(method)
            .uri(uri)
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .header(header::CONTENT_TYPE, "application/json");
        let body = body.map_or_else(Body::empty, |b| Body::from(b.to_string()));
        let resp = self
            .router
            .clone()
            .oneshot(req.body(body).unwrap())
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let location = resp
            .headers()
            .get(header::LOCATION)
            .map(|v| v.to_str().unwrap().to_owned());
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap()
        };
        (status, location, body)
    }

    async fn call(&self, method: &str, uri: &str, body: Option<Value>) -> (u16, Value) {
        let (status, _, body) = self.call_as(&self.admin, method, uri, body).await;
        (status, body)
    }
}

/// The status and the roster code at the end of a SCIM error's detail.
fn refused(r: &(u16, Value)) -> (u16, String) {
    let detail = r.1["detail"].as_str().unwrap_or_default();
    let code = detail
        .rsplit_once('(')
        .map(|(_, c)| c.trim_end_matches(')').to_owned())
        .unwrap_or_default();
    (r.0, code)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apps_are_managed_synced_and_provisioned_over_the_admin_api() {
    let t = target().await;
    let r = roster().await;
    let settings = json!({"target": {"kind": "scim", "url": t.url}});
    let add = json!({"name": "crm", "settings": settings, "secret": t.token});

    // Refused before anything is stored: an identity provider's token, a setting roster does not know, no
    // credential, a field the endpoint does not take.
    let (status, _, _) = r
        .call_as(&r.write, "POST", "/api/v1/apps", Some(add.clone()))
        .await;
    assert_eq!(status, 403);
    let typo = json!({"name": "crm", "secret": t.token,
        "settings": {"target": {"kind": "scim", "url": t.url}, "guards": {"max_deprovison": 5}}});
    let e = r.call("POST", "/api/v1/apps", Some(typo)).await;
    assert_eq!(refused(&e), (400, "R-ADMIN-INVALID".to_owned()), "{}", e.1);
    assert!(
        e.1["detail"].as_str().unwrap().contains("guards.max_deprovison"),
        "{}",
        e.1
    );
    let e = r
        .call(
            "POST",
            "/api/v1/apps",
            Some(json!({"name": "crm", "settings": settings})),
        )
        .await;
    assert_eq!(e.0, 400, "{}", e.1);
    assert!(e.1["detail"].as_str().unwrap().contains("credential"), "{}", e.1);
    let e = r
        .call(
            "POST",
            "/api/v1/apps",
            Some(json!({"name": "crm", "settings": settings, "tokn": "x"})),
        )
        .await;
    assert_eq!(e.0, 400, "{}", e.1);
    assert!(r.store.list_apps().await.unwrap().is_empty(), "nothing stored");

    // Added (the app's schemas read), then a second add of the name is a conflict.
    let (status, location, added) = r
        .call_as(&r.admin, "POST", "/api/v1/apps", Some(add.clone()))
        .await;
    assert_eq!(status, 201, "{added}");
    assert_eq!(location.as_deref(), Some("/api/v1/apps/crm"));
    assert_eq!(added["schema"]["result"], "checked", "{added}");
    assert_eq!(added["settings"]["target"]["url"], t.url.as_str(), "{added}");
    let e = r.call("POST", "/api/v1/apps", Some(add)).await;
    assert_eq!(refused(&e), (409, "R-ADMIN-CONFLICT".to_owned()), "{}", e.1);
    let (status, shown) = r.call("GET", "/api/v1/apps/crm", None).await;
    assert_eq!((status, shown["version"].as_i64()), (200, Some(1)), "{shown}");
    assert!(
        !shown.to_string().contains(&t.token),
        "never the credential: {shown}"
    );
    assert_eq!(r.call("GET", "/api/v1/apps/nope", None).await.0, 404);

    // Two people in the directory.
    for name in ["ann", "bob"] {
        let (status, _, _) = r
            .call_as(
                &r.write,
                "POST",
                "/scim/v2/Users",
                Some(json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": name})),
            )
            .await;
        assert_eq!(status, 201);
    }
    let at_target = || async { t.store.count_resources(ResourceKind::User).await.unwrap() };

    // Previewed and planned: nothing sent.
    let (status, preview) = r.call("GET", "/api/v1/apps/crm/preview?user=ann", None).await;
    assert_eq!(status, 200, "{preview}");
    assert_eq!(
        (
            preview["body"]["userName"].as_str(),
            preview["plan"]["action"].as_str()
        ),
        (Some("ann"), Some("create"))
    );
    assert_eq!(r.call("GET", "/api/v1/apps/crm/preview", None).await.0, 400);
    assert_eq!(
        r.call("GET", "/api/v1/apps/crm/preview?user=nobody", None)
            .await
            .0,
        404
    );
    let (status, plan) = r
        .call("POST", "/api/v1/apps/crm/sync", Some(json!({"dryRun": true})))
        .await;
    assert_eq!(status, 200, "{plan}");
    assert_eq!(
        (
            plan["summary"]["planned"].as_u64(),
            plan["objects"].as_array().map(Vec::len)
        ),
        (Some(2), Some(2)),
        "{plan}"
    );
    assert_eq!(at_target().await, 0, "a plan sends nothing");

    // One user provisioned now, then the sync sends the other.
    let (status, done) = r
        .call("POST", "/api/v1/apps/crm/provision", Some(json!({"user": "ann"})))
        .await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(
        (done["action"].as_str(), done["succeeded"].as_bool()),
        (Some("create"), Some(true)),
        "{done}"
    );
    assert!(done["steps"].as_array().is_some_and(|s| !s.is_empty()), "{done}");
    assert_eq!(at_target().await, 1);
    let (status, synced) = r.call("POST", "/api/v1/apps/crm/sync", None).await;
    assert_eq!(status, 200, "{synced}");
    assert_eq!(synced["summary"]["settled"], true, "{synced}");
    assert!(synced["summary"]["synced"].as_u64() >= Some(1), "{synced}");
    assert_eq!(at_target().await, 2);
    let e = r
        .call("POST", "/api/v1/apps/crm/sync", Some(json!({"full": "yes"})))
        .await;
    assert_eq!(e.0, 400, "{}", e.1);

    // Edited against the version read; the same version again is a conflict with the change made since.
    let off = json!({"settings": {"target": {"kind": "scim", "url": t.url}, "enabled": false}, "version": 1});
    let (status, edited) = r.call("PUT", "/api/v1/apps/crm", Some(off.clone())).await;
    assert_eq!((status, edited["version"].as_i64()), (200, Some(2)), "{edited}");
    let e = r.call("PUT", "/api/v1/apps/crm", Some(off)).await;
    assert_eq!(refused(&e), (409, "R-ADMIN-CONFLICT".to_owned()), "{}", e.1);

    // Quarantined: a sync is refused with the quarantine's code.
    let until = roster_store::to_micros(time::OffsetDateTime::now_utc()) + 3_600_000_000;
    r.store
        .quarantine_app("crm", until, 1, "R-TARGET-AUTH", "token revoked")
        .await
        .unwrap();
    let e = r.call("POST", "/api/v1/apps/crm/sync", None).await;
    assert_eq!(refused(&e), (409, "R-APP-QUARANTINED".to_owned()), "{}", e.1);

    // Removed, then gone.
    assert_eq!(r.call("DELETE", "/api/v1/apps/crm", None).await.0, 204);
    assert_eq!(r.call("DELETE", "/api/v1/apps/crm", None).await.0, 404);

    let audit = r.store.list_audit(None, 100).await.unwrap();
    let actions: Vec<AuditAction> = audit.iter().map(|a| a.action).collect();
    assert_eq!(
        actions,
        [
            AuditAction::AppAdd,
            AuditAction::Provision,
            AuditAction::Sync,
            AuditAction::AppDisable,
            AuditAction::AppRemove
        ],
        "refusals, previews and plans audit nothing"
    );
    assert!(audit.iter().all(|a| a.actor == "token:ops"), "{audit:?}");
    let text = serde_json::to_string(&audit.iter().map(|a| &a.change).collect::<Vec<_>>()).unwrap();
    assert!(!text.contains(&t.token), "never the credential");

    let _ = t.stop.send(());
    t.task.await.unwrap();
}
