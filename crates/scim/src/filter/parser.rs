//! Recursive-descent parser for the RFC 7644 §3.4.2.2 filter grammar.
//!
//! Precedence, lowest first: `or`, `and`, `not`/parentheses/attribute expressions. Keywords, operators and
//! literals are case-insensitive (ABNF strings are). Chains of `and`/`or` are built as one n-ary node by loops,
//! and only parentheses, `not` and value paths nest, capped at [`MAX_DEPTH`], so no input can exhaust the stack
//! of the parser or of any later walk of the tree. The number of terms is capped at [`MAX_TERMS`] after parsing,
//! so the error can say how many there were.

use super::{CompValue, CompareOp, Filter};
use crate::attr::AttrPath;
use crate::error::ScimError;

/// How deep parentheses, `not` and value paths may nest.
pub const MAX_DEPTH: usize = 64;
/// The longest filter accepted, in bytes.
pub const MAX_LEN: usize = 64 * 1024;
/// The most comparisons and presence tests one filter may hold. Real clients ask a handful; a few hundred
/// `userName eq` terms is a batch lookup at most. The cap keeps every filter well inside the databases' own
/// limits (SQLite: 500 terms of a compound SELECT, an expression tree 1,000 deep) and the work per request small.
pub const MAX_TERMS: usize = 200;

/// Parses a filter.
pub fn parse(input: &str) -> Result<Filter, ScimError> {
    Parser::new(input, false)?.run()
}

/// Parses the filter inside a value path's brackets (`valFilter`: no nested value paths).
pub fn parse_value_filter(input: &str) -> Result<Filter, ScimError> {
    Parser::new(input, true)?.run()
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    LParen,
    RParen,
    LBracket,
    RBracket,
    Str(String),
    Word(String),
}

struct Parser<'a> {
    src: &'a str,
    toks: Vec<(Tok, usize)>,
    pos: usize,
    depth: usize,
    in_value_path: bool,
}

fn err(src: &str, at: usize, msg: &str) -> ScimError {
    let col = src[..at.min(src.len())].chars().count() + 1;
    ScimError::invalid_filter(format!("{msg} at character {col} of the filter"))
}

fn lex(src: &str) -> Result<Vec<(Tok, usize)>, ScimError> {
    let bytes = src.as_bytes();
    let mut toks = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        match c {
            b' ' | b'\t' | b'\n' | b'\r' => i += 1,
            b'(' => {
                toks.push((Tok::LParen, i));
                i += 1;
            }
            b')' => {
                toks.push((Tok::RParen, i));
                i += 1;
            }
            b'[' => {
                toks.push((Tok::LBracket, i));
                i += 1;
            }
            b']' => {
                toks.push((Tok::RBracket, i));
                i += 1;
            }
            b'"' => {
                let start = i;
                i += 1;
                loop {
                    match bytes.get(i) {
                        None => return Err(err(src, start, "unterminated string")),
                        Some(b'\\') => i += 2,
                        Some(b'"') => break,
                        Some(_) => i += 1,
                    }
                }
                i += 1;
                let lit = src
                    .get(start..i)
                    .ok_or_else(|| err(src, start, "malformed string"))?;
                let s: String =
                    serde_json::from_str(lit).map_err(|_| err(src, start, "invalid escape in string"))?;
                toks.push((Tok::Str(s), start));
            }
            _ => {
                let start = i;
                while i < bytes.len()
                    && !matches!(
                        bytes[i],
                        b' ' | b'\t' | b'\n' | b'\r' | b'(' | b')' | b'[' | b']' | b'"'
                    )
                {
                    i += 1;
                }
                toks.push((Tok::Word(src[start..i].to_owned()), start));
            }
        }
    }
    Ok(toks)
}

impl<'a> Parser<'a> {
    fn new(src: &'a str, in_value_path: bool) -> Result<Self, ScimError> {
        if src.len() > MAX_LEN {
            return Err(ScimError::invalid_filter(format!(
                "filter longer than {MAX_LEN} bytes"
            )));
        }
        Ok(Self {
            src,
            toks: lex(src)?,
            pos: 0,
            depth: 0,
            in_value_path,
        })
    }

    fn run(mut self) -> Result<Filter, ScimError> {
        if self.toks.is_empty() {
            return Err(ScimError::invalid_filter("the filter is empty"));
        }
        let f = self.or_expr()?;
        if let Some((t, at)) = self.toks.get(self.pos) {
            let what = match t {
                Tok::RParen => "unbalanced ')'".to_owned(),
                Tok::RBracket => "unbalanced ']'".to_owned(),
                Tok::Word(w) => format!("expected 'and' or 'or', found '{w}'"),
                _ => "expected 'and' or 'or'".to_owned(),
            };
            return Err(err(self.src, *at, &what));
        }
        let terms = f.term_count();
        if terms > MAX_TERMS {
            return Err(ScimError::invalid_filter(format!(
                "the filter has {terms} terms; the limit is {MAX_TERMS}. Split the query into several requests"
            )));
        }
        Ok(f)
    }

    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos).map(|(t, _)| t)
    }

    fn at(&self) -> usize {
        self.toks.get(self.pos).map_or(self.src.len(), |(_, p)| *p)
    }

    fn peek_keyword(&self, kw: &str) -> bool {
        matches!(self.peek(), Some(Tok::Word(w)) if w.eq_ignore_ascii_case(kw))
    }

    fn expect(&mut self, tok: Tok, what: &str) -> Result<(), ScimError> {
        if self.peek() == Some(&tok) {
            self.pos += 1;
            Ok(())
        } else {
            Err(err(self.src, self.at(), &format!("expected {what}")))
        }
    }

    fn enter(&mut self) -> Result<(), ScimError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(err(
                self.src,
                self.at(),
                &format!("filter nested deeper than {MAX_DEPTH} levels"),
            ));
        }
        Ok(())
    }

    fn or_expr(&mut self) -> Result<Filter, ScimError> {
        let first = self.and_expr()?;
        if !self.peek_keyword("or") {
            return Ok(first);
        }
        let mut terms = vec![first];
        while self.peek_keyword("or") {
            self.pos += 1;
            terms.push(self.and_expr()?);
        }
        Ok(Filter::Or(terms))
    }

    fn and_expr(&mut self) -> Result<Filter, ScimError> {
        let first = self.unary()?;
        if !self.peek_keyword("and") {
            return Ok(first);
        }
        let mut terms = vec![first];
        while self.peek_keyword("and") {
            self.pos += 1;
            terms.push(self.unary()?);
        }
        Ok(Filter::And(terms))
    }

    fn unary(&mut self) -> Result<Filter, ScimError> {
        match self.peek() {
            Some(Tok::Word(w))
                if w.eq_ignore_ascii_case("not")
                    && self.toks.get(self.pos + 1).map(|t| &t.0) == Some(&Tok::LParen) =>
            {
                self.pos += 1;
                Ok(Filter::Not(Box::new(self.group()?)))
            }
            Some(Tok::LParen) => self.group(),
            Some(Tok::Word(w))
                if w.eq_ignore_ascii_case("not")
                    && matches!(self.toks.get(self.pos + 1).map(|t| &t.0), Some(Tok::Word(next))
                        if CompareOp::from_keyword(next).is_none() && !next.eq_ignore_ascii_case("pr")) =>
            {
                Err(err(
                    self.src,
                    self.at(),
                    "'not' must be followed by a filter in parentheses: not (...)",
                ))
            }
            Some(Tok::Word(_)) => self.attr_expr(),
            Some(_) => Err(err(
                self.src,
                self.at(),
                "expected an attribute name, 'not' or '('",
            )),
            None => Err(err(
                self.src,
                self.at(),
                "unexpected end of filter; expected an expression",
            )),
        }
    }

    fn group(&mut self) -> Result<Filter, ScimError> {
        self.enter()?;
        self.expect(Tok::LParen, "'('")?;
        let inner = self.or_expr()?;
        self.expect(Tok::RParen, "')'")?;
        self.depth -= 1;
        Ok(inner)
    }

    fn attr_expr(&mut self) -> Result<Filter, ScimError> {
        let start = self.at();
        let Some(Tok::Word(word)) = self.peek().cloned() else {
            return Err(err(self.src, start, "expected an attribute name"));
        };
        self.pos += 1;
        let path = AttrPath::parse(&word).map_err(|_| {
            err(
                self.src,
                start,
                &format!("'{word}' is not a valid attribute path"),
            )
        })?;
        if self.peek() == Some(&Tok::LBracket) {
            if self.in_value_path {
                return Err(err(self.src, self.at(), "value filters cannot be nested"));
            }
            if path.sub.is_some() {
                return Err(err(
                    self.src,
                    self.at(),
                    "a value filter must follow an attribute, not a sub-attribute",
                ));
            }
            self.enter()?;
            self.pos += 1;
            self.in_value_path = true;
            let inner = self.or_expr()?;
            self.in_value_path = false;
            self.expect(Tok::RBracket, "']' closing the value filter")?;
            self.depth -= 1;
            return Ok(Filter::ValuePath {
                attr: path,
                filter: Box::new(inner),
            });
        }
        let op_at = self.at();
        let op_word = match self.peek() {
            Some(Tok::Word(w)) => w.clone(),
            _ => {
                return Err(err(
                    self.src,
                    op_at,
                    &format!("expected an operator after '{word}' (eq, ne, co, sw, ew, gt, ge, lt, le, pr)"),
                ));
            }
        };
        self.pos += 1;
        if op_word.eq_ignore_ascii_case("pr") {
            return Ok(Filter::Present(path));
        }
        let op = CompareOp::from_keyword(&op_word)
            .ok_or_else(|| err(self.src, op_at, &format!("unknown operator '{op_word}'")))?;
        let value_at = self.at();
        let value = match self.peek().cloned() {
            Some(Tok::Str(s)) => CompValue::Str(s),
            Some(Tok::Word(w)) => {
                if w.eq_ignore_ascii_case("true") {
                    CompValue::Bool(true)
                } else if w.eq_ignore_ascii_case("false") {
                    CompValue::Bool(false)
                } else if w.eq_ignore_ascii_case("null") {
                    CompValue::Null
                } else if let Ok(n) = serde_json::from_str::<serde_json::Number>(&w) {
                    CompValue::Number(n)
                } else {
                    return Err(err(
                        self.src,
                        value_at,
                        &format!("'{w}' is not a value; quote strings with \""),
                    ));
                }
            }
            _ => {
                return Err(err(
                    self.src,
                    value_at,
                    &format!("expected a value after '{op_word}'"),
                ));
            }
        };
        self.pos += 1;
        Ok(Filter::Compare { path, op, value })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Filter {
        parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    /// Every filter example of RFC 7644 §3.4.2.2 (Figure 2 and the text) parses and prints canonically.
    #[test]
    fn rfc_7644_examples_parse_and_round_trip() {
        let examples = [
            r#"userName Eq "john""#,
            r#"Username eq "john""#,
            r#"userName eq "bjensen""#,
            r#"name.familyName co "O'Malley""#,
            r#"userName sw "J""#,
            r#"urn:ietf:params:scim:schemas:core:2.0:User:userName sw "J""#,
            "title pr",
            r#"meta.lastModified gt "2011-05-13T04:42:34Z""#,
            r#"meta.lastModified ge "2011-05-13T04:42:34Z""#,
            r#"meta.lastModified lt "2011-05-13T04:42:34Z""#,
            r#"meta.lastModified le "2011-05-13T04:42:34Z""#,
            r#"title pr and userType eq "Employee""#,
            r#"title pr or userType eq "Intern""#,
            r#"schemas eq "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User""#,
            r#"userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")"#,
            r#"userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")"#,
            r#"userType eq "Employee" and (emails.type eq "work")"#,
            r#"userType eq "Employee" and emails[type eq "work" and value co "@example.com"]"#,
            r#"emails[type eq "work" and value co "@example.com"] or ims[type eq "xmpp" and value co "@foo.com"]"#,
            r#"members[value eq "2819c223-7f76-453a-919d-413861904646"]"#,
        ];
        for ex in examples {
            let f = p(ex);
            let printed = f.to_string();
            assert_eq!(p(&printed), f, "{ex} -> {printed}");
        }
        assert_eq!(p(r#"userName Eq "john""#).to_string(), r#"userName eq "john""#);
    }

    /// Found by the filter fuzz target: large floats must survive print and re-parse.
    #[test]
    fn number_literals_round_trip_exactly() {
        for src in [
            "no eq 1111111111111111111111",
            "x gt 1.0e30",
            "x lt -0.1",
            "x eq 18446744073709551615",
        ] {
            let f = p(src);
            assert_eq!(p(&f.to_string()), f, "{src}");
        }
    }

    #[test]
    fn precedence_and_before_or_and_left_associativity() {
        let f = p("a pr or b pr and c pr");
        assert!(matches!(&f, Filter::Or(t) if matches!(t[..], [Filter::Present(_), Filter::And(_)])));
        let f = p("(a pr or b pr) and c pr");
        assert!(matches!(&f, Filter::And(t) if matches!(t[0], Filter::Or(_))));
        assert_eq!(
            p("a pr or b pr or c pr or d pr"),
            Filter::Or(vec![p("a pr"), p("b pr"), p("c pr"), p("d pr")])
        );
        assert_eq!(f.to_string(), "(a pr or b pr) and c pr");
        let f = p("a pr and (b pr and c pr)");
        assert_eq!(f.to_string(), "a pr and (b pr and c pr)");
        assert_eq!(p("a pr and b pr and c pr").to_string(), "a pr and b pr and c pr");
        assert_eq!(p("NOT(a pr)").to_string(), "not (a pr)");
    }

    #[test]
    fn literals() {
        let cases = [
            ("x eq true", CompValue::Bool(true)),
            ("x eq FALSE", CompValue::Bool(false)),
            ("x eq null", CompValue::Null),
            (
                "x gt -1.5e3",
                CompValue::Number(serde_json::from_str("-1.5e3").unwrap()),
            ),
            ("x eq 42", CompValue::Number(42.into())),
            (r#"x eq "a\"b\\c\u00e9""#, CompValue::Str("a\"b\\cé".into())),
        ];
        for (src, want) in cases {
            let Filter::Compare { value, .. } = p(src) else {
                panic!("{src}")
            };
            assert_eq!(value, want, "{src}");
        }
    }

    #[test]
    fn errors_are_invalid_filter_with_position() {
        let cases = [
            ("", "empty"),
            ("userName", "expected an operator after 'userName'"),
            ("userName eq", "expected a value after 'eq'"),
            (r#"userName xx "a""#, "unknown operator 'xx' at character 10"),
            ("userName eq john", "'john' is not a value"),
            (r#"userName eq "john"#, "unterminated string at character 13"),
            (r#"(userName eq "a""#, "expected ')'"),
            (r#"userName eq "a")"#, "unbalanced ')'"),
            (
                r#"userName eq "a" userType eq "b""#,
                "expected 'and' or 'or', found 'userType'",
            ),
            (r#"emails[type eq "work""#, "expected ']'"),
            (r#"emails[ims[type eq "x"]]"#, "cannot be nested"),
            ("1abc pr", "not a valid attribute path"),
            (r#"a eq "\q""#, "invalid escape"),
            ("a pr and", "unexpected end of filter"),
            ("not a pr", "'not' must be followed by a filter in parentheses"),
        ];
        for (src, want) in cases {
            let e = parse(src).unwrap_err();
            assert_eq!(e.kind, crate::ErrorKind::InvalidFilter, "{src}");
            assert!(e.detail.contains(want), "{src}: {}", e.detail);
        }
    }

    #[test]
    fn deep_nesting_is_rejected_not_overflowed() {
        let deep = format!("{}a pr{}", "(".repeat(10_000), ")".repeat(10_000));
        assert!(parse(&deep).unwrap_err().detail.contains("nested deeper"));
        let nots = format!("{}a pr{}", "not (".repeat(5_000), ")".repeat(5_000));
        assert!(parse(&nots).is_err());
        let ok = format!("{}a pr{}", "(".repeat(MAX_DEPTH), ")".repeat(MAX_DEPTH));
        assert!(parse(&ok).is_ok());
    }

    /// A chain of terms is one node however long, so it costs no stack; beyond the cap it is an
    /// `invalidFilter` that says how many terms there were.
    #[test]
    fn long_chains_are_flat_and_capped() {
        let chain = |n: usize, op: &str| vec!["title pr"; n].join(op);
        let f = p(&chain(MAX_TERMS, " or "));
        assert!(matches!(&f, Filter::Or(t) if t.len() == MAX_TERMS));
        assert_eq!(p(&f.to_string()), f);
        for op in [" or ", " and "] {
            let e = parse(&chain(5_000, op)).unwrap_err();
            assert_eq!(e.kind, crate::ErrorKind::InvalidFilter);
            assert!(e.detail.contains("5000 terms; the limit is 200"), "{}", e.detail);
        }
        let inner = format!(
            "emails[{}]",
            chain(MAX_TERMS + 1, " or ").replace("title", "value")
        );
        assert!(parse(&inner).unwrap_err().detail.contains("201 terms"));
    }
}
