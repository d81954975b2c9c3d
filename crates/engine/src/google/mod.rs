//! Google Workspace as a target: the Admin SDK Directory API (users, groups, group members), reached with a
//! service account and domain-wide delegation.
//!
//! The engine speaks SCIM shapes everywhere (mapping, planning, links, the provisioning log), so this module
//! translates at the edge: a SCIM User or Group that the planner wants becomes a Directory API resource, and what
//! Google answers becomes the SCIM view the planner compares with. What Google cannot hold is dropped from the
//! desired state by [`normalize`], so a reconcile never sees drift it could not repair.
//!
//! | SCIM view | Directory API |
//! |---|---|
//! | `userName` | `primaryEmail` |
//! | `name.givenName`, `name.familyName` | `name.givenName`, `name.familyName` |
//! | `active` | `suspended` (negated) |
//! | `externalId` | `externalIds[type=organization]` |
//! | `emails` (`value`, `type`, `primary`) | `emails` (`address`, `type`, `primary`) |
//! | `phoneNumbers` | `phones` |
//! | `title`, enterprise `department`, `costCenter`, `employeeNumber` | `organizations[0]`, `externalIds[type=organization]`… |
//! | `password` | `password` (on create; a random one when none is mapped, as Google requires one) |
//! | [`USER_EXT`]`:orgUnitPath`, `:includeInGlobalAddressList`, `:changePasswordAtNextLogin` | the same fields |
//! | Group `displayName` | `name` |
//! | Group `members[].value` | member ids (`/groups/{id}/members`) |
//! | [`GROUP_EXT`]`:email`, `:description` | `email` (else derived from the name and the app's group domain), `description` |

use crate::codes;
use crate::connector::{Connector, Discovery, TargetError};
use crate::mapping;
use crate::plan::PatchOp;
use base64::Engine as _;
use roster_scim::PatchOp as Op;
use roster_scim::filter::{CompValue, CompareOp, Filter};
use roster_scim::path::PatchPath;
use roster_store::ResourceKind;
use serde_json::{Map, Value, json};

/// The Directory API's base URL.
pub const DEFAULT_URL: &str = "https://admin.googleapis.com/admin/directory/v1";
/// The OAuth2 scopes roster asks for: users, groups and group members.
pub const SCOPES: &str = "https://www.googleapis.com/auth/admin.directory.user \
                          https://www.googleapis.com/auth/admin.directory.group \
                          https://www.googleapis.com/auth/admin.directory.group.member";
/// Google-only user attributes in the SCIM view: `orgUnitPath`, `includeInGlobalAddressList`,
/// `changePasswordAtNextLogin`.
pub const USER_EXT: &str = "urn:roster:params:scim:schemas:extension:google:2.0:User";
/// Google-only group attributes in the SCIM view: `email`, `description`.
pub const GROUP_EXT: &str = "urn:roster:params:scim:schemas:extension:google:2.0:Group";
const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

/// A service account key (the JSON file Google's console downloads). The private key never leaves this struct.
#[derive(Clone)]
pub struct ServiceAccount {
    /// The service account's email (`client_email`).
    pub client_email: String,
    /// Where tokens are requested (`token_uri`).
    pub token_uri: String,
    key: std::sync::Arc<aws_lc_rs::signature::RsaKeyPair>,
}

impl std::fmt::Debug for ServiceAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceAccount")
            .field("client_email", &self.client_email)
            .field("token_uri", &self.token_uri)
            .finish_non_exhaustive()
    }
}

impl ServiceAccount {
    /// Reads a service account key file's text. Errors say what is wrong without quoting the key.
    pub fn from_json(text: &str) -> Result<Self, String> {
        let v: Value = serde_json::from_str(text).map_err(|_| {
            "the credential is not a Google service account key: expected the JSON key file from the Google \
             Cloud console (IAM → Service accounts → Keys → Add key → JSON)"
                .to_owned()
        })?;
        let field = |name: &str| {
            v.get(name)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .ok_or_else(|| format!("the service account key has no '{name}': download a new JSON key"))
        };
        if v.get("type").and_then(Value::as_str) != Some("service_account") {
            return Err(
                "the key file is not of type 'service_account': download the key of a service account, not an \
                 OAuth client"
                    .into(),
            );
        }
        let client_email = field("client_email")?.to_owned();
        let token_uri = v
            .get("token_uri")
            .and_then(Value::as_str)
            .unwrap_or("https://oauth2.googleapis.com/token")
            .to_owned();
        let der = pem_body(field("private_key")?).ok_or(
            "the service account key's private_key is not a PEM private key: download a new JSON key",
        )?;
        let key = aws_lc_rs::signature::RsaKeyPair::from_pkcs8(&der).map_err(
            |_| "the service account key's private_key is not an RSA key: download a new JSON key",
        )?;
        Ok(Self {
            client_email,
            token_uri,
            key: std::sync::Arc::new(key),
        })
    }

    /// A signed JWT (RS256) asking for [`SCOPES`] on behalf of `subject` (domain-wide delegation), valid an hour
    /// from `now` (seconds since the epoch).
    pub fn assertion(&self, subject: &str, now: i64) -> Result<String, String> {
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let header = b64.encode(br#"{"alg":"RS256","typ":"JWT"}"#);
        let claims = json!({
            "iss": self.client_email,
            "sub": subject,
            "scope": SCOPES.split_whitespace().collect::<Vec<_>>().join(" "),
            "aud": self.token_uri,
            "iat": now,
            "exp": now + 3600,
        });
        let signed = format!("{header}.{}", b64.encode(claims.to_string()));
        let mut sig = vec![0; self.key.public_modulus_len()];
        self.key
            .sign(
                &aws_lc_rs::signature::RSA_PKCS1_SHA256,
                &aws_lc_rs::rand::SystemRandom::new(),
                signed.as_bytes(),
                &mut sig,
            )
            .map_err(|_| "cannot sign with the service account key".to_owned())?;
        Ok(format!("{signed}.{}", b64.encode(sig)))
    }
}

/// The DER bytes of a PEM block.
fn pem_body(pem: &str) -> Option<Vec<u8>> {
    let body: String = pem
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("-----"))
        .collect();
    base64::engine::general_purpose::STANDARD.decode(body).ok()
}

/// A Google app's settings besides the key.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct GoogleConfig {
    /// The super admin the service account acts as (domain-wide delegation). This account is protected: roster
    /// never suspends or deletes it (Google answers "Admin cannot suspend self").
    pub admin: String,
    /// The customer id (`my_customer`: the admin's own account).
    #[serde(default = "my_customer")]
    pub customer: String,
    /// The domain of group addresses made from group names (default: the admin's domain).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_domain: Option<String>,
}

fn my_customer() -> String {
    "my_customer".into()
}

impl GoogleConfig {
    /// The domain of derived group addresses.
    pub fn group_domain(&self) -> &str {
        self.group_domain
            .as_deref()
            .unwrap_or_else(|| self.admin.rsplit_once('@').map_or("", |(_, d)| d))
    }
}

fn s(v: Option<&Value>) -> Option<&str> {
    v.and_then(Value::as_str).filter(|s| !s.is_empty())
}

fn ci<'a>(m: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
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
            mapping::USER_SCHEMA,
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

fn path_of(kind: ResourceKind, id: &str) -> String {
    format!("/{}/{}", google_endpoint(kind), crate::connector::encode(id))
}

fn google_endpoint(kind: ResourceKind) -> &'static str {
    match kind {
        ResourceKind::User => "users",
        ResourceKind::Group => "groups",
    }
}

fn bad_body(what: &str, status: u16) -> TargetError {
    TargetError {
        code: &codes::TARGET_BAD_ANSWER,
        status: Some(status),
        message: format!("{what} answered {status} without the Directory API resource it should return"),
        retry_after: None,
        held_back: false,
    }
}

/// An operation the Directory API has no request for: refused by name, never dropped.
fn unsupported(op: &PatchOp) -> TargetError {
    TargetError {
        code: &codes::TARGET_UNSUPPORTED,
        status: None,
        message: format!(
            "not sent: Google's directory has no request for the PATCH operation '{}'{}",
            op.op.as_str(),
            op.path
                .as_ref()
                .map_or_else(|| " without a path".to_owned(), |p| format!(" of '{p}'"))
        ),
        retry_after: None,
        held_back: false,
    }
}

fn refused(message: String) -> TargetError {
    TargetError {
        code: &codes::TARGET_INVALID_VALUE,
        status: None,
        message: format!("not sent: {message}"),
        retry_after: None,
        held_back: false,
    }
}

/// The Directory API side of [`Connector`]: the same operations as SCIM, in Google's resources.
impl Connector {
    fn customer(&self) -> &str {
        self.google().map_or("my_customer", |g| g.customer.as_str())
    }

    fn group_domain(&self) -> &str {
        self.google().map_or("", GoogleConfig::group_domain)
    }

    pub(crate) async fn google_get(
        &self,
        kind: ResourceKind,
        id: &str,
    ) -> Result<Option<Map<String, Value>>, TargetError> {
        let path = path_of(kind, id);
        let body = match self.send(reqwest::Method::GET, &path, &[], None, &[404]).await? {
            (404, _) => return Ok(None),
            (_, Some(Value::Object(o))) => o,
            (s, _) => return Err(bad_body(&format!("GET {path}"), s)),
        };
        Ok(Some(match kind {
            ResourceKind::User => user_from_google(&body),
            ResourceKind::Group => {
                let members = self.group_members(id).await?;
                group_from_google(&body, Some(members))
            }
        }))
    }

    async fn group_members(&self, id: &str) -> Result<Vec<String>, TargetError> {
        let path = format!("{}/members", path_of(ResourceKind::Group, id));
        let mut out = Vec::new();
        let mut token = String::new();
        loop {
            let mut query = vec![("maxResults", "200")];
            if !token.is_empty() {
                query.push(("pageToken", token.as_str()));
            }
            let (_, body) = self.send(reqwest::Method::GET, &path, &query, None, &[]).await?;
            let body = body.unwrap_or(Value::Null);
            out.extend(
                body.get("members")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(|m| s(m.get("id")).map(str::to_owned)),
            );
            match s(body.get("nextPageToken")) {
                Some(t) => token = t.to_owned(),
                None => return Ok(out),
            }
        }
    }

    pub(crate) async fn google_find(
        &self,
        kind: ResourceKind,
        filter: &str,
        limit: u32,
    ) -> Result<Vec<Map<String, Value>>, TargetError> {
        let queries = queries(kind, filter).map_err(|m| TargetError {
            code: &codes::TARGET_FILTER,
            status: None,
            message: m,
            retry_after: None,
            held_back: false,
        })?;
        let path = format!("/{}", google_endpoint(kind));
        let max = limit.clamp(1, 500).to_string();
        let mut out: Vec<Map<String, Value>> = Vec::new();
        for q in queries {
            let query = [
                ("customer", self.customer()),
                ("query", q.as_str()),
                ("maxResults", max.as_str()),
            ];
            let (_, body) = self.send(reqwest::Method::GET, &path, &query, None, &[]).await?;
            let key = google_endpoint(kind);
            for item in body
                .as_ref()
                .and_then(|b| b.get(key))
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_object)
            {
                let view = match kind {
                    ResourceKind::User => user_from_google(item),
                    ResourceKind::Group => group_from_google(item, None),
                };
                if !out.iter().any(|o| o.get("id") == view.get("id")) {
                    out.push(view);
                }
            }
        }
        Ok(out)
    }

    /// A page of users or groups. The Directory API pages with tokens, not offsets: the token for the page that
    /// starts at `start` is remembered from the page before it, so pages must be read in order.
    pub(crate) async fn google_list_page(
        &self,
        kind: ResourceKind,
        start: u64,
        count: u32,
    ) -> Result<(Vec<Map<String, Value>>, u64), TargetError> {
        let path = format!("/{}", google_endpoint(kind));
        let token = if start <= 1 {
            None
        } else {
            let tokens = self.page_tokens().lock().await;
            match tokens.get(&(google_endpoint(kind), start)) {
                Some(t) => Some(t.clone()),
                None => return Ok((Vec::new(), start.saturating_sub(1))),
            }
        };
        let max = count.clamp(1, 500).to_string();
        let mut query = vec![("customer", self.customer()), ("maxResults", max.as_str())];
        if let Some(t) = &token {
            query.push(("pageToken", t.as_str()));
        }
        let (_, body) = self.send(reqwest::Method::GET, &path, &query, None, &[]).await?;
        let body = body.unwrap_or(Value::Null);
        let page: Vec<Map<String, Value>> = body
            .get(google_endpoint(kind))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_object)
            .map(|item| match kind {
                ResourceKind::User => user_from_google(item),
                ResourceKind::Group => group_from_google(item, None),
            })
            .collect();
        let next = start + page.len() as u64;
        let total = match s(body.get("nextPageToken")) {
            Some(t) if !page.is_empty() => {
                self.page_tokens()
                    .lock()
                    .await
                    .insert((google_endpoint(kind), next), t.to_owned());
                next
            }
            _ => next - 1,
        };
        Ok((page, total))
    }

    pub(crate) async fn google_create(
        &self,
        kind: ResourceKind,
        payload: &Map<String, Value>,
    ) -> Result<Map<String, Value>, TargetError> {
        let path = format!("/{}", google_endpoint(kind));
        let body = match kind {
            ResourceKind::User => user_to_google(payload, true).map_err(refused)?,
            ResourceKind::Group => group_to_google(payload, self.group_domain()),
        };
        let created = match self
            .send(reqwest::Method::POST, &path, &[], Some(&Value::Object(body)), &[])
            .await?
        {
            (_, Some(Value::Object(o))) if s(o.get("id")).is_some() => o,
            (st, _) => return Err(bad_body(&format!("POST {path}"), st)),
        };
        Ok(match kind {
            ResourceKind::User => user_from_google(&created),
            ResourceKind::Group => {
                let id = s(created.get("id")).unwrap_or_default().to_owned();
                let mut members = Vec::new();
                for m in member_values(payload.get("members")) {
                    self.add_member(&id, &m).await?;
                    members.push(m);
                }
                group_from_google(&created, Some(members))
            }
        })
    }

    async fn add_member(&self, group: &str, member: &str) -> Result<(), TargetError> {
        let path = format!("{}/members", path_of(ResourceKind::Group, group));
        // 409: the member is already there, which is what roster wanted.
        self.send(
            reqwest::Method::POST,
            &path,
            &[],
            Some(&json!({"id": member, "role": "MEMBER"})),
            &[409],
        )
        .await?;
        Ok(())
    }

    async fn remove_member(&self, group: &str, member: &str) -> Result<(), TargetError> {
        let path = format!(
            "{}/members/{}",
            path_of(ResourceKind::Group, group),
            crate::connector::encode(member)
        );
        // 404: already gone.
        self.send(reqwest::Method::DELETE, &path, &[], None, &[404])
            .await?;
        Ok(())
    }

    pub(crate) async fn google_patch(
        &self,
        kind: ResourceKind,
        id: &str,
        ops: &[PatchOp],
    ) -> Result<(), TargetError> {
        let mut partial = Map::new();
        let mut removed = Vec::new();
        for op in ops {
            let members = op
                .path
                .as_ref()
                .is_some_and(|p| p.attr.uri.is_none() && p.attr.name.eq_ignore_ascii_case("members"));
            match (kind, op.op, &op.path, &op.value) {
                (ResourceKind::Group, Op::Add, Some(p), _) if members && p.filter.is_none() => {
                    for m in member_values(op.value.as_ref()) {
                        self.add_member(id, &m).await?;
                    }
                }
                (ResourceKind::Group, Op::Remove, Some(p), _) if members => match &p.filter {
                    Some(Filter::Compare {
                        path,
                        op: CompareOp::Eq,
                        value: CompValue::Str(v),
                    }) if path.name.eq_ignore_ascii_case("value") => self.remove_member(id, v).await?,
                    _ => return Err(unsupported(op)),
                },
                (_, Op::Remove, Some(p), _) if p.filter.is_none() && !members => removed.push(p.clone()),
                (_, Op::Add | Op::Replace, Some(p), Some(v)) if p.filter.is_none() && !members => {
                    mapping::set_path(&mut partial, p, v.clone());
                }
                _ => return Err(unsupported(op)),
            }
        }
        let mut body = match kind {
            ResourceKind::User => user_to_google(&partial, false).map_err(refused)?,
            ResourceKind::Group => {
                let mut g = group_to_google(&partial, self.group_domain());
                // The address is not derived again on rename: renaming a group keeps its address.
                if ci(&partial, GROUP_EXT).is_none() {
                    g.shift_remove("email");
                }
                g
            }
        };
        for p in removed {
            let (k, v) = cleared(kind, &p).ok_or_else(|| {
                refused(format!(
                    "Google's directory cannot clear '{p}' (it is required, or shares its field with an attribute \
                     roster keeps); map it again, or map it to a value that says it is empty"
                ))
            })?;
            body.insert(k.into(), v);
        }
        if body.is_empty() {
            return Ok(());
        }
        let path = path_of(kind, id);
        self.send(
            reqwest::Method::PATCH,
            &path,
            &[],
            Some(&Value::Object(body)),
            &[],
        )
        .await?;
        Ok(())
    }

    pub(crate) async fn google_replace(
        &self,
        kind: ResourceKind,
        id: &str,
        body: &Map<String, Value>,
    ) -> Result<(), TargetError> {
        // The Directory API takes PATCH, so replace is a patch of every attribute the view holds.
        let mut ops = Vec::new();
        for (k, v) in body {
            if matches!(k.as_str(), "id" | "meta" | "schemas" | "members") {
                continue;
            }
            // Keys are whole attributes; an extension's is its URN, which parses with `name` empty.
            let path = PatchPath::parse(k).map_err(|e| refused(e.detail))?;
            ops.push(PatchOp {
                op: Op::Replace,
                path: Some(path),
                value: Some(v.clone()),
            });
        }
        self.google_patch(kind, id, &ops).await
    }

    pub(crate) async fn google_delete(&self, kind: ResourceKind, id: &str) -> Result<bool, TargetError> {
        let (st, _) = self
            .send(reqwest::Method::DELETE, &path_of(kind, id), &[], None, &[404])
            .await?;
        Ok(st != 404)
    }

    /// Token, users and groups: the three things a Google app needs to work.
    pub(crate) async fn google_discover(&self) -> Result<Discovery, TargetError> {
        for endpoint in ["/users", "/groups"] {
            self.send(
                reqwest::Method::GET,
                endpoint,
                &[("customer", self.customer()), ("maxResults", "1")],
                None,
                &[],
            )
            .await?;
        }
        let definitions = definitions();
        Ok(Discovery {
            config: json!({"patch": {"supported": true}, "connector": "google"}),
            schemas: definitions.iter().map(|d| d.id.clone()).collect(),
            definitions,
            resource_types: vec!["User".into(), "Group".into()],
            patch: true,
        })
    }
}

fn member_values(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|m| s(m.get("value")).map(str::to_owned))
        .collect()
}

/// The Directory API field (and the value that clears it) for a removed SCIM attribute.
fn cleared(kind: ResourceKind, p: &PatchPath) -> Option<(&'static str, Value)> {
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

#[cfg(test)]
mod tests;
