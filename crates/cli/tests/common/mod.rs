//! Helpers for the tests that run the real binary: HTTP over a plain socket, `roster serve` as a child process.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub const ROSTER: &str = env!("CARGO_BIN_EXE_roster");

/// One HTTP/1.1 request over a fresh connection; returns (status, body).
pub fn http(
    addr: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    if let Some(t) = token {
        req.push_str(&format!("Authorization: Bearer {t}\r\n"));
    }
    if let Some(b) = body {
        req.push_str(&format!(
            "Content-Type: application/scim+json\r\nContent-Length: {}\r\n",
            b.len()
        ));
    }
    req.push_str("\r\n");
    req.push_str(body.unwrap_or(""));
    s.write_all(req.as_bytes())?;
    let mut resp = String::new();
    s.read_to_string(&mut resp)?;
    let status = resp.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = resp
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Ok((status, body))
}

/// A running `roster serve`.
pub struct Served {
    pub child: Child,
    pub addr: String,
    /// The whole stderr log, when the process has ended.
    pub log: Option<std::thread::JoinHandle<String>>,
}

impl Drop for Served {
    /// A test that fails half-way must not leave its servers running.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `roster serve` on a free loopback port and waits until `/healthz` answers.
pub fn serve(db: &str, extra: &[&str]) -> Served {
    start(db, extra, true)
}

/// Starts `roster serve` with TLS flags in `extra`; returns once it has printed its address (plain `/healthz`
/// cannot be asked).
pub fn serve_tls(db: &str, extra: &[&str]) -> Served {
    start(db, extra, false)
}

fn start(db: &str, extra: &[&str], plain: bool) -> Served {
    let mut child = Command::new(ROSTER)
        .args(["serve", "--listen", "127.0.0.1:0", "--database", db])
        .args(extra)
        .env("ROSTER_LOG", "info")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    // The bound address is in the first log line; the rest of the log is collected for the final check.
    let (tx, rx) = mpsc::channel::<String>();
    let stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut all = String::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line.clone());
            all.push_str(&line);
            all.push('\n');
        }
        all
    });
    let addr = loop {
        let line = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("roster serve printed no address");
        if let Some(rest) = line.split("addr=").nth(1) {
            break rest.split_whitespace().next().unwrap().to_owned();
        }
    };
    if plain {
        wait_for("/healthz to answer", 30, || {
            matches!(http(&addr, "GET", "/healthz", None, None), Ok((200, _)))
        });
    }
    Served {
        child,
        addr,
        log: Some(reader),
    }
}

/// Polls `cond` until it holds, failing after `secs` seconds.
pub fn wait_for(what: &str, secs: u64, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs `roster ARGS` to completion.
pub fn roster(args: &[&str]) -> Output {
    Command::new(ROSTER).args(args).output().unwrap()
}

/// Creates a write token in a database and returns it.
pub fn token(db: &str) -> String {
    let out = roster(&["token", "create", "--name", "t", "--database", db]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// The database URLs to run on: a SQLite file in `dir`, and a fresh PostgreSQL schema when PostgreSQL is there
/// (required under `CI=true`). The schemas are dropped by [`drop_schemas`].
pub fn databases(dir: &tempfile::TempDir) -> (Vec<(&'static str, String)>, Vec<String>) {
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

/// Drops the PostgreSQL schemas [`databases`] made.
pub fn drop_schemas(schemas: Vec<String>) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    for s in schemas {
        rt.block_on(roster_testkit::drop_schema(&s));
    }
}
