//! Replies through an SMS gateway: an http_sms channel's `inbound` table.
//!
//! A gateway forwards each text sent to its number to
//! `POST /hooks/sms/{channel}` (or GET, as TextAnywhere does). Which fields
//! hold the sender and the text differs per gateway, so a `preset` names
//! them (or `from_field` / `text_field` do). Each request is authenticated
//! the gateway's own way where it signs, else by a long random token:
//!
//! - Vonage: the `sig` parameter, over the other parameters sorted by name
//!   as `&name=value` (with `&` and `=` in values written `_`), either
//!   `md5hash` (MD5 of that string and the secret) or an HMAC with the
//!   secret (`md5`, `sha1`, `sha256`, `sha512`); lower-case hex.
//! - Plivo V3: `X-Plivo-Signature-V3` (comma-separated, one must match) =
//!   base64(HMAC-SHA256(auth token, URL + "." + `X-Plivo-Signature-V3-Nonce`)),
//!   where for a POST the URL without its query gets `?`, its query sorted
//!   as `name=value&…` then `.` if it had one, and each POST parameter
//!   sorted by name as `namevalue`; for a GET the URL's query, sorted.
//! - Anything else: `token` in the URL's query (`?token=…`), at least 32
//!   characters, compared in constant time.
//!
//! Everything here is pure; the server's `routes/hooks/sms.rs` receives.

use crate::config::diag::{Errors, SecretSource, resolve_secret};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use md5::{Digest, Md5};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use subtle::ConstantTimeEq;

/// The shortest URL token accepted: long enough that guessing is hopeless.
pub const MIN_TOKEN_CHARS: usize = 32;

/// How far a Vonage `timestamp` may be from Firebell's clock.
pub const VONAGE_MAX_SKEW_SECS: i64 = 600;

/// `inbound = { preset = "vonage", signature_secret = "env:…" }`, as written.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawInbound {
    preset: Option<String>,
    from_field: Option<String>,
    text_field: Option<String>,
    id_field: Option<String>,
    token: Option<String>,
    signature_secret: Option<String>,
    signature_method: Option<String>,
    auth_token: Option<String>,
}

/// A gateway's inbound side, validated.
#[derive(Debug, Clone)]
pub struct Inbound {
    /// The parameter holding the sender's number.
    pub from_field: String,
    /// The parameter holding the text.
    pub text_field: String,
    /// The parameter holding the gateway's message id, which makes a
    /// repeated delivery act once; without one, the whole request is the id.
    pub id_field: Option<String>,
    pub auth: InboundAuth,
}

#[derive(Debug, Clone)]
pub enum InboundAuth {
    /// `?token=` in the URL.
    Token(SecretString),
    /// Vonage's `sig` parameter.
    Vonage {
        secret: SecretString,
        method: VonageMethod,
    },
    /// Plivo's `X-Plivo-Signature-V3` header.
    PlivoV3 { auth_token: SecretString },
}

/// Vonage's signature methods, as its dashboard names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VonageMethod {
    Md5Hash,
    HmacMd5,
    HmacSha1,
    HmacSha256,
    HmacSha512,
}

/// Presets: (name, sender field, text field, message id field).
pub const PRESETS: [(&str, &str, &str, Option<&str>); 3] = [
    // Vonage SMS API inbound webhook.
    ("vonage", "msisdn", "text", Some("messageId")),
    // Plivo's message URL.
    ("plivo", "From", "Text", Some("MessageUUID")),
    // TextAnywhere forwards each inbound text by GET; it carries no id.
    ("textanywhere", "Originator", "Body", None),
];

const METHODS: [(&str, VonageMethod); 5] = [
    ("md5hash", VonageMethod::Md5Hash),
    ("md5", VonageMethod::HmacMd5),
    ("sha1", VonageMethod::HmacSha1),
    ("sha256", VonageMethod::HmacSha256),
    ("sha512", VonageMethod::HmacSha512),
];

fn quoted(names: impl Iterator<Item = &'static str>) -> String {
    names
        .map(|n| format!("{n:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Validates `{path}.inbound`.
pub(crate) fn validate(
    raw: &RawInbound,
    path: &str,
    secrets: &dyn SecretSource,
    errors: &mut Errors,
) -> Option<Inbound> {
    let preset = match raw.preset.as_deref() {
        None => None,
        Some(p) => match PRESETS.iter().find(|(name, ..)| *name == p) {
            Some(found) => Some(*found),
            None => {
                errors.hint(
                    format!("{path}.preset"),
                    format!("unknown preset {p:?}"),
                    format!("one of {}", quoted(PRESETS.iter().map(|p| p.0))),
                );
                return None;
            }
        },
    };
    let field =
        |errors: &mut Errors, key: &str, given: &Option<String>, preset: Option<&str>| match (
            given, preset,
        ) {
            (Some(f), _) if f.trim().is_empty() => {
                errors.push(format!("{path}.{key}"), "must not be empty");
                None
            }
            (Some(f), _) => Some(f.clone()),
            (None, Some(p)) => Some(p.to_string()),
            (None, None) => {
                errors.hint(
                    format!("{path}.{key}"),
                    "missing",
                    format!(
                        "name the gateway's field, or set preset to one of {}",
                        quoted(PRESETS.iter().map(|p| p.0))
                    ),
                );
                None
            }
        };
    let from_field = field(errors, "from_field", &raw.from_field, preset.map(|p| p.1));
    let text_field = field(errors, "text_field", &raw.text_field, preset.map(|p| p.2));
    let id_field = raw
        .id_field
        .clone()
        .or_else(|| preset.and_then(|p| p.3.map(str::to_string)));
    let secret = |errors: &mut Errors, key: &str, v: &str| {
        resolve_secret(errors, &format!("{path}.{key}"), v, secrets)
    };
    let given: Vec<&str> = [
        ("token", raw.token.is_some()),
        ("signature_secret", raw.signature_secret.is_some()),
        ("auth_token", raw.auth_token.is_some()),
    ]
    .iter()
    .filter(|(_, set)| *set)
    .map(|(k, _)| *k)
    .collect();
    if given.len() != 1 {
        errors.hint(
            path.to_string(),
            if given.is_empty() {
                "says nothing to authenticate the gateway's requests".to_string()
            } else {
                format!(
                    "gives {} ways to authenticate; give one",
                    given.join(" and ")
                )
            },
            "signature_secret (Vonage's signed webhooks), auth_token (Plivo's V3 signature), \
             or token (a random string of at least 32 characters, sent as ?token= in the URL)",
        );
        return None;
    }
    if raw.signature_method.is_some() && raw.signature_secret.is_none() {
        errors.push(
            format!("{path}.signature_method"),
            "applies only with signature_secret",
        );
    }
    let auth = if let Some(t) = &raw.token {
        let token = secret(errors, "token", t)?;
        let v = token.expose_secret();
        if v.chars().count() < MIN_TOKEN_CHARS
            || !v
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            errors.hint(
                format!("{path}.token"),
                format!(
                    "must be at least {MIN_TOKEN_CHARS} characters of letters, digits, - and _"
                ),
                "e.g. the output of: openssl rand -hex 24",
            );
            return None;
        }
        InboundAuth::Token(token)
    } else if let Some(s) = &raw.signature_secret {
        let method = match raw.signature_method.as_deref() {
            None => VonageMethod::Md5Hash,
            Some(m) => match METHODS.iter().find(|(n, _)| *n == m) {
                Some((_, method)) => *method,
                None => {
                    errors.hint(
                        format!("{path}.signature_method"),
                        format!("unknown value {m:?}"),
                        format!(
                            "one of {} (as the Vonage dashboard's signature method)",
                            quoted(METHODS.iter().map(|m| m.0))
                        ),
                    );
                    return None;
                }
            },
        };
        InboundAuth::Vonage {
            secret: secret(errors, "signature_secret", s)?,
            method,
        }
    } else {
        let t = raw.auth_token.as_deref().unwrap_or_default();
        InboundAuth::PlivoV3 {
            auth_token: secret(errors, "auth_token", t)?,
        }
    };
    Some(Inbound {
        from_field: from_field?,
        text_field: text_field?,
        id_field,
        auth,
    })
}

/// The string Vonage signs: every parameter but `sig`, sorted by name, as
/// `&name=value` with `&` and `=` in values written `_`.
fn vonage_string(params: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = params.iter().filter(|(k, _)| k != "sig").collect();
    sorted.sort();
    sorted
        .iter()
        .map(|(k, v)| format!("&{k}={}", v.replace(['&', '='], "_")))
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn hmac_hex<M: Mac + hmac::digest::KeyInit>(secret: &[u8], data: &[u8]) -> String {
    let mut mac = <M as hmac::digest::KeyInit>::new_from_slice(secret)
        .unwrap_or_else(|_| unreachable!("HMAC takes a key of any length"));
    mac.update(data);
    hex(&mac.finalize().into_bytes())
}

/// Vonage's `sig` for these parameters (lower-case hex).
pub fn vonage_signature(secret: &str, method: VonageMethod, params: &[(String, String)]) -> String {
    let s = vonage_string(params);
    match method {
        VonageMethod::Md5Hash => {
            let mut h = Md5::new();
            h.update(s.as_bytes());
            h.update(secret.as_bytes());
            hex(&h.finalize())
        }
        VonageMethod::HmacMd5 => hmac_hex::<Hmac<Md5>>(secret.as_bytes(), s.as_bytes()),
        VonageMethod::HmacSha1 => hmac_hex::<Hmac<sha1::Sha1>>(secret.as_bytes(), s.as_bytes()),
        VonageMethod::HmacSha256 => hmac_hex::<Hmac<sha2::Sha256>>(secret.as_bytes(), s.as_bytes()),
        VonageMethod::HmacSha512 => hmac_hex::<Hmac<sha2::Sha512>>(secret.as_bytes(), s.as_bytes()),
    }
}

/// Checks Vonage's `sig` among `params`, in constant time.
pub fn vonage_verify(secret: &str, method: VonageMethod, params: &[(String, String)]) -> bool {
    let Some((_, given)) = params.iter().find(|(k, _)| k == "sig") else {
        return false;
    };
    let ours = vonage_signature(secret, method, params);
    ours.as_bytes()
        .ct_eq(given.to_ascii_lowercase().as_bytes())
        .into()
}

fn sorted_query(pairs: &mut [(String, String)]) -> String {
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// Plivo's V3 signature of a request: `url` as received (with its query),
/// its POST parameters (none for a GET) and the nonce header.
pub fn plivo_v3_signature(
    auth_token: &str,
    method_is_post: bool,
    url: &str,
    post: &[(String, String)],
    nonce: &str,
) -> String {
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let mut query: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let query = sorted_query(&mut query);
    let mut signed = base.to_string();
    if method_is_post && !post.is_empty() {
        signed.push('?');
        signed.push_str(&query);
        if !query.is_empty() {
            signed.push('.');
        }
        let mut post: Vec<&(String, String)> = post.iter().collect();
        post.sort();
        for (k, v) in post {
            signed.push_str(k);
            signed.push_str(v);
        }
    } else if !query.is_empty() {
        signed.push('?');
        signed.push_str(&query);
    }
    signed.push('.');
    signed.push_str(nonce);
    let mut mac =
        <Hmac<sha2::Sha256> as hmac::digest::KeyInit>::new_from_slice(auth_token.as_bytes())
            .unwrap_or_else(|_| unreachable!("HMAC takes a key of any length"));
    mac.update(signed.as_bytes());
    STANDARD.encode(mac.finalize().into_bytes())
}

/// Checks a `X-Plivo-Signature-V3` header (one of its comma-separated
/// signatures must match), in constant time.
pub fn plivo_v3_verify(
    auth_token: &str,
    method_is_post: bool,
    url: &str,
    post: &[(String, String)],
    nonce: &str,
    header: &str,
) -> bool {
    let ours = plivo_v3_signature(auth_token, method_is_post, url, post, nonce);
    header
        .split(',')
        .any(|s| bool::from(s.trim().as_bytes().ct_eq(ours.as_bytes())))
}

/// Checks a URL token in constant time.
pub fn token_matches(expected: &SecretString, given: &str) -> bool {
    expected
        .expose_secret()
        .as_bytes()
        .ct_eq(given.as_bytes())
        .into()
}

/// A sender's number as digits only, without a leading international `00`:
/// `+44 7700 900123`, `447700900123` and `00447700900123` are one number.
pub fn number_digits(number: &str) -> String {
    let digits: String = number.chars().filter(char::is_ascii_digit).collect();
    match digits.strip_prefix("00") {
        Some(rest) if !number.trim_start().starts_with('+') => rest.to_string(),
        _ => digits,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn vonage_md5hash_is_md5_of_the_sorted_string_and_the_secret() {
        // Python's hashlib: md5(b"&a=1&b=x_y_z" + b"secret"), and
        // hmac.new(b"secret", b"&a=1&b=x_y_z", sha256).
        let params = p(&[("b", "x&y=z"), ("a", "1"), ("sig", "ignored")]);
        assert_eq!(vonage_string(&params), "&a=1&b=x_y_z");
        let sig = vonage_signature("secret", VonageMethod::Md5Hash, &params);
        assert_eq!(sig, "d088c52d7310db7e614291e02965665f");
        assert_eq!(
            vonage_signature("secret", VonageMethod::HmacSha256, &params),
            "df118f87671493df4adacdac13cfe0589acd128b696c2eecf46e96e6494c11f5"
        );
        let mut signed = params.clone();
        signed.retain(|(k, _)| k != "sig");
        signed.push(("sig".into(), sig.to_ascii_uppercase()));
        assert!(vonage_verify("secret", VonageMethod::Md5Hash, &signed));
        assert!(!vonage_verify("other", VonageMethod::Md5Hash, &signed));
        assert!(!vonage_verify("secret", VonageMethod::HmacMd5, &signed));
        signed[0].1 = "2".into();
        assert!(!vonage_verify("secret", VonageMethod::Md5Hash, &signed));
    }

    /// Vectors printed by the gateways' own libraries (tests/python/sms_sign.py).
    #[test]
    fn signatures_match_the_gateways_libraries() {
        let post = p(&[
            ("From", "447700900123"),
            ("Text", "42a"),
            ("MessageUUID", "u-1"),
        ]);
        let url = "https://pager.example.com/hooks/sms/plivo";
        let sig = plivo_v3_signature("tok", true, url, &post, "12345");
        assert_eq!(sig, "f+gwPQ9zNaxxXagXM6UNbLUTiid5ZsXm8h8p7fo1ixI=");
        assert!(plivo_v3_verify(
            "tok",
            true,
            url,
            &post,
            "12345",
            &format!("x,{sig}")
        ));
        assert!(!plivo_v3_verify("tok", true, url, &post, "12346", &sig));
        let post = p(&[("From", "447700900123"), ("Text", "4 2")]);
        assert_eq!(
            plivo_v3_signature("tok", true, &format!("{url}?b=2&a=1"), &post, "n"),
            "MmtW8kxQ2Z4Vd3KfeYUp6EJAsKZ/LI+dETszwAvZBrs="
        );
        let params = p(&[
            ("msisdn", "447700900123"),
            ("text", "a&b=c"),
            ("timestamp", "1700000000"),
        ]);
        assert_eq!(
            vonage_signature("sec", VonageMethod::HmacSha256, &params),
            "63560c4763c074c66ca1374bebbfe9d4b5d1f98ec23fd5e4451ea6752c19032d"
        );
    }

    #[test]
    fn numbers_compare_as_digits() {
        assert_eq!(number_digits("+44 7700 900123"), "447700900123");
        assert_eq!(number_digits("447700900123"), "447700900123");
        assert_eq!(number_digits("00447700900123"), "447700900123");
    }
}
