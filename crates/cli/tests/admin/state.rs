//! Health tells the truth: an app's state is the worst of its conditions, shown by `app list` (a column and
//! `--format json`), `app show` and `GET /api/v1/apps`, and a scope group deleted later is written into the
//! provisioning log once, not only into `roster serve`'s stderr.

use crate::common::{http, wait_for};
use crate::{Db, add_app, group_id, on_every_database, runtime, serve_db, texts, wall_clock};
use roster_testkit::{Fault, FaultTarget};

fn state_of(db: &Db, app: &str) -> serde_json::Value {
    let (list, _) = db.ok(&["app", "list", "--format", "json"]);
    list.lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|a| a["name"] == app)
        .unwrap()["state"]
        .clone()
}

#[test]
fn the_state_is_the_worst_condition_and_a_lost_scope_group_is_logged() {
    let rt = runtime();
    on_every_database(|db: &Db| {
        let ft = rt.block_on(FaultTarget::spawn(wall_clock()));
        let csv = db.file(
            "people.csv",
            "userName,groups\nsam@example.com,Sales\nsue@example.com,Sales\n",
        );
        db.ok(&["import", csv.to_str().unwrap()]);
        let out = add_app(
            db,
            "crm",
            &ft.url,
            &ft.target.token,
            &["--scope-group", "Sales", "--bulk", "false"],
        );
        assert!(out.status.success(), "{:?}", texts(&out));
        assert_eq!(state_of(db, "crm")["state"], "healthy");

        // Creates refused for a cause a person must fix: the app is not "healthy" while they wait six hours.
        ft.add(Fault::scim(
            "POST",
            "/Users",
            400,
            Some("invalidValue"),
            "department is required",
            usize::MAX,
        ));
        assert!(!db.roster(&["sync", "crm", "--full"]).status.success());
        let state = state_of(db, "crm");
        assert_eq!(state["state"], "needs-person", "{state}");
        let c = &state["conditions"][0];
        assert_eq!(
            (c["code"].as_str(), c["count"].as_i64()),
            (Some("R-TARGET-MISSING-VALUE"), Some(2)),
            "{state}"
        );
        assert!(c["until"].as_str().is_some() && c["detail"].as_str().unwrap().contains("roster retry crm"));
        let (table, _) = db.ok(&["app", "list"]);
        assert!(
            table
                .lines()
                .any(|l| l.starts_with("crm ") && l.contains("needs-person")),
            "{table}"
        );
        let (show, _) = db.ok(&["app", "show", "crm"]);
        assert!(show.contains("state:        needs-person"), "{show}");

        // The scope group is deleted in the directory: the worst condition now, and in the provisioning log once.
        let (write, _) = db.ok(&["token", "create", "--name", "idp"]);
        let (admin, _) = db.ok(&["token", "create", "--name", "console", "--scope", "admin"]);
        let served = serve_db(db, true);
        let id = group_id(&served.addr, write.trim(), "Sales");
        let (status, _) = http(
            &served.addr,
            "DELETE",
            &format!("/scim/v2/Groups/{id}"),
            Some(write.trim()),
            None,
        )
        .unwrap();
        assert_eq!(status, 204);
        let logged = || {
            let (log, _) = db.ok(&[
                "log",
                "crm",
                "--code",
                "R-SCOPE-GROUP-MISSING",
                "--format",
                "json",
            ]);
            log.lines().count()
        };
        wait_for("the engine to log the missing scope group", 30, || logged() > 0);
        let (_, apps) = http(&served.addr, "GET", "/api/v1/apps", Some(admin.trim()), None).unwrap();
        let apps: serde_json::Value = serde_json::from_str(&apps).unwrap();
        assert_eq!(apps[0]["state"]["state"], "scope-broken", "{apps}");
        drop(served);
        assert_eq!(logged(), 1, "once, not once per round");
        assert_eq!(state_of(db, "crm")["state"], "scope-broken");
        rt.block_on(ft.stop());
    });
}
