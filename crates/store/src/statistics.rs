//! The PostgreSQL planner's statistics of the directory's tables, and the pending lists of its GIN indexes.
//!
//! PostgreSQL plans every statement from statistics that `ANALYZE` gathers, and autovacuum runs it as tables
//! change. Where autovacuum is off, statistics stay as they were: a table analysed empty (or never) is planned
//! as empty, and lookups that took a millisecond walk a million rows (`docs/BENCHMARKS.md`). The trigram (GIN)
//! indexes behind `co`, `sw` and `ew` filters take new entries into a pending list that every search reads
//! whole, up to 4 MB (`gin_pending_list_limit`), until autovacuum merges it into the index (a manual `ANALYZE`
//! does not): at 20,000 users seeded over SCIM, `userName co` read 183 pending pages, 1.9 ms a search, against
//! 0.03 ms merged. So roster keeps both itself:
//! - after a bulk load, at once ([`Store::refresh_statistics`], called by `roster import`);
//! - at start and every minute ([`Store::maintain`], which `roster serve` runs through [`keep`]): the pending
//!   lists merged (autovacuum, where it runs, merges them only when a table has changed by a tenth or a fifth,
//!   which at a million users lets them reach their limit), and, where autovacuum is off, a table analysed once
//!   more of it has changed since its last analysis than 50 rows and a tenth of its rows as last analysed (`autovacuum_analyze_threshold` and
//!   `autovacuum_analyze_scale_factor` at their defaults). A change is known two ways: PostgreSQL's own count of
//!   changed rows (`n_mod_since_analyze`, which each connection reports within seconds of its writes), and for
//!   `resources` the exact number of rows (`resource_counts`) against the number the last analysis saw
//!   (`pg_class.reltuples`), which needs no report.
//!
//! Several processes on one database do this one at a time: the work holds a transaction-scoped advisory lock,
//! and a process that finds it held leaves the work to the holder.
//!
//! SQLite has no such statistics that roster depends on: its statements are written to use the indexes they
//! name, and every function here does nothing there.

use crate::{Db, Store, StoreError};

/// The directory's tables whose statistics the planner uses: they grow with the directory.
const TABLES: [&str; 4] = ["resources", "resource_values", "memberships", "journal"];

/// The GIN indexes of the directory's tables (their pending lists merged) as `regclass` values.
const GIN_INDEXES: &str = "SELECT i.indexrelid FROM pg_index i \
     JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am a ON a.oid = c.relam \
     WHERE a.amname = 'gin' AND i.indrelid IN (SELECT to_regclass(t) FROM unnest($1::text[]) AS t)";

/// What one [`Store::maintain`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Maintenance {
    /// The tables analysed.
    pub analysed: Vec<&'static str>,
    /// The pages of GIN pending lists merged into their indexes.
    pub merged_pages: i64,
}

impl Maintenance {
    /// Whether anything was done.
    pub fn is_empty(&self) -> bool {
        self.analysed.is_empty() && self.merged_pages == 0
    }
}

/// The advisory lock that one analysis at a time holds (a constant of roster's own: "rosterAN").
const ANALYSE_LOCK: i64 = 0x726f_7374_6572_414e;

/// Changed rows that make a table due whatever its size (`autovacuum_analyze_threshold`'s default).
pub const THRESHOLD: f64 = 50.0;
/// The share of a table's rows that, changed, makes it due (`autovacuum_analyze_scale_factor`'s default).
pub const SCALE: f64 = 0.1;

/// What is known of one table: the rows its last analysis saw (`None`: never analysed) and the rows changed
/// since, as PostgreSQL has counted them so far.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TableState {
    /// `pg_class.reltuples`; `None` where it is -1 (never analysed).
    pub analysed_rows: Option<f64>,
    /// `pg_stat_user_tables.n_mod_since_analyze`.
    pub changed: i64,
}

/// Whether a table is due for analysis: more of it changed than [`THRESHOLD`] rows and a [`SCALE`] of the rows
/// last analysed. `rows_now`, where known exactly, counts as a change too: the difference from the rows last
/// analysed (so that a table filled since is due before any connection has reported its writes).
pub fn due(table: TableState, rows_now: Option<i64>) -> bool {
    let analysed = table.analysed_rows.unwrap_or(0.0).max(0.0);
    #[allow(clippy::cast_precision_loss)] // row counts far below 2^52
    let grown = rows_now.map_or(0.0, |n| (n as f64 - analysed).abs());
    #[allow(clippy::cast_precision_loss)]
    let changed = (table.changed as f64).max(grown);
    changed > THRESHOLD + SCALE * analysed
}

impl Store {
    /// Whether this database leaves the directory's statistics to roster: PostgreSQL with autovacuum off.
    pub async fn keeps_own_statistics(&self) -> Result<bool, StoreError> {
        match &self.db {
            Db::Postgres(pool) => {
                let autovacuum: String = sqlx::query_scalar("SHOW autovacuum").fetch_one(pool).await?;
                Ok(autovacuum == "off")
            }
            Db::Sqlite(_) => Ok(false),
        }
    }

    /// After a bulk load: on PostgreSQL the planner's statistics of the directory's tables brought up to date
    /// (`ANALYZE`), so that the plans chosen next fit the tables' new sizes rather than wait for autovacuum (or
    /// never come, where it is off: a user's derived-groups read went 3.5 × slower after 20,000 creates on such a
    /// database, `bench/multiprocess.sh`). Nothing on SQLite.
    /// The GIN indexes' pending lists are merged too, so the load's new entries are searched through the index.
    pub async fn refresh_statistics(&self) -> Result<(), StoreError> {
        if let Db::Postgres(pool) = &self.db {
            sqlx::query(sqlx::AssertSqlSafe(format!("ANALYZE {}", TABLES.join(", "))))
                .execute(pool)
                .await?;
            merge_pending_lists(&mut *pool.acquire().await?).await?;
        }
        Ok(())
    }

    /// Merges the directory's GIN indexes' pending lists and, where PostgreSQL [keeps no statistics of its
    /// own](Self::keeps_own_statistics), analyses its tables that are [`due`]. Nothing when another process is
    /// doing it, and on SQLite.
    pub async fn maintain(&self) -> Result<Maintenance, StoreError> {
        let Db::Postgres(pool) = &self.db else {
            return Ok(Maintenance::default());
        };
        let mut tx = pool.begin().await?;
        let ours: bool = sqlx::query_scalar("SELECT pg_try_advisory_xact_lock($1)")
            .bind(ANALYSE_LOCK)
            .fetch_one(&mut *tx)
            .await?;
        if !ours {
            return Ok(Maintenance::default());
        }
        let analysed = if self.keeps_own_statistics().await? {
            due_tables(&mut tx).await?
        } else {
            Vec::new()
        };
        if !analysed.is_empty() {
            // The names are this module's constants.
            sqlx::query(sqlx::AssertSqlSafe(format!("ANALYZE {}", analysed.join(", "))))
                .execute(&mut *tx)
                .await?;
        }
        let merged_pages = merge_pending_lists(&mut tx).await?;
        tx.commit().await?;
        Ok(Maintenance {
            analysed,
            merged_pages,
        })
    }
}

/// The directory's tables that are [`due`] for analysis.
async fn due_tables(tx: &mut sqlx::PgConnection) -> Result<Vec<&'static str>, StoreError> {
    let states: Vec<(String, f32, Option<i64>)> = sqlx::query_as(
        "SELECT c.relname::text, c.reltuples, s.n_mod_since_analyze \
         FROM pg_class c LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid \
         WHERE c.oid IN (SELECT to_regclass(t) FROM unnest($1::text[]) AS t)",
    )
    .bind(&TABLES[..])
    .fetch_all(&mut *tx)
    .await?;
    let resources: i64 = sqlx::query_scalar("SELECT COALESCE(SUM(n), 0)::bigint FROM resource_counts")
        .fetch_one(&mut *tx)
        .await?;
    Ok(TABLES
        .into_iter()
        .filter(|name| {
            states.iter().any(|(relname, reltuples, changed)| {
                let state = TableState {
                    analysed_rows: (*reltuples >= 0.0).then_some(f64::from(*reltuples)),
                    changed: changed.unwrap_or(0),
                };
                relname == name && due(state, (*name == "resources").then_some(resources))
            })
        })
        .collect())
}

/// Merges the pending lists of the directory's GIN indexes into the indexes (`gin_clean_pending_list`; inserts
/// and searches go on meanwhile); returns the pages merged.
async fn merge_pending_lists(conn: &mut sqlx::PgConnection) -> Result<i64, StoreError> {
    let merged: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT COALESCE(SUM(gin_clean_pending_list(x.indexrelid)), 0)::bigint FROM ({GIN_INDEXES}) AS x"
    )))
    .bind(&TABLES[..])
    .fetch_one(conn)
    .await?;
    Ok(merged)
}

/// Runs [`Store::maintain`] at once and every `period` until `shutdown` completes, on PostgreSQL; returns at
/// once on SQLite.
pub async fn keep(store: Store, period: std::time::Duration, shutdown: impl Future<Output = ()>) {
    if matches!(store.db, Db::Sqlite(_)) {
        return;
    }
    tokio::pin!(shutdown);
    loop {
        match store.maintain().await {
            Ok(done) if done.is_empty() => {}
            Ok(done) => tracing::info!(
                analysed = %done.analysed.join(", "),
                merged_pages = done.merged_pages,
                "the directory's planner statistics and search indexes brought up to date"
            ),
            Err(e) => tracing::warn!(error = %e, "cannot bring the planner statistics up to date"),
        }
        tokio::select! {
            () = &mut shutdown => return,
            () = tokio::time::sleep(period) => {},
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{TableState, due};

    fn table(analysed_rows: Option<f64>, changed: i64) -> TableState {
        TableState {
            analysed_rows,
            changed,
        }
    }

    #[test]
    fn a_table_is_due_once_more_than_fifty_rows_and_a_tenth_changed() {
        assert!(!due(table(None, 0), None), "an empty table never analysed");
        assert!(!due(table(None, 50), None), "fifty changes are not enough");
        assert!(due(table(None, 51), None));
        assert!(!due(table(Some(10_000.0), 1_050), None));
        assert!(due(table(Some(10_000.0), 1_051), None));
    }

    #[test]
    fn rows_counted_exactly_make_a_table_due_before_its_changes_are_reported() {
        assert!(due(table(None, 0), Some(51)), "filled since it was created");
        assert!(due(table(Some(0.0), 0), Some(51)), "filled since analysed empty");
        assert!(!due(table(Some(1_000.0), 0), Some(1_100)));
        assert!(
            due(table(Some(1_000.0), 0), Some(1_151)),
            "grown by more than a tenth"
        );
        assert!(
            due(table(Some(1_000.0), 0), Some(849)),
            "shrunk by more than a tenth"
        );
        assert!(!due(table(Some(1_000.0), 0), Some(1_000)));
    }
}
