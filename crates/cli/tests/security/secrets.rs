//! Secrets at rest: sealed credentials, key files and rotation; passwords neither filterable nor indexed.

use super::*;

/// Reads every stored credential straight from the database (what a person with the database file or a
/// database login sees).
fn stored_secrets(db: &str) -> Vec<String> {
    use sqlx::Connection as _;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        if db.starts_with("postgres") {
            let mut c = sqlx::PgConnection::connect(db).await.unwrap();
            sqlx::query_scalar("SELECT secret FROM apps WHERE secret IS NOT NULL")
                .fetch_all(&mut c)
                .await
                .unwrap()
        } else {
            let mut c = sqlx::SqliteConnection::connect(db).await.unwrap();
            sqlx::query_scalar("SELECT secret FROM apps WHERE secret IS NOT NULL")
                .fetch_all(&mut c)
                .await
                .unwrap()
        }
    })
}

fn set_stored_secret(db: &str, value: &str) {
    use sqlx::Connection as _;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let q = "UPDATE apps SET secret = $1";
        if db.starts_with("postgres") {
            let mut c = sqlx::PgConnection::connect(db).await.unwrap();
            sqlx::query(q).bind(value).execute(&mut c).await.unwrap();
        } else {
            let mut c = sqlx::SqliteConnection::connect(db).await.unwrap();
            sqlx::query(q).bind(value).execute(&mut c).await.unwrap();
        }
    });
}

/// An app's credential is sealed in the database under a key kept in a 0600 file (made on first use beside a
/// SQLite database; given by file on PostgreSQL): the token cannot be read from the database, the app works, a
/// wrong key is a clear error naming the file, rotation seals everything anew, and a credential stored in clear
/// by an older roster is sealed when roster next opens the database.
#[test]
fn credentials_are_sealed_at_rest() {
    let dir = tempfile::tempdir().unwrap();
    let (dbs, schemas) = databases(&dir);
    let tdb = format!("sqlite://{}", dir.path().join("target.db").display());
    let canary = token(&tdb, "write");
    let target = common::serve(&tdb, &["--no-engine"]);
    let url = format!("http://{}/scim/v2", target.addr);
    let token_file = dir.path().join("crm.token");
    std::fs::write(&token_file, format!("{canary}\n")).unwrap();
    for (backend, db) in &dbs {
        eprintln!("-- on {backend}");
        let key = if *backend == "sqlite" {
            dir.path().join("roster.db.key")
        } else {
            dir.path().join("postgres.key")
        };
        let key_s = key.to_str().unwrap().to_owned();
        let with_key = |args: &[&str]| -> std::process::Output {
            let mut all: Vec<&str> = args.to_vec();
            all.extend(["--database", db]);
            if *backend == "postgres" {
                all.extend(["--secret-key-file", &key_s]);
            }
            roster(&all)
        };
        if *backend == "postgres" {
            // PostgreSQL without a key file: a clear error, nothing stored.
            let out = add_app(db, "crm", &url, &token_file, &[]);
            assert!(!out.status.success());
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(err.contains("--secret-key-file"), "{err}");
        }
        let out = with_key(&[
            "app",
            "add",
            "crm",
            "--scim-url",
            &url,
            "--token-file",
            token_file.to_str().unwrap(),
        ]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("made a new secret key"),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            assert_eq!(
                std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
                0o600
            );
            if *backend == "sqlite" {
                let file = dir.path().join("roster.db");
                assert_eq!(
                    std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
                    0o600
                );
            }
        }
        let stored = stored_secrets(db);
        assert_eq!(stored.len(), 1);
        assert!(
            stored[0].starts_with("sealed:v1:") && !stored[0].contains(&canary),
            "{}",
            stored[0]
        );
        if *backend == "sqlite" {
            for f in ["roster.db", "roster.db-wal"] {
                let bytes = std::fs::read(dir.path().join(f)).unwrap_or_default();
                assert!(
                    !bytes.windows(canary.len()).any(|w| w == canary.as_bytes()),
                    "the token is readable in {f}"
                );
            }
        }
        let ok = |out: &std::process::Output| {
            assert!(
                out.status.success(),
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        };
        ok(&with_key(&["app", "test", "crm"]));

        // Another key: refused, naming the file; nothing re-keyed.
        let other = dir.path().join(format!("{backend}-other.key"));
        std::fs::write(&other, "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=\n").unwrap();
        let out = roster(&[
            "app",
            "test",
            "crm",
            "--database",
            db,
            "--secret-key-file",
            other.to_str().unwrap(),
        ]);
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(other.to_str().unwrap()) && err.contains("sealed under key"),
            "{err}"
        );
        assert_eq!(stored_secrets(db), stored);

        // Rotation: a new key in the file, every value sealed under it, the app still works.
        let before = std::fs::read_to_string(&key).unwrap();
        let out = with_key(&["secrets", "rotate"]);
        ok(&out);
        assert!(String::from_utf8_lossy(&out.stdout).contains("1 credential(s) sealed under key"));
        assert_ne!(std::fs::read_to_string(&key).unwrap(), before);
        let rotated = stored_secrets(db);
        assert_ne!(rotated, stored);
        assert!(rotated[0].starts_with("sealed:v1:") && !rotated[0].contains(&canary));
        ok(&with_key(&["app", "test", "crm"]));

        // A credential in clear (as an older roster stored it) is sealed when the database is next opened.
        set_stored_secret(db, &canary);
        ok(&with_key(&["app", "list"]));
        let resealed = stored_secrets(db);
        assert!(
            resealed[0].starts_with("sealed:v1:") && !resealed[0].contains(&canary),
            "{}",
            resealed[0]
        );
        ok(&with_key(&["app", "test", "crm"]));
    }
    drop(target);
    drop_schemas(schemas);
}

/// A password pushed by an identity provider is never returned, never filtered on (a filter would reveal it a
/// guess at a time), never indexed, and sealed where it is kept.
#[test]
fn pushed_passwords_are_sealed_unfilterable_and_unindexed() {
    on_every_database(&["--no-engine"], |db, write, served| {
        let addr = served.addr.clone();
        let canary = "Canary-Pw-7731";
        let user = format!(
            r#"{{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"ada","password":"{canary}"}}"#
        );
        let (status, body) = http(&addr, "POST", "/scim/v2/Users", Some(write), Some(&user)).unwrap();
        assert_eq!(status, 201, "{body}");
        assert!(!body.contains(canary));
        for f in [
            r#"password sw "C""#,
            r#"password eq "Canary-Pw-7731""#,
            "password pr",
        ] {
            let uri = format!("/scim/v2/Users?filter={}", enc(f));
            let detail = scim_error(
                f,
                http(&addr, "GET", &uri, Some(write), None).unwrap(),
                400,
                "invalidFilter",
            );
            assert!(detail.contains("never returned"), "{detail}");
        }
        use sqlx::Connection as _;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let search: Vec<String> = rt.block_on(async {
            let q = "SELECT CAST(search AS TEXT) || ' ' || CAST(data AS TEXT) FROM resources";
            if db.starts_with("postgres") {
                let mut c = sqlx::PgConnection::connect(db).await.unwrap();
                sqlx::query_scalar(q).fetch_all(&mut c).await.unwrap()
            } else {
                let mut c = sqlx::SqliteConnection::connect(db).await.unwrap();
                sqlx::query_scalar(q).fetch_all(&mut c).await.unwrap()
            }
        });
        assert_eq!(search.len(), 1);
        assert!(
            !search[0].to_lowercase().contains(&canary.to_lowercase()),
            "{}",
            search[0]
        );
    });
}

/// A password mapped to an app is never printed: `app preview` and `provision` show it redacted, and when the
/// target echoes it in its error text, the provisioning log (message and trace) has it scrubbed by value.
#[test]
fn mapped_passwords_are_never_printed_or_logged() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("roster.db").display());
    let write = token(&db, "write");
    let served = common::serve(&db, &["--no-engine"]);
    let canary = "Canary-Pw-4471!";
    let user = format!(
        r#"{{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"ada","password":"{canary}"}}"#
    );
    let echo = format!(
        r#"{{"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"status":"400","scimType":"invalidValue","detail":"password '{canary}' is too weak"}}"#
    );
    let (target, _) = super::outbound::canned_server(
        format!(
            "HTTP/1.1 400 Bad Request\r\ncontent-type: application/scim+json\r\ncontent-length: {}\r\n\r\n{echo}",
            echo.len()
        )
        .into_bytes(),
    );
    let token_file = dir.path().join("t.token");
    std::fs::write(&token_file, "t\n").unwrap();
    let url = format!("http://{target}/scim/v2");
    let out = add_app(
        &db,
        "crm",
        &url,
        &token_file,
        &["--map", "userName=userName", "--map", "password=password"],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // Pushed after the app that sends passwords exists, so the directory keeps it (sealed) for the app.
    create_user(&served.addr, &write, &user);
    let mut seen = String::new();
    for args in [
        vec!["app", "preview", "crm", "--user", "ada"],
        vec!["provision", "crm", "--user", "ada"],
        vec!["log", "crm", "--detail"],
        vec!["log", "crm", "--format", "json"],
    ] {
        let mut args = args;
        args.extend(["--database", &db]);
        let out = roster(&args);
        seen.push_str(&String::from_utf8_lossy(&out.stdout));
        seen.push_str(&String::from_utf8_lossy(&out.stderr));
    }
    assert!(seen.contains("[redacted]"), "{seen}");
    assert!(
        seen.contains("is too weak"),
        "the target's error reached the log: {seen}"
    );
    assert!(!seen.contains(canary), "{seen}");
}
