//! PATCH (RFC 7644 §3.5.2): parsing `PatchOp` messages and applying them atomically to a resource.
//!
//! Beyond the RFC, it accepts what real identity providers send:
//! - op names in any case (`"Replace"`, `"Add"`: Entra ID);
//! - `"True"`/`"False"` strings for booleans (coerced by validation);
//! - member removal as `{"op":"remove","path":"members","value":[{"value":"id"}]}` (Entra ID);
//! - add/replace without a path whose value map uses dotted, filtered and URN-qualified keys
//!   (`"name.givenName"`, `"emails[type eq \"work\"].value"`, `"urn:...:enterprise:2.0:User:department"`);
//! - an add (or replace) to `emails[type eq "work"].value` when no work email exists: the value is created with
//!   the filter's `eq` terms (`{"type":"work","value":...}`);
//! - a bare string for a complex attribute with a `value` sub-attribute (Entra's `manager`).
//!
//! Every operation is applied to a copy; the result is validated against the schema (types, required,
//! immutable, `primary`) and returned only if all of it succeeds, so a failed request changes nothing.

use crate::error::ScimError;
use crate::filter::{Filter, matches_element};
use crate::path::{AttrPath, PatchPath};
use crate::resource::{Limits, Mode, ValidateOptions, is_assigned};
use crate::schema::{AttrType, Attribute, Location, Mutability, ResourceSchema};
use crate::value::{find_key, get_ci, parse_bool, remove_ci};
use serde_json::{Map, Value, json};

/// The PatchOp message schema URN.
pub const PATCH_OP_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/// A PATCH operation kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchOp {
    /// `add`.
    Add,
    /// `remove`.
    Remove,
    /// `replace`.
    Replace,
}

impl PatchOp {
    /// The lower-case keyword.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Add => "add",
            Self::Remove => "remove",
            Self::Replace => "replace",
        }
    }
}

/// One operation of a PATCH request.
#[derive(Debug, Clone, PartialEq)]
pub struct PatchOperation {
    /// What to do.
    pub op: PatchOp,
    /// Where; `None` means the value is a map of attributes.
    pub path: Option<PatchPath>,
    /// The value (absent for most removes).
    pub value: Option<Value>,
}

/// A parsed `PatchOp` message.
#[derive(Debug, Clone, PartialEq)]
pub struct PatchRequest {
    /// The operations, applied in order.
    pub operations: Vec<PatchOperation>,
}

/// The result of applying a PATCH.
#[derive(Debug, Clone, PartialEq)]
pub struct PatchOutcome {
    /// The validated, canonical resource after every operation.
    pub resource: Value,
    /// Whether anything changed (a server need not bump the version when nothing did).
    pub changed: bool,
}

impl PatchRequest {
    /// Parses a `PatchOp` message. `Operations` and `op` are read case-insensitively; paths are parsed now, so a
    /// malformed one is reported before anything is applied.
    pub fn from_json(v: &Value) -> Result<Self, ScimError> {
        if !v.is_object() {
            return Err(ScimError::invalid_syntax(
                "a PATCH body must be a JSON object with \"Operations\"",
            ));
        }
        if let Some(schemas) = get_ci(v, "schemas") {
            let ok = schemas.as_array().is_some_and(|a| {
                a.iter().any(|s| {
                    s.as_str()
                        .is_some_and(|s| s.eq_ignore_ascii_case(PATCH_OP_SCHEMA))
                })
            });
            if !ok {
                return Err(ScimError::invalid_syntax(format!(
                    "a PATCH body must declare \"schemas\": [\"{PATCH_OP_SCHEMA}\"]"
                )));
            }
        }
        let ops = get_ci(v, "Operations")
            .and_then(Value::as_array)
            .ok_or_else(|| ScimError::invalid_syntax("a PATCH body needs an \"Operations\" array"))?;
        if ops.is_empty() {
            return Err(ScimError::invalid_syntax("\"Operations\" is empty"));
        }
        if ops.len() > MAX_OPERATIONS {
            return Err(ScimError::invalid_value(format!(
                "the PATCH request has {} operations; the limit is {MAX_OPERATIONS}. Send several requests",
                ops.len()
            )));
        }
        let operations = ops
            .iter()
            .enumerate()
            .map(|(i, o)| parse_operation(i, o))
            .collect::<Result<_, _>>()?;
        Ok(Self { operations })
    }

    /// The `PatchOp` message.
    pub fn to_json(&self) -> Value {
        message(&self.operations)
    }
}

/// The `PatchOp` message carrying `operations` (without copying them into a [`PatchRequest`]).
pub fn message(operations: &[PatchOperation]) -> Value {
    let ops: Vec<Value> = operations
        .iter()
        .map(|o| {
            let mut m = Map::new();
            m.insert("op".into(), Value::String(o.op.as_str().into()));
            if let Some(p) = &o.path {
                m.insert("path".into(), Value::String(p.to_string()));
            }
            if let Some(v) = &o.value {
                m.insert("value".into(), v.clone());
            }
            Value::Object(m)
        })
        .collect();
    json!({"schemas": [PATCH_OP_SCHEMA], "Operations": ops})
}

fn parse_operation(i: usize, o: &Value) -> Result<PatchOperation, ScimError> {
    let n = i + 1;
    if !o.is_object() {
        return Err(ScimError::invalid_syntax(format!(
            "operation {n} is not an object"
        )));
    }
    let op_name = get_ci(o, "op").and_then(Value::as_str).unwrap_or_default();
    let op = [PatchOp::Add, PatchOp::Remove, PatchOp::Replace]
        .into_iter()
        .find(|k| k.as_str().eq_ignore_ascii_case(op_name))
        .ok_or_else(|| {
            ScimError::invalid_syntax(format!(
                "operation {n}: \"op\" must be add, remove or replace, got {:?}",
                op_name
            ))
        })?;
    let path = match get_ci(o, "path") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.trim().is_empty() => None,
        Some(Value::String(s)) => Some(PatchPath::parse(s)?),
        Some(_) => {
            return Err(ScimError::invalid_path(format!(
                "operation {n}: \"path\" must be a string"
            )));
        }
    };
    let value = get_ci(o, "value").cloned();
    match (op, &path, &value) {
        (PatchOp::Remove, None, _) => Err(ScimError::no_target(format!(
            "operation {n}: remove needs a \"path\""
        ))),
        (PatchOp::Add | PatchOp::Replace, _, None) => Err(ScimError::invalid_value(format!(
            "operation {n}: {} needs a \"value\"",
            op.as_str()
        ))),
        (PatchOp::Add | PatchOp::Replace, None, Some(v)) if !v.is_object() => Err(ScimError::invalid_value(
            format!("operation {n}: without a \"path\", \"value\" must be an object of attributes"),
        )),
        _ => Ok(PatchOperation { op, path, value }),
    }
}

fn is_true(v: Option<&Value>) -> bool {
    match v {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => parse_bool(s) == Some(true),
        _ => false,
    }
}

/// Entra sends `"manager": "id"`; a scalar for a complex attribute with a `value` sub-attribute means that.
fn complex_value(def: &Attribute, v: &Value) -> Value {
    if def.kind == AttrType::Complex
        && !v.is_object()
        && !v.is_array()
        && !v.is_null()
        && def.sub_attribute("value").is_some()
    {
        json!({"value": v})
    } else {
        v.clone()
    }
}

/// Whether two values of a multi-valued attribute denote the same value: same `value` (and same `type` when
/// both have one) for complex values, equality otherwise.
fn same_value(def: &Attribute, a: &Value, b: &Value) -> bool {
    match (get_ci(a, "value"), get_ci(b, "value")) {
        (Some(x), Some(y)) => {
            let case_exact = def.sub_attribute("value").is_none_or(|d| d.case_exact);
            let eq = match (x.as_str(), y.as_str()) {
                (Some(x), Some(y)) if !case_exact => {
                    x.eq_ignore_ascii_case(y) || x.to_lowercase() == y.to_lowercase()
                }
                _ => x == y,
            };
            let types_differ = matches!((get_ci(a, "type"), get_ci(b, "type")), (Some(s), Some(t)) if !s.as_str().zip(t.as_str()).is_some_and(|(s, t)| s.eq_ignore_ascii_case(t)));
            eq && !types_differ
        }
        _ => a == b,
    }
}

/// What [`same_value`] compares first, as a hashable key: the `value` (lower-cased when it is not case-exact),
/// `None` for a value without one. Values with different keys are never the same value; values with one key
/// are compared with [`same_value`] (which also looks at `type`). Merging N values into M (a large group's
/// members) is then O(N + M), not O(N·M).
fn value_key(def: &Attribute, v: &Value) -> Option<String> {
    let x = get_ci(v, "value")?;
    let case_exact = def.sub_attribute("value").is_none_or(|d| d.case_exact);
    Some(match x.as_str() {
        Some(s) if !case_exact => format!("s:{}", s.to_lowercase()),
        Some(s) => format!("s:{s}"),
        None => format!("j:{x}"),
    })
}

/// Indices of values by [`value_key`]; values without a key are kept apart and compared one by one.
#[derive(Default)]
struct ValueIndex {
    keyed: std::collections::HashMap<String, Vec<usize>>,
    unkeyed: Vec<usize>,
}

impl ValueIndex {
    fn new(def: &Attribute, items: &[Value]) -> Self {
        let mut index = Self::default();
        for (i, item) in items.iter().enumerate() {
            index.insert(def, item, i);
        }
        index
    }

    fn insert(&mut self, def: &Attribute, item: &Value, i: usize) {
        match value_key(def, item) {
            Some(k) => self.keyed.entry(k).or_default().push(i),
            None => self.unkeyed.push(i),
        }
    }

    /// The index of the first of `items` that is the same value as `v`.
    fn find(&self, def: &Attribute, items: &[Value], v: &Value) -> Option<usize> {
        let candidates = match value_key(def, v) {
            Some(k) => self.keyed.get(&k).map_or(&[][..], Vec::as_slice),
            None => self.unkeyed.as_slice(),
        };
        candidates
            .iter()
            .copied()
            .find(|&i| same_value(def, &items[i], v))
    }
}

/// The most operations one PATCH request may carry (the same as a Bulk request's operations).
pub const MAX_OPERATIONS: usize = 1000;

/// Refuses an operation value holding more values for one attribute than the limits allow, before it is
/// applied: merging N new values into M stored ones compares each pair, so the count is checked first.
fn check_value_counts(
    path: Option<&PatchPath>,
    value: Option<&Value>,
    limits: &Limits,
) -> Result<(), ScimError> {
    let check = |name: &str, v: &Value| {
        let n = v.as_array().map_or(1, Vec::len);
        let most = if name.eq_ignore_ascii_case("members") {
            limits.max_members
        } else {
            limits.max_values
        };
        if n > most {
            return Err(ScimError::invalid_value(format!(
                "the value for '{name}' has {n} values; the limit is {most}"
            )));
        }
        Ok(())
    };
    match (path, value) {
        (Some(p), Some(v)) => check(&p.attr.name, v),
        (None, Some(Value::Object(map))) => map.iter().try_for_each(|(k, v)| match v {
            Value::Object(inner) => inner.iter().try_for_each(|(k, v)| check(k, v)),
            _ => check(k, v),
        }),
        _ => Ok(()),
    }
}

impl ResourceSchema<'_> {
    /// Applies `req` to `resource` atomically and validates the result. Errors: `invalidPath` (unknown
    /// attribute), `noTarget` (a value filter matched nothing where something must match), `mutability`
    /// (read-only, immutable, or removing a required attribute), `invalidValue` (types, primary).
    pub fn apply_patch(&self, resource: &Value, req: &PatchRequest) -> Result<PatchOutcome, ScimError> {
        self.apply_patch_with(resource, req, ValidateOptions::default())
    }

    /// [`Self::apply_patch`] with validation options.
    pub fn apply_patch_with(
        &self,
        resource: &Value,
        req: &PatchRequest,
        opts: ValidateOptions,
    ) -> Result<PatchOutcome, ScimError> {
        let mut doc = resource
            .as_object()
            .cloned()
            .ok_or_else(|| ScimError::invalid_syntax("the resource to patch is not an object"))?;
        for operation in &req.operations {
            let value = operation.value.as_ref();
            check_value_counts(operation.path.as_ref(), value, &opts.limits)?;
            match &operation.path {
                Some(path) => self.apply_path(&mut doc, operation.op, path, value)?,
                None => {
                    let Some(Value::Object(map)) = value else { continue };
                    for (key, v) in map {
                        self.apply_key(&mut doc, operation.op, key, v)?;
                    }
                }
            }
        }
        let out = Value::Object(self.validate_as(Value::Object(doc), Some(resource), opts, Mode::Patch)?);
        let changed = !same_ignoring_meta(&out, resource);
        Ok(PatchOutcome {
            resource: out,
            changed,
        })
    }

    /// One entry of a path-less add/replace value map.
    fn apply_key(
        &self,
        doc: &mut Map<String, Value>,
        op: PatchOp,
        key: &str,
        v: &Value,
    ) -> Result<(), ScimError> {
        if key.eq_ignore_ascii_case("schemas") {
            return Ok(());
        }
        if let Some(ext) = self.extension(key) {
            let Some(inner) = v.as_object() else {
                return Err(ScimError::invalid_value(format!(
                    "'{}' must be an object of extension attributes",
                    ext.id
                )));
            };
            for (k, v) in inner.iter().filter(|(k, _)| !k.eq_ignore_ascii_case("schemas")) {
                let path = PatchPath {
                    attr: AttrPath {
                        uri: Some(ext.id.clone()),
                        ..AttrPath::parse(k)?
                    },
                    filter: None,
                    sub_after_filter: None,
                };
                self.apply_path(doc, op, &path, Some(v))?;
            }
            return Ok(());
        }
        self.apply_path(doc, op, &PatchPath::parse(key)?, Some(v))
    }

    fn apply_path(
        &self,
        doc: &mut Map<String, Value>,
        op: PatchOp,
        path: &PatchPath,
        value: Option<&Value>,
    ) -> Result<(), ScimError> {
        // A path that is a whole extension URN targets the extension object.
        if path.filter.is_none()
            && path.attr.sub.is_none()
            && let Some(ext) = self.extension(&path.attr.to_string())
        {
            return match (op, value) {
                (PatchOp::Remove, _) => {
                    remove_ci(doc, &ext.id);
                    Ok(())
                }
                (_, Some(v)) => self.apply_key(doc, op, &ext.id, v),
                (_, None) => Ok(()),
            };
        }
        let (loc, def) = self
            .resolve(path.attr.uri.as_deref(), &path.attr.name)
            .ok_or_else(|| {
                ScimError::invalid_path(format!(
                    "'{}' is not an attribute of {}",
                    path.attr, self.resource_type.name
                ))
            })?;
        let container: &mut Map<String, Value> = match loc {
            Location::Core => doc,
            Location::Extension(ext) => {
                let key = find_key(doc, &ext.id).unwrap_or_else(|| ext.id.clone());
                if op == PatchOp::Remove && !doc.contains_key(&key) {
                    return Ok(());
                }
                let slot = doc.entry(key).or_insert_with(|| Value::Object(Map::new()));
                if !slot.is_object() {
                    *slot = Value::Object(Map::new());
                }
                match slot.as_object_mut() {
                    Some(m) => m,
                    None => return Ok(()),
                }
            }
        };
        let target = Target {
            def,
            label: path.to_string(),
        };
        if def.is_read_only() {
            let current = find_key(container, &def.name).and_then(|k| container.get(&k));
            let unchanged =
                op != PatchOp::Remove && path.attr.sub.is_none() && path.filter.is_none() && current == value;
            return if unchanged {
                Ok(())
            } else {
                Err(ScimError::mutability(format!("'{}' is read-only", target.label)))
            };
        }
        match (&path.filter, &path.attr.sub) {
            (Some(filter), _) => {
                target.with_filter(container, op, filter, path.sub_after_filter.as_deref(), value)
            }
            (None, Some(sub)) => target.with_sub(container, op, sub, value),
            (None, None) => target.whole(container, op, value),
        }
    }
}

/// The attribute a PATCH operation acts on.
struct Target<'a> {
    def: &'a Attribute,
    label: String,
}

impl Target<'_> {
    fn key(&self, container: &Map<String, Value>) -> String {
        find_key(container, &self.def.name).unwrap_or_else(|| self.def.name.clone())
    }

    fn sub_def(&self, sub: &str) -> Result<&Attribute, ScimError> {
        let s = self.def.sub_attribute(sub).ok_or_else(|| {
            ScimError::invalid_path(format!("'{}' has no sub-attribute '{sub}'", self.def.name))
        })?;
        if s.is_read_only() {
            return Err(ScimError::mutability(format!(
                "'{}.{}' is read-only",
                self.def.name, s.name
            )));
        }
        Ok(s)
    }

    fn check_removable(&self, container: &Map<String, Value>) -> Result<(), ScimError> {
        let has_value = container
            .iter()
            .any(|(k, v)| k.eq_ignore_ascii_case(&self.def.name) && is_assigned(v));
        if self.def.required && has_value {
            return Err(ScimError::mutability(format!(
                "'{}' is required and cannot be removed",
                self.label
            )));
        }
        Ok(())
    }

    /// The path names the attribute itself.
    fn whole(
        &self,
        container: &mut Map<String, Value>,
        op: PatchOp,
        value: Option<&Value>,
    ) -> Result<(), ScimError> {
        let key = self.key(container);
        let def = self.def;
        match op {
            PatchOp::Remove => {
                if let (true, Some(v)) = (def.multi_valued, value.filter(|v| is_assigned(v))) {
                    // Entra ID: remove the listed values (by `value`), keep the rest.
                    let doomed: Vec<Value> = as_list(v).iter().map(|x| complex_value(def, x)).collect();
                    if let Some(Value::Array(items)) = container.get_mut(&key) {
                        let index = ValueIndex::new(def, &doomed);
                        items.retain(|item| index.find(def, &doomed, item).is_none());
                        if items.is_empty() {
                            self.check_removable(container)?;
                            container.shift_remove(&key);
                        }
                    }
                    return Ok(());
                }
                if container.contains_key(&key) {
                    self.check_removable(container)?;
                    container.shift_remove(&key);
                }
                Ok(())
            }
            PatchOp::Add | PatchOp::Replace => {
                let Some(v) = value else { return Ok(()) };
                if !is_assigned(v) {
                    // Setting null or [] unassigns (RFC 7643 §2.5).
                    if op == PatchOp::Replace || !def.multi_valued {
                        if container.contains_key(&key) {
                            self.check_removable(container)?;
                        }
                        container.shift_remove(&key);
                    }
                    return Ok(());
                }
                if def.multi_valued {
                    let new: Vec<Value> = as_list(v).iter().map(|x| complex_value(def, x)).collect();
                    let items = match container.get_mut(&key) {
                        Some(Value::Array(items)) if op == PatchOp::Add => items,
                        _ => {
                            container.insert(key, Value::Array(new));
                            return Ok(());
                        }
                    };
                    if new.iter().any(|n| is_true(get_ci(n, "primary"))) {
                        clear_primary(items);
                    }
                    let mut index = ValueIndex::new(def, items);
                    for n in new {
                        match index.find(def, items, &n) {
                            Some(i) => merge(&mut items[i], &n),
                            None => {
                                index.insert(def, &n, items.len());
                                items.push(n);
                            }
                        }
                    }
                    return Ok(());
                }
                let v = complex_value(def, v);
                match (def.kind, container.get_mut(&key)) {
                    (AttrType::Complex, Some(existing @ Value::Object(_))) if v.is_object() => {
                        merge(existing, &v)
                    }
                    _ => {
                        container.insert(key, v);
                    }
                }
                Ok(())
            }
        }
    }

    /// `name.givenName`, or `emails.value` (every value of a multi-valued attribute).
    fn with_sub(
        &self,
        container: &mut Map<String, Value>,
        op: PatchOp,
        sub: &str,
        value: Option<&Value>,
    ) -> Result<(), ScimError> {
        let sub_def = self.sub_def(sub)?;
        let key = self.key(container);
        if self.def.multi_valued {
            if let Some(Value::Array(items)) = container.get_mut(&key) {
                for item in items.iter_mut() {
                    set_sub(item, sub_def, op, value)?;
                }
            }
            return Ok(());
        }
        if op == PatchOp::Remove && !container.contains_key(&key) {
            return Ok(());
        }
        let slot = container
            .entry(key.clone())
            .or_insert_with(|| Value::Object(Map::new()));
        set_sub(slot, sub_def, op, value)?;
        if slot.as_object().is_some_and(Map::is_empty) {
            container.shift_remove(&key);
        }
        Ok(())
    }

    /// `emails[type eq "work"]` and `emails[type eq "work"].value`.
    fn with_filter(
        &self,
        container: &mut Map<String, Value>,
        op: PatchOp,
        filter: &Filter,
        sub: Option<&str>,
        value: Option<&Value>,
    ) -> Result<(), ScimError> {
        let def = self.def;
        let sub_def = sub.map(|s| self.sub_def(s)).transpose()?;
        let key = self.key(container);
        let mut items = match container.shift_remove(&key) {
            Some(Value::Array(items)) => items,
            Some(single) if is_assigned(&single) => vec![single],
            _ => Vec::new(),
        };
        let hits: Vec<usize> = (0..items.len())
            .filter(|&i| matches_element(filter, &items[i], Some(def)))
            .collect();
        let result = (|| {
            if hits.is_empty() {
                if op == PatchOp::Remove || (op == PatchOp::Replace && sub.is_none()) {
                    return Err(ScimError::no_target(format!(
                        "no value of '{}' matches [{filter}]",
                        def.name
                    )));
                }
                let mut created = filter.described_element()
                    .ok_or_else(|| ScimError::no_target(format!("no value of '{}' matches [{filter}], and it is not a simple equality to create one from", def.name)))?;
                match sub_def {
                    Some(s) => {
                        created.insert(s.name.clone(), value.cloned().unwrap_or(Value::Null));
                    }
                    None => {
                        if let Some(Value::Object(m)) = value.map(|v| complex_value(def, v)) {
                            created.extend(m);
                        }
                    }
                }
                let created = Value::Object(created);
                if is_true(get_ci(&created, "primary")) {
                    clear_primary(&mut items);
                }
                items.push(created);
                return Ok(());
            }
            match (op, sub_def) {
                (PatchOp::Remove, None) => {
                    let mut i = 0;
                    items.retain(|_| {
                        // `hits` is in ascending order: a search, not a scan (a filter may match a million members).
                        let keep = hits.binary_search(&i).is_err();
                        i += 1;
                        keep
                    });
                }
                (_, Some(s)) => {
                    if s.name == "primary" && op != PatchOp::Remove && is_true(value) {
                        clear_primary(&mut items);
                    }
                    for &i in &hits {
                        set_sub(&mut items[i], s, op, value)?;
                    }
                }
                (PatchOp::Add | PatchOp::Replace, None) => {
                    let v = value.map(|v| complex_value(def, v)).unwrap_or(Value::Null);
                    if is_true(get_ci(&v, "primary")) {
                        clear_primary(&mut items);
                    }
                    for &i in &hits {
                        if op == PatchOp::Replace {
                            items[i] = v.clone();
                        } else {
                            merge(&mut items[i], &v);
                        }
                    }
                }
            }
            Ok(())
        })();
        items.retain(|i| is_assigned(i) && !i.as_object().is_some_and(Map::is_empty));
        if !items.is_empty() {
            container.insert(key, Value::Array(items));
        }
        result
    }
}

fn as_list(v: &Value) -> Vec<Value> {
    match v {
        Value::Array(a) => a.clone(),
        other => vec![other.clone()],
    }
}

/// Sets or removes one sub-attribute of one complex value, enforcing immutability.
fn set_sub(item: &mut Value, sub: &Attribute, op: PatchOp, value: Option<&Value>) -> Result<(), ScimError> {
    let Some(obj) = item.as_object_mut() else {
        return Ok(());
    };
    let key = find_key(obj, &sub.name).unwrap_or_else(|| sub.name.clone());
    let current = obj.get(&key).filter(|v| is_assigned(v));
    if sub.mutability == Mutability::Immutable
        && let Some(cur) = current
        && (op == PatchOp::Remove || value != Some(cur))
    {
        return Err(ScimError::mutability(format!("'{}' is immutable", sub.name)));
    }
    match (op, value) {
        (PatchOp::Remove, _) | (_, None | Some(Value::Null)) => {
            obj.shift_remove(&key);
        }
        (_, Some(v)) => {
            obj.insert(key, v.clone());
        }
    }
    Ok(())
}

/// Merges the keys of `from` into the object `into` (case-insensitively), or replaces a non-object.
fn merge(into: &mut Value, from: &Value) {
    match (into.as_object_mut(), from.as_object()) {
        (Some(dst), Some(src)) => {
            for (k, v) in src {
                let key = find_key(dst, k).unwrap_or_else(|| k.clone());
                dst.insert(key, v.clone());
            }
        }
        _ => *into = from.clone(),
    }
}

fn clear_primary(items: &mut [Value]) {
    for item in items {
        if let Some(obj) = item.as_object_mut()
            && let Some(k) = find_key(obj, "primary")
        {
            obj.insert(k, Value::Bool(false));
        }
    }
}

/// Whether two resources are equal apart from `meta`, without copying either.
fn same_ignoring_meta(a: &Value, b: &Value) -> bool {
    match (a.as_object(), b.as_object()) {
        (Some(a), Some(b)) => {
            let count = |m: &Map<String, Value>| m.keys().filter(|k| *k != "meta").count();
            count(a) == count(b)
                && a.iter()
                    .filter(|(k, _)| *k != "meta")
                    .all(|(k, v)| b.get(k) == Some(v))
        }
        _ => a == b,
    }
}

#[cfg(test)]
mod tests;
