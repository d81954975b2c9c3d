//! A Google Workspace app from the command line: `roster app add --google-key-file`, `app show`, `app test`,
//! `app preview` and `roster sync` against the Directory API stand-in of the test kit.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed unwrap is a failed test

mod common;

use common::roster;
use roster_testkit::GoogleTarget;
use std::sync::Arc;

fn text(o: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_google_workspace_app_is_added_tested_previewed_and_synced() {
    let clock: roster_testkit::faults::TestClock = Arc::new(|| {
        i64::try_from(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_micros(),
        )
        .unwrap()
    });
    let gt = GoogleTarget::spawn("admin@example.com", clock).await;
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("roster.db").display());
    let people = dir.path().join("people.json");
    std::fs::write(
        &people,
        serde_json::json!([
            {"userName": "ada@example.com", "name": {"givenName": "Ada", "familyName": "Lovelace"},
             "emails": [{"value": "ada@example.com", "primary": true}]},
            {"userName": "alan@example.com", "name": {"givenName": "Alan", "familyName": "Turing"}}
        ])
        .to_string(),
    )
    .unwrap();
    let out = roster(&["import", people.to_str().unwrap(), "--database", &db]);
    assert!(out.status.success(), "{}", text(&out));
    let key = dir.path().join("sa.json");
    std::fs::write(&key, gt.key_json()).unwrap();
    let key = key.to_str().unwrap();

    // Mistakes are named before anything is stored.
    let bad_key = dir.path().join("bad.json");
    std::fs::write(&bad_key, "{\"type\": \"authorized_user\"}").unwrap();
    for (args, says) in [
        (
            vec!["--google-admin", "admin@example.com"],
            "needs --google-key-file",
        ),
        (
            vec!["--google-key-file", key, "--google-admin", "admin"],
            "email address of a super admin",
        ),
        (
            vec![
                "--google-key-file",
                bad_key.to_str().unwrap(),
                "--google-admin",
                "admin@example.com",
            ],
            "not of type 'service_account'",
        ),
        (
            vec![
                "--google-key-file",
                key,
                "--google-admin",
                "admin@example.com",
                "--scim-url",
                "http://x",
            ],
            "cannot be used with",
        ),
    ] {
        let mut all = vec!["app", "add", "gws"];
        all.extend(args);
        all.extend(["--database", &db]);
        let out = roster(&all);
        assert!(!out.status.success());
        assert!(text(&out).contains(says), "{all:?}: {}", text(&out));
    }

    let out = roster(&[
        "app",
        "add",
        "gws",
        "--google-key-file",
        key,
        "--google-admin",
        "admin@example.com",
        "--google-url",
        &gt.url,
        "--reconcile-every-hours",
        "0",
        "--database",
        &db,
    ]);
    assert!(out.status.success(), "{}", text(&out));

    let show = text(&roster(&["app", "show", "gws", "--database", &db]));
    assert!(show.contains("Google Workspace Directory API"), "{show}");
    assert!(show.contains("acting as admin@example.com (protected)"), "{show}");
    assert!(!show.contains("PRIVATE KEY"), "{show}");

    let out = roster(&["app", "test", "gws", "--database", &db]);
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(t.contains("Google issued a token"), "{t}");
    assert!(t.contains("every mapped attribute exists"), "{t}");

    let out = roster(&[
        "app",
        "preview",
        "gws",
        "--user",
        "ada@example.com",
        "--database",
        &db,
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let body: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(body["primaryEmail"], "ada@example.com");
    assert_eq!(body["name"]["familyName"], "Lovelace");
    assert_eq!(body["password"], "[random, made at create]");

    let out = roster(&["sync", "gws", "--full", "--database", &db]);
    assert!(out.status.success(), "{}", text(&out));
    let mut emails: Vec<String> = gt
        .users()
        .iter()
        .map(|u| u["primaryEmail"].as_str().unwrap().to_owned())
        .collect();
    emails.sort();
    assert_eq!(
        emails,
        ["ada@example.com", "admin@example.com", "alan@example.com"]
    );

    // Delegation revoked in the Admin console: app test names it.
    gt.refuse_tokens(Some((
        401,
        "unauthorized_client",
        "Client is unauthorized to retrieve access tokens using this method, or client not authorized for any of the scopes requested.",
    )));
    let out = roster(&["app", "test", "gws", "--database", &db]);
    let t = text(&out);
    assert!(!out.status.success(), "{t}");
    assert!(
        t.contains("R-TARGET-OAUTH-SCOPE") && t.contains("domain-wide delegation"),
        "{t}"
    );
    assert!(!t.contains("PRIVATE KEY"), "{t}");
    gt.stop();
}
