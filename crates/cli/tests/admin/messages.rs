//! Messages an admin can act on: an unknown app is named as such, a database that cannot be opened says why,
//! a token says which database it lives in, times are RFC 3339, listings have `--format json`, and a reader
//! that stops early (`| head`) does not make roster panic.

use crate::common::ROSTER;
use crate::{Db, on_every_database, texts};
use std::process::{Command, Stdio};

#[test]
fn messages_name_the_cause() {
    on_every_database(|db: &Db| {
        for args in [
            vec!["sync", "nope"],
            vec!["provision", "nope", "--user", "x"],
            vec!["app", "preview", "nope", "--user", "x"],
            vec!["retry", "nope"],
        ] {
            let out = db.roster(&args);
            let (_, stderr) = texts(&out);
            assert!(!out.status.success());
            assert!(stderr.contains("no app named 'nope'"), "{args:?}: {stderr}");
            assert!(!stderr.contains("R-SCOPE-INVALID"), "{args:?}: {stderr}");
        }
        let (token, stderr) = db.ok(&["token", "create", "--name", "idp"]);
        assert!(token.trim().starts_with("roster_"), "{token}");
        assert!(
            stderr.contains("created in ") && stderr.contains("Only a roster serve on this database"),
            "{stderr}"
        );
        let (json, _) = db.ok(&["token", "list", "--format", "json"]);
        let line: serde_json::Value = serde_json::from_str(json.lines().next().unwrap()).unwrap();
        assert_eq!(line["name"], "idp");
        let created = line["created"].as_str().unwrap();
        assert!(
            created.ends_with('Z') && created.contains('T'),
            "RFC 3339: {created}"
        );
        let (table, _) = db.ok(&["token", "list"]);
        assert!(!table.contains("+00:00:00"), "{table}");
    });
}

#[test]
fn databases_that_cannot_be_opened_say_why() {
    let dir = tempfile::tempdir().unwrap();
    let missing = format!("sqlite://{}/no/such/folder/roster.db", dir.path().display());
    for (url, why) in [
        (missing.as_str(), "does not exist; create it"),
        (
            "mysql://db.example.com/roster",
            "use sqlite://PATH or postgres://",
        ),
    ] {
        let out = Command::new(ROSTER)
            .args(["token", "list", "--database", url])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(why), "{url}: {stderr}");
        assert!(
            !stderr.contains("invalidValue") && !stderr.contains("400"),
            "{url}: {stderr}"
        );
    }
}

#[test]
fn a_reader_that_stops_early_ends_roster_quietly() {
    on_every_database(|db: &Db| {
        let mut cmd = Command::new(ROSTER);
        cmd.args(["token", "list"]).env("ROSTER_DATABASE_URL", &db.url);
        if let Some(k) = &db.key {
            cmd.env("ROSTER_SECRET_KEY_FILE", k);
        }
        for i in 0..3 {
            db.ok(&["token", "create", "--name", &format!("t{i}")]);
        }
        // The reading end is closed before roster writes.
        let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    });
}
