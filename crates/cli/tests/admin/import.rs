//! `roster import` never corrupts data: a broken file is refused whole with its lines and exit 1, and
//! `--dry-run` says what would change without writing.

use crate::{Db, on_every_database, texts};

#[test]
fn a_broken_file_writes_nothing_and_a_dry_run_writes_nothing() {
    on_every_database(|db: &Db| {
        let broken = db.file(
            "broken.csv",
            "userName,name.givenName,name.familyName\nann@example.com,\"Ann,Lee\nbob@example.com,Bob,Ito\nmo@example.com,Mo,Li\n",
        );
        let out = db.roster(&["import", broken.to_str().unwrap()]);
        let (_, stderr) = texts(&out);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(
            stderr.contains("error line 2:") && stderr.contains("a quote left open?"),
            "{stderr}"
        );
        assert!(stderr.contains("Nothing was imported"), "{stderr}");
        let (users, _) = db.ok(&["audit", "--format", "json"]);
        assert!(
            !users.contains("\"import\""),
            "a refused import is not an admin action that happened: {users}"
        );

        let good = db.file(
            "good.csv",
            "userName,name.givenName,groups\nann@example.com,Ann,Sales\nbob@example.com,Bob,\n",
        );
        let (plan, stderr) = db.ok(&["import", good.to_str().unwrap(), "--dry-run"]);
        assert_eq!(
            plan.lines().collect::<Vec<_>>(),
            [
                "create line 2: User ann@example.com",
                "create line 3: User bob@example.com"
            ]
        );
        assert!(
            stderr.contains("2 to create") && stderr.contains("nothing was written"),
            "{stderr}"
        );
        // Nothing was written: the real import still creates both.
        let (_, stderr) = db.ok(&["import", good.to_str().unwrap()]);
        assert!(stderr.contains("2 created"), "{stderr}");

        // A long import says how far it is (off a terminal: a summary line at most every ten seconds).
        let mut csv = String::from("userName\n");
        for i in 0..1100 {
            csv.push_str(&format!("bulk{i}@example.com\n"));
        }
        let long = db.file("long.csv", &csv);
        let (_, stderr) = db.ok(&["import", long.to_str().unwrap()]);
        assert!(stderr.contains("import: 500 rows: 500 created"), "{stderr}");
        assert!(stderr.contains("1100 created"), "{stderr}");
    });
}
