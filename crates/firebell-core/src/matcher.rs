//! Label matchers in Prometheus Alertmanager's syntax, as `amtool` and the
//! Alertmanager API v2 `filter` parameter write them: `name="value"`,
//! `name!="value"`, `name=~"regex"`, `name!~"regex"`. The value may be bare
//! (`alertname=Up`) or double-quoted with `\"`, `\\` and `\n` escapes. A list
//! is comma-separated, optionally in braces: `{alertname="Up",job=~"node.*"}`.
//!
//! Regular expressions are anchored at both ends (`^(?:re)$`), as in
//! Alertmanager; their syntax is RE2's, which the `regex` crate shares.

use regex::Regex;
use std::collections::BTreeMap;
use std::fmt;

/// How a matcher compares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MatchOp {
    /// `=`
    Equal,
    /// `!=`
    NotEqual,
    /// `=~`
    Regex,
    /// `!~`
    NotRegex,
}

impl MatchOp {
    pub fn as_str(self) -> &'static str {
        match self {
            MatchOp::Equal => "=",
            MatchOp::NotEqual => "!=",
            MatchOp::Regex => "=~",
            MatchOp::NotRegex => "!~",
        }
    }

    /// True for `!=` and `!~`.
    pub fn is_negative(self) -> bool {
        matches!(self, MatchOp::NotEqual | MatchOp::NotRegex)
    }
}

/// Why a matcher was refused; the message follows Alertmanager's wording.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct MatcherError(pub String);

/// One label matcher.
#[derive(Clone, Debug)]
pub struct Matcher {
    name: String,
    op: MatchOp,
    value: String,
    /// Compiled `^(?:value)$` for `=~` and `!~`.
    regex: Option<Regex>,
}

impl PartialEq for Matcher {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && self.op == other.op && self.value == other.value
    }
}

/// Go's `\s`: ASCII whitespace.
fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r' | '\x0c')
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

impl Matcher {
    /// A matcher from its parts; a regex that does not compile is refused.
    pub fn new(
        name: impl Into<String>,
        op: MatchOp,
        value: impl Into<String>,
    ) -> Result<Self, MatcherError> {
        let name = name.into();
        let value = value.into();
        if !valid_name(&name) {
            return Err(MatcherError(format!("invalid label name {name:?}")));
        }
        let regex = match op {
            MatchOp::Equal | MatchOp::NotEqual => None,
            MatchOp::Regex | MatchOp::NotRegex => Some(anchored(&value).map_err(|why| {
                MatcherError(format!(
                    "invalid regular expression {value:?} for label {name}: {why}"
                ))
            })?),
        };
        Ok(Self {
            name,
            op,
            value,
            regex,
        })
    }

    /// Parses one matcher, e.g. `severity=~"crit.*"` (Alertmanager's
    /// `ParseMatcher`: what the API takes in each `filter` parameter).
    pub fn parse(s: &str) -> Result<Self, MatcherError> {
        let bad = || MatcherError(format!("bad matcher format: {s}"));
        let rest = s.trim_start_matches(is_space);
        let name_len = rest
            .char_indices()
            .find(|&(i, c)| {
                !(c.is_ascii_alphabetic() || c == '_' || c == ':' || (i > 0 && c.is_ascii_digit()))
            })
            .map_or(rest.len(), |(i, _)| i);
        if name_len == 0 {
            return Err(bad());
        }
        let (name, rest) = rest.split_at(name_len);
        let rest = rest.trim_start_matches(is_space);
        // `=~` before `=`, or the `~` would land in the value.
        let (op, rest) = [
            ("=~", MatchOp::Regex),
            ("!=", MatchOp::NotEqual),
            ("!~", MatchOp::NotRegex),
            ("=", MatchOp::Equal),
        ]
        .into_iter()
        .find_map(|(tok, op)| rest.strip_prefix(tok).map(|r| (op, r)))
        .ok_or_else(bad)?;
        let raw = rest.trim_matches(is_space);
        Matcher::new(name, op, unquote(raw)?)
    }

    /// Parses a comma-separated list, optionally in braces:
    /// `{alertname="Up", job=~"node.*"}` (Alertmanager's `ParseMatchers`, what
    /// `amtool` accepts). Commas inside quotes do not split.
    pub fn parse_list(s: &str) -> Result<Vec<Self>, MatcherError> {
        let s = s.trim_matches(is_space);
        let s = s.strip_prefix('{').unwrap_or(s);
        let s = s.strip_suffix('}').unwrap_or(s);
        let mut tokens = Vec::new();
        let mut token = String::new();
        let (mut quoted, mut escaped) = (false, false);
        for c in s.chars() {
            match c {
                ',' if !quoted => {
                    tokens.push(std::mem::take(&mut token));
                    continue;
                }
                // As in Alertmanager, a quoted comma leaves an escape pending.
                ',' => {}
                '"' if !escaped => quoted = !quoted,
                '"' => escaped = false,
                '\\' => escaped = !escaped,
                _ => escaped = false,
            }
            token.push(c);
        }
        if !token.trim_matches(is_space).is_empty() {
            tokens.push(token);
        }
        tokens.iter().map(|t| Matcher::parse(t)).collect()
    }

    /// One `filter` value of the API: a single matcher, or (a convenience
    /// Alertmanager 0.25 lacks) a braced list such as `{a="b",c="d"}`.
    pub fn parse_filter(s: &str) -> Result<Vec<Self>, MatcherError> {
        match Matcher::parse(s) {
            Ok(m) => Ok(vec![m]),
            // A list must hold at least one matcher: `{` or `{}` would
            // otherwise match every alert.
            Err(e) if s.trim_start_matches(is_space).starts_with('{') => {
                match Matcher::parse_list(s) {
                    Ok(list) if !list.is_empty() => Ok(list),
                    _ => Err(e),
                }
            }
            Err(e) => Err(e),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn op(&self) -> MatchOp {
        self.op
    }

    pub fn value(&self) -> &str {
        &self.value
    }

    /// Whether a label value matches (a missing label is the empty string).
    pub fn matches(&self, value: &str) -> bool {
        match (self.op, &self.regex) {
            (MatchOp::Equal, _) => value == self.value,
            (MatchOp::NotEqual, _) => value != self.value,
            (MatchOp::Regex, Some(re)) => re.is_match(value),
            (MatchOp::NotRegex, Some(re)) => !re.is_match(value),
            // `new` compiles a regex for both regex operators.
            (MatchOp::Regex | MatchOp::NotRegex, None) => false,
        }
    }

    /// Whether a label set passes this matcher, as Alertmanager's API filters
    /// alerts: `name=""` and `name=~""` also pass when the label is absent,
    /// and `name!=""` and `name!~""` pass whenever it is present.
    pub fn matches_labels(&self, labels: &BTreeMap<String, String>) -> bool {
        let value = labels.get(&self.name);
        if self.value.is_empty() {
            match (self.op.is_negative(), value) {
                (true, Some(_)) | (false, None) => return true,
                _ => {}
            }
        }
        self.matches(value.map_or("", String::as_str))
    }
}

/// Every matcher passes.
/// `re` compiled anchored at both ends (`^(?:re)$`), as Alertmanager's
/// matchers and Firebell's rules read it; on error, what is wrong in one line.
pub fn anchored(re: &str) -> Result<Regex, String> {
    Regex::new(&format!("^(?:{re})$")).map_err(|e| {
        // The crate's message is a diagram over several lines; its last line
        // says what is wrong.
        let text = e.to_string();
        let why = text.lines().last().unwrap_or("invalid").trim();
        why.strip_prefix("error: ").unwrap_or(why).to_string()
    })
}

pub fn all_match(matchers: &[Matcher], labels: &BTreeMap<String, String>) -> bool {
    matchers.iter().all(|m| m.matches_labels(labels))
}

/// A value as written after the operator: bare, or double-quoted with
/// escapes. A backslash before anything but `"`, `\` or `n` stays as written.
fn unquote(raw: &str) -> Result<String, MatcherError> {
    let unescaped_quote = || {
        MatcherError(format!(
            "matcher value contains unescaped double quote: {raw}"
        ))
    };
    let (body, mut want_close) = match raw.strip_prefix('"') {
        Some(b) => (b, true),
        None => (raw, false),
    };
    let mut out = String::with_capacity(body.len());
    let mut escaped = false;
    for (i, c) in body.char_indices() {
        let last = i + c.len_utf8() == body.len();
        if escaped {
            escaped = false;
            match c {
                'n' => out.push('\n'),
                '"' | '\\' => out.push(c),
                other => {
                    out.push('\\');
                    out.push(other);
                }
            }
            continue;
        }
        match c {
            '\\' if !last => escaped = true,
            '"' if want_close && last => want_close = false,
            '"' => return Err(unescaped_quote()),
            c => out.push(c),
        }
    }
    if want_close {
        return Err(unescaped_quote());
    }
    Ok(out)
}

impl fmt::Display for Matcher {
    /// `name="value"`, escaped so that [`Matcher::parse`] reads it back.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}\"", self.name, self.op.as_str())?;
        for c in self.value.chars() {
            match c {
                '"' => f.write_str("\\\"")?,
                '\\' => f.write_str("\\\\")?,
                '\n' => f.write_str("\\n")?,
                c => write!(f, "{c}")?,
            }
        }
        f.write_str("\"")
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn parts(s: &str) -> (String, MatchOp, String) {
        let m = Matcher::parse(s).unwrap();
        (m.name().to_string(), m.op(), m.value().to_string())
    }

    #[test]
    fn the_four_operators_bare_and_quoted() {
        use MatchOp::*;
        assert_eq!(
            parts("alertname=Up"),
            ("alertname".into(), Equal, "Up".into())
        );
        assert_eq!(
            parts(r#"alertname="Up""#),
            ("alertname".into(), Equal, "Up".into())
        );
        assert_eq!(parts(r#"a!="b""#), ("a".into(), NotEqual, "b".into()));
        assert_eq!(
            parts(r#"severity=~"crit.*""#),
            ("severity".into(), Regex, "crit.*".into())
        );
        assert_eq!(parts("a!~re"), ("a".into(), NotRegex, "re".into()));
        // Spaces around the operator and the value are dropped.
        assert_eq!(
            parts("  job  =  node  "),
            ("job".into(), Equal, "node".into())
        );
        // `==` is `=` with a value starting with `=`, as in Alertmanager.
        assert_eq!(parts("a==b"), ("a".into(), Equal, "=b".into()));
        assert_eq!(parts("a="), ("a".into(), Equal, String::new()));
        assert_eq!(parts(r#"a="""#), ("a".into(), Equal, String::new()));
        assert_eq!(
            parts("__name__:x=1"),
            ("__name__:x".into(), Equal, "1".into())
        );
    }

    #[test]
    fn escapes_in_quoted_values() {
        assert_eq!(parts(r#"a="say \"hi\"""#).2, r#"say "hi""#);
        assert_eq!(parts(r#"a="back\\slash""#).2, r"back\slash");
        assert_eq!(parts(r#"a="two\nlines""#).2, "two\nlines");
        // A spurious escape keeps its backslash; a trailing one is literal.
        assert_eq!(parts(r#"a="\d+""#).2, r"\d+");
        assert_eq!(parts(r"a=x\"), ("a".into(), MatchOp::Equal, r"x\".into()));
        assert_eq!(parts(r#"a="x,y""#).2, "x,y");
    }

    #[test]
    fn malformed_matchers_say_what_alertmanager_says() {
        for (input, msg) in [
            ("bad", "bad matcher format: bad"),
            ("", "bad matcher format: "),
            ("=x", "bad matcher format: =x"),
            ("1a=x", "bad matcher format: 1a=x"),
            ("a~x", "bad matcher format: a~x"),
            (
                r#"{alertname="X"}"#,
                r#"bad matcher format: {alertname="X"}"#,
            ),
            (
                r#"a="b"""#,
                r#"matcher value contains unescaped double quote: "b"""#,
            ),
            (
                r#"a="b"#,
                r#"matcher value contains unescaped double quote: "b"#,
            ),
            (
                r#"a=b"c"#,
                r#"matcher value contains unescaped double quote: b"c"#,
            ),
        ] {
            assert_eq!(Matcher::parse(input).unwrap_err().0, msg, "{input:?}");
        }
        let e = Matcher::parse(r#"a=~"(""#).unwrap_err().0;
        assert!(
            e.starts_with(r#"invalid regular expression "(" for label a: "#),
            "{e}"
        );
        assert!(e.contains("unclosed group"), "{e}");
    }

    #[test]
    fn lists_in_braces_split_on_commas_outside_quotes() {
        let ms = Matcher::parse_list(r#"{alertname="X", team=~"a,b", env!="prod"}"#).unwrap();
        let shown: Vec<String> = ms.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            [r#"alertname="X""#, r#"team=~"a,b""#, r#"env!="prod""#]
        );
        assert_eq!(Matcher::parse_list("a=1,b=2").unwrap().len(), 2);
        assert!(Matcher::parse_list("{}").unwrap().is_empty());
        assert!(Matcher::parse_list("{a=1,,b=2}").is_err());
        // A filter takes one matcher, or a braced list.
        assert_eq!(Matcher::parse_filter("a=x,y").unwrap()[0].value(), "x,y");
        assert_eq!(Matcher::parse_filter(r#"{a="1",b="2"}"#).unwrap().len(), 2);
        assert_eq!(
            Matcher::parse_filter("{a=1,bad}").unwrap_err().0,
            "bad matcher format: {a=1,bad}"
        );
    }

    #[test]
    fn regexes_are_anchored() {
        let m = Matcher::parse(r#"severity=~"crit.*""#).unwrap();
        assert!(m.matches("critical"));
        assert!(!m.matches("supercritical"));
        let m = Matcher::parse("job=~node|api").unwrap();
        assert!(m.matches("api") && m.matches("node") && !m.matches("nodes"));
        let m = Matcher::parse("job!~node|api").unwrap();
        assert!(!m.matches("api") && m.matches("db"));
    }

    #[test]
    fn an_empty_or_unclosed_filter_list_is_an_error_not_everything() {
        for f in ["{", "{}", " { ", "{,}"] {
            assert!(Matcher::parse_filter(f).is_err(), "{f:?}");
        }
        assert_eq!(Matcher::parse_filter("{a=\"b\"}").unwrap().len(), 1);
    }

    #[test]
    fn label_sets_filter_like_alertmanagers_api() {
        let set = labels(&[("alertname", "Up"), ("severity", "critical")]);
        let pass = |s: &str| Matcher::parse(s).unwrap().matches_labels(&set);
        assert!(pass("alertname=Up"));
        assert!(!pass("alertname=Down"));
        assert!(pass("alertname!=Down"));
        assert!(pass(r#"severity=~"crit.*""#));
        assert!(!pass(r#"severity!~"crit.*""#));
        // An absent label is the empty string...
        assert!(!pass("team=a"));
        assert!(pass("team!=a"));
        assert!(pass("team!~a.*"));
        // ...and the empty value has Alertmanager's special cases.
        assert!(pass(r#"team="""#));
        assert!(pass(r#"team=~"""#));
        assert!(!pass(r#"team!="""#));
        assert!(pass(r#"alertname!="""#));
        assert!(!pass(r#"alertname="""#));
        let both = Matcher::parse_list("alertname=Up,severity=warning").unwrap();
        assert!(!all_match(&both, &set));
        assert!(all_match(&[], &set));
    }

    proptest! {
        #[test]
        fn display_parses_back(name in "[a-zA-Z_][a-zA-Z0-9_]{0,8}", value in "\\PC{0,12}", op in 0..2usize) {
            let op = [MatchOp::Equal, MatchOp::NotEqual][op];
            let m = Matcher::new(name, op, value).unwrap();
            prop_assert_eq!(Matcher::parse(&m.to_string()).unwrap(), m);
        }
    }
}
