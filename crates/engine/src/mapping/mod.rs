//! Attribute mapping: each rule sets one target attribute from a source attribute, a constant or an
//! expression, always or only when the account is created.
//!
//! Expressions, as written in settings and on the command line (`TARGET=EXPR`):
//!
//! | form | meaning |
//! |---|---|
//! | `name.givenName`, `emails[type eq "work"].value`, `urn:…:User:department` | a source attribute; a multi-valued attribute without a filter gives its primary (or first) value |
//! | `"text"`, `42`, `true`, `null` | a constant |
//! | `concat(a, b, …)` | the texts joined; null parts are skipped, all null gives null |
//! | `join(sep, a, b, …)` | the non-null texts (arrays flattened) joined with `sep` |
//! | `lower(a)`, `upper(a)`, `trim(a)` | case and whitespace |
//! | `split(a, sep, n)` | the `n`-th part (0-based) of `a` split at `sep` |
//! | `substring(a, start, len)` | characters `start..start+len` |
//! | `replace(a, from, to)` | every `from` replaced by `to` |
//! | `default(a, b)` | `a`, or `b` when `a` is null or empty |
//! | `if(cond, a, b)` | `a` when `cond` is true, a non-empty text or a non-empty list, else `b` |
//! | `eq(a, b)`, `present(a)`, `not(a)` | conditions (`eq` ignores case) |
//!
//! Targets are PATCH-style paths: `displayName`, `name.givenName`, `emails[type eq "work"].value` (the element
//! is created from the `eq` terms when missing), or an extension attribute such as
//! `urn:ietf:params:scim:schemas:extension:Adobe:2.0:User:organizationalUnit`.

pub use roster_scim::access::{get_path, set_path};
use roster_scim::access::{is_core_uri, whole_extension};
use roster_scim::filter::Filter;
use roster_scim::{PatchPath, ScimError};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The core User schema URN.
pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
/// The core Group schema URN.
pub const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";

/// One mapping rule, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MappingRule {
    /// The target attribute path.
    pub target: String,
    /// The expression that gives its value.
    pub source: String,
    /// Only when the account is created (a later change in the directory is not pushed).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub on_create_only: bool,
}

impl MappingRule {
    /// Parses `TARGET=EXPR` (the first `=` outside brackets and quotes separates them).
    pub fn parse(text: &str, on_create_only: bool) -> Result<Self, String> {
        let (mut depth, mut quoted, mut escaped) = (0_i32, false, false);
        for (i, c) in text.char_indices() {
            match c {
                _ if escaped => escaped = false,
                '\\' if quoted => escaped = true,
                '"' => quoted = !quoted,
                '[' if !quoted => depth += 1,
                ']' if !quoted => depth -= 1,
                '=' if !quoted && depth == 0 => {
                    let rule = Self {
                        target: text[..i].trim().to_owned(),
                        source: text[i + 1..].trim().to_owned(),
                        on_create_only,
                    };
                    rule.compile()?;
                    return Ok(rule);
                }
                _ => {}
            }
        }
        Err(format!(
            "mapping '{text}' has no '=': write TARGET=EXPRESSION, for example displayName=concat(name.givenName, \" \", name.familyName)"
        ))
    }

    /// Checks the rule and turns it into its executable form.
    pub fn compile(&self) -> Result<CompiledRule, String> {
        if self.source.len() > MAX_RULE_BYTES || self.target.len() > MAX_RULE_BYTES {
            return Err(format!(
                "mapping rule for '{}' is {} bytes; the limit is {MAX_RULE_BYTES}",
                truncate_chars(&self.target, 80),
                self.source.len() + self.target.len()
            ));
        }
        let target = PatchPath::parse(&self.target)
            .map_err(|e| format!("mapping target '{}': {}", self.target, e.detail))?;
        let expr =
            parse_expr(&self.source).map_err(|e| format!("mapping source for '{}': {e}", self.target))?;
        Ok(CompiledRule {
            target,
            expr,
            on_create_only: self.on_create_only,
        })
    }
}

impl std::fmt::Display for MappingRule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} = {}", self.target, self.source)?;
        if self.on_create_only {
            f.write_str("  (on create only)")?;
        }
        Ok(())
    }
}

/// A checked rule.
#[derive(Debug, Clone)]
pub struct CompiledRule {
    target: PatchPath,
    expr: Expr,
    on_create_only: bool,
}

impl CompiledRule {
    /// Whether the rule reads the core attribute `name` of the directory object.
    pub fn reads(&self, name: &str) -> bool {
        self.expr.reads(name)
    }

    /// Whether the rule is applied when an account is created only.
    pub fn on_create_only(&self) -> bool {
        self.on_create_only
    }
}

impl Expr {
    /// Whether the expression reads the core attribute `name` (at any depth of function calls).
    pub fn reads(&self, name: &str) -> bool {
        match self {
            Self::Const(_) => false,
            Self::Attr(p) => {
                p.attr.name.eq_ignore_ascii_case(name)
                    && p.attr
                        .uri
                        .as_deref()
                        .is_none_or(|u| u == roster_scim::schema::CORE_USER)
            }
            Self::Call(_, args) => args.iter().any(|a| a.reads(name)),
        }
    }

    /// Every source attribute the expression reads, in order.
    pub fn attributes(&self) -> Vec<&PatchPath> {
        match self {
            Self::Const(_) => Vec::new(),
            Self::Attr(p) => vec![p],
            Self::Call(_, args) => args.iter().flat_map(Self::attributes).collect(),
        }
    }
}

/// The mapping used when an app configures none: the core User attributes as they are, and the directory id
/// as the account's `externalId`, so the target always knows which identity an account belongs to.
pub fn default_user_mapping() -> Vec<MappingRule> {
    [
        ("userName", "userName"),
        ("externalId", "id"),
        ("active", "default(active, true)"),
        ("displayName", "displayName"),
        ("name", "name"),
        ("emails", "emails"),
        ("title", "title"),
        ("phoneNumbers", "phoneNumbers"),
        ("preferredLanguage", "preferredLanguage"),
        ("locale", "locale"),
        ("timezone", "timezone"),
        (
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
        ),
    ]
    .into_iter()
    .map(|(t, s)| MappingRule {
        target: t.into(),
        source: s.into(),
        on_create_only: false,
    })
    .collect()
}

/// Compiles every rule, naming the first bad one.
pub fn compile(rules: &[MappingRule]) -> Result<Vec<CompiledRule>, String> {
    if rules.len() > MAX_RULES {
        return Err(format!(
            "the mapping has {} rules; the limit is {MAX_RULES}",
            rules.len()
        ));
    }
    rules.iter().map(MappingRule::compile).collect()
}

/// The longest target or expression of one mapping rule, in bytes: far beyond any real rule, and small enough that
/// parsing and checking one is cheap.
pub const MAX_RULE_BYTES: usize = 4096;
/// The most rules one mapping has.
pub const MAX_RULES: usize = 256;

fn truncate_chars(s: &str, n: usize) -> String {
    match s.char_indices().nth(n) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}

/// The target payload for a source resource (which carries `id` and, for users, `groups`): every rule whose
/// value is not null, `on_create_only` rules only when `for_create`. Extension attributes are nested under their
/// schema URN. `schemas` is not included (see [`with_schemas`]).
pub fn apply(rules: &[CompiledRule], source: &Value, for_create: bool) -> Map<String, Value> {
    let mut out = Map::new();
    for rule in rules.iter().filter(|r| for_create || !r.on_create_only) {
        let v = eval(&rule.expr, source);
        if !is_empty(&v) {
            set_path(&mut out, &rule.target, v);
        }
    }
    out
}

/// Takes out of `pushed` (what a link records as last written) every value a rule made from the user's password,
/// so no password is kept in clear: the directory drops a password once every app that sends it has it (see
/// `roster_store`'s `passwords` module), and a link must not keep a copy. A value in a filtered element
/// (`emails[type eq "x"].value`) takes its whole attribute with it: that attribute is compared afresh next time.
pub fn forget_passwords(rules: &[CompiledRule], pushed: &mut Map<String, Value>) {
    for rule in rules.iter().filter(|r| r.reads("password")) {
        let p = &rule.target;
        if let Some(urn) = whole_extension(p) {
            pushed.shift_remove(&urn);
            continue;
        }
        let obj = match &p.attr.uri {
            Some(uri) if !is_core_uri(uri) => match pushed.get_mut(uri).and_then(Value::as_object_mut) {
                Some(o) => o,
                None => continue,
            },
            _ => &mut *pushed,
        };
        match (&p.filter, p.attr.sub.as_deref()) {
            (None, Some(sub)) => {
                if let Some(o) = obj.get_mut(&p.attr.name).and_then(Value::as_object_mut) {
                    o.shift_remove(sub);
                }
            }
            _ => {
                obj.shift_remove(&p.attr.name);
            }
        }
    }
}

/// `payload` with its `schemas`: the core schema and every extension URN it carries.
pub fn with_schemas(mut payload: Map<String, Value>, core: &str) -> Map<String, Value> {
    let mut schemas = vec![Value::String(core.into())];
    schemas.extend(
        payload
            .keys()
            .filter(|k| k.starts_with("urn:"))
            .map(|k| Value::String(k.clone())),
    );
    payload.insert("schemas".into(), Value::Array(schemas));
    payload
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    }
}

/// A parsed expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// A constant.
    Const(Value),
    /// A source attribute.
    Attr(PatchPath),
    /// A function call.
    Call(Func, Vec<Expr>),
}

/// The functions an expression may call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Func {
    /// `concat(a, …)`
    Concat,
    /// `join(sep, a, …)`
    Join,
    /// `lower(a)`
    Lower,
    /// `upper(a)`
    Upper,
    /// `trim(a)`
    Trim,
    /// `split(a, sep, n)`
    Split,
    /// `substring(a, start, len)`
    Substring,
    /// `replace(a, from, to)`
    Replace,
    /// `default(a, b)`
    Default,
    /// `if(c, a, b)`
    If,
    /// `eq(a, b)`
    Eq,
    /// `present(a)`
    Present,
    /// `not(a)`
    Not,
}

impl Func {
    fn from_name(name: &str) -> Option<(Self, usize, usize)> {
        // (function, min args, max args)
        Some(match name.to_ascii_lowercase().as_str() {
            "concat" => (Self::Concat, 1, usize::MAX),
            "join" => (Self::Join, 2, usize::MAX),
            "lower" => (Self::Lower, 1, 1),
            "upper" => (Self::Upper, 1, 1),
            "trim" => (Self::Trim, 1, 1),
            "split" => (Self::Split, 3, 3),
            "substring" => (Self::Substring, 2, 3),
            "replace" => (Self::Replace, 3, 3),
            "default" => (Self::Default, 2, 2),
            "if" => (Self::If, 3, 3),
            "eq" => (Self::Eq, 2, 2),
            "present" => (Self::Present, 1, 1),
            "not" => (Self::Not, 1, 1),
            _ => return None,
        })
    }
}

/// Parses an expression.
pub fn parse_expr(text: &str) -> Result<Expr, String> {
    let mut p = Parser {
        s: text,
        pos: 0,
        depth: 0,
    };
    let e = p.expr()?;
    p.ws();
    if p.pos < text.len() {
        return Err(format!(
            "unexpected '{}' at character {}",
            &text[p.pos..],
            p.pos + 1
        ));
    }
    Ok(e)
}

struct Parser<'a> {
    s: &'a str,
    pos: usize,
    depth: usize,
}

impl Parser<'_> {
    fn ws(&mut self) {
        while self.s[self.pos..].starts_with(char::is_whitespace) {
            self.pos += self.s[self.pos..].chars().next().map_or(1, char::len_utf8);
        }
    }

    fn expr(&mut self) -> Result<Expr, String> {
        self.depth += 1;
        if self.depth > 32 {
            return Err("expression nested more than 32 levels deep".into());
        }
        self.ws();
        let rest = &self.s[self.pos..];
        let e = if rest.starts_with('"') {
            // A JSON string literal: find its end, honouring escapes.
            let mut end = None;
            let mut escaped = false;
            for (i, c) in rest.char_indices().skip(1) {
                match c {
                    _ if escaped => escaped = false,
                    '\\' => escaped = true,
                    '"' => {
                        end = Some(i);
                        break;
                    }
                    _ => {}
                }
            }
            let end = end.ok_or_else(|| format!("unterminated string at character {}", self.pos + 1))?;
            let v: Value = serde_json::from_str(&rest[..=end])
                .map_err(|e| format!("bad string at character {}: {e}", self.pos + 1))?;
            self.pos += end + 1;
            Expr::Const(v)
        } else {
            // A word: a path (brackets and quotes inside kept whole), a literal, or a function name.
            let (mut depth, mut quoted, mut end) = (0_i32, false, rest.len());
            for (i, c) in rest.char_indices() {
                match c {
                    '"' if depth > 0 => quoted = !quoted,
                    '[' if !quoted => depth += 1,
                    ']' if !quoted => depth -= 1,
                    '(' | ')' | ',' if depth == 0 && !quoted => {
                        end = i;
                        break;
                    }
                    c if c.is_whitespace() && depth == 0 => {
                        end = i;
                        break;
                    }
                    _ => {}
                }
            }
            let word = &rest[..end];
            if word.is_empty() {
                return Err(format!("expected a value at character {}", self.pos + 1));
            }
            let at = self.pos;
            self.pos += end;
            self.ws();
            if self.s[self.pos..].starts_with('(') {
                let (f, min, max) = Func::from_name(word).ok_or_else(|| {
                    format!(
                        "unknown function '{word}' at character {}: use concat, join, lower, upper, trim, split, \
                         substring, replace, default, if, eq, present or not",
                        at + 1
                    )
                })?;
                self.pos += 1;
                let mut args = Vec::new();
                self.ws();
                if self.s[self.pos..].starts_with(')') {
                    self.pos += 1;
                } else {
                    loop {
                        args.push(self.expr()?);
                        self.ws();
                        match self.s[self.pos..].chars().next() {
                            Some(',') => self.pos += 1,
                            Some(')') => {
                                self.pos += 1;
                                break;
                            }
                            _ => return Err(format!("expected ',' or ')' at character {}", self.pos + 1)),
                        }
                    }
                }
                if args.len() < min || args.len() > max {
                    return Err(format!(
                        "{word}() takes {} arguments, got {}",
                        arity(min, max),
                        args.len()
                    ));
                }
                Expr::Call(f, args)
            } else if let Ok(v @ (Value::Number(_) | Value::Bool(_) | Value::Null)) =
                serde_json::from_str(word)
            {
                Expr::Const(v)
            } else {
                Expr::Attr(PatchPath::parse(word).map_err(|e| e.detail)?)
            }
        };
        self.depth -= 1;
        Ok(e)
    }
}

fn arity(min: usize, max: usize) -> String {
    match (min, max) {
        (a, b) if a == b => a.to_string(),
        (a, usize::MAX) => format!("{a} or more"),
        (a, b) => format!("{a} to {b}"),
    }
}

/// The longest text an expression may make, in bytes: far beyond any attribute a target takes (the directory's
/// own strings are at most 2,048 characters), and small enough that nested `replace` or `concat` calls cannot
/// grow a value without bound. A longer result is null (no value).
pub const MAX_VALUE_BYTES: usize = 64 * 1024;

/// Evaluates an expression against a source resource.
pub fn eval(e: &Expr, src: &Value) -> Value {
    match e {
        Expr::Const(v) => v.clone(),
        Expr::Attr(p) => get_path(src, p),
        Expr::Call(f, args) => match call(*f, args, src) {
            Value::String(s) if s.len() > MAX_VALUE_BYTES => Value::Null,
            v => v,
        },
    }
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        Value::Bool(_) | Value::Number(_) => Some(v.to_string()),
        Value::Array(a) => a.first().and_then(text),
        Value::Object(o) => o.get("value").and_then(text),
    }
}

fn truthy(v: &Value) -> bool {
    match v {
        Value::Bool(b) => *b,
        Value::String(s) => !s.is_empty() && !s.eq_ignore_ascii_case("false"),
        other => !is_empty(other),
    }
}

fn call(f: Func, args: &[Expr], src: &Value) -> Value {
    let arg = |i: usize| args.get(i).map_or(Value::Null, |a| eval(a, src));
    let text_arg = |i: usize| text(&arg(i));
    let num_arg = |i: usize| arg(i).as_u64().and_then(|n| usize::try_from(n).ok());
    let opt = |s: Option<String>| s.map_or(Value::Null, Value::String);
    match f {
        Func::Concat => {
            let parts: Vec<String> = (0..args.len()).filter_map(text_arg).collect();
            if parts.is_empty() {
                Value::Null
            } else {
                Value::String(parts.concat())
            }
        }
        Func::Join => {
            let sep = text_arg(0).unwrap_or_default();
            let mut parts = Vec::new();
            for i in 1..args.len() {
                match arg(i) {
                    Value::Array(a) => parts.extend(a.iter().filter_map(text)),
                    v => parts.extend(text(&v)),
                }
            }
            if parts.is_empty() {
                Value::Null
            } else {
                Value::String(parts.join(&sep))
            }
        }
        Func::Lower => opt(text_arg(0).map(|s| s.to_lowercase())),
        Func::Upper => opt(text_arg(0).map(|s| s.to_uppercase())),
        Func::Trim => opt(text_arg(0).map(|s| s.trim().to_owned())),
        Func::Split => {
            let (Some(s), Some(sep), Some(n)) = (text_arg(0), text_arg(1), num_arg(2)) else {
                return Value::Null;
            };
            if sep.is_empty() {
                return Value::Null;
            }
            opt(s.split(sep.as_str()).nth(n).map(str::to_owned))
        }
        Func::Substring => {
            let (Some(s), Some(start)) = (text_arg(0), num_arg(1)) else {
                return Value::Null;
            };
            let len = if args.len() > 2 {
                num_arg(2).unwrap_or(0)
            } else {
                usize::MAX
            };
            let out: String = s.chars().skip(start).take(len).collect();
            opt(Some(out).filter(|o| !o.is_empty()))
        }
        Func::Replace => {
            let (Some(s), Some(from), to) = (text_arg(0), text_arg(1), text_arg(2).unwrap_or_default())
            else {
                return Value::Null;
            };
            if from.is_empty() {
                Value::String(s)
            } else {
                // The result's size is known before it is made: refuse one beyond the limit without making it.
                let grows = to.len().saturating_sub(from.len()) * s.matches(from.as_str()).count();
                if s.len().saturating_add(grows) > MAX_VALUE_BYTES {
                    Value::Null
                } else {
                    Value::String(s.replace(&from, &to))
                }
            }
        }
        Func::Default => {
            let a = arg(0);
            if is_empty(&a) { arg(1) } else { a }
        }
        Func::If => {
            if truthy(&arg(0)) {
                arg(1)
            } else {
                arg(2)
            }
        }
        Func::Eq => Value::Bool(match (text_arg(0), text_arg(1)) {
            (Some(a), Some(b)) => a.to_lowercase() == b.to_lowercase(),
            (None, None) => true,
            _ => false,
        }),
        Func::Present => Value::Bool(!is_empty(&arg(0))),
        Func::Not => Value::Bool(!truthy(&arg(0))),
    }
}

/// The mapping targets a target's schemas do not define, each with the reason. `core` is the resource's core
/// schema URN; a target that serves no definition for a schema is not checked against it.
pub fn check_targets(
    rules: &[MappingRule],
    core: &str,
    schemas: &[roster_scim::schema::Schema],
) -> Vec<String> {
    let find = |urn: &str| schemas.iter().find(|s| s.id.eq_ignore_ascii_case(urn));
    let mut problems = Vec::new();
    for rule in rules {
        let Ok(p) = PatchPath::parse(&rule.target) else {
            continue;
        };
        if let Some(urn) = whole_extension(&p) {
            if find(&urn).is_none() {
                problems.push(format!("{}: the app has no schema {urn}", rule.target));
            }
            continue;
        }
        // The common attributes of RFC 7643 §3.1 belong to every resource, not to a schema.
        if p.attr.uri.is_none()
            && ["id", "externalId", "meta", "schemas"]
                .iter()
                .any(|c| c.eq_ignore_ascii_case(&p.attr.name))
        {
            continue;
        }
        let urn = p.attr.uri.clone().unwrap_or_else(|| core.to_owned());
        let Some(schema) = find(&urn) else {
            if !urn.eq_ignore_ascii_case(core) {
                problems.push(format!("{}: the app has no schema {urn}", rule.target));
            }
            continue;
        };
        let Some(attr) = schema.attribute(&p.attr.name) else {
            problems.push(format!(
                "{}: the app's schema {urn} has no attribute '{}'",
                rule.target, p.attr.name
            ));
            continue;
        };
        if let Some(sub) = p.attr.sub.as_deref().or(p.sub_after_filter.as_deref())
            && !attr
                .sub_attributes
                .iter()
                .any(|s| s.name.eq_ignore_ascii_case(sub))
        {
            problems.push(format!(
                "{}: '{}' has no sub-attribute '{sub}' in the app's schema",
                rule.target, attr.name
            ));
        }
    }
    problems
}

/// `base` changed by `changes`: a rule of `changes` replaces the rule of `base` for the same target (compared
/// case-insensitively) where it stood, or is added at the end; rules for a target in `removed` are dropped.
/// `roster app add/edit --map` adds to the app's mapping this way; `--replace-mapping` replaces it.
pub fn merge_rules(
    base: Vec<MappingRule>,
    changes: Vec<MappingRule>,
    removed: &[String],
) -> Vec<MappingRule> {
    let same = |a: &str, b: &str| a.trim().eq_ignore_ascii_case(b.trim());
    let mut rules: Vec<MappingRule> = base
        .into_iter()
        .filter(|r| !removed.iter().any(|t| same(t, &r.target)))
        .collect();
    for change in changes {
        match rules.iter_mut().find(|r| same(&r.target, &change.target)) {
            Some(r) => *r = change,
            None => rules.push(change),
        }
    }
    rules
}

/// Source attributes the directory does not have: each attribute a rule reads must be one of the directory's
/// `resource` schema (core, common or extension attributes, or a whole extension), or `groups`. A typo such as
/// `usrName` otherwise maps nothing, silently.
pub fn check_sources(rules: &[MappingRule], resource: &roster_scim::ResourceSchema<'_>) -> Vec<String> {
    let mut problems = Vec::new();
    for rule in rules {
        let Ok(expr) = parse_expr(&rule.source) else {
            continue;
        };
        for p in expr.attributes() {
            if let Some(urn) = whole_extension(p) {
                if !resource.knows_schema(&urn) {
                    problems.push(format!(
                        "{}={}: the directory has no schema {urn}",
                        rule.target, rule.source
                    ));
                }
                continue;
            }
            let Some((_, attr)) = resource.resolve(p.attr.uri.as_deref(), &p.attr.name) else {
                problems.push(format!(
                    "{}={}: the directory has no attribute '{}'{}",
                    rule.target,
                    rule.source,
                    p.attr.name,
                    resource
                        .top_level()
                        .find(|a| close(&a.name, &p.attr.name))
                        .map(|a| format!(" (did you mean {}?)", a.name))
                        .unwrap_or_default()
                ));
                continue;
            };
            if let Some(sub) = p.attr.sub.as_deref().or(p.sub_after_filter.as_deref())
                && attr.sub_attribute(sub).is_none()
            {
                problems.push(format!(
                    "{}={}: the directory's '{}' has no sub-attribute '{sub}'",
                    rule.target, rule.source, attr.name
                ));
            }
        }
    }
    problems
}

/// Whether two names differ by at most one letter (inserted, removed or changed), case aside.
fn close(a: &str, b: &str) -> bool {
    let (a, b): (Vec<char>, Vec<char>) = (
        a.to_lowercase().chars().collect(),
        b.to_lowercase().chars().collect(),
    );
    let (short, long) = if a.len() <= b.len() { (&a, &b) } else { (&b, &a) };
    if long.len() - short.len() > 1 {
        return false;
    }
    let prefix = short.iter().zip(long.iter()).take_while(|(x, y)| x == y).count();
    let skip = usize::from(long.len() > short.len());
    let same_tail = |i: usize| short.get(i..) == long.get(i + skip..);
    same_tail(prefix) || (skip == 0 && short.get(prefix + 1..) == long.get(prefix + 1..))
}

/// Attributes the target requires that no rule maps: the `required` top-level attributes of its core schema
/// `core` among `schemas` (what its `/Schemas` serves), or RFC 7643's `userName` when it serves none. A create
/// without them fails at the target (`R-TARGET-MISSING-VALUE`) for every user.
pub fn missing_required(
    rules: &[MappingRule],
    core: &str,
    schemas: &[roster_scim::schema::Schema],
) -> Vec<String> {
    let required: Vec<String> = match schemas.iter().find(|s| s.id.eq_ignore_ascii_case(core)) {
        Some(schema) => schema
            .attributes
            .iter()
            .filter(|a| a.required && a.mutability != roster_scim::schema::Mutability::ReadOnly)
            .map(|a| a.name.clone())
            .collect(),
        None if core == USER_SCHEMA => vec!["userName".to_owned()],
        None => Vec::new(),
    };
    required
        .into_iter()
        .filter(|name| {
            !rules.iter().any(|r| {
                PatchPath::parse(&r.target).is_ok_and(|p| {
                    p.attr.name.eq_ignore_ascii_case(name)
                        && p.attr.uri.as_deref().is_none_or(|u| u.eq_ignore_ascii_case(core))
                })
            })
        })
        .collect()
}

/// Checks a filter text for scoping, naming the problem in SCIM terms.
pub fn parse_scope_filter(text: &str) -> Result<Filter, ScimError> {
    roster_scim::filter::parse(text)
}

#[cfg(test)]
mod tests;
