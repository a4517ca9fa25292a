//! What every channel kind shares, and nothing else: named arguments, name
//! rules, URL checks, and reading a kind's own keys with the errors a person
//! can act on. A leaf: it imports no other channel module.

use crate::config::diag::Errors;
use serde::Deserialize;
use serde::de::{self, DeserializeOwned, MapAccess, Visitor};
use std::fmt;

/// Named arguments in the order they are written (`args = { a = "1", b = 2 }`).
/// Strings, integers, floats and booleans are accepted; each becomes text.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Args(pub Vec<(String, String)>);

impl<'de> Deserialize<'de> for Args {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Args;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a table of named arguments, e.g. { destination = \"+447700900123\" }")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Args, A::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = map.next_entry::<String, ArgValue>()? {
                    out.push((k, v.0));
                }
                Ok(Args(out))
            }
        }
        d.deserialize_map(V)
    }
}

struct ArgValue(String);

impl<'de> Deserialize<'de> for ArgValue {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = ArgValue;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string, number or boolean")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<ArgValue, E> {
                Ok(ArgValue(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<ArgValue, E> {
                Ok(ArgValue(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<ArgValue, E> {
                Ok(ArgValue(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<ArgValue, E> {
                Ok(ArgValue(v.to_string()))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<ArgValue, E> {
                Ok(ArgValue(if v { "1" } else { "0" }.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

pub(crate) fn problem(
    errors: &mut Errors,
    path: String,
    message: impl Into<String>,
    hint: Option<&str>,
) {
    match hint {
        Some(h) => errors.hint(path, message, h),
        None => errors.push(path, message),
    }
}

/// True for a valid channel name: 1-64 of `a-z`, `0-9`, `-`, `_`.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

/// True for a valid argument name: what may stand between `--` and `=`.
pub fn valid_arg_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
}

/// Checks argument names (`--name=value`); `eventtype` is set by the channel.
pub(crate) fn check_args(errors: &mut Errors, path: &str, args: &[(String, String)]) {
    for (name, value) in args {
        if !valid_arg_name(name) {
            problem(
                errors,
                format!("{path}.{name}"),
                format!("{name:?} is not a valid argument name"),
                Some("use letters, digits, '-', '_' or '.', starting with a letter or digit"),
            );
        } else if name == "eventtype" {
            problem(
                errors,
                format!("{path}.{name}"),
                "eventtype is set by the channel's own `eventtype` key",
                Some("write eventtype = \"...\" in the [[channels]] table"),
            );
        }
        if value.contains('\0') {
            problem(
                errors,
                format!("{path}.{name}"),
                "contains a NUL character, which cannot be passed to a program",
                None,
            );
        }
    }
}

/// A URL with something after the scheme.
pub(crate) fn has_host(u: &str) -> bool {
    u.split_once("://")
        .is_some_and(|(_, rest)| !rest.is_empty() && !rest.starts_with('/'))
}

pub(crate) fn is_http_url(url: &str) -> bool {
    url.starts_with("http://") || url.starts_with("https://")
}

/// Reads a channel's own keys (the table without the keys every kind has)
/// into its kind's `deny_unknown_fields` struct. Each key the kind does not
/// take is reported at its path as not applying to the kind, with the keys
/// it does take; then the rest is read, so its own problems are reported too.
pub(crate) fn read_kind<T: DeserializeOwned>(
    errors: &mut Errors,
    path: &str,
    kind: &str,
    mut table: toml::Table,
) -> Option<T> {
    loop {
        match serde_path_to_error::deserialize::<_, T>(toml::Value::Table(table.clone())) {
            Ok(v) => return Some(v),
            Err(e) => {
                let message = e.inner().message().to_string();
                if let Some((key, takes)) = unknown_field(&message)
                    && table.remove(&key).is_some()
                {
                    problem(
                        errors,
                        format!("{path}.{key}"),
                        format!("does not apply to a {kind} channel"),
                        Some(&format!("{kind} channels take: {takes}")),
                    );
                    continue;
                }
                let inner = e.path().to_string();
                let at = if inner.is_empty() || inner == "." {
                    path.to_string()
                } else {
                    format!("{path}.{inner}")
                };
                problem(errors, at, message, None);
                return None;
            }
        }
    }
}

/// `unknown field `x`, expected one of `a`, `b``, as serde words it: the key
/// and the keys the kind takes.
fn unknown_field(message: &str) -> Option<(String, String)> {
    let rest = message.strip_prefix("unknown field `")?;
    let (key, rest) = rest.split_once('`')?;
    let takes = rest
        .trim_start_matches(", expected one of ")
        .trim_start_matches(", expected ")
        .replace('`', "");
    Some((key.to_string(), takes))
}
