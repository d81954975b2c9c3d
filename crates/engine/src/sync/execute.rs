//! Carrying a decided action out at the target: create, link, update (reactivating an account the app calls
//! inactive), disable, delete, unlink; PUT where the target takes no PATCH; the link changes each one
//! establishes.

use super::matching::{match_account, outside_matching};
use super::{Failure, Run};
use crate::codes;
use crate::connect::TargetError;
use crate::mapping;
use crate::plan::{self, Action, MatchView, PatchOp, Source};
use roster_scim::{PatchOp as PatchOpKind, PatchPath};
use roster_store::{Link, LinkChange, LinkState, ResourceKind};
use serde_json::{Map, Value, json};

pub(super) enum Executed {
    Done(Action),
    /// The linked account answered 404.
    Stale(Link),
}

pub(super) async fn execute(
    run: &mut Run<'_>,
    source: &Source,
    link: Option<&Link>,
    action: Action,
) -> Result<Executed, Failure> {
    let (kind, app) = (run.kind, run.app);
    let fail = |a: &Action, e: TargetError| Failure::Target(a.clone(), e);
    let id = run.id;
    let forget = |source_id: &str| LinkChange::Delete {
        app: app.name.clone(),
        kind,
        source_id: source_id.to_owned(),
    };
    let desired = match source {
        Source::InScope { desired, .. } => Some(desired),
        _ => None,
    };
    let save = |target_id: String, state: LinkState, mut pushed: Map<String, Value>| {
        // What was pushed is kept, but never a password.
        crate::mapping::forget_passwords(app.rules(), &mut pushed);
        Link {
            app: app.name.clone(),
            kind,
            source_id: id.to_owned(),
            target_id,
            state,
            pushed_hash: plan::hash(&pushed),
            pushed,
            updated: time::OffsetDateTime::now_utc(),
        }
    };
    match &action {
        Action::Nothing { .. }
        | Action::Protected { .. }
        | Action::Rematch { .. }
        | Action::Conflict { .. } => {}
        Action::Create { payload } => {
            match app.client.create(kind, payload).await {
                Ok(created) => {
                    let tid = created
                        .get("id")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned();
                    run.step("action", format!("created account {tid}"));
                    run.changes.push(LinkChange::Save(save(
                        tid,
                        LinkState::Active,
                        desired.cloned().unwrap_or_default(),
                    )));
                }
                Err(e) if e.status == Some(409) => {
                    // Someone created the account meanwhile (or the target found a clash): find and link it.
                    run.step(
                        "action",
                        format!(
                            "create answered 409 ({}); looking for the account to link",
                            e.message
                        ),
                    );
                    let Some(d) = desired else {
                        return Err(fail(&action, e));
                    };
                    match match_account(run, d, None).await? {
                        MatchView::One { account, owner: None } => {
                            let tid = account
                                .get("id")
                                .and_then(Value::as_str)
                                .unwrap_or_default()
                                .to_owned();
                            let ops = plan::diff(d, &account, None);
                            let linked = Action::Link {
                                target_id: tid,
                                ops,
                                takes_over_from: None,
                            };
                            return Box::pin(execute(run, source, None, linked)).await;
                        }
                        found => {
                            // Say precisely why the clash cannot be repaired by linking.
                            let (code, why) = match found {
                                MatchView::Several { ids, attribute } => (
                                    &codes::MATCH_AMBIGUOUS,
                                    format!("accounts {} share the {attribute}", ids.join(", ")),
                                ),
                                MatchView::One { account, .. } => (
                                    &codes::ACCOUNT_CLAIMED,
                                    format!(
                                        "account {} is linked to another identity",
                                        account.get("id").and_then(Value::as_str).unwrap_or("?")
                                    ),
                                ),
                                MatchView::Nothing => match outside_matching(run, d).await {
                                    Some((attr, id)) => (
                                        &codes::MATCH_SETTING,
                                        format!(
                                            "account {id} has this {attr}, but the app's matching ({}) does not \
                                             look at {attr}: add it (roster app edit {} --matching {attr},{})",
                                            app.config.matching.join(", "),
                                            app.name,
                                            app.config.matching.join(",")
                                        ),
                                    ),
                                    None => (
                                        &codes::TARGET_TAKEN_ELSEWHERE,
                                        "no account the app lists holds the value".to_owned(),
                                    ),
                                },
                            };
                            let e = TargetError {
                                code,
                                message: format!("{}; {why}", e.message),
                                ..e
                            };
                            return Err(fail(&action, e));
                        }
                    }
                }
                Err(e) => return Err(fail(&action, e)),
            }
        }
        Action::Link {
            target_id,
            ops,
            takes_over_from,
        } => {
            if let Some(old) = takes_over_from {
                run.changes.push(forget(old));
            }
            if !ops.is_empty() {
                apply_ops(run, target_id, ops)
                    .await
                    .map_err(|e| fail(&action, e))?;
            }
            run.changes.push(LinkChange::Save(save(
                target_id.clone(),
                LinkState::Active,
                desired.cloned().unwrap_or_default(),
            )));
        }
        Action::Update { target_id, ops } => match update_reactivating(run, target_id, ops).await {
            Ok(()) => {
                run.changes.push(LinkChange::Save(save(
                    target_id.clone(),
                    LinkState::Active,
                    desired.cloned().unwrap_or_default(),
                )));
            }
            Err(e) if e.status == Some(404) => {
                return Ok(Executed::Stale(
                    link.cloned().ok_or(Failure::Target(action.clone(), e))?,
                ));
            }
            Err(e) => return Err(fail(&action, e)),
        },
        Action::Disable { target_id } => {
            let ops = [plan::set_active(false)];
            match apply_ops(run, target_id, &ops).await {
                Ok(()) => {
                    if let Some(l) = link {
                        let mut pushed = l.pushed.clone();
                        pushed.insert("active".into(), json!(false));
                        run.changes.push(LinkChange::Save(save(
                            target_id.clone(),
                            LinkState::Disabled,
                            pushed,
                        )));
                    }
                }
                Err(e) if e.status == Some(404) => {
                    run.changes.push(forget(id));
                    return Ok(Executed::Done(Action::Unlink {
                        target_id: target_id.clone(),
                        why: "the account was already gone from the app".into(),
                    }));
                }
                Err(e) => return Err(fail(&action, e)),
            }
        }
        Action::Delete { target_id } => {
            app.client
                .delete(kind, target_id)
                .await
                .map_err(|e| fail(&action, e))?;
            run.changes.push(forget(id));
        }
        Action::Unlink { .. } => {
            run.changes.push(forget(id));
        }
    }
    Ok(Executed::Done(action))
}

/// Applies PATCH operations, or, for a target without PATCH, reads the account, applies them here and PUTs it.
/// Applies an update; when the app refuses it because the account is deactivated on its side (seed 002's "User
/// account is inactive") while the identity is in scope, reactivates the account and sends the update again.
async fn update_reactivating(run: &mut Run<'_>, target_id: &str, ops: &[PatchOp]) -> Result<(), TargetError> {
    match apply_ops(run, target_id, ops).await {
        Err(e) if *e.code == codes::TARGET_INACTIVE && run.kind == ResourceKind::User => {
            run.step(
                "action",
                format!("the app says account {target_id} is inactive; reactivating it"),
            );
            apply_ops(run, target_id, &[plan::set_active(true)]).await?;
            let rest: Vec<PatchOp> = ops.iter().filter(|o| !plan::sets_active(o)).cloned().collect();
            if rest.is_empty() {
                Ok(())
            } else {
                apply_ops(run, target_id, &rest).await
            }
        }
        other => other,
    }
}

async fn apply_ops(run: &mut Run<'_>, target_id: &str, ops: &[PatchOp]) -> Result<(), TargetError> {
    let (kind, app) = (run.kind, run.app);
    if app.patch != Some(false) {
        match app.client.patch(kind, target_id, ops).await {
            Err(e) if matches!(e.status, Some(405 | 501)) => {
                run.step("action", "the app does not take PATCH; sending PUT");
            }
            other => return other,
        }
    }
    let Some(mut current) = app.client.get(kind, target_id).await? else {
        return Err(TargetError {
            code: &codes::TARGET_NOT_FOUND,
            status: Some(404),
            message: format!("GET /{}/{target_id} answered 404", kind.endpoint()),
            retry_after: None,
            held_back: false,
        });
    };
    current.shift_remove("meta");
    for op in ops {
        apply_locally(&mut current, op).map_err(|message| TargetError {
            code: &codes::TARGET_UNSUPPORTED,
            status: None,
            message: format!("not sent: {message}"),
            retry_after: None,
            held_back: false,
        })?;
    }
    app.client.replace(kind, target_id, &current).await
}

/// Applies one operation to an account read from a target that takes no PATCH, before it is sent back whole; an
/// operation that cannot be applied is refused by name, never dropped.
fn apply_locally(obj: &mut Map<String, Value>, op: &PatchOp) -> Result<(), String> {
    match (op.op, &op.path, &op.value) {
        (PatchOpKind::Remove, Some(path), _) => remove_path(obj, path),
        // Added values join the ones there (the planner adds a group's new members this way).
        (PatchOpKind::Add, Some(path), Some(Value::Array(added)))
            if path.filter.is_none() && path.attr.uri.is_none() && path.attr.sub.is_none() =>
        {
            match obj.get_mut(&path.attr.name) {
                Some(Value::Array(items)) => items.extend(added.iter().cloned()),
                _ => {
                    obj.insert(path.attr.name.clone(), Value::Array(added.clone()));
                }
            }
        }
        (_, Some(path), Some(v)) => mapping::set_path(obj, path, v.clone()),
        (_, None, Some(Value::Object(values))) => {
            for (k, v) in values {
                obj.insert(k.clone(), v.clone());
            }
        }
        (kind, path, _) => {
            return Err(format!(
                "the PATCH operation '{}'{} cannot be applied to the account read for a PUT",
                kind.as_str(),
                path.as_ref()
                    .map_or_else(|| " without a path".to_owned(), |p| format!(" of '{p}'"))
            ));
        }
    }
    Ok(())
}

fn remove_path(obj: &mut Map<String, Value>, p: &PatchPath) {
    if let Some(f) = &p.filter {
        if let Some(Value::Array(items)) = obj.get_mut(&p.attr.name) {
            items.retain(|i| !roster_scim::filter::matches_element(f, i, None));
        }
        return;
    }
    match &p.attr.uri {
        Some(uri) if !p.attr.name.is_empty() => {
            if let Some(Value::Object(ext)) = obj.get_mut(uri) {
                ext.shift_remove(&p.attr.name);
            }
        }
        _ => {
            obj.shift_remove(&p.attr.name);
        }
    }
}
