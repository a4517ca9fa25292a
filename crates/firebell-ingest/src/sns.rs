//! AWS SNS HTTP(S) deliveries: the JSON envelope SNS POSTs to a subscribed
//! URL, its signature, and CloudWatch alarms inside it.
//!
//! Everything here is pure: the server fetches the signing certificate (and
//! confirms subscriptions) and hands the PEM to [`SigningCert::from_pem`].
//!
//! - **Signature.** SNS signs `Key\nValue\n` pairs of fixed fields in a fixed
//!   order ([`Message::string_to_sign`]) with the key of the certificate at
//!   `SigningCertURL`: `SignatureVersion` `"1"` is RSA PKCS#1 v1.5 with SHA-1,
//!   `"2"` with SHA-256. A certificate URL is accepted only if it is https,
//!   ends in `.pem`, and its host is `sns.<region>.amazonaws.com` (or
//!   `.amazonaws.com.cn`) on the default port ([`check_cert_url`]); a
//!   certificate only inside its validity period.
//! - **CloudWatch alarms** (a `Message` that is JSON with `AlarmName` and
//!   `NewStateValue`): `ALARM` triggers (critical), `OK` resolves,
//!   `INSUFFICIENT_DATA` does what the integration's `insufficient_data`
//!   says (a trigger is a warning). The dedup key is the `AlarmArn`; the
//!   summary is `AlarmName: NewStateReason`; the first dimension's value is
//!   the source; alarm name, namespace, metric and dimensions are labels; the
//!   reason, description, states, metric, dimensions, threshold, region and
//!   account are details.
//! - **Any other message** triggers a generic alert: the summary is the
//!   `Subject`, else the first non-empty line of the `Message`; the source is
//!   the topic's name; the dedup key is derived from the service, summary and
//!   topic, so a repeat (or SNS redelivering) collapses into the open alert.

use crate::IngestError;
use base64::Engine as _;
use firebell_core::config::InsufficientData;
use firebell_core::event::{
    self, DedupKey, Event, EventAction, FieldError, MAX_LABELS, MAX_SOURCE_CHARS,
    MAX_SUMMARY_CHARS, Severity,
};
use jiff::Timestamp;
use ring::signature;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use url::Url;
use x509_cert::Certificate;
use x509_cert::der::DecodePem;
use x509_cert::der::oid::ObjectIdentifier;

/// What an SNS delivery is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageType {
    Notification,
    SubscriptionConfirmation,
    UnsubscribeConfirmation,
}

impl MessageType {
    pub fn as_str(self) -> &'static str {
        match self {
            MessageType::Notification => "Notification",
            MessageType::SubscriptionConfirmation => "SubscriptionConfirmation",
            MessageType::UnsubscribeConfirmation => "UnsubscribeConfirmation",
        }
    }
}

/// How a message is signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureVersion {
    /// RSA PKCS#1 v1.5 with SHA-1.
    V1,
    /// RSA PKCS#1 v1.5 with SHA-256.
    V2,
}

/// One SNS delivery, its fields checked for shape (not yet for authenticity).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub kind: MessageType,
    pub message_id: String,
    pub topic_arn: String,
    /// Notifications only, and only when the publisher gave one.
    pub subject: Option<String>,
    pub message: String,
    pub timestamp: String,
    pub signature_version: SignatureVersion,
    pub signature: Vec<u8>,
    pub signing_cert_url: String,
    /// Confirmations only.
    pub subscribe_url: Option<String>,
    /// Confirmations only.
    pub token: Option<String>,
}

fn string_field(
    obj: &Map<String, Value>,
    name: &str,
    required: bool,
    errors: &mut Vec<FieldError>,
) -> Option<String> {
    match obj.get(name) {
        Some(Value::String(s)) => Some(s.clone()),
        None | Some(Value::Null) => {
            if required {
                errors.push(FieldError::new(name, "missing"));
            }
            None
        }
        Some(_) => {
            errors.push(FieldError::new(name, "must be a string"));
            None
        }
    }
}

/// Parses an SNS delivery body (JSON, whatever the Content-Type says).
pub fn parse(body: &[u8]) -> Result<Message, IngestError> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| IngestError::Malformed(e.to_string()))?;
    let Value::Object(obj) = value else {
        return Err(IngestError::Malformed(
            "the body must be an SNS message object".into(),
        ));
    };
    let mut errors = Vec::new();
    let kind = match string_field(&obj, "Type", true, &mut errors).as_deref() {
        Some("Notification") => Some(MessageType::Notification),
        Some("SubscriptionConfirmation") => Some(MessageType::SubscriptionConfirmation),
        Some("UnsubscribeConfirmation") => Some(MessageType::UnsubscribeConfirmation),
        Some(other) => {
            errors.push(FieldError::new(
                "Type",
                format!(
                    "unknown message type {other:?}; expected Notification, SubscriptionConfirmation or UnsubscribeConfirmation"
                ),
            ));
            None
        }
        None => None,
    };
    let confirmation = matches!(
        kind,
        Some(MessageType::SubscriptionConfirmation | MessageType::UnsubscribeConfirmation)
    );
    let message_id = string_field(&obj, "MessageId", true, &mut errors);
    let topic_arn = string_field(&obj, "TopicArn", true, &mut errors);
    let subject = if confirmation {
        None
    } else {
        string_field(&obj, "Subject", false, &mut errors)
    };
    let message = string_field(&obj, "Message", true, &mut errors);
    let timestamp = string_field(&obj, "Timestamp", true, &mut errors);
    let signature_version =
        match string_field(&obj, "SignatureVersion", true, &mut errors).as_deref() {
            Some("1") => Some(SignatureVersion::V1),
            Some("2") => Some(SignatureVersion::V2),
            Some(other) => {
                errors.push(FieldError::new(
                    "SignatureVersion",
                    format!("unsupported signature version {other:?}; expected \"1\" or \"2\""),
                ));
                None
            }
            None => None,
        };
    let signature = string_field(&obj, "Signature", true, &mut errors).and_then(|s| {
        match base64::engine::general_purpose::STANDARD.decode(s.trim()) {
            Ok(bytes) if !bytes.is_empty() => Some(bytes),
            _ => {
                errors.push(FieldError::new("Signature", "is not base64"));
                None
            }
        }
    });
    let signing_cert_url = string_field(&obj, "SigningCertURL", true, &mut errors);
    let subscribe_url = string_field(&obj, "SubscribeURL", confirmation, &mut errors);
    let token = string_field(&obj, "Token", confirmation, &mut errors);
    match (
        kind,
        message_id,
        topic_arn,
        message,
        timestamp,
        signature_version,
        signature,
        signing_cert_url,
    ) {
        (
            Some(kind),
            Some(message_id),
            Some(topic_arn),
            Some(message),
            Some(timestamp),
            Some(signature_version),
            Some(signature),
            Some(signing_cert_url),
        ) if errors.is_empty() => Ok(Message {
            kind,
            message_id,
            topic_arn,
            subject,
            message,
            timestamp,
            signature_version,
            signature,
            signing_cert_url,
            subscribe_url: if confirmation { subscribe_url } else { None },
            token: if confirmation { token } else { None },
        }),
        _ => Err(IngestError::Invalid(errors)),
    }
}

impl Message {
    /// The text SNS signed: `Key\nValue\n` for each signed field, in order.
    pub fn string_to_sign(&self) -> String {
        let mut pairs: Vec<(&str, &str)> =
            vec![("Message", &self.message), ("MessageId", &self.message_id)];
        match self.kind {
            MessageType::Notification => {
                if let Some(s) = &self.subject {
                    pairs.push(("Subject", s));
                }
                pairs.push(("Timestamp", &self.timestamp));
            }
            MessageType::SubscriptionConfirmation | MessageType::UnsubscribeConfirmation => {
                pairs.push(("SubscribeURL", self.subscribe_url.as_deref().unwrap_or("")));
                pairs.push(("Timestamp", &self.timestamp));
                pairs.push(("Token", self.token.as_deref().unwrap_or("")));
            }
        }
        pairs.push(("TopicArn", &self.topic_arn));
        pairs.push(("Type", self.kind.as_str()));
        let mut out = String::new();
        for (k, v) in pairs {
            out.push_str(k);
            out.push('\n');
            out.push_str(v);
            out.push('\n');
        }
        out
    }
}

/// The region of an SNS host `sns.<region>.amazonaws.com(.cn)`, if it is one.
fn sns_host_region(url: &Url) -> Option<&str> {
    let Some(url::Host::Domain(host)) = url.host() else {
        return None;
    };
    let rest = host.strip_prefix("sns.")?;
    let region = rest
        .strip_suffix(".amazonaws.com")
        .or_else(|| rest.strip_suffix(".amazonaws.com.cn"))?;
    let valid = region.contains('-')
        && region.starts_with(|c: char| c.is_ascii_lowercase())
        && region
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    valid.then_some(region)
}

/// An https URL on an AWS SNS host, default port, no user info.
fn check_sns_url(field: &str, raw: &str) -> Result<Url, String> {
    let url = Url::parse(raw).map_err(|e| format!("{field} {raw:?} is not a URL: {e}"))?;
    if url.scheme() != "https" {
        return Err(format!("{field} {raw:?} is not https"));
    }
    if !url.username().is_empty() || url.password().is_some() || url.port().is_some() {
        return Err(format!(
            "{field} {raw:?} carries user info or a port; AWS's do not"
        ));
    }
    if sns_host_region(&url).is_none() {
        return Err(format!(
            "{field} {raw:?} is not on an AWS SNS host (sns.<region>.amazonaws.com)"
        ));
    }
    Ok(url)
}

/// Checks a `SigningCertURL`: https, an SNS host, a path ending in `.pem`.
pub fn check_cert_url(raw: &str) -> Result<Url, String> {
    let url = check_sns_url("SigningCertURL", raw)?;
    if !url.path().ends_with(".pem") {
        return Err(format!("SigningCertURL {raw:?} does not end in .pem"));
    }
    Ok(url)
}

/// Checks a `SubscribeURL`: https on an SNS host.
pub fn check_subscribe_url(raw: &str) -> Result<Url, String> {
    check_sns_url("SubscribeURL", raw)
}

/// `rsaEncryption`, the only key type SNS signs with.
const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");

/// The public key and validity of an SNS signing certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningCert {
    /// DER `RSAPublicKey`, as ring takes it.
    public_key: Vec<u8>,
    pub not_before: Timestamp,
    pub not_after: Timestamp,
}

fn to_timestamp(t: x509_cert::time::Time) -> Result<Timestamp, String> {
    let secs = i64::try_from(t.to_unix_duration().as_secs())
        .map_err(|_| "certificate time out of range".to_string())?;
    Timestamp::from_second(secs).map_err(|e| format!("certificate time out of range: {e}"))
}

impl SigningCert {
    /// Reads the first certificate of a PEM file.
    pub fn from_pem(pem: &[u8]) -> Result<Self, String> {
        let cert = Certificate::from_pem(pem)
            .map_err(|e| format!("the signing certificate is not a PEM X.509 certificate: {e}"))?;
        let tbs = cert.tbs_certificate();
        let spki = tbs.subject_public_key_info();
        if spki.algorithm.oid != RSA_ENCRYPTION {
            return Err(format!(
                "the signing certificate's key is {}, not RSA",
                spki.algorithm.oid
            ));
        }
        Ok(Self {
            public_key: spki.subject_public_key.raw_bytes().to_vec(),
            not_before: to_timestamp(tbs.validity().not_before)?,
            not_after: to_timestamp(tbs.validity().not_after)?,
        })
    }

    /// Checks `msg`'s signature with this certificate's key, at `now`.
    pub fn verify(&self, msg: &Message, now: Timestamp) -> Result<(), String> {
        if now < self.not_before || now > self.not_after {
            return Err(format!(
                "the signing certificate is valid from {} to {}, not at {now}",
                self.not_before, self.not_after
            ));
        }
        let alg: &dyn signature::VerificationAlgorithm = match msg.signature_version {
            SignatureVersion::V1 => &signature::RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY,
            SignatureVersion::V2 => &signature::RSA_PKCS1_2048_8192_SHA256,
        };
        signature::UnparsedPublicKey::new(alg, &self.public_key)
            .verify(msg.string_to_sign().as_bytes(), &msg.signature)
            .map_err(|_| {
                "the signature does not match the message and its signing certificate".to_string()
            })
    }
}

/// A notification, translated.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Event(Box<Event>),
    /// Nothing to record, and why (a state the integration ignores).
    Ignored(String),
}

fn truncate(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

fn obj_str<'a>(obj: &'a Map<String, Value>, name: &str) -> Option<&'a str> {
    obj.get(name)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// CloudWatch writes `2026-01-01T12:00:00.000+0000`; RFC 3339 wants `+00:00`.
fn parse_aws_time(s: &str) -> Option<Timestamp> {
    firebell_core::clock::parse_timestamp(s).ok()
}

/// Translates a verified notification into an event for `service`.
pub fn to_event(
    msg: &Message,
    service: &str,
    insufficient_data: InsufficientData,
    now: Timestamp,
) -> Result<Outcome, IngestError> {
    if let Ok(Value::Object(alarm)) = serde_json::from_str::<Value>(&msg.message)
        && alarm.get("AlarmName").is_some_and(Value::is_string)
        && alarm.get("NewStateValue").is_some_and(Value::is_string)
    {
        return alarm_event(msg, &alarm, service, insufficient_data, now);
    }
    Ok(Outcome::Event(Box::new(generic_event(msg, service, now)?)))
}

fn alarm_event(
    msg: &Message,
    alarm: &Map<String, Value>,
    service: &str,
    insufficient_data: InsufficientData,
    now: Timestamp,
) -> Result<Outcome, IngestError> {
    let name = obj_str(alarm, "AlarmName").unwrap_or("CloudWatch alarm");
    let state = alarm
        .get("NewStateValue")
        .and_then(Value::as_str)
        .unwrap_or("");
    let (action, severity) = match state {
        "ALARM" => (EventAction::Trigger, Severity::Critical),
        "OK" => (EventAction::Resolve, Severity::Info),
        "INSUFFICIENT_DATA" => match insufficient_data {
            InsufficientData::Ignore => {
                return Ok(Outcome::Ignored(format!(
                    "alarm {name:?} is INSUFFICIENT_DATA, which this integration ignores (insufficient_data = \"ignore\")"
                )));
            }
            InsufficientData::Trigger => (EventAction::Trigger, Severity::Warning),
            InsufficientData::Resolve => (EventAction::Resolve, Severity::Info),
        },
        other => {
            return Err(IngestError::Invalid(vec![FieldError::new(
                "Message.NewStateValue",
                format!("unknown alarm state {other:?}; expected ALARM, OK or INSUFFICIENT_DATA"),
            )]));
        }
    };
    let reason = obj_str(alarm, "NewStateReason");
    let summary = truncate(
        &match reason {
            Some(r) => format!("{name}: {r}"),
            None => format!("{name} is {state}"),
        },
        MAX_SUMMARY_CHARS,
    );
    let account = obj_str(alarm, "AWSAccountId");
    let region = obj_str(alarm, "Region");
    let key_text = match obj_str(alarm, "AlarmArn") {
        Some(arn) => arn.to_string(),
        None => format!(
            "cloudwatch:{}:{}:{name}",
            region.unwrap_or(""),
            account.unwrap_or("")
        ),
    };
    let dedup_key = DedupKey::parse(key_text.clone())
        .unwrap_or_else(|_| DedupKey::derive(service, &key_text, "", &BTreeMap::new()));

    let trigger = alarm.get("Trigger").and_then(Value::as_object);
    let mut dimensions = Map::new();
    if let Some(dims) = trigger
        .and_then(|t| t.get("Dimensions"))
        .and_then(Value::as_array)
    {
        for d in dims {
            let n = d
                .get("name")
                .or_else(|| d.get("Name"))
                .and_then(Value::as_str);
            let v = d
                .get("value")
                .or_else(|| d.get("Value"))
                .and_then(Value::as_str);
            if let (Some(n), Some(v)) = (n, v) {
                dimensions.insert(n.to_string(), Value::String(v.to_string()));
            }
        }
    }
    let metric_name = trigger.and_then(|t| obj_str(t, "MetricName"));
    let namespace = trigger.and_then(|t| obj_str(t, "Namespace"));

    let mut labels = BTreeMap::new();
    labels.insert("alarm".to_string(), truncate(name, MAX_SOURCE_CHARS));
    if let Some(ns) = namespace {
        labels.insert("namespace".to_string(), ns.to_string());
    }
    if let Some(m) = metric_name {
        labels.insert("metric".to_string(), m.to_string());
    }
    for (k, v) in &dimensions {
        if labels.len() >= MAX_LABELS {
            break;
        }
        if let (false, Some(v)) = (k.is_empty(), v.as_str()) {
            labels.entry(k.clone()).or_insert_with(|| v.to_string());
        }
    }
    let source = dimensions
        .values()
        .find_map(Value::as_str)
        .map(|v| truncate(v, MAX_SOURCE_CHARS))
        .unwrap_or_else(|| "cloudwatch".to_string());

    let mut details = Map::new();
    let mut put = |k: &str, v: Option<&str>| {
        if let Some(v) = v {
            details.insert(k.to_string(), Value::String(v.to_string()));
        }
    };
    put("reason", reason);
    put("description", obj_str(alarm, "AlarmDescription"));
    put("state", Some(state));
    put("previous_state", obj_str(alarm, "OldStateValue"));
    put("state_changed_at", obj_str(alarm, "StateChangeTime"));
    put("region", region);
    put("account", account);
    put("alarm_arn", obj_str(alarm, "AlarmArn"));
    put("metric_name", metric_name);
    put("namespace", namespace);
    put("topic_arn", Some(&msg.topic_arn));
    put("sns_message_id", Some(&msg.message_id));
    if !dimensions.is_empty() {
        details.insert("dimensions".into(), Value::Object(dimensions));
    }
    if let Some(t) = trigger {
        for (from, to) in [
            ("Threshold", "threshold"),
            ("ComparisonOperator", "comparison_operator"),
            ("Statistic", "statistic"),
            ("Period", "period"),
            ("EvaluationPeriods", "evaluation_periods"),
        ] {
            if let Some(v) = t.get(from).filter(|v| !v.is_null()) {
                details.insert(to.to_string(), v.clone());
            }
        }
    }
    let occurred_at = obj_str(alarm, "StateChangeTime")
        .and_then(parse_aws_time)
        .unwrap_or(now);
    Ok(Outcome::Event(Box::new(Event {
        service: service.to_string(),
        action,
        dedup_key,
        summary,
        severity,
        source,
        labels,
        details,
        occurred_at,
        expires_at: None,
    })))
}

fn generic_event(msg: &Message, service: &str, now: Timestamp) -> Result<Event, IngestError> {
    let topic_name = msg.topic_arn.rsplit(':').next().unwrap_or(&msg.topic_arn);
    let summary = msg
        .subject
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .or_else(|| msg.message.lines().map(str::trim).find(|l| !l.is_empty()))
        .map(|s| truncate(s, MAX_SUMMARY_CHARS))
        .unwrap_or_else(|| format!("empty message on SNS topic {topic_name}"));
    let source = truncate(topic_name, MAX_SOURCE_CHARS);
    let mut labels = BTreeMap::new();
    labels.insert("topic".to_string(), source.clone());
    event::check_labels(&labels).map_err(|e| IngestError::Invalid(vec![e]))?;
    let mut details = Map::new();
    details.insert(
        "message".into(),
        match serde_json::from_str::<Value>(&msg.message) {
            Ok(v @ (Value::Object(_) | Value::Array(_))) => v,
            _ => Value::String(msg.message.clone()),
        },
    );
    if let Some(s) = &msg.subject {
        details.insert("subject".into(), Value::String(s.clone()));
    }
    details.insert("topic_arn".into(), Value::String(msg.topic_arn.clone()));
    details.insert(
        "sns_message_id".into(),
        Value::String(msg.message_id.clone()),
    );
    Ok(Event {
        service: service.to_string(),
        action: EventAction::Trigger,
        dedup_key: DedupKey::derive(service, &summary, &msg.topic_arn, &labels),
        summary,
        severity: crate::generic::DEFAULT_SEVERITY,
        source,
        labels,
        details,
        occurred_at: parse_aws_time(&msg.timestamp).unwrap_or(now),
        expires_at: None,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use rsa::pkcs8::EncodePrivateKey;
    use rsa::signature::{SignatureEncoding, Signer};
    use serde_json::json;
    use std::sync::OnceLock;

    const TOPIC: &str = "arn:aws:sns:eu-west-1:123456789012:alarms";
    const CERT_URL: &str = "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-test.pem";

    /// A 2048-bit key made once per run (with the `rsa` crate, so signing
    /// and checking are independent implementations).
    fn key() -> &'static rsa::RsaPrivateKey {
        static KEY: OnceLock<rsa::RsaPrivateKey> = OnceLock::new();
        KEY.get_or_init(|| rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).unwrap())
    }

    /// A self-signed certificate for `key()`, valid between the given days.
    fn cert_pem(from: (i32, u8, u8), to: (i32, u8, u8)) -> String {
        let kp = rcgen::KeyPair::from_pkcs8_pem_and_sign_algo(
            &key().to_pkcs8_pem(Default::default()).unwrap(),
            &rcgen::PKCS_RSA_SHA256,
        )
        .unwrap();
        let mut params = rcgen::CertificateParams::new(vec!["sns.amazonaws.com".into()]).unwrap();
        params.not_before = rcgen::date_time_ymd(from.0, from.1, from.2);
        params.not_after = rcgen::date_time_ymd(to.0, to.1, to.2);
        params.self_signed(&kp).unwrap().pem()
    }

    fn now() -> Timestamp {
        "2026-06-01T12:00:00Z".parse().unwrap()
    }

    fn sign(string_to_sign: &str, version: &str) -> String {
        let msg = string_to_sign.as_bytes();
        let sig = if version == "1" {
            rsa::pkcs1v15::SigningKey::<sha1::Sha1>::new(key().clone())
                .sign(msg)
                .to_vec()
        } else {
            rsa::pkcs1v15::SigningKey::<rsa::sha2::Sha256>::new(key().clone())
                .sign(msg)
                .to_vec()
        };
        base64::engine::general_purpose::STANDARD.encode(sig)
    }

    /// A signed notification body, as SNS would POST it.
    fn notification(message: &str, subject: Option<&str>, version: &str) -> Value {
        let mut v = json!({
            "Type": "Notification",
            "MessageId": "5a8c1b2e-0000-4000-8000-000000000001",
            "TopicArn": TOPIC,
            "Message": message,
            "Timestamp": "2026-06-01T11:59:58.123Z",
            "SignatureVersion": version,
            "Signature": "AA==",
            "SigningCertURL": CERT_URL,
            "UnsubscribeURL": "https://sns.eu-west-1.amazonaws.com/?Action=Unsubscribe",
        });
        if let Some(s) = subject {
            v["Subject"] = json!(s);
        }
        let unsigned = parsed(&v);
        v["Signature"] = json!(sign(&unsigned.string_to_sign(), version));
        v
    }

    fn parsed(v: &Value) -> Message {
        parse(v.to_string().as_bytes()).unwrap()
    }

    #[test]
    fn string_to_sign_follows_the_documented_order() {
        let m = parsed(&notification("hello", Some("Hi"), "2"));
        assert_eq!(
            m.string_to_sign(),
            format!(
                "Message\nhello\nMessageId\n5a8c1b2e-0000-4000-8000-000000000001\nSubject\nHi\nTimestamp\n2026-06-01T11:59:58.123Z\nTopicArn\n{TOPIC}\nType\nNotification\n"
            )
        );
        let without = parsed(&notification("hello", None, "2"));
        assert!(!without.string_to_sign().contains("Subject"));
        let confirm = parse(
            json!({"Type": "SubscriptionConfirmation", "MessageId": "m", "Token": "tok",
                   "TopicArn": TOPIC, "Message": "You have chosen to subscribe",
                   "SubscribeURL": "https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription",
                   "Timestamp": "t", "SignatureVersion": "1", "Signature": "AA==",
                   "SigningCertURL": CERT_URL})
            .to_string()
            .as_bytes(),
        )
        .unwrap();
        assert_eq!(
            confirm.string_to_sign(),
            format!(
                "Message\nYou have chosen to subscribe\nMessageId\nm\nSubscribeURL\nhttps://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription\nTimestamp\nt\nToken\ntok\nTopicArn\n{TOPIC}\nType\nSubscriptionConfirmation\n"
            )
        );
    }

    #[test]
    fn both_signature_versions_verify_and_tampering_is_caught() {
        let cert = SigningCert::from_pem(cert_pem((2026, 1, 1), (2027, 1, 1)).as_bytes()).unwrap();
        for version in ["1", "2"] {
            let v = notification(r#"{"x":1}"#, Some("Subject line"), version);
            let m = parsed(&v);
            assert_eq!(cert.verify(&m, now()), Ok(()), "version {version}");

            let mut tampered = m.clone();
            tampered.message = r#"{"x":2}"#.into();
            assert!(
                cert.verify(&tampered, now())
                    .unwrap_err()
                    .contains("does not match")
            );

            let mut no_subject = m.clone();
            no_subject.subject = None;
            assert!(cert.verify(&no_subject, now()).is_err());

            // The same signature claimed under the other version fails too.
            let mut other = m.clone();
            other.signature_version = if version == "1" {
                SignatureVersion::V2
            } else {
                SignatureVersion::V1
            };
            assert!(cert.verify(&other, now()).is_err());
        }
    }

    #[test]
    fn certificates_outside_their_validity_are_refused() {
        let expired =
            SigningCert::from_pem(cert_pem((2024, 1, 1), (2025, 1, 1)).as_bytes()).unwrap();
        let m = parsed(&notification("x", None, "2"));
        let err = expired.verify(&m, now()).unwrap_err();
        assert!(err.contains("valid from 2024-01-01"), "{err}");
        let future =
            SigningCert::from_pem(cert_pem((2027, 1, 1), (2028, 1, 1)).as_bytes()).unwrap();
        assert!(future.verify(&m, now()).is_err());
        assert!(SigningCert::from_pem(b"not a certificate").is_err());
    }

    #[test]
    fn certificate_urls_must_be_aws_sns_pem_files_over_https() {
        for ok in [
            CERT_URL,
            "https://sns.us-gov-west-1.amazonaws.com/SimpleNotificationService-abc.pem",
            "https://sns.cn-north-1.amazonaws.com.cn/SimpleNotificationService-abc.pem",
        ] {
            assert!(check_cert_url(ok).is_ok(), "{ok}");
        }
        for (bad, why) in [
            ("http://sns.eu-west-1.amazonaws.com/x.pem", "not https"),
            (
                "https://sns.eu-west-1.amazonaws.com/x.txt",
                "does not end in .pem",
            ),
            ("https://evil.example.com/x.pem", "not on an AWS SNS host"),
            (
                "https://sns.eu-west-1.amazonaws.com.evil.com/x.pem",
                "not on an AWS SNS host",
            ),
            (
                "https://sns.eu-west-1.amazonaws.com@evil.com/x.pem",
                "user info",
            ),
            (
                "https://evil.com@sns.eu-west-1.amazonaws.com/x.pem",
                "user info",
            ),
            ("https://sns.eu-west-1.amazonaws.com:8443/x.pem", "port"),
            (
                "https://s3.eu-west-1.amazonaws.com/x.pem",
                "not on an AWS SNS host",
            ),
            ("https://sns.amazonaws.com/x.pem", "not on an AWS SNS host"),
            ("https://127.0.0.1/x.pem", "not on an AWS SNS host"),
            ("not a url", "is not a URL"),
        ] {
            let err = check_cert_url(bad).unwrap_err();
            assert!(err.contains(why), "{bad}: {err}");
        }
        assert!(
            check_subscribe_url(
                "https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription&Token=x"
            )
            .is_ok()
        );
        assert!(check_subscribe_url("https://example.com/?Action=ConfirmSubscription").is_err());
    }

    /// Found by the `sns` fuzz target: a time whose last five bytes begin
    /// inside a multi-byte character panicked (a byte-index split).
    #[test]
    fn a_time_ending_in_multibyte_characters_is_no_time_and_no_panic() {
        assert_eq!(
            parse_aws_time("2000:00.000Zhttps://NeM:?0\u{ac3f}ason\u{ac3f}as:"),
            None
        );
        assert_eq!(parse_aws_time("\u{ac3f}\u{ac3f}"), None);
        assert_eq!(
            parse_aws_time("2026-06-01T11:59:57.000+0000"),
            Some("2026-06-01T11:59:57Z".parse().unwrap())
        );
    }

    #[test]
    fn malformed_bodies_name_every_bad_field() {
        assert!(matches!(parse(b"{nope"), Err(IngestError::Malformed(_))));
        assert!(matches!(parse(b"[]"), Err(IngestError::Malformed(_))));
        let Err(IngestError::Invalid(errors)) = parse(
            json!({"Type": "Gossip", "MessageId": 3, "TopicArn": TOPIC, "Message": "m",
                   "Timestamp": "t", "SignatureVersion": "3", "Signature": "***"})
            .to_string()
            .as_bytes(),
        ) else {
            panic!("expected field errors");
        };
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            vec![
                "Type",
                "MessageId",
                "SignatureVersion",
                "Signature",
                "SigningCertURL"
            ]
        );
        let Err(IngestError::Invalid(errors)) = parse(
            json!({"Type": "SubscriptionConfirmation", "MessageId": "m", "TopicArn": TOPIC,
                   "Message": "m", "Timestamp": "t", "SignatureVersion": "1",
                   "Signature": "AA==", "SigningCertURL": CERT_URL})
            .to_string()
            .as_bytes(),
        ) else {
            panic!("expected field errors");
        };
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, vec!["SubscribeURL", "Token"]);
    }

    fn alarm(state: &str) -> String {
        json!({
            "AlarmName": "HighCPU",
            "AlarmDescription": "CPU above 90% on the web tier",
            "AWSAccountId": "123456789012",
            "NewStateValue": state,
            "NewStateReason": "Threshold Crossed: 1 datapoint [97.5 (01/06/26 11:58:00)] was greater than or equal to the threshold (90.0).",
            "StateChangeTime": "2026-06-01T11:59:57.000+0000",
            "Region": "EU (Ireland)",
            "AlarmArn": "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:HighCPU",
            "OldStateValue": "OK",
            "Trigger": {
                "MetricName": "CPUUtilization", "Namespace": "AWS/EC2",
                "StatisticType": "Statistic", "Statistic": "AVERAGE",
                "Dimensions": [{"value": "i-0abc123", "name": "InstanceId"}],
                "Period": 60, "EvaluationPeriods": 1,
                "ComparisonOperator": "GreaterThanOrEqualToThreshold", "Threshold": 90.0
            }
        })
        .to_string()
    }

    fn event_of(o: Outcome) -> Event {
        match o {
            Outcome::Event(e) => *e,
            Outcome::Ignored(why) => panic!("ignored: {why}"),
        }
    }

    #[test]
    fn cloudwatch_alarms_trigger_and_resolve_by_alarm_arn() {
        let m = parsed(&notification(
            &alarm("ALARM"),
            Some("ALARM: \"HighCPU\" in EU (Ireland)"),
            "1",
        ));
        let e = event_of(to_event(&m, "web", InsufficientData::Ignore, now()).unwrap());
        assert_eq!(e.action, EventAction::Trigger);
        assert_eq!(e.severity, Severity::Critical);
        assert_eq!(
            e.dedup_key.as_str(),
            "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:HighCPU"
        );
        assert!(
            e.summary.starts_with("HighCPU: Threshold Crossed"),
            "{}",
            e.summary
        );
        assert_eq!(e.source, "i-0abc123");
        assert_eq!(e.labels["InstanceId"], "i-0abc123");
        assert_eq!(e.labels["metric"], "CPUUtilization");
        assert_eq!(e.details["namespace"], "AWS/EC2");
        assert_eq!(e.details["threshold"], 90.0);
        assert_eq!(e.details["region"], "EU (Ireland)");
        assert_eq!(e.details["account"], "123456789012");
        assert_eq!(e.details["dimensions"]["InstanceId"], "i-0abc123");
        assert!(
            e.details["reason"]
                .as_str()
                .unwrap()
                .contains("threshold (90.0)")
        );
        assert_eq!(
            e.occurred_at,
            "2026-06-01T11:59:57Z".parse::<Timestamp>().unwrap()
        );

        let ok = parsed(&notification(&alarm("OK"), None, "2"));
        let r = event_of(to_event(&ok, "web", InsufficientData::Ignore, now()).unwrap());
        assert_eq!(r.action, EventAction::Resolve);
        assert_eq!(r.dedup_key, e.dedup_key);
    }

    #[test]
    fn insufficient_data_does_what_the_integration_says() {
        let m = parsed(&notification(&alarm("INSUFFICIENT_DATA"), None, "2"));
        assert!(matches!(
            to_event(&m, "web", InsufficientData::Ignore, now()).unwrap(),
            Outcome::Ignored(why) if why.contains("INSUFFICIENT_DATA")
        ));
        let t = event_of(to_event(&m, "web", InsufficientData::Trigger, now()).unwrap());
        assert_eq!(
            (t.action, t.severity),
            (EventAction::Trigger, Severity::Warning)
        );
        let r = event_of(to_event(&m, "web", InsufficientData::Resolve, now()).unwrap());
        assert_eq!(r.action, EventAction::Resolve);
        let weird = parsed(&notification(&alarm("MAYBE"), None, "2"));
        let Err(IngestError::Invalid(errs)) =
            to_event(&weird, "web", InsufficientData::Ignore, now())
        else {
            panic!("expected a field error");
        };
        assert_eq!(errs[0].field, "Message.NewStateValue");
    }

    #[test]
    fn other_messages_are_generic_alerts_that_collapse_per_topic_and_summary() {
        let a = parsed(&notification(
            "Backup failed\nvolume vol-1 at 03:00",
            None,
            "2",
        ));
        let e = event_of(to_event(&a, "web", InsufficientData::Ignore, now()).unwrap());
        assert_eq!(e.action, EventAction::Trigger);
        assert_eq!(e.summary, "Backup failed");
        assert_eq!(e.source, "alarms");
        assert_eq!(e.details["message"], "Backup failed\nvolume vol-1 at 03:00");
        let again = event_of(to_event(&a, "web", InsufficientData::Ignore, now()).unwrap());
        assert_eq!(again.dedup_key, e.dedup_key);

        let s = parsed(&notification(
            r#"{"detail-type":"EC2 Instance State-change"}"#,
            Some("Instance stopped"),
            "2",
        ));
        let g = event_of(to_event(&s, "web", InsufficientData::Ignore, now()).unwrap());
        assert_eq!(g.summary, "Instance stopped");
        assert_eq!(
            g.details["message"]["detail-type"],
            "EC2 Instance State-change"
        );
        assert_ne!(g.dedup_key, e.dedup_key);
    }
}
