//! How commands read and write what they share: the `--format` of listings, CSV fields, progress of long work, and
//! `--since`. (The `out!` macro that writes
//! command output is in `main.rs`, defined before every module.)

use clap::ValueEnum;
use std::io::{IsTerminal, Write};

/// The output format of a listing.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Format {
    /// Aligned columns.
    Table,
    /// Comma-separated values with a header.
    Csv,
    /// One JSON object per line.
    Json,
}

/// A CSV field, quoted when it holds a comma, a quote or a line break.
pub fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

/// Progress of long work on stderr: on a terminal one line kept current (at most ten times a second); otherwise
/// a summary line every ten seconds, for logs.
pub(crate) struct Progress {
    what: &'static str,
    tty: bool,
    started: std::time::Instant,
    last: Option<std::time::Instant>,
}

impl Progress {
    pub(crate) fn new(what: &'static str) -> Self {
        Self {
            what,
            tty: std::io::stderr().is_terminal(),
            started: std::time::Instant::now(),
            last: None,
        }
    }

    /// Shows `line()` with the rate of `count` items, if it is time to.
    pub(crate) fn tick(&mut self, count: usize, line: impl FnOnce() -> String) {
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
    pub(crate) fn done(&self) {
        if self.tty && self.last.is_some() {
            eprintln!();
        }
    }
}

/// Reads `--since`: an age before now (`90m`, `12h`, `7d`, `30s`) or an RFC 3339 time.
pub(crate) fn parse_since(s: &str) -> Result<time::OffsetDateTime, String> {
    let now = time::OffsetDateTime::now_utc();
    parse_since_at(s, now)
}

pub(crate) fn parse_since_at(s: &str, now: time::OffsetDateTime) -> Result<time::OffsetDateTime, String> {
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
