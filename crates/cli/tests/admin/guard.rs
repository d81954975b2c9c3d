//! The deprovision guard stays quiet and exact with the binary: one log entry per held deprovision, a held list
//! with names (and `--format json`), and a discarded hold that another full sync does not hold again.

use crate::{Db, add_app, import_users, on_every_database, runtime, target_names, texts};

fn guard_entries(db: &Db) -> usize {
    let (log, _) = db.ok(&["log", "crm", "--code", "R-GUARD-DEPROVISIONS", "--format", "json"]);
    log.lines().count()
}

#[test]
fn held_deprovisions_are_listed_logged_once_and_stay_discarded() {
    let rt = runtime();
    on_every_database(|db: &Db| {
        let target = rt.block_on(roster_testkit::Target::spawn());
        import_users(db, "g", 4);
        let out = add_app(
            db,
            "crm",
            &target.url,
            &target.token,
            &["--max-deprovisions", "2", "--max-deprovision-percent", "0"],
        );
        assert!(out.status.success(), "{:?}", texts(&out));
        db.ok(&["sync", "crm", "--full"]);
        assert_eq!(target_names(&rt, &target).len(), 4);

        // A scope that shrinks by mistake: all four would be disabled; more than two, so all are held.
        db.ok(&["app", "edit", "crm", "--scope-filter", r#"title eq "nobody""#]);
        db.ok(&["sync", "crm", "--full"]);
        assert_eq!(guard_entries(db), 4, "one entry per held deprovision");
        db.ok(&["sync", "crm", "--full"]);
        assert_eq!(guard_entries(db), 4, "not one more per sync");
        let (list, _) = db.ok(&["approve", "crm", "--list", "--format", "json"]);
        let held: Vec<serde_json::Value> = list.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(held.len(), 4, "{list}");
        assert!(
            held.iter().all(|h| h["name"].as_str().unwrap().starts_with('g')),
            "{list}"
        );

        // Discarded: another full sync plans nothing for them and logs nothing.
        let (_, stderr) = db.ok(&["approve", "crm", "--discard"]);
        assert!(stderr.contains("Dropped 4"), "{stderr}");
        db.ok(&["sync", "crm", "--full"]);
        let (list, _) = db.ok(&["approve", "crm", "--list"]);
        assert!(list.is_empty(), "{list}");
        assert_eq!(guard_entries(db), 4);
        rt.block_on(target.stop());
    });
}
