//! `roster sync`, `roster provision` and `roster log`: run the engine by hand, trace one user, read the log.

use crate::lookup::{find, find_user, sync_user};
use crate::output::{Format, csv_field};
use crate::serve::{DatabaseArg, open};
use clap::Args;
use roster_engine::plan::Action;
use roster_engine::runner::{
    DrainReport, affected_objects, follow_journal, full_sync, is_change, sync_round, system_clock,
};
use roster_engine::sync::{AppRuntime, ObjectResult, SyncOptions};
use roster_store::AuditAction;
use roster_store::{LogQuery, ResourceKind, Store};
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

#[derive(Debug, Args)]
pub struct ProvisionArgs {
    /// The app.
    name: String,
    /// The user's userName or id.
    #[arg(long)]
    user: String,
    /// Output format (json: one object with the steps, the result and, on failure, the code's cause and fix).
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
    #[command(flatten)]
    db: DatabaseArg,
}

#[derive(Debug, Args)]
pub struct LogArgs {
    /// The app.
    name: String,
    /// Only failures.
    #[arg(long)]
    failures: bool,
    /// Only this directory object: an id, a user's userName or a group's displayName (ids of deleted objects
    /// work too).
    #[arg(long)]
    object: Option<String>,
    /// Only this roster code.
    #[arg(long)]
    code: Option<String>,
    /// Only entries since this time: an age (`90m`, `12h`, `7d`) or an RFC 3339 time
    /// (`2026-11-20T08:00:00Z`).
    #[arg(long, value_parser = parse_since)]
    since: Option<time::OffsetDateTime>,
    /// In the table, show under each entry the requests roster made and what came back (redacted).
    #[arg(long)]
    detail: bool,
    /// At most this many entries, newest first.
    #[arg(long, default_value = "100")]
    limit: i64,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
    #[command(flatten)]
    db: DatabaseArg,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// A CSV file (header of SCIM attribute paths, optional `groups` column) or a JSON file of SCIM resources.
    file: std::path::PathBuf,
    /// Print what would be created and updated, and write nothing.
    #[arg(long)]
    dry_run: bool,
    #[command(flatten)]
    db: DatabaseArg,
}

pub async fn import(args: ImportArgs) -> Result<ExitCode, String> {
    let store = open(&args.db).await?;
    let opts = roster_store::import::ImportOptions {
        dry_run: args.dry_run,
    };
    let mut progress = Progress::new("import");
    let r = roster_store::import::import_file(&store, &args.file, opts, &mut |r| {
        let rows = r.created + r.updated + r.unchanged + r.skipped.len();
        progress.tick(rows, || {
            format!(
                "{rows} rows: {} created, {} updated, {} unchanged, {} skipped",
                r.created,
                r.updated,
                r.unchanged,
                r.skipped.len()
            )
        });
    })
    .await?;
    progress.done();
    if !r.errors.is_empty() {
        for (at, why) in r.errors.iter().take(50) {
            eprintln!("error {at}: {why}");
        }
        if r.errors.len() > 50 {
            eprintln!("… and {} more", r.errors.len() - 50);
        }
        eprintln!(
            "Nothing was imported from {}: fix the {} line(s) above and import it again.",
            args.file.display(),
            r.errors.len()
        );
        return Ok(ExitCode::from(1));
    }
    for (at, why) in &r.skipped {
        eprintln!("skipped {at}: {why}");
    }
    for line in &r.plan {
        out!("{line}");
    }
    eprintln!(
        "{} {}: {} {}, {} {}, {} unchanged, {} memberships {}, {} skipped{}",
        if args.dry_run { "Dry run of" } else { "Imported" },
        args.file.display(),
        r.created,
        if args.dry_run { "to create" } else { "created" },
        r.updated,
        if args.dry_run { "to update" } else { "updated" },
        r.unchanged,
        r.memberships,
        if args.dry_run { "to add" } else { "added" },
        r.skipped.len(),
        if args.dry_run {
            "; nothing was written."
        } else {
            "."
        }
    );
    let code = if r.skipped.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    };
    if args.dry_run {
        return Ok(code);
    }
    let change = serde_json::json!({"created": r.created, "updated": r.updated, "unchanged": r.unchanged,
        "memberships": r.memberships, "skipped": r.skipped.len()});
    crate::actor::record(
        &store,
        AuditAction::Import,
        &args.file.display().to_string(),
        change,
    )
    .await?;
    Ok(code)
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

/// The app ready to sync; an unknown name is said as such (not as a scope or mapping problem).
async fn runtime(store: &Store, name: &str) -> Result<AppRuntime, String> {
    find(store, name).await?;
    AppRuntime::load(store, name).await.map_err(|e| e.to_string())
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

/// Progress of long work on stderr: on a terminal one line kept current (at most ten times a second); otherwise
/// a summary line every ten seconds, for logs.
struct Progress {
    what: &'static str,
    tty: bool,
    started: std::time::Instant,
    last: Option<std::time::Instant>,
}

impl Progress {
    fn new(what: &'static str) -> Self {
        Self {
            what,
            tty: std::io::stderr().is_terminal(),
            started: std::time::Instant::now(),
            last: None,
        }
    }

    /// Shows `line()` with the rate of `count` items, if it is time to.
    fn tick(&mut self, count: usize, line: impl FnOnce() -> String) {
        let every = std::time::Duration::from_millis(if self.tty { 100 } else { 10_000 });
        if self.last.is_some_and(|t| t.elapsed() < every) {
            return;
        }
        self.last = Some(std::time::Instant::now());
        let secs = self.started.elapsed().as_secs_f64().max(0.001);
        #[allow(clippy::cast_precision_loss)]
        let rate = count as f64 / secs;
        if self.tty {
            eprint!("\r\x1b[K{}: {} ({rate:.0}/s)", self.what, line());
            let _ = std::io::stderr().flush();
        } else {
            eprintln!("{}: {} ({rate:.0}/s, {secs:.0} s)", self.what, line());
        }
    }

    /// Ends the progress line on a terminal.
    fn done(&self) {
        if self.tty && self.last.is_some() {
            eprintln!();
        }
    }
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
        let names = object_names(store, failing.iter().map(|q| (q.kind, q.source_id.as_str()))).await?;
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

pub async fn provision(args: ProvisionArgs) -> Result<ExitCode, String> {
    let store = open(&args.db).await?;
    let app = runtime(&store, &args.name).await?;
    let id = find_user(&store, &args.user).await?;
    let change = serde_json::json!({"user": args.user, "id": id});
    crate::actor::record(&store, AuditAction::Provision, &args.name, change).await?;
    let r = sync_user(&store, &app, &id, true, false).await?;
    if matches!(args.format, Format::Table) {
        for s in &r.steps {
            out!("{:<8} {}", s.stage, s.text);
        }
        if let Some(c) = r.code {
            let t = c.texts(crate::lang());
            out!("cause    {}", t.cause);
            out!("fix      {}", t.fix);
        }
    } else {
        out!(
            "{}",
            serde_json::json!({
                "user": args.user, "id": id, "action": r.action.name(), "detail": r.action.to_string(),
                "outcome": r.outcome.as_str(), "code": r.code.map(|c| c.code), "message": r.message,
                "cause": r.code.map(|c| c.texts(crate::lang()).cause), "fix": r.code.map(|c| c.texts(crate::lang()).fix),
                "steps": r.steps.iter().map(|s| serde_json::json!({"stage": s.stage, "text": s.text}))
                    .collect::<Vec<_>>(),
            })
        );
    }
    Ok(match (&r.action, r.outcome) {
        (_, roster_store::Outcome::Failed) => ExitCode::from(1),
        (Action::Conflict { .. }, _) => ExitCode::from(1),
        _ => ExitCode::SUCCESS,
    })
}

/// Reads `--since`: an age before now (`90m`, `12h`, `7d`, `30s`) or an RFC 3339 time.
pub(crate) fn parse_since(s: &str) -> Result<time::OffsetDateTime, String> {
    let now = time::OffsetDateTime::now_utc();
    parse_since_at(s, now)
}

fn parse_since_at(s: &str, now: time::OffsetDateTime) -> Result<time::OffsetDateTime, String> {
    let s = s.trim();
    if let Some(unit) = s.chars().last().filter(char::is_ascii_alphabetic)
        && let Ok(n) = s[..s.len() - 1].parse::<i64>()
        && n >= 0
    {
        let age = match unit {
            's' => time::Duration::seconds(n),
            'm' => time::Duration::minutes(n),
            'h' => time::Duration::hours(n),
            'd' => time::Duration::days(n),
            _ => {
                return Err(format!(
                    "'{s}': the unit of an age is s, m, h or d (for example 12h)"
                ));
            }
        };
        return Ok(now - age);
    }
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).map_err(|_| {
        format!("'{s}' is neither an age (90m, 12h, 7d) nor an RFC 3339 time (2026-11-20T08:00:00Z)")
    })
}

/// The directory id an object argument names: an id, a userName, a group displayName; otherwise the text itself
/// (the object may be gone from the directory and still be in the log).
async fn object_id(store: &Store, s: &str) -> Result<String, String> {
    Ok(store
        .find_named(s)
        .await
        .map_err(|e| e.to_string())?
        .map_or_else(|| s.to_owned(), |(_, id)| id))
}

pub async fn log(args: LogArgs) -> Result<ExitCode, String> {
    let store = open(&args.db).await?;
    find(&store, &args.name).await?;
    let object = match &args.object {
        Some(o) => Some(object_id(&store, o).await?),
        None => None,
    };
    let q = LogQuery {
        app: Some(&args.name),
        source_id: object.as_deref(),
        code: args.code.as_deref(),
        failures_only: args.failures,
        since: args.since,
        limit: args.limit,
    };
    let entries = store.list_log(&q).await.map_err(|e| e.to_string())?;
    let names = object_names(&store, entries.iter().map(|e| (e.kind, e.source_id.as_str()))).await?;
    let name_of = |e: &roster_store::LogEntry| names.get(&(e.kind, e.source_id.clone())).cloned();
    let time = |t: time::OffsetDateTime| roster_scim::value::format_datetime(t);
    match args.format {
        Format::Table => {
            out!(
                "{:<27} {:<9} {:<7} {:<36} {:<4} {:<22} MESSAGE",
                "TIME",
                "ACTION",
                "OUTCOME",
                "OBJECT",
                "HTTP",
                "CODE"
            );
            for e in &entries {
                out!(
                    "{:<27} {:<9} {:<7} {:<36} {:<4} {:<22} {}",
                    time(e.at),
                    e.action,
                    e.outcome.as_str(),
                    match name_of(e) {
                        Some(name) => name,
                        // An event of the app as a whole (a quarantine) names no object.
                        None if e.source_id.is_empty() => "(the app)".to_owned(),
                        None => e.source_id.clone(),
                    },
                    e.http_status.map(|s| s.to_string()).unwrap_or_default(),
                    e.code.as_deref().unwrap_or("-"),
                    e.message
                );
                if args.detail {
                    let v = e.to_json();
                    for x in v["exchanges"].as_array().into_iter().flatten() {
                        let body = x.get("body").map(|b| format!(" {b}")).unwrap_or_default();
                        let status = x.get("status").and_then(serde_json::Value::as_u64);
                        let answer = x.get("response").map(|r| format!(" {r}")).unwrap_or_default();
                        out!("    → {}{body}", x["request"].as_str().unwrap_or("?"));
                        match status {
                            Some(st) => out!("    ← {st}{answer}"),
                            None => out!("    ← no answer{answer}"),
                        }
                    }
                }
            }
        }
        Format::Csv => {
            out!(
                "time,app,type,object,target,action,outcome,attempt,http_status,code,message,duration_ms,exchanges,name"
            );
            for e in &entries {
                let fields = [
                    time(e.at),
                    e.app.clone(),
                    e.kind.as_str().to_owned(),
                    e.source_id.clone(),
                    e.target_id.clone().unwrap_or_default(),
                    e.action.clone(),
                    e.outcome.as_str().to_owned(),
                    e.attempt.to_string(),
                    e.http_status.map(|s| s.to_string()).unwrap_or_default(),
                    e.code.clone().unwrap_or_default(),
                    e.message.clone(),
                    e.duration_ms.to_string(),
                    e.exchanges.clone().unwrap_or_default(),
                    // Last, so scripts reading the columns by position keep working.
                    name_of(e).unwrap_or_default(),
                ];
                out!(
                    "{}",
                    fields.iter().map(|f| csv_field(f)).collect::<Vec<_>>().join(",")
                );
            }
        }
        Format::Json => {
            for e in &entries {
                let mut v = e.to_json();
                v["name"] = name_of(e).map_or(serde_json::Value::Null, serde_json::Value::String);
                out!("{v}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The names the log's objects go by now: a user's userName, a group's displayName (objects deleted from the
/// directory have none; their id stands).
async fn object_names<'a>(
    store: &Store,
    objects: impl Iterator<Item = (ResourceKind, &'a str)> + Clone,
) -> Result<std::collections::HashMap<(ResourceKind, String), String>, String> {
    let mut names = std::collections::HashMap::new();
    for (kind, attr) in [
        (ResourceKind::User, "userName"),
        (ResourceKind::Group, "displayName"),
    ] {
        let mut ids: Vec<String> = objects
            .clone()
            .filter(|(k, _)| *k == kind)
            .map(|(_, id)| id.to_owned())
            .collect();
        ids.sort_unstable();
        ids.dedup();
        for r in store
            .load_resources(kind, &ids)
            .await
            .map_err(|e| e.to_string())?
        {
            if let Some(n) = r.data.get(attr).and_then(serde_json::Value::as_str) {
                names.insert((kind, r.id.clone()), n.to_owned());
            }
        }
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::parse_since_at;
    use time::macros::datetime;

    #[test]
    fn since_takes_an_age_or_a_time() {
        let now = datetime!(2026-11-24 12:00 UTC);
        assert_eq!(parse_since_at("90m", now), Ok(datetime!(2026-11-24 10:30 UTC)));
        assert_eq!(parse_since_at("7d", now), Ok(datetime!(2026-11-17 12:00 UTC)));
        assert_eq!(parse_since_at("30s", now), Ok(datetime!(2026-11-24 11:59:30 UTC)));
        assert_eq!(
            parse_since_at("2026-11-20T08:00:00Z", now),
            Ok(datetime!(2026-11-20 08:00 UTC))
        );
        for bad in ["12x", "yesterday", "-3h", ""] {
            assert!(parse_since_at(bad, now).is_err(), "{bad}");
        }
    }
}
