//! `roster sync`: an app synced now (what changed, or everything with --full; --dry-run shows the plan).

use crate::lookup::runtime;
use crate::output::{Format, Progress, csv_field};
use crate::serve::{DatabaseArg, open};
use clap::Args;
use roster_engine::runner::{
    DrainReport, affected_objects, follow_journal, full_sync, is_change, sync_round, system_clock,
};
use roster_engine::sync::{AppRuntime, ObjectResult, SyncOptions};
use roster_store::AuditAction;
use roster_store::{ResourceKind, Store};
use std::io::{IsTerminal, Write};
use std::process::ExitCode;

#[derive(Debug, Args)]
pub struct SyncArgs {
    /// The app.
    name: String,
    /// Reconcile every user in the directory with the app (reads each account; repairs drift), instead of
    /// only what changed since the last sync.
    #[arg(long)]
    full: bool,
    /// Print the plan and change nothing, in the app or in roster.
    #[arg(long)]
    dry_run: bool,
    /// Output format of the plan and results on stdout (json: one object per planned or failed object, then
    /// one summary object, for scripts).
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
    #[command(flatten)]
    db: DatabaseArg,
}

fn plan_line(id: &str, r: &ObjectResult) -> String {
    let code = r.code.map(|c| format!(" [{}]", c.code)).unwrap_or_default();
    format!("{:<9} {id}: {}{code}", r.action.name(), r.action)
}

/// One planned or failed object of a sync, in the chosen format.
fn emit_plan(format: Format, id: &str, r: &ObjectResult) {
    match format {
        Format::Table => out!("{}", plan_line(id, r)),
        Format::Csv => out!(
            "{},{},{},{}",
            csv_field(id),
            r.action.name(),
            csv_field(&r.action.to_string()),
            r.code.map_or("", |c| c.code)
        ),
        Format::Json => out!(
            "{}",
            serde_json::json!({"object": id, "action": r.action.name(), "detail": r.action.to_string(),
                "outcome": r.outcome.as_str(), "code": r.code.map(|c| c.code), "message": r.message})
        ),
    }
}

/// A sync's summary on stdout for scripts (`--format json`); the words on stderr say the same.
fn emit_summary(format: Format, summary: &serde_json::Value) {
    if matches!(format, Format::Json) {
        out!("{}", serde_json::json!({ "summary": summary }));
    }
}

/// Refuses to sync an app that is quarantined (an admin must release it); an app's `Retry-After` is waited out.
async fn check_health(store: &Store, name: &str) -> Result<(), String> {
    let health = store.app_health(name).await.map_err(|e| e.to_string())?;
    let now = roster_store::to_micros(time::OffsetDateTime::now_utc());
    if health.quarantined(now) {
        return Err(format!(
            "{name} is quarantined ({}: {}); fix the cause, then release it: roster app release {name}",
            health.code.as_deref().unwrap_or("-"),
            health.reason.as_deref().unwrap_or("-")
        ));
    }
    Ok(())
}

/// Drains the queue as the engine does (the deprovision guard deciding on what was held); says what waits.
async fn round(store: &Store, app: &AppRuntime, holder: &str) -> Result<DrainReport, String> {
    let clock = system_clock();
    let r = sync_round(store, app, holder, &clock)
        .await
        .map_err(|e| e.to_string())?;
    Ok(r)
}

/// How far ahead [`drain_until_settled`] waits for the next due object: a pause the app asked for, or the retry
/// of a passing failure (server errors and dropped connections are retried after 2 s, 4 s, 8 s, …).
const PATIENCE_MICROS: i64 = 60_000_000;
/// How long [`drain_until_settled`] goes on waiting while nothing gets through.
const NO_PROGRESS_MICROS: i64 = 300_000_000;

/// Drains the app's queue until nothing is due within [`PATIENCE_MICROS`]: waits out the app's pauses
/// (`Retry-After`), saying so, and retries what failed for a passing cause. Stops when the app is quarantined or
/// nothing got through for [`NO_PROGRESS_MICROS`]. Returns the objects synced.
async fn drain_until_settled(store: &Store, app: &AppRuntime, holder: &str) -> Result<usize, String> {
    let clock = system_clock();
    let tty = std::io::stderr().is_terminal();
    let mut done = 0;
    let mut stalled_since = clock();
    let mut said: Option<std::time::Instant> = None;
    loop {
        let r = round(store, app, holder).await?;
        done += r.done;
        let now = clock();
        if r.done > 0 {
            stalled_since = now;
        }
        let health = store.app_health(&app.name).await.map_err(|e| e.to_string())?;
        let Some(next) = store.next_due(&app.name).await.map_err(|e| e.to_string())? else {
            break;
        };
        let due = next.max(health.not_before);
        if health.quarantined(now) || due - now > PATIENCE_MICROS || now - stalled_since > NO_PROGRESS_MICROS
        {
            break;
        }
        if due > now {
            // On a terminal one line kept current; otherwise a line every ten seconds at most.
            let quiet = said.is_some_and(|t| t.elapsed() < std::time::Duration::from_secs(10));
            if tty || !quiet {
                let why = if health.not_before > now {
                    format!("{} asked roster to wait (Retry-After)", app.name)
                } else {
                    "retrying objects that failed for a passing cause".to_owned()
                };
                let pending = store.count_pending(&app.name).await.map_err(|e| e.to_string())?;
                let secs = (due - now) as f64 / 1e6;
                if tty {
                    eprint!("\r\x1b[Kwaiting {secs:.1} s: {why}; {pending} object(s) pending, {done} synced");
                    let _ = std::io::stderr().flush();
                } else {
                    eprintln!("waiting {secs:.1} s: {why}; {pending} object(s) pending, {done} synced");
                }
                said = Some(std::time::Instant::now());
            }
            tokio::time::sleep(std::time::Duration::from_micros((due - now).unsigned_abs())).await;
        }
    }
    if tty && said.is_some() {
        eprintln!();
    }
    Ok(done)
}

/// What still waits after a sync: held deprovisions, objects still failing (with the first few), a quarantine.
/// Returns how many objects still fail.
async fn report_waiting(store: &Store, name: &str) -> Result<i64, String> {
    let (_, held) = store.count_held(name).await.map_err(|e| e.to_string())?;
    if held > 0 {
        eprintln!(
            "{held} deprovision(s) held: more than the app's guard allows at once ({}). \
             Check why, then: roster approve {name} (or --discard)",
            roster_engine::codes::GUARD_DEPROVISIONS.code,
        );
    }
    let failing = store.count_failing(name).await.map_err(|e| e.to_string())?;
    if failing > 0 {
        eprintln!(
            "{failing} object(s) still failing; they are retried later (roster log {name} --failures):"
        );
        let queue = store.list_queue(name, 100).await.map_err(|e| e.to_string())?;
        let failing: Vec<_> = queue
            .iter()
            .filter(|q| {
                q.last_code.is_some()
                    && matches!(q.hold, roster_store::Hold::None | roster_store::Hold::Approved)
            })
            .take(10)
            .collect();
        let names = roster_admin::Admin::new(store.clone(), crate::actor::actor())
            .names(failing.iter().map(|q| (q.kind, q.source_id.as_str())))
            .await
            .map_err(|e| e.to_string())?;
        for q in failing {
            eprintln!(
                "  {} {} ({}: {})",
                q.kind.as_str(),
                names.get(&(q.kind, q.source_id.clone())).unwrap_or(&q.source_id),
                q.last_code.as_deref().unwrap_or("-"),
                q.last_error.as_deref().unwrap_or("")
            );
        }
    }
    check_health(store, name).await?;
    Ok(failing)
}

pub async fn sync(args: SyncArgs) -> Result<ExitCode, String> {
    let store = open(&args.db).await?;
    let app = runtime(&store, &args.name).await?;
    let tty = std::io::stderr().is_terminal();
    if !args.dry_run {
        check_health(&store, &args.name).await?;
        let change = serde_json::json!({"full": args.full});
        crate::actor::record(&store, AuditAction::Sync, &args.name, change).await?;
    }
    if args.full {
        let total = store
            .count_resources(ResourceKind::User)
            .await
            .map_err(|e| e.to_string())?;
        let mut n = 0_u64;
        let mut held_back = 0_u64;
        let dry = args.dry_run;
        let started = roster_store::to_micros(time::OffsetDateTime::now_utc());
        let mut progress = Progress::new(if dry { "plan" } else { "sync" });
        let report = full_sync(&store, &app, dry, |id, r| {
            n += 1;
            held_back += u64::from(r.held_back);
            if !r.held_back && (dry && is_change(&r.action) || r.code.is_some()) {
                if tty {
                    eprint!("\r\x1b[K");
                }
                emit_plan(args.format, id, r);
            }
            progress.tick(usize::try_from(n).unwrap_or(usize::MAX), || {
                let pct = (n * 100).checked_div(total).unwrap_or(100);
                let waiting = if held_back > 0 {
                    format!(", {held_back} queued behind the app's pause")
                } else {
                    String::new()
                };
                format!("{n}/{total} users ({pct} %){waiting}")
            });
        })
        .await
        .map_err(|e| e.to_string())?;
        progress.done();
        let mut summary: Vec<_> = report.actions.iter().map(|(k, v)| format!("{k} {v}")).collect();
        summary.sort();
        let waited = if report.waiting > 0 {
            format!("; {} held back by the app's pause and queued", report.waiting)
        } else {
            String::new()
        };
        eprintln!(
            "{} {} users: {}; {} failed at the first attempt{waited}",
            if dry { "Dry run over" } else { "Reconciled" },
            report.seen,
            summary.join(", "),
            report.failed,
        );
        let mut summary = serde_json::json!({"app": args.name, "full": true, "dryRun": dry, "seen": report.seen,
            "actions": report.actions, "failedFirst": report.failed, "queuedBehindPause": report.waiting});
        if dry {
            app.leave(&store).await;
            emit_summary(args.format, &summary);
            return Ok(ExitCode::SUCCESS);
        }
        store
            .finish_reconcile(&args.name, started)
            .await
            .map_err(|e| e.to_string())?;
        // What failed for a passing cause, what the app's pauses held back, and the deprovisions the guard lets
        // through go now.
        let holder = format!("cli-{}", std::process::id());
        let done = drain_until_settled(&store, &app, &holder).await?;
        // The other processes working for the app take this sync's share of its concurrency at once.
        app.leave(&store).await;
        if done > 0 {
            eprintln!(
                "{done} object(s) synced after the pass (retries, waits, deprovisions within the guard)."
            );
        }
        let failing = report_waiting(&store, &args.name).await?;
        summary["synced"] = done.into();
        summary["stillFailing"] = failing.into();
        emit_summary(args.format, &summary);
        return Ok(if failing > 0 {
            ExitCode::from(1)
        } else {
            eprintln!("Every object is in sync.");
            ExitCode::SUCCESS
        });
    }
    if args.dry_run {
        // What the next incremental sync would do: the queued objects plus the journal since the cursor.
        let cursor = store.app_cursor(&args.name).await.map_err(|e| e.to_string())?;
        let entries = store
            .journal_since(cursor, 100_000)
            .await
            .map_err(|e| e.to_string())?;
        let mut objects = affected_objects(&store, &app, &entries)
            .await
            .map_err(|e| e.to_string())?;
        for q in store
            .list_queue(&args.name, 100_000)
            .await
            .map_err(|e| e.to_string())?
        {
            objects.insert((q.kind, q.source_id));
        }
        let mut changes = 0;
        for (kind, id) in &objects {
            let opts = SyncOptions {
                snapshot: None,
                read_target: false,
                dry_run: true,
                attempt: 1,
                guard: false,
            };
            let r = roster_engine::sync::sync_object(&store, &app, *kind, id, opts)
                .await
                .map_err(|e| e.to_string())?;
            if is_change(&r.action) || r.code.is_some() {
                changes += 1;
                emit_plan(args.format, id, &r);
            }
        }
        let ids = &objects;
        eprintln!(
            "Dry run: {changes} change(s) among {} pending object(s); nothing was written.",
            ids.len()
        );
        emit_summary(
            args.format,
            &serde_json::json!({"app": args.name, "full": false, "dryRun": true, "pending": ids.len(),
                "changes": changes}),
        );
        return Ok(ExitCode::SUCCESS);
    }
    let clock = system_clock();
    let queued = follow_journal(&store, &app, clock())
        .await
        .map_err(|e| e.to_string())?;
    let holder = format!("cli-{}", std::process::id());
    let done = drain_until_settled(&store, &app, &holder).await?;
    app.leave(&store).await;
    eprintln!("{queued} change(s) read from the directory; {done} object(s) synced.");
    let failing = report_waiting(&store, &args.name).await?;
    emit_summary(
        args.format,
        &serde_json::json!({"app": args.name, "full": false, "dryRun": false, "changes": queued,
            "synced": done, "stillFailing": failing}),
    );
    Ok(if failing > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
