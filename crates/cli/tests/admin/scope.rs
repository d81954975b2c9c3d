//! Scope groups survive a rename: they are stored by id (given by name or id), shown by their current name, and
//! a group that does not exist is refused when the scope is set.

use crate::common::http;
use crate::{Db, add_app, group_id, on_every_database, runtime, serve_db, target_names, texts};

#[test]
fn a_renamed_scope_group_keeps_the_scope() {
    let rt = runtime();
    on_every_database(|db: &Db| {
        let target = rt.block_on(roster_testkit::Target::spawn());
        let csv = db.file(
            "people.csv",
            "userName,groups\nsam@example.com,Sales\nmia@example.com,Support\n",
        );
        db.ok(&["import", csv.to_str().unwrap()]);
        // A group that does not exist is refused, with the fix.
        let out = add_app(
            db,
            "crm",
            &target.url,
            &target.token,
            &["--scope-group", "Marketing"],
        );
        let (_, stderr) = texts(&out);
        assert!(!out.status.success());
        assert!(
            stderr.contains("R-SCOPE-GROUP-MISSING") && stderr.contains("'Marketing'"),
            "{stderr}"
        );
        let out = add_app(db, "crm", &target.url, &target.token, &["--scope-group", "sales"]);
        assert!(out.status.success(), "{:?}", texts(&out));
        let (show, _) = db.ok(&["app", "show", "crm"]);
        assert!(show.contains("members of Sales ("), "{show}");

        // The group is renamed through SCIM.
        let (write, _) = db.ok(&["token", "create", "--name", "idp"]);
        let served = serve_db(db, false);
        let id = group_id(&served.addr, write.trim(), "Sales");
        let patch = r#"{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations":[{"op":"replace","path":"displayName","value":"Sales Team"}]}"#;
        let (status, body) = http(
            &served.addr,
            "PATCH",
            &format!("/scim/v2/Groups/{id}"),
            Some(write.trim()),
            Some(patch),
        )
        .unwrap();
        assert_eq!(status, 204, "a group rename answers 204: {body}");
        drop(served);

        // The scope holds: shown by its new name, valid, and its member is provisioned.
        let (show, _) = db.ok(&["app", "show", "crm"]);
        assert!(show.contains(&format!("members of Sales Team ({id})")), "{show}");
        let (test, _) = db.ok(&["app", "test", "crm"]);
        assert!(test.contains("ok    scope and mapping are valid"), "{test}");
        db.ok(&["sync", "crm", "--full"]);
        assert_eq!(target_names(&rt, &target), ["sam@example.com"]);
        // By id works too.
        db.ok(&["app", "edit", "crm", "--scope-group", &id]);
        rt.block_on(target.stop());
    });
}
