//! The translation between the SCIM view the engine speaks and the Directory API's resources (the table in
//! [`super`]'s documentation), and what Google can search, hold and clear. Pure functions: no request here.

use super::{ENTERPRISE, GROUP_EXT, GoogleConfig, USER_EXT};
use base64::Engine as _;
use roster_scim::ResourceKind;
use roster_scim::filter::{CompValue, CompareOp, Filter};
use roster_scim::path::PatchPath;
use serde_json::{Map, Value, json};

pub(crate) fn s(v: Option<&Value>) -> Option<&str> {
    v.and_then(Value::as_str).filter(|s| !s.is_empty())
}

pub(crate) fn ci<'a>(m: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    roster_scim::value::find_key(m, key).and_then(|k| m.get(&k))
}

/// The SCIM view of a user as a Directory API user. `create` adds what Google needs only on insert (a random
/// password when none is mapped). A `userName` that is not an email address is refused before anything is sent:
/// Google would answer "Invalid Input: primary_user_email".
pub fn user_to_google(scim: &Map<String, Value>, create: bool) -> Result<Map<String, Value>, String> {
    let mut g = Map::new();
    if let Some(u) = s(ci(scim, "userName")) {
        if !is_email(u) {
            return Err(format!(
                "userName '{u}' is not an email address; a Google Workspace account is named by its primary \
                 email (map userName to an address in one of the account's domains)"
            ));
        }
        g.insert("primaryEmail".into(), json!(u));
    } else if create {
        return Err("the user has no userName; Google needs a primary email to create an account".into());
    }
    if let Some(Value::Object(n)) = ci(scim, "name") {
        let mut name = Map::new();
        for k in ["givenName", "familyName"] {
            if let Some(v) = s(ci(n, k)) {
                name.insert(k.into(), json!(v));
            }
        }
        g.insert("name".into(), Value::Object(name));
    }
    if let Some(a) = ci(scim, "active") {
        let active = lenient_bool(a).unwrap_or(true);
        g.insert("suspended".into(), json!(!active));
    }
    if let Some(v) = ci(scim, "externalId") {
        g.insert(
            "externalIds".into(),
            match s(Some(v)) {
                Some(id) => json!([{"type": "organization", "value": id}]),
                None => json!([]),
            },
        );
    }
    if let Some(v) = ci(scim, "emails") {
        let list: Vec<Value> = v
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| {
                let address = s(e.get("value"))?;
                let mut out = json!({"address": address});
                typed(&mut out, s(e.get("type")), &["work", "home", "other"]);
                if e.get("primary") == Some(&Value::Bool(true)) {
                    out["primary"] = json!(true);
                }
                Some(out)
            })
            .collect();
        g.insert("emails".into(), Value::Array(list));
    }
    if let Some(v) = ci(scim, "phoneNumbers") {
        let list: Vec<Value> = v
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| {
                let value = s(p.get("value"))?;
                let mut out = json!({"value": value});
                typed(&mut out, s(p.get("type")), &["work", "home", "mobile", "other"]);
                if p.get("primary") == Some(&Value::Bool(true)) {
                    out["primary"] = json!(true);
                }
                Some(out)
            })
            .collect();
        g.insert("phones".into(), Value::Array(list));
    }
    let enterprise = ci(scim, ENTERPRISE).and_then(Value::as_object);
    let title = ci(scim, "title");
    let department = enterprise.and_then(|e| ci(e, "department"));
    let cost_center = enterprise.and_then(|e| ci(e, "costCenter"));
    if title.is_some() || department.is_some() || cost_center.is_some() {
        let mut org = Map::new();
        for (k, v) in [
            ("title", title),
            ("department", department),
            ("costCenter", cost_center),
        ] {
            if let Some(v) = s(v) {
                org.insert(k.into(), json!(v));
            }
        }
        let orgs = if org.is_empty() {
            json!([])
        } else {
            org.insert("primary".into(), json!(true));
            json!([org])
        };
        g.insert("organizations".into(), orgs);
    }
    if let Some(n) = enterprise.and_then(|e| s(ci(e, "employeeNumber"))) {
        let ids = g.entry("externalIds").or_insert_with(|| json!([]));
        if let Some(a) = ids.as_array_mut() {
            a.push(json!({"type": "custom", "customType": "employeeNumber", "value": n}));
        }
    }
    if let Some(ext) = ci(scim, USER_EXT).and_then(Value::as_object) {
        if let Some(ou) = ci(ext, "orgUnitPath") {
            g.insert("orgUnitPath".into(), json!(s(Some(ou)).unwrap_or("/")));
        }
        for k in ["includeInGlobalAddressList", "changePasswordAtNextLogin"] {
            if let Some(b) = ci(ext, k).and_then(lenient_bool) {
                g.insert(k.into(), json!(b));
            }
        }
    }
    match s(ci(scim, "password")) {
        Some(p) => {
            g.insert("password".into(), json!(p));
        }
        None if create => {
            g.insert("password".into(), json!(random_password()?));
        }
        None => {}
    }
    Ok(g)
}

fn lenient_bool(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::String(t) => roster_scim::value::parse_bool(t),
        _ => None,
    }
}

fn typed(out: &mut Value, t: Option<&str>, known: &[&str]) {
    match t {
        Some(t) if known.contains(&t) => out["type"] = json!(t),
        Some(t) => {
            out["type"] = json!("custom");
            out["customType"] = json!(t);
        }
        None => {}
    }
}

fn untyped(g: &Value) -> Option<String> {
    match s(g.get("type")) {
        Some("custom") => s(g.get("customType")).map(str::to_owned),
        t => t.map(str::to_owned),
    }
}

fn is_email(v: &str) -> bool {
    let Some((local, domain)) = v.rsplit_once('@') else {
        return false;
    };
    !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !v.chars().any(char::is_whitespace)
}

/// 24 random characters: Google requires a password on insert; people sign in through the identity provider.
fn random_password() -> Result<String, String> {
    let mut bytes = [0_u8; 18];
    getrandom::fill(&mut bytes)
        .map_err(|e| format!("no random source for the account's initial password: {e}"))?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

/// A Directory API user as the SCIM view the planner compares with.
pub fn user_from_google(g: &Map<String, Value>) -> Map<String, Value> {
    let mut out = Map::new();
    if let Some(id) = s(g.get("id")) {
        out.insert("id".into(), json!(id));
    }
    if let Some(e) = s(g.get("primaryEmail")) {
        out.insert("userName".into(), json!(e));
    }
    if let Some(Value::Object(n)) = g.get("name") {
        let mut name = Map::new();
        for k in ["givenName", "familyName"] {
            if let Some(v) = s(n.get(k)) {
                name.insert(k.into(), json!(v));
            }
        }
        if let Some(f) = s(n.get("fullName")) {
            name.insert("formatted".into(), json!(f));
        }
        out.insert("name".into(), Value::Object(name));
    }
    out.insert(
        "active".into(),
        json!(g.get("suspended").and_then(Value::as_bool) != Some(true)),
    );
    let ids = g.get("externalIds").and_then(Value::as_array);
    let external = |t: &str| {
        ids.into_iter()
            .flatten()
            .find(|i| untyped(i).as_deref() == Some(t))
            .and_then(|i| s(i.get("value")))
    };
    if let Some(id) = external("organization") {
        out.insert("externalId".into(), json!(id));
    }
    if let Some(list) = g.get("emails").and_then(Value::as_array) {
        let emails: Vec<Value> = list
            .iter()
            .filter_map(|e| {
                let mut v = json!({"value": s(e.get("address"))?});
                if let Some(t) = untyped(e) {
                    v["type"] = json!(t);
                }
                if e.get("primary") == Some(&Value::Bool(true)) {
                    v["primary"] = json!(true);
                }
                Some(v)
            })
            .collect();
        out.insert("emails".into(), Value::Array(emails));
    }
    if let Some(list) = g.get("phones").and_then(Value::as_array) {
        let phones: Vec<Value> = list
            .iter()
            .filter_map(|p| {
                let mut v = json!({"value": s(p.get("value"))?});
                if let Some(t) = untyped(p) {
                    v["type"] = json!(t);
                }
                if p.get("primary") == Some(&Value::Bool(true)) {
                    v["primary"] = json!(true);
                }
                Some(v)
            })
            .collect();
        out.insert("phoneNumbers".into(), Value::Array(phones));
    }
    let org = g.get("organizations").and_then(Value::as_array).and_then(|o| {
        o.iter()
            .find(|x| x.get("primary") == Some(&Value::Bool(true)))
            .or_else(|| o.first())
    });
    let mut enterprise = Map::new();
    if let Some(org) = org {
        if let Some(t) = s(org.get("title")) {
            out.insert("title".into(), json!(t));
        }
        for k in ["department", "costCenter"] {
            if let Some(v) = s(org.get(k)) {
                enterprise.insert(k.into(), json!(v));
            }
        }
    }
    if let Some(n) = external("employeeNumber") {
        enterprise.insert("employeeNumber".into(), json!(n));
    }
    if !enterprise.is_empty() {
        out.insert(ENTERPRISE.into(), Value::Object(enterprise));
    }
    let mut ext = Map::new();
    if let Some(ou) = s(g.get("orgUnitPath")) {
        ext.insert("orgUnitPath".into(), json!(ou));
    }
    if let Some(b) = g.get("includeInGlobalAddressList").and_then(Value::as_bool) {
        ext.insert("includeInGlobalAddressList".into(), json!(b));
    }
    if !ext.is_empty() {
        out.insert(USER_EXT.into(), Value::Object(ext));
    }
    out
}

/// The SCIM view of a group as a Directory API group (members are separate requests).
pub fn group_to_google(scim: &Map<String, Value>, group_domain: &str) -> Map<String, Value> {
    let mut g = Map::new();
    let ext = ci(scim, GROUP_EXT).and_then(Value::as_object);
    let name = s(ci(scim, "displayName"));
    if let Some(n) = name {
        g.insert("name".into(), json!(n));
    }
    match ext.and_then(|e| s(ci(e, "email"))) {
        Some(e) => {
            g.insert("email".into(), json!(e));
        }
        None => {
            if let Some(n) = name {
                g.insert("email".into(), json!(group_address(n, group_domain)));
            }
        }
    }
    if let Some(d) = ext.and_then(|e| ci(e, "description")) {
        g.insert("description".into(), json!(s(Some(d)).unwrap_or("")));
    }
    g
}

/// A group address made from its name: lower case, letters and digits kept, anything else a hyphen.
pub fn group_address(name: &str, domain: &str) -> String {
    let mut local = String::new();
    for c in name.trim().to_lowercase().chars() {
        if c.is_ascii_alphanumeric() || c == '.' || c == '_' {
            local.push(c);
        } else if !local.ends_with('-') {
            local.push('-');
        }
    }
    let local = local.trim_matches(['-', '.']);
    format!("{}@{domain}", if local.is_empty() { "group" } else { local })
}

/// A Directory API group and its member ids as the SCIM view.
pub fn group_from_google(g: &Map<String, Value>, members: Option<Vec<String>>) -> Map<String, Value> {
    let mut out = Map::new();
    for (from, to) in [("id", "id"), ("name", "displayName")] {
        if let Some(v) = s(g.get(from)) {
            out.insert(to.into(), json!(v));
        }
    }
    let mut ext = Map::new();
    if let Some(e) = s(g.get("email")) {
        ext.insert("email".into(), json!(e));
    }
    if let Some(d) = s(g.get("description")) {
        ext.insert("description".into(), json!(d));
    }
    if !ext.is_empty() {
        out.insert(GROUP_EXT.into(), Value::Object(ext));
    }
    if let Some(mut m) = members {
        m.sort();
        out.insert(
            "members".into(),
            Value::Array(m.into_iter().map(|v| json!({"value": v})).collect()),
        );
    }
    out
}

/// The desired SCIM view reduced to what Google holds and reads back: a round trip through the translation,
/// without write-only values. The planner then compares like with like.
pub fn normalize(kind: ResourceKind, desired: Map<String, Value>, cfg: &GoogleConfig) -> Map<String, Value> {
    match kind {
        ResourceKind::User => {
            let Ok(mut g) = user_to_google(&desired, false) else {
                // Left as it is: the create or update reports the problem with its code.
                return desired;
            };
            g.shift_remove("password");
            g.shift_remove("changePasswordAtNextLogin");
            let mut out = user_from_google(&g);
            if ci(&desired, "active").is_none() {
                out.shift_remove("active");
            }
            out
        }
        ResourceKind::Group => {
            let mut out = group_from_google(&group_to_google(&desired, cfg.group_domain()), None);
            if let Some(m) = desired.get("members") {
                out.insert("members".into(), m.clone());
            }
            out
        }
    }
}

/// One Directory API search per term of a matching filter (`a eq "x" or b eq "y"`): `userName` and
/// `emails.value` search every address of an account (aliases included), `externalId` the external ids, a
/// group's `displayName` its name. Terms Google cannot search are left out; no term at all is an error.
pub fn queries(kind: ResourceKind, filter: &str) -> Result<Vec<String>, String> {
    let f = roster_scim::filter::parse(filter).map_err(|e| e.detail)?;
    let mut terms = Vec::new();
    fn collect<'a>(f: &'a Filter, out: &mut Vec<&'a Filter>) {
        match f {
            Filter::Or(terms) => terms.iter().for_each(|t| collect(t, out)),
            other => out.push(other),
        }
    }
    collect(&f, &mut terms);
    let quote = |v: &str| format!("'{}'", v.replace('\\', "\\\\").replace('\'', "\\'"));
    let mut out = Vec::new();
    for t in terms {
        let Filter::Compare {
            path,
            op: CompareOp::Eq,
            value: CompValue::Str(v),
        } = t
        else {
            continue;
        };
        let name = path.name.to_lowercase();
        let sub = path.sub.as_deref().map(str::to_lowercase);
        let field = match (kind, name.as_str(), sub.as_deref()) {
            (ResourceKind::User, "username", None) | (ResourceKind::User, "emails", Some("value")) => "email",
            (ResourceKind::User, "externalid", None) => "externalId",
            (ResourceKind::Group, "displayname", None) => "name",
            (ResourceKind::Group, "email", None) => "email",
            _ => continue,
        };
        out.push(format!("{field}:{}", quote(v)));
    }
    if out.is_empty() {
        return Err(format!("Google's directory cannot be searched by '{filter}'"));
    }
    Ok(out)
}

/// The schemas a Google app holds, for checking mappings: the core User attributes Google keeps, the
/// enterprise attributes it keeps, and roster's Google extensions.
pub fn definitions() -> Vec<roster_scim::schema::Schema> {
    let registry = roster_scim::schema::SchemaRegistry::new();
    let keep = |urn: &str, names: &[&str]| {
        let schema = registry.schema(urn)?;
        let mut v = serde_json::to_value(schema).ok()?;
        if let Some(attrs) = v.get_mut("attributes").and_then(Value::as_array_mut) {
            attrs.retain(|a| {
                a.get("name")
                    .and_then(Value::as_str)
                    .is_some_and(|n| names.iter().any(|k| k.eq_ignore_ascii_case(n)))
            });
        }
        roster_scim::schema::Schema::from_json(&v).ok()
    };
    let ext = |id: &str, attrs: Value| {
        roster_scim::schema::Schema::from_json(&json!({
            "id": id,
            "name": "Google",
            "description": "Google Workspace attributes roster maps",
            "attributes": attrs,
        }))
        .ok()
    };
    let attr = |name: &str, ty: &str| {
        json!({"name": name, "type": ty, "multiValued": false, "required": false, "caseExact": false,
               "mutability": "readWrite", "returned": "default", "uniqueness": "none"})
    };
    [
        keep(
            roster_scim::schema::CORE_USER,
            &[
                "userName",
                "name",
                "active",
                "emails",
                "phoneNumbers",
                "title",
                "password",
            ],
        ),
        keep(ENTERPRISE, &["department", "costCenter", "employeeNumber"]),
        ext(
            USER_EXT,
            json!([
                attr("orgUnitPath", "string"),
                attr("includeInGlobalAddressList", "boolean"),
                attr("changePasswordAtNextLogin", "boolean")
            ]),
        ),
        ext(
            GROUP_EXT,
            json!([attr("email", "string"), attr("description", "string")]),
        ),
    ]
    .into_iter()
    .flatten()
    .collect()
}

pub(crate) fn member_values(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|m| s(m.get("value")).map(str::to_owned))
        .collect()
}

/// The Directory API field (and the value that clears it) for a removed SCIM attribute.
pub(crate) fn cleared(kind: ResourceKind, p: &PatchPath) -> Option<(&'static str, Value)> {
    let name = p.attr.name.to_lowercase();
    let uri = p.attr.uri.as_deref().unwrap_or_default();
    Some(match (kind, uri, name.as_str()) {
        (ResourceKind::User, _, "externalid") => ("externalIds", json!([])),
        (ResourceKind::User, _, "emails") => ("emails", json!([])),
        (ResourceKind::User, _, "phonenumbers") => ("phones", json!([])),
        (ResourceKind::User, _, "title" | "department" | "costcenter") => ("organizations", json!([])),
        (ResourceKind::User, u, "orgunitpath") if u == USER_EXT => ("orgUnitPath", json!("/")),
        // Google's defaults for an account that never set them.
        (ResourceKind::User, u, "includeinglobaladdresslist") if u == USER_EXT => {
            ("includeInGlobalAddressList", json!(true))
        }
        (ResourceKind::User, u, "changepasswordatnextlogin") if u == USER_EXT => {
            ("changePasswordAtNextLogin", json!(false))
        }
        (ResourceKind::Group, u, "description") if u == GROUP_EXT => ("description", json!("")),
        _ => return None,
    })
}
