//! SCIM 2.0 targets (RFC 7644): resources by id, matching by filter, listing by index or cursor (RFC 9865),
//! creates in `/Bulk` requests when the target offers them ([`bulk`]), PATCH, PUT, DELETE and discovery.

pub mod bulk;
mod members;

use crate::error::{Discovery, ListPage, TargetError};
use crate::http::{Http, encode};
use roster_codes as codes;
use roster_scim::{PatchOperation, ResourceKind};
use serde_json::{Map, Value};

/// A SCIM service provider as a target.
#[derive(Debug)]
pub struct ScimTarget {
    /// Creates sent together in `/Bulk` requests.
    bulk: bulk::Bulk,
}

impl ScimTarget {
    /// A SCIM target; `bulk` says whether creates may go in `/Bulk` requests when it offers them.
    pub(crate) fn new(bulk: bool) -> Self {
        Self {
            bulk: bulk::Bulk::new(bulk),
        }
    }

    /// How many objects a worker pool should sync at once to keep the app's request slots busy: creates in bulk
    /// need a bulk request's worth of objects per slot.
    pub(crate) fn objects_per_request(&self) -> usize {
        self.bulk.known().map_or(1, |l| l.operations)
    }

    /// Reads a resource; `None` when the target answers 404.
    pub(crate) async fn get(
        &self,
        http: &Http,
        kind: ResourceKind,
        id: &str,
    ) -> Result<Option<Map<String, Value>>, TargetError> {
        let path = format!("/{}/{}", kind.endpoint(), encode(id));
        match http.send(reqwest::Method::GET, &path, &[], None, &[404]).await? {
            (404, _) => Ok(None),
            (_, Some(Value::Object(o))) => Ok(Some(o)),
            (s, _) => Err(bad_body(&format!("GET {path}"), s)),
        }
    }

    /// Resources matching a filter (at most `limit`).
    pub(crate) async fn find(
        &self,
        http: &Http,
        kind: ResourceKind,
        filter: &str,
        limit: u32,
    ) -> Result<Vec<Map<String, Value>>, TargetError> {
        let path = format!("/{}", kind.endpoint());
        let count = limit.to_string();
        let (s, body) = http
            .send(
                reqwest::Method::GET,
                &path,
                &[("filter", filter), ("count", &count)],
                None,
                &[],
            )
            .await?;
        let Some(list) = body
            .as_ref()
            .and_then(|b| b.get("Resources").or_else(|| b.get("resources")))
        else {
            // A ListResponse with no results may leave Resources out.
            return if body.as_ref().is_some_and(|b| b.get("totalResults").is_some()) {
                Ok(Vec::new())
            } else {
                Err(bad_body(&format!("GET {path}?filter={filter}"), s))
            };
        };
        Ok(list
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| r.as_object().cloned())
            .collect())
    }

    /// One page of a listing (`startIndex` from 1) with only `attributes`; returns the page and `totalResults`.
    pub(crate) async fn list_page(
        &self,
        http: &Http,
        kind: ResourceKind,
        start: u64,
        count: u32,
        attributes: &str,
    ) -> Result<(Vec<Map<String, Value>>, u64), TargetError> {
        let path = format!("/{}", kind.endpoint());
        let (start, count) = (start.to_string(), count.to_string());
        let query = [
            ("startIndex", start.as_str()),
            ("count", count.as_str()),
            ("attributes", attributes),
        ];
        let (s, body) = http.send(reqwest::Method::GET, &path, &query, None, &[]).await?;
        let (items, total, _) = list_response(&path, s, body)?;
        Ok((items, total))
    }

    /// One page of a cursor listing (RFC 9865; `cursor` empty for the first page) with only `attributes`;
    /// returns the page, `totalResults` and `nextCursor` (absent on the last page, and from a target that does
    /// not know cursors: its answer is then the first `startIndex` page).
    pub(crate) async fn list_page_cursor(
        &self,
        http: &Http,
        kind: ResourceKind,
        cursor: &str,
        count: u32,
        attributes: &str,
    ) -> Result<ListPage, TargetError> {
        let path = format!("/{}", kind.endpoint());
        let count = count.to_string();
        let query = [
            ("cursor", cursor),
            ("count", count.as_str()),
            ("attributes", attributes),
        ];
        let (s, body) = http.send(reqwest::Method::GET, &path, &query, None, &[]).await?;
        list_response(&path, s, body)
    }

    /// Creates a resource; returns it as the target stored it. A group with more members than one request
    /// carries is created with the first ones and given the rest in PATCHes ([`members`]).
    pub(crate) async fn create(
        &self,
        http: &Http,
        kind: ResourceKind,
        payload: &Map<String, Value>,
    ) -> Result<Map<String, Value>, TargetError> {
        if let Some((first, rest)) = members::split_create(payload) {
            let mut created = self.post(http, kind, &first).await?;
            let id = created
                .get("id")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            for ops in rest {
                self.patch_once(http, kind, &id, &ops).await?;
            }
            if let Some(all) = payload.get("members") {
                created.insert("members".into(), all.clone());
            }
            return Ok(created);
        }
        if let Some(limits) = self.bulk_limits(http).await
            && let Some(created) = self.create_in_bulk(http, kind, payload, limits).await
        {
            return created;
        }
        self.post(http, kind, payload).await
    }

    /// One `POST` of a resource.
    async fn post(
        &self,
        http: &Http,
        kind: ResourceKind,
        payload: &Map<String, Value>,
    ) -> Result<Map<String, Value>, TargetError> {
        let path = format!("/{}", kind.endpoint());
        match http
            .send(
                reqwest::Method::POST,
                &path,
                &[],
                Some(&Value::Object(payload.clone())),
                &[],
            )
            .await?
        {
            (_, Some(Value::Object(o))) if o.get("id").and_then(Value::as_str).is_some() => Ok(o),
            (s, _) => Err(bad_body(&format!("POST {path}"), s)),
        }
    }

    /// Applies PATCH operations, in requests of at most [`members::PER_REQUEST`] member values each.
    pub(crate) async fn patch(
        &self,
        http: &Http,
        kind: ResourceKind,
        id: &str,
        ops: &[PatchOperation],
    ) -> Result<(), TargetError> {
        for request in members::split_patch(ops) {
            self.patch_once(http, kind, id, &request).await?;
        }
        Ok(())
    }

    /// One `PATCH` request.
    async fn patch_once(
        &self,
        http: &Http,
        kind: ResourceKind,
        id: &str,
        ops: &[PatchOperation],
    ) -> Result<(), TargetError> {
        let path = format!("/{}/{}", kind.endpoint(), encode(id));
        http.send(
            reqwest::Method::PATCH,
            &path,
            &[],
            Some(&roster_scim::patch::message(ops)),
            &[],
        )
        .await?;
        Ok(())
    }

    /// Replaces a resource (PUT).
    pub(crate) async fn replace(
        &self,
        http: &Http,
        kind: ResourceKind,
        id: &str,
        body: &Map<String, Value>,
    ) -> Result<(), TargetError> {
        let path = format!("/{}/{}", kind.endpoint(), encode(id));
        http.send(
            reqwest::Method::PUT,
            &path,
            &[],
            Some(&Value::Object(body.clone())),
            &[],
        )
        .await?;
        Ok(())
    }

    /// Deletes a resource; `false` when it was already gone (404 counts as done).
    pub(crate) async fn delete(
        &self,
        http: &Http,
        kind: ResourceKind,
        id: &str,
    ) -> Result<bool, TargetError> {
        let path = format!("/{}/{}", kind.endpoint(), encode(id));
        let (s, _) = http
            .send(reqwest::Method::DELETE, &path, &[], None, &[404])
            .await?;
        Ok(s != 404)
    }

    /// Reads `/ServiceProviderConfig`, `/Schemas` and `/ResourceTypes`.
    pub(crate) async fn discover(&self, http: &Http) -> Result<Discovery, TargetError> {
        let endpoint = |e: TargetError| match e.status {
            Some(404) => TargetError {
                code: &codes::TARGET_ENDPOINT,
                ..e
            },
            _ => e,
        };
        let (_, config) = http
            .send(reqwest::Method::GET, "/ServiceProviderConfig", &[], None, &[])
            .await
            .map_err(endpoint)?;
        let config = config
            .filter(Value::is_object)
            .ok_or_else(|| schema_error("/ServiceProviderConfig"))?;
        let patch = config
            .pointer("/patch/supported")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let list = |body: Option<Value>, key: &str, what: &str| -> Result<Vec<String>, TargetError> {
            let body = body.ok_or_else(|| schema_error(what))?;
            let items = body
                .get("Resources")
                .and_then(Value::as_array)
                .or_else(|| body.as_array())
                .ok_or_else(|| schema_error(what))?;
            Ok(items
                .iter()
                .filter_map(|i| i.get(key).and_then(Value::as_str).map(str::to_owned))
                .collect())
        };
        let (_, s) = http
            .send(reqwest::Method::GET, "/Schemas", &[], None, &[])
            .await
            .map_err(endpoint)?;
        let definitions = s
            .as_ref()
            .and_then(|b| {
                b.get("Resources")
                    .and_then(Value::as_array)
                    .or_else(|| b.as_array())
            })
            .into_iter()
            .flatten()
            .filter_map(|d| roster_scim::schema::Schema::from_json(d).ok())
            .collect();
        let schemas = list(s, "id", "/Schemas")?;
        let (_, r) = http
            .send(reqwest::Method::GET, "/ResourceTypes", &[], None, &[])
            .await
            .map_err(endpoint)?;
        let resource_types = list(r, "name", "/ResourceTypes")?;
        Ok(Discovery {
            config,
            schemas,
            definitions,
            resource_types,
            patch,
        })
    }
}

/// A ListResponse read as a [`ListPage`].
fn list_response(path: &str, status: u16, body: Option<Value>) -> Result<ListPage, TargetError> {
    let body = body.ok_or_else(|| bad_body(&format!("GET {path}"), status))?;
    let total = body
        .get("totalResults")
        .and_then(Value::as_u64)
        .ok_or_else(|| bad_body(&format!("GET {path}"), status))?;
    let next = body
        .get("nextCursor")
        .and_then(Value::as_str)
        .filter(|c| !c.is_empty())
        .map(str::to_owned);
    let items = body
        .get("Resources")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|r| r.as_object().cloned())
        .collect();
    Ok((items, total, next))
}

fn bad_body(what: &str, status: u16) -> TargetError {
    TargetError::bad_body(what, status, "the SCIM resource")
}

fn schema_error(what: &str) -> TargetError {
    TargetError::new(
        &codes::TARGET_SCHEMA,
        format!("GET {what} did not return valid SCIM"),
    )
    .with_status(200)
}
