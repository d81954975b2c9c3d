//! Schemas (RFC 7643 §2, §7, §8.7): attribute definitions with every characteristic, the schema and resource-type
//! resources, and the [`SchemaRegistry`] that holds the core schemas plus any extension registered at run time.
//!
//! Attribute definitions serialize to exactly the RFC 7643 §7 representation, so the registry can serve
//! `/Schemas` and `/ResourceTypes` as they are, and an extension schema can be registered from that JSON.

mod core;
mod meta_schemas;

use crate::error::ScimError;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

pub use core::{
    CORE_GROUP, CORE_USER, ENTERPRISE_USER, common_attributes, enterprise_user_schema, group_schema,
    user_schema,
};
pub use meta_schemas::{
    LIMITS_SCHEMA, RESOURCE_TYPE_SCHEMA, SCHEMA_SCHEMA, SERVICE_PROVIDER_CONFIG_SCHEMA, limits_schema,
    resource_type_schema, schema_schema, service_provider_config_schema,
};

/// An attribute's data type (RFC 7643 §2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum AttrType {
    /// A Unicode string.
    String,
    /// `true` or `false`.
    Boolean,
    /// A real number.
    Decimal,
    /// A whole number.
    Integer,
    /// An `xsd:dateTime` (RFC 3339) string.
    DateTime,
    /// Base64-encoded bytes; always case-exact.
    Binary,
    /// A URI.
    Reference,
    /// An object of sub-attributes.
    Complex,
}

/// Whether and when an attribute may be written (RFC 7643 §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub enum Mutability {
    /// Never written by clients; ignored on input.
    ReadOnly,
    /// Freely written.
    #[default]
    ReadWrite,
    /// Written once (on create or when unset), never changed afterwards.
    Immutable,
    /// Written but never returned (passwords).
    WriteOnly,
}

/// When an attribute is returned (RFC 7643 §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub enum Returned {
    /// Always returned, whatever `attributes`/`excludedAttributes` say.
    Always,
    /// Never returned.
    Never,
    /// Returned unless excluded or unless `attributes` names others.
    #[default]
    Default,
    /// Returned only when named in `attributes`.
    Request,
}

/// How unique a value must be (RFC 7643 §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub enum Uniqueness {
    /// No constraint.
    #[default]
    None,
    /// Unique within this service provider.
    Server,
    /// Globally unique.
    Global,
}

/// One attribute definition with all its characteristics (RFC 7643 §2.2, §7).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Attribute {
    /// The attribute name, in its canonical case.
    pub name: String,
    /// The data type.
    #[serde(rename = "type")]
    pub kind: AttrType,
    /// Whether the attribute holds an array of values.
    #[serde(default)]
    pub multi_valued: bool,
    /// Human-readable description.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// Whether a value is required on create and replace.
    #[serde(default)]
    pub required: bool,
    /// Suggested values (not enforced; RFC 7643 §2.3.1 lets servers accept others).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub canonical_values: Vec<String>,
    /// Whether string comparison is case-sensitive.
    #[serde(default)]
    pub case_exact: bool,
    /// Who may write the attribute.
    #[serde(default)]
    pub mutability: Mutability,
    /// When the attribute is returned.
    #[serde(default)]
    pub returned: Returned,
    /// How unique values must be.
    #[serde(default)]
    pub uniqueness: Uniqueness,
    /// For references: the resource types or `external`/`uri` they point at.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reference_types: Vec<String>,
    /// For complex attributes: the sub-attributes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sub_attributes: Vec<Attribute>,
}

impl Attribute {
    /// A single-valued, optional, read-write string attribute: the most common shape. Adjust with the builder
    /// methods below.
    pub fn new(name: &str, kind: AttrType) -> Self {
        Self {
            name: name.to_owned(),
            kind,
            multi_valued: false,
            description: String::new(),
            required: false,
            canonical_values: Vec::new(),
            case_exact: matches!(kind, AttrType::Binary),
            mutability: Mutability::ReadWrite,
            returned: Returned::Default,
            uniqueness: Uniqueness::None,
            reference_types: Vec::new(),
            sub_attributes: Vec::new(),
        }
    }
    /// Sets the description.
    pub fn describe(mut self, d: &str) -> Self {
        self.description = d.to_owned();
        self
    }
    /// Marks the attribute multi-valued.
    pub fn multi(mut self) -> Self {
        self.multi_valued = true;
        self
    }
    /// Marks the attribute required.
    pub fn required(mut self) -> Self {
        self.required = true;
        self
    }
    /// Marks string comparison case-sensitive.
    pub fn case_exact(mut self) -> Self {
        self.case_exact = true;
        self
    }
    /// Sets the mutability.
    pub fn mutability(mut self, m: Mutability) -> Self {
        self.mutability = m;
        self
    }
    /// Sets when the attribute is returned.
    pub fn returned(mut self, r: Returned) -> Self {
        self.returned = r;
        self
    }
    /// Sets the uniqueness.
    pub fn uniqueness(mut self, u: Uniqueness) -> Self {
        self.uniqueness = u;
        self
    }
    /// Sets the canonical values.
    pub fn canonical(mut self, values: &[&str]) -> Self {
        self.canonical_values = values.iter().map(|s| (*s).to_owned()).collect();
        self
    }
    /// Sets the reference types.
    pub fn refs(mut self, types: &[&str]) -> Self {
        self.reference_types = types.iter().map(|s| (*s).to_owned()).collect();
        self
    }
    /// Sets the sub-attributes (the type should be complex).
    pub fn subs(mut self, subs: Vec<Attribute>) -> Self {
        self.sub_attributes = subs;
        self
    }

    /// The sub-attribute named `name`, case-insensitively.
    pub fn sub_attribute(&self, name: &str) -> Option<&Attribute> {
        self.sub_attributes
            .iter()
            .find(|a| a.name.eq_ignore_ascii_case(name))
    }

    /// Whether clients may never write this attribute.
    pub fn is_read_only(&self) -> bool {
        self.mutability == Mutability::ReadOnly
    }
}

/// A schema (RFC 7643 §7): a URN id and its attributes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Schema {
    /// The schema URN.
    pub id: String,
    /// Human-readable name.
    #[serde(default)]
    pub name: String,
    /// Human-readable description.
    #[serde(default)]
    pub description: String,
    /// The attributes.
    pub attributes: Vec<Attribute>,
}

impl Schema {
    /// The attribute named `name`, case-insensitively.
    pub fn attribute(&self, name: &str) -> Option<&Attribute> {
        self.attributes.iter().find(|a| a.name.eq_ignore_ascii_case(name))
    }

    /// Reads a schema from its RFC 7643 §7 JSON representation (as served at `/Schemas/{id}`), checking that
    /// every attribute name is legal and every complex attribute has sub-attributes.
    pub fn from_json(v: &Value) -> Result<Self, ScimError> {
        let schema: Schema = serde_json::from_value(v.clone())
            .map_err(|e| ScimError::invalid_syntax(format!("not a SCIM schema definition: {e}")))?;
        if !schema.id.to_ascii_lowercase().starts_with("urn:") {
            return Err(ScimError::invalid_value(format!(
                "schema id '{}' is not a URN",
                schema.id
            )));
        }
        fn check(attrs: &[Attribute]) -> Result<(), ScimError> {
            for a in attrs {
                if !crate::path::is_attr_name(&a.name) {
                    return Err(ScimError::invalid_value(format!(
                        "'{}' is not a legal attribute name",
                        a.name
                    )));
                }
                if a.kind == AttrType::Complex && a.sub_attributes.is_empty() {
                    return Err(ScimError::invalid_value(format!(
                        "complex attribute '{}' has no subAttributes",
                        a.name
                    )));
                }
                check(&a.sub_attributes)?;
            }
            Ok(())
        }
        check(&schema.attributes)?;
        Ok(schema)
    }

    /// The RFC 7643 §7 representation served at `/Schemas/{id}`, with `meta` filled in for `base_url`.
    pub fn to_resource(&self, base_url: &str) -> Value {
        json!({
            "schemas": [SCHEMA_SCHEMA],
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "attributes": self.attributes,
            "meta": {
                "resourceType": "Schema",
                "location": format!("{}/Schemas/{}", base_url.trim_end_matches('/'), self.id),
            }
        })
    }
}

/// An extension a resource type carries (RFC 7643 §6).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SchemaExtension {
    /// The extension schema URN.
    pub schema: String,
    /// Whether every resource must carry it.
    pub required: bool,
}

/// A resource type (RFC 7643 §6): name, endpoint, core schema and extensions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceType {
    /// The id, equal to the name (`User`).
    pub id: String,
    /// The name (`User`).
    pub name: String,
    /// The endpoint relative to the base URL (`/Users`).
    pub endpoint: String,
    /// Human-readable description.
    #[serde(default)]
    pub description: String,
    /// The core schema URN.
    pub schema: String,
    /// Extension schemas.
    #[serde(default)]
    pub schema_extensions: Vec<SchemaExtension>,
}

impl ResourceType {
    /// The RFC 7643 §6 representation served at `/ResourceTypes/{name}`.
    pub fn to_resource(&self, base_url: &str) -> Value {
        json!({
            "schemas": [RESOURCE_TYPE_SCHEMA],
            "id": self.id,
            "name": self.name,
            "endpoint": self.endpoint,
            "description": self.description,
            "schema": self.schema,
            "schemaExtensions": self.schema_extensions,
            "meta": {
                "resourceType": "ResourceType",
                "location": format!("{}/ResourceTypes/{}", base_url.trim_end_matches('/'), self.name),
            }
        })
    }
}

/// All schemas and resource types a service provider knows: the core User, Group and EnterpriseUser schemas,
/// the three protocol schemas, and any extension registered with [`SchemaRegistry::register_extension`].
#[derive(Debug, Clone)]
pub struct SchemaRegistry {
    schemas: Vec<Schema>,
    resource_types: Vec<ResourceType>,
    common: Vec<Attribute>,
}

impl Default for SchemaRegistry {
    fn default() -> Self {
        Self::new()
    }
}

impl SchemaRegistry {
    /// A registry with the RFC 7643 core schemas and the `User` (with the optional enterprise extension) and
    /// `Group` resource types.
    pub fn new() -> Self {
        Self {
            schemas: vec![
                user_schema(),
                group_schema(),
                enterprise_user_schema(),
                service_provider_config_schema(),
                limits_schema(),
                resource_type_schema(),
                schema_schema(),
            ],
            resource_types: vec![
                ResourceType {
                    id: "User".into(),
                    name: "User".into(),
                    endpoint: "/Users".into(),
                    description: "User Account".into(),
                    schema: CORE_USER.into(),
                    schema_extensions: vec![SchemaExtension {
                        schema: ENTERPRISE_USER.into(),
                        required: false,
                    }],
                },
                ResourceType {
                    id: "Group".into(),
                    name: "Group".into(),
                    endpoint: "/Groups".into(),
                    description: "Group".into(),
                    schema: CORE_GROUP.into(),
                    schema_extensions: Vec::new(),
                },
            ],
            common: common_attributes(),
        }
    }

    /// Registers `schema` as an extension of the resource type `resource_type` (for example Adobe's
    /// `urn:ietf:params:scim:schemas:extension:Adobe:2.0:User` on `User`). Re-registering a URN replaces it.
    pub fn register_extension(
        &mut self,
        resource_type: &str,
        schema: Schema,
        required: bool,
    ) -> Result<(), ScimError> {
        let rt = self
            .resource_types
            .iter_mut()
            .find(|r| r.name.eq_ignore_ascii_case(resource_type))
            .ok_or_else(|| ScimError::invalid_value(format!("unknown resource type '{resource_type}'")))?;
        if schema.id.eq_ignore_ascii_case(&rt.schema) {
            return Err(ScimError::invalid_value(format!(
                "'{}' is the core schema of {}",
                schema.id, rt.name
            )));
        }
        rt.schema_extensions
            .retain(|e| !e.schema.eq_ignore_ascii_case(&schema.id));
        rt.schema_extensions.push(SchemaExtension {
            schema: schema.id.clone(),
            required,
        });
        self.schemas.retain(|s| !s.id.eq_ignore_ascii_case(&schema.id));
        self.schemas.push(schema);
        Ok(())
    }

    /// Every schema, core first.
    pub fn schemas(&self) -> &[Schema] {
        &self.schemas
    }

    /// The schema with URN `id`, case-insensitively.
    pub fn schema(&self, id: &str) -> Option<&Schema> {
        self.schemas.iter().find(|s| s.id.eq_ignore_ascii_case(id))
    }

    /// Every resource type.
    pub fn resource_types(&self) -> &[ResourceType] {
        &self.resource_types
    }

    /// The attributes common to every resource: `id`, `externalId`, `meta` (RFC 7643 §3.1).
    pub fn common_attributes(&self) -> &[Attribute] {
        &self.common
    }

    /// A view of one resource type for validation, filtering, PATCH and projection.
    pub fn resource(&self, name: &str) -> Option<ResourceSchema<'_>> {
        let rt = self
            .resource_types
            .iter()
            .find(|r| r.name.eq_ignore_ascii_case(name))?;
        let core = self.schema(&rt.schema)?;
        let extensions = rt
            .schema_extensions
            .iter()
            .filter_map(|e| self.schema(&e.schema).map(|s| (s, e.required)))
            .collect();
        Some(ResourceSchema {
            resource_type: rt,
            core,
            extensions,
            common: &self.common,
        })
    }
}

/// Where a resolved attribute lives in a resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Location<'a> {
    /// At the top level (core or common attribute).
    Core,
    /// Inside the extension object keyed by this schema URN.
    Extension(&'a Schema),
}

/// One resource type with its schemas resolved: what validation, filters, PATCH and projection consult.
#[derive(Debug, Clone)]
pub struct ResourceSchema<'a> {
    /// The resource type.
    pub resource_type: &'a ResourceType,
    /// Its core schema.
    pub core: &'a Schema,
    /// Its extension schemas and whether each is required.
    pub extensions: Vec<(&'a Schema, bool)>,
    /// The common attributes.
    pub common: &'a [Attribute],
}

impl<'a> ResourceSchema<'a> {
    /// The extension schema with URN `urn`, case-insensitively.
    pub fn extension(&self, urn: &str) -> Option<&'a Schema> {
        self.extensions
            .iter()
            .map(|(s, _)| *s)
            .find(|s| s.id.eq_ignore_ascii_case(urn))
    }

    /// Whether `urn` is the core schema or one of the extensions.
    pub fn knows_schema(&self, urn: &str) -> bool {
        self.core.id.eq_ignore_ascii_case(urn) || self.extension(urn).is_some()
    }

    /// Resolves a top-level attribute: `uri` (if any) picks the schema; without it the core and common
    /// attributes are searched first, then the extensions (so clients that leave extension attributes
    /// unqualified still work, as long as the name is unambiguous).
    pub fn resolve(&self, uri: Option<&str>, name: &str) -> Option<(Location<'a>, &'a Attribute)> {
        match uri {
            Some(u) if self.core.id.eq_ignore_ascii_case(u) => {
                self.core.attribute(name).map(|a| (Location::Core, a))
            }
            Some(u) => {
                let ext = self.extension(u)?;
                ext.attribute(name).map(|a| (Location::Extension(ext), a))
            }
            None => {
                if let Some(a) = self.core.attribute(name) {
                    return Some((Location::Core, a));
                }
                if let Some(a) = self.common.iter().find(|a| a.name.eq_ignore_ascii_case(name)) {
                    return Some((Location::Core, a));
                }
                let mut found = self
                    .extensions
                    .iter()
                    .filter_map(|(s, _)| s.attribute(name).map(|a| (Location::Extension(s), a)));
                let first = found.next()?;
                found.next().is_none().then_some(first)
            }
        }
    }

    /// Core and common attributes, in schema order (common first).
    pub fn top_level(&self) -> impl Iterator<Item = &'a Attribute> + '_ {
        self.common.iter().chain(self.core.attributes.iter())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_resolves_core_common_and_extension_attributes() {
        let reg = SchemaRegistry::new();
        let user = reg.resource("user").unwrap();
        let (loc, a) = user.resolve(None, "USERNAME").unwrap();
        assert_eq!((loc, a.name.as_str()), (Location::Core, "userName"));
        assert_eq!(
            user.resolve(None, "id").unwrap().1.mutability,
            Mutability::ReadOnly
        );
        let (loc, a) = user.resolve(Some(ENTERPRISE_USER), "employeenumber").unwrap();
        assert_eq!(a.name, "employeeNumber");
        assert!(matches!(loc, Location::Extension(s) if s.id == ENTERPRISE_USER));
        // Unqualified extension attribute found when unambiguous.
        assert!(matches!(
            user.resolve(None, "costCenter"),
            Some((Location::Extension(_), _))
        ));
        assert!(user.resolve(None, "nope").is_none());
        assert!(user.resolve(Some("urn:unknown"), "userName").is_none());
    }

    #[test]
    fn registers_adobe_extension_from_json() {
        let mut reg = SchemaRegistry::new();
        let schema = Schema::from_json(&json!({
            "id": "urn:ietf:params:scim:schemas:extension:Adobe:2.0:User",
            "name": "AdobeUser",
            "attributes": [{"name": "organizationalUnit", "type": "string"}]
        }))
        .unwrap();
        let a = &schema.attributes[0];
        assert_eq!(
            (a.mutability, a.returned, a.multi_valued, a.case_exact),
            (Mutability::ReadWrite, Returned::Default, false, false)
        );
        reg.register_extension("User", schema, false).unwrap();
        let user = reg.resource("User").unwrap();
        let (_, a) = user
            .resolve(
                Some("urn:ietf:params:scim:schemas:extension:adobe:2.0:user"),
                "organizationalunit",
            )
            .unwrap();
        assert_eq!(a.name, "organizationalUnit");
        assert_eq!(user.extensions.len(), 2);
        assert!(reg.register_extension("Device", user_schema(), false).is_err());
    }

    #[test]
    fn rejects_malformed_schema_definitions() {
        let bad_name = json!({"id": "urn:x:y", "attributes": [{"name": "1abc", "type": "string"}]});
        assert!(Schema::from_json(&bad_name).is_err());
        let no_subs = json!({"id": "urn:x:y", "attributes": [{"name": "a", "type": "complex"}]});
        assert!(Schema::from_json(&no_subs).is_err());
        let not_urn = json!({"id": "Foo", "attributes": []});
        assert!(Schema::from_json(&not_urn).is_err());
        let bad_type = json!({"id": "urn:x:y", "attributes": [{"name": "a", "type": "text"}]});
        assert!(Schema::from_json(&bad_type).is_err());
    }

    #[test]
    fn schema_resource_serializes_rfc_characteristics() {
        let reg = SchemaRegistry::new();
        let v = reg
            .schema(CORE_USER)
            .unwrap()
            .to_resource("https://example.com/v2/");
        assert_eq!(
            v["meta"]["location"],
            format!("https://example.com/v2/Schemas/{CORE_USER}")
        );
        let user_name = &v["attributes"][0];
        assert_eq!(user_name["name"], "userName");
        assert_eq!(user_name["type"], "string");
        assert_eq!(user_name["uniqueness"], "server");
        assert_eq!(user_name["mutability"], "readWrite");
        assert_eq!(user_name["required"], true);
        assert_eq!(user_name["caseExact"], false);
        assert_eq!(user_name["multiValued"], false);
        // Every serialized schema reads back identically.
        for s in reg.schemas() {
            let back = Schema::from_json(&serde_json::to_value(s).unwrap()).unwrap();
            assert_eq!(&back, s);
        }
    }
}
