//! Matching: finding the account an unlinked identity already has at the target, by the app's matching
//! attributes (in their identity form, skipping what a reconcile's snapshot says cannot match), and, after a
//! create answered 409, by `userName` where matching does not look.

use super::{Failure, Run};
use crate::mapping;
use crate::plan::{Action, MatchView, Owner};
use roster_scim::PatchPath;
use roster_scim::value::identity_key;
use roster_store::{Link, ResourceKind};
use serde_json::{Map, Value};

/// Finds an existing account for an identity on the app's matching attributes, in order. Values match as
/// identities: width, case and Unicode composition aside (`roster_scim::value::identity_key`).
pub(super) async fn match_account(
    run: &mut Run<'_>,
    desired: &Map<String, Value>,
    own: Option<&Link>,
) -> Result<MatchView, Failure> {
    let (kind, app) = (run.kind, run.app);
    let payload = Value::Object(desired.clone());
    let group_matching = ["displayName".to_owned()];
    let matching = match kind {
        ResourceKind::User => app.config.matching.as_slice(),
        ResourceKind::Group => group_matching.as_slice(),
    };
    // (attribute, its path, this identity's value), in matching order.
    let terms: Vec<(&String, PatchPath, String)> = matching
        .iter()
        .filter_map(|attr| {
            let path = PatchPath::parse(attr).ok()?;
            let value = mapping::get_path(&payload, &path).as_str()?.to_owned();
            Some((attr, path, value))
        })
        .collect();
    // A non-ASCII value is asked for in its composed and decomposed spellings too: a target that does not
    // normalise Unicode may hold either (RFC 8265; `émile` typed on a Mac is `e` + U+0301).
    let filter_of = |t: &(&String, PatchPath, String)| {
        roster_scim::value::unicode_spellings(&t.2)
            .into_iter()
            .map(|v| format!("{} eq {}", t.0, Value::String(v)))
            .collect::<Vec<_>>()
            .join(" or ")
    };
    let all = terms.iter().map(filter_of).collect::<Vec<_>>().join(" or ");
    if terms.is_empty() {
        run.step("match", "no matching attribute has a value: nothing to look for");
        return Ok(MatchView::Nothing);
    }
    if let Some(snap) = run.opts.snapshot
        && kind == ResourceKind::User
        && !terms.iter().any(|t| snap.may_hold(&t.2))
    {
        run.step("match", format!("no account had {all} when the sync began"));
        return Ok(MatchView::Nothing);
    }
    let fail = |e| {
        Failure::Target(
            Action::Rematch {
                target_id: String::new(),
            },
            e,
        )
    };
    // One request for every attribute; a target that refuses `or` is asked once per attribute.
    let found = match app.client.find(kind, &all, 20).await {
        Ok(found) => found,
        Err(e) if e.status == Some(400) && terms.len() > 1 => {
            let mut found = Vec::new();
            for t in &terms {
                found.extend(app.client.find(kind, &filter_of(t), 10).await.map_err(fail)?);
            }
            found
        }
        Err(e) => return Err(fail(e)),
    };
    for t in &terms {
        let (attr, path, value) = t;
        let filter = filter_of(t);
        // Some targets ignore filters: keep only accounts that really hold the value.
        let mut hits: Vec<&Map<String, Value>> = found
            .iter()
            .filter(|a| match mapping::get_path(&Value::Object((*a).clone()), path) {
                Value::String(s) => identity_key(&s) == identity_key(value),
                Value::Array(items) => items.iter().any(|i| {
                    i.get("value")
                        .and_then(Value::as_str)
                        .is_some_and(|s| identity_key(s) == identity_key(value))
                }),
                _ => false,
            })
            .collect();
        hits.dedup_by(|a, b| a.get("id") == b.get("id"));
        match hits.len() {
            0 => run.step("match", format!("no account with {filter}")),
            1 => {
                let account = hits[0].clone();
                let tid = account
                    .get("id")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned();
                let holder = run.store.find_link_by_target(&app.name, kind, &tid).await?;
                let owner = match holder {
                    Some(h) if own.is_none_or(|o| o.source_id != h.source_id) && h.source_id != run.id => {
                        if run.store.get_resource(kind, &h.source_id).await?.is_some() {
                            Some(Owner::Live(h.source_id))
                        } else {
                            Some(Owner::Gone(h.source_id))
                        }
                    }
                    _ => None,
                };
                run.step("match", format!("found account {tid} with {filter}"));
                return Ok(MatchView::One { account, owner });
            }
            _ => {
                let ids = hits
                    .iter()
                    .filter_map(|a| a.get("id").and_then(Value::as_str).map(str::to_owned))
                    .collect();
                run.step("match", format!("several accounts with {filter}"));
                return Ok(MatchView::Several {
                    attribute: (*attr).clone(),
                    ids,
                });
            }
        }
    }
    Ok(MatchView::Nothing)
}

/// After a create answered 409 and matching found nothing: an account holding the identity's `userName` that the
/// app's matching attributes do not look at, as (attribute, account id). One request, only on that path.
pub(super) async fn outside_matching(
    run: &Run<'_>,
    desired: &Map<String, Value>,
) -> Option<(&'static str, String)> {
    let app = run.app;
    if app
        .config
        .matching
        .iter()
        .any(|m| m.eq_ignore_ascii_case("userName"))
    {
        return None;
    }
    let name = desired.get("userName").and_then(Value::as_str)?;
    let filter = format!("userName eq {}", Value::String(name.to_owned()));
    let found = app.client.find(run.kind, &filter, 2).await.ok()?;
    let id = found.first()?.get("id").and_then(Value::as_str)?.to_owned();
    Some(("userName", id))
}
