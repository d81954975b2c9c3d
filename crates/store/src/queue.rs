//! The sync queue: directory objects waiting to be synced to an app, as durable rows that workers lease.
//!
//! One row per (app, object), however many changes arrive: syncing an object reads its current state, so the
//! latest change wins and order per object is kept by construction. `gen` increases with every enqueue; a worker
//! that finishes generation `g` deletes the row only if it is still at `g`, otherwise the row stays for the newer
//! change. A lease (`lease_until`, `lease_holder`) keeps two workers (or two processes on one PostgreSQL) from
//! syncing the same object at once; an expired lease (the worker died) makes the row available again.
//!
//! Times here are microseconds since the epoch passed in by the caller, so tests control the clock.

use crate::directory::ResourceKind;
use crate::{Backend, Store, StoreError};

/// An object waiting to be synced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueItem {
    /// The app.
    pub app: String,
    /// User or Group.
    pub kind: ResourceKind,
    /// The directory object's id.
    pub source_id: String,
    /// The generation this item was read at.
    pub generation: i64,
    /// Failed attempts so far.
    pub attempts: i64,
    /// Not before this time (microseconds since the epoch).
    pub run_at: i64,
    /// The roster code of the last failure.
    pub last_code: Option<String>,
    /// The last failure, in words.
    pub last_error: Option<String>,
    /// Whether the deprovision guard holds it.
    pub hold: Hold,
}

/// A queue row's hold by the deprovision guard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Hold {
    /// Not held.
    #[default]
    None,
    /// A deprovision waiting for the guard's check (the guard runs after each round of the queue).
    Check,
    /// Approved: runs without the guard.
    Approved,
    /// Held until an admin approves it (`roster approve`).
    AwaitingApproval,
}

impl Hold {
    /// The stored number.
    pub const fn as_i64(self) -> i64 {
        match self {
            Self::None => 0,
            Self::Check => 1,
            Self::Approved => 2,
            Self::AwaitingApproval => 3,
        }
    }
    fn from_i64(n: i64) -> Result<Self, StoreError> {
        Ok(match n {
            0 => Self::None,
            1 => Self::Check,
            2 => Self::Approved,
            3 => Self::AwaitingApproval,
            other => return Err(StoreError::Corrupt(format!("queue hold {other}"))),
        })
    }
}

type QueueRow = (
    String,
    String,
    String,
    i64,
    i64,
    i64,
    Option<String>,
    Option<String>,
    i64,
);

/// The columns of a [`QueueRow`].
const QUEUE_COLUMNS: &str =
    "app, resource_type, source_id, gen, attempts, run_at, last_code, last_error, hold";

fn item_from_row(row: QueueRow) -> Result<QueueItem, StoreError> {
    let (app, kind, source_id, generation, attempts, run_at, last_code, last_error, hold) = row;
    Ok(QueueItem {
        kind: ResourceKind::from_name(&kind)
            .ok_or_else(|| StoreError::Corrupt(format!("queue resource type '{kind}'")))?,
        app,
        source_id,
        generation,
        attempts,
        run_at,
        last_code,
        last_error,
        hold: Hold::from_i64(hold)?,
    })
}

/// What an enqueue does to an object already queued: a new generation, a hold that a change lifts (1, 3) lifted,
/// the earlier of the two due times.
const ENQUEUE_CONFLICT: &str = " ON CONFLICT (app, resource_type, source_id) DO UPDATE SET gen = sync_queue.gen + 1, \
     hold = CASE WHEN sync_queue.hold IN (1, 3) THEN 0 ELSE sync_queue.hold END, \
     run_at = CASE WHEN sync_queue.run_at < excluded.run_at THEN sync_queue.run_at ELSE excluded.run_at END";

/// A lone enqueue waiting to be written with the others made at the same time ([`crate::combine`]): the app, its
/// objects, when they are due.
pub(crate) type PendingEnqueue = (String, Vec<(ResourceKind, String)>, i64);

/// One row an enqueue writes: app, type, object, due time.
type QueueWrite<'a> = (&'a str, ResourceKind, &'a str, i64);

/// The statement that queues `rows` (distinct, at most 500), each due at its time.
fn upsert_queue<DB: sqlx::Database>(rows: &[QueueWrite<'_>]) -> sqlx::QueryBuilder<DB>
where
    for<'t> &'t str: sqlx::Encode<'t, DB> + sqlx::Type<DB>,
    i64: for<'t> sqlx::Encode<'t, DB> + sqlx::Type<DB>,
{
    let mut q = sqlx::QueryBuilder::new(
        "INSERT INTO sync_queue (app, resource_type, source_id, gen, attempts, run_at) ",
    );
    q.push_values(rows, |mut b, (app, kind, id, now)| {
        b.push_bind(*app)
            .push_bind(kind.as_str())
            .push_bind(*id)
            .push("1")
            .push("0")
            .push_bind(*now);
    });
    q.push(ENQUEUE_CONFLICT);
    q
}

impl Store {
    /// Queues objects for an app, due at `now`. An object already queued gets a new generation and keeps the
    /// earlier of its due times. Enqueues made at the same time (the engine's workers each queueing a new
    /// user's groups) are written together, each object once, so a group that every new user belongs to is
    /// upserted once per batch rather than once per user.
    pub async fn enqueue(
        &self,
        app: &str,
        objects: &[(ResourceKind, String)],
        now: i64,
    ) -> Result<(), StoreError> {
        if objects.is_empty() {
            return Ok(());
        }
        if objects.len() > 500 {
            return self
                .enqueue_at(app, objects, Advance::None, now)
                .await
                .map(|_| ());
        }
        let store = self.clone();
        self.enqueues
            .submit((app.to_owned(), objects.to_vec(), now), move |batch| {
                let store = store.clone();
                async move { store.enqueue_batch(batch).await }
            })
            .await
            .unwrap_or_else(|| {
                Err(StoreError::Corrupt(
                    "an enqueue was not written (its batch failed)".into(),
                ))
            })
    }

    /// Writes a batch of lone enqueues as their union: each object once, due at the earliest of its times, in
    /// statements of 500 rows in one order. A write that fails is given to each enqueue of the batch.
    async fn enqueue_batch(&self, batch: Vec<PendingEnqueue>) -> Vec<Result<(), StoreError>> {
        let mut union: std::collections::BTreeMap<(&str, ResourceKind, &str), i64> = Default::default();
        for (app, objects, now) in &batch {
            for (kind, id) in objects {
                let due = union.entry((app.as_str(), *kind, id.as_str())).or_insert(*now);
                *due = (*due).min(*now);
            }
        }
        let rows: Vec<QueueWrite<'_>> = union
            .into_iter()
            .map(|((app, kind, id), now)| (app, kind, id, now))
            .collect();
        let written = {
            let _writer = self.writer().await;
            let mut written = Ok(());
            for chunk in rows.chunks(500) {
                written = on_db!(self, pool => upsert_queue(chunk).build().execute(pool).await.map(|_| ()));
                if written.is_err() {
                    break;
                }
            }
            written
        };
        match written {
            Ok(()) => batch.iter().map(|_| Ok(())).collect(),
            Err(e) if batch.len() == 1 => vec![Err(e.into())],
            Err(e) => {
                tracing::debug!(error = %e, "a batch of enqueues failed; writing them one by one");
                let mut results = Vec::with_capacity(batch.len());
                for (app, objects, now) in &batch {
                    results.push(
                        self.enqueue_at(app, objects, Advance::None, *now)
                            .await
                            .map(|_| ()),
                    );
                }
                results
            }
        }
    }

    /// Queues objects and moves the app's journal cursor to `seq` in one transaction, so a crash loses neither
    /// (the cursor never moves backwards).
    pub async fn enqueue_and_advance(
        &self,
        app: &str,
        objects: &[(ResourceKind, String)],
        seq: i64,
        now: i64,
    ) -> Result<(), StoreError> {
        self.enqueue_at(app, objects, Advance::AtLeast(seq), now)
            .await
            .map(|_| ())
    }

    /// Queues the objects of the journal entries after `from` up to `to` and moves the app's cursor from `from`
    /// to `to`, in one transaction, if the cursor is still at `from`; returns `false`, having written nothing,
    /// when another follower (another process's engine) moved it first. The cursor's row is taken before the
    /// queue's rows, so a second follower of the same entries waits for the first to commit and then writes
    /// nothing: without it, two or three engines queued every change two or three times, and each queuing after
    /// the first counted as a newer change that was synced again (`bench/multiprocess.sh`: 2,442 reads of 2,000
    /// joiners with three engines).
    pub async fn follow_journal_to(
        &self,
        app: &str,
        objects: &[(ResourceKind, String)],
        from: i64,
        to: i64,
        now: i64,
    ) -> Result<bool, StoreError> {
        self.enqueue_at(app, objects, Advance::From { from, to }, now)
            .await
    }

    async fn enqueue_at(
        &self,
        app: &str,
        objects: &[(ResourceKind, String)],
        advance: Advance,
        now: i64,
    ) -> Result<bool, StoreError> {
        // One statement per 500 objects, each named once (a statement may not update a row twice) and in one order
        // (two enqueues that lock the same rows lock them in the same order, so they cannot deadlock). A
        // transaction of one statement per object held the rows it had queued while it sent the next, and every
        // enqueue touching one of them waited (on PostgreSQL, most of a sync's time: `Lock:transactionid`); a
        // single statement without a cursor to move runs on its own, holding its rows for that statement only.
        let mut objects: Vec<&(ResourceKind, String)> = objects.iter().collect();
        objects.sort_unstable();
        objects.dedup();
        let _writer = self.writer().await;
        let rows: Vec<QueueWrite<'_>> = objects
            .iter()
            .map(|(kind, id)| (app, *kind, id.as_str(), now))
            .collect();
        on_db!(self, pool => {
            if matches!(advance, Advance::None) && rows.len() <= 500 {
                if !rows.is_empty() {
                    upsert_queue(&rows).build().execute(pool).await?;
                }
                return Ok(true);
            }
            let mut tx = pool.begin_with(self.write_begin()).await?;
            if let Advance::From { from, to } = advance {
                let moved = sqlx::query("UPDATE app_cursors SET seq = $1 WHERE app = $2 AND seq = $3")
                    .bind(to).bind(app).bind(from).execute(&mut *tx).await?.rows_affected();
                if moved == 0 {
                    return Ok(false);
                }
            }
            for chunk in rows.chunks(500) {
                upsert_queue(chunk).build().execute(&mut *tx).await?;
            }
            if let Advance::AtLeast(seq) = advance {
                sqlx::query("UPDATE app_cursors SET seq = $1 WHERE app = $2 AND seq < $1")
                    .bind(seq).bind(app).execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok(true)
        })
    }

    /// Leases up to `limit` due objects of an app for `holder` until `now + lease_micros`, oldest due first.
    pub async fn lease_queue(
        &self,
        app: &str,
        holder: &str,
        now: i64,
        lease_micros: i64,
        limit: i64,
    ) -> Result<Vec<QueueItem>, StoreError> {
        let _writer = self.writer().await;
        // PostgreSQL: skip rows another process is leasing right now; SQLite has one writer at a time.
        let lock = match self.backend() {
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        };
        let sql = format!(
            "UPDATE sync_queue SET lease_until = $1, lease_holder = $2 \
             WHERE (app, resource_type, source_id) IN (SELECT app, resource_type, source_id FROM sync_queue \
               WHERE app = $3 AND run_at <= $4 AND (lease_until IS NULL OR lease_until < $4) AND hold IN (0, 2) \
               ORDER BY run_at, source_id LIMIT $5{lock}) \
             RETURNING {QUEUE_COLUMNS}"
        );
        on_db!(self, pool => {
            let mut tx = pool.begin_with(self.write_begin()).await?;
            let rows: Vec<QueueRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
                .bind(now + lease_micros).bind(holder).bind(app).bind(now).bind(limit)
                .fetch_all(&mut *tx).await?;
            tx.commit().await?;
            let mut items = rows.into_iter().map(item_from_row).collect::<Result<Vec<_>, _>>()?;
            items.sort_by(|a, b| (a.run_at, &a.source_id).cmp(&(b.run_at, &b.source_id)));
            Ok(items)
        })
    }

    /// Leases these objects for `holder` whether they are queued or not (a full reconcile about to sync them),
    /// except those another worker holds now. Returns the ones `holder` got, as queue items to settle.
    pub async fn lease_objects(
        &self,
        app: &str,
        holder: &str,
        objects: &[(ResourceKind, String)],
        now: i64,
        lease_micros: i64,
    ) -> Result<Vec<QueueItem>, StoreError> {
        if objects.is_empty() {
            return Ok(Vec::new());
        }
        let _writer = self.writer().await;
        let mut out = Vec::with_capacity(objects.len());
        for chunk in objects.chunks(500) {
            on_db!(self, pool => {
                let mut q = sqlx::QueryBuilder::new(
                    "INSERT INTO sync_queue (app, resource_type, source_id, gen, attempts, run_at, lease_until, lease_holder) ",
                );
                q.push_values(chunk, |mut b, (kind, id)| {
                    b.push_bind(app).push_bind(kind.as_str()).push_bind(id.as_str()).push("0").push("0")
                        .push_bind(now).push_bind(now + lease_micros).push_bind(holder);
                });
                q.push(
                    " ON CONFLICT (app, resource_type, source_id) DO UPDATE SET lease_until = excluded.lease_until, \
                     lease_holder = excluded.lease_holder WHERE sync_queue.hold <> 2 AND \
                     (sync_queue.lease_until IS NULL OR sync_queue.lease_until < ",
                )
                .push_bind(now)
                .push(") RETURNING ")
                .push(QUEUE_COLUMNS);
                let rows: Vec<QueueRow> = q.build_query_as().fetch_all(pool).await?;
                for row in rows {
                    out.push(item_from_row(row)?);
                }
            });
        }
        Ok(out)
    }

    /// Finishes a reconcile's page, or a queue drain's successes, at once: of the `page` objects `holder`
    /// leases, the `synced` rows still at the generation given go, and the rest are released (a newer change
    /// arrived, or the sync failed and was rescheduled; a worker takes them). A synced row kept for a newer
    /// change starts its attempts afresh, as [`Self::finish_queue_item`] does. Leases `holder` has on other
    /// objects (the next page) are kept.
    pub async fn finish_many(
        &self,
        app: &str,
        holder: &str,
        synced: &[(ResourceKind, String, i64)],
        page: &[(ResourceKind, String)],
    ) -> Result<(), StoreError> {
        let _writer = self.writer().await;
        let pool = match &self.db {
            crate::Db::Postgres(pool) => return finish_many_postgres(pool, app, holder, synced, page).await,
            crate::Db::Sqlite(pool) => pool,
        };
        let mut tx = pool.begin_with(self.write_begin()).await?;
        for chunk in synced.chunks(500) {
            let mut q = sqlx::QueryBuilder::new("DELETE FROM sync_queue WHERE app = ");
            q.push_bind(app)
                .push(" AND lease_holder = ")
                .push_bind(holder)
                .push(" AND (resource_type, source_id, gen) IN (");
            let mut sep = q.separated(", ");
            for (kind, id, generation) in chunk {
                sep.push("(")
                    .push_bind_unseparated(kind.as_str())
                    .push_unseparated(", ")
                    .push_bind_unseparated(id.as_str())
                    .push_unseparated(", ")
                    .push_bind_unseparated(*generation)
                    .push_unseparated(")");
            }
            q.push(")");
            q.build().execute(&mut *tx).await?;
            // What is left of the chunk changed meanwhile: its earlier failures are history.
            let keys = chunk.iter().map(|(k, id, _)| (*k, id.as_str()));
            update_leased_sqlite(&mut tx, RESET_ATTEMPTS, app, holder, keys).await?;
        }
        for chunk in page.chunks(500) {
            let keys = chunk.iter().map(|(k, id)| (*k, id.as_str()));
            update_leased_sqlite(&mut tx, RELEASE, app, holder, keys).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Extends every lease `holder` has on an app's queue to `until` (a worker still busy with its batch).
    pub async fn renew_leases(&self, app: &str, holder: &str, until: i64) -> Result<(), StoreError> {
        let _writer = self.writer().await;
        on_db!(self, pool => {
            sqlx::query("UPDATE sync_queue SET lease_until = $1 WHERE app = $2 AND lease_holder = $3")
                .bind(until).bind(app).bind(holder).execute(pool).await?;
            Ok(())
        })
    }

    /// The object was synced: the row goes if no newer change arrived meanwhile, else its lease is released so
    /// the newer change runs. Returns whether the row was removed.
    pub async fn finish_queue_item(&self, item: &QueueItem, holder: &str) -> Result<bool, StoreError> {
        let _writer = self.writer().await;
        on_db!(self, pool => {
            let mut tx = pool.begin_with(self.write_begin()).await?;
            let n = sqlx::query(
                "DELETE FROM sync_queue WHERE app = $1 AND resource_type = $2 AND source_id = $3 AND gen = $4 AND lease_holder = $5",
            )
            .bind(&item.app).bind(item.kind.as_str()).bind(&item.source_id).bind(item.generation).bind(holder)
            .execute(&mut *tx).await?.rows_affected();
            if n == 0 {
                sqlx::query(
                    "UPDATE sync_queue SET lease_until = NULL, lease_holder = NULL, attempts = 0, last_code = NULL, last_error = NULL \
                     WHERE app = $1 AND resource_type = $2 AND source_id = $3 AND lease_holder = $4",
                )
                .bind(&item.app).bind(item.kind.as_str()).bind(&item.source_id).bind(holder)
                .execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok(n == 1)
        })
    }

    /// The sync failed: count the attempt, record why, and make the object due again at `run_at`.
    pub async fn retry_queue_item(
        &self,
        item: &QueueItem,
        holder: &str,
        run_at: i64,
        code: &str,
        error: &str,
    ) -> Result<(), StoreError> {
        let _writer = self.writer().await;
        on_db!(self, pool => {
            sqlx::query(
                "UPDATE sync_queue SET attempts = attempts + 1, run_at = $1, last_code = $2, last_error = $3, \
                 lease_until = NULL, lease_holder = NULL \
                 WHERE app = $4 AND resource_type = $5 AND source_id = $6 AND lease_holder = $7",
            )
            .bind(run_at).bind(code).bind(error)
            .bind(&item.app).bind(item.kind.as_str()).bind(&item.source_id).bind(holder)
            .execute(pool).await?;
            Ok(())
        })
    }

    /// The sync was held back by the app's pause (its `Retry-After`, a halted credential): not an attempt. The
    /// object is due again at `run_at` with its attempts and last failure as they were.
    pub async fn postpone_queue_item(
        &self,
        item: &QueueItem,
        holder: &str,
        run_at: i64,
    ) -> Result<(), StoreError> {
        let _writer = self.writer().await;
        on_db!(self, pool => {
            sqlx::query(
                "UPDATE sync_queue SET run_at = $1, lease_until = NULL, lease_holder = NULL \
                 WHERE app = $2 AND resource_type = $3 AND source_id = $4 AND lease_holder = $5",
            )
            .bind(run_at).bind(&item.app).bind(item.kind.as_str()).bind(&item.source_id).bind(holder)
            .execute(pool).await?;
            Ok(())
        })
    }

    /// The guard holds a synced object's deprovision: the row stays (released, not counted as an attempt) with
    /// hold [`Hold::Check`] until the guard decides; a row already awaiting approval (a reconcile synced it again)
    /// keeps waiting, so the guard neither decides nor logs it twice.
    pub async fn hold_queue_item(
        &self,
        item: &QueueItem,
        holder: &str,
        message: &str,
    ) -> Result<(), StoreError> {
        let _writer = self.writer().await;
        on_db!(self, pool => {
            sqlx::query(
                "UPDATE sync_queue SET hold = CASE WHEN hold = 3 THEN 3 ELSE 1 END, last_code = 'R-GUARD-DEPROVISIONS', last_error = $1, \
                 lease_until = NULL, lease_holder = NULL \
                 WHERE app = $2 AND resource_type = $3 AND source_id = $4 AND lease_holder = $5",
            )
            .bind(message).bind(&item.app).bind(item.kind.as_str()).bind(&item.source_id).bind(holder)
            .execute(pool).await?;
            Ok(())
        })
    }

    /// How many of an app's queued objects wait to be synced (held deprovisions not counted).
    pub async fn count_pending(&self, app: &str) -> Result<i64, StoreError> {
        on_db!(self, pool => {
            let n: (i64,) = sqlx::query_as("SELECT COUNT(*) FROM sync_queue WHERE app = $1 AND hold IN (0, 2)")
                .bind(app).fetch_one(pool).await?;
            Ok(n.0)
        })
    }

    /// Makes an app's failed objects due at `now` with their attempts counted afresh (an admin fixed the cause:
    /// `roster retry`, or the app's settings changed). Only those whose last failure had `code`, or only the
    /// object `source_id`, when given; an object that is not queued is queued (`roster retry NAME --object`
    /// syncs it whatever its state). Held deprovisions are not touched. Returns how many objects are due now.
    pub async fn retry_now(
        &self,
        app: &str,
        code: Option<&str>,
        object: Option<(ResourceKind, &str)>,
        now: i64,
    ) -> Result<u64, StoreError> {
        if let Some((kind, id)) = object
            && code.is_none()
        {
            self.enqueue(app, &[(kind, id.to_owned())], now).await?;
        }
        let _writer = self.writer().await;
        on_db!(self, pool => {
            let n = sqlx::query(
                "UPDATE sync_queue SET run_at = $1, attempts = 0 WHERE app = $2 AND hold IN (0, 2) \
                 AND (($3 IS NULL AND last_code IS NOT NULL) OR last_code = $3 OR ($3 IS NULL AND source_id = $4)) \
                 AND ($4 IS NULL OR source_id = $4) AND ($5 IS NULL OR resource_type = $5)",
            )
            .bind(now).bind(app).bind(code).bind(object.map(|o| o.1)).bind(object.map(|o| o.0.as_str()))
            .execute(pool).await?.rows_affected();
            Ok(n)
        })
    }

    /// An app's queued failures by code: (code, objects, the earliest next attempt), most objects first (held
    /// deprovisions not counted).
    pub async fn failures_by_code(&self, app: &str) -> Result<Vec<(String, i64, i64)>, StoreError> {
        on_db!(self, pool => {
            let rows: Vec<(String, i64, i64)> = sqlx::query_as(
                "SELECT last_code, COUNT(*), MIN(run_at) FROM sync_queue \
                 WHERE app = $1 AND hold IN (0, 2) AND last_code IS NOT NULL GROUP BY last_code \
                 ORDER BY COUNT(*) DESC, last_code",
            )
            .bind(app).fetch_all(pool).await?;
            Ok(rows)
        })
    }

    /// How many of an app's queued objects wait for a retry after a failure (held deprovisions not counted).
    pub async fn count_failing(&self, app: &str) -> Result<i64, StoreError> {
        on_db!(self, pool => {
            let n: (i64,) = sqlx::query_as(
                "SELECT COUNT(*) FROM sync_queue WHERE app = $1 AND hold IN (0, 2) AND last_code IS NOT NULL",
            )
            .bind(app).fetch_one(pool).await?;
            Ok(n.0)
        })
    }

    /// How many of an app's queued objects are held: (waiting for the guard's check, awaiting approval).
    pub async fn count_held(&self, app: &str) -> Result<(i64, i64), StoreError> {
        self.count_held_of(app, None).await
    }

    /// [`Store::count_held`] for one resource type (`None`: both).
    pub async fn count_held_of(
        &self,
        app: &str,
        kind: Option<ResourceKind>,
    ) -> Result<(i64, i64), StoreError> {
        on_db!(self, pool => {
            let row: (i64, i64) = sqlx::query_as(
                "SELECT COUNT(CASE WHEN hold = 1 THEN 1 END), COUNT(CASE WHEN hold = 3 THEN 1 END) \
                 FROM sync_queue WHERE app = $1 AND hold IN (1, 3) AND ($2 IS NULL OR resource_type = $2)",
            )
            .bind(app).bind(kind.map(ResourceKind::as_str)).fetch_one(pool).await?;
            Ok(row)
        })
    }

    /// Moves every row of an app in hold `from` to hold `to` (due at `now`); returns how many moved.
    pub async fn set_holds(&self, app: &str, from: &[Hold], to: Hold, now: i64) -> Result<u64, StoreError> {
        self.set_holds_of(app, None, from, to, now).await
    }

    /// [`Store::set_holds`] for one resource type (`None`: both).
    pub async fn set_holds_of(
        &self,
        app: &str,
        kind: Option<ResourceKind>,
        from: &[Hold],
        to: Hold,
        now: i64,
    ) -> Result<u64, StoreError> {
        let _writer = self.writer().await;
        let from: Vec<i64> = from.iter().map(|h| h.as_i64()).collect();
        on_db!(self, pool => {
            let mut q = sqlx::QueryBuilder::new("UPDATE sync_queue SET hold = ");
            q.push_bind(to.as_i64()).push(", run_at = ").push_bind(now).push(" WHERE app = ").push_bind(app);
            if let Some(k) = kind {
                q.push(" AND resource_type = ").push_bind(k.as_str());
            }
            q.push(" AND hold IN (");
            let mut sep = q.separated(", ");
            for h in &from {
                sep.push_bind(*h);
            }
            q.push(")");
            Ok(q.build().execute(pool).await?.rows_affected())
        })
    }

    /// Drops an app's held deprovisions (`roster approve --discard`), remembering each object's directory version
    /// (-1 for an object deleted from the directory) in `deprovision_discards`: the same deprovision is not held
    /// again while the object stays as it was. Returns how many were dropped.
    pub async fn discard_held(&self, app: &str) -> Result<u64, StoreError> {
        let _writer = self.writer().await;
        on_db!(self, pool => {
            let mut tx = pool.begin_with(self.write_begin()).await?;
            sqlx::query(
                "INSERT INTO deprovision_discards (app, resource_type, source_id, version) \
                 SELECT q.app, q.resource_type, q.source_id, COALESCE(r.version, -1) FROM sync_queue q \
                 LEFT JOIN resources r ON r.id = q.source_id AND r.resource_type = q.resource_type \
                 WHERE q.app = $1 AND q.hold IN (1, 3) \
                 ON CONFLICT (app, resource_type, source_id) DO UPDATE SET version = excluded.version",
            )
            .bind(app).execute(&mut *tx).await?;
            let n = sqlx::query("DELETE FROM sync_queue WHERE app = $1 AND hold IN (1, 3)")
                .bind(app).execute(&mut *tx).await?.rows_affected();
            tx.commit().await?;
            Ok(n)
        })
    }

    /// Whether an app has discarded deprovisions (the engine looks them up only then).
    pub async fn has_discards(&self, app: &str) -> Result<bool, StoreError> {
        on_db!(self, pool => {
            let row: (i64,) = sqlx::query_as(
                "SELECT COUNT(*) FROM (SELECT 1 FROM deprovision_discards WHERE app = $1 LIMIT 1) AS any_discard",
            )
            .bind(app).fetch_one(pool).await?;
            Ok(row.0 > 0)
        })
    }

    /// The directory version at which an admin discarded a deprovision of this object, if one was.
    pub async fn discarded_at(
        &self,
        app: &str,
        kind: ResourceKind,
        id: &str,
    ) -> Result<Option<i64>, StoreError> {
        on_db!(self, pool => {
            let row: Option<(i64,)> = sqlx::query_as(
                "SELECT version FROM deprovision_discards WHERE app = $1 AND resource_type = $2 AND source_id = $3",
            )
            .bind(app).bind(kind.as_str()).bind(id).fetch_optional(pool).await?;
            Ok(row.map(|r| r.0))
        })
    }

    /// Ends a discard: the object is back in the app's scope, so a later deprovision is a new one.
    pub async fn end_discard(&self, app: &str, kind: ResourceKind, id: &str) -> Result<(), StoreError> {
        let _writer = self.writer().await;
        on_db!(self, pool => {
            sqlx::query("DELETE FROM deprovision_discards WHERE app = $1 AND resource_type = $2 AND source_id = $3")
                .bind(app).bind(kind.as_str()).bind(id).execute(pool).await?;
            Ok(())
        })
    }

    /// Moves an app's deprovisions of `kind` waiting for the guard's check to waiting for approval; returns the
    /// objects moved (each gets one log entry from the guard).
    pub async fn hold_for_approval(
        &self,
        app: &str,
        kind: ResourceKind,
        now: i64,
    ) -> Result<Vec<String>, StoreError> {
        let _writer = self.writer().await;
        on_db!(self, pool => {
            let rows: Vec<(String,)> = sqlx::query_as(
                "UPDATE sync_queue SET hold = 3, run_at = $1 WHERE app = $2 AND resource_type = $3 AND hold = 1 \
                 RETURNING source_id",
            )
            .bind(now).bind(app).bind(kind.as_str()).fetch_all(pool).await?;
            Ok(rows.into_iter().map(|r| r.0).collect())
        })
    }

    /// An app's held rows (oldest first, at most `limit`).
    pub async fn list_held(&self, app: &str, limit: i64) -> Result<Vec<QueueItem>, StoreError> {
        on_db!(self, pool => {
            let sql = format!(
                "SELECT {QUEUE_COLUMNS} FROM sync_queue WHERE app = $1 AND hold IN (1, 3) ORDER BY source_id LIMIT $2"
            );
            let rows: Vec<QueueRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
                .bind(app).bind(limit).fetch_all(pool).await?;
            rows.into_iter().map(item_from_row).collect()
        })
    }

    /// The objects waiting for an app, soonest first, with their next attempt time and last failure.
    pub async fn list_queue(&self, app: &str, limit: i64) -> Result<Vec<QueueItem>, StoreError> {
        on_db!(self, pool => {
            let sql = format!("SELECT {QUEUE_COLUMNS} FROM sync_queue WHERE app = $1 ORDER BY run_at, source_id LIMIT $2");
            let rows: Vec<QueueRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
                .bind(app).bind(limit).fetch_all(pool).await?;
            rows.into_iter().map(item_from_row).collect()
        })
    }

    /// The earliest time any object of the app is due, if any waits to be synced (held deprovisions wait for the
    /// guard or an admin, not for a time, and are not counted).
    pub async fn next_due(&self, app: &str) -> Result<Option<i64>, StoreError> {
        on_db!(self, pool => {
            let row: (Option<i64>,) = sqlx::query_as("SELECT MIN(run_at) FROM sync_queue WHERE app = $1 AND hold IN (0, 2)")
                .bind(app).fetch_one(pool).await?;
            Ok(row.0)
        })
    }
}

/// How a queue write moves the app's journal cursor.
#[derive(Debug, Clone, Copy)]
enum Advance {
    /// It does not.
    None,
    /// To this entry, unless it is there or further already (it never moves backwards).
    AtLeast(i64),
    /// From `from` to `to`, only if it is still at `from`; else nothing is written.
    From { from: i64, to: i64 },
}

/// [`Store::finish_many`] on PostgreSQL: three prepared statements whatever the batch's size, each finding its
/// rows by one primary-key probe per key, whatever the planner knows of the queue. The rows are found through
/// [`LEASED_ROWS`] and changed by their row address (a TID scan); the conditions that say a row is still the one
/// to change (its holder, its generation) are on the statement itself, so a row that a concurrent transaction
/// changed while the statement ran is never deleted or released on stale facts: PostgreSQL checks them again on
/// its new version, or (where it also checks the row address, which the new version does not have) leaves it,
/// and a row so left is released when its lease expires. Written as `(resource_type, source_id, gen) IN ((…), …)`,
/// PostgreSQL planned each batch afresh (2–3 ms for 250 keys) and, without statistics of the queue (which
/// churns, and which nothing analyses where autovacuum is off), walked the app's whole queue testing each row
/// against every key (28 ms a batch of 250 at 20,000 queued); joined to the keys as an `unnest()`, it planned
/// the keys as the inner side of a nested loop over the whole queue (seconds a batch, a reconcile's concurrent
/// batches exhausting the pool).
async fn finish_many_postgres(
    pool: &sqlx::PgPool,
    app: &str,
    holder: &str,
    synced: &[(ResourceKind, String, i64)],
    page: &[(ResourceKind, String)],
) -> Result<(), StoreError> {
    let mut tx = pool.begin().await?;
    if !synced.is_empty() {
        let kinds: Vec<&str> = synced.iter().map(|(k, _, _)| k.as_str()).collect();
        let ids: Vec<&str> = synced.iter().map(|(_, id, _)| id.as_str()).collect();
        let gens: Vec<i64> = synced.iter().map(|(_, _, g)| *g).collect();
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DELETE FROM sync_queue q WHERE q.ctid = ANY ({LEASED_ROWS}) AND q.app = $1 AND q.lease_holder = $2 \
             AND q.gen = ($5::bigint[])[array_position($4::text[], q.source_id)]"
        )))
        .bind(app)
        .bind(holder)
        .bind(&kinds)
        .bind(&ids)
        .bind(&gens)
        .execute(&mut *tx)
        .await?;
        // What is left of them changed meanwhile: their earlier failures are history.
        let keys = synced.iter().map(|(k, id, _)| (*k, id.as_str()));
        update_leased(&mut tx, RESET_ATTEMPTS, app, holder, keys).await?;
    }
    let keys = page.iter().map(|(k, id)| (*k, id.as_str()));
    update_leased(&mut tx, RELEASE, app, holder, keys).await?;
    tx.commit().await?;
    Ok(())
}

/// finish_many's assignment to a synced row kept for a newer change: its earlier failures are history.
const RESET_ATTEMPTS: &str = "attempts = 0, last_code = NULL, last_error = NULL";
/// finish_many's assignment to the rows it leaves: their lease released.
const RELEASE: &str = "lease_until = NULL, lease_holder = NULL";

/// Sets `set` ([`RESET_ATTEMPTS`] or [`RELEASE`]) on the rows of `keys` (at most 500) that
/// `holder` leases, on SQLite.
async fn update_leased_sqlite(
    tx: &mut sqlx::SqliteConnection,
    set: &'static str,
    app: &str,
    holder: &str,
    keys: impl Iterator<Item = (ResourceKind, &str)>,
) -> Result<(), StoreError> {
    let mut q = sqlx::QueryBuilder::new(format!("UPDATE sync_queue SET {set} WHERE app = "));
    q.push_bind(app)
        .push(" AND lease_holder = ")
        .push_bind(holder)
        .push(" AND (resource_type, source_id) IN (");
    let mut sep = q.separated(", ");
    let mut any = false;
    for (kind, id) in keys {
        any = true;
        sep.push("(")
            .push_bind_unseparated(kind.as_str())
            .push_unseparated(", ")
            .push_bind_unseparated(id)
            .push_unseparated(")");
    }
    if any {
        q.push(")");
        q.build().execute(tx).await?;
    }
    Ok(())
}

/// The row addresses of the queue rows of the keys `$3` (types) and `$4` (ids) of app `$1`: one probe of the
/// primary key per key (`LATERAL (… OFFSET 0)` keeps PostgreSQL from planning the keys as a join).
const LEASED_ROWS: &str = "ARRAY(SELECT s.ctid FROM unnest($3::text[], $4::text[]) AS k(resource_type, source_id) \
     CROSS JOIN LATERAL (SELECT ctid FROM sync_queue WHERE app = $1 AND resource_type = k.resource_type \
     AND source_id = k.source_id OFFSET 0) AS s)";

/// Sets `set` ([`RESET_ATTEMPTS`] or [`RELEASE`]) on the rows of `keys` that `holder`
/// leases.
async fn update_leased(
    tx: &mut sqlx::PgConnection,
    set: &'static str,
    app: &str,
    holder: &str,
    keys: impl Iterator<Item = (ResourceKind, &str)>,
) -> Result<(), StoreError> {
    let (kinds, ids): (Vec<&str>, Vec<&str>) = keys.map(|(k, id)| (k.as_str(), id)).unzip();
    if ids.is_empty() {
        return Ok(());
    }
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE sync_queue q SET {set} WHERE q.ctid = ANY ({LEASED_ROWS}) AND q.app = $1 AND q.lease_holder = $2"
    )))
    .bind(app)
    .bind(holder)
    .bind(&kinds)
    .bind(&ids)
    .execute(tx)
    .await?;
    Ok(())
}
