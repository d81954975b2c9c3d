//! # roster-scim
//!
//! The SCIM 2.0 protocol core (RFC 7643, RFC 7644) that every part of roster speaks through, usable alone by any
//! Rust program that needs a SCIM endpoint or client. It does no I/O.
//!
//! **Must never import** another roster crate, a database, an HTTP stack or an async runtime: it is the bottom of
//! roster's graph and a library SaaS teams use alone.
//!
//! Where things live:
//!
//! | need | module | entry points |
//! |---|---|---|
//! | schemas, attribute characteristics, extensions | [`schema`] | [`SchemaRegistry`], [`ResourceSchema`], [`Schema::from_json`] |
//! | validating a resource (POST/PUT) and its canonical form | [`resource`] | [`ResourceSchema::validate`], [`resource::Meta`] |
//! | filters (`filter=`) | [`filter`] | [`filter::parse`], [`Filter::check`], [`filter::matches`] |
//! | attribute and PATCH paths | [`path`] | [`AttrPath`], [`PatchPath`] |
//! | PATCH | [`patch`] | [`PatchRequest::from_json`], [`ResourceSchema::apply_patch`] |
//! | `attributes` / `excludedAttributes` | [`projection`] | [`Projection`] |
//! | protocol messages | [`messages`] | [`messages::ListResponse`], [`messages::SearchRequest`], [`messages::BulkRequest`] |
//! | errors and their HTTP status | [`error`] | [`ScimError`], [`ErrorKind`] |
//!
//! ```
//! use roster_scim::{SchemaRegistry, filter, PatchRequest, ValidateOptions};
//! use serde_json::json;
//!
//! let registry = SchemaRegistry::new();
//! let users = registry.resource("User").unwrap();
//!
//! // Validate what a client POSTed.
//! let user = users.validate(&json!({"userName": "bjensen", "active": "True"}), None, ValidateOptions::default())?;
//! let mut user = serde_json::Value::Object(user);
//!
//! // Filter.
//! let f = filter::parse(r#"userName eq "BJENSEN" and active eq true"#)?;
//! f.check(&users)?;
//! assert!(filter::matches(&f, &user, Some(&users)));
//!
//! // PATCH, as Entra ID sends it.
//! let patch = PatchRequest::from_json(&json!({
//!     "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
//!     "Operations": [{"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "b@example.com"}]
//! }))?;
//! user = users.apply_patch(&user, &patch)?.resource;
//! assert_eq!(user["emails"][0]["value"], "b@example.com");
//! # Ok::<(), roster_scim::ScimError>(())
//! ```

pub mod access;
pub mod attr;
pub mod error;
pub mod filter;
pub mod messages;
pub mod patch;
pub mod path;
pub mod projection;
pub mod rendered;
pub mod resource;
pub mod schema;
pub mod value;

pub use error::{ErrorKind, ScimError};
pub use filter::{CompValue, CompareOp, Filter};
pub use patch::{PatchOp, PatchOperation, PatchOutcome, PatchRequest};
pub use path::{AttrPath, PatchPath};
pub use projection::Projection;
pub use resource::{Limits, Meta, UnknownAttributes, ValidateOptions};
pub use schema::{
    AttrType, Attribute, Mutability, ResourceSchema, ResourceType, Returned, Schema, SchemaRegistry,
    Uniqueness,
};

/// The resource types roster serves and provisions: its directory holds them and its targets receive them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ResourceKind {
    /// `User`.
    User,
    /// `Group`.
    Group,
}

impl ResourceKind {
    /// The SCIM resource type name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::User => "User",
            Self::Group => "Group",
        }
    }
    /// The endpoint (`/Users`).
    pub const fn endpoint(self) -> &'static str {
        match self {
            Self::User => "Users",
            Self::Group => "Groups",
        }
    }
    /// From a resource type name, case-insensitively.
    pub fn from_name(s: &str) -> Option<Self> {
        [Self::User, Self::Group]
            .into_iter()
            .find(|k| k.as_str().eq_ignore_ascii_case(s))
    }
}
