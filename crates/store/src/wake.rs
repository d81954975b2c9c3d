//! Cross-process wake-ups on PostgreSQL: every roster process on a database listens on its schema's channel
//! (`roster_` and the md5 of the schema name) and wakes [`crate::Store::changes`] for each notification, so its
//! engine acts on another process's write at once rather than at its next poll.
//!
//! Directory writes are announced by the process that made them, after they commit, from a connection of its
//! own with `synchronous_commit` off ([`Announcer`]); app changes by a statement trigger on `apps` (migration
//! 0009, rare). A `NOTIFY` inside the writing transaction (migration 0009's trigger on `journal`, dropped by
//! 0019) takes a lock that PostgreSQL holds cluster-wide until the transaction's commit is flushed (async.c,
//! `PreCommit_Notify`: "serialize writers … till after commit"), so every directory write of every process
//! committed one at a time, each waiting for the one before it to reach the disk. An announcement commits nothing
//! of its own to wait for. Announcements made while one is being sent are folded into the next one.
//!
//! A notification is a hint, never the data: an announcement lost with its process (it died between the
//! write's commit and the announcement) leaves other engines to see the write at their next poll, as a lost
//! listening connection does. [`Announcer::flush`] sends the last one before a short-lived process (`roster
//! import`) exits.

use crate::{AbortOnDrop, StoreError};
use sqlx::{Connection, PgConnection, PgPool};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::Notify;

/// The schema's change channel.
pub(crate) async fn channel(pool: &PgPool) -> Result<String, StoreError> {
    Ok(sqlx::query_scalar("SELECT 'roster_' || md5(current_schema())")
        .fetch_one(pool)
        .await?)
}

/// Listens on `channel` on a connection of its own and wakes `changes` for every notification, and after a
/// lost connection (notifications sent meanwhile are gone, so the engine looks again). Errors are logged and
/// retried; the poll remains the fallback.
pub(crate) async fn listen(
    url: &str,
    channel: &str,
    changes: Arc<Notify>,
) -> Result<AbortOnDrop, StoreError> {
    let mut listener = sqlx::postgres::PgListener::connect(url).await?;
    listener.listen(channel).await?;
    let task = tokio::spawn(async move {
        loop {
            match listener.try_recv().await {
                Ok(_) => changes.notify_waiters(),
                Err(e) => {
                    tracing::warn!(error = %e, "lost the PostgreSQL change notifications; retrying (polling meanwhile)");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    });
    Ok(AbortOnDrop(task))
}

/// Announces this process's directory writes on the channel; see the module documentation.
#[derive(Debug)]
pub(crate) struct Announcer {
    shared: Arc<Shared>,
    _task: AbortOnDrop,
}

#[derive(Debug)]
struct Shared {
    url: String,
    channel: String,
    poke: Notify,
    /// Writes announced by this process, and of those the ones a sent notification covers.
    asked: AtomicU64,
    sent: AtomicU64,
}

impl Shared {
    /// One notification covering every write asked for before it.
    async fn send(&self, conn: &mut Option<PgConnection>) -> Result<(), StoreError> {
        let covers = self.asked.load(Ordering::SeqCst);
        let c = match conn {
            Some(c) => c,
            None => {
                let mut c = PgConnection::connect(&self.url).await?;
                // Nothing of the announcement's own needs to reach the disk before the next one is sent.
                sqlx::query("SET synchronous_commit = off")
                    .execute(&mut c)
                    .await?;
                conn.insert(c)
            }
        };
        if let Err(e) = sqlx::query("SELECT pg_notify($1, 'journal')")
            .bind(&self.channel)
            .execute(&mut *c)
            .await
        {
            *conn = None;
            return Err(e.into());
        }
        self.sent.fetch_max(covers, Ordering::SeqCst);
        Ok(())
    }
}

impl Announcer {
    /// Starts the task that sends the announcements (its connection is made at the first one).
    pub(crate) fn start(url: &str, channel: String) -> Self {
        let shared = Arc::new(Shared {
            url: url.to_owned(),
            channel,
            poke: Notify::new(),
            asked: AtomicU64::new(0),
            sent: AtomicU64::new(0),
        });
        let s = shared.clone();
        let task = tokio::spawn(async move {
            let mut conn = None;
            loop {
                s.poke.notified().await;
                if let Err(e) = s.send(&mut conn).await {
                    tracing::warn!(error = %e, "cannot announce a directory write to other roster processes; they see it at their next poll");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        });
        Self {
            shared,
            _task: AbortOnDrop(task),
        }
    }

    /// Asks for a notification of a write this process has committed. Never waits.
    pub(crate) fn announce(&self) {
        self.shared.asked.fetch_add(1, Ordering::SeqCst);
        // One stored permit: pokes while a notification is being sent make one more, not one each.
        self.shared.poke.notify_one();
    }

    /// Sends a notification now if a write asked for one that none sent yet covers (before the store closes).
    pub(crate) async fn flush(&self) {
        if self.shared.sent.load(Ordering::SeqCst) < self.shared.asked.load(Ordering::SeqCst) {
            let mut conn = None;
            if let Err(e) = self.shared.send(&mut conn).await {
                tracing::warn!(error = %e, "cannot announce the last directory writes to other roster processes");
            }
            if let Some(c) = conn {
                let _ = c.close().await;
            }
        }
    }
}
