//! `roster import`: users and groups from CSV or JSON files into the directory, as an HR export would deliver
//! them. Idempotent: a record updates the resource with the same `externalId`, else the same `userName` (a
//! group's `displayName`), else creates one; an unchanged record writes nothing. A bad record is reported with
//! its line (CSV) or position (JSON) and skipped; the rest is imported. Every write goes through the directory,
//! so the journal carries it to the apps.
//!
//! - CSV: a header of SCIM attribute paths (`userName`, `name.givenName`, `emails[type eq "work"].value`,
//!   `active`, `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department`, …) and one user per row.
//!   An optional `groups` column lists group names separated by `;`: the user is added to them (groups are
//!   created when missing).
//! - JSON: an array of SCIM resources, a ListResponse (`Resources`), or `{"Users": […], "Groups": […]}`. A
//!   resource is a Group when its `schemas` name the Group schema; a Group's `members` may name users by id or by
//!   `userName`.

use crate::mapping;
use roster_scim::{Filter, PatchPath, SchemaRegistry, ValidateOptions};
use roster_store::{ListQuery, Member, MemberChange, ResourceKind, Store, StoreError};
use serde_json::{Map, Value};

/// What an import did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ImportReport {
    /// Resources created.
    pub created: usize,
    /// Resources changed.
    pub updated: usize,
    /// Records identical to what the directory holds.
    pub unchanged: usize,
    /// Memberships added.
    pub memberships: usize,
    /// Records skipped: (where, why).
    pub skipped: Vec<(String, String)>,
}

/// One record to import.
struct Record {
    at: String,
    kind: ResourceKind,
    data: Value,
    groups: Vec<String>,
}

/// Imports a file's text; `name` decides the format (`.csv`, else JSON).
pub async fn import(store: &Store, name: &str, text: &str) -> Result<ImportReport, StoreError> {
    let mut report = ImportReport::default();
    let records = if name.to_ascii_lowercase().ends_with(".csv") {
        parse_csv(text, &mut report)
    } else {
        parse_json(text, &mut report)
    };
    let registry = SchemaRegistry::new();
    let mut memberships: Vec<(String, String)> = Vec::new();
    // Users first, so groups can name them.
    let (users, groups): (Vec<_>, Vec<_>) = records.into_iter().partition(|r| r.kind == ResourceKind::User);
    for r in users.into_iter().chain(groups) {
        match upsert(store, &registry, &r).await {
            Ok((id, outcome)) => {
                match outcome {
                    Upsert::Created => report.created += 1,
                    Upsert::Updated => report.updated += 1,
                    Upsert::Unchanged => report.unchanged += 1,
                }
                memberships.extend(r.groups.iter().map(|g| (g.clone(), id.clone())));
            }
            Err(StoreError::Scim(e)) => report.skipped.push((r.at, e.detail)),
            Err(e) => return Err(e),
        }
    }
    for (group, user) in memberships {
        match add_membership(store, &group, &user).await {
            Ok(true) => report.memberships += 1,
            Ok(false) => {}
            Err(StoreError::Scim(e)) => report.skipped.push((format!("group '{group}'"), e.detail)),
            Err(e) => return Err(e),
        }
    }
    Ok(report)
}

fn parse_csv(text: &str, report: &mut ImportReport) -> Vec<Record> {
    let mut out = Vec::new();
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let headers = match reader.headers() {
        Ok(h) => h.clone(),
        Err(e) => {
            report
                .skipped
                .push(("line 1".into(), format!("the header cannot be read: {e}")));
            return out;
        }
    };
    let mut columns = Vec::new();
    for (i, h) in headers.iter().enumerate() {
        if h.eq_ignore_ascii_case("groups") {
            columns.push(None);
            continue;
        }
        match PatchPath::parse(h) {
            Ok(p) => columns.push(Some(p)),
            Err(e) => {
                report.skipped.push((
                    format!("line 1, column {}", i + 1),
                    format!("'{h}' is not an attribute path: {}", e.detail),
                ));
                return out;
            }
        }
    }
    for row in reader.records() {
        let row = match row {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                report
                    .skipped
                    .push((format!("line {line}"), format!("not valid CSV: {e}")));
                continue;
            }
        };
        let line = row.position().map_or(0, |p| p.line());
        if row.len() != columns.len() {
            report.skipped.push((
                format!("line {line}"),
                format!("{} fields, but the header has {}", row.len(), columns.len()),
            ));
            continue;
        }
        let mut data = Map::new();
        let mut groups = Vec::new();
        for (cell, col) in row.iter().zip(&columns) {
            if cell.is_empty() {
                continue;
            }
            match col {
                Some(path) => mapping::set_path(&mut data, path, Value::String(cell.to_owned())),
                None => groups.extend(
                    cell.split(';')
                        .map(str::trim)
                        .filter(|g| !g.is_empty())
                        .map(str::to_owned),
                ),
            }
        }
        out.push(Record {
            at: format!("line {line}"),
            kind: ResourceKind::User,
            data: Value::Object(data),
            groups,
        });
    }
    out
}

fn parse_json(text: &str, report: &mut ImportReport) -> Vec<Record> {
    let v: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => {
            report
                .skipped
                .push((format!("line {}", e.line()), format!("not valid JSON: {e}")));
            return Vec::new();
        }
    };
    let mut items: Vec<(Option<ResourceKind>, Value)> = Vec::new();
    match v {
        Value::Array(a) => items.extend(a.into_iter().map(|i| (None, i))),
        Value::Object(mut o) => {
            if let Some(Value::Array(r)) = o.remove("Resources") {
                items.extend(r.into_iter().map(|i| (None, i)));
            }
            for (key, kind) in [("Users", ResourceKind::User), ("Groups", ResourceKind::Group)] {
                if let Some(Value::Array(list)) = o.remove(key) {
                    items.extend(list.into_iter().map(|i| (Some(kind), i)));
                }
            }
        }
        _ => report.skipped.push((
            "the file".into(),
            "expected an array of resources or an object with Users/Groups".into(),
        )),
    }
    items
        .into_iter()
        .enumerate()
        .map(|(i, (kind, data))| {
            let is_group = data
                .get("schemas")
                .and_then(Value::as_array)
                .is_some_and(|s| s.iter().any(|u| u.as_str() == Some(mapping::GROUP_SCHEMA)));
            let kind = kind.unwrap_or(if is_group {
                ResourceKind::Group
            } else {
                ResourceKind::User
            });
            Record {
                at: format!("item {}", i + 1),
                kind,
                data,
                groups: Vec::new(),
            }
        })
        .collect()
}

enum Upsert {
    Created,
    Updated,
    Unchanged,
}

/// The id of the resource with this attribute value, if one has it.
async fn find_by(
    store: &Store,
    kind: ResourceKind,
    attr: &str,
    value: Option<&Value>,
) -> Result<Option<String>, StoreError> {
    let Some(v) = value.and_then(Value::as_str) else {
        return Ok(None);
    };
    let f = Filter::eq_str(attr, v)?;
    let q = ListQuery {
        filter: Some(&f),
        limit: 2,
        ..ListQuery::default()
    };
    let page = store.list_resources(kind, &q).await?;
    if page.total > 1 {
        return Err(roster_scim::ScimError::uniqueness(format!(
            "{} resources have {attr} '{v}'; cannot tell which to update",
            page.total
        ))
        .into());
    }
    Ok(page.resources.into_iter().next().map(|r| r.id))
}

async fn upsert(
    store: &Store,
    registry: &SchemaRegistry,
    r: &Record,
) -> Result<(String, Upsert), StoreError> {
    let schema = registry
        .resource(r.kind.as_str())
        .ok_or_else(|| StoreError::Corrupt(format!("no schema for {}", r.kind.as_str())))?;
    let mut data = r.data.clone();
    if r.kind == ResourceKind::Group {
        resolve_member_names(store, &mut data).await?;
    }
    let name_attr = if r.kind == ResourceKind::User {
        "userName"
    } else {
        "displayName"
    };
    let existing = match find_by(store, r.kind, "externalId", data.get("externalId")).await? {
        Some(id) => Some(id),
        None => {
            find_by(
                store,
                r.kind,
                name_attr,
                roster_scim::value::get_ci(&data, name_attr),
            )
            .await?
        }
    };
    let Some(id) = existing else {
        let valid = schema.validate(&data, None, ValidateOptions::default())?;
        let created = store.create_resource(r.kind, valid).await?;
        return Ok((created.id, Upsert::Created));
    };
    let current = store.get_resource(r.kind, &id).await?.ok_or_else(|| {
        roster_scim::ScimError::not_found(format!("{} {id} vanished during the import", r.kind.as_str()))
    })?;
    let mut current_json = current.data.clone();
    current_json.insert("id".into(), Value::String(id.clone()));
    let mut valid = schema.validate(
        &data,
        Some(&Value::Object(current_json)),
        ValidateOptions::default(),
    )?;
    valid.shift_remove("id");
    valid.shift_remove("meta");
    let mut before = current.data;
    before.shift_remove("groups");
    if r.kind == ResourceKind::User {
        valid.shift_remove("groups");
    }
    if normalized(&valid) == normalized(&before) {
        return Ok((id, Upsert::Unchanged));
    }
    store
        .replace_resource(r.kind, &id, valid, Some(current.version))
        .await?;
    Ok((id, Upsert::Updated))
}

/// A resource for comparison: members by their ids only (the store adds `type` and keeps `display`).
fn normalized(data: &Map<String, Value>) -> Map<String, Value> {
    let mut d = data.clone();
    if let Some(Value::Array(ms)) = d.get_mut("members") {
        let mut ids: Vec<Value> = ms.iter().filter_map(|m| m.get("value").cloned()).collect();
        ids.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
        *ms = ids;
    }
    d
}

/// A JSON group's members may name users by `userName` instead of id.
async fn resolve_member_names(store: &Store, data: &mut Value) -> Result<(), StoreError> {
    let Some(members) = data.get_mut("members").and_then(Value::as_array_mut) else {
        return Ok(());
    };
    for m in members {
        let Some(v) = m.get("value").and_then(Value::as_str).map(str::to_owned) else {
            continue;
        };
        if store.get_resource(ResourceKind::User, &v).await?.is_some()
            || store.get_resource(ResourceKind::Group, &v).await?.is_some()
        {
            continue;
        }
        match find_by(
            store,
            ResourceKind::User,
            "userName",
            Some(&Value::String(v.clone())),
        )
        .await?
        {
            Some(id) => m["value"] = Value::String(id),
            None => {
                return Err(roster_scim::ScimError::invalid_value(format!(
                    "member '{v}' is neither an id nor a userName in the directory"
                ))
                .into());
            }
        }
    }
    Ok(())
}

/// Adds a user to a group by name (creating the group when missing). Returns whether the membership is new.
async fn add_membership(store: &Store, group: &str, user_id: &str) -> Result<bool, StoreError> {
    let gid = match store.resolve_group(group).await? {
        Some(id) => id,
        None => {
            let mut data = Map::new();
            data.insert("displayName".into(), Value::String(group.to_owned()));
            store.create_resource(ResourceKind::Group, data).await?.id
        }
    };
    let current = store.get_resource(ResourceKind::Group, &gid).await?;
    let present = current
        .as_ref()
        .and_then(|g| g.data.get("members"))
        .and_then(Value::as_array)
        .is_some_and(|ms| {
            ms.iter()
                .any(|m| m.get("value").and_then(Value::as_str) == Some(user_id))
        });
    if present {
        return Ok(false);
    }
    let m = Member {
        value: user_id.to_owned(),
        kind: Some(ResourceKind::User),
        display: None,
    };
    store.patch_members(&gid, &[MemberChange::Add(m)], None).await?;
    Ok(true)
}
