//! The audit log: admin actions recorded, append-only.

use super::*;

/// Admin actions are in an append-only audit log with who, what and the change (never a secret), readable as
/// a table, CSV or JSON.
#[test]
fn admin_actions_are_audited_append_only() {
    let dir = tempfile::tempdir().unwrap();
    let (dbs, schemas) = databases(&dir);
    let token_file = dir.path().join("t.token");
    std::fs::write(&token_file, "canary-audit-secret\n").unwrap();
    let tf = token_file.to_str().unwrap();
    let csv = dir.path().join("people.csv");
    std::fs::write(&csv, "userName,name.givenName\nada@example.com,Ada\n").unwrap();
    for (backend, db) in &dbs {
        eprintln!("-- on {backend}");
        let key = dir.path().join(format!("{backend}-audit.key"));
        let key_s = key.to_str().unwrap().to_owned();
        let run = |args: &[&str]| {
            let mut all: Vec<&str> = args.to_vec();
            all.extend(["--database", db, "--secret-key-file", &key_s]);
            let out = roster(&all);
            assert!(
                out.status.success(),
                "{args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8_lossy(&out.stdout).into_owned()
        };
        let secret = run(&["token", "create", "--name", "okta"]);
        run(&["token", "revoke", "okta"]);
        run(&[
            "app",
            "add",
            "crm",
            "--scim-url",
            "http://127.0.0.1:9/scim/v2",
            "--token-file",
            tf,
        ]);
        run(&["app", "edit", "crm", "--token-file", tf, "--concurrency", "2"]);
        run(&["app", "edit", "crm", "--enabled", "false"]);
        run(&["app", "edit", "crm", "--enabled", "true", "--concurrency", "3"]);
        run(&["import", csv.to_str().unwrap()]);
        run(&["secrets", "rotate"]);
        run(&["app", "remove", "crm"]);
        let lines = run(&["audit", "--format", "json", "--since", "1h"]);
        let entries: Vec<Value> = lines.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        let actions: Vec<&str> = entries.iter().map(|e| e["action"].as_str().unwrap()).collect();
        assert_eq!(
            actions,
            [
                "token.create",
                "token.revoke",
                "app.add",
                "app.edit",
                "app.disable",
                "app.enable",
                "import",
                "secrets.rotate",
                "app.remove"
            ]
        );
        assert!(
            entries
                .iter()
                .all(|e| e["who"].as_str().unwrap().starts_with("os:"))
        );
        let edit = &entries[3];
        assert_eq!(edit["target"], "crm");
        assert_eq!(edit["change"]["credential"], "replaced");
        assert_ne!(
            edit["change"]["before"]["concurrency"],
            edit["change"]["after"]["concurrency"]
        );
        assert_eq!(entries[5]["change"]["after"]["concurrency"], 3);
        assert_eq!(entries[6]["change"]["created"], 1);
        assert!(!lines.contains("canary-audit-secret") && !lines.contains(secret.trim()));
        let table = run(&["audit"]);
        assert!(
            table.starts_with("TIME") && table.contains("app.remove"),
            "{table}"
        );
        let csv_out = run(&["audit", "--format", "csv"]);
        assert!(csv_out.starts_with("time,who,action,target,change"), "{csv_out}");
        assert_eq!(
            run(&["audit", "--format", "json", "--since", "2000-01-01T00:00:00Z"])
                .lines()
                .count(),
            9
        );

        // The database refuses to change or remove an entry.
        use sqlx::Connection as _;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            for q in [
                "UPDATE audit_log SET actor = 'someone else'",
                "DELETE FROM audit_log",
            ] {
                let err = if db.starts_with("postgres") {
                    let mut c = sqlx::PgConnection::connect(db).await.unwrap();
                    sqlx::query(q).execute(&mut c).await.unwrap_err()
                } else {
                    let mut c = sqlx::SqliteConnection::connect(db).await.unwrap();
                    sqlx::query(q).execute(&mut c).await.unwrap_err()
                };
                assert!(err.to_string().contains("append-only"), "{q}: {err}");
            }
        });
    }
    drop_schemas(schemas);
}
