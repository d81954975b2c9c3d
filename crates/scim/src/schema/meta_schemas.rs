//! The protocol schemas of RFC 7643 §5–§7 (§8.7.2): ServiceProviderConfig, ResourceType and Schema, so that
//! `/Schemas` describes the discovery resources too.

use super::{AttrType, Attribute, Mutability, Returned, Schema};

/// The ServiceProviderConfig schema URN.
pub const SERVICE_PROVIDER_CONFIG_SCHEMA: &str =
    "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig";
/// roster's extension of the ServiceProviderConfig: the limits on what one request and one resource may hold,
/// which RFC 7643 has no attribute for.
pub const LIMITS_SCHEMA: &str = "urn:ietf:params:scim:schemas:extension:roster:2.0:ServiceProviderConfig";
/// The ResourceType schema URN.
pub const RESOURCE_TYPE_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:ResourceType";
/// The Schema schema URN.
pub const SCHEMA_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Schema";

fn ro(name: &str, kind: AttrType) -> Attribute {
    Attribute::new(name, kind).mutability(Mutability::ReadOnly)
}
fn supported(name: &str, extra: Vec<Attribute>) -> Attribute {
    let mut subs = vec![ro("supported", AttrType::Boolean).required()];
    subs.extend(extra);
    ro(name, AttrType::Complex).required().subs(subs)
}

/// RFC 7643 §5.
pub fn service_provider_config_schema() -> Schema {
    Schema {
        id: SERVICE_PROVIDER_CONFIG_SCHEMA.into(),
        name: "Service Provider Configuration".into(),
        description: "Schema for representing the service provider's configuration".into(),
        attributes: vec![
            ro("documentationUri", AttrType::Reference).refs(&["external"]),
            supported("patch", vec![]),
            supported(
                "bulk",
                vec![
                    ro("maxOperations", AttrType::Integer).required(),
                    ro("maxPayloadSize", AttrType::Integer).required(),
                ],
            ),
            supported("filter", vec![ro("maxResults", AttrType::Integer).required()]),
            supported("changePassword", vec![]),
            supported("sort", vec![]),
            supported("etag", vec![]),
            ro("authenticationSchemes", AttrType::Complex)
                .required()
                .multi()
                .subs(vec![
                    ro("type", AttrType::String).required().canonical(&[
                        "oauth",
                        "oauth2",
                        "oauthbearertoken",
                        "httpbasic",
                        "httpdigest",
                    ]),
                    ro("name", AttrType::String).required(),
                    ro("description", AttrType::String).required(),
                    ro("specUri", AttrType::Reference).refs(&["external"]),
                    ro("documentationUri", AttrType::Reference).refs(&["external"]),
                    ro("primary", AttrType::Boolean),
                ]),
        ],
    }
}

/// [`LIMITS_SCHEMA`]: each limit an integer, beyond which a request is refused with `invalidValue` or
/// `invalidFilter` naming the limit. Its attributes are returned on request only (`attributes=` naming the
/// extension), so a client that validates the ServiceProviderConfig strictly never sees an extension it does not
/// know.
pub fn limits_schema() -> Schema {
    let limit = |name: &str, what: &str| {
        ro(name, AttrType::Integer)
            .required()
            .returned(Returned::Request)
            .describe(what)
    };
    Schema {
        id: LIMITS_SCHEMA.into(),
        name: "Limits".into(),
        description: "What one request and one resource may hold on this service provider".into(),
        attributes: vec![
            limit(
                "maxStringLength",
                "Longest string, reference or dateTime value, in characters",
            ),
            limit("maxBinaryLength", "Longest binary value (base64), in characters"),
            limit(
                "maxValues",
                "Most values of one multi-valued attribute (a Group's members excepted)",
            ),
            limit("maxMembers", "Most members of one Group"),
            limit("maxFilterLength", "Longest filter, in bytes"),
            limit("maxFilterTerms", "Most comparisons in one filter"),
            limit(
                "maxFilterDepth",
                "Deepest nesting of parentheses and value paths in one filter",
            ),
            limit("maxPatchOperations", "Most operations in one PATCH request"),
            limit(
                "maxAttributePaths",
                "Most paths in attributes or excludedAttributes",
            ),
        ],
    }
}

/// RFC 7643 §6.
pub fn resource_type_schema() -> Schema {
    Schema {
        id: RESOURCE_TYPE_SCHEMA.into(),
        name: "ResourceType".into(),
        description: "Specifies the schema that describes a SCIM resource type".into(),
        attributes: vec![
            ro("id", AttrType::String),
            ro("name", AttrType::String).required(),
            ro("description", AttrType::String),
            ro("endpoint", AttrType::Reference).required().refs(&["uri"]),
            ro("schema", AttrType::Reference)
                .required()
                .case_exact()
                .refs(&["uri"]),
            ro("schemaExtensions", AttrType::Complex).multi().subs(vec![
                ro("schema", AttrType::Reference)
                    .required()
                    .case_exact()
                    .refs(&["uri"]),
                ro("required", AttrType::Boolean).required(),
            ]),
        ],
    }
}

/// RFC 7643 §7. Sub-attribute definitions are described once; `subAttributes` repeats the attribute shape.
pub fn schema_schema() -> Schema {
    let characteristics = || {
        vec![
            ro("name", AttrType::String).required().case_exact(),
            ro("type", AttrType::String).required().canonical(&[
                "string",
                "complex",
                "boolean",
                "decimal",
                "integer",
                "dateTime",
                "reference",
                "binary",
            ]),
            ro("multiValued", AttrType::Boolean).required(),
            ro("description", AttrType::String),
            ro("required", AttrType::Boolean),
            ro("canonicalValues", AttrType::String).multi(),
            ro("caseExact", AttrType::Boolean),
            ro("mutability", AttrType::String).canonical(&[
                "readOnly",
                "readWrite",
                "immutable",
                "writeOnly",
            ]),
            ro("returned", AttrType::String).canonical(&["always", "never", "default", "request"]),
            ro("uniqueness", AttrType::String).canonical(&["none", "server", "global"]),
            ro("referenceTypes", AttrType::String).multi(),
        ]
    };
    let mut attribute_subs = characteristics();
    attribute_subs.push(
        ro("subAttributes", AttrType::Complex)
            .multi()
            .returned(Returned::Default)
            .subs(characteristics()),
    );
    Schema {
        id: SCHEMA_SCHEMA.into(),
        name: "Schema".into(),
        description: "Specifies the schema attribute definitions".into(),
        attributes: vec![
            ro("id", AttrType::String).required(),
            ro("name", AttrType::String),
            ro("description", AttrType::String),
            ro("attributes", AttrType::Complex)
                .required()
                .multi()
                .subs(attribute_subs),
        ],
    }
}
