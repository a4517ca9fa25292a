//! Runbook actions: what a person paged for an alert may have Firebell do
//! about it — drain a node, fail over, restart a job — from the call's menu,
//! a text reply, an email link, the UI or the API.
//!
//! ```toml
//! [[services.actions]]            # or [[actions]] for every service
//! id = "drain"
//! label = "Drain {{ labels.node }} from pool {{ labels.pool }}"
//! key = "3"
//! run = { channel = "drain-node", args = { node = "{{ labels.node }}", pool = "{{ labels.pool }}" } }
//! confirm = true
//! when = 'pool=~".+"'
//! ```
//!
//! Everything here is pure: the configuration, which actions an alert
//! offers, and rendering an action's label and arguments from the alert.
//! The engine runs them (`firebell-engine/src/actions.rs`).

use crate::alert::Alert;
use crate::channels::{ChannelConfig, ChannelKind, WebhookPreset, valid_arg_name};
use crate::config::diag::{Errors, check_id};
use crate::matcher::{Matcher, all_match};
use minijinja::{Environment, UndefinedBehavior};
use serde::Deserialize;
use std::collections::BTreeMap;

/// Variables an action's label and arguments may use.
pub const VARIABLES: [&str; 7] = [
    "id", "service", "summary", "severity", "source", "labels", "details",
];

/// The keys an action may take on a call and in a reply: 1 and 2 are the
/// call's own (take, pass).
pub const KEYS: &str = "3456789";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAction {
    id: String,
    label: Option<String>,
    key: Option<String>,
    run: Option<RawRun>,
    #[serde(default)]
    confirm: bool,
    when: Option<String>,
    #[serde(default)]
    repeatable: bool,
    #[serde(default)]
    acknowledges: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRun {
    channel: String,
    #[serde(default)]
    args: BTreeMap<String, String>,
}

/// One runbook action, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct Action {
    pub id: String,
    /// A template over [`VARIABLES`]: what the person hears and reads.
    pub label: String,
    /// `'3'` to `'9'`: "press 3", "reply 42x3".
    pub key: char,
    /// A program or webhook channel.
    pub channel: String,
    /// Name and template of each argument, by name.
    pub args: Vec<(String, String)>,
    /// A second key press or reply is needed before it runs.
    pub confirm: bool,
    /// Offered only for alerts whose labels match every matcher.
    pub when: Vec<Matcher>,
    /// May run more than once per alert.
    pub repeatable: bool,
    /// Running it acknowledges the alert.
    pub acknowledges: bool,
}

/// Every action, global and per service.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Actions {
    pub global: Vec<Action>,
    pub services: BTreeMap<String, Vec<Action>>,
}

impl Actions {
    /// The actions `alert` offers, the service's first, in file order.
    pub fn for_alert<'a>(&'a self, alert: &Alert) -> Vec<&'a Action> {
        self.services
            .get(&alert.service)
            .into_iter()
            .flatten()
            .chain(&self.global)
            .filter(|a| all_match(&a.when, &alert.labels))
            .collect()
    }

    /// The action `id`, if `alert` offers it.
    pub fn find<'a>(&'a self, alert: &Alert, id: &str) -> Option<&'a Action> {
        self.for_alert(alert).into_iter().find(|a| a.id == id)
    }

    /// The action on `key`, if `alert` offers one.
    pub fn by_key<'a>(&'a self, alert: &Alert, key: char) -> Option<&'a Action> {
        self.for_alert(alert).into_iter().find(|a| a.key == key)
    }

    pub fn is_empty(&self) -> bool {
        self.global.is_empty() && self.services.values().all(Vec::is_empty)
    }
}

fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env
}

fn context(alert: &Alert) -> minijinja::Value {
    minijinja::context! {
        id => alert.id,
        service => alert.service,
        summary => alert.summary,
        severity => alert.severity.as_str(),
        source => alert.source,
        labels => alert.labels,
        details => alert.details,
    }
}

fn render(source: &str, alert: &Alert) -> Result<String, String> {
    environment()
        .render_str(source, context(alert))
        .map_err(|e| e.to_string())
}

impl Action {
    /// The label for `alert`, on one line; the id when it cannot be
    /// rendered (a label it lacks).
    pub fn label_for(&self, alert: &Alert) -> String {
        render(&self.label, alert)
            .map(|l| {
                // One line: control characters (tabs, newlines) become spaces.
                let l: String = l
                    .chars()
                    .map(|c| if c.is_control() { ' ' } else { c })
                    .collect();
                l.trim().to_string()
            })
            .ok()
            .filter(|l| !l.is_empty())
            .unwrap_or_else(|| self.id.clone())
    }

    /// The arguments for `alert`, rendered; an error names the argument.
    pub fn args_for(&self, alert: &Alert) -> Result<Vec<(String, String)>, String> {
        self.args
            .iter()
            .map(|(name, t)| {
                let v = render(t, alert).map_err(|e| format!("argument {name}: {e}"))?;
                if v.contains('\0') {
                    return Err(format!("argument {name}: contains a NUL character"));
                }
                Ok((name.clone(), v))
            })
            .collect()
    }
}

/// Checks one template: it compiles and reads only [`VARIABLES`].
fn check_template(errors: &mut Errors, path: &str, source: &str) {
    let env = environment();
    let t = match env.template_from_str(source) {
        Ok(t) => t,
        Err(e) => {
            errors.push(path, format!("template: {e}"));
            return;
        }
    };
    let mut unknown: Vec<String> = t
        .undeclared_variables(false)
        .into_iter()
        .filter(|v| !VARIABLES.contains(&v.as_str()))
        .collect();
    unknown.sort();
    if let Some(v) = unknown.first() {
        errors.hint(
            path,
            format!("unknown variable {v:?}"),
            format!("labels and arguments may use {}", VARIABLES.join(", ")),
        );
    }
}

/// Reads and checks a list of `[[actions]]` (or a service's `actions`) at
/// `path`. `taken` holds the ids and keys already used where these are
/// offered (a service's actions are offered with the global ones).
pub(crate) fn compile_list(
    errors: &mut Errors,
    path: &str,
    raw: &[toml::Value],
    channels: &BTreeMap<String, ChannelConfig>,
    taken: &[Action],
) -> Vec<Action> {
    let mut out: Vec<Action> = Vec::new();
    for (i, value) in raw.iter().enumerate() {
        let apath = format!("{path}[{i}]");
        let a: RawAction = match serde_path_to_error::deserialize(value.clone()) {
            Ok(a) => a,
            Err(e) => {
                crate::rules::serde_error(errors, &apath, e);
                continue;
            }
        };
        let before = errors.0.len();
        check_id(errors, &format!("{apath}.id"), &a.id);
        let clash = taken.iter().chain(&out);
        if clash.clone().any(|o| o.id == a.id) {
            errors.push(
                format!("{apath}.id"),
                format!("{:?} is already an action offered here", a.id),
            );
        }
        let label = a.label.clone().unwrap_or_else(|| a.id.clone());
        check_template(errors, &format!("{apath}.label"), &label);
        let key = match a.key.as_deref() {
            Some(k) if k.len() == 1 && KEYS.contains(k) => k.chars().next(),
            Some(k) => {
                errors.hint(
                    format!("{apath}.key"),
                    format!("{k:?} is not a key an action may take"),
                    "one digit from 3 to 9 (1 and 2 take and pass the alert)",
                );
                None
            }
            None => {
                errors.hint(
                    format!("{apath}.key"),
                    "missing",
                    "one digit from 3 to 9: \"press 3\" on a call, \"reply 42x3\" to a text",
                );
                None
            }
        };
        if let Some(k) = key
            && let Some(o) = clash.clone().find(|o| o.key == k)
        {
            errors.push(
                format!("{apath}.key"),
                format!("{k:?} is already the key of action {:?}", o.id),
            );
        }
        let (channel, args) = match &a.run {
            None => {
                errors.hint(
                    format!("{apath}.run"),
                    "missing",
                    "run = { channel = \"a program or webhook channel\", args = { node = \"{{ labels.node }}\" } }",
                );
                (String::new(), Vec::new())
            }
            Some(run) => {
                match channels.get(&run.channel).map(|c| &c.kind) {
                    Some(ChannelKind::Program(_)) => {}
                    Some(ChannelKind::Webhook(w)) if w.preset == WebhookPreset::Firebell => {
                        if w.url.is_none() {
                            errors.push(
                                format!("{apath}.run.channel"),
                                format!("webhook channel {:?} has no url", run.channel),
                            );
                        }
                    }
                    Some(ChannelKind::Webhook(_)) => errors.push(
                        format!("{apath}.run.channel"),
                        format!(
                            "webhook channel {:?} posts a chat message; an action needs preset = \"firebell\"",
                            run.channel
                        ),
                    ),
                    Some(other) => errors.push(
                        format!("{apath}.run.channel"),
                        format!(
                            "channel {:?} is a {} channel; an action runs a program or webhook channel",
                            run.channel,
                            other.as_str()
                        ),
                    ),
                    None => errors.hint(
                        format!("{apath}.run.channel"),
                        format!("no channel {:?}", run.channel),
                        "name a [[channels]] table of kind \"program\" or \"webhook\"",
                    ),
                }
                for (name, t) in &run.args {
                    let p = format!("{apath}.run.args.{name}");
                    if !valid_arg_name(name) || name == "eventtype" {
                        errors.hint(
                            p.clone(),
                            format!("{name:?} is not an argument an action may pass"),
                            "letters, digits, '-', '_' or '.', starting with a letter or digit; not eventtype",
                        );
                    }
                    check_template(errors, &p, t);
                }
                (
                    run.channel.clone(),
                    run.args
                        .iter()
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect(),
                )
            }
        };
        let when = match &a.when {
            None => Vec::new(),
            Some(w) => Matcher::parse_list(w).unwrap_or_else(|e| {
                errors.hint(
                    format!("{apath}.when"),
                    e.0,
                    "label matchers as in Alertmanager, e.g. 'pool=~\".+\", env=\"prod\"'",
                );
                Vec::new()
            }),
        };
        if errors.0.len() > before {
            continue;
        }
        if let Some(key) = key {
            out.push(Action {
                id: a.id,
                label,
                key,
                channel,
                args,
                confirm: a.confirm,
                when,
                repeatable: a.repeatable,
                acknowledges: a.acknowledges,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::AlertStatus;
    use crate::event::{DedupKey, Severity};

    fn alert(labels: &[(&str, &str)]) -> Alert {
        Alert {
            id: 42,
            service: "vtm".into(),
            dedup_key: DedupKey::parse("k").unwrap_or_else(|_| unreachable!()),
            summary: "pools/web: Pool has no back-end nodes responding".into(),
            severity: Severity::Error,
            status: AlertStatus::Triggered,
            source: "tm1".into(),
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            details: Default::default(),
            count: 1,
            created_at: jiff::Timestamp::UNIX_EPOCH,
            updated_at: jiff::Timestamp::UNIX_EPOCH,
            acknowledged_at: None,
            resolved_at: None,
            expires_at: None,
        }
    }

    fn drain() -> Action {
        Action {
            id: "drain".into(),
            label: "Drain {{ labels.node }} from pool {{ labels.pool }}".into(),
            key: '3',
            channel: "drain-node".into(),
            args: vec![
                ("node".into(), "{{ labels.node }}".into()),
                ("pool".into(), "{{ labels.pool }}".into()),
            ],
            confirm: true,
            when: Matcher::parse_filter("pool=~\".+\"").unwrap_or_default(),
            repeatable: false,
            acknowledges: false,
        }
    }

    #[test]
    fn labels_and_arguments_come_from_the_alert() {
        let a = alert(&[("pool", "web"), ("node", "10.0.0.5:80")]);
        let d = drain();
        assert_eq!(d.label_for(&a), "Drain 10.0.0.5:80 from pool web");
        assert_eq!(
            d.args_for(&a),
            Ok(vec![
                ("node".to_string(), "10.0.0.5:80".to_string()),
                ("pool".to_string(), "web".to_string())
            ])
        );
        // A label the alert lacks: the id is said, and the run refuses.
        let b = alert(&[("pool", "web")]);
        assert_eq!(d.label_for(&b), "drain");
        assert!(d.args_for(&b).unwrap_err().starts_with("argument node:"));
    }

    #[test]
    fn when_chooses_the_alerts_offered_and_services_come_first() {
        let mut actions = Actions::default();
        let mut restart = drain();
        restart.id = "restart".into();
        restart.key = '4';
        restart.when = Vec::new();
        actions.global.push(restart);
        actions.services.insert("vtm".into(), vec![drain()]);
        let offered = |a: &Alert| {
            actions
                .for_alert(a)
                .iter()
                .map(|x| x.id.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(offered(&alert(&[("pool", "web")])), ["drain", "restart"]);
        assert_eq!(offered(&alert(&[])), ["restart"]);
        let a = alert(&[("pool", "web")]);
        assert_eq!(
            actions.by_key(&a, '3').map(|x| x.id.as_str()),
            Some("drain")
        );
        assert_eq!(actions.by_key(&a, '5'), None);
        assert_eq!(actions.find(&alert(&[]), "drain"), None);
    }
}
