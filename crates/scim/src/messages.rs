//! Protocol messages (RFC 7644 §3.4.2, §3.4.3, §3.7, §3.12, §3.14): ListResponse, SearchRequest, BulkRequest and
//! BulkResponse, the ServiceProviderConfig, and the HTTP status of each outcome in one table ([`Outcome`]).
//! PatchOp lives in [`crate::patch`], Error in [`crate::error`].

use crate::error::{ErrorKind, ScimError};
use crate::filter::{self, Filter};
use crate::path::AttrPath;
use crate::projection::{Projection, parse_list};
use crate::value::get_ci;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// The ListResponse message URN.
pub const LIST_RESPONSE_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
/// The SearchRequest message URN.
pub const SEARCH_REQUEST_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";
/// The BulkRequest message URN.
pub const BULK_REQUEST_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:BulkRequest";
/// The BulkResponse message URN.
pub const BULK_RESPONSE_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:BulkResponse";

/// What a request did, and so its HTTP status: the one table for successes (errors carry theirs in
/// [`ErrorKind::status`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// GET, PUT, PATCH returning the resource, list and search, bulk: 200.
    Ok,
    /// POST that created a resource: 201 (with `Location`).
    Created,
    /// DELETE, or PATCH with no body returned: 204.
    NoContent,
    /// GET with a matching `If-None-Match`: 304.
    NotModified,
    /// An error.
    Error(ErrorKind),
}

impl Outcome {
    /// The HTTP status.
    pub const fn status(self) -> u16 {
        match self {
            Self::Ok => 200,
            Self::Created => 201,
            Self::NoContent => 204,
            Self::NotModified => 304,
            Self::Error(k) => k.status(),
        }
    }
}

/// A page of results (RFC 7644 §3.4.2): resources as values, or (`ListResponse<Box<RawValue>>`) as JSON a server
/// has already written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListResponse<R = Value> {
    /// Always `[LIST_RESPONSE_SCHEMA]`.
    pub schemas: Vec<String>,
    /// How many resources match in all.
    pub total_results: u64,
    /// The 1-based index of the first resource in this page (index paging).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_index: Option<u64>,
    /// Cursor paging (RFC 9865): the cursor of the next page, absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
    /// How many resources this page holds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub items_per_page: Option<u64>,
    /// The resources.
    #[serde(rename = "Resources", default = "Vec::new")]
    pub resources: Vec<R>,
}

impl<R> ListResponse<R> {
    /// A page starting at `start_index` (1-based) out of `total_results`.
    pub fn new(resources: Vec<R>, total_results: u64, start_index: u64) -> Self {
        Self {
            schemas: vec![LIST_RESPONSE_SCHEMA.into()],
            total_results,
            start_index: Some(start_index),
            next_cursor: None,
            items_per_page: Some(resources.len() as u64),
            resources,
        }
    }
}

/// Sort direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortOrder {
    /// Ascending (the default).
    #[default]
    Ascending,
    /// Descending.
    Descending,
}

/// A query: from `GET` parameters or a `POST .search` body (RFC 7644 §3.4.2, §3.4.3), parsed and bounded.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SearchRequest {
    /// The filter, if any.
    pub filter: Option<Filter>,
    /// The attribute to sort by.
    pub sort_by: Option<AttrPath>,
    /// The sort direction.
    pub sort_order: SortOrder,
    /// 1-based index of the first result (values below 1 mean 1, per RFC 7644 §3.4.2.4).
    pub start_index: u64,
    /// Page size requested; `Some(0)` asks only for `totalResults`; `None` is the server's default.
    pub count: Option<u64>,
    /// `attributes` / `excludedAttributes`.
    pub projection: Projection,
    /// Cursor paging (RFC 9865): `Some("")` asks for the first page, `Some(c)` for the page after a
    /// `nextCursor`; `None` is index paging.
    pub cursor: Option<String>,
}

impl SearchRequest {
    /// From query parameters (`filter`, `sortBy`, `sortOrder`, `startIndex`, `count`, `cursor`, `attributes`,
    /// `excludedAttributes`), names matched case-insensitively.
    pub fn from_query<'a>(params: impl IntoIterator<Item = (&'a str, &'a str)>) -> Result<Self, ScimError> {
        let mut obj = serde_json::Map::new();
        for (k, v) in params {
            obj.insert(k.to_owned(), Value::String(v.to_owned()));
        }
        Self::from_json(&Value::Object(obj))
    }

    /// From a `POST .search` body. Numbers may be JSON numbers or strings; `attributes` an array or a
    /// comma-separated string.
    pub fn from_json(v: &Value) -> Result<Self, ScimError> {
        if !v.is_object() {
            return Err(ScimError::invalid_syntax(
                "a search request must be a JSON object",
            ));
        }
        let text = |k: &str| -> Result<Option<String>, ScimError> {
            match get_ci(v, k) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(Value::Array(a)) => {
                    let parts: Option<Vec<&str>> = a.iter().map(Value::as_str).collect();
                    parts
                        .map(|p| Some(p.join(",")))
                        .ok_or_else(|| ScimError::invalid_value(format!("'{k}' must list strings")))
                }
                Some(Value::Number(n)) => Ok(Some(n.to_string())),
                Some(_) => Err(ScimError::invalid_value(format!("'{k}' has the wrong type"))),
            }
        };
        let int = |k: &str| -> Result<Option<i64>, ScimError> {
            text(k)?
                .map(|s| {
                    s.trim()
                        .parse::<i64>()
                        .map_err(|_| ScimError::invalid_value(format!("'{k}' must be an integer, got '{s}'")))
                })
                .transpose()
        };
        let filter = text("filter")?
            .filter(|f| !f.trim().is_empty())
            .map(|f| filter::parse(&f))
            .transpose()?;
        let sort_by = text("sortBy")?
            .filter(|s| !s.is_empty())
            .map(|s| AttrPath::parse(&s))
            .transpose()?;
        let sort_order = match text("sortOrder")?.as_deref() {
            None => SortOrder::Ascending,
            Some(s) if s.eq_ignore_ascii_case("ascending") => SortOrder::Ascending,
            Some(s) if s.eq_ignore_ascii_case("descending") => SortOrder::Descending,
            Some(s) => {
                return Err(ScimError::invalid_value(format!(
                    "sortOrder must be 'ascending' or 'descending', got '{s}'"
                )));
            }
        };
        let cursor = text("cursor")?;
        if cursor.is_some() && get_ci(v, "startIndex").is_some_and(|s| !s.is_null()) {
            return Err(ScimError::invalid_value(
                "give either startIndex (index paging) or cursor (cursor paging), not both",
            ));
        }
        let start_index = int("startIndex")?.map_or(1, |i| i.max(1) as u64);
        let count = int("count")?.map(|c| c.max(0) as u64);
        let attributes = text("attributes")?;
        let excluded = text("excludedAttributes")?;
        let projection = Projection {
            attributes: attributes
                .as_deref()
                .map(parse_list)
                .transpose()?
                .unwrap_or_default(),
            excluded: excluded
                .as_deref()
                .map(parse_list)
                .transpose()?
                .unwrap_or_default(),
        };
        Ok(Self {
            filter,
            sort_by,
            sort_order,
            start_index,
            count,
            projection,
            cursor,
        })
    }
}

/// One operation of a bulk request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BulkOperation {
    /// `POST`, `PUT`, `PATCH` or `DELETE`.
    pub method: String,
    /// The client's id for a created resource, referable as `bulkId:<id>` in later operations.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bulk_id: Option<String>,
    /// The entity tag for `If-Match` semantics.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The resource path relative to the base URL (`/Users`, `/Groups/{id}`).
    pub path: String,
    /// The body.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
}

/// A bulk request (RFC 7644 §3.7).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BulkRequest {
    /// Stop after this many errors.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fail_on_errors: Option<u64>,
    /// The operations.
    #[serde(rename = "Operations")]
    pub operations: Vec<BulkOperation>,
}

impl BulkRequest {
    /// Parses and checks a bulk request: the schema, at most `max_operations` operations, known methods, a
    /// `bulkId` on every POST (RFC 7644 §3.7: required for POST), data where the method needs it, and unique
    /// `bulkId`s. Too many operations is 413.
    pub fn from_json(v: &Value, max_operations: usize) -> Result<Self, ScimError> {
        let schemas_ok = get_ci(v, "schemas").and_then(Value::as_array).is_some_and(|a| {
            a.iter().any(|s| {
                s.as_str()
                    .is_some_and(|s| s.eq_ignore_ascii_case(BULK_REQUEST_SCHEMA))
            })
        });
        if !schemas_ok {
            return Err(ScimError::invalid_syntax(format!(
                "a bulk request must declare \"schemas\": [\"{BULK_REQUEST_SCHEMA}\"]"
            )));
        }
        let req: BulkRequest = serde_json::from_value(v.clone())
            .map_err(|e| ScimError::invalid_syntax(format!("malformed bulk request: {e}")))?;
        if req.operations.len() > max_operations {
            return Err(ScimError::new(
                ErrorKind::PayloadTooLarge,
                format!(
                    "the bulk request has {} operations; the maximum is {max_operations}",
                    req.operations.len()
                ),
            ));
        }
        let mut seen = std::collections::HashSet::new();
        for (i, op) in req.operations.iter().enumerate() {
            let n = i + 1;
            let method = op.method.to_ascii_uppercase();
            if !matches!(method.as_str(), "POST" | "PUT" | "PATCH" | "DELETE") {
                return Err(ScimError::invalid_syntax(format!(
                    "operation {n}: method must be POST, PUT, PATCH or DELETE"
                )));
            }
            if method == "POST" && op.bulk_id.as_deref().is_none_or(str::is_empty) {
                return Err(ScimError::invalid_syntax(format!(
                    "operation {n}: POST needs a bulkId"
                )));
            }
            if method != "DELETE" && op.data.is_none() {
                return Err(ScimError::invalid_syntax(format!(
                    "operation {n}: {method} needs data"
                )));
            }
            if !op.path.starts_with('/') {
                return Err(ScimError::invalid_syntax(format!(
                    "operation {n}: path must start with '/'"
                )));
            }
            if let Some(id) = &op.bulk_id
                && !seen.insert(id.clone())
            {
                return Err(ScimError::invalid_syntax(format!(
                    "operation {n}: bulkId '{id}' is used twice"
                )));
            }
        }
        Ok(req)
    }
}

/// The result of one bulk operation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BulkOperationResult {
    /// The method performed.
    pub method: String,
    /// The operation's bulkId.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bulk_id: Option<String>,
    /// The resource version after the operation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The resource URI.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// The HTTP status as a string.
    pub status: String,
    /// The SCIM error, on failure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response: Option<Value>,
}

/// A bulk response (RFC 7644 §3.7).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BulkResponse {
    /// Always `[BULK_RESPONSE_SCHEMA]`.
    pub schemas: Vec<String>,
    /// One result per operation performed.
    #[serde(rename = "Operations")]
    pub operations: Vec<BulkOperationResult>,
}

impl BulkResponse {
    /// A response with these results.
    pub fn new(operations: Vec<BulkOperationResult>) -> Self {
        Self {
            schemas: vec![BULK_RESPONSE_SCHEMA.into()],
            operations,
        }
    }
}

/// Replaces every `"bulkId:<id>"` string in `data` with the id it was resolved to; returns the first
/// unresolved reference, if any, so the operation can fail with a clear error.
pub fn resolve_bulk_ids(data: &mut Value, resolve: &dyn Fn(&str) -> Option<String>) -> Result<(), String> {
    match data {
        Value::String(s) => {
            if let Some(id) = s.strip_prefix("bulkId:") {
                *s = resolve(id).ok_or_else(|| id.to_owned())?;
            }
            Ok(())
        }
        Value::Array(a) => a.iter_mut().try_for_each(|x| resolve_bulk_ids(x, resolve)),
        Value::Object(o) => o.values_mut().try_for_each(|x| resolve_bulk_ids(x, resolve)),
        _ => Ok(()),
    }
}

/// What a service provider supports, for `/ServiceProviderConfig` (RFC 7643 §5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceProviderConfig {
    /// Documentation URL.
    pub documentation_uri: Option<String>,
    /// Bulk limits; `None` when bulk is not supported.
    pub bulk: Option<(u64, u64)>,
    /// The maximum number of results a list returns.
    pub max_results: u64,
    /// The page size when a list request gives no `count` (advertised with RFC 9865's `pagination`).
    pub default_page_size: u64,
    /// Whether sorting is supported.
    pub sort: bool,
    /// Whether ETags are supported.
    pub etag: bool,
    /// Whether changing passwords is supported.
    pub change_password: bool,
    /// What one resource may hold (advertised, with the request limits, in roster's extension).
    pub limits: crate::resource::Limits,
}

impl ServiceProviderConfig {
    /// The JSON resource, advertising bearer-token authentication; with `limits`, roster's extension too (see
    /// [`crate::schema::limits_schema`]: its attributes are returned on request).
    pub fn to_resource(&self, base_url: &str, limits: bool) -> Value {
        let (bulk_supported, max_ops, max_payload) = match self.bulk {
            Some((ops, bytes)) => (true, ops, bytes),
            None => (false, 0, 0),
        };
        let mut spc = json!({
            "schemas": [crate::schema::SERVICE_PROVIDER_CONFIG_SCHEMA],
            "documentationUri": self.documentation_uri,
            "patch": {"supported": true},
            "bulk": {"supported": bulk_supported, "maxOperations": max_ops, "maxPayloadSize": max_payload},
            "filter": {"supported": true, "maxResults": self.max_results},
            // RFC 9865: index and cursor paging; cursors are positions in the listing order and do not expire.
            "pagination": {
                "cursor": true,
                "index": true,
                "defaultPaginationMethod": "index",
                "defaultPageSize": self.default_page_size,
                "maxPageSize": self.max_results
            },
            "changePassword": {"supported": self.change_password},
            "sort": {"supported": self.sort},
            "etag": {"supported": self.etag},
            "authenticationSchemes": [{
                "type": "oauthbearertoken",
                "name": "OAuth Bearer Token",
                "description": "Authentication with a bearer token in the Authorization header",
                "specUri": "https://www.rfc-editor.org/info/rfc6750",
                "primary": true
            }],
            "meta": {
                "resourceType": "ServiceProviderConfig",
                "location": format!("{}/ServiceProviderConfig", base_url.trim_end_matches('/')),
            }
        });
        if limits && let Value::Object(o) = &mut spc {
            if let Some(Value::Array(schemas)) = o.get_mut("schemas") {
                schemas.push(json!(crate::schema::LIMITS_SCHEMA));
            }
            o.insert(
                crate::schema::LIMITS_SCHEMA.into(),
                json!({
                    "maxStringLength": self.limits.max_string_chars,
                    "maxBinaryLength": self.limits.max_binary_chars,
                    "maxValues": self.limits.max_values,
                    "maxMembers": self.limits.max_members,
                    "maxFilterLength": crate::filter::MAX_LEN,
                    "maxFilterTerms": crate::filter::MAX_TERMS,
                    "maxFilterDepth": crate::filter::MAX_DEPTH,
                    "maxPatchOperations": crate::patch::MAX_OPERATIONS,
                    "maxAttributePaths": crate::projection::MAX_PATHS
                }),
            );
        }
        spc
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_from_query_and_body_agree() {
        let q = SearchRequest::from_query([
            ("filter", r#"userName eq "bjensen""#),
            ("sortBy", "name.familyName"),
            ("SORTORDER", "Descending"),
            ("startIndex", "0"),
            ("count", "10"),
            ("attributes", "userName,emails.value"),
        ])
        .unwrap();
        let body = SearchRequest::from_json(&json!({
            "schemas": [SEARCH_REQUEST_SCHEMA], "filter": "userName eq \"bjensen\"", "sortBy": "name.familyName",
            "sortOrder": "descending", "startIndex": 0, "count": 10, "attributes": ["userName", "emails.value"]
        }))
        .unwrap();
        assert_eq!(q, body);
        assert_eq!(q.start_index, 1, "startIndex below 1 means 1");
        assert_eq!(q.sort_order, SortOrder::Descending);
        assert_eq!(q.projection.attributes.len(), 2);
    }

    #[test]
    fn search_errors() {
        let e = SearchRequest::from_query([("count", "ten")]).unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidValue);
        let e = SearchRequest::from_query([("filter", "userName eq")]).unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidFilter);
        let e = SearchRequest::from_query([("sortOrder", "up")]).unwrap_err();
        assert!(e.detail.contains("ascending"));
        assert_eq!(
            SearchRequest::from_query([("count", "-5")]).unwrap().count,
            Some(0)
        );
    }

    #[test]
    fn list_response_shape() {
        let v = serde_json::to_value(ListResponse::new(vec![json!({"id": "1"})], 5, 3)).unwrap();
        assert_eq!(
            v,
            json!({"schemas": [LIST_RESPONSE_SCHEMA], "totalResults": 5, "startIndex": 3,
            "itemsPerPage": 1, "Resources": [{"id": "1"}]})
        );
    }

    /// RFC 7644 §3.7.2's example request parses.
    #[test]
    fn rfc_bulk_request() {
        let body = json!({
          "schemas": [BULK_REQUEST_SCHEMA], "failOnErrors": 1,
          "Operations": [
            {"method": "POST", "path": "/Users", "bulkId": "qwerty",
             "data": {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "Alice"}},
            {"method": "PUT", "path": "/Users/b7c14771-226c-4d05-8860-134711653041", "version": "W/\"3694e05e9dff591\"",
             "data": {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "id": "b7c14771", "userName": "Bob"}},
            {"method": "PATCH", "path": "/Users/5d8d29d3-342c-4b5f-8683-a3cb6763ffcc", "version": "W/\"edac3253e2c0ef2\"",
             "data": {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [{"op": "remove", "path": "nickName"}]}},
            {"method": "DELETE", "path": "/Users/e9025315-6bea-44e1-899c-1e07454e468b", "version": "W/\"0ee8add0a938e1a\""}
          ]
        });
        let req = BulkRequest::from_json(&body, 1000).unwrap();
        assert_eq!(req.operations.len(), 4);
        assert_eq!(req.fail_on_errors, Some(1));
        let e = BulkRequest::from_json(&body, 3).unwrap_err();
        assert_eq!(e.status(), 413);
    }

    #[test]
    fn bulk_request_errors() {
        let op = |o: Value| json!({"schemas": [BULK_REQUEST_SCHEMA], "Operations": [o]});
        for (body, want) in [
            (json!({"Operations": []}), "must declare"),
            (op(json!({"method": "GET", "path": "/Users"})), "method must be"),
            (
                op(json!({"method": "POST", "path": "/Users", "data": {}})),
                "needs a bulkId",
            ),
            (op(json!({"method": "PUT", "path": "/Users/1"})), "needs data"),
            (
                op(json!({"method": "DELETE", "path": "Users/1"})),
                "must start with '/'",
            ),
            (
                json!({"schemas": [BULK_REQUEST_SCHEMA], "Operations": [
                {"method": "POST", "path": "/Users", "bulkId": "a", "data": {}},
                {"method": "POST", "path": "/Users", "bulkId": "a", "data": {}}]}),
                "used twice",
            ),
        ] {
            let e = BulkRequest::from_json(&body, 10).unwrap_err();
            assert!(e.detail.contains(want), "{body}: {}", e.detail);
        }
    }

    #[test]
    fn bulk_id_references_resolve() {
        let mut data = json!({"members": [{"type": "Group", "value": "bulkId:ytrewq"}, {"value": "plain"}]});
        resolve_bulk_ids(&mut data, &|id| (id == "ytrewq").then(|| "6c5bb468".to_owned())).unwrap();
        assert_eq!(data["members"][0]["value"], "6c5bb468");
        let mut bad = json!({"value": "bulkId:missing"});
        assert_eq!(resolve_bulk_ids(&mut bad, &|_| None), Err("missing".to_owned()));
    }

    #[test]
    fn outcome_statuses() {
        assert_eq!(Outcome::Created.status(), 201);
        assert_eq!(Outcome::NoContent.status(), 204);
        assert_eq!(Outcome::NotModified.status(), 304);
        assert_eq!(Outcome::Error(ErrorKind::PreconditionFailed).status(), 412);
    }

    #[test]
    fn service_provider_config_advertises_limits_and_bearer_auth() {
        let spc = ServiceProviderConfig {
            documentation_uri: None,
            bulk: Some((1000, 1 << 20)),
            max_results: 200,
            default_page_size: 100,
            sort: true,
            etag: true,
            change_password: false,
            limits: crate::resource::Limits::DEFAULT,
        };
        let plain = spc.to_resource("http://localhost/scim/v2", false);
        assert_eq!(plain["schemas"].as_array().unwrap().len(), 1);
        assert!(plain.get(crate::schema::LIMITS_SCHEMA).is_none());
        let v = spc.to_resource("http://localhost/scim/v2", true);
        assert_eq!(v["bulk"]["maxOperations"], 1000);
        let limits = &v[crate::schema::LIMITS_SCHEMA];
        assert_eq!(limits["maxStringLength"], 2048);
        assert_eq!(limits["maxValues"], 100);
        assert_eq!(limits["maxFilterTerms"], crate::filter::MAX_TERMS);
        assert_eq!(v["schemas"][1], crate::schema::LIMITS_SCHEMA);
        // Every limit advertised is an attribute of the extension's schema.
        let schema = crate::schema::limits_schema();
        let names: Vec<&str> = limits.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            names,
            schema
                .attributes
                .iter()
                .map(|a| a.name.as_str())
                .collect::<Vec<_>>()
        );
        assert_eq!(v["filter"]["maxResults"], 200);
        assert_eq!(v["authenticationSchemes"][0]["type"], "oauthbearertoken");
    }
}
