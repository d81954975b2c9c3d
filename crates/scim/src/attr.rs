//! Attribute paths (RFC 7644 §3.10): `attrPath = [URI ":"] ATTRNAME *1subAttr`: `userName`, `name.givenName`,
//! `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value`. The URI is everything before the
//! last `:`, which is unambiguous because attribute names cannot contain `:` while schema URNs may contain `.`.
//! Filters and PATCH paths are built on them (they import this module, never the other way).

use crate::error::ScimError;
use std::fmt;

/// Whether `s` is a legal attribute name: `ALPHA *(nameChar)` with `nameChar = "-" / "_" / DIGIT / ALPHA`, or
/// `$ref`.
pub fn is_attr_name(s: &str) -> bool {
    if s == "$ref" {
        return true;
    }
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// An attribute path: optional schema URI, attribute name, optional sub-attribute.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AttrPath {
    /// The schema URN the attribute belongs to, when the path is fully qualified.
    pub uri: Option<String>,
    /// The attribute name.
    pub name: String,
    /// The sub-attribute name, for `name.givenName`.
    pub sub: Option<String>,
}

impl AttrPath {
    /// An unqualified path to `name`.
    pub fn new(name: &str) -> Self {
        Self {
            uri: None,
            name: name.to_owned(),
            sub: None,
        }
    }

    /// Parses `[URI ":"] ATTRNAME ["." subAttr]`.
    pub fn parse(s: &str) -> Result<Self, ScimError> {
        let bad = |why: &str| ScimError::invalid_path(format!("'{s}' is not a valid attribute path: {why}"));
        let (uri, rest) = if s.len() > 4 && s.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("urn:")) {
            let idx = s
                .rfind(':')
                .ok_or_else(|| bad("missing attribute name after the schema URN"))?;
            (Some(s[..idx].to_owned()), &s[idx + 1..])
        } else {
            (None, s)
        };
        let (name, sub) = match rest.split_once('.') {
            Some((n, sub)) => (n, Some(sub)),
            None => (rest, None),
        };
        if !is_attr_name(name) {
            return Err(bad(&format!("'{name}' is not a legal attribute name")));
        }
        if let Some(sub) = sub
            && !is_attr_name(sub)
        {
            return Err(bad(&format!("'{sub}' is not a legal sub-attribute name")));
        }
        Ok(Self {
            uri,
            name: name.to_owned(),
            sub: sub.map(str::to_owned),
        })
    }

    /// Whether this path names the same attribute as `other`, comparing case-insensitively.
    pub fn eq_ignore_case(&self, other: &AttrPath) -> bool {
        let opt = |a: &Option<String>, b: &Option<String>| match (a, b) {
            (Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
            (None, None) => true,
            _ => false,
        };
        opt(&self.uri, &other.uri)
            && self.name.eq_ignore_ascii_case(&other.name)
            && opt(&self.sub, &other.sub)
    }
}

impl fmt::Display for AttrPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(uri) = &self.uri {
            write!(f, "{uri}:")?;
        }
        f.write_str(&self.name)?;
        if let Some(sub) = &self.sub {
            write!(f, ".{sub}")?;
        }
        Ok(())
    }
}
