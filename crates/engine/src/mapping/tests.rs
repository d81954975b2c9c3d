#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;
use serde_json::json;

fn bjensen() -> Value {
    json!({
        "id": "u-1",
        "userName": "bjensen@example.com",
        "active": true,
        "name": {"givenName": "Barbara", "familyName": "Jensen"},
        "emails": [
            {"value": "home@example.org", "type": "home"},
            {"value": "bjensen@example.com", "type": "work", "primary": true}
        ],
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "/Sales/EMEA", "employeeNumber": "701984"},
        "groups": [{"value": "g-1", "display": "Sales", "type": "direct"}]
    })
}

fn run(rule: &str) -> Map<String, Value> {
    let r = MappingRule::parse(rule, false).unwrap();
    apply(&compile(&[r]).unwrap(), &bjensen(), true)
}

#[test]
fn copies_attributes_sub_attributes_and_primary_values() {
    assert_eq!(run("userName=userName")["userName"], "bjensen@example.com");
    assert_eq!(
        run("name.givenName=name.givenName")["name"],
        json!({"givenName": "Barbara"})
    );
    assert_eq!(run("userName=emails.value")["userName"], "bjensen@example.com");
    assert_eq!(
        run(r#"nickName=emails[type eq "home"].value"#)["nickName"],
        "home@example.org"
    );
    assert_eq!(run("externalId=id")["externalId"], "u-1");
}

#[test]
fn functions_compute_values() {
    assert_eq!(
        run(r#"displayName=concat(name.givenName, " ", upper(name.familyName))"#)["displayName"],
        "Barbara JENSEN"
    );
    assert_eq!(
        run(r#"nickName=lower(split(userName, "@", 0))"#)["nickName"],
        "bjensen"
    );
    assert_eq!(run("nickName=substring(name.givenName, 0, 3)")["nickName"], "Bar");
    assert_eq!(run(r#"title=default(title, "Staff")"#)["title"], "Staff");
    assert_eq!(
        run(r#"title=if(eq(name.familyName, "JENSEN"), "J", "other")"#)["title"],
        "J"
    );
    assert_eq!(
        run(r#"title=if(present(nickName), "has", "none")"#)["title"],
        "none"
    );
    assert_eq!(
        run(r#"title=join("/", "a", null, groups.display)"#)["title"],
        "a/Sales"
    );
    assert_eq!(
        run(r#"title=replace(userName, "@example.com", "")"#)["title"],
        "bjensen"
    );
    assert_eq!(run("active=not(active)")["active"], false);
    // A null result sets nothing.
    assert!(!run("title=title").contains_key("title"));
}

#[test]
fn extension_targets_nest_under_their_schema() {
    let out = run(
        "urn:ietf:params:scim:schemas:extension:Adobe:2.0:User:organizationalUnit=urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
    );
    assert_eq!(
        out["urn:ietf:params:scim:schemas:extension:Adobe:2.0:User"],
        json!({"organizationalUnit": "/Sales/EMEA"})
    );
    let with = with_schemas(out, USER_SCHEMA);
    assert_eq!(
        with["schemas"],
        json!([
            USER_SCHEMA,
            "urn:ietf:params:scim:schemas:extension:Adobe:2.0:User"
        ])
    );
}

#[test]
fn value_path_targets_create_their_element() {
    let rules = compile(&[
        MappingRule::parse(r#"emails[type eq "work"].value=userName"#, false).unwrap(),
        MappingRule::parse(r#"emails[type eq "work"].primary=true"#, false).unwrap(),
    ])
    .unwrap();
    let out = apply(&rules, &bjensen(), true);
    assert_eq!(
        out["emails"],
        json!([{"type": "work", "value": "bjensen@example.com", "primary": true}])
    );
}

#[test]
fn on_create_only_rules_apply_only_to_creates() {
    let rules = compile(&[
        MappingRule::parse("userName=userName", false).unwrap(),
        MappingRule::parse(r#"password="Initial-1""#, true).unwrap(),
    ])
    .unwrap();
    assert!(apply(&rules, &bjensen(), true).contains_key("password"));
    assert!(!apply(&rules, &bjensen(), false).contains_key("password"));
}

#[test]
fn the_default_mapping_sends_the_directory_id_as_external_id() {
    let out = apply(&compile(&default_user_mapping()).unwrap(), &bjensen(), true);
    assert_eq!(out["externalId"], "u-1");
    assert_eq!(out["userName"], "bjensen@example.com");
    assert_eq!(out["active"], true);
    assert!(!out.contains_key("groups"), "groups are read-only at targets");
    assert_eq!(
        out["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]["employeeNumber"],
        "701984"
    );
}

#[test]
fn bad_rules_say_what_is_wrong() {
    let e = MappingRule::parse("displayName", false).unwrap_err();
    assert!(e.contains("TARGET=EXPRESSION"), "{e}");
    let e = MappingRule::parse("displayName=concat(a", false).unwrap_err();
    assert!(e.contains("expected ',' or ')'"), "{e}");
    let e = MappingRule::parse("displayName=frobnicate(a)", false).unwrap_err();
    assert!(e.contains("unknown function 'frobnicate'"), "{e}");
    let e = MappingRule::parse("displayName=lower(a, b)", false).unwrap_err();
    assert!(e.contains("lower() takes 1 arguments, got 2"), "{e}");
    let e = MappingRule::parse("1bad=userName", false).unwrap_err();
    assert!(e.contains("mapping target '1bad'"), "{e}");
    let e = MappingRule::parse(r#"title="unterminated"#, false).unwrap_err();
    assert!(e.contains("unterminated string"), "{e}");
    let deep = format!("title={}x{}", "lower(".repeat(40), ")".repeat(40));
    assert!(
        MappingRule::parse(&deep, false)
            .unwrap_err()
            .contains("32 levels")
    );
}

#[test]
fn equals_signs_inside_filters_and_strings_are_not_the_separator() {
    let r = MappingRule::parse(r#"emails[type eq "a=b"].value=concat("x=", userName)"#, false).unwrap();
    assert_eq!(r.target, r#"emails[type eq "a=b"].value"#);
    assert_eq!(r.source, r#"concat("x=", userName)"#);
}

#[test]
fn mapping_targets_are_checked_against_the_apps_schemas() {
    let registry = roster_scim::SchemaRegistry::new();
    let schemas: Vec<roster_scim::schema::Schema> = [
        USER_SCHEMA,
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
    ]
    .iter()
    .map(|id| registry.schema(id).unwrap().clone())
    .collect();
    let rules = [
        "userName=userName",
        "externalId=id",
        "name.givenName=name.givenName",
        r#"emails[type eq "work"].value=userName"#,
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department=title",
        "nickname2=userName",
        "name.middle=userName",
        "urn:ietf:params:scim:schemas:extension:Adobe:2.0:User:organizationalUnit=title",
    ]
    .map(|r| MappingRule::parse(r, false).unwrap());
    let problems = check_targets(&rules, USER_SCHEMA, &schemas);
    assert_eq!(problems.len(), 3, "{problems:?}");
    assert!(problems[0].contains("no attribute 'nickname2'"));
    assert!(problems[1].contains("no sub-attribute 'middle'"));
    assert!(problems[2].contains("no schema urn:ietf:params:scim:schemas:extension:Adobe:2.0:User"));
}

/// Nested `replace` calls double a value at each level: past the limit the value is null, made or not.
#[test]
fn values_cannot_grow_without_bound() {
    let mut expr = "userName".to_owned();
    for _ in 0..30 {
        expr = format!(r#"replace({expr}, "e", "ee")"#);
    }
    let out = run(&format!("title={expr}"));
    assert!(!out.contains_key("title"), "{out:?}");
    // concat only grows with the expression's own text, which is bounded: 4,096 copies are refused outright.
    let mut concat = "userName".to_owned();
    for _ in 0..12 {
        concat = format!("concat({concat}, {concat})");
    }
    let err = MappingRule::parse(&format!("title={concat}"), false).unwrap_err();
    assert!(err.contains("the limit is 4096"), "{err}");
    assert_eq!(
        run(r#"title=replace(userName, "@example.com", "")"#)["title"],
        "bjensen"
    );
}

fn rule(text: &str) -> MappingRule {
    MappingRule::parse(text, false).unwrap()
}

#[test]
fn map_changes_the_default_mapping_rule_by_rule() {
    let merged = merge_rules(
        default_user_mapping(),
        vec![
            rule(r#"displayName=concat(name.givenName, " ", name.familyName)"#),
            rule("urn:example:params:scim:schemas:extension:crm:2.0:User:team=title"),
        ],
        &["phoneNumbers".to_owned()],
    );
    let targets: Vec<&str> = merged.iter().map(|r| r.target.as_str()).collect();
    // The default's rules stay (userName, emails, active); displayName is replaced where it stood; the new rule
    // comes last; phoneNumbers is gone.
    assert_eq!(
        targets.len(),
        default_user_mapping().len(),
        "one rule added, one removed"
    );
    assert!(targets.contains(&"userName") && targets.contains(&"emails") && targets.contains(&"active"));
    assert!(!targets.contains(&"phoneNumbers"));
    let display = merged.iter().find(|r| r.target == "displayName").unwrap();
    assert!(display.source.starts_with("concat("));
    assert_eq!(targets.iter().position(|t| *t == "displayName"), Some(3));
    assert!(targets.last().unwrap().ends_with(":team"));
    // Targets compare case-insensitively.
    let merged = merge_rules(
        default_user_mapping(),
        vec![rule("USERNAME=lower(userName)")],
        &[],
    );
    assert_eq!(merged.len(), default_user_mapping().len());
    assert_eq!(merged[0].source, "lower(userName)");
}

#[test]
fn sources_the_directory_does_not_have_are_named() {
    let registry = roster_scim::SchemaRegistry::new();
    let users = registry.resource("User").unwrap();
    assert!(check_sources(&default_user_mapping(), &users).is_empty());
    let problems = check_sources(
        &[
            rule("userName=usrName"),
            rule(r#"displayName=concat(name.givenNme, " ", name.familyName)"#),
            rule("title=urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department"),
            rule("nickName=urn:example:nothing:2.0:User:x"),
            rule("externalId=id"),
            rule(r#"active=default(active, true)"#),
            rule("x=groups"),
        ],
        &users,
    );
    assert_eq!(problems.len(), 3, "{problems:?}");
    assert!(
        problems[0].contains("'usrName'") && problems[0].contains("did you mean userName?"),
        "{problems:?}"
    );
    assert!(
        problems[1].contains("no sub-attribute 'givenNme'"),
        "{problems:?}"
    );
    assert!(problems[2].contains("nickName="), "{problems:?}");
}

#[test]
fn attributes_the_app_requires_must_be_mapped() {
    let without = [rule("displayName=displayName")];
    // An app that serves no schemas: RFC 7643's userName.
    assert_eq!(missing_required(&without, USER_SCHEMA, &[]), ["userName"]);
    assert!(missing_required(&default_user_mapping(), USER_SCHEMA, &[]).is_empty());
    // An app whose schema requires more.
    let registry = roster_scim::SchemaRegistry::new();
    let mut core = registry.resource("User").unwrap().core.clone();
    for a in &mut core.attributes {
        if a.name == "displayName" || a.name == "emails" {
            a.required = true;
        }
    }
    let missing = missing_required(
        &[rule("userName=userName"), rule("displayName=displayName")],
        USER_SCHEMA,
        &[core],
    );
    assert_eq!(missing, ["emails"]);
}

#[test]
fn rules_and_mappings_have_a_size_limit() {
    let long = format!("displayName=concat({})", vec!["userName"; 600].join(", "));
    let err = MappingRule::parse(&long, false).unwrap_err();
    assert!(err.contains("the limit is 4096"), "{err}");
    let many: Vec<MappingRule> = (0..=MAX_RULES).map(|i| rule(&format!("title=\"{i}\""))).collect();
    let err = compile(&many).unwrap_err();
    assert!(err.contains("257 rules; the limit is 256"), "{err}");
    assert!(compile(&many[..MAX_RULES]).is_ok());
}

mod properties {
    //! The `mapping` fuzz target's property, in the test suite: any rule text either fails to parse or compile
    //! with a message, or maps a user without panicking and makes no value longer than the limit.
    use super::*;
    use proptest::prelude::*;

    fn longest(v: &Value) -> usize {
        match v {
            Value::String(s) => s.len(),
            Value::Array(a) => a.iter().map(longest).max().unwrap_or(0),
            Value::Object(o) => o.values().map(longest).max().unwrap_or(0),
            _ => 0,
        }
    }

    fn literal() -> impl Strategy<Value = String> {
        prop_oneof![
            any::<String>().prop_map(|s| format!("{s:?}")),
            proptest::sample::select(vec![
                "\"\"",
                "\"e\"",
                "\"ee\"",
                "\"@\"",
                "\"\\\"\"",
                "0",
                "1",
                "-1",
                "3",
                "99999999999",
                "true",
                "null",
                "\"É\"",
                "\"ß\"",
            ])
            .prop_map(str::to_owned),
        ]
    }

    fn attr() -> impl Strategy<Value = String> {
        proptest::sample::select(vec![
            "userName",
            "name.givenName",
            "emails",
            "emails.value",
            "emails[type eq \"work\"].value",
            "groups",
            "groups.display",
            "active",
            "id",
            "nosuch",
            "password",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
        ])
        .prop_map(str::to_owned)
    }

    fn expr() -> impl Strategy<Value = String> {
        let leaf = prop_oneof![attr(), literal()];
        leaf.prop_recursive(5, 64, 4, |inner| {
            // Mostly the right number of arguments, so most calls compile; now and then a wrong one.
            let call = proptest::sample::select(vec![
                ("concat", 1, 4),
                ("join", 2, 4),
                ("lower", 1, 1),
                ("upper", 1, 1),
                ("trim", 1, 1),
                ("split", 3, 3),
                ("substring", 2, 3),
                ("replace", 3, 3),
                ("default", 2, 2),
                ("if", 3, 3),
                ("eq", 2, 2),
                ("present", 1, 1),
                ("not", 1, 1),
                ("nosuch", 0, 2),
                ("concat", 0, 0),
                ("lower", 2, 2),
            ]);
            (
                call,
                proptest::collection::vec(inner, 4),
                any::<prop::sample::Index>(),
            )
                .prop_map(|((f, min, max), args, n)| {
                    let n = min + n.index(max - min + 1);
                    format!("{f}({})", args[..n].join(", "))
                })
        })
    }

    fn rule_text() -> impl Strategy<Value = String> {
        let target = prop_oneof![
            4 => proptest::sample::select(vec![
                "title", "userName", "name.givenName", "emails[type eq \"work\"].value", "displayName",
                "urn:example:params:scim:schemas:extension:crm:2.0:User:team",
            ])
            .prop_map(str::to_owned),
            1 => attr(),
            1 => "[a-zA-Z.\\[\\]\" =]{0,12}",
        ];
        prop_oneof![
            8 => (target, expr()).prop_map(|(t, e)| format!("{t}={e}")),
            // A well-formed rule with a few bytes changed, as a careless edit makes.
            1 => (expr(), any::<prop::sample::Index>(), any::<char>()).prop_map(|(e, at, c)| {
                let mut s = format!("title={e}");
                let i = at.index(s.len() + 1);
                if s.is_char_boundary(i) {
                    s.insert(i, c);
                }
                s
            }),
            1 => any::<String>(),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 4000, ..ProptestConfig::default() })]

        #[test]
        fn any_rule_text_is_refused_with_a_message_or_maps_within_the_limit(
            lines in proptest::collection::vec(rule_text(), 1..3)
        ) {
            let parsed: Result<Vec<MappingRule>, String> =
                lines.iter().map(|l| MappingRule::parse(l, false)).collect();
            let rules = match parsed {
                Ok(r) => r,
                Err(m) => {
                    prop_assert!(!m.is_empty());
                    return Ok(());
                }
            };
            let compiled = match compile(&rules) {
                Ok(c) => c,
                Err(m) => {
                    prop_assert!(!m.is_empty());
                    return Ok(());
                }
            };
            for create in [true, false] {
                let out = Value::Object(apply(&compiled, &bjensen(), create));
                prop_assert!(longest(&out) <= MAX_VALUE_BYTES, "{lines:?}");
            }
        }
    }
}
