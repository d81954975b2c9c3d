//! Outbound requests: no redirects, capped answers, no plain http to other machines, redacted URLs.

use super::*;

/// A one-answer-fits-all HTTP server on a loopback port: every request gets `answer`; returns its address
/// and a counter of the requests it got.
pub(super) fn canned_server(answer: Vec<u8>) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
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

/// `roster app test NAME` and everything it printed.
fn app_test(db: &str, name: &str) -> (std::process::Output, String) {
    let out = roster(&["app", "test", name, "--database", db]);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out, text)
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

    let (elsewhere, elsewhere_seen) =
        canned_server(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}".to_vec());
    let redirect = format!(
        "HTTP/1.1 307 Temporary Redirect\r\nlocation: http://user:pw@{elsewhere}/scim/v2/ServiceProviderConfig?api_key=k1\r\ncontent-length: 0\r\n\r\n"
    );
    let (redirecting, _) = canned_server(redirect.into_bytes());
    let url = format!("http://{redirecting}/scim/v2");
    let out = add_app(&db, "redir", &url, &token_file, &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let (out, text) = app_test(&db, "redir");
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
    let out = add_app(&db, "huge", &url, &token_file, &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let (out, text) = app_test(&db, "huge");
    assert!(!out.status.success() && text.contains("larger than"), "{text}");

    // Plain http to another machine: refused unless the admin says so; https with a token in the URL: stored,
    // never printed.
    let out = add_app(&db, "far", "http://crm.example.com/scim/v2", &token_file, &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("--allow-insecure-http"),
        "{err}"
    );
    let out = add_app(
        &db,
        "far",
        "http://crm.example.com/scim/v2",
        &token_file,
        &["--allow-insecure-http"],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = add_app(
        &db,
        "keyed",
        "https://t0k3n@crm.example.com/scim/v2?api_key=s3cr3t",
        &token_file,
        &[],
    );
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
