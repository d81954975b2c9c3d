//! PATCH paths (RFC 7644 §3.5.2): an attribute path ([`AttrPath`], in [`crate::attr`]) that may also carry a
//! value filter and a sub-attribute after it: `emails[type eq "work"].value`.

pub use crate::attr::{AttrPath, is_attr_name};
use crate::error::ScimError;
use crate::filter::Filter;
use std::fmt;

/// A PATCH path: an attribute path, optionally with a value filter and a sub-attribute after the filter.
#[derive(Debug, Clone, PartialEq)]
pub struct PatchPath {
    /// The attribute (with `sub` set for `name.givenName`; never set when `filter` is).
    pub attr: AttrPath,
    /// The value filter of `emails[type eq "work"]`.
    pub filter: Option<Filter>,
    /// The sub-attribute after the filter, `value` in `emails[type eq "work"].value`.
    pub sub_after_filter: Option<String>,
}

impl PatchPath {
    /// Parses `attrPath / valuePath [subAttr]`; a path that is only a schema URN (the whole extension) parses
    /// with `name` empty and `uri` set, so callers can tell it apart.
    pub fn parse(s: &str) -> Result<Self, ScimError> {
        let s = s.trim();
        let Some(open) = s.find('[') else {
            return Ok(Self {
                attr: AttrPath::parse(s)?,
                filter: None,
                sub_after_filter: None,
            });
        };
        let close = s
            .rfind(']')
            .filter(|&c| c > open)
            .ok_or_else(|| ScimError::invalid_path(format!("'{s}': '[' without a matching ']'")))?;
        let attr = AttrPath::parse(&s[..open])?;
        if attr.sub.is_some() {
            return Err(ScimError::invalid_path(format!(
                "'{s}': a value filter must follow a multi-valued attribute, not a sub-attribute"
            )));
        }
        let filter = crate::filter::parse_value_filter(&s[open + 1..close])
            .map_err(|e| ScimError::invalid_path(format!("'{s}': {}", e.detail)))?;
        let tail = &s[close + 1..];
        let sub_after_filter = if tail.is_empty() {
            None
        } else {
            let sub = tail
                .strip_prefix('.')
                .filter(|t| is_attr_name(t))
                .ok_or_else(|| ScimError::invalid_path(format!("'{s}': unexpected '{tail}' after ']'")))?;
            Some(sub.to_owned())
        };
        Ok(Self {
            attr,
            filter: Some(filter),
            sub_after_filter,
        })
    }
}

impl From<AttrPath> for PatchPath {
    /// The path to an attribute, without a value filter.
    fn from(attr: AttrPath) -> Self {
        Self {
            attr,
            filter: None,
            sub_after_filter: None,
        }
    }
}

impl fmt::Display for PatchPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.attr)?;
        if let Some(filter) = &self.filter {
            write!(f, "[{filter}]")?;
        }
        if let Some(sub) = &self.sub_after_filter {
            write!(f, ".{sub}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_plain_sub_and_urn_paths() {
        assert_eq!(AttrPath::parse("userName").unwrap(), AttrPath::new("userName"));
        let p = AttrPath::parse("name.givenName").unwrap();
        assert_eq!((p.name.as_str(), p.sub.as_deref()), ("name", Some("givenName")));
        let p = AttrPath::parse("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value")
            .unwrap();
        assert_eq!(
            p.uri.as_deref(),
            Some("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User")
        );
        assert_eq!((p.name.as_str(), p.sub.as_deref()), ("manager", Some("value")));
        assert_eq!(
            p.to_string(),
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value"
        );
        assert!(AttrPath::parse("members.$ref").is_ok());
    }

    #[test]
    fn rejects_illegal_paths() {
        for bad in ["", "1abc", "a b", "name.", ".x", "a.b.c", "urn:", "na$me"] {
            let e = AttrPath::parse(bad).unwrap_err();
            assert_eq!(e.kind, crate::ErrorKind::InvalidPath, "{bad}");
        }
    }

    /// Found by the filter fuzz target: slicing a multi-byte character panicked.
    #[test]
    fn non_ascii_input_is_an_error_not_a_panic() {
        for s in ["ñññ", "uñn:x", "urñ:a:b", "é.é", "a.é"] {
            assert_eq!(
                AttrPath::parse(s).unwrap_err().kind,
                crate::ErrorKind::InvalidPath,
                "{s}"
            );
        }
        assert!(crate::filter::parse("uñn:x pr").is_err());
        assert!(PatchPath::parse("emañls[type eq \"é\"]").is_err());
    }

    #[test]
    fn parses_patch_value_paths() {
        let p = PatchPath::parse(r#"emails[type eq "work"].value"#).unwrap();
        assert_eq!(p.attr.name, "emails");
        assert_eq!(p.sub_after_filter.as_deref(), Some("value"));
        assert_eq!(p.to_string(), r#"emails[type eq "work"].value"#);
        let p = PatchPath::parse(r#"members[value eq "2819c223-7f76-453a-919d-413861904646"]"#).unwrap();
        assert!(p.filter.is_some() && p.sub_after_filter.is_none());
        for bad in [
            r#"emails[type eq "work""#,
            r#"emails[type eq "work"]x"#,
            r#"name.givenName[type eq "x"]"#,
        ] {
            assert_eq!(
                PatchPath::parse(bad).unwrap_err().kind,
                crate::ErrorKind::InvalidPath,
                "{bad}"
            );
        }
    }
}
