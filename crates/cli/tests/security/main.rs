//! The security suite: hostile and oversized input sent to the real `roster serve`, secrets looked for where
//! they must not be, outbound requests sent where they must not go; on SQLite and on PostgreSQL. Every bad
//! request must answer a SCIM error (never a 500, never an empty body) and leave the process serving.
//!
//! | module | covers |
//! |---|---|
//! | `filters` | long `and`/`or` chains (the stack overflow), chains at the limit on both databases |
//! | `edge` | failures as SCIM errors (hyper's 414/431/400 included), no-store headers, access log, timeouts, connection cap, TLS |
//! | `writes` | no 412 without `If-Match`, limits on stored values |
//! | `secrets` | credentials sealed at rest, key files, rotation; passwords neither filterable nor indexed |
//! | `outbound` | no redirects followed, capped answers, no plain http to other machines, redacted URLs |
//! | `audit` | admin actions recorded, append-only |
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed unwrap is a failed test

#[path = "../common/mod.rs"]
mod common;

use common::{Served, databases, drop_schemas, http, roster};
use serde_json::Value;

mod audit;
mod edge;
mod filters;
mod outbound;
mod secrets;
mod writes;

/// Runs `body` once per database with a write token and a running `roster serve` (given `extra` flags) on it.
fn on_every_database(extra: &[&str], mut body: impl FnMut(&str, &str, &mut Served)) {
    let dir = tempfile::tempdir().unwrap();
    let (dbs, schemas) = databases(&dir);
    for (backend, db) in &dbs {
        eprintln!("-- on {backend}");
        let write = token(db, "write");
        // PostgreSQL has no place beside the database for the key that seals secrets: the server is given one.
        let key = dir.path().join(format!("{backend}.key"));
        let mut args = extra.to_vec();
        if *backend == "postgres" {
            args.extend(["--secret-key-file", key.to_str().unwrap()]);
        }
        let mut served = common::serve(db, &args);
        body(db, &write, &mut served);
    }
    drop_schemas(schemas);
}

/// Creates a user from its JSON and returns its id.
fn create_user(addr: &str, write: &str, user: &str) -> String {
    let (status, body) = http(addr, "POST", "/scim/v2/Users", Some(write), Some(user)).unwrap();
    assert_eq!(status, 201, "{body}");
    serde_json::from_str::<Value>(&body).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// `roster app add NAME --scim-url URL --token-file FILE EXTRA… --database DB`.
fn add_app(
    db: &str,
    name: &str,
    url: &str,
    token_file: &std::path::Path,
    extra: &[&str],
) -> std::process::Output {
    let mut args = vec![
        "app",
        "add",
        name,
        "--scim-url",
        url,
        "--token-file",
        token_file.to_str().unwrap(),
    ];
    args.extend(extra);
    args.extend(["--database", db]);
    roster(&args)
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

/// Asserts a SCIM error body with `status` and `scim_type` (`""`: none); returns its detail.
fn scim_error(what: &str, (status, body): (u16, String), want: u16, scim_type: &str) -> String {
    assert_eq!(status, want, "{what}: {body}");
    let v: Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{what}: not JSON ({e}): {body:?}"));
    assert_eq!(
        v["schemas"][0], "urn:ietf:params:scim:api:messages:2.0:Error",
        "{what}: {body}"
    );
    assert_eq!(v["status"], want.to_string(), "{what}: {body}");
    if scim_type.is_empty() {
        assert!(v.get("scimType").is_none(), "{what}: {body}");
    } else {
        assert_eq!(v["scimType"], scim_type, "{what}: {body}");
    }
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

/// Sends raw bytes on a new connection and returns everything the server answered before closing.
fn raw(addr: &str, request: &[u8]) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    s.write_all(request).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// Splits a raw answer into (status, headers in lower case, body).
fn parts(answer: &str) -> (u16, String, String) {
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((answer, ""));
    let status = head.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    (status, head.to_ascii_lowercase(), body.to_owned())
}
