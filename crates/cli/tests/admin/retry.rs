//! A fix takes effect at once: `roster app edit` makes what failed due again (and lifts a quarantine its
//! settings caused), `roster retry` and `POST /api/v1/apps/{name}/retry` retry now instead of after the
//! backoff (six hours for codes that need a person).

use crate::{Db, add_app, import_users, on_every_database, runtime, target_names, texts, wall_clock};
use roster_testkit::{Fault, FaultTarget};

/// The pending objects `roster app show` lists, one line each.
fn pending_lines(db: &Db) -> Vec<String> {
    let (out, _) = db.ok(&["app", "show", "crm"]);
    out.lines()
        .filter(|l| l.trim_start().starts_with("User "))
        .map(str::to_owned)
        .collect()
}

#[test]
fn an_edited_credential_is_used_at_once() {
    let rt = runtime();
    on_every_database(|db: &Db| {
        let ft = rt.block_on(FaultTarget::spawn(wall_clock()));
        let out = add_app(db, "crm", &ft.url, &ft.target.token, &["--concurrency", "1"]);
        assert!(out.status.success(), "{:?}", texts(&out));
        import_users(db, "e", 4);
        // The app refuses roster's token: each round asks once, three refusals quarantine it.
        ft.add(Fault::scim(
            "GET",
            "/Users",
            401,
            None,
            "token revoked",
            usize::MAX,
        ));
        let out = db.roster(&["sync", "crm"]);
        let (_, stderr) = texts(&out);
        assert!(!out.status.success());
        assert!(
            stderr.contains("quarantined") && stderr.contains("R-TARGET-AUTH"),
            "{stderr}"
        );
        // The admin makes a new token at the app (the fault ends) and gives it to roster.
        ft.clear();
        let token = db.file("good.token", &format!("{}\n", ft.target.token));
        let (_, stderr) = db.ok(&["app", "edit", "crm", "--token-file", token.to_str().unwrap()]);
        assert!(stderr.contains("failed object(s) are due again now"), "{stderr}");
        assert!(stderr.contains("quarantine of 'crm' is lifted"), "{stderr}");
        let (_, stderr) = db.ok(&["sync", "crm"]);
        assert!(stderr.contains("4 object(s) synced"), "{stderr}");
        assert_eq!(target_names(&rt, &ft.target).len(), 4);
        rt.block_on(ft.stop());
    });
}

/// An app `crm` on a fault target that refuses every create with a 400 (a cause a person must fix, so each
/// waits six hours), `n` users imported, and a `roster sync` that failed on them.
fn refused_creates(rt: &tokio::runtime::Runtime, db: &Db, prefix: &str, n: usize) -> FaultTarget {
    let ft = rt.block_on(FaultTarget::spawn(wall_clock()));
    let out = add_app(
        db,
        "crm",
        &ft.url,
        &ft.target.token,
        &["--concurrency", "1", "--bulk", "false"],
    );
    assert!(out.status.success(), "{:?}", texts(&out));
    import_users(db, prefix, n);
    ft.add(Fault::scim(
        "POST",
        "/Users",
        400,
        Some("invalidValue"),
        "department is required",
        usize::MAX,
    ));
    assert!(!db.roster(&["sync", "crm"]).status.success());
    ft
}

#[test]
fn retry_runs_what_waited_for_a_person_now() {
    let rt = runtime();
    on_every_database(|db: &Db| {
        let ft = refused_creates(&rt, db, "p", 3);
        let waiting = pending_lines(db);
        assert_eq!(waiting.len(), 3, "{waiting:?}");
        // Fixed at the app: retry one object by userName first, then the rest by code.
        ft.clear();
        let (_, stderr) = db.ok(&["retry", "crm", "--object", "p0@example.com"]);
        assert!(stderr.contains("1 object(s) of crm due now"), "{stderr}");
        // The other two still wait for their six hours: the sync says so and fails.
        let out = db.roster(&["sync", "crm"]);
        let (_, stderr) = texts(&out);
        assert!(!out.status.success());
        // What still fails is named by userName, in the sync's summary and in the log.
        assert!(
            stderr.contains("User p1@example.com (R-TARGET-MISSING-VALUE"),
            "{stderr}"
        );
        let (log, _) = db.ok(&["log", "crm", "--failures"]);
        assert!(
            log.contains("p1@example.com") && log.contains("p2@example.com"),
            "{log}"
        );
        let (json, _) = db.ok(&["log", "crm", "--failures", "--format", "json"]);
        assert!(json.contains("\"name\":\"p1@example.com\""), "{json}");
        assert!(
            stderr.contains("1 object(s) synced") && stderr.contains("2 object(s) still failing"),
            "{stderr}"
        );
        assert_eq!(target_names(&rt, &ft.target), ["p0@example.com"]);
        let (_, stderr) = db.ok(&["retry", "crm", "--code", "R-TARGET-MISSING-VALUE"]);
        assert!(stderr.contains("2 object(s) of crm due now"), "{stderr}");
        db.ok(&["sync", "crm"]);
        assert_eq!(target_names(&rt, &ft.target).len(), 3);
        // What an admin mistypes is named.
        let out = db.roster(&["retry", "crm", "--code", "R-NO-SUCH"]);
        assert!(!out.status.success());
        assert!(texts(&out).1.contains("not a roster code"), "{:?}", texts(&out));
        let out = db.roster(&["retry", "crm", "--object", "nobody@example.com"]);
        assert!(texts(&out).1.contains("no user or group 'nobody@example.com'"));
        let (audit, _) = db.ok(&["audit", "--format", "json"]);
        assert_eq!(audit.matches("\"retry\"").count(), 2, "{audit}");
        rt.block_on(ft.stop());
    });
}

#[test]
fn the_api_retries_and_is_audited() {
    let rt = runtime();
    on_every_database(|db: &Db| {
        let ft = refused_creates(&rt, db, "a", 2);
        ft.clear();
        let (admin, _) = db.ok(&["token", "create", "--name", "console", "--scope", "admin"]);
        let served = crate::serve_db(db, false);
        let post = |body: &str| {
            crate::common::http(
                &served.addr,
                "POST",
                "/api/v1/apps/crm/retry",
                Some(admin.trim()),
                Some(body),
            )
            .unwrap()
        };
        let (status, body) = post(r#"{"code": "R-TARGET-AUTH"}"#);
        assert_eq!(status, 200, "{body}");
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&body).unwrap()["due"],
            0,
            "another code"
        );
        let (status, body) = post("{}");
        assert_eq!(status, 200, "{body}");
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&body).unwrap()["due"],
            2
        );
        let (status, body) = post(r#"{"code": 7}"#);
        assert_eq!(status, 400, "{body}");
        let (status, _) = post(r#"{"colour": "red"}"#);
        assert_eq!(status, 400);
        let (status, _) = crate::common::http(
            &served.addr,
            "POST",
            "/api/v1/apps/nope/retry",
            Some(admin.trim()),
            Some("{}"),
        )
        .unwrap();
        assert_eq!(status, 404);
        // What `roster app test` checks, over the API: the same calls, as JSON.
        let get =
            |path: &str| crate::common::http(&served.addr, "GET", path, Some(admin.trim()), None).unwrap();
        let (status, body) = get("/api/v1/apps/crm/test");
        assert_eq!(status, 200, "{body}");
        let report: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(report["passed"], true, "{report}");
        assert!(
            report["checks"]
                .as_array()
                .unwrap()
                .iter()
                .any(|c| c["result"] == "ok" && c["text"] == "reachable, credential accepted"),
            "{report}"
        );
        assert_eq!(get("/api/v1/apps/nope/test").0, 404);
        drop(served);
        db.ok(&["sync", "crm"]);
        assert_eq!(target_names(&rt, &ft.target).len(), 2);
        let (audit, _) = db.ok(&["audit", "--format", "json"]);
        assert!(audit.contains("token:console"), "{audit}");
        rt.block_on(ft.stop());
    });
}
