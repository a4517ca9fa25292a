//! Traffic managers (Stingray / Zeus / vTM): the event line a traffic manager
//! hands to an action program, as `firebell vtm-action` forwards it to
//! `POST /api/v1/vtm`.
//!
//! ```json
//! {"eventtype": "SMS Events", "args": {"phone": "+447700900123"},
//!  "line": "SERIOUS\tpools/web\tpooldied\tPool has no back-end nodes responding",
//!  "host": "tm1"}
//! ```
//!
//! The line is `LEVEL<TAB>section/object<TAB>tag<TAB>...<TAB>text`: a level
//! (INFO, WARN or WARNING, SERIOUS, FATAL), the object the event is about, one
//! or more tags (the first is the primary tag) and a text. A failure tag and its
//! recovery tag ([`PAIRS`]) share one dedup key, `vtm:<object>:<failure tag>`,
//! so the recovery resolves the alert; and because the key does not name the
//! machine, the same event raised by every machine of a cluster is one alert.

use crate::IngestError;
use firebell_core::event::{
    self, DedupKey, Event, EventAction, FieldError, MAX_SOURCE_CHARS, MAX_SUMMARY_CHARS, Severity,
};
use jiff::Timestamp;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// A failure and the tags that say it is over. Tags are a traffic manager's
/// primary tags (`vtm-event-tags.txt` lists them as `<section>_<tag>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pair {
    pub section: &'static str,
    /// Tags that raise the problem; the first names the dedup key.
    pub failures: &'static [&'static str],
    /// Tags that resolve it.
    pub recoveries: &'static [&'static str],
}

/// Every failure/recovery pair among the traffic manager's event tags.
pub const PAIRS: &[Pair] = &[
    Pair {
        section: "pools",
        failures: &["pooldied"],
        recoveries: &["poolok"],
    },
    Pair {
        section: "pools",
        failures: &["nodefail"],
        recoveries: &["nodeworking"],
    },
    Pair {
        section: "monitors",
        failures: &["monitorfail"],
        recoveries: &["monitorok"],
    },
    Pair {
        section: "faulttolerance",
        failures: &["machinefail", "machinetimeout"],
        recoveries: &["machineok", "machinerecovered"],
    },
    Pair {
        section: "faulttolerance",
        failures: &[
            "stateconnfail",
            "statebaddata",
            "statereadfail",
            "statetimeout",
            "stateunexpected",
            "statewritefail",
        ],
        recoveries: &["stateok"],
    },
    Pair {
        section: "faulttolerance",
        failures: &["pingbackendfail"],
        recoveries: &["flipperbackendsworking"],
    },
    Pair {
        section: "faulttolerance",
        failures: &["pingfrontendfail", "pinggwfail"],
        recoveries: &["flipperfrontendsworking"],
    },
    Pair {
        section: "java",
        failures: &["javadied", "javastartfail", "javanotfound"],
        recoveries: &["javastarted"],
    },
    Pair {
        section: "licensekeys",
        failures: &["expiresoon", "expired"],
        recoveries: &["usinglicense"],
    },
    Pair {
        section: "licensekeys",
        failures: &[
            "license-unauthorized",
            "license-rejected-unauthorized",
            "license-timedout-unauthorized",
            "license-rejected-authorized",
            "license-timedout-authorized",
            "license-graceperiodexpired",
        ],
        recoveries: &["license-authorized"],
    },
    Pair {
        section: "licensekeys",
        failures: &[
            "license-rejected-unauthorized-ts",
            "license-timedout-unauthorized-ts",
            "license-rejected-authorized-ts",
            "license-timedout-authorized-ts",
            "license-graceperiodexpired-ts",
        ],
        recoveries: &["license-authorized-ts"],
    },
    Pair {
        section: "licensekeys",
        failures: &["analyticslicensedisabled"],
        recoveries: &["analyticslicenseenabled"],
    },
    Pair {
        section: "licensekeys",
        failures: &["autoscalinglicensedisabled"],
        recoveries: &["autoscalinglicenseenabled"],
    },
    Pair {
        section: "locations",
        failures: &["locationfail"],
        recoveries: &["locationok"],
    },
    Pair {
        section: "locations",
        failures: &["locationmonitorfail"],
        recoveries: &["locationmonitorok"],
    },
    Pair {
        section: "locations",
        failures: &["locationsoapfail"],
        recoveries: &["locationsoapok"],
    },
    Pair {
        section: "services",
        failures: &["glbservicedied"],
        recoveries: &["glbserviceok"],
    },
    Pair {
        section: "slm",
        failures: &["slmfallenbelowserious"],
        recoveries: &["slmrecoveredserious"],
    },
    Pair {
        section: "slm",
        failures: &["slmfallenbelowwarn"],
        recoveries: &["slmrecoveredwarn"],
    },
    Pair {
        section: "sslhw",
        failures: &["sslhwfail"],
        recoveries: &["sslhwstart", "sslhwrestart"],
    },
];

/// What a tag means for the alert it is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TagRole {
    /// Raises the pair's problem.
    Failure(&'static Pair),
    /// Ends the pair's problem.
    Recovery(&'static Pair),
    /// Not part of a pair: every occurrence triggers (and repeats count up).
    Unpaired,
}

/// The role of a tag. A recovery tag may end several pairs; the first is returned.
pub fn role(tag: &str) -> TagRole {
    for p in PAIRS {
        if p.failures.contains(&tag) {
            return TagRole::Failure(p);
        }
        if p.recoveries.contains(&tag) {
            return TagRole::Recovery(p);
        }
    }
    TagRole::Unpaired
}

/// Every pair a recovery tag ends.
fn recovered_by(tag: &str) -> impl Iterator<Item = &'static Pair> + '_ {
    PAIRS.iter().filter(move |p| p.recoveries.contains(&tag))
}

/// A traffic manager's event level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Info,
    Warn,
    Serious,
    Fatal,
}

impl Level {
    pub fn parse(s: &str) -> Option<Level> {
        match s.to_ascii_uppercase().as_str() {
            "INFO" => Some(Level::Info),
            "WARN" | "WARNING" => Some(Level::Warn),
            "SERIOUS" => Some(Level::Serious),
            "FATAL" => Some(Level::Fatal),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Level::Info => "INFO",
            Level::Warn => "WARN",
            Level::Serious => "SERIOUS",
            Level::Fatal => "FATAL",
        }
    }

    pub fn severity(self) -> Severity {
        match self {
            Level::Info => Severity::Info,
            Level::Warn => Severity::Warning,
            Level::Serious => Severity::Error,
            Level::Fatal => Severity::Critical,
        }
    }
}

/// One event line, split.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub level: Level,
    /// `section/object`, e.g. `pools/web`.
    pub object: String,
    /// The part of the object path before the first `/`.
    pub section: String,
    /// Objects after the first, as the traffic manager lists them
    /// (`nodes/10.0.0.5:80` after `pools/web`).
    pub more_objects: Vec<String>,
    /// At least one; the first is the primary tag.
    pub tags: Vec<String>,
    pub text: String,
}

const LINE_FORMAT: &str = "expected LEVEL<TAB>section/object<TAB>tag<TAB>text, as a traffic manager passes it (e.g. \"SERIOUS\\tpools/web\\tpooldied\\tPool has no back-end nodes responding\")";

/// Splits an event line. Tabs separate the fields; a line with no tab at all
/// (typed by hand from a document that turned the tabs into spaces) is split
/// on whitespace when it starts with a level.
pub fn parse_line(line: &str) -> Result<Line, FieldError> {
    let line = line.trim_end_matches(['\r', '\n']);
    let fields: Vec<&str> = if line.contains('\t') {
        line.split('\t').collect()
    } else {
        let mut words = line.split_whitespace();
        let first = words.next().unwrap_or("");
        if Level::parse(first).is_none() {
            return Err(FieldError::new("line", LINE_FORMAT));
        }
        let rest: Vec<&str> = line
            .trim_start()
            .splitn(4, char::is_whitespace)
            .skip(1)
            .collect();
        std::iter::once(first).chain(rest).collect()
    };
    if fields.len() < 3 {
        return Err(FieldError::new("line", LINE_FORMAT));
    }
    let level_text = fields[0].trim();
    let level = Level::parse(level_text).ok_or_else(|| {
        FieldError::new(
            "line",
            format!(
                "unknown level {level_text:?}; expected INFO, WARN, WARNING, SERIOUS or FATAL first"
            ),
        )
    })?;
    let object = fields[1].trim().to_string();
    let (tag_fields, text) = if fields.len() == 3 {
        (&fields[2..3], "")
    } else {
        (&fields[2..fields.len() - 1], fields[fields.len() - 1])
    };
    // Further objects come before the tags: `nodes/10.0.0.5:80` (a tag never
    // has a `/`).
    let more = tag_fields.iter().take_while(|f| f.contains('/')).count();
    let (more_objects, tag_fields) = tag_fields.split_at(more);
    let more_objects: Vec<String> = more_objects.iter().map(|o| o.trim().to_string()).collect();
    let tags: Vec<String> = tag_fields
        .iter()
        .map(|t| t.trim())
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .collect();
    if tags.is_empty() {
        return Err(FieldError::new(
            "line",
            format!("no event tag after the object; {LINE_FORMAT}"),
        ));
    }
    if let Some(t) = tags.iter().find(|t| t.chars().any(char::is_control)) {
        return Err(FieldError::new(
            "line",
            format!("tag {t:?} has control characters"),
        ));
    }
    let section = object.split('/').next().unwrap_or("").to_string();
    Ok(Line {
        level,
        object,
        section,
        more_objects,
        tags,
        text: text.trim().to_string(),
    })
}

/// The dedup key of `tag` on `object`: the pair's first failure tag when the
/// tag is paired, the tag itself otherwise.
pub fn dedup_key(object: &str, key_tag: &str) -> Result<DedupKey, FieldError> {
    DedupKey::parse(format!("vtm:{object}:{key_tag}")).map_err(|e| {
        FieldError::new(
            "line",
            format!("the object path makes an unusable dedup key: {}", e.message),
        )
    })
}

/// Argument names whose values are kept out of the alert's details.
fn secret_like(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    ["key", "pass", "secret", "token", "auth"]
        .iter()
        .any(|s| n.contains(s))
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut out: String = s.chars().take(max - 1).collect();
        out.push('…');
        out
    }
}

const FIELDS: [&str; 4] = ["eventtype", "args", "line", "host"];

/// Parses a request body for `service`, received at `now`: one trigger, or one
/// resolve per pair a recovery tag ends.
pub fn parse(body: &[u8], service: &str, now: Timestamp) -> Result<Vec<Event>, IngestError> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| IngestError::Malformed(e.to_string()))?;
    let Value::Object(obj) = value else {
        return Err(IngestError::Invalid(vec![FieldError::new(
            "body",
            "must be an object {\"line\": ..., \"eventtype\": ..., \"args\": {...}}",
        )]));
    };
    let mut errors = Vec::new();
    for key in obj.keys() {
        if !FIELDS.contains(&key.as_str()) {
            errors.push(FieldError::new(
                key.as_str(),
                format!("unknown field; expected one of {}", FIELDS.join(", ")),
            ));
        }
    }
    let mut text_field = |name: &str| match obj.get(name) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => {
            errors.push(FieldError::new(name, "must be a string"));
            None
        }
    };
    let line_text = text_field("line");
    let eventtype = text_field("eventtype");
    let host = text_field("host");
    let mut args = Map::new();
    match obj.get("args") {
        None | Some(Value::Null) => {}
        Some(Value::Object(m)) => {
            for (k, v) in m {
                match v {
                    Value::String(_) if secret_like(k) => {
                        args.insert(k.clone(), Value::String("(redacted)".into()));
                    }
                    Value::String(s) => {
                        args.insert(k.clone(), Value::String(s.clone()));
                    }
                    _ => errors.push(FieldError::new(
                        format!("args.{k}"),
                        "argument values must be strings",
                    )),
                }
            }
            if m.len() > event::MAX_LABELS {
                errors.push(FieldError::new(
                    "args",
                    format!("more than {} arguments", event::MAX_LABELS),
                ));
            }
        }
        Some(_) => errors.push(FieldError::new("args", "must be an object of strings")),
    }
    if let Some(e) = &eventtype
        && let Err(err) = event::check_text("eventtype", e, MAX_SOURCE_CHARS)
    {
        errors.push(err);
    }
    if let Some(h) = &host
        && let Err(err) = event::check_text("host", h, MAX_SOURCE_CHARS)
    {
        errors.push(err);
    }
    let line = match &line_text {
        None => {
            if !obj.contains_key("line") || obj["line"].is_null() {
                errors.push(FieldError::new(
                    "line",
                    "missing; the traffic manager's event line (its last argument)",
                ));
            }
            None
        }
        Some(l) if l.chars().count() > 4 * MAX_SUMMARY_CHARS => {
            errors.push(FieldError::new(
                "line",
                format!("longer than {} characters", 4 * MAX_SUMMARY_CHARS),
            ));
            None
        }
        Some(l) => parse_line(l).map_err(|e| errors.push(e)).ok(),
    };
    let Some(line) = line else {
        return Err(IngestError::Invalid(errors));
    };
    if !errors.is_empty() {
        return Err(IngestError::Invalid(errors));
    }

    let tag = line.tags[0].clone();
    let mut labels = BTreeMap::new();
    labels.insert("level".to_string(), line.level.as_str().to_string());
    labels.insert("object".to_string(), line.object.clone());
    labels.insert("section".to_string(), line.section.clone());
    labels.insert("tag".to_string(), tag.clone());
    if line.tags.len() > 1 {
        labels.insert("tags".to_string(), line.tags.join(","));
    }
    if let Some(e) = &eventtype {
        labels.insert("eventtype".to_string(), e.clone());
    }
    // Each object as a label named by its section, singular: `pools/web`
    // gives pool=web, `nodes/10.0.0.5:80` node=10.0.0.5:80 (what runbook
    // actions and routing rules match on).
    for o in std::iter::once(&line.object).chain(&line.more_objects) {
        if let Some((section, name)) = o.split_once('/')
            && !name.is_empty()
        {
            let key = section.strip_suffix('s').unwrap_or(section);
            if !key.is_empty() && !labels.contains_key(key) {
                labels.insert(key.to_string(), name.to_string());
            }
        }
    }
    let mut details = Map::new();
    details.insert("line".into(), Value::String(line_text.unwrap_or_default()));
    if !args.is_empty() {
        details.insert("args".into(), Value::Object(args));
    }
    if let Some(h) = &host {
        details.insert("host".into(), Value::String(h.clone()));
    }
    let summary_text = if line.text.is_empty() {
        format!("{tag} event")
    } else {
        line.text.clone()
    };
    let summary = if line.object.is_empty() {
        summary_text
    } else {
        format!("{}: {summary_text}", line.object)
    };
    let event = |action: EventAction, dedup_key: DedupKey| Event {
        service: service.to_string(),
        action,
        dedup_key,
        summary: truncate(&summary, MAX_SUMMARY_CHARS),
        severity: line.level.severity(),
        source: host.clone().unwrap_or_else(|| "vtm".to_string()),
        labels: labels.clone(),
        details: details.clone(),
        occurred_at: now,
        expires_at: None,
    };

    // The first tag with a role in a pair decides; otherwise the primary tag.
    let paired = line
        .tags
        .iter()
        .find(|t| role(t) != TagRole::Unpaired)
        .map(String::as_str);
    let events = match paired.map(|t| (t, role(t))) {
        Some((_, TagRole::Failure(p))) => {
            vec![event(
                EventAction::Trigger,
                dedup_key(&line.object, p.failures[0])
                    .map_err(|e| IngestError::Invalid(vec![e]))?,
            )]
        }
        Some((t, TagRole::Recovery(_))) => recovered_by(t)
            .map(|p| {
                dedup_key(&line.object, p.failures[0])
                    .map(|k| event(EventAction::Resolve, k))
                    .map_err(|e| IngestError::Invalid(vec![e]))
            })
            .collect::<Result<Vec<_>, _>>()?,
        _ => vec![event(
            EventAction::Trigger,
            dedup_key(&line.object, &tag).map_err(|e| IngestError::Invalid(vec![e]))?,
        )],
    };
    Ok(events)
}

/// What `firebell vtm-action`'s command line says. A traffic manager runs
/// its action program as `PROGRAM --eventtype=NAME [--ARG=VALUE ...] "LINE"`
/// with whatever arguments the action is configured with.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ActionArgs {
    pub eventtype: Option<String>,
    /// Every `--NAME=VALUE` not Firebell's own (a bare `--NAME` is `""`).
    pub args: BTreeMap<String, String>,
    /// The event line: the last argument.
    pub line: Option<String>,
    pub url: Option<String>,
    pub key: Option<String>,
    pub key_file: Option<String>,
    pub config: Option<String>,
    pub help: bool,
}

impl ActionArgs {
    /// Reads the arguments (without the program and subcommand names).
    pub fn parse(argv: &[String]) -> Result<ActionArgs, String> {
        let mut p = ActionArgs::default();
        let n = argv.len();
        for (i, arg) in argv.iter().enumerate() {
            if arg == "--help" || arg == "-h" {
                p.help = true;
                continue;
            }
            let Some(opt) = arg.strip_prefix("--") else {
                if i + 1 == n {
                    p.line = Some(arg.clone());
                    continue;
                }
                return Err(format!(
                    "unexpected argument {arg:?}: the event line comes last, and other arguments are --NAME=VALUE"
                ));
            };
            let (name, value) = match opt.split_once('=') {
                Some((name, value)) => (name.to_string(), value.to_string()),
                None => (opt.to_string(), String::new()),
            };
            if name.is_empty() {
                return Err(format!("unexpected argument {arg:?}"));
            }
            match name.as_str() {
                "eventtype" => p.eventtype = Some(value),
                "firebell-url" => p.url = Some(value),
                "firebell-key" => p.key = Some(value),
                "firebell-key-file" => p.key_file = Some(value),
                "firebell-config" => p.config = Some(value),
                _ => {
                    p.args.insert(name, value);
                }
            }
        }
        Ok(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn now() -> Timestamp {
        "2026-01-01T00:00:00Z".parse().unwrap()
    }

    fn body(line: &str) -> Vec<u8> {
        serde_json::to_vec(&json!({
            "eventtype": "SMS Events",
            "args": {"phone": "+447700900123", "firebell-key": "sekrit-key-1"},
            "line": line,
            "host": "tm1",
        }))
        .unwrap()
    }

    fn fields(r: Result<Vec<Event>, IngestError>) -> Vec<String> {
        match r {
            Err(IngestError::Invalid(v)) => v.into_iter().map(|e| e.field).collect(),
            other => panic!("expected field errors, got {other:?}"),
        }
    }

    /// The first seed's line: a virtual server started.
    const SEED: &str = "INFO\tvservers/Olympus\tvsstart\tVirtual server started on port 80";

    #[test]
    fn the_seeds_line_is_an_info_alert_about_the_virtual_server() {
        let events = parse(&body(SEED), "web", now()).unwrap();
        assert_eq!(events.len(), 1);
        let e = &events[0];
        assert_eq!(e.action, EventAction::Trigger);
        assert_eq!(e.severity, Severity::Info);
        assert_eq!(
            e.summary,
            "vservers/Olympus: Virtual server started on port 80"
        );
        assert_eq!(e.dedup_key.as_str(), "vtm:vservers/Olympus:vsstart");
        assert_eq!(e.source, "tm1");
        assert_eq!(e.labels["eventtype"], "SMS Events");
        assert_eq!(e.labels["level"], "INFO");
        assert_eq!(e.labels["object"], "vservers/Olympus");
        assert_eq!(e.labels["section"], "vservers");
        assert_eq!(e.labels["tag"], "vsstart");
        assert_eq!(e.details["line"], SEED);
        assert_eq!(e.details["args"]["phone"], "+447700900123");
        assert_eq!(e.details["args"]["firebell-key"], "(redacted)");
    }

    #[test]
    fn each_object_is_a_label_named_by_its_section() {
        let line = "SERIOUS\tpools/web\tnodes/10.0.0.5:80\tpooldied\tPool has no back-end nodes responding";
        let e = &parse(&body(line), "vtm", now()).unwrap()[0];
        assert_eq!(e.labels["object"], "pools/web");
        assert_eq!(e.labels["tag"], "pooldied");
        assert_eq!(e.labels["pool"], "web");
        assert_eq!(e.labels["node"], "10.0.0.5:80");
        assert!(!e.labels.contains_key("tags"), "{:?}", e.labels);
        assert_eq!(
            e.summary,
            "pools/web: Pool has no back-end nodes responding"
        );
        let seed = &parse(&body(SEED), "web", now()).unwrap()[0];
        assert_eq!(seed.labels["vserver"], "Olympus");
    }

    #[test]
    fn the_seeds_line_as_printed_with_spaces_still_parses() {
        let l =
            parse_line("INFO vservers/Olympus vsstart Virtual server started on port 80").unwrap();
        assert_eq!(l.object, "vservers/Olympus");
        assert_eq!(l.tags, vec!["vsstart"]);
        assert_eq!(l.text, "Virtual server started on port 80");
    }

    #[test]
    fn levels_map_to_severities() {
        for (level, sev) in [
            ("INFO", Severity::Info),
            ("WARN", Severity::Warning),
            ("WARNING", Severity::Warning),
            ("SERIOUS", Severity::Error),
            ("FATAL", Severity::Critical),
            ("serious", Severity::Error),
        ] {
            let l = parse_line(&format!("{level}\tgeneral/x\tfewfreefds\tFew fds")).unwrap();
            assert_eq!(l.level.severity(), sev, "{level}");
        }
    }

    #[test]
    fn failure_and_recovery_share_a_key_that_names_no_machine() {
        let fail = "SERIOUS\tpools/web\tpooldied\tPool has no back-end nodes responding";
        let a = parse(&body(fail), "web", now()).unwrap();
        let mut other = serde_json::from_slice::<Value>(&body(fail)).unwrap();
        other["host"] = json!("tm2");
        let b = parse(&serde_json::to_vec(&other).unwrap(), "web", now()).unwrap();
        assert_eq!(a[0].dedup_key, b[0].dedup_key);
        assert_eq!(a[0].severity, Severity::Error);
        assert_eq!(a[0].dedup_key.as_str(), "vtm:pools/web:pooldied");
        let ok = parse(
            &body("INFO\tpools/web\tpoolok\tPool now has working nodes"),
            "web",
            now(),
        )
        .unwrap();
        assert_eq!(ok.len(), 1);
        assert_eq!(ok[0].action, EventAction::Resolve);
        assert_eq!(ok[0].dedup_key, a[0].dedup_key);
    }

    #[test]
    fn each_seed_event_type_pairs_up() {
        // The seed's "SMS Events": license expiry, pool died, SLM below
        // serious, SSL hardware failed; each recovery resolves its failure.
        for (fail, ok) in [
            ("expiresoon", "usinglicense"),
            ("pooldied", "poolok"),
            ("slmfallenbelowserious", "slmrecoveredserious"),
            ("sslhwfail", "sslhwstart"),
            ("nodefail", "nodeworking"),
            ("monitorfail", "monitorok"),
            ("machinefail", "machineok"),
            ("machinetimeout", "machineok"),
            ("slmfallenbelowwarn", "slmrecoveredwarn"),
        ] {
            let f = parse(&body(&format!("SERIOUS\tx/y\t{fail}\tbad")), "s", now()).unwrap();
            let r = parse(&body(&format!("INFO\tx/y\t{ok}\tgood")), "s", now()).unwrap();
            assert_eq!(f[0].action, EventAction::Trigger, "{fail}");
            assert!(
                r.iter()
                    .any(|e| e.action == EventAction::Resolve && e.dedup_key == f[0].dedup_key),
                "{ok} resolves {fail}"
            );
        }
    }

    #[test]
    fn every_paired_tag_is_a_real_tag() {
        // A copy of the shared specs' tag list, kept in the repository so the
        // test runs from any checkout.
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/vtm-event-tags.txt");
        let spec = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let known: Vec<String> = spec
            .lines()
            .filter(|l| !l.starts_with('#'))
            .map(|l| l.trim().to_string())
            .collect();
        for p in PAIRS {
            for t in p.failures.iter().chain(p.recoveries) {
                let full = format!("{}_{t}", p.section);
                assert!(known.contains(&full), "{full} is not in vtm-event-tags.txt");
            }
        }
    }

    #[test]
    fn several_tags_and_a_missing_text_are_tolerated() {
        let l = parse_line("WARN\tpools/web\tnodefail\textra\tNode 10.0.0.1:80 failed").unwrap();
        assert_eq!(l.tags, vec!["nodefail", "extra"]);
        assert_eq!(l.text, "Node 10.0.0.1:80 failed");
        let events = parse(
            &body("WARN\tpools/web\tnodefail\textra\tNode failed"),
            "s",
            now(),
        )
        .unwrap();
        assert_eq!(events[0].labels["tags"], "nodefail,extra");
        assert_eq!(events[0].dedup_key.as_str(), "vtm:pools/web:nodefail");
        let l = parse_line("INFO\tconfig/x\tconfmod").unwrap();
        assert_eq!(l.text, "");
        let e = parse(&body("INFO\tconfig/x\tconfmod"), "s", now()).unwrap();
        assert_eq!(e[0].summary, "config/x: confmod event");
    }

    #[test]
    fn bad_bodies_name_their_field() {
        assert!(matches!(
            parse(b"INFO pools", "s", now()),
            Err(IngestError::Malformed(_))
        ));
        assert_eq!(fields(parse(b"[]", "s", now())), vec!["body"]);
        assert_eq!(fields(parse(b"{}", "s", now())), vec!["line"]);
        assert_eq!(
            fields(parse(
                br#"{"line":"BAD\tpools/web\tpooldied\tx"}"#,
                "s",
                now()
            )),
            vec!["line"]
        );
        assert_eq!(
            fields(parse(br#"{"line":"SERIOUS\tpools/web"}"#, "s", now())),
            vec!["line"]
        );
        assert_eq!(
            fields(parse(br#"{"line":"hello there"}"#, "s", now())),
            vec!["line"]
        );
        assert_eq!(
            fields(parse(
                br#"{"line":"INFO\ta/b\tt\tx","args":{"n":1},"colour":"red"}"#,
                "s",
                now()
            )),
            vec!["colour", "args.n"]
        );
        assert_eq!(fields(parse(br#"{"line":42}"#, "s", now())), vec!["line"]);
    }

    #[test]
    fn long_texts_are_cut_to_the_summary_limit() {
        let text = "x".repeat(2000);
        let e = parse(
            &body(&format!("INFO\trules/r\truleabort\t{text}")),
            "s",
            now(),
        )
        .unwrap();
        assert_eq!(e[0].summary.chars().count(), MAX_SUMMARY_CHARS);
    }
}
