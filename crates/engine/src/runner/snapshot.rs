//! The matching values of every account a target holds, read when a reconcile starts, so that identities nothing
//! can match cost no matching request.

use crate::sync::{AppRuntime, TargetSnapshot};
use roster_store::ResourceKind;
use std::time::Duration;

/// How often one page of a reconcile's listing is asked for before matching falls back to a request per identity.
const LISTING_TRIES: u32 = 6;

/// Whether a listing page that failed is worth asking for again: the app paused roster, or the failure passes.
fn listing_retryable(e: &crate::connect::TargetError) -> bool {
    e.held_back || e.code.retryable
}

/// Waits before asking for a listing page again: as long as the app asked, else 1 s doubling (at most 8 s).
async fn listing_pause(e: &crate::connect::TargetError, tries: u32) {
    let wait = e
        .retry_after
        .unwrap_or_else(|| Duration::from_secs(1 << tries.saturating_sub(1).min(3)));
    tokio::time::sleep(wait.min(Duration::from_secs(60))).await;
}

/// Reads the matching values of every user account in the target (pages of 1000 by cursor where the target
/// knows cursors, else by index; two attributes each), so the
/// initial sync of an empty or small target skips the matching request for identities nothing can match.
/// A page that fails for a passing cause (a pause, a 5xx, a reset) is asked for again, up to [`LISTING_TRIES`]
/// times. `None` when the target cannot be listed; matching then asks the target for each identity.
pub(super) async fn target_snapshot(app: &AppRuntime) -> Option<TargetSnapshot> {
    let mut snap = TargetSnapshot::default();
    let attrs: Vec<&str> = app
        .config
        .matching
        .iter()
        .map(|m| m.split(['.', '[']).next().unwrap_or(m))
        .collect();
    let attrs = attrs.join(",");
    let mut start = 1_u64;
    // Cursor paging first (RFC 9865): each page costs the target the same, where `startIndex` pages cost it
    // more the deeper they go (an OFFSET scan: quadratic over a million accounts).
    let mut cursor = String::new();
    loop {
        let first = cursor.is_empty();
        let mut tries = 0;
        let page = loop {
            let page = app
                .client
                .list_page_cursor(ResourceKind::User, &cursor, 1000, &attrs)
                .await;
            match &page {
                Some(Err(e)) if tries < LISTING_TRIES && listing_retryable(e) => {
                    tries += 1;
                    listing_pause(e, tries).await;
                }
                _ => break page,
            }
        };
        match page {
            None => break,
            Some(Ok((page, total, next))) => {
                for account in &page {
                    snap.add_account(account, &app.config.matching);
                }
                match next {
                    Some(next) => cursor = next,
                    None if first => {
                        // All of it, or a target that does not know cursors answered its first page: go on by
                        // index.
                        start += page.len() as u64;
                        if page.is_empty() || start > total {
                            return Some(snap);
                        }
                        break;
                    }
                    None => return Some(snap),
                }
            }
            // A target that refuses the cursor parameter (RFC 9865 §2 lets it answer 400 or 501; some answer
            // other 4xx) is listed by index.
            Some(Err(e))
                if first
                    && e.status
                        .is_some_and(|s| ((400..500).contains(&s) && s != 429) || s == 501) =>
            {
                break;
            }
            Some(Err(e)) => {
                tracing::warn!(app = %app.name, "cannot list the app's accounts ({e}); matching asks per identity");
                return None;
            }
        }
    }
    let mut tries = 0;
    loop {
        match app
            .client
            .list_page(ResourceKind::User, start, 1000, &attrs)
            .await
        {
            Err(e) if tries < LISTING_TRIES && listing_retryable(&e) => {
                tries += 1;
                listing_pause(&e, tries).await;
            }
            Ok((page, total)) => {
                tries = 0;
                let n = page.len() as u64;
                for account in &page {
                    snap.add_account(account, &app.config.matching);
                }
                start += n;
                if n == 0 || start > total {
                    return Some(snap);
                }
            }
            Err(e) => {
                tracing::warn!(app = %app.name, "cannot list the app's accounts ({e}); matching asks per identity");
                return None;
            }
        }
    }
}
