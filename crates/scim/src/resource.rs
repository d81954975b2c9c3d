//! Resources: validation of a client's JSON against the registered schemas, and the canonical form roster
//! stores and returns.
//!
//! [`ResourceSchema::validate`] is the single gate for create (POST), replace (PUT) and the result of a PATCH:
//! - attribute names are matched case-insensitively and rewritten to the schema's case;
//! - values are type-checked (Entra-style `"True"`/`"False"` strings are accepted for booleans, a lone value for
//!   a multi-valued attribute is wrapped in an array);
//! - `readOnly` attributes in the input are ignored (RFC 7643 §7); on replace, `id`, `meta` and the other
//!   read-only attributes are carried over from the existing resource;
//! - `immutable` attributes cannot change once set (`mutability`), `writeOnly` ones are kept when omitted;
//! - `required` attributes must be present, at most one value of a multi-valued attribute may be `primary`;
//! - unknown attributes and schemas are rejected with a message naming them (or dropped, by option);
//! - the output lists `schemas`, `id`, `externalId`, the core attributes in schema order, the extensions, then
//!   `meta`.

use crate::error::ScimError;
use crate::path::AttrPath;
use crate::schema::{AttrType, Attribute, Mutability, ResourceSchema, Schema};
use crate::value::{get_ci, parse_bool, parse_datetime};
use serde_json::{Map, Value, json};
use time::OffsetDateTime;

/// What validation does with attributes and schemas it does not know.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UnknownAttributes {
    /// Reject the request with `invalidValue` naming the attribute (nothing is silently lost).
    #[default]
    Reject,
    /// Drop them.
    Ignore,
}

/// Validation options.
#[derive(Debug, Clone, Copy, Default)]
pub struct ValidateOptions {
    /// Unknown attribute policy.
    pub unknown: UnknownAttributes,
    /// Limits on the size of values.
    pub limits: Limits,
}

/// Limits on what one resource may hold, checked by validation (create, replace, and the result of a PATCH);
/// beyond them a value is `invalidValue` naming the attribute and the limit. They keep one client from storing
/// megabytes per person (a 1 MB `userName`, 20,000 emails) and every later read, index and sync from paying for
/// it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest string, reference or dateTime value, in characters. Real attributes are far shorter (Entra ID's
    /// userPrincipalName: 113; Okta's login: 100).
    pub max_string_chars: usize,
    /// Longest binary value (base64), in characters: room for an X.509 certificate chain or a small photo.
    pub max_binary_chars: usize,
    /// Most values of one multi-valued attribute (`emails`, `roles`, `entitlements`, …).
    pub max_values: usize,
    /// Most values of an attribute named `members` (a Group's): large groups are rows of their own in a store,
    /// so only a request's size bounds them.
    pub max_members: usize,
}

impl Limits {
    /// roster's limits.
    pub const DEFAULT: Self = Self {
        max_string_chars: 2048,
        max_binary_chars: 64 * 1024,
        max_values: 100,
        max_members: 1_000_000,
    };

    /// The most values `def` may hold.
    pub fn values_for(&self, def: &Attribute) -> usize {
        if def.name == "members" {
            self.max_members
        } else {
            self.max_values
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// Which request a validation serves: omitted write-only and immutable values are kept on replace (PUT), while
/// after a PATCH an omitted value was removed on purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    Create,
    Replace,
    Patch,
}

/// Resource metadata (RFC 7643 §3.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Meta {
    /// `User`, `Group`, ...
    pub resource_type: String,
    /// When the resource was created.
    pub created: OffsetDateTime,
    /// When it last changed.
    pub last_modified: OffsetDateTime,
    /// Its absolute URI.
    pub location: String,
    /// Its version, as the weak entity tag served in `ETag` (`W/"3"`).
    pub version: String,
}

impl Meta {
    /// The weak entity tag for a version counter or hash.
    pub fn weak_etag(version: impl std::fmt::Display) -> String {
        format!("W/\"{version}\"")
    }

    /// The `meta` JSON object.
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or_default()
    }
}

/// The `meta` object, written straight to the output (no intermediate map): `resourceType`, `created`,
/// `lastModified`, `location`, `version`, in that order.
impl serde::Serialize for Meta {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap as _;
        let mut m = serializer.serialize_map(Some(5))?;
        m.serialize_entry("resourceType", &self.resource_type)?;
        m.serialize_entry("created", &crate::value::format_datetime(self.created))?;
        m.serialize_entry("lastModified", &crate::value::format_datetime(self.last_modified))?;
        m.serialize_entry("location", &self.location)?;
        m.serialize_entry("version", &self.version)?;
        m.end()
    }
}

/// Sets `id` and `meta` on a validated resource, keeping the canonical key order.
pub fn with_id_and_meta(mut resource: Map<String, Value>, id: &str, meta: &Meta) -> Map<String, Value> {
    resource.insert("id".into(), Value::String(id.to_owned()));
    resource.insert("meta".into(), meta.to_value());
    order_keys(resource)
}

/// Puts `schemas`, `id`, `externalId` first and `meta` last, other keys in their current order.
fn order_keys(mut m: Map<String, Value>) -> Map<String, Value> {
    let mut out = Map::with_capacity(m.len());
    for k in ["schemas", "id", "externalId"] {
        if let Some(v) = m.shift_remove(k) {
            out.insert(k.into(), v);
        }
    }
    let meta = m.shift_remove("meta");
    out.extend(m);
    if let Some(meta) = meta {
        out.insert("meta".into(), meta);
    }
    out
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn label(parent: Option<&str>, name: &str) -> String {
    match parent {
        Some(p) => format!("{p}.{name}"),
        None => name.to_owned(),
    }
}

/// Whether a value counts as assigned (RFC 7643 §2.5: null and empty arrays are unassigned).
pub(crate) fn is_assigned(v: &Value) -> bool {
    !matches!(v, Value::Null) && !matches!(v, Value::Array(a) if a.is_empty())
}

impl ResourceSchema<'_> {
    /// Validates a client's representation. `existing` is `None` on create and the stored resource on replace
    /// (and after PATCH). Returns the canonical resource; `id` and `meta` come only from `existing`.
    pub fn validate(
        &self,
        input: &Value,
        existing: Option<&Value>,
        opts: ValidateOptions,
    ) -> Result<Map<String, Value>, ScimError> {
        let mode = if existing.is_some() {
            Mode::Replace
        } else {
            Mode::Create
        };
        self.validate_as(input.clone(), existing, opts, mode)
    }

    /// [`Self::validate`] on an owned value, which it consumes instead of copying (PATCH uses this).
    pub(crate) fn validate_as(
        &self,
        input: Value,
        existing: Option<&Value>,
        opts: ValidateOptions,
        mode: Mode,
    ) -> Result<Map<String, Value>, ScimError> {
        self.check_declared_schemas(&input, opts)?;
        let Value::Object(obj) = input else {
            return Err(ScimError::invalid_syntax(format!(
                "a {} must be a JSON object",
                self.resource_type.name
            )));
        };

        let mut core = Map::new();
        let mut exts: Vec<(&Schema, Map<String, Value>)> = Vec::new();
        for (key, v) in obj {
            if key.eq_ignore_ascii_case("schemas") {
                continue;
            }
            if let Some(ext) = self.extension(&key) {
                if v.is_null() {
                    continue;
                }
                let Value::Object(ext_obj) = v else {
                    return Err(ScimError::invalid_value(format!(
                        "'{}' must be an object of extension attributes, got {}",
                        ext.id,
                        type_name(&v)
                    )));
                };
                let map = ext_map(&mut exts, ext);
                let root = Label::root(&ext.id);
                for (k, v) in ext_obj {
                    if k.eq_ignore_ascii_case("schemas") {
                        continue;
                    }
                    let Some(def) = ext.attribute(&k) else {
                        unknown(opts, format_args!("{}:{k}", ext.id), &ext.name)?;
                        continue;
                    };
                    put(map, def, v, Some(&root), opts)?;
                }
                continue;
            }
            if let Some(def) = self
                .core
                .attribute(&key)
                .or_else(|| self.common.iter().find(|a| a.name.eq_ignore_ascii_case(&key)))
            {
                put(&mut core, def, v, None, opts)?;
                continue;
            }
            // A fully qualified extension attribute at the top level (`urn:...:User:employeeNumber`).
            if let Ok(AttrPath {
                uri: Some(uri),
                name,
                sub: None,
            }) = AttrPath::parse(&key)
                && let Some(ext) = self.extension(&uri)
                && let Some(def) = ext.attribute(&name)
            {
                put(ext_map(&mut exts, ext), def, v, Some(&Label::root(&ext.id)), opts)?;
                continue;
            }
            unknown(opts, &key, &self.resource_type.name)?;
        }

        if let Some(old) = existing {
            self.carry_over(old, &mut core, &mut exts, mode)?;
        }
        for def in self.core.attributes.iter() {
            require(def, &core, None)?;
        }
        for (ext, required) in &self.extensions {
            match exts.iter().find(|(s, m)| s.id == ext.id && !m.is_empty()) {
                Some((_, map)) => {
                    for def in &ext.attributes {
                        require(def, map, Some(&ext.id))?;
                    }
                }
                None if *required => {
                    return Err(ScimError::invalid_value(format!(
                        "the extension '{}' is required",
                        ext.id
                    )));
                }
                None => {}
            }
        }

        // Canonical order: schemas, common, core in schema order, extensions in registry order, meta.
        let mut out = Map::with_capacity(core.len() + 2);
        let mut schemas = vec![Value::String(self.core.id.clone())];
        for (ext, _) in &self.extensions {
            if exts.iter().any(|(s, m)| s.id == ext.id && !m.is_empty()) {
                schemas.push(Value::String(ext.id.clone()));
            }
        }
        out.insert("schemas".into(), Value::Array(schemas));
        for def in self
            .common
            .iter()
            .filter(|d| d.name != "meta")
            .chain(self.core.attributes.iter())
        {
            if let Some(v) = core.swap_remove(&def.name) {
                out.insert(def.name.clone(), v);
            }
        }
        for (ext, _) in &self.extensions {
            if let Some((_, m)) = exts.iter_mut().find(|(s, _)| s.id == ext.id)
                && !m.is_empty()
            {
                let mut m = std::mem::take(m);
                sort_by_schema(&mut m, &ext.attributes);
                out.insert(ext.id.clone(), Value::Object(m));
            }
        }
        if let Some(meta) = core.swap_remove("meta") {
            out.insert("meta".into(), meta);
        }
        Ok(out)
    }

    fn check_declared_schemas(&self, input: &Value, opts: ValidateOptions) -> Result<(), ScimError> {
        let Some(declared) = get_ci(input, "schemas") else {
            return Ok(());
        };
        let Some(list) = declared.as_array() else {
            return Err(ScimError::invalid_value(
                "'schemas' must be an array of schema URNs",
            ));
        };
        for s in list {
            let Some(urn) = s.as_str() else {
                return Err(ScimError::invalid_value("'schemas' must contain only strings"));
            };
            if !self.knows_schema(urn) && opts.unknown == UnknownAttributes::Reject {
                return Err(ScimError::invalid_value(format!(
                    "the schema '{urn}' is not registered for {}; register the extension schema first",
                    self.resource_type.name
                )));
            }
        }
        Ok(())
    }

    /// Replace semantics: read-only attributes come from the old resource; immutable ones must not change and
    /// are kept when omitted; write-only ones (passwords) are kept when omitted.
    fn carry_over<'s>(
        &'s self,
        old: &Value,
        core: &mut Map<String, Value>,
        exts: &mut Vec<(&'s Schema, Map<String, Value>)>,
        mode: Mode,
    ) -> Result<(), ScimError> {
        for def in self.top_level() {
            carry(def, get_ci(old, &def.name), core, None, mode)?;
        }
        for (ext, _) in &self.extensions {
            let Some(old_ext) = get_ci(old, &ext.id) else {
                continue;
            };
            let map = ext_map(exts, ext);
            for def in &ext.attributes {
                carry(def, get_ci(old_ext, &def.name), map, Some(&ext.id), mode)?;
            }
        }
        Ok(())
    }
}

fn ext_map<'m, 's>(
    exts: &'m mut Vec<(&'s Schema, Map<String, Value>)>,
    ext: &'s Schema,
) -> &'m mut Map<String, Value> {
    let idx = match exts.iter().position(|(s, _)| s.id == ext.id) {
        Some(i) => i,
        None => {
            exts.push((ext, Map::new()));
            exts.len() - 1
        }
    };
    &mut exts[idx].1
}

fn unknown(opts: ValidateOptions, key: impl std::fmt::Display, owner: &str) -> Result<(), ScimError> {
    match opts.unknown {
        UnknownAttributes::Ignore => Ok(()),
        UnknownAttributes::Reject => Err(ScimError::invalid_value(format!(
            "unknown attribute '{key}' for {owner}; check the spelling or register an extension schema that defines it"
        ))),
    }
}

/// Where a value sits (`emails.value`), formatted only when an error needs it.
#[derive(Clone, Copy)]
struct Label<'a> {
    parent: Option<&'a Label<'a>>,
    name: &'a str,
}

impl<'a> Label<'a> {
    fn root(name: &'a str) -> Self {
        Self { parent: None, name }
    }
    fn child(parent: Option<&'a Label<'a>>, name: &'a str) -> Self {
        Self { parent, name }
    }
}

impl std::fmt::Display for Label<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(p) = self.parent {
            write!(f, "{p}.")?;
        }
        f.write_str(self.name)
    }
}

/// Orders a map's keys as the attribute definitions list them; already-ordered maps (the common case for
/// canonical input) are left alone.
fn sort_by_schema(m: &mut Map<String, Value>, defs: &[Attribute]) {
    let pos = |k: &str| defs.iter().position(|d| d.name == k).unwrap_or(usize::MAX);
    let sorted = m.keys().map(|k| pos(k)).is_sorted();
    if !sorted {
        let mut entries: Vec<(String, Value)> = std::mem::take(m).into_iter().collect();
        entries.sort_by_key(|(k, _)| pos(k));
        *m = entries.into_iter().collect();
    }
}

fn carry(
    def: &Attribute,
    old: Option<&Value>,
    map: &mut Map<String, Value>,
    parent: Option<&str>,
    mode: Mode,
) -> Result<(), ScimError> {
    let Some(old) = old.filter(|v| is_assigned(v)) else {
        return Ok(());
    };
    match def.mutability {
        Mutability::ReadOnly => {
            map.insert(def.name.clone(), old.clone());
        }
        Mutability::WriteOnly if mode == Mode::Replace => {
            map.entry(def.name.clone()).or_insert_with(|| old.clone());
        }
        Mutability::WriteOnly => {}
        Mutability::Immutable => match map.get(&def.name) {
            None if mode == Mode::Patch => {
                return Err(ScimError::mutability(format!(
                    "'{}' is immutable and cannot be removed",
                    label(parent, &def.name)
                )));
            }
            None => {
                map.insert(def.name.clone(), old.clone());
            }
            Some(new) if new != old => {
                return Err(ScimError::mutability(format!(
                    "'{}' is immutable and already set; it cannot be changed",
                    label(parent, &def.name)
                )));
            }
            Some(_) => {}
        },
        Mutability::ReadWrite if def.kind == AttrType::Complex && !def.multi_valued => {
            // Immutable sub-attributes of a single-valued complex attribute.
            if let (Some(Value::Object(new)), Some(old)) = (map.get_mut(&def.name), old.as_object()) {
                let here = label(parent, &def.name);
                for sub in def
                    .sub_attributes
                    .iter()
                    .filter(|s| s.mutability == Mutability::Immutable)
                {
                    carry(sub, old.get(&sub.name), new, Some(&here), mode)?;
                }
            }
        }
        Mutability::ReadWrite => {}
    }
    Ok(())
}

fn require(def: &Attribute, map: &Map<String, Value>, parent: Option<&str>) -> Result<(), ScimError> {
    if def.required && !def.is_read_only() && !map.get(&def.name).is_some_and(is_assigned) {
        return Err(ScimError::invalid_value(format!(
            "the attribute '{}' is required",
            label(parent, &def.name)
        )));
    }
    Ok(())
}

/// Coerces `v` for `def` and inserts it under the canonical name; read-only attributes are ignored.
fn put(
    map: &mut Map<String, Value>,
    def: &Attribute,
    v: Value,
    parent: Option<&Label<'_>>,
    opts: ValidateOptions,
) -> Result<(), ScimError> {
    if def.is_read_only() {
        return Ok(());
    }
    let at = Label::child(parent, &def.name);
    if map.contains_key(&def.name) {
        return Err(ScimError::invalid_value(format!(
            "the attribute '{at}' appears more than once (names are case-insensitive)"
        )));
    }
    if let Some(v) = coerce(def, v, &at, opts)? {
        map.insert(def.name.clone(), v);
    }
    Ok(())
}

/// Type-checks and normalizes a value; `None` when it is unassigned.
fn coerce(
    def: &Attribute,
    v: Value,
    at: &Label<'_>,
    opts: ValidateOptions,
) -> Result<Option<Value>, ScimError> {
    if v.is_null() {
        return Ok(None);
    }
    if !def.multi_valued {
        if v.is_array() {
            return Err(ScimError::invalid_value(format!(
                "'{at}' takes a single value, not an array"
            )));
        }
        return coerce_one(def, v, at, opts);
    }
    let items = match v {
        Value::Array(a) => a,
        single => vec![single],
    };
    let most = opts.limits.values_for(def);
    if items.len() > most {
        return Err(ScimError::invalid_value(format!(
            "'{at}' has {} values; the limit is {most}",
            items.len()
        )));
    }
    let mut out = Vec::with_capacity(items.len());
    let mut primaries = 0;
    for item in items {
        if item.is_array() {
            return Err(ScimError::invalid_value(format!(
                "'{at}' cannot contain nested arrays"
            )));
        }
        if let Some(x) = coerce_one(def, item, at, opts)? {
            primaries += usize::from(x.get("primary") == Some(&Value::Bool(true)));
            out.push(x);
        }
    }
    if primaries > 1 {
        return Err(ScimError::invalid_value(format!(
            "at most one value of '{at}' may have \"primary\": true"
        )));
    }
    Ok((!out.is_empty()).then_some(Value::Array(out)))
}

fn coerce_one(
    def: &Attribute,
    v: Value,
    at: &Label<'_>,
    opts: ValidateOptions,
) -> Result<Option<Value>, ScimError> {
    let wrong = |want: &str, v: &Value| {
        ScimError::invalid_value(format!("'{at}' must be {want}, got {}", type_name(v)))
    };
    let too_long = |s: &str, most: usize| {
        let n = s.chars().count();
        (n > most)
            .then(|| ScimError::invalid_value(format!("'{at}' is {n} characters long; the limit is {most}")))
    };
    match def.kind {
        AttrType::String | AttrType::Reference | AttrType::Binary => match &v {
            Value::String(s) => {
                let most = if def.kind == AttrType::Binary {
                    opts.limits.max_binary_chars
                } else {
                    opts.limits.max_string_chars
                };
                too_long(s, most).map_or(Ok(Some(v)), Err)
            }
            _ => Err(wrong("a string", &v)),
        },
        AttrType::Boolean => match &v {
            Value::Bool(_) => Ok(Some(v)),
            Value::String(s) => parse_bool(s)
                .map(|b| Some(Value::Bool(b)))
                .ok_or_else(|| wrong("true or false", &v)),
            _ => Err(wrong("true or false", &v)),
        },
        AttrType::Integer => match &v {
            Value::Number(n) if n.is_i64() || n.is_u64() => Ok(Some(v)),
            Value::Number(n) if n.as_f64().is_some_and(|f| f.fract() == 0.0 && f.abs() < 9.0e15) => {
                Ok(Some(json!(n.as_f64().unwrap_or_default() as i64)))
            }
            _ => Err(wrong("an integer", &v)),
        },
        AttrType::Decimal => match v {
            Value::Number(_) => Ok(Some(v)),
            _ => Err(wrong("a number", &v)),
        },
        AttrType::DateTime => match &v {
            Value::String(s) if s.len() > 64 => {
                Err(too_long(s, 64).unwrap_or_else(|| wrong("a date-time", &v)))
            }
            Value::String(s) if parse_datetime(s).is_some() => Ok(Some(v)),
            _ => Err(wrong(
                "an RFC 3339 date-time such as \"2024-01-31T12:00:00Z\"",
                &v,
            )),
        },
        AttrType::Complex => {
            let Value::Object(obj) = v else {
                return Err(wrong("an object", &v));
            };
            let mut out = Map::with_capacity(obj.len());
            for (k, sv) in obj {
                match def.sub_attribute(&k) {
                    Some(sub) => put(&mut out, sub, sv, Some(at), opts)?,
                    None => unknown(opts, format_args!("{at}.{k}"), &at.to_string())?,
                }
            }
            if out.is_empty() {
                return Ok(None);
            }
            for sub in &def.sub_attributes {
                if sub.required && !sub.is_read_only() && !out.get(&sub.name).is_some_and(is_assigned) {
                    return Err(ScimError::invalid_value(format!(
                        "the attribute '{at}.{}' is required",
                        sub.name
                    )));
                }
            }
            sort_by_schema(&mut out, &def.sub_attributes);
            Ok(Some(Value::Object(out)))
        }
    }
}

#[cfg(test)]
mod tests;
