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

mod translate;

pub use crate::auth::{GOOGLE_SCOPES as SCOPES, ServiceAccount};
pub use translate::{
    definitions, group_address, group_from_google, group_to_google, normalize, queries, user_from_google,
    user_to_google,
};

use crate::error::{Discovery, TargetError};
use crate::http::{Http, encode};
use roster_codes as codes;
use roster_scim::filter::{CompValue, CompareOp, Filter};
use roster_scim::path::PatchPath;
use roster_scim::{PatchOp as Op, PatchOperation as PatchOp, ResourceKind};
use serde_json::{Map, Value, json};
use tokio::sync::Mutex;
use translate::{ci, cleared, member_values, s};

/// The Directory API's base URL.
pub const DEFAULT_URL: &str = "https://admin.googleapis.com/admin/directory/v1";
/// Google-only user attributes in the SCIM view: `orgUnitPath`, `includeInGlobalAddressList`,
/// `changePasswordAtNextLogin`.
pub const USER_EXT: &str = "urn:roster:params:scim:schemas:extension:google:2.0:User";
/// Google-only group attributes in the SCIM view: `email`, `description`.
pub const GROUP_EXT: &str = "urn:roster:params:scim:schemas:extension:google:2.0:Group";
pub(crate) const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

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

fn path_of(kind: ResourceKind, id: &str) -> String {
    format!("/{}/{}", google_endpoint(kind), encode(id))
}

fn google_endpoint(kind: ResourceKind) -> &'static str {
    match kind {
        ResourceKind::User => "users",
        ResourceKind::Group => "groups",
    }
}

fn bad_body(what: &str, status: u16) -> TargetError {
    TargetError::bad_body(what, status, "the Directory API resource")
}

/// An operation the Directory API has no request for: refused by name, never dropped.
fn unsupported(op: &PatchOp) -> TargetError {
    TargetError::not_sent(
        &codes::TARGET_UNSUPPORTED,
        format!(
            "Google's directory has no request for the PATCH operation '{}'{}",
            op.op.as_str(),
            op.path
                .as_ref()
                .map_or_else(|| " without a path".to_owned(), |p| format!(" of '{p}'"))
        ),
    )
}

fn refused(message: String) -> TargetError {
    TargetError::not_sent(&codes::TARGET_INVALID_VALUE, message)
}

/// Google Workspace's Directory API as a target: the same operations as SCIM, in Google's resources.
#[derive(Debug)]
pub struct GoogleTarget {
    config: GoogleConfig,
    /// Directory API page tokens by (endpoint, start index) for offset-style listing.
    page_tokens: Mutex<std::collections::HashMap<(&'static str, u64), String>>,
}

impl GoogleTarget {
    pub(crate) fn new(config: GoogleConfig) -> Self {
        Self {
            config,
            page_tokens: Mutex::new(std::collections::HashMap::new()),
        }
    }

    fn customer(&self) -> &str {
        &self.config.customer
    }

    fn group_domain(&self) -> &str {
        self.config.group_domain()
    }

    /// See [`crate::Connector::create_body_shown`].
    pub(crate) fn create_body_shown(
        &self,
        kind: ResourceKind,
        payload: &Map<String, Value>,
    ) -> Result<Value, String> {
        let body = match kind {
            ResourceKind::User => user_to_google(payload, true)
                .map_err(|e| format!("Google would not be sent this user: {e}"))?,
            ResourceKind::Group => group_to_google(payload, self.group_domain()),
        };
        let mut shown = crate::trace::hide_secrets(&Value::Object(body));
        if kind == ResourceKind::User
            && let Value::Object(m) = &mut shown
            && !payload.keys().any(|k| k.eq_ignore_ascii_case("password"))
        {
            m.insert(
                "password".into(),
                Value::String("[random, made at create]".into()),
            );
        }
        Ok(shown)
    }

    /// The desired state reduced to what Google holds (see [`normalize`]).
    pub(crate) fn normalize(&self, kind: ResourceKind, desired: Map<String, Value>) -> Map<String, Value> {
        normalize(kind, desired, &self.config)
    }

    pub(crate) async fn get(
        &self,
        http: &Http,
        kind: ResourceKind,
        id: &str,
    ) -> Result<Option<Map<String, Value>>, TargetError> {
        let path = path_of(kind, id);
        let body = match http.send(reqwest::Method::GET, &path, &[], None, &[404]).await? {
            (404, _) => return Ok(None),
            (_, Some(Value::Object(o))) => o,
            (s, _) => return Err(bad_body(&format!("GET {path}"), s)),
        };
        Ok(Some(match kind {
            ResourceKind::User => user_from_google(&body),
            ResourceKind::Group => {
                let members = self.group_members(http, id).await?;
                group_from_google(&body, Some(members))
            }
        }))
    }

    async fn group_members(&self, http: &Http, id: &str) -> Result<Vec<String>, TargetError> {
        let path = format!("{}/members", path_of(ResourceKind::Group, id));
        let mut out = Vec::new();
        let mut token = String::new();
        loop {
            let mut query = vec![("maxResults", "200")];
            if !token.is_empty() {
                query.push(("pageToken", token.as_str()));
            }
            let (_, body) = http.send(reqwest::Method::GET, &path, &query, None, &[]).await?;
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

    pub(crate) async fn find(
        &self,
        http: &Http,
        kind: ResourceKind,
        filter: &str,
        limit: u32,
    ) -> Result<Vec<Map<String, Value>>, TargetError> {
        let queries = queries(kind, filter).map_err(|m| TargetError::new(&codes::TARGET_FILTER, m))?;
        let path = format!("/{}", google_endpoint(kind));
        let max = limit.clamp(1, 500).to_string();
        let mut out: Vec<Map<String, Value>> = Vec::new();
        for q in queries {
            let query = [
                ("customer", self.customer()),
                ("query", q.as_str()),
                ("maxResults", max.as_str()),
            ];
            let (_, body) = http.send(reqwest::Method::GET, &path, &query, None, &[]).await?;
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
    pub(crate) async fn list_page(
        &self,
        http: &Http,
        kind: ResourceKind,
        start: u64,
        count: u32,
    ) -> Result<(Vec<Map<String, Value>>, u64), TargetError> {
        let path = format!("/{}", google_endpoint(kind));
        let token = if start <= 1 {
            None
        } else {
            let tokens = self.page_tokens.lock().await;
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
        let (_, body) = http.send(reqwest::Method::GET, &path, &query, None, &[]).await?;
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
                self.page_tokens
                    .lock()
                    .await
                    .insert((google_endpoint(kind), next), t.to_owned());
                next
            }
            _ => next - 1,
        };
        Ok((page, total))
    }

    pub(crate) async fn create(
        &self,
        http: &Http,
        kind: ResourceKind,
        payload: &Map<String, Value>,
    ) -> Result<Map<String, Value>, TargetError> {
        let path = format!("/{}", google_endpoint(kind));
        let body = match kind {
            ResourceKind::User => user_to_google(payload, true).map_err(refused)?,
            ResourceKind::Group => group_to_google(payload, self.group_domain()),
        };
        let created = match http
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
                    self.add_member(http, &id, &m).await?;
                    members.push(m);
                }
                group_from_google(&created, Some(members))
            }
        })
    }

    async fn add_member(&self, http: &Http, group: &str, member: &str) -> Result<(), TargetError> {
        let path = format!("{}/members", path_of(ResourceKind::Group, group));
        // 409: the member is already there, which is what roster wanted.
        http.send(
            reqwest::Method::POST,
            &path,
            &[],
            Some(&json!({"id": member, "role": "MEMBER"})),
            &[409],
        )
        .await?;
        Ok(())
    }

    async fn remove_member(&self, http: &Http, group: &str, member: &str) -> Result<(), TargetError> {
        let path = format!(
            "{}/members/{}",
            path_of(ResourceKind::Group, group),
            encode(member)
        );
        // 404: already gone.
        http.send(reqwest::Method::DELETE, &path, &[], None, &[404])
            .await?;
        Ok(())
    }

    pub(crate) async fn patch(
        &self,
        http: &Http,
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
                        self.add_member(http, id, &m).await?;
                    }
                }
                (ResourceKind::Group, Op::Remove, Some(p), _) if members => match &p.filter {
                    Some(Filter::Compare {
                        path,
                        op: CompareOp::Eq,
                        value: CompValue::Str(v),
                    }) if path.name.eq_ignore_ascii_case("value") => self.remove_member(http, id, v).await?,
                    _ => return Err(unsupported(op)),
                },
                (_, Op::Remove, Some(p), _) if p.filter.is_none() && !members => removed.push(p.clone()),
                (_, Op::Add | Op::Replace, Some(p), Some(v)) if p.filter.is_none() && !members => {
                    roster_scim::access::set_path(&mut partial, p, v.clone());
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
        http.send(
            reqwest::Method::PATCH,
            &path,
            &[],
            Some(&Value::Object(body)),
            &[],
        )
        .await?;
        Ok(())
    }

    pub(crate) async fn replace(
        &self,
        http: &Http,
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
        self.patch(http, kind, id, &ops).await
    }

    pub(crate) async fn delete(
        &self,
        http: &Http,
        kind: ResourceKind,
        id: &str,
    ) -> Result<bool, TargetError> {
        let (st, _) = http
            .send(reqwest::Method::DELETE, &path_of(kind, id), &[], None, &[404])
            .await?;
        Ok(st != 404)
    }

    /// Token, users and groups: the three things a Google app needs to work.
    pub(crate) async fn discover(&self, http: &Http) -> Result<Discovery, TargetError> {
        for endpoint in ["/users", "/groups"] {
            http.send(
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

#[cfg(test)]
mod tests;
