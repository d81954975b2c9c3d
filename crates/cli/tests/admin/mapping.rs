//! The mapping cannot silently break creates: `--map` changes the default mapping rule by rule (the README's
//! example keeps userName, emails and active), and a rule that reads an attribute the directory does not have,
//! or a mapping without the userName every create needs, is refused with `R-MAPPING-INVALID`.

use crate::{Db, add_app, on_every_database, runtime, texts};

#[test]
fn map_adds_to_the_default_and_bad_rules_are_refused() {
    let rt = runtime();
    on_every_database(|db: &Db| {
        let target = rt.block_on(roster_testkit::Target::spawn());
        let csv = db.file(
            "people.csv",
            "userName,name.givenName,name.familyName,title\nann@example.com,Ann,Lee,Engineer\n",
        );
        db.ok(&["import", csv.to_str().unwrap()]);
        // The README's example.
        let out = add_app(
            db,
            "crm",
            &target.url,
            &target.token,
            &[
                "--map",
                r#"displayName=concat(name.givenName, " ", name.familyName)"#,
            ],
        );
        assert!(out.status.success(), "{:?}", texts(&out));
        let (payload, _) = db.ok(&["app", "preview", "crm", "--user", "ann@example.com"]);
        let payload: serde_json::Value = serde_json::from_str(&payload).unwrap();
        assert_eq!(payload["userName"], "ann@example.com", "{payload}");
        assert_eq!(payload["displayName"], "Ann Lee", "{payload}");
        assert_eq!(payload["active"], true, "{payload}");
        assert_eq!(payload["title"], "Engineer", "{payload}");

        // A typo in a source is refused at add and at edit, naming the rule and the likely attribute.
        for args in [
            vec!["--map", "userName=usrName"],
            vec![
                "--map",
                r#"displayName=concat(name.givenNme, " ", name.familyName)"#,
            ],
        ] {
            let out = add_app(db, "bad", &target.url, &target.token, &args);
            let (_, stderr) = texts(&out);
            assert!(!out.status.success(), "{args:?}");
            assert!(stderr.contains("R-MAPPING-INVALID"), "{stderr}");
        }
        let out = add_app(
            db,
            "bad",
            &target.url,
            &target.token,
            &["--map", "userName=usrName"],
        );
        assert!(
            texts(&out).1.contains("did you mean userName?"),
            "{:?}",
            texts(&out)
        );
        let out = db.roster(&["app", "edit", "crm", "--map", "title=titel"]);
        assert!(!out.status.success());
        assert!(texts(&out).1.contains("'titel'"), "{:?}", texts(&out));
        // A mapping without userName: every create would fail at the app.
        let out = add_app(
            db,
            "bad",
            &target.url,
            &target.token,
            &["--replace-mapping", "--map", "displayName=displayName"],
        );
        assert!(!out.status.success());
        assert!(texts(&out).1.contains("requires 'userName'"), "{:?}", texts(&out));
        let out = db.roster(&["app", "edit", "crm", "--unmap", "userName"]);
        assert!(!out.status.success());
        assert!(texts(&out).1.contains("requires 'userName'"), "{:?}", texts(&out));
        // Nothing refused was stored.
        let (list, _) = db.ok(&["app", "list"]);
        assert!(!list.contains("bad"), "{list}");
        // A rule is removed by --unmap, and app test checks the rest against the app's schemas.
        let (show, _) = db.ok(&["app", "show", "crm"]);
        assert!(show.contains("title = title"), "{show}");
        db.ok(&["app", "edit", "crm", "--unmap", "title"]);
        let (show, _) = db.ok(&["app", "show", "crm"]);
        assert!(
            show.contains("displayName") && !show.contains("title = title"),
            "{show}"
        );
        let (test, _) = db.ok(&["app", "test", "crm"]);
        assert!(test.contains("every mapped attribute exists"), "{test}");

        // Every listing speaks JSON for scripts.
        let json = |args: &[&str]| -> Vec<serde_json::Value> {
            let (out, _) = db.ok(args);
            out.lines()
                .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{args:?}: {e}: {l}")))
                .collect()
        };
        let show = &json(&["app", "show", "crm", "--format", "json"])[0];
        assert_eq!(show["name"], "crm");
        assert!(
            show["mapping"]
                .as_array()
                .unwrap()
                .iter()
                .any(|r| r.as_str().unwrap().starts_with("displayName = concat("))
        );
        assert!(show["settings"].get("token").is_none() && !show.to_string().contains(&target.token));
        let plan = json(&["sync", "crm", "--full", "--dry-run", "--format", "json"]);
        let (last, lines) = plan.split_last().unwrap();
        assert_eq!(last["summary"]["seen"], 1, "{plan:?}");
        assert_eq!(lines[0]["action"], "create", "{plan:?}");
        let provision = &json(&[
            "provision",
            "crm",
            "--user",
            "ann@example.com",
            "--format",
            "json",
        ])[0];
        assert_eq!(
            (provision["action"].as_str(), provision["outcome"].as_str()),
            (Some("create"), Some("ok")),
            "{provision}"
        );
        assert!(provision["steps"].as_array().unwrap().len() >= 3);
        let synced = json(&["sync", "crm", "--format", "json"]);
        assert_eq!(synced.last().unwrap()["summary"]["stillFailing"], 0, "{synced:?}");
        rt.block_on(target.stop());
    });
}

/// `app add` and a mapping change at `app edit` ask the app which attributes its schema requires: an app that
/// requires emails refuses a mapping without them before any create fails.
#[test]
fn attributes_the_apps_schema_requires_are_checked_at_add_and_edit() {
    let rt = runtime();
    on_every_database(|db: &Db| {
        let ft = rt.block_on(roster_testkit::FaultTarget::spawn(crate::wall_clock()));
        // The app's /Schemas as it serves them, with emails required.
        let schemas: serde_json::Value = rt.block_on(async {
            reqwest::Client::new()
                .get(format!("{}/Schemas", ft.target.url))
                .bearer_auth(&ft.target.token)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap()
        });
        let mut schemas = schemas;
        for s in schemas["Resources"].as_array_mut().unwrap() {
            for a in s["attributes"].as_array_mut().into_iter().flatten() {
                if a["name"] == "emails" {
                    a["required"] = serde_json::Value::Bool(true);
                }
            }
        }
        ft.add(roster_testkit::Fault::status(
            "GET",
            "/Schemas",
            200,
            &schemas.to_string(),
            usize::MAX,
        ));
        let out = add_app(
            db,
            "crm",
            &ft.url,
            &ft.target.token,
            &[
                "--replace-mapping",
                "--map",
                "userName=userName",
                "--map",
                "active=active",
            ],
        );
        let (_, stderr) = texts(&out);
        assert!(!out.status.success());
        assert!(
            stderr.contains("R-MAPPING-INVALID") && stderr.contains("requires 'emails'"),
            "{stderr}"
        );
        // With the default mapping (emails included) the app is added; removing emails is refused at edit.
        let out = add_app(db, "crm", &ft.url, &ft.target.token, &[]);
        assert!(out.status.success(), "{:?}", texts(&out));
        let out = db.roster(&["app", "edit", "crm", "--unmap", "emails"]);
        assert!(!out.status.success());
        assert!(texts(&out).1.contains("requires 'emails'"), "{:?}", texts(&out));
        // An app that cannot be asked now is added with a note.
        let out = add_app(db, "later", "http://127.0.0.1:9/scim/v2", "t", &[]);
        let (_, stderr) = texts(&out);
        assert!(out.status.success(), "{stderr}");
        assert!(stderr.contains("roster app test checks the mapping"), "{stderr}");
        rt.block_on(ft.stop());
    });
}
