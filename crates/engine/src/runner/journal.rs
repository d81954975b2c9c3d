//! Following the change journal into the app's queue.

use crate::sync::AppRuntime;
use roster_store::{ResourceKind, Store, StoreError, to_micros};
use std::collections::BTreeSet;

/// How long a journal gap may stay open before roster treats it as a rolled-back transaction. PostgreSQL hands
/// out sequence numbers before commit, so a later number can become visible before an earlier one.
const GAP_GRACE_MICROS: i64 = 10_000_000;
const JOURNAL_BATCH: i64 = 1000;

/// Reads the journal after the app's cursor and queues the objects that changed. Returns how many objects were
/// queued.
pub async fn follow_journal(store: &Store, app: &AppRuntime, now: i64) -> Result<usize, StoreError> {
    let mut queued = 0;
    loop {
        let cursor = store.app_cursor(&app.name).await?;
        let entries = store.journal_since(cursor, JOURNAL_BATCH).await?;
        if entries.is_empty() {
            return Ok(queued);
        }
        let mut advance_to = cursor;
        let mut gap = false;
        for e in &entries {
            if e.seq != advance_to + 1 && !gap {
                // A gap: an earlier transaction may still commit. Advance past it only when it is old.
                if now - to_micros(e.at) < GAP_GRACE_MICROS {
                    gap = true;
                }
            }
            if !gap {
                advance_to = e.seq;
            }
        }
        let objects = affected_objects(store, app, &entries).await?;
        let objects: Vec<_> = objects.into_iter().collect();
        if !store
            .follow_journal_to(&app.name, &objects, cursor, advance_to, now)
            .await?
        {
            // Another process's engine queued these entries first and follows on.
            return Ok(queued);
        }
        queued += objects.len();
        if gap || entries.len() < usize::try_from(JOURNAL_BATCH).unwrap_or(usize::MAX) {
            return Ok(queued);
        }
    }
}

/// The objects an app must look at again after these journal entries: the users and (when the app pushes groups)
/// groups that changed; for an app scoped by groups, a group change also brings the group's users and every
/// linked user, since someone may have left a scope group (unchanged ones cost no request).
pub async fn affected_objects(
    store: &Store,
    app: &AppRuntime,
    entries: &[roster_store::JournalEntry],
) -> Result<BTreeSet<(ResourceKind, String)>, StoreError> {
    let mut objects = BTreeSet::new();
    let group_scoped = !app.config.scope.groups.is_empty();
    let mut group_changed = false;
    for e in entries {
        match e.kind {
            ResourceKind::User => {
                objects.insert((ResourceKind::User, e.id.clone()));
            }
            ResourceKind::Group => {
                group_changed = true;
                if app.config.push_groups {
                    objects.insert((ResourceKind::Group, e.id.clone()));
                }
                if group_scoped {
                    objects.extend(
                        store
                            .group_user_ids(&e.id)
                            .await?
                            .into_iter()
                            .map(|u| (ResourceKind::User, u)),
                    );
                }
            }
        }
    }
    if group_changed && group_scoped {
        let mut after: Option<String> = None;
        loop {
            let page = store
                .list_links(&app.name, ResourceKind::User, after.as_deref(), 1000)
                .await?;
            let Some(last) = page.last() else { break };
            after = Some(last.source_id.clone());
            objects.extend(page.into_iter().map(|l| (ResourceKind::User, l.source_id)));
        }
    }
    Ok(objects)
}
