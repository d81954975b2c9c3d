//! `roster sync`: an app synced now (what changed, or everything with --full; --dry-run shows the plan), through
//! `roster_admin`; this module says what the sync reports, as it goes and at the end.

use crate::error::CliError;
use crate::output::{Format, Progress, csv_field};
use crate::serve::{DatabaseArg, admin};
use clap::Args;
use roster_admin::sync::{SyncEvent, SyncRequest, SyncSummary, WaitCause, Waiting};
use roster_engine::sync::ObjectResult;
use serde_json::json;
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
            json!({"object": id, "action": r.action.name(), "detail": r.action.to_string(),
                "outcome": r.outcome.as_str(), "code": r.code.map(|c| c.code), "message": r.message})
        ),
    }
}

/// What the sync reports as it goes: planned and failed objects on stdout, progress and waits on stderr (one
/// line kept current on a terminal; otherwise a line every ten seconds at most).
struct Reporter {
    format: Format,
    tty: bool,
    progress: Progress,
    waited: Option<std::time::Instant>,
}

impl Reporter {
    fn event(&mut self, e: SyncEvent<'_>) {
        match e {
            SyncEvent::Object { id, result } => {
                if self.tty {
                    eprint!("\r\x1b[K");
                }
                emit_plan(self.format, id, result);
            }
            SyncEvent::Progress {
                seen,
                total,
                held_back,
            } => self
                .progress
                .tick(usize::try_from(seen).unwrap_or(usize::MAX), || {
                    let pct = (seen * 100).checked_div(total).unwrap_or(100);
                    let waiting = if held_back > 0 {
                        format!(", {held_back} queued behind the app's pause")
                    } else {
                        String::new()
                    };
                    format!("{seen}/{total} users ({pct} %){waiting}")
                }),
            SyncEvent::Waiting {
                wait,
                cause,
                pending,
                synced,
            } => {
                let quiet = self
                    .waited
                    .is_some_and(|t| t.elapsed() < std::time::Duration::from_secs(10));
                if self.tty || !quiet {
                    let why = match cause {
                        WaitCause::RetryAfter => "the app asked roster to wait (Retry-After)",
                        WaitCause::Retrying => "retrying objects that failed for a passing cause",
                    };
                    let line = format!(
                        "waiting {:.1} s: {why}; {pending} object(s) pending, {synced} synced",
                        wait.as_secs_f64()
                    );
                    if self.tty {
                        eprint!("\r\x1b[K{line}");
                        let _ = std::io::stderr().flush();
                    } else {
                        eprintln!("{line}");
                    }
                    self.waited = Some(std::time::Instant::now());
                }
            }
        }
    }

    /// Ends a line kept current on a terminal.
    fn done(&self) {
        self.progress.done();
        if self.tty && self.waited.is_some() {
            eprintln!();
        }
    }
}

/// What still waits after a sync, in words on stderr.
fn say_waiting(name: &str, w: &Waiting) {
    if w.held > 0 {
        eprintln!(
            "{} deprovision(s) held: more than the app's guard allows at once ({}). \
             Check why, then: roster approve {name} (or --discard)",
            w.held,
            roster_engine::codes::GUARD_DEPROVISIONS.code,
        );
    }
    if w.failing > 0 {
        eprintln!(
            "{} object(s) still failing; they are retried later (roster log {name} --failures):",
            w.failing
        );
        for f in &w.first_failing {
            eprintln!(
                "  {} {} ({}: {})",
                f.kind.as_str(),
                f.name,
                f.code.as_deref().unwrap_or("-"),
                f.error.as_deref().unwrap_or("")
            );
        }
    }
    if let Some((code, reason)) = &w.quarantine {
        eprintln!(
            "{name} is quarantined ({code}: {reason}); fix the cause, then release it: roster app release {name}"
        );
    }
}

/// The summary in words on stderr.
fn say_summary(s: &SyncSummary) {
    let dry = s.request.dry_run;
    if let Some(p) = &s.pass {
        let mut actions: Vec<_> = p.actions.iter().map(|(k, v)| format!("{k} {v}")).collect();
        actions.sort();
        let waited = if p.queued_behind_pause > 0 {
            format!(
                "; {} held back by the app's pause and queued",
                p.queued_behind_pause
            )
        } else {
            String::new()
        };
        eprintln!(
            "{} {} users: {}; {} failed at the first attempt{waited}",
            if dry { "Dry run over" } else { "Reconciled" },
            p.seen,
            actions.join(", "),
            p.failed_first,
        );
        if !dry && s.synced > 0 {
            eprintln!(
                "{} object(s) synced after the pass (retries, waits, deprovisions within the guard).",
                s.synced
            );
        }
    } else if dry {
        eprintln!(
            "Dry run: {} change(s) among {} pending object(s); nothing was written.",
            s.planned, s.pending
        );
    } else {
        eprintln!(
            "{} change(s) read from the directory; {} object(s) synced.",
            s.changes_read, s.synced
        );
    }
    if !dry {
        say_waiting(&s.app, &s.waiting);
        if s.pass.is_some() && s.settled() {
            eprintln!("Every object is in sync.");
        }
    }
}

/// `roster sync`: exit 0 when every object is in line with the app, 1 when some still fail or the app ended in
/// quarantine, 2 for a mistake in what was asked, 4 when the app is quarantined before the sync begins.
pub async fn sync(args: SyncArgs) -> Result<ExitCode, CliError> {
    let admin = admin(&args.db).await?;
    let request = SyncRequest {
        full: args.full,
        dry_run: args.dry_run,
    };
    let mut reporter = Reporter {
        format: args.format,
        tty: std::io::stderr().is_terminal(),
        progress: Progress::new(if args.dry_run { "plan" } else { "sync" }),
        waited: None,
    };
    let summary = admin.sync(&args.name, request, |e| reporter.event(e)).await;
    reporter.done();
    let summary = summary?;
    say_summary(&summary);
    if matches!(args.format, Format::Json) {
        out!("{}", json!({ "summary": summary.to_json() }));
    }
    Ok(if summary.settled() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
