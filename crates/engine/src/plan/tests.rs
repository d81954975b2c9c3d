#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;
use roster_store::ResourceKind;

/// An operation as its wire form reads: typed paths equal the parse of what the target is sent.
fn op(kind: &str, path: &str, value: Option<Value>) -> PatchOp {
    PatchOp {
        op: match kind {
            "add" => Op::Add,
            "remove" => Op::Remove,
            _ => Op::Replace,
        },
        path: Some(PatchPath::parse(path).unwrap()),
        value,
    }
}

fn obj(v: Value) -> Map<String, Value> {
    v.as_object().unwrap().clone()
}

fn in_scope(v: Value) -> Source {
    let desired = obj(v);
    let mut create = desired.clone();
    create.insert(
        "schemas".into(),
        json!(["urn:ietf:params:scim:schemas:core:2.0:User"]),
    );
    Source::InScope { desired, create }
}

fn link(pushed: Value, state: LinkState) -> Link {
    let pushed = obj(pushed);
    Link {
        app: "app".into(),
        kind: ResourceKind::User,
        source_id: "u-1".into(),
        target_id: "t-1".into(),
        state,
        pushed_hash: hash(&pushed),
        pushed,
        updated: time::OffsetDateTime::UNIX_EPOCH,
    }
}

fn input<'a>(
    source: &'a Source,
    link: Option<&'a Link>,
    target: &'a TargetView,
    matched: Option<&'a MatchView>,
) -> PlanInput<'a> {
    PlanInput {
        source,
        link,
        target,
        matched,
        deprovision: Deprovision::Disable,
        stale_link: StaleLinkPolicy::Relink,
        protected: false,
    }
}

#[test]
fn a_new_identity_is_matched_before_anything_is_created() {
    let s = in_scope(json!({"userName": "ann"}));
    assert_eq!(plan(input(&s, None, &TargetView::NotRead, None)).name(), "match");
    let a = plan(input(&s, None, &TargetView::NotRead, Some(&MatchView::Nothing)));
    let Action::Create { payload } = a else {
        panic!("{a:?}")
    };
    assert_eq!(payload["userName"], "ann");
    assert!(payload.contains_key("schemas"));
}

#[test]
fn one_match_is_linked_and_brought_in_line() {
    let s = in_scope(json!({"userName": "ann", "displayName": "Ann B", "active": true}));
    let m = MatchView::One {
        account: obj(json!({"id": "t-9", "userName": "ANN", "displayName": "Ann", "active": "False"})),
        owner: None,
    };
    let a = plan(input(&s, None, &TargetView::NotRead, Some(&m)));
    let Action::Link {
        target_id,
        ops,
        takes_over_from,
    } = a
    else {
        panic!("{a:?}")
    };
    assert_eq!(target_id, "t-9");
    assert_eq!(takes_over_from, None);
    let paths: Vec<_> = ops.iter().map(|o| o.path.as_ref().unwrap().to_string()).collect();
    // userName differs only in case at the target: kept exact, so it is replaced too.
    assert_eq!(
        paths,
        ["userName", "displayName", "active"],
        "an inactive account is reactivated"
    );
}

#[test]
fn several_matches_create_nothing() {
    let s = in_scope(json!({"userName": "ann"}));
    let m = MatchView::Several {
        attribute: "emails.value".into(),
        ids: vec!["t-1".into(), "t-2".into()],
    };
    let a = plan(input(&s, None, &TargetView::NotRead, Some(&m)));
    let Action::Conflict { target_ids, why } = a else {
        panic!("{a:?}")
    };
    assert_eq!(target_ids, ["t-1", "t-2"]);
    assert!(why.contains("emails.value"), "{why}");
}

#[test]
fn an_account_held_by_a_live_identity_is_a_conflict_and_by_a_deleted_one_passes_over() {
    let s = in_scope(json!({"userName": "ann"}));
    let account = obj(json!({"id": "t-1", "userName": "ann"}));
    let live = MatchView::One {
        account: account.clone(),
        owner: Some(Owner::Live("u-7".into())),
    };
    assert_eq!(
        plan(input(&s, None, &TargetView::NotRead, Some(&live))).name(),
        "conflict"
    );
    let gone = MatchView::One {
        account,
        owner: Some(Owner::Gone("u-old".into())),
    };
    let a = plan(input(&s, None, &TargetView::NotRead, Some(&gone)));
    assert_eq!(
        a,
        Action::Link {
            target_id: "t-1".into(),
            ops: vec![],
            takes_over_from: Some("u-old".into())
        }
    );
}

#[test]
fn unchanged_objects_cost_nothing_and_changes_are_minimal() {
    let l = link(json!({"userName": "ann", "title": "Eng"}), LinkState::Active);
    let same = in_scope(json!({"userName": "ann", "title": "Eng"}));
    assert_eq!(
        plan(input(&same, Some(&l), &TargetView::NotRead, None)).name(),
        "none"
    );
    let changed = in_scope(json!({"userName": "ann", "title": "Lead", "nickName": "A"}));
    let a = plan(input(&changed, Some(&l), &TargetView::NotRead, None));
    let Action::Update { ops, .. } = a else {
        panic!("{a:?}")
    };
    assert_eq!(
        ops,
        vec![
            op("replace", "title", Some(json!("Lead"))),
            op("replace", "nickName", Some(json!("A"))),
        ]
    );
    // An attribute no longer mapped is removed.
    let dropped = in_scope(json!({"userName": "ann"}));
    let a = plan(input(&dropped, Some(&l), &TargetView::NotRead, None));
    let Action::Update { ops, .. } = a else {
        panic!("{a:?}")
    };
    assert_eq!(ops, vec![op("remove", "title", None)]);
}

#[test]
fn drift_at_the_target_is_repaired_when_the_target_is_read() {
    let l = link(json!({"userName": "ann", "title": "Eng"}), LinkState::Active);
    let s = in_scope(json!({"userName": "ann", "title": "Eng"}));
    let drifted = TargetView::Found(obj(
        json!({"id": "t-1", "userName": "ann", "title": "Hacked", "x": 1}),
    ));
    let a = plan(input(&s, Some(&l), &drifted, None));
    assert_eq!(
        a,
        Action::Update {
            target_id: "t-1".into(),
            ops: vec![op("replace", "title", Some(json!("Eng")))],
        }
    );
    let fine = TargetView::Found(obj(
        json!({"id": "t-1", "userName": "ann", "title": "Eng", "x": 1}),
    ));
    assert_eq!(plan(input(&s, Some(&l), &fine, None)).name(), "none");
}

#[test]
fn leaving_scope_follows_the_deprovision_policy() {
    let l = link(json!({"userName": "ann"}), LinkState::Active);
    for (policy, want) in [
        (Deprovision::Disable, "disable"),
        (Deprovision::Delete, "delete"),
        (Deprovision::None, "unlink"),
    ] {
        for src in [Source::Gone, Source::OutOfScope] {
            let mut i = input(&src, Some(&l), &TargetView::NotRead, None);
            i.deprovision = policy;
            assert_eq!(plan(i).name(), want, "{policy:?} {src:?}");
        }
    }
    let disabled = link(json!({"userName": "ann"}), LinkState::Disabled);
    assert_eq!(
        plan(input(
            &Source::OutOfScope,
            Some(&disabled),
            &TargetView::NotRead,
            None
        ))
        .name(),
        "none"
    );
}

#[test]
fn protected_accounts_are_never_disabled_or_deleted() {
    let l = link(json!({"userName": "svc-roster"}), LinkState::Active);
    for policy in [Deprovision::Disable, Deprovision::Delete] {
        let mut i = input(&Source::Gone, Some(&l), &TargetView::NotRead, None);
        i.deprovision = policy;
        i.protected = true;
        let a = plan(i);
        assert!(
            matches!(&a, Action::Protected { target_id, .. } if target_id == &l.target_id),
            "{a:?}"
        );
    }
}

#[test]
fn a_vanished_account_is_matched_again_or_recreated() {
    let l = link(json!({"userName": "ann"}), LinkState::Active);
    let s = in_scope(json!({"userName": "ann"}));
    assert_eq!(
        plan(input(&s, Some(&l), &TargetView::Missing, None)).name(),
        "match"
    );
    assert_eq!(
        plan(input(
            &s,
            Some(&l),
            &TargetView::Missing,
            Some(&MatchView::Nothing)
        ))
        .name(),
        "create"
    );
    let mut i = input(&s, Some(&l), &TargetView::Missing, None);
    i.stale_link = StaleLinkPolicy::Recreate;
    assert_eq!(plan(i).name(), "create");
    // Leaving scope while the account is gone: just forget the link.
    assert_eq!(
        plan(input(&Source::Gone, Some(&l), &TargetView::Missing, None)).name(),
        "unlink"
    );
}

#[test]
fn a_disabled_account_is_reactivated_when_the_identity_returns() {
    let mut l = link(json!({"userName": "ann", "active": true}), LinkState::Disabled);
    l.pushed.insert("active".into(), json!(false));
    let s = in_scope(json!({"userName": "ann", "active": true}));
    let a = plan(input(&s, Some(&l), &TargetView::NotRead, None));
    assert_eq!(
        a,
        Action::Update {
            target_id: "t-1".into(),
            ops: vec![op("replace", "active", Some(json!(true)))],
        }
    );
}

#[test]
fn extension_attributes_are_patched_one_by_one() {
    let urn = "urn:ietf:params:scim:schemas:extension:Adobe:2.0:User";
    let desired = obj(json!({urn: {"organizationalUnit": "/Sales"}}));
    let current = obj(json!({urn: {"organizationalUnit": "/Eng", "other": 1}}));
    assert_eq!(
        diff(&desired, &current, None),
        vec![op(
            "replace",
            &format!("{urn}:organizationalUnit"),
            Some(json!("/Sales"))
        )]
    );
}

#[test]
fn containment_ignores_what_the_target_adds() {
    assert!(contains(
        &json!([{"value": "a@x", "type": "work", "primary": true}, {"value": "b@x", "primary": false}]),
        &json!([{"value": "b@x"}, {"value": "a@x", "type": "work"}])
    ));
    assert!(!contains(
        &json!([{"value": "a@x"}]),
        &json!([{"value": "a@x"}, {"value": "b@x"}])
    ));
    assert!(contains(&json!("True"), &json!(true)));
    assert!(contains(&json!(1.0), &json!(1)));
    assert!(!contains(&json!({"givenName": "A"}), &json!({"givenName": "B"})));
}

#[test]
fn member_changes_are_minimal_patches() {
    let desired = obj(json!({"displayName": "Sales", "members": [{"value": "t-1"}, {"value": "t-3"}]}));
    let current =
        obj(json!({"displayName": "Sales", "members": [{"value": "t-1", "display": "a"}, {"value": "t-2"}]}));
    assert_eq!(
        diff(&desired, &current, None),
        vec![
            op("add", "members", Some(json!([{"value": "t-3"}]))),
            op("remove", r#"members[value eq "t-2"]"#, None),
        ]
    );
    let same = obj(json!({"displayName": "Sales", "members": [{"value": "t-3"}, {"value": "t-1"}]}));
    assert!(diff(&desired, &same, None).is_empty(), "order does not matter");
    let empty_target = obj(json!({"displayName": "Sales"}));
    assert_eq!(
        diff(&desired, &empty_target, None).len(),
        1,
        "a target that omits an empty members list"
    );
}
