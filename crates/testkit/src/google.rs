//! A Google Workspace Directory API stand-in: users, groups and group members under `/admin/directory/v1`, and
//! an OAuth2 token endpoint that checks a service account's signed JWT (RS256) the way Google does. It answers
//! with Google's error bodies (`{"error": {"code", "message", "errors": [{"reason"}]}}`) for the conditions that
//! cause them — an address held by another account, alias or group, an unknown org unit, a primary email that is
//! not an address, the domain's user limit, suspending the admin itself, revoked delegation — and it can answer
//! any request with a chosen error ([`Fault`]), so every error of seed 000 can be reproduced.
//!
//! Longer than the project's ~800-line guide on purpose: it is a whole stand-in for another system's API, dev-only,
//! and its parts (state, token check, error bodies, faults) are only read together.

use crate::faults::{Fault, FaultKind, Seen, TestClock};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine as _;
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

/// The path of the API under the stand-in's address.
pub const BASE: &str = "/admin/directory/v1";

#[derive(Default)]
struct Data {
    users: BTreeMap<String, Map<String, Value>>,
    groups: BTreeMap<String, Map<String, Value>>,
    members: HashMap<String, BTreeSet<String>>,
    /// Addresses held by something that is not a user of this API (an alias of another account, a group in
    /// another product, a conflicting consumer account).
    reserved: BTreeSet<String>,
    org_units: BTreeSet<String>,
    user_limit: Option<usize>,
    tokens: BTreeSet<String>,
    /// When set, the token endpoint refuses every assertion with this status and body.
    token_refusal: Option<(u16, Value)>,
    faults: Vec<Fault>,
    seen: Vec<Seen>,
    next_id: u64,
}

struct Shared {
    data: Mutex<Data>,
    admin: String,
    client_email: String,
    token_url: String,
    public_key: Vec<u8>,
    clock: TestClock,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Data> {
        self.data
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// A running stand-in.
pub struct GoogleTarget {
    /// The API base URL to give roster (`--google-url`).
    pub url: String,
    shared: Arc<Shared>,
    key_json: String,
    task: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for GoogleTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GoogleTarget")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

/// Google's error body.
pub fn error_body(status: u16, reason: &str, message: &str) -> String {
    json!({"error": {"code": status, "message": message,
        "errors": [{"domain": "global", "reason": reason, "message": message}]}})
    .to_string()
}

fn error(status: u16, reason: &str, message: &str) -> Response {
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (
        code,
        [("content-type", "application/json")],
        error_body(status, reason, message),
    )
        .into_response()
}

impl GoogleTarget {
    /// Starts a stand-in for the domain of `admin` (a super admin account that exists from the start);
    /// requests are stamped with `clock`.
    pub async fn spawn(admin: &str, clock: TestClock) -> Self {
        let key = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
        use aws_lc_rs::encoding::AsDer as _;
        use aws_lc_rs::signature::KeyPair as _;
        let der = key.as_der().unwrap();
        let b64 = base64::engine::general_purpose::STANDARD.encode(der.as_ref());
        let lines: Vec<&str> = b64
            .as_bytes()
            .chunks(64)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect();
        let pem = format!(
            "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
            lines.join("\n")
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let client_email = "roster@roster-test.iam.gserviceaccount.com".to_owned();
        let token_url = format!("http://{addr}/token");
        let mut data = Data {
            next_id: 100_000_000_000_000_000,
            ..Data::default()
        };
        data.org_units.insert("/".into());
        let shared = Arc::new(Shared {
            data: Mutex::new(data),
            admin: admin.to_owned(),
            client_email: client_email.clone(),
            token_url: token_url.clone(),
            public_key: key.public_key().as_ref().to_vec(),
            clock,
        });
        let admin_user = shared.insert_user(json!({
            "primaryEmail": admin, "name": {"givenName": "Super", "familyName": "Admin"}, "isAdmin": true,
        }));
        assert!(admin_user.is_ok());
        let key_json = json!({
            "type": "service_account",
            "project_id": "roster-test",
            "private_key_id": "0123456789abcdef",
            "private_key": pem,
            "client_email": client_email,
            "client_id": "123456789012345678901",
            "token_uri": token_url,
        })
        .to_string();
        let app = Router::new()
            .route("/token", post(token))
            .route(&format!("{BASE}/users"), get(list_users).post(create_user))
            .route(
                &format!("{BASE}/users/{{key}}"),
                get(get_user)
                    .patch(patch_user)
                    .put(patch_user)
                    .delete(delete_user),
            )
            .route(&format!("{BASE}/groups"), get(list_groups).post(create_group))
            .route(
                &format!("{BASE}/groups/{{key}}"),
                get(get_group)
                    .patch(patch_group)
                    .put(patch_group)
                    .delete(delete_group),
            )
            .route(
                &format!("{BASE}/groups/{{key}}/members"),
                get(list_members).post(add_member),
            )
            .route(
                &format!("{BASE}/groups/{{key}}/members/{{member}}"),
                axum::routing::delete(remove_member),
            )
            .layer(axum::middleware::from_fn_with_state(shared.clone(), gate))
            .with_state(shared.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            url: format!("http://{addr}{BASE}"),
            shared,
            key_json,
            task,
        }
    }

    /// The service account key file's text (give it to `roster app add --google-key-file`).
    pub fn key_json(&self) -> &str {
        &self.key_json
    }

    /// The service account's email.
    pub fn client_email(&self) -> &str {
        &self.shared.client_email
    }

    /// Adds an org unit (`/` exists from the start).
    pub fn add_org_unit(&self, path: &str) {
        self.shared.lock().org_units.insert(path.to_owned());
    }

    /// Makes `address` taken by something that is not a user (an alias of another account, say).
    pub fn reserve_address(&self, address: &str) {
        self.shared.lock().reserved.insert(address.to_lowercase());
    }

    /// Caps the number of users (the domain's user limit; `None`: no cap).
    pub fn set_user_limit(&self, limit: Option<usize>) {
        self.shared.lock().user_limit = limit;
    }

    /// Makes the token endpoint refuse every assertion with `status` and an OAuth2 error (`None`: accept).
    pub fn refuse_tokens(&self, refusal: Option<(u16, &str, &str)>) {
        let mut d = self.shared.lock();
        d.token_refusal = refusal.map(|(s, e, desc)| (s, json!({"error": e, "error_description": desc})));
        if d.token_refusal.is_some() {
            d.tokens.clear();
        }
    }

    /// Adds a fault: requests whose method matches and whose path after the API base starts with
    /// `fault.path` are answered with its status and body.
    pub fn add_fault(&self, fault: Fault) {
        self.shared.lock().faults.push(fault);
    }

    /// Removes every fault.
    pub fn clear_faults(&self) {
        self.shared.lock().faults.clear();
    }

    /// Every request seen so far (paths after the API base, with the query; `/token` for tokens).
    pub fn seen(&self) -> Vec<Seen> {
        self.shared.lock().seen.clone()
    }

    /// Creates a user directly (an account that existed before roster), returning it as stored.
    pub fn add_user(&self, user: Value) -> Map<String, Value> {
        self.shared.insert_user(user).unwrap()
    }

    /// Every user, by id.
    pub fn users(&self) -> Vec<Map<String, Value>> {
        self.shared.lock().users.values().cloned().collect()
    }

    /// The user with this primary email.
    pub fn user(&self, email: &str) -> Option<Map<String, Value>> {
        let d = self.shared.lock();
        find(&d.users, "primaryEmail", email).and_then(|id| d.users.get(&id).cloned())
    }

    /// Deletes a user directly (an admin deleting an account in the console).
    pub fn delete_user(&self, email: &str) {
        let mut d = self.shared.lock();
        if let Some(id) = find(&d.users, "primaryEmail", email) {
            d.users.remove(&id);
        }
    }

    /// Every group.
    pub fn groups(&self) -> Vec<Map<String, Value>> {
        self.shared.lock().groups.values().cloned().collect()
    }

    /// The primary emails of a group's members.
    pub fn member_emails(&self, group_id: &str) -> Vec<String> {
        let d = self.shared.lock();
        let mut out: Vec<String> = d
            .members
            .get(group_id)
            .into_iter()
            .flatten()
            .filter_map(|m| {
                d.users
                    .get(m)
                    .or_else(|| d.groups.get(m))
                    .and_then(|u| u.get("primaryEmail").or_else(|| u.get("email")))
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            })
            .collect();
        out.sort();
        out
    }

    /// Stops the stand-in.
    pub fn stop(self) {
        self.task.abort();
    }
}

fn find(map: &BTreeMap<String, Map<String, Value>>, field: &str, key: &str) -> Option<String> {
    if map.contains_key(key) {
        return Some(key.to_owned());
    }
    let key = key.to_lowercase();
    map.iter()
        .find(|(_, v)| {
            v.get(field)
                .and_then(Value::as_str)
                .is_some_and(|e| e.to_lowercase() == key)
        })
        .map(|(id, _)| id.clone())
}

fn is_email(v: &str) -> bool {
    v.rsplit_once('@')
        .is_some_and(|(l, d)| !l.is_empty() && d.contains('.'))
}

impl Shared {
    /// Whether an address is held by a user (primary or secondary), a group or something reserved.
    fn taken(d: &Data, address: &str, except: Option<&str>) -> bool {
        let a = address.to_lowercase();
        let holds = |v: &Map<String, Value>| {
            ["primaryEmail", "email"].iter().any(|f| {
                v.get(*f)
                    .and_then(Value::as_str)
                    .is_some_and(|e| e.to_lowercase() == a)
            })
        };
        d.reserved.contains(&a)
            || d.users
                .iter()
                .any(|(id, u)| Some(id.as_str()) != except && holds(u))
            || d.groups
                .iter()
                .any(|(id, g)| Some(id.as_str()) != except && holds(g))
    }

    fn insert_user(&self, user: Value) -> Result<Map<String, Value>, Box<Response>> {
        let Value::Object(mut u) = user else {
            return Err(Box::new(error(400, "invalid", "Invalid Input")));
        };
        let email = u
            .get("primaryEmail")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        if !is_email(&email) {
            return Err(Box::new(error(
                400,
                "invalid",
                "Invalid Input: primary_user_email",
            )));
        }
        for part in ["givenName", "familyName"] {
            if u.get("name")
                .and_then(|n| n.get(part))
                .and_then(Value::as_str)
                .is_none_or(str::is_empty)
            {
                let which = if part == "givenName" {
                    "GivenName"
                } else {
                    "FamilyName"
                };
                return Err(Box::new(error(
                    400,
                    "invalid",
                    &format!("Invalid Given/Family Name: {which}"),
                )));
            }
        }
        let mut d = self.lock();
        if Self::taken(&d, &email, None) {
            return Err(Box::new(error(409, "duplicate", "Entity already exists.")));
        }
        let ou = u
            .get("orgUnitPath")
            .and_then(Value::as_str)
            .unwrap_or("/")
            .to_owned();
        if !d.org_units.contains(&ou) {
            return Err(Box::new(error(400, "invalid", "Invalid Input: INVALID_OU_ID")));
        }
        if d.user_limit.is_some_and(|l| d.users.len() >= l) {
            return Err(Box::new(error(
                412,
                "limitExceeded",
                "Domain user limit reached.",
            )));
        }
        d.next_id += 1;
        let id = d.next_id.to_string();
        u.remove("password");
        u.remove("changePasswordAtNextLogin");
        u.insert("id".into(), json!(id));
        u.insert("kind".into(), json!("admin#directory#user"));
        u.insert("orgUnitPath".into(), json!(ou));
        u.entry("suspended").or_insert(json!(false));
        u.entry("isAdmin").or_insert(json!(false));
        primary_in_emails(&mut u);
        d.users.insert(id, u.clone());
        Ok(u)
    }
}

/// Google lists the primary address among `emails`.
fn primary_in_emails(u: &mut Map<String, Value>) {
    let Some(primary) = u
        .get("primaryEmail")
        .and_then(Value::as_str)
        .map(str::to_lowercase)
    else {
        return;
    };
    let emails = u.entry("emails").or_insert(json!([]));
    if let Some(list) = emails.as_array_mut() {
        let has = list.iter().any(|e| {
            e.get("address")
                .and_then(Value::as_str)
                .is_some_and(|a| a.to_lowercase() == primary)
        });
        if !has {
            list.push(json!({"address": primary, "primary": true}));
        }
    }
}

/// Records the request, answers a matching fault, and checks the bearer token.
async fn gate(
    State(sh): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let path = uri.path().strip_prefix(BASE).unwrap_or(uri.path()).to_owned();
    let full = match uri.query() {
        Some(q) => format!("{path}?{q}"),
        None => path.clone(),
    };
    let fault = {
        let mut d = sh.lock();
        let hit = d.faults.iter().position(|f| {
            f.times > 0 && f.method.is_none_or(|m| m == method.as_str()) && path.starts_with(&f.path)
        });
        let answer = hit.and_then(|i| {
            d.faults[i].times -= 1;
            match &d.faults[i].kind {
                FaultKind::Status {
                    status,
                    body,
                    retry_after,
                } => Some((*status, body.clone(), retry_after.clone())),
                _ => None,
            }
        });
        d.seen.push(Seen {
            method: method.to_string(),
            path: full,
            at: (sh.clock)(),
            fault: answer.as_ref().map(|(s, _, _)| s.to_string()),
            retry_after: answer
                .as_ref()
                .and_then(|(_, _, r)| r.as_deref()?.trim().parse::<i64>().ok())
                .map(|s| s * 1_000_000),
        });
        answer
    };
    if let Some((status, body, retry_after)) = fault {
        let mut r = (
            StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            [("content-type", "application/json")],
            body,
        )
            .into_response();
        if let Some(ra) = retry_after {
            r.headers_mut().insert("retry-after", ra.parse().unwrap());
        }
        return r;
    }
    if path != "/token" {
        let token = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        if !token.is_some_and(|t| sh.lock().tokens.contains(t)) {
            return error(401, "authError", "Invalid Credentials");
        }
    }
    next.run(req).await
}

async fn token(
    State(sh): State<Arc<Shared>>,
    axum::Form(form): axum::Form<HashMap<String, String>>,
) -> Response {
    let refuse = |status: u16, e: &str, desc: &str| {
        (
            StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
            Json(json!({"error": e, "error_description": desc})),
        )
            .into_response()
    };
    if let Some((status, body)) = sh.lock().token_refusal.clone() {
        return (
            StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
            Json(body),
        )
            .into_response();
    }
    if form.get("grant_type").map(String::as_str) != Some("urn:ietf:params:oauth:grant-type:jwt-bearer") {
        return refuse(400, "unsupported_grant_type", "Invalid grant_type");
    }
    let Some(jwt) = form.get("assertion") else {
        return refuse(400, "invalid_request", "Missing required parameter: assertion");
    };
    let parts: Vec<&str> = jwt.split('.').collect();
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let (Some(header), Some(claims), Some(sig)) = (
        parts.first().and_then(|p| b64.decode(p).ok()),
        parts.get(1).and_then(|p| b64.decode(p).ok()),
        parts.get(2).and_then(|p| b64.decode(p).ok()),
    ) else {
        return refuse(
            400,
            "invalid_grant",
            "Invalid JWT: Token must be a short-lived token",
        );
    };
    let header: Value = serde_json::from_slice(&header).unwrap_or(Value::Null);
    if header.get("alg").and_then(Value::as_str) != Some("RS256") {
        return refuse(400, "invalid_grant", "Invalid JWT Signature.");
    }
    let key = aws_lc_rs::signature::UnparsedPublicKey::new(
        &aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA256,
        &sh.public_key,
    );
    let signed = format!("{}.{}", parts[0], parts[1]);
    if key.verify(signed.as_bytes(), &sig).is_err() {
        return refuse(400, "invalid_grant", "Invalid JWT Signature.");
    }
    let claims: Value = serde_json::from_slice(&claims).unwrap_or(Value::Null);
    let claim = |k: &str| claims.get(k).and_then(Value::as_str).unwrap_or("");
    let now = (sh.clock)() / 1_000_000;
    let (iat, exp) = (
        claims.get("iat").and_then(Value::as_i64).unwrap_or(0),
        claims.get("exp").and_then(Value::as_i64).unwrap_or(0),
    );
    if claim("iss") != sh.client_email || claim("aud") != sh.token_url || exp <= now || exp - iat > 3600 {
        return refuse(
            400,
            "invalid_grant",
            "Invalid JWT: Token must be a short-lived token and in a reasonable timeframe",
        );
    }
    if !claim("sub").eq_ignore_ascii_case(&sh.admin) {
        return refuse(400, "invalid_grant", "Invalid email or User ID");
    }
    let scopes: BTreeSet<&str> = claim("scope").split_whitespace().collect();
    let needed = [
        "https://www.googleapis.com/auth/admin.directory.user",
        "https://www.googleapis.com/auth/admin.directory.group",
        "https://www.googleapis.com/auth/admin.directory.group.member",
    ];
    if !needed.iter().all(|s| scopes.contains(s)) {
        return refuse(
            401,
            "unauthorized_client",
            "Client is unauthorized to retrieve access tokens using this method, or client not authorized for any of the scopes requested.",
        );
    }
    let mut d = sh.lock();
    d.next_id += 1;
    let t = format!("ya29.test-{}", d.next_id);
    d.tokens.insert(t.clone());
    Json(json!({"access_token": t, "expires_in": 3599, "token_type": "Bearer"})).into_response()
}

/// `email:'x'`, `externalId:'x'`, `name:'x'`: the field and the unquoted value.
fn parse_query(q: &str) -> Option<(&str, String)> {
    let (field, value) = q.split_once(':')?;
    let v = value.trim().trim_start_matches('\'').trim_end_matches('\'');
    Some((field.trim(), v.replace("\\'", "'").replace("\\\\", "\\")))
}

fn page(items: Vec<Map<String, Value>>, key: &str, q: &HashMap<String, String>) -> Response {
    let max: usize = q
        .get("maxResults")
        .and_then(|m| m.parse().ok())
        .unwrap_or(100)
        .clamp(1, 500);
    let from: usize = q.get("pageToken").and_then(|t| t.parse().ok()).unwrap_or(0);
    let slice: Vec<Value> = items
        .iter()
        .skip(from)
        .take(max)
        .cloned()
        .map(Value::Object)
        .collect();
    let mut body = json!({"kind": "admin#directory#list", key: slice});
    if from + max < items.len() {
        body["nextPageToken"] = json!((from + max).to_string());
    }
    Json(body).into_response()
}

fn check_customer(q: &HashMap<String, String>) -> Option<Response> {
    (!q.contains_key("customer") && !q.contains_key("domain"))
        .then(|| error(400, "badRequest", "Bad Request"))
}

async fn list_users(State(sh): State<Arc<Shared>>, Query(q): Query<HashMap<String, String>>) -> Response {
    if let Some(r) = check_customer(&q) {
        return r;
    }
    let d = sh.lock();
    let filter = q.get("query").and_then(|s| parse_query(s));
    let items: Vec<Map<String, Value>> = d
        .users
        .values()
        .filter(|u| match &filter {
            None => true,
            Some(("email", v)) => {
                let v = v.to_lowercase();
                u.get("primaryEmail")
                    .and_then(Value::as_str)
                    .is_some_and(|e| e.to_lowercase() == v)
                    || u.get("emails")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                        .any(|e| {
                            e.get("address")
                                .and_then(Value::as_str)
                                .is_some_and(|a| a.to_lowercase() == v)
                        })
            }
            Some(("externalId", v)) => u
                .get("externalIds")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .any(|e| e.get("value").and_then(Value::as_str) == Some(v.as_str())),
            Some(_) => false,
        })
        .cloned()
        .collect();
    page(items, "users", &q)
}

async fn create_user(State(sh): State<Arc<Shared>>, Json(body): Json<Value>) -> Response {
    if body
        .get("password")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        return error(400, "required", "Invalid Password");
    }
    match sh.insert_user(body) {
        Ok(u) => Json(Value::Object(u)).into_response(),
        Err(r) => *r,
    }
}

async fn get_user(State(sh): State<Arc<Shared>>, Path(key): Path<String>) -> Response {
    let d = sh.lock();
    match find(&d.users, "primaryEmail", &key).and_then(|id| d.users.get(&id)) {
        Some(u) => Json(Value::Object(u.clone())).into_response(),
        None => error(404, "notFound", "Resource Not Found: userKey"),
    }
}

async fn patch_user(
    State(sh): State<Arc<Shared>>,
    Path(key): Path<String>,
    Json(body): Json<Value>,
) -> Response {
    let Value::Object(body) = body else {
        return error(400, "invalid", "Invalid Input");
    };
    let mut d = sh.lock();
    let Some(id) = find(&d.users, "primaryEmail", &key) else {
        return error(404, "notFound", "Resource Not Found: userKey");
    };
    let is_admin = d.users[&id]
        .get("primaryEmail")
        .and_then(Value::as_str)
        .is_some_and(|e| e.eq_ignore_ascii_case(&sh.admin));
    if is_admin && body.get("suspended") == Some(&Value::Bool(true)) {
        return error(400, "badRequest", "Admin cannot suspend self");
    }
    if let Some(ou) = body.get("orgUnitPath").and_then(Value::as_str)
        && !d.org_units.contains(ou)
    {
        return error(400, "invalid", "Invalid Input: INVALID_OU_ID");
    }
    if let Some(e) = body.get("primaryEmail").and_then(Value::as_str) {
        if !is_email(e) {
            return error(400, "invalid", "Invalid Input: primary_user_email");
        }
        if Shared::taken(&d, e, Some(&id)) {
            return error(409, "duplicate", "Entity already exists.");
        }
    }
    let Some(u) = d.users.get_mut(&id) else {
        return error(404, "notFound", "Resource Not Found: userKey");
    };
    for (k, v) in body {
        if !matches!(
            k.as_str(),
            "id" | "password" | "changePasswordAtNextLogin" | "kind"
        ) {
            u.insert(k, v);
        }
    }
    primary_in_emails(u);
    Json(Value::Object(u.clone())).into_response()
}

async fn delete_user(State(sh): State<Arc<Shared>>, Path(key): Path<String>) -> Response {
    let mut d = sh.lock();
    let Some(id) = find(&d.users, "primaryEmail", &key) else {
        return error(404, "notFound", "Resource Not Found: userKey");
    };
    if d.users[&id]
        .get("primaryEmail")
        .and_then(Value::as_str)
        .is_some_and(|e| e.eq_ignore_ascii_case(&sh.admin))
    {
        return error(400, "badRequest", "Admin cannot delete self");
    }
    d.users.remove(&id);
    for m in d.members.values_mut() {
        m.remove(&id);
    }
    StatusCode::NO_CONTENT.into_response()
}

async fn list_groups(State(sh): State<Arc<Shared>>, Query(q): Query<HashMap<String, String>>) -> Response {
    if let Some(r) = check_customer(&q) {
        return r;
    }
    let d = sh.lock();
    let filter = q.get("query").and_then(|s| parse_query(s));
    let items: Vec<Map<String, Value>> = d
        .groups
        .values()
        .filter(|g| match &filter {
            None => true,
            Some((field @ ("email" | "name"), v)) => g
                .get(*field)
                .and_then(Value::as_str)
                .is_some_and(|x| x.eq_ignore_ascii_case(v)),
            Some(_) => false,
        })
        .cloned()
        .collect();
    page(items, "groups", &q)
}

async fn create_group(State(sh): State<Arc<Shared>>, Json(body): Json<Value>) -> Response {
    let Value::Object(mut g) = body else {
        return error(400, "invalid", "Invalid Input");
    };
    let Some(email) = g.get("email").and_then(Value::as_str).map(str::to_owned) else {
        return error(400, "required", "Missing required field: email");
    };
    if !is_email(&email) {
        return error(400, "invalid", "Invalid Input: email");
    }
    let mut d = sh.lock();
    if Shared::taken(&d, &email, None) {
        return error(409, "duplicate", "Entity already exists.");
    }
    d.next_id += 1;
    let id = format!("0{}", d.next_id);
    g.insert("id".into(), json!(id));
    g.insert("kind".into(), json!("admin#directory#group"));
    g.entry("name").or_insert(json!(email));
    d.groups.insert(id, g.clone());
    Json(Value::Object(g)).into_response()
}

async fn get_group(State(sh): State<Arc<Shared>>, Path(key): Path<String>) -> Response {
    let d = sh.lock();
    match find(&d.groups, "email", &key).and_then(|id| d.groups.get(&id)) {
        Some(g) => Json(Value::Object(g.clone())).into_response(),
        None => error(404, "notFound", "Resource Not Found: groupKey"),
    }
}

async fn patch_group(
    State(sh): State<Arc<Shared>>,
    Path(key): Path<String>,
    Json(body): Json<Value>,
) -> Response {
    let Value::Object(body) = body else {
        return error(400, "invalid", "Invalid Input");
    };
    let mut d = sh.lock();
    let Some(id) = find(&d.groups, "email", &key) else {
        return error(404, "notFound", "Resource Not Found: groupKey");
    };
    if let Some(e) = body.get("email").and_then(Value::as_str)
        && Shared::taken(&d, e, Some(&id))
    {
        return error(409, "duplicate", "Entity already exists.");
    }
    let Some(g) = d.groups.get_mut(&id) else {
        return error(404, "notFound", "Resource Not Found: groupKey");
    };
    for (k, v) in body {
        if !matches!(k.as_str(), "id" | "kind") {
            g.insert(k, v);
        }
    }
    Json(Value::Object(g.clone())).into_response()
}

async fn delete_group(State(sh): State<Arc<Shared>>, Path(key): Path<String>) -> Response {
    let mut d = sh.lock();
    let Some(id) = find(&d.groups, "email", &key) else {
        return error(404, "notFound", "Resource Not Found: groupKey");
    };
    d.groups.remove(&id);
    d.members.remove(&id);
    StatusCode::NO_CONTENT.into_response()
}

async fn list_members(
    State(sh): State<Arc<Shared>>,
    Path(key): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let d = sh.lock();
    let Some(id) = find(&d.groups, "email", &key) else {
        return error(404, "notFound", "Resource Not Found: groupKey");
    };
    let items: Vec<Map<String, Value>> = d
        .members
        .get(&id)
        .into_iter()
        .flatten()
        .map(|m| {
            let (email, kind) = match (d.users.get(m), d.groups.get(m)) {
                (Some(u), _) => (u.get("primaryEmail").cloned(), "USER"),
                (_, Some(g)) => (g.get("email").cloned(), "GROUP"),
                _ => (None, "USER"),
            };
            let mut o = Map::new();
            o.insert("id".into(), json!(m));
            o.insert("email".into(), email.unwrap_or(Value::Null));
            o.insert("role".into(), json!("MEMBER"));
            o.insert("type".into(), json!(kind));
            o
        })
        .collect();
    page(items, "members", &q)
}

async fn add_member(
    State(sh): State<Arc<Shared>>,
    Path(key): Path<String>,
    Json(body): Json<Value>,
) -> Response {
    let mut d = sh.lock();
    let Some(gid) = find(&d.groups, "email", &key) else {
        return error(404, "notFound", "Resource Not Found: groupKey");
    };
    let member = body
        .get("id")
        .or_else(|| body.get("email"))
        .and_then(Value::as_str)
        .unwrap_or("");
    let Some(mid) = find(&d.users, "primaryEmail", member).or_else(|| find(&d.groups, "email", member))
    else {
        return error(404, "notFound", "Resource Not Found: memberKey");
    };
    if !d.members.entry(gid).or_default().insert(mid.clone()) {
        return error(409, "duplicate", "Member already exists.");
    }
    Json(json!({"kind": "admin#directory#member", "id": mid, "role": "MEMBER"})).into_response()
}

async fn remove_member(
    State(sh): State<Arc<Shared>>,
    Path((key, member)): Path<(String, String)>,
) -> Response {
    let mut d = sh.lock();
    let Some(gid) = find(&d.groups, "email", &key) else {
        return error(404, "notFound", "Resource Not Found: groupKey");
    };
    let mid = find(&d.users, "primaryEmail", &member)
        .or_else(|| find(&d.groups, "email", &member))
        .unwrap_or(member);
    if d.members.get_mut(&gid).is_some_and(|m| m.remove(&mid)) {
        StatusCode::NO_CONTENT.into_response()
    } else {
        error(404, "notFound", "Resource Not Found: memberKey")
    }
}
