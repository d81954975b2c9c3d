//! SCIM filters (RFC 7644 §3.4.2.2): the AST, its canonical printer, the parser and an evaluator.
//!
//! - [`parse`] turns filter text into a [`Filter`]; errors are `invalidFilter` with the character position.
//! - `Display` prints the canonical form; `parse(f.to_string()) == f` for every filter (property-tested).
//! - [`Filter::check`] validates a filter against a resource type's schema (unknown attributes, operators
//!   that the attribute type forbids).
//! - [`matches()`] evaluates a filter against a JSON resource, honouring `caseExact` and `dateTime` from the schema.
//!
//! The same AST is what the store translates to SQL, so the evaluator is the reference semantics for it.

mod eval;
mod parser;

use crate::attr::AttrPath;
use serde_json::Number;
use std::fmt;

pub use eval::{matches, matches_element};
pub use parser::{MAX_DEPTH, MAX_LEN, MAX_TERMS, parse, parse_value_filter};

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CompareOp {
    /// Equal.
    Eq,
    /// Not equal: true when no value of the attribute is equal (absent attributes included).
    Ne,
    /// Contains (strings).
    Co,
    /// Starts with (strings).
    Sw,
    /// Ends with (strings).
    Ew,
    /// Greater than.
    Gt,
    /// Greater than or equal.
    Ge,
    /// Less than.
    Lt,
    /// Less than or equal.
    Le,
}

impl CompareOp {
    /// Every operator, in RFC order.
    pub const ALL: [CompareOp; 9] = [
        CompareOp::Eq,
        CompareOp::Ne,
        CompareOp::Co,
        CompareOp::Sw,
        CompareOp::Ew,
        CompareOp::Gt,
        CompareOp::Ge,
        CompareOp::Lt,
        CompareOp::Le,
    ];

    /// The operator keyword, lower case.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Eq => "eq",
            Self::Ne => "ne",
            Self::Co => "co",
            Self::Sw => "sw",
            Self::Ew => "ew",
            Self::Gt => "gt",
            Self::Ge => "ge",
            Self::Lt => "lt",
            Self::Le => "le",
        }
    }

    /// The operator for a keyword, case-insensitively.
    pub fn from_keyword(s: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|op| op.as_str().eq_ignore_ascii_case(s))
    }

    /// Whether the operator is one of the ordering operators (`gt ge lt le`).
    pub const fn is_ordering(self) -> bool {
        matches!(self, Self::Gt | Self::Ge | Self::Lt | Self::Le)
    }

    /// Whether the operator is a substring operator (`co sw ew`).
    pub const fn is_substring(self) -> bool {
        matches!(self, Self::Co | Self::Sw | Self::Ew)
    }
}

/// A comparison literal.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum CompValue {
    /// `null`: `eq null` matches an unassigned attribute, `ne null` an assigned one.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// A JSON number (parsed with exact float round-tripping, so printing and re-parsing gives the same value).
    Number(Number),
    /// A JSON string (also used for dateTime, reference and binary values).
    Str(String),
}

impl fmt::Display for CompValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Null => f.write_str("null"),
            Self::Bool(b) => write!(f, "{b}"),
            Self::Number(n) => write!(f, "{n}"),
            Self::Str(s) => {
                // A JSON string literal; serializing a str cannot fail.
                f.write_str(&serde_json::to_string(s).unwrap_or_default())
            }
        }
    }
}

/// A parsed filter.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Filter {
    /// `attrPath op value`.
    Compare {
        /// The attribute compared.
        path: AttrPath,
        /// The operator.
        op: CompareOp,
        /// The literal.
        value: CompValue,
    },
    /// `attrPath pr`.
    Present(AttrPath),
    /// `a and b and …`: two or more terms, true when every term is. A chain is one node, not one level per
    /// term, so a long chain costs no stack in any walk of the tree (only parentheses, `not` and value paths
    /// nest, and the parser caps those at [`MAX_DEPTH`]).
    And(Vec<Filter>),
    /// `a or b or …`: two or more terms, true when one term is.
    Or(Vec<Filter>),
    /// `not (a)`.
    Not(Box<Filter>),
    /// `attrPath[valFilter]`: true when one value of the multi-valued attribute satisfies the inner filter,
    /// whose paths are relative to that value.
    ValuePath {
        /// The multi-valued (or complex) attribute.
        attr: AttrPath,
        /// The filter applied to each of its values.
        filter: Box<Filter>,
    },
}

impl Filter {
    /// `path eq value` for a string value: the most common filter, as a convenience.
    pub fn eq_str(path: &str, value: &str) -> Result<Self, crate::ScimError> {
        Ok(Self::Compare {
            path: AttrPath::parse(path)?,
            op: CompareOp::Eq,
            value: CompValue::Str(value.into()),
        })
    }

    /// The multi-valued attribute value a value filter of `eq` terms joined by `and` describes
    /// (`type eq "work" and primary eq true` → `{"type": "work", "primary": true}`), for creating the value a
    /// PATCH path or a mapping target names; `None` for any other filter.
    pub fn described_element(&self) -> Option<serde_json::Map<String, serde_json::Value>> {
        use serde_json::Value;
        match self {
            Self::Compare {
                path:
                    AttrPath {
                        uri: None,
                        name,
                        sub: None,
                    },
                op: CompareOp::Eq,
                value,
            } => {
                let v = match value {
                    CompValue::Str(s) => Value::String(s.clone()),
                    CompValue::Bool(b) => Value::Bool(*b),
                    CompValue::Number(n) => Value::Number(n.clone()),
                    CompValue::Null => return None,
                };
                Some(serde_json::Map::from_iter([(name.clone(), v)]))
            }
            Self::And(terms) => {
                let mut m = serde_json::Map::new();
                for t in terms {
                    m.extend(t.described_element()?);
                }
                Some(m)
            }
            _ => None,
        }
    }

    fn precedence(&self) -> u8 {
        match self {
            Self::Or(..) => 1,
            Self::And(..) => 2,
            _ => 3,
        }
    }

    fn fmt_operand(&self, f: &mut fmt::Formatter<'_>, min: u8) -> fmt::Result {
        if self.precedence() < min {
            write!(f, "({self})")
        } else {
            write!(f, "{self}")
        }
    }

    fn fmt_chain(f: &mut fmt::Formatter<'_>, terms: &[Filter], sep: &str, min: u8) -> fmt::Result {
        for (i, t) in terms.iter().enumerate() {
            if i > 0 {
                f.write_str(sep)?;
            }
            t.fmt_operand(f, min)?;
        }
        Ok(())
    }

    /// The number of comparisons and presence tests in the filter (value filters' terms included): what
    /// [`MAX_TERMS`] caps.
    pub fn term_count(&self) -> usize {
        match self {
            Self::Compare { .. } | Self::Present(_) => 1,
            Self::And(terms) | Self::Or(terms) => terms.iter().map(Filter::term_count).sum(),
            Self::Not(inner) | Self::ValuePath { filter: inner, .. } => inner.term_count(),
        }
    }
}

impl fmt::Display for Filter {
    /// The canonical form: lower-case keywords, JSON literals, and parentheses only where precedence or the
    /// tree's shape needs them (a chain's terms that are chains of the same kind keep their parentheses).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Compare { path, op, value } => write!(f, "{path} {} {value}", op.as_str()),
            Self::Present(path) => write!(f, "{path} pr"),
            Self::And(terms) => Self::fmt_chain(f, terms, " and ", 3),
            Self::Or(terms) => Self::fmt_chain(f, terms, " or ", 2),
            Self::Not(a) => write!(f, "not ({a})"),
            Self::ValuePath { attr, filter } => write!(f, "{attr}[{filter}]"),
        }
    }
}
