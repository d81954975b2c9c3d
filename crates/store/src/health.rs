//! Each app's health, shared by every roster process on the database: the earliest time roster may send the app
//! anything (its `Retry-After`), and its quarantine. Times are microseconds since the epoch, passed in by the
//! caller.

use crate::{Store, StoreError};

/// An app's health.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AppHealth {
    /// No request to the app before this time (0: none pending).
    pub not_before: i64,
    /// Quarantined until this time; once it has passed, the app is on probation until a probe succeeds.
    pub quarantined_until: Option<i64>,
    /// How many quarantines in a row (each probation that failed adds one; release resets it).
    pub level: i64,
    /// The roster code of the failures that caused it.
    pub code: Option<String>,
    /// What caused it, in words.
    pub reason: Option<String>,
}

impl AppHealth {
    /// Whether the app is quarantined at `now` (probation not yet begun).
    pub fn quarantined(&self, now: i64) -> bool {
        self.quarantined_until.is_some_and(|u| now < u)
    }
    /// Whether the app is on probation at `now`: its quarantine ended and no probe has succeeded yet.
    pub fn on_probation(&self, now: i64) -> bool {
        self.quarantined_until.is_some_and(|u| now >= u)
    }
}

type HealthRow = (i64, Option<i64>, i64, Option<String>, Option<String>);

impl Store {
    /// An app's health (all clear when nothing was ever recorded).
    pub async fn app_health(&self, app: &str) -> Result<AppHealth, StoreError> {
        on_db!(self, pool => {
            let row: Option<HealthRow> = sqlx::query_as(
                "SELECT not_before, quarantined_until, quarantine_level, quarantine_code, quarantine_reason \
                 FROM app_health WHERE app = $1",
            )
            .bind(app).fetch_optional(pool).await?;
            Ok(row.map(|(not_before, quarantined_until, level, code, reason)| AppHealth {
                not_before, quarantined_until, level, code, reason,
            }).unwrap_or_default())
        })
    }

    /// The app asked roster to wait: no request before `until` (an earlier wait already recorded is kept if
    /// it is later).
    pub async fn defer_app(&self, app: &str, until: i64) -> Result<(), StoreError> {
        let _writer = self.writer().await;
        on_db!(self, pool => {
            sqlx::query(
                "INSERT INTO app_health (app, not_before) VALUES ($1, $2) ON CONFLICT (app) DO UPDATE SET \
                 not_before = CASE WHEN app_health.not_before > excluded.not_before THEN app_health.not_before \
                 ELSE excluded.not_before END",
            )
            .bind(app).bind(until).execute(pool).await?;
            Ok(())
        })
    }

    /// Leases `span` microseconds of the app's request slots, shared by every process: the block starts where
    /// the last lease ended, or at `now` if that is past. Returns the block's start.
    pub async fn lease_rate_block(&self, app: &str, now: i64, span: i64) -> Result<i64, StoreError> {
        let _writer = self.writer().await;
        let end: (i64,) = on_db!(self, pool => {
            sqlx::query_as(
                "INSERT INTO app_health (app, rate_next) VALUES ($1, $2 + $3) ON CONFLICT (app) DO UPDATE SET \
                 rate_next = CASE WHEN app_health.rate_next > $2 THEN app_health.rate_next ELSE $2 END + $3 \
                 RETURNING rate_next",
            )
            .bind(app).bind(now).bind(span).fetch_one(pool).await?
        });
        Ok(end.0 - span)
    }

    /// Records that `participant` (one process's engine, or one `roster sync`) works for `app` at `now`, and
    /// returns how many participants did so since `since`, itself included. Rows not seen for an hour are removed.
    pub async fn heartbeat_participant(
        &self,
        app: &str,
        participant: &str,
        now: i64,
        since: i64,
    ) -> Result<i64, StoreError> {
        let _writer = self.writer().await;
        on_db!(self, pool => {
            let mut tx = pool.begin_with(self.write_begin()).await?;
            sqlx::query(
                "INSERT INTO app_participants (app, participant, seen) VALUES ($1, $2, $3) \
                 ON CONFLICT (app, participant) DO UPDATE SET seen = excluded.seen",
            )
            .bind(app).bind(participant).bind(now).execute(&mut *tx).await?;
            sqlx::query("DELETE FROM app_participants WHERE app = $1 AND seen < $2")
                .bind(app).bind(now - 3_600_000_000).execute(&mut *tx).await?;
            let n: (i64,) = sqlx::query_as(
                "SELECT COUNT(*) FROM app_participants WHERE app = $1 AND (seen >= $2 OR participant = $3)",
            )
            .bind(app).bind(since).bind(participant).fetch_one(&mut *tx).await?;
            tx.commit().await?;
            Ok(n.0)
        })
    }

    /// Removes a participant (its work for the app is over).
    pub async fn leave_participant(&self, app: &str, participant: &str) -> Result<(), StoreError> {
        let _writer = self.writer().await;
        on_db!(self, pool => {
            sqlx::query("DELETE FROM app_participants WHERE app = $1 AND participant = $2")
                .bind(app).bind(participant).execute(pool).await?;
            Ok(())
        })
    }

    /// Quarantines an app until `until`, at `level`, for `code` and `reason`.
    pub async fn quarantine_app(
        &self,
        app: &str,
        until: i64,
        level: i64,
        code: &str,
        reason: &str,
    ) -> Result<(), StoreError> {
        let _writer = self.writer().await;
        on_db!(self, pool => {
            sqlx::query(
                "INSERT INTO app_health (app, quarantined_until, quarantine_level, quarantine_code, quarantine_reason) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (app) DO UPDATE SET quarantined_until = excluded.quarantined_until, \
                 quarantine_level = excluded.quarantine_level, quarantine_code = excluded.quarantine_code, \
                 quarantine_reason = excluded.quarantine_reason",
            )
            .bind(app).bind(until).bind(level).bind(code).bind(reason).execute(pool).await?;
            Ok(())
        })
    }

    /// Ends an app's quarantine and any wait (a probe succeeded, or `roster app release`), and makes every
    /// object waiting for the app due at `now`: whoever released it has fixed the cause. Returns whether the app
    /// was quarantined.
    pub async fn release_app(&self, app: &str, now: i64) -> Result<bool, StoreError> {
        let _writer = self.writer().await;
        on_db!(self, pool => {
            let mut tx = pool.begin_with(self.write_begin()).await?;
            let n = sqlx::query(
                "UPDATE app_health SET quarantined_until = NULL, quarantine_level = 0, quarantine_code = NULL, \
                 quarantine_reason = NULL, not_before = 0 WHERE app = $1 AND quarantined_until IS NOT NULL",
            )
            .bind(app).execute(&mut *tx).await?.rows_affected();
            if n > 0 {
                sqlx::query("UPDATE sync_queue SET run_at = $1 WHERE app = $2 AND run_at > $1")
                    .bind(now).bind(app).execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok(n > 0)
        })
    }
}
