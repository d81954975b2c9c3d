//! The security suite: hostile and oversized input sent to the real `roster serve`, on SQLite and on PostgreSQL.
//! Every case must answer a SCIM error (never a 500, never an empty body) and leave the process serving.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed unwrap is a failed test

mod common;

use common::{Served, http, roster};
use serde_json::Value;

/// The database URLs to run on: a SQLite file in `dir`, and a fresh PostgreSQL schema when PostgreSQL is there
/// (required under `CI=true`). The schemas are dropped by [`drop_schemas`].
fn databases(dir: &tempfile::TempDir) -> (Vec<(&'static str, String)>, Vec<String>) {
    let mut dbs = vec![(
        "sqlite",
        format!("sqlite://{}", dir.path().join("roster.db").display()),
    )];
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut schemas = Vec::new();
    if let Some((url, schema)) = rt.block_on(roster_testkit::pg_schema_url()) {
        dbs.push(("postgres", url));
        schemas.push(schema);
    }
    (dbs, schemas)
}

fn drop_schemas(schemas: Vec<String>) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    for s in schemas {
        rt.block_on(roster_testkit::drop_schema(&s));
    }
}

fn token(db: &str, scope: &str) -> String {
    let out = roster(&[
        "token",
        "create",
        "--name",
        scope,
        "--scope",
        scope,
        "--database",
        db,
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// Form-encodes a query value (`+` for a space, which keeps 5,400 terms inside the 64 KiB an HTTP request
/// target may have).
fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            b' ' => "+".to_owned(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Asserts a SCIM error body with `status` and `scim_type`; returns its detail.
fn scim_error(what: &str, (status, body): (u16, String), want: u16, scim_type: &str) -> String {
    assert_eq!(status, want, "{what}: {body}");
    let v: Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{what}: not JSON ({e}): {body:?}"));
    assert_eq!(
        v["schemas"][0], "urn:ietf:params:scim:api:messages:2.0:Error",
        "{what}: {body}"
    );
    assert_eq!(v["status"], want.to_string(), "{what}: {body}");
    assert_eq!(v["scimType"], scim_type, "{what}: {body}");
    v["detail"].as_str().unwrap_or_default().to_owned()
}

fn assert_alive(served: &mut Served, what: &str) {
    assert!(
        served.child.try_wait().unwrap().is_none(),
        "roster serve died after {what}"
    );
    let (status, _) = http(&served.addr, "GET", "/healthz", None, None).unwrap();
    assert_eq!(status, 200, "/healthz after {what}");
}

/// Long `or`/`and` chains (which used to overflow the stack of the parser, the evaluator and the SQL translation,
/// or reach the databases' own limits as a 500) answer `invalidFilter` naming the count and the limit, through
/// GET and `.search`, from a read-only token; chains at the limit are answered on both databases.
#[test]
fn long_filter_chains_are_refused_and_the_server_lives() {
    let dir = tempfile::tempdir().unwrap();
    let (dbs, schemas) = databases(&dir);
    for (backend, db) in &dbs {
        eprintln!("-- on {backend}");
        let write = token(db, "write");
        let read = token(db, "read");
        let mut served = common::serve(db, &[]);
        let addr = served.addr.clone();
        for name in ["ada", "grace"] {
            let user = format!(
                r#"{{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"{name}","title":"t"}}"#
            );
            let (status, body) = http(&addr, "POST", "/scim/v2/Users", Some(&write), Some(&user)).unwrap();
            assert_eq!(status, 201, "{body}");
        }
        let chain = |n: usize, term: &str, op: &str| vec![term; n].join(op);
        let hostile = [
            chain(3_000, "title pr", " or "),
            chain(5_400, "title pr", " or "),
            chain(3_000, "title pr", " and "),
            chain(1_000, r#"userName eq "x""#, " or "),
            chain(1_500, r#"emails.value eq "x""#, " or "),
            chain(2_000, r#"title co "x""#, " or "),
            format!("emails[{}]", chain(2_000, r#"value eq "x""#, " or ")),
        ];
        for f in &hostile {
            let what = format!("GET with {} bytes of filter", f.len());
            let uri = format!("/scim/v2/Users?filter={}", enc(f));
            let detail = scim_error(
                &what,
                http(&addr, "GET", &uri, Some(&read), None).unwrap(),
                400,
                "invalidFilter",
            );
            assert!(detail.contains("the limit is 200"), "{what}: {detail}");
            assert_alive(&mut served, &what);

            let body = serde_json::json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
                "filter": f,
            })
            .to_string();
            let what = format!(".search with {} bytes of filter", f.len());
            let r = http(&addr, "POST", "/scim/v2/Users/.search", Some(&read), Some(&body)).unwrap();
            let detail = scim_error(&what, r, 400, "invalidFilter");
            assert!(detail.contains("the limit is 200"), "{what}: {detail}");
            assert_alive(&mut served, &what);
        }

        // At the limit every shape is answered (SQLite refuses a compound SELECT of more than 500 terms and an
        // expression tree deeper than 1,000: neither may surface).
        let at_limit = [
            (chain(200, r#"userName eq "ada""#, " or "), 1),
            (
                format!(
                    r#"{} or userName eq "grace""#,
                    chain(199, r#"emails.value eq "x""#, " or ")
                ),
                1,
            ),
            (chain(200, "title pr", " or "), 2),
            (chain(200, "title pr", " and "), 2),
            (chain(200, r#"title co "t""#, " or "), 2),
            (format!("{}title pr{}", "(".repeat(64), ")".repeat(64)), 2),
            (
                format!(
                    "{}{}{}",
                    "not (".repeat(32),
                    chain(150, "title pr", " or "),
                    ")".repeat(32)
                ),
                2,
            ),
        ];
        for (f, want) in &at_limit {
            let what = format!("{} bytes of filter at the limit", f.len());
            let uri = format!("/scim/v2/Users?filter={}", enc(f));
            let (status, body) = http(&addr, "GET", &uri, Some(&read), None).unwrap();
            assert_eq!(status, 200, "{what}: {body}");
            let v: Value = serde_json::from_str(&body).unwrap();
            assert_eq!(v["totalResults"], *want, "{what}");
            assert_alive(&mut served, &what);
        }
    }
    drop_schemas(schemas);
}
