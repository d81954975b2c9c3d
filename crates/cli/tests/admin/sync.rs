//! `roster sync` against an app that asks roster to wait: the CLI waits out the pause and says so; objects held
//! back by the pause are not attempts (no log entry, no failure count).

use crate::{Db, add_app, import_users, on_every_database, runtime, target_names, texts, wall_clock};
use roster_testkit::{Fault, FaultTarget};

#[test]
fn sync_waits_out_the_apps_pause_and_says_so() {
    let rt = runtime();
    on_every_database(|db: &Db| {
        let ft = rt.block_on(FaultTarget::spawn(wall_clock()));
        let out = add_app(db, "crm", &ft.url, &ft.target.token, &["--concurrency", "1"]);
        assert!(out.status.success(), "{:?}", texts(&out));
        import_users(db, "w", 6);
        // The first request about users is answered 429 with a second's wait.
        ft.add(Fault::scim("GET", "/Users", 429, None, "slow down", 1).retry_after("1"));
        let out = db.roster(&["sync", "crm"]);
        let (stdout, stderr) = texts(&out);
        assert!(out.status.success(), "{stderr}{stdout}");
        assert!(
            stderr.contains("asked roster to wait (Retry-After)"),
            "the wait is announced: {stderr}"
        );
        assert!(stderr.contains("6 object(s) synced"), "{stderr}");
        let names = target_names(&rt, &ft.target);
        assert_eq!(names.len(), 6, "{names:?}");
        // Nothing went out during the wait.
        let violations = ft.retry_after_violations(50_000);
        assert!(violations.is_empty(), "{violations:?}");
        // One log entry for the one 429; none for the objects that waited.
        let (log, _) = db.ok(&["log", "crm", "--failures", "--format", "json"]);
        let failures: Vec<&str> = log.lines().collect();
        assert_eq!(failures.len(), 1, "{log}");
        assert!(failures[0].contains("\"httpStatus\":429"), "{log}");
        // That entry is the pause's record: it says every request waits, and for how long.
        assert!(
            failures[0].contains("every request to the app waits 1 s (its Retry-After)"),
            "{log}"
        );

        // A full reconcile waits the same way, and ends with everything in sync.
        ft.add(Fault::scim("GET", "/Users", 429, None, "slow down", 2).retry_after("1"));
        let out = db.roster(&["sync", "crm", "--full"]);
        let (stdout, stderr) = texts(&out);
        assert!(out.status.success(), "{stderr}{stdout}");
        assert!(stderr.contains("Every object is in sync."), "{stderr}");
        assert!(stderr.contains("sync: 1/6 users"), "progress: {stderr}");
        assert!(ft.retry_after_violations(50_000).is_empty());
        assert_eq!(target_names(&rt, &ft.target).len(), 6);
        rt.block_on(ft.stop());
    });
}
