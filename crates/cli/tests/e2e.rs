//! End-to-end: the real `roster` binary. Tokens print as documented, `roster serve` answers `/healthz` and SCIM
//! requests, and stops cleanly on SIGTERM; CLI mistakes are errors that say what to fix.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed unwrap is a failed test

use std::process::Command;
use std::time::{Duration, Instant};

mod common;

use common::{ROSTER, http};

#[test]
fn serve_token_scim_and_graceful_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("roster.db").display());

    let out = Command::new(ROSTER)
        .args(["token", "create", "--name", "e2e", "--database", &db])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "the token is alone on stdout: {stdout:?}");
    let token = lines[0].to_owned();
    assert!(token.starts_with("roster_"));
    assert!(String::from_utf8_lossy(&out.stderr).contains("shown only now"));

    let served = common::serve(&db, &[]);
    let mut served = served;
    let (addr, reader) = (served.addr.clone(), served.log.take().unwrap());
    let child = &mut served.child;

    let (status, _) = http(&addr, "GET", "/scim/v2/Users", None, None).unwrap();
    assert_eq!(status, 401);
    let user = r#"{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"e2e@example.com"}"#;
    let (status, body) = http(&addr, "POST", "/scim/v2/Users", Some(&token), Some(user)).unwrap();
    assert_eq!(status, 201, "{body}");
    let (status, body) = http(
        &addr,
        "GET",
        "/scim/v2/Users?filter=userName%20eq%20%22E2E@example.com%22",
        Some(&token),
        None,
    )
    .unwrap();
    assert_eq!(status, 200);
    assert!(body.contains("\"totalResults\":1"), "{body}");

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "roster serve did not stop after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "exit status {status}");
    let log = reader.join().unwrap();
    assert!(log.contains("shutting down") && log.contains("stopped"), "{log}");
    assert!(!log.contains(&token), "the token must never be logged");
}

#[test]
fn cli_mistakes_say_what_to_fix() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("r.db").display());
    let out = Command::new(ROSTER)
        .args(["token", "revoke", "nobody", "--database", &db])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no token named 'nobody'; see 'roster token list'")
    );

    let out = Command::new(ROSTER)
        .args(["serve", "--database", "mysql://root:hunter2@db/x"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("sqlite://PATH or postgres://") && !err.contains("hunter2"),
        "{err}"
    );

    let out = Command::new(ROSTER)
        .args(["scim", "filter", "userName eq"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalidFilter"));
}

#[test]
fn import_reports_bad_rows_and_is_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("r.db").display());
    let csv = dir.path().join("hr.csv");
    std::fs::write(&csv, "userName,name.givenName,groups\nann@example.com,Ann,Sales\n,NoName,\nben@example.com,Ben,Sales;Ops\n").unwrap();
    let run = || {
        Command::new(ROSTER)
            .args(["import", csv.to_str().unwrap(), "--database", &db])
            .output()
            .unwrap()
    };
    let out = run();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(1),
        "a skipped row makes the exit code 1: {err}"
    );
    assert!(
        err.contains("skipped line 3") && err.contains("2 created") && err.contains("3 memberships added"),
        "{err}"
    );
    let again = run();
    let err = String::from_utf8_lossy(&again.stderr);
    assert!(
        err.contains("0 created, 0 updated, 2 unchanged, 0 memberships added"),
        "{err}"
    );
    let missing = Command::new(ROSTER)
        .args(["import", "/nonexistent.csv", "--database", &db])
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("cannot read /nonexistent.csv"));
}

/// Japanese admins read causes and fixes in Japanese: from the locale, or `--lang ja`; commands stay typeable.
#[test]
fn explain_speaks_japanese_from_the_locale_or_when_asked() {
    let out = Command::new(ROSTER)
        .args(["explain", "R-TARGET-LIMIT"])
        .env_remove("ROSTER_LANG")
        .env_remove("LC_ALL")
        .env_remove("LC_MESSAGES")
        .env("LANG", "ja_JP.UTF-8")
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(out.status.success());
    assert!(
        text.starts_with("R-TARGET-LIMIT  アプリのライセンスまたはクォータが足りません")
            && text.contains("分類:")
            && text.contains("原因:")
            && text.contains("対処:"),
        "{text}"
    );
    // A Japanese message from Google's admin console (seed 000), explained in Japanese when asked.
    let out = common::roster(&[
        "explain",
        "--lang",
        "ja",
        "利用可能サービスのアカウントプロビジョニングに失敗しました",
    ]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.starts_with("R-TARGET-NOT-FOUND")
            && text.contains("意味:")
            && text.contains("完了として扱います"),
        "{text}"
    );
    let out = common::roster(&["explain", "--lang", "ja", "--list"]);
    let list = String::from_utf8(out.stdout).unwrap();
    assert!(list.contains("一時的") && list.contains("承認待ち"), "{list}");
    let out = common::roster(&["explain", "--lang", "ja", "the printer is on fire"]);
    assert!(String::from_utf8(out.stdout).unwrap().contains("認識できない"));
    // The same words in English when the locale says so.
    let out = Command::new(ROSTER)
        .args(["explain", "R-TARGET-LIMIT"])
        .env("ROSTER_LANG", "en")
        .env("LANG", "ja_JP.UTF-8")
        .output()
        .unwrap();
    assert!(String::from_utf8(out.stdout).unwrap().contains("out of licences"));
}

#[test]
fn explain_names_code_cause_and_fix_or_says_it_does_not_know() {
    let out = common::roster(&[
        "explain",
        "--lang",
        "en",
        "invalid (400) Invalid Input: INVALID_OU_ID",
    ]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(out.status.success());
    assert!(text.starts_with("R-TARGET-ORG-UNIT"), "{text}");
    assert!(
        text.contains("Google Workspace Directory API") && text.contains("fix:"),
        "{text}"
    );

    // From stdin, as JSON.
    let mut child = Command::new(ROSTER)
        .args(["explain", "--format", "json"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), b"User account is inactive").unwrap();
    let out = child.wait_with_output().unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["explanations"][0]["code"], "R-TARGET-INACTIVE");
    assert_eq!(v["explanations"][0]["recognised_as"], "Okta");

    let out = common::roster(&["explain", "the printer is on fire"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8(out.stdout)
            .unwrap()
            .contains("does not recognise")
    );

    let out = common::roster(&["explain", "--list"]);
    let list = String::from_utf8(out.stdout).unwrap();
    assert!(
        list.lines().count() >= 30 && list.contains("R-GUARD-DEPROVISIONS"),
        "{list}"
    );
}
