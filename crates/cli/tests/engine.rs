//! End-to-end provisioning with the real binary: a target `roster serve`, a directory `roster serve`, an app
//! connected with `roster app add`, syncs killed half-way and restarted, and two processes sharing one
//! PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed unwrap is a failed test

mod common;

use common::{http, roster, serve, token, wait_for};
use std::process::{Command, Stdio};

fn total(addr: &str, tok: &str) -> u64 {
    let (s, body) = http(addr, "GET", "/scim/v2/Users?count=0", Some(tok), None).unwrap();
    assert_eq!(s, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    v["totalResults"].as_u64().unwrap()
}

/// Creates `n` users through `/Bulk` in batches.
fn seed(addr: &str, tok: &str, prefix: &str, n: usize) {
    for chunk in (0..n).collect::<Vec<_>>().chunks(200) {
        let ops: Vec<serde_json::Value> = chunk
            .iter()
            .map(|i| {
                serde_json::json!({"method": "POST", "path": "/Users", "bulkId": format!("b{i}"), "data": {
                    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                    "userName": format!("{prefix}{i}@example.com"),
                    "name": {"givenName": "User", "familyName": format!("{i}")},
                    "emails": [{"value": format!("{prefix}{i}@example.com"), "primary": true}]}})
            })
            .collect();
        let body = serde_json::json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"], "Operations": ops});
        let (s, b) = http(addr, "POST", "/scim/v2/Bulk", Some(tok), Some(&body.to_string())).unwrap();
        assert_eq!(s, 200, "{b}");
    }
}

/// Connects the app `crm` in `db` to the target at `addr`; the token goes through a file, as an admin would.
fn add_app(dir: &std::path::Path, addr: &str, ttok: &str, db: &str, extra: &[&str]) {
    let tok_file = dir.join("crm.token");
    std::fs::write(&tok_file, format!("{ttok}\n")).unwrap();
    let url = format!("http://{addr}/scim/v2");
    let out = roster(
        &[
            "app",
            "add",
            "crm",
            "--scim-url",
            &url,
            "--token-file",
            tok_file.to_str().unwrap(),
            "--database",
            db,
        ]
        .iter()
        .chain(extra)
        .copied()
        .collect::<Vec<_>>(),
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn connect_sync_kill_restart_and_change() {
    let dir = tempfile::tempdir().unwrap();
    let tdb = format!("sqlite://{}", dir.path().join("target.db").display());
    let sdb = format!("sqlite://{}", dir.path().join("source.db").display());
    let ttok = token(&tdb);
    let stok = token(&sdb);
    let target = serve(&tdb, &["--no-engine"]);
    add_app(dir.path(), &target.addr, &ttok, &sdb, &[]);
    let out = roster(&["app", "test", "crm", "--database", &sdb]);
    assert!(out.status.success(), "{}", stdout(&out));
    assert!(stdout(&out).contains("credential accepted"), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("every mapped attribute exists"),
        "{}",
        stdout(&out)
    );

    // The directory gets 400 users while no engine runs.
    let source = serve(&sdb, &["--no-engine"]);
    seed(&source.addr, &stok, "u", 400);
    let plan = roster(&["sync", "crm", "--dry-run", "--database", &sdb]);
    assert!(plan.status.success());
    assert_eq!(
        stdout(&plan).lines().filter(|l| l.starts_with("create")).count(),
        400,
        "the plan lists every create"
    );
    assert_eq!(total(&target.addr, &ttok), 0, "a dry run writes nothing");

    // A sync is killed half-way.
    let mut sync = Command::new(common::ROSTER)
        .args(["sync", "crm", "--database", &sdb])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for("the first accounts to arrive", 60, || {
        total(&target.addr, &ttok) >= 20
    });
    sync.kill().unwrap();
    sync.wait().unwrap();
    let at_kill = total(&target.addr, &ttok);
    eprintln!("killed the sync with {at_kill} of 400 accounts created");

    // The directory server restarts with the engine: everything arrives, once.
    let mut source_old = source;
    source_old.child.kill().unwrap();
    source_old.child.wait().unwrap();
    let mut source = serve(&sdb, &[]);
    wait_for("all 400 accounts", 90, || total(&target.addr, &ttok) == 400);
    wait_for("the queue to empty", 60, || {
        stdout(&roster(&["app", "show", "crm", "--database", &sdb])).contains("pending:      0")
    });
    let show = stdout(&roster(&["app", "show", "crm", "--database", &sdb]));
    assert!(show.contains("accounts:     400 active, 0 disabled"), "{show}");

    // A change in the directory arrives by itself.
    let (s, body) = http(
        &source.addr,
        "GET",
        "/scim/v2/Users?filter=userName%20eq%20%22u7@example.com%22",
        Some(&stok),
        None,
    )
    .unwrap();
    assert_eq!(s, 200);
    let id = serde_json::from_str::<serde_json::Value>(&body).unwrap()["Resources"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let patch = r#"{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"title","value":"Captain"}]}"#;
    let (s, _) = http(
        &source.addr,
        "PATCH",
        &format!("/scim/v2/Users/{id}"),
        Some(&stok),
        Some(patch),
    )
    .unwrap();
    assert_eq!(s, 200);
    wait_for("the change to reach the app", 30, || {
        let (_, b) = http(
            &target.addr,
            "GET",
            "/scim/v2/Users?filter=title%20eq%20%22Captain%22",
            Some(&ttok),
            None,
        )
        .unwrap();
        b.contains("u7@example.com")
    });

    // Nothing is left to do; the trace and the log explain what happened.
    let full = roster(&["sync", "crm", "--full", "--dry-run", "--database", &sdb]);
    assert!(full.status.success());
    assert_eq!(
        stdout(&full).trim(),
        "",
        "a full dry run after convergence plans nothing"
    );
    let trace = stdout(&roster(&[
        "provision",
        "crm",
        "--user",
        "u7@example.com",
        "--database",
        &sdb,
    ]));
    assert!(
        trace.contains("scope    in scope") && trace.contains("already matches"),
        "{trace}"
    );
    let csv = stdout(&roster(&[
        "log",
        "crm",
        "--format",
        "csv",
        "--limit",
        "1000",
        "--database",
        &sdb,
    ]));
    assert!(csv.starts_with("time,app,type,object,target,action,outcome"));
    // One user's recent entries, by userName, with the requests behind them.
    let detail = stdout(&roster(&[
        "log",
        "crm",
        "--object",
        "u7@example.com",
        "--since",
        "1h",
        "--detail",
        "--database",
        &sdb,
    ]));
    assert!(
        detail.contains("update") && detail.contains("→ PATCH /Users/") && detail.contains("Captain"),
        "{detail}"
    );
    assert!(
        detail
            .lines()
            .skip(1)
            .all(|l| l.starts_with("    ") || l.contains("u7@example.com")),
        "only u7's entries, named by userName: {detail}"
    );
    let future = stdout(&roster(&[
        "log",
        "crm",
        "--since",
        "2999-01-01T00:00:00Z",
        "--database",
        &sdb,
    ]));
    assert_eq!(future.lines().count(), 1, "only the header: {future}");
    assert!(csv.lines().count() >= 401, "one entry per account at least");
    let shown = roster(&["app", "show", "crm", "--database", &sdb]);
    for out in [&csv, &stdout(&shown), &trace] {
        assert!(!out.contains(&ttok), "the app's token is never printed");
    }
    source.child.kill().unwrap();
    let log = source.log.take().unwrap().join().unwrap();
    assert!(
        !log.contains(&ttok) && !log.contains(&stok),
        "no token in the server log"
    );
    let mut target = target;
    target.child.kill().unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn two_processes_share_one_postgres() {
    let Some((pg, schema)) = roster_testkit::pg_schema_url().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let tdb = format!("sqlite://{}", dir.path().join("target.db").display());
    let ttok = token(&tdb);
    let stok = token(&pg);
    let mut target = serve(&tdb, &["--no-engine"]);
    // Both processes seal and open the app's credential with one key file.
    let key = dir.path().join("shared.key");
    let key_flag = ["--secret-key-file", key.to_str().unwrap()];
    add_app(dir.path(), &target.addr, &ttok, &pg, &key_flag);
    let mut a = serve(&pg, &key_flag);
    let mut b = serve(&pg, &key_flag);
    seed(&a.addr, &stok, "a", 150);
    seed(&b.addr, &stok, "b", 150);
    wait_for("all 300 accounts", 90, || total(&target.addr, &ttok) == 300);
    wait_for("the queue to empty", 60, || {
        stdout(&roster(&["app", "show", "crm", "--database", &pg])).contains("pending:      0")
    });
    let log = stdout(&roster(&[
        "log",
        "crm",
        "--format",
        "json",
        "--limit",
        "10000",
        "--database",
        &pg,
    ]));
    let entries: Vec<serde_json::Value> = log.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let creates = entries
        .iter()
        .filter(|e| e["action"] == "create" && e["outcome"] == "ok")
        .count();
    let failed = entries.iter().filter(|e| e["outcome"] == "failed").count();
    assert_eq!(
        (creates, failed),
        (300, 0),
        "each account created exactly once, by one of the two processes"
    );
    for s in [&mut a, &mut b, &mut target] {
        s.child.kill().unwrap();
        s.child.wait().unwrap();
    }
    roster_testkit::drop_schema(&schema).await;
}
