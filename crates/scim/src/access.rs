//! Reading and writing a resource's JSON at an attribute path, without a schema: what a mapping reads from the
//! directory and writes into a target's payload, and what a target client builds its requests from. A path that
//! is only an extension's URN stands for the whole extension object; an attribute of an extension lives in that
//! object; one of a core schema (`urn:…:core:2.0:User:userName`) lives in the resource itself.

use crate::filter::matches_element;
use crate::path::PatchPath;
use crate::schema::{CORE_GROUP, CORE_USER};
use crate::value::get_ci;
use serde_json::{Map, Value};

/// The object a path's attribute lives in: the resource itself, or an extension's object.
fn container<'a>(src: &'a Value, p: &PatchPath) -> Option<&'a Value> {
    match &p.attr.uri {
        Some(uri) if !is_core_uri(uri) => get_ci(src, uri),
        _ => Some(src),
    }
}

/// Whether `uri` is the core User or Group schema (whose attributes live in the resource itself).
pub fn is_core_uri(uri: &str) -> bool {
    uri.eq_ignore_ascii_case(CORE_USER) || uri.eq_ignore_ascii_case(CORE_GROUP)
}

/// The schema URN when a path is a whole extension (`urn:…:enterprise:2.0:User`): the attribute parser reads
/// its last segment as an attribute name, but a URN whose part before that ends in a version (`2.0`) is a schema.
pub fn whole_extension(p: &PatchPath) -> Option<String> {
    let uri = p.attr.uri.as_deref()?;
    if p.attr.name.is_empty() {
        return Some(uri.to_owned());
    }
    let last = uri.rsplit(':').next()?;
    let versioned = !last.is_empty() && last.chars().all(|c| c.is_ascii_digit() || c == '.');
    (versioned && p.attr.sub.is_none() && p.filter.is_none()).then(|| format!("{uri}:{}", p.attr.name))
}

/// Reads a source attribute. A path that is only an extension URN gives the whole extension object.
pub fn get_path(src: &Value, p: &PatchPath) -> Value {
    if let Some(urn) = whole_extension(p) {
        return get_ci(src, &urn).cloned().unwrap_or(Value::Null);
    }
    let Some(v) = container(src, p).and_then(|c| get_ci(c, &p.attr.name)) else {
        return Value::Null;
    };
    let sub = p.attr.sub.as_deref().or(p.sub_after_filter.as_deref());
    match (v, &p.filter) {
        (Value::Array(items), Some(f)) => {
            let Some(item) = items.iter().find(|i| matches_element(f, i, None)) else {
                return Value::Null;
            };
            sub.map_or_else(
                || item.clone(),
                |s| get_ci(item, s).cloned().unwrap_or(Value::Null),
            )
        }
        (Value::Array(items), None) => match sub {
            None => v.clone(),
            // A sub-attribute of a multi-valued attribute: the primary's, else the first's.
            Some(s) => items
                .iter()
                .find(|i| get_ci(i, "primary").is_some_and(|p| p == &Value::Bool(true)))
                .or_else(|| items.first())
                .and_then(|i| get_ci(i, s))
                .cloned()
                .unwrap_or(Value::Null),
        },
        (_, Some(_)) => Value::Null,
        (v, None) => sub.map_or_else(|| v.clone(), |s| get_ci(v, s).cloned().unwrap_or(Value::Null)),
    }
}

/// Writes `value` at a target path inside `out`.
pub fn set_path(out: &mut Map<String, Value>, p: &PatchPath, value: Value) {
    if let Some(urn) = whole_extension(p) {
        out.insert(urn, value);
        return;
    }
    let obj = match &p.attr.uri {
        Some(uri) if !is_core_uri(uri) => {
            let slot = out
                .entry(uri.clone())
                .or_insert_with(|| Value::Object(Map::new()));
            if !slot.is_object() {
                *slot = Value::Object(Map::new());
            }
            match slot.as_object_mut() {
                Some(o) => o,
                None => return,
            }
        }
        _ => out,
    };
    let name = p.attr.name.clone();
    match (&p.filter, p.attr.sub.as_deref()) {
        (None, None) => {
            obj.insert(name, value);
        }
        (None, Some(sub)) => {
            let slot = obj.entry(name).or_insert_with(|| Value::Object(Map::new()));
            if let Some(o) = slot.as_object_mut() {
                o.insert(sub.to_owned(), value);
            }
        }
        (Some(filter), _) => {
            let slot = obj.entry(name).or_insert_with(|| Value::Array(Vec::new()));
            if !slot.is_array() {
                *slot = Value::Array(Vec::new());
            }
            let Some(items) = slot.as_array_mut() else { return };
            let idx = match items.iter().position(|i| matches_element(filter, i, None)) {
                Some(i) => i,
                None => {
                    let Some(element) = filter.described_element() else {
                        return;
                    };
                    items.push(Value::Object(element));
                    items.len() - 1
                }
            };
            match (&p.sub_after_filter, items.get_mut(idx)) {
                (Some(sub), Some(Value::Object(o))) => {
                    o.insert(sub.clone(), value);
                }
                (None, Some(slot)) => *slot = value,
                _ => {}
            }
        }
    }
}
