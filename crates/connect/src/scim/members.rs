//! A large group in requests a target accepts. A create that carries every member of a 200,000-member group is
//! a body of about 10 MB, over what SCIM servers take (roster's own default is 1 MiB; a 413 then fails the
//! group at every retry). So a group goes out with at most [`PER_REQUEST`] member values in a request: a create
//! with the first ones, then `add` PATCHes with the rest; a PATCH whose operations name more member values is
//! sent as several PATCHes, in order, each with at most that many. Splitting keeps the meaning: a `replace` of
//! `members` becomes a `replace` with the first values and `add`s with the rest; operations stay in their order.

use roster_scim::{AttrPath, PatchOp, PatchOperation, PatchPath};
use serde_json::{Map, Value};

/// The most member values one request carries: about 50 KB of body.
pub(crate) const PER_REQUEST: usize = 1000;

/// Whether an operation's path is a group's `members` (with or without a value filter).
fn on_members(op: &PatchOperation) -> bool {
    op.path.as_ref().is_some_and(|p| {
        p.attr.sub.is_none() && p.sub_after_filter.is_none() && p.attr.name.eq_ignore_ascii_case("members")
    })
}

/// `add` of these member values.
fn add(values: Vec<Value>) -> PatchOperation {
    PatchOperation {
        op: PatchOp::Add,
        path: Some(PatchPath {
            attr: AttrPath::new("members"),
            filter: None,
            sub_after_filter: None,
        }),
        value: Some(Value::Array(values)),
    }
}

/// PATCH requests, each a list of operations sent together.
pub(crate) type Requests = Vec<Vec<PatchOperation>>;

/// A create body with at most [`PER_REQUEST`] members, and the members it leaves for `add` PATCHes after it (in
/// pieces of at most that many). `None` when the body is small enough as it is.
pub(crate) fn split_create(payload: &Map<String, Value>) -> Option<(Map<String, Value>, Requests)> {
    let members = payload.get("members")?.as_array()?;
    if members.len() <= PER_REQUEST {
        return None;
    }
    let mut first = payload.clone();
    first.insert("members".into(), Value::Array(members[..PER_REQUEST].to_vec()));
    let rest = members[PER_REQUEST..]
        .chunks(PER_REQUEST)
        .map(|chunk| vec![add(chunk.to_vec())])
        .collect();
    Some((first, rest))
}

/// PATCH operations as requests of at most [`PER_REQUEST`] member values each (an operation on anything else,
/// or a member `remove` by filter, counts as one), in their order.
pub(crate) fn split_patch(ops: &[PatchOperation]) -> Requests {
    // Each operation as pieces that carry at most PER_REQUEST values.
    let mut pieces: Vec<(PatchOperation, usize)> = Vec::new();
    for op in ops {
        match (&op.value, on_members(op) && op.op != PatchOp::Remove) {
            (Some(Value::Array(values)), true) if values.len() > PER_REQUEST => {
                for (i, chunk) in values.chunks(PER_REQUEST).enumerate() {
                    let piece = if i == 0 {
                        PatchOperation {
                            op: op.op,
                            path: op.path.clone(),
                            value: Some(Value::Array(chunk.to_vec())),
                        }
                    } else {
                        add(chunk.to_vec())
                    };
                    pieces.push((piece, chunk.len()));
                }
            }
            (Some(Value::Array(values)), true) => pieces.push((op.clone(), values.len().max(1))),
            _ => pieces.push((op.clone(), 1)),
        }
    }
    let mut requests: Requests = Vec::new();
    let mut load = 0;
    for (piece, weight) in pieces {
        match requests.last_mut() {
            Some(last) if load + weight <= PER_REQUEST => last.push(piece),
            _ => {
                requests.push(vec![piece]);
                load = 0;
            }
        }
        load += weight;
    }
    requests
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    fn members(from: usize, to: usize) -> Vec<Value> {
        (from..to).map(|i| json!({"value": format!("u{i}")})).collect()
    }

    fn values(ops: &[PatchOperation]) -> Vec<Value> {
        ops.iter()
            .filter_map(|o| o.value.as_ref().and_then(Value::as_array))
            .flatten()
            .cloned()
            .collect()
    }

    #[test]
    fn a_large_group_is_created_with_a_piece_and_the_rest_is_added_in_pieces() {
        let mut payload = Map::new();
        payload.insert("displayName".into(), json!("All"));
        payload.insert("members".into(), Value::Array(members(0, 2_500)));
        let (first, rest) = split_create(&payload).unwrap();
        assert_eq!(first["displayName"], "All");
        assert_eq!(first["members"].as_array().unwrap().len(), PER_REQUEST);
        assert_eq!(rest.len(), 2);
        assert!(
            rest.iter()
                .all(|r| r.len() == 1 && r[0].op == PatchOp::Add && on_members(&r[0]))
        );
        let mut all = first["members"].as_array().unwrap().clone();
        all.extend(rest.iter().flat_map(|r| values(r)));
        assert_eq!(all, members(0, 2_500), "every member once, in order");

        payload.insert("members".into(), Value::Array(members(0, PER_REQUEST)));
        assert!(
            split_create(&payload).is_none(),
            "a group within the limit goes as it is"
        );
    }

    #[test]
    fn patches_are_cut_at_the_member_limit_and_keep_their_order_and_meaning() {
        let remove = |i: usize| {
            let p = PatchPath::parse(&format!(r#"members[value eq "u{i}"]"#)).unwrap();
            PatchOperation {
                op: PatchOp::Remove,
                path: Some(p),
                value: None,
            }
        };
        let title = PatchOperation {
            op: PatchOp::Replace,
            path: Some(PatchPath::parse("displayName").unwrap()),
            value: Some(json!("Everyone")),
        };
        let replace = PatchOperation {
            op: PatchOp::Replace,
            path: Some(PatchPath::parse("members").unwrap()),
            value: Some(Value::Array(members(0, 2_001))),
        };
        let mut ops = vec![title.clone(), replace];
        ops.extend((5_000..5_003).map(remove));
        let requests = split_patch(&ops);
        assert!(requests.iter().all(|r| {
            r.iter()
                .map(|o| o.value.as_ref().and_then(Value::as_array).map_or(1, Vec::len))
                .sum::<usize>()
                <= PER_REQUEST
        }));
        let flat: Vec<&PatchOperation> = requests.iter().flatten().collect();
        assert_eq!(flat[0], &title);
        // The replace keeps its first piece a replace; the rest are adds, then the removes in order.
        assert_eq!(flat[1].op, PatchOp::Replace);
        assert!(flat[2..flat.len() - 3].iter().all(|o| o.op == PatchOp::Add));
        assert_eq!(
            flat[flat.len() - 3..]
                .iter()
                .map(|o| (*o).clone())
                .collect::<Vec<_>>(),
            (5_000..5_003).map(remove).collect::<Vec<_>>()
        );
        let carried: Vec<Value> = values(&flat.iter().skip(1).map(|o| (*o).clone()).collect::<Vec<_>>());
        assert_eq!(carried, members(0, 2_001));
        // Small patches go as one request.
        assert_eq!(split_patch(std::slice::from_ref(&title)), vec![vec![title]]);
        // 2,500 member removes by filter: three requests.
        let removes: Vec<PatchOperation> = (0..2_500).map(remove).collect();
        assert_eq!(split_patch(&removes).len(), 3);
    }
}
