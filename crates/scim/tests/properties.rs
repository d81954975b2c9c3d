//! Property tests: the filter printer and parser are inverse on every AST, evaluation obeys the boolean laws,
//! and a PATCH that succeeds leaves a canonical resource in which what it wrote can be read back.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed unwrap is a failed test

use proptest::prelude::*;
use roster_scim::schema::{CORE_USER, ENTERPRISE_USER};
use roster_scim::{
    AttrPath, CompValue, CompareOp, Filter, PatchRequest, SchemaRegistry, ValidateOptions, filter,
};
use serde_json::{Value, json};

fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("userName".to_owned()),
        Just("emails".to_owned()),
        Just("$ref".to_owned()),
        "[a-zA-Z][a-zA-Z0-9_-]{0,8}",
    ]
}

fn attr_path(allow_uri: bool) -> impl Strategy<Value = AttrPath> {
    let uri = if allow_uri {
        prop_oneof![
            3 => Just(None),
            1 => Just(Some(CORE_USER.to_owned())),
            1 => Just(Some(ENTERPRISE_USER.to_owned())),
        ]
        .boxed()
    } else {
        Just(None).boxed()
    };
    (uri, name(), proptest::option::of(name())).prop_map(|(uri, name, sub)| AttrPath { uri, name, sub })
}

fn comp_value() -> impl Strategy<Value = CompValue> {
    prop_oneof![
        Just(CompValue::Null),
        any::<bool>().prop_map(CompValue::Bool),
        any::<i64>().prop_map(|i| CompValue::Number(i.into())),
        any::<f64>()
            .prop_filter_map("finite", serde_json::Number::from_f64)
            .prop_map(CompValue::Number),
        any::<String>().prop_map(CompValue::Str),
    ]
}

fn op() -> impl Strategy<Value = CompareOp> {
    proptest::sample::select(CompareOp::ALL.to_vec())
}

fn leaf(allow_uri: bool) -> impl Strategy<Value = Filter> {
    prop_oneof![
        (attr_path(allow_uri), op(), comp_value()).prop_map(|(path, op, value)| Filter::Compare {
            path,
            op,
            value
        }),
        attr_path(allow_uri).prop_map(Filter::Present),
    ]
}

fn combine(inner: impl Strategy<Value = Filter> + Clone) -> impl Strategy<Value = Filter> {
    prop_oneof![
        proptest::collection::vec(inner.clone(), 2..4).prop_map(Filter::And),
        proptest::collection::vec(inner.clone(), 2..4).prop_map(Filter::Or),
        inner.prop_map(|a| Filter::Not(Box::new(a))),
    ]
}

/// A value filter's inside: no nested value paths (RFC 7644 valFilter).
fn val_filter() -> impl Strategy<Value = Filter> {
    leaf(false).prop_recursive(3, 12, 2, combine)
}

fn any_filter() -> impl Strategy<Value = Filter> {
    let value_path = (
        attr_path(true).prop_map(|p| AttrPath { sub: None, ..p }),
        val_filter(),
    )
        .prop_map(|(attr, f)| Filter::ValuePath {
            attr,
            filter: Box::new(f),
        });
    prop_oneof![3 => leaf(true), 1 => value_path].prop_recursive(4, 24, 2, combine)
}

fn sample_users() -> Vec<Value> {
    vec![
        json!({"userName": "bjensen", "title": "Guide", "active": true, "emails": [{"value": "b@example.com", "type": "work"}]}),
        json!({"userName": "X", "active": false, "emails": [], ENTERPRISE_USER: {"department": "Ops"}}),
        json!({}),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn print_then_parse_is_identity(f in any_filter()) {
        let printed = f.to_string();
        let back = filter::parse(&printed).map_err(|e| TestCaseError::fail(format!("{printed}: {e}")))?;
        prop_assert_eq!(back, f, "{}", printed);
    }

    #[test]
    fn evaluation_obeys_boolean_laws(a in any_filter(), b in any_filter()) {
        for u in sample_users() {
            let m = |f: &Filter| filter::matches(f, &u, None);
            let not_a = Filter::Not(Box::new(a.clone()));
            prop_assert_eq!(m(&not_a), !m(&a));
            let and = Filter::And(vec![a.clone(), b.clone()]);
            let or = Filter::Or(vec![a.clone(), b.clone()]);
            prop_assert_eq!(m(&and), m(&a) && m(&b));
            prop_assert_eq!(m(&or), m(&a) || m(&b));
        }
    }

    #[test]
    fn ne_is_the_negation_of_eq(path in attr_path(true), value in comp_value()) {
        for u in sample_users() {
            let eq = Filter::Compare { path: path.clone(), op: CompareOp::Eq, value: value.clone() };
            let ne = Filter::Compare { path: path.clone(), op: CompareOp::Ne, value: value.clone() };
            prop_assert_eq!(filter::matches(&ne, &u, None), !filter::matches(&eq, &u, None));
        }
    }
}

const SIMPLE: [&str; 6] = [
    "title",
    "nickName",
    "displayName",
    "userType",
    "locale",
    "name.givenName",
];

fn patch_op() -> impl Strategy<Value = Value> {
    let word = "[a-z]{1,8}";
    prop_oneof![
        (proptest::sample::select(SIMPLE.to_vec()), word, prop_oneof![Just("add"), Just("Replace")])
            .prop_map(|(p, v, op)| json!({"op": op, "path": p, "value": v})),
        proptest::sample::select(SIMPLE.to_vec()).prop_map(|p| json!({"op": "remove", "path": p})),
        (word, proptest::sample::select(vec!["work", "home", "other"]))
            .prop_map(|(v, t)| json!({"op": "add", "path": format!("emails[type eq \"{t}\"].value"), "value": format!("{v}@example.com")})),
        (word, any::<bool>())
            .prop_map(|(v, p)| json!({"op": "add", "path": "emails", "value": [{"value": format!("{v}@x.org"), "type": "other", "primary": p}]})),
        any::<bool>().prop_map(|b| json!({"op": "replace", "path": "active", "value": if b { "True" } else { "False" }})),
        word.prop_map(|v| json!({"op": "add", "path": format!("{ENTERPRISE_USER}:department"), "value": v})),
        proptest::sample::select(vec!["work", "home", "other"])
            .prop_map(|t| json!({"op": "remove", "path": format!("emails[type eq \"{t}\"]")})),
    ]
}

/// What reading the resource back must show after `op` succeeded: `(filter, expected)`.
fn read_back(op: &Value) -> Option<(String, bool)> {
    let path = op["path"].as_str()?;
    let kind = op["op"].as_str()?.to_ascii_lowercase();
    if path.starts_with("emails") {
        return match (kind.as_str(), path.contains('[')) {
            ("remove", true) => Some((
                path.split('[')
                    .nth(1)?
                    .trim_end_matches(']')
                    .replace("type", "emails.type"),
                false,
            )),
            ("add", true) => Some((format!("emails.value eq {}", op["value"]), true)),
            _ => None,
        };
    }
    let value = match op["value"].as_str() {
        Some("True") => "true".to_owned(),
        Some("False") => "false".to_owned(),
        Some(s) => format!("{s:?}"),
        None => String::new(),
    };
    Some(match kind.as_str() {
        "remove" => (format!("{path} pr"), false),
        _ => (format!("{path} eq {value}"), true),
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    /// PATCH then GET: the result is canonical (validating it again changes nothing), has at most one primary
    /// email, and shows what each operation wrote when the operation is the last to touch that attribute.
    #[test]
    fn patch_then_read_is_consistent(ops in proptest::collection::vec(patch_op(), 1..6)) {
        let reg = SchemaRegistry::new();
        let users = reg.resource("User").unwrap();
        let base = Value::Object(users.validate(&json!({"userName": "bjensen", "emails": [
            {"value": "b@example.com", "type": "work", "primary": true}]}), None, ValidateOptions::default()).unwrap());
        let req = PatchRequest::from_json(&json!({"Operations": ops})).unwrap();
        let Ok(out) = users.apply_patch(&base, &req) else { return Ok(()) };
        let again = users.validate(&out.resource, Some(&out.resource), ValidateOptions::default()).unwrap();
        prop_assert_eq!(&Value::Object(again), &out.resource);
        let primaries = out.resource["emails"].as_array().map_or(0, |a| a.iter().filter(|e| e["primary"] == true).count());
        prop_assert!(primaries <= 1);
        let last = ops.last().unwrap();
        if let Some((text, want)) = read_back(last) {
            let f = filter::parse(&text).unwrap();
            prop_assert_eq!(filter::matches(&f, &out.resource, Some(&users)), want, "{} after {}", text, last);
        }
    }
}
