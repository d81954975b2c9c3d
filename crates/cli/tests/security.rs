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

/// Runs `body` once per database with a write token and a running `roster serve` (given `extra` flags) on it.
fn on_every_database(extra: &[&str], mut body: impl FnMut(&str, &str, &mut Served)) {
    let dir = tempfile::tempdir().unwrap();
    let (dbs, schemas) = databases(&dir);
    for (backend, db) in &dbs {
        eprintln!("-- on {backend}");
        let write = token(db, "write");
        let mut served = common::serve(db, extra);
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

/// Long `or`/`and` chains (which used to overflow the stack of the parser, the evaluator and the SQL translation,
/// or reach the databases' own limits as a 500) answer `invalidFilter` naming the count and the limit, through
/// GET and `.search`, from a read-only token; chains at the limit are answered on both databases.
#[test]
fn long_filter_chains_are_refused_and_the_server_lives() {
    on_every_database(&[], |db, write, served| {
        let read = token(db, "read");
        let addr = served.addr.clone();
        for name in ["ada", "grace"] {
            let user = format!(
                r#"{{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"{name}","title":"t"}}"#
            );
            let (status, body) = http(&addr, "POST", "/scim/v2/Users", Some(write), Some(&user)).unwrap();
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
            assert_alive(served, &what);

            let body = serde_json::json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
                "filter": f,
            })
            .to_string();
            let what = format!(".search with {} bytes of filter", f.len());
            let r = http(&addr, "POST", "/scim/v2/Users/.search", Some(&read), Some(&body)).unwrap();
            let detail = scim_error(&what, r, 400, "invalidFilter");
            assert!(detail.contains("the limit is 200"), "{what}: {detail}");
            assert_alive(served, &what);
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
            assert_alive(served, &what);
        }
    });
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

/// Failures that no handler answers (hyper's limits, axum's routing and extractors) and failures whose detail
/// echoes huge input all leave as SCIM errors with a body, and every answer carries the no-store headers; the
/// access log has one line per request without query values.
#[test]
fn every_failure_is_a_scim_error_with_a_body() {
    on_every_database(&[], |_, write, served| {
        let addr = served.addr.clone();
        let user = r#"{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"ada"}"#;
        let id = create_user(&addr, write, user);

        // A request target over 64 KiB: hyper's 414, with a SCIM body.
        let long = format!(
            "GET /scim/v2/Users?filter={} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {write}\r\n\r\n",
            "a".repeat(70_000)
        );
        let (status, head, body) = parts(&raw(&addr, long.as_bytes()));
        scim_error("a 70 KB request target", (status, body), 414, "");
        assert!(head.contains("content-type: application/scim+json"), "{head}");
        assert_alive(served, "a 414");

        // A header section of 200 headers: hyper's 431.
        let many = format!(
            "GET /scim/v2/Users HTTP/1.1\r\nHost: x\r\n{}\r\n",
            (0..200).map(|i| format!("x-h{i}: v\r\n")).collect::<String>()
        );
        let (status, _, body) = parts(&raw(&addr, many.as_bytes()));
        scim_error("200 headers", (status, body), 431, "");

        // Malformed HTTP: hyper's 400.
        let (status, _, body) = parts(&raw(&addr, b"GET / HTTP/1.1\r\nHo st: x\r\n\r\n"));
        scim_error("a malformed header", (status, body), 400, "invalidSyntax");

        // A path segment that is not UTF-8: axum's rejection, as a SCIM error.
        let r = http(&addr, "GET", "/scim/v2/Users/%FF%FE", Some(write), None).unwrap();
        scim_error("a non-UTF-8 id", r, 400, "invalidSyntax");

        // Unknown endpoints and methods.
        scim_error("GET /", http(&addr, "GET", "/", None, None).unwrap(), 404, "");
        let r = http(&addr, "DELETE", "/scim/v2/Users", Some(write), None).unwrap();
        scim_error("DELETE on a collection", r, 405, "");

        // A PATCH whose path is 70 KB: the detail that echoes it is cut, the body is there.
        let patch = serde_json::json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "replace", "path": "x".repeat(70_000), "value": "a"}],
        })
        .to_string();
        let uri = format!("/scim/v2/Users/{id}");
        let r = http(&addr, "PATCH", &uri, Some(write), Some(&patch)).unwrap();
        let detail = scim_error("a 70 KB PATCH path", r, 400, "invalidPath");
        assert!(
            detail.len() < 4_000 && detail.contains("characters cut"),
            "{}",
            detail.len()
        );

        // The operations API: a text over its limit is a 413 SCIM error, not text/plain.
        let big = "x".repeat(100_000);
        let r = raw(
            &addr,
            format!(
                "POST /api/v1/explain HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {write}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{big}",
                big.len()
            )
            .as_bytes(),
        );
        let (status, _, body) = parts(&r);
        scim_error("a 100 KB explain", (status, body), 413, "");

        // Every answer, success or failure, forbids caching and sniffing.
        let canary = "canary-filter-value-7f3a";
        let q = format!(
            "/scim/v2/Users?filter={}",
            enc(&format!(r#"userName eq "{canary}""#))
        );
        let r = raw(
            &addr,
            format!(
                "GET {q} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {write}\r\nConnection: close\r\n\r\n"
            )
            .as_bytes(),
        );
        let (status, head, _) = parts(&r);
        assert_eq!(status, 200);
        assert!(head.contains("cache-control: no-store"), "{head}");
        assert!(head.contains("x-content-type-options: nosniff"), "{head}");

        // The access log: a line per request with the token's name, the query's names and not their values.
        let _ = served.child.kill();
        let _ = served.child.wait();
        let log = served.log.take().unwrap().join().unwrap();
        let access: Vec<&str> = log.lines().filter(|l| l.contains("roster::access")).collect();
        assert!(
            access.iter().any(|l| l.contains("path=/scim/v2/Users?filter=…")
                && l.contains("status=200")
                && l.contains("client=\"write\"")),
            "{log}"
        );
        assert!(
            access
                .iter()
                .any(|l| l.contains("path=/ ") && l.contains("status=404") && l.contains("client=\"-\"")),
            "{log}"
        );
        assert!(access.iter().any(|l| l.contains("status=414")), "{log}");
        assert!(!log.contains(canary), "a filter value reached the log");
        assert!(!log.contains(write), "a token reached the log");
    });
}

/// Sockets that send nothing, or half a header, are closed after the header timeout; connections beyond the
/// cap are answered 503 with a SCIM error, and the server serves again once they go.
#[test]
fn slow_and_idle_clients_are_cut_off_and_connections_are_capped() {
    use std::io::Read;
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("roster.db").display());
    let served = common::serve(
        &db,
        &["--header-timeout", "1", "--max-connections", "4", "--no-engine"],
    );
    let addr = served.addr.clone();

    let started = std::time::Instant::now();
    let mut idle = std::net::TcpStream::connect(&addr).unwrap();
    let mut half = std::net::TcpStream::connect(&addr).unwrap();
    std::io::Write::write_all(&mut half, b"GET /healthz HTTP/1.1\r\nHost: x\r\n").unwrap();
    for s in [&mut idle, &mut half] {
        s.set_read_timeout(Some(std::time::Duration::from_secs(15)))
            .unwrap();
        let mut buf = [0u8; 64];
        // EOF (0 bytes) is the server closing; a read timeout would be an error here.
        assert_eq!(s.read(&mut buf).unwrap(), 0);
    }
    assert!(started.elapsed() < std::time::Duration::from_secs(15));

    // Four connections held open (the cap); the fifth is refused with a SCIM 503.
    let held: Vec<_> = (0..4)
        .map(|_| std::net::TcpStream::connect(&addr).unwrap())
        .collect();
    common::wait_for("the fifth connection to be refused", 10, || {
        let (status, _, body) = parts(&raw(&addr, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"));
        status == 503 && body.contains("limit of 4 connections")
    });
    drop(held);
    common::wait_for("connections to be accepted again", 10, || {
        matches!(http(&addr, "GET", "/healthz", None, None), Ok((200, _)))
    });
}

/// `roster serve --tls-cert --tls-key` serves HTTPS; a client that trusts the certificate reads SCIM through
/// it, and a bad key file is a clear error naming the file.
#[test]
fn serve_speaks_tls_with_the_given_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("roster.db").display());
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert, ck.cert.pem()).unwrap();
    std::fs::write(&key, ck.signing_key.serialize_pem()).unwrap();
    let write = token(&db, "write");

    let bad = dir.path().join("bad.pem");
    std::fs::write(&bad, "not a key").unwrap();
    let out = roster(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--database",
        &db,
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        bad.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot read the TLS private key") && err.contains("bad.pem"),
        "{err}"
    );

    let served = common::serve_tls(
        &db,
        &[
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
            "--no-engine",
        ],
    );
    let port = served.addr.rsplit(':').next().unwrap().to_owned();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let client = reqwest::Client::builder()
            .tls_certs_only([reqwest::Certificate::from_pem(ck.cert.pem().as_bytes()).unwrap()])
            .resolve("localhost", format!("127.0.0.1:{port}").parse().unwrap())
            .build()
            .unwrap();
        let r = client
            .get(format!("https://localhost:{port}/scim/v2/ServiceProviderConfig"))
            .bearer_auth(&write)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let v: Value = r.json().await.unwrap();
        assert!(v["patch"]["supported"].as_bool().unwrap());
        // Plain HTTP to the TLS port gets no SCIM answer.
        assert!(!matches!(
            http(&served.addr, "GET", "/healthz", None, None),
            Ok((200, _))
        ));
    });
}

/// Concurrent PUTs and PATCHes without `If-Match` all apply (last writer wins; no 412 that nobody asked for);
/// a PUT whose `If-Match` names an old version still gets 412.
#[test]
fn unconditional_writes_never_answer_412() {
    on_every_database(&["--no-engine"], |_, write, served| {
        let addr = served.addr.clone();
        let user =
            r#"{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"ada","title":"t0"}"#;
        let id = create_user(&addr, write, user);
        let uri = format!("/scim/v2/Users/{id}");
        for round in 0..5 {
            let handles: Vec<_> = (0..6)
                .map(|i| {
                    let (addr, write, uri) = (addr.clone(), write.to_owned(), uri.clone());
                    std::thread::spawn(move || {
                        let (method, body) = if i % 2 == 0 {
                            (
                                "PUT",
                                format!(
                                    r#"{{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"ada","title":"r{round}w{i}"}}"#
                                ),
                            )
                        } else {
                            (
                                "PATCH",
                                format!(
                                    r#"{{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{{"op":"replace","path":"nickName","value":"r{round}w{i}"}}]}}"#
                                ),
                            )
                        };
                        http(&addr, method, &uri, Some(&write), Some(&body)).unwrap()
                    })
                })
                .collect();
            for h in handles {
                let (status, body) = h.join().unwrap();
                assert_eq!(status, 200, "round {round}: {body}");
            }
        }
        let (_, body) = http(&addr, "GET", &uri, Some(write), None).unwrap();
        let v: Value = serde_json::from_str(&body).unwrap();
        assert!(v["title"].as_str().unwrap().starts_with("r4w"), "{body}");
        let version = v["meta"]["version"].as_str().unwrap().to_owned();

        // A client that names a version it read gets 412 once the resource moved on.
        let put =
            r#"{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"ada","title":"x"}"#;
        let (status, _) = http(&addr, "PUT", &uri, Some(write), Some(put)).unwrap();
        assert_eq!(status, 200);
        let stale = raw(
            &addr,
            format!(
                "PUT {uri} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {write}\r\nIf-Match: {version}\r\nContent-Type: application/scim+json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{put}",
                put.len()
            )
            .as_bytes(),
        );
        let (status, _, body) = parts(&stale);
        assert_eq!(status, 412, "{body}");
    });
}

/// What one user may hold is limited (string length, values per attribute, operations per PATCH), refused with
/// `invalidValue` naming the attribute and the limit, and nothing of a refused request is stored; a group's
/// members are not held to the per-attribute limit.
#[test]
fn oversized_values_are_refused_with_the_limit() {
    on_every_database(&["--no-engine"], |_, write, served| {
        let addr = served.addr.clone();
        let core = "urn:ietf:params:scim:schemas:core:2.0:User";
        let cases = [
            (
                serde_json::json!({"schemas": [core], "userName": "u".repeat(1_000_000)}),
                "'userName' is 1000000 characters long; the limit is 2048",
            ),
            (
                serde_json::json!({"schemas": [core], "userName": "many",
                    "emails": (0..20_000).map(|i| serde_json::json!({"value": format!("e{i}@x.io")})).collect::<Vec<_>>()}),
                "'emails' has 20000 values; the limit is 100",
            ),
            (
                serde_json::json!({"schemas": [core], "userName": "t", "name": {"givenName": "g".repeat(3000)}}),
                "'name.givenName' is 3000 characters long; the limit is 2048",
            ),
        ];
        for (body, want) in &cases {
            let r = http(
                &addr,
                "POST",
                "/scim/v2/Users",
                Some(write),
                Some(&body.to_string()),
            )
            .unwrap();
            let detail = scim_error(want, r, 400, "invalidValue");
            assert!(detail.contains(want), "{detail}");
        }
        let (_, body) = http(&addr, "GET", "/scim/v2/Users?count=0", Some(write), None).unwrap();
        assert_eq!(
            serde_json::from_str::<Value>(&body).unwrap()["totalResults"],
            0,
            "nothing stored"
        );

        let user = serde_json::json!({"schemas": [core], "userName": "ada"}).to_string();
        let uri = format!("/scim/v2/Users/{}", create_user(&addr, write, &user));
        let patch = |ops: Value| {
            serde_json::json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": ops})
                .to_string()
        };
        let add_emails = patch(serde_json::json!([{"op": "add", "path": "emails",
            "value": (0..5_000).map(|i| serde_json::json!({"value": format!("e{i}@x.io")})).collect::<Vec<_>>()}]));
        let r = http(&addr, "PATCH", &uri, Some(write), Some(&add_emails)).unwrap();
        let detail = scim_error("PATCH adding 5,000 emails", r, 400, "invalidValue");
        assert!(
            detail.contains("'emails' has 5000 values; the limit is 100"),
            "{detail}"
        );
        let many_ops = patch(Value::Array(
            (0..1_001)
                .map(|i| serde_json::json!({"op": "replace", "path": "title", "value": format!("t{i}")}))
                .collect(),
        ));
        let r = http(&addr, "PATCH", &uri, Some(write), Some(&many_ops)).unwrap();
        let detail = scim_error("PATCH of 1,001 operations", r, 400, "invalidValue");
        assert!(detail.contains("1001 operations; the limit is 1000"), "{detail}");

        // A group of 2,000 members in one POST is fine.
        let mut ids = Vec::new();
        for chunk in 0..2 {
            let ops: Vec<Value> = (0..1_000)
                .map(|i| {
                    serde_json::json!({"method": "POST", "path": "/Users", "bulkId": format!("b{chunk}-{i}"),
                        "data": {"schemas": [core], "userName": format!("m{chunk}-{i}")}})
                })
                .collect();
            let bulk = serde_json::json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"], "Operations": ops});
            let (status, body) = http(
                &addr,
                "POST",
                "/scim/v2/Bulk",
                Some(write),
                Some(&bulk.to_string()),
            )
            .unwrap();
            assert_eq!(status, 200, "{body}");
            for op in serde_json::from_str::<Value>(&body).unwrap()["Operations"]
                .as_array()
                .unwrap()
            {
                ids.push(
                    op["location"]
                        .as_str()
                        .unwrap()
                        .rsplit('/')
                        .next()
                        .unwrap()
                        .to_owned(),
                );
            }
        }
        let group = serde_json::json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "All",
            "members": ids.iter().map(|id| serde_json::json!({"value": id})).collect::<Vec<_>>()});
        let (status, body) = http(
            &addr,
            "POST",
            "/scim/v2/Groups",
            Some(write),
            Some(&group.to_string()),
        )
        .unwrap();
        assert_eq!(status, 201, "{}", &body[..body.len().min(300)]);
        assert_eq!(
            serde_json::from_str::<Value>(&body).unwrap()["members"]
                .as_array()
                .unwrap()
                .len(),
            2_000
        );
    });
}

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
            let out = roster(&[
                "app",
                "add",
                "crm",
                "--scim-url",
                &url,
                "--token-file",
                token_file.to_str().unwrap(),
                "--database",
                db,
            ]);
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

/// A one-answer-fits-all HTTP server on a loopback port: every request gets `answer`; returns its address
/// and a counter of the requests it got.
fn canned_server(answer: Vec<u8>) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let seen = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { return };
            count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let answer = answer.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 8192];
                let _ = s.read(&mut buf);
                let _ = s.write_all(&answer);
            });
        }
    });
    (addr, seen)
}

/// Outbound requests go only where the admin said: a redirect is a coded failure naming the location (the other
/// address gets nothing), an oversized answer is refused without being held, plain http to another machine needs
/// `--allow-insecure-http`, and credentials in a URL are never printed.
#[test]
fn targets_get_only_what_they_should() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("roster.db").display());
    let token_file = dir.path().join("t.token");
    std::fs::write(&token_file, "canary-target-token\n").unwrap();
    let tf = token_file.to_str().unwrap();

    let (elsewhere, elsewhere_seen) =
        canned_server(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}".to_vec());
    let redirect = format!(
        "HTTP/1.1 307 Temporary Redirect\r\nlocation: http://user:pw@{elsewhere}/scim/v2/ServiceProviderConfig?api_key=k1\r\ncontent-length: 0\r\n\r\n"
    );
    let (redirecting, _) = canned_server(redirect.into_bytes());
    let url = format!("http://{redirecting}/scim/v2");
    let out = roster(&[
        "app",
        "add",
        "redir",
        "--scim-url",
        &url,
        "--token-file",
        tf,
        "--database",
        &db,
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = roster(&["app", "test", "redir", "--database", &db]);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains("R-TARGET-REDIRECT") && text.contains("307"),
        "{text}"
    );
    assert!(
        text.contains("user:***@") && text.contains("api_key=***"),
        "{text}"
    );
    assert!(!text.contains("pw@") && !text.contains("k1"), "{text}");
    assert_eq!(
        elsewhere_seen.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "the redirect was followed"
    );

    let mut huge = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        64 << 20
    )
    .into_bytes();
    huge.extend(std::iter::repeat_n(b' ', 1 << 20));
    let (huge_addr, _) = canned_server(huge);
    let url = format!("http://{huge_addr}/scim/v2");
    let out = roster(&[
        "app",
        "add",
        "huge",
        "--scim-url",
        &url,
        "--token-file",
        tf,
        "--database",
        &db,
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = roster(&["app", "test", "huge", "--database", &db]);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.status.success() && text.contains("larger than"), "{text}");

    // Plain http to another machine: refused unless the admin says so; https with a token in the URL: stored,
    // never printed.
    let out = roster(&[
        "app",
        "add",
        "far",
        "--scim-url",
        "http://crm.example.com/scim/v2",
        "--token-file",
        tf,
        "--database",
        &db,
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("--allow-insecure-http"),
        "{err}"
    );
    let out = roster(&[
        "app",
        "add",
        "far",
        "--scim-url",
        "http://crm.example.com/scim/v2",
        "--allow-insecure-http",
        "--token-file",
        tf,
        "--database",
        &db,
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = roster(&[
        "app",
        "add",
        "keyed",
        "--scim-url",
        "https://t0k3n@crm.example.com/scim/v2?api_key=s3cr3t",
        "--token-file",
        tf,
        "--database",
        &db,
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    for args in [vec!["app", "show", "keyed"], vec!["app", "list"]] {
        let mut args = args;
        args.extend(["--database", &db]);
        let out = roster(&args);
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            text.contains("crm.example.com") && !text.contains("t0k3n") && !text.contains("s3cr3t"),
            "{text}"
        );
    }
}

/// A password pushed by an identity provider is never returned, never filtered on (a filter would reveal it a
/// guess at a time) and never indexed.
#[test]
fn passwords_are_neither_filterable_nor_indexed() {
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
            let q = "SELECT CAST(search AS TEXT) FROM resources";
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
