//! Who runs a command, and the audit-log entry every admin command appends. Imports nothing of the other
//! command modules, which all call it.

use roster_store::{AuditAction, Store};
use serde_json::Value;

/// Who runs this command: the operating system's user, as `os:NAME` (from the process's user id where the
/// environment does not say, as under cron or systemd; `os:uid:N` when the id has no name).
pub fn actor() -> String {
    let name = ["USER", "LOGNAME", "USERNAME"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|s| !s.is_empty()))
        .or_else(user_of_process);
    format!("os:{}", name.as_deref().unwrap_or("unknown"))
}

/// The name of the user the process runs as, from its user id and `/etc/passwd`.
#[cfg(unix)]
fn user_of_process() -> Option<String> {
    use std::os::unix::fs::MetadataExt as _;
    let uid = std::fs::metadata("/proc/self").ok()?.uid();
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    let named = passwd.lines().find_map(|l| {
        let mut f = l.split(':');
        let name = f.next()?;
        (f.nth(1)? == uid.to_string()).then(|| name.to_owned())
    });
    Some(named.unwrap_or_else(|| format!("uid:{uid}")))
}

#[cfg(not(unix))]
fn user_of_process() -> Option<String> {
    None
}

/// Appends an admin action to the audit log. The action is done already; a log that cannot be written is an
/// error all the same, so the admin knows the record is missing.
pub async fn record(store: &Store, action: AuditAction, target: &str, change: Value) -> Result<(), String> {
    store
        .record_audit(&actor(), action, target, &change)
        .await
        .map_err(|e| format!("done, but the audit log could not be written: {e}"))
}
