//! The admin's loop, with the real binary: an admin notices that provisioning went wrong, understands why,
//! fixes the cause and sees it resolved. Each test reproduces a way that loop used to break; each runs on SQLite
//! and on PostgreSQL.
//!
//! | module | covers |
//! |---|---|
//! | `clients` | inbound quarantine: refused by every process, shown, released by hand; a good client untouched |
//! | `guard` | held deprovisions logged once, listed by name (JSON), and a discarded hold stays discarded |
//! | `import` | a broken CSV is refused whole with its lines; `--dry-run` writes nothing |
//! | `mapping` | `--map` changes the default mapping; bad sources and a missing userName are refused |
//! | `messages` | unknown apps, unopenable databases, token databases, RFC 3339 times, JSON listings, closed pipes |
//! | `retry` | an edited app retries what failed at once; `roster retry` and its API call |
//! | `scope` | scope groups stored by id: a rename keeps the scope, a missing group is refused |
//! | `state` | an app's state is its worst condition (list, show, JSON, API); a lost scope group is logged once |
//! | `sync` | `roster sync` waits out an app's pause and says so; pauses are not attempts |
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed unwrap is a failed test

#[path = "../common/mod.rs"]
mod common;

use common::{ROSTER, databases, drop_schemas};
use std::path::PathBuf;
use std::process::{Command, Output};

mod clients;
mod guard;
mod import;
mod mapping;
mod messages;
mod retry;
mod scope;
mod state;
mod sync;

/// One database to run the CLI on, with a folder for the files a test writes.
struct Db {
    backend: &'static str,
    url: String,
    /// The key file that seals credentials (PostgreSQL needs one given; SQLite keeps it beside the database).
    key: Option<PathBuf>,
    dir: PathBuf,
}

impl Db {
    /// Runs `roster ARGS` on this database.
    fn roster(&self, args: &[&str]) -> Output {
        let mut cmd = Command::new(ROSTER);
        cmd.args(args).env("ROSTER_DATABASE_URL", &self.url);
        if let Some(k) = &self.key {
            cmd.env("ROSTER_SECRET_KEY_FILE", k);
        }
        cmd.env_remove("ROSTER_LISTEN").output().unwrap()
    }

    /// Runs `roster ARGS` and asserts it succeeded; returns its stdout and stderr.
    fn ok(&self, args: &[&str]) -> (String, String) {
        let out = self.roster(args);
        let (stdout, stderr) = texts(&out);
        assert!(
            out.status.success(),
            "roster {args:?} on {}: {stderr}{stdout}",
            self.backend
        );
        (stdout, stderr)
    }

    /// Writes a file in the test's folder and returns its path.
    fn file(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }
}

fn texts(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs `body` once per database.
fn on_every_database(mut body: impl FnMut(&Db)) {
    let dir = tempfile::tempdir().unwrap();
    let (dbs, schemas) = databases(&dir);
    for (backend, url) in dbs {
        eprintln!("-- on {backend}");
        let sub = dir.path().join(backend);
        std::fs::create_dir_all(&sub).unwrap();
        let db = Db {
            backend,
            url,
            key: (backend == "postgres").then(|| sub.join("secret.key")),
            dir: sub,
        };
        body(&db);
    }
    drop_schemas(schemas);
}

/// Connects app `name` to the SCIM target at `url` with `token`, plus `extra` flags.
fn add_app(db: &Db, name: &str, url: &str, token: &str, extra: &[&str]) -> Output {
    let token_file = db.file(&format!("{name}.token"), &format!("{token}\n"));
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
    db.roster(&args)
}

/// Imports users `prefix0..prefixN` (userName and displayName) from a CSV file.
fn import_users(db: &Db, prefix: &str, n: usize) {
    let mut csv = String::from("userName,displayName\n");
    for i in 0..n {
        csv.push_str(&format!("{prefix}{i}@example.com,{prefix} {i}\n"));
    }
    let path = db.file(&format!("{prefix}.csv"), &csv);
    db.ok(&["import", path.to_str().unwrap()]);
}

/// A multi-threaded runtime for the targets a test runs beside the CLI.
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// The wall clock in microseconds, for targets that stamp what they see.
fn wall_clock() -> roster_testkit::faults::TestClock {
    std::sync::Arc::new(|| {
        i64::try_from(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_micros(),
        )
        .unwrap()
    })
}

/// The userNames the target holds.
fn target_names(rt: &tokio::runtime::Runtime, target: &roster_testkit::Target) -> Vec<String> {
    let mut names: Vec<String> = rt
        .block_on(roster_testkit::all(
            &target.store,
            roster_store::ResourceKind::User,
        ))
        .into_iter()
        .map(|r| r.data["userName"].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    names
}

/// `roster serve` on this database (its key file given on PostgreSQL), with or without the engine.
fn serve_db(db: &Db, engine: bool) -> common::Served {
    let mut extra: Vec<&str> = Vec::new();
    if !engine {
        extra.push("--no-engine");
    }
    let key = db.key.as_ref().map(|k| k.to_str().unwrap().to_owned());
    if let Some(k) = &key {
        extra.extend(["--secret-key-file", k.as_str()]);
    }
    common::serve(&db.url, &extra)
}

/// The id of the group named `name`, read through SCIM with `token`.
fn group_id(addr: &str, token: &str, name: &str) -> String {
    let path = format!("/scim/v2/Groups?filter=displayName%20eq%20%22{name}%22");
    let (status, body) = common::http(addr, "GET", &path, Some(token), None).unwrap();
    assert_eq!(status, 200, "{body}");
    serde_json::from_str::<serde_json::Value>(&body).unwrap()["Resources"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}
