//! Deciding what one object needs: the link trusted or the account read, matching where there is no link
//! (with the 409 fallbacks), then the planner's one action ([`crate::plan::plan`]), carried out by
//! [`super::execute`].

use super::execute::{Executed, execute};
use super::matching::match_account;
use super::{Failure, Run};
use crate::plan::{self, Action, MatchView, PlanInput, Source, TargetView};
use roster_store::{Link, LinkChange, LinkState, ResourceKind};
use serde_json::Value;

pub(super) async fn decide_and_execute(
    run: &mut Run<'_>,
    source: &Source,
    mut link: Option<Link>,
) -> Result<Action, Failure> {
    let (kind, app) = (run.kind, run.app);
    // An unchanged object with an active link costs nothing, unless the target is to be read.
    if let (Some(l), Source::InScope { desired, .. }) = (&link, source)
        && !run.opts.read_target
        && l.state == LinkState::Active
        && l.pushed_hash == plan::hash(desired)
    {
        return Ok(Action::Nothing {
            why: "nothing changed since the last push".into(),
        });
    }
    let mut target = TargetView::NotRead;
    if let Some(l) = &link
        && run.opts.read_target
    {
        target = match app.client.get(kind, &l.target_id).await {
            Ok(Some(t)) => TargetView::Found(t),
            Ok(None) => TargetView::Missing,
            Err(e) => {
                return Err(Failure::Target(
                    Action::Nothing {
                        why: "reading the account failed".into(),
                    },
                    e,
                ));
            }
        };
        run.step(
            "target",
            match &target {
                TargetView::Missing => format!("account {} is gone from the app (404)", l.target_id),
                _ => format!("read account {}", l.target_id),
            },
        );
    }
    let mut matched: Option<MatchView> = None;
    // At most three rounds: plan, match (or find the account gone), plan again.
    for _ in 0..3 {
        let protected = app.is_protected(
            link.as_ref()
                .and_then(|l| l.pushed.get("userName"))
                .and_then(Value::as_str),
        );
        let action = plan::plan(PlanInput {
            source,
            link: link.as_ref(),
            target: &target,
            matched: matched.as_ref(),
            // A group cannot be disabled: leaving scope deletes it, unless deprovisioning is off.
            deprovision: match (kind, app.config.deprovision) {
                (ResourceKind::Group, crate::config::Deprovision::Disable) => {
                    crate::config::Deprovision::Delete
                }
                (_, d) => d,
            },
            stale_link: app.config.stale_link,
            protected,
        });
        run.step("plan", action.to_string());
        match action {
            Action::Rematch { .. } => {
                let Source::InScope { desired, .. } = source else {
                    return Ok(action);
                };
                matched = Some(match_account(run, desired, link.as_ref()).await?);
            }
            action if run.opts.dry_run => return Ok(action),
            action @ (Action::Disable { .. } | Action::Delete { .. }) if run.opts.guard => {
                if app.has_discards()
                    && run.store.discarded_at(&app.name, kind, run.id).await? == Some(run.version)
                {
                    let why = "an admin discarded this deprovision (roster approve --discard); it stays undone \
                               until the object changes in the directory";
                    run.step("guard", why);
                    return Ok(Action::Nothing { why: why.into() });
                }
                run.step("guard", "deprovisions wait for the deprovision guard's check");
                return Err(Failure::Held(action));
            }
            action => {
                match execute(run, source, link.as_ref(), action).await? {
                    Executed::Done(a) => return Ok(a),
                    Executed::Stale(old) => {
                        // The app deleted the linked account: forget the link and decide again.
                        run.step(
                            "target",
                            format!(
                                "account {} is gone from the app (404): the link is stale",
                                old.target_id
                            ),
                        );
                        target = TargetView::Missing;
                        if app.config.stale_link == crate::config::StaleLinkPolicy::Relink
                            || !matches!(source, Source::InScope { .. })
                        {
                            run.changes.push(LinkChange::Delete {
                                app: app.name.clone(),
                                kind,
                                source_id: run.id.to_owned(),
                            });
                            link = None;
                            target = TargetView::NotRead;
                        }
                    }
                }
            }
        }
    }
    Ok(Action::Nothing {
        why: "no decision after three rounds; will try again".into(),
    })
}
