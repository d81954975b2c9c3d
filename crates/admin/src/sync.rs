//! An app synced now, on an admin's request: what changed since the last sync, or every user (`full`), or the
//! plan of either without writing anything (`dry_run`).
//!
//! [`Admin::sync`] runs as the engine does (the deprovision guard deciding on what it held, an app's
//! `Retry-After` waited out, a passing failure retried) and returns a typed [`SyncSummary`]; while it runs it
//! tells the shell what it sees through [`SyncEvent`]s (a planned or failed object, a full sync's progress, a
//! wait), so the CLI can print as it goes and the API can ignore them and answer with the summary.

use crate::{Admin, AdminError, Failure, now};
use roster_codes as codes;
use roster_engine::runner::{
    affected_objects, follow_journal, full_sync, is_change, sync_round, system_clock,
};
use roster_engine::sync::{AppRuntime, ObjectResult, SyncOptions, sync_object};
use roster_store::{AuditAction, Hold, ResourceKind};
use std::collections::HashMap;
use std::time::Duration;

/// What to sync.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SyncRequest {
    /// Every user in the directory, each account read at the app (drift repaired), instead of only what changed
    /// since the last sync.
    pub full: bool,
    /// Plan only: nothing is written, in the app or in roster, and nothing is audited.
    pub dry_run: bool,
}

/// Why a sync waits before the next object is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitCause {
    /// The app asked roster to wait (`Retry-After`).
    RetryAfter,
    /// Objects that failed for a passing cause are due again soon (after 2 s, 4 s, 8 s, …).
    Retrying,
}

/// What a sync reports while it runs.
#[derive(Debug, Clone, Copy)]
pub enum SyncEvent<'a> {
    /// An object worth saying: in a dry run one that would change, otherwise one that failed. `id` is its
    /// directory id.
    Object {
        /// The directory id.
        id: &'a str,
        /// What was decided and how it ended.
        result: &'a ObjectResult,
    },
    /// A full sync has looked at `seen` of `total` users; `held_back` of them wait for the app's pause.
    Progress {
        /// Users looked at.
        seen: u64,
        /// Users in the directory when the sync began.
        total: u64,
        /// Users queued behind the app's pause.
        held_back: u64,
    },
    /// Nothing is due yet: the sync waits `wait`, for `cause`, with `pending` objects queued and `synced`
    /// synced since the pass.
    Waiting {
        /// How long.
        wait: Duration,
        /// Why.
        cause: WaitCause,
        /// Objects still queued for the app.
        pending: i64,
        /// Objects synced so far after the pass.
        synced: usize,
    },
}

/// A full sync's pass over every user.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pass {
    /// Users looked at.
    pub seen: usize,
    /// How many of each action (`create`, `update`, `link`, `disable`, `delete`, `unlink`, `conflict`, `none`).
    pub actions: HashMap<&'static str, usize>,
    /// Objects whose first attempt failed (they are retried).
    pub failed_first: usize,
    /// Objects held back by the app's pause and queued.
    pub queued_behind_pause: usize,
}

/// An object still failing after a sync.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failing {
    /// User or Group.
    pub kind: ResourceKind,
    /// The name it goes by now (its id when it has none).
    pub name: String,
    /// The roster code of its last failure.
    pub code: Option<String>,
    /// Its last failure, in words.
    pub error: Option<String>,
}

/// How many still-failing objects a summary names (the count covers them all).
pub const FAILING_NAMED: usize = 10;

/// What still waits after a sync.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Waiting {
    /// Deprovisions the guard holds for an admin (`roster approve`).
    pub held: i64,
    /// Objects still failing; they are retried later.
    pub failing: i64,
    /// The first [`FAILING_NAMED`] of them.
    pub first_failing: Vec<Failing>,
    /// The app's quarantine, when the sync ended in one: its code and reason.
    pub quarantine: Option<(String, String)>,
}

/// What [`Admin::sync`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncSummary {
    /// The app.
    pub app: String,
    /// What was asked.
    pub request: SyncRequest,
    /// A full sync's pass.
    pub pass: Option<Pass>,
    /// An incremental sync: changes read from the directory's journal.
    pub changes_read: usize,
    /// A dry run of an incremental sync: the objects it would look at.
    pub pending: usize,
    /// A dry run: objects that would change or fail (each said as a [`SyncEvent::Object`]).
    pub planned: usize,
    /// Objects synced after the pass (a full sync) or from the queue (an incremental one).
    pub synced: usize,
    /// What still waits; empty for a dry run.
    pub waiting: Waiting,
}

impl SyncSummary {
    /// Whether every object is in line with the app (nothing still failing, no quarantine).
    pub fn settled(&self) -> bool {
        self.waiting.failing == 0 && self.waiting.quarantine.is_none()
    }

    /// The summary as one object (`roster sync --format json`, the admin API).
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::json;
        let mut v = json!({"app": self.app, "full": self.request.full, "dryRun": self.request.dry_run});
        if let Some(p) = &self.pass {
            v["seen"] = p.seen.into();
            v["actions"] = json!(p.actions);
            v["failedFirst"] = p.failed_first.into();
            v["queuedBehindPause"] = p.queued_behind_pause.into();
        } else if !self.request.dry_run {
            v["changes"] = self.changes_read.into();
        } else {
            v["pending"] = self.pending.into();
        }
        if self.request.dry_run {
            v["planned"] = self.planned.into();
            return v;
        }
        let w = &self.waiting;
        v["synced"] = self.synced.into();
        v["settled"] = self.settled().into();
        v["stillFailing"] = w.failing.into();
        v["held"] = w.held.into();
        v["firstFailing"] = w
            .first_failing
            .iter()
            .map(|f| json!({"kind": f.kind.as_str(), "name": f.name, "code": f.code, "error": f.error}))
            .collect();
        v["quarantine"] = w.quarantine.as_ref().map_or(
            serde_json::Value::Null,
            |(code, reason)| json!({"code": code, "reason": reason}),
        );
        v
    }
}

/// How far ahead the drain waits for the next due object: a pause the app asked for, or the retry of a
/// passing failure.
const PATIENCE_MICROS: i64 = 60_000_000;
/// How long the drain goes on waiting while nothing gets through.
const NO_PROGRESS_MICROS: i64 = 300_000_000;
/// The most queued objects a dry run of an incremental sync plans.
const DRY_RUN_OBJECTS: i64 = 100_000;

impl Admin {
    /// Syncs `app` now, as asked; `on_event` hears what the sync sees as it goes. A quarantined app is refused
    /// (`R-APP-QUARANTINED`: fix the cause, then release it). Audited before it runs, unless a dry run.
    pub async fn sync(
        &self,
        app: &str,
        request: SyncRequest,
        mut on_event: impl FnMut(SyncEvent<'_>),
    ) -> Result<SyncSummary, AdminError> {
        let runtime = self.runtime(app).await?;
        if !request.dry_run {
            self.refuse_quarantined(app).await?;
            self.audit(AuditAction::Sync, app, serde_json::json!({"full": request.full}))
                .await?;
        }
        let mut summary = SyncSummary {
            app: app.to_owned(),
            request,
            pass: None,
            changes_read: 0,
            pending: 0,
            planned: 0,
            synced: 0,
            waiting: Waiting::default(),
        };
        let result = self.run(&runtime, &mut summary, &mut on_event).await;
        // The other processes working for the app take this sync's share of its concurrency at once.
        runtime.leave(self.store()).await;
        result?;
        if !request.dry_run {
            summary.waiting = self.waiting(app).await?;
        }
        Ok(summary)
    }

    async fn run(
        &self,
        app: &AppRuntime,
        summary: &mut SyncSummary,
        on_event: &mut impl FnMut(SyncEvent<'_>),
    ) -> Result<(), AdminError> {
        let SyncRequest { full, dry_run } = summary.request;
        if full {
            let started = now();
            let (pass, said) = self.pass(app, dry_run, on_event).await?;
            summary.pass = Some(pass);
            if dry_run {
                summary.planned = said;
                return Ok(());
            }
            self.store().finish_reconcile(&app.name, started).await?;
        } else if dry_run {
            return self.plan_changes(app, summary, on_event).await;
        } else {
            summary.changes_read = follow_journal(self.store(), app, now()).await?;
        }
        // What changed, what failed for a passing cause, what the app's pauses held back, and the deprovisions
        // the guard lets through go now.
        summary.synced = self.drain_until_settled(app, on_event).await?;
        Ok(())
    }

    /// A full sync's pass over every user, and how many objects it said (planned changes or failures).
    async fn pass(
        &self,
        app: &AppRuntime,
        dry_run: bool,
        on_event: &mut impl FnMut(SyncEvent<'_>),
    ) -> Result<(Pass, usize), AdminError> {
        let total = self.store().count_resources(ResourceKind::User).await?;
        let (mut seen, mut held_back, mut said) = (0_u64, 0_u64, 0_usize);
        let report = full_sync(self.store(), app, dry_run, |id, r| {
            seen += 1;
            held_back += u64::from(r.held_back);
            if !r.held_back && (dry_run && is_change(&r.action) || r.code.is_some()) {
                said += 1;
                on_event(SyncEvent::Object { id, result: r });
            }
            on_event(SyncEvent::Progress {
                seen,
                total,
                held_back,
            });
        })
        .await?;
        let pass = Pass {
            seen: report.seen,
            actions: report.actions,
            failed_first: report.failed,
            queued_behind_pause: report.waiting,
        };
        Ok((pass, said))
    }

    /// What the next incremental sync would do: the queued objects and the journal since the app's cursor,
    /// each planned without writing.
    async fn plan_changes(
        &self,
        app: &AppRuntime,
        summary: &mut SyncSummary,
        on_event: &mut impl FnMut(SyncEvent<'_>),
    ) -> Result<(), AdminError> {
        let store = self.store();
        let cursor = store.app_cursor(&app.name).await?;
        let entries = store.journal_since(cursor, DRY_RUN_OBJECTS).await?;
        let mut objects = affected_objects(store, app, &entries).await?;
        for q in store.list_queue(&app.name, DRY_RUN_OBJECTS).await? {
            objects.insert((q.kind, q.source_id));
        }
        let opts = SyncOptions {
            snapshot: None,
            read_target: false,
            dry_run: true,
            attempt: 1,
            guard: false,
        };
        for (kind, id) in &objects {
            let r = sync_object(store, app, *kind, id, opts).await?;
            if is_change(&r.action) || r.code.is_some() {
                summary.planned += 1;
                on_event(SyncEvent::Object { id, result: &r });
            }
        }
        summary.pending = objects.len();
        Ok(())
    }

    /// Drains the app's queue until nothing is due within [`PATIENCE_MICROS`]: waits out the app's pauses
    /// (`Retry-After`) and retries what failed for a passing cause. Stops when the app is quarantined or nothing
    /// got through for [`NO_PROGRESS_MICROS`]. Returns the objects synced.
    async fn drain_until_settled(
        &self,
        app: &AppRuntime,
        on_event: &mut impl FnMut(SyncEvent<'_>),
    ) -> Result<usize, AdminError> {
        let store = self.store();
        let clock = system_clock();
        let holder = format!("admin-{}", std::process::id());
        let mut synced = 0;
        let mut stalled_since = clock();
        loop {
            let round = sync_round(store, app, &holder, &clock).await?;
            synced += round.done;
            let now = clock();
            if round.done > 0 {
                stalled_since = now;
            }
            let health = store.app_health(&app.name).await?;
            let Some(next) = store.next_due(&app.name).await? else {
                return Ok(synced);
            };
            let due = next.max(health.not_before);
            if health.quarantined(now)
                || due - now > PATIENCE_MICROS
                || now - stalled_since > NO_PROGRESS_MICROS
            {
                return Ok(synced);
            }
            if due > now {
                let wait = Duration::from_micros((due - now).unsigned_abs());
                on_event(SyncEvent::Waiting {
                    wait,
                    cause: if health.not_before > now {
                        WaitCause::RetryAfter
                    } else {
                        WaitCause::Retrying
                    },
                    pending: store.count_pending(&app.name).await?,
                    synced,
                });
                tokio::time::sleep(wait).await;
            }
        }
    }

    /// What still waits for `app`: held deprovisions, objects still failing (the first named), a quarantine.
    pub async fn waiting(&self, app: &str) -> Result<Waiting, AdminError> {
        let store = self.store();
        let (_, held) = store.count_held(app).await?;
        let failing = store.count_failing(app).await?;
        let mut first_failing = Vec::new();
        if failing > 0 {
            let queue = store.list_queue(app, 100).await?;
            let failed: Vec<_> = queue
                .into_iter()
                .filter(|q| q.last_code.is_some() && matches!(q.hold, Hold::None | Hold::Approved))
                .take(FAILING_NAMED)
                .collect();
            let names = self
                .names(failed.iter().map(|q| (q.kind, q.source_id.as_str())))
                .await?;
            first_failing = failed
                .into_iter()
                .map(|q| Failing {
                    kind: q.kind,
                    name: names
                        .get(&(q.kind, q.source_id.clone()))
                        .cloned()
                        .unwrap_or(q.source_id),
                    code: q.last_code,
                    error: q.last_error,
                })
                .collect();
        }
        let health = store.app_health(app).await?;
        let quarantine = health.quarantined(now()).then(|| {
            (
                health
                    .code
                    .clone()
                    .unwrap_or_else(|| codes::APP_QUARANTINED.code.to_owned()),
                health.reason.clone().unwrap_or_default(),
            )
        });
        Ok(Waiting {
            held,
            failing,
            first_failing,
            quarantine,
        })
    }

    /// Refuses to sync a quarantined app: an admin fixes the cause and releases it first.
    async fn refuse_quarantined(&self, app: &str) -> Result<(), AdminError> {
        let health = self.store().app_health(app).await?;
        if health.quarantined(now()) {
            return Err(AdminError::with_code(
                Failure::Conflict,
                &codes::APP_QUARANTINED,
                format!(
                    "{app} is quarantined ({}: {}); fix the cause, then release it: roster app release {app}",
                    health.code.as_deref().unwrap_or("-"),
                    health.reason.as_deref().unwrap_or("-")
                ),
            ));
        }
        Ok(())
    }
}
