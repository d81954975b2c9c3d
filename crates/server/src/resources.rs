//! The resource operations behind the SCIM endpoints and `/Bulk`: create, replace, PATCH and delete a resource
//! through schema validation and the store, with `If-Match` preconditions and last-writer-wins retries for
//! unconditional writes. HTTP shapes (routes, headers, projections of answers) belong to the endpoints' module; this one
//! knows requests only as values, so the handlers and Bulk share one path.

use crate::AppState;
use crate::error::ApiError;
use roster_scim::filter::{CompValue, CompareOp, Filter};
use roster_scim::resource::with_id_and_meta;
use roster_scim::{ErrorKind, PatchOp, PatchRequest, ResourceSchema, ScimError};
use roster_store::{Member, MemberChange, Related, ResourceKind, StoredResource, StoredText};
use serde_json::Value;

pub(crate) fn schema_of(state: &AppState, kind: ResourceKind) -> Result<ResourceSchema<'_>, ApiError> {
    state
        .registry
        .resource(kind.as_str())
        .ok_or_else(|| ScimError::new(ErrorKind::Internal, "resource type missing from the registry").into())
}

/// The full representation: attributes, `id`, `meta`, and `$ref`s for members and groups.
pub(crate) fn render(state: &AppState, r: &StoredResource) -> Value {
    render_owned(state, r.clone())
}

/// [`render`] of a resource the caller no longer needs: its attributes are moved into the answer, not copied.
pub(crate) fn render_owned(state: &AppState, r: StoredResource) -> Value {
    let base = &state.config.base_url;
    let meta = r.meta(base);
    let mut data = r.data;
    for (attr, default_ep) in [("members", "Users"), ("groups", "Groups")] {
        if let Some(Value::Array(items)) = data.get_mut(attr) {
            add_refs(base, default_ep, items);
        }
    }
    Value::Object(with_id_and_meta(data, &r.id, &meta))
}

/// Gives each entry of a Group's `members` or a User's `groups` its `$ref`: under `/Groups` for an entry of type
/// Group, else under `default_ep`.
fn add_refs(base: &str, default_ep: &str, items: &mut [Value]) {
    for item in items {
        let ep = if item.get("type").and_then(Value::as_str) == Some("Group") {
            "Groups"
        } else {
            default_ep
        };
        if let Some(id) = item.get("value").and_then(Value::as_str).map(str::to_owned) {
            item["$ref"] = Value::String(format!("{base}/{ep}/{id}"));
        }
    }
}

/// The default representation of a resource read as text (no `attributes` or `excludedAttributes`), written
/// from the stored text without parsing it when the projection would change nothing there
/// (`roster_scim::rendered`); `None` sends the caller the general way. The related entries get their `$ref`s
/// either way.
pub(crate) fn render_default(state: &AppState, t: &mut StoredText) -> Result<Option<Vec<u8>>, ApiError> {
    let base = &state.config.base_url;
    let attr = t.related_attribute();
    add_refs(
        base,
        if attr == "members" { "Users" } else { "Groups" },
        &mut t.related,
    );
    let rs = schema_of(state, t.kind)?;
    Ok(roster_scim::rendered::render_default(
        &rs,
        &t.data,
        &t.id,
        &t.meta(base),
        Some((attr, &t.related)),
    ))
}

pub(crate) async fn load(state: &AppState, kind: ResourceKind, id: &str) -> Result<StoredResource, ApiError> {
    load_with(state, kind, id, Related::Read).await
}

/// A resource, with a Group's `members` or a User's derived `groups` only when `related` says so.
pub(crate) async fn load_with(
    state: &AppState,
    kind: ResourceKind,
    id: &str,
    related: Related,
) -> Result<StoredResource, ApiError> {
    state
        .store
        .get_resource_with(kind, id, related)
        .await?
        .ok_or_else(|| not_found(kind, id))
}

/// [`load_with`], the attributes left as the stored text.
pub(crate) async fn load_text(
    state: &AppState,
    kind: ResourceKind,
    id: &str,
    related: Related,
) -> Result<StoredText, ApiError> {
    state
        .store
        .get_resource_text(kind, id, related)
        .await?
        .ok_or_else(|| not_found(kind, id))
}

fn not_found(kind: ResourceKind, id: &str) -> ApiError {
    ScimError::not_found(format!("{} {id} not found", kind.as_str())).into()
}

/// What a PATCH did.
#[derive(Debug)]
pub(crate) enum Patched {
    /// The resource as it is now.
    Resource(StoredResource),
    /// A group changed in place (a row per member added or removed, or its other attributes written without
    /// touching the member rows): the group's new version. The group was not read back, so the PATCH costs the
    /// same for 20 members and for 200,000.
    InPlace {
        /// The version the change made.
        version: i64,
    },
}

pub(crate) fn tag_versions(raw: &str) -> Option<Option<Vec<i64>>> {
    if raw.trim() == "*" {
        return Some(None);
    }
    let versions = raw
        .split(',')
        .map(|t| {
            t.trim()
                .trim_start_matches("W/")
                .trim_matches('"')
                .parse::<i64>()
                .unwrap_or(-1)
        })
        .collect();
    Some(Some(versions))
}

/// The version a write must find, from an `If-Match` value; 412 when it names none that `current` is.
pub(crate) fn if_match(raw: Option<&str>, current: i64) -> Result<Option<i64>, ApiError> {
    match raw.and_then(tag_versions) {
        None | Some(None) => Ok(Some(current)),
        Some(Some(vs)) if vs.contains(&current) => Ok(Some(current)),
        Some(Some(_)) => Err(ScimError::new(
            ErrorKind::PreconditionFailed,
            format!("If-Match does not match the current version W/\"{current}\"; read the resource again"),
        )
        .into()),
    }
}

pub(crate) async fn do_create(
    state: &AppState,
    kind: ResourceKind,
    body: &Value,
) -> Result<StoredResource, ApiError> {
    let rs = schema_of(state, kind)?;
    let data = rs.validate(body, None, state.config.validate_options())?;
    Ok(state.store.create_resource(kind, data).await?)
}

pub(crate) async fn do_replace(
    state: &AppState,
    kind: ResourceKind,
    id: &str,
    body: &Value,
    if_match_raw: Option<&str>,
) -> Result<StoredResource, ApiError> {
    let rs = schema_of(state, kind)?;
    unconditional_retries(if_match_raw, || async {
        let existing = load(state, kind, id).await?;
        let expected = if_match(if_match_raw, existing.version)?;
        let data = rs.validate(
            body,
            Some(&render(state, &existing)),
            state.config.validate_options(),
        )?;
        Ok(state.store.replace_resource(kind, id, data, expected).await?)
    })
    .await
}

/// How often a write without `If-Match` is applied again after another write changed the resource between its
/// read and its write.
pub(crate) const UNCONDITIONAL_ATTEMPTS: usize = 16;

/// Runs a read-apply-write `attempt`. Each attempt writes only over the version it read, so no update is lost;
/// when another write came in between, a client that sent `If-Match` gets the 412 it asked for, and a client
/// that sent none has its write applied again to the new version (last writer wins), since it set no
/// precondition and identity providers do not retry a 412.
pub(crate) async fn unconditional_retries<T, F, Fut>(
    if_match_raw: Option<&str>,
    mut attempt: F,
) -> Result<T, ApiError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, ApiError>>,
{
    let conditional = matches!(if_match_raw.and_then(tag_versions), Some(Some(_)));
    for _ in 1..UNCONDITIONAL_ATTEMPTS {
        match attempt().await {
            Err(e) if !conditional && e.0.kind == ErrorKind::PreconditionFailed => {}
            done => return done,
        }
    }
    attempt().await.map_err(|e| {
        if !conditional && e.0.kind == ErrorKind::PreconditionFailed {
            ScimError::new(
                ErrorKind::Conflict,
                format!(
                    "the resource changed under each of {UNCONDITIONAL_ATTEMPTS} attempts to apply this request; retry it"
                ),
            )
            .into()
        } else {
            e
        }
    })
}

pub(crate) async fn do_delete(
    state: &AppState,
    kind: ResourceKind,
    id: &str,
    if_match_raw: Option<&str>,
) -> Result<(), ApiError> {
    unconditional_retries(if_match_raw, || async {
        let existing = load(state, kind, id).await?;
        let expected = if_match(if_match_raw, existing.version)?;
        Ok(state.store.delete_resource(kind, id, expected).await?)
    })
    .await
}

/// A PATCH of a group that only adds or removes members, as member row changes (a 100k-member group is not
/// rewritten): `add members [...]`, `remove members [...]` (Entra), `remove members[value eq "id"]`.
pub(crate) fn member_changes(req: &PatchRequest) -> Option<Vec<MemberChange>> {
    let mut out = Vec::new();
    for op in &req.operations {
        let path = op.path.as_ref()?;
        if !path.attr.name.eq_ignore_ascii_case("members")
            || path.attr.uri.is_some()
            || path.attr.sub.is_some()
        {
            return None;
        }
        match (op.op, &path.filter, &path.sub_after_filter, &op.value) {
            (PatchOp::Add, None, None, Some(v)) => {
                for m in v
                    .as_array()
                    .map_or_else(|| std::slice::from_ref(v), Vec::as_slice)
                {
                    // A sub-attribute a member does not have (`displayName`) takes the validating path, which
                    // names it instead of dropping it.
                    if m.as_object()?.keys().any(|k| {
                        !["value", "type", "display", "$ref"]
                            .iter()
                            .any(|s| k.eq_ignore_ascii_case(s))
                    }) {
                        return None;
                    }
                    let value = m.get("value")?.as_str()?.to_owned();
                    let kind = match m.get("type") {
                        None => None,
                        Some(t) => Some(ResourceKind::from_name(t.as_str()?)?),
                    };
                    let display = m.get("display").and_then(Value::as_str).map(str::to_owned);
                    out.push(MemberChange::Add(Member { value, kind, display }));
                }
            }
            (PatchOp::Remove, None, None, Some(v)) => {
                for m in v
                    .as_array()
                    .map_or_else(|| std::slice::from_ref(v), Vec::as_slice)
                {
                    out.push(MemberChange::Remove(m.get("value")?.as_str()?.to_owned()));
                }
            }
            (
                PatchOp::Remove,
                Some(Filter::Compare {
                    path,
                    op: CompareOp::Eq,
                    value: CompValue::Str(id),
                }),
                None,
                _,
            ) if path.uri.is_none() && path.sub.is_none() && path.name.eq_ignore_ascii_case("value") => {
                out.push(MemberChange::Remove(id.clone()));
            }
            _ => return None,
        }
    }
    Some(out)
}

/// Whether a PATCH names a group's `members`: by its path (`members`, `members[value eq "…"]`, the URN-qualified
/// form), or as a key of a path-less operation's value.
fn touches_members(req: &PatchRequest) -> bool {
    let is_members = |name: &str| {
        name.eq_ignore_ascii_case("members")
            || name
                .rsplit_once(':')
                .is_some_and(|(_, last)| last.eq_ignore_ascii_case("members"))
    };
    req.operations.iter().any(|op| match &op.path {
        Some(path) => is_members(&path.attr.name),
        None => op
            .value
            .as_ref()
            .and_then(Value::as_object)
            .is_none_or(|v| v.keys().any(|k| is_members(k))),
    })
}

pub(crate) async fn do_patch(
    state: &AppState,
    kind: ResourceKind,
    id: &str,
    body: &Value,
    if_match_raw: Option<&str>,
) -> Result<Patched, ApiError> {
    let req = PatchRequest::from_json(body)?;
    if kind == ResourceKind::Group
        && let Some(changes) = member_changes(&req)
    {
        let expected = match if_match_raw.and_then(tag_versions) {
            None | Some(None) => None,
            Some(Some(vs)) if vs.len() == 1 => vs.first().copied(),
            Some(Some(_)) => Some(-1),
        };
        let version = state.store.patch_members(id, &changes, expected).await?;
        return Ok(Patched::InPlace { version });
    }
    let rs = schema_of(state, kind)?;
    // A group PATCH that leaves the members alone (a rename) reads and writes the group without its member rows.
    let in_place = kind == ResourceKind::Group && !touches_members(&req);
    let related = if in_place { Related::Skip } else { Related::Read };
    unconditional_retries(if_match_raw, || async {
        let existing = load_with(state, kind, id, related).await?;
        let expected = if_match(if_match_raw, existing.version)?;
        let outcome =
            rs.apply_patch_with(&render(state, &existing), &req, state.config.validate_options())?;
        if !outcome.changed {
            return Ok(if in_place {
                Patched::InPlace {
                    version: existing.version,
                }
            } else {
                Patched::Resource(existing)
            });
        }
        let Value::Object(data) = outcome.resource else {
            return Err(ScimError::new(ErrorKind::Internal, "PATCH produced a non-object").into());
        };
        Ok(if in_place {
            Patched::InPlace {
                version: state.store.replace_attributes(kind, id, data, expected).await?,
            }
        } else {
            Patched::Resource(state.store.replace_resource(kind, id, data, expected).await?)
        })
    })
    .await
}
