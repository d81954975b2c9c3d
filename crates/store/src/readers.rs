//! Reads on SQLite that run on the calling thread.
//!
//! sqlx runs each SQLite connection on a thread of its own: every statement is a command sent to that thread
//! and rows sent back, two thread hand-offs or more per query. For a read by primary key, which SQLite answers
//! in microseconds, the hand-offs cost more than the read (measured: ~40 % of the server's CPU under a GET by
//! id load was the kernel switching threads). These connections are used in place instead: a read-only
//! connection is taken from an idle list, the statement (prepared once per connection) runs, and the connection
//! goes back. In WAL mode readers never wait for the writer and see every transaction committed before the
//! statement starts, so a client reads its own writes as through the pool.
//!
//! Only short reads belong here (they hold the calling worker thread while they run); anything that writes or
//! scans stays on the pool.

use crate::StoreError;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

/// Idle connections kept for reuse; more may be open at a moment of high concurrency, and are closed after use.
const KEEP_IDLE: usize = 16;

/// Read-only connections to one SQLite file.
#[derive(Debug)]
pub(crate) struct Readers {
    path: PathBuf,
    idle: Mutex<Vec<rusqlite::Connection>>,
}

impl Readers {
    /// Readers of the database file at `path`; none is opened until the first read.
    pub(crate) fn new(path: &Path) -> Self {
        Self {
            path: path.to_owned(),
            idle: Mutex::new(Vec::new()),
        }
    }

    fn open(&self) -> Result<rusqlite::Connection, StoreError> {
        use rusqlite::OpenFlags;
        let conn = rusqlite::Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(reader_error)?;
        conn.busy_timeout(Duration::from_secs(10)).map_err(reader_error)?;
        conn.set_prepared_statement_cache_capacity(32);
        Ok(conn)
    }

    /// Runs `f` on an idle connection (or a new one) on this thread.
    pub(crate) fn read<T>(
        &self,
        f: impl FnOnce(&rusqlite::Connection) -> rusqlite::Result<T>,
    ) -> Result<T, StoreError> {
        let taken = self.idle.lock().map_or(None, |mut idle| idle.pop());
        let conn = match taken {
            Some(c) => c,
            None => self.open()?,
        };
        let out = f(&conn).map_err(reader_error);
        // A connection whose statement failed is dropped rather than reused: its state is not worth trusting.
        if out.is_ok()
            && let Ok(mut idle) = self.idle.lock()
            && idle.len() < KEEP_IDLE
        {
            idle.push(conn);
        }
        out
    }
}

/// A reader's failure: a stored value that does not convert is corrupt data; anything else (the database busy or
/// locked, an I/O error, a statement SQLite refused) is a failed read, which a retry may cure.
fn reader_error(e: rusqlite::Error) -> StoreError {
    match e {
        rusqlite::Error::FromSqlConversionFailure(..)
        | rusqlite::Error::InvalidColumnType(..)
        | rusqlite::Error::IntegralValueOutOfRange(..)
        | rusqlite::Error::Utf8Error(..) => StoreError::Corrupt(format!("reading the SQLite database: {e}")),
        other => StoreError::Read(format!("reading the SQLite database: {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busy_is_a_failed_read_and_bad_values_are_corrupt() {
        let busy = rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY),
            Some("database is locked".into()),
        );
        assert!(matches!(reader_error(busy), StoreError::Read(m) if m.contains("locked")));
        let bad = rusqlite::Error::InvalidColumnType(0, "data".into(), rusqlite::types::Type::Integer);
        assert!(matches!(reader_error(bad), StoreError::Corrupt(_)));
    }

    /// Why the in-place listings write LIMIT and OFFSET into their statements: SQLite prepares a statement with a
    /// bound LIMIT again at every run, which costs the parse and the plan of the query each time.
    #[test]
    fn a_bound_limit_makes_sqlite_prepare_the_statement_at_every_run() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE t (id TEXT PRIMARY KEY, k TEXT, created INTEGER); CREATE INDEX t_k ON t (k); \
             INSERT INTO t VALUES ('a', 'x', 1);",
        )
        .unwrap();
        let reprepares = |sql: &str, params: &[&dyn rusqlite::ToSql]| {
            let mut st = conn.prepare_cached(sql).unwrap();
            for _ in 0..5 {
                assert_eq!(st.query_map(params, |_| Ok(())).unwrap().count(), 1);
            }
            st.get_status(rusqlite::StatementStatus::RePrepare)
        };
        let bound = reprepares(
            "SELECT id FROM t WHERE k = ?1 ORDER BY created, id LIMIT ?2 OFFSET ?3",
            &[&"x", &10, &0],
        );
        let written = reprepares(
            "SELECT id FROM t WHERE k = ?1 ORDER BY created, id LIMIT 10 OFFSET 0",
            &[&"x"],
        );
        assert_eq!((bound, written), (5, 0));
    }
}
