//! The HTTP edge: failures as SCIM errors, no-store headers, the access log, timeouts, the connection cap, TLS.

use super::*;

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
        // Under /scim/v2 and /api/v1 the token comes first: without one, an unknown endpoint is not told apart
        // from a known one.
        let r = http(&addr, "GET", "/scim/v2/Nothing", None, None).unwrap();
        scim_error("an unknown SCIM endpoint without a token", r, 401, "");
        let r = http(&addr, "GET", "/scim/v2/Nothing", Some(write), None).unwrap();
        let detail = scim_error("an unknown SCIM endpoint", r, 404, "");
        assert!(detail.contains("/scim/v2/ResourceTypes"), "{detail}");
        let r = http(&addr, "GET", "/api/v1/nothing", Some(write), None).unwrap();
        let detail = scim_error("an unknown API endpoint", r, 404, "");
        assert!(detail.contains("/apps/{name}/log"), "{detail}");
        let r = http(&addr, "GET", "/api/v1/codes", None, None).unwrap();
        scim_error("the API without a token", r, 401, "");
        // An endpoint in another case or with a trailing slash is answered as its canonical spelling.
        let (status, body) = http(&addr, "GET", "/scim/v2/users/?count=1", Some(write), None).unwrap();
        assert_eq!(status, 200, "{body}");
        assert!(body.contains("\"totalResults\":1"), "{body}");
        let (status, body) = http(&addr, "GET", "/healthz", None, None).unwrap();
        assert_eq!((status, body.as_str()), (200, "ok\n"));

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
