//! The fault-storm benchmark (issue: a rate-limiting target must not snowball). A SCIM target behind
//! `roster_testkit::FaultTarget` answers 5 % of requests 429 with `Retry-After: 1`, 10 % 503 and drops 1 % of
//! connections (and, with `LOST=10`, loses the answer of 1 % after applying the request); roster's engine loop
//! (`run_engine`, as `roster serve` runs it: the initial full sync, then the queue) provisions N users into it
//! with the app's default settings, on SQLite and on PostgreSQL. Reported per backend: seconds until every user
//! has exactly one account and nothing waits, requests sent, faults met, provisioning log entries per user,
//! highest attempt number, `Retry-After` violations (requests that arrived more than 100 ms after a 429 and
//! before its wait ended; 0 expected) and duplicate accounts (0 expected).
//!
//! Run: `cargo run --release -p roster-engine --example fault_storm -- [USERS]` (bench/faultstorm.sh).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::print_stdout)]

use roster_engine::config::AppConfig;
use roster_store::{LogQuery, ResourceKind, Secret, Store};
use roster_testkit::{Backends, FaultTarget, Storm};
use serde_json::json;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn per_mille(var: &str, default: u32) -> u32 {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::main]
async fn main() {
    let users: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(2000);
    let (backends, stores) = Backends::open().await;
    println!(
        "| backend | users | converged (s) | requests | 429 / 503 / reset / lost | log entries per user | highest attempt | Retry-After violations | duplicates |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for (backend, store) in &stores {
        storm(backend, store, users).await;
    }
    backends.close(stores).await;
}

async fn storm(backend: &str, store: &Store, users: usize) {
    let clock: roster_testkit::faults::TestClock =
        Arc::new(|| roster_store::to_micros(time::OffsetDateTime::now_utc()));
    let ft = FaultTarget::spawn(clock).await;
    ft.storm(Storm {
        seed: 2026,
        rate_limited: per_mille("RATE_LIMITED", 50),
        retry_after: "1".into(),
        server_errors: per_mille("SERVER_ERRORS", 100),
        resets: per_mille("RESETS", 10),
        lost_answers: per_mille("LOST", 0),
    });
    for i in 0..users {
        let user = json!({"userName": format!("storm{i:05}@example.com"), "displayName": format!("Storm {i}"),
            "active": true, "emails": [{"value": format!("storm{i:05}@example.com"), "type": "work", "primary": true}]});
        store
            .create_resource(ResourceKind::User, user.as_object().unwrap().clone())
            .await
            .unwrap();
    }
    let cfg = AppConfig::new(&ft.url);
    store
        .create_app(
            "crm",
            &cfg.to_json().unwrap(),
            Some(&Secret::new(&ft.target.token)),
        )
        .await
        .unwrap();
    let started = Instant::now();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let engine = tokio::spawn(roster_engine::runner::run_engine(
        store.clone(),
        "bench".into(),
        Duration::from_secs(1),
        None,
        async move {
            let mut rx = stopped;
            let _ = rx.wait_for(|s| *s).await;
        },
    ));
    // Converged: every user linked and nothing queued; checked twice a second, read from the store.
    let deadline = Instant::now() + Duration::from_secs(1800);
    loop {
        let (linked, _) = store.count_links("crm", ResourceKind::User).await.unwrap();
        let pending = store.count_pending("crm").await.unwrap();
        if usize::try_from(linked).unwrap() == users && pending == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no convergence in 30 minutes: {linked} linked, {pending} pending"
        );
        if std::env::var("VERBOSE").is_ok_and(|v| v == "1") {
            let now = roster_store::to_micros(time::OffsetDateTime::now_utc());
            let h = store.app_health("crm").await.unwrap();
            let next = store.next_due("crm").await.unwrap().map(|t| (t - now) / 1000);
            let q = store.list_queue("crm", 3).await.unwrap();
            eprintln!(
                "{:>6.1} s: {linked} linked, {pending} pending, next due in {next:?} ms, quarantined {}, {:?}",
                started.elapsed().as_secs_f64(),
                h.quarantined(now),
                q.iter()
                    .map(|i| (i.attempts, i.last_code.clone(), (i.run_at - now) / 1000))
                    .collect::<Vec<_>>()
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let took = started.elapsed();
    let _ = stop.send(true);
    let _ = engine.await;
    let accounts = roster_testkit::all(&ft.target.store, ResourceKind::User).await;
    let names: HashSet<_> = accounts.iter().map(|a| a.data["userName"].to_string()).collect();
    let log = store
        .list_log(&LogQuery {
            app: Some("crm"),
            limit: 1_000_000,
            ..LogQuery::default()
        })
        .await
        .unwrap();
    let seen = ft.seen();
    let kind = |k: &str| {
        seen.iter()
            .filter(|s| s.fault.as_deref().is_some_and(|f| f.contains(k)))
            .count()
    };
    let limited = seen.iter().filter(|s| s.retry_after.is_some()).count();
    let most = log.iter().map(|e| e.attempt).max().unwrap_or(0);
    #[allow(clippy::cast_precision_loss)]
    let per_user = log.len() as f64 / users as f64;
    println!(
        "| {backend} | {users} | {:.1} | {} | {limited} / {} / {} / {} | {per_user:.2} | {most} | {} | {} |",
        took.as_secs_f64(),
        seen.len(),
        kind("status: 503"),
        kind("Reset") - kind("ForwardThenReset"),
        kind("ForwardThenReset"),
        ft.retry_after_violations(100_000).len(),
        accounts.len() - names.len(),
    );
    store.delete_app("crm").await.ok();
    ft.stop().await;
}
