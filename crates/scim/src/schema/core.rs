//! The RFC 7643 §4 and §8.7.1 core schemas: User, Group, EnterpriseUser, and the common attributes (§3.1).
//!
//! Characteristics follow the RFC's schema representation (§8.7.1), with its known errata applied: `id` is
//! `returned: always`, `caseExact: true`, `uniqueness: server`; Group `displayName` is required (§4.2 text);
//! `groups` sub-attributes are read-only.

use super::{AttrType, Attribute, Mutability, Returned, Uniqueness};

/// The core User schema URN.
pub const CORE_USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
/// The core Group schema URN.
pub const CORE_GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
/// The enterprise User extension URN.
pub const ENTERPRISE_USER: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

fn s(name: &str) -> Attribute {
    Attribute::new(name, AttrType::String)
}
fn b(name: &str) -> Attribute {
    Attribute::new(name, AttrType::Boolean)
}
fn r(name: &str, types: &[&str]) -> Attribute {
    Attribute::new(name, AttrType::Reference).refs(types)
}
fn c(name: &str, subs: Vec<Attribute>) -> Attribute {
    Attribute::new(name, AttrType::Complex).subs(subs)
}

/// The `value`, `display`, `type`, `primary` quartet of RFC 7643 multi-valued attributes.
fn multi_quartet(name: &str, value: Attribute, types: &[&str], describe: &str) -> Attribute {
    c(
        name,
        vec![
            value,
            s("display").describe("A human-readable name, primarily used for display purposes."),
            s("type")
                .canonical(types)
                .describe("A label indicating the attribute's function."),
            b("primary")
                .describe("Whether this value is the preferred one. At most one value may be primary."),
        ],
    )
    .multi()
    .describe(describe)
}

/// `id`, `externalId` and `meta`, the attributes every resource has (RFC 7643 §3.1).
pub fn common_attributes() -> Vec<Attribute> {
    vec![
        s("id")
            .case_exact()
            .mutability(Mutability::ReadOnly)
            .returned(Returned::Always)
            .uniqueness(Uniqueness::Server)
            .describe("Unique identifier for the resource, assigned by the service provider."),
        s("externalId")
            .case_exact()
            .describe("Identifier of the resource as defined by the provisioning client."),
        c(
            "meta",
            vec![
                s("resourceType").case_exact().mutability(Mutability::ReadOnly),
                Attribute::new("created", AttrType::DateTime).mutability(Mutability::ReadOnly),
                Attribute::new("lastModified", AttrType::DateTime).mutability(Mutability::ReadOnly),
                r("location", &["uri"])
                    .case_exact()
                    .mutability(Mutability::ReadOnly),
                s("version").case_exact().mutability(Mutability::ReadOnly),
            ],
        )
        .mutability(Mutability::ReadOnly)
        .describe("Resource metadata."),
    ]
}

/// The core User schema (RFC 7643 §4.1, §8.7.1).
pub fn user_schema() -> super::Schema {
    let name = c(
        "name",
        vec![
            s("formatted").describe("The full name, formatted for display."),
            s("familyName").describe("The family name (last name in most Western languages)."),
            s("givenName").describe("The given name (first name in most Western languages)."),
            s("middleName"),
            s("honorificPrefix").describe("For example 'Ms.'."),
            s("honorificSuffix").describe("For example 'III'."),
        ],
    )
    .describe("The components of the user's real name.");
    let addresses = c(
        "addresses",
        vec![
            s("formatted"),
            s("streetAddress"),
            s("locality"),
            s("region"),
            s("postalCode"),
            s("country").describe("ISO 3166-1 alpha-2 country code."),
            s("type").canonical(&["work", "home", "other"]),
            b("primary"),
        ],
    )
    .multi()
    .describe("A physical mailing address for this user.");
    let groups = c(
        "groups",
        vec![
            s("value")
                .mutability(Mutability::ReadOnly)
                .describe("The identifier of the user's group."),
            r("$ref", &["User", "Group"]).mutability(Mutability::ReadOnly),
            s("display").mutability(Mutability::ReadOnly),
            s("type")
                .canonical(&["direct", "indirect"])
                .mutability(Mutability::ReadOnly),
        ],
    )
    .multi()
    .mutability(Mutability::ReadOnly)
    .describe("The groups the user belongs to, directly or through nested groups. Read-only.");
    super::Schema {
        id: CORE_USER.into(),
        name: "User".into(),
        description: "User Account".into(),
        attributes: vec![
            s("userName").required().uniqueness(Uniqueness::Server).describe(
                "Unique identifier for the user, typically used to sign in. Compared case-insensitively.",
            ),
            name,
            s("displayName").describe("The name of the user, suitable for display to end-users."),
            s("nickName").describe("The casual way to address the user."),
            r("profileUrl", &["external"]).describe("A URI pointing to the user's online profile."),
            s("title").describe("The user's title, such as 'Vice President'."),
            s("userType").describe("The relationship between the organization and the user."),
            s("preferredLanguage").describe("The user's preferred language (RFC 7231 Accept-Language form)."),
            s("locale").describe("The user's default location (for example 'en-US')."),
            s("timezone").describe("The user's time zone in IANA form (for example 'America/Los_Angeles')."),
            b("active").describe("The user's administrative status."),
            s("password")
                .mutability(Mutability::WriteOnly)
                .returned(Returned::Never)
                .describe("The user's cleartext password, write-only."),
            multi_quartet(
                "emails",
                s("value").describe("An email address, canonicalized per RFC 5321."),
                &["work", "home", "other"],
                "Email addresses for the user.",
            ),
            multi_quartet(
                "phoneNumbers",
                s("value").describe("A phone number, preferably in RFC 3966 form."),
                &["work", "home", "mobile", "fax", "pager", "other"],
                "Phone numbers for the user.",
            ),
            multi_quartet(
                "ims",
                s("value"),
                &["aim", "gtalk", "icq", "xmpp", "msn", "skype", "qq", "yahoo"],
                "Instant messaging addresses for the user.",
            ),
            multi_quartet(
                "photos",
                r("value", &["external"]),
                &["photo", "thumbnail"],
                "URLs of photos of the user.",
            ),
            addresses,
            groups,
            multi_quartet("entitlements", s("value"), &[], "Entitlements of the user."),
            multi_quartet("roles", s("value"), &[], "Roles of the user."),
            multi_quartet(
                "x509Certificates",
                Attribute::new("value", AttrType::Binary),
                &[],
                "DER-encoded X.509 certificates, base64.",
            ),
        ],
    }
}

/// The core Group schema (RFC 7643 §4.2, §8.7.1).
pub fn group_schema() -> super::Schema {
    super::Schema {
        id: CORE_GROUP.into(),
        name: "Group".into(),
        description: "Group".into(),
        attributes: vec![
            s("displayName")
                .required()
                .describe("A human-readable name for the group."),
            c(
                "members",
                vec![
                    s("value")
                        .mutability(Mutability::Immutable)
                        .describe("Identifier of the member."),
                    r("$ref", &["User", "Group"]).mutability(Mutability::Immutable),
                    s("display").mutability(Mutability::Immutable),
                    s("type")
                        .canonical(&["User", "Group"])
                        .mutability(Mutability::Immutable),
                ],
            )
            .multi()
            .describe("A list of members of the group: users or groups."),
        ],
    }
}

/// The enterprise User extension (RFC 7643 §4.3, §8.7.1).
pub fn enterprise_user_schema() -> super::Schema {
    super::Schema {
        id: ENTERPRISE_USER.into(),
        name: "EnterpriseUser".into(),
        description: "Enterprise User".into(),
        attributes: vec![
            s("employeeNumber").describe("Numeric or alphanumeric identifier assigned to a person."),
            s("costCenter"),
            s("organization"),
            s("division"),
            s("department"),
            c(
                "manager",
                vec![
                    s("value").describe("The id of the SCIM resource representing the user's manager."),
                    r("$ref", &["User"]),
                    s("displayName").mutability(Mutability::ReadOnly),
                ],
            )
            .describe("The user's manager."),
        ],
    }
}
