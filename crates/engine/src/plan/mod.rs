//! The planner: a pure function from what roster knows about one directory object (its desired state after
//! scope and mapping, its link, what the target holds) to the one action that brings the target in line.
//!
//! The same function decides for the real sync, `--dry-run` plans and provision-on-demand traces, so what a plan
//! shows is what a sync does. It performs no I/O: the executor gathers the views (reading the target where
//! needed) and carries the action out.

use crate::config::{Deprovision, StaleLinkPolicy};
use roster_scim::{AttrPath, CompValue, CompareOp, Filter, PatchOp as Op, PatchPath};
use roster_store::{Link, LinkState};
use serde_json::{Map, Value, json};
use std::fmt;

/// The directory side of one object.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// The object was deleted from the directory.
    Gone,
    /// The object exists but is not in the app's scope.
    OutOfScope,
    /// In scope: the mapped attributes roster keeps in sync (`desired`), and the payload for a create
    /// (`desired` plus create-only rules and `schemas`).
    InScope {
        /// What the account must hold.
        desired: Map<String, Value>,
        /// What a new account is created with.
        create: Map<String, Value>,
    },
}

/// The target side of a linked account.
#[derive(Debug, Clone, PartialEq)]
pub enum TargetView {
    /// Not read: roster trusts what it last pushed (incremental sync).
    NotRead,
    /// The target answered 404: the account is gone (a stale link).
    Missing,
    /// The account as the target returned it.
    Found(Map<String, Value>),
}

/// What matching found for an object without a link.
#[derive(Debug, Clone, PartialEq)]
pub enum MatchView {
    /// No account matched on any matching attribute.
    Nothing,
    /// One account matched. `owner` says whether another directory object's link holds it already.
    One {
        /// The account.
        account: Map<String, Value>,
        /// Who holds it, if anyone.
        owner: Option<Owner>,
    },
    /// Several accounts matched on the same attribute: roster cannot tell which is this identity's.
    Several {
        /// The attribute that matched more than once.
        attribute: String,
        /// The ids of the accounts.
        ids: Vec<String>,
    },
}

/// The directory object already linked to a matched account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owner {
    /// An object that still exists: two identities claim one account.
    Live(String),
    /// An object deleted from the directory: its account may pass to the identity that came back.
    Gone(String),
}

/// A change to an account: a SCIM PATCH operation, typed (`roster_scim`), which every kind of target carries out
/// or refuses by name.
pub type PatchOp = roster_scim::PatchOperation;

/// `replace` at `path`.
fn replace(path: AttrPath, value: Value) -> PatchOp {
    PatchOp {
        op: Op::Replace,
        path: Some(path.into()),
        value: Some(value),
    }
}

/// `remove` at `path`.
fn remove(path: PatchPath) -> PatchOp {
    PatchOp {
        op: Op::Remove,
        path: Some(path),
        value: None,
    }
}

/// The path to an attribute of the core schema (`name`) or, with `uri`, of an extension (`urn:…:department`).
fn attr(uri: Option<&str>, name: &str) -> AttrPath {
    AttrPath {
        uri: uri.map(str::to_owned),
        name: name.to_owned(),
        sub: None,
    }
}

/// `replace` of `active`: how an account is disabled (`false`) or reactivated (`true`).
pub fn set_active(active: bool) -> PatchOp {
    replace(attr(None, "active"), json!(active))
}

/// Whether `op` sets `active`.
pub fn sets_active(op: &PatchOp) -> bool {
    op.path.as_ref().is_some_and(|p| {
        p.filter.is_none() && p.attr.uri.is_none() && p.attr.sub.is_none() && p.attr.name == "active"
    })
}

/// The paths an operation list changes, for messages.
pub fn changed_paths(ops: &[PatchOp]) -> String {
    ops.iter()
        .map(|o| o.path.as_ref().map_or_else(String::new, ToString::to_string))
        .collect::<Vec<_>>()
        .join(", ")
}

/// What the planner decided.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Nothing to send.
    Nothing {
        /// Why (shown in plans and traces).
        why: String,
    },
    /// The identity left the app's scope, but its account is protected (`R-PROTECTED`): nothing is sent.
    Protected {
        /// The account.
        target_id: String,
        /// Why it would have been deprovisioned.
        why: String,
    },
    /// Create an account.
    Create {
        /// The payload.
        payload: Map<String, Value>,
    },
    /// Link an existing account (found by matching), then bring it in line (`ops` may be empty).
    Link {
        /// The account.
        target_id: String,
        /// Changes to apply after linking.
        ops: Vec<PatchOp>,
        /// The directory object whose (deleted) link passes to this one.
        takes_over_from: Option<String>,
    },
    /// Change a linked account.
    Update {
        /// The account.
        target_id: String,
        /// The changes.
        ops: Vec<PatchOp>,
    },
    /// Deprovision by disabling (`active: false`).
    Disable {
        /// The account.
        target_id: String,
    },
    /// Deprovision by deleting.
    Delete {
        /// The account.
        target_id: String,
    },
    /// Forget the link without touching the account (deprovision policy `none`, or the account is gone).
    Unlink {
        /// The account.
        target_id: String,
        /// Why.
        why: String,
    },
    /// The linked account is gone from the target: match again (policy `relink`) before deciding.
    Rematch {
        /// The account that vanished.
        target_id: String,
    },
    /// Create nothing: a person must decide.
    Conflict {
        /// What is in conflict, in words.
        why: String,
        /// The accounts involved.
        target_ids: Vec<String>,
    },
}

impl Action {
    /// A short name for logs and plans.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Nothing { .. } | Self::Protected { .. } => "none",
            Self::Create { .. } => "create",
            Self::Link { .. } => "link",
            Self::Update { .. } => "update",
            Self::Disable { .. } => "disable",
            Self::Delete { .. } => "delete",
            Self::Unlink { .. } => "unlink",
            Self::Rematch { .. } => "match",
            Self::Conflict { .. } => "conflict",
        }
    }

    /// Whether it changes the target.
    pub fn writes(&self) -> bool {
        match self {
            Self::Create { .. } | Self::Disable { .. } | Self::Delete { .. } => true,
            Self::Update { ops, .. } | Self::Link { ops, .. } => !ops.is_empty(),
            Self::Nothing { .. }
            | Self::Protected { .. }
            | Self::Unlink { .. }
            | Self::Rematch { .. }
            | Self::Conflict { .. } => false,
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let changed = changed_paths;
        match self {
            Self::Nothing { why } => write!(f, "nothing to do: {why}"),
            Self::Protected { why, .. } => write!(
                f,
                "nothing to do: {why}, but the account is protected: roster never disables or deletes it"
            ),
            Self::Create { payload } => write!(
                f,
                "create account {}",
                payload
                    .get("userName")
                    .or_else(|| payload.get("displayName"))
                    .unwrap_or(&Value::Null)
            ),
            Self::Link {
                target_id,
                ops,
                takes_over_from,
            } => {
                write!(f, "link existing account {target_id}")?;
                if let Some(old) = takes_over_from {
                    write!(f, " (it belonged to deleted directory object {old})")?;
                }
                if !ops.is_empty() {
                    write!(f, ", then update {}", changed(ops))?;
                }
                Ok(())
            }
            Self::Update { target_id, ops } => write!(f, "update {target_id}: {}", changed(ops)),
            Self::Disable { target_id } => write!(f, "disable {target_id} (active: false)"),
            Self::Delete { target_id } => write!(f, "delete {target_id}"),
            Self::Unlink { target_id, why } => write!(f, "forget the link to {target_id}: {why}"),
            Self::Rematch { target_id } if target_id.is_empty() => {
                f.write_str("not linked yet: look for an existing account in the app before creating one")
            }
            Self::Rematch { target_id } => write!(f, "account {target_id} is gone from the app; match again"),
            Self::Conflict { why, .. } => write!(f, "conflict, nothing created: {why}"),
        }
    }
}

/// Everything the planner looks at for one object.
#[derive(Debug, Clone, Copy)]
pub struct PlanInput<'a> {
    /// The directory side.
    pub source: &'a Source,
    /// The object's link, if any.
    pub link: Option<&'a Link>,
    /// The linked account as read (or not) from the target.
    pub target: &'a TargetView,
    /// What matching found, for an object without a (usable) link; `None` when matching has not run.
    pub matched: Option<&'a MatchView>,
    /// What leaving scope does.
    pub deprovision: Deprovision,
    /// What a vanished account leads to.
    pub stale_link: StaleLinkPolicy,
    /// Whether the linked or matched account is protected from disable and delete.
    pub protected: bool,
}

/// Decides the action for one object.
pub fn plan(input: PlanInput<'_>) -> Action {
    match (input.link, input.source) {
        (Some(link), Source::InScope { desired, create }) => plan_linked(input, link, desired, create),
        (Some(link), Source::Gone | Source::OutOfScope) => plan_leaving(input, link),
        (None, Source::Gone) => Action::Nothing {
            why: "deleted from the directory, and it has no account".into(),
        },
        (None, Source::OutOfScope) => Action::Nothing {
            why: "not in the app's scope, and it has no account".into(),
        },
        (None, Source::InScope { desired, create }) => plan_unlinked(input, desired, create),
    }
}

fn plan_linked(
    input: PlanInput<'_>,
    link: &Link,
    desired: &Map<String, Value>,
    create: &Map<String, Value>,
) -> Action {
    let target_id = link.target_id.clone();
    let ops = match input.target {
        TargetView::Missing => {
            return match input.stale_link {
                StaleLinkPolicy::Relink => match input.matched {
                    None => Action::Rematch { target_id },
                    Some(_) => plan_unlinked(input, desired, create),
                },
                StaleLinkPolicy::Recreate => Action::Create {
                    payload: create.clone(),
                },
            };
        }
        TargetView::NotRead => diff(desired, &link.pushed, Some(&link.pushed)),
        TargetView::Found(current) => diff(desired, current, Some(&link.pushed)),
    };
    if ops.is_empty() {
        let why = match input.target {
            TargetView::Found(_) => "the account already matches the directory",
            _ => "nothing changed since the last push",
        };
        return Action::Nothing { why: why.into() };
    }
    Action::Update { target_id, ops }
}

fn plan_leaving(input: PlanInput<'_>, link: &Link) -> Action {
    let target_id = link.target_id.clone();
    let why = if *input.source == Source::Gone {
        "deleted from the directory"
    } else {
        "no longer in the app's scope"
    };
    if matches!(input.target, TargetView::Missing) {
        return Action::Unlink {
            target_id,
            why: format!("{why}, and the account is already gone from the app"),
        };
    }
    if input.protected && input.deprovision != Deprovision::None {
        return Action::Protected {
            target_id,
            why: why.to_owned(),
        };
    }
    match input.deprovision {
        Deprovision::Disable if link.state == LinkState::Disabled => Action::Nothing {
            why: format!("{why}; the account is already disabled"),
        },
        Deprovision::Disable => Action::Disable { target_id },
        Deprovision::Delete => Action::Delete { target_id },
        Deprovision::None => Action::Unlink {
            target_id,
            why: format!("{why}; deprovisioning is off for this app"),
        },
    }
}

fn plan_unlinked(input: PlanInput<'_>, desired: &Map<String, Value>, create: &Map<String, Value>) -> Action {
    match input.matched {
        // Matching has not run: the executor runs it and plans again. Creating here could duplicate an account.
        None => Action::Rematch {
            target_id: String::new(),
        },
        Some(MatchView::Nothing) => Action::Create {
            payload: create.clone(),
        },
        Some(MatchView::Several { attribute, ids }) => Action::Conflict {
            why: format!(
                "{} accounts in the app have the same {attribute} ({}); roster cannot tell which one belongs to \
                 this identity. Remove or rename the extra accounts in the app, then sync again",
                ids.len(),
                ids.join(", ")
            ),
            target_ids: ids.clone(),
        },
        Some(MatchView::One { account, owner }) => {
            let target_id = account
                .get("id")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            match owner {
                Some(Owner::Live(other)) => Action::Conflict {
                    why: format!(
                        "the matching account {target_id} already belongs to directory object {other}; two \
                         identities share a matching value. Change one of them in the directory"
                    ),
                    target_ids: vec![target_id],
                },
                Some(Owner::Gone(old)) => Action::Link {
                    ops: diff(desired, account, None),
                    target_id,
                    takes_over_from: Some(old.clone()),
                },
                None => Action::Link {
                    ops: diff(desired, account, None),
                    target_id,
                    takes_over_from: None,
                },
            }
        }
    }
}

/// The PATCH operations that make `current` hold `desired`. Only attributes roster maps are compared (extra
/// attributes the target keeps are left alone); attributes roster pushed before (`pushed`) and no longer maps
/// are removed. Extension attributes are patched one sub-attribute at a time.
pub fn diff(
    desired: &Map<String, Value>,
    current: &Map<String, Value>,
    pushed: Option<&Map<String, Value>>,
) -> Vec<PatchOp> {
    let mut ops = Vec::new();
    for (key, want) in desired {
        if key == "schemas" {
            continue;
        }
        let have = roster_scim::value::find_key(current, key).and_then(|k| current.get(&k));
        if key == "members"
            && let Value::Array(want_members) = want
        {
            member_ops(
                want_members,
                have.and_then(Value::as_array).map_or(&[][..], Vec::as_slice),
                &mut ops,
            );
            continue;
        }
        if key.starts_with("urn:")
            && let Value::Object(want_ext) = want
        {
            let have_ext = have.and_then(Value::as_object);
            for (sub, v) in want_ext {
                let h = have_ext.and_then(|o| roster_scim::value::find_key(o, sub).and_then(|k| o.get(&k)));
                if !h.is_some_and(|h| contains(h, v)) {
                    ops.push(replace(attr(Some(key), sub), v.clone()));
                }
            }
            continue;
        }
        if !have.is_some_and(|h| contains(h, want)) {
            ops.push(replace(attr(None, key), want.clone()));
        }
    }
    if let Some(pushed) = pushed {
        for (key, old) in pushed {
            let present = |k: &str| roster_scim::value::find_key(current, k).is_some();
            if key.starts_with("urn:") {
                let want_ext = desired.get(key).and_then(Value::as_object);
                for sub in old.as_object().into_iter().flat_map(|o| o.keys()) {
                    let still = want_ext.is_some_and(|w| w.contains_key(sub));
                    let have = current
                        .get(key)
                        .and_then(Value::as_object)
                        .is_some_and(|o| o.contains_key(sub));
                    if !still && have {
                        ops.push(remove(attr(Some(key), sub).into()));
                    }
                }
            } else if key != "schemas" && !desired.contains_key(key) && present(key) {
                ops.push(remove(attr(None, key).into()));
            }
        }
    }
    ops
}

/// A group's member changes as the smallest PATCH: one `add` with the new members, one `remove` per member that
/// left (a 100k-member group with one change costs one small operation).
fn member_ops(want: &[Value], have: &[Value], ops: &mut Vec<PatchOp>) {
    let ids = |list: &[Value]| -> std::collections::BTreeSet<String> {
        list.iter()
            .filter_map(|m| m.get("value").and_then(Value::as_str).map(str::to_owned))
            .collect()
    };
    let (want, have) = (ids(want), ids(have));
    let added: Vec<Value> = want.difference(&have).map(|v| json!({"value": v})).collect();
    if !added.is_empty() {
        ops.push(PatchOp {
            op: Op::Add,
            path: Some(attr(None, "members").into()),
            value: Some(Value::Array(added)),
        });
    }
    for gone in have.difference(&want) {
        ops.push(remove(PatchPath {
            attr: attr(None, "members"),
            filter: Some(Filter::Compare {
                path: attr(None, "value"),
                op: CompareOp::Eq,
                value: CompValue::Str(gone.clone()),
            }),
            sub_after_filter: None,
        }));
    }
}

/// Whether `have` holds at least what `want` says: equal scalars (`"true"` equals `true`, numbers by value),
/// every wanted key of an object, and for lists the same number of values each held by one of `have`'s.
pub fn contains(have: &Value, want: &Value) -> bool {
    match (have, want) {
        (Value::Object(h), Value::Object(w)) => {
            w.iter().all(
                |(k, wv)| match roster_scim::value::find_key(h, k).and_then(|k| h.get(&k)) {
                    Some(hv) => contains(hv, wv),
                    None => wv.is_null(),
                },
            )
        }
        (Value::Array(h), Value::Array(w)) => {
            h.len() == w.len() && w.iter().all(|wv| h.iter().any(|hv| contains(hv, wv)))
        }
        (Value::String(s), Value::Bool(b)) | (Value::Bool(b), Value::String(s)) => {
            roster_scim::value::parse_bool(s) == Some(*b)
        }
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        (h, w) => h == w,
    }
}

/// The hash of a desired state, stored with the link so an unchanged object costs no request.
pub fn hash(desired: &Map<String, Value>) -> String {
    use sha2::Digest;
    // A map serializes as the object holding it would: the same bytes as `Value::Object(..).to_string()`.
    hex::encode(sha2::Sha256::digest(
        serde_json::to_vec(desired).unwrap_or_default(),
    ))
}

#[cfg(test)]
mod tests;
