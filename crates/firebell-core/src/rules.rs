//! Event rules: ordered `[[rules]]` (global) and `[[services]] rules` (per
//! service) that look at each event before it is recorded and may route it to
//! another service, set its severity, add labels, suppress it (recorded, pages
//! no one) or drop it (counted only).
//!
//! Evaluation is pure: [`apply`] takes the compiled [`RuleSet`] and an event
//! and returns a [`Decision`]. The global rules run first, once; then the rules
//! of the event's service; a rule that routes to another service hands the
//! event to that service's rules when its own list is done. Routes between
//! services' rules may chain but never loop: a cycle is a configuration error.
//!
//! A rule stops evaluation of its list at its first match unless it says
//! `continue = true`; `drop` always stops. Regular expressions are anchored at
//! both ends (`^(?:re)$`), as in Alertmanager's matchers.

use crate::config::diag::Errors;
use crate::event::{Event, Severity};
use regex::Regex;
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    name: Option<String>,
    #[serde(rename = "match")]
    matches: Option<RawMatch>,
    route: Option<String>,
    severity: Option<String>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    suppress: bool,
    #[serde(default)]
    drop: bool,
    #[serde(rename = "continue", default)]
    cont: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMatch {
    all: Option<Vec<RawCondition>>,
    any: Option<Vec<RawCondition>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCondition {
    field: String,
    equals: Option<String>,
    not_equals: Option<String>,
    regex: Option<String>,
    not_regex: Option<String>,
    exists: Option<bool>,
}

/// Which part of the event a condition reads.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Field {
    Service,
    Summary,
    Source,
    Severity,
    Action,
    DedupKey,
    Label(String),
}

impl Field {
    fn value<'a>(&self, e: &'a Event) -> Option<&'a str> {
        match self {
            Field::Service => Some(&e.service),
            Field::Summary => Some(&e.summary),
            Field::Source => Some(&e.source),
            Field::Severity => Some(e.severity.as_str()),
            Field::Action => Some(e.action.as_str()),
            Field::DedupKey => Some(e.dedup_key.as_str()),
            Field::Label(name) => e.labels.get(name).map(String::as_str),
        }
    }
}

#[derive(Debug, Clone)]
enum Op {
    Equals(String),
    NotEquals(String),
    Regex(Regex),
    NotRegex(Regex),
    Exists(bool),
}

#[derive(Debug, Clone)]
struct Condition {
    field: Field,
    op: Op,
}

impl Condition {
    /// A missing label reads as "" for every comparison but `exists`.
    fn holds(&self, e: &Event) -> bool {
        let value = self.field.value(e);
        let v = value.unwrap_or("");
        match &self.op {
            Op::Equals(x) => v == x,
            Op::NotEquals(x) => v != x,
            Op::Regex(r) => r.is_match(v),
            Op::NotRegex(r) => !r.is_match(v),
            Op::Exists(want) => value.is_some_and(|s| !s.is_empty()) == *want,
        }
    }
}

/// One compiled rule.
#[derive(Debug, Clone)]
pub struct Rule {
    /// Its `name`, or its path (`rules[2]`) when it has none.
    pub name: String,
    /// Where it is in the file, e.g. `services[0].rules[1]`.
    pub path: String,
    all: Vec<Condition>,
    any: Vec<Condition>,
    pub route: Option<String>,
    pub severity: Option<Severity>,
    pub labels: BTreeMap<String, String>,
    pub suppress: bool,
    pub drop: bool,
    pub cont: bool,
}

impl Rule {
    /// Every `all` condition holds and, if there are `any` conditions, at
    /// least one does. A rule without `match` matches every event.
    pub fn matches(&self, e: &Event) -> bool {
        self.all.iter().all(|c| c.holds(e))
            && (self.any.is_empty() || self.any.iter().any(|c| c.holds(e)))
    }
}

/// Every rule of a configuration.
#[derive(Debug, Clone, Default)]
pub struct RuleSet {
    /// `[[rules]]`, in file order.
    pub global: Vec<Rule>,
    /// `[[services]] rules`, by service id.
    pub services: BTreeMap<String, Vec<Rule>>,
}

impl RuleSet {
    pub fn is_empty(&self) -> bool {
        self.global.is_empty() && self.services.values().all(Vec::is_empty)
    }
}

/// What the rules did to one event.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// The event as it will be recorded (service, severity, labels changed).
    pub event: Event,
    /// Names of the rules that matched, in order.
    pub matched: Vec<String>,
    /// The rule that suppressed it: recorded, pages no one.
    pub suppressed_by: Option<String>,
    /// The rule that dropped it: not recorded, only counted.
    pub dropped_by: Option<String>,
}

impl Decision {
    /// The service the event arrived on was changed by a route.
    pub fn routed(&self, original_service: &str) -> bool {
        self.event.service != original_service
    }
}

fn run_list(rules: &[Rule], d: &mut Decision) {
    for rule in rules {
        if !rule.matches(&d.event) {
            continue;
        }
        d.matched.push(rule.name.clone());
        if let Some(s) = rule.severity {
            d.event.severity = s;
        }
        for (k, v) in &rule.labels {
            d.event.labels.insert(k.clone(), v.clone());
        }
        if let Some(r) = &rule.route {
            d.event.service = r.clone();
        }
        if rule.suppress && d.suppressed_by.is_none() {
            d.suppressed_by = Some(rule.name.clone());
        }
        if rule.drop {
            d.dropped_by = Some(rule.name.clone());
            return;
        }
        if !rule.cont {
            return;
        }
    }
}

/// Runs the rules over one event.
pub fn apply(rules: &RuleSet, event: Event) -> Decision {
    let mut d = Decision {
        event,
        matched: Vec::new(),
        suppressed_by: None,
        dropped_by: None,
    };
    run_list(&rules.global, &mut d);
    // Cycles are refused at load; the visited set only guards against one
    // slipping through.
    let mut visited = BTreeSet::new();
    while d.dropped_by.is_none() {
        let service = d.event.service.clone();
        if !visited.insert(service.clone()) {
            break;
        }
        let Some(list) = rules.services.get(&service) else {
            break;
        };
        run_list(list, &mut d);
        if d.event.service == service {
            break;
        }
    }
    d
}

// ---------------------------------------------------------------------------
// Loading.
// ---------------------------------------------------------------------------

pub(crate) fn serde_error(
    errors: &mut Errors,
    path: &str,
    e: serde_path_to_error::Error<toml::de::Error>,
) {
    let inner = e.path().to_string();
    let at = if inner.is_empty() || inner == "." {
        path.to_string()
    } else {
        format!("{path}.{inner}")
    };
    errors.hint(
        at,
        e.inner().message().to_string(),
        "see \"Rules\" in docs/configuration.md",
    );
}

fn regex(errors: &mut Errors, path: &str, re: &str) -> Option<Regex> {
    crate::matcher::anchored(re)
        .map_err(|why| {
            errors.hint(
                path,
                format!("invalid regular expression {re:?}: {why}"),
                "regex syntax is RE2's (the regex crate); it is anchored at both ends",
            );
        })
        .ok()
}

fn condition(errors: &mut Errors, path: &str, raw: RawCondition) -> Option<Condition> {
    let field = match raw.field.as_str() {
        "service" => Field::Service,
        "summary" => Field::Summary,
        "source" => Field::Source,
        "severity" => Field::Severity,
        "action" => Field::Action,
        "dedup_key" => Field::DedupKey,
        other => match other.strip_prefix("labels.") {
            Some(name) if !name.is_empty() => Field::Label(name.to_string()),
            _ => {
                errors.hint(
                    format!("{path}.field"),
                    format!("unknown field {other:?}"),
                    "one of service, summary, source, severity, action, dedup_key or labels.NAME",
                );
                return None;
            }
        },
    };
    let mut ops = Vec::new();
    if let Some(v) = raw.equals {
        ops.push(Some(Op::Equals(v)));
    }
    if let Some(v) = raw.not_equals {
        ops.push(Some(Op::NotEquals(v)));
    }
    if let Some(v) = raw.regex {
        ops.push(regex(errors, &format!("{path}.regex"), &v).map(Op::Regex));
    }
    if let Some(v) = raw.not_regex {
        ops.push(regex(errors, &format!("{path}.not_regex"), &v).map(Op::NotRegex));
    }
    if let Some(v) = raw.exists {
        ops.push(Some(Op::Exists(v)));
    }
    if ops.len() != 1 {
        errors.hint(
            path,
            format!("has {} comparisons", ops.len()),
            "write exactly one of equals, not_equals, regex, not_regex, exists",
        );
        return None;
    }
    let op = ops.pop().flatten()?;
    Some(Condition { field, op })
}

/// Compiles one list of rules found at `path` (`rules` or `services[0].rules`).
pub(crate) fn compile_list(errors: &mut Errors, path: &str, raw: &[toml::Value]) -> Vec<Rule> {
    let mut out = Vec::new();
    for (i, value) in raw.iter().enumerate() {
        let rpath = format!("{path}[{i}]");
        let r: RawRule = match serde_path_to_error::deserialize(value.clone()) {
            Ok(r) => r,
            Err(e) => {
                serde_error(errors, &rpath, e);
                continue;
            }
        };
        let before = errors.0.len();
        let mut all = Vec::new();
        let mut any = Vec::new();
        if let Some(m) = r.matches {
            for (key, list, dest) in [("all", m.all, &mut all), ("any", m.any, &mut any)] {
                for (j, c) in list.unwrap_or_default().into_iter().enumerate() {
                    if let Some(c) = condition(errors, &format!("{rpath}.match.{key}[{j}]"), c) {
                        dest.push(c);
                    }
                }
            }
        }
        let severity = r
            .severity
            .as_deref()
            .and_then(|s| match s.parse::<Severity>() {
                Ok(s) => Some(s),
                Err(e) => {
                    errors.push(format!("{rpath}.severity"), e.message);
                    None
                }
            });
        if r.labels.keys().any(String::is_empty) {
            errors.push(format!("{rpath}.labels"), "a label name is empty");
        }
        if r.drop && (r.suppress || r.route.is_some() || r.cont) {
            errors.hint(
                format!("{rpath}.drop"),
                "a dropped event is not recorded, so suppress, route and continue mean nothing",
                "remove them, or use suppress = true to record without paging",
            );
        }
        if errors.0.len() > before {
            continue;
        }
        out.push(Rule {
            name: r.name.unwrap_or_else(|| rpath.clone()),
            path: rpath,
            all,
            any,
            route: r.route,
            severity,
            labels: r.labels,
            suppress: r.suppress,
            drop: r.drop,
            cont: r.cont,
        });
    }
    out
}

/// Checks every route names a known service and that service rules never
/// route in a circle.
pub(crate) fn check_routes(errors: &mut Errors, set: &RuleSet, services: &BTreeSet<String>) {
    let all = set.global.iter().chain(set.services.values().flatten());
    for rule in all {
        if let Some(r) = &rule.route
            && !services.contains(r)
        {
            let known: Vec<&str> = services.iter().map(String::as_str).collect();
            errors.hint(
                format!("{}.route", rule.path),
                format!("unknown service {r:?}"),
                format!("route to one of the [[services]] ids: {}", known.join(", ")),
            );
        }
    }
    // service → (route target, rule path), in file order.
    let edges = |s: &str| -> Vec<(String, String)> {
        set.services
            .get(s)
            .map(|l| {
                l.iter()
                    .filter_map(|r| r.route.clone().map(|t| (t, r.path.clone())))
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut reported = BTreeSet::new();
    for start in set.services.keys() {
        // Depth-first walk from each service, remembering the way there.
        let mut stack: Vec<(Vec<String>, String, String)> = edges(start)
            .into_iter()
            .map(|(t, p)| (vec![start.clone()], t, p))
            .collect();
        while let Some((way, to, path)) = stack.pop() {
            if to == *start {
                if reported.insert(path.clone()) {
                    let mut names = way.clone();
                    names.push(to);
                    errors.hint(
                        format!("{path}.route"),
                        format!("routes form a cycle: {}", names.join(" → ")),
                        "a service's rules may route to another service, never back around",
                    );
                }
                continue;
            }
            if way.contains(&to) {
                continue; // a cycle not through `start`: found from its own start
            }
            let mut next_way = way.clone();
            next_way.push(to.clone());
            for (t, p) in edges(&to) {
                stack.push((next_way.clone(), t, p));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{DedupKey, EventAction};

    fn compile(text: &str) -> Result<Vec<Rule>, Vec<String>> {
        #[derive(Deserialize)]
        struct F {
            rules: Vec<toml::Value>,
        }
        let f: F = toml::from_str(text).unwrap();
        let mut errors = Errors(Vec::new());
        let rules = compile_list(&mut errors, "rules", &f.rules);
        if errors.0.is_empty() {
            Ok(rules)
        } else {
            Err(errors.0.iter().map(|e| e.to_string()).collect())
        }
    }

    fn vtm(section: &str, tag: &str) -> Event {
        let mut labels = BTreeMap::new();
        labels.insert("section".to_string(), section.to_string());
        labels.insert("tag".to_string(), tag.to_string());
        Event {
            service: "web".into(),
            action: EventAction::Trigger,
            dedup_key: DedupKey::parse(format!("vtm:{section}:{tag}")).unwrap(),
            summary: format!("{tag} happened"),
            severity: Severity::Warning,
            source: "tm1".into(),
            labels,
            details: Default::default(),
            occurred_at: jiff::Timestamp::UNIX_EPOCH,
            expires_at: None,
        }
    }

    const SEED: &str = r#"
[[rules]]
name = "sms events"
match.any = [
  { field = "labels.tag", equals = "pooldied" },
  { field = "labels.tag", equals = "expiresoon" },
  { field = "labels.tag", regex = "slmfallenbelowserious|sslhwfail" },
]
severity = "critical"

[[rules]]
name = "record only"
suppress = true
"#;

    #[test]
    fn the_seed_selection_pages_for_four_tags_and_suppresses_the_rest() {
        let set = RuleSet {
            global: compile(SEED).unwrap(),
            services: BTreeMap::new(),
        };
        for (section, tag) in [
            ("pools", "pooldied"),
            ("licensekeys", "expiresoon"),
            ("slm", "slmfallenbelowserious"),
            ("sslhw", "sslhwfail"),
        ] {
            let d = apply(&set, vtm(section, tag));
            assert_eq!(d.matched, ["sms events"], "{tag}");
            assert_eq!(d.suppressed_by, None, "{tag}");
            assert_eq!(d.event.severity, Severity::Critical);
        }
        for tag in ["nodefail", "vsstart", "pooldiedx", "slmfallenbelowwarn"] {
            let d = apply(&set, vtm("pools", tag));
            assert_eq!(d.matched, ["record only"], "{tag}");
            assert_eq!(d.suppressed_by.as_deref(), Some("record only"));
            assert_eq!(d.event.severity, Severity::Warning);
        }
    }

    #[test]
    fn continue_runs_later_rules_and_drop_stops() {
        let rules = compile(
            r#"
[[rules]]
match.all = [{ field = "source", equals = "tm1" }]
labels = { team = "edge" }
continue = true
[[rules]]
name = "noise"
match.all = [{ field = "labels.tag", equals = "confmod" }, { field = "labels.team", exists = true }]
drop = true
[[rules]]
severity = "info"
"#,
        )
        .unwrap();
        let set = RuleSet {
            global: rules,
            services: BTreeMap::new(),
        };
        let d = apply(&set, vtm("config", "confmod"));
        assert_eq!(d.matched, ["rules[0]", "noise"]);
        assert_eq!(d.dropped_by.as_deref(), Some("noise"));
        let d = apply(&set, vtm("pools", "nodefail"));
        assert_eq!(d.matched, ["rules[0]", "rules[2]"]);
        assert_eq!(d.event.labels["team"], "edge");
        assert_eq!(d.event.severity, Severity::Info);
    }

    #[test]
    fn routes_hand_the_event_to_the_target_services_rules() {
        let mut services = BTreeMap::new();
        services.insert(
            "web".to_string(),
            compile("[[rules]]\nroute = \"db\"").unwrap(),
        );
        services.insert(
            "db".to_string(),
            compile("[[rules]]\nname = \"db quiet\"\nsuppress = true").unwrap(),
        );
        let set = RuleSet {
            global: Vec::new(),
            services,
        };
        let d = apply(&set, vtm("pools", "nodefail"));
        assert_eq!(d.event.service, "db");
        assert!(d.routed("web"));
        assert_eq!(d.matched, ["rules[0]", "db quiet"]);
        assert_eq!(d.suppressed_by.as_deref(), Some("db quiet"));
    }

    #[test]
    fn bad_rules_name_their_path() {
        let e =
            compile("[[rules]]\nmatch.all = [{ field = \"source\", regex = \"(\" }]").unwrap_err();
        assert!(
            e[0].starts_with("rules[0].match.all[0].regex: invalid regular expression"),
            "{e:?}"
        );
        let e = compile("[[rules]]\nsupress = true").unwrap_err();
        assert!(
            e[0].starts_with("rules[0].supress: unknown field `supress`"),
            "{e:?}"
        );
        let e =
            compile("[[rules]]\n[[rules]]\nmatch.any = [{ field = \"source\", equal = \"x\" }]")
                .unwrap_err();
        assert!(
            e[0].starts_with("rules[1].match.any[0].equal: unknown field `equal`"),
            "{e:?}"
        );
        let e =
            compile("[[rules]]\nmatch.all = [{ field = \"host\", exists = true }]").unwrap_err();
        assert!(
            e[0].starts_with("rules[0].match.all[0].field: unknown field \"host\""),
            "{e:?}"
        );
        let e = compile("[[rules]]\nseverity = \"loud\"").unwrap_err();
        assert!(
            e[0].starts_with("rules[0].severity: unknown severity"),
            "{e:?}"
        );
    }

    #[test]
    fn a_cycle_of_routes_is_an_error_at_the_closing_rule() {
        let mut services = BTreeMap::new();
        let mut errors = Errors(Vec::new());
        services.insert(
            "a".to_string(),
            compile_list(
                &mut errors,
                "services[0].rules",
                &[toml::Value::Table(toml::from_str("route = \"b\"").unwrap())],
            ),
        );
        services.insert(
            "b".to_string(),
            compile_list(
                &mut errors,
                "services[1].rules",
                &[toml::Value::Table(toml::from_str("route = \"a\"").unwrap())],
            ),
        );
        let set = RuleSet {
            global: Vec::new(),
            services,
        };
        let ids: BTreeSet<String> = ["a", "b", "c"].map(String::from).into();
        check_routes(&mut errors, &set, &ids);
        let text: Vec<String> = errors.0.iter().map(|e| e.to_string()).collect();
        assert_eq!(text.len(), 2, "{text:?}");
        assert!(
            text[0].starts_with("services[1].rules[0].route: routes form a cycle: a → b → a"),
            "{text:?}"
        );
        // the loop guard holds even if a cycle slipped through
        let mut event = vtm("pools", "nodefail");
        event.service = "a".into();
        let d = apply(&set, event);
        assert_eq!(d.matched.len(), 2);
    }
}
